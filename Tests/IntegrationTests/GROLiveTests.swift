import Foundation
import XCTest
@testable import Sluice

/// GRO on real traffic: segments the kernel's own TCP puts on a veth whose offloads are off
/// (so each segment is one MSS on the wire, its checksum computed in software).
final class GROLiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    /// Reads a classic pcap file's frames (Ethernet link type).
    func readPcap(_ path: String) throws -> [[UInt8]] {
        let d = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard d.count >= 24 else { throw HarnessError("pcap \(path): \(d.count) bytes") }
        let le = d[0] == 0xd4 || d[0] == 0x4d
        func u32(_ o: Int) -> Int {
            le ? Int(d[o]) | Int(d[o + 1]) << 8 | Int(d[o + 2]) << 16 | Int(d[o + 3]) << 24
               : Int(d[o]) << 24 | Int(d[o + 1]) << 16 | Int(d[o + 2]) << 8 | Int(d[o + 3])
        }
        XCTAssertEqual(u32(20), 1, "link type Ethernet")
        var out: [[UInt8]] = []
        var o = 24
        while o + 16 <= d.count {
            let incl = u32(o + 8), orig = u32(o + 12)
            guard o + 16 + incl <= d.count else { break }
            if incl == orig { out.append(Array(d[(o + 16)..<(o + 16 + incl)])) }
            o += 16 + incl
        }
        return out
    }

    /// iperf3 between two namespaces over a plain veth pair, its frames captured by tcpdump on
    /// the receiver; then those frames through Sluice's GRO (p1) and, segmented again, out of a
    /// port without offloads (p2): every frame comes back as captured, per direction, in order.
    func testRealIperf3CaptureSurvivesGROThenGSO() throws {
        let a = try net.netns("a"), b = try net.netns("b")
        let va = "\(net.tag)a", vb = "\(net.tag)b"
        try sh(["ip", "-n", a, "link", "add", va, "type", "veth", "peer", "name", vb, "netns", b])
        try sh(["ip", "-n", a, "addr", "add", "198.18.3.1/24", "dev", va])
        try sh(["ip", "-n", b, "addr", "add", "198.18.3.2/24", "dev", vb])
        for (ns, v) in [(a, va), (b, vb)] {
            // No TSO/GSO and checksums computed by the stack: wire-sized, valid segments.
            try sh(["ip", "netns", "exec", ns, "ethtool", "-K", v, "tso", "off", "gso", "off", "tx", "off"])
            try sh(["ip", "-n", ns, "link", "set", v, "up"])
        }
        let pcap = net.dir + "/iperf.pcap"
        let cap = Process()
        cap.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        cap.arguments = ["--kill-after=2", "20", "ip", "netns", "exec", b, "tcpdump", "-i", vb, "-s", "0", "--immediate-mode",
                         "-c", "6000", "-w", pcap, "tcp"]
        cap.standardOutput = FileHandle.nullDevice
        cap.standardError = FileHandle.nullDevice
        try cap.run()
        defer { if cap.isRunning { cap.terminate() }; cap.waitUntilExit() }
        usleep(700_000)
        _ = try net.iperf(from: a, to: b, addr: "198.18.3.2", seconds: 1, extra: ["-b", "300M"])
        usleep(300_000)
        if cap.isRunning { kill(cap.processIdentifier, SIGINT) }
        cap.waitUntilExit()
        let frames = try readPcap(pcap)
        XCTAssertGreaterThan(frames.count, 1000, "captured \(frames.count) frames")
        let big = frames.filter { $0.count > 1000 }.count
        XCTAssertGreaterThan(big, 500, "MSS-sized data segments captured")
        XCTAssertTrue(frames.allSatisfy { $0.count <= 1514 }, "no super-frames on a veth without offloads")

        let dp = Datapath(poolSize: 4096, clock: .virtual(start: 1_000 * Time.s))
        dp.log = { _ in }
        let runner = CommandRunner(datapath: dp)
        try runner.execute("link add br0 type bridge")
        let p1 = MemoryDriver(), p2 = MemoryDriver()
        try dp.addMemory(name: "p1", driver: p1)
        try dp.addMemory(name: "p2", driver: p2)
        for c in ["link set p1 master br0 up gro on", "link set p2 master br0 up", "link set br0 up"] { try runner.execute(c) }
        // Both directions come in on p1 and leave by p2: sticky entries, so learning cannot
        // move the hosts to p1 (br_fdb_update moves a static entry that is not sticky).
        for mac in Set(frames.map { Array($0[6..<12]) }) {
            try runner.execute("fdb add \(MACAddress(mac)) dev p2 static sticky")
        }
        var out: [[UInt8]] = []
        var k = 0
        while k < frames.count {
            // One NAPI poll's worth at a time, as they arrived.
            for f in frames[k..<min(k + 64, frames.count)] { p1.inject(f) }
            k += 64
            for _ in 0..<100 { dp.runOnce(timeoutMs: 0); if p1.pending == 0 && dp.pollListCount == 0 { break } }
            out += p2.takeCaptured()
        }
        let merged = dp.device(named: "p1")!.groMerged
        XCTAssertGreaterThan(merged, 100, "real segments merged")
        XCTAssertEqual(dp.pool.inUse, 0)
        // Per flow (IPv4 addresses and ports, one direction), the same frames in the same order:
        // GRO holds one flow's segments until the poll ends while a frame of another flow
        // (iperf3's control connection) goes on at once, as the kernel's GRO does.
        func flow(_ f: [UInt8]) -> [UInt8] {
            f.count >= 38 && f[12] == 0x08 && f[13] == 0x00 ? Array(f[26..<38]) : Array(f[6..<12])
        }
        for mac in Set(frames.map(flow)) {
            let want = frames.filter { flow($0) == mac }
            let got = out.filter { flow($0) == mac }
            XCTAssertEqual(got.count, want.count, "flow \(mac): frame count")
            if got != want {
                let i = zip(got, want).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1
                let (g, w) = i >= 0 ? (got[i], want[i]) : ([], [])
                let at = zip(g, w).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(g.count, w.count)
                func hex(_ f: [UInt8]) -> String { f.prefix(80).map { String(format: "%02x", $0) }.joined() }
                XCTFail("flow \(mac): first different frame \(i) of \(want.count), at byte \(at) (lengths \(g.count), \(w.count))\n got \(hex(g))\nwant \(hex(w))")
            }
        }
        print("GRO over a real iperf3 capture: \(frames.count) frames, \(merged) merged, \(dp.device(named: "p1")!.groAggregates) aggregates")
    }

    /// gro_flush_timeout on a running daemon (written to /sys/class/net/PORT/gro_flush_timeout
    /// through `sluice exec tee`), on a TAP port with rx-udp-gro-forwarding: 1400-byte UDP
    /// datagrams at 100 Mbit/s, paced by iperf3 every 50 µs, come about one per poll, so without
    /// the timeout GRO has next to nothing to merge; with 2 ms it keeps each jiffy's aggregate
    /// across polls (gro_flush_old) and the datagrams leave in aggregates of many, segmented
    /// again for the receiving TAP — every datagram delivered, no buffer left behind.
    func testGROFlushTimeoutMergesAcrossPollsOnRealTraffic() throws {
        let sw = try net.netns("sw")
        let h0 = try net.netns("h0"), h1 = try net.netns("h1")
        let n0 = "\(net.tag)p0", n1 = "\(net.tag)p1"
        let sock = net.dir + "/gft.sock"
        let d = try DaemonProcess(net: net, ns: sw, config: [
            "link add br0 type bridge",
            "link add \(n0) type tap", "link set \(n0) master br0 up rx-udp-gro-forwarding on",
            "link add \(n1) type tap", "link set \(n1) master br0 up",
            "link set br0 up"], extraArgs: ["--busy-poll", "0", "--socket", sock])
        try d.waitReady()
        try net.place(n0, from: sw, into: h0, addr: "198.18.4.1/24")
        try net.place(n1, from: sw, into: h1, addr: "198.18.4.2/24")
        func counts() throws -> (merged: Int, aggregates: Int) {
            let s = section(try d.report(), device: n0)
            return (number(after: "merged", in: s) ?? -1, number(after: "aggregates", in: s) ?? -1)
        }
        var perAggregate: [String: Double] = [:]
        for timeout in ["0", "2000000"] {
            _ = try sh(["sh", "-c", "echo \(timeout) | \(try sluiceBinary()) exec --socket \(sock) tee /sys/class/net/\(n0)/gro_flush_timeout"])
            let before = try counts()
            let r = try net.iperf(from: h0, to: h1, addr: "198.18.4.2", seconds: 2, extra: ["-u", "-b", "100M", "-l", "1400", "--pacing-timer", "50"])
            let sum = (r["end"] as! [String: Any])["sum"] as! [String: Any]
            let lost = sum["lost_packets"] as? Int ?? -1, packets = sum["packets"] as? Int ?? 0
            XCTAssertGreaterThan(packets, 10_000, "gro_flush_timeout \(timeout): \(sum)")
            XCTAssertEqual(lost, 0, "gro_flush_timeout \(timeout): every datagram delivered: \(sum)")
            let after = try counts()
            let merged = after.merged - before.merged, aggs = after.aggregates - before.aggregates
            // Datagrams per aggregate: each aggregate is its first datagram plus those merged into it.
            perAggregate[timeout] = aggs > 0 ? Double(merged + aggs) / Double(aggs) : 1
        }
        let without = perAggregate["0"]!, with = perAggregate["2000000"]!
        print(String(format: "UDP GRO at 100 Mbit/s paced: %.1f datagrams per aggregate without gro_flush_timeout, %.1f with 2 ms", without, with))
        XCTAssertGreaterThan(with, 8, "held across polls: \(with) datagrams per aggregate")
        XCTAssertGreaterThan(with, 3 * without, "with \(with), without \(without) datagrams per aggregate")
        XCTAssertEqual(d.stop(), 0, d.stderr)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }

    /// The daemon's AF_PACKET ports with GRO on, a sender without TSO: segments merge, TCP runs,
    /// and the same with GRO off for contrast (both reported).
    func testGROOnAFPacketPortWithRealTCP() throws {
        let sw = try net.netns("sw")
        let h0 = try net.netns("h0"), h1 = try net.netns("h1")
        let n0 = "\(net.tag)p0", n1 = "\(net.tag)p1"
        try net.veth(n0, hostNS: sw, peerNS: h0, addr: "198.18.4.1/24")
        try net.veth(n1, hostNS: sw, peerNS: h1, addr: "198.18.4.2/24")
        try sh(["ip", "netns", "exec", h0, "ethtool", "-K", n0 + "p", "tso", "off", "gso", "off"])
        var rates: [String: Double] = [:]
        for gro in ["on", "off"] {
            let d = try DaemonProcess(net: net, ns: sw, config: [
                "link add br0 type bridge",
                "link add \(n0) type afpacket dev \(n0)", "link set \(n0) master br0 up gro \(gro)",
                "link add \(n1) type afpacket dev \(n1)", "link set \(n1) master br0 up",
                "link set br0 up"])
            try d.waitReady()
            let r = try net.iperf(from: h0, to: h1, addr: "198.18.4.2", seconds: 2)
            let rcv = ((r["end"] as! [String: Any])["sum_received"] as! [String: Any])["bits_per_second"] as! Double
            rates[gro] = rcv
            let s = section(try d.report(), device: n0)
            let merged = number(after: "merged", in: s) ?? -1
            if gro == "on" {
                XCTAssertGreaterThan(merged, 1000, s)
                XCTAssertGreaterThan(number(after: "aggregates", in: s) ?? 0, 100, s)
            } else {
                XCTAssertEqual(merged, 0, s)
            }
            XCTAssertGreaterThan(rcv, 50e6, "TCP through Sluice with gro \(gro): \(rcv / 1e6) Mbit/s")
            XCTAssertEqual(d.stop(), 0, d.stderr)
            XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
        }
        print(String(format: "TCP from a sender without TSO through AF_PACKET ports: gro on %.0f Mbit/s, gro off %.0f Mbit/s",
                     rates["on"]! / 1e6, rates["off"]! / 1e6))
    }
}
