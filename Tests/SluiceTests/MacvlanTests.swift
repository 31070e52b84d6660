import XCTest
@testable import Sluice

/// macvlan devices as drivers/net/macvlan.c: frames to a macvlan's address go up through it,
/// broadcasts reach every macvlan and the lower device, bridge mode talks to its siblings
/// without the wire, VEPA sends everything to the wire.
final class MacvlanTests: XCTestCase {
    let ip = FrameBuilder.ip
    let peer = MACAddress(raw: 0x0200_0000_0F0F)

    final class Rig {
        let dp = Datapath(poolSize: 256, clock: .virtual(start: 1_000 * Time.s))
        let runner: CommandRunner
        let wire = MemoryDriver()
        init() throws {
            dp.log = { _ in }
            runner = CommandRunner(datapath: dp)
            try dp.addMemory(name: "low", driver: wire)
            for c in ["link set low up",
                      "link add link low name m1 type macvlan mode bridge", "link add link low name m2 type macvlan mode bridge",
                      "link add link low name m3 type macvlan",
                      "link set m1 up", "link set m2 up", "link set m3 up",
                      "addr add 198.18.70.1/24 dev m1", "addr add 198.18.70.2/24 dev m2", "addr add 198.18.70.3/24 dev m3"] {
                try runner.execute(c)
            }
        }
        func dev(_ n: String) -> NetDevice { dp.device(named: n)! }
        func run() -> [[UInt8]] {
            for _ in 0..<50 { dp.runOnce(timeoutMs: 0); if dp.pollListCount == 0 && wire.pending == 0 { break } }
            return wire.takeCaptured()
        }
        func receive(_ f: [UInt8]) -> [[UInt8]] { wire.inject(f); return run() }
        /// Hands `f` to `dev`'s transmit, as its own stack would.
        func send(_ dev: NetDevice, _ f: [UInt8]) -> [[UInt8]] {
            var b = PacketBatch()
            let p = must(dp.pool.alloc())
            f.withUnsafeBytes { dp.pool.data(p).copyMemory(from: $0.baseAddress!, byteCount: f.count) }
            dp.pool.meta(p).pointee.length = UInt32(f.count)
            b.append(p)
            dp.transmit(dev, &b)
            dp.flushTransmit()
            dp.settleDiverted()
            return run()
        }
    }

    func arpRequest(for target: UInt32, from mac: MACAddress, _ sender: UInt32) -> [UInt8] {
        let body: [UInt8] = [0, 1, 8, 0, 6, 4, 0, 1] + mac.octets + FrameBuilder.be32(sender) + [0, 0, 0, 0, 0, 0] + FrameBuilder.be32(target)
        return FrameBuilder.ethernet(dst: .broadcast, src: mac, type: EtherType.arp, payload: body + [UInt8](repeating: 0, count: 18))
    }

