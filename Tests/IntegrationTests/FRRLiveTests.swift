import Foundation
import XCTest

/// Routes from FRR: zebra and ospfd (ospf6d for IPv6) run in the router namespace beside Sluice
/// and in a kernel router next to it; OSPF learns the far subnet, zebra hands its choice to Sluice over FPM
/// (dplane_fpm_nl), and traffic between two hosts follows Sluice's FIB. When the preferred link
/// goes down, OSPF reroutes, zebra sends the new route, and traffic follows it.
///
///   ns a ─ pa ─ [ns r1: Sluice forwarding (AF_PACKET ports with the kernel interfaces' MACs and
///                addresses), kernel ip_forward=0; zebra + ospfd on the kernel interfaces]
///                 ├─ px ═ qx (OSPF cost 10) ═╗
///                 └─ py ═ qy (OSPF cost 100) ═╩─ [ns r2: kernel router, zebra + ospfd] ─ qb ─ ns b
final class FRRLiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    /// Starts a daemon of FRR in `ns` as our child (not daemonised), stopped and waited for at cleanup.
    func frr(_ ns: String, _ daemon: String, dir: String, args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        p.arguments = ["netns", "exec", ns, "/usr/lib/frr/\(daemon)", "-f", "\(dir)/\(daemon).conf", "-i", "\(dir)/\(daemon).pid",
                       "-z", "\(dir)/zserv.api", "--vty_socket", dir, "-u", "frr", "-g", "frr", "-P", "0"] + args
        let log = FileHandle(forWritingAtPath: "\(dir)/\(daemon).log") ?? FileHandle.nullDevice
        p.standardOutput = log
        p.standardError = log
        try p.run()
        net.onCleanup {
            if p.isRunning { kill(p.processIdentifier, SIGTERM) }
            let deadline = Date().addingTimeInterval(5)
            while p.isRunning && Date() < deadline { usleep(50_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
    }

    func testOSPFRoutesReachSluiceThroughFPMAndAFailedLinkReroutes() throws { try ospf(v6: false) }

    /// The same with zebra's next-hop groups over FPM (`fpm use-next-hop-groups`): zebra sends
    /// its nexthop objects (RTM_NEWNEXTHOP) and routes naming them by id; Sluice's route shows
    /// the id and forwards through the object, and the reroute moves it to another object.
    func testOSPFRoutesThroughZebrasNextHopGroupsOverFPM() throws { try ospf(v6: false, nextHopGroups: true) }

    /// The same with IPv6: ospf6d (OSPFv3) on both routers, next hops the neighbours' link-local
    /// addresses, resolved by Sluice's Neighbor Discovery on the named device.
    func testOSPFv3RoutesReachSluiceThroughFPMAndAFailedLinkReroutes() throws { try ospf(v6: true) }

    func ospf(v6: Bool, nextHopGroups: Bool = false) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/lib/frr/zebra"),
              FileManager.default.isExecutableFile(atPath: "/usr/lib/frr/\(v6 ? "ospf6d" : "ospfd")"),
              FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/frr/modules/dplane_fpm_nl.so") else {
            throw HarnessError("this test needs FRR (zebra, ospfd, ospf6d, dplane_fpm_nl): run scripts/install-deps.sh")
        }
        // Subnets 4N: IPv4 198.18.4N.0/24, IPv6 2001:db8:4N::/64.
        func addr(_ n: Int, _ host: Int) -> String { v6 ? "2001:db8:\(n)::\(host)/64" : "198.18.\(n).\(host)/24" }
        func host(_ n: Int, _ host: Int) -> String { String(addr(n, host).split(separator: "/")[0]) }
        let far = v6 ? "2001:db8:44::/64" : "198.18.44.0/24"
        let r1 = try net.netns("r1"), r2 = try net.netns("r2"), a = try net.netns("a"), b = try net.netns("b")
        for ns in [r1, r2, a, b] {
            _ = try? sh(["ip", "netns", "exec", ns, "sysctl", "-qw", v6 ? "net.ipv6.conf.all.accept_dad=0" : "net.ipv6.conf.all.disable_ipv6=1",
                         v6 ? "net.ipv6.conf.default.accept_dad=0" : "net.ipv6.conf.default.disable_ipv6=1"])
        }
        try sh(["ip", "-n", r1, "link", "add", "pa", "type", "veth", "peer", "name", "eth0", "netns", a])
        try sh(["ip", "-n", r2, "link", "add", "qb", "type", "veth", "peer", "name", "eth0", "netns", b])
        try sh(["ip", "-n", r1, "link", "add", "px", "type", "veth", "peer", "name", "qx", "netns", r2])
        try sh(["ip", "-n", r1, "link", "add", "py", "type", "veth", "peer", "name", "qy", "netns", r2])
        for (ns, dev, ad) in [(a, "eth0", addr(41, 10)), (b, "eth0", addr(44, 10)),
                              (r1, "pa", addr(41, 1)), (r1, "px", addr(42, 1)), (r1, "py", addr(43, 1)),
                              (r2, "qb", addr(44, 1)), (r2, "qx", addr(42, 2)), (r2, "qy", addr(43, 2))] {
            try sh(["ip", "-n", ns, "addr", "add", ad, "dev", dev])
            try sh(["ip", "-n", ns, "link", "set", dev, "up"])
        }
        try sh(["ip", "-n", a, "route", "add", "default", "via", host(41, 1)])
        try sh(["ip", "-n", b, "route", "add", "default", "via", host(44, 1)])
        try sh(["ip", "netns", "exec", r2, "sysctl", "-qw", v6 ? "net.ipv6.conf.all.forwarding=1" : "net.ipv4.ip_forward=1"])
        // Only Sluice forwards in r1.
        try sh(["ip", "netns", "exec", r1, "sysctl", "-qw", "net.ipv4.ip_forward=0"])
        if v6 { try sh(["ip", "netns", "exec", r1, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0"]) }
        func mac(_ dev: String) throws -> String {
            try sh(["ip", "netns", "exec", r1, "cat", "/sys/class/net/\(dev)/address"]).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let sock = net.dir + "/sluice.sock"
        let d = try DaemonProcess(net: net, ns: r1, config: (v6 ? ["sysctl net.ipv6.conf.all.accept_dad=0", "sysctl net.ipv6.conf.default.accept_dad=0"] : []) + [
            "link add pa address \(try mac("pa")) type afpacket dev pa",
            "link add px address \(try mac("px")) type afpacket dev px",
            "link add py address \(try mac("py")) type afpacket dev py",
            "link set pa up", "link set px up", "link set py up",
            "addr add \(addr(41, 1)) dev pa", "addr add \(addr(42, 1)) dev px", "addr add \(addr(43, 1)) dev py",
        ], extraArgs: ["--socket", sock, "--fpm", "127.0.0.1:2620"])
        try d.waitReady()
        let ospf = v6 ? "ospf6d" : "ospfd"
        for (ns, x, y, rid, fpm) in [(r1, "px", "py", "198.18.42.1", true), (r2, "qx", "qy", "198.18.42.2", false)] {
            let dir = net.dir + "/frr-\(ns)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var zebra = "hostname \(ns)\n"
            if fpm { zebra += "fpm address 127.0.0.1 port 2620\n" + (nextHopGroups ? "fpm use-next-hop-groups\n" : "no fpm use-next-hop-groups\n") }
            try zebra.write(toFile: "\(dir)/zebra.conf", atomically: true, encoding: .utf8)
            let stub = fpm ? "pa" : "qb"
            let conf = v6 ? """
                hostname \(ns)
                interface \(x)
                 ipv6 ospf6 area 0.0.0.0
                 ipv6 ospf6 hello-interval 1
                 ipv6 ospf6 dead-interval 3
                 ipv6 ospf6 cost 10
                interface \(y)
                 ipv6 ospf6 area 0.0.0.0
                 ipv6 ospf6 hello-interval 1
                 ipv6 ospf6 dead-interval 3
                 ipv6 ospf6 cost 100
                interface \(stub)
                 ipv6 ospf6 area 0.0.0.0
                 ipv6 ospf6 passive
                router ospf6
                 ospf6 router-id \(rid)

                """ : """
                hostname \(ns)
                interface \(x)
                 ip ospf hello-interval 1
                 ip ospf dead-interval 3
                 ip ospf cost 10
                interface \(y)
                 ip ospf hello-interval 1
                 ip ospf dead-interval 3
                 ip ospf cost 100
                router ospf
                 ospf router-id \(rid)
                 network 198.18.40.0/21 area 0

                """
            try conf.write(toFile: "\(dir)/\(ospf).conf", atomically: true, encoding: .utf8)
            for f in ["zebra.log", "\(ospf).log"] { _ = FileManager.default.createFile(atPath: "\(dir)/\(f)", contents: nil) }
            try sh(["chown", "-R", "frr:frr", dir])
            try sh(["chmod", "755", net.dir])
            try frr(ns, "zebra", dir: dir, args: fpm ? ["-M", "dplane_fpm_nl"] : [])
            usleep(500_000)
            try frr(ns, ospf, dir: dir, args: [])
        }
        func sluiceRoutes() throws -> String {
            try sh([try sluiceBinary(), "exec", "--socket", sock, "ip"] + (v6 ? ["-6"] : []) + ["route", "show", far])
        }
        // With next-hop groups the route names zebra's object first: `… nhid N via …`.
        func shown(_ routes: String) -> String {
            nextHopGroups ? routes.replacingOccurrences(of: #" nhid \d+"#, with: "", options: .regularExpression) : routes
        }
        func waitFor(_ want: String, seconds: Double) throws -> String {
            let deadline = Date().addingTimeInterval(seconds)
            var last = ""
            while Date() < deadline {
                last = try sluiceRoutes()
                if shown(last).contains(want) { return last }
                usleep(250_000)
            }
            return last
        }
        // The next hop on each link: r2's address there (IPv4) or its link-local address (IPv6).
        func gateway(_ dev: String, _ n: Int) throws -> String {
            guard v6 else { return host(n, 2) }
            let out = try sh(["ip", "-n", r2, "-6", "-o", "addr", "show", "dev", dev, "scope", "link"])
            guard let w = out.split(separator: " ").first(where: { $0.hasPrefix("fe80::") }) else { throw HarnessError("no link-local address on \(dev): \(out)") }
            return String(w.split(separator: "/")[0])
        }
        // OSPF converges; zebra's choice arrives in Sluice's FIB over FPM.
        let viaX = "\(far) via \(try gateway("qx", 42)) dev px proto ospf metric 20"
        let first = try waitFor(viaX, seconds: 60)
        XCTAssertTrue(shown(first).contains(viaX), "\(first)\n\(d.stderr)")
        if nextHopGroups {
            XCTAssertTrue(first.contains(" nhid "), first)
            let objects = try sh([try sluiceBinary(), "exec", "--socket", sock, "ip", "nexthop", "show"])
            XCTAssertTrue(objects.contains("via \(try gateway("qx", 42)) dev px"), objects)
        }
        XCTAssertTrue(d.stderr.contains("fpm: zebra connected"), d.stderr)
        // The kernel router's own SPF may still be installing the way back: a few tries.
        var ping = ""
        for _ in 0..<15 {
            ping = try sh(["ip", "netns", "exec", a, "ping", "-c", "3", "-i", "0.2", "-W", "2", host(44, 10)], timeout: 30, allowFailure: true)
            if ping.contains(" 0% packet loss") { break }
            sleep(1)
        }
        XCTAssertTrue(ping.contains(" 0% packet loss") && ping.contains("ttl=62"), ping)
        let counter = v6 ? "Ip6OutForwDatagrams" : "ForwDatagrams"
        let before = number(after: counter, in: try d.report()) ?? 0
        XCTAssertGreaterThanOrEqual(before, 6, "Sluice forwarded both ways (r1's kernel does not forward)")
        // The preferred link fails: OSPF moves to the other, and so does Sluice's route.
        try sh(["ip", "-n", r2, "link", "set", "qx", "down"])
        let viaY = "\(far) via \(try gateway("qy", 43)) dev py proto ospf metric 20"
        let second = try waitFor(viaY, seconds: 30)
        XCTAssertTrue(shown(second).contains(viaY), second)
        var again = ""
        for _ in 0..<10 {   // r2's own OSPF reroutes the way back too
            again = try sh(["ip", "netns", "exec", a, "ping", "-c", "2", "-i", "0.2", "-W", "2", host(44, 10)], timeout: 30, allowFailure: true)
            if again.contains(" 0% packet loss") { break }
            sleep(1)
        }
        XCTAssertTrue(again.contains(" 0% packet loss"), again)
        let r = try d.report()
        XCTAssertGreaterThan(number(after: counter, in: r) ?? 0, before)
        XCTAssertEqual(d.stop(), 0)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }
}
