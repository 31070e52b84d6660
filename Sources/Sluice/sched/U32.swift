/// cls_u32 with its hash tables, as the kernel builds and walks them.
///
/// A block's u32 state (tc_u_common) is a list of hash tables: each instance (chain, priority)
/// has a root table of one bucket, numbered by gen_new_htid (800:, 801:, …), and `divisor N`
/// makes more, of N buckets (a power of two up to 256). A key node (knode) lives in one bucket
/// of one table; its handle is table:bucket:node. Classification starts in the root's bucket
/// 0 and tries its knodes in node order: a knode whose keys match and that links to a table
/// hashes a word of the packet (`hashkey mask M at O`) to a bucket there and continues in it
/// (at most 8 deep), optionally moving its offset to the next header (`offset … eat`); when
/// that finds nothing, or without a link, a terminal knode (one with a class or actions)
/// classifies the packet. A key that reads past the packet stops the whole walk, as
/// skb_header_pointer failing does in u32_classify.
///
/// Knodes are ordinary `TcFilter`s in the block's list; `reindexU32` builds, after every
/// change, a flat bucket → knode index (no nested arrays, nothing allocated per packet).

/// tc_u32_sel's fields beyond its keys.
struct U32Sel: Equatable {
    static let TERMINAL: UInt8 = 1, OFFSET: UInt8 = 2, VAROFFSET: UInt8 = 4, EAT: UInt8 = 8
    var flags: UInt8 = 0
    var offshift: UInt8 = 0
    /// Host order (the wire's __be16, swapped).
    var offmask: UInt16 = 0
    var off: UInt16 = 0
    var offoff: Int16 = 0
    var hoff: Int16 = 0
    /// Host order (the wire's __be32, swapped).
    var hmask: UInt32 = 0
    /// u32_change: ffs(hmask) - 1.
    var fshift: UInt32 { hmask == 0 ? 0 : UInt32(hmask.trailingZeroBitCount) }
}

/// One hash table (tc_u_hnode). Scalars only: the packet path reads it by pointer.
struct U32Table {
    var htid: UInt32             // table id in the top 12 bits
    var divisor: Int             // buckets (1 for a root)
    var chain: UInt32
    var prio: UInt16
    var proto: UInt16
    var isRoot: Bool
    /// Creation order: tp_c->hlist lists the newest first.
    var serial: Int
    /// Where its buckets start in `FilterBlock.u32Ranges`.
    var base: Int = 0
    /// Knodes linking to it.
    var links = 0
}

enum U32Outcome { case verdict(ActVerdict, Int), none, abort }

extension U32Table {
    static func htid(_ h: UInt32) -> UInt32 { h & 0xFFF0_0000 }
    static func bucket(_ h: UInt32) -> Int { Int(h >> 12 & 0xFF) }
    static func node(_ h: UInt32) -> UInt32 { h & 0xFFF }
}

extension FilterBlock {
    /// The table with this id (anywhere in the block, as u32_lookup_ht).
    func u32Table(_ htid: UInt32) -> Int? { u32Tables.firstIndex { $0.htid == U32Table.htid(htid) } }

    func u32Root(chain: UInt32, prio: UInt16) -> Int? {
        u32Tables.firstIndex { $0.isRoot && $0.chain == chain && $0.prio == prio }
    }

    /// The protocol of the classifier instance (tcf_proto) at a chain's priority, if any.
    func instanceProtocol(chain: UInt32, prio: UInt16) -> UInt16? {
        instanceHead(chain: chain, prio: prio)?.proto ?? u32Root(chain: chain, prio: prio).map { u32Tables[$0].proto }
    }

    /// u32_init: the instance's root table, made on its first use (`next` is the block's
    /// gen_new_htid counter).
    mutating func ensureU32Root(chain: UInt32, prio: UInt16, proto: UInt16, next: inout UInt32) -> Int {
        if let r = u32Root(chain: chain, prio: prio) { return r }
        u32Serial += 1
        u32Tables.append(U32Table(htid: next << 20, divisor: 1, chain: chain, prio: prio, proto: proto, isRoot: true, serial: u32Serial))
        next += 1
        return u32Tables.count - 1
    }

