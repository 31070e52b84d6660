#if canImport(Glibc)
import Glibc
#endif

/// Principles (sch_gred.c, include/net/red.h)
/// ----------
/// Generic RED: one FIFO of `limit` bytes shared by up to 16 virtual queues (VQs, "drop
/// precedences"), each with its own RED parameters and average. A packet's VQ is the low four
/// bits of its tc_index (set by an ingress classid, or by IFE); a packet naming no configured
/// VQ goes to the `default` one (and its tc_index is rewritten to it), or, when that is not
/// configured either, passes untouched within the qdisc's limit.
///
/// Modes, as the kernel chooses them: plain (each VQ averages its own backlog); `grio` (RIO:
/// a VQ's average also counts the averages of the busy VQs of better — lower — priority); and
/// WRED, switched on by itself when grio is set and two VQs share a priority: one average over
/// the whole queue, shared by every VQ.
///
/// The arithmetic is red.h's fixed point, so averages, thresholds and the random spacing of
/// drops are the kernel's: qavg scaled by 2^Wlog, the drop threshold qR drawn uniformly over
/// 0 … 2^32 / (max_P / (max − min)), the idle decay from the Stab table tc computes. A
/// per-VQ `limit` above the qdisc's is clamped to it, as gred_change_vq does.
final class GREDQdisc: Qdisc {
    static let maxDPs = 16
    static let defaultPrio: UInt8 = 8          // GRED_DEF_PRIO = MAX_DPs / 2
    static let ecnFlag: UInt32 = 1, harddropFlag: UInt32 = 2

    /// red_parms + red_vars + red_stats + gred_sched_data's own fields, for one VQ.
    struct VQ {
        var present = false
        var limit: UInt32 = 0
        var dp: UInt32 = 0
        var redFlags: UInt32 = 0
        var bytesin: UInt64 = 0
        var packetsin: UInt32 = 0
        var backlog: UInt32 = 0
        var prio: UInt8 = 0
        var parms = REDParms()
        var vars = REDVars()
        // red_stats
        var probDrop: UInt32 = 0, probMark: UInt32 = 0, forcedDrop: UInt32 = 0, forcedMark: UInt32 = 0, pdrop: UInt32 = 0
    }

