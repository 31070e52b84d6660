import XCTest
@testable import Sluice

/// GRO's merge and flush rules, each as the kernel states it (net/ipv4/tcp_offload.c
/// tcp_gro_receive, include/net/gro.h inet_gro_flush / ipv6_gro_flush, net/ipv4/af_inet.c
/// inet_gro_receive, net/ipv4/udp_offload.c udp_gro_receive_segment), and the property that
/// GRO followed by GSO gives back the original segments bit for bit.
///
/// Frames are built here with their own checksum arithmetic (RFC 1071 over 16-bit words), not
/// Sluice's. The lab is p1 (GRO on) → br0 → p2: with p2 offload-capable the aggregates are
/// captured as GRO made them; without offloads p2 gets them segmented again.
final class GROTests: XCTestCase {

    // MARK: frames

    struct Seg {
        var seq: UInt32
        var len: Int
        var flags: UInt8 = TCPHeader.ack
        var ack: UInt32 = 7000
        var window: UInt16 = 502
        var options: [UInt8] = []
        var id: UInt16
        var df = true
        var ttl: UInt8 = 64
        var tos: UInt8 = 0
        var ihl = 5
        var sport: UInt16 = 40000
        var corruptChecksum = false
        var trailer = 0
        var payloadSeed = 0
    }

