/// Principles
/// ----------
/// The IEEE 802.1D (1998) spanning tree as the Linux bridge runs it in the kernel (br_stp.c,
/// br_stp_if.c, br_stp_timer.c, br_stp_bpdu.c; BR_KERNEL_STP, which is what a bridge outside
/// the initial namespace gets from `stp_state 1`):
/// - Every bridge has an id (priority, then its address); the lowest id is the root. Each port
///   remembers the best configuration BPDU heard on it (designated root, cost, bridge, port);
///   root selection picks the port with the best path to the root, designated-port selection
///   decides on which segments this bridge speaks for the root, and every other port blocks.
/// - A port that is to forward goes listening, then learning, then forwarding, one forward
///   delay each; a port leaving forwarding or learning, or one reaching forwarding on a bridge
///   designated for some port, is a topology change: the root flags it in its BPDUs for
///   forward delay + max age, and while it lasts the FDB ages out in twice the forward delay;
///   a bridge that is not the root tells the root with TCN BPDUs until acknowledged.
/// - BPDUs are received on any port that is not disabled, whatever its state, and are never
///   forwarded while STP runs (br_handle_frame passes them to the port's LLC). They are sent
///   from the port's own address through the port's queue (br_send_bpdu → dev_queue_xmit).
/// - The same machinery runs with STP off, as the kernel's does: every port is designated, the
///   bridge its own root, and a port that is enabled goes straight to forwarding. Only BPDU
///   transmission and reception need STP on.
/// Differences: the hold timer is one second from the last BPDU (the kernel rounds it to a
/// whole second of jiffies); message ages advance by one STP tick (1/256 s) per hop.
public struct STPBridgeState: Sendable {
    public internal(set) var enabled = false
    public internal(set) var designatedRoot: UInt64 = 0
    public internal(set) var rootPathCost: UInt32 = 0
    public internal(set) var rootPort: UInt16 = 0
    /// The times in use: the bridge's own while it is root, else the root's (from its BPDUs).
    public internal(set) var maxAge: UInt64 = 20 * Time.s
    public internal(set) var helloTime: UInt64 = 2 * Time.s
    public internal(set) var forwardDelay: UInt64 = 15 * Time.s
    public internal(set) var topologyChange = false
    public internal(set) var topologyChangeDetected = false
    /// Timers: when they run out, in the clock's nanoseconds; 0 when not running.
    var helloAt: UInt64 = 0, tcnAt: UInt64 = 0, topologyChangeAt: UInt64 = 0
    public internal(set) var configSent: UInt64 = 0, tcnSent: UInt64 = 0
    public internal(set) var configReceived: UInt64 = 0, tcnReceived: UInt64 = 0
    /// BPDUs refused, by the first check they failed (BPDU.Invalid) or for a message age past max age.
    public internal(set) var invalid: UInt64 = 0
}

/// A port's part of the spanning tree (struct net_bridge_port's STP fields).
public struct STPPortState: Equatable, Sendable {
    public internal(set) var designatedRoot: UInt64 = 0
    public internal(set) var designatedBridge: UInt64 = 0
    public internal(set) var designatedCost: UInt32 = 0
    public internal(set) var designatedPort: UInt16 = 0
    /// When the information recorded from the designated bridge was as old as zero.
    var designatedAge: UInt64 = 0
    public internal(set) var topologyChangeAck = false
    public internal(set) var configPending = false
    var messageAgeAt: UInt64 = 0, holdAt: UInt64 = 0
}

extension Bridge {
    /// The bridge id as 8 bytes read big-endian: priority, then the address.
    public var bridgeID: UInt64 { UInt64(priority) << 48 | idAddress.raw }
    public var isRootBridge: Bool { stp.designatedRoot == bridgeID }

    /// br_set_ageing_time: the configured ageing time, in use at once.
    func setAgeingTime(_ ns: UInt64) {
        bridgeAgeingTime = ns
        ageingTime = ns
    }
}

/// BR_MIN/MAX_FORWARD_DELAY, BR_HOLD_TIME, MESSAGE_AGE_INCR.
enum STPLimits {
    static let forwardDelay: ClosedRange<UInt32> = 200...3000      // centiseconds
    static let holdTime = 1 * Time.s
    static let messageAgeIncrement = BPDU.ticksToNanoseconds(1)
}

