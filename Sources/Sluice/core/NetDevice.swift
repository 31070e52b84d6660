/// Linux interface flag bits (`include/uapi/linux/if.h`), same values.
public struct InterfaceFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let up = InterfaceFlags(rawValue: 0x1)
    public static let broadcast = InterfaceFlags(rawValue: 0x2)
    public static let loopback = InterfaceFlags(rawValue: 0x8)
    public static let pointToPoint = InterfaceFlags(rawValue: 0x10)
    public static let running = InterfaceFlags(rawValue: 0x40)
    public static let noARP = InterfaceFlags(rawValue: 0x80)
    public static let promisc = InterfaceFlags(rawValue: 0x100)
    public static let allMulti = InterfaceFlags(rawValue: 0x200)
    public static let master = InterfaceFlags(rawValue: 0x400)
    public static let slave = InterfaceFlags(rawValue: 0x800)
    public static let multicast = InterfaceFlags(rawValue: 0x1000)
    public static let lowerUp = InterfaceFlags(rawValue: 0x10000)
    public static let dormant = InterfaceFlags(rawValue: 0x20000)
    public static let debug = InterfaceFlags(rawValue: 0x4)
    public static let noTrailers = InterfaceFlags(rawValue: 0x20)
    public static let portSel = InterfaceFlags(rawValue: 0x2000)
    public static let autoMedia = InterfaceFlags(rawValue: 0x4000)
    public static let dynamic = InterfaceFlags(rawValue: 0x8000)
    /// What dev_change_flags lets a request set or clear as given (UP, PROMISC and ALLMULTI have
    /// their own paths; any other bit asked for is ignored, as the kernel ignores it).
    public static let changeable: InterfaceFlags = [.debug, .noTrailers, .noARP, .dynamic, .multicast, .portSel, .autoMedia]

    /// iproute2's `<…>` rendering, in its order.
    public var names: [String] {
        var n: [String] = []
        if contains(.loopback) { n.append("LOOPBACK") }
        if contains(.broadcast) { n.append("BROADCAST") }
        if contains(.pointToPoint) { n.append("POINTOPOINT") }
        if contains(.multicast) { n.append("MULTICAST") }
        if contains(.noARP) { n.append("NOARP") }
        if contains(.allMulti) { n.append("ALLMULTI") }
        if contains(.promisc) { n.append("PROMISC") }
        if contains(.noTrailers) { n.append("NOTRAILERS") }
        if contains(.master) { n.append("MASTER") }
        if contains(.slave) { n.append("SLAVE") }
        if contains(.debug) { n.append("DEBUG") }
        if contains(.dynamic) { n.append("DYNAMIC") }
        if contains(.autoMedia) { n.append("AUTOMEDIA") }
        if contains(.portSel) { n.append("PORTSEL") }
        if contains(.up) { n.append("UP") }
        if contains(.lowerUp) { n.append("LOWER_UP") }
        return n
    }
}

