#if canImport(Glibc)
import Glibc
#endif

/// Principles (net/ipv4/nexthop.c: rtm_new_nexthop, rtm_del_nexthop, rtm_get_nexthop,
/// rtm_dump_nexthop, nh_fill_node)
/// ----------
/// `ip nexthop` over the daemon's socket: RTM_NEWNEXTHOP/DELNEXTHOP/GETNEXTHOP with an nhmsg
/// and NHA_* attributes, decoded under rtm_nh_policy_new (strict: an attribute outside it is
/// refused), checked as rtm_to_nh_config checks them, applied by the command language's steps
/// (NexthopCommands.swift), dumped in id order with nh_dump_filtered's filters (NHA_OIF,
/// NHA_MASTER, NHA_GROUPS, NHA_FDB), and announced to RTNLGRP_NEXTHOP.
enum NHA {
    static let RTM_NEWNEXTHOP: UInt16 = 104, RTM_DELNEXTHOP: UInt16 = 105, RTM_GETNEXTHOP: UInt16 = 106
    static let ID: UInt16 = 1, GROUP: UInt16 = 2, GROUP_TYPE: UInt16 = 3, BLACKHOLE: UInt16 = 4, OIF: UInt16 = 5
    static let GATEWAY: UInt16 = 6, ENCAP_TYPE: UInt16 = 7, ENCAP: UInt16 = 8, GROUPS: UInt16 = 9, MASTER: UInt16 = 10
    static let FDB: UInt16 = 11, RES_GROUP: UInt16 = 12, RES_BUCKET: UInt16 = 13, OP_FLAGS: UInt16 = 14
    static let HW_STATS_ENABLE: UInt16 = 16
    static let GROUP_NOTIFY: UInt32 = 32                       // RTNLGRP_NEXTHOP
    /// NHA_OP_FLAG_RESP_GRP_RESVD_0: the kernel zeroes nexthop_grp's reserved fields.
    static let OP_FLAG_RESP_GRP_RESVD_0: UInt32 = 0x8000_0000

    static let policyNew = NLAPolicy(maxType: 16, [ID: .u32, GROUP: .binary(maxLength: 65535), GROUP_TYPE: .u16, BLACKHOLE: .flag,
                                                   OIF: .u32, GATEWAY: .binary(maxLength: 16), ENCAP_TYPE: .u16, ENCAP: .unspec,
                                                   FDB: .flag, RES_GROUP: .unspec, HW_STATS_ENABLE: .u32])
    static let policyGetDel = NLAPolicy(maxType: 16, [ID: .u32, OP_FLAGS: .u32])
    static let policyDump = NLAPolicy(maxType: 16, [OIF: .u32, GROUPS: .flag, MASTER: .u32, FDB: .flag, OP_FLAGS: .u32])
}

extension RtnlProcessor {
    /// nlmsg_parse with the family's policy, strictly (rtnetlink's newer families reject what
    /// their policy does not name).
    func nexthopAttributes(_ msg: NetlinkMessage, _ policy: NLAPolicy) throws(NetlinkError) -> NLAttributes {
        let p = msg.payload
        guard p.count >= 8 else { throw NetlinkError(EINVAL, "Invalid header for nexthop request") }
        return try NLAttributes.parse(p.dropFirst(8), base: NL.hdrLen + 8, policy: policy, strict: true)
    }

    /// A command-language refusal as the kernel's errno and extack.
    static func nexthopError(_ e: SluiceError, v6: Bool) -> NetlinkError {
        let m = e.message
        if m == "RTNETLINK answers: File exists" { return NetlinkError(EEXIST) }
        if m.contains("invalid gateway") && v6 { return NetlinkError(EHOSTUNREACH) }
        if m.contains("invalid gateway") { return NetlinkError(ENETUNREACH, "Nexthop has invalid gateway") }
        if m.contains("Egress device") { return NetlinkError(EINVAL, "Egress device not specified") }
        if m.hasPrefix("Error: ") && m.hasSuffix(".") && !m.hasSuffix(").") { return netlinkError(SluiceError(String(m.dropLast()))) }
        return netlinkError(e)
    }

