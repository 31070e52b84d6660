/// Principles (net/8021q)
/// ----------
/// A VLAN device sits on a parent (its real device) and owns one VLAN id of one tag protocol
/// (802.1Q or 802.1ad) on it, as net/8021q's vlan_dev:
/// - Receive (vlan_do_receive): a frame arriving on the parent whose outer tag — moved into the
///   packet's metadata first, as skb_vlan_untag — names a VLAN device becomes that device's
///   frame: the tag is consumed, PCP becomes the packet's priority through ingress-qos-map, and
///   the frame walks the receive path again from the VLAN device (tc ingress, its own VLAN
///   devices for QinQ, its rx handler). A tag naming no VLAN device goes on to the parent's
///   rx handler (a bridge) with the tag still held.
/// - Transmit (vlan_dev_hard_start_xmit): the tag (VLAN id, PCP from egress-qos-map of the
///   packet's priority) is put in the metadata and the frame is queued on the parent, whose
///   transmit inserts it into the frame when the parent cannot (validate_xmit_vlan). A frame
///   that already holds a tag (QinQ) has it pushed into the frame first, so the new tag is the
///   outer one. With reorder_hdr off, a frame already tagged in-band with the device's protocol
///   is sent as it is.
/// - State follows the parent: the VLAN device has carrier only while the parent is up with
///   carrier (netif_stacked_transfer_operstate); it cannot be set up while the parent is down
///   unless loose_binding is on; the parent going down takes it down, and going up brings it up
///   (vlan_device_event); deleting the parent deletes it. Its MTU defaults to, and may not
///   exceed, the parent's; a parent MTU below it lowers it. Its offloads are the parent's.
/// - While up, the VLAN device holds a promiscuity (and allmulti) reference on the parent for
///   each of its own (vlan_dev_change_rx_flags), so a VLAN device in a bridge makes the parent
///   promiscuous.
/// - The VLAN device has no queue (IFF_NO_QUEUE): its default root qdisc is noqueue.
public struct VLANFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let reorderHdr = VLANFlags(rawValue: 0x1)
    public static let gvrp = VLANFlags(rawValue: 0x2)
    public static let looseBinding = VLANFlags(rawValue: 0x4)
    public static let mvrp = VLANFlags(rawValue: 0x8)
    public static let bridgeBinding = VLANFlags(rawValue: 0x10)
    public static let all: VLANFlags = [.reorderHdr, .gvrp, .looseBinding, .mvrp, .bridgeBinding]

    /// iproute2's `<REORDER_HDR,GVRP,…>` names, in its order.
    public var names: [String] {
        var n: [String] = []
        if contains(.reorderHdr) { n.append("REORDER_HDR") }
        if contains(.gvrp) { n.append("GVRP") }
        if contains(.mvrp) { n.append("MVRP") }
        if contains(.looseBinding) { n.append("LOOSE_BINDING") }
        if contains(.bridgeBinding) { n.append("BRIDGE_BINDING") }
        return n
    }
}

/// The VLAN devices on one parent, indexed by protocol and id (the kernel's vlan_group).
final class VLANGroup {
    /// ifindex of the VLAN device for [proto slot × 4096 + vid], or 0.
    var table = [Int32](repeating: 0, count: 2 * 4096)
    var count = 0

    @inline(__always)
    static func slot(_ proto: UInt16) -> Int? {
        switch proto {
        case EtherType.vlan: 0
        case EtherType.qinq: 1
        default: nil
        }
    }

    @inline(__always)
    func find(proto: UInt16, vid: UInt16) -> Int32 {
        guard let s = Self.slot(proto) else { return 0 }
        return table[s &* 4096 &+ Int(vid & 0x0FFF)]
    }
}

/// The VLAN device's driver: no wire; transmit tags and queues on the parent.
final class VLANDriver: NetDriver {
    /// The real device's ifindex (vlan->real_dev).
    let parent: Int32
    let proto: UInt16
    let vid: UInt16
    var flags: VLANFlags = .reorderHdr
    /// PCP → skb priority (ingress_priority_map).
    var ingressMap = [UInt32](repeating: 0, count: 8)
    /// skb priority → PCP, in the kernel's order: 16 buckets by priority & 0xF, newest first
    /// within a bucket (egress_priority_map); entries set to 0 stay, as in the kernel.
    var egressMap: [(priority: UInt32, pcp: UInt8)] = []
    /// It was made without an address and follows its parent's (NET_ADDR_STOLEN).
    var inheritsAddress = false
    /// Whether this device holds a promiscuity / allmulti reference on its parent.
    var holdsPromisc = false
    var holdsAllmulti = false
    /// The parent's offloads when the device was made or the parent's last changed.
    var parentFeatures: DeviceFeatures

    override var unicastFiltering: Bool { true }

