/// IEEE 802.1D spanning tree BPDUs as the Linux bridge sends and reads them (br_stp_bpdu.c):
/// an 802.3 frame to the bridge group address 01:80:C2:00:00:00 whose length field covers an
/// LLC header (DSAP = SSAP = 0x42, UI control 0x03) and the BPDU — 35 bytes for a
/// configuration BPDU, 4 for a topology change notification. Times travel in 1/256 s.
///
/// Reading follows the kernel's checks in order: the 802.3 length must not claim more than
/// the frame holds (llc_fixup_skb), the LLC header must be STP's (stp_pdu_rcv), protocol id and
/// version must be 0 (br_stp_rcv: RSTP's version 2 is not 802.1D's), and a configuration BPDU
/// must be whole. Anything else is a reason, counted by the bridge.
public enum BPDU: Equatable, Sendable {
    case config(ConfigBPDU)
    case tcn

    public static let groupAddress = MACAddress(raw: 0x0180_C200_0000)
    public static let configLength = 35, tcnLength = 4
    static let llcLength = 3
    public static let typeConfig: UInt8 = 0x00, typeTCN: UInt8 = 0x80

    public enum Invalid: String, Error, Sendable {
        case length = "802.3 length past the frame or not 802.3"
        case llc = "not an STP LLC header"
        case version = "protocol id or version not 802.1D"
        case truncated = "configuration BPDU truncated"
        case type = "unknown BPDU type"
    }

    /// Reads the BPDU of an Ethernet frame already known to be for the group address.
    public static func parse(_ frame: UnsafeRawPointer, length: Int) -> Result<BPDU, Invalid> {
        let b = Bytes(UnsafeMutableRawPointer(mutating: frame), count: length)
        guard length >= 14 else { return .failure(.length) }
        let len = Int(b.u16(12))
        // An EtherType (≥ 1536) is not 802.3/LLC; a length past the frame is refused.
        guard len < 1536, len <= length - 14, len >= llcLength else { return .failure(.length) }
        guard b.u8(14) == 0x42, b.u8(15) == 0x42, b.u8(16) == 0x03 else { return .failure(.llc) }
        let pdu = b.suffix(from: 14 + llcLength)
        let n = len - llcLength
        guard n >= 4 else { return .failure(.truncated) }
        guard pdu.u8(0) == 0, pdu.u8(1) == 0, pdu.u8(2) == 0 else { return .failure(.version) }
        switch pdu.u8(3) {
        case typeTCN: return .success(.tcn)
        case typeConfig:
            guard n >= configLength else { return .failure(.truncated) }
            var c = ConfigBPDU()
            let flags = pdu.u8(4)
            c.topologyChange = flags & 0x01 != 0
            c.topologyChangeAck = flags & 0x80 != 0
            c.root = UInt64(pdu.u32(5)) << 32 | UInt64(pdu.u32(9))
            c.rootPathCost = pdu.u32(13)
            c.bridgeID = UInt64(pdu.u32(17)) << 32 | UInt64(pdu.u32(21))
            c.portID = pdu.u16(25)
            c.messageAge = ticksToNanoseconds(pdu.u16(27))
            c.maxAge = ticksToNanoseconds(pdu.u16(29))
            c.helloTime = ticksToNanoseconds(pdu.u16(31))
            c.forwardDelay = ticksToNanoseconds(pdu.u16(33))
            return .success(.config(c))
        default: return .failure(.type)
        }
    }

    /// Writes the whole frame (Ethernet, LLC, BPDU) at `frame`; returns its length (no padding,
    /// as the kernel's br_send_bpdu).
    public func write(_ frame: UnsafeMutableRawPointer, source: MACAddress) -> Int {
        let n: Int
        switch self { case .config: n = Self.configLength; case .tcn: n = Self.tcnLength }
        let b = Bytes(frame, count: 14 + Self.llcLength + n)
        Self.groupAddress.store(to: frame)
        source.store(to: frame + 6)
        b.setU16(12, UInt16(Self.llcLength + n))
        b.setU8(14, 0x42); b.setU8(15, 0x42); b.setU8(16, 0x03)
        let pdu = b.suffix(from: 14 + Self.llcLength)
        pdu.setU16(0, 0); pdu.setU8(2, 0)
        switch self {
        case .tcn: pdu.setU8(3, Self.typeTCN)
        case .config(let c):
            pdu.setU8(3, Self.typeConfig)
            pdu.setU8(4, (c.topologyChange ? 0x01 : 0) | (c.topologyChangeAck ? 0x80 : 0))
            pdu.setU32(5, UInt32(truncatingIfNeeded: c.root >> 32)); pdu.setU32(9, UInt32(truncatingIfNeeded: c.root))
            pdu.setU32(13, c.rootPathCost)
            pdu.setU32(17, UInt32(truncatingIfNeeded: c.bridgeID >> 32)); pdu.setU32(21, UInt32(truncatingIfNeeded: c.bridgeID))
            pdu.setU16(25, c.portID)
            pdu.setU16(27, Self.nanosecondsToTicks(c.messageAge))
            pdu.setU16(29, Self.nanosecondsToTicks(c.maxAge))
            pdu.setU16(31, Self.nanosecondsToTicks(c.helloTime))
            pdu.setU16(33, Self.nanosecondsToTicks(c.forwardDelay))
        }
        return 14 + Self.llcLength + n
    }

    /// br_get_ticks: 1/256 s, rounded up.
    public static func ticksToNanoseconds(_ t: UInt16) -> UInt64 { (UInt64(t) * 1_000_000_000 + 255) / 256 }
    /// br_set_ticks: truncated.
    public static func nanosecondsToTicks(_ ns: UInt64) -> UInt16 { UInt16(truncatingIfNeeded: min(ns * 256 / 1_000_000_000, 0xFFFF)) }
}

/// struct br_config_bpdu: identifiers as 8 bytes read big-endian (priority, then address), so
/// that comparing the integers compares them as the kernel's memcmp does; times in nanoseconds.
public struct ConfigBPDU: Equatable, Sendable {
    public var topologyChange = false
    public var topologyChangeAck = false
    public var root: UInt64 = 0
    public var rootPathCost: UInt32 = 0
    public var bridgeID: UInt64 = 0
    public var portID: UInt16 = 0
    public var messageAge: UInt64 = 0
    public var maxAge: UInt64 = 0
    public var helloTime: UInt64 = 0
    public var forwardDelay: UInt64 = 0
    public init() {}
}