extension Datapath {
    /// The bridge's ports in the kernel's list order (br_add_if adds at the head: newest first).
    func stpPorts(_ br: Bridge) -> [NetDevice] { br.ports.reversed().compactMap { devices[Int($0)] } }

    func stpPort(_ br: Bridge, _ no: UInt16) -> NetDevice? {
        guard no != 0 else { return nil }
        for p in br.ports { if let d = devices[Int(p)], d.bridgePort.portNo == no { return d } }
        return nil
    }

    /// A timer set to run out at `at` (0: stopped); the earliest of all is what the loop waits for.
    func stpArm(_ at: UInt64) {
        if at != 0 && (stpDue == 0 || at < stpDue) { stpDue = at }
    }

    func isDesignatedPort(_ br: Bridge, _ d: NetDevice) -> Bool {
        let s = d.bridgePort
        return s.stp.designatedBridge == br.bridgeID && s.stp.designatedPort == s.portID
    }

    // MARK: br_stp.c

    func shouldBecomeRootPort(_ br: Bridge, _ d: NetDevice, _ rootPort: UInt16) -> Bool {
        let p = d.bridgePort
        if p.state == BridgePortSettings.disabled || !p.enabled || isDesignatedPort(br, d) { return false }
        if br.bridgeID <= p.stp.designatedRoot { return false }
        guard let r = stpPort(br, rootPort) else { return true }
        let rp = r.bridgePort
        if p.stp.designatedRoot != rp.stp.designatedRoot { return p.stp.designatedRoot < rp.stp.designatedRoot }
        let c = UInt64(p.stp.designatedCost) + UInt64(p.cost), rc = UInt64(rp.stp.designatedCost) + UInt64(rp.cost)
        if c != rc { return c < rc }
        if p.stp.designatedBridge != rp.stp.designatedBridge { return p.stp.designatedBridge < rp.stp.designatedBridge }
        if p.stp.designatedPort != rp.stp.designatedPort { return p.stp.designatedPort < rp.stp.designatedPort }
        return p.portID < rp.portID
    }

    func rootSelection(_ br: Bridge) {
        var root: UInt16 = 0
        for d in stpPorts(br) where shouldBecomeRootPort(br, d, root) {
            if d.bridgePort.flags.contains(.rootBlock) {
                // br_root_port_block: a port with root_block may not become root port.
                setPortState(br, d, BridgePortSettings.listening)
                if br.stp.forwardDelay > 0 { d.bridgePort.forwardDelayAt = clock.now &+ br.stp.forwardDelay; stpArm(d.bridgePort.forwardDelayAt) }
            } else {
                root = d.bridgePort.portNo
            }
        }
        br.stp.rootPort = root
        if let r = stpPort(br, root) {
            br.stp.designatedRoot = r.bridgePort.stp.designatedRoot
            br.stp.rootPathCost = r.bridgePort.stp.designatedCost &+ r.bridgePort.cost
        } else {
            br.stp.designatedRoot = br.bridgeID
            br.stp.rootPathCost = 0
        }
    }

    func becomeRootBridge(_ br: Bridge) {
        br.stp.maxAge = Bridge.jiffyNs(br.maxAge)
        br.stp.helloTime = Bridge.jiffyNs(br.helloTime)
        br.stp.forwardDelay = Bridge.jiffyNs(br.forwardDelay)
        topologyChangeDetection(br)
        br.stp.tcnAt = 0
        if br.device.isUp {
            configBPDUGeneration(br)
            br.stp.helloAt = clock.now &+ br.stp.helloTime
            stpArm(br.stp.helloAt)
        }
    }

