/// Principles
/// ----------
/// Each device's IPv4 stack is an IGMP host as the kernel's (net/ipv4/igmp.c, RFC 3376 with
/// RFC 2236 and RFC 1112 compatibility) for the groups `Datapath.ipv4Groups` lists but
/// 224.0.0.1 (never reported): in Sluice, the all-snoopers group 224.0.0.106 a snooping bridge
/// joins (link-local groups are reported, igmp_link_local_mcast_reports' default).
/// - IGMPv3 by default: a join sends CHANGE_TO_EXCLUDE change records, a leave
///   CHANGE_TO_INCLUDE ones, robustness (2) times — 2 jiffies after the change, then a random
///   time below 1 s apart (igmp_ifc_event, igmp_ifc_timer_expire) — to 224.0.0.22; a general
///   query is answered with one MODE_IS_EXCLUDE report of every group a random time below its
///   maximum response time (igmp_gq_start_timer), a group-specific one with that group's.
/// - An 8-byte query puts the device in IGMPv1 (code 0) or IGMPv2 mode for robustness × query
///   interval + query response interval: reports are then v1/v2 reports to the group, a join
///   sends two (2 jiffies, then within 10 s), a leave in v2 sends a leave to 224.0.0.2 if we sent
///   the group's last report, and another host's report for a group cancels ours.
/// - Reports carry TOS 0xC0, TTL 1, DF and the router alert option, from the device's address
///   of link scope or wider (0.0.0.0 without one). Queries are taken from 0.0.0.0 too, as
///   ip_route_input_mc allows IGMP from it.
/// - Down (ip_mc_down) stops every timer; up (ip_mc_up) resets the querier's variables and
///   announces every group again.
/// On the real clock only, as MLD (ipv6/MLD.swift). Not here: source filters, force_igmp_version,
/// the igmp sysctls (their defaults are used), IGMP for groups of Sluice's own sockets (it has none).
extension IPv4Stack {
    static func igmpReportable(_ g: UInt32) -> Bool { g != 0xE000_0001 }

    func igmpRandom(below n: UInt64) -> UInt64 {
        igmpSeed = igmpSeed &* 6364136223846793005 &+ 1442695040888963407
        return n == 0 ? 0 : (igmpSeed >> 11) % n
    }

    /// What mldSync does for MLD: each device's groups against what it last reported.
    func igmpSync() {
        guard clock.mode == .real else { return }
        let now = clock.now
        var seen = Set<Int32>()
        for dev in dp.allDevices {
            let d = dev.ifindex
            seen.insert(d)
            let on = dev.isUp && !dev.flags.contains(.loopback)
            guard on || igmp[d] != nil else { continue }
            let l = igmp[d] ?? GroupListener()
            igmp[d] = l
            if !on {
                if l.active { l.down() }
                continue
            }
            // ip_mc_reset: mr_maxdelay starts at the query response interval.
            if !l.active { l.active = true; l.reset(maxDelay: 10 * Time.s) }
            let current = dp.ipv4Groups(dev).filter(Self.igmpReportable).map { UInt128($0) }
            let (added, dropped) = l.update(current)
            for g in dropped { igmpGroupDropped(dev, l, g, now: now) }
            for g in added { igmpGroupAdded(l, g, now: now) }
        }
        for d in igmp.keys where !seen.contains(d) { igmp[d] = nil }
        recomputeIGMPDue()
    }

    /// igmp_group_added (igmpv3_del_delrec: no leave for a group joined again).
    func igmpGroupAdded(_ l: GroupListener, _ g: UInt128, now: UInt64) {
        l.tomb.removeAll { $0.group == g }
        var s = GroupListener.Group()
        s.unsolicited = 2                                    // sysctl_igmp_qrv
        if l.old(now) {
            s.timer = now &+ 2 * GroupListener.jiffy         // IGMP_INITIAL_REPORT_DELAY
            l.state[g] = s
            return
        }
        s.crcount = l.qrv
        l.state[g] = s
        l.changeEvent(now: now)
    }

