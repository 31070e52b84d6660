import CSluiceLinux
#if canImport(Glibc)
import Glibc
#endif

/// Principles
/// ----------
/// One allocation holds every buffer (headroom + data room big enough for a 64 KiB GSO
/// super-frame plus headers). Pages are touched only when used, so resident memory follows
/// the traffic, not the pool size. The free list is a LIFO stack of indices: the buffer used
/// last is the one reused first, still warm in cache. No locks: a pool belongs to one
/// datapath thread.
///
/// Clones (`clone(_:)`) share the data of another buffer and hold a reference on it; a
/// buffer goes back on the free list when its own handle and every clone of it are gone.
/// `inUse` counts handles out of the pool; tests assert it returns to zero.
public final class PacketPool: @unchecked Sendable {
    /// Bytes reserved in front of the frame for pushed headers (virtio header, VLAN, VXLAN).
    public static let headroom = 256
    /// Data room: the largest GSO super-frame (64 KiB) plus link headers.
    public static let dataRoom = 65536 + 256
    public static let bufferSize = headroom + dataRoom

    public let capacity: Int
    let base: UnsafeMutableRawPointer
    let metas: UnsafeMutablePointer<PacketMeta>
    /// For each handle, the buffer whose bytes it uses (itself unless it is a clone).
    let dataOf: UnsafeMutablePointer<UInt32>
    /// For each buffer, how many handles use its bytes.
    let refs: UnsafeMutablePointer<UInt16>
    let live: UnsafeMutablePointer<Bool>
    let freeStack: UnsafeMutablePointer<UInt32>
    /// Links for queues of packets held by qdiscs (the kernel's skb->next): no allocation.
    let next: UnsafeMutablePointer<UInt32>
    /// Tunnel metadata per handle (the kernel's metadata dst with ip_tunnel_info), valid when
    /// the handle's metadata says so (PacketMeta.hasTunnel): set by tunnel_key, read by an
    /// external vxlan device, set by one on what it receives.
    public let tunnels: UnsafeMutablePointer<TunnelInfo>
    /// The next hop per handle (rt_nexthop of the skb's dst; IPv4 as ::ffff:a.b.c.d), valid
    /// when the handle's metadata says so (PacketMeta.hasNexthop): kept for teql's master,
    /// which resolves it again on the slave it picks. Written only for such a device.
    let nexthops: UnsafeMutablePointer<UInt128>
    /// The connections packets of this datapath refer to (PacketMeta.ctRef): tc's ct,
    /// connmark and ctinfo actions and flower's ct keys share it, as a netns shares its
    /// conntrack table. Its memory is taken on first use.
    public let conntrack = Conntrack()
    @exclusivity(unchecked) var freeCount: Int

    /// Handles currently out of the pool (allocations minus frees).
    @exclusivity(unchecked) public private(set) var inUse: Int = 0
    /// Lifetime counters: allocations, frees, and allocations refused because the pool was empty.
    @exclusivity(unchecked) public private(set) var allocations: UInt64 = 0
    @exclusivity(unchecked) public private(set) var frees: UInt64 = 0
    @exclusivity(unchecked) public private(set) var exhausted: UInt64 = 0

    public init(capacity: Int) {
        precondition(capacity > 0 && capacity < Int(UInt32.max))
        self.capacity = capacity
        let bytes = capacity * Self.bufferSize
        // mmap: address space now, pages on first touch.
        let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let p, p != MAP_FAILED else { fatalError("PacketPool: cannot map \(bytes) bytes") }
        base = p
        metas = .allocate(capacity: capacity)
        metas.initialize(repeating: PacketMeta(), count: capacity)
        dataOf = .allocate(capacity: capacity)
        refs = .allocate(capacity: capacity)
        refs.initialize(repeating: 0, count: capacity)
        live = .allocate(capacity: capacity)
        live.initialize(repeating: false, count: capacity)
        freeStack = .allocate(capacity: capacity)
        next = .allocate(capacity: capacity)
        next.initialize(repeating: UInt32.max, count: capacity)
        tunnels = .allocate(capacity: capacity)
        tunnels.initialize(repeating: TunnelInfo(), count: capacity)
        nexthops = .allocate(capacity: capacity)
        nexthops.initialize(repeating: 0, count: capacity)
        for i in 0..<capacity {
            dataOf[i] = UInt32(i)
            freeStack[i] = UInt32(capacity - 1 - i)
        }
        freeCount = capacity
    }

    deinit {
        munmap(base, capacity * Self.bufferSize)
        metas.deallocate(); dataOf.deallocate(); refs.deallocate(); live.deallocate(); freeStack.deallocate(); next.deallocate(); tunnels.deallocate(); nexthops.deallocate()
    }

    public var available: Int { freeCount }

    /// Takes a buffer; nil when the pool is empty (the caller counts the drop).
    @inline(__always)
    public func alloc() -> Packet? {
        guard freeCount > 0 else { exhausted &+= 1; return nil }
        freeCount -= 1
        let i = freeStack[freeCount]
        let ii = Int(i)
        dataOf[ii] = i
        refs[ii] = 1
        live[ii] = true
        metas[ii] = PacketMeta()
        metas[ii].dataOffset = UInt32(Self.headroom)
        inUse += 1
        allocations &+= 1
        return Packet(index: i)
    }

    /// Returns a packet to the pool. The buffer is reused once no clone still shares its bytes.
    @inline(__always)
    public func free(_ p: consuming Packet) {
        let i = Int(p.index)
        _ = consume p
        precondition(live[i], "PacketPool: double free of buffer \(i)")
        live[i] = false
        inUse -= 1
        frees &+= 1
        let b = Int(dataOf[i])
        refs[b] -= 1
        if refs[i] == 0 { push(i) }
        if b != i && refs[b] == 0 && !live[b] { push(b) }
    }

