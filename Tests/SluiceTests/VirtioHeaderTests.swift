import XCTest
@testable import Sluice
#if canImport(Glibc)
import Glibc
#endif

final class VirtioHeaderTests: XCTestCase {
    /// A 1514-byte TCP/IPv4 frame: L4 at 34, TCP header 20 bytes, payload 1460.
    let tcpFrame = FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4,
                                         payload: FrameBuilder.tcp(srcIP: 1, dstIP: 2, sport: 1, dport: 2, seq: 0, payload: [UInt8](repeating: 1, count: 1460)))

    func hdr(flags: UInt8, gso: UInt8, hdrLen: UInt16 = 54, gsoSize: UInt16 = 0, csumStart: UInt16 = 34, csumOffset: UInt16 = 16) -> [UInt8] {
        [flags, gso] + le(hdrLen) + le(gsoSize) + le(csumStart) + le(csumOffset)
    }
    func le(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }

    func decode(_ h: [UInt8], _ f: [UInt8]) throws -> PacketMeta {
        var m = PacketMeta()
        try h.withUnsafeBytes { hb in
            try f.withUnsafeBytes { fb in
                try VirtioNetHeader.decode(hb.baseAddress!, frame: fb.baseAddress!, length: f.count, into: &m)
            }
        }
        return m
    }

    func testValidTSOHeader() throws {
        let m = try decode(hdr(flags: 1, gso: 1, gsoSize: 500), tcpFrame)
        XCTAssertEqual(m.csum, .partial)
        XCTAssertEqual(m.gsoType, .tcpv4)
        XCTAssertEqual(m.gsoSize, 500)
        XCTAssertEqual(m.hdrLen, 54)
    }

    func testSmallFrameIsNotGSO() throws {
        // payload 1460 <= gso_size 1460: a plain packet, as the kernel treats it.
        let m = try decode(hdr(flags: 1, gso: 1, gsoSize: 1460), tcpFrame)
        XCTAssertTrue(m.gsoType.isEmpty)
        XCTAssertEqual(m.csum, .partial)
    }

    func testDataValidAndNone() throws {
        XCTAssertEqual(try decode(hdr(flags: 2, gso: 0, hdrLen: 0, csumStart: 0, csumOffset: 0), tcpFrame).csum, .unnecessary)
        XCTAssertEqual(try decode([UInt8](repeating: 0, count: 10), tcpFrame).csum, ChecksumState.none)
    }

    func testLyingHeadersAreRejected() {
        let cases: [([UInt8], VirtioNetHeader.Invalid)] = [
            (hdr(flags: 0x80, gso: 0), .unknownFlags),
            (hdr(flags: 1, gso: 3, gsoSize: 500), .unknownGSOType),                   // UFO
            (hdr(flags: 1, gso: 9, gsoSize: 500), .unknownGSOType),
            (hdr(flags: 0, gso: 0x80), .unknownGSOType),                               // ECN without GSO
            (hdr(flags: 1, gso: 0, csumStart: 1510, csumOffset: 16), .checksumOutOfFrame),
            (hdr(flags: 1, gso: 0, csumStart: 4, csumOffset: 0), .checksumOutOfFrame),  // inside Ethernet
            (hdr(flags: 0, gso: 1, gsoSize: 500), .gsoWithoutChecksum),
            (hdr(flags: 1, gso: 1, gsoSize: 0), .gsoSizeZero),
            (hdr(flags: 1, gso: 4, gsoSize: 500), .gsoProtocolMismatch),              // TCPv6 on IPv4
            (hdr(flags: 1, gso: 5, gsoSize: 500, csumOffset: 6), .gsoProtocolMismatch), // USO on TCP
            (hdr(flags: 1, gso: 1, gsoSize: 500, csumStart: 38), .gsoProtocolMismatch), // csum not at L4
            (hdr(flags: 1, gso: 1, gsoSize: 500, csumOffset: 6), .checksumOffsetMismatch),
            (hdr(flags: 1, gso: 1, hdrLen: 4000, gsoSize: 500), .headerLengthBeyondFrame),
        ]
        for (h, want) in cases {
            XCTAssertThrowsError(try decode(h, tcpFrame), "\(h)") { e in
                XCTAssertEqual(e as? VirtioNetHeader.Invalid, want, "\(h)")
            }
        }
    }

    func testEncodeDecodeRoundTrip() throws {
        var m = PacketMeta()
        m.csum = .partial; m.csumStart = 34; m.csumOffset = 16
        m.gsoType = [.tcpv4, .tcpECN]; m.gsoSize = 500; m.hdrLen = 54
        var h = [UInt8](repeating: 0xEE, count: 12)
        h.withUnsafeMutableBytes { VirtioNetHeader.encode(m, into: $0.baseAddress!, size: 12) }
        XCTAssertEqual(Array(h[10...]), [0, 0])
        let back = try decode(Array(h[0..<10]), tcpFrame)
        XCTAssertEqual(back.gsoType, [.tcpv4, .tcpECN])
        XCTAssertEqual(back.gsoSize, 500)
        XCTAssertEqual(back.csumStart, 34)
    }

    /// The real TAP driver code over a real fd (a SOCK_SEQPACKET socketpair carries the same
    /// one-message-per-frame framing as /dev/net/tun): lying headers are counted per reason,
    /// the good frames are forwarded, nothing leaks. Read one by one (`rx read`) and in
    /// io_uring bursts (`rx uring`), the same.
    func testTapDriverCountsBadHeadersAndKeepsForwarding() throws {
        try checkBadHeadersCountedAndForwarding(uring: false)
    }

    func testTapDriverCountsBadHeadersAndKeepsForwardingReadingThroughIOUring() throws {
        try checkBadHeadersCountedAndForwarding(uring: true)
    }

    func checkBadHeadersCountedAndForwarding(uring: Bool) throws {
        var sv: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &sv), 0)
        defer { close(sv[1]) }
        let dp = Datapath(poolSize: 256, clock: .virtual())
        let r = CommandRunner(datapath: dp)
        try r.execute("link add br0 type bridge")
        let tap = try dp.addTap(name: "vt0", fd: sv[0], uring: uring)
        let sink = MemoryDriver()
        try dp.addMemory(name: "out0", driver: sink)
        try r.execute("link set vt0 master br0 up")
        try r.execute("link set out0 master br0 up")
        try r.execute("link set br0 up")
        func send(_ h: [UInt8], _ f: [UInt8]) {
            let msg = h + [0, 0] + f   // 12-byte header (num_buffers)
            XCTAssertEqual(msg.withUnsafeBytes { write(sv[1], $0.baseAddress!, $0.count) }, msg.count)
        }
        let good = frame(.broadcast, macA)
        send([UInt8](repeating: 0, count: 10), good)
        send(hdr(flags: 0x80, gso: 0), good)                              // unknown flag
        send(hdr(flags: 1, gso: 0, csumStart: 1000, csumOffset: 16), good) // csum beyond frame
        send(hdr(flags: 1, gso: 1, gsoSize: 0), tcpFrame)                  // gso_size 0
        send([UInt8](repeating: 0, count: 10), [1, 2, 3])                  // runt
        send([UInt8](repeating: 0, count: 10), good)
        for _ in 0..<5 { dp.napiSchedule(tap); dp.netRxAction() }
        XCTAssertEqual(sink.takeCaptured().count, 2, "the two good frames got through")
        XCTAssertEqual(tap.dropCount(.badVirtioHeader), 3)
        XCTAssertEqual(tap.dropCount(.pktTooSmall), 1)
        XCTAssertEqual(tap.stats.rxErrors, 4)
        XCTAssertEqual(tap.stats.rxPackets, 2)
        XCTAssertEqual(dp.pool.inUse, 0, "no buffer leaked")
        if uring {
            let d = try XCTUnwrap(tap.driver as? TapDriver)
            XCTAssertNil(d.uringFailure)
            XCTAssertEqual(d.rxFrames, 6, "every frame came through the ring")
        }
        // Peer closes: the port fails, is counted as down, and nothing else breaks.
        close(sv[1]); sv[1] = -1
        dp.napiSchedule(tap); dp.netRxAction()
        XCTAssertFalse(tap.carrier)
    }
}
