import XCTest
@testable import Sluice

/// GRE tunnels in virtual time: the bytes RFC 2784/2890 define on the way out, and on the way
/// in the checks ip_tunnel_rcv makes and hostile headers that must cost nothing but a count.
final class GRETests: XCTestCase {
    /// An IPv4 frame to r1 (its MAC …:01) with a valid header checksum.
    static func ipv4(src: [UInt8], dst: [UInt8], proto: UInt8, ttl: UInt8 = 64, tos: UInt8 = 0, payload: [UInt8]) -> [UInt8] {
        var ip: [UInt8] = [0x45, tos, 0, 0, 0, 1, 0x40, 0, ttl, proto, 0, 0] + src + dst
        let total = 20 + payload.count
        ip[2] = UInt8(total >> 8); ip[3] = UInt8(total & 0xFF)
        let c = sum(ip)
        ip[10] = UInt8(c >> 8); ip[11] = UInt8(c & 0xFF)
        return [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0x0B, 0x08, 0x00] + ip + payload
    }
    /// The Internet checksum of `b` (RFC 1071), complemented (GROTests' helper).
    static func sum(_ b: [UInt8]) -> UInt16 { GROTests.csum(b) }
    /// A GRE header (C, K, S as given) and payload, its checksum right unless `badSum`.
    static func gre(proto: UInt16 = 0x0800, csum: Bool, key: UInt32?, seq: UInt32?, payload: [UInt8], badSum: Bool = false) -> [UInt8] {
        var flags: UInt16 = 0
        if csum { flags |= 0x8000 }; if key != nil { flags |= 0x2000 }; if seq != nil { flags |= 0x1000 }
        var g: [UInt8] = [UInt8(flags >> 8), 0, UInt8(proto >> 8), UInt8(proto & 0xFF)]
        if csum { g += [0, 0, 0, 0] }
        if let key { g += FrameBuilder.be32(key) }
        if let seq { g += FrameBuilder.be32(seq) }
        g += payload
        if csum { let c = sum(g) &+ (badSum ? 1 : 0); g[4] = UInt8(c >> 8); g[5] = UInt8(c & 0xFF) }
        return g
    }
    let inner = ipv4(src: [198, 18, 9, 9], dst: [198, 18, 2, 2], proto: 17, ttl: 30, payload: [0x13, 0x88, 0x13, 0x89, 0, 12, 0, 0, 1, 2, 3, 4])

    func router() throws -> MemoryRouter {
        try MemoryRouter(["addr add 198.18.1.1/24 dev r1", "addr add 198.18.2.1/24 dev r2",
                          "neigh add 198.18.1.2 lladdr 02:00:00:00:00:0b dev r1", "neigh add 198.18.2.2 lladdr 02:00:00:00:00:0c dev r2",
                          "link add gre1 type gre remote 198.18.1.2 local 198.18.1.1 key 5 csum seq", "link set gre1 up", "addr add 198.18.30.1/24 dev gre1",
                          "route add 198.18.9.0/24 dev gre1"])
    }

    func testEncapsulationAsTheRFCsWriteIt() throws {
        let r = try router()
        XCTAssertEqual(r.dev("gre1").mtu, 1500 - 20 - 16, "ip_tunnel_bind_dev: the underlay's MTU less IPv4 and GRE with checksum, key, sequence")
        let toTunnel = Self.ipv4(src: [198, 18, 2, 2], dst: [198, 18, 9, 9], proto: 17, ttl: 20, payload: [0x13, 0x88, 0x13, 0x89, 0, 12, 0, 0, 9, 9, 9, 9])
        var f = toTunnel; f[0...5] = [2, 0, 0, 0, 0, 2][...]
        for k in 0..<2 {
            let out = try XCTUnwrap(r.send(f, on: r.r2).r1.first, "encapsulated, sent by r1")
            XCTAssertEqual(out.count, 14 + 20 + 16 + (toTunnel.count - 14))
            XCTAssertEqual(Array(out[0..<6]), [2, 0, 0, 0, 0, 0x0B])
            XCTAssertEqual(out[23], 47)
            XCTAssertEqual(out[22], 19, "ttl inherited from the inner packet, after forwarding")
            XCTAssertEqual(out[20] & 0x40, 0x40, "DF: pmtudisc")
            XCTAssertEqual(Array(out[26..<34]), [198, 18, 1, 1, 198, 18, 1, 2])
            XCTAssertEqual(Self.sum(Array(out[14..<34])), 0, "outer header checksum")
            let g = Array(out[34...])
            XCTAssertEqual(Array(g[0..<4]), [0xB0, 0x00, 0x08, 0x00], "C, K, S; version 0; IPv4")
            XCTAssertEqual(Self.sum(g), 0, "RFC 2784: the checksum covers the GRE header and payload")
            XCTAssertEqual(Array(g[8..<12]), [0, 0, 0, 5], "key")
            XCTAssertEqual(Array(g[12..<16]), FrameBuilder.be32(UInt32(k)), "RFC 2890: sequence numbers from 0")
            XCTAssertEqual(g[16 + 8], 19)
        }
        XCTAssertEqual(r.dp.pool.inUse, 0)
    }