    static func csum(_ bytes: [UInt8]) -> UInt16 {
        var s: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count { s += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1]); i += 2 }
        if i < bytes.count { s += UInt32(bytes[i]) << 8 }
        while s >> 16 != 0 { s = (s & 0xFFFF) + (s >> 16) }
        return ~UInt16(s)
    }
    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    static let src4: [UInt8] = [198, 18, 0, 1], dst4: [UInt8] = [198, 18, 0, 2]
    static let src6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
    static let dst6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2]

    static func payload(_ s: Seg) -> [UInt8] {
        (0..<s.len).map { UInt8(truncatingIfNeeded: (Int(s.seq) &+ $0) &* 31 &+ s.payloadSeed) }
    }

    static func tcpHeader(_ s: Seg, pseudo: [UInt8], body: [UInt8]) -> [UInt8] {
        let doff = (20 + s.options.count) / 4
        var t = be16(s.sport) + be16(5201) + be32(s.seq) + be32(s.ack)
        t += [UInt8(doff << 4), s.flags] + be16(s.window) + [0, 0, 0, 0] + s.options
        var c = csum(pseudo + t + body)
        if s.corruptChecksum { c ^= 0x5555 }
        t[16] = UInt8(c >> 8); t[17] = UInt8(c & 0xFF)
        return t
    }

    /// Ethernet + IPv4 + TCP with valid checksums (optionally an 802.1Q tag in the frame).
    static func tcp4(_ s: Seg, vlan: UInt16? = nil) -> [UInt8] {
        let body = payload(s)
        let l4len = 20 + s.options.count + s.len
        let tcp = tcpHeader(s, pseudo: src4 + dst4 + [0, 6] + be16(UInt16(l4len)), body: body)
        let optBytes = (s.ihl - 5) * 4
        var ip: [UInt8] = [UInt8(0x40 | s.ihl), s.tos] + be16(UInt16(20 + optBytes + l4len)) + be16(s.id)
        ip += [s.df ? 0x40 : 0, 0, s.ttl, 6, 0, 0] + src4 + dst4 + [UInt8](repeating: 1, count: optBytes)
        let c = csum(ip)
        ip[10] = UInt8(c >> 8); ip[11] = UInt8(c & 0xFF)
        var eth = macB.octets + macA.octets
        if let v = vlan { eth += be16(0x8100) + be16(v) }
        eth += be16(0x0800)
        return eth + ip + tcp + body + [UInt8](repeating: 0, count: s.trailer)
    }

    static func tcp6(_ s: Seg, flowLabel: UInt32 = 0x12345) -> [UInt8] {
        let body = payload(s)
        let l4len = 20 + s.options.count + s.len
        let tcp = tcpHeader(s, pseudo: src6 + dst6 + be32(UInt32(l4len)) + [0, 0, 0, 6], body: body)
        let w0 = UInt32(6) << 28 | UInt32(s.tos) << 20 | flowLabel
        let ip = be32(w0) + be16(UInt16(l4len)) + [6, s.ttl] + src6 + dst6
        return macB.octets + macA.octets + be16(0x86DD) + ip + tcp + body
    }

    static func udp4(len: Int, id: UInt16, sport: UInt16 = 4000, seed: Int = 0) -> [UInt8] {
        let body = (0..<len).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ seed) }
        var udp = be16(sport) + be16(9) + be16(UInt16(8 + len)) + [0, 0]
        let c = csum(src4 + dst4 + [0, 17] + be16(UInt16(8 + len)) + udp + body)
        udp[6] = UInt8(c >> 8); udp[7] = UInt8(c & 0xFF)
        var ip: [UInt8] = [0x45, 0] + be16(UInt16(28 + len)) + be16(id) + [0x40, 0, 64, 17, 0, 0] + src4 + dst4
        let ic = csum(ip)
        ip[10] = UInt8(ic >> 8); ip[11] = UInt8(ic & 0xFF)
        return macB.octets + macA.octets + be16(0x0800) + ip + udp + body
    }

    /// A stream of `n` segments of `mss` bytes from `seq0`, IDs from `id0`.
    static func stream(_ n: Int, mss: Int = 1000, seq0: UInt32 = 100_000, id0: UInt16 = 300, _ tweak: (Int, inout Seg) -> Void = { _, _ in }) -> [Seg] {
        var out: [Seg] = []
        var seq = seq0
        for i in 0..<n {
            var s = Seg(seq: seq, len: mss, id: id0 &+ UInt16(i))
            tweak(i, &s)
            out.append(s)
            seq &+= UInt32(s.len)
        }
        return out
    }

    // MARK: lab

    /// p1 (GRO on) → br0 → p2; `offloads` gives both ports TSO and checksum offload (the
    /// bridge gives its ports the offloads they all have).
    func lab(offloads: Bool, udp: Bool = false, weight: Int = 64) throws -> Lab {
        let lab = try Lab(ports: [], poolSize: 2048)
        for n in ["p1", "p2"] {
            let d = MemoryDriver(features: offloads ? DeviceFeatures.offloads : [])
            lab.ports[n] = d
            try lab.dp.addMemory(name: n, driver: d)
            try lab.runner.execute("link set \(n) master br0 up")
        }
        try lab.runner.execute("link set p1 gro on weight \(weight)" + (udp ? " rx-udp-gro-forwarding on" : ""))
        return lab
    }

    /// Sends `frames` in on p1 (one NAPI poll each `weight`) and returns what p2 sent.
    func run(_ lab: Lab, _ frames: [[UInt8]]) -> [[UInt8]] {
        for f in frames { lab.ports["p1"]!.inject(f) }
        let out = lab.runUntilIdle()["p2"] ?? []
        XCTAssertEqual(lab.dp.pool.inUse, 0, "pool balanced")
        return out
    }

    /// Aggregate sizes, in segments of `mss` (TCP payload / mss rounded up), of what p2 captured.
    func segmentCounts(_ out: [[UInt8]], mss: Int = 1000) -> [Int] {
        out.map { f in
            let l4 = 14 + Int(f[14] & 0x0F) * 4
            return (f.count - l4 - Int(f[l4 + 12] >> 4) * 4 + mss - 1) / mss
        }
    }

    /// Frame lists compared with a short message (first difference), not a dump of both.
    func assertFrames(_ got: [[UInt8]], _ want: [[UInt8]], _ what: String = "", file: StaticString = #filePath, line: UInt = #line) {
        if got == want { return }
        guard got.count == want.count else {
            XCTFail("\(what): \(got.count) frames, expected \(want.count)", file: file, line: line); return
        }
        for (i, (g, w)) in zip(got, want).enumerated() where g != w {
            let at = (0..<min(g.count, w.count)).first { g[$0] != w[$0] } ?? min(g.count, w.count)
            XCTFail("\(what): frame \(i) differs at byte \(at) (lengths \(g.count)/\(w.count))", file: file, line: line)
            return
        }
    }

    // MARK: held across polls (gro_flush_timeout)

    /// napi_complete_done with gro_flush_timeout: gro_flush_normal(…, flush_old) leaves the
    /// aggregates of the current jiffy in the list and arms the timer; the next poll's segments
    /// of the flow join them; the timer's poll, finding nothing (work_done 0, no deferral),
    /// flushes everything. So two polls' segments leave as one aggregate, where without the
    /// timeout each poll's end completes its own.
    func testGROFlushTimeoutHoldsAggregatesAcrossPolls() throws {
        let segs = Self.stream(6)
        for timeout in [0, 50_000] {
            let lab = try lab(offloads: true)
            try lab.runner.execute("link set p1 gro_flush_timeout \(timeout)")
            let p1 = lab.dev("p1"), port = lab.ports["p1"]!, p2 = lab.ports["p2"]!
            for s in segs[0..<3] { port.inject(Self.tcp4(s)) }
            lab.dp.runOnce(timeoutMs: 0)
            XCTAssertEqual(p2.takeCaptured().count, timeout == 0 ? 1 : 0, "timeout \(timeout): held after the first poll")
            XCTAssertEqual(p1.groHeldCount, timeout == 0 ? 0 : 1)
            XCTAssertEqual(p1.napi.timerDue, timeout == 0 ? 0 : lab.dp.clock.now + 50 * Time.us)
            XCTAssertFalse(p1.napi.irqMasked, "no deferral: the interrupt is re-armed")
            lab.dp.clock.advance(by: 20 * Time.us)
            for s in segs[3...] { port.inject(Self.tcp4(s)) }
            lab.dp.runOnce(timeoutMs: 0)
            var out = p2.takeCaptured()
            if timeout == 0 {
                XCTAssertEqual(segmentCounts(out), [3])
                XCTAssertEqual(lab.dp.pool.inUse, 0)
                continue
            }
            XCTAssertEqual(out.count, 0, "the second poll's segments joined the held aggregate")
            XCTAssertEqual(p1.groHeldCount, 1)
            lab.dp.clock.advance(by: 50 * Time.us)
            lab.dp.runOnce(timeoutMs: 0)
            out = p2.takeCaptured()
            XCTAssertEqual(segmentCounts(out), [6], "the timer's poll flushed one aggregate of both polls")
            XCTAssertEqual(Array(try XCTUnwrap(out.first)[54...]), segs.flatMap { Self.payload($0) })
            XCTAssertEqual(p1.napi.timerPolls, 1)
            XCTAssertEqual(p1.groHeldCount, 0)
            XCTAssertEqual(p1.groMerged, 5)
            XCTAssertEqual(lab.dp.pool.inUse, 0)
        }
    }

    /// gro_flush_old: at a poll's end only aggregates of an earlier jiffy (4 ms at HZ 250) go
    /// up; a later segment with PSH completes its held aggregate in order; segmented again
    /// for a port without offloads, the segments are the originals bit for bit; a device that
    /// goes down drops what it held (counted), leaking nothing.
    func testHeldAggregatesAgeOutAndKeepTheirFlowsOrder() throws {
        let lab = try lab(offloads: false)
        try lab.runner.execute("link set p1 gro_flush_timeout 10000000 napi_defer_hard_irqs 100")
        let p1 = lab.dev("p1"), port = lab.ports["p1"]!, p2 = lab.ports["p2"]!
        let a = Self.stream(4)
        let b = Self.stream(3, seq0: 7_000_000) { _, s in s.sport = 40001 }
        port.inject(Self.tcp4(a[0])); port.inject(Self.tcp4(a[1]))
        lab.dp.runOnce(timeoutMs: 0)
        XCTAssertEqual(p2.takeCaptured().count, 0)
        // 5 ms later (another jiffy): flow b's poll ends by flushing a's old aggregate, keeping b's.
        lab.dp.clock.advance(by: 5 * Time.ms)
        port.inject(Self.tcp4(b[0])); port.inject(Self.tcp4(b[1]))
        lab.dp.runNAPITimers()
        lab.dp.napiSchedule(p1)
        lab.dp.netRxAction()
        assertFrames(p2.takeCaptured(), a[0..<2].map { Self.tcp4($0) }, "a's aggregate, segmented again")
        XCTAssertEqual(p1.groHeldCount, 1)
        // In the same jiffy: a's next segments and b's last with PSH; b's aggregate completes
        // with it, a's stays.
        var last = b[2]; last.flags |= TCPHeader.psh
        port.inject(Self.tcp4(a[2])); port.inject(Self.tcp4(last))
        lab.dp.napiSchedule(p1)
        lab.dp.netRxAction()
        assertFrames(p2.takeCaptured(), [b[0], b[1], last].map { Self.tcp4($0) }, "b in order, ended by PSH")
        XCTAssertEqual(p1.groHeldCount, 1, "a's new aggregate")
        // Down: what is held is dropped and counted.
        let dropped = p1.stats.rxDropped
        try lab.runner.execute("link set p1 down")
        XCTAssertEqual(p1.groHeldCount, 0)
        XCTAssertEqual(p1.stats.rxDropped, dropped + 1)
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    // MARK: merging

    func testInOrderStreamBecomesOneAggregateWithKernelHeaders() throws {
        let lab = try lab(offloads: true)
        let segs = Self.stream(10)
        let out = run(lab, segs.map { Self.tcp4($0) })
        XCTAssertEqual(out.count, 1)
        let a = try XCTUnwrap(out.first)
        XCTAssertEqual(a.count, 54 + 10_000)
        // inet_gro_complete: total length and header checksum fixed; the first segment's ID.
        XCTAssertEqual(Int(a[16]) << 8 | Int(a[17]), 40 + 10_000)
        XCTAssertEqual(Self.csum(Array(a[14..<34])), 0)
        XCTAssertEqual(UInt16(a[18]) << 8 | UInt16(a[19]), 300)
        // tcp4_gro_complete: CHECKSUM_PARTIAL, the pseudo-header sum in the checksum field.
        let pseudo = Self.src4 + Self.dst4 + [0, 6] + Self.be16(UInt16(20 + 10_000))
        XCTAssertEqual(UInt16(a[50]) << 8 | UInt16(a[51]), ~Self.csum(pseudo))
        XCTAssertEqual(Array(a[54...]), segs.flatMap { Self.payload($0) })
        let p1 = lab.dev("p1")
        XCTAssertEqual(p1.groMerged, 9)
        XCTAssertEqual(p1.groAggregates, 1)
        XCTAssertEqual(p1.groCount(of: .pollEnd), 1)
        XCTAssertEqual(p1.stats.rxPackets, 10, "rx counts wire packets, before GRO")
    }

    func testGROThenGSOGivesBackTheSegments() throws {
        let lab = try lab(offloads: false)
        let frames = Self.stream(10).map { Self.tcp4($0) }
        assertFrames(run(lab, frames), frames)
        XCTAssertEqual(lab.dev("p1").groMerged, 9)
    }

    func testGROOffLeavesSegmentsAlone() throws {
        let lab = try lab(offloads: true)
        try lab.runner.execute("link set p1 gro off")
        XCTAssertEqual(run(lab, Self.stream(10).map { Self.tcp4($0) }).count, 10)
        XCTAssertEqual(lab.dev("p1").groMerged, 0)
    }

    /// What ends an aggregate, segment by segment (index 4 of 10 is the odd one), and the
    /// aggregates the kernel's rules make of the stream, in segments.
    func checkSplit(_ tweak: @escaping (Int, inout Seg) -> Void, _ expected: [Int], reason: GROReason,
                    file: StaticString = #filePath, line: UInt = #line) throws {
        let lab = try lab(offloads: true)
        let frames = Self.stream(10, tweak).map { Self.tcp4($0) }
        let out = run(lab, frames)
        XCTAssertEqual(segmentCounts(out), expected, "\(reason)", file: file, line: line)
        XCTAssertGreaterThan(lab.dev("p1").groCount(of: reason), 0, "\(reason) counted", file: file, line: line)
        // And without offloads, the original segments come back.
        let lab2 = try self.lab(offloads: false)
        assertFrames(run(lab2, frames), frames, "\(reason): GRO+GSO identity", file: file, line: line)
    }

    func testPSHAndFINEndTheAggregateAfterMerging() throws {
        try checkSplit({ i, s in if i == 4 { s.flags |= TCPHeader.psh } }, [5, 5], reason: .tcpFlags)
        try checkSplit({ i, s in if i == 4 { s.flags |= TCPHeader.fin } }, [5, 5], reason: .tcpFlags)
    }

    func testSYNRSTURGNeverMergeAndPassAlone() throws {
        for f in [TCPHeader.syn, TCPHeader.rst, TCPHeader.urg] {
            try checkSplit({ i, s in if i == 4 { s.flags |= f } }, [4, 1, 5], reason: .tcpFlags)
        }
    }

    func testCWROnlyOnTheFirstSegmentOfAnAggregate() throws {
        try checkSplit({ i, s in if i == 4 { s.flags |= TCPHeader.cwr } }, [4, 6], reason: .tcpFlags)
    }

    func testAckWindowOptionsMustMatch() throws {
        try checkSplit({ i, s in if i >= 4 { s.ack = 9000 } }, [4, 6], reason: .ackNumber)
        try checkSplit({ i, s in if i >= 4 { s.window = 600 } }, [4, 6], reason: .window)
        let ts: (UInt32) -> [UInt8] = { v in [1, 1, 8, 10] + Self.be32(v) + Self.be32(77) }
        try checkSplit({ i, s in s.options = ts(i >= 4 ? 2 : 1) }, [4, 6], reason: .tcpOptions)
    }

    func testIPHeaderFieldsMustMatch() throws {
        try checkSplit({ i, s in if i >= 4 { s.ttl = 63 } }, [4, 6], reason: .ipHeader)
        try checkSplit({ i, s in if i >= 4 { s.tos = 0x10 } }, [4, 6], reason: .ipHeader)
        try checkSplit({ i, s in if i >= 4 { s.df = false } }, [4, 6], reason: .ipHeader)
    }

    func testIPIDMustIncrementOrStayFixedWithDF() throws {
        try checkSplit({ i, s in if i >= 4 { s.id &+= 100 } }, [4, 6], reason: .ipID)
        // Fixed ID with DF: one aggregate (SKB_GSO_TCP_FIXEDID), segmented back with the same ID.
        let lab = try lab(offloads: false)
        let fixed = Self.stream(10) { _, s in s.id = 4242 }.map { Self.tcp4($0) }
        assertFrames(run(lab, fixed), fixed)
        XCTAssertEqual(lab.dev("p1").groMerged, 9)
        // Fixed ID without DF is not an atomic flow: nothing merges.
        let lab2 = try self.lab(offloads: true)
        XCTAssertEqual(run(lab2, Self.stream(10) { _, s in s.id = 4242; s.df = false }.map { Self.tcp4($0) }).count, 10)
        XCTAssertEqual(lab2.dev("p1").groMerged, 0)
    }

    func testSequenceGapLongerSegmentShorterSegment() throws {
        var segs = Self.stream(10)
        segs.remove(at: 4)
        for i in segs.indices { segs[i].id = 300 + UInt16(i) }   // IDs still in step: only the sequence jumps
        let lab = try lab(offloads: true)
        XCTAssertEqual(segmentCounts(run(lab, segs.map { Self.tcp4($0) })), [4, 5])
        XCTAssertEqual(lab.dev("p1").groCount(of: .sequence), 1)
        // A segment longer than the first (the aggregate's gso_size) does not merge.
        try checkSplit({ i, s in if i == 0 { s.len = 500 } }, [1, 9], reason: .segmentSize)
        // A shorter one merges and ends the aggregate.
        try checkSplit({ i, s in if i == 4 { s.len = 300 } }, [5, 5], reason: .lastSegment)
    }

    func testPureAckPassesAloneAndEndsTheFlow() throws {
        try checkSplit({ i, s in if i == 4 { s.len = 0 } }, [4, 0, 5], reason: .segmentSize)
    }

    func testBadChecksumIsNeverMerged() throws {
        try checkSplit({ i, s in if i == 4 { s.corruptChecksum = true } }, [4, 1, 5], reason: .badChecksum)
    }

    func testChecksumMarkedValidByTheDeviceIsTrusted() throws {
        let lab = try lab(offloads: true)
        lab.ports["p1"]!.rxChecksum = .unnecessary
        XCTAssertEqual(run(lab, Self.stream(10).map { Self.tcp4($0) }).count, 1)
    }

    func testSizeLimitAndSegmentLimit() throws {
        // gro_max_size 65536 of IP datagram: 40 + 45 × 1448 fits, a 46th does not.
        let lab = try lab(offloads: true)
        let out = run(lab, Self.stream(50, mss: 1448).map { Self.tcp4($0) })
        XCTAssertEqual(segmentCounts(out, mss: 1448), [45, 5])
        XCTAssertEqual(lab.dev("p1").groCount(of: .sizeLimit), 1)
        // 64 segments at most, whatever their size (one poll of 70 with weight 128).
        let lab2 = try self.lab(offloads: true, weight: 128)
        XCTAssertEqual(segmentCounts(run(lab2, Self.stream(70, mss: 100).map { Self.tcp4($0) }), mss: 100), [64, 6])
        XCTAssertEqual(lab2.dev("p1").groCount(of: .segmentLimit), 1)
        // gro_max_size lowered per device.
        let lab3 = try self.lab(offloads: true)
        try lab3.runner.execute("link set p1 gro_max_size 10000")
        XCTAssertEqual(segmentCounts(run(lab3, Self.stream(20).map { Self.tcp4($0) })), [9, 9, 2])
    }

    func testInterleavedFlowsAndTableFull() throws {
        // Two flows interleaved both merge.
        let a = Self.stream(10).map { Self.tcp4($0) }
        let b = Self.stream(10) { _, s in s.sport = 40001 }.map { Self.tcp4($0) }
        let lab = try lab(offloads: true)
        XCTAssertEqual(run(lab, zip(a, b).flatMap { [$0, $1] }).count, 2)
        // Nine flows round-robin: the oldest is completed each time a ninth arrives (MAX_GRO_SKBS 8).
        let flows = (0..<9).map { k in Self.stream(4) { _, s in s.sport = 41000 + UInt16(k) }.map { Self.tcp4($0) } }
        var mixed: [[UInt8]] = []
        for i in 0..<4 { for k in 0..<9 { mixed.append(flows[k][i]) } }
        let lab2 = try self.lab(offloads: false)
        let out = run(lab2, mixed)
        XCTAssertEqual(out.count, 36)
        XCTAssertGreaterThan(lab2.dev("p1").groCount(of: .tableFull), 0)
        // Order within each flow is kept.
        for k in 0..<9 { XCTAssertEqual(out.filter { $0[34...35] == ArraySlice(Self.be16(41000 + UInt16(k))) }, flows[k]) }
    }

    func testIPv6() throws {
        let lab = try lab(offloads: true)
        let out = run(lab, Self.stream(10).map { Self.tcp6($0) })
        XCTAssertEqual(out.count, 1)
        XCTAssertEqual(out.first?.count, 74 + 10_000)
        let lab2 = try self.lab(offloads: false)
        let frames = Self.stream(10) { i, s in if i >= 6 { s.ttl = 3 } }.map { Self.tcp6($0) }
        assertFrames(run(lab2, frames), frames)
        XCTAssertEqual(lab2.dev("p1").groCount(of: .ipHeader), 1)
        // Another flow label is another flow.
        let lab3 = try self.lab(offloads: true)
        let mixed = Self.stream(10).enumerated().map { i, s in Self.tcp6(s, flowLabel: i % 2 == 0 ? 1 : 2) }
        XCTAssertEqual(run(lab3, mixed).count, 10)
    }

    func testBehindAVLANTag() throws {
        let lab = try lab(offloads: true)
        XCTAssertEqual(run(lab, Self.stream(10).map { Self.tcp4($0, vlan: 5) }).count, 1)
        let lab2 = try self.lab(offloads: false)
        let frames = Self.stream(10).map { Self.tcp4($0, vlan: 5) }
        assertFrames(run(lab2, frames), frames)
    }

    func testUDPOnlyWithForwardingGROAndBackAgain() throws {
        let frames = (0..<10).map { Self.udp4(len: 1200, id: 50 + UInt16($0), seed: $0) } + [Self.udp4(len: 700, id: 60, seed: 10)]
        let off = try lab(offloads: true)
        XCTAssertEqual(run(off, frames).count, 11, "UDP GRO is off unless rx-udp-gro-forwarding")
        let on = try lab(offloads: true, udp: true)
        XCTAssertEqual(run(on, frames).count, 1)
        let back = try lab(offloads: false, udp: true)
        assertFrames(run(back, frames), frames)
        XCTAssertEqual(back.dev("p1").groMerged, 10)
    }

    // MARK: bad input: counted, passed alone, never merged

    func testMalformedAndIneligibleFramesPassUnmerged() throws {
        let lab = try lab(offloads: false)
        var badIHL = Self.tcp4(Seg(seq: 1, len: 100, id: 1)); badIHL[14] = 0x44
        var longTotal = Self.tcp4(Seg(seq: 1, len: 100, id: 1)); longTotal[16] = 0x7F
        var badDoff = Self.tcp4(Seg(seq: 1, len: 100, id: 1)); badDoff[46] = 0x40
        let options = Self.tcp4(Seg(seq: 1, len: 100, id: 1, ihl: 6))
        let padded = Self.tcp4(Seg(seq: 1, len: 100, id: 1, trailer: 4))
        var extPastEnd = Self.tcp6(Seg(seq: 1, len: 100, id: 1)); extPastEnd[20] = 0     // hop-by-hop, its length byte 0x40: 520 bytes
        var udpLength = Self.udp4(len: 100, id: 1); udpLength[39] = 200
        let frames = [badIHL, longTotal, badDoff, options, padded, extPastEnd, udpLength]
        // Each interleaved with a good stream: nothing bad joins it, the good ones still merge.
        let good = Self.stream(10).map { Self.tcp4($0) }
        assertFrames(run(lab, frames + good), frames + good)
        let p1 = lab.dev("p1")
        XCTAssertEqual(p1.groCount(of: .badIPv4Header), 1, "IHL 4")
        XCTAssertEqual(p1.groCount(of: .badIPLength), 1, "total length beyond the frame")
        XCTAssertEqual(p1.groCount(of: .badTCPHeader), 1, "data offset 4")
        XCTAssertEqual(p1.groCount(of: .badIPv6Extension), 1, "extension chain past the datagram")
        XCTAssertEqual(p1.groCount(of: .badUDPLength), 1, "UDP length beyond the datagram")
        XCTAssertEqual(p1.groCount(of: .ipOptions), 1)
        XCTAssertEqual(p1.groCount(of: .padding), 1)
        XCTAssertEqual(p1.groMerged, 9)
    }

    // MARK: the property: GRO then GSO is the identity on in-order streams

    func testGROThenGSOReproducesRandomStreams() throws {
        var rng = SplitMix(seed: 0x5EED_6A0)
        var merged: UInt64 = 0
        for round in 0..<60 {
            let mss = 200 + Int(rng.next() % 1229)   // frames within a 1500-byte MTU with IPv6 and timestamps
            let n = 1 + Int(rng.next() % 120)
            let v6 = rng.next() % 4 == 0
            let fixed = !v6 && rng.next() % 4 == 0
            let withTS = rng.next() % 2 == 0
            let vlan: UInt16? = rng.next() % 5 == 0 ? 7 : nil
            var ts: UInt32 = 1000
            let segs = Self.stream(n, mss: mss, seq0: UInt32(truncatingIfNeeded: rng.next()), id0: UInt16(truncatingIfNeeded: rng.next())) { i, s in
                if fixed { s.id = 99 }
                if rng.next() % 9 == 0 { ts += 1 }
                if withTS { s.options = [1, 1, 8, 10] + Self.be32(ts) + Self.be32(5) }
                if rng.next() % 13 == 0 { s.flags |= TCPHeader.psh }
                if rng.next() % 11 == 0 { s.len = 1 + Int(rng.next() % UInt64(mss)) }
                if i == n - 1 && rng.next() % 2 == 0 { s.flags |= TCPHeader.fin }
            }
            let frames = segs.map { v6 ? Self.tcp6($0) : Self.tcp4($0, vlan: vlan) }
            let lab = try lab(offloads: false, weight: 1 + Int(rng.next() % 128))
            if rng.next() % 2 == 0 { lab.ports["p1"]!.rxChecksum = .unnecessary }
            let out = run(lab, frames)
            let drops = ["p1", "p2"].map { n in DropReason.allCases.filter { lab.dev(n).dropCount($0) > 0 }.map { "\(n) \($0.name) \(lab.dev(n).dropCount($0))" } }
            assertFrames(out, frames, "round \(round): mss \(mss) n \(n) v6 \(v6) fixed \(fixed) vlan \(vlan != nil) \(drops)")
            merged += lab.dev("p1").groMerged
        }
        XCTAssertGreaterThan(merged, 1000, "the streams did merge")
    }
}

