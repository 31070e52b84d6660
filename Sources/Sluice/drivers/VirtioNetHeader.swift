/// Principles
/// ----------
/// `struct virtio_net_hdr` (10 bytes; 12 with num_buffers), little-endian as tun and AF_PACKET
/// use it on this architecture. It carries checksum offload (NEEDS_CSUM: complete the sum from
/// csum_start, store it at csum_start+csum_offset) and GSO (a super-frame to be cut in gso_size
/// segments). The header comes from the other side of a trust boundary: `decode` checks it
/// against the frame as virtio_net_hdr_to_skb does, and a header that lies is rejected and counted.
public enum VirtioNetHeader {
    public static let size = 10
    public static let mergeableSize = 12
    public static let needsCsum: UInt8 = 1
    public static let dataValid: UInt8 = 2
    public static let rscInfo: UInt8 = 4
    public static let gsoNone: UInt8 = 0
    public static let gsoTCPv4: UInt8 = 1
    public static let gsoUDP: UInt8 = 3
    public static let gsoTCPv6: UInt8 = 4
    public static let gsoUDPL4: UInt8 = 5
    public static let gsoECN: UInt8 = 0x80

    public enum Invalid: Error, Equatable, Sendable {
        case unknownFlags, unknownGSOType, checksumOutOfFrame, gsoWithoutChecksum
        case gsoSizeZero, gsoProtocolMismatch, checksumOffsetMismatch, headerLengthBeyondFrame, tooBig
    }

