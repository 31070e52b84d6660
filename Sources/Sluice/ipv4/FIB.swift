/// Principles (net/ipv4/fib_trie.c, fib_semantics.c, fib_frontend.c)
/// ----------
/// The IPv4 FIB: routing tables (local 255 and main 254, looked up in that order as the
/// default rules do), each an LPM trie of route sets. A prefix holds routes ordered by metric
/// (priority); the lowest is used. A route has a type — unicast, local, broadcast, anycast,
/// multicast, blackhole, unreachable, prohibit, as RTN_* — a protocol, a scope, a preferred source and next hops
/// (gateway, device, weight: ECMP).
/// The forwarding path never touches route objects: each prefix also has a flat record (type,
/// first next hop, count, preferred source) and next hops live in flat arrays with their
/// hash-threshold bounds (fib_rebalance's upper_bound), so a lookup is the trie walk and a few
/// array loads.
///
/// Next hops and their devices (fib_sync_down_dev, fib_sync_up, fib_rebalance,
/// fib_lookup_good_nhc; IPv6's fib6_ifdown, rt6_sync_up, rt6_multipath_rebalance, find_match):
/// - a next hop whose device is down is dead, one whose device has no carrier is linkdown, and
///   linkdown counts as dead too where the device's ignore_routes_with_linkdown says so;
/// - a lookup takes a route only if one of its next hops is not dead; else it goes on to the
///   prefix's next route, then to shorter prefixes (the trie's backtracking). Such a prefix is
///   marked in its flat record and looked up the slow way;
/// - the hash bounds leave dead next hops out. They are computed when the route is made and
///   when a device it uses changes state — not when the knob is written, so until the next
///   event the old bounds still send flows to a linkdown next hop, as the kernel's do;
/// - a device going down deletes the routes whose every next hop is then dead; the others keep
///   theirs, shown "dead linkdown";
/// - an IPv4 route whose next hops were all dead or linkdown at a device's event is itself
///   flagged linkdown (fi->fib_flags, shown on a multipath route) until one comes back.
public enum RouteType: UInt8, Sendable {
    /// `throw` (RTN_THROW): a lookup that ends on it goes on to the next rule (EAGAIN from
    /// fib_table_lookup), as if the table had no route.
    case unicast = 1, local = 2, broadcast = 3, anycast = 4, multicast = 5, blackhole = 6, unreachable = 7, prohibit = 8, `throw` = 9
    public var name: String {
        switch self {
        case .unicast: "unicast"; case .local: "local"; case .broadcast: "broadcast"; case .anycast: "anycast"; case .multicast: "multicast"
        case .blackhole: "blackhole"; case .unreachable: "unreachable"; case .prohibit: "prohibit"; case .throw: "throw"
        }
    }
    public init?(name: String) {
        switch name {
        case "unicast": self = .unicast; case "local": self = .local; case "broadcast": self = .broadcast
        case "anycast": self = .anycast; case "multicast": self = .multicast
        case "blackhole": self = .blackhole; case "unreachable": self = .unreachable; case "prohibit": self = .prohibit
        case "throw": self = .throw
        default: return nil
        }
    }
}

/// rtm_protocol and rtm_scope values.
public enum RouteProtocol {
    public static let kernel: UInt8 = 2, boot: UInt8 = 3, staticRoute: UInt8 = 4
    public static func name(_ p: UInt8) -> String {
        switch p { case 2: "kernel"; case 3: "boot"; case 4: "static"; case 11: "zebra"; case 188: "ospf"; case 186: "bgp"; default: String(p) }
    }
    /// rtnl_rtprot_a2n: a name (rt_protos) or a number.
    public static func parse(_ s: String) -> UInt8? {
        switch s {
        case "unspec": 0; case "redirect": 1; case "kernel": 2; case "boot": 3; case "static": 4; case "zebra": 11
        case "bgp": 186; case "isis": 187; case "ospf": 188; case "rip": 189
        default: s.hasPrefix("0x") ? UInt8(s.dropFirst(2), radix: 16) : UInt8(s)
        }
    }
}
public enum RouteScope {
    public static let universe: UInt8 = 0, link: UInt8 = 253, host: UInt8 = 254
    public static func name(_ s: UInt8) -> String {
        switch s { case 0: "global"; case 253: "link"; case 254: "host"; case 200: "site"; case 255: "nowhere"; default: String(s) }
    }
    /// rtnl_rtscope_a2n: a name or a number.
    public static func parse(_ s: String) -> UInt8? {
        switch s { case "global", "universe": 0; case "link": 253; case "host": 254; case "site": 200; case "nowhere": 255; default: UInt8(s) }
    }
}

/// An address of an inet family: IPv4 as UInt32, IPv6 as UInt128 (host order).
public protocol InetAddressValue: FixedWidthInteger, UnsignedInteger, Hashable, Sendable, BitwiseCopyable {}
extension UInt32: InetAddressValue {}
extension UInt128: InetAddressValue {}

public typealias NextHop = NextHopOf<UInt32>
public typealias Route = RouteOf<UInt32>
public typealias FIBResult = FIBResultOf<UInt32>
public typealias FIBTable = FIBTableOf<UInt32>
public typealias FIB = FIBOf<UInt32>

