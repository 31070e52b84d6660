/// Principles
/// ----------
/// Software segmentation of GSO super-frames (the kernel's skb_gso_segment for TCPv4/TCPv6 and
/// UDP L4), done at the last moment for a device, or a qdisc, that cannot take the super-frame.
/// Each segment gets a copy of the headers (hdrLen bytes: Ethernet [+ VLAN] + IP + L4) and its
/// share of the payload; IPv4 total length, identification and header checksum, IPv6 payload
/// length, TCP sequence numbers and flags (FIN/PSH only on the last, CWR only on the first) and
/// UDP length are fixed up; the L4 checksum is left CHECKSUM_PARTIAL (pseudo-header sum in place)
/// for the transmit path to finish or offload.
/// Cost: one copy of the payload; a 64 KiB frame becomes ~45 segments.
enum GSO {
    /// Segments `p` (consumed) into `emit`. Returns the number of segments, or -1 if the frame
    /// is not a valid GSO frame or the pool ran dry (then nothing was emitted and `p` is freed).
    static func segment(_ p: consuming Packet, pool: PacketPool, emit: (consuming Packet) -> Void) -> Int {
        let m = pool.meta(p).pointee
        let frame = pool.data(p)
        let len = Int(m.length)
        let hdrLen = Int(m.hdrLen)
        let mss = Int(m.gsoSize)
        let l4 = Int(m.csumStart)
        guard mss > 0, hdrLen > l4, hdrLen < len, l4 >= EthernetHeader.length + 20 else { pool.free(p); return -1 }
        let isTCP = !m.gsoType.contains(.udpL4)
        let b = Bytes(frame, count: len)
        // L3 offset: Ethernet (+ one VLAN tag).
        var l3 = EthernetHeader.length
        if b.u16(12) == EtherType.vlan || b.u16(12) == EtherType.qinq { l3 += 4 }
        let isV4 = b.u8(l3) >> 4 == 4
        // inet_gso_segment / ipv6_gso_segment dispatch on the IP protocol: a frame whose
        // protocol is not the one its gso_type names (a UDP frame marked TCPv4, IPv6 marked
        // TCPv4) is refused (-EINVAL), never cut up as something it is not.
        let proto = isV4 ? b.u8(l3 + 9) : b.u8(l3 + 6)
        let versionOK = (isV4 && !m.gsoType.contains(.tcpv6)) || (!isV4 && b.u8(l3) >> 4 == 6 && !m.gsoType.contains(.tcpv4))
        guard versionOK, proto == (isTCP ? IPProto.tcp : IPProto.udp) else { pool.free(p); return -1 }
        let payload = len - hdrLen
        let count = (payload + mss - 1) / mss
        guard pool.available >= count else { pool.free(p); return -1 }
        let seq0 = isTCP ? b.u32(l4 + 4) : 0
        let flags0 = isTCP ? b.u8(l4 + 13) : 0
        let id0 = isV4 ? b.u16(l3 + 4) : 0
        var off = 0
        var k = 0
        while off < payload {
            let chunk = min(mss, payload - off)
            guard let s = pool.alloc() else { break }   // cannot happen: checked above
            let d = pool.data(s)
            d.copyMemory(from: frame, byteCount: hdrLen)
            (d + hdrLen).copyMemory(from: frame + hdrLen + off, byteCount: chunk)
            let sm = pool.meta(s)
            sm.pointee = m
            pool.copySideInfo(from: Int(p.index), to: Int(s.index))
            sm.pointee.dataOffset = UInt32(PacketPool.headroom)
            sm.pointee.length = UInt32(hdrLen + chunk)
            sm.pointee.gsoType = GSOType(rawValue: 0)   // not []: an array literal costs a release per segment
            sm.pointee.gsoSize = 0
            let sb = Bytes(d, count: hdrLen + chunk)
            let l4len = hdrLen + chunk - l4
            if isV4 {
                sb.setU16(l3 + 2, UInt16(hdrLen + chunk - l3))
                // SKB_GSO_TCP_FIXEDID keeps the first ID (a fixed-ID flow GRO merged).
                sb.setU16(l3 + 4, m.gsoType.contains(.fixedID) ? id0 : id0 &+ UInt16(truncatingIfNeeded: k))
                IPv4Header(unchecked: sb.suffix(from: l3)).updateChecksum()
            } else {
                sb.setU16(l3 + 4, UInt16(hdrLen + chunk - l3 - IPv6Header.length))
            }
            let last = off + chunk == payload
            if isTCP {
                sb.setU32(l4 + 4, seq0 &+ UInt32(off))
                var f = flags0
                if !last { f &= ~(TCPHeader.fin | TCPHeader.psh) }
                if k > 0 { f &= ~TCPHeader.cwr }
                sb.setU8(l4 + 13, f)
            } else {
                sb.setU16(l4 + 4, UInt16(l4len))
            }
            // Pseudo-header sum for CHECKSUM_PARTIAL, as a sender leaves it.
            var ps: UInt64 = 0
            if isV4 {
                ps = Checksum.sum(UnsafeRawPointer(d + l3 + 12), 8)
            } else {
                ps = Checksum.sum(UnsafeRawPointer(d + l3 + 8), 32)
            }
            let proto: UInt16 = isTCP ? UInt16(IPProto.tcp) : UInt16(IPProto.udp)
            ps &+= UInt64((UInt16(l4len) &+ 0).bigEndian) &+ UInt64(proto.bigEndian)
            let csumOff = isTCP ? TCPHeader.checksumOffset : UDPHeader.checksumOffset
            sb.setU16(l4 + csumOff, ~Checksum.fold(ps))
            sm.pointee.csum = .partial
            sm.pointee.csumStart = UInt16(l4)
            sm.pointee.csumOffset = UInt16(csumOff)
            emit(s)
            off += chunk
            k += 1
        }
        pool.free(p)
        return k
    }

    /// The bytes the segments of a GSO frame put on the wire (qdisc_pkt_len_init):
    /// one copy of the headers per segment plus the payload.
    static func wireLength(_ m: PacketMeta) -> Int {
        let len = Int(m.length)
        guard !m.gsoType.isEmpty, m.gsoSize > 0, Int(m.hdrLen) < len else { return len }
        let segs = (len - Int(m.hdrLen) + Int(m.gsoSize) - 1) / Int(m.gsoSize)
        return len + (segs - 1) * Int(m.hdrLen)
    }
}
