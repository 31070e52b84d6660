import Foundation
import XCTest

/// The IPv6 stack as an MLD listener (RFC 3810, RFC 2710), side by side: a kernel interface in
/// one namespace and a Sluice device (AF_PACKET port, daemon) in another, each on a veth whose
/// peer is in a host namespace that captures what arrives and sends queries. Expected values
/// are what the kernel's interface sent in the same run.
final class MLDListenerLiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    /// The MLD messages arriving on argv[1] for argv[2] seconds, as JSON: per message its type
    /// and, for MLDv2 reports, its records (record type and group); MLDv1 messages name their
    /// group. Each group is written relative to the listener: "sn" for the solicited-node group
    /// of its link-local address (its MAC's last three bytes), else the address.
    /// Optionally, after argv[3] seconds, a query from the peer's link-local address:
    /// argv[4] "v2" (an MLDv2 general query, maximum response 1 s) or "v1" (MLDv1, 1 s).
    static let script = """
    import socket, struct, sys, time, json, threading
    dev, secs = sys.argv[1], float(sys.argv[2])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86dd))
    s.bind((dev, 0)); s.settimeout(0.1)
    mine = bytes.fromhex(open('/sys/class/net/%s/address' % dev).read().strip().replace(':', ''))
    def ll(mac):
        return bytes([0xfe, 0x80] + [0] * 6 + [mac[0] ^ 2] + list(mac[1:3]) + [0xff, 0xfe] + list(mac[3:6]))
    def csum(src, dst, msg):
        ph = src + dst + struct.pack('!I3xB', len(msg), 58) + msg
        if len(ph) % 2: ph += b'\\0'
        c = sum(struct.unpack('!%dH' % (len(ph) // 2), ph)); c = (c & 0xffff) + (c >> 16); c = (c & 0xffff) + (c >> 16)
        return (~c) & 0xffff
    def query(kind):
        src = ll(mine); dst = bytes([0xff, 2] + [0] * 13 + [1])
        if kind == 'v2': msg = bytearray(struct.pack('!BBHHH16sBBH', 130, 0, 0, 1000, 0, bytes(16), 2, 125, 0))
        else: msg = bytearray(struct.pack('!BBHHH16s', 130, 0, 0, 1000, 0, bytes(16)))
        msg[2:4] = struct.pack('!H', csum(src, dst, bytes(msg)))
        hbh = bytes([58, 0, 5, 2, 0, 0, 1, 0])
        ip = struct.pack('!IHBB16s16s', 0x60000000, len(hbh) + len(msg), 0, 1, src, dst)
        s.send(bytes.fromhex('333300000001') + mine + b'\\x86\\xdd' + ip + hbh + bytes(msg))
    out = []; start = time.time(); asked = False; sn = None
    while time.time() - start < secs:
        if len(sys.argv) > 4 and not asked and time.time() - start >= float(sys.argv[3]):
            query(sys.argv[4]); asked = True; out.append({'query': sys.argv[4]})
        try: f, a = s.recvfrom(4096)
        except socket.timeout: continue
        if a[2] == 4 or len(f) < 14 + 40 + 8 + 8 or f[20] != 0: continue
        src = f[22:38]
        if src[0:2] == b'\\xfe\\x80': sn = src[13:16]
        m = f[14 + 40 + 8:]
        def name(g): return g
        if m[0] == 143:
            n = struct.unpack('!H', m[6:8])[0]; recs = []
            for i in range(n):
                r = m[8 + 20 * i: 28 + 20 * i]; recs.append([r[0], name(r[4:20])])
            out.append({'type': 143, 'src': 'll' if src[0:2] == b'\\xfe\\x80' else socket.inet_ntop(socket.AF_INET6, src), 'records': recs, 'hop': f[21]})
        elif m[0] in (131, 132):
            out.append({'type': int(m[0]), 'group': name(m[8:24]), 'hop': f[21]})
    def named(g):
        if sn is not None and g[0:13] == bytes([0xff, 2] + [0] * 9 + [1, 0xff]) and g[13:16] == sn: return 'sn'
        return socket.inet_ntop(socket.AF_INET6, g)
    for m in out:
        if 'group' in m: m['group'] = named(m['group'])
        for r in m.get('records', []): r[1] = named(r[1])
    print(json.dumps(out))
    """

    /// Runs the capture in `host` on `dev` while `start` brings the listener up; returns the messages.
    func capture(_ host: String, _ dev: String, seconds: Int, query: (at: Int, kind: String)? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        var args = ["--kill-after=2", String(seconds + 10), "ip", "netns", "exec", host, "python3", "-c", Self.script, dev, String(seconds)]
        if let query { args += [String(query.at), query.kind] }
        p.arguments = args
        p.standardOutput = Pipe()
        p.standardError = FileHandle.nullDevice
        try p.run()
        net.onCleanup { if p.isRunning { p.terminate() }; p.waitUntilExit() }
        return p
    }

    func messages(_ p: Process) -> [[String: Any]] {
        p.waitUntilExit()
        let d = (p.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile()
        return (try? JSONSerialization.jsonObject(with: d) as? [[String: Any]]) ?? [["unreadable": String(decoding: d, as: UTF8.self)]]
    }

    /// The messages without their order within a report: type, source and sorted records.
    func summary(_ ms: [[String: Any]]) -> [String] {
        ms.map { m in
            if let q = m["query"] as? String { return "query \(q)" }
            let t = m["type"] as? Int ?? -1
            if t == 143 {
                let recs = ((m["records"] as? [[Any]]) ?? []).map { "\($0[0]) \($0[1])" }.sorted()
                return "143 from \(m["src"] ?? "?") hop \(m["hop"] ?? "?"): \(recs.joined(separator: ", "))"
            }
            return "\(t) \(m["group"] ?? "?") hop \(m["hop"] ?? "?")"
        }
    }

    /// Two worlds, each a listener `l` (kernel interface, or Sluice's AF_PACKET device of the
    /// same name in a daemon) on a veth to `e` in its host namespace. IPv6 forwarding off on
    /// both sides, so the groups are the same (all-nodes and the link-local address's
    /// solicited-node group; the address is made from each device's own MAC).
    func worlds() throws -> (k: (ns: String, host: String), s: (ns: String, host: String), daemon: DaemonProcess) {
        let kn = try net.netns("mk"), kh = try net.netns("mkh"), sn = try net.netns("ms"), shh = try net.netns("msh")
        for (ns, host) in [(kn, kh), (sn, shh)] {
            try sh(["ip", "-n", ns, "link", "add", "lst", "type", "veth", "peer", "name", "e", "netns", host])
            // The kernel interface Sluice's port is bound to has no IPv6 of its own: what
            // arrives at `e` is then Sluice's alone.
            if ns == sn { try sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.lst.disable_ipv6=1"]) }
            try sh(["ip", "-n", host, "link", "set", "e", "up"])
            try sh(["ip", "-n", ns, "link", "set", "lst", "up"])
        }
        let d = try DaemonProcess(net: net, ns: sn, config: ["sysctl net.ipv6.conf.all.forwarding=0", "sysctl net.ipv6.conf.default.forwarding=0",
                                                             "link add lst type afpacket dev lst"],
                                  extraArgs: ["--socket", net.dir + "/mld.sock"])
        try d.waitReady()
        return ((kn, kh), (sn, shh), d)
    }

    /// Bringing a listener up: what it reports in its first 5 s — the change records for its
    /// groups as they are joined and again once its link-local address is usable (DAD done),
    /// each robustness (2) times, from the link-local address once it is usable (:: before).
    func testReportsOnLinkUpAsTheKernel() throws {
        let (k, s, d) = try worlds()
        let kc = try capture(k.host, "e", seconds: 5), sc = try capture(s.host, "e", seconds: 5)
        usleep(500_000)
        // The kernel's interface comes up with its own link-local address (addrconf); Sluice's
        // device is brought up through the daemon (its `ip` in the daemon's namespace).
        try sh(["ip", "-n", k.ns, "link", "set", "lst", "down"]); try sh(["ip", "-n", k.ns, "link", "set", "lst", "up"])
        try sh([try sluiceBinary(), "exec", "--socket", net.dir + "/mld.sock", "ip", "link", "set", "lst", "up"])
        let kernel = summary(messages(kc)), sluice = summary(messages(sc))
        print("kernel: \(kernel)\nsluice: \(sluice)")
        XCTAssertFalse(kernel.isEmpty, "the kernel's interface sent no MLD report")
        XCTAssertEqual(sluice.sorted(), kernel.sorted())
        // The daemon counts what it sent (Icmp6OutMLDv2Reports): as many as the kernel's.
        let r = try d.report()
        XCTAssertTrue(r.contains("OutMLDv2Reports \(kernel.count)\n"), r)
        XCTAssertEqual(d.stop(), 0)
    }

    /// Queries: an MLDv2 general query is answered with one current-state report
    /// (MODE_IS_EXCLUDE) of every group within its response time; an MLDv1 query puts the
    /// listener in MLDv1 mode and is answered with an MLDv1 report per group.
    func testQueriesAnsweredAsTheKernel() throws {
        let (k, s, d) = try worlds()
        try sh([try sluiceBinary(), "exec", "--socket", net.dir + "/mld.sock", "ip", "link", "set", "lst", "up"])
        // Past the reports of coming up (5 s), then a v2 query; a v1 query later.
        sleep(5)
        var out: [String: [String]] = [:]
        for kind in ["v2", "v1"] {
            let kc = try capture(k.host, "e", seconds: 3, query: (0, kind)), sc = try capture(s.host, "e", seconds: 3, query: (0, kind))
            out["k" + kind] = summary(messages(kc)); out["s" + kind] = summary(messages(sc))
        }
        print(out)
        XCTAssertEqual(out["kv2"], ["query v2", "143 from ll hop 1: 2 sn"], "the kernel's answer to an MLDv2 query")
        XCTAssertEqual(out["sv2"], out["kv2"])
        XCTAssertEqual(out["kv1"], ["query v1", "131 sn hop 1"], "the kernel's answer to an MLDv1 query")
        XCTAssertEqual(out["sv1"], out["kv1"])
        XCTAssertEqual(d.stop(), 0)
    }
}