/// Offload features (a subset of `NETIF_F_*` that matters to a user-space datapath).
public struct DeviceFeatures: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let sg = DeviceFeatures(rawValue: 1 << 0)
    /// Can transmit CHECKSUM_PARTIAL packets (NETIF_F_HW_CSUM).
    public static let hwCsum = DeviceFeatures(rawValue: 1 << 1)
    public static let tso = DeviceFeatures(rawValue: 1 << 2)
    public static let tso6 = DeviceFeatures(rawValue: 1 << 3)
    public static let tsoECN = DeviceFeatures(rawValue: 1 << 4)
    public static let gsoUDPL4 = DeviceFeatures(rawValue: 1 << 5)
    /// Hands received packets with checksum state (virtio DATA_VALID / NEEDS_CSUM).
    public static let rxCsum = DeviceFeatures(rawValue: 1 << 6)
    public static let gro = DeviceFeatures(rawValue: 1 << 7)
    public static let vlanTxOffload = DeviceFeatures(rawValue: 1 << 8)
    public static let vlanRxOffload = DeviceFeatures(rawValue: 1 << 9)
    /// NETIF_F_GRO_UDP_FWD (ethtool's rx-udp-gro-forwarding): GRO merges UDP too. Off by default.
    public static let udpGROForwarding = DeviceFeatures(rawValue: 1 << 10)
    /// NETIF_F_LRO: inet_lro-style large receive offload (off by default; never on a bridge port).
    public static let lro = DeviceFeatures(rawValue: 1 << 11)

    /// Features a bridge computes as the intersection over its ports (as br_features_recompute).
    public static let offloads: DeviceFeatures = [.sg, .hwCsum, .tso, .tso6, .tsoECN, .gsoUDPL4]

    public var description: String {
        var n: [String] = []
        if contains(.sg) { n.append("sg") }
        if contains(.hwCsum) { n.append("tx-csum") }
        if contains(.tso) { n.append("tso") }
        if contains(.tso6) { n.append("tso6") }
        if contains(.tsoECN) { n.append("tso-ecn") }
        if contains(.gsoUDPL4) { n.append("uso") }
        if contains(.rxCsum) { n.append("rx-csum") }
        if contains(.gro) { n.append("gro") }
        if contains(.udpGROForwarding) { n.append("rx-udp-gro-forwarding") }
        if contains(.lro) { n.append("lro") }
        return n.isEmpty ? "none" : n.joined(separator: ",")
    }
}

/// `struct rtnl_link_stats64`, field for field.
public struct LinkStats64: Sendable {
    public var rxPackets: UInt64 = 0, txPackets: UInt64 = 0
    public var rxBytes: UInt64 = 0, txBytes: UInt64 = 0
    public var rxErrors: UInt64 = 0, txErrors: UInt64 = 0
    public var rxDropped: UInt64 = 0, txDropped: UInt64 = 0
    public var multicast: UInt64 = 0, collisions: UInt64 = 0
    public var rxLengthErrors: UInt64 = 0, rxOverErrors: UInt64 = 0, rxCrcErrors: UInt64 = 0
    public var rxFrameErrors: UInt64 = 0, rxFifoErrors: UInt64 = 0, rxMissedErrors: UInt64 = 0
    public var txAbortedErrors: UInt64 = 0, txCarrierErrors: UInt64 = 0, txFifoErrors: UInt64 = 0
    public var txHeartbeatErrors: UInt64 = 0, txWindowErrors: UInt64 = 0
    public var rxCompressed: UInt64 = 0, txCompressed: UInt64 = 0
    public var rxNohandler: UInt64 = 0
    public init() {}
}

