import Foundation
import XCTest

/// Sluice's bridge and this machine's kernel bridge, both running the spanning tree, joined by
/// two veth links: a loop only STP can make safe. Sluice's ports are AF_PACKET on the veths'
/// switch-side ends; the kernel bridge holds the other ends. Each side reads the other's
/// BPDUs: with the kernel's bridge as root, Sluice blocks one link; with Sluice's as root, the
/// kernel blocks one; when the forwarding link fails, the blocked one takes over. A host on a
/// third Sluice port pings the kernel bridge's address through it all, without a broadcast storm.
final class STPLiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    func states(_ out: String) -> [String: String] {
        var r: [String: String] = [:]
        for line in out.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count > 1, let i = f.firstIndex(of: "state"), i + 1 < f.count else { continue }
            r[String(f[1].split(separator: "@")[0]).trimmingCharacters(in: CharacterSet(charactersIn: ":"))] = String(f[i + 1])
        }
        return r
    }

    /// Polls until `check` holds or `seconds` pass (the tree settles in two forward delays).
    func eventually(_ seconds: Double, _ what: String, _ check: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try check() { return }
            usleep(250_000)
        }
        XCTFail("not within \(seconds) s: \(what)")
    }

    func testLoopWithTheKernelsBridgeIsBrokenByTheSpanningTree() throws {
        let sw = try net.netns("sw"), k = try net.netns("k"), h = try net.netns("h")
        let t = net.tag
        let l1 = "\(t)l1", l2 = "\(t)l2", hp = "\(t)hp", kbr = "\(t)kb"
        for n in [l1, l2] {
            try sh(["ip", "-n", sw, "link", "add", n, "type", "veth", "peer", "name", n + "p", "netns", k])
        }
        try net.veth(hp, hostNS: sw, peerNS: h, addr: "198.18.7.2/24")
        // The kernel's bridge: STP on, forward delay 2 s, hello 1 s, priority 4096 (it is root).
        try sh(["ip", "-n", k, "link", "add", kbr, "type", "bridge", "stp_state", "1", "forward_delay", "200", "hello_time", "100", "priority", "4096"])
        for n in [l1, l2] {
            try sh(["ip", "-n", k, "link", "set", n + "p", "master", kbr])
            try sh(["ip", "-n", k, "link", "set", n + "p", "up"])
        }
        try sh(["ip", "-n", k, "addr", "add", "198.18.7.1/24", "dev", kbr])
        try sh(["ip", "-n", k, "link", "set", kbr, "up"])
        let sock = net.dir + "/stp.sock"
        var config = ["link add br0 type bridge stp_state 1 forward_delay 200 hello_time 100"]
        for n in [l1, l2, hp] { config += ["link add \(n) type afpacket dev \(n)", "link set \(n) master br0 up"] }
        config.append("link set br0 up")
        let d = try DaemonProcess(net: net, ns: sw, config: config, extraArgs: ["--socket", sock])
        try d.waitReady()
        let bin = try sluiceBinary()
        func sluice(_ args: [String]) throws -> String { try sh(["timeout", "10", bin, "exec", "--socket", sock] + args) }
        func kernel(_ args: [String]) throws -> String { try sh([args[0], "-n", k] + args.dropFirst()) }
        /// Three pings from the host to the kernel's bridge, all answered. Right after the tree
        /// settles a first try may lose a frame (a topology change shortens FDB ageing on both
        /// bridges; under CI load the kernel's first ARP may come before its port forwards): up to
        /// three tries, each failed one printed with both bridges' port states and FDBs.
        func pingsThrough(_ step: String) throws {
            var failed: [String] = []
            for _ in 0..<3 {
                let out = try sh(["ip", "netns", "exec", h, "ping", "-c", "3", "-i", "0.2", "-W", "2", "198.18.7.1"], timeout: 30, allowFailure: true)
                if out.contains("3 received") { break }
                failed.append(out + "\nkernel: " + (try kernel(["bridge", "link", "show"])) + (try kernel(["bridge", "fdb", "show", "br", kbr]))
                              + "\nsluice: " + (try sluice(["bridge", "link", "show"])) + (try sluice(["bridge", "fdb", "show", "br", "br0"])))
                print("STP \(step): a ping try failed: \(failed.last!)")
            }
            XCTAssertLessThan(failed.count, 3, "\(step): host cannot ping the kernel's bridge: \(failed.joined(separator: "\n---\n"))")
        }

        // 1. The kernel's bridge is root: Sluice's root port is l1 (the root's port 1 is on it),
        //    l2 blocks; the kernel's ports are both designated and forward.
        try eventually(10, "Sluice: l1 forwarding (root port), l2 blocking, hp forwarding") {
            let s = states(try sluice(["bridge", "link", "show"]))
            return s[l1] == "forwarding" && s[l2] == "blocking" && s[hp] == "forwarding"
        }
        let kid = try kernel(["ip", "-d", "link", "show", kbr])
        let sbr = try sluice(["ip", "-d", "link", "show", "br0"])
        XCTAssertTrue(kid.contains("bridge_id 1000."), kid)
        let rootID = kid.components(separatedBy: "bridge_id ")[1].split(separator: " ")[0]
        // (iproute2 prints the bridge's own id as its designated_root; the ports' are right.)
        XCTAssertTrue(sbr.contains(" root_port 1 root_path_cost 2 "), "Sluice's bridge: \(sbr)")
        let sp = try sluice(["ip", "-d", "link", "show", l1])
        XCTAssertTrue(sp.contains("designated_bridge \(rootID) designated_root \(rootID) "), "Sluice's root port: \(sp)")
        XCTAssertEqual(states(try kernel(["bridge", "link", "show"])), [l1 + "p": "forwarding", l2 + "p": "forwarding"])
        try pingsThrough("kernel root")

        // 2. Sluice's bridge becomes root (priority 0): the kernel now has the root port and
        //    blocks its other port — it read Sluice's BPDUs.
        _ = try sluice(["ip", "link", "set", "br0", "type", "bridge", "priority", "0"])
        try eventually(10, "kernel: l1p forwarding (root port), l2p blocking") {
            states(try kernel(["bridge", "link", "show"])) == [l1 + "p": "forwarding", l2 + "p": "blocking"]
        }
        let kroot = try kernel(["ip", "-d", "link", "show", kbr]), kport = try kernel(["ip", "-d", "link", "show", l1 + "p"])
        XCTAssertTrue(kroot.contains(" root_port 1 root_path_cost 2 "), kroot)
        XCTAssertTrue(kport.contains("designated_root 0000."), "the kernel's root port knows Sluice's bridge as root: \(kport)")
        try eventually(10, "Sluice: every port designated and forwarding") {
            let s = states(try sluice(["bridge", "link", "show"]))
            return s[l1] == "forwarding" && s[l2] == "forwarding" && s[hp] == "forwarding"
        }
        try pingsThrough("Sluice root")

        // 3. The forwarding link fails: the kernel's blocked port becomes its root port and,
        //    two forward delays later, traffic flows over it.
        try sh(["ip", "-n", sw, "link", "set", l1, "down"])
        // Sluice's port on it has lost its link: disabled, what it learnt there forgotten.
        try eventually(5, "Sluice: l1 disabled once its interface went down") {
            states(try sluice(["bridge", "link", "show"]))[l1] == "disabled"
        }
        try eventually(12, "kernel: l2p forwarding after l1 went down") {
            states(try kernel(["bridge", "link", "show"]))[l2 + "p"] == "forwarding"
        }
        try pingsThrough("after l1 failed")

        // Nothing looped: what the host's port received stays within what a few pings,
        // ARP and BPDUs make (a storm would be millions of frames).
        let rx = try sh(["ip", "-s", "-n", h, "link", "show", hp + "p"])
        let rxPackets = rx.split(separator: "\n").drop { !$0.contains("RX:") }.dropFirst().first?.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? -1
        XCTAssertGreaterThan(rxPackets, 0, rx)
        XCTAssertLessThan(rxPackets, 2000, "frames reached the host: \(rx)")
        XCTAssertEqual(d.stop(), 0, d.stderr)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }
}
