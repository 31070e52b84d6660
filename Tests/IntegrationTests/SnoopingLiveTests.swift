import Foundation
import XCTest

/// IGMP snooping with real hosts, side by side: the kernel's bridge and Sluice's (AF_PACKET
/// ports), each with three host namespaces. h1 joins 239.1.1.1 through its own kernel stack
/// (a socket's IP_ADD_MEMBERSHIP: the kernel sends the reports); h3 sends to the group and, in
/// the second phase, is the querier (an IGMPv2 general query from a raw socket). What h1 and
/// h2 receive is counted on their interfaces. Expected values are the kernel bridge's.
final class SnoopingLiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    /// Datagrams to UDP port 5000 arriving on an interface, counted by group (argv[4] "group")
    /// or by destination MAC in hex ("mac").
    static let sniff = """
    import socket, struct, sys, time, json
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.bind((sys.argv[1], 0)); s.settimeout(0.2)
    open(sys.argv[3], 'w').close()
    end = time.time() + float(sys.argv[2]); n = {}
    while time.time() < end:
        try: f, a = s.recvfrom(2048)
        except socket.timeout: continue
        if a[2] == 4: continue
        if len(f) >= 38 and f[23] == 17 and struct.unpack('!H', f[36:38])[0] == 5000:
            k = socket.inet_ntoa(f[30:34]) if sys.argv[4] == 'group' else f[0:6].hex(); n[k] = n.get(k, 0) + 1
    print(json.dumps(n, sort_keys=True))
    """
    static let send = """
    import socket, sys, time
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[1]))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 4)
    for g in sys.argv[3:]:
        for i in range(int(sys.argv[2])):
            s.sendto(b'x' * 64, (g, 5000)); time.sleep(0.01)
    """
    /// An IGMPv2 general query (max response 1 s) to 224.0.0.1.
    static let query = """
    import socket, struct, sys
    m = bytearray(struct.pack('!BBH4s', 0x11, 10, 0, bytes(4)))
    c = sum(struct.unpack('!4H', bytes(m))); c = (c & 0xffff) + (c >> 16); c = ~c & 0xffff
    m[2:4] = struct.pack('!H', c)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[1]))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    s.sendto(bytes(m), ('224.0.0.1', 0))
    """
    static let join = """
    import socket, sys, time
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(sys.argv[1]) + socket.inet_aton(sys.argv[2]))
    time.sleep(float(sys.argv[3]))
    """

    var phaseCount = 0

    func python(_ ns: String, _ script: String, _ args: [String], seconds: Int) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        p.arguments = ["--kill-after=2", String(seconds), "ip", "netns", "exec", ns, "python3", "-c", script] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        net.onCleanup { if p.isRunning { p.terminate() }; p.waitUntilExit() }
        return p
    }

    func output(_ p: Process) -> String {
        p.waitUntilExit()
        let d = (p.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile()
        return String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Both worlds: the kernel's bridge in `kb`, Sluice's in `sw` (daemon), three hosts each,
    /// h1 joined to 239.1.1.1. Returns the hosts per world ("k", "s") and the daemon.
    func worlds(bridgeOptions: [String] = [], ipv6: Bool = true) throws -> ([String: [String]], DaemonProcess) {
        try worldsSince(bridgeOptions: bridgeOptions, ipv6: ipv6).0
    }

    /// `worlds`, and when the daemon had applied its configuration (the later of the two
    /// bridges to be made: the kernel's is made first). `ipv6` false: the namespaces' kernels
    /// run without IPv6 (no MLD or DAD frames from the hosts).
    func worldsSince(bridgeOptions: [String] = [], ipv6: Bool = true) throws -> (([String: [String]], DaemonProcess), Date) {
        func made(_ ns: String) throws -> String {
            if !ipv6 {
                try sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"])
            }
            return ns
        }
        let kb = try made(try net.netns("kb")), sw = try made(try net.netns("sw"))
        var hosts: [String: [String]] = ["k": [], "s": []]
        for w in ["k", "s"] {
            let b = w == "k" ? kb : sw
            for i in 1...3 {
                let h = try made(try net.netns("\(w)h\(i)"))
                hosts[w]!.append(h)
                try sh(["ip", "-n", b, "link", "add", "p\(i)", "type", "veth", "peer", "name", "e\(i)", "netns", h])
                try sh(["ip", "-n", b, "link", "set", "p\(i)", "up"])
                try sh(["ip", "-n", h, "addr", "add", "198.18.8.\(i)/24", "dev", "e\(i)"])
                try sh(["ip", "-n", h, "link", "set", "e\(i)", "up"])
            }
        }
        try sh(["ip", "-n", kb, "link", "add", "br0", "type", "bridge"] + bridgeOptions)
        for i in 1...3 { try sh(["ip", "-n", kb, "link", "set", "p\(i)", "master", "br0"]) }
        try sh(["ip", "-n", kb, "link", "set", "br0", "up"])
        var config = ["link add br0 type bridge " + bridgeOptions.joined(separator: " ")]
        for i in 1...3 { config += ["link add p\(i) type afpacket dev p\(i)", "link set p\(i) master br0 up"] }
        config.append("link set br0 up")
        let d = try DaemonProcess(net: net, ns: sw, config: config, extraArgs: ["--socket", net.dir + "/snoop.sock"])
        try d.waitReady()
        let ready = Date()
        usleep(1_000_000)
        for w in ["k", "s"] { _ = try python(hosts[w]![0], Self.join, ["239.1.1.1", "198.18.8.1", "40"], seconds: 45) }
        usleep(1_500_000)
        return ((hosts, d), ready)
    }

    /// h3 sends 20 datagrams to each group while h1 and h2 count; per world, [h1, h2] counts per group.
    /// The senders start once every sniffer has bound its socket (each says so with a file):
    /// on a loaded machine a Python start can take longer than the datagrams do.
    func phase(_ hosts: [String: [String]]) throws -> [String: [[String: Int]]] {
        try sniffWhileH3Sends(hosts, groups: ["239.1.1.1", "239.2.2.2"], by: "group").mapValues { outs in
            outs.map { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Int]) ?? ["?": -1] }
        }
    }

    /// h3 sends 20 datagrams to each of `groups` while h1 and h2 count them (`by` "group" or
    /// "mac"); per world, the sniffers' [h1, h2] outputs.
    func sniffWhileH3Sends(_ hosts: [String: [String]], groups: [String], by: String) throws -> [String: [String]] {
        var sniffers: [String: [Process]] = [:]
        var ready: [String] = []
        phaseCount += 1
        for w in ["k", "s"] {
            sniffers[w] = try [0, 1].map {
                let flag = net.dir + "/sniff-\(phaseCount)-\(w)\($0)"
                ready.append(flag)
                return try python(hosts[w]![$0], Self.sniff, ["e\($0 + 1)", "3", flag, by], seconds: 12)
            }
        }
        let deadline = Date().addingTimeInterval(6)
        while Date() < deadline && !ready.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) { usleep(50_000) }
        guard ready.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) else { throw HarnessError("a sniffer did not start within 6 s") }
        let senders = try ["k", "s"].map { try python(hosts[$0]![2], Self.send, ["198.18.8.3", "20"] + groups, seconds: 10) }
        for s in senders { s.waitUntilExit() }
        return sniffers.mapValues { $0.map(output) }
    }

    func testIGMPSnoopingWithRealHostsAsTheKernelsBridge() throws {
        let (hosts, d) = try worlds()
        func phase() throws -> [String: [[String: Int]]] { try self.phase(hosts) }
        // 1. No querier: both bridges flood the group to every port.
        let a = try phase()
        XCTAssertEqual(a["k"]![1]["239.1.1.1"], 20, "the kernel floods without a querier: \(a)")
        XCTAssertEqual(a["s"]!, a["k"]!, "no querier: Sluice as the kernel")
        // 2. h3 queries: its port is a router port; after the response delay the database decides.
        for w in ["k", "s"] { _ = output(try python(hosts[w]![2], Self.query, ["198.18.8.3"], seconds: 5)) }
        usleep(2_000_000)
        let b = try phase()
        XCTAssertEqual(b["k"]![0]["239.1.1.1"], 20, "the kernel's member gets the group: \(b)")
        XCTAssertNil(b["k"]![1]["239.1.1.1"], "the kernel's non-member does not: \(b)")
        XCTAssertEqual(b["s"]!, b["k"]!, "with a querier: Sluice as the kernel")
        print("snooping, received by [h1, h2] without a querier: \(a); with one: \(b)")
        let mdb = try sh(["timeout", "10", try sluiceBinary(), "exec", "--socket", net.dir + "/snoop.sock", "bridge", "-d", "mdb", "show"])
        XCTAssertTrue(mdb.contains("port p1 grp 239.1.1.1 temp proto kernel"), mdb)
        XCTAssertEqual(d.stop(), 0, d.stderr)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }

    /// Both bridges as queriers (`mcast_querier 1`), no other: the hosts' kernels take the
    /// bridge's IGMPv2 query (their /proc/net/igmp then names a V2 querier); for the query
    /// response interval (10 s from setting it) both still flood, then the database decides:
    /// the member alone gets its group, nobody the unknown one. The 10 s count from when each
    /// bridge was made: the later of them, the daemon's, sets when the second look starts.
    func testTheBridgeAsQuerierWithRealHostsAsTheKernelsBridge() throws {
        let ((hosts, d), ready) = try worldsSince(bridgeOptions: ["mcast_querier", "1"])
        let early = try phase(hosts)
        XCTAssertEqual(early["k"]![1]["239.1.1.1"], 20, "the kernel floods while the hosts may answer: \(early)")
        XCTAssertEqual(early["s"]!, early["k"]!, "the querier's first 10 s: Sluice as the kernel")
        let wait = 11.5 - Date().timeIntervalSince(ready)
        if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
        for w in ["k", "s"] {
            let igmp = try sh(["ip", "netns", "exec", hosts[w]![0], "cat", "/proc/net/igmp"])
            let line = igmp.split(separator: "\n").first { $0.contains("e1") } ?? ""
            XCTAssertTrue(line.hasSuffix("V2"), "\(w == "k" ? "kernel" : "Sluice")'s query reached h1's kernel: \(igmp)")
        }
        let r = try phase(hosts)
        print("snooping, received by [h1, h2] with the bridge as querier: \(r)")
        XCTAssertEqual(r["k"]![0]["239.1.1.1"], 20, "\(r)")
        XCTAssertNil(r["k"]![1]["239.1.1.1"], "\(r)")
        XCTAssertEqual(r["s"]!, r["k"]!, "the bridge as querier: Sluice as the kernel")
        XCTAssertEqual(d.stop(), 0, d.stderr)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }

    /// mcast_to_unicast (br_multicast_flood, maybe_deliver_addr) side by side: h1's port has
    /// it, and two hosts behind it join 239.1.1.1 — h1 itself and a macvlan in h1's namespace
    /// with an address of its own. With h3 as querier, what h3 sends to the group reaches h1's
    /// link as one unicast copy per host (the destination rewritten to each joined host's
    /// address), nothing as multicast, and the database holds one entry per host.
    func testMulticastToUnicastAsTheKernelsBridge() throws {
        let (hosts, d) = try worlds()
        let sock = net.dir + "/snoop.sock"
        for w in ["k", "s"] {
            let h1 = hosts[w]![0]
            if w == "k" { try sh(["bridge", "-n", "\(net.tag)-kb", "link", "set", "dev", "p1", "mcast_to_unicast", "on"]) } else {
                try sh(["timeout", "10", try sluiceBinary(), "exec", "--socket", sock, "bridge", "link", "set", "dev", "p1", "mcast_to_unicast", "on"])
            }
            try sh(["ip", "-n", h1, "link", "add", "m1", "link", "e1", "address", "02:00:00:00:01:11", "type", "macvlan", "mode", "bridge"])
            try sh(["ip", "-n", h1, "addr", "add", "198.18.8.11/24", "dev", "m1"])
            try sh(["ip", "-n", h1, "link", "set", "m1", "up"])
            _ = try python(h1, Self.join, ["239.1.1.1", "198.18.8.11", "40"], seconds: 45)
        }
        usleep(1_000_000)
        for w in ["k", "s"] { _ = output(try python(hosts[w]![2], Self.query, ["198.18.8.3"], seconds: 5)) }
        usleep(2_500_000)
        var seen = try sniffWhileH3Sends(hosts, groups: ["239.1.1.1"], by: "mac")
        for w in ["k", "s"] {
            let e1 = try sh(["ip", "netns", "exec", hosts[w]![0], "cat", "/sys/class/net/e1/address"])
                .trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: ":", with: "")
            seen[w] = seen[w]!.map { $0.replacingOccurrences(of: e1, with: "h1") }
        }
        print("mcast_to_unicast, received on [h1's link, h2's]: kernel \(seen["k"]!), Sluice \(seen["s"]!)")
        XCTAssertEqual(seen["k"]!, ["{\"020000000111\": 20, \"h1\": 20}", "{}"], "the kernel's unicast copies")
        XCTAssertEqual(seen["s"]!, seen["k"]!)
        let kmdb = try sh(["bridge", "-n", "\(net.tag)-kb", "mdb", "show"])
        let smdb = try sh(["timeout", "10", try sluiceBinary(), "exec", "--socket", sock, "bridge", "mdb", "show"])
        func lines(_ t: String) -> [String] { t.split(separator: "\n").map(String.init).filter { $0.contains("239.1.1.1") } }
        XCTAssertEqual(lines(kmdb).count, 2, kmdb)
        XCTAssertEqual(lines(smdb), lines(kmdb))
        XCTAssertEqual(d.stop(), 0, d.stderr)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }
    /// What the bridge takes up its own stack (br_handle_frame_finish's local_rcv), read from
    /// its counters side by side (`ip -s link show br0`: RX packets and multicast): without a
    /// querier every group goes up; with h3 as querier neither h1's group nor an unknown one
    /// does (the host joined neither, the bridge is no router); `mcast_router 2` on the bridge
    /// takes both up again; a promiscuous bridge takes everything, the unicast it forwards too.
    /// The hosts run without IPv6, so no MLD frame counts in between.
    func testWhatTheBridgeTakesUpAsTheKernelsBridge() throws {
        let (hosts, d) = try worlds(ipv6: false)
        let sock = net.dir + "/snoop.sock"
        func ip(_ w: String, _ args: [String]) throws -> String {
            w == "k" ? try sh(["ip", "-n", "\(net.tag)-kb"] + args)
                : try sh(["timeout", "10", try sluiceBinary(), "exec", "--socket", sock, "ip"] + args)
        }
        func counters(_ w: String) throws -> [Int] {
            let j = try JSONSerialization.jsonObject(with: Data(try ip(w, ["-s", "-j", "link", "show", "br0"]).utf8)) as? [[String: Any]]
            let rx = (j?.first?["stats64"] as? [String: Any])?["rx"] as? [String: Any]
            return [rx?["packets"] as? Int ?? -1, rx?["multicast"] as? Int ?? -1, rx?["bytes"] as? Int ?? -1]
        }
        /// [RX packets, multicast, bytes] the bridge took while h3 sent 20 datagrams to each group
        /// (bytes as br_pass_frame_up counts them: without the Ethernet header).
        func phase() throws -> [String: [Int]] {
            let before = try ["k": counters("k"), "s": counters("s")]
            _ = try sniffWhileH3Sends(hosts, groups: ["239.1.1.1", "239.2.2.2"], by: "group")
            return try before.reduce(into: [:]) { r, kv in r[kv.key] = zip(try counters(kv.key), kv.value).map { $0 - $1 } }
        }
        let a = try phase()
        XCTAssertEqual(a["k"]?.prefix(2), [40, 40], "the kernel's bridge takes every group up without a querier")
        XCTAssertEqual(a["s"], a["k"], "no querier: Sluice as the kernel")
        for w in ["k", "s"] { _ = output(try python(hosts[w]![2], Self.query, ["198.18.8.3"], seconds: 5)) }
        usleep(2_000_000)
        let b = try phase()
        XCTAssertEqual(b["s"], b["k"], "with a querier: Sluice as the kernel")
        for w in ["k", "s"] { _ = try ip(w, ["link", "set", "br0", "type", "bridge", "mcast_router", "2"]) }
        let c = try phase()
        XCTAssertEqual(c["s"], c["k"], "mcast_router 2: Sluice as the kernel")
        func router(_ w: String) throws -> String {
            try ip(w, ["-d", "link", "show", "br0"]).split(separator: " ").drop { $0 != "mcast_router" }.dropFirst().first.map(String.init) ?? "?"
        }
        XCTAssertEqual(try router("s"), try router("k"))
        // Promiscuous, no router: every group goes up uncounted as multicast, and a copy of the
        // unicast the bridge forwards (h3 pings h1: requests, replies and the ARP exchange).
        for w in ["k", "s"] { _ = try ip(w, ["link", "set", "br0", "type", "bridge", "mcast_router", "1"]); _ = try ip(w, ["link", "set", "br0", "promisc", "on"]) }
        let e = try phase()
        XCTAssertEqual(e["s"], e["k"], "promiscuous: Sluice as the kernel")
        var pings: [String: [Int]] = [:]
        for w in ["k", "s"] {
            let before = try counters(w)
            _ = try net.ping(from: hosts[w]![2], "198.18.8.1")
            pings[w] = zip(try counters(w), before).map { $0 - $1 }
        }
        XCTAssertEqual(pings["s"], pings["k"], "promiscuous, unicast: Sluice as the kernel")
        print("taken up by br0 [RX packets, multicast, bytes] without a querier \(a), with one \(b), as a router \(c), promiscuous \(e), a ping while promiscuous \(pings)")
        XCTAssertEqual(d.stop(), 0, d.stderr)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }
}