    @inline(__always)
    func push(_ i: Int) {
        freeStack[freeCount] = UInt32(i)
        freeCount += 1
    }

    /// A second handle on the same bytes (flooding, mirroring). Metadata is copied; the bytes
    /// are shared and must not be written through either handle (see `makeWritable`).
    public func clone(_ p: borrowing Packet) -> Packet? {
        guard freeCount > 0 else { exhausted &+= 1; return nil }
        freeCount -= 1
        let c = freeStack[freeCount]
        let ci = Int(c)
        let b = dataOf[Int(p.index)]
        dataOf[ci] = b
        refs[Int(b)] += 1
        live[ci] = true
        metas[ci] = metas[Int(p.index)]
        copySideInfo(from: Int(p.index), to: ci)
        inUse += 1
        allocations &+= 1
        return Packet(index: c)
    }

    /// A copy or segment of handle `from` gets its side tables (tunnel, next hop) as its
    /// metadata (already copied) says it has them.
    @inline(__always)
    func copySideInfo(from: Int, to: Int) {
        let f = metas[to].tcFlags
        if f & PacketMeta.hasTunnel != 0 { tunnels[to] = tunnels[from] }
        if f & PacketMeta.hasNexthop != 0 { nexthops[to] = nexthops[from] }
    }

    /// Records the next hop `p` was routed to (IPv4 as ::ffff:a.b.c.d).
    func setNexthop<A: InetAddressValue>(_ p: borrowing Packet, _ nexthop: A) {
        let i = Int(p.index)
        nexthops[i] = A.bitWidth == 32 ? (UInt128(0xFFFF) << 32) | UInt128(truncatingIfNeeded: nexthop) : UInt128(truncatingIfNeeded: nexthop)
        metas[i].tcFlags |= PacketMeta.hasNexthop
    }

    /// True when no other handle shares this packet's bytes.
    public func isExclusive(_ p: borrowing Packet) -> Bool {
        refs[Int(dataOf[Int(p.index)])] == 1 && dataOf[Int(p.index)] == p.index
    }

    /// Copy-on-write: after this, `p` owns its bytes. Returns false if the pool is empty
    /// (then `p` is unchanged).
    public func makeWritable(_ p: inout Packet) -> Bool {
        guard let w = writableIndex(p.index) else { return false }
        p = Packet(index: w)
        return true
    }

    /// Copy-on-write on an index held in a batch: returns the index that owns its bytes
    /// (the same one if it already did; a new one, the old handle freed, if they were shared).
    func writableIndex(_ i: UInt32) -> UInt32? {
        let ii = Int(i)
        if refs[Int(dataOf[ii])] == 1 && dataOf[ii] == i { return i }
        guard let n = alloc() else { return nil }
        let ni = Int(n.index)
        let m = metas[ii]
        metas[ni] = m
        metas[ni].dataOffset = UInt32(Self.headroom)
        copySideInfo(from: ii, to: ni)
        (base + ni * Self.bufferSize + Self.headroom).copyMemory(
            from: base + Int(dataOf[ii]) * Self.bufferSize + Int(m.dataOffset), byteCount: Int(m.length))
        free(Packet(index: i))
        let r = n.index
        _ = consume n
        return r
    }

    // MARK: access

    @inline(__always)
    public func meta(_ p: borrowing Packet) -> UnsafeMutablePointer<PacketMeta> { metas + Int(p.index) }

    @inline(__always)
    func bufferStart(_ p: borrowing Packet) -> UnsafeMutableRawPointer {
        base + Int(dataOf[Int(p.index)]) * Self.bufferSize
    }

    /// The first byte of the frame.
    @inline(__always)
    public func data(_ p: borrowing Packet) -> UnsafeMutableRawPointer {
        bufferStart(p) + Int(metas[Int(p.index)].dataOffset)
    }

    @inline(__always)
    public func length(_ p: borrowing Packet) -> Int { Int(metas[Int(p.index)].length) }

    /// The frame as a raw buffer (read-only use when the packet may be shared).
    @inline(__always)
    public func bytes(_ p: borrowing Packet) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: data(p), count: length(p))
    }

    /// Room from the frame's first byte to the end of the buffer.
    public func tailroom(_ p: borrowing Packet) -> Int {
        Self.bufferSize - Int(metas[Int(p.index)].dataOffset)
    }

    public func headroom(_ p: borrowing Packet) -> Int { Int(metas[Int(p.index)].dataOffset) }

    /// Sets the frame to `count` bytes copied from `src` (drivers that copy out of rings).
    @inline(__always)
    public func setFrame(_ p: borrowing Packet, from src: UnsafeRawPointer, count: Int) {
        let m = metas + Int(p.index)
        m.pointee.length = UInt32(count)
        data(p).copyMemory(from: src, byteCount: count)
    }

    /// Grows the frame at the front by `n` bytes (push a header); false without headroom.
    public func push(_ p: borrowing Packet, _ n: Int) -> Bool {
        let m = metas + Int(p.index)
        guard Int(m.pointee.dataOffset) >= n else { return false }
        m.pointee.dataOffset -= UInt32(n)
        m.pointee.length += UInt32(n)
        return true
    }

    /// Removes `n` bytes from the front of the frame (pull a header).
    public func pull(_ p: borrowing Packet, _ n: Int) -> Bool {
        let m = metas + Int(p.index)
        guard Int(m.pointee.length) >= n else { return false }
        m.pointee.dataOffset += UInt32(n)
        m.pointee.length -= UInt32(n)
        return true
    }
}
