import XCTest
@testable import Sluice

final class BridgeTests: XCTestCase {
    func testFloodsBroadcastToEveryOtherUpPortNeverBack() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3", "p4"])
        try lab.runner.execute("link set p4 down")
        let out = lab.send(frame(.broadcast, macA), on: "p1")
        XCTAssertEqual(Lab.receivers(out), ["p2", "p3"])
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testLearnsThenForwardsUnicastToOnePort() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        // Unknown unicast floods.
        XCTAssertEqual(Lab.receivers(lab.send(frame(macB, macA), on: "p1")), ["p2", "p3"])
        // B answers from p2: A is known on p1, so only p1 gets it.
        XCTAssertEqual(Lab.receivers(lab.send(frame(macA, macB), on: "p2")), ["p1"])
        // Now A→B goes to p2 only.
        let out = lab.send(frame(macB, macA), on: "p1")
        XCTAssertEqual(Lab.receivers(out), ["p2"])
        XCTAssertEqual(out["p2"]!.first, frame(macB, macA), "bytes unchanged")
        let fdb = try lab.runner.execute("fdb show br br0")
        XCTAssertTrue(fdb.contains("02:00:00:00:00:0a dev p1 master br0"), fdb)
        XCTAssertTrue(fdb.contains("02:00:00:00:00:0b dev p2 master br0"), fdb)
    }

    func testFrameForItsOwnIngressPortIsDropped() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        lab.send(frame(.broadcast, macB), on: "p1")   // B lives on p1
        let out = lab.send(frame(macB, macA), on: "p1")
        XCTAssertTrue(Lab.receivers(out).isEmpty)
        XCTAssertEqual(lab.dev("p1").dropCount(.sameInterface), 1)
    }

    func testStationMoveFollowsTheLatestPort() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        lab.send(frame(.broadcast, macA), on: "p1")
        lab.send(frame(.broadcast, macA), on: "p3")   // A moved to p3
        XCTAssertEqual(Lab.receivers(lab.send(frame(macA, macB), on: "p2")), ["p3"])
        XCTAssertEqual(lab.dp.bridge(lab.dev("br0"))!.fdb.moves, 1)
    }

    func testAgeingRemovesEntriesAtTheAgeingTimeInVirtualTime() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        try lab.runner.execute("link set br0 type bridge ageing_time 3000")   // 30 s in centiseconds
        let br = lab.dp.bridge(lab.dev("br0"))!
        XCTAssertEqual(br.ageingTime, 30 * Time.s)
        lab.send(frame(.broadcast, macB), on: "p2")
        let learnedAt = lab.dp.clock.now
        // Just before expiry: still known, A→B goes to p2 only.
        lab.dp.clock.advance(to: learnedAt + 30 * Time.s - 1)
        XCTAssertEqual(Lab.receivers(lab.send(frame(macB, macA), on: "p1")), ["p2"])
        XCTAssertTrue(try lab.runner.execute("fdb show").contains("02:00:00:00:00:0b"))
        // At the ageing time: gone; the frame floods again, and the sweep removed it.
        lab.dp.clock.advance(to: learnedAt + 30 * Time.s)
        lab.dp.housekeeping()
        XCTAssertFalse(try lab.runner.execute("fdb show").contains("02:00:00:00:00:0b"))
        XCTAssertEqual(Lab.receivers(lab.send(frame(macB, macA), on: "p1")), ["p2", "p3"])
    }

    func testRefreshPostponesAgeing() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        let br = lab.dp.bridge(lab.dev("br0"))!
        br.ageingTime = 10 * Time.s
        lab.send(frame(.broadcast, macB), on: "p2")
        lab.dp.clock.advance(by: 8 * Time.s)
        lab.send(frame(.broadcast, macB), on: "p2")   // refreshed at t+8
        lab.dp.clock.advance(by: 8 * Time.s)           // t+16: 8 s since refresh
        lab.dp.housekeeping()
        XCTAssertEqual(br.fdb.lookup(macB, vlan: 0, now: lab.dp.clock.now, ageing: br.ageingTime).port, lab.dev("p2").ifindex)
    }

    /// Static entries never age; as br_fdb_update does, a frame from their address on another
    /// port moves them there (still static) unless they are sticky.
    func testStaticEntriesNeverAgeAndOnlyStickyOnesStayPut() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        try lab.runner.execute("fdb add 02:00:00:00:00:0c dev p3 static")
        try lab.runner.execute("fdb add 02:00:00:00:00:0b dev p3 static sticky")
        lab.dp.clock.advance(by: 10_000 * Time.s)
        lab.dp.housekeeping()
        XCTAssertEqual(Lab.receivers(lab.send(frame(macC, macA), on: "p2")), ["p3"], "not aged")
        lab.send(frame(.broadcast, macC), on: "p1")
        lab.send(frame(.broadcast, macB), on: "p1")
        XCTAssertEqual(Lab.receivers(lab.send(frame(macC, macA), on: "p2")), ["p1"], "moved, as the kernel moves it")
        XCTAssertEqual(Lab.receivers(lab.send(frame(macB, macA), on: "p2")), ["p3"], "sticky: stays")
        let show = try lab.runner.execute("fdb show")
        XCTAssertTrue(show.contains("02:00:00:00:00:0c dev p1 master br0 static"), show)
        XCTAssertTrue(show.contains("02:00:00:00:00:0b dev p3 master br0 static sticky"), show)
        try lab.runner.execute("fdb del 02:00:00:00:00:0c dev p1")
        XCTAssertEqual(Lab.receivers(lab.send(frame(macC, macA), on: "p2")), ["p1", "p3"])
    }

    func testInvalidSourceRuntsAndGiantsAreCountedNotForwarded() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        lab.send(frame(macB, .broadcast), on: "p1")                       // multicast source
        lab.send(Array(frame(macB, macA).prefix(10)), on: "p1")           // runt
        lab.send(frame(macB, macA, length: 1600), on: "p1")               // > MTU 1500 + 18
        let out = lab.send(frame(macB, macA, length: 1518), on: "p1")     // largest allowed (tag room)
        XCTAssertEqual(out["p2"]!.count, 1)
        let p1 = lab.dev("p1")
        XCTAssertEqual(p1.dropCount(.invalidSource), 1)
        XCTAssertEqual(p1.dropCount(.pktTooSmall), 1)
        XCTAssertEqual(p1.dropCount(.pktTooBig), 1)
        XCTAssertEqual(p1.stats.rxLengthErrors, 2)
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testBridgeFeaturesAreTheIntersectionOfPorts() throws {
        let dp = Datapath(poolSize: 64, clock: .virtual())
        let r = CommandRunner(datapath: dp)
        try r.execute("link add br0 type bridge")
        let full = MemoryDriver(features: [.sg, .hwCsum, .tso, .tso6])
        let csumOnly = MemoryDriver(features: [.sg, .hwCsum])
        let a = try dp.addMemory(name: "a", driver: full)
        let b = try dp.addMemory(name: "b", driver: csumOnly)
        try r.execute("link set a master br0")
        XCTAssertTrue(a.activeFeatures.contains(.tso))
        try r.execute("link set b master br0")
        XCTAssertEqual(dp.device(named: "br0")!.activeFeatures, [.sg, .hwCsum])
        XCTAssertFalse(a.activeFeatures.contains(.tso), "a TSO frame could reach b: a's TSO is off")
        try r.execute("link set b nomaster")
        XCTAssertTrue(a.activeFeatures.contains(.tso))
        XCTAssertEqual(b.promiscuity, 0)
    }

    func testChecksumCompletedForDevicesWithoutOffload() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        let full = FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4,
                                         payload: FrameBuilder.tcp(srcIP: 1, dstIP: 2, sport: 5, dport: 6, seq: 9, payload: Array(0..<100)))
        var partial = full
        let pseudo = FrameBuilder.be32(1) + FrameBuilder.be32(2) + [0, 6] + FrameBuilder.be16(120)
        let ps = pseudo.withUnsafeBytes { ~Checksum.fold(Checksum.sum($0.baseAddress!, 12)) }
        partial[50] = UInt8(ps >> 8); partial[51] = UInt8(ps & 0xff)
        // Inject with CHECKSUM_PARTIAL metadata through the pool directly.
        let dp = lab.dp
        let p = must(dp.pool.alloc())
        partial.withUnsafeBytes { dp.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
        dp.pool.meta(p).pointee.csum = .partial
        dp.pool.meta(p).pointee.csumStart = 34
        dp.pool.meta(p).pointee.csumOffset = 16
        var batch = PacketBatch()
        batch.append(p)
        dp.transmit(lab.dev("p2"), &batch)
        XCTAssertEqual(lab.ports["p2"]!.takeCaptured(), [full])
    }

    /// A GSO frame whose type lies about its protocol (a UDP frame marked TCPv4) cannot be
    /// segmented: dropped and counted; an honest TCP super-frame right after it is segmented.
    func testGSOFrameWhoseTypeLiesIsDroppedAndCounted() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        let dp = lab.dp
        func send(_ f: [UInt8], hdrLen: UInt16) {
            let p = must(dp.pool.alloc())
            f.withUnsafeBytes { dp.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
            let m = dp.pool.meta(p)
            m.pointee.gsoType = .tcpv4; m.pointee.gsoSize = 1448; m.pointee.hdrLen = hdrLen
            m.pointee.csum = .partial; m.pointee.csumStart = 34; m.pointee.csumOffset = 16
            var batch = PacketBatch()
            batch.append(p)
            dp.transmit(lab.dev("p2"), &batch)
        }
        send(frame(macB, macA, length: 9000), hdrLen: 54)
        XCTAssertEqual(lab.dev("p2").dropCount(.gsoUnsupported), 1)
        XCTAssertEqual(lab.ports["p2"]!.takeCaptured(), [])
        send(tcpSuperFrame(payload: [UInt8](repeating: 3, count: 4000), flags: TCPHeader.ack), hdrLen: 54)
        XCTAssertEqual(lab.ports["p2"]!.takeCaptured().count, 3, "ceil(4000 / 1448) segments")
        XCTAssertEqual(lab.dev("p2").dropCount(.gsoUnsupported), 1)
        XCTAssertEqual(dp.pool.inUse, 0)
    }
}

