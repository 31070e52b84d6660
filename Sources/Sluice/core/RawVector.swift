/// A growable vector of plain values in memory it owns: reading an element is a load through a
/// pointer, with no reference counting and no uniqueness check — for tables the per-packet path
/// reads (the FIB's trie and forwarding records). Noncopyable, so there is exactly one owner,
/// which frees the memory. Indexes are the caller's to keep in bounds (debug builds check).
struct RawVector<Element: BitwiseCopyable>: ~Copyable {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var count = 0
    private(set) var capacity: Int

    init(capacity: Int = 16) {
        self.capacity = max(capacity, 1)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    @inline(__always)
    subscript(i: Int) -> Element {
        get { assert(i >= 0 && i < count); return base[i] }
        nonmutating set { assert(i >= 0 && i < count); base[i] = newValue }
    }

    mutating func reserve(_ n: Int) {
        guard n > capacity else { return }
        var c = capacity
        while c < n { c *= 2 }
        let b = UnsafeMutablePointer<Element>.allocate(capacity: c)
        b.update(from: base, count: count)
        base.deallocate()
        base = b
        capacity = c
    }

    mutating func append(_ v: Element) {
        reserve(count + 1)
        base[count] = v
        count += 1
    }

    mutating func append(repeating v: Element, count n: Int) {
        reserve(count + n)
        (base + count).initialize(repeating: v, count: n)
        count += n
    }

    mutating func removeAll() { count = 0 }

    var memoryBytes: Int { capacity * MemoryLayout<Element>.stride }
}
