/// Connection tracking for tc's ct, connmark and ctinfo actions and flower's ct_* keys: the
/// parts of nf_conntrack (nf_conntrack_core.c, nf_conntrack_proto_tcp.c, _udp.c, _icmp.c,
/// _generic.c) and nf_nat (nf_nat_core.c) that act_ct uses.
///
/// - A connection is one entry with its two tuples (original and reply); the hash table maps
///   each tuple, in its zone, to the entry and the direction.
/// - `track` is nf_conntrack_in: a packet finds its entry (established, or reply) or gets a new,
///   unconfirmed one — held in a small ring of scratch slots, as the kernel keeps an
///   unconfirmed conntrack only on its skb. `confirm` (act_ct's commit) puts it in the table.
/// - TCP follows the kernel's state machine in outline (SYN_SENT … TIME_WAIT, RST to CLOSE,
///   tcp_loose pick-up of established streams), with the kernel's default timeouts; its
///   window tracking is not done. UDP: 30 s, 120 s once replied. ICMP: 30 s, requests only
///   start a connection; errors are RELATED to the connection they quote. Others: 600 s.
/// - NAT (`setupNAT`) binds the reply tuple once per connection, unique in the table, with
///   the address picked by a hash of the tuple over the range and the port kept when it is
///   free (else the next free one in the range); `natTarget` is what a packet must carry.
/// - Expired entries go when a lookup meets them and by a bounded sweep on each use (the
///   kernel's gc worker); a full table evicts an unassured entry near the sweep or refuses.
///
/// Memory: entries sit in one allocation made on first use (`maxEntries` plus the scratch
/// ring); the tuple index is reserved to size then. Nothing is allocated per packet.
public final class Conntrack {
    public struct Entry {
        public var orig = CTTuple(), reply = CTTuple()
        public var status: UInt32 = 0
        public var mark: UInt32 = 0
        public var labelHi: UInt64 = 0, labelLo: UInt64 = 0
        /// Nanoseconds of the datapath clock.
        public var expires: UInt64 = 0
        public var tcpState: UInt8 = 0
        var gen: UInt16 = 0
        var used = false
    }

    // IPS_* status bits.
    public static let seenReply: UInt32 = 1 << 1, assured: UInt32 = 1 << 2, confirmed: UInt32 = 1 << 3
    public static let srcNat: UInt32 = 1 << 4, dstNat: UInt32 = 1 << 5
    public static let srcNatDone: UInt32 = 1 << 7, dstNatDone: UInt32 = 1 << 8

    // enum ip_conntrack_info.
    public static let established: UInt8 = 0, related: UInt8 = 1, new: UInt8 = 2, isReply: UInt8 = 3

    // TCP_CONNTRACK_*.
    public enum TCPState: UInt8 {
        case none = 0, synSent, synRecv, established, finWait, closeWait, lastAck, timeWait, close, synSent2
        public var name: String {
            ["NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"][Int(rawValue)]
        }
        /// nf_conntrack_tcp_timeout_* defaults, seconds.
        var timeout: UInt64 {
            switch self {
            case .synSent: 120
            case .synRecv: 60
            case .established: 432_000
            case .finWait: 120
            case .closeWait: 60
            case .lastAck: 30
            case .timeWait: 120
            case .close: 10
            case .synSent2: 120
            case .none: 30
            }
        }
    }

    static let scratchSlots = 256
    static let second: UInt64 = 1_000_000_000
    /// nf_conntrack_max for this table (the kernel sizes it by memory; 65536 here).
    public let maxEntries: Int
    var entries: UnsafeMutablePointer<Entry>? = nil
    /// The tuple hash (nf_conntrack_hash): chains of nodes — a node is an entry's slot << 1 |
    /// direction, stored plus one (0 ends a chain) — in `buckets`, linked through `links`. A
    /// seeded multiply-xorshift hash (the kernel: jhash with a random seed), no allocation.
    var buckets: UnsafeMutablePointer<UInt32>? = nil
    var links: UnsafeMutablePointer<UInt32>? = nil
    var bucketMask = 0
    let seed = UInt64.random(in: 0...UInt64.max) | 1
    var freeSlots: [UInt32] = []
    var scratchNext = 0
    var sweep = 0
    public private(set) var count = 0

    /// conntrack -S: lookups that found an entry, invalid packets, entries confirmed,
    /// confirms that failed (table full, clash), entries evicted early, entries expired.
    public private(set) var found: UInt64 = 0, invalid: UInt64 = 0, inserted: UInt64 = 0
    public private(set) var insertFailed: UInt64 = 0, earlyDrop: UInt64 = 0, expired: UInt64 = 0

    public init(maxEntries: Int = 65536) {
        precondition(maxEntries > 0 && maxEntries + Self.scratchSlots < 1 << 20)
        self.maxEntries = maxEntries
    }
    deinit { entries?.deallocate(); buckets?.deallocate(); links?.deallocate(); fragments?.deallocate() }

    @inline(__always) var total: Int { maxEntries + Self.scratchSlots }

