/// The one place where header bounds are checked.
///
/// Contract (as smoltcp's wire module): a header view is built with `init(validating:)`, which
/// checks the length once and throws `HeaderError`; after that every accessor is in bounds and
/// unchecked. `init(unchecked:)` is for paths that validated already.
public enum HeaderError: Error, Equatable, Sendable {
    case truncated(header: String, need: Int, have: Int)
    case malformed(header: String, reason: String)
}

/// Big-endian field access over raw bytes at fixed offsets.
public struct Bytes {
    public let base: UnsafeMutableRawPointer
    public let count: Int

    @inline(__always)
    public init(_ base: UnsafeMutableRawPointer, count: Int) { self.base = base; self.count = count }

    @inline(__always)
    public init(_ buf: UnsafeMutableRawBufferPointer) { self.base = buf.baseAddress!; self.count = buf.count }

    /// Throws unless `n` bytes are present.
    @inline(__always)
    public func check(_ n: Int, _ header: StaticString) throws(HeaderError) {
        if count < n { throw .truncated(header: "\(header)", need: n, have: count) }
    }

    @inline(__always) public func u8(_ o: Int) -> UInt8 { base.load(fromByteOffset: o, as: UInt8.self) }
    @inline(__always) public func u16(_ o: Int) -> UInt16 { UInt16(bigEndian: base.loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
    @inline(__always) public func u32(_ o: Int) -> UInt32 { UInt32(bigEndian: base.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
    @inline(__always) public func setU8(_ o: Int, _ v: UInt8) { base.storeBytes(of: v, toByteOffset: o, as: UInt8.self) }
    @inline(__always) public func setU16(_ o: Int, _ v: UInt16) { base.storeBytes(of: v.bigEndian, toByteOffset: o, as: UInt16.self) }
    @inline(__always) public func setU32(_ o: Int, _ v: UInt32) { base.storeBytes(of: v.bigEndian, toByteOffset: o, as: UInt32.self) }

    /// The bytes from `o` on.
    @inline(__always) public func suffix(from o: Int) -> Bytes { Bytes(base + o, count: count - o) }
}

/// A 48-bit MAC address packed in the low bits of a UInt64 (first octet most significant).
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public var raw: UInt64
    public init(raw: UInt64) { self.raw = raw & 0xFFFF_FFFF_FFFF }
    public init(_ b: [UInt8]) {
        precondition(b.count == 6)
        var r: UInt64 = 0
        for x in b { r = r << 8 | UInt64(x) }
        raw = r
    }
    /// Loads six octets at `p`.
    @inline(__always)
    public init(at p: UnsafeRawPointer) {
        let hi = UInt64(UInt16(bigEndian: p.loadUnaligned(as: UInt16.self)))
        let lo = UInt64(UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self)))
        raw = hi << 32 | lo
    }
    public init?(parsing s: some StringProtocol) {
        let parts = s.split(separator: ":")
        guard parts.count == 6 else { return nil }
        var r: UInt64 = 0
        for part in parts {
            guard part.count <= 2, let v = UInt8(part, radix: 16) else { return nil }
            r = r << 8 | UInt64(v)
        }
        raw = r
    }
    public func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: UInt16(truncatingIfNeeded: raw >> 32).bigEndian, as: UInt16.self)
        p.storeBytes(of: UInt32(truncatingIfNeeded: raw).bigEndian, toByteOffset: 2, as: UInt32.self)
    }
    public var octets: [UInt8] { (0..<6).map { UInt8(truncatingIfNeeded: raw >> (40 - 8 * UInt64($0))) } }
    /// Group bit: the low bit of the first octet (broadcast and multicast).
    public var isMulticast: Bool { raw & 0x0100_0000_0000 != 0 }
    /// IEEE 802.1D reserved group address 01:80:C2:00:00:00–0F (is_link_local_ether_addr).
    public var isLinkLocalGroup: Bool { raw & ~0xF == 0x0180_C200_0000 }
    public var isBroadcast: Bool { raw == 0xFFFF_FFFF_FFFF }
    public var isZero: Bool { raw == 0 }
    public static let broadcast = MACAddress(raw: 0xFFFF_FFFF_FFFF)
    public var description: String { octets.map { hex2($0) }.joined(separator: ":") }
    /// A locally administered unicast address derived from `seed` (as eth_random_addr, deterministic).
    public static func local(seed: UInt64) -> MACAddress {
        var x = seed &* 0x9E37_79B9_7F4A_7C15
        x ^= x >> 29
        return MACAddress(raw: (x & 0x00FF_FFFF_FFFF) | 0x0200_0000_0000)
    }
}

func hex2(_ v: UInt8) -> String {
    let s = String(v, radix: 16)
    return s.count == 1 ? "0" + s : s
}
