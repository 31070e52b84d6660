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
/// sojourn time (the timestamp variant, without the dequeue-rate estimator).
///
/// Units follow the kernel: delays in psched ticks (64 ns), the probability as a fraction of
/// MAX_PROB = 2^56 − 1, alpha and beta in 1/16ths. The periodic update runs on the datapath's
/// clock when the qdisc is next touched, once per elapsed `tupdate` (a timer in the kernel).
final class PIEQdisc: Qdisc {
    static let maxProb = UInt64.max >> 8
    static let ticksPerSecond: UInt64 = 1_000_000_000 >> 6

    struct PIEParams {
        var target: UInt64 = 15 * Time.ms     // ns
        var tupdate: UInt64 = 15 * Time.ms    // ns
        var limit = 1000
        var alpha: UInt32 = 2
        var beta: UInt32 = 20
        var ecn = false
        var bytemode = false
    }
    var params = PIEParams()

    // pie_vars
    var prob: UInt64 = 0
    var accuProb: UInt64 = 0
    var qdelayTicks: UInt64 = 0
    var qdelayOldTicks: UInt64 = 0
    var burstTicks: UInt64 = 150 * Time.ms >> 6
    var dqStamp: UInt64 = 0
    var nextUpdate: UInt64 = 0
    // pie_stats
    var packetsIn: UInt64 = 0, dropped: UInt64 = 0, overlimit: UInt64 = 0, ecnMarked: UInt64 = 0, maxq = 0
    var rng = SplitMix(seed: 0x9_1E)
    var q = PacketQueue()

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "pie", handle: handle, parent: parent, env: env)
    }

    /// pie_change: applied whole; a lower limit drops from the head now.
    func configure(_ p: PIEParams) throws(SluiceError) {
        guard p.limit > 0 else { throw SluiceError("Error: pie: limit must be positive") }
        guard p.alpha <= 32, p.beta <= 32 else { throw SluiceError("Error: pie: alpha and beta must be between 0 and 32") }
        params = p
        if nextUpdate == 0 { nextUpdate = clock.now &+ p.tupdate }
        while q.count > p.limit, let x = q.pop(pool) { accountDropped(len(x)); pool.free(x) }
    }

    /// pie_vars_init: a new measurement cycle.
    func resetVars() {
        accuProb = 0
        burstTicks = 150 * Time.ms >> 6
        dqStamp = 0
    }

    /// The kernel's adapt timer, caught up on the datapath clock.
    @inline(__always)
    func runTimer(_ now: UInt64) {
        guard params.tupdate > 0, now >= nextUpdate else { return }
        var n = 0
        while now >= nextUpdate && n < 4096 {
            calculateProbability()
            nextUpdate &+= params.tupdate
            n += 1
        }
        if now >= nextUpdate { nextUpdate = now &+ params.tupdate }
    }

    /// pie_calculate_probability without the dequeue-rate estimator.
    func calculateProbability() {
        let maxP = Self.maxProb
        let qdelay = qdelayTicks, qdelayOld = qdelayOldTicks
        let target = params.target >> 6
        var updateProb = !(qdelay == 0 && stats.backlog != 0)
        var alpha = UInt64(params.alpha) * (maxP / Self.ticksPerSecond) >> 4
        var beta = UInt64(params.beta) * (maxP / Self.ticksPerSecond) >> 4
        if prob < maxP / 10 {
            alpha >>= 1; beta >>= 1
            var power: UInt64 = 100
            while prob < maxP / power && power <= 1_000_000 { alpha >>= 2; beta >>= 2; power *= 10 }
        }
        var delta = Int64(truncatingIfNeeded: alpha &* (qdelay &- target))      // two's complement, as the kernel's s64
        delta &+= Int64(truncatingIfNeeded: beta &* (qdelay &- qdelayOld))
        let old = prob
        if delta > Int64(maxP / 50) && prob >= maxP / 10 { delta = Int64(maxP / 100 * 2) }
        if qdelay > 250 * Time.ms >> 6 { delta &+= Int64(maxP / 50) }
        prob = UInt64(bitPattern: Int64(bitPattern: prob) &+ delta)
        if delta > 0 {
            if prob < old { prob = maxP; updateProb = false }
        } else if prob > old {
            prob = 0
        }
        if qdelay == 0 && qdelayOld == 0 && updateProb { prob -= prob / 64 }
        qdelayTicks = qdelay
        if qdelay < target / 2 && qdelayOld < target / 2 && prob == 0 { resetVars() }
        qdelayOldTicks = qdelay
    }

    /// pie_drop_early.
    func dropEarly(_ size: Int) -> Bool {
        let maxP = Self.maxProb
        let mtu = env.mtu
        if burstTicks > 0 { return false }
        if qdelayTicks < (params.target >> 6) / 2 && prob < maxP / 5 { return false }
        if stats.backlog < UInt64(2 * mtu) { return false }
        var local = prob
        if params.bytemode && size <= mtu { local = UInt64(size) &* (prob / UInt64(mtu)) }
        if local == 0 { accuProb = 0 } else { accuProb &+= local }
        if accuProb < maxP / 100 * 85 { return false }
        if accuProb >= maxP / 2 * 17 { return true }
        if rng.next() >> 8 < local { accuProb = 0; return true }
        return false
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        let now = clock.now
        runTimer(now)
        // pie_qdisc_enqueue's `out`: counted as dropped, the accumulated probability restarts.
        guard q.count < params.limit else { overlimit &+= 1; dropped &+= 1; accuProb = 0; return drop(p) }
        let l = len(p)
        var enqueue = false
        if !dropEarly(l) {
            enqueue = true
        } else if params.ecn && prob <= Self.maxProb / 10 && ECN.setCE(pool, p.index) {
            ecnMarked &+= 1
            enqueue = true
        }
        guard enqueue else { dropped &+= 1; accuProb = 0; return drop(p) }
        pool.metas[Int(p.index)].timestamp = now
        maxq = max(maxq, q.count)
        q.push(p, pool)
        accountIn(l)
        packetsIn &+= 1
        return .success
    }

    override func dequeue() -> Packet? {
        let now = clock.now
        runTimer(now)
        guard let p = q.pop(pool) else { return nil }
        // pie_process_dequeue, timestamp variant: the sojourn time, and the burst allowance
        // shrinks by the time since the last dequeue.
        qdelayTicks = (now &- pool.metas[Int(p.index)].timestamp) >> 6
        let dtime = dqStamp == 0 ? 0 : (now &- dqStamp) >> 6
        dqStamp = now
        if q.count == 0 { qdelayTicks = 0 }
        if dtime > 0 && burstTicks > 0 { burstTicks = burstTicks > dtime ? burstTicks - dtime : 0 }
        accountOut(len(p), segs: segs(p))
        return p
    }

    override func peekLength() -> Int? { q.peekIndex.map { Int(pool.metas[Int($0)].pktLen) } }
    override func reset() { q.purge(pool); stats.qlen = 0; stats.backlog = 0; prob = 0; resetVars() }
}
