#if canImport(Glibc)
import Glibc
#endif

/// The neighbour tables' parameters as rtnetlink carries them (linux/neighbour.h's NDTA_* and
/// NDTPA_*; net/core/neighbour.c's neightbl_dump_info, neightbl_fill_info, neightbl_set):
/// `ip ntable show` and `ip ntable change`. A device uses its table's parameters until it is
/// given its own (`dev X`), which start as a copy of the table's. Unlike a kernel namespace
/// other than the first, whose table defaults are the host's and cannot change there (ENOENT),
/// the daemon's tables are its own and take changes.
enum NDTA {
    static let RTM_NEWNEIGHTBL: UInt16 = 64, RTM_GETNEIGHTBL: UInt16 = 66, RTM_SETNEIGHTBL: UInt16 = 67
    static let NAME: UInt16 = 1, THRESH1: UInt16 = 2, THRESH2: UInt16 = 3, THRESH3: UInt16 = 4
    static let CONFIG: UInt16 = 5, PARMS: UInt16 = 6, STATS: UInt16 = 7, GC_INTERVAL: UInt16 = 8
    // NDTPA_*.
    static let IFINDEX: UInt16 = 1, REFCNT: UInt16 = 2, REACHABLE_TIME: UInt16 = 3, BASE_REACHABLE_TIME: UInt16 = 4
    static let RETRANS_TIME: UInt16 = 5, GC_STALETIME: UInt16 = 6, DELAY_PROBE_TIME: UInt16 = 7, QUEUE_LEN: UInt16 = 8
    static let APP_PROBES: UInt16 = 9, UCAST_PROBES: UInt16 = 10, MCAST_PROBES: UInt16 = 11, ANYCAST_DELAY: UInt16 = 12
    static let PROXY_DELAY: UInt16 = 13, PROXY_QLEN: UInt16 = 14, LOCKTIME: UInt16 = 15, QUEUE_LENBYTES: UInt16 = 16
    static let MCAST_REPROBES: UInt16 = 17, INTERVAL_PROBE_TIME_MS: UInt16 = 19

    /// nl_neightbl_policy and nl_ntbl_parm_policy.
    static let parmsPolicy = NLAPolicy(maxType: 19, [
        IFINDEX: .u32, QUEUE_LEN: .u32, PROXY_QLEN: .u32, APP_PROBES: .u32, UCAST_PROBES: .u32, MCAST_PROBES: .u32,
        MCAST_REPROBES: .u32, BASE_REACHABLE_TIME: .u64, GC_STALETIME: .u64, DELAY_PROBE_TIME: .u64,
        RETRANS_TIME: .u64, ANYCAST_DELAY: .u64, PROXY_DELAY: .u64, LOCKTIME: .u64, INTERVAL_PROBE_TIME_MS: .u64,
        QUEUE_LENBYTES: .u32,
    ])
    static let policy = NLAPolicy(maxType: 9, [
        NAME: .string(maxLength: 63), THRESH1: .u32, THRESH2: .u32, THRESH3: .u32, GC_INTERVAL: .u64,
        PARMS: .nested(parmsPolicy),
    ])
    /// The defaults Sluice does not change: gc_thresh1/2, gc_interval, app_probes,
    /// mcast_reprobes, anycast_delay, unres_qlen_bytes (SK_WMEM_MAX).
    static let thresh1: UInt32 = 128, thresh2: UInt32 = 512, gcInterval: UInt64 = 30_000
    static let anycastDelay: UInt64 = 1000, queueLenBytes: UInt32 = 212_992, intervalProbeMs: UInt64 = 5000
}

extension RtnlProcessor {
    /// The two tables in the kernel's order (neigh_tables: ARP, then ND).
    func neighTables() -> [(family: UInt8, name: String, holder: NeighbourParamsHolder, keyLen: UInt16)] {
        [(Self.AF_INET, "arp_cache", .v4(dp.ipv4.neighbours), 4), (Self.AF_INET6, "ndisc_cache", .v6(dp.ipv6.neighbours), 16)]
    }

