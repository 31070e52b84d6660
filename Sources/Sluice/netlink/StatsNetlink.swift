#if canImport(Glibc)
import Glibc
#endif

/// RTM_GETSTATS (linux/if_link.h's IFLA_STATS_*), as rtnl_stats_get and rtnl_stats_dump answer
/// it: one RTM_NEWSTATS per device with the groups the request's filter mask names — the
/// link's counters (rtnl_link_stats64), the bridge's extended statistics for a bridge
/// (LINK_XSTATS) and for its ports (LINK_XSTATS_SLAVE: per-VLAN counters, multicast and STP
/// counters), the offload statistics' state (no device offloads them: "l3_stats off used
/// off") and the per-family statistics (none: this is a kernel without MPLS). `ip stats`,
/// `ip link xstats`, `ip link afstats` and `bridge -s vlan show` read these.
enum IFLAStats {
    static let RTM_NEWSTATS: UInt16 = 92, RTM_GETSTATS: UInt16 = 94, RTM_SETSTATS: UInt16 = 95
    static let LINK_64: UInt16 = 1, LINK_XSTATS: UInt16 = 2, LINK_XSTATS_SLAVE: UInt16 = 3
    static let LINK_OFFLOAD_XSTATS: UInt16 = 4, AF_SPEC: UInt16 = 5, MAX: UInt16 = 5
    /// IFLA_STATS_GET_FILTERS, IFLA_STATS_SET_OFFLOAD_XSTATS_L3_STATS.
    static let GET_FILTERS: UInt16 = 1, SET_OFFLOAD_XSTATS_L3_STATS: UInt16 = 2
    /// IFLA_OFFLOAD_XSTATS_CPU_HIT, _HW_S_INFO, _L3_STATS; inside HW_S_INFO's per-type nest,
    /// IFLA_OFFLOAD_XSTATS_HW_S_INFO_REQUEST and _USED.
    static let OFFLOAD_CPU_HIT: UInt16 = 1, OFFLOAD_HW_S_INFO: UInt16 = 2, OFFLOAD_L3_STATS: UInt16 = 3
    /// LINK_XSTATS_TYPE_BRIDGE; BRIDGE_XSTATS_VLAN, _MCAST, _STP.
    static let XSTATS_TYPE_BRIDGE: UInt16 = 1
    static let BRIDGE_XSTATS_VLAN: UInt16 = 1, BRIDGE_XSTATS_MCAST: UInt16 = 2, BRIDGE_XSTATS_STP: UInt16 = 4
    /// struct br_mcast_stats: 15 counters of two directions; struct bridge_stp_xstats: 6.
    static let mcastStatsSize = 240, stpStatsSize = 48

    static let policy = NLAPolicy(maxType: 2, [GET_FILTERS: .nested(NLAPolicy(maxType: MAX, [LINK_OFFLOAD_XSTATS: .u32])),
                                              SET_OFFLOAD_XSTATS_L3_STATS: .u8])
}

extension RtnlProcessor {
    /// The request's filter masks (rtnl_valid_stats_req, rtnl_stats_get_parse): [0] the groups,
    /// [i] the sub-groups of group i (all of them unless IFLA_STATS_GET_FILTERS says).
    func statsFilters(_ msg: NetlinkMessage, dump: Bool) throws(NetlinkError) -> (ifindex: Int32, masks: [UInt32]) {
        let p = msg.payload
        guard p.count >= 12 else { throw NetlinkError(EINVAL, "Invalid header for stats dump") }
        let ifindex = Int32(bitPattern: p.le32(at: 4)), mask = p.le32(at: 8)
        if strictCheck {
            if p[p.startIndex + 1] != 0 || p.le16(at: 2) != 0 || (dump && ifindex != 0) {
                throw NetlinkError(EINVAL, "Invalid values in header for stats dump request")
            }
            if mask >= 1 << (UInt32(IFLAStats.MAX) + 1) { throw NetlinkError(EINVAL, "Invalid stats requested through filter mask") }
        }
        if !dump {
            guard ifindex > 0 else { throw NetlinkError(EINVAL) }
            guard dp.device(ifindex) != nil else { throw NetlinkError(ENODEV) }
        }
        guard mask != 0 else { throw NetlinkError(EINVAL, "Filter mask must be set for stats \(dump ? "dump" : "get")") }
        let a = try NLAttributes.parse(p.dropFirst(12), base: NL.hdrLen + 12, policy: IFLAStats.policy, strict: true)
        var masks = [UInt32](repeating: 0, count: Int(IFLAStats.MAX) + 1)
        masks[0] = mask
        for i in 1...Int(IFLAStats.MAX) where mask & (1 << UInt32(i - 1)) != 0 { masks[i] = .max }
        if let f = a[IFLAStats.GET_FILTERS] {
            let base = (a.offsets[IFLAStats.GET_FILTERS] ?? 0) + NL.attrHdrLen
            let inner = try NLAttributes.parse(f, base: base, policy: NLAPolicy(maxType: IFLAStats.MAX, [IFLAStats.LINK_OFFLOAD_XSTATS: .u32]), strict: true)
            for (t, _) in inner.values {
                guard mask & (1 << UInt32(t - 1)) != 0 else {
                    throw NetlinkError(EINVAL, "Filtered attribute not enabled in filter_mask", offset: inner.offsets[t])
                }
                let v = inner.u32(t) ?? 0
                // NLA_POLICY_MASK: the offload group's sub-groups are bits 1 to 3.
                if t == IFLAStats.LINK_OFFLOAD_XSTATS && v & ~UInt32(0b1110) != 0 {
                    throw NetlinkError(EINVAL, "Unexpected set bits in value", offset: inner.offsets[t])
                }
                masks[Int(t)] = v
            }
        }
        return (ifindex, masks)
    }