    func transmitConfig(_ br: Bridge, _ d: NetDevice) {
        let now = clock.now
        if d.bridgePort.stp.holdAt > now {
            d.bridgePort.stp.configPending = true
            return
        }
        var b = ConfigBPDU()
        b.topologyChange = br.stp.topologyChange
        b.topologyChangeAck = d.bridgePort.stp.topologyChangeAck
        b.root = br.stp.designatedRoot
        b.rootPathCost = br.stp.rootPathCost
        b.bridgeID = br.bridgeID
        b.portID = d.bridgePort.portID
        if !br.isRootBridge, let r = stpPort(br, br.stp.rootPort) {
            b.messageAge = (now &- r.bridgePort.stp.designatedAge) &+ STPLimits.messageAgeIncrement
        }
        b.maxAge = br.stp.maxAge
        b.helloTime = br.stp.helloTime
        b.forwardDelay = br.stp.forwardDelay
        guard b.messageAge < br.stp.maxAge else { return }
        if br.stp.enabled { sendBPDU(br, d, .config(b)) }
        d.bridgePort.stp.topologyChangeAck = false
        d.bridgePort.stp.configPending = false
        d.bridgePort.stp.holdAt = now &+ STPLimits.holdTime
        stpArm(d.bridgePort.stp.holdAt)
    }

    func recordConfigInformation(_ d: NetDevice, _ b: ConfigBPDU) {
        let now = clock.now
        d.bridgePort.stp.designatedRoot = b.root
        d.bridgePort.stp.designatedCost = b.rootPathCost
        d.bridgePort.stp.designatedBridge = b.bridgeID
        d.bridgePort.stp.designatedPort = b.portID
        d.bridgePort.stp.designatedAge = now &- b.messageAge
        d.bridgePort.stp.messageAgeAt = now &+ (b.maxAge &- b.messageAge)
        stpArm(d.bridgePort.stp.messageAgeAt)
    }

    func recordConfigTimeoutValues(_ br: Bridge, _ b: ConfigBPDU) {
        br.stp.maxAge = b.maxAge
        br.stp.helloTime = b.helloTime
        br.stp.forwardDelay = b.forwardDelay
        setTopologyChange(br, b.topologyChange)
    }

    func transmitTCN(_ br: Bridge) {
        guard let r = stpPort(br, br.stp.rootPort) else { return }
        if br.stp.enabled { sendBPDU(br, r, .tcn) }
    }

    func shouldBecomeDesignatedPort(_ br: Bridge, _ d: NetDevice) -> Bool {
        if isDesignatedPort(br, d) { return true }
        let p = d.bridgePort.stp
        if p.designatedRoot != br.stp.designatedRoot { return true }
        if br.stp.rootPathCost != p.designatedCost { return br.stp.rootPathCost < p.designatedCost }
        if br.bridgeID != p.designatedBridge { return br.bridgeID < p.designatedBridge }
        return d.bridgePort.portID < p.designatedPort
    }

    func designatedPortSelection(_ br: Bridge) {
        for d in stpPorts(br) where d.bridgePortState != BridgePortSettings.disabled && shouldBecomeDesignatedPort(br, d) {
            becomeDesignatedPort(br, d)
        }
    }

    func supersedesPortInfo(_ br: Bridge, _ d: NetDevice, _ b: ConfigBPDU) -> Bool {
        let p = d.bridgePort.stp
        if b.root != p.designatedRoot { return b.root < p.designatedRoot }
        if b.rootPathCost != p.designatedCost { return b.rootPathCost < p.designatedCost }
        if b.bridgeID != p.designatedBridge { return b.bridgeID < p.designatedBridge }
        if b.bridgeID != br.bridgeID { return true }
        return b.portID <= p.designatedPort
    }

    /// __br_set_topology_change: while a topology change lasts, learnt entries age out in
    /// twice the forward delay.
    func setTopologyChange(_ br: Bridge, _ on: Bool) {
        if br.stp.enabled && br.stp.topologyChange != on {
            br.ageingTime = on ? 2 * br.stp.forwardDelay : br.bridgeAgeingTime
        }
        br.stp.topologyChange = on
    }

    func topologyChangeDetection(_ br: Bridge) {
        guard br.stp.enabled else { return }
        if br.isRootBridge {
            setTopologyChange(br, true)
            br.stp.topologyChangeAt = clock.now &+ Bridge.jiffyNs(br.forwardDelay) &+ Bridge.jiffyNs(br.maxAge)
            stpArm(br.stp.topologyChangeAt)
        } else if !br.stp.topologyChangeDetected {
            transmitTCN(br)
            br.stp.tcnAt = clock.now &+ Bridge.jiffyNs(br.helloTime)
            stpArm(br.stp.tcnAt)
        }
        br.stp.topologyChangeDetected = true
    }