/// Why a packet was dropped (after the kernel's `enum skb_drop_reason`): counted per device.
public enum DropReason: Int, CaseIterable, Sendable {
    case pktTooSmall        // shorter than an Ethernet header (runt)
    case pktTooBig          // longer than the device MTU allows and not GSO
    case badVirtioHeader    // virtio_net_hdr inconsistent with the frame
    case noBuffer           // packet pool empty
    case devDown            // device not up / not running
    case noHandler          // received on a device with no rx handler
    case invalidSource      // source MAC multicast or zero (bridge)
    case igmpInvalid        // bridge snooping: an IGMP/MLD message that fails the checks
    case sameInterface      // bridge: destination is the ingress port
    case gsoUnsupported     // GSO frame to a device without the offload
    case csumError          // CHECKSUM_PARTIAL that cannot be completed
    case txError            // the driver's write failed
    case txBusy             // the driver could not take the packet now
    case truncated          // capture truncated (snaplen) or ring frame cut
    case nestLimit          // mirred redirection nested deeper than MIRRED_NEST_LIMIT
    case macControl         // IEEE 802.3x MAC control (PAUSE, 01:80:C2:00:00:01): never bridged
    case portDisabled       // bridge port disabled (the bridge is down): neither learnt nor forwarded
    case vlanFiltered       // bridge VLAN filtering: not in the port's VLANs, or untagged without a PVID
    case otherHost          // IPv4: not addressed to this device (PACKET_OTHERHOST), or a VLAN no device takes
    case ipHeader           // IPv4 header errors (version, IHL, total length)
    case ipChecksum         // IPv4 header checksum
    case ipMartian          // martian source address
    case ipMartianDestination // martian destination address (0/8, or 127/8 without route_localnet)
    case ipRPFilter         // refused by reverse-path filtering (rp_filter)
    case ipNoRoute          // no route, or an unreachable/prohibit route
    case ipBlackhole        // a blackhole route
    case ipTTL              // TTL exceeded while forwarding
    case ipFragment         // a fragment for us (no reassembly yet)
    case arpMalformed       // ARP that is not Ethernet/IPv4 request/reply, or with bogus addresses
    case neighFull          // the neighbour table is full (gc_thresh3)
    case ndisc              // IPv6 neighbour discovery with a bad hop limit, code, target or options
    case stpState           // bridge: received by a port in a state that does not forward (listening, learning, disabled)
    case notDelivered       // bridge: the port the FDB names may not be sent to (isolated, not forwarding, no hairpin)
    case arpOff             // ARP received on a device with arp off (IFF_NOARP): arp_rcv consumes it unanswered
    case ipv6Disabled       // IPv6 in or out of a device with disable_ipv6 set
    case arpGratuitous      // gratuitous ARP on a device with drop_gratuitous_arp
    case portLocked         // bridge: a locked port's frame whose source the FDB does not hold on that port

    public var name: String {
        switch self {
        case .pktTooSmall: "PKT_TOO_SMALL"
        case .pktTooBig: "PKT_TOO_BIG"
        case .badVirtioHeader: "DEV_HDR"
        case .noBuffer: "NOMEM"
        case .devDown: "DEV_READY"
        case .noHandler: "UNHANDLED_PROTO"
        case .invalidSource: "MAC_INVALID_SOURCE"
        case .igmpInvalid: "BRIDGE_MCAST_INVALID"
        case .sameInterface: "SAME_INTERFACE"
        case .gsoUnsupported: "GSO_UNSUPPORTED"
        case .csumError: "CSUM_ERROR"
        case .txError: "TX_ERROR"
        case .txBusy: "TX_BUSY"
        case .truncated: "TRUNCATED"
        case .nestLimit: "MIRRED_NEST_LIMIT"
        case .macControl: "MAC_IEEE_MAC_CONTROL"
        case .portDisabled: "BRIDGE_PORT_DISABLED"
        case .portLocked: "BRIDGE_PORT_LOCKED"
        case .vlanFiltered: "VLAN_FILTERED"
        case .otherHost: "OTHERHOST"
        case .ipHeader: "IP_INHDR"
        case .ipChecksum: "IP_CSUM"
        case .ipMartian: "IP_INVALID_SOURCE"
        case .ipMartianDestination: "IP_INVALID_DEST"
        case .ipRPFilter: "IP_RPFILTER"
        case .ipNoRoute: "IP_NOROUTE"
        case .ipBlackhole: "IP_BLACKHOLE"
        case .ipTTL: "IP_TTL_EXCEEDED"
        case .ipFragment: "IP_FRAG_NOT_REASSEMBLED"
        case .arpMalformed: "ARP_INVALID"
        case .neighFull: "NEIGH_CREATEFAIL"
        case .ndisc: "IPV6_NDISC_BAD_OPTIONS"
        case .stpState: "BRIDGE_INGRESS_STP_STATE"
        case .notDelivered: "NOT_SPECIFIED"
        case .arpOff: "ARP_NOARP_DEVICE"
        case .ipv6Disabled: "IPV6DISABLED"
        case .arpGratuitous: "NOT_SPECIFIED"
        }
    }
}

