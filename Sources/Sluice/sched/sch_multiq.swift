/// multiq (sch_multiq.c): one band per transmit queue in use of a multiqueue device, each band
/// a child qdisc (an invisible pfifo of the device's txqueuelen by default), served round
/// robin one packet at a time. As the kernel's:
/// - only on a device with more than one transmit queue (EOPNOTSUPP), and only with options
///   (struct tc_multiq_qopt, whose `bands` the kernel overwrites: bands = real_num_tx_queues,
///   max_bands = num_tx_queues);
/// - the filters decide only whether the packet is dropped or taken (their class id is
///   ignored); the band is skb->queue_mapping (skbedit's `queue_mapping`), band 0 when that
///   names no band;
/// - classes major:1 … major:bands with parent the qdisc, no class add, change or delete; a
///   child is replaced by grafting, and deleting one leaves noop there.
final class MultiqQdisc: Qdisc {
    var children: [Qdisc] = []
    var bands = 0
    var maxBands = 0
    /// The band served last (q->curband).
    var curband = 0

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "multiq", handle: handle, parent: parent, env: env)
    }

    override var isClassful: Bool { true }

    /// multiq_tune: bands follow the device's queues in use; removed bands drop what they
    /// held, and a band without a qdisc gets the default pfifo.
    func tune() {
        maxBands = max(env.txQueues, 1)
        bands = min(max(env.realTxQueues, 1), maxBands)
        while children.count > bands {
            let c = children.removeLast()
            c.purge()
        }
        func pfifo(_ i: Int) -> Qdisc { FifoQdisc(kind: "pfifo", handle: .unspec, parent: TcHandle(handle.major, UInt16(i + 1)), env: env) }
        for i in children.indices where children[i] is NoopQdisc { children[i] = pfifo(i) }
        while children.count < bands { children.append(pfifo(children.count)) }
        if curband >= bands { curband = 0 }
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        guard !children.isEmpty else { return drop(p) }
        var pk: Packet
        if filters.isEmpty {
            pk = p
        } else {
            switch classifyForEnqueue(p) {
            case .done(let v): return v
            case .go(let x, _): pk = x
            }
        }
        let q = Int(pool.metas[Int(pk.index)].queueMapping)
        let v = children[q < bands ? q : 0].enqueue(pk)
        if v == .dropped || v == .congestion { stats.drops &+= 1 }
        return v
    }

    override func dequeue() -> Packet? {
        for _ in 0..<bands {
            curband += 1
            if curband >= bands { curband = 0 }
            if let p = children[curband].dequeuePeeked() { countSent(len(p), segs: segs(p)); return p }
        }
        return nil
    }

    override func peekLength() -> Int? {
        var b = curband
        for _ in 0..<bands {
            b += 1
            if b >= bands { b = 0 }
            if let l = children[b].peekLength() { return l }
        }
        return nil
    }

    override func reset() { for c in children { c.purge() }; curband = 0 }
    override var watchdog: UInt64 {
        var w: UInt64 = 0
        for c in children { let cw = c.watchdog; if cw > 0 && (w == 0 || cw < w) { w = cw } }
        return w
    }
    override func childQdiscs() -> [Qdisc] { children }

    /// multiq_walk + dump_class: one class per band, parent the qdisc, its leaf the child.
    override func classes(details: Bool) -> [QdiscClassInfo] { bandClasses(children, parent: handle) }

    /// multiq_graft: nil leaves noop_qdisc in the band.
    override func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        try graftBand(&children, classid, q, count: bands, notFound: "Error: Specified class not found.")
    }
}
