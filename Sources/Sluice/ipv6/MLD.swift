/// Principles
/// ----------
/// Each device's IPv6 stack is a multicast listener as the kernel's (net/ipv6/mcast.c, RFC 3810
/// with RFC 2710 compatibility): it tells the link's routers and snooping switches which groups
/// it has joined — the groups `Datapath.ipv6Groups` lists, but all-nodes and groups of less than
/// link-local scope (MAF_NOREPORT).
/// - A joined group is announced with MLDv2 change records (CHANGE_TO_EXCLUDE, no sources): the
///   first report 2 jiffies after the change, then robustness − 1 more, each a random time below
///   the unsolicited report interval (1 s) apart (mld_ifc_event, mld_ifc_work). A left group is
///   announced the same way with CHANGE_TO_INCLUDE (mld_add_delrec, mld_send_cr).
/// - When the device's first link-local address is usable (its DAD done: ipv6_mc_dad_complete)
///   one report names every group, robustness times (mld_send_initial_cr).
/// - Queries (from a link-local source, hop limit 1, with a router alert for MLD) are answered:
///   an MLDv2 general query with one report of every group (MODE_IS_EXCLUDE) a random time
///   below its maximum response delay, a group-specific one with that group's record. A 24-byte
///   MLDv1 query puts the device in MLDv1 mode for robustness × query interval + query
///   response interval (RFC 3810 9.12): reports are then MLDv1 reports to the group, a join
///   sends one at once and one more within 10 s, a leave sends a done to ff02::2 if we sent the
///   group's last report, and another node's report for a group cancels ours (RFC 2710 4).
/// - Reports come from the device's first usable link-local address, or :: without one.
/// - A device that goes down stops every timer (ipv6_mc_down); coming up (ipv6_mc_up) resets
///   the querier's variables and announces every group again.
/// Sluice sends MLD only on the real clock: an offline run replays captured traffic, and
/// reports of its own would change what comes out (as DAD, off there by default). Not here:
/// source filters (no socket of Sluice's joins with sources), force_mld_version, and the
/// per-device unsolicited report interval sysctls (their defaults are used).
/// A device's listener state for one family (MLD here, IGMP in ipv4/IGMPListener.swift): the
/// fields of inet6_dev's and in_device's mc_* and of each group's ifmcaddr6/ip_mc_list that
/// report groups; groups are IPv6-sized (an IPv4 group is its 32 bits).
final class GroupListener {
    struct Group { var crcount = 0; var timer: UInt64 = 0; var lastReporter = false; var unsolicited = 0 }
    var active = false
    /// The groups it reports, newest first (idev->mc_list's order), and their state.
    var groups: [UInt128] = []
    var state: [UInt128: Group] = [:]
    /// Left groups with change records still to send (idev->mc_tomb), newest first.
    var tomb: [(group: UInt128, crcount: Int)] = []
    /// mc_ifc_work, mc_dad_work, mc_gq_work: when due (0: idle) and reports left.
    var ifcCount = 0, ifcAt: UInt64 = 0
    var dadCount = 0, dadAt: UInt64 = 0
    var gqAt: UInt64 = 0
    /// mc_v1_seen (MLDv1, IGMPv1) and mr_v2_seen (IGMPv2): an older version's mode until then.
    var v1Until: UInt64 = 0, v2Until: UInt64 = 0
    /// The querier's robustness, query interval and query response interval (ipv6_mc_reset's
    /// defaults until an MLDv2 query says otherwise), and mc_maxdelay for general queries.
    var qrv = 2, qi = 125 * Time.s, qri = 10 * Time.s, maxDelay = GroupListener.newUnsolicited
    var hadLinkLocal = false

    static let jiffy = Time.s / 250
    /// The unsolicited report intervals: MLDv1 and IGMPv1/v2, MLDv2 and IGMPv3.
    static let oldUnsolicited = 10 * Time.s, newUnsolicited = 1 * Time.s

    func v1(_ now: UInt64) -> Bool { v1Until != 0 && now < v1Until }
    func v2(_ now: UInt64) -> Bool { v2Until != 0 && now < v2Until }
    /// An older version than the newest (MLDv2, IGMPv3) is in use.
    func old(_ now: UInt64) -> Bool { v1(now) || v2(now) }
    func unsolicited(_ now: UInt64) -> UInt64 { old(now) ? Self.oldUnsolicited : Self.newUnsolicited }

    /// ipv6_mc_reset, ip_mc_reset.
    func reset(maxDelay: UInt64) {
        qrv = 2; qi = 125 * Time.s; qri = 10 * Time.s; v1Until = 0; v2Until = 0; self.maxDelay = maxDelay
    }

