import XCTest
@testable import Sluice

final class PcapDriverTests: XCTestCase {
    func testReplayThroughABridgeInVirtualTime() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-pcap-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t0: UInt64 = 1_700_000_000 * Time.s
        try PcapFile.write("\(dir)/in1.pcap", [
            .init(timestamp: t0, data: frame(.broadcast, macA)),
            .init(timestamp: t0 + 1 * Time.ms, data: Array(frame(macB, macA).prefix(9))),   // runt
            .init(timestamp: t0 + 2 * Time.ms, data: frame(macB, macA)),
            .init(timestamp: t0 + 3 * Time.ms, data: Array(frame(macB, macA).prefix(30)), originalLength: 60), // snaplen-cut
        ])
        try PcapFile.write("\(dir)/in2.pcap", [.init(timestamp: t0 + 500 * Time.us, data: frame(macA, macB))])
        let dp = Datapath(poolSize: 64, clock: .virtual())
        let r = CommandRunner(datapath: dp)
        for line in ["link add br0 type bridge",
                     "link add p1 type pcap in \(dir)/in1.pcap out \(dir)/out1.pcap",
                     "link add p2 type pcap in \(dir)/in2.pcap out \(dir)/out2.pcap",
                     "link set p1 master br0 up napi_weight 1", "link set p2 master br0 up napi_weight 1", "link set br0 up"] {
            try r.execute(line)
        }
        while !dp.pcapInputsDone { dp.runOnce(timeoutMs: 0) }
        let p1 = dp.device(named: "p1")!
        XCTAssertEqual(p1.dropCount(.pktTooSmall), 1)
        XCTAssertEqual(p1.dropCount(.truncated), 1)
        dp.shutdown()
        let out1 = try PcapFile.read("\(dir)/out1.pcap")
        let out2 = try PcapFile.read("\(dir)/out2.pcap")
        // Order with weight 1: bcast(A) p1, B→A p2, A→B p1.
        XCTAssertEqual(out2.map(\.data), [frame(.broadcast, macA), frame(macB, macA)])
        XCTAssertEqual(out1.map(\.data), [frame(macA, macB)])
        XCTAssertEqual(out2.first?.timestamp, t0, "virtual time follows the input timestamps")
        XCTAssertEqual(dp.pool.inUse, 0)
    }
}
