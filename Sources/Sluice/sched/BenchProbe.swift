/// Direct access to a device's qdisc for benchmarks and tools: enqueue a frame, drain the
/// qdisc, without the driver. Allocation-free.
public struct BenchProbe {
    let dp: Datapath
    let dev: NetDevice
    public init(dp: Datapath, dev: NetDevice) { self.dp = dp; self.dev = dev }

    /// Copies the headers of `frame` (qdiscs never read the payload) into a pool buffer, sets
    /// its length to the whole frame's, and enqueues it on the root qdisc.
    public func enqueue(_ frame: UnsafeRawBufferPointer) {
        guard let p = dp.pool.alloc() else { return }
        dp.pool.setFrame(p, from: frame.baseAddress!, count: min(frame.count, 64))
        let m = dp.pool.meta(p)
        m.pointee.length = UInt32(frame.count)
        m.pointee.pktLen = UInt32(frame.count)
        m.pointee.timestamp = dp.clock.now
        _ = dev.qdisc.enqueue(p)
    }

    /// The rig's own cost, without a qdisc: allocate, copy the headers, free.
    public func rigOnly(_ frame: UnsafeRawBufferPointer) {
        guard let p = dp.pool.alloc() else { return }
        dp.pool.setFrame(p, from: frame.baseAddress!, count: min(frame.count, 64))
        dp.pool.meta(p).pointee.pktLen = UInt32(frame.count)
        dp.pool.free(p)
    }

    /// Dequeues until the qdisc gives nothing; frees what it gets. Returns the count.
    @discardableResult
    public func drain() -> Int {
        var n = 0
        while let p = dev.qdisc.dequeue() { dp.pool.free(p); n += 1 }
        return n
    }
}
