#if canImport(Glibc)
import Glibc
#endif

/// rtnetlink notifications: what a change did, multicast to the groups the kernel uses
/// (RTNLGRP_LINK for links, RTNLGRP_NEIGH for FDB entries, RTNLGRP_TC for qdiscs, classes and
/// filters), so that `ip monitor`, `tc monitor` and `bridge monitor` see a running daemon.
///
/// A change request's device is snapshotted before and after (its objects of the request's
/// family, each encoded as a dump would, keyed by identity): what vanished is announced as
/// RTM_DEL*, what appeared — and the object the request named — as RTM_NEW*. Snapshots are
/// taken only while some reader has joined the group. Learning and ageing in the datapath do
/// not emit events yet.
public enum RTNLGRP {
    public static let LINK: UInt32 = 1, NEIGH: UInt32 = 3, TC: UInt32 = 4, IPV4_IFADDR: UInt32 = 5, IPV4_ROUTE: UInt32 = 7
    public static let IPV6_IFADDR: UInt32 = 9, IPV6_ROUTE: UInt32 = 11, MDB: UInt32 = 26
}

extension RtnlProcessor {
    /// The group a change request's notifications go to.
    static func group(of type: UInt16, family: UInt8) -> UInt32? {
        switch type {
        case NL.RTM_NEWLINK, NL.RTM_SETLINK, NL.RTM_DELLINK, IFLA.RTM_NEWLINKPROP, IFLA.RTM_DELLINKPROP: RTNLGRP.LINK
        case NL.RTM_NEWNEIGH, NL.RTM_DELNEIGH: family == NDA.AF_BRIDGE || family == AF_INET || family == AF_INET6 ? RTNLGRP.NEIGH : nil
        case NL.RTM_NEWADDR, NL.RTM_DELADDR: family == AF_INET ? RTNLGRP.IPV4_IFADDR : family == AF_INET6 ? RTNLGRP.IPV6_IFADDR : nil
        case NL.RTM_NEWROUTE, NL.RTM_DELROUTE: family == AF_INET ? RTNLGRP.IPV4_ROUTE : family == AF_INET6 ? RTNLGRP.IPV6_ROUTE : nil
        case FRA.RTM_NEWRULE, FRA.RTM_DELRULE: family == AF_INET ? FRA.GROUP_IPV4 : family == AF_INET6 ? FRA.GROUP_IPV6 : nil
        case NHA.RTM_NEWNEXTHOP, NHA.RTM_DELNEXTHOP: NHA.GROUP_NOTIFY
        case NL.RTM_NEWQDISC, NL.RTM_DELQDISC, NL.RTM_NEWTCLASS, NL.RTM_DELTCLASS,
             NL.RTM_NEWTFILTER, NL.RTM_DELTFILTER, NL.RTM_NEWCHAIN, NL.RTM_DELCHAIN: RTNLGRP.TC
        default: nil
        }
    }

