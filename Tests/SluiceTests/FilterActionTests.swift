import XCTest
@testable import Sluice

final class FilterActionTests: XCTestCase {
    /// A FilterBlock built from tc lines on a line device's root prio qdisc, for matching tests.
    func block(_ lines: [String]) throws -> (Datapath, FilterBlock) {
        let dp = Datapath(poolSize: 64, clock: .virtual(start: 1))
        let r = CommandRunner(datapath: dp)
        try dp.addLine(name: "eth0", rate: 1_000_000_000, output: nil)
        try r.execute("qdisc add dev eth0 root handle 1: prio bands 16")
        for l in lines { try r.execute(l) }
        return (dp, dp.device(named: "eth0")!.qdisc.filters)
    }

    func classify(_ dp: Datapath, _ b: FilterBlock, _ f: [UInt8], mark: UInt32 = 0) -> TcResult? {
        let p = must(dp.pool.alloc())
        f.withUnsafeBytes { dp.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
        dp.pool.meta(p).pointee.mark = mark
        var idx = p.index
        _ = consume p
        let r = b.run(&idx, pool: dp.pool, now: 1, mayModify: false)
        dp.pool.free(Packet(index: idx))
        return r
    }

    let udp = FrameBuilder.udpFrame(dst: macB, src: macA, srcIP: FrameBuilder.ip(198, 18, 0, 1), dstIP: FrameBuilder.ip(198, 18, 0, 2), sport: 1234, dport: 5201)
    let tcp = FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4,
                                    payload: FrameBuilder.tcp(srcIP: FrameBuilder.ip(198, 18, 1, 9), dstIP: FrameBuilder.ip(198, 18, 0, 2), sport: 40000, dport: 80, seq: 1, payload: []))

    func testU32Selectors() throws {
        let (dp, b) = try block([
            "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip src 198.18.1.0/24 flowid 1:1",
            "filter add dev eth0 parent 1: protocol ip prio 2 u32 match ip dport 5201 0xffff match ip protocol 17 0xff flowid 1:2",
            "filter add dev eth0 parent 1: protocol ip prio 3 u32 match u8 0x06 0xff at 9 flowid 1:3",
            "filter add dev eth0 parent 1: protocol ip prio 4 u32 match ip tos 0x10 0xff flowid 1:4",
            // Without a link offset, nexthdr+N is N from the network header (cls_u32: off2 = 0).
            "filter add dev eth0 parent 1: protocol ip prio 5 u32 match u16 0x04d2 0xffff at nexthdr+20 flowid 1:5",
            "filter add dev eth0 parent 1: protocol ip prio 6 u32 match u16 0x04d2 0xffff at nexthdr+0 flowid 1:6",
        ])
        XCTAssertEqual(classify(dp, b, tcp), .classid(TcHandle(1, 1)), "src prefix")
        XCTAssertEqual(classify(dp, b, udp), .classid(TcHandle(1, 2)), "dport + protocol")
        var tcp2 = tcp; tcp2[26] = 10   // other source: falls to the protocol byte rule
        XCTAssertEqual(classify(dp, b, tcp2), .classid(TcHandle(1, 3)))
        var u2 = udp; u2[37] = 0x52; u2[15] = 0x10   // dport changed, tos 0x10
        XCTAssertEqual(classify(dp, b, u2), .classid(TcHandle(1, 4)))
        var u3 = udp; u3[37] = 0x52                   // sport 1234 at network header + 20
        XCTAssertEqual(classify(dp, b, u3), .classid(TcHandle(1, 5)))
        var u4 = u3; u4[34] = 0; u4[35] = 0           // sport gone; nothing at +0 is 0x04d2
        XCTAssertNil(classify(dp, b, u4))
        var arp = udp; arp[12] = 0x08; arp[13] = 0x06
        XCTAssertNil(classify(dp, b, arp), "protocol ip only")
    }

    /// cls_u32's hash tables as u32_classify walks them: a root knode hashes the destination's
    /// last byte into a 256-bucket table and continues there; a bucket that finds nothing
    /// falls back to the linking knode (terminal only with a class); `offset … eat` moves the
    /// keys to the next header by the IP header length; a key that reads past the packet
    /// ends the whole walk (skb_header_pointer failing: `goto out`).
    func testU32HashTablesLinksAndOffsets() throws {
        let (dp, b) = try block([
            "filter add dev eth0 parent 1: prio 5 handle 2: protocol ip u32 divisor 256",
            "filter add dev eth0 parent 1: protocol ip prio 5 u32 ht 800:: match ip dst 198.18.0.0/16 hashkey mask 0x000000ff at 16 link 2:",
            "filter add dev eth0 parent 1: protocol ip prio 5 u32 ht 2:7b: match ip dst 198.18.0.123 flowid 1:2",
            "filter add dev eth0 parent 1: protocol ip prio 5 u32 ht 2:7b: match ip dst 198.18.1.123 flowid 1:3",
            "filter add dev eth0 parent 1: protocol ip prio 5 u32 ht 2:1: match ip dst 198.18.1.1 flowid 1:4",
            "filter add dev eth0 parent 1: prio 6 handle 3: protocol ip u32 divisor 1",
            "filter add dev eth0 parent 1: protocol ip prio 6 u32 match ip protocol 17 0xff link 3: offset at 0 mask 0x0f00 shift 6 eat flowid 1:8",
            "filter add dev eth0 parent 1: protocol ip prio 6 u32 ht 3: match u16 5201 0xffff at 2 flowid 1:7",
        ])
        func udpTo(_ d: UInt8, _ c: UInt8, dport: UInt16 = 5201) -> [UInt8] {
            FrameBuilder.udpFrame(dst: macB, src: macA, srcIP: FrameBuilder.ip(198, 18, 9, 9), dstIP: FrameBuilder.ip(198, 18, c, d), sport: 1234, dport: dport)
        }
        XCTAssertEqual(classify(dp, b, udpTo(123, 0)), .classid(TcHandle(1, 2)), "bucket 0x7b, first knode")
        XCTAssertEqual(classify(dp, b, udpTo(123, 1)), .classid(TcHandle(1, 3)), "bucket 0x7b, second knode")
        XCTAssertEqual(classify(dp, b, udpTo(1, 1)), .classid(TcHandle(1, 4)), "bucket 1")
        // Nothing in the bucket: prio 5's linking knode is not terminal, so prio 6 decides —
        // its keys one header further (IHL × 4 = 20 bytes): the UDP destination port.
        XCTAssertEqual(classify(dp, b, udpTo(2, 1)), .classid(TcHandle(1, 7)))
        // Another port: table 3 has nothing, the linking knode is terminal (flowid 1:8).
        XCTAssertEqual(classify(dp, b, udpTo(2, 1, dport: 80)), .classid(TcHandle(1, 8)))
        let tcp = FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4,
                                        payload: FrameBuilder.tcp(srcIP: FrameBuilder.ip(10, 0, 0, 1), dstIP: FrameBuilder.ip(10, 0, 0, 2), sport: 1, dport: 5201, seq: 1, payload: []))
        XCTAssertNil(classify(dp, b, tcp), "neither the /16 nor UDP")
        XCTAssertEqual(b.u32Tables.map { String($0.htid >> 20, radix: 16) }.sorted(), ["2", "3", "800", "801"])

