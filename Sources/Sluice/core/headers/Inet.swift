/// Writers and in-place edits for the IPv4 stack's own packets (ARP, ICMP, IPv4 headers) and
/// for forwarding (TTL). With the header views beside them, the only code that touches
/// protocol bytes; callers pass buffers they own, sized for what is written.
public enum InetWire {
    public static let ethernetLength = 14
    public static let arpLength = 28
    public static let ipv4Length = 20
    public static let icmpLength = 8

    @inline(__always)
    public static func writeEthernet(_ p: UnsafeMutableRawPointer, dst: MACAddress, src: MACAddress, type: UInt16) {
        dst.store(to: p)
        src.store(to: p + 6)
        p.storeBytes(of: type.bigEndian, toByteOffset: 12, as: UInt16.self)
    }

    /// Rewrites the addresses of an Ethernet header in place (forwarding).
    @inline(__always)
    public static func setEthernetAddresses(_ p: UnsafeMutableRawPointer, dst: MACAddress, src: MACAddress) {
        dst.store(to: p)
        src.store(to: p + 6)
    }

    /// An ARP packet for Ethernet/IPv4 (RFC 826), 28 bytes.
    public static func writeARP(_ p: UnsafeMutableRawPointer, op: UInt16, sha: MACAddress, spa: UInt32, tha: MACAddress, tpa: UInt32) {
        let b = Bytes(p, count: arpLength)
        b.setU16(0, 1); b.setU16(2, EtherType.ipv4); b.setU8(4, 6); b.setU8(5, 4); b.setU16(6, op)
        sha.store(to: p + 8); b.setU32(14, spa)
        tha.store(to: p + 18); b.setU32(24, tpa)
    }

    /// A 20-byte IPv4 header with its checksum.
    public static func writeIPv4(_ p: UnsafeMutableRawPointer, tos: UInt8, totalLength: Int, id: UInt16, df: Bool,
                                 ttl: UInt8, proto: UInt8, src: UInt32, dst: UInt32) {
        let b = Bytes(p, count: ipv4Length)
        b.setU8(0, 0x45); b.setU8(1, tos); b.setU16(2, UInt16(totalLength)); b.setU16(4, id)
        b.setU16(6, df ? 0x4000 : 0); b.setU8(8, ttl); b.setU8(9, proto); b.setU16(10, 0)
        b.setU32(12, src); b.setU32(16, dst)
        IPv4Header(unchecked: b).updateChecksum()
    }

