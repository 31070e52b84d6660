import Foundation
import XCTest
import Sluice

/// A stateful firewall in Sluice's bridge, built from tc's ct action and flower's ct_state as
/// OVS and tc users write it, between two kernel stacks: host A may open connections to B;
/// B may answer but not open any to A. This kernel lacks act_ct, so what must pass and what
/// must not follows nf_conntrack's rules (a reply is ESTABLISHED|REPLY; an ICMP error is
/// RELATED; a new connection from B is NEW and dropped).
final class ConntrackLiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    func testStatefulFirewallBetweenTwoKernelStacks() throws {
        let sw = try net.netns("sw")
        let hA = try net.netns("ha"), hB = try net.netns("hb")
        let pA = "\(net.tag)pa", pB = "\(net.tag)pb"
        let config = [
            "link add br0 type bridge",
            "link add \(pA) type tap", "link add \(pB) type tap",
            "link set \(pA) master br0 up", "link set \(pB) master br0 up", "link set br0 up",
            // From A: every IPv4 packet tracked and committed.
            "qdisc add dev \(pA) clsact",
            "filter add dev \(pA) ingress protocol ip prio 1 flower action ct commit pipe action gact pass",
            // From B: tracked; only replies and related errors pass.
            "qdisc add dev \(pB) clsact",
            "filter add dev \(pB) ingress protocol ip chain 0 prio 1 flower ct_state -trk action ct pipe action goto chain 1",
            "filter add dev \(pB) ingress protocol ip chain 1 prio 1 flower ct_state +trk+est action gact pass",
            "filter add dev \(pB) ingress protocol ip chain 1 prio 2 flower ct_state +trk+rel action gact pass",
            "filter add dev \(pB) ingress protocol ip chain 1 prio 3 flower action drop",
        ]
        let d = try DaemonProcess(net: net, ns: sw, config: config)
        try d.waitReady()
        try net.place(pA, from: sw, into: hA, addr: "198.18.0.1/24", mtu: nil)
        try net.place(pB, from: sw, into: hB, addr: "198.18.0.2/24", mtu: nil)

        let aToB = try net.ping(from: hA, "198.18.0.2")
        XCTAssertTrue(aToB.contains("3 received"), "A pings B: the replies are ESTABLISHED|REPLY\n\(aToB)")
        let bToA = try sh(["ip", "netns", "exec", hB, "ping", "-c", "3", "-i", "0.2", "-W", "1", "198.18.0.1"], timeout: 30, allowFailure: true)
        XCTAssertTrue(bToA.contains(" 0 received"), "B's echo requests are NEW: dropped\n\(bToA)")
        // TCP: A to a closed port on B is refused at once (B's RST is a reply); B to a closed
        // port on A times out (its SYN is dropped, so A never answers with a RST).
        let connect = "exec 3<>/dev/tcp/%@/9"
        let refused = try sh(["ip", "netns", "exec", hA, "timeout", "3", "bash", "-c", String(format: connect, "198.18.0.2")], timeout: 10, allowFailure: true)
        XCTAssertTrue(refused.contains("Connection refused"), refused)
        let start = Date()
        let silent = try sh(["ip", "netns", "exec", hB, "timeout", "3", "bash", "-c", String(format: connect, "198.18.0.1")], timeout: 10, allowFailure: true)
        XCTAssertFalse(silent.contains("Connection refused"), silent)
        XCTAssertGreaterThan(Date().timeIntervalSince(start), 2.5, "B's SYN must go unanswered: \(silent)")
        // A TCP stream from A to B crosses whole.
        let tcp = try net.iperf(from: hA, to: hB, addr: "198.18.0.2")
        let end = try XCTUnwrap(tcp["end"] as? [String: Any], "\(tcp)")
        let rcv = try XCTUnwrap((end["sum_received"] as? [String: Any])?["bits_per_second"] as? Double)
        XCTAssertGreaterThan(rcv, 50e6, "TCP through the firewall: \(rcv / 1e6) Mbit/s")
        // The daemon's report lists the table as /proc/net/nf_conntrack would: iperf3's control
        // connection closed by A first, in TIME_WAIT (120 s), assured; B's refusal in CLOSE.
        let r = try d.report()
        XCTAssertTrue(r.contains("conntrack: entries"), r)
        XCTAssertNotNil(r.range(of: #"ipv4     2 tcp      6 1[01][0-9] TIME_WAIT src=198\.18\.0\.1 dst=198\.18\.0\.2 sport=[0-9]+ dport=5201 src=198\.18\.0\.2 dst=198\.18\.0\.1 sport=5201 dport=[0-9]+ \[ASSURED\] mark=0"#, options: .regularExpression), r)
        XCTAssertNotNil(r.range(of: #"tcp      6 [0-9]+ CLOSE src=198\.18\.0\.1 dst=198\.18\.0\.2 sport=[0-9]+ dport=9 "#, options: .regularExpression), r)
        XCTAssertNotNil(r.range(of: #"icmp     1 [0-9]+ src=198\.18\.0\.1 dst=198\.18\.0\.2 type=8 code=0 id=[0-9]+ src=198\.18\.0\.2 dst=198\.18\.0\.1 type=0 code=0"#, options: .regularExpression), r)
        XCTAssertEqual(d.stop(), 0, d.stderr)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }
}
