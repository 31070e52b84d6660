import XCTest
@testable import Sluice

/// VLAN devices (net/8021q) and bridge VLAN filtering (net/bridge/br_vlan.c). Expected frames are
/// IEEE 802.1Q's: a tag is TPID (0x8100, or 0x88A8 for an 802.1ad S-tag), then PCP(3) DEI(1)
/// VID(12), inserted after the source address; the kernel rules followed are named per test.
final class VLANTests: XCTestCase {
    /// `frame` with a tag inserted after the MAC addresses (outermost first).
    func tagged(_ f: [UInt8], _ tags: [(tpid: UInt16, vid: UInt16, pcp: UInt8)]) -> [UInt8] {
        var out = Array(f[0..<12])
        for t in tags {
            let tci = UInt16(t.pcp) << 13 | t.vid
            out += [UInt8(t.tpid >> 8), UInt8(t.tpid & 0xFF), UInt8(tci >> 8), UInt8(tci & 0xFF)]
        }
        return out + f[12...]
    }

    /// A bridge br0 with access port a1, plus a trunk port `trunk` (not bridged) carrying VLAN
    /// devices the test makes and enslaves.
    func trunkLab(_ extra: [String] = []) throws -> Lab {
        let lab = try Lab(ports: ["a1"] + extra)
        let d = MemoryDriver()
        lab.ports["trunk"] = d
        try lab.dp.addMemory(name: "trunk", driver: d)
        try lab.runner.execute("link set trunk up")
        return lab
    }

