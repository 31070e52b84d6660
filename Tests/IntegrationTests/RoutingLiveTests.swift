import Foundation
import XCTest

/// Routing between two namespaces, through this machine's kernel and through Sluice, in one
/// run, for IPv4 and for IPv6: hosts A (198.18.31.0/24, 2001:db8:31::/64) and B (198.18.32.0/24,
/// 2001:db8:32::/64) each with a default route to the router between them. The kernel's answers
/// (ping's TTL/hop limit, traceroute's hops, unreachable and too-big messages, the reset) are
/// what Sluice's must match.
final class RoutingLiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    struct Path { let a: String, b: String, sw: String; let daemon: DaemonProcess? }

    /// Host `h` of subnet 3N, with its prefix length when `len`.
    func addr(_ v6: Bool, _ n: Int, _ h: Int, len: Bool = false) -> String {
        v6 ? "2001:db8:\(n)::\(h)" + (len ? "/64" : "") : "198.18.\(n).\(h)" + (len ? "/24" : "")
    }

    /// With `third`, a second link from the router to B (IPv4 only): 198.18.33.1 on the
    /// router's "c" device, 198.18.33.20 on B's.
    func path(kernel: Bool, _ id: String, v6: Bool, daemonArgs: [String] = [], third: Bool = false) throws -> Path {
        guard (try? sh(["sh", "-c", "command -v traceroute"])) != nil else { throw HarnessError("this test needs traceroute: run scripts/install-deps.sh") }
        let sw = try net.netns("sw\(id)"), a = try net.netns("a\(id)"), b = try net.netns("b\(id)")
        let pa = "\(net.tag)\(id)a", pb = "\(net.tag)\(id)b"
        // IPv4: no IPv6 noise. IPv6: hosts without duplicate address detection (usable at once),
        // set before the devices are made so that they take it (their link-local addresses too:
        // addrconf_dad_begin skips DAD only when both `all` and the device say so).
        for ns in [a, b, sw] {
            _ = try? sh(["ip", "netns", "exec", ns, "sysctl", "-qw"] + (v6 ? ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]
                                                                          : ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]))
        }
        try sh(["ip", "-n", sw, "link", "add", pa, "type", "veth", "peer", "name", pa + "p", "netns", a])
        try sh(["ip", "-n", sw, "link", "add", pb, "type", "veth", "peer", "name", pb + "p", "netns", b])
        let pc = "\(net.tag)\(id)c"
        if third {
            try sh(["ip", "-n", sw, "link", "add", pc, "type", "veth", "peer", "name", pc + "p", "netns", b])
            try sh(["ip", "-n", b, "addr", "add", "198.18.33.20/24", "dev", pc + "p"])
            try sh(["ip", "-n", b, "link", "set", pc + "p", "up"])
        }
        // The far link's MTU 1400 on both ends for packet too big.
        let nodad = v6 ? ["nodad"] : []
        try sh(["ip", "-n", a, "addr", "add", addr(v6, 31, 10, len: true), "dev", pa + "p"] + nodad)
        try sh(["ip", "-n", b, "addr", "add", addr(v6, 32, 20, len: true), "dev", pb + "p"] + nodad)
        try sh(["ip", "-n", a, "link", "set", pa + "p", "up"])
        try sh(["ip", "-n", b, "link", "set", pb + "p"] + (v6 ? ["mtu", "1400"] : []) + ["up"])
        try sh(["ip", "-n", a, "route", "add", "default", "via", addr(v6, 31, 1)])
        try sh(["ip", "-n", b, "route", "add", "default", "via", addr(v6, 32, 1)])
        if kernel {
            try sh(["ip", "netns", "exec", sw, "sysctl", "-qw", v6 ? "net.ipv6.conf.all.forwarding=1" : "net.ipv4.ip_forward=1"])
            try sh(["ip", "-n", sw, "addr", "add", addr(v6, 31, 1, len: true), "dev", pa] + nodad)
            try sh(["ip", "-n", sw, "addr", "add", addr(v6, 32, 1, len: true), "dev", pb] + nodad)
            if v6 { try sh(["ip", "-n", sw, "link", "set", pb, "mtu", "1400"]) }
            try sh(["ip", "-n", sw, "link", "set", pa, "up"])
            try sh(["ip", "-n", sw, "link", "set", pb, "up"])
            if third {
                try sh(["ip", "-n", sw, "addr", "add", "198.18.33.1/24", "dev", pc])
                try sh(["ip", "-n", sw, "link", "set", pc, "up"])
            }
            return Path(a: a, b: b, sw: sw, daemon: nil)
        }
        // Sluice owns the router side: the kernel keeps no IPv6 on those veths.
        if v6 { for p in [pa, pb] { try sh(["ip", "netns", "exec", sw, "sysctl", "-qw", "net.ipv6.conf.\(p).disable_ipv6=1"]) } }
        // The same sysctl as the kernel's namespaces: no DAD, addresses usable at once.
        let d = try DaemonProcess(net: net, ns: sw, config: (v6 ? ["sysctl net.ipv6.conf.all.accept_dad=0", "sysctl net.ipv6.conf.default.accept_dad=0"] : []) + [
            "link add pa type afpacket dev \(pa)", "link add pb type afpacket dev \(pb)",
        ] + (v6 ? ["link set pb mtu 1400"] : []) + [
            "link set pa up", "link set pb up",
            "addr add \(addr(v6, 31, 1, len: true)) dev pa", "addr add \(addr(v6, 32, 1, len: true)) dev pb",
        ] + (third ? ["link add pc type afpacket dev \(pc)", "link set pc up", "addr add 198.18.33.1/24 dev pc"] : []), extraArgs: daemonArgs)
        try d.waitReady()
        return Path(a: a, b: b, sw: sw, daemon: d)
    }

    /// Host A's device, and the router's device toward A ("a") or B ("b"), on the kernel's
    /// path or Sluice's.
    func hostDev(_ p: Path) -> String { p.daemon == nil ? "\(net.tag)kap" : "\(net.tag)sap" }
    func routerDev(_ p: Path, _ side: String) -> String { p.daemon == nil ? "\(net.tag)k\(side)" : "p\(side)" }

    /// Runs `tool` (ip, sysctl) on the router of `p` — the kernel's in its namespace, Sluice's
    /// through `sluice exec` on `sock` — and asserts it succeeded; its output.
    @discardableResult
    func onRouter(_ p: Path, sock: String, _ tool: String, _ args: [String]) throws -> String {
        let r = try runBounded(p.daemon == nil ? ["10", "ip", "netns", "exec", p.sw, tool] + args
                                               : ["10", try sluiceBinary(), "exec", "--socket", sock, tool] + args)
        XCTAssertEqual(r.status, 0, "\(tool) \(args.joined(separator: " ")): \(r.out)")
        return r.out
    }

    /// traceroute's hops as addresses ("*" for no answer).
    func hops(_ p: Path, v6: Bool) throws -> [String] {
        let out = try sh(["ip", "netns", "exec", p.a, "traceroute"] + (v6 ? ["-6"] : []) + ["-n", "-q", "1", "-w", "2", "-m", "4", addr(v6, 32, 20)], timeout: 40)
        return out.split(separator: "\n").dropFirst().map { l in l.split(separator: " ").dropFirst().first.map(String.init) ?? "?" }
    }

    /// What both families check the same way: ping across (one hop) and to the router's far
    /// address, traceroute's hops, TCP to the router refused, TCP across; then Sluice's report.
    func common(_ k: Path, _ s: Path, v6: Bool) throws {
        for p in [k, s] {
            let out = try net.ping(from: p.a, addr(v6, 32, 20), count: 3)
            XCTAssertTrue(out.contains(" 0% packet loss"), out)
            XCTAssertTrue(out.contains("ttl=63"), "one router on the way: \(out)")
            // The router's own address on the far side answers (a host model).
            XCTAssertTrue(try net.ping(from: p.a, addr(v6, 32, 1), count: 1).contains("ttl=64"))
        }
        let kh = try hops(k, v6: v6), sh2 = try hops(s, v6: v6)
        XCTAssertEqual(kh, [addr(v6, 31, 1), addr(v6, 32, 20)])
        XCTAssertEqual(sh2, kh, "traceroute shows Sluice's hop as it shows the kernel's")
        // TCP to the router itself, where nothing listens: refused (a reset), by both.
        let target = addr(v6, 31, 1)
        for p in [k, s] {
            let out = try sh(["ip", "netns", "exec", p.a, "timeout", "5", "bash", "-c", "echo > /dev/tcp/\(target)/22"], timeout: 20, allowFailure: true)
            XCTAssertTrue(out.contains("Connection refused"), out)
        }
        // TCP across: both carry it (figures printed for the record, not judged here).
        let ks = try net.iperf(from: k.a, to: k.b, addr: addr(v6, 32, 20), seconds: 2)
        let ss = try net.iperf(from: s.a, to: s.b, addr: addr(v6, 32, 20), seconds: 2, port: 5202)
        let kbps = ((ks["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double ?? 0
        let sbps = ((ss["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double ?? 0
        print("routing TCP (\(v6 ? "IPv6" : "IPv4")): kernel \(kbps / 1e9) Gbit/s, Sluice \(sbps / 1e9) Gbit/s")
        XCTAssertGreaterThan(sbps, 0)
        let r = try s.daemon!.report()
        XCTAssertTrue(r.contains("\(addr(v6, 31, 10)) dev pa lladdr"), r)
        XCTAssertGreaterThan(number(after: v6 ? "Ip6OutForwDatagrams" : "ForwDatagrams", in: r) ?? 0, 6, r)
        XCTAssertEqual(s.daemon!.stop(), 0)
        XCTAssertTrue(s.daemon!.stdout.contains("(no buffer leaked)"), s.daemon!.stdout)
    }

    func testRoutingAsTheKernelRoutes() throws {
        let k = try path(kernel: true, "k", v6: false)
        let s = try path(kernel: false, "s", v6: false)
        // No route: the kernel answers "Destination Net Unreachable" from the router's address.
        for p in [k, s] {
            _ = try? sh(["ip", "-n", p.a, "route", "add", "198.18.99.0/24", "via", "198.18.31.1"])
            let out = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "1", "-W", "2", "198.18.99.9"], timeout: 20, allowFailure: true)
            XCTAssertTrue(out.contains("From 198.18.31.1 icmp_seq=1 Destination Net Unreachable"), out)
        }
        try common(k, s, v6: false)
    }

    /// Policy routing: the same rules and tables given to the kernel's router (`ip`) and to
    /// Sluice's (Debian's `ip` through `sluice exec`), then pings from four source addresses
    /// of host A: a rule sending one source to a table with a prohibit route (Packet filtered),
    /// an unreachable rule (Net Unreachable), a blackhole rule (silence), a rule to an empty
    /// table (falls through to main: answered). Each source gets the kernel's answer.
    func testPolicyRoutingAsTheKernelRoutes() throws {
        let k = try path(kernel: true, "k", v6: false)
        let sock = net.dir + "/ctl-rules/sluice.sock"
        let s = try path(kernel: false, "s", v6: false, daemonArgs: ["--socket", sock])
        let rules: [[String]] = [
            ["rule", "add", "from", "198.18.31.11", "lookup", "100"],
            ["route", "add", "prohibit", "198.18.32.0/24", "table", "100"],
            ["rule", "add", "unreachable", "from", "198.18.31.12"],
            ["rule", "add", "blackhole", "from", "198.18.31.13"],
            ["rule", "add", "from", "198.18.31.14", "lookup", "200"],
            ["route", "add", "blackhole", "198.18.77.0/24", "table", "200"],
        ]
        for c in rules {
            try sh(["ip", "-n", k.sw] + c)
            let r = try sh(["timeout", "10", try sluiceBinary(), "exec", "--socket", sock, "ip"] + c, allowFailure: true)
            XCTAssertTrue(r.isEmpty, "ip \(c.joined(separator: " ")): \(r)")
        }
        let shown = try sh(["timeout", "10", try sluiceBinary(), "exec", "--socket", sock, "ip", "rule", "show"])
        XCTAssertEqual(shown, try sh(["ip", "-n", k.sw, "rule", "show"]))
        let dev = { (p: Path) in p.daemon == nil ? "\(self.net.tag)kap" : "\(self.net.tag)sap" }
        for p in [k, s] {
            for h in 11...14 { try sh(["ip", "-n", p.a, "addr", "add", "198.18.31.\(h)/24", "dev", dev(p)]) }
        }
        func answer(_ p: Path, from h: Int) throws -> String {
            let out = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "1", "-W", "2", "-I", "198.18.31.\(h)", "198.18.32.20"], timeout: 20, allowFailure: true)
            return out.split(separator: "\n").filter { $0.hasPrefix("From ") || $0.contains("bytes from") || $0.contains("packet loss") }
                .map { $0.replacingOccurrences(of: #"time=[0-9.]+ ms"#, with: "time=T", options: .regularExpression)
                    .replacingOccurrences(of: #", time [0-9]+ms"#, with: "", options: .regularExpression) }.joined(separator: "\n")
        }
        for h in [10, 11, 12, 13, 14] {
            let ka = try answer(k, from: h), sa = try answer(s, from: h)
            XCTAssertEqual(sa, ka, "ping from 198.18.31.\(h)")
            print("policy routing, from 198.18.31.\(h): \(ka.split(separator: "\n").first ?? "")")
        }
        XCTAssertTrue(try answer(k, from: 11).contains("Packet filtered"))
        XCTAssertTrue(try answer(k, from: 12).contains("Destination Net Unreachable"))
        XCTAssertEqual(s.daemon!.stop(), 0)
        XCTAssertTrue(s.daemon!.stdout.contains("(no buffer leaked)"), s.daemon!.stdout)
    }

    /// Proxy ARP (`ip neigh add proxy`): host A believes B's address on its own link (a /16);
    /// without a proxy entry neither router answers A's ARP request and the ping fails; with
    /// one, both answer with their own MAC (after proxy_delay's random wait, the request being
    /// a broadcast) and route the ping to B.
    func testProxyARPAsTheKernel() throws {
        let k = try path(kernel: true, "k", v6: false)
        let sock = net.dir + "/ctl-proxy/sluice.sock"
        let s = try path(kernel: false, "s", v6: false, daemonArgs: ["--socket", sock])
        for p in [k, s] {
            try sh(["ip", "-n", p.a, "addr", "del", "198.18.31.10/24", "dev", hostDev(p)])
            try sh(["ip", "-n", p.a, "addr", "add", "198.18.31.10/16", "dev", hostDev(p)])
        }
        func ping(_ p: Path) throws -> String {
            _ = try? sh(["ip", "-n", p.a, "neigh", "flush", "dev", hostDev(p)])
            return try sh(["ip", "netns", "exec", p.a, "ping", "-c", "2", "-i", "0.5", "-W", "3", "198.18.32.20"], timeout: 20, allowFailure: true)
        }
        for p in [k, s] { XCTAssertTrue(try ping(p).contains("100% packet loss"), "no proxy entry: nobody answers for B") }
        try sh(["ip", "-n", k.sw, "neigh", "add", "proxy", "198.18.32.20", "dev", "\(net.tag)ka"])
        let r = try sh(["timeout", "10", try sluiceBinary(), "exec", "--socket", sock, "ip", "neigh", "add", "proxy", "198.18.32.20", "dev", "pa"], allowFailure: true)
        XCTAssertTrue(r.isEmpty, r)
        for p in [k, s] {
            let out = try ping(p)
            XCTAssertTrue(out.contains(" 0% packet loss"), out)
            // A learnt B's address with the router's MAC.
            let routerMAC = try sh(p.daemon == nil ? ["ip", "-n", k.sw, "-br", "link", "show", "\(net.tag)ka"]
                                                   : ["timeout", "10", try sluiceBinary(), "exec", "--socket", sock, "ip", "-br", "link", "show", "pa"])
                .split(separator: " ", omittingEmptySubsequences: true)[2]
            let n = try sh(["ip", "-n", p.a, "neigh", "show", "198.18.32.20"])
            XCTAssertTrue(n.contains("lladdr \(routerMAC)"), "\(n) vs \(routerMAC)")
        }
        XCTAssertEqual(s.daemon!.stop(), 0)
        XCTAssertTrue(s.daemon!.stdout.contains("(no buffer leaked)"), s.daemon!.stdout)
    }

    /// ICMP redirects: a packet the router sends back out of the link it came from, to a next
    /// hop on the sender's own subnet, earns the sender a host redirect (ip_rt_send_redirect);
    /// the host's kernel takes it (its route cache says `<redirected>` via the new next hop),
    /// and `ip route get … iif` on the router says `<redirect>` — for both routers alike.
    func testRedirectsAsTheKernelSendsThem() throws {
        let k = try path(kernel: true, "k", v6: false)
        let sock = net.dir + "/ctl-redirect/sluice.sock"
        let s = try path(kernel: false, "s", v6: false, daemonArgs: ["--socket", sock])
        let ip = { (p: Path, args: [String]) throws -> String in
            p.daemon == nil ? try sh(["ip", "-n", k.sw] + args, allowFailure: true)
                : try sh(["timeout", "10", try sluiceBinary(), "exec", "--socket", sock, "ip"] + args, allowFailure: true)
        }
        var answers: [String] = [], mediaAnswers: [String] = []
        for p in [k, s] {
            XCTAssertEqual(try ip(p, ["route", "add", "198.18.99.0/24", "via", "198.18.31.2"]), "")
            let viaDev = p.daemon == nil ? "\(net.tag)ka" : "pa"
            let got = try ip(p, ["route", "get", "198.18.99.9", "from", "198.18.31.10", "iif", viaDev])
            XCTAssertTrue(got.contains("cache <redirect> iif \(viaDev)"), got)
            // The host takes a redirect only to a next hop it can reach (a valid neighbour).
            try sh(["ip", "-n", p.a, "neigh", "add", "198.18.31.2", "lladdr", "02:00:00:00:00:99", "dev", p.daemon == nil ? "\(net.tag)kap" : "\(net.tag)sap"])
            let out = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "1", "-W", "2", "198.18.99.9"], timeout: 20, allowFailure: true)
            let from = out.split(separator: "\n").first { $0.hasPrefix("From ") }.map(String.init) ?? out
            answers.append(from)
            let cached = try sh(["ip", "-n", p.a, "route", "get", "198.18.99.9"])
            XCTAssertTrue(cached.contains("via 198.18.31.2") && cached.contains("<redirected>"), cached)
            // shared_media (either's): off, the sender and the gateway must share a subnet of the
            // device, so a gateway reached `onlink` outside it earns no redirect.
            XCTAssertEqual(try ip(p, ["route", "add", "198.18.98.0/24", "via", "198.18.40.1", "dev", viaDev, "onlink"]), "")
            var media: [String] = []
            for (name, sysctl) in [("both on", ""), ("all's off", "net.ipv4.conf.all.shared_media=0"),
                                   ("both off", "net.ipv4.conf.\(viaDev).shared_media=0"), ("all's on", "net.ipv4.conf.all.shared_media=1")] {
                if !sysctl.isEmpty { _ = try onRouter(p, sock: sock, "sysctl", ["-qw", sysctl]) }
                for dst in ["198.18.98.9", "198.18.99.9"] {
                    let got = try ip(p, ["route", "get", dst, "from", "198.18.31.10", "iif", viaDev])
                    media.append("\(name) \(dst): \(got.contains("<redirect>") ? "redirect" : "none")")
                }
            }
            mediaAnswers.append(media.joined(separator: ", "))
        }
        XCTAssertEqual(answers[1], answers[0])
        XCTAssertEqual(mediaAnswers[1], mediaAnswers[0])
        // The kernel's own answers: the gateway off the subnet loses its redirect only with both off.
        XCTAssertEqual(mediaAnswers[0], "both on 198.18.98.9: redirect, both on 198.18.99.9: redirect, all's off 198.18.98.9: redirect, "
                       + "all's off 198.18.99.9: redirect, both off 198.18.98.9: none, both off 198.18.99.9: redirect, "
                       + "all's on 198.18.98.9: redirect, all's on 198.18.99.9: redirect")
        XCTAssertTrue(answers[0].contains("Redirect Host(New nexthop: 198.18.31.2)"), answers[0])
        // Nothing for a sender whose packets leave by another device (B's to the same place).
        let before = number(after: "OutRedirects", in: try s.daemon!.report()) ?? -1
        _ = try sh(["ip", "netns", "exec", s.b, "ping", "-c", "1", "-W", "1", "198.18.99.9"], timeout: 20, allowFailure: true)
        XCTAssertEqual(number(after: "OutRedirects", in: try s.daemon!.report()), before)
        XCTAssertEqual(before, 1)
        XCTAssertEqual(s.daemon!.stop(), 0)
        XCTAssertTrue(s.daemon!.stdout.contains("(no buffer leaked)"), s.daemon!.stdout)
    }

    /// Per-device IPv4 configuration carrying real traffic, the same sysctl and ip commands
    /// given to the kernel's router and (through `sluice exec`) to Sluice's. Host A pings B from
    /// a second address, 198.18.33.10, which the routers route back toward B: B's ICMP
    /// InEchos (its /proc/net/snmp) tell what got through. rp_filter 0 lets it through, strict
    /// (1) drops it (IPReversePathFilter counts it on both routers), loose (2) lets it through
    /// until the route back is gone; the device's rp_filter 1 with all's 0 is strict (the
    /// larger). A source that is one of the router's own addresses is a martian unless the
    /// device has accept_local. forwarding 0 on A's device stops A's packets across but not
    /// its pings to the router; proxy_arp on A's device answers A's ARP for B's address (A on
    /// a /16); arp_ignore 1 stops the answer for the router's address on B's side; arp_announce
    /// 0 sends the router's ARP request from the waiting reply's source, 1 and 2 not.
    func testPerDeviceIPv4ConfigurationAsTheKernelObeysIt() throws {
        let k = try path(kernel: true, "k", v6: false)
        let sock = net.dir + "/ctl-devconf/sluice.sock"
        let s = try path(kernel: false, "s", v6: false, daemonArgs: ["--socket", sock])
        let routerA = { (p: Path) in self.routerDev(p, "a") }
        func router(_ p: Path, _ tool: String, _ args: [String]) throws { try onRouter(p, sock: sock, tool, args) }
        func inEchos(_ p: Path) throws -> Int {
            let lines = try sh(["ip", "netns", "exec", p.b, "cat", "/proc/net/snmp"]).split(separator: "\n").filter { $0.hasPrefix("Icmp: ") }
            guard lines.count >= 2 else { return -1 }
            let keys = lines[0].split(separator: " "), values = lines[1].split(separator: " ")
            return keys.firstIndex(of: "InEchos").flatMap { Int(values[$0]) } ?? -1
        }
        /// How many of three pings from `src` reached B.
        func reached(_ p: Path, from src: String, to dst: String = "198.18.32.20") throws -> Int {
            let before = try inEchos(p)
            _ = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "3", "-i", "0.2", "-W", "1", "-I", src, dst], timeout: 20, allowFailure: true)
            return try inEchos(p) - before
        }
        func answered(_ p: Path, _ dst: String) throws -> Bool {
            // A proxied ARP reply leaves up to proxy_delay (0.8 s) after its request; on a busy
            // machine A may have asked twice in the step before, and the late reply must not
            // answer this step's question: flush, wait it out, flush again.
            _ = try? sh(["ip", "-n", p.a, "neigh", "flush", "dev", hostDev(p)])
            usleep(900_000)
            _ = try? sh(["ip", "-n", p.a, "neigh", "flush", "dev", hostDev(p)])
            return try sh(["ip", "netns", "exec", p.a, "ping", "-c", "1", "-W", "2", dst], timeout: 20, allowFailure: true).contains(" 0% packet loss")
        }
        for p in [k, s] {
            try sh(["ip", "-n", p.a, "addr", "add", "198.18.33.10/32", "dev", "lo"])
            try sh(["ip", "-n", p.a, "link", "set", "lo", "up"])
            try router(p, "ip", ["route", "add", "198.18.33.0/24", "via", "198.18.32.20"])
        }
        let results = try eachAtOnce([k, s]) { p -> [String] in
            var out: [String] = []
            func step(_ name: String, _ sysctls: [String], _ check: () throws -> String) throws {
                if !sysctls.isEmpty { try router(p, "sysctl", ["-qw"] + sysctls) }
                out.append("\(name): \(try check())")
            }
            let a = routerA(p)
            try step("rp_filter 0", []) { "\(try reached(p, from: "198.18.33.10"))" }
            try step("all strict", ["net.ipv4.conf.all.rp_filter=1"]) { "\(try reached(p, from: "198.18.33.10"))" }
            try step("all loose", ["net.ipv4.conf.all.rp_filter=2"]) { "\(try reached(p, from: "198.18.33.10"))" }
            try router(p, "ip", ["route", "del", "198.18.33.0/24"])
            try step("loose, no route back", []) { "\(try reached(p, from: "198.18.33.10"))" }
            try router(p, "ip", ["route", "add", "198.18.33.0/24", "via", "198.18.32.20"])
            try step("device strict", ["net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.\(a).rp_filter=1"]) { "\(try reached(p, from: "198.18.33.10"))" }
            try step("device off", ["net.ipv4.conf.\(a).rp_filter=0"]) { "\(try reached(p, from: "198.18.33.10"))" }
            // The router's own address on B's side as A's source.
            try sh(["ip", "-n", p.a, "addr", "add", "198.18.32.1/32", "dev", "lo"])
            try step("martian", []) { "\(try reached(p, from: "198.18.32.1"))" }
            try step("accept_local", ["net.ipv4.conf.\(a).accept_local=1"]) { "\(try reached(p, from: "198.18.32.1"))" }
            try sh(["ip", "-n", p.a, "addr", "del", "198.18.32.1/32", "dev", "lo"])
            try step("A's device not forwarding", ["net.ipv4.conf.\(a).forwarding=0"]) {
                "\(try reached(p, from: "198.18.31.10")) across, router answers \(try answered(p, "198.18.31.1"))"
            }
            try step("forwarding again", ["net.ipv4.conf.\(a).forwarding=1"]) { "\(try reached(p, from: "198.18.31.10"))" }
            // A on a /16 ARPs for B itself: proxy_arp answers with the router's MAC.
            try sh(["ip", "-n", p.a, "addr", "del", "198.18.31.10/24", "dev", hostDev(p)])
            try sh(["ip", "-n", p.a, "addr", "add", "198.18.31.10/16", "dev", hostDev(p)])
            try step("no proxy_arp", []) { "\(try answered(p, "198.18.32.20"))" }
            try step("proxy_arp", ["net.ipv4.conf.\(a).proxy_arp=1"]) { "\(try answered(p, "198.18.32.20"))" }
            try step("proxy_arp off", ["net.ipv4.conf.\(a).proxy_arp=0"]) { "\(try answered(p, "198.18.32.20"))" }
            // The router's address on B's side, asked for on A's link: arp_ignore 1 keeps quiet.
            try sh(["ip", "-n", p.a, "route", "add", "198.18.32.1/32", "dev", hostDev(p)])
            try step("arp_ignore 0", []) { "\(try answered(p, "198.18.32.1"))" }
            try step("arp_ignore 1", ["net.ipv4.conf.all.arp_ignore=1"]) { "\(try answered(p, "198.18.32.1"))" }
            try step("arp_ignore 1, own address", []) { "\(try answered(p, "198.18.31.1"))" }
            // arp_announce: A pings the router's address on B's side; the reply waits for A's
            // address, and the router's request for it is sent from the reply's source (0) — A's
            // kernel then knows that address as a neighbour — or from pa's own (2).
            let routerMAC = try sh(p.daemon == nil ? ["ip", "-n", k.sw, "-br", "link", "show", a]
                                                   : ["timeout", "10", try sluiceBinary(), "exec", "--socket", sock, "ip", "-br", "link", "show", a])
                .split(separator: " ", omittingEmptySubsequences: true)[2]
            try sh(["ip", "-n", p.a, "route", "del", "198.18.32.1/32", "dev", hostDev(p)])
            // A back on its /24 (the router's addresses on B's side off its link again).
            try sh(["ip", "-n", p.a, "addr", "del", "198.18.31.10/16", "dev", hostDev(p)])
            try sh(["ip", "-n", p.a, "addr", "add", "198.18.31.10/24", "dev", hostDev(p)])
            try sh(["ip", "-n", p.a, "route", "replace", "default", "via", "198.18.31.1"])
            try sh(["ip", "-n", p.a, "neigh", "replace", "198.18.31.1", "lladdr", String(routerMAC), "dev", hostDev(p), "nud", "permanent"])
            func announced(_ knobs: [String]) throws -> String {
                if !knobs.isEmpty { try router(p, "sysctl", ["-qw"] + knobs) }
                try router(p, "ip", ["neigh", "flush", "dev", a])
                _ = try? sh(["ip", "-n", p.a, "neigh", "del", "198.18.32.1", "dev", hostDev(p)])
                _ = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "1", "-W", "2", "198.18.32.1"], timeout: 20, allowFailure: true)
                return try sh(["ip", "-n", p.a, "neigh", "show", "198.18.32.1"]).isEmpty ? "not known" : "known"
            }
            try step("arp_announce 0", []) { try announced([]) }
            try step("arp_announce 2", []) { try announced(["net.ipv4.conf.all.arp_announce=2"]) }
            try step("arp_announce 1", []) { try announced(["net.ipv4.conf.all.arp_announce=1"]) }
            return out
        }
        XCTAssertEqual(results[1], results[0])
        // The kernel's own answers, so that the comparison cannot pass with both sides broken.
        XCTAssertEqual(results[0].first, "rp_filter 0: 3")
        XCTAssertEqual(results[0][1], "all strict: 0")
        XCTAssertTrue(results[0].contains("proxy_arp: true") && results[0].contains("arp_ignore 1: false"), "\(results[0])")
        XCTAssertEqual(results[0].suffix(3), ["arp_announce 0: known", "arp_announce 2: not known", "arp_announce 1: not known"])
        let filtered = try sh(["ip", "netns", "exec", k.sw, "nstat", "-az", "-s", "TcpExtIPReversePathFilter"])
            .split(separator: "\n").last.flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first }.flatMap { Int($0) }
        XCTAssertEqual(number(after: "IPReversePathFilter", in: try s.daemon!.report()), filtered)
        XCTAssertEqual(s.daemon!.stop(), 0)
        XCTAssertTrue(s.daemon!.stdout.contains("(no buffer leaked)"), s.daemon!.stdout)
    }

    /// More per-device IPv4 knobs with real ARP, the same commands given to the kernel's router
    /// and (through `sluice exec`) to Sluice's, host A's kernel the peer. arp_filter: with a
    /// route back to A through B's side, A's request for the router's address on its own link
    /// is answered only without arp_filter (A's neighbour entry for it tells). arp_accept: A's
    /// gratuitous ARP (A's kernel sends one as its link comes up, with arp_notify) makes a
    /// neighbour on the router only with arp_accept 1, and not with drop_gratuitous_arp.
    /// arp_notify on the router: its device coming up announces its address, which A (with
    /// arp_accept) then knows. log_martians: a martian source is logged as route.c words it.
    func testMoreIPv4DeviceKnobsAsTheKernelObeysThem() throws {
        let k = try path(kernel: true, "k", v6: false)
        let sock = net.dir + "/ctl-devconf4b/sluice.sock"
        let s = try path(kernel: false, "s", v6: false, daemonArgs: ["--socket", sock])
        let routerA = { (p: Path) in self.routerDev(p, "a") }
        func router(_ p: Path, _ tool: String, _ args: [String]) throws { try onRouter(p, sock: sock, tool, args) }
        func routerOutput(_ p: Path, _ args: [String]) throws -> String {
            try runBounded(p.daemon == nil ? ["10", "ip", "-n", k.sw] + args : ["10", try sluiceBinary(), "exec", "--socket", sock, "ip"] + args).out
        }
        /// Whether A's kernel holds a usable address for the router's 198.18.31.1.
        func aKnowsRouter(_ p: Path) throws -> String {
            let n = try sh(["ip", "-n", p.a, "neigh", "show", "198.18.31.1", "dev", hostDev(p)])
            return n.contains("lladdr") ? "known" : "not known"
        }
        /// Whether the router holds an address for A's 198.18.31.10.
        func routerKnowsA(_ p: Path) throws -> String {
            try routerOutput(p, ["neigh", "show", "198.18.31.10"]).contains("lladdr") ? "known" : "not known"
        }
        /// A's link down and up: A's kernel (arp_notify on) sends a gratuitous ARP for 198.18.31.10.
        func aAnnounces(_ p: Path) throws {
            try router(p, "ip", ["neigh", "flush", "dev", routerA(p)])
            try sh(["ip", "-n", p.a, "link", "set", hostDev(p), "down"])
            try sh(["ip", "-n", p.a, "link", "set", hostDev(p), "up"])
            try sh(["ip", "-n", p.a, "route", "replace", "default", "via", "198.18.31.1"])
            usleep(500_000)
        }
        let results = try eachAtOnce([k, s]) { p -> [String] in
            var out: [String] = []
            let a = routerA(p)
            func step(_ name: String, _ sysctls: [String], _ check: () throws -> String) throws {
                if !sysctls.isEmpty { try router(p, "sysctl", ["-qw"] + sysctls) }
                out.append("\(name): \(try check())")
            }
            try sh(["ip", "netns", "exec", p.a, "sysctl", "-qw", "net.ipv4.conf.\(hostDev(p)).arp_notify=1", "net.ipv4.conf.\(hostDev(p)).arp_accept=1"])
            // The route back to A leaves through B's side.
            try router(p, "ip", ["route", "add", "198.18.31.10/32", "via", "198.18.32.20"])
            func asked() throws -> String {
                try sh(["ip", "-n", p.a, "neigh", "flush", "dev", hostDev(p)])
                _ = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "1", "-W", "2", "198.18.31.1"], timeout: 20, allowFailure: true)
                return try aKnowsRouter(p)
            }
            try step("arp_filter 0", []) { try asked() }
            try step("arp_filter 1", ["net.ipv4.conf.\(a).arp_filter=1"]) { try asked() }
            try router(p, "ip", ["route", "del", "198.18.31.10/32"])
            try step("arp_filter 1, route back through A's side", []) { try asked() }
            try step("arp_accept 0", ["net.ipv4.conf.\(a).arp_filter=0"]) { try aAnnounces(p); return try routerKnowsA(p) }
            try step("arp_accept 1", ["net.ipv4.conf.\(a).arp_accept=1"]) { try aAnnounces(p); return try routerKnowsA(p) }
            try step("drop_gratuitous_arp", ["net.ipv4.conf.all.drop_gratuitous_arp=1"]) { try aAnnounces(p); return try routerKnowsA(p) }
            try router(p, "sysctl", ["-qw", "net.ipv4.conf.all.drop_gratuitous_arp=0"])
            func routerAnnounces() throws -> String {
                try sh(["ip", "-n", p.a, "neigh", "flush", "dev", hostDev(p)])
                try router(p, "ip", ["link", "set", a, "down"])
                try router(p, "ip", ["link", "set", a, "up"])
                if p.daemon == nil { try router(p, "ip", ["addr", "replace", "198.18.31.1/24", "dev", a]) }
                usleep(500_000)
                return try aKnowsRouter(p)
            }
            try step("router's arp_notify 0", []) { try routerAnnounces() }
            try step("router's arp_notify 1", ["net.ipv4.conf.\(a).arp_notify=1"]) { try routerAnnounces() }
            // Directed broadcast (bc_forwarding, all's and the device's): UDP from A to B's
            // subnet broadcast, counted by B's UDP as broadcast nobody listened to.
            func broadcastReachesB() throws -> String {
                let before = try net.udpCounters(p.b)["IgnoredMulti"] ?? 0
                let send = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor i in range(3): s.sendto(b'x', ('198.18.32.255', 5000))\n"
                _ = try sh(["ip", "netns", "exec", p.a, "python3", "-c", send], timeout: 20)
                usleep(300_000)
                return (try net.udpCounters(p.b)["IgnoredMulti"] ?? 0) - before == 3 ? "forwarded" : "not forwarded"
            }
            try step("bc_forwarding 0", []) { try broadcastReachesB() }
            try step("bc_forwarding on A's side only", ["net.ipv4.conf.\(a).bc_forwarding=1"]) { try broadcastReachesB() }
            try step("bc_forwarding all's and A's side", ["net.ipv4.conf.all.bc_forwarding=1"]) { try broadcastReachesB() }
            // Proxy ARP across media (arp_fwd_proxy's medium_id) and within one (proxy_arp_pvlan):
            // A believes B's address on its link, then another address of its own subnet.
            try sh(["ip", "-n", p.a, "route", "add", "198.18.32.20/32", "dev", hostDev(p)])
            func aResolves(_ target: String) throws -> String {
                // A proxied reply leaves up to proxy_delay (0.8 s) after its request: one the
                // last step's retries asked for must not land in this step (A has arp_accept).
                try sh(["ip", "-n", p.a, "neigh", "flush", "dev", hostDev(p)])
                usleep(900_000)
                try sh(["ip", "-n", p.a, "neigh", "flush", "dev", hostDev(p)])
                _ = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "1", "-W", "2", target], timeout: 20, allowFailure: true)
                return try sh(["ip", "-n", p.a, "neigh", "show", target, "dev", hostDev(p)]).contains("lladdr") ? "answered" : "not answered"
            }
            let b = routerDev(p, "b")
            try step("proxy_arp 0", []) { try aResolves("198.18.32.20") }
            try step("proxy_arp 1", ["net.ipv4.conf.\(a).proxy_arp=1"]) { try aResolves("198.18.32.20") }
            try step("medium_id 1 and 1", ["net.ipv4.conf.\(a).medium_id=1", "net.ipv4.conf.\(b).medium_id=1"]) { try aResolves("198.18.32.20") }
            try step("medium_id 1 and 2", ["net.ipv4.conf.\(b).medium_id=2"]) { try aResolves("198.18.32.20") }
            try step("medium_id 1 and -1", ["net.ipv4.conf.\(b).medium_id=-1"]) { try aResolves("198.18.32.20") }
            try step("medium_id -1 and 0", ["net.ipv4.conf.\(a).medium_id=-1", "net.ipv4.conf.\(b).medium_id=0"]) { try aResolves("198.18.32.20") }
            try step("proxy_arp_pvlan 0", ["net.ipv4.conf.\(a).medium_id=0", "net.ipv4.conf.\(a).proxy_arp=0"]) { try aResolves("198.18.31.77") }
            try step("proxy_arp_pvlan 1", ["net.ipv4.conf.\(a).proxy_arp_pvlan=1"]) { try aResolves("198.18.31.77") }
            try sh(["ip", "-n", p.a, "route", "del", "198.18.32.20/32", "dev", hostDev(p)])
            // A knows the router again (the martian check below sends straight to it).
            _ = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "1", "-W", "2", "198.18.31.1"], timeout: 20, allowFailure: true)
            return out
        }
        XCTAssertEqual(results[1], results[0])
        // The kernel's own answers, so that the comparison cannot pass with both sides broken.
        XCTAssertEqual(results[0], ["arp_filter 0: known", "arp_filter 1: not known", "arp_filter 1, route back through A's side: known",
                                    "arp_accept 0: not known", "arp_accept 1: known", "drop_gratuitous_arp: not known",
                                    "router's arp_notify 0: not known", "router's arp_notify 1: known",
                                    "bc_forwarding 0: not forwarded", "bc_forwarding on A's side only: not forwarded",
                                    "bc_forwarding all's and A's side: forwarded",
                                    "proxy_arp 0: not answered", "proxy_arp 1: answered", "medium_id 1 and 1: not answered",
                                    "medium_id 1 and 2: answered", "medium_id 1 and -1: not answered", "medium_id -1 and 0: not answered",
                                    "proxy_arp_pvlan 0: not answered", "proxy_arp_pvlan 1: answered"])
        // log_martians: a source that is the router's own address, logged as ip_handle_martian_source words it.
        try router(s, "sysctl", ["-qw", "net.ipv4.conf.pa.log_martians=1"])
        try sh(["ip", "-n", s.a, "addr", "add", "198.18.32.1/32", "dev", "lo"])
        try sh(["ip", "-n", s.a, "link", "set", "lo", "up"])
        _ = try sh(["ip", "netns", "exec", s.a, "ping", "-c", "3", "-i", "0.2", "-W", "1", "-I", "198.18.32.1", "198.18.32.20"], timeout: 20, allowFailure: true)
        XCTAssertNotNil(number(after: "ArpFilter", in: try s.daemon!.report()).flatMap { $0 > 0 ? $0 : nil }, "arp_filter's refusal is counted")
        XCTAssertEqual(s.daemon!.stop(), 0)
        let log = s.daemon!.stdout + s.daemon!.stderr
        XCTAssertTrue(log.contains("martian source 198.18.32.20 from 198.18.32.1, on dev pa"), log)
        XCTAssertTrue(s.daemon!.stdout.contains("(no buffer leaked)"), s.daemon!.stdout)
    }

    /// Per-device IPv6 configuration carrying real traffic, the same sysctl commands given to
    /// both routers: the hop limit of what the router sends is that of the device it leaves by
    /// (all's changes nothing); a device's own forwarding sets the router flag of its neighbour
    /// advertisements (host A's neighbour entry for the router says `router` or not) while the
    /// stack forwards by all's alone; all's forwarding written off reaches every device (A's
    /// pings across fail, to the router still answered) and on again restores them.
    func testPerDeviceIPv6ConfigurationAsTheKernelObeysIt() throws {
        let k = try path(kernel: true, "k", v6: true)
        let sock = net.dir + "/ctl-devconf6/sluice.sock"
        let s = try path(kernel: false, "s", v6: true, daemonArgs: ["--socket", sock])
        let routerA = { (p: Path) in self.routerDev(p, "a") }
        func sysctl(_ p: Path, _ args: [String]) throws { try onRouter(p, sock: sock, "sysctl", ["-qw"] + args) }
        /// The hop limit of the router's echo reply, or "no answer".
        func replyHops(_ p: Path, _ dst: String) throws -> String {
            let out = try sh(["ip", "netns", "exec", p.a, "ping", "-6", "-c", "1", "-W", "2", dst], timeout: 20, allowFailure: true)
            guard let r = out.range(of: #"(ttl|hlim)=\d+"#, options: .regularExpression) else { return "no answer" }
            return String(out[r].split(separator: "=")[1])
        }
        func routerFlag(_ p: Path) throws -> String {
            _ = try? sh(["ip", "-n", p.a, "-6", "neigh", "flush", "dev", hostDev(p)])
            _ = try replyHops(p, "2001:db8:31::1")
            let n = try sh(["ip", "-n", p.a, "-6", "neigh", "show", "2001:db8:31::1"])
            return n.contains(" router") ? "router" : n.isEmpty ? "none" : "host"
        }
        var results: [[String]] = [[], []]
        for (i, p) in [k, s].enumerated() {
            let a = routerA(p)
            func step(_ name: String, _ knobs: [String], _ check: () throws -> String) throws {
                if !knobs.isEmpty { try sysctl(p, knobs) }
                results[i].append("\(name): \(try check())")
            }
            try step("defaults", []) { "\(try replyHops(p, "2001:db8:31::1")) \(try replyHops(p, "2001:db8:32::1")) \(try routerFlag(p))" }
            try step("all's hop_limit", ["net.ipv6.conf.all.hop_limit=30"]) { try replyHops(p, "2001:db8:31::1") }
            try step("A's device hop_limit", ["net.ipv6.conf.\(a).hop_limit=40"]) {
                "\(try replyHops(p, "2001:db8:31::1")) \(try replyHops(p, "2001:db8:32::1"))"
            }
            try step("A's device not forwarding", ["net.ipv6.conf.\(a).forwarding=0"]) {
                "\(try routerFlag(p)), across \(try replyHops(p, "2001:db8:32::20"))"
            }
            try step("all off", ["net.ipv6.conf.all.forwarding=0"]) {
                "across \(try replyHops(p, "2001:db8:32::20")), router \(try replyHops(p, "2001:db8:31::1"))"
            }
            try step("all on", ["net.ipv6.conf.all.forwarding=1"]) { "\(try routerFlag(p)), across \(try replyHops(p, "2001:db8:32::20"))" }
        }
        XCTAssertEqual(results[1], results[0])
        // The kernel's own answers, so that the comparison cannot pass with both sides broken.
        XCTAssertEqual(results[0], ["defaults: 64 64 router", "all's hop_limit: 64", "A's device hop_limit: 40 40",
                                    "A's device not forwarding: host, across 63", "all off: across no answer, router 40",
                                    "all on: router, across 63"])
        XCTAssertEqual(s.daemon!.stop(), 0)
        XCTAssertTrue(s.daemon!.stdout.contains("(no buffer leaked)"), s.daemon!.stdout)
    }

    /// `expires` on a route (RTA_EXPIRES), the same commands given to both routers. IPv6: the
    /// route shows its seconds left and carries traffic until then; after it, a packet gets no
    /// route (destination unreachable). An identical route given again with `prepend` is
    /// EEXIST, yet its expiry takes the new one's (fib6_add_rt2node), or goes when the new one
    /// has none; a route that never expired keeps so. IPv4 ignores `expires`.
    func testRouteExpiryAsTheKernel() throws {
        let k = try path(kernel: true, "k", v6: true)
        let sock = net.dir + "/ctl-expires/sluice.sock"
        let s = try path(kernel: false, "s", v6: true, daemonArgs: ["--socket", sock])
        var results: [[String]] = [[], []]
        for (i, p) in [k, s].enumerated() {
            let b = routerDev(p, "b")
            // B answers for 2001:db8:99::20 too, reached through the router's expiring route.
            _ = try? sh(["ip", "-n", p.b, "-6", "addr", "add", "2001:db8:99::20/128", "dev", "lo"])
            func ip(_ args: [String]) throws -> String {
                let r = try runBounded(p.daemon == nil ? ["10", "ip", "-n", p.sw] + args
                                                       : ["10", try sluiceBinary(), "exec", "--socket", sock, "ip"] + args)
                return "rc \(r.status)" + (r.out.isEmpty ? "" : " " + r.out.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            /// A route as shown, the device named alike and the seconds left to the nearest 10.
            func show(_ args: [String]) throws -> String {
                var out = try ip(args).replacingOccurrences(of: b, with: "DEV")
                while let r = out.range(of: #"expires \d+sec"#, options: .regularExpression) {
                    let n = Int(out[r].dropFirst(8).dropLast(3))!
                    out.replaceSubrange(r, with: "expires ~\((n + 5) / 10 * 10)s")
                }
                return out
            }
            func ping() throws -> String {
                let out = try sh(["ip", "netns", "exec", p.a, "ping", "-6", "-c", "1", "-W", "2", "2001:db8:99::20"], timeout: 20, allowFailure: true)
                return out.contains(" 0% packet loss") ? "answered" : out.contains("Destination unreachable: No route") ? "no route" : "lost: \(out)"
            }
            var r: [String] = []
            r.append("add: " + (try ip(["-6", "route", "add", "2001:db8:99::/64", "via", "2001:db8:32::20", "expires", "3"])))
            r.append("show: " + (try show(["-6", "route", "show", "2001:db8:99::/64"])))
            r.append("ping before: " + (try ping()))
            Thread.sleep(forTimeInterval: 3.5)
            r.append("ping after: " + (try ping()))
            r.append("prepend: " + (try ip(["-6", "route", "prepend", "2001:db8:98::/64", "via", "2001:db8:32::20", "expires", "100"])))
            r.append("again, 200: " + (try ip(["-6", "route", "prepend", "2001:db8:98::/64", "via", "2001:db8:32::20", "expires", "200"])))
            r.append("show: " + (try show(["-6", "route", "show", "2001:db8:98::/64"])))
            r.append("again, none: " + (try ip(["-6", "route", "prepend", "2001:db8:98::/64", "via", "2001:db8:32::20"])))
            r.append("again, 50: " + (try ip(["-6", "route", "prepend", "2001:db8:98::/64", "via", "2001:db8:32::20", "expires", "50"])))
            r.append("show: " + (try show(["-6", "route", "show", "2001:db8:98::/64"])))
            r.append("device route: " + (try ip(["-6", "route", "prepend", "2001:db8:97::/64", "dev", b, "expires", "100"])))
            r.append("again, 300: " + (try ip(["-6", "route", "prepend", "2001:db8:97::/64", "dev", b, "expires", "300"])))
            r.append("show: " + (try show(["-6", "route", "show", "2001:db8:97::/64"])))
            r.append("IPv4: " + (try ip(["-4", "route", "add", "198.18.97.0/24", "dev", b, "expires", "100"])))
            r.append("show: " + (try show(["-4", "route", "show", "198.18.97.0/24"])))
            results[i] = r
        }
        XCTAssertEqual(results[1], results[0])
        // The kernel's own answers, so that the comparison cannot pass with both sides broken.
        XCTAssertEqual(results[0], [
            "add: rc 0", "show: rc 0 2001:db8:99::/64 via 2001:db8:32::20 dev DEV metric 1024 expires ~0s pref medium",
            "ping before: answered", "ping after: no route",
            "prepend: rc 0", "again, 200: rc 2 RTNETLINK answers: File exists",
            "show: rc 0 2001:db8:98::/64 via 2001:db8:32::20 dev DEV metric 1024 expires ~200s pref medium",
            "again, none: rc 2 RTNETLINK answers: File exists", "again, 50: rc 2 RTNETLINK answers: File exists",
            "show: rc 0 2001:db8:98::/64 via 2001:db8:32::20 dev DEV metric 1024 pref medium",
            "device route: rc 0", "again, 300: rc 2 RTNETLINK answers: File exists",
            "show: rc 0 2001:db8:97::/64 dev DEV metric 1024 expires ~300s pref medium",
            "IPv4: rc 0", "show: rc 0 198.18.97.0/24 dev DEV scope link",
        ])
        XCTAssertEqual(s.daemon!.stop(), 0)
        XCTAssertTrue(s.daemon!.stdout.contains("(no buffer leaked)"), s.daemon!.stdout)
    }

    /// More per-device IPv6 knobs carrying real traffic, the same commands given to both
    /// routers. mtu: the router's IPv6 MTU on B's side (1300, below the link's 1400) is what a
    /// too-big packet is told (packet too big, mtu=1300). proxy_ndp: host A, told B's address
    /// is on its own link, solicits it; only with a proxy entry for it on A's device and
    /// proxy_ndp on does the router answer for it (A's ping then reaches B through the router),
    /// and without NTF_ROUTER the answer does not say router. disable_ipv6 on A's device: the
    /// router neither answers A nor forwards for it, its addresses on that device are gone;
    /// enabled again, with the address added back, both work again.
    func testMoreIPv6DeviceKnobsAsTheKernelObeysThem() throws {
        let k = try path(kernel: true, "k", v6: true)
        let sock = net.dir + "/ctl-devconf6b/sluice.sock"
        let s = try path(kernel: false, "s", v6: true, daemonArgs: ["--socket", sock])
        let routerA = { (p: Path) in self.routerDev(p, "a") }
        let routerB = { (p: Path) in self.routerDev(p, "b") }
        func router(_ p: Path, _ tool: String, _ args: [String]) throws { try onRouter(p, sock: sock, tool, args) }
        func reached(_ p: Path, _ dst: String, flush: Bool = false) throws -> Bool {
            if flush { _ = try? sh(["ip", "-n", p.a, "-6", "neigh", "flush", "dev", hostDev(p)]) }
            return try sh(["ip", "netns", "exec", p.a, "ping", "-6", "-c", "1", "-W", "3", dst], timeout: 20, allowFailure: true).contains(" 0% packet loss")
        }
        let results = try eachAtOnce([k, s]) { p -> [String] in
            var out: [String] = []
            let a = routerA(p), b = routerB(p)
            func step(_ name: String, _ knobs: [String], _ check: () throws -> String) throws {
                if !knobs.isEmpty { try router(p, "sysctl", ["-qw"] + knobs) }
                out.append("\(name): \(try check())")
            }
            try step("B's device mtu 1300", ["net.ipv6.conf.\(b).mtu=1300"]) {
                let out = try sh(["ip", "netns", "exec", p.a, "ping", "-6", "-c", "1", "-W", "2", "-M", "do", "-s", "1300", "2001:db8:32::20"],
                                 timeout: 20, allowFailure: true)
                return out.range(of: #"Packet too big: mtu=\d+"#, options: .regularExpression).map { String(out[$0]) } ?? "no packet too big"
            }
            // A believes B is on its link.
            try sh(["ip", "-n", p.a, "-6", "route", "add", "2001:db8:32::20/128", "dev", hostDev(p)])
            try step("proxy_ndp without an entry", ["net.ipv6.conf.\(a).proxy_ndp=1"]) { "\(try reached(p, "2001:db8:32::20", flush: true))" }
            try router(p, "ip", ["-6", "neigh", "add", "proxy", "2001:db8:32::20", "dev", a])
            try step("proxy entry and proxy_ndp", []) {
                let ok = try reached(p, "2001:db8:32::20", flush: true)
                let n = try sh(["ip", "-n", p.a, "-6", "neigh", "show", "2001:db8:32::20"])
                return "\(ok) \(n.contains(" router") ? "router" : "host")"
            }
            try step("proxy entry, proxy_ndp off", ["net.ipv6.conf.\(a).proxy_ndp=0"]) { "\(try reached(p, "2001:db8:32::20", flush: true))" }
            try sh(["ip", "-n", p.a, "-6", "route", "del", "2001:db8:32::20/128", "dev", hostDev(p)])
            try step("A's device disabled", ["net.ipv6.conf.\(a).disable_ipv6=1"]) {
                "router \(try reached(p, "2001:db8:31::1", flush: true)), across \(try reached(p, "2001:db8:32::20"))"
            }
            try step("enabled again", ["net.ipv6.conf.\(a).disable_ipv6=0"]) {
                try router(p, "ip", ["-6", "addr", "add", "2001:db8:31::1/64", "dev", a, "nodad"])
                return "router \(try reached(p, "2001:db8:31::1", flush: true)), across \(try reached(p, "2001:db8:32::20"))"
            }
            return out
        }
        XCTAssertEqual(results[1], results[0])
        // The kernel's own answers, so that the comparison cannot pass with both sides broken.
        XCTAssertEqual(results[0], ["B's device mtu 1300: Packet too big: mtu=1300", "proxy_ndp without an entry: false",
                                    "proxy entry and proxy_ndp: true host", "proxy entry, proxy_ndp off: false",
                                    "A's device disabled: router false, across false", "enabled again: router true, across true"])
        let report = try s.daemon!.report()
        XCTAssertGreaterThan(number(after: "Ip6InDiscards", in: report) ?? 0, 0, "what reached the disabled device was discarded")
        XCTAssertEqual(s.daemon!.stop(), 0)
        XCTAssertTrue(s.daemon!.stdout.contains("(no buffer leaked)"), s.daemon!.stdout)
    }

    /// Multipath hashing (fib_multipath_hash_policy) with real traffic, the same commands
    /// given to both routers: host B answers on a second address of its link and on
    /// 198.18.40.1 (2001:db8:40::1), routed through both of B's addresses as one multipath
    /// route. Sixteen UDP flows from A that differ only in their source port take one gateway
    /// under IPv4's default L3 policy and both under L4 (policy 1) — the router's neighbour
    /// table tells which gateways it sent to. For IPv6 the default policy hashes the flow
    /// label too, which A's kernel sets per flow (auto flow labels): both gateways already;
    /// policy 3 with only the addresses, one.
    func testMultipathHashPolicyAsTheKernel() throws {
        var results: [[String]] = [[], []]
        for (i, kernel) in [true, false].enumerated() {
            for v6 in [false, true] {
                let id = (kernel ? "k" : "s") + (v6 ? "6" : "4")
                let sock = net.dir + "/ctl-mp\(id)/sluice.sock"
                let p = try path(kernel: kernel, id, v6: v6, daemonArgs: kernel ? [] : ["--socket", sock])
                let bdev = "\(net.tag)\(id)bp"
                let fam = v6 ? "ipv6" : "ipv4"
                func router(_ tool: String, _ args: [String]) throws -> String { try onRouter(p, sock: sock, tool, args) }
                let gw1 = addr(v6, 32, 20), gw2 = addr(v6, 32, 21), far = v6 ? "2001:db8:40::1" : "198.18.40.1"
                try sh(["ip", "-n", p.b, "addr", "add", v6 ? "2001:db8:32::21/64" : "198.18.32.21/24", "dev", bdev] + (v6 ? ["nodad"] : []))
                try sh(["ip", "-n", p.b, "link", "set", "lo", "up"])
                try sh(["ip", "-n", p.b, "addr", "add", far, "dev", "lo"])
                _ = try router("ip", (v6 ? ["-6"] : []) + ["route", "add", v6 ? "2001:db8:40::/64" : "198.18.40.0/24", "nexthop", "via", gw1, "nexthop", "via", gw2])
                // Counted only once the path answers (a fresh IPv6 router may take a second).
                var ready = false
                for _ in 0..<20 where !ready {
                    ready = (try? sh(["ip", "netns", "exec", p.a, "ping", v6 ? "-6" : "-4", "-c", "1", "-W", "1", far], timeout: 5)) != nil
                    if !ready { usleep(250_000) }
                }
                XCTAssertTrue(ready, "\(id): \(far) never answered")
                func gatewaysUsed(_ knobs: [String]) throws -> String {
                    if !knobs.isEmpty { _ = try router("sysctl", ["-qw"] + knobs) }
                    _ = try router("ip", (v6 ? ["-6"] : []) + ["neigh", "flush", "dev", kernel ? "\(net.tag)\(id)b" : "pb"])
                    let send = "import socket\nfor p in range(40000, 40016):\n s = socket.socket(socket.AF_INET\(v6 ? "6" : ""), socket.SOCK_DGRAM)\n s.bind(('', p))\n s.sendto(b'x', ('\(far)', 5000))\n s.close()\n"
                    _ = try sh(["ip", "netns", "exec", p.a, "python3", "-c", send], timeout: 20)
                    usleep(300_000)
                    // A gateway the router sent to has an entry, resolved or still resolving.
                    let n = try router("ip", (v6 ? ["-6"] : []) + ["neigh", "show"])
                    return "\([gw1, gw2].filter { g in n.split(separator: "\n").contains { $0.hasPrefix(g + " ") && !$0.contains("FAILED") } }.count)"
                }
                results[i].append("\(fam) default: \(try gatewaysUsed([]))")
                results[i].append("\(fam) L4: \(try gatewaysUsed(["net.\(fam).fib_multipath_hash_policy=1"]))")
                results[i].append("\(fam) custom, addresses only: \(try gatewaysUsed(["net.\(fam).fib_multipath_hash_policy=3", "net.\(fam).fib_multipath_hash_fields=3"]))")
                if let d = p.daemon { XCTAssertEqual(d.stop(), 0, d.stderr) }
            }
        }
        XCTAssertEqual(results[1], results[0])
        // The kernel's own answers, so that the comparison cannot pass with both sides broken.
        XCTAssertEqual(results[0], ["ipv4 default: 1", "ipv4 L4: 2", "ipv4 custom, addresses only: 1",
                                    "ipv6 default: 2", "ipv6 L4: 2", "ipv6 custom, addresses only: 1"])
    }

    /// Next hops and their links, with real traffic: 16 UDP flows (L4 hash policy) from A to
    /// 198.18.40.1 on B's loopback, over a two-way multipath route through B's two links, and
    /// 4 datagrams to 198.18.41.1, routed by a /24 through the second link and a /22 through
    /// the first. What B received on each link (its UDP NoPorts and a counter at each link),
    /// the kernel's router and Sluice's alike:
    /// - the router's own end of a link down: its next hop is dead, every flow takes the other,
    ///   and the /24, whose only next hop it was, is deleted;
    /// - B's end down (the router's link loses carrier): the next hop is linkdown and still
    ///   used — what hashes to it is lost, and the /24 through it too;
    /// - ignore_routes_with_linkdown: the /24 is passed over for the /22 at once, while the
    ///   multipath bounds stay until the next carrier event (fib_rebalance runs only then);
    ///   after one, every flow takes the live link.
    func testDeadAndLinkdownNexthopsAsTheKernel() throws {
        let results = try eachAtOnce([true, false]) { kernel -> [String] in
            var out: [String] = []
            let id = kernel ? "k" : "s"
            let sock = net.dir + "/ctl-ld\(id)/sluice.sock"
            let p = try path(kernel: kernel, id, v6: false, daemonArgs: kernel ? [] : ["--socket", sock], third: true)
            func router(_ tool: String, _ args: [String]) throws { try onRouter(p, sock: sock, tool, args) }
            let bb = "\(net.tag)\(id)bp", bc = "\(net.tag)\(id)cp"
            let rc = kernel ? "\(net.tag)kc" : "pc"
            try sh(["ip", "-n", p.b, "link", "set", "lo", "up"])
            for a in ["198.18.40.1", "198.18.41.1"] { try sh(["ip", "-n", p.b, "addr", "add", a, "dev", "lo"]) }
            try router("sysctl", ["-qw", "net.ipv4.fib_multipath_hash_policy=1"])
            try router("ip", ["route", "add", "198.18.40.0/24", "nexthop", "via", "198.18.32.20", "nexthop", "via", "198.18.33.20"])
            try router("ip", ["route", "add", "198.18.41.0/24", "via", "198.18.33.20"])
            try router("ip", ["route", "add", "198.18.40.0/22", "via", "198.18.32.20"])
            // Which of B's links the datagrams came in by: an nftables counter of UDP to port
            // 5000 at each link's ingress (the links' own packet counters also count the
            // routers' ARP probes, whose timing is random).
            let rules = "table netdev sl {\n" + [bb, bc].map { d in
                " chain \(d) { type filter hook ingress device \"\(d)\" priority 0; udp dport 5000 counter; }\n" }.joined() + "}\n"
            try rules.write(toFile: net.dir + "/sl-\(id).nft", atomically: true, encoding: .utf8)
            try sh(["ip", "netns", "exec", p.b, "nft", "-f", net.dir + "/sl-\(id).nft"])
            func rx(_ dev: String) throws -> Int {
                let out = try sh(["ip", "netns", "exec", p.b, "nft", "list", "chain", "netdev", "sl", dev])
                guard let r = out.range(of: "counter packets ") else { return -1 }
                return Int(out[r.upperBound...].prefix { $0.isNumber }) ?? -1
            }
            /// Sends the flows twice (the first round resolves neighbours) and reports the
            /// second: datagrams B received, and on which of its links.
            func deliver(_ dst: String, flows: Int) throws -> String {
                let send = "import socket, time\nfor p in range(41000, \(41000 + flows)):\n s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n s.bind(('', p))\n s.sendto(b'x', ('\(dst)', 5000))\n s.close()\n"
                _ = try sh(["ip", "netns", "exec", p.a, "python3", "-c", send], timeout: 20)
                usleep(800_000)
                let n0 = try net.udpCounters(p.b)["NoPorts"] ?? 0, b0 = try rx(bb), c0 = try rx(bc)
                _ = try sh(["ip", "netns", "exec", p.a, "python3", "-c", send], timeout: 20)
                usleep(300_000)
                let n = (try net.udpCounters(p.b)["NoPorts"] ?? 0) - n0
                let b = try rx(bb) - b0, c = try rx(bc) - c0
                return "\(n == flows ? "all" : n == 0 ? "none" : "some") delivered, first link \(b > 0 ? "used" : "unused"), second \(c > 0 ? "used" : "unused")"
            }
            func step(_ name: String, _ check: () throws -> String) throws { out.append("\(name): \(try check())") }
            try step("both links") { try deliver("198.18.40.1", flows: 16) }
            try router("ip", ["link", "set", rc, "down"])
            try step("router's second link down") { try deliver("198.18.40.1", flows: 16) }
            try router("ip", ["link", "set", rc, "up"])
            try router("ip", ["addr", "replace", "198.18.33.1/24", "dev", rc])
            try step("up again") { try deliver("198.18.40.1", flows: 16) }
            // The /24's only next hop died with the link: the route went (fib_flush), the /22 serves.
            try step("the /24 after its link went down") { try deliver("198.18.41.1", flows: 4) }
            try router("ip", ["route", "add", "198.18.41.0/24", "via", "198.18.33.20"])
            try step("the /24 added again") { try deliver("198.18.41.1", flows: 4) }
            try sh(["ip", "-n", p.b, "link", "set", bc, "down"])
            usleep(500_000)
            try step("second link without carrier") { try deliver("198.18.40.1", flows: 16) }
            try step("the /24 through it") { try deliver("198.18.41.1", flows: 4) }
            try router("sysctl", ["-qw", "net.ipv4.conf.all.ignore_routes_with_linkdown=1"])
            try step("ignored: the /24") { try deliver("198.18.41.1", flows: 4) }
            try step("ignored: multipath before an event") { try deliver("198.18.40.1", flows: 16) }
            try sh(["ip", "-n", p.b, "link", "set", bc, "up"])
            usleep(500_000)
            try sh(["ip", "-n", p.b, "link", "set", bc, "down"])
            usleep(500_000)
            try step("ignored: multipath after an event") { try deliver("198.18.40.1", flows: 16) }
            if let d = p.daemon {
                XCTAssertEqual(d.stop(), 0, d.stderr)
                XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
            }
            return out
        }
        XCTAssertEqual(results[1], results[0])
        // The kernel's own answers, so that the comparison cannot pass with both sides broken.
        XCTAssertEqual(results[0], [
            "both links: all delivered, first link used, second used",
            "router's second link down: all delivered, first link used, second unused",
            "up again: all delivered, first link used, second used",
            "the /24 after its link went down: all delivered, first link used, second unused",
            "the /24 added again: all delivered, first link unused, second used",
            "second link without carrier: some delivered, first link used, second unused",
            "the /24 through it: none delivered, first link unused, second unused",
            "ignored: the /24: all delivered, first link used, second unused",
            "ignored: multipath before an event: some delivered, first link used, second unused",
            "ignored: multipath after an event: all delivered, first link used, second unused",
        ])
    }

    /// net.ipv4.fib_multipath_hash_seed: given the same seed, Sluice hashes every flow as the
    /// kernel does (SipHash over struct flow_keys), so each flow takes the same next hop of a
    /// two-way multipath route — asked flow by flow with `ip route get … iif` under policies
    /// 0, 1, 2 and 3 (IPv4 and IPv6), and with real UDP flows from A, each seen arriving on one
    /// of B's two links (IPv4, policy 1) or resolving one of B's two addresses (IPv6, policy 0
    /// with A's flow labels off, flows to different destinations). The two routers must agree
    /// on all of it, and the flows must use both next hops.
    func testMultipathHashSeedPicksTheKernelsNextHops() throws {
        let results = try eachAtOnce([true, false]) { kernel -> [String] in
            var out: [String] = []
            for v6 in [false, true] {
                let id = (kernel ? "k" : "s") + (v6 ? "6" : "4")
                let sock = net.dir + "/ctl-seed\(id)/sluice.sock"
                let p = try path(kernel: kernel, id, v6: v6, daemonArgs: kernel ? [] : ["--socket", sock], third: !v6)
                func router(_ tool: String, _ args: [String]) throws -> String { try onRouter(p, sock: sock, tool, args) }
                let fam = v6 ? "ipv6" : "ipv4", six = v6 ? ["-6"] : []
                let bdev = "\(net.tag)\(id)bp", cdev = "\(net.tag)\(id)cp", ra = kernel ? "\(net.tag)\(id)a" : "pa"
                let gw1 = v6 ? "2001:db8:32::20" : "198.18.32.20", gw2 = v6 ? "2001:db8:32::21" : "198.18.33.20"
                let far = v6 ? "2001:db8:40::" : "198.18.40."
                if v6 {
                    try sh(["ip", "-n", p.b, "addr", "add", "2001:db8:32::21/64", "dev", bdev, "nodad"])
                    _ = try? sh(["ip", "netns", "exec", p.a, "sysctl", "-qw", "net.ipv6.auto_flowlabels=0"])
                }
                try sh(["ip", "-n", p.b, "link", "set", "lo", "up"])
                try sh(["ip", "-n", p.b] + six + ["route", "add", "local", v6 ? "2001:db8:40::/64" : "198.18.40.0/24", "dev", "lo"])
                _ = try router("ip", six + ["route", "add", v6 ? "2001:db8:40::/64" : "198.18.40.0/24", "nexthop", "via", gw1, "nexthop", "via", gw2])
                _ = try router("sysctl", ["-qw", "net.ipv4.fib_multipath_hash_seed=305419896"])
                /// Which gateway `ip route get` names for each flow: "1", "2" or "?".
                /// (One `ip -batch` for all of them.)
                /// An output route (no `iif`, no `from`) unless `input`.
                func asked(_ flows: [[String]], input: Bool = true) throws -> String {
                    let file = net.dir + "/seed-\(id).batch"
                    let from = input ? ["from", v6 ? "2001:db8:31::10" : "198.18.31.10", "iif", ra] : []
                    try flows.map { (["route", "get"] + $0 + from).joined(separator: " ") + "\n" }
                        .joined().write(toFile: file, atomically: true, encoding: .utf8)
                    let answers = try router("ip", six + ["-batch", file]).split(separator: "\n").filter { !($0.first?.isWhitespace ?? true) }
                    XCTAssertEqual(answers.count, flows.count, answers.joined(separator: "\n"))
                    return answers.map { $0.contains("via \(gw1) ") ? "1" : $0.contains("via \(gw2) ") ? "2" : "?" }.joined()
                }
                let byDst = (1...16).map { ["\(far)\($0)"] }
                let byUDP = (0..<16).map { ["\(far)1", "ipproto", "udp", "sport", "\(40000 + $0)", "dport", "5000"] }
                let byTCP = (0..<16).map { ["\(far)1", "ipproto", "tcp", "sport", "5000", "dport", "\(40000 + $0)"] }
                // What varies is what each policy hashes; fields 0x37 are the addresses, protocol
                // and ports, 0x21 the source address and destination port.
                for (policy, fields, kinds) in [(0, "", ["destination"]), (1, "", ["UDP source port", "TCP destination port"]),
                                                (2, "", ["destination"]), (3, "0x37", ["destination", "UDP source port"]),
                                                (3, "0x21", ["TCP destination port"])] {
                    _ = try router("sysctl", ["-qw", "net.\(fam).fib_multipath_hash_policy=\(policy)"] + (fields.isEmpty ? [] : ["net.\(fam).fib_multipath_hash_fields=\(fields)"]))
                    for kind in kinds {
                        let flows = kind == "destination" ? byDst : kind.hasPrefix("UDP") ? byUDP : byTCP
                        out.append("\(fam) policy \(policy)\(fields.isEmpty ? "" : " fields " + fields) by \(kind): \(try asked(flows))")
                    }
                    if policy == 1 { out.append("\(fam) policy 1, output routes, by UDP source port: \(try asked(byUDP, input: false))") }
                }
                // Real flows, one at a time, after a first round that resolves both gateways.
                _ = try router("sysctl", ["-qw", "net.\(fam).fib_multipath_hash_policy=\(v6 ? 0 : 1)"])
                func rx(_ dev: String) throws -> Int {
                    Int(try sh(["ip", "netns", "exec", p.b, "cat", "/sys/class/net/\(dev)/statistics/rx_packets"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
                }
                /// The next hop one datagram of flow `f` took: "1", "2", or "?" when what was
                /// seen is not one of them (a neighbour still listed, another frame on a link) —
                /// then the same flow is sent again, up to three times.
                func took(_ f: Int) throws -> String {
                    let (dst, port) = v6 ? ("\(far)\(f + 1)", 40000) : ("\(far)1", 40000 + f)
                    var answer = "?"
                    for _ in 0..<3 where answer == "?" {
                        if v6 { _ = try router("ip", ["-6", "neigh", "flush", "dev", kernel ? "\(net.tag)\(id)b" : "pb"]) }
                        let before = v6 ? (0, 0) : (try rx(bdev), try rx(cdev))
                        let send = "import socket\ns = socket.socket(socket.AF_INET\(v6 ? "6" : ""), socket.SOCK_DGRAM)\ns.bind(('', \(port)))\ns.sendto(b'x', ('\(dst)', 5000))\n"
                        _ = try sh(["ip", "netns", "exec", p.a, "python3", "-c", send], timeout: 20)
                        usleep(200_000)
                        if v6 {
                            let n = try router("ip", ["-6", "neigh", "show"]).split(separator: "\n")
                            let used = [gw1, gw2].map { g in n.contains { $0.hasPrefix(g + " ") } }
                            answer = used == [true, false] ? "1" : used == [false, true] ? "2" : "?"
                        } else {
                            let d1 = try rx(bdev) - before.0, d2 = try rx(cdev) - before.1
                            answer = d1 > 0 && d2 == 0 ? "1" : d2 > 0 && d1 == 0 ? "2" : "?"
                        }
                    }
                    return answer
                }
                var seen = ""
                for f in (v6 ? [] : Array(0..<12)) + Array(0..<12) { seen += try took(f) }
                out.append("\(fam) real flows: \(seen.suffix(12))")
                if let d = p.daemon {
                    XCTAssertEqual(d.stop(), 0, d.stderr)
                    XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
                }
            }
            return out
        }
        XCTAssertEqual(results[1], results[0])
        // The kernel's answers are the reference; they must use both next hops and be decided.
        for line in results[0] {
            let hops = line.split(separator: ":").last!
            XCTAssertTrue(hops.contains("1") && hops.contains("2") && !hops.contains("?"), line)
        }
    }

    func testIPv6RoutingAsTheKernelRoutes() throws {
        let k = try path(kernel: true, "k", v6: true)
        let s = try path(kernel: false, "s", v6: true)
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
            // A fragmented echo request to the router itself: reassembled, answered in fragments.
            out = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "2", "-i", "0.2", "-W", "2", "-s", "3000", "2001:db8:31::1"], timeout: 20, allowFailure: true)
            XCTAssertTrue(out.contains(" 0% packet loss") && out.contains("3008 bytes from 2001:db8:31::1"), out)
        }
        // The hosts learnt the router as a router (NA with R set), in both.
        for p in [k, s] {
            let n = try sh(["ip", "-n", p.a, "-6", "neigh", "show", "2001:db8:31::1"])
            XCTAssertTrue(n.contains(" router "), n)
        }
        try common(k, s, v6: true)
    }

    /// Where a router's neighbour solicitations come from, side by side: for a forwarded
    /// packet the kernel solicits from the egress device's link-local address (ndisc_solicit
    /// takes the waiting packet's source only when it is one of the device's own addresses;
    /// else ndisc_send_ns uses ipv6_get_lladdr), and Sluice must do the same.
    func testIPv6SolicitationsForForwardedPacketsComeFromTheLinkLocalAddress() throws {
        var sources: [[String]] = []
        for kernel in [true, false] {
            let id = kernel ? "k" : "s"
            let p = try path(kernel: kernel, id, v6: true)
            let cap = try net.startCapture(p.b, "\(net.tag)\(id)bp")
            usleep(1_000_000)   // the links settled on both sides
            let out = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "3", "-i", "0.3", "-W", "2", addr(true, 32, 20)], timeout: 20, allowFailure: true)
            XCTAssertTrue(out.contains("bytes from 2001:db8:32::20"), out)
            usleep(300_000)
            let lines = try net.decodeCapture(cap).filter { $0.contains("neighbor solicitation, who has 2001:db8:32::20") }
            sources.append(lines.map { l in
                let src = l.range(of: #"length \d+: \S+ >"#, options: .regularExpression).map { String(l[$0]).split(separator: " ")[2] } ?? "?"
                return src.hasPrefix("fe80::") ? "link-local" : String(src)
            })
            if let d = p.daemon { XCTAssertEqual(d.stop(), 0, d.stderr) }
        }
        XCTAssertEqual(sources[0], ["link-local"], "the kernel's")
        XCTAssertEqual(sources[1], sources[0])
    }

    /// Nexthop objects carrying real traffic, the same commands given to the kernel's router
    /// and (through `sluice exec`) to Sluice's: host B answers on 198.18.40.1 and 198.18.41.1
    /// (its lo) and on two addresses of its link. A route to 198.18.40.0/24 through a group of
    /// two gateways (both B) carries ping; with the group's first member deleted the route goes
    /// on through the other (the router then resolves that one, as its neighbour table shows).
    /// A route to 198.18.41.0/24 through a single nexthop carries ping; the nexthop replaced by
    /// a blackhole drops it silently, replaced back carries it again, and deleted takes the
    /// route with it: "Destination Net Unreachable" from the router. Each answer the kernel's.
    func testNexthopObjectsCarryTrafficAsTheKernels() throws {
        let k = try path(kernel: true, "k", v6: false)
        let sock = net.dir + "/ctl-nh/sluice.sock"
        let s = try path(kernel: false, "s", v6: false, daemonArgs: ["--socket", sock])
        for p in [k, s] {
            let bdev = p.daemon == nil ? "\(net.tag)kbp" : "\(net.tag)sbp"
            try sh(["ip", "-n", p.b, "link", "set", "lo", "up"])
            try sh(["ip", "-n", p.b, "addr", "add", "198.18.40.1/32", "dev", "lo"])
            try sh(["ip", "-n", p.b, "addr", "add", "198.18.41.1/32", "dev", "lo"])
            try sh(["ip", "-n", p.b, "addr", "add", "198.18.32.21/24", "dev", bdev])
        }
        func ip(_ p: Path, _ c: [String]) throws -> (out: String, status: Int32) {
            let dev = p.daemon == nil ? "\(net.tag)kb" : "pb"
            let words = c.map { $0 == "DEV" ? dev : $0 }
            if p.daemon == nil { return try runBounded(["10", "ip", "-n", p.sw] + words) }
            return try runBounded(["10", try sluiceBinary(), "exec", "--socket", sock, "ip"] + words)
        }
        func answer(_ p: Path, _ dst: String) throws -> String {
            let out = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "2", "-i", "0.3", "-W", "1", dst], timeout: 20, allowFailure: true)
            return out.split(separator: "\n").filter { $0.hasPrefix("From ") || $0.contains("bytes from") || $0.contains("packet loss") }
                .map { $0.replacingOccurrences(of: #"time=[0-9.]+ ms"#, with: "time=T", options: .regularExpression)
                    .replacingOccurrences(of: #", time [0-9]+ms"#, with: "", options: .regularExpression)
                    .replacingOccurrences(of: #", \+\d+ errors"#, with: "", options: .regularExpression) }.joined(separator: "\n")
        }
        let steps: [([String], String?)] = [
            (["nexthop", "add", "id", "1", "via", "198.18.32.20", "dev", "DEV"], nil),
            (["nexthop", "add", "id", "2", "via", "198.18.32.21", "dev", "DEV"], nil),
            (["nexthop", "add", "id", "10", "group", "1/2"], nil),
            (["route", "add", "198.18.40.0/24", "nhid", "10"], "198.18.40.1"),
            (["nexthop", "del", "id", "1"], "198.18.40.1"),
            (["nexthop", "add", "id", "4", "via", "198.18.32.20", "dev", "DEV"], nil),
            (["route", "add", "198.18.41.0/24", "nhid", "4"], "198.18.41.1"),
            (["nexthop", "replace", "id", "4", "blackhole"], "198.18.41.1"),
            (["nexthop", "replace", "id", "4", "via", "198.18.32.20", "dev", "DEV"], "198.18.41.1"),
            (["nexthop", "del", "id", "4"], "198.18.41.1"),
        ]
        var kernelAnswers: [String] = []
        for (c, dst) in steps {
            let kr = try ip(k, c), sr = try ip(s, c)
            XCTAssertEqual(kr.status, 0, "ip \(c.joined(separator: " ")): \(kr.out)")
            XCTAssertEqual(sr.status, 0, "ip \(c.joined(separator: " ")): \(sr.out)")
            guard let dst else { continue }
            let ka = try answer(k, dst), sa = try answer(s, dst)
            XCTAssertEqual(sa, ka, "ping \(dst) after ip \(c.joined(separator: " "))")
            kernelAnswers.append(ka)
            if c[1] == "del" && c[3] == "1" {
                // The group's other member now carries it: the router resolved 198.18.32.21.
                for p in [k, s] {
                    XCTAssertTrue(try ip(p, ["neigh", "show", "198.18.32.21"]).out.contains("lladdr"), p.daemon == nil ? "kernel" : "Sluice")
                }
            }
        }
        XCTAssertTrue(kernelAnswers[0].contains(" 0% packet loss"), kernelAnswers[0])
        XCTAssertTrue(kernelAnswers[1].contains(" 0% packet loss"), kernelAnswers[1])
        XCTAssertTrue(kernelAnswers[3].contains("100% packet loss") && !kernelAnswers[3].contains("From "), kernelAnswers[3])
        XCTAssertTrue(kernelAnswers[4].contains(" 0% packet loss"), kernelAnswers[4])
        XCTAssertTrue(kernelAnswers[5].contains("Destination Net Unreachable"), kernelAnswers[5])
        XCTAssertEqual(s.daemon!.stop(), 0)
        XCTAssertTrue(s.daemon!.stdout.contains("(no buffer leaked)"), s.daemon!.stdout)
    }
}
