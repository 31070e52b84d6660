/// Principles (sch_tbf.c)
/// ----------
/// A token bucket measured in time: `tokens` is how many nanoseconds of transmission at `rate`
/// the qdisc has saved, capped at `buffer` (the burst, in time). Sending a packet of L bytes
/// costs L×8/rate. With a peak rate a second bucket (`ptokens`, depth `mtu` at `peakrate`)
/// bounds how fast a burst leaves. A packet that the buckets cannot pay for waits; the watchdog
/// names the time they will. tbf is classful with one class (major:1) holding one child qdisc
/// that keeps the packets: by default a bfifo of `limit` bytes (or the limit that `latency`
/// implies), replaceable by any qdisc (`tc qdisc add … parent 1:1 …`); dequeue peeks the child's
/// head and takes it when the buckets can pay. A packet bigger than the burst could never be
/// sent: a GSO super-frame is cut into segments (tbf_segment), anything else is dropped.
final class TBFQdisc: Qdisc {
    var rate: UInt64 = 0            // bit/s, as configured
    var peakrate: UInt64 = 0
    var burst = 0                   // bytes, as configured
    var mtu = 0                     // bytes (peak bucket depth), as configured
    var limit = 0                   // bytes
    /// The buckets' depths as tc sends them and the kernel keeps them: psched ticks
    /// (tc_calc_xmittime of burst/mtu at rate/peakrate in whole bytes per second).
    var bufferTicks: UInt32 = 0
    var mtuTicks: UInt32 = 0
    /// The rate spec's link, as kept in the rates (tc sends the same for rate and peakrate).
    var overhead: Int { rateCfg.link.overhead }
    var mpu: Int { rateCfg.link.mpu }
    var atm: Bool { rateCfg.link.atm }
    var buffer: UInt64 = 0          // ns (ticks × 64)
    var mtuTime: UInt64 = 0         // ns
    var tokens: Int64 = 0
    var ptokens: Int64 = 0
    var rateCfg = RateCfg(0), peakCfg = RateCfg(0)
    var tc: UInt64 = 0
    var maxSize = 0
    /// The child qdisc of class major:1 (q->qdisc); nil until configured (noop_qdisc).
    var child: Qdisc?
    var nextWake: UInt64 = 0

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "tbf", handle: handle, parent: parent, env: env)
    }

    override var hasSingleClass: Bool { true }
    override var isClassful: Bool { true }
    var classid: TcHandle { TcHandle(handle.major, 1) }


    /// tbf's configuration as the kernel receives it (struct tc_tbf_qopt with TCA_TBF_BURST):
    /// the one value both tc's words and rtnetlink produce.
    struct TBFParams {
        var rate: UInt64          // bit/s
        var peakrate: UInt64
        var bufferTicks: UInt32
        var mtuTicks: UInt32
        var limit: Int            // bytes
        var burst: Int            // bytes (TCA_TBF_BURST)
        var mtu: Int
        /// The rate spec's per-packet overhead and ATM link layer (psched_l2t_ns charges them).
        var overhead = 0
        var mpu = 0
        var atm = false
        /// Whether the burst and peak MTU came as TCA_TBF_BURST/PBURST (tc always sends them);
        /// tbf_change then takes the buckets from the bytes, not from tc's ticks.
        var burstGiven = true, mtuGiven = true
    }

    /// tbf_change: applied whole, the queue kept. A fifo child takes the new limit
    /// (fifo_set_limit); the default child is a bfifo of `limit` bytes.
    func configure(_ p: TBFParams) throws(SluiceError) {
        guard p.rate > 0 else { throw SluiceError("Error: \"rate\" is required (and must not be 0).") }
        guard p.bufferTicks > 0 else { throw SluiceError("Error: \"burst\" is required.") }
        if let c = child as? FifoQdisc { c.limit = p.limit } else if child == nil {
            let c = FifoQdisc(kind: "bfifo", handle: .unspec, parent: classid, env: env)
            c.limit = p.limit
            child = c
        }
        rate = p.rate; peakrate = p.peakrate; burst = p.burst; mtu = p.mtu
        limit = p.limit
        let link = LinkSpec(overhead: p.overhead, mpu: p.mpu, atm: p.atm)
        rateCfg = RateCfg(rate, link); peakCfg = RateCfg(peakrate, link)
        bufferTicks = p.bufferTicks
        mtuTicks = p.mtuTicks
        buffer = TcCore.ns(bufferTicks)
        mtuTime = TcCore.ns(mtuTicks)
        // tbf_change with TCA_TBF_BURST/PBURST: the buckets are the time of burst and mtu bytes
        // as psched_l2t_ns charges them (overhead and cells included), which the dump then
        // reports in ticks — not the ticks tc computed.
        if p.burstGiven {
            buffer = charge(p.burst, rateCfg)
            bufferTicks = UInt32(clamping: buffer >> 6)
        }
        if peakrate > 0 && p.mtuGiven { mtuTime = charge(p.mtu, peakCfg); mtuTicks = UInt32(clamping: mtuTime >> 6) }
        maxSize = p.peakrate > 0 ? min(p.burst, p.mtu) : p.burst
        tokens = Int64(buffer)
        ptokens = Int64(mtuTime)
        tc = clock.now
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        let l = len(p)
        if l > maxSize {
            guard !pool.metas[Int(p.index)].gsoType.isEmpty else { return drop(p) }
            var n = 0, dropped = 0
            let r = GSO.segment(p, pool: pool) { s in
                pool.metas[Int(s.index)].pktLen = pool.metas[Int(s.index)].length
                if enqueueOne(s) == .success { n += 1 } else { dropped += 1 }
            }
            if r < 0 { stats.drops &+= 1; return .dropped }
            return n > 0 ? (dropped > 0 ? .congestion : .success) : .dropped
        }
        return enqueueOne(p)
    }

    func enqueueOne(_ p: consuming Packet) -> EnqueueVerdict {
        guard let child else { return drop(p) }
        let v = child.enqueue(p)
        if v == .dropped || v == .congestion { stats.drops &+= 1 }
        return v
    }

    override func dequeue() -> Packet? {
        guard let child, let l = child.peekLength() else { return nil }
        let now = clock.now
        var toks = Int64(min(now &- tc, buffer))
        var ptoks: Int64 = 0
        if peakrate > 0 {
            ptoks = min(toks + ptokens, Int64(mtuTime))
            ptoks -= Int64(charge(l, peakCfg))
        }
        toks = min(toks + tokens, Int64(buffer))
        toks -= Int64(charge(l, rateCfg))
        if toks >= 0 && ptoks >= 0 {
            guard let p = child.dequeuePeeked() else { return nil }
            tc = now
            tokens = toks
            ptokens = ptoks
            nextWake = 0
            countSent(len(p), segs: segs(p))
            return p
        }
        nextWake = now &+ UInt64(max(-toks, -ptoks))
        stats.overlimits &+= 1
        return nil
    }

    /// psched_l2t_ns: the time `len` bytes take at the rate, with the link's overhead, mpu
    /// and ATM cells.
    @inline(__always) func charge(_ len: Int, _ cfg: RateCfg) -> UInt64 { cfg.charge(len) }

    override var watchdog: UInt64 {
        guard let child, child.backlogged else { return 0 }
        let w = child.watchdog
        return nextWake == 0 ? w : (w == 0 ? nextWake : min(w, nextWake))
    }
    override func reset() {
        child?.purge()
        tokens = Int64(buffer); ptokens = Int64(mtuTime); tc = clock.now; nextWake = 0
    }

    override func childQdiscs() -> [Qdisc] { child.map { [$0] } ?? [] }
    override func classes(details: Bool) -> [QdiscClassInfo] {
        // tbf dumps no class statistics.
        [QdiscClassInfo(classid: classid, parent: handle, leaf: child, options: "", stats: nil, xstats: nil)]
    }

    override func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        try graftOnly(classid, q, into: &child)
    }

}
