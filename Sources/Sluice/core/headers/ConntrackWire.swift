/// What connection tracking reads from a frame and writes back for NAT (nf_conntrack's
/// get_tuple per protocol, nf_nat's manip_pkt), with its bounds checks here, once.

/// A connection tuple (struct nf_conntrack_tuple with its zone): addresses (IPv4 in `srcLo`
/// and `dstLo`), ports — for ICMP the echo id in `sport` and type << 8 | code in `dport` —,
/// the family (4 or 6) and the protocol.
public struct CTTuple: Hashable, Sendable {
    public var srcHi: UInt64 = 0, srcLo: UInt64 = 0, dstHi: UInt64 = 0, dstLo: UInt64 = 0
    public var sport: UInt16 = 0, dport: UInt16 = 0
    public var family: UInt8 = 0
    public var proto: UInt8 = 0
    public var zone: UInt16 = 0
    public init() {}

    /// The ICMP types with an answer, and the answer (icmp_pkt_to_tuple's invmap; ICMPv6's
    /// echo pair). Others cannot start a connection.
    @inline(__always) static func icmpInverse(_ type: UInt8, v6: Bool) -> UInt8? {
        if v6 {
            switch type { case 128: return 129; case 129: return 128; case 139: return 140; case 140: return 139; default: return nil }
        }
        switch type {
        case 8: return 0; case 0: return 8; case 13: return 14; case 14: return 13
        case 15: return 16; case 16: return 15; case 17: return 18; case 18: return 17
        default: return nil
        }
    }

    /// nf_ct_invert_tuple: the tuple the other direction's packets carry.
    public func inverted() -> CTTuple? {
        var t = self
        t.srcHi = dstHi; t.srcLo = dstLo; t.dstHi = srcHi; t.dstLo = srcLo
        if proto == IPProto.icmp || proto == IPProto.icmpv6 {
            guard let inv = Self.icmpInverse(UInt8(dport >> 8), v6: proto == IPProto.icmpv6) else { return nil }
            t.dport = UInt16(inv) << 8 | (dport & 0xFF)
        } else {
            t.sport = dport; t.dport = sport
        }
        return t
    }

}

/// A frame as conntrack sees it: its tuple, where the headers are, the TCP flags, and — for an
/// ICMP error — the tuple of the packet it quotes (already inverted: the connection's own
/// direction as the quoted packet went the other way).
public struct CTFrame {
    public var tuple = CTTuple()
    public var l3 = 0
    public var l4 = 0
    public var tcpFlags: UInt8 = 0
    /// An ICMP or ICMPv6 error quoting a packet of a connection (its tuple, as sent).
    public var errorQuotes: CTTuple? = nil
    /// A fragment (IPv4 MF or offset, an IPv6 fragment header), its identification, and
    /// whether it is the first (offset 0: it carries the transport header).
    public var fragment = false
    public var fragID: UInt32 = 0
    public var fragFirst = false
    public init() {}
}