/// A device's rx handler (dev->rx_handler): what takes its frames after VLAN devices and before
/// the protocol handlers. One per device, registered by what stacks on it
/// (netdev_rx_handler_register: a second is EBUSY).
public enum RxHandler {
    case none
    /// br_handle_frame: the device is a port of the bridge with this ifindex.
    case bridgePort(Int32)
    /// macvlan_handle_frame: the device is the lower device of these macvlans.
    case macvlanPort(MacvlanPort)
}

/// NAPI per-device-queue state (one queue per device for now).
public struct NAPIState: Sendable {
    public var weight: Int = 64
    public var scheduled = false
    /// Busy polling (net.core.busy_poll's idea, per device): after a poll that found packets,
    /// the queue stays in polling mode — polled once per pass of the worker, without waiting
    /// in epoll — until this many nanoseconds pass without a packet. 0: off. A new device takes
    /// the datapath's `defaultBusyPollNs` (the daemon's `--busy-poll`, 50 µs): the worker
    /// spins for at most that long after each burst, and an idle daemon sleeps in epoll.
    public var busyPollNs: UInt64 = 0
    /// Clock time of the last poll that found packets.
    public var lastWork: UInt64 = 0
    /// Empty polls made while busy polling.
    public var busyPolls: UInt64 = 0
    /// Times the queue entered polling mode (scheduled from an interrupt/epoll event).
    public var pollModeEntries: UInt64 = 0
    /// Times it completed (returned fewer than `weight`) and went back to interrupt mode.
    public var interruptModeEntries: UInt64 = 0
    /// Poll calls, and polls that used the full weight (stayed in polling).
    public var polls: UInt64 = 0
    public var fullPolls: UInt64 = 0
    /// napi_defer_hard_irqs (/sys/class/net/DEV/napi_defer_hard_irqs): after a poll that found
    /// packets, the queue's "interrupt" — its interest in epoll — stays masked for up to this
    /// many more polls, each `groFlushTimeoutNs` after the one before, made by the queue's own
    /// timer; then it waits in epoll again (napi_complete_done, napi_watchdog). 0: off, as in
    /// the kernel; it acts only with a non-zero gro_flush_timeout.
    public var deferHardIrqs: UInt32 = 0
    /// gro_flush_timeout, ns (/sys/class/net/DEV/gro_flush_timeout): the deferred polls' spacing.
    /// With it set, GRO keeps the current jiffy's aggregates across polls (a poll that used its
    /// whole weight still flushes them all), and a poll that left GRO holding a flow is
    /// followed by one more poll this long after, which flushes what is held. 0: off.
    public var groFlushTimeoutNs: UInt64 = 0
    /// defer_hard_irqs_count: deferred polls left.
    public var deferCount: UInt32 = 0
    /// When the queue's timer schedules it (0: not armed).
    public var timerDue: UInt64 = 0
    /// The epoll interest is off (a deferred queue waits for its timer, not for packets).
    public var irqMasked = false
    /// Polls scheduled by the timer, and completions that kept the interrupt masked.
    public var timerPolls: UInt64 = 0
    public var deferredCompletions: UInt64 = 0
    public init() {}
}

