/// Principles
/// ----------
/// IGMP/MLD snooping as the kernel's bridge does it (br_multicast.c: `mcast_snooping 1`,
/// IGMPv2 and MLDv1 semantics). The times below are the defaults; `mcast_membership_interval`,
/// `mcast_querier_interval`, `mcast_last_member_count`/`_interval`, `mcast_query_interval`,
/// `mcast_query_response_interval` and `mcast_startup_query_count`/`_interval` change them
/// (MulticastSettings), and `mcast_hash_max` bounds the groups learnt:
/// - Reports teach the multicast database (MDB) which ports listen to which group, per VLAN;
///   each learnt port group lives for the membership interval (260 s) unless refreshed.
///   IGMPv3/MLDv2 records are read as v2/v1 do: a record that includes no source is a leave,
///   any other a join. Link-local IPv4 groups (224.0.0.0/24) and IPv6 all-nodes are never learnt.
/// - A general query marks its port as a multicast router port for the querier interval
///   (255 s) and, from the lowest-addressed querier heard, says another querier is present.
///   A group-specific query shortens that group's timers to last member count × its delay.
/// - Forwarding follows br_handle_frame_finish: only while a querier is known (and the first
///   query's response delay has passed) does the MDB decide — a known group goes to its ports
///   and the router ports, an unknown routable group (and an IGMPv2/MLDv1 report) to the
///   router ports only. Otherwise, and for link-local IPv4 groups, IPv6 all-nodes, queries,
///   leaves and v3/v2 reports, multicast is flooded as without snooping.
/// - A leave with no other querier present shortens the port's group to last member count ×
///   last member interval (2 s); with fast leave the port goes at once. Listener messages that
///   fail the kernel's checks are dropped and counted (`mcast_invalid`).
/// - A port that is disabled loses what it learnt and its router role; permanent entries stay
///   until deleted or the port leaves the bridge.
/// - With `mcast_querier 1` the bridge is a querier itself (br_multicast_send_query): each
///   port that starts forwarding sends an IGMPv2 general query (from 0.0.0.0) and, when the
///   bridge has a link-local address, an MLDv1 one, twice 31.25 s apart, then every 125 s —
///   while no other querier is heard; one that falls silent hands the role back. Once the
///   first query's response interval (10 s) has passed, the database decides.
/// Not here: group-specific queries from our querier on a leave (the group is shortened to
/// 2 s as without one), IGMPv3/MLDv2 source filtering (`mcast_igmp_version 3`), per-VLAN
/// snooping contexts and multicast statistics.
public struct MDBKey: Hashable, Sendable {
    public var group: UInt128
    public var v6: Bool
    public var vid: UInt16
}

public struct MDBPortGroup: Equatable, Sendable {
    public var port: Int32
    /// When it expires (clock nanoseconds); 0 for a permanent entry.
    public var expires: UInt64
    public var permanent: Bool
    /// RTPROT_KERNEL (learnt) or RTPROT_STATIC (added by the user).
    public var rtprot: UInt8
    /// The reporting host's address (pg->eth_addr; broadcast for an entry the user added): with
    /// mcast_to_unicast on the port, one entry per host, and the group's frames go to it.
    public var ethAddr: MACAddress = .broadcast

    /// br_port_group_equal: the port's entry, or with mcast_to_unicast that host's.
    func matches(_ port: Int32, _ src: MACAddress, toUnicast: Bool) -> Bool {
        self.port == port && (!toUnicast || ethAddr == src)
    }
}