    func prepare() -> UnsafeMutablePointer<Entry> {
        if let e = entries { return e }
        let e = UnsafeMutablePointer<Entry>.allocate(capacity: total)
        e.initialize(repeating: Entry(), count: total)
        entries = e
        var nb = 1
        while nb < 2 * maxEntries { nb <<= 1 }
        bucketMask = nb - 1
        buckets = .allocate(capacity: nb)
        buckets!.initialize(repeating: 0, count: nb)
        links = .allocate(capacity: 2 * total)
        links!.initialize(repeating: 0, count: 2 * total)
        freeSlots.reserveCapacity(maxEntries)
        for s in stride(from: total - 1, through: Self.scratchSlots, by: -1) { freeSlots.append(UInt32(s)) }
        return e
    }

    // MARK: references

    /// A packet's reference: the slot plus one in the low 20 bits, the slot's generation above
    /// (a slot reused since is no longer the packet's connection).
    @inline(__always) static func ref(_ slot: Int, _ gen: UInt16) -> UInt32 { UInt32(gen & 0xFFF) << 20 | UInt32(slot + 1) }

    /// The entry a packet refers to, if it is still that connection.
    @inline(__always) public func entry(_ ref: UInt32) -> UnsafeMutablePointer<Entry>? {
        guard ref != 0, let e = entries else { return nil }
        let slot = Int(ref & 0xFFFFF) - 1
        guard slot < total else { return nil }
        let p = e + slot
        return p.pointee.used && UInt32(p.pointee.gen & 0xFFF) == ref >> 20 ? p : nil
    }

    @inline(__always) func isConfirmed(_ ref: UInt32) -> Bool { Int(ref & 0xFFFFF) - 1 >= Self.scratchSlots }

    // MARK: nf_conntrack_in

    /// The packet's connection and its ctinfo, or nil when conntrack finds it invalid (no
    /// entry is attached then).
    public func track(_ f: CTFrame, now: UInt64) -> (ref: UInt32, info: UInt8)? {
        _ = prepare()
        gc(now: now, budget: 64)
        if f.fragment && !f.fragFirst {
            // A later fragment has no ports: it belongs to the connection its first fragment
            // was tracked in (the kernel reassembles first; see `fragments`).
            guard let c = fragmentOf(f, now: now) else { invalid &+= 1; return nil }
            return c
        }
        guard let r = trackWhole(f, now: now) else { return nil }
        if f.fragment { rememberFragment(f, r, now: now) }
        return r
    }

    /// The first fragments seen lately, by (zone, family, protocol, addresses, identification):
    /// the connection and ctinfo a datagram's later fragments take. Direct-mapped, 1024 slots,
    /// 30 s (the kernel's ipfrag_time) — no allocation.
    struct FragmentSlot {
        var key = CTTuple(), id: UInt32 = 0
        /// The first fragment's whole tuple (ports included), and what it was given.
        var tuple = CTTuple()
        var ref: UInt32 = 0, info: UInt8 = 0
        var expires: UInt64 = 0
    }
    var fragments: UnsafeMutablePointer<FragmentSlot>? = nil
    static let fragmentSlots = 1024

    func fragmentKey(_ f: CTFrame) -> (CTTuple, Int) {
        var k = f.tuple
        k.sport = 0; k.dport = 0
        return (k, (bucket(k) ^ Int(f.fragID &* 0x9E37_79B1)) & (Self.fragmentSlots - 1))
    }

    func rememberFragment(_ f: CTFrame, _ r: (ref: UInt32, info: UInt8), now: UInt64) {
        if fragments == nil {
            fragments = .allocate(capacity: Self.fragmentSlots)
            fragments!.initialize(repeating: FragmentSlot(), count: Self.fragmentSlots)
        }
        let (k, i) = fragmentKey(f)
        fragments![i] = FragmentSlot(key: k, id: f.fragID, tuple: f.tuple, ref: r.ref, info: r.info, expires: now &+ 30 &* Self.second)
    }

    func fragmentOf(_ f: CTFrame, now: UInt64) -> (ref: UInt32, info: UInt8)? {
        guard let fr = fragments else { return nil }
        let (k, i) = fragmentKey(f)
        let slot = fr[i]
        guard slot.expires > now, slot.id == f.fragID, slot.key == k else { return nil }
        // Committed since (or found by then): the connection in the table, as it is now.
        if let v = lookup(slot.tuple, now: now), let e = entries {
            let s = Int(v >> 1), reply = v & 1 == 1
            return (Self.ref(s, e[s].gen), reply ? Self.established + Self.isReply : (e[s].status & Self.seenReply != 0 ? Self.established : Self.new))
        }
        return entry(slot.ref) != nil ? (slot.ref, slot.info) : nil
    }

