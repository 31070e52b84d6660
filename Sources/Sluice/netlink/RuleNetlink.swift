#if canImport(Glibc)
import Glibc
#endif

/// Principles (net/core/fib_rules.c: fib_nl_newrule, fib_nl_delrule, fib_nl_dumprule)
/// ----------
/// `ip rule` over the daemon's socket: RTM_NEWRULE/DELRULE/GETRULE with a fib_rule_hdr and
/// FRA_* attributes, decoded to a typed rule (FIBRules.swift), checked as fib_nl2rule and the
/// family's configure check it, inserted after the rules of its priority (a rule without one
/// goes just before the second rule, as fib_default_rule_pref picks), found for deletion on
/// what the request names (rule_find), dumped as fib_nl_fill_rule fills them, and announced
/// to RTNLGRP_IPV4_RULE/IPV6_RULE. Left out, refused by name: tunnel ids, l3mdev (VRF),
/// realms, suppress_ifgroup, and ports in IPv6 rules.
enum FRA {
    static let DST: UInt16 = 1, SRC: UInt16 = 2, IIFNAME: UInt16 = 3, GOTO: UInt16 = 4, PRIORITY: UInt16 = 6
    static let FWMARK: UInt16 = 10, FLOW: UInt16 = 11, TUN_ID: UInt16 = 12, SUPPRESS_IFGROUP: UInt16 = 13
    static let SUPPRESS_PREFIXLEN: UInt16 = 14, TABLE: UInt16 = 15, FWMASK: UInt16 = 16, OIFNAME: UInt16 = 17
    static let L3MDEV: UInt16 = 19, UID_RANGE: UInt16 = 20, PROTOCOL: UInt16 = 21, IP_PROTO: UInt16 = 22
    static let SPORT_RANGE: UInt16 = 23, DPORT_RANGE: UInt16 = 24, DSCP: UInt16 = 25
    static let RTM_NEWRULE: UInt16 = 32, RTM_DELRULE: UInt16 = 33, RTM_GETRULE: UInt16 = 34
    static let GROUP_IPV4: UInt32 = 8, GROUP_IPV6: UInt32 = 19

    /// fib_rule_policy (FRA_SRC/FRA_DST are in neither family's policy: `from all` sends an
    /// empty FRA_SRC; their lengths are checked against src_len/dst_len instead).
    static let policy = NLAPolicy(maxType: 30, [DST: .unspec, SRC: .unspec, IIFNAME: .string(maxLength: 15), OIFNAME: .string(maxLength: 15),
                                                GOTO: .u32, PRIORITY: .u32, FWMARK: .u32, FLOW: .u32, TUN_ID: .u64, SUPPRESS_IFGROUP: .u32,
                                                SUPPRESS_PREFIXLEN: .u32, TABLE: .u32, FWMASK: .u32, L3MDEV: .u8, UID_RANGE: .binary(maxLength: 8),
                                                PROTOCOL: .u8, IP_PROTO: .u8, SPORT_RANGE: .binary(maxLength: 4), DPORT_RANGE: .binary(maxLength: 4), DSCP: .u8])
}

extension RtnlProcessor {
    func ruleFamily(_ msg: NetlinkMessage) throws(NetlinkError) -> UInt8 {
        let p = msg.payload
        guard p.count >= 12 else { throw NetlinkError(EINVAL, "Invalid msg length") }
        let f = p[p.startIndex]
        guard f == Self.AF_INET || f == Self.AF_INET6 else { throw NetlinkError(EAFNOSUPPORT, "Rule family not supported") }
        return f
    }

    func changeRule(_ msg: NetlinkMessage, delete: Bool) throws(NetlinkError) {
        if try ruleFamily(msg) == Self.AF_INET6 { try changeRule(msg, dp.ipv6.fib, delete: delete) } else { try changeRule(msg, dp.ipv4.fib, delete: delete) }
    }