    /// One device's objects of the request's kind (and address family), each as its dump message.
    func snapshot(type: UInt16, dev: NetDevice, family: UInt8 = AF_INET) -> [UInt64: [UInt8]] {
        var out: [UInt64: [UInt8]] = [:]
        func one(_ key: UInt64, _ body: (inout NetlinkWriter) -> Void) {
            var w = NetlinkWriter(); body(&w); out[key] = w.bytes
        }
        var tree: [Qdisc] = []
        func walk(_ q: Qdisc) { tree.append(q); for c in q.childQdiscs() { walk(c) } }
        if let root = dev.qdisc { walk(root) }
        switch type {
        case NL.RTM_NEWLINK, NL.RTM_SETLINK, NL.RTM_DELLINK, IFLA.RTM_NEWLINKPROP, IFLA.RTM_DELLINKPROP:
            one(UInt64(UInt32(bitPattern: dev.ifindex))) { w in encodeLink(dev, &w, type: NL.RTM_NEWLINK, flags: 0, seq: 0) }
        case NL.RTM_NEWQDISC, NL.RTM_DELQDISC:
            for q in tree where q === dev.qdisc || q.handle != .unspec {
                one(UInt64(q.handle.raw)) { w in
                    let at = w.count
                    encodeQdisc(q, dev: dev, parent: q === dev.qdisc ? .root : q.parent, seq: 0, &w)
                    // tcm_info as qdisc_notify sees it for a new qdisc: a root's references
                    // (unless its kind attaches itself later, as htb and mq do), otherwise one.
                    if !(q === dev.qdisc) || q.kind == "htb" || q.kind == "mq" || q.kind == "mqprio" || q.kind == "taprio" { w.patch32(at: at + 32, 1) }
                }
            }
            if let ing = dev.ingress { one(UInt64(ing.handle.raw)) { w in encodeQdisc(ing, dev: dev, parent: TcHandle(raw: 0xFFFF_FFF1), seq: 0, &w) } }
            // A qdisc's chains go with it (keys 1…0xFFFF, below every qdisc handle but root's 0).
            for (bi, c) in chains(dev, tree).enumerated() where bi < 0xFF {
                one(1 + UInt64(bi)) { w in chainMessage(dev, parent: c.parent, chain: c.chain, &w) }
            }
        case NL.RTM_NEWTCLASS, NL.RTM_DELTCLASS:
            for q in tree where q.isClassful {
                for c in q.classes(details: false) { one(UInt64(c.classid.raw)) { w in encodeClass(q, c, dev: dev, seq: 0, &w) } }
            }
        case NL.RTM_NEWTFILTER, NL.RTM_DELTFILTER:
            var blocks: [(FilterBlock, UInt32)] = tree.map { ($0.filters, $0.handle.raw) }
            for q in tree { blocks += q.classBlocks.map { ($0.block, $0.classid.raw) } }
            if let ing = dev.ingress {
                blocks.append((ing.filters, ing.clsact ? 0xFFFF_FFF2 : 0xFFFF_0000))
                if ing.clsact { blocks.append((ing.egressFilters, 0xFFFF_FFF3)) }
            }
            // Keys: a chain (block << 32 | chain) below 2^40; a classifier instance (its head,
            // announced when a priority goes) 2^40 and up; a filter, its counters' address.
            for (bi, (b, blockParent)) in blocks.enumerated() {
                let parent = b.classid != 0 ? b.classid : blockParent
                for f in b.filters {
                    let key = UInt64(UInt(bitPattern: ObjectIdentifier(f.bound)))
                    one(key) { w in encodeFilter(f, head: false, block: b, ifindex: dev.ifindex, parent: parent, seq: 0, &w) }
                    let head = 1 << 40 | UInt64(bi & 0xF) << 36 | UInt64(f.chain & 0xF_FFFF) << 16 | UInt64(f.prio)
                    if out[head] == nil { one(head) { w in encodeFilter(f, head: true, block: b, ifindex: dev.ifindex, parent: parent, seq: 0, &w) } }
                }
            }
            for c in chains(dev, tree) {
                one(UInt64(c.block) << 32 | UInt64(c.chain)) { w in chainMessage(dev, parent: c.parent, chain: c.chain, &w) }
            }
        case NL.RTM_NEWADDR, NL.RTM_DELADDR:
            if family == Self.AF_INET6 {
                for a in dp.ipv6.addresses[dev.ifindex] ?? [] {
                    one(UInt64(truncatingIfNeeded: a.address ^ a.address >> 64) ^ UInt64(a.prefixLen) << 56) { w in
                        encodeAddr6(dev, a, type: NL.RTM_NEWADDR, flags: 0, seq: 0, &w)
                    }
                }
                break
            }
            for a in dp.ipv4.addresses[dev.ifindex] ?? [] {
                one(UInt64(a.address) << 8 | UInt64(a.prefixLen)) { w in encodeAddr(dev, a, type: NL.RTM_NEWADDR, flags: 0, seq: 0, &w) }
            }
        case NL.RTM_NEWNEIGH, NL.RTM_DELNEIGH:
            if dp.bridge(dev) == nil && dev.master == 0 {
                for e in dp.ipv4.neighbours.shown where e.dev == dev.ifindex && e.state != .none {
                    one(UInt64(e.ip)) { w in encodeNeigh(e, seq: 0, &w) }
                }
                for e in dp.ipv6.neighbours.shown where e.dev == dev.ifindex && e.state != .none {
                    one(1 << 63 | UInt64(truncatingIfNeeded: e.ip ^ e.ip >> 64) >> 1) { w in encodeNeigh(e, seq: 0, &w) }
                }
                break
            }
            let brIndex = dp.bridge(dev) != nil ? dev.ifindex : dev.master
            guard let br = dp.bridges[brIndex] else { break }
            let now = dp.clock.now
            for e in br.fdb.entries where e.port == dev.ifindex {
                one(e.mac.raw | UInt64(e.vlan) << 48) { w in encodeFdbEntry(e, br: br, now: now, flags: 0, seq: 0, &w) }
            }
        default:
            break
        }
        return out
    }

    /// The chains in use on a device: per block (in the order snapshot numbers them), the
    /// owning qdisc's handle (ffff: for ingress and clsact) and the chain.
    func chains(_ dev: NetDevice, _ tree: [Qdisc]) -> [(block: Int, parent: UInt32, chain: UInt32)] {
        var blocks: [(FilterBlock, UInt32)] = tree.map { ($0.filters, $0.handle.raw) }
        // A class block's chains are announced with its qdisc's handle (tc_chain_fill_node).
        for q in tree { blocks += q.classBlocks.map { ($0.block, q.handle.raw) } }
        if let ing = dev.ingress {
            blocks.append((ing.filters, 0xFFFF_0000))
            if ing.clsact { blocks.append((ing.egressFilters, 0xFFFF_0000)) }
        }
        var out: [(block: Int, parent: UInt32, chain: UInt32)] = []
        for (bi, (b, parent)) in blocks.enumerated() {
            for c in b.chainList { out.append((bi, parent, c)) }
        }
        return out
    }

    /// tc_chain_fill_node.
    func chainMessage(_ dev: NetDevice, parent: UInt32, chain: UInt32, seq: UInt32 = 0, flags: UInt16 = 0, _ w: inout NetlinkWriter) {
        let st = w.begin(type: NL.RTM_NEWCHAIN, flags: flags, seq: seq, pid: pid)
        w.put8(0); w.put8(0); w.put16(0)
        w.put32(UInt32(bitPattern: dev.ifindex)); w.put32(0); w.put32(parent); w.put32(0)
        w.attr(TCA.CHAIN, u32: chain)
        w.end(st)
    }

