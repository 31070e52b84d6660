import Foundation
import XCTest
import Sluice
import SluiceFrontend
import SluiceVIF

/// Virtual NICs with real peers: `sluice-vnic --tap` gives a namespace's kernel stack a vif
/// port of Sluice's bridge; the library frontend (`SluiceFrontend`) in this test process talks
/// to a kernel stack through the same bridge.
final class VIFLiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    func vnicBinary() throws -> String {
        let p = URL(fileURLWithPath: try sluiceBinary()).deletingLastPathComponent().appendingPathComponent("sluice-vnic").path
        guard FileManager.default.isExecutableFile(atPath: p) else { throw HarnessError("sluice-vnic not built next to sluice (swift build)") }
        return p
    }

    /// `sluice-vnic --vif VIF --tap TAP` in namespace `ns`, our child; waits for its TAP.
    func vnic(_ ns: String, vif: String, tap: String, sock: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        p.arguments = ["netns", "exec", ns, try vnicBinary(), "--vif", vif, "--tap", tap, "--socket", sock]
        let log = net.dir + "/vnic-\(vif).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: log)
        try p.run()
        net.onCleanup {
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("connected") { return p }
            if !p.isRunning { break }
            usleep(50_000)
        }
        throw HarnessError("sluice-vnic did not connect: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    func daemon(_ sw: String, sock: String, vif1: String = "") throws -> DaemonProcess {
        let d = try DaemonProcess(net: net, ns: sw, config: [
            "link add br0 type bridge", "link add vif1 type vif" + vif1, "link add vif2 type vif",
            "link set vif1 master br0 up", "link set vif2 master br0 up", "link set br0 up",
        ], extraArgs: ["--socket", sock])
        try d.waitReady()
        return d
    }

    func testTwoVirtualNICsCarryPingAndTCPAndAKilledFrontendLeavesTheDaemonHealthy() throws {
        let sw = try net.netns("sw"), a = try net.netns("a"), b = try net.netns("b")
        let sock = net.dir + "/vif.sock"
        let d = try daemon(sw, sock: sock)
        let ta = "\(net.tag)v1", tb = "\(net.tag)v2"
        var va = try vnic(a, vif: "vif1", tap: ta, sock: sock)
        let vb = try vnic(b, vif: "vif2", tap: tb, sock: sock)
        try sh(["ip", "-n", a, "addr", "add", "198.18.60.1/24", "dev", ta]); try sh(["ip", "-n", a, "link", "set", ta, "up"])
        try sh(["ip", "-n", b, "addr", "add", "198.18.60.2/24", "dev", tb]); try sh(["ip", "-n", b, "link", "set", tb, "up"])
        XCTAssertTrue(try net.ping(from: a, "198.18.60.2", count: 3).contains(" 0% packet loss"))
        let res = try net.iperf(from: a, to: b, addr: "198.18.60.2", seconds: 2)
        let bps = ((res["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double ?? 0
        print("virtual NIC to virtual NIC, TCP through Sluice's bridge: \(bps / 1e9) Gbit/s")
        XCTAssertGreaterThan(bps, 0)
        var r = try d.report()
        XCTAssertTrue(section(r, device: "vif1").contains("vif connected"), section(r, device: "vif1"))

        // A frontend killed while TCP flows: the daemon disconnects it, frees what it held, and
        // goes on; a new frontend takes the vif again.
        let srv = try net.iperfServer(in: b, addr: "198.18.60.2", port: 5210, seconds: 8)
        defer { if srv.isRunning { srv.terminate() }; srv.waitUntilExit() }
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        client.arguments = ["15", "ip", "netns", "exec", a, "iperf3", "-c", "198.18.60.2", "-p", "5210", "-t", "5"]
        client.standardOutput = FileHandle.nullDevice; client.standardError = FileHandle.nullDevice
        usleep(500_000)
        try client.run()
        sleep(1)
        kill(va.processIdentifier, SIGKILL)
        va.waitUntilExit()
        client.waitUntilExit()
        let deadline = Date().addingTimeInterval(5)
        while !d.stderr.contains("vif1: frontend disconnected") && Date() < deadline { usleep(100_000) }
        XCTAssertTrue(d.stderr.contains("vif1: frontend disconnected: the frontend's control socket closed"), d.stderr)
        r = try d.report()
        XCTAssertTrue(section(r, device: "vif1").contains("vif disconnected"), section(r, device: "vif1"))
        va = try vnic(a, vif: "vif1", tap: ta, sock: sock)
        try sh(["ip", "-n", a, "addr", "add", "198.18.60.1/24", "dev", ta]); try sh(["ip", "-n", a, "link", "set", ta, "up"])
        XCTAssertTrue(try net.ping(from: a, "198.18.60.2", count: 3).contains(" 0% packet loss"))
        XCTAssertEqual(d.stop(), 0)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
        // The daemon gone, a frontend says so and exits.
        let gone = Date().addingTimeInterval(5)
        while vb.isRunning && Date() < gone { usleep(50_000) }
        XCTAssertFalse(vb.isRunning)
        let log = (try? String(contentsOfFile: net.dir + "/vnic-vif2.log", encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("sluice-vnic: the daemon closed the connection to vif vif2"), log)
    }

    /// Bad arguments, or no daemon: one line on stderr, exit status 2.
    /// netback's `rate` on a live vif: TCP from a frontend whose vif allows 20 Mbit/s (50 ms
    /// windows of 125 000 bytes, as xl's `rate=20Mb/s` with its default interval) is held to
    /// that rate — counted in frame bytes, so the goodput is a little below it — while the
    /// other direction's vif is unlimited; the frontend's excess waits on its ring.
    func testAVifsRateHoldsItsFrontendsTCPToTheCredit() throws {
        let sw = try net.netns("sw"), a = try net.netns("a"), b = try net.netns("b")
        let sock = net.dir + "/vif.sock"
        let d = try daemon(sw, sock: sock, vif1: " rate 20mbit")
        let ta = "\(net.tag)v1", tb = "\(net.tag)v2"
        _ = try vnic(a, vif: "vif1", tap: ta, sock: sock)
        _ = try vnic(b, vif: "vif2", tap: tb, sock: sock)
        try sh(["ip", "-n", a, "addr", "add", "198.18.61.1/24", "dev", ta]); try sh(["ip", "-n", a, "link", "set", ta, "up"])
        try sh(["ip", "-n", b, "addr", "add", "198.18.61.2/24", "dev", tb]); try sh(["ip", "-n", b, "link", "set", tb, "up"])
        XCTAssertTrue(try net.ping(from: a, "198.18.61.2", count: 2).contains(" 0% packet loss"))
        let res = try net.iperf(from: a, to: b, addr: "198.18.61.2", seconds: 4)
        let bps = ((res["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double ?? 0
        print("TCP from a vif with rate 20mbit: \(bps / 1e6) Mbit/s")
        // Below 20: frame bytes count, and tx_add_credit's clamp at 128 KiB drops what a 64 KiB
        // super-frame left waiting (16-17 Mbit/s here); far above 0: the timeout resumes the vif.
        XCTAssertGreaterThan(bps, 12e6, "the credit timeout resumes the vif")
        XCTAssertLessThan(bps, 20.5e6, "no faster than the credit")
        let r = try d.report()
        XCTAssertTrue(section(r, device: "vif1").contains("rate 125000B/50000us"), section(r, device: "vif1"))
        XCTAssertFalse(section(r, device: "vif1").contains("rate_limited 0"), "the limit was reached")

        // The rate changed live by the CLI (RTM_NEWLINK with the vif's IFLA_INFO_DATA), as
        // netback hears a rewritten `rate`: the same frontend, still connected, now at 5 Mbit/s.
        func cli(_ args: [String]) throws -> (out: String, status: Int32) {
            try runBounded(["10", try sluiceBinary(), "--socket", sock] + args)
        }
        var c = try cli(["link", "set", "vif1", "type", "vif", "rate", "5mbit"])
        XCTAssertEqual(c.status, 0, c.out)
        let r1 = section(try d.report(), device: "vif1")
        XCTAssertTrue(r1.contains("rate 31250B/50000us"), r1)
        let slow = try net.iperf(from: a, to: b, addr: "198.18.61.2", seconds: 4)
        let slowBps = ((slow["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double ?? 0
        print("TCP after `link set vif1 type vif rate 5mbit`: \(slowBps / 1e6) Mbit/s")
        XCTAssertGreaterThan(slowBps, 2.5e6)
        XCTAssertLessThan(slowBps, 5.3e6, "held to the new rate")
        c = try cli(["link", "set", "vif1", "type", "vif", "rate", "unlimited"])
        XCTAssertEqual(c.status, 0, c.out)
        let free = try net.iperf(from: a, to: b, addr: "198.18.61.2", seconds: 2)
        let freeBps = ((free["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double ?? 0
        print("TCP after `rate unlimited`: \(freeBps / 1e6) Mbit/s")
        XCTAssertGreaterThan(freeBps, 100e6)
        // A vif made by the CLI with its rate; bad words: one line, status 255, nothing made.
        c = try cli(["link", "add", "vif9", "type", "vif", "rate", "1mbit", "window", "20ms"])
        XCTAssertEqual(c.status, 0, c.out)
        let r9 = section(try d.report(), device: "vif9")
        XCTAssertTrue(r9.contains("rate 2500B/20000us"), r9)
        c = try cli(["link", "set", "vif1", "type", "vif", "rate", "fast"])
        XCTAssertEqual(c.status, 255); XCTAssertEqual(c.out.split(separator: "\n").count, 1, c.out)
        c = try cli(["link", "add", "vif8", "type", "vif", "window", "0"])
        XCTAssertEqual(c.status, 255); XCTAssertEqual(c.out.split(separator: "\n").count, 1, c.out)
        // The daemon refuses (extack): a window with no rate to keep, a vif that is not there.
        c = try cli(["link", "set", "vif2", "type", "vif", "window", "10ms"])
        XCTAssertEqual(c.status, 2); XCTAssertTrue(c.out.contains("has no rate"), c.out)
        c = try cli(["link", "set", "vif7", "type", "vif", "rate", "1mbit"])
        XCTAssertEqual(c.status, 2, c.out)
        let rEnd = try d.report()
        XCTAssertFalse(rEnd.contains("vif8"))
        XCTAssertEqual(d.stop(), 0, d.stderr)
    }

    func testSluiceVnicRefusesBadArgumentsInOneLine() throws {
        let bin = try vnicBinary()
        for args in [["--bogus"], ["--vif"], [], ["--vif", "v1"], ["--vif", "v1", "--blast", "x"], ["--vif", "v1", "--tap", "t1", "--ring", "100"],
                     ["--vif", "v1", "--blast", "1", "--socket", net.dir + "/none.sock", "--dst", "02:00:00:00:00:01"]] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: bin)
            p.arguments = args
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertEqual(p.terminationStatus, 2, "\(args): \(text)")
            XCTAssertEqual(text.split(separator: "\n").count, 1, "\(args): \(text)")
            XCTAssertTrue(text.hasPrefix("sluice-vnic: "), text)
        }
    }

    /// Xen's rule for the response that takes an extra-info slot's place: its status is
    /// XEN_NETIF_RSP_NULL and it names no request (netback writes no id; netfront's
    /// xennet_tx_buf_gc skips it). A frontend that took its id would give back the page of
    /// whatever request sits at that ring position — while the backend has not read it yet, so
    /// the backend finds the grant revoked and drops the frame. A stream of GSO frames through a
    /// small ring, sender and backend running at once, makes that race a certainty.
    func testAStreamOfGSOFramesLosesNoFrameToItsExtraSlotsAnswers() throws {
        let sw = try net.netns("sw")
        let sock = net.dir + "/vif.sock"
        let d = try daemon(sw, sock: sock)
        let a = try VirtualNIC(socketPath: sock, interface: "vif1", ringSlots: 32, dataPages: 256)
        let b = try VirtualNIC(socketPath: sock, interface: "vif2", ringSlots: 32, dataPages: 256)
        let macA = MACAddress(raw: 0x0200_0000_6201), macB = MACAddress(raw: 0x0200_0000_6202)
        let srcIP = FrameBuilder.ip(198, 18, 62, 1), dstIP = FrameBuilder.ip(198, 18, 62, 2)
        let payload = [UInt8](repeating: 0x5A, count: 9000)
        let frames = 3000
        var received = 0
        func drain() { received += b.receive(max: 256) { _ in }; a.reclaim() }
        for k in 0..<frames {
            let tcp = FrameBuilder.tcp(srcIP: srcIP, dstIP: dstIP, sport: 40000, dport: 5201, seq: UInt32(k * payload.count), payload: payload)
            let frame = FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4, payload: FrameBuilder.ipv4(src: srcIP, dst: dstIP, proto: IPProto.tcp, payload: tcp))
            var tries = 0
            while !a.send(frame, gso: VIFExtraGSO(size: 1448, type: VIF.gsoTCPv4), csumBlank: true) {
                a.flush(); drain()
                tries += 1
                if tries > 10_000 { XCTFail("the ring never freed (frame \(k))"); break }
                usleep(20)
            }
            if k % 4 == 3 { a.flush() }
            drain()
        }
        a.flush()
        let deadline = Date().addingTimeInterval(5)
        while received < frames && Date() < deadline { b.wait(timeoutMs: 50); drain() }
        XCTAssertEqual(a.txErrors, 0, "no tx request answered with an error (a revoked grant)")
        let vif1 = section(try d.report(), device: "vif1")
        XCTAssertFalse(vif1.contains("grant_refused"), vif1)
        XCTAssertEqual(received, frames, "every frame reached the other virtual NIC")
        XCTAssertEqual(d.stop(), 0)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }

    func testTheLibraryFrontendExchangesPingWithAKernelStack() throws {
        let sw = try net.netns("sw"), b = try net.netns("b")
        let sock = net.dir + "/vif.sock"
        let d = try daemon(sw, sock: sock)
        let tb = "\(net.tag)v2"
        _ = try vnic(b, vif: "vif2", tap: tb, sock: sock)
        try sh(["ip", "-n", b, "addr", "add", "198.18.61.2/24", "dev", tb]); try sh(["ip", "-n", b, "link", "set", tb, "up"])
        let ours = MACAddress(raw: 0x0200_0000_6109)
        try sh(["ip", "-n", b, "neigh", "add", "198.18.61.9", "lladdr", "\(ours)", "dev", tb])
        let theirs = MACAddress(parsing: try sh(["ip", "netns", "exec", b, "cat", "/sys/class/net/\(tb)/address"])
            .trimmingCharacters(in: .whitespacesAndNewlines))!
        let nic = try VirtualNIC(socketPath: sock, interface: "vif1")
        // Three echo requests from 198.18.61.9, as ping would build them (RFC 792).
        for seq in 1...3 {
            var icmp: [UInt8] = [8, 0, 0, 0, 0x61, 0x09, 0, UInt8(seq)] + [UInt8](repeating: 0x5A, count: 56)
            let c = icmp.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, icmp.count)) }
            icmp[2] = UInt8(c >> 8); icmp[3] = UInt8(c & 0xFF)
            let ip = FrameBuilder.ipv4(src: FrameBuilder.ip(198, 18, 61, 9), dst: FrameBuilder.ip(198, 18, 61, 2), proto: IPProto.icmp, payload: icmp)
            XCTAssertTrue(nic.send(FrameBuilder.ethernet(dst: theirs, src: ours, type: EtherType.ipv4, payload: ip)))
        }
        nic.flush()
        var replies: Set<UInt8> = []
        let deadline = Date().addingTimeInterval(5)
        while replies.count < 3 && Date() < deadline {
            nic.wait(timeoutMs: 200)
            nic.receive { f in
                guard f.count >= 14 + 20 + 8, f[12] == 0x08, f[13] == 0x00, f[14 + 9] == IPProto.icmp else { return }
                let icmp = 14 + Int(f[14] & 0x0F) * 4
                if f[icmp] == 0, f[icmp + 4] == 0x61, f[icmp + 5] == 0x09 { replies.insert(f[icmp + 7]) }
            }
            nic.reclaim()
        }
        XCTAssertEqual(replies, [1, 2, 3], "the kernel answered every echo request")
        let r = try d.report()
        XCTAssertTrue(section(r, device: "vif1").contains("vif connected"), section(r, device: "vif1"))
        XCTAssertEqual(d.stop(), 0)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }
}
