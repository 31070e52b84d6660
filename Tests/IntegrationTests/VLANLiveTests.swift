import Foundation
import XCTest

/// VLAN devices and a VLAN-filtering bridge with real kernel peers. This kernel has neither
/// 8021q nor bridge vlan_filtering, so there is no kernel run to compare with: the expected
/// frames are IEEE 802.1Q's (tag after the source address, TPID 0x8100, VID), decoded by
/// tcpdump, and the peers are real namespaces answering with their own stacks (ping, ARP).
final class VLANLiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    func capture(_ ns: String, _ dev: String) throws -> (Process, String) { try net.startCapture(ns, dev) }

    /// Lets the last frames land, then stops the capture and decodes it.
    func decoded(_ c: (Process, String)) throws -> [String] {
        usleep(300_000)
        return try net.decodeCapture(c)
    }

    /// A VLAN trunk over a real veth pair: each end is an AF_PACKET port with a VLAN device
    /// for VLAN 10 bridged to an access namespace. Ping crosses, and the trunk carries it tagged.
    func testVLANDevicesCarryPingOverATaggedTrunk() throws {
        let sw = try net.netns("sw"), a = try net.netns("a"), b = try net.netns("b")
        let t = net.tag
        try net.veth("\(t)A", hostNS: sw, peerNS: a, addr: "198.18.10.1/24")
        try net.veth("\(t)B", hostNS: sw, peerNS: b, addr: "198.18.10.2/24")
        try sh(["ip", "-n", sw, "link", "add", "\(t)t1", "type", "veth", "peer", "name", "\(t)t2"])
        for ns in [a, b, sw] { _ = try? sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]) }
        let d = try DaemonProcess(net: net, ns: sw, config: [
            "link add pa type afpacket dev \(t)A", "link add pb type afpacket dev \(t)B",
            "link add tr1 type afpacket dev \(t)t1", "link add tr2 type afpacket dev \(t)t2",
            "link set tr1 up", "link set tr2 up",
            "link add link tr1 name tr1.10 type vlan id 10 egress-qos-map 0:5",
            "link add link tr2 name tr2.10 type vlan id 10",
            "link add brA type bridge", "link add brB type bridge",
            "link set pa master brA up", "link set tr1.10 master brA up",
            "link set pb master brB up", "link set tr2.10 master brB up",
            "link set brA up", "link set brB up",
        ])
        try d.waitReady()
        // Sluice's AF_PACKET ports send past the qdisc layer (PACKET_QDISC_BYPASS), where no
        // tap sees them: each end's capture shows what arrives from the other end.
        let end1 = try capture(sw, "\(t)t1"), end2 = try capture(sw, "\(t)t2")
        let out = try net.ping(from: a, "198.18.10.2", count: 3)
        XCTAssertTrue(out.contains(" 0% packet loss"), out)
        let lines = try decoded(end1) + decoded(end2)
        // A→B leaves tr1 tagged VLAN 10 with PCP 5 (egress-qos-map 0:5); B→A comes back
        // through tr2.10 tagged VLAN 10, PCP 0.
        let requests = lines.filter { $0.contains("ICMP echo request") }
        let replies = lines.filter { $0.contains("ICMP echo reply") }
        XCTAssertGreaterThanOrEqual(requests.count, 3, lines.joined(separator: "\n"))
        XCTAssertGreaterThanOrEqual(replies.count, 3, lines.joined(separator: "\n"))
        XCTAssertTrue(requests.allSatisfy { $0.contains("ethertype 802.1Q (0x8100)") && $0.contains("vlan 10, p 5, ethertype IPv4") }, requests.joined(separator: "\n"))
        XCTAssertTrue(replies.allSatisfy { $0.contains("vlan 10, p 0, ethertype IPv4") }, replies.joined(separator: "\n"))
        // (The trunk ports' own IPv6 duplicate address detection goes untagged, as the kernel's.)
        XCTAssertFalse(lines.contains { $0.contains("ICMP echo") && !$0.contains("vlan 10") }, "nothing crossed the trunk untagged")
        let r = try d.report()
        XCTAssertGreaterThanOrEqual(statsRow(section(r, device: "tr1.10@tr1"), "TX:").dropFirst().first ?? 0, 3, section(r, device: "tr1.10@tr1"))
        XCTAssertGreaterThanOrEqual(statsRow(section(r, device: "tr2.10@tr2"), "RX:").dropFirst().first ?? 0, 3, section(r, device: "tr2.10@tr2"))
        XCTAssertEqual(d.stop(), 0)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }

    /// An ARP request for `ip` from 02:00:00:00:00:5e / 198.18.20.50, with the given 802.1Q tag.
    static func taggedARP(vid: UInt16, target ip: [UInt8]) -> String {
        var f: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0, 0, 0, 0, 0x5E]
        f += [0x81, 0x00, UInt8(vid >> 8), UInt8(vid & 0xFF), 0x08, 0x06]
        f += [0, 1, 0x08, 0, 6, 4, 0, 1, 0x02, 0, 0, 0, 0, 0x5E, 198, 18, 20, 50, 0, 0, 0, 0, 0, 0] + ip
        f += [UInt8](repeating: 0, count: 18)
        return f.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// A VLAN-filtering bridge: access ports in VLANs 10 and 20 (PVID, untagged) and a trunk
    /// with both tagged, whose far side is a namespace that tags in software (AF_PACKET).
    func testFilteringBridgeKeepsVLANsApartWithRealPeers() throws {
        let sw = try net.netns("sw"), a = try net.netns("a"), b = try net.netns("b"), tr = try net.netns("t")
        let t = net.tag
        try net.veth("\(t)A", hostNS: sw, peerNS: a, addr: "198.18.20.1/24")
        try net.veth("\(t)B", hostNS: sw, peerNS: b, addr: "198.18.20.2/24")
        try net.veth("\(t)T", hostNS: sw, peerNS: tr, addr: "198.18.21.1/24")
        for ns in [a, b, tr, sw] { _ = try? sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]) }
        let d = try DaemonProcess(net: net, ns: sw, config: [
            "link add br0 type bridge vlan_filtering 1",
            "link add pa type afpacket dev \(t)A", "link add pb type afpacket dev \(t)B", "link add pt type afpacket dev \(t)T",
            "link set pa master br0 up", "link set pb master br0 up", "link set pt master br0 up",
            "vlan add dev pa vid 10 pvid untagged", "vlan del dev pa vid 1",
            "vlan add dev pb vid 20 pvid untagged", "vlan del dev pb vid 1",
            "vlan add dev pt vid 10", "vlan add dev pt vid 20", "vlan del dev pt vid 1",
            "link set br0 up",
        ])
        try d.waitReady()
        let trunk = try capture(tr, "\(t)Tp")
        let other = try capture(b, "\(t)Bp")
        // A asks for an address nobody has: its ARP broadcasts are VLAN 10 — the trunk sees
        // them tagged, B (same subnet, VLAN 20) never does.
        _ = try? sh(["ip", "netns", "exec", a, "arping", "-c", "2", "-w", "2", "198.18.20.9"], timeout: 10, allowFailure: true)
        _ = try? sh(["ip", "netns", "exec", a, "ping", "-c", "2", "-i", "0.3", "-W", "1", "198.18.20.9"], timeout: 10, allowFailure: true)
        // From the trunk: ARP for A tagged 10 (A answers, tagged 10), for B tagged 20 (B answers,
        // tagged 20), for A tagged 30 (no such VLAN on the trunk: refused, no answer).
        let script = "import socket,sys,binascii,time\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind((sys.argv[1],0))\nfor h in sys.argv[2:]:\n s.send(binascii.unhexlify(h)); time.sleep(0.2)\n"
        try sh(["ip", "netns", "exec", tr, "python3", "-c", script, "\(t)Tp",
                Self.taggedARP(vid: 10, target: [198, 18, 20, 1]),
                Self.taggedARP(vid: 20, target: [198, 18, 20, 2]),
                Self.taggedARP(vid: 30, target: [198, 18, 20, 1])])
        usleep(500_000)
        let onTrunk = try decoded(trunk)
        let onB = try decoded(other)
        let text = onTrunk.joined(separator: "\n")
        let aMAC = try sh(["ip", "netns", "exec", a, "cat", "/sys/class/net/\(t)Ap/address"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let bMAC = try sh(["ip", "netns", "exec", b, "cat", "/sys/class/net/\(t)Bp/address"]).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(onTrunk.contains { $0.hasPrefix(aMAC) && $0.contains("vlan 10, p 0, ethertype ARP") && $0.contains("Request who-has 198.18.20.9") }, text)
        XCTAssertTrue(onTrunk.contains { $0.hasPrefix(aMAC) && $0.contains("vlan 10,") && $0.contains("Reply 198.18.20.1 is-at") }, text)
        XCTAssertTrue(onTrunk.contains { $0.hasPrefix(bMAC) && $0.contains("vlan 20,") && $0.contains("Reply 198.18.20.2 is-at") }, text)
        XCTAssertFalse(onTrunk.contains { $0.contains("vlan 30") && $0.contains("Reply") }, text)
        XCTAssertFalse(onTrunk.contains { $0.contains("ARP") && !$0.contains("vlan ") && !$0.hasPrefix("02:00:00:00:00:5e") }, "nothing left the trunk untagged: \(text)")
        XCTAssertFalse(onB.contains { $0.hasPrefix(aMAC) }, "VLAN 10's frames reached VLAN 20's port: \(onB.joined(separator: "\n"))")
        XCTAssertTrue(onB.contains { $0.contains("Request who-has 198.18.20.2") && !$0.contains("vlan") }, "B got its ARP untagged: \(onB.joined(separator: "\n"))")
        let r = try d.report()
        XCTAssertEqual(number(after: "VLAN_FILTERED", in: section(r, device: "pt")), 1, section(r, device: "pt"))
        XCTAssertEqual(d.stop(), 0)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }
}
