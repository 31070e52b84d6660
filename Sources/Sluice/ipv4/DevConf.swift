/// Principles (include/linux/inetdevice.h, net/ipv4/devinet.c: ipv4_devconf, inetdev_init,
/// devinet_conf_proc, devinet_sysctl_forward, inet_forward_change, devinet_copy_dflt_conf)
/// ----------
/// Per-device IPv4 configuration, `net.ipv4.conf.{all,default,DEV}.KNOB`, as the kernel keeps
/// it: every device has its own copy of each knob, made from `default` as the device appears
/// (inetdev_init); `all` is a third copy. What a device's packets obey combines `all` and the
/// device as the IN_DEV_* macros do — forwarding is the device's alone, rp_filter, arp_ignore,
/// arp_announce, arp_accept and arp_notify the larger of the two, the others either one.
///
/// Writes follow the kernel's handlers:
/// - forwarding on `all` (also `net.ipv4.ip_forward`) is written to every device and to
///   `default` (inet_forward_change); on `default` it only sets what later devices start with;
///   on a device, that device alone. It marks nothing as written (devinet_sysctl_forward).
/// - any other knob written on `default` is copied to every device whose own copy was never
///   written (devinet_copy_dflt_conf with the cnf.state bits); a write marks the copy written.
/// - values are any int, as proc_dointvec takes them; out-of-range words are EINVAL.
///
/// The combined values are cached in each device (`NetDevice.inet4`) at every change, so the
/// packet path reads one field of the device it already holds. Changes of forwarding,
/// rp_filter, proxy_arp and ignore_routes_with_linkdown are noted for RTM_NEWNETCONF
/// notifications, in the kernel's order. ignore_routes_with_linkdown (either's) makes a next
/// hop through the device dead to lookups while it has no carrier (ipv4/FIB.swift).

/// The knobs Sluice's IPv4 stack obeys, by their procfs names.
public enum InetKnob: Int, CaseIterable, Sendable {
    case forwarding, rpFilter, acceptLocal, arpIgnore, sendRedirects, promoteSecondaries, proxyArp, arpAnnounce
    case arpFilter, arpAccept, arpNotify, dropGratuitousArp, logMartians, routeLocalnet, srcValidMark, arpEvictNocarrier
    case ignoreRoutesWithLinkdown, mediumId, proxyArpPvlan, bcForwarding, sharedMedia

    public var name: String {
        switch self {
        case .forwarding: "forwarding"
        case .rpFilter: "rp_filter"
        case .acceptLocal: "accept_local"
        case .arpIgnore: "arp_ignore"
        case .sendRedirects: "send_redirects"
        case .promoteSecondaries: "promote_secondaries"
        case .proxyArp: "proxy_arp"
        case .arpAnnounce: "arp_announce"
        case .arpFilter: "arp_filter"
        case .arpAccept: "arp_accept"
        case .arpNotify: "arp_notify"
        case .dropGratuitousArp: "drop_gratuitous_arp"
        case .logMartians: "log_martians"
        case .routeLocalnet: "route_localnet"
        case .srcValidMark: "src_valid_mark"
        case .arpEvictNocarrier: "arp_evict_nocarrier"
        case .ignoreRoutesWithLinkdown: "ignore_routes_with_linkdown"
        case .mediumId: "medium_id"
        case .proxyArpPvlan: "proxy_arp_pvlan"
        case .bcForwarding: "bc_forwarding"
        case .sharedMedia: "shared_media"
        }
    }

    public static func named(_ s: some StringProtocol) -> InetKnob? { allCases.first { $0.name == s } }

    /// ipv4_devconf's and ipv4_devconf_dflt's initial values; forwarding is on because Sluice
    /// is a router (IPv4Stack.forwarding).
    var initial: Int32 {
        switch self {
        case .forwarding, .sendRedirects, .arpEvictNocarrier, .sharedMedia: 1
        default: 0
        }
    }