    /// ip_decrease_ttl: TTL − 1 with the checksum updated incrementally (RFC 1624).
    @inline(__always)
    public static func decrementTTL(_ ip: UnsafeMutableRawPointer) {
        let ttl = ip.load(fromByteOffset: 8, as: UInt8.self)
        ip.storeBytes(of: ttl &- 1, toByteOffset: 8, as: UInt8.self)
        var check = UInt32(UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 10, as: UInt16.self)))
        check &+= 0x0100
        check = (check & 0xFFFF) &+ (check >> 16)
        ip.storeBytes(of: UInt16(truncatingIfNeeded: check).bigEndian, toByteOffset: 10, as: UInt16.self)
    }

    /// Sets a fragment's total length, offset (bytes, a multiple of 8), MF and DF, and
    /// recomputes the header checksum.
    public static func setFragment(_ ip: UnsafeMutableRawPointer, totalLength: Int, offset: Int, moreFragments: Bool, dontFragment: Bool) {
        let b = Bytes(ip, count: ipv4Length)
        b.setU16(2, UInt16(totalLength))
        b.setU16(6, UInt16(offset / 8) | (moreFragments ? 0x2000 : 0) | (dontFragment ? 0x4000 : 0))
        let ihl = Int(b.u8(0) & 0x0F) * 4
        IPv4Header(unchecked: Bytes(ip, count: ihl)).updateChecksum()
    }

    /// ip_options_fragment: options without the "copied" bit become NOPs.
    public static func nopUncopiedOptions(_ ip: UnsafeMutableRawPointer, ihl: Int) {
        var i = ipv4Length
        while i < ihl {
            let t = ip.load(fromByteOffset: i, as: UInt8.self)
            if t == 0 { break }
            if t == 1 { i += 1; continue }
            guard i + 1 < ihl else { break }
            let l = Int(ip.load(fromByteOffset: i + 1, as: UInt8.self))
            guard l >= 2, i + l <= ihl else { break }
            if t & 0x80 == 0 { (ip + i).initializeMemory(as: UInt8.self, repeating: 1, count: l) }
            i += l
        }
    }

    /// A 20-byte TCP reset (RST, or RST|ACK) with its checksum over the IPv4 pseudo-header.
    public static func writeTCPReset(_ p: UnsafeMutableRawPointer, src: UInt32, dst: UInt32, sport: UInt16, dport: UInt16,
                                     seq: UInt32, ack: UInt32?) {
        let b = Bytes(p, count: 20)
        b.setU16(0, sport); b.setU16(2, dport); b.setU32(4, seq); b.setU32(8, ack ?? 0)
        b.setU8(12, 0x50); b.setU8(13, TCPHeader.rst | (ack != nil ? TCPHeader.ack : 0))
        b.setU16(14, 0); b.setU16(16, 0); b.setU16(18, 0)
        // Pseudo-header: addresses, protocol, length — summed as big-endian words like the rest.
        var pseudo = [UInt8](repeating: 0, count: 12)
        pseudo.withUnsafeMutableBytes { q in
            let pb = Bytes(q.baseAddress!, count: 12)
            pb.setU32(0, src); pb.setU32(4, dst); pb.setU8(9, IPProto.tcp); pb.setU16(10, 20)
        }
        let ps = pseudo.withUnsafeBytes { Checksum.sum($0.baseAddress!, 12) }
        let c = Checksum.fold(Checksum.sum(UnsafeRawPointer(p), 20, initial: ps))
        b.setU16(16, c)
    }

    /// Writes the ICMP checksum over `length` bytes at `p` (RFC 792).
    public static func setICMPChecksum(_ p: UnsafeMutableRawPointer, length: Int) {
        p.storeBytes(of: 0, toByteOffset: 2, as: UInt16.self)
        let c = Checksum.fold(Checksum.sum(UnsafeRawPointer(p), length))
        p.storeBytes(of: c.bigEndian, toByteOffset: 2, as: UInt16.self)
    }

    /// An ICMP header: type, code, and the 4 rest-of-header bytes (checksum written later).
    public static func writeICMP(_ p: UnsafeMutableRawPointer, type: UInt8, code: UInt8, rest: UInt32) {
        let b = Bytes(p, count: icmpLength)
        b.setU8(0, type); b.setU8(1, code); b.setU16(2, 0); b.setU32(4, rest)
    }

    /// A transport header's ports (source, destination) at `p`.
    public static func ports(_ p: UnsafeRawPointer) -> (src: UInt16, dst: UInt16) {
        (UInt16(bigEndian: p.loadUnaligned(as: UInt16.self)), UInt16(bigEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
    }
    /// A TCP header's acknowledgement number.
    public static func tcpAckNumber(_ tcp: UnsafeRawPointer) -> UInt32 { UInt32(bigEndian: tcp.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }

    /// Where the TCP or UDP checksum of an untagged IPv4 or IPv6 (no extension headers) frame
    /// is (skb_checksum_setup): the transport header's start, the checksum's offset in it, and
    /// for TCP the end of its header; nil for other frames.
    public static func transportChecksum(_ f: UnsafeRawPointer, length len: Int) -> (start: Int, offset: Int, headerEnd: Int?)? {
        guard len >= ethernetLength + ipv4Length else { return nil }
        let type = UInt16(bigEndian: f.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        var l4 = 0, proto: UInt8 = 0
        if type == EtherType.ipv4 {
            l4 = ethernetLength + Int(f.load(fromByteOffset: ethernetLength, as: UInt8.self) & 0x0F) * 4
            proto = f.load(fromByteOffset: ethernetLength + 9, as: UInt8.self)
        } else if type == EtherType.ipv6, len >= ethernetLength + 40 {
            l4 = ethernetLength + 40
            proto = f.load(fromByteOffset: ethernetLength + 6, as: UInt8.self)
        } else { return nil }
        let off: Int
        switch proto {
        case IPProto.tcp: off = 16
        case IPProto.udp: off = 6
        default: return nil
        }
        guard l4 + off + 2 <= len else { return nil }
        let end = proto == IPProto.tcp && l4 + 13 <= len ? l4 + Int(f.load(fromByteOffset: l4 + 12, as: UInt8.self) >> 4) * 4 : nil
        return (l4, off, end)
    }

    public enum IPv4Check { case ok(ihl: Int, total: Int), headerError, truncated }

    /// The IPv4 header of a frame, validated as ip_rcv_core does: version 4, IHL ≥ 5 and within
    /// the frame, total length ≥ IHL (header errors), total length within the frame (truncated).
    public static func checkIPv4(_ frame: UnsafeMutableRawPointer, frameLength: Int) -> IPv4Check {
        let avail = frameLength - ethernetLength
        guard avail >= ipv4Length else { return .truncated }
        let ip = frame + ethernetLength
        let v = ip.load(as: UInt8.self)
        let ihl = Int(v & 0x0F) * 4
        guard v >> 4 == 4, ihl >= ipv4Length else { return .headerError }
        guard ihl <= avail else { return .truncated }
        let total = Int(UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
        guard total >= ihl else { return .headerError }
        guard total <= avail else { return .truncated }
        return .ok(ihl: ihl, total: total)
    }
}
