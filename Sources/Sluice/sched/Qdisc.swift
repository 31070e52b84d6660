import Atomics
/// Principles
/// ----------
/// The transmit side of a device is the kernel's net/sched: `dev_queue_xmit` enqueues into the
/// device's root qdisc, `qdisc_run` dequeues while the driver can take more, a packet the driver
/// refused waits in a requeue slot (the kernel's gso_skb) and goes first next time, and a qdisc
/// that holds packets it may not send yet (a shaper) names the time it may (its watchdog).
///
/// A qdisc is a class with the kernel's operations table as methods (enqueue, dequeue, peek,
/// reset, change, dump): one indirect call per packet, like `sch->enqueue` — no existential box.
/// Queues are singly linked lists threaded through the packet pool (`skb->next`), so holding or
/// moving packets allocates nothing. A qdisc frees the packets it drops and counts them.

/// A tc handle or class id: major:minor in 16+16 bits (TC_H_MAKE).
public struct TcHandle: Hashable, Sendable, CustomStringConvertible, Comparable {
    public var raw: UInt32
    public init(raw: UInt32) { self.raw = raw }
    public init(_ major: UInt16, _ minor: UInt16) { raw = UInt32(major) << 16 | UInt32(minor) }
    public var major: UInt16 { UInt16(raw >> 16) }
    public var minor: UInt16 { UInt16(raw & 0xFFFF) }
    public static let root = TcHandle(raw: 0xFFFF_FFFF)       // TC_H_ROOT
    public static let ingress = TcHandle(raw: 0xFFFF_FFF1)    // TC_H_INGRESS
    public static let unspec = TcHandle(raw: 0)
    public var description: String {
        if self == .root { return "root" }
        return "\(String(major, radix: 16)):" + (minor == 0 ? "" : String(minor, radix: 16))
    }
    public static func < (a: TcHandle, b: TcHandle) -> Bool { a.raw < b.raw }

    /// Parses "1:", "1:10", "ffff:", "root", "none" as tc does (hex numbers).
    public static func parse(_ s: String) throws(SluiceError) -> TcHandle {
        if s == "root" { return .root }
        if s == "none" { return .unspec }
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let maj = parts[0].isEmpty ? 0 : UInt16(parts[0], radix: 16),
              let mi = parts[1].isEmpty ? 0 : UInt16(parts[1], radix: 16) else {
            throw SluiceError("Error: invalid handle \"\(s)\" (expected MAJOR:MINOR in hex, e.g. 1:10)")
        }
        return TcHandle(maj, mi)
    }
}

/// `struct gnet_stats_basic` + `gnet_stats_queue`, as `tc -s` shows them.
public struct QdiscStats: Sendable, Equatable {
    public var bytes: UInt64 = 0
    public var packets: UInt64 = 0
    public var drops: UInt64 = 0
    public var overlimits: UInt64 = 0
    public var requeues: UInt64 = 0
    public var backlog: UInt64 = 0
    public var qlen: Int = 0
    /// The rate estimator's reading, when the qdisc or class has one (TCA_RATE).
    public var rate: RateSample?
    public init() {}
}

/// NET_XMIT_* results.
public enum EnqueueVerdict: Sendable, Equatable {
    case success
    case dropped      // NET_XMIT_DROP: this packet was dropped
    case congestion   // NET_XMIT_CN: accepted, but something else was dropped (congestion)
    case stolen       // __NET_XMIT_STOLEN: consumed by an action (mirred redirect, …), not a drop
}

/// A FIFO of packets linked through the pool.
struct PacketQueue {
    static let empty = UInt32.max
    var head = PacketQueue.empty
    var tail = PacketQueue.empty
    var count = 0
    var bytes: UInt64 = 0

    var isEmpty: Bool { count == 0 }

    @inline(__always)
    mutating func push(_ p: consuming Packet, _ pool: PacketPool) {
        let i = p.index
        _ = consume p
        pool.next[Int(i)] = Self.empty
        if tail == Self.empty { head = i } else { pool.next[Int(tail)] = i }
        tail = i
        count += 1
        bytes &+= UInt64(pool.metas[Int(i)].pktLen)
    }

    /// Puts a packet back at the head (requeue).
    mutating func pushFront(_ p: consuming Packet, _ pool: PacketPool) {
        let i = p.index
        _ = consume p
        pool.next[Int(i)] = head
        head = i
        if tail == Self.empty { tail = i }
        count += 1
        bytes &+= UInt64(pool.metas[Int(i)].pktLen)
    }

