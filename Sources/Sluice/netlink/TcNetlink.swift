#if canImport(Glibc)
import Glibc
#endif

/// TCA_* attributes (linux/rtnetlink.h, linux/gen_stats.h, linux/pkt_sched.h).
public enum TCA {
    public static let KIND: UInt16 = 1, OPTIONS: UInt16 = 2, STATS: UInt16 = 3, XSTATS: UInt16 = 4, RATE: UInt16 = 5
    public static let STATS2: UInt16 = 7, STAB: UInt16 = 8, DUMP_INVISIBLE: UInt16 = 10, CHAIN: UInt16 = 11
    public static let HW_OFFLOAD: UInt16 = 12, INGRESS_BLOCK: UInt16 = 13, EGRESS_BLOCK: UInt16 = 14, DUMP_FLAGS: UInt16 = 15
    public static let STATS_BASIC: UInt16 = 1, STATS_RATE_EST: UInt16 = 2, STATS_QUEUE: UInt16 = 3, STATS_APP: UInt16 = 4
    public static let STATS_RATE_EST64: UInt16 = 6, STATS_PKT64: UInt16 = 8

    /// rtm_tca_policy (net/sched/sch_api.c).
    public static let policy = NLAPolicy(maxType: 16, [
        KIND: .string(maxLength: 15), OPTIONS: .unspec, RATE: .minLength(2), STAB: .unspec,
        CHAIN: .u32, INGRESS_BLOCK: .u32, EGRESS_BLOCK: .u32, DUMP_INVISIBLE: .flag, DUMP_FLAGS: .minLength(8),
    ])
}

/// The rtnetlink form of tc objects: what the kernel's tc_fill_qdisc / tc_fill_tclass and each
/// kind's dump and dump_stats put on the wire, so that Debian's `tc` prints Sluice's qdiscs as
/// it prints the kernel's.
extension RtnlProcessor {
    /// tc_ratespec as psched_ratecfg_getrate fills it: rate in bytes/s, Ethernet link layer.
    static func ratespec(_ w: inout NetlinkWriter, bitsPerSecond: UInt64, overhead: UInt16 = 0, mpu: UInt16 = 0, atm: Bool = false) {
        w.put8(0); w.put8(atm ? 2 : 1)  // cell_log 0, TC_LINKLAYER_ETHERNET or _ATM
        w.put16(overhead); w.put16(0) // overhead, cell_align
        w.put16(mpu)
        w.put32(UInt32(clamping: bitsPerSecond / 8))
    }
    static func ratespec(_ w: inout NetlinkWriter, _ cfg: RateCfg) {
        ratespec(&w, bitsPerSecond: cfg.rate, overhead: UInt16(clamping: cfg.link.overhead), mpu: UInt16(clamping: cfg.link.mpu), atm: cfg.link.atm)
    }

