import XCTest
@testable import Sluice

/// The spanning tree on the virtual clock: BPDUs as this machine's kernel sends them, a bridge
/// that hears a better root, the port states' timing (br_stp_timer.c), topology change
/// notification, and BPDUs that lie.
final class STPTests: XCTestCase {
    /// A configuration BPDU captured from this machine's kernel bridge (`tcpdump -xx`): bridge
    /// 3000.02:aa:bb:cc:dd:ee, its port 0x8001 on a veth with address 02:11:22:33:44:55,
    /// hello 1 s, forward delay 4 s, max age 20 s.
    static let kernelBPDU: [UInt8] = [
        0x01, 0x80, 0xc2, 0x00, 0x00, 0x00, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x26, 0x42, 0x42,
        0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x00, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x00, 0x00,
        0x00, 0x00, 0x30, 0x00, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x80, 0x01, 0x00, 0x00, 0x14, 0x00,
        0x01, 0x00, 0x04, 0x00]

    func parse(_ f: [UInt8]) -> Result<BPDU, BPDU.Invalid> {
        f.withUnsafeBytes { BPDU.parse($0.baseAddress!, length: f.count) }
    }

    func bpduFrame(_ b: BPDU, src: MACAddress) -> [UInt8] {
        var f = [UInt8](repeating: 0, count: 60)
        let n = f.withUnsafeMutableBytes { b.write($0.baseAddress!, source: src) }
        return Array(f[..<max(n, 60)])
    }

    func testTheKernelsBPDUIsReadAndWrittenBitForBit() throws {
        guard case .success(.config(let c)) = parse(Self.kernelBPDU) else { return XCTFail("\(parse(Self.kernelBPDU))") }
        XCTAssertEqual(c.root, 0x3000_02aa_bbcc_ddee)
        XCTAssertEqual(c.bridgeID, 0x3000_02aa_bbcc_ddee)
        XCTAssertEqual(c.rootPathCost, 0)
        XCTAssertEqual(c.portID, 0x8001)
        XCTAssertEqual([c.messageAge, c.maxAge, c.helloTime, c.forwardDelay], [0, 20 * Time.s, 1 * Time.s, 4 * Time.s])
        XCTAssertFalse(c.topologyChange || c.topologyChangeAck)
        var out = [UInt8](repeating: 0, count: 64)
        let n = out.withUnsafeMutableBytes { BPDU.config(c).write($0.baseAddress!, source: MACAddress(raw: 0x0211_2233_4455)) }
        XCTAssertEqual(Array(out[..<n]), Self.kernelBPDU)
    }

    /// A bridge with three in-memory ports and STP on, forward delay 4 s, hello 1 s.
    func stpLab() throws -> (Lab, Bridge) {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        try lab.runner.execute("link set br0 type bridge stp_state 1 forward_delay 400 hello_time 100")
        return (lab, lab.dp.bridge(lab.dev("br0"))!)
    }

    /// The same bridge taken down, given STP, and brought up again: every port listening.
    func listeningLab() throws -> (Lab, Bridge) {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        try lab.runner.execute("link set br0 down")
        try lab.runner.execute("link set br0 type bridge stp_state 1 forward_delay 400 hello_time 100")
        try lab.runner.execute("link set br0 up")
        return (lab, lab.dp.bridge(lab.dev("br0"))!)
    }

    /// A better root (hello 2 s, forward delay 15 s) and a neighbour bridge that speaks for it at
    /// cost 4.
    static func rootAndNeighbour() -> (root: ConfigBPDU, other: ConfigBPDU) {
        var root = ConfigBPDU()
        root.root = 0x1000_0200_0000_0001; root.bridgeID = root.root; root.portID = 0x8001
        root.maxAge = 20 * Time.s; root.helloTime = 2 * Time.s; root.forwardDelay = 15 * Time.s
        var other = root
        other.rootPathCost = 4; other.bridgeID = 0x2000_0200_0000_0002; other.portID = 0x8003
        return (root, other)
    }

    func states(_ lab: Lab) -> [UInt8] { ["p1", "p2", "p3"].map { lab.dev($0).bridgePortState } }

