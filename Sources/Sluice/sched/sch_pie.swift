/// Principles (sch_pie.c, net/sched/pie.c; RFC 8033)
/// ----------
/// PIE (Proportional Integral controller Enhanced) keeps one FIFO and a drop probability it
/// recomputes every `tupdate` from the queueing delay: up in proportion to how far the delay
/// is above `target` (alpha) and to how fast it grows (beta), both scaled down while the
/// probability is small, with a 2 % step cap, a non-linear kick above 250 ms and a decay when
/// the queue stays empty. Enqueue drops (or ECN-marks, while the probability is at most 10 %)
/// early at that probability — derandomized by accumulating it (`accu_prob`) — except during
/// the 150 ms burst allowance, when the delay is under half the target and the probability
/// low, or while less than two MTUs are queued. The queueing delay is the head packet's
/// sojourn time, or with `dq_rate_estimator` the backlog divided by a measured drain rate.
///
/// Units follow the kernel: times in psched ticks (64 ns), the probability as a fraction of
/// MAX_PROB = 2^56 − 1, alpha and beta in 1/16ths, the drain rate in bytes per tick << 8.
/// The periodic update runs on the datapath's clock when the qdisc is next touched, once per
/// elapsed `tupdate` (a timer in the kernel). fq_pie runs the same controller per flow.
enum PIE {
    static let maxProb = UInt64.max >> 8
    static let ticksPerSecond: UInt64 = 1_000_000_000 >> 6
    static let burstTicks: UInt64 = 150 * Time.ms >> 6
    static let queueThreshold: UInt64 = 16384
    static let scale: UInt64 = 8
    static let dtimeInvalid = UInt64.max

    struct Params: Equatable {
        var target: UInt64 = 15 * Time.ms     // ns
        var tupdate: UInt64 = 15 * Time.ms    // ns
        var limit = 1000
        var alpha: UInt32 = 2
        var beta: UInt32 = 20
        var ecn = false
        var bytemode = false
        var dqRateEstimator = false
        var targetTicks: UInt64 { target >> 6 }
    }

    /// pie_vars: one controller's state.
    struct Vars {
        var prob: UInt64 = 0
        var accuProb: UInt64 = 0
        var qdelay: UInt64 = 0           // ticks
        var qdelayOld: UInt64 = 0
        var burstTime: UInt64 = PIE.burstTicks
        var dqTstamp: UInt64 = PIE.dtimeInvalid
        var dqCount: UInt64 = UInt64.max  // DQCOUNT_INVALID
        var avgDqRate: UInt32 = 0
        var backlogOld: UInt64 = 0

        /// pie_vars_init: a new measurement cycle (the probability and delays stay).
        mutating func startCycle() {
            burstTime = PIE.burstTicks; dqTstamp = PIE.dtimeInvalid; accuProb = 0
            dqCount = UInt64.max; avgDqRate = 0
        }
    }

    @inline(__always) static func ticks(_ ns: UInt64) -> UInt64 { ns >> 6 }