    /// rtnl_stats_get.
    func getStats(_ msg: NetlinkMessage) throws(NetlinkError) -> [UInt8] {
        let (ifindex, masks) = try statsFilters(msg, dump: false)
        var w = NetlinkWriter()
        encodeStats(dp.device(ifindex)!, masks, type: IFLAStats.RTM_NEWSTATS, flags: 0, seq: msg.header.seq, &w)
        return w.bytes
    }

    /// rtnl_stats_set: `ip stats set dev X l3_stats on|off`.
    func setStats(_ msg: NetlinkMessage) throws(NetlinkError) {
        let p = msg.payload
        guard p.count >= 12 else { throw NetlinkError(EINVAL, "Invalid header for stats dump") }
        if strictCheck && (p[p.startIndex + 1] != 0 || p.le16(at: 2) != 0) {
            throw NetlinkError(EINVAL, "Invalid values in header for stats dump request")
        }
        guard p[p.startIndex] == 0 else { throw NetlinkError(EINVAL, "Address family should be AF_UNSPEC") }
        let ifindex = Int32(bitPattern: p.le32(at: 4))
        guard ifindex > 0 else { throw NetlinkError(EINVAL) }
        guard let d = dp.device(ifindex) else { throw NetlinkError(ENODEV) }
        guard p.le32(at: 8) == 0 else { throw NetlinkError(EINVAL, "Filter mask must be 0 for stats set") }
        let a = try NLAttributes.parse(p.dropFirst(12), base: NL.hdrLen + 12, policy: IFLAStats.policy, strict: true)
        if let v = a.u8(IFLAStats.SET_OFFLOAD_XSTATS_L3_STATS) {
            guard v <= 1 else { throw NetlinkError(ERANGE, "Attribute failed policy validation", offset: a.offsets[IFLAStats.SET_OFFLOAD_XSTATS_L3_STATS]) }
            d.l3StatsRequested = v == 1
        }
    }

    /// rtnl_stats_dump: every device, in index order.
    func dumpStats(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let (_, masks) = try statsFilters(msg, dump: true)
        var parts = DumpParts(limit: bufferSize)
        for d in dp.allDevices {
            parts.add { w in encodeStats(d, masks, type: IFLAStats.RTM_NEWSTATS, flags: NL.F_MULTI, seq: msg.header.seq, &w) }
        }
        parts.finish(seq: msg.header.seq, pid: pid, into: &replies)
    }

