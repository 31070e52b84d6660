/// Principles (sch_skbprio.c)
/// ----------
/// Strict priority by skb->priority itself (0…63, higher first, above 63 as 63) over 64 FIFOs
/// sharing one `limit` of packets. When full, an arriving packet of a priority above the
/// lowest queued one takes the place of that queue's last packet (dropped and counted on its
/// priority); one at or below the lowest is dropped. Each priority is a class (major:1…64)
/// with its own backlog, drop and overlimit counts.
final class SkbprioQdisc: Qdisc {
    static let priorities = 64
    var limit = 64
    var queues = [PacketQueue](repeating: PacketQueue(), count: SkbprioQdisc.priorities)
    var backlogs = [UInt64](repeating: 0, count: SkbprioQdisc.priorities)
    var drops = [UInt64](repeating: 0, count: SkbprioQdisc.priorities)
    var highest = 0
    var lowest = SkbprioQdisc.priorities - 1

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "skbprio", handle: handle, parent: parent, env: env)
    }

    override var isClassful: Bool { true }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        let prio = Int(min(pool.metas[Int(p.index)].priority, UInt32(Self.priorities - 1)))
        let l = len(p)
        if stats.qlen < limit {
            queues[prio].push(p, pool)
            accountIn(l); backlogs[prio] &+= UInt64(l)
            if prio > highest { highest = prio }
            if prio < lowest { lowest = prio }
            return .success
        }
        let lp = lowest
        if prio <= lp {
            drops[prio] &+= 1
            return drop(p)
        }
        queues[prio].push(p, pool)
        accountIn(l); backlogs[prio] &+= UInt64(l)
        if let old = queues[lp].popTail(pool) {
            let ol = len(old)
            stats.qlen -= 1; stats.backlog &-= UInt64(ol); backlogs[lp] &-= UInt64(ol)
            drops[lp] &+= 1
            _ = drop(old)
        }
        if queues[lp].isEmpty {
            if lowest == highest { lowest = prio; highest = prio } else { lowest = nextNonEmpty(from: lp, up: true) ?? prio }
        }
        if prio > highest { highest = prio }
        return .congestion
    }

    func nextNonEmpty(from p: Int, up: Bool) -> Int? {
        var i = p
        while i >= 0 && i < Self.priorities {
            if !queues[i].isEmpty { return i }
            i += up ? 1 : -1
        }
        return nil
    }

    override func dequeue() -> Packet? {
        guard let p = queues[highest].pop(pool) else { return nil }
        let l = len(p)
        backlogs[highest] &-= UInt64(l)
        accountOut(l, segs: segs(p))
        if queues[highest].isEmpty {
            if lowest == highest { highest = 0; lowest = Self.priorities - 1 } else { highest = nextNonEmpty(from: highest, up: false) ?? 0 }
        }
        return p
    }

    override func peekLength() -> Int? { queues[highest].peekIndex.map { Int(pool.metas[Int($0)].pktLen) } }

    override func reset() {
        for i in 0..<Self.priorities { queues[i].purge(pool); backlogs[i] = 0 }
        stats.qlen = 0; stats.backlog = 0
        highest = 0; lowest = Self.priorities - 1
    }

    override func statsSnapshot() -> QdiscStats { var s = stats; s.rate = estimator?.sample; return s }

    override func classes(details: Bool) -> [QdiscClassInfo] {
        // skbprio_dump_class_stats: each priority's queue counts.
        (0..<Self.priorities).map { i in
            var s = QdiscStats()
            s.qlen = queues[i].count; s.backlog = backlogs[i]; s.drops = drops[i]; s.overlimits = drops[i]
            return QdiscClassInfo(classid: TcHandle(handle.major, UInt16(i + 1)), parent: handle, leaf: nil, options: "", stats: s, xstats: nil)
        }
    }
}

/// Principles (sch_plug.c)
/// ----------
/// A FIFO that holds its packets until told: `block` closes the current buffer (the packets
/// so far form an epoch), `release` lets the last closed epoch out, `release_indefinite` lets
/// everything through until the next `block`; `limit` bytes bound what waits. Created plugged
/// (nothing leaves until a release), with the limit tc sent (txqueuelen × MTU without
/// options). Used to hold output until a checkpoint commits.
final class PlugQdisc: Qdisc {
    static let buffer: UInt32 = 0, releaseOne: UInt32 = 1, releaseIndefinite: UInt32 = 2, setLimit: UInt32 = 3
    var q = PacketQueue()
    var limit: UInt64
    var currentEpoch = 0, lastEpoch = 0, toRelease = 0
    var indefinite = false
    var throttled = true
    /// Set once plug_init has run: later options are plug_change's actions.
    var configured = false

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        limit = UInt64(max(env.txQueueLen, 1)) * UInt64(env.mtu)
        super.init(kind: "plug", handle: handle, parent: parent, env: env)
    }

    /// plug_init (`initial`: only the limit is read) and plug_change (the action).
    func apply(action: UInt32, limit l: UInt32, initial: Bool) throws(SluiceError) {
        if initial { limit = UInt64(l); configured = true; return }
        switch action {
        case Self.buffer:
            lastEpoch = currentEpoch; currentEpoch = 0
            if indefinite { throttled = true }
            indefinite = false
        case Self.releaseOne:
            toRelease += lastEpoch; lastEpoch = 0; throttled = false
        case Self.releaseIndefinite:
            indefinite = true; toRelease = 0; lastEpoch = 0; currentEpoch = 0; throttled = false
        case Self.setLimit:
            limit = UInt64(l)
        default:
            throw SluiceError("Error: plug: unknown action \(action)")
        }
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        let l = len(p)
        guard stats.backlog + UInt64(l) <= limit else { return drop(p) }
        if !indefinite { currentEpoch += 1 }
        q.push(p, pool)
        accountIn(l)
        return .success
    }

    override func dequeue() -> Packet? {
        if throttled { return nil }
        if !indefinite {
            if toRelease == 0 { throttled = true; return nil }
            toRelease -= 1
        }
        guard let p = q.pop(pool) else { return nil }
        accountOut(len(p), segs: segs(p))
        return p
    }

    override func peekLength() -> Int? {
        if throttled || (!indefinite && toRelease == 0) { return nil }
        return q.peekIndex.map { Int(pool.metas[Int($0)].pktLen) }
    }

    override func reset() { q.purge(pool); stats.qlen = 0; stats.backlog = 0 }
}
