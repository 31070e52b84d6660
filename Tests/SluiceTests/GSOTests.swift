import XCTest
@testable import Sluice

final class GSOTests: XCTestCase {
    /// A TCP/IPv4 super-frame as a TSO sender hands it over: CHECKSUM_PARTIAL with the
    /// pseudo-header sum in the checksum field.
    func superFrame(payload: [UInt8], flags: UInt8) -> [UInt8] { tcpSuperFrame(payload: payload, flags: flags) }
}

/// A TCP/IPv4 super-frame as a TSO sender hands it over.
func tcpSuperFrame(payload: [UInt8], flags: UInt8) -> [UInt8] {
    do {
        var f = FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4,
                                      payload: FrameBuilder.tcp(srcIP: FrameBuilder.ip(198, 18, 0, 1), dstIP: FrameBuilder.ip(198, 18, 0, 2),
                                                                sport: 40000, dport: 5201, seq: 1000, flags: flags, payload: payload))
        let l4len = 20 + payload.count
        let pseudo = FrameBuilder.be32(FrameBuilder.ip(198, 18, 0, 1)) + FrameBuilder.be32(FrameBuilder.ip(198, 18, 0, 2)) + [0, 6] + FrameBuilder.be16(UInt16(l4len))
        let ps = pseudo.withUnsafeBytes { ~Checksum.fold(Checksum.sum($0.baseAddress!, 12)) }
        f[50] = UInt8(ps >> 8); f[51] = UInt8(ps & 0xff)
        return f
    }
}