    /// ops->dump: TCA_OPTIONS for a qdisc.
    func encodeOptions(_ q: Qdisc, _ w: inout NetlinkWriter) {
        switch q {
        case let f as FifoQdisc:
            w.attr(TCA.OPTIONS, u32: UInt32(clamping: f.limit))            // struct tc_fifo_qopt
        case is PfifoFastQdisc, is PrioQdisc:
            // struct tc_prio_qopt { int bands; __u8 priomap[16]; }; prio as a compat nest.
            let bands = (q as? PrioQdisc)?.bandCount ?? 3
            let map = (q as? PrioQdisc)?.priomap ?? defaultPriomap
            var s = NetlinkWriter()
            s.put32(UInt32(bands)); s.put(map.map { UInt8($0) })
            if q is PrioQdisc {
                let start = w.count
                w.attr(TCA.OPTIONS, s.bytes)
                let inner = w.beginNest(TCA.OPTIONS, flagged: false)
                w.endNest(inner)
                let len = UInt16(w.count - start)
                w.set16(start, len)
            } else {
                w.attr(TCA.OPTIONS, s.bytes)
            }
        case let m as MQQdisc where m.kind == "mqprio":
            // mqprio_dump: struct tc_mqprio_qopt as the device holds it (hw 0), then one
            // TCA_MQPRIO_TC_ENTRY per class (index, frame preemption: express), all inside
            // TCA_OPTIONS (nla_nest_end over the struct).
            let t = m.trafficClasses ?? MQQdisc.TrafficClasses(numTc: 0, prioTcMap: .zero, count: .zero, offset: .zero)
            var s = NetlinkWriter()
            s.put8(UInt8(t.numTc))
            for i in 0..<16 { s.put8(t.prioTcMap[i]) }
            s.put8(0)
            for i in 0..<16 { s.put16(i < t.numTc ? t.count[i] : 0) }
            for i in 0..<16 { s.put16(i < t.numTc ? t.offset[i] : 0) }
            let start = w.count
            w.attr(TCA.OPTIONS, s.bytes)
            for tc in 0..<16 {
                let n = w.beginNest(5)                                      // TCA_MQPRIO_TC_ENTRY
                w.attr(1, u32: UInt32(tc)); w.attr(2, u32: 1)               // INDEX, FP = TC_FP_EXPRESS
                w.endNest(n)
            }
            w.set16(start, UInt16(w.count - start))
        case let t as TaprioQdisc:
            // taprio_dump, after the schedule has advanced to now.
            t.advance(t.now())
            let c = t.trafficClasses ?? MQQdisc.TrafficClasses(numTc: 0, prioTcMap: .zero, count: .zero, offset: .zero)
            let opts = w.beginNest(TCA.OPTIONS, flagged: false)
            var s = NetlinkWriter()                                         // mqprio_qopt_reconstruct
            s.put8(UInt8(c.numTc))
            for i in 0..<16 { s.put8(c.prioTcMap[i]) }
            s.put8(0)
            for i in 0..<16 { s.put16(i < c.numTc ? c.count[i] : 0) }
            for i in 0..<16 { s.put16(i < c.numTc ? c.offset[i] : 0) }
            w.attr(1, s.bytes)                                              // TCA_TAPRIO_ATTR_PRIOMAP
            if t.flags & TaprioQdisc.fullOffload == 0 { w.attr(5, u32: UInt32(bitPattern: t.clockid)) }
            if t.flags != 0 && t.flags != TaprioQdisc.flagsInvalid { w.attr(10, u32: t.flags) }
            if t.txtimeDelay != 0 { w.attr(11, u32: t.txtimeDelay) }
            func schedule(_ sc: TaprioQdisc.Schedule, _ w: inout NetlinkWriter) {
                w.attr(3, u64: UInt64(bitPattern: sc.baseTime))
                w.attr(8, u64: UInt64(bitPattern: sc.cycleTime))
                w.attr(9, u64: UInt64(bitPattern: sc.cycleTimeExtension))
                let list = w.beginNest(2, flagged: false)
                for e in sc.entries {
                    let n = w.beginNest(1, flagged: false)
                    w.attr(1, u32: e.index); w.attr(2, u8: e.command); w.attr(3, u32: e.gateMask); w.attr(4, u32: e.interval)
                    w.endNest(n)
                }
                w.endNest(list)
            }
            if let o = t.oper {
                for tc in 0..<16 {                                          // taprio_dump_tc_entries
                    let n = w.beginNest(12)
                    w.attr(1, u32: UInt32(tc)); w.attr(2, u32: o.maxSdu[tc]); w.attr(3, u32: t.fp[tc])
                    w.endNest(n)
                }
                schedule(o, &w)
            }
            if let ad = t.admin {
                let n = w.beginNest(7, flagged: false)                      // TCA_TAPRIO_ATTR_ADMIN_SCHED
                schedule(ad, &w)
                w.endNest(n)
            }
            w.endNest(opts)
        case let m as MultiqQdisc:
            var s = NetlinkWriter()                                         // struct tc_multiq_qopt
            s.put16(UInt16(clamping: m.bands)); s.put16(UInt16(clamping: m.maxBands))
            w.attr(TCA.OPTIONS, s.bytes)
        case let t as TBFQdisc:
            let n = w.beginNest(TCA.OPTIONS)
            var p = NetlinkWriter()
            Self.ratespec(&p, t.rateCfg)
            if t.peakrate > 0 { Self.ratespec(&p, t.peakCfg) } else { p.put([UInt8](repeating: 0, count: 12)) }
            p.put32(UInt32(clamping: t.limit)); p.put32(t.bufferTicks); p.put32(t.mtuTicks)
            w.attr(1, p.bytes)                                             // TCA_TBF_PARMS
            // tbf_dump: TCA_TBF_RATE64 / PRATE64 for rates of 2^32 bytes/s and more.
            if t.rate / 8 >= 1 << 32 { w.attr(4, u64: t.rate / 8) }
            if t.peakrate / 8 >= 1 << 32 { w.attr(5, u64: t.peakrate / 8) }
            w.endNest(n)
        case let h as HTBQdisc:
            let n = w.beginNest(TCA.OPTIONS)
            var g = NetlinkWriter()
            // struct tc_htb_glob: version (HTB_VER 3.17), rate2quantum, defcls, debug, direct_pkts.
            g.put32(0x0003_0011); g.put32(UInt32(h.r2q)); g.put32(UInt32(h.defaultClass)); g.put32(0); g.put32(UInt32(clamping: h.directPackets))
            w.attr(2, g.bytes)                                             // TCA_HTB_INIT: tc_htb_glob
            w.attr(5, u32: UInt32(clamping: h.directQlen))                 // TCA_HTB_DIRECT_QLEN
            w.endNest(n)
        case let f as FQCoDelQdisc:
            let n = w.beginNest(TCA.OPTIONS)
            w.attr(1, u32: UInt32(f.params.target / 1000)); w.attr(2, u32: UInt32(f.limit))
            w.attr(3, u32: UInt32(f.params.interval / 1000)); w.attr(4, u32: f.params.ecn ? 1 : 0)
            w.attr(6, u32: UInt32(f.quantum)); w.attr(8, u32: UInt32(f.dropBatch))
            w.attr(9, u32: UInt32(clamping: f.memoryLimit)); w.attr(5, u32: UInt32(f.flowCount))
            if f.params.ceThreshold > 0 { w.attr(7, u32: UInt32(f.params.ceThreshold / 1000)) }
            w.endNest(n)
        case let c as CoDelQdisc:
            let n = w.beginNest(TCA.OPTIONS)
            w.attr(1, u32: UInt32(c.params.target / 1000)); w.attr(2, u32: UInt32(c.limit))
            w.attr(3, u32: UInt32(c.params.interval / 1000)); w.attr(4, u32: c.params.ecn ? 1 : 0)
            if c.params.ceThreshold > 0 { w.attr(5, u32: UInt32(c.params.ceThreshold / 1000)) }
            w.endNest(n)
        case is IngressQdisc, is DRRQdisc, is QFQQdisc:
            let n = w.beginNest(TCA.OPTIONS)
            w.endNest(n)
        case let n as NetemQdisc:
            encodeNetem(n, &w)
        case let f as SFQQdisc:
            encodeSFQ(f, &w)
        case let r as REDQdisc:
            encodeRED(r, &w)
        case let s as SFBQdisc:
            // sfb_dump: struct tc_sfb_qopt (times in ms).
            let n = w.beginNest(TCA.OPTIONS, flagged: false)
            var o = NetlinkWriter()
            for v in [UInt32(clamping: s.rehashInterval / Time.ms), UInt32(clamping: s.warmup / Time.ms), s.maxQ, s.binSize, s.increment, s.decrement,
                      UInt32(clamping: s.limit), s.penaltyRate, s.penaltyBurst] { o.put32(v) }
            w.attr(1, o.bytes)                                                 // TCA_SFB_PARMS
            w.endNest(n)
        case let c as CBSQdisc:
            // cbs_dump: struct tc_cbs_qopt.
            let n = w.beginNest(TCA.OPTIONS, flagged: false)
            let p = c.params
            var o = NetlinkWriter()
            o.put8(p.offload); o.put8(0); o.put8(0); o.put8(0)
            for v in [p.hicredit, p.locredit, p.idleslope, p.sendslope] { o.put32(UInt32(bitPattern: v)) }
            w.attr(1, o.bytes)
            w.endNest(n)
        case let c as CakeQdisc:
            // cake_dump: every parameter; TCA_CAKE_RAW only when no overhead was set.
            let n = w.beginNest(TCA.OPTIONS, flagged: false)
            w.attr(2, u64: c.rateBps); w.attr(5, u32: c.flowMode & 63); w.attr(7, u32: c.interval); w.attr(8, u32: c.target)
            w.attr(10, u32: c.bufferConfigLimit); w.attr(9, u32: c.rateFlags & CakeQdisc.flagAutorate != 0 ? 1 : 0)
            w.attr(15, u32: c.rateFlags & CakeQdisc.flagIngress != 0 ? 1 : 0); w.attr(16, u32: c.ackFilter); w.attr(11, u32: c.flowMode & CakeQdisc.flowNAT != 0 ? 1 : 0)
            w.attr(3, u32: c.tinMode); w.attr(13, u32: c.rateFlags & CakeQdisc.flagWash != 0 ? 1 : 0)
            w.attr(6, u32: UInt32(bitPattern: c.rateOverhead))
            if c.rateFlags & CakeQdisc.flagOverhead == 0 { w.attr(12, u32: 0) }
            w.attr(4, u32: c.atmMode); w.attr(14, u32: c.rateMPU)
            w.attr(17, u32: c.rateFlags & CakeQdisc.flagSplitGSO != 0 ? 1 : 0); w.attr(18, u32: c.fwmarkMask)
            w.endNest(n)
        case let h as HHFQdisc:
            // hhf_dump: every parameter, the timeouts in µs.
            let n = w.beginNest(TCA.OPTIONS, flagged: false)
            w.attr(1, u32: UInt32(clamping: h.limit)); w.attr(2, u32: UInt32(clamping: h.quantum)); w.attr(3, u32: UInt32(clamping: h.hhLimit))
            w.attr(4, u32: UInt32(clamping: h.resetTimeout / 1000)); w.attr(5, u32: h.admitBytes)
            w.attr(6, u32: UInt32(clamping: h.evictTimeout / 1000)); w.attr(7, u32: UInt32(clamping: h.nonHHWeight))
            w.endNest(n)
        case let e as ETFQdisc:
            // etf_dump: struct tc_etf_qopt.
            let n = w.beginNest(TCA.OPTIONS, flagged: false)
            var o = NetlinkWriter()
            let p = e.params
            o.put32(UInt32(bitPattern: p.delta)); o.put32(UInt32(bitPattern: p.clockid))
            o.put32((p.deadlineMode ? 1 : 0) | (p.offload ? 2 : 0) | (p.skipSockCheck ? 4 : 0))
            w.attr(1, o.bytes)                                                           // TCA_ETF_PARMS
            w.endNest(n)
        case let g as GREDQdisc:
            // gred_dump: DPS, MAX_P[16], LIMIT, the old all-in-one PARMS (16 tc_gred_qopt, an
            // absent VQ as DP = MAX_DPs + i) and the VQ list with its statistics.
            let n = w.beginNest(TCA.OPTIONS, flagged: false)
            var so = NetlinkWriter()
            so.put32(g.dps); so.put32(g.def); so.put8(g.rio ? 1 : 0); so.put8(UInt8(truncatingIfNeeded: g.redFlags)); so.put16(0)
            w.attr(3, so.bytes)                                                          // TCA_GRED_DPS
            var mp = NetlinkWriter()
            for i in 0..<GREDQdisc.maxDPs { mp.put32(g.vqs[i].present ? g.vqs[i].parms.maxP : 0) }
            w.attr(4, mp.bytes)                                                          // TCA_GRED_MAX_P
            w.attr(5, u32: g.limit)                                                      // TCA_GRED_LIMIT
            let dumped = (0..<GREDQdisc.maxDPs).map { g.vqs[$0].present ? g.dumpVQ($0) : nil }
            var parms = NetlinkWriter()
            for i in 0..<GREDQdisc.maxDPs {
                guard let q = dumped[i] else {
                    parms.put32(0); parms.put32(0); parms.put32(0); parms.put32(UInt32(GREDQdisc.maxDPs + i))
                    for _ in 0..<6 { parms.put32(0) }
                    parms.put32(0); parms.put32(0); parms.put32(0)
                    continue
                }
                parms.put32(q.limit); parms.put32(q.parms.minThreshold); parms.put32(q.parms.maxThreshold)
                parms.put32(q.dp); parms.put32(q.backlog); parms.put32(UInt32(truncatingIfNeeded: q.vars.qavg))
                parms.put32(q.forcedDrop); parms.put32(q.probDrop); parms.put32(0); parms.put32(q.pdrop)
                parms.put8(q.parms.wlog); parms.put8(q.parms.plog); parms.put8(q.parms.scellLog); parms.put8(q.prio)
                parms.put32(q.packetsin); parms.put32(UInt32(truncatingIfNeeded: q.bytesin))
            }
            w.attr(1, parms.bytes)                                                       // TCA_GRED_PARMS
            let list = w.beginNest(6, flagged: false)                                    // TCA_GRED_VQ_LIST
            for case let q? in dumped {
                let e = w.beginNest(1, flagged: false)                                   // TCA_GRED_VQ_ENTRY
                w.attr(2, u32: q.dp); w.attr(12, u32: q.redFlags)
                w.attr(3, u64: q.bytesin); w.attr(4, u32: q.packetsin); w.attr(5, u32: q.backlog)
                w.attr(6, u32: q.probDrop); w.attr(7, u32: q.probMark); w.attr(8, u32: q.forcedDrop)
                w.attr(9, u32: q.forcedMark); w.attr(10, u32: q.pdrop)
                w.endNest(e)
            }
            w.endNest(list)
            w.endNest(n)
        case let c as ChokeQdisc:
            // choke_dump: tc_red_qopt and max_P.
            let n = w.beginNest(TCA.OPTIONS, flagged: false)
            var o = NetlinkWriter()
            o.put32(UInt32(c.limit)); o.put32(UInt32(c.qmin)); o.put32(UInt32(c.qmax))
            o.put8(UInt8(c.wlog)); o.put8(UInt8(c.plog)); o.put8(UInt8(c.scellLog)); o.put8((c.ecn ? 1 : 0) | (c.harddrop ? 2 : 0))
            w.attr(1, o.bytes)                                                 // TCA_CHOKE_PARMS
            w.attr(3, u32: UInt32(clamping: UInt64(c.maxP * 4294967296.0)))   // TCA_CHOKE_MAX_P
            w.endNest(n)
        case let s as SkbprioQdisc:
            w.attr(TCA.OPTIONS, u32: UInt32(clamping: s.limit))               // struct tc_skbprio_qopt
        case is PlugQdisc, is TeqlQdisc:
            break                                                          // plug and teql have no dump
        case let e as ETSQdisc:
            // ets_qdisc_dump: bands, strict when some, the ETS bands' quanta, the whole priomap.
            let n = w.beginNest(TCA.OPTIONS, flagged: false)
            w.attr(1, u8: UInt8(e.nbands))
            if e.nstrict > 0 { w.attr(2, u8: UInt8(e.nstrict)) }
            if e.nbands > e.nstrict {
                let q = w.beginNest(3)
                for b in e.nstrict..<e.nbands { w.attr(4, u32: UInt32(e.quanta[b])) }
                w.endNest(q)
            }
            let m = w.beginNest(5)
            for b in e.priomap { w.attr(6, u8: UInt8(b)) }
            w.endNest(m)
            w.endNest(n)
        case let p as PIEQdisc:
            // pie_dump: target and tupdate in µs, every attribute present.
            let n = w.beginNest(TCA.OPTIONS)
            w.attr(1, u32: UInt32(clamping: p.params.target / 1000)); w.attr(2, u32: UInt32(clamping: p.params.limit))
            w.attr(3, u32: UInt32(clamping: p.params.tupdate / 1000)); w.attr(4, u32: p.params.alpha); w.attr(5, u32: p.params.beta)
            w.attr(6, u32: p.params.ecn ? 1 : 0); w.attr(7, u32: p.params.bytemode ? 1 : 0); w.attr(8, u32: p.params.dqRateEstimator ? 1 : 0)
            w.endNest(n)
        case let f as FQPIEQdisc:
            // fq_pie_dump: every attribute, target and tupdate in µs.
            let n = w.beginNest(TCA.OPTIONS)
            let p = f.params
            for (t, v) in [(1, UInt32(clamping: p.pie.limit)), (2, UInt32(f.flowCount)), (3, UInt32(clamping: p.pie.target / 1000)),
                           (4, UInt32(clamping: p.pie.tupdate / 1000)), (5, p.pie.alpha), (6, p.pie.beta), (7, UInt32(clamping: p.quantum)),
                           (8, UInt32(clamping: p.memoryLimit)), (9, p.ecnProb), (10, p.pie.ecn ? 1 : 0), (11, p.pie.bytemode ? 1 : 0),
                           (12, p.pie.dqRateEstimator ? 1 : 0)] as [(UInt16, UInt32)] { w.attr(t, u32: v) }
            w.endNest(n)
        case let h as HFSCQdisc:
            // hfsc_dump_qdisc: struct tc_hfsc_qopt as TCA_OPTIONS itself (not a nest).
            var o = NetlinkWriter(); o.put16(h.defcls)
            w.attr(TCA.OPTIONS, o.bytes)
        case let f as FQQdisc:
            // fq_dump, in its order: times in µs (the slack in ns), the priomap as a
            // tc_prio_qopt, the band weights as three s32.
            let n = w.beginNest(TCA.OPTIONS)
            let p = f.params
            for (t, v) in [(1, UInt32(clamping: p.limit)), (2, UInt32(clamping: p.flowLimit)), (3, UInt32(clamping: p.quantum)),
                           (4, UInt32(clamping: p.initialQuantum)), (5, p.rateEnable ? 1 : 0), (7, UInt32(clamping: p.maxRate)),
                           (9, UInt32(clamping: p.refillDelay / 1000)), (10, p.orphanMask), (11, UInt32(clamping: p.lowRateThreshold)),
                           (12, UInt32(truncatingIfNeeded: p.ceThreshold / 1000)), (8, UInt32(p.bucketsLog)), (13, p.timerSlack),
                           (14, UInt32(truncatingIfNeeded: p.horizon / 1000)), (18, UInt32(truncatingIfNeeded: p.offloadHorizon / 1000))] as [(UInt16, UInt32)] {
                w.attr(t, u32: v)
            }
            w.attr(15, [p.horizonDrop ? 1 : 0])
            var prio = NetlinkWriter()
            prio.put32(3); for b in p.prio2band { prio.put8(b) }
            w.attr(16, prio.bytes)
            var wt = NetlinkWriter()
            for x in p.weights { wt.put32(UInt32(bitPattern: x)) }
            w.attr(17, wt.bytes)
            w.endNest(n)
        default:
            break
        }
    }