/// The bridge's multicast times and counts (IFLA_BR_MCAST_*, br_multicast_ctx_init's
/// defaults). Times are kept in jiffies of a 250 Hz tick (Debian's CONFIG_HZ): iproute2 gives
/// and reads them in USER_HZ centiseconds, which the kernel converts both ways
/// (clock_t_to_jiffies, jiffies_to_clock_t), so 401 cs reads back as 400 there and here.
public struct MulticastSettings: Sendable, Equatable {
    public static let hz: UInt64 = 250
    public var lastMemberCount: UInt32 = 2
    public var startupQueryCount: UInt32 = 2
    public var lastMemberInterval: UInt64 = 1 * hz
    public var membershipInterval: UInt64 = 260 * hz
    public var querierInterval: UInt64 = 255 * hz
    public var queryInterval: UInt64 = 125 * hz
    public var queryResponseInterval: UInt64 = 10 * hz
    public var startupQueryInterval: UInt64 = 125 * hz / 4
    /// The querier's IPv4 queries come from the bridge's own address, not 0.0.0.0.
    public var queryUseIfaddr = false
    /// The most groups the database holds; a report for one more turns snooping off
    /// (br_multicast_new_group: -E2BIG).
    public var hashMax: UInt32 = 4096

    /// BR_MULTICAST_QUERY_INTVL_MIN and _MAX (1 s, 24 h): br_multicast_set_query_intvl and
    /// br_multicast_set_startup_query_intvl clamp to them.
    static let queryIntervalBounds: ClosedRange<UInt64> = hz...(86_400 * hz)

    /// clock_t_to_jiffies and jiffies_to_clock_t for USER_HZ 100.
    public static func jiffies(centiseconds cs: UInt64) -> UInt64 {
        cs >= UInt64.max / hz ? UInt64.max / 1000 : cs * hz / 100
    }
    public static func centiseconds(jiffies j: UInt64) -> UInt64 { j >= UInt64.max / 100 ? UInt64.max / hz : j * 100 / hz }
    /// Nanoseconds of `j` jiffies (saturating).
    public static func ns(_ j: UInt64) -> UInt64 { j >= UInt64.max / (Time.s / hz) ? UInt64.max / 2 : j * (Time.s / hz) }

    var lastMemberIntervalNs: UInt64 { Self.ns(lastMemberInterval) }
    var membershipNs: UInt64 { Self.ns(membershipInterval) }
    var querierNs: UInt64 { Self.ns(querierInterval) }
    var queryNs: UInt64 { Self.ns(queryInterval) }
    var queryResponseNs: UInt64 { Self.ns(queryResponseInterval) }
    var startupQueryNs: UInt64 { Self.ns(startupQueryInterval) }
    /// last member count × last member interval (a leave's shortened timer), saturating.
    var lastMemberTimeNs: UInt64 {
        let (v, o) = UInt64(lastMemberCount).multipliedReportingOverflow(by: lastMemberIntervalNs)
        return o ? UInt64.max / 2 : v
    }
}

public final class MulticastDB {
    public static let rtprotKernel: UInt8 = 2, rtprotStatic: UInt8 = 4
    /// The times and counts in use (`ip link set … type bridge mcast_*`).
    public internal(set) var settings = MulticastSettings()

    public internal(set) var snooping = true
    /// IFLA_BR_MCAST_QUERIER: the bridge sends general queries itself.
    public internal(set) var querier = false
    /// Each forwarding port's own queries (per family): when the next is due, how many sent.
    struct OwnQuery { var at: [UInt64] = [0, 0]; var sent: [Int] = [0, 0] }
    var ownQueries: [Int32: OwnQuery] = [:]
    /// The bridge has a link-local IPv6 address to send MLD queries from (BROPT_HAS_IPV6_ADDR).
    var hasIPv6Address = true
    /// Groups and their ports; `order` keeps the groups newest first (hlist_add_head).
    public internal(set) var groups: [MDBKey: [MDBPortGroup]] = [:]
    public internal(set) var order: [MDBKey] = []
    /// Router ports and when their role expires (UInt64.max: a permanent router port,
    /// `mcast_router 2`).
    public internal(set) var routers: [Int32: UInt64] = [:]
    /// Ports whose router role just ran out (a `mcast_router 3` port goes back to 1).
    var routerExpired: [Int32] = []
    /// IFLA_BR_MCAST_ROUTER, the bridge itself as a multicast router (br_multicast_is_router):
    /// 0 never, 1 for a querier interval after its own stack sent a general query (per family),
    /// 2 always. A router bridge takes every snooped group up its own stack.
    public internal(set) var hostRouter: UInt8 = 1
    var hostRouterUntil: [UInt64] = [0, 0]

