/// A bridge port's settings, as struct net_bridge_port keeps them (net/bridge/br_private.h,
/// br_netlink.c's br_setport): the flags a port is created with (new_nbp: learning and the three
/// kinds of flooding), hairpin mode, isolation, the spanning tree's state, priority and path
/// cost, BPDU guard and root block (STP.swift: a port with `guard` is disabled by the first BPDU
/// it hears; one with `root_block` never becomes root port), and multicast fast leave, kept and
/// shown as the kernel keeps it with snooping off.
///
/// What acts on packets (Bridge.input, Bridge.flood, br_dev_xmit):
/// - `learning` off: the port's source addresses are not learnt (br_handle_frame_finish).
/// - `flood`, `mcast_flood`, `bcast_flood` off: unknown unicast, multicast and broadcast are not
///   flooded to the port (br_flood); multicast and broadcast the bridge device itself sends
///   still are, unknown unicast it sends is not.
/// - `hairpin` on: a frame may leave by the port it came in on (should_deliver).
/// - `isolated` on: frames that came in by an isolated port do not leave by another isolated
///   port (br_skb_isolated); the bridge device's own frames are not from a port.
/// - state: `forwarding` forwards and learns; `learning` learns and drops; `listening` and
///   `disabled` drop (br_handle_frame); only forwarding ports are sent to (should_deliver).
///   With STP off `blocking` does not stay: br_port_state_selection makes every port
///   designated, and a designated blocking port forwarding. A port that goes down is disabled
///   and comes back forwarding (br_stp_disable_port / br_stp_enable_port).
public struct BridgePortFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let learning = Self(rawValue: 1 << 0)
    public static let flood = Self(rawValue: 1 << 1)
    public static let mcastFlood = Self(rawValue: 1 << 2)
    public static let bcastFlood = Self(rawValue: 1 << 3)
    public static let hairpin = Self(rawValue: 1 << 4)
    public static let isolated = Self(rawValue: 1 << 5)
    public static let guard_ = Self(rawValue: 1 << 6)
    public static let rootBlock = Self(rawValue: 1 << 7)
    public static let fastLeave = Self(rawValue: 1 << 8)
    /// BR_PORT_LOCKED (802.1X): only sources the FDB holds on this port get through.
    public static let locked = Self(rawValue: 1 << 9)
    /// BR_PROXYARP: the bridge answers ARP requests arriving here for neighbours it knows, and
    /// floods nothing to this port.
    public static let proxyArp = Self(rawValue: 1 << 10)
    /// BR_PROXYARP_WIFI: requests for hosts behind this port are answered by the bridge and not
    /// flooded here.
    public static let proxyArpWifi = Self(rawValue: 1 << 11)
    /// BR_NEIGH_SUPPRESS: ARP and ND for hosts behind this port are answered by the bridge;
    /// what was answered, and announcements, are not flooded here.
    public static let neighSuppress = Self(rawValue: 1 << 12)
    /// BR_MULTICAST_TO_UNICAST: a snooped group goes to this port as a unicast copy for each
    /// host that joined it here (the reports' source addresses).
    public static let mcastToUnicast = Self(rawValue: 1 << 13)
    /// new_nbp: BR_LEARNING | BR_FLOOD | BR_MCAST_FLOOD | BR_BCAST_FLOOD.
    public static let defaults: Self = [.learning, .flood, .mcastFlood, .bcastFlood]
}

public struct BridgePortSettings: Equatable, Sendable {
    public static let disabled: UInt8 = 0, listening: UInt8 = 1, learning: UInt8 = 2, forwarding: UInt8 = 3, blocking: UInt8 = 4
    public static let stateNames = ["disabled", "listening", "learning", "forwarding", "blocking"]
    /// BR_MAX_PORT_PRIORITY (priorities are 6 bits of the port id), BR_MIN/MAX_PATH_COST.
    public static let maxPriority: UInt16 = 63
    public static let costRange: ClosedRange<UInt32> = 1...65535