        let (dp2, b2) = try block([
            "filter add dev eth0 parent 1: protocol ip prio 1 u32 match u32 0 0 at 2000 flowid 1:1",
            "filter add dev eth0 parent 1: protocol ip prio 1 u32 match u32 0 0 flowid 1:2",
            "filter add dev eth0 parent 1: protocol ip prio 2 u32 match u32 0 0 flowid 1:3",
        ])
        XCTAssertEqual(classify(dp2, b2, udpTo(1, 1)), .classid(TcHandle(1, 3)), "a key past the end ends prio 1's walk")
    }

    func testFlowerSelectors() throws {
        let (dp, b) = try block([
            "filter add dev eth0 parent 1: protocol all prio 1 flower dst_mac 02:00:00:00:00:0b src_mac 02:00:00:00:00:0a eth_type ipv4 ip_proto tcp dst_port 80 flowid 1:1",
            "filter add dev eth0 parent 1: protocol ip prio 2 flower ip_proto udp src_ip 198.18.0.0/24 dst_port 5000-5300 flowid 1:2",
            "filter add dev eth0 parent 1: protocol all prio 3 flower vlan_id 100 vlan_prio 5 flowid 1:3",
            "filter add dev eth0 parent 1: protocol ip prio 4 flower ip_tos 0x20/0xe0 flowid 1:4",
        ])
        XCTAssertEqual(classify(dp, b, tcp), .classid(TcHandle(1, 1)))
        XCTAssertEqual(classify(dp, b, udp), .classid(TcHandle(1, 2)))
        var tagged = Array(udp[0..<12]) + [0x81, 0x00, 0xa0, 0x64] + Array(udp[12...])
        XCTAssertEqual(classify(dp, b, tagged), .classid(TcHandle(1, 2)), "VLAN-tagged IPv4 still matches L3 keys")
        tagged[18 + 9] = 1  // ICMP: only the vlan rule matches now
        XCTAssertEqual(classify(dp, b, tagged), .classid(TcHandle(1, 3)))
        var tos = udp; tos[15] = 0x28; tos[23] = 6
        XCTAssertEqual(classify(dp, b, tos), .classid(TcHandle(1, 4)))
    }

    func testFwMarkAndMatchallAndPriorityOrder() throws {
        let (dp, b) = try block([
            "filter add dev eth0 parent 1: protocol all prio 20 matchall flowid 1:9",
            "filter add dev eth0 parent 1: protocol all prio 10 handle 0x10 fw mask 0xf0 flowid 1:1",
        ])
        XCTAssertEqual(classify(dp, b, udp, mark: 0x1f), .classid(TcHandle(1, 1)), "lower prio number first")
        XCTAssertEqual(classify(dp, b, udp, mark: 0x2f), .classid(TcHandle(1, 9)))
    }

    /// act_skbedit: `inheritdsfield` sets skb->priority to the IP header's DSCP (the DS field
    /// >> 2, tcf_skbedit_act; EF, TOS 0xb8, is DSCP 46 in RFC 3246), then `ptype otherhost`
    /// marks the frame as not for this host whatever its MAC, and the mark takes only the bits
    /// of its mask.
    func testSkbeditInheritsDSFieldPacketTypeAndMaskedMark() throws {
        let (dp, b) = try block(["filter add dev eth0 parent 1: protocol ip prio 1 matchall action skbedit inheritdsfield ptype otherhost mark 0x5/0xf pipe"])
        var f = udp
        f[15] = 0xb8
        let p = must(dp.pool.alloc())
        f.withUnsafeBytes { dp.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
        dp.pool.meta(p).pointee.mark = 0xAB
        var idx = p.index
        _ = consume p
        _ = b.run(&idx, pool: dp.pool, now: 1, mayModify: true)
        let m = dp.pool.metas[Int(idx)]
        XCTAssertEqual(m.priority, 46)
        XCTAssertTrue(m.otherHost(byMAC: false))
        XCTAssertEqual(m.mark, 0xA5)
        dp.pool.free(Packet(index: idx))
    }

    /// Ematch trees as tcf_em_tree_validate takes them and __tcf_em_tree_match walks them:
    /// relations, invert, a container, and the cmp, nbyte, u32 and meta matches on real frames.
    func testEmatchTreesMatchAsTheKernelWalksThem() throws {
        func hdr(_ kind: UInt16, _ flags: UInt16, _ data: [UInt8]) -> [UInt8] {
            [0, 0, UInt8(kind & 0xFF), UInt8(kind >> 8), UInt8(flags & 0xFF), UInt8(flags >> 8), 0, 0] + data
        }
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
        func be32(_ v: UInt32) -> [UInt8] { (0..<4).reversed().map { UInt8((v >> (8 * $0)) & 0xFF) } }
        // struct tcf_em_cmp: val, mask, off, align|flags<<4, layer|opnd<<4.
        func cmp(_ size: UInt8, at off: UInt16, layer: UInt8, mask: UInt32, _ opnd: UInt8, _ val: UInt32, trans: Bool = false) -> [UInt8] {
            le32(val) + le32(mask) + le16(off) + [size | (trans ? 0x10 : 0), layer | opnd << 4]
        }
        func u32(_ val: UInt32, _ mask: UInt32, at off: Int32) -> [UInt8] { be32(mask) + be32(val) + le32(UInt32(bitPattern: off)) + le32(0) }
        func nbyte(_ pattern: [UInt8], at off: UInt16, layer: UInt8) -> [UInt8] { le16(off) + le16(UInt16(pattern.count) | UInt16(layer) << 12) + pattern + [0, 0, 0, 0].prefix((4 - pattern.count % 4) % 4) }
        func meta(_ id: UInt16, _ opnd: UInt8, _ value: UInt32) -> [UInt8] {
            // TCA_EM_META_HDR {left kind INT|id, shift, op; right kind INT|VALUE}, RVALUE u32.
            let h: [UInt8] = le16(0x1000 | id) + [0, opnd] + le16(0x1000) + [0, 0]
            return le16(12) + le16(1) + h + le16(8) + le16(3) + le32(value)
        }
        func program(_ ms: [[UInt8]]) throws -> EmatchProgram {
            try EmatchProgram.compile(header: ArraySlice(le16(UInt16(ms.count)) + le16(0)), list: ms.enumerated().map { (UInt16($0.offset + 1), ArraySlice($0.element)) })
        }
        func run(_ p: EmatchProgram, _ f: [UInt8], mark: UInt32 = 0) -> Bool {
            var f = f
            return f.withUnsafeMutableBytes { b in
                var m = PacketMeta(); m.length = UInt32(b.count); m.mark = mark
                return EmatchProgram.matches(p.ops, p.count, p.bytes, b.baseAddress!, b.count, m, ParsedFrame(b.baseAddress!, b.count, m))
            }
        }
        // udp: 198.18.0.1 → 198.18.0.2, 1234 → 5201.
        let isUDP = hdr(1, 0, cmp(1, at: 9, layer: 1, mask: 0xFF, 0, 17))
        XCTAssertTrue(run(try program([isUDP]), udp))
        XCTAssertFalse(run(try program([isUDP]), tcp))
        // AND with a u32 on the destination, then OR.
        let toB = hdr(3, 0, u32(0xC612_0002, 0xFFFF_FFFF, at: 16))
        XCTAssertTrue(run(try program([hdr(1, 1, cmp(1, at: 9, layer: 1, mask: 0xFF, 0, 17)), toB]), udp))
        XCTAssertFalse(run(try program([hdr(1, 1, cmp(1, at: 9, layer: 1, mask: 0xFF, 0, 6)), toB]), udp))
        XCTAssertTrue(run(try program([hdr(1, 2, cmp(1, at: 9, layer: 1, mask: 0xFF, 0, 6)), toB]), udp))
        // NOT, and a 16-bit field from the transport header (the destination port), gt/lt.
        XCTAssertFalse(run(try program([hdr(1, 4, cmp(2, at: 2, layer: 2, mask: 0xFFFF, 1, 5000))]), udp))
        XCTAssertTrue(run(try program([hdr(1, 0, cmp(2, at: 2, layer: 2, mask: 0xFFFF, 2, 6000))]), udp))
        // `trans`: the 16-bit field byte-swapped before the compare (5201 = 0x1451 → 0x5114).
        XCTAssertTrue(run(try program([hdr(1, 0, cmp(2, at: 2, layer: 2, mask: 0, 0, 0x5114, trans: true))]), udp))
        // A container: (udp AND to B) OR mark 7 — index 0 runs the sequence from 1.
        let p = try program([hdr(0, 2, le32(2)), hdr(4, 0, meta(12, 0, 7)), hdr(1, 1, cmp(1, at: 9, layer: 1, mask: 0xFF, 0, 17)), toB])
        XCTAssertTrue(run(p, udp))
        XCTAssertTrue(run(p, tcp, mark: 7))
        XCTAssertFalse(run(p, tcp, mark: 6))
        // nbyte: the destination MAC at the link layer; a field past the frame never matches.
        XCTAssertTrue(run(try program([hdr(2, 0, nbyte(Array(udp[0..<6]), at: 0, layer: 0))]), udp))
        XCTAssertFalse(run(try program([hdr(1, 0, cmp(4, at: 2000, layer: 0, mask: 0, 0, 0))]), udp))
        // Refusals: a container jumping backwards, an unknown kind, more matches than the header says.
        XCTAssertThrowsError(try program([hdr(1, 1, cmp(1, at: 0, layer: 0, mask: 0, 0, 0)), hdr(0, 0, le32(0))]))
        XCTAssertThrowsError(try program([hdr(42, 0, [0, 0, 0, 0])]))
        XCTAssertThrowsError(try EmatchProgram.compile(header: ArraySlice(le16(1) + le16(0)), list: [(1, ArraySlice(isUDP)), (2, ArraySlice(isUDP))]))
    }

    /// cls_flow: map mode takes one key through and/xor/rshift/addend, modulo the divisor, on
    /// top of the base class (TC_H_MAKE(base, base + v)); hash mode puts one flow in one class
    /// and spreads several; a new flow filter needs a handle.
    func testFlowClassifierMapsAndHashes() throws {
        let (dp, b) = try block(["filter add dev eth0 parent 1: handle 1 protocol ip prio 1 flow map key dst and 0xff divisor 16 baseclass 1:1"])
        // dst 198.18.0.2: 2 & 0xff = 2, % 16 = 2, minor 1 + 2.
        XCTAssertEqual(classify(dp, b, udp), .classid(TcHandle(1, 3)))
        let (dp2, b2) = try block(["filter add dev eth0 parent 1: handle 1 protocol ip prio 1 flow map key proto-dst rshift 8 addend 4"])
        // dport 5201 = 0x1451 >> 8 = 0x14, + 4 = 24, on the default base 1:1 → minor 25.
        XCTAssertEqual(classify(dp2, b2, udp), .classid(TcHandle(1, 25)))
        let (dp3, b3) = try block(["filter add dev eth0 parent 1: handle 1 protocol ip prio 1 flow hash keys src,dst,proto-src,proto-dst divisor 8 baseclass 1:10"])
        var seen = Set<UInt32>()
        for sport in 1000..<1064 {
            let f = FrameBuilder.udpFrame(dst: macB, src: macA, srcIP: FrameBuilder.ip(198, 18, 0, 1), dstIP: FrameBuilder.ip(198, 18, 0, 2), sport: UInt16(sport), dport: 5201)
            guard case .classid(let c)? = classify(dp3, b3, f) else { return XCTFail("no class") }
            XCTAssertEqual(classify(dp3, b3, f), .classid(c), "one flow, one class")
            XCTAssertTrue((0x10...0x17).contains(c.minor))
            seen.insert(c.raw)
        }
        XCTAssertGreaterThan(seen.count, 4, "64 flows over 8 classes")
        XCTAssertThrowsError(try block(["filter add dev eth0 parent 1: protocol ip prio 1 flow map key dst"]))
    }

    /// 20 000 random trees (random kinds, flags, lengths and bytes) are refused or compiled,
    /// never trap, and whatever compiles runs over a real frame (a hostile tc over netlink).
    func testEmatchCompileTakesGarbageWithoutTrapping() {
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
        var compiled = 0
        for _ in 0..<20_000 {
            let n = Int(next() % 4) + 1
            var list: [(UInt16, ArraySlice<UInt8>)] = []
            for i in 0..<n {
                var m = (0..<Int(next() % 44)).map { _ in UInt8(truncatingIfNeeded: next()) }
                if m.count >= 4 { m[2] = UInt8(next() % 10); m[3] = 0 }
                list.append((UInt16(i + 1) ^ UInt16(next() % 8 == 0 ? 1 : 0), ArraySlice(m)))
            }
            let hdr: [UInt8] = [UInt8(next() % 6), 0, 0, 0]
            guard let p = try? EmatchProgram.compile(header: ArraySlice(hdr), list: list) else { continue }
            compiled += 1
            var f = udp
            _ = f.withUnsafeMutableBytes { b in
                var m = PacketMeta(); m.length = UInt32(b.count)
                return EmatchProgram.matches(p.ops, p.count, p.bytes, b.baseAddress!, b.count, m, ParsedFrame(b.baseAddress!, b.count, m))
            }
            _ = p.text
        }
        XCTAssertGreaterThan(compiled, 0)
    }

    func testVerdictsAndChains() throws {
        let (dp, b) = try block([
            "filter add dev eth0 parent 1: protocol all prio 1 matchall action gact continue",
            "filter add dev eth0 parent 1: protocol all prio 2 u32 match ip dport 5201 0xffff action goto chain 7",
            "filter add dev eth0 parent 1: protocol all prio 3 matchall action gact pipe action gact ok flowid 1:3",
            "filter add dev eth0 parent 1: protocol all chain 7 prio 1 u32 match ip sport 1234 0xffff action drop",
            "filter add dev eth0 parent 1: protocol all chain 7 prio 2 matchall flowid 1:7",
        ])
        XCTAssertEqual(classify(dp, b, udp), .drop, "continue → goto chain 7 → drop")
        var u2 = udp; u2[35] = 0x99
        XCTAssertEqual(classify(dp, b, u2), .classid(TcHandle(1, 7)))
        XCTAssertEqual(classify(dp, b, tcp), .classid(TcHandle(1, 3)), "pipe then ok")
        let (dp2, loop) = try block(["filter add dev eth0 parent 1: protocol all prio 1 matchall action reclassify"])
        XCTAssertEqual(classify(dp2, loop, udp), .drop, "reclassify loops are bounded")
    }

    /// gact_determ: `paction` for every pval-th packet (atomic_inc_return(&packets) % pval == 0);
    /// two filters bound to one index share its counters and parameters, and replacing the
    /// action reaches both (act_api's shared tc_action).
    func testGactDetermAndSharedActions() throws {
        let (dp, _) = try block([
            "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 5201 0xffff action pass random determ drop 10 index 7",
            "filter add dev eth0 parent 1: protocol ip prio 2 u32 match u32 0 0 action pass random determ drop 10 index 7",
        ])
        func run(_ n: Int, _ frame: [UInt8]) -> Int {
            var drops = 0
            for _ in 0..<n {
                let p = must(dp.pool.alloc())
                frame.withUnsafeBytes { dp.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
                var idx = p.index
                _ = consume p
                if dp.device(named: "eth0")!.qdisc.filters.run(&idx, pool: dp.pool, now: 5) == .drop { drops += 1 }
                dp.pool.free(Packet(index: idx))
            }
            return drops
        }
        XCTAssertEqual(run(100, udp), 10)
        // The TCP frame takes the second filter, bound to the same action: one packet sequence.
        XCTAssertEqual(run(10, tcp), 1)         // the 110th packet through index 7
        let e = try XCTUnwrap(dp.tcActions.lookup("gact", 7))
        XCTAssertEqual(e.binds, 2)
        XCTAssertEqual(e.counters.pointee.packets, 110)
        XCTAssertEqual(e.counters.pointee.drops, 11)
        XCTAssertEqual(dp.pool.inUse, 0)
    }

    /// act_sample (tcf_sample_act): every packet goes on with the action's control and is
    /// counted; one in `rate` at random is a sample (prandom_u32() % rate == 0), so 20 000
    /// packets at rate 10 give about 2 000 (binomial, σ ≈ 42: 1 800…2 200 is ±4.7σ); rate 1
    /// samples every packet.
    func testSampleActionPassesEveryPacketAndSamplesOneInRate() throws {
        let (dp, _) = try block([
            "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 5201 0xffff action sample rate 10 group 5 index 3 action drop",
            "filter add dev eth0 parent 1: protocol ip prio 2 u32 match u32 0 0 action sample rate 1 group 6 trunc 64 continue index 4 action ok",
        ])
        func run(_ n: Int, _ frame: [UInt8]) -> [TcResult?] {
            var out: [TcResult?] = []
            for _ in 0..<n {
                let p = must(dp.pool.alloc())
                frame.withUnsafeBytes { dp.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
                var idx = p.index
                _ = consume p
                out.append(dp.device(named: "eth0")!.qdisc.filters.run(&idx, pool: dp.pool, now: 5))
                dp.pool.free(Packet(index: idx))
            }
            return out
        }
        // pipe (the default control): the next action, drop, decides.
        XCTAssertEqual(run(20_000, udp).filter { $0 == .drop }.count, 20_000)
        let s = try XCTUnwrap(dp.tcActions.lookup("sample", 3))
        XCTAssertEqual(s.counters.pointee.packets, 20_000)
        XCTAssertEqual(Double(s.counters.pointee.seen), 2_000, accuracy: 200, "samples at rate 10")
        XCTAssertEqual(run(100, tcp).filter { $0 == nil }.count, 100, "continue: classification goes on past the last filter")
        let all = try XCTUnwrap(dp.tcActions.lookup("sample", 4))
        XCTAssertEqual(all.counters.pointee.packets, 100)
        XCTAssertEqual(all.counters.pointee.seen, 100, "rate 1 samples every packet")
        XCTAssertEqual(dp.pool.inUse, 0)
    }

    func testPoliceLimitsRate() throws {
        let (_, out, _) = try replay([Flow(dport: 7, size: 1000, rate: 10_000_000, duration: 1 * Time.s)], rate: "100mbit",
                                     ["qdisc add dev eth0 root handle 1: prio",
                                      "filter add dev eth0 parent 1: protocol all prio 1 matchall action police rate 2mbit burst 10k drop"])
        XCTAssertEqual(throughput(out, from: 100 * Time.ms, to: 900 * Time.ms), 2e6, accuracy: 2e6 * 0.05)
    }

    func testMirredMirrorToACaptureDeviceAndRedirect() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        let cap = MemoryDriver()
        try lab.dp.addMemory(name: "cap", driver: cap)
        try lab.runner.execute("link set cap up")
        try lab.runner.execute("qdisc add dev p1 ingress")
        try lab.runner.execute("filter add dev p1 parent ffff: protocol all prio 1 matchall action mirred egress mirror dev cap")
        let f = frame(macB, macA)
        let out = lab.send(f, on: "p1")
        XCTAssertEqual(out["p2"], [f], "the bridge still forwards the original")
        XCTAssertEqual(cap.takeCaptured(), [f], "the capture device gets a copy")
        try lab.runner.execute("filter del dev p1 parent ffff: prio 1")
        try lab.runner.execute("filter add dev p1 parent ffff: protocol all prio 1 matchall action mirred egress redirect dev cap")
        let out2 = lab.send(f, on: "p1")
        XCTAssertEqual(out2["p2"], [], "redirected: nothing reaches the bridge")
        XCTAssertEqual(cap.takeCaptured(), [f])
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testVlanPushPopRoundTrip() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        try lab.runner.execute("qdisc add dev p2 clsact")
        try lab.runner.execute("filter add dev p2 egress protocol all prio 1 matchall action vlan push id 100 priority 5")
        let f = frame(macB, macA)
        let tagged = lab.send(f, on: "p1")["p2"]![0]
        XCTAssertEqual(tagged.count, f.count + 4)
        XCTAssertEqual(Array(tagged[12..<16]), [0x81, 0x00, 0xa0, 0x64], "TPID 8100, PCP 5, VID 100")
        XCTAssertEqual(Array(tagged[0..<12]) + Array(tagged[16...]), f)
        // Back in through p2's ingress, popped: the original frame comes out on p1.
        try lab.runner.execute("filter add dev p2 ingress protocol all prio 1 matchall action vlan pop")
        let back = lab.send(tagged, on: "p2")["p1"]!
        XCTAssertEqual(back, [f])
        try lab.runner.execute("filter add dev p2 egress protocol all prio 2 matchall action vlan modify id 200")
        XCTAssertTrue(try lab.runner.execute("filter show dev p2 egress").contains("\taction order 1: vlan  push id 100 protocol 802.1Q priority 5 pipe\n\t index 1 ref 1 bind 1\n"))
    }

    /// tc_run sets skb->tc_index to the minor of the classid an ingress filter returned; the
    /// packet keeps it through the bridge, and IFE's `allow tcindex` at egress carries it
    /// (TLV type 5, IFE_META_TCINDEX, a u16 padded to 4: length 6 with the header).
    func testIngressClassidBecomesTcIndexCarriedByIFE() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        try lab.runner.execute("qdisc add dev p1 ingress")
        try lab.runner.execute("filter add dev p1 parent ffff: protocol ip prio 1 u32 match ip protocol 17 0xff classid :5")
        try lab.runner.execute("qdisc add dev p2 clsact")
        try lab.runner.execute("filter add dev p2 egress protocol all prio 1 matchall action ife encode allow tcindex pipe")
        let out = try XCTUnwrap(lab.send(frame(macB, macA), on: "p1")["p2"]?.first)
        XCTAssertEqual(Array(out[12..<14]), [0xED, 0x3E], "IFE ethertype")
        XCTAssertNotNil(out.firstRange(of: [0x00, 0x05, 0x00, 0x06, 0x00, 0x05]), "tc_index 5 in the IFE metadata: \(out.prefix(32))")
        try lab.runner.execute("filter del dev p1 parent ffff: prio 1")
        let plain = try XCTUnwrap(lab.send(frame(macB, macA), on: "p1")["p2"]?.first)
        XCTAssertNil(plain.firstRange(of: [0x00, 0x05, 0x00, 0x06]), "no ingress classid, no tc_index")
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testIngressDropIsCounted() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        try lab.runner.execute("qdisc add dev p1 ingress")
        try lab.runner.execute("filter add dev p1 parent ffff: protocol ip prio 1 flower ip_proto udp action drop")
        XCTAssertEqual(lab.send(frame(macB, macA), on: "p1")["p2"], [])
        XCTAssertTrue(try lab.runner.execute("-s qdisc show dev p1").contains("dropped 1"))
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    /// A large flower instance against fl_classify's rule, kept as a model here: the masks are
    /// tried in the order they came (fl_create_new_mask adds a mask at the tail; it leaves the
    /// list with its last filter), and under each the one filter whose key the packet has
    /// answers (keys are unique under a mask). Three masks — UDP source port, destination /24,
    /// UDP destination port — take random filters, lose random ones (a mask emptied and made
    /// again goes last) and are asked about random UDP and TCP packets all along, through
    /// their hash tables and, below four filters a mask, filter by filter.
    /// The random flower tests' keys: three masks (UDP source port, a /24 destination, UDP
    /// destination port), `value` picking the key under its mask.
    static func flowerKey(mask: Int, value: Int) -> String {
        switch mask {
        case 0: return "ip_proto udp src_port \(1000 + value)"
        case 1: return "dst_ip 198.18.\(value).0/24"
        default: return "ip_proto udp dst_port \(2000 + value)"
        }
    }

    func testALargeFlowerInstanceAnswersAsFlClassify() throws {
        let (dp, _) = try block([])
        let r = CommandRunner(datapath: dp)
        struct Filter { var mask: Int, value: Int, handle: Int }
        var live: [Filter] = [], order: [Int] = []                       // order: masks, oldest first
        var rng = LPMTrieTests.Rng(s: 7)
        var nextHandle = 1
        func key(_ f: Filter) -> String { Self.flowerKey(mask: f.mask, value: f.value) }
        func packet(udp: Bool, sport: Int, dst: Int, dport: Int) -> [UInt8] {
            let src = FrameBuilder.ip(198, 19, 0, 1), dstIP = FrameBuilder.ip(198, 18, UInt8(dst), 7)
            if udp { return FrameBuilder.udpFrame(dst: macB, src: macA, srcIP: src, dstIP: dstIP, sport: UInt16(sport), dport: UInt16(dport)) }
            return FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4,
                                         payload: FrameBuilder.tcp(srcIP: src, dstIP: dstIP, sport: UInt16(sport), dport: UInt16(dport), seq: 1, payload: []))
        }
        func expected(udp: Bool, sport: Int, dst: Int, dport: Int) -> TcResult? {
            for m in order {
                let hit = live.first { f in
                    guard f.mask == m else { return false }
                    switch m {
                    case 0: return udp && sport == 1000 + f.value
                    case 1: return dst == f.value
                    default: return udp && dport == 2000 + f.value
                    }
                }
                if let hit { return .classid(TcHandle(1, UInt16(hit.handle))) }
            }
            return nil
        }
        var asked = 0, answered = 0
        for step in 0..<600 {
            if live.isEmpty || Int.random(in: 0..<10, using: &rng) < 6 {
                let f = Filter(mask: Int.random(in: 0..<3, using: &rng), value: Int.random(in: 0..<80, using: &rng), handle: nextHandle)
                if live.contains(where: { $0.mask == f.mask && $0.value == f.value }) { continue }
                nextHandle += 1
                try r.execute("filter add dev eth0 parent 1: protocol ip prio 1 handle \(f.handle) flower dst_mac \(macB) \(key(f)) flowid 1:\(String(f.handle, radix: 16))")
                if !live.contains(where: { $0.mask == f.mask }) { order.removeAll { $0 == f.mask }; order.append(f.mask) }
                live.append(f)
            } else {
                let f = live.remove(at: Int.random(in: 0..<live.count, using: &rng))
                try r.execute("filter del dev eth0 parent 1: protocol ip prio 1 handle \(f.handle) flower")
            }
            guard step % 5 == 0 else { continue }
            let b = dp.device(named: "eth0")!.qdisc.filters
            for _ in 0..<40 {
                let udp = Int.random(in: 0..<4, using: &rng) > 0
                let sport = 1000 + Int.random(in: 0..<90, using: &rng), dst = Int.random(in: 0..<90, using: &rng)
                let dport = 2000 + Int.random(in: 0..<90, using: &rng)
                let want = expected(udp: udp, sport: sport, dst: dst, dport: dport)
                XCTAssertEqual(classify(dp, b, packet(udp: udp, sport: sport, dst: dst, dport: dport)), want,
                               "step \(step): udp \(udp) sport \(sport) dst 198.18.\(dst).7 dport \(dport), masks \(order)")
                asked += 1
                if want != nil { answered += 1 }
            }
        }
        XCTAssertGreaterThan(answered, asked / 10, "packets are answered by some filter")
        XCTAssertGreaterThan(live.count, 30, "the masks hold many filters by the end")
        XCTAssertEqual(dp.pool.inUse, 0)
    }

    /// Deletes leave tombstones in the block until it is compacted, and `replace` changes a
    /// key in place: neither may change an answer. A model of fl_classify and fl_change
    /// written from the kernel source (masks in the order they came, a mask going with its
    /// last filter; a replace under another mask is refused with EINVAL by
    /// fl_check_assign_mask; a replace to a key another filter has is allowed by
    /// fl_ht_insert_unique, and the key then stays taken for adds while either has it), over
    /// 3 000 random adds, deletes and replaces with packets checked after every few; and the
    /// dump lists the live filters by handle, as fl_walk.
    func testFlowerDeletesAndReplacesInPlaceAnswerAsFlClassify() throws {
        let (dp, _) = try block([])
        let r = CommandRunner(datapath: dp)
        struct Filter { var mask: Int, value: Int, handle: Int }
        var live: [Filter] = [], order: [Int] = []
        var rng = LPMTrieTests.Rng(s: 11)
        var nextHandle = 1
        func key(_ f: Filter) -> String { Self.flowerKey(mask: f.mask, value: f.value) }
        func expected(sport: Int, dst: Int, dport: Int) -> TcResult? {
            for m in order {
                let hit = live.first { f in
                    guard f.mask == m else { return false }
                    switch m {
                    case 0: return sport == 1000 + f.value
                    case 1: return dst == f.value
                    default: return dport == 2000 + f.value
                    }
                }
                if let hit { return .classid(TcHandle(1, UInt16(hit.handle))) }
            }
            return nil
        }
        var sawTombstones = 0, replaced = 0, refused = 0, duplicated = 0
        for step in 0..<3000 {
            let op = Int.random(in: 0..<10, using: &rng)
            if live.count < 8 || op < 4 {
                let f = Filter(mask: Int.random(in: 0..<3, using: &rng), value: Int.random(in: 0..<60, using: &rng), handle: nextHandle)
                if live.contains(where: { $0.mask == f.mask && $0.value == f.value }) { continue }
                nextHandle += 1
                try r.execute("filter add dev eth0 parent 1: protocol ip prio 1 handle \(f.handle) flower \(key(f)) flowid 1:\(String(f.handle, radix: 16))")
                if !live.contains(where: { $0.mask == f.mask }) { order.removeAll { $0 == f.mask }; order.append(f.mask) }
                live.append(f)
            } else if op < 7 {
                let f = live.remove(at: Int.random(in: 0..<live.count, using: &rng))
                try r.execute("filter del dev eth0 parent 1: protocol ip prio 1 handle \(f.handle) flower")
                if !live.contains(where: { $0.mask == f.mask }) { order.removeAll { $0 == f.mask } }
            } else {
                let i = Int.random(in: 0..<live.count, using: &rng)
                var f = live[i]
                if op == 9 { f.mask = (f.mask + Int.random(in: 1..<3, using: &rng)) % 3 }
                f.value = Int.random(in: 0..<60, using: &rng)
                let cmd = "filter replace dev eth0 parent 1: protocol ip prio 1 handle \(f.handle) flower \(key(f)) flowid 1:\(String(f.handle, radix: 16))"
                if f.mask != live[i].mask {
                    XCTAssertThrowsError(try r.execute(cmd), "step \(step): a replace under another mask") { e in
                        XCTAssertEqual("\(e)", "RTNETLINK answers: Invalid argument")
                    }
                    refused += 1
                    continue
                }
                try r.execute(cmd)
                if let j = live.indices.first(where: { $0 != i && live[$0].mask == f.mask && live[$0].value == f.value }) {
                    // Two filters with one key: the replaced one goes again, the key stays taken.
                    try r.execute("filter del dev eth0 parent 1: protocol ip prio 1 handle \(f.handle) flower")
                    var again = live[j]
                    again.handle = nextHandle
                    XCTAssertThrowsError(try r.execute("filter add dev eth0 parent 1: protocol ip prio 1 handle \(again.handle) flower \(key(again)) flowid 1:1"),
                                         "step \(step): the key is still filter \(live[j].handle)'s")
                    live.remove(at: i)
                    duplicated += 1
                } else {
                    live[i] = f
                    replaced += 1
                }
            }
            let b = dp.device(named: "eth0")!.qdisc.filters
            if b.deadCount > 0 { sawTombstones += 1 }
            XCTAssertEqual(b.liveCount, live.count, "step \(step)")
            guard step % 7 == 0 else { continue }
            for _ in 0..<30 {
                let sport = 1000 + Int.random(in: 0..<70, using: &rng), dst = Int.random(in: 0..<70, using: &rng)
                let dport = 2000 + Int.random(in: 0..<70, using: &rng)
                let frame = FrameBuilder.udpFrame(dst: macB, src: macA, srcIP: FrameBuilder.ip(198, 19, 0, 1), dstIP: FrameBuilder.ip(198, 18, UInt8(dst), 7),
                                                  sport: UInt16(sport), dport: UInt16(dport))
                XCTAssertEqual(classify(dp, b, frame), expected(sport: sport, dst: dst, dport: dport),
                               "step \(step): sport \(sport) dst 198.18.\(dst).7 dport \(dport), masks \(order)")
            }
            if step % 70 == 0 {
                let shown = try r.execute("filter show dev eth0 parent 1:").split(separator: "\n")
                    .compactMap { l in l.range(of: "handle 0x").map { Int(l[$0.upperBound...].prefix { $0.isHexDigit }, radix: 16)! } }
                XCTAssertEqual(shown, live.map(\.handle).sorted(), "step \(step): the dump")
            }
        }
        XCTAssertGreaterThan(sawTombstones, 100, "deletes left tombstones that the walk passed over")
        XCTAssertGreaterThan(replaced, 300)
        XCTAssertGreaterThan(refused, 100)
        XCTAssertGreaterThan(duplicated, 0)
        XCTAssertEqual(dp.pool.inUse, 0)
    }
}