    func testTaggedFrameReachesItsVLANDeviceAndLeavesTheBridgeUntagged() throws {
        let lab = try trunkLab()
        try lab.runner.execute("link add link trunk name trunk.10 type vlan id 10")
        try lab.runner.execute("link set trunk.10 master br0 up")
        let plain = frame(.broadcast, macA)
        let out = lab.send(tagged(plain, [(0x8100, 10, 0)]), on: "trunk")
        XCTAssertEqual(out["a1"], [plain], "the tag is consumed by trunk.10 (vlan_do_receive)")
        XCTAssertEqual(lab.dev("trunk.10").stats.rxPackets, 1)
        // vlan_do_receive counts skb->len: the frame past its Ethernet header, tag consumed.
        XCTAssertEqual(lab.dev("trunk.10").stats.rxBytes, UInt64(plain.count - 14))
        // The answer from a1 leaves the trunk tagged with VLAN 10.
        let reply = frame(macA, macB)
        let back = lab.send(reply, on: "a1")
        XCTAssertEqual(back["trunk"], [tagged(reply, [(0x8100, 10, 0)])])
        XCTAssertEqual(lab.dev("trunk.10").stats.txPackets, 1)
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    /// __netif_receive_skb_core: a tag no VLAN device takes marks the frame PACKET_OTHERHOST;
    /// the parent's protocol handler (ip_rcv) drops it as such, not as unhandled.
    func testATagNamingNoVLANDeviceIsDroppedByTheParentAsOtherHost() throws {
        let lab = try trunkLab()
        try lab.runner.execute("link add link trunk name trunk.10 type vlan id 10")
        try lab.runner.execute("link set trunk.10 master br0 up")
        let out = lab.send(tagged(frame(.broadcast, macA), [(0x8100, 20, 0)]), on: "trunk")
        XCTAssertTrue(Lab.receivers(out).isEmpty)
        XCTAssertEqual(lab.dev("trunk").stats.rxNohandler, 0)
        XCTAssertEqual(lab.dev("trunk").dropCount(.otherHost), 1)
        XCTAssertEqual(lab.dev("trunk.10").stats.rxPackets, 0)
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testQinQStacksAnSTagOutsideACTag() throws {
        let lab = try trunkLab()
        try lab.runner.execute("link add link trunk name svc type vlan id 100 protocol 802.1ad")
        try lab.runner.execute("link add link svc name svc.10 type vlan id 10")
        try lab.runner.execute("link set svc up")
        try lab.runner.execute("link set svc.10 master br0 up")
        let plain = frame(.broadcast, macA)
        let double = tagged(plain, [(0x88A8, 100, 0), (0x8100, 10, 0)])
        XCTAssertEqual(lab.send(double, on: "trunk")["a1"], [plain])
        XCTAssertEqual(lab.dev("svc").stats.rxPackets, 1)
        XCTAssertEqual(lab.dev("svc.10").stats.rxPackets, 1)
        let reply = frame(macA, macB)
        XCTAssertEqual(lab.send(reply, on: "a1")["trunk"], [tagged(reply, [(0x88A8, 100, 0), (0x8100, 10, 0)])],
                       "the inner device's tag goes into the frame first, the outer one outside it")
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testIngressAndEgressQoSMapsCarryPriorityAcrossVLANs() throws {
        // PCP 5 arriving on trunk.10 becomes priority 3 (ingress-qos-map 5:3); priority 3 leaves
        // trunk.20 as PCP 6 (egress-qos-map 3:6): vlan_get_ingress_priority and
        // vlan_dev_get_egress_qos_mask.
        let lab = try trunkLab()
        try lab.runner.execute("link add link trunk name trunk.10 type vlan id 10 ingress-qos-map 5:3")
        try lab.runner.execute("link add link trunk name trunk.20 type vlan id 20 egress-qos-map 3:6 4:1")
        try lab.runner.execute("link add br1 type bridge")
        try lab.runner.execute("link set trunk.10 master br1 up")
        try lab.runner.execute("link set trunk.20 master br1 up")
        try lab.runner.execute("link set br1 up")
        let plain = frame(.broadcast, macA)
        let out = lab.send(tagged(plain, [(0x8100, 10, 5)]), on: "trunk")
        XCTAssertEqual(out["trunk"], [tagged(plain, [(0x8100, 20, 6)])])
        let shown = try lab.runner.execute("link show trunk.20 -d")
        XCTAssertTrue(shown.contains("trunk.20@trunk:"), shown)
        XCTAssertTrue(shown.contains("vlan protocol 802.1Q id 20 <REORDER_HDR>"), shown)
        XCTAssertTrue(shown.contains("egress-qos-map { 3:6 4:1 }"), shown)
    }

    func testVLANDeviceFollowsItsParent() throws {
        let lab = try trunkLab()
        try lab.runner.execute("link add link trunk name trunk.10 type vlan id 10")
        let v = lab.dev("trunk.10"), t = lab.dev("trunk")
        XCTAssertEqual(v.mtu, t.mtu)
        XCTAssertEqual(v.qdisc.kind, "noop", "noop_qdisc until it is first up")
        // In a bridge and up, it holds a promiscuity reference on the parent.
        try lab.runner.execute("link set trunk.10 master br0 up")
        XCTAssertEqual(v.qdisc.kind, "noqueue", "IFF_NO_QUEUE: dev_activate attaches noqueue")
        XCTAssertEqual(t.promiscuity, 1)
        // The parent going down takes it down; coming up brings it back (vlan_device_event).
        try lab.runner.execute("link set trunk down")
        XCTAssertFalse(v.isUp)
        XCTAssertEqual(t.promiscuity, 0)
        XCTAssertThrowsError(try lab.runner.execute("link set trunk.10 up"))
        try lab.runner.execute("link set trunk up")
        XCTAssertTrue(v.isUp)
        XCTAssertTrue(v.isOperational)
        // MTU: not above the parent's; a parent shrinking below takes it down with it.
        XCTAssertThrowsError(try lab.runner.execute("link set trunk.10 mtu 1600"))
        try lab.runner.execute("link set trunk mtu 1400")
        XCTAssertEqual(v.mtu, 1400)
        // vlan_check_real_dev: one device per (protocol, id) on a parent; ids 0-4094.
        XCTAssertThrowsError(try lab.runner.execute("link add link trunk name dup type vlan id 10"))
        XCTAssertNoThrow(try lab.runner.execute("link add link trunk name ad10 type vlan id 10 protocol 802.1ad"))
        XCTAssertThrowsError(try lab.runner.execute("link add link trunk name bad type vlan id 4095"))
        XCTAssertThrowsError(try lab.runner.execute("link add link trunk name bad type vlan"))
        XCTAssertThrowsError(try lab.runner.execute("link add name bad type vlan id 5"))
        XCTAssertThrowsError(try lab.runner.execute("link add link nosuch name bad type vlan id 5"))
        // Deleting the parent deletes its VLAN devices.
        try lab.runner.execute("link delete trunk")
        XCTAssertNil(lab.dp.device(named: "trunk.10"))
        XCTAssertNil(lab.dp.device(named: "ad10"))
        XCTAssertTrue(lab.dp.bridge(lab.dev("br0"))!.ports.allSatisfy { lab.dp.device($0) != nil })
    }

    func testBridgeCannotTakeADeviceStackedOnIt() throws {
        let lab = try trunkLab()
        try lab.runner.execute("link add link br0 name br0.5 type vlan id 5")
        XCTAssertThrowsError(try lab.runner.execute("link set br0.5 master br0"))
    }

    // MARK: bridge VLAN filtering

    /// p1: access VLAN 10, p2: access VLAN 20, p3: trunk with 10 and 20 tagged.
    func filteringLab() throws -> Lab {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        for cmd in ["vlan add dev p1 vid 10 pvid untagged", "vlan del dev p1 vid 1",
                    "vlan add dev p2 vid 20 pvid untagged", "vlan del dev p2 vid 1",
                    "vlan add dev p3 vid 10-20", "vlan del dev p3 vid 1",
                    "link set br0 type bridge vlan_filtering 1"] {
            try lab.runner.execute(cmd)
        }
        return lab
    }

    func testFilteringBridgeTagsUntagsAndKeepsVLANsApart() throws {
        let lab = try filteringLab()
        let b = frame(.broadcast, macA)
        // Untagged on access port p1 is VLAN 10: only p3 (tagged) gets it, never p2.
        var out = lab.send(b, on: "p1")
        XCTAssertEqual(Lab.receivers(out), ["p3"])
        XCTAssertEqual(out["p3"], [tagged(b, [(0x8100, 10, 0)])])
        // Tagged 20 on the trunk reaches p2 untagged only.
        let b2 = frame(.broadcast, macB)
        out = lab.send(tagged(b2, [(0x8100, 20, 0)]), on: "p3")
        XCTAssertEqual(Lab.receivers(out), ["p2"])
        XCTAssertEqual(out["p2"], [b2])
        // A VLAN the trunk is not in, and untagged frames on a port without PVID, are refused.
        XCTAssertTrue(Lab.receivers(lab.send(tagged(b2, [(0x8100, 30, 0)]), on: "p3")).isEmpty)
        XCTAssertTrue(Lab.receivers(lab.send(b2, on: "p3")).isEmpty)
        XCTAssertEqual(lab.dev("p3").dropCount(.vlanFiltered), 2)
        // A priority-tagged frame (VID 0) on p1 joins the PVID and keeps its PCP.
        out = lab.send(tagged(b, [(0x8100, 0, 5)]), on: "p1")
        XCTAssertEqual(out["p3"], [tagged(b, [(0x8100, 10, 5)])])
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testFilteringBridgeLearnsPerVLAN() throws {
        let lab = try filteringLab()
        // A lives in VLAN 10 behind p1 and in VLAN 20 behind p2 (the same MAC twice).
        lab.send(frame(.broadcast, macA), on: "p1")
        lab.send(frame(.broadcast, macA), on: "p2")
        let fdb = try lab.runner.execute("fdb show br br0")
        XCTAssertTrue(fdb.contains("02:00:00:00:00:0a dev p1 vlan 10 master br0"), fdb)
        XCTAssertTrue(fdb.contains("02:00:00:00:00:0a dev p2 vlan 20 master br0"), fdb)
        // From the trunk, A in VLAN 20 is p2, and untagged there.
        let f = frame(macA, macB)
        let out = lab.send(tagged(f, [(0x8100, 20, 0)]), on: "p3")
        XCTAssertEqual(Lab.receivers(out), ["p2"])
        XCTAssertEqual(out["p2"], [f])
    }

    func testWithoutFilteringTagsPassUnchanged() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        let t = tagged(frame(.broadcast, macA), [(0x8100, 42, 3)])
        XCTAssertEqual(lab.send(t, on: "p1")["p2"], [t])
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testVLANConfigurationRules() throws {
        let lab = try Lab(ports: ["p1"])
        let shown = try lab.runner.execute("vlan show")
        XCTAssertEqual(shown, """
            port              vlan-id  
            br0               1 PVID Egress Untagged
            p1                1 PVID Egress Untagged

            """)
        try lab.runner.execute("vlan add dev p1 vid 7 pvid")
        let set = lab.dev("p1").bridgeVLANs!
        XCTAssertEqual(set.pvid, 7, "a new PVID replaces the old one")
        XCTAssertFalse(set.isUntagged(7))
        XCTAssertTrue(set.isUntagged(1))
        XCTAssertThrowsError(try lab.runner.execute("vlan add dev p1 vid 0"))
        XCTAssertThrowsError(try lab.runner.execute("vlan add dev p1 vid 4095"))
        XCTAssertThrowsError(try lab.runner.execute("vlan add dev p1 vid 5-9 pvid"))
        XCTAssertThrowsError(try lab.runner.execute("vlan del dev p1 vid 99"))
        XCTAssertThrowsError(try lab.runner.execute("vlan add dev br0 vid 5"), "br0 is no port; it needs self")
        XCTAssertNoThrow(try lab.runner.execute("vlan add dev br0 vid 5 self"))
        // The default PVID cannot change while filtering is on; the change is refused whole.
        try lab.runner.execute("link set br0 type bridge vlan_filtering 1")
        XCTAssertThrowsError(try lab.runner.execute("link set br0 mtu 1400 type bridge vlan_default_pvid 3"))
        XCTAssertEqual(lab.dev("br0").mtu, 1500)
        try lab.runner.execute("link set br0 type bridge vlan_filtering 0 vlan_default_pvid 3")
        let br = lab.dp.bridge(lab.dev("br0"))!
        XCTAssertEqual(br.defaultPVID, 3)
        XCTAssertEqual(br.selfVLANs.pvid, 3, "the bridge's own default PVID moved")
        XCTAssertEqual(set.pvid, 7, "the port's PVID was the user's, not the default: kept")
    }
}