    /// The key of the object a change request names, looked up after the change.
    func target(_ msg: NetlinkMessage, dev: NetDevice) -> UInt64? {
        let p = msg.payload
        switch msg.header.type {
        case NL.RTM_NEWLINK, NL.RTM_SETLINK: return UInt64(UInt32(bitPattern: dev.ifindex))
        // rtnl_linkprop → netdev_state_change: announced only for a device that is up.
        case IFLA.RTM_NEWLINKPROP, IFLA.RTM_DELLINKPROP: return dev.isUp ? UInt64(UInt32(bitPattern: dev.ifindex)) : nil
        case NL.RTM_NEWQDISC:
            guard p.count >= 20 else { return nil }
            let handle = p.le32(at: 8), parent = p.le32(at: 12)
            if handle != 0 { return UInt64(handle) }
            if parent == 0xFFFF_FFFF { return dev.qdisc.map { UInt64($0.handle.raw) } }
            if parent == 0xFFFF_FFF1 { return dev.ingress.map { UInt64($0.handle.raw) } }
            return nil
        case NL.RTM_NEWTCLASS:
            return p.count >= 20 ? UInt64(p.le32(at: 8)) : nil
        case NL.RTM_NEWNEIGH:
            guard p.count >= 12, let a = try? NLAttributes.parse(p.dropFirst(12), base: 0, policy: NDA.policy, strict: false),
                  let ll = a[NDA.LLADDR], ll.count == 6 else { return nil }
            return MACAddress(Array(ll)).raw | UInt64(a.u16(NDA.VLAN) ?? 0) << 48
        default: return nil
        }
    }

    /// The device a change request addresses (every request header has its ifindex at offset
    /// 4), or for a link request by name, that name's device.
    func requestDevice(_ msg: NetlinkMessage) -> NetDevice? {
        let p = msg.payload
        guard p.count >= 8 else { return nil }
        let ifindex = Int32(bitPattern: p.le32(at: 4))
        if ifindex > 0 { return dp.device(ifindex) }
        guard msg.header.type <= NL.RTM_SETLINK || msg.header.type == IFLA.RTM_NEWLINKPROP || msg.header.type == IFLA.RTM_DELLINKPROP, p.count >= 16,
              let a = try? NLAttributes.parse(p.dropFirst(16), base: 0, policy: IFLA.policy, strict: false),
              let name = a.string(IFLA.IFNAME) ?? a.string(IFLA.ALT_IFNAME) else { return nil }
        return dp.device(named: name)
    }