    /// rtm_new_nexthop: rtm_to_nh_config, then nexthop_add.
    func newNexthop(_ msg: NetlinkMessage) throws(NetlinkError) {
        let a = try nexthopAttributes(msg, NHA.policyNew)
        let p = msg.payload
        let family = p[p.startIndex], scope = p[p.startIndex + 1], proto = p[p.startIndex + 2], resvd = p[p.startIndex + 3]
        let flags = p.le32(at: 4)
        if resvd != 0 || scope != 0 { throw NetlinkError(EINVAL, "Invalid values in ancillary header") }
        if flags & ~UInt32(RTA.RTNH_F_ONLINK) != 0 { throw NetlinkError(EINVAL, "Invalid nexthop flags in ancillary header") }
        guard family == Self.AF_INET || family == Self.AF_INET6 || (family == 0 && a.has(NHA.GROUP)) else {
            throw NetlinkError(EINVAL, "Invalid address family")
        }
        var q = CommandRunner.NexthopRequest()
        q.id = a.u32(NHA.ID) ?? 0
        q.proto = proto
        q.v6 = family == Self.AF_INET6
        if a.has(NHA.FDB) { throw NetlinkError(EOPNOTSUPP, "Sluice's nexthops have no FDB nexthops", offset: a.offsets[NHA.FDB]) }
        if let g = a[NHA.GROUP] {
            guard family == 0 else { throw NetlinkError(EINVAL, "Invalid family for group") }
            let type = a.u16(NHA.GROUP_TYPE) ?? 0
            if type > 1 { throw NetlinkError(EINVAL, "Invalid group type") }
            guard !g.isEmpty, g.count % 8 == 0 else { throw NetlinkError(EINVAL, "Invalid length for nexthop group attribute") }
            var m: [NexthopObject.Member] = []
            for i in stride(from: 0, to: g.count, by: 8) {
                // struct nexthop_grp: id, weight, weight_high (resvd1 before 6.12), resvd2.
                if g.le16(at: i + 6) != 0 { throw NetlinkError(EINVAL, "Reserved field in nexthop_grp must be 0") }
                let w = (Int(g[g.startIndex + i + 5]) << 8 | Int(g[g.startIndex + i + 4])) + 1
                if w > 256 { throw NetlinkError(EINVAL, "Invalid value for weight") }
                m.append(NexthopObject.Member(id: g.le32(at: i), weight: w))
            }
            for t in [NHA.BLACKHOLE, NHA.OIF, NHA.GATEWAY, NHA.ENCAP_TYPE, NHA.ENCAP] where a.has(t) {
                throw NetlinkError(EINVAL, "No other attributes can be set in nexthop groups", offset: a.offsets[t])
            }
            if type == 1 { throw NetlinkError(EOPNOTSUPP, "Sluice's nexthop groups are hash-threshold only: resilient groups are not implemented", offset: a.offsets[NHA.GROUP_TYPE]) }
            q.group = m
            q.v6 = nil
        } else if a.has(NHA.BLACKHOLE) {
            if a.has(NHA.GATEWAY) || a.has(NHA.OIF) || a.has(NHA.ENCAP) || a.has(NHA.ENCAP_TYPE) {
                throw NetlinkError(EINVAL, "Blackhole attribute can not be used with gateway, oif, encap or fdb")
            }
            q.blackhole = true
        } else {
            guard let oif = a.u32(NHA.OIF) else { throw NetlinkError(EINVAL, "Device attribute required for non-blackhole and non-fdb nexthops") }
            var dev = Int32(bitPattern: oif)
            if let tr = ifindexTranslator, dev != 0 { dev = tr(dev) }
            guard dev != 0, let d = dp.device(dev) else { throw NetlinkError(EINVAL, "Invalid device index") }
            guard d.isUp else { throw NetlinkError(ENETDOWN, "Nexthop device is not up") }
            guard d.carrier else { throw NetlinkError(ENETDOWN, "Carrier for nexthop device is down") }
            q.dev = dev
            if let gw = a[NHA.GATEWAY] {
                guard gw.count == (family == Self.AF_INET ? 4 : 16) else { throw NetlinkError(EINVAL, "Invalid gateway") }
                q.gateway = family == Self.AF_INET ? UInt128(Self.addr(gw, UInt32.self) ?? 0) : Self.addr(gw, UInt128.self) ?? 0
                q.hasGateway = true
            } else if flags & UInt32(RTA.RTNH_F_ONLINK) != 0 {
                throw NetlinkError(EINVAL, "ONLINK flag can not be set for nexthop without a gateway")
            }
            q.onlink = flags & UInt32(RTA.RTNH_F_ONLINK) != 0
            if a.has(NHA.ENCAP) || a.has(NHA.ENCAP_TYPE) {
                throw NetlinkError(EOPNOTSUPP, "Sluice's nexthops have no lightweight tunnel encapsulation", offset: a.offsets[NHA.ENCAP] ?? a.offsets[NHA.ENCAP_TYPE])
            }
            if a.has(NHA.HW_STATS_ENABLE) { throw NetlinkError(EINVAL, "Cannot enable nexthop hardware statistics for non-group nexthops") }
        }
        let f = msg.header.flags
        do {
            try runner.insertNexthop(q, replace: f & NL.F_REPLACE != 0, create: f & NL.F_CREATE != 0)
        } catch {
            throw Self.nexthopError(error, v6: family == Self.AF_INET6)
        }
    }

    /// nh_valid_get_del_req: the id a get or delete names.
    func nexthopID(_ msg: NetlinkMessage) throws(NetlinkError) -> UInt32 {
        let a = try nexthopAttributes(msg, NHA.policyGetDel)
        let p = msg.payload
        if p[p.startIndex + 1] != 0 || p[p.startIndex + 2] != 0 || p[p.startIndex + 3] != 0 || p.le32(at: 4) != 0 {
            throw NetlinkError(EINVAL, "Invalid values in header")
        }
        guard let id = a.u32(NHA.ID) else { throw NetlinkError(EINVAL, "Nexthop id is missing") }
        guard id != 0 else { throw NetlinkError(EINVAL, "Invalid nexthop id") }
        return id
    }

