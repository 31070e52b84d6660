import Foundation
import XCTest

/// The IPv4 stack as an IGMP host, side by side: a snooping bridge's own stack joins the
/// all-snoopers group 224.0.0.106 and reports it (RFC 3376, with RFC 2236 compatibility). A
/// kernel bridge in one namespace and a Sluice bridge (daemon, AF_PACKET port) in another, each
/// with one port on a veth whose peer is in a host namespace that captures what arrives and
/// sends queries. Expected values are what the kernel's bridge sent in the same run.
final class IGMPListenerLiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    /// The IGMP messages arriving on argv[1] for argv[2] seconds, as JSON (type, TTL, TOS, the
    /// router alert, group or records); after argv[3] seconds, optionally a general query from
    /// 0.0.0.0: argv[4] "v3" (maximum response 1 s) or "v2" (1 s).
    static let script = """
    import socket, struct, sys, time, json
    dev, secs = sys.argv[1], float(sys.argv[2])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.bind((dev, 0)); s.settimeout(0.1)
    mine = bytes.fromhex(open('/sys/class/net/%s/address' % dev).read().strip().replace(':', ''))
    def csum(b):
        if len(b) % 2: b += b'\\0'
        c = sum(struct.unpack('!%dH' % (len(b) // 2), b)); c = (c & 0xffff) + (c >> 16); c = (c & 0xffff) + (c >> 16)
        return (~c) & 0xffff
    def query(kind):
        m = bytearray(struct.pack('!BBH4s', 0x11, 10, 0, bytes(4)))
        if kind == 'v3': m += struct.pack('!BBH', 2, 125, 0)
        m[2:4] = struct.pack('!H', csum(bytes(m)))
        ip = bytearray(struct.pack('!BBHHHBBH4s4s4s', 0x46, 0xc0, 24 + len(m), 0, 0x4000, 1, 2, 0, bytes(4), socket.inet_aton('224.0.0.1'), bytes([0x94, 4, 0, 0])))
        ip[10:12] = struct.pack('!H', csum(bytes(ip)))
        s.send(bytes.fromhex('01005e000001') + mine + b'\\x08\\x00' + bytes(ip) + bytes(m))
    out = []; start = time.time(); asked = False
    while time.time() - start < secs:
        if len(sys.argv) > 4 and not asked and time.time() - start >= float(sys.argv[3]):
            query(sys.argv[4]); asked = True; out.append({'query': sys.argv[4]})
        try: f, a = s.recvfrom(4096)
        except socket.timeout: continue
        if a[2] == 4 or len(f) < 34 or f[23] != 2: continue
        ihl = (f[14] & 15) * 4; m = f[14 + ihl:]
        e = {'type': m[0], 'ttl': f[22], 'tos': f[15], 'ra': ihl == 24 and f[34:38] == bytes([0x94, 4, 0, 0]), 'src': socket.inet_ntoa(f[26:30]), 'dst': socket.inet_ntoa(f[30:34])}
        if m[0] == 0x22:
            n = struct.unpack('!H', m[6:8])[0]
            e['records'] = [[m[8 + 8 * i], socket.inet_ntoa(m[12 + 8 * i:16 + 8 * i])] for i in range(n)]
        elif m[0] != 0x11:
            e['group'] = socket.inet_ntoa(m[4:8])
        else:
            continue
        out.append(e)
    print(json.dumps(out))
    """

    func capture(_ host: String, seconds: Int, query: String? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        var args = ["--kill-after=2", String(seconds + 10), "ip", "netns", "exec", host, "python3", "-c", Self.script, "e", String(seconds)]
        if let query { args += ["0", query] }
        p.arguments = args
        p.standardOutput = Pipe()
        p.standardError = FileHandle.nullDevice
        try p.run()
        net.onCleanup { if p.isRunning { p.terminate() }; p.waitUntilExit() }
        return p
    }

    func summary(_ p: Process) -> [String] {
        p.waitUntilExit()
        let d = (p.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile()
        guard let ms = try? JSONSerialization.jsonObject(with: d) as? [[String: Any]] else { return ["unreadable: " + String(decoding: d, as: UTF8.self)] }
        return ms.map { m in
            if let q = m["query"] as? String { return "query \(q)" }
            let head = "type \(m["type"] ?? "?") ttl \(m["ttl"] ?? "?") tos \(m["tos"] ?? "?") ra \(m["ra"] ?? "?") \(m["src"] ?? "?") > \(m["dst"] ?? "?")"
            if let r = m["records"] as? [[Any]] { return head + ": " + r.map { "\($0[0]) \($0[1])" }.sorted().joined(separator: ", ") }
            return head + ": \(m["group"] ?? "?")"
        }
    }

    /// Both worlds, the bridges not yet up: the kernel's `brl` in one namespace, Sluice's in
    /// the daemon's, each with port `lst` (a veth to `e` in the host namespace).
    func worlds() throws -> (k: (ns: String, host: String), s: (ns: String, host: String), sock: String, daemon: DaemonProcess) {
        let kn = try net.netns("gk"), kh = try net.netns("gkh"), sn = try net.netns("gs"), shh = try net.netns("gsh")
        for (ns, host) in [(kn, kh), (sn, shh)] {
            try sh(["ip", "-n", ns, "link", "add", "lst", "type", "veth", "peer", "name", "e", "netns", host])
            if ns == sn { try sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.lst.disable_ipv6=1"]) }
            try sh(["ip", "-n", host, "link", "set", "e", "up"])
            try sh(["ip", "-n", ns, "link", "set", "lst", "up"])
        }
        try sh(["ip", "-n", kn, "link", "add", "brl", "type", "bridge"])
        try sh(["ip", "-n", kn, "link", "set", "lst", "master", "brl"])
        let sock = net.dir + "/igmp.sock"
        let d = try DaemonProcess(net: net, ns: sn, config: ["link add brl type bridge", "link add lst type afpacket dev lst", "link set lst master brl up"],
                                  extraArgs: ["--socket", sock])
        try d.waitReady()
        return ((kn, kh), (sn, shh), sock, d)
    }

    /// A snooping bridge that opens joins 224.0.0.106 and reports it with IGMPv3 change
    /// records, twice, from 0.0.0.0 (no address), with TOS 0xC0, TTL 1 and the router alert.
    func testAllSnoopersReportedWhenTheBridgeOpensAsTheKernel() throws {
        let (k, s, sock, d) = try worlds()
        let kc = try capture(k.host, seconds: 4), sc = try capture(s.host, seconds: 4)
        usleep(500_000)
        try sh(["ip", "-n", k.ns, "link", "set", "brl", "up"])
        try sh([try sluiceBinary(), "exec", "--socket", sock, "ip", "link", "set", "brl", "up"])
        let kernel = summary(kc), sluice = summary(sc)
        print("kernel: \(kernel)\nsluice: \(sluice)")
        XCTAssertFalse(kernel.isEmpty, "the kernel's bridge sent no IGMP report")
        XCTAssertEqual(sluice, kernel)
        XCTAssertEqual(d.stop(), 0)
    }

    /// Queries reaching the bridge's own stack through its port: an IGMPv3 general query is
    /// answered with one MODE_IS_EXCLUDE report, an IGMPv2 one (which switches the host to
    /// IGMPv2) with a v2 report to the group.
    func testQueriesAnsweredAsTheKernel() throws {
        let (k, s, sock, d) = try worlds()
        try sh(["ip", "-n", k.ns, "link", "set", "brl", "up"])
        try sh([try sluiceBinary(), "exec", "--socket", sock, "ip", "link", "set", "brl", "up"])
        sleep(4)
        var out: [String: [String]] = [:]
        for kind in ["v3", "v2"] {
            let kc = try capture(k.host, seconds: 3, query: kind), sc = try capture(s.host, seconds: 3, query: kind)
            out["k" + kind] = summary(kc); out["s" + kind] = summary(sc)
        }
        print(out)
        XCTAssertEqual(out["kv3"], ["query v3", "type 34 ttl 1 tos 192 ra 1 0.0.0.0 > 224.0.0.22: 2 224.0.0.106"], "the kernel's answer to an IGMPv3 query")
        XCTAssertEqual(out["sv3"], out["kv3"])
        XCTAssertEqual(out["kv2"], ["query v2", "type 22 ttl 1 tos 192 ra 1 0.0.0.0 > 224.0.0.106: 224.0.0.106"], "the kernel's answer to an IGMPv2 query")
        XCTAssertEqual(out["sv2"], out["kv2"])
        XCTAssertEqual(d.stop(), 0)
    }
}
