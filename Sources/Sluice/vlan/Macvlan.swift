/// Principles (drivers/net/macvlan.c)
/// ----------
/// A macvlan device is a second MAC address on a lower device. The lower device's rx handler
/// (registered by the first macvlan on it, so the lower cannot also be a bridge port) sends:
/// - a unicast frame to a macvlan's address up through that macvlan (RX_HANDLER_ANOTHER: the
///   walk starts again there) — dropped if that macvlan is down — and any other unicast on to
///   the lower device's own protocol handlers (RX_HANDLER_PASS);
/// - a broadcast or multicast frame from outside to every macvlan, and on to the lower device.
/// Transmit goes out of the lower device, except in bridge mode, where a frame for another
/// bridge-mode macvlan of the same lower device goes straight to it (through the lower's
/// receive, as dev_forward_skb), and a broadcast reaches the other bridge-mode macvlans as well
/// as the wire. VEPA mode (the default) sends everything to the wire, whose switch may hairpin
/// it back; private mode neither talks to siblings nor hears their broadcasts.
/// The macvlan's carrier follows the lower device's, its MTU is at most the lower's, its
/// offloads are the lower's, and deleting the lower deletes it. Modes passthru and source are
/// not implemented (refused).
public enum MacvlanMode: UInt32, Sendable {
    case `private` = 1, vepa = 2, bridge = 4

    public var name: String {
        switch self { case .private: "private"; case .vepa: "vepa"; case .bridge: "bridge" }
    }
    public init?(name: String) {
        switch name { case "private": self = .private; case "vepa": self = .vepa; case "bridge": self = .bridge; default: return nil }
    }
}

/// The macvlans of one lower device (struct macvlan_port).
public final class MacvlanPort {
    let lower: Int32
    /// MAC → macvlan ifindex.
    var byMAC: [UInt64: Int32] = [:]
    var members: [Int32] = []
    init(lower: Int32) { self.lower = lower }
}

final class MacvlanDriver: NetDriver {
    let lower: Int32
    var mode: MacvlanMode
    var lowerFeatures: DeviceFeatures
    /// bc_queue_len_req (`bcqueuelen`, 1000 by default): what the kernel's broadcast work queue
    /// may hold. Sluice delivers broadcasts to a lower device's macvlans inline, in the same
    /// pass, so it has no such queue to bound: the value is kept and shown, as the kernel's
    /// (with the largest among the lower device's macvlans as bc_queue_len_used).
    var bcQueueLen: UInt32 = 1000

    init(lower: Int32, mode: MacvlanMode, lowerFeatures: DeviceFeatures) {
        self.lower = lower; self.mode = mode; self.lowerFeatures = lowerFeatures
    }

    override var supportedFeatures: DeviceFeatures { lowerFeatures.intersection(.offloads) }
    override var unicastFiltering: Bool { true }
    override var details: String { "mode \(mode.name)" }

    /// macvlan_queue_xmit.
    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        let pool = dp.pool
        guard case .macvlanPort(let port) = dp.devices[Int(lower)]?.rxHandler ?? .none else {
            dp.dropBatch(dev, &batch, .devDown, rx: false)
            return
        }
        let bridgeMode = mode == .bridge
        let lower = self.lower
        var packets: UInt64 = 0, bytes: UInt64 = 0
        batch.drain { p in
            packets &+= 1
            bytes &+= UInt64(pool.length(p))
            if bridgeMode {
                let dst = MACAddress(at: pool.data(p))
                if dst.isMulticast {
                    for m in port.members where m != dev.ifindex {
                        guard let d = dp.devices[Int(m)], let md = d.driver as? MacvlanDriver, md.mode == .bridge, let c = pool.clone(p) else { continue }
                        dp.divert(c, to: m, egress: false)
                    }
                } else if let m = port.byMAC[dst.raw], m != dev.ifindex,
                          let md = dp.devices[Int(m)]?.driver as? MacvlanDriver, md.mode == .bridge {
                    // dev_forward_skb to the lower device: its rx handler hands it to the sibling.
                    dp.divert(p, to: lower, egress: false)
                    return
                }
            }
            dp.stage(lower, p)
        }
        dev.stats.txPackets &+= packets
        dev.stats.txBytes &+= bytes
    }
}

extension Datapath {
    /// `link add link LOWER name NAME type macvlan [mode private|vepa|bridge]` (macvlan_common_newlink).
    @discardableResult
    public func addMacvlan(name: String, lower: NetDevice, mode: MacvlanMode = .vepa, mac: MACAddress? = nil, mtu: Int? = nil) throws(SluiceError) -> NetDevice {
        if case .bridgePort = lower.rxHandler { throw SluiceError("Error: \(lower.name) is a bridge port: it already has an rx handler (Device or resource busy).") }
        if lower.driver is MacvlanDriver { throw SluiceError("Error: macvlan: a macvlan cannot be the lower device of another (Invalid argument).") }
        if let mtu, mtu > lower.mtu { throw SluiceError("Error: mtu \(mtu) is greater than the mtu of \(lower.name), \(lower.mtu) (Invalid argument)") }
        let address = mac ?? MACAddress.local(seed: stableHash(name) ^ 0x3AC)
        let drv = MacvlanDriver(lower: lower.ifindex, mode: mode, lowerFeatures: lower.activeFeatures)
        let dev = NetDevice(name: name, kind: "macvlan", mac: address, mtu: mtu ?? lower.mtu, driver: drv)
        dev.noQueue = true
        dev.tsoMaxSize = lower.tsoMaxSize    // netif_inherit_tso_max
        dev.carrier = lower.isOperational
        try register(dev)
        let port: MacvlanPort
        if case .macvlanPort(let p) = lower.rxHandler { port = p } else { port = MacvlanPort(lower: lower.ifindex); lower.rxHandler = .macvlanPort(port) }
        port.members.append(dev.ifindex)
        return dev
    }

