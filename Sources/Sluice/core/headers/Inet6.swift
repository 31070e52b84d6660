/// Readers, writers and in-place edits for the IPv6 stack's packets (RFC 8200 headers,
/// ICMPv6 of RFC 4443, Neighbor Discovery of RFC 4861). Addresses are UInt128 in host order.
public enum Inet6Wire {
    public static let ipv6Length = 40
    public static let icmpLength = 8
    /// The IPv6 minimum MTU: an ICMPv6 error never makes a packet longer (RFC 4443 2.4 (c)).
    public static let minMTU = 1280

    @inline(__always)
    public static func load128(_ p: UnsafeRawPointer) -> UInt128 {
        UInt128(UInt64(bigEndian: p.loadUnaligned(as: UInt64.self))) << 64
            | UInt128(UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }

    @inline(__always)
    public static func store128(_ v: UInt128, _ p: UnsafeMutableRawPointer) {
        p.storeBytes(of: UInt64(truncatingIfNeeded: v >> 64).bigEndian, as: UInt64.self)
        p.storeBytes(of: UInt64(truncatingIfNeeded: v).bigEndian, toByteOffset: 8, as: UInt64.self)
    }

    public static func source(_ ip: UnsafeRawPointer) -> UInt128 { load128(ip + 8) }
    /// The source of a packet at least a header long, nil when it is not IPv6.
    static func sourceIfIPv6(_ ip: UnsafeRawPointer) -> UInt128? { ip.load(as: UInt8.self) >> 4 == 6 ? source(ip) : nil }
    public static func destination(_ ip: UnsafeRawPointer) -> UInt128 { load128(ip + 24) }
    public static func nextHeader(_ ip: UnsafeRawPointer) -> UInt8 { ip.load(fromByteOffset: 6, as: UInt8.self) }
    public static func hopLimit(_ ip: UnsafeRawPointer) -> UInt8 { ip.load(fromByteOffset: 7, as: UInt8.self) }
    public static func trafficClass(_ ip: UnsafeRawPointer) -> UInt8 {
        UInt8(truncatingIfNeeded: UInt16(bigEndian: ip.loadUnaligned(as: UInt16.self)) >> 4)
    }

    public static func payloadLength(_ ip: UnsafeRawPointer) -> Int {
        Int(UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
    }

    /// The next header and payload length of a header being rebuilt (reassembly, fragmenting).
    public static func setNextHeader(_ ip: UnsafeMutableRawPointer, at field: Int = 6, _ next: UInt8) {
        ip.storeBytes(of: next, toByteOffset: field, as: UInt8.self)
    }
    public static func setPayloadLength(_ ip: UnsafeMutableRawPointer, _ length: Int) {
        ip.storeBytes(of: UInt16(length).bigEndian, toByteOffset: 4, as: UInt16.self)
    }

    /// A fragment header (RFC 8200 4.5): next header, offset in bytes (a multiple of 8), M flag,
    /// identification.
    public static func writeFragmentHeader(_ p: UnsafeMutableRawPointer, next: UInt8, offset: Int, more: Bool, id: UInt32) {
        p.storeBytes(of: next, as: UInt8.self)
        p.storeBytes(of: UInt8(0), toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: (UInt16(offset / 8) << 3 | (more ? 1 : 0)).bigEndian, toByteOffset: 2, as: UInt16.self)
        p.storeBytes(of: id.bigEndian, toByteOffset: 4, as: UInt32.self)
    }

    /// A fragment header's fields: next header, offset in bytes, more fragments, identification.
    public static func fragmentHeader(_ p: UnsafeRawPointer) -> (next: UInt8, offset: Int, more: Bool, id: UInt32) {
        let field = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        return (p.load(as: UInt8.self), Int(field >> 3) * 8, field & 1 != 0, UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
    }

    /// ip6_forward's hop limit decrement (no header checksum in IPv6).
    @inline(__always)
    public static func decrementHopLimit(_ ip: UnsafeMutableRawPointer) {
        ip.storeBytes(of: hopLimit(ip) &- 1, toByteOffset: 7, as: UInt8.self)
    }

    /// A 40-byte IPv6 header.
    public static func writeIPv6(_ p: UnsafeMutableRawPointer, trafficClass: UInt8, flowLabel: UInt32 = 0, payloadLength: Int,
                                 nextHeader: UInt8, hopLimit: UInt8, src: UInt128, dst: UInt128) {
        let first = UInt32(6) << 28 | UInt32(trafficClass) << 20 | (flowLabel & 0xFFFFF)
        p.storeBytes(of: first.bigEndian, as: UInt32.self)
        p.storeBytes(of: UInt16(payloadLength).bigEndian, toByteOffset: 4, as: UInt16.self)
        p.storeBytes(of: nextHeader, toByteOffset: 6, as: UInt8.self)
        p.storeBytes(of: hopLimit, toByteOffset: 7, as: UInt8.self)
        store128(src, p + 8)
        store128(dst, p + 24)
    }

    public enum IPv6Check { case ok(payloadLength: Int), headerError, truncated }

    /// The IPv6 header of a frame as ipv6_rcv checks it: version 6 (header error), the fixed
    /// header and the payload length within the frame (truncated). A payload length of 0
    /// (a jumbogram's) is a header error here: Sluice has no jumbo payload option.
    public static func checkIPv6(_ frame: UnsafeRawPointer, frameLength: Int) -> IPv6Check {
        let avail = frameLength - InetWire.ethernetLength
        guard avail >= ipv6Length else { return .truncated }
        let ip = frame + InetWire.ethernetLength
        guard ip.load(as: UInt8.self) >> 4 == 6 else { return .headerError }
        let plen = Int(UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
        guard plen > 0 else { return .headerError }
        guard ipv6Length + plen <= avail else { return .truncated }
        return .ok(payloadLength: plen)
    }

    /// The sum of the upper-layer pseudo-header (RFC 8200 8.1), for ICMPv6, UDP and TCP.
    public static func pseudoSum(src: UInt128, dst: UInt128, length: Int, next: UInt8) -> UInt64 {
        var b = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &b) { q in
            store128(src, q.baseAddress!)
            store128(dst, q.baseAddress! + 16)
            q.storeBytes(of: UInt32(length).bigEndian, toByteOffset: 32, as: UInt32.self)
            q.storeBytes(of: UInt32(next).bigEndian, toByteOffset: 36, as: UInt32.self)
            return Checksum.sum(UnsafeRawPointer(q.baseAddress!), 40)
        }
    }

    /// Writes the checksum of an upper-layer message of `length` bytes at `p`, whose checksum
    /// field is at `offset` (ICMPv6 2, TCP 16, UDP 6).
    public static func setChecksum(_ p: UnsafeMutableRawPointer, length: Int, offset: Int, src: UInt128, dst: UInt128, next: UInt8) {
        p.storeBytes(of: 0, toByteOffset: offset, as: UInt16.self)
        var c = Checksum.fold(Checksum.sum(UnsafeRawPointer(p), length, initial: pseudoSum(src: src, dst: dst, length: length, next: next)))
        if c == 0 && next == IPProto.udp { c = 0xFFFF }
        p.storeBytes(of: c.bigEndian, toByteOffset: offset, as: UInt16.self)
    }

    /// True when the message's checksum (pseudo-header included) verifies.
    public static func checksumValid(_ p: UnsafeRawPointer, length: Int, src: UInt128, dst: UInt128, next: UInt8) -> Bool {
        Checksum.fold(Checksum.sum(p, length, initial: pseudoSum(src: src, dst: dst, length: length, next: next))) == 0
    }

    /// The upper-layer header after the extension headers a host walks (ip6_input_finish's
    /// loop, ipv6_skip_exthdr): hop-by-hop (only first), destination options, routing (with no
    /// segments left), fragment. `offset` is from the start of the IPv6 header.
    /// A parameter problem carries its code (0 erroneous header field, 1 unrecognized next
    /// header) and the offset it points at.
    public enum Upper { case proto(UInt8, offset: Int), fragment(offset: Int), parameterProblem(code: UInt8, pointer: Int), malformed }

    public static func upperLayer(_ ip: UnsafeRawPointer, total: Int) -> Upper {
        var next = nextHeader(ip), off = ipv6Length, prevField = 6
        while true {
            switch next {
            case 0, 60, 43:
                if next == 0 && off != ipv6Length { return .parameterProblem(code: 1, pointer: prevField) }
                guard off + 8 <= total else { return .malformed }
                let len = (Int(ip.load(fromByteOffset: off + 1, as: UInt8.self)) + 1) * 8
                guard off + len <= total else { return .malformed }
                if next == 43 && ip.load(fromByteOffset: off + 3, as: UInt8.self) != 0 {
                    return .parameterProblem(code: 0, pointer: off + 2)   // segments left: no routing type is ours
                }
                prevField = off
                next = ip.load(fromByteOffset: off, as: UInt8.self)
                off += len
            case 44:
                guard off + 8 <= total else { return .malformed }
                return .fragment(offset: off)
            default:
                return .proto(next, offset: off)
            }
        }
    }

    /// The offset of the next-header field that names the upper layer at `upper` (for a
    /// parameter problem about an unknown next header).
    public static func nextHeaderField(_ ip: UnsafeRawPointer, upper: Int) -> Int {
        var next = nextHeader(ip), off = ipv6Length, field = 6
        while off < upper, next == 0 || next == 60 || next == 43 {
            field = off
            next = ip.load(fromByteOffset: off, as: UInt8.self)
            off += (Int(ip.load(fromByteOffset: off + 1, as: UInt8.self)) + 1) * 8
        }
        return field
    }

    // MARK: addresses

    public static func isMulticast(_ a: UInt128) -> Bool { a >> 120 == 0xFF }
    public static func isLinkLocal(_ a: UInt128) -> Bool { a >> 118 == 0x3FA }          // fe80::/10
    public static func isUnspecified(_ a: UInt128) -> Bool { a == 0 }
    public static func isLoopback(_ a: UInt128) -> Bool { a == 1 }
    public static let allNodes: UInt128 = 0xFF02 << 112 | 1
    public static let allRouters: UInt128 = 0xFF02 << 112 | 2
    /// The solicited-node multicast address of `a` (ff02::1:ff00:0/104).
    public static func solicitedNode(_ a: UInt128) -> UInt128 { 0xFF02 << 112 | 0x1_FF00_0000 | (a & 0xFF_FFFF) }
    /// The Ethernet address of an IPv6 multicast group (RFC 2464 7: 33:33 and the low 32 bits).
    public static func multicastMAC(_ a: UInt128) -> MACAddress {
        MACAddress(raw: 0x3333_0000_0000 | UInt64(UInt32(truncatingIfNeeded: a)))
    }
    /// fe80::/64 with the modified EUI-64 interface identifier of `mac` (RFC 4291 2.5.1).
    public static func linkLocal(_ mac: MACAddress) -> UInt128 {
        let m = mac.raw
        let eui = (m >> 24) << 40 | 0xFFFE << 24 | (m & 0xFF_FFFF)
        return 0xFE80 << 112 | UInt128(eui ^ 0x0200_0000_0000_0000)
    }

    // MARK: ICMPv6 and Neighbor Discovery

    public static func icmpType(_ p: UnsafeRawPointer) -> UInt8 { p.load(as: UInt8.self) }
    public static func icmpCode(_ p: UnsafeRawPointer) -> UInt8 { p.load(fromByteOffset: 1, as: UInt8.self) }
    public static func setICMPType(_ p: UnsafeMutableRawPointer, _ t: UInt8) { p.storeBytes(of: t, as: UInt8.self) }
    /// A neighbor advertisement's R|S|O flags word and an ND message's target address.
    public static func ndFlags(_ p: UnsafeRawPointer) -> UInt32 { UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) }
    public static func ndTarget(_ p: UnsafeRawPointer) -> UInt128 { load128(p + 8) }

    /// An ICMPv6 header: type, code, and the 4 rest-of-header bytes (checksum written later).
    public static func writeICMP(_ p: UnsafeMutableRawPointer, type: UInt8, code: UInt8, rest: UInt32) {
        p.storeBytes(of: type, as: UInt8.self)
        p.storeBytes(of: code, toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: 0, toByteOffset: 2, as: UInt16.self)
        p.storeBytes(of: rest.bigEndian, toByteOffset: 4, as: UInt32.self)
    }

    /// A neighbor solicitation or advertisement (24 bytes) with one link-layer address option
    /// (8 bytes: source for a solicitation, target for an advertisement), or none.
    public static func writeND(_ p: UnsafeMutableRawPointer, type: UInt8, flags: UInt32, target: UInt128, lladdr: MACAddress?) -> Int {
        writeICMP(p, type: type, code: 0, rest: flags)
        store128(target, p + 8)
        guard let lladdr else { return 24 }
        p.storeBytes(of: type == 135 ? UInt8(1) : UInt8(2), toByteOffset: 24, as: UInt8.self)
        p.storeBytes(of: UInt8(1), toByteOffset: 25, as: UInt8.self)
        lladdr.store(to: p + 26)
        return 32
    }

    /// The nonce option (RFC 7527, type 14, one 8-byte unit) at `p`; its length.
    public static func writeNonceOption(_ p: UnsafeMutableRawPointer, _ nonce: UInt64) -> Int {
        p.storeBytes(of: UInt8(14), toByteOffset: 0, as: UInt8.self)
        p.storeBytes(of: UInt8(1), toByteOffset: 1, as: UInt8.self)
        for i in 0..<6 { p.storeBytes(of: UInt8(truncatingIfNeeded: nonce >> (8 * UInt64(i))), toByteOffset: 2 + i, as: UInt8.self) }
        return 8
    }

    /// The 6-byte nonce of an ND nonce option of one unit among the options from `start` to
    /// `end` (ndisc_parse_options keeps the last), or 0; the options were checked by ndMessage.
    public static func ndNonce(_ p: UnsafeRawPointer, from start: Int, to end: Int) -> UInt64 {
        var i = start
        var nonce: UInt64 = 0
        while i + 2 <= end {
            let t = p.load(fromByteOffset: i, as: UInt8.self)
            let l = Int(p.load(fromByteOffset: i + 1, as: UInt8.self)) * 8
            guard l > 0, i + l <= end else { return 0 }
            if t == 14 && l == 8 {
                nonce = 0
                for k in 0..<6 { nonce |= UInt64(p.load(fromByteOffset: i + 2 + k, as: UInt8.self)) << (8 * UInt64(k)) }
            }
            i += l
        }
        return nonce
    }

    /// A neighbor solicitation or advertisement as ndisc_recv_ns/na first check it (RFC 4861
    /// 7.1.1/7.1.2): hop limit 255, code 0, at least 24 bytes, a target that is not multicast,
    /// well-formed options; its flags word, target and link-layer option of type `option`
    /// (1 source, 2 target), or nil when it fails any of these.
    public static func ndMessage(_ ip: UnsafeRawPointer, offset off: Int, total: Int, option: UInt8) -> (flags: UInt32, target: UInt128, lladdr: MACAddress?)? {
        let len = total - off
        guard hopLimit(ip) == 255, len >= 24, icmpCode(ip + off) == 0 else { return nil }
        let target = ndTarget(ip + off)
        guard !isMulticast(target) else { return nil }
        switch linkLayerOption(ip + off, from: 24, to: len, want: option) {
        case .malformed: return nil
        case .none: return (ndFlags(ip + off), target, nil)
        case .some(let m): return (ndFlags(ip + off), target, m)
        }
    }

    /// A neighbour solicitation or advertisement as the bridge's ND suppression takes it
    /// (br_is_nd_neigh_msg, br_nd_send): an IPv6 header whose next header is ICMPv6, then an
    /// ICMPv6 message of type 135 or 136, code 0, at least 24 bytes — no hop limit or option
    /// checks. `length` is what the frame holds from `ip` on. Returns the type, the flags
    /// word, the target, and where an answer to a solicitation goes: its first source
    /// link-layer option (`.some`), none (`.none`: the frame's source), or `.malformed` when an
    /// option of length 0 comes first (br_nd_send then sends nothing).
    public static func bridgeNDMessage(_ ip: UnsafeRawPointer, length: Int) -> (type: UInt8, flags: UInt32, target: UInt128, answerTo: LLOption)? {
        guard length >= ipv6Length + 24, ip.load(as: UInt8.self) >> 4 == 6, nextHeader(ip) == IPProto.icmpv6 else { return nil }
        let m = ip + ipv6Length
        let type = m.load(as: UInt8.self)
        guard type == 135 || type == 136, icmpCode(m) == 0 else { return nil }
        var answerTo = LLOption.none
        let olen = length - ipv6Length - 24
        var i = 0
        while type == 135 && i < olen - 1 {
            let l = Int(m.load(fromByteOffset: 24 + i + 1, as: UInt8.self)) * 8
            if l == 0 { answerTo = .malformed; break }
            if m.load(fromByteOffset: 24 + i, as: UInt8.self) == 1 {
                if i + 8 <= olen { answerTo = .some(MACAddress(at: m + 24 + i + 2)) }
                break
            }
            i += l
        }
        return (type, ndFlags(m), ndTarget(m), answerTo)
    }

    /// The link-layer address option of type `want` (1 source, 2 target) in the ND options
    /// from `start` to `end`; `.malformed` for an option of length 0 or past the end (RFC 4861 4.6).
    public enum LLOption { case none, some(MACAddress), malformed }

    public static func linkLayerOption(_ p: UnsafeRawPointer, from start: Int, to end: Int, want: UInt8) -> LLOption {
        var i = start
        var found: MACAddress?
        while i + 2 <= end {
            let t = p.load(fromByteOffset: i, as: UInt8.self)
            let l = Int(p.load(fromByteOffset: i + 1, as: UInt8.self)) * 8
            guard l > 0, i + l <= end else { return .malformed }
            if t == want && l >= 8 { found = MACAddress(at: p + i + 2) }
            i += l
        }
        return found.map { .some($0) } ?? .none
    }
}
