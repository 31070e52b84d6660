/// Principles
/// ----------
/// A learning bridge as net/bridge without VLAN filtering: every frame teaches the FDB where
/// its source lives (br_fdb_update); a unicast destination found in the FDB goes to that port
/// only, never back out the port it came in on; broadcast, multicast and unknown unicast are
/// flooded to every other port that is up (br_flood), the last port getting the original and the
/// others clones sharing its bytes. Frames to the bridge's own address are delivered to the
/// bridge device, which has no IP stack yet and counts them.
///
/// IEEE 802.1D reserved group addresses 01:80:C2:00:00:0X are link-local (br_handle_frame):
/// 00 (STP BPDUs) goes to the spanning tree while it runs (STP.swift) and is flooded while it
/// does not, as the kernel's; 01 (MAC control, PAUSE) is dropped; any other is forwarded only when bit X of the
/// bridge's `group_fwd_mask` is set (bits 0–2 can never be set: BR_GROUPFWD_RESTRICTED), and is
/// otherwise left to the port's own stack — which in Sluice has no protocol for it, so it is
/// counted (rx_nohandler) and freed, after the FDB learnt its source.
/// While the bridge device is down its ports are disabled (BR_STATE_DISABLED): frames are
/// neither learnt nor forwarded, and are counted on the port.
///
/// The bridge's offload features are the intersection of its ports' features (as
/// br_features_recompute for offloads), pushed down to every port so that a TAP never hands
/// Sluice a frame (a 64 KiB TSO super-frame, say) that another port could not take.
public final class Bridge {
    public let device: NetDevice
    public let fdb = FDB()
    /// Ageing time in nanoseconds in use (default 300 s; `ageing_time` in centiseconds as
    /// iproute2): the configured one, or twice the forward delay while a spanning tree topology
    /// change lasts (__br_set_topology_change).
    public internal(set) var ageingTime: UInt64 = 300 * Time.s

    /// A time given in USER_HZ centiseconds (ageing_time, forward_delay, hello_time, max_age),
    /// as the kernel keeps it: clock_t_to_jiffies at 250 Hz, so it runs in whole 4 ms ticks
    /// and reads back (jiffies_to_clock_t) rounded down — 401 as 400.
    static func jiffyNs<T: BinaryInteger>(_ cs: T) -> UInt64 {
        MulticastSettings.ns(MulticastSettings.jiffies(centiseconds: UInt64(cs)))
    }
    /// The ageing time the user configured (br->bridge_ageing_time).
    public internal(set) var bridgeAgeingTime: UInt64 = 300 * Time.s
    public internal(set) var ports: [Int32] = []
    /// Per-pass scratch copy of the ports that may be sent to (no allocation: capacity kept),
    /// and, when some port has settings of its own, their flags.
    var livePorts: [Int32] = []
    var liveFlags: [BridgePortFlags] = []
    /// Some port is not as new_nbp makes it (BridgePort.swift): the packet path checks.
    var portChecks = false
    /// BROPT_NEIGH_SUPPRESS_ENABLED: some port has neigh_suppress.
    var neighSuppressEnabled = false
    /// Some port has proxy_arp or proxy_arp_wifi (ARP is looked at only then, or with
    /// neigh_suppress).
    var proxyArpPorts = false
    /// Some port has mcast_to_unicast: snooped groups are looked at per host (Multicast.swift).
    var mcastToUnicastPorts = false
    /// ARP replies and neighbour advertisements the bridge sent for its neighbours.
    public internal(set) var neighAnswers: UInt64 = 0
    public internal(set) var localDelivered: UInt64 = 0
    /// The bridge's address was given by the user (NET_ADDR_SET): it no longer follows the
    /// lowest port address (br_stp_recalculate_bridge_id).
    var addressSet = false
    /// br_multicast_join_snoopers: with snooping on, an open bridge joins the all-snoopers
    /// groups (RFC 4286: 224.0.0.106, ff02::6a) on its own device. `seq` orders the join
    /// among IPv6's (IPv6Stack.joinCounter); `atOpen`: joined by br_dev_open, before NETDEV_UP
    /// ran the protocols, else by br_multicast_toggle on a bridge already up.
    var snoopers: (seq: UInt64, atOpen: Bool)?
    /// The bridge's MTU was set by the user (BROPT_MTU_SET_BY_USER): it no longer follows its
    /// ports' smallest (br_mtu_auto_adjust).
    var mtuSetByUser = false
    /// The address half of the bridge id (br->bridge_id.addr): all zeros until the bridge
    /// takes a port's address or is given one; the device's own address is random until then.
    public internal(set) var idAddress = MACAddress(raw: 0)
    /// Which link-local group addresses 01:80:C2:00:00:0X are forwarded (bit X), as
    /// IFLA_BR_GROUP_FWD_MASK. Bits 0–2 are restricted.
    public internal(set) var groupFwdMask: UInt16 = 0
    /// BR_BOOLOPT_NO_LL_LEARN: link-local frames the bridge keeps (not forwarded) teach it
    /// nothing (br_handle_local_finish); those it forwards are learnt from as any frame.
    public internal(set) var noLinkLocalLearn = false
    public static let groupFwdRestricted: UInt16 = 0x0007
    /// Link-local frames not forwarded (MAC control dropped, or left to the port's stack).
    public internal(set) var groupNotForwarded: UInt64 = 0
    /// IFLA_BR_VLAN_FILTERING, IFLA_BR_VLAN_PROTOCOL, IFLA_BR_VLAN_DEFAULT_PVID (BridgeVLAN.swift).
    public internal(set) var vlanFiltering = false
    public internal(set) var vlanProto = EtherType.vlan
    public internal(set) var defaultPVID: UInt16 = 1
    /// The spanning tree's settings, in centiseconds as iproute2 gives them (br_dev_setup's
    /// defaults: forward delay 15 s, hello 2 s, max age 20 s, priority 0x8000): the bridge's own
    /// (bridge_forward_delay …); the times in use, the root's, are in `stp` (STP.swift).
    public internal(set) var forwardDelay: UInt32 = 1500
    public internal(set) var helloTime: UInt32 = 200
    public internal(set) var maxAge: UInt32 = 2000
    public internal(set) var priority: UInt16 = 0x8000
    /// The spanning tree's state (STP.swift).
    public internal(set) var stp = STPBridgeState()
    /// The multicast database and snooping state (Multicast.swift).
    public let mdb = MulticastDB()
    /// The bridge device's own VLANs ("self", the BRENTRY VLANs).
    public let selfVLANs = BridgeVLANSet()
    /// Per-pass scratch: the VLAN sets of `livePorts` (filled only while filtering).
    var liveSets: [BridgeVLANSet?] = []
    var recomputing = false
    /// Frames for the bridge device itself, handed up after the batch (one owner: `input`).
    var upBatch = PacketBatch()

