#if canImport(Glibc)
import Glibc
#endif

/// Principles (net/ipv6: ip6_input.c, ip6_output.c's ip6_forward, route.c, icmp.c, ndisc.c,
/// addrconf.c)
/// ----------
/// A device that is up with carrier gets its link-local address (fe80::/64, modified EUI-64 of
/// its MAC, addr_gen_mode eui64), as addrconf_dev_config gives it.
/// - Duplicate address detection (addrconf.c's addrconf_dad_*, RFC 4862 5.4): a new address is
///   tentative — not a source, not answered for, no local route — unless the device is NOARP
///   or loopback, the address is `nodad` or accept_dad is 0. Once the link is ready it waits a
///   random time below rtr_solicit_delay (1 s), then sends dad_transmits (1) solicitations from
///   :: to the solicited-node group, with a nonce (enhanced DAD), each retrans_time (1 s)
///   apart; after the last it becomes usable (local and anycast routes, RTM_NEWADDR). A
///   solicitation from :: for it without our nonce, or an advertisement for it, fails it: it
///   stays `dadfailed tentative`, unused.
/// - Optimistic DAD (RFC 4429, optimistic_dad and use_optimistic): an `optimistic` address (or
///   a link-local made while optimistic_dad is on and forwarding off) gets its local route as
///   DAD begins, is received on, answers solicitations without the override flag, is a source
///   only as a last resort (with use_optimistic) and never of a solicitation; its first probe
///   goes at once. It is announced as DAD begins only with use_optimistic, else when DAD ends.
/// - ipv6_rcv: a frame not addressed to the device is dropped; version and payload length are
///   checked (InHdrErrors, InTruncatedPkts); Ethernet padding is trimmed; multicast and loopback
///   sources are dropped (InAddrErrors). A multicast destination is for us when it is all-nodes,
///   all-routers (forwarding on) or the solicited-node group of one of the device's addresses.
/// - ip6_route_input: local table then main. Local goes to local delivery, unicast to
///   forwarding; blackhole is dropped; unreachable, prohibit and no route at all are answered
///   with ICMPv6 destination unreachable (no route, administratively prohibited, no route).
///   Link-local destinations are never forwarded.
/// - ip6_forward: only what was sent to our MAC; hop limit ≤ 1 gets time exceeded; longer than
///   the egress MTU gets packet too big with that MTU (routers never fragment); a link-local
///   source gets destination unreachable "beyond scope of source address"; the hop limit is
///   decremented; the next hop is resolved by Neighbor Discovery.
/// - Local delivery walks the extension headers (hop-by-hop first only, destination options,
///   routing with no segments left; anything else is a parameter problem). ICMPv6 checksums are
///   verified (Icmp6InCsumErrors). Upper layers are found in `inet6Protocols` (inet6_add_protocol).
///   Echo requests are answered (also to multicast, as echo_ignore_multicast 0); neighbor
///   solicitations and advertisements drive the neighbour table; UDP goes to a port registered
///   with `registerUDP`, else port unreachable; TCP a reset (tcp_v6_send_reset); an unknown next
///   header a parameter problem pointing at it. Fragments for us are reassembled (Fragments.swift: the
///   same queues, bounds and overlap rule as IPv4's; time exceeded code 1 after 30 s).
/// - icmp6_send: never about an ICMPv6 error or a redirect, a multicast destination or link-level
///   multicast (except packet too big), an unspecified or multicast source; the quote fills the
///   error up to 1280 bytes. Errors other than packet too big are rate limited per destination
///   (icmpv6 ratelimit 1 s, shortened by the route's prefix length as icmpv6_xrlim_allow) and
///   globally (icmp_msgs_per_sec).
/// - ndisc: solicitations and advertisements need hop limit 255 and code 0, a target that is not
///   multicast, and well-formed options. A solicitation for one of our addresses on the device is
///   answered (solicited, override, router when forwarding) and its source cached STALE; one from
///   :: (duplicate address detection) is answered to all-nodes. An advertisement updates an
///   existing entry: solicited makes it REACHABLE, else STALE; without override a different
///   address does not replace a valid one. Solicitations go to the target's solicited-node group
///   (unicast while probing) from the waiting packet's source if it is the device's own, else
///   from the device's link-local address (ndisc_solicit, ndisc_send_ns).
/// Not yet: new addresses after a failure (stable privacy), router advertisements (sending or taking them),
/// MLD, redirects, extension header options beyond skipping them, flow labels; what Sluice
/// itself sends is fragmented to the device's MTU (no path MTU cache).
public struct Inet6Address: Sendable, Equatable {
    public var address: UInt128
    public var prefixLen: Int
    /// IFA_F_NODAD: added with `nodad`: no duplicate address detection, usable at once.
    public var nodad = false
    /// IFA_F_STABLE_PRIVACY: a link-local made under addrgenmode random.
    public var stablePrivacy = false
    /// Made without its prefix route, unflagged (add_v4_addrs's add_addr).
    var withoutPrefixRoute = false
    /// When the address was added, in order: the order its solicited-node group was joined.
    var joined: UInt64 = 0
    /// IFA_F_TENTATIVE: duplicate address detection has not finished (or failed).
    public internal(set) var tentative = false
    /// IFA_F_DADFAILED: another node has the address; it stays tentative and unused.
    public internal(set) var dadFailed = false
    /// IFA_F_OPTIMISTIC (RFC 4429): tentative, yet received on, answered for (without the
    /// override flag) and, with use_optimistic, a source of last resort while its DAD runs.
    /// Asked for with `optimistic` (only while optimistic_dad is on), or a link-local made
    /// while optimistic_dad is on and forwarding off; DAD's end or failure clears it.
    public internal(set) var optimistic = false
    /// The local route was put in as DAD began (addrconf_dad_begin's ip6_ins_rt for an
    /// optimistic address on a ready link); a failed DAD leaves it, as the kernel does.
    var earlyLocalRoute = false
    /// Kept while the device was down (keep_addr_on_down): announced again as it comes up.
    var keptOverDown = false
    /// Solicitations left to send, the next DAD step (0: none), our nonce.
    var dadProbes = 0
    var dadAt: UInt64 = 0
    var dadNonce: UInt64 = 0
    /// Lifetimes in seconds from `changed` (UInt32.max: forever), as inet6_addr_add and
    /// inet6_addr_modify keep them; an address with a finite valid lifetime is not
    /// IFA_F_PERMANENT ("dynamic"), and goes when it runs out (addrconf_verify).
    public var validLft = UInt32.max, preferredLft = UInt32.max
    /// ifa->tstamp: when the lifetimes were last set, on the datapath clock.
    public var changed: UInt64 = 0
    /// IFA_F_DEPRECATED: the preferred lifetime ran out, or was set to 0.
    public var deprecated = false
    /// IFA_F_NOPREFIXROUTE: no prefix route for the address's subnet.
    public var noPrefixRoute = false
    /// IFA_F_HOMEADDRESS (0x10) and IFA_F_MANAGETEMPADDR (0x100), kept and shown as asked
    /// (Sluice makes no temporary addresses).
    public var userFlags: UInt32 = 0
    public static let userFlagMask: UInt32 = 0x10 | 0x100
    /// IFA_RT_PRIORITY (`metric N`): the prefix route's metric (0: IP6_RT_PRIO_ADDRCONF, 256).
    public var metric: UInt32 = 0
    var routeMetric: UInt32 { metric == 0 ? 256 : metric }
    public var permanent: Bool { validLft == .max }
    /// Usable: DAD done (a source, answered for, locally delivered).
    public var usable: Bool { !tentative }
    /// Assigned as ipv6_chk_addr_and_flags sees it: usable, or optimistic.
    public var assigned: Bool { !tentative || optimistic }

    /// The lifetimes, from `now` (addrconf_timeout_fixup's: 0 preferred deprecates at once).
    mutating func setLifetimes(valid: UInt32, preferred: UInt32, now: UInt64) {
        validLft = valid; preferredLft = preferred; changed = now
        deprecated = preferred == 0
    }

    /// The lifetimes left at `now`, as inet6_fill_ifaddr reports them: both forever for a
    /// permanent address with an infinite preferred lifetime; else, with a finite preferred
    /// lifetime, both less the time since they were set.
    func remaining(at now: UInt64) -> (valid: UInt32, preferred: UInt32) {
        if permanent && preferredLft == .max { return (.max, .max) }
        guard preferredLft != .max else { return (validLft, preferredLft) }
        let t = UInt32(clamping: (now &- changed) / Time.s)
        return (validLft == .max ? .max : validLft > t ? validLft - t : 0, preferredLft > t ? preferredLft - t : 0)
    }

    /// When the valid lifetime runs out (0: never).
    var expiresAt: UInt64 { permanent ? 0 : changed &+ UInt64(validLft) * Time.s }
    public var isLinkLocal: Bool { Inet6Wire.isLinkLocal(address) }
    /// RT_SCOPE_HOST for ::1, RT_SCOPE_LINK for link-local, else RT_SCOPE_UNIVERSE.
    public var scope: UInt8 { address == 1 ? RouteScope.host : isLinkLocal ? RouteScope.link : RouteScope.universe }
    public var network: UInt128 { LPMTrie<UInt128>.mask(address, prefixLen) }
}

/// IPSTATS_MIB_* and ICMP6_MIB_* counters (`nstat`'s Ip6*, Icmp6*).
public struct IPv6Stats: Sendable {
    public var inReceives: UInt64 = 0, inHdrErrors: UInt64 = 0, inAddrErrors: UInt64 = 0
    public var inTruncatedPkts: UInt64 = 0, inNoRoutes: UInt64 = 0, inUnknownProtos: UInt64 = 0
    public var inDelivers: UInt64 = 0, inDiscards: UInt64 = 0, inTooBigErrors: UInt64 = 0
    public var forwDatagrams: UInt64 = 0, outRequests: UInt64 = 0, outNoRoutes: UInt64 = 0, outDiscards: UInt64 = 0
    public var reasmReqds: UInt64 = 0, reasmOKs: UInt64 = 0, reasmFails: UInt64 = 0, reasmTimeout: UInt64 = 0
    public var icmpInMsgs: UInt64 = 0, icmpInErrors: UInt64 = 0, icmpInCsumErrors: UInt64 = 0, icmpInEchos: UInt64 = 0
    public var icmpInNeighborSolicits: UInt64 = 0, icmpInNeighborAdvertisements: UInt64 = 0
    public var icmpOutMsgs: UInt64 = 0, icmpOutEchoReplies: UInt64 = 0, icmpOutDestUnreachs: UInt64 = 0
    public var icmpOutTimeExcds: UInt64 = 0, icmpOutPktTooBigs: UInt64 = 0, icmpOutParmProblems: UInt64 = 0
    public var icmpOutNeighborSolicits: UInt64 = 0, icmpOutNeighborAdvertisements: UInt64 = 0
    public var icmpRateLimited: UInt64 = 0
    /// MLD (MLD.swift): queries heard, and what the listener sent — MLDv1 reports and dones,
    /// MLDv2 reports — and queries it dropped (not from a link-local address, hop limit not 1,
    /// no router alert for MLD, malformed).
    public var icmpInGroupMembQueries: UInt64 = 0, icmpInGroupMembReports: UInt64 = 0
    public var icmpOutGroupMembReports: UInt64 = 0, icmpOutGroupMembReductions: UInt64 = 0, icmpOutMLDv2Reports: UInt64 = 0
    public var mldQueriesDropped: UInt64 = 0
    /// Addresses whose duplicate address detection failed.
    public var dadFailures: UInt64 = 0
    public var tcpOutRsts: UInt64 = 0
}