/// csum, nat, skbmod and the `jump` control on real frames through a port's egress. Expected
/// values are the RFCs' (a valid Internet checksum sums to 0xFFFF, RFC 1071; an address
/// rewrite keeps every checksum valid, RFC 1624/3022) and the kernel's action semantics.
final class HeaderActionTests: XCTestCase {
    /// RFC 1071 one's-complement sum of 16-bit words, folded (0xFFFF for a valid checksum).
    func ocSum(_ b: ArraySlice<UInt8>, initial: UInt32 = 0) -> UInt16 {
        var s = initial
        var i = b.startIndex
        while i + 1 < b.endIndex { s += UInt32(b[i]) << 8 | UInt32(b[i + 1]); i += 2 }
        if i < b.endIndex { s += UInt32(b[i]) << 8 }
        while s >> 16 != 0 { s = (s & 0xFFFF) + (s >> 16) }
        return UInt16(s)
    }
    func ipHeaderValid(_ f: [UInt8]) -> Bool { ocSum(f[14..<34]) == 0xFFFF }
    /// The TCP/UDP checksum with the IPv4 pseudo-header (RFC 793/768) verifies.
    func l4Valid(_ f: [UInt8]) -> Bool {
        let total = Int(f[16]) << 8 | Int(f[17])
        let seg = f[34..<(14 + total)]
        let pseudo = UInt32(ocSum(f[26..<34])) + UInt32(f[23]) + UInt32(seg.count)
        return ocSum(seg, initial: pseudo) == 0xFFFF
    }
    func addr(_ f: [UInt8], _ at: Int) -> UInt32 { f[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) } }

    func egress(_ action: String) throws -> Lab {
        let lab = try Lab(ports: ["p1", "p2"])
        try lab.runner.execute("qdisc add dev p2 clsact")
        try lab.runner.execute("filter add dev p2 egress protocol all prio 1 matchall action " + action)
        return lab
    }

    let tcpFrame = FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4,
                                         payload: FrameBuilder.tcp(srcIP: FrameBuilder.ip(198, 18, 0, 1), dstIP: FrameBuilder.ip(198, 18, 0, 2),
                                                                   sport: 40000, dport: 80, seq: 7, payload: Array(repeating: 0x5A, count: 33)))

    /// TC_ACT_TRAP in software: the packet is consumed where the filter runs — sent nowhere,
    /// freed, and not counted as a drop (the kernel's classify cases for TRAP beside STOLEN).
    func testTrapConsumesThePacket() throws {
        let lab = try egress("trap")
        let inUse = lab.dp.pool.inUse
        XCTAssertEqual(lab.send(tcpFrame, on: "p1")["p2"], [])
        XCTAssertEqual(lab.dp.pool.inUse, inUse)
        let shown = try lab.runner.execute("-s filter show dev p2 egress")
        XCTAssertTrue(shown.contains("gact action trap"), shown)
        XCTAssertTrue(shown.contains("Sent \(tcpFrame.count) bytes 1 pkt (dropped 0, overlimits 0 requeues 0)"), shown)
    }

    /// loopback_xmit: what `lo` is sent it receives (netif_rx), counted on both sides — here a
    /// mirred mirror from a port's egress; the original goes on, nothing is leaked.
    func testLoopbackReceivesWhatItIsSent() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        let lo = try lab.dp.addLoopback()
        try lab.runner.execute("qdisc add dev p2 clsact")
        try lab.runner.execute("filter add dev p2 egress protocol all prio 1 matchall action mirred egress mirror dev lo")
        let inUse = lab.dp.pool.inUse
        XCTAssertEqual(lab.send(tcpFrame, on: "p1")["p2"], [tcpFrame])
        XCTAssertEqual(lo.stats.txPackets, 1)
        XCTAssertEqual(lo.stats.rxPackets, 1)
        XCTAssertEqual(lab.dp.pool.inUse, inUse)
    }

    /// act_simple: each packet logs "simple: DATA_COUNT" (the action's packet count), at most
    /// 10 lines per 5 s as printk's ratelimit, and goes on with the verdict (pipe by default).
    func testSimpleLogsItsStringRateLimited() throws {
        let lab = try egress("simple sdata hello action skbmod set smac 02:00:00:00:00:05 pipe")
        var lines: [String] = []
        lab.dp.log = { lines.append($0) }
        for _ in 0..<12 { _ = lab.send(tcpFrame, on: "p1") }
        XCTAssertEqual(lines, (1...10).map { "simple: hello_\($0)" })
        let out = try XCTUnwrap(lab.send(tcpFrame, on: "p1")["p2"]?.first)
        XCTAssertEqual(Array(out[6..<12]), [2, 0, 0, 0, 0, 5], "the next action ran")
        XCTAssertTrue(try lab.runner.execute("filter show dev p2 egress").contains("Simple <hello>"))
    }

    /// act_mpls on frames: push inserts an RFC 3032 entry (label 20 bits, TC 3, S 1, TTL 8)
    /// after the MAC header with S set on an unlabelled packet and TTL 255 by default, and
    /// sets the EtherType; a second push leaves S clear; modify rewrites the top entry; pop
    /// restores the packet; dec_ttl drops at zero; mac_push goes before the MAC header.
    func testMPLSPushPopModifyAndDecTTL() throws {
        func lse(_ f: [UInt8], at o: Int = 14) -> UInt32 { f[o..<(o + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
        let push = try XCTUnwrap(try egress("mpls push label 1000 tc 5").send(tcpFrame, on: "p1")["p2"]?.first)
        XCTAssertEqual(Array(push[12..<14]), [0x88, 0x47])
        XCTAssertEqual(lse(push), 1000 << 12 | 5 << 9 | 1 << 8 | 255)
        XCTAssertEqual(Array(push[18...]), Array(tcpFrame[14...]))
        let twice = try XCTUnwrap(try egress("mpls push label 16 ttl 9 pipe action mpls push label 17 bos 0").send(tcpFrame, on: "p1")["p2"]?.first)
        XCTAssertEqual(lse(twice), 17 << 12 | 255)
        XCTAssertEqual(lse(twice, at: 18), 16 << 12 | 1 << 8 | 9)
        let modified = try XCTUnwrap(try egress("mpls push label 16 pipe action mpls modify label 99 ttl 3").send(tcpFrame, on: "p1")["p2"]?.first)
        XCTAssertEqual(lse(modified), 99 << 12 | 1 << 8 | 3)
        let popped = try XCTUnwrap(try egress("mpls push label 16 pipe action mpls pop protocol ip").send(tcpFrame, on: "p1")["p2"]?.first)
        XCTAssertEqual(popped, tcpFrame)
        // dec_ttl: 2 → 1 passes; 1 → 0 drops; a frame without MPLS drops.
        let dec = try XCTUnwrap(try egress("mpls push label 16 ttl 2 pipe action mpls dec_ttl").send(tcpFrame, on: "p1")["p2"]?.first)
        XCTAssertEqual(lse(dec) & 0xFF, 1)
        XCTAssertEqual(try egress("mpls push label 16 ttl 1 pipe action mpls dec_ttl").send(tcpFrame, on: "p1")["p2"], [])
        XCTAssertEqual(try egress("mpls dec_ttl").send(tcpFrame, on: "p1")["p2"], [])
        let mac = try XCTUnwrap(try egress("mpls mac_push label 7").send(tcpFrame, on: "p1")["p2"]?.first)
        XCTAssertEqual(lse(mac, at: 0), 7 << 12 | 1 << 8 | 255)
        XCTAssertEqual(Array(mac[4...]), tcpFrame)
    }

    /// act_ife (RFC 8013): encode puts an outer Ethernet header (the inner one's MACs, type
    /// 0xED3E), the 16-bit metadata length (itself included) and one TLV per metadatum present
    /// (type 1 mark, length 8, the value) in front of the whole frame; decode takes them off.
    /// Nothing to carry: the frame goes unchanged.
    func testIFEEncodesMetadataAndDecodesItBack() throws {
        let enc = try XCTUnwrap(try egress("skbedit mark 7 pipe action ife encode allow mark pipe").send(tcpFrame, on: "p1")["p2"]?.first)
        XCTAssertEqual(Array(enc[0..<12]), Array(tcpFrame[0..<12]))
        XCTAssertEqual(Array(enc[12..<16]), [0xED, 0x3E, 0x00, 0x0A])
        XCTAssertEqual(Array(enc[16..<24]), [0, 1, 0, 8, 0, 0, 0, 7])
        XCTAssertEqual(Array(enc[24...]), tcpFrame)
        let used = try XCTUnwrap(try egress("ife encode use prio 9 type 0xabba dst 02:00:00:00:00:99 pipe").send(tcpFrame, on: "p1")["p2"]?.first)
        XCTAssertEqual(Array(used[0..<6]), [2, 0, 0, 0, 0, 0x99])
        XCTAssertEqual(Array(used[12..<24]), [0xAB, 0xBA, 0, 10, 0, 3, 0, 8, 0, 0, 0, 9])
        XCTAssertEqual(try egress("ife encode allow mark pipe").send(tcpFrame, on: "p1")["p2"], [tcpFrame], "no mark, no metadata")
        let dec = try XCTUnwrap(try egress("ife decode pipe").send(enc, on: "p1")["p2"]?.first)
        XCTAssertEqual(dec, tcpFrame)
        var bad = enc
        bad[15] = 0xFF                                   // a metadata length past the frame
        XCTAssertEqual(try egress("ife decode pipe").send(bad, on: "p1")["p2"], [])
    }

    func testCsumRecomputesTheHeadersItNames() throws {
        var bad = tcpFrame
        bad[24] ^= 0x55; bad[25] ^= 0x11                                   // IP header checksum
        bad[50] ^= 0x0F                                                    // TCP checksum
        XCTAssertFalse(ipHeaderValid(bad)); XCTAssertFalse(l4Valid(bad))
        let lab = try egress("csum iph and tcp")
        let out = try XCTUnwrap(lab.send(bad, on: "p1")["p2"]?.first)
        XCTAssertTrue(ipHeaderValid(out)); XCTAssertTrue(l4Valid(out))
        XCTAssertEqual(out, tcpFrame)
        // Only what is named: `csum tcp` leaves a broken IP header checksum broken.
        let lab2 = try egress("csum tcp")
        let out2 = try XCTUnwrap(lab2.send(bad, on: "p1")["p2"]?.first)
        XCTAssertFalse(ipHeaderValid(out2)); XCTAssertTrue(l4Valid(out2))
        // UDP: a zero checksum means none (RFC 768) and stays so; a wrong one is fixed.
        var udp = FrameBuilder.udpFrame(dst: macB, src: macA, sport: 5, dport: 6, frameLength: 80)
        let lab3 = try egress("csum udp")
        udp[40] = 0; udp[41] = 0
        XCTAssertEqual(try XCTUnwrap(lab3.send(udp, on: "p1")["p2"]?.first), udp)
        udp[40] = 0x12; udp[41] = 0x34
        XCTAssertTrue(l4Valid(try XCTUnwrap(lab3.send(udp, on: "p1")["p2"]?.first)))
        // IPv6 (RFC 8200 §8.1 pseudo-header), past a destination-options header.
        let src6 = [UInt8](repeating: 0, count: 15) + [1], dst6 = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2]
        let seg = Array(FrameBuilder.tcp(srcIP: 0, dstIP: 0, sport: 1, dport: 2, seq: 3, payload: [1, 2, 3])[20...])
        let dstopts: [UInt8] = [IPProto.tcp, 0, 1, 4, 0, 0, 0, 0]        // next TCP, 8 bytes, PadN
        let f6 = FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv6,
                                       payload: FrameBuilder.ipv6(src: src6, dst: dst6, next: 60, payload: dstopts + seg))
        let out6 = try XCTUnwrap(lab2.send(f6, on: "p1")["p2"]?.first)
        let l4 = out6[(14 + 40 + 8)...]
        let pseudo6 = UInt32(ocSum(out6[22..<54])) + UInt32(IPProto.tcp) + UInt32(l4.count)
        XCTAssertEqual(ocSum(l4, initial: pseudo6), 0xFFFF, "TCP over IPv6")
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testNatRewritesAddressesAndKeepsChecksumsValid() throws {
        // Egress: the source, a /32.
        let lab = try egress("nat egress 198.18.0.1 198.19.0.9")
        let out = try XCTUnwrap(lab.send(tcpFrame, on: "p1")["p2"]?.first)
        XCTAssertEqual(addr(out, 26), FrameBuilder.ip(198, 19, 0, 9))
        XCTAssertEqual(addr(out, 30), FrameBuilder.ip(198, 18, 0, 2))
        XCTAssertTrue(ipHeaderValid(out)); XCTAssertTrue(l4Valid(out))
        // Ingress direction (the destination), a /24: the host bits stay.
        let lab2 = try egress("nat ingress 198.18.0.0/24 198.19.1.0")
        let udp = FrameBuilder.udpFrame(dst: macB, src: macA, srcIP: FrameBuilder.ip(198, 18, 5, 5), dstIP: FrameBuilder.ip(198, 18, 0, 77), sport: 5, dport: 6, frameLength: 90)
        let out2 = try XCTUnwrap(lab2.send(udp, on: "p1")["p2"]?.first)
        XCTAssertEqual(addr(out2, 30), FrameBuilder.ip(198, 19, 1, 77))
        XCTAssertTrue(ipHeaderValid(out2)); XCTAssertTrue(l4Valid(out2))
        // Not in the prefix: untouched.
        XCTAssertEqual(try XCTUnwrap(lab.send(udp, on: "p1")["p2"]?.first), udp)
        // An ICMP error coming back (ingress NAT of its destination) has the quoted packet's
        // source rewritten too, and its ICMP checksum stays valid.
        let quoted = Array(FrameBuilder.udpFrame(dst: macA, src: macB, srcIP: FrameBuilder.ip(198, 18, 0, 77), dstIP: FrameBuilder.ip(198, 18, 9, 9), sport: 5, dport: 6, frameLength: 70)[14...])
        var icmp: [UInt8] = [3, 3, 0, 0, 0, 0, 0, 0] + quoted.prefix(28)
        let c = ~ocSum(icmp[...]); icmp[2] = UInt8(c >> 8); icmp[3] = UInt8(c & 0xFF)
        let err = FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4,
                                        payload: FrameBuilder.ipv4(src: FrameBuilder.ip(198, 18, 9, 9), dst: FrameBuilder.ip(198, 18, 0, 77), proto: IPProto.icmp, payload: icmp))
        let out3 = try XCTUnwrap(lab2.send(err, on: "p1")["p2"]?.first)
        XCTAssertEqual(addr(out3, 30), FrameBuilder.ip(198, 19, 1, 77), "outer destination")
        XCTAssertEqual(addr(out3, 34 + 8 + 12), FrameBuilder.ip(198, 19, 1, 77), "quoted source")
        XCTAssertTrue(ipHeaderValid(out3))
        XCTAssertEqual(ocSum(out3[34...]), 0xFFFF, "ICMP checksum")
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    /// pedit's keys on a TCP frame (tcf_pedit_act): the TTL decremented by an extended add
    /// key, the destination port set in the transport header, the destination MAC rewritten,
    /// then csum making the checksums valid again; a key past the frame stops the keys, counts
    /// an overlimit and still passes the packet.
    func testPeditRewritesFieldsAndCsumRepairs() throws {
        let lab = try egress("pedit ex munge ip ttl decrement munge tcp dport set 8080 munge eth dst set 02:00:00:00:00:77 pipe action csum iph and tcp")
        let out = try XCTUnwrap(lab.send(tcpFrame, on: "p1")["p2"]?.first)
        XCTAssertEqual(out[22], tcpFrame[22] - 1, "TTL")
        XCTAssertEqual(Array(out[36..<38]), [0x1F, 0x90], "TCP destination port 8080")
        XCTAssertEqual(Array(out[0..<6]), [2, 0, 0, 0, 0, 0x77])
        XCTAssertTrue(ipHeaderValid(out)); XCTAssertTrue(l4Valid(out))
        let unchanged = Array(out[6..<22]) + Array(out[23..<24]) + Array(out[26..<36]) + Array(out[38..<50]) + Array(out[52...])
        XCTAssertEqual(unchanged, Array(tcpFrame[6..<22]) + Array(tcpFrame[23..<24]) + Array(tcpFrame[26..<36]) + Array(tcpFrame[38..<50]) + Array(tcpFrame[52...]))
        let lab2 = try egress("pedit munge offset 4000 u32 set 0x1")
        XCTAssertEqual(try XCTUnwrap(lab2.send(tcpFrame, on: "p1")["p2"]?.first), tcpFrame)
        XCTAssertTrue(try lab2.runner.execute("-s filter show dev p2 egress").contains("overlimits 1 "))
    }

    func testSkbmodEditsAndJumpSkipsActions() throws {
        let lab = try egress("skbmod set dmac 02:00:00:00:00:0d set smac 02:00:00:00:00:05 set etype 0x88b5")
        let out = try XCTUnwrap(lab.send(tcpFrame, on: "p1")["p2"]?.first)
        XCTAssertEqual(Array(out[0..<14]), [2, 0, 0, 0, 0, 0x0d, 2, 0, 0, 0, 0, 5, 0x88, 0xb5])
        XCTAssertEqual(Array(out[14...]), Array(tcpFrame[14...]))
        let lab2 = try egress("skbmod swap mac")
        let out2 = try XCTUnwrap(lab2.send(tcpFrame, on: "p1")["p2"]?.first)
        XCTAssertEqual(Array(out2[0..<6]), Array(tcpFrame[6..<12])); XCTAssertEqual(Array(out2[6..<12]), Array(tcpFrame[0..<6]))
        // tcf_action_exec: `jump 2` from the first action goes on with the third.
        let lab3 = try egress("gact jump 2 action skbmod set smac 02:00:00:00:00:01 pipe action skbmod set dmac 02:00:00:00:00:02 pipe")
        let out3 = try XCTUnwrap(lab3.send(tcpFrame, on: "p1")["p2"]?.first)
        XCTAssertEqual(Array(out3[0..<6]), [2, 0, 0, 0, 0, 2], "the third action ran")
        XCTAssertEqual(Array(out3[6..<12]), Array(tcpFrame[6..<12]), "the second was skipped")
        // A jump past the end ends the list with "ok": the frame leaves unchanged.
        let lab4 = try egress("gact jump 5 action skbmod set smac 02:00:00:00:00:01 pipe")
        XCTAssertEqual(try XCTUnwrap(lab4.send(tcpFrame, on: "p1")["p2"]?.first), tcpFrame)
        XCTAssertTrue(try lab3.runner.execute("filter show dev p2 egress").contains("gact action jump 2"))
    }
}

/// act_gate on a replayed flow (virtual time): the schedule repeats from the next cycle
/// boundary after it was configured; closed intervals drop, open ones pass within their max
/// octets.
final class GateTests: XCTestCase {
    func gated(_ schedule: String) throws -> [PcapFile.Record] {
        try replay([Flow(dport: 1, size: 1000, rate: 8_000_000, duration: 200 * Time.ms)], rate: "1gbit",
                   ["qdisc add dev eth0 root handle 1: prio",
                    "filter add dev eth0 parent 1: protocol all prio 1 matchall action gate " + schedule]).1
    }

    /// Open 10 ms, closed 10 ms, a packet every millisecond for 200 ms. Until the first cycle
    /// boundary after the configuration the gate is pending and everything passes (the
    /// replay's clock starts on one, so that is the first 20 ms); afterwards half pass, all in
    /// the same phase of the cycle.
    func testClosedIntervalsDrop() throws {
        let out = try gated("sched-entry open 10ms sched-entry close 10ms")
        XCTAssertEqual(out.filter { $0.timestamp < t0 + 20 * Time.ms }.count, 20, "pending: all pass")
        let later = out.filter { $0.timestamp >= t0 + 20 * Time.ms }
        XCTAssertEqual(Double(later.count), 90, accuracy: 2)
        XCTAssertEqual(Set(later.map { (($0.timestamp - t0) / (10 * Time.ms)) % 2 }).count, 1, "one phase of the cycle")
    }

    /// Open 20 ms with at most 5000 octets: five 1000-byte frames per open interval.
    func testMaxOctetsPerInterval() throws {
        let out = try gated("sched-entry open 20ms -1 5000 sched-entry close 20ms")
        let windows = Dictionary(grouping: out.filter { $0.timestamp >= t0 + 40 * Time.ms }) { ($0.timestamp - t0) / (40 * Time.ms) }
        XCTAssertEqual(windows.count, 4)
        XCTAssertTrue(windows.values.allSatisfy { $0.count == 5 }, "\(windows.mapValues(\.count))")
    }
}

/// act_police's buckets on a replayed flow (tcf_police_act): the packet-rate bucket, the
/// peak-rate bucket of one MTU, the MTU check alone, the per-packet overhead, and the bytes the
/// ingress hook counts (skb->len after the Ethernet header).
final class PoliceTests: XCTestCase {
    func police(_ action: String, _ flow: Flow) throws -> [PcapFile.Record] {
        try replay([flow], rate: "100mbit", ["qdisc add dev eth0 root handle 1: prio",
                                             "filter add dev eth0 parent 1: protocol all prio 1 matchall action police " + action]).1
    }

    func testPacketRate() throws {
        // 5000 packets/s offered, 1000/s allowed after a burst of 10 packets.
        let out = try police("pkts_rate 1000 pkts_burst 10 drop", Flow(dport: 7, size: 100, rate: 4_000_000, duration: 2 * Time.s))
        XCTAssertEqual(Double(out.count), 2010, accuracy: 20, "1000 packets/s for 2 s plus the burst")
        let late = out.filter { $0.timestamp >= t0 + 1 * Time.s }
        XCTAssertEqual(Double(late.count), 1000, accuracy: 10)
    }

    func testPeakRateLimitsTheBurst() throws {
        // rate 1 Mbit/s with a 100 KiB burst, peak 2 Mbit/s over one 2 KB MTU: a 10 Mbit/s flood
        // leaves at the peak rate until the burst is spent ((100 KiB · 8) / (2 − 1) Mbit/s =
        // 0.82 s), then at the rate. Without the peak bucket the burst goes at once.
        let flood = Flow(dport: 7, size: 1000, rate: 10_000_000, duration: 2 * Time.s)
        let out = try police("rate 1mbit burst 100k peakrate 2mbit mtu 2k drop", flood)
        XCTAssertEqual(throughput(out, from: 0, to: 500 * Time.ms), 2e6, accuracy: 2e6 * 0.05)
        XCTAssertEqual(throughput(out, from: 1200 * Time.ms, to: 2 * Time.s), 1e6, accuracy: 1e6 * 0.05)
        let noPeak = try police("rate 1mbit burst 100k drop", flood)
        XCTAssertGreaterThan(throughput(noPeak, from: 0, to: 500 * Time.ms), 2.5e6)
    }

    func testMTUAloneAndOverhead() throws {
        // A policer with an MTU and no rate passes what fits and applies the exceed verdict
        // to the rest.
        let small = try police("mtu 1000 drop", Flow(dport: 7, size: 1000, rate: 1_000_000, duration: 100 * Time.ms))
        XCTAssertEqual(small.count, 13)
        let big = try police("mtu 1000 drop", Flow(dport: 7, size: 1001, rate: 1_000_000, duration: 100 * Time.ms))
        XCTAssertEqual(big.count, 0)
        // overhead 100 on 100-byte frames: each costs 200 bytes, so 1 Mbit/s passes 625
        // packets/s, 0.5 Mbit/s of frames.
        let oh = try police("rate 1mbit burst 2k overhead 100 drop", Flow(dport: 7, size: 100, rate: 4_000_000, duration: 2 * Time.s))
        XCTAssertEqual(throughput(oh, from: 500 * Time.ms, to: 2 * Time.s), 0.5e6, accuracy: 0.5e6 * 0.03)
    }

    func testIngressCountsBytesAfterTheEthernetHeader() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        try lab.runner.execute("qdisc add dev p1 ingress")
        try lab.runner.execute("filter add dev p1 parent ffff: protocol all prio 1 matchall action pass")
        _ = lab.send(frame(macB, macA, length: 100), on: "p1")
        let s = try lab.runner.execute("-s qdisc show dev p1 ingress")
        XCTAssertTrue(s.contains("Sent 86 bytes 1 pkt"), s)
        XCTAssertTrue(try lab.runner.execute("-s filter show dev p1 ingress").contains("Sent 86 bytes 1 pkt"))
    }
}

