/// Principles (sch_ets.c, IEEE 802.1Qaz Enhanced Transmission Selection)
/// ----------
/// `bands` classes (major:1 … major:N), each with its own child qdisc (pfifo of txqueuelen by
/// default). The first `strict` bands are served in strict priority, band 0 first; the rest
/// share what is left by deficit round robin with a byte `quantum` each (sch_drr's loop: a
/// band that becomes backlogged joins the end of the active list with one quantum; the head
/// sends while its deficit covers its head packet, else takes another quantum and goes to the
/// end). A packet's band: a skb->priority naming one of the qdisc's classes, else the filters'
/// class id, else priomap[priority & 15] (priomap[0] for a priority with a major number); a
/// class id beyond the bands goes to priomap[0]. Unmapped priorities go to the last band.
/// Classes come and go only with the qdisc's `bands`; a class change sets an ETS band's quantum.
final class ETSQdisc: Qdisc {
    static let maxBands = 16
    var nbands = 0
    var nstrict = 0
    var quanta = [Int](repeating: 0, count: ETSQdisc.maxBands)
    var priomap = [Int](repeating: 0, count: 16)
    var children: [Qdisc] = []
    var deficits = [Int](repeating: 0, count: ETSQdisc.maxBands)
    /// The ETS bands with packets, in round-robin order (q->active), and a membership mark.
    var active: [Int] = []
    var inActive = [Bool](repeating: false, count: ETSQdisc.maxBands)

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "ets", handle: handle, parent: parent, env: env)
        active.reserveCapacity(Self.maxBands)
    }

    override var isClassful: Bool { true }

    /// The options as the kernel keeps them after ets_qdisc_change.
    struct Params: Equatable {
        var nbands: Int
        var nstrict = 0
        /// Quanta for the ETS bands, from band `nstrict` on; missing ones are the MTU.
        var quanta: [Int] = []
        /// Bands for priorities 0…; missing ones are the last band.
        var priomap: [Int] = []
    }

    /// ets_qdisc_change: checked, then applied whole. Bands that go drop their packets; new
    /// bands get a pfifo; a band turning strict leaves the round robin, one turning ETS joins
    /// it if backlogged.
    func configure(_ p: Params) throws(SluiceError) {
        guard (1...Self.maxBands).contains(p.nbands) else { throw SluiceError("Error: sch_ets: Invalid number of bands") }
        guard p.nstrict <= p.nbands else { throw SluiceError("Error: sch_ets: Invalid number of strict bands") }
        guard p.priomap.count <= 16 else { throw SluiceError("Error: sch_ets: Too many priorities in ETS priomap") }
        guard p.priomap.allSatisfy({ $0 >= 0 && $0 < p.nbands }) else { throw SluiceError("Error: sch_ets: Invalid band number in ETS priomap") }
        guard p.nstrict + p.quanta.count <= p.nbands else { throw SluiceError("Error: sch_ets: ETS quanta has more values than bands") }
        var q = [Int](repeating: 0, count: Self.maxBands)
        for (i, v) in p.quanta.enumerated() { q[p.nstrict + i] = Self.clampQuantum(v) }
        for i in p.nstrict..<p.nbands where q[i] == 0 { q[i] = Self.clampQuantum(env.mtu) }
        var map = [Int](repeating: p.nbands - 1, count: 16)
        for (i, b) in p.priomap.enumerated() { map[i] = b }

        while children.count > p.nbands {
            let b = children.count - 1
            leave(b)
            let c = children.removeLast()
            stats.drops &+= UInt64(c.statsSnapshot().qlen)
            c.purge()
            deficits[b] = 0
        }
        while children.count < p.nbands {
            let c = FifoQdisc(kind: "pfifo", handle: .unspec, parent: TcHandle(handle.major, UInt16(children.count + 1)), env: env)
            c.limit = max(env.txQueueLen, 1)
            children.append(c)
        }
        if p.nstrict < nstrict {
            for b in p.nstrict..<min(nstrict, p.nbands) where children[b].backlogged { join(b, deficit: q[b]) }
        } else if p.nstrict > nstrict {
            for b in nstrict..<p.nstrict { leave(b) }
        }
        nbands = p.nbands
        nstrict = p.nstrict
        quanta = q
        priomap = map
    }

    /// ets_quantum_parse: clamped to 256 bytes … 1 MiB.
    static func clampQuantum(_ v: Int) -> Int { min(max(v, 256), 1 << 20) }

    /// ets_class_change: an ETS band's quantum.
    func setQuantum(_ classid: TcHandle, _ v: Int?) throws(SluiceError) {
        let b = Int(classid.minor) - 1
        guard classid.major == handle.major, b >= 0, b < nbands else {
            throw SluiceError("Error: Fine-grained class addition and removal is not supported")
        }
        guard let v else { return }
        guard b >= nstrict else { throw SluiceError("Error: Strict bands do not have a configurable quantum") }
        quanta[b] = Self.clampQuantum(v)
    }

    @inline(__always) func join(_ b: Int, deficit: Int) {
        guard !inActive[b] else { return }
        inActive[b] = true
        active.append(b)
        deficits[b] = deficit
    }

    @inline(__always) func leave(_ b: Int) {
        guard b < inActive.count, inActive[b] else { return }
        inActive[b] = false
        if let i = active.firstIndex(of: b) { active.remove(at: i) }
    }

    /// ets_classify's fallback: the band for skb->priority.
    @inline(__always) func band(priority: UInt32) -> Int { priority >> 16 != 0 ? priomap[0] : priomap[Int(priority & 15)] }

    /// A class minor as ets_classify reads it: band minor − 1, or priomap[0] beyond the bands.
    @inline(__always) func band(minor m: UInt32) -> Int {
        let b = Int(m & 0xFFFF) - 1
        return b >= 0 && b < nbands ? b : priomap[0]
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        guard nbands > 0 else { return drop(p) }
        let prio = pool.metas[Int(p.index)].priority
        if prio & 0xFFFF_0000 == handle.raw { return enqueue(p, band: band(minor: prio)) }
        if filters.isEmpty { return enqueue(p, band: band(priority: prio)) }
        switch classifyForEnqueue(p) {
        case .done(let v): return v
        case .go(let pk, let r):
            switch r {
            case nil: return enqueue(pk, band: band(priority: prio))
            case .classid(let c)?: return enqueue(pk, band: band(minor: c.raw))
            default: return enqueue(pk, band: band(minor: 0))
            }
        }
    }

    func enqueue(_ p: consuming Packet, band b: Int) -> EnqueueVerdict {
        let first = !children[b].backlogged
        let l = len(p)
        let v = children[b].enqueue(p)
        if v == .dropped || v == .congestion { stats.drops &+= 1; return v }
        stats.qlen += 1; stats.backlog &+= UInt64(l)
        if first && b >= nstrict { join(b, deficit: quanta[b]) }
        return v
    }

    override func dequeue() -> Packet? {
        for b in 0..<nstrict {
            if let p = children[b].dequeuePeeked() { return sent(p) }
        }
        // ets_qdisc_dequeue's round robin over the backlogged ETS bands.
        while let b = active.first {
            guard let l = children[b].peekLength() else { leave(b); continue }
            if l <= deficits[b] {
                deficits[b] -= l
                guard let p = children[b].dequeuePeeked() else { leave(b); continue }
                if !children[b].backlogged { leave(b) }
                return sent(p)
            }
            deficits[b] += quanta[b]
            active.removeFirst()
            active.append(b)
        }
        return nil
    }

    @inline(__always) func sent(_ p: consuming Packet) -> Packet {
        let l = len(p)
        stats.qlen -= 1; stats.backlog &-= UInt64(l)
        countSent(l, segs: segs(p))
        return p
    }

    override func peekLength() -> Int? {
        for b in 0..<nstrict { if let l = children[b].peekLength() { return l } }
        for b in active { if let l = children[b].peekLength() { return l } }
        return nil
    }

    override func reset() {
        for c in children { c.purge() }
        for b in active { inActive[b] = false }
        active.removeAll(keepingCapacity: true)
        stats.qlen = 0; stats.backlog = 0
    }

    override var watchdog: UInt64 {
        var w: UInt64 = 0
        for c in children { let cw = c.watchdog; if cw > 0 && (w == 0 || cw < w) { w = cw } }
        return w
    }

    override func childQdiscs() -> [Qdisc] { children }

    override func classes(details: Bool) -> [QdiscClassInfo] {
        // ets_class_dump: parent root, the child's handle; quantum for ETS bands; the child's
        // statistics as the class's.
        children.enumerated().map { i, c in
            QdiscClassInfo(classid: TcHandle(handle.major, UInt16(i + 1)), parent: .root, leaf: c,
                           options: i >= nstrict ? "quantum \(quanta[i]) " : "", stats: c.statsSnapshot(), xstats: nil)
        }
    }

    override func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        let b = Int(classid.minor) - 1
        guard classid.major == handle.major, b >= 0, b < nbands else { throw SluiceError("Error: Failed to find specified qdisc.") }
        let old = children[b]
        let new: Qdisc
        if let q { new = q } else {
            let f = FifoQdisc(kind: "pfifo", handle: .unspec, parent: classid, env: env)
            f.limit = max(env.txQueueLen, 1)
            new = f
        }
        new.parent = classid
        children[b] = new
        leave(b)
        let s = new.statsSnapshot()
        stats.qlen = children.reduce(0) { $0 + $1.statsSnapshot().qlen }
        stats.backlog = children.reduce(0) { $0 &+ $1.statsSnapshot().backlog }
        if s.qlen > 0 && b >= nstrict { join(b, deficit: quanta[b]) }
        return old
    }

    override func deleteClass(_ classid: TcHandle) throws(SluiceError) {
        // ets has no class delete (its bands go with `bands`).
        throw SluiceError("Error: Operation not supported.")
    }

    /// ets_print_opt's text.
    func showOptions() -> String {
        var s = "bands \(nbands) "
        if nstrict > 0 { s += "strict \(nstrict) " }
        if nbands > nstrict { s += "quanta" + quanta[nstrict..<nbands].map { " \($0)" }.joined() + " " }
        return s + "priomap" + priomap.map { " \($0)" }.joined() + " "
    }
}