public final class IPv6Stack: NeighbourResolver {
    static var etherType: UInt16 { EtherType.ipv6 }
    unowned(unsafe) let dp: Datapath
    let dpRef: Unmanaged<Datapath>
    let pool: PacketPool
    let clock: DatapathClock
    public let fib = FIBOf<UInt128>()
    public let neighbours = NeighbourTableOf<UInt128>()
    /// net.ipv6.conf.all and .default (DevConf6.swift); each device holds its own copy. All's
    /// forwarding is on, as for IPv4: Sluice routes once it has addresses. Default's accept_dad
    /// is 1 live, as the kernel's; on the virtual clock 0: an offline run replays captured
    /// traffic, which already holds whatever DAD took place, and probes of Sluice's own would
    /// change what comes out (`sysctl net.ipv6.conf.default.accept_dad=1` turns it on).
    public internal(set) var confAll = Inet6DevConf()
    public internal(set) lazy var confDefault: Inet6DevConf = {
        var c = Inet6DevConf()
        c[.acceptDAD] = clock.mode == .virtual ? 0 : 1
        return c
    }()
    /// Devices (or NETCONFA.ALL/DEFAULT) whose forwarding changed, to announce (RTM_NEWNETCONF).
    var netconfNotes: [(ifindex: Int32, attr: UInt16)] = []
    /// Per device, global addresses first, then link-local; newest first within a scope.
    public internal(set) var addresses: [Int32: [Inet6Address]] = [:]
    /// The source-selection policy table (`ip addrlabel`).
    public var addressLabels = AddressLabelTable()
    public internal(set) var stats = IPv6Stats()
    /// net.ipv6.icmp.ratelimit (ns), net.ipv6.icmp.ratemask (ICMPv6 types 0–127 as bits of the
    /// low word: default every error but packet too big), icmp_msgs_per_sec/burst.
    public var icmpRateLimit = 1 * Time.s
    public var icmpRateMask: UInt128 = UInt128.max & ~(UInt128(1) << 2)
    public var icmpMsgsPerSec: UInt64 = 1000
    public var icmpMsgsBurst: UInt64 = 50
    var rateLimiter = ICMPRateLimiter<UInt128>()
    /// Datagrams for us being reassembled, and the identification of the next one we fragment.
    var frags = FragmentQueues<FragmentKey6>()
    var nextFragmentID: UInt32 = 0
    /// Set when an optimistic address's DAD began outside a request: its local route is
    /// announced before the address (addrconf_dad_begin), not after it.
    var routesBeforeAddresses = false
    /// Solicitations for proxied and anycast addresses waiting for their random delay
    /// (pneigh_enqueue on nd_tbl's proxy queue).
    var proxyQueue: [PendingProxySolicitation] = []
    /// rtr_solicit_delay: the first DAD solicitation waits a random time below it.
    public var rtrSolicitDelay = 1 * Time.s
    /// The earliest DAD step of any address (0: none), run from the worker's timer.
    public internal(set) var dadDue: UInt64 = 0
    /// Draws DAD delays and nonces (seeded: a replay on the virtual clock is deterministic).
    var dadSeed: UInt64 = 0x853C_49E6_748F_EA9B
    /// Each device's MLD listener (MLD.swift), the earliest of their timers (0: none), and
    /// whether the groups may have changed since they were last compared.
    var mld: [Int32: GroupListener] = [:]
    public internal(set) var mldDue: UInt64 = 0
    var mldDirty = true

    /// inet6_protos: upper-layer protocol number → handler, registered at init as inet6_init
    /// does (ICMPv6, UDP, TCP).
    public internal(set) var inet6Protocols: [InetProtocol] = {
        var t = [InetProtocol](repeating: .none, count: 256)
        t[Int(IPProto.icmpv6)] = .icmp
        t[Int(IPProto.udp)] = .udp
        t[Int(IPProto.tcp)] = .tcp
        return t
    }()
    /// UDP ports registered by an embedding program.
    var udpHandlers: [UInt16: (Datapath, NetDevice, UnsafeMutableRawPointer, Int, Int) -> Void] = [:]

    init(dp: Datapath) {
        self.dp = dp; self.pool = dp.pool; self.clock = dp.clock; self.dpRef = Unmanaged.passUnretained(dp)
        // nd_tbl's parameters differ from arp_tbl's in one: no locktime (0).
        neighbours.params.locktime = 0
        // rt6_is_dead: down (or gone), or linkdown with the device's own
        // ignore_routes_with_linkdown (ip6_ignore_linkdown).
        fib.health.dead = { [unowned dp] d in !(dp.device(d)?.isUp ?? false) }
        fib.health.good = { [unowned dp] d in
            guard let dev = dp.device(d), dev.isUp else { return false }
            return dev.carrier || !dev.inet6.ignoreRoutesWithLinkdown
        }
        fib.health.now = { [unowned dp] in dp.clock.now }
    }

    /// inet6_add_protocol.
    public func addProtocol(_ number: UInt8, _ p: InetProtocol) { inet6Protocols[Int(number)] = p }

    /// Registers a handler for UDP datagrams to `port` on any local IPv6 address: it gets the
    /// IPv6 header, the UDP header's offset from it (after extension headers) and the packet's
    /// length from the IPv6 header; the packet is freed after it returns.
    public func registerUDP(port: UInt16, _ handler: @escaping (Datapath, NetDevice, UnsafeMutableRawPointer, Int, Int) -> Void) {
        udpHandlers[port] = handler
    }

    // MARK: addresses (addrconf.c)

    public func addAddress(_ dev: NetDevice, _ a: Inet6Address) throws(SluiceError) {
        // addrconf_add_dev: no inet6_dev to be had (ipv6_find_idev's EINVAL).
        if dev.inet6Absent { throw SluiceError("RTNETLINK answers: Invalid argument") }
        // ipv6_add_addr's checks, in its order.
        if a.address == 0 { throw SluiceError("Error: ipv6: Invalid address (Cannot assign requested address)") }
        if Inet6Wire.isMulticast(a.address) {
            throw SluiceError("Error: ipv6: Cannot assign multicast address without \"IFA_F_MCAUTOJOIN\" flag (Cannot assign requested address)")
        }
        if a.address == 1 && !dev.flags.contains(.loopback) {
            throw SluiceError("Error: ipv6: Cannot assign loopback address on this device (Cannot assign requested address)")
        }
        if dev.inet6.disabled { throw SluiceError("Error: ipv6: IPv6 is disabled on this device (Permission denied)") }
        var list = addresses[dev.ifindex] ?? []
        guard !list.contains(where: { $0.address == a.address }) else {
            throw SluiceError("Error: ipv6: address already assigned (File exists)")
        }
        var a = a
        // inet6_rtm_newaddr: `optimistic` is dropped unless optimistic_dad is on.
        if !dev.inet6.optimisticDAD { a.optimistic = false }
        a.tentative = needsDAD(dev, a)
        if !a.tentative { a.optimistic = false }
        insertSorted(&list, a)
        addresses[dev.ifindex] = list
        installRoutes(dev, a, addingAddress: true)
        if a.tentative && dev.isOperational { dadBegin(dev, a.address, announce: false) }
    }

    /// addrconf_dad_begin on a ready link: an optimistic address gets its local route now
    /// (announced; the address too with use_optimistic), then DAD starts (addrconf_dad_kick).
    /// A request announces what it changed itself (`announce` false).
    func dadBegin(_ dev: NetDevice, _ address: UInt128, announce: Bool) {
        var begun: Inet6Address? = nil
        withAddress(dev.ifindex, address) { a in
            guard a.optimistic else { return }
            a.earlyLocalRoute = true
            begun = a
        }
        if let begun {
            installRoutes(dev, begun)
            if announce && dev.inet6.useOptimistic {
                noteAddressEvent(dev.ifindex, begun, deleted: false)
                routesBeforeAddresses = true
            }
        }
        dadKick(dev.ifindex, address)
    }

    // MARK: duplicate address detection (addrconf_dad_*)

    /// addrconf_dad_begin's test: no DAD on a NOARP or loopback device, for a `nodad`
    /// address, or with accept_dad below 1 for both all and the device.
    func needsDAD(_ dev: NetDevice, _ a: Inet6Address) -> Bool {
        !(dev.flags.contains(.noARP) || dev.flags.contains(.loopback) || a.nodad || !dev.inet6.dad)
    }

    func dadRandom() -> UInt64 {
        dadSeed = dadSeed &* 6364136223846793005 &+ 1442695040888963407
        return dadSeed >> 11
    }

    func withAddress(_ dev: Int32, _ address: UInt128, _ body: (inout Inet6Address) -> Void) {
        guard var list = addresses[dev], let i = list.firstIndex(where: { $0.address == address }) else { return }
        body(&list[i])
        addresses[dev] = list
    }

    /// addrconf_dad_kick: the first solicitation after a random delay (none for an optimistic
    /// address), with a fresh nonce.
    func dadKick(_ dev: Int32, _ address: UInt128) {
        let optimistic = addresses[dev]?.first(where: { $0.address == address })?.optimistic ?? false
        let delay = rtrSolicitDelay > 0 && !optimistic ? dadRandom() % rtrSolicitDelay : 0
        let nonce = dadRandom() & 0xFFFF_FFFF_FFFF
        withAddress(dev, address) { a in
            // ifp->dad_probes, a u8, takes the device's dad_transmits.
            a.dadProbes = Int(UInt8(truncatingIfNeeded: dp.device(dev)?.inet6.dadTransmits ?? 1))
            a.dadNonce = nonce == 0 ? 1 : nonce
            a.dadAt = max(clock.now + delay, 1)
        }
        recomputeDADDue()
    }

    func recomputeDADDue() {
        var t: UInt64 = 0
        for list in addresses.values { for a in list where a.dadAt != 0 && (t == 0 || a.dadAt < t) { t = a.dadAt } }
        dadDue = t
    }

