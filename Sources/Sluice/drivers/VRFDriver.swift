/// Principles (drivers/net/vrf.c, net/l3mdev/l3mdev.c, Documentation/networking/vrf.rst)
/// ----------
/// A VRF device is an L3 master: it owns one routing table, and the devices enslaved to it
/// (`link set DEV master VRF`) route in that table instead of main. Nothing else changes
/// for them — they keep their addresses, neighbours and qdiscs; a bridge (with its ports)
/// can be enslaved like any other device.
/// - Creating the first VRF adds the l3mdev rule to both families' rules (priority 1000,
///   proto kernel, `lookup [l3mdev-table]`) once, as vrf_add_fib_rules; it is never removed
///   with the VRF (the kernel keeps it for the namespace). Deleting it by hand turns VRFs off.
/// - The rule matches a flow that is in a VRF: an output device that is the VRF device or one
///   of its slaves (a reply, an ICMP error, `route get … vrf NAME`), else an input device that
///   is (a forwarded or delivered packet: vrf_ip_rcv makes the VRF device its input device).
///   The lookup is the VRF's table; if it has no route the walk goes on to the rules after
///   (so a VRF table wants an `unreachable default` of a high metric, as vrf.rst advises).
/// - A slave's connected, local, broadcast and multicast routes are made in the VRF's table
///   (fib_magic and addrconf with l3mdev_fib_table). Enslaving and releasing flush every
///   route through the device (NETDEV_CHANGEUPPER: fib_disable_ip with force, and
///   addrconf_ifdown — its IPv6 addresses go, keep_addr_on_down being 0) and cycle it down
///   and up if it was up (cycle_netdev), so its routes are made again in the right table.
/// - The VRF device itself: flags MASTER|NOARP, no queue, MTU 65575 (1280…65575), no IPv6
///   link-local address and no multicast route (addrconf skips L3 masters). Its table id is
///   given at creation (IFLA_VRF_TABLE, required, not 0) and shown with `-d`; several VRFs may
///   share a table (the kernel's default, non-strict mode).
/// - What is sent to the VRF device (a route `dev VRF`, e.g. leaking from another table) is
///   routed again in its table (vrf_xmit → vrf_process_v4/v6_outbound). Unlike the kernel, a
///   route there that leads to a VRF device again (itself: the kernel delivers locally;
///   another: the kernel nests up to XMIT_RECURSION_LIMIT) is dropped and counted.
///
/// - `sysctl net.vrf.strict_mode=1`: a table belongs to one VRF (a second one for it is EBUSY,
///   "Table is used by another VRF"; turning it on while two share one is EBUSY).
///
/// Not done: the VRF's own sockets (Sluice has none: `ip vrf exec` needs cgroups and is not
/// netlink), netfilter hooks on the VRF device. What
/// enters a slave counts as received on the VRF device too (vrf_rx_stats).
final class VRFDriver: NetDriver {
    let table: UInt32

    init(table: UInt32) { self.table = table }

    override var supportedFeatures: DeviceFeatures { .offloads }
    override var details: String { "table \(table)" }

    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        let pool = dp.pool
        batch.drain { p in
            let len = Int(pool.meta(p).pointee.length)
            let frame = pool.data(p)
            let ip = frame + InetWire.ethernetLength
            // Routed again in this VRF's table; a route that leads to a VRF device again is
            // dropped, so no packet can circle between VRF devices.
            func leadsToVRF(_ out: Int32?) -> Bool { out.map { dp.devices[Int($0)]?.driver is VRFDriver } ?? true }
            switch len >= InetWire.ethernetLength + InetWire.ipv4Length ? EthernetHeader(unchecked: Bytes(frame, count: InetWire.ethernetLength)).etherType : 0 {
            case EtherType.ipv4:
                let dst = IPv4Header(unchecked: Bytes(ip, count: InetWire.ipv4Length)).destination
                guard !leadsToVRF(dp.ipv4.fib.output(dst, hash: 0, from: dev.ifindex)?.dev) else { break }
                dev.stats.txPackets &+= 1; dev.stats.txBytes &+= UInt64(len)
                dp.ipv4.output(p, dst: dst, from: dev.ifindex)
                return
            case EtherType.ipv6 where len >= InetWire.ethernetLength + Inet6Wire.ipv6Length:
                let dst = Inet6Wire.destination(ip)
                guard !leadsToVRF(dp.ipv6.fib.output(dst, hash: 0, from: dev.ifindex)?.dev) else { break }
                dev.stats.txPackets &+= 1; dev.stats.txBytes &+= UInt64(len)
                dp.ipv6.output(p, dst: dst, dev: nil, from: dev.ifindex)
                return
            default: break
            }
            dev.stats.txDropped &+= 1; dev.drop(.txError); pool.free(p)
        }
    }
}

