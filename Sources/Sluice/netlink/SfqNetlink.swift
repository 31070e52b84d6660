/// sfq over rtnetlink: TCA_OPTIONS is `struct tc_sfq_qopt` or, from tc, `tc_sfq_qopt_v1`
/// (depth, headdrop and the RED-in-SFQ fields), not nested. Zero fields keep their value, as
/// sfq_change does; RED-in-SFQ is refused until Sluice's sfq has it.
extension RtnlProcessor {
    static func configureSFQ(_ q: SFQQdisc, _ o: ArraySlice<UInt8>) throws(SluiceError) {
        guard o.count >= 20 else { throw SluiceError("Error: sfq: TCA_OPTIONS is shorter than struct tc_sfq_qopt.") }
        let quantum = o.le32(at: 0), perturb = Int32(bitPattern: o.le32(at: 4)), limit = o.le32(at: 8)
        let divisor = o.le32(at: 12), flows = o.le32(at: 16)
        var w = ["perturb", String(max(0, perturb))]
        if quantum > 0 { w += ["quantum", String(quantum)] }
        if limit > 0 { w += ["limit", String(limit)] }
        if divisor > 0 { w += ["divisor", String(divisor)] }
        if flows > 0 { w += ["flows", String(flows)] }
        if o.count >= 72 {
            let depth = o.le32(at: 20), headdrop = o.le32(at: 24), redLimit = o.le32(at: 28)
            if depth > 0 { w += ["depth", String(depth)] }
            w.append(headdrop != 0 ? "headdrop" : "taildrop")
            if redLimit > 0 || o.le32(at: 32) > 0 || o.le32(at: 36) > 0 {
                throw SluiceError("Error: sfq with RED (redflowlimit, min, max, …) is not implemented in Sluice yet.")
            }
        }
        var args = TcArgs(w)
        try q.change(&args)
    }

    /// sfq_dump: struct tc_sfq_qopt_v1.
    func encodeSFQ(_ q: SFQQdisc, _ w: inout NetlinkWriter) {
        var o = NetlinkWriter()
        o.put32(UInt32(q.quantum)); o.put32(UInt32(q.perturb / Time.s)); o.put32(UInt32(q.limit))
        o.put32(UInt32(q.divisor)); o.put32(UInt32(q.maxFlows))
        o.put32(UInt32(q.depth)); o.put32(q.headdrop ? 1 : 0)
        o.put([UInt8](repeating: 0, count: 72 - 28))        // RED-in-SFQ: limit, thresholds, logs, max_P, stats
        w.attr(TCA.OPTIONS, o.bytes)
    }
}