    /// nf_conntrack_in for a packet with its transport header.
    func trackWhole(_ f: CTFrame, now: UInt64) -> (ref: UInt32, info: UInt8)? {
        let e = prepare()
        if let q = f.errorQuotes {
            // icmp_error_message: the quoted packet's connection, seen from the error's side.
            guard let inv = q.inverted(), let v = lookup(inv, now: now) else { invalid &+= 1; return nil }
            found &+= 1
            let slot = Int(v >> 1)
            return (Self.ref(slot, e[slot].gen), v & 1 == 1 ? Self.related + Self.isReply : Self.related)
        }
        if let v = lookup(f.tuple, now: now) {
            let slot = Int(v >> 1), reply = v & 1 == 1
            let p = e + slot
            if f.tuple.proto == IPProto.tcp {
                switch tcpPacket(p, reply: reply, flags: f.tcpFlags) {
                case .invalid: invalid &+= 1; return nil
                case .reopen:
                    // A new SYN on a closed connection: the old entry goes (tcp_packet's
                    // TCP_CONNTRACK_IGNORE / nf_ct_kill on reopen), the SYN starts anew.
                    remove(slot)
                    return newEntry(f, now: now)
                case .ok: break
                }
            }
            if reply { p.pointee.status |= Self.seenReply }
            refresh(p, now: now)
            found &+= 1
            let info = reply ? Self.established + Self.isReply : (p.pointee.status & Self.seenReply != 0 ? Self.established : Self.new)
            return (Self.ref(slot, p.pointee.gen), info)
        }
        return newEntry(f, now: now)
    }

    func newEntry(_ f: CTFrame, now: UInt64) -> (ref: UInt32, info: UInt8)? {
        let e = prepare()
        let t = f.tuple
        var state = TCPState.none
        switch t.proto {
        case IPProto.tcp:
            // tcp_new: a SYN opens; with tcp_loose (the default) an ACK picks an established
            // stream up; anything else is invalid.
            let syn = f.tcpFlags & 0x02 != 0, ack = f.tcpFlags & 0x10 != 0, rst = f.tcpFlags & 0x04 != 0, fin = f.tcpFlags & 0x01 != 0
            if rst || (syn && fin) { invalid &+= 1; return nil }
            if syn && !ack { state = .synSent } else if ack && !syn { state = .established } else { invalid &+= 1; return nil }
        case IPProto.icmp, IPProto.icmpv6:
            // icmp_new: only a request starts a connection.
            guard isRequest(t) else { invalid &+= 1; return nil }
        default: break
        }
        guard let reply = t.inverted() else { invalid &+= 1; return nil }
        let slot = scratchNext
        scratchNext = (scratchNext + 1) % Self.scratchSlots
        let p = e + slot
        let gen = p.pointee.gen &+ 1
        p.pointee = Entry()
        p.pointee.gen = gen
        p.pointee.used = true
        p.pointee.orig = t
        p.pointee.reply = reply
        p.pointee.tcpState = state.rawValue
        refresh(p, now: now)
        return (Self.ref(slot, gen), Self.new)
    }

    @inline(__always) func isRequest(_ t: CTTuple) -> Bool {
        let type = UInt8(t.dport >> 8)
        return t.proto == IPProto.icmpv6 ? (type == 128 || type == 139) : (type == 8 || type == 13 || type == 15 || type == 17)
    }

    @inline(__always) func bucket(_ t: CTTuple) -> Int {
        var h = seed ^ t.srcLo &* 0x9E37_79B9_7F4A_7C15 ^ t.dstLo &* 0xC2B2_AE3D_27D4_EB4F
        h ^= (t.srcHi &+ t.dstHi &* 31) &* 0x1656_67B1_9E37_79F9
        h ^= UInt64(t.sport) << 48 | UInt64(t.dport) << 32 | UInt64(t.proto) << 24 | UInt64(t.family) << 16 | UInt64(t.zone)
        h ^= h >> 29; h &*= 0xBF58_476D_1CE4_E5B9; h ^= h >> 32
        return Int(truncatingIfNeeded: h) & bucketMask
    }

    @inline(__always) func tuple(_ node: Int, _ e: UnsafeMutablePointer<Entry>) -> CTTuple {
        node & 1 == 0 ? e[node >> 1].orig : e[node >> 1].reply
    }

    /// The node (slot << 1 | direction) with this tuple, if any.
    @inline(__always) func indexed(_ t: CTTuple) -> UInt32? {
        guard let e = entries, let b = buckets, let l = links else { return nil }
        var n = b[bucket(t)]
        while n != 0 {
            let node = Int(n) - 1
            if tuple(node, e) == t { return UInt32(node) }
            n = l[node]
        }
        return nil
    }

    func link(_ node: Int) {
        guard let e = entries, let b = buckets, let l = links else { return }
        let h = bucket(tuple(node, e))
        l[node] = b[h]
        b[h] = UInt32(node + 1)
    }

    func unlink(_ node: Int) {
        guard let e = entries, let b = buckets, let l = links else { return }
        let h = bucket(tuple(node, e))
        if b[h] == UInt32(node + 1) { b[h] = l[node]; return }
        var n = b[h]
        while n != 0 {
            let prev = Int(n) - 1
            if l[prev] == UInt32(node + 1) { l[prev] = l[node]; return }
            n = l[prev]
        }
    }

