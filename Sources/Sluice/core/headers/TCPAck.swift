#if canImport(Glibc)
import Glibc
#endif

/// The TCP header of a frame as cake's ACK filter reads it (cake_get_iphdr, cake_get_tcphdr:
/// IPv4, IPv6, and IPv6 inside IPv4 — 6in4 — where the inner header is the one compared),
/// every read bounds-checked once here.
public struct TCPAckView {
    let d: UnsafeRawPointer
    let len: Int
    /// The IP version of the header whose addresses are compared, and its offset.
    public let ipVersion: UInt8
    let ipOff: Int
    /// The TCP header's offset and length (data offset × 4).
    let tcp: Int
    public let tcpLen: Int
    /// The IP payload length (iph_totlen − IHL × 4, or the IPv6 payload length).
    public let segLen: Int

    static let optEOL: UInt8 = 0, optNOP: UInt8 = 1, optMD5: UInt8 = 19, optSACK: UInt8 = 5, optTimestamp: UInt8 = 8

    public init?(_ d: UnsafeRawPointer, _ len: Int) {
        guard let (_, off) = HeaderEdit.network(UnsafeMutableRawPointer(mutating: d), len), len >= off + 40 else { return nil }
        self.d = d; self.len = len
        var o = off
        let v = d.load(fromByteOffset: o, as: UInt8.self) >> 4
        if v == 4 {
            let ihl = Int(d.load(fromByteOffset: o, as: UInt8.self) & 0x0F) * 4
            let proto = d.load(fromByteOffset: o + 9, as: UInt8.self)
            if proto == 41 {        // 6in4
                o += ihl
                guard len >= o + 40, d.load(fromByteOffset: o + 6, as: UInt8.self) == IPProto.tcp else { return nil }
                ipVersion = 6; ipOff = o
                segLen = Self.v6Payload(d, len, o)
                o += 40
            } else {
                guard proto == IPProto.tcp, ihl >= 20 else { return nil }
                ipVersion = 4; ipOff = o
                let tot = Int(UInt16(bigEndian: d.loadUnaligned(fromByteOffset: o + 2, as: UInt16.self)))
                segLen = (tot == 0 ? len - o : tot) - ihl
                o += ihl
            }
        } else if v == 6 {
            guard d.load(fromByteOffset: o + 6, as: UInt8.self) == IPProto.tcp else { return nil }
            ipVersion = 6; ipOff = o
            segLen = Self.v6Payload(d, len, o)
            o += 40
        } else {
            return nil
        }
        guard len >= o + 20 else { return nil }
        let doff = Int(d.load(fromByteOffset: o + 12, as: UInt8.self) >> 4)
        guard doff >= 5 else { return nil }
        tcp = o
        tcpLen = doff * 4
    }

    static func v6Payload(_ d: UnsafeRawPointer, _ len: Int, _ o: Int) -> Int {
        let pl = Int(UInt16(bigEndian: d.loadUnaligned(fromByteOffset: o + 4, as: UInt16.self)))
        return pl == 0 ? len - o - 40 : pl
    }

    @inline(__always) func be32(_ at: Int) -> UInt32? {
        at + 4 <= len ? UInt32(bigEndian: d.loadUnaligned(fromByteOffset: at, as: UInt32.self)) : nil
    }

    /// tcp_flag_word: the 32-bit word with data offset and flags (host order).
    public var flagWord: UInt32 { be32(tcp + 12) ?? 0 }
    public var ackSeq: UInt32 { be32(tcp + 8) ?? 0 }
    public var ports: UInt32 { be32(tcp) ?? 0 }

    /// Same addresses (IPv4 or the compared IPv6 header).
    public func sameAddresses(_ o: TCPAckView) -> Bool {
        guard ipVersion == o.ipVersion else { return false }
        let (from, n) = ipVersion == 4 ? (12, 8) : (8, 32)
        guard ipOff + from + n <= len, o.ipOff + from + n <= o.len else { return false }
        return memcmp(d + ipOff + from, o.d + o.ipOff + from, n) == 0
    }