    /// BPDUs that lie are counted and change nothing: an 802.3 length past the frame, an
    /// EtherType instead of a length, another LLC SAP, RSTP's version 2, a configuration BPDU
    /// cut short, an unknown type, a message age past max age.
    func testBPDUsThatLieAreCountedAndChangeNothing() throws {
        let (lab, br) = try stpLab()
        let own = br.bridgeID
        var better = ConfigBPDU()
        better.root = 0x1000_0200_0000_0001; better.bridgeID = better.root; better.portID = 0x8001
        better.maxAge = 20 * Time.s; better.helloTime = 2 * Time.s; better.forwardDelay = 15 * Time.s
        let good = bpduFrame(.config(better), src: MACAddress(raw: 0x0200_0000_0001))
        var bad: [[UInt8]] = []
        var f = good; f[13] = 0x40; bad.append(f)                   // length 64 > 46 bytes present
        f = good; f[12] = 0x88; f[13] = 0x09; bad.append(f)         // an EtherType
        f = good; f[14] = 0xAA; bad.append(f)                       // SNAP, not STP's SAP
        f = good; f[19] = 0x02; bad.append(f)                       // RSTP (version 2)
        f = good; f[13] = 3 + 20; bad.append(f)                     // configuration BPDU of 20 bytes
        f = good; f[20] = 0x42; bad.append(f)                       // unknown type
        var old = better; old.messageAge = 21 * Time.s
        bad.append(bpduFrame(.config(old), src: MACAddress(raw: 0x0200_0000_0001)))
        for b in bad { lab.send(b, on: "p1") }
        XCTAssertEqual(br.stp.invalid, UInt64(bad.count))
        XCTAssertEqual(br.stp.configReceived, 0)
        XCTAssertEqual(br.stp.designatedRoot, own)
        XCTAssertEqual(lab.dp.pool.inUse, 0)
        // The same BPDU, whole, is heard.
        lab.send(good, on: "p1")
        XCTAssertEqual(br.stp.configReceived, 1)
        XCTAssertEqual(br.stp.designatedRoot, better.root)
    }

