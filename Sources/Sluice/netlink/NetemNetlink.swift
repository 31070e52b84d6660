#if canImport(Glibc)
import Glibc
#endif

/// netem over rtnetlink: TCA_OPTIONS is `struct tc_netem_qopt` followed by its own attributes
/// (a compat nest, as q_netem.c packs it and netem_dump answers): TCA_NETEM_CORR, REORDER,
/// CORRUPT, LOSS { GE }, RATE (+ RATE64), LATENCY64/JITTER64, DELAY_DIST.
///
/// A request is decoded into netem's typed configuration (`NetemQdisc.NetemParams`), the value
/// its words also produce, and applied by its `configure`, so both syntaxes share one validation. Distribution tables
/// (delay and slot) are taken whole, as get_dist_table takes them, and kept until another is
/// sent.
enum NETEM {
    static let CORR: UInt16 = 1, DELAY_DIST: UInt16 = 2, REORDER: UInt16 = 3, CORRUPT: UInt16 = 4, LOSS: UInt16 = 5
    static let RATE: UInt16 = 6, ECN: UInt16 = 7, RATE64: UInt16 = 8, LATENCY64: UInt16 = 10, JITTER64: UInt16 = 11
    static let SLOT: UInt16 = 12, SLOT_DIST: UInt16 = 13, PRNG_SEED: UInt16 = 14
    static let LOSS_GI: UInt16 = 1, LOSS_GE: UInt16 = 2
    static let policy = NLAPolicy(maxType: 14, [CORR: .minLength(12), DELAY_DIST: .unspec, REORDER: .minLength(8),
                                                CORRUPT: .minLength(8), LOSS: .unspec, RATE: .minLength(16), ECN: .u32,
                                                RATE64: .u64, LATENCY64: .u64, JITTER64: .u64, SLOT: .minLength(40), SLOT_DIST: .unspec,
                                                PRNG_SEED: .u64])

    /// A probability as tc packs it (get_percent: the fraction of UINT32_MAX).
    static func fraction(_ v: UInt32) -> Double { Double(v) / Double(UInt32.max) }
    static func packed(_ p: Double) -> UInt32 { UInt32((max(0, min(1, p)) * Double(UInt32.max)).rounded()) }

    /// A distribution table as get_dist_table takes it: the attribute's whole signed 16-bit
    /// values (an odd last byte ignored), 1…NETEM_DIST_MAX of them, else EINVAL.
    static func table(_ a: ArraySlice<UInt8>) throws(SluiceError) -> [Int16] {
        let n = a.count / 2
        guard n > 0, n <= NetemQdisc.distMax else {
            throw SluiceError("Error: netem: invalid distribution table size: \(n) (Invalid argument)")
        }
        return (0..<n).map { Int16(bitPattern: a.le16(at: 2 * $0)) }
    }
}