    /// __igmp_group_dropped.
    func igmpGroupDropped(_ dev: NetDevice, _ l: GroupListener, _ g: UInt128, now: UInt64) {
        let s = l.state.removeValue(forKey: g)
        if l.v1(now) { return }
        if l.v2(now) {
            if s?.lastReporter == true { sendIGMP(dev, type: MulticastListener.igmpLeaveType, group: UInt32(truncatingIfNeeded: g)) }
            return
        }
        l.recordLeave(g, now: now)
    }

    func recomputeIGMPDue() { igmpDue = GroupListener.earliest(igmp.values) }

    /// The IGMP timers that are due: igmp_ifc_timer_expire, igmp_gq_timer_expire, igmp_timer_expire.
    func runIGMP() {
        let now = clock.now
        for (d, l) in igmp where l.active {
            guard let dev = dp.device(d) else { continue }
            if l.ifcAt != 0 && l.ifcAt <= now {
                l.ifcAt = 0
                igmpSendChanges(dev, l)
                if l.ifcCount > 0 {
                    l.ifcCount -= 1
                    l.ifcAt = now &+ igmpRandom(below: l.unsolicited(now)) &+ 2 * GroupListener.jiffy
                }
            }
            if l.gqAt != 0 && l.gqAt <= now {
                l.gqAt = 0
                sendIGMPv3(dev, l.groups.map { (MulticastListener.igmpModeIsExclude, UInt32(truncatingIfNeeded: $0)) })
            }
            for g in l.groups {
                guard var s = l.state[g], s.timer != 0, s.timer <= now else { continue }
                s.timer = 0
                if s.unsolicited > 0 {
                    s.unsolicited -= 1
                    if s.unsolicited > 0 { s.timer = now &+ igmpRandom(below: l.unsolicited(now)) &+ 2 * GroupListener.jiffy }
                }
                s.lastReporter = true
                l.state[g] = s
                let group = UInt32(truncatingIfNeeded: g)
                if l.v1(now) { sendIGMP(dev, type: MulticastListener.igmpV1ReportType, group: group) }
                else if l.v2(now) { sendIGMP(dev, type: MulticastListener.igmpV2ReportType, group: group) }
                else { sendIGMPv3(dev, [(MulticastListener.igmpModeIsExclude, group)]) }
            }
        }
        recomputeIGMPDue()
    }

    /// igmpv3_send_cr.
    func igmpSendChanges(_ dev: NetDevice, _ l: GroupListener) {
        let records = l.changeRecords(toInclude: MulticastListener.igmpChangeToInclude, toExclude: MulticastListener.igmpChangeToExclude)
        sendIGMPv3(dev, records.map { ($0.type, UInt32(truncatingIfNeeded: $0.group)) })
    }

    /// The source of a report: the device's address of link scope or wider, else 0.0.0.0.
    func igmpSource(_ dev: NetDevice) -> UInt32 { selectAddress(dev.ifindex, toward: 0, scope: RouteScope.link) }

    /// igmpv3_sendpack: as many reports as the device's MTU needs.
    func sendIGMPv3(_ dev: NetDevice, _ records: [(type: UInt8, group: UInt32)]) {
        guard !records.isEmpty, dev.isOperational, dev.mtu >= 68 else { return }
        let perPacket = max(1, (dev.mtu - 24 - 8) / 8)
        let src = igmpSource(dev)
        var i = 0
        while i < records.count {
            let part = records[i..<min(records.count, i + perPacket)]
            i += part.count
            guard let q = pool.alloc() else { dev.drop(.noBuffer); return }
            pool.meta(q).pointee.length = UInt32(MulticastListener.writeIGMPv3Report(pool.data(q), srcMAC: dev.mac, src: src, records: part))
            stats.outRequests &+= 1; stats.igmpOutReports &+= 1
            dp.stage(dev.ifindex, q)
        }
    }

    /// igmp_send_report for IGMPv1/v2 reports and leaves.
    func sendIGMP(_ dev: NetDevice, type: UInt8, group: UInt32) {
        guard dev.isOperational, let q = pool.alloc() else { return }
        pool.meta(q).pointee.length = UInt32(MulticastListener.writeIGMPReport(pool.data(q), srcMAC: dev.mac, src: igmpSource(dev), type: type, group: group))
        stats.outRequests &+= 1
        if type == MulticastListener.igmpLeaveType { stats.igmpOutLeaves &+= 1 } else { stats.igmpOutReports &+= 1 }
        dp.stage(dev.ifindex, q)
    }