    /// ops->dump_stats: the TCA_STATS_APP bytes for a qdisc, or nil.
    func qdiscXstats(_ q: Qdisc) -> [UInt8]? {
        var x = NetlinkWriter()
        switch q {
        case let f as FQCoDelQdisc:
            x.put32(0)                                                      // TCA_FQ_CODEL_XSTATS_QDISC
            for v in [f.cstats.maxpacket, Int(f.dropOverlimit), Int(f.cstats.ecnMark), Int(f.newFlowCount), f.newCount, f.oldCount,
                      Int(f.cstats.ceMark), f.memoryUsage, Int(f.dropOvermemory)] { x.put32(UInt32(truncatingIfNeeded: v)) }
        case let c as CoDelQdisc:
            // codel_dump_stats: drop_next only while dropping.
            let next = c.vars.dropping ? Int64(bitPattern: c.vars.dropNext &- c.clock.now) / 1000 : 0
            for v in [UInt32(truncatingIfNeeded: c.cstats.maxpacket), c.vars.count, c.vars.lastcount, UInt32(clamping: c.vars.ldelay / 1000),
                      UInt32(bitPattern: Int32(clamping: next)), UInt32(truncatingIfNeeded: c.dropOverlimit), UInt32(truncatingIfNeeded: c.cstats.ecnMark),
                      c.vars.dropping ? 1 : 0, UInt32(truncatingIfNeeded: c.cstats.ceMark)] { x.put32(v) }
        case let r as REDQdisc:
            for v in [r.early + r.forced, r.pdrop, 0, r.marked] { x.put32(UInt32(truncatingIfNeeded: v)) }   // tc_red_xstats
        case let s as SFBQdisc:
            let b = s.binStats
            for v in [s.earlydrop, s.penaltydrop, s.bucketdrop, s.queuedrop, s.childdrop, s.marked, UInt64(b.maxQlen), UInt64(b.maxProb), UInt64(b.avgProb)] {
                x.put32(UInt32(truncatingIfNeeded: v))                         // tc_sfb_xstats
            }
        case let c as CakeQdisc:
            // cake_dump_stats: nested TCA_CAKE_STATS_*, the tins in tin_order.
            x.attr(2, u64: c.avgPeakBandwidth); x.attr(3, u32: c.bufferLimit); x.attr(4, u32: c.bufferMaxUsed)
            x.attr(5, u32: (c.avgNetoff &+ 0x8000) >> 16); x.attr(7, u32: c.maxNetlen); x.attr(9, u32: c.maxAdjlen)
            x.attr(6, u32: c.minNetlen); x.attr(8, u32: c.minAdjlen)
            let all = x.beginNest(10, flagged: false)
            for i in 0..<c.tinCount {
                let b = c.tins[Int(c.tinOrder[i])]
                let ts = x.beginNest(UInt16(i + 1), flagged: false)
                x.attr(12, u64: b.rateBps); x.attr(3, u64: b.bytes); x.attr(11, u32: b.backlog)
                x.attr(13, u32: UInt32(clamping: b.cparams.target / 1000)); x.attr(14, u32: UInt32(clamping: b.cparams.interval / 1000))
                x.attr(2, u32: b.packets); x.attr(4, u32: b.dropped); x.attr(8, u32: b.ecnMarked); x.attr(6, u32: b.ackDrops)
                x.attr(18, u32: UInt32(clamping: b.peakDelay / 1000)); x.attr(19, u32: UInt32(clamping: b.avgDelay / 1000))
                x.attr(20, u32: UInt32(clamping: b.baseDelay / 1000))
                x.attr(15, u32: b.wayHits); x.attr(16, u32: b.wayMisses); x.attr(17, u32: b.wayCollisions)
                x.attr(21, u32: UInt32(b.sparseFlows + b.decayingFlows)); x.attr(22, u32: UInt32(b.bulkFlows))
                x.attr(23, u32: UInt32(truncatingIfNeeded: b.unresponsiveFlows)); x.attr(24, u32: b.maxSkblen); x.attr(25, u32: UInt32(b.flowQuantum))
                x.endNest(ts)
            }
            x.endNest(all)
        case let h as HHFQdisc:
            for v in [h.dropOverlimit, h.hhOverlimit, h.hhTotal, UInt64(h.hhCurrent)] { x.put32(UInt32(truncatingIfNeeded: v)) }   // tc_hhf_xstats
        case let c as ChokeQdisc:
            for v in [c.early, c.pdrop, 0, c.marked, c.matched] { x.put32(UInt32(truncatingIfNeeded: v)) }   // tc_choke_xstats
        case let p as PIEQdisc:
            // struct tc_pie_xstats: prob scaled to 2^64, delay in µs, the drain rate in bytes/s.
            x.put64(p.vars.prob << 8)
            x.put32(UInt32(truncatingIfNeeded: (p.vars.qdelay << 6) / 1000))
            x.put32(p.params.dqRateEstimator ? PIE.avgDqRateBytes(p.vars) : 0); x.put32(p.params.dqRateEstimator ? 1 : 0)
            for v in [p.packetsIn, p.dropped, p.overlimit, UInt64(p.maxq), p.ecnMarked] { x.put32(UInt32(truncatingIfNeeded: v)) }
        case let f as FQPIEQdisc:
            // struct tc_fq_pie_xstats.
            for v in [f.packetsIn, f.dropped, f.overlimit, f.overmemory, f.ecnMarked, f.newFlowCount,
                      UInt64(f.newCount), UInt64(f.oldCount), UInt64(f.memoryUsage)] { x.put32(UInt32(truncatingIfNeeded: v)) }
        case let f as FQQdisc:
            // struct tc_fq_qd_stats as the kernel fills it now: highprio and tcp_retrans
            // obsolete (0), then fastpath packets and the per-band drops and packet counts.
            for v in [f.statGCFlows, 0, 0, f.statThrottled, f.statFlowsPlimit, f.statPktsTooLong, f.statAllocationErrors] { x.put64(v) }
            x.put64(UInt64(bitPattern: f.nextPacketDelay))
            for v in [f.flows, f.inactiveFlows, f.throttledFlows, Int(min(f.unthrottleLatency, UInt64(UInt32.max)))] { x.put32(UInt32(truncatingIfNeeded: v)) }
            for v in [f.statCEMark, f.statHorizonDrops, f.statHorizonCaps, f.statFastpath] { x.put64(v) }
            for v in f.statBandDrops { x.put64(v) }
            for v in f.bandPktCount { x.put32(UInt32(truncatingIfNeeded: v)) }
            x.put32(0)
        default:
            return nil
        }
        return x.bytes
    }

    /// gnet_stats_copy_*: TCA_STATS2 { BASIC, QUEUE, APP }, then the compat TCA_STATS and
    /// TCA_XSTATS, as a qdisc or class dump carries them.
    static func encodeStats(_ s: QdiscStats, xstats: [UInt8]?, _ w: inout NetlinkWriter) {
        let n = w.beginNest(TCA.STATS2, flagged: false)
        var b = NetlinkWriter()
        b.put64(s.bytes); b.put32(UInt32(truncatingIfNeeded: s.packets)); b.put32(0)
        w.attr(TCA.STATS_BASIC, b.bytes)
        if s.packets > UInt64(UInt32.max) { w.attr(TCA.STATS_PKT64, u64: s.packets) }
        if let r = s.rate {
            // gnet_stats_copy_rate_est: 32-bit bps and pps, and the 64-bit sample only when
            // the bytes per second do not fit.
            var e = NetlinkWriter()
            e.put32(UInt32(clamping: r.bps)); e.put32(UInt32(truncatingIfNeeded: r.pps))
            w.attr(TCA.STATS_RATE_EST, e.bytes)
            if r.bps > UInt64(UInt32.max) {
                var e64 = NetlinkWriter()
                e64.put64(r.bps); e64.put64(r.pps)
                w.attr(TCA.STATS_RATE_EST64, e64.bytes)
            }
        }
        var q = NetlinkWriter()
        for v in [UInt32(clamping: s.qlen), UInt32(clamping: s.backlog), UInt32(truncatingIfNeeded: s.drops),
                  UInt32(truncatingIfNeeded: s.requeues), UInt32(truncatingIfNeeded: s.overlimits)] { q.put32(v) }
        w.attr(TCA.STATS_QUEUE, q.bytes)
        if let xstats { w.attr(TCA.STATS_APP, xstats) }
        w.endNest(n)
        var c = NetlinkWriter()        // struct tc_stats
        c.put64(s.bytes); c.put32(UInt32(truncatingIfNeeded: s.packets)); c.put32(UInt32(truncatingIfNeeded: s.drops))
        c.put32(UInt32(truncatingIfNeeded: s.overlimits))
        c.put32(UInt32(clamping: s.rate?.bps ?? 0)); c.put32(UInt32(truncatingIfNeeded: s.rate?.pps ?? 0))
        c.put32(UInt32(clamping: s.qlen)); c.put32(UInt32(clamping: s.backlog)); c.put32(0)
        w.attr(TCA.STATS, c.bytes)
        if let xstats { w.attr(TCA.XSTATS, xstats) }
    }

    /// tc_fill_qdisc.
    func encodeQdisc(_ q: Qdisc, dev: NetDevice, parent: TcHandle, seq: UInt32, _ w: inout NetlinkWriter) {
        let start = w.begin(type: NL.RTM_NEWQDISC, flags: NL.F_MULTI, seq: seq, pid: pid)
        w.put8(0); w.put8(0); w.put16(0)
        w.put32(UInt32(bitPattern: dev.ifindex))
        w.put32(q.handle.raw)
        w.put32(parent.raw)
        w.put32(UInt32(q.refcnt))
        w.attr(TCA.KIND, string: q.kind)
        encodeOptions(q, &w)
        w.attr(TCA.HW_OFFLOAD, u8: 0)
        if let st = q.sizeTable {
            // qdisc_dump_stab: the parameters, not the table.
            let n = w.beginNest(TCA.STAB, flagged: false)
            w.attr(1, st.sizespec)
            w.endNest(n)
        }
        Self.encodeStats(q.statsSnapshot(), xstats: qdiscXstats(q), &w)
        w.end(start)
    }

