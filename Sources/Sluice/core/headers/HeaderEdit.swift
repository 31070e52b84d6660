#if canImport(Glibc)
import Glibc
#endif

/// Header rewrites for tc actions that edit packets in place — act_csum, act_nat, act_skbmod —
/// each with its bounds checks here, once. Offsets are from the start of the Ethernet frame;
/// `len` is the frame's length. Each returns false where the kernel's action drops the packet
/// (a header it must reach is not there).
public enum HeaderEdit {
    // MARK: one's-complement helpers (RFC 1071, RFC 1624)

    @inline(__always) static func load16(_ d: UnsafeMutableRawPointer, _ o: Int) -> UInt16 { UInt16(bigEndian: d.loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
    @inline(__always) static func store16(_ d: UnsafeMutableRawPointer, _ o: Int, _ v: UInt16) { d.storeBytes(of: v.bigEndian, toByteOffset: o, as: UInt16.self) }
    @inline(__always) static func load32(_ d: UnsafeMutableRawPointer, _ o: Int) -> UInt32 { UInt32(bigEndian: d.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
    @inline(__always) static func store32(_ d: UnsafeMutableRawPointer, _ o: Int, _ v: UInt32) { d.storeBytes(of: v.bigEndian, toByteOffset: o, as: UInt32.self) }

    @inline(__always) static func fold32(_ s: UInt64) -> UInt16 {
        var x = s
        while x >> 16 != 0 { x = (x & 0xFFFF) + (x >> 16) }
        return UInt16(x)
    }

    /// csum_replace4: the checksum `check` (host order) after a 32-bit field changed from
    /// `from` to `to` (RFC 1624: HC' = ~(~HC + ~m + m')).
    @inline(__always) static func replace4(_ check: UInt16, _ from: UInt32, _ to: UInt32) -> UInt16 {
        let s = UInt64(~check) + UInt64(~UInt16(from >> 16)) + UInt64(~UInt16(truncatingIfNeeded: from)) + UInt64(to >> 16) + UInt64(UInt16(truncatingIfNeeded: to))
        return ~fold32(s)
    }

    /// csum_replace2: the same for a 16-bit field.
    @inline(__always) static func replace2(_ check: UInt16, _ from: UInt16, _ to: UInt16) -> UInt16 {
        ~fold32(UInt64(~check) + UInt64(~from) + UInt64(to))
    }

    /// The same change on a CHECKSUM_PARTIAL field, which holds the (uninverted) pseudo-header
    /// sum: ~csum_fold(unfold(sum) − from + to).
    @inline(__always) static func replace4Partial(_ sum: UInt16, _ from: UInt32, _ to: UInt32) -> UInt16 {
        let s = UInt64(sum) + UInt64(~UInt16(from >> 16)) + UInt64(~UInt16(truncatingIfNeeded: from)) + UInt64(to >> 16) + UInt64(UInt16(truncatingIfNeeded: to))
        return fold32(s)
    }

    /// The network header: its EtherType and offset, past VLAN tags carried in the frame.
    static func network(_ d: UnsafeMutableRawPointer, _ len: Int) -> (proto: UInt16, off: Int)? {
        guard len >= EthernetHeader.length else { return nil }
        var off = 12
        var proto = load16(d, off)
        while proto == EtherType.vlan || proto == EtherType.qinq {
            guard len >= off + 6 else { return nil }
            off += 4
            proto = load16(d, off)
        }
        return (proto, off + 2)
    }

    /// The big-endian field of `size` bytes (1, 2 or 4) at `at`, or nil when it is not all
    /// inside the frame (tcf_valid_offset).
    @inline(__always) public static func loadBE(_ d: UnsafeRawPointer, _ len: Int, at: Int, size: Int) -> UInt32? {
        guard at >= 0, size > 0, at + size <= len else { return nil }
        switch size {
        case 1: return UInt32(d.load(fromByteOffset: at, as: UInt8.self))
        case 2: return UInt32(UInt16(bigEndian: d.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
        case 4: return UInt32(bigEndian: d.loadUnaligned(fromByteOffset: at, as: UInt32.self))
        default: return nil
        }
    }

    /// Whether the `count` bytes at `at` equal `pattern` (false when they are not all inside).
    @inline(__always) public static func bytesEqual(_ d: UnsafeRawPointer, _ len: Int, at: Int, _ pattern: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        guard at >= 0, count >= 0, at + count <= len else { return false }
        return memcmp(d + at, pattern, count) == 0
    }

    /// The IPv4 TOS or IPv6 traffic class byte (the DS field), or nil for other packets or a
    /// header cut short.
    public static func dsfield(_ d: UnsafeMutableRawPointer, _ len: Int) -> UInt8? {
        guard let (proto, off) = network(d, len) else { return nil }
        switch proto {
        case EtherType.ipv4 where len >= off + 20: return d.load(fromByteOffset: off + 1, as: UInt8.self)
        case EtherType.ipv6 where len >= off + 40: return UInt8(truncatingIfNeeded: load16(d, off) >> 4)
        default: return nil
        }
    }

    /// Sets the DSCP (the DS field's upper six bits), keeping ECN, as ipv4_change_dsfield and
    /// ipv6_change_dsfield do (the IPv4 header checksum updated as RFC 1624). False when the
    /// frame has no IP header.
    @discardableResult
    public static func setDSCP(_ d: UnsafeMutableRawPointer, _ len: Int, _ dscp: UInt8) -> Bool {
        guard let (proto, off) = network(d, len) else { return false }
        switch proto {
        case EtherType.ipv4 where len >= off + 20:
            let old = load16(d, off)
            let tos = UInt8(truncatingIfNeeded: old) & 3 | dscp << 2
            let new = old & 0xFF00 | UInt16(tos)
            guard new != old else { return true }
            d.storeBytes(of: tos, toByteOffset: off + 1, as: UInt8.self)
            store16(d, off + 10, replace2(load16(d, off + 10), old, new))
            return true
        case EtherType.ipv6 where len >= off + 40:
            let w = load32(d, off)
            store32(d, off, w & ~(0xFC << 20) | UInt32(dscp) << 22)
            return true
        default: return false
        }
    }

    /// The link-layer header the kernel's receive path leaves before skb->data at the ingress
    /// hook: Ethernet, and one VLAN tag carried in the frame (skb_vlan_untag moves it out).
    public static func macHeaderLength(_ d: UnsafeRawPointer, _ len: Int) -> Int {
        guard len >= EthernetHeader.length else { return len }
        let t = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        return (t == EtherType.vlan || t == EtherType.qinq) && len >= 18 ? 18 : 14
    }

    // MARK: act_csum

    public struct CsumFlags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let iph = CsumFlags(rawValue: 1), icmp = CsumFlags(rawValue: 2), igmp = CsumFlags(rawValue: 4)
        public static let tcp = CsumFlags(rawValue: 8), udp = CsumFlags(rawValue: 16), udplite = CsumFlags(rawValue: 32)
        public static let sctp = CsumFlags(rawValue: 64)
    }

    /// What tcf_csum_act did: nothing to do, checksums rewritten (the packet's checksum state
    /// becomes "none": every checksum in it is complete), or a drop.
    public enum CsumResult { case untouched, rewritten, drop }

    /// tcf_csum_ipv4 / tcf_csum_ipv6: recomputes the checksums `flags` names. `gso` is the
    /// packet's GSO kind (TCP and UDP super-frames keep their partial checksums, as the
    /// kernel leaves them to segmentation).
    public static func csum(_ d: UnsafeMutableRawPointer, _ len: Int, flags: CsumFlags, gsoTCP: Bool, gsoUDP: Bool) -> CsumResult {
        guard let (proto, noff) = network(d, len) else { return .untouched }
        var did = false
        if proto == EtherType.ipv4 {
            guard len >= noff + 20 else { return .drop }
            let ihl = Int(d.load(fromByteOffset: noff, as: UInt8.self) & 0x0F) * 4
            let ipl = Int(load16(d, noff + 2))
            let fragOff = load16(d, noff + 6) & 0x1FFF
            let p = fragOff != 0 ? 0 : d.load(fromByteOffset: noff + 9, as: UInt8.self)
            let src = UInt64(d.loadUnaligned(fromByteOffset: noff + 12, as: UInt32.self)), dst = UInt64(d.loadUnaligned(fromByteOffset: noff + 16, as: UInt32.self))
            let pseudoAddrs = src + dst
            switch p {
            case IPProto.icmp where flags.contains(.icmp), 2 where flags.contains(.igmp):
                guard let l4 = nextLayer(len, noff, ihl, ipl, 8) else { return .drop }
                store16(d, l4 + 2, 0)
                store16(d, l4 + 2, Checksum.fold(Checksum.sum(d + l4, ipl - ihl)))
                did = true
            case IPProto.tcp where flags.contains(.tcp):
                if gsoTCP { break }
                guard let l4 = nextLayer(len, noff, ihl, ipl, 20) else { return .drop }
                l4Checksum(d, l4, ipl - ihl, field: 16, pseudo: pseudoAddrs, proto: IPProto.tcp, length: ipl - ihl, udp: false)
                did = true
            case IPProto.udp where flags.contains(.udp), 136 where flags.contains(.udplite):
                let lite = p == 136
                if !lite && gsoUDP { break }
                guard let l4 = nextLayer(len, noff, ihl, ipl, 8) else { return .drop }
                did = udpChecksum(d, l4, ipl - ihl, pseudo: pseudoAddrs, proto: p, lite: lite) || did
            case 132 where flags.contains(.sctp):
                guard let l4 = nextLayer(len, noff, ihl, ipl, 12) else { return .drop }
                sctpChecksum(d, l4, len)
                did = true
            default: break
            }
            if flags.contains(.iph) {
                guard ihl >= 20, len >= noff + ihl else { return .drop }
                store16(d, noff + 10, 0)
                store16(d, noff + 10, Checksum.fold(Checksum.sum(d + noff, ihl)))
                did = true
            }
            return did ? .rewritten : .untouched
        }
        guard proto == EtherType.ipv6 else { return .untouched }
        guard len >= noff + 40 else { return .drop }
        var hl = 40
        let pl = Int(load16(d, noff + 4))
        var next = d.load(fromByteOffset: noff + 6, as: UInt8.self)
        let pseudoAddrs = Checksum.sum(d + noff + 8, 32)
        let ipl = pl + 40
        while len >= noff + hl + 1 {
            switch next {
            case 0, 43, 60:                                            // hop-by-hop, routing, destination options
                guard len >= noff + hl + 2 else { return .drop }
                let ixhl = (Int(d.load(fromByteOffset: noff + hl + 1, as: UInt8.self)) + 1) << 3
                guard len >= noff + hl + ixhl else { return .drop }
                next = d.load(fromByteOffset: noff + hl, as: UInt8.self)
                hl += ixhl
                continue
            case 58 where flags.contains(.icmp):
                guard let l4 = nextLayer(len, noff, hl, ipl, 4) else { return .drop }
                l4Checksum(d, l4, ipl - hl, field: 2, pseudo: pseudoAddrs, proto: 58, length: ipl - hl, udp: false)
                return .rewritten
            case IPProto.tcp where flags.contains(.tcp):
                if gsoTCP { return .untouched }
                guard let l4 = nextLayer(len, noff, hl, ipl, 20) else { return .drop }
                l4Checksum(d, l4, ipl - hl, field: 16, pseudo: pseudoAddrs, proto: IPProto.tcp, length: ipl - hl, udp: false)
                return .rewritten
            case IPProto.udp where flags.contains(.udp), 136 where flags.contains(.udplite):
                let lite = next == 136
                if !lite && gsoUDP { return .untouched }
                guard let l4 = nextLayer(len, noff, hl, ipl, 8) else { return .drop }
                return udpChecksum(d, l4, ipl - hl, pseudo: pseudoAddrs, proto: next, lite: lite) ? .rewritten : .untouched
            case 132 where flags.contains(.sctp):
                guard let l4 = nextLayer(len, noff, hl, ipl, 12) else { return .drop }
                sctpChecksum(d, l4, len)
                return .rewritten
            default:
                return .untouched                                      // a fragment or nothing asked for
            }
        }
        return .untouched
    }

    /// tcf_csum_skb_nextlayer: the transport header's offset when the packet holds the whole
    /// IP datagram `ipl` and it is long enough for a `jhl`-byte header after `ihl`.
    @inline(__always) static func nextLayer(_ len: Int, _ noff: Int, _ ihl: Int, _ ipl: Int, _ jhl: Int) -> Int? {
        guard len >= noff + ipl, ipl >= ihl + jhl else { return nil }
        return noff + ihl
    }

    @inline(__always) static func pseudoSum(_ addrs: UInt64, proto: UInt8, length: Int) -> UInt64 {
        addrs + UInt64(UInt16(proto).bigEndian) + UInt64(UInt16(truncatingIfNeeded: length).bigEndian)
    }

    /// The checksum at `l4 + field` over `count` bytes and the pseudo-header.
    static func l4Checksum(_ d: UnsafeMutableRawPointer, _ l4: Int, _ count: Int, field: Int, pseudo: UInt64, proto: UInt8, length: Int, udp: Bool) {
        store16(d, l4 + field, 0)
        var v = Checksum.fold(Checksum.sum(d + l4, count, initial: pseudoSum(pseudo, proto: proto, length: length)))
        if udp && v == 0 { v = 0xFFFF }
        store16(d, l4 + field, v)
    }

    /// tcf_csum_ipv4_udp / tcf_csum_ipv6_udp: a UDP checksum of zero (none) is left alone; a
    /// length that disagrees with the IP header's is ignored; UDP-Lite covers its coverage.
    static func udpChecksum(_ d: UnsafeMutableRawPointer, _ l4: Int, _ avail: Int, pseudo: UInt64, proto: UInt8, lite: Bool) -> Bool {
        let ul = Int(load16(d, l4 + 4))
        guard lite || load16(d, l4 + 6) != 0 else { return true }
        var cover = ul
        if lite {
            if ul == 0 { cover = avail } else if ul < 8 || ul > avail { return false }
        } else if ul != avail {
            return false
        }
        l4Checksum(d, l4, cover, field: 6, pseudo: pseudo, proto: proto, length: ul, udp: true)
        return true
    }

    /// sctp_compute_cksum: CRC32c over the packet from the SCTP header to its end, with the
    /// checksum field taken as zero, stored little-endian as SCTP sends it.
    static func sctpChecksum(_ d: UnsafeMutableRawPointer, _ l4: Int, _ len: Int) {
        d.storeBytes(of: UInt32(0), toByteOffset: l4 + 8, as: UInt32.self)
        var crc: UInt32 = 0xFFFF_FFFF
        for i in l4..<len {
            crc ^= UInt32(d.load(fromByteOffset: i, as: UInt8.self))
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        d.storeBytes(of: (~crc).littleEndian, toByteOffset: l4 + 8, as: UInt32.self)
    }

    // MARK: act_nat

    /// tcf_nat_act: stateless IPv4 NAT. Egress rewrites a source in `old/mask` to `new` (the
    /// host bits kept), ingress a destination; the IP checksum and the TCP/UDP checksums
    /// (pseudo-header) follow incrementally, and an ICMP error's quoted header is rewritten
    /// the other way. `partial` is CHECKSUM_PARTIAL (the L4 field holds the pseudo sum).
    public static func nat(_ d: UnsafeMutableRawPointer, _ len: Int, old: UInt32, new: UInt32, mask: UInt32, egress: Bool, partial: Bool) -> Bool {
        guard let (proto, noff) = network(d, len), proto == EtherType.ipv4 else { return true }
        guard len >= noff + 20 else { return false }
        let addrOff = noff + (egress ? 12 : 16)
        var addr = load32(d, addrOff)
        var newAddr = new
        let fragOff = load16(d, noff + 6) & 0x1FFF
        let p = d.load(fromByteOffset: noff + 9, as: UInt8.self)
        if (old ^ addr) & mask == 0 {
            newAddr = (new & mask) | (addr & ~mask)
            store32(d, addrOff, newAddr)
            store16(d, noff + 10, replace4(load16(d, noff + 10), addr, newAddr))
        } else if fragOff != 0 || p != IPProto.icmp {
            return true
        }
        let ihl = Int(d.load(fromByteOffset: noff, as: UInt8.self) & 0x0F) * 4
        switch fragOff != 0 ? 0 : p {
        case IPProto.tcp:
            guard len >= noff + ihl + 20 else { return false }
            let c = noff + ihl + 16
            store16(d, c, partial ? replace4Partial(load16(d, c), addr, newAddr) : replace4(load16(d, c), addr, newAddr))
        case IPProto.udp:
            guard len >= noff + ihl + 8 else { return false }
            let c = noff + ihl + 6
            if load16(d, c) != 0 || partial {
                var v = partial ? replace4Partial(load16(d, c), addr, newAddr) : replace4(load16(d, c), addr, newAddr)
                if v == 0 { v = 0xFFFF }
                store16(d, c, v)
            }
        case IPProto.icmp:
            guard len >= noff + ihl + 8 else { return false }
            let type = d.load(fromByteOffset: noff + ihl, as: UInt8.self)
            switch type { case 3, 4, 5, 11, 12: break; default: return true }    // icmp_is_err
            let inner = noff + ihl + 8
            guard len >= inner + 20 else { return false }
            let innerOff = inner + (egress ? 16 : 12)
            addr = load32(d, innerOff)
            guard (old ^ addr) & mask == 0 else { break }
            newAddr = (newAddr & mask) | (addr & ~mask)
            store32(d, innerOff, newAddr)
            if !partial {
                let c = noff + ihl + 2
                store16(d, c, replace4(load16(d, c), addr, newAddr))
            }
        default:
            break
        }
        return true
    }

    // MARK: act_pedit

    /// One pedit key as the kernel keeps it (struct tc_pedit_key plus its extended header type
    /// and command): mask, val as raw 32-bit words in memory order, `off` from the header
    /// `htype` names, optionally plus `(byte at + at & offmask) >> shift`.
    public struct PeditKey: Equatable, Sendable {
        public var mask: UInt32, val: UInt32, off: UInt32, at: UInt32, offmask: UInt32, shift: UInt32
        public var htype: UInt16 = 0, cmd: UInt16 = 0
        public init(mask: UInt32, val: UInt32, off: UInt32, at: UInt32 = 0, offmask: UInt32 = 0, shift: UInt32 = 0, htype: UInt16 = 0, cmd: UInt16 = 0) {
            self.mask = mask; self.val = val; self.off = off; self.at = at; self.offmask = offmask; self.shift = shift
            self.htype = htype; self.cmd = cmd
        }
    }

    /// The header offsets pedit_skb_hdr_offset gives: Ethernet, network (after VLAN tags in the
    /// frame), transport (after the IPv4 header or IPv6's extension headers), or nil when the
    /// frame has no such header.
    static func peditHeader(_ d: UnsafeMutableRawPointer, _ len: Int, _ htype: UInt16) -> Int? {
        switch htype {
        case 1: return 0                                              // eth
        case 0, 2, 3: return network(d, len)?.off                    // network, ipv4, ipv6
        case 4, 5:                                                    // tcp, udp
            guard let (proto, noff) = network(d, len) else { return nil }
            if proto == EtherType.ipv4 {
                guard len >= noff + 20 else { return nil }
                return noff + Int(d.load(fromByteOffset: noff, as: UInt8.self) & 0x0F) * 4
            }
            guard proto == EtherType.ipv6, len >= noff + 40 else { return nil }
            var hl = 40
            var next = d.load(fromByteOffset: noff + 6, as: UInt8.self)
            while next == 0 || next == 43 || next == 60 {
                guard len >= noff + hl + 2 else { return nil }
                next = d.load(fromByteOffset: noff + hl, as: UInt8.self)
                hl += (Int(d.load(fromByteOffset: noff + hl + 1, as: UInt8.self)) + 1) << 3
            }
            return noff + hl
        default: return nil
        }
    }

    /// tcf_pedit_act's key loop: each key rewrites one 32-bit word, `(word & mask) ^ val` for
    /// set, `(word & mask) ^ ((word + val) & ~mask)` for add (raw words, as the kernel adds
    /// them). A key that cannot apply (unknown header, an offset off a 32-bit boundary or past
    /// the frame) stops the loop; the kernel counts that as an overlimit and still returns the
    /// action's verdict. Returns whether every key applied.
    public static func pedit(_ d: UnsafeMutableRawPointer, _ len: Int, _ keys: UnsafeBufferPointer<PeditKey>) -> Bool {
        for k in keys {
            guard let h = peditHeader(d, len, k.htype) else { return false }
            var offset = Int(Int32(bitPattern: k.off))
            if k.offmask != 0 {
                let at = h + Int(Int32(bitPattern: k.at))
                guard at >= 0, at < len else { return false }
                offset += Int((UInt32(d.load(fromByteOffset: at, as: UInt8.self)) & k.offmask) >> (k.shift & 31))
            }
            guard offset % 4 == 0 else { return false }
            let pos = h + offset
            guard pos >= 0, pos + 4 <= len else { return false }
            let word = d.loadUnaligned(fromByteOffset: pos, as: UInt32.self)
            let v: UInt32
            switch k.cmd {
            case 0: v = k.val
            case 1: v = (word &+ k.val) & ~k.mask
            default: return false
            }
            d.storeBytes(of: (word & k.mask) ^ v, toByteOffset: pos, as: UInt32.self)
        }
        return true
    }

    // MARK: act_skbmod

    /// tcf_skbmod_act's Ethernet edits: destination, source, EtherType, or a MAC swap.
    public static func skbmod(_ d: UnsafeMutableRawPointer, _ len: Int, dmac: MACAddress?, smac: MACAddress?, etype: UInt16?, swap: Bool) {
        guard len >= EthernetHeader.length else { return }
        if let m = dmac { m.store(to: d) }
        if let m = smac { m.store(to: d + 6) }
        if let t = etype { store16(d, 12, t) }
        if swap {
            let a = MACAddress(at: d), b = MACAddress(at: d + 6)
            b.store(to: d); a.store(to: d + 6)
        }
    }
}
