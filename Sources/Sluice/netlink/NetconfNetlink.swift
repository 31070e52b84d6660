#if canImport(Glibc)
import Glibc
#endif

/// Principles (net/ipv4/devinet.c, net/ipv6/addrconf.c: inet_netconf_get_devconf,
/// inet_netconf_dump_devconf, inet6_netconf_*)
/// ----------
/// `ip netconf show`: per device, then for "all" and "default", the configuration the
/// forwarding path reads — IPv4's forwarding, rp_filter and proxy_neigh (proxy_arp) of that
/// copy (ipv4/DevConf.swift), IPv6's forwarding and proxy_neigh (proxy_ndp; ipv6/DevConf6.swift);
/// ignore_routes_with_linkdown of both, IPv4's bc_forwarding; the feature Sluice does not have
/// reported off as it acts: mc_forwarding. A change is announced to the family's netconf
/// group with that attribute alone (inet_netconf_notify_devconf, inet6_netconf_notify_devconf).
enum NETCONFA {
    static let IFINDEX: UInt16 = 1, FORWARDING: UInt16 = 2, RP_FILTER: UInt16 = 3, MC_FORWARDING: UInt16 = 4
    static let PROXY_NEIGH: UInt16 = 5, IGNORE_ROUTES_WITH_LINKDOWN: UInt16 = 6, BC_FORWARDING: UInt16 = 8
    static let ALL: Int32 = -1, DEFAULT: Int32 = -2
    /// NETCONFA_ALL as a message type: every attribute.
    static let everything: UInt16 = 0xFFFF
    /// A note that the device's configuration went (RTM_DELNETCONF with the index alone).
    static let deleted: UInt16 = 0
    static let GROUP_IPV4: UInt32 = 24, GROUP_IPV6: UInt32 = 25
    static let RTM_NEWNETCONF: UInt16 = 80, RTM_DELNETCONF: UInt16 = 81, RTM_GETNETCONF: UInt16 = 82
    static let policy = NLAPolicy(maxType: 10, [IFINDEX: .s32, FORWARDING: .s32, RP_FILTER: .s32, PROXY_NEIGH: .s32, IGNORE_ROUTES_WITH_LINKDOWN: .s32])
}

extension RtnlProcessor {
    static let hostHasIPv6MRoute = access("/proc/sys/net/ipv6/conf/all/mc_forwarding", F_OK) == 0

    /// inet_netconf_fill_devconf / inet6_netconf_fill_devconf: every attribute, or only `type`
    /// (a notification of one change); a notification is from the kernel itself (port 0).
    func encodeNetconf(family: UInt8, ifindex: Int32, flags: UInt16, seq: UInt32, type: UInt16 = NETCONFA.everything,
                       notification: Bool = false, _ w: inout NetlinkWriter) {
        let v6 = family == Self.AF_INET6
        let v4 = dp.ipv4
        let v6s = dp.ipv6
        let c: InetDevConf = ifindex == NETCONFA.ALL ? v4.confAll : ifindex == NETCONFA.DEFAULT ? v4.confDefault
            : dp.device(ifindex)?.inetConf ?? v4.confDefault
        let c6: Inet6DevConf = ifindex == NETCONFA.ALL ? v6s.confAll : ifindex == NETCONFA.DEFAULT ? v6s.confDefault
            : dp.device(ifindex)?.inet6Conf ?? v6s.confDefault
        let start = w.begin(type: NETCONFA.RTM_NEWNETCONF, flags: flags, seq: seq, pid: notification ? 0 : pid)
        w.put8(family); w.put8(0); w.put8(0); w.put8(0)
        w.attr(NETCONFA.IFINDEX, u32: UInt32(bitPattern: ifindex))
        func put(_ t: UInt16, _ v: @autoclosure () -> Int32) {
            if type == NETCONFA.everything || type == t { w.attr(t, u32: UInt32(bitPattern: v())) }
        }
        put(NETCONFA.FORWARDING, v6 ? c6[.forwarding] : c[.forwarding])
        if !v6 { put(NETCONFA.RP_FILTER, c[.rpFilter]) }
        // inet6 reports mc_forwarding only under CONFIG_IPV6_MROUTE: as the kernel beside
        // Sluice is built (its sysctl of that name exists).
        if !v6 || Self.hostHasIPv6MRoute { put(NETCONFA.MC_FORWARDING, 0) }
        if !v6 { put(NETCONFA.BC_FORWARDING, c[.bcForwarding]) }
        put(NETCONFA.PROXY_NEIGH, v6 ? c6[.proxyNDP] : c[.proxyArp])
        put(NETCONFA.IGNORE_ROUTES_WITH_LINKDOWN, v6 ? c6[.ignoreRoutesWithLinkdown] : c[.ignoreRoutesWithLinkdown])
        w.end(start)
    }