    /// addrconf_dad_work: a solicitation per probe, retrans_time apart; after the last, the
    /// address is usable (addrconf_dad_completed: its local and anycast routes, RTM_NEWADDR).
    func runDAD() {
        let now = clock.now
        for d in Array(addresses.keys) {
            guard let dev = dp.device(d) else { continue }
            for a in addresses[d] ?? [] where a.dadAt != 0 && a.dadAt <= now {
                if a.dadProbes == 0 {
                    mldDirty = true
                    var done = a
                    withAddress(d, a.address) { $0.tentative = false; $0.optimistic = false; $0.dadAt = 0; done = $0 }
                    installRoutes(dev, done)
                    noteAddressEvent(d, done, deleted: false)
                } else {
                    withAddress(d, a.address) { $0.dadProbes -= 1; $0.dadAt = now + max(neighbours.parms(d).retransTime, 10 * Time.ms) }
                    sendDADSolicitation(dev, target: a.address, nonce: a.dadNonce)
                }
            }
        }
        recomputeDADDue()
    }

    /// addrconf_dad_failure: someone else has the address. It stays tentative, flagged
    /// dadfailed, no longer optimistic (addrconf_dad_stop), and is announced; a second
    /// conflict changes nothing. An optimistic address's local route stays, as the kernel's.
    func dadFailed(_ dev: NetDevice, _ address: UInt128) {
        var failed: Inet6Address? = nil
        withAddress(dev.ifindex, address) { a in
            guard a.tentative, !a.dadFailed else { return }
            a.dadFailed = true; a.optimistic = false; a.dadAt = 0
            failed = a
        }
        guard let failed else { return }
        stats.dadFailures &+= 1
        recomputeDADDue()
        noteAddressEvent(dev.ifindex, failed, deleted: false)
    }

    /// ndisc_send_ns for DAD: from ::, to the target's solicited-node group, no link-layer
    /// address option, our nonce.
    func sendDADSolicitation(_ dev: NetDevice, target: UInt128, nonce: UInt64) {
        guard dev.isOperational, let q = pool.alloc() else { return }
        let dst = Inet6Wire.solicitedNode(target)
        let ip = pool.data(q) + InetWire.ethernetLength
        let icmp = ip + Inet6Wire.ipv6Length
        var len = Inet6Wire.writeND(icmp, type: 135, flags: 0, target: target, lladdr: nil)
        len += Inet6Wire.writeNonceOption(icmp + len, nonce)
        Inet6Wire.setChecksum(icmp, length: len, offset: 2, src: 0, dst: dst, next: IPProto.icmpv6)
        Inet6Wire.writeIPv6(ip, trafficClass: 0, payloadLength: len, nextHeader: IPProto.icmpv6, hopLimit: 255, src: 0, dst: dst)
        pool.meta(q).pointee.length = UInt32(InetWire.ethernetLength + Inet6Wire.ipv6Length + len)
        stats.outRequests &+= 1; stats.icmpOutMsgs &+= 1; stats.icmpOutNeighborSolicits &+= 1
        transmit(dev, Inet6Wire.multicastMAC(dst), q)
    }

    /// Addresses that came or went without a request (addrconf on NETDEV_UP, addrconf_ifdown),
    /// for RTM_NEWADDR/RTM_DELADDR notifications; taken by the control server (bounded).
    var addressEvents: [(dev: Int32, address: Inet6Address, deleted: Bool)] = []

    var joinCounter: UInt64 = 0

    func noteAddressEvent(_ d: Int32, _ a: Inet6Address, deleted: Bool) {
        if addressEvents.count < 4096 { addressEvents.append((d, a, deleted)) }
    }

    /// ipv6_link_dev_addr: sorted by scope, global before link-local; newer first in a scope.
    func insertSorted(_ list: inout [Inet6Address], _ a: Inet6Address) {
        let at = a.isLinkLocal ? (list.firstIndex { $0.isLinkLocal } ?? list.count) : 0
        var a = a
        joinCounter &+= 1
        a.joined = joinCounter
        list.insert(a, at: at)
    }

    /// addrconf_notify on NETDEV_UP/NETDEV_CHANGE once the link is ready (up with carrier,
    /// addrconf_link_ready): `lo` gets ::1/128 (init_loopback), any other device the EUI-64
    /// link-local address from its MAC (addrconf_dev_config, addrgenmode eui64). Sluice runs no
    /// DAD: the address is usable at once, as the kernel's on a NOARP device such as dummy.
    func linkReady(_ dev: NetDevice) {
        mldDirty = true
        let loopback = dev.flags.contains(.loopback)
        // addrconf_notify: nothing while IPv6 is disabled on the device.
        guard dev.isOperational, !dev.inet6.disabled else { return }
        // IF_READY; ipv6_mc_up puts back the group addresses a down while ready took away.
        if !dev.inet6Ready {
            dev.inet6Ready = true
            if dev.inet6McState == .dropped { dev.inet6McState = .reloaded }
        }
        // addrconf_dad_run: addresses added before the link was ready start their DAD now.
        // One kept over a down (addrconf_permanent_addr) is usable and announced at once when
        // no DAD is to run for it, else when its DAD ends.
        for var a in addresses[dev.ifindex] ?? [] {
            if a.keptOverDown {
                let dad = a.tentative && needsDAD(dev, a)
                withAddress(dev.ifindex, a.address) { $0.keptOverDown = false; if !dad { $0.tentative = false } }
                a.keptOverDown = false
                if !dad {
                    a.tentative = false
                    installRoutes(dev, a)
                    noteAddressEvent(dev.ifindex, a, deleted: false)
                    continue
                }
            }
            installRoutes(dev, a)
            if a.tentative && !a.dadFailed && a.dadAt == 0 { dadKick(dev.ifindex, a.address) }
        }
        // addrconf_add_linklocal: optimistic with optimistic_dad on and forwarding off.
        let optimisticLinkLocal = dev.inet6.optimisticDAD && !forwarding
        guard dev.addrGenMode != .none || loopback else { return }
        // addrconf_addr_gen: no link-local address on an L3 master (VRF) device.
        guard !dev.flags.contains(.master) else { return }
        var a = loopback ? Inet6Address(address: 1, prefixLen: 128) : Inet6Address(address: Inet6Wire.linkLocal(dev.mac), prefixLen: 64)
        if !loopback && dev.addrGenMode == .random {
            // ipv6_gen_mode_random_init: a secret drawn once per device, so the identifier
            // stays the same across down and up; the address is flagged stable-privacy.
            if dev.randomInterfaceID == 0 { dev.randomInterfaceID = UInt64.random(in: 1...UInt64.max) & ~(UInt64(0x02) << 56) }
            a = Inet6Address(address: UInt128(0xFE80) << 112 | UInt128(dev.randomInterfaceID), prefixLen: 64, stablePrivacy: true)
        }
        var made = [a]
        // addrconf_gre_config: a gre device's identifier is ISATAP's, from its local address
        // (__ipv6_isatap_ifid); without one, add_v4_addrs gives it fe80::A for each IPv4
        // address A of every device that is up (not link or host scope), with no prefix route.
        if !loopback && dev.addrGenMode == .eui64, let g = dev.driver as? GREDriver, !g.config.tap {
            let local = g.config.local
            if local != 0 {
                let special = [(0x0000_0000, 8), (0x0A00_0000, 8), (0x7F00_0000, 8), (0xA9FE_0000, 16), (0xAC10_0000, 12), (0xC000_0200, 24),
                               (0xC058_6300, 24), (0xC0A8_0000, 16), (0xC612_0000, 15), (0xE000_0000, 4), (0xFFFF_FFFF, 32)]
                    .contains { (net: Int, len: Int) in local >> (32 - len) == UInt32(net) >> (32 - len) }
                let iid = UInt64(special ? 0 : 0x02) << 56 | UInt64(0x5EFE) << 32 | UInt64(local)
                made = [Inet6Address(address: UInt128(0xFE80) << 112 | UInt128(iid), prefixLen: 64)]
            } else {
                made = []
                for case let d? in dp.devices where d.isUp {
                    // Host-scope ones (lo's 127.0.0.1) are left out: the kernel gives them scope
                    // host, which Sluice's IPv6 addresses do not have.
                    for v4 in dp.ipv4.addresses[d.ifindex] ?? [] where v4.scope < RouteScope.link {
                        var x = Inet6Address(address: UInt128(0xFE80) << 112 | UInt128(v4.address), prefixLen: 64)
                        x.withoutPrefixRoute = true
                        made.append(x)
                    }
                }
            }
        }
        for var a in made {
            guard !(addresses[dev.ifindex] ?? []).contains(where: { $0.address == a.address }) else { continue }
            var list = addresses[dev.ifindex] ?? []
            a.tentative = needsDAD(dev, a)
            a.optimistic = a.tentative && optimisticLinkLocal && !loopback
            insertSorted(&list, a)
            addresses[dev.ifindex] = list
            installRoutes(dev, a)
            // Announced now only when no DAD runs (addrconf_dad_begin completes it at once);
            // a tentative one when its DAD ends, or as it begins if optimistic.
            if a.tentative { dadBegin(dev, a.address, announce: true) } else { noteAddressEvent(dev.ifindex, a, deleted: false) }
        }
    }

    public func deleteAddress(_ dev: NetDevice, _ address: UInt128, _ prefixLen: Int) throws(SluiceError) {
        guard var list = addresses[dev.ifindex], let i = list.firstIndex(where: { $0.address == address && $0.prefixLen == prefixLen }) else {
            throw SluiceError("Error: ipv6: address not found (Cannot assign requested address)")
        }
        let a = list.remove(at: i)
        addresses[dev.ifindex] = list.isEmpty ? nil : list
        if a.dadAt != 0 { recomputeDADDue() }
        removeRoutes(dev, a)
        removePrefsrc(a.address, dev: dev.ifindex)
        if list.isEmpty { flushNeighbours(dev: dev.ifindex, all: true) }
    }

    /// rt6_remove_prefsrc (RTM_DELADDR's __ipv6_ifa_notify): the routes of every table through
    /// the device (not through a nexthop object) that named the address as their source lose
    /// their `src` — they stay, unlike IPv4's — unless the address is still on their device or,
    /// not link-local, on any device (ipv6_chk_addr, not strict). Nothing is announced.
    func removePrefsrc(_ address: UInt128, dev d: Int32) {
        if addresses[d]?.contains(where: { $0.address == address }) == true { return }
        if addresses.values.contains(where: { $0.contains { $0.address == address && $0.scope == RouteScope.universe } }) { return }
        for t in fib.tablesInDumpOrder {
            for i in t.prefixes.indices {
                guard var e = t.prefixes[i], e.routes.contains(where: { $0.prefsrc == address }) else { continue }
                for j in e.routes.indices where e.routes[j].prefsrc == address && e.routes[j].nhid == 0 && e.routes[j].nexthops.first?.dev == d {
                    e.routes[j].prefsrc = 0
                }
                t.prefixes[i] = e
                t.rebuild(i)
            }
        }
    }

