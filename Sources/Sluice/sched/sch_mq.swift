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
///
/// mqprio (sch_mqprio.c) is the same root with traffic classes over the queues: `num_tc`
/// classes, each a range of queues (count@offset), and skb->priority mapped to a class
/// (netdev_set_num_tc, netdev_set_tc_queue, netdev_set_prio_tc_map); a packet's queue is then
/// hashed within its class's range (skb_tx_hash). Software mode only (hw 0): no Sluice device
/// has ndo_setup_tc, so hardware offload is refused as the kernel refuses it for such a device.
final class MQQdisc: Qdisc {
    var children: [Qdisc] = []
    /// The queue the next dequeue starts from.
    var next = 0
    /// mqprio's traffic classes (nil for mq).
    var trafficClasses: TrafficClasses?

    /// struct tc_mqprio_qopt as mqprio applies it to the device (hw 0).
    struct TrafficClasses: Equatable {
        var numTc: Int
        /// prio_tc_map: skb->priority & 15 → traffic class.
        var prioTcMap: SIMD16<UInt8>
        /// Per class: its queues' count and first queue (tc_to_txq).
        var count: SIMD16<UInt16>
        var offset: SIMD16<UInt16>

        /// mqprio_validate_qopt with the queue counts checked (software mode): the class
        /// count, the map and each class's queues within the queues in use, no overlap.
        /// txtime-assist taprio lets classes share queues (`allowOverlap`).
        func validate(realTxQueues: Int, queueCounts: Bool = true, allowOverlap: Bool = false) throws(SluiceError) {
            guard numTc <= 16 else { throw SluiceError("Error: Number of traffic classes is outside valid range") }
            for i in 0..<16 where Int(prioTcMap[i]) >= numTc {
                throw SluiceError("Error: Invalid traffic class in priority to traffic class mapping")
            }
            for i in 0..<numTc where queueCounts {
                let last = Int(offset[i]) + Int(count[i])
                guard count[i] > 0 else { throw SluiceError("Error: sch_mqprio_lib: No queues for TC \(i)") }
                guard Int(offset[i]) < realTxQueues, last <= realTxQueues else {
                    throw SluiceError("Error: sch_mqprio_lib: Queues \(count[i]):\(offset[i]) for TC \(i) exceed the \(realTxQueues) TX queues available")
                }
                for j in (i + 1)..<max(numTc, i + 1) where !allowOverlap {
                    let a = max(Int(offset[i]), Int(offset[j])), b = min(last, Int(offset[j]) + Int(count[j]))
                    if a < b {
                        throw SluiceError("Error: sch_mqprio_lib: TC \(i) queues \(count[i])@\(offset[i]) overlap with TC \(j) queues \(count[j])@\(offset[j])")
                    }
                }
            }
        }

        /// netdev_txq_to_tc: the class whose range holds queue `q`, or nil.
        func tc(ofQueue q: Int) -> Int? {
            (0..<numTc).first { q >= Int(offset[$0]) && q < Int(offset[$0]) + Int(count[$0]) }
        }
    }

    /// mqprio_init's checks in its order, then the mapping applied: `hw` is clamped to 1 and
    /// refused (no Sluice device offloads); attributes after the struct (mode, shaper, rates,
    /// frame preemption) exist only in hardware mode.
    func applyMqprio(_ t: TrafficClasses, hw: UInt8, hasAttributes: Bool, parseAttributes: () throws(SluiceError) -> Void = {}) throws(SluiceError) {
        if hw == 0 { try t.validate(realTxQueues: env.realTxQueues) } else {
            try t.validate(realTxQueues: env.realTxQueues, queueCounts: false)
            throw SluiceError("Error: Device does not support hardware offload (Invalid argument)")
        }
        if hasAttributes {
            try parseAttributes()
            throw SluiceError("Error: mqprio TCA_OPTIONS can only contain netlink attributes in hardware mode (Invalid argument)")
        }
        trafficClasses = t
    }

    override init(kind: String = "mq", handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: kind, handle: handle, parent: parent, env: env)
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

