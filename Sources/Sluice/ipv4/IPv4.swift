#if canImport(Glibc)
import Glibc
#endif

/// Principles (net/ipv4: ip_input.c, ip_forward.c, route.c, icmp.c, arp.c, devinet.c)
/// ----------
/// A device takes part in IPv4 once it has an address. Its frames that no rx handler took
/// (a bridge hands up what is for the bridge device itself) go through the datapath's protocol
/// handlers (`deliverProtocols`, registered by EtherType): ARP to `arpReceive`, IPv4 to
/// `ipReceive`; local delivery dispatches by IP protocol (`inetProtocols`, inet_add_protocol).
/// - ip_rcv_core: a frame not addressed to the device (PACKET_OTHERHOST) is dropped; version,
///   IHL, total length and the header checksum are checked (counted as InHdrErrors,
///   InTruncatedPkts, InCsumErrors); padding beyond the total length is trimmed.
/// - ip_route_input: martian sources (multicast, limited broadcast, 0/8, 127/8) are dropped;
///   the destination is looked up in the local table, then main. Local and broadcast go to
///   local delivery; unicast to forwarding; blackhole is dropped silently; unreachable and
///   prohibit, and no route at all, are answered with ICMP destination unreachable (host
///   unreachable, administratively prohibited, network unreachable) when forwarding is on.
/// - ip_forward: only what was sent to our MAC; TTL ≤ 1 gets ICMP time exceeded; larger than
///   the egress MTU with DF gets ICMP fragmentation needed with that MTU; TTL is decremented
///   with an incremental checksum update; the next hop (gateway, or the destination when
///   connected; ECMP by a hash of the addresses) is resolved through the neighbour table.
/// - Local delivery: ICMP echo requests are answered (echo replies are never rate limited);
///   UDP goes to a port registered with `registerUDP`, else ICMP port unreachable; TCP finds no
///   socket and is answered with a reset (tcp_v4_send_reset); other protocols get ICMP
///   protocol unreachable.
/// - icmp_send's rules: never about a link-level broadcast or multicast, a broadcast or
///   multicast destination, a fragment other than the first, an ICMP error, or a source that
///   is not unicast; destination unreachable, time exceeded and parameter problem are rate
///   limited per destination (icmp_ratelimit 1 s with a burst of 6, as inet_peer_xrlim_allow)
///   and in total (icmp_msgs_per_sec 1000, burst 50). An error's source is the address the
///   packet was sent to when it was for us, else the preferred source of the route back.
/// - Fragmentation of what is too big without DF, reassembly of what is for us
///   (Fragments.swift).
/// Not yet: IP options beyond carrying them, redirects, multicast (but IGMP for the stack's own
/// groups, IGMPListener.swift), rp_filter.
public struct InetAddress: Sendable, Equatable {
    /// ifa_local.
    public var address: UInt32
    public var prefixLen: Int
    public var broadcast: UInt32
    public var secondary = false
    /// ifa_address: the peer of a point-to-point address (`peer P`), else the local address.
    /// The subnet, and so the prefix route, is the peer's.
    public var peer: UInt32
    /// IFA_LABEL, when it is not the device's name (`label DEV:x`).
    public var label: String?
    /// ifa_scope (RT_SCOPE_*).
    public var scope: UInt8
    /// Lifetimes in seconds from `changed` (UInt32.max: forever), as set_ifa_lifetime keeps them.
    public var validLft = UInt32.max, preferredLft = UInt32.max
    /// When the lifetimes were last set (ifa_tstamp), on the datapath clock.
    public var changed: UInt64 = 0
    /// IFA_F_DEPRECATED: the preferred lifetime ran out (check_lifetime) or was set to 0.
    public var deprecated = false
    /// IFA_F_NOPREFIXROUTE: no route for the address's subnet (fib_add_ifaddr skips it).
    public var noPrefixRoute = false
    /// IFA_RT_PRIORITY (`metric N`): the metric of the address's prefix route.
    public var metric: UInt32 = 0
    public var permanent: Bool { validLft == .max }
    public var mask: UInt32 { prefixLen == 0 ? 0 : ~UInt32(0) << (32 - prefixLen) }
    public var network: UInt32 { peer & mask }

    public init(address: UInt32, prefixLen: Int, broadcast: UInt32 = 0, peer: UInt32? = nil, label: String? = nil, scope: UInt8 = 0) {
        self.address = address; self.prefixLen = prefixLen; self.broadcast = broadcast
        self.peer = peer ?? address; self.label = label; self.scope = scope
    }

    /// inet_ifa_match: `a` is on this address's subnet.
    func matches(_ a: UInt32) -> Bool { (a ^ peer) & mask == 0 }

    /// set_ifa_lifetime.
    mutating func setLifetimes(valid: UInt32, preferred: UInt32, now: UInt64) {
        validLft = valid; preferredLft = preferred; changed = now
        deprecated = preferred == 0
    }

    /// The lifetimes left at `now`, as inet_fill_ifaddr reports them.
    func remaining(at now: UInt64) -> (valid: UInt32, preferred: UInt32) {
        guard !permanent else { return (.max, .max) }
        guard preferredLft != .max else { return (validLft, preferredLft) }
        let t = UInt32(clamping: (now &- changed) / Time.s)
        return (validLft > t ? validLft - t : 0, preferredLft > t ? preferredLft - t : 0)
    }
}

/// IPSTATS_MIB_* and ICMP_MIB_* counters (`nstat`'s Ip*, Icmp*).
public struct IPv4Stats: Sendable {
    public var inReceives: UInt64 = 0, inHdrErrors: UInt64 = 0, inAddrErrors: UInt64 = 0
    public var inTruncatedPkts: UInt64 = 0, inCsumErrors: UInt64 = 0, inNoRoutes: UInt64 = 0
    public var inUnknownProtos: UInt64 = 0, inDelivers: UInt64 = 0, inDiscards: UInt64 = 0
    public var forwDatagrams: UInt64 = 0, outRequests: UInt64 = 0, outNoRoutes: UInt64 = 0
    public var fragFails: UInt64 = 0, fragOKs: UInt64 = 0, fragCreates: UInt64 = 0
    public var reasmReqds: UInt64 = 0, reasmOKs: UInt64 = 0, reasmFails: UInt64 = 0, reasmTimeout: UInt64 = 0
    public var icmpInMsgs: UInt64 = 0, icmpInEchos: UInt64 = 0, icmpOutMsgs: UInt64 = 0
    public var icmpOutEchoReps: UInt64 = 0, icmpOutDestUnreachs: UInt64 = 0, icmpOutTimeExcds: UInt64 = 0
    public var icmpRateLimited: UInt64 = 0, icmpOutRedirects: UInt64 = 0
    public var tcpOutRsts: UInt64 = 0
    /// IGMP (IGMPListener.swift): messages for our groups, those malformed, and the reports
    /// and leaves the host sent.
    public var igmpIn: UInt64 = 0, igmpInErrors: UInt64 = 0, igmpOutReports: UInt64 = 0, igmpOutLeaves: UInt64 = 0
    public var arpMalformed: UInt64 = 0
    /// GRE packets refused before any tunnel was looked for (version, routing, length, checksum).
    public var greErrors: UInt64 = 0
    /// LINUX_MIB_IPRPFILTER (`nstat`'s TcpExtIPReversePathFilter): refused by rp_filter.
    public var rpFilter: UInt64 = 0
    /// rt_cache_stat's in_martian_src: a martian source (no IP MIB counts it).
    public var inMartianSrc: UInt64 = 0
    /// rt_cache_stat's in_martian_dst: a martian destination (0/8, or 127/8 without
    /// route_localnet).
    public var inMartianDst: UInt64 = 0
    /// LINUX_MIB_ARPFILTER (TcpExtArpFilter): ARP requests arp_filter left unanswered.
    public var arpFilter: UInt64 = 0
}

/// What an IP protocol number is delivered to (inet_protos' net_protocol, as an enum).
public enum InetProtocol: Sendable { case none, icmp, udp, tcp, gre }