    func ping(from src: UInt32, to dst: UInt32, dstMAC: MACAddress, srcMAC: MACAddress) -> [UInt8] {
        var icmp: [UInt8] = [8, 0, 0, 0, 0, 1, 0, 1] + [UInt8](repeating: 7, count: 32)
        let c = icmp.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, icmp.count)) }
        icmp[2] = UInt8(c >> 8); icmp[3] = UInt8(c & 0xFF)
        return FrameBuilder.ethernet(dst: dstMAC, src: srcMAC, type: EtherType.ipv4,
                                     payload: FrameBuilder.ipv4(src: src, dst: dst, proto: IPProto.icmp, payload: icmp))
    }

    func testEachMacvlanAnswersForItsOwnAddressWithItsOwnMAC() throws {
        let r = try Rig()
        // One stack, four interfaces: with arp_ignore 0 every device the broadcast request
        // reaches answers for any local address, each from its own MAC, whether or not it has
        // an address itself — m1 and m3 (flushed), m2 (the owner) and the lower device (ARP
        // flux: a kernel's lower veth with three macvlans, only m2 addressed, sent 4 replies).
        try r.runner.execute("addr flush dev m1")
        try r.runner.execute("addr flush dev m3")
        let out = r.receive(arpRequest(for: ip(198, 18, 70, 2), from: peer, ip(198, 18, 70, 9)))
        XCTAssertEqual(Set(out.map { MACAddress(Array($0[6..<12])) }), Set(["m1", "m2", "m3", "low"].map { r.dev($0).mac }))
        XCTAssertEqual(r.dev("m1").stats.rxPackets, 1, "the broadcast reached every macvlan")
        XCTAssertEqual(r.dev("m3").stats.rxPackets, 1)
        try r.runner.execute("addr add 198.18.70.1/24 dev m1")
        // A unicast ping to m2's MAC goes up through m2 only; m2 answers (its connected route
        // is the subnet's first, so the reply leaves through it, as the kernel's would).
        let reply = r.receive(ping(from: ip(198, 18, 70, 9), to: ip(198, 18, 70, 2), dstMAC: r.dev("m2").mac, srcMAC: peer))
        XCTAssertEqual(reply.count, 1)
        XCTAssertEqual(MACAddress(Array(reply[0][6..<12])), r.dev("m2").mac)
        XCTAssertEqual(reply[0][34], 0, "echo reply")
        XCTAssertEqual(r.dev("m2").stats.rxPackets, 2)
        XCTAssertEqual(r.dev("m1").stats.rxPackets, 1, "m1 saw only the broadcast")
        // Unicast to a MAC no macvlan has stays with the lower device, whose IPv4 drops it as
        // for another host (PACKET_OTHERHOST), as it took the broadcast besides the macvlans.
        _ = r.receive(ping(from: ip(198, 18, 70, 9), to: ip(198, 18, 70, 1), dstMAC: MACAddress(raw: 0x0200_0000_0777), srcMAC: peer))
        XCTAssertEqual(r.dev("low").dropCount(.otherHost), 1)
        XCTAssertEqual(r.dev("low").stats.rxNohandler, 0)
        XCTAssertEqual(r.dp.pool.inUse, 0)
    }

    func testBridgeModeSiblingsTalkWithoutTheWireAndVEPAUsesIt() throws {
        // Frames of a protocol no stack takes (0x88b5), so only delivery is seen.
        let r = try Rig()
        func frame(to: MACAddress, from: MACAddress) -> [UInt8] {
            FrameBuilder.ethernet(dst: to, src: from, type: 0x88B5, payload: [UInt8](repeating: 1, count: 46))
        }
        // m1 → m2, both bridge mode: straight to m2, nothing on the wire.
        XCTAssertEqual(r.send(r.dev("m1"), frame(to: r.dev("m2").mac, from: r.dev("m1").mac)), [])
        XCTAssertEqual(r.dev("m2").stats.rxPackets, 1)
        // A broadcast from m1: to the wire, and to m2 (bridge) — not to m3 (VEPA: it hears it
        // only if the switch hairpins it back) nor back to m1.
        XCTAssertEqual(r.send(r.dev("m1"), frame(to: .broadcast, from: r.dev("m1").mac)).count, 1)
        XCTAssertEqual(r.dev("m2").stats.rxPackets, 2)
        XCTAssertEqual(r.dev("m3").stats.rxPackets, 0)
        XCTAssertEqual(r.dev("m1").stats.rxPackets, 0)
        // m3 is VEPA: its frame for m1 goes to the wire.
        XCTAssertEqual(r.send(r.dev("m3"), frame(to: r.dev("m1").mac, from: r.dev("m3").mac)).count, 1)
        XCTAssertEqual(r.dev("m1").stats.rxPackets, 0)
        XCTAssertEqual(r.dp.pool.inUse, 0)
    }

    func testModeChangesInPlaceAsMacvlanChangelink() throws {
        let r = try Rig()
        func frame(to: MACAddress, from: MACAddress) -> [UInt8] {
            FrameBuilder.ethernet(dst: to, src: from, type: 0x88B5, payload: [UInt8](repeating: 1, count: 46))
        }
        // m3 (VEPA) sends m1's frame to the wire; once it is a bridge-mode macvlan the frame
        // goes straight to m1, and the mode shows as such.
        XCTAssertEqual(r.send(r.dev("m3"), frame(to: r.dev("m1").mac, from: r.dev("m3").mac)).count, 1)
        try r.runner.execute("link set m3 type macvlan mode bridge")
        XCTAssertTrue(try r.runner.execute("link show m3 -d").contains("macvlan mode bridge"))
        XCTAssertEqual(r.send(r.dev("m3"), frame(to: r.dev("m1").mac, from: r.dev("m3").mac)), [])
        XCTAssertEqual(r.dev("m1").stats.rxPackets, 1)
        // passthru cannot be entered by a change (macvlan_changelink: EINVAL); an unknown word
        // is refused; neither changes the mode.
        XCTAssertThrowsError(try r.runner.execute("link set m3 type macvlan mode passthru"))
        XCTAssertThrowsError(try r.runner.execute("link set m3 type macvlan mode bogus"))
        XCTAssertTrue(try r.runner.execute("link show m3 -d").contains("macvlan mode bridge"))
        XCTAssertEqual(r.dp.pool.inUse, 0)
    }

    func testTheLowerDeviceRules() throws {
        let r = try Rig()
        try r.runner.execute("link add br0 type bridge")
        XCTAssertThrowsError(try r.runner.execute("link set low master br0"), "one rx handler per device (EBUSY)")
        XCTAssertThrowsError(try r.runner.execute("link set m1 mtu 9000"))
        XCTAssertThrowsError(try r.runner.execute("link add link low name m4 type macvlan mode passthru"))
        XCTAssertTrue(try r.runner.execute("link show m1 -d").contains("m1@low:"))
        try r.runner.execute("link set low down")
        XCTAssertFalse(r.dev("m1").isOperational, "the macvlan's carrier follows the lower device")
        try r.runner.execute("link delete low")
        XCTAssertNil(r.dp.device(named: "m1"))
        XCTAssertNil(r.dp.device(named: "m3"))
    }
    /// The addresses an open macvlan puts on its lower device (macvlan_open, dev_uc_add): a
    /// lower without unicast filtering — memory, like veth, tun or a bridge — holds one
    /// promiscuity reference while its list is not empty and it is up (__dev_set_rx_mode);
    /// a macvlan is hashed for delivery only while open, so what is sent to a closed one's
    /// address stays with the lower; an address change while open rehashes it; the lower's
    /// own address, or an open sibling's, is refused (EADDRINUSE), at open and at change.
    func testOpenMacvlansPutTheirAddressesOnTheLower() throws {
        let r = try Rig()
        let low = r.dev("low"), m1 = r.dev("m1")
        XCTAssertEqual(low.promiscuity, 1, "three open macvlans: one reference")
        XCTAssertTrue(low.ucPromisc)
        XCTAssertEqual(low.unicastList.count, 3)
        try r.runner.execute("link set m1 down")
        XCTAssertEqual(low.unicastList.count, 2)
        // m1 closed: a ping to its address is no longer m1's; the lower takes it and, not
        // being its MAC, drops it as for another host.
        _ = r.receive(ping(from: ip(198, 18, 70, 9), to: ip(198, 18, 70, 1), dstMAC: m1.mac, srcMAC: peer))
        XCTAssertEqual(m1.stats.rxPackets, 0)
        XCTAssertEqual(low.dropCount(.otherHost), 1)
        try r.runner.execute("link set m2 down")
        try r.runner.execute("link set m3 down")
        XCTAssertEqual(low.promiscuity, 0, "an empty list: the reference goes")
        XCTAssertFalse(low.ucPromisc)
        // The lower's address is EADDRINUSE; two closed macvlans may share one, but only the
        // first opens.
        XCTAssertThrowsError(try r.runner.execute("link set m1 address \(low.mac)"))
        try r.runner.execute("link set m1 address 02:00:00:00:70:01")
        try r.runner.execute("link set m2 address 02:00:00:00:70:01")
        try r.runner.execute("link set m1 up")
        XCTAssertThrowsError(try r.runner.execute("link set m2 up"))
        XCTAssertFalse(r.dev("m2").isUp)
        XCTAssertThrowsError(try r.runner.execute("link set m3 address 02:00:00:00:70:01 up"), "an open sibling's address")
        XCTAssertNotEqual(r.dev("m3").mac, MACAddress(raw: 0x0200_0000_7001), "refused entirely")
        // An open macvlan's new address: rehashed and on the lower's list in place of the old.
        try r.runner.execute("link set m1 address 02:00:00:00:70:11")
        XCTAssertEqual(low.unicastList.keys.sorted(), [0x0200_0000_7011])
        let reply = r.receive(ping(from: ip(198, 18, 70, 9), to: ip(198, 18, 70, 1), dstMAC: MACAddress(raw: 0x0200_0000_7011), srcMAC: peer))
        XCTAssertEqual(reply.count, 1, "m1 answers at its new address")
        XCTAssertEqual(MACAddress(Array(reply.first?[6..<12] ?? [])), MACAddress(raw: 0x0200_0000_7011))
        try r.runner.execute("link delete m1")
        XCTAssertTrue(low.unicastList.isEmpty, "an open macvlan deleted leaves the list")
        XCTAssertEqual(low.promiscuity, 0)
        XCTAssertEqual(r.dp.pool.inUse, 0)
    }
}