    init(device: NetDevice) {
        self.device = device
        livePorts.reserveCapacity(64)
        liveSets.reserveCapacity(64)
        selfVLANs.add(defaultPVID, pvid: true, untagged: true)
        stp.designatedRoot = bridgeID
    }

    /// Sets IFLA_BR_GROUP_FWD_MASK; the restricted bits (STP, MAC control, LACP) are refused
    /// with a bare EINVAL, as br_changelink refuses them (Sluice's own grammar says why first).
    public func setGroupFwdMask(_ mask: UInt16) throws(SluiceError) {
        guard mask & Self.groupFwdRestricted == 0 else { throw SluiceError("RTNETLINK answers: Invalid argument") }
        groupFwdMask = mask
    }

    /// When the FDB's garbage collection (br_fdb_cleanup, the kernel's gc_work) runs next, in
    /// the clock's nanoseconds; 0 while it is not scheduled (the bridge has not been up, or
    /// went down). `ip -d link` shows what is left of it as gc_timer.
    public internal(set) var gcAt: UInt64 = 0

    /// br_fdb_cleanup: removes what expired, then runs again when the first remaining dynamic
    /// entry expires — at most the hold time (the ageing time; no STP topology change here)
    /// and at least 10 ms later.
    func fdbCleanup(now: UInt64) {
        let (_, next) = fdb.cleanup(now: now, ageing: ageingTime)
        var delay = ageingTime
        if next > now { delay = min(delay, next - now) }
        gcAt = now &+ max(delay, 10 * Time.ms)
    }