    /// The local route (/128 in the local table, metric 0) always; while the device is up the
    /// prefix route (main, metric 256, proto kernel), the subnet-router anycast address of the
    /// prefix when forwarding (local table, RFC 4291 2.6.1) and the device's multicast route
    /// (ff00::/8 in the local table, metric 256).
    func installRoutes(_ dev: NetDevice, _ a: Inet6Address, addingAddress: Bool = false) {
        let nh = [NextHopOf<UInt128>(dev: dev.ifindex)]
        // addrconf's tables: `l3mdev_fib_table(dev) ?: RT6_TABLE_LOCAL` (and `?: _MAIN`).
        let localT = fib.localTable(for: dev.ifindex), mainT = fib.mainTable(for: dev.ifindex)
        @discardableResult
        func add(_ t: FIBTableOf<UInt128>, _ p: UInt128, _ l: Int, _ type: RouteType, _ metric: UInt32) -> Bool {
            let exists = t.entry(p, l).map { t.prefixes[$0]!.routes.contains { $0.type == type && $0.nexthops == nh && $0.metric == metric } } ?? false
            if !exists { try? t.insert(p, l, RouteOf(type: type, nexthops: nh, metric: metric, proto: RouteProtocol.kernel), replace: false, exclusive: false, append: true) }
            return !exists
        }
        // In the kernel's order: addrconf_add_dev's multicast route (when an address is added
        // to a device that is up, or once the link is ready — addrconf_dev_config; not when a
        // device without carrier comes up), the prefix route, then, once DAD is done
        // (__ipv6_ifa_notify), the local route and the anycast one.
        let up = dev.isUp && !dev.flags.contains(.loopback)
        if up && (dev.isOperational || addingAddress) && !dev.flags.contains(.master) { add(localT, 0xFF << 120, 8, .multicast, 256) }
        if up && a.prefixLen < 128 && !a.noPrefixRoute && !a.withoutPrefixRoute {
            let created = add(mainT, a.network, a.prefixLen, .unicast, a.routeMetric)
            prefixRouteLifetime(dev, a, created: created)
        }
        if a.usable || a.earlyLocalRoute { add(localT, a.address, 128, .local, 0) }
        // The anycast route comes with the address even on a device that is down (its DAD done
        // at once, __ipv6_ifa_notify's addrconf_join_anycast).
        if (up || (addingAddress && !dev.flags.contains(.loopback))) && dev.inet6.forwarding && a.prefixLen < 127 && a.usable {
            add(localT, a.network, 128, .anycast, 0)
        }
    }

    /// addrconf_prefix_route: with a finite valid lifetime the prefix route expires with the
    /// address (RTF_EXPIRES). On a prefix route that is already there (fib6_add_rt2node), one
    /// without an expiry stays so; one with an expiry takes the new address's, or none if
    /// that address is permanent.
    func prefixRouteLifetime(_ dev: NetDevice, _ a: Inet6Address, created: Bool) {
        let d = dev.ifindex
        let main = fib.mainTable(for: d)
        guard let e = main.entry(a.network, a.prefixLen), var entry = main.prefixes[e],
              let i = entry.routes.firstIndex(where: { $0.proto == RouteProtocol.kernel && $0.type == .unicast && $0.nexthops.first?.dev == d })
        else { return }
        guard created || entry.routes[i].expires != 0 else { return }
        entry.routes[i].expires = a.expiresAt
        main.prefixes[e] = entry
        main.rebuild(e)
        if a.expiresAt != 0 { main.noteExpiring(a.network, a.prefixLen) }
    }

    /// fib6_gc's fib6_age: a route whose expiry passed (a prefix route of an address with a
    /// finite lifetime, or one added with `expires`) is deleted, announced as RTM_DELROUTE.
    /// The kernel stops using it at once and deletes it at its next sweep; Sluice deletes it
    /// at the housekeeping after it expired (within a second) or before any dump.
    func expireRoutes(_ now: UInt64) {
        for t in fib.tablesInDumpOrder where !t.expiring.isEmpty {
            var kept: [(prefix: UInt128, length: Int)] = []
            for r in t.expiring {
                while t.delete(r.prefix, r.length, matching: { $0.expires != 0 && $0.expires <= now }) {}
                if let e = t.entry(r.prefix, r.length), t.prefixes[e]!.routes.contains(where: { $0.expires != 0 }) { kept.append(r) }
            }
            t.expiring = kept
        }
    }

    /// addrconf_verify: an address whose valid lifetime ran out is deleted (with its routes,
    /// announced); one whose preferred lifetime ran out is deprecated (announced).
    func expireAddresses(_ now: UInt64) {
        for (d, list) in addresses {
            for a in list where !a.permanent || a.preferredLft != .max {
                guard let dev = dp.device(d) else { continue }
                let age = (now &- a.changed) / Time.s
                if !a.permanent && age >= UInt64(a.validLft) {
                    guard (try? deleteAddress(dev, a.address, a.prefixLen)) != nil else { continue }
                    noteAddressEvent(d, a, deleted: true)
                } else if a.preferredLft != .max && age >= UInt64(a.preferredLft) && !a.deprecated {
                    var changed = a
                    withAddress(d, a.address) { $0.deprecated = true; changed = $0 }
                    noteAddressEvent(d, changed, deleted: false)
                }
            }
        }
    }

    /// inet6_addr_modify (`ip -6 addr replace|change`): new lifetimes and flags (nodad,
    /// noprefixroute, optimistic) from now; the prefix route follows: added or given the new expiry, or
    /// with noprefixroute removed if the address was permanent with one (a dynamic address's
    /// is left to expire).
    public func modifyAddress(_ dev: NetDevice, _ address: UInt128, valid: UInt32, preferred: UInt32, nodad: Bool, noPrefixRoute: Bool,
                              userFlags: UInt32 = 0, metric: UInt32 = 0, optimistic: Bool = false) {
        guard let old = addresses[dev.ifindex]?.first(where: { $0.address == address }) else { return }
        var now = old
        let main = fib.mainTable(for: dev.ifindex)
        withAddress(dev.ifindex, address) { a in
            a.setLifetimes(valid: valid, preferred: preferred, now: clock.now)
            a.nodad = nodad; a.noPrefixRoute = noPrefixRoute; a.userFlags = userFlags
            // inet6_addr_modify: `optimistic` is taken only while DAD runs, and never cleared.
            if optimistic && a.tentative && !a.dadFailed { a.optimistic = true }
            // inet6_addr_modify: a metric given (not 0) replaces the address's.
            if metric != 0 { a.metric = metric }
            now = a
        }
        if !noPrefixRoute {
            if dev.isUp && !dev.flags.contains(.loopback) && now.prefixLen < 128 {
                let nh = [NextHopOf<UInt128>(dev: dev.ifindex)]
                // modify_prefix_route: a route of another metric is replaced by one of the new.
                if now.routeMetric != old.routeMetric {
                    _ = main.delete(now.network, now.prefixLen) { $0.proto == RouteProtocol.kernel && $0.nexthops == nh && $0.metric == old.routeMetric }
                }
                let existed = main.entry(now.network, now.prefixLen).map { main.prefixes[$0]!.routes.contains { $0.type == .unicast && $0.nexthops == nh && $0.metric == now.routeMetric } } ?? false
                if !existed {
                    try? main.insert(now.network, now.prefixLen, RouteOf(type: .unicast, nexthops: nh, metric: now.routeMetric, proto: RouteProtocol.kernel), replace: false, exclusive: false, append: true)
                }
                // modify_prefix_route: the route takes the address's expiry, whatever it had.
                prefixRouteLifetime(dev, now, created: true)
            }
        } else if old.permanent && !old.noPrefixRoute,
                  !(addresses[dev.ifindex] ?? []).contains(where: { $0.address != address && !$0.noPrefixRoute && $0.prefixLen == now.prefixLen && $0.network == now.network }) {
            let d = dev.ifindex
            _ = main.delete(now.network, now.prefixLen) { $0.proto == RouteProtocol.kernel && $0.nexthops.first?.dev == d }
        }
        if now.usable { noteAddressEvent(dev.ifindex, now, deleted: false) }
    }

    func removeRoutes(_ dev: NetDevice, _ a: Inet6Address) {
        let d = dev.ifindex
        let localT = fib.localTable(for: d), mainT = fib.mainTable(for: d)
        let kernelVia: (RouteOf<UInt128>) -> Bool = { $0.proto == RouteProtocol.kernel && $0.nexthops.first?.dev == d }
        let samePrefix = (addresses[d] ?? []).filter { $0.prefixLen == a.prefixLen && $0.network == a.network }
        // In ipv6_del_addr's order (its deletions are announced): the anycast route when the
        // last address on the prefix goes (addrconf_leave_anycast), the local route, then the
        // prefix route — a permanent address's with the last address on the prefix that has
        // one (check_cleanup_prefix_route); a dynamic address's stays until it expires.
        if samePrefix.isEmpty { _ = localT.delete(a.network, 128) { $0.type == .anycast && $0.nexthops.first?.dev == d } }
        _ = localT.delete(a.address, 128, matching: kernelVia)
        if a.permanent && !a.noPrefixRoute && !samePrefix.contains(where: { !$0.noPrefixRoute }) {
            _ = mainT.delete(a.network, a.prefixLen, matching: kernelVia)
        }
        if addresses[d] == nil { _ = localT.delete(0xFF << 120, 8) { $0.type == .multicast && $0.nexthops.first?.dev == d } }
    }

    /// ipv6_chk_addr: one of the device's addresses, usable or optimistic.
    func isOurs(_ dev: Int32, _ a: UInt128) -> Bool { addresses[dev]?.contains { $0.address == a && $0.assigned } ?? false }

    /// Up: the addresses' routes, then linkReady. Down: addrconf_ifdown with keep_addr_on_down
    /// 0 (the kernel's default) — every address goes, announced, with the device's routes
    /// and neighbours.
    func deviceStateChanged(_ dev: NetDevice) {
        if dev.isUp {
            guard !dev.inet6.disabled else { return }
            // addrconf_notify NETDEV_UP: a link that comes up with another MTU brings mtu6 to it.
            mtuChanged(dev)
            for a in addresses[dev.ifindex] ?? [] { installRoutes(dev, a) }
            linkReady(dev)
        } else {
            ifDown(dev)
        }
    }