    func configBPDUGeneration(_ br: Bridge) {
        for d in stpPorts(br) where d.bridgePortState != BridgePortSettings.disabled && isDesignatedPort(br, d) {
            transmitConfig(br, d)
        }
    }

    func configurationUpdate(_ br: Bridge) {
        rootSelection(br)
        designatedPortSelection(br)
    }

    func becomeDesignatedPort(_ br: Bridge, _ d: NetDevice) {
        d.bridgePort.stp.designatedRoot = br.stp.designatedRoot
        d.bridgePort.stp.designatedCost = br.stp.rootPathCost
        d.bridgePort.stp.designatedBridge = br.bridgeID
        d.bridgePort.stp.designatedPort = d.bridgePort.portID
    }

    /// br_set_state, with what must follow any change of a port's state here: the packet path's
    /// view of the ports and an announcement.
    func setPortState(_ br: Bridge, _ d: NetDevice, _ s: UInt8) {
        guard d.bridgePort.state != s else { return }
        d.bridgePort.state = s
        stpChanged.insert(d.ifindex)
    }

    func makeBlocking(_ br: Bridge, _ d: NetDevice) {
        let s = d.bridgePort.state
        guard s != BridgePortSettings.disabled && s != BridgePortSettings.blocking else { return }
        if s == BridgePortSettings.forwarding || s == BridgePortSettings.learning { topologyChangeDetection(br) }
        setPortState(br, d, BridgePortSettings.blocking)
        d.bridgePort.forwardDelayAt = 0
    }

    func makeForwarding(_ br: Bridge, _ d: NetDevice) {
        guard d.bridgePort.state == BridgePortSettings.blocking else { return }
        if !br.stp.enabled || br.stp.forwardDelay == 0 {
            setPortState(br, d, BridgePortSettings.forwarding)
            topologyChangeDetection(br)
            d.bridgePort.forwardDelayAt = 0
        } else {
            setPortState(br, d, BridgePortSettings.listening)
        }
        if br.stp.forwardDelay != 0 {
            d.bridgePort.forwardDelayAt = clock.now &+ br.stp.forwardDelay
            stpArm(d.bridgePort.forwardDelayAt)
        }
        multicastPortForwarding(br, d)                   // br_multicast_enable_port
    }

    func portStateSelection(_ br: Bridge) {
        for d in stpPorts(br) where d.bridgePortState != BridgePortSettings.disabled {
            if d.bridgePort.portNo == br.stp.rootPort {
                d.bridgePort.stp.configPending = false
                d.bridgePort.stp.topologyChangeAck = false
                makeForwarding(br, d)
            } else if isDesignatedPort(br, d) {
                d.bridgePort.stp.messageAgeAt = 0
                makeForwarding(br, d)
            } else {
                d.bridgePort.stp.configPending = false
                d.bridgePort.stp.topologyChangeAck = false
                makeBlocking(br, d)
            }
        }
        stpSettle(br)
        // br_port_state_selection ends with the bridge's carrier from its live ports, whether
        // or not a state changed: a bridge without ports loses it (a new address or priority,
        // STP turned on), and its operstate leaves UNKNOWN.
        updateBridgeCarrier(br)
    }

    func receivedConfigBPDU(_ br: Bridge, _ d: NetDevice, _ b: ConfigBPDU) {
        let wasRoot = br.isRootBridge
        if supersedesPortInfo(br, d, b) {
            recordConfigInformation(d, b)
            configurationUpdate(br)
            portStateSelection(br)
            if !br.isRootBridge && wasRoot {
                br.stp.helloAt = 0
                if br.stp.topologyChangeDetected {
                    br.stp.topologyChangeAt = 0
                    transmitTCN(br)
                    br.stp.tcnAt = clock.now &+ Bridge.jiffyNs(br.helloTime)
                    stpArm(br.stp.tcnAt)
                }
            }
            if d.bridgePort.portNo == br.stp.rootPort {
                recordConfigTimeoutValues(br, b)
                configBPDUGeneration(br)
                if b.topologyChangeAck {
                    br.stp.topologyChangeDetected = false
                    br.stp.tcnAt = 0
                }
            }
        } else if isDesignatedPort(br, d) {
            transmitConfig(br, d)
        }
    }