/// A network device: what Linux calls `struct net_device`. Owned by one datapath.
public final class NetDevice {
    /// dev->name: changed only by Datapath.rename (dev_change_name).
    public internal(set) var name: String
    public internal(set) var ifindex: Int32 = 0
    public let kind: String
    /// dev->min_mtu and dev->max_mtu as each kind's setup leaves them (checked on this kernel:
    /// lo and ifb 0/0 — no bound —, tun 68/65521, bridge, veth, vxlan 68/65535); dummy's
    /// dummy_setup clears both as ifb's does.
    public var mtuBounds: (min: Int, max: Int) { Self.mtuBounds(kind: kind) }
    public static func mtuBounds(kind: String) -> (min: Int, max: Int) {
        switch kind {
        case "loopback", "dummy", "ifb": (0, 0)
        case "tap": (68, 65521)
        case "vrf": (1280, 65575)        // vrf_setup: IPV6_MIN_MTU … IP6_MAX_MTU
        default: (68, 65535)
        }
    }
    public internal(set) var mac: MACAddress
    public internal(set) var mtu: Int
    public internal(set) var flags: InterfaceFlags
    /// How many holders want promiscuous mode (bridge membership, captures, `promisc on`).
    public internal(set) var promiscuity: Int = 0
    public internal(set) var allmulti: Int = 0
    /// Alternative names (`ip link property add … altname`), in the order they were added.
    public internal(set) var altNames: [String] = []
    /// L3 offload statistics were asked for (`ip stats set dev X l3_stats on`,
    /// netdev_offload_xstats_enable); no Sluice driver offloads, so they are never used.
    var l3StatsRequested = false
    /// Whether the user asked for `promisc on` (holds one promiscuity reference).
    public internal(set) var userPromisc = false
    /// The secondary unicast addresses the devices above put on this one (dev_uc_add: a
    /// macvlan's, a VLAN device's with an address of its own), each with its count, and
    /// whether they hold a promiscuity reference (uc_promisc).
    var unicastList: [UInt64: Int] = [:]
    var ucPromisc = false
    /// Whether the user asked for `allmulticast on` (holds one allmulti reference).
    public internal(set) var userAllmulti = false
    /// IFLA_IFALIAS and IFLA_GROUP: what the user calls the device and the group it put it in.
    public internal(set) var alias: String?
    public internal(set) var group: UInt32 = 0
    /// Features the device can do; `activeFeatures` is what is enabled now.
    public internal(set) var hwFeatures: DeviceFeatures
    public internal(set) var activeFeatures: DeviceFeatures
    public internal(set) var txQueueLen: Int = 1000
    /// IFF_NO_QUEUE: the default root qdisc is noqueue whatever txqueuelen says (dummy, bridge).
    public internal(set) var noQueue = false
    /// netif_keep_dst: packets sent here keep their next hop (PacketPool.nexthops), for a
    /// driver that resolves neighbours itself (teql's master).
    var keepsDst = false
    /// A device whose driver never reports carrier changes (lo, dummy, vxlan): the kernel's
    /// linkwatch never runs for it, so while up its operstate stays IF_OPER_UNKNOWN.
    public internal(set) var operstateUnknown = false
    /// The bridge this device is a port of (its ifindex), or 0.
    public internal(set) var master: Int32 = 0
    /// net.ipv4.conf.DEV (ipv4/DevConf.swift): the device's own knobs, and what its packets obey
    /// (its knobs combined with `all`'s, recomputed at every change).
    public internal(set) var inetConf = InetDevConf()
    public internal(set) var inet4 = InetDevFlags()
    /// net.ipv6.conf.DEV (ipv6/DevConf6.swift), the same way.
    public internal(set) var inet6Conf = Inet6DevConf()
    public internal(set) var inet6 = Inet6DevFlags()
    /// No inet6_dev: the device's MTU is below IPv6's 1280 (ipv6_add_dev refuses it; a drop
    /// below destroys it). No IPv6 in or out, no address, route or neighbour, no conf keys.
    public internal(set) var inet6Absent = false
    /// dev->rx_handler.
    public internal(set) var rxHandler = RxHandler.none
    public internal(set) var stats = LinkStats64()
    public internal(set) var drops = [UInt64](repeating: 0, count: DropReason.allCases.count)
    public internal(set) var napi = NAPIState()
    /// gro_max_size: bytes of IP datagram one GRO aggregate may reach.
    public internal(set) var groMaxSize = 65536
    /// gso_max_size / gso_max_segs: the largest GSO frame the device is handed whole; a larger
    /// one is segmented in software first (gso_features_check).
    public internal(set) var gsoMaxSize = 65536
    public internal(set) var gsoMaxSegs = 65535
    /// tso_max_size: the largest GSO frame the device could be given (netif_set_tso_max_size;
    /// 65536 unless its kind raises it — veth and vxlan to GSO_MAX_SIZE — or, for a bridge,
    /// its ports' smallest once it has had one: br_set_gso_limits).
    /// Addresses added to the device's own unicast and multicast lists by `bridge fdb add MAC
    /// dev DEV self` (ndo_dflt_fdb_add: dev_uc_add_excl, dev_mc_add_excl), in the order added.
    /// Sluice's drivers receive every frame their port is given, so the lists filter nothing;
    /// they are kept and dumped as the kernel's, multicast ones also in `ip maddr`.
    public internal(set) var userUnicast: [MACAddress] = []
    public internal(set) var userMulticast: [MACAddress] = []
    public internal(set) var tsoMaxSize = 65536
    /// GSO_MAX_SIZE as this kernel reports it (the bound netif_set_tso_max_size applies).
    static let gsoMaxSizeLimit = 524_280
    /// num_tx_queues / num_rx_queues, fixed when the device is made (IFLA_NUM_TX_QUEUES and
    /// _RX_QUEUES, else the kind's get_num_tx_queues: veth's is the number of possible CPUs),
    /// and real_num_tx_queues, the queues in use (1: veth starts with one, as the kernel's).
    public internal(set) var numTxQueues = 1
    public internal(set) var numRxQueues = 1
    public internal(set) var realNumTxQueues = 1
    /// inet_lro's max_aggr and max_desc.
    public internal(set) var lroMaxAggr = 64
    public internal(set) var lroMaxDesc = 8
    /// Segments GRO merged into an earlier one, and aggregates of more than one it completed.
    public internal(set) var groMerged: UInt64 = 0
    public internal(set) var groAggregates: UInt64 = 0
    public internal(set) var groReasons = [UInt64](repeating: 0, count: GROReason.allCases.count)
    /// Aggregates GRO holds for this device's next poll (gro_flush_timeout; the datapath's
    /// engine loads them at the poll's start), allocated the first time one is held.
    var groHeld: UnsafeMutablePointer<GRO.Flow>?
    public internal(set) var groHeldCount = 0
    /// A bridge port's VLANs (its net_bridge_vlan_group), or nil when not a port.
    public internal(set) var bridgeVLANs: BridgeVLANSet?
    /// A bridge port's flags, state, priority and cost (BridgePort.swift); new_nbp's defaults
    /// while not a port.
    public internal(set) var bridgePort = BridgePortSettings()
    /// The port state as shown and acted on: disabled while the port is down.
    public var bridgePortState: UInt8 { bridgePort.enabled ? bridgePort.state : BridgePortSettings.disabled }
    /// The VLAN devices on this one (vlan_info), or nil when there are none.
    var vlanGroup: VLANGroup?
    /// Carrier: the driver's link is there (LOWER_UP). Each change is counted as
    /// netif_carrier_on/off count them (IFLA_CARRIER_UP_COUNT/DOWN_COUNT, `transns`).
    public internal(set) var carrier = true {
        didSet { if carrier != oldValue { if carrier { carrierUpCount &+= 1 } else { carrierDownCount &+= 1 } } }
    }
    public internal(set) var carrierUpCount: UInt32 = 0
    /// The driver failed for good (its kernel interface is gone): no wait on it, no carrier.
    var driverFailed = false
    public internal(set) var carrierDownCount: UInt32 = 0
    /// IPv6's addr_gen_mode (IN6_ADDR_GEN_MODE_*): eui64, none (no link-local address is
    /// made) or random (a random interface identifier, flagged stable-privacy).
    public internal(set) var addrGenMode = AddrGenMode.eui64
    public enum AddrGenMode: UInt8, Sendable { case eui64 = 0, none = 1, random = 3 }
    /// Where IPv6's group addresses stand in dev->mc: loaded since the device was made,
    /// dropped by ipv6_mc_down (a down while IF_READY), or loaded again by ipv6_mc_up when the
    /// link was next ready. The multicast list's order depends on it.
    var inet6McState = Inet6McState.sinceCreation
    enum Inet6McState { case sinceCreation, dropped, reloaded }
    /// IF_READY: addrconf found the link ready (up with carrier) since the device came up.
    var inet6Ready = false
    /// The interface identifier addrgenmode random drew for this device (0: not yet).
    var randomInterfaceID: UInt64 = 0
    let driver: NetDriver
    /// The root qdisc (dev->qdisc); set when the device is registered.
    public internal(set) var qdisc: Qdisc!
    /// The ingress or clsact qdisc (its filter blocks run on receive, and for clsact on transmit).
    var ingress: IngressQdisc?
    /// The device has its ingress queue (dev_ingress_queue_create: made by the first tc request
    /// for parent ffff:fff1, kept until the device goes), holding a noop qdisc when no ingress one.
    var ingressQueueMade = false
    /// Packets the driver refused, sent first next time (the kernel's gso_skb / requeue).
    var requeued = PacketQueue()
    /// Clock time at which qdisc_run must run again for this device (a shaper's watchdog), or 0.
    var txTimer: UInt64 = 0
    var txPending = false