extension Datapath {
    /// `link add NAME type vrf table ID` (vrf_newlink).
    @discardableResult
    public func addVRF(name: String, table: UInt32, mac: MACAddress? = nil, mtu: Int? = nil) throws(SluiceError) -> NetDevice {
        guard table != 0 else { throw SluiceError("Error: Invalid VRF table id (Invalid argument).") }
        // vrf_map_register_dev: in strict mode a table is one VRF's.
        if vrfStrictMode && allDevices.contains(where: { vrfTable($0) == table }) {
            throw SluiceError("Error: Table is used by another VRF (Device or resource busy).")
        }
        let dev = NetDevice(name: name, kind: "vrf", mac: mac ?? .local(seed: stableHash(name) ^ 0x3F), mtu: mtu ?? 65575, driver: VRFDriver(table: table))
        // vrf_dev_init: dev->flags = IFF_MASTER | IFF_NOARP (no broadcast, no multicast).
        dev.flags = [.master, .noARP]
        dev.noQueue = true
        try register(dev)
        let t = table
        ipv4.fib.l3mdev[dev.ifindex] = (t, dev.ifindex)
        ipv6.fib.l3mdev[dev.ifindex] = (t, dev.ifindex)
        _ = ipv4.fib.newTable(t)
        _ = ipv6.fib.newTable(t)
        // vrf_add_fib_rules, once: the l3mdev rule in each family (EEXIST is fine).
        if !vrfRulesAdded {
            vrfRulesAdded = true
            addL3mdevRule(ipv4.fib)
            addL3mdevRule(ipv6.fib)
        }
        return dev
    }

    private func addL3mdevRule<A: InetAddressValue>(_ fib: FIBOf<A>) {
        var r = FIBRuleOf<A>()
        r.priority = 1000; r.l3mdev = 1; r.proto = RouteProtocol.kernel
        try? fib.addRule(r, priorityGiven: true, exclusive: true)
    }

    /// vrf_rx_stats: a packet that entered `dev`, a slave of a VRF, is counted as received by
    /// the VRF device as well.
    func vrfReceived(_ dev: NetDevice, bytes: Int) {
        let v = ipv4.fib.l3mdevMaster(dev.ifindex)
        guard v != 0, v != dev.ifindex, let vd = devices[Int(v)] else { return }
        vd.stats.rxPackets &+= 1
        vd.stats.rxBytes &+= UInt64(bytes)
    }

    /// `sysctl net.vrf.strict_mode` (vrf_strict_mode_change): strict mode cannot be turned on
    /// while two VRFs share a table (EBUSY).
    public func setVRFStrictMode(_ on: Bool) throws(SluiceError) {
        if on && !vrfStrictMode {
            let tables = allDevices.compactMap(vrfTable)
            guard Set(tables).count == tables.count else {
                throw SluiceError("sysctl: setting key \"net.vrf.strict_mode\": Device or resource busy")
            }
        }
        vrfStrictMode = on
    }

    /// The table of a VRF device, or nil for any other device.
    public func vrfTable(_ dev: NetDevice) -> UInt32? { (dev.driver as? VRFDriver)?.table }

    /// vrf_add_slave's and do_vrf_add_slave's refusals.
    func checkVRFSlave(_ port: NetDevice) throws(SluiceError) {
        if vrfTable(port) != nil { throw SluiceError("Error: Can not enslave an L3 master device to a VRF (Invalid argument).") }
        if port.flags.contains(.loopback) { throw SluiceError("Error: Can not enslave loopback device to a VRF (Operation not supported).") }
    }

    /// vrf_add_slave: the device routes in the VRF's table from now on.
    func enslaveToVRF(_ port: NetDevice, _ vrf: NetDevice, table: UInt32) throws(SluiceError) {
        if port.master == vrf.ifindex { return }
        try checkVRFSlave(port)
        guard port.master == 0 else { throw SluiceError("Error: \(port.name) already has a master (Invalid argument).") }
        port.master = vrf.ifindex
        ipv4.fib.l3mdev[port.ifindex] = (table, vrf.ifindex)
        ipv6.fib.l3mdev[port.ifindex] = (table, vrf.ifindex)
        try l3mdevChanged(port)
    }

    /// vrf_del_slave: back to the main tables (without the cycle for a device being deleted).
    func releaseFromVRF(_ port: NetDevice, cycling: Bool) throws(SluiceError) {
        guard port.master != 0, device(port.master).flatMap(vrfTable) != nil else { return }
        port.master = 0
        ipv4.fib.l3mdev[port.ifindex] = nil
        ipv6.fib.l3mdev[port.ifindex] = nil
        if cycling { try l3mdevChanged(port) }
    }

    /// NETDEV_CHANGEUPPER to or from an L3 master: every route through the device goes (its
    /// local ones too) and its IPv6 addresses with them; then cycle_netdev brings it down and
    /// up, so its routes are made again, in the table it now belongs to.
    private func l3mdevChanged(_ port: NetDevice) throws(SluiceError) {
        ipv4.fib.deleteRoutes(through: port.ifindex, deviceGone: true)
        ipv6.fib.deleteRoutes(through: port.ifindex, deviceGone: true)
        ipv4.flushNeighbours(dev: port.ifindex, all: false)
        if port.isUp {
            try setUp(port, false)
            try setUp(port, true)
        } else {
            ipv6.deviceStateChanged(port)      // down: addrconf_ifdown
        }
    }

    /// vrf_dellink: its slaves are released first.
    func deleteVRF(_ dev: NetDevice) throws(SluiceError) {
        for d in allDevices where d.master == dev.ifindex { try releaseFromVRF(d, cycling: true) }
        ipv4.fib.l3mdev[dev.ifindex] = nil
        ipv6.fib.l3mdev[dev.ifindex] = nil
    }
}