    /// Whether an IGMP message to `group` is for `dev` (ip_check_mc_rcu with IGMP: a group it joined).
    func igmpFor(_ dev: NetDevice, group: UInt32) -> Bool {
        clock.mode == .real && dp.ipv4Groups(dev).contains(group)
    }

    /// igmp_rcv: the IGMP message `m` (`n` bytes) `dev` received.
    func igmpReceive(_ dev: NetDevice, _ m: UnsafeRawPointer, length n: Int, multicast: Bool) {
        stats.igmpIn &+= 1
        guard n >= 8 else { stats.igmpInErrors &+= 1; return }
        switch m.load(as: UInt8.self) {
        case 0x11:
            guard let q = MulticastListener.igmpHostQuery(m, length: n) else { stats.igmpInErrors &+= 1; return }
            igmpHeardQuery(dev, q)
        case MulticastListener.igmpV1ReportType, MulticastListener.igmpV2ReportType:
            // igmp_heard_report: another host reported the group; ours is not needed.
            guard multicast, Checksum.fold(Checksum.sum(m, n)) == 0, let l = igmp[dev.ifindex] else { return }
            let g = UInt128(UInt32(bigEndian: m.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
            guard Self.igmpReportable(UInt32(truncatingIfNeeded: g)), var s = l.state[g] else { return }
            s.timer = 0; s.lastReporter = false; s.unsolicited = 0
            l.state[g] = s
            recomputeIGMPDue()
        default:
            break
        }
    }

    /// igmp_heard_query.
    func igmpHeardQuery(_ dev: NetDevice, _ q: MulticastListener.HostQuery) {
        guard let l = igmp[dev.ifindex], l.active else { return }
        let now = clock.now, tenth = 100 * Time.ms
        var group = q.group
        let maxDelay: UInt64
        if q.length == 8 {
            let seen = now &+ UInt64(l.qrv) &* l.qi &+ l.qri
            if q.code == 0 {
                maxDelay = 10 * Time.s                           // IGMP_QUERY_RESPONSE_INTERVAL
                l.v1Until = seen
                group = 0
            } else {
                maxDelay = UInt64(q.code) * tenth
                l.v2Until = seen
            }
            l.ifcCount = 0; l.ifcAt = 0; l.tomb = []
        } else if q.length < 12 {
            stats.igmpInErrors &+= 1; return
        } else if l.v1(now) {
            maxDelay = 10 * Time.s
            group = 0
        } else if l.v2(now) {
            maxDelay = max(UInt64(q.code) * tenth, GroupListener.jiffy)
        } else {
            maxDelay = max(UInt64(q.code) * tenth, GroupListener.jiffy)
            l.maxDelay = maxDelay
            l.qrv = q.qrv != 0 ? q.qrv : 2
            l.qi = q.qqic != 0 ? UInt64(q.qqic) * Time.s : 125 * Time.s
            if l.qri >= l.qi { l.qri = l.qi >= Time.s ? l.qi - Time.s : 0 }
            if group == 0 {
                guard q.sources == 0 else { return }
                // igmp_gq_start_timer: a running one that comes sooner stays.
                let at = now &+ igmpRandom(below: l.maxDelay) &+ 2 * GroupListener.jiffy
                if l.gqAt == 0 || at < l.gqAt { l.gqAt = at }
                recomputeIGMPDue()
                return
            }
        }
        for g in l.groups where group == 0 || g == UInt128(group) {
            // igmp_mod_timer: a running timer due within the new maximum stays.
            guard var s = l.state[g] else { continue }
            s.unsolicited = 0
            if !(s.timer > now && s.timer - now < maxDelay) { s.timer = now &+ igmpRandom(below: maxDelay) &+ 2 * GroupListener.jiffy }
            l.state[g] = s
        }
        recomputeIGMPDue()
    }
}