    /// The entry a tuple names (slot << 1 | direction), expired entries removed on the way.
    func lookup(_ t: CTTuple, now: UInt64) -> UInt32? {
        guard let v = indexed(t), let e = entries else { return nil }
        let slot = Int(v >> 1)
        if e[slot].expires <= now { remove(slot); expired &+= 1; return nil }
        return v
    }

    /// Any entry with this tuple in either direction (nf_conntrack_find_get), for connmark and
    /// ctinfo, which look a packet up without tracking it.
    public func find(_ t: CTTuple, now: UInt64) -> UnsafeMutablePointer<Entry>? {
        guard let v = lookup(t, now: now), let e = entries else { return nil }
        return e + Int(v >> 1)
    }

    func refresh(_ p: UnsafeMutablePointer<Entry>, now: UInt64) {
        let s: UInt64
        switch p.pointee.orig.proto {
        case IPProto.tcp: s = TCPState(rawValue: p.pointee.tcpState)?.timeout ?? 30
        case IPProto.udp, 136:
            if p.pointee.status & Self.seenReply != 0 { p.pointee.status |= Self.assured; s = 120 } else { s = 30 }
        case IPProto.icmp, IPProto.icmpv6: s = 30
        default: s = 600
        }
        p.pointee.expires = now &+ s &* Self.second
    }

    enum TCPVerdict { case ok, invalid, reopen }

    /// tcp_packet's state change for one segment (the kernel's tcp_conntracks table in
    /// outline: SYN, SYN/ACK, FIN, ACK and RST in each direction).
    func tcpPacket(_ p: UnsafeMutablePointer<Entry>, reply: Bool, flags: UInt8) -> TCPVerdict {
        let syn = flags & 0x02 != 0, ack = flags & 0x10 != 0, rst = flags & 0x04 != 0, fin = flags & 0x01 != 0
        if syn && fin { return .invalid }
        guard let old = TCPState(rawValue: p.pointee.tcpState) else { return .invalid }
        var new = old
        if rst {
            new = .close
        } else if syn && !ack {
            switch old {
            case .synSent, .synSent2: new = reply ? .synSent2 : .synSent
            case .timeWait, .close: if !reply { return .reopen }; return .invalid
            case .none: new = .synSent
            default: if reply { return .invalid }        // a SYN inside a live connection is ignored
            }
        } else if syn && ack {
            switch old {
            case .synSent: if reply { new = .synRecv } else { return .invalid }
            case .synSent2: new = .synRecv
            case .synRecv, .established: break
            default: return .invalid
            }
        } else if fin {
            switch old {
            case .established, .synRecv: new = .finWait; p.pointee.status |= reply ? 1 << 30 : 1 << 29     // who sent the first FIN
            case .finWait:
                let firstFromReply = p.pointee.status & (1 << 30) != 0
                if firstFromReply != reply { new = .lastAck }
            case .closeWait: new = .lastAck
            default: break
            }
        } else if ack {
            switch old {
            case .synRecv: if !reply { new = .established; p.pointee.status |= Self.assured }
            case .synSent2: new = .synRecv
            case .lastAck: new = .timeWait
            case .finWait:
                let firstFromReply = p.pointee.status & (1 << 30) != 0
                if firstFromReply != reply { new = .closeWait }
            default: break
            }
        }
        if old == .established && new == .established && reply { p.pointee.status |= Self.assured }
        p.pointee.tcpState = new.rawValue
        return .ok
    }

    // MARK: nf_conntrack_confirm

    /// Puts an unconfirmed connection in the table. Returns the reference the packet keeps
    /// (the entry's new slot), or nil when the table is full and nothing can be evicted.
    public func confirm(_ ref: UInt32, now: UInt64) -> UInt32? {
        guard let p = entry(ref) else { return nil }
        if isConfirmed(ref) { return ref }
        let e = prepare()
        // A clash: the same connection was confirmed meanwhile — the packet takes that one.
        if let v = lookup(p.pointee.orig, now: now) ?? lookup(p.pointee.reply, now: now) {
            let slot = Int(v >> 1)
            insertFailed &+= 1
            return Self.ref(slot, e[slot].gen)
        }
        if freeSlots.isEmpty { evictOne(now: now) }
        guard let slot = freeSlots.popLast().map(Int.init) else { insertFailed &+= 1; return nil }
        let gen = e[slot].gen &+ 1
        e[slot] = p.pointee
        e[slot].gen = gen
        e[slot].status |= Self.confirmed
        p.pointee.used = false
        link(slot << 1)
        link(slot << 1 | 1)
        count += 1
        inserted &+= 1
        return Self.ref(slot, gen)
    }

    /// Deletes a connection (nf_ct_kill, or ageing).
    func remove(_ slot: Int) {
        guard let e = entries, e[slot].used else { return }
        e[slot].used = false
        guard slot >= Self.scratchSlots else { return }
        unlink(slot << 1)
        unlink(slot << 1 | 1)
        freeSlots.append(UInt32(slot))
        count -= 1
    }

    public func kill(_ ref: UInt32) {
        guard entry(ref) != nil else { return }
        remove(Int(ref & 0xFFFFF) - 1)
    }

