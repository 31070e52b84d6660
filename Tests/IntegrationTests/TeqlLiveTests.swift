import Foundation
import XCTest

/// teql, the "true link equalizer", with real traffic: Sluice routes 198.18.8.0/24 through
/// teql0, whose slaves s1 and s2 are two links (AF_PACKET ports on veths) to the same kernel
/// host b, which holds 198.18.8.2 on its loopback and answers ARP for it on both links. This
/// kernel has no sch_teql, so what is expected is read from net/sched/sch_teql.c: each packet
/// leaves by the next slave in the ring (teql_master_xmit), its next hop resolved on that
/// slave; a slave that is down is passed over; a qdisc deleted takes its slave out of the
/// ring; opening the master without slaves is EUNATCH; its MTU cannot pass a slave's; the
/// master cannot be its own slave (ELOOP) and has no link ops (no delete).
final class TeqlLiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    func testTeqlSendsEachPacketByTheNextSlave() throws {
        let sw = try net.netns("sw"), a = try net.netns("a"), b = try net.netns("b")
        let t = net.tag
        try net.veth(t + "pa", hostNS: sw, peerNS: a, addr: "198.18.1.1/24")
        try sh(["ip", "-n", a, "route", "add", "default", "via", "198.18.1.254"])
        try net.veth(t + "s1", hostNS: sw, peerNS: b, addr: "198.18.2.2/24")
        try net.veth(t + "s2", hostNS: sw, peerNS: b, addr: "198.18.3.2/24")
        try sh(["ip", "-n", b, "addr", "add", "198.18.8.2/32", "dev", "lo"])
        try sh(["ip", "-n", b, "route", "add", "default", "via", "198.18.2.1"])
        let sock = net.dir + "/ctl-teql/sluice.sock"
        var config: [String] = []
        for (p, addr) in [("pa", "198.18.1.254/24"), ("s1", "198.18.2.1/24"), ("s2", "198.18.3.1/24")] {
            try sh(["ip", "-n", sw, "link", "set", t + p, "up"])
            config += ["link add \(p) type afpacket dev \(t)\(p)", "link set \(p) up", "addr add \(addr) dev \(p)"]
        }
        let d = try DaemonProcess(net: net, ns: sw, config: config, extraArgs: ["--socket", sock])
        try d.waitReady()
        func run(_ tool: String, _ args: String...) throws -> String {
            try sh(["timeout", "10", try sluiceBinary(), "exec", "--socket", sock, tool] + args, allowFailure: true)
        }
        // Asking for the teql0 qdisc brings teql0 (the module load): NOARP, link/void, qlen 100.
        XCTAssertEqual(try run("tc", "qdisc", "add", "dev", "s1", "root", "teql0"), "")
        let shown = try run("ip", "link", "show", "teql0")
        XCTAssertTrue(shown.contains("teql0: <BROADCAST,NOARP> mtu 1500 ") && shown.contains("qlen 100") && shown.contains("link/void"), shown)
        // No slaves: the master cannot open (teql_master_open's EUNATCH).
        XCTAssertEqual(try run("tc", "qdisc", "del", "dev", "s1", "root"), "")
        XCTAssertTrue(try run("ip", "link", "set", "teql0", "up").contains("Protocol driver not attached"))
        for s in ["s1", "s2"] { XCTAssertEqual(try run("tc", "qdisc", "add", "dev", s, "root", "teql0"), "") }
        XCTAssertTrue(try run("tc", "qdisc", "add", "dev", "teql0", "root", "teql0").contains("Too many levels of symbolic links"))
        XCTAssertTrue(try run("ip", "link", "set", "teql0", "mtu", "1600").contains("Invalid argument"))
        XCTAssertTrue(try run("ip", "link", "del", "teql0").contains("Operation not supported"))
        XCTAssertEqual(try run("ip", "link", "set", "teql0", "up"), "")
        XCTAssertEqual(try run("ip", "route", "add", "198.18.8.0/24", "dev", "teql0"), "")