    /// neightbl_fill_parms.
    func encodeNeighParms(_ h: NeighbourParamsHolder, ifindex: Int32?, _ w: inout NetlinkWriter) {
        let p = ifindex.map { h.parms($0) } ?? h.params
        func ms(_ ns: UInt64) -> UInt64 { ns / Time.ms }
        let n = w.beginNest(NDTA.PARMS, flagged: false)
        if let ifindex { w.attr(NDTA.IFINDEX, u32: UInt32(bitPattern: ifindex)) }
        w.attr(NDTA.REFCNT, u32: 1)
        w.attr(NDTA.QUEUE_LENBYTES, u32: NDTA.queueLenBytes)
        w.attr(NDTA.QUEUE_LEN, u32: UInt32(p.unresQueue))
        w.attr(NDTA.PROXY_QLEN, u32: UInt32(p.proxyQlen))
        w.attr(NDTA.APP_PROBES, u32: 0)
        w.attr(NDTA.UCAST_PROBES, u32: UInt32(p.ucastProbes))
        w.attr(NDTA.MCAST_PROBES, u32: UInt32(p.mcastProbes))
        w.attr(NDTA.MCAST_REPROBES, u32: 0)
        w.attr(NDTA.REACHABLE_TIME, u64: ms(p.reachableTime != 0 ? p.reachableTime : h.reachableTime))
        w.attr(NDTA.BASE_REACHABLE_TIME, u64: ms(p.baseReachableTime))
        w.attr(NDTA.GC_STALETIME, u64: ms(p.gcStaleTime))
        w.attr(NDTA.DELAY_PROBE_TIME, u64: ms(p.delayFirstProbeTime))
        w.attr(NDTA.RETRANS_TIME, u64: ms(p.retransTime))
        w.attr(NDTA.ANYCAST_DELAY, u64: NDTA.anycastDelay)
        w.attr(NDTA.PROXY_DELAY, u64: ms(p.proxyDelay))
        w.attr(NDTA.LOCKTIME, u64: ms(p.locktime))
        w.attr(NDTA.INTERVAL_PROBE_TIME_MS, u64: NDTA.intervalProbeMs)
        w.endNest(n)
    }

    /// rtnl's neightbl_dump_info: per table its settings (neightbl_fill_info), then one
    /// message per device with the parameters it uses (neightbl_fill_param_info, newest
    /// device first as the kernel's parms_list).
    func dumpNeighTables(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let p = msg.payload
        let family = p.first ?? 0
        if strictCheck {
            guard p.count >= 4 else { throw NetlinkError(EINVAL, "Invalid header for neighbor table dump request") }
            guard p[p.startIndex + 1] == 0, p.le16(at: 2) == 0 else { throw NetlinkError(EINVAL, "Invalid values in header for neighbor table dump request") }
            if p.count > 4 { throw NetlinkError(EINVAL, "Invalid data after header in neighbor table dump request") }
        }
        var parts = DumpParts(limit: bufferSize)
        let now = dp.clock.now
        for t in neighTables() where family == 0 || family == t.family {
            parts.add { w in
                let st = w.begin(type: NDTA.RTM_NEWNEIGHTBL, flags: NL.F_MULTI, seq: msg.header.seq, pid: pid)
                w.put8(t.family); w.put8(0); w.put16(0)
                w.attr(NDTA.NAME, string: t.name)
                w.attr(NDTA.GC_INTERVAL, u64: NDTA.gcInterval)
                w.attr(NDTA.THRESH1, u32: NDTA.thresh1)
                w.attr(NDTA.THRESH2, u32: NDTA.thresh2)
                w.attr(NDTA.THRESH3, u32: UInt32(t.holder.params.gcThresh3))
                // struct ndt_config: key and entry sizes, entries, ms since the last flush and
                // the last reachable-time draw, hash seed, hash mask, chain gc, proxy queue.
                var c = NetlinkWriter()
                c.put16(t.keyLen); c.put16(UInt16(MemoryLayout<NeighbourEntryOf<UInt128>>.stride))
                c.put32(UInt32(t.holder.count)); c.put32(UInt32(truncatingIfNeeded: now / Time.ms)); c.put32(UInt32(truncatingIfNeeded: now / Time.ms))
                c.put32(0); c.put32(0); c.put32(0); c.put32(0)
                w.attr(NDTA.CONFIG, c.bytes)
                encodeNeighParms(t.holder, ifindex: nil, &w)
                // struct ndt_stats: what Sluice counts (entries made and removed, failed
                // resolutions); per-lookup counters are not kept on the packet path.
                var s = NetlinkWriter()
                for v in [t.holder.allocs, t.holder.destroys, 0, t.holder.resFailed, 0, 0, 0, 0, 0, 0, t.holder.tableOverflows] { s.put64(v) }
                w.attr(NDTA.STATS, s.bytes)
                w.end(st)
            }
            for d in dp.allDevices.reversed() {
                parts.add { w in
                    let st = w.begin(type: NDTA.RTM_NEWNEIGHTBL, flags: NL.F_MULTI, seq: msg.header.seq, pid: pid)
                    w.put8(t.family); w.put8(0); w.put16(0)
                    w.attr(NDTA.NAME, string: t.name)
                    encodeNeighParms(t.holder, ifindex: d.ifindex, &w)
                    w.end(st)
                }
            }
        }
        parts.finish(seq: msg.header.seq, pid: pid, into: &replies)
    }

