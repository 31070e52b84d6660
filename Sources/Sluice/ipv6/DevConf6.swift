/// Principles (net/ipv6/addrconf.c: ipv6_devconf, ipv6_devconf_dflt, ipv6_add_dev,
/// addrconf_sysctl_forward, addrconf_fixup_forwarding, addrconf_forward_change, dev_forward_change)
/// ----------
/// Per-device IPv6 configuration, `net.ipv6.conf.{all,default,DEV}.KNOB`. Each device has its
/// own copy, made from `default` as the device appears (ipv6_add_dev, which also sets
/// accept_dad to -1 on a NOARP or loopback device). Unlike IPv4 nothing remembers which knobs
/// were written: a write to `default` only changes what later devices start with.
///
/// forwarding written on `all` is written to `default` and to every device; the stack forwards
/// by `all`'s (ip6_forward), while a device's own decides what that device does as a router:
/// the all-routers group, the subnet-router anycast address of each of its prefixes (its
/// local-table route, added and removed as dev_forward_change joins and leaves it) and the
/// router flag of its neighbour advertisements. Each change of truth value is announced to
/// RTNLGRP_IPV6_NETCONF in addrconf_fixup_forwarding's order: default, the devices, all.
///
/// What the other knobs mean to a device: hop_limit and dad_transmits its own; accept_dad
/// either's (no DAD only when both are below 1); optimistic_dad and use_optimistic either's.
/// hop_limit is 1–255; the others take any int, as proc_dointvec.
///
/// disable_ipv6 (addrconf_disable_ipv6): a device's own. Turning it on is NETDEV_DOWN for
/// IPv6 — every address, its routes and neighbours go (addrconf_ifdown) — and from then on the
/// device receives no IPv6 (ip6_rcv_core: InDiscards, IPV6DISABLED), sends none (ip6_output:
/// OutDiscards) and takes no address, route or neighbour (EACCES, EINVAL). Turning it off is
/// NETDEV_UP: a device that is up gets its link-local address again. Written on `all`, it is
/// written to `default` and every device, each changing as above; on `default`, only later
/// devices see it.
///
/// mtu (cnf.mtu6): the device's IPv6 MTU, from 1280 to the device's MTU; it starts at the
/// device's MTU and follows each change of it (NETDEV_CHANGEMTU) and a link coming up with a
/// different one. Forwarding sends packet too big above it (ip6_dst_mtu_maybe_forward) and
/// what Sluice sends is fragmented to it. all's and default's, 1280, change nothing.
///
/// proxy_ndp: all's or the device's, with the device forwarding, answers neighbour
/// solicitations for the device's proxy entries (`ip -6 neigh add proxy`); see ndisc
/// in IPv6.swift.
///
/// keep_addr_on_down: all's when it is not 0, else the device's; above 0, a device going down
/// (not one whose IPv6 is being disabled) keeps its permanent addresses but link-local ones —
/// tentative again unless `nodad`, without their routes, unannounced — and coming up gives
/// them their routes back and runs their DAD again (addrconf_ifdown, addrconf_permanent_addr).
///
/// ignore_routes_with_linkdown (ip6_ignore_linkdown): the device's own; a next hop through it
/// without carrier is then dead to lookups (ipv4/FIB.swift). Written on `all`, it is written to
/// `default` (unannounced) and every device, each change of truth announced, then all's
/// (addrconf_fixup_linkdown).

public enum Inet6Knob: Int, CaseIterable, Sendable {
    case forwarding, hopLimit, acceptDAD, dadTransmits, optimisticDAD, useOptimistic, disableIPv6, mtu, proxyNDP, keepAddrOnDown
    case ndiscEvictNocarrier, ignoreRoutesWithLinkdown, useOifAddrsOnly

    public var name: String {
        switch self {
        case .forwarding: "forwarding"
        case .hopLimit: "hop_limit"
        case .acceptDAD: "accept_dad"
        case .dadTransmits: "dad_transmits"
        case .optimisticDAD: "optimistic_dad"
        case .useOptimistic: "use_optimistic"
        case .disableIPv6: "disable_ipv6"
        case .mtu: "mtu"
        case .proxyNDP: "proxy_ndp"
        case .keepAddrOnDown: "keep_addr_on_down"
        case .ndiscEvictNocarrier: "ndisc_evict_nocarrier"
        case .ignoreRoutesWithLinkdown: "ignore_routes_with_linkdown"
        case .useOifAddrsOnly: "use_oif_addrs_only"
        }
    }

