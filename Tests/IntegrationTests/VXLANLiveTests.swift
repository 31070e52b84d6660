import Foundation
import XCTest

/// Sluice as a VXLAN tunnel endpoint facing the kernel's own VXLAN (RFC 7348): a namespace on
/// Sluice's bridge reaches a namespace behind a kernel vxlan device over a routed underlay.
/// The kernel is the other end, so what Sluice sends must be what the kernel's vxlan_rcv
/// accepts, and what the kernel sends what Sluice takes apart.
final class VXLANLiveTests: XCTestCase {
    var net: TestNet!
    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    /// The kernel's end in `ns`: vxlan0, VNI 42 to 198.18.0.1 on port 4789, 198.18.5.2/24.
    func kernelVTEP(_ ns: String) throws {
        try sh(["ip", "-n", ns, "link", "add", "vxlan0", "mtu", "1450", "type", "vxlan", "id", "42", "remote", "198.18.0.1", "local", "198.18.0.2", "dstport", "4789"])
        try sh(["ip", "-n", ns, "addr", "add", "198.18.5.2/24", "dev", "vxlan0"])
        try sh(["ip", "-n", ns, "link", "set", "vxlan0", "up"])
    }

    /// TCP from `sa` to the kernel's end, in bit/s.
    func tcp(_ sa: String, _ kb: String) throws -> Double {
        let r = try net.iperf(from: sa, to: kb, addr: "198.18.5.2", seconds: 2)
        return ((r["end"] as! [String: Any])["sum_received"] as! [String: Any])["bits_per_second"] as! Double
    }