    func delNexthop(_ msg: NetlinkMessage) throws(NetlinkError) {
        let id = try nexthopID(msg)
        guard dp.nexthops.objects[id] != nil else { throw NetlinkError(ENOENT) }
        dp.removeNexthop(id)
    }

    func getNexthop(_ msg: NetlinkMessage) throws(NetlinkError) -> [UInt8] {
        let id = try nexthopID(msg)
        guard let nh = dp.nexthops.objects[id] else { throw NetlinkError(ENOENT) }
        var w = NetlinkWriter()
        encodeNexthop(nh, type: NHA.RTM_NEWNEXTHOP, flags: 0, seq: msg.header.seq, &w)
        return w.bytes
    }

    /// rtm_dump_nexthop with nh_valid_dump_req's filters.
    func dumpNexthops(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let p = msg.payload
        var family: UInt8 = 0, dev: Int32 = 0, master: Int32 = 0, groups = false, fdb = false
        if p.count >= 8 {
            let a = try nexthopAttributes(msg, NHA.policyDump)
            if p[p.startIndex + 1] != 0 || p[p.startIndex + 2] != 0 || p[p.startIndex + 3] != 0 || p.le32(at: 4) != 0 {
                throw NetlinkError(EINVAL, "Invalid values in header for nexthop dump request")
            }
            family = p[p.startIndex]
            if let o = a.u32(NHA.OIF) {
                guard o <= UInt32(Int32.max) else { throw NetlinkError(EINVAL, "Invalid device index") }
                dev = Int32(o)
                if let tr = ifindexTranslator, dev != 0 { dev = tr(dev) }
            }
            if let m = a.u32(NHA.MASTER) {
                guard m <= UInt32(Int32.max) else { throw NetlinkError(EINVAL, "Invalid master device index") }
                master = Int32(m)
                if let tr = ifindexTranslator, master != 0 { master = tr(master) }
            }
            groups = a.has(NHA.GROUPS); fdb = a.has(NHA.FDB)
        } else if let f = p.first {
            family = f
        }
        // Sluice has no FDB nexthops: an `fdb` dump is empty.
        let list = fdb ? [] : runner.nexthopsShown(family: family, dev: dev, master: master, groupsOnly: groups)
        let seq = msg.header.seq
        let generation = dp.nexthops.generation
        dumpInParts(seq: seq, count: list.count, &replies) { [unowned self] i, w in
            // NLM_F_DUMP_INTR once the table changed since the dump began (nh_base_seq).
            let intr = dp.nexthops.generation != generation
            encodeNexthop(list[i], type: NHA.RTM_NEWNEXTHOP, flags: NL.F_MULTI | (intr ? NL.F_DUMP_INTR : 0), seq: seq, &w)
        }
    }

    /// nh_fill_node.
    func encodeNexthop(_ nh: NexthopObject, type: UInt16, flags: UInt16, seq: UInt32, _ w: inout NetlinkWriter) {
        let start = w.begin(type: type, flags: flags, seq: seq, pid: pid)
        var family: UInt8 = 0, scope: UInt8 = 0, nhFlags: UInt32 = 0
        switch nh.kind {
        case .single(let v6, _, _, let onlink):
            family = v6 ? Self.AF_INET6 : Self.AF_INET; scope = nh.scope
            if onlink { nhFlags |= UInt32(RTA.RTNH_F_ONLINK) }
        case .blackhole(let v6): family = v6 ? Self.AF_INET6 : Self.AF_INET
        case .group: break
        }
        w.put8(family); w.put8(scope); w.put8(nh.proto); w.put8(0); w.put32(nhFlags)
        w.attr(NHA.ID, u32: nh.id)
        switch nh.kind {
        case .group(let m):
            var g = NetlinkWriter()
            w.attr(NHA.GROUP_TYPE, [0, 0])
            for x in m { g.put32(x.id); g.put8(UInt8((x.weight - 1) & 0xFF)); g.put8(UInt8((x.weight - 1) >> 8)); g.put16(0) }
            w.attr(NHA.GROUP, g.bytes)
            w.attr(NHA.OP_FLAGS, u32: NHA.OP_FLAG_RESP_GRP_RESVD_0)
        case .blackhole:
            w.attr(NHA.BLACKHOLE, [UInt8]())
        case .single(let v6, let gw, let dev, _):
            w.attr(NHA.OIF, u32: UInt32(bitPattern: dev))
            if gw != 0 { w.attr(NHA.GATEWAY, v6 ? Self.bytes(gw) : Self.bytes(UInt32(truncatingIfNeeded: gw))) }
        }
        w.end(start)
    }

    /// Every nexthop as its notification carries it, keyed by id, for the before/after
    /// comparison that announces a change (nexthop_notify).
    func nexthopMessages() -> [(UInt32, [UInt8])] {
        dp.nexthops.sortedIDs.compactMap { id in
            guard let nh = dp.nexthops.objects[id] else { return nil }
            var w = NetlinkWriter(); encodeNexthop(nh, type: NHA.RTM_NEWNEXTHOP, flags: 0, seq: 0, &w)
            return (id, w.bytes)
        }
    }
}