public enum ConntrackWire {
    @inline(__always) static func load16(_ d: UnsafeRawPointer, _ o: Int) -> UInt16 { UInt16(bigEndian: d.loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
    @inline(__always) static func load32(_ d: UnsafeRawPointer, _ o: Int) -> UInt32 { UInt32(bigEndian: d.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
    @inline(__always) static func load64(_ d: UnsafeRawPointer, _ o: Int) -> UInt64 { UInt64(bigEndian: d.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }

    /// The frame's tuple (nf_ct_get_tuple), or nil when it is not IPv4/IPv6 or its headers are
    /// cut short or lie (nf_conntrack_in then treats it as invalid). `l3` is the network header's
    /// offset; `len` the frame's length.
    public static func parse(_ d: UnsafeRawPointer, _ len: Int, l3: Int, etherType: UInt16, zone: UInt16) -> CTFrame? {
        var f = CTFrame()
        f.l3 = l3
        f.tuple.zone = zone
        var proto: UInt8
        var l4: Int
        var end = len
        if etherType == EtherType.ipv4 {
            guard len >= l3 + 20 else { return nil }
            let vihl = d.load(fromByteOffset: l3, as: UInt8.self)
            let ihl = Int(vihl & 0x0F) * 4
            let total = Int(load16(d, l3 + 2))
            guard vihl >> 4 == 4, ihl >= 20, total >= ihl, l3 + total <= len else { return nil }
            end = l3 + total
            f.tuple.family = 4
            f.tuple.srcLo = UInt64(load32(d, l3 + 12)); f.tuple.dstLo = UInt64(load32(d, l3 + 16))
            proto = d.load(fromByteOffset: l3 + 9, as: UInt8.self)
            let frag = load16(d, l3 + 6)
            f.fragment = frag & 0x3FFF != 0
            f.fragFirst = frag & 0x1FFF == 0
            f.fragID = UInt32(load16(d, l3 + 4))
            l4 = l3 + ihl
        } else if etherType == EtherType.ipv6 {
            guard len >= l3 + 40, d.load(fromByteOffset: l3, as: UInt8.self) >> 4 == 6 else { return nil }
            end = l3 + 40 + Int(load16(d, l3 + 4))
            guard end <= len else { return nil }
            f.tuple.family = 6
            f.tuple.srcHi = load64(d, l3 + 8); f.tuple.srcLo = load64(d, l3 + 16)
            f.tuple.dstHi = load64(d, l3 + 24); f.tuple.dstLo = load64(d, l3 + 32)
            proto = d.load(fromByteOffset: l3 + 6, as: UInt8.self)
            l4 = l3 + 40
            // ipv6_skip_exthdr: hop-by-hop, routing, destination options, fragment; bounded.
            var hops = 0
            while proto == 0 || proto == 43 || proto == 60 || proto == 44 {
                hops += 1
                guard hops <= 8, l4 + 8 <= end else { return nil }
                if proto == 44 {
                    // The fragment header: offset, M, identification (RFC 8200 4.5).
                    let off = load16(d, l4 + 2)
                    f.fragment = off & 0xFFF9 != 0
                    f.fragFirst = off & 0xFFF8 == 0
                    f.fragID = load32(d, l4 + 4)
                    proto = d.load(fromByteOffset: l4, as: UInt8.self)
                    l4 += 8
                    if !f.fragFirst { break }
                    continue
                }
                proto = d.load(fromByteOffset: l4, as: UInt8.self)
                l4 += (Int(d.load(fromByteOffset: l4 + 1, as: UInt8.self)) + 1) * 8
            }
        } else {
            return nil
        }
        f.tuple.proto = proto
        f.l4 = l4
        if f.fragment && !f.fragFirst { return f }
        switch proto {
        case IPProto.tcp:
            guard l4 + 20 <= end else { return nil }
            let doff = Int(d.load(fromByteOffset: l4 + 12, as: UInt8.self) >> 4) * 4
            guard doff >= 20, l4 + doff <= end else { return nil }
            f.tuple.sport = load16(d, l4); f.tuple.dport = load16(d, l4 + 2)
            f.tcpFlags = d.load(fromByteOffset: l4 + 13, as: UInt8.self)
        case IPProto.udp, 136, 132, 33:       // UDP, UDP-Lite, SCTP, DCCP: ports first
            guard l4 + 8 <= end else { return nil }
            f.tuple.sport = load16(d, l4); f.tuple.dport = load16(d, l4 + 2)
        case IPProto.icmp, IPProto.icmpv6:
            guard l4 + 8 <= end else { return nil }
            let type = d.load(fromByteOffset: l4, as: UInt8.self), code = d.load(fromByteOffset: l4 + 1, as: UInt8.self)
            let v6 = proto == IPProto.icmpv6
            let isError = v6 ? type < 128 : (type == 3 || type == 4 || type == 5 || type == 11 || type == 12)
            if isError {
                // icmp_error_message: the quoted header's tuple, ports included.
                let inner = l4 + 8
                if let q = parse(d, end, l3: inner, etherType: v6 ? EtherType.ipv6 : EtherType.ipv4, zone: zone, quoted: true) {
                    f.errorQuotes = q
                }
                f.tuple.sport = 0; f.tuple.dport = UInt16(type) << 8 | UInt16(code)
            } else {
                f.tuple.sport = load16(d, l4 + 4)
                f.tuple.dport = UInt16(type) << 8 | UInt16(code)
            }
        default:
            break
        }
        return f
    }

    /// The tuple of the header an ICMP error quotes: its addresses and, as far as they were
    /// quoted, its ports (the first 8 bytes of the transport header).
    static func parse(_ d: UnsafeRawPointer, _ end: Int, l3: Int, etherType: UInt16, zone: UInt16, quoted: Bool) -> CTTuple? {
        var t = CTTuple()
        t.zone = zone
        var l4: Int
        if etherType == EtherType.ipv4 {
            guard end >= l3 + 20 else { return nil }
            let ihl = Int(d.load(fromByteOffset: l3, as: UInt8.self) & 0x0F) * 4
            guard ihl >= 20 else { return nil }
            t.family = 4
            t.srcLo = UInt64(load32(d, l3 + 12)); t.dstLo = UInt64(load32(d, l3 + 16))
            t.proto = d.load(fromByteOffset: l3 + 9, as: UInt8.self)
            l4 = l3 + ihl
        } else {
            guard end >= l3 + 40 else { return nil }
            t.family = 6
            t.srcHi = load64(d, l3 + 8); t.srcLo = load64(d, l3 + 16)
            t.dstHi = load64(d, l3 + 24); t.dstLo = load64(d, l3 + 32)
            t.proto = d.load(fromByteOffset: l3 + 6, as: UInt8.self)
            l4 = l3 + 40
        }
        switch t.proto {
        case IPProto.tcp, IPProto.udp, 136, 132, 33:
            guard l4 + 4 <= end else { return nil }
            t.sport = load16(d, l4); t.dport = load16(d, l4 + 2)
        case IPProto.icmp, IPProto.icmpv6:
            guard l4 + 8 <= end else { return nil }
            t.sport = load16(d, l4 + 4)
            t.dport = UInt16(d.load(fromByteOffset: l4, as: UInt8.self)) << 8 | UInt16(d.load(fromByteOffset: l4 + 1, as: UInt8.self))
        default: break
        }
        return t
    }

    /// nf_nat_manip_pkt: rewrites the frame's addresses and ports to `to` (the tuple the packet
    /// must carry after NAT), with the IPv4 header checksum and the TCP/UDP checksums
    /// (pseudo-header and ports) following incrementally; ICMP echo ids too. `partial`: the
    /// transport checksum is CHECKSUM_PARTIAL (holds the pseudo-header sum only). False when
    /// a header it must write is cut short.
    public static func rewrite(_ d: UnsafeMutableRawPointer, _ len: Int, _ f: CTFrame, to: CTTuple, partial: Bool) -> Bool {
        let from = f.tuple
        if from.srcHi == to.srcHi && from.srcLo == to.srcLo && from.dstHi == to.dstHi && from.dstLo == to.dstLo
            && from.sport == to.sport && from.dport == to.dport { return true }
        let l3 = f.l3, l4 = f.l4
        // The transport checksum's offset, or nil (none, or not reachable).
        var csumAt: Int? = nil
        var udpZero = false
        switch from.proto {
        case IPProto.tcp: if l4 + 18 <= len { csumAt = l4 + 16 }
        case IPProto.udp:
            if l4 + 8 <= len { csumAt = l4 + 6; udpZero = load16(d, l4 + 6) == 0 && !partial && from.family == 4 }
        case IPProto.icmp, IPProto.icmpv6: if l4 + 4 <= len { csumAt = l4 + 2 }
        default: break
        }
        // One's-complement difference of everything that changes, per checksum.
        var ipDelta: UInt64 = 0          // the IPv4 header checksum: addresses
        var pseudoDelta: UInt64 = 0      // the pseudo-header: addresses
        var portDelta: UInt64 = 0        // the transport header itself: ports, ICMP id
        func add(_ acc: inout UInt64, _ old: UInt16, _ new: UInt16) { acc += UInt64(~old) + UInt64(new) }
        if from.family == 4 {
            guard l3 + 20 <= len else { return false }
            // No array literals here: this runs per packet.
            func addr4(_ off: Int, _ o: UInt32, _ n: UInt32) {
                guard o != n else { return }
                add(&ipDelta, UInt16(o >> 16), UInt16(n >> 16)); add(&ipDelta, UInt16(truncatingIfNeeded: o), UInt16(truncatingIfNeeded: n))
                d.storeBytes(of: n.bigEndian, toByteOffset: l3 + off, as: UInt32.self)
            }
            addr4(12, UInt32(truncatingIfNeeded: from.srcLo), UInt32(truncatingIfNeeded: to.srcLo))
            addr4(16, UInt32(truncatingIfNeeded: from.dstLo), UInt32(truncatingIfNeeded: to.dstLo))
            pseudoDelta = ipDelta
            if ipDelta != 0 {
                let c = load16(d, l3 + 10)
                d.storeBytes(of: (~HeaderEdit.fold32(UInt64(~c) + ipDelta)).bigEndian, toByteOffset: l3 + 10, as: UInt16.self)
            }
        } else {
            guard l3 + 40 <= len else { return false }
            func addr6(_ off: Int, _ o: UInt64, _ n: UInt64) {
                guard o != n else { return }
                for k in 0..<4 { add(&pseudoDelta, UInt16(truncatingIfNeeded: o >> (48 - 16 * k)), UInt16(truncatingIfNeeded: n >> (48 - 16 * k))) }
                d.storeBytes(of: n.bigEndian, toByteOffset: l3 + off, as: UInt64.self)
            }
            addr6(8, from.srcHi, to.srcHi); addr6(16, from.srcLo, to.srcLo)
            addr6(24, from.dstHi, to.dstHi); addr6(32, from.dstLo, to.dstLo)
        }
        switch from.proto {
        case IPProto.tcp, IPProto.udp:
            guard l4 + 4 <= len else { return false }
            if from.sport != to.sport { add(&portDelta, from.sport, to.sport); d.storeBytes(of: to.sport.bigEndian, toByteOffset: l4, as: UInt16.self) }
            if from.dport != to.dport { add(&portDelta, from.dport, to.dport); d.storeBytes(of: to.dport.bigEndian, toByteOffset: l4 + 2, as: UInt16.self) }
        case IPProto.icmp, IPProto.icmpv6:
            guard l4 + 8 <= len else { return false }
            if from.sport != to.sport && f.errorQuotes == nil {
                add(&portDelta, from.sport, to.sport); d.storeBytes(of: to.sport.bigEndian, toByteOffset: l4 + 4, as: UInt16.self)
            }
            if from.proto == IPProto.icmp { pseudoDelta = 0 }     // ICMPv4 has no pseudo-header
        default: break
        }
        if let c = csumAt, !udpZero {
            let old = load16(d, c)
            var v: UInt16
            if partial {
                // The field holds the uninverted pseudo-header sum: only addresses move it.
                v = HeaderEdit.fold32(UInt64(old) + pseudoDelta)
            } else {
                v = ~HeaderEdit.fold32(UInt64(~old) + pseudoDelta + portDelta)
                if from.proto == IPProto.udp && v == 0 { v = 0xFFFF }
            }
            d.storeBytes(of: v.bigEndian, toByteOffset: c, as: UInt16.self)
        }
        return true
    }
}
