#if canImport(Glibc)
import Glibc
#endif

/// Principles (sch_red.c, Floyd & Jacobson 1993)
/// ----------
/// Random Early Detection keeps an exponentially weighted average of the queue size (weight
/// W = 2^-Wlog, chosen by tc so that a `burst` of packets can arrive without a drop) and, while
/// the average lies between `min` and `max`, drops (or ECN-marks) arriving packets with a
/// probability rising linearly to `probability` at `max`, spread evenly by the count since the
/// last drop (a uniform threshold per gap, as the kernel's red_action: gaps uniform on 1…1/p_b). Above `max` every packet is dropped (or marked, with
/// `ecn` and without `harddrop`). While the queue sits empty the average decays as if packets of
/// `avpkt` bytes had been leaving at `bandwidth`. With `nodrop` a packet that cannot be marked
/// (not ECN-capable) is queued instead of dropped. With `adaptive` (Floyd's Adaptive RED, as
/// red_adaptative_algo every 500 ms) `probability` moves: up by min(1 %, p/4) while the average
/// sits above min + 0.6 (max − min), down by a tenth while below min + 0.4 (max − min).
/// As sch_red, red is classful with one class (major:1) whose child keeps the packets: a bfifo
/// of `limit` bytes unless another qdisc is grafted there.
final class REDQdisc: Qdisc {
    var limit = 0, qmin = 0, qmax = 0, avpkt = 1000, burst = 0
    var maxP = 0.02
    var bandwidth: UInt64 = 10_000_000
    var ecn = false, harddrop = false, nodrop = false, adaptive = false
    /// The next 500 ms tick of the adaptive algorithm (red_adaptative_timer), caught up lazily.
    var nextAdapt: UInt64 = 0
    static let adaptPeriod = 500 * Time.ms
    /// The child of class major:1 (q->qdisc).
    var child: Qdisc?
    var wlog = 9
    /// Scell_log as tc sent it over rtnetlink (else derived from avpkt and bandwidth).
    var scellLogSet: Int?
    var qavg = 0.0
    var count = -1
    var idleStart: UInt64 = 0
    var rng = SplitMix(seed: 0x12ED)
    var early: UInt64 = 0, forced: UInt64 = 0, marked: UInt64 = 0, pdrop: UInt64 = 0

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "red", handle: handle, parent: parent, env: env)
    }

    /// red's configuration as the kernel keeps it (struct tc_red_qopt, TCA_RED_MAX_P) with what
    /// tc's words also give (avpkt, burst, bandwidth: kept for the idle decay and `tc -d`).
    struct REDParams {
        var limit: Int, qmin: Int, qmax: Int, wlog: Int, maxP: Double
        var scellLog: Int?
        var ecn: Bool, harddrop: Bool
        var avpkt: Int, burst: Int, bandwidth: UInt64
        var nodrop = false, adaptive = false
    }

    /// red_change: red_check_params' rules, then applied whole.
    func configure(_ p: REDParams) throws(SluiceError) {
        guard p.qmin <= p.qmax else { throw SluiceError("Error: red: min must not exceed max.") }
        guard p.wlog < 32, (p.scellLog ?? 0) < 32 else { throw SluiceError("Error: red: invalid RED parameters (Wlog and Scell_log must be below 32).") }
        guard p.limit > 0 else { throw SluiceError("Error: \"limit\" is required.") }
        guard !p.nodrop || p.ecn else { throw SluiceError("Error: sch_red: nodrop mode is only meaningful with ECN") }
        limit = p.limit; qmin = p.qmin; qmax = p.qmax; wlog = p.wlog; maxP = p.maxP
        ecn = p.ecn; harddrop = p.harddrop; scellLogSet = p.scellLog
        nodrop = p.nodrop; adaptive = p.adaptive
        avpkt = p.avpkt; burst = p.burst; bandwidth = p.bandwidth
        // red_change: a new default child of `limit` bytes (the old one's packets go).
        if let c = child { purgeChild(c); stats.qlen = 0; stats.backlog = 0 }
        let c = FifoQdisc(kind: "bfifo", handle: .unspec, parent: classid, env: env)
        c.limit = limit
        child = c
        qavg = 0; count = -1
        idleStart = clock.now
        nextAdapt = adaptive ? clock.now &+ Self.adaptPeriod : 0
    }

    override var hasSingleClass: Bool { true }
    override var isClassful: Bool { true }
    var classid: TcHandle { TcHandle(handle.major, 1) }

    func purgeChild(_ c: Qdisc) {
        let n = c.statsSnapshot().qlen
        c.purge()
        stats.drops &+= UInt64(n)
    }

    /// red_adaptative_algo at each 500 ms tick up to `now`: the average (decayed over an idle
    /// queue) against the targets, max_P nudged.
    func adapt(_ now: UInt64) {
        let delta = Double((qmax - qmin) / 5)
        let targetMin = Double(qmin) + 2 * delta, targetMax = Double(qmin) + 3 * delta
        while nextAdapt != 0 && now >= nextAdapt {
            var avg = qavg
            if idleStart > 0 && nextAdapt > idleStart { avg *= pow(1 - weight, Double(nextAdapt &- idleStart) / Double(l2t(avpkt, bandwidth) | 1)) }
            if avg > targetMax && maxP <= 0.5 {
                maxP += min(0.01, maxP / 4)
            } else if avg < targetMin && maxP >= 0.01 {
                maxP = maxP / 10 * 9
            }
            nextAdapt &+= Self.adaptPeriod
        }
    }


    /// tc_red_eval_P: Plog such that 2^-Plog over the min…max range gives `probability`.
    var plog: Int {
        var prob = maxP / Double(max(qmax - qmin, 1))
        var i = 0
        while i < 32 { if prob > 1.0 { break }; prob *= 2; i += 1 }
        return i
    }

    var weight: Double { 1.0 / Double(1 << wlog) }

    /// The probability RED aims for at average queue `avg` (p_b).
    func baseProbability(_ avg: Double) -> Double {
        if avg < Double(qmin) { return 0 }
        if avg >= Double(qmax) { return 1 }
        return maxP * (avg - Double(qmin)) / Double(qmax - qmin)
    }

    /// Uniform threshold for the current gap between drops (the kernel's qR).
    var threshold = 0.0

    /// Decides for one arriving packet at average `avg`: true = drop (or mark). As red_action:
    /// after each drop a threshold R is drawn uniformly in [0, 1); the packet whose count since
    /// the drop makes count·p_b reach R is dropped, so gaps are uniform on 1…1/p_b.
    func decide(_ avg: Double) -> (drop: Bool, forced: Bool) {
        if avg < Double(qmin) { count = -1; return (false, false) }
        if avg >= Double(qmax) { count = -1; return (true, true) }
        count += 1
        if count == 0 { threshold = rng.nextDouble(); return (false, false) }
        if Double(count) * baseProbability(avg) >= threshold {
            count = 0
            threshold = rng.nextDouble()
            return (true, false)
        }
        return (false, false)
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        let now = clock.now
        guard let child else { return drop(p) }
        if nextAdapt != 0 { adapt(now) }
        let backlog = child.statsSnapshot().backlog
        if backlog == 0 && idleStart > 0 {
            // Decay over the idle time, as m packets of avpkt that could have left.
            let m = Double(now &- idleStart) / Double(l2t(avpkt, bandwidth) | 1)
            qavg *= pow(1 - weight, m)
            idleStart = 0
        }
        idleStart = 0
        qavg += weight * (Double(backlog) - qavg)
        let (dropIt, force) = decide(qavg)
        if dropIt {
            stats.overlimits &+= 1
            if force { forced &+= 1 } else { early &+= 1 }
            // red_enqueue: marked if ECN may and the packet is ECN-capable; a packet that is
            // not is queued anyway in nodrop mode (harddrop still drops above max).
            if ecn && !(force && harddrop) {
                if ECN.setCE(pool, p.index) { marked &+= 1 } else if !nodrop { return drop(p) }
            } else {
                return drop(p)
            }
        }
        let l = len(p)
        let v = child.enqueue(p)
        if v == .success { accountIn(l); return v }
        if v == .dropped || v == .congestion { pdrop &+= 1; stats.drops &+= 1 }
        return v
    }

    override func dequeue() -> Packet? {
        if nextAdapt != 0 { adapt(clock.now) }
        guard let child, let p = child.dequeuePeeked() else { return nil }
        let l = len(p)
        stats.qlen -= 1; stats.backlog &-= UInt64(l)
        countSent(l, segs: segs(p))
        if child.statsSnapshot().qlen == 0 { idleStart = clock.now }
        return p
    }

    override func peekLength() -> Int? { child?.peekLength() }
    override var watchdog: UInt64 { child?.watchdog ?? 0 }
    override func reset() { child?.purge(); stats.qlen = 0; stats.backlog = 0; qavg = 0; count = -1; idleStart = clock.now }

    override func childQdiscs() -> [Qdisc] { child.map { [$0] } ?? [] }
    override func classes(details: Bool) -> [QdiscClassInfo] {
        // red_dump_class: one class, no statistics of its own.
        [QdiscClassInfo(classid: classid, parent: handle, leaf: child, options: "", stats: nil, xstats: nil)]
    }

    override func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        let old = try graftOnly(classid, q, into: &child)
        let s = child?.statsSnapshot() ?? QdiscStats()
        stats.qlen = s.qlen; stats.backlog = s.backlog
        return old
    }


    /// tc_red_eval_idle_damping's cell log for the idle-time table.
    var scellLog: Int {
        if let s = scellLogSet { return s }
        let xmit = Double(TcCore.xmittime(rate: bandwidth / 8, size: UInt32(clamping: avpkt)))
        let lW = -log(1.0 - 1.0 / Double(1 << wlog)) / xmit
        let maxtime = 31 / lW
        var clog = 0
        while clog < 32 && maxtime / Double(1 << clog) >= 512 { clog += 1 }
        return clog
    }

}
