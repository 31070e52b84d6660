import Foundation
import XCTest

/// IPv4 routing between two namespaces, through this machine's kernel and through Sluice, in one
/// run: hosts A (198.18.31.0/24) and B (198.18.32.0/24) each with a default route to the router
/// between them. The kernel's answers (ping's TTL, traceroute's hops, the unreachable message)
/// are what Sluice's must match.
final class RoutingLiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    struct Path { let a: String, b: String; let daemon: DaemonProcess? }

    func path(kernel: Bool, _ id: String) throws -> Path {
        guard (try? sh(["sh", "-c", "command -v traceroute"])) != nil else { throw HarnessError("this test needs traceroute: run scripts/install-deps.sh") }
        let sw = try net.netns("sw\(id)"), a = try net.netns("a\(id)"), b = try net.netns("b\(id)")
        let pa = "\(net.tag)\(id)a", pb = "\(net.tag)\(id)b"
        try net.veth(pa, hostNS: sw, peerNS: a, addr: "198.18.31.10/24")
        try net.veth(pb, hostNS: sw, peerNS: b, addr: "198.18.32.20/24")
        for ns in [a, b, sw] { _ = try? sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]) }
        try sh(["ip", "-n", a, "route", "add", "default", "via", "198.18.31.1"])
        try sh(["ip", "-n", b, "route", "add", "default", "via", "198.18.32.1"])
        if kernel {
            try sh(["ip", "-n", sw, "addr", "add", "198.18.31.1/24", "dev", pa])
            try sh(["ip", "-n", sw, "addr", "add", "198.18.32.1/24", "dev", pb])
            try sh(["ip", "-n", sw, "link", "set", pa, "up"])
            try sh(["ip", "-n", sw, "link", "set", pb, "up"])
            try sh(["ip", "netns", "exec", sw, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
            return Path(a: a, b: b, daemon: nil)
        }
        let d = try DaemonProcess(net: net, ns: sw, config: [
            "link add pa type afpacket dev \(pa)", "link add pb type afpacket dev \(pb)",
            "link set pa up", "link set pb up",
            "addr add 198.18.31.1/24 dev pa", "addr add 198.18.32.1/24 dev pb",
        ])
        try d.waitReady()
        return Path(a: a, b: b, daemon: d)
    }

    /// traceroute's hops as addresses ("*" for no answer).
    func hops(_ p: Path) throws -> [String] {
        let out = try sh(["ip", "netns", "exec", p.a, "traceroute", "-n", "-q", "1", "-w", "2", "-m", "4", "198.18.32.20"], timeout: 40)
        return out.split(separator: "\n").dropFirst().map { l in l.split(separator: " ").dropFirst().first.map(String.init) ?? "?" }
    }

    func testRoutingAsTheKernelRoutes() throws {
        let k = try path(kernel: true, "k")
        let s = try path(kernel: false, "s")
        for p in [k, s] {
            let out = try net.ping(from: p.a, "198.18.32.20", count: 3)
            XCTAssertTrue(out.contains(" 0% packet loss"), out)
            XCTAssertTrue(out.contains("ttl=63"), "one router on the way: \(out)")
            // The router's own address on the far side answers (a host model).
            XCTAssertTrue(try net.ping(from: p.a, "198.18.32.1", count: 1).contains("ttl=64"))
        }
        let kh = try hops(k), sh2 = try hops(s)
        XCTAssertEqual(kh, ["198.18.31.1", "198.18.32.20"])
        XCTAssertEqual(sh2, kh, "traceroute shows Sluice's hop as it shows the kernel's")
        // No route: the kernel answers "Destination Net Unreachable" from the router's address.
        for p in [k, s] {
            _ = try? sh(["ip", "-n", p.a, "route", "add", "198.18.99.0/24", "via", "198.18.31.1"])
            let out = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "1", "-W", "2", "198.18.99.9"], timeout: 20, allowFailure: true)
            XCTAssertTrue(out.contains("From 198.18.31.1 icmp_seq=1 Destination Net Unreachable"), out)
        }
        // TCP to the router itself, where nothing listens: refused (a reset), by both.
        for p in [k, s] {
            let out = try sh(["ip", "netns", "exec", p.a, "timeout", "5", "bash", "-c", "echo > /dev/tcp/198.18.31.1/22"], timeout: 20, allowFailure: true)
            XCTAssertTrue(out.contains("Connection refused"), out)
        }
        // TCP across: both carry it (figures printed for the record, not judged here).
        let ks = try net.iperf(from: k.a, to: k.b, addr: "198.18.32.20", seconds: 2)
        let ss = try net.iperf(from: s.a, to: s.b, addr: "198.18.32.20", seconds: 2, port: 5202)
        let kbps = ((ks["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double ?? 0
        let sbps = ((ss["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double ?? 0
        print("routing TCP: kernel \(kbps / 1e9) Gbit/s, Sluice \(sbps / 1e9) Gbit/s")
        XCTAssertGreaterThan(sbps, 0)
        let r = try s.daemon!.report()
        XCTAssertTrue(r.contains("198.18.31.10 dev pa lladdr"), r)
        XCTAssertGreaterThan(number(after: "ForwDatagrams", in: r) ?? 0, 6, r)
        XCTAssertEqual(s.daemon!.stop(), 0)
        XCTAssertTrue(s.daemon!.stdout.contains("(no buffer leaked)"), s.daemon!.stdout)
    }
}