    /// gc_worker in small steps: every millisecond of the datapath clock, `budget` slots from
    /// where the last sweep stopped (a full pass over 65 536 slots in about a second at 64
    /// per step) — not per packet, which would walk the whole table through the cache.
    var nextSweep: UInt64 = 0
    func gc(now: UInt64, budget: Int) {
        guard now >= nextSweep, let e = entries, count > 0 else { return }
        nextSweep = now &+ 1_000_000
        for _ in 0..<budget {
            sweep += 1
            if sweep >= total { sweep = Self.scratchSlots }
            if sweep < Self.scratchSlots { sweep = Self.scratchSlots }
            if e[sweep].used && e[sweep].expires <= now { remove(sweep); expired &+= 1 }
        }
    }

    /// early_drop: a full table evicts an expired or unassured entry among the next 64 slots
    /// (the kernel looks at one hash bucket chain); none: the new connection is refused.
    func evictOne(now: UInt64) {
        guard let e = entries else { return }
        var s = sweep
        for _ in 0..<64 {
            s += 1
            if s >= total { s = Self.scratchSlots }
            if e[s].used && (e[s].expires <= now || e[s].status & Self.assured == 0) {
                remove(s)
                earlyDrop &+= 1
                return
            }
        }
    }

    // MARK: nf_nat

    /// A NAT range (struct nf_nat_range2): addresses (IPv4 in the low words) and ports, each
    /// present or not.
    public struct NATRange: Equatable, Sendable {
        public var hasAddr = false, v4 = true
        public var minHi: UInt64 = 0, minLo: UInt64 = 0, maxHi: UInt64 = 0, maxLo: UInt64 = 0
        public var hasPorts = false
        public var minPort: UInt16 = 0, maxPort: UInt16 = 0
        public init() {}
    }

    /// nf_nat_setup_info for one manipulation (source or destination) of a connection not yet
    /// confirmed and not yet translated that way: picks the translated tuple and rebinds the
    /// reply tuple to it. False when no unique tuple is left in the range (the packet drops).
    public func setupNAT(_ ref: UInt32, source: Bool, range: NATRange, now: UInt64) -> Bool {
        guard let p = entry(ref) else { return false }
        let done = source ? Self.srcNatDone : Self.dstNatDone
        if p.pointee.status & done != 0 { return true }
        // Confirmed connections are bound already (or stay untranslated): nf_nat_initialized.
        if isConfirmed(ref) { return true }
        let o = p.pointee.orig
        // The (inverted) original tuple to translate: for SNAT its source, for DNAT its
        // destination; the reply tuple is then its inverse.
        var want = o
        var h = UInt64(truncatingIfNeeded: o.srcLo &* 0x9E37_79B9_7F4A_7C15 ^ o.dstLo &* 0xC2B2_AE3D_27D4_EB4F ^ o.srcHi ^ o.dstHi)
        h ^= h >> 29
        if range.hasAddr && range.v4 == (o.family == 4) {
            let span = range.maxLo >= range.minLo && range.maxHi == range.minHi ? range.maxLo - range.minLo : 0
            let lo = range.minLo &+ (span == 0 ? 0 : h % (span &+ 1))
            if source { want.srcHi = range.minHi; want.srcLo = lo } else { want.dstHi = range.minHi; want.dstLo = lo }
        }
        let hasPorts = o.proto == IPProto.tcp || o.proto == IPProto.udp || o.proto == 136 || o.proto == 132 || o.proto == 33
        let current = source ? o.sport : o.dport
        func free(_ t: CTTuple) -> Bool { t.inverted().map { indexed($0) == nil } ?? false }
        func with(_ port: UInt16) -> CTTuple { var t = want; if source { t.sport = port } else { t.dport = port }; return t }
        var chosen: CTTuple? = nil
        if hasPorts && range.hasPorts {
            let lo = range.minPort, hi = max(range.maxPort, range.minPort)
            if (lo...hi).contains(current) && free(with(current)) { chosen = with(current) } else {
                let span = UInt32(hi - lo) + 1
                let start = UInt32(h % UInt64(span))
                for k in 0..<span where chosen == nil {
                    let port = lo &+ UInt16((start + k) % span)
                    if free(with(port)) { chosen = with(port) }
                }
            }
        } else if free(want) {
            chosen = want
        } else if hasPorts {
            // nf_nat_l4proto_unique_tuple without a range: the ports from 1024 up (for a
            // destination clash, the kernel alters the source port instead).
            for port in UInt16(1024)...UInt16.max where chosen == nil {
                var t = want
                t.sport = port
                if free(t) { chosen = t }
            }
        }
        guard let c = chosen, let reply = c.inverted() else { insertFailed &+= 1; return false }
        p.pointee.reply = reply
        if c.srcHi != o.srcHi || c.srcLo != o.srcLo || c.sport != o.sport { p.pointee.status |= Self.srcNat }
        if c.dstHi != o.dstHi || c.dstLo != o.dstLo || c.dport != o.dport { p.pointee.status |= Self.dstNat }
        p.pointee.status |= done
        return true
    }