    /// rtnl_fill_statsmsg.
    func encodeStats(_ d: NetDevice, _ masks: [UInt32], type: UInt16, flags: UInt16, seq: UInt32, _ w: inout NetlinkWriter) {
        func wants(_ g: UInt16) -> Bool { masks[0] & (1 << UInt32(g - 1)) != 0 }
        let start = w.begin(type: type, flags: flags, seq: seq, pid: pid)
        w.put8(0); w.put8(0); w.put16(0)                  // family PF_UNSPEC, pads
        w.put32(UInt32(bitPattern: d.ifindex)); w.put32(masks[0])
        if wants(IFLAStats.LINK_64) {
            var sb = NetlinkWriter()
            for v in linkStats64(d) { sb.put64(v) }
            sb.put64(0)                                    // rx_otherhost_dropped
            w.attr(IFLAStats.LINK_64, sb.bytes)
        }
        // The bridge's fill_linkxstats, for the bridge itself and for its ports.
        if wants(IFLAStats.LINK_XSTATS), let br = dp.bridge(d) {
            let n = w.beginNest(IFLAStats.LINK_XSTATS, flagged: false)
            bridgeXstats(br, port: nil, &w)
            w.endNest(n)
        }
        if wants(IFLAStats.LINK_XSTATS_SLAVE), d.master != 0, let br = dp.bridges[d.master] {
            let n = w.beginNest(IFLAStats.LINK_XSTATS_SLAVE, flagged: false)
            bridgeXstats(br, port: d, &w)
            w.endNest(n)
        }
        // rtnl_offload_xstats_fill: no device here counts CPU hits (ENODATA) or has L3
        // statistics in hardware (size 0); the hardware statistics' state is always there.
        let offload = masks[Int(IFLAStats.LINK_OFFLOAD_XSTATS)]
        func sub(_ t: UInt16) -> Bool { offload & (1 << UInt32(t - 1)) != 0 }
        if wants(IFLAStats.LINK_OFFLOAD_XSTATS), sub(IFLAStats.OFFLOAD_HW_S_INFO) || (sub(IFLAStats.OFFLOAD_L3_STATS) && d.l3StatsRequested) {
            let n = w.beginNest(IFLAStats.LINK_OFFLOAD_XSTATS, flagged: false)
            if sub(IFLAStats.OFFLOAD_HW_S_INFO) {
                let info = w.beginNest(IFLAStats.OFFLOAD_HW_S_INFO, flagged: false)
                let l3 = w.beginNest(IFLAStats.OFFLOAD_L3_STATS, flagged: false)
                w.attr(1, u8: d.l3StatsRequested ? 1 : 0)  // HW_S_INFO_REQUEST
                w.attr(2, u8: 0)                           // HW_S_INFO_USED
                w.endNest(l3); w.endNest(info)
            }
            // struct rtnl_hw_stats64 once requested: nothing offloaded, nothing counted.
            if sub(IFLAStats.OFFLOAD_L3_STATS) && d.l3StatsRequested {
                w.attr(IFLAStats.OFFLOAD_L3_STATS, [UInt8](repeating: 0, count: 72))
            }
            w.endNest(n)
        }
        if wants(IFLAStats.AF_SPEC) {
            let n = w.beginNest(IFLAStats.AF_SPEC, flagged: false)   // no family fills statistics (MPLS)
            w.endNest(n)
        }
        w.end(start)
    }

    /// br_fill_linkxstats: the VLANs' counters (the bridge's VLAN contexts, or the port's
    /// VLANs), the multicast counters and, for a port, its STP counters. Sluice keeps no
    /// per-VLAN, IGMP/MLD or BPDU counts — as a kernel bridge with vlan_stats_enabled and
    /// mcast_stats_enabled off and STP off, whose counters stay zero.
    func bridgeXstats(_ br: Bridge, port: NetDevice?, _ w: inout NetlinkWriter) {
        let n = w.beginNest(IFLAStats.XSTATS_TYPE_BRIDGE, flagged: false)
        var entries: [(vid: UInt16, flags: UInt16)] = []
        if let port {
            if let set = port.bridgeVLANs { entries = set.vids.map { ($0, set.infoFlags($0)) } }
        } else {
            // br->vlgrp: a context per VLAN any port or the bridge itself is in (MASTER);
            // BRENTRY with the bridge's own flags where the bridge is a member.
            var vids = Set(br.selfVLANs.vids)
            for p in br.ports { if let s = dp.device(p)?.bridgeVLANs { vids.formUnion(s.vids) } }
            for v in vids.sorted() {
                var f = BridgeVLANInfo.master
                if br.selfVLANs.contains(v) { f |= BridgeVLANInfo.brentry | br.selfVLANs.infoFlags(v) }
                entries.append((v, f))
            }
        }
        for e in entries {
            var v = NetlinkWriter()
            for _ in 0..<4 { v.put64(0) }                  // rx_bytes, rx_packets, tx_bytes, tx_packets
            v.put16(e.vid); v.put16(e.flags); v.put32(0)
            w.attr(IFLAStats.BRIDGE_XSTATS_VLAN, v.bytes)
        }
        w.attr(IFLAStats.BRIDGE_XSTATS_MCAST, [UInt8](repeating: 0, count: IFLAStats.mcastStatsSize))
        if port != nil { w.attr(IFLAStats.BRIDGE_XSTATS_STP, [UInt8](repeating: 0, count: IFLAStats.stpStatsSize)) }
        w.endNest(n)
    }
}