    public var flags: BridgePortFlags = .defaults
    /// The state asked for while the port is up (shown as disabled while it is down).
    public var state: UInt8 = Self.forwarding
    public var priority: UInt16 = 0x20
    /// port_cost: from the device's link speed, 100 where it reports none; once the user set
    /// it (BR_ADMIN_COST) a carrier change no longer recomputes it.
    public var cost: UInt32 = 100
    var adminCost = false
    /// multicast_router: 0 never a router port, 1 one while queries arrive (the default),
    /// 2 always, 3 one for a querier interval from now, then 1 again.
    public var mcastRouter: UInt8 = 1
    /// backup_port (the port's ifindex, 0: none): known unicast for this port goes there while
    /// this port has no carrier (br_forward).
    public var backupPort: Int32 = 0
    /// Whether the port was up when last looked at (a change restarts its state).
    var wasOperational = false
    /// br_stp_enable_port / br_stp_disable_port: the port is enabled while it and its bridge
    /// are up; a disabled port shows state disabled.
    var enabled = false
    /// When the port's forward delay timer runs out (0: not running). Without STP the kernel
    /// still arms it for forward_delay when the port starts forwarding (br_make_forwarding);
    /// `ip -d link` shows it as forward_delay_timer, and its expiry changes nothing.
    var forwardDelayAt: UInt64 = 0
    /// The spanning tree's view of the port (STP.swift).
    public internal(set) var stp = STPPortState()
    /// The port's number in its bridge (find_portno: the lowest free, from 1).
    public var portNo: UInt16 = 0
    /// br_make_port_id: priority above the 10 bits of the port number.
    public var portID: UInt16 { priority << 10 | (portNo & 0x3FF) }

    /// Whether the packet path can skip every per-port check.
    var actsAsDefault: Bool {
        flags.intersection([.learning, .flood, .mcastFlood, .bcastFlood, .hairpin, .isolated, .locked, .proxyArp, .proxyArpWifi, .neighSuppress])
            == .defaults && state == Self.forwarding && backupPort == 0
    }
}

/// A change to a port's settings from either syntax (IFLA_BRPORT_* or `type bridge_slave` words):
/// checked whole, then applied.
public struct BridgePortChange: Equatable, Sendable {
    public var on: BridgePortFlags = []
    public var off: BridgePortFlags = []
    public var state: UInt8?
    public var priority: UInt16?
    public var cost: UInt32?
    public var mcastRouter: UInt8?
    /// A new backup port's ifindex (0: none), checked against the bridge by the caller.
    public var backupPort: Int32?
    public init() {}
    var isEmpty: Bool { self.on.isEmpty && self.off.isEmpty && state == nil && priority == nil && cost == nil && mcastRouter == nil && backupPort == nil }

    mutating func flag(_ f: BridgePortFlags, _ value: Bool) { if value { self.on.insert(f); self.off.remove(f) } else { self.off.insert(f); self.on.remove(f) } }

    /// br_setport's checks, in its order: the path cost and priority ranges (ERANGE), the state
    /// (EINVAL past blocking; ENETDOWN on a port that is down, or has no carrier unless the state
    /// is disabled).
    func check(_ port: NetDevice, stpRunning: Bool = false) throws(SluiceError) {
        // br_stp_set_path_cost, br_stp_set_port_priority, br_set_port_state: bare errnos.
        if let c = cost, !BridgePortSettings.costRange.contains(c) { throw SluiceError("RTNETLINK answers: Numerical result out of range") }
        if let p = priority, p > BridgePortSettings.maxPriority { throw SluiceError("RTNETLINK answers: Numerical result out of range") }
        if let r = mcastRouter, r > 3 { throw SluiceError("RTNETLINK answers: Invalid argument") }   // br_multicast_set_port_router
        if let s = state {
            guard s <= BridgePortSettings.blocking else { throw SluiceError("RTNETLINK answers: Invalid argument") }
            // The spanning tree decides the state while STP runs.
            guard !stpRunning else { throw SluiceError("RTNETLINK answers: Device or resource busy") }
            guard port.isUp && (port.isOperational || s == BridgePortSettings.disabled) else {
                throw SluiceError("RTNETLINK answers: Network is down")
            }
        }
    }