/// A small deterministic generator (SplitMix64) for generated test inputs.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// LRO (inet_lro) against GRO on the same stream. LRO is only for a device that does not
/// forward, so p1 is no bridge port here: its ingress filter redirects everything to p2.
final class LROTests: XCTestCase {
    func lab(_ feature: String) throws -> (Lab, MemoryDriver) {
        let lab = try Lab(ports: [], poolSize: 2048)
        let p1 = MemoryDriver(), p2 = MemoryDriver()
        lab.ports["p1"] = p1; lab.ports["p2"] = p2
        try lab.dp.addMemory(name: "p1", driver: p1)
        try lab.dp.addMemory(name: "p2", driver: p2)
        for c in ["link set p1 up \(feature) on", "link set p2 up", "qdisc add dev p1 ingress",
                  "filter add dev p1 parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev p2"] {
            try lab.runner.execute(c)
        }
        return (lab, p2)
    }

    /// A stream whose ACK number and window move every third segment, with timestamps, as a
    /// receiver that also sends data produces.
    var frames: [[UInt8]] {
        GROTests.stream(12) { i, s in
            s.ack = 7000 + UInt32(i / 3) * 100
            s.window = 500 + UInt16(i / 3)
            s.options = [1, 1, 8, 10] + GROTests.be32(100 + UInt32(i / 6)) + GROTests.be32(9 + UInt32(i / 3))
        }.map { GROTests.tcp4($0) }
    }

