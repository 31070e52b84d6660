import XCTest
@testable import Sluice

/// IGMP/MLD snooping on the virtual clock, against br_multicast.c's rules with the kernel's
/// defaults (IGMPv2/MLDv1 semantics, no querier of the bridge's own; membership 260 s, querier
/// 255 s, last member 2 × 1 s).
final class SnoopingTests: XCTestCase {
    let ip = FrameBuilder.ip
    func mac(_ n: UInt64) -> MACAddress { MACAddress(raw: 0x0200_0000_0000 | n) }
    func group(_ g: UInt32) -> MDBKey { MDBKey(group: UInt128(g), v6: false, vid: 0) }

    func report(_ g: UInt32, from n: UInt64) -> [UInt8] {
        FrameBuilder.igmpFrame(type: 0x16, group: g, srcIP: ip(198, 18, 0, UInt8(n)), dstIP: g, src: mac(n))
    }
    func data(_ g: UInt32, from n: UInt64) -> [UInt8] {
        FrameBuilder.ethernet(dst: MACAddress(raw: 0x0100_5E00_0000 | UInt64(g & 0x7F_FFFF)), src: mac(n), type: EtherType.ipv4,
                              payload: FrameBuilder.udp(srcIP: ip(198, 18, 0, UInt8(n)), dstIP: g, sport: 9, dport: 9, payload: [1, 2, 3, 4]))
    }
    /// A general query (code 10: 1 s) or a group-specific one.
    func query(_ g: UInt32 = 0, from n: UInt64) -> [UInt8] {
        FrameBuilder.igmpFrame(type: 0x11, code: 10, group: g, srcIP: ip(198, 18, 0, UInt8(n)), dstIP: g == 0 ? ip(224, 0, 0, 1) : g, src: mac(n))
    }