    var vqs = [VQ](repeating: VQ(), count: GREDQdisc.maxDPs)
    /// Each VQ's idle-damping table (red_parms.Stab), 256 bytes per VQ.
    var stabs = [UInt8](repeating: 0, count: GREDQdisc.maxDPs * 256)
    var dps: UInt32 = 0
    var def: UInt32 = 0
    var redFlags: UInt32 = 0
    var rio = false, wred = false
    /// The shared average of WRED mode (table->wred_set).
    var wredAvg: UInt64 = 0, wredIdleStart: UInt64 = 0
    /// sch->limit in bytes.
    var limit: UInt32 = 0
    var configured = false
    var queue = PacketQueue()
    var rng = SplitMix(seed: 0x6BED)

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "gred", handle: handle, parent: parent, env: env)
        limit = UInt32(clamping: env.txQueueLen * env.mtu)     // tx_queue_len × psched_mtu
    }

    /// struct tc_gred_sopt.
    struct TableDef: Equatable {
        var dps: UInt32, def: UInt32, grio: Bool, flags: UInt32
    }

    /// struct tc_gred_qopt as `tc qdisc change … gred vq N …` sends it, with its Stab, max_P and
    /// the VQ list's flags.
    struct VQParams {
        var limit: UInt32, qthMin: UInt32, qthMax: UInt32, dp: UInt32
        var wlog: UInt8, plog: UInt8, scellLog: UInt8, prio: UInt8
        var stab: [UInt8]
        var maxP: UInt32
        /// TCA_GRED_VQ_LIST: (dp, flags) pairs; flags nil when the entry had none.
        var vqFlags: [(dp: UInt32, flags: UInt32?)] = []
    }

    /// What one request asks (gred_change's two forms).
    enum Request {
        case table(TableDef?, limit: UInt32?)
        case vq(VQParams)
    }

    static func err(_ m: String) -> SluiceError { SluiceError("Error: sch_gred: \(m).") }

    /// gred_init (the first request) or gred_change: every check first, then applied whole.
    func apply(_ r: Request) throws(SluiceError) {
        switch r {
        case .table(let t, let l):
            guard let t else { throw SluiceError("Error: gred: the table definition (TCA_GRED_DPS) is missing.") }
            try changeTable(t, limit: l ?? (configured ? nil : limit))
        case .vq(let p):
            guard configured else { throw Self.err("virtual queue configuration can't be specified at initialization time") }
            try changeVQ(p)
        }
        configured = true
    }

    /// gred_change_table_def.
    func changeTable(_ t: TableDef, limit l: UInt32?) throws(SluiceError) {
        guard t.dps <= UInt32(Self.maxDPs) else { throw Self.err("number of virtual queues too high") }
        guard t.dps > 0 else { throw Self.err("number of virtual queues can't be 0") }
        guard t.def < t.dps else { throw Self.err("default virtual queue above virtual queue count") }
        if t.flags != 0 && perVQFlagsUsed { throw Self.err("can't set per-Qdisc RED flags when per-virtual queue flags are used") }
        if let l { limit = l }
        dps = t.dps; def = t.def
        let flagsChanged = redFlags != t.flags
        redFlags = t.flags
        if t.grio { rio = true; wred = wredCheck() } else { rio = false; wred = false }
        if flagsChanged { for i in 0..<Int(dps) where vqs[i].present { vqs[i].redFlags = redFlags & 3 } }
        // Shadowed VQs are destroyed (their packets stay in the shared queue).
        for i in Int(dps)..<Self.maxDPs where vqs[i].present { vqs[i] = VQ() }
    }

    var perVQFlagsUsed: Bool {
        if redFlags != 0 { return false }
        return vqs.contains { $0.present && $0.redFlags != 0 }
    }

    /// gred_wred_mode_check: two configured VQs with the same priority.
    func wredCheck() -> Bool {
        for i in 0..<Int(dps) where vqs[i].present {
            for n in (i + 1)..<max(Int(dps), i + 1) where vqs[n].present && vqs[n].prio == vqs[i].prio { return true }
        }
        return false
    }

    /// gred_change's VQ form: gred_vqs_validate, gred_change_vq (red_check_params,
    /// red_set_parms, red_set_vars), the VQ list's flags, the WRED check.
    func changeVQ(_ p: VQParams) throws(SluiceError) {
        guard p.dp < dps else { throw Self.err("virtual queue index above virtual queue count") }
        for e in p.vqFlags {
            guard e.dp < dps else { throw Self.err("Virtual queue with index out of bounds") }
            guard e.dp == p.dp || vqs[Int(e.dp)].present else { throw Self.err("Virtual queue not yet instantiated") }
            if let f = e.flags {
                if redFlags != 0 && redFlags != f { throw Self.err("can't change per-virtual queue RED flags when per-Qdisc flags are used") }
                guard f & ~UInt32(3) == 0 else { throw Self.err("invalid RED flags specified") }
            }
        }
        guard REDParms.valid(qthMin: p.qthMin, qthMax: p.qthMax, wlog: p.wlog, scellLog: p.scellLog),
              p.stab.count >= 256, p.stab.prefix(256).allSatisfy({ $0 < 32 }) else { throw Self.err("invalid RED parameters") }
        var prio = Self.defaultPrio
        if rio { prio = p.prio != 0 ? p.prio : (vqs[Int(def)].present ? vqs[Int(def)].prio : Self.defaultPrio) }
        let i = Int(p.dp)
        var q = vqs[i]
        if !q.present { q = VQ(); q.present = true; q.redFlags = redFlags & 3 }
        q.dp = p.dp
        q.prio = prio
        q.limit = min(p.limit, limit)
        if q.backlog == 0 { q.vars.idleStart = 0 }
        q.parms = REDParms(qthMin: p.qthMin, qthMax: p.qthMax, wlog: p.wlog, plog: p.plog, scellLog: p.scellLog, maxP: p.maxP)
        q.vars.restart()
        vqs[i] = q
        for k in 0..<256 { stabs[i * 256 + k] = p.stab[k] }
        for e in p.vqFlags { if let f = e.flags { vqs[Int(e.dp)].redFlags = f } }
        if rio { wred = wredCheck() }
    }

    /// red_calc_qavg for VQ `i`, its idle decay from the VQ's Stab table.
    @inline(__always)
    func average(_ i: Int, qavg: UInt64, idle: UInt64, backlog: UInt64, now: UInt64) -> UInt64 {
        let p = vqs[i].parms
        if idle == 0 { return p.averageNoIdle(qavg, backlog: backlog) }
        return p.averageFromIdle(qavg, idleStart: idle, now: now) { stabs[i * 256 + $0] }
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        let idx = Int(p.index)
        let l = len(p)
        var dp = Int(pool.metas[idx].tcIndex & 0xF)
        if dp >= Int(dps) || !vqs[dp].present {
            dp = Int(def)
            if !vqs[dp].present {
                // No default VQ: pass through within the qdisc's limit.
                guard stats.backlog + UInt64(l) <= UInt64(limit) else { return drop(p) }
                queue.push(p, pool); accountIn(l)
                return .success
            }
            pool.metas[idx].tcIndex = (pool.metas[idx].tcIndex & ~0xF) | UInt16(dp)
        }
        let now = clock.now
        var others: UInt64 = 0
        if !wred && rio {
            let prio = vqs[dp].prio
            for i in 0..<Int(dps) where vqs[i].present && vqs[i].prio < prio && vqs[i].vars.idleStart == 0 { others &+= vqs[i].vars.qavg }
        }
        vqs[dp].packetsin &+= 1
        vqs[dp].bytesin &+= UInt64(l)
        if wred { vqs[dp].vars.qavg = wredAvg; vqs[dp].vars.idleStart = wredIdleStart }
        let backlog = wred ? stats.backlog : UInt64(vqs[dp].backlog)
        vqs[dp].vars.qavg = average(dp, qavg: vqs[dp].vars.qavg, idle: vqs[dp].vars.idleStart, backlog: backlog, now: now)
        vqs[dp].vars.idleStart = 0
        if wred { wredAvg = vqs[dp].vars.qavg; wredIdleStart = 0 }
        let ecn = vqs[dp].redFlags & Self.ecnFlag != 0, harddrop = vqs[dp].redFlags & Self.harddropFlag != 0
        switch vqs[dp].parms.action(&vqs[dp].vars, vqs[dp].vars.qavg &+ others, &rng) {
        case .dontMark: break
        case .probMark:
            stats.overlimits &+= 1
            if !ecn || !ECN.setCE(pool, p.index) { vqs[dp].probDrop &+= 1; _ = drop(p); return .congestion }
            vqs[dp].probMark &+= 1
        case .hardMark:
            stats.overlimits &+= 1
            if harddrop || !ecn || !ECN.setCE(pool, p.index) { vqs[dp].forcedDrop &+= 1; _ = drop(p); return .congestion }
            vqs[dp].forcedMark &+= 1
        }
        let b = wred ? stats.backlog : UInt64(vqs[dp].backlog)
        guard b + UInt64(l) <= UInt64(vqs[dp].limit) else { vqs[dp].pdrop &+= 1; return drop(p) }
        vqs[dp].backlog &+= UInt32(truncatingIfNeeded: l)
        queue.push(p, pool); accountIn(l)
        return .success
    }

    override func dequeue() -> Packet? {
        guard let p = queue.pop(pool) else { return nil }
        let l = len(p)
        accountOut(l, segs: segs(p))
        let dp = Int(pool.metas[Int(p.index)].tcIndex & 0xF)
        if dp < Int(dps) && vqs[dp].present {
            vqs[dp].backlog &-= UInt32(truncatingIfNeeded: l)
            // red_start_of_idle_period (ktime 0 means "not idle", so never start at 0).
            let now = max(clock.now, 1)
            if wred { if stats.backlog == 0 { wredIdleStart = now } } else if vqs[dp].backlog == 0 { vqs[dp].vars.idleStart = now }
        }
        return p
    }

    override func peekLength() -> Int? { queue.peekIndex.map { Int(pool.metas[Int($0)].pktLen) } }

    override func reset() {
        stats.qlen -= queue.count; stats.backlog &-= queue.bytes
        queue.purge(pool)
        for i in 0..<Int(dps) where vqs[i].present {
            vqs[i].vars.idleStart = 0; vqs[i].vars.restart(); vqs[i].backlog = 0
        }
    }

    /// One VQ as gred_dump shows it (the WRED average loaded into it first, as the kernel
    /// does), with `vars.qavg` = red_calc_qavg over the average itself, unscaled.
    func dumpVQ(_ i: Int) -> VQ {
        if wred { vqs[i].vars.qavg = wredAvg; vqs[i].vars.idleStart = wredIdleStart }
        var q = vqs[i]
        q.backlog = wred ? UInt32(truncatingIfNeeded: stats.backlog) : q.backlog
        let a = average(i, qavg: q.vars.qavg, idle: q.vars.idleStart, backlog: q.vars.qavg >> UInt64(q.parms.wlog), now: clock.now)
        q.vars.qavg = a >> UInt64(q.parms.wlog)
        return q
    }
}
