import Foundation
import XCTest

/// AF_XDP ports on veth: the daemon binds an XSK socket to the switch-side end of each veth;
/// libxdp attaches its redirect program, which must be gone once the daemon exits.
/// The hosts turn their veth's transmit checksum offload off: an XDP frame carries no checksum
/// state, so a CHECKSUM_PARTIAL frame from a local stack could not be told from a corrupt one.
final class XDPTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    func topology(mode: String, mtu: Int? = nil) throws -> (DaemonProcess, String, [String], [String]) {
        let sw = try net.netns("sw")
        var hosts: [String] = [], names: [String] = []
        var config = ["link add br0 type bridge"]
        for i in 0..<2 {
            let ns = try net.netns("h\(i)")
            let name = "\(net.tag)x\(i)"
            try net.veth(name, hostNS: sw, peerNS: ns, addr: "198.18.5.\(i + 1)/24")
            try sh(["ip", "netns", "exec", ns, "ethtool", "-K", name + "p", "tx", "off"])
            if let mtu {
                try sh(["ip", "-n", sw, "link", "set", name, "mtu", String(mtu)])
                try sh(["ip", "-n", ns, "link", "set", name + "p", "mtu", String(mtu)])
            }
            config += ["link add \(name) type afxdp dev \(name) mode \(mode)", "link set \(name) master br0 up"]
            hosts.append(ns); names.append(name)
        }
        config.append("link set br0 up")
        let d = try DaemonProcess(net: net, ns: sw, config: config)
        try d.waitReady()
        return (d, sw, hosts, names)
    }

    func testAFXDPPortsForwardTCPAndUDPAndDetachOnExit() throws {
        let (d, sw, hosts, names) = try topology(mode: "auto")
        // libxdp's program is on the switch-side veth while the port lives.
        XCTAssertTrue(try sh(["ip", "-n", sw, "link", "show", names[0]]).contains("prog/xdp"))
        let ping = try net.ping(from: hosts[0], "198.18.5.2")
        XCTAssertTrue(ping.contains("3 received"), ping)
        let tcp = try net.iperf(from: hosts[0], to: hosts[1], addr: "198.18.5.2")
        let rcv = ((tcp["end"] as! [String: Any])["sum_received"] as! [String: Any])["bits_per_second"] as! Double
        XCTAssertGreaterThan(rcv, 50e6, "TCP through AF_XDP ports: \(rcv / 1e6) Mbit/s")
        let udp = try net.udpStream(from: hosts[1], to: hosts[0], addr: "198.18.5.1")
        print("UDP: \(udp)")
        XCTAssertGreaterThan(udp.sent, 1000, "\(udp)")
        XCTAssertLessThan(udp.pathLossPercent, 5, "UDP through AF_XDP ports: \(udp)")
        let s = section(try d.report(), device: names[0])
        XCTAssertTrue(s.contains("afxdp dev \(names[0]) queue 0 mode"), s)
        XCTAssertGreaterThan(statsRow(s, "RX:").dropFirst().first ?? 0, 1000, s)
        XCTAssertEqual(d.stop(), 0, d.stderr)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
        for n in names {
            XCTAssertFalse(try sh(["ip", "-n", sw, "link", "show", n]).contains("prog/xdp"), "XDP program removed from \(n)")
        }
        print(String(format: "TCP through AF_XDP ports (copy mode on veth): %.0f Mbit/s", rcv / 1e6))
    }

    /// Bursts that wait in the rx ring while the daemon is stopped are received whole when it
    /// resumes, and leave every UMEM frame circulating: a poll takes at most the NAPI weight,
    /// and what it looked at beyond that must stay in the ring for the next one. (A peek that
    /// skipped it lost those frames, and their UMEM frames, for good: under TCP the fill ring
    /// then ran empty and the kernel dropped a fifth of the segments, `fill_ring_empty` in the
    /// port's report.) Each burst is 1 500 datagrams, fewer than the 2 048 the ring holds.
    func testBurstsWaitingInTheRxRingAreReceivedWhole() throws {
        let (d, _, hosts, names) = try topology(mode: "copy")
        XCTAssertTrue(try net.ping(from: hosts[0], "198.18.5.2", count: 2).contains("2 received"))
        for burst in 1...3 {
            XCTAssertEqual(try d.burstWhileStopped(from: hosts[0], to: hosts[1], addr: "198.18.5.2", count: 1500), 1500, "burst \(burst): all of it delivered")
        }
        let s = section(try d.report(), device: names[0])
        XCTAssertTrue(s.contains("fill_ring_empty 0") && s.contains("rx_ring_full 0"), s)
        XCTAssertEqual(d.stop(), 0, d.stderr)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }

    /// Jumbo frames (MTU 9000 on both veth ends) through AF_XDP ports: veth takes an XDP
    /// program on a peer with an MTU past one page only when the program handles frags
    /// (veth_xdp_set), and an XSK receives a frame past one UMEM frame only when bound with
    /// XDP_USE_SG (xsk_rcv_check). With both, a 9014-byte frame crosses as a chain of three
    /// descriptors each way: unfragmented pings of 8972 bytes of payload (9000-byte IP packets,
    /// DF set) are answered, and TCP runs with 8948-byte segments; the program goes with the
    /// daemon.
    func testJumboFramesCrossAFXDPPortsAsChainsOfDescriptors() throws {
        let (d, sw, hosts, names) = try topology(mode: "copy", mtu: 9000)
        let s0 = section(try d.report(), device: names[0])
        XCTAssertTrue(s0.contains("afxdp dev \(names[0])"), "an AF_XDP port, not the AF_PACKET fallback: \(s0)\n\(d.stderr)")
        XCTAssertTrue(s0.contains("multibuffer on"), s0)
        XCTAssertTrue(try sh(["ip", "-n", sw, "link", "show", names[0]]).contains("prog/xdp"))
        let ping = try net.ping(from: hosts[0], "198.18.5.2", count: 3, size: 8972)
        XCTAssertTrue(ping.contains("3 received"), ping)
        XCTAssertTrue(ping.contains("8980 bytes from 198.18.5.2"), ping)
        // The same with DF set: nothing may fragment it on the way.
        let df = try sh(["ip", "netns", "exec", hosts[0], "ping", "-M", "do", "-c", "3", "-i", "0.2", "-W", "2", "-s", "8972", "198.18.5.2"], timeout: 30)
        XCTAssertTrue(df.contains("3 received"), df)
        // TCP at the jumbo MSS: 9000 - 40 = 8960, less 12 for timestamps when a's stack uses
        // them (tcp_mss_to_mtu, tcp_established_options) — b's capture must see such segments.
        let cap = net.dir + "/jumbo.pcap"
        let dump = Process()
        dump.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        dump.arguments = ["15", "ip", "netns", "exec", hosts[1], "tcpdump", "-i", names[1] + "p", "-s", "128", "-c", "200", "-w", cap, "tcp", "port", "5201"]
        dump.standardOutput = FileHandle.nullDevice; dump.standardError = FileHandle.nullDevice
        try dump.run()
        usleep(500_000)
        let tcp = try net.iperf(from: hosts[0], to: hosts[1], addr: "198.18.5.2")
        dump.waitUntilExit()
        let rcv = ((tcp["end"] as! [String: Any])["sum_received"] as! [String: Any])["bits_per_second"] as! Double
        print(String(format: "TCP through AF_XDP ports at MTU 9000 (multi-buffer, copy mode): %.0f Mbit/s", rcv / 1e6))
        XCTAssertGreaterThan(rcv, 50e6)
        let lens = try sh(["tshark", "-r", cap, "-T", "fields", "-e", "tcp.len"]).split(separator: "\n").compactMap { Int($0) }
        let ts = try sh(["ip", "netns", "exec", hosts[0], "sysctl", "-n", "net.ipv4.tcp_timestamps"]).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(lens.max(), ts == "0" ? 8960 : 8948, "the largest segment b received: \(lens.max() ?? 0) bytes")
        let s1 = section(try d.report(), device: names[1])
        XCTAssertTrue(s1.contains("multibuffer on"), s1)
        XCTAssertEqual(d.stop(), 0, d.stderr)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
        for n in names {
            XCTAssertFalse(try sh(["ip", "-n", sw, "link", "show", n]).contains("prog/xdp"), "XDP program removed from \(n)")
        }
    }

    /// `multibuffer off`: libxdp's own program and one frame per descriptor, as before
    /// multi-buffer; the port says so and forwards.
    func testMultiBufferOffUsesLibxdpsProgram() throws {
        let (d, _, hosts, names) = try topology(mode: "copy multibuffer off")
        let s = section(try d.report(), device: names[0])
        XCTAssertTrue(s.contains("afxdp dev \(names[0])") && s.contains("multibuffer off (multibuffer off asked)"), s)
        XCTAssertTrue(try net.ping(from: hosts[0], "198.18.5.2").contains("3 received"))
        XCTAssertEqual(d.stop(), 0, d.stderr)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }

    /// veth has no zero-copy AF_XDP: asking for it falls back to AF_PACKET, says so, and forwards.
    func testZeroCopyWhereTheDriverLacksItFallsBackToAFPacket() throws {
        let (d, _, hosts, names) = try topology(mode: "zerocopy")
        XCTAssertTrue(d.stderr.contains("falling back to AF_PACKET"), d.stderr)
        XCTAssertTrue(section(try d.report(), device: names[0]).contains("afpacket dev"))
        XCTAssertTrue(try net.ping(from: hosts[0], "198.18.5.2").contains("3 received"))
        XCTAssertEqual(d.stop(), 0, d.stderr)
    }

    /// The veth's namespace deleted under the daemon: the port ends with a message, nothing
    /// spins, nothing leaks.
    func testInterfaceGoneUnderTheDaemon() throws {
        let (d, _, hosts, names) = try topology(mode: "auto")
        XCTAssertTrue(try net.ping(from: hosts[0], "198.18.5.2").contains("3 received"))
        try sh(["ip", "netns", "del", hosts[1]])
        _ = try? net.ping(from: hosts[0], "198.18.5.2")
        usleep(1_500_000)
        XCTAssertTrue(d.stderr.contains("\(names[1]): afxdp \(names[1]): kernel interface gone"), d.stderr)
        XCTAssertTrue(d.process.isRunning)
        XCTAssertEqual(d.stop(), 0, d.stderr)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }

    func testBadAFXDPArguments() throws {
        let sw = try net.netns("sw")
        for (line, words) in [("link add q type afxdp", "needs \"dev KERNEL_IFNAME\""),
                              ("link add q type afxdp dev \(net.tag)nope", "no kernel interface"),
                              ("link add q type afxdp dev lo mode fast", "mode must be auto, copy or zerocopy")] {
            let d = try DaemonProcess(net: net, ns: sw, config: [line])
            XCTAssertEqual(d.waitExit(), 1)
            XCTAssertTrue(d.stderr.contains(words), "\(line): \(d.stderr)")
        }
    }
}
