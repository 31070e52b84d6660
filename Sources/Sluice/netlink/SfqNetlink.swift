/// sfq over rtnetlink: TCA_OPTIONS is `struct tc_sfq_qopt` or, from tc, `tc_sfq_qopt_v1`
/// (depth, headdrop and the RED-in-SFQ fields), not nested. Zero fields keep their value, as
/// sfq_change does; RED-in-SFQ is refused until Sluice's sfq has it.
extension RtnlProcessor {
    static func configureSFQ(_ q: SFQQdisc, _ o: ArraySlice<UInt8>) throws(SluiceError) {
        guard o.count >= 20 else { throw SluiceError("Error: sfq: TCA_OPTIONS is shorter than struct tc_sfq_qopt.") }
        let quantum = o.le32(at: 0), perturb = Int32(bitPattern: o.le32(at: 4)), limit = o.le32(at: 8)
        let divisor = o.le32(at: 12), flows = o.le32(at: 16)
        var p = q.params
        p.perturb = UInt64(max(0, perturb)) * Time.s
        if quantum > 0 { p.quantum = Int(quantum) }
        if limit > 0 { p.limit = Int(limit) }
        if divisor > 0 {
            guard divisor & (divisor - 1) == 0, divisor <= 65536 else { throw SluiceError("Error: sch_sfq: invalid divisor") }
            p.divisor = Int(divisor)
        }
        if flows > 0 { p.flows = min(Int(flows), 65536) }
        if o.count >= 72 {
            let depth = o.le32(at: 20), headdrop = o.le32(at: 24), redLimit = o.le32(at: 28)
            if depth > 0 { p.depth = min(Int(depth), 127) }
            p.headdrop = headdrop != 0
            _ = redLimit                                    // tc sends redflowlimit; sfq_change does not keep it
            p.red = (o.le32(at: 32), o.le32(at: 36), o[o.startIndex + 40], o[o.startIndex + 41], o[o.startIndex + 42], o.le32(at: 44))
            p.redFlags = o[o.startIndex + 43]
        }
        try q.configure(p)
    }

    /// sfq_dump: struct tc_sfq_qopt_v1.
    func encodeSFQ(_ q: SFQQdisc, _ w: inout NetlinkWriter) {
        var o = NetlinkWriter()
        o.put32(UInt32(q.quantum)); o.put32(UInt32(q.perturb / Time.s)); o.put32(UInt32(q.limit))
        o.put32(UInt32(q.divisor)); o.put32(UInt32(q.maxFlows))
        o.put32(UInt32(q.depth)); o.put32(q.headdrop ? 1 : 0)
        o.put32(0)                                          // the RED limit is not kept
        let r = q.red
        o.put32(r?.minThreshold ?? 0); o.put32(r?.maxThreshold ?? 0)
        o.put8(r?.wlog ?? 0); o.put8(r?.plog ?? 0); o.put8(r?.scellLog ?? 0); o.put8(q.redFlags)
        o.put32(r?.maxP ?? 0)
        for v in [q.probDrop, q.forcedDrop, q.probMark, q.forcedMark, q.probMarkHead, q.forcedMarkHead] { o.put32(v) }   // tc_sfqred_stats
        w.attr(TCA.OPTIONS, o.bytes)
    }
}

/// red over rtnetlink: TCA_OPTIONS nests TCA_RED_PARMS (struct tc_red_qopt: limit, min, max,
/// Wlog, Plog, Scell_log, flags), TCA_RED_STAB, TCA_RED_MAX_P and TCA_RED_FLAGS (bitfield32), as
/// red_change reads them (ECN, harddrop, adaptive in the historic byte; nodrop in the bitfield);
/// qevent blocks are refused until Sluice has them.
extension RtnlProcessor {
    static func configureRED(_ q: REDQdisc, _ o: ArraySlice<UInt8>, base: Int) throws(SluiceError) {
        let a = try parseOptions(o, base: base, NLAPolicy(maxType: 6, [1: .minLength(16), 2: .unspec, 3: .u32, 4: .minLength(8), 5: .u32, 6: .u32]))
        guard let p = a[1] else { throw SluiceError("Error: red: TCA_RED_PARMS is required.") }
        var flags = UInt32(p[p.startIndex + 15])
        if let bf = a[4] { flags = (flags & ~bf.le32(at: 4)) | (bf.le32(at: 0) & bf.le32(at: 4)) }
        if let bf = a[4], (bf.le32(at: 0) | bf.le32(at: 4)) & ~0xF != 0 { throw SluiceError("Error: sch_red: unsupported RED flags") }
        if a.has(5) || a.has(6) { throw SluiceError("Error: red qevents are not implemented in Sluice yet.") }
        let plog = Int(p[p.startIndex + 13])
        let maxP = a.u32(3).map { Double($0) / 4294967296.0 } ?? (plog < 32 ? Double(UInt32.max >> UInt32(plog)) / 4294967296.0 : 1)
        try q.configure(REDQdisc.REDParams(limit: Int(p.le32(at: 0)), qmin: Int(p.le32(at: 4)), qmax: Int(p.le32(at: 8)),
                                           wlog: Int(p[p.startIndex + 12]), maxP: maxP, scellLog: Int(p[p.startIndex + 14]),
                                           ecn: flags & 1 != 0, harddrop: flags & 2 != 0, avpkt: q.avpkt, burst: q.burst, bandwidth: q.bandwidth,
                                           nodrop: flags & 8 != 0, adaptive: flags & 4 != 0))
    }

    /// red_dump: the parameters as tc sent them, max_P and the flags.
    func encodeRED(_ q: REDQdisc, _ w: inout NetlinkWriter) {
        let n = w.beginNest(TCA.OPTIONS)
        var o = NetlinkWriter()
        let flags: UInt8 = (q.ecn ? 1 : 0) | (q.harddrop ? 2 : 0) | (q.adaptive ? 4 : 0)
        o.put32(UInt32(clamping: q.limit)); o.put32(UInt32(clamping: q.qmin)); o.put32(UInt32(clamping: q.qmax))
        o.put8(UInt8(q.wlog)); o.put8(UInt8(q.plog)); o.put8(UInt8(q.scellLog)); o.put8(flags)
        w.attr(1, o.bytes)                                                   // TCA_RED_PARMS
        w.attr(3, u32: UInt32(clamping: UInt64(q.maxP * 4294967296.0)))     // TCA_RED_MAX_P
        var bf = NetlinkWriter()
        bf.put32(UInt32(flags) | (q.nodrop ? 8 : 0)); bf.put32(0xF)          // value, TC_RED_SUPPORTED_FLAGS
        w.attr(4, bf.bytes)                                                  // TCA_RED_FLAGS
        w.endNest(n)
    }
}