    func run(_ feature: String) throws -> (out: [[UInt8]], dev: NetDevice) {
        let (lab, _) = try lab(feature)
        for f in frames { lab.ports["p1"]!.inject(f) }
        let out = lab.runUntilIdle()["p2"] ?? []
        XCTAssertEqual(lab.dp.pool.inUse, 0)
        return (out, lab.dev("p1"))
    }

    func testGROSplitsWhereLROMergesAndOnlyGROGivesBackTheSegments() throws {
        let input = frames
        let (groOut, groDev) = try run("gro")
        XCTAssertEqual(groOut, input, "GRO then GSO: the segments that went in")
        XCTAssertEqual(groDev.groAggregates, 4, "an aggregate per ACK/window step")
        let (lroOut, lroDev) = try run("lro")
        XCTAssertEqual(lroDev.groAggregates, 1, "LRO merges across ACK, window and TS echo changes")
        XCTAssertEqual(lroDev.groMerged, 11)
        XCTAssertEqual(lroOut.count, input.count, "as many segments come out")
        XCTAssertNotEqual(lroOut, input, "but not the same ones")
        // Every segment now carries the last segment's ACK number and window (lro_add_common).
        for f in lroOut {
            XCTAssertEqual(Array(f[42..<46]), GROTests.be32(7300))
            XCTAssertEqual(Array(f[48..<50]), GROTests.be16(503))
        }
        // The payload stream itself is intact.
        XCTAssertEqual(lroOut.flatMap { $0[66...] }, input.flatMap { $0[66...] })
    }

