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
/// `avpkt` bytes had been leaving at `bandwidth`. The hard limit is `limit` bytes.
final class REDQdisc: Qdisc {
    var limit = 0, qmin = 0, qmax = 0, avpkt = 1000, burst = 0
    var maxP = 0.02
    var bandwidth: UInt64 = 10_000_000
    var ecn = false, harddrop = false
    var wlog = 9
    /// Scell_log as tc sent it over rtnetlink (else derived from avpkt and bandwidth).
    var scellLogSet: Int?
    var qavg = 0.0
    var count = -1
    var idleStart: UInt64 = 0
    var rng = SplitMix(seed: 0x12ED)
    var q = PacketQueue()
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
    }

    /// red_change: red_check_params' rules, then applied whole.
    func configure(_ p: REDParams) throws(SluiceError) {
        guard p.qmin <= p.qmax else { throw SluiceError("Error: red: min must not exceed max.") }
        guard p.wlog < 32, (p.scellLog ?? 0) < 32 else { throw SluiceError("Error: red: invalid RED parameters (Wlog and Scell_log must be below 32).") }
        guard p.limit > 0 else { throw SluiceError("Error: \"limit\" is required.") }
        limit = p.limit; qmin = p.qmin; qmax = p.qmax; wlog = p.wlog; maxP = p.maxP
        ecn = p.ecn; harddrop = p.harddrop; scellLogSet = p.scellLog
        avpkt = p.avpkt; burst = p.burst; bandwidth = p.bandwidth
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
        if q.isEmpty && idleStart > 0 {
            // Decay over the idle time, as m packets of avpkt that could have left.
            let m = Double(now &- idleStart) / Double(l2t(avpkt, bandwidth) | 1)
            qavg *= pow(1 - weight, m)
            idleStart = 0
        }
        qavg += weight * (Double(q.bytes) - qavg)
        let (dropIt, force) = decide(qavg)
        if dropIt {
            if force { forced &+= 1 } else { early &+= 1 }
            if ecn && !(force && harddrop) && ECN.setCE(pool, p.index) {
                marked &+= 1
            } else {
                return drop(p)
            }
        }
        let l = len(p)
        guard q.bytes + UInt64(l) <= UInt64(limit) else { pdrop &+= 1; return drop(p) }
        q.push(p, pool)
        accountIn(l)
        return .success
    }

    override func dequeue() -> Packet? {
        guard let p = q.pop(pool) else { return nil }
        accountOut(len(p), segs: segs(p))
        if q.isEmpty { idleStart = clock.now }
        return p
    }

    override func peekLength() -> Int? { q.peekIndex.map { Int(pool.metas[Int($0)].pktLen) } }
    override func reset() { q.purge(pool); stats.qlen = 0; stats.backlog = 0; qavg = 0; count = -1; idleStart = 0 }


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
