import Foundation
import XCTest

/// Optimistic duplicate address detection (RFC 4429) over real traffic, side by side with this
/// machine's kernel: a router namespace — the kernel's own stack, or Sluice on an AF_PACKET port
/// — with optimistic_dad on, forwarding off and dad_transmits 3 (DAD takes 3 s), and a host on a
/// veth. An address added `optimistic` answers the host's ping at once, and its neighbour
/// advertisement leaves the override flag clear; a plain address added at the same time stays
/// silent until its DAD is done. What the kernel does is what Sluice must do.
final class OptimisticDADLiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    struct Side { let h: String, r: String, port: String, hostDev: String, sock: String; let daemon: DaemonProcess? }

    let knobs = ["net.ipv6.conf.all.optimistic_dad=1", "net.ipv6.conf.all.dad_transmits=3", "net.ipv6.conf.default.dad_transmits=3",
                 "net.ipv6.conf.all.forwarding=0"]

    func side(kernel: Bool, _ id: String) throws -> Side {
        let r = try net.netns("r\(id)"), h = try net.netns("h\(id)")
        let p = "\(net.tag)\(id)"
        try sh(["ip", "-n", r, "link", "add", p, "type", "veth", "peer", "name", p + "p", "netns", h])
        try sh(["ip", "netns", "exec", h, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"])
        try sh(["ip", "-n", h, "addr", "add", "2001:db8:41::10/64", "dev", p + "p", "nodad"])
        try sh(["ip", "-n", h, "link", "set", p + "p", "up"])
        if kernel {
            try sh(["ip", "netns", "exec", r, "sysctl", "-qw"] + knobs)
            try sh(["ip", "-n", r, "link", "set", p, "up"])
            return Side(h: h, r: r, port: p, hostDev: p + "p", sock: "", daemon: nil)
        }
        // Sluice owns the router's end: the kernel keeps no IPv6 on it.
        try sh(["ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv6.conf.\(p).disable_ipv6=1"])
        let sock = net.dir + "/ctl-\(id)/sluice.sock"
        let d = try DaemonProcess(net: net, ns: r, config: knobs.map { "sysctl " + $0 } + ["link add \(p) type afpacket dev \(p)", "link set \(p) up"],
                                  extraArgs: ["--socket", sock])
        try d.waitReady()
        return Side(h: h, r: r, port: p, hostDev: p + "p", sock: sock, daemon: d)
    }

    /// `ip ARGS` on the router: the kernel's, or Sluice's through `sluice exec`.
    func ip(_ s: Side, _ args: [String]) throws -> String {
        guard s.daemon != nil else { return try sh(["ip", "-n", s.r] + args) }
        return try sh([try sluiceBinary(), "exec", "--socket", s.sock, "ip"] + args, timeout: 10)
    }

    /// Adds an optimistic and a plain address on the router, pings each from the host at once
    /// and again after DAD; returns the ping results and the router's neighbour advertisements
    /// the host saw (target and flags, as tcpdump -v prints them).
    func run(_ s: Side) throws -> (early: [Bool], late: [Bool], adverts: [String], flags: String) {
        usleep(3_500_000)   // the router's link-local past its own DAD
        let cap = try net.startCapture(s.h, s.hostDev)
        _ = try ip(s, ["-6", "addr", "add", "2001:db8:41::1/64", "dev", s.port, "optimistic"])
        _ = try ip(s, ["-6", "addr", "add", "2001:db8:41::2/64", "dev", s.port])
        let flags = try ip(s, ["-6", "addr", "show", "dev", s.port])
        func ping(_ a: String) throws -> Bool {
            let out = try sh(["ip", "netns", "exec", s.h, "ping", "-c", "1", "-W", "1", a], timeout: 10, allowFailure: true)
            return out.contains(" 0% packet loss")
        }
        let early = [try ping("2001:db8:41::1"), try ping("2001:db8:41::2")]
        usleep(4_500_000)
        let late = [try ping("2001:db8:41::1"), try ping("2001:db8:41::2")]
        usleep(300_000)
        kill(cap.0.processIdentifier, SIGINT)
        cap.0.waitUntilExit()
        let v = try sh(["tcpdump", "-r", cap.1, "-nn", "-v", "icmp6"], stderr: false)
        let adverts = v.split(separator: "\n").compactMap { l -> String? in
            guard let r = l.range(of: "neighbor advertisement") else { return nil }
            return String(l[r.lowerBound...]).replacingOccurrences(of: #"length \d+, "#, with: "", options: .regularExpression)
        }.filter { $0.contains("2001:db8:41::") }
        return (early, late, adverts, flags)
    }

    func testOptimisticAddressesAnswerDuringDADAsTheKernel() throws {
        let k = try run(try side(kernel: true, "k"))
        let sluice = try side(kernel: false, "s")
        let s = try run(sluice)
        // The kernel's own answers first: what this test expects of both.
        XCTAssertEqual(k.early, [true, false], "kernel: the optimistic address answers during DAD, the plain one does not")
        XCTAssertEqual(k.late, [true, true], "kernel: both answer once DAD is done")
        XCTAssertTrue(k.flags.contains("inet6 2001:db8:41::1/64 scope global optimistic tentative"), k.flags)
        XCTAssertTrue(k.adverts.contains { $0.hasPrefix("neighbor advertisement, tgt is 2001:db8:41::1, Flags [solicited]") }, "\(k.adverts)")
        XCTAssertEqual(s.early, k.early, "ping during DAD")
        XCTAssertEqual(s.late, k.late, "ping after DAD")
        XCTAssertTrue(s.flags.contains("inet6 2001:db8:41::1/64 scope global optimistic tentative"), s.flags)
        XCTAssertTrue(s.flags.contains("inet6 2001:db8:41::2/64 scope global tentative"), s.flags)
        // The advertisements: the optimistic address's without the override flag; the same set.
        XCTAssertEqual(Set(s.adverts), Set(k.adverts))
        XCTAssertEqual(sluice.daemon!.stop(), 0, sluice.daemon!.stderr)
    }
}