public struct NextHopOf<A: InetAddressValue>: Equatable, Sendable {
    /// Gateway (host order), 0 for a directly connected destination.
    public var gateway: A
    public var dev: Int32
    /// rtnh_hops + 1.
    public var weight: Int
    public var onlink: Bool
    /// nh_tclassid (RTA_FLOW, IPv4 only): the source realm in the upper 16 bits, the
    /// destination realm in the lower (`realms FROM/TO`, `realm TO`).
    public var realm: UInt32 = 0
    public init(gateway: A = 0, dev: Int32, weight: Int = 1, onlink: Bool = false, realm: UInt32 = 0) {
        self.gateway = gateway; self.dev = dev; self.weight = weight; self.onlink = onlink; self.realm = realm
    }
}

public struct RouteOf<A: InetAddressValue>: Sendable {
    public var type: RouteType
    public var nexthops: [NextHopOf<A>]
    /// The nexthop object the route uses (RTA_NH_ID, `nhid`; 0: its own next hops). Its
    /// `nexthops` and `type` (blackhole for a blackhole object) are then a copy of what the
    /// object resolves to, rewritten whenever it changes (Nexthops.swift).
    public var nhid: UInt32 = 0
    public var metric: UInt32 = 0
    public var proto: UInt8 = RouteProtocol.boot
    public var scope: UInt8 = RouteScope.universe
    public var prefsrc: A = 0
    public var tos: UInt8 = 0
    /// RTA_PREF for IPv6 routes (ICMPV6_ROUTER_PREF_*: 0 medium, 1 high, 3 low).
    public var pref: UInt8 = 0
    /// RTA_METRICS (RTAX_MTU, RTAX_WINDOW, …) by RTAX type − 1, empty when none is set. Kept
    /// and shown as the kernel keeps them; they act on traffic a host originates (TCP's window,
    /// RTT, MSS; a locked MTU), and a forwarding router ignores them (ip_forward_use_pmtu 0).
    public var metrics: [UInt32] = []
    /// RTF_EXPIRES: when the route lapses, on the datapath clock (0: never). An IPv6 prefix
    /// route made for an address with a finite valid lifetime; it goes with that address.
    public var expires: UInt64 = 0
    /// fi->fib_flags' RTNH_F_LINKDOWN (IPv4): at a device's event every next hop was dead or
    /// linkdown; cleared when one comes back (fib_sync_up).
    public var linkdown = false
    public init(type: RouteType, nexthops: [NextHopOf<A>] = [], metric: UInt32 = 0, proto: UInt8 = RouteProtocol.boot,
                scope: UInt8 = RouteScope.universe, prefsrc: A = 0) {
        self.type = type; self.nexthops = nexthops; self.metric = metric; self.proto = proto; self.scope = scope; self.prefsrc = prefsrc
    }
}

/// What a lookup returns: the route's type, its table and prefix entry, and the chosen next hop.
public struct FIBResultOf<A: InetAddressValue>: Sendable {
    public var type: RouteType
    public var gateway: A
    public var dev: Int32
    public var prefsrc: A
    /// The flat next-hop index in the main table (for the neighbour cache), or -1.
    public var nh: Int32
    /// The next hop's realms (dst->tclassid before the source's realm is merged in).
    public var realm: UInt32 = 0
    /// The realms of the policy rule the lookup went through (res->tclassid).
    public var ruleRealm: UInt32 = 0

    /// rt_set_nexthop's dst->tclassid: the next hop's realms, then set_class_tag with the
    /// rule's, then with `itag` (the source's, from fib_validate_source): each fills only an
    /// empty half.
    @inline(__always)
    public func tclassid(itag: UInt32) -> UInt32 {
        @inline(__always) func setClassTag(_ c: UInt32, _ tag: UInt32) -> UInt32 {
            (c & 0xFFFF == 0 ? tag & 0xFFFF : c & 0xFFFF) | (c & 0xFFFF_0000 == 0 ? tag & 0xFFFF_0000 : c & 0xFFFF_0000)
        }
        return setClassTag(setClassTag(realm, ruleRealm), itag)
    }

    /// fib_combine_itag for the route back to the source: its next hop's destination realm as
    /// the source realm, else the rule's, with the rule's source realm below.
    public var itag: UInt32 {
        var t = realm << 16
        if t == 0 { t = ruleRealm << 16 }
        return t | ruleRealm >> 16
    }
}

/// Route changes made outside a request — DAD completing, an address or route expiring, a link
/// becoming ready — which the kernel announces (fib6_add/fib6_del's inet6_rt_notify, rtmsg_fib)
/// as they happen. Kept only while someone listens; a request's own changes are announced by
/// the request and dropped here (RtnlProcessor.handle).
final class RouteJournal<A: InetAddressValue> {
    var on = false
    var entries: [(table: UInt32, prefix: A, length: Int, route: RouteOf<A>, deleted: Bool)] = []
    func note(_ table: UInt32, _ prefix: A, _ length: Int, _ route: RouteOf<A>, deleted: Bool) {
        if on && entries.count < 4096 { entries.append((table, prefix, length, route, deleted)) }
    }
}

