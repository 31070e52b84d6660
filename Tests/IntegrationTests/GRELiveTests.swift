import Foundation
import XCTest

/// GRE tunnels between two Sluice daemons, s1 and s2, over a veth underlay (198.18.20.0/24),
/// with a kernel host behind each. This kernel has no GRE, so the wire format is checked
/// against RFC 2784/2890 through tshark's own GRE dissector, and the receive rules against
/// net/ipv4/ip_tunnel.c (a checksum flag that differs from the tunnel's counts rx_crc_errors).
final class GRELiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    struct Pair { var s: [String]; var socks: [String]; var daemons: [DaemonProcess]; var a: String; var b: String }

    /// Two daemons; `tunnel(i)` is daemon i's (1 or 2) configuration after its underlay `u`
    /// (198.18.20.i/24) and its host port `h`.
    func pair(_ tunnel: (Int) -> [String], hostNet: (Int) -> String, hostAddr: (Int) -> String, gateway: (Int) -> String?) throws -> Pair {
        let s1 = try net.netns("s1"), s2 = try net.netns("s2"), a = try net.netns("a"), b = try net.netns("b")
        let t = net.tag
        try sh(["ip", "-n", s1, "link", "add", t + "u1", "type", "veth", "peer", "name", t + "u2", "netns", s2])
        try net.veth(t + "h1", hostNS: s1, peerNS: a, addr: hostAddr(1))
        try net.veth(t + "h2", hostNS: s2, peerNS: b, addr: hostAddr(2))
        for (ns, i) in [(a, 1), (b, 2)] { if let g = gateway(i) { try sh(["ip", "-n", ns, "route", "add", "default", "via", g]) } }
        var daemons: [DaemonProcess] = [], socks: [String] = []
        for (i, ns) in [(1, s1), (2, s2)] {
            for d in ["u\(i)", "h\(i)"] { try sh(["ip", "-n", ns, "link", "set", t + d, "up"]) }
            let sock = net.dir + "/ctl-gre\(i)/sluice.sock"
            let config = ["link add u type afpacket dev \(t)u\(i)", "link add h type afpacket dev \(t)h\(i)", "link set u up", "link set h up",
                          "addr add 198.18.20.\(i)/24 dev u"] + tunnel(i)
            let d = try DaemonProcess(net: net, ns: ns, config: config, extraArgs: ["--socket", sock])
            try d.waitReady()
            daemons.append(d); socks.append(sock)
        }
        _ = hostNet
        return Pair(s: [s1, s2], socks: socks, daemons: daemons, a: a, b: b)
    }

    /// tshark's reading of the GRE packets that reach s2's underlay while `run` runs.
    func capture(_ p: Pair, fields: [String], run: () throws -> Void) throws -> [[String]] {
        let out = net.dir + "/gre-\(UInt32.random(in: 0...UInt32.max)).txt"
        FileManager.default.createFile(atPath: out, contents: nil)
        let cap = Process()
        cap.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        cap.arguments = ["8", "ip", "netns", "exec", p.s[1], "tshark", "-l", "-i", net.tag + "u2", "-f", "ip proto 47 and dst host 198.18.20.2",
                         "-T", "fields", "-E", "separator=;"] + fields.flatMap { ["-e", $0] }
        cap.standardOutput = FileHandle(forWritingAtPath: out)
        cap.standardError = FileHandle.nullDevice
        try cap.run()
        net.onCleanup { if cap.isRunning { cap.terminate() }; cap.waitUntilExit() }
        usleep(2_000_000)
        try run()
        usleep(500_000)
        cap.terminate(); cap.waitUntilExit()
        return (try String(contentsOfFile: out, encoding: .utf8)).split(separator: "\n").map { $0.split(separator: ";", omittingEmptySubsequences: false).map(String.init) }
    }

    func exec(_ sock: String, _ args: String...) throws -> String {
        try sh(["timeout", "10", try sluiceBinary(), "exec", "--socket", sock] + args, allowFailure: true)
    }

    func testGREWithKeyChecksumAndSequenceNumbersRoutesBetweenTwoDaemons() throws {
        let p = try pair({ i in
            ["addr add 198.18.\(9 + i).254/24 dev h",
             "link add gre1 type gre remote 198.18.20.\(3 - i) local 198.18.20.\(i) key 42 csum seq", "link set gre1 up",
             "addr add 198.18.30.\(i)/24 dev gre1", "route add 198.18.\(12 - i).0/24 via 198.18.30.\(3 - i) dev gre1"]
        }, hostNet: { "198.18.\(9 + $0).0/24" }, hostAddr: { "198.18.\(9 + $0).1/24" }, gateway: { "198.18.\(9 + $0).254" })
        let rows = try capture(p, fields: ["gre.flags.checksum", "gre.checksum.status", "gre.flags.key", "gre.key", "gre.flags.sequence_number",
                                           "gre.sequence_number", "gre.proto", "icmp.type"]) {
            let out = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "4", "-i", "0.2", "-W", "2", "198.18.11.1"], timeout: 30, allowFailure: true)
            XCTAssertTrue(out.contains(" 0% packet loss") && out.contains("ttl=62"), out)
        }
        // Four echo requests, each with a good checksum, key 42 and the next sequence number
        // (RFC 2890: from 0), carrying IPv4.
        let requests = rows.filter { $0.last == "8" }
        XCTAssertEqual(requests.count, 4, "\(rows)")
        for (k, r) in requests.enumerated() {
            XCTAssertEqual(Array(r.prefix(7)), ["1", "1", "1", "0x0000002a", "1", String(k), "0x0800"], "\(r)")
        }
        let shown = try exec(p.socks[0], "ip", "-d", "link", "show", "gre1")
        XCTAssertTrue(shown.contains("<POINTOPOINT,NOARP,UP,LOWER_UP> mtu 1464 qdisc noqueue"), shown)
        XCTAssertTrue(shown.contains("link/gre 198.18.20.1 peer 198.18.20.2"), shown)
        XCTAssertTrue(shown.contains("gre remote 198.18.20.2 local 198.18.20.1 ttl inherit") && shown.contains("iseq oseq icsum ocsum"), shown)
        // A tunnel that expects no checksum refuses packets with one (ip_tunnel_rcv:
        // rx_crc_errors), so nothing crosses.
        XCTAssertEqual(try exec(p.socks[1], "ip", "link", "del", "gre1"), "")
        XCTAssertEqual(try exec(p.socks[1], "ip", "link", "add", "gre1", "type", "gre", "remote", "198.18.20.1", "local", "198.18.20.2", "key", "42", "seq"), "")
        for c in [["link", "set", "gre1", "up"], ["addr", "add", "198.18.30.2/24", "dev", "gre1"], ["route", "add", "198.18.10.0/24", "via", "198.18.30.1", "dev", "gre1"]] {
            XCTAssertEqual(try sh(["timeout", "10", try sluiceBinary(), "exec", "--socket", p.socks[1], "ip"] + c, allowFailure: true), "")
        }
        let lost = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "3", "-i", "0.2", "-W", "1", "198.18.11.1"], timeout: 30, allowFailure: true)
        XCTAssertTrue(lost.contains("100% packet loss"), lost)
        let stats = try exec(p.socks[1], "ip", "-s", "-s", "-j", "link", "show", "gre1")
        let rx = ((try JSONSerialization.jsonObject(with: Data(stats.utf8)) as? [[String: Any]])?.first?["stats64"] as? [String: Any])?["rx"] as? [String: Any]
        XCTAssertEqual(rx?["crc_errors"] as? Int, 3, stats)
        XCTAssertEqual(rx?["packets"] as? Int, 0, stats)
        for d in p.daemons {
            XCTAssertEqual(d.stop(), 0)
            XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
        }
    }

    func testGretapBridgesTwoHostsOnOneSubnet() throws {
        let p = try pair({ i in
            ["link add br0 type bridge", "link add gt type gretap remote 198.18.20.\(3 - i) local 198.18.20.\(i) key 7",
             "link set h master br0", "link set gt master br0", "link set gt up", "link set br0 up"]
        }, hostNet: { _ in "198.18.40.0/24" }, hostAddr: { "198.18.40.\($0)/24" }, gateway: { _ in nil })
        let rows = try capture(p, fields: ["gre.proto", "gre.key", "eth.type", "icmp.type"]) {
            let out = try sh(["ip", "netns", "exec", p.a, "ping", "-c", "3", "-i", "0.2", "-W", "2", "198.18.40.2"], timeout: 30, allowFailure: true)
            XCTAssertTrue(out.contains(" 0% packet loss") && out.contains("ttl=64"), out)
        }
        // Ethernet inside (0x6558, transparent Ethernet bridging), key 7.
        let requests = rows.filter { $0.last == "8" }
        XCTAssertEqual(requests.count, 3, "\(rows)")
        for r in requests { XCTAssertEqual(Array(r.prefix(2)), ["0x6558", "0x00000007"], "\(r)") }
        // Only an Ethernet device can be a bridge port: a gre (IP) tunnel cannot.
        XCTAssertEqual(try exec(p.socks[0], "ip", "link", "add", "g3", "type", "gre", "remote", "198.18.20.9"), "")
        XCTAssertTrue(try exec(p.socks[0], "ip", "link", "set", "g3", "master", "br0").contains("Invalid argument"))
        XCTAssertTrue(try exec(p.socks[0], "ip", "link", "add", "g4", "type", "gre", "remote", "198.18.20.9").contains("File exists"))
        for d in p.daemons {
            XCTAssertEqual(d.stop(), 0)
            XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
        }
    }
}