    func testPingAndTCPThroughATunnelToTheKernelsVXLAN() throws {
        let sw = try net.netns("vs")
        let ta = "\(net.tag)a", tb = "\(net.tag)b"
        let d = try DaemonProcess(net: net, ns: sw, config: [
            "link add br0 type bridge", "link add \(ta) type tap", "link add \(tb) type tap",
            "link set \(ta) master br0 up", "link set \(tb) up", "link set br0 up",
            "addr add 198.18.0.1/24 dev \(tb)",
            "link add vx0 mtu 1450 type vxlan id 42 remote 198.18.0.2 local 198.18.0.1 dstport 4789",
            "link set vx0 master br0 up",
        ])
        try d.waitReady()
        let sa = try net.netns("va"), kb = try net.netns("vk")
        try net.place(ta, from: sw, into: sa, addr: "198.18.5.1/24", mtu: 1450)
        try net.place(tb, from: sw, into: kb, addr: "198.18.0.2/24")
        try kernelVTEP(kb)
        let (cap, pcap) = try net.startCapture(kb, tb, seconds: 180)
        let ping = try net.ping(from: sa, "198.18.5.2", count: 3)
        XCTAssertTrue(ping.contains(" 0% packet loss"), ping)
        let bps = try tcp(sa, kb)
        print(String(format: "TCP through Sluice's VXLAN to the kernel's: %.0f Mbit/s", bps / 1e6))
        XCTAssertGreaterThan(bps, 50e6)
        // On the underlay: UDP to 4789, VXLAN with VNI 42 (tshark's own dissector).
        kill(cap.processIdentifier, SIGINT)
        cap.waitUntilExit()
        let lines = try sh(["tshark", "-r", pcap, "-Y", "vxlan", "-T", "fields", "-e", "vxlan.vni", "-e", "udp.dstport", "-e", "ip.src", "-e", "udp.checksum.status"], allowFailure: true, stderr: false)
            .split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.hasPrefix("42\t4789\t198.18.0.1") }, lines.prefix(5).joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0.hasPrefix("42\t4789\t198.18.0.2") }, lines.prefix(5).joined(separator: "\n"))
        XCTAssertEqual(d.stop(), 0)
    }

    /// Head-end replication and learning as vxlan_core, with two of the kernel's VTEPs as the
    /// remotes: with two all-zeros entries a broadcast leaves once to each remote; the answers
    /// teach the table which MAC is behind which remote (the MACs are read from the kernel's
    /// devices, and the entry reads as the kernel's own learnt entry for Sluice's host); unicast
    /// then goes to that remote alone.
    func testHeadEndReplicationAndLearningWithTwoKernelVTEPs() throws {
        let sw = try net.netns("rs")
        let ta = "\(net.tag)a", tb = "\(net.tag)b"
        let sock = net.dir + "/vx.sock"
        let d = try DaemonProcess(net: net, ns: sw, config: [
            "link add br0 type bridge", "link add \(ta) type tap", "link add \(tb) type tap",
            "link set \(ta) master br0 up", "link set \(tb) up", "link set br0 up",
            "addr add 198.18.0.1/24 dev \(tb)",
            "link add vx0 mtu 1450 type vxlan id 42 local 198.18.0.1 dstport 4789",
            "link set vx0 master br0 up",
        ], extraArgs: ["--socket", sock])
        try d.waitReady()
        func exec(_ args: [String]) throws -> String { try sh([try sluiceBinary(), "exec", "--socket", sock] + args, timeout: 10) }
        let sa = try net.netns("ra"), ku = try net.netns("ru")
        try net.place(ta, from: sw, into: sa, addr: "198.18.5.1/24", mtu: 1450)
        // The underlay: Sluice's TAP and two kernel VTEPs on a kernel bridge.
        try sh(["ip", "-n", sw, "link", "set", tb, "netns", ku])
        try sh(["ip", "-n", ku, "link", "add", "ubr", "type", "bridge"])
        try sh(["ip", "-n", ku, "link", "set", tb, "master", "ubr", "up"])
        try sh(["ip", "-n", ku, "link", "set", "ubr", "up"])
        func mac(_ ns: String, _ dev: String) throws -> String {
            let j = try sh(["ip", "-n", ns, "-j", "link", "show", dev])
            let obj = try JSONSerialization.jsonObject(with: Data(j.utf8)) as! [[String: Any]]
            return obj[0]["address"] as! String
        }
        var vtep: [String: (ns: String, mac: String)] = [:]
        for i in [2, 3] {
            let k = try net.netns("rk\(i)"), ip = "198.18.0.\(i)"
            try sh(["ip", "-n", ku, "link", "add", "u\(i)", "type", "veth", "peer", "name", "e\(i)", "netns", k])
            try sh(["ip", "-n", ku, "link", "set", "u\(i)", "master", "ubr", "up"])
            try sh(["ip", "-n", k, "addr", "add", "\(ip)/24", "dev", "e\(i)"])
            try sh(["ip", "-n", k, "link", "set", "e\(i)", "up"])
            try sh(["ip", "-n", k, "link", "add", "vxlan0", "mtu", "1450", "type", "vxlan", "id", "42", "remote", "198.18.0.1", "local", ip, "dstport", "4789"])
            try sh(["ip", "-n", k, "addr", "add", "198.18.5.\(i)/24", "dev", "vxlan0"])
            try sh(["ip", "-n", k, "link", "set", "vxlan0", "up"])
            vtep[ip] = (k, try mac(k, "vxlan0"))
            _ = try exec(["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", ip, "self", "permanent"])
        }
        let hostMAC = try mac(sa, ta)
        let cap = try net.startCapture(ku, tb, seconds: 180)
        for i in [2, 3] {
            let ping = try net.ping(from: sa, "198.18.5.\(i)", count: 3)
            XCTAssertTrue(ping.contains(" 0% packet loss"), ping)
        }
        // Learnt: each kernel VTEP's MAC behind its own address, written as the kernel writes
        // the entry it learnt for Sluice's host.
        let table = try exec(["bridge", "fdb", "show", "dev", "vx0"]).split(separator: "\n").map(String.init)
        for (ip, v) in vtep {
            let ours = table.first { $0.hasPrefix(v.mac + " ") && $0.hasSuffix(" self ") }   // the vxlan's own entry, not br0's
            XCTAssertTrue(ours?.contains(" dst \(ip) ") ?? false, table.joined(separator: "\n"))
            let theirs = try sh(["bridge", "-n", v.ns, "fdb", "show", "dev", "vxlan0"]).split(separator: "\n").first { $0.hasPrefix(hostMAC + " ") && $0.hasSuffix(" self ") }
            XCTAssertEqual(theirs.map { $0.replacingOccurrences(of: hostMAC, with: "M").replacingOccurrences(of: "198.18.0.1", with: "IP") },
                           ours.map { $0.replacingOccurrences(of: v.mac, with: "M").replacingOccurrences(of: ip, with: "IP") })
        }
        kill(cap.0.processIdentifier, SIGINT)
        cap.0.waitUntilExit()
        func fields(_ filter: String) throws -> [String] {
            try sh(["tshark", "-r", cap.1, "-Y", filter, "-T", "fields", "-e", "ip.dst"], allowFailure: true, stderr: false)
                .split(separator: "\n").map(String.init)
        }
        // Each ARP request from the host (a broadcast) left once to each remote.
        let arps = try fields("vxlan && arp.opcode == 1 && arp.src.proto_ipv4 == 198.18.5.1")
        let to2 = arps.filter { $0 == "198.18.0.2" }.count, to3 = arps.filter { $0 == "198.18.0.3" }.count
        XCTAssertGreaterThan(to2, 0, arps.joined(separator: " "))
        XCTAssertEqual(to2, to3, arps.joined(separator: " "))
        XCTAssertEqual(to2 + to3, arps.count, arps.joined(separator: " "))
        // Echo requests to a learnt MAC went to its remote alone.
        for i in [2, 3] {
            let echoes = try fields("vxlan && icmp.type == 8 && ip.dst == 198.18.5.\(i)")
            XCTAssertEqual(echoes.count, 3, echoes.joined(separator: " "))
            XCTAssertTrue(echoes.allSatisfy { $0 == "198.18.0.\(i),198.18.5.\(i)" }, echoes.joined(separator: " "))
        }
        XCTAssertEqual(d.stop(), 0)
    }

    /// The OVS-TC way: no bridge, an external (collect_metadata) vxlan, tunnel_key setting the
    /// endpoint and VNI on what a port receives before mirred hands it to the vxlan device,
    /// and on the way back tunnel_key unset before mirred hands it to the port.
    func testTunnelKeyOnAnExternalVXLANAsOVSTCDoes() throws {
        let sw = try net.netns("ts")
        let ta = "\(net.tag)a", tb = "\(net.tag)b"
        let d = try DaemonProcess(net: net, ns: sw, config: [
            "link add \(ta) type tap", "link add \(tb) type tap", "link set \(ta) up", "link set \(tb) up",
            "addr add 198.18.0.1/24 dev \(tb)",
            "link add vx0 type vxlan external dstport 4789", "link set vx0 up",
            "qdisc add dev \(ta) ingress",
            "filter add dev \(ta) parent ffff: protocol all prio 1 matchall action tunnel_key set src_ip 198.18.0.1 dst_ip 198.18.0.2 id 42 dst_port 4789 action mirred egress redirect dev vx0",
            "qdisc add dev vx0 ingress",
            "filter add dev vx0 parent ffff: protocol all prio 1 matchall action tunnel_key unset action mirred egress redirect dev \(ta)",
        ])
        try d.waitReady()
        let sa = try net.netns("ta"), kb = try net.netns("tk")
        try net.place(ta, from: sw, into: sa, addr: "198.18.5.1/24", mtu: 1450)
        try net.place(tb, from: sw, into: kb, addr: "198.18.0.2/24")
        try kernelVTEP(kb)
        let ping = try net.ping(from: sa, "198.18.5.2", count: 3)
        XCTAssertTrue(ping.contains(" 0% packet loss"), ping)
        let bps = try tcp(sa, kb)
        print(String(format: "TCP through tunnel_key + external vxlan to the kernel's vxlan: %.0f Mbit/s", bps / 1e6))
        XCTAssertGreaterThan(bps, 50e6)
        XCTAssertEqual(d.stop(), 0)
    }
}