/// What a next hop's device says of it, asked by the FIB whenever it rebuilds a prefix's flat
/// record or walks routes on the control path: `dead` (its device is down) and `good`
/// (fib_lookup_good_nhc: not dead, and not linkdown where ignore_routes_with_linkdown).
/// Set by the stack that owns the FIB.
final class NexthopHealth {
    var dead: (Int32) -> Bool = { _ in false }
    /// No carrier, or down (fib_check_nh's RTNH_F_LINKDOWN for a new route).
    var linkdown: (Int32) -> Bool = { _ in false }
    var good: (Int32) -> Bool = { _ in true }
    /// The datapath clock, for routes that expire (fib6_check_expired).
    var now: () -> UInt64 = { 0 }
}

public final class FIBTableOf<A: InetAddressValue> {
    public let id: UInt32
    var journal: RouteJournal<A>?
    var health = NexthopHealth()
    var trie: LPMTrie<A>
    /// Prefix entries (trie value − 1): the routes at that prefix, by metric.
    public internal(set) var prefixes: [(prefix: A, length: Int, routes: [RouteOf<A>])?] = []
    var freePrefixes: [Int] = []
    /// The forwarding view of each prefix entry, one record per entry (one cache line load).
    /// `usable`: the first route has a next hop that is not dead (or needs none); when false,
    /// lookups of this prefix take the slow path (`slowLookup`).
    struct Fast: BitwiseCopyable { var type: UInt8 = 0; var usable = true; var nhCount: Int32 = 0; var nhStart: Int32 = 0; var src: A = 0 }
    var fast = RawVector<Fast>(capacity: 1024)
    /// Flat next hops: gateway, device, hash upper bound, cached neighbour (index + 1).
    var nhGateway = RawVector<A>(capacity: 1024)
    var nhDev = RawVector<Int32>(capacity: 1024)
    /// fib_nh_upper_bound: −1 for a next hop left out (dead when the bounds were computed).
    var nhUpper = RawVector<Int32>(capacity: 1024)
    var nhNeigh = RawVector<Int32>(capacity: 1024)
    var nhRealm = RawVector<UInt32>(capacity: 1024)
    var nhGarbage = 0
    /// Whether a route with realms was ever added (fib_num_tclassid_users, kept once set: a
    /// lookup's realms are 0 without such routes either way).
    var hasRealms = false
    /// Prefixes holding a route with an expiry (RTF_EXPIRES, IPv6), for fib6_gc's sweep
    /// (IPv6Stack.expireRoutes). A prefix may be listed after its route went; the sweep drops it.
    var expiring: [(prefix: A, length: Int)] = []

    /// Lists `prefix/length` for the expiry sweep (once).
    func noteExpiring(_ prefix: A, _ length: Int) {
        let p = LPMTrie<A>.mask(prefix, length)
        if !expiring.contains(where: { $0.prefix == p && $0.length == length }) { expiring.append((p, length)) }
    }

    /// IPv4 keys in strides 16-8-8 (three loads at most); IPv6 in 16 then 4s (little memory per
    /// sparse long prefix; see LPMTrie).
    init(id: UInt32) {
        self.id = id
        trie = LPMTrie<A>(strides: A.bitWidth == 32 ? [16, 8, 8] : [16] + Array(repeating: 4, count: (A.bitWidth - 16) / 4))
    }

    public var routeCount: Int { prefixes.reduce(0) { $0 + ($1?.routes.count ?? 0) } }

    /// The index of the prefix entry for exactly `prefix/length`, or nil.
    func entry(_ prefix: A, _ length: Int) -> Int? {
        let e = trie.get(prefix, length)
        return e == 0 ? nil : Int(e) - 1
    }

    /// Adds `route` at `prefix/length` as fib_table_insert: where a route of the same metric
    /// and TOS exists, `exclusive` (NLM_F_EXCL, `ip route add`) is EEXIST, `replace` replaces it,
    /// and otherwise an identical route is EEXIST and a different one goes before (prepend) or
    /// after (`append`) those of its metric.
    func insert(_ prefix: A, _ length: Int, _ route: RouteOf<A>, replace: Bool, exclusive: Bool, append: Bool = false) throws(SluiceError) {
        let p = LPMTrie<A>.mask(prefix, length)
        // fib_create_info: a route whose every next hop is linkdown is flagged so (IPv4).
        var route = route
        route.linkdown = A.bitWidth == 32 && route.type != .local && !route.nexthops.isEmpty && route.nexthops.allSatisfy { health.linkdown($0.dev) }
        if let i = entry(p, length) {
            var routes = prefixes[i]!.routes
            if let j = routes.firstIndex(where: { $0.metric == route.metric && $0.tos == route.tos }) {
                if exclusive { throw SluiceError("Error: a route to this prefix with this metric exists (File exists)") }
                if replace {
                    routes[j] = route
                } else {
                    if let d = routes.firstIndex(where: { $0.metric == route.metric && $0.type == route.type && $0.scope == route.scope && $0.nexthops == route.nexthops }) {
                        // fib6_add_rt2node: an identical IPv6 route that expires takes the new
                        // one's expiry (none if it has none), and the answer is still EEXIST.
                        if A.bitWidth == 128 && routes[d].expires != 0 {
                            prefixes[i]!.routes[d].expires = route.expires
                            rebuild(i)
                            if route.expires != 0 { noteExpiring(p, length) }
                        }
                        throw SluiceError("Error: the same route exists (File exists)")
                    }
                    let last = routes.lastIndex { $0.metric == route.metric }!
                    routes.insert(route, at: append ? last + 1 : j)
                }
            } else {
                let at = routes.firstIndex { $0.metric > route.metric } ?? routes.count
                routes.insert(route, at: at)
            }
            prefixes[i]!.routes = routes
            rebuild(i)
            journal?.note(id, p, length, route, deleted: false)
            if route.expires != 0 { noteExpiring(p, length) }
            return
        }
        journal?.note(id, p, length, route, deleted: false)
        if route.expires != 0 { noteExpiring(p, length) }
        let i: Int
        if let f = freePrefixes.popLast() { i = f; prefixes[i] = (p, length, [route]) } else {
            i = prefixes.count
            prefixes.append((p, length, [route]))
            fast.append(Fast())
        }
        fast[i].nhCount = 0
        rebuild(i)
        trie.insert(p, length, entry: UInt32(i + 1))
    }

