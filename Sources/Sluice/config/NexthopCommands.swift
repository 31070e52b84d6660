#if canImport(Glibc)
import Glibc
#endif

/// `nexthop` in ip-nexthop(8)'s words, parsed to the typed object (ipv4/Nexthops.swift) that
/// RTM_NEWNEXTHOP also produces, checked and applied by the same steps (rtm_to_nh_config,
/// nexthop_create, insert_nexthop, replace_nexthop); `nexthop show` prints as `ip nexthop`.
extension CommandRunner {
    /// A request as rtm_to_nh_config reads it.
    struct NexthopRequest {
        var id: UInt32 = 0
        var v6: Bool? = nil
        var gateway: UInt128 = 0
        var hasGateway = false
        var dev: Int32 = 0
        var onlink = false
        var blackhole = false
        var group: [NexthopObject.Member]? = nil
        var proto: UInt8 = 0
    }

    /// nexthop_create's checks of a single nexthop (device up with carrier, the gateway on a
    /// connected route of that device unless onlink — the same check a route's gateway gets)
    /// or a group's (nh_check_attr_group), then the object.
    func makeNexthop(_ q: NexthopRequest) throws(SluiceError) -> NexthopObject {
        if let g = q.group {
            do { try dp.nexthops.checkGroup(g) } catch { throw SluiceError("Error: \(error.message).") }
            return NexthopObject(id: q.id, kind: .group(g), proto: q.proto)
        }
        let v6 = q.v6 ?? false
        if q.blackhole { return NexthopObject(id: q.id, kind: .blackhole(v6: v6), proto: q.proto) }
        guard q.dev != 0 else { throw SluiceError("Error: Device attribute required for non-blackhole and non-fdb nexthops.") }
        guard let d = dp.device(q.dev) else { throw SluiceError("Error: Invalid device index.") }
        guard d.isUp else { throw SluiceError("Error: Nexthop device is not up (Network is down).") }
        guard d.carrier else { throw SluiceError("Error: Carrier for nexthop device is down (Network is down).") }
        // nh_create_ipv6's fib6_nh_init: no inet6_dev is ENODEV, a disabled one EACCES.
        if v6 && d.inet6Absent { throw SluiceError("RTNETLINK answers: No such device") }
        if v6 && d.inet6.disabled { throw SluiceError("Error: IPv6 is disabled on nexthop device (Permission denied).") }
        if !q.hasGateway && q.onlink { throw SluiceError("Error: ONLINK flag can not be set for nexthop without a gateway.") }
        if q.hasGateway {
            if v6 {
                var r = RouteSpec<UInt128>()
                r.route.nexthops = [NextHopOf(gateway: q.gateway, dev: q.dev, onlink: q.onlink)]
                try resolveNextHops(&r, dp.ipv6)
            } else {
                var r = RouteSpec<UInt32>()
                r.route.nexthops = [NextHopOf(gateway: UInt32(truncatingIfNeeded: q.gateway), dev: q.dev, onlink: q.onlink)]
                try resolveNextHops(&r, dp.ipv4)
            }
        }
        return NexthopObject(id: q.id, kind: .single(v6: v6, gateway: q.gateway, dev: q.dev, onlink: q.onlink), proto: q.proto)
    }

    /// nexthop_add with insert_nexthop: a new id (0: the next free one), or with `replace` the
    /// object of that id changed in place (replace_nexthop), the routes using it moved at once.
    /// Returns the id.
    @discardableResult
    func insertNexthop(_ q: NexthopRequest, replace: Bool, create: Bool) throws(SluiceError) -> UInt32 {
        let table = dp.nexthops
        var q = q
        if replace && q.id == 0 { throw SluiceError("Error: Replace requires nexthop id.") }
        if q.id == 0 {
            q.id = table.unusedID()
            if q.id == 0 { throw SluiceError("Error: No unused id.") }
        }
        guard q.id <= UInt32(Int32.max) else { throw SluiceError("Error: Invalid nexthop id.") }
        let new = try makeNexthop(q)
        if let old = table.objects[q.id] {
            guard replace else { throw SluiceError("RTNETLINK answers: File exists") }
            try checkReplace(old, new)
            table.objects[q.id] = new
            table.generation &+= 1
            dp.refreshNexthopRoutes(Set([q.id] + table.groups(containing: q.id)))
            return q.id
        }
        if replace && !create { throw SluiceError("Error: Replace specified without create and no entry exists (No such file or directory).") }
        table.objects[q.id] = new
        table.generation &+= 1
        return q.id
    }