    /// addrconf_ifdown (not unregistering): every address goes, announced, with the device's
    /// routes, neighbours and proxy answers waiting to be sent — but, with keep_addr_on_down,
    /// the permanent ones that are not link-local: tentative again (unless nodad), without
    /// their routes, unannounced.
    func ifDown(_ dev: NetDevice) {
        let d = dev.ifindex
        mldDirty = true
        // addrconf_ifdown: ipv6_mc_down only when the link had been ready.
        if dev.inet6Ready { dev.inet6McState = .dropped }
        dev.inet6Ready = false
        let all = addresses[d] ?? []
        let keepAny = dev.inet6.keepAddrOnDown && !dev.inet6.disabled
        func kept(_ a: Inet6Address) -> Bool { keepAny && a.permanent && !a.isLinkLocal && a.address != 1 }
        let gone = all.filter { !kept($0) }
        var keep = all.filter(kept)
        for i in keep.indices {
            removeRoutes(dev, keep[i])
            keep[i].tentative = !keep[i].nodad
            keep[i].dadFailed = false; keep[i].optimistic = false; keep[i].earlyLocalRoute = false
            keep[i].dadAt = 0; keep[i].dadProbes = 0; keep[i].keptOverDown = true
        }
        addresses[d] = keep.isEmpty ? nil : keep
        if all.contains(where: { $0.dadAt != 0 }) { recomputeDADDue() }
        for a in gone { removeRoutes(dev, a); noteAddressEvent(d, a, deleted: true) }
        fib.deleteRoutes(through: d, deviceGone: false)
        flushNeighbours(dev: d, all: true)
        proxyQueue.removeAll { $0.dev == d }
    }

    func deviceRemoved(_ d: Int32) {
        addresses[d] = nil
        neighbours.setDeviceParams(d, nil)
        recomputeDADDue()
        fib.deleteRoutes(through: d, deviceGone: true)
        flushNeighbours(dev: d, all: true)
    }

    // MARK: receive (ipv6_rcv, ip6_route_input)

    /// net.ipv6.fib_multipath_hash_policy and fib_multipath_hash_fields, as IPv4's.
    public internal(set) var multipathHashPolicy: UInt8 = 0
    public internal(set) var multipathHashFields: UInt32 = MultipathField.srcIP | MultipathField.dstIP | MultipathField.ipProto

    /// rt6_multipath_hash for a forwarded packet (31 bits), by policy: 0 the addresses, flow
    /// label and next header (an ICMPv6 error's the quoted header's); 1 the addresses,
    /// transport protocol and ports; 2 as 0 (no tunnelled packet is looked into); 3 the outer
    /// fields of multipathHashFields.
    @inline(__always)
    func multipathHash(_ ip: UnsafeRawPointer, total: Int, src: UInt128, dst: UInt128) -> UInt32 {
        if multipathHashSeed != 0 { return seededMultipathHash(ip, total: total, src: src, dst: dst) }
        if multipathHashPolicy == 0 || multipathHashPolicy == 2 {
            if Inet6Wire.nextHeader(ip) == IPProto.icmpv6, let inner = Inet6Wire.icmpErrorInner(ip, total: total) {
                return IPv4Stack.flowHash(Self.flowHash(inner.src, inner.dst), inner.label | UInt32(inner.next) << 24)
            }
            return IPv4Stack.flowHash(Self.flowHash(src, dst), Inet6Wire.flowLabel(ip) | UInt32(Inet6Wire.nextHeader(ip)) << 24)
        }
        return multipathHashL4(ip, total: total, src: src, dst: dst)
    }

    /// net.ipv4.fib_multipath_hash_seed, which IPv6 hashes with too (set with IPv4's).
    public internal(set) var multipathHashSeed: UInt32 = 0

    /// rt6_multipath_hash with a seed: the kernel's keys per policy, hashed as it hashes them
    /// (KernelFlowHash). 0: addresses, flow label (kept in network order) and the next header
    /// field — an ICMPv6 error's quoted header's; 1: addresses, transport protocol and ports;
    /// 2: the flow dissector's — a tunnelled packet's (IPv4 or IPv6 in IPv6, GRE) addresses (and
    /// IPv6's label and protocol), else the outer addresses, label (host order) and protocol;
    /// 3: the chosen outer fields and inner ones, joined by jhash_2words.
    @inline(never)
    func seededMultipathHash(_ ip: UnsafeRawPointer, total: Int, src: UInt128, dst: UInt128) -> UInt32 {
        let seed = multipathHashSeed
        switch multipathHashPolicy {
        case 1:
            let l4 = Inet6Wire.multipathL4(ip, total: total)
            return KernelFlowHash.v6(seed: seed, src: src, dst: dst, label: 0, proto: l4.proto, ports: l4.ports) >> 1
        case 2, 3:
            let l4 = Inet6Wire.multipathL4(ip, total: total)
            var tunnel: (v6: Bool, offset: Int)? = nil
            if case .proto(let n, let off) = Inet6Wire.upperLayer(ip, total: total) { tunnel = InetWire.tunnelled(ip, at: off, total: total, proto: n) }
            let f = multipathHashFields
            if multipathHashPolicy == 3 {
                var outer: UInt32 = 0, inner: UInt32 = 0
                if f & MultipathField.outerMask != 0 {
                    outer = KernelFlowHash.v6(seed: seed, src: f & MultipathField.srcIP != 0 ? src : 0, dst: f & MultipathField.dstIP != 0 ? dst : 0,
                                              label: f & MultipathField.flowLabel != 0 ? Inet6Wire.flowLabel(ip) : 0,
                                              proto: f & MultipathField.ipProto != 0 ? l4.proto : 0, ports: l4.ports & IPv4Stack.portMask(f, inner: false))
                }
                if f & MultipathField.innerMask != 0, let t = tunnel {
                    inner = IPv4Stack.innerHash(seed, f, InetWire.dissect(ip + t.offset, total: total - t.offset, v6: t.v6), v6: t.v6)
                }
                return KernelFlowHash.jhash2(outer, inner) >> 1
            }
            if let t = tunnel {
                let k = InetWire.dissect(ip + t.offset, total: total - t.offset, v6: t.v6)
                return (t.v6 ? KernelFlowHash.v6(seed: seed, src: k.src6, dst: k.dst6, label: k.label, proto: k.proto, ports: 0)
                             : KernelFlowHash.v4(seed: seed, src: k.src4, dst: k.dst4, proto: 0, ports: 0)) >> 1
            }
            return KernelFlowHash.v6(seed: seed, src: src, dst: dst, label: Inet6Wire.flowLabel(ip), proto: l4.proto, ports: 0) >> 1
        default:
            if let q = Inet6Wire.icmpErrorInner(ip, total: total) {
                return KernelFlowHash.v6(seed: seed, src: q.src, dst: q.dst, label: q.label.byteSwapped, proto: q.next, ports: 0) >> 1
            }
            return KernelFlowHash.v6(seed: seed, src: src, dst: dst, label: Inet6Wire.flowLabel(ip).byteSwapped, proto: Inet6Wire.nextHeader(ip), ports: 0) >> 1
        }
    }

    /// The hash inet6_rtm_getroute's lookup uses: rt6_multipath_hash of the request's flow
    /// (no packet; its flow label is 0) — with a seed the kernel's, else the addresses'.
    func routeGetHash(_ src: UInt128, _ dst: UInt128, proto: UInt8, ports: UInt32) -> UInt32 {
        let seed = multipathHashSeed
        guard seed != 0 else { return Self.flowHash(src, dst) }
        switch multipathHashPolicy {
        case 1: return KernelFlowHash.v6(seed: seed, src: src, dst: dst, label: 0, proto: proto, ports: ports) >> 1
        case 3:
            let f = multipathHashFields
            guard f & MultipathField.outerMask != 0 else { return 0 }
            return KernelFlowHash.v6(seed: seed, src: f & MultipathField.srcIP != 0 ? src : 0, dst: f & MultipathField.dstIP != 0 ? dst : 0, label: 0,
                                     proto: f & MultipathField.ipProto != 0 ? proto : 0, ports: ports & IPv4Stack.portMask(f, inner: false)) >> 1
        default: return KernelFlowHash.v6(seed: seed, src: src, dst: dst, label: 0, proto: proto, ports: 0) >> 1
        }
    }

    @inline(never)
    func multipathHashL4(_ ip: UnsafeRawPointer, total: Int, src: UInt128, dst: UInt128) -> UInt32 {
        let l4 = Inet6Wire.multipathL4(ip, total: total)
        guard multipathHashPolicy == 3 else { return IPv4Stack.flowHash(Self.flowHash(src, dst) ^ UInt32(l4.proto), l4.ports) }
        let f = multipathHashFields
        let portMask = (f & MultipathField.srcPort != 0 ? 0xFFFF_0000 : 0) | (f & MultipathField.dstPort != 0 ? 0xFFFF : 0) as UInt32
        let l3 = Self.flowHash(f & MultipathField.srcIP != 0 ? src : 0, f & MultipathField.dstIP != 0 ? dst : 0)
        let rest = (f & MultipathField.ipProto != 0 ? UInt32(l4.proto) : 0) | (f & MultipathField.flowLabel != 0 ? Inet6Wire.flowLabel(ip) << 8 : 0)
        return IPv4Stack.flowHash(l3 ^ rest, l4.ports & portMask)
    }

    static func flowHash(_ a: UInt128, _ b: UInt128) -> UInt32 {
        IPv4Stack.flowHash(UInt32(truncatingIfNeeded: a ^ a >> 32 ^ a >> 64 ^ a >> 96), UInt32(truncatingIfNeeded: b ^ b >> 32 ^ b >> 64 ^ b >> 96))
    }