    /// ipv6_mc_down, ip_mc_down: every timer stops, the groups are dropped unannounced.
    func down() {
        active = false; groups = []; state = [:]; tomb = []
        ifcAt = 0; ifcCount = 0; dadAt = 0; dadCount = 0; gqAt = 0; hadLinkLocal = false
    }

    /// Compares the groups with `current` (newest first), which become the list: those joined
    /// since (oldest first, the order they are announced in) and those left.
    func update(_ current: [UInt128]) -> (added: [UInt128], dropped: [UInt128]) {
        let added = current.filter { state[$0] == nil }
        let dropped = groups.filter { !current.contains($0) }
        groups = current
        return (added.reversed(), dropped)
    }

    /// mld_send_cr / igmpv3_send_cr for groups without sources: the left groups' records
    /// (`toInclude`), then the joined groups' (`toExclude`), each while its count lasts.
    func changeRecords(toInclude: UInt8, toExclude: UInt8) -> [(type: UInt8, group: UInt128)] {
        var records: [(type: UInt8, group: UInt128)] = []
        for i in tomb.indices where tomb[i].crcount > 0 {
            records.append((toInclude, tomb[i].group))
            tomb[i].crcount -= 1
        }
        tomb.removeAll { $0.crcount == 0 }
        for g in groups {
            guard var s = state[g], s.crcount > 0 else { continue }
            records.append((toExclude, g))
            s.crcount -= 1
            state[g] = s
        }
        return records
    }

    /// mld_ifc_event / igmp_ifc_event: change records go out 2 jiffies from now, robustness
    /// times (not while an older version is in use).
    func changeEvent(now: UInt64) {
        guard !old(now) else { return }
        ifcCount = qrv
        ifcAt = now &+ 2 * Self.jiffy
    }

    /// mld_add_delrec / igmpv3_add_delrec, then the change event: a left group's records.
    func recordLeave(_ g: UInt128, now: UInt64) {
        tomb.removeAll { $0.group == g }
        tomb.insert((g, qrv), at: 0)
        changeEvent(now: now)
    }

    /// The earliest timer of any of `listeners` (0: none).
    static func earliest(_ listeners: Dictionary<Int32, GroupListener>.Values) -> UInt64 {
        var t: UInt64 = 0
        for l in listeners { let n = l.next; if n != 0 && (t == 0 || n < t) { t = n } }
        return t
    }

    /// The earliest timer (0: none).
    var next: UInt64 {
        var t: UInt64 = 0
        for x in [ifcAt, dadAt, gqAt] where x != 0 && (t == 0 || x < t) { t = x }
        for g in state.values where g.timer != 0 && (t == 0 || g.timer < t) { t = g.timer }
        return t
    }
}

extension IPv6Stack {
    /// MAF_NOREPORT's complement: not all-nodes, at least link-local scope.
    static func reportable(_ g: UInt128) -> Bool {
        g != Inet6Wire.allNodes && (g >> 112) & 0xF >= 2
    }

    func mldRandom(below n: UInt64) -> UInt64 { n == 0 ? 0 : dadRandom() % n }

    /// Compares each device's groups with what its listener last reported and acts on the
    /// differences (igmp6_group_added, igmp6_group_dropped, ipv6_mc_up/down,
    /// ipv6_mc_dad_complete). Run when something that changes groups may have happened.
    func mldSync() {
        mldDirty = false
        guard clock.mode == .real else { return }
        let now = clock.now
        var seen = Set<Int32>()
        for dev in dp.allDevices {
            let d = dev.ifindex
            seen.insert(d)
            let on = dev.isOperational && dev.inet6Ready && !dev.inet6.disabled && !dev.flags.contains(.loopback) && !dev.flags.contains(.noARP)
            guard on || mld[d] != nil else { continue }
            let l = mld[d] ?? GroupListener()
            mld[d] = l
            if !on {
                if l.active { l.down() }
                continue
            }
            if !l.active { l.active = true; l.reset(maxDelay: GroupListener.newUnsolicited) }
            let current = dp.ipv6Groups(dev).map(\.group).filter(Self.reportable)
            let (added, dropped) = l.update(current)
            for g in dropped { mldGroupDropped(dev, l, g, now: now) }
            for g in added { mldGroupAdded(dev, l, g, now: now) }
            let ll = linkLocalSource(dev) != 0
            if ll && !l.hadLinkLocal { mldDADComplete(dev, l, now: now) }
            l.hadLinkLocal = ll
        }
        for d in mld.keys where !seen.contains(d) { mld[d] = nil }
        recomputeMLDDue()
    }