    /// The netconf attribute a change of this knob is announced with, if any (devinet_conf_proc).
    var netconfAttribute: UInt16? {
        switch self {
        case .forwarding: NETCONFA.FORWARDING
        case .rpFilter: NETCONFA.RP_FILTER
        case .proxyArp: NETCONFA.PROXY_NEIGH
        case .ignoreRoutesWithLinkdown: NETCONFA.IGNORE_ROUTES_WITH_LINKDOWN
        default: nil
        }
    }
}

/// One copy of the knobs (ipv4_devconf): `all`, `default` or a device's.
public struct InetDevConf: Sendable, Equatable {
    var values: [Int32] = InetKnob.allCases.map(\.initial)
    /// cnf.state: the knobs written on this copy, which `default` no longer overrides.
    var written: UInt32 = 0

    public subscript(k: InetKnob) -> Int32 {
        get { values[k.rawValue] }
        set { values[k.rawValue] = newValue }
    }

    /// A new device's copy: `default`'s values, nothing written (inetdev_init's memcpy).
    var forNewDevice: InetDevConf { InetDevConf(values: values, written: 0) }
}

/// What one device's packets obey: `all` and the device's own copy combined (IN_DEV_*).
public struct InetDevFlags: Sendable, Equatable {
    /// IN_DEV_FORWARD: the device's own.
    public var forwarding = true
    /// IN_DEV_RPFILTER: max(all, dev); 1 strict, any other non-zero value loose.
    public var rpFilter: Int32 = 0
    /// IN_DEV_ACCEPT_LOCAL.
    public var acceptLocal = false
    /// IN_DEV_ARP_IGNORE: max(all, dev).
    public var arpIgnore: Int32 = 0
    /// IN_DEV_TX_REDIRECTS.
    public var sendRedirects = true
    /// IN_DEV_PROMOTE_SECONDARIES.
    public var promoteSecondaries = false
    /// IN_DEV_PROXY_ARP.
    public var proxyArp = false
    /// IN_DEV_ARP_ANNOUNCE: max(all, dev).
    public var arpAnnounce: Int32 = 0
    /// IN_DEV_ARPFILTER: answer ARP for a local address only when the route back to the
    /// asker leaves by the device asked on.
    public var arpFilter = false
    /// IN_DEV_ARP_ACCEPT: max(all, dev); 1 unsolicited ARP (gratuitous, or a reply from a
    /// unicast address) makes a new neighbour, 2 only from a sender on the device's subnets.
    public var arpAccept: Int32 = 0
    /// IN_DEV_ARP_NOTIFY: max(all, dev); a device coming up, or changing its MAC, announces
    /// its addresses with gratuitous ARP.
    public var arpNotify = false
    /// drop_gratuitous_arp of either.
    public var dropGratuitousArp = false
    /// IN_DEV_LOG_MARTIANS: martian sources and destinations are logged (rate limited).
    public var logMartians = false
    /// IN_DEV_ROUTE_LOCALNET: 127/8 is routed, not martian.
    public var routeLocalnet = false
    /// IN_DEV_SRC_VMARK: the reverse-path lookup carries the packet's mark (fwmark rules).
    public var srcValidMark = false
    /// IN_DEV_ARP_EVICT_NOCARRIER: all's and the device's; losing the carrier flushes the
    /// device's ARP entries.
    public var arpEvictNocarrier = true
    /// IN_DEV_IGNORE_ROUTES_WITH_LINKDOWN: either's; a next hop through the device without
    /// carrier is dead to lookups (ip_ignore_linkdown).
    public var ignoreRoutesWithLinkdown = false
    /// IN_DEV_MEDIUM_ID: the device's own. With proxy_arp, 0 answers for any other device,
    /// −1 for none, another value only for a device of a different medium that is not −1.
    public var mediumId: Int32 = 0
    /// IN_DEV_PROXY_ARP_PVLAN: either's; ARP for another host on the same device is answered
    /// (private VLAN, RFC 3069), not a host's probe of itself.
    public var proxyArpPvlan = false
    /// IN_DEV_BFORWARD: all's and the device's; a packet to a directed broadcast address (a
    /// broadcast route's) arriving here is forwarded as a link-layer broadcast, not delivered.
    public var bcForwarding = false
    /// IN_DEV_SHARED_MEDIA: either's (on by default). Off, a redirect also needs the sender
    /// and the gateway it is told of on one of the device's subnets (inet_addr_onlink).
    public var sharedMedia = true