public final class IPv4Stack: NeighbourResolver {
    static var etherType: UInt16 { EtherType.ipv4 }
    /// The datapath owns the stack: unowned(unsafe) for the control path; the per-packet path
    /// reaches it through `dpRef` without reference counting (`_withUnsafeGuaranteedRef`).
    unowned(unsafe) let dp: Datapath
    let dpRef: Unmanaged<Datapath>
    /// The pool (no cycle: held strongly, used without local copies on the per-packet path).
    let pool: PacketPool
    let clock: DatapathClock
    public let fib = FIB()
    public let neighbours = NeighbourTable()
    /// net.ipv4.conf.all and .default (DevConf.swift); each device holds its own copy.
    public internal(set) var confAll = InetDevConf()
    public internal(set) var confDefault = InetDevConf()
    /// Knob changes to announce (RTM_NEWNETCONF): (ifindex or NETCONFA.ALL/DEFAULT, attribute).
    var netconfNotes: [(ifindex: Int32, attr: UInt16)] = []
    /// Proxied ARP answers waiting for their random delay (ProxyNeighbour.swift).
    var proxyQueue: [PendingProxyReply] = []
    /// net_ratelimit's window for the martian log: when it opened (0: never), lines logged and refused in it.
    var martianLogBegin: UInt64 = 0, martianLogPrinted = 0, martianLogMissed = 0
    /// Per sender the state of ip_rt_send_redirect's back-off (inet_peer's rate_last and
    /// n_redirects), bounded.
    var redirectPeers: [UInt32: (last: UInt64, count: Int)] = [:]
    public internal(set) var addresses: [Int32: [InetAddress]] = [:]
    public internal(set) var stats = IPv4Stats()
    /// UDP ports registered by an embedding program (inet_add_protocol's UDP side).
    var udpHandlers: [UInt16: (Datapath, NetDevice, UnsafeMutableRawPointer, Int) -> Void] = [:]
    /// icmp_ratelimit (ns) and its burst, icmp_msgs_per_sec and its burst; ICMP types limited.
    public var icmpRateLimit = 1 * Time.s
    public var icmpMsgsPerSec: UInt64 = 1000
    public var icmpMsgsBurst: UInt64 = 50
    public var icmpRateMask: UInt32 = 0x1818
    var rateLimiter = ICMPRateLimiter<UInt32>()
    var nextID: UInt16 = 1
    /// Each device's IGMP host state (IGMPListener.swift), the earliest of its timers (0: none),
    /// and the draws of its random delays (seeded).
    var igmp: [Int32: GroupListener] = [:]
    public internal(set) var igmpDue: UInt64 = 0
    var igmpSeed: UInt64 = 0x2545_F491_4F6C_DD1D
    /// inet_protos: protocol number → handler, registered at init as inet_init does.
    public internal(set) var inetProtocols: [InetProtocol] = {
        var t = [InetProtocol](repeating: .none, count: 256)
        t[Int(IPProto.icmp)] = .icmp
        t[Int(IPProto.udp)] = .udp
        t[Int(IPProto.tcp)] = .tcp
        return t
    }()

    /// inet_add_protocol.
    public func addProtocol(_ number: UInt8, _ p: InetProtocol) { inetProtocols[Int(number)] = p }
    /// Datagrams being reassembled, and the bytes their fragments hold.
    var frags = FragmentQueues<FragmentKey>()

    init(dp: Datapath) {
        self.dp = dp; self.pool = dp.pool; self.clock = dp.clock; self.dpRef = Unmanaged.passUnretained(dp)
        // RTNH_F_DEAD: the device is down (or gone); ip_ignore_linkdown: all's or the device's.
        fib.health.dead = { [unowned dp] d in !(dp.device(d)?.isUp ?? false) }
        fib.health.linkdown = { [unowned dp] d in !(dp.device(d)?.isOperational ?? false) }
        fib.health.good = { [unowned dp] d in
            guard let dev = dp.device(d), dev.isUp else { return false }
            return dev.carrier || !dev.inet4.ignoreRoutesWithLinkdown
        }
    }

    /// Registers a handler for UDP datagrams to `port` on any local address. The handler gets
    /// the IPv4 header and the datagram's total length; the packet is freed after it returns.
    public func registerUDP(port: UInt16, _ handler: @escaping (Datapath, NetDevice, UnsafeMutableRawPointer, Int) -> Void) {
        udpHandlers[port] = handler
    }

    // MARK: addresses (devinet.c, fib_frontend.c's fib_add_ifaddr)

    /// __inet_insert_ifa: an address on the subnet (same mask, same network) of another is
    /// secondary, with the same scope or EINVAL; the same local address there is EEXIST. A
    /// primary goes after the last primary of its scope or wider, a secondary at the end. Its
    /// routes follow (fib_add_ifaddr): the local route always, and while the device is up the
    /// prefix route and the subnet's broadcast route (for prefixes shorter than /31).
    public func addAddress(_ dev: NetDevice, _ a: InetAddress) throws(SluiceError) {
        // __inet_insert_ifa: an address of 0.0.0.0 is dropped without a word.
        if a.address == 0 { return }
        var list = addresses[dev.ifindex] ?? []
        var a = a
        if a.changed == 0 { a.changed = clock.now }
        var lastPrimary = 0
        for (i, b) in list.enumerated() {
            if !b.secondary && a.scope <= b.scope { lastPrimary = i + 1 }
            guard b.mask == a.mask, a.matches(b.peer) else { continue }
            if b.address == a.address { throw SluiceError("Error: ipv4: Address already assigned (File exists)") }
            if b.scope != a.scope { throw SluiceError("Error: ipv4: Invalid scope value (Invalid argument)") }
            a.secondary = true
        }
        list.insert(a, at: a.secondary ? list.count : lastPrimary)
        addresses[dev.ifindex] = list
        installRoutes(dev, a)
    }

    /// The address inet_rtm_deladdr picks: by local address, with a prefix (IFA_ADDRESS) only
    /// on that subnet and length, with a label only under that label.
    public func findAddress(_ dev: NetDevice, local: UInt32?, prefixLen: Int?, peer: UInt32? = nil, label: String? = nil) -> InetAddress? {
        addresses[dev.ifindex]?.first { b in
            (local == nil || b.address == local) && (label == nil || (b.label ?? dev.name) == label)
                && (peer == nil || (b.prefixLen == prefixLen && b.matches(peer!)))
                && (peer != nil || prefixLen == nil || b.prefixLen == prefixLen)
        }
    }

    /// Changes an address's lifetimes in place (inet_rtm_newaddr on an existing address with
    /// NLM_F_REPLACE): set_ifa_lifetime, the flags and routes stay.
    public func setLifetimes(_ dev: NetDevice, _ address: UInt32, _ prefixLen: Int, valid: UInt32, preferred: UInt32) {
        guard var list = addresses[dev.ifindex], let i = list.firstIndex(where: { $0.address == address && $0.prefixLen == prefixLen }) else { return }
        list[i].setLifetimes(valid: valid, preferred: preferred, now: clock.now)
        addresses[dev.ifindex] = list
    }

    /// inet_rtm_newaddr on an existing address: a new IFA_RT_PRIORITY moves a primary's prefix
    /// route to that metric (fib_modify_prefix_metric: not for a secondary, a noprefixroute
    /// or a /32 host address, nor while the device is down).
    public func setMetric(_ dev: NetDevice, _ address: UInt32, _ prefixLen: Int, _ metric: UInt32) {
        guard var list = addresses[dev.ifindex], let i = list.firstIndex(where: { $0.address == address && $0.prefixLen == prefixLen }) else { return }
        let a = list[i]
        guard a.metric != metric else { return }
        list[i].metric = metric
        addresses[dev.ifindex] = list
        guard dev.isUp, !a.secondary, !a.noPrefixRoute, a.network != 0, !(a.network == a.address && a.prefixLen == 32),
              !dev.flags.contains(.loopback) else { return }
        let d = dev.ifindex
        let main = fib.mainTable(for: d)
        if let e = main.entry(a.network, a.prefixLen), var r = main.prefixes[e]!.routes.first(where: { $0.proto == RouteProtocol.kernel && $0.metric == a.metric && $0.nexthops.first?.dev == d }) {
            r.metric = metric
            try? main.insert(a.network, a.prefixLen, r, replace: false, exclusive: false, append: true)
            _ = main.delete(a.network, a.prefixLen) { $0.proto == RouteProtocol.kernel && $0.metric == a.metric && $0.nexthops.first?.dev == d }
        }
    }

    /// __inet_del_ifa with promote_secondaries off (the kernel's default): a primary takes its
    /// secondaries with it; the last address gone disables IP on the device (fib_disable_ip:
    /// routes through it and its neighbours go).
    public func deleteAddress(_ dev: NetDevice, _ address: UInt32, _ prefixLen: Int) throws(SluiceError) {
        guard var list = addresses[dev.ifindex], let i = list.firstIndex(where: { $0.address == address && $0.prefixLen == prefixLen }) else {
            throw SluiceError("Error: ipv4: Address not found (Cannot assign requested address)")
        }
        let a = list.remove(at: i)
        var gone = [a]
        let sameSubnet = { (b: InetAddress) in b.secondary && b.mask == a.mask && a.matches(b.peer) }
        var promoted: InetAddress?
        if !a.secondary && dev.inet4.promoteSecondaries, let j = list.firstIndex(where: sameSubnet) {
            // The promoted address takes the deleted one's place, or follows the last primary
            // between the two (__inet_del_ifa relinks it after last_prim).
            var p = list.remove(at: j)
            p.secondary = false
            let at = (list[i..<j].lastIndex { !$0.secondary && a.scope <= $0.scope }).map { $0 + 1 } ?? i
            list.insert(p, at: at)
            promoted = p
        } else if !a.secondary {
            gone += list.filter(sameSubnet)
            list.removeAll(where: sameSubnet)
        }
        addresses[dev.ifindex] = list.isEmpty ? nil : list
        for g in gone.reversed() { removeRoutes(dev, g) }
        for g in gone { flushRoutesFrom(g.address, dev: dev.ifindex) }
        if let promoted {
            // fib_del_ifaddr then fib_add_ifaddr: the subnet's routes now name the promoted
            // address as their source.
            let d = dev.ifindex
            let kernelVia: (Route) -> Bool = { $0.proto == RouteProtocol.kernel && $0.nexthops.first?.dev == d }
            _ = fib.mainTable(for: d).delete(a.network, a.prefixLen, matching: kernelVia)
            if a.prefixLen < 31 { _ = fib.localTable(for: d).delete(a.network | ~a.mask, 32, matching: kernelVia) }
            for b in list where b.mask == a.mask && a.matches(b.peer) {
                _ = fib.localTable(for: d).delete(b.address, 32, matching: kernelVia)
                installRoutes(dev, b)
            }
        }
        if list.isEmpty {
            fib.deleteRoutes(through: dev.ifindex, deviceGone: false)
            flushNeighbours(dev: dev.ifindex, all: true)
        }
    }