    func ipv6Receive(_ dev: NetDevice, _ p: consuming Packet) {
        stats.inReceives &+= 1
        if dev.inet6.disabled { stats.inDiscards &+= 1; dev.drop(.ipv6Disabled); pool.free(p); return }
        let m = pool.meta(p)
        let frame = pool.data(p)
        let dstMAC = MACAddress(at: frame)
        let toUs = dstMAC == dev.mac
        if m.pointee.otherHost(byMAC: !toUs && !dstMAC.isMulticast) { dev.drop(.otherHost); pool.free(p); return }
        let plen: Int
        switch Inet6Wire.checkIPv6(frame, frameLength: Int(m.pointee.length)) {
        case .ok(let l): plen = l
        case .headerError: stats.inHdrErrors &+= 1; dev.drop(.ipHeader); pool.free(p); return
        case .truncated: stats.inTruncatedPkts &+= 1; dev.drop(.pktTooSmall); pool.free(p); return
        }
        let total = Inet6Wire.ipv6Length + plen
        if m.pointee.gsoType.isEmpty && InetWire.ethernetLength + total < Int(m.pointee.length) {
            m.pointee.length = UInt32(InetWire.ethernetLength + total)
        }
        let ip = frame + InetWire.ethernetLength
        let src = Inet6Wire.source(ip), dst = Inet6Wire.destination(ip)
        if Inet6Wire.isMulticast(src) || Inet6Wire.isLoopback(src) || Inet6Wire.isLoopback(dst) {
            stats.inAddrErrors &+= 1; dev.drop(.ipMartian); pool.free(p); return
        }
        if Inet6Wire.isMulticast(dst) {
            // ip6_mc_input: a group the device has not joined is dropped, uncounted in the MIB
            // (a kernel receiving pings to a group it is not in: InDiscards stays 0).
            guard listens(dev, dst) else { dev.drop(.noHandler); pool.free(p); return }
            localDeliver(dev, p, total: total, multicast: true)
            return
        }
        // The keys closure captures plain values only: capturing the FIB or the device made
        // the optimizer retain and release both around every lookup.
        // vrf_ip6_rcv: routed as entering the VRF device, but for link-local destinations.
        let vrf = fib.l3mdevMaster(dev.ifindex)
        if vrf != 0 && !Inet6Wire.isLinkLocal(dst) { dp.vrfReceived(dev, bytes: total) }   // vrf_rx_stats
        let iif = vrf != 0 && !Inet6Wire.isLinkLocal(dst) ? vrf : dev.ifindex, mark = m.pointee.mark, tos = Inet6Wire.trafficClass(ip) & 0xFC
        let proto: UInt8? = fib.needsPorts ? Inet6Wire.nextHeader(ip) : nil
        guard let r = fib.lookup(dst, hash: multipathHash(ip, total: total, src: src, dst: dst), keys: {
            var k = FlowKeysOf(src: src, iif: iif, mark: mark, tos: tos)
            if let proto { k.proto = proto }
            return k
        }) else {
            stats.inNoRoutes &+= 1
            if toUs { icmpSend(dev, p, type: 1, code: 0, info: 0) }
            dev.drop(.ipNoRoute); pool.free(p); return
        }
        switch r.type {
        case .local, .anycast: localDeliver(dev, p, total: total, multicast: false)
        case .unicast, .broadcast:
            guard forwarding, toUs, !Inet6Wire.isLinkLocal(dst) else { stats.inAddrErrors &+= 1; dev.drop(.ipNoRoute); pool.free(p); return }
            forward(dev, p, r, total: total)
        case .blackhole, .multicast: dev.drop(.ipBlackhole); pool.free(p)
        case .unreachable, .prohibit, .throw:
            stats.inNoRoutes &+= 1
            if toUs { icmpSend(dev, p, type: 1, code: r.type == .prohibit ? 1 : 0, info: 0) }
            dev.drop(.ipNoRoute); pool.free(p)
        }
    }

    /// ip6_forward.
    func forward(_ inDev: NetDevice, _ p: consuming Packet, _ r: FIBResultOf<UInt128>, total: Int) {
        let ip = pool.data(p) + InetWire.ethernetLength
        if Inet6Wire.hopLimit(ip) <= 1 {
            stats.inHdrErrors &+= 1
            icmpSend(inDev, p, type: 3, code: 0, info: 0)
            inDev.drop(.ipTTL); pool.free(p); return
        }
        // ip6_forward_proxy_check, with all's proxy_ndp: neighbour discovery sent to a proxied
        // address (a neighbour's unicast probe of it) is taken here, not forwarded.
        if confAll[.proxyNDP] != 0 && !neighbours.proxies.isEmpty && neighbours.proxy(inDev.ifindex, Inet6Wire.destination(ip)) != nil,
           case .proto(IPProto.icmpv6, let off) = Inet6Wire.upperLayer(ip, total: total), off < total, (133...137).contains(Inet6Wire.icmpType(ip + off)) {
            localDeliver(inDev, p, total: total, multicast: false)
            return
        }
        if Inet6Wire.isLinkLocal(Inet6Wire.source(ip)) {
            icmpSend(inDev, p, type: 1, code: 2, info: 0)
            stats.inAddrErrors &+= 1; inDev.drop(.ipMartian); pool.free(p); return
        }
        guard let ref = dpRef._withUnsafeGuaranteedRef({ $0.deviceRefs[Int(r.dev)] }) else {
            stats.outNoRoutes &+= 1; inDev.drop(.ipNoRoute); pool.free(p); return
        }
        let idx = p.index
        _ = consume p
        ref._withUnsafeGuaranteedRef { out in forward(inDev, Packet(index: idx), r, total: total, out: out) }
    }

    func forward(_ inDev: NetDevice, _ p: consuming Packet, _ r: FIBResultOf<UInt128>, total: Int, out: NetDevice) {
        guard out.isOperational else { stats.outNoRoutes &+= 1; inDev.drop(.ipNoRoute); pool.free(p); return }
        let m = pool.meta(p)
        // ip6_pkt_too_big: routers do not fragment. The MTU is the egress device's IPv6 one
        // (ip6_dst_mtu_maybe_forward: cnf.mtu6, not a route's metric).
        let netLen = m.pointee.gsoType.isEmpty ? total : Int(m.pointee.hdrLen) - InetWire.ethernetLength + Int(m.pointee.gsoSize)
        let mtu = max(out.inet6.mtu, Inet6Wire.minMTU)
        if netLen > mtu {
            icmpSend(inDev, p, type: 2, code: 0, info: UInt32(mtu))
            stats.inTooBigErrors &+= 1
            inDev.drop(.pktTooBig); pool.free(p); return
        }
        var q = p
        guard pool.makeWritable(&q) else { inDev.drop(.noBuffer); pool.free(q); return }
        let ip = pool.data(q) + InetWire.ethernetLength
        Inet6Wire.decrementHopLimit(ip)
        stats.forwDatagrams &+= 1
        // ip6_output: no IPv6 leaves a device it is disabled on.
        if out.inet6.disabled { stats.outDiscards &+= 1; out.drop(.ipv6Disabled); pool.free(q); return }
        neighOutput(out, r.gateway != 0 ? r.gateway : Inet6Wire.destination(ip), q, nh: r.nh)
    }

    // MARK: local delivery (ip6_input_finish)

    func localDeliver(_ dev: NetDevice, _ p: consuming Packet, total: Int, multicast: Bool) {
        let ip = pool.data(p) + InetWire.ethernetLength
        let proto: UInt8, off: Int
        switch Inet6Wire.upperLayer(ip, total: total) {
        case .proto(let n, let o): proto = n; off = o
        case .fragment(let o):
            guard let whole = reassemble(dev, p, offset: o, total: total) else { return }
            let t = Inet6Wire.ipv6Length + Inet6Wire.payloadLength(pool.data(whole) + InetWire.ethernetLength)
            localDeliver(dev, whole, total: t, multicast: multicast)
            return
        case .parameterProblem(let code, let ptr):
            stats.inHdrErrors &+= 1
            if !multicast { icmpSend(dev, p, type: 4, code: code, info: UInt32(ptr)) }
            dev.drop(.ipHeader); pool.free(p); return
        case .malformed:
            stats.inHdrErrors &+= 1; dev.drop(.ipHeader); pool.free(p); return
        }
        stats.inDelivers &+= 1
        if proto == 59 { pool.free(p); return }                // no next header
        switch inet6Protocols[Int(proto)] {
        case .icmp:
            icmpReceive(dev, p, offset: off, total: total, multicast: multicast)
        case .udp:
            guard total - off >= UDPHeader.length else { pool.free(p); return }
            let port = InetWire.ports(ip + off).dst
            if let h = udpHandlers[port] { h(dp, dev, ip, off, total); pool.free(p); return }
            if !multicast { icmpSend(dev, p, type: 1, code: 4, info: 0) }
            pool.free(p)
        case .tcp:
            if !multicast && total - off >= TCPHeader.minLength { tcpReset(ip, offset: off, total: total, from: dev.ifindex) }
            pool.free(p)
        case .none, .gre:                                    // no GRE over IPv6 (ip6gre) here
            stats.inUnknownProtos &+= 1
            if !multicast { icmpSend(dev, p, type: 4, code: 1, info: UInt32(Inet6Wire.nextHeaderField(ip, upper: off))) }
            pool.free(p)
        }
    }

    func icmpReceive(_ dev: NetDevice, _ p: consuming Packet, offset off: Int, total: Int, multicast: Bool) {
        let ip = pool.data(p) + InetWire.ethernetLength
        let len = total - off
        stats.icmpInMsgs &+= 1
        guard len >= Inet6Wire.icmpLength else { stats.icmpInErrors &+= 1; pool.free(p); return }
        let src = Inet6Wire.source(ip), dst = Inet6Wire.destination(ip)
        guard Inet6Wire.checksumValid(ip + off, length: len, src: src, dst: dst, next: IPProto.icmpv6) else {
            stats.icmpInCsumErrors &+= 1; stats.icmpInErrors &+= 1; dev.drop(.csumError); pool.free(p); return
        }
        let type = Inet6Wire.icmpType(ip + off)
        switch type {
        case 128:
            stats.icmpInEchos &+= 1
            echoReply(dev, p, offset: off, total: total, multicast: multicast)
        case 135:
            stats.icmpInNeighborSolicits &+= 1
            ndiscSolicitation(dev, p, offset: off, total: total)
        case 136:
            stats.icmpInNeighborAdvertisements &+= 1
            ndiscAdvertisement(dev, p, offset: off, total: total)
        case 130:
            mldQueryReceived(dev, ip, offset: off, total: total)
            pool.free(p)
        case 131:
            if multicast { mldReportHeard(dev, ip, offset: off, total: total) }
            pool.free(p)
        default:
            if type < 128 { stats.icmpInErrors &+= 1 }
            pool.free(p)
        }
    }

    /// icmpv6_echo_reply: from the address the request went to (an address of the device when
    /// it went to a group), the traffic class reflected, the hop limit of the device it leaves by.
    func echoReply(_ dev: NetDevice, _ p: consuming Packet, offset off: Int, total: Int, multicast: Bool) {
        var q = p
        guard pool.makeWritable(&q) else { pool.free(q); return }
        let ip = pool.data(q) + InetWire.ethernetLength
        let origSrc = Inet6Wire.source(ip), origDst = Inet6Wire.destination(ip)
        guard !Inet6Wire.isUnspecified(origSrc) else { pool.free(q); return }
        // To a group or an anycast address: a source chosen as for any packet (anycast_src_echo_reply 0).
        let anycast = !multicast && fib.localTable(for: dev.ifindex).lookup(origDst, hash: 0)?.type == .anycast
        let src = multicast || anycast ? sourceAddress(dev.ifindex, toward: origSrc) : origDst
        let tc = Inet6Wire.trafficClass(ip)
        let len = total - off
        if off > Inet6Wire.ipv6Length { memmove(ip + Inet6Wire.ipv6Length, ip + off, len) }
        let icmp = ip + Inet6Wire.ipv6Length
        Inet6Wire.setICMPType(icmp, 129)
        Inet6Wire.writeIPv6(ip, trafficClass: tc, payloadLength: len, nextHeader: IPProto.icmpv6, hopLimit: hopLimit(toward: origSrc, from: dev.ifindex), src: src, dst: origSrc)
        Inet6Wire.setChecksum(icmp, length: len, offset: 2, src: src, dst: origSrc, next: IPProto.icmpv6)
        let m = pool.meta(q)
        m.pointee.length = UInt32(InetWire.ethernetLength + Inet6Wire.ipv6Length + len)
        m.pointee.csum = .none
        m.pointee.gsoType = GSOType(rawValue: 0)
        stats.icmpOutMsgs &+= 1; stats.icmpOutEchoReplies &+= 1
        output(q, dst: origSrc, dev: dev)
    }

