/// Principles (net/core/flow_dissector.c: __flow_hash_from_keys, __flow_hash_consistentify;
/// include/net/flow_dissector.h: struct flow_keys; include/net/ip_fib.h:
/// fib_multipath_hash_from_keys; lib/siphash.c; include/linux/jhash.h)
/// ----------
/// The kernel's multipath hash, bit for bit, for a router given a seed
/// (`net.ipv4.fib_multipath_hash_seed`): SipHash-2-4 keyed with the seed twice over, run over
/// `struct flow_keys` from its `basic` member — 48 bytes for IPv4 keys, 72 for IPv6 — after
/// the addresses and the ports have each been put in order (the smaller first, compared as
/// the kernel compares them: the raw big-endian words as host integers, IPv6 addresses by
/// memcmp). The layout, from `basic` (everything not set is zero, as fib_multipath_hash
/// memsets the keys): n_proto 0, ip_proto 2, flow_label 4 (a u32 as stored), vlan 8, cvlan
/// 16, keyid 24, ports 28 (source, destination, network order), icmp 32, addresses 36.
/// With no seed the kernel draws one at random at boot, so no hash is the kernel's; Sluice
/// then keeps its cheaper mixer (IPv4Stack.flowHash).

/// SipHash-2-4 over whole 64-bit little-endian words, fed one at a time (no buffer).
@usableFromInline
struct SipHash24 {
    var v0: UInt64 = 0x736f_6d65_7073_6575, v1: UInt64 = 0x646f_7261_6e64_6f6d
    var v2: UInt64 = 0x6c79_6765_6e65_7261, v3: UInt64 = 0x7465_6462_7974_6573

    @inline(__always)
    init(k0: UInt64, k1: UInt64) { v0 ^= k0; v1 ^= k1; v2 ^= k0; v3 ^= k1 }

    @inline(__always)
    mutating func round() {
        v0 &+= v1; v1 = v1.rotl(13); v1 ^= v0; v0 = v0.rotl(32)
        v2 &+= v3; v3 = v3.rotl(16); v3 ^= v2
        v0 &+= v3; v3 = v3.rotl(21); v3 ^= v0
        v2 &+= v1; v1 = v1.rotl(17); v1 ^= v2; v2 = v2.rotl(32)
    }

    @inline(__always)
    mutating func compress(_ m: UInt64) { v3 ^= m; round(); round(); v0 ^= m }

    /// The final block for a message of `length` bytes, a multiple of 8.
    @inline(__always)
    mutating func finish(length: Int) -> UInt64 {
        let b = UInt64(length) << 56
        v3 ^= b; round(); round(); v0 ^= b
        v2 ^= 0xFF; round(); round(); round(); round()
        return v0 ^ v1 ^ v2 ^ v3
    }
}

extension UInt64 {
    @inline(__always) func rotl(_ n: UInt64) -> UInt64 { self << n | self >> (64 - n) }
}

public enum KernelFlowHash {
    /// fib_multipath_hash_construct_key: the 32-bit seed in both halves of both key words.
    @inline(__always)
    static func hasher(_ seed: UInt32) -> SipHash24 {
        let k = UInt64(seed) << 32 | UInt64(seed)
        return SipHash24(k0: k, k1: k)
    }

    /// The ports word of the keys (bytes 24…31: keyid 0, then the ports as they sit in the
    /// header), in order; `ports` is source << 16 | destination.
    @inline(__always)
    static func portsWord(_ ports: UInt32) -> UInt64 {
        var s = UInt16(truncatingIfNeeded: ports >> 16).byteSwapped, d = UInt16(truncatingIfNeeded: ports).byteSwapped
        if d < s { swap(&s, &d) }
        return UInt64(s) << 32 | UInt64(d) << 48
    }

    /// __flow_hash_from_keys for IPv4 keys (FLOW_DISSECTOR_KEY_IPV4_ADDRS).
    public static func v4(seed: UInt32, src: UInt32, dst: UInt32, proto: UInt8, ports: UInt32) -> UInt32 {
        var s = src.byteSwapped, d = dst.byteSwapped
        if d < s { swap(&s, &d) }
        var h = hasher(seed)
        h.compress(UInt64(proto) << 16)
        h.compress(0); h.compress(0)
        h.compress(portsWord(ports))
        h.compress(UInt64(s) << 32)
        h.compress(UInt64(d))
        let r = UInt32(truncatingIfNeeded: h.finish(length: 48))
        return r == 0 ? 1 : r
    }

    /// __flow_hash_from_keys for IPv6 keys; `label` is the flow-label word as the keys hold
    /// it (fib_multipath_hash's L3 policy keeps it in network order, the flow dissector in
    /// host order: see the callers).
    public static func v6(seed: UInt32, src: UInt128, dst: UInt128, label: UInt32, proto: UInt8, ports: UInt32) -> UInt32 {
        var s = src, d = dst
        if d < s { swap(&s, &d) }
        /// The i-th 32-bit word of an address as it sits in memory, loaded as a host integer.
        func w(_ a: UInt128, _ i: Int) -> UInt64 { UInt64(UInt32(truncatingIfNeeded: a >> (96 - 32 * i)).byteSwapped) }
        var h = hasher(seed)
        h.compress(UInt64(proto) << 16 | UInt64(label) << 32)
        h.compress(0); h.compress(0)
        h.compress(portsWord(ports))
        h.compress(w(s, 0) << 32)
        h.compress(w(s, 1) | w(s, 2) << 32)
        h.compress(w(s, 3) | w(d, 0) << 32)
        h.compress(w(d, 1) | w(d, 2) << 32)
        h.compress(w(d, 3))
        let r = UInt32(truncatingIfNeeded: h.finish(length: 72))
        return r == 0 ? 1 : r
    }

    /// jhash_2words(a, b, 0): how fib_multipath_custom_hash_skb joins the outer and inner hashes.
    public static func jhash2(_ a0: UInt32, _ b0: UInt32) -> UInt32 {
        let initval: UInt32 = 0xDEAD_BEEF &+ (2 << 2)
        var a = a0 &+ initval, b = b0 &+ initval, c = initval
        func rol(_ x: UInt32, _ n: UInt32) -> UInt32 { x << n | x >> (32 - n) }
        c ^= b; c &-= rol(b, 14)
        a ^= c; a &-= rol(c, 11)
        b ^= a; b &-= rol(a, 25)
        c ^= b; c &-= rol(b, 16)
        a ^= c; a &-= rol(c, 4)
        b ^= a; b &-= rol(a, 14)
        c ^= b; c &-= rol(b, 24)
        return c
    }
}