    init() {}

    init(all: InetDevConf, dev: InetDevConf) {
        forwarding = dev[.forwarding] != 0
        rpFilter = max(all[.rpFilter], dev[.rpFilter])
        acceptLocal = all[.acceptLocal] != 0 || dev[.acceptLocal] != 0
        arpIgnore = max(all[.arpIgnore], dev[.arpIgnore])
        sendRedirects = all[.sendRedirects] != 0 || dev[.sendRedirects] != 0
        promoteSecondaries = all[.promoteSecondaries] != 0 || dev[.promoteSecondaries] != 0
        proxyArp = all[.proxyArp] != 0 || dev[.proxyArp] != 0
        arpAnnounce = max(all[.arpAnnounce], dev[.arpAnnounce])
        arpFilter = all[.arpFilter] != 0 || dev[.arpFilter] != 0
        arpAccept = max(all[.arpAccept], dev[.arpAccept])
        arpNotify = max(all[.arpNotify], dev[.arpNotify]) != 0
        dropGratuitousArp = all[.dropGratuitousArp] != 0 || dev[.dropGratuitousArp] != 0
        logMartians = all[.logMartians] != 0 || dev[.logMartians] != 0
        routeLocalnet = all[.routeLocalnet] != 0 || dev[.routeLocalnet] != 0
        srcValidMark = all[.srcValidMark] != 0 || dev[.srcValidMark] != 0
        arpEvictNocarrier = all[.arpEvictNocarrier] != 0 && dev[.arpEvictNocarrier] != 0
        ignoreRoutesWithLinkdown = all[.ignoreRoutesWithLinkdown] != 0 || dev[.ignoreRoutesWithLinkdown] != 0
        mediumId = dev[.mediumId]
        proxyArpPvlan = all[.proxyArpPvlan] != 0 || dev[.proxyArpPvlan] != 0
        bcForwarding = all[.bcForwarding] != 0 && dev[.bcForwarding] != 0
        sharedMedia = all[.sharedMedia] != 0 || dev[.sharedMedia] != 0
    }
}

extension Datapath {
    /// The copy `PREFIX.WHICH.KNOB` names (`all`, `default` or a device, whose name's dots
    /// procps writes as slashes) and the knob's name; nil for a device that does not exist.
    func confTarget(_ key: String, prefix: String) -> (InetConfTarget, Substring)? {
        let rest = key.dropFirst(prefix.count)
        guard key.hasPrefix(prefix), let dot = rest.lastIndex(of: ".") else { return nil }
        let which = String(rest[..<dot].map { $0 == "/" ? "." : $0 })
        let name = rest[rest.index(after: dot)...]
        switch which {
        case "all": return (.all, name)
        case "default": return (.default, name)
        default: return device(named: which).map { (.device($0), name) }
        }
    }
}

/// Which copy a write names.
public enum InetConfTarget {
    case all, `default`, device(NetDevice)

    var netconfIndex: Int32 {
        switch self {
        case .all: NETCONFA.ALL
        case .default: NETCONFA.DEFAULT
        case .device(let d): d.ifindex
        }
    }
}

extension IPv4Stack {
    /// net.ipv4.ip_forward (all.forwarding): Sluice forwards by default, as a router.
    public var forwarding: Bool { confAll[.forwarding] != 0 }

