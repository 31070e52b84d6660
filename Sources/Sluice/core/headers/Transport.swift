/// An Ethernet frame carrying TCP or UDP over IPv4 or IPv6, its header offsets validated once:
/// Ethernet (+ at most one 802.1Q/802.1ad tag), the IP header (IPv4 with any IHL, IPv6 with its
/// extension header chain walked), the transport header (TCP data offset, UDP length). After
/// `parse` every offset below is inside the frame and inside the IP datagram, so GRO and GSO
/// read and write fields at them without further checks.
public struct TransportFrame {
    public let bytes: Bytes
    /// Offset of the IP header.
    public let l3: Int
    /// Offset of the TCP or UDP header.
    public let l4: Int
    /// Offset of the first payload byte (after the TCP header with options, or the 8-byte UDP header).
    public let payload: Int
    /// End of the IP datagram (l3 + total length); frame bytes past it are link-layer padding.
    public let end: Int
    public let isIPv4: Bool
    public let isTCP: Bool
    /// IPv4 header with options, or IPv6 with extension headers between it and the transport.
    public let hasIPOptions: Bool
    /// IPv4 MF set or fragment offset non-zero, or an IPv6 fragment header.
    public let isFragment: Bool

    /// The transport view of `b`: nil when the frame is not TCP or UDP over IP (nothing to say
    /// about it); throws when it claims to be and its headers do not fit (bad IHL, total length
    /// beyond the frame, TCP data offset, UDP length, an extension chain past the datagram).
    public static func parse(_ b: Bytes) throws(HeaderError) -> TransportFrame? {
        try b.check(EthernetHeader.length, "ethernet")
        var l3 = EthernetHeader.length
        var type = b.u16(12)
        if type == EtherType.vlan || type == EtherType.qinq {
            try b.check(l3 + VLANTag.length, "802.1Q")
            type = b.u16(l3 + 2)
            l3 += VLANTag.length
        }
        let ip = b.suffix(from: l3)
        var l4: Int, end: Int, proto: UInt8
        var options = false, fragment = false
        switch type {
        case EtherType.ipv4:
            let h = try IPv4Header(validating: ip)
            proto = h.proto
            guard proto == IPProto.tcp || proto == IPProto.udp else { return nil }
            end = l3 + h.totalLength
            guard end <= b.count else { throw .truncated(header: "ipv4 total length", need: end, have: b.count) }
            l4 = l3 + h.headerLength
            options = h.headerLength != IPv4Header.minLength
            fragment = h.isFragment
        case EtherType.ipv6:
            let h = try IPv6Header(validating: ip)
            end = l3 + IPv6Header.length + h.payloadLength
            guard end <= b.count else { throw .truncated(header: "ipv6 payload length", need: end, have: b.count) }
            l4 = l3 + IPv6Header.length
            proto = h.nextHeader
            // Extension headers (RFC 8200 §4): hop-by-hop, routing, destination options as
            // (next header, length in 8-octet units beyond the first 8); fragment is 8 octets.
            var hops = 0
            while proto == 0 || proto == 43 || proto == 60 || proto == 44 {
                hops += 1
                guard hops <= 8 else { throw .malformed(header: "ipv6 extension", reason: "chain longer than 8") }
                guard l4 + 8 <= end else { throw .truncated(header: "ipv6 extension", need: l4 + 8, have: end) }
                let next = b.u8(l4)
                let len = proto == 44 ? 8 : (Int(b.u8(l4 + 1)) + 1) * 8
                if proto == 44 { fragment = true }
                guard l4 + len <= end else { throw .truncated(header: "ipv6 extension", need: l4 + len, have: end) }
                l4 += len
                proto = next
                options = true
            }
            guard proto == IPProto.tcp || proto == IPProto.udp else { return nil }
        default:
            return nil
        }
        let seg = Bytes(b.base + l4, count: end - l4)
        let payload: Int
        if fragment && (type == EtherType.ipv6 || b.u16(l3 + 6) & 0x1FFF != 0) {
            // A non-first fragment has no transport header; a first one's may be cut short.
            payload = l4
        } else if proto == IPProto.tcp {
            payload = l4 + (try TCPHeader(validating: seg)).headerLength
        } else {
            let u = try UDPHeader(validating: seg)
            guard fragment || u.datagramLength == end - l4 else {
                throw .malformed(header: "udp", reason: "length \(u.datagramLength) for \(end - l4) bytes")
            }
            payload = l4 + UDPHeader.length
        }
        return TransportFrame(bytes: b, l3: l3, l4: l4, payload: payload, end: end, isIPv4: type == EtherType.ipv4,
                              isTCP: proto == IPProto.tcp, hasIPOptions: options, isFragment: fragment)
    }

    /// Payload bytes of this segment.
    public var payloadLength: Int { end - payload }
    /// Bytes after the IP datagram (Ethernet padding or trailers).
    public var trailerLength: Int { bytes.count - end }

    /// The IPv4 header (only when `isIPv4`).
    public var ipv4: IPv4Header { IPv4Header(unchecked: bytes.suffix(from: l3)) }
    /// The transport header's bytes.
    public var transport: Bytes { Bytes(bytes.base + l4, count: end - l4) }

    /// The L4 checksum over the pseudo-header and the segment, folded and inverted: 0 when the
    /// checksum in the packet is right (RFC 1071 verification).
    public func verifyL4Checksum() -> UInt16 {
        var s = pseudoHeaderSum(l4Length: end - l4)
        s = Checksum.sum(UnsafeRawPointer(bytes.base + l4), end - l4, initial: s)
        return Checksum.fold(s)
    }

    /// The unfolded sum of the pseudo-header (addresses, protocol, `l4Length`), as RFC 793/768
    /// and RFC 8200 §8.1 define it.
    public func pseudoHeaderSum(l4Length: Int) -> UInt64 {
        let proto = UInt16(isTCP ? IPProto.tcp : IPProto.udp)
        var s = isIPv4 ? Checksum.sum(UnsafeRawPointer(bytes.base + l3 + 12), 8)
                       : Checksum.sum(UnsafeRawPointer(bytes.base + l3 + 8), 32)
        s &+= UInt64(UInt16(truncatingIfNeeded: l4Length).bigEndian) &+ UInt64(proto.bigEndian)
        if l4Length > 0xFFFF { s &+= UInt64(UInt16(truncatingIfNeeded: l4Length >> 16).bigEndian) }
        return s
    }

    /// Leaves the packet CHECKSUM_PARTIAL: the pseudo-header sum (not inverted) in the L4
    /// checksum field, as a sender's stack does before offloading (tcp_v4_send_check).
    public func storePartialChecksum(l4Length: Int) {
        let off = isTCP ? TCPHeader.checksumOffset : UDPHeader.checksumOffset
        bytes.setU16(l4 + off, ~Checksum.fold(pseudoHeaderSum(l4Length: l4Length)))
    }
}