/// Classic BPF as net/core/filter.c checks and runs it (the expected values are the
/// instruction set's semantics: Documentation/networking/filter.rst and the kernel's
/// conversion): loads big-endian from the MAC header, out-of-frame loads and division by a
/// zero X end the program with 0, the relative areas SKF_NET_OFF and ancillary loads.
final class ClassicBPFTests: XCTestCase {
    let udp = FrameBuilder.udpFrame(dst: macB, src: macA, srcIP: FrameBuilder.ip(198, 18, 0, 1), dstIP: FrameBuilder.ip(198, 18, 0, 2), sport: 1234, dport: 5201)

    func run(_ bytecode: String, _ frame: [UInt8], mark: UInt32 = 0, vlanTCI: UInt16? = nil) throws -> UInt32 {
        let p = try BPFProgram.compile(try BPFProgram.parse(bytecode: bytecode))
        var f = frame
        return f.withUnsafeMutableBytes { b in
            var m = PacketMeta(); m.length = UInt32(b.count); m.mark = mark
            if let t = vlanTCI { m.vlanPresent = true; m.vlanTCI = t; m.vlanProto = EtherType.vlan }
            return p.run(b.baseAddress!, b.count, m, ParsedFrame(b.baseAddress!, b.count, m)) { 4 }
        }
    }