    /// The copy a target names.
    public func conf(_ t: InetConfTarget) -> InetDevConf {
        switch t {
        case .all: confAll
        case .default: confDefault
        case .device(let d): d.inetConf
        }
    }

    /// inetdev_init: a device that appears starts with `default`'s knobs.
    func deviceAdded(_ dev: NetDevice) {
        dev.inetConf = confDefault.forNewDevice
        dev.inet4 = InetDevFlags(all: confAll, dev: dev.inetConf)
    }

    /// Writes one knob as the kernel's sysctl handlers do (see the principles above).
    public func setConf(_ t: InetConfTarget, _ k: InetKnob, _ value: Int32) {
        let old = conf(t)[k]
        let devices = dp.allDevices
        if k == .forwarding {
            switch t {
            case .all:
                confAll[.forwarding] = value
                guard old != value else { return }
                // inet_forward_change: default, then every device, each announced.
                confDefault[.forwarding] = value
                noteNetconf(NETCONFA.ALL, NETCONFA.FORWARDING)
                noteNetconf(NETCONFA.DEFAULT, NETCONFA.FORWARDING)
                for d in devices {
                    d.inetConf[.forwarding] = value
                    noteNetconf(d.ifindex, NETCONFA.FORWARDING)
                }
            case .default:
                confDefault[.forwarding] = value
                if old != value { noteNetconf(NETCONFA.DEFAULT, NETCONFA.FORWARDING) }
            case .device(let d):
                d.inetConf[.forwarding] = value
                if old != value { noteNetconf(d.ifindex, NETCONFA.FORWARDING) }
            }
        } else {
            let bit = UInt32(1) << UInt32(k.rawValue)
            switch t {
            case .all:
                confAll[k] = value; confAll.written |= bit
            case .default:
                confDefault[k] = value; confDefault.written |= bit
                // devinet_copy_dflt_conf.
                for d in devices where d.inetConf.written & bit == 0 { d.inetConf[k] = value }
            case .device(let d):
                d.inetConf[k] = value; d.inetConf.written |= bit
            }
            if old != value, let attr = k.netconfAttribute { noteNetconf(t.netconfIndex, attr) }
        }
        for d in devices { d.inet4 = InetDevFlags(all: confAll, dev: d.inetConf) }
        if k == .ignoreRoutesWithLinkdown && old != value { fib.refreshUsability() }
    }

    func noteNetconf(_ ifindex: Int32, _ attr: UInt16) {
        if netconfNotes.count < 4096 { netconfNotes.append((ifindex, attr)) }
    }

    /// The knob and copy a sysctl key names, `net.ipv4.conf.WHICH.KNOB` (a device name's dots
    /// written as slashes, as procps does), or nil when there is no such device or knob.
    func confKey(_ key: String) -> (InetConfTarget, InetKnob)? {
        guard let (target, name) = dp.confTarget(key, prefix: Self.confPrefix), let knob = InetKnob.named(name) else { return nil }
        return (target, knob)
    }

    static let confPrefix = "net.ipv4.conf."
}

/// fib_validate_source's answer.
enum SourceVerdict { case ok, martian, rpf }

extension IPv4Stack {
    /// fib_validate_source (fib_frontend.c) for a packet from `src` to `dst` (0 for a
    /// broadcast) entering `dev`, to leave by `oif` (0: delivered here). Without rp_filter,
    /// realms or a possible redirect, only a source that is one of this host's addresses is
    /// refused (a martian) — unless accept_local, or custom local routes or rules call for
    /// the full check: the route back to the source, looked up as from `dst` entering by
    /// `oif` (lo when 0), must be unicast (or local with accept_local), else a martian; with
    /// rp_filter it must leave by `dev` (strict, 1) or merely exist (loose, any other value).
    @inline(__always)
    func validateSource(_ dev: NetDevice, src: UInt32, dst: UInt32, tos: UInt8, oif: Int32, mark: UInt32 = 0) -> SourceVerdict {
        let c = dev.inet4
        if c.rpFilter == 0 && !fib.hasRealms && (dev.ifindex != oif || !c.sendRedirects) {
            if c.acceptLocal { return .ok }
            if !fib.hasCustomLocalRoutes && !fib.hadCustomRules {
                // inet_lookup_ifaddr_rcu: the source is one of our addresses — not merely in
                // a local route's prefix, as 127/8's is (reached with route_localnet).
                guard fib.local.lookup(src, hash: 0)?.type == .local else { return .ok }
                if src >> 24 == 127 && !addresses.values.contains(where: { $0.contains { $0.address == src } }) { return .ok }
                return .martian
            }
        }
        return validateSourceFully(dev, src: src, dst: dst, tos: tos, oif: oif, mark: mark)
    }