    /// br_handle_frame for a batch received on `port`.
    func input(port: NetDevice, _ batch: inout PacketBatch, _ dp: Datapath, depth: Int = 0) {
        let pool = dp.pool
        let now = dp.clock.now
        let ageing = ageingTime
        let ingress = port.ifindex
        let brIndex = device.ifindex
        let filtering = vlanFiltering
        // The ingress port's own settings (BridgePort.swift), looked at only when some port
        // has settings of its own.
        let checks = portChecks
        let inFlags = checks ? port.bridgePort.flags : BridgePortFlags.defaults
        let hairpinIn = inFlags.contains(.hairpin), isolatedIn = inFlags.contains(.isolated)
        let learnIn = inFlags.contains(.learning)
        livePorts.removeAll(keepingCapacity: true)
        liveSets.removeAll(keepingCapacity: true)
        liveFlags.removeAll(keepingCapacity: true)
        for p in ports where p != ingress || hairpinIn {
            guard let d = dp.devices[Int(p)], d.isOperational else { continue }
            if checks {
                // should_deliver: forwarding ports only, and not isolated from an isolated ingress.
                let s = d.bridgePort
                if s.state != BridgePortSettings.forwarding || (isolatedIn && s.flags.contains(.isolated)) { continue }
                liveFlags.append(s.flags)
            }
            livePorts.append(p)
            if filtering { liveSets.append(d.bridgeVLANs) }
        }
        guard device.isUp else {
            // Ports of a bridge that is down are disabled: nothing is learnt or forwarded.
            let n = UInt64(batch.count)
            port.drop(.portDisabled, n)
            batch.freeAll(pool)
            return
        }
        if filtering {
            admitVLANs(port: port, &batch, dp)
            if batch.isEmpty { return }
        }
        if checks && port.bridgePortState != BridgePortSettings.forwarding {
            // br_handle_frame: a port in the learning state learns and forwards nothing; in
            // listening or disabled it does neither.
            // With STP on, BPDUs still reach the spanning tree on any port not disabled; their
            // source is learnt only in the learning state (__br_handle_local_finish asks
            // nbp_state_should_learn): a blocked port that learnt the neighbour's address from
            // its BPDUs would draw that neighbour's traffic into the block.
            let learns = port.bridgePortState == BridgePortSettings.learning && learnIn
            let stpOn = stp.enabled && port.bridgePortState != BridgePortSettings.disabled
            let llLearns = learns && !noLinkLocalLearn
            var n = UInt64(batch.count)
            batch.drain { p in
                let frame = pool.data(p)
                let src = MACAddress(at: frame + 6)
                if stpOn && MACAddress(at: frame) == BPDU.groupAddress {
                    if llLearns && !src.isMulticast && !src.isZero {
                        fdb.learn(src, vlan: filtering ? pool.meta(p).pointee.vlanTCI & 0x0FFF : 0, port: ingress, now: now)
                    }
                    dp.stpReceive(self, port, frame, length: Int(pool.length(p)))
                    n -= 1
                } else if learns && !src.isMulticast && !src.isZero {
                    fdb.learn(src, vlan: filtering ? pool.meta(p).pointee.vlanTCI & 0x0FFF : 0, port: ingress, now: now)
                }
                pool.free(p)
            }
            if n > 0 { port.drop(.stpState, n) }
            return
        }
        let selfSet = selfVLANs
        var filteredOut: UInt64 = 0
        // br_pass_frame_up: what is for the bridge device goes up its own stack (unless the
        // devices stacked on each other are already too deep).
        let passUp = depth + 1 < Datapath.maxVLANDepth
        let fwdMask = groupFwdMask
        let stpRuns = stp.enabled
        let noLLLearn = noLinkLocalLearn
        let snooping = mdb.snooping
        var mcastInvalid: UInt64 = 0
        var invalidSrc: UInt64 = 0, sameIf: UInt64 = 0, notDelivered: UInt64 = 0, local: UInt64 = 0, localBytes: UInt64 = 0
        var pause: UInt64 = 0, linkLocal: UInt64 = 0, mcastUp: UInt64 = 0
        let promisc = device.promiscuity > 0
        // br_handle_frame_finish on a locked port: a source the FDB does not hold on this
        // port (unknown, elsewhere, or the bridge's own) is dropped before it is learnt, and
        // never roams.
        let locked = inFlags.contains(.locked)
        var lockedOut: UInt64 = 0
        let lookAtNeighbours = checks && (proxyArpPorts || neighSuppressEnabled)
        batch.drain { p in
            let frame = pool.data(p)
            let dst = MACAddress(at: frame)
            let src = MACAddress(at: frame + 6)
            if src.isMulticast || src.isZero {
                invalidSrc += 1
                pool.free(p)
                return
            }
            // Without filtering every frame is in VLAN 0; with it, admission put the VLAN in the tag.
            let m = pool.meta(p)
            let vid: UInt16 = filtering ? m.pointee.vlanTCI & 0x0FFF : 0
            let fv = filtering ? Int(vid) : -1
            if dst.isLinkLocalGroup {
                let x = dst.raw & 0xF
                if x == 1 { pause += 1; pool.free(p); return }
                // 00: BPDUs go to the spanning tree while it runs, else they are forwarded;
                // others only when the mask allows.
                let forwarded = (x == 0 && !stpRuns) || fwdMask & (1 << UInt16(x)) != 0
                if learnIn && (forwarded || !noLLLearn) { fdb.learn(src, vlan: vid, port: ingress, now: now) }
                if x == 0 && stpRuns {
                    dp.stpReceive(self, port, frame, length: Int(pool.length(p)))
                    pool.free(p)
                    return
                }
                if x == 0 || fwdMask & (1 << UInt16(x)) != 0 { flood(p, dp, vid: fv, need: .mcastFlood); return }
                linkLocal += 1
                pool.free(p)
                return
            }
            if locked {
                let (holder, isLocalSrc) = fdb.lookup(src, vlan: vid, now: now, ageing: .max >> 1)
                if holder != ingress || isLocalSrc { lockedOut += 1; pool.free(p); return }
            }
            if learnIn { fdb.learn(src, vlan: vid, port: ingress, now: now) }
            // br_do_proxy_suppress_arp / br_do_suppress_nd (NeighSuppress.swift).
            let replied = lookAtNeighbours && proxySuppress(frame, length: Int(pool.length(p)), m, vid: vid, port: port, dp)
            if dst.isMulticast {
                // IGMP/MLD snooping (Multicast.swift) decides where a group goes.
                var verdict = Datapath.SnoopVerdict.flood
                if snooping && !dst.isBroadcast {
                    verdict = dp.snoop(self, port, frame, length: Int(pool.length(p)), vid: vid)
                    if case .drop = verdict { mcastInvalid += 1; pool.free(p); return }
                }
                // br_handle_frame_finish: a group the database decides for goes up only when
                // the host joined it or the bridge is a router (or the bridge is promiscuous);
                // each multicast frame the bridge takes counts in its `multicast`.
                let snooped: Bool
                if case .flood = verdict { snooped = false } else { snooped = !mdb.deliversLocally(verdict, now: now, bridge: brIndex) }
                if !dst.isBroadcast && !snooped { mcastUp += 1 }
                if !snooped || promisc {
                    // br_pass_frame_up counts first; with filtering only the bridge's own VLANs
                    // go further, unless it is promiscuous.
                    local += 1
                    localBytes += UInt64(pool.length(p)) &- UInt64(EthernetHeader.length)
                    if !filtering || promisc || selfSet.contains(vid), passUp, !upBatch.isFull, let c = pool.clone(p) {
                        if filtering { _ = Bridge.egressVLAN(pool.meta(c), selfSet) }
                        upBatch.append(c)
                    }
                }
                switch verdict {
                case .routers: floodSnooped(p, dp, vid: fv, key: nil)
                case .group(let k): floodSnooped(p, dp, vid: fv, key: k)
                default: flood(p, dp, vid: fv, need: dst.isBroadcast ? .bcastFlood : .mcastFlood, replied: replied)
                }
                return
            }
            let found = fdb.lookup(dst, vlan: vid, now: now, ageing: ageing)
            var out = found.port
            let isLocal = found.local
            // br_forward: a port without carrier hands its known unicast to its backup port.
            if checks && out > 0, let d = dp.devices[Int(out)], d.bridgePort.backupPort != 0, !d.carrier {
                out = d.bridgePort.backupPort
            }
            if isLocal || out == brIndex {
                // br_pass_frame_up counts, then with filtering takes only the bridge's own
                // VLANs, unless it is promiscuous.
                local += 1
                localBytes += UInt64(pool.length(p)) &- UInt64(EthernetHeader.length)
                if filtering && !promisc && !selfSet.contains(vid) { filteredOut += 1 } else if passUp && !upBatch.isFull {
                    if filtering { _ = Bridge.egressVLAN(m, selfSet) }
                    upBatch.append(p)
                    return
                }
                pool.free(p)
                return
            }
            // br_handle_frame_finish: a promiscuous bridge also takes up a copy of everything it
            // forwards or floods (its stack drops what is for another host as PACKET_OTHERHOST).
            if promisc {
                local += 1
                localBytes += UInt64(pool.length(p)) &- UInt64(EthernetHeader.length)
                if passUp, !upBatch.isFull, let c = pool.clone(p) {
                    if filtering { _ = Bridge.egressVLAN(pool.meta(c), selfSet) }
                    upBatch.append(c)
                }
            }
            if out == 0 {
                flood(p, dp, vid: fv, need: .flood, replied: replied)
            } else if out == ingress && !hairpinIn {
                sameIf += 1
                pool.free(p)
            } else if checks && !mayDeliver(out, dp, isolatedIn: isolatedIn) {
                notDelivered += 1
                pool.free(p)
            } else if filtering && !Bridge.egressVLAN(m, dp.devices[Int(out)]?.bridgeVLANs) {
                filteredOut += 1
                pool.free(p)
            } else {
                dp.stage(out, p)
            }
        }
        if invalidSrc > 0 { port.drop(.invalidSource, invalidSrc); port.stats.rxDropped &+= invalidSrc }
        if lockedOut > 0 { port.drop(.portLocked, lockedOut) }
        if mcastInvalid > 0 { port.drop(.igmpInvalid, mcastInvalid); port.stats.rxDropped &+= mcastInvalid }
        if sameIf > 0 { port.drop(.sameInterface, sameIf) }
        if notDelivered > 0 { port.drop(.notDelivered, notDelivered) }
        if filteredOut > 0 { port.drop(.vlanFiltered, filteredOut) }
        if pause + linkLocal > 0 {
            groupNotForwarded &+= pause + linkLocal
            port.drop(.macControl, pause)
            port.drop(.noHandler, linkLocal)
            port.stats.rxNohandler &+= linkLocal
        }
        // br_pass_frame_up counts skb->len: the frame without its Ethernet header.
        localDelivered &+= local
        device.stats.multicast &+= mcastUp
        device.stats.rxPackets &+= local
        device.stats.rxBytes &+= localBytes
        if !upBatch.isEmpty { dp.receiveCore(device, &upBatch, depth: depth + 1) }
    }

