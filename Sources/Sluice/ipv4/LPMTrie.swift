/// Principles
/// ----------
/// Longest-prefix match over fixed-width keys (IPv4: UInt32, IPv6: UInt128) with a multibit
/// trie and controlled prefix expansion — the level compression of fib_trie fixed in advance
/// instead of adapted per node:
/// - The key is consumed in strides (IPv4 16, 8, 8: at most three memory loads per lookup;
///   IPv6 16 then 4s, so sparse long prefixes cost little memory). Every node of depth d has
///   2^stride(d) slots.
/// - A prefix whose length ends inside a node's stride is expanded over the slots it covers;
///   a slot keeps the longest such prefix (and its length). A slot may also point to a child
///   node holding longer prefixes.
/// - Lookup walks down and remembers the last slot that held a prefix: that is the longest
///   match, because deeper slots only ever hold longer prefixes.
/// - Delete restores each slot the prefix held to the next-longest prefix of the same node
///   covering it (found in the exact-match table), and frees nodes left empty.
/// Node storage is flat arrays indexed by slot: entry and child packed in one UInt64 (one cache
/// line load per level), the prefix length beside them for updates only, so a lookup touches
/// no objects and allocates nothing. Entries are opaque UInt32 values (the
/// FIB's index of a route set), 0 meaning none.
public struct LPMTrie<Key: FixedWidthInteger & UnsignedInteger & Hashable>: ~Copyable {
    let strides: RawVector<Int>
    let depths: Int
    /// Per slot: entry (low 32 bits; 0 = none) and child node + 1 (high 32 bits); prefix length.
    var slots = RawVector<UInt64>(capacity: 1 << 17)
    var slotLen = RawVector<UInt8>(capacity: 1 << 17)
    /// Per node: first slot; freed nodes by depth for reuse.
    var nodeBase = RawVector<Int>(capacity: 1024)
    var freeNodes: [[Int]]
    /// (prefix, length) → entry: the exact-match view, for delete and replace.
    public private(set) var exact: [PrefixKey: UInt32] = [:]
    public private(set) var nodeCount = 0

    public struct PrefixKey: Hashable { public let prefix: Key; public let length: UInt8 }

    public init(strides: [Int]) {
        precondition(strides.reduce(0, +) == Key.bitWidth)
        var s = RawVector<Int>(capacity: strides.count)
        for x in strides { s.append(x) }
        self.strides = s
        depths = strides.count
        freeNodes = Array(repeating: [], count: strides.count)
        _ = newNode(depth: 0)
    }

    public var count: Int { exact.count }

    /// The prefix with only its first `length` bits.
    @inline(__always)
    public static func mask(_ k: Key, _ length: Int) -> Key {
        length == 0 ? 0 : (length >= Key.bitWidth ? k : k & ~(Key.max >> length))
    }

    /// `count` bits of `k` starting `from` bits from the top, as an integer.
    @inline(__always)
    static func bits(_ k: Key, from: Int, count: Int) -> Int {
        guard count > 0 else { return 0 }
        return Int(truncatingIfNeeded: (k << from) >> (Key.bitWidth - count))
    }

    mutating func newNode(depth: Int) -> Int {
        nodeCount += 1
        let size = 1 << strides[depth]
        if let n = freeNodes[depth].popLast() {
            let b = nodeBase[n]
            for i in b..<(b + size) { slots[i] = 0; slotLen[i] = 0 }
            return n
        }
        let n = nodeBase.count
        nodeBase.append(slots.count)
        slots.append(repeating: 0, count: size)
        slotLen.append(repeating: 0, count: size)
        return n
    }

    /// The entry of the longest prefix matching `k`, or 0.
    @inline(__always)
    public func lookup(_ k: Key) -> UInt32 {
        var node = 0, consumed = 0, depth = 0, best: UInt32 = 0
        while true {
            let s = strides[depth]
            let v = slots[nodeBase[node] &+ Self.bits(k, from: consumed, count: s)]
            let e = UInt32(truncatingIfNeeded: v)
            if e != 0 { best = e }
            let c = UInt32(truncatingIfNeeded: v >> 32)
            if c == 0 { return best }
            node = Int(c) &- 1
            consumed &+= s
            depth &+= 1
        }
    }

    /// The entry stored for exactly this prefix, or 0.
    public func get(_ prefix: Key, _ length: Int) -> UInt32 {
        exact[PrefixKey(prefix: Self.mask(prefix, length), length: UInt8(length))] ?? 0
    }