    /// The knob changes noted since the last call, as RTM_NEWNETCONF notifications to those who
    /// joined RTNLGRP_IPV4_NETCONF or _IPV6_NETCONF (the notes are dropped otherwise).
    func announceNetconf() {
        let notes = dp.ipv4.netconfNotes, notes6 = dp.ipv6.netconfNotes
        clearNetconfNotes()
        for (on, family, group, list) in [(eventGroups.contains(NETCONFA.GROUP_IPV4), Self.AF_INET, NETCONFA.GROUP_IPV4, notes),
                                          (eventGroups.contains(NETCONFA.GROUP_IPV6), Self.AF_INET6, NETCONFA.GROUP_IPV6, notes6)] where on {
            for (ifindex, attr) in list {
                var w = NetlinkWriter()
                if attr == NETCONFA.deleted {
                    encodeNetconfDeletion(family: family, ifindex: ifindex, &w)
                } else {
                    encodeNetconf(family: family, ifindex: ifindex, flags: 0, seq: 0, type: attr, notification: true, &w)
                }
                events.append((group, w.bytes))
            }
        }
    }

    /// RTM_DELNETCONF: the family's configuration of the device is gone (devinet_sysctl_unregister,
    /// __addrconf_sysctl_unregister).
    func encodeNetconfDeletion(family: UInt8, ifindex: Int32, _ w: inout NetlinkWriter) {
        let st = w.begin(type: NETCONFA.RTM_DELNETCONF, flags: 0, seq: 0, pid: 0)
        w.put8(family); w.put8(0); w.put8(0); w.put8(0)
        w.attr(NETCONFA.IFINDEX, u32: UInt32(bitPattern: ifindex))
        w.end(st)
    }

    func clearNetconfNotes() {
        dp.ipv4.netconfNotes.removeAll()
        dp.ipv6.netconfNotes.removeAll()
    }

    func netconfFamily(_ msg: NetlinkMessage) throws(NetlinkError) -> UInt8 {
        let f = msg.payload.first ?? 0
        guard f == Self.AF_INET || f == Self.AF_INET6 else { throw NetlinkError(EOPNOTSUPP) }
        return f
    }

    /// inet_netconf_get_devconf: one device, "all" or "default".
    func getNetconf(_ msg: NetlinkMessage) throws(NetlinkError) -> [UInt8] {
        let family = try netconfFamily(msg)
        let a = try NLAttributes.parse(msg.payload.dropFirst(4), base: NL.hdrLen + 4, policy: NETCONFA.policy, strict: strictCheck)
        guard let raw = a.u32(NETCONFA.IFINDEX) else { throw NetlinkError(EINVAL) }
        let ifindex = Int32(bitPattern: raw)
        if ifindex != NETCONFA.ALL && ifindex != NETCONFA.DEFAULT {
            guard let d = dp.device(ifindex), family == Self.AF_INET || !d.inet6Absent else { throw NetlinkError(EINVAL) }
        }
        var w = NetlinkWriter()
        encodeNetconf(family: family, ifindex: ifindex, flags: 0, seq: msg.header.seq, &w)
        return w.bytes
    }

    /// inet_netconf_dump_devconf: every device, then "all" and "default"; AF_UNSPEC gives IPv4's
    /// then IPv6's, as rtnl_dump_all walks the families.
    func dumpNetconf(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let f = msg.payload.first ?? 0
        let families: [UInt8] = f == 0 ? [Self.AF_INET, Self.AF_INET6] : [try netconfFamily(msg)]
        // A device without an inet6_dev has no IPv6 configuration to dump.
        let entries = families.flatMap { f in
            (dp.allDevices.filter { f == Self.AF_INET || !$0.inet6Absent }.map(\.ifindex) + [NETCONFA.ALL, NETCONFA.DEFAULT]).map { (f, $0) }
        }
        let seq = msg.header.seq
        dumpInParts(seq: seq, count: entries.count, &replies) { [unowned self] i, w in
            encodeNetconf(family: entries[i].0, ifindex: entries[i].1, flags: NL.F_MULTI, seq: seq, &w)
        }
    }
}