    /// replace_nexthop's checks: a group stays a group and a nexthop a nexthop; a blackhole
    /// joins no group of more than one; the routes using it (directly or through a group)
    /// still accept it (fib_check_nh_list, fib6_check_nh_list).
    func checkReplace(_ old: NexthopObject, _ new: NexthopObject) throws(SluiceError) {
        let table = dp.nexthops
        if old.isGroup && !new.isGroup { throw SluiceError("Error: Can not replace a nexthop group with a nexthop.") }
        if !old.isGroup && new.isGroup { throw SluiceError("Error: Can not replace a nexthop with a nexthop group.") }
        let groups = table.groups(containing: old.id)
        if case .blackhole = new.kind, groups.contains(where: { (table.objects[$0]?.members.count ?? 0) > 1 }) {
            throw SluiceError("Error: Blackhole nexthop can not be a member of a group with more than one path.")
        }
        if new.isGroup { do { try table.checkGroup(new.members) } catch { throw SluiceError("Error: \(error.message).") } }
        // What the routes will see once it is in: the new object in place of the old.
        let users = Set([old.id] + groups)
        let saved = table.objects[old.id]
        table.objects[old.id] = new
        defer { table.objects[old.id] = saved }
        func check<A: InetAddressValue>(_ fib: FIBOf<A>) throws(SluiceError) {
            for t in fib.tables.values {
                for case let e? in t.prefixes {
                    for r in e.routes where users.contains(r.nhid) {
                        if let o = table.objects[r.nhid] { try checkRouteUse(o, v6: A.bitWidth == 128, scope: r.scope) }
                    }
                }
            }
        }
        try check(dp.ipv6.fib)
        try check(dp.ipv4.fib)
    }

    /// rtm_del_nexthop: the object and what depends on it.
    func deleteNexthop(_ id: UInt32) throws(SluiceError) {
        guard id != 0 else { throw SluiceError("Error: Invalid nexthop id.") }
        guard dp.nexthops.objects[id] != nil else { throw SluiceError("RTNETLINK answers: No such file or directory") }
        dp.removeNexthop(id)
    }

    /// The objects `show` lists, as nh_dump_filtered selects them.
    func nexthopsShown(family: UInt8, dev: Int32, master: Int32, groupsOnly: Bool) -> [NexthopObject] {
        dp.nexthops.sortedIDs.compactMap { dp.nexthops.objects[$0] }.filter { nh in
            if groupsOnly && !nh.isGroup { return false }
            if dev == 0 && master == 0 && family == 0 { return true }
            if nh.isGroup { return false }
            let v6: Bool
            switch nh.kind { case .single(let x, _, _, _), .blackhole(let x): v6 = x; case .group: v6 = false }
            if family != 0 && family != (v6 ? 10 : 2) { return false }
            if dev != 0 && nh.dev != dev { return false }
            if master != 0 && (nh.dev == 0 || dp.device(nh.dev)?.master != master) { return false }
            return true
        }
    }