extension RtnlProcessor {
    /// netem_change's input as netem's typed configuration: every field from the request (what
    /// it leaves out is zero), except the distribution, which stays unless a table is sent, and
    /// the seed.
    static func netemParams(_ o: ArraySlice<UInt8>, base: Int, current q: NetemQdisc) throws(SluiceError) -> NetemQdisc.NetemParams {
        guard o.count >= 24 else { throw SluiceError("Error: netem: TCA_OPTIONS is shorter than struct tc_netem_qopt.") }
        let latencyTicks = o.le32(at: 0), limit = o.le32(at: 4), loss = o.le32(at: 8), gap = o.le32(at: 12)
        let duplicate = o.le32(at: 16), jitterTicks = o.le32(at: 20)
        let a = try parseOptions(o.dropFirst(24), base: base + 24, NETEM.policy)
        var p = NetemQdisc.NetemParams()
        p.dist = q.delayDist; p.slotDist = q.slotDist; p.seed = q.seed
        p.limit = Int(limit)
        p.latency = a.u64(NETEM.LATENCY64) ?? UInt64(latencyTicks) * 64      // psched ticks are 64 ns
        p.jitter = a.u64(NETEM.JITTER64) ?? UInt64(jitterTicks) * 64
        let corr = a[NETEM.CORR]
        if p.jitter > 0, let c = corr { p.delayCorr = NETEM.fraction(c.le32(at: 0)) }
        if let t = a[NETEM.DELAY_DIST] { p.dist = try NETEM.table(t) }
        if let t = a[NETEM.SLOT_DIST] { p.slotDist = try NETEM.table(t) }
        if let l = a[NETEM.LOSS] {
            let m = try parseOptions(l, base: (a.offsets[NETEM.LOSS] ?? 0) + NL.attrHdrLen,
                                     NLAPolicy(maxType: 3, [NETEM.LOSS_GI: .minLength(20), NETEM.LOSS_GE: .minLength(16)]))
            if let gi = m[NETEM.LOSS_GI] {
                // struct tc_netem_gimodel: p13, p31, p32, p14, p23.
                p.gi = (p13: NETEM.fraction(gi.le32(at: 0)), p31: NETEM.fraction(gi.le32(at: 4)), p32: NETEM.fraction(gi.le32(at: 8)),
                        p23: NETEM.fraction(gi.le32(at: 16)), p14: NETEM.fraction(gi.le32(at: 12)))
            } else if let ge = m[NETEM.LOSS_GE] {
                p.ge = (NETEM.fraction(ge.le32(at: 0)), NETEM.fraction(ge.le32(at: 4)), NETEM.fraction(ge.le32(at: 8)), NETEM.fraction(ge.le32(at: 12)))
            }
        } else if loss > 0 {
            p.lossP = NETEM.fraction(loss)
            if let c = corr { p.lossCorr = NETEM.fraction(c.le32(at: 4)) }
        }
        if duplicate > 0 {
            p.dupP = NETEM.fraction(duplicate)
            if let c = corr { p.dupCorr = NETEM.fraction(c.le32(at: 8)) }
        }
        if let r = a[NETEM.REORDER], r.le32(at: 0) > 0 { p.reorderP = NETEM.fraction(r.le32(at: 0)); p.reorderCorr = NETEM.fraction(r.le32(at: 4)) }
        p.gap = Int(gap)
        if let c = a[NETEM.CORRUPT], c.le32(at: 0) > 0 { p.corruptP = NETEM.fraction(c.le32(at: 0)); p.corruptCorr = NETEM.fraction(c.le32(at: 4)) }
        if let r = a[NETEM.RATE] {
            let bytes = r.le32(at: 0) == UInt32.max ? (a.u64(NETEM.RATE64) ?? UInt64(UInt32.max)) : UInt64(r.le32(at: 0))
            if bytes > 0 { p.rate = bytes * 8; p.packetOverhead = Int(Int32(bitPattern: r.le32(at: 4))) }
            p.cellSize = Int(r.le32(at: 8)); p.cellOverhead = Int(Int32(bitPattern: r.le32(at: 12)))
        }
        // get_slot: struct tc_netem_slot (min_delay, max_delay, max_packets, max_bytes,
        // dist_delay, dist_jitter) and its table; without one the slots stay as they were.
        p.slot = q.slot
        if let sl = a[NETEM.SLOT] {
            var s = NetemQdisc.Slot()
            s.minDelay = UInt64(max(0, Int64(bitPattern: sl.le64(at: 0)))); s.maxDelay = UInt64(max(0, Int64(bitPattern: sl.le64(at: 8))))
            s.maxPackets = Int(Int32(bitPattern: sl.le32(at: 16))); s.maxBytes = Int(Int32(bitPattern: sl.le32(at: 20)))
            s.distDelay = UInt64(max(0, Int64(bitPattern: sl.le64(at: 24)))); s.distJitter = UInt64(max(0, Int64(bitPattern: sl.le64(at: 32))))
            p.slot = s
        }
        if let e = a.u32(NETEM.ECN) { p.ecn = e != 0 }
        // TCA_NETEM_PRNG_SEED: the generator restarts from it. Without one the kernel draws a
        // random seed; Sluice keeps the one it has, so that runs repeat.
        if let seed = a.u64(NETEM.PRNG_SEED) { p.seed = seed; p.reseed = true }
        return p
    }

