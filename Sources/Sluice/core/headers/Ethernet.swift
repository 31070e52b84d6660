/// Ethernet II header (and an optional 802.1Q/802.1ad tag behind it).
public struct EthernetHeader {
    enum Field { static let dst = 0, src = 6, ethertype = 12 }
    public static let length = 14
    public static let vlanTagLength = 4
    public let bytes: Bytes

    public init(validating b: Bytes) throws(HeaderError) {
        try b.check(Self.length, "ethernet")
        bytes = b
    }
    public init(unchecked b: Bytes) { bytes = b }

    public var destination: MACAddress { MACAddress(at: bytes.base) }
    public var source: MACAddress { MACAddress(at: bytes.base + 6) }
    public var etherType: UInt16 { bytes.u16(12) }
    public func setDestination(_ m: MACAddress) { m.store(to: bytes.base) }
    public func setSource(_ m: MACAddress) { m.store(to: bytes.base + 6) }
    public func setEtherType(_ t: UInt16) { bytes.setU16(12, t) }
}

public enum EtherType {
    public static let ipv4: UInt16 = 0x0800
    public static let arp: UInt16 = 0x0806
    public static let vlan: UInt16 = 0x8100      // 802.1Q
    public static let qinq: UInt16 = 0x88A8      // 802.1ad
    public static let ipv6: UInt16 = 0x86DD
}

/// An 802.1Q / 802.1ad tag: TCI (PCP 3 bits, DEI 1, VID 12) then the inner EtherType.
public struct VLANTag {
    public static let length = 4
    public let bytes: Bytes
    public init(validating b: Bytes) throws(HeaderError) {
        try b.check(Self.length, "802.1Q")
        bytes = b
    }
    public var tci: UInt16 { bytes.u16(0) }
    public var vid: UInt16 { tci & 0x0FFF }
    public var pcp: UInt8 { UInt8(tci >> 13) }
    public var dei: Bool { tci & 0x1000 != 0 }
    public var innerEtherType: UInt16 { bytes.u16(2) }
}

/// ARP for Ethernet/IPv4 (RFC 826), 28 bytes.
public struct ARPHeader {
    public static let length = 28
    public let bytes: Bytes
    public init(validating b: Bytes) throws(HeaderError) {
        try b.check(Self.length, "arp")
        guard b.u16(0) == 1, b.u16(2) == EtherType.ipv4, b.u8(4) == 6, b.u8(5) == 4 else {
            throw .malformed(header: "arp", reason: "not Ethernet/IPv4")
        }
        bytes = b
    }
    /// The view of the bridge's ARP proxy (br_do_proxy_suppress_arp): protocol IPv4 with
    /// 6-byte hardware and 4-byte protocol addresses, whatever the hardware type; nil for
    /// anything else or fewer than 28 bytes.
    public init?(bridgeView b: Bytes) {
        guard b.count >= Self.length, b.u16(2) == EtherType.ipv4, b.u8(4) == 6, b.u8(5) == 4 else { return nil }
        bytes = b
    }
    public var operation: UInt16 { bytes.u16(6) }
    public var senderMAC: MACAddress { MACAddress(at: bytes.base + 8) }
    public var senderIP: UInt32 { bytes.u32(14) }
    public var targetMAC: MACAddress { MACAddress(at: bytes.base + 18) }
    public var targetIP: UInt32 { bytes.u32(24) }
}