    func isRouter(v6: Bool, now: UInt64) -> Bool {
        hostRouter == 2 || (hostRouter == 1 && hostRouterUntil[v6 ? 1 : 0] > now)
    }

    /// br_multicast_set_router: 0 and 2 stop the timers, 1 keeps them; 3 (a port's
    /// temporary type) and above are EINVAL.
    func setHostRouter(_ v: UInt8) {
        if v != 1 { hostRouterUntil = [0, 0] }
        hostRouter = v
    }

    /// Whether what the snooping verdict `v` decided for a frame goes up the bridge's own stack
    /// too (br_handle_frame_finish's local_rcv): a group the database decides for only when the
    /// host joined it or the bridge is a router; anything flooded as without snooping always.
    func deliversLocally(_ v: Datapath.SnoopVerdict, now: UInt64, bridge: Int32) -> Bool {
        switch v {
        case .group(let k): return groups[k]?.contains(where: { $0.port == bridge }) == true || isRouter(v6: k.v6, now: now)
        case .routers(let v6): return isRouter(v6: v6, now: now)
        case .flood, .drop: return true
        }
    }
    /// The other querier's presence (bridge_mcast_other_query: timer and delay timer) and the
    /// address of the querier elected, per family (0: IPv4, 1: IPv6).
    var otherQuerier: [UInt64] = [0, 0], otherDelay: [UInt64] = [0, 0]
    var querierAddress: [UInt128?] = [nil, nil]
    public internal(set) var reports: UInt64 = 0, queries: UInt64 = 0, leaves: UInt64 = 0, invalid: UInt64 = 0

    /// Port groups added and removed (br_mdb_notify), kept while someone listens to
    /// RTNLGRP_MDB; at most 4096 wait (the oldest are dropped and counted).
    public struct Change: Sendable { public var key: MDBKey; public var group: MDBPortGroup; public var deleted: Bool }
    public var recordChanges = false { didSet { if !recordChanges { changes.removeAll() } } }
    var changes: [Change] = []
    public private(set) var changesLost: UInt64 = 0

    func note(_ key: MDBKey, _ g: MDBPortGroup, deleted: Bool) {
        guard recordChanges else { return }
        if changes.count >= 4096 { changes.removeFirst(); changesLost &+= 1 }
        changes.append(Change(key: key, group: g, deleted: deleted))
    }

    public func takeChanges() -> [Change] {
        defer { changes.removeAll(keepingCapacity: true) }
        return changes
    }

    /// __br_multicast_querier_exists.
    func querierExists(v6: Bool, now: UInt64) -> Bool {
        let f = v6 ? 1 : 0
        let own = querier && (!v6 || hasIPv6Address)
        return !(otherDelay[f] > now) && (own || otherQuerier[f] > now)
    }

    /// br_multicast_add_group / br_mdb_add: `src` the reporting host (nil for the user's
    /// entries); with `toUnicast` (the port's mcast_to_unicast) each host has its own entry.
    func add(_ key: MDBKey, port: Int32, expires: UInt64, permanent: Bool, rtprot: UInt8, src: MACAddress? = nil, toUnicast: Bool = false) {
        let addr = src ?? .broadcast
        if var ports = groups[key] {
            if let i = ports.firstIndex(where: { $0.matches(port, addr, toUnicast: toUnicast) }) {
                if !ports[i].permanent { ports[i].expires = expires }
            } else {
                ports.append(MDBPortGroup(port: port, expires: expires, permanent: permanent, rtprot: rtprot, ethAddr: addr))
                note(key, ports[ports.count - 1], deleted: false)
            }
            groups[key] = ports
        } else {
            let g = MDBPortGroup(port: port, expires: expires, permanent: permanent, rtprot: rtprot, ethAddr: addr)
            groups[key] = [g]
            order.insert(key, at: 0)
            note(key, g, deleted: false)
        }
    }

    @discardableResult
    func remove(_ key: MDBKey, port: Int32) -> Bool {
        guard let i = groups[key]?.firstIndex(where: { $0.port == port }) else { return false }
        remove(key, at: i)
        return true
    }