    init(name: String, kind: String, mac: MACAddress, mtu: Int = 1500, driver: NetDriver) {
        self.name = name
        self.kind = kind
        self.mac = mac
        self.mtu = mtu
        self.flags = [.broadcast, .multicast]
        self.driver = driver
        // GRO is a software feature every NAPI device has; on where the driver says so, as
        // NETIF_F_GRO is on by default for devices whose driver calls napi_gro_receive.
        self.hwFeatures = driver.supportedFeatures.union([.gro, .udpGROForwarding, .lro])
        self.activeFeatures = driver.groByDefault ? driver.supportedFeatures.union(.gro) : driver.supportedFeatures
    }

    deinit { groHeld?.deallocate() }

    public var isUp: Bool { flags.contains(.up) }
    /// UP and carrier: can pass packets (netif_running && netif_carrier_ok).
    public var isOperational: Bool { flags.contains(.up) && carrier }

    /// The flags as `ip link` shows them (RUNNING/LOWER_UP reflect operational state).
    public var displayFlags: InterfaceFlags {
        var f = flags
        if isOperational { f.insert(.running); f.insert(.lowerUp) }
        // dev_get_flags: PROMISC and ALLMULTI as the user set them (gflags); what a bridge or a
        // VLAN device holds shows only in the counts. A bridge port is no IFF_SLAVE (bonding's).
        if userPromisc { f.insert(.promisc) }
        if userAllmulti { f.insert(.allMulti) }
        return f
    }


    @inline(__always) func drop(_ r: DropReason, _ n: UInt64 = 1) { drops[r.rawValue] &+= n }
    public func dropCount(_ r: DropReason) -> UInt64 { drops[r.rawValue] }
    @inline(__always) func groCount(_ r: GROReason) { groReasons[r.rawValue] &+= 1 }
    public func groCount(of r: GROReason) -> UInt64 { groReasons[r.rawValue] }
}

/// IF_OPER_* (RFC 2863 operational states as rtnetlink carries them); the name is `ip link`'s.
public enum OperState: UInt8, CustomStringConvertible, Sendable {
    case unknown = 0, down = 2, lowerLayerDown = 3, up = 6
    public var description: String {
        switch self {
        case .unknown: "UNKNOWN"
        case .down: "DOWN"
        case .lowerLayerDown: "LOWERLAYERDOWN"
        case .up: "UP"
        }
    }
}
