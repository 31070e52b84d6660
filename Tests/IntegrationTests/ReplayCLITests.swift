import Foundation
import XCTest
import Sluice

/// `sluice replay` end to end: a trace through htb + fq_codel in virtual time, the output read
/// back by tshark, the time series written, and bad arguments refused with one line.
final class ReplayCLITests: XCTestCase {
    var net: TestNet!
    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    func testReplayThroughHTBAndFQCoDel() throws {
        let dir = net.dir
        var recs: [PcapFile.Record] = []
        let t0: UInt64 = 1_700_000_000 * Time.s
        for i in 0..<4000 {   // two flows, 40 Mbit/s each for 0.2 s, into a 50 Mbit/s line
            let dport: UInt16 = i % 2 == 0 ? 10 : 20
            recs.append(.init(timestamp: t0 + UInt64(i / 2) * 100 * Time.us, data: FrameBuilder.udpFrame(dst: MACAddress(raw: 0x0200_0000_000B), src: MACAddress(raw: 0x0200_0000_000A), dport: dport, frameLength: 500)))
        }
        try PcapFile.write("\(dir)/in.pcap", recs)
        try ["qdisc add dev wan root handle 1: htb default 20",
             "class add dev wan parent 1: classid 1:1 htb rate 50mbit",
             "class add dev wan parent 1:1 classid 1:10 htb rate 10mbit ceil 50mbit",
             "class add dev wan parent 1:1 classid 1:20 htb rate 40mbit ceil 50mbit",
             "qdisc add dev wan parent 1:20 handle 20: fq_codel",
             "filter add dev wan parent 1: protocol ip prio 1 flower ip_proto udp dst_port 10 flowid 1:10"].joined(separator: "\n")
            .write(toFile: "\(dir)/tc.conf", atomically: true, encoding: .utf8)
        let bin = try sluiceBinary()
        let args = ["replay", "--in", "\(dir)/in.pcap", "--out", "\(dir)/out.pcap", "--rate", "50mbit", "--dev", "wan",
                    "--config", "\(dir)/tc.conf", "--timeseries", "\(dir)/ts.csv"]
        let out = try sh([bin] + args)
        XCTAssertTrue(out.contains("replay: 4000 packets in"), out)
        XCTAssertTrue(out.contains("queue delay: p50 "), out)
        XCTAssertTrue(out.contains("\nqdisc fq_codel 20: parent 1:20 limit 10240p flows 1024 quantum 1514 target 5ms interval 100ms memory_limit 32Mb ecn drop_batch 64 \n"), out)
        XCTAssertTrue(out.contains("\nclass htb 1:10 parent 1:1 prio 0 rate 10Mbit ceil 50Mbit burst 1600b cburst 1600b \n"), out)
        let n = try sh(["tshark", "-r", "\(dir)/out.pcap", "-T", "fields", "-e", "frame.number"], stderr: false).split(separator: "\n").count
        XCTAssertGreaterThan(n, 3000)
        XCTAssertLessThanOrEqual(n, 4000)
        let csv = try String(contentsOfFile: "\(dir)/ts.csv", encoding: .utf8)
        XCTAssertTrue(csv.hasPrefix("time_s,class,backlog_bytes,backlog_packets,throughput_bps,drops\n"), csv)
        XCTAssertTrue(csv.contains(",1:10,"))
        // Deterministic: the same command writes the same bytes.
        let first = FileManager.default.contents(atPath: "\(dir)/out.pcap")
        _ = try sh([bin] + args)
        XCTAssertEqual(FileManager.default.contents(atPath: "\(dir)/out.pcap"), first)
    }

    func testBadArgumentsAndConfig() throws {
        let bin = try sluiceBinary()
        try PcapFile.write("\(net.dir)/in.pcap", [])
        try "qdisc add dev eth0 root tbf rate 10mbit".write(toFile: "\(net.dir)/bad.conf", atomically: true, encoding: .utf8)
        for (args, want) in [(["replay", "--in", "\(net.dir)/in.pcap", "--out", "\(net.dir)/o.pcap", "--rate", "fast"], "is not a rate"),
                             (["replay", "--in", "/nonexistent.pcap", "--out", "\(net.dir)/o.pcap", "--rate", "1mbit"], "cannot open /nonexistent.pcap"),
                             (["replay", "--in", "\(net.dir)/in.pcap", "--out", "\(net.dir)/o.pcap", "--rate", "1mbit", "--config", "\(net.dir)/bad.conf"], "config line 1: Error: \"burst\" is required")] {
            let out = try sh([bin] + args, allowFailure: true)
            XCTAssertTrue(out.contains(want), "\(args): \(out)")
            XCTAssertEqual(out.split(separator: "\n").filter { !$0.isEmpty }.count <= 2, true, out)
        }
    }
}
