#if canImport(Glibc)
import Glibc
#endif

/// IFE, the Inter-FE encapsulation of RFC 8013 (net/ife/ife.c): an outer Ethernet header whose
/// EtherType says IFE (0xED3E unless configured), a 16-bit total metadata length (itself
/// included), metadata TLVs (type and length in one big-endian word, the value padded to four
/// bytes), then the original frame whole. Bounds are checked here, once.
enum IFEWire {
    static let defaultType: UInt16 = 0xED3E

    /// ife_encode + the TLVs: `tlvs` (type, 4-byte value or nil for a 2-byte one) pushed in
    /// front of the frame with the original Ethernet header copied outside; false without
    /// headroom.
    static func encode(_ pool: PacketPool, _ i: UInt32, tlvs: UnsafeBufferPointer<(UInt16, UInt32, Bool)>, metalen: Int,
                       type: UInt16, dst: MACAddress?, src: MACAddress?) -> Bool {
        let push = 14 + 2 + metalen
        guard pool.metas[Int(i)].length >= 14, pool.push(Packet(index: i), push) else { return false }
        let d = VLANEdit.frame(pool, i)
        memmove(d, d + push, 14)
        d.storeBytes(of: UInt16(metalen + 2).bigEndian, toByteOffset: 14, as: UInt16.self)
        var o = 16
        for (t, v, short) in tlvs {
            let dlen = short ? 2 : 4
            d.storeBytes(of: (UInt32(t) << 16 | UInt32(dlen + 4)).bigEndian, toByteOffset: o, as: UInt32.self)
            if short {
                d.storeBytes(of: UInt16(truncatingIfNeeded: v).bigEndian, toByteOffset: o + 4, as: UInt16.self)
                d.storeBytes(of: UInt16(0), toByteOffset: o + 6, as: UInt16.self)
            } else {
                d.storeBytes(of: v.bigEndian, toByteOffset: o + 4, as: UInt32.self)
            }
            o += 8
        }
        if let src { src.store(to: d + 6) }
        if let dst { dst.store(to: d) }
        d.storeBytes(of: type.bigEndian, toByteOffset: 12, as: UInt16.self)
        VLANEdit.shiftOffsets(pool, i, by: push)
        return true
    }

    /// ife_decode and the TLV walk: `each(type, value, length)` for every metadatum (false from
    /// it: not one the action knows), then the outer header and metadata pulled off. nil when
    /// the header or a TLV does not hold together (the kernel drops).
    static func decode(_ pool: PacketPool, _ i: UInt32, _ each: (UInt16, UInt32, Int) -> Bool) -> (unknown: Int, ok: Bool) {
        let len = Int(pool.metas[Int(i)].length)
        let d = VLANEdit.frame(pool, i)
        guard len >= 16 else { return (0, false) }
        let hdrlen = Int(UInt16(bigEndian: d.loadUnaligned(fromByteOffset: 14, as: UInt16.self)))
        guard hdrlen >= 2, 14 + hdrlen + 14 <= len else { return (0, false) }
        let end = 14 + hdrlen
        var o = 16, unknown = 0
        while o < end {
            guard o + 4 <= end else { return (unknown, false) }
            let w = UInt32(bigEndian: d.loadUnaligned(fromByteOffset: o, as: UInt32.self))
            let t = UInt16(w >> 16), tl = Int(w & 0xFFFF)
            guard tl >= 4, o + tl <= end else { return (unknown, false) }
            let dlen = tl - 4
            var v: UInt32 = 0
            if dlen >= 4 { v = UInt32(bigEndian: d.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self)) } else if dlen >= 2 {
                v = UInt32(UInt16(bigEndian: d.loadUnaligned(fromByteOffset: o + 4, as: UInt16.self)))
            }
            if !each(t, v, dlen) { unknown += 1 }
            o += (tl + 3) & ~3
        }
        guard o == end else { return (unknown, false) }
        _ = pool.pull(Packet(index: i), end)
        VLANEdit.shiftOffsets(pool, i, by: -end)
        return (unknown, true)
    }
}