    /// tc_fill_tclass for one class, with its kind's class options and statistics.
    func encodeClass(_ q: Qdisc, _ c: QdiscClassInfo, dev: NetDevice, seq: UInt32, _ w: inout NetlinkWriter) {
        let start = w.begin(type: NL.RTM_NEWTCLASS, flags: NL.F_MULTI, seq: seq, pid: pid)
        w.put8(0); w.put8(0); w.put16(0)
        w.put32(UInt32(bitPattern: dev.ifindex))
        w.put32(c.classid.raw)
        w.put32(c.parent.raw)
        w.put32(c.leaf.map { $0.handle.raw } ?? 0)
        w.attr(TCA.KIND, string: q.kind)
        var xstats: [UInt8]? = nil
        switch q {
        case let h as HTBQdisc:
            if let k = h.htbClass(c.classid) {
                let n = w.beginNest(TCA.OPTIONS)
                var p = NetlinkWriter()
                Self.ratespec(&p, k.rateCfg); Self.ratespec(&p, k.ceilCfg)
                p.put32(k.bufferTicks); p.put32(k.cbufferTicks); p.put32(UInt32(k.quantum)); p.put32(UInt32(k.level)); p.put32(UInt32(k.prio))
                w.attr(1, p.bytes)                                         // TCA_HTB_PARMS: tc_htb_opt
                // htb_dump_class: TCA_HTB_RATE64 / CEIL64 for rates of 2^32 bytes/s and more.
                if k.rate / 8 >= 1 << 32 { w.attr(6, u64: k.rate / 8) }
                if k.ceil / 8 >= 1 << 32 { w.attr(7, u64: k.ceil / 8) }
                w.endNest(n)
                var x = NetlinkWriter()
                func ticks(_ ns: Int64) -> UInt32 { UInt32(bitPattern: Int32(clamping: ns >> 6)) }
                x.put32(UInt32(truncatingIfNeeded: k.lends)); x.put32(UInt32(truncatingIfNeeded: k.borrows)); x.put32(UInt32(truncatingIfNeeded: k.giants))
                x.put32(ticks(k.tokens)); x.put32(ticks(k.ctokens))
                xstats = x.bytes
            }
        case let e as ETSQdisc:
            // ets_class_dump: the quantum of an ETS band.
            let n = w.beginNest(TCA.OPTIONS, flagged: false)
            let b = Int(c.classid.minor) - 1
            if b >= e.nstrict && b < e.nbands { w.attr(4, u32: UInt32(e.quanta[b])) }   // TCA_ETS_QUANTA_BAND
            w.endNest(n)
        case let q as QFQQdisc:
            if let (weight, lmax) = q.classParams(c.classid) {
                let n = w.beginNest(TCA.OPTIONS, flagged: false)
                w.attr(1, u32: weight); w.attr(2, u32: lmax)                  // TCA_QFQ_WEIGHT, TCA_QFQ_LMAX
                w.endNest(n)
                var x = NetlinkWriter(); x.put32(weight); x.put32(lmax); xstats = x.bytes   // tc_qfq_stats
            }
        case let d as DRRQdisc:
            if let k = d.classesByID[c.classid.raw] {
                let n = w.beginNest(TCA.OPTIONS)
                w.attr(1, u32: UInt32(k.quantum))                          // TCA_DRR_QUANTUM
                w.endNest(n)
                var x = NetlinkWriter(); x.put32(UInt32(truncatingIfNeeded: k.deficit)); xstats = x.bytes
            }
        case let h as HFSCQdisc:
            if let i = h.byID[c.classid.raw] {
                let k = h.cls[Int(i)]
                let n = w.beginNest(TCA.OPTIONS, flagged: false)
                let cv = h.curves(k)
                for (t, sc) in [(UInt16(1), cv.rt), (2, cv.ls), (3, cv.ul)] {
                    guard let sc else { continue }
                    var b = NetlinkWriter(); b.put32(sc.m1); b.put32(sc.d); b.put32(sc.m2)
                    w.attr(t, b.bytes)
                }
                w.endNest(n)
                var x = NetlinkWriter()
                x.put64(k.total); x.put64(k.cumul); x.put32(k.vtperiod); x.put32(UInt32(k.level))      // tc_hfsc_stats
                xstats = x.bytes
            }
        default:
            break
        }
        if let s = c.stats {
            Self.encodeStats(s, xstats: xstats, &w)
        } else {
            // Classes without dump_stats still carry an empty TCA_STATS2 and a zero TCA_STATS.
            let n = w.beginNest(TCA.STATS2, flagged: false); w.endNest(n)
            w.attr(TCA.STATS, [UInt8](repeating: 0, count: 36))
        }
        w.end(start)
    }

    /// The tcmsg of a tc request: ifindex, handle, parent.
    func tcmsg(_ msg: NetlinkMessage) throws(NetlinkError) -> (ifindex: Int32, handle: UInt32, parent: UInt32) {
        let p = msg.payload
        guard p.count >= 20 else { throw NetlinkError(EINVAL, "Invalid header for tc request") }
        return (Int32(bitPattern: p.le32(at: 4)), p.le32(at: 8), p.le32(at: 12))
    }

    /// tc_dump_qdisc: every device's qdiscs (root, its visible children, ingress/clsact).
    func dumpQdiscs(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let (ifindex, _, _) = try tcmsg(msg)
        // TCA_DUMP_INVISIBLE: the built-in default children (TCQ_F_INVISIBLE) too.
        let a = try NLAttributes.parse(msg.payload.dropFirst(20), base: NL.hdrLen + 20, policy: TCA.policy, strict: false)
        let invisible = a[TCA.DUMP_INVISIBLE] != nil
        var parts = DumpParts(limit: bufferSize)
        for dev in dp.allDevices where ifindex == 0 || dev.ifindex == ifindex {
            let tree = dev.qdisc == nil ? [] : runner.qdiscDumpOrder(dev)
            // tc_qdisc_dump_ignore: noop_qdisc (TCQ_F_BUILTIN) is never dumped.
            for q in tree where !(q is NoopQdisc) && (q === dev.qdisc || q.handle != .unspec || q.shownDefault || (invisible && !q.unhashed)) {
                parts.add { w in encodeQdisc(q, dev: dev, parent: q === dev.qdisc ? .root : q.parent, seq: msg.header.seq, &w) }
            }
            if let ing = dev.ingress { parts.add { w in encodeQdisc(ing, dev: dev, parent: TcHandle(raw: 0xFFFF_FFF1), seq: msg.header.seq, &w) } }
        }
        parts.finish(seq: msg.header.seq, pid: pid, into: &replies)
    }

    /// tc_dump_tclass: the classes of one device's qdiscs.
    func dumpClasses(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let (ifindex, _, parent) = try tcmsg(msg)
        guard let dev = dp.device(ifindex) else { throw NetlinkError(ENODEV) }
        var parts = DumpParts(limit: bufferSize)
        let tree = dev.qdisc == nil ? [] : runner.qdiscDumpOrder(dev)
        // tc_dump_tclass_qdisc: with a parent, only the classes of the qdisc of its major.
        for q in tree where q.isClassful && (parent == 0 || parent & 0xFFFF_0000 == q.handle.raw) {
            for c in q.classes(details: false) { parts.add { w in encodeClass(q, c, dev: dev, seq: msg.header.seq, &w) } }
        }
        parts.finish(seq: msg.header.seq, pid: pid, into: &replies)
    }
}

/// A dump cut into datagrams no larger than the reader's buffer, ended with NLMSG_DONE.
struct DumpParts {
    let limit: Int
    var current = NetlinkWriter()
    var done: [[UInt8]] = []
    init(limit: Int) { self.limit = limit }

    mutating func add(_ body: (inout NetlinkWriter) -> Void) {
        let before = current.count
        body(&current)
        if current.count > limit && before > 0 {
            let overflow = Array(current.bytes[before...])
            done.append(Array(current.bytes[..<before]))
            current = NetlinkWriter()
            current.put(overflow)
        }
    }

    mutating func finish(seq: UInt32, pid: UInt32, flags: UInt16 = NL.F_MULTI, into replies: inout [[UInt8]]) {
        var end = NetlinkWriter()
        end.done(seq: seq, pid: pid, flags: flags)
        if current.count + end.count > limit && current.count > 0 { done.append(current.bytes); current = NetlinkWriter() }
        current.put(end.bytes)
        done.append(current.bytes)
        replies.append(contentsOf: done)
    }
}

/// tc's changes over rtnetlink (tc_modify_qdisc, tc_get_qdisc's delete, tc_ctl_tclass): the
/// request's TCA_OPTIONS decoded into the same typed parameters tc's words produce, applied
/// through the command language's apply layer. Kinds whose options are decoded: pfifo, bfifo,
/// pfifo_head_drop, pfifo_fast, noqueue, tbf, htb (qdisc and classes), ingress, clsact.
extension RtnlProcessor {
    /// taprio's TCA_OPTIONS (taprio_policy, nla_parse_nested_deprecated): the priomap (struct
    /// tc_mqprio_qopt), the entry list (entries by position; a foreign attribute in it is
    /// skipped), times, clock, flags (only the two defined bits), txtime delay and TC entries.
    static func taprioRequest(_ o: ArraySlice<UInt8>, base: Int) throws(SluiceError) -> TaprioQdisc.Request {
        let a = try parseOptions(o, base: base, NLAPolicy(maxType: 12, [1: .minLength(82), 2: .unspec, 3: .u64, 4: .unspec, 5: .s32,
                                                                         8: .u64, 9: .u64, 10: .u32, 11: .u32, 12: .unspec]))
        var r = TaprioQdisc.Request()
        if let m = a[1] {
            var t = MQQdisc.TrafficClasses(numTc: Int(m[m.startIndex]), prioTcMap: .zero, count: .zero, offset: .zero)
            for i in 0..<16 {
                t.prioTcMap[i] = m[m.startIndex + 1 + i]
                t.count[i] = m.le16(at: 18 + 2 * i); t.offset[i] = m.le16(at: 50 + 2 * i)
            }
            r.priomap = t
        }
        if let v = a.u64(3) { r.baseTime = Int64(bitPattern: v) }
        r.singleEntry = a.has(4)
        if let v = a.u32(5) { r.clockid = Int32(bitPattern: v) }
        if let v = a.u64(8) {
            guard Int64(bitPattern: v) >= 0 && Int64(bitPattern: v) <= Int64(Int32.max) else { throw SluiceError("Error: integer out of range (Numerical result out of range)") }
            r.cycleTime = Int64(bitPattern: v)
        }
        if let v = a.u64(9) { r.cycleTimeExtension = Int64(bitPattern: v) }
        if let v = a.u32(10) {
            guard v & ~(TaprioQdisc.txtimeAssist | TaprioQdisc.fullOffload) == 0 else { throw SluiceError("Error: reserved bit set") }
            r.flags = v
        }
        if let v = a.u32(11) { r.txtimeDelay = v }
        if let list = a[2] {
            let items: [(type: UInt16, value: ArraySlice<UInt8>, offset: Int)]
            do { items = try NLAttributes.list(list, base: a.offsets[2].map { $0 + NL.attrHdrLen } ?? base) } catch { throw SluiceError("Error: Could not parse nested entry") }
            for it in items where it.type & 0x3FFF == 1 {                // TCA_TAPRIO_SCHED_ENTRY
                let e: NLAttributes
                do { e = try NLAttributes.parse(it.value, base: it.offset + NL.attrHdrLen, policy: NLAPolicy(maxType: 4, [1: .u32, 2: .u8, 3: .u32, 4: .u32]), strict: false) }
                catch { throw SluiceError("Error: Could not parse nested entry") }
                r.entries.append((command: e.u8(2) ?? 0, gateMask: e.u32(3) ?? 0, interval: e.u32(4) ?? 0))
            }
        }
        // TCA_TAPRIO_ATTR_TC_ENTRY, each parsed strictly (taprio_tc_policy).
        let all: [(type: UInt16, value: ArraySlice<UInt8>, offset: Int)]
        do { all = try NLAttributes.list(o, base: base) } catch { throw SluiceError("Error: \(error.message ?? "Attribute failed policy validation")") }
        for it in all where it.type & 0x3FFF == 12 {
            let e: NLAttributes
            do { e = try NLAttributes.parse(it.value, base: it.offset + NL.attrHdrLen, policy: NLAPolicy(maxType: 3, [1: .u32, 2: .u32, 3: .u32]), strict: true) }
            catch { throw SluiceError("Error: \(error.message ?? "Attribute failed policy validation")") }
            if let i = e.u32(1), i > 16 { throw SluiceError("Error: integer out of range (Numerical result out of range)") }
            if let f = e.u32(3), f < 1 || f > 2 { throw SluiceError("Error: integer out of range (Numerical result out of range)") }
            r.tcEntries.append((index: e.u32(1), maxSdu: e.u32(2), fp: e.u32(3)))
        }
        return r
    }