    /// u32_change with TCA_U32_DIVISOR: a new table of `divisor` buckets, `handle` (X:) or the
    /// next generated id.
    mutating func addU32Table(handle: UInt32, divisor: UInt32, chain: UInt32, prio: UInt16, proto: UInt16,
                              next: inout UInt32) throws(SluiceError) {
        guard U32Table.bucket(handle) == 0 && U32Table.node(handle) == 0 else { throw SluiceError("Error: cls_u32: Divisor can only be used on a hash table.") }
        guard divisor >= 1, divisor <= 256, divisor & (divisor - 1) == 0 else { throw SluiceError("Error: cls_u32: Exceeded maximum 256 hash buckets.") }
        _ = ensureU32Root(chain: chain, prio: prio, proto: proto, next: &next)
        var htid = handle
        if htid == 0 { htid = next << 20; next += 1 }
        guard u32Table(htid) == nil else { throw SluiceError("Error: Filter already exists.") }
        u32Serial += 1
        u32Tables.append(U32Table(htid: htid, divisor: Int(divisor), chain: chain, prio: prio, proto: proto, isRoot: false, serial: u32Serial))
        reindexU32()
    }

    /// Where a new knode goes (u32_change without an existing node): its table and bucket
    /// (TCA_U32_HASH, else the instance's root), its handle (as asked, else gen_new_kid's
    /// lowest free node from 0x800), and the link it asks for, checked as the kernel checks.
    mutating func placeU32(_ f: inout TcFilter, next: inout UInt32) throws(SluiceError) {
        let root = ensureU32Root(chain: f.chain, prio: f.prio, proto: f.proto, next: &next)
        var t = root
        var htid = u32Tables[root].htid
        if let ht = f.u32Ht, U32Table.htid(ht) != 0xFFF0_0000 {
            guard let i = u32Table(ht) else { throw SluiceError("Error: cls_u32: Specified hash table not found.") }
            t = i
            htid = ht & 0xFFFF_F000
        } else if let ht = f.u32Ht {
            htid = u32Tables[root].htid | (ht & 0x000F_F000)
        }
        guard U32Table.bucket(htid) < u32Tables[t].divisor else {
            throw SluiceError("Error: cls_u32: Specified hash table buckets exceed configured value.")
        }
        // The knode belongs to its table's instance (its table may be another priority's).
        f.chain = u32Tables[t].chain; f.prio = u32Tables[t].prio
        if f.handle != 0 {
            if U32Table.htid(f.handle) != 0 && U32Table.htid(f.handle ^ htid) != 0 {
                throw SluiceError("Error: cls_u32: Handle specified hash table address mismatch.")
            }
            f.handle = htid | U32Table.node(f.handle)
            if index().u32Handles.contains(f.handle) { throw SluiceError("Error: Filter already exists.") }
        } else {
            let used = index().u32Handles
            var node: UInt32 = 0x800
            while node <= 0xFFF && used.contains(htid | node) { node += 1 }
            guard node <= 0xFFF else { throw SluiceError("Error: cls_u32: No free node id in this bucket.") }
            f.handle = htid | node
        }
        try checkU32Link(f)
    }

    /// TCA_U32_LINK: a table (not a node, not a root) that exists.
    func checkU32Link(_ f: TcFilter) throws(SluiceError) {
        guard f.u32Link != 0 else { return }
        guard U32Table.bucket(f.u32Link) == 0 && U32Table.node(f.u32Link) == 0 else { throw SluiceError("Error: cls_u32: u32 Link handle must be a hash table.") }
        guard let d = u32Table(f.u32Link) else { throw SluiceError("Error: cls_u32: Link hash table not found.") }
        guard !u32Tables[d].isRoot else { throw SluiceError("Error: cls_u32: Not linking to root node.") }
    }

