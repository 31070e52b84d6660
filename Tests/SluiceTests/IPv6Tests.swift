import XCTest
@testable import Sluice

/// The IPv6 receive/forward/local path and Neighbor Discovery in virtual time. Expected frames
/// are built here from the RFCs (8200 IPv6, 4443 ICMPv6, 4861 Neighbor Discovery, 4291
/// addressing, 2464 multicast MACs) with a checksum written in this file; the kernel's rules are
/// named per test (ndisc.c, icmp.c, ip6_output.c's ip6_forward).
final class IPv6Tests: XCTestCase {

    /// addrconf_verify on the virtual clock: an address with preferred_lft 2 and valid_lft 5
    /// is deprecated after 2 s (and no longer chosen as a source while another will do), gone
    /// after 5 s; its prefix route expired with it. A permanent address's prefix route stays.
    func testAddressLifetimesRunOut() throws {
        let r = try MemoryRouter(["addr add 2001:db8:1::1/64 dev r1", "addr add 2001:db8:9::2/64 dev r1",
                                  "addr add 2001:db8:9::1/64 dev r1 preferred_lft 2 valid_lft 5"])
        let v6 = r.dp.ipv6
        func addr(_ a: UInt128) -> Inet6Address? { v6.addresses[r.dev("r1").ifindex]?.first { $0.address == a } }
        let dyn = UInt128(0x2001_0db8_0009) << 80 | 1, perm = UInt128(0x2001_0db8_0009) << 80 | 2
        XCTAssertEqual(addr(dyn)?.permanent, false)
        XCTAssertEqual(v6.sourceAddress(r.dev("r1").ifindex, toward: UInt128(0x2001_0db8_0009) << 80 | 7), dyn)   // newest first
        r.dp.clock.advance(to: r.dp.clock.now + 2 * Time.s + Time.ms)
        r.dp.housekeeping()
        XCTAssertEqual(addr(dyn)?.deprecated, true)
        XCTAssertEqual(v6.sourceAddress(r.dev("r1").ifindex, toward: UInt128(0x2001_0db8_0009) << 80 | 7), perm)
        XCTAssertTrue(try r.runner.execute("addr show dev r1").contains("inet6 2001:db8:9::1/64 scope global deprecated dynamic"))
        r.dp.clock.advance(to: r.dp.clock.now + 3 * Time.s)
        r.dp.housekeeping()
        XCTAssertNil(addr(dyn))
        XCTAssertNotNil(addr(perm))
        XCTAssertNotNil(v6.fib.main.entry(UInt128(0x2001_0db8_0009) << 80, 64), "the permanent address's prefix route stays")
        // Alone on its prefix, a dynamic address's route expires with it, even once deleted.
        try r.runner.execute("addr add 2001:db8:7::1/64 dev r1 valid_lft 3 preferred_lft 3")
        try r.runner.execute("addr del 2001:db8:7::1/64 dev r1")
        XCTAssertNotNil(v6.fib.main.entry(UInt128(0x2001_0db8_0007) << 80, 64), "ipv6_del_addr leaves a dynamic address's prefix route")
        r.dp.clock.advance(to: r.dp.clock.now + 3 * Time.s + Time.ms)
        r.dp.housekeeping()
        XCTAssertNil(v6.fib.main.entry(UInt128(0x2001_0db8_0007) << 80, 64))
        XCTAssertThrowsError(try r.runner.execute("addr add 2001:db8:8::1/64 dev r1 valid_lft 0"))
        XCTAssertThrowsError(try r.runner.execute("addr add 2001:db8:8::1/64 dev r1 valid_lft 5 preferred_lft 6"))
    }

    /// RTA_EXPIRES on the virtual clock (rtm_to_fib6_config, fib6_check_expired, fib6_age): a
    /// route added with `expires 5` shows its seconds left and is the one lookups take; the
    /// moment it lapses every lookup skips it (the shorter route behind it answers), before any
    /// sweep; the sweep deletes it and announces the deletion. 0xFFFFFFFF is no expiry; IPv4
    /// ignores it.
    func testRoutesAddedWithAnExpiryLapse() throws {
        let r = try Self.router()
        let v6 = r.dp.ipv6
        try r.runner.execute("route add 2001:db8:5::/48 via 2001:db8:2::30")
        try r.runner.execute("route add 2001:db8:5:1::/64 via 2001:db8:1::30 expires 5")
        try r.runner.execute("route add 2001:db8:6::/64 via 2001:db8:1::30 expires 4294967295")
        try r.runner.execute("route add 198.18.6.0/24 dev r1 expires 5")
        let dst = UInt128(0x2001_0db8_0005_0001) << 64 | 9
        XCTAssertEqual(v6.fib.lookup(dst)?.dev, r.dev("r1").ifindex)
        let shown = try r.runner.execute("-6 route show")
        XCTAssertTrue(shown.contains("2001:db8:5:1::/64 via 2001:db8:1::30 dev r1 metric 1024 expires 5sec pref medium"), shown)
        XCTAssertTrue(shown.contains("2001:db8:6::/64 via 2001:db8:1::30 dev r1 metric 1024 pref medium"), shown)
        XCTAssertEqual(r.dp.ipv4.fib.main.allRoutes.first { $0.prefix == 0xC612_0600 }?.route.expires, 0, "IPv4 ignores expires")
        v6.fib.journal.on = true
        r.dp.clock.advance(to: r.dp.clock.now + 5 * Time.s)
        XCTAssertEqual(v6.fib.lookup(dst)?.dev, r.dev("r2").ifindex, "lapsed: the /48 answers at once")
        XCTAssertNotNil(v6.fib.main.entry(UInt128(0x2001_0db8_0005_0001) << 64, 64), "still there until the sweep")
        r.dp.clock.advance(to: r.dp.clock.now + Time.s)
        r.dp.housekeeping()
        XCTAssertNil(v6.fib.main.entry(UInt128(0x2001_0db8_0005_0001) << 64, 64))
        XCTAssertEqual(v6.fib.journal.entries.filter(\.deleted).map(\.length), [64], "the deletion is announced")
        XCTAssertEqual(v6.fib.main.expiring.count, 0)
        // `prepend` of the same route: File exists, and the expiry follows the new one's.
        try r.runner.execute("route prepend 2001:db8:7::/64 dev r1 expires 100")
        XCTAssertThrowsError(try r.runner.execute("route prepend 2001:db8:7::/64 dev r1 expires 300"))
        XCTAssertTrue(try r.runner.execute("-6 route show").contains("2001:db8:7::/64 dev r1 metric 1024 expires 300sec"))
        XCTAssertThrowsError(try r.runner.execute("route prepend 2001:db8:7::/64 dev r1"))
        r.dp.clock.advance(to: r.dp.clock.now + 400 * Time.s)
        r.dp.housekeeping()
        XCTAssertNotNil(v6.fib.main.entry(UInt128(0x2001_0db8_0007) << 80, 64), "no expiry any more")
        XCTAssertNotNil(v6.fib.lookup(UInt128(0x2001_0db8_0007) << 80 | 1))
    }