    /// fib6_add_rt2node for a route that qualifies for ECMP (gateway next hops only): without
    /// NLM_F_EXCL or NLM_F_REPLACE (`ip -6 route append|prepend`), a route of the same metric
    /// that qualifies too takes its next hops as siblings — dumped as one multipath route —
    /// and a next hop it already has is EEXIST. Returns false when there is no such route
    /// (the caller inserts as usual).
    func addSiblings(_ prefix: A, _ length: Int, _ route: RouteOf<A>) throws(SluiceError) -> Bool {
        // rt6_qualify_for_ecmp: a route through a nexthop object never does.
        func ecmp(_ r: RouteOf<A>) -> Bool { r.type == .unicast && r.nhid == 0 && !r.nexthops.isEmpty && r.nexthops.allSatisfy { $0.gateway != 0 } }
        guard ecmp(route), let i = entry(LPMTrie<A>.mask(prefix, length), length),
              let j = prefixes[i]!.routes.firstIndex(where: { $0.metric == route.metric && $0.tos == route.tos && ecmp($0) }) else { return false }
        var r = prefixes[i]!.routes[j]
        for h in route.nexthops {
            if r.nexthops.contains(where: { $0.gateway == h.gateway && $0.dev == h.dev }) {
                // fib6_add_rt2node's duplicate: an expiring route takes the new expiry (EEXIST).
                if r.expires != 0 {
                    prefixes[i]!.routes[j].expires = route.expires
                    rebuild(i)
                    if route.expires != 0 { noteExpiring(prefix, length) }
                }
                throw SluiceError("Error: the same route exists (File exists)")
            }
            r.nexthops.append(h)
        }
        prefixes[i]!.routes[j] = r
        rebuild(i)
        return true
    }

    /// ip6_route_del for a request naming a next hop: that sibling of a multipath route goes,
    /// the others stay. Returns false when no multipath route has it.
    func deleteSibling(_ prefix: A, _ length: Int, gateway: A, dev: Int32, matching m: (RouteOf<A>) -> Bool) -> Bool {
        guard let i = entry(LPMTrie<A>.mask(prefix, length), length) else { return false }
        for (j, r) in prefixes[i]!.routes.enumerated() where r.nexthops.count > 1 && m(r) {
            guard let k = r.nexthops.firstIndex(where: { (gateway == 0 || $0.gateway == gateway) && (dev == 0 || $0.dev == dev) }) else { continue }
            prefixes[i]!.routes[j].nexthops.remove(at: k)
            rebuild(i)
            return true
        }
        return false
    }

    /// Deletes the first route at `prefix/length` that matches the given fields (fib_table_delete:
    /// unspecified fields match anything). Returns false when none matched.
    func delete(_ prefix: A, _ length: Int, matching m: (RouteOf<A>) -> Bool) -> Bool {
        let p = LPMTrie<A>.mask(prefix, length)
        guard let i = entry(p, length), let j = prefixes[i]!.routes.firstIndex(where: m) else { return false }
        journal?.note(id, p, length, prefixes[i]!.routes[j], deleted: true)
        prefixes[i]!.routes.remove(at: j)
        if prefixes[i]!.routes.isEmpty {
            trie.remove(p, length)
            nhGarbage += Int(fast[i].nhCount)
            fast[i].nhCount = 0
            prefixes[i] = nil
            freePrefixes.append(i)
        } else {
            rebuild(i)
        }
        return true
    }

    /// Removes every route for which `m` is true; returns how many.
    @discardableResult
    func deleteAll(where m: (RouteOf<A>) -> Bool) -> Int {
        var n = 0
        for i in prefixes.indices {
            guard let e = prefixes[i] else { continue }
            while delete(e.prefix, e.length, matching: m) { n += 1 }
        }
        return n
    }

