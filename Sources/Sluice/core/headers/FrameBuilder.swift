/// Builds well-formed frames (the "emit" side of the header views): Ethernet, optional 802.1Q
/// tag, IPv4 or IPv6, UDP/TCP/ICMP with correct checksums. Used by tests, benchmarks and
/// generators; not on the forwarding path.
public enum FrameBuilder {
    public static func ethernet(dst: MACAddress, src: MACAddress, type: UInt16, vlan: UInt16? = nil, payload: [UInt8]) -> [UInt8] {
        var f = dst.octets + src.octets
        if let vlan { f += be16(EtherType.vlan) + be16(vlan) }
        f += be16(type)
        f += payload
        return f
    }

    public static func ipv4(src: UInt32, dst: UInt32, proto: UInt8, ttl: UInt8 = 64, id: UInt16 = 1, payload: [UInt8]) -> [UInt8] {
        var h: [UInt8] = [0x45, 0] + be16(UInt16(20 + payload.count)) + be16(id) + [0x40, 0, ttl, proto, 0, 0]
        h += be32(src) + be32(dst)
        let c = h.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, 20)) }
        h[10] = UInt8(c >> 8); h[11] = UInt8(c & 0xff)
        return h + payload
    }

    static func pseudoSum(src: UInt32, dst: UInt32, proto: UInt8, length: Int) -> [UInt8] {
        be32(src) + be32(dst) + [0, proto] + be16(UInt16(length))
    }

    static func l4Checksum(pseudo: [UInt8], segment: [UInt8]) -> UInt16 {
        let all = pseudo + segment
        return all.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, all.count)) }
    }

    public static func udp(srcIP: UInt32, dstIP: UInt32, sport: UInt16, dport: UInt16, payload: [UInt8]) -> [UInt8] {
        var s = be16(sport) + be16(dport) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
        var c = l4Checksum(pseudo: pseudoSum(src: srcIP, dst: dstIP, proto: IPProto.udp, length: s.count), segment: s)
        if c == 0 { c = 0xFFFF }
        s[6] = UInt8(c >> 8); s[7] = UInt8(c & 0xff)
        return ipv4(src: srcIP, dst: dstIP, proto: IPProto.udp, payload: s)
    }

    public static func tcp(srcIP: UInt32, dstIP: UInt32, sport: UInt16, dport: UInt16, seq: UInt32, flags: UInt8 = TCPHeader.ack, payload: [UInt8]) -> [UInt8] {
        var s = be16(sport) + be16(dport) + be32(seq) + be32(0) + [0x50, flags] + be16(65535) + [0, 0, 0, 0] + payload
        let c = l4Checksum(pseudo: pseudoSum(src: srcIP, dst: dstIP, proto: IPProto.tcp, length: s.count), segment: s)
        s[16] = UInt8(c >> 8); s[17] = UInt8(c & 0xff)
        return ipv4(src: srcIP, dst: dstIP, proto: IPProto.tcp, payload: s)
    }

    /// An Ethernet/IPv4/UDP frame of exactly `frameLength` bytes (≥ 42).
    public static func udpFrame(dst: MACAddress, src: MACAddress, srcIP: UInt32 = ip(198, 18, 0, 1), dstIP: UInt32 = ip(198, 18, 0, 2),
                                sport: UInt16 = 9, dport: UInt16 = 9, frameLength: Int = 60) -> [UInt8] {
        let payload = [UInt8](repeating: 0xA5, count: max(0, frameLength - 42))
        return ethernet(dst: dst, src: src, type: EtherType.ipv4, payload: udp(srcIP: srcIP, dstIP: dstIP, sport: sport, dport: dport, payload: payload))
    }

    /// An IPv6 packet (RFC 8200): version 6, traffic class and flow label 0; addresses in
    /// network order (16 bytes each).
    public static func ipv6(src: [UInt8], dst: [UInt8], next: UInt8, hopLimit: UInt8 = 64, payload: [UInt8]) -> [UInt8] {
        precondition(src.count == 16 && dst.count == 16)
        return [0x60, 0, 0, 0] + be16(UInt16(payload.count)) + [next, hopLimit] + src + dst + payload
    }

    /// An IGMP message (8 bytes: type, max response code, checksum, group) in an IPv4 packet
    /// with TTL 1, framed to the group's Ethernet address (RFC 1112 6.4).
    public static func igmpFrame(type: UInt8, code: UInt8 = 0, group: UInt32, srcIP: UInt32, dstIP: UInt32, src: MACAddress) -> [UInt8] {
        var m: [UInt8] = [type, code, 0, 0] + be32(group)
        let c = m.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, 8)) }
        m[2] = UInt8(c >> 8); m[3] = UInt8(c & 0xff)
        let dst = MACAddress(raw: 0x0100_5E00_0000 | UInt64(dstIP & 0x7F_FFFF))
        return ethernet(dst: dst, src: src, type: EtherType.ipv4, payload: ipv4(src: srcIP, dst: dstIP, proto: 2, ttl: 1, payload: m))
    }

    /// An MLD message (RFC 2710/3810) behind a hop-by-hop header with the router alert, from
    /// `srcIP` to `dstIP` (16 bytes each), with its ICMPv6 checksum.
    public static func mldFrame(_ icmp: [UInt8], srcIP: [UInt8], dstIP: [UInt8], src: MACAddress) -> [UInt8] {
        var m = icmp
        m[2] = 0; m[3] = 0
        let pseudo = srcIP + dstIP + be32(UInt32(m.count)) + [0, 0, 0, IPProto.icmpv6]
        let all = pseudo + m
        let c = all.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, all.count)) }
        m[2] = UInt8(c >> 8); m[3] = UInt8(c & 0xff)
        let hbh: [UInt8] = [IPProto.icmpv6, 0, 5, 2, 0, 0, 1, 0]
        let dst = MACAddress(raw: 0x3333_0000_0000 | UInt64(dstIP[12]) << 24 | UInt64(dstIP[13]) << 16 | UInt64(dstIP[14]) << 8 | UInt64(dstIP[15]))
        return ethernet(dst: dst, src: src, type: EtherType.ipv6, payload: ipv6(src: srcIP, dst: dstIP, next: 0, hopLimit: 1, payload: hbh + m))
    }

    public static func ip(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> UInt32 {
        UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    public static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    public static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }
}