    /// tcp_v6_send_reset (the rules of tcp_v4_send_reset), with the hop limit of the device it
    /// leaves by.
    func tcpReset(_ ip: UnsafeMutableRawPointer, offset off: Int, total: Int, from: Int32) {
        guard let th = try? TCPHeader(validating: Bytes(ip + off, count: total - off)) else { return }
        let flags = th.flags
        if flags & TCPHeader.rst != 0 { return }
        let src = Inet6Wire.destination(ip), dst = Inet6Wire.source(ip)
        guard !Inet6Wire.isMulticast(src) else { return }
        let dataLen = total - off - th.headerLength
        let ackNumber = InetWire.tcpAckNumber(ip + off)
        let seq: UInt32, ack: UInt32?
        if flags & TCPHeader.ack != 0 { seq = ackNumber; ack = nil } else {
            seq = 0
            ack = th.sequence &+ UInt32(dataLen) &+ (flags & TCPHeader.syn != 0 ? 1 : 0) &+ (flags & TCPHeader.fin != 0 ? 1 : 0)
        }
        guard let q = pool.alloc() else { return }
        let oip = pool.data(q) + InetWire.ethernetLength
        let tcp = oip + Inet6Wire.ipv6Length
        InetWire.writeTCPReset(tcp, src: 0, dst: 0, sport: th.destinationPort, dport: th.sourcePort, seq: seq, ack: ack)
        Inet6Wire.setChecksum(tcp, length: 20, offset: TCPHeader.checksumOffset, src: src, dst: dst, next: IPProto.tcp)
        Inet6Wire.writeIPv6(oip, trafficClass: 0, payloadLength: 20, nextHeader: IPProto.tcp, hopLimit: hopLimit(toward: dst, from: from), src: src, dst: dst)
        pool.meta(q).pointee.length = UInt32(InetWire.ethernetLength + Inet6Wire.ipv6Length + 20)
        stats.tcpOutRsts &+= 1
        output(q, dst: dst, dev: nil, from: from)
    }

    /// Sends a packet whose IPv6 header is complete: link-local and multicast destinations
    /// leave through `dev`; others are routed, in the VRF of `from` (the device answered; by
    /// default `dev`).
    func output(_ p: consuming Packet, dst: UInt128, dev: NetDevice?, from: Int32? = nil) {
        stats.outRequests &+= 1
        if Inet6Wire.isMulticast(dst) {
            guard let dev, dev.isOperational else { stats.outNoRoutes &+= 1; pool.free(p); return }
            transmit(dev, Inet6Wire.multicastMAC(dst), p)
            return
        }
        if Inet6Wire.isLinkLocal(dst), let dev {
            guard dev.isOperational else { stats.outNoRoutes &+= 1; pool.free(p); return }
            neighOutput(dev, dst, p, nh: -1)
            return
        }
        guard let r = fib.output(dst, hash: Self.flowHash(0, dst), from: from ?? dev?.ifindex ?? 0), r.type == .unicast || r.type == .local,
              let out = dp.devices[Int(r.dev)], out.isOperational else {
            stats.outNoRoutes &+= 1
            pool.free(p)
            return
        }
        if r.type == .local {
            // To one of our own addresses: delivered here, as through lo.
            let len = Int(pool.meta(p).pointee.length) - InetWire.ethernetLength
            pool.meta(p).pointee.ifindex = out.ifindex
            localDeliver(out, p, total: len, multicast: false)
            return
        }
        let len = Int(pool.meta(p).pointee.length) - InetWire.ethernetLength
        if out.inet6.disabled { stats.outDiscards &+= 1; out.drop(.ipv6Disabled); pool.free(p); return }
        if len > max(out.inet6.mtu, Inet6Wire.minMTU) {
            fragmentAndSend(out, r.gateway != 0 ? r.gateway : dst, p, nh: r.nh)
            return
        }
        neighOutput(out, r.gateway != 0 ? r.gateway : dst, p, nh: r.nh)
    }

    /// ip6_fragment for what Sluice itself sends (an echo reply to a large request): fragment
    /// headers after the 40-byte header, data in multiples of 8, one identification per datagram.
    func fragmentAndSend(_ out: NetDevice, _ nexthop: UInt128, _ p: consuming Packet, nh: Int32) {
        let ip = pool.data(p) + InetWire.ethernetLength
        let total = Int(pool.meta(p).pointee.length) - InetWire.ethernetLength
        let payload = total - Inet6Wire.ipv6Length
        let next = Inet6Wire.nextHeader(ip)
        let chunk = (max(out.inet6.mtu, Inet6Wire.minMTU) - Inet6Wire.ipv6Length - 8) & ~7
        nextFragmentID &+= 1
        var done = 0
        while done < payload {
            let len = min(chunk, payload - done)
            guard let q = pool.alloc() else { break }
            let f = pool.data(q)
            f.copyMemory(from: ip - InetWire.ethernetLength, byteCount: InetWire.ethernetLength + Inet6Wire.ipv6Length)
            let fip = f + InetWire.ethernetLength
            Inet6Wire.setNextHeader(fip, 44)
            Inet6Wire.setPayloadLength(fip, 8 + len)
            let fh = fip + Inet6Wire.ipv6Length
            Inet6Wire.writeFragmentHeader(fh, next: next, offset: done, more: done + len < payload, id: nextFragmentID)
            (fh + 8).copyMemory(from: ip + Inet6Wire.ipv6Length + done, byteCount: len)
            pool.meta(q).pointee.length = UInt32(InetWire.ethernetLength + Inet6Wire.ipv6Length + 8 + len)
            neighOutput(out, nexthop, q, nh: nh)
            done += len
        }
        pool.free(p)
    }

    // MARK: ICMPv6 errors (icmp6_send)

    /// Answers `orig` with an ICMPv6 error when icmp6_send's rules allow; `orig` stays the caller's.
    func icmpSend(_ inDev: NetDevice, _ orig: borrowing Packet, type: UInt8, code: UInt8, info: UInt32) {
        let frame = pool.data(orig)
        let ip = frame + InetWire.ethernetLength
        let origSrc = Inet6Wire.source(ip), origDst = Inet6Wire.destination(ip)
        let mayMulticast = type == 2 || (type == 4 && code == 2)
        if !mayMulticast && (MACAddress(at: frame).isMulticast || Inet6Wire.isMulticast(origDst)) { return }
        if Inet6Wire.isUnspecified(origSrc) || Inet6Wire.isMulticast(origSrc) { return }
        let origLen = Int(pool.meta(orig).pointee.length) - InetWire.ethernetLength
        // Never about an ICMPv6 error or a redirect (is_ineligible).
        if case .proto(let n, let off) = Inet6Wire.upperLayer(ip, total: origLen), n == IPProto.icmpv6, off < origLen {
            let t = Inet6Wire.icmpType(ip + off)
            if t < 128 || t == 137 { return }
        }
        let back = fib.output(origSrc, hash: Self.flowHash(0, origSrc), from: inDev.ifindex)
        let now = clock.now
        if type < 128 && icmpRateMask & (UInt128(1) << type) != 0 {
            // icmpv6_xrlim_allow: the timeout shrinks for wider routes to the destination.
            var tmo = icmpRateLimit
            if let l = fib.mainTable(for: inDev.ifindex).prefixLength(origSrc), l < 128 { tmo >>= UInt64((128 - l) >> 5) }
            guard rateLimiter.allow(peer: origSrc, timeout: tmo, now: now, msgsPerSec: icmpMsgsPerSec, burst: icmpMsgsBurst) else {
                stats.icmpRateLimited &+= 1; return
            }
        }
        let viaDev: Int32 = Inet6Wire.isLinkLocal(origSrc) ? inDev.ifindex : (back?.dev ?? inDev.ifindex)
        let src = isOurs(inDev.ifindex, origDst) || (fib.localTable(for: inDev.ifindex).lookup(origDst, hash: 0)?.type == .local)
            ? origDst : sourceAddress(viaDev, toward: origSrc)
        guard src != 0, let q = pool.alloc() else { return }
        let quote = min(origLen, Inet6Wire.minMTU - Inet6Wire.ipv6Length - Inet6Wire.icmpLength)
        let out = pool.data(q) + InetWire.ethernetLength
        let icmp = out + Inet6Wire.ipv6Length
        Inet6Wire.writeICMP(icmp, type: type, code: code, rest: info)
        (icmp + Inet6Wire.icmpLength).copyMemory(from: ip, byteCount: quote)
        let len = Inet6Wire.icmpLength + quote
        Inet6Wire.setChecksum(icmp, length: len, offset: 2, src: src, dst: origSrc, next: IPProto.icmpv6)
        Inet6Wire.writeIPv6(out, trafficClass: 0, payloadLength: len, nextHeader: IPProto.icmpv6, hopLimit: dp.device(viaDev)?.inet6.hopLimit ?? 64, src: src, dst: origSrc)
        pool.meta(q).pointee.length = UInt32(InetWire.ethernetLength + Inet6Wire.ipv6Length + len)
        stats.icmpOutMsgs &+= 1
        switch type {
        case 1: stats.icmpOutDestUnreachs &+= 1
        case 2: stats.icmpOutPktTooBigs &+= 1
        case 3: stats.icmpOutTimeExcds &+= 1
        case 4: stats.icmpOutParmProblems &+= 1
        default: break
        }
        output(q, dst: origSrc, dev: Inet6Wire.isLinkLocal(origSrc) ? inDev : nil, from: inDev.ifindex)
    }

    // MARK: Neighbor Discovery (ndisc.c)

    /// ndisc_recv_ns.
    func ndiscSolicitation(_ dev: NetDevice, _ p: consuming Packet, offset off: Int, total: Int) {
        let ip = pool.data(p) + InetWire.ethernetLength
        let src = Inet6Wire.source(ip), dst = Inet6Wire.destination(ip)
        let dad = Inet6Wire.isUnspecified(src)
        // A DAD probe goes to the target's solicited-node group and carries no source address.
        guard let m = Inet6Wire.ndMessage(ip, offset: off, total: total, option: 1),
              !dad || (dst == Inet6Wire.solicitedNode(m.target) && m.lladdr == nil) else {
            dev.drop(.ndisc); pool.free(p); return
        }
        let nonce = dad ? Inet6Wire.ndNonce(ip + off, from: 24, to: total - off) : 0
        let host = MACAddress(at: pool.data(p)) == dev.mac
        pool.free(p)
        answerSolicitation(dev, PendingProxySolicitation(dev: dev.ifindex, due: 0, src: src, target: m.target, sllao: m.lladdr,
                                                         multicast: Inet6Wire.isMulticast(dst)), dad: dad, nonce: nonce, host: host)
    }