    /// br_multicast_del_pg for the group's `i`th entry.
    func remove(_ key: MDBKey, at i: Int) {
        guard var ports = groups[key] else { return }
        note(key, ports.remove(at: i), deleted: true)
        if ports.isEmpty { groups[key] = nil; order.removeAll { $0 == key } } else { groups[key] = ports }
    }

    func setRouter(_ port: Int32, _ until: UInt64?) { routers[port] = until }

    /// br_multicast_disable_port (what was learnt goes; `all`: br_multicast_del_port, the port left).
    func portGone(_ port: Int32, all: Bool) {
        for k in order {
            while let i = groups[k]?.firstIndex(where: { $0.port == port && (all || !$0.permanent) }) { remove(k, at: i) }
        }
        routers[port] = nil
        ownQueries[port] = nil
    }

    /// Removes what expired; returns the next expiry (0: none).
    func expire(now: UInt64) -> UInt64 {
        var next: UInt64 = 0
        func keep(_ t: UInt64) { if t > now && (next == 0 || t < next) { next = t } }
        for k in order {
            guard let ports = groups[k] else { continue }
            for pg in ports where !pg.permanent {
                if pg.expires <= now, let i = groups[k]?.firstIndex(of: pg) { remove(k, at: i) } else { keep(pg.expires) }
            }
        }
        for (p, t) in routers where t != .max { if t <= now { routers[p] = nil; routerExpired.append(p) } else { keep(t) } }
        for f in 0..<2 { keep(otherQuerier[f]); keep(otherDelay[f]) }
        for q in ownQueries.values { keep(q.at[0]); keep(q.at[1]) }
        return next
    }
}

extension Datapath {
    /// br_multicast_set_port_router: 0 and 1 take the port off the router list (a query makes
    /// a 1 port a router again), 2 puts it on for good, 3 for a querier interval from now.
    func setPortMulticastRouter(_ br: Bridge, _ port: NetDevice, _ type: UInt8) {
        let db = br.mdb
        switch type {
        case 0, 1: db.setRouter(port.ifindex, nil)
        case 2: db.setRouter(port.ifindex, .max)
        default:
            let t = clock.now &+ db.settings.querierNs
            db.setRouter(port.ifindex, t)
            armMulticast(t)
        }
    }

    /// A `mcast_router 3` port whose router role ran out is a 1 port again
    /// (br_multicast_router_expired).
    func multicastRoutersExpired(_ br: Bridge) {
        for p in br.mdb.routerExpired {
            if let d = devices[Int(p)], d.bridgePort.mcastRouter == 3 { d.bridgePort.mcastRouter = 1 }
        }
        br.mdb.routerExpired.removeAll()
    }

    /// What snooping decided for one multicast frame.
    enum SnoopVerdict { case flood, drop, routers(v6: Bool), group(MDBKey) }

    /// br_multicast_rcv, then the forwarding decision of br_handle_frame_finish, for a multicast
    /// frame received on `port` of `br` (untagged Ethernet; `vid` the VLAN it is in, 0 without
    /// filtering); `port` nil for what the bridge device itself sends (br_dev_xmit), whose
    /// reports join or leave the host (the bridge's own entries, `port br0`).
    func snoop(_ br: Bridge, _ port: NetDevice?, _ frame: UnsafeMutableRawPointer, length: Int, vid: UInt16) -> SnoopVerdict {
        let db = br.mdb
        let now = clock.now
        var joins: [(UInt128, Bool)] = []
        let kind = MulticastListener.classify(frame, length: length) { g, j in joins.append((g, j)) }
        switch kind {
        case .notIP: return .flood
        case .invalid:
            db.invalid &+= 1
            return .drop
        case .ignored: return .flood
        case .data(let group, let v6, let routersOnly):
            guard db.querierExists(v6: v6, now: now) else { return .flood }
            let key = MDBKey(group: group, v6: v6, vid: vid)
            if db.groups[key] != nil { return .group(key) }
            return routersOnly ? .routers(v6: v6) : .flood
        case .report(let v6, let version):
            db.reports &+= 1
            let src = MACAddress(at: frame + 6)
            for (g, join) in joins {
                guard let port else {
                    // br_dev_xmit: the bridge's own stack's reports join the host (port br0).
                    multicastHost(br, MDBKey(group: g, v6: v6, vid: vid), join: join)
                    continue
                }
                if join { multicastJoin(br, port, MDBKey(group: g, v6: v6, vid: vid), src: src) } else { multicastLeave(br, port, MDBKey(group: g, v6: v6, vid: vid), src: src) }
            }
            // IGMPv1/v2 and MLDv1 reports go to the routers (mrouters_only); the rest floods.
            let routersOnly = version == (v6 ? 1 : 2) || (!v6 && version == 1)
            let onlyJoins = joins.allSatisfy { $0.1 }
            return routersOnly && onlyJoins && db.querierExists(v6: v6, now: now) ? .routers(v6: v6) : .flood
        case .query(let v6, let source, let group, let maxDelay):
            db.queries &+= 1
            multicastQuery(br, port, v6: v6, source: source, group: group, maxDelay: maxDelay, vid: vid)
            return .flood
        }
    }