    /// Writes the forwarding view of prefix entry `i` (fib_rebalance's upper bounds for ECMP).
    func rebuild(_ i: Int) {
        let r = prefixes[i]!.routes[0]
        nhGarbage += Int(fast[i].nhCount)
        fast[i] = Fast(type: r.type.rawValue, usable: usable(r) && r.expires == 0, nhCount: Int32(r.nexthops.count), nhStart: Int32(nhGateway.count), src: r.prefsrc)
        let bounds = Self.upperBounds(r, health)
        for (k, nh) in r.nexthops.enumerated() {
            nhGateway.append(nh.gateway)
            nhDev.append(nh.dev)
            nhUpper.append(bounds[k])
            nhNeigh.append(0)
            nhRealm.append(nh.realm)
            if nh.realm != 0 { hasRealms = true }
        }
        if nhGarbage > 4096 && nhGarbage > nhGateway.count / 2 { compact() }
    }

    /// fib_rebalance: each good next hop's bound is round(w × 2^31 / total) − 1, w the weights
    /// so far; the others', and all when none is good, −1.
    static func upperBounds(_ r: RouteOf<A>, _ health: NexthopHealth) -> [Int32] {
        let good = r.nexthops.map { health.good($0.dev) }
        let total = zip(r.nexthops, good).reduce(0) { $0 + ($1.1 ? $1.0.weight : 0) }
        var w = 0
        return zip(r.nexthops, good).map { nh, g in
            guard g, total > 0 else { return -1 }
            w += nh.weight
            return Int32(truncatingIfNeeded: (UInt64(w) << 31 + UInt64(total) / 2) / UInt64(total)) &- 1
        }
    }

    /// fib_table_lookup's test of a route: one of its next hops is good, or it has none. A
    /// local or anycast route's next hop (scope host) is never dead.
    func usable(_ r: RouteOf<A>) -> Bool {
        r.nexthops.isEmpty || r.type == .local || r.type == .anycast || r.nexthops.contains { health.good($0.dev) }
    }

    /// fib6_check_expired: a route whose expiry passed is skipped by every lookup (deleted at
    /// the next sweep). A prefix whose first route expires is never in the flat records'
    /// fast view, so only the slow path asks this, against the clock.
    func expired(_ r: RouteOf<A>) -> Bool { r.expires != 0 && r.expires <= health.now() }

    /// A knob that decides which next hops are good changed: each prefix's mark is redone
    /// (the bounds stay until the next event, as fib_rebalance runs only then).
    func refreshUsability() {
        for i in prefixes.indices { if let e = prefixes[i] { fast[i].usable = usable(e.routes[0]) && e.routes[0].expires == 0 } }
    }

    /// A device changed state (fib_sync_down_dev / fib_sync_up): each route with a next hop
    /// through it has its linkdown flag set or cleared (IPv4), and its prefix's record and
    /// bounds redone (fib_rebalance).
    func syncDevice(_ d: Int32, operational: Bool) {
        for i in prefixes.indices {
            guard let e = prefixes[i], e.routes.contains(where: { r in r.nexthops.contains { $0.dev == d } }) else { continue }
            for j in e.routes.indices where e.routes[j].type != .local && e.routes[j].nexthops.contains(where: { $0.dev == d }) {
                let r = e.routes[j]
                if operational {
                    prefixes[i]!.routes[j].linkdown = false
                } else if r.nexthops.allSatisfy({ $0.dev == d || health.dead($0.dev) }) {
                    prefixes[i]!.routes[j].linkdown = true
                }
            }
            rebuild(i)
        }
    }

    /// fib_table_lookup where the longest prefix's first route has no good next hop: the
    /// prefix's other routes in order, then each shorter prefix's (backtracking). A multipath
    /// route picks among its good next hops by `hash` (the flat bounds for a first route, else
    /// bounds computed now).
    func slowLookup(_ addr: A, hash: UInt32) -> FIBResultOf<A>? {
        var length = A.bitWidth
        while length >= 0 {
            if let i = entry(LPMTrie<A>.mask(addr, length), length), let e = prefixes[i] {
                for (j, r) in e.routes.enumerated() where usable(r) && !expired(r) {
                    guard !r.nexthops.isEmpty else {
                        return FIBResultOf(type: r.type, gateway: 0, dev: 0, prefsrc: r.prefsrc, nh: -1)
                    }
                    let bounds = j == 0 ? (0..<r.nexthops.count).map { nhUpper[Int(fast[i].nhStart) + $0] } : Self.upperBounds(r, health)
                    let h = Int32(bitPattern: hash & 0x7FFF_FFFF)
                    var k = 0
                    if r.nexthops.count > 1, let f = bounds.firstIndex(where: { h <= $0 }) { k = f }
                    let nh = r.nexthops[k]
                    return FIBResultOf(type: r.type, gateway: nh.gateway, dev: nh.dev, prefsrc: r.prefsrc,
                                       nh: j == 0 && id == 254 ? fast[i].nhStart + Int32(k) : -1, realm: nh.realm)
                }
            }
            length -= 1
        }
        return nil
    }

