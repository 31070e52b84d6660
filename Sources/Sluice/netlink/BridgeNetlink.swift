#if canImport(Glibc)
import Glibc
#endif

/// VLAN devices and bridge VLANs over rtnetlink:
/// - IFLA_INFO_DATA of `vlan` links (vlan_netlink.c: IFLA_VLAN_ID, _PROTOCOL, _FLAGS, the QoS
///   maps) and of bridges (br_netlink.c: IFLA_BR_VLAN_FILTERING, _VLAN_PROTOCOL,
///   _VLAN_DEFAULT_PVID with ageing time and group_fwd_mask), decoded into the command
///   language's typed options and encoded back in link dumps;
/// - AF_BRIDGE links (rtnl_bridge_getlink / setlink / dellink): `bridge vlan show|add|del`.
enum IFLABridge {
    static let FLAGS: UInt16 = 0, MODE: UInt16 = 1, VLAN_INFO: UInt16 = 2
    static let FLAGS_MASTER: UInt16 = 1, FLAGS_SELF: UInt16 = 2
    static let RTEXT_FILTER_BRVLAN: UInt32 = 1 << 1, RTEXT_FILTER_BRVLAN_COMPRESSED: UInt32 = 1 << 2
    static let PROTINFO: UInt16 = 12
    static let RTM_NEWVLAN: UInt16 = 112, RTM_GETVLAN: UInt16 = 114
    static let VLANDB_DUMP_FLAGS: UInt16 = 1, VLANDB_DUMPF_STATS: UInt32 = 1
    static let VLANDB_ENTRY: UInt16 = 1, ENTRY_INFO: UInt16 = 1, ENTRY_RANGE: UInt16 = 2, ENTRY_STATE: UInt16 = 3
    static let BR_STATE_DISABLED: UInt8 = 0, BR_STATE_FORWARDING: UInt8 = 3
}

/// IFLA_BRPORT_* (if_link.h): a bridge port's attributes, in IFLA_PROTINFO of AF_BRIDGE links
/// and in IFLA_INFO_SLAVE_DATA of a port's own link.
enum BRPORT {
    static let STATE: UInt16 = 1, PRIORITY: UInt16 = 2, COST: UInt16 = 3, MODE: UInt16 = 4, GUARD: UInt16 = 5
    static let PROTECT: UInt16 = 6, FAST_LEAVE: UInt16 = 7, LEARNING: UInt16 = 8, UNICAST_FLOOD: UInt16 = 9
    static let PROXYARP: UInt16 = 10, LEARNING_SYNC: UInt16 = 11, PROXYARP_WIFI: UInt16 = 12, ROOT_ID: UInt16 = 13
    static let BRIDGE_ID: UInt16 = 14, DESIGNATED_PORT: UInt16 = 15, DESIGNATED_COST: UInt16 = 16, ID: UInt16 = 17
    static let NO: UInt16 = 18, TOPOLOGY_CHANGE_ACK: UInt16 = 19, CONFIG_PENDING: UInt16 = 20
    static let MESSAGE_AGE_TIMER: UInt16 = 21, FORWARD_DELAY_TIMER: UInt16 = 22, HOLD_TIMER: UInt16 = 23
    static let FLUSH: UInt16 = 24, MULTICAST_ROUTER: UInt16 = 25, MCAST_FLOOD: UInt16 = 27, MCAST_TO_UCAST: UInt16 = 28
    static let VLAN_TUNNEL: UInt16 = 29, BCAST_FLOOD: UInt16 = 30, GROUP_FWD_MASK: UInt16 = 31
    static let NEIGH_SUPPRESS: UInt16 = 32, ISOLATED: UInt16 = 33, BACKUP_PORT: UInt16 = 34, LOCKED: UInt16 = 39, MAB: UInt16 = 40
    static let NEIGH_VLAN_SUPPRESS: UInt16 = 43
    /// br_port_policy, for what Sluice reads.
    static let policy = NLAPolicy(maxType: 64, [STATE: .u8, PRIORITY: .u16, COST: .u32, MODE: .u8, GUARD: .u8, PROTECT: .u8,
        FAST_LEAVE: .u8, LEARNING: .u8, UNICAST_FLOOD: .u8, PROXYARP: .u8, LEARNING_SYNC: .u8, PROXYARP_WIFI: .u8,
        MULTICAST_ROUTER: .u8, MCAST_FLOOD: .u8, MCAST_TO_UCAST: .u8, VLAN_TUNNEL: .u8, BCAST_FLOOD: .u8,
        GROUP_FWD_MASK: .u16, NEIGH_SUPPRESS: .u8, ISOLATED: .u8, BACKUP_PORT: .u32, LOCKED: .u8, MAB: .u8, NEIGH_VLAN_SUPPRESS: .u8])
    /// The settings Sluice's ports do not have (refused unless set to what they do anyway).
    static let names: [UInt16: String] = [LEARNING_SYNC: "learning_sync",
        MULTICAST_ROUTER: "mcast_router", VLAN_TUNNEL: "vlan_tunnel",
        GROUP_FWD_MASK: "group_fwd_mask", MAB: "mab", NEIGH_VLAN_SUPPRESS: "neigh_vlan_suppress"]

