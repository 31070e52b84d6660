import CSluiceLinux
#if canImport(Glibc)
import Glibc
#endif

/// Principles
/// ----------
/// What a registered EtherType goes to (struct packet_type's func, as an enum: no existential
/// and no closure per packet).
public enum ProtocolHandler: Sendable { case ipv4, arp, ipv6 }

/// One `Datapath` per worker thread owns a packet pool, the devices, the bridges and the NAPI
/// poll list. A pass of `runOnce` is the kernel's softirq: wait for readiness in epoll when no
/// device is being polled ("interrupt mode"), otherwise poll the devices on the poll list as
/// `net_rx_action` does — each up to its weight, all of them together up to `budget` packets
/// and `timeLimit` nanoseconds. A device whose poll returned fewer than its weight leaves the
/// list (napi_complete) and waits in epoll again; a busy one goes to the tail of the list.
///
/// Received batches go through `receive` (length checks, statistics, the device's rx handler);
/// forwarded packets are staged per egress device and flushed in batches after each poll,
/// through `transmit` (dev_queue_xmit: state, MTU, checksum and GSO checks) into the driver.
public final class Datapath {
    public let pool: PacketPool
    public let clock: DatapathClock
    /// tc actions by kind and index (act_api's per-namespace tables).
    let tcActions = ActionTable()
    /// Packets one `net_rx_action` pass may process in all (netdev_budget, default 300).
    public var budget = 300
    /// Time one pass may take (netdev_budget_usecs, default 2000 µs).
    public var timeLimit: UInt64 = 2 * Time.ms
    /// How often bridges age their FDB.
    public var housekeepingInterval: UInt64 = 1 * Time.s

    public static let maxDevices = 1024
    public internal(set) var devices: [NetDevice?] = [nil]
    var byName: [String: Int32] = [:]
    var bridges: [Int32: Bridge] = [:]
    /// The l3mdev rules were added (by the first VRF made; VRFDriver.swift).
    var vrfRulesAdded = false
    /// net.vrf.strict_mode: a table belongs to one VRF at most.
    public internal(set) var vrfStrictMode = false
    /// Bridge by port ifindex; filled on enslave.
    var freeIfindexes: [Int32] = []

    // NAPI poll list: a ring of ifindexes.
    let pollRing: UnsafeMutablePointer<Int32>
    var pollHead = 0, pollCount = 0
    /// Passes that stopped on budget or time with work left (softnet_stat's time_squeeze).
    public internal(set) var timeSqueeze: UInt64 = 0
    public internal(set) var rxActionRuns: UInt64 = 0

    // Transmit staging: per device, a queue linked through the pool (skb->next), so staging
    // never has to flush. Only `flushTransmit` — the loop that owns `flushBatch` — sends staged
    // packets; an action (mirred) or the bridge only stages. Nothing re-enters a flush.
    let stageHead: UnsafeMutablePointer<UInt32>
    let stageTail: UnsafeMutablePointer<UInt32>
    /// Devices with staged packets, in the order they were first staged to (per round).
    let dirty: UnsafeMutablePointer<Int32>
    var dirtyCount = 0
    /// Rounds of flushing one `flushTransmit` runs: packets staged while flushing (mirred from a
    /// transmit hook or a qdisc's filters) are sent in the next round. Beyond the last round
    /// they are dropped and counted, as the kernel's MIRRED_NEST_LIMIT (4) bounds recursion.
    static let transmitRounds = 5

    /// The batch a NAPI poll receives into.
    var rxBatch = PacketBatch()
    /// The devices again, unretained, for per-packet lookups that must not count references
    /// (set and cleared with `devices`).
    let deviceRefs: UnsafeMutablePointer<Unmanaged<NetDevice>?>
    /// One batch per level of VLAN stacking, for the frames vlan_do_receive hands up a level.
    let vlanBatches: UnsafeMutablePointer<PacketBatch>
    /// How deep VLAN devices may stack (the kernel's MAX_NEST_DEV).
    public static let maxVLANDepth = 8
    /// The GRO list: filled during one device's poll and emptied at its end (napi_complete),
    /// so one serves every device in turn.
    let gro: GRO
    /// Registered protocol handlers, EtherType by EtherType (ptype_base; a few, searched in order).
    var protocolTypes: [UInt16] = [EtherType.ipv4, EtherType.arp, EtherType.ipv6]
    var protocolHandlers: [ProtocolHandler] = [.ipv4, .arp, .ipv6]
    /// The IPv4 stack (addresses, FIB, neighbours); devices with an address take part.
    public private(set) lazy var ipv4 = IPv4Stack(dp: self)
    /// Nexthop objects (`ip nexthop`), shared by both families' routes.
    public let nexthops = NexthopTable()
    /// The IPv6 stack; devices with an IPv6 address take part.
    public private(set) lazy var ipv6 = IPv6Stack(dp: self)
    /// The batch `flushTransmit` hands to `transmit` (one owner: the flush loop).
    var flushBatch = PacketBatch()
    /// The batch `qdiscRun` dequeues into before the driver.
    var txBatch = PacketBatch()
    /// Where software GSO builds the batch of segments that replaces a batch of super-frames.
    var gsoBatch = PacketBatch()
    /// Packets mirred sent to a device's ingress (their target ifindex in `meta.ifindex`),
    /// received by `processDiverted` after the current batch: no recursion into `receive`.
    var diverted = PacketQueue()
    var divertBatch = PacketBatch()
    /// The aggregates GRO held for a device, when a poll without packets completes them.
    var groFlushBatch = PacketBatch()

    let epfd: Int32
    let timerFD: Int32
    var timerArmed: UInt64 = 0
    static let timerToken: UInt64 = UInt64.max - 1
    /// The RTMGRP_LINK socket that tells kernel-backed ports their interface's state
    /// (KernelLinks.swift), opened with the first such port; -1 until then.
    var kernelLinkFD: Int32 = -1
    static let kernelLinkToken: UInt64 = UInt64.max - 2
    /// When the first bridge FDB collection is due (0: none).
    var bridgeGCDue: UInt64 = 0
    /// The earliest spanning tree timer of any bridge (STP.swift), 0 when none runs.
    var stpDue: UInt64 = 0
    /// The earliest multicast database expiry of any bridge (Multicast.swift), 0 when none.
    var mcastDue: UInt64 = 0
    /// Ports whose STP state changed since their bridge last settled (STP.swift).
    var stpChanged: Set<Int32> = []
    /// Ports whose state changed, for AF_BRIDGE RTM_NEWLINK notifications (br_ifinfo_notify);
    /// taken by the control server.
    var portStateEvents: [Int32] = []
    /// Devices with a pending tx timer or more to send (small list, no allocation once grown).
    var txWork: [Int32] = []
    /// The vxlan devices (by ifindex), for the UDP handler that finds a datagram's device
    /// without walking every device.
    var vxlanIfindexes: [Int32] = []
    /// qdisc_run quota: packets per device per run before yielding to others (dev_tx_weight × 4).
    public var txQuota = 256
    let tokens: UnsafeMutablePointer<UInt64>
    let events: UnsafeMutablePointer<UInt32>
    let wakeFD: Int32
    static let wakeToken: UInt64 = UInt64.max
    var nextHousekeeping: UInt64 = 0
    /// Called on the worker between passes: the control plane's requests are answered here
    /// (see ControlServer), never in the middle of a batch.
    public var controlHook: (() -> Void)?
    /// Lines for the operator (driver failures); the runtime prints and clears them.
    public var log: (String) -> Void = { print("sluice: \($0)") } {
        didSet { SimpleData.sink = log }    // act_simple's lines go where the datapath logs
    }

    public init(poolSize: Int = 4096, clock: DatapathClock = .real()) {
        pool = PacketPool(capacity: poolSize)
        deviceRefs = .allocate(capacity: Self.maxDevices)
        deviceRefs.initialize(repeating: nil, count: Self.maxDevices)
        vlanBatches = .allocate(capacity: Self.maxVLANDepth)
        for i in 0..<Self.maxVLANDepth { (vlanBatches + i).initialize(to: PacketBatch()) }
        gro = GRO(pool: pool)
        self.clock = clock
        pollRing = .allocate(capacity: Self.maxDevices)
        stageHead = .allocate(capacity: Self.maxDevices)
        stageHead.initialize(repeating: PacketQueue.empty, count: Self.maxDevices)
        stageTail = .allocate(capacity: Self.maxDevices)
        stageTail.initialize(repeating: PacketQueue.empty, count: Self.maxDevices)
        dirty = .allocate(capacity: Self.maxDevices * (Self.transmitRounds + 1))
        epfd = csl_epoll_create()
        wakeFD = csl_eventfd()
        _ = csl_epoll_add(epfd, wakeFD, Self.wakeToken)
        tokens = .allocate(capacity: 64)
        timerFD = csl_timerfd()
        _ = csl_epoll_add(epfd, timerFD, Self.timerToken)
        txWork.reserveCapacity(Self.maxDevices)
        events = .allocate(capacity: 64)
        nextHousekeeping = clock.now &+ housekeepingInterval
    }

    deinit {
        shutdown()
        pollRing.deallocate(); stageHead.deallocate(); stageTail.deallocate(); dirty.deallocate()
        tokens.deallocate(); events.deallocate()
        vlanBatches.deinitialize(count: Self.maxVLANDepth); vlanBatches.deallocate()
        deviceRefs.deallocate()
        Glibc.close(epfd); Glibc.close(wakeFD); Glibc.close(timerFD)
        if kernelLinkFD >= 0 { Glibc.close(kernelLinkFD) }
    }

