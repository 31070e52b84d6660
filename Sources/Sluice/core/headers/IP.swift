/// IPv4 header (RFC 791). Validation checks version, IHL and total length against the bytes.
public struct IPv4Header {
    public static let minLength = 20
    public let bytes: Bytes
    public init(validating b: Bytes) throws(HeaderError) {
        try b.check(Self.minLength, "ipv4")
        let v = b.u8(0)
        guard v >> 4 == 4 else { throw .malformed(header: "ipv4", reason: "version \(v >> 4)") }
        let ihl = Int(v & 0x0F) * 4
        guard ihl >= Self.minLength else { throw .malformed(header: "ipv4", reason: "ihl \(ihl)") }
        try b.check(ihl, "ipv4 options")
        let total = Int(b.u16(2))
        guard total >= ihl else { throw .malformed(header: "ipv4", reason: "total length \(total)") }
        bytes = b
    }
    public init(unchecked b: Bytes) { bytes = b }
    public var headerLength: Int { Int(bytes.u8(0) & 0x0F) * 4 }
    public var tos: UInt8 { bytes.u8(1) }
    public var totalLength: Int { Int(bytes.u16(2)) }
    public var identification: UInt16 { bytes.u16(4) }
    public var fragmentField: UInt16 { bytes.u16(6) }
    public var isFragment: Bool { fragmentField & 0x3FFF != 0 }
    public var ttl: UInt8 { bytes.u8(8) }
    public var proto: UInt8 { bytes.u8(9) }
    public var checksum: UInt16 { bytes.u16(10) }
    public var source: UInt32 { bytes.u32(12) }
    public var destination: UInt32 { bytes.u32(16) }
    public func setTotalLength(_ v: Int) { bytes.setU16(2, UInt16(v)) }
    public func setIdentification(_ v: UInt16) { bytes.setU16(4, v) }
    public func setTTL(_ v: UInt8) { bytes.setU8(8, v) }
    /// Recomputes the header checksum.
    public func updateChecksum() {
        bytes.setU16(10, 0)
        bytes.setU16(10, Checksum.fold(Checksum.sum(UnsafeRawPointer(bytes.base), headerLength)))
    }
    public var checksumValid: Bool { Checksum.fold(Checksum.sum(UnsafeRawPointer(bytes.base), headerLength)) == 0 }
    /// The source of a packet the stack queued itself (a full IPv4 header, version checked).
    static func sourceIfIPv4(_ ip: UnsafeRawPointer) -> UInt32? {
        ip.load(as: UInt8.self) >> 4 == 4 ? UInt32(bigEndian: ip.loadUnaligned(fromByteOffset: 12, as: UInt32.self)) : nil
    }
}

/// IPv6 fixed header (RFC 8200).
public struct IPv6Header {
    public static let length = 40
    public let bytes: Bytes
    public init(validating b: Bytes) throws(HeaderError) {
        try b.check(Self.length, "ipv6")
        guard b.u8(0) >> 4 == 6 else { throw .malformed(header: "ipv6", reason: "version \(b.u8(0) >> 4)") }
        bytes = b
    }
    public var trafficClass: UInt8 { UInt8(truncatingIfNeeded: bytes.u16(0) >> 4) }
    public var payloadLength: Int { Int(bytes.u16(4)) }
    public var nextHeader: UInt8 { bytes.u8(6) }
    public var hopLimit: UInt8 { bytes.u8(7) }
    public func setPayloadLength(_ v: Int) { bytes.setU16(4, UInt16(v)) }
}

public enum IPProto {
    public static let icmp: UInt8 = 1
    public static let igmp: UInt8 = 2
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17
    public static let icmpv6: UInt8 = 58
}

/// TCP header (RFC 9293); validation checks the data offset.
public struct TCPHeader {
    public static let minLength = 20
    public static let checksumOffset = 16
    public let bytes: Bytes
    public init(validating b: Bytes) throws(HeaderError) {
        try b.check(Self.minLength, "tcp")
        let off = Int(b.u8(12) >> 4) * 4
        guard off >= Self.minLength else { throw .malformed(header: "tcp", reason: "data offset \(off)") }
        try b.check(off, "tcp options")
        bytes = b
    }
    public var sourcePort: UInt16 { bytes.u16(0) }
    public var destinationPort: UInt16 { bytes.u16(2) }
    public var sequence: UInt32 { bytes.u32(4) }
    public var headerLength: Int { Int(bytes.u8(12) >> 4) * 4 }
    public var flags: UInt8 { bytes.u8(13) }
    public func setSequence(_ v: UInt32) { bytes.setU32(4, v) }
    public func setFlags(_ v: UInt8) { bytes.setU8(13, v) }
    public static let fin: UInt8 = 0x01, syn: UInt8 = 0x02, rst: UInt8 = 0x04, psh: UInt8 = 0x08, ack: UInt8 = 0x10, urg: UInt8 = 0x20, ece: UInt8 = 0x40, cwr: UInt8 = 0x80
}

/// UDP header (RFC 768); validation checks the length field against the bytes.
public struct UDPHeader {
    public static let length = 8
    public static let checksumOffset = 6
    public let bytes: Bytes
    public init(validating b: Bytes) throws(HeaderError) {
        try b.check(Self.length, "udp")
        let l = Int(b.u16(4))
        guard l >= Self.length else { throw .malformed(header: "udp", reason: "length \(l)") }
        bytes = b
    }
    public var sourcePort: UInt16 { bytes.u16(0) }
    public var destinationPort: UInt16 { bytes.u16(2) }
    public var datagramLength: Int { Int(bytes.u16(4)) }
}

/// ICMP / ICMPv6 header: type, code, checksum, and the 4 rest-of-header bytes.
public struct ICMPHeader {
    public static let length = 8
    public let bytes: Bytes
    public init(validating b: Bytes) throws(HeaderError) {
        try b.check(Self.length, "icmp")
        bytes = b
    }
    public var type: UInt8 { bytes.u8(0) }
    public var code: UInt8 { bytes.u8(1) }
    public var checksum: UInt16 { bytes.u16(2) }
    public var identifier: UInt16 { bytes.u16(4) }
    public var sequence: UInt16 { bytes.u16(6) }
}
