import Foundation
import XCTest

/// VRFs (l3mdev) with real traffic: two tenants, red (table 10) and blue (table 20), each with
/// two hosts on the same two subnets — 198.18.41.0/24 and 198.18.42.0/24, 2001:db8:41::/64 and
/// 2001:db8:42::/64, the same router and host addresses in both. This kernel has no VRF, so
/// the expected behaviour is what drivers/net/vrf.c and net/l3mdev give and
/// Documentation/networking/vrf.rst states: a slave's connected and local routes go to its
/// VRF's table, the l3mdev rule (priority 1000) sends a flow entering a slave to that table, a
/// table without a route falls through to the next rules (main, empty here: Net Unreachable),
/// an `unreachable default` in the table stops it (Host Unreachable).
final class VRFLiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    func testTwoVRFsWithOverlappingAddressesStayApart() throws {
        let sw = try net.netns("sw")
        var hosts: [String: String] = [:]
        // Hosts a1/b1 in red, a2/b2 in blue; a on subnet 41, b on 42; the same addresses.
        for (h, subnet) in [("a1", 41), ("b1", 42), ("a2", 41), ("b2", 42)] {
            let ns = try net.netns(h)
            hosts[h] = ns
            let port = "\(net.tag)\(h)"
            try sh(["ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", port + "p", "netns", ns])
            try sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"])
            let host = subnet == 41 ? 10 : 20
            try sh(["ip", "-n", ns, "addr", "add", "198.18.\(subnet).\(host)/24", "dev", port + "p"])
            try sh(["ip", "-n", ns, "addr", "add", "2001:db8:\(subnet)::\(host)/64", "dev", port + "p", "nodad"])
            try sh(["ip", "-n", ns, "link", "set", port + "p", "up"])
            try sh(["ip", "-n", ns, "route", "add", "default", "via", "198.18.\(subnet).1"])
            try sh(["ip", "-n", ns, "-6", "route", "add", "default", "via", "2001:db8:\(subnet)::1"])
            try sh(["ip", "netns", "exec", sw, "sysctl", "-qw", "net.ipv6.conf.\(port).disable_ipv6=1"])
        }
        // Each b host has an address of its own: which one answers tells the tenants apart.
        try sh(["ip", "-n", hosts["b1"]!, "addr", "add", "198.18.42.21/24", "dev", "\(net.tag)b1p"])
        try sh(["ip", "-n", hosts["b2"]!, "addr", "add", "198.18.42.22/24", "dev", "\(net.tag)b2p"])
        let sock = net.dir + "/ctl-vrf/sluice.sock"
        var config = ["sysctl net.ipv6.conf.all.accept_dad=0", "sysctl net.ipv6.conf.default.accept_dad=0",
                      "link add red type vrf table 10", "link add blue type vrf table 20",
                      "link set red up", "link set blue up",
                      // vrf.rst's advice for red only: blue falls through to main.
                      "route add unreachable default metric 4278198272 table 10"]
        for (h, subnet) in [("a1", 41), ("b1", 42), ("a2", 41), ("b2", 42)] {
            config += ["link add \(h) type afpacket dev \(net.tag)\(h)",
                       "link set \(h) master \(h.hasSuffix("1") ? "red" : "blue")", "link set \(h) up",
                       "addr add 198.18.\(subnet).1/24 dev \(h)", "addr add 2001:db8:\(subnet)::1/64 dev \(h)"]
        }
        let d = try DaemonProcess(net: net, ns: sw, config: config, extraArgs: ["--socket", sock])
        try d.waitReady()
        func ip(_ args: String...) throws -> String {
            try sh(["timeout", "10", try sluiceBinary(), "exec", "--socket", sock, "ip"] + args, allowFailure: true)
        }
        // Across each VRF, both families, one router hop.
        for a in ["a1", "a2"] {
            let v4 = try net.ping(from: hosts[a]!, "198.18.42.20", count: 3)
            XCTAssertTrue(v4.contains(" 0% packet loss") && v4.contains("ttl=63"), "\(a): \(v4)")
            let v6 = try net.ping(from: hosts[a]!, "2001:db8:42::20", count: 3)
            XCTAssertTrue(v6.contains(" 0% packet loss") && v6.contains("ttl=63"), "\(a): \(v6)")
            // The router's far address in the VRF answers itself.
            XCTAssertTrue(try net.ping(from: hosts[a]!, "198.18.42.1", count: 1).contains("ttl=64"))
        }
        // Isolation: each tenant reaches its own b host's extra address, never the other's
        // (the ARP for it is asked on the tenant's own port only: no answer).
        func reaches(_ a: String, _ dst: String) throws -> Bool {
            try sh(["ip", "netns", "exec", hosts[a]!, "ping", "-c", "1", "-W", "3", dst], timeout: 20, allowFailure: true).contains(" 0% packet loss")
        }
        XCTAssertTrue(try reaches("a1", "198.18.42.21"))
        XCTAssertFalse(try reaches("a1", "198.18.42.22"), "red must not reach blue's host")
        XCTAssertTrue(try reaches("a2", "198.18.42.22"))
        XCTAssertFalse(try reaches("a2", "198.18.42.21"), "blue must not reach red's host")
        // No route: red's unreachable default answers Host Unreachable; blue falls through to
        // main, which is empty: Net Unreachable (ip_route_input_slow's no_route).
        let red = try sh(["ip", "netns", "exec", hosts["a1"]!, "ping", "-c", "1", "-W", "2", "198.18.99.9"], timeout: 20, allowFailure: true)
        XCTAssertTrue(red.contains("From 198.18.41.1 icmp_seq=1 Destination Host Unreachable"), red)
        let blue = try sh(["ip", "netns", "exec", hosts["a2"]!, "ping", "-c", "1", "-W", "2", "198.18.99.9"], timeout: 20, allowFailure: true)
        XCTAssertTrue(blue.contains("From 198.18.41.1 icmp_seq=1 Destination Net Unreachable"), blue)
        // What Debian's ip shows of it.
        XCTAssertEqual(try ip("rule", "show"), "0:\tfrom all lookup local\n1000:\tfrom all lookup [l3mdev-table]\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n")
        let shown = try ip("route", "show", "vrf", "red")
        XCTAssertTrue(shown.contains("198.18.41.0/24 dev a1 proto kernel scope link src 198.18.41.1"), shown)
        XCTAssertTrue(shown.contains("unreachable default metric 4278198272"), shown)
        XCTAssertFalse(shown.contains("dev a2") || shown.contains("dev b2"), shown)
        XCTAssertTrue(try ip("route", "show", "table", "main").isEmpty)
        let get = try ip("route", "get", "198.18.42.20", "vrf", "blue")
        XCTAssertTrue(get.hasPrefix("198.18.42.20 dev b2 table 20 src 198.18.42.1"), get)
        let neigh = try ip("neigh", "show", "vrf", "red")
        XCTAssertTrue(neigh.contains("198.18.41.10 dev a1") && !neigh.contains("dev a2") && !neigh.contains("WARNING"), neigh)
        let vrfs = try ip("vrf", "show")
        XCTAssertTrue(vrfs.contains("red                 10") && vrfs.contains("blue                20"), vrfs)
        // A VRF's table is fixed at creation (vrf_link_ops has no changelink).
        XCTAssertTrue(try ip("link", "set", "red", "type", "vrf", "table", "30").contains("Operation not supported"))
        XCTAssertTrue(try ip("link", "add", "green", "type", "vrf").contains("VRF table id is missing"))
        let detail = try ip("-d", "link", "show", "a1")
        XCTAssertTrue(detail.contains("master red") && detail.contains("vrf_slave table 10"), detail)
        // Released from red, a1's routes go back to main and local.
        XCTAssertEqual(try ip("link", "set", "a1", "nomaster"), "")
        XCTAssertTrue(try ip("route", "show", "table", "main").contains("198.18.41.0/24 dev a1 proto kernel scope link src 198.18.41.1"))
        XCTAssertFalse(try ip("route", "show", "table", "10").contains("dev a1"))
        XCTAssertEqual(d.stop(), 0)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }
}