    /// pie_calculate_probability.
    static func calculateProbability(_ p: Params, _ v: inout Vars, backlog: UInt64) {
        let maxP = maxProb
        var qdelay: UInt64, qdelayOld: UInt64
        if p.dqRateEstimator {
            qdelayOld = v.qdelay
            v.qdelayOld = v.qdelay
            qdelay = v.avgDqRate > 0 ? UInt64(UInt32(truncatingIfNeeded: backlog) << 8) / UInt64(v.avgDqRate) : 0
        } else {
            qdelay = v.qdelay
            qdelayOld = v.qdelayOld
        }
        let target = p.targetTicks
        var updateProb = !(qdelay == 0 && backlog != 0)
        var alpha = UInt64(p.alpha) &* (maxP / ticksPerSecond) >> 4
        var beta = UInt64(p.beta) &* (maxP / ticksPerSecond) >> 4
        if v.prob < maxP / 10 {
            alpha >>= 1; beta >>= 1
            var power: UInt64 = 100
            while v.prob < maxP / power && power <= 1_000_000 { alpha >>= 2; beta >>= 2; power *= 10 }
        }
        var delta = Int64(truncatingIfNeeded: alpha &* (qdelay &- target))      // two's complement, as the kernel's s64
        delta &+= Int64(truncatingIfNeeded: beta &* (qdelay &- qdelayOld))
        let old = v.prob
        if delta > Int64(maxP / 50) && v.prob >= maxP / 10 { delta = Int64(maxP / 100 * 2) }
        if qdelay > 250 * Time.ms >> 6 { delta &+= Int64(maxP / 50) }
        v.prob = UInt64(bitPattern: Int64(bitPattern: v.prob) &+ delta)
        if delta > 0 {
            if v.prob < old { v.prob = maxP; updateProb = false }
        } else if v.prob > old {
            v.prob = 0
        }
        if qdelay == 0 && qdelayOld == 0 && updateProb { v.prob -= v.prob / 64 }
        v.qdelay = qdelay
        v.backlogOld = backlog
        if v.qdelay < target / 2 && v.qdelayOld < target / 2 && v.prob == 0 && (!p.dqRateEstimator || v.avgDqRate > 0) {
            v.startCycle()
        }
        if !p.dqRateEstimator { v.qdelayOld = qdelay }
    }

    /// pie_drop_early: `backlog` is the queue's (pie) or the flow's (fq_pie) bytes.
    static func dropEarly(_ p: Params, _ v: inout Vars, backlog: UInt64, size: Int, mtu: Int, rng: inout SplitMix) -> Bool {
        let maxP = maxProb
        if v.burstTime > 0 { return false }
        if v.qdelay < p.targetTicks / 2 && v.prob < maxP / 5 { return false }
        if backlog < UInt64(2 * mtu) { return false }
        var local = v.prob
        if p.bytemode && size <= mtu { local = UInt64(size) &* (v.prob / UInt64(mtu)) }
        if local == 0 { v.accuProb = 0 } else { v.accuProb &+= local }
        if v.accuProb < maxP / 100 * 85 { return false }
        if v.accuProb >= maxP / 2 * 17 { return true }
        if rng.next() >> 8 < local { v.accuProb = 0; return true }
        return false
    }

    /// pie_process_dequeue: `backlog` is what stays queued after this packet.
    static func processDequeue(_ p: Params, _ v: inout Vars, now: UInt64, enqueued: UInt64, length: Int, backlog: UInt64) {
        var dtime: UInt64 = 0
        if !p.dqRateEstimator {
            v.qdelay = now &- enqueued
            if v.dqTstamp != dtimeInvalid { dtime = now &- v.dqTstamp }
            v.dqTstamp = now
            if backlog == 0 { v.qdelay = 0 }
            if dtime == 0 { return }
        } else {
            if backlog >= queueThreshold && v.dqCount == UInt64.max { v.dqTstamp = now; v.dqCount = 0 }
            guard v.dqCount != UInt64.max else { return }
            v.dqCount &+= UInt64(length)
            guard v.dqCount >= queueThreshold else { return }
            dtime = now &- v.dqTstamp
            if dtime == 0 { return }
            let count = UInt32(truncatingIfNeeded: v.dqCount << scale) / UInt32(truncatingIfNeeded: dtime)
            v.avgDqRate = v.avgDqRate == 0 ? count : (v.avgDqRate - (v.avgDqRate >> 3)) &+ (count >> 3)
            if backlog < queueThreshold { v.dqCount = UInt64.max } else { v.dqCount = 0; v.dqTstamp = now }
        }
        if v.burstTime > 0 { v.burstTime = v.burstTime > dtime ? v.burstTime - dtime : 0 }
    }