    /// Closes every driver (deleting the kernel interfaces Sluice created) and frees staged packets.
    public func shutdown() {
        flushTransmit()
        for case let dev? in devices.reversed() {
            dropHeldGRO(dev)
            dev.qdisc?.purge()
            dev.requeued.purge(pool)
            dev.driver.purge(pool)
            dev.driver.close()
        }
        diverted.purge(pool)
        // What the protocol stacks hold: packets waiting for a neighbour, fragments waiting
        // for the rest of their datagram.
        ipv4.neighbours.purgeQueues(pool); ipv4.frags.purgeAll(pool)
        ipv6.neighbours.purgeQueues(pool); ipv6.frags.purgeAll(pool)
        rxBatch.freeAll(pool)
        txBatch.freeAll(pool)
        groFlushBatch.freeAll(pool)
    }

    /// Wakes a worker blocked in `runOnce` (any thread).
    public func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: registry

    public func device(named name: String) -> NetDevice? {
        byName[name].flatMap { devices[Int($0)] }
    }

    /// A device's alternative names, which name lookups find as its own (the kernel's name
    /// nodes); the caller checked that none is in use.
    func setAltNames(_ dev: NetDevice, _ names: [String]) {
        for n in dev.altNames { byName[n] = nil }
        for n in names { byName[n] = dev.ifindex }
        dev.altNames = names
    }