    /// The kernel's errno for an apply-layer refusal, with its text as the extack message.
    static func netlinkError(_ e: SluiceError) -> NetlinkError {
        var m = e.message
        if m.hasPrefix("Error: ") { m.removeFirst(7) }
        // A message may end with the errno it stands for, in parentheses: that errno, and the
        // message without it (extack strings carry no errno text and no final period).
        let named: [(String, Int32)] = [("Operation not permitted", EPERM), ("Operation not supported", EOPNOTSUPP),
                                        ("Protocol not supported", EPROTONOSUPPORT), ("Numerical result out of range", ERANGE),
                                        ("No such file or directory", ENOENT), ("Device or resource busy", EBUSY),
                                        ("Network is down", ENETDOWN), ("No such device", ENODEV),
                                        ("File exists", EEXIST), ("Cannot assign requested address", EADDRNOTAVAIL),
                                        ("Invalid argument", EINVAL), ("Too many levels of symbolic links", ELOOP),
                                        ("Protocol driver not attached", EUNATCH), ("Permission denied", EACCES),
                                        ("Address already in use", EADDRINUSE), ("Unknown error 524", 524)]
        // A refusal the kernel makes without an extack message: the errno alone.
        if m.hasPrefix("RTNETLINK answers: "), let code = named.first(where: { m == "RTNETLINK answers: \($0.0)" })?.1 {
            return NetlinkError(code)
        }
        for (text, code) in named {
            for suffix in [" (\(text)).", " (\(text))"] where m.hasSuffix(suffix) {
                m.removeLast(suffix.count)
                return NetlinkError(code, m)
            }
        }
        if m.hasPrefix("8021q: ") || m.hasPrefix("bridge: ") { while m.hasSuffix(".") { m.removeLast() } }
        let errno: Int32
        if m.contains("Invalid VLAN id") { errno = ERANGE }
        else if m.contains("Invalid VLAN protocol") { errno = EPROTONOSUPPORT }
        else if m.contains("link does not exist") { errno = ENODEV }
        else if m.contains("Protocol mismatch") { errno = EINVAL }
        else if m.contains("NLM_F_CREATE") { errno = ENOENT }
        else if m.contains("Exclusivity flag on") || m.contains("NLM_F_REPLACE needed") || m.contains("already exists") || m.contains("already in use") { errno = EEXIST }
        else if m.contains("not found") || m.contains("unknown") || m.contains("Cannot find") || m.contains("Failed to find") { errno = ENOENT }
        else if m.contains("not implemented") { errno = EOPNOTSUPP }
        else if m.contains("in use") { errno = EBUSY }
        else { errno = EINVAL }
        return NetlinkError(errno, m)
    }

    static func handleOrNil(_ raw: UInt32) -> TcHandle? { raw == 0 ? nil : TcHandle(raw: raw) }

    /// A tc_ratespec's rate in bits per second (bytes/s × 8), or the 64-bit attribute's.
    static func rateBits(_ spec: ArraySlice<UInt8>, at o: Int, rate64: UInt64?) -> UInt64 {
        (rate64 ?? UInt64(spec.le32(at: o + 8))) * 8
    }