    /// u32_delete for a handle: a knode, or a table (not a root; not while linked to). With
    /// the instance's last knode gone and no table of its own left, the instance goes too.
    mutating func deleteU32(handle: UInt32, chain: UInt32, prio: UInt16) throws(SluiceError) {
        if U32Table.bucket(handle) == 0 && U32Table.node(handle) == 0 {
            compact()
            positions = nil
            guard let t = u32Table(handle) else { throw SluiceError("Error: Specified filter handle not found.") }
            guard !u32Tables[t].isRoot else { throw SluiceError("Error: cls_u32: Not allowed to delete root node.") }
            guard u32Tables[t].links == 0 else { throw SluiceError("Error: cls_u32: Can not delete in-use filter.") }
            let htid = u32Tables[t].htid
            store.removeAll { $0.isU32 && U32Table.htid($0.handle) == htid }
            invalidateIndex()
            u32Tables.remove(at: t)
        } else {
            guard index().u32Handles.contains(handle), let i = store.firstIndex(where: { $0.isU32 && !$0.dead && $0.handle == handle }) else {
                throw SluiceError("Error: Specified filter handle not found.")
            }
            // A tombstone, out of its bucket: nothing else moves.
            let f = store[i]
            cachedIndex!.remove(f)
            bury(i)
            if positions != nil { positions![Index.Handle(chain: f.chain, prio: f.prio, handle: f.handle)] = nil }
            if u32IndexIsCurrent, let t = u32Table(f.handle), U32Table.bucket(f.handle) < u32Tables[t].divisor,
               case let r = u32Tables[t].base + U32Table.bucket(f.handle),
               let p = (Int(u32Ranges[r])..<Int(u32Ranges[r + 1])).first(where: { u32Slots[$0] == Int32(i) }) {
                u32Slots.remove(at: p)
                for k in (r + 1)..<u32Ranges.count { u32Ranges[k] -= 1 }
                if f.u32Down >= 0 { u32Tables[Int(f.u32Down)].links -= 1 }
            } else {
                reindexU32()
            }
            // *last: this block's only instance has no knodes left.
            let instances = Set(u32Tables.filter(\.isRoot).map { "\($0.chain)/\($0.prio)" })
            if instances.count == 1 && cachedIndex!.u32Handles.isEmpty {
                u32Tables.removeAll { $0.chain == chain && $0.prio == prio }
                compact()
                reindexU32()
            } else if cachedIndex!.instanceCounts[Index.instance(f.chain, f.prio)] == nil || deadCount * 2 > store.count {
                compact()
            }
            return
        }
        // *last: this block's only instance has no knodes left.
        let instances = Set(u32Tables.filter(\.isRoot).map { "\($0.chain)/\($0.prio)" })
        if instances.count == 1 && !store.contains(where: \.isU32) {
            u32Tables.removeAll { $0.chain == chain && $0.prio == prio }
        }
        reindexU32()
    }

    /// Drops the u32 tables of removed instances (no filter left at their chain and priority
    /// once a whole priority or chain was deleted).
    mutating func dropU32Tables(chain: UInt32, prio: UInt16?) {
        u32Tables.removeAll { $0.chain == chain && (prio == nil || $0.prio == prio!) }
        reindexU32()
    }

    /// Whether the bucket index was built for the tables as they are (each table's buckets
    /// have their ranges).
    var u32IndexIsCurrent: Bool {
        guard let last = u32Tables.last else { return false }
        return u32Ranges.count == last.base + last.divisor + 1
    }

    /// A knode just went in at `at` of `filters`, its tables unchanged: what `reindexU32` would
    /// build, by moving what follows it up by one and putting it in its bucket in node order.
    mutating func indexNewKnode(at: Int) {
        indexShifted(at: at)
        let f = store[at]
        guard let t = u32Table(f.handle) else { reindexU32(); return }
        let r = u32Tables[t].base + U32Table.bucket(f.handle)
        var p = Int(u32Ranges[r])
        let hi = Int(u32Ranges[r + 1])
        while p < hi && U32Table.node(store[Int(u32Slots[p])].handle) < U32Table.node(f.handle) { p += 1 }
        u32Slots.insert(Int32(at), at: p)
        for k in (r + 1)..<u32Ranges.count { u32Ranges[k] += 1 }
        store[at].u32Root = Int32(u32Root(chain: f.chain, prio: f.prio) ?? -1)
        if f.u32Link != 0, let d = u32Table(f.u32Link) {
            store[at].u32Down = Int32(d)
            u32Tables[d].links += 1
        } else {
            store[at].u32Down = -1
        }
    }

    /// A filter went in at `at`: knode positions and instance ends at or past it move up by
    /// one, and so do the ends of the instance it joined, whose end it takes.
    mutating func indexShifted(at: Int) {
        let a = Int32(at)
        for j in u32Slots.indices where u32Slots[j] >= a { u32Slots[j] += 1 }
        let (c, p) = (store[at].chain, store[at].prio)
        for j in store.indices where j != at && (j > at || (store[j].chain == c && store[j].prio == p)) {
            store[j].instanceEnd += 1
        }
        store[at].instanceEnd = Int32(instanceRange(chain: c, prio: p).upperBound)
    }

    /// Rebuilds the bucket index, each knode's link and root, and the instance ranges.
    mutating func reindexU32() {
        var ranges: [Int32] = []
        var slots: [Int32] = []
        for t in u32Tables.indices { u32Tables[t].links = 0 }
        for t in u32Tables.indices {
            u32Tables[t].base = ranges.count
            let htid = u32Tables[t].htid
            var perBucket = [[Int32]](repeating: [], count: u32Tables[t].divisor)
            for (i, f) in store.enumerated() where f.isU32 && !f.dead && U32Table.htid(f.handle) == htid {
                let b = U32Table.bucket(f.handle)
                if b < perBucket.count { perBucket[b].append(Int32(i)) }
            }
            for b in perBucket.indices {
                ranges.append(Int32(slots.count))
                slots += perBucket[b].sorted { U32Table.node(store[Int($0)].handle) < U32Table.node(store[Int($1)].handle) }
            }
        }
        ranges.append(Int32(slots.count))
        u32Ranges = ranges
        u32Slots = slots
        var i = 0
        while i < store.count {
            var end = i
            while end < store.count && store[end].chain == store[i].chain && store[end].prio == store[i].prio { end += 1 }
            for j in i..<end { store[j].instanceEnd = Int32(end) }
            i = end
        }
        for j in store.indices where store[j].isU32 {
            store[j].u32Root = Int32(u32Root(chain: store[j].chain, prio: store[j].prio) ?? -1)
            if store[j].u32Link != 0, let d = u32Table(store[j].u32Link) {
                store[j].u32Down = Int32(d)
                if !store[j].dead { u32Tables[d].links += 1 }
            } else {
                store[j].u32Down = -1
            }
        }
    }