    func applied(to s: BridgePortSettings) -> BridgePortSettings {
        var n = s
        n.flags = n.flags.union(self.on).subtracting(self.off)
        if let c = cost { n.cost = c; n.adminCost = true }
        if let p = priority { n.priority = p }
        // br_set_port_state; br_port_state_selection follows (STP.swift): with STP off every
        // port is designated, and br_make_forwarding turns a blocking one forwarding.
        if let st = state { n.state = st }
        if let r = mcastRouter { n.mcastRouter = r }
        if let b = backupPort { n.backupPort = b }
        return n
    }
}

extension Bridge {
    /// Whether any port has settings the packet path must look at (kept after every change).
    func updatePortChecks(_ dp: Datapath) {
        recomputePortChecks(dp)
        if device.isUp { dp.bridgeCarrierCheck(self) }
    }

    func recomputePortChecks(_ dp: Datapath) {
        portChecks = ports.contains { p in !(dp.devices[Int(p)]?.bridgePort.actsAsDefault ?? true) }
        // br_recalculate_neigh_suppress_enabled.
        neighSuppressEnabled = ports.contains { p in dp.devices[Int(p)]?.bridgePort.flags.contains(.neighSuppress) ?? false }
        mcastToUnicastPorts = ports.contains { p in dp.devices[Int(p)]?.bridgePort.flags.contains(.mcastToUnicast) ?? false }
        proxyArpPorts = ports.contains { p in !(dp.devices[Int(p)]?.bridgePort.flags.isDisjoint(with: [.proxyArp, .proxyArpWifi]) ?? true) }
    }
}

extension Datapath {
    /// port_cost (br_if.c): the 802.1D path cost for the device's speed.
    func portCost(_ dev: NetDevice) -> UInt32 {
        switch linkSpeed(dev) / 1_000_000 {
        case 10_000: 2
        case 5_000: 3
        case 2_500, 1_000: 4
        case 100: 19
        case let s where s > 10_000: 1
        default: 100
        }
    }

    /// br_stp_enable_port / br_stp_disable_port for each port of `br` whose bridge or own
    /// state changed: enabled while both are up (STP.swift: an enabled port starts blocking and
    /// goes where the spanning tree selects — with STP off, straight to forwarding).
    func selectPortStates(_ br: Bridge) {
        for p in br.ports {
            guard let d = devices[Int(p)] else { continue }
            let enable = br.device.isUp && d.isOperational
            guard enable != d.bridgePort.enabled else { continue }
            d.bridgePort.enabled = enable
            if enable { stpEnablePort(br, d) } else { stpDisablePort(br, d) }
        }
        stpSettle(br)
    }

    /// br_port_state_selection's last step, with the ports' states re-selected first.
    func bridgeCarrierCheck(_ br: Bridge, opening: Bool = false) {
        selectPortStates(br)
        updateBridgeCarrier(br, opening: opening)
    }

    /// The bridge has carrier while a port forwards. A bridge that never had a port keeps the
    /// carrier it was made with (and, no carrier event having happened, its operstate stays
    /// UNKNOWN); one that comes up (br_stp_enable_bridge) changes it only when a port is live.
    func updateBridgeCarrier(_ br: Bridge, opening: Bool = false) {
        let live = br.ports.contains { p in
            guard let d = devices[Int(p)] else { return false }
            return d.isOperational && d.bridgePortState == BridgePortSettings.forwarding
        }
        if opening && !live { return }
        let dev = br.device
        dev.operstateUnknown = false
        guard dev.carrier != live else { return }
        dev.carrier = live
        parentStateChanged(dev, adminChanged: false)
    }
}
