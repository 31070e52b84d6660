#if canImport(Glibc)
import Glibc
#endif

/// Principles (net/ipv4/nexthop.c)
/// ----------
/// Nexthop objects, as `ip nexthop` makes them: a nexthop with an id of its own — a gateway
/// and device (IPv4 or IPv6), a device alone, or a blackhole — or a group of them with
/// weights (hash-threshold multipath). One table per daemon serves both families, as the
/// kernel keeps one per namespace. A route names one by id (`nhid`); it then has no next hops
/// of its own.
///
/// The forwarding path never sees the objects: a route with an id carries a copy of what
/// the object resolves to (its next hops with their weights, or the blackhole), and every
/// change to an object — replace, a member leaving a group, the object going — rewrites the
/// routes that use it in the same control step (their flat forwarding records are rebuilt),
/// so a replace moves every route at once, as replacing the object in place does in the
/// kernel. Objects through a device that goes down or away are removed (nexthop_flush_dev),
/// and with them the routes that use them; a group that loses a member keeps the others and
/// goes when it loses the last (remove_nh_grp_entry).
///
/// Left out: resilient groups (`type resilient`), FDB nexthops (`fdb`), lightweight tunnel
/// encapsulation (`encap`), hardware statistics, and IPv4 routes through an IPv6 nexthop
/// (RFC 5549: Sluice's IPv4 path resolves IPv4 gateways only) — each refused by name.
public struct NexthopObject: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var id: UInt32
        /// 1…256 (nexthop_grp's weight + 1).
        public var weight: Int
        public init(id: UInt32, weight: Int = 1) { self.id = id; self.weight = weight }
    }
    public enum Kind: Sendable, Equatable {
        /// A gateway (0: none, the destination is on the device) through a device.
        case single(v6: Bool, gateway: UInt128, dev: Int32, onlink: Bool)
        case blackhole(v6: Bool)
        case group([Member])
    }
    public var id: UInt32
    public var kind: Kind
    /// nh_protocol: who installed it (as a route's protocol).
    public var proto: UInt8 = 0
    /// nhc_scope as the kernel sets it: host for an IPv4 nexthop without a gateway, link for
    /// any other single nexthop, 0 for a blackhole or a group.
    public var scope: UInt8 = 0

    public init(id: UInt32, kind: Kind, proto: UInt8 = 0) {
        self.id = id; self.kind = kind; self.proto = proto
        if case .single(let v6, let gw, _, _) = kind { scope = !v6 && gw == 0 ? RouteScope.host : RouteScope.link }
    }

    public var isGroup: Bool { if case .group = kind { true } else { false } }
    public var members: [Member] { if case .group(let m) = kind { m } else { [] } }
    public var dev: Int32 { if case .single(_, _, let d, _) = kind { d } else { 0 } }
}

/// Why a nexthop request was refused: the kernel's errno and extack message.
public struct NexthopError: Error, Sendable {
    public var errno: Int32
    public var message: String
    init(_ errno: Int32, _ message: String) { self.errno = errno; self.message = message }
}

/// The daemon's nexthop objects by id, and what uses them.
public final class NexthopTable {
    public internal(set) var objects: [UInt32: NexthopObject] = [:]
    /// nh_find_unused_id's cursor (net->nexthop.last_id_allocated).
    var lastID: UInt32 = 0
    /// Bumped on every change (nh_base_seq_inc): a dump that spans one is interrupted.
    public internal(set) var generation: UInt64 = 0
    /// While a request is being announced: what removeNexthop did, in the kernel's order
    /// (an object deleted, then the groups it left changed or deleted in turn).
    var log: [(id: UInt32, deleted: Bool)]? = nil

    init() {}

    public var sortedIDs: [UInt32] { objects.keys.sorted() }

    /// The groups `id` is a member of.
    func groups(containing id: UInt32) -> [UInt32] {
        objects.values.filter { $0.members.contains { $0.id == id } }.map(\.id).sorted()
    }

    /// nh_find_unused_id: the next id after the last one handed out that is free (0: none).
    func unusedID() -> UInt32 {
        let start = lastID
        while true {
            lastID &+= 1
            if lastID == start { return 0 }
            if lastID != 0 && lastID <= UInt32(Int32.max) && objects[lastID] == nil { return lastID }
        }
    }

    /// Whether `nh` is, or has a member, of the family (fib6_check_nexthop's has_v4).
    func has(_ nh: NexthopObject, v6 wanted: Bool) -> Bool {
        switch nh.kind {
        case .single(let v6, _, _, _), .blackhole(let v6): v6 == wanted
        case .group(let m): m.contains { objects[$0.id].map { has($0, v6: wanted) } ?? false }
        }
    }

    /// nexthop_is_blackhole: a blackhole, or a group whose only member is one.
    func isBlackhole(_ nh: NexthopObject) -> Bool {
        switch nh.kind {
        case .blackhole: true
        case .single: false
        case .group(let m): m.count == 1 && objects[m[0].id].map { if case .blackhole = $0.kind { true } else { false } } ?? false
        }
    }