    /// The options as (code, offset of the contents, size including the two header bytes),
    /// walked as tcp_parse_options walks them; stops at EOL or a malformed option.
    func options(_ body: (UInt8, Int, Int) -> Bool) {
        var length = min(tcpLen, len - tcp) - 20
        var p = tcp + 20
        while length > 0 {
            let code = d.load(fromByteOffset: p, as: UInt8.self)
            p += 1
            if code == Self.optEOL { return }
            if code == Self.optNOP { length -= 1; continue }
            if length < 2 { return }
            let size = Int(d.load(fromByteOffset: p, as: UInt8.self))
            p += 1
            if size < 2 || size > length { return }
            if !body(code, p, size) { return }
            p += size - 2
            length -= size
        }
    }

    func option(_ code: UInt8) -> (at: Int, size: Int)? {
        var found: (Int, Int)?
        options { c, at, size in
            if c == code { found = (at, size); return false }
            return true
        }
        return found
    }

    /// The timestamp option's TSval and TSecr, or (0, 0).
    public var timestamps: (UInt32, UInt32) {
        guard let (at, size) = option(Self.optTimestamp), size == 10, let v = be32(at), let e = be32(at + 4) else { return (0, 0) }
        return (v, e)
    }

    /// cake_tcph_may_drop: a pure ACK (only ACK among the flags, ECE/CWR aside) whose options
    /// are only MD5, well-formed SACK and timestamps no newer than the new packet's.
    public func mayDrop(tsval: UInt32, tsecr: UInt32) -> Bool {
        guard flagWord & 0x0F3F_0000 == 0x0010_0000 else { return false }
        var ok = true
        options { code, at, size in
            switch code {
            case Self.optMD5: return true
            case Self.optSACK:
                if size % 8 != 2 { ok = false }
                return ok
            case Self.optTimestamp:
                guard size == 10, let v = be32(at), let e = be32(at + 4) else { ok = false; return false }
                if Int32(bitPattern: v &- tsval) > 0 || Int32(bitPattern: e &- tsecr) > 0 { ok = false }
                return ok
            default:
                ok = false
                return false
            }
        }
        return ok
    }

    /// cake_tcph_sack_compare: −1 when `a` SACKs something `b` does not (or has a DSACK), 1
    /// when `b` SACKs strictly more, 0 when they SACK the same.
    public static func sackCompare(_ a: TCPAckView, _ b: TCPAckView) -> Int {
        let sa = a.option(optSACK), sb = b.option(optSACK)
        let la = (sa?.size ?? 2) - 2, lb = (sb?.size ?? 2) - 2
        let hasA = sa != nil && la >= 8, hasB = sb != nil && lb >= 8
        if hasA && !hasB { return -1 }
        if hasB && !hasA { return 1 }
        if !hasA && !hasB { return 0 }
        let ackA = a.ackSeq
        var bytesA: UInt32 = 0, bytesB: UInt32 = 0
        var first = true
        var oa = la, pa = sa!.at
        while oa >= 8 {
            guard let startA = a.be32(pa), let endA = a.be32(pa + 4) else { return -1 }
            if Int32(bitPattern: startA &- ackA) < 0 { return -1 }     // DSACK
            bytesA &+= endA &- startA
            var ob = lb, pb = sb!.at
            var found = false
            while ob >= 8 {
                guard let startB = b.be32(pb), let endB = b.be32(pb + 4) else { break }
                if first { bytesB &+= endB &- startB }
                if Int32(bitPattern: startB &- startA) <= 0 && Int32(bitPattern: endB &- endA) >= 0 {
                    found = true
                    if !first { break }
                }
                ob -= 8; pb += 8
            }
            if !found { return -1 }
            oa -= 8; pa += 8
            first = false
        }
        return bytesB > bytesA ? 1 : 0
    }
}