    func receivedTCNBPDU(_ br: Bridge, _ d: NetDevice) {
        guard isDesignatedPort(br, d) else { return }
        topologyChangeDetection(br)
        d.bridgePort.stp.topologyChangeAck = true
        transmitConfig(br, d)
    }

    // MARK: br_stp_if.c

    /// br_init_port then br_stp_enable_port: the port starts blocking, designated.
    func stpEnablePort(_ br: Bridge, _ d: NetDevice) {
        // br_multicast_enable_port: a permanent router port is one again.
        if d.bridgePort.mcastRouter == 2 { br.mdb.setRouter(d.ifindex, .max) }
        becomeDesignatedPort(br, d)
        d.bridgePort.state = BridgePortSettings.blocking
        d.bridgePort.stp.topologyChangeAck = false
        d.bridgePort.stp.configPending = false
        stpChanged.insert(d.ifindex)
        portStateSelection(br)
    }

    /// br_stp_disable_port.
    func stpDisablePort(_ br: Bridge, _ d: NetDevice) {
        let wasRoot = br.isRootBridge
        becomeDesignatedPort(br, d)
        setPortState(br, d, BridgePortSettings.disabled)
        d.bridgePort.stp.topologyChangeAck = false
        d.bridgePort.stp.configPending = false
        d.bridgePort.stp.messageAgeAt = 0
        d.bridgePort.forwardDelayAt = 0
        d.bridgePort.stp.holdAt = 0
        br.fdb.flush(port: d.ifindex, all: false)
        br.mdb.portGone(d.ifindex, all: false)           // br_multicast_disable_port
        configurationUpdate(br)
        portStateSelection(br)
        if br.isRootBridge && !wasRoot { becomeRootBridge(br) }
    }

    /// br_stp_enable_bridge's STP part: the hello timer starts and designated ports speak.
    func stpEnableBridge(_ br: Bridge) {
        if br.stp.enabled {
            br.stp.helloAt = clock.now &+ br.stp.helloTime
            stpArm(br.stp.helloAt)
        }
        configBPDUGeneration(br)
    }

    /// br_stp_disable_bridge's STP part (the ports are disabled one by one before).
    func stpDisableBridge(_ br: Bridge) {
        br.stp.topologyChange = false
        br.ageingTime = br.bridgeAgeingTime
        br.stp.topologyChangeDetected = false
        br.stp.helloAt = 0; br.stp.topologyChangeAt = 0; br.stp.tcnAt = 0
    }

    /// br_stp_set_enabled: br_stp_start (the forward delay brought into 2–30 s, the hello timer
    /// started, port states selected) or br_stp_stop (which leaves the ports as they are).
    func setSTPEnabled(_ br: Bridge, _ on: Bool) {
        guard on != br.stp.enabled else { return }
        if on {
            let fd = min(max(br.forwardDelay, STPLimits.forwardDelay.lowerBound), STPLimits.forwardDelay.upperBound)
            if fd != br.forwardDelay { setBridgeForwardDelay(br, fd) }
            br.stp.enabled = true
            if br.device.isUp {
                br.stp.helloAt = clock.now &+ br.stp.helloTime
                stpArm(br.stp.helloAt)
            }
            portStateSelection(br)
        } else {
            br.stp.enabled = false
        }
    }

    /// __br_set_forward_delay and its two siblings: the bridge's own value, in use while root.
    func setBridgeForwardDelay(_ br: Bridge, _ cs: UInt32) {
        br.forwardDelay = cs
        if br.isRootBridge { br.stp.forwardDelay = Bridge.jiffyNs(cs) }
    }
    func setBridgeHelloTime(_ br: Bridge, _ cs: UInt32) {
        br.helloTime = cs
        if br.isRootBridge { br.stp.helloTime = Bridge.jiffyNs(cs) }
    }
    func setBridgeMaxAge(_ br: Bridge, _ cs: UInt32) {
        br.maxAge = cs
        if br.isRootBridge { br.stp.maxAge = Bridge.jiffyNs(cs) }
    }

