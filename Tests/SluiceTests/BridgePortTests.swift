import XCTest
@testable import Sluice

/// A bridge port's flags and state as net/bridge applies them (br_input.c's br_handle_frame and
/// br_handle_frame_finish, br_forward.c's should_deliver and br_flood, br_netlink.c's
/// br_setport and br_set_port_state): expected values from those sources, set through the
/// batch grammar's `type bridge_slave` (the netlink path is ExecTests', side by side with this
/// kernel's bridge).
final class BridgePortTests: XCTestCase {
    let mcast = MACAddress(raw: 0x0100_5E00_0001)

    func testLearningOffLearnsNothingFromThatPort() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        try lab.runner.execute("link set p1 type bridge_slave learning off")
        lab.send(frame(.broadcast, macA), on: "p1")
        XCTAssertEqual(Lab.receivers(lab.send(frame(macA, macB), on: "p2")), ["p1", "p3"], "A was not learnt: flooded")
        XCTAssertEqual(Lab.receivers(lab.send(frame(macB, macA), on: "p1")), ["p2"], "B was learnt from p2")
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testEachFloodFlagKeepsItsKindOfFrameFromThePort() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        try lab.runner.execute("link set p2 type bridge_slave flood off")
        XCTAssertEqual(Lab.receivers(lab.send(frame(macB, macA), on: "p1")), ["p3"], "unknown unicast")
        XCTAssertEqual(Lab.receivers(lab.send(frame(.broadcast, macA), on: "p1")), ["p2", "p3"])
        XCTAssertEqual(Lab.receivers(lab.send(frame(mcast, macA), on: "p1")), ["p2", "p3"])
        try lab.runner.execute("link set p2 type bridge_slave flood on mcast_flood off")
        XCTAssertEqual(Lab.receivers(lab.send(frame(mcast, macA), on: "p1")), ["p3"], "multicast")
        XCTAssertEqual(Lab.receivers(lab.send(frame(.broadcast, macA), on: "p1")), ["p2", "p3"])
        XCTAssertEqual(Lab.receivers(lab.send(frame(macB, macA), on: "p1")), ["p2", "p3"])
        try lab.runner.execute("link set p2 type bridge_slave mcast_flood on bcast_flood off")
        XCTAssertEqual(Lab.receivers(lab.send(frame(.broadcast, macA), on: "p1")), ["p3"], "broadcast")
        XCTAssertEqual(Lab.receivers(lab.send(frame(mcast, macA), on: "p1")), ["p2", "p3"])
        // Known unicast is not flooding: it still goes to the port.
        lab.send(frame(.broadcast, macB), on: "p2")
        XCTAssertEqual(Lab.receivers(lab.send(frame(macB, macA), on: "p1")), ["p2"])
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testIsolatedPortsReachOnlyPortsThatAreNot() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        try lab.runner.execute("link set p1 type bridge_slave isolated on")
        try lab.runner.execute("link set p2 type bridge_slave isolated on")
        lab.send(frame(.broadcast, macB), on: "p2")                 // B on p2 (isolated, to p3 only)
        XCTAssertEqual(Lab.receivers(lab.send(frame(.broadcast, macA), on: "p1")), ["p3"])
        XCTAssertTrue(Lab.receivers(lab.send(frame(macB, macA), on: "p1")).isEmpty, "isolated to isolated")
        XCTAssertEqual(lab.dev("p1").dropCount(.notDelivered), 1)
        XCTAssertEqual(Lab.receivers(lab.send(frame(macB, macC), on: "p3")), ["p2"], "from a port that is not isolated")
        XCTAssertEqual(Lab.receivers(lab.send(frame(.broadcast, macC), on: "p3")), ["p1", "p2"])
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testHairpinSendsBackByTheIngressPort() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        lab.send(frame(.broadcast, macB), on: "p1")                 // B lives behind p1 too
        XCTAssertTrue(Lab.receivers(lab.send(frame(macB, macA), on: "p1")).isEmpty)
        try lab.runner.execute("link set p1 type bridge_slave hairpin on")
        XCTAssertEqual(Lab.receivers(lab.send(frame(macB, macA), on: "p1")), ["p1"], "reflected")
        XCTAssertEqual(Lab.receivers(lab.send(frame(.broadcast, macA), on: "p1")), ["p1", "p2"], "floods include the ingress")
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testPortStatesAsWithoutSTP() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        // learning: learns, forwards nothing, is sent nothing.
        try lab.runner.execute("link set p1 type bridge_slave state learning")
        XCTAssertTrue(Lab.receivers(lab.send(frame(.broadcast, macA), on: "p1")).isEmpty)
        XCTAssertEqual(lab.dev("p1").dropCount(.stpState), 1)
        XCTAssertEqual(Lab.receivers(lab.send(frame(.broadcast, macB), on: "p2")), ["p3"], "not flooded to p1")
        XCTAssertTrue(Lab.receivers(lab.send(frame(macA, macB), on: "p2")).isEmpty, "A was learnt on p1, which does not forward")
        // listening: not even learning.
        try lab.runner.execute("link set p1 type bridge_slave state listening")
        lab.send(frame(.broadcast, macC), on: "p1")
        XCTAssertEqual(Lab.receivers(lab.send(frame(macC, macB), on: "p2")), ["p3"], "C not learnt")
        // disabled, set as a link's slave data: the NETDEV_CHANGE that ends `ip link set` has
        // br_port_carrier_check enable a port that is up, so it does not stay (bridge link set's
        // path keeps it: ExecTests, side by side with the kernel).
        try lab.runner.execute("link set p1 type bridge_slave state 0")
        XCTAssertEqual(lab.dev("p1").bridgePortState, BridgePortSettings.forwarding)
        try lab.runner.execute("link set p1 type bridge_slave state 1")
        // blocking: with STP off br_port_state_selection makes the (designated) port forwarding.
        try lab.runner.execute("link set p1 type bridge_slave state blocking")
        XCTAssertEqual(lab.dev("p1").bridgePort.state, BridgePortSettings.forwarding)
        XCTAssertEqual(Lab.receivers(lab.send(frame(.broadcast, macA), on: "p1")), ["p2", "p3"])
        // A port that goes down and comes back is forwarding again.
        try lab.runner.execute("link set p1 type bridge_slave state 1")
        try lab.runner.execute("link set p1 down")
        XCTAssertEqual(lab.dev("p1").bridgePortState, BridgePortSettings.disabled)
        try lab.runner.execute("link set p1 up")
        XCTAssertEqual(lab.dev("p1").bridgePortState, BridgePortSettings.forwarding)
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    /// br_setport's checks, whole: nothing changes when any part is refused.
    func testSettingsAreCheckedWhole() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        let before = lab.dev("p1").bridgePort
        // The kernel's answers (bare errnos, as iproute2 prints them; ExecTests compares them).
        for (line, text) in [("link set p1 type bridge_slave learning off cost 0", "Numerical result out of range"),
                             ("link set p1 type bridge_slave learning off cost 65536", "Numerical result out of range"),
                             ("link set p1 type bridge_slave isolated on priority 64", "Numerical result out of range"),
                             ("link set p1 type bridge_slave hairpin on state 5", "Invalid argument"),
                             ("link set p1 type bridge_slave vlan_tunnel on", "do not support vlan_tunnel"),
                             ("link set p1 type bridge_slave neigh_suppress on neigh_vlan_suppress on", "do not support neigh_vlan_suppress"),
                             ("link set br0 type bridge_slave learning off", "br0 is not a bridge port")] {
            XCTAssertThrowsError(try lab.runner.execute(line), line) { e in
                XCTAssertTrue((e as! SluiceError).message.contains(text), "\(line): \(e)")
            }
            XCTAssertEqual(lab.dev("p1").bridgePort, before, line)
        }
        try lab.runner.execute("link set p1 down")
        XCTAssertThrowsError(try lab.runner.execute("link set p1 type bridge_slave state 3")) { e in
            XCTAssertTrue((e as! SluiceError).message.contains("Network is down"), "\(e)")
        }
        // Down, not even disabled may be set (!netif_running); up, it may.
        XCTAssertThrowsError(try lab.runner.execute("link set p1 type bridge_slave state 0"))
        try lab.runner.execute("link set p1 up")
        try lab.runner.execute("link set p1 type bridge_slave state 0 cost 65535 priority 63 neigh_suppress off")
        XCTAssertEqual([lab.dev("p1").bridgePort.cost, UInt32(lab.dev("p1").bridgePort.priority)], [65535, 63])
    }

    /// br_do_proxy_suppress_arp with VLAN filtering (this kernel's bridge has none; the
    /// expected frames are read from br_arp_nd_proxy.c): the neighbour is looked up on the
    /// bridge's VLAN device for the request's VLAN, and the reply leaves tagged with the
    /// request's whole TCI unless its VID is the port's PVID.
    func testNeighbourSuppressionAnswersPerVLANDevice() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        for cmd in ["vlan add dev p1 vid 10", "vlan add dev p2 vid 10", "vlan add dev p3 vid 10", "vlan add dev br0 vid 10 self",
                    "link set br0 type bridge vlan_filtering 1", "link add link br0 name br0.10 type vlan id 10", "link set br0.10 up",
                    "neigh add 198.18.0.2 lladdr 02:00:00:00:00:0b dev br0.10",
                    "fdb add 02:00:00:00:00:0b dev p2 master static vlan 10",
                    "link set p2 type bridge_slave neigh_suppress on"] {
            try lab.runner.execute(cmd)
        }
        let sip: [UInt8] = [198, 18, 0, 1], tip: [UInt8] = [198, 18, 0, 2]
        let a: [UInt8] = [2, 0, 0, 0, 0, 0x0A], b: [UInt8] = [2, 0, 0, 0, 0, 0x0B]
        func request(tci: UInt16) -> [UInt8] {
            [UInt8](repeating: 0xFF, count: 6) + a + [0x81, 0x00, UInt8(tci >> 8), UInt8(tci & 0xFF), 0x08, 0x06]
                + [0, 1, 8, 0, 6, 4, 0, 1] + a + sip + [0, 0, 0, 0, 0, 0] + tip + [UInt8](repeating: 0, count: 14)
        }
        let arpReply: [UInt8] = [0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2] + b + tip + a + sip
        // Tagged VID 10, priority 5, on a port whose PVID is 1: answered tagged 0xA00A; the
        // request floods to p3 but not to the suppressing p2.
        var out = lab.send(request(tci: 0xA00A), on: "p1")
        XCTAssertEqual(out["p1"], [a + b + [0x81, 0x00, 0xA0, 0x0A] + arpReply])
        XCTAssertEqual(out["p2"], [])
        XCTAssertEqual(out["p3"]?.count, 1)
        // VID 10 is p1's PVID now: the answer leaves untagged, priority or not.
        try lab.runner.execute("vlan add dev p1 vid 10 pvid")
        out = lab.send(request(tci: 0xA00A), on: "p1")
        XCTAssertEqual(out["p1"], [a + b + arpReply])
        XCTAssertEqual(out["p2"], [])
        XCTAssertEqual(lab.dp.bridges[lab.dev("br0").ifindex]?.neighAnswers, 2)
        // No VLAN device for VID 10: no answer, and the request floods to p2 as well.
        try lab.runner.execute("link del br0.10")
        out = lab.send(request(tci: 0x000A), on: "p1")
        XCTAssertEqual(out["p1"], [])
        XCTAssertEqual(Lab.receivers(out), ["p2", "p3"])
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    /// The bridge device's own requests (br_dev_xmit with neigh_suppress on a port; expected
    /// paths read from br_arp_nd_proxy.c): an ARP answer outside a VLAN goes through arp_send
    /// on the bridge device — forwarded by its destination, ended at the local FDB entry when
    /// that is the bridge's own address; an ND answer goes up the bridge device (netif_rx).
    /// Either way the request reaches no suppressing port.
    func testNeighbourSuppressionAnswersTheBridgeDevice() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        for cmd in ["neigh add 198.18.0.2 lladdr 02:00:00:00:00:0b dev br0",
                    "neigh add 2001:db8::2 lladdr 02:00:00:00:00:0b dev br0",
                    "fdb add 02:00:00:00:00:0b dev p2 master static",
                    "link set p2 type bridge_slave neigh_suppress on"] {
            try lab.runner.execute(cmd)
        }
        lab.send(frame(.broadcast, macA), on: "p1")                   // A behind p1
        let dp = lab.dp, br0 = lab.dev("br0")
        func fromBridge(_ f: [UInt8]) -> [String: [[UInt8]]] {
            let p = must(dp.pool.alloc())
            f.withUnsafeBytes { dp.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
            var batch = PacketBatch()
            batch.append(p)
            dp.transmit(br0, &batch)
            dp.flushTransmit()
            return lab.runUntilIdle()
        }
        func arpRequest(from mac: MACAddress) -> [UInt8] {
            FrameBuilder.ethernet(dst: .broadcast, src: mac, type: EtherType.arp,
                                  payload: [0, 1, 8, 0, 6, 4, 0, 1] + mac.octets + [198, 18, 0, 1] + [0, 0, 0, 0, 0, 0] + [198, 18, 0, 2])
        }
        // From the bridge's own address: the answer ends at its local FDB entry.
        var out = fromBridge(arpRequest(from: br0.mac))
        XCTAssertEqual(Lab.receivers(out), ["p1", "p3"])
        XCTAssertEqual(out["p1"]?.count, 1, "the request only")
        XCTAssertEqual(lab.dp.bridges[br0.ifindex]?.neighAnswers, 1)
        // From A's address: the answer is forwarded to A.
        out = fromBridge(arpRequest(from: macA))
        XCTAssertEqual(out["p1"]?.count, 2, "the request and the answer")
        XCTAssertEqual(out["p1"]?.last.map { Array($0.prefix(12)) }, macA.octets + [2, 0, 0, 0, 0, 0x0B])
        XCTAssertEqual(out["p2"], [])
        // A solicitation: the advertisement comes up the bridge device.
        let src = IPv6Tests.a6("2001:db8::1"), target = IPv6Tests.a6("2001:db8::2")
        let group = IPv6Tests.solicited(target)
        let rxBefore = br0.stats.rxPackets
        out = fromBridge(FrameBuilder.ethernet(dst: IPv6Tests.mcastMAC(group), src: br0.mac, type: EtherType.ipv6,
                                               payload: IPv6Tests.icmp6(src: src, dst: group, type: 135, rest: [0, 0, 0, 0],
                                                                        body: target + [1, 1] + br0.mac.octets, hop: 255)))
        XCTAssertEqual(Lab.receivers(out), ["p1", "p3"])
        XCTAssertEqual(lab.dp.bridges[br0.ifindex]?.neighAnswers, 3)
        XCTAssertEqual(br0.stats.rxPackets, rxBefore + 1)
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }
}