    func testInstructions() throws {
        let arp = FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.arp, payload: [UInt8](repeating: 0, count: 28))
        // tc-testing's program: IPv4 → 0x40000, else 0.
        let tdc = "4,40 0 0 12,21 0 1 2048,6 0 0 262144,6 0 0 0"
        XCTAssertEqual(try run(tdc, udp), 262144)
        XCTAssertEqual(try run(tdc, arp), 0)
        XCTAssertEqual(try run("2,32 0 0 2000,6 0 0 5", udp), 0, "a load past the frame ends with 0")
        XCTAssertEqual(try run("3,1 0 0 0,60 0 0 0,6 0 0 7", udp), 0, "division by X = 0 ends with 0")
        // ldxb 4*([14]&0xf); ldh [x+16]: the UDP destination port behind a 20-byte IP header.
        XCTAssertEqual(try run("3,177 0 0 14,72 0 0 16,22 0 0 0", udp), 5201)
        XCTAssertEqual(try run("2,48 0 0 4293918729,22 0 0 0", udp), 17, "ldb [SKF_NET_OFF + 9]: the IP protocol")
        XCTAssertEqual(try run("2,40 0 0 4294963200,22 0 0 0", udp), 0x0800, "SKF_AD_PROTOCOL")
        XCTAssertEqual(try run("2,32 0 0 4294963220,22 0 0 0", udp, mark: 0xBEEF), 0xBEEF, "SKF_AD_MARK")
        XCTAssertEqual(try run("2,32 0 0 4294963256,22 0 0 0", udp), 4, "SKF_AD_RANDOM")
        // Scratch memory, arithmetic, JSET, JGT and the X register.
        XCTAssertEqual(try run("7,0 0 0 6,2 0 0 1,97 0 0 1,12 0 0 0,69 0 1 8,6 0 0 1,6 0 0 2", udp), 1, "6 + 6 = 12 has bit 8")
        XCTAssertEqual(try run("4,128 0 0 0,37 1 0 41,6 0 0 0,6 0 0 1", udp), 1, "len > 41")
        XCTAssertEqual(try run("3,0 0 0 5,132 0 0 0,22 0 0 0", udp), UInt32(bitPattern: -5), "neg")
        XCTAssertEqual(try run("4,0 0 0 1,100 0 0 31,116 0 0 30,22 0 0 0", udp), 2, "lsh 31, rsh 30")
        // A VLAN tag the kernel holds out of band is out of the program's view; ancillary
        // loads see it.
        let tagged = FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4, vlan: 0x2064, payload: Array(udp[14...]))
        XCTAssertEqual(try run("2,40 0 0 12,22 0 0 0", tagged), 0x0800, "in-band tag: offset 12 is the inner type")
        XCTAssertEqual(try run("2,128 0 0 0,22 0 0 0", tagged), UInt32(udp.count))
        XCTAssertEqual(try run("2,32 0 0 4294963248,22 0 0 0", tagged), 1, "SKF_AD_VLAN_TAG_PRESENT")
        XCTAssertEqual(try run("2,32 0 0 4294963244,22 0 0 0", tagged), 0x2064, "SKF_AD_VLAN_TAG")
        XCTAssertEqual(try run("2,32 0 0 4294963244,22 0 0 0", udp, vlanTCI: 0x0007), 7)
        // bytecode-file's form: lines for commas, a trailing line end.
        XCTAssertEqual(try run("4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n", udp), 262144)
    }

    /// bpf_check_classic's refusals.
    func testTheCheckerRefusesWhatTheKernelRefuses() {
        for (code, why) in [("1,14 0 0 0", "not classic BPF"), ("1,7 0 0 0", "must be a return"), ("2,96 0 0 3,6 0 0 0", "before it is stored"),
                            ("2,5 0 0 1,6 0 0 0", "jump past the end"), ("2,21 2 0 1,6 0 0 0", "jump past the end"), ("2,52 0 0 0,6 0 0 0", "division by zero"),
                            ("2,100 0 0 32,6 0 0 0", "shift by 32"), ("2,32 0 0 4294963264,6 0 0 0", "unknown ancillary"), ("2,2 0 0 16,6 0 0 0", "scratch word 16"),
                            ("1,0 0 0 0", "must be a return")] {
            XCTAssertThrowsError(try BPFProgram.compile(try BPFProgram.parse(bytecode: code)), code) { XCTAssertTrue("\($0)".contains(why), "\(code): \($0)") }
        }
        // A store on one path only does not make the word readable after the join.
        XCTAssertThrowsError(try BPFProgram.compile(try BPFProgram.parse(bytecode: "5,21 0 1 0,2 0 0 0,0 0 0 0,96 0 0 0,22 0 0 0")))
        XCTAssertNoThrow(try BPFProgram.compile(try BPFProgram.parse(bytecode: "4,2 0 0 0,21 0 1 0,96 0 0 0,22 0 0 0")))
        XCTAssertThrowsError(try BPFProgram.parse(bytecode: "3,6 0 0 0"), "the count must match")
        XCTAssertThrowsError(try BPFProgram.parse(bytecode: "1,6 0 0"))
    }

    /// act_bpf (tcf_bpf_act): the program's return is the verdict; TC_ACT_UNSPEC (−1) takes
    /// the default action; SHOT drops and counts.
    func testBPFActionVerdicts() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        try lab.runner.execute("qdisc add dev p2 clsact")
        // UDP → 2 (shot), anything else → −1 (the default action, pass).
        try lab.runner.execute("filter add dev p2 egress protocol all prio 1 matchall action bpf bytecode '6,40 0 0 12,21 0 3 2048,48 0 0 23,21 0 1 17,6 0 0 2,6 0 0 4294967295' pass")
        XCTAssertEqual(lab.send(udp, on: "p1")["p2"], [], "UDP shot")
        let tcp = FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4,
                                        payload: FrameBuilder.tcp(srcIP: FrameBuilder.ip(198, 18, 0, 1), dstIP: FrameBuilder.ip(198, 18, 0, 2), sport: 4, dport: 80, seq: 1, payload: []))
        XCTAssertEqual(lab.send(tcp, on: "p1")["p2"], [tcp], "TCP: the default action")
        let shown = try lab.runner.execute("-s filter show dev p2 egress")
        XCTAssertTrue(shown.contains("action order 1: bpf bytecode '6,40 0 0 12,21 0 3 2048,48 0 0 23,21 0 1 17,6 0 0 2,6 0 0 4294967295' default-action pass\n\t index 1 ref 1 bind 1"), shown)
        XCTAssertTrue(shown.contains("(dropped 1,"), shown)
        // A cls_bpf filter on the same hook: its return is the class; without actions the
        // packet passes (the hook's "ok").
        try lab.runner.execute("filter del dev p2 egress prio 1")
        try lab.runner.execute("filter add dev p2 egress protocol ip prio 1 bpf bytecode '1,6 0 0 65547' action drop")
        XCTAssertEqual(lab.send(udp, on: "p1")["p2"], [])
        XCTAssertTrue(try lab.runner.execute("filter show dev p2 egress").contains("bpf chain 0 handle 0x1 not_in_hw bytecode '1,6 0 0 65547'"))
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }
}