    /// The node and position where a prefix of `length` is expanded (creating the path).
    mutating func place(_ prefix: Key, _ length: Int, create: Bool) -> (node: Int, consumed: Int, depth: Int)? {
        var node = 0, consumed = 0, depth = 0
        while length > consumed + strides[depth] {
            let slot = nodeBase[node] + Self.bits(prefix, from: consumed, count: strides[depth])
            var c = child(slot)
            if c == 0 {
                guard create else { return nil }
                let n = newNode(depth: depth + 1)
                c = UInt32(n + 1)
                setChild(slot, c)
            }
            node = Int(c) - 1
            consumed += strides[depth]
            depth += 1
        }
        return (node, consumed, depth)
    }

    /// Inserts or replaces the entry for `prefix/length` (`entry` ≠ 0).
    public mutating func insert(_ prefix: Key, _ length: Int, entry: UInt32) {
        precondition(entry != 0 && (0...Key.bitWidth).contains(length))
        let p = Self.mask(prefix, length)
        let key = PrefixKey(prefix: p, length: UInt8(length))
        exact[key] = entry
        let (node, consumed, depth) = place(p, length, create: true)!
        let s = strides[depth], plen = length - consumed
        let first = nodeBase[node] + (Self.bits(p, from: consumed, count: plen) << (s - plen))
        for i in first..<(first + (1 << (s - plen))) {
            // Equal length in this range can only be this same prefix (being replaced).
            if entryAt(i) == 0 || Int(slotLen[i]) <= length {
                setEntry(i, entry)
                slotLen[i] = UInt8(length)
            }
        }
    }

    /// Removes `prefix/length`; returns its entry, or 0 when there was none.
    @discardableResult
    public mutating func remove(_ prefix: Key, _ length: Int) -> UInt32 {
        let p = Self.mask(prefix, length)
        guard let entry = exact.removeValue(forKey: PrefixKey(prefix: p, length: UInt8(length))),
              let (node, consumed, depth) = place(p, length, create: false) else { return 0 }
        let s = strides[depth], plen = length - consumed
        let first = nodeBase[node] + (Self.bits(p, from: consumed, count: plen) << (s - plen))
        let lowest = depth == 0 ? 0 : consumed + 1
        for i in first..<(first + (1 << (s - plen))) where entryAt(i) == entry && Int(slotLen[i]) == length {
            // The next-longest prefix of this node that covers the slot takes it back.
            var replacement: UInt32 = 0, rlen = 0
            let slotKey = p | (Key(truncatingIfNeeded: i - nodeBase[node]) << (Key.bitWidth - consumed - s))
            var l = length - 1
            while l >= lowest {
                if let e = exact[PrefixKey(prefix: Self.mask(slotKey, l), length: UInt8(l))] { replacement = e; rlen = l; break }
                l -= 1
            }
            setEntry(i, replacement)
            slotLen[i] = UInt8(rlen)
        }
        prune(p, depth: depth)
        return entry
    }

    /// Frees the nodes on `p`'s path, deepest first, that hold nothing.
    mutating func prune(_ p: Key, depth target: Int) {
        var path: [(node: Int, slot: Int)] = []
        var node = 0, consumed = 0
        for d in 0..<target {
            let slot = nodeBase[node] + Self.bits(p, from: consumed, count: strides[d])
            path.append((node, slot))
            node = Int(child(slot)) - 1
            consumed += strides[d]
        }
        var d = target
        while d > 0 {
            let b = nodeBase[node], size = 1 << strides[d]
            for i in b..<(b + size) where slots[i] != 0 { return }
            freeNodes[d].append(node)
            nodeCount -= 1
            let (parent, slot) = path[d - 1]
            setChild(slot, 0)
            node = parent
            d -= 1
        }
    }

    @inline(__always) func entryAt(_ i: Int) -> UInt32 { UInt32(truncatingIfNeeded: slots[i]) }
    @inline(__always) func child(_ i: Int) -> UInt32 { UInt32(truncatingIfNeeded: slots[i] >> 32) }
    @inline(__always) mutating func setEntry(_ i: Int, _ e: UInt32) { slots[i] = (slots[i] & 0xFFFF_FFFF_0000_0000) | UInt64(e) }
    @inline(__always) mutating func setChild(_ i: Int, _ c: UInt32) { slots[i] = (slots[i] & 0xFFFF_FFFF) | UInt64(c) << 32 }

    /// Bytes held by the slot arrays and the exact-match table (approximate).
    public var memoryBytes: Int {
        slots.memoryBytes + slotLen.memoryBytes + nodeBase.memoryBytes
            + exact.capacity * (MemoryLayout<PrefixKey>.stride + 4 + 1)
    }
}