    /// nh_check_attr_group and valid_group_nh: members exist, are not groups, appear once,
    /// and a blackhole is a member only of a group of one.
    func checkGroup(_ m: [NexthopObject.Member]) throws(NexthopError) {
        for (i, x) in m.enumerated() {
            guard (1...256).contains(x.weight) else { throw NexthopError(EINVAL, "Invalid value for weight") }
            if m[(i + 1)...].contains(where: { $0.id == x.id }) { throw NexthopError(EINVAL, "Nexthop id can not be used twice in a group") }
        }
        for x in m {
            guard let nh = objects[x.id] else { throw NexthopError(EINVAL, "Invalid nexthop id") }
            switch nh.kind {
            case .group: throw NexthopError(EINVAL, "Hash-threshold group can not be a nexthop within a group")
            case .blackhole where m.count > 1: throw NexthopError(EINVAL, "Blackhole nexthop can not be used in a group with more than 1 path")
            default: break
            }
        }
    }

    /// What a route of family `A` through `id` forwards with: its next hops (weights from the
    /// group), or nil next hops and `blackhole` for a blackhole.
    func resolve<A: InetAddressValue>(_ id: UInt32, _: A.Type) -> (nexthops: [NextHopOf<A>], blackhole: Bool)? {
        guard let nh = objects[id] else { return nil }
        if isBlackhole(nh) { return ([], true) }
        // (A nested function matching the object's kind here crashes the release build's
        // ownership verifier in Swift 6.3; a static one does not.)
        switch nh.kind {
        case .group(let m):
            var hops: [NextHopOf<A>] = []
            for x in m { if let o = objects[x.id], let h = Self.hop(o.kind, weight: x.weight, A.self) { hops.append(h) } }
            return (hops, false)
        default:
            return (Self.hop(nh.kind, weight: 1, A.self).map { [$0] } ?? [], false)
        }
    }

    /// A single object's next hop, of family `A`.
    static func hop<A: InetAddressValue>(_ kind: NexthopObject.Kind, weight: Int, _: A.Type) -> NextHopOf<A>? {
        switch kind {
        case .single(_, let gw, let dev, let onlink): NextHopOf<A>(gateway: A(truncatingIfNeeded: gw), dev: dev, weight: weight, onlink: onlink)
        default: nil
        }
    }
}

extension Datapath {
    /// Rewrites every route that uses one of `ids` from what its object now resolves to, and
    /// deletes those whose object is gone (fib_flush for IPv4, ip6_del_rt for IPv6).
    func refreshNexthopRoutes(_ ids: Set<UInt32>) {
        guard !ids.isEmpty else { return }
        func walk<A: InetAddressValue>(_ fib: FIBOf<A>) {
            for t in fib.tables.values {
                for i in t.prefixes.indices {
                    guard let e = t.prefixes[i], e.routes.contains(where: { ids.contains($0.nhid) }) else { continue }
                    for j in e.routes.indices where ids.contains(e.routes[j].nhid) {
                        guard let (hops, blackhole) = nexthops.resolve(e.routes[j].nhid, A.self) else { continue }
                        t.prefixes[i]!.routes[j].nexthops = hops
                        t.prefixes[i]!.routes[j].type = blackhole ? .blackhole : .unicast
                    }
                    t.rebuild(i)
                    // Those whose object is gone leave through delete (journal, empty prefixes).
                    while t.delete(e.prefix, e.length, matching: { $0.nhid != 0 && ids.contains($0.nhid) && self.nexthops.objects[$0.nhid] == nil }) {}
                }
            }
        }
        // IPv4's fib_flush announces nothing; IPv6's ip6_del_rt does (through the journal).
        let on = ipv4.fib.journal.on
        ipv4.fib.journal.on = false
        walk(ipv4.fib)
        ipv4.fib.journal.on = on
        walk(ipv6.fib)
    }

    /// remove_nexthop: the object goes, and with it the routes that use it; each group it was
    /// in loses it (and goes too when it was the last member).
    func removeNexthop(_ id: UInt32) {
        guard nexthops.objects[id] != nil else { return }
        nexthops.objects[id] = nil
        nexthops.log?.append((id, true))
        var touched: Set<UInt32> = [id]
        for g in nexthops.groups(containing: id) {
            guard var o = nexthops.objects[g] else { continue }
            let rest = o.members.filter { $0.id != id }
            if rest.isEmpty {
                removeNexthop(g)
            } else {
                o.kind = .group(rest)
                nexthops.objects[g] = o
                nexthops.log?.append((g, false))
                touched.insert(g)
            }
        }
        nexthops.generation &+= 1
        refreshNexthopRoutes(touched)
    }

    /// nexthop_flush_dev: a device went down or away — the nexthops through it go (a
    /// blackhole's device is lo, which stays for NETDEV_DOWN).
    func flushNexthops(dev: Int32) {
        for id in nexthops.sortedIDs where nexthops.objects[id]?.dev == dev { removeNexthop(id) }
    }
}
