/// mq (sch_mq.c): the root of a multiqueue device, one class per transmit queue (major:1 …
/// major:num_tx_queues), each holding that queue's own qdisc. As the kernel's:
/// - only as the root, and only on a device with more than one transmit queue (EOPNOTSUPP);
/// - each queue starts with the default qdisc (net.core.default_qdisc, Sluice's
///   `--default-qdisc`) for the queues in use (real_num_tx_queues) and pfifo_fast beyond them,
///   all with handle 0; only those of the queues in use are listed (mq_attach hashes them);
/// - no options, no filters ("Class doesn't support blocks"), no class add, change or delete:
///   a child is replaced by grafting a qdisc onto its class, and deleting one leaves noop;
/// - its statistics are the sum of its children's (mq_dump), a class's those of its child.
/// A packet goes to the queue netdev_pick_tx picks: the one skbedit set, else by flow hash
/// over the queues in use. The device's single worker serves the queues in turn, one packet
/// each, as the kernel's per-queue qdisc_run would share the wire.
final class MQQdisc: Qdisc {
    var children: [Qdisc] = []
    /// The queue the next dequeue starts from.
    var next = 0

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "mq", handle: handle, parent: parent, env: env)
    }

    override var isClassful: Bool { true }
    /// tcm_info: mq itself is not attached to a queue; its children are.
    override var refcnt: Int { 1 }

    /// mq_init's children, made by the caller from the daemon's default (`make(queue)`).
    func populate(_ make: (Int) -> Qdisc) {
        guard children.isEmpty else { return }
        for i in 0..<max(env.txQueues, 1) {
            let c = make(i)
            c.parent = TcHandle(handle.major, UInt16(truncatingIfNeeded: i + 1))
            c.shownDefault = i < env.realTxQueues
            c.unhashed = i >= env.realTxQueues
            children.append(c)
        }
    }

    /// netdev_pick_tx: skb->queue_mapping when it names a queue in use, else the flow hash
    /// scaled over the queues in use (reciprocal_scale), else queue 0.
    @inline(__always) func queue(for p: borrowing Packet) -> Int {
        let real = min(env.realTxQueues, children.count)
        guard real > 1 else { return 0 }
        let m = pool.metas[Int(p.index)]
        if m.queueMapping != 0 && Int(m.queueMapping) < real { return Int(m.queueMapping) }
        let h = m.flowHash != 0 ? m.flowHash : FlowHash.hash(pool, p.index, seed: 0)
        return Int((UInt64(h) &* UInt64(real)) >> 32)
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        guard !children.isEmpty else { return drop(p) }
        return children[queue(for: p)].enqueue(p)
    }

    override func dequeue() -> Packet? {
        let n = children.count
        for k in 0..<n {
            let i = (next + k) % n
            if let p = children[i].dequeuePeeked() {
                next = (i + 1) % n
                return p
            }
        }
        return nil
    }

    override func peekLength() -> Int? {
        let n = children.count
        for k in 0..<n { if let l = children[(next + k) % n].peekLength() { return l } }
        return nil
    }

    override func reset() { for c in children { c.purge() } }
    override var watchdog: UInt64 { children.map(\.watchdog).filter { $0 > 0 }.min() ?? 0 }
    override func childQdiscs() -> [Qdisc] { children }

    /// mq_dump: the children's counters summed, queue lengths and backlogs included.
    override func statsSnapshot() -> QdiscStats {
        var s = QdiscStats()
        for c in children {
            let cs = c.statsSnapshot()
            s.bytes &+= cs.bytes; s.packets &+= cs.packets; s.drops &+= cs.drops
            s.overlimits &+= cs.overlimits; s.requeues &+= cs.requeues
            s.backlog &+= cs.backlog; s.qlen += cs.qlen
        }
        return s
    }

    /// mq_walk + mq_dump_class(_stats): one class per transmit queue, parent root, its leaf
    /// the queue's qdisc.
    override func classes(details: Bool) -> [QdiscClassInfo] {
        children.enumerated().map { i, c in
            QdiscClassInfo(classid: TcHandle(handle.major, UInt16(truncatingIfNeeded: i + 1)), parent: .root, leaf: c,
                           options: "", stats: c.statsSnapshot(), xstats: nil)
        }
    }

    /// mq_graft: the queue's qdisc replaced; nil leaves noop_qdisc (the queue then drops).
    override func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        let i = Int(classid.minor) - 1
        guard classid.major == handle.major, i >= 0, i < children.count else { throw SluiceError("Error: Specified class not found.") }
        let old = children[i]
        let new = q ?? NoopQdisc(env: env)
        new.parent = classid
        children[i] = new
        return old
    }

    /// mq has no cops->delete.
    override func deleteClass(_ classid: TcHandle) throws(SluiceError) {
        throw SluiceError("RTNETLINK answers: Operation not supported")
    }
}
