import Foundation
import XCTest
import Sluice

/// Shaping side by side with the kernel (this kernel has tbf and htb): the same TCP traffic
/// shaped once by the kernel's qdisc on a veth, once by Sluice's on its egress port. Each
/// achieved rate is compared with the configured one; Sluice's error must be no worse than the
/// kernel's + 1 percentage point. iperf3 reports goodput (TCP payload), so both sides show the
/// same header overhead (~4.5 % at MSS 1448): the comparison is like for like.
final class ShapingTests: XCTestCase {
    var net: TestNet!
    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    /// Kernel: ns a ─ veth ─ ns b, qdisc lines applied to a's veth. Sluice: ns a ─ TAP ─ Sluice
    /// bridge ─ TAP ─ ns b, the same lines applied to Sluice's port towards b.
    func topologies(_ qdisc: [String]) throws -> (kernel: (String, String), sluice: (String, String), DaemonProcess) {
        let ka = try net.netns("ka"), kb = try net.netns("kb")
        try sh(["ip", "-n", ka, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", kb])
        try sh(["ip", "-n", ka, "addr", "add", "198.18.0.1/24", "dev", "eth0"]); try sh(["ip", "-n", ka, "link", "set", "eth0", "up"])
        try sh(["ip", "-n", kb, "addr", "add", "198.18.0.2/24", "dev", "eth0"]); try sh(["ip", "-n", kb, "link", "set", "eth0", "up"])
        for line in qdisc {
            try sh(["ip", "netns", "exec", ka, "tc"] + line.replacingOccurrences(of: "DEV", with: "eth0").split(separator: " ").map(String.init))
        }
        let sw = try net.netns("sw"), sa = try net.netns("sa"), sb = try net.netns("sb")
        let ta = "\(net.tag)a", tb = "\(net.tag)b"
        let d = try DaemonProcess(net: net, ns: sw, config: [
            "link add br0 type bridge", "link add \(ta) type tap", "link add \(tb) type tap",
            "link set \(ta) master br0 up", "link set \(tb) master br0 up", "link set br0 up",
        ] + qdisc.map { $0.replacingOccurrences(of: "DEV", with: tb) })
        try d.waitReady()
        try net.place(ta, from: sw, into: sa, addr: "198.18.0.1/24")
        try net.place(tb, from: sw, into: sb, addr: "198.18.0.2/24")
        return ((ka, kb), (sa, sb), d)
    }

    func rate(_ r: [String: Any]) -> Double {
        ((r["end"] as! [String: Any])["sum_received"] as! [String: Any])["bits_per_second"] as! Double
    }

    /// Goodput expected for a shaped wire rate: TCP payload 1448 of 1514 bytes on the wire.
    func goodput(_ wire: Double) -> Double { wire * 1448 / 1514 }

    func testTBFAt10And50Mbit() throws {
        var report = ""
        for mbit in [10.0, 50.0] {
            let (k, s, d) = try topologies(["qdisc add dev DEV root tbf rate \(Int(mbit))mbit burst 32kb latency 50ms"])
            let kr = rate(try net.iperf(from: k.0, to: k.1, addr: "198.18.0.2", seconds: 5))
            let sr = rate(try net.iperf(from: s.0, to: s.1, addr: "198.18.0.2", seconds: 5))
            let want = goodput(mbit * 1e6)
            let kerr = abs(kr - want) / want * 100, serr = abs(sr - want) / want * 100
            report += String(format: "tbf %.0fmbit: kernel %.2f Mbit/s (error %.2f%%), sluice %.2f Mbit/s (error %.2f%%)\n", mbit, kr / 1e6, kerr, sr / 1e6, serr)
            XCTAssertLessThanOrEqual(serr, kerr + 1, report)
            let q = try d.report()
            XCTAssertTrue(q.contains("link/ether"), q)
            XCTAssertEqual(d.stop(), 0)
            net.cleanup()
            net = try TestNet()
        }
        print(report)
        try report.write(toFile: NSTemporaryDirectory() + "sluice-shaping-tbf.txt", atomically: true, encoding: .utf8)
    }

    func testHTBTwoClassesGuaranteed30And70WithCeil() throws {
        let lines = ["qdisc add dev DEV root handle 1: htb default 20",
                     "class add dev DEV parent 1: classid 1:1 htb rate 100mbit",
                     "class add dev DEV parent 1:1 classid 1:10 htb rate 30mbit ceil 100mbit",
                     "class add dev DEV parent 1:1 classid 1:20 htb rate 70mbit ceil 100mbit",
                     "filter add dev DEV parent 1: protocol ip prio 1 u32 match ip dport 5201 0xffff flowid 1:10",
                     "filter add dev DEV parent 1: protocol ip prio 1 u32 match ip dport 5202 0xffff flowid 1:20"]
        let (k, s, d) = try topologies(lines)
        func pair(_ a: String, _ b: String) throws -> (Double, Double) {
            let r = try net.iperfConcurrent(from: a, to: b, addr: "198.18.0.2", ports: [5201, 5202], seconds: 6)
            return (rate(r[0]), rate(r[1]))
        }
        let (k1, k2) = try pair(k.0, k.1)
        let (s1, s2) = try pair(s.0, s.1)
        var report = ""
        for (name, got, want) in [("1:10 kernel", k1, 30e6), ("1:20 kernel", k2, 70e6), ("1:10 sluice", s1, 30e6), ("1:20 sluice", s2, 70e6)] {
            report += String(format: "htb %@: %.2f Mbit/s (configured %.0f, error %.2f%%)\n", name, got / 1e6, want / 1e6, abs(got - goodput(want)) / goodput(want) * 100)
        }
        let kerr = [abs(k1 - goodput(30e6)) / goodput(30e6), abs(k2 - goodput(70e6)) / goodput(70e6)].map { $0 * 100 }
        let serr = [abs(s1 - goodput(30e6)) / goodput(30e6), abs(s2 - goodput(70e6)) / goodput(70e6)].map { $0 * 100 }
        XCTAssertLessThanOrEqual(serr[0], kerr[0] + 1, report)
        XCTAssertLessThanOrEqual(serr[1], kerr[1] + 1, report)
        let classes = try d.report()
        XCTAssertTrue(classes.contains("link/ether"))
        print(report)
        try report.write(toFile: NSTemporaryDirectory() + "sluice-shaping-htb.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(d.stop(), 0)
    }
}