    /// u32_classify from bucket `sel` of table `t`, `off` the current header offset, `off2`
    /// the next header's (kept across levels, as the kernel keeps it). `exec` runs a terminal
    /// knode's actions: its verdict, or nil to go on to the next knode (TC_ACT_UNSPEC).
    static func u32Walk(table t: Int, sel: Int, off: Int, off2: inout Int, depth: Int,
                        tables: UnsafeBufferPointer<U32Table>, ranges: UnsafeBufferPointer<Int32>, slots: UnsafeBufferPointer<Int32>,
                        fb: UnsafeBufferPointer<TcFilter>, kb: UnsafeBufferPointer<U32Key>,
                        data: UnsafeRawPointer, len: Int, mark: UInt32,
                        exec: (Int) -> ActVerdict?) -> U32Outcome {
        let tb = tables[t]
        var k = Int(ranges[tb.base + sel])
        let hi = Int(ranges[tb.base + sel + 1])
        while k < hi {
            let fi = Int(slots[k])
            k += 1
            let f = fb.baseAddress! + fi
            if f.pointee.u32MarkMask != 0 || f.pointee.u32MarkValue != 0 {
                if mark & f.pointee.u32MarkMask != f.pointee.u32MarkValue { continue }
            }
            guard case .u32Range(let ks, let kc) = f.pointee.match else { continue }
            var matched = true
            var j = ks
            while j < ks + kc {
                let key = kb[j]
                let toff = off + key.offset + (key.l4 ? off2 : 0)
                guard toff >= 0, toff + 4 <= len else { return .abort }
                let w = UInt32(bigEndian: data.loadUnaligned(fromByteOffset: toff, as: UInt32.self))
                if (w ^ key.value) & key.mask != 0 { matched = false; break }
                j += 1
            }
            if !matched { continue }
            let down = Int(f.pointee.u32Down)
            if down >= 0 {
                if depth >= 8 { return .abort }                     // TC_U32_MAXDEPTH: a loop
                let s = f.pointee.u32Sel
                var sel2 = 0
                let dt = tables[down]
                if dt.divisor > 1 {
                    let ho = off + Int(s.hoff)
                    guard ho >= 0, ho + 4 <= len else { return .abort }
                    let w = UInt32(bigEndian: data.loadUnaligned(fromByteOffset: ho, as: UInt32.self))
                    sel2 = Int((w & s.hmask) >> s.fshift) & (dt.divisor - 1)
                }
                var noff = off
                var descend = true
                if s.flags & (U32Sel.OFFSET | U32Sel.VAROFFSET | U32Sel.EAT) != 0 {
                    if s.flags & (U32Sel.OFFSET | U32Sel.VAROFFSET) != 0 {
                        off2 = Int(s.off) + 3
                        if s.flags & U32Sel.VAROFFSET != 0 {
                            let o = off + Int(s.offoff)
                            guard o >= 0, o + 2 <= len else { return .abort }
                            let v = UInt16(bigEndian: data.loadUnaligned(fromByteOffset: o, as: UInt16.self))
                            off2 += Int((v & s.offmask) >> UInt16(s.offshift))
                        }
                        off2 &= ~3
                    }
                    if s.flags & U32Sel.EAT != 0 { noff = off + off2; off2 = 0 }
                    descend = noff < len
                }
                if descend {
                    switch u32Walk(table: down, sel: sel2, off: noff, off2: &off2, depth: depth + 1, tables: tables, ranges: ranges,
                                   slots: slots, fb: fb, kb: kb, data: data, len: len, mark: mark, exec: exec) {
                    case .verdict(let v, let i): return .verdict(v, i)
                    case .abort: return .abort
                    case .none: break
                    }
                }
            }
            // check_terminal
            if f.pointee.u32Sel.flags & U32Sel.TERMINAL != 0, let v = exec(fi) { return .verdict(v, fi) }
        }
        return .none
    }
}
