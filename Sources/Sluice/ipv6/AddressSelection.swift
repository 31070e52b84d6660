/// IPv6 default address selection (RFC 6724) as net/ipv6 does it: the policy table of
/// addrlabel.c (`ip addrlabel`) and ipv6_dev_get_saddr's source-address rules.

#if canImport(Glibc)
import Glibc
#endif

/// __ipv6_addr_type's classes, reduced to what selection reads: the IPV6_ADDR_* bits the label
/// table keys on and the address's scope (__ipv6_addr_src_scope; -1 for ::).
public struct Inet6AddressType: Equatable, Sendable {
    public static let loopback: UInt8 = 0x10, compatV4: UInt8 = 0x80, mapped: UInt8 = 0x01
    public static let nodeLocal = 0x1, linkLocal = 0x2, siteLocal = 0x5, global = 0xE
    /// IPV6_ADDR_LOOPBACK / COMPATv4 / MAPPED, as `loopback`, `compatV4`, `mapped`.
    public var kind: UInt8
    public var scope: Int
    public var isMulticast: Bool
    public var isAny: Bool { scope == -1 }

    public init(_ a: UInt128) {
        kind = 0; isMulticast = false
        let top = UInt32(truncatingIfNeeded: a >> 96)
        if top & 0xE000_0000 != 0 && top & 0xE000_0000 != 0xE000_0000 { scope = Self.global; return }
        if top & 0xFF00_0000 == 0xFF00_0000 { isMulticast = true; scope = Int(top >> 16 & 0xF); return }
        if top & 0xFFC0_0000 == 0xFE80_0000 { scope = Self.linkLocal; return }
        if top & 0xFFC0_0000 == 0xFEC0_0000 { scope = Self.siteLocal; return }
        if top & 0xFE00_0000 == 0xFC00_0000 { scope = Self.global; return }      // RFC 4193
        scope = Self.global
        guard a >> 64 == 0 else { return }
        let w2 = UInt32(truncatingIfNeeded: a >> 32)
        if w2 == 0 {
            if a == 0 { scope = -1 } else if a == 1 { kind = Self.loopback; scope = Self.linkLocal } else { kind = Self.compatV4 }
        } else if w2 == 0xFFFF {
            kind = Self.mapped
        }
    }
}

/// net->ipv6.ip6addrlbl_table: the RFC 6724 policy table's labels, longest prefix first, an
/// entry bound to a device before an unbound one of the same length.
public struct AddressLabelTable: Sendable {
    public struct Entry: Equatable, Sendable {
        public var prefix: UInt128
        public var prefixLen: Int
        public var ifindex: Int32
        /// The IPV6_ADDR_* class the entry is limited to (ip6addrlbl_alloc): ::ffff:0:0/96 only
        /// matches mapped addresses, ::/96 compatible ones, ::1/128 the loopback address.
        var kind: UInt8
        public var label: UInt32
    }
    /// IPV6_ADDR_LABEL_DEFAULT: what an address no entry covers gets, and no entry may carry.
    public static let labelDefault: UInt32 = 0xFFFF_FFFF

    public private(set) var entries: [Entry] = []
    /// ip6addrlbl_table.seq: bumped by every add (ifal_seq of a dump).
    public private(set) var seq: UInt32 = 0

    /// ip6addrlbl_net_init's ip6addrlbl_init_table (RFC 6724 section 2.1, with 6to4, Teredo's
    /// 2001::/32, ORCHID and the deprecated site-local and 6bone prefixes).
    public init() {
        let defaults: [(UInt128, Int, UInt32)] = [
            (0, 0, 1), (0xFC << 120, 7, 5), (0xFEC0 << 112, 10, 11), (0x2002 << 112, 16, 2),
            (0x3FFE << 112, 16, 12), (0x2001 << 112, 32, 6), (0x2001_0010 << 96, 28, 7),
            (0xFFFF << 32, 96, 4), (0, 96, 3), (1, 128, 0),
        ]
        for (p, l, label) in defaults { try! add(prefix: p, prefixLen: l, ifindex: 0, label: label, replace: false) }
    }

    /// Errors are the kernel's errno alone (addrlabel.c sets no extack message).
    /// ip6addrlbl_add: EEXIST for the same prefix, length and device unless replacing; EINVAL
    /// for a mapped prefix longer than /96. The prefix is masked to its length.
    public mutating func add(prefix: UInt128, prefixLen: Int, ifindex: Int32, label: UInt32, replace: Bool) throws(NetlinkError) {
        let t = Inet6AddressType(prefix)
        var kind = t.kind
        switch kind {
        case Inet6AddressType.mapped:
            if prefixLen > 96 { throw NetlinkError(EINVAL) }
            if prefixLen < 96 { kind = 0 }
        case Inet6AddressType.compatV4: if prefixLen != 96 { kind = 0 }
        case Inet6AddressType.loopback: if prefixLen != 128 { kind = 0 }
        default: break
        }
        let e = Entry(prefix: LPMTrie<UInt128>.mask(prefix, prefixLen), prefixLen: prefixLen, ifindex: ifindex, kind: kind, label: label)
        // __ip6addrlbl_add: before the first entry of a shorter prefix, or of the same length
        // and no device; after the last otherwise.
        var at = entries.count
        for (i, p) in entries.enumerated() {
            if p.prefixLen == e.prefixLen && p.ifindex == e.ifindex && p.prefix == e.prefix {
                guard replace else { throw NetlinkError(EEXIST) }
                entries[i] = e; seq &+= 1; return
            }
            if (p.prefixLen == e.prefixLen && p.ifindex == 0) || p.prefixLen < e.prefixLen { at = i; break }
        }
        entries.insert(e, at: at)
        seq &+= 1
    }