    @inline(__always)
    mutating func pop(_ pool: PacketPool) -> Packet? {
        guard head != Self.empty else { return nil }
        let i = head
        head = pool.next[Int(i)]
        if head == Self.empty { tail = Self.empty }
        count -= 1
        bytes &-= UInt64(pool.metas[Int(i)].pktLen)
        return Packet(index: i)
    }

    /// The packet at the tail (__skb_dequeue_tail): a walk from the head, the list being
    /// linked one way.
    mutating func popTail(_ pool: PacketPool) -> Packet? {
        guard tail != Self.empty else { return nil }
        let i = tail
        if head == tail {
            head = Self.empty; tail = Self.empty
        } else {
            var prev = head
            while pool.next[Int(prev)] != i { prev = pool.next[Int(prev)] }
            pool.next[Int(prev)] = Self.empty
            tail = prev
        }
        count -= 1
        bytes &-= UInt64(pool.metas[Int(i)].pktLen)
        return Packet(index: i)
    }

    /// The packet at the head, left in place.
    var peekIndex: UInt32? { head == Self.empty ? nil : head }

    /// The first byte of the packet at the tail, left in place (skb_peek_tail).
    func peekTail(_ pool: PacketPool) -> UnsafeMutableRawPointer? {
        guard tail != Self.empty else { return nil }
        let p = Packet(index: tail)
        let d = pool.data(p)
        _ = consume p
        return d
    }

    /// Frees every packet; returns how many.
    @discardableResult
    mutating func purge(_ pool: PacketPool) -> Int {
        var n = 0
        while let p = pop(pool) { pool.free(p); n += 1 }
        return n
    }
}

/// What a qdisc needs from its device and datapath.
public struct QdiscEnv {
    let pool: PacketPool
    let clock: DatapathClock
    /// The device's MTU + link header (for burst checks, quantum defaults) and queue length.
    var mtu: Int
    var txQueueLen: Int
    /// The link speed in bit/s as ethtool reports it (what cbs takes as the port rate).
    var linkSpeed: UInt64 = 10_000_000
    /// The device's ifindex (the egress hook records it as the packet's skb_iif for mirred).
    var ifindex: Int32 = 0
    /// The device's transmit queues (num_tx_queues) and those in use (real_num_tx_queues).
    var txQueues = 1
    var realTxQueues = 1
}

/// The operations table (`struct Qdisc_ops`). Subclasses override what they implement.
public class Qdisc {
    public let kind: String
    public internal(set) var handle: TcHandle
    public internal(set) var parent: TcHandle
    public internal(set) var stats = QdiscStats()
    let pool: PacketPool
    let clock: DatapathClock
    var env: QdiscEnv

    /// When the qdisc was made (qdisc_create's qdisc_hash_add): a dump lists the later first
    /// within a hash bucket.
    let hashSeq = Qdisc.created.loadThenWrappingIncrement(ordering: .relaxed)
    static let created = ManagedAtomic<UInt64>(0)

    init(kind: String, handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        self.kind = kind
        self.handle = handle
        self.parent = parent
        self.env = env
        pool = env.pool
        clock = env.clock
    }

