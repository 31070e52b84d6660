import XCTest
@testable import Sluice

final class HeaderTests: XCTestCase {
    func withBytes<R>(_ b: [UInt8], _ body: (Bytes) throws -> R) rethrows -> R {
        var b = b
        return try b.withUnsafeMutableBytes { try body(Bytes($0)) }
    }

    func testEthernetAndVLANDeconstruct() throws {
        let f: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x0a, 0x81, 0x00, 0xa0, 0x64, 0x08, 0x00]
        try withBytes(f) { b in
            let e = try EthernetHeader(validating: b)
            XCTAssertTrue(e.destination.isBroadcast)
            XCTAssertEqual(e.source, macA)
            XCTAssertEqual(e.etherType, EtherType.vlan)
            let t = try VLANTag(validating: b.suffix(from: 14))
            XCTAssertEqual(t.vid, 100)
            XCTAssertEqual(t.pcp, 5)
            XCTAssertEqual(t.innerEtherType, EtherType.ipv4)
        }
    }

    func testTruncatedHeadersThrow() throws {
        try withBytes([UInt8](repeating: 0, count: 13)) { b in
            XCTAssertThrowsError(try EthernetHeader(validating: b)) { e in
                XCTAssertEqual(e as? HeaderError, .truncated(header: "ethernet", need: 14, have: 13))
            }
        }
        try withBytes([0x45] + [UInt8](repeating: 0, count: 10)) { b in
            XCTAssertThrowsError(try IPv4Header(validating: b))
        }
        // IHL says 24 bytes of header, only 20 present.
        try withBytes([0x46, 0, 0, 24] + [UInt8](repeating: 0, count: 16)) { b in
            XCTAssertThrowsError(try IPv4Header(validating: b))
        }
        try withBytes([UInt8](repeating: 0, count: 12) + [0x40] + [UInt8](repeating: 0, count: 7)) { b in
            // TCP data offset 4 words = 16 < 20
            XCTAssertThrowsError(try TCPHeader(validating: b))
        }
        try withBytes([0, 9, 0, 9, 0, 4, 0, 0]) { b in
            XCTAssertThrowsError(try UDPHeader(validating: b), "UDP length below 8")
        }
    }

    func testIPv4UDPConstructAndChecksums() throws {
        let f = FrameBuilder.udpFrame(dst: macB, src: macA, frameLength: 60)
        XCTAssertEqual(f.count, 60)
        try withBytes(f) { b in
            let ip = try IPv4Header(validating: b.suffix(from: 14))
            XCTAssertEqual(ip.source, FrameBuilder.ip(198, 18, 0, 1))
            XCTAssertEqual(ip.destination, FrameBuilder.ip(198, 18, 0, 2))
            XCTAssertEqual(ip.proto, IPProto.udp)
            XCTAssertTrue(ip.checksumValid)
            let u = try UDPHeader(validating: b.suffix(from: 34))
            XCTAssertEqual(u.destinationPort, 9)
            XCTAssertEqual(u.datagramLength, 26)
        }
    }

    func testRFC1071ChecksumExample() {
        // RFC 1071 section 3 example: words 0001 f203 f4f5 f6f7 sum to ddf2, checksum 220d.
        let d: [UInt8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]
        XCTAssertEqual(d.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, 8)) }, 0x220d)
        // Odd length: trailing byte padded with zero.
        let o: [UInt8] = [0x00, 0x01, 0xf2]
        XCTAssertEqual(o.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, 3)) }, ~UInt16(0x0001 + 0xf200))
    }

    func testCompletePartialChecksumMatchesFullChecksum() {
        // Build a TCP frame, zero its checksum but leave the pseudo-header sum as a sender would.
        let full = FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4,
                                         payload: FrameBuilder.tcp(srcIP: 1, dstIP: 2, sport: 5, dport: 6, seq: 9, payload: Array(0..<200)))
        var partial = full
        let pseudo = FrameBuilder.be32(1) + FrameBuilder.be32(2) + [0, 6] + FrameBuilder.be16(UInt16(20 + 200))
        let ps = pseudo.withUnsafeBytes { ~Checksum.fold(Checksum.sum($0.baseAddress!, 12)) }
        partial[34 + 16] = UInt8(ps >> 8); partial[34 + 17] = UInt8(ps & 0xff)
        partial.withUnsafeMutableBytes { b in
            XCTAssertTrue(Checksum.complete(frame: b.baseAddress!, length: b.count, start: 34, offset: 16))
        }
        XCTAssertEqual(partial, full)
    }

    func testARPandICMPandIPv6() throws {
        let arp: [UInt8] = [0, 1, 8, 0, 6, 4, 0, 1] + macA.octets + [198, 18, 0, 1] + [0, 0, 0, 0, 0, 0] + [198, 18, 0, 2]
        try withBytes(arp) { b in
            let a = try ARPHeader(validating: b)
            XCTAssertEqual(a.operation, 1)
            XCTAssertEqual(a.senderMAC, macA)
            XCTAssertEqual(a.targetIP, FrameBuilder.ip(198, 18, 0, 2))
        }
        try withBytes([8, 0, 0xf7, 0xff, 0, 1, 0, 2]) { b in
            let i = try ICMPHeader(validating: b)
            XCTAssertEqual(i.type, 8)
            XCTAssertEqual(i.sequence, 2)
        }
        var v6 = [UInt8](repeating: 0, count: 40)
        v6[0] = 0x60; v6[5] = 8; v6[6] = 17; v6[7] = 64
        try withBytes(v6) { b in
            let h = try IPv6Header(validating: b)
            XCTAssertEqual(h.payloadLength, 8)
            XCTAssertEqual(h.nextHeader, IPProto.udp)
        }
        v6[0] = 0x40
        try withBytes(v6) { b in XCTAssertThrowsError(try IPv6Header(validating: b)) }
    }

    func testMACParsing() {
        XCTAssertEqual(MACAddress(parsing: "02:00:00:00:00:0a"), macA)
        XCTAssertNil(MACAddress(parsing: "02:00:00:00:00"))
        XCTAssertNil(MACAddress(parsing: "02:00:00:00:00:zz"))
        XCTAssertEqual(macA.description, "02:00:00:00:00:0a")
        XCTAssertTrue(MACAddress.broadcast.isMulticast)
        XCTAssertFalse(macA.isMulticast)
    }
}