    /// br_flood: clones to every live port but the last, which takes the original. With VLAN
    /// filtering (`vid` ≥ 0) only ports in that VLAN get a copy, each tagged as the port says.
    /// Ports without `need` among their flags (flood, mcast_flood, bcast_flood; none for what
    /// the bridge device itself floods) are skipped.
    /// `replied`: the bridge answered the frame or knows its neighbour (proxyarp_replied), so
    /// proxy_arp_wifi and neigh_suppress ports get no copy; proxy_arp ports never do.
    @inline(__always)
    func flood(_ p: consuming Packet, _ dp: Datapath, vid: Int, need: BridgePortFlags, replied: Bool = false) {
        let n = livePorts.count
        let pool = dp.pool
        if !liveFlags.isEmpty || (portChecks && n > 0) {
            floodChecked(p, dp, vid: vid, need: need, replied: replied)
            return
        }
        if vid < 0 {
            if n == 0 { pool.free(p); return }
            for k in 0..<(n - 1) {
                if let c = pool.clone(p) {
                    dp.stage(livePorts[k], c)
                } else if let d = dp.devices[Int(livePorts[k])] {
                    d.drop(.noBuffer); d.stats.txDropped &+= 1
                }
            }
            dp.stage(livePorts[n - 1], p)
            return
        }
        let v = UInt16(vid)
        var last = -1
        for k in 0..<n where liveSets[k]?.contains(v) ?? false { last = k }
        if last < 0 { pool.free(p); return }
        for k in 0..<last where liveSets[k]?.contains(v) ?? false {
            if let c = pool.clone(p) {
                _ = Bridge.egressVLAN(pool.meta(c), liveSets[k])
                dp.stage(livePorts[k], c)
            } else if let d = dp.devices[Int(livePorts[k])] {
                d.drop(.noBuffer); d.stats.txDropped &+= 1
            }
        }
        _ = Bridge.egressVLAN(pool.meta(p), liveSets[last])
        dp.stage(livePorts[last], p)
    }

    /// br_flood with per-port flags: only ports whose flags include `need` (and, with VLAN
    /// filtering, that are in the VLAN) get a copy; none with proxy_arp, and none with
    /// proxy_arp_wifi or neigh_suppress for what the bridge `replied` to.
    func floodChecked(_ p: consuming Packet, _ dp: Datapath, vid: Int, need: BridgePortFlags, replied: Bool = false) {
        let v = UInt16(truncatingIfNeeded: max(vid, 0))
        let exclude: BridgePortFlags = replied ? [.proxyArp, .proxyArpWifi, .neighSuppress] : .proxyArp
        floodWhere(p, dp, vid: vid) { k in
            liveFlags[k].isSuperset(of: need) && liveFlags[k].isDisjoint(with: exclude) && (vid < 0 || (liveSets[k]?.contains(v) ?? false))
        }
    }

    /// br_multicast_flood: a copy to each port that may be sent to and is a member of the group
    /// (`key`) or a multicast router port (with `key` nil, router ports only).
    func floodSnooped(_ p: consuming Packet, _ dp: Datapath, vid: Int, key: MDBKey?) {
        let db = mdb
        let members = key.flatMap { db.groups[$0] } ?? []
        let v = UInt16(truncatingIfNeeded: max(vid, 0))
        let toUnicast = mcastToUnicastPorts && !members.isEmpty
        if toUnicast { deliverToHosts(p, dp, vid: vid, members) }
        floodWhere(p, dp, vid: vid) { k in
            if vid >= 0 && !(liveSets[k]?.contains(v) ?? false) { return false }
            let port = livePorts[k]
            if db.routers[port] != nil { return true }
            guard members.contains(where: { $0.port == port }) else { return false }
            return !(toUnicast && (dp.devices[Int(port)]?.bridgePort.flags.contains(.mcastToUnicast) ?? false))
        }
    }