    @inline(__always) func queue(for p: borrowing Packet) -> Int {
        Self.pickQueue(p.index, pool: pool, classes: trafficClasses, inUse: env.realTxQueues, queues: children.count)
    }

    /// netdev_pick_tx: skb->queue_mapping when it names a queue in use, else the flow hash
    /// scaled over the queues in use (reciprocal_scale), else queue 0. Shared with taprio.
    @inline(__always)
    static func pickQueue(_ index: UInt32, pool: PacketPool, classes: TrafficClasses?, inUse: Int, queues: Int) -> Int {
        let real = min(inUse, queues)
        guard real > 1 else { return 0 }
        let m = pool.metas[Int(index)]
        if m.queueMapping != 0 && Int(m.queueMapping) < real { return Int(m.queueMapping) }
        // skb_tx_hash: within the range of the packet's traffic class when there are classes
        // (all queues in use when that class has none).
        var qoffset = 0, qcount = real
        if let t = classes, t.numTc > 0 {
            let tc = Int(t.prioTcMap[Int(m.priority & 15)])
            if t.count[tc] > 0 { qoffset = Int(t.offset[tc]); qcount = Int(t.count[tc]) }
        }
        let h = m.flowHash != 0 ? m.flowHash : FlowHash.hash(pool, index, seed: 0)
        return min(qoffset + Int((UInt64(h) &* UInt64(qcount)) >> 32), queues - 1)
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
    override var watchdog: UInt64 {
        var w: UInt64 = 0
        for c in children { let cw = c.watchdog; if cw > 0 && (w == 0 || cw < w) { w = cw } }
        return w
    }
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
        s.rate = estimator?.sample
        return s
    }

    /// mq_walk + mq_dump_class(_stats): one class per transmit queue, parent root, its leaf
    /// the queue's qdisc.
    /// mqprio_walk + mqprio_dump_class(_stats): first a class per traffic class (major:ffe0 +
    /// tc, parent root, no leaf, its queues' statistics summed), then the queues, each with its
    /// traffic class as parent (0: when none holds it).
    override func classes(details: Bool) -> [QdiscClassInfo] {
        var out: [QdiscClassInfo] = []
        if let t = trafficClasses {
            for tc in 0..<t.numTc {
                var s = QdiscStats()
                for q in Int(t.offset[tc])..<min(Int(t.offset[tc]) + Int(t.count[tc]), children.count) {
                    let cs = children[q].statsSnapshot()
                    s.bytes &+= cs.bytes; s.packets &+= cs.packets; s.drops &+= cs.drops
                    s.overlimits &+= cs.overlimits; s.requeues &+= cs.requeues
                    s.backlog &+= cs.backlog; s.qlen += cs.qlen
                }
                out.append(QdiscClassInfo(classid: TcHandle(handle.major, UInt16(0xFFE0 + tc)), parent: .root, leaf: nil,
                                          options: "", stats: s, xstats: nil))
            }
        }
        for (i, c) in children.enumerated() {
            var parent = TcHandle.root
            if let t = trafficClasses { parent = t.tc(ofQueue: i).map { TcHandle(handle.major, UInt16(0xFFE0 + $0)) } ?? TcHandle(raw: 0) }
            out.append(QdiscClassInfo(classid: TcHandle(handle.major, UInt16(truncatingIfNeeded: i + 1)), parent: parent, leaf: c,
                                      options: "", stats: c.statsSnapshot(), xstats: nil))
        }
        return out
    }

    /// mq_graft: the queue's qdisc replaced; nil leaves noop_qdisc (the queue then drops).
    override func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        if let t = trafficClasses, classid.major == handle.major, classid.minor >= 0xFFE0, Int(classid.minor) - 0xFFE0 < t.numTc {
            // mqprio_graft: a traffic class has no queue of its own.
            throw SluiceError("RTNETLINK answers: Invalid argument")
        }
        return try graftBand(&children, classid, q, count: children.count, notFound: "Error: Specified class not found.")
    }

    /// mq has no cops->delete.
    override func deleteClass(_ classid: TcHandle) throws(SluiceError) {
        throw SluiceError("RTNETLINK answers: Operation not supported")
    }
}