    /// Whether a lookup of `addr` in this table finds a route other than `throw` (the rule
    /// walk's test).
    @inline(__always)
    func finds(_ addr: A) -> Bool {
        let e = trie.lookup(addr)
        guard e != 0 else { return false }
        let f = fast[Int(e) &- 1]
        if f.usable { return f.type != RouteType.throw.rawValue }
        guard let r = slowLookup(addr, hash: 0) else { return false }
        return r.type != .throw
    }

    /// Rewrites the flat next-hop arrays without the ones no prefix uses any more.
    func compact() {
        var g = RawVector<A>(capacity: nhGateway.count), d = RawVector<Int32>(capacity: nhGateway.count)
        var u = RawVector<Int32>(capacity: nhGateway.count), n = RawVector<Int32>(capacity: nhGateway.count)
        var r = RawVector<UInt32>(capacity: nhGateway.count)
        for i in prefixes.indices where prefixes[i] != nil {
            let s = Int(fast[i].nhStart), c = Int(fast[i].nhCount)
            fast[i].nhStart = Int32(g.count)
            for k in s..<(s + c) { g.append(nhGateway[k]); d.append(nhDev[k]); u.append(nhUpper[k]); n.append(nhNeigh[k]); r.append(nhRealm[k]) }
        }
        nhGateway = g; nhDev = d; nhUpper = u; nhNeigh = n; nhRealm = r
        nhGarbage = 0
    }

    /// The forwarding lookup: the longest prefix's best route, the next hop chosen by `hash`
    /// (31 bits) as fib_select_multipath.
    @inline(__always)
    func lookup(_ addr: A, hash: UInt32) -> FIBResultOf<A>? {
        guard let r = fastLookup(addr, hash: hash) else { return nil }
        return r.nh == Self.needsSlowPath ? slowLookup(addr, hash: hash) : r
    }

    /// `nh` of what `fastLookup` returns for a prefix that needs the slow path.
    static var needsSlowPath: Int32 { Int32.min }

    /// The lookup in the flat records alone: a prefix marked unusable comes back as a result
    /// whose `nh` is `needsSlowPath`, for the caller to take the slow path out of line (a call
    /// here would cost the forwarding path reference counts).
    @inline(__always)
    func fastLookup(_ addr: A, hash: UInt32) -> FIBResultOf<A>? {
        let e = trie.lookup(addr)
        guard e != 0 else { return nil }
        let f = fast[Int(e) &- 1]
        guard f.usable else { return FIBResultOf(type: .unicast, gateway: 0, dev: 0, prefsrc: 0, nh: Self.needsSlowPath) }
        let type = RouteType(rawValue: f.type) ?? .unicast
        let c = Int(f.nhCount)
        guard c > 0 else { return FIBResultOf(type: type, gateway: 0, dev: 0, prefsrc: f.src, nh: -1) }
        let isMain = id == 254
        var k = Int(f.nhStart)
        if c > 1 {
            // fib_select_multipath: the first next hop whose bound the hash does not pass; the
            // first of all when every bound is −1.
            let h = Int32(bitPattern: hash & 0x7FFF_FFFF)
            let end = k &+ c
            var j = k
            while j < end && h > nhUpper[j] { j &+= 1 }
            if j < end { k = j }
        }
        return FIBResultOf(type: type, gateway: nhGateway[k], dev: nhDev[k], prefsrc: f.src, nh: isMain ? Int32(k) : -1, realm: nhRealm[k])
    }

    /// The length of the longest prefix holding `addr`, or nil.
    func prefixLength(_ addr: A) -> Int? {
        let e = trie.lookup(addr)
        return e == 0 ? nil : prefixes[Int(e) - 1]?.length
    }

    /// Every route, in prefix order (control path: `ip route show`).
    public var allRoutes: [(prefix: A, length: Int, route: RouteOf<A>)] {
        var out: [(A, Int, RouteOf<A>)] = []
        for case let e? in prefixes { for r in e.routes { out.append((e.prefix, e.length, r)) } }
        // fib_trie dumps in key order; a key's aliases are kept by suffix length ascending
        // (fib_insert_alias), so within a key longer prefixes come first.
        return out.sorted { ($0.0, -$0.1, $0.2.metric) < ($1.0, -$1.1, $1.2.metric) }
    }

    public var memoryBytes: Int {
        trie.memoryBytes + prefixes.capacity * 48 + fast.memoryBytes + nhGateway.memoryBytes + nhDev.memoryBytes + nhUpper.memoryBytes + nhNeigh.memoryBytes
    }
}