    /// `link set NAME type gre …` as ipgre_changelink (from the tunnel's present parameters,
    /// in Sluice's grammar): the MTU follows the header (ipgre_link_update), another tunnel's
    /// parameters are EEXIST, a fallback cannot change, a point-to-point tunnel keeps a remote;
    /// a refused change leaves everything as it was.
    func testChangingATunnelAsIpgreChangelink() throws {
        let r = try router()
        let g = r.dev("gre1"), drv = try XCTUnwrap(g.driver as? GREDriver)
        XCTAssertEqual(g.mtu, 1464)
        try r.runner.execute("link set gre1 type gre nocsum noseq ttl 9")
        XCTAssertEqual(drv.config.oflags, GREDriver.Config.key)
        XCTAssertEqual(drv.config.ttl, 9)
        XCTAssertEqual(g.mtu, 1472, "8 bytes of header fewer, 8 bytes more MTU")
        try r.runner.execute("link set gre1 mtu 1400 type gre csum")
        XCTAssertEqual(g.mtu, 1400, "an MTU asked for is kept (set_mtu false)")
        try r.runner.execute("link add gre2 type gre remote 198.18.1.3 local 198.18.1.1")
        XCTAssertThrowsError(try r.runner.execute("link set gre2 type gre remote 198.18.1.2 key 5 csum")) { XCTAssertTrue("\($0)".contains("File exists"), "\($0)") }
        XCTAssertThrowsError(try r.runner.execute("link set gre2 mtu 1300 type gre remote 0.0.0.0")) { XCTAssertTrue("\($0)".contains("Invalid argument"), "\($0)") }
        XCTAssertEqual(r.dev("gre2").mtu, 1476, "nothing applied")
        XCTAssertThrowsError(try r.runner.execute("link set gre0 type gre remote 198.18.1.9")) { XCTAssertTrue("\($0)".contains("Invalid argument"), "\($0)") }
        // The changed tunnel sends with its new parameters: checksum and key, no sequence.
        var f = Self.ipv4(src: [198, 18, 2, 2], dst: [198, 18, 9, 9], proto: 17, ttl: 20, payload: [0x13, 0x88, 0x13, 0x89, 0, 12, 0, 0, 9, 9, 9, 9])
        f[0...5] = [2, 0, 0, 0, 0, 2][...]
        let out = try XCTUnwrap(r.send(f, on: r.r2).r1.first, "encapsulated, sent by r1")
        XCTAssertEqual(Array(out[34..<36]), [0xA0, 0x00], "C and K, no S")
        XCTAssertEqual(out[22], 9, "ttl 9")
    }