    /// Takes the packet; on drop frees it and counts. (sch->enqueue)
    func enqueue(_ p: consuming Packet) -> EnqueueVerdict { drop(p) }
    /// The next packet allowed out now, or nil. (sch->dequeue)
    func dequeue() -> Packet? { nil }
    /// Length of the packet `dequeue` would return, without taking it (sch->peek). Qdiscs that
    /// can look at their head override it; the default is the kernel's qdisc_peek_dequeued:
    /// dequeue the packet now and hold it (sch->gso_skb, still counted in qlen and backlog)
    /// until `dequeuePeeked` hands it out.
    func peekLength() -> Int? {
        if peeked == PacketQueue.empty {
            guard let p = dequeue() else { return nil }
            peeked = p.index
            _ = consume p
            let l = Int(pool.metas[Int(peeked)].pktLen)
            stats.qlen += 1; stats.backlog &+= UInt64(l)
        }
        return Int(pool.metas[Int(peeked)].pktLen)
    }
    /// The index of the packet `dequeuePeeked` hands out next, held until then: what
    /// `sch->ops->peek` returns to a parent that looks at the head's fields (taprio), the
    /// kernel's qdisc_peek_dequeued for every kind.
    final func peekIndex() -> UInt32? {
        if peeked == PacketQueue.empty {
            guard let p = dequeue() else { return nil }
            peeked = p.index
            _ = consume p
            stats.qlen += 1; stats.backlog &+= UInt64(pool.metas[Int(peeked)].pktLen)
        }
        return peeked
    }
    /// The packet held by a peek, if any. (sch->gso_skb)
    var peeked = PacketQueue.empty
    /// qdisc_dequeue_peeked: the packet a peek held, else the next one.
    final func dequeuePeeked() -> Packet? {
        guard peeked != PacketQueue.empty else { return dequeue() }
        let i = peeked
        peeked = PacketQueue.empty
        stats.qlen -= 1; stats.backlog &-= UInt64(pool.metas[Int(i)].pktLen)
        return Packet(index: i)
    }
    /// Drops every packet held (the qdisc's own queues; see `purge`).
    func reset() {}
    /// qdisc_reset: frees every packet held, a peeked one included.
    final func purge() {
        if peeked != PacketQueue.empty {
            let i = peeked
            peeked = PacketQueue.empty
            stats.qlen -= 1; stats.backlog &-= UInt64(pool.metas[Int(i)].pktLen)
            pool.free(Packet(index: i))
        }
        reset()
    }
    /// When this qdisc holds packets it cannot send yet: the clock time it may. 0 when none.
    var watchdog: UInt64 { 0 }
    /// The refcount tc shows (tcm_info): a root qdisc is held once by the device and once by
    /// each of its transmit queues (dev_graft_qdisc), so twice on a single-queue device.
    var refcnt: Int { parent == .root ? 1 + env.txQueues : 1 }
    /// Called once the qdisc is attached (for qdiscs that create default children).
    func attached() {}
    /// The device's txqueuelen changed (ops->change_tx_queue_len; only pfifo_fast follows it).
    func changeTxQueueLen(_ n: Int) {}

    // Classful support (`struct Qdisc_class_ops`).
    var isClassful: Bool { false }
    /// The classes as the kernel dumps them (ops->walk + dump_class + dump_class_stats).
    func classes(details: Bool) -> [QdiscClassInfo] { [] }
    /// The leaf qdiscs under this one.
    func childQdiscs() -> [Qdisc] { [] }
    /// A qdisc with one class whose ops->find takes any class id of the qdisc for it (tbf,
    /// netem, red, cbs, sfb: `parent 1:`, `parent 1:1` and `parent 1:7` all name the one child;
    /// the child keeps the parent it was given, as qdisc_create sets it).
    var hasSingleClass: Bool { false }

    /// qdisc_leaf: the qdisc attached at `classid` (a class of this qdisc), if any.
    final func leaf(at classid: TcHandle) -> Qdisc? {
        if hasSingleClass { return classid.major == handle.major ? childQdiscs().first : nil }
        return childQdiscs().first { $0.parent == classid }
    }

    /// ops->graft of a qdisc with one class holding one child (tbf, red, sfb): the new child
    /// (noop_qdisc when none) goes into `slot`; the old one is returned.
    final func graftOnly(_ classid: TcHandle, _ q: Qdisc?, into slot: inout Qdisc?) throws(SluiceError) -> Qdisc? {
        guard classid.major == handle.major else { throw SluiceError("Error: Failed to find specified qdisc.") }
        let old = slot
        let new = q ?? NoopQdisc(env: env)
        new.parent = classid
        slot = new
        return old
    }

    /// ops->graft of a qdisc whose classes are bands major:1…major:count, each holding one
    /// child in `children` (prio, multiq, mq): the new child, or noop_qdisc for none.
    final func graftBand(_ children: inout [Qdisc], _ classid: TcHandle, _ q: Qdisc?, count: Int, notFound: String) throws(SluiceError) -> Qdisc? {
        let b = Int(classid.minor) - 1
        guard classid.major == handle.major, b >= 0, b < count else { throw SluiceError(notFound) }
        let old = children[b]
        let new = q ?? NoopQdisc(env: env)
        new.parent = classid
        children[b] = new
        return old
    }

    /// The band classes of such a qdisc (ops->walk + dump_class + dump_class_stats): class
    /// major:N+1 with `parent`, its leaf band N's child and that child's statistics.
    final func bandClasses(_ children: [Qdisc], parent: TcHandle) -> [QdiscClassInfo] {
        children.enumerated().map { i, c in
            QdiscClassInfo(classid: TcHandle(handle.major, UInt16(truncatingIfNeeded: i + 1)), parent: parent, leaf: c,
                           options: "", stats: c.statsSnapshot(), xstats: nil)
        }
    }