/// The tables and the lookup order of the default rules (local, then main).
public final class FIBOf<A: InetAddressValue> {
    public let local = FIBTableOf<A>(id: 255)
    public let main = FIBTableOf<A>(id: 254)
    public static var tableLocal: UInt32 { 255 }
    public static var tableMain: UInt32 { 254 }
    public static var tableDefault: UInt32 { 253 }
    /// Every table by id (fib_new_table creates them on first use; none is ever removed).
    public internal(set) var tables: [UInt32: FIBTableOf<A>]
    /// The policy rules by priority (FIBRules.swift).
    public internal(set) var rules: [FIBRuleOf<A>]
    /// Only the default rules and an empty `default` table: lookups go local, then main.
    public internal(set) var simple = true
    /// fib_has_custom_rules: set by the first rule added that is not a default one, and never
    /// cleared (the kernel then unmerges tables local and main for good, fib_unmerge).
    public internal(set) var hadCustomRules = false
    /// fib_has_custom_local_routes: a route of type local was added by a request (IPv4; never
    /// cleared). Source validation then looks the source up in full.
    public internal(set) var hasCustomLocalRoutes = false
    /// Some rule selects on the IP protocol or ports (fib_rules_require_fldissect).
    var needsPorts = false
    /// Some IPv4 route has realms (fib_num_tclassid_users, kept once set): forwarding then
    /// also takes the source's realm from the route back to it.
    public internal(set) var hasRealms = false
    /// The input device of what Sluice itself sends (LOOPBACK_IFINDEX): lo's, or none.
    public internal(set) var loopbackIndex: Int32 = 0
    /// l3mdev (VRF, drivers/VRFDriver.swift): every VRF device and every device enslaved to one, by ifindex,
    /// to the VRF's table (l3mdev_fib_table); `master` marks the VRF devices themselves.
    public internal(set) var l3mdev: [Int32: (table: UInt32, master: Int32)] = [:]

    /// What changed outside requests, for the control server to announce.
    let journal = RouteJournal<A>()

    /// What next hops' devices say of them (set by the owning stack), shared by every table.
    let health = NexthopHealth()

    init() {
        tables = [255: local, 254: main]
        rules = Self.defaultRules(v6: A.bitWidth == 128)
        local.journal = journal
        main.journal = journal
        local.health = health
        main.health = health
    }

    public func table(_ id: UInt32) -> FIBTableOf<A>? {
        tables[id == 0 ? 254 : id]
    }

    /// The VRF table of a device in a VRF (the VRF device or one of its slaves), else nil.
    @inline(__always)
    public func l3mdevTable(_ ifindex: Int32) -> UInt32? {
        l3mdev.isEmpty ? nil : l3mdev[ifindex]?.table
    }

    /// l3mdev_master_ifindex: the VRF device a device is in (itself for a VRF device), or 0.
    @inline(__always)
    public func l3mdevMaster(_ ifindex: Int32) -> Int32 {
        l3mdev.isEmpty ? 0 : l3mdev[ifindex]?.master ?? 0
    }

    /// fib_magic's and addrconf's table for a device's connected and local routes:
    /// `l3mdev_fib_table(dev) ?: RT_TABLE_MAIN` (and `?: RT_TABLE_LOCAL`).
    func mainTable(for dev: Int32) -> FIBTableOf<A> {
        if let t = l3mdevTable(dev) { return newTable(t) }
        return main
    }
    func localTable(for dev: Int32) -> FIBTableOf<A> {
        if let t = l3mdevTable(dev) { return newTable(t) }
        return local
    }

    /// fib_new_table: the table, made if it does not exist yet.
    func newTable(_ id: UInt32) -> FIBTableOf<A> {
        let id = id == 0 ? 254 : id
        if let t = tables[id] { return t }
        let t = FIBTableOf<A>(id: id)
        t.journal = journal
        t.health = health
        tables[id] = t
        return t
    }

    /// The tables in the order the kernel dumps them (fib_table_hash: by id modulo 256).
    public var tablesInDumpOrder: [FIBTableOf<A>] {
        tables.values.sorted { ($0.id & 255, $0.id) < ($1.id & 255, $1.id) }
    }

    /// fib_sync_down_dev / rt6_sync_down_dev: a device went down, so the routes through it
    /// whose every next hop is then dead (through it, or through another device that is down)
    /// go (its local routes stay); gone (unregistered), every route with a next hop through it
    /// goes.
    func deleteRoutes(through d: Int32, deviceGone: Bool) {
        let h = health
        let via: (RouteOf<A>) -> Bool = deviceGone ? { r in r.nexthops.contains { $0.dev == d } }
            : { r in r.type != .local && r.nexthops.contains { $0.dev == d } && r.nexthops.allSatisfy { $0.dev == d || h.dead($0.dev) } }
        // IPv4's flush (fib_flush) announces nothing; IPv6's rt6_sync_down_dev does (fib6_del).
        let on = journal.on
        if A.bitWidth == 32 { journal.on = false }
        for t in tables.values { t.deleteAll(where: via) }
        journal.on = on
    }

    /// A device changed state: the routes through it, in every table (see the principles).
    func syncDevice(_ d: Int32, operational: Bool) {
        for t in tables.values { t.syncDevice(d, operational: operational) }
    }

    /// ignore_routes_with_linkdown changed somewhere: which prefixes need the slow path.
    func refreshUsability() {
        for t in tables.values { t.refreshUsability() }
    }

    /// The route `route get` reports: the rule walk with the request's keys, then the longest
    /// prefix of the chosen table with a route through `keys.oif` (any when 0). Multipath
    /// picks by `hash` as the forwarding path does.
    public func resolve(_ addr: A, keys: FlowKeysOf<A>, hash: UInt32) -> (table: UInt32, route: RouteOf<A>, nexthop: NextHopOf<A>?)? {
        switch walkRules(addr, keys, hash: hash, restrictToOIF: true) {
        // An output device that is a VRF only chooses the table (l3mdev_update_flow).
        case .table(let t, _): return t.resolve(addr, oif: l3mdev[keys.oif]?.master == keys.oif ? 0 : keys.oif, hash: hash)
        case .reject(let type):
            return type == .unreachable ? nil : (0, RouteOf(type: type, nexthops: []), nil)
        case .none: return nil
        }
    }