    /// br_multicast_flood's mcast_to_unicast ports: a copy of `p` for each host in the group
    /// behind such a port, addressed to it (maybe_deliver_addr: none back to the host that sent
    /// it). On a port that is also a router port the first entry's copy is the multicast one
    /// floodWhere sends, as the kernel's walk of both lists gives it.
    func deliverToHosts(_ p: borrowing Packet, _ dp: Datapath, vid: Int, _ members: [MDBPortGroup]) {
        let pool = dp.pool
        let v = UInt16(truncatingIfNeeded: max(vid, 0))
        let src = MACAddress(at: pool.data(p) + 6), iif = pool.meta(p).pointee.ifindex
        for k in 0..<livePorts.count {
            let port = livePorts[k]
            guard let d = dp.devices[Int(port)], d.bridgePort.flags.contains(.mcastToUnicast) else { continue }
            if vid >= 0 && !(liveSets[k]?.contains(v) ?? false) { continue }
            var first = mdb.routers[port] != nil
            for pg in members where pg.port == port {
                if first { first = false; continue }
                if port == iif && pg.ethAddr == src { continue }
                guard var c = pool.clone(p) else { d.drop(.noBuffer); d.stats.txDropped &+= 1; continue }
                guard pool.makeWritable(&c) else { pool.free(c); d.drop(.noBuffer); d.stats.txDropped &+= 1; continue }
                if !pg.ethAddr.isBroadcast { pg.ethAddr.store(to: pool.data(c)) }
                if vid >= 0 { _ = Bridge.egressVLAN(pool.meta(c), liveSets[k]) }
                dp.stage(port, c)
            }
        }
    }

    /// Sends a copy to each of `livePorts` that `wanted` picks (the last one gets the original);
    /// with VLAN filtering (`vid` ≥ 0) each leaves tagged as its port's VLAN set says.
    @inline(__always)
    func floodWhere(_ p: consuming Packet, _ dp: Datapath, vid: Int, _ wanted: (Int) -> Bool) {
        let pool = dp.pool
        var last = -1
        for k in 0..<livePorts.count where wanted(k) { last = k }
        if last < 0 { pool.free(p); return }
        for k in 0..<last where wanted(k) {
            if let c = pool.clone(p) {
                if vid >= 0 { _ = Bridge.egressVLAN(pool.meta(c), liveSets[k]) }
                dp.stage(livePorts[k], c)
            } else if let d = dp.devices[Int(livePorts[k])] {
                d.drop(.noBuffer); d.stats.txDropped &+= 1
            }
        }
        if vid >= 0 { _ = Bridge.egressVLAN(pool.meta(p), liveSets[last]) }
        dp.stage(livePorts[last], p)
    }

    /// should_deliver for the port the FDB names: forwarding, and not isolated from an isolated
    /// ingress port.
    func mayDeliver(_ out: Int32, _ dp: Datapath, isolatedIn: Bool) -> Bool {
        guard let d = dp.devices[Int(out)] else { return true }
        let s = d.bridgePort
        return s.state == BridgePortSettings.forwarding && !(isolatedIn && s.flags.contains(.isolated))
    }

    /// Recomputes the offload features as the intersection of the ports' and pushes them down.
    func recomputeFeatures(_ dp: Datapath) {
        // A port's VLAN device may be a port too: a change it causes is folded into this pass.
        guard !recomputing else { return }
        recomputing = true
        defer { recomputing = false }
        var f = DeviceFeatures.offloads
        for p in ports { if let d = dp.devices[Int(p)] { f.formIntersection(d.hwFeatures) } }
        device.activeFeatures = f
        for p in ports {
            guard let d = dp.devices[Int(p)] else { continue }
            // Offloads follow the bridge; what the user set (GRO) stays as it is.
            let active = d.activeFeatures.subtracting(.offloads).union(d.hwFeatures.intersection(f))
            d.activeFeatures = active
            d.driver.applyOffloads(active, d)
            dp.parentFeaturesChanged(d)
        }
        dp.parentFeaturesChanged(device)
    }
}

extension Datapath {
    public func bridge(_ dev: NetDevice) -> Bridge? { bridges[dev.ifindex] }

    /// `link add NAME type bridge`
    @discardableResult
    public func addBridge(name: String, mac: MACAddress? = nil) throws(SluiceError) -> Bridge {
        let drv = BridgeDriver()
        let dev = NetDevice(name: name, kind: "bridge", mac: mac ?? MACAddress.local(seed: stableHash(name) ^ 0xb1d6e), driver: drv)
        // No IFF_MASTER: that flag is bonding's; a bridge is known by its kind (IFF_EBRIDGE).
        try register(dev)
        let br = Bridge(device: dev)
        br.addressSet = mac != nil
        if let mac { br.idAddress = mac }        // br_dev_newlink with IFLA_ADDRESS
        br.stp.designatedRoot = br.bridgeID
        dev.operstateUnknown = true   // until its first carrier change
        bridges[dev.ifindex] = br
        try br.fdb.add(dev.mac, vlan: 0, port: dev.ifindex, isStatic: true, isLocal: true, now: clock.now)
        br.recomputeFeatures(self)
        return br
    }