/// `tc filter … police …`: the classifiers' old-style police attribute (tcf_exts_validate_ex's
/// TCA_OLD_COMPAT) is the filter's one action, a policer, shown where tc shows it.
final class OldStylePoliceTests: XCTestCase {
    func testAFilterWithPoliceLimitsItsTraffic() throws {
        let (rp, out, report) = try replay([Flow(dport: 7, size: 1000, rate: 10_000_000, duration: 1 * Time.s),
                                            Flow(dport: 8, size: 1000, rate: 1_000_000, duration: 1 * Time.s)], rate: "100mbit",
                                           ["qdisc add dev eth0 root handle 1: prio",
                                            "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 7 0xffff police rate 2mbit burst 10k drop flowid 1:1"])
        XCTAssertEqual(throughput(out, from: 100 * Time.ms, to: 900 * Time.ms) { dport($0) == 7 }, 2e6, accuracy: 2e6 * 0.05, report.text)
        XCTAssertEqual(throughput(out, from: 100 * Time.ms, to: 900 * Time.ms) { dport($0) == 8 }, 1e6, accuracy: 1e6 * 0.05, "other traffic untouched")
        let shown = try rp.runner.execute("filter show dev eth0")
        XCTAssertTrue(shown.contains("*flowid 1:1 not_in_hw \n  match 00000007/0000ffff at 20\n police 0x1 rate 2Mbit burst 10Kb mtu 2Kb action drop overhead 0b \n\tref 1 bind 1"), shown)
        XCTAssertFalse(shown.contains("action order"), shown)
    }
}