    /// macvlan_dellink: out of its port; the last one unregisters the lower's rx handler.
    func detachMacvlan(_ dev: NetDevice) {
        guard let drv = dev.driver as? MacvlanDriver, let lower = device(drv.lower), case .macvlanPort(let port) = lower.rxHandler else { return }
        if dev.isUp { upperAddressOnLower(dev, dev.mac, add: false) }     // dev_close first
        port.members.removeAll { $0 == dev.ifindex }
        if port.members.isEmpty { lower.rxHandler = .none }
    }

    /// macvlan_addr_busy, for a macvlan opening or taking `mac`: the lower device's own
    /// address, or another open macvlan's, is EADDRINUSE.
    func checkMacvlanAddress(_ dev: NetDevice, _ mac: MACAddress) throws(SluiceError) {
        guard let drv = dev.driver as? MacvlanDriver, let lower = device(drv.lower) else { return }
        var busy = lower.mac == mac
        if case .macvlanPort(let port) = lower.rxHandler, let m = port.byMAC[mac.raw], m != dev.ifindex { busy = true }
        if busy { throw SluiceError("RTNETLINK answers: Address already in use") }
    }

    /// What an upper device's address does to its lower one while the upper is open:
    /// macvlan_open/_stop (hashed for delivery, and on the lower's unicast list) and
    /// vlan_dev_open/_stop (on the parent's list when it differs from the parent's address).
    func upperAddressOnLower(_ dev: NetDevice, _ mac: MACAddress, add: Bool) {
        if let drv = dev.driver as? MacvlanDriver, let lower = device(drv.lower) {
            if case .macvlanPort(let port) = lower.rxHandler {
                if add { port.byMAC[mac.raw] = dev.ifindex } else if port.byMAC[mac.raw] == dev.ifindex { port.byMAC[mac.raw] = nil }
            }
            unicastAddress(lower, mac, add: add)
        } else if let v = vlanDriver(dev), let parent = device(v.parent), mac != parent.mac {
            unicastAddress(parent, mac, add: add)
        }
    }

    /// The macvlans on `dev`.
    func macvlansOn(_ dev: NetDevice) -> [NetDevice] {
        guard case .macvlanPort(let port) = dev.rxHandler else { return [] }
        return port.members.compactMap { device($0) }
    }

    /// macvlan_handle_frame for a batch on the lower device: what is for a macvlan goes up
    /// through it; broadcasts from outside reach every macvlan and stay for the lower too.
    func macvlanReceive(_ lower: NetDevice, _ port: MacvlanPort, _ batch: inout PacketBatch, depth: Int) {
        let pool = self.pool
        guard depth + 1 < Self.maxVLANDepth else { return }
        // Broadcasts and multicasts: a clone to each macvlan (from outside: all modes; from a
        // VEPA sibling, hairpinned back: all but the sender; from bridge or private siblings:
        // VEPA ones only, as bridge ones saw it on the way out).
        for i in 0..<batch.count {
            let idx = batch.index(at: i)
            let frame = VLANEdit.frame(pool, idx)
            guard MACAddress(at: frame).isMulticast else { continue }
            let srcMode = port.byMAC[MACAddress(at: frame + 6).raw].flatMap { (devices[Int($0)]?.driver as? MacvlanDriver)?.mode }
            let srcIndex = port.byMAC[MACAddress(at: frame + 6).raw] ?? 0
            for m in port.members where m != srcIndex {
                guard let d = devices[Int(m)], d.isUp, let md = d.driver as? MacvlanDriver else { continue }
                if let srcMode, srcMode != .vepa && md.mode != .vepa { continue }
                guard let c = pool.clone(Packet(index: idx)) else { d.drop(.noBuffer); continue }
                divert(c, to: m, egress: false)
            }
        }
        // Unicast to a macvlan's address: up through it (in runs, like vlan_do_receive).
        while true {
            var target: Int32 = 0
            for i in 0..<batch.count {
                let dst = MACAddress(at: VLANEdit.frame(pool, batch.index(at: i)))
                if !dst.isMulticast, let m = port.byMAC[dst.raw] { target = m; break }
            }
            guard target != 0 else { return }
            let up = vlanBatches + depth
            batch.filter({ p in
                let dst = MACAddress(at: pool.data(p))
                return dst.isMulticast || port.byMAC[dst.raw] != target
            }, reject: { up.pointee.append($0) })
            guard let vdev = devices[Int(target)], vdev.isUp else {
                if let vdev = devices[Int(target)] { dropBatch(vdev, &up.pointee, .devDown, rx: true) } else { up.pointee.freeAll(pool) }
                continue
            }
            var packets: UInt64 = 0, bytes: UInt64 = 0
            for i in 0..<up.pointee.count {
                let m = pool.metas + Int(up.pointee.index(at: i))
                m.pointee.ifindex = target
                packets &+= 1; bytes &+= UInt64(m.pointee.length)
            }
            vdev.stats.rxPackets &+= packets
            vdev.stats.rxBytes &+= bytes
            receiveCore(vdev, &up.pointee, depth: depth + 1)
        }
    }
}
