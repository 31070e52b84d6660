import XCTest
@testable import Sluice

/// net.core.default_qdisc: what a new device gets as its root.
final class DefaultQdiscTests: XCTestCase {
    func testFqCodelAsDefaultRootForwards() throws {
        let dp = Datapath(poolSize: 1024, clock: .virtual(start: 1_000 * Time.s))
        dp.log = { _ in }
        try dp.setDefaultQdisc("fq_codel")
        let r = CommandRunner(datapath: dp)
        try r.execute("link add br0 type bridge")
        let a = MemoryDriver(), b = MemoryDriver()
        try dp.addMemory(name: "a", driver: a)
        try dp.addMemory(name: "b", driver: b)
        for c in ["link set a master br0 up", "link set b master br0 up", "link set br0 up"] { try r.execute(c) }
        XCTAssertEqual(dp.device(named: "b")!.qdisc.kind, "fq_codel")
        for i in 0..<20 { a.inject(FrameBuilder.udpFrame(dst: macB, src: macA, sport: UInt16(i), frameLength: 200)) }
        for _ in 0..<100 { dp.runOnce(timeoutMs: 0) }
        XCTAssertEqual(b.takeCaptured().count, 20)
        XCTAssertEqual(try r.execute("qdisc show dev b"), "qdisc fq_codel 0: root refcnt 2 limit 10240p flows 1024 quantum 1514 target 5ms interval 100ms memory_limit 32Mb ecn drop_batch 64 \n")
        XCTAssertThrowsError(try dp.setDefaultQdisc("htb"))
    }
}

/// mq (sch_mq.c) on a device with several transmit queues in use: each flow goes to one
/// queue's qdisc (netdev_pick_tx by flow hash), every packet leaves, and mq's counters are
/// the sum of its queues' (mq_dump).
final class MQTests: XCTestCase {
    func testFlowsSpreadOverTheQueuesAndMQSumsThem() throws {
        let dp = Datapath(poolSize: 1024, clock: .virtual(start: 1_000 * Time.s))
        dp.log = { _ in }
        let r = CommandRunner(datapath: dp)
        try r.execute("link add br0 type bridge")
        let a = MemoryDriver(), b = MemoryDriver()
        try dp.addMemory(name: "a", driver: a)
        let bd = try dp.addMemory(name: "b", driver: b)
        XCTAssertThrowsError(try r.execute("qdisc add dev b root mq")) { XCTAssertTrue("\($0)".contains("Operation not supported"), "\($0)") }
        dp.setQueueCounts(bd, tx: 4, rx: nil)
        for c in ["link set a master br0 up", "link set b master br0 up", "link set br0 up", "qdisc add dev b root handle 1: mq",
                  "qdisc add dev b parent 1:4 handle 40: pfifo limit 3"] { try r.execute(c) }
        for i in 0..<64 { a.inject(FrameBuilder.udpFrame(dst: macB, src: macA, sport: UInt16(1000 + i), frameLength: 200)) }
        for _ in 0..<100 { dp.runOnce(timeoutMs: 0) }
        let mq = try XCTUnwrap(bd.qdisc as? MQQdisc)
        let per = mq.children.map { $0.statsSnapshot() }
        let sent = per.reduce(0) { $0 + $1.packets }, dropped = per.reduce(0) { $0 + $1.drops }
        XCTAssertEqual(b.takeCaptured().count, Int(sent))
        XCTAssertEqual(sent + dropped, 64)
        XCTAssertGreaterThanOrEqual(per.filter { $0.packets > 0 }.count, 3, "\(per)")   // 64 flows over 4 queues
        XCTAssertEqual(mq.statsSnapshot().packets, sent)
        XCTAssertEqual(mq.statsSnapshot().drops, dropped)
        XCTAssertEqual(dp.pool.inUse, 0)
        // Deleting a queue's own qdisc leaves noop there: that queue's flows are dropped.
        try r.execute("qdisc del dev b parent 1:4")
        XCTAssertTrue(mq.children[3] is NoopQdisc)
        XCTAssertEqual(try r.execute("qdisc show dev b").split(separator: "\n").count, 4)
    }
}

/// A veth counts what it receives but not multicast apart (veth_get_stats64 has no multicast;
/// measured on this kernel: a veth that received 14 IPv6 multicast frames shows mcast 0),
/// where a NIC-like port does.
final class VethCountersTests: XCTestCase {
    func testVethLeavesTheMulticastCounterAlone() throws {
        let dp = Datapath(poolSize: 256, clock: .virtual(start: 1_000 * Time.s))
        dp.log = { _ in }
        let r = CommandRunner(datapath: dp)
        let m = MemoryDriver()
        let mem = try dp.addMemory(name: "m0", driver: m)
        for c in ["link add v0 type veth peer name v1", "link add br0 type bridge", "link set m0 master br0 up",
                  "link set v0 master br0 up", "link set v1 up", "link set br0 up"] { try r.execute(c) }
        let bcast = MACAddress(raw: 0xFFFF_FFFF_FFFF)
        for i in 0..<5 { m.inject(FrameBuilder.udpFrame(dst: bcast, src: macA, sport: UInt16(i), frameLength: 100)) }
        for _ in 0..<50 { dp.runOnce(timeoutMs: 0) }
        let v1 = try XCTUnwrap(dp.device(named: "v1"))
        XCTAssertEqual(v1.stats.rxPackets, 5)
        XCTAssertEqual(v1.stats.multicast, 0)
        XCTAssertEqual(mem.stats.multicast, 5)
        XCTAssertEqual(v1.numTxQueues, Datapath.possibleCPUs)
        XCTAssertEqual(v1.realNumTxQueues, 1)
    }
}