    /// __fib_validate_source.
    func validateSourceFully(_ dev: NetDevice, src: UInt32, dst: UInt32, tos: UInt8, oif: Int32, mark: UInt32) -> SourceVerdict {
        let c = dev.inet4
        // flowi4_l3mdev: the input device's VRF chooses the table (read only with rules);
        // flowi4_mark: the packet's mark with src_valid_mark, else none.
        let back = fib.reverseLookup(src, dev: dev.ifindex) {
            FlowKeysOf(src: dst, iif: oif != 0 ? oif : fib.loopbackIndex, oif: oif == 0 ? fib.l3mdevMaster(dev.ifindex) : 0,
                       mark: c.srcValidMark ? mark : 0, tos: tos)
        }
        guard let back else { return c.rpFilter != 0 ? .rpf : .ok }
        if back.type != .unicast && !(back.type == .local && c.acceptLocal) { return .martian }
        if back.usesDev || (back.type == .local && dev.flags.contains(.loopback)) { return .ok }
        // A device without addresses: only rp_filter refuses (last_resort).
        if addresses[dev.ifindex]?.isEmpty ?? true { return c.rpFilter != 0 ? .rpf : .ok }
        return c.rpFilter == 1 ? .rpf : .ok
    }
}

extension FIBTableOf {
    /// fib_table_lookup, then fib_info_nh_uses_dev: the best route's type and whether one of
    /// its next hops leaves by `dev`.
    @inline(__always)
    func lookupUses(_ addr: A, dev: Int32) -> (type: RouteType, usesDev: Bool)? {
        let e = trie.lookup(addr)
        guard e != 0 else { return nil }
        let f = fast[Int(e) &- 1]
        var k = Int(f.nhStart)
        let end = k &+ Int(f.nhCount)
        var uses = false
        while k < end { if nhDev[k] == dev { uses = true; break }; k &+= 1 }
        return (RouteType(rawValue: f.type) ?? .unicast, uses)
    }
}

extension FIBOf {
    /// The lookup of __fib_validate_source: the route to `addr` with `keys`, and whether it
    /// uses `dev`; nil where fib_lookup fails — no route, or one whose type is an error
    /// (fib_props: blackhole, unreachable, prohibit, throw), from a route or a rule.
    @inline(__always)
    func reverseLookup(_ addr: A, dev: Int32, keys: () -> FlowKeysOf<A>) -> (type: RouteType, usesDev: Bool)? {
        let found: (type: RouteType, usesDev: Bool)?
        if simple {
            found = local.lookupUses(addr, dev: dev) ?? main.lookupUses(addr, dev: dev)
        } else if case .table(let t, _) = walkRules(addr, keys(), hash: 0) {
            found = t.lookupUses(addr, dev: dev)
        } else {
            found = nil
        }
        guard let found else { return nil }
        switch found.type {
        case .blackhole, .unreachable, .prohibit, .throw: return nil
        default: return found
        }
    }
}

extension FIBOf {
    /// inet_rtm_newroute's fib_has_custom_local_routes (IPv4 only).
    func noteCustomLocalRoute() { if A.bitWidth == 32 { hasCustomLocalRoutes = true } }
}