    /// ip6addrlbl_del: the entry of exactly this (masked) prefix, length and device; ESRCH.
    public mutating func delete(prefix: UInt128, prefixLen: Int, ifindex: Int32) throws(NetlinkError) {
        let p = LPMTrie<UInt128>.mask(prefix, prefixLen)
        guard let i = entries.firstIndex(where: { $0.prefixLen == prefixLen && $0.ifindex == ifindex && $0.prefix == p }) else {
            throw NetlinkError(ESRCH)
        }
        entries.remove(at: i)
    }

    /// __ipv6_addr_label: the first entry that covers `a` (device, class and prefix).
    public func entry(for a: UInt128, ifindex: Int32) -> Entry? {
        let kind = Inet6AddressType(a).kind
        return entries.first { ($0.ifindex == 0 || $0.ifindex == ifindex) && ($0.kind == 0 || $0.kind == kind) && LPMTrie<UInt128>.mask(a, $0.prefixLen) == $0.prefix }
    }

    /// ipv6_addr_label.
    public func label(_ a: UInt128, ifindex: Int32) -> UInt32 { entry(for: a, ifindex: ifindex)?.label ?? Self.labelDefault }
}

extension IPv6Stack {
    /// ipv6_dev_get_saddr: the source for `dst` leaving through `dev` (0: none known), from the
    /// outgoing device's addresses for a multicast or link-scope destination or when the
    /// device has use_oif_addrs_only, else from every device's; each candidate compared with the best so far rule by rule (RFC 6724 section 5):
    /// 1 same address, 2 appropriate scope, 3 not deprecated, 5 the outgoing device, 6 matching
    /// label, 7 public (Sluice makes no temporary addresses), 8- ORCHID with ORCHID, 8 longest
    /// matching prefix (at most the address's prefix length). A tie keeps the earlier address,
    /// in device order and, within a device, the list's order (ipv6_link_dev_addr's). Tentative
    /// addresses are not candidates unless optimistic (RFC 4429): those rule 3 avoids unless
    /// use_optimistic is on, and a last rule puts them after any other (NOT_OPTIMISTIC).
    /// Returns 0 when there is none (EADDRNOTAVAIL).
    public func sourceAddress(_ dev: Int32, toward dst: UInt128) -> UInt128 {
        let dt = Inet6AddressType(dst)
        let dstLabel = addressLabels.label(dst, ifindex: dev)
        let onlyOIF = dev != 0 && (dt.isMulticast || dt.scope <= Inet6AddressType.linkLocal || (dp.device(dev)?.inet6.useOifAddrsOnly ?? false))
        let dstOrchid = dst >> 100 == 0x200_1001
        var best: (address: UInt128, score: SourceScore)? = nil
        let devices = onlyOIF ? [dev] : addresses.keys.sorted()
        for d in devices {
            for a in addresses[d] ?? [] where a.assigned {
                let t = Inet6AddressType(a.address)
                guard !t.isAny, !t.isMulticast else { continue }
                let diff = (a.address ^ dst).leadingZeroBitCount
                let s = SourceScore(
                    same: a.address == dst,
                    scope: t.scope >= dt.scope ? -t.scope : t.scope - 128,
                    preferred: t.kind != 0 || !(a.deprecated || (a.optimistic && !(dp.device(d)?.inet6.useOptimistic ?? false))),
                    oif: dev == 0 || d == dev,
                    label: addressLabels.label(a.address, ifindex: d) == dstLabel,
                    orchid: (a.address >> 100 == 0x200_1001) == dstOrchid,
                    matchLen: min(diff, a.prefixLen),
                    notOptimistic: !a.optimistic)
                if best == nil || s > best!.score { best = (a.address, s) }
            }
        }
        return best?.address ?? 0
    }
}

/// One candidate's results under ipv6_get_saddr_eval's rules, compared in rule order.
struct SourceScore: Comparable {
    var same: Bool, scope: Int, preferred: Bool, oif: Bool, label: Bool, orchid: Bool, matchLen: Int, notOptimistic: Bool
    static func < (a: SourceScore, b: SourceScore) -> Bool {
        func i(_ b: Bool) -> Int { b ? 1 : 0 }
        let x = (i(a.same), a.scope, i(a.preferred), i(a.oif), i(a.label), i(a.orchid)), y = (i(b.same), b.scope, i(b.preferred), i(b.oif), i(b.label), i(b.orchid))
        return x < y || (x == y && (a.matchLen, i(a.notOptimistic)) < (b.matchLen, i(b.notOptimistic)))
    }
}
