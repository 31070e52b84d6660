import Foundation
import XCTest
import Sluice

/// Real traffic between network namespaces through a running `sluice daemon`.
/// Topology: the daemon runs in namespace "sw"; hosts in "a", "b" (and more) reach it by a TAP
/// (created by Sluice, moved into the host namespace) or by a veth whose "sw" end Sluice attaches
/// to with AF_PACKET. Addresses in 198.18.0.0/24.
final class ForwardingTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    enum Port { case tap, veth }

    /// Brings up sw + hosts, one port per host; returns the daemon and host namespaces.
    func topology(_ ports: [Port], extraConfig: [String] = [], tapMTU: Int? = nil, afpacketOptions: String = "",
                  tapOptions: String = "", extraArgs: [String] = []) throws -> (DaemonProcess, [String], [String]) {
        let sw = try net.netns("sw")
        var config = ["link add br0 type bridge"]
        var hosts: [String] = [], names: [String] = []
        for (i, kind) in ports.enumerated() {
            let ns = try net.netns("h\(i)")
            hosts.append(ns)
            let name = "\(net.tag)p\(i)"
            names.append(name)
            switch kind {
            case .tap: config.append("link add \(name) type tap" + tapOptions)
            case .veth:
                try net.veth(name, hostNS: sw, peerNS: ns, addr: "198.18.0.\(i + 1)/24")
                config.append("link add \(name) type afpacket dev \(name)" + afpacketOptions)
            }
            config.append("link set \(name) master br0 up")
        }
        config.append("link set br0 up")
        config += extraConfig
        let d = try DaemonProcess(net: net, ns: sw, config: config, extraArgs: extraArgs)
        try d.waitReady()
        for (i, kind) in ports.enumerated() where kind == .tap {
            try net.place(names[i], from: sw, into: hosts[i], addr: "198.18.0.\(i + 1)/24", mtu: tapMTU)
        }
        return (d, hosts, names)
    }

    func checkTraffic(_ hosts: [String]) throws {
        let ping = try net.ping(from: hosts[0], "198.18.0.2")
        XCTAssertTrue(ping.contains("3 received"), ping)
        let tcp = try net.iperf(from: hosts[0], to: hosts[1], addr: "198.18.0.2")
        let end = tcp["end"] as! [String: Any]
        let rcv = (end["sum_received"] as! [String: Any])["bits_per_second"] as! Double
        XCTAssertGreaterThan(rcv, 50e6, "TCP through Sluice: \(rcv / 1e6) Mbit/s")
        let udp = try net.udpStream(from: hosts[1], to: hosts[0], addr: "198.18.0.1")
        print("UDP: \(udp)")
        XCTAssertGreaterThan(udp.sent, 1000, "\(udp)")
        XCTAssertLessThan(udp.pathLossPercent, 5, "UDP through Sluice: \(udp)")
    }

    func finish(_ d: DaemonProcess) {
        XCTAssertEqual(d.stop(), 0, d.stderr)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }

    /// Bursts held by the kernel while the daemon is stopped reach the far host whole when it
    /// resumes, for each way a port receives (TAP through io_uring and by read, AF_PACKET by
    /// recvmmsg and by a TPACKET_V3 ring): a poll takes at most the NAPI weight, and what waits
    /// beyond it must be there for the next poll (the AF_XDP port lost it until 2026-12-05).
    /// 600 datagrams a burst: fewer than a TAP's queue (txqueuelen 1000) holds.
    func testBurstsHeldWhileTheDaemonIsStoppedArriveWhole() throws {
        for (kind, opts) in [(Port.tap, ""), (.tap, " rx read"), (.veth, ""), (.veth, " rx ring")] {
            let (d, hosts, _) = try topology([kind, kind], afpacketOptions: kind == .veth ? opts : "", tapOptions: kind == .tap ? opts : "")
            XCTAssertTrue(try net.ping(from: hosts[0], "198.18.0.2", count: 2).contains("2 received"))
            for burst in 1...2 {
                XCTAssertEqual(try d.burstWhileStopped(from: hosts[0], to: hosts[1], addr: "198.18.0.2", count: 600), 600,
                               "\(kind)\(opts), burst \(burst): all of it delivered")
            }
            finish(d)
            net.cleanup()
            net = try TestNet()
        }
    }

    func testTapPorts() throws {
        let (d, hosts, names) = try topology([.tap, .tap])
        try checkTraffic(hosts)
        let r = try d.report()
        for n in names {
            let s = section(r, device: n)
            XCTAssertTrue(s.contains("offload csum,tso4,tso6"), "TAP offloads negotiated: \(s)")
            XCTAssertGreaterThan(statsRow(s, "RX:").dropFirst().first ?? 0, 1000, s)
            XCTAssertEqual(number(after: "promiscuity", in: s), 1)
            // Batches went to the kernel and came from it through io_uring: counted.
            XCTAssertTrue(s.contains("rx uring tx uring") && !s.contains("unavailable"), s)
            XCTAssertGreaterThan(number(after: "uring_frames", in: s) ?? 0, 100, s)
            XCTAssertGreaterThan(number(after: "uring_rx_frames", in: s) ?? 0, 100, s)
        }
        finish(d)
        // The daemon deleted the TAPs it created.
        for (i, n) in names.enumerated() {
            XCTAssertTrue(try sh(["ip", "-n", hosts[i], "link", "show", n], allowFailure: true).contains("does not exist"))
        }
    }

    /// `rx read tx write`: one system call per frame, as before io_uring; the same traffic
    /// crosses.
    func testTapPortsReadingAndWritingFrameByFrame() throws {
        let (d, hosts, names) = try topology([.tap, .tap], tapOptions: " rx read tx write")
        try checkTraffic(hosts)
        let s = section(try d.report(), device: names[0])
        XCTAssertTrue(s.contains("rx read tx write") && !s.contains("uring_"), s)
        finish(d)
    }

    /// With io_uring switched off for the machine (kernel.io_uring_disabled=2: io_uring_setup
    /// answers EPERM), a TAP port says why once and moves frames one system call each.
    func testTapPortsWithoutIOUringFallBackToReadAndWrite() throws {
        let path = "/proc/sys/kernel/io_uring_disabled"
        guard let before = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) else {
            XCTFail("\(path) is missing: this kernel cannot switch io_uring off, so the fallback cannot be shown here")
            return
        }
        try sh(["sysctl", "-qw", "kernel.io_uring_disabled=2"])
        defer { _ = try? sh(["sysctl", "-qw", "kernel.io_uring_disabled=\(before)"]) }
        let (d, hosts, names) = try topology([.tap, .tap])
        try checkTraffic(hosts)
        let s = section(try d.report(), device: names[0])
        XCTAssertTrue(s.contains("io_uring unavailable: Operation not permitted") && !s.contains("uring_frames"), s)
        XCTAssertEqual(d.stop(), 0, d.stderr)
        XCTAssertTrue(d.stderr.contains("tap \(names[0]): io_uring: Operation not permitted"), d.stderr)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }

    func testAFPacketPortsOnVeth() throws {
        let (d, hosts, names) = try topology([.veth, .veth])
        try checkTraffic(hosts)
        let r = try d.report()
        let s = section(r, device: names[0])
        XCTAssertTrue(s.contains("rx mmsg"), s)
        XCTAssertTrue(s.contains("vnet_hdr on"), s)
        // The kernel's own promiscuity count on the veth is held by Sluice's membership.
        let k = try sh(["ip", "-d", "-n", "\(net.tag)-sw", "link", "show", names[0]])
        XCTAssertTrue(k.contains("promiscuity 1"), k)
        finish(d)
        let after = try sh(["ip", "-d", "-n", "\(net.tag)-sw", "link", "show", names[0]])
        XCTAssertTrue(after.contains("promiscuity 0"), "released on exit: \(after)")
    }

    /// The TPACKET_V3 ring receive path, still selectable (`rx ring`).
    func testAFPacketRingReceive() throws {
        let (d, hosts, names) = try topology([.veth, .veth], afpacketOptions: " rx ring")
        try checkTraffic(hosts)
        XCTAssertTrue(section(try d.report(), device: names[0]).contains("rx ring tpacket_v3"))
        finish(d)
    }

    /// `host_txqueuelen` sets the kernel TAP's own txqueuelen (tun's ring into Sluice); without
    /// it the kernel's default stays.
    func testTapHostTxQueueLen() throws {
        let sw = try net.netns("sw")
        let a = "\(net.tag)q", b = "\(net.tag)r"
        let d = try DaemonProcess(net: net, ns: sw, config: ["link add \(a) type tap host_txqueuelen 16", "link add \(b) type tap"])
        try d.waitReady()
        XCTAssertTrue(try sh(["ip", "-n", sw, "link", "show", a]).contains("qlen 16"))
        XCTAssertTrue(try sh(["ip", "-n", sw, "link", "show", b]).contains("qlen 1000"))
        XCTAssertTrue(section(try d.report(), device: a).contains("host_txqueuelen 16"))
        finish(d)
    }

    func testMixedTapAndAFPacket() throws {
        let (d, hosts, _) = try topology([.tap, .veth])
        try checkTraffic(hosts)
        let fdb = try d.report()
        XCTAssertTrue(fdb.contains("master br0 used"), fdb)
        finish(d)
    }

    /// Pings a second apart: each one enters polling mode and, its busy-poll window passed
    /// without another frame, goes back to epoll. The first port's window is set to 2 ms in
    /// the config (a per-port setting), long enough that the worker always polls it at least
    /// once more inside the window, even as a debug build on a loaded machine (a 50 µs window
    /// could pass within the worker's own pass there); the other keeps the daemon's 50 µs.
    func testNAPIModesAreCounted() throws {
        let (d, hosts, names) = try topology([.tap, .tap], extraConfig: ["link set \(net.tag)p0 busy_poll 2000"])
        _ = try net.ping(from: hosts[0], "198.18.0.2", count: 3)
        let report = try d.report()
        let s = section(report, device: names[0])
        XCTAssertTrue(s.contains("busy_poll 2000us"), s)
        XCTAssertTrue(section(report, device: names[1]).contains("busy_poll 50us"), report)
        let poll = number(after: "poll_mode_entries", in: s) ?? 0
        let intr = number(after: "interrupt_mode_entries", in: s) ?? 0
        XCTAssertGreaterThanOrEqual(poll, 3, s)
        XCTAssertGreaterThanOrEqual(intr, 3, "quiet ping traffic goes back to interrupt mode each time: \(s)")
        XCTAssertGreaterThan(number(after: "busy_polls", in: s) ?? 0, 0, "empty polls inside the window: \(s)")
        finish(d)
    }

    /// A multi-queue TAP (`queues 4`): the kernel shows it as such, with mq at its root; eight
    /// TCP flows cross it both ways, spread over its queues. The kernel's per-queue qdisc
    /// counters (what the host sent on each queue) and Sluice's per-queue reads agree on
    /// which queues carried frames: Sluice writes each flow's frames to one queue, and tun
    /// sends the host's frames of that flow back on it.
    func testMultiQueueTap() throws {
        let (d, hosts, names) = try topology([.tap, .tap], tapOptions: " queues 4")
        let shown = try sh(["ip", "-n", hosts[0], "-d", "link", "show", names[0]])
        XCTAssertTrue(shown.contains("multi_queue numqueues 4 "), shown)
        XCTAssertTrue(shown.contains("qdisc mq "), shown)
        let up = try net.iperf(from: hosts[0], to: hosts[1], addr: "198.18.0.2", extra: ["-P", "8"])
        let down = try net.iperf(from: hosts[0], to: hosts[1], addr: "198.18.0.2", port: 5202, extra: ["-P", "8", "-R"])
        for r in [up, down] {
            let rcv = ((r["end"] as! [String: Any])["sum_received"] as! [String: Any])["bits_per_second"] as! Double
            XCTAssertGreaterThan(rcv, 50e6, "TCP through multi-queue TAPs: \(rcv / 1e6) Mbit/s")
        }
        let report = try d.report()
        for (ns, name) in zip(hosts, names) {
            // tc -s: "qdisc pfifo_fast 0: parent :N … Sent B bytes P pkt", queue N-1.
            let tc = try sh(["tc", "-n", ns, "-s", "qdisc", "show", "dev", name])
            var kernelUsed = [Bool](repeating: false, count: 4)
            for block in tc.components(separatedBy: "qdisc ").dropFirst() where block.contains(" parent :") {
                let q = Int(block.components(separatedBy: " parent :")[1].split(separator: " ")[0], radix: 16) ?? 0
                let pkts = Int(block.components(separatedBy: " bytes ")[1].split(separator: " ")[0]) ?? -1
                XCTAssertTrue((1...4).contains(q), tc)
                if (1...4).contains(q) { kernelUsed[q - 1] = pkts > 0 }
            }
            let line = section(report, device: name)
            guard let r = line.range(of: "queue_rx_frames ") else { XCTFail("no queue_rx_frames: \(line)"); continue }
            let counts = line[r.upperBound...].split(separator: " ")[0].split(separator: ",").map { Int($0) ?? -1 }
            XCTAssertEqual(counts.count, 4, line)
            XCTAssertEqual(kernelUsed, counts.map { $0 > 0 }, "queues the host sent on (tc -s) and queues Sluice read from: \(tc)\n\(line)")
            XCTAssertGreaterThan(counts.filter { $0 > 0 }.count, 1, "eight flows spread over more than one queue: \(line)")
        }
        finish(d)
    }

    /// `--busy-poll 0`: a poll that finds fewer frames than the weight goes back to epoll at
    /// once, never polling an empty queue.
    func testBusyPollOffByDaemonOption() throws {
        let (d, hosts, names) = try topology([.tap, .tap], extraArgs: ["--busy-poll", "0"])
        _ = try net.ping(from: hosts[0], "198.18.0.2", count: 3)
        let s = section(try d.report(), device: names[0])
        XCTAssertTrue(s.contains("busy_poll 0us busy_polls 0"), s)
        finish(d)
    }

    /// napi_defer_hard_irqs and gro_flush_timeout, set through the files the kernel offers
    /// (/sys/class/net/DEV/…, written with `sluice exec tee`): after a poll that found frames the
    /// port's interrupt — its descriptor's interest in epoll — stays masked and the port's timer
    /// polls it again after the timeout, up to that many times without frames, then it waits in
    /// epoll again (net/core/dev.c napi_complete_done, napi_watchdog). So with a 30 ms timeout,
    /// pings 10 ms apart wait for the timer (a uniform phase: about 15 ms median), the worker
    /// sleeps meanwhile though the TAP stays readable, and once traffic stops and three empty
    /// timer polls pass a ping crosses at once again.
    func testDeferredHardIrqsLeaveFramesForTheTimer() throws {
        let sock = net.dir + "/defer.sock"
        let (d, hosts, names) = try topology([.tap, .tap], extraArgs: ["--busy-poll", "0", "--socket", sock])
        let bin = try sluiceBinary()
        func rtts(_ count: Int) throws -> [Double] {
            let out = try sh(["ip", "netns", "exec", hosts[0], "ping", "-c", String(count), "-i", "0.01", "-W", "1", "198.18.0.2"], timeout: 30)
            return out.components(separatedBy: "time=").dropFirst().compactMap { Double($0.prefix { $0 == "." || $0.isNumber }) }.sorted()
        }
        func cpuTicks() -> Int {
            let stat = (try? String(contentsOfFile: "/proc/\(d.process.processIdentifier)/stat", encoding: .utf8)) ?? ""
            let f = stat.split(separator: ")").last?.split(separator: " ") ?? []
            return f.count > 12 ? (Int(f[11]) ?? 0) + (Int(f[12]) ?? 0) : -1
        }
        // Host a's IPv6 (router solicitations, MLD reports at random times) would be frames
        // that keep renewing the deferral: off, so only the pings reach the port.
        _ = try sh(["ip", "netns", "exec", hosts[0], "sysctl", "-qw", "net.ipv6.conf.\(names[0]).disable_ipv6=1"])
        _ = try net.ping(from: hosts[0], "198.18.0.2", count: 2)
        let before = try rtts(20)
        XCTAssertEqual(before.count, 20)
        XCTAssertLessThan(before[before.count / 2], 3, "no deferral: \(before)")
        for (file, value) in [("napi_defer_hard_irqs", "3"), ("gro_flush_timeout", "30000000")] {
            _ = try sh(["sh", "-c", "echo \(value) | \(bin) exec --socket \(sock) tee /sys/class/net/\(names[0])/\(file)"])
            let read = try sh([bin, "exec", "--socket", sock, "cat", "/sys/class/net/\(names[0])/\(file)"])
            XCTAssertEqual(read, value + "\n")
        }
        let cpu0 = cpuTicks()
        let deferred = try rtts(40)
        let cpu = cpuTicks() - cpu0
        XCTAssertEqual(deferred.count, 40)
        XCTAssertGreaterThan(deferred[deferred.count / 2], 5, "requests wait for the 30 ms timer: \(deferred)")
        XCTAssertLessThan(deferred.last ?? 99, 45, "no request waits longer than the timer and the way back: \(deferred)")
        XCTAssertLessThan(cpu, 15, "the worker sleeps while the port is masked (CPU ticks over 0.4 s of pings)")
        var s = section(try d.report(), device: names[0])
        XCTAssertTrue(s.contains("defer_hard_irqs 3 gro_flush_timeout 30000000"), s)
        XCTAssertGreaterThanOrEqual(number(after: "timer_polls", in: s) ?? 0, 8, s)
        // Quiet: three empty timer polls (90 ms), then the interrupt is re-armed.
        usleep(300_000)
        s = section(try d.report(), device: names[0])
        XCTAssertFalse(s.contains(" masked"), s)
        XCTAssertTrue(s.contains("napi: weight 64 interrupt"), s)
        let after = try rtts(1)
        XCTAssertLessThan(after.first ?? 99, 3, "re-armed: the first ping crosses at once")
        finish(d)
    }

    func testOversizeFramesAreCountedAndForwardingGoesOn() throws {
        // The kernel side of the TAPs allows 9000 bytes; Sluice's ports have MTU 1500.
        let (d, hosts, names) = try topology([.tap, .tap], tapMTU: 9000)
        _ = try sh(["ip", "netns", "exec", hosts[0], "ping", "-c", "3", "-i", "0.2", "-W", "1", "-s", "3000", "198.18.0.2"], allowFailure: true)
        let s = section(try d.report(), device: names[0])
        XCTAssertGreaterThanOrEqual(number(after: "PKT_TOO_BIG", in: s) ?? 0, 3, s)
        let ping = try net.ping(from: hosts[0], "198.18.0.2")
        XCTAssertTrue(ping.contains("3 received"), ping)
        finish(d)
    }

    func testTapDeletedAndNamespaceDestroyedUnderTheDaemon() throws {
        let (d, hosts, names) = try topology([.tap, .tap, .tap, .veth])
        XCTAssertTrue(try net.ping(from: hosts[2], "198.18.0.4").contains("3 received"))
        try sh(["ip", "-n", hosts[2], "link", "del", names[2]])     // TAP deleted
        try sh(["ip", "netns", "del", hosts[3]])                    // veth peer's namespace destroyed
        usleep(300_000)
        let ping = try net.ping(from: hosts[0], "198.18.0.2")
        XCTAssertTrue(ping.contains("3 received"), "other ports keep forwarding: \(ping)")
        let r = try d.report()
        for n in [names[2], names[3]] {
            let s = section(r, device: n)
            XCTAssertFalse(s.contains("LOWER_UP"), "carrier off: \(s)")
        }
        XCTAssertTrue(d.stderr.contains(names[2]), d.stderr)
        XCTAssertTrue(d.process.isRunning)
        finish(d)
    }

    func testMalformedConfigLineExitsWithOneClearLineAndCleansUp() throws {
        let sw = try net.netns("sw")
        let tap = "\(net.tag)x"
        let d = try DaemonProcess(net: net, ns: sw, config: ["link add \(tap) type tap", "link add br0 type bridge", "lnk set \(tap) master br0"])
        XCTAssertEqual(d.waitExit(), 1)
        let lines = d.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, d.stderr)
        XCTAssertTrue(d.stderr.contains(".conf:3: Error: unknown object \"lnk\""), d.stderr)
        XCTAssertTrue(try sh(["ip", "-n", sw, "link", "show", tap], allowFailure: true).contains("does not exist"), "TAP removed")
    }

    func testBadCommandLineArguments() throws {
        let bin = try sluiceBinary()
        for (args, want) in [(["daemon"], "--config"),
                             (["daemon", "--config", "/nonexistent"], "cannot read /nonexistent"),
                             (["daemon", "--config", "/dev/null", "--clock", "bogus"], "--clock must be real or virtual"),
                             (["daemon", "--config", "/dev/null", "--cpus", "x-y"], "invalid CPU list"),
                             (["daemon", "--config", "/dev/null", "--busy-poll", "2000000"], "--busy-poll must be in 0...1000000"),
                             (["frobnicate"], "Unexpected argument")] {
            let out = try sh([bin] + args, allowFailure: true)
            XCTAssertTrue(out.contains(want), "\(args): \(out)")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: bin)
            p.arguments = args
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run(); p.waitUntilExit()
            XCTAssertNotEqual(p.terminationStatus, 0, "\(args)")
        }
    }

    /// A pcap replayed through the bridge in virtual time gives the output the bridge's rules
    /// predict, readable by tcpdump and tshark, byte-identical across runs.
    func testPcapReplayThroughTheBridge() throws {
        let a = MACAddress(raw: 0x0200_0000_000A), b = MACAddress(raw: 0x0200_0000_000B), c = MACAddress(raw: 0x0200_0000_000C)
        let t0: UInt64 = 1_700_000_000 * Time.s
        func f(_ dst: MACAddress, _ src: MACAddress) -> [UInt8] { FrameBuilder.udpFrame(dst: dst, src: src) }
        let dir = net.dir
        try PcapFile.write("\(dir)/in1.pcap", [
            .init(timestamp: t0, data: f(.broadcast, a)),
            .init(timestamp: t0 + 2_000, data: f(b, a)),
            .init(timestamp: t0 + 4_000, data: f(c, a)),
            .init(timestamp: t0 + 5_000, data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),               // runt
            .init(timestamp: t0 + 6_000, data: FrameBuilder.udpFrame(dst: b, src: a, frameLength: 2000)), // > MTU
        ])
        try PcapFile.write("\(dir)/in2.pcap", [.init(timestamp: t0 + 1_000, data: f(a, b)), .init(timestamp: t0 + 3_000, data: f(.broadcast, b))])
        func replay(_ tag: String) throws -> DaemonProcess {
            let d = try DaemonProcess(net: net, ns: nil, config: [
                "link add br0 type bridge",
                "link add p1 type pcap in \(dir)/in1.pcap out \(dir)/\(tag)-o1.pcap",
                "link add p2 type pcap in \(dir)/in2.pcap out \(dir)/\(tag)-o2.pcap",
                "link add p3 type pcap out \(dir)/\(tag)-o3.pcap",
                "link set p1 master br0 up mtu 1500 napi_weight 1",
                "link set p2 master br0 up mtu 1500 napi_weight 1",
                "link set p3 master br0 up", "link set br0 up",
            ], extraArgs: ["--clock", "virtual", "--exit-when-idle"])
            XCTAssertEqual(d.waitExit(), 0, d.stderr)
            return d
        }
        let d = try replay("r1")
        // Order with weight 1 alternates p1/p2: bcast(A), B→A, A→B, bcast(B), A→C(unknown), runt, giant.
        func pairs(_ file: String) throws -> [String] {
            try sh(["tshark", "-r", "\(dir)/\(file)", "-T", "fields", "-e", "eth.src", "-e", "eth.dst"], stderr: false)
                .split(separator: "\n").map { $0.replacingOccurrences(of: "\t", with: ">") }
        }
        let A = "02:00:00:00:00:0a", B = "02:00:00:00:00:0b", C = "02:00:00:00:00:0c", BC = "ff:ff:ff:ff:ff:ff"
        XCTAssertEqual(try pairs("r1-o1.pcap"), ["\(B)>\(A)", "\(B)>\(BC)"])
        XCTAssertEqual(try pairs("r1-o2.pcap"), ["\(A)>\(BC)", "\(A)>\(B)", "\(A)>\(C)"])
        XCTAssertEqual(try pairs("r1-o3.pcap"), ["\(A)>\(BC)", "\(B)>\(BC)", "\(A)>\(C)"])
        let td = try sh(["tcpdump", "-nn", "-r", "\(dir)/r1-o3.pcap"], stderr: false)
        XCTAssertTrue(td.contains("198.18.0.1.9 > 198.18.0.2.9: UDP"), td)
        let s = section(d.stdout, device: "p1")
        XCTAssertEqual(number(after: "PKT_TOO_SMALL", in: s), 1, s)
        XCTAssertEqual(number(after: "PKT_TOO_BIG", in: s), 1, s)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"))
        // Deterministic: a second run writes the same bytes, timestamps included.
        _ = try replay("r2")
        for o in ["o1", "o2", "o3"] {
            XCTAssertEqual(FileManager.default.contents(atPath: "\(dir)/r1-\(o).pcap"), FileManager.default.contents(atPath: "\(dir)/r2-\(o).pcap"), o)
        }
        let ts = try sh(["tshark", "-r", "\(dir)/r1-o1.pcap", "-T", "fields", "-e", "frame.time_epoch"], stderr: false)
        XCTAssertTrue(ts.hasPrefix("1700000000.000001000"), "virtual time follows input timestamps: \(ts)")
    }
}