    /// ndisc_recv_ns after its checks. For one of the device's addresses: answered at once, with
    /// the override flag and our link-layer address only when the solicitation went to a
    /// group (a unicast one, a neighbour's reachability probe, gets neither), never override
    /// for an optimistic address. For a subnet-router anycast address of the device, or — the
    /// device forwarding, with proxy_ndp on all or the device — a proxy entry's address
    /// (`ip -6 neigh add proxy`): without override, from the device's source address toward
    /// the asker, router as the entry's NTF_ROUTER says (the device's forwarding for
    /// anycast); a solicitation sent to a group, not to our MAC, waits a random time below
    /// proxy_delay first (pneigh_enqueue, at most proxy_qlen waiting; RFC 4861 7.2.7).
    func answerSolicitation(_ dev: NetDevice, _ ns: PendingProxySolicitation, dad: Bool, nonce: UInt64, host: Bool, enqueued: Bool = false) {
        let target = ns.target
        var router = dev.inet6.forwarding
        var own = false
        if let a = addresses[dev.ifindex]?.first(where: { $0.address == target }) {
            if a.tentative {
                // A tentative address: our own probe looped back (same nonce) is ignored;
                // another node's DAD for it fails ours; anything else is answered only for an
                // optimistic address (RFC 4429 3.3).
                if dad && !(nonce != 0 && nonce == a.dadNonce) { dadFailed(dev, target) }
                guard !dad && a.optimistic else { return }
            }
            own = true
        } else {
            if !isAnycast(dev, target) {
                guard dev.inet6.forwarding && dev.inet6.proxyNDP, let i = neighbours.proxy(dev.ifindex, target) else { return }
                router = neighbours.proxies[i].flags & 0x80 != 0      // pndisc_is_router: NTF_ROUTER
            }
            let parms = neighbours.parms(dev.ifindex)
            if !enqueued && !host && ns.multicast && parms.proxyDelay != 0 {
                guard proxyQueue.count < parms.proxyQlen else { neighbours.proxyDiscards &+= 1; return }
                var later = ns
                later.due = neighbours.proxyDue(now: clock.now, dev: dev.ifindex)
                proxyQueue.append(later)
                return
            }
        }
        if dad {
            sendAdvertisement(dev, target: target, to: Inet6Wire.allNodes, router: router, solicited: false, override: own,
                              withAddress: true, own: own, dstMAC: Inet6Wire.multicastMAC(Inet6Wire.allNodes))
            return
        }
        // neigh_event_ns: the sender's address, STALE.
        if let sllao = ns.sllao {
            if let i = neighbours.find(dev.ifindex, ns.src) ?? neighbours.create(dev.ifindex, ns.src, now: clock.now, pool: pool) {
                neighUpdate(Int(i), mac: sllao, state: .stale, override: true)
            }
        }
        sendAdvertisement(dev, target: target, to: ns.src, router: router, solicited: true, override: own && ns.multicast,
                          withAddress: ns.multicast, own: own, dstMAC: ns.sllao)
    }

    /// ipv6_chk_acast_addr: a subnet-router anycast address the device has joined (forwarding,
    /// a usable address on a prefix shorter than /127).
    func isAnycast(_ dev: NetDevice, _ a: UInt128) -> Bool {
        dev.inet6.forwarding && (addresses[dev.ifindex]?.contains { $0.prefixLen < 127 && $0.usable && $0.network == a } ?? false)
    }

    /// Whether the device listens to multicast group `g`: all-nodes, all-routers while it
    /// forwards, and the solicited-node groups of its addresses, of its anycast addresses and
    /// of the proxy entries naming it (pndisc_constructor joins them).
    func listens(_ dev: NetDevice, _ g: UInt128) -> Bool {
        if g == Inet6Wire.allNodes || (dev.inet6.forwarding && g == Inet6Wire.allRouters) { return true }
        let list = addresses[dev.ifindex] ?? []
        if list.contains(where: { Inet6Wire.solicitedNode($0.address) == g || (dev.inet6.forwarding && $0.prefixLen < 127 && Inet6Wire.solicitedNode($0.network) == g) }) {
            return true
        }
        return neighbours.proxies.contains { $0.dev == dev.ifindex && Inet6Wire.solicitedNode($0.ip) == g }
    }

    /// neigh_proxy_process for nd_tbl: the solicitations whose delay is over are answered, as
    /// if received again (LOCALLY_ENQUEUED).
    func runProxyQueue(_ now: UInt64) {
        for q in proxyQueue.takeDue(now) {
            guard let dev = dp.device(q.dev), dev.isOperational else { continue }
            answerSolicitation(dev, q, dad: q.src == 0, nonce: 0, host: false, enqueued: true)
        }
    }

    /// The earliest delayed answer (0: none).
    var nextProxyReply: UInt64 { proxyQueue.earliestDue }

    /// ndisc_send_na: the flags as given; the target link-layer address when asked (inc_opt);
    /// from the target when it is the device's own address, else from the device's source
    /// address toward `dst` (none: nothing is sent).
    func sendAdvertisement(_ dev: NetDevice, target: UInt128, to dst: UInt128, router: Bool, solicited: Bool, override: Bool,
                           withAddress: Bool, own: Bool, dstMAC: MACAddress?) {
        var override = override
        // An optimistic address never overrides (RFC 4429 3.3).
        if own, addresses[dev.ifindex]?.first(where: { $0.address == target })?.optimistic ?? false { override = false }
        let src = own ? target : sourceAddress(dev.ifindex, toward: dst)
        guard src != 0, let q = pool.alloc() else { return }
        let ip = pool.data(q) + InetWire.ethernetLength
        let icmp = ip + Inet6Wire.ipv6Length
        let flags: UInt32 = (router ? 0x8000_0000 : 0) | (solicited ? 0x4000_0000 : 0) | (override ? 0x2000_0000 : 0)
        let len = Inet6Wire.writeND(icmp, type: 136, flags: flags, target: target, lladdr: withAddress ? dev.mac : nil)
        Inet6Wire.setChecksum(icmp, length: len, offset: 2, src: src, dst: dst, next: IPProto.icmpv6)
        Inet6Wire.writeIPv6(ip, trafficClass: 0, payloadLength: len, nextHeader: IPProto.icmpv6, hopLimit: 255, src: src, dst: dst)
        pool.meta(q).pointee.length = UInt32(InetWire.ethernetLength + Inet6Wire.ipv6Length + len)
        stats.outRequests &+= 1; stats.icmpOutMsgs &+= 1; stats.icmpOutNeighborAdvertisements &+= 1
        neighbours.repliesSent &+= 1
        if let dstMAC {
            guard dev.isOperational else { pool.free(q); return }
            transmit(dev, dstMAC, q)
        } else {
            output(q, dst: dst, dev: dev)
        }
    }

    /// ndisc_recv_na.
    func ndiscAdvertisement(_ dev: NetDevice, _ p: consuming Packet, offset off: Int, total: Int) {
        let ip = pool.data(p) + InetWire.ethernetLength
        // A solicited advertisement never goes to a group.
        guard let m = Inet6Wire.ndMessage(ip, offset: off, total: total, option: 2),
              !(m.flags & 0x4000_0000 != 0 && Inet6Wire.isMulticast(Inet6Wire.destination(ip))) else {
            dev.drop(.ndisc); pool.free(p); return
        }
        let flags = m.flags, target = m.target, tllao = m.lladdr
        let solicited = flags & 0x4000_0000 != 0, override = flags & 0x2000_0000 != 0
        pool.free(p)
        // ndisc_recv_na: an advertisement for one of our addresses fails its DAD if it is
        // tentative, and is otherwise ignored.
        if let a = addresses[dev.ifindex]?.first(where: { $0.address == target }) {
            if a.tentative { dadFailed(dev, target) }
            return
        }
        guard let i32 = neighbours.find(dev.ifindex, target) else { return }
        let i = Int(i32)
        let e = neighbours.entries[i]
        guard let mac = tllao ?? (e.state.isValid ? e.mac : nil) else { return }
        neighbours.entries[i].isRouter = flags & 0x8000_0000 != 0
        if !override && e.state.isValid && e.mac != mac {
            // A different address without override: a REACHABLE entry only becomes STALE.
            if e.state == .reachable { neighbours.entries[i].state = .stale; neighbours.entries[i].updated = clock.now }
            return
        }
        neighUpdate(i, mac: mac, state: solicited ? .reachable : .stale, override: true)
    }

    /// ndisc_solicit: to the target's solicited-node group (unicast to the cached address while
    /// probing), with our link-layer address. From the waiting packet's own source (the newest,
    /// neigh_probe's) when that is a usable address of this device (ipv6_chk_addr_and_flags,
    /// strict: a router's own packets); else from the device's oldest usable link-local address
    /// (ndisc_send_ns's ipv6_get_lladdr: forwarded packets); with neither, none is sent.
    /// Tentative and optimistic addresses never are sources (RFC 4429 3.3).
    func solicit(_ i: Int) {
        let t = neighbours
        let e = t.entries[i]
        guard let out = dp.devices[Int(e.dev)], out.isOperational else { return }
        let own = addresses[e.dev] ?? []
        var src: UInt128 = 0
        if let f = e.queue.peekTail(pool), let s = Inet6Wire.sourceIfIPv6(f + InetWire.ethernetLength),
           own.contains(where: { $0.address == s && $0.usable }) {
            src = s
        }
        if src == 0 { src = own.last(where: { $0.isLinkLocal && $0.usable })?.address ?? 0 }
        guard src != 0, let q = pool.alloc() else { return }
        let unicast = e.state == .probe && e.probes < t.parms(e.dev).ucastProbes
        let dst = unicast ? e.ip : Inet6Wire.solicitedNode(e.ip)
        let ip = pool.data(q) + InetWire.ethernetLength
        let icmp = ip + Inet6Wire.ipv6Length
        let len = Inet6Wire.writeND(icmp, type: 135, flags: 0, target: e.ip, lladdr: out.mac)
        Inet6Wire.setChecksum(icmp, length: len, offset: 2, src: src, dst: dst, next: IPProto.icmpv6)
        Inet6Wire.writeIPv6(ip, trafficClass: 0, payloadLength: len, nextHeader: IPProto.icmpv6, hopLimit: 255, src: src, dst: dst)
        pool.meta(q).pointee.length = UInt32(InetWire.ethernetLength + Inet6Wire.ipv6Length + len)
        stats.outRequests &+= 1; stats.icmpOutMsgs &+= 1; stats.icmpOutNeighborSolicits &+= 1
        t.requestsSent &+= 1
        transmit(out, unicast ? e.mac : Inet6Wire.multicastMAC(dst), q)
    }

    /// ndisc_error_report: ICMPv6 address unreachable.
    func reportUnresolved(_ dev: NetDevice, _ p: borrowing Packet) {
        icmpSend(dev, p, type: 1, code: 3, info: 0)
    }
}
