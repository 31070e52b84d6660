import Foundation
import XCTest
import Sluice

/// The same frames through this machine's kernel bridge and through Sluice's bridge, in one
/// run: what arrives on the far side must be the same. Frames are sent raw (AF_PACKET, so
/// nothing in the sender's stack changes them) and captured with tcpdump, which decodes
/// 802.1Q/802.1ad tags. Topology per bridge: host A ─ veth ─ [bridge in "sw"] ─ veth ─ host B.
final class BridgeSideBySideTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    enum Kind { case kernel, sluice }

    struct Path { let a: String, b: String, aDev: String, bDev: String; let daemon: DaemonProcess?; let sw: String }

    /// Builds one path through a bridge of `kind`; `bridgeOptions` are ip-link bridge options.
    func path(_ kind: Kind, _ id: String, bridgeOptions: [String] = [], bridgeUp: Bool = true) throws -> Path {
        let sw = try net.netns("sw\(id)"), a = try net.netns("a\(id)"), b = try net.netns("b\(id)")
        let p0 = "\(net.tag)\(id)0", p1 = "\(net.tag)\(id)1"
        try net.veth(p0, hostNS: sw, peerNS: a, addr: "198.18.0.1/24")
        try net.veth(p1, hostNS: sw, peerNS: b, addr: "198.18.0.2/24")
        for ns in [a, b, sw] { _ = try? sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]) }
        switch kind {
        case .kernel:
            try sh(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"] + bridgeOptions)
            for p in [p0, p1] {
                try sh(["ip", "-n", sw, "link", "set", p, "master", "br0"])
                try sh(["ip", "-n", sw, "link", "set", p, "up"])
            }
            if bridgeUp {
                try sh(["ip", "-n", sw, "link", "set", "br0", "up"])
                // Ports start disabled until their carrier is seen; wait for forwarding.
                let deadline = Date().addingTimeInterval(10)
                while Date() < deadline,
                      try sh(["bridge", "-n", sw, "link", "show"]).components(separatedBy: "state forwarding").count < 3 { usleep(50_000) }
            }
            return Path(a: a, b: b, aDev: p0 + "p", bDev: p1 + "p", daemon: nil, sw: sw)
        case .sluice:
            var config = ["link add br0 type bridge " + bridgeOptions.joined(separator: " ")]
            for p in [p0, p1] { config += ["link add \(p) type afpacket dev \(p)", "link set \(p) master br0 up"] }
            if bridgeUp { config.append("link set br0 up") }
            let d = try DaemonProcess(net: net, ns: sw, config: config, extraArgs: ["--socket", net.dir + "/\(id).sock"])
            try d.waitReady()
            return Path(a: a, b: b, aDev: p0 + "p", bDev: p1 + "p", daemon: d, sw: sw)
        }
    }

    /// Sends `frames` raw from host A and returns what tcpdump on host B decoded (one line per
    /// frame with our test EtherType, link-level header included, timestamps cut).
    func sendAndCapture(_ p: Path, _ frames: [[UInt8]]) throws -> [String] {
        let capture = try net.startCapture(p.b, p.bDev, seconds: 30)
        // Let the receiving bridge learn nothing from host B first: B stays silent.
        let script = "import socket,sys,binascii\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind((sys.argv[1],0))\nfor h in sys.argv[2:]: s.send(binascii.unhexlify(h))\n"
        try sh(["ip", "netns", "exec", p.a, "python3", "-c", script, p.aDev] + frames.map { $0.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() })
        usleep(500_000)
        // A control frame host B sends itself (captured as outgoing): proves the capture ran,
        // so that "nothing crossed" is a finding, not a broken capture.
        let control = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0, 0, 0, 0, 0xCC, 0x88, 0xB5] + [UInt8](repeating: 0xEE, count: 46)
        try sh(["ip", "netns", "exec", p.b, "python3", "-c", script, p.bDev, control.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()])
        usleep(300_000)
        let all = try net.decodeCapture(capture)
        let text = all.joined(separator: "\n")
        let lines = all.filter { $0.contains("0x88b5") }
        guard lines.contains(where: { $0.hasPrefix("02:00:00:00:00:cc") }) else {
            throw HarnessError("the capture on host B did not see B's own control frame: \(text)")
        }
        return lines.filter { !$0.hasPrefix("02:00:00:00:00:cc") }
    }

    static let src: [UInt8] = [0x02, 0, 0, 0, 0, 0xAA]

    /// A frame with our local-experimental EtherType 0x88b5 and a numbered payload.
    func frame(dst: [UInt8], tags: [(UInt16, UInt16)] = [], n: UInt8) -> [UInt8] {
        var f = dst + Self.src
        for (tpid, tci) in tags { f += [UInt8(tpid >> 8), UInt8(tpid & 0xFF), UInt8(tci >> 8), UInt8(tci & 0xFF)] }
        f += [0x88, 0xB5]
        f += [UInt8](repeating: n, count: 46)
        return f
    }

    /// br_fdb_update and fdb_add_entry on this kernel's bridge and on Sluice's: a frame whose
    /// source has an entry on another port moves the entry there — a static one too, still
    /// static — unless the entry is sticky; `bridge fdb show` then lists the same ports and
    /// flags; sticky with permanent is refused (EINVAL) by both.
    func testStaticEntriesRoamStickyOnesDoNotAsTheKernelBridge() throws {
        let macs = ["02:00:00:00:00:a1", "02:00:00:00:00:a2", "02:00:00:00:00:a3", "02:00:00:00:00:a4"]
        var shown: [Kind: [String]] = [:]
        for (kind, id) in [(Kind.kernel, "k"), (Kind.sluice, "s")] {
            let p = try path(kind, id)
            let p1 = "\(net.tag)\(id)1"
            func bridge(_ args: [String]) throws -> (out: String, status: Int32) {
                kind == .kernel ? try runBounded(["10", "bridge", "-n", p.sw] + args)
                    : try runBounded(["10", try sluiceBinary(), "exec", "--socket", net.dir + "/\(id).sock", "bridge"] + args)
            }
            for (mac, opts) in zip(macs, [["static"], ["static", "sticky"], ["dynamic", "sticky"]]) {
                let r = try bridge(["fdb", "add", mac, "dev", p1, "master"] + opts)
                XCTAssertEqual(r.status, 0, "\(kind) fdb add \(mac) \(opts): \(r.out)")
            }
            let refused = try bridge(["fdb", "add", macs[3], "dev", p1, "master", "permanent", "sticky"])
            XCTAssertNotEqual(refused.status, 0, "\(kind): permanent sticky")
            XCTAssertTrue(refused.out.contains("Invalid argument"), "\(kind): \(refused.out)")
            // Host A (port 0) sends from each address.
            let frames = macs.prefix(3).map { m -> [UInt8] in
                let src = m.split(separator: ":").map { UInt8($0, radix: 16)! }
                return [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + src + [0x88, 0xB5] + [UInt8](repeating: 7, count: 46)
            }
            let script = "import socket,sys,binascii\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind((sys.argv[1],0))\nfor h in sys.argv[2:]: s.send(binascii.unhexlify(h))\n"
            try sh(["ip", "netns", "exec", p.a, "python3", "-c", script, p.aDev] + frames.map { $0.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() })
            usleep(400_000)
            let out = try bridge(["fdb", "show", "br", "br0"]).out
            shown[kind] = out.split(separator: "\n").map(String.init).filter { l in macs.contains { l.hasPrefix($0) } }
                .map { $0.replacingOccurrences(of: "\(net.tag)\(id)", with: "P") }.sorted()
            p.daemon.map { XCTAssertEqual($0.stop(), 0) }
        }
        XCTAssertEqual(shown[.kernel]?.count, 3, "\(shown[.kernel] ?? [])")
        XCTAssertTrue(shown[.kernel]?.first?.contains("dev P0") ?? false, "the kernel moved the static entry: \(shown[.kernel] ?? [])")
        XCTAssertEqual(shown[.sluice], shown[.kernel])
        print("fdb after roaming: \(shown[.kernel] ?? [])")
    }

    /// A locked port (`bridge link set … locked on`, 802.1X; br_handle_frame_finish) on this
    /// kernel's bridge and on Sluice's: host A's frames cross only while the FDB holds A's
    /// address on A's port (a static entry an authenticator would add); while it names another
    /// port they are dropped and the entry does not roam; the flag shows in `bridge -d link`.
    func testLockedPortAsTheKernelBridge() throws {
        let mac = "02:00:00:00:00:aa"
        var seen: [Kind: [String]] = [:]
        for (kind, id) in [(Kind.kernel, "k"), (Kind.sluice, "s")] {
            let p = try path(kind, id)
            let p0 = "\(net.tag)\(id)0", p1 = "\(net.tag)\(id)1"
            func bridge(_ args: [String]) throws -> String {
                let r = kind == .kernel ? try runBounded(["10", "bridge", "-n", p.sw] + args)
                    : try runBounded(["10", try sluiceBinary(), "exec", "--socket", net.dir + "/\(id).sock", "bridge"] + args)
                XCTAssertEqual(r.status, 0, "\(kind) bridge \(args): \(r.out)")
                return r.out
            }
            _ = try bridge(["link", "set", "dev", p0, "locked", "on"])
            let frames = (1...3).map { frame(dst: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], n: UInt8($0)) }
            var log: [String] = []
            log.append("unknown source: \(try sendAndCapture(p, frames).count) crossed")
            _ = try bridge(["fdb", "add", mac, "dev", p0, "master", "static"])
            log.append("held on its port: \(try sendAndCapture(p, frames).count) crossed")
            _ = try bridge(["fdb", "replace", mac, "dev", p1, "master", "static"])
            log.append("held on another port: \(try sendAndCapture(p, frames).count) crossed")
            let fdb = try bridge(["fdb", "show", "br", "br0"]).split(separator: "\n").filter { $0.hasPrefix(mac) }
            log += fdb.map { $0.replacingOccurrences(of: "\(net.tag)\(id)", with: "P") }
            log.append(try bridge(["-d", "link", "show", "dev", p0]).contains("locked on") ? "locked on" : "no locked flag")
            seen[kind] = log
            p.daemon.map { XCTAssertEqual($0.stop(), 0) }
        }
        print("locked port: \(seen[.kernel] ?? [])")
        XCTAssertEqual(seen[.kernel]?.first, "unknown source: 0 crossed", "the kernel's answer: \(seen[.kernel] ?? [])")
        XCTAssertEqual(seen[.sluice], seen[.kernel])
    }

    /// backup_port (br_forward) on this kernel's bridge and on Sluice's: B's port has a backup,
    /// C's port. Known unicast for B (a static entry on B's port) goes to B while B's link is up,
    /// and to C once B's peer goes down and B's port loses its carrier.
    func testBackupPortTakesUnicastWhenThePortLosesCarrierAsTheKernelBridge() throws {
        var seen: [Kind: [String]] = [:]
        let mB = "02:00:00:00:00:bb"
        for (kind, id) in [(Kind.kernel, "k"), (Kind.sluice, "s")] {
            let (sw, hosts, ports, d) = try threeHostBridge(kind, id, subnet: "198.18.8", socket: "bk\(id).sock", noIPv6: true)
            func bridge(_ args: [String]) throws {
                let r = kind == .kernel ? try runBounded(["10", "bridge", "-n", sw] + args)
                    : try runBounded(["10", try sluiceBinary(), "exec", "--socket", net.dir + "/bk\(id).sock", "bridge"] + args)
                XCTAssertEqual(r.status, 0, "\(kind) bridge \(args): \(r.out)")
            }
            try bridge(["fdb", "add", mB, "dev", ports[1], "master", "static"])
            try bridge(["link", "set", "dev", ports[1], "backup_port", ports[2]])
            let f = [0x02, 0, 0, 0, 0, 0xBB, 0x02, 0, 0, 0, 0, 0xAA, 0x88, 0xB5] + [UInt8](repeating: 9, count: 46)
            let hex = f.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
            let script = "import socket,sys,binascii\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind((sys.argv[1],0))\nfor i in range(3): s.send(binascii.unhexlify(sys.argv[2]))\n"
            var log: [String] = []
            for phase in ["B up", "B down"] {
                if phase == "B down" {
                    try sh(["ip", "-n", hosts[1], "link", "set", ports[1] + "p", "down"])
                    usleep(300_000)
                }
                // B's own end cannot be captured while it is down.
                let capB = phase == "B up" ? try net.startCapture(hosts[1], ports[1] + "p", seconds: 20) : nil
                let capC = try net.startCapture(hosts[2], ports[2] + "p", seconds: 20)
                usleep(700_000)
                try sh(["ip", "netns", "exec", hosts[0], "python3", "-c", script, ports[0] + "p", hex])
                usleep(500_000)
                let atB = try capB.map { try net.decodeCapture($0).filter { $0.contains("0x88b5") }.count }.map(String.init) ?? "-"
                let atC = try net.decodeCapture(capC).filter { $0.contains("0x88b5") }.count
                log.append("\(phase): B got \(atB), C got \(atC)")
            }
            seen[kind] = log
            if let d { XCTAssertEqual(d.stop(), 0, d.stderr) }
        }
        print("backup port: \(seen[.kernel] ?? [])")
        XCTAssertEqual(seen[.kernel], ["B up: B got 3, C got 0", "B down: B got -, C got 3"], "the kernel's answer")
        XCTAssertEqual(seen[.sluice], seen[.kernel])
    }

    /// The bridge's ARP proxy and neighbour suppression (br_arp_nd_proxy.c) on this kernel's
    /// bridge and on Sluice's, with hosts A, B, C and the bridge device's neighbour table
    /// holding 198.18.9.2 and 2001:db8:9::2 (router) at 02:00:00:00:0b:0b, an address the FDB
    /// holds on B's port. Each step: a frame host A (or C) sends raw, the ARP replies and
    /// neighbour advertisements it gets back (bytes), and in the end what host B saw. Steps:
    /// no flag; `proxy_arp` on A's port (the bridge answers A, B still answers, and nothing
    /// flooded reaches A: C's request for A goes unanswered); `neigh_suppress` on B's port
    /// (the bridge answers and B hears nothing; a request for C still floods; a gratuitous
    /// ARP, a neighbour solicitation with its traffic class, one for duplicate address
    /// detection, one with a zero-length option, and an unsolicited advertisement are kept
    /// from B).
    func testProxyARPAndNeighbourSuppressionAsTheKernelBridge() throws {
        let n2: [UInt8] = [0x02, 0, 0, 0, 0x0B, 0x0B]
        let macs: [[UInt8]] = [[0x02, 0, 0, 0, 0, 0xA1], [0x02, 0, 0, 0, 0, 0xB2], [0x02, 0, 0, 0, 0, 0xC3]]
        func mac(_ m: [UInt8]) -> String { m.map { String(format: "%02x", $0) }.joined(separator: ":") }
        func hex(_ f: [UInt8]) -> String { f.map { String(format: "%02x", $0) }.joined() }
        func v4(_ d: UInt8) -> [UInt8] { [198, 18, 9, d] }
        func v6(_ d: UInt8) -> [UInt8] { [0x20, 0x01, 0x0D, 0xB8, 0, 9] + [UInt8](repeating: 0, count: 9) + [d] }
        func arp(op: UInt8, from h: Int, sip: [UInt8], tip: [UInt8]) -> [UInt8] {
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + macs[h] + [0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, op] + macs[h] + sip + [0, 0, 0, 0, 0, 0] + tip
        }
        /// An ICMPv6 neighbour message from host A with its checksum, hop limit 255.
        func nd(type: UInt8, flags: UInt8 = 0, src: [UInt8], dst: [UInt8], target: [UInt8], options: [UInt8], tclass: UInt8 = 0) -> [UInt8] {
            var m: [UInt8] = [type, 0, 0, 0, flags, 0, 0, 0] + target + options
            let pseudo = src + dst + [0, 0, 0, UInt8(m.count), 0, 0, 0, 58]
            var sum: UInt32 = 0
            let all = pseudo + m
            for i in stride(from: 0, to: all.count, by: 2) { sum += UInt32(all[i]) << 8 | UInt32(i + 1 < all.count ? all[i + 1] : 0) }
            while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
            let c = ~UInt16(sum)
            m[2] = UInt8(c >> 8); m[3] = UInt8(c & 0xFF)
            let ethDst: [UInt8] = [0x33, 0x33] + dst.suffix(4)
            return ethDst + macs[0] + [0x86, 0xDD, 0x60 | tclass >> 4, (tclass & 0xF) << 4, 0, 0, 0, UInt8(m.count), 58, 255] + src + dst + m
        }
        let slla = [1, 1] + macs[0]
        let solicited = [0xFF, 0x02] + [UInt8](repeating: 0, count: 9) + [1, 0xFF, 0, 0, 2]
        let allNodes: [UInt8] = [0xFF, 0x02] + [UInt8](repeating: 0, count: 13) + [1]
        // Sends a frame out of host `h` and prints the ARP frames and advertisements it gets
        // back within half a second (sorted: the bridge's answer and a host's race).
        let probe = """
        import socket,sys,binascii,time,select
        s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(3))
        s.bind((sys.argv[1],0))
        s.send(binascii.unhexlify(sys.argv[2]))
        end=time.time()+0.5
        out=[]
        while True:
            t=end-time.time()
            if t<=0: break
            r,_,_=select.select([s],[],[],t)
            if not r: break
            f,a=s.recvfrom(4096)
            if a[2]==4: continue
            if f[12:14]==b'\\x08\\x06' or (f[12:14]==b'\\x86\\xdd' and len(f)>54 and f[20]==58 and f[54]==136):
                out.append(binascii.hexlify(f).decode())
        print(' '.join(sorted(out)))
        """
        var seen: [Kind: [String]] = [:]
        for (kind, id) in [(Kind.kernel, "k"), (Kind.sluice, "s")] {
            let (sw, hosts, ports, d) = try threeHostBridge(kind, id, subnet: "198.18.9", socket: "px\(id).sock", noIPv6: true)
            func tool(_ args: [String]) throws {
                let r = kind == .kernel ? try runBounded(["10", args[0], "-n", sw] + args.dropFirst())
                    : try runBounded(["10", try sluiceBinary(), "exec", "--socket", net.dir + "/px\(id).sock"] + args)
                XCTAssertEqual(r.status, 0, "\(kind) \(args): \(r.out)")
            }
            for (i, h) in hosts.enumerated() { try sh(["ip", "-n", h, "link", "set", "dev", ports[i] + "p", "address", mac(macs[i])]) }
            let capB = try net.startCapture(hosts[1], ports[1] + "p", seconds: 60)
            var log: [String] = []
            func step(_ label: String, from h: Int = 0, _ f: [UInt8]) throws {
                let got = try sh(["ip", "netns", "exec", hosts[h], "python3", "-c", probe, ports[h] + "p", hex(f)])
                log.append("\(label): " + got.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            try step("no flag, no neighbour", arp(op: 1, from: 0, sip: v4(1), tip: v4(2)))
            try tool(["bridge", "fdb", "add", mac(n2), "dev", ports[1], "master", "static"])
            try tool(["ip", "neigh", "add", "198.18.9.2", "lladdr", mac(n2), "dev", "br0", "nud", "permanent"])
            try tool(["ip", "-6", "neigh", "add", "2001:db8:9::2", "lladdr", mac(n2), "dev", "br0", "nud", "permanent", "router"])
            try step("no flag", arp(op: 1, from: 0, sip: v4(1), tip: v4(2)))
            try tool(["ip", "link", "set", ports[0], "type", "bridge_slave", "proxy_arp", "on"])
            try step("proxy_arp on A's port", arp(op: 1, from: 0, sip: v4(1), tip: v4(2)))
            try step("C asks for A", from: 2, arp(op: 1, from: 2, sip: v4(3), tip: v4(1)))
            try tool(["ip", "link", "set", ports[0], "type", "bridge_slave", "proxy_arp", "off"])
            try tool(["bridge", "link", "set", "dev", ports[1], "neigh_suppress", "on"])
            try step("neigh_suppress on B's port", arp(op: 1, from: 0, sip: v4(1), tip: v4(2)))
            try step("request for C", arp(op: 1, from: 0, sip: v4(1), tip: v4(3)))
            try step("gratuitous", arp(op: 1, from: 0, sip: v4(1), tip: v4(1)))
            try step("NS", nd(type: 135, src: v6(1), dst: solicited, target: v6(2), options: slla, tclass: 0xB8))
            try step("DAD NS", nd(type: 135, src: [UInt8](repeating: 0, count: 16), dst: solicited, target: v6(2), options: []))
            try step("NS, empty option", nd(type: 135, src: v6(1), dst: solicited, target: v6(2), options: [1, 0, 0, 0, 0, 0, 0, 0] + slla))
            try step("unsolicited NA", nd(type: 136, flags: 0x20, src: v6(1), dst: allNodes, target: v6(1), options: [2, 1] + macs[0]))
            usleep(300_000)
            let atB = try net.decodeCapture(capB).filter { $0.contains("198.18.9.") || $0.contains("2001:db8:9::") }
            log.append("B saw: " + atB.joined(separator: " | "))
            var shown = ""
            if kind == .kernel { shown = try sh(["bridge", "-n", sw, "-d", "link", "show"]) } else {
                shown = try runBounded(["10", try sluiceBinary(), "exec", "--socket", net.dir + "/px\(id).sock", "bridge", "-d", "link", "show"]).out
            }
            log.append(shown.contains("neigh_suppress on") ? "neigh_suppress shown" : "neigh_suppress not shown")
            seen[kind] = log
            if let d { XCTAssertEqual(d.stop(), 0, d.stderr) }
        }
        for l in seen[.kernel] ?? [] { print("kernel: \(l)") }
        let k = seen[.kernel] ?? []
        // Sanity of the kernel's own answers: proxy_arp answers as well as B; suppression only the bridge.
        XCTAssertEqual(k.count, 13, "\(k)")
        XCTAssertEqual(k.first { $0.hasPrefix("proxy_arp on A's port:") }?.split(separator: " ").count, 6, "\(k)")
        XCTAssertEqual(k.first { $0.hasPrefix("neigh_suppress on B's port:") }?.split(separator: " ").count, 5, "\(k)")
        XCTAssertEqual(seen[.sluice]?.count, k.count)
        for (a, b) in zip(seen[.sluice] ?? [], k) { XCTAssertEqual(a, b) }
    }

    /// 01:80:C2:00:00:00–0F and a broadcast, through both bridges, for two group_fwd_masks.
    func testLinkLocalGroupAddressesAsTheKernelBridge() throws {
        let frames = (0..<16).map { frame(dst: [0x01, 0x80, 0xC2, 0, 0, UInt8($0)], n: UInt8($0)) }
            + [frame(dst: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], n: 99)]
        for (i, mask) in ["0", "0x4008"].enumerated() {
            let opts = mask == "0" ? [] : ["group_fwd_mask", mask]
            let k = try path(.kernel, "k\(i)", bridgeOptions: opts)
            let s = try path(.sluice, "s\(i)", bridgeOptions: opts)
            let fromKernel = try sendAndCapture(k, frames)
            let fromSluice = try sendAndCapture(s, frames)
            // Sanity of the kernel's own answer: the broadcast always crosses, PAUSE never.
            XCTAssertTrue(fromKernel.contains { $0.contains("ff:ff:ff:ff:ff:ff") }, "\(fromKernel)")
            XCTAssertFalse(fromKernel.contains { $0.contains("01:80:c2:00:00:01") }, "\(fromKernel)")
            XCTAssertEqual(fromSluice, fromKernel, "group_fwd_mask \(mask): Sluice forwards what the kernel bridge forwards")
            let r = try s.daemon!.report()
            let notForwarded = 17 - fromKernel.count
            XCTAssertEqual(number(after: "group_not_forwarded", in: section(r, device: "br0")), notForwarded, r)
            XCTAssertEqual(s.daemon!.stop(), 0)
        }
        // Restricted bits are refused, by the kernel (EINVAL) and by Sluice (an error, no change).
        let sw = try net.netns("swr")
        try sh(["ip", "-n", sw, "link", "add", "brr", "type", "bridge"])
        XCTAssertThrowsError(try sh(["ip", "-n", sw, "link", "set", "brr", "type", "bridge", "group_fwd_mask", "4"]))
        let lab = try CommandRunner(datapath: Datapath(poolSize: 64, clock: .virtual(start: 0)))
        try lab.execute("link add br9 type bridge")
        XCTAssertThrowsError(try lab.execute("link set br9 type bridge group_fwd_mask 4"))
        XCTAssertTrue(try lab.execute("-d link show br9").contains("group_fwd_mask 0x0 "))
    }

    /// Hosts a, b, c (subnet.1–3/24), each on a veth to a bridge of `kind` in "sw": the kernel's
    /// (waited for until its ports forward) or a daemon's with AF_PACKET ports on `socket`.
    /// The first `first` ports get `kernelPorts(sw, port)` / `sluicePorts(port)` before the
    /// bridge comes up.
    func threeHostBridge(_ kind: Kind, _ id: String, subnet: String, socket: String, noIPv6: Bool = false,
                         kernelPorts: ((String, String) -> [String])? = nil, sluicePorts: ((String) -> String)? = nil,
                         first: Int = 0) throws -> (sw: String, hosts: [String], ports: [String], daemon: DaemonProcess?) {
        let sw = try net.netns("sw\(id)")
        let hosts = try ["a", "b", "c"].map { try net.netns("\($0)\(id)") }
        let ports = (0..<3).map { "\(net.tag)\(id)\($0)" }
        for (i, h) in hosts.enumerated() {
            try net.veth(ports[i], hostNS: sw, peerNS: h, addr: "\(subnet).\(i + 1)/24")
            if noIPv6 { _ = try? sh(["ip", "netns", "exec", h, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]) }
        }
        switch kind {
        case .kernel:
            try sh(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"])
            for p in ports { try sh(["ip", "-n", sw, "link", "set", p, "master", "br0"]); try sh(["ip", "-n", sw, "link", "set", p, "up"]) }
            if let kernelPorts { for p in ports.prefix(first) { try sh(kernelPorts(sw, p)) } }
            try sh(["ip", "-n", sw, "link", "set", "br0", "up"])
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline,
                  try sh(["bridge", "-n", sw, "link", "show"]).components(separatedBy: "state forwarding").count < 4 { usleep(50_000) }
            return (sw, hosts, ports, nil)
        case .sluice:
            var config = ["link add br0 type bridge"]
            for p in ports { config += ["link add \(p) type afpacket dev \(p)", "link set \(p) master br0 up"] }
            if let sluicePorts { config += ports.prefix(first).map(sluicePorts) }
            config.append("link set br0 up")
            let d = try DaemonProcess(net: net, ns: sw, config: config, extraArgs: ["--socket", net.dir + "/" + socket])
            try d.waitReady()
            return (sw, hosts, ports, d)
        }
    }

    /// Isolated ports (`bridge link set … isolated on`; br_skb_isolated) and a port that does
    /// not learn, with real pings, through this kernel's bridge and through Sluice's (AF_PACKET
    /// ports): hosts A and B on isolated ports reach C but not each other; what gets through is
    /// the kernel's answer. Then learning off on C's port: the pings still pass (C's address
    /// is never learnt, so frames for it are flooded), as through the kernel's bridge.
    func testIsolatedPortsAsTheKernelBridge() throws {
        func reaches(_ ns: String, _ dst: String) throws -> Bool {
            try sh(["ip", "netns", "exec", ns, "ping", "-c", "2", "-i", "0.2", "-W", "1", dst], allowFailure: true).contains(" 0% packet loss")
        }
        var results: [Kind: [String]] = [:]
        for (kind, id) in [(Kind.kernel, "k"), (Kind.sluice, "s")] {
            let (sw, hosts, ports, d) = try threeHostBridge(kind, id, subnet: "198.18.7", socket: "iso.sock",
                                                            kernelPorts: { ["bridge", "-n", $0, "link", "set", "dev", $1, "isolated", "on"] },
                                                            sluicePorts: { "link set \($0) type bridge_slave isolated on" }, first: 2)
            var r: [String] = []
            for (from, to) in [(0, 2), (1, 2), (0, 1), (1, 0)] {
                r.append("\("abc".map(String.init)[from])→\("abc".map(String.init)[to]) \(try reaches(hosts[from], "198.18.7.\(to + 1)") ? "passes" : "blocked")")
            }
            if kind == .kernel {
                try sh(["bridge", "-n", sw, "link", "set", "dev", ports[2], "learning", "off"])
            } else {
                try sh(["ip", "netns", "exec", sw, try sluiceBinary(), "exec", "--socket", net.dir + "/iso.sock", "bridge", "link", "set", "dev", ports[2], "learning", "off"])
            }
            try sh(["ip", "-n", hosts[0], "neigh", "flush", "all"])
            r.append("a→c, c not learnt \(try reaches(hosts[0], "198.18.7.3") ? "passes" : "blocked")")
            results[kind] = r
            if let d { XCTAssertEqual(d.stop(), 0, d.stderr) }
        }
        XCTAssertEqual(results[.kernel], ["a→c passes", "b→c passes", "a→b blocked", "b→a blocked", "a→c, c not learnt passes"], "the kernel's own answer")
        XCTAssertEqual(results[.sluice], results[.kernel])
    }

    /// Debian's `bridge` on the path's bridge: the kernel's, or the daemon's through `sluice exec`.
    func bridgeTool(_ p: Path, _ id: String, _ args: [String]) throws -> String {
        if p.daemon == nil { return try sh(["bridge", "-n", p.sw] + args) }
        return try sh(["ip", "netns", "exec", p.sw, try sluiceBinary(), "exec", "--socket", net.dir + "/\(id).sock", "bridge"] + args)
    }

    /// A port whose link stops running — the veth peer behind it set down, then its own
    /// interface set down, a cable pulled at either end — is disabled and forgets what it
    /// learnt (br_stp_disable_port: br_fdb_delete_by_port), and forwards again when the link
    /// runs again: as the kernel bridge's port does. Sluice's port is AF_PACKET on that
    /// interface: its carrier follows the interface's (RTM_NEWLINK's IFF_RUNNING), and while
    /// the link is down the daemon waits, it does not spin on the socket's error.
    func testAPortWhoseLinkStopsIsDisabledAsTheKernelBridgesPort() throws {
        var seen: [Kind: [String]] = [:]
        for (kind, id) in [(Kind.kernel, "k"), (Kind.sluice, "s")] {
            let p = try path(kind, id)
            let port = "\(net.tag)\(id)0"
            let aMAC = try sh(["ip", "-n", p.a, "-br", "link", "show", p.aDev]).split(separator: " ", omittingEmptySubsequences: true)[2]
            /// The port's `bridge link show` line without its index and name (a veth's name
            /// has "@ifN", an AF_PACKET port's has not).
            func portLine() throws -> String {
                let out = try bridgeTool(p, id, ["link", "show", "dev", port])
                guard let r = out.range(of: ": <") else { return out }
                return "<" + out[r.upperBound...].trimmingCharacters(in: .whitespacesAndNewlines)
            }
            func waitState(_ state: String, _ step: String) throws -> String {
                let deadline = Date().addingTimeInterval(8)
                var line = ""
                while Date() < deadline {
                    line = try portLine()
                    if line.contains("state \(state) ") { return line }
                    usleep(100_000)
                }
                XCTFail("\(kind) \(step): not \(state) within 8 s: \(line)")
                return line
            }
            func learnt() throws -> Bool {
                try bridgeTool(p, id, ["fdb", "show", "br", "br0"]).split(separator: "\n").contains { $0.hasPrefix(aMAC + " dev \(port) master br0") && !$0.contains("permanent") }
            }
            var r: [String] = []
            XCTAssertTrue(try net.ping(from: p.a, "198.18.0.2").contains("3 received"), "\(kind): no ping before")
            r.append("learnt: \(try learnt())")
            // The veth peer (host A's end) goes down: the port loses its carrier.
            try sh(["ip", "-n", p.a, "link", "set", p.aDev, "down"])
            r.append("peer down: " + (try waitState("disabled", "peer down")))
            r.append("learnt: \(try learnt())")
            if let d = p.daemon {
                // Two seconds with the link down cost the daemon next to no CPU time.
                func cpu() throws -> Double {
                    let f = try String(contentsOfFile: "/proc/\(d.process.processIdentifier)/stat", encoding: .utf8)
                        .split(separator: ")").last!.split(separator: " ")
                    return (Double(f[11])! + Double(f[12])!) / Double(sysconf(Int32(_SC_CLK_TCK)))
                }
                let c0 = try cpu()
                sleep(2)
                let used = try cpu() - c0
                XCTAssertLessThan(used, 0.5, "the daemon used \(used) s of CPU in 2 s while its port's link was down")
            }
            try sh(["ip", "-n", p.a, "link", "set", p.aDev, "up"])
            r.append("peer up: " + (try waitState("forwarding", "peer up")))
            r.append("ping: \(try net.ping(from: p.a, "198.18.0.2").contains("3 received"))")
            // The port's own interface goes down (its flags differ: the kernel's port is down,
            // Sluice's port stays up without its link); the state is the kernel's.
            try sh(["ip", "-n", p.sw, "link", "set", port, "down"])
            r.append("own link down: " + (try waitState("disabled", "own link down")).components(separatedBy: "> ").last!)
            r.append("learnt: \(try learnt())")
            r.append("ping lost: \(try sh(["ip", "netns", "exec", p.a, "ping", "-c", "2", "-i", "0.2", "-W", "1", "198.18.0.2"], allowFailure: true).contains(" 0 received"))")
            try sh(["ip", "-n", p.sw, "link", "set", port, "up"])
            r.append("own link up: " + (try waitState("forwarding", "own link up")))
            r.append("ping: \(try net.ping(from: p.a, "198.18.0.2").contains("3 received"))")
            if let d = p.daemon {
                XCTAssertEqual(d.stop(), 0, d.stderr)
                XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
            }
            seen[kind] = r
            print("\(kind): \(r.joined(separator: " | "))")
        }
        XCTAssertEqual(seen[.kernel]?.first, "learnt: true", "the kernel's own answer: \(seen[.kernel] ?? [])")
        XCTAssertTrue(seen[.kernel]?[1].hasPrefix("peer down: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 master br0 state disabled") ?? false, "\(seen[.kernel] ?? [])")
        XCTAssertEqual(seen[.sluice] ?? [], seen[.kernel] ?? [])
    }

    /// A bridge that is down forwards nothing and learns nothing, as the kernel's.
    func testBridgeDownNeitherLearnsNorForwards() throws {
        let frames = [frame(dst: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], n: 1), frame(dst: [0x02, 0, 0, 0, 0, 0xBB], n: 2)]
        let k = try path(.kernel, "k", bridgeUp: false)
        let s = try path(.sluice, "s", bridgeUp: false)
        let fromKernel = try sendAndCapture(k, frames)
        let fromSluice = try sendAndCapture(s, frames)
        XCTAssertEqual(fromKernel, [])
        XCTAssertEqual(fromSluice, fromKernel)
        let kernelFDB = try sh(["bridge", "-n", k.sw, "fdb", "show", "br", "br0"])
        XCTAssertFalse(kernelFDB.contains("02:00:00:00:00:aa"), kernelFDB)
        let r = try s.daemon!.report()
        XCTAssertFalse(r.lowercased().contains("02:00:00:00:00:aa"), "Sluice learnt while down: \(r)")
        let port = section(r, device: "\(net.tag)s0")
        XCTAssertEqual(number(after: "BRIDGE_PORT_DISABLED", in: port), 2, port)
        XCTAssertEqual(s.daemon!.stop(), 0)
    }

    /// Tagged frames (802.1Q with a priority, and 802.1ad over 802.1Q) through AF_PACKET ports:
    /// the kernel strips the outer tag into metadata before AF_PACKET sees the frame; Sluice
    /// must carry it and put it back, so host B sees what it sees through the kernel bridge.
    func testVLANTagsCrossAFPacketPortsAsThroughTheKernelBridge() throws {
        let dst: [UInt8] = [0x02, 0, 0, 0, 0, 0xBB]
        let frames = [
            frame(dst: dst, tags: [(0x8100, 5 << 13 | 100)], n: 1),
            frame(dst: dst, tags: [(0x88A8, 3 << 13 | 200), (0x8100, 300)], n: 2),
            frame(dst: dst, tags: [(0x8100, 0 << 13 | 4094)], n: 3),
            frame(dst: dst, n: 4),
        ]
        let k = try path(.kernel, "k")
        let s = try path(.sluice, "s")
        let fromKernel = try sendAndCapture(k, frames)
        let fromSluice = try sendAndCapture(s, frames)
        XCTAssertEqual(fromKernel.count, 4, "\(fromKernel)")
        XCTAssertTrue(fromKernel[0].contains("vlan 100, p 5"), fromKernel[0])
        XCTAssertTrue(fromKernel[1].contains("vlan 200, p 3") && fromKernel[1].contains("vlan 300"), fromKernel[1])
        XCTAssertEqual(fromSluice, fromKernel)
        XCTAssertEqual(s.daemon!.stop(), 0)
        XCTAssertTrue(s.daemon!.stdout.contains("(no buffer leaked)"), s.daemon!.stdout)
    }
}