    func nexthop(_ w: [String], _ opts: Options = Options()) throws(SluiceError) -> String {
        var a = Args(Array(w.dropFirst()))
        let verb = try match(w.first ?? "show", ["add", "replace", "delete", "show", "list", "get", "flush"], what: "nexthop command")
        switch verb {
        case "add", "replace":
            var q = NexthopRequest()
            if opts.family == 4 { q.v6 = false } else if opts.family == 6 { q.v6 = true }
            while let k = a.next() {
                switch k {
                case "id":
                    let v = try a.value(for: "id")
                    guard let id = UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: \"id\" value is invalid") }
                    q.id = id
                case "via":
                    let v = try a.value(for: "via")
                    if let g = CommandRunner.parseIPv4(v) { q.gateway = UInt128(g); q.v6 = q.v6 ?? false }
                    else if let g = CommandRunner.parseIPv6(v) { q.gateway = g; q.v6 = true }
                    else { throw SluiceError("Error: an inet address is expected rather than \"\(v)\".") }
                    q.hasGateway = true
                case "dev": q.dev = try device(try a.value(for: "dev")).ifindex
                case "onlink": q.onlink = true
                case "blackhole": q.blackhole = true
                case "proto", "protocol":
                    let v = try a.value(for: k)
                    guard let n = RouteProtocol.parse(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: \"protocol\" value is invalid") }
                    q.proto = n
                case "group":
                    let v = try a.value(for: "group")
                    var m: [NexthopObject.Member] = []
                    for part in v.split(separator: "/", omittingEmptySubsequences: false) {
                        let iw = part.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
                        guard let id = UInt32(iw[0]), let wt = iw.count == 2 ? Int(iw[1]) : 1, (1...256).contains(wt) else {
                            throw SluiceError("Error: invalid nexthop group \"\(v)\"")
                        }
                        m.append(NexthopObject.Member(id: id, weight: wt))
                    }
                    q.group = m
                case "type":
                    let v = try a.value(for: "type")
                    guard v == "mpath" else { throw SluiceError("Error: Sluice's nexthop groups are hash-threshold (mpath) only; resilient groups are not implemented (Operation not supported).") }
                case "fdb", "encap":
                    throw SluiceError("Error: Sluice's nexthops have no \(k == "fdb" ? "FDB nexthops" : "lightweight tunnel encapsulation") (Operation not supported).")
                default: throw SluiceError("Error: either \"\(k)\" is unknown or it is a garbage.")
                }
            }
            if q.group != nil && (q.hasGateway || q.dev != 0 || q.blackhole) { throw SluiceError("Error: No other attributes can be set in nexthop groups.") }
            if q.blackhole && (q.hasGateway || q.dev != 0) { throw SluiceError("Error: Blackhole attribute can not be used with gateway, oif, encap or fdb.") }
            try insertNexthop(q, replace: verb == "replace", create: true)
            return ""
        case "delete", "get":
            guard a.next() == "id", let v = a.next(), let id = UInt32(v) else { throw SluiceError("Error: nexthop \(verb) needs \"id ID\"") }
            if verb == "delete" { try deleteNexthop(id); return "" }
            guard let nh = dp.nexthops.objects[id] else { throw SluiceError("RTNETLINK answers: No such file or directory") }
            return nexthopLine(nh, details: opts.details) + "\n"
        default:
            var dev: Int32 = 0, master: Int32 = 0, groups = false, id: UInt32? = nil
            while let k = a.next() {
                switch k {
                case "dev": dev = try device(try a.value(for: "dev")).ifindex
                case "master": master = try device(try a.value(for: "master")).ifindex
                case "groups": groups = true
                case "id":
                    let v = try a.value(for: "id")
                    guard let n = UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: \"id\" value is invalid") }
                    id = n
                default: throw SluiceError("Error: either \"\(k)\" is unknown or it is a garbage.")
                }
            }
            let family: UInt8 = opts.family == 4 ? 2 : opts.family == 6 ? 10 : 0
            var list = nexthopsShown(family: family, dev: dev, master: master, groupsOnly: groups)
            if let id { list = list.filter { $0.id == id } }
            if verb == "flush" {
                for nh in list where dp.nexthops.objects[nh.id] != nil { dp.removeNexthop(nh.id) }
                return ""
            }
            return list.map { nexthopLine($0, details: opts.details) + "\n" }.joined()
        }
    }

    /// print_nexthop: id, group, via, dev, scope, blackhole, proto, flags.
    func nexthopLine(_ nh: NexthopObject, details: Bool) -> String {
        var s = "id \(nh.id) "
        switch nh.kind {
        case .group(let m): s += "group " + m.map { $0.weight == 1 ? "\($0.id)" : "\($0.id),\($0.weight)" }.joined(separator: "/") + " "
        case .single(let v6, let gw, let dev, _):
            if gw != 0 { s += "via \(v6 ? Self.ip6String(gw) : Self.ipString(UInt32(truncatingIfNeeded: gw))) " }
            s += "dev \(dp.device(dev)?.name ?? "?") "
        case .blackhole: break
        }
        if nh.scope != 0 || details { s += "scope \(RouteScope.name(nh.scope)) " }
        if case .blackhole = nh.kind { s += "blackhole " }
        if nh.proto != 0 || details { s += "proto \(nh.proto == 0 ? "unspec" : RouteProtocol.name(nh.proto)) " }
        if case .single(_, _, _, true) = nh.kind { s += "onlink " }
        return s
    }
}