    public static func named(_ s: some StringProtocol) -> Inet6Knob? { allCases.first { $0.name == s } }

    /// What a write may set on copy `t` (proc_dointvec_minmax's bounds; mtu's upper one is the
    /// device's MTU, none for all's and default's).
    func range(_ t: InetConfTarget) -> ClosedRange<Int> {
        switch self {
        case .hopLimit: 1...255
        case .ndiscEvictNocarrier: 0...1
        case .mtu:
            if case .device(let d) = t { Inet6Wire.minMTU...max(d.mtu, Inet6Wire.minMTU) } else { Inet6Wire.minMTU...Int(Int32.max) }
        default: Int(Int32.min)...Int(Int32.max)
        }
    }
}

/// One copy of the knobs (ipv6_devconf): `all`, `default` or a device's.
public struct Inet6DevConf: Sendable, Equatable {
    /// ipv6_devconf's initial values (forwarding on: Sluice is a router, IPv6Stack.forwarding;
    /// accept_dad 0 for `all`, 1 for `default`, as the kernel's; mtu IPV6_MIN_MTU).
    var values: [Int32] = [1, 64, 0, 1, 0, 0, 0, 1280, 0, 0, 1, 0, 0]

    public subscript(k: Inet6Knob) -> Int32 {
        get { values[k.rawValue] }
        set { values[k.rawValue] = newValue }
    }
}

/// What one device obeys: its copy and `all`'s combined.
public struct Inet6DevFlags: Sendable, Equatable {
    /// The device's own forwarding: it acts as a router on its link.
    public var forwarding = true
    public var hopLimit: UInt8 = 64
    /// accept_dad of all or of the device at least 1.
    public var dad = true
    public var dadTransmits: Int32 = 1
    public var optimisticDAD = false
    /// use_optimistic, counted only with optimistic_dad (ipv6_use_optimistic_addr).
    public var useOptimistic = false
    /// The device's own disable_ipv6: no IPv6 in or out.
    public var disabled = false
    /// cnf.mtu6.
    public var mtu = 1500
    /// proxy_ndp of all or the device.
    public var proxyNDP = false
    /// keep_addr_on_down: all's when not 0, else the device's, above 0.
    public var keepAddrOnDown = false
    /// ndisc_evict_nocarrier: all's and the device's; losing the carrier flushes the device's
    /// neighbour entries.
    public var ndiscEvictNocarrier = true
    /// ip6_ignore_linkdown: the device's own; a next hop through it without carrier is dead
    /// to lookups.
    public var ignoreRoutesWithLinkdown = false
    /// use_oif_addrs_only: the device's own; a source for what leaves by it is chosen among
    /// its own addresses only (ipv6_dev_get_saddr).
    public var useOifAddrsOnly = false

    init() {}

    init(all: Inet6DevConf, dev: Inet6DevConf, absent: Bool = false) {
        forwarding = dev[.forwarding] != 0
        hopLimit = UInt8(clamping: dev[.hopLimit])
        dad = all[.acceptDAD] >= 1 || dev[.acceptDAD] >= 1
        dadTransmits = dev[.dadTransmits]
        optimisticDAD = all[.optimisticDAD] != 0 || dev[.optimisticDAD] != 0
        useOptimistic = optimisticDAD && (all[.useOptimistic] != 0 || dev[.useOptimistic] != 0)
        disabled = dev[.disableIPv6] != 0 || absent
        mtu = Int(dev[.mtu])
        proxyNDP = all[.proxyNDP] != 0 || dev[.proxyNDP] != 0
        keepAddrOnDown = (all[.keepAddrOnDown] != 0 ? all[.keepAddrOnDown] : dev[.keepAddrOnDown]) > 0
        ndiscEvictNocarrier = all[.ndiscEvictNocarrier] != 0 && dev[.ndiscEvictNocarrier] != 0
        ignoreRoutesWithLinkdown = dev[.ignoreRoutesWithLinkdown] != 0
        useOifAddrsOnly = dev[.useOifAddrsOnly] != 0
    }
}

