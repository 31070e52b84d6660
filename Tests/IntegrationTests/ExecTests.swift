import Foundation
import XCTest
import Sluice

/// Debian's unmodified `ip` driving a running daemon through `sluice exec` (the preload shim
/// maps its rtnetlink socket onto the daemon's control socket), compared with the same `ip`
/// against the kernel where the answers must agree.
final class ExecTests: XCTestCase {
    var net: TestNet!
    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    func daemon(extraArgs: [String] = []) throws -> (DaemonProcess, String, String) {
        let sw = try net.netns("sw")
        let sock = net.dir + "/ctl/sluice.sock"
        let ta = "\(net.tag)a", tb = "\(net.tag)b"
        let d = try DaemonProcess(net: net, ns: sw, config: [
            "link add br0 type bridge", "link add \(ta) type tap", "link add \(tb) mtu 1400 type tap",
            "link set \(ta) master br0 up", "link set br0 up",
        ], extraArgs: ["--socket", sock] + extraArgs)
        try d.waitReady()
        return (d, sock, ta)
    }

    func exec(_ sock: String, _ args: [String], asNobody: Bool = false) throws -> (out: String, status: Int32) {
        let bin = try sluiceBinary()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        var argv = ["10"]
        if asNobody { argv += ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] }
        p.arguments = argv + [bin, "exec", "--socket", sock] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (String(decoding: data, as: UTF8.self), p.terminationStatus)
    }

    func testIpLinkShowThroughTheDaemon() throws {
        let (d, sock, ta) = try daemon()
        let (out, status) = try exec(sock, ["ip", "link", "show"])
        XCTAssertEqual(status, 0, out)
        let lines = out.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.hasPrefix("1: br0: <BROADCAST,MULTICAST,MASTER,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000") }, out)
        XCTAssertTrue(lines.contains { $0.contains(": \(ta): <BROADCAST,MULTICAST,PROMISC,SLAVE,UP,LOWER_UP> mtu 1500 qdisc pfifo_fast master br0 state UP") }, out)
        XCTAssertTrue(lines.contains { $0.contains("b: <BROADCAST,MULTICAST> mtu 1400 qdisc pfifo_fast state DOWN") }, out)
        // By name, with statistics and details.
        let one = try exec(sock, ["ip", "-s", "-d", "link", "show", "dev", ta])
        XCTAssertEqual(one.status, 0, one.out)
        XCTAssertTrue(one.out.contains("promiscuity 1"), one.out)
        XCTAssertTrue(one.out.contains("RX:  bytes packets errors dropped  missed   mcast"), one.out)
        XCTAssertEqual(d.stop(), 0, d.stderr)
    }

    /// A device that does not exist: the same words and exit status as ip against the kernel.
    func testMissingDeviceAnswersAsTheKernel() throws {
        let (d, sock, _) = try daemon()
        let ns = try net.netns("k")
        let kernel = try sh(["ip", "-n", ns, "link", "show", "dev", "nope0"], allowFailure: true)
        let sluice = try exec(sock, ["ip", "link", "show", "dev", "nope0"])
        XCTAssertEqual(sluice.out, kernel)
        XCTAssertEqual(sluice.status, 1)
        XCTAssertEqual(d.stop(), 0)
    }

    /// A client that is not root may read but not change (EPERM), and ip never falls back to
    /// ioctls on the kernel: its startup probe gets ENODEV, as from the kernel.
    func testReadOnlyClientAndNoFallbackToTheKernel() throws {
        let (d, sock, _) = try daemon(extraArgs: ["--socket-group", "65534"])
        let show = try exec(sock, ["ip", "link", "show", "dev", "br0"], asNobody: true)
        XCTAssertEqual(show.status, 0, show.out)
        XCTAssertTrue(show.out.contains("br0:"), show.out)
        let set = try exec(sock, ["ip", "link", "set", "dev", "br0", "mtu", "1400"], asNobody: true)
        XCTAssertEqual(set.status, 2, set.out)
        XCTAssertTrue(set.out.contains("Operation not permitted"), set.out)   // EPERM, with the extack message
        // Root gets past the permission check; nothing reached the kernel's own devices.
        let root = try exec(sock, ["ip", "link", "set", "dev", "br0", "mtu", "1400"])
        XCTAssertFalse(root.out.contains("Operation not permitted"), root.out)
        XCTAssertFalse(root.out.contains("Cannot find device"), "no ioctl fallback: \(root.out)")
        XCTAssertEqual(d.stop(), 0)
    }

    func testNetnsAndOtherKernelPathsAreRefused() throws {
        let (d, sock, _) = try daemon()
        let r = try exec(sock, ["ip", "netns", "list"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.out.contains("does not go through rtnetlink"), r.out)
        let noDaemon = try exec(net.dir + "/nothing.sock", ["ip", "link", "show"])
        XCTAssertNotEqual(noDaemon.status, 0)
        XCTAssertTrue(noDaemon.out.contains("cannot reach the daemon"), noDaemon.out)
        XCTAssertEqual(d.stop(), 0)
    }
}