/// A flower instance ends at its first match (fl_classify returns that filter's verdict): a
/// `continue` there goes on to the next priority, not to the instance's next filter — where
/// cls_basic (basic_classify: a negative verdict tries its next filter) goes on inside.
final class FlowerFirstMatchTests: XCTestCase {
    func testContinueLeavesTheFlowerInstance() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        try lab.runner.execute("qdisc add dev p2 clsact")
        try lab.runner.execute("filter add dev p2 egress protocol ip prio 1 flower ip_proto udp action continue")
        try lab.runner.execute("filter add dev p2 egress protocol ip prio 1 flower dst_mac \(macC) action drop")
        _ = lab.send(frame(macC, macA), on: "p2")          // the bridge learns macC on p2
        XCTAssertEqual(lab.send(frame(macA, macC), on: "p1")["p2"]?.count, 1, "the first filter's continue: prio 1 is done")
        try lab.runner.execute("filter add dev p2 egress protocol ip prio 2 matchall action drop")
        XCTAssertEqual(lab.send(frame(macA, macC), on: "p1")["p2"], [], "prio 2 is next")
        // basic, the same shape: its second filter is tried.
        try lab.runner.execute("filter del dev p2 egress prio 2")
        try lab.runner.execute("filter del dev p2 egress prio 1")
        try lab.runner.execute("filter add dev p2 egress protocol ip prio 1 handle 1 basic action continue")
        try lab.runner.execute("filter add dev p2 egress protocol ip prio 1 handle 2 basic action drop")
        XCTAssertEqual(lab.send(frame(macA, macC), on: "p1")["p2"], [], "basic tries its next filter")
    }
}

/// `indev` on u32, fw and flower (tcf_match_indev): the filter matches only packets that came
/// in on the named device (skb_iif) — on a bridge's output port, the port they entered by.
final class IndevTests: XCTestCase {
    func testFiltersMatchTheInputDevice() throws {
        let lab = try Lab(ports: ["p1", "p2", "p3"])
        try lab.runner.execute("qdisc add dev p3 clsact")
        try lab.runner.execute("filter add dev p3 egress protocol all prio 1 u32 match u32 0 0 indev p1 action drop")
        try lab.runner.execute("filter add dev p3 egress protocol ip prio 2 flower indev p2 ip_proto udp action drop")
        let f = frame(macC, macA)
        _ = lab.send(frame(macA, macC), on: "p3")          // the bridge learns macC on p3
        XCTAssertEqual(lab.send(f, on: "p1")["p3"], [], "from p1: the u32 filter's")
        XCTAssertEqual(lab.send(frame(macC, macB), on: "p2")["p3"], [], "from p2: UDP, the flower filter's")
        try lab.runner.execute("filter del dev p3 egress prio 2")
        XCTAssertEqual(lab.send(frame(macC, macB), on: "p2")["p3"]?.count, 1, "from p2: passes")
        let shown = try lab.runner.execute("filter show dev p3 egress")
        XCTAssertTrue(shown.contains("  match 00000000/00000000 at 0\n  input dev p1\n"), shown)
        XCTAssertThrowsError(try lab.runner.execute("filter add dev p3 egress protocol all prio 3 u32 match u32 0 0 indev nosuch action drop"))
        // fw: the mark and the input device.
        try lab.runner.execute("filter del dev p3 egress prio 1")
        for p in ["p1", "p2"] {
            try lab.runner.execute("qdisc add dev \(p) ingress")
            try lab.runner.execute("filter add dev \(p) parent ffff: protocol all prio 1 matchall action skbedit mark 5 pipe")
        }
        try lab.runner.execute("filter add dev p3 egress protocol all prio 4 handle 5 fw indev p2 action drop")
        XCTAssertEqual(lab.send(f, on: "p1")["p3"]?.count, 1, "mark 5 from p1 passes")
        XCTAssertEqual(lab.send(frame(macC, macB), on: "p2")["p3"], [], "mark 5 from p2: the fw filter's")
        XCTAssertTrue(try lab.runner.execute("filter show dev p3 egress").contains("handle 0x5 input dev p2 "))
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }
}

/// ifb (drivers/net/ifb.c): what mirred redirects to it goes through its qdisc and back where
/// the redirect ran; what it gives back skips tc once; a mirror is not taken.
final class IFBTests: XCTestCase {
    func lab() throws -> Lab {
        let lab = try Lab(ports: ["p1", "p2"])
        try lab.runner.execute("link add ifb0 type ifb")
        try lab.runner.execute("link set ifb0 up")
        return lab
    }

