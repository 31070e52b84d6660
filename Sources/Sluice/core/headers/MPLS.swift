#if canImport(Glibc)
import Glibc
#endif

/// MPLS label stack entries in a frame (RFC 3032: label 20 bits, traffic class 3, bottom of
/// stack 1, TTL 8), as act_mpls edits them with skb_mpls_push/pop/update_lse/dec_ttl: the
/// stack sits at the network offset (after the Ethernet header and any in-frame VLAN tags) and
/// the EtherType before it says MPLS (0x8847 unicast, 0x8848 multicast). Bounds are checked
/// here, once; each edit returns false where the kernel's returns an error (the action drops).
enum MPLSEdit {
    static let unicast: UInt16 = 0x8847, multicast: UInt16 = 0x8848
    @inline(__always) static func isMPLS(_ t: UInt16) -> Bool { t == unicast || t == multicast }

    static func frame(_ pool: PacketPool, _ i: UInt32) -> UnsafeMutableRawPointer { VLANEdit.frame(pool, i) }

    /// skb->protocol and the network offset: the EtherType after the in-frame tags.
    static func network(_ pool: PacketPool, _ i: UInt32) -> (proto: UInt16, off: Int)? {
        HeaderEdit.network(frame(pool, i), Int(pool.metas[Int(i)].length))
    }

    /// The top label stack entry, or nil when the frame does not carry MPLS.
    static func top(_ pool: PacketPool, _ i: UInt32) -> UInt32? {
        guard let (proto, off) = network(pool, i), isMPLS(proto), Int(pool.metas[Int(i)].length) >= off + 4 else { return nil }
        return UInt32(bigEndian: frame(pool, i).loadUnaligned(fromByteOffset: off, as: UInt32.self))
    }

    /// skb_mpls_push: `lse` inserted at the network offset (`atMAC`: before the Ethernet header,
    /// TCA_MPLS_ACT_MAC_PUSH), the EtherType set to `proto` unless pushed before the MAC header.
    static func push(_ pool: PacketPool, _ i: UInt32, lse: UInt32, proto: UInt16, atMAC: Bool) -> Bool {
        guard isMPLS(proto), let (_, off) = network(pool, i) else { return false }
        let macLen = atMAC ? 0 : off
        guard pool.push(Packet(index: i), 4) else { return false }
        let d = frame(pool, i)
        if macLen > 0 { memmove(d, d + 4, macLen) }
        d.storeBytes(of: lse.bigEndian, toByteOffset: macLen, as: UInt32.self)
        if macLen >= 14 { d.storeBytes(of: proto.bigEndian, toByteOffset: macLen - 2, as: UInt16.self) }
        VLANEdit.shiftOffsets(pool, i, by: 4)
        return true
    }

    /// skb_mpls_pop: the top entry removed and the EtherType set to `next`; a frame without
    /// MPLS is left alone (true).
    static func pop(_ pool: PacketPool, _ i: UInt32, next: UInt16) -> Bool {
        guard let (proto, off) = network(pool, i) else { return false }
        guard isMPLS(proto) else { return true }
        guard Int(pool.metas[Int(i)].length) >= off + 4 else { return false }
        let d = frame(pool, i)
        memmove(d + 4, d, off)
        _ = pool.pull(Packet(index: i), 4)
        VLANEdit.shiftOffsets(pool, i, by: -4)
        frame(pool, i).storeBytes(of: next.bigEndian, toByteOffset: off - 2, as: UInt16.self)
        return true
    }

    /// skb_mpls_update_lse: the top entry replaced; false without MPLS.
    static func update(_ pool: PacketPool, _ i: UInt32, lse: UInt32) -> Bool {
        guard let (proto, off) = network(pool, i), isMPLS(proto), Int(pool.metas[Int(i)].length) >= off + 4 else { return false }
        frame(pool, i).storeBytes(of: lse.bigEndian, toByteOffset: off, as: UInt32.self)
        return true
    }

    /// skb_mpls_dec_ttl: the top entry's TTL less one; false without MPLS or when it reaches 0.
    static func decTTL(_ pool: PacketPool, _ i: UInt32) -> Bool {
        guard let lse = top(pool, i) else { return false }
        // An 8-bit decrement: 0 wraps to 255, as the kernel's u8.
        let ttl = UInt8(truncatingIfNeeded: (lse & 0xFF) &- 1)
        guard ttl != 0 else { return false }
        return update(pool, i, lse: (lse & ~0xFF) | UInt32(ttl))
    }
}