    /// Addresses that changed without a request (check_lifetime's deletions and deprecations),
    /// for RTM_DELADDR/RTM_NEWADDR notifications; taken by the control server (bounded).
    var addressEvents: [(dev: Int32, address: InetAddress, deleted: Bool)] = []

    func noteAddressEvent(_ d: Int32, _ a: InetAddress, deleted: Bool) {
        if addressEvents.count < 4096 { addressEvents.append((d, a, deleted)) }
    }

    /// check_lifetime: an address whose valid lifetime ran out goes (its secondaries with it, as
    /// any delete); one whose preferred lifetime ran out is deprecated.
    func expireAddresses(_ now: UInt64) {
        for (d, list) in addresses {
            for a in list where !a.permanent {
                guard let dev = dp.device(d) else { continue }
                let age = (now &- a.changed) / Time.s
                if a.validLft != .max && age >= UInt64(a.validLft) {
                    let before = addresses[d] ?? []
                    guard (try? deleteAddress(dev, a.address, a.prefixLen)) != nil else { continue }
                    let after = addresses[d] ?? []
                    // __inet_del_ifa announces the secondaries it takes before the address.
                    for g in before where !after.contains(g) && g != a { noteAddressEvent(d, g, deleted: true) }
                    noteAddressEvent(d, a, deleted: true)
                } else if a.preferredLft != .max && age >= UInt64(a.preferredLft) && !a.deprecated,
                          var l = addresses[d], let i = l.firstIndex(of: a) {
                    l[i].deprecated = true
                    addresses[d] = l
                    noteAddressEvent(d, l[i], deleted: false)
                }
            }
        }
    }

    /// fib_magic adds with NLM_F_CREATE|NLM_F_APPEND: the first device's route for a prefix
    /// stays first when another device gets the same subnet.
    func installRoutes(_ dev: NetDevice, _ a: InetAddress) {
        let prim = primary(dev, for: a) ?? a.address
        let nh = [NextHop(dev: dev.ifindex)]
        // fib_magic: a device in a VRF has both kinds of route in the VRF's table.
        let localT = fib.localTable(for: dev.ifindex), mainT = fib.mainTable(for: dev.ifindex)
        try? localT.insert(a.address, 32, Route(type: .local, nexthops: nh, proto: RouteProtocol.kernel, scope: RouteScope.host, prefsrc: prim), replace: false, exclusive: false, append: true)
        guard dev.isUp else { return }
        if a.broadcast != 0 && a.broadcast != 0xFFFF_FFFF {
            try? localT.insert(a.broadcast, 32, Route(type: .broadcast, nexthops: nh, proto: RouteProtocol.kernel, scope: RouteScope.link, prefsrc: prim), replace: false, exclusive: false, append: true)
        }
        guard !a.secondary, !a.noPrefixRoute, a.network != 0, a.network != a.address || a.prefixLen < 32 else { return }
        if dev.flags.contains(.loopback) {
            // fib_magic's RTN_LOCAL for a loopback device's prefix: the local table, scope host.
            try? localT.insert(a.network, a.prefixLen, Route(type: .local, nexthops: nh, proto: RouteProtocol.kernel, scope: RouteScope.host, prefsrc: prim), replace: false, exclusive: false, append: true)
        } else {
            var r = Route(type: .unicast, nexthops: nh, proto: RouteProtocol.kernel, scope: RouteScope.link, prefsrc: prim)
            r.metric = a.metric
            try? mainT.insert(a.network, a.prefixLen, r, replace: false, exclusive: false, append: true)
        }
        if a.prefixLen < 31 {
            try? localT.insert(a.network | ~a.mask, 32, Route(type: .broadcast, nexthops: nh, proto: RouteProtocol.kernel, scope: RouteScope.link, prefsrc: prim), replace: false, exclusive: false, append: true)
        }
    }

    func removeRoutes(_ dev: NetDevice, _ a: InetAddress) {
        let d = dev.ifindex
        let localT = fib.localTable(for: d), mainT = fib.mainTable(for: d)
        let kernelVia: (Route) -> Bool = { $0.proto == RouteProtocol.kernel && $0.nexthops.first?.dev == d }
        // fib_del_ifaddr's order (its deletions are announced): the prefix route, the address's
        // broadcast, the subnet's, then the local route.
        let lastOnSubnet = !(addresses[d] ?? []).contains(where: { $0.prefixLen == a.prefixLen && $0.network == a.network })
        if lastOnSubnet { _ = (dev.flags.contains(.loopback) ? localT : mainT).delete(a.network, a.prefixLen, matching: kernelVia) }
        if a.broadcast != 0 { _ = localT.delete(a.broadcast, 32, matching: kernelVia) }
        if lastOnSubnet && a.prefixLen < 31 { _ = localT.delete(a.network | ~a.mask, 32, matching: kernelVia) }
        _ = localT.delete(a.address, 32, matching: kernelVia)
    }

    /// fib_del_ifaddr's last step: an address that is no longer local in the device's local
    /// table (inet_addr_type_dev_table) takes with it the routes of the device's main table
    /// (its VRF's) that named it as their preferred source (fib_sync_down_addr, then
    /// fib_flush, which announces nothing). Routes of other tables keep it.
    func flushRoutesFrom(_ address: UInt32, dev d: Int32) {
        guard address != 0, fib.localTable(for: d).lookup(address, hash: 0)?.type != .local else { return }
        let on = fib.journal.on
        fib.journal.on = false
        _ = fib.mainTable(for: d).deleteAll { $0.prefsrc == address }
        fib.journal.on = on
    }

    /// The primary address of `dev` in `a`'s subnet.
    func primary(_ dev: NetDevice, for a: InetAddress) -> UInt32? {
        addresses[dev.ifindex]?.first { !$0.secondary && $0.prefixLen == a.prefixLen && $0.network == a.network }?.address
    }

    /// inet_select_addr: the device's first primary address (preferring one on `dst`'s subnet).
    func sourceAddress(_ dev: Int32, toward dst: UInt32) -> UInt32 {
        guard let list = addresses[dev] else { return 0 }
        return (list.first { !$0.secondary && dst != 0 && $0.matches(dst) } ?? list.first { !$0.secondary })?.address ?? 0
    }

    /// inet_select_addr in full (the control path): a primary address of `dev` of scope at most
    /// `scope`, on `dst`'s subnet if one is, else the first; failing that, the first primary of
    /// another device that is not link-scoped (in_dev_select_addr), in ifindex order.
    func selectAddress(_ dev: Int32, toward dst: UInt32, scope: UInt8) -> UInt32 {
        let mine = (addresses[dev] ?? []).filter { !$0.secondary && $0.scope <= scope }
        if let a = mine.first(where: { dst != 0 && $0.matches(dst) }) ?? mine.first { return a.address }
        // In a VRF the VRF device stands for lo, its addresses first; then only the devices of
        // the same VRF (or, outside one, of none).
        let vrf = fib.l3mdevMaster(dev)
        if vrf != 0, vrf != dev, let a = addresses[vrf]?.first(where: { !$0.secondary && $0.scope != RouteScope.link && $0.scope <= scope }) { return a.address }
        for d in addresses.keys.sorted() where d != dev && fib.l3mdevMaster(d) == vrf {
            if let a = addresses[d]?.first(where: { !$0.secondary && $0.scope != RouteScope.link && $0.scope <= scope }) { return a.address }
        }
        return 0
    }

    /// fib_result_prefsrc: the route's preferred source, else inet_select_addr on its next hop's
    /// device toward the gateway (for a connected route: the device's first primary address).
    func preferredSource(_ r: FIBResult) -> UInt32 {
        r.prefsrc != 0 ? r.prefsrc : sourceAddress(r.dev, toward: r.gateway)
    }

    /// NETDEV_UP / NETDEV_DOWN (fib_netdev_event): routes through a device that went down go,
    /// its connected routes come back when it is up again; its neighbours are flushed.
    func deviceStateChanged(_ dev: NetDevice) {
        let d = dev.ifindex
        if dev.isUp {
            for a in addresses[d] ?? [] { installRoutes(dev, a) }
            // inetdev_event NETDEV_UP on a loopback device: 127.0.0.1/8, scope host.
            if dev.flags.contains(.loopback) && findAddress(dev, local: 0x7F00_0001, prefixLen: 8) == nil {
                let a = InetAddress(address: 0x7F00_0001, prefixLen: 8, scope: RouteScope.host)
                if (try? addAddress(dev, a)) != nil { noteAddressEvent(d, addresses[d]?.first { $0.address == a.address } ?? a, deleted: false) }
            }
            announceAddresses(dev)
        } else {
            // nh_netdev_event NETDEV_DOWN, before the FIBs' own (both families' objects).
            dp.flushNexthops(dev: d)
            fib.deleteRoutes(through: d, deviceGone: false)
            flushNeighbours(dev: d)
            neighbours.flushProxies(dev: d)
        }
    }

    /// The device is gone: its addresses, routes and neighbours too.
    func deviceRemoved(_ d: Int32) {
        addresses[d] = nil
        neighbours.setDeviceParams(d, nil)
        dp.flushNexthops(dev: d)
        fib.deleteRoutes(through: d, deviceGone: true)
        flushNeighbours(dev: d, all: true)
    }

    // MARK: receive