    /// Applies a request's TCA_OPTIONS to a qdisc (ops->init / ops->change).
    func configure(_ q: Qdisc, options: ArraySlice<UInt8>?, base: Int) throws(SluiceError) {
        switch q {
        case let f as FifoQdisc:
            if let o = options, o.count >= 4 { f.limit = Int(o.le32(at: 0)) }       // struct tc_fifo_qopt
        case let m as MQQdisc where m.kind == "mqprio":
            // struct tc_mqprio_qopt (82 bytes, 84 aligned), then attributes.
            guard let o = options, o.count >= 82 else { throw SluiceError("RTNETLINK answers: Invalid argument") }
            var t = MQQdisc.TrafficClasses(numTc: Int(o[o.startIndex]), prioTcMap: .zero, count: .zero, offset: .zero)
            for i in 0..<16 {
                t.prioTcMap[i] = o[o.startIndex + 1 + i]
                t.count[i] = o.le16(at: 18 + 2 * i); t.offset[i] = o.le16(at: 50 + 2 * i)
            }
            let hw = min(o[o.startIndex + 17], 1)
            let rest = o.dropFirst(84)
            try m.applyMqprio(t, hw: hw, hasAttributes: o.count > 84) { () throws(SluiceError) in
                // mqprio_parse_nlattr: the attributes are parsed (and may be refused) first.
                if rest.count >= 4 { _ = try Self.parseOptions(rest, base: base + 84, NLAPolicy(maxType: 5, [1: .minLength(2), 2: .minLength(2)])) }
            }
        case let t as TaprioQdisc:
            // taprio_init without options: EINVAL; qdisc_change without them: nothing.
            guard let o = options else {
                if t.flags == TaprioQdisc.flagsInvalid { throw SluiceError("RTNETLINK answers: Invalid argument") }
                return
            }
            extAckWarning = try t.configure(try Self.taprioRequest(o, base: base), stab: t.sizeTable, maxMtu: t.env.mtu - 14)
        case is PfifoFastQdisc, is NoqueueQdisc, is MQQdisc:
            break
        case let t as TBFQdisc:
            guard let o = options else { throw SluiceError("Error: tbf needs options.") }
            let policy = NLAPolicy(maxType: 8, [1: .minLength(36), 2: .binary(maxLength: 1024), 3: .binary(maxLength: 1024),
                                                4: .u64, 5: .u64, 6: .u32, 7: .u32])
            let a: NLAttributes
            do { a = try NLAttributes.parse(o, base: base, policy: policy, strict: false) } catch { throw SluiceError("Error: \(error.message ?? "bad tbf options")") }
            guard let p = a[1] else { throw SluiceError("Error: tbf: TCA_TBF_PARMS is required.") }
            let rate = Self.rateBits(p, at: 0, rate64: a.u64(4))
            let peak = Self.rateBits(p, at: 12, rate64: a.u64(5))
            let bufferTicks = p.le32(at: 28), mtuTicks = p.le32(at: 32)
            let burst = a.u32(6).map(Int.init) ?? Int(TcCore.xmitsize(rate: rate / 8, ticks: bufferTicks))
            let mtu = a.u32(7).map(Int.init) ?? (peak > 0 ? Int(TcCore.xmitsize(rate: peak / 8, ticks: mtuTicks)) : 0)
            let linklayer = p[p.startIndex + 1] & 0x0F
            guard linklayer <= 2 else { throw SluiceError("Error: tbf: link layer \(linklayer) is not implemented in Sluice.") }
            try t.configure(TBFQdisc.TBFParams(rate: rate, peakrate: peak, bufferTicks: bufferTicks, mtuTicks: mtuTicks,
                                               limit: Int(p.le32(at: 24)), burst: burst, mtu: mtu, overhead: Int(p.le16(at: 2)), mpu: Int(p.le16(at: 6)), atm: linklayer == 2,
                                               burstGiven: a.u32(6) != nil, mtuGiven: a.u32(7) != nil))
        case let h as HTBQdisc:
            guard let o = options else { throw SluiceError("Error: HTB: hey probably you have bad tc tool ?") }
            let a: NLAttributes
            do { a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 9, [2: .minLength(20), 5: .u32]), strict: false) }
            catch { throw SluiceError("Error: \(error.message ?? "bad htb options")") }
            guard let g = a[2] else { throw SluiceError("Error: HTB: hey probably you have bad tc tool ?") }
            guard g.le32(at: 0) == 3 else { throw SluiceError("Error: HTB: need tc/htb version 3") }   // HTB_VER >> 16
            h.configure(HTBQdisc.HTBGlobals(r2q: Int(g.le32(at: 4)), defaultClass: UInt16(truncatingIfNeeded: g.le32(at: 8)),
                                            directQlen: a.u32(5).map(Int.init) ?? h.directQlen))
        case let m as MultiqQdisc:
            // multiq_init / multiq_tune: struct tc_multiq_qopt required (its bands ignored).
            guard let o = options, o.count >= 4 else { throw SluiceError("RTNETLINK answers: Invalid argument") }
            m.tune()
        case let pr as PrioQdisc:
            // struct tc_prio_qopt at the start of a compat nest: int bands, __u8 priomap[16].
            guard let o = options, o.count >= 20 else { throw SluiceError("Error: prio: options are required.") }
            try pr.configure(bands: Int(Int32(bitPattern: o.le32(at: 0))), priomap: (0..<16).map { Int(o[o.startIndex + 4 + $0]) })
        case let f as FQCoDelQdisc:
            var c = f.currentParams
            if let o = options {
                let a = try Self.parseOptions(o, base: base, NLAPolicy(maxType: 11, [1: .u32, 2: .u32, 3: .u32, 4: .u32, 5: .u32, 6: .u32, 7: .u32, 8: .u32, 9: .u32, 10: .u8, 11: .u8]))
                if let v = a.u32(1) { c.codel.target = UInt64(v) * 1000 }
                if let v = a.u32(2) { c.limit = Int(v) }
                if let v = a.u32(3) { c.codel.interval = UInt64(v) * 1000 }
                if let v = a.u32(4) { c.codel.ecn = v != 0 }
                if let v = a.u32(5) {
                    if !f.queues.isEmpty && Int(v) != f.flowCount { throw SluiceError("Error: fq_codel: Number of flows cannot be changed") }
                    c.flows = Int(v)
                }
                if let v = a.u32(6) { c.quantum = Int(v) }
                if let v = a.u32(7) { c.codel.ceThreshold = UInt64(v) * 1000 }
                if let v = a.u32(8) { c.dropBatch = Int(v) }
                if let v = a.u32(9) { c.memoryLimit = Int(v) }
            }
            try f.configure(c)
        case let cd as CoDelQdisc:
            var p = cd.params, limit = cd.limit
            if let o = options {
                let a = try Self.parseOptions(o, base: base, NLAPolicy(maxType: 5, [1: .u32, 2: .u32, 3: .u32, 4: .u32, 5: .u32]))
                if let v = a.u32(1) { p.target = UInt64(v) * 1000 }
                if let v = a.u32(2) { limit = Int(v) }
                if let v = a.u32(3) { p.interval = UInt64(v) * 1000 }
                if let v = a.u32(4) { p.ecn = v != 0 }
                if let v = a.u32(5) { p.ceThreshold = UInt64(v) * 1000 }
            }
            guard p.interval > 0, limit > 0 else { throw SluiceError("Error: codel: limit and interval must be positive") }
            cd.configure(limit: limit, params: p)
        case is DRRQdisc, is QFQQdisc:
            break
        case let s as SFBQdisc:
            // sfb_change: TCA_SFB_PARMS, or the kernel's defaults without options.
            var p = SFBQdisc.Params()
            if let o = options {
                let a = try Self.parseOptions(o, base: base, NLAPolicy(maxType: 1, [1: .minLength(36)]))
                guard let q = a[1] else { throw SluiceError("Error: sfb: TCA_SFB_PARMS is required.") }
                p = SFBQdisc.Params(rehashMs: q.le32(at: 0), warmupMs: q.le32(at: 4), max: q.le32(at: 8), binSize: q.le32(at: 12), increment: q.le32(at: 16),
                                    decrement: q.le32(at: 20), limit: q.le32(at: 24), penaltyRate: q.le32(at: 28), penaltyBurst: q.le32(at: 32))
            }
            s.configure(p)
        case let c as CBSQdisc:
            // cbs_change: TCA_CBS_PARMS is mandatory.
            guard let o = options else { throw SluiceError("Error: Missing CBS qdisc options  which are mandatory") }
            let a = try Self.parseOptions(o, base: base, NLAPolicy(maxType: 1, [1: .minLength(20)]))
            guard let q = a[1] else { throw SluiceError("Error: Missing CBS parameter which are mandatory") }
            try c.configure(CBSQdisc.Params(offload: q[q.startIndex], hicredit: Int32(bitPattern: q.le32(at: 4)), locredit: Int32(bitPattern: q.le32(at: 8)),
                                            idleslope: Int32(bitPattern: q.le32(at: 12)), sendslope: Int32(bitPattern: q.le32(at: 16))))
        case let c as CakeQdisc:
            // cake_change: each attribute given changes its value; TCA_CAKE_NAT needs conntrack.
            if let o = options {
                let pol = NLAPolicy(maxType: 18, [2: .u64, 3: .u32, 4: .u32, 5: .u32, 6: .s32, 7: .u32, 8: .u32, 9: .u32, 10: .u32, 11: .u32,
                                                   12: .u32, 13: .u32, 14: .u32, 15: .u32, 16: .u32, 17: .u32, 18: .u32])
                let a = try Self.parseOptions(o, base: base, pol)
                var p = CakeQdisc.Params()
                p.rate = a.u64(2); p.diffserv = a.u32(3); p.atm = a.u32(4); p.flowMode = a.u32(5)
                p.overhead = a.u32(6).map { Int32(bitPattern: $0) }; p.raw = a.has(12)
                p.rtt = a.u32(7); p.target = a.u32(8); p.autorate = a.u32(9).map { $0 != 0 }; p.memory = a.u32(10)
                p.nat = a.u32(11).map { $0 != 0 }; p.wash = a.u32(13).map { $0 != 0 }; p.mpu = a.u32(14)
                p.ingress = a.u32(15).map { $0 != 0 }; p.ackFilter = a.u32(16); p.splitGSO = a.u32(17).map { $0 != 0 }; p.fwmark = a.u32(18)
                try c.configure(p)
            }
        case let h as HHFQdisc:
            // hhf_change.
            if let o = options {
                let a = try Self.parseOptions(o, base: base, NLAPolicy(maxType: 7, [1: .u32, 2: .u32, 3: .u32, 4: .u32, 5: .u32, 6: .u32, 7: .u32]))
                try h.configure(HHFQdisc.Params(limit: a.u32(1).map(Int.init), quantum: a.u32(2).map(Int.init), hhLimit: a.u32(3).map(Int.init),
                                                resetTimeout: a.u32(4).map { UInt64($0) * 1000 }, admitBytes: a.u32(5),
                                                evictTimeout: a.u32(6).map { UInt64($0) * 1000 }, nonHHWeight: a.u32(7).map(Int.init)))
            }
        case let e as ETFQdisc:
            // etf_init: TCA_ETF_PARMS required.
            guard let o = options else { throw SluiceError("Error: Missing ETF qdisc options which are mandatory") }
            let a = try Self.parseOptions(o, base: base, NLAPolicy(maxType: 1, [1: .minLength(12)]))
            guard let p = a[1] else { throw SluiceError("Error: Missing mandatory ETF parameters") }
            let fl = p.le32(at: 8)
            try e.configure(ETFQdisc.Params(delta: Int32(bitPattern: p.le32(at: 0)), clockid: Int32(bitPattern: p.le32(at: 4)),
                                            offload: fl & 2 != 0, deadlineMode: fl & 1 != 0, skipSockCheck: fl & 4 != 0))
        case let g as GREDQdisc:
            // gred_init / gred_change: the table form (DPS, LIMIT) or one VQ (PARMS + STAB,
            // MAX_P, VQ_LIST), never both.
            guard let o = options else { throw SluiceError("Error: gred needs options.") }
            let a = try Self.parseOptions(o, base: base, NLAPolicy(maxType: 6, [1: .minLength(52), 2: .minLength(256), 3: .minLength(12), 4: .u32, 5: .u32, 6: .unspec]))
            if a[1] == nil && a[2] == nil {
                let t = a[3].map { d in GREDQdisc.TableDef(dps: d.le32(at: 0), def: d.le32(at: 4), grio: d[d.startIndex + 8] != 0, flags: UInt32(d[d.startIndex + 9])) }
                try g.apply(.table(t, limit: a.u32(5)))
            } else {
                guard g.configured else { throw GREDQdisc.err("virtual queue configuration can't be specified at initialization time") }
                guard let c = a[1], let st = a[2], !a.has(5) else { throw GREDQdisc.err("can't configure Qdisc and virtual queue at the same time") }
                var vqFlags: [(dp: UInt32, flags: UInt32?)] = []
                if let l = a[6] {
                    let lbase = (a.offsets[6] ?? 0) + NL.attrHdrLen
                    let entries: [(type: UInt16, value: ArraySlice<UInt8>, offset: Int)]
                    do { entries = try NLAttributes.list(l, base: lbase) } catch { throw SluiceError("Error: \(error.message ?? "Attribute failed policy validation")") }
                    for e in entries {
                        guard e.type == 1 else { throw GREDQdisc.err("GRED_VQ_LIST can contain only entry attributes") }
                        let v = try Self.parseOptions(e.value, base: e.offset + NL.attrHdrLen, NLAPolicy(maxType: 12, [2: .u32, 12: .u32]))
                        guard let dp = v.u32(2) else { throw GREDQdisc.err("Virtual queue with no index specified") }
                        vqFlags.append((dp, v.u32(12)))
                    }
                }
                try g.apply(.vq(GREDQdisc.VQParams(limit: c.le32(at: 0), qthMin: c.le32(at: 4), qthMax: c.le32(at: 8), dp: c.le32(at: 12),
                                                   wlog: c[c.startIndex + 40], plog: c[c.startIndex + 41], scellLog: c[c.startIndex + 42], prio: c[c.startIndex + 43],
                                                   stab: Array(st.prefix(256)), maxP: a.u32(4) ?? 0, vqFlags: vqFlags)))
            }
        case let c as ChokeQdisc:
            // choke_change: PARMS and STAB required; MAX_P else from Plog.
            guard let o = options else { throw SluiceError("Error: choke needs options.") }
            let a = try Self.parseOptions(o, base: base, NLAPolicy(maxType: 3, [1: .minLength(16), 2: .minLength(256), 3: .u32]))
            guard let p = a[1], let st = a[2] else { throw SluiceError("Error: choke: TCA_CHOKE_PARMS and TCA_CHOKE_STAB are required.") }
            let qmin = Int(p.le32(at: 4)), qmax = Int(p.le32(at: 8)), plog = Int(p[p.startIndex + 13]), flags = p[p.startIndex + 15]
            let maxP = a.u32(3).map { Double($0) / 4294967296.0 } ?? (plog < 32 ? Double(qmax - qmin) * Double(UInt32.max >> UInt32(plog)) / 4294967296.0 : 0)
            try c.configure(ChokeQdisc.Params(limit: Int(p.le32(at: 0)), qmin: qmin, qmax: qmax, wlog: Int(p[p.startIndex + 12]), plog: plog,
                                              scellLog: Int(p[p.startIndex + 14]), ecn: flags & 1 != 0, harddrop: flags & 2 != 0,
                                              stab: Array(st.prefix(256)), maxP: maxP))
        case let s as SkbprioQdisc:
            // skbprio_change: exactly struct tc_skbprio_qopt.
            if let o = options {
                guard o.count == 4 else { throw SluiceError("Error: skbprio: the options must be one limit") }
                s.limit = Int(o.le32(at: 0))
            }
        case is TeqlQdisc:
            break                                                          // teql_qdisc_init ignores TCA_OPTIONS
        case let p as PlugQdisc:
            // plug_init / plug_change: struct tc_plug_qopt {action, limit}.
            if let o = options {
                guard o.count >= 8 else { throw SluiceError("Error: plug: the options are cut short") }
                try p.apply(action: o.le32(at: 0), limit: o.le32(at: 4), initial: !p.configured)
            }
        case let e as ETSQdisc:
            // ets_qdisc_change: TCA_ETS_NBANDS required; NSTRICT; QUANTA and PRIOMAP nests.
            guard let o = options else { throw SluiceError("Error: sch_ets: Number of bands is a required argument") }
            let a = try Self.parseOptions(o, base: base, NLAPolicy(maxType: 6, [1: .u8, 2: .u8, 3: .unspec, 5: .unspec]))
            guard let nb = a.u8(1) else { throw SluiceError("Error: sch_ets: Number of bands is a required argument") }
            var p = ETSQdisc.Params(nbands: Int(nb), nstrict: Int(a.u8(2) ?? 0))
            guard (1...ETSQdisc.maxBands).contains(p.nbands) else { throw SluiceError("Error: sch_ets: Invalid number of bands") }
            guard p.nstrict <= p.nbands else { throw SluiceError("Error: sch_ets: Invalid number of strict bands") }
            if let pm = a[5] {
                for one in try Self.etsList(pm, base: a.offsets[5]! + NL.attrHdrLen) {
                    guard one.type == 6, one.value.count >= 1 else { throw SluiceError("Error: sch_ets: unexpected attribute in the ETS priomap") }
                    guard p.priomap.count < 16 else { throw SluiceError("Error: sch_ets: Too many priorities in ETS priomap") }
                    p.priomap.append(Int(one.value[one.value.startIndex]))
                }
            }
            if let qn = a[3] {
                for one in try Self.etsList(qn, base: a.offsets[3]! + NL.attrHdrLen) {
                    guard one.type == 4, one.value.count >= 4 else { throw SluiceError("Error: sch_ets: unexpected attribute in the ETS quanta") }
                    p.quanta.append(Int(one.value.le32(at: 0)))
                }
            }
            try e.configure(p)
        case let n as NetemQdisc:
            guard let o = options else { throw SluiceError("Error: netem needs options.") }
            try Self.configureNetem(n, o, base: base)
        case let f as SFQQdisc:
            if let o = options { try Self.configureSFQ(f, o) } else { f.attached() }
        case let r as REDQdisc:
            guard let o = options else { throw SluiceError("Error: red needs options.") }
            try Self.configureRED(r, o, base: base)
        case let pq as PIEQdisc:
            // pie_change: each attribute that is present; target and tupdate in µs.
            var p = pq.params
            if let o = options {
                let a = try Self.parseOptions(o, base: base, NLAPolicy(maxType: 8, [1: .u32, 2: .u32, 3: .u32, 4: .u32, 5: .u32, 6: .u32, 7: .u32, 8: .u32]))
                if let v = a.u32(1) { p.target = UInt64(v) * 1000 }
                if let v = a.u32(2) { p.limit = Int(v) }
                if let v = a.u32(3) { p.tupdate = UInt64(v) * 1000 }
                if let v = a.u32(4) { p.alpha = v }
                if let v = a.u32(5) { p.beta = v }
                if let v = a.u32(6) { p.ecn = v != 0 }
                if let v = a.u32(7) { p.bytemode = v != 0 }
                if let v = a.u32(8) { p.dqRateEstimator = v != 0 }
            }
            try pq.configure(p)
        case let h as HFSCQdisc:
            // hfsc_init_qdisc / hfsc_change_qdisc: a tc_hfsc_qopt is required.
            guard let o = options, o.count >= 2 else { throw SluiceError("Error: hfsc: options (struct tc_hfsc_qopt) are required.") }
            h.defcls = UInt16(o[o.startIndex]) | UInt16(o[o.startIndex + 1]) << 8
        case let fq as FQQdisc:
            // fq_change: each attribute present (refill_delay, ce_threshold, horizon in µs;
            // rates in bytes/s, ~0 for none; buckets as a log).
            var p = fq.params
            if let o = options {
                var pol: [UInt16: NLAType] = [:]
                for t in UInt16(1)...18 { pol[t] = .u32 }
                pol[15] = .u8; pol[16] = .minLength(20); pol[17] = .minLength(12)
                let a = try Self.parseOptions(o, base: base, NLAPolicy(maxType: 18, pol))
                if let v = a.u32(8) {
                    guard v >= 1 && v <= 18 else { throw SluiceError("Error: fq: buckets log must be within 1…18") }
                    p.bucketsLog = Int(v)
                }
                if let v = a.u32(1) { p.limit = Int(v) }
                if let v = a.u32(2) { p.flowLimit = Int(v) }
                if let v = a.u32(3) { p.quantum = Int(v) }
                if let v = a.u32(4) {
                    guard v <= UInt32(Int32.max) else { throw SluiceError("Error: integer out of range") }
                    p.initialQuantum = Int(v)
                }
                if let v = a.u32(7) { p.maxRate = UInt64(v) }
                if let v = a.u32(11) { p.lowRateThreshold = UInt64(v) }
                if let v = a.u32(5) {
                    guard v <= 1 else { throw SluiceError("Error: fq: pacing must be 0 or 1") }
                    p.rateEnable = v == 1
                }
                if let v = a.u32(9) { p.refillDelay = UInt64(v) * 1000 }
                if let m = a[16] {
                    guard m.count == 20 else { throw SluiceError("Error: Attribute failed policy validation") }
                    guard m.le32(at: 0) == 3 else { throw SluiceError("Error: fq: FQ only supports 3 bands") }
                    p.prio2band = (0..<16).map { m[m.startIndex + 4 + $0] }
                    if let i = p.prio2band.firstIndex(where: { $0 >= 3 }) {
                        throw SluiceError("Error: fq: FQ priomap field \(i) maps to a too high band \(p.prio2band[i])")
                    }
                }
                if let m = a[17] {
                    guard m.count == 12 else { throw SluiceError("Error: Attribute failed policy validation") }
                    p.weights = (0..<3).map { Int32(bitPattern: m.le32(at: $0 * 4)) }
                }
                if let v = a.u32(10) { p.orphanMask = v }
                if let v = a.u32(12) { p.ceThreshold = UInt64(v) * 1000 }
                if let v = a.u32(13) { p.timerSlack = v }
                if let v = a.u32(14) { p.horizon = UInt64(v) * 1000 }
                if let v = a[15]?.first { p.horizonDrop = v != 0 }
                if let v = a.u32(18) { p.offloadHorizon = UInt64(v) * 1000 }
            }
            try fq.configure(p)
        case let fq as FQPIEQdisc:
            // fq_pie_change: each attribute that is present; target and tupdate in µs; flows
            // only at creation; quantum within 1…2^20 (its policy).
            var c = fq.params
            if let o = options {
                let a = try Self.parseOptions(o, base: base, NLAPolicy(maxType: 12, Dictionary(uniqueKeysWithValues: (UInt16(1)...12).map { ($0, NLAType.u32) })))
                if let v = a.u32(1) { c.pie.limit = Int(v) }
                if let v = a.u32(2) { c.flows = Int(v) }
                if let v = a.u32(3) { c.pie.target = UInt64(v) * 1000 }
                if let v = a.u32(4) { c.pie.tupdate = UInt64(v) * 1000 }
                if let v = a.u32(5) { c.pie.alpha = v }
                if let v = a.u32(6) { c.pie.beta = v }
                if let v = a.u32(7) {
                    guard v >= 1 && v <= 1 << 20 else { throw SluiceError("Error: integer out of range") }
                    c.quantum = Int(v)
                }
                if let v = a.u32(8) { c.memoryLimit = Int(v) }
                if let v = a.u32(9) { c.ecnProb = v }
                if let v = a.u32(10) { c.pie.ecn = v != 0 }
                if let v = a.u32(11) { c.pie.bytemode = v != 0 }
                if let v = a.u32(12) { c.pie.dqRateEstimator = v != 0 }
            } else if fq.queues.isEmpty == false {
                throw SluiceError("Error: fq_pie needs options.")
            }
            try fq.configure(c)
        default:
            throw SluiceError("Error: qdisc \(q.kind) is not implemented over rtnetlink in Sluice yet (configure it in the daemon's batch file).")
        }
    }

    /// A kind's option attributes, with policy failures as tc-worded errors.
    /// A nest's attributes in order (the ETS quanta and priomap), errors as SluiceError.
    static func etsList(_ o: ArraySlice<UInt8>, base: Int) throws(SluiceError) -> [(type: UInt16, value: ArraySlice<UInt8>, offset: Int)] {
        do { return try NLAttributes.list(o, base: base) } catch { throw SluiceError("Error: \(error.message ?? "malformed nested attribute")") }
    }

    static func parseOptions(_ o: ArraySlice<UInt8>, base: Int, _ policy: NLAPolicy) throws(SluiceError) -> NLAttributes {
        do { return try NLAttributes.parse(o, base: base, policy: policy, strict: false) } catch {
            throw SluiceError("Error: \(error.message ?? "Attribute failed policy validation")")
        }
    }

    func tcRequest(_ msg: NetlinkMessage) throws(NetlinkError) -> (NetDevice, TcHandle?, TcHandle?, NLAttributes) {
        let (ifindex, handle, parent) = try tcmsg(msg)
        guard let dev = dp.device(ifindex) else { throw NetlinkError(ENODEV) }
        let a = try NLAttributes.parse(msg.payload.dropFirst(20), base: NL.hdrLen + 20, policy: TCA.policy, strict: false)
        return (dev, Self.handleOrNil(handle), Self.handleOrNil(parent), a)
    }

    /// RTM_NEWQDISC (tc_modify_qdisc): NLM_F_CREATE|EXCL is `add`, CREATE (|REPLACE) is
    /// `replace`, no CREATE is `change`.
    func newQdisc(_ msg: NetlinkMessage) throws(NetlinkError) {
        let (dev, handle, parent, a) = try tcRequest(msg)
        // qdisc_get_stab: TCA_STAB_BASE (struct tc_sizespec) and, with a table size, its
        // TCA_STAB_DATA; checked before anything changes.
        var stab: SizeTable?
        if let st = a[TCA.STAB] {
            let base = (a.offsets[TCA.STAB] ?? 0) + NL.attrHdrLen
            let sa = try NLAttributes.parse(st, base: base, policy: NLAPolicy(maxType: 2, [1: .minLength(24), 2: .unspec]), strict: false)
            guard let b = sa[1] else { throw NetlinkError(EINVAL, "Size table base attribute is missing", offset: a.offsets[TCA.STAB]) }
            do { stab = try SizeTable.decode(base: b, table: sa[2]) } catch { throw Self.netlinkError(error) }
        }
        let f = msg.header.flags
        let op: CommandRunner.QdiscOp = f & NL.F_CREATE == 0 ? .change : (f & NL.F_EXCL != 0 ? .add : .replace)
        let optsBase = (a.offsets[TCA.OPTIONS] ?? 0) + NL.attrHdrLen
        do {
            try runner.modifyQdisc(dev: dev, parent: parent == TcHandle(raw: 0xFFFF_FFF1) ? .ingress : parent, handle: handle,
                                   kind: a.string(TCA.KIND), op: op, options: a[TCA.OPTIONS] != nil) { (q: Qdisc) throws(SluiceError) in
                if q is IngressQdisc {
                    if stab != nil { throw SluiceError("Error: size tables on ingress are not implemented in Sluice.") }
                    return
                }
                if stab != nil && q !== dev.qdisc && q.parent != .root {
                    throw SluiceError("Error: Sluice applies size tables at the root qdisc only (the kernel also at inner ones).")
                }
                try configure(q, options: a[TCA.OPTIONS], base: optsBase)
                q.sizeTable = stab      // qdisc_change: a request without one removes it
                if let r = a[TCA.RATE] { try dp.attachEstimator(q, r, create: op == .add) }
            }
        } catch { throw Self.netlinkError(error) }
        dp.kickTransmit(dev)
    }

    /// RTM_DELQDISC.
    func delQdisc(_ msg: NetlinkMessage) throws(NetlinkError) {
        let (dev, handle, parent, a) = try tcRequest(msg)
        var t = CommandRunner.TcTarget(dev: dev)
        t.parent = parent == TcHandle(raw: 0xFFFF_FFF1) ? .ingress : parent
        t.handle = handle
        t.kind = a.string(TCA.KIND)
        do { try runner.qdiscDelete(t) } catch { throw Self.netlinkError(error) }
        dp.kickTransmit(dev)
    }

    /// RTM_NEWTCLASS (tc_ctl_tclass) for htb classes: an existing class is changed unless
    /// NLM_F_EXCL; a missing one is created only with NLM_F_CREATE.
    /// tc_ctl_tclass's first steps: the qdisc X:0 from the class id, else the parent, else the
    /// device's root qdisc; then the class id and parent completed with X.
    func classAddress(_ dev: NetDevice, _ clid: TcHandle?, _ portid: TcHandle?) throws(NetlinkError) -> (Qdisc, TcHandle?, TcHandle?) {
        var qid = clid?.major ?? 0
        var parent = portid
        if portid != .root {
            let qid1 = portid?.major ?? 0
            if qid != 0 && qid1 != 0 {
                if qid != qid1 { throw NetlinkError(EINVAL) }
            } else if qid1 != 0 {
                qid = qid1
            } else if qid == 0 {
                qid = dev.qdisc.handle.major
            }
            if let p = portid { parent = TcHandle(qid, p.minor) }
        } else if qid == 0 {
            qid = dev.qdisc.handle.major
        }
        // qdisc_lookup (the ingress qdisc too); no message for a miss.
        guard let q = runner.lookupQdisc(dev, major: qid) else { throw NetlinkError(ENOENT) }
        var classid = clid
        if let c = clid { classid = TcHandle(qid, c.minor) } else if portid == .root { classid = TcHandle(qid, 0) }
        return (q, classid, parent)
    }

    /// tc_ctl_tclass answers a class that exists (NLM_F_EXCL) or does not (no NLM_F_CREATE,
    /// or a delete) with the errno alone.
    static func classError(_ e: SluiceError) -> NetlinkError {
        let m = e.message
        if m.contains("already exists") && !m.contains("root class") { return NetlinkError(EEXIST) }
        if m.contains("Specified class not found") || m.contains("Specified class doesn't exist") { return NetlinkError(ENOENT) }
        return netlinkError(e)
    }

    /// cops->find: whether `classid` names a class of `q`. One-class qdiscs (tbf, netem, red,
    /// cbs) and ingress find any id, skbprio any band but 0, sfb none.
    static func classFound(_ q: Qdisc, _ classid: TcHandle) -> Bool {
        if q is SFBQdisc { return false }
        if q is IngressQdisc || q.hasSingleClass { return true }
        if q is SkbprioQdisc { return classid.minor != 0 }
        return q.classes(details: false).contains { $0.classid == classid }
    }

    func newClass(_ msg: NetlinkMessage) throws(NetlinkError) {
        let (dev, clid, portid, a) = try tcRequest(msg)
        let (owner, classid0, parent) = try classAddress(dev, clid, portid)
        // cops == NULL: a classless qdisc is a bare EINVAL.
        guard owner.isClassful || owner is IngressQdisc else { throw NetlinkError(EINVAL) }
        guard let classid = classid0 else { throw NetlinkError(EINVAL, "A class id is required") }
        let f = msg.header.flags
        if classid.raw == 0xFFFF_FFFF {
            // tc_ctl_tclass: after the lookup's EEXIST/ENOENT, no class is ever made TC_H_ROOT.
            let exists = owner.classes(details: false).contains { $0.classid == classid }
            if exists && f & NL.F_EXCL != 0 { throw NetlinkError(EEXIST) }
            if !exists && f & NL.F_CREATE == 0 { throw NetlinkError(ENOENT) }
            throw NetlinkError(EINVAL, "Cannot create traffic class with classid TC_H_ROOT")
        }
        if let q = owner as? QFQQdisc {
            // qfq_change_class: options required; TCA_QFQ_WEIGHT 1…1024, TCA_QFQ_LMAX 512…65536.
            guard let o = a[TCA.OPTIONS] else { throw NetlinkError(EINVAL, "sch_qfq: missing options") }
            let base = (a.offsets[TCA.OPTIONS] ?? 0) + NL.attrHdrLen
            let attrs = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 2, [1: .u32, 2: .u32]), strict: false)
            if let wt = attrs.u32(1), !(1...QFQQdisc.maxWeight).contains(wt) {
                throw NetlinkError(ERANGE, "integer out of range", offset: attrs.offsets[1])
            }
            if let l = attrs.u32(2), !(QFQQdisc.minLmax...QFQQdisc.maxLmax).contains(l) {
                throw NetlinkError(ERANGE, "integer out of range", offset: attrs.offsets[2])
            }
            do {
                try q.setClass(classid, weight: attrs.u32(1), lmax: attrs.u32(2), create: f & NL.F_CREATE != 0, exclusive: f & NL.F_EXCL != 0)
            } catch {
                throw Self.classError(error)
            }
            dp.kickTransmit(dev)
            return
        }
        if let d = owner as? DRRQdisc {
            // drr_change_class: TCA_DRR_QUANTUM (default: the device's MTU + link header).
            let exists = d.classesByID[classid.raw] != nil
            if exists && f & NL.F_EXCL != 0 { throw NetlinkError(EEXIST) }
            if !exists && f & NL.F_CREATE == 0 { throw NetlinkError(ENOENT) }
            var quantum = d.classesByID[classid.raw]?.quantum ?? d.env.mtu
            if let o = a[TCA.OPTIONS] {
                let attrs = try NLAttributes.parse(o, base: (a.offsets[TCA.OPTIONS] ?? 0) + NL.attrHdrLen, policy: NLAPolicy(maxType: 2, [1: .u32]), strict: false)
                if let q = attrs.u32(1) { quantum = Int(q) }
            }
            do { try d.setClass(classid, quantum: quantum, replace: exists) } catch { throw Self.classError(error) }
            dp.kickTransmit(dev)
            return
        }
        if owner is MQQdisc || owner is TaprioQdisc {
            // tc_ctl_tclass: mq's (and taprio's) classes exist (one per queue); it has no cops->change.
            let exists = owner.classes(details: false).contains { $0.classid == classid }
            if exists && f & NL.F_EXCL != 0 { throw NetlinkError(EEXIST) }
            if !exists && f & NL.F_CREATE == 0 { throw NetlinkError(ENOENT) }
            throw NetlinkError(EOPNOTSUPP)
        }
        if let e = owner as? ETSQdisc {
            // ets_class_change: existing bands only; options required; a quantum for ETS bands.
            let b = Int(classid.minor) - 1
            guard classid.major == e.handle.major, b >= 0, b < e.nbands else {
                throw NetlinkError(EOPNOTSUPP, "Fine-grained class addition and removal is not supported")
            }
            guard let o = a[TCA.OPTIONS] else { throw NetlinkError(EINVAL, "ETS options are required for this operation") }
            let attrs = try NLAttributes.parse(o, base: (a.offsets[TCA.OPTIONS] ?? 0) + NL.attrHdrLen, policy: NLAPolicy(maxType: 6, [4: .u32]), strict: false)
            do { try e.setQuantum(classid, attrs.u32(4).map(Int.init)) } catch { throw Self.classError(error) }
            return
        }
        if let hf = owner as? HFSCQdisc {
            // hfsc_change_class: TCA_HFSC_RSC/FSC/USC (tc_service_curve each; two zero slopes
            // mean none); a new class needs options, a real-time or a link-sharing curve.
            guard let o = a[TCA.OPTIONS] else { throw NetlinkError(EINVAL, "HFSC: class options are required") }
            let attrs = try NLAttributes.parse(o, base: (a.offsets[TCA.OPTIONS] ?? 0) + NL.attrHdrLen,
                                               policy: NLAPolicy(maxType: 3, [1: .minLength(12), 2: .minLength(12), 3: .minLength(12)]), strict: false)
            func curve(_ t: UInt16) -> HFSCQdisc.Curve? {
                guard let b = attrs[t] else { return nil }
                let c = HFSCQdisc.Curve(m1: b.le32(at: 0), d: b.le32(at: 4), m2: b.le32(at: 8))
                return c.m1 == 0 && c.m2 == 0 ? nil : c
            }
            let params = HFSCQdisc.ClassParams(rt: curve(1), ls: curve(2), ul: curve(3))
            do { try hf.setClass(classid, parent: parent, params, create: f & NL.F_CREATE != 0, exclusive: f & NL.F_EXCL != 0) }
            catch { throw Self.classError(error) }
            dp.kickTransmit(dev)
            return
        }
        guard let h = owner as? HTBQdisc else {
            // A qdisc whose classes are fixed (no cops->change: prio, tbf, netem, red, sfb,
            // cbs, skbprio, mq, ingress): the lookup's EEXIST/ENOENT, then EOPNOTSUPP.
            let exists = Self.classFound(owner, classid)
            if exists && f & NL.F_EXCL != 0 { throw NetlinkError(EEXIST) }
            if !exists && f & NL.F_CREATE == 0 { throw NetlinkError(ENOENT) }
            throw NetlinkError(owner is SFBQdisc ? ENOSYS : EOPNOTSUPP)     // sfb_change_class
        }
        let exists = h.htbClass(classid) != nil
        if exists && f & NL.F_EXCL != 0 { throw NetlinkError(EEXIST) }
        if !exists && f & NL.F_CREATE == 0 { throw NetlinkError(ENOENT) }
        guard let o = a[TCA.OPTIONS] else { throw NetlinkError(EINVAL, "HTB: class options are required") }
        let attrs = try NLAttributes.parse(o, base: (a.offsets[TCA.OPTIONS] ?? 0) + NL.attrHdrLen,
                                           policy: NLAPolicy(maxType: 9, [1: .minLength(44), 3: .binary(maxLength: 1024), 4: .binary(maxLength: 1024), 6: .u64, 7: .u64]), strict: false)
        guard let p = attrs[1] else { throw NetlinkError(EINVAL, "HTB: TCA_HTB_PARMS is required") }
        let rate = Self.rateBits(p, at: 0, rate64: attrs.u64(6)), ceil = Self.rateBits(p, at: 12, rate64: attrs.u64(7))
        let bt = p.le32(at: 24), cbt = p.le32(at: 28)
        let params = HTBQdisc.HTBClassParams(rate: rate, ceil: ceil, bufferTicks: bt, cbufferTicks: cbt,
                                             quantum: Int(p.le32(at: 32)), prio: Int(p.le32(at: 40)),
                                             burst: Int(TcCore.xmitsize(rate: rate / 8, ticks: bt)), cburst: Int(TcCore.xmitsize(rate: ceil / 8, ticks: cbt)),
                                             rateLink: LinkSpec.wire(p, at: 0), ceilLink: LinkSpec.wire(p, at: 12))
        // htb_change_class: TCA_RATE gives the class its estimator; a bad one fails the request
        // before anything changes.
        if let r = a[TCA.RATE] {
            do { _ = try RateEstimator(wire: r, bytes: 0, packets: 0, now: 0) } catch { throw Self.netlinkError(error) }
        }
        do { try h.setClass(classid, parent: parent ?? .unspec, params, replace: exists) } catch { throw Self.classError(error) }
        if let r = a[TCA.RATE], let c = h.htbClass(classid) { try? dp.attachEstimator(c, r) }
        // htb_change_class: a leaf's quantum from rate / r2q outside 1000…200000 is clamped,
        // with a warning in the acknowledgement.
        if params.quantum == 0, h.htbClass(classid)?.level == 0 {
            let q = rate / 8 / UInt64(max(h.r2q, 1))
            if q < 1000 || q > 200_000 {
                extAckWarning = "sch_htb: quantum of class \(String(classid.raw, radix: 16, uppercase: true)) is \(q < 1000 ? "small" : "big"). Consider r2q change."
            }
        }
        dp.kickTransmit(dev)
    }

    /// RTM_DELTCLASS.
    func delClass(_ msg: NetlinkMessage) throws(NetlinkError) {
        let (dev, clid, portid, _) = try tcRequest(msg)
        let (owner, classid0, _) = try classAddress(dev, clid, portid)
        guard owner.isClassful || owner is IngressQdisc else { throw NetlinkError(EINVAL) }
        guard let classid = classid0 else { throw NetlinkError(ENOENT, "Failed to find specified qdisc") }
        // tc_ctl_tclass: a class that exists in a qdisc without cops->delete (ets, mq, prio, tbf,
        // netem, red, sfb, cbs, skbprio, ingress) is EOPNOTSUPP; a missing one ENOENT.
        if !(owner is HTBQdisc || owner is HFSCQdisc || owner is DRRQdisc || owner is QFQQdisc) {
            throw NetlinkError(Self.classFound(owner, classid) ? EOPNOTSUPP : ENOENT)
        }
        do { try owner.deleteClass(classid) } catch { throw Self.classError(error) }
    }
}