    /// netem_change: the request decoded whole, then applied whole (or not at all).
    static func configureNetem(_ q: NetemQdisc, _ o: ArraySlice<UInt8>, base: Int) throws(SluiceError) {
        try q.configure(try netemParams(o, base: base, current: q))
    }

    /// netem_dump.
    func encodeNetem(_ q: NetemQdisc, _ w: inout NetlinkWriter) {
        let start = w.count
        var o = NetlinkWriter()
        o.put32(UInt32(clamping: q.latency / 64)); o.put32(UInt32(clamping: q.limit))
        o.put32(q.ge == nil ? NETEM.packed(q.lossP) : 0); o.put32(UInt32(clamping: q.gap))
        o.put32(NETEM.packed(q.dupP)); o.put32(UInt32(clamping: q.jitter / 64))
        w.attr(TCA.OPTIONS, o.bytes)
        w.attr(NETEM.LATENCY64, u64: q.latency)
        w.attr(NETEM.JITTER64, u64: q.jitter)
        var c = NetlinkWriter(); c.put32(NETEM.packed(q.delayCorr)); c.put32(NETEM.packed(q.lossCorr)); c.put32(NETEM.packed(q.dupCorr))
        w.attr(NETEM.CORR, c.bytes)
        var r = NetlinkWriter(); r.put32(NETEM.packed(q.reorderP)); r.put32(NETEM.packed(q.reorderCorr))
        w.attr(NETEM.REORDER, r.bytes)
        var k = NetlinkWriter(); k.put32(NETEM.packed(q.corruptP)); k.put32(NETEM.packed(q.corruptCorr))
        w.attr(NETEM.CORRUPT, k.bytes)
        let bytesPerSecond = q.rate / 8
        if bytesPerSecond >= 1 << 32 { w.attr(NETEM.RATE64, u64: bytesPerSecond) }
        var rt = NetlinkWriter()
        rt.put32(bytesPerSecond >= 1 << 32 ? UInt32.max : UInt32(bytesPerSecond)); rt.put32(UInt32(bitPattern: Int32(q.packetOverhead)))
        rt.put32(UInt32(q.cellSize)); rt.put32(UInt32(bitPattern: Int32(q.cellOverhead)))
        w.attr(NETEM.RATE, rt.bytes)
        // netem_dump's order: ECN, the loss model, the slots, the seed.
        if q.ecn { w.attr(NETEM.ECN, u32: 1) }
        if let gi = q.gi {
            let n = w.beginNest(NETEM.LOSS, flagged: false)     // nla_nest_start_noflag: tc's parse_rtattr keeps flags
            var g = NetlinkWriter()
            for v in [gi.p13, gi.p31, gi.p32, gi.p14, gi.p23] { g.put32(NETEM.packed(v)) }
            w.attr(NETEM.LOSS_GI, g.bytes)
            w.endNest(n)
        } else if let ge = q.ge {
            let n = w.beginNest(NETEM.LOSS, flagged: false)
            var g = NetlinkWriter()
            for v in [ge.p, ge.r, ge.h, ge.k] { g.put32(NETEM.packed(v)) }
            w.attr(NETEM.LOSS_GE, g.bytes)
            w.endNest(n)
        }
        if let s = q.slot, s.minDelay | s.maxDelay | s.distJitter != 0 {
            var o = NetlinkWriter()
            o.put64(s.minDelay); o.put64(s.maxDelay)
            o.put32(UInt32(s.maxPackets == Int(Int32.max) ? 0 : s.maxPackets)); o.put32(UInt32(s.maxBytes == Int(Int32.max) ? 0 : s.maxBytes))
            o.put64(s.distDelay); o.put64(s.distJitter)
            w.attr(NETEM.SLOT, o.bytes)
        }
        w.attr(NETEM.PRNG_SEED, u64: q.seed)
        // The compat nest: TCA_OPTIONS' length covers the struct and the attributes after it.
        w.set16(start, UInt16(w.count - start))
    }
}