    /// ip_rcv + ip_route_input + dst_input.
    func ipReceive(_ dev: NetDevice, _ p: consuming Packet) {
        stats.inReceives &+= 1
        let m = pool.meta(p)
        let frame = pool.data(p)
        let dstMAC = MACAddress(at: frame)
        let toUs = dstMAC == dev.mac
        let linkBroadcast = dstMAC.isMulticast
        if m.pointee.otherHost(byMAC: !toUs && !linkBroadcast) { dev.drop(.otherHost); pool.free(p); return }
        let ihl: Int, total: Int
        switch InetWire.checkIPv4(frame, frameLength: Int(m.pointee.length)) {
        case .ok(let h, let t): ihl = h; total = t
        case .headerError: stats.inHdrErrors &+= 1; dev.drop(.ipHeader); pool.free(p); return
        case .truncated: stats.inTruncatedPkts &+= 1; dev.drop(.pktTooSmall); pool.free(p); return
        }
        let ipb = Bytes(frame + InetWire.ethernetLength, count: ihl)
        let ip = IPv4Header(unchecked: ipb)
        guard ip.checksumValid else {
            stats.inCsumErrors &+= 1; stats.inHdrErrors &+= 1; dev.drop(.ipChecksum); pool.free(p); return
        }
        // pskb_trim_rcsum: Ethernet padding goes.
        if m.pointee.gsoType.isEmpty && InetWire.ethernetLength + total < Int(m.pointee.length) {
            m.pointee.length = UInt32(InetWire.ethernetLength + total)
        }
        let src = ip.source, dst = ip.destination
        // ip_route_input_mc: IGMP to a group the device joined is for its host, even from
        // 0.0.0.0 (a querier without an address).
        if dst >> 28 == 0xE && ip.proto == IPProto.igmp && !ip.isFragment && igmpFor(dev, group: dst) {
            stats.inDelivers &+= 1
            igmpReceive(dev, frame + InetWire.ethernetLength + ihl, length: total - ihl, multicast: linkBroadcast)
            pool.free(p); return
        }
        // Martian sources and destinations, in ip_route_input_slow's order: 127/8 is routed
        // only with route_localnet.
        if src >> 28 == 0xE || src == 0xFFFF_FFFF || (src >> 24 == 0 && dst != 0xFFFF_FFFF && !(src == 0 && dst == 0))
            || (src >> 24 == 127 && dst >> 24 != 127 && dst >> 24 != 0 && !dev.inet4.routeLocalnet) {
            martianSource(dev, src: src, dst: dst); pool.free(p); return
        }
        if (dst >> 24 == 0 && dst != 0) || (dst >> 24 == 127 && !dev.inet4.routeLocalnet) {
            martianDestination(dev, src: src, dst: dst); pool.free(p); return
        }
        let tos = ip.tos & 0xFC
        if dst == 0xFFFF_FFFF || dst == 0 {
            // brd_input: a source other than 0.0.0.0 is validated.
            if src != 0 && !sourceValid(dev, src: src, dst: 0, tos: tos, oif: 0, mark: m.pointee.mark) { pool.free(p); return }
            localDeliver(dev, p, ihl: ihl, total: total, broadcast: true); return
        }
        if dst >> 28 == 0xE { stats.inDiscards &+= 1; dev.drop(.noHandler); pool.free(p); return }
        // vrf_ip_rcv → vrf_rx_stats: what enters a VRF's slave counts on the VRF device too.
        if !fib.l3mdev.isEmpty { dp.vrfReceived(dev, bytes: total) }
        // fib_multipath_hash: the addresses by default, cheaply; the policy's fields else.
        let hash = plainL3Hash && ip.proto != IPProto.icmp ? Self.flowHash(src, dst)
            : multipathHash(frame + InetWire.ethernetLength, ihl: ihl, total: total, src: src, dst: dst, proto: ip.proto, fragment: ip.isFragment)
        // Rules other than the defaults see the flow (fib4_rules_early_flow_dissect for ports).
        let fib = self.fib
        guard let r = fib.lookup(dst, hash: hash, keys: {
            // vrf_ip_rcv: a packet entering a VRF's slave is routed as entering the VRF device.
            let vrf = fib.l3mdevMaster(dev.ifindex)
            var k = FlowKeysOf(src: src, iif: vrf != 0 ? vrf : dev.ifindex, mark: m.pointee.mark, tos: tos)
            if fib.needsPorts {
                k.proto = ip.proto
                switch ip.proto {
                case IPProto.tcp, IPProto.udp, 132, 136 where !ip.isFragment && total >= ihl + 4:
                    let l4 = Bytes(frame + InetWire.ethernetLength + ihl, count: 4)
                    k.sport = l4.u16(0); k.dport = l4.u16(2)
                default: break
                }
            }
            return k
        }) else {
            routeError(dev, p, ENETUNREACH, toUs: toUs); return
        }
        switch r.type {
        case .local:
            guard sourceValid(dev, src: src, dst: dst, tos: tos, oif: 0, mark: m.pointee.mark) else { pool.free(p); return }
            localDeliver(dev, p, ihl: ihl, total: total, broadcast: false)
        case .broadcast where dev.inet4.bcForwarding:
            // ip_route_input_slow's make_route for a directed broadcast (IN_DEV_BFORWARD, no
            // IN_DEV_FORWARD test): validated toward the route's device, then ip_forward, which
            // takes only what was sent to us.
            guard sourceValid(dev, src: src, dst: dst, tos: tos, oif: r.dev, mark: m.pointee.mark) else { pool.free(p); return }
            guard toUs else { dev.drop(.otherHost); pool.free(p); return }
            forward(dev, p, r, ihl: ihl, total: total)
        case .broadcast:
            guard src == 0 || sourceValid(dev, src: src, dst: 0, tos: tos, oif: 0, mark: m.pointee.mark) else { pool.free(p); return }
            localDeliver(dev, p, ihl: ihl, total: total, broadcast: true)
        case .unicast:
            // IN_DEV_FORWARD of the device it came in on.
            guard dev.inet4.forwarding else { routeError(dev, p, EHOSTUNREACH, toUs: toUs); return }
            guard sourceValid(dev, src: src, dst: dst, tos: tos, oif: r.dev, mark: m.pointee.mark) else { pool.free(p); return }
            guard toUs else { dev.drop(.otherHost); pool.free(p); return }
            forward(dev, p, r, ihl: ihl, total: total)
        // fib_props' errors: blackhole EINVAL, unreachable EHOSTUNREACH, prohibit EACCES; a
        // throw route never comes out of a lookup (the next rule is taken) — were one to, no route.
        case .blackhole, .anycast, .multicast: routeError(dev, p, EINVAL, toUs: toUs, reason: .ipBlackhole)
        case .unreachable: routeError(dev, p, EHOSTUNREACH, toUs: toUs)
        case .prohibit: routeError(dev, p, EACCES, toUs: toUs)
        case .throw: routeError(dev, p, ENETUNREACH, toUs: toUs)
        }
    }

    /// ip_route_input_slow's no_route and ip_error: with forwarding off on the input device every
    /// error is EHOSTUNREACH, counted as InAddrErrors, unanswered; with it on, no route counts
    /// InNoRoutes, and no route, an unreachable and a prohibit route are answered with ICMP
    /// net unreachable, host unreachable, packet filtered; a blackhole with nothing.
    func routeError(_ dev: NetDevice, _ p: consuming Packet, _ err: Int32, toUs: Bool, reason: DropReason = .ipNoRoute) {
        if !dev.inet4.forwarding {
            stats.inAddrErrors &+= 1
        } else {
            if err == ENETUNREACH { stats.inNoRoutes &+= 1 }
            let code: UInt8 = err == ENETUNREACH ? 0 : err == EHOSTUNREACH ? 1 : 13
            if toUs && err != EINVAL { icmpSend(dev, p, type: 3, code: code, info: 0, forLocal: false) }
        }
        dev.drop(reason); pool.free(p)
    }

    /// fib_validate_source's verdict; what fails is counted as a drop (martian source,
    /// ip_handle_martian_source; rp_filter, LINUX_MIB_IPRPFILTER) for the caller to free.
    @inline(__always)
    func sourceValid(_ dev: NetDevice, src: UInt32, dst: UInt32, tos: UInt8, oif: Int32, mark: UInt32) -> Bool {
        switch validateSource(dev, src: src, dst: dst, tos: tos, oif: oif, mark: mark) {
        case .ok: return true
        case .martian: martianSource(dev, src: src, dst: dst)
        case .rpf: stats.rpFilter &+= 1; dev.drop(.ipRPFilter)
        }
        return false
    }

    /// ip_handle_martian_source: counted, and logged with log_martians.
    func martianSource(_ dev: NetDevice, src: UInt32, dst: UInt32) {
        stats.inMartianSrc &+= 1; dev.drop(.ipMartian)
        if dev.inet4.logMartians { logMartian("martian source \(CommandRunner.ipString(dst)) from \(CommandRunner.ipString(src)), on dev \(dev.name)") }
    }

    /// ip_route_input_slow's martian_destination: counted, and logged with log_martians.
    func martianDestination(_ dev: NetDevice, src: UInt32, dst: UInt32) {
        stats.inMartianDst &+= 1; dev.drop(.ipMartianDestination)
        if dev.inet4.logMartians { logMartian("martian destination \(CommandRunner.ipString(dst)) from \(CommandRunner.ipString(src)), dev \(dev.name)") }
    }