    /// dev_change_name: a valid name (dev_valid_name: 1 to 15 bytes, not "." or "..", no '/',
    /// ':' or white space) that no other device has (EEXIST); the kernel allows it while up.
    public func rename(_ dev: NetDevice, to name: String) throws(SluiceError) {
        guard name != dev.name else { return }
        guard !name.isEmpty, name.utf8.count < 16, name != ".", name != "..",
              !name.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace }) else {
            throw SluiceError("Error: \"\(name)\" is not a valid device name (Invalid argument)")
        }
        guard byName[name] == nil else { throw SluiceError("Error: device \(name) already exists (File exists)") }
        byName[dev.name] = nil
        byName[name] = dev.ifindex
        dev.name = name
        rulesFollowDevices()
    }

    /// fib_rules_event: rules naming a device by name attach when it appears (register, rename)
    /// and detach when it goes.
    func rulesFollowDevices() {
        // A rule's device name is matched against the device's name only, not its altnames.
        let index = { [unowned self] (n: String) -> Int32? in byName[n].flatMap { devices[Int($0)]?.name == n ? $0 : nil } }
        ipv4.fib.devicesChanged(index)
        ipv6.fib.devicesChanged(index)
    }

    public func device(_ ifindex: Int32) -> NetDevice? {
        ifindex > 0 && Int(ifindex) < devices.count ? devices[Int(ifindex)] : nil
    }

    public var allDevices: [NetDevice] { devices.compactMap { $0 } }

    @discardableResult
    func register(_ dev: NetDevice) throws(SluiceError) -> NetDevice {
        guard byName[dev.name] == nil else { throw SluiceError("device \(dev.name) already exists") }
        guard dev.name.utf8.count < 16, !dev.name.isEmpty else { throw SluiceError("invalid device name \"\(dev.name)\" (1 to 15 bytes)") }
        let idx: Int32
        if let f = freeIfindexes.popLast() { idx = f } else {
            guard devices.count < Self.maxDevices else { throw SluiceError("too many devices (\(Self.maxDevices))") }
            idx = Int32(devices.count)
            devices.append(nil)
        }
        dev.ifindex = idx
        if clock.mode == .real { dev.napi.busyPollNs = defaultBusyPollNs }
        ipv4.deviceAdded(dev)
        ipv6.deviceAdded(dev)
        do {
            try dev.driver.attach(dev, self)
        } catch {
            freeIfindexes.append(idx)
            throw error
        }
        devices[Int(idx)] = dev
        deviceRefs[Int(idx)] = Unmanaged.passUnretained(dev)
        byName[dev.name] = idx
        rulesFollowDevices()
        // dev->qdisc starts as noop_qdisc; dev_activate attaches the default on first up.
        dev.qdisc = dev.isUp ? defaultQdisc(for: dev) : NoopQdisc(env: qdiscEnv(dev))
        watchKernelLink(dev)
        let fd = dev.driver.pollFD
        if fd >= 0 && (dev.driver.kernelLinkIndex == 0 || dev.carrier) {
            _ = csl_epoll_add(epfd, fd, UInt64(idx))
        }
        return dev
    }

    func unregister(_ dev: NetDevice) {
        let idx = dev.ifindex
        let fd = dev.driver.pollFD
        if fd >= 0 { _ = csl_epoll_del(epfd, fd) }
        flushTransmit()
        removeFromPollList(idx)
        dropHeldGRO(dev)
        dev.qdisc?.purge()
        dev.requeued.purge(pool)
        dev.driver.purge(pool)
        txWork.removeAll { $0 == idx }
        dev.driver.close()
        devices[Int(idx)] = nil
        deviceRefs[Int(idx)] = nil
        byName[dev.name] = nil
        for n in dev.altNames { byName[n] = nil }
        freeIfindexes.append(idx)
        rulesFollowDevices()
    }

    // MARK: device state

    /// dev_set_promiscuity: the driver hears about it only when the count crosses zero.
    public func setPromiscuity(_ dev: NetDevice, _ delta: Int) throws(SluiceError) {
        let old = dev.promiscuity
        let new = old + delta
        guard new >= 0 else { throw SluiceError("\(dev.name): promiscuity count would go negative") }
        if (old == 0) != (new == 0) { try dev.driver.setPromiscuous(new > 0, dev) }
        dev.promiscuity = new
        if (old == 0) != (new == 0) { syncParentFlags(dev) }
    }

    /// dev_uc_add / dev_uc_del on `dev` (counted per address), then __dev_set_rx_mode.
    func unicastAddress(_ dev: NetDevice, _ mac: MACAddress, add: Bool) {
        if add { dev.unicastList[mac.raw, default: 0] += 1 } else if let n = dev.unicastList[mac.raw] {
            dev.unicastList[mac.raw] = n > 1 ? n - 1 : nil
        }
        syncRxMode(dev)
    }

    /// __dev_set_rx_mode: a device that is up and filters no unicast addresses is promiscuous
    /// while its unicast list is not empty (a device that is down keeps what it had).
    func syncRxMode(_ dev: NetDevice) {
        guard dev.isUp, !dev.driver.unicastFiltering else { return }
        let want = !dev.unicastList.isEmpty
        if want != dev.ucPromisc, (try? setPromiscuity(dev, want ? 1 : -1)) != nil { dev.ucPromisc = want }
    }

    /// dev_set_allmulti: a count of holders (a bridge port, `allmulticast on`, a VLAN device
    /// above); a VLAN device passes crossing zero on to its parent.
    public func setAllmulti(_ dev: NetDevice, _ delta: Int) {
        let old = dev.allmulti
        dev.allmulti = max(0, old + delta)
        if (old == 0) != (dev.allmulti == 0) { syncParentFlags(dev) }
    }

    /// Turns software features on or off (ethtool -K: gro, rx-udp-gro-forwarding).
    public func setFeatures(_ dev: NetDevice, _ f: DeviceFeatures, on: Bool) throws(SluiceError) {
        let soft: DeviceFeatures = [.gro, .udpGROForwarding, .lro]
        guard soft.isSuperset(of: f) else { throw SluiceError("Error: only gro, lro and rx-udp-gro-forwarding can be changed on \(dev.name)") }
        // dev_disable_lro / netdev_sync_upper_features: no LRO on a device that forwards.
        if on && f.contains(.lro) && dev.master != 0 {
            throw SluiceError("Error: \(dev.name) is a bridge port: LRO would change the segments it forwards (the kernel turns LRO off on bridged devices)")
        }
        if on { dev.activeFeatures.formUnion(f) } else { dev.activeFeatures.subtract(f) }
        parentFeaturesChanged(dev)
    }

    /// gro_max_size (IFLA_GRO_MAX_SIZE): at most 65536, as the kernel's GRO_LEGACY_MAX_SIZE
    /// without BIG TCP.
    public func setGROMaxSize(_ dev: NetDevice, _ size: Int) throws(SluiceError) {
        guard (0...65536).contains(size) else { throw SluiceError("Error: gro_max_size \(size) is larger than 65536") }
        dev.groMaxSize = size
    }

    public func setUp(_ dev: NetDevice, _ up: Bool) throws(SluiceError) {
        guard dev.isUp != up else { return }
        if up, let v = vlanDriver(dev) {
            // vlan_dev_open: the real device must be up, unless loose binding.
            let parent = device(v.parent)
            if !(parent?.isUp ?? false) && !v.flags.contains(.looseBinding) {
                throw SluiceError("Error: \(dev.name): its parent \(parent?.name ?? "?") is down (Network is down; loose_binding on allows it).")
            }
            dev.carrier = parent?.isOperational ?? false
        }
        // macvlan_open: an address the lower device or another open macvlan has is refused.
        if up { try checkMacvlanAddress(dev, dev.mac) }
        try dev.driver.setAdminUp(up, dev)
        if up { dev.flags.insert(.up) } else { dev.flags.remove(.up); dropHeldGRO(dev) }
        if up { activateQdisc(dev) }
        if up { syncRxMode(dev) }
        upperAddressOnLower(dev, dev.mac, add: up)
        // br_stp_enable_bridge schedules the FDB's collection 100 ms after the bridge opens;
        // br_stp_disable_bridge cancels it.
        if let br = bridges[dev.ifindex] {
            scheduleBridgeGC(br, at: up ? clock.now &+ 100 * Time.ms : 0)
            // br_multicast_open / br_multicast_stop.
            setSnoopers(br, joined: up && br.mdb.snooping, atOpen: true)
            // __br_multicast_open_query: the bridge's own query (up its own stack) starts over.
            if up && br.mdb.querier {
                br.mdb.ownQueries[br.device.ifindex] = MulticastDB.OwnQuery(at: [clock.now, clock.now], sent: [0, 0])
                armMulticast(clock.now)
            }
            if !up {
                selectPortStates(br)     // br_stp_disable_bridge: every port disabled
                stpDisableBridge(br)
            }
        }
        syncParentFlags(dev)
        ipv4.deviceStateChanged(dev)
        ipv6.deviceStateChanged(dev)
        parentStateChanged(dev, adminChanged: true)
        if let peer = vethPeer(dev) { parentStateChanged(peer, adminChanged: false) }
    }

    /// dev_activate: a device still on noop_qdisc gets its default root qdisc.
    func activateQdisc(_ dev: NetDevice) {
        if dev.qdisc is NoopQdisc { dev.qdisc = defaultQdisc(for: dev) }
    }

    /// The device's multicast address list (dev->mc) as the kernel's protocols fill it:
    /// IPv6's all-nodes (and all-routers when forwarding) from the device's creation, IPv4's
    /// all-hosts when it comes up, the solicited-node group of each IPv6 address as it is added,
    /// a bridge's all-snoopers groups while it is open with snooping on. A down while the link
    /// was ready (ipv6_mc_down) takes IPv6's away, the link's next readiness (ipv6_mc_up) puts
    /// them back after what NETDEV_UP added (ip_mc_up); IPv4's go at every down. Not for lo
    /// (not Ethernet). A subnet-router anycast group is joined once its address's DAD is done.
    /// `bridge fdb show` lists it as `self permanent` (ndo_dflt_fdb_dump).
    public func multicastList(_ dev: NetDevice) -> [MACAddress] {
        stackMulticastList(dev) + dev.userMulticast
    }

    static let allSnoopersV4: UInt32 = 0xE000_006A
    static let allSnoopersV6: UInt128 = UInt128(0xFF02) << 112 | 0x6A

    func stackMulticastList(_ dev: NetDevice) -> [MACAddress] {
        if dev.flags.contains(.loopback) { return [] }
        var six: [UInt64] = [0x3333_0000_0001]
        if dev.inet6.forwarding { six.append(0x3333_0000_0002) }
        guard dev.isUp else { return dev.inet6McState == .sinceCreation ? six.map { MACAddress(raw: $0) } : [] }
        let snoopers = bridges[dev.ifindex]?.snoopers
        let snooperMACs: [UInt64] = [0x0100_5E00_006A, 0x3333_0000_006A]
        var list: [UInt64] = []
        if dev.inet6McState == .sinceCreation { list += six }
        if snoopers?.atOpen == true { list += snooperMACs }
        list.append(0x0100_5E00_0001)
        // ipv6_mc_up walks its list newest first.
        if dev.inet6McState == .reloaded { list += six.reversed() }
        // Then what was joined since, in order: addresses' solicited-node groups
        // (addrconf_join_solict, not on a NOARP device) and, forwarding, their subnet-router
        // anycast's (addrconf_join_anycast, not for /127 and /128); snoopers joined later.
        var joined: [(seq: UInt64, macs: [UInt64])] = []
        for a in ipv6.addresses[dev.ifindex] ?? [] where !dev.flags.contains(.noARP) {
            var groups = [a.address]
            if dev.inet6.forwarding && a.usable && a.prefixLen < 127 && a.network != 0 { groups.append(a.network) }
            joined.append((a.joined, groups.map { 0x3333_FF00_0000 | UInt64(truncatingIfNeeded: $0) & 0xFF_FFFF }))
        }
        if let snoopers, !snoopers.atOpen { joined.append((snoopers.seq, snooperMACs)) }
        for m in joined.sorted(by: { $0.seq < $1.seq }).flatMap(\.macs) where !list.contains(m) { list.append(m) }
        return list.map { MACAddress(raw: $0) }
    }

    /// The IPv6 groups the device has joined (idev->mc_list, newest first) with their users:
    /// ff01::1 and ff02::1 from its creation, ff02::2 when forwarding, then each address's
    /// solicited-node group (and, forwarding, its subnet-router anycast's once DAD is done)
    /// and a snooping bridge's ff02::6a, as they were joined.
    /// A device that went down keeps the first three (ipv6_mc_down leaves the list; its
    /// addresses, and their groups, are gone).
    public func ipv6Groups(_ dev: NetDevice) -> [(group: UInt128, users: Int)] {
        var joined: [(UInt128, Int)] = [(UInt128(0xFF01) << 112 | 1, 1), (UInt128(0xFF02) << 112 | 1, 1)]
        if dev.inet6.forwarding && !dev.flags.contains(.loopback) { joined.append((UInt128(0xFF02) << 112 | 2, 1)) }
        var later: [(seq: UInt64, groups: [UInt128])] = []
        // addrconf_join_solict: not on lo or a NOARP device.
        for a in ipv6.addresses[dev.ifindex] ?? [] where !dev.flags.contains(.noARP) && !dev.flags.contains(.loopback) {
            var groups = [a.address]
            if dev.inet6.forwarding && a.usable && a.prefixLen < 127 && a.network != 0 { groups.append(a.network) }
            later.append((a.joined, groups.map { Inet6Wire.solicitedNode($0) }))
        }
        if let s = bridges[dev.ifindex]?.snoopers { later.append((s.seq, [Self.allSnoopersV6])) }
        for g in later.sorted(by: { $0.seq < $1.seq }).flatMap(\.groups) {
            if let i = joined.firstIndex(where: { $0.0 == g }) { joined[i].1 += 1 } else { joined.append((g, 1)) }
        }
        return joined.reversed().map { ($0.0, $0.1) }
    }

    /// The IPv4 groups an up device has joined (in_dev->mc_list, newest first): 224.0.0.1
    /// (ip_mc_up) and a snooping bridge's 224.0.0.106, joined at its open (before NETDEV_UP)
    /// or when snooping was turned on.
    public func ipv4Groups(_ dev: NetDevice) -> [UInt32] {
        guard dev.isUp else { return [] }
        guard let s = bridges[dev.ifindex]?.snoopers else { return [0xE000_0001] }
        return s.atOpen ? [0xE000_0001, Self.allSnoopersV4] : [Self.allSnoopersV4, 0xE000_0001]
    }

    /// br_multicast_join_snoopers / br_multicast_leave_snoopers: the bridge's device joins the
    /// all-snoopers groups while it is open with snooping on. Sluice sends no reports for them.
    func setSnoopers(_ br: Bridge, joined: Bool, atOpen: Bool = false) {
        if !joined { br.snoopers = nil; return }
        guard br.snoopers == nil else { return }
        ipv6.joinCounter &+= 1
        br.snoopers = (ipv6.joinCounter, atOpen)
    }

    /// The driver reported a fatal error: stop waiting on it and drop its carrier.
    func driverFailed(_ dev: NetDevice) {
        guard !dev.driverFailed else { return }
        dev.driverFailed = true
        let fd = dev.driver.pollFD
        if fd >= 0 { _ = csl_epoll_del(epfd, fd) }
        if dev.carrier {
            dev.carrier = false
            parentStateChanged(dev, adminChanged: false)
        }
        log("\(dev.name): \(dev.driver.failureReason() ?? "driver failed"); carrier off, other ports keep forwarding")
    }

    // MARK: NAPI

    /// napi_schedule: puts the device's queue on the poll list (entering polling mode).
    public func napiSchedule(_ dev: NetDevice) {
        guard !dev.napi.scheduled, dev.carrier else { return }
        dev.napi.scheduled = true
        dev.napi.pollModeEntries &+= 1
        pollRing[(pollHead + pollCount) % Self.maxDevices] = dev.ifindex
        pollCount += 1
    }

    func removeFromPollList(_ idx: Int32) {
        var kept = 0
        for i in 0..<pollCount {
            let v = pollRing[(pollHead + i) % Self.maxDevices]
            if v != idx { pollRing[(pollHead + kept) % Self.maxDevices] = v; kept += 1 }
        }
        pollCount = kept
    }

    public var pollListCount: Int { pollCount }

    /// net_rx_action: polls the list under the budget and the time limit. Returns packets received.
    @discardableResult
    public func netRxAction() -> Int {
        rxActionRuns &+= 1
        var budget = self.budget
        let deadline = clock.now &+ timeLimit
        var total = 0
        // Polls this pass may still make: one per scheduled queue, plus one more each time a
        // queue uses its whole weight. A busy-polling queue that found nothing waits for the
        // next pass, so spinning never keeps the worker from its transmit work and timers.
        var remaining = pollCount
        while pollCount > 0 && remaining > 0 {
            remaining -= 1
            let idx = pollRing[pollHead]
            pollHead = (pollHead + 1) % Self.maxDevices
            pollCount -= 1
            guard let dev = devices[Int(idx)] else { continue }
            let weight = dev.napi.weight
            gro.heldAtPollEnd = false
            let work = napiPoll(dev, weight: weight)
            total += work
            budget -= work
            dev.napi.polls &+= 1
            var busy = false
            if dev.napi.busyPollNs > 0 {
                let now = clock.now
                if work > 0 { dev.napi.lastWork = now }
                busy = now &- dev.napi.lastWork < dev.napi.busyPollNs
                if busy && work == 0 { dev.napi.busyPolls &+= 1 }
            }
            if work >= weight && dev.carrier {
                // Used its whole weight: stays in polling mode, at the tail.
                dev.napi.fullPolls &+= 1
                pollRing[(pollHead + pollCount) % Self.maxDevices] = idx
                pollCount += 1
                remaining += 1
            } else if busy && dev.carrier {
                pollRing[(pollHead + pollCount) % Self.maxDevices] = idx
                pollCount += 1
            } else {
                dev.napi.scheduled = false
                napiCompleteDone(dev, work: work, groHeld: gro.heldAtPollEnd)
            }
            if budget <= 0 || clock.now >= deadline {
                if pollCount > 0 && remaining > 0 { timeSqueeze &+= 1 }
                break
            }
        }
        return total
    }

    /// napi_complete_done for a queue that left the poll list: with `napi_defer_hard_irqs` and
    /// `gro_flush_timeout` set, a poll that found packets keeps the queue's interrupt (its epoll
    /// interest) masked and its timer polls it again after the timeout, up to that many times
    /// in a row without packets; then the interrupt is re-armed. With a timeout and no deferral,
    /// a poll that left GRO holding a flow arms the timer with the interrupt re-armed.
    func napiCompleteDone(_ dev: NetDevice, work: Int, groHeld: Bool) {
        var timeout: UInt64 = 0
        if work > 0 {
            if groHeld { timeout = dev.napi.groFlushTimeoutNs }
            dev.napi.deferCount = dev.napi.deferHardIrqs
        }
        var masked = false
        if dev.napi.deferCount > 0 {
            dev.napi.deferCount -= 1
            timeout = dev.napi.groFlushTimeoutNs
            masked = timeout != 0
        }
        if masked { dev.napi.deferredCompletions &+= 1 } else { dev.napi.interruptModeEntries &+= 1 }
        setInterruptMasked(dev, masked)
        // gro_flush_normal(…, !!timeout): with a timer coming only what is older than this
        // jiffy goes up; without one, everything the device held.
        if dev.groHeldCount > 0 { flushHeldGRO(dev, keepYoung: timeout != 0) }
        if timeout != 0 {
            // ns_to_ktime: a timeout past S64_MAX is a negative ktime, which expires at once.
            let delay = timeout > UInt64(Int64.max) ? 1 : timeout
            let now = clock.now
            let due = delay > UInt64(Int64.max) - now ? UInt64(Int64.max) : now + delay
            dev.napi.timerDue = due
            if napiTimerDue == 0 || due < napiTimerDue { napiTimerDue = due }
        }
    }

    /// Masks or re-arms a queue's interrupt: its descriptor's EPOLLIN interest, or for a driver
    /// without one, whether the worker's pass schedules it.
    func setInterruptMasked(_ dev: NetDevice, _ masked: Bool) {
        guard dev.napi.irqMasked != masked else { return }
        dev.napi.irqMasked = masked
        let fd = dev.driver.pollFD
        if fd >= 0 && !dev.driverFailed { _ = csl_epoll_mod(epfd, fd, UInt64(dev.ifindex), masked ? 0 : 1) }
    }

    /// This poll's GRO may keep young aggregates for the next (set around napiPoll's receive).
    var groHold = false

    /// The aggregates `dev`'s GRO holds, completed (all, or those of an earlier jiffy) and sent
    /// up the stack as the poll's received packets would be.
    func flushHeldGRO(_ dev: NetDevice, keepYoung: Bool) {
        gro.flushHeld(dev, &groFlushBatch, keepYoung: keepYoung, now: clock.now)
        if !groFlushBatch.isEmpty { receive(dev, &groFlushBatch, gro: false) }
        processDiverted()
        flushTransmit()
        settleDiverted()
    }

    /// A device that goes down or away drops what GRO held for it (counted as rx_dropped).
    func dropHeldGRO(_ dev: NetDevice) {
        let n = gro.dropHeld(dev)
        if n > 0 { dev.stats.rxDropped &+= UInt64(n); dev.drop(.devDown, UInt64(n)) }
    }

    /// The earliest NAPI timer (hrtimer of napi_complete_done); 0: none armed.
    var napiTimerDue: UInt64 = 0

    /// napi_watchdog: each queue whose timer is due is scheduled. One that cannot be (no
    /// carrier) gets its interrupt back, so nothing stays masked with no timer to end it.
    func runNAPITimers() {
        let now = clock.now
        napiTimerDue = 0
        for case let d? in devices where d.napi.timerDue != 0 {
            if d.napi.timerDue > now {
                if napiTimerDue == 0 || d.napi.timerDue < napiTimerDue { napiTimerDue = d.napi.timerDue }
                continue
            }
            d.napi.timerDue = 0
            if d.napi.scheduled { continue }
            napiSchedule(d)
            if d.napi.scheduled {
                d.napi.timerPolls &+= 1
            } else {
                d.napi.deferCount = 0
                setInterruptMasked(d, false)
            }
        }
    }

    /// One NAPI poll of `dev`: receive up to `weight`, process, flush transmits.
    func napiPoll(_ dev: NetDevice, weight: Int) -> Int {
        // Room in the batch for the aggregates GRO holds for this device.
        let n = dev.driver.poll(self, dev, into: &rxBatch, budget: min(weight, PacketBatch.capacity - dev.groHeldCount))
        let resume = dev.driver.rxResumeAt
        if resume != 0 && (rxResumeDue == 0 || resume < rxResumeDue) { rxResumeDue = resume }
        if n > 0 {
            // With gro_flush_timeout, GRO keeps this jiffy's aggregates for the next poll unless
            // this one used its whole weight (napi_poll then flushes everything at HZ < 1000).
            // A busy window's end, or the timer's poll, completes without packets: all go up.
            let hold = dev.napi.groFlushTimeoutNs != 0 && n < weight
            groHold = hold
            if dev.groHeldCount > 0 && !dev.activeFeatures.contains(.gro) { flushHeldGRO(dev, keepYoung: false) }
            receive(dev, &rxBatch, gro: true)
            groHold = false
        }
        processDiverted()
        flushTransmit()
        settleDiverted()
        if dev.driver.failureReason() != nil { driverFailed(dev) }
        return n
    }

    /// One pass of the worker: wait (interrupt mode) or peek (polling mode) for ready devices,
    /// schedule them, run net_rx_action, then timers. `timeoutMs` bounds the wait.
    public func runOnce(timeoutMs: Int32) {
        let wait = (pollCount > 0 || hasAlwaysReady() || hasTxPending()) ? 0 : timeoutMs
        armTimer()
        let n = csl_epoll_wait(epfd, tokens, events, 64, wait)
        for i in 0..<Int(max(n, 0)) {
            let token = tokens[i]
            if token == Self.timerToken {
                var v: UInt64 = 0
                _ = read(timerFD, &v, 8)
                timerArmed = 0
                continue
            }
            if token == Self.wakeToken {
                var v: UInt64 = 0
                _ = read(wakeFD, &v, 8)
                continue
            }
            if token == Self.kernelLinkToken { readKernelLinks(); continue }
            guard let dev = device(Int32(truncatingIfNeeded: token)) else { continue }
            // A masked queue's descriptor re-added meanwhile (carrier, a netback ring): mask it
            // again and leave the queue to its timer.
            if dev.napi.irqMasked {
                dev.napi.irqMasked = false
                setInterruptMasked(dev, true)
                continue
            }
            napiSchedule(dev)
        }
        if napiTimerDue != 0 && clock.now >= napiTimerDue { runNAPITimers() }
        scheduleAlwaysReady()
        netRxAction()
        runTxWork()
        housekeeping()
        let nt = ipv4.nextTimer, nt6 = ipv6.nextTimer
        if nt != 0 && clock.now >= nt { ipv4.runTimers(); flushTransmit() }
        if nt6 != 0 && clock.now >= nt6 { ipv6.runTimers(); flushTransmit() }
        let np = ipv4.nextProxyReply
        if np != 0 && clock.now >= np { ipv4.runProxyQueue(clock.now); flushTransmit() }
        let np6 = ipv6.nextProxyReply
        if np6 != 0 && clock.now >= np6 { ipv6.runProxyQueue(clock.now); flushTransmit() }
        if bridgeGCDue != 0 && clock.now >= bridgeGCDue { runBridgeGC() }
        if ipv6.dadDue != 0 && clock.now >= ipv6.dadDue { ipv6.runDAD(); flushTransmit() }
        if ipv6.mldDue != 0 && clock.now >= ipv6.mldDue { ipv6.runMLD(); flushTransmit() }
        if ipv4.igmpDue != 0 && clock.now >= ipv4.igmpDue { ipv4.runIGMP(); flushTransmit() }
        if stpDue != 0 && clock.now >= stpDue { runSTPTimers(); flushTransmit() }
        if mcastDue != 0 && clock.now >= mcastDue { runMulticastTimers(); flushTransmit() }
        if rxResumeDue != 0 && clock.now >= rxResumeDue { resumeWaitingDrivers() }
        if estimatorsDue != 0 && clock.now >= estimatorsDue { runEstimators() }
        if portStateEvents.count > 4096 { portStateEvents.removeFirst(portStateEvents.count - 4096) }
        controlHook?()
        // The groups the stacks report may have changed (MLD.swift, IGMPListener.swift).
        if ipv6.mldDirty { ipv6.mldSync(); ipv4.igmpSync(); flushTransmit() }
    }

    /// The earliest step of a rate estimator (gen_estimator's timers); 0: none.
    var estimatorsDue: UInt64 = 0

    /// TCA_RATE on a qdisc: qdisc_create's gen_new_estimator, qdisc_change's
    /// gen_replace_estimator; a multiqueue root (mq) takes none (refused when made).
    func attachEstimator(_ q: Qdisc, _ wire: ArraySlice<UInt8>, create: Bool) throws(SluiceError) {
        if q is MQQdisc && q.parent == .root {
            if create { throw SluiceError("Error: Cannot attach rate estimator to a multi-queue root qdisc (Operation not supported).") }
            return
        }
        let s = q.statsSnapshot()
        let e = try RateEstimator(wire: wire, bytes: s.bytes, packets: s.packets, now: clock.now)
        q.estimator = e
        noteEstimator(e.nextDue)
    }

    /// TCA_RATE on an htb class (htb_change_class's gen_new/replace_estimator).
    func attachEstimator(_ c: HTBClass, _ wire: ArraySlice<UInt8>) throws(SluiceError) {
        let e = try RateEstimator(wire: wire, bytes: c.stats.bytes, packets: c.stats.packets, now: clock.now)
        c.estimator = e
        noteEstimator(e.nextDue)
    }

    /// A rate estimator was made or replaced: its first step may be the earliest.
    func noteEstimator(_ due: UInt64) {
        if estimatorsDue == 0 || due < estimatorsDue { estimatorsDue = due }
    }

    /// est_timer for every estimator that is due (qdiscs' and htb classes'), each reading its
    /// own counters; the earliest next step is kept. Off the packet path: at most once per
    /// 250 ms per estimator.
    func runEstimators() {
        let now = clock.now
        var next: UInt64 = 0
        func keep(_ t: UInt64) { if next == 0 || t < next { next = t } }
        func visit(_ q: Qdisc) {
            if var e = q.estimator {
                if now >= e.nextDue { let s = q.statsSnapshot(); e.tick(bytes: s.bytes, packets: s.packets, now: now); q.estimator = e }
                keep(e.nextDue)
            }
            if let h = q as? HTBQdisc {
                for c in h.classesByID.values {
                    guard var e = c.estimator else { continue }
                    if now >= e.nextDue { e.tick(bytes: c.stats.bytes, packets: c.stats.packets, now: now); c.estimator = e }
                    keep(e.nextDue)
                }
            }
            for c in q.childQdiscs() { visit(c) }
        }
        for d in allDevices {
            visit(d.qdisc)
            if let ing = d.ingress { visit(ing) }
        }
        estimatorsDue = next
    }

    /// The earliest time a driver asked to be polled again (`rxResumeAt`); 0: none.
    var rxResumeDue: UInt64 = 0

    /// Schedules the devices whose drivers' resume time came (a vif's credit timeout), and
    /// keeps the earliest of the others.
    func resumeWaitingDrivers() {
        let now = clock.now
        rxResumeDue = 0
        for case let d? in devices {
            let t = d.driver.rxResumeAt
            guard t != 0 else { continue }
            if t <= now { napiSchedule(d) } else if rxResumeDue == 0 || t < rxResumeDue { rxResumeDue = t }
        }
    }

    func hasAlwaysReady() -> Bool {
        for case let d? in devices where d.driver.pollFD < 0 && !d.napi.irqMasked && d.carrier && d.driver.hasPendingRx { return true }
        return false
    }

    func scheduleAlwaysReady() {
        for case let d? in devices where d.driver.pollFD < 0 && !d.napi.irqMasked && d.driver.hasPendingRx { napiSchedule(d) }
    }

    /// Drops a whole batch, counted on the device (rx_dropped or tx_dropped, and the reason).
    func dropBatch(_ dev: NetDevice, _ batch: inout PacketBatch, _ reason: DropReason, rx: Bool) {
        let n = UInt64(batch.count)
        if rx { dev.stats.rxDropped &+= n } else { dev.stats.txDropped &+= n }
        dev.drop(reason, n)
        batch.freeAll(pool)
    }

    /// mirred: hands `p` to `ifindex`, to transmit (egress) or as if received there (ingress).
    /// Either way the packet is only queued: egress to the device's stage (sent by the flush
    /// loop), ingress to `diverted` (received after the current batch). Never re-enters.
    func divert(_ p: consuming Packet, to ifindex: Int32, egress: Bool) {
        guard devices.indices.contains(Int(ifindex)), devices[Int(ifindex)] != nil else { pool.free(p); return }
        if egress {
            stage(ifindex, p)
        } else {
            pool.metas[Int(p.index)].ifindex = ifindex
            diverted.push(p, pool)
        }
    }

    /// What a flush diverted to a device's receive (mirred to ingress from egress, a bridge-mode
    /// macvlan's frame for its sibling) is received and its output flushed, a few rounds at most.
    func settleDiverted() {
        var rounds = 0
        while !diverted.isEmpty && rounds < 4 {
            rounds += 1
            processDiverted()
            flushTransmit()
        }
    }

    /// Receives the packets mirred redirected to devices' ingress, in rounds: what a round
    /// diverts again waits for the next. Beyond the kernel's MIRRED_NEST_LIMIT (4) rounds the
    /// rest is dropped and counted on its target device.
    func processDiverted() {
        var rounds = 0
        while !diverted.isEmpty && rounds < Self.transmitRounds - 1 {
            rounds += 1
            var work = diverted
            diverted = PacketQueue()
            while let p = work.pop(pool) {
                let ifindex = pool.metas[Int(p.index)].ifindex
                guard let dev = devices[Int(ifindex)] else { pool.free(p); continue }
                divertBatch.append(p)
                // Consecutive packets for the same device go up together.
                while !divertBatch.isFull, let h = work.peekIndex, pool.metas[Int(h)].ifindex == ifindex {
                    divertBatch.append(work.pop(pool)!)
                }
                receive(dev, &divertBatch)
            }
        }
        while let p = diverted.pop(pool) {
            if let dev = device(pool.metas[Int(p.index)].ifindex) { dev.stats.rxDropped &+= 1; dev.drop(.nestLimit) }
            pool.free(p)
        }
    }

    /// Periodic work driven by the datapath clock: FDB ageing.
    public func housekeeping() {
        let now = clock.now
        guard now >= nextHousekeeping else { return }
        nextHousekeeping = now &+ housekeepingInterval
        for i in vxlanIfindexes { (devices[Int(i)]?.driver as? VXLANDriver)?.age(now: now) }
        ipv4.collectGarbage()
        ipv4.expireFragments(now)
        ipv4.expireAddresses(now)
        ipv6.collectGarbage()
        ipv6.expireFragments(now)
        ipv6.expireAddresses(now)
        ipv6.expireRoutes(now)
        flushTransmit()
        // A driver that failed while transmitting (its device was never polled since) is
        // noticed here, between batches.
        for case let d? in devices where !d.driverFailed && d.driver.failureReason() != nil { driverFailed(d) }
    }

    // MARK: receive

    /// The stack's entry (netif_receive_skb) for a batch from `dev`: length checks, counters,
    /// GRO (for what a driver received, when the device has it on: napi_gro_receive), then the
    /// device's rx handler (a bridge port hands the batch to its bridge).
    func receive(_ dev: NetDevice, _ batch: inout PacketBatch, gro useGRO: Bool = false) {
        let maxLen = dev.mtu + EthernetHeader.length + EthernetHeader.vlanTagLength
        let pool = self.pool
        var rxPackets: UInt64 = 0, rxBytes: UInt64 = 0, mcast: UInt64 = 0
        var runts: UInt64 = 0, giants: UInt64 = 0
        let now = clock.now
        batch.filter({ p in
            let m = pool.meta(p)
            let len = Int(m.pointee.length)
            if len < EthernetHeader.length { runts += 1; return false }
            if len > maxLen && m.pointee.gsoType.isEmpty { giants += 1; return false }
            m.pointee.ifindex = dev.ifindex
            m.pointee.timestamp = now
            rxPackets += 1
            rxBytes += UInt64(len)
            if pool.data(p).load(as: UInt8.self) & 1 != 0 { mcast += 1 }
            return true
        }, reject: { pool.free($0) })
        dev.stats.rxPackets &+= rxPackets
        dev.stats.rxBytes &+= rxBytes
        if dev.driver.countsRxMulticast { dev.stats.multicast &+= mcast }
        if runts + giants > 0 {
            dev.stats.rxErrors &+= runts + giants
            dev.stats.rxLengthErrors &+= runts + giants
            dev.drop(.pktTooSmall, runts)
            dev.drop(.pktTooBig, giants)
        }
        guard !batch.isEmpty else { return }
        guard dev.isOperational else { dropBatch(dev, &batch, .devDown, rx: true); return }
        if useGRO && dev.activeFeatures.contains(.lro) { gro.runLRO(dev, &batch) }
        if useGRO && dev.activeFeatures.contains(.gro) { gro.run(dev, &batch, hold: groHold, now: clock.now) }
        receiveCore(dev, &batch, depth: 0)
    }

    /// __netif_receive_skb_core from tc ingress on, for a batch on `dev` (the device a frame
    /// arrived on, or a VLAN device it was handed to — the kernel's another_round):
    /// 1. skb_vlan_untag: an outer in-band tag moves into the metadata;
    /// 2. tc ingress (ingress/clsact filters and actions);
    /// 3. vlan_do_receive: frames whose tag names one of `dev`'s VLAN devices go up to it, and
    ///    walk these steps again there;
    /// 4. the rx handler: a bridge port's frames go to its bridge (br_handle_frame);
    /// 5. the protocol handlers (ptype by EtherType): none is registered yet, so what is left
    ///    is counted as rx_nohandler and freed.
    func receiveCore(_ dev: NetDevice, _ batch: inout PacketBatch, depth: Int) {
        let pool = self.pool
        var tagged = false
        var failed: UInt64 = 0
        batch.compact { idx in
            if !pool.metas[Int(idx)].vlanPresent && VLANEdit.isVLANType(VLANEdit.etherType(pool, idx)) {
                guard let w = pool.writableIndex(idx) else { failed += 1; pool.free(Packet(index: idx)); return false }
                idx = w
                _ = VLANEdit.untag(pool, w)
            }
            tagged = tagged || pool.metas[Int(idx)].vlanPresent
            return true
        }
        if failed > 0 { dev.stats.rxDropped &+= failed; dev.drop(.noBuffer, failed) }
        if let hook = dev.ingress { hook.handleIngress(&batch) }
        guard !batch.isEmpty else { return }
        if tagged, let group = dev.vlanGroup { vlanDoReceive(dev, group, &batch, depth: depth) }
        guard !batch.isEmpty else { return }
        switch dev.rxHandler {
        case .bridgePort(let b):
            if let br = bridges[b] { br.input(port: dev, &batch, self, depth: depth); return }
        case .macvlanPort(let port):
            macvlanReceive(dev, port, &batch, depth: depth)
            if batch.isEmpty { return }
        case .none:
            break
        }
        deliverProtocols(dev, &batch)
    }

    /// The protocol handlers (ptype_base by EtherType, registered at init as inet_init,
    /// arp_init and inet6_init do): IPv4, ARP and IPv6 take their frames on every device, with
    /// or without addresses, as the kernel's in_device and inet6_dev exist for each (an
    /// address-less device's IPv4 is routed, its ARP and IGMP answered as the kernel's; IPv6
    /// disabled is dropped by ipv6Receive: InDiscards, IPV6DISABLED); frames of an EtherType
    /// nobody registered count as rx_nohandler.
    func deliverProtocols(_ dev: NetDevice, _ batch: inout PacketBatch) {
        let pool = self.pool
        var nohandler: UInt64 = 0, otherVLAN: UInt64 = 0
        let types = protocolTypes, handlers = protocolHandlers
        let ip = ipv4, ip6 = ipv6
        batch.drain { p in
            let m = pool.meta(p)
            if m.pointee.vlanPresent {
                // A tag no VLAN device took: VLAN 0 is a priority tag, anything else not ours.
                if m.pointee.vlanTCI & 0x0FFF != 0 { otherVLAN += 1; pool.free(p); return }
                m.pointee.vlanPresent = false; m.pointee.vlanTCI = 0; m.pointee.vlanProto = 0
            }
            let t = VLANEdit.etherType(pool, p.index)
            var k = 0
            while k < types.count && types[k] != t { k += 1 }
            guard k < types.count else { nohandler += 1; pool.free(p); return }
            switch handlers[k] {
            case .ipv4: ip.ipReceive(dev, p)
            case .arp: ip.arpReceive(dev, p)
            case .ipv6: ip6.ipv6Receive(dev, p)
            }
        }
        if nohandler > 0 { dev.stats.rxNohandler &+= nohandler; dev.drop(.noHandler, nohandler) }
        if otherVLAN > 0 { dev.drop(.otherHost, otherVLAN) }
    }

    /// dev_add_pack: registers the handler for an EtherType (one per type).
    public func addProtocolHandler(_ type: UInt16, _ h: ProtocolHandler) {
        if let i = protocolTypes.firstIndex(of: type) { protocolHandlers[i] = h; return }
        protocolTypes.append(type)
        protocolHandlers.append(h)
    }

    /// vlan_do_receive for a batch: for each VLAN device named by a frame's tag, its frames
    /// leave the batch and go up through that device; the rest stay for `dev`'s rx handler.
    func vlanDoReceive(_ dev: NetDevice, _ group: VLANGroup, _ batch: inout PacketBatch, depth: Int) {
        let pool = self.pool
        while true {
            var target: Int32 = 0
            for i in 0..<batch.count {
                let m = pool.metas[Int(batch.index(at: i))]
                if m.vlanPresent {
                    target = group.find(proto: m.vlanProto, vid: m.vlanTCI)
                    if target != 0 { break }
                }
            }
            guard target != 0 else { return }
            let up = vlanBatches + depth
            batch.filter({ p in
                let m = pool.metas[Int(p.index)]
                return !m.vlanPresent || group.find(proto: m.vlanProto, vid: m.vlanTCI) != target
            }, reject: { up.pointee.append($0) })
            guard let vdev = devices[Int(target)], let v = vdev.driver as? VLANDriver else {
                up.pointee.freeAll(pool)
                continue
            }
            guard vdev.isUp, depth + 1 < Self.maxVLANDepth else {
                dropBatch(vdev, &up.pointee, .devDown, rx: true)
                continue
            }
            vlanReceive(vdev, v, &up.pointee)
            if !up.pointee.isEmpty { receiveCore(vdev, &up.pointee, depth: depth + 1) }
        }
    }

    // MARK: transmit

    /// Queues `p` for transmission on `ifindex` (dev_queue_xmit; sent by `flushTransmit`).
    /// Only queues: it never flushes, so an action running inside a flush cannot re-enter it.
    @inline(__always)
    func stage(_ ifindex: Int32, _ p: consuming Packet) {
        let i = Int(ifindex)
        let idx = p.index
        _ = consume p
        pool.next[Int(idx)] = PacketQueue.empty
        let t = stageTail[i]
        if t == PacketQueue.empty {
            stageHead[i] = idx
            dirty[dirtyCount] = ifindex
            dirtyCount += 1
        } else {
            pool.next[Int(t)] = idx
        }
        stageTail[i] = idx
    }

    /// Transmits everything staged, device by device in the order first staged to. Packets
    /// staged while flushing (mirred on a transmit path) are sent in the next round, up to
    /// `transmitRounds`; what is still staged after that is dropped and counted.
    public func flushTransmit() {
        var start = 0
        var round = 0
        while start < dirtyCount {
            let end = dirtyCount
            round += 1
            for k in start..<end {
                if round > Self.transmitRounds { dropStaged(dirty[k]) } else { flushDevice(dirty[k]) }
            }
            start = end
        }
        dirtyCount = 0
    }

    /// Sends one device's staged queue in batches through `transmit`.
    func flushDevice(_ ifindex: Int32) {
        let i = Int(ifindex)
        guard let dev = devices[i] else { dropStaged(ifindex); return }
        var h = stageHead[i]
        stageHead[i] = PacketQueue.empty
        stageTail[i] = PacketQueue.empty
        while h != PacketQueue.empty {
            while !flushBatch.isFull, h != PacketQueue.empty {
                let idx = h
                h = pool.next[Int(idx)]
                flushBatch.append(Packet(index: idx))
            }
            transmit(dev, &flushBatch)
        }
    }

    /// Drops what is staged for a device past the nesting limit (counted).
    func dropStaged(_ ifindex: Int32) {
        let i = Int(ifindex)
        var h = stageHead[i]
        stageHead[i] = PacketQueue.empty
        stageTail[i] = PacketQueue.empty
        var n: UInt64 = 0
        while h != PacketQueue.empty {
            let nx = pool.next[Int(h)]
            pool.free(Packet(index: h))
            n += 1
            h = nx
        }
        if let dev = devices[i] { dev.stats.txDropped &+= n; dev.drop(.nestLimit, n) }
    }

    /// Completes CHECKSUM_PARTIAL packets in software for a device without checksum offload
    /// (skb_checksum_help), copying shared bytes first. Returns how many were dropped.
    func completeChecksums(_ dev: NetDevice, _ batch: inout PacketBatch) -> UInt64 {
        let pool = self.pool
        var failed = false
        for i in 0..<batch.count {
            let idx = batch.index(at: i)
            guard pool.metas[Int(idx)].csum == .partial else { continue }
            guard let w = pool.writableIndex(idx) else { failed = true; continue }
            batch.setIndex(w, at: i)
            let m = pool.metas + Int(w)
            let base = pool.base + Int(pool.dataOf[Int(w)]) * PacketPool.bufferSize + Int(m.pointee.dataOffset)
            if Checksum.complete(frame: base, length: Int(m.pointee.length), start: Int(m.pointee.csumStart), offset: Int(m.pointee.csumOffset)) {
                m.pointee.csum = .unnecessary
            } else {
                failed = true
            }
        }
        guard failed else { return 0 }
        var n: UInt64 = 0
        batch.filter({ p in pool.meta(p).pointee.csum != .partial }, reject: { n += 1; pool.free($0) })
        dev.drop(.csumError, n)
        return n
    }

    /// Puts out-of-band VLAN tags back into the frame for a device that cannot insert them
    /// (validate_xmit_vlan → __vlan_hwaccel_push_inside), copying shared bytes first.
    /// Returns how many were dropped (no buffer for the copy, or no headroom).
    func insertVLANTags(_ dev: NetDevice, _ batch: inout PacketBatch) -> UInt64 {
        let pool = self.pool
        var failed: UInt64 = 0
        for i in 0..<batch.count {
            let idx = batch.index(at: i)
            guard pool.metas[Int(idx)].vlanPresent else { continue }
            guard let w = pool.writableIndex(idx) else { failed += 1; continue }
            batch.setIndex(w, at: i)
            if !VLANEdit.pushMetadataTag(pool, w) { failed += 1 }
        }
        guard failed > 0 else { return 0 }
        var n: UInt64 = 0
        batch.filter({ p in !pool.meta(p).pointee.vlanPresent }, reject: { n += 1; pool.free($0) })
        dev.drop(.noBuffer, n)
        return n
    }

    /// Segments, in software, the GSO frames `dev` cannot take (validate_xmit_skb → GSO). The
    /// segments replace the frame in order; a batch that would overflow is sent in parts.
    /// Returns how many frames could not be segmented (dropped, counted).
    func segmentForDevice(_ dev: NetDevice, _ batch: inout PacketBatch) -> UInt64 {
        let pool = self.pool
        let f = dev.activeFeatures
        var failed: UInt64 = 0
        // The segments go into `gsoBatch` (allocated once), which then trades places with `batch`.
        batch.drain { p in
            let m = pool.meta(p).pointee
            if m.gsoType.isEmpty || Self.deviceTakesGSO(m, dev, f) { gsoAppend(dev, p); return }
            let n = GSO.segment(p, pool: pool) { s in gsoAppend(dev, s) }
            if n < 0 { failed += 1; dev.drop(.gsoUnsupported) }
        }
        swap(&batch, &gsoBatch)
        gsoBatch.freeAll(pool)
        return failed
    }

    /// Whether `dev` takes this GSO frame whole (netif_skb_features: the offload for its type,
    /// and gso_features_check: no more than gso_max_segs segments, shorter than gso_max_size).
    @inline(__always)
    static func deviceTakesGSO(_ m: PacketMeta, _ dev: NetDevice, _ f: DeviceFeatures) -> Bool {
        let g = m.gsoType
        guard (!g.contains(.tcpv4) || f.contains(.tso)) && (!g.contains(.tcpv6) || f.contains(.tso6))
            && (!g.contains(.udpL4) || f.contains(.gsoUDPL4)) else { return false }
        if Int(m.length) >= dev.gsoMaxSize { return false }
        if m.gsoSize > 0 && Int(m.length) > Int(m.hdrLen) {
            let segs = (Int(m.length) - Int(m.hdrLen) + Int(m.gsoSize) - 1) / Int(m.gsoSize)
            if segs > dev.gsoMaxSegs { return false }
        }
        return true
    }

    /// Adds to `gsoBatch`, sending it first when full; a driver that still takes none makes
    /// the packet a counted drop (the batch cannot grow).
    @inline(__always)
    private func gsoAppend(_ dev: NetDevice, _ p: consuming Packet) {
        if gsoBatch.isFull { sendChecked(dev, &gsoBatch) }
        if gsoBatch.isFull { dev.drop(.txBusy); dev.stats.txDropped &+= 1; pool.free(p); return }
        gsoBatch.append(p)
    }

    /// Hands a batch that already passed the GSO step to checksum completion and the driver.
    private func sendChecked(_ dev: NetDevice, _ batch: inout PacketBatch) {
        if !dev.activeFeatures.contains(.hwCsum) { dev.stats.txDropped &+= completeChecksums(dev, &batch) }
        if !batch.isEmpty { dev.driver.transmit(self, dev, &batch) }
    }

    /// dev_queue_xmit for a batch: into the root qdisc, then qdisc_run. A device with noqueue
    /// (a bridge) sends directly.
    public func transmit(_ dev: NetDevice, _ batch: inout PacketBatch) {
        let root = dev.qdisc!
        if let hook = dev.ingress, hook.hasEgress { hook.handleEgress(&batch); if batch.isEmpty { return } }
        if root is NoqueueQdisc { xmitDirect(dev, &batch); return }
        let pool = self.pool
        guard dev.isOperational else { dropBatch(dev, &batch, .devDown, rx: false); return }
        let now = clock.now
        let stab = root.sizeTable
        let ifb = dev.driver is IFBDriver, ifindex = dev.ifindex
        batch.drain { p in
            let m = pool.meta(p)
            // Leaving by this device: skb_iif for an egress mirred is this device; a packet
            // redirected into an ifb keeps where it came from, others lose the mark.
            m.pointee.tcFlags &= ~PacketMeta.atIngress
            if !ifb { m.pointee.tcFlags &= ~PacketMeta.redirected; m.pointee.redirIif = ifindex }
            // qdisc_pkt_len_init, then the root's size table (qdisc_calculate_pkt_len).
            m.pointee.pktLen = stab?.length(Int(m.pointee.length)) ?? UInt32(GSO.wireLength(m.pointee))
            m.pointee.timestamp = now
            _ = root.enqueue(p)
        }
        qdiscRun(dev)
    }

    /// qdisc_run: dequeues while the driver can take more, up to the quota, in batches. Leaves
    /// a timer for a shaper's watchdog, or marks the device to run again when the quota ran out.
    public func qdiscRun(_ dev: NetDevice) {
        let root = dev.qdisc!
        let now = clock.now
        var quota = txQuota
        dev.txTimer = 0
        dev.txPending = false
        while quota > 0 {
            guard dev.driver.txReady(now) else {
                let t = dev.driver.txReadyAt(now)
                if t > 0 { dev.txTimer = t }
                break
            }
            let p: Packet
            if let r = dev.requeued.pop(pool) { p = r } else if let d = root.dequeue() { p = d } else {
                let w = root.watchdog
                if w > 0 { dev.txTimer = w }
                break
            }
            dev.driver.txAdmit(Int(pool.metas[Int(p.index)].pktLen), now)
            txBatch.append(p)
            quota -= 1
            if txBatch.isFull && !sendFromQdisc(dev) { break }
        }
        if !txBatch.isEmpty { _ = sendFromQdisc(dev) }
        let more = quota == 0 && (root.statsSnapshot().qlen > 0 || !dev.requeued.isEmpty)
        // A driver that woke its queue while this run handed it packets (a vif whose frontend
        // had room after all) asked for another run: kept.
        dev.txPending = dev.txPending || more
        if (more || dev.txTimer > 0) && !txWork.contains(dev.ifindex) { txWork.append(dev.ifindex) }
    }

    /// Hands qdisc_run's batch to the driver; what a busy driver leaves goes back to the front
    /// of the requeue slot (dev_requeue_skb) and is retried shortly. False when the driver was busy.
    func sendFromQdisc(_ dev: NetDevice) -> Bool {
        inQdiscRun = true
        xmitDirect(dev, &txBatch)
        inQdiscRun = false
        guard !txBatch.isEmpty else { return true }
        let n = txBatch.count
        var left = PacketQueue()
        txBatch.drain { left.push($0, pool) }
        while let p = dev.requeued.pop(pool) { left.push(p, pool) }
        dev.requeued = left
        dev.qdisc.stats.requeues &+= UInt64(n)
        let retry = clock.now &+ 20 * Time.us
        if dev.txTimer == 0 || retry < dev.txTimer { dev.txTimer = retry }
        return false
    }

    func hasTxPending() -> Bool {
        for i in txWork { if let d = devices[Int(i)], d.txPending { return true } }
        return false
    }

    /// Runs qdisc_run for devices whose timer is due or that had more to send.
    public func runTxWork() {
        guard !txWork.isEmpty else { return }
        let now = clock.now
        var k = 0
        // Each device once per pass (net_tx_action runs each scheduled qdisc once per softirq):
        // what its quota left waits for the next pass, after the receive side had its turn.
        var visits = txWork.count
        while k < txWork.count && visits > 0 {
            visits -= 1
            let i = txWork[k]
            guard let d = devices[Int(i)] else { txWork.remove(at: k); continue }
            if d.txPending || (d.txTimer > 0 && d.txTimer <= now) {
                txWork.remove(at: k)
                qdiscRun(d)   // may append itself again
                continue
            }
            if d.txTimer == 0 { txWork.remove(at: k); continue }
            k += 1
        }
        // What a driver handed on from here (an ifb giving packets back, a bridge-mode
        // macvlan's sibling) goes on now, not at the next receive.
        if !diverted.isEmpty || dirtyCount > 0 {
            processDiverted()
            flushTransmit()
            settleDiverted()
        }
    }

    /// Runs qdisc_run for `dev` on the next pass (after its qdisc was changed: a new rate
    /// applies to what is queued at once, not at the old watchdog's time).
    public func kickTransmit(_ dev: NetDevice) {
        dev.txTimer = 0
        dev.txPending = true
        if !txWork.contains(dev.ifindex) { txWork.append(dev.ifindex) }
    }

    /// The earliest pending tx timer, or 0.
    public var nextTxTimer: UInt64 {
        var t: UInt64 = 0
        for i in txWork { if let d = devices[Int(i)], d.txTimer > 0, t == 0 || d.txTimer < t { t = d.txTimer } }
        return t
    }

    /// mod_delayed_work(gc_work, at t), or its cancellation (0); keeps `bridgeGCDue`, the
    /// earliest of the bridges' collections, which each pass reads.
    func scheduleBridgeGC(_ br: Bridge, at t: UInt64) {
        br.gcAt = t
        recomputeBridgeGC()
    }

    func recomputeBridgeGC() {
        var t: UInt64 = 0
        for br in bridges.values where br.gcAt != 0 && (t == 0 || br.gcAt < t) { t = br.gcAt }
        bridgeGCDue = t
    }

    /// Runs every bridge's FDB collection that is due (a deleted bridge's leaves nothing due).
    func runBridgeGC() {
        let now = clock.now
        for br in bridges.values where br.gcAt != 0 && br.gcAt <= now { br.fdbCleanup(now: now) }
        recomputeBridgeGC()
    }

    func armTimer() {
        guard clock.mode == .real else { return }
        var t = nextTxTimer
        for nt in [ipv4.nextTimer, ipv6.nextTimer, ipv4.nextProxyReply, ipv6.nextProxyReply, bridgeGCDue, ipv6.dadDue, ipv6.mldDue, ipv4.igmpDue, stpDue, mcastDue, rxResumeDue, napiTimerDue, estimatorsDue] where nt != 0 && (t == 0 || nt < t) { t = nt }
        if t != timerArmed {
            _ = csl_timerfd_set(timerFD, t)
            timerArmed = t
        }
    }

    /// The default root qdisc: noqueue for devices without a queue (bridges), else pfifo_fast
    /// sized by txqueuelen.
    /// With `kind`, or for a queue of mq (`queue: true`), that kind whatever the device.
    func defaultQdisc(for dev: NetDevice, kind: String? = nil, queue: Bool = false) -> Qdisc {
        let env = qdiscEnv(dev)
        if kind == nil && !queue && (dev.noQueue || dev.driver is BridgeDriver || dev.txQueueLen == 0) { return NoqueueQdisc(env: env) }
        if kind == nil && !queue && dev.numTxQueues > 1 {
            // attach_default_qdiscs: a multiqueue device gets mq, the default in each queue.
            let m = MQQdisc(handle: .unspec, parent: .root, env: env)
            m.populate { i in defaultQdisc(for: dev, kind: i < dev.realNumTxQueues ? nil : "pfifo_fast", queue: true) }
            return m
        }
        let q: Qdisc
        switch kind ?? defaultQdiscKind {
        case "fq_codel": q = FQCoDelQdisc(handle: .unspec, parent: .root, env: env)
        case "pfifo", "bfifo": q = FifoQdisc(kind: kind ?? defaultQdiscKind, handle: .unspec, parent: .root, env: env)
        default: return PfifoFastQdisc(handle: .unspec, parent: .root, env: env)
        }
        // qdisc_create_dflt: the kind's init with no options (its defaults, sized for the device).
        if let f = q as? FQCoDelQdisc { try? f.configure(f.currentParams) }
        return q
    }

    /// The qdisc a device gets as its root when it is created or its root is deleted, as the
    /// kernel's net.core.default_qdisc (pfifo_fast unless set; distributions set fq_codel).
    public private(set) var defaultQdiscKind = "pfifo_fast"
    /// The last handle qdisc_alloc_handle gave (allocQdiscHandle).
    var autoHandle: UInt16 = 0x8000
    public static let defaultQdiscKinds = ["pfifo_fast", "fq_codel", "pfifo", "bfifo"]

    /// Sets net.core.default_qdisc; devices made from now on get it (existing ones keep theirs).
    public func setDefaultQdisc(_ kind: String) throws(SluiceError) {
        guard Self.defaultQdiscKinds.contains(kind) else {
            throw SluiceError("default qdisc \"\(kind)\" is not one of \(Self.defaultQdiscKinds.joined(separator: ", "))")
        }
        defaultQdiscKind = kind
    }

    /// The busy-poll window devices get when they are made (`busy_poll` per device changes it),
    /// on the live clock only: a virtual clock does not move while the worker spins. 0 here;
    /// the daemon sets its `--busy-poll` (`liveBusyPollUs` unless told).
    public var defaultBusyPollNs: UInt64 = 0
    /// net.core.busy_poll written while the daemon runs: the window new devices get and, on
    /// the live clock, every device's from now on.
    public func setBusyPoll(us: Int) {
        defaultBusyPollNs = UInt64(us) * Time.us
        guard clock.mode == .real else { return }
        for d in allDevices { d.napi.busyPollNs = defaultBusyPollNs }
    }
    /// The daemon's and `sluice up`'s busy-poll window, µs (net.core.busy_poll's usual 50).
    public static let liveBusyPollUs = 50

    /// qdisc_alloc_handle's counter: 8001:, 8002:, … up to ffff: (TC_H_ROOT), then 8000: again.
    func allocQdiscHandle() -> UInt16 {
        autoHandle = autoHandle == 0xFFFE ? 0x8000 : autoHandle + 1
        return autoHandle
    }

    /// A new device's queue counts when the request gave them (rtnl_create_link: all of them
    /// in use; fixed from then on). The root qdisc already attached is held by each transmit
    /// queue.
    func setQueueCounts(_ dev: NetDevice, tx: Int?, rx: Int?) {
        if let tx { dev.numTxQueues = tx; dev.realNumTxQueues = tx
            dev.qdisc.env.txQueues = tx; dev.qdisc.env.realTxQueues = tx }
        if let rx { dev.numRxQueues = rx }
    }

    func qdiscEnv(_ dev: NetDevice) -> QdiscEnv {
        QdiscEnv(pool: pool, clock: clock, mtu: dev.mtu + EthernetHeader.length, txQueueLen: dev.txQueueLen, linkSpeed: linkSpeed(dev), ifindex: dev.ifindex,
                 txQueues: dev.numTxQueues, realTxQueues: dev.realNumTxQueues)
    }

    /// What `ethtool` would report as the device's speed (bit/s): a line's rate, a kernel
    /// port's /sys/class/net speed (AF_PACKET or AF_XDP), 10 Gbit/s for a veth (as the kernel's
    /// veth reports), a VLAN or macvlan device's lower device's, else 10 Mbit/s — the SPEED_10
    /// tun reports and the kernel assumes for devices that report none (dummy).
    func linkSpeed(_ dev: NetDevice) -> UInt64 {
        if let l = dev.driver as? LineDriver { return l.rate }
        if dev.kind == "veth" { return 10_000_000_000 }
        let kernelName = (dev.driver as? PacketSocketDriver)?.kernelName ?? (dev.driver as? XDPDriver)?.kernelName
        if let kernelName, let text = readFile("/sys/class/net/\(kernelName)/speed"),
           let mbit = UInt64(text.filter { $0.isNumber }), mbit > 0 {
            return mbit * 1_000_000
        }
        if let m = dev.driver as? MacvlanDriver, let lower = device(m.lower) { return linkSpeed(lower) }
        if let v = vlanDriver(dev), let parent = device(v.parent) { return linkSpeed(parent) }
        return 10_000_000
    }

    /// The direct transmit (validate_xmit_skb + the driver): drops what the device cannot send
    /// (down, too big), segments GSO frames it cannot offload, completes checksums it cannot.
    func xmitDirect(_ dev: NetDevice, _ batch: inout PacketBatch) {
        xmitValidated(dev, &batch)
        if !batch.isEmpty && !inQdiscRun {
            // No queue to put them back in: the driver was busy, they are dropped and counted.
            dropBatch(dev, &batch, .txBusy, rx: false)
        }
    }

    var inQdiscRun = false

    func xmitValidated(_ dev: NetDevice, _ batch: inout PacketBatch) {
        let pool = self.pool
        guard dev.isOperational else { dropBatch(dev, &batch, .devDown, rx: false); return }
        let features = dev.activeFeatures
        let maxLen = dev.mtu + EthernetHeader.length + EthernetHeader.vlanTagLength
        var dropped: UInt64 = 0
        var needGSO = false
        var tagged = false
        batch.filter({ p in
            let m = pool.meta(p)
            tagged = tagged || m.pointee.vlanPresent
            let gso = m.pointee.gsoType
            if !gso.isEmpty {
                if !Self.deviceTakesGSO(m.pointee, dev, features) { needGSO = true }
            } else if Int(m.pointee.length) > maxLen {
                dev.drop(.pktTooBig); dropped += 1; return false
            }
            return true
        }, reject: { pool.free($0) })
        if needGSO { dropped += segmentForDevice(dev, &batch) }
        if tagged && !features.contains(.vlanTxOffload) { dropped += insertVLANTags(dev, &batch) }
        if !features.contains(.hwCsum) {
            dropped += completeChecksums(dev, &batch)
        }
        dev.stats.txDropped &+= dropped
        if !batch.isEmpty { dev.driver.transmit(self, dev, &batch) }
    }
}
