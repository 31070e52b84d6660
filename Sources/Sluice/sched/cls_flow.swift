/// Principles (cls_flow.c)
/// ----------
/// The flow classifier makes a class id from packet keys: in `map` mode from one key, masked,
/// xor-ed, shifted right and offset (`and`, `xor`, `rshift`, `addend`); in `hash` mode from the
/// jhash of every key named, with a seed renewed every `perturb` seconds. Either way the value
/// is taken modulo `divisor` (when set) and added to the base class's minor. Keys, as
/// flow_key_get reads them from a forwarded packet: src/dst (the IPv4 address, or an IPv6
/// address folded to 32 bits), proto, proto-src/proto-dst (ports), iif, priority, mark, vlan-tag
/// (the VID), rxhash (the packet's flow hash); without conntrack the nfct keys fall back to the
/// plain ones, as the kernel's do; keys that need a socket or a route (sk-uid, sk-gid,
/// rt-classid) read 0; a missing address or port reads 0 (the kernel folds a socket or route
/// pointer there, which forwarded packets do not have). An ematch tree, when given, must match
/// first (Ematch.swift).
struct FlowParams: Equatable {
    static let keyNames = ["src", "dst", "proto", "proto-src", "proto-dst", "iif", "priority", "mark", "nfct",
                           "nfct-src", "nfct-dst", "nfct-proto-src", "nfct-proto-dst", "rt-classid", "sk-uid",
                           "sk-gid", "vlan-tag", "rxhash"]
    var keymask: UInt32
    var hash = false
    var mask: UInt32 = 0xFFFF_FFFF
    var xor: UInt32 = 0
    var rshift: UInt32 = 0
    var addend: UInt32 = 0
    var divisor: UInt32 = 0
    var baseclass: UInt32 = 0
    /// Seconds between seed changes (hash mode), 0 for never.
    var perturb: UInt32 = 0
    var hashrnd: UInt32 = 0

    /// flow_classify's class id for the frame.
    @inline(__always)
    func classid(_ d: UnsafeMutableRawPointer, _ len: Int, _ m: PacketMeta, _ pf: ParsedFrame, now: UInt64) -> UInt32 {
        var value: UInt32
        if hash {
            var seed = hashrnd
            if perturb > 0 { seed = Self.jhashWord(hashrnd, UInt32(truncatingIfNeeded: now / (UInt64(perturb) * Time.s))) }
            var j = JHash(count: keymask.nonzeroBitCount, initval: seed)
            var km = keymask
            while km != 0 {
                let k = km.trailingZeroBitCount
                km &= km - 1
                j.add(Self.key(k, d, len, m, pf))
            }
            value = j.finish()
        } else {
            value = Self.key(keymask.trailingZeroBitCount, d, len, m, pf)
            value = ((value & mask) ^ xor) >> rshift &+ addend
        }
        if divisor != 0 { value %= divisor }
        // TC_H_MAKE(baseclass, baseclass + value)
        return (baseclass & 0xFFFF_0000) | ((baseclass &+ value) & 0xFFFF)
    }

    @inline(__always)
    static func key(_ k: Int, _ d: UnsafeMutableRawPointer, _ len: Int, _ m: PacketMeta, _ pf: ParsedFrame) -> UInt32 {
        switch k {
        case 0, 9: return address(d, len, pf, dst: false)
        case 1, 10: return address(d, len, pf, dst: true)
        case 2: return UInt32(pf.ipProto)
        case 3, 11: return port(d, len, pf, dst: false)
        case 4, 12: return port(d, len, pf, dst: true)
        case 5: return UInt32(bitPattern: m.ifindex)
        case 6: return m.priority
        case 7: return m.mark
        case 16:
            if m.vlanPresent { return UInt32(m.vlanTCI & 0x0FFF) }
            return UInt32(pf.vlanID ?? 0)
        case 17: return m.flowHash
        default: return 0                       // nfct (no conntrack), rt-classid, sk-uid, sk-gid
        }
    }

    /// flow_get_u32_src/dst: the IPv4 address, or the IPv6 one folded (ipv6_addr_hash: the xor
    /// of its words as they lie in memory).
    @inline(__always)
    static func address(_ d: UnsafeMutableRawPointer, _ len: Int, _ pf: ParsedFrame, dst: Bool) -> UInt32 {
        if pf.proto == EtherType.ipv4, let v = HeaderEdit.loadBE(d, len, at: pf.l3 + (dst ? 16 : 12), size: 4) { return v }
        if pf.proto == EtherType.ipv6 {
            let o = pf.l3 + (dst ? 24 : 8)
            var x: UInt32 = 0
            for w in 0..<4 { guard let v = HeaderEdit.loadBE(d, len, at: o + 4 * w, size: 4) else { return 0 }; x ^= v }
            return x
        }
        return 0
    }

    @inline(__always)
    static func port(_ d: UnsafeMutableRawPointer, _ len: Int, _ pf: ParsedFrame, dst: Bool) -> UInt32 {
        switch pf.ipProto {
        case 6, 17, 33, 132, 136: break                  // TCP, UDP, DCCP, SCTP, UDP-Lite
        default: return 0
        }
        guard pf.l4 >= 0 else { return 0 }
        return HeaderEdit.loadBE(d, len, at: pf.l4 + (dst ? 2 : 0), size: 2) ?? 0
    }

    /// One-word jhash (for the perturbation seed).
    static func jhashWord(_ a: UInt32, _ b: UInt32) -> UInt32 {
        var j = JHash(count: 1, initval: a)
        j.add(b)
        return j.finish()
    }
}

/// jhash2 (Bob Jenkins' lookup3, as include/linux/jhash.h) over words fed one at a time.
struct JHash {
    var a: UInt32, b: UInt32, c: UInt32
    var pending = 0
    var remaining: Int

    init(count: Int, initval: UInt32) {
        let v = 0xDEAD_BEEF &+ UInt32(truncatingIfNeeded: count << 2) &+ initval
        a = v; b = v; c = v
        remaining = count
    }

    @inline(__always) static func rol(_ x: UInt32, _ n: UInt32) -> UInt32 { x << n | x >> (32 - n) }

    @inline(__always) mutating func add(_ k: UInt32) {
        switch pending {
        case 0: a &+= k
        case 1: b &+= k
        default: c &+= k
        }
        pending += 1
        remaining -= 1
        // __jhash_mix after each full group of three, unless it is the last group.
        if pending == 3 && remaining > 0 {
            a &-= c; a ^= Self.rol(c, 4); c &+= b
            b &-= a; b ^= Self.rol(a, 6); a &+= c
            c &-= b; c ^= Self.rol(b, 8); b &+= a
            a &-= c; a ^= Self.rol(c, 16); c &+= b
            b &-= a; b ^= Self.rol(a, 19); a &+= c
            c &-= b; c ^= Self.rol(b, 4); b &+= a
            pending = 0
        }
    }

    @inline(__always) mutating func finish() -> UInt32 {
        guard pending > 0 else { return c }
        c ^= b; c &-= Self.rol(b, 14)
        a ^= c; a &-= Self.rol(c, 11)
        b ^= a; b &-= Self.rol(a, 25)
        c ^= b; c &-= Self.rol(b, 16)
        a ^= c; a &-= Self.rol(c, 4)
        b ^= a; b &-= Self.rol(a, 14)
        c ^= b; c &-= Self.rol(b, 24)
        return c
    }
}