    func testLROLeavesWhatInetLRORefused() throws {
        // SYN/FIN/URG/RST, CE, options other than a bare timestamp: passed alone.
        let (lab, _) = try lab("lro")
        var odd = GROTests.stream(6) { i, s in if i == 2 { s.options = [1, 1, 1, 1] } }.map { GROTests.tcp4($0) }
        odd += GROTests.stream(4, seq0: 900_000) { _, s in s.tos = 0x03 }.map { GROTests.tcp4($0) }
        for f in odd { lab.ports["p1"]!.inject(f) }
        XCTAssertEqual((lab.runUntilIdle()["p2"] ?? []).count, odd.count)
        XCTAssertEqual(lab.dev("p1").groMerged, 3, "segments 0+1 and 3+4+5 merge; the odd one and the CE ones pass alone")
    }

    func testTheBridgeTurnsLROOffOnItsPortsAndRefusesIt() throws {
        let lab = try Lab(ports: [], poolSize: 256)
        try lab.dp.addMemory(name: "p1", driver: MemoryDriver())
        try lab.runner.execute("link set p1 lro on")
        XCTAssertTrue(lab.dev("p1").activeFeatures.contains(.lro))
        try lab.runner.execute("link set p1 master br0")
        XCTAssertFalse(lab.dev("p1").activeFeatures.contains(.lro), "br_add_if → dev_disable_lro")
        XCTAssertThrowsError(try lab.runner.execute("link set p1 lro on"))
        XCTAssertFalse(lab.dev("p1").activeFeatures.contains(.lro))
    }
}