    /// What a packet of this connection must carry after NAT, in its direction: the inverse of
    /// the other direction's tuple. Nil when the connection is not translated.
    public func natTarget(_ ref: UInt32, reply: Bool) -> CTTuple? {
        guard let p = entry(ref), p.pointee.status & (Self.srcNat | Self.dstNat) != 0 else { return nil }
        return (reply ? p.pointee.orig : p.pointee.reply).inverted()
    }

    // MARK: listing

    /// /proc/net/nf_conntrack's lines for the confirmed entries (ages relative to `now`).
    public func lines(now: UInt64) -> [String] {
        guard let e = entries else { return [] }
        var out: [String] = []
        for s in Self.scratchSlots..<total where e[s].used && e[s].expires > now {
            out.append(Self.line(e[s], now: now))
        }
        return out
    }

    static func addr(_ hi: UInt64, _ lo: UInt64, v4: Bool) -> String {
        if v4 { return CommandRunner.ipString(UInt32(truncatingIfNeeded: lo)) }
        return CommandRunner.ip6String(UInt128(hi) << 64 | UInt128(lo))
    }

    static func line(_ e: Entry, now: UInt64) -> String {
        let v4 = e.orig.family == 4
        let pname: String
        switch e.orig.proto {
        case IPProto.tcp: pname = "tcp"
        case IPProto.udp: pname = "udp"
        case IPProto.icmp: pname = "icmp"
        case IPProto.icmpv6: pname = "icmpv6"
        default: pname = "unknown"
        }
        func tuple(_ t: CTTuple) -> String {
            var s = "src=\(addr(t.srcHi, t.srcLo, v4: v4)) dst=\(addr(t.dstHi, t.dstLo, v4: v4)) "
            switch t.proto {
            case IPProto.icmp, IPProto.icmpv6: s += "type=\(t.dport >> 8) code=\(t.dport & 0xFF) id=\(t.sport) "
            case IPProto.tcp, IPProto.udp, 136, 132, 33: s += "sport=\(t.sport) dport=\(t.dport) "
            default: break
            }
            return s
        }
        // ct_seq_show: "%-8s %u %-8s %u %ld ".
        let padded = pname + String(repeating: " ", count: max(0, 8 - pname.count))
        var s = "\(v4 ? "ipv4     2" : "ipv6     10") \(padded) \(e.orig.proto) \((e.expires - now) / Self.second) "
        if e.orig.proto == IPProto.tcp { s += (TCPState(rawValue: e.tcpState)?.name ?? "?") + " " }
        s += tuple(e.orig)
        if e.status & Self.seenReply == 0 { s += "[UNREPLIED] " }
        s += tuple(e.reply)
        if e.status & Self.assured != 0 { s += "[ASSURED] " }
        s += "mark=\(e.mark) "
        if e.orig.zone != 0 { s += "zone=\(e.orig.zone) " }
        return s + "use=1"
    }
}

// MARK: - The actions

/// act_ct's parameters (struct tcf_ct_params): TCA_CT_ACT_* bits, zone, the mark and labels a
/// commit sets (under their masks), the NAT range. A value with no references in it: an action
/// is read per packet, and a class here would cost a retain and a release each time.
struct CTParams: Equatable {
    static let commit: UInt16 = 1, force: UInt16 = 2, clear: UInt16 = 4, nat: UInt16 = 8, natSrc: UInt16 = 16, natDst: UInt16 = 32
    let flags: UInt16
    let zone: UInt16
    let mark: UInt32, markMask: UInt32
    let labelHi: UInt64, labelLo: UInt64, labelMaskHi: UInt64, labelMaskLo: UInt64
    let range: Conntrack.NATRange
    init(flags: UInt16, zone: UInt16 = 0, mark: UInt32 = 0, markMask: UInt32 = 0, labelHi: UInt64 = 0, labelLo: UInt64 = 0,
         labelMaskHi: UInt64 = 0, labelMaskLo: UInt64 = 0, range: Conntrack.NATRange = .init()) {
        self.flags = flags; self.zone = zone; self.mark = mark; self.markMask = markMask
        self.labelHi = labelHi; self.labelLo = labelLo; self.labelMaskHi = labelMaskHi; self.labelMaskLo = labelMaskLo
        self.range = range
    }
    var hasLabels: Bool { labelMaskHi != 0 || labelMaskLo != 0 }