    func testReportsTeachTheDatabaseAndAQuerierLetsItDecide() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        let br = lab.dp.bridge(lab.dev("br0"))!, db = br.mdb
        let g1 = ip(239, 1, 1, 1)
        XCTAssertTrue(db.snooping, "the kernel's default")
        XCTAssertEqual(Lab.receivers(lab.send(report(g1, from: 1), on: "p1")), ["p2", "p3"], "no querier: the report floods")
        XCTAssertEqual(db.groups[group(g1)]?.map(\.port), [lab.dev("p1").ifindex])
        XCTAssertEqual(db.groups[group(g1)]?.first?.expires, lab.dp.clock.now + 260 * Time.s)
        XCTAssertEqual(Lab.receivers(lab.send(data(g1, from: 3), on: "p3")), ["p1", "p2"], "no querier: data floods")
        // A querier on p2: its port becomes a router port; for the query's response time
        // (1 s) the bridge still floods.
        XCTAssertEqual(Lab.receivers(lab.send(query(from: 9), on: "p2")), ["p1", "p3"])
        XCTAssertNotNil(db.routers[lab.dev("p2").ifindex])
        XCTAssertEqual(Lab.receivers(lab.send(data(g1, from: 3), on: "p3")), ["p1", "p2"])
        lab.dp.clock.advance(by: 1 * Time.s)
        _ = lab.runUntilIdle()
        XCTAssertEqual(Lab.receivers(lab.send(data(g1, from: 3), on: "p3")), ["p1", "p2"], "member and router")
        XCTAssertEqual(Lab.receivers(lab.send(data(g1, from: 1), on: "p1")), ["p2"], "not back to the member it came from")
        XCTAssertEqual(Lab.receivers(lab.send(data(ip(239, 9, 9, 9), from: 3), on: "p3")), ["p2"], "unknown group: routers only")
        XCTAssertEqual(Lab.receivers(lab.send(data(ip(224, 0, 0, 251), from: 3), on: "p3")), ["p1", "p2"], "link-local: flooded")
        XCTAssertEqual(Lab.receivers(lab.send(report(g1, from: 3), on: "p3")), ["p2"], "v2 reports go to the routers")
        XCTAssertEqual(Set(db.groups[group(g1)]!.map(\.port)), [lab.dev("p1").ifindex, lab.dev("p3").ifindex])
        // A leave while another querier is present changes nothing; the querier's
        // group-specific query shortens the group to 2 × 1 s, and silence ends it.
        _ = lab.send(FrameBuilder.igmpFrame(type: 0x17, group: g1, srcIP: ip(198, 18, 0, 1), dstIP: ip(224, 0, 0, 2), src: mac(1)), on: "p1")
        XCTAssertEqual(db.groups[group(g1)]?.count, 2)
        _ = lab.send(query(g1, from: 9), on: "p2")
        lab.dp.clock.advance(by: 2 * Time.s)
        _ = lab.runUntilIdle()
        XCTAssertNil(db.groups[group(g1)])
        XCTAssertEqual(Lab.receivers(lab.send(data(g1, from: 3), on: "p3")), ["p2"])
        // The querier falls silent: after 255 s the bridge floods again.
        lab.dp.clock.advance(by: 255 * Time.s)
        _ = lab.runUntilIdle()
        XCTAssertTrue(db.routers.isEmpty)
        XCTAssertEqual(Lab.receivers(lab.send(data(g1, from: 3), on: "p3")), ["p1", "p2"])
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    /// A port's mcast_router (br_multicast_set_port_router, br_multicast_mark_router): 2 makes
    /// it a router port for good — a group's data reaches it with the members —, 0 keeps a
    /// querier behind it from making it one, 3 makes it one for the querier interval and is 1
    /// again once that ran out.
    /// mcast_to_unicast, as br_multicast.c and br_forward.c have it: an entry per reporting host
    /// on the port (br_port_group_equal), a unicast copy to each (maybe_deliver_addr), none to
    /// the host that sent it even with hairpin, fast leave per host; on a port that is also a
    /// router port the first entry's copy is the multicast one (the walk of both lists).
    func testMulticastToUnicastPerHost() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        let br = lab.dp.bridge(lab.dev("br0"))!, db = br.mdb
        let g1 = ip(239, 1, 1, 1), p1 = lab.dev("p1").ifindex
        try lab.runner.execute("link set p1 type bridge_slave mcast_to_unicast on fastleave on")
        _ = lab.send(report(g1, from: 1), on: "p1")
        _ = lab.send(report(g1, from: 4), on: "p1")
        _ = lab.send(report(g1, from: 1), on: "p1")
        XCTAssertEqual(db.groups[group(g1)]?.map(\.ethAddr), [mac(1), mac(4)], "one entry per host")
        XCTAssertEqual(db.groups[group(g1)]?.map(\.port), [p1, p1])
        _ = lab.send(query(from: 9), on: "p2")
        lab.dp.clock.advance(by: 1 * Time.s)
        _ = lab.runUntilIdle()
        func dsts(_ frames: [[UInt8]]?) -> Set<MACAddress> { Set((frames ?? []).map { MACAddress(Array($0.prefix(6))) }) }
        let groupMAC = MACAddress(raw: 0x0100_5E01_0101)
        var out = lab.send(data(g1, from: 3), on: "p3")
        XCTAssertEqual(out["p1"]?.count, 2)
        XCTAssertEqual(dsts(out["p1"]), [mac(1), mac(4)], "a unicast copy per host")
        XCTAssertEqual(out["p1"]?.map { Array($0.dropFirst(6)) }, [Array(data(g1, from: 3).dropFirst(6)), Array(data(g1, from: 3).dropFirst(6))])
        XCTAssertEqual(dsts(out["p2"]), [groupMAC], "the router port gets the group")
        try lab.runner.execute("link set p1 type bridge_slave hairpin on")
        out = lab.send(data(g1, from: 1), on: "p1")
        XCTAssertEqual(dsts(out["p1"]), [mac(4)], "no soliloquy")
        // Host 1 leaves (fast leave): only its entry goes.
        _ = lab.send(FrameBuilder.igmpFrame(type: 0x17, group: g1, srcIP: ip(198, 18, 0, 1), dstIP: ip(224, 0, 0, 2), src: mac(1)), on: "p1")
        XCTAssertEqual(db.groups[group(g1)]?.map(\.ethAddr), [mac(4)])
        // p1 a router port too: the first entry's copy is the multicast one, the others unicast.
        _ = lab.send(report(g1, from: 1), on: "p1")
        try lab.runner.execute("link set p1 type bridge_slave mcast_router 2")
        out = lab.send(data(g1, from: 3), on: "p3")
        XCTAssertEqual(out["p1"]?.count, 2)
        XCTAssertEqual(dsts(out["p1"]), [groupMAC, mac(1)])
        // The port leaves the bridge: every entry of it goes.
        try lab.runner.execute("link set p1 nomaster")
        XCTAssertNil(db.groups[group(g1)])
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testPortMulticastRouterTypes() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3", "p4"])
        let db = lab.dp.bridge(lab.dev("br0"))!.mdb
        let g1 = ip(239, 1, 1, 1)
        _ = lab.send(report(g1, from: 1), on: "p1")
        try lab.runner.execute("link set p2 type bridge_slave mcast_router 0")
        _ = lab.send(query(from: 9), on: "p2")                   // a querier exists, behind p2
        XCTAssertNil(db.routers[lab.dev("p2").ifindex], "mcast_router 0: never a router port")
        lab.dp.clock.advance(by: 1 * Time.s)
        _ = lab.runUntilIdle()
        XCTAssertEqual(Lab.receivers(lab.send(data(g1, from: 4), on: "p4")), ["p1"], "members only")
        try lab.runner.execute("link set p3 type bridge_slave mcast_router 2")
        XCTAssertEqual(db.routers[lab.dev("p3").ifindex], .max)
        XCTAssertEqual(Lab.receivers(lab.send(data(g1, from: 4), on: "p4")), ["p1", "p3"], "members and the permanent router port")
        XCTAssertThrowsError(try lab.runner.execute("link set p3 type bridge_slave mcast_router 4"))
        try lab.runner.execute("link set p4 type bridge_slave mcast_router 3")
        XCTAssertEqual(Lab.receivers(lab.send(data(g1, from: 2), on: "p2")), ["p1", "p3", "p4"])
        lab.dp.clock.advance(by: 256 * Time.s)                   // past the querier interval
        _ = lab.runUntilIdle()
        XCTAssertNil(db.routers[lab.dev("p4").ifindex])
        XCTAssertEqual(lab.dev("p4").bridgePort.mcastRouter, 1, "a temporary router port is a learning one again")
        XCTAssertEqual(db.routers[lab.dev("p3").ifindex], .max, "the permanent one stays")
    }

    func testLeavesWithoutAQuerierAndFastLeave() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        let db = lab.dp.bridge(lab.dev("br0"))!.mdb
        let g1 = ip(239, 1, 1, 1)
        _ = lab.send(report(g1, from: 1), on: "p1")
        _ = lab.send(report(g1, from: 2), on: "p2")
        _ = lab.send(FrameBuilder.igmpFrame(type: 0x17, group: g1, srcIP: ip(198, 18, 0, 1), dstIP: ip(224, 0, 0, 2), src: mac(1)), on: "p1")
        let p1 = db.groups[group(g1)]!.first { $0.port == lab.dev("p1").ifindex }!
        XCTAssertEqual(p1.expires, lab.dp.clock.now + 2 * Time.s, "last member count × last member interval")
        lab.dp.clock.advance(by: 2 * Time.s)
        _ = lab.runUntilIdle()
        XCTAssertEqual(db.groups[group(g1)]?.map(\.port), [lab.dev("p2").ifindex])
        try lab.runner.execute("link set p2 type bridge_slave fastleave on")
        // An IGMPv3 report whose record includes no source is a leave.
        let v3: [UInt8] = [0x22, 0, 0, 0, 0, 0, 0, 1, 3, 0, 0, 0] + FrameBuilder.be32(g1)
        var m = v3
        let c = m.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, m.count)) }
        m[2] = UInt8(c >> 8); m[3] = UInt8(c & 0xff)
        let f = FrameBuilder.ethernet(dst: MACAddress(raw: 0x0100_5E00_0016), src: mac(2), type: EtherType.ipv4,
                                      payload: FrameBuilder.ipv4(src: ip(198, 18, 0, 2), dst: ip(224, 0, 0, 22), proto: 2, ttl: 1, payload: m))
        _ = lab.send(f, on: "p2")
        XCTAssertNil(db.groups[group(g1)], "fast leave: gone at once")
        // A port that is disabled forgets what it learnt.
        _ = lab.send(report(g1, from: 3), on: "p3")
        try lab.runner.execute("link set p3 down")
        XCTAssertNil(db.groups[group(g1)])
    }

    /// `mcast_querier 1` (br_multicast_send_query): every forwarding port sends an IGMPv2
    /// general query from 0.0.0.0 at once, again 31.248 s later (125 s / 4 in 250 Hz jiffies:
    /// 7812), then every 125 s; after the
    /// query response interval (10 s: br_multicast_set_querier's delay) a group goes to its
    /// members only; another querier silences ours until it falls silent for 255 s.
    func testTheBridgeAsQuerier() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        func queries(_ out: [String: [[UInt8]]]) -> [String: Int] {
            out.mapValues { frames in
                frames.filter { f in
                    var f = f
                    return f.withUnsafeMutableBytes { b in
                        if case .query(false, 0, 0, 10 * Time.s) = MulticastListener.classify(b.baseAddress!, length: b.count, visit: { _, _ in }) { return true }
                        return false
                    }
                }.count
            }.filter { $0.value > 0 }
        }
        try lab.runner.execute("link set br0 type bridge mcast_querier 1")
        XCTAssertEqual(queries(lab.runUntilIdle()), ["p1": 1, "p2": 1, "p3": 1])
        let g1 = ip(239, 1, 1, 1)
        _ = lab.send(report(g1, from: 1), on: "p1")
        XCTAssertEqual(Lab.receivers(lab.send(data(g1, from: 3), on: "p3")), ["p1", "p2"], "the hosts' response time: still flooded")
        lab.dp.clock.advance(by: 10 * Time.s)
        XCTAssertEqual(queries(lab.runUntilIdle()), [:])
        XCTAssertEqual(Lab.receivers(lab.send(data(g1, from: 3), on: "p3")), ["p1"], "our querier: members only")
        XCTAssertEqual(Lab.receivers(lab.send(data(ip(239, 9, 9, 9), from: 3), on: "p3")), [], "unknown group, no router port")
        lab.dp.clock.advance(by: 21_248 * Time.ms - 1)
        XCTAssertEqual(queries(lab.runUntilIdle()), [:])
        lab.dp.clock.advance(by: 1)
        XCTAssertEqual(queries(lab.runUntilIdle()), ["p1": 1, "p2": 1, "p3": 1])
        lab.dp.clock.advance(by: 124 * Time.s)
        XCTAssertEqual(queries(lab.runUntilIdle()), [:])
        lab.dp.clock.advance(by: 1 * Time.s)
        XCTAssertEqual(queries(lab.runUntilIdle()), ["p1": 1, "p2": 1, "p3": 1])
        // Another querier on p2: ours falls silent while it is heard.
        _ = lab.send(query(from: 9), on: "p2")
        lab.dp.clock.advance(by: 250 * Time.s)
        XCTAssertEqual(queries(lab.runUntilIdle()), [:])
        lab.dp.clock.advance(by: 5 * Time.s)
        XCTAssertEqual(queries(lab.runUntilIdle()), ["p1": 1, "p2": 1, "p3": 1], "the other querier aged out: ours starts over")
        try lab.runner.execute("link set br0 type bridge mcast_querier 0")
        lab.dp.clock.advance(by: 200 * Time.s)
        XCTAssertEqual(queries(lab.runUntilIdle()), [:])
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    /// The bridge's multicast times as `ip link set … type bridge mcast_*` sets them, in USER_HZ
    /// centiseconds through 250 Hz jiffies (br_multicast.c's uses of each): one startup query
    /// then one every query interval (5 s), the query's code from the response interval (3 s:
    /// 30 tenths), a report's membership interval (10 s), a leave's last member count ×
    /// interval (3 × 0.5 s), a general query heard marks a router port for the querier
    /// interval (7 s), and a group past `mcast_hash_max` turns snooping off.
    func testMulticastTimesFollowTheBridgesSettings() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        let br = lab.dp.bridge(lab.dev("br0"))!, db = br.mdb
        try lab.runner.execute("link set br0 type bridge mcast_query_interval 500 mcast_startup_query_count 1 mcast_startup_query_interval 200 mcast_query_response_interval 300 mcast_last_member_count 3 mcast_last_member_interval 50 mcast_membership_interval 1000 mcast_querier_interval 700 mcast_hash_max 1")
        func queries(_ out: [String: [[UInt8]]], delay: UInt64 = 3 * Time.s) -> Int {
            out.values.joined().filter { f in
                var f = f
                return f.withUnsafeMutableBytes { b in
                    if case .query(false, 0, 0, delay) = MulticastListener.classify(b.baseAddress!, length: b.count, visit: { _, _ in }) { return true }
                    return false
                }
            }.count
        }
        try lab.runner.execute("link set br0 type bridge mcast_querier 1")
        XCTAssertEqual(queries(lab.runUntilIdle()), 3, "one at once on each port, its code 30 tenths")
        lab.dp.clock.advance(by: 5 * Time.s - 1)
        XCTAssertEqual(queries(lab.runUntilIdle()), 0, "one startup query only: the next a query interval later")
        lab.dp.clock.advance(by: 1)
        XCTAssertEqual(queries(lab.runUntilIdle()), 3)
        let g1 = ip(239, 1, 1, 1)
        _ = lab.send(report(g1, from: 1), on: "p1")
        _ = lab.send(report(g1, from: 2), on: "p2")
        XCTAssertEqual(db.groups[group(g1)]?.first?.expires, lab.dp.clock.now + 10 * Time.s, "membership interval")
        _ = lab.send(FrameBuilder.igmpFrame(type: 0x17, group: g1, srcIP: ip(198, 18, 0, 1), dstIP: ip(224, 0, 0, 2), src: mac(1)), on: "p1")
        XCTAssertEqual(db.groups[group(g1)]?.first { $0.port == lab.dev("p1").ifindex }?.expires, lab.dp.clock.now + 1500 * Time.ms,
                       "last member count × last member interval")
        _ = lab.send(query(from: 9), on: "p3")
        XCTAssertEqual(db.routers[lab.dev("p3").ifindex], lab.dp.clock.now + 7 * Time.s, "querier interval")
        // hash_max 1: a second group cannot be learnt; snooping goes off (and floods again).
        _ = lab.send(report(ip(239, 1, 1, 2), from: 2), on: "p2")
        XCTAssertFalse(db.snooping)
        // Refused as the kernel refuses them; Sluice's querier speaks IGMPv2/MLDv1 only.
        XCTAssertThrowsError(try lab.runner.execute("link set br0 type bridge mcast_igmp_version 1"))
        XCTAssertThrowsError(try lab.runner.execute("link set br0 type bridge mcast_igmp_version 3"))
        XCTAssertNoThrow(try lab.runner.execute("link set br0 type bridge mcast_igmp_version 2 mcast_mld_version 1 mcast_hash_elasticity 4"))
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    /// What the bridge device itself sends follows the database too (br_dev_xmit): with an
    /// IPv6 address on the bridge and a querier known, its neighbour solicitation for a host
    /// goes to the port that reported the host's solicited-node group and to the router port,
    /// not to the third port.
    func testTheBridgesOwnMulticastFollowsTheDatabase() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        try lab.runner.execute("sysctl net.ipv6.conf.all.accept_dad=0")
        try lab.runner.execute("addr add 2001:db8:9::1/64 dev br0")
        let host = IPv6Tests.a6("2001:db8:9::2"), ll = IPv6Tests.a6("fe80::2"), sol = IPv6Tests.solicited(host)
        // The host on p1 listens to its solicited-node group (MLDv1 report); a querier on p2.
        _ = lab.send(FrameBuilder.mldFrame([131, 0, 0, 0, 0, 0, 0, 0] + sol, srcIP: ll, dstIP: sol, src: mac(1)), on: "p1")
        let allNodes = IPv6Tests.a6("ff02::1"), q = IPv6Tests.a6("fe80::9")
        _ = lab.send(FrameBuilder.mldFrame([130, 0, 0, 0, 0x03, 0xE8, 0, 0] + [UInt8](repeating: 0, count: 16), srcIP: q, dstIP: allNodes, src: mac(9)), on: "p2")
        lab.dp.clock.advance(by: 2 * Time.s)
        _ = lab.runUntilIdle()
        // An echo request from the host (off p3, as if it moved): the reply needs its address, and
        // the solicitation goes out as the database says.
        let req = IPv6Tests.icmp6(src: host, dst: IPv6Tests.a6("2001:db8:9::1"), type: 128, rest: [0, 1, 0, 1], body: [1, 2, 3, 4])
        let out = lab.send(FrameBuilder.ethernet(dst: lab.dev("br0").mac, src: mac(1), type: EtherType.ipv6, payload: req), on: "p3")
        let ns = out.filter { $0.value.contains { $0.count > 54 && $0[54] == 135 } }
        XCTAssertEqual(Set(ns.keys), ["p1", "p2"], "\(out.mapValues(\.count))")
    }

    /// What goes up the bridge's own stack (br_handle_frame_finish's local_rcv): while a querier
    /// lets the database decide, a group goes up only when the host joined it or the bridge is
    /// a multicast router (`mcast_router 2`, or 1 for a querier interval after its own stack
    /// queried); anything flooded as without snooping goes up, and each multicast frame taken
    /// counts in the bridge's `multicast`. A promiscuous bridge takes everything, uncounted.
    func testWhatGoesUpTheBridgesOwnStack() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        let brDev = lab.dev("br0"), br = lab.dp.bridge(brDev)!
        let g1 = ip(239, 1, 1, 1), g2 = ip(239, 2, 2, 2), unknown = ip(239, 9, 9, 9)
        func up(_ frame: [UInt8]) -> (UInt64, UInt64) {
            let rx = brDev.stats.rxPackets, mc = brDev.stats.multicast
            _ = lab.send(frame, on: "p3")
            return (brDev.stats.rxPackets - rx, brDev.stats.multicast - mc)
        }
        XCTAssertTrue(up(data(g1, from: 3)) == (1, 1), "no querier: every group goes up")
        XCTAssertEqual(brDev.stats.rxBytes, UInt64(data(g1, from: 3).count - 14), "br_pass_frame_up counts skb->len, past the Ethernet header")
        _ = lab.send(report(g1, from: 1), on: "p1")
        _ = lab.send(query(from: 9), on: "p2")
        lab.dp.clock.advance(by: 1 * Time.s)
        _ = lab.runUntilIdle()
        XCTAssertTrue(up(data(g1, from: 3)) == (0, 0), "a port's group: not up")
        XCTAssertTrue(up(data(unknown, from: 3)) == (0, 0), "an unknown group goes to the routers only")
        XCTAssertTrue(up(data(ip(224, 0, 0, 251), from: 3)) == (1, 1), "link-local groups are flooded, and go up")
        XCTAssertTrue(up(FrameBuilder.ethernet(dst: .broadcast, src: mac(3), type: EtherType.ipv4,
                                             payload: FrameBuilder.udp(srcIP: ip(198, 18, 0, 3), dstIP: ip(255, 255, 255, 255), sport: 9, dport: 9, payload: [1])))
                      == (1, 0), "broadcast goes up, not counted as multicast")
        lab.dp.multicastHost(br, group(g2), join: true)
        XCTAssertTrue(up(data(g2, from: 3)) == (1, 1), "a group the host joined goes up")
        try lab.runner.execute("link set br0 type bridge mcast_router 2")
        XCTAssertEqual(br.mdb.hostRouter, 2)
        XCTAssertTrue(up(data(g1, from: 3)) == (1, 1), "a router bridge takes every group")
        XCTAssertTrue(up(data(unknown, from: 3)) == (1, 1))
        try lab.runner.execute("link set br0 type bridge mcast_router 0")
        XCTAssertTrue(up(data(unknown, from: 3)) == (0, 0))
        XCTAssertThrowsError(try lab.runner.execute("link set br0 type bridge mcast_router 3"), "br_multicast_set_router: EINVAL")
        XCTAssertEqual(br.mdb.hostRouter, 0, "nothing changed")
        // 1: a general query from the bridge's own stack makes it a router for 255 s.
        try lab.runner.execute("link set br0 type bridge mcast_router 1")
        XCTAssertTrue(up(data(unknown, from: 3)) == (0, 0))
        lab.dp.multicastQuery(br, nil, v6: false, source: 0, group: 0, maxDelay: Time.s, vid: 0)
        XCTAssertTrue(up(data(unknown, from: 3)) == (1, 1), "the bridge queried: a router")
        XCTAssertFalse(br.mdb.isRouter(v6: true, now: lab.dp.clock.now), "per family")
        lab.dp.clock.advance(by: 255 * Time.s)
        _ = lab.send(query(from: 9), on: "p2")
        lab.dp.clock.advance(by: 1 * Time.s)
        _ = lab.runUntilIdle()
        XCTAssertFalse(br.mdb.isRouter(v6: false, now: lab.dp.clock.now), "a querier interval later")
        // A promiscuous bridge takes the group up without counting it as multicast, and a
        // copy of the unicast it forwards (br_forward with local_rcv).
        let unicast = FrameBuilder.ethernet(dst: mac(1), src: mac(3), type: EtherType.ipv4,
                                            payload: FrameBuilder.udp(srcIP: ip(198, 18, 0, 3), dstIP: ip(198, 18, 0, 1), sport: 9, dport: 9, payload: [1]))
        XCTAssertTrue(up(unicast) == (0, 0), "not promiscuous: forwarded only")
        try lab.runner.execute("link set br0 promisc on")
        XCTAssertTrue(up(data(unknown, from: 3)) == (1, 0))
        XCTAssertTrue(up(unicast) == (1, 0), "promiscuous: a copy goes up")
        XCTAssertEqual(Lab.receivers(lab.send(unicast, on: "p3")), ["p1"], "and the frame still goes to its port")
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    /// MLDv1 and MLDv2 reports (all-nodes is never learnt), and listener messages that lie:
    /// a bad checksum, an unknown IGMP type, an IGMP message cut short, a general query not to
    /// 224.0.0.1 — dropped, counted, nothing learnt, nothing leaked.
    func testMLDAndListenerMessagesThatLie() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        let db = lab.dp.bridge(lab.dev("br0"))!.mdb
        let ll: [UInt8] = [0xfe, 0x80] + [UInt8](repeating: 0, count: 13) + [1]
        let g99: [UInt8] = [0xff, 0x15] + [UInt8](repeating: 0, count: 13) + [0x99]
        let g98: [UInt8] = [0xff, 0x15] + [UInt8](repeating: 0, count: 13) + [0x98]
        let v1 = FrameBuilder.mldFrame([131, 0, 0, 0, 0, 0, 0, 0] + g98, srcIP: ll, dstIP: g98, src: mac(1))
        _ = lab.send(v1, on: "p1")
        // MLDv2: CHANGE_TO_EXCLUDE {} for ff15::99 (join), CHANGE_TO_INCLUDE {} for ff15::98 (leave).
        let mld2: [UInt8] = [143, 0, 0, 0, 0, 0, 0, 2, 4, 0, 0, 0] + g99 + [3, 0, 0, 0] + g98
        let allRouters2: [UInt8] = [0xff, 0x02] + [UInt8](repeating: 0, count: 13) + [0x16]
        _ = lab.send(FrameBuilder.mldFrame(mld2, srcIP: ll, dstIP: allRouters2, src: mac(2)), on: "p2")
        let k99 = MDBKey(group: Inet6Wire.load128(g99), v6: true, vid: 0), k98 = MDBKey(group: Inet6Wire.load128(g98), v6: true, vid: 0)
        XCTAssertEqual(db.groups[k99]?.map(\.port), [lab.dev("p2").ifindex])
        XCTAssertEqual(db.groups[k98]?.map(\.port), [lab.dev("p1").ifindex], "another port's leave does not touch p1")
        let before = db.groups.count
        var bad = report(ip(239, 1, 1, 1), from: 1); bad[14 + 20 + 2] ^= 0xFF          // checksum
        let unknown = FrameBuilder.igmpFrame(type: 0x99, group: 0, srcIP: ip(198, 18, 0, 1), dstIP: ip(224, 0, 0, 1), src: mac(1))
        let short = FrameBuilder.ethernet(dst: MACAddress(raw: 0x0100_5E01_0101), src: mac(1), type: EtherType.ipv4,
                                          payload: FrameBuilder.ipv4(src: ip(198, 18, 0, 1), dst: ip(239, 1, 1, 1), proto: 2, ttl: 1, payload: [0x16, 0, 0, 0]))
        let misdirected = FrameBuilder.igmpFrame(type: 0x11, code: 10, group: 0, srcIP: ip(198, 18, 0, 1), dstIP: ip(239, 1, 1, 1), src: mac(1))
        for f in [bad, unknown, short, misdirected] {
            XCTAssertEqual(Lab.receivers(lab.send(f, on: "p1")), [], "dropped")
        }
        XCTAssertEqual(db.invalid, 4)
        XCTAssertEqual(db.groups.count, before)
        XCTAssertTrue(db.routers.isEmpty)
        XCTAssertEqual(lab.dev("p1").dropCount(.igmpInvalid), 4)
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }
}
