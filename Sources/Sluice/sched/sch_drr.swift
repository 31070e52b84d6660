/// Principles (sch_drr.c)
/// ----------
/// Deficit round robin among classes: each class (with its own child qdisc, pfifo by default)
/// that has packets is on the active list; the head class sends while its deficit covers the
/// next packet, else it gets `quantum` more bytes and goes to the tail. Long-run byte shares are
/// proportional to the quanta. Packets are classified by skb->priority or the filters; a packet
/// no class claims is dropped.
final class DRRClass {
    let classid: TcHandle
    var quantum: Int
    var deficit = 0
    var leaf: Qdisc
    var isActive = false
    var stats = QdiscStats()
    init(classid: TcHandle, quantum: Int, leaf: Qdisc) { self.classid = classid; self.quantum = quantum; self.leaf = leaf }
}

final class DRRQdisc: Qdisc {
    var classesByID: [UInt32: DRRClass] = [:]
    var activeList: [DRRClass] = []
    var head = 0

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "drr", handle: handle, parent: parent, env: env)
    }

    override var isClassful: Bool { true }
    override func childQdiscs() -> [Qdisc] { classesByID.values.sorted { $0.classid < $1.classid }.map(\.leaf) }


    /// drr_change_class: creates a class or changes its quantum (TCA_DRR_QUANTUM).
    func setClass(_ classid: TcHandle, quantum: Int, replace: Bool) throws(SluiceError) {
        guard classid.major == handle.major, classid.minor != 0 else { throw SluiceError("Error: classid \(classid) does not belong to drr \(handle)") }
        let existing = classesByID[classid.raw]
        if existing != nil && !replace { throw SluiceError("Error: class \(classid) already exists.") }
        guard quantum > 0 else { throw SluiceError("Error: drr quantum must be positive.") }
        if let e = existing { e.quantum = quantum; return }
        classesByID[classid.raw] = DRRClass(classid: classid, quantum: quantum,
                                            leaf: FifoQdisc(kind: "pfifo", handle: .unspec, parent: classid, env: env))
        classOrder.insert(classid.raw)
    }

    /// The kernel's class walk order, for `tc class show`.
    var classOrder = KernelClassHash()

    override func deleteClass(_ classid: TcHandle) throws(SluiceError) {
        guard let c = classesByID[classid.raw] else { throw SluiceError("Error: Specified class not found.") }
        guard !classInUse(classid) else { throw SluiceError("Error: DRR class is in use.") }
        stats.drops &+= UInt64(c.leaf.statsSnapshot().qlen)
        c.leaf.purge()
        activeList.removeAll { $0 === c }
        head = 0
        classesByID[classid.raw] = nil
        classOrder.remove(classid.raw)
    }

    override func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        guard let c = classesByID[classid.raw] else { throw SluiceError("Error: Failed to find specified qdisc.") }
        let old = c.leaf
        let new = q ?? FifoQdisc(kind: "pfifo", handle: .unspec, parent: classid, env: env)
        new.parent = classid
        c.leaf = new
        return old
    }

    func classify(_ p: borrowing Packet, _ r: TcResult?) -> DRRClass? {
        let prio = pool.metas[Int(p.index)].priority
        if prio >> 16 == UInt32(handle.major), let c = classesByID[prio] { return c }
        if case .classid(let id)? = r { return classesByID[id.raw] }
        return nil
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        switch classifyForEnqueue(p) {
        case .done(let v): return v
        case .go(let pk, let r):
            guard let c = classify(pk, r) else { return drop(pk) }
            let v = c.leaf.enqueue(pk)
            if v == .dropped || v == .congestion { stats.drops &+= 1; c.stats.drops &+= 1; return v }
            if !c.isActive {
                c.isActive = true
                c.deficit = 0
                activeList.append(c)
            }
            return v
        }
    }

    override func dequeue() -> Packet? {
        var spins = 0
        while !activeList.isEmpty && spins < 4 * activeList.count + 4 {
            spins += 1
            if head >= activeList.count { head = 0 }
            let c = activeList[head]
            guard let l = c.leaf.peekLength() else {
                c.isActive = false
                activeList.remove(at: head)
                continue
            }
            if l <= c.deficit {
                guard let p = c.leaf.dequeuePeeked() else { continue }
                c.deficit -= l
                c.stats.packets &+= segs(p); c.stats.bytes &+= UInt64(l)
                if !c.leaf.backlogged { c.isActive = false; activeList.remove(at: head) }
                countSent(l, segs: segs(p))
                return p
            }
            c.deficit += c.quantum
            head += 1
        }
        return nil
    }

    override func reset() {
        for c in classesByID.values { c.leaf.purge(); c.isActive = false }
        activeList.removeAll(keepingCapacity: true); head = 0
    }
    override var watchdog: UInt64 {
        var w: UInt64 = 0
        for c in classesByID.values { let cw = c.leaf.watchdog; if cw > 0 && (w == 0 || cw < w) { w = cw } }
        return w
    }

    /// drr_dump_class (parent TC_H_ROOT, quantum) and drr_dump_class_stats (the class's sent
    /// counters, its child's queue, the deficit), in the kernel's class walk order.
    override func classes(details: Bool) -> [QdiscClassInfo] {
        classOrder.order.compactMap { classesByID[$0] }.map { c in
            var st = c.leaf.statsSnapshot()
            st.packets = c.stats.packets; st.bytes = c.stats.bytes
            return QdiscClassInfo(classid: c.classid, parent: .root, leaf: c.leaf, options: "quantum \(TcFormat.sizeU32(UInt32(clamping: c.quantum))) ",
                                  stats: st, xstats: " deficit \(TcFormat.sizeU32(UInt32(truncatingIfNeeded: c.deficit))) ")
        }
    }
}
