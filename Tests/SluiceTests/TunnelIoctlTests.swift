import XCTest
@testable import Sluice

/// The tunnel ioctls as the daemon takes them from `sluice exec`'s shim (message 13: command,
/// ifr_name, struct ip_tunnel_parm): ip_tunnel_ctl's and ipgre_tunnel_ctl's answers, and
/// hostile messages — any bytes, any length — answered with an errno, never a crash.
final class TunnelIoctlTests: XCTestCase {
    static func message(_ cmd: UInt32, _ name: String, _ parm: [UInt8]) -> [UInt8] {
        var w = NetlinkWriter()
        let st = w.begin(type: RtnlProcessor.tunnelIoctlType, flags: NL.F_REQUEST, seq: 1, pid: 0)
        w.put32(cmd)
        var n = [UInt8](repeating: 0, count: 16)
        for (i, b) in name.utf8.prefix(15).enumerated() { n[i] = b }
        w.put(n)
        w.put(parm)
        w.end(st)
        return w.bytes
    }

    /// A parm as iproute2's parse_args fills it: version 4, IHL 5, DF, GRE.
    static func parm(name: String = "", remote: UInt32, local: UInt32, ttl: UInt8 = 0, key: UInt32? = nil) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 52)
        for (i, c) in name.utf8.prefix(15).enumerated() { b[i] = c }
        if let key {
            b[20] = 0x20; b[22] = 0x20
            for i in 0..<4 { b[24 + i] = UInt8(truncatingIfNeeded: key >> (24 - 8 * UInt32(i))); b[28 + i] = b[24 + i] }
        }
        b[32] = 0x45; b[38] = 0x40; b[40] = ttl; b[41] = 47
        for i in 0..<4 { b[44 + i] = UInt8(truncatingIfNeeded: local >> (24 - 8 * UInt32(i))); b[48 + i] = UInt8(truncatingIfNeeded: remote >> (24 - 8 * UInt32(i))) }
        return b
    }

    func processor() throws -> RtnlProcessor {
        let dp = Datapath(poolSize: 64, clock: .virtual(start: 1))
        let r = CommandRunner(datapath: dp)
        try r.execute("link add br0 type bridge")
        try dp.addMemory(name: "d0")
        try r.execute("link set d0 master br0 up")
        return RtnlProcessor(datapath: dp, pid: 4242)
    }

    func answer(_ p: RtnlProcessor, _ m: [UInt8]) -> (errno: Int32, parm: [UInt8]) {
        let r = p.handle(m)
        guard r.count == 1, r[0].count >= 16 + 4 + 52, r[0].le16(4) == RtnlProcessor.tunnelIoctlType else { return (-1, []) }
        return (Int32(bitPattern: r[0].le32(16)), Array(r[0][20..<72]))
    }

    func testAddGetChangeDeleteAsIPTunnelCtl() throws {
        let p = try processor()
        // gre0 does not exist until something names it (dev_load): then the fallbacks do.
        XCTAssertNil(p.dp.device(named: "gre0"))
        XCTAssertEqual(answer(p, Self.message(RtnlProcessor.SIOCADDTUNNEL, "gre0", Self.parm(name: "t1", remote: 0xC612_0002, local: 0xC612_0001, ttl: 9))).errno, 0)
        let t1 = try XCTUnwrap(p.dp.device(named: "t1"))
        XCTAssertNotNil(p.dp.device(named: "gretap0"))
        XCTAssertEqual(t1.mtu, 1476)
        // SIOCGETTUNNEL on gre0 finds the tunnel its parm describes; a TTL set DF.
        let got = answer(p, Self.message(RtnlProcessor.SIOCGETTUNNEL, "gre0", Self.parm(remote: 0xC612_0002, local: 0xC612_0001)))
        XCTAssertEqual(got.errno, 0)
        XCTAssertEqual(Array(got.parm[0..<2]), Array("t1".utf8))
        XCTAssertEqual(got.parm[40], 9)
        XCTAssertEqual(got.parm[38], 0x40)
        // Again: EEXIST. Not IPv4 or not GRE: EINVAL. On a device that is not gre: EOPNOTSUPP.
        XCTAssertEqual(answer(p, Self.message(RtnlProcessor.SIOCADDTUNNEL, "gre0", Self.parm(name: "t2", remote: 0xC612_0002, local: 0xC612_0001))).errno, EEXIST)
        var bad = Self.parm(name: "t2", remote: 0xC612_0003, local: 0); bad[41] = 4
        XCTAssertEqual(answer(p, Self.message(RtnlProcessor.SIOCADDTUNNEL, "gre0", bad)).errno, EINVAL)
        XCTAssertEqual(answer(p, Self.message(RtnlProcessor.SIOCGETTUNNEL, "d0", Self.parm(remote: 0, local: 0))).errno, EOPNOTSUPP)
        XCTAssertEqual(answer(p, Self.message(RtnlProcessor.SIOCGETTUNNEL, "nope", Self.parm(remote: 0, local: 0))).errno, ENODEV)
        // SIOCCHGTUNNEL on the tunnel: a key adds 4 bytes, the MTU gives them back.
        XCTAssertEqual(answer(p, Self.message(RtnlProcessor.SIOCCHGTUNNEL, "t1", Self.parm(name: "t1", remote: 0xC612_0002, local: 0xC612_0001, ttl: 9, key: 7))).errno, 0)
        XCTAssertEqual(t1.mtu, 1472)
        XCTAssertEqual((t1.driver as? GREDriver)?.config.okey, 7)
        // A read-only client gets EPERM for changes, answers for reads.
        p.mayChange = false
        XCTAssertEqual(answer(p, Self.message(RtnlProcessor.SIOCDELTUNNEL, "t1", Self.parm(name: "t1", remote: 0, local: 0))).errno, EPERM)
        XCTAssertEqual(answer(p, Self.message(RtnlProcessor.SIOCGETTUNNEL, "t1", Self.parm(remote: 0, local: 0))).errno, 0)
        p.mayChange = true
        // SIOCDELTUNNEL on gre0 with parms matching nothing: ENOENT; matching gre0 itself: EPERM.
        XCTAssertEqual(answer(p, Self.message(RtnlProcessor.SIOCDELTUNNEL, "gre0", Self.parm(remote: 0xC612_0009, local: 0))).errno, ENOENT)
        var fb = Self.parm(remote: 0, local: 0); fb[38] = 0
        XCTAssertEqual(answer(p, Self.message(RtnlProcessor.SIOCDELTUNNEL, "gre0", fb)).errno, EPERM)
        XCTAssertEqual(answer(p, Self.message(RtnlProcessor.SIOCDELTUNNEL, "t1", Self.parm(name: "t1", remote: 0, local: 0))).errno, 0)
        XCTAssertNil(p.dp.device(named: "t1"))
    }

    /// 20 000 hostile messages: random lengths, random commands and names, parms with random
    /// bytes in every field. Each is answered (one message 13, or nothing for a header that
    /// lies; a lying header's tail, read as a further message, as any request), the processor keeps answering, and the pool is untouched.
    func testHostileMessagesAreAnsweredNeverFatal() throws {
        let p = try processor()
        var rng = SystemRandomNumberGenerator()
        let names = ["gre0", "gretap0", "d0", "br0", "t1", "", "x"]
        var answered = 0
        for i in 0..<20_000 {
            let cmd = i % 3 == 0 ? UInt32.random(in: 0...UInt32.max, using: &rng) : 0x89F0 + UInt32.random(in: 0...3, using: &rng)
            var parm = Self.parm(name: i % 5 == 0 ? "t\(i % 7)" : "", remote: UInt32.random(in: 0...UInt32.max, using: &rng), local: UInt32.random(in: 0...3, using: &rng) << 30)
            for _ in 0..<Int.random(in: 0...6, using: &rng) { parm[Int.random(in: 0..<52, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            var m = Self.message(cmd, names[i % names.count], parm)
            switch i % 4 {
            case 0: m = Array(m.prefix(Int.random(in: 0...m.count, using: &rng)))
            case 1: let v = UInt32.random(in: 0...200, using: &rng); m[0] = UInt8(v & 0xFF); m[1] = UInt8(v >> 8)
            default: break
            }
            for r in p.handle(m) {
                // A header that claims less than the datagram holds leaves its tail to be read
                // as the next message (netlink_rcv_skb): random bytes that may form one, which
                // is answered as any request — with an NLMSG_ERROR.
                if r.le16(4) == NL.ERROR { XCTAssertGreaterThanOrEqual(r.count, 36); continue }
                XCTAssertEqual(r.le16(4), RtnlProcessor.tunnelIoctlType)
                XCTAssertEqual(r.count, 16 + 4 + 52)
                answered += 1
            }
        }
        XCTAssertGreaterThan(answered, 5000)
        XCTAssertEqual(p.dp.pool.inUse, 0)
        XCTAssertFalse(p.handle(NetlinkCodecTests.linkShow).isEmpty, "still answering")
        // Whatever tunnels the noise made are ordinary, deletable gre devices.
        for case let d? in p.dp.devices where (d.driver as? GREDriver).map({ !$0.fallback }) ?? false {
            XCTAssertEqual(answer(p, Self.message(RtnlProcessor.SIOCDELTUNNEL, d.name, Self.parm(remote: 0, local: 0))).errno, 0, d.name)
        }
    }
}