    /// br_multicast_add_group.
    func multicastJoin(_ br: Bridge, _ port: NetDevice, _ key: MDBKey, src: MACAddress) {
        if !key.v6 && key.group >> 8 == 0xE00000 { return }
        if key.v6 && key.group == MulticastListener.allNodesV6 { return }
        let db = br.mdb
        guard roomForGroup(br, key, joiner: port) else { return }
        let t = clock.now &+ db.settings.membershipNs
        db.add(key, port: port.ifindex, expires: t, permanent: false, rtprot: MulticastDB.rtprotKernel, src: src,
               toUnicast: port.bridgePort.flags.contains(.mcastToUnicast))
        armMulticast(t)
    }

    /// br_multicast_new_group: a group past hash_max turns snooping off (only the option: the
    /// all-snoopers groups stay joined, as the kernel leaves them); false then.
    func roomForGroup(_ br: Bridge, _ key: MDBKey, joiner: NetDevice) -> Bool {
        let db = br.mdb
        guard db.groups[key] == nil && db.groups.count >= Int(db.settings.hashMax) else { return true }
        db.snooping = false
        log("\(br.device.name): Multicast hash table maximum of \(db.settings.hashMax) reached, disabling snooping: \(joiner.name)")
        return false
    }

    /// br_multicast_host_join (a report the bridge's own stack sent) and the host's part of
    /// br_multicast_leave_group: a leave with no other querier heard shortens the host's entry
    /// to last member count × last member interval.
    func multicastHost(_ br: Bridge, _ key: MDBKey, join: Bool) {
        if !key.v6 && key.group >> 8 == 0xE00000 { return }
        if key.v6 && key.group == MulticastListener.allNodesV6 { return }
        let db = br.mdb, host = br.device.ifindex, now = clock.now
        if join {
            guard roomForGroup(br, key, joiner: br.device) else { return }
            let t = now &+ db.settings.membershipNs
            db.add(key, port: host, expires: t, permanent: false, rtprot: 0)
            armMulticast(t)
            return
        }
        db.leaves &+= 1
        guard !(db.otherQuerier[key.v6 ? 1 : 0] > now), var ports = db.groups[key],
              let i = ports.firstIndex(where: { $0.port == host }), !ports[i].permanent else { return }
        let t = now &+ db.settings.lastMemberTimeNs
        if ports[i].expires > t {
            ports[i].expires = t
            db.groups[key] = ports
            armMulticast(t)
        }
    }