    /// print_ct's words after "ct" (m_ct.c): clear; or commit, force, mark, zone, label, nat.
    var text: String {
        if flags & Self.clear != 0 { return " clear" }
        var s = ""
        if flags & Self.commit != 0 { s += " commit" }
        if flags & Self.force != 0 { s += " force" }
        if markMask != 0 { s += " mark \(mark)" + (markMask == .max ? "" : cFormat("/%#x", markMask)) }
        s += " zone \(zone)"
        if hasLabels {
            let full = labelMaskHi == .max && labelMaskLo == .max
            s += " label " + cFormat("%016llx%016llx", labelHi, labelLo) + (full ? "" : cFormat("/%016llx%016llx", labelMaskHi, labelMaskLo))
        }
        if flags & Self.nat != 0 {
            s += " nat"
            if flags & (Self.natSrc | Self.natDst) != 0 {
                s += flags & Self.natSrc != 0 ? " src" : " dst"
                let r = range
                if r.hasAddr {
                    let a = Conntrack.addr(r.minHi, r.minLo, v4: r.v4), b = Conntrack.addr(r.maxHi, r.maxLo, v4: r.v4)
                    s += " addr \(a)" + (a == b ? "" : "-\(b)")
                }
                if r.hasPorts { s += " port \(r.minPort)" + (r.maxPort == r.minPort ? "" : "-\(r.maxPort)") }
            }
        }
        return s
    }
}

/// act_ctinfo's parameters: zone, the DSCP restore (mask, its shift, the state mask), the
/// mark copy (its mask). Counters for dscp set/error and cpmark set live in ActionCounters.
struct CtinfoParams: Equatable {
    let zone: UInt16
    let dscpMask: UInt32?, dscpShift: UInt32, dscpStateMask: UInt32
    let cpmarkMask: UInt32?
    init(zone: UInt16, dscpMask: UInt32?, dscpStateMask: UInt32, cpmarkMask: UInt32?) {
        self.zone = zone; self.dscpMask = dscpMask; self.dscpStateMask = dscpStateMask; self.cpmarkMask = cpmarkMask
        dscpShift = UInt32(dscpMask.map { $0 == 0 ? 0 : $0.trailingZeroBitCount } ?? 0)
    }
}

enum CTAction {
    /// The frame's network header, for the families conntrack knows.
    @inline(__always)
    static func network(_ pool: PacketPool, _ idx: UInt32) -> (d: UnsafeMutableRawPointer, len: Int, proto: UInt16, l3: Int)? {
        let m = pool.metas[Int(idx)]
        let d = pool.data(Packet(index: idx))
        let len = Int(m.length)
        guard let (proto, l3) = HeaderEdit.network(d, len), proto == EtherType.ipv4 || proto == EtherType.ipv6 else { return nil }
        return (d, len, proto, l3)
    }

    /// tcf_ct_act.
    /// False: the packet drops (not IPv4/IPv6, no NAT binding left, no room to confirm).
    static func ct(_ p: CTParams, _ idx: inout UInt32, pool: PacketPool, now: UInt64) -> Bool {
        let table = pool.conntrack
        if p.flags & CTParams.clear != 0 {
            pool.metas[Int(idx)].ctRef = 0
            pool.metas[Int(idx)].ctInfo = 0
            pool.metas[Int(idx)].ctFlags = 0
            return true
        }
        guard let net = network(pool, idx) else { return false }      // NFPROTO_UNSPEC: drop
        let m = pool.metas + Int(idx)
        var ref: UInt32 = 0, info: UInt8 = 0
        var cached = false
        // tcf_ct_skb_nfct_cached: the packet's connection, if it is in this zone (and, with
        // force, in the original direction — else a confirmed one is killed).
        if let e = table.entry(m.pointee.ctRef), e.pointee.orig.zone == p.zone {
            if p.flags & CTParams.force != 0 && m.pointee.ctInfo >= Conntrack.isReply {
                if table.isConfirmed(m.pointee.ctRef) { table.kill(m.pointee.ctRef) }
            } else {
                cached = true
                ref = m.pointee.ctRef; info = m.pointee.ctInfo
            }
        }
        m.pointee.ctRef = 0
        m.pointee.ctInfo = 0
        guard let f = ConntrackWire.parse(net.d, net.len, l3: net.l3, etherType: net.proto, zone: p.zone) else {
            // nf_conntrack_in on a header that lies: no connection (flower sees +trk+inv).
            out(m, p); return true
        }
        if !cached {
            guard let t = table.track(f, now: now) else { out(m, p); return true }
            ref = t.ref; info = t.info
        }
        if p.flags & CTParams.nat != 0 {
            // tcf_ct_act_nat / nf_ct_nat: a new or related connection gets its binding, then
            // every packet is translated as its connection says.
            if (info == Conntrack.new || info == Conntrack.related) && p.flags & (CTParams.natSrc | CTParams.natDst) != 0 {
                guard table.setupNAT(ref, source: p.flags & CTParams.natSrc != 0, range: p.range, now: now) else { return false }
            }
            if let target = table.natTarget(ref, reply: info >= Conntrack.isReply) {
                guard let w = pool.writableIndex(idx) else { return false }
                idx = w
                let mm = pool.metas + Int(w)
                let d = pool.data(Packet(index: w))
                let partial = mm.pointee.csum == .partial
                guard ConntrackWire.rewrite(d, Int(mm.pointee.length), f, to: target, partial: partial) else { return false }
                if target.srcLo != f.tuple.srcLo || target.srcHi != f.tuple.srcHi || target.sport != f.tuple.sport { mm.pointee.ctFlags |= PacketMeta.postSNAT }
                if target.dstLo != f.tuple.dstLo || target.dstHi != f.tuple.dstHi || target.dport != f.tuple.dport { mm.pointee.ctFlags |= PacketMeta.postDNAT }
            }
        }
        let mm = pool.metas + Int(idx)
        if p.flags & CTParams.commit != 0 {
            if let e = table.entry(ref) {
                // tcf_ct_act_set_mark / _labels: under their masks.
                if p.markMask != 0 { e.pointee.mark = p.mark | (e.pointee.mark & ~p.markMask) }
                if p.hasLabels {
                    e.pointee.labelHi = (e.pointee.labelHi & ~p.labelMaskHi) | (p.labelHi & p.labelMaskHi)
                    e.pointee.labelLo = (e.pointee.labelLo & ~p.labelMaskLo) | (p.labelLo & p.labelMaskLo)
                }
            }
            guard let c = table.confirm(ref, now: now) else { return false }
            ref = c
        }
        mm.pointee.ctRef = ref
        mm.pointee.ctInfo = info
        out(mm, p); return true
    }