    /// fib_nl2rule and the family's configure: the rule a request describes, and whether it
    /// gave a priority.
    func decodeRule<A: InetAddressValue>(_ msg: NetlinkMessage, _: A.Type) throws(NetlinkError) -> (FIBRuleOf<A>, priorityGiven: Bool) {
        let p = msg.payload
        let a: NLAttributes
        do { a = try NLAttributes.parse(p.dropFirst(12), base: NL.hdrLen + 12, policy: FRA.policy, strict: false) }
        catch { throw NetlinkError(error.errno, "Error parsing msg", offset: error.offset) }
        let dstLen = Int(p[p.startIndex + 1]), srcLen = Int(p[p.startIndex + 2])
        var r = FIBRuleOf<A>()
        if srcLen > 0 {
            guard srcLen <= A.bitWidth, a[FRA.SRC]?.count == A.bitWidth / 8, let s = Self.addr(a[FRA.SRC], A.self) else { throw NetlinkError(EINVAL, "Invalid source address") }
            r.src = LPMTrie<A>.mask(s, srcLen); r.srcLen = srcLen
        }
        if dstLen > 0 {
            guard dstLen <= A.bitWidth, a[FRA.DST]?.count == A.bitWidth / 8, let d = Self.addr(a[FRA.DST], A.self) else { throw NetlinkError(EINVAL, "Invalid dst address") }
            r.dst = LPMTrie<A>.mask(d, dstLen); r.dstLen = dstLen
        }
        // fib4_rule_configure: FRA_FLOW, the realms of what the rule finds (IPv6 ignores it).
        if A.bitWidth == 32, let f = a.u32(FRA.FLOW) { r.realm = f }
        for (t, what) in [(FRA.TUN_ID, "Sluice's rules do not match tunnel ids"),
                          (FRA.SUPPRESS_IFGROUP, "Sluice's rules do not suppress by interface group")] where a.has(t) {
            throw NetlinkError(EOPNOTSUPP, what, offset: a.offsets[t])
        }
        r.l3mdev = a.u8(FRA.L3MDEV) ?? 0
        r.priority = a.u32(FRA.PRIORITY) ?? 0
        r.proto = a.u8(FRA.PROTOCOL) ?? 0
        if let n = a.string(FRA.IIFNAME) { r.iifName = n; r.iif = dp.device(named: n)?.ifindex ?? -1 }
        if let n = a.string(FRA.OIFNAME) { r.oifName = n; r.oif = dp.device(named: n)?.ifindex ?? -1 }
        if let m = a.u32(FRA.FWMARK) { r.mark = m; if m != 0 { r.markMask = .max } }
        if let m = a.u32(FRA.FWMASK) { r.markMask = m }
        r.action = p[p.startIndex + 7]
        r.flags = p.le32(at: 8) & (RuleAction.flagInvert | RuleAction.flagPermanent)
        r.table = a.u32(FRA.TABLE) ?? UInt32(p[p.startIndex + 4])
        if let s = a.u32(FRA.SUPPRESS_PREFIXLEN) { r.suppressPrefixLen = Int32(bitPattern: s) }
        r.target = a.u32(FRA.GOTO) ?? 0
        if let u = a[FRA.UID_RANGE] {
            guard u.count == 8 else { throw NetlinkError(EINVAL, "Invalid uid range") }
            r.uidStart = u.le32(at: 0); r.uidEnd = u.le32(at: 4)
        }
        r.ipProto = a.u8(FRA.IP_PROTO) ?? 0
        for t in [FRA.SPORT_RANGE, FRA.DPORT_RANGE] {
            guard let v = a[t] else { continue }
            guard v.count == 4 else { throw NetlinkError(EINVAL, "Invalid \(t == FRA.SPORT_RANGE ? "sport" : "dport") range") }
            if A.bitWidth == 128 { throw NetlinkError(EOPNOTSUPP, "Sluice's IPv6 rules do not match ports", offset: a.offsets[t]) }
            if t == FRA.SPORT_RANGE { r.sportStart = v.le16(at: 0); r.sportEnd = v.le16(at: 2) }
            else { r.dportStart = v.le16(at: 0); r.dportEnd = v.le16(at: 2) }
        }
        if let d = a.u8(FRA.DSCP) {
            guard d <= 63 else { throw NetlinkError(EINVAL, "Invalid dscp", offset: a.offsets[FRA.DSCP]) }
            r.tos = d << 2
        } else {
            r.tos = p[p.startIndex + 3]
        }
        return (r, a.has(FRA.PRIORITY))
    }

    func changeRule<A: InetAddressValue>(_ msg: NetlinkMessage, _ fib: FIBOf<A>, delete: Bool) throws(NetlinkError) {
        let (r, given) = try decodeRule(msg, A.self)
        if r.realm != 0 && !delete { fib.hasRealms = true }     // fib_num_tclassid_users
        do {
            if delete { try fib.deleteRule(r, priorityGiven: given) }
            else { try fib.addRule(r, priorityGiven: given, exclusive: msg.header.flags & NL.F_EXCL != 0) }
        } catch {
            switch error {
            case .exists: throw NetlinkError(EEXIST)
            case .notFound: throw NetlinkError(ENOENT)
            case .permanent: throw NetlinkError(EPERM)
            case .invalid(let m): throw NetlinkError(EINVAL, m)
            }
        }
    }