    init(parent: Int32, proto: UInt16, vid: UInt16, parentFeatures: DeviceFeatures) {
        self.parent = parent
        self.proto = proto
        self.vid = vid
        self.parentFeatures = parentFeatures
    }

    override var supportedFeatures: DeviceFeatures { parentFeatures.intersection(.offloads) }

    var ingressMappings: Int { ingressMap.filter { $0 != 0 }.count }
    var egressMappings: Int { egressMap.filter { $0.pcp != 0 }.count }

    /// vlan_dev_set_egress_priority.
    func setEgress(priority: UInt32, pcp: UInt8) {
        if let i = egressMap.firstIndex(where: { $0.priority == priority }) {
            egressMap[i].pcp = pcp & 7
            return
        }
        // A new entry goes first in its bucket; keep the array in dump order.
        let bucket = priority & 0xF
        let at = egressMap.firstIndex { $0.priority & 0xF >= bucket } ?? egressMap.count
        egressMap.insert((priority, pcp & 7), at: at)
    }

    /// vlan_dev_get_egress_qos_mask: the PCP bits of the TCI for a packet's priority.
    @inline(__always)
    func egressQoS(_ priority: UInt32) -> UInt16 {
        if egressMap.isEmpty { return 0 }
        for e in egressMap where e.priority == priority { return UInt16(e.pcp) << 13 }
        return 0
    }

    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        let pool = dp.pool
        let parent = self.parent
        guard dp.device(parent) != nil else {
            dp.dropBatch(dev, &batch, .devDown, rx: false)
            return
        }
        let reorder = flags.contains(.reorderHdr)
        var packets: UInt64 = 0, bytes: UInt64 = 0
        batch.drain { p in
            let m = pool.meta(p)
            // The frame's own tag (if any) is already in the frame: this device has no VLAN
            // transmit offload, so validate_xmit_vlan put it there.
            if reorder || VLANEdit.etherType(pool, p.index) != proto {
                m.pointee.vlanPresent = true
                m.pointee.vlanProto = proto
                m.pointee.vlanTCI = vid | egressQoS(m.pointee.priority)
            }
            packets &+= 1
            bytes &+= UInt64(m.pointee.length)
            dp.stage(parent, p)
        }
        dev.stats.txPackets &+= packets
        dev.stats.txBytes &+= bytes
    }

    override var details: String {
        "protocol \(proto == EtherType.qinq ? "802.1ad" : "802.1Q") id \(vid) <\(flags.names.joined(separator: ","))>"
    }
}

extension Datapath {
    /// The VLAN driver of `dev`, if it is a VLAN device.
    func vlanDriver(_ dev: NetDevice) -> VLANDriver? { dev.driver as? VLANDriver }

    /// `link add link PARENT name NAME type vlan id N [protocol …]` (vlan_newlink): checks as
    /// vlan_validate and vlan_check_real_dev, MTU from the parent.
    @discardableResult
    public func addVLAN(name: String, parent: NetDevice, id: Int, proto: UInt16 = EtherType.vlan,
                        mtu: Int? = nil, mac: MACAddress? = nil) throws(SluiceError) -> NetDevice {
        guard proto == EtherType.vlan || proto == EtherType.qinq else {
            throw SluiceError("Error: 8021q: Invalid VLAN protocol.")
        }
        guard (0..<4095).contains(id) else { throw SluiceError("Error: 8021q: Invalid VLAN id.") }
        var depth = 0
        var p: NetDevice? = parent
        while let d = p, let v = vlanDriver(d) { depth += 1; p = device(v.parent) }
        guard depth < Self.maxVLANDepth - 1 else {
            throw SluiceError("Error: 8021q: too many nested VLAN devices on \(parent.name), at most \(Self.maxVLANDepth) (Device or resource busy)")
        }
        if let g = parent.vlanGroup, g.find(proto: proto, vid: UInt16(id)) != 0 {
            throw SluiceError("Error: 8021q: VLAN device already exists.")
        }
        if let mtu, mtu > parent.mtu { throw SluiceError("Error: mtu \(mtu) is greater than the mtu of \(parent.name), \(parent.mtu) (Numerical result out of range)") }
        let drv = VLANDriver(parent: parent.ifindex, proto: proto, vid: UInt16(id), parentFeatures: parent.activeFeatures)
        let dev = NetDevice(name: name, kind: "vlan", mac: mac ?? parent.mac, mtu: mtu ?? parent.mtu, driver: drv)
        drv.inheritsAddress = mac == nil
        dev.noQueue = true
        dev.carrier = false
        try register(dev)
        let g = parent.vlanGroup ?? VLANGroup()
        parent.vlanGroup = g
        g.table[VLANGroup.slot(proto)! * 4096 + id] = dev.ifindex
        g.count += 1
        return dev
    }