    @inline(__always)
    static func out(_ m: UnsafeMutablePointer<PacketMeta>, _ p: CTParams) {
        // out_push: tc_skb_cb's post_ct and zone.
        m.pointee.ctFlags |= PacketMeta.postCT
        m.pointee.ctZone = p.zone
    }

    /// The packet's connection, else the one its tuple finds in `zone` (connmark and ctinfo
    /// look harder when the packet has none, as on ingress before any ct).
    static func lookup(_ pool: PacketPool, _ idx: UInt32, zone: UInt16, now: UInt64,
                       net: (d: UnsafeMutableRawPointer, len: Int, proto: UInt16, l3: Int)) -> UnsafeMutablePointer<Conntrack.Entry>? {
        if let e = pool.conntrack.entry(pool.metas[Int(idx)].ctRef) { return e }
        guard let f = ConntrackWire.parse(net.d, net.len, l3: net.l3, etherType: net.proto, zone: zone), !f.fragment || f.fragFirst else { return nil }
        return pool.conntrack.find(f.tuple, now: now)
    }

    /// tcf_connmark_act: the connection's mark to the packet, counted as an overlimit.
    static func connmark(zone: UInt16, _ idx: UInt32, pool: PacketPool, now: UInt64, counters: UnsafeMutablePointer<ActionCounters>?) {
        guard let net = network(pool, idx), let e = lookup(pool, idx, zone: zone, now: now, net: net) else { return }
        pool.metas[Int(idx)].mark = e.pointee.mark
        if let c = counters { c.pointee.overlimits &+= 1 }
    }

    /// tcf_ctinfo_act: DSCP from the connection's mark (when its state bits allow), and the
    /// mark copied under a mask.
    static func ctinfo(_ p: CtinfoParams, _ idx: inout UInt32, pool: PacketPool, now: UInt64, counters: UnsafeMutablePointer<ActionCounters>?) {
        guard let net = network(pool, idx), let e = lookup(pool, idx, zone: p.zone, now: now, net: net) else { return }
        let mark = e.pointee.mark
        if let dm = p.dscpMask, p.dscpStateMask == 0 || mark & p.dscpStateMask != 0 {
            let newDSCP = UInt8(truncatingIfNeeded: (mark & dm) >> p.dscpShift) & 0x3F
            if let ds = HeaderEdit.dsfield(net.d, net.len), ds >> 2 != newDSCP {
                if let w = pool.writableIndex(idx) {
                    idx = w
                    HeaderEdit.setDSCP(pool.data(Packet(index: w)), Int(pool.metas[Int(w)].length), newDSCP)
                    if let c = counters { c.pointee.dscpSet &+= 1 }
                } else if let c = counters { c.pointee.dscpError &+= 1 }
            }
        }
        if let cm = p.cpmarkMask {
            if let c = counters { c.pointee.cpmarkSet &+= 1 }
            pool.metas[Int(idx)].mark = mark & cm
        }
    }

    /// skb_flow_dissect_ct: flower's ct_state bits, zone, mark and labels of a packet.
    static func flowKey(_ pool: PacketPool, _ m: PacketMeta) -> (state: UInt16, zone: UInt16, mark: UInt32, labelHi: UInt64, labelLo: UInt64) {
        guard let e = pool.conntrack.entry(m.ctRef) else {
            // No connection: untracked (0), or after act_ct tracked and invalid.
            return m.ctFlags & PacketMeta.postCT != 0 ? (8 | 16, m.ctZone, 0, 0, 0) : (0, 0, 0, 0, 0)
        }
        var s: UInt16 = 8
        switch m.ctInfo {
        case Conntrack.new: s |= 1
        case Conntrack.established: s |= 2
        case Conntrack.related: s |= 4
        case Conntrack.established + Conntrack.isReply: s |= 2 | 32
        case Conntrack.related + Conntrack.isReply: s |= 4 | 32
        default: break
        }
        return (s, e.pointee.orig.zone, e.pointee.mark, e.pointee.labelHi, e.pointee.labelLo)
    }
}