    /// `link set PORT master BR` (br_add_if): the port becomes promiscuous, as in Linux.
    public func enslave(_ port: NetDevice, to brDev: NetDevice) throws(SluiceError) {
        if let t = vrfTable(brDev) { try enslaveToVRF(port, brDev, table: t); return }
        // netdev_rx_handler_register: a VRF device takes no rx handler (IFF_NO_RX_HANDLER).
        if vrfTable(port) != nil { throw SluiceError("Error: \(port.name) is a VRF device and cannot be a bridge port (Invalid argument).") }
        guard let br = bridges[brDev.ifindex] else { throw SluiceError("\(brDev.name) is not a bridge") }
        // br_add_if: only Ethernet devices (not a gre tunnel's ARPHRD_IPGRE, not teql's VOID).
        if port.driver is TeqlDriver || (port.driver as? GREDriver).map({ !$0.config.tap }) == true {
            throw SluiceError("RTNETLINK answers: Invalid argument")
        }
        guard bridges[port.ifindex] == nil else { throw SluiceError("cannot enslave a bridge (\(port.name)) to a bridge") }
        if port.master == brDev.ifindex { return }
        guard port.master == 0 else {
            throw SluiceError("\(port.name) is already a port of \(device(port.master)?.name ?? "another bridge")")
        }
        // netdev_upper_dev_link refuses a loop: a device stacked on the bridge cannot be its port.
        var below: NetDevice? = port
        while let d = below, let v = vlanDriver(d) {
            guard v.parent != brDev.ifindex else { throw SluiceError("Error: \(port.name) is stacked on \(brDev.name) and cannot be its port (Device or resource busy).") }
            below = device(v.parent)
        }
        // netdev_rx_handler_register: one rx handler per device.
        guard case .none = port.rxHandler else { throw SluiceError("Error: \(port.name) already has an rx handler (Device or resource busy).") }
        // find_portno: the lowest free number; BR_MAX_PORTS ports at most.
        let used = Set(br.ports.compactMap { devices[Int($0)]?.bridgePort.portNo })
        guard let portNo = (1...UInt16(1023)).first(where: { !used.contains($0) }) else {
            throw SluiceError("Error: \(brDev.name) has 1023 ports already (Exchange full).")
        }
        try setPromiscuity(port, 1)
        setAllmulti(port, 1)                    // br_add_if
        port.rxHandler = .bridgePort(brDev.ifindex)
        // nbp_vlan_init: the port starts in the default PVID, untagged.
        let set = BridgeVLANSet()
        if br.defaultPVID != 0 { set.add(br.defaultPVID, pvid: true, untagged: true) }
        port.bridgeVLANs = set
        // br_add_if → dev_disable_lro: a bridged device must not merge what it forwards.
        port.activeFeatures.remove(.lro)
        port.master = brDev.ifindex
        port.bridgePort = BridgePortSettings()          // new_nbp
        port.bridgePort.portNo = portNo
        becomeDesignatedPort(br, port)                  // br_init_port
        port.bridgePort.cost = portCost(port)
        port.bridgePort.wasOperational = port.isOperational
        br.ports.append(port.ifindex)
        // br_fdb_add_local: the port's own address is a local entry (frames to it are the
        // bridge's); then the bridge may take a lower address from its ports.
        addLocalEntry(br, port.mac, port: port.ifindex)
        recalculateBridgeAddress(br)
        br.updatePortChecks(self)
        bridgeCarrierCheck(br)     // br_stp_recalculate_bridge_id → br_port_state_selection
        br.recomputeFeatures(self)
        bridgeGSOLimits(br)
        bridgeMTUAutoAdjust(br)
    }

    /// br_set_gso_limits, after a port is added or removed: the bridge's tso_max_size is its
    /// ports' smallest (GSO_MAX_SIZE with none), and its gso_max_size no larger.
    func bridgeGSOLimits(_ br: Bridge) {
        var size = NetDevice.gsoMaxSizeLimit
        for p in br.ports { if let d = devices[Int(p)] { size = min(size, d.tsoMaxSize) } }
        br.device.tsoMaxSize = size
        if size < br.device.gsoMaxSize { br.device.gsoMaxSize = size }
    }

    /// br_mtu_auto_adjust: unless the user set it, a bridge's MTU is its ports' smallest
    /// (br_mtu_min; 1500 with no port), after every port added, removed or changing MTU.
    func bridgeMTUAutoAdjust(_ br: Bridge) {
        guard !br.mtuSetByUser else { return }
        var m = 0
        for p in br.ports { if let d = device(p), m == 0 || d.mtu < m { m = d.mtu } }
        if m == 0 { m = 1500 }
        guard br.device.mtu != m else { return }
        br.device.mtu = m
        mtuChanged(br.device)
    }

    /// fdb_add_local: an address already local (another port has it too) stays where it is.
    func addLocalEntry(_ br: Bridge, _ mac: MACAddress, port: Int32) {
        guard mac.raw != 0 else { return }
        if let e = br.fdb.entry(mac, vlan: 0), e.isLocal { return }
        try? br.fdb.add(mac, vlan: 0, port: port, isStatic: true, isLocal: true, now: clock.now)
    }

    /// fdb_delete_local: the local entry for `mac` goes, unless another port, or the bridge,
    /// still has that address — then it becomes theirs.
    func removeLocalEntry(_ br: Bridge, _ mac: MACAddress, except dev: NetDevice) {
        guard let e = br.fdb.entry(mac, vlan: 0), e.isLocal else { return }
        if let other = br.ports.compactMap({ devices[Int($0)] }).first(where: { $0 !== dev && $0.mac == mac }) {
            try? br.fdb.add(mac, vlan: 0, port: other.ifindex, isStatic: true, isLocal: true, now: clock.now)
        } else if br.device !== dev && br.device.mac == mac {
            try? br.fdb.add(mac, vlan: 0, port: br.device.ifindex, isStatic: true, isLocal: true, now: clock.now)
        } else {
            _ = br.fdb.remove(mac, vlan: 0)
        }
    }