    /// Replaces the qdisc attached to `classid` (ops->graft); returns the old one. A nil `q`
    /// deletes the child: each qdisc puts back what the kernel's graft does (htb and drr a
    /// default pfifo, tbf and prio noop, netem nothing).
    func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        throw SluiceError("Error: qdisc \(kind) has no classes")
    }
    func deleteClass(_ classid: TcHandle) throws(SluiceError) {
        throw SluiceError("Error: qdisc \(kind) is classless")
    }
    /// The size table (`stab`) a root qdisc charges packets by, or nil.
    var sizeTable: SizeTable?
    /// A built-in default child that dumps show although its handle is 0 (qdisc_hash_add
    /// with invisible false: cbs's pfifo); other defaults are invisible.
    var shownDefault = false
    /// A default child that is in no dump, even of invisible qdiscs: mq's qdiscs of queues
    /// beyond those in use (mq_attach hashes only the others).
    var unhashed = false
    /// Filters attached to this qdisc (its tcf_block).
    var filters = FilterBlock()
    /// The rate estimator TCA_RATE gave it (gen_estimator), ticked by the datapath's timer.
    var estimator: RateEstimator?
    /// The next u32 hash table id of this qdisc's blocks (tc_u_common is per qdisc).
    var nextU32Table: UInt32 = 0x800
    /// Whether a u32 instance is left in any of this qdisc's blocks: tc_u_common lives only as
    /// long as one does (u32_destroy frees it with the last), and a new one numbers its
    /// tables from 800: again.
    var hasU32Instances: Bool { !filters.u32Tables.isEmpty || classBlocks.contains { !$0.block.u32Tables.isEmpty } }

    /// cops->tcf_block for a class: the class's own filter block, for qdiscs whose classes
    /// have one (htb, hfsc), or nil. Throws when there is no such class.
    func withClassBlock<R>(_ classid: TcHandle, _ body: (inout FilterBlock) throws(SluiceError) -> R) throws(SluiceError) -> R? { nil }
    /// The filter blocks of this qdisc's classes that hold filters, by class id.
    var classBlocks: [(classid: TcHandle, block: FilterBlock)] { [] }
    /// Whether any filter of the qdisc or of its classes names `classid` (qdisc_class_in_use).
    final func classInUse(_ classid: TcHandle) -> Bool {
        ([filters] + classBlocks.map(\.block)).contains { b in b.filters.contains { $0.result == .classid(classid) } }
    }

    /// Runs the filters and their actions on a packet being enqueued: it may come back changed
    /// (vlan edits), be dropped (counted here) or be taken by an action (mirred redirect).
    func classifyForEnqueue(_ p: consuming Packet) -> Classified {
        classifyForEnqueue(p, block: filters)
    }

    /// The same with a class's own block (htb's and hfsc's inner filter chains).
    func classifyForEnqueue(_ p: consuming Packet, block: borrowing FilterBlock) -> Classified {
        if block.isEmpty { return .go(p, nil) }
        var idx = p.index
        _ = consume p
        let r = block.run(&idx, pool: pool, now: clock.now)
        switch r {
        case .stolen?: return .done(.stolen)
        case .drop?: return .done(drop(Packet(index: idx)))
        default: return .go(Packet(index: idx), r)
        }
    }

    // Helpers shared by every qdisc.

    /// qdisc_drop: frees and counts.
    @inline(__always)
    func drop(_ p: consuming Packet) -> EnqueueVerdict {
        stats.drops &+= 1
        pool.free(p)
        return .dropped
    }

    @inline(__always) func len(_ p: borrowing Packet) -> Int { Int(pool.metas[Int(p.index)].pktLen) }

    /// Bookkeeping for a packet entering (qdisc_qstats_backlog_inc + qlen).
    @inline(__always) func accountIn(_ bytes: Int) { stats.qlen += 1; stats.backlog &+= UInt64(bytes) }
    /// For a packet leaving towards the device (qdisc_bstats_update: a GSO frame counts as
    /// its gso_segs packets, as _bstats_update does).
    @inline(__always) func accountOut(_ bytes: Int, segs: UInt64 = 1) {
        stats.qlen -= 1; stats.backlog &-= UInt64(bytes)
        stats.packets &+= segs; stats.bytes &+= UInt64(bytes)
    }
    /// For a classful qdisc: a packet handed on (its children keep the queue counts).
    @inline(__always) func countSent(_ bytes: Int, segs: UInt64 = 1) { stats.packets &+= segs; stats.bytes &+= UInt64(bytes) }
    /// skb_shinfo(skb)->gso_segs, or 1.
    @inline(__always) func segs(_ p: borrowing Packet) -> UInt64 {
        let m = pool.metas[Int(p.index)]
        guard !m.gsoType.isEmpty, m.gsoSize > 0, Int(m.length) > Int(m.hdrLen) else { return 1 }
        return UInt64((Int(m.length) - Int(m.hdrLen) + Int(m.gsoSize) - 1) / Int(m.gsoSize))
    }
    /// Statistics as shown: classful qdiscs take queue length and backlog from their children.
    func statsSnapshot() -> QdiscStats {
        guard isClassful else { var s = stats; s.rate = estimator?.sample; return s }
        var s = stats
        s.rate = estimator?.sample
        s.qlen = 0; s.backlog = 0
        for c in childQdiscs() { let cs = c.statsSnapshot(); s.qlen += cs.qlen; s.backlog &+= cs.backlog }
        s.qlen += extraQueued.0; s.backlog &+= extraQueued.1
        if peeked != PacketQueue.empty { s.qlen += 1; s.backlog &+= UInt64(pool.metas[Int(peeked)].pktLen) }
        return s
    }
    /// Whether the qdisc holds any packet (cheap for classless qdiscs).
    final var backlogged: Bool { stats.qlen > 0 || (isClassful && statsSnapshot().qlen > 0) }
    /// Packets a classful qdisc holds outside its children (htb's direct queue).
    var extraQueued: (Int, UInt64) { (0, 0) }
    /// For a packet dropped from inside the queue (not the one being enqueued).
    @inline(__always) func accountDropped(_ bytes: Int) {
        stats.qlen -= 1; stats.backlog &-= UInt64(bytes); stats.drops &+= 1
    }
}