    /// The routes at the given prefixes (both tables), keyed by table, prefix, length and
    /// position, each as a notification. Only the prefixes a request touches are looked at, so
    /// a big FIB costs nothing per change.
    func routeSnapshot<A: InetAddressValue>(_ fib: FIBOf<A>, _ prefixes: [(A, Int)]) -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for t in [fib.main, fib.local] {
            for (p, l) in prefixes {
                guard let i = t.entry(LPMTrie<A>.mask(p, l), l), let e = t.prefixes[i] else { continue }
                for (k, r) in e.routes.enumerated() {
                    var w = NetlinkWriter()
                    encodeRoute(table: t.id, e.prefix, e.length, r, seq: 0, &w)
                    out["\(t.id)/\(e.prefix)/\(e.length)/\(k)"] = w.bytes
                }
            }
        }
        return out
    }

    /// The prefixes a route or address request may change (the route's; an IPv4 address's
    /// local, connected and broadcast routes; an IPv6 address's local, prefix and anycast routes,
    /// and those its device's first address brings: link-local, fe80::/64, multicast).
    func touchedPrefixes<A: InetAddressValue>(_ msg: NetlinkMessage, _: A.Type) -> [(A, Int)] {
        let p = msg.payload
        let v6 = A.bitWidth == 128
        switch msg.header.type {
        case NL.RTM_NEWROUTE, NL.RTM_DELROUTE:
            guard p.count >= 12, let a = try? NLAttributes.parse(p.dropFirst(12), base: 0, policy: v6 ? RTA.policy6 : RTA.policy, strict: false) else { return [] }
            return [(Self.addr(a[RTA.DST], A.self) ?? 0, Int(p[p.startIndex + 1]))]
        case NL.RTM_NEWADDR, NL.RTM_DELADDR:
            guard p.count >= 8, let a = try? NLAttributes.parse(p.dropFirst(8), base: 0, policy: IFA.policy, strict: false),
                  let local = Self.addr(a[IFA.LOCAL], A.self) ?? Self.addr(a[IFA.ADDRESS], A.self) else { return [] }
            let l = Int(p[p.startIndex + 1])
            let net = LPMTrie<A>.mask(local, l)
            if v6 {
                var out = [(local, 128), (net, l), (net, 128), (A(0xFF) << 120, 8), (A(0xFE80) << 112, 64), (A(0xFE80) << 112, 128)]
                if let dev = requestDevice(msg) { out.append((A(truncatingIfNeeded: Inet6Wire.linkLocal(dev.mac)), 128)) }
                return out
            }
            let bcast = net | (l == 0 ? A.max : ~(A.max << (A.bitWidth - l)))
            var out = [(local, A.bitWidth), (net, l), (bcast, A.bitWidth)]
            if let b = Self.addr(a[IFA.BROADCAST], A.self) { out.append((b, A.bitWidth)) }
            return out
        default: return []
        }
    }

    /// A snapshot message as a notification: its type, no flags, the requester's seq and pid.
    static func notification(_ m: [UInt8], type: UInt16, seq: UInt32, pid: UInt32) -> [UInt8] {
        var b = m
        b[4] = UInt8(type & 0xFF); b[5] = UInt8(type >> 8); b[6] = 0; b[7] = 0
        for (i, v) in [seq, pid].enumerated() { for j in 0..<4 { b[8 + 4 * i + j] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(j))) } }
        return b
    }

    func withEvents(_ msg: NetlinkMessage, _ body: () throws(NetlinkError) -> Bool) throws(NetlinkError) -> Bool {
        // A device registered or unregistered is announced to the netconf groups first
        // (devinet_sysctl_register and addrconf_sysctl_register: RTM_NEWNETCONF with every
        // attribute, IPv4's then IPv6's; on unregister RTM_DELNETCONF with the index alone),
        // ahead of the link's own messages, which rtnetlink sends once the request is done.
        let t = msg.header.type
        let nc4 = eventGroups.contains(NETCONFA.GROUP_IPV4), nc6 = eventGroups.contains(NETCONFA.GROUP_IPV6)
        guard t == NL.RTM_NEWLINK || t == NL.RTM_DELLINK, nc4 || nc6 else { return try withRouteEvents(msg, body) }
        let before = dp.allDevices.map(\.ifindex)
        let named = requestDevice(msg)?.ifindex
        let at = events.count
        let dumped = try withRouteEvents(msg, body)
        let after = dp.allDevices.map(\.ifindex)
        var notes: [(UInt32, [UInt8])] = []
        func note(_ ifindex: Int32, deleted: Bool) {
            for (on, family, group) in [(nc4, Self.AF_INET, NETCONFA.GROUP_IPV4), (nc6, Self.AF_INET6, NETCONFA.GROUP_IPV6)] where on {
                var w = NetlinkWriter()
                if deleted {
                    encodeNetconfDeletion(family: family, ifindex: ifindex, &w)
                } else {
                    encodeNetconf(family: family, ifindex: ifindex, flags: 0, seq: 0, notification: true, &w)
                }
                notes.append((group, w.bytes))
            }
        }
        for d in after where !before.contains(d) { note(d, deleted: false) }
        // An inet6_dev made again (an MTU back at 1280, addrconf_notify's ipv6_add_dev) is
        // registered the same way, ahead of the routes and addresses its NETDEV_UP brings.
        for (i, attr) in dp.ipv6.netconfNotes where attr == NETCONFA.everything && nc6 {
            var w = NetlinkWriter()
            encodeNetconf(family: Self.AF_INET6, ifindex: i, flags: 0, seq: 0, notification: true, &w)
            notes.append((NETCONFA.GROUP_IPV6, w.bytes))
        }
        dp.ipv6.netconfNotes.removeAll { $0.attr == NETCONFA.everything }
        // The device the request named goes first, the others (a veth's peer) after it.
        let gone = before.filter { !after.contains($0) }.sorted { ($0 == named ? 0 : 1, $0) < ($1 == named ? 0 : 1, $1) }
        for d in gone { note(d, deleted: true) }
        events.insert(contentsOf: notes, at: at)
        return dumped
    }

    func withRouteEvents(_ msg: NetlinkMessage, _ body: () throws(NetlinkError) -> Bool) throws(NetlinkError) -> Bool {
        // A link going down, up, away or into a VRF moves the routes through it, and the kernel
        // tells: IPv4's fib_add_ifaddr (on up) and IPv6's route additions and deletions
        // (fib6_add, fib6_del: inet6_rt_notify) are announced, from the kernel itself (sequence
        // and port 0); IPv4's flush on down (fib_sync_down_dev, fib_flush) is silent.
        let t = msg.header.type
        let v4 = eventGroups.contains(RTNLGRP.IPV4_ROUTE), v6 = eventGroups.contains(RTNLGRP.IPV6_ROUTE)
        if t == NL.RTM_NEWLINK || t == NL.RTM_DELLINK || t == NL.RTM_SETLINK, v4 || v6 {
            let before = requestDevice(msg)
            let b4 = v4 ? routesThrough(dp.ipv4.fib, before) : [], b6 = v6 ? routesThrough(dp.ipv6.fib, before) : []
            let dumped = try withLinkEvents(msg, body)
            let after = requestDevice(msg) ?? before
            let a4 = v4 ? routesThrough(dp.ipv4.fib, after) : [], a6 = v6 ? routesThrough(dp.ipv6.fib, after) : []
            func announce(_ from: [(key: String, msg: [UInt8])], _ to: [(key: String, msg: [UInt8])], type: UInt16, group: UInt32) {
                let keys = Set(to.map(\.key))
                for r in from where !keys.contains(r.key) { events.append((group, Self.notification(r.msg, type: type, seq: 0, pid: 0))) }
            }
            announce(b6, a6, type: NL.RTM_DELROUTE, group: RTNLGRP.IPV6_ROUTE)
            announce(a4, b4, type: NL.RTM_NEWROUTE, group: RTNLGRP.IPV4_ROUTE)
            // addrconf_dev_config adds the multicast route, then the link-local prefix; each
            // address then brings its local route before its anycast one.
            let rank: [UInt8: Int] = [RouteType.multicast.rawValue: 0, RouteType.unicast.rawValue: 1, RouteType.local.rawValue: 2, RouteType.anycast.rawValue: 3]
            var ordered = a6.enumerated().sorted { (rank[$0.element.msg[23]] ?? 4, $0.offset) < (rank[$1.element.msg[23]] ?? 4, $1.offset) }.map(\.element)
            if let dev = after, v6, !dp.ipv6.routesBeforeAddresses, dp.ipv6.addressEvents.contains(where: { $0.dev == dev.ifindex && !$0.deleted }) {
                ordered = upOrder(dev, fresh: ordered.filter { r in !b6.contains { $0.key == r.key } })
            }
            announce(ordered, b6, type: NL.RTM_NEWROUTE, group: RTNLGRP.IPV6_ROUTE)
            return dumped
        }
        return try withLinkEvents(msg, body)
    }

    /// An RTM_NEWADDR message with IFA_F_TENTATIVE set (in ifa_flags and IFA_FLAGS).
    static func withTentativeFlag(_ m: [UInt8]) -> [UInt8] {
        var m = m
        m[18] |= 0x40
        var o = 24
        while o + 4 <= m.count {
            let len = Int(m[o]) | Int(m[o + 1]) << 8, type = (Int(m[o + 2]) | Int(m[o + 3]) << 8) & 0x3FFF
            guard len >= 4 else { break }
            if type == 8 && len >= 8 { m[o + 4] |= 0x40 }   // IFA_FLAGS, u32, little-endian
            o += (len + 3) & ~3
        }
        return m
    }

    /// What a link coming up announces for IPv6, in addrconf_notify's (NETDEV_UP) order: the
    /// prefix routes of the addresses kept over the down (addrconf_permanent_addr), the
    /// multicast route, the link-local prefix; then each address that is usable at once, as
    /// its DAD completes (addrconf_dad_completed): RTM_NEWADDR, its local route, its prefix's
    /// anycast route — the address events taken here, not announced again after the request.
    /// Returns the route events left to announce (none: all were placed here).
    func upOrder(_ dev: NetDevice, fresh: [(key: String, msg: [UInt8])]) -> [(key: String, msg: [UInt8])] {
        let addrs = dp.ipv6.addressEvents.filter { $0.dev == dev.ifindex && !$0.deleted }.map(\.address)
        dp.ipv6.addressEvents.removeAll { $0.dev == dev.ifindex && !$0.deleted }
        // A key is table/prefix/length/type/metric/tos.
        var pending = fresh.map { r -> (key: String, msg: [UInt8], p: UInt128, l: Int, type: UInt8) in
            let f = r.key.split(separator: "/")
            return (r.key, r.msg, UInt128(f[1]) ?? 0, Int(f[2]) ?? 0, UInt8(f[3]) ?? 0)
        }
        func take(_ match: (UInt128, Int, UInt8) -> Bool) {
            while let i = pending.firstIndex(where: { match($0.p, $0.l, $0.type) }) {
                events.append((RTNLGRP.IPV6_ROUTE, Self.notification(pending[i].msg, type: NL.RTM_NEWROUTE, seq: 0, pid: 0)))
                pending.remove(at: i)
            }
        }
        for a in addrs where !a.isLinkLocal { take { $0 == a.network && $1 == a.prefixLen && $2 == RouteType.unicast.rawValue } }
        take { $2 == RouteType.multicast.rawValue }
        take { $0 == UInt128(0xFE80) << 112 && $1 == 64 && $2 == RouteType.unicast.rawValue }
        for a in addrs {
            if eventGroups.contains(RTNLGRP.IPV6_IFADDR) {
                var w = NetlinkWriter()
                encodeAddr6(dev, a, type: NL.RTM_NEWADDR, flags: 0, seq: 0, &w)
                events.append((RTNLGRP.IPV6_IFADDR, w.bytes))
            }
            take { $0 == a.address && $1 == 128 && $2 == RouteType.local.rawValue }
            take { $0 == a.network && $1 == 128 && $2 == RouteType.anycast.rawValue }
        }
        return pending.map { ($0.key, $0.msg) }
    }

    /// The routes with a next hop through `dev`, every table in dump order (main before local
    /// for IPv4's fib_add_ifaddr and IPv6's walk), each keyed by what makes it itself.
    func routesThrough<A: InetAddressValue>(_ fib: FIBOf<A>, _ dev: NetDevice?) -> [(key: String, msg: [UInt8])] {
        guard let dev else { return [] }
        var out: [(key: String, msg: [UInt8])] = []
        let main = fib.main.id
        for t in fib.tablesInDumpOrder.sorted(by: { ($0.id == main ? 0 : 1) < ($1.id == main ? 0 : 1) }) {
            var here: [(A, Int, RouteOf<A>)] = []
            for case let e? in t.prefixes {
                for r in e.routes where r.nexthops.contains(where: { $0.dev == dev.ifindex }) { here.append((e.prefix, e.length, r)) }
            }
            here.sort { ($0.0, $0.1, $0.2.metric) < ($1.0, $1.1, $1.2.metric) }
            for (p, l, r) in here {
                var w = NetlinkWriter()
                encodeRoute(table: t.id, p, l, r, seq: 0, &w)
                out.append(("\(t.id)/\(p)/\(l)/\(r.type.rawValue)/\(r.metric)/\(r.tos)", w.bytes))
            }
        }
        return out
    }

    func withLinkEvents(_ msg: NetlinkMessage, _ body: () throws(NetlinkError) -> Bool) throws(NetlinkError) -> Bool {
        // The first teql0 qdisc brings the teql0 device (the kernel's module load, whose
        // register_netdev announces it before the qdisc is made): from the kernel itself.
        if msg.header.type == NL.RTM_NEWQDISC, eventGroups.contains(RTNLGRP.LINK), dp.device(named: "teql0") == nil {
            let at = events.count
            let dumped = try withRequestEvents(msg, body)
            if let t = dp.device(named: "teql0"), t.driver is TeqlDriver {
                // As registered: NOARP, MTU 1500. The first slave's flags and MTU come after,
                // set without a notification (teql_qdisc_init).
                let now = (t.flags, t.mtu)
                (t.flags, t.mtu) = ([.noARP], 1500)
                var w = NetlinkWriter()
                encodeLink(t, &w, type: NL.RTM_NEWLINK, flags: 0, seq: 0)
                (t.flags, t.mtu) = now
                events.insert((RTNLGRP.LINK, Self.notification(w.bytes, type: NL.RTM_NEWLINK, seq: 0, pid: 0)), at: at)
            }
            return dumped
        }
        // The first VRF adds the l3mdev rules (vrf_add_fib_rules → fib_nl_newrule): announced
        // after the link, from the kernel itself (sequence and port 0).
        guard msg.header.type == NL.RTM_NEWLINK, eventGroups.contains(FRA.GROUP_IPV4) || eventGroups.contains(FRA.GROUP_IPV6) else {
            return try withRequestEvents(msg, body)
        }
        let before = (ruleMessages(v6: false), ruleMessages(v6: true))
        let dumped = try withRequestEvents(msg, body)
        for (v6, group) in [(false, FRA.GROUP_IPV4), (true, FRA.GROUP_IPV6)] where eventGroups.contains(group) {
            let was = v6 ? before.1 : before.0
            for m in ruleMessages(v6: v6) where !was.contains(m) { events.append((group, Self.notification(m, type: FRA.RTM_NEWRULE, seq: 0, pid: 0))) }
        }
        return dumped
    }

    func withRequestEvents(_ msg: NetlinkMessage, _ body: () throws(NetlinkError) -> Bool) throws(NetlinkError) -> Bool {
        let family = msg.payload.isEmpty ? 0 : msg.payload[msg.payload.startIndex]
        if msg.header.type == NHA.RTM_NEWNEXTHOP || msg.header.type == NHA.RTM_DELNEXTHOP {
            return try withNexthopEvents(msg, body)
        }
        guard let group = Self.group(of: msg.header.type, family: family), eventGroups.contains(group) else { return try body() }
        let v6 = family == Self.AF_INET6
        if group == FRA.GROUP_IPV4 || group == FRA.GROUP_IPV6 {
            // notify_rule_change: the rule added or deleted, with the requester's seq and port.
            let before = ruleMessages(v6: v6)
            let dumped = try body()
            let after = ruleMessages(v6: v6)
            for m in before where !after.contains(m) { events.append((group, Self.notification(m, type: FRA.RTM_DELRULE, seq: msg.header.seq, pid: pid))) }
            for m in after where !before.contains(m) { events.append((group, Self.notification(m, type: FRA.RTM_NEWRULE, seq: msg.header.seq, pid: pid))) }
            return dumped
        }
        let routeGroup = v6 ? RTNLGRP.IPV6_ROUTE : RTNLGRP.IPV4_ROUTE, addrGroup = v6 ? RTNLGRP.IPV6_IFADDR : RTNLGRP.IPV4_IFADDR
        if group == routeGroup || (group == addrGroup && eventGroups.contains(routeGroup)) {
            // rtmsg_fib / inet6_rt_notify: each route that went or came (an address's own routes too).
            let t4 = v6 ? [] : touchedPrefixes(msg, UInt32.self), t6 = v6 ? touchedPrefixes(msg, UInt128.self) : []
            let snap = { v6 ? self.routeSnapshot(self.dp.ipv6.fib, t6) : self.routeSnapshot(self.dp.ipv4.fib, t4) }
            let before = snap()
            let addrBefore = group == addrGroup ? requestDevice(msg).map { snapshot(type: msg.header.type, dev: $0, family: family) } ?? [:] : [:]
            let dumped = try body()
            let after = snap()
            var addrEvents: [[UInt8]] = [], addrLate: [[UInt8]] = []
            if group == addrGroup, eventGroups.contains(group), let dev = requestDevice(msg) {
                let addrAfter = snapshot(type: msg.header.type, dev: dev, family: family)
                // A deleted primary's secondaries are announced before it (__inet_del_ifa);
                // ifa_flags is byte 18 of the message.
                let gone = addrBefore.filter { addrAfter[$0.key] == nil }
                    .sorted { ($0.value[18] & 1 == 0 ? 1 : 0, $0.key) < ($1.value[18] & 1 == 0 ? 1 : 0, $1.key) }
                for (_, m) in gone { addrEvents.append(Self.notification(m, type: NL.RTM_DELADDR, seq: msg.header.seq, pid: pid)) }
                for (k, m) in addrAfter where addrBefore[k] == nil {
                    let n = Self.notification(m, type: NL.RTM_NEWADDR, seq: msg.header.seq, pid: pid)
                    // An optimistic IPv6 address (IFA_F_OPTIMISTIC in ifa_flags, byte 18) is not
                    // announced as it is added (inet6_addr_add); addrconf_dad_begin announces it
                    // after its local route, and only with use_optimistic.
                    if v6 && m[18] & UInt8(IFA.F_OPTIMISTIC) != 0 {
                        if dev.inet6.useOptimistic { addrLate.append(n) }
                    } else {
                        // inet6_addr_add announces every address but a nodad one as it is
                        // added, tentative; one that runs no DAD is announced again at once,
                        // done (addrconf_dad_begin → addrconf_dad_completed).
                        if v6 && m[18] & UInt8(IFA.F_NODAD | 0x40) == 0 { addrEvents.append(Self.withTentativeFlag(n)) }
                        addrEvents.append(n)
                    }
                }
            }
            var routesFirst: [[UInt8]] = [], routesAfter: [[UInt8]] = []
            if eventGroups.contains(routeGroup) {
                // An address's routes in the kernel's order (rtm_type is byte 23 of the message):
                // IPv4 fib_add_ifaddr adds local, prefix, broadcast after the address and
                // fib_del_ifaddr removes prefix, broadcast, local; IPv6 announces the prefix route
                // before the address, then local and anycast, and on removal the address first,
                // then anycast, local, prefix.
                let u = RouteType.unicast.rawValue, l = RouteType.local.rawValue, b = RouteType.broadcast.rawValue, a = RouteType.anycast.rawValue
                let addRank: [UInt8: Int] = v6 ? [u: 0, l: 1, a: 2] : [l: 0, u: 1, b: 2]
                let delRank: [UInt8: Int] = v6 ? [a: 0, l: 1, u: 2] : [u: 0, b: 1, l: 2]
                let gone = before.filter { after[$0.key] != $0.value }.sorted { (delRank[$0.value[23]] ?? 3, $0.key) < (delRank[$1.value[23]] ?? 3, $1.key) }
                for (_, m) in gone { routesAfter.append(Self.notification(m, type: NL.RTM_DELROUTE, seq: msg.header.seq, pid: pid)) }
                let came = after.filter { before[$0.key] != $0.value }.sorted { (addRank[$0.value[23]] ?? 3, $0.key) < (addRank[$1.value[23]] ?? 3, $1.key) }
                for (_, m) in came {
                    let n = Self.notification(m, type: NL.RTM_NEWROUTE, seq: msg.header.seq, pid: pid)
                    if v6 && group == addrGroup && m[23] == u { routesFirst.append(n) } else { routesAfter.append(n) }
                }
            }
            for m in routesFirst { events.append((routeGroup, m)) }
            for m in addrEvents { events.append((addrGroup, m)) }
            for m in routesAfter { events.append((routeGroup, m)) }
            for m in addrLate { events.append((addrGroup, m)) }
            return dumped
        }
        let devBefore = requestDevice(msg)
        let before = devBefore.map { snapshot(type: msg.header.type, dev: $0, family: family) } ?? [:]
        let dumped = try body()
        let devAfter = requestDevice(msg) ?? devBefore
        let after = devAfter.flatMap { dp.device($0.ifindex) === $0 ? snapshot(type: msg.header.type, dev: $0, family: family) : nil } ?? [:]
        let named = devAfter.flatMap { target(msg, dev: $0) }
        let isFilter = msg.header.type == NL.RTM_NEWTFILTER || msg.header.type == NL.RTM_DELTFILTER
        func emit(_ bytes: [UInt8], delete: Bool) {
            var m = bytes
            let type = m.le16(4) + (delete ? 1 : 0)
            m[4] = UInt8(type & 0xFF); m[5] = UInt8(type >> 8)
            // Flags as the kernel's notifications carry them: a new filter the request's
            // (tfilter_notify), a new chain CREATE|EXCL (tc_chain_notify), others none.
            let flags: UInt16 = delete ? 0 : type == NL.RTM_NEWTFILTER ? msg.header.flags
                : type == NL.RTM_NEWCHAIN ? NL.F_CREATE | NL.F_EXCL : 0
            m[6] = UInt8(flags & 0xFF); m[7] = UInt8(flags >> 8)
            // A qdisc's reference count when tc_fill_qdisc runs in qdisc_notify is 1.
            // A deleted qdisc's references as qdisc_notify reads them: none left for ingress and
            // clsact, one otherwise (a new one's were set by the snapshot).
            if type == NL.RTM_DELQDISC {
                let ingress = m.le32(28) == 0xFFFF_FFF1
                m[32] = ingress ? 0 : 1; m[33] = 0; m[34] = 0; m[35] = 0
            }
            for (i, v) in [msg.header.seq, pid].enumerated() {           // the requester's seq and port id
                for k in 0..<4 { m[8 + 4 * i + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) }
            }
            events.append((group, m))
        }
        // Filters go as their classifier instance's head when deleted (a priority at a time) and
        // one by one when added; chains before their first filter and after their last.
        // A device's default root qdisc (handle 0) comes and goes unannounced, as the kernel's
        // attach_default_qdiscs; replaced while the device is up, it is announced as deleted
        // (while down the kernel's root is the builtin noop, which never is).
        let isQdisc = msg.header.type == NL.RTM_NEWQDISC || msg.header.type == NL.RTM_DELQDISC
        let up = devAfter?.isUp ?? false
        for (k, m) in before.sorted(by: { $0.key > $1.key }) where after[k] == nil && !(isFilter && k >= 1 << 44) {
            if isQdisc && k == 0 && !up { continue }
            emit(m, delete: true)
        }
        // Alternative names are announced only when they changed.
        let isProp = msg.header.type == IFLA.RTM_NEWLINKPROP || msg.header.type == IFLA.RTM_DELLINKPROP
        for (k, m) in after.sorted(by: { $0.key < $1.key }) where (before[k] == nil || (k == named && !(isProp && before[k] == m))) && !(isFilter && k >> 40 == 1) {
            if isQdisc && k == 0 { continue }
            emit(m, delete: false)
        }
        return dumped
    }

    /// nexthop_notify: each object that went (RTM_DELNEXTHOP) followed by the IPv6 routes that
    /// went with it (ip6_del_rt announces them; IPv4's fib_flush does not), then the groups it
    /// left (RTM_NEWNEXTHOP, or gone in turn); an object made or replaced (RTM_NEWNEXTHOP), and
    /// on replace the routes using it or a group it is in (nexthop_replace_notify: RTM_NEWROUTE,
    /// IPv4's then IPv6's, per object). The requester's seq and port throughout.
    func withNexthopEvents(_ msg: NetlinkMessage, _ body: () throws(NetlinkError) -> Bool) throws(NetlinkError) -> Bool {
        let nhOn = eventGroups.contains(NHA.GROUP_NOTIFY), r4On = eventGroups.contains(RTNLGRP.IPV4_ROUTE), r6On = eventGroups.contains(RTNLGRP.IPV6_ROUTE)
        guard nhOn || r4On || r6On else { return try body() }
        let seq = msg.header.seq
        func routes<A: InetAddressValue>(_ fib: FIBOf<A>, _ ids: Set<UInt32>) -> [(UInt32, [UInt8])] {
            var out: [(UInt32, [UInt8])] = []
            for t in fib.tablesInDumpOrder {
                for (p, l, r) in t.allRoutes where ids.contains(r.nhid) {
                    var w = NetlinkWriter()
                    encodeRoute(table: t.id, p, l, r, seq: 0, &w)
                    out.append((r.nhid, w.bytes))
                }
            }
            return out
        }
        let before = Dictionary(uniqueKeysWithValues: nexthopMessages())
        let r6Before = r6On ? routes(dp.ipv6.fib, Set(before.keys)) : []
        dp.nexthops.log = []
        defer { dp.nexthops.log = nil }
        let dumped = try body()
        let log = dp.nexthops.log ?? []
        let after = Dictionary(uniqueKeysWithValues: nexthopMessages())
        let r6After = r6On ? Set(routes(dp.ipv6.fib, Set(after.keys)).map(\.1)) : []
        var told: Set<UInt32> = []
        func nh(_ m: [UInt8], deleted: Bool) {
            if nhOn { events.append((NHA.GROUP_NOTIFY, Self.notification(m, type: deleted ? NHA.RTM_DELNEXTHOP : NHA.RTM_NEWNEXTHOP, seq: seq, pid: pid))) }
        }
        for (id, deleted) in log {
            told.insert(id)
            if deleted {
                if let m = before[id] { nh(m, deleted: true) }
                for (rid, m) in r6Before where rid == id && !r6After.contains(m) {
                    events.append((RTNLGRP.IPV6_ROUTE, Self.notification(m, type: NL.RTM_DELROUTE, seq: seq, pid: pid)))
                }
            } else if let m = after[id] {
                nh(m, deleted: false)
            }
        }
        for (k, m) in after.sorted(by: { $0.key < $1.key }) where !told.contains(k) && before[k] != m { nh(m, deleted: false) }
        if msg.header.type == NHA.RTM_NEWNEXTHOP, msg.header.flags & NL.F_REPLACE != 0, msg.payload.count >= 8,
           let a = try? NLAttributes.parse(msg.payload.dropFirst(8), base: 0, policy: NHA.policyNew, strict: false),
           let id = a.u32(NHA.ID), before[id] != nil, after[id] != nil {
            for x in [id] + dp.nexthops.groups(containing: id) {
                if r4On { for (_, m) in routes(dp.ipv4.fib, [x]) { events.append((RTNLGRP.IPV4_ROUTE, Self.notification(m, type: NL.RTM_NEWROUTE, seq: seq, pid: pid))) } }
                if r6On { for (_, m) in routes(dp.ipv6.fib, [x]) { events.append((RTNLGRP.IPV6_ROUTE, Self.notification(m, type: NL.RTM_NEWROUTE, seq: seq, pid: pid))) } }
            }
        }
        return dumped
    }
}