    /// br_stp_change_bridge_id: the ports' records of this bridge follow its new address.
    func stpChangeBridgeID(_ br: Bridge, from oldID: UInt64) {
        let wasRoot = br.stp.designatedRoot == oldID
        let newID = br.bridgeID
        let mask: UInt64 = 0xFFFF_FFFF_FFFF
        for d in stpPorts(br) {
            if d.bridgePort.stp.designatedBridge & mask == oldID & mask {
                d.bridgePort.stp.designatedBridge = d.bridgePort.stp.designatedBridge & ~mask | newID & mask
            }
            if d.bridgePort.stp.designatedRoot & mask == oldID & mask {
                d.bridgePort.stp.designatedRoot = d.bridgePort.stp.designatedRoot & ~mask | newID & mask
            }
        }
        if br.stp.designatedRoot == oldID { br.stp.designatedRoot = newID }
        configurationUpdate(br)
        portStateSelection(br)
        if br.isRootBridge && !wasRoot { becomeRootBridge(br) }
    }

    /// br_stp_set_bridge_priority.
    func stpSetBridgePriority(_ br: Bridge, _ prio: UInt16) {
        let wasRoot = br.isRootBridge
        for d in stpPorts(br) where d.bridgePortState != BridgePortSettings.disabled && isDesignatedPort(br, d) {
            d.bridgePort.stp.designatedBridge = UInt64(prio) << 48 | (d.bridgePort.stp.designatedBridge & 0xFFFF_FFFF_FFFF)
        }
        if wasRoot { br.stp.designatedRoot = UInt64(prio) << 48 | br.idAddress.raw }
        br.priority = prio
        configurationUpdate(br)
        portStateSelection(br)
        if br.isRootBridge && !wasRoot { becomeRootBridge(br) }
    }

    /// br_stp_set_port_priority: the port id changes, and the port may become designated.
    func stpPortPriorityChanged(_ br: Bridge, _ d: NetDevice, oldPortID: UInt16) {
        let p = d.bridgePort
        if p.stp.designatedBridge == br.bridgeID && p.stp.designatedPort == oldPortID { d.bridgePort.stp.designatedPort = p.portID }
        if d.bridgePort.stp.designatedBridge == br.bridgeID && p.portID < d.bridgePort.stp.designatedPort {
            becomeDesignatedPort(br, d)
            portStateSelection(br)
        }
    }

    /// br_stp_set_path_cost.
    func stpPathCostChanged(_ br: Bridge) {
        configurationUpdate(br)
        portStateSelection(br)
    }

    // MARK: br_stp_bpdu.c

    func sendBPDU(_ br: Bridge, _ d: NetDevice, _ b: BPDU) {
        guard d.isOperational, let q = pool.alloc() else { return }
        let n = b.write(pool.data(q), source: d.mac)
        pool.meta(q).pointee.length = UInt32(n)
        if case .tcn = b { br.stp.tcnSent &+= 1 } else { br.stp.configSent &+= 1 }
        stage(d.ifindex, q)
    }

    /// br_stp_rcv for a frame to the group address received on `port` while STP runs.
    func stpReceive(_ br: Bridge, _ d: NetDevice, _ frame: UnsafeRawPointer, length: Int) {
        guard br.stp.enabled, br.device.isUp, d.bridgePortState != BridgePortSettings.disabled else { return }
        if d.bridgePort.flags.contains(.guard_) {
            // BPDU guard: a port that must never hear a bridge is disabled until it goes down
            // and up again.
            log("\(br.device.name): BPDU received on blocked port \(d.bridgePort.portNo)(\(d.name))")
            stpDisablePort(br, d)
            stpSettle(br)
            return
        }
        switch BPDU.parse(frame, length: length) {
        case .failure: br.stp.invalid &+= 1
        case .success(.tcn):
            br.stp.tcnReceived &+= 1
            receivedTCNBPDU(br, d)
        case .success(.config(let b)):
            guard b.messageAge <= b.maxAge else { br.stp.invalid &+= 1; return }
            br.stp.configReceived &+= 1
            receivedConfigBPDU(br, d, b)
        }
        stpSettle(br)
    }

    // MARK: br_stp_timer.c

