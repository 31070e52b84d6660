import Foundation
import XCTest

/// IPv6 routing between two namespaces, through this machine's kernel and through Sluice, in one
/// run: hosts A (2001:db8:31::/64) and B (2001:db8:32::/64) each with a default route to the
/// router between them. The kernel's answers (ping's hop limit, traceroute's hops, the
/// unreachable and packet-too-big messages, the reset) are what Sluice's must match.
final class Routing6LiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    struct Path { let a: String, b: String; let daemon: DaemonProcess? }

    func path(kernel: Bool, _ id: String) throws -> Path {
        guard (try? sh(["sh", "-c", "command -v traceroute"])) != nil else { throw HarnessError("this test needs traceroute: run scripts/install-deps.sh") }
        let sw = try net.netns("sw\(id)"), a = try net.netns("a\(id)"), b = try net.netns("b\(id)")
        let pa = "\(net.tag)\(id)a", pb = "\(net.tag)\(id)b"
        try sh(["ip", "-n", sw, "link", "add", pa, "type", "veth", "peer", "name", pa + "p", "netns", a])
        try sh(["ip", "-n", sw, "link", "add", pb, "type", "veth", "peer", "name", pb + "p", "netns", b])
        // Hosts: no duplicate address detection, so addresses are usable at once.
        try sh(["ip", "-n", a, "addr", "add", "2001:db8:31::10/64", "dev", pa + "p", "nodad"])
        try sh(["ip", "-n", b, "addr", "add", "2001:db8:32::20/64", "dev", pb + "p", "nodad"])
        try sh(["ip", "-n", a, "link", "set", pa + "p", "up"])
        try sh(["ip", "-n", b, "link", "set", pb + "p", "mtu", "1400", "up"])
        try sh(["ip", "-n", a, "-6", "route", "add", "default", "via", "2001:db8:31::1"])
        try sh(["ip", "-n", b, "-6", "route", "add", "default", "via", "2001:db8:32::1"])
        if kernel {
            try sh(["ip", "netns", "exec", sw, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"])
            try sh(["ip", "-n", sw, "addr", "add", "2001:db8:31::1/64", "dev", pa, "nodad"])
            try sh(["ip", "-n", sw, "addr", "add", "2001:db8:32::1/64", "dev", pb, "nodad"])
            try sh(["ip", "-n", sw, "link", "set", pb, "mtu", "1400"])
            try sh(["ip", "-n", sw, "link", "set", pa, "up"])
            try sh(["ip", "-n", sw, "link", "set", pb, "up"])
            return Path(a: a, b: b, daemon: nil)
        }
        // Sluice owns the router side: the kernel keeps no IPv6 on those veths.
        for p in [pa, pb] { try sh(["ip", "netns", "exec", sw, "sysctl", "-qw", "net.ipv6.conf.\(p).disable_ipv6=1"]) }
        let d = try DaemonProcess(net: net, ns: sw, config: [
            "link add pa type afpacket dev \(pa)", "link add pb type afpacket dev \(pb)",
            "link set pb mtu 1400",
            "link set pa up", "link set pb up",
            "addr add 2001:db8:31::1/64 dev pa", "addr add 2001:db8:32::1/64 dev pb",
        ])
        try d.waitReady()
        return Path(a: a, b: b, daemon: d)
    }

    func hops(_ p: Path) throws -> [String] {
        let out = try sh(["ip", "netns", "exec", p.a, "traceroute", "-6", "-n", "-q", "1", "-w", "2", "-m", "4", "2001:db8:32::20"], timeout: 40)
        return out.split(separator: "\n").dropFirst().map { l in l.split(separator: " ").dropFirst().first.map(String.init) ?? "?" }
    }

    func testIPv6RoutingAsTheKernelRoutes() throws {
        let k = try path(kernel: true, "k")
        let s = try path(kernel: false, "s")
        for p in [k, s] {
            let out = try net.ping(from: p.a, "2001:db8:32::20", count: 3)
            XCTAssertTrue(out.contains(" 0% packet loss"), out)
            XCTAssertTrue(out.contains("ttl=63"), "one router on the way: \(out)")
            XCTAssertTrue(try net.ping(from: p.a, "2001:db8:32::1", count: 1).contains("ttl=64"))
        }
        let kh = try hops(k), sh2 = try hops(s)
        XCTAssertEqual(kh, ["2001:db8:31::1", "2001:db8:32::20"])
        XCTAssertEqual(sh2, kh, "traceroute shows Sluice's hop as it shows the kernel's")
        for p in [k, s] {
            // No route: destination unreachable from the router's address.
            _ = try? sh(["ip", "-n", p.a, "-6", "route", "add", "2001:db8:99::/64", "via", "2001:db8:31::1"])
            var out = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "1", "-W", "2", "2001:db8:99::9"], timeout: 20, allowFailure: true)
            XCTAssertTrue(out.contains("From 2001:db8:31::1 icmp_seq=1 Destination unreachable: No route"), out)
            // Too big for the far link (MTU 1400): packet too big with that MTU; routers never fragment.
            out = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1452", "2001:db8:32::20"], timeout: 20, allowFailure: true)
            XCTAssertTrue(out.contains("From 2001:db8:31::1 icmp_seq=1 Packet too big: mtu=1400"), out)
            // Path MTU learnt: the next pings fit, fragmented by the sender.
            out = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "2", "-i", "0.2", "-W", "2", "-s", "1452", "2001:db8:32::20"], timeout: 20, allowFailure: true)
            XCTAssertTrue(out.contains(" 0% packet loss"), out)
            // TCP to the router itself, where nothing listens: refused (a reset).
            out = try sh(["ip", "netns", "exec", p.a, "timeout", "5", "bash", "-c", "echo > /dev/tcp/2001:db8:31::1/22"], timeout: 20, allowFailure: true)
            XCTAssertTrue(out.contains("Connection refused"), out)
        }
        // The hosts learnt the router as a router (NA with R set), in both.
        for p in [k, s] {
            let n = try sh(["ip", "-n", p.a, "-6", "neigh", "show", "2001:db8:31::1"])
            XCTAssertTrue(n.contains(" router "), n)
        }
        let ks = try net.iperf(from: k.a, to: k.b, addr: "2001:db8:32::20", seconds: 2)
        let ss = try net.iperf(from: s.a, to: s.b, addr: "2001:db8:32::20", seconds: 2, port: 5202)
        let kbps = ((ks["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double ?? 0
        let sbps = ((ss["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double ?? 0
        print("IPv6 routing TCP: kernel \(kbps / 1e9) Gbit/s, Sluice \(sbps / 1e9) Gbit/s")
        XCTAssertGreaterThan(sbps, 0)
        let r = try s.daemon!.report()
        XCTAssertTrue(r.contains("2001:db8:31::10 dev pa lladdr"), r)
        XCTAssertGreaterThan(number(after: "Ip6OutForwDatagrams", in: r) ?? 0, 6, r)
        XCTAssertEqual(s.daemon!.stop(), 0)
        XCTAssertTrue(s.daemon!.stdout.contains("(no buffer leaked)"), s.daemon!.stdout)
    }
}