    let macA = MACAddress(raw: 0x0200_0000_00A1), macB = MACAddress(raw: 0x0200_0000_00B2)
    static func a6(_ s: String) -> [UInt8] {
        var a = in6_addr()
        precondition(inet_pton(AF_INET6, s, &a) == 1)
        return withUnsafeBytes(of: &a) { Array($0) }
    }
    let r1IP = a6("2001:db8:1::1"), r2IP = a6("2001:db8:2::1")
    let hostA = a6("2001:db8:1::10"), hostB = a6("2001:db8:2::20")

    /// A router with r1 = 2001:db8:1::1/64 and r2 = 2001:db8:2::1/64.
    typealias Router = MemoryRouter
    static func router() throws -> Router { try MemoryRouter(["addr add 2001:db8:1::1/64 dev r1", "addr add 2001:db8:2::1/64 dev r2"]) }

    // MARK: frames, built from the RFCs

    static func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    /// RFC 1071 over the RFC 8200 8.1 pseudo-header and the message.
    static func checksum(src: [UInt8], dst: [UInt8], next: UInt8, _ msg: [UInt8]) -> UInt16 {
        let bytes = src + dst + [0, 0] + be16(msg.count) + [0, 0, 0, next] + msg + (msg.count % 2 == 1 ? [0] : [])
        var sum: UInt32 = 0
        for i in stride(from: 0, to: bytes.count, by: 2) { sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1]) }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    static func ipv6(src: [UInt8], dst: [UInt8], next: UInt8, hop: UInt8, _ payload: [UInt8]) -> [UInt8] {
        [0x60, 0, 0, 0] + be16(payload.count) + [next, hop] + src + dst + payload
    }

    static func icmp6(src: [UInt8], dst: [UInt8], type: UInt8, code: UInt8 = 0, rest: [UInt8], body: [UInt8] = [], hop: UInt8 = 64) -> [UInt8] {
        var m = [type, code, 0, 0] + rest + body
        let c = checksum(src: src, dst: dst, next: 58, m)
        m[2] = UInt8(c >> 8); m[3] = UInt8(c & 0xFF)
        return ipv6(src: src, dst: dst, next: 58, hop: hop, m)
    }

    func eth(_ dst: MACAddress, _ src: MACAddress, _ p: [UInt8]) -> [UInt8] {
        FrameBuilder.ethernet(dst: dst, src: src, type: EtherType.ipv6, payload: p)
    }

    /// ff02::1:ffXX:XXXX and its MAC 33:33:ff:XX:XX:XX.
    static func solicited(_ a: [UInt8]) -> [UInt8] { a6("ff02::1:ff00:0").prefix(13) + a.suffix(3) }
    static func mcastMAC(_ g: [UInt8]) -> MACAddress { MACAddress([0x33, 0x33] + g.suffix(4)) }

    func ns(from src: [UInt8], mac: MACAddress, target: [UInt8], hop: UInt8 = 255, options: [UInt8]? = nil) -> [UInt8] {
        let dst = Self.solicited(target)
        let opt = options ?? (src == Self.a6("::") ? [] : [1, 1] + mac.octets)
        return eth(Self.mcastMAC(dst), mac, Self.icmp6(src: src, dst: dst, type: 135, rest: [0, 0, 0, 0], body: target + opt, hop: hop))
    }

    func echo(src: [UInt8], dst: [UInt8], hop: UInt8 = 64, size: Int = 56, seq: Int = 1) -> [UInt8] {
        Self.icmp6(src: src, dst: dst, type: 128, rest: [0x12, 0x34] + Self.be16(seq), body: [UInt8](repeating: 0x42, count: size), hop: hop)
    }

    /// Teaches the router both hosts (their solicitations for it) and returns nothing.
    func learnHosts(_ r: Router) {
        r.send(ns(from: hostA, mac: macA, target: r1IP), on: r.r1)
        r.send(ns(from: hostB, mac: macB, target: r2IP), on: r.r2)
    }

    // MARK: tests

    func testLinkLocalAddressComesFromTheMAC() throws {
        let r = try Self.router()
        // RFC 4291 2.5.1: 02:00:00:00:00:01 → interface identifier 0000:00ff:fe00:0001.
        let s = try r.runner.execute("addr show dev r1")
        XCTAssertTrue(s.contains("    inet6 2001:db8:1::1/64 scope global \n"), s)
        XCTAssertTrue(s.contains("    inet6 fe80::ff:fe00:1/64 scope link \n"), s)
        XCTAssertTrue(s.range(of: "2001:db8:1::1/64")!.lowerBound < s.range(of: "fe80::")!.lowerBound, "global before link-local, as the kernel lists")
        let routes = try r.runner.execute("route show -6")
        XCTAssertEqual(try r.runner.execute("-6 route show"), routes)
        XCTAssertTrue(routes.contains("2001:db8:1::/64 dev r1 proto kernel metric 256 pref medium \n"), routes)
        XCTAssertTrue(routes.contains("fe80::/64 dev r1 proto kernel metric 256 pref medium \n"), routes)
    }

    /// addrconf_notify NETDEV_CHANGEMTU: below IPV6_MIN_MTU (1280, RFC 8200 5) the device's
    /// inet6_dev goes — its addresses and routes with it — and IPv6 arriving there is dropped
    /// (ip6_rcv_core: no idev, InDiscards, IPV6DISABLED); back at 1280 the link-local address
    /// returns, from a fresh copy of `default`'s knobs.
    func testIPv6StopsOnADeviceBelowTheMinimumMTU() throws {
        let r = try Self.router()
        learnHosts(r)
        try r.runner.execute("sysctl net.ipv6.conf.r1.hop_limit=9")
        try r.runner.execute("link set r1 mtu 1279")
        XCTAssertTrue(r.dev("r1").inet6Absent)
        XCTAssertFalse(try r.runner.execute("addr show dev r1").contains("inet6"))
        XCTAssertFalse(try r.runner.execute("-6 route show").contains("dev r1"))
        XCTAssertThrowsError(try r.runner.execute("sysctl net.ipv6.conf.r1.hop_limit"))
        XCTAssertThrowsError(try r.runner.execute("addr add 2001:db8:1::1/64 dev r1"))
        let discards = r.dp.ipv6.stats.inDiscards
        XCTAssertTrue(r.send(eth(r.dev("r1").mac, macA, echo(src: hostA, dst: hostB)), on: r.r1).r2.isEmpty)
        XCTAssertEqual(r.dp.ipv6.stats.inDiscards, discards + 1)
        XCTAssertEqual(r.dev("r1").dropCount(.ipv6Disabled), 1)
        try r.runner.execute("link set r1 mtu 1280")
        XCTAssertFalse(r.dev("r1").inet6Absent)
        XCTAssertTrue(try r.runner.execute("addr show dev r1").contains("inet6 fe80::ff:fe00:1/64 scope link"))
        XCTAssertEqual(try r.runner.execute("sysctl net.ipv6.conf.r1.hop_limit"), "net.ipv6.conf.r1.hop_limit = 64\n")
    }

    func testNeighborSolicitationForTheRouterIsAnsweredAndTeachesTheSender() throws {
        let r = try Self.router()
        let out = r.send(ns(from: hostA, mac: macA, target: r1IP), on: r.r1)
        // RFC 4861 7.2.4: solicited advertisement to the source, R|S|O, target link-layer address.
        let na = Self.icmp6(src: r1IP, dst: hostA, type: 136, rest: [0xE0, 0, 0, 0], body: r1IP + [2, 1] + r.dev("r1").mac.octets, hop: 255)
        XCTAssertEqual(out.r1, [eth(macA, r.dev("r1").mac, na)])
        XCTAssertEqual(try r.runner.execute("-6 neigh show"), "2001:db8:1::10 dev r1 lladdr 02:00:00:00:00:a1 STALE\n")
        // Not for us, a hop limit other than 255, an option of length 0: no answer (RFC 4861 7.1.1).
        XCTAssertTrue(r.send(ns(from: hostA, mac: macA, target: Self.a6("2001:db8:1::77")), on: r.r1).r1.isEmpty)
        XCTAssertTrue(r.send(ns(from: hostA, mac: macA, target: r1IP, hop: 254), on: r.r1).r1.isEmpty)
        XCTAssertTrue(r.send(ns(from: hostA, mac: macA, target: r1IP, options: [1, 0, 0, 0, 0, 0, 0, 0]), on: r.r1).r1.isEmpty)
        XCTAssertEqual(r.dev("r1").dropCount(.ndisc), 2)
    }

    /// A unicast solicitation (a neighbour checking it can still reach us, RFC 4861 7.3.3) is
    /// answered without the override flag and without the target link-layer address:
    /// ndisc_recv_ns sends override and the option only for one sent to a group.
    func testUnicastSolicitationIsAnsweredWithoutOverrideOrLinkLayerAddress() throws {
        let r = try Self.router()
        let mac = r.dev("r1").mac
        let unicast = eth(mac, macA, Self.icmp6(src: hostA, dst: r1IP, type: 135, rest: [0, 0, 0, 0], body: r1IP + [1, 1] + macA.octets, hop: 255))
        let out = r.send(unicast, on: r.r1)
        // R|S, no O; nothing after the target.
        let na = Self.icmp6(src: r1IP, dst: hostA, type: 136, rest: [0xC0, 0, 0, 0], body: r1IP, hop: 255)
        XCTAssertEqual(out.r1, [eth(macA, mac, na)])
    }

    /// Proxy neighbour discovery (ndisc_recv_ns, pndisc_is_router, proxy_ndp): a proxy entry
    /// on r1 for an address routed through r2 is answered only with proxy_ndp on and the
    /// device forwarding; a solicitation to the group waits a random time below proxy_delay
    /// (0.8 s), one to our MAC is answered at once; the answer comes from r1's address, is
    /// solicited, not override, router only when the entry says so, with our link-layer
    /// address only for a group's solicitation. A DAD probe for it is answered to all-nodes.
    /// Expected frames from ndisc.c (ndisc_recv_ns, ndisc_send_na) and RFC 4861 7.2.
    func testProxyNeighbourDiscovery() throws {
        let r = try Self.router()
        let mac = r.dev("r1").mac
        let proxied = Self.a6("2001:db8:2::20")
        try r.runner.execute("-6 neigh add proxy 2001:db8:2::20 dev r1")
        XCTAssertTrue(r.send(ns(from: hostA, mac: macA, target: proxied), on: r.r1).r1.isEmpty, "proxy_ndp is off")
        XCTAssertTrue(r.advance(2 * Time.s).r1.isEmpty)
        r.dp.ipv6.setConf(.device(r.dev("r1")), .proxyNDP, 1)
        XCTAssertTrue(r.send(ns(from: hostA, mac: macA, target: proxied), on: r.r1).r1.isEmpty, "delayed")
        let later = r.advance(800 * Time.ms).r1
        let na = Self.icmp6(src: r1IP, dst: hostA, type: 136, rest: [0x40, 0, 0, 0], body: proxied + [2, 1] + mac.octets, hop: 255)
        XCTAssertEqual(later, [eth(macA, mac, na)])
        // To the group but our MAC: at once.
        let g = Self.solicited(proxied)
        let toOurMAC = eth(mac, macA, Self.icmp6(src: hostA, dst: g, type: 135, rest: [0, 0, 0, 0], body: proxied + [1, 1] + macA.octets, hop: 255))
        XCTAssertEqual(r.send(toOurMAC, on: r.r1).r1, [eth(macA, mac, na)])
        // NTF_ROUTER on the entry: R set.
        try r.runner.execute("-6 neigh replace proxy 2001:db8:2::20 dev r1 router")
        XCTAssertEqual(r.send(toOurMAC, on: r.r1).r1,
                       [eth(macA, mac, Self.icmp6(src: r1IP, dst: hostA, type: 136, rest: [0xC0, 0, 0, 0], body: proxied + [2, 1] + mac.octets, hop: 255))])
        // A unicast solicitation of the proxied address is forwarded toward it, unless all's
        // proxy_ndp is on (ip6_forward_proxy_check): then answered here, without the option.
        let unicast = eth(mac, macA, Self.icmp6(src: hostA, dst: proxied, type: 135, rest: [0, 0, 0, 0], body: proxied + [1, 1] + macA.octets, hop: 255))
        XCTAssertTrue(r.send(unicast, on: r.r1).r1.isEmpty)
        r.dp.ipv6.setConf(.all, .proxyNDP, 1)
        XCTAssertEqual(r.send(unicast, on: r.r1).r1,
                       [eth(macA, mac, Self.icmp6(src: r1IP, dst: hostA, type: 136, rest: [0xC0, 0, 0, 0], body: proxied, hop: 255))])
        // The device not forwarding: no answer.
        r.dp.ipv6.setConf(.device(r.dev("r1")), .forwarding, 0)
        XCTAssertTrue(r.send(toOurMAC, on: r.r1).r1.isEmpty)
        r.dp.ipv6.setConf(.device(r.dev("r1")), .forwarding, 1)
        // Someone's DAD for it: to all-nodes, not solicited, not override, the option.
        let allNodes = Self.a6("ff02::1")
        _ = r.send(ns(from: Self.a6("::"), mac: macA, target: proxied), on: r.r1)
        let dadAnswer = r.advance(800 * Time.ms).r1
        let linkLocal = Self.a6("fe80::ff:fe00:1")
        XCTAssertEqual(dadAnswer, [eth(Self.mcastMAC(allNodes), mac,
                                       Self.icmp6(src: linkLocal, dst: allNodes, type: 136, rest: [0x80, 0, 0, 0], body: proxied + [2, 1] + mac.octets, hop: 255))])
    }

    func testDuplicateAddressDetectionIsAnsweredToAllNodes() throws {
        let r = try Self.router()
        let out = r.send(ns(from: Self.a6("::"), mac: macA, target: r1IP), on: r.r1)
        // RFC 4861 7.2.4: to all-nodes, S clear, O set (R: a router).
        let allNodes = Self.a6("ff02::1")
        let na = Self.icmp6(src: r1IP, dst: allNodes, type: 136, rest: [0xA0, 0, 0, 0], body: r1IP + [2, 1] + r.dev("r1").mac.octets, hop: 255)
        XCTAssertEqual(out.r1, [eth(Self.mcastMAC(allNodes), r.dev("r1").mac, na)])
        XCTAssertEqual(try r.runner.execute("-6 neigh show"), "", "a DAD probe teaches nothing")
    }

    /// Duplicate address detection with the kernel's defaults (accept_dad 1, dad_transmits 1,
    /// rtr_solicit_delay 1 s, retrans_time 1 s, enhanced DAD): RFC 4862 5.4 and RFC 7527.
    func testDuplicateAddressDetectionProbesThenAddsTheAddressOrFailsIt() throws {
        let r = try MemoryRouter(["addr add 2001:db8:1::1/64 dev r1"], dad: true)
        let unspec = Self.a6("::")
        /// The DAD probes for `target` among frames: from ::, to its solicited-node group, no
        /// link-layer option, one nonce option (RFC 7527 2) — checked byte for byte but the nonce.
        func probes(_ frames: [[UInt8]], _ target: [UInt8]) -> [[UInt8]] {
            frames.filter { $0.count == 14 + 40 + 32 && Array($0[62..<78]) == target }.map { f in
                let nonce = Array(f[80..<86])
                let g = Self.solicited(target)
                let want = eth(Self.mcastMAC(g), r.dev("r1").mac,
                               Self.icmp6(src: unspec, dst: g, type: 135, rest: [0, 0, 0, 0], body: target + [14, 1] + nonce, hop: 255))
                XCTAssertEqual(f, want)
                XCTAssertNotEqual(nonce, [0, 0, 0, 0, 0, 0])
                return f
            }
        }
        func shown() -> String { (try? r.runner.execute("-6 addr show dev r1")) ?? "" }
        // Tentative: shown so, not answered for, no local route.
        XCTAssertTrue(shown().contains("inet6 2001:db8:1::1/64 scope global tentative"), shown())
        XCTAssertTrue(r.send(ns(from: hostA, mac: macA, target: r1IP), on: r.r1).r1.isEmpty, "a tentative address is not answered for")
        XCTAssertFalse(try r.runner.execute("-6 route show table local").contains("2001:db8:1::1"))
        // Within rtr_solicit_delay one probe; after retrans_time the address is ours.
        let first = probes(r.advance(1 * Time.s).r1, r1IP)
        XCTAssertEqual(first.count, 1)
        XCTAssertTrue(shown().contains("tentative"))
        XCTAssertTrue(probes(r.advance(1 * Time.s).r1, r1IP).isEmpty, "dad_transmits 1: one probe")
        XCTAssertTrue(shown().contains("inet6 2001:db8:1::1/64 scope global \n"), shown())
        XCTAssertTrue(try r.runner.execute("-6 route show table local").contains("local 2001:db8:1::1 dev r1"))
        XCTAssertEqual(r.send(ns(from: hostA, mac: macA, target: r1IP), on: r.r1).r1.count, 1, "now answered")
        // Our own probe coming back (same nonce) is not a conflict.
        let mine = Self.a6("2001:db8:1::2")
        _ = try r.runner.execute("addr add 2001:db8:1::2/64 dev r1")
        let probe = probes(r.advance(1 * Time.s).r1, mine)
        XCTAssertEqual(probe.count, 1)
        var looped = probe[0]
        looped.replaceSubrange(6..<12, with: macA.octets)
        _ = r.send(looped, on: r.r1)
        _ = r.advance(1 * Time.s)
        XCTAssertTrue(shown().contains("inet6 2001:db8:1::2/64 scope global \n"), shown())
        // Another node's probe for a tentative address (no nonce, or another) fails it.
        let theirs = Self.a6("2001:db8:1::3")
        _ = try r.runner.execute("addr add 2001:db8:1::3/64 dev r1")
        _ = r.send(ns(from: unspec, mac: macA, target: theirs, options: [14, 1, 1, 2, 3, 4, 5, 6]), on: r.r1)
        XCTAssertTrue(shown().contains("inet6 2001:db8:1::3/64 scope global dadfailed tentative"), shown())
        XCTAssertTrue(probes(r.advance(2 * Time.s).r1, theirs).isEmpty, "a failed address probes no more")
        XCTAssertFalse(try r.runner.execute("-6 route show table local").contains("2001:db8:1::3"))
        // An advertisement for a tentative address fails it too.
        let taken = Self.a6("2001:db8:1::4")
        _ = try r.runner.execute("addr add 2001:db8:1::4/64 dev r1")
        let na = Self.icmp6(src: taken, dst: Self.a6("ff02::1"), type: 136, rest: [0x20, 0, 0, 0], body: taken + [2, 1] + macA.octets, hop: 255)
        _ = r.send(eth(Self.mcastMAC(Self.a6("ff02::1")), macA, na), on: r.r1)
        XCTAssertTrue(shown().contains("inet6 2001:db8:1::4/64 scope global dadfailed tentative"), shown())
        XCTAssertEqual(r.dp.ipv6.stats.dadFailures, 2)
        // nodad: usable at once.
        _ = try r.runner.execute("addr add 2001:db8:1::5/64 dev r1 nodad")
        XCTAssertTrue(shown().contains("inet6 2001:db8:1::5/64 scope global nodad"), shown())
        XCTAssertEqual(r.dp.pool.inUse, 0)
    }

    /// Optimistic DAD (RFC 4429; addrconf_dad_begin, ndisc_recv_ns, ndisc_send_na): with
    /// optimistic_dad on, an `optimistic` address probes at once (no rtr_solicit_delay), has
    /// its local route while tentative, and a solicitation from another node is answered with
    /// the override flag clear (RFC 4429 3.3; router and solicited set: the router forwards);
    /// once DAD ends the override flag is set again. Without
    /// optimistic_dad the word is dropped, as inet6_rtm_newaddr drops it.
    func testOptimisticAddressIsAnsweredWithoutOverrideWhileDADRuns() throws {
        let r = try MemoryRouter(["sysctl net.ipv6.conf.all.optimistic_dad=1", "addr add 2001:db8:1::1/64 dev r1 optimistic"], dad: true)
        func shown() -> String { (try? r.runner.execute("-6 addr show dev r1")) ?? "" }
        XCTAssertTrue(shown().contains("inet6 2001:db8:1::1/64 scope global optimistic tentative"), shown())
        XCTAssertTrue(try r.runner.execute("-6 route show table local").contains("local 2001:db8:1::1 dev r1"))
        // The probe goes at once: within a millisecond, not a random part of a second.
        let probes = r.advance(1 * Time.ms).r1.filter { $0.count == 14 + 40 + 32 && Array($0[62..<78]) == r1IP }
        XCTAssertEqual(probes.count, 1)
        // Answered for while tentative: solicited, override clear (flags 0x40), our MAC.
        let answer = { (flags: UInt8) in
            self.eth(self.macA, r.dev("r1").mac, Self.icmp6(src: self.r1IP, dst: self.hostA, type: 136, rest: [flags, 0, 0, 0],
                                                  body: self.r1IP + [2, 1] + r.dev("r1").mac.octets, hop: 255))
        }
        XCTAssertEqual(r.send(ns(from: hostA, mac: macA, target: r1IP), on: r.r1).r1, [answer(0xC0)])
        // DAD done after retrans_time: no longer optimistic, answered with override.
        _ = r.advance(1 * Time.s)
        XCTAssertTrue(shown().contains("inet6 2001:db8:1::1/64 scope global \n"), shown())
        XCTAssertEqual(r.send(ns(from: hostA, mac: macA, target: r1IP), on: r.r1).r1, [answer(0xE0)])
        // Without optimistic_dad, `optimistic` is ignored.
        _ = try r.runner.execute("sysctl net.ipv6.conf.all.optimistic_dad=0")
        _ = try r.runner.execute("addr add 2001:db8:1::7/64 dev r1 optimistic")
        XCTAssertTrue(shown().contains("inet6 2001:db8:1::7/64 scope global tentative"), shown())
        _ = try r.runner.execute("sysctl net.ipv6.conf.all.optimistic_dad=1")
        XCTAssertThrowsError(try r.runner.execute("addr add 2001:db8:1::8/64 dev r1 optimistic nodad"))
        XCTAssertEqual(r.dp.pool.inUse, 0)
    }

    func testForwardingSolicitsTheNextHopAndDecrementsTheHopLimit() throws {
        let r = try Self.router()
        r.send(ns(from: hostA, mac: macA, target: r1IP), on: r.r1)
        let ping = echo(src: hostA, dst: hostB)
        var out = r.send(eth(r.dev("r1").mac, macA, ping), on: r.r1)
        // B unknown: a solicitation to its solicited-node group from r2's link-local address —
        // the packet waiting is not the router's own (ndisc_solicit, ndisc_send_ns; the kernel
        // does so side by side in Routing6LiveTests).
        let g = Self.solicited(hostB)
        let m = r.dev("r2").mac.octets
        let r2LinkLocal: [UInt8] = [0xFE, 0x80, 0, 0, 0, 0, 0, 0, m[0] ^ 0x02, m[1], m[2], 0xFF, 0xFE, m[3], m[4], m[5]]   // RFC 4291 A
        let sol = Self.icmp6(src: r2LinkLocal, dst: g, type: 135, rest: [0, 0, 0, 0], body: hostB + [1, 1] + r.dev("r2").mac.octets, hop: 255)
        XCTAssertEqual(out.r2, [eth(Self.mcastMAC(g), r.dev("r2").mac, sol)])
        XCTAssertTrue(try r.runner.execute("-6 neigh show dev r2").contains("2001:db8:2::20 dev r2  INCOMPLETE"))
        // B answers (solicited, router clear): REACHABLE, and the waiting packet leaves with hop limit 63.
        let na = Self.icmp6(src: hostB, dst: r2IP, type: 136, rest: [0x60, 0, 0, 0], body: hostB + [2, 1] + macB.octets, hop: 255)
        out = r.send(eth(r.dev("r2").mac, macB, na), on: r.r2)
        var fwd = ping
        fwd[7] = 63
        XCTAssertEqual(out.r2, [eth(macB, r.dev("r2").mac, fwd)])
        XCTAssertTrue(try r.runner.execute("-6 neigh show dev r2").contains("2001:db8:2::20 dev r2 lladdr 02:00:00:00:00:b2 REACHABLE"))
        XCTAssertEqual(r.dp.ipv6.stats.forwDatagrams, 1)
    }

    func testHopLimitExceededAndPacketTooBigAreAnsweredFromTheRouter() throws {
        let r = try Self.router()
        learnHosts(r)
        // RFC 4443 3.3: time exceeded, code 0, the invoking packet quoted, from the router's address facing A.
        let ping = echo(src: hostA, dst: hostB, hop: 1)
        var out = r.send(eth(r.dev("r1").mac, macA, ping), on: r.r1)
        XCTAssertEqual(out.r1, [eth(macA, r.dev("r1").mac, Self.icmp6(src: r1IP, dst: hostA, type: 3, rest: [0, 0, 0, 0], body: ping))])
        XCTAssertTrue(out.r2.isEmpty)
        // RFC 4443 3.2: packet too big with the egress MTU; routers do not fragment (RFC 8200 5).
        try r.runner.execute("link set r2 mtu 1300")
        let big = echo(src: hostA, dst: hostB, size: 1400)
        out = r.send(eth(r.dev("r1").mac, macA, big), on: r.r1)
        // The quote: as much of the packet as keeps the error within 1280 bytes.
        let quote = Array(big.prefix(1280 - 48))
        XCTAssertEqual(out.r1, [eth(macA, r.dev("r1").mac, Self.icmp6(src: r1IP, dst: hostA, type: 2, rest: [0, 0, 0x05, 0x14], body: quote))])
        XCTAssertTrue(out.r2.isEmpty)
    }

    /// ip6_mc_input: an echo request to a group the router has not joined is dropped without
    /// an answer and without counting InDiscards (a kernel veth end receiving three pings to
    /// ff02::1:ff00:1234: Ip6InDiscards stayed 0).
    func testMulticastToAGroupNotJoinedIsDroppedUncounted() throws {
        let r = try Self.router()
        let discards = r.dp.ipv6.stats.inDiscards
        let group = Self.a6("ff02::1:ff00:1234")
        let out = r.send(eth(MACAddress(raw: 0x3333_FF00_1234), macA, echo(src: Self.a6("fe80::a"), dst: group)), on: r.r1)
        XCTAssertTrue(out.r1.isEmpty && out.r2.isEmpty)
        XCTAssertEqual(r.dp.ipv6.stats.inDiscards, discards)
        XCTAssertEqual(r.dp.pool.inUse, 0)
    }

    func testNoRouteUnknownNextHeaderAndEcho() throws {
        let r = try Self.router()
        learnHosts(r)
        // No route: destination unreachable, code 0 (RFC 4443 3.1).
        let lost = echo(src: hostA, dst: Self.a6("2001:db8:99::9"))
        var out = r.send(eth(r.dev("r1").mac, macA, lost), on: r.r1)
        XCTAssertEqual(out.r1, [eth(macA, r.dev("r1").mac, Self.icmp6(src: r1IP, dst: hostA, type: 1, rest: [0, 0, 0, 0], body: lost))])
        // An unknown next header for us: parameter problem code 1 pointing at the field (offset 6).
        let odd = Self.ipv6(src: hostA, dst: r1IP, next: 253, hop: 64, [1, 2, 3, 4, 5, 6, 7, 8])
        out = r.send(eth(r.dev("r1").mac, macA, odd), on: r.r1)
        XCTAssertEqual(out.r1, [eth(macA, r.dev("r1").mac, Self.icmp6(src: r1IP, dst: hostA, type: 4, code: 1, rest: [0, 0, 0, 6], body: odd))])
        // An echo request to the router's far address: the reply comes from that address.
        let req = echo(src: hostA, dst: r2IP, seq: 9)
        out = r.send(eth(r.dev("r1").mac, macA, req), on: r.r1)
        XCTAssertEqual(out.r1, [eth(macA, r.dev("r1").mac, Self.icmp6(src: r2IP, dst: hostA, type: 129, rest: [0x12, 0x34, 0, 9], body: [UInt8](repeating: 0x42, count: 56)))])
        // A route added by hand (metric 1024 as IP6_RT_PRIO_USER) carries it on.
        try r.runner.execute("route add 2001:db8:99::/64 via 2001:db8:2::20")
        XCTAssertTrue(try r.runner.execute("route show -6").contains("2001:db8:99::/64 via 2001:db8:2::20 dev r2 metric 1024 pref medium \n"))
        out = r.send(eth(r.dev("r1").mac, macA, lost), on: r.r1)
        XCTAssertEqual(out.r2.count, 1)
    }

    func testMalformedPacketsAreCountedAndLoseNothing() throws {
        let r = try Self.router()
        learnHosts(r)
        let good = echo(src: hostA, dst: hostB)
        var version4 = good; version4[0] = 0x40
        var longer = good; longer[4] = 0x7F                      // payload length past the frame
        var badSum = good; badSum[40 + 2] ^= 0xFF
        let toUs = echo(src: hostA, dst: r1IP)
        var badSumToUs = toUs; badSumToUs[40 + 2] ^= 0xFF
        for f in [version4, longer, Array(good.prefix(30)), badSumToUs] {
            let out = r.send(eth(r.dev("r1").mac, macA, f), on: r.r1)
            XCTAssertTrue(out.r1.isEmpty && out.r2.isEmpty)
        }
        let st = r.dp.ipv6.stats
        XCTAssertEqual(st.inHdrErrors, 1)
        XCTAssertEqual(st.inTruncatedPkts, 2)
        XCTAssertEqual(st.icmpInCsumErrors, 1)
        // A forwarded packet's upper layer is not the router's business: its bad checksum passes.
        XCTAssertEqual(r.send(eth(r.dev("r1").mac, macA, badSum), on: r.r1).r2.count, 1)
        XCTAssertEqual(r.dp.pool.inUse, 0, "nothing leaked")
    }

    func testAnUnresolvableNextHopFailsAfterThreeSolicitationsWithAddressUnreachable() throws {
        let r = try Self.router()
        r.send(ns(from: hostA, mac: macA, target: r1IP), on: r.r1)
        let ping = echo(src: hostA, dst: hostB)
        var out = r.send(eth(r.dev("r1").mac, macA, ping), on: r.r1)
        XCTAssertEqual(out.r2.count, 1, "the first solicitation")
        // RFC 4861 7.3.3 / 10: MAX_MULTICAST_SOLICIT 3, RETRANS_TIMER 1 s.
        out = r.advance(1 * Time.s); XCTAssertEqual(out.r2.count, 1)
        out = r.advance(1 * Time.s); XCTAssertEqual(out.r2.count, 1)
        XCTAssertTrue(out.r1.isEmpty)
        out = r.advance(1 * Time.s)
        XCTAssertTrue(out.r2.isEmpty)
        // Then FAILED, and the waiting packet — as forwarded, its hop limit already decremented
        // (ip6_forward before the neighbour queue) — is answered: destination unreachable, code 3.
        var queued = ping
        queued[7] = 63
        XCTAssertEqual(out.r1, [eth(macA, r.dev("r1").mac, Self.icmp6(src: r1IP, dst: hostA, type: 1, code: 3, rest: [0, 0, 0, 0], body: queued))])
        XCTAssertTrue(try r.runner.execute("-6 neigh show dev r2").contains("2001:db8:2::20 dev r2  FAILED"))
        XCTAssertEqual(r.dp.pool.inUse, 0)
    }

    /// A device's own neighbour parameters (`ip ntable change name ndisc_cache dev r2
    /// mcast_probes 1`, neigh_parms per device): one multicast solicitation on r2, then FAILED
    /// after retrans_time; the table's (three) still apply on r1.
    func testADevicesOwnNeighbourParametersApplyToItsEntriesOnly() throws {
        let r = try Self.router()
        var p = r.dp.ipv6.neighbours.parms(r.dev("r2").ifindex)
        p.mcastProbes = 1
        r.dp.ipv6.neighbours.setDeviceParams(r.dev("r2").ifindex, p)
        XCTAssertEqual(r.dp.ipv6.neighbours.parms(r.dev("r1").ifindex).mcastProbes, 3)
        r.send(ns(from: hostA, mac: macA, target: r1IP), on: r.r1)
        var out = r.send(eth(r.dev("r1").mac, macA, echo(src: hostA, dst: hostB)), on: r.r1)
        XCTAssertEqual(out.r2.count, 1, "the one solicitation")
        out = r.advance(1 * Time.s)
        XCTAssertTrue(out.r2.isEmpty)
        XCTAssertEqual(out.r1.count, 1, "address unreachable after one probe")
        XCTAssertTrue(try r.runner.execute("-6 neigh show dev r2").contains("2001:db8:2::20 dev r2  FAILED"))
        // A neighbour on r1 still gets three.
        let hostC = Self.a6("2001:db8:1::30")
        out = r.send(eth(r.dev("r1").mac, macA, echo(src: hostA, dst: hostC)), on: r.r1)
        XCTAssertEqual(out.r1.count, 1)
        XCTAssertEqual(r.advance(1 * Time.s).r1.count, 1)
        XCTAssertEqual(r.advance(1 * Time.s).r1.count, 1)
        _ = r.advance(1 * Time.s)
        XCTAssertTrue(try r.runner.execute("-6 neigh show dev r1").contains("2001:db8:1::30 dev r1  FAILED"))
        XCTAssertEqual(r.dp.pool.inUse, 0)
    }

    func testErrorsAreRateLimitedButPacketTooBigIsNot() throws {
        let r = try Self.router()
        learnHosts(r)
        // icmpv6_xrlim_allow: 1 s shortened by the /64 route back to A to 250 ms, a burst of 6.
        var sent = 0
        for i in 0..<10 { sent += r.send(eth(r.dev("r1").mac, macA, echo(src: hostA, dst: hostB, hop: 1, seq: i)), on: r.r1).r1.count }
        XCTAssertEqual(sent, 6)
        _ = r.advance(250 * Time.ms)
        sent = 0
        for i in 0..<2 { sent += r.send(eth(r.dev("r1").mac, macA, echo(src: hostA, dst: hostB, hop: 1, seq: i)), on: r.r1).r1.count }
        XCTAssertEqual(sent, 1)
        // ratemask 0-1,3-127: packet too big is never limited.
        try r.runner.execute("link set r2 mtu 1300")
        sent = 0
        for i in 0..<10 { sent += r.send(eth(r.dev("r1").mac, macA, echo(src: hostA, dst: hostB, size: 1400, seq: i)), on: r.r1).r1.count }
        XCTAssertEqual(sent, 10)
        XCTAssertEqual(r.dp.ipv6.stats.icmpRateLimited, 5)
    }

    func testExtensionHeaderChainsAreWalkedAndTheirErrorsAnswered() throws {
        let r = try Self.router()
        learnHosts(r)
        let body = Array(echo(src: hostA, dst: r1IP).dropFirst(40))      // an ICMPv6 echo request
        // Destination options (8 bytes, padding only) before the echo: walked, answered.
        var p = Self.ipv6(src: hostA, dst: r1IP, next: 60, hop: 64, [58, 0, 1, 4, 0, 0, 0, 0] + body)
        var out = r.send(eth(r.dev("r1").mac, macA, p), on: r.r1)
        XCTAssertEqual(out.r1.count, 1)
        XCTAssertEqual(out.r1.first?[14 + 40], 129, "an echo reply")
        // Hop-by-hop anywhere but first: unrecognized next header, pointing at the field naming it (RFC 8200 4.1).
        p = Self.ipv6(src: hostA, dst: r1IP, next: 60, hop: 64, [0, 0, 1, 4, 0, 0, 0, 0] + [58, 0, 1, 4, 0, 0, 0, 0] + body)
        out = r.send(eth(r.dev("r1").mac, macA, p), on: r.r1)
        XCTAssertEqual(out.r1, [eth(macA, r.dev("r1").mac, Self.icmp6(src: r1IP, dst: hostA, type: 4, code: 1, rest: [0, 0, 0, 40], body: p))])
        // A routing header with segments left and a type Sluice does not route: erroneous
        // header field, pointing at the routing type (RFC 8200 4.4).
        p = Self.ipv6(src: hostA, dst: r1IP, next: 43, hop: 64, [58, 0, 253, 1, 0, 0, 0, 0] + body)
        out = r.send(eth(r.dev("r1").mac, macA, p), on: r.r1)
        XCTAssertEqual(out.r1, [eth(macA, r.dev("r1").mac, Self.icmp6(src: r1IP, dst: hostA, type: 4, code: 0, rest: [0, 0, 0, 42], body: p))])
        // An extension header longer than the packet: a header error, silently dropped.
        p = Self.ipv6(src: hostA, dst: r1IP, next: 60, hop: 64, [58, 9, 1, 4, 0, 0, 0, 0] + body)
        XCTAssertTrue(r.send(eth(r.dev("r1").mac, macA, p), on: r.r1).r1.isEmpty)
        XCTAssertEqual(r.dp.ipv6.stats.inHdrErrors, 3)
        XCTAssertEqual(r.dp.pool.inUse, 0)
    }

    /// An IPv6 datagram cut into fragments of `chunk` payload bytes (RFC 8200 4.5).
    static func fragments(_ packet: [UInt8], chunk: Int, id: UInt8 = 7) -> [[UInt8]] {
        let header = Array(packet[0..<40]), payload = Array(packet[40...])
        var out: [[UInt8]] = []
        var off = 0
        while off < payload.count {
            let len = min(chunk, payload.count - off)
            let more: UInt16 = off + len < payload.count ? 1 : 0
            let field = UInt16(off / 8) << 3 | more
            var h = header
            h[6] = 44
            h[4] = UInt8((8 + len) >> 8); h[5] = UInt8((8 + len) & 0xFF)
            out.append(h + [packet[6], 0, UInt8(field >> 8), UInt8(field & 0xFF), 0, 0, 0, id] + Array(payload[off..<(off + len)]))
            off += len
        }
        return out
    }

    func testFragmentsForTheRouterAreReassembledAndTheReplyFragmented() throws {
        let r = try Self.router()
        learnHosts(r)
        let req = echo(src: hostA, dst: r1IP, size: 2000, seq: 3)
        let frags = Self.fragments(req, chunk: 1448)
        XCTAssertEqual(frags.count, 2)
        // Out of order: the last first.
        XCTAssertTrue(r.send(eth(r.dev("r1").mac, macA, frags[1]), on: r.r1).r1.isEmpty)
        let out = r.send(eth(r.dev("r1").mac, macA, frags[0]), on: r.r1).r1
        // The reply (2008 bytes of ICMPv6) leaves in fragments that fit r1's MTU of 1500.
        XCTAssertEqual(out.count, 2)
        XCTAssertTrue(out.allSatisfy { $0.count <= 14 + 1500 && $0[14 + 6] == 44 })
        // Reassembled by hand: the echo reply with a valid checksum and the request's data.
        let p0 = Array(out[0][14...]), p1 = Array(out[1][14...])
        let body = Array(p0[48...]) + Array(p1[48...])
        XCTAssertEqual(body.count, 2008)
        XCTAssertEqual(body[0], 129)
        XCTAssertEqual(Array(body[8...]), [UInt8](repeating: 0x42, count: 2000))
        XCTAssertEqual(Self.checksum(src: r1IP, dst: hostA, next: 58, body), 0, "the ICMPv6 checksum over the whole reply")
        XCTAssertEqual(UInt16(p1[40 + 2]) << 8 | UInt16(p1[40 + 3]), UInt16(1448 / 8) << 3, "the second fragment's offset, no more-fragments")
        XCTAssertEqual(r.dp.ipv6.stats.reasmOKs, 1)
        XCTAssertEqual(r.dp.pool.inUse, 0)
    }

    func testOverlapsDiscardAndTimeoutsAnswerWithTimeExceeded() throws {
        let r = try Self.router()
        learnHosts(r)
        let req = echo(src: hostA, dst: r1IP, size: 2000, seq: 4)
        let frags = Self.fragments(req, chunk: 1448)
        // RFC 5722: an overlapping fragment discards the whole datagram.
        r.send(eth(r.dev("r1").mac, macA, frags[0]), on: r.r1)
        var overlap = Self.fragments(req, chunk: 1440)[1]                    // starts at 1440 < 1448
        overlap[40 + 7] = 7
        XCTAssertTrue(r.send(eth(r.dev("r1").mac, macA, overlap), on: r.r1).r1.isEmpty)
        XCTAssertTrue(r.send(eth(r.dev("r1").mac, macA, frags[1]), on: r.r1).r1.isEmpty, "the datagram is gone")
        XCTAssertEqual(r.dp.ipv6.stats.reasmOKs, 0)
        // Only the first fragment of another: after 30 s, time exceeded code 1 quoting it.
        let lone = Self.fragments(echo(src: hostA, dst: r1IP, size: 2000, seq: 5), chunk: 1448, id: 9)[0]
        r.send(eth(r.dev("r1").mac, macA, lone), on: r.r1)
        XCTAssertTrue(r.advance(29 * Time.s).r1.isEmpty)
        let out = r.advance(2 * Time.s).r1
        XCTAssertEqual(out, [eth(macA, r.dev("r1").mac, Self.icmp6(src: r1IP, dst: hostA, type: 3, code: 1, rest: [0, 0, 0, 0], body: Array(lone.prefix(1232))))])
        // Two queues expired: that one, and the second fragment left of the discarded datagram
        // (no first fragment: no message).
        XCTAssertEqual(r.dp.ipv6.stats.reasmTimeout, 2)
        XCTAssertEqual(r.dp.pool.inUse, 0)
    }

    func testUDPGoesToARegisteredPortElsePortUnreachable() throws {
        let r = try Self.router()
        learnHosts(r)
        var got: [(Int, [UInt8])] = []
        r.dp.ipv6.registerUDP(port: 5000) { _, dev, ip, off, total in
            got.append((Int(dev.ifindex), Array(UnsafeRawBufferPointer(start: ip + off + 8, count: total - off - 8))))
        }
        func udp(_ dport: UInt16) -> [UInt8] {
            var u: [UInt8] = [0x9c, 0x40] + Self.be16(Int(dport)) + Self.be16(12) + [0, 0, 1, 2, 3, 4]
            let c = Self.checksum(src: hostA, dst: r1IP, next: 17, u)
            u[6] = UInt8(c >> 8); u[7] = UInt8(c & 0xFF)
            return Self.ipv6(src: hostA, dst: r1IP, next: 17, hop: 64, u)
        }
        XCTAssertTrue(r.send(eth(r.dev("r1").mac, macA, udp(5000)), on: r.r1).r1.isEmpty)
        XCTAssertEqual(got.count, 1)
        XCTAssertEqual(got.first?.1, [1, 2, 3, 4])
        // Another port: destination unreachable, port unreachable (RFC 4443 3.1, code 4).
        let other = udp(5001)
        XCTAssertEqual(r.send(eth(r.dev("r1").mac, macA, other), on: r.r1).r1,
                       [eth(macA, r.dev("r1").mac, Self.icmp6(src: r1IP, dst: hostA, type: 1, code: 4, rest: [0, 0, 0, 0], body: other))])
        XCTAssertEqual(r.dp.pool.inUse, 0)
    }

    func testAddressOnABridgeAnswersNeighborDiscoveryAndEchoThroughItsPorts() throws {
        // Multicast solicitations are flooded and go up to the bridge device (br_pass_frame_up).
        let lab = try Lab(ports: ["p1", "p2"])
        try lab.runner.execute("addr add 2001:db8:1::1/64 dev br0")
        let br = lab.dev("br0")
        let out = lab.send(ns(from: hostA, mac: macA, target: r1IP), on: "p1")
        XCTAssertEqual(out["p2"]?.count, 1, "the solicitation is still flooded")
        let na = Self.icmp6(src: r1IP, dst: hostA, type: 136, rest: [0xE0, 0, 0, 0], body: r1IP + [2, 1] + br.mac.octets, hop: 255)
        XCTAssertEqual(out["p1"], [eth(macA, br.mac, na)])
        let reply = lab.send(eth(br.mac, macA, echo(src: hostA, dst: r1IP, seq: 2)), on: "p1")
        XCTAssertEqual(reply["p1"], [eth(macA, br.mac, Self.icmp6(src: r1IP, dst: hostA, type: 129, rest: [0x12, 0x34, 0, 2], body: [UInt8](repeating: 0x42, count: 56)))])
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    /// 20 000 packets made from valid ones with random damage (lengths, next headers, option
    /// lengths, hop limits, ND options, fragment fields, truncation): whatever happens to each,
    /// the router keeps going and every buffer comes back.
    func testRandomlyDamagedPacketsNeverHurtTheRouter() throws {
        let r = try Self.router()
        learnHosts(r)
        var rng = SplitMix(seed: 0x1F6)
        let seeds: [[UInt8]] = [
            echo(src: hostA, dst: hostB), echo(src: hostA, dst: r1IP),
            Self.ipv6(src: hostA, dst: r1IP, next: 60, hop: 64, [58, 0, 1, 4, 0, 0, 0, 0] + Array(echo(src: hostA, dst: r1IP).dropFirst(40))),
            Array(ns(from: hostA, mac: macA, target: r1IP).dropFirst(14)),
            Self.fragments(echo(src: hostA, dst: r1IP, size: 2000), chunk: 1448)[0],
            Self.fragments(echo(src: hostA, dst: r1IP, size: 2000), chunk: 1448, id: 8)[1],
        ]
        for i in 0..<20_000 {
            var p = seeds[i % seeds.count]
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let o = Int(rng.next() % UInt64(p.count))
                p[o] = UInt8(truncatingIfNeeded: rng.next())
            }
            if rng.next() % 5 == 0 { p = Array(p.prefix(Int(rng.next() % UInt64(p.count + 1)))) }
            let dst = rng.next() % 3 == 0 ? Self.mcastMAC(Self.solicited(r1IP)) : r.dev("r1").mac
            r.r1.inject(eth(dst, macA, p))
            if i % 64 == 0 { _ = r.run() }
        }
        _ = r.run()
        _ = r.advance(31 * Time.s)                       // fragment queues expire
        _ = r.advance(1 * Time.s)
        XCTAssertEqual(r.dp.pool.inUse, r.dp.ipv6.neighbours.queued + r.dp.ipv4.neighbours.queued, "only packets waiting for a neighbour are held")
        let st = r.dp.ipv6.stats
        XCTAssertGreaterThan(st.inHdrErrors + st.inTruncatedPkts + st.icmpInCsumErrors + st.inAddrErrors, 1000)
        // Still routing.
        let out = r.send(eth(r.dev("r1").mac, macA, echo(src: hostA, dst: hostB, seq: 77)), on: r.r1)
        XCTAssertEqual(out.r2.count, 1)
    }

    /// As the kernel: a device going down takes its routes (rt6_sync_down_dev), coming up brings
    /// the connected ones back; a gateway must be on a connected prefix; ECMP spreads flows by a
    /// hash of the addresses, one flow always on one next hop.
    func testRoutesFollowLinkStateAndECMPSpreadsFlows() throws {
        let r = try Self.router()
        learnHosts(r)
        try r.runner.execute("route add 2001:db8:50::/64 via 2001:db8:2::20")
        XCTAssertThrowsError(try r.runner.execute("route add 2001:db8:60::/64 via 2001:db8:3::3"), "gateway not directly reachable")
        try r.runner.execute("link set r2 down")
        var shown = try r.runner.execute("-6 route show")
        XCTAssertFalse(shown.contains("2001:db8:2::/64") || shown.contains("2001:db8:50::/64"), shown)
        XCTAssertTrue(shown.contains("2001:db8:1::/64 dev r1 proto kernel metric 256 pref medium"), shown)
        try r.runner.execute("link set r2 up")
        // addrconf_ifdown (keep_addr_on_down 0): the address went with the link; the link-local
        // one comes back with it, the global one when it is added again.
        shown = try r.runner.execute("-6 route show")
        XCTAssertFalse(shown.contains("2001:db8:2::/64"), shown)
        XCTAssertTrue(shown.contains("fe80::/64 dev r2 proto kernel metric 256 pref medium"), shown)
        try r.runner.execute("addr add 2001:db8:2::1/64 dev r2")
        shown = try r.runner.execute("-6 route show")
        XCTAssertTrue(shown.contains("2001:db8:2::/64 dev r2 proto kernel metric 256 pref medium"), shown)
        learnHosts(r)
        try r.runner.execute("route add 2001:db8:100::/64 nexthop via 2001:db8:1::10 dev r1 nexthop via 2001:db8:2::20 dev r2")
        var viaR1 = 0, viaR2 = 0
        for h in 0..<64 {
            var dst = Self.a6("2001:db8:100::")
            dst[15] = UInt8(h); dst[14] = UInt8(h * 7 & 0xFF)
            let out = r.send(eth(r.dev("r1").mac, macA, echo(src: hostA, dst: dst)), on: r.r1)
            viaR1 += out.r1.count; viaR2 += out.r2.count
        }
        XCTAssertEqual(viaR1 + viaR2, 64)
        XCTAssertGreaterThan(viaR1, 16); XCTAssertGreaterThan(viaR2, 16)
        let f = echo(src: hostA, dst: Self.a6("2001:db8:100::5"))
        let first = r.send(eth(r.dev("r1").mac, macA, f), on: r.r1)
        for _ in 0..<5 {
            let again = r.send(eth(r.dev("r1").mac, macA, f), on: r.r1)
            XCTAssertEqual(again.r1.count, first.r1.count); XCTAssertEqual(again.r2.count, first.r2.count)
        }
    }
}