    /// br_multicast_leave_group with no querier of our own.
    func multicastLeave(_ br: Bridge, _ port: NetDevice, _ key: MDBKey, src: MACAddress) {
        let db = br.mdb
        db.leaves &+= 1
        let toUnicast = port.bridgePort.flags.contains(.mcastToUnicast)
        guard var ports = db.groups[key], let i = ports.firstIndex(where: { $0.matches(port.ifindex, src, toUnicast: toUnicast) }),
              !ports[i].permanent else { return }
        if port.bridgePort.flags.contains(.fastLeave) {
            // Every entry of the port that is (the host's, with mcast_to_unicast) up to a permanent one.
            while let j = db.groups[key]?.firstIndex(where: { $0.matches(port.ifindex, src, toUnicast: toUnicast) }),
                  db.groups[key]?[j].permanent == false {
                db.remove(key, at: j)
            }
            return
        }
        if db.otherQuerier[key.v6 ? 1 : 0] > clock.now { return }
        let t = clock.now &+ db.settings.lastMemberTimeNs
        if ports[i].expires > t {
            ports[i].expires = t
            db.groups[key] = ports
            armMulticast(t)
        }
    }

    /// br_ip4/ip6_multicast_query: a general query elects the querier and marks a router port
    /// (`port` nil: the bridge's own stack queried, and the bridge is the router);
    /// a group-specific one shortens the group's timers.
    func multicastQuery(_ br: Bridge, _ port: NetDevice?, v6: Bool, source: UInt128, group: UInt128, maxDelay: UInt64, vid: UInt16) {
        let db = br.mdb, now = clock.now, f = v6 ? 1 : 0
        if group == 0 {
            // br_multicast_select_querier: the lowest address wins while one is known.
            if db.otherQuerier[f] > now, let q = db.querierAddress[f], q != 0, source > q { return }
            db.querierAddress[f] = source
            if !(db.otherQuerier[f] > now) { db.otherDelay[f] = now &+ maxDelay; armMulticast(db.otherDelay[f]) }
            db.otherQuerier[f] = now &+ db.settings.querierNs
            // br_multicast_mark_router: not a port set never (0) or always (2) a router; the
            // bridge itself only while it is a temporary (1) one.
            if let port {
                let rt = port.bridgePort.mcastRouter
                if rt == 1 || rt == 3 { db.routers[port.ifindex] = now &+ db.settings.querierNs }
            } else if db.hostRouter == 1 {
                db.hostRouterUntil[f] = now &+ db.settings.querierNs
            }
            armMulticast(db.otherQuerier[f])
            return
        }
        let key = MDBKey(group: group, v6: v6, vid: vid)
        guard var ports = db.groups[key] else { return }
        let (m, o) = maxDelay.multipliedReportingOverflow(by: UInt64(db.settings.lastMemberCount))
        let t = now &+ (o ? UInt64.max / 2 : m)
        for i in ports.indices where !ports[i].permanent && ports[i].expires > t { ports[i].expires = t }
        db.groups[key] = ports
        armMulticast(t)
    }

    func armMulticast(_ t: UInt64) {
        if t != 0 && (mcastDue == 0 || t < mcastDue) { mcastDue = t }
    }

    /// br_multicast_enable_port's own queries (from br_make_forwarding): the port queries at once.
    func multicastPortForwarding(_ br: Bridge, _ d: NetDevice) {
        guard br.mdb.querier else { return }
        br.mdb.ownQueries[d.ifindex] = MulticastDB.OwnQuery(at: [clock.now, clock.now], sent: [0, 0])
        armMulticast(clock.now)
    }

    /// br_multicast_start_querier: every forwarding port starts over (querier turned on, or the
    /// other querier fell silent).
    func startQuerier(_ br: Bridge) {
        // __br_multicast_open_query: the bridge's own query, which goes up its own stack.
        if br.mdb.querier {
            br.mdb.ownQueries[br.device.ifindex] = MulticastDB.OwnQuery(at: [clock.now, clock.now], sent: [0, 0])
            armMulticast(clock.now)
        }
        for p in br.ports {
            guard let d = devices[Int(p)], d.bridgePortState != BridgePortSettings.disabled, d.bridgePortState != BridgePortSettings.blocking else { continue }
            multicastPortForwarding(br, d)
        }
    }

    func setQuerier(_ br: Bridge, _ on: Bool) {
        guard on != br.mdb.querier else { return }
        br.mdb.querier = on
        guard on else { br.mdb.ownQueries.removeAll(); return }
        // br_multicast_set_querier: unless another querier is heard, the hosts get one query
        // response interval to answer before the database decides.
        let now = clock.now
        for f in 0..<2 where !(br.mdb.otherQuerier[f] > now) {
            br.mdb.otherDelay[f] = now &+ br.mdb.settings.queryResponseNs
            armMulticast(br.mdb.otherDelay[f])
        }
        startQuerier(br)
    }