/// The outcome of classification on enqueue.
enum Classified: ~Copyable {
    case go(Packet, TcResult?)
    case done(EnqueueVerdict)
}


/// noop: drops everything (the qdisc of a device that is down).
final class NoopQdisc: Qdisc {
    init(env: QdiscEnv) { super.init(kind: "noop", handle: .unspec, parent: .root, env: env) }
}

/// noqueue: no queue at all; dev_queue_xmit hands packets straight to the driver.
final class NoqueueQdisc: Qdisc {
    init(handle: TcHandle = .unspec, env: QdiscEnv) { super.init(kind: "noqueue", handle: handle, parent: .root, env: env) }
    /// A device's default noqueue: tc shows 2 whatever the device's queues. One made by a
    /// request has its handle and the usual count.
    override var refcnt: Int { handle == .unspec ? 2 : super.refcnt }
}

/// pfifo / bfifo / pfifo_head_drop (sch_fifo.c): tail drop at `limit` packets or bytes.
final class FifoQdisc: Qdisc {
    enum Mode { case packets, bytes, headDrop }
    let mode: Mode
    var limit: Int
    var q = PacketQueue()

    override init(kind: String, handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        mode = kind == "bfifo" ? .bytes : (kind == "pfifo_head_drop" ? .headDrop : .packets)
        // Defaults as the kernel's fifo_init: txqueuelen packets, or txqueuelen × MTU bytes.
        let qlen = max(env.txQueueLen, 1)
        limit = mode == .bytes ? qlen * env.mtu : qlen
        super.init(kind: kind, handle: handle, parent: parent, env: env)
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        let l = len(p)
        switch mode {
        case .packets:
            guard q.count < limit else { return drop(p) }
        case .bytes:
            guard q.bytes + UInt64(l) <= UInt64(limit) else { return drop(p) }
        case .headDrop:
            if q.count >= limit, let old = q.pop(pool) {
                accountDropped(len(old)); pool.free(old)
                q.push(p, pool); accountIn(l)
                return .congestion
            }
        }
        q.push(p, pool)
        accountIn(l)
        return .success
    }

    override func dequeue() -> Packet? {
        guard let p = q.pop(pool) else { return nil }
        accountOut(len(p), segs: segs(p))
        return p
    }

    override func peekLength() -> Int? { q.peekIndex.map { Int(pool.metas[Int($0)].pktLen) } }
    override func reset() { q.purge(pool); stats.qlen = 0; stats.backlog = 0 }


}
