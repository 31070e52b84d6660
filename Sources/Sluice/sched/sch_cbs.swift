/// Principles (sch_cbs.c: IEEE 802.1Q-2014 credit-based shaper, software path)
/// ----------
/// Credits, in bytes, drain while a packet is sent (`sendslope`, negative, in kbit/s scaled to
/// the port rate) and refill while the queue waits (`idleslope`), bounded by `locredit` and
/// `hicredit`. A packet may leave only with credits ≥ 0; with fewer, the watchdog is set for
/// when the idle slope will have paid them back. Credits above zero are forgotten when the
/// queue empties (a stream cannot bank bandwidth while idle), and the next packet waits until
/// the previous one has left the port (`last`, its last byte at the port rate). The port rate
/// is the device's link speed as ethtool reports it (10 Mbit/s when a device reports none, as
/// the kernel assumes). cbs is classful with one class (major:1) holding a child qdisc, a pfifo
/// by default. `offload 1` asks the device to shape: no Sluice device can, so it is refused
/// as the kernel refuses it on a device without ndo_setup_tc.
final class CBSQdisc: Qdisc {
    static let bytesPerKbit: Int64 = 125
    var hicredit: Int32 = 0, locredit: Int32 = 0
    /// Slopes in bytes per second (the kbit/s given × 125).
    var idleslope: Int64 = 0, sendslope: Int64 = 0
    let portRate: Int64
    var credits: Int64 = 0
    var last: Int64 = 0
    var child: Qdisc?
    var nextWake: UInt64 = 0

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        portRate = Int64(env.linkSpeed / 8)
        super.init(kind: "cbs", handle: handle, parent: parent, env: env)
        child = defaultChild()
    }

    /// qdisc_create_dflt(pfifo, sch->handle): a pfifo of the device's queue length whose
    /// parent is the cbs itself, shown in dumps.
    func defaultChild() -> Qdisc {
        let c = FifoQdisc(kind: "pfifo", handle: .unspec, parent: handle, env: env)
        c.limit = max(env.txQueueLen, 1)
        c.shownDefault = true
        return c
    }

    override var hasSingleClass: Bool { true }
    override var isClassful: Bool { true }
    var classid: TcHandle { TcHandle(handle.major, 1) }

    /// struct tc_cbs_qopt (slopes in kbit/s, credits in bytes).
    struct Params: Equatable {
        var offload: UInt8 = 0
        var hicredit: Int32 = 0, locredit: Int32 = 0, idleslope: Int32 = 0, sendslope: Int32 = 0
    }

    func configure(_ p: Params) throws(SluiceError) {
        if p.offload != 0 { throw SluiceError("Error: Specified device does not support cbs offload.") }
        hicredit = p.hicredit; locredit = p.locredit
        idleslope = Int64(p.idleslope) * Self.bytesPerKbit
        sendslope = Int64(p.sendslope) * Self.bytesPerKbit
    }

    var params: Params {
        Params(offload: 0, hicredit: hicredit, locredit: locredit,
               idleslope: Int32(truncatingIfNeeded: idleslope / Self.bytesPerKbit), sendslope: Int32(truncatingIfNeeded: sendslope / Self.bytesPerKbit))
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        guard let child else { return drop(p) }
        if !child.backlogged && credits > 0 {
            credits = 0
            last = Int64(bitPattern: clock.now)
        }
        return child.enqueue(p)
    }

    override func dequeue() -> Packet? {
        guard let child else { return nil }
        let now = Int64(bitPattern: clock.now)
        if now < last {
            nextWake = UInt64(last)
            return nil
        }
        if credits < 0 {
            credits = min(credits + Self.muldiv(now - last, idleslope, 1_000_000_000), Int64(hicredit))
            if credits < 0 {
                let delay = idleslope == 0 ? Int64.max / 2 : Self.muldiv(-credits, 1_000_000_000, idleslope)
                nextWake = UInt64(now &+ delay)
                last = now
                return nil
            }
        }
        guard let p = child.dequeue() else { return nil }
        let len = Int64(pool.metas[Int(p.index)].pktLen)
        let spent = portRate == 0 ? Int64.min / 2 : Self.muldiv(len, sendslope, portRate)
        credits = max(credits + spent, Int64(locredit))
        last = portRate == 0 ? now : now + Self.muldiv(len, 1_000_000_000, portRate)
        nextWake = 0
        countSent(Int(len), segs: segs(p))
        return p
    }

    /// a × b / c in 128 bits (div64_s64 of a 64-bit product; slopes and times stay far from
    /// its limits here, the wider product only avoids a trap).
    @inline(__always) static func muldiv(_ a: Int64, _ b: Int64, _ c: Int64) -> Int64 {
        let (hi, lo) = a.multipliedFullWidth(by: b)
        return c.dividingFullWidth((hi, lo)).quotient
    }

    override var watchdog: UInt64 {
        guard let child, child.backlogged else { return 0 }
        let w = child.watchdog
        return nextWake == 0 ? w : (w == 0 ? nextWake : min(w, nextWake))
    }

    override func reset() {
        child?.purge()
        nextWake = 0
    }

    override func childQdiscs() -> [Qdisc] { child.map { [$0] } ?? [] }
    override func classes(details: Bool) -> [QdiscClassInfo] {
        [QdiscClassInfo(classid: classid, parent: handle, leaf: child, options: "", stats: nil, xstats: nil)]
    }

    /// cbs_graft: deleting the child puts a default pfifo back.
    override func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        let old = try graftOnly(classid, q ?? defaultChild(), into: &child)
        if q == nil { child?.parent = handle }
        return old
    }
}