    /// br_multicast_send_query for each port whose own query is due: sent only while no other
    /// querier is heard (then not rescheduled, as the kernel's).
    func sendOwnQueries(_ br: Bridge, now: UInt64) {
        let db = br.mdb, s = db.settings
        for (port, q) in db.ownQueries {
            var q = q
            for f in 0..<2 where q.at[f] != 0 && q.at[f] <= now {
                q.at[f] = 0
                let host = port == br.device.ifindex
                guard db.snooping, br.device.isUp, !(db.otherQuerier[f] > now), let d = devices[Int(port)],
                      host || (d.bridgePortState != BridgePortSettings.disabled && d.bridgePortState != BridgePortSettings.blocking) else { continue }
                let ll = f == 1 ? ipv6.addresses[br.device.ifindex]?.first(where: { Inet6Wire.isLinkLocal($0.address) && $0.usable })?.address : nil
                if host {
                    // br_multicast_send_query with no port: netif_rx up the bridge's own stack.
                    if f == 0 || ll != nil, let pk = ownQuery(br, v6: f == 1, from: ll ?? 0) {
                        pool.meta(pk).pointee.ifindex = br.device.ifindex
                        var b = PacketBatch()
                        b.append(pk)
                        receiveCore(br.device, &b, depth: 1)
                    }
                } else {
                    if f == 1 {
                        db.hasIPv6Address = ll != nil
                        guard ll != nil else { continue }
                    }
                    if let pk = ownQuery(br, v6: f == 1, from: ll ?? 0) { stage(port, pk) }
                }
                if q.sent[f] < Int(s.startupQueryCount) { q.sent[f] += 1 }
                q.at[f] = now &+ (q.sent[f] < Int(s.startupQueryCount) ? s.startupQueryNs : s.queryNs)
            }
            db.ownQueries[port] = q
        }
    }

    /// br_multicast_alloc_query's general query: MLDv1 from the bridge's link-local `ll`, its
    /// delay the response interval in ms in 16 bits (mld_maxdelay); IGMPv2 from 0.0.0.0 unless
    /// mcast_query_use_ifaddr (inet_select_addr, link scope), its code the response interval
    /// in IGMP_TIMER_SCALE tenths in 8 bits. Nil when the pool is empty.
    func ownQuery(_ br: Bridge, v6: Bool, from ll: UInt128) -> Packet? {
        guard let pk = pool.alloc() else { return nil }
        let s = br.mdb.settings
        let n = v6
            ? MulticastListener.writeMLDQuery(pool.data(pk), srcMAC: br.device.mac, src: ll,
                                              maxDelayMs: UInt16(truncatingIfNeeded: s.queryResponseNs / Time.ms))
            : MulticastListener.writeIGMPQuery(pool.data(pk), srcMAC: br.device.mac,
                                               src: s.queryUseIfaddr ? ipv4.selectAddress(br.device.ifindex, toward: 0, scope: RouteScope.link) : 0,
                                               maxResponseTenths: UInt8(truncatingIfNeeded: s.queryResponseInterval / (MulticastSettings.hz / 10)))
        pool.meta(pk).pointee.length = UInt32(n)
        return pk
    }

    func runMulticastTimers() {
        let now = clock.now
        var next: UInt64 = 0
        for br in bridges.values {
            let db = br.mdb
            // br_multicast_querier_expired: the other querier fell silent; ours starts over.
            for f in 0..<2 where db.otherQuerier[f] != 0 && db.otherQuerier[f] <= now {
                db.otherQuerier[f] = 0
                if db.querier { startQuerier(br) }
            }
            if db.querier { sendOwnQueries(br, now: now) }
            let t = br.mdb.expire(now: now)
            if !db.routerExpired.isEmpty { multicastRoutersExpired(br) }
            if t != 0 && (next == 0 || t < next) { next = t }
        }
        mcastDue = next
    }
}