    /// The realms of the rule a lookup of `addr` with `keys` goes through (res->tclassid; 0
    /// with the default rules).
    public func ruleRealm(_ addr: A, keys: FlowKeysOf<A>, hash: UInt32) -> UInt32 {
        if case .table(_, let realm) = walkRules(addr, keys, hash: hash) { return realm }
        return 0
    }

    /// The route a lookup of `addr` uses (control path: `route get`).
    public func bestRoute(_ addr: A) -> RouteOf<A>? {
        guard case .table(let t, _) = walkRules(addr, FlowKeysOf(iif: loopbackIndex), hash: 0) else { return nil }
        let e = t.trie.lookup(addr)
        return e == 0 ? nil : t.prefixes[Int(e) - 1]?.routes.first
    }

    /// The forwarding lookup: local then main while the rules are the defaults, else the rule
    /// walk with the flow's keys (`keys` is only read then).
    @inline(__always)
    public func lookup(_ addr: A, hash: UInt32 = 0) -> FIBResultOf<A>? {
        if simple { return simpleLookup(addr, hash: hash) }
        return lookupRules(addr, FlowKeysOf(iif: loopbackIndex), hash: hash)
    }

    @inline(__always)
    public func lookup(_ addr: A, hash: UInt32, keys: () -> FlowKeysOf<A>) -> FIBResultOf<A>? {
        if simple { return simpleLookup(addr, hash: hash) }
        return lookupRules(addr, keys(), hash: hash)
    }

    /// Local, then main (a throw route there is no route), in the flat records; a prefix that
    /// needs the slow path goes out of line.
    @inline(__always)
    func simpleLookup(_ addr: A, hash: UInt32) -> FIBResultOf<A>? {
        if let r = local.fastLookup(addr, hash: hash) {
            return r.nh == FIBTableOf<A>.needsSlowPath ? Self.slowSimpleLookup(Unmanaged.passUnretained(self), addr, hash) : r
        }
        guard let r = main.fastLookup(addr, hash: hash) else { return nil }
        if r.nh == FIBTableOf<A>.needsSlowPath { return Self.slowSimpleLookup(Unmanaged.passUnretained(self), addr, hash) }
        return r.type == .throw ? nil : r
    }

    @inline(never)
    static func slowSimpleLookup(_ fib: Unmanaged<FIBOf<A>>, _ addr: A, _ hash: UInt32) -> FIBResultOf<A>? {
        fib._withUnsafeGuaranteedRef { $0.local.lookup(addr, hash: hash) ?? $0.mainLookup(addr, hash: hash) }
    }

    /// The lookup for what Sluice itself sends on behalf of a device (a reply, an ICMP error):
    /// in the VRF that device is in — the flow's output device is the VRF device, as
    /// icmp_reply and icmp_send set flowi4_oif = l3mdev_master_ifindex(skb->dev).
    @inline(__always)
    public func output(_ addr: A, hash: UInt32, from dev: Int32) -> FIBResultOf<A>? {
        let vrf = l3mdevMaster(dev)
        if vrf == 0 || simple { return lookup(addr, hash: hash) }
        return lookupRules(addr, FlowKeysOf(iif: loopbackIndex, oif: vrf), hash: hash)
    }

    /// Table main with the default rules: a throw route goes on to table default, which is
    /// empty while the rules are simple — no route.
    @inline(__always)
    func mainLookup(_ addr: A, hash: UInt32) -> FIBResultOf<A>? {
        guard let r = main.lookup(addr, hash: hash), r.type != .throw else { return nil }
        return r
    }
}

extension FIBTableOf {
    /// fib_table_lookup for the control path within one table: the longest prefix holding
    /// `addr` with a route a lookup restricted to device `oif` (any when 0) takes — a reject
    /// route whatever the device, another only through a next hop on `oif`.
    func resolve(_ addr: A, oif: Int32, hash: UInt32) -> (table: UInt32, route: RouteOf<A>, nexthop: NextHopOf<A>?)? {
        var length = A.bitWidth
        while length >= 0 {
            if let e = entry(LPMTrie<A>.mask(addr, length), length), let found = prefixes[e] {
                for r in found.routes where !expired(r) {
                    if r.nexthops.isEmpty { return (id, r, nil) }
                    let usable = r.nexthops.filter { health.good($0.dev) && (oif == 0 || $0.dev == oif) }
                    guard !usable.isEmpty else { continue }
                    if usable.count == 1 || oif != 0 { return (id, r, usable[0]) }
                    // fib_select_multipath by the bounds, which may still name a next hop that
                    // became linkdown since they were computed.
                    let f = lookup(addr, hash: hash)
                    return (id, r, r.nexthops.first { $0.dev == f?.dev && $0.gateway == f?.gateway } ?? usable[0])
                }
            }
            length -= 1
        }
        return nil
    }
}