    /// br_setport's attributes as a typed change (and whether to flush the port's learnt
    /// entries). What the port does not have is refused unless it asks for what it does
    /// anyway (off; mcast_router 1, the default with snooping off); read-only attributes are
    /// ignored, as br_setport ignores them.
    static func change(_ a: NLAttributes) throws(NetlinkError) -> (BridgePortChange, flush: Bool) {
        var c = BridgePortChange()
        let flags: [(UInt16, BridgePortFlags)] = [(MODE, .hairpin), (GUARD, .guard_), (PROTECT, .rootBlock), (FAST_LEAVE, .fastLeave),
                                                  (LEARNING, .learning), (UNICAST_FLOOD, .flood), (MCAST_FLOOD, .mcastFlood),
                                                  (BCAST_FLOOD, .bcastFlood), (ISOLATED, .isolated), (LOCKED, .locked),
                                                  (PROXYARP, .proxyArp), (PROXYARP_WIFI, .proxyArpWifi), (NEIGH_SUPPRESS, .neighSuppress),
                                                  (MCAST_TO_UCAST, .mcastToUnicast)]
        for (t, f) in flags { if let v = a.u8(t) { c.flag(f, v != 0) } }
        c.state = a.u8(STATE)
        c.priority = a.u16(PRIORITY)
        c.cost = a.u32(COST)
        c.mcastRouter = a.u8(MULTICAST_ROUTER)
        c.backupPort = a.u32(BACKUP_PORT).map { Int32(bitPattern: $0) }
        for t in a.values.keys.sorted() where t != MULTICAST_ROUTER && t != BACKUP_PORT {
            guard let name = names[t] else { continue }
            let v = t == GROUP_FWD_MASK ? Int(a.u16(t) ?? 0) : Int(a.u8(t) ?? 0)
            if t == MULTICAST_ROUTER ? v == 1 : v == 0 { continue }
            throw NetlinkError(EOPNOTSUPP, "Sluice's bridge ports do not support \(name)", offset: a.offsets[t])
        }
        return (c, a.has(FLUSH))
    }
}

extension RtnlProcessor {
    /// The `type vlan` options of a request (vlan_validate's checks on the way).
    static func vlanOptions(_ data: NLAttributes?) throws(NetlinkError) -> CommandRunner.VLANOptions {
        var v = CommandRunner.VLANOptions()
        guard let d = data else { return v }
        if let p = d.u16(IFLA.VLAN_PROTOCOL) {
            let proto = p.byteSwapped                                          // __be16
            guard proto == EtherType.vlan || proto == EtherType.qinq else {
                throw NetlinkError(EPROTONOSUPPORT, "8021q: Invalid VLAN protocol", offset: d.offsets[IFLA.VLAN_PROTOCOL])
            }
            v.proto = proto
        }
        if let id = d.u16(IFLA.VLAN_ID) {
            guard id < 4095 else { throw NetlinkError(ERANGE, "8021q: Invalid VLAN id", offset: d.offsets[IFLA.VLAN_ID]) }
            v.id = Int(id)
        }
        if let f = d[IFLA.VLAN_FLAGS] {
            let flags = f.le32(at: 0), mask = f.le32(at: 4)
            guard (flags & mask) & ~VLANFlags.all.rawValue == 0 else {
                throw NetlinkError(EINVAL, "8021q: Invalid VLAN flags", offset: d.offsets[IFLA.VLAN_FLAGS])
            }
            v.flags = VLANFlags(rawValue: flags & VLANFlags.all.rawValue)
            v.mask = VLANFlags(rawValue: mask & VLANFlags.all.rawValue)
        }
        for (type, ingress) in [(IFLA.VLAN_INGRESS_QOS, true), (IFLA.VLAN_EGRESS_QOS, false)] {
            guard let nest = d[type] else { continue }
            // vlan_validate_qos_map: every entry an IFLA_VLAN_QOS_MAPPING of 8 bytes.
            let base = d.offsets[type]! + NL.attrHdrLen
            var i = 0
            while i + 4 <= nest.count {
                let len = Int(nest.le16(at: i)), t = nest.le16(at: i + 2) & 0x3FFF
                guard len >= 4, i + len <= nest.count else { throw NetlinkError(EINVAL, "8021q: Invalid QoS mapping", offset: base + i) }
                guard t == IFLA.VLAN_QOS_MAPPING, len >= 12 else { throw NetlinkError(EINVAL, "8021q: Invalid QoS mapping", offset: base + i) }
                let from = nest.le32(at: i + 4)
                let to = nest.le32(at: i + 8)
                if ingress { v.ingress.append((from, to)) } else { v.egress.append((from, to)) }
                i += (len + 3) & ~3
            }
        }
        return v
    }