    /// fib_nl_fill_rule with fib4_rule_fill / fib6_rule_fill.
    func encodeRule<A: InetAddressValue>(_ r: FIBRuleOf<A>, _ fib: FIBOf<A>, type: UInt16, flags: UInt16, seq: UInt32, _ w: inout NetlinkWriter) {
        let start = w.begin(type: type, flags: flags, seq: seq, pid: pid)
        var f = r.flags
        if r.action == RuleAction.goto && !fib.rules.contains(where: { $0.priority == r.target }) { f |= RuleAction.flagUnresolved }
        if !r.iifName.isEmpty && r.iif == -1 { f |= RuleAction.flagIifDetached }
        if !r.oifName.isEmpty && r.oif == -1 { f |= RuleAction.flagOifDetached }
        w.put8(A.bitWidth == 128 ? Self.AF_INET6 : Self.AF_INET); w.put8(UInt8(r.dstLen)); w.put8(UInt8(r.srcLen)); w.put8(r.tos)
        w.put8(r.table < 256 ? UInt8(r.table) : 252); w.put8(0); w.put8(0); w.put8(r.action)
        w.put32(f)
        w.attr(FRA.TABLE, u32: r.table)
        w.attr(FRA.SUPPRESS_PREFIXLEN, u32: UInt32(bitPattern: r.suppressPrefixLen))
        w.attr(FRA.PROTOCOL, u8: r.proto)
        if !r.iifName.isEmpty { w.attr(FRA.IIFNAME, string: r.iifName) }
        if !r.oifName.isEmpty { w.attr(FRA.OIFNAME, string: r.oifName) }
        if r.priority != 0 { w.attr(FRA.PRIORITY, u32: r.priority) }
        if r.mark != 0 { w.attr(FRA.FWMARK, u32: r.mark) }
        if r.mark != 0 || r.markMask != 0 { w.attr(FRA.FWMASK, u32: r.markMask) }
        if r.target != 0 { w.attr(FRA.GOTO, u32: r.target) }
        if r.uidSet {
            var u = NetlinkWriter(); u.put32(r.uidStart); u.put32(r.uidEnd)
            w.attr(FRA.UID_RANGE, u.bytes)
        }
        for (t, s, e) in [(FRA.SPORT_RANGE, r.sportStart, r.sportEnd), (FRA.DPORT_RANGE, r.dportStart, r.dportEnd)] where e != 0 {
            w.attr(t, [UInt8(s & 0xFF), UInt8(s >> 8), UInt8(e & 0xFF), UInt8(e >> 8)])
        }
        if r.ipProto != 0 { w.attr(FRA.IP_PROTO, u8: r.ipProto) }
        if r.dstLen > 0 { w.attr(FRA.DST, Self.bytes(r.dst)) }
        if r.srcLen > 0 { w.attr(FRA.SRC, Self.bytes(r.src)) }
        if r.realm != 0 { w.attr(FRA.FLOW, u32: r.realm) }
        if r.l3mdev != 0 { w.attr(FRA.L3MDEV, u8: r.l3mdev) }
        w.end(start)
    }

    /// fib_nl_dumprule: one family's rules, or IPv4's then IPv6's for AF_UNSPEC.
    func dumpRules(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let p = msg.payload
        let family = p.first ?? 0
        if strictCheck {
            guard p.count >= 12 else { throw NetlinkError(EINVAL, "Invalid header for fib rule dump request") }
            guard p[(p.startIndex + 1)..<(p.startIndex + 12)].allSatisfy({ $0 == 0 }) else {
                throw NetlinkError(EINVAL, "Invalid values in header for fib rule dump request")
            }
        }
        guard family == 0 || family == Self.AF_INET || family == Self.AF_INET6 else { throw NetlinkError(EAFNOSUPPORT) }
        let v4 = family != Self.AF_INET6 ? dp.ipv4.fib.rules : [], v6 = family != Self.AF_INET ? dp.ipv6.fib.rules : []
        let seq = msg.header.seq
        let f4 = dp.ipv4.fib, f6 = dp.ipv6.fib
        dumpInParts(seq: seq, count: v4.count + v6.count, &replies) { [unowned self] i, w in
            if i < v4.count { encodeRule(v4[i], f4, type: FRA.RTM_NEWRULE, flags: NL.F_MULTI, seq: seq, &w) }
            else { encodeRule(v6[i - v4.count], f6, type: FRA.RTM_NEWRULE, flags: NL.F_MULTI, seq: seq, &w) }
        }
    }

    /// Every rule of the family as its notification would carry it, for the before/after
    /// comparison that announces a change.
    func ruleMessages(v6: Bool) -> [[UInt8]] {
        func all<A: InetAddressValue>(_ fib: FIBOf<A>) -> [[UInt8]] {
            fib.rules.map { r in var w = NetlinkWriter(); encodeRule(r, fib, type: FRA.RTM_NEWRULE, flags: 0, seq: 0, &w); return w.bytes }
        }
        return v6 ? all(dp.ipv6.fib) : all(dp.ipv4.fib)
    }
}
