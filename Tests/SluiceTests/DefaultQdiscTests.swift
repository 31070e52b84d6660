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