    /// A better root heard on p1 directly and on p2 through a bridge 4 away (each sends its
    /// BPDU every 2 s): p1 becomes the root port, p2 blocks (the other bridge speaks for that
    /// segment), p3 stays designated and passes the root's BPDU on with this bridge's cost;
    /// p1 and p3 go listening → learning → forwarding, the first step on the bridge's own
    /// forward delay (4 s, started before the root was heard), the second on the root's (15 s);
    /// nothing crosses the blocking port; reaching forwarding is a topology change reported to
    /// the root with TCNs every hello time until acknowledged; when the root falls silent for
    /// max age, this bridge is root again.
    func testABetterRootMakesARootPortBlocksTheRestAndIsToldOfChanges() throws {
        let (lab, br) = try listeningLab()
        let L = BridgePortSettings.listening, B = BridgePortSettings.blocking, F = BridgePortSettings.forwarding, Le = BridgePortSettings.learning
        XCTAssertEqual(states(lab), [L, L, L])
        let pair = Self.rootAndNeighbour()
        var root = pair.root
        let other = pair.other
        var silent = false
        func neighboursSpeak() -> [String: [[UInt8]]] {
            var out = lab.send(bpduFrame(.config(root), src: MACAddress(raw: 0x0200_0000_0001)), on: "p1")
            for (k, v) in lab.send(bpduFrame(.config(other), src: MACAddress(raw: 0x0200_0000_0002)), on: "p2") { out[k, default: []] += v }
            return out
        }
        /// Moves the clock on in 2 s steps, the neighbours speaking after each; what was sent.
        func run(_ seconds: Int) -> [String: [[UInt8]]] {
            var out: [String: [[UInt8]]] = [:]
            for _ in 0..<(seconds / 2) {
                lab.dp.clock.advance(by: 2 * Time.s)
                for (k, v) in lab.runUntilIdle() { out[k, default: []] += v }
                if !silent { for (k, v) in neighboursSpeak() { out[k, default: []] += v } }
            }
            return out
        }
        func bpdus(_ f: [[UInt8]]?) -> [BPDU] { (f ?? []).compactMap { MACAddress($0) == BPDU.groupAddress ? try? parse($0).get() : nil } }
        let first = neighboursSpeak()
        XCTAssertEqual(br.stp.rootPort, lab.dev("p1").bridgePort.portNo)
        XCTAssertEqual(br.stp.rootPathCost, 100)          // a port of unknown speed costs 100
        XCTAssertEqual(states(lab), [L, B, L])
        XCTAssertEqual(br.stp.forwardDelay, 15 * Time.s)  // the root's times from now on
        // p3 is designated: it passes the root's word on, with its cost and its own ids.
        guard case .config(let c3)? = bpdus(first["p3"]).last else { return XCTFail("no BPDU on p3: \(first)") }
        XCTAssertEqual(c3.root, root.root)
        XCTAssertEqual(c3.rootPathCost, 100)
        XCTAssertEqual(c3.bridgeID, br.bridgeID)
        XCTAssertEqual(c3.portID, lab.dev("p3").bridgePort.portID)
        XCTAssertGreaterThan(c3.messageAge, 0)
        XCTAssertEqual(c3.forwardDelay, 15 * Time.s)
        XCTAssertEqual(bpdus(first["p1"]), [], "no BPDU on the root port")
        // Nothing crosses the blocking port.
        XCTAssertEqual(Lab.receivers(lab.send(frame(MACAddress(raw: 0xFFFF_FFFF_FFFF), MACAddress(raw: 0x0200_0000_0099)), on: "p2")), [])
        _ = run(4)
        XCTAssertEqual(states(lab), [Le, B, Le])
        _ = run(14)                                        // t = 18 s: still learning (4 + 15)
        XCTAssertEqual(states(lab), [Le, B, Le])
        var sent = run(2)
        XCTAssertEqual(states(lab), [F, B, F])
        XCTAssertTrue(br.stp.topologyChangeDetected)
        XCTAssertTrue(bpdus(sent["p1"]).contains(.tcn), "TCN to the root: \(sent)")
        sent = run(2)
        XCTAssertTrue(bpdus(sent["p1"]).contains(.tcn), "repeated every hello time until acknowledged")
        // The root acknowledges; its topology change flag shortens ageing to twice its forward delay.
        root.topologyChange = true
        var ack = root; ack.topologyChangeAck = true
        _ = lab.send(bpduFrame(.config(ack), src: MACAddress(raw: 0x0200_0000_0001)), on: "p1")
        XCTAssertFalse(br.stp.topologyChangeDetected)
        XCTAssertTrue(br.stp.topologyChange)
        XCTAssertEqual(br.ageingTime, 30 * Time.s)
        XCTAssertFalse(bpdus(run(2)["p1"]).contains(.tcn))
        // The root falls silent: its information ages out, this bridge is root again with
        // its own times, and p2 (designated now) starts over.
        silent = true
        _ = run(22)
        XCTAssertTrue(br.isRootBridge)
        XCTAssertEqual(br.stp.forwardDelay, 4 * Time.s)
        XCTAssertNotEqual(states(lab)[1], B)
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    /// br_stp_timer.c's hello and hold timers: the hello timer re-arms through round_jiffies,
    /// so hellos leave on whole seconds; a configuration BPDU sent at any other time (a reply
    /// to a TCN) holds the port for 1 s, and a hello inside that second only marks it
    /// config_pending — the BPDU leaves when the hold timer runs out (br_hold_timer_expired).
    func testHellosOnWholeSecondsAndConfigPendingUntilTheHoldTimer() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        lab.dp.clock.advance(by: 1_234_567_890)
        try lab.runner.execute("link set br0 type bridge stp_state 1 forward_delay 400 hello_time 200")
        let br = lab.dp.bridge(lab.dev("br0"))!
        func configs(_ out: [String: [[UInt8]]]) -> Int {
            (out["p1"] ?? []).filter { MACAddress($0) == BPDU.groupAddress && { if case .success(.config) = parse($0) { true } else { false } }($0) }.count
        }
        // Run past the first hello: from then on every hello is on a whole second.
        lab.dp.clock.advance(by: 2_100 * Time.ms)
        _ = lab.runUntilIdle()
        XCTAssertEqual(br.stp.helloAt % Time.s, 0, "hello timer re-armed off a whole second: \(br.stp.helloAt)")
        let hello = br.stp.helloAt
        // Half a second after a hello's hold ran out, a TCN from a bridge below: the reply
        // leaves at once and holds p1 until hello + 0.5 s.
        lab.dp.clock.advance(to: hello - 500 * Time.ms)
        _ = lab.runUntilIdle()
        XCTAssertFalse(lab.dev("p1").bridgePort.stp.configPending)
        let reply = lab.send(bpduFrame(.tcn, src: MACAddress(raw: 0x0200_0000_0002)), on: "p1")
        XCTAssertEqual(configs(reply), 1, "the acknowledgement: \(reply)")
        // The hello finds p1 held: nothing leaves there, the port is config_pending.
        lab.dp.clock.advance(to: hello)
        let atHello = lab.runUntilIdle()
        XCTAssertEqual(configs(atHello), 0, "\(atHello)")
        XCTAssertTrue(lab.dev("p1").bridgePort.stp.configPending)
        XCTAssertEqual((atHello["p2"] ?? []).count, 1, "the other ports' hellos leave on time")
        // The hold timer runs out: the pending BPDU leaves, and the flag clears.
        lab.dp.clock.advance(to: hello + 500 * Time.ms)
        XCTAssertEqual(configs(lab.runUntilIdle()), 1)
        XCTAssertFalse(lab.dev("p1").bridgePort.stp.configPending)
        XCTAssertEqual(br.stp.helloAt, hello + 2 * Time.s)
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    /// The source of a BPDU is learnt only on a port in the learning or forwarding state
    /// (__br_handle_local_finish asks nbp_state_should_learn): not while listening, never on a
    /// blocking port. A blocked port that learnt its neighbour's address from the BPDUs would
    /// pull the neighbour's traffic into the block (a neighbour bridge's address is the address
    /// of one of its ports, the one its BPDUs on that link come from).
    func testBPDUsTeachTheFDBOnlyOnPortsThatLearn() throws {
        let (lab, br) = try listeningLab()
        let L = BridgePortSettings.listening, B = BridgePortSettings.blocking, Le = BridgePortSettings.learning
        let (root, other) = Self.rootAndNeighbour()
        let a = MACAddress(raw: 0x0200_0000_00a1), b = MACAddress(raw: 0x0200_0000_00b2)
        func speak() {
            lab.send(bpduFrame(.config(root), src: a), on: "p1")
            lab.send(bpduFrame(.config(other), src: b), on: "p2")
        }
        speak()
        XCTAssertEqual(states(lab), [L, B, L])
        XCTAssertNil(br.fdb.entry(a, vlan: 0), "learnt while listening")
        XCTAssertNil(br.fdb.entry(b, vlan: 0), "learnt on a blocking port")
        for _ in 0..<2 {
            lab.dp.clock.advance(by: 2 * Time.s)
            _ = lab.runUntilIdle()
            speak()
        }
        XCTAssertEqual(states(lab), [Le, B, Le])
        XCTAssertEqual(br.fdb.entry(a, vlan: 0)?.port, lab.dev("p1").ifindex)
        XCTAssertNil(br.fdb.entry(b, vlan: 0), "learnt on a blocking port")
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    /// BPDU guard (br_stp_rcv): the first BPDU on a guarded port disables it; it comes back
    /// when it goes down and up. Root block (br_root_port_block): a port that would become
    /// root port is put back to listening instead, and — the bridge staying root — is
    /// designated for its segment (br_should_become_designated_port: another root there).
    func testBPDUGuardDisablesThePortAndRootBlockKeepsItFromBeingRootPort() throws {
        let (lab, br) = try stpLab()
        try lab.runner.execute("link set p2 type bridge_slave guard on")
        try lab.runner.execute("link set p1 type bridge_slave root_block on")
        var root = ConfigBPDU()
        root.root = 0x1000_0200_0000_0001; root.bridgeID = root.root; root.portID = 0x8001
        root.maxAge = 20 * Time.s; root.helloTime = 2 * Time.s; root.forwardDelay = 15 * Time.s
        lab.send(bpduFrame(.config(root), src: MACAddress(raw: 0x0200_0000_0001)), on: "p2")
        XCTAssertEqual(lab.dev("p2").bridgePortState, BridgePortSettings.disabled)
        XCTAssertTrue(br.isRootBridge, "the guarded port's BPDU was not heard")
        lab.send(bpduFrame(.config(root), src: MACAddress(raw: 0x0200_0000_0001)), on: "p1")
        XCTAssertEqual(br.stp.rootPort, 0)
        XCTAssertEqual(lab.dev("p1").bridgePortState, BridgePortSettings.listening)
        XCTAssertEqual(lab.dev("p1").bridgePort.stp.designatedBridge, br.bridgeID)
        try lab.runner.execute("link set p2 down")
        try lab.runner.execute("link set p2 up")
        XCTAssertNotEqual(lab.dev("p2").bridgePortState, BridgePortSettings.disabled)
    }
}

private extension MACAddress {
    init(_ frame: [UInt8]) { self.init(raw: frame.prefix(6).reduce(0) { $0 << 8 | UInt64($1) }) }
}