    /// neightbl_set: the table by name (and family, unless AF_UNSPEC); its parameters, or a
    /// device's. Every value is checked before any is applied.
    func setNeighTable(_ msg: NetlinkMessage) throws(NetlinkError) {
        let p = msg.payload
        guard p.count >= 4 else { throw NetlinkError(EINVAL) }
        let family = p[p.startIndex]
        let a = try NLAttributes.parse(p.dropFirst(4), base: NL.hdrLen + 4, policy: NDTA.policy, strict: false)
        guard let name = a.string(NDTA.NAME) else { throw NetlinkError(EINVAL) }
        guard let t = neighTables().first(where: { $0.name == name && (family == 0 || family == $0.family) }) else { throw NetlinkError(ENOENT) }
        var params = t.holder.params
        var device: Int32? = nil
        if let thresh = a.u32(NDTA.THRESH3) { params.gcThresh3 = Int(thresh) }
        for (k, v) in [(NDTA.THRESH1, UInt64(NDTA.thresh1)), (NDTA.THRESH2, UInt64(NDTA.thresh2)), (NDTA.GC_INTERVAL, NDTA.gcInterval)] where a.has(k) {
            let given = k == NDTA.GC_INTERVAL ? a.u64(k) ?? 0 : UInt64(a.u32(k) ?? 0)
            guard given == v else { throw NetlinkError(EOPNOTSUPP, "Sluice keeps gc_thresh1, gc_thresh2 and gc_interval at the kernel's defaults", offset: a.offsets[k]) }
        }
        if let parms = a[NDTA.PARMS] {
            let base = (a.offsets[NDTA.PARMS] ?? 0) + NL.attrHdrLen
            let q = try NLAttributes.parse(parms, base: base, policy: NDTA.parmsPolicy, strict: false)
            if let i = q.u32(NDTA.IFINDEX), i != 0 {
                // lookup_neigh_parms: a device that does not exist has none.
                guard dp.device(Int32(bitPattern: i)) != nil else { throw NetlinkError(ENOENT) }
                device = Int32(bitPattern: i)
                params = t.holder.parms(Int32(bitPattern: i))
            }
            func ms(_ k: UInt16) -> UInt64? { q.u64(k).map { $0 * Time.ms } }
            if let v = q.u32(NDTA.QUEUE_LEN) { params.unresQueue = Int(v) }
            if let v = q.u32(NDTA.QUEUE_LENBYTES) { params.unresQueue = max(Int(v) / 2_112, 0) }  // SKB_TRUESIZE(ETH_FRAME_LEN)
            if let v = q.u32(NDTA.PROXY_QLEN) { params.proxyQlen = Int(v) }
            if let v = q.u32(NDTA.UCAST_PROBES) { params.ucastProbes = Int(v) }
            if let v = q.u32(NDTA.MCAST_PROBES) { params.mcastProbes = Int(v) }
            if let v = ms(NDTA.BASE_REACHABLE_TIME) { params.baseReachableTime = v }
            if let v = ms(NDTA.GC_STALETIME) { params.gcStaleTime = v }
            if let v = ms(NDTA.DELAY_PROBE_TIME) { params.delayFirstProbeTime = v }
            if let v = ms(NDTA.RETRANS_TIME) { params.retransTime = v }
            if let v = ms(NDTA.PROXY_DELAY) { params.proxyDelay = v }
            if let v = ms(NDTA.LOCKTIME) { params.locktime = v }
            for (k, dflt) in [(NDTA.APP_PROBES, UInt64(0)), (NDTA.MCAST_REPROBES, 0)] where q.has(k) {
                guard UInt64(q.u32(k) ?? 0) == dflt else { throw NetlinkError(EOPNOTSUPP, "Sluice sends no application or multicast reprobes", offset: q.offsets[k]) }
            }
            for (k, dflt) in [(NDTA.ANYCAST_DELAY, NDTA.anycastDelay), (NDTA.INTERVAL_PROBE_TIME_MS, NDTA.intervalProbeMs)] where q.has(k) {
                guard q.u64(k) == dflt else { throw NetlinkError(EOPNOTSUPP, "Sluice keeps anycast_delay and interval_probe_time_ms at the kernel's defaults", offset: q.offsets[k]) }
            }
        }
        let final = params
        if let device {
            // Table-wide settings do not belong to a device's parameters.
            guard !a.has(NDTA.THRESH3) else { throw NetlinkError(EINVAL, "gc_thresh3 is the table's", offset: a.offsets[NDTA.THRESH3]) }
            t.holder.setDevice(device, final)
        } else {
            t.holder.update { $0 = final }
        }
    }
}