    /// net_ratelimit (net.core.message_cost 5 s, message_burst 10, ___ratelimit): at most 10
    /// lines in a window that opens at the first one and lasts 5 s; the first line after a
    /// window that refused some first says how many (`net_ratelimit: N callbacks suppressed`).
    func logMartian(_ line: String) {
        let now = clock.now
        if martianLogBegin == 0 { martianLogBegin = now | 1 }
        if now > martianLogBegin &+ 5 * Time.s {
            if martianLogMissed > 0 { dp.log("net_ratelimit: \(martianLogMissed) callbacks suppressed"); martianLogMissed = 0 }
            martianLogBegin = now | 1
            martianLogPrinted = 0
        }
        guard martianLogPrinted < 10 else { martianLogMissed += 1; return }
        martianLogPrinted += 1
        dp.log(line)
    }

    /// net.ipv4.fib_multipath_hash_policy (0 L3, 1 L4, 2 L3 or inner L3, 3 custom) and
    /// fib_multipath_hash_fields (policy 3's, FIB_MULTIPATH_HASH_FIELD_*; default the
    /// addresses and protocol).
    public internal(set) var multipathHashPolicy: UInt8 = 0 { didSet { plainL3Hash = multipathHashPolicy == 0 && multipathHashSeed == 0 } }
    public internal(set) var multipathHashFields: UInt32 = MultipathField.srcIP | MultipathField.dstIP | MultipathField.ipProto
    /// net.ipv4.fib_multipath_hash_seed (both families'): 0, the kernel hashes with a seed it
    /// drew at boot and Sluice with its own mixer; any other value, Sluice hashes exactly as
    /// the kernel given that seed (KernelFlowHash), so each flow takes the same next hop.
    public internal(set) var multipathHashSeed: UInt32 = 0 { didSet { plainL3Hash = multipathHashPolicy == 0 && multipathHashSeed == 0 } }
    /// Policy 0 without a seed: the addresses through the cheap mixer, decided once here.
    var plainL3Hash = true

    /// fib_multipath_hash for a forwarded packet (31 bits), by policy: 0 the addresses — an
    /// ICMP error's the quoted header's, so that it follows the flow it reports on; 1 the
    /// addresses, protocol and ports (none for a fragment); 2 as 0 (Sluice looks into no
    /// tunnelled packet for inner addresses); 3 the fields of multipathHashFields that are
    /// outer ones (the inner ones need a tunnel's inner packet, which Sluice does not parse).
    @inline(never)
    func multipathHash(_ ip: UnsafeRawPointer, ihl: Int, total: Int, src: UInt32, dst: UInt32, proto: UInt8, fragment: Bool) -> UInt32 {
        if multipathHashSeed != 0 { return seededMultipathHash(ip, ihl: ihl, total: total, src: src, dst: dst, proto: proto, fragment: fragment) }
        switch multipathHashPolicy {
        case 1:
            let ports = InetWire.multipathPorts(ip, ihl: ihl, total: total, proto: proto, fragment: fragment)
            return Self.flowHash(Self.flowHash(src, dst) ^ UInt32(proto), ports)
        case 3:
            let f = multipathHashFields
            let ports = f & (MultipathField.srcPort | MultipathField.dstPort) == 0 ? 0
                : InetWire.multipathPorts(ip, ihl: ihl, total: total, proto: proto, fragment: fragment)
            let portMask = (f & MultipathField.srcPort != 0 ? 0xFFFF_0000 : 0) | (f & MultipathField.dstPort != 0 ? 0xFFFF : 0) as UInt32
            let l3 = Self.flowHash(f & MultipathField.srcIP != 0 ? src : 0, f & MultipathField.dstIP != 0 ? dst : 0)
            return Self.flowHash(l3 ^ (f & MultipathField.ipProto != 0 ? UInt32(proto) : 0), ports & portMask)
        default:
            if proto == IPProto.icmp, let inner = InetWire.icmpErrorInnerAddresses(ip, ihl: ihl, total: total, fragment: fragment) {
                return Self.flowHash(inner.src, inner.dst)
            }
            return Self.flowHash(src, dst)
        }
    }