/// BR_BOOLOPT_NO_LL_LEARN (br_handle_local_finish): an LLDP frame (01:80:c2:00:00:0e) the
/// bridge keeps teaches it its source unless `no_linklocal_learn 1`; one it forwards
/// (group_fwd_mask) is learnt from as any frame.
final class NoLinkLocalLearnTests: XCTestCase {
    func testLinkLocalLearningFollowsTheOption() throws {
        let lldp = MACAddress(raw: 0x0180_C200_000E)
        func learnt(_ lab: Lab, _ mac: MACAddress) -> Bool { (try? lab.runner.execute("fdb show br br0"))?.contains("\(mac) dev p1 master br0") ?? false }
        let lab = try Lab(ports: ["p1", "p2"])
        let a = MACAddress(raw: 0x0200_0000_00A1), b = MACAddress(raw: 0x0200_0000_00A2), c = MACAddress(raw: 0x0200_0000_00A3)
        XCTAssertEqual(Lab.receivers(lab.send(FrameBuilder.ethernet(dst: lldp, src: a, type: 0x88CC, payload: [UInt8](repeating: 0, count: 46)), on: "p1")), [])
        XCTAssertTrue(learnt(lab, a), "learnt from a link-local frame by default")
        try lab.runner.execute("link set br0 type bridge no_linklocal_learn 1")
        lab.send(FrameBuilder.ethernet(dst: lldp, src: b, type: 0x88CC, payload: [UInt8](repeating: 0, count: 46)), on: "p1")
        XCTAssertFalse(learnt(lab, b), "no_linklocal_learn: not learnt")
        try lab.runner.execute("link set br0 type bridge group_fwd_mask 0x4000")
        XCTAssertEqual(Lab.receivers(lab.send(FrameBuilder.ethernet(dst: lldp, src: c, type: 0x88CC, payload: [UInt8](repeating: 0, count: 46)), on: "p1")), ["p2"])
        XCTAssertTrue(learnt(lab, c), "a forwarded link-local frame is learnt from")
        XCTAssertThrowsError(try lab.runner.execute("link set br0 type bridge no_linklocal_learn"))
    }
}