    /// unregister_vlan_dev: out of the parent's group, the parent's references returned.
    func detachVLAN(_ dev: NetDevice) {
        guard let v = vlanDriver(dev), let parent = device(v.parent) else { return }
        if dev.isUp { upperAddressOnLower(dev, dev.mac, add: false) }      // dev_close first
        releaseParentFlags(dev, v)
        if let g = parent.vlanGroup, let s = VLANGroup.slot(v.proto) {
            if g.table[s * 4096 + Int(v.vid)] == dev.ifindex { g.table[s * 4096 + Int(v.vid)] = 0; g.count -= 1 }
            if g.count == 0 { parent.vlanGroup = nil }
        }
    }

    /// The VLAN devices stacked on `dev`, in ifindex order.
    func vlansOn(_ dev: NetDevice) -> [NetDevice] {
        guard dev.vlanGroup != nil else { return [] }
        return allDevices.filter { vlanDriver($0)?.parent == dev.ifindex }
    }

    /// vlan_dev_open / vlan_dev_stop and vlan_dev_change_rx_flags: while the VLAN device is up
    /// its promiscuity and allmulti are passed on to the parent.
    func syncParentFlags(_ dev: NetDevice) {
        guard let v = vlanDriver(dev), let parent = device(v.parent) else { return }
        let wantPromisc = dev.isUp && dev.promiscuity > 0
        if wantPromisc != v.holdsPromisc {
            if (try? setPromiscuity(parent, wantPromisc ? 1 : -1)) != nil { v.holdsPromisc = wantPromisc }
        }
        let wantAllmulti = dev.isUp && dev.allmulti > 0
        if wantAllmulti != v.holdsAllmulti {
            v.holdsAllmulti = wantAllmulti
            setAllmulti(parent, wantAllmulti ? 1 : -1)
        }
    }

    func releaseParentFlags(_ dev: NetDevice, _ v: VLANDriver) {
        guard let parent = device(v.parent) else { return }
        if v.holdsPromisc { try? setPromiscuity(parent, -1); v.holdsPromisc = false }
        if v.holdsAllmulti { v.holdsAllmulti = false; setAllmulti(parent, -1) }
    }

    /// netif_stacked_transfer_operstate for every VLAN device on `dev`, and vlan_device_event's
    /// NETDEV_UP / NETDEV_DOWN: the parent going down takes its VLAN devices down (unless
    /// loose_binding), going up brings them up; carrier follows the parent's operational state.
    /// IF_OPER_* as the kernel's linkwatch sets it: UP; without carrier LOWERLAYERDOWN for a
    /// device stacked on another (its iflink is not itself: a veth's peer, a VLAN's or macvlan's
    /// lower device) and DOWN for the rest (default_operstate); lo, dummy, vxlan and a fresh
    /// bridge leave theirs alone: UNKNOWN while running.
    public func operState(_ d: NetDevice) -> OperState {
        if !d.isUp { return .down }
        if d.operstateUnknown { return .unknown }
        if d.isOperational { return .up }
        let stacked = vethPeer(d) != nil || vlanDriver(d) != nil || d.driver is MacvlanDriver
        return stacked ? .lowerLayerDown : .down
    }

    func parentStateChanged(_ dev: NetDevice, adminChanged: Bool) {
        // fib_sync_down_dev / fib_sync_up and IPv6's rt6_sync_down_dev / rt6_sync_up: the
        // routes through the device mark it, and their bounds are redone.
        ipv4.fib.syncDevice(dev.ifindex, operational: dev.isOperational)
        ipv6.fib.syncDevice(dev.ifindex, operational: dev.isOperational)
        // nh_netdev_event NETDEV_CHANGE: a device up without carrier (neither RUNNING nor
        // LOWER_UP) takes its nexthop objects, and their routes, with it.
        if dev.isUp && !dev.isOperational {
            flushNexthops(dev: dev.ifindex)
            // arp_netdev_event and ndisc_netdev_event, NETDEV_CHANGE without carrier: with
            // {arp,ndisc}_evict_nocarrier (all's and the device's) the device's neighbours
            // but the permanent ones go (neigh_carrier_down).
            if dev.inet4.arpEvictNocarrier { ipv4.flushNeighbours(dev: dev.ifindex) }
            if dev.inet6.ndiscEvictNocarrier { ipv6.flushNeighbours(dev: dev.ifindex) }
        }
        ipv6.linkReady(dev)
        // br_stp_disable_port, then br_stp_enable_port when it returns: a bridge port that went
        // down comes back forwarding, whatever state it was given.
        if dev.master != 0 && dev.isOperational != dev.bridgePort.wasOperational {
            dev.bridgePort.wasOperational = dev.isOperational
            // br_port_carrier_check: a port that comes up has its cost recomputed, unless set.
            if dev.isOperational && !dev.bridgePort.adminCost { dev.bridgePort.cost = portCost(dev) }
            // br_stp_enable_port starts it over (blocking, then what the spanning tree selects).
            if let br = bridges[dev.master], br.device.isUp { bridgeCarrierCheck(br) }
        }
        if adminChanged && dev.isUp, let br = bridges[dev.ifindex] {
            stpEnableBridge(br)                      // br_stp_enable_bridge, then its ports
            bridgeCarrierCheck(br, opening: true)
        }
        // macvlan_device_event NETDEV_CHANGE: macvlans take the lower's operational state.
        for m in macvlansOn(dev) where m.carrier != dev.isOperational {
            m.carrier = dev.isOperational
            parentStateChanged(m, adminChanged: false)
        }
        guard dev.vlanGroup != nil else { return }
        for v in vlansOn(dev) {
            guard let drv = vlanDriver(v) else { continue }
            if adminChanged && !drv.flags.contains(.looseBinding) && v.isUp != dev.isUp {
                if dev.isUp { v.flags.insert(.up); activateQdisc(v) } else { v.flags.remove(.up) }
                upperAddressOnLower(v, v.mac, add: dev.isUp)
                syncParentFlags(v)
                ipv4.deviceStateChanged(v)
                ipv6.deviceStateChanged(v)
            }
            let carrier = dev.isOperational
            if v.carrier != carrier { v.carrier = carrier }
            parentStateChanged(v, adminChanged: adminChanged)
        }
    }