        /// What the master sent straight through slave `s`: the slave's transmitted packets
        /// less those its own qdisc sent (its ARP, and what waited for a neighbour).
        /// The two counters are read by two requests, so a packet the slave's own qdisc sends
        /// between them (its IPv6 link-local chatter, say) would be taken for a direct one:
        /// read until the link's count is the same before and after the qdisc's.
        func direct(_ s: String) throws -> Int {
            func linkTx() throws -> Int {
                let link = try run("ip", "-s", "-j", "link", "show", s)
                guard let l = (try JSONSerialization.jsonObject(with: Data(link.utf8)) as? [[String: Any]])?.first,
                      let tx = ((l["stats64"] as? [String: Any])?["tx"] as? [String: Any])?["packets"] as? Int
                else { XCTFail(link); return -1 }
                return tx
            }
            for _ in 0..<20 {
                let before = try linkTx()
                let qdisc = try run("tc", "-s", "-j", "qdisc", "show", "dev", s)
                guard let q = (try JSONSerialization.jsonObject(with: Data(qdisc.utf8)) as? [[String: Any]])?.first,
                      let sent = q["packets"] as? Int else { XCTFail(qdisc); return -1 }
                if try linkTx() == before { return before - sent }
            }
            XCTFail("\(s)'s counters never held still")
            return -1
        }
        func masterTx() throws -> (packets: Int, dropped: Int) {
            let link = try run("ip", "-s", "-j", "link", "show", "teql0")
            let l = (try JSONSerialization.jsonObject(with: Data(link.utf8)) as? [[String: Any]])?.first
            let tx = (l?["stats64"] as? [String: Any])?["tx"] as? [String: Any]
            return (tx?["packets"] as? Int ?? -1, tx?["dropped"] as? Int ?? -1)
        }
        func pings(_ n: Int) throws -> String {
            try sh(["ip", "netns", "exec", a, "ping", "-c", String(n), "-i", "0.02", "-W", "2", "198.18.8.2"], timeout: 30, allowFailure: true)
        }
        // The new links settle first: requests sent at once could wait a few hundred
        // milliseconds (320 ms seen here) in the slaves' queues before anything crosses; and
        // the slaves' own IPv6 chatter is over — DAD (≤ 2 s) and the MLD reports after it
        // (≤ 1 s more) — which, sitting in a slave's queue, would make teql pass it over.
        usleep(3_500_000)
        // Counted from here: what the slaves sent before (through their earlier qdiscs) aside.
        let (b1, b2) = (try direct("s1"), try direct("s2"))
        // 100 echo requests: the first waits on s1's neighbour (the second round's skb_res), the
        // rest alternate s2, s1, s2, …; every one is answered (b replies by b1).
        let out = try pings(100)
        XCTAssertTrue(out.contains(" 0% packet loss"), out)
        let (d1, d2) = (try direct("s1") - b1, try direct("s2") - b2)
        let m = try masterTx()
        XCTAssertEqual(m.packets, d1 + d2, "the master counts what its slaves' drivers took: s1 \(d1), s2 \(d2)")
        XCTAssertGreaterThanOrEqual(m.packets, 98)
        XCTAssertEqual(m.dropped, 0)
        XCTAssertLessThanOrEqual(abs(d1 - d2), 1, "round robin: s1 \(d1), s2 \(d2)")
        // IPv6 the same way: the route's gateway, which both links reach, resolved by neighbour
        // discovery on each slave in turn.
        for l in ["s1p", "s2p"] { try sh(["ip", "-n", b, "addr", "add", "2001:db8:9::2/64", "dev", t + l, "nodad"]) }
        try sh(["ip", "-n", b, "addr", "add", "2001:db8:8::2/128", "dev", "lo"])
        try sh(["ip", "-n", b, "addr", "add", "2001:db8:2::2/64", "dev", t + "s1p", "nodad"])
        try sh(["ip", "-n", b, "-6", "route", "add", "default", "via", "2001:db8:2::1"])
        try sh(["ip", "-n", a, "addr", "add", "2001:db8:1::1/64", "dev", t + "pap", "nodad"])
        try sh(["ip", "-n", a, "-6", "route", "add", "default", "via", "2001:db8:1::254"])
        XCTAssertEqual(try run("ip", "addr", "add", "2001:db8:1::254/64", "dev", "pa", "nodad"), "")
        XCTAssertEqual(try run("ip", "addr", "add", "2001:db8:2::1/64", "dev", "s1", "nodad"), "")
        XCTAssertEqual(try run("ip", "-6", "route", "add", "2001:db8:8::/64", "via", "2001:db8:9::2", "dev", "teql0", "onlink"), "")
        // s1's new groups are reported (MLD, twice within 1 s) before the pings start.
        usleep(1_500_000)
        let v6 = try sh(["ip", "netns", "exec", a, "ping", "-c", "40", "-i", "0.02", "-W", "2", "2001:db8:8::2"], timeout: 30, allowFailure: true)
        XCTAssertTrue(v6.contains(" 0% packet loss"), v6)
        let (e1, e2) = (try direct("s1") - b1, try direct("s2") - b2)
        let m6 = try masterTx()
        XCTAssertEqual(m6.packets - m.packets, (e1 - d1) + (e2 - d2))
        XCTAssertGreaterThanOrEqual(m6.packets - m.packets, 38)
        XCTAssertLessThanOrEqual(abs((e1 - d1) - (e2 - d2)), 1, "round robin (IPv6): s1 \(e1 - d1), s2 \(e2 - d2)")
        let neigh = try run("ip", "-6", "neigh", "show", "2001:db8:9::2")
        XCTAssertTrue(neigh.contains("dev s1 lladdr") && neigh.contains("dev s2 lladdr"), neigh)
        // A slave that is down is busy: passed over (netif_running).
        XCTAssertEqual(try run("ip", "link", "set", "s2", "down"), "")
        XCTAssertTrue(try pings(20).contains(" 0% packet loss"))
        XCTAssertEqual(try direct("s2") - b2, e2)
        XCTAssertEqual(try direct("s1") - b1, e1 + 20)
        // Its qdisc deleted, s2 leaves the ring (teql_destroy); up again, it gets nothing.
        XCTAssertEqual(try run("ip", "link", "set", "s2", "up"), "")
        XCTAssertEqual(try run("tc", "qdisc", "del", "dev", "s2", "root"), "")
        XCTAssertTrue(try pings(20).contains(" 0% packet loss"))
        XCTAssertEqual(try direct("s1") - b1, e1 + 40)
        XCTAssertEqual(try masterTx().packets, m6.packets + 40)
        XCTAssertEqual(d.stop(), 0)
        XCTAssertTrue(d.stdout.contains("(no buffer leaked)"), d.stdout)
    }
}