extension IPv6Stack {
    /// net.ipv6.conf.all.forwarding: whether the stack forwards at all (ip6_forward).
    public var forwarding: Bool { confAll[.forwarding] != 0 }

    public func conf(_ t: InetConfTarget) -> Inet6DevConf {
        switch t {
        case .all: confAll
        case .default: confDefault
        case .device(let d): d.inet6Conf
        }
    }

    /// ipv6_add_dev: a device that appears starts with `default`'s knobs — or has no IPv6 at
    /// all while its MTU is below 1280.
    func deviceAdded(_ dev: NetDevice) {
        var c = confDefault
        if dev.flags.contains(.noARP) || dev.flags.contains(.loopback) { c[.acceptDAD] = -1 }
        c[.mtu] = Int32(clamping: dev.mtu)
        dev.inet6Conf = c
        dev.inet6Absent = dev.mtu < Inet6Wire.minMTU && !dev.flags.contains(.loopback)
        refreshFlags(dev)
    }

    /// What the device's packets obey, from its knobs and all's.
    func refreshFlags(_ dev: NetDevice) {
        dev.inet6 = Inet6DevFlags(all: confAll, dev: dev.inet6Conf, absent: dev.inet6Absent)
    }

    /// Writes one knob as addrconf's sysctl handlers do (see the principles above).
    public func setConf(_ t: InetConfTarget, _ k: Inet6Knob, _ value: Int32) {
        let old = conf(t)[k]
        if k == .forwarding {
            func changed(_ a: Int32) -> Bool { (a == 0) != (value == 0) }
            switch t {
            case .default:
                confDefault[.forwarding] = value
                if changed(old) { noteNetconf(NETCONFA.DEFAULT) }
            case .all:
                confAll[.forwarding] = value
                let oldDefault = confDefault[.forwarding]
                confDefault[.forwarding] = value
                if changed(oldDefault) { noteNetconf(NETCONFA.DEFAULT) }
                // addrconf_forward_change.
                for d in dp.allDevices where !d.inet6Absent {
                    let was = d.inet6Conf[.forwarding]
                    d.inet6Conf[.forwarding] = value
                    if changed(was) { forwardingChanged(d) }
                }
                if changed(old) { noteNetconf(NETCONFA.ALL) }
            case .device(let d):
                d.inet6Conf[.forwarding] = value
                if changed(old) { forwardingChanged(d) }
            }
        } else if k == .disableIPv6 {
            func changed(_ a: Int32) -> Bool { (a == 0) != (value == 0) }
            switch t {
            case .default: confDefault[k] = value
            case .all:
                // addrconf_disable_change: default, then each device that changes.
                confAll[k] = value; confDefault[k] = value
                for d in dp.allDevices where !d.inet6Absent {
                    let was = d.inet6Conf[k]
                    d.inet6Conf[k] = value
                    if changed(was) { disableChanged(d) }
                }
            case .device(let d):
                d.inet6Conf[k] = value
                if changed(old) { disableChanged(d) }
            }
        } else if k == .ignoreRoutesWithLinkdown {
            // addrconf_fixup_linkdown: all's is written to default (unannounced) and to every
            // device, each that changes truth announced, then all; default's and a device's
            // announced when their truth changes.
            func changed(_ a: Int32) -> Bool { (a == 0) != (value == 0) }
            switch t {
            case .default:
                confDefault[k] = value
                if changed(old) { noteNetconf(NETCONFA.DEFAULT, NETCONFA.IGNORE_ROUTES_WITH_LINKDOWN) }
            case .all:
                confAll[k] = value; confDefault[k] = value
                for d in dp.allDevices where !d.inet6Absent {
                    let was = d.inet6Conf[k]
                    d.inet6Conf[k] = value
                    if changed(was) { noteNetconf(d.ifindex, NETCONFA.IGNORE_ROUTES_WITH_LINKDOWN) }
                }
                if changed(old) { noteNetconf(NETCONFA.ALL, NETCONFA.IGNORE_ROUTES_WITH_LINKDOWN) }
            case .device(let d):
                d.inet6Conf[k] = value
                if changed(old) { noteNetconf(d.ifindex, NETCONFA.IGNORE_ROUTES_WITH_LINKDOWN) }
            }
        } else {
            switch t {
            case .all: confAll[k] = value
            case .default: confDefault[k] = value
            case .device(let d): d.inet6Conf[k] = value
            }
            // addrconf_sysctl_proxy_ndp: any change of value is announced, as proxy_neigh.
            if k == .proxyNDP && old != value { noteNetconf(t.netconfIndex, NETCONFA.PROXY_NEIGH) }
        }
        for d in dp.allDevices { refreshFlags(d) }
        if k == .ignoreRoutesWithLinkdown { fib.refreshUsability() }
    }