/// `tcpSuperFrame` of `payload` bytes of 1 in a buffer of `pool`, marked as a TSO sender hands
/// it over: TCPv4 GSO at `mss`, headers 54 bytes, checksum partial; pktLen its length.
func tcpGSOPacket(_ pool: PacketPool, payload: Int, mss: UInt16) -> Packet {
    let f = tcpSuperFrame(payload: [UInt8](repeating: 1, count: payload), flags: TCPHeader.ack)
    let p = must(pool.alloc())
    f.withUnsafeBytes { pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
    let m = pool.meta(p)
    m.pointee.gsoType = .tcpv4; m.pointee.gsoSize = mss; m.pointee.hdrLen = 54
    m.pointee.csum = .partial; m.pointee.csumStart = 34; m.pointee.csumOffset = 16
    m.pointee.pktLen = UInt32(f.count)
    return p
}

extension GSOTests {

    func testTCPSuperFrameIsSegmentedForADeviceWithoutTSO() throws {
        let lab = try Lab(ports: ["p1", "p2"])
        let dp = lab.dp
        let payload = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let f = superFrame(payload: payload, flags: TCPHeader.ack | TCPHeader.psh | TCPHeader.fin)
        let p = must(dp.pool.alloc())
        f.withUnsafeBytes { dp.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
        let m = dp.pool.meta(p)
        m.pointee.gsoType = .tcpv4; m.pointee.gsoSize = 1448; m.pointee.hdrLen = 54
        m.pointee.csum = .partial; m.pointee.csumStart = 34; m.pointee.csumOffset = 16
        XCTAssertEqual(GSO.wireLength(m.pointee), f.count + 6 * 54)
        var batch = PacketBatch()
        batch.append(p)
        dp.transmit(lab.dev("p2"), &batch)
        let segs = lab.ports["p2"]!.takeCaptured()
        XCTAssertEqual(segs.count, 7)   // ceil(10000 / 1448)
        var joined: [UInt8] = []
        for (i, s) in segs.enumerated() {
            var copy = s
            let n = s.count
            try copy.withUnsafeMutableBytes { raw in
                let b = Bytes(raw)
                let ip = try IPv4Header(validating: b.suffix(from: 14))
                XCTAssertTrue(ip.checksumValid, "segment \(i) IP checksum")
                XCTAssertEqual(ip.totalLength, n - 14)
                XCTAssertEqual(ip.identification, 1 &+ UInt16(i))
                let tcp = try TCPHeader(validating: b.suffix(from: 34))
                XCTAssertEqual(tcp.sequence, 1000 + UInt32(i * 1448))
                let last = i == segs.count - 1
                XCTAssertEqual(tcp.flags & TCPHeader.fin != 0, last)
                XCTAssertEqual(tcp.flags & TCPHeader.psh != 0, last)
                // Full TCP checksum over pseudo-header + segment verifies to zero.
                let pseudo = FrameBuilder.be32(ip.source) + FrameBuilder.be32(ip.destination) + [0, 6] + FrameBuilder.be16(UInt16(n - 34))
                let sum = pseudo.withUnsafeBytes { Checksum.sum($0.baseAddress!, 12) }
                XCTAssertEqual(Checksum.fold(Checksum.sum(raw.baseAddress! + 34, n - 34, initial: sum)), 0, "segment \(i) TCP checksum")
            }
            XCTAssertLessThanOrEqual(s.count, 54 + 1448)
            joined += s[54...]
        }
        XCTAssertEqual(joined, payload)
        XCTAssertEqual(dp.pool.inUse, 0)
    }
}

extension GSOTests {
    /// A TSO-capable port p2 (up, then `setup`) is handed one 10 000-byte TCPv4 super-frame of
    /// 1448-byte segments (7 of them) and the datapath runs until idle.
    func sendSuperFrame(_ setup: [String]) throws -> (Lab, MemoryDriver, [UInt8]) {
        let lab = try Lab(ports: [], poolSize: 256)
        let d = MemoryDriver(features: DeviceFeatures.offloads)
        lab.ports["p2"] = d
        try lab.dp.addMemory(name: "p2", driver: d)
        try lab.runner.execute("link set p2 up")
        for line in setup { try lab.runner.execute(line) }
        let f = superFrame(payload: [UInt8](repeating: 7, count: 10_000), flags: TCPHeader.ack)
        let p = must(lab.dp.pool.alloc())
        f.withUnsafeBytes { lab.dp.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
        let m = lab.dp.pool.meta(p)
        m.pointee.gsoType = .tcpv4; m.pointee.gsoSize = 1448; m.pointee.hdrLen = 54
        m.pointee.csum = .partial; m.pointee.csumStart = 34; m.pointee.csumOffset = 16
        var batch = PacketBatch()
        batch.append(p)
        lab.dp.transmit(lab.dev("p2"), &batch)
        _ = lab.runUntilIdle()
        return (lab, d, f)
    }

    /// qdisc_bstats_update counts a GSO frame as gso_segs packets of qdisc_pkt_len bytes
    /// (_bstats_update; qdisc_pkt_len_init), in the root qdisc and in an htb class alike.
    func testQdiscStatisticsCountGSOSegments() throws {
        for setup in ["qdisc add dev p2 root pfifo", "qdisc add dev p2 root tbf rate 1gbit burst 200kb latency 50ms",
                      "qdisc add dev p2 root fq_codel",
                      "qdisc add dev p2 root handle 1: htb default 1\nclass add dev p2 parent 1: classid 1:1 htb rate 1gbit burst 200kb"] {
            let (lab, d, f) = try sendSuperFrame(setup.split(separator: "\n").map(String.init))
            XCTAssertEqual(d.transmitted, 1, "the super-frame went to the TSO device whole")
            let out = try lab.runner.execute("-s qdisc show dev p2")
            XCTAssertTrue(out.contains("Sent \(f.count + 6 * 54) bytes 7 pkt"), "\(setup): \(out)")
            if setup.contains("htb") {
                XCTAssertTrue(try lab.runner.execute("-s class show dev p2").contains("Sent \(f.count + 6 * 54) bytes 7 pkt"))
            }
            XCTAssertEqual(lab.dp.pool.inUse, 0)
        }
    }
}

extension GSOTests {
    /// gso_features_check: a frame with more segments than gso_max_segs, or not shorter than
    /// gso_max_size, is segmented in software even for a TSO device.
    func testGSOMaxSizeAndSegsSendLargerFramesThroughSoftwareGSO() throws {
        for (setting, expected) in [("", 1), ("gso_max_segs 4", 7), ("gso_max_size 5000", 7), ("gso_max_size 20000 gso_max_segs 7", 1)] {
            let (lab, d, _) = try sendSuperFrame(["link set p2 \(setting)"])
            XCTAssertEqual(d.transmitted, UInt64(expected), setting)
            XCTAssertEqual(lab.dp.pool.inUse, 0)
        }
    }
}