    /// NETDEV_CHANGEMTU: VLAN and macvlan devices above the new MTU come down to it, and the
    /// bridge the device is a port of follows its ports' smallest (br_device_event).
    func mtuChanged(_ dev: NetDevice) {
        ipv6.mtuChanged(dev)
        for v in vlansOn(dev) + macvlansOn(dev) where v.mtu > dev.mtu {
            v.mtu = dev.mtu
            mtuChanged(v)
        }
        if dev.master != 0, let br = bridges[dev.master] { bridgeMTUAutoAdjust(br) }
    }

    /// NETDEV_FEAT_CHANGE on the parent: the VLAN devices' offloads follow.
    func parentFeaturesChanged(_ dev: NetDevice) {
        for v in vlansOn(dev) {
            guard let drv = vlanDriver(v) else { continue }
            drv.parentFeatures = dev.activeFeatures
            let off = dev.activeFeatures.intersection(.offloads)
            let before = v.hwFeatures
            v.hwFeatures = v.hwFeatures.subtracting(.offloads).union(off)
            v.activeFeatures = v.activeFeatures.subtracting(.offloads).union(off)
            // Only a real change travels on (a device and its VLAN device may share a bridge).
            guard v.hwFeatures != before else { continue }
            if v.master != 0, let br = bridges[v.master] { br.recomputeFeatures(self) }
            parentFeaturesChanged(v)
        }
    }

    /// vlan_do_receive for a batch the parent's receive path found tagged for `vdev`: the tag
    /// is consumed (or, with reorder_hdr off on a device that is not a bridge port, put back in
    /// the frame), PCP becomes the priority, and the device counts the frames.
    func vlanReceive(_ vdev: NetDevice, _ v: VLANDriver, _ batch: inout PacketBatch) {
        let pool = self.pool
        let reinsert = !v.flags.contains(.reorderHdr) && vdev.master == 0
        let map = v.ingressMap
        var packets: UInt64 = 0, bytes: UInt64 = 0, mcast: UInt64 = 0, failed: UInt64 = 0
        let ifindex = vdev.ifindex
        batch.compact { idx in
            var m = pool.metas + Int(idx)
            if reinsert {
                guard let w = pool.writableIndex(idx) else { failed += 1; pool.free(Packet(index: idx)); return false }
                idx = w
                m = pool.metas + Int(w)
            }
            m.pointee.priority = map[Int(m.pointee.vlanTCI >> 13)]
            m.pointee.ifindex = ifindex
            if reinsert {
                if !VLANEdit.pushMetadataTag(pool, idx) { failed += 1; pool.free(Packet(index: idx)); return false }
            } else {
                m.pointee.vlanPresent = false
                m.pointee.vlanTCI = 0
                m.pointee.vlanProto = 0
            }
            packets &+= 1
            // vlan_do_receive counts skb->len: past the Ethernet header and a reinserted tag.
            bytes &+= UInt64(m.pointee.length) &- UInt64(EthernetHeader.length + (reinsert ? EthernetHeader.vlanTagLength : 0))
            if VLANEdit.frame(pool, idx).load(as: UInt8.self) & 1 != 0 { mcast &+= 1 }
            return true
        }
        vdev.stats.rxPackets &+= packets
        vdev.stats.rxBytes &+= bytes
        vdev.stats.multicast &+= mcast
        if failed > 0 { vdev.stats.rxDropped &+= failed; vdev.drop(.noBuffer, failed) }
    }
}