    /// dev_disable_change: NETDEV_DOWN for IPv6 when disabled, NETDEV_UP when enabled again.
    func disableChanged(_ dev: NetDevice) {
        refreshFlags(dev)
        if dev.inet6.disabled { ifDown(dev) } else if dev.isUp { deviceStateChanged(dev) }
    }

    /// NETDEV_CHANGEMTU (addrconf_notify): below 1280 IPv6 stops on the device — its
    /// inet6_dev is destroyed (addrconf_ifdown unregistering: every address, route and
    /// neighbour goes, kept ones too; lo only goes down); back at 1280 or above, a new one
    /// starts from `default`'s knobs (ipv6_add_dev) and the device comes up for IPv6 as at
    /// NETDEV_UP. Otherwise mtu6 follows the device's MTU.
    func mtuChanged(_ dev: NetDevice) {
        if dev.mtu < Inet6Wire.minMTU {
            if dev.flags.contains(.loopback) { ifDown(dev); return }
            guard !dev.inet6Absent else { return }
            dev.inet6Absent = true
            refreshFlags(dev)
            ifDown(dev)
            noteNetconf(dev.ifindex, NETCONFA.deleted)
            return
        }
        if dev.inet6Absent {
            deviceAdded(dev)
            noteNetconf(dev.ifindex, NETCONFA.everything)
            if dev.isUp { deviceStateChanged(dev) }
            return
        }
        guard dev.inet6Conf[.mtu] != Int32(clamping: dev.mtu) else { return }
        dev.inet6Conf[.mtu] = Int32(clamping: dev.mtu)
        dev.inet6.mtu = dev.mtu
    }

    /// dev_forward_change: the device's subnet-router anycast addresses are joined (their
    /// local routes added) or left, and the change announced.
    func forwardingChanged(_ dev: NetDevice) {
        let on = dev.inet6Conf[.forwarding] != 0
        refreshFlags(dev)
        let localT = fib.localTable(for: dev.ifindex)
        for a in addresses[dev.ifindex] ?? [] where a.prefixLen < 127 && a.usable {
            if on {
                installRoutes(dev, a)
            } else {
                _ = localT.delete(a.network, 128) { $0.type == .anycast && $0.nexthops.first?.dev == dev.ifindex }
            }
        }
        noteNetconf(dev.ifindex)
    }

    func noteNetconf(_ ifindex: Int32, _ attr: UInt16 = NETCONFA.FORWARDING) {
        if netconfNotes.count < 4096 { netconfNotes.append((ifindex, attr)) }
    }

    /// The copy and knob a sysctl key names, `net.ipv6.conf.WHICH.KNOB`, or nil.
    func confKey(_ key: String) -> (InetConfTarget, Inet6Knob)? {
        guard let (target, name) = dp.confTarget(key, prefix: Self.confPrefix), let knob = Inet6Knob.named(name) else { return nil }
        // No inet6_dev, no directory.
        if case .device(let d) = target, d.inet6Absent { return nil }
        return (target, knob)
    }

    static let confPrefix = "net.ipv6.conf."

    /// The hop limit of what Sluice sends toward `dst` on behalf of `dev`: that of the device
    /// the route leaves by (ip6_dst_hoplimit), the device's own for a link-local or multicast
    /// destination or without a route.
    func hopLimit(toward dst: UInt128, from dev: Int32) -> UInt8 {
        var out = dev
        if !Inet6Wire.isLinkLocal(dst) && !Inet6Wire.isMulticast(dst), let r = fib.output(dst, hash: Self.flowHash(0, dst), from: dev), r.dev != 0 {
            out = r.dev
        }
        return dp.device(out)?.inet6.hopLimit ?? UInt8(clamping: confDefault[.hopLimit])
    }
}