    /// fib_multipath_hash with a seed: the kernel's keys per policy, hashed as it hashes them.
    /// 0: the addresses (an ICMP error's quoted ones, unless the packet is a later fragment);
    /// 1: addresses, protocol and ports; 2: the flow dissector's — the packet a tunnel (IPIP,
    /// IPv6 in IPv4, GRE) carries, its addresses (and IPv6's label and protocol), else the
    /// outer addresses; 3: the chosen outer fields and the chosen inner ones, each hashed,
    /// joined by jhash_2words.
    func seededMultipathHash(_ ip: UnsafeRawPointer, ihl: Int, total: Int, src: UInt32, dst: UInt32, proto: UInt8, fragment: Bool) -> UInt32 {
        let seed = multipathHashSeed
        switch multipathHashPolicy {
        case 1:
            let ports = InetWire.multipathPorts(ip, ihl: ihl, total: total, proto: proto, fragment: fragment)
            return KernelFlowHash.v4(seed: seed, src: src, dst: dst, proto: proto, ports: ports) >> 1
        case 2:
            if !fragment, let t = InetWire.tunnelled(ip, at: ihl, total: total, proto: proto) {
                let k = InetWire.dissect(ip + t.offset, total: total - t.offset, v6: t.v6)
                return (t.v6 ? KernelFlowHash.v6(seed: seed, src: k.src6, dst: k.dst6, label: k.label, proto: k.proto, ports: 0)
                             : KernelFlowHash.v4(seed: seed, src: k.src4, dst: k.dst4, proto: 0, ports: 0)) >> 1
            }
            return KernelFlowHash.v4(seed: seed, src: src, dst: dst, proto: 0, ports: 0) >> 1
        case 3:
            let f = multipathHashFields
            var outer: UInt32 = 0, inner: UInt32 = 0
            if f & MultipathField.outerMask != 0 {
                let ports = InetWire.multipathPorts(ip, ihl: ihl, total: total, proto: proto, fragment: fragment)
                outer = KernelFlowHash.v4(seed: seed, src: f & MultipathField.srcIP != 0 ? src : 0, dst: f & MultipathField.dstIP != 0 ? dst : 0,
                                          proto: f & MultipathField.ipProto != 0 ? proto : 0, ports: ports & Self.portMask(f, inner: false))
            }
            if f & MultipathField.innerMask != 0, !fragment, let t = InetWire.tunnelled(ip, at: ihl, total: total, proto: proto) {
                inner = Self.innerHash(seed, f, InetWire.dissect(ip + t.offset, total: total - t.offset, v6: t.v6), v6: t.v6)
            }
            return KernelFlowHash.jhash2(outer, inner) >> 1
        default:
            var s = src, d = dst
            let later = UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 6, as: UInt16.self)) & 0x1FFF != 0
            if proto == IPProto.icmp, let q = InetWire.icmpErrorInnerAddresses(ip, ihl: ihl, total: total, fragment: later) { s = q.src; d = q.dst }
            return KernelFlowHash.v4(seed: seed, src: s, dst: d, proto: 0, ports: 0) >> 1
        }
    }

    /// Policy 3's mask of the ports word: the source port's half and the destination's.
    static func portMask(_ f: UInt32, inner: Bool) -> UInt32 {
        let (s, d) = inner ? (MultipathField.innerSrcPort, MultipathField.innerDstPort) : (MultipathField.srcPort, MultipathField.dstPort)
        return (f & s != 0 ? 0xFFFF_0000 : 0) | (f & d != 0 ? 0xFFFF : 0)
    }

    /// fib_multipath_custom_hash_inner (and rt6's): the chosen fields of a tunnel's inner packet.
    static func innerHash(_ seed: UInt32, _ f: UInt32, _ k: DissectedFlow, v6: Bool) -> UInt32 {
        let proto = f & MultipathField.innerIPProto != 0 ? k.proto : 0, ports = k.ports & portMask(f, inner: true)
        if v6 {
            return KernelFlowHash.v6(seed: seed, src: f & MultipathField.innerSrcIP != 0 ? k.src6 : 0, dst: f & MultipathField.innerDstIP != 0 ? k.dst6 : 0,
                                     label: f & MultipathField.innerFlowLabel != 0 ? k.label : 0, proto: proto, ports: ports)
        }
        return KernelFlowHash.v4(seed: seed, src: f & MultipathField.innerSrcIP != 0 ? k.src4 : 0, dst: f & MultipathField.innerDstIP != 0 ? k.dst4 : 0,
                                 proto: proto, ports: ports)
    }

    /// fib_multipath_hash, L3 policy: a hash of the addresses (31 bits).
    @inline(__always)
    static func flowHash(_ a: UInt32, _ b: UInt32) -> UInt32 {
        var x = UInt64(a) << 32 | UInt64(b)
        x = (x ^ (x >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        x = (x ^ (x >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        return UInt32(truncatingIfNeeded: x ^ (x >> 33)) >> 1
    }

    /// ip_forward.
    func forward(_ inDev: NetDevice, _ p: consuming Packet, _ r: FIBResult, ihl: Int, total: Int) {
        let ip = pool.data(p) + InetWire.ethernetLength
        if ip.load(fromByteOffset: 8, as: UInt8.self) <= 1 {
            stats.inHdrErrors &+= 1
            icmpSend(inDev, p, type: 11, code: 0, info: 0, forLocal: false)
            inDev.drop(.ipTTL); pool.free(p); return
        }
        // The egress device, borrowed without a reference count (the device table holds it).
        guard let ref = dpRef._withUnsafeGuaranteedRef({ $0.deviceRefs[Int(r.dev)] }) else {
            stats.outNoRoutes &+= 1; inDev.drop(.ipNoRoute); pool.free(p); return
        }
        let idx = p.index
        _ = consume p
        ref._withUnsafeGuaranteedRef { out in forward(inDev, Packet(index: idx), r, ihl: ihl, total: total, out: out) }
    }

    func forward(_ inDev: NetDevice, _ p: consuming Packet, _ r: FIBResult, ihl: Int, total: Int, out: NetDevice) {
        guard out.isOperational else { stats.outNoRoutes &+= 1; inDev.drop(.ipNoRoute); pool.free(p); return }
        var ip = pool.data(p) + InetWire.ethernetLength
        let m = pool.meta(p)
        // ip_exceeds_mtu / skb_gso_validate_network_len.
        let netLen = m.pointee.gsoType.isEmpty ? total : Int(m.pointee.hdrLen) - InetWire.ethernetLength + Int(m.pointee.gsoSize)
        var fragment = false
        if netLen > out.mtu {
            let df = UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 6, as: UInt16.self)) & 0x4000 != 0
            if df || !m.pointee.gsoType.isEmpty {
                if df { icmpSend(inDev, p, type: 3, code: 4, info: UInt32(out.mtu), forLocal: false) }
                stats.fragFails &+= 1
                inDev.drop(.pktTooBig); pool.free(p); return
            }
            fragment = true
        }
        var q = p
        guard pool.makeWritable(&q) else { inDev.drop(.noBuffer); pool.free(q); return }
        ip = pool.data(q) + InetWire.ethernetLength
        InetWire.decrementTTL(ip)
        stats.forwDatagrams &+= 1
        // rt_set_nexthop's dst->tclassid: the next hop's realms, then set_class_tag with the
        // source's realm from the route back to it (fib_validate_source's itag), only while
        // some route has realms.
        let qm = pool.meta(q)
        var itag: UInt32 = 0
        if fib.hasRealms {
            // __fib_validate_source's reverse lookup: to the source, from the destination,
            // entering by the forward route's output device.
            let h = IPv4Header(unchecked: Bytes(ip, count: ihl))
            if let back = fib.lookup(h.source, hash: 0, keys: { FlowKeysOf(src: h.destination, iif: r.dev, tos: h.tos & 0xFC) }),
               back.type == .unicast { itag = back.itag }
        }
        qm.pointee.routeClassid = r.tclassid(itag: itag)
        qm.pointee.tcFlags |= PacketMeta.routed
        let nexthop = r.gateway != 0 ? r.gateway : IPv4Header(unchecked: Bytes(ip, count: ihl)).destination
        if r.type == .broadcast { broadcastNeighbour(out, nexthop) }
        if out === inDev && inDev.inet4.sendRedirects { redirect(inDev, q, ihl: ihl, nexthop: nexthop, gateway: r.gateway) }
        if fragment {
            fragmentAndSend(out, nexthop, q, ihl: ihl, total: total, nh: r.nh)
            return
        }
        neighOutput(out, nexthop, q, nh: r.nh)
    }

    /// arp_constructor: the neighbour for one of a device's broadcast addresses needs no ARP —
    /// NUD_NOARP, with the link-layer broadcast address.
    @inline(never)
    func broadcastNeighbour(_ out: NetDevice, _ addr: UInt32) {
        guard let i = neighbours.find(out.ifindex, addr) ?? neighbours.create(out.ifindex, addr, now: clock.now, pool: pool),
              neighbours.entries[Int(i)].state != .noarp else { return }
        neighUpdate(Int(i), mac: .broadcast, state: .noarp, override: true)
    }

    /// __mkroute_input's IPSKB_DOREDIRECT for a packet leaving by the device it came in on:
    /// send_redirects, the sender on the device's subnet (fib_validate_source's answer) and,
    /// without shared_media, the sender and the route's gateway on one of its subnets.
    func earnsRedirect(_ dev: NetDevice, src: UInt32, gateway: UInt32) -> Bool {
        dev.inet4.sendRedirects && sourceOnLink(dev.ifindex, src)
            && (dev.inet4.sharedMedia || addressesOnLink(dev.ifindex, src, gateway))
    }

    /// inet_addr_onlink: `a`, and `b` unless it is 0, are on one subnet of one of the
    /// device's addresses (secondaries included).
    func addressesOnLink(_ dev: Int32, _ a: UInt32, _ b: UInt32) -> Bool {
        (addresses[dev] ?? []).contains { ifa in
            let mask: UInt32 = ifa.prefixLen == 0 ? 0 : ~0 << UInt32(32 - ifa.prefixLen)
            return (a ^ ifa.peer) & mask == 0 && (b == 0 || (b ^ ifa.peer) & mask == 0)
        }
    }

    /// fib_validate_source's answer that matters for redirects: the sender is on a subnet
    /// connected to `dev` (its route back has no gateway and leaves by `dev`).
    func sourceOnLink(_ dev: Int32, _ src: UInt32) -> Bool {
        guard let back = fib.lookup(src, hash: 0) else { return false }
        return back.type == .unicast && back.gateway == 0 && back.dev == dev
    }

    /// __mkroute_input's IPSKB_DOREDIRECT and ip_rt_send_redirect: a packet leaving by the
    /// device it came in on, from a sender on that device's subnet, earns the sender an ICMP
    /// host redirect to the next hop (the packet is still forwarded) — at most
    /// ip_rt_redirect_number (9) per sender, each gap twice the one before from
    /// ip_rt_redirect_load (20 ms); ip_rt_redirect_silence (20.48 s) without redirected
    /// packets starts over. Without shared_media, the sender and the route's gateway (if it
    /// has one) must also share one of the device's subnets.
    func redirect(_ dev: NetDevice, _ p: borrowing Packet, ihl: Int, nexthop: UInt32, gateway: UInt32) {
        let src = IPv4Header(unchecked: Bytes(pool.data(p) + InetWire.ethernetLength, count: ihl)).source
        guard earnsRedirect(dev, src: src, gateway: gateway) else { return }
        let now = clock.now
        let load = 20 * Time.ms, silence = load << 10
        var peer = redirectPeers[src] ?? (0, 0)
        if now > peer.last &+ silence { peer = (0, 0) }
        if peer.count >= 9 {
            peer.last = now
        } else if peer.count == 0 || now > peer.last &+ (load << UInt64(peer.count)) {
            icmpSend(dev, p, type: 5, code: 1, info: nexthop, forLocal: false)
            peer.last = now
            peer.count += 1
        }
        if redirectPeers[src] == nil && redirectPeers.count >= 4096 { redirectPeers.removeAll(keepingCapacity: true) }
        redirectPeers[src] = peer
    }

    // MARK: local delivery

    func localDeliver(_ dev: NetDevice, _ p: consuming Packet, ihl: Int, total: Int, broadcast: Bool) {
        let frame = pool.data(p)
        let ip = frame + InetWire.ethernetLength
        let hdr = IPv4Header(unchecked: Bytes(ip, count: ihl))
        if hdr.isFragment {
            guard let whole = reassemble(dev, p, ihl: ihl, total: total) else { return }
            let t = Int(UInt16(bigEndian: (pool.data(whole) + InetWire.ethernetLength).loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
            localDeliver(dev, whole, ihl: ihl, total: t, broadcast: broadcast)
            return
        }
        stats.inDelivers &+= 1
        let payload = ip + ihl
        let plen = total - ihl
        switch inetProtocols[Int(hdr.proto)] {
        case .icmp:
            stats.icmpInMsgs &+= 1
            guard plen >= InetWire.icmpLength else { pool.free(p); return }
            if payload.load(as: UInt8.self) == 8 && !broadcast {   // echo request (icmp_echo_ignore_broadcasts)
                stats.icmpInEchos &+= 1
                echoReply(dev, p, ihl: ihl, total: total)
                return
            }
            pool.free(p)
        case .udp:
            guard plen >= UDPHeader.length else { pool.free(p); return }
            let port = UInt16(bigEndian: payload.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            if let h = udpHandlers[port] {
                // A checksum left to complete (a TAP's NEEDS_CSUM — for a tunnel, the inner
                // one) is completed before the datagram's content is used.
                let m = pool.meta(p)
                if m.pointee.csum == .partial {
                    _ = Checksum.complete(frame: frame, length: Int(m.pointee.length), start: Int(m.pointee.csumStart), offset: Int(m.pointee.csumOffset))
                    m.pointee.csum = .none
                }
                h(dp, dev, ip, total); pool.free(p); return
            }
            if !broadcast { icmpSend(dev, p, type: 3, code: 3, info: 0, forLocal: true) }
            pool.free(p)
        case .tcp:
            // No TCP listens here: every segment finds no socket (tcp_v4_send_reset).
            if !broadcast && plen >= TCPHeader.minLength { tcpReset(ip, ihl: ihl, total: total, from: dev.ifindex) }
            pool.free(p)
        case .gre:
            dp.greReceive(dev, p, ihl: ihl, total: total)
        case .none:
            stats.inUnknownProtos &+= 1
            if !broadcast { icmpSend(dev, p, type: 3, code: 2, info: 0, forLocal: true) }
            pool.free(p)
        }
    }

    /// tcp_v4_send_reset: never for a reset; for a segment with ACK, RST with its ack number as
    /// sequence; otherwise RST|ACK acknowledging what it carried (SYN and FIN count one). From
    /// the address it was sent to, TTL 64, DF, IP ID 0, the original TOS.
    func tcpReset(_ ip: UnsafeMutableRawPointer, ihl: Int, total: Int, from dev: Int32) {
        let hdr = IPv4Header(unchecked: Bytes(ip, count: ihl))
        guard let th = try? TCPHeader(validating: Bytes(ip + ihl, count: total - ihl)) else { return }
        let flags = th.flags
        if flags & TCPHeader.rst != 0 { return }
        let dataLen = total - ihl - th.headerLength
        let ackNumber = UInt32(bigEndian: (ip + ihl).loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let seq: UInt32, ack: UInt32?
        if flags & TCPHeader.ack != 0 {
            seq = ackNumber; ack = nil
        } else {
            seq = 0
            ack = th.sequence &+ UInt32(dataLen) &+ (flags & TCPHeader.syn != 0 ? 1 : 0) &+ (flags & TCPHeader.fin != 0 ? 1 : 0)
        }
        guard let q = pool.alloc() else { return }
        let out = pool.data(q) + InetWire.ethernetLength
        InetWire.writeTCPReset(out + InetWire.ipv4Length, src: hdr.destination, dst: hdr.source,
                               sport: th.destinationPort, dport: th.sourcePort, seq: seq, ack: ack)
        InetWire.writeIPv4(out, tos: hdr.tos, totalLength: InetWire.ipv4Length + 20, id: 0, df: true,
                           ttl: 64, proto: IPProto.tcp, src: hdr.destination, dst: hdr.source)
        pool.meta(q).pointee.length = UInt32(InetWire.ethernetLength + InetWire.ipv4Length + 20)
        stats.tcpOutRsts &+= 1
        output(q, dst: hdr.source, from: dev)
    }

    /// icmp_echo → icmp_reply: the request becomes the reply in place (options dropped).
    func echoReply(_ dev: NetDevice, _ p: consuming Packet, ihl: Int, total: Int) {
        var q = p
        guard pool.makeWritable(&q) else { pool.free(q); return }
        let frame = pool.data(q)
        let ip = frame + InetWire.ethernetLength
        let hdr = IPv4Header(unchecked: Bytes(ip, count: ihl))
        let src = hdr.destination, dst = hdr.source, tos = hdr.tos
        let icmpLen = total - ihl
        if ihl > InetWire.ipv4Length { memmove(ip + InetWire.ipv4Length, ip + ihl, icmpLen) }
        let icmp = ip + InetWire.ipv4Length
        icmp.storeBytes(of: 0, as: UInt8.self)             // echo reply, same id, sequence, data
        InetWire.setICMPChecksum(icmp, length: icmpLen)
        InetWire.writeIPv4(ip, tos: tos, totalLength: InetWire.ipv4Length + icmpLen, id: takeID(), df: false,
                           ttl: 64, proto: IPProto.icmp, src: src, dst: dst)
        let m = pool.meta(q)
        m.pointee.length = UInt32(InetWire.ethernetLength + InetWire.ipv4Length + icmpLen)
        m.pointee.csum = .none
        m.pointee.gsoType = GSOType(rawValue: 0)
        stats.icmpOutMsgs &+= 1; stats.icmpOutEchoReps &+= 1
        output(q, dst: dst, from: dev.ifindex)
    }

    func takeID() -> UInt16 { defer { nextID &+= 1 }; return nextID }

    /// Sends a packet whose IPv4 header is complete: routes it and resolves the next hop. `from`
    /// is the device it answers (a reply, an error), whose VRF it is routed in; 0 for none.
    func output(_ p: consuming Packet, dst: UInt32, from: Int32 = 0) {
        guard let r = fib.output(dst, hash: Self.flowHash(0, dst), from: from), r.type == .unicast || r.type == .local,
              let out = dp.devices[Int(r.dev)], out.isOperational else {
            stats.outNoRoutes &+= 1
            pool.free(p)
            return
        }
        stats.outRequests &+= 1
        let len = Int(pool.meta(p).pointee.length) - InetWire.ethernetLength
        if r.type == .local {
            // To one of our own addresses: delivered here, as the kernel loops it through lo.
            let ihl = Int((pool.data(p) + InetWire.ethernetLength).load(as: UInt8.self) & 0x0F) * 4
            pool.meta(p).pointee.ifindex = out.ifindex
            localDeliver(out, p, ihl: ihl, total: len, broadcast: false)
            return
        }
        if len > out.mtu {
            let ihl = Int((pool.data(p) + InetWire.ethernetLength).load(as: UInt8.self) & 0x0F) * 4
            fragmentAndSend(out, r.gateway != 0 ? r.gateway : dst, p, ihl: ihl, total: len, nh: r.nh)
            return
        }
        neighOutput(out, r.gateway != 0 ? r.gateway : dst, p, nh: r.nh)
    }

    // MARK: ICMP errors (icmp.c: __icmp_send, icmpv4_xrlim_allow, icmp_global_allow)

    /// Answers `orig` with an ICMP error when icmp_send's rules allow; `orig` stays the caller's.
    func icmpSend(_ inDev: NetDevice, _ orig: borrowing Packet, type: UInt8, code: UInt8, info: UInt32, forLocal: Bool) {
        let frame = pool.data(orig)
        if MACAddress(at: frame).isMulticast { return }                 // link-level broadcast/multicast
        let ip = frame + InetWire.ethernetLength
        let hdr = IPv4Header(unchecked: Bytes(ip, count: InetWire.ipv4Length))
        let origSrc = hdr.source, origDst = hdr.destination
        if hdr.fragmentField & 0x1FFF != 0 { return }                     // only about fragment 0
        if origDst == 0xFFFF_FFFF || origDst >> 28 == 0xE { return }
        if let r = fib.localTable(for: inDev.ifindex).lookup(origDst, hash: 0), r.type == .broadcast { return }
        if origSrc == 0 || origSrc >> 28 >= 0xE { return }
        let ihl = hdr.headerLength
        let origLen = hdr.totalLength
        if hdr.proto == IPProto.icmp && origLen >= ihl + 1 {
            let t = (ip + ihl).load(as: UInt8.self)
            if [3, 4, 5, 11, 12].contains(t) { return }                  // never about an ICMP error
        }
        let now = clock.now
        if icmpRateMask & (1 << UInt32(type)) != 0 {
            guard rateLimiter.allow(peer: origSrc, timeout: icmpRateLimit, now: now, msgsPerSec: icmpMsgsPerSec, burst: icmpMsgsBurst) else {
                stats.icmpRateLimited &+= 1; return
            }
        }
        guard let back = fib.output(origSrc, hash: Self.flowHash(0, origSrc), from: inDev.ifindex), back.type == .unicast else { return }
        let src = forLocal ? origDst : preferredSource(back)
        guard src != 0, let q = pool.alloc() else { return }
        // 576-byte rule: the original datagram as far as it fits.
        let quote = min(origLen, 576 - InetWire.ipv4Length - InetWire.icmpLength, Int(pool.meta(orig).pointee.length) - InetWire.ethernetLength)
        let total = InetWire.ipv4Length + InetWire.icmpLength + quote
        let out = pool.data(q)
        let oip = out + InetWire.ethernetLength
        let icmp = oip + InetWire.ipv4Length
        InetWire.writeICMP(icmp, type: type, code: code, rest: type == 3 && code == 4 ? (info & 0xFFFF) : info)
        (icmp + InetWire.icmpLength).copyMemory(from: ip, byteCount: quote)
        InetWire.setICMPChecksum(icmp, length: InetWire.icmpLength + quote)
        InetWire.writeIPv4(oip, tos: (hdr.tos & 0x1E) | 0xC0, totalLength: total, id: takeID(), df: false,
                           ttl: 64, proto: IPProto.icmp, src: src, dst: origSrc)
        pool.meta(q).pointee.length = UInt32(InetWire.ethernetLength + total)
        stats.icmpOutMsgs &+= 1
        if type == 3 { stats.icmpOutDestUnreachs &+= 1 }
        if type == 11 { stats.icmpOutTimeExcds &+= 1 }
        if type == 5 { stats.icmpOutRedirects &+= 1 }
        output(q, dst: origSrc, from: inDev.ifindex)
    }

    // MARK: neighbours (the state machine is NeighbourResolver's)

    /// arp_solicit: a request for entry `i` — unicast to its known address while probing a
    /// valid entry (PROBE), broadcast otherwise. Its sender address follows arp_announce: 0 (and
    /// any value but 1 and 2) the waiting packet's source (the newest, neigh_probe's) when it
    /// is local in the device's table, whatever device holds it; 1 only when it also shares a
    /// subnet of the device with the target; 2 never — else the device's primary address for
    /// the target (inet_select_addr).
    func solicit(_ i: Int) {
        let t = neighbours
        let e = t.entries[i]
        guard let out = dp.devices[Int(e.dev)], out.isOperational else { return }
        var spa: UInt32 = 0
        if out.inet4.arpAnnounce != 2, let f = e.queue.peekTail(pool),
           let s = IPv4Header.sourceIfIPv4(f + InetWire.ethernetLength),
           fib.localTable(for: e.dev).lookup(s, hash: 0)?.type == .local,
           out.inet4.arpAnnounce != 1 || (addresses[e.dev] ?? []).contains(where: { $0.matches(s) && $0.matches(e.ip) }) {
            spa = s
        }
        if spa == 0 { spa = sourceAddress(e.dev, toward: e.ip) }
        let unicast = e.state == .probe && e.probes < t.parms(e.dev).ucastProbes
        sendARP(out, op: 1, dstMAC: unicast ? e.mac : .broadcast, tha: unicast ? e.mac : MACAddress(raw: 0), spa: spa, tpa: e.ip)
        t.requestsSent &+= 1
    }

    /// arp_error_report: ICMP host unreachable.
    func reportUnresolved(_ dev: NetDevice, _ p: borrowing Packet) {
        icmpSend(dev, p, type: 3, code: 1, info: 0, forLocal: false)
    }

    func sendARP(_ out: NetDevice, op: UInt16, dstMAC: MACAddress, tha: MACAddress, spa: UInt32, tpa: UInt32) {
        guard let q = pool.alloc() else { return }
        let f = pool.data(q)
        InetWire.writeEthernet(f, dst: dstMAC, src: out.mac, type: EtherType.arp)
        InetWire.writeARP(f + InetWire.ethernetLength, op: op, sha: out.mac, spa: spa, tha: tha, tpa: tpa)
        // 42 bytes, unpadded, as arp_create makes it: padding to 60 is the wire's (a NIC's) job;
        // veth and tun pass the frame as it is.
        pool.meta(q).pointee.length = UInt32(InetWire.ethernetLength + InetWire.arpLength)
        dp.stage(out.ifindex, q)
    }

    // MARK: ARP (arp_rcv, arp_process)

    /// arp_ignore (IN_DEV_ARP_IGNORE): 1 answers only for an address of the device asked on;
    /// 2 only for one on a subnet of that device holding the asker too; 3 not for addresses
    /// of scope host; 8 never; 0 and anything else for any local address.
    func arpIgnored(_ dev: NetDevice, sip: UInt32, tip: UInt32) -> Bool {
        switch dev.inet4.arpIgnore {
        case 1: return !confirmAddress(addresses[dev.ifindex] ?? [], dst: 0, local: tip, scope: RouteScope.host)
        case 2: return !confirmAddress(addresses[dev.ifindex] ?? [], dst: sip, local: tip, scope: RouteScope.host)
        case 3: return !addresses.values.contains { confirmAddress($0, dst: 0, local: tip, scope: RouteScope.link) }
        case 8: return true
        default: return false
        }
    }

    /// confirm_addr_indev: one of a device's addresses is `local` (any when 0) of at most
    /// `scope`, and some address's subnet holds both `local` and `dst` (each when not 0).
    func confirmAddress(_ list: [InetAddress], dst: UInt32, local: UInt32, scope: UInt8) -> Bool {
        var found = false, same = false
        for a in list {
            if !found && (local == 0 || a.address == local) && min(a.scope, RouteScope.host) <= scope {
                found = true
                if same { break }
            }
            if !same {
                same = (local == 0 || a.matches(local)) && (dst == 0 || a.matches(dst))
                if same && found && (local != 0 || dst == 0) { break }
            }
        }
        return found && same
    }

    func arpReceive(_ dev: NetDevice, _ p: consuming Packet) {
        if dev.flags.contains(.noARP) { dev.drop(.arpOff); pool.free(p); return }
        let frame = pool.data(p)
        let len = Int(pool.meta(p).pointee.length)
        guard len >= InetWire.ethernetLength + InetWire.arpLength,
              let arp = try? ARPHeader(validating: Bytes(frame + InetWire.ethernetLength, count: len - InetWire.ethernetLength)),
              arp.operation == 1 || arp.operation == 2 else {
            stats.arpMalformed &+= 1; dev.drop(.arpMalformed); pool.free(p); return
        }
        let sip = arp.senderIP, tip = arp.targetIP, sha = arp.senderMAC
        let dstMAC = MACAddress(at: frame)
        let toUs = dstMAC == dev.mac
        if sip >> 28 == 0xE || (tip >> 24 == 127 && !dev.inet4.routeLocalnet) || tip >> 28 == 0xE || sha.isMulticast {
            stats.arpMalformed &+= 1; dev.drop(.arpMalformed); pool.free(p); return
        }
        if pool.meta(p).pointee.otherHost(byMAC: !toUs && !dstMAC.isMulticast) { dev.drop(.otherHost); pool.free(p); return }
        // drop_gratuitous_arp: an ARP proxy's network, where gratuitous ARP is an attack.
        if sip == tip && dev.inet4.dropGratuitousArp { dev.drop(.arpGratuitous); pool.free(p); return }
        let now = clock.now
        let t = neighbours
        // arp_process. A DAD probe (from 0.0.0.0) is answered for an address in the device's
        // table, and goes no further.
        if sip == 0 {
            if arp.operation == 1 && fib.localTable(for: dev.ifindex).lookup(tip, hash: 0)?.type == .local
                && !arpIgnored(dev, sip: 0, tip: tip) {
                sendARP(dev, op: 2, dstMAC: sha, tha: sha, spa: tip, tpa: sip)
                t.repliesSent &+= 1
            }
            pool.free(p)
            return
        }
        // Another request is routed as an IP packet to its target from its sender would be.
        // For one of our addresses, once the route input accepts the sender (fib_validate_source:
        // a martian or rp_filter refusal goes on to the table update below), it is answered
        // unless arp_ignore says otherwise, the sender becoming a stale neighbour; for an
        // address routed elsewhere, proxy ARP may answer.
        if arp.operation == 1 {
            let vrf = fib.l3mdevMaster(dev.ifindex)
            let r = fib.lookup(tip, hash: 0) { FlowKeysOf(src: sip, iif: vrf != 0 ? vrf : dev.ifindex) }
            if let r, r.type == .local {
                if validateSource(dev, src: sip, dst: tip, tos: 0, oif: 0) == .ok {
                    if !arpIgnored(dev, sip: sip, tip: tip) && !(dev.inet4.arpFilter && arpFiltered(dev, sip: sip, tip: tip)) {
                        sendARP(dev, op: 2, dstMAC: sha, tha: sha, spa: tip, tpa: sip)
                        t.repliesSent &+= 1
                        if let i = t.find(dev.ifindex, sip) ?? t.create(dev.ifindex, sip, now: now, pool: pool) {
                            neighUpdate(Int(i), mac: sha, state: .stale, override: true)
                        }
                    }
                    pool.free(p)
                    return
                }
            } else if let r, proxyARP(dev, r, sip: sip, sha: sha, tip: tip, sentToUs: toUs, now: now) {
                pool.free(p)
                return
            }
        }
        // The table update: an existing entry takes the sender's address; arp_accept lets
        // unsolicited ARP make one — gratuitous ARP (sender = target, a unicast address; a
        // reply's target MAC the sender's), or a reply from a unicast address.
        var found = t.find(dev.ifindex, sip)
        let accept = arpAccepts(dev, sip: sip)
        var garp = false
        if found != nil || accept {
            let typeOfSender = fib.localTable(for: dev.ifindex).lookup(sip, hash: 0)?.type ?? .unicast
            garp = sip == tip && (arp.operation == 1 || arp.targetMAC == sha) && typeOfSender == .unicast
            if accept && found == nil && (garp || (arp.operation == 2 && typeOfSender == .unicast)) {
                found = t.create(dev.ifindex, sip, now: now, pool: pool)
            }
        }
        if let i32 = found {
            let i = Int(i32)
            // Broadcast replies and requests do not assert reachability; while locked
            // (locktime) the first answer wins, unless this one is gratuitous.
            let state: NUD = arp.operation == 2 && toUs ? .reachable : .stale
            let override = now > t.entries[i].updated + t.parms(dev.ifindex).locktime || garp
            neighUpdate(i, mac: sha, state: state, override: override || t.entries[i].mac == sha)
        }
        pool.free(p)
    }

    /// arp_filter: the output route back to the asker (from the address asked for, in the
    /// device's VRF) must leave by the device asked on; counted (ArpFilter) when it does not.
    func arpFiltered(_ dev: NetDevice, sip: UInt32, tip: UInt32) -> Bool {
        let vrf = fib.l3mdevMaster(dev.ifindex)
        guard let r = fib.lookup(sip, hash: Self.flowHash(tip, sip), keys: { FlowKeysOf(src: tip, iif: fib.loopbackIndex, oif: vrf) }) else { return true }
        let out = r.type == .local ? fib.loopbackIndex : r.dev
        if out != dev.ifindex { stats.arpFilter &+= 1; return true }
        return false
    }

    /// arp_accept: 1 takes unsolicited ARP; 2 only from a sender on one of the device's
    /// subnets (inet_confirm_addr); 0 and other values not.
    func arpAccepts(_ dev: NetDevice, sip: UInt32) -> Bool {
        switch dev.inet4.arpAccept {
        case 1: return true
        case 2: return confirmAddress(addresses[dev.ifindex] ?? [], dst: sip, local: 0, scope: RouteScope.universe)
        default: return false
        }
    }

    /// inetdev_event on NETDEV_UP and NETDEV_CHANGEADDR, with arp_notify: a gratuitous ARP
    /// request for each of the device's addresses.
    func announceAddresses(_ dev: NetDevice) {
        guard dev.inet4.arpNotify, dev.isOperational else { return }
        for a in addresses[dev.ifindex] ?? [] {
            sendARP(dev, op: 1, dstMAC: .broadcast, tha: MACAddress(raw: 0), spa: a.address, tpa: a.address)
            neighbours.requestsSent &+= 1
        }
    }


}