    /// igmp6_group_added on an up device (mld_del_delrec: a group left and joined again sends
    /// no leave).
    func mldGroupAdded(_ dev: NetDevice, _ l: GroupListener, _ g: UInt128, now: UInt64) {
        l.tomb.removeAll { $0.group == g }
        var s = GroupListener.Group()
        if l.v1(now) {
            // igmp6_join_group: a report now, another within the unsolicited interval.
            sendMLDv1(dev, done: false, group: g)
            s.timer = now &+ mldRandom(below: l.unsolicited(now))
            s.lastReporter = true
            l.state[g] = s
            return
        }
        s.crcount = l.qrv
        l.state[g] = s
        l.changeEvent(now: now)
    }

    /// igmp6_group_dropped / igmp6_leave_group.
    func mldGroupDropped(_ dev: NetDevice, _ l: GroupListener, _ g: UInt128, now: UInt64) {
        let s = l.state.removeValue(forKey: g)
        if l.v1(now) {
            if s?.lastReporter == true { sendMLDv1(dev, done: true, group: g) }
            return
        }
        l.recordLeave(g, now: now)
    }

    /// ipv6_mc_dad_complete: every group at once, then robustness − 1 more times.
    func mldDADComplete(_ dev: NetDevice, _ l: GroupListener, now: UInt64) {
        l.dadCount = l.qrv
        guard l.dadCount > 0 else { return }
        mldSendInitial(dev, l, now: now)
        l.dadCount -= 1
        l.dadAt = l.dadCount > 0 ? now &+ mldRandom(below: l.unsolicited(now)) &+ 2 * GroupListener.jiffy : 0
    }

    func recomputeMLDDue() { mldDue = GroupListener.earliest(mld.values) }

    /// The MLD timers that are due (mld_ifc_work, mld_dad_work, mld_gq_work, mld_mca_work).
    func runMLD() {
        let now = clock.now
        for (d, l) in mld where l.active {
            guard let dev = dp.device(d) else { continue }
            if l.ifcAt != 0 && l.ifcAt <= now {
                l.ifcAt = 0
                mldSendChanges(dev, l)
                if l.ifcCount > 0 {
                    l.ifcCount -= 1
                    if l.ifcCount > 0 { l.ifcAt = now &+ mldRandom(below: l.unsolicited(now)) &+ 2 * GroupListener.jiffy }
                }
            }
            if l.dadAt != 0 && l.dadAt <= now {
                l.dadAt = 0
                mldSendInitial(dev, l, now: now)
                if l.dadCount > 0 {
                    l.dadCount -= 1
                    if l.dadCount > 0 { l.dadAt = now &+ mldRandom(below: l.unsolicited(now)) &+ 2 * GroupListener.jiffy }
                }
            }
            if l.gqAt != 0 && l.gqAt <= now {
                l.gqAt = 0
                sendMLDv2(dev, l.groups.map { (MulticastListener.modeIsExclude, $0) })
            }
            for g in l.groups {
                guard var s = l.state[g], s.timer != 0, s.timer <= now else { continue }
                s.timer = 0
                s.lastReporter = true
                l.state[g] = s
                if l.v1(now) { sendMLDv1(dev, done: false, group: g) } else { sendMLDv2(dev, [(MulticastListener.modeIsExclude, g)]) }
            }
        }
        recomputeMLDDue()
    }

    /// mld_send_cr.
    func mldSendChanges(_ dev: NetDevice, _ l: GroupListener) {
        sendMLDv2(dev, l.changeRecords(toInclude: MulticastListener.changeToInclude, toExclude: MulticastListener.changeToExclude))
    }

    /// mld_send_initial_cr: CHANGE_TO_EXCLUDE for every group (not in MLDv1 mode).
    func mldSendInitial(_ dev: NetDevice, _ l: GroupListener, now: UInt64) {
        guard !l.v1(now) else { return }
        sendMLDv2(dev, l.groups.map { (MulticastListener.changeToExclude, $0) })
    }

    /// ipv6_get_lladdr without tentative addresses: the first usable link-local, else ::.
    func linkLocalSource(_ dev: NetDevice) -> UInt128 {
        addresses[dev.ifindex]?.first { $0.isLinkLocal && $0.usable }?.address ?? 0
    }

    /// mld_sendpack: as many reports as the device's MTU needs for the records.
    func sendMLDv2(_ dev: NetDevice, _ records: [(type: UInt8, group: UInt128)]) {
        guard !records.isEmpty, dev.isOperational else { return }
        let mtu = dev.inet6.mtu
        guard mtu >= Inet6Wire.minMTU else { return }
        let perPacket = max(1, (mtu - 40 - 8 - 8) / 20)
        let src = linkLocalSource(dev)
        var i = 0
        while i < records.count {
            let part = records[i..<min(records.count, i + perPacket)]
            i += part.count
            guard PacketPool.dataRoom >= MulticastListener.mldHeadroom + 8 + 20 * part.count, let q = pool.alloc() else { stats.outDiscards &+= 1; return }
            let n = MulticastListener.writeMLDv2Report(pool.data(q), srcMAC: dev.mac, src: src, records: part)
            pool.meta(q).pointee.length = UInt32(n)
            stats.outRequests &+= 1; stats.icmpOutMsgs &+= 1; stats.icmpOutMLDv2Reports &+= 1
            dp.stage(dev.ifindex, q)
        }
    }

