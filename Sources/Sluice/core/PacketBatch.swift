/// A vector of up to `PacketBatch.capacity` packets moved together from driver to driver.
/// It owns the packets it holds: `append` consumes a handle, `take` hands one back out.
/// Storage is allocated once, when the batch is made; reusing a batch allocates nothing.
public struct PacketBatch: ~Copyable {
    public static let capacity = 256
    let slots: UnsafeMutablePointer<UInt32>
    public private(set) var count: Int = 0

    public init() {
        slots = .allocate(capacity: Self.capacity)
    }

    deinit {
        precondition(count == 0, "PacketBatch dropped while holding \(count) packets")
        slots.deallocate()
    }

    public var isFull: Bool { count == Self.capacity }
    public var isEmpty: Bool { count == 0 }

    @inline(__always)
    public mutating func append(_ p: consuming Packet) {
        precondition(count < Self.capacity, "PacketBatch overflow")
        slots[count] = p.index
        _ = consume p
        count += 1
    }

    /// The index of the packet at position `i` (for reading metadata without taking it).
    @inline(__always)
    public func index(at i: Int) -> UInt32 { slots[i] }

    /// Borrow-style access: calls `body` with a handle to the packet at `i` that stays in the batch.
    @inline(__always)
    public func withPacket<R>(at i: Int, _ body: (borrowing Packet) throws -> R) rethrows -> R {
        return try body(Packet(index: slots[i]))
    }

    /// Takes every packet out, in order, leaving the batch empty.
    @inline(__always)
    public mutating func drain(_ body: (consuming Packet) -> Void) {
        let n = count
        count = 0
        for i in 0..<n { body(Packet(index: slots[i])) }
    }

    /// Keeps the packets for which `keep` returns true, in order; hands the others to `reject`.
    public mutating func filter(_ keep: (borrowing Packet) -> Bool, reject: (consuming Packet) -> Void) {
        var w = 0
        for r in 0..<count {
            let idx = slots[r]
            if keep(Packet(index: idx)) { slots[w] = idx; w += 1 } else { reject(Packet(index: idx)) }
        }
        count = w
    }

    /// Frees every packet held.
    public mutating func freeAll(_ pool: PacketPool) {
        drain { pool.free($0) }
    }
}

extension PacketBatch {
    /// Frees the first `n` packets (sent) and keeps the rest, in order.
    mutating func freeFirst(_ n: Int, _ pool: PacketPool) {
        let k = Swift.min(n, count)
        for i in 0..<k { pool.free(Packet(index: slots[i])) }
        for i in k..<count { slots[i - k] = slots[i] }
        count -= k
    }

    /// Puts `n` packets, `index(j)` for j in 0..<n, before the batch's, in that order. The
    /// caller leaves room (count + n ≤ capacity).
    mutating func prepend(count n: Int, _ index: (Int) -> UInt32) {
        precondition(count + n <= Self.capacity)
        guard n > 0 else { return }
        var r = count - 1
        while r >= 0 { slots[r + n] = slots[r]; r -= 1 }
        for j in 0..<n { slots[j] = index(j) }
        count += n
    }

    /// Replaces the packet index at `i` (after copy-on-write gave the packet a new buffer).
    mutating func setIndex(_ index: UInt32, at i: Int) { slots[i] = index }

    /// Runs `body` on each packet's index, in order, compacting in place: `body` may replace
    /// the index (copy-on-write) and returns false when it took the packet (freed or handed
    /// on), which then leaves the batch.
    mutating func compact(_ body: (inout UInt32) -> Bool) {
        var w = 0
        for r in 0..<count {
            var idx = slots[r]
            if body(&idx) { slots[w] = idx; w += 1 }
        }
        count = w
    }
}