    func testEgressRedirectComesBackOutOfTheSamePort() throws {
        let lab = try lab()
        try lab.runner.execute("qdisc add dev p2 clsact")
        try lab.runner.execute("filter add dev p2 egress protocol all prio 1 matchall action mirred egress redirect dev ifb0")
        let f = frame(macB, macA)
        XCTAssertEqual(lab.send(f, on: "p1")["p2"], [f], "through ifb0 and out of p2, once")
        let ifb = lab.dev("ifb0")
        XCTAssertEqual(ifb.stats.rxPackets, 1)
        XCTAssertEqual(ifb.stats.txPackets, 1)
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testIngressRedirectIsReceivedAgainAndBridged() throws {
        let lab = try lab()
        try lab.runner.execute("qdisc add dev p1 ingress")
        try lab.runner.execute("filter add dev p1 parent ffff: protocol all prio 1 matchall action mirred egress redirect dev ifb0")
        try lab.runner.execute("qdisc replace dev ifb0 root pfifo limit 10")
        let f = frame(macB, macA)
        XCTAssertEqual(lab.send(f, on: "p1")["p2"], [f], "received again on p1, then bridged")
        XCTAssertTrue(try lab.runner.execute("-s qdisc show dev ifb0").contains("Sent \(f.count) bytes 1 pkt"))
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testAMirrorIsDroppedByTheIFB() throws {
        let lab = try lab()
        try lab.runner.execute("qdisc add dev p2 clsact")
        try lab.runner.execute("filter add dev p2 egress protocol all prio 1 matchall action mirred egress mirror dev ifb0")
        let f = frame(macB, macA)
        XCTAssertEqual(lab.send(f, on: "p1")["p2"], [f])
        XCTAssertEqual(lab.dev("ifb0").stats.rxDropped, 1, "ifb_xmit: not redirected")
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }
}

/// vxlan devices (RFC 7348 as vxlan_core.c builds it): what a device sends leaves inside UDP
/// to the remote, with a valid UDP checksum (RFC 768) and the VNI; what is refused is refused
/// by name.
final class VXLANTests: XCTestCase {
    func testEncapsulationAndRefusals() throws {
        // r2 and vx0 bridged; r1 the underlay with an address and the remote's neighbour.
        let r = try MemoryRouter(["addr add 198.18.1.1/24 dev r1", "link add br0 type bridge", "link set r2 master br0", "link set br0 up",
                                  "link add vx0 type vxlan id 4242 remote 198.18.1.2 dstport 4789", "link set vx0 master br0 up",
                                  "neigh add 198.18.1.2 lladdr 02:00:00:00:00:0b dev r1"])
        let inner = frame(macB, macA)
        let out = try XCTUnwrap(r.send(inner, on: r.r2).r1.first, "flooded to vx0, encapsulated, sent by r1")
        XCTAssertEqual(out.count, inner.count + 50)
        XCTAssertEqual(Array(out[12..<14]), [0x08, 0x00])
        XCTAssertEqual(Array(out[26..<34]), [198, 18, 1, 1, 198, 18, 1, 2], "from the route's source, to the remote")
        XCTAssertEqual(out[23], 17)
        XCTAssertEqual(Array(out[36..<38]), [0x12, 0xB5], "dstport 4789")
        XCTAssertEqual(Array(out[42..<50]), [0x08, 0, 0, 0, 0x00, 0x10, 0x92, 0], "I flag, VNI 4242")
        XCTAssertEqual(Array(out[50...]), inner)
        // RFC 768: the checksum over the pseudo-header and the datagram verifies.
        var s: UInt32 = 0xC612 + 0x0101 + 0xC612 + 0x0102 + 17 + UInt32(out.count - 34)
        var i = 34
        while i + 1 < out.count { s += UInt32(out[i]) << 8 | UInt32(out[i + 1]); i += 2 }
        if i < out.count { s += UInt32(out[i]) << 8 }
        while s >> 16 != 0 { s = (s & 0xFFFF) + (s >> 16) }
        XCTAssertEqual(s, 0xFFFF)
        // An external device takes the endpoint and VNI from tunnel_key's metadata.
        try r.runner.execute("link add vxe type vxlan external dstport 4789")
        try r.runner.execute("link set vxe up")
        try r.runner.execute("neigh add 198.18.1.7 lladdr 02:00:00:00:00:0c dev r1")
        try r.runner.execute("link set r2 nomaster")
        try r.runner.execute("qdisc add dev r2 ingress")
        try r.runner.execute("filter add dev r2 parent ffff: protocol all prio 1 matchall action tunnel_key set src_ip 198.18.1.1 dst_ip 198.18.1.7 id 77 dst_port 4789 ttl 9 action mirred egress redirect dev vxe")
        let o2 = try XCTUnwrap(r.send(inner, on: r.r2).r1.first)
        XCTAssertEqual(Array(o2[30..<34]), [198, 18, 1, 7], "to the metadata's destination")
        XCTAssertEqual(o2[22], 9, "its TTL")
        XCTAssertEqual(Array(o2[46..<49]), [0, 0, 77], "its VNI")
        let shown = try r.runner.execute("filter show dev r2 ingress")
        XCTAssertTrue(shown.contains("action order 1: tunnel_key  set\n\tsrc_ip 198.18.1.1\n\tdst_ip 198.18.1.7\n\tkey_id 77\n\tdst_port 4789\n\tcsum\n\tttl 9 pipe\n\t index 1 ref 1 bind 1"), shown)
        for (line, msg) in [("link add vx1 type vxlan id 4242 remote 198.18.1.3 dstport 4789", "already exists"),
                            ("link add vx2 type vxlan id 7 group 239.1.1.1", "not implemented"),
                            ("link add vx3 type vxlan remote 198.18.1.2", "\"id\" is required"),
                            ("link add vx4 type vxlan id 7 remote 2001:db8::1", "IPv6")] {
            XCTAssertThrowsError(try r.runner.execute(line), line) { XCTAssertTrue("\($0)".contains(msg), "\(line): \($0)") }
        }
    }
}

/// flower's tunnel keys (enc_key_id, enc_dst_ip, enc_dst_port …) on what an external vxlan
/// receives: the metadata vxlan_rcv attaches is what they match.
final class FlowerTunnelKeyTests: XCTestCase {
    func testEncKeysMatchTheTunnelAPacketCameBy() throws {
        let r = try MemoryRouter(["addr add 198.18.1.1/24 dev r1", "link add vxe type vxlan external dstport 4789", "link set vxe up",
                                  "qdisc add dev vxe ingress",
                                  "filter add dev vxe parent ffff: protocol all prio 1 flower enc_key_id 42 enc_dst_ip 198.18.1.1 enc_dst_port 4789 action drop",
                                  "filter add dev vxe parent ffff: protocol all prio 2 matchall action tunnel_key unset action mirred egress redirect dev r2"])
        let inner = frame(macB, macA)
        func outer(vni: UInt32) -> [UInt8] {
            let vx = [0x08, 0, 0, 0] + FrameBuilder.be32(vni << 8)
            let udp = FrameBuilder.udp(srcIP: FrameBuilder.ip(198, 18, 1, 9), dstIP: FrameBuilder.ip(198, 18, 1, 1), sport: 40000, dport: 4789, payload: vx + inner)
            return FrameBuilder.ethernet(dst: MACAddress(raw: 0x0200_0000_0001), src: macC, type: EtherType.ipv4, payload: udp)
        }
        XCTAssertEqual(r.send(outer(vni: 42), on: r.r1).r2, [], "VNI 42: the flower filter's")
        XCTAssertEqual(r.send(outer(vni: 43), on: r.r1).r2, [inner], "VNI 43: on to r2, the metadata released")
        let shown = try r.runner.execute("filter show dev vxe ingress")
        XCTAssertTrue(shown.contains("\n  enc_dst_ip 198.18.1.1\n  enc_key_id 42\n  enc_dst_port 4789"), shown)
        XCTAssertEqual(r.dp.pool.inUse, 0)
    }
}

/// Adding a u32 knode places it in the block's bucket index as it stands (and any other filter
/// moves the knodes after it): after every add of a random mix — knodes in a root and in the
/// buckets of `divisor` tables of two priorities, with and without links and node ids, and
/// basic filters at priorities between them — the index must be what a full `reindexU32`
/// builds.
final class U32IncrementalIndexTests: XCTestCase {
    func testTheIndexKeptByAddsIsTheRebuiltOne() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        try lab.runner.execute("qdisc add dev p2 clsact")
        var rng = LPMTrieTests.Rng(s: 3)
        try lab.runner.execute("filter add dev p2 egress protocol ip prio 2 handle 1: u32 divisor 16")
        try lab.runner.execute("filter add dev p2 egress protocol ip prio 4 handle 2: u32 divisor 4")
        var usedNodes = Set<String>()
        var deleted = 0, sawTombstones = false
        for i in 0..<600 {
            let line: String
            switch Int.random(in: 0..<9, using: &rng) {
            case 6, 7, 8:
                // A knode deleted: a tombstone, out of its bucket; the index must still be
                // the one a rebuild makes.
                let knodes = lab.dp.device(named: "p2")!.ingress!.egressFilters.filters.filter { $0.isU32 && $0.handle & 0xFFF != 0 }
                guard let k = knodes.randomElement(using: &rng) else { continue }
                line = "filter del dev p2 egress protocol ip prio \(k.prio) handle \(String(k.handle >> 20, radix: 16)):\(String(k.handle >> 12 & 0xFF, radix: 16)):\(String(k.handle & 0xFFF, radix: 16)) u32"
                deleted += 1
            case 0: line = "filter add dev p2 egress protocol ip prio 2 u32 match ip dst 198.18.0.\(i % 250)/32 flowid 1:1"
            case 1:
                let b = Int.random(in: 0..<16, using: &rng), n = Int.random(in: 0x800...0x8ff, using: &rng)
                guard usedNodes.insert("1:\(b):\(n)").inserted else { continue }
                line = "filter add dev p2 egress protocol ip prio 2 handle 1:\(String(b, radix: 16)):\(String(n, radix: 16)) u32 ht 1:\(String(b, radix: 16)): match ip src 198.18.1.\(i % 250)/32 flowid 1:2"
            case 2: line = "filter add dev p2 egress protocol ip prio 4 u32 ht 2:\(Int.random(in: 0..<4, using: &rng)): match ip dst 198.18.2.\(i % 250)/32 flowid 1:3"
            case 3: line = "filter add dev p2 egress protocol ip prio 4 u32 match ip protocol 17 0xff link 1: hashkey mask 0x0000000f at 16 flowid 1:4"
            case 4: line = "filter add dev p2 egress protocol ip prio \([1, 3, 5].randomElement(using: &rng)!) basic action pass"
            default: line = "filter add dev p2 egress protocol ip prio 4 u32 ht 2:1: match ip dst 198.18.3.\(i % 250)/32 link 1: hashkey mask 0x0000000f at 12 flowid 1:5"
            }
            try lab.runner.execute(line)
            let kept = lab.dp.device(named: "p2")!.ingress!.egressFilters
            if kept.deadCount > 0 { sawTombstones = true }
            var rebuilt = kept
            rebuilt.reindexU32()
            XCTAssertEqual(kept.u32Slots, rebuilt.u32Slots, "after `\(line)`")
            XCTAssertEqual(kept.u32Ranges, rebuilt.u32Ranges, "after `\(line)`")
            XCTAssertEqual(kept.u32Tables.map(\.links), rebuilt.u32Tables.map(\.links), "after `\(line)`")
            XCTAssertEqual(kept.filters.map(\.instanceEnd), rebuilt.filters.map(\.instanceEnd), "after `\(line)`")
            XCTAssertEqual(kept.filters.map(\.u32Root), rebuilt.filters.map(\.u32Root), "after `\(line)`")
            XCTAssertEqual(kept.filters.map(\.u32Down), rebuilt.filters.map(\.u32Down), "after `\(line)`")
            if kept.u32Slots != rebuilt.u32Slots || kept.filters.map(\.instanceEnd) != rebuilt.filters.map(\.instanceEnd) { break }
        }
        XCTAssertGreaterThan(lab.dp.device(named: "p2")!.ingress!.egressFilters.filters.count, 100)
        XCTAssertGreaterThan(deleted, 100)
        XCTAssertTrue(sawTombstones)
    }
}

/// The action table's index allocation is idr_alloc_u32 from 1: the lowest index not in use
/// (nor reserved by the same request), whatever order indexes were freed and taken in —
/// checked against that definition, directly, over random runs.
final class ActionIndexTests: XCTestCase {
    func testFreeIndexIsAlwaysTheLowestUnusedOne() {
        let table = ActionTable()
        var used: [UInt32: ActionEntry] = [:]
        var rng = LPMTrieTests.Rng(s: 5)
        func lowest(_ taken: Set<UInt32>) -> UInt32 {
            var n: UInt32 = 1
            while used[n] != nil || taken.contains(n) { n += 1 }
            return n
        }
        for step in 0..<20_000 {
            let op = Int.random(in: 0..<10, using: &rng)
            if op < 5 || used.isEmpty {
                // Some requests reserve indexes for their own other actions first.
                var taken = Set<UInt32>()
                if op == 0 { for _ in 0..<3 { taken.insert(UInt32.random(in: 1...200, using: &rng)) } }
                let got = table.freeIndex("gact", taken: taken)
                XCTAssertEqual(got, lowest(taken), "step \(step)")
                guard let i = got else { return }
                let e = ActionEntry(kind: "gact", index: i, action: .gact(.ok), cookie: nil, standalone: true, installed: 0)
                table.insert(e); used[i] = e
            } else if op == 5 {
                // An index asked for explicitly, perhaps far above the rest.
                let i = UInt32.random(in: 1...400, using: &rng)
                guard used[i] == nil else { continue }
                let e = ActionEntry(kind: "gact", index: i, action: .gact(.ok), cookie: nil, standalone: true, installed: 0)
                table.insert(e); used[i] = e
            } else {
                let e = used.values.randomElement(using: &rng)!
                table.remove(e); used[e.index] = nil
            }
        }
    }
}