    /// Fills the packet's checksum and GSO metadata from the header at `hdr`, for the frame at
    /// `frame` of `length` bytes. Throws if the header is inconsistent with the frame.
    public static func decode(_ hdr: UnsafeRawPointer, frame: UnsafeRawPointer, length: Int,
                              into m: inout PacketMeta) throws(Invalid) {
        let flags = hdr.load(fromByteOffset: 0, as: UInt8.self)
        let gsoRaw = hdr.load(fromByteOffset: 1, as: UInt8.self)
        let hdrLen = Int(UInt16(littleEndian: hdr.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
        let gsoSize = Int(UInt16(littleEndian: hdr.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
        let csumStart = Int(UInt16(littleEndian: hdr.loadUnaligned(fromByteOffset: 6, as: UInt16.self)))
        let csumOffset = Int(UInt16(littleEndian: hdr.loadUnaligned(fromByteOffset: 8, as: UInt16.self)))
        guard flags & ~(needsCsum | dataValid | rscInfo) == 0 else { throw .unknownFlags }
        m.csum = .none
        m.gsoType = GSOType(rawValue: 0)   // not the [] literal: it builds and releases an empty array per packet
        m.gsoSize = 0
        m.hdrLen = 0
        if flags & needsCsum != 0 {
            guard csumStart >= EthernetHeader.length, csumStart + csumOffset + 2 <= length else { throw .checksumOutOfFrame }
            m.csum = .partial
            m.csumStart = UInt16(csumStart)
            m.csumOffset = UInt16(csumOffset)
        } else if flags & dataValid != 0 {
            m.csum = .unnecessary
        }
        let base = gsoRaw & ~gsoECN
        if base == gsoNone {
            guard gsoRaw & gsoECN == 0 else { throw .unknownGSOType }
            return
        }
        guard base == gsoTCPv4 || base == gsoTCPv6 || base == gsoUDPL4 else { throw .unknownGSOType }
        guard flags & needsCsum != 0 else { throw .gsoWithoutChecksum }
        guard gsoSize > 0 else { throw .gsoSizeZero }
        guard hdrLen <= length else { throw .headerLengthBeyondFrame }
        guard length <= 65535 + EthernetHeader.length + EthernetHeader.vlanTagLength else { throw .tooBig }
        // The L3/L4 headers must be what the GSO type says, and the checksum must start at L4.
        let l4 = try l4Offset(frame: frame, length: length, gso: base)
        guard csumStart == l4.offset else { throw .gsoProtocolMismatch }
        guard csumOffset == (l4.isTCP ? TCPHeader.checksumOffset : UDPHeader.checksumOffset) else { throw .checksumOffsetMismatch }
        let payloadStart = l4.offset + l4.headerLength
        guard payloadStart <= length else { throw .gsoProtocolMismatch }
        // Too small to be GSO: a plain packet (as the kernel does).
        if length - payloadStart <= gsoSize { return }
        switch base {
        case gsoTCPv4: m.gsoType = .tcpv4
        case gsoTCPv6: m.gsoType = .tcpv6
        default: m.gsoType = .udpL4
        }
        if gsoRaw & gsoECN != 0 { m.gsoType.insert(.tcpECN) }
        m.gsoSize = UInt16(gsoSize)
        m.hdrLen = UInt16(payloadStart)
    }

    /// Where the L4 header of a GSO frame starts, checked against the GSO type.
    static func l4Offset(frame: UnsafeRawPointer, length: Int, gso: UInt8) throws(Invalid) -> (offset: Int, headerLength: Int, isTCP: Bool) {
        let b = Bytes(UnsafeMutableRawPointer(mutating: frame), count: length)
        guard length >= EthernetHeader.length else { throw .gsoProtocolMismatch }
        var off = EthernetHeader.length
        var type = b.u16(12)
        if type == EtherType.vlan || type == EtherType.qinq {
            guard length >= off + 4 else { throw .gsoProtocolMismatch }
            type = b.u16(off + 2)
            off += 4
        }
        let l3 = b.suffix(from: off)
        var proto: UInt8
        if type == EtherType.ipv4 && gso != gsoTCPv6 {
            guard let ip = try? IPv4Header(validating: l3) else { throw .gsoProtocolMismatch }
            proto = ip.proto
            off += ip.headerLength
        } else if type == EtherType.ipv6 && gso != gsoTCPv4 {
            guard let ip = try? IPv6Header(validating: l3) else { throw .gsoProtocolMismatch }
            proto = ip.nextHeader
            off += IPv6Header.length
        } else {
            throw .gsoProtocolMismatch
        }
        let l4 = b.suffix(from: off)
        if gso == gsoUDPL4 {
            guard proto == IPProto.udp, (try? UDPHeader(validating: l4)) != nil else { throw .gsoProtocolMismatch }
            return (off, UDPHeader.length, false)
        }
        guard proto == IPProto.tcp, let t = try? TCPHeader(validating: l4) else { throw .gsoProtocolMismatch }
        return (off, t.headerLength, true)
    }

    /// Writes the header for a packet about to be handed to a virtio-speaking peer.
    @inline(__always)
    public static func encode(_ m: PacketMeta, into hdr: UnsafeMutableRawPointer, size: Int) {
        var flags: UInt8 = 0
        var gso = gsoNone
        if m.csum == .partial { flags = needsCsum } else if m.csum == .unnecessary { flags = dataValid }
        if m.gsoType.contains(.tcpv4) { gso = gsoTCPv4 } else if m.gsoType.contains(.tcpv6) { gso = gsoTCPv6 } else if m.gsoType.contains(.udpL4) { gso = gsoUDPL4 }
        if m.gsoType.contains(.tcpECN) { gso |= gsoECN }
        hdr.storeBytes(of: flags, toByteOffset: 0, as: UInt8.self)
        hdr.storeBytes(of: gso, toByteOffset: 1, as: UInt8.self)
        hdr.storeBytes(of: (gso == gsoNone ? 0 : m.hdrLen).littleEndian, toByteOffset: 2, as: UInt16.self)
        hdr.storeBytes(of: (gso == gsoNone ? 0 : m.gsoSize).littleEndian, toByteOffset: 4, as: UInt16.self)
        hdr.storeBytes(of: (m.csum == .partial ? m.csumStart : 0).littleEndian, toByteOffset: 6, as: UInt16.self)
        hdr.storeBytes(of: (m.csum == .partial ? m.csumOffset : 0).littleEndian, toByteOffset: 8, as: UInt16.self)
        if size == mergeableSize { hdr.storeBytes(of: UInt16(0), toByteOffset: 10, as: UInt16.self) }
    }
}

extension DeviceFeatures {
    /// What a virtio peer (tap, AF_PACKET with PACKET_VNET_HDR) can carry.
    static let virtio: DeviceFeatures = [.sg, .hwCsum, .tso, .tso6, .tsoECN, .rxCsum]
}