    /// The kind's IFLA_INFO_DATA in a link message (vlan_fill_info, br_fill_info).
    func encodeInfoData(_ d: NetDevice, _ w: inout NetlinkWriter) {
        if let t = dp.vrfTable(d) {
            // vrf_fillinfo: IFLA_VRF_TABLE.
            let data = w.beginNest(IFLA.INFO_DATA, flagged: false)
            w.attr(1, u32: t)
            w.endNest(data)
        } else if let v = dp.vlanDriver(d) {
            let data = w.beginNest(IFLA.INFO_DATA, flagged: false)
            w.attr(IFLA.VLAN_PROTOCOL, u16: v.proto.byteSwapped)
            w.attr(IFLA.VLAN_ID, u16: v.vid)
            if !v.flags.isEmpty {
                var f = NetlinkWriter(); f.put32(v.flags.rawValue); f.put32(UInt32.max)
                w.attr(IFLA.VLAN_FLAGS, f.bytes)
            }
            if v.ingressMappings > 0 {
                let n = w.beginNest(IFLA.VLAN_INGRESS_QOS, flagged: false)
                for (pcp, prio) in v.ingressMap.enumerated() where prio != 0 {
                    var m = NetlinkWriter(); m.put32(UInt32(pcp)); m.put32(prio)
                    w.attr(IFLA.VLAN_QOS_MAPPING, m.bytes)
                }
                w.endNest(n)
            }
            if v.egressMappings > 0 {
                let n = w.beginNest(IFLA.VLAN_EGRESS_QOS, flagged: false)
                for e in v.egressMap where e.pcp != 0 {
                    var m = NetlinkWriter(); m.put32(e.priority); m.put32(UInt32(e.pcp))
                    w.attr(IFLA.VLAN_QOS_MAPPING, m.bytes)
                }
                w.endNest(n)
            }
            w.endNest(data)
        } else if let v = d.driver as? VXLANDriver {
            // vxlan_fill_info for what the device keeps.
            let c = v.config
            func be32(_ x: UInt32) -> [UInt8] { [UInt8(x >> 24), UInt8((x >> 16) & 255), UInt8((x >> 8) & 255), UInt8(x & 255)] }
            let data = w.beginNest(IFLA.INFO_DATA, flagged: false)
            if !c.external { w.attr(1, u32: c.vni) }                                     // IFLA_VXLAN_ID
            if c.remote != 0 { w.attr(2, be32(c.remote)) }                               // IFLA_VXLAN_GROUP
            if c.link != 0 { w.attr(3, u32: UInt32(bitPattern: c.link)) }                // IFLA_VXLAN_LINK
            if c.local != 0 { w.attr(4, be32(c.local)) }                                 // IFLA_VXLAN_LOCAL
            w.attr(5, u8: c.ttl); w.attr(28, u8: 0); w.attr(6, u8: c.tos); w.attr(29, u8: 0)   // TTL, TTL_INHERIT, TOS, DF
            w.attr(26, [0, 0, 0, 0])                                                     // IFLA_VXLAN_LABEL
            w.attr(7, u8: c.learning ? 1 : 0)                                            // IFLA_VXLAN_LEARNING
            for t: UInt16 in [11, 12, 13, 14] { w.attr(t, u8: 0) }                        // PROXY, RSC, L2MISS, L3MISS
            w.attr(25, u8: c.external ? 1 : 0)                                           // COLLECT_METADATA
            w.attr(8, u32: c.ageing); w.attr(9, u32: UInt32(c.maxAddresses))             // AGEING, LIMIT
            w.attr(15, [UInt8(c.port >> 8), UInt8(c.port & 255)])                        // IFLA_VXLAN_PORT
            w.attr(18, u8: c.udpCsum ? 1 : 0); w.attr(19, u8: 0); w.attr(20, u8: 0)      // UDP_CSUM, ZERO_CSUM6_TX/RX
            w.attr(21, u8: 0); w.attr(22, u8: 0)                                         // REMCSUM_TX/RX
            w.attr(10, [UInt8(c.portMin >> 8), UInt8(c.portMin & 255), UInt8(c.portMax >> 8), UInt8(c.portMax & 255)])   // PORT_RANGE
            w.endNest(data)
        } else if let g = d.driver as? GREDriver {
            Self.greInfoData(g.config, &w)
        } else if let v = d.driver as? VifDriver, v.creditBytes != 0 {
            let data = w.beginNest(IFLA.INFO_DATA, flagged: false)
            w.attr(IFLA.Port.VIF_RATE, u64: v.currentRate)
            w.attr(IFLA.Port.VIF_WINDOW_USEC, u32: UInt32(v.creditWindow / 1000))
            w.endNest(data)
        } else if let m = d.driver as? MacvlanDriver {
            let data = w.beginNest(IFLA.INFO_DATA, flagged: false)
            w.attr(IFLA.MACVLAN_MODE, u32: m.mode.rawValue)
            w.attr(IFLA.MACVLAN_FLAGS, u16: 0)
            // IFLA_MACVLAN_BC_QUEUE_LEN and _USED (the largest on the same lower device).
            let used = dp.allDevices.compactMap { ($0.driver as? MacvlanDriver).flatMap { $0.lower == m.lower ? $0.bcQueueLen : nil } }.max() ?? m.bcQueueLen
            w.attr(7, u32: m.bcQueueLen); w.attr(8, u32: used)
            w.endNest(data)
        } else if let br = dp.bridge(d) {
            let data = w.beginNest(IFLA.INFO_DATA, flagged: false)
            // br_fill_info's order: the times in use (the root's), the spanning tree's state.
            let cs = 10 * Time.ms, now = dp.clock.now
            func left(_ t: UInt64) -> UInt64 { t > now ? (t - now) / cs : 0 }   // br_timer_value
            func id(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64($0))) } }
            w.attr(IFLA.BR_FORWARD_DELAY, u32: UInt32(br.stp.forwardDelay / cs))
            w.attr(IFLA.BR_HELLO_TIME, u32: UInt32(br.stp.helloTime / cs))
            w.attr(IFLA.BR_MAX_AGE, u32: UInt32(br.stp.maxAge / cs))
            w.attr(IFLA.BR_AGEING_TIME, u32: UInt32(br.ageingTime / cs))
            w.attr(IFLA.BR_STP_STATE, u32: br.stp.enabled ? 1 : 0)
            w.attr(IFLA.BR_PRIORITY, u16: br.priority)
            w.attr(IFLA.BR_VLAN_FILTERING, u8: br.vlanFiltering ? 1 : 0)
            w.attr(IFLA.BR_GROUP_FWD_MASK, u16: br.groupFwdMask)
            w.attr(IFLA.BR_BRIDGE_ID, id(br.bridgeID))
            w.attr(IFLA.BR_ROOT_ID, id(br.stp.designatedRoot))
            w.attr(IFLA.BR_ROOT_PORT, u16: br.stp.rootPort)
            w.attr(IFLA.BR_ROOT_PATH_COST, u32: br.stp.rootPathCost)
            w.attr(IFLA.BR_TOPOLOGY_CHANGE, u8: br.stp.topologyChange ? 1 : 0)
            w.attr(IFLA.BR_TOPOLOGY_CHANGE_DETECTED, u8: br.stp.topologyChangeDetected ? 1 : 0)
            w.attr(16, u64: left(br.stp.helloAt))                    // IFLA_BR_HELLO_TIMER
            w.attr(17, u64: left(br.stp.tcnAt))                      // IFLA_BR_TCN_TIMER
            w.attr(18, u64: left(br.stp.topologyChangeAt))           // IFLA_BR_TOPOLOGY_CHANGE_TIMER
            // IFLA_BR_GC_TIMER: what is left of the FDB collection's delay, in USER_HZ ticks.
            w.attr(19, u64: left(br.gcAt))
            w.attr(20, BPDU.groupAddress.octets)                     // IFLA_BR_GROUP_ADDR
            w.attr(IFLA.BR_VLAN_PROTOCOL, u16: br.vlanProto.byteSwapped)
            w.attr(IFLA.BR_VLAN_DEFAULT_PVID, u16: br.defaultPVID)
            // The multicast settings (br_fill_info's order); elasticity is the kernel's fixed 16.
            let m = br.mdb.settings
            func clock(_ j: UInt64) -> UInt64 { MulticastSettings.centiseconds(jiffies: j) }
            w.attr(22, u8: br.mdb.hostRouter)                        // IFLA_BR_MCAST_ROUTER
            w.attr(IFLA.BR_MCAST_SNOOPING, u8: br.mdb.snooping ? 1 : 0)
            w.attr(24, u8: m.queryUseIfaddr ? 1 : 0); w.attr(25, u8: br.mdb.querier ? 1 : 0); w.attr(42, u8: 0)  // QUERY_USE_IFADDR, QUERIER, STATS_ENABLED
            w.attr(26, u32: 16); w.attr(27, u32: m.hashMax)          // HASH_ELASTICITY, HASH_MAX
            w.attr(28, u32: m.lastMemberCount); w.attr(29, u32: m.startupQueryCount)   // LAST_MEMBER_CNT, STARTUP_QUERY_CNT
            w.attr(43, u8: 2); w.attr(44, u8: 1)                     // IGMP_VERSION, MLD_VERSION
            w.attr(30, u64: clock(m.lastMemberInterval))             // LAST_MEMBER_INTVL
            w.attr(31, u64: clock(m.membershipInterval))             // MEMBERSHIP_INTVL
            w.attr(32, u64: clock(m.querierInterval))                // QUERIER_INTVL
            w.attr(33, u64: clock(m.queryInterval)); w.attr(34, u64: clock(m.queryResponseInterval))   // QUERY_INTVL, QUERY_RESPONSE_INTVL
            w.attr(35, u64: clock(m.startupQueryInterval))           // STARTUP_QUERY_INTVL
            w.attr(46, [br.noLinkLocalLearn ? 1 : 0, 0, 0, 0, 7, 0, 0, 0])   // IFLA_BR_MULTI_BOOLOPT: no_linklocal_learn; three known
            w.attr(IFLA.BR_NF_CALL_IPTABLES, u8: 0)
            w.attr(IFLA.BR_NF_CALL_IP6TABLES, u8: 0)
            w.attr(IFLA.BR_NF_CALL_ARPTABLES, u8: 0)
            w.endNest(data)
        }
    }

    /// br_port_fill_attrs: a port's settings, its spanning tree state, and the features it
    /// does not have, off.
    func encodePortAttributes(_ d: NetDevice, _ br: Bridge, _ w: inout NetlinkWriter) {
        let s = d.bridgePort
        w.attr(BRPORT.STATE, u8: d.bridgePortState)
        w.attr(BRPORT.PRIORITY, u16: s.priority)
        w.attr(BRPORT.COST, u32: s.cost)
        let f = s.flags
        for (t, flag) in [(BRPORT.MODE, BridgePortFlags.hairpin), (BRPORT.GUARD, .guard_), (BRPORT.PROTECT, .rootBlock),
                          (BRPORT.FAST_LEAVE, .fastLeave)] { w.attr(t, u8: f.contains(flag) ? 1 : 0) }
        w.attr(BRPORT.MCAST_TO_UCAST, u8: f.contains(.mcastToUnicast) ? 1 : 0)
        for (t, flag) in [(BRPORT.LEARNING, BridgePortFlags.learning), (BRPORT.UNICAST_FLOOD, .flood), (BRPORT.MCAST_FLOOD, .mcastFlood),
                          (BRPORT.BCAST_FLOOD, .bcastFlood)] { w.attr(t, u8: f.contains(flag) ? 1 : 0) }
        w.attr(BRPORT.PROXYARP, u8: f.contains(.proxyArp) ? 1 : 0); w.attr(BRPORT.PROXYARP_WIFI, u8: f.contains(.proxyArpWifi) ? 1 : 0)
        func id(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64($0))) } }
        w.attr(BRPORT.ROOT_ID, id(s.stp.designatedRoot)); w.attr(BRPORT.BRIDGE_ID, id(s.stp.designatedBridge))
        w.attr(BRPORT.DESIGNATED_PORT, u16: s.stp.designatedPort)
        w.attr(BRPORT.DESIGNATED_COST, u16: UInt16(truncatingIfNeeded: s.stp.designatedCost))
        w.attr(BRPORT.ID, u16: s.portID)
        w.attr(BRPORT.NO, u16: s.portNo)
        w.attr(BRPORT.TOPOLOGY_CHANGE_ACK, u8: s.stp.topologyChangeAck ? 1 : 0)
        w.attr(BRPORT.CONFIG_PENDING, u8: s.stp.configPending ? 1 : 0)
        w.attr(BRPORT.VLAN_TUNNEL, u8: 0)
        w.attr(BRPORT.GROUP_FWD_MASK, u16: 0)
        w.attr(BRPORT.NEIGH_SUPPRESS, u8: f.contains(.neighSuppress) ? 1 : 0)
        w.attr(BRPORT.ISOLATED, u8: f.contains(.isolated) ? 1 : 0)
        w.attr(BRPORT.LOCKED, u8: f.contains(.locked) ? 1 : 0); w.attr(BRPORT.MAB, u8: 0)
        if s.backupPort != 0 { w.attr(BRPORT.BACKUP_PORT, u32: UInt32(bitPattern: s.backupPort)) }
        let now = dp.clock.now
        func left(_ t: UInt64) -> UInt64 { t > now ? (t - now) / (10 * Time.ms) : 0 }   // br_timer_value
        w.attr(BRPORT.MESSAGE_AGE_TIMER, u64: left(s.stp.messageAgeAt))
        w.attr(BRPORT.FORWARD_DELAY_TIMER, u64: left(s.forwardDelayAt))
        w.attr(BRPORT.HOLD_TIMER, u64: left(s.stp.holdAt))
        w.attr(BRPORT.MULTICAST_ROUTER, u8: d.bridgePort.mcastRouter)
    }

    /// rtnl_bridge_getlink: a message for every bridge port (through its bridge), and for every
    /// bridge itself when VLANs are asked for (br_getlink → br_fill_ifinfo).
    func dumpBridgeLinks(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let p = msg.payload
        var mask: UInt32 = 0
        if p.count >= 16 {
            let a = try NLAttributes.parse(p.dropFirst(16), base: NL.hdrLen + 16, policy: IFLA.policy, strict: false)
            mask = a.u32(IFLA.EXT_MASK) ?? 0
        }
        let vlans = mask & (IFLABridge.RTEXT_FILTER_BRVLAN | IFLABridge.RTEXT_FILTER_BRVLAN_COMPRESSED) != 0
        let compressed = mask & IFLABridge.RTEXT_FILTER_BRVLAN_COMPRESSED != 0
        var parts = DumpParts(limit: bufferSize)
        for d in dp.allDevices {
            if d.master != 0, let br = dp.bridges[d.master] {
                parts.add { w in encodeBridgeLink(d, br, port: true, vlans: vlans, compressed: compressed, &w, seq: msg.header.seq) }
            }
            if vlans, let br = dp.bridge(d) {
                parts.add { w in encodeBridgeLink(d, br, port: false, vlans: vlans, compressed: compressed, &w, seq: msg.header.seq) }
            }
        }
        parts.finish(seq: msg.header.seq, pid: pid, into: &replies)
    }

    /// br_fill_ifinfo.
    func encodeBridgeLink(_ d: NetDevice, _ br: Bridge, port: Bool, vlans: Bool, compressed: Bool,
                          _ w: inout NetlinkWriter, seq: UInt32, flags: UInt16 = NL.F_MULTI) {
        let start = w.begin(type: NL.RTM_NEWLINK, flags: flags, seq: seq, pid: pid)
        w.put8(NDA.AF_BRIDGE); w.put8(0); w.put16(1)
        w.put32(UInt32(bitPattern: d.ifindex))
        w.put32(d.displayFlags.rawValue)
        w.put32(0)
        w.attr(IFLA.IFNAME, string: d.name)
        w.attr(IFLA.MASTER, u32: UInt32(bitPattern: br.device.ifindex))
        w.attr(IFLA.MTU, u32: UInt32(d.mtu))
        w.attr(IFLA.OPERSTATE, u8: d.isOperational ? 6 : 2)
        w.attr(IFLA.ADDRESS, d.mac.octets)
        if let v = dp.vlanDriver(d) { w.attr(IFLA.LINK, u32: UInt32(bitPattern: v.parent)) }
        if let peer = dp.vethPeer(d) { w.attr(IFLA.LINK, u32: UInt32(bitPattern: peer.ifindex)) }
        if port {
            let pi = w.beginNest(IFLABridge.PROTINFO, flagged: true)
            encodePortAttributes(d, br, &w)
            w.endNest(pi)
        }
        if vlans, let set = port ? d.bridgeVLANs : br.selfVLANs, set.count > 0 {
            let af = w.beginNest(IFLA.AF_SPEC, flagged: false)
            // br_fill_ifvlaninfo(_compressed): one entry per VLAN, or ranges of VLANs with the
            // same flags (a PVID always alone).
            let vids = set.vids
            var i = 0
            while i < vids.count {
                let f = set.infoFlags(vids[i])
                var j = i
                if compressed && f & BridgeVLANInfo.pvid == 0 {
                    while j + 1 < vids.count && vids[j + 1] == vids[j] + 1 && set.infoFlags(vids[j + 1]) == f { j += 1 }
                }
                if j > i {
                    w.attr(IFLABridge.VLAN_INFO, Self.vlanInfo(f | BridgeVLANInfo.rangeBegin, vids[i]))
                    w.attr(IFLABridge.VLAN_INFO, Self.vlanInfo(f | BridgeVLANInfo.rangeEnd, vids[j]))
                } else {
                    w.attr(IFLABridge.VLAN_INFO, Self.vlanInfo(f, vids[i]))
                }
                i = j + 1
            }
            w.endNest(af)
        }
        w.end(start)
    }

    /// br_vlan_rtm_dump (RTM_GETVLAN, `bridge -d vlan show`): per bridge and port one
    /// RTM_NEWVLAN with a BRIDGE_VLANDB_ENTRY per VLAN, runs of VLANs with the same flags and
    /// state as one entry with a range; each with its STP state (forwarding, or disabled while
    /// the bridge or the port is down). Per-VLAN statistics are not kept: a dump asking for
    /// them is refused rather than answered with zeros.
    func dumpVLANs(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let p = msg.payload
        guard p.count >= 8 else { throw NetlinkError(EINVAL, "Invalid header for vlan dump") }
        let only = Int32(bitPattern: p.le32(at: 4))
        let a = try NLAttributes.parse(p.dropFirst(8), base: NL.hdrLen + 8, policy: NLAPolicy(maxType: 2, [IFLABridge.VLANDB_DUMP_FLAGS: .u32]), strict: false)
        if (a.u32(IFLABridge.VLANDB_DUMP_FLAGS) ?? 0) & IFLABridge.VLANDB_DUMPF_STATS != 0 {
            throw NetlinkError(EOPNOTSUPP, "Sluice keeps no per-VLAN statistics")
        }
        var parts = DumpParts(limit: bufferSize)
        for d in dp.allDevices where only == 0 || d.ifindex == only {
            let br: Bridge?
            if let b = dp.bridge(d) { br = b } else if d.master != 0 { br = dp.bridges[d.master] } else { br = nil }
            guard let br, let set = br.vlanSet(d), set.count > 0 else { continue }
            let state = d.isOperational && br.device.isUp ? IFLABridge.BR_STATE_FORWARDING : IFLABridge.BR_STATE_DISABLED
            parts.add { w in
                let st = w.begin(type: IFLABridge.RTM_NEWVLAN, flags: NL.F_MULTI, seq: msg.header.seq, pid: pid)
                w.put8(NDA.AF_BRIDGE); w.put8(0); w.put16(0)
                w.put32(UInt32(bitPattern: d.ifindex))
                let vids = set.vids
                var i = 0
                while i < vids.count {
                    let f = set.infoFlags(vids[i])
                    var j = i
                    if f & BridgeVLANInfo.pvid == 0 {
                        while j + 1 < vids.count && vids[j + 1] == vids[j] + 1 && set.infoFlags(vids[j + 1]) == f { j += 1 }
                    }
                    let e = w.beginNest(IFLABridge.VLANDB_ENTRY)
                    w.attr(IFLABridge.ENTRY_INFO, Self.vlanInfo(f, vids[i]))
                    if j > i { w.attr(IFLABridge.ENTRY_RANGE, u16: vids[j]) }
                    w.attr(IFLABridge.ENTRY_STATE, u8: state)
                    w.endNest(e)
                    i = j + 1
                }
                w.end(st)
            }
        }
        parts.finish(seq: msg.header.seq, pid: pid, into: &replies)
    }

    static func vlanInfo(_ flags: UInt16, _ vid: UInt16) -> [UInt8] {
        [UInt8(flags & 0xFF), UInt8(flags >> 8), UInt8(vid & 0xFF), UInt8(vid >> 8)]
    }

    /// rtnl_bridge_setlink / rtnl_bridge_dellink with IFLA_AF_SPEC's VLAN entries: without
    /// flags (or with MASTER) the port's bridge acts on the port; with SELF the bridge on itself.
    /// Every entry is validated before any is applied.
    func bridgeSetLink(_ msg: NetlinkMessage, delete: Bool) throws(NetlinkError) {
        let (index, rest) = try ifinfo(msg)
        let a = try NLAttributes.parse(rest, base: NL.hdrLen + 16, policy: IFLA.policy, strict: false)
        guard let dev = dp.device(index) else { throw NetlinkError(ENODEV) }
        if !delete, let pi = a[IFLABridge.PROTINFO] {
            // rtnl_bridge_setlink: without `self` the request goes to the device's master (none:
            // EOPNOTSUPP); br_setlink: a port's attributes (the bridge itself has none to set).
            var selfFlag = false
            if let spec = a[IFLA.AF_SPEC], let f = try? NLAttributes.parse(spec, base: 0, policy: NLAPolicy(maxType: 64, [:]), strict: false).u16(IFLABridge.FLAGS) {
                selfFlag = f & IFLABridge.FLAGS_SELF != 0
            }
            guard dev.master != 0 || (selfFlag && dp.bridge(dev) != nil) else { throw NetlinkError(EOPNOTSUPP) }
            if dev.master != 0 {
                let pa = try NLAttributes.parse(pi, base: a.offsets[IFLABridge.PROTINFO]! + NL.attrHdrLen, policy: BRPORT.policy, strict: false)
                let (ch, flush) = try BRPORT.change(pa)
                var c = CommandRunner.Common()
                c.port = ch; c.portFlush = flush
                do { try runner.applyLinkSet(dev, c) } catch { throw Self.netlinkError(error) }
            }
        }
        guard let spec = a[IFLA.AF_SPEC] else { return }
        let base = a.offsets[IFLA.AF_SPEC]! + NL.attrHdrLen
        var brFlags: UInt16 = 0
        var entries: [(flags: UInt16, vid: UInt16, offset: Int)] = []
        var i = 0
        while i + 4 <= spec.count {
            let len = Int(spec.le16(at: i)), t = spec.le16(at: i + 2) & 0x3FFF
            let off = base + i
            guard len >= 4, i + len <= spec.count else { throw NetlinkError(EINVAL, "Malformed IFLA_AF_SPEC", offset: off) }
            switch t {
            case IFLABridge.FLAGS:
                guard len >= 6 else { throw NetlinkError(EINVAL, offset: off) }
                brFlags = spec.le16(at: i + 4)
            case IFLABridge.VLAN_INFO:
                guard len == 8 else { throw NetlinkError(EINVAL, offset: off) }
                entries.append((spec.le16(at: i + 4), spec.le16(at: i + 6), off))
            default:
                break
            }
            i += (len + 3) & ~3
        }
        let br: Bridge
        if brFlags & IFLABridge.FLAGS_SELF != 0 {
            guard let b = dp.bridge(dev) else { throw NetlinkError(EOPNOTSUPP) }
            br = b
        } else {
            guard dev.master != 0, let b = dp.bridges[dev.master] else { throw NetlinkError(EOPNOTSUPP) }
            br = b
        }
        // br_process_vlan_info: ids 1-4094; a RANGE_BEGIN is followed by its RANGE_END.
        var ops: [(vid: UInt16, flags: UInt16)] = []
        var rangeStart: (flags: UInt16, vid: UInt16)?
        for e in entries {
            guard (1...4094).contains(e.vid) else { throw NetlinkError(EINVAL, "bridge: Vlan id is invalid", offset: e.offset) }
            if e.flags & BridgeVLANInfo.rangeBegin != 0 {
                guard rangeStart == nil, e.flags & BridgeVLANInfo.pvid == 0 else { throw NetlinkError(EINVAL, "bridge: Invalid range", offset: e.offset) }
                rangeStart = (e.flags, e.vid)
                continue
            }
            if let r = rangeStart {
                guard e.flags & BridgeVLANInfo.rangeEnd != 0, e.vid > r.vid,
                      (e.flags & ~BridgeVLANInfo.rangeEnd) == (r.flags & ~BridgeVLANInfo.rangeBegin) else {
                    throw NetlinkError(EINVAL, "bridge: Invalid range", offset: e.offset)
                }
                for v in r.vid...e.vid { ops.append((v, e.flags)) }
                rangeStart = nil
            } else {
                guard e.flags & BridgeVLANInfo.rangeEnd == 0 else { throw NetlinkError(EINVAL, "bridge: Invalid range", offset: e.offset) }
                ops.append((e.vid, e.flags))
            }
        }
        guard let set = br.vlanSet(dev) else { throw NetlinkError(EOPNOTSUPP) }
        if delete {
            for op in ops where !set.contains(op.vid) { throw NetlinkError(ENOENT) }
        }
        for op in ops {
            do {
                if delete { try br.deleteVLAN(dev, vid: op.vid) }
                else { try br.addVLAN(dev, vid: op.vid, pvid: op.flags & BridgeVLANInfo.pvid != 0, untagged: op.flags & BridgeVLANInfo.untagged != 0) }
            } catch { throw Self.netlinkError(error) }
        }
    }
}
