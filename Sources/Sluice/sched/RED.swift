/// Random Early Detection in include/net/red.h's fixed point, for the qdiscs that keep the
/// kernel's integer state and show it (gred's virtual queues, sfq's per-flow RED): averages
/// scaled by 2^Wlog, thresholds shifted alike, the drop spacing qR drawn uniformly over
/// 0 … 2^32 / (max_P / (max − min)), and the idle decay from tc's Stab table. red and choke
/// keep the same algorithm in floating point (`REDQdisc`).
struct REDParms {
    var qthMin: UInt64 = 0, qthMax: UInt64 = 0          // Wlog scaled
    var wlog: UInt8 = 0, plog: UInt8 = 0, scellLog: UInt8 = 0
    var maxP: UInt32 = 0
    /// max(max_P / (max − min), 1): red_random divides by it (the kernel's reciprocal_value).
    var maxPDelta: UInt32 = 1
    var scellMax: UInt64 = 0

    /// red_check_params (the Stab table, where there is one, is checked by its owner).
    static func valid(qthMin: UInt32, qthMax: UInt32, wlog: UInt8, scellLog: UInt8) -> Bool {
        func fls(_ v: UInt32) -> Int { 32 - v.leadingZeroBitCount }
        return fls(qthMin) + Int(wlog) < 32 && fls(qthMax) + Int(wlog) < 32 && scellLog < 32 && qthMax >= qthMin
    }

    /// red_set_parms: thresholds scaled, max_P from Plog when not given.
    init(qthMin: UInt32, qthMax: UInt32, wlog: UInt8, plog: UInt8, scellLog: UInt8, maxP: UInt32) {
        self.qthMin = UInt64(qthMin) << wlog; self.qthMax = UInt64(qthMax) << wlog
        self.wlog = wlog; self.plog = plog
        var delta = Int(qthMax) - Int(qthMin)
        if delta <= 0 { delta = 1 }
        var p = maxP
        if p == 0 { p = (plog < 32 ? UInt32.max >> UInt32(plog) : UInt32.max) &* UInt32(truncatingIfNeeded: delta) }
        self.maxP = p
        maxPDelta = Swift.max(p / UInt32(delta), 1)
        self.scellLog = scellLog
        scellMax = UInt64(255) << scellLog
    }
    init() {}

    /// The thresholds as configured (unscaled), as dumps give them.
    var minThreshold: UInt32 { UInt32(truncatingIfNeeded: qthMin >> UInt64(wlog)) }
    var maxThreshold: UInt32 { UInt32(truncatingIfNeeded: qthMax >> UInt64(wlog)) }

    /// red_calc_qavg_no_idle_time: qavg·(1 − W) + backlog·W in fixed point.
    @inline(__always)
    func averageNoIdle(_ qavg: UInt64, backlog: UInt64) -> UInt64 {
        qavg &+ (backlog &- (qavg >> UInt64(wlog)))
    }

    /// red_calc_qavg_from_idle_time with the owner's Stab table (256 shifts).
    @inline(__always)
    func averageFromIdle(_ qavg: UInt64, idleStart: UInt64, now: UInt64, stab: (Int) -> UInt8) -> UInt64 {
        let usIdle = Swift.min((now &- idleStart) / 1000, scellMax)
        let shift = stab(Int((usIdle >> UInt64(scellLog)) & 0xFF))
        if shift != 0 { return qavg >> UInt64(shift) }
        let lin = (qavg &* usIdle) >> UInt64(scellLog)
        return lin < qavg >> 1 ? qavg - lin : qavg >> 1
    }

    enum Verdict { case dontMark, probMark, hardMark }

    /// red_action on `v` at average `qavg`.
    @inline(__always)
    func action(_ v: inout REDVars, _ qavg: UInt64, _ rng: inout SplitMix) -> Verdict {
        if qavg < qthMin { v.qcount = -1; return .dontMark }
        if qavg >= qthMax { v.qcount = -1; return .hardMark }
        v.qcount += 1
        if v.qcount != 0 {
            // red_mark_probability: !(((qavg - qth_min) >> Wlog) * qcount < qR).
            let x = ((qavg &- qthMin) >> UInt64(wlog)) &* UInt64(v.qcount)
            if !(x < UInt64(v.qR)) {
                v.qcount = 0
                v.qR = UInt32(truncatingIfNeeded: rng.next()) / maxPDelta
                return .probMark
            }
        } else {
            v.qR = UInt32(truncatingIfNeeded: rng.next()) / maxPDelta
        }
        return .dontMark
    }
}

/// struct red_vars.
struct REDVars {
    var qcount = -1
    var qR: UInt32 = 0
    var qavg: UInt64 = 0
    /// 0: not idling (red_is_idling).
    var idleStart: UInt64 = 0
    /// red_set_vars / red_restart's average and count.
    mutating func restart() { qavg = 0; qcount = -1 }
}