    func testReceiveChecksAndHostileHeaders() throws {
        let r = try router()
        func outer(_ g: [UInt8], tos: UInt8 = 0) -> [UInt8] { Self.ipv4(src: [198, 18, 1, 2], dst: [198, 18, 1, 1], proto: 47, tos: tos, payload: g) }
        let gre = r.dev("gre1")
        // A good one: decapsulated, received on gre1, forwarded by r2.
        let ok = r.send(outer(Self.gre(csum: true, key: 5, seq: 10, payload: Array(inner[14...]))), on: r.r1)
        let fwd = try XCTUnwrap(ok.r2.first, "\(ok) \(gre.stats) \(r.dp.ipv4.stats) \(DropReason.allCases.filter { gre.dropCount($0) > 0 })")
        XCTAssertEqual(Array(fwd[0..<6]), [2, 0, 0, 0, 0, 0x0C])
        XCTAssertEqual(fwd[22], 29, "forwarded: TTL 30 less one")
        XCTAssertEqual(gre.stats.rxPackets, 1)
        // ip_tunnel_rcv: an older sequence number (rx_fifo_errors), no checksum where the tunnel
        // wants one (rx_crc_errors), a bad checksum (dropped before any tunnel).
        XCTAssertTrue(r.send(outer(Self.gre(csum: true, key: 5, seq: 9, payload: Array(inner[14...]))), on: r.r1).r2.isEmpty)
        XCTAssertEqual(gre.stats.rxFifoErrors, 1)
        XCTAssertTrue(r.send(outer(Self.gre(csum: false, key: 5, seq: 11, payload: Array(inner[14...]))), on: r.r1).r2.isEmpty)
        XCTAssertEqual(gre.stats.rxCrcErrors, 1)
        XCTAssertTrue(r.send(outer(Self.gre(csum: true, key: 5, seq: 12, payload: Array(inner[14...]), badSum: true)), on: r.r1).r2.isEmpty)
        XCTAssertEqual(r.dp.ipv4.stats.greErrors, 1)
        // ECN: outer CE on a not-ECT inner packet is dropped (INET_ECN_decapsulate), on an ECT
        // one copied in.
        XCTAssertTrue(r.send(outer(Self.gre(csum: true, key: 5, seq: 13, payload: Array(inner[14...])), tos: 3), on: r.r1).r2.isEmpty)
        XCTAssertEqual(gre.stats.rxFrameErrors, 1)
        let ect = Self.ipv4(src: [198, 18, 9, 9], dst: [198, 18, 2, 2], proto: 17, ttl: 30, tos: 2, payload: Array(inner[34...]))
        let ce = try XCTUnwrap(r.send(outer(Self.gre(csum: true, key: 5, seq: 14, payload: Array(ect[14...])), tos: 3), on: r.r1).r2.first)
        XCTAssertEqual(ce[15] & 3, 3, "CE")
        XCTAssertEqual(Self.sum(Array(ce[14..<34])), 0)
        // Another key: no tunnel, ICMP port unreachable to the sender.
        let other = r.send(outer(Self.gre(csum: true, key: 6, seq: 15, payload: Array(inner[14...]))), on: r.r1)
        XCTAssertTrue(other.r2.isEmpty)
        let icmp = try XCTUnwrap(other.r1.first)
        XCTAssertEqual(Array([icmp[23], icmp[34], icmp[35]]), [1, 3, 3])
        // With the fallback gre0 up, it takes what no tunnel takes (ip_tunnel_lookup's last
        // resort), keyed or not; with its parameters: a checksum it does not expect is a CRC error.
        let fb = r.dev("gre0")
        XCTAssertTrue((fb.driver as? GREDriver)?.fallback ?? false)
        try r.dp.setUp(fb, true)
        let caught = r.send(outer(Self.gre(csum: false, key: 6, seq: nil, payload: Array(inner[14...]))), on: r.r1)
        // gre0 has no address, but an in_device all the same: the inner packet is routed on,
        // as the kernel's fallback device does with forwarding on.
        XCTAssertTrue(caught.r1.isEmpty, "\(caught)")
        XCTAssertEqual(caught.r2.first.map { Array($0[26..<34]) }, [198, 18, 9, 9, 198, 18, 2, 2], "\(caught)")
        XCTAssertEqual(caught.r2.first?[22], 29, "forwarded: TTL 30 - 1")
        XCTAssertEqual(fb.stats.rxPackets, 1)
        _ = r.send(outer(Self.gre(csum: true, key: 6, seq: nil, payload: Array(inner[14...]))), on: r.r1)
        XCTAssertEqual(fb.stats.rxCrcErrors, 1)
        try r.dp.setUp(fb, false)
        // Hostile headers: every flag combination, version and routing bits, cut anywhere,
        // random bytes: each counted or answered, nothing crashes, nothing is kept.
        var rng = SystemRandomNumberGenerator()
        for n in 0..<3000 {
            var g = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if n % 3 == 0, g.count >= 4 { g[1] &= 0xF8; g[2] = 0x08; g[3] = 0 }       // version 0, IPv4: reaches the lookup
            if n % 5 == 0, g.count >= 2 { g[0] = 0x20 }                                // key only
            _ = r.send(outer(g), on: r.r1)
        }
        _ = r.advance(5 * Time.s)
        XCTAssertEqual(r.dp.pool.inUse, 0, "every buffer back")
        XCTAssertGreaterThan(r.dp.ipv4.stats.greErrors, 100)
    }
}