    /// round_jiffies (kernel/time/timer.c) for CPU 0: a time rounded to a whole second of the
    /// clock, down when it is less than a quarter past, else up; unchanged when rounding would
    /// put it in the past. The hello timer re-arms through it, so hellos leave on whole seconds
    /// while hold timers do not — the phase a port's config_pending shows.
    static func roundJiffies(_ t: UInt64, now: UInt64) -> UInt64 {
        let jiffy = Time.s / 250
        let j = t / jiffy
        let rem = j % 250
        let r = (rem < 250 / 4 ? j &- rem : j &- rem &+ 250) &* jiffy
        return r <= now ? t : r
    }

    /// Runs every STP timer that ran out, then finds the next.
    func runSTPTimers() {
        let now = clock.now
        var next: UInt64 = 0
        func keep(_ t: UInt64) { if t != 0 && (next == 0 || t < next) { next = t } }
        for br in bridges.values {
            if br.stp.helloAt != 0 && br.stp.helloAt <= now {
                br.stp.helloAt = 0
                if br.device.isUp {
                    configBPDUGeneration(br)
                    if br.stp.enabled { br.stp.helloAt = Self.roundJiffies(now &+ br.stp.helloTime, now: now) }
                }
            }
            if br.stp.tcnAt != 0 && br.stp.tcnAt <= now {
                br.stp.tcnAt = 0
                if br.device.isUp {
                    transmitTCN(br)
                    br.stp.tcnAt = now &+ Bridge.jiffyNs(br.helloTime)
                }
            }
            if br.stp.topologyChangeAt != 0 && br.stp.topologyChangeAt <= now {
                br.stp.topologyChangeAt = 0
                br.stp.topologyChangeDetected = false
                setTopologyChange(br, false)
            }
            for d in stpPorts(br) {
                if d.bridgePort.stp.messageAgeAt != 0 && d.bridgePort.stp.messageAgeAt <= now {
                    d.bridgePort.stp.messageAgeAt = 0
                    if d.bridgePortState != BridgePortSettings.disabled {
                        // br_message_age_timer_expired: the neighbour is lost.
                        let wasRoot = br.isRootBridge
                        becomeDesignatedPort(br, d)
                        configurationUpdate(br)
                        portStateSelection(br)
                        if br.isRootBridge && !wasRoot { becomeRootBridge(br) }
                    }
                }
                if d.bridgePort.forwardDelayAt != 0 && d.bridgePort.forwardDelayAt <= now {
                    d.bridgePort.forwardDelayAt = 0
                    if d.bridgePort.state == BridgePortSettings.listening {
                        setPortState(br, d, BridgePortSettings.learning)
                        d.bridgePort.forwardDelayAt = now &+ br.stp.forwardDelay
                    } else if d.bridgePort.state == BridgePortSettings.learning {
                        setPortState(br, d, BridgePortSettings.forwarding)
                        if stpPorts(br).contains(where: { $0.bridgePortState != BridgePortSettings.disabled && $0.bridgePort.stp.designatedBridge == br.bridgeID }) {
                            topologyChangeDetection(br)
                        }
                    }
                }
                if d.bridgePort.stp.holdAt != 0 && d.bridgePort.stp.holdAt <= now {
                    d.bridgePort.stp.holdAt = 0
                    if d.bridgePort.stp.configPending { transmitConfig(br, d) }
                }
            }
            stpSettle(br)
            keep(br.stp.helloAt); keep(br.stp.tcnAt); keep(br.stp.topologyChangeAt)
            for d in stpPorts(br) {
                keep(d.bridgePort.stp.messageAgeAt); keep(d.bridgePort.forwardDelayAt); keep(d.bridgePort.stp.holdAt)
            }
        }
        stpDue = next
    }

    /// After states changed: the packet path's view of the ports, the bridge's carrier (a port
    /// forwarding: on; none: off), and a RTM_NEWLINK for each port whose state changed.
    func stpSettle(_ br: Bridge) {
        guard !stpChanged.isEmpty else { return }
        br.recomputePortChecks(self)
        for i in stpChanged { if devices[Int(i)] != nil { portStateEvents.append(i) } }
        stpChanged.removeAll()
        updateBridgeCarrier(br)
    }
}