    /// br_stp_recalculate_bridge_id: unless the user set it, the bridge's address is its
    /// ports' lowest (all zeros with no port), and its local entry follows
    /// (br_fdb_change_mac_address).
    func recalculateBridgeAddress(_ br: Bridge) {
        guard !br.addressSet else { return }
        var lowest: MACAddress? = nil
        for p in br.ports { if let d = devices[Int(p)], lowest == nil || d.mac.raw < lowest!.raw { lowest = d.mac } }
        let new = lowest ?? MACAddress(raw: 0)
        guard new != br.idAddress else { return }
        changeBridgeAddress(br, to: new)
    }

    /// br_stp_change_bridge_id: the bridge id's address and the device's.
    func changeBridgeAddress(_ br: Bridge, to new: MACAddress) {
        let oldID = br.bridgeID
        br.idAddress = new
        let old = br.device.mac
        if let e = br.fdb.entry(old, vlan: 0), e.isLocal, e.port == br.device.ifindex { _ = br.fdb.remove(old, vlan: 0) }
        br.device.mac = new
        addLocalEntry(br, new, port: br.device.ifindex)
        stpChangeBridgeID(br, from: oldID)
        lowerAddressChanged(br.device, from: old)
    }

    /// vlan_sync_address (NETDEV_CHANGEADDR on a VLAN device's parent): a VLAN device that took
    /// its parent's address follows it; an open one with an address of its own goes on the
    /// parent's unicast list when the parent's no longer matches it, off when it now does.
    func lowerAddressChanged(_ dev: NetDevice, from old: MACAddress) {
        guard old != dev.mac else { return }
        for v in vlansOn(dev) {
            guard let drv = vlanDriver(v) else { continue }
            if drv.inheritsAddress {
                let o = v.mac
                v.mac = dev.mac
                addressChanged(v, from: o, inherited: true)
                continue
            }
            guard v.isUp else { continue }
            if v.mac != old && v.mac == dev.mac { unicastAddress(dev, v.mac, add: false) }
            if v.mac == old && v.mac != dev.mac { unicastAddress(dev, v.mac, add: true) }
        }
    }

    /// NETDEV_CHANGEADDR on a bridge (the user set its address) or on a port (br_fdb_changeaddr,
    /// then the bridge's address recalculated).
    /// `inherited`: a VLAN device following its parent's address (vlan_dev_inherit_address),
    /// which was and stays off the parent's unicast list.
    func addressChanged(_ dev: NetDevice, from old: MACAddress, inherited: Bool = false) {
        // macvlan_sync_address / vlan_dev_set_mac_address: an open upper device's address
        // moves on its lower device (rehashed, and on its unicast list); a VLAN device given
        // an address of its own no longer follows its parent's.
        if !inherited {
            if dev.isUp {
                upperAddressOnLower(dev, dev.mac, add: true)
                upperAddressOnLower(dev, old, add: false)
            }
            vlanDriver(dev)?.inheritsAddress = false
        }
        if bridges[dev.ifindex] == nil { lowerAddressChanged(dev, from: old) }
        if let br = bridges[dev.ifindex] {
            br.addressSet = true
            let new = dev.mac
            dev.mac = old
            changeBridgeAddress(br, to: new)
        } else if dev.master != 0, let br = bridges[dev.master] {
            removeLocalEntry(br, old, except: dev)
            addLocalEntry(br, dev.mac, port: dev.ifindex)
            recalculateBridgeAddress(br)
        }
    }

    /// `link set PORT nomaster` (br_del_if).
    public func release(_ port: NetDevice) throws(SluiceError) {
        if port.master != 0, let m = device(port.master), vrfTable(m) != nil { try releaseFromVRF(port, cycling: true); return }
        guard port.master != 0, let br = bridges[port.master] else { return }
        if port.bridgePort.enabled {                // del_nbp → br_stp_disable_port
            port.bridgePort.enabled = false
            stpDisablePort(br, port)
        }
        br.mdb.portGone(port.ifindex, all: true)    // br_multicast_del_port
        br.ports.removeAll { $0 == port.ifindex }
        for p in br.ports where devices[Int(p)]?.bridgePort.backupPort == port.ifindex {
            devices[Int(p)]?.bridgePort.backupPort = 0      // nbp_backup_clear
        }
        removeLocalEntry(br, port.mac, except: port)   // fdb_delete_local: shared, it stays theirs
        br.fdb.flush(port: port.ifindex, all: true)
        port.master = 0
        port.rxHandler = .none
        port.bridgeVLANs = nil
        port.bridgePort = BridgePortSettings()
        br.updatePortChecks(self)
        bridgeCarrierCheck(br)     // del_nbp → br_stp_disable_port
        recalculateBridgeAddress(br)
        port.activeFeatures = port.activeFeatures.subtracting(.offloads).union(port.hwFeatures.intersection(.offloads))
        port.driver.applyOffloads(port.activeFeatures, port)
        try setPromiscuity(port, -1)
        setAllmulti(port, -1)                   // del_nbp
        br.recomputeFeatures(self)
        bridgeGSOLimits(br)
        bridgeMTUAutoAdjust(br)
    }