    /// igmp6_send: an MLDv1 report to the group or a done to ff02::2.
    func sendMLDv1(_ dev: NetDevice, done: Bool, group: UInt128) {
        guard dev.isOperational, let q = pool.alloc() else { return }
        let n = MulticastListener.writeMLDv1(pool.data(q), srcMAC: dev.mac, src: linkLocalSource(dev), done: done, group: group)
        pool.meta(q).pointee.length = UInt32(n)
        stats.outRequests &+= 1; stats.icmpOutMsgs &+= 1
        if done { stats.icmpOutGroupMembReductions &+= 1 } else { stats.icmpOutGroupMembReports &+= 1 }
        dp.stage(dev.ifindex, q)
    }

    /// __mld_query_work for a query `dev` received (the ICMPv6 message at `off`).
    func mldQueryReceived(_ dev: NetDevice, _ ip: UnsafeRawPointer, offset off: Int, total: Int) {
        stats.icmpInGroupMembQueries &+= 1
        // RFC 3810 6.2: from a link-local address, hop limit 1, a router alert for MLD.
        guard Inet6Wire.isLinkLocal(Inet6Wire.source(ip)), Inet6Wire.hopLimit(ip) == 1,
              Inet6Wire.routerAlert(ip, total: total) == 0,
              let q = MulticastListener.listenerQuery(ip, offset: off, total: total) else {
            stats.mldQueriesDropped &+= 1; return
        }
        guard q.group == 0 || Inet6Wire.isMulticast(q.group), clock.mode == .real,
              let l = mld[dev.ifindex], l.active else { return }
        let now = clock.now
        let maxDelay: UInt64
        if q.length == 24 || l.v1(now) {
            // mld_process_v1: an MLDv2 query heard in MLDv1 mode counts as v1 (its delay capped).
            let ms = q.length == 24 ? q.maxResponseMs : min(q.maxResponseMs, 32767)
            maxDelay = max(UInt64(ms) * Time.ms, GroupListener.jiffy)
            if q.length == 24 { l.v1Until = now &+ UInt64(l.qrv) &* l.qi &+ l.qri }
            l.gqAt = 0; l.ifcAt = 0; l.ifcCount = 0; l.tomb = []
        } else if q.length >= 28 {
            maxDelay = max(UInt64(q.maxResponseMs) * Time.ms, GroupListener.jiffy)
            // mld_update_qrv (never below 2), mld_update_qi, mld_update_qri.
            if q.qrv > 0 { l.qrv = q.qrv }
            if l.qrv < 2 { l.qrv = 2 }
            l.qi = UInt64(q.qqic) * Time.s
            l.qri = UInt64(q.maxResponseMs) * Time.ms
            l.maxDelay = maxDelay
            if q.group == 0 {
                guard q.sources == 0 else { return }
                l.gqAt = now &+ mldRandom(below: maxDelay) &+ 2 * GroupListener.jiffy
                recomputeMLDDue()
                return
            }
        } else {
            stats.mldQueriesDropped &+= 1; return
        }
        for g in l.groups where q.group == 0 || g == q.group {
            // igmp6_group_queried: a running timer is kept if it is sooner.
            guard var s = l.state[g] else { continue }
            let left = s.timer > now ? s.timer - now : maxDelay
            s.timer = now &+ (left >= maxDelay ? mldRandom(below: maxDelay) : left)
            l.state[g] = s
        }
        recomputeMLDDue()
    }

    /// __mld_report_work: another node's report for one of our groups cancels ours (MLDv1
    /// suppression); it then sent the last report.
    func mldReportHeard(_ dev: NetDevice, _ ip: UnsafeRawPointer, offset off: Int, total: Int) {
        stats.icmpInGroupMembReports &+= 1
        guard total - off >= 24, let l = mld[dev.ifindex] else { return }
        let src = Inet6Wire.source(ip)
        guard src == 0 || Inet6Wire.isLinkLocal(src) else { return }
        let g = Inet6Wire.load128(ip + off + 8)
        guard var s = l.state[g] else { return }
        s.timer = 0; s.lastReporter = false
        l.state[g] = s
        recomputeMLDDue()
    }
}
