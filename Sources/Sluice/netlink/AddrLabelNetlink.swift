#if canImport(Glibc)
import Glibc
#endif

/// Principles (net/ipv6/addrlabel.c: ip6addrlbl_newdel, ip6addrlbl_get, ip6addrlbl_dump)
/// ----------
/// `ip addrlabel`: the IPv6 source-selection policy table. Only AF_INET6 has handlers (any
/// other family is EOPNOTSUPP, as rtnetlink finds none); a change is announced to no group,
/// and an entry bound to a device outlives the device, as in the kernel.
enum IFAL {
    static let ADDRESS: UInt16 = 1, LABEL: UInt16 = 2
    static let RTM_NEWADDRLABEL: UInt16 = 72, RTM_DELADDRLABEL: UInt16 = 73, RTM_GETADDRLABEL: UInt16 = 74
    /// struct ifaddrlblmsg: family, reserved, prefixlen, flags, index (u32), seq (u32).
    static let headerLength = 12
    /// ifal_policy: lengths are minimums (NLA_UNSPEC with .len).
    static let policy = NLAPolicy(maxType: 2, [ADDRESS: .minLength(16), LABEL: .minLength(4)])
}

extension RtnlProcessor {
    func encodeAddrLabel(_ e: AddressLabelTable.Entry, seq tableSeq: UInt32, flags: UInt16, seq: UInt32, _ w: inout NetlinkWriter) {
        let start = w.begin(type: IFAL.RTM_NEWADDRLABEL, flags: flags, seq: seq, pid: pid)
        w.put8(Self.AF_INET6); w.put8(0); w.put8(UInt8(e.prefixLen)); w.put8(0)
        w.put32(UInt32(bitPattern: e.ifindex)); w.put32(tableSeq)
        w.attr(IFAL.ADDRESS, Self.bytes(e.prefix))
        w.attr(IFAL.LABEL, u32: e.label)
        w.end(start)
    }

    /// ip6addrlbl_newdel.
    func changeAddrLabel(_ msg: NetlinkMessage) throws(NetlinkError) {
        guard msg.payload.first == Self.AF_INET6 else { throw NetlinkError(EOPNOTSUPP) }
        let p = msg.payload
        // nlmsg_parse_deprecated: a header shorter than ifaddrlblmsg is EINVAL.
        guard p.count >= IFAL.headerLength else { throw NetlinkError(EINVAL) }
        let a = try NLAttributes.parse(p.dropFirst(IFAL.headerLength), base: NL.hdrLen + IFAL.headerLength, policy: IFAL.policy, strict: false)
        let plen = Int(p[p.startIndex + 2])
        let ifindex = Int32(bitPattern: p.le32(at: 4))
        guard plen <= 128 else { throw NetlinkError(EINVAL) }
        guard let prefix = Self.addr(a[IFAL.ADDRESS]?.prefix(16), UInt128.self) else { throw NetlinkError(EINVAL) }
        guard let label = a[IFAL.LABEL].map({ $0.le32(at: 0) }), label != AddressLabelTable.labelDefault else { throw NetlinkError(EINVAL) }
        if msg.header.type == IFAL.RTM_NEWADDRLABEL {
            if ifindex != 0 && dp.device(ifindex) == nil { throw NetlinkError(EINVAL) }
            try dp.ipv6.addressLabels.add(prefix: prefix, prefixLen: plen, ifindex: ifindex, label: label, replace: msg.header.flags & NL.F_REPLACE != 0)
        } else {
            try dp.ipv6.addressLabels.delete(prefix: prefix, prefixLen: plen, ifindex: ifindex)
        }
    }

    /// ip6addrlbl_get: the entry a /128 address takes its label from.
    func getAddrLabel(_ msg: NetlinkMessage) throws(NetlinkError) -> [UInt8] {
        let p = msg.payload
        guard p.first == Self.AF_INET6 else { throw NetlinkError(EOPNOTSUPP) }
        guard p.count >= IFAL.headerLength else { throw NetlinkError(EINVAL, "ipv6: Invalid header for addrlabel get request") }
        let base = NL.hdrLen + IFAL.headerLength
        let a: NLAttributes
        if strictCheck {
            guard p[p.startIndex + 1] == 0, p[p.startIndex + 3] == 0, p.le32(at: 8) == 0 else {
                throw NetlinkError(EINVAL, "ipv6: Invalid values in header for addrlabel get request")
            }
            a = try NLAttributes.parse(p.dropFirst(IFAL.headerLength), base: base, policy: IFAL.policy, strict: true)
            if a.has(IFAL.LABEL) { throw NetlinkError(EINVAL, "ipv6: Unsupported attribute in addrlabel get request") }
        } else {
            a = try NLAttributes.parse(p.dropFirst(IFAL.headerLength), base: base, policy: IFAL.policy, strict: false)
        }
        let ifindex = Int32(bitPattern: p.le32(at: 4))
        guard p[p.startIndex + 2] == 128 else { throw NetlinkError(EINVAL) }
        if ifindex != 0 && dp.device(ifindex) == nil { throw NetlinkError(EINVAL) }
        guard let addr = Self.addr(a[IFAL.ADDRESS]?.prefix(16), UInt128.self) else { throw NetlinkError(EINVAL) }
        let table = dp.ipv6.addressLabels
        guard let e = table.entry(for: addr, ifindex: ifindex) else { throw NetlinkError(ESRCH) }
        var w = NetlinkWriter()
        encodeAddrLabel(e, seq: table.seq, flags: 0, seq: msg.header.seq, &w)
        return w.bytes
    }

    /// ip6addrlbl_dump: the table in its order, as it was when the dump began.
    func dumpAddrLabels(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let p = msg.payload
        guard p.first == Self.AF_INET6 else { throw NetlinkError(EOPNOTSUPP) }
        if strictCheck {
            guard p.count >= IFAL.headerLength else { throw NetlinkError(EINVAL, "ipv6: Invalid header for address label dump request") }
            guard p[p.startIndex + 1] == 0, p[p.startIndex + 2] == 0, p[p.startIndex + 3] == 0, p.le32(at: 4) == 0, p.le32(at: 8) == 0 else {
                throw NetlinkError(EINVAL, "ipv6: Invalid values in header for address label dump request")
            }
            guard p.count == IFAL.headerLength else { throw NetlinkError(EINVAL, "ipv6: Invalid data after header for address label dump request") }
        }
        let table = dp.ipv6.addressLabels
        let seq = msg.header.seq
        dumpInParts(seq: seq, count: table.entries.count, &replies) { [unowned self] i, w in
            encodeAddrLabel(table.entries[i], seq: table.seq, flags: NL.F_MULTI, seq: seq, &w)
        }
    }
}