    /// Deletes a device: releases it from its bridge, or releases a bridge's ports.
    public func deleteDevice(_ dev: NetDevice) throws(SluiceError) {
        // A veth goes with its peer (veth_dellink).
        let peer = vethPeer(dev)
        if let peer { (dev.driver as? VethDriver)?.peer = nil; (peer.driver as? VethDriver)?.peer = nil }
        defer { if let peer, device(peer.ifindex) === peer { try? deleteDevice(peer) } }
        // NETDEV_UNREGISTER on a real device takes its VLAN devices with it.
        for v in vlansOn(dev) { try deleteDevice(v) }
        for m in macvlansOn(dev) { try deleteDevice(m) }
        detachVLAN(dev)
        detachMacvlan(dev)
        if let br = bridges[dev.ifindex] {
            for p in br.ports { if let d = device(p) { try release(d) } }
            bridges[dev.ifindex] = nil
        } else if vrfTable(dev) != nil {
            try deleteVRF(dev)
        }
        if dev.master != 0, let m = device(dev.master), vrfTable(m) != nil {
            try? releaseFromVRF(dev, cycling: false)     // closed before NETDEV_UNREGISTER: no cycle
        } else if dev.master != 0 {
            try release(dev)
        }
        if dev.userPromisc { dev.userPromisc = false; try? setPromiscuity(dev, -1) }
        ipv4.deviceRemoved(dev.ifindex)
        ipv6.deviceRemoved(dev.ifindex)
        unregister(dev)
    }
}

/// The bridge device's own transmit (br_dev_xmit): what its own stack sends goes to the port
/// the FDB names, or is flooded to every port that is up; with VLAN filtering the frame is in
/// the bridge's own PVID (or the VLAN of its tag, if the bridge is in it) and leaves as each
/// port says.
final class BridgeDriver: NetDriver {
    override var supportedFeatures: DeviceFeatures { DeviceFeatures.offloads }
    /// Answers the bridge gave its own device's ARP and ND (NeighSuppress.swift), received
    /// through its NAPI poll as netif_rx queues them.
    var backlog = RxBacklog()
    override var hasPendingRx: Bool { !backlog.isEmpty }
    override func poll(_ dp: Datapath, _ dev: NetDevice, into batch: inout PacketBatch, budget: Int) -> Int {
        backlog.poll(dp.pool, into: &batch, budget: budget)
    }
    override func purge(_ pool: PacketPool) { backlog.purge(pool) }
    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        guard let br = dp.bridges[dev.ifindex] else {
            dp.dropBatch(dev, &batch, .noHandler, rx: false)
            return
        }
        br.deviceTransmit(&batch, dp)
    }
}

extension Bridge {
    func deviceTransmit(_ batch: inout PacketBatch, _ dp: Datapath) {
        let pool = dp.pool
        let filtering = vlanFiltering
        let checks = portChecks
        livePorts.removeAll(keepingCapacity: true)
        liveSets.removeAll(keepingCapacity: true)
        liveFlags.removeAll(keepingCapacity: true)
        for p in ports {
            guard let d = dp.devices[Int(p)], d.isOperational else { continue }
            if checks {
                guard d.bridgePort.state == BridgePortSettings.forwarding else { continue }
                liveFlags.append(d.bridgePort.flags)
            }
            livePorts.append(p)
            if filtering { liveSets.append(d.bridgeVLANs) }
        }
        let now = dp.clock.now
        let suppress = checks && neighSuppressEnabled
        var packets: UInt64 = 0, bytes: UInt64 = 0, refused: UInt64 = 0
        batch.drain { p in
            let m = pool.meta(p)
            var vid: UInt16 = 0
            if filtering {
                if m.pointee.vlanPresent && m.pointee.vlanProto == vlanProto && m.pointee.vlanTCI & 0x0FFF != 0 {
                    vid = m.pointee.vlanTCI & 0x0FFF
                    guard selfVLANs.contains(vid) else { refused += 1; pool.free(p); return }
                } else {
                    guard selfVLANs.pvid != 0 else { refused += 1; pool.free(p); return }
                    vid = selfVLANs.pvid
                    m.pointee.vlanPresent = true; m.pointee.vlanProto = vlanProto
                    m.pointee.vlanTCI = (m.pointee.vlanTCI & 0xF000) | vid
                }
            }
            packets &+= 1
            bytes &+= UInt64(m.pointee.length)
            let dst = MACAddress(at: pool.data(p))
            let fv = filtering ? Int(vid) : -1
            // br_dev_xmit: with neigh_suppress on some port, the bridge answers its own device
            // too (up its own receive path) and keeps what it answered from suppressing ports.
            let replied = suppress && proxySuppress(pool.data(p), length: Int(m.pointee.length), m, vid: vid, port: nil, dp)
            // br_flood from the bridge device: multicast and broadcast go to every port, unknown
            // unicast only to ports with `flood`; with snooping, multicast as the database says
            // (br_dev_xmit: the bridge's own stack's MLD reports join the host, port br0).
            if dst.isMulticast {
                var verdict = Datapath.SnoopVerdict.flood
                if mdb.snooping && !dst.isBroadcast { verdict = dp.snoop(self, nil, pool.data(p), length: Int(m.pointee.length), vid: vid) }
                switch verdict {
                case .routers: floodSnooped(p, dp, vid: fv, key: nil)
                case .group(let k): floodSnooped(p, dp, vid: fv, key: k)
                case .drop: pool.free(p)
                case .flood: flood(p, dp, vid: fv, need: [], replied: replied)
                }
                return
            }
            let (out, isLocal) = fdb.lookup(dst, vlan: vid, now: now, ageing: ageingTime)
            if isLocal || out == device.ifindex { pool.free(p); return }
            if out == 0 { flood(p, dp, vid: fv, need: .flood, replied: replied); return }
            if checks && !mayDeliver(out, dp, isolatedIn: false) { refused += 1; pool.free(p); return }
            if filtering && !Bridge.egressVLAN(m, dp.devices[Int(out)]?.bridgeVLANs) { refused += 1; pool.free(p); return }
            dp.stage(out, p)
        }
        device.stats.txPackets &+= packets
        device.stats.txBytes &+= bytes
        if refused > 0 { device.drop(.vlanFiltered, refused); device.stats.txDropped &+= refused }
    }
}