    /// The drain rate as tc_pie_xstats reports it: bytes per second.
    static func avgDqRateBytes(_ v: Vars) -> UInt32 { UInt32(truncatingIfNeeded: UInt64(v.avgDqRate) &* ticksPerSecond >> scale) }

    /// The kernel's adapt timer caught up on the datapath clock: one update per `tupdate`
    /// elapsed, at most 4096 at once (then the phase restarts from now).
    @inline(__always)
    static func catchUp(_ p: Params, next: inout UInt64, now: UInt64, _ update: () -> Void) {
        guard p.tupdate > 0, now >= next else { return }
        var n = 0
        while now >= next && n < 4096 { update(); next &+= p.tupdate; n += 1 }
        if now >= next { next = now &+ p.tupdate }
    }
}

final class PIEQdisc: Qdisc {
    typealias PIEParams = PIE.Params
    var params = PIE.Params()
    var vars = PIE.Vars()
    var nextUpdate: UInt64 = 0
    // pie_stats
    var packetsIn: UInt64 = 0, dropped: UInt64 = 0, overlimit: UInt64 = 0, ecnMarked: UInt64 = 0, maxq = 0
    var rng = SplitMix(seed: 0x9_1E)
    var q = PacketQueue()

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "pie", handle: handle, parent: parent, env: env)
    }

    var prob: UInt64 { vars.prob }

    /// pie_change: applied whole; a lower limit drops from the head now. The first update
    /// comes half a second after creation, as pie_init arms its timer.
    func configure(_ p: PIE.Params) throws(SluiceError) {
        guard p.limit > 0 else { throw SluiceError("Error: pie: limit must be positive") }
        guard p.alpha <= 32, p.beta <= 32 else { throw SluiceError("Error: pie: alpha and beta must be between 0 and 32") }
        params = p
        if nextUpdate == 0 { nextUpdate = clock.now &+ Time.s / 2 }
        while q.count > p.limit, let x = q.pop(pool) { accountDropped(len(x)); pool.free(x) }
    }

    override func attached() { if nextUpdate == 0 { nextUpdate = clock.now &+ Time.s / 2 } }

    @inline(__always)
    func runTimer(_ now: UInt64) {
        PIE.catchUp(params, next: &nextUpdate, now: now) { PIE.calculateProbability(params, &vars, backlog: stats.backlog) }
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        let now = clock.now
        runTimer(now)
        // pie_qdisc_enqueue's `out`: counted as dropped, the accumulated probability restarts.
        guard q.count < params.limit else { overlimit &+= 1; dropped &+= 1; vars.accuProb = 0; return drop(p) }
        let l = len(p)
        var enqueue = false
        if !PIE.dropEarly(params, &vars, backlog: stats.backlog, size: l, mtu: env.mtu, rng: &rng) {
            enqueue = true
        } else if params.ecn && vars.prob <= PIE.maxProb / 10 && ECN.setCE(pool, p.index) {
            ecnMarked &+= 1
            enqueue = true
        }
        guard enqueue else { dropped &+= 1; vars.accuProb = 0; return drop(p) }
        pool.metas[Int(p.index)].timestamp = now
        packetsIn &+= 1
        maxq = max(maxq, q.count)
        q.push(p, pool)
        accountIn(l)
        return .success
    }

    override func dequeue() -> Packet? {
        let now = clock.now
        runTimer(now)
        guard let p = q.pop(pool) else { return nil }
        let l = len(p)
        accountOut(l, segs: segs(p))
        PIE.processDequeue(params, &vars, now: PIE.ticks(now), enqueued: PIE.ticks(pool.metas[Int(p.index)].timestamp),
                           length: l, backlog: stats.backlog)
        return p
    }

    override func peekLength() -> Int? { q.peekIndex.map { Int(pool.metas[Int($0)].pktLen) } }
    override func reset() { q.purge(pool); stats.qlen = 0; stats.backlog = 0; vars.startCycle() }
}
