/// Principles (sch_htb.c)
/// ----------
/// Hierarchical token bucket. Every class has two buckets measured in time: `tokens` at its
/// guaranteed `rate` (depth `burst`) and `ctokens` at its `ceil` (depth `cburst`). A class is
///   CAN_SEND    while its rate bucket is not negative,
///   MAY_BORROW  when that bucket is empty but its ceil bucket is not,
///   CANT_SEND   when even its ceil bucket is empty.
/// A leaf with packets may send at level L when it, or the ancestor at level L, can send and
/// every class on the way up is MAY_BORROW. Dequeue serves the lowest level first (guaranteed
/// rate before borrowing), then the lowest `prio`, and round-robins among equals with a deficit
/// of `quantum` bytes (rate / r2q unless given). Sending charges the leaf and its ancestors: the
/// rate bucket of classes at or above the lending level, the ceil bucket of all (htb_charge_class),
/// and counts `lended` at the lender and `borrowed` below it.
/// Unclassified packets go to the `default` class, or, if there is none, to the direct queue,
/// which is sent first and unshaped (direct_qlen).
/// The kernel keeps per-level red-black trees of active classes to make this O(log n); Sluice
/// scans the active leaves (fine for the tens of classes shapers use; measured in Benchmarks).
final class HTBClass {
    let classid: TcHandle
    /// The parent class. Unowned: a class with children cannot be deleted, and every class is
    /// held by the qdisc's table, so a parent always outlives its children (and a weak load per
    /// step up the tree would cost more than the rest of the walk).
    unowned(unsafe) var parent: HTBClass?
    var children: [HTBClass] = []
    var level = 0
    var rate: UInt64 = 0, ceil: UInt64 = 0
    var rateCfg = RateCfg(0), ceilCfg = RateCfg(0)
    var burst = 0, cburst = 0
    /// Bucket depths as tc sends them and the kernel keeps them: psched ticks.
    var bufferTicks: UInt32 = 0, cbufferTicks: UInt32 = 0
    var buffer: UInt64 = 0, cbuffer: UInt64 = 0     // ns (ticks × 64)
    /// The mode as of the last charge (cl->cmode), and how often it became CANT_SEND.
    var cmode: Mode = .canSend
    var overlimits: UInt64 = 0
    var tokens: Int64 = 0, ctokens: Int64 = 0
    var tc: UInt64 = 0
    var prio = 0
    var quantum = 0
    var quantumGiven = false
    /// DRR deficit per level (the kernel's leaf.deficit[level]).
    var deficit = [Int](repeating: 0, count: 8)
    var leaf: Qdisc? { didSet { leafView = leaf } }
    /// The same qdisc without reference counting, for the dequeue scan (`leaf` keeps it alive).
    unowned(unsafe) var leafView: Qdisc?
    var stats = QdiscStats()
    /// The class's rate estimator (TCA_RATE on the class), ticked by the datapath's timer.
    var estimator: RateEstimator?
    var lends: UInt64 = 0, borrows: UInt64 = 0, giants: UInt64 = 0
    /// The class's own filter block (cl->block): what classifies packets a filter above sent
    /// to this class while it is an inner class.
    var filters = FilterBlock()

    init(classid: TcHandle) { self.classid = classid }
    var isLeaf: Bool { children.isEmpty }

    enum Mode { case canSend, mayBorrow, cantSend }

    /// Elapsed time since the last charge, capped at mbuffer (60 s) as htb does.
    static let mbuffer: UInt64 = 60 * Time.s
    @inline(__always) func elapsed(_ now: UInt64) -> Int64 { Int64(min(now &- tc, Self.mbuffer)) }

    /// Memo of `mode` for one instant (a dequeue evaluates each class once).
    var memoTime: UInt64 = .max
    var memoMode: Mode = .canSend
    @inline(__always) func modeAt(_ now: UInt64) -> Mode {
        if memoTime == now { return memoMode }
        memoMode = mode(now: now)
        memoTime = now
        return memoMode
    }

    /// htb_class_mode (no hysteresis): the buckets as they would be now.
    func mode(now: UInt64) -> Mode {
        let diff = elapsed(now)
        if ctokens + diff < 0 { return .cantSend }
        if tokens + diff >= 0 { return .canSend }
        return .mayBorrow
    }

    /// When this class's mode next improves (its bucket reaches zero), or 0.
    func nextChange(now: UInt64) -> UInt64 {
        let diff = elapsed(now)
        switch mode(now: now) {
        case .canSend: return 0
        case .mayBorrow: return now &+ UInt64(max(1, -(tokens + diff)))
        case .cantSend: return now &+ UInt64(max(1, -(ctokens + diff)))
        }
    }
}

final class HTBQdisc: Qdisc {
    var r2q = 10
    var defaultClass: UInt16 = 0
    var directQlen = 0
    var direct = PacketQueue()
    var directPackets: UInt64 = 0
    var classesByID: [UInt32: HTBClass] = [:]
    /// The kernel's class walk order, for `tc class show`.
    var classOrder = KernelClassHash()
    var roots: [HTBClass] = []
    /// Leaves in creation order, for the round robin.
    var leaves: [HTBClass] = [] { didSet { leafRefs = leaves.map { Unmanaged.passUnretained($0) } } }
    /// The same, without reference counting, for the per-packet scan (`leaves` keeps them alive).
    var leafRefs: [Unmanaged<HTBClass>] = []
    var rrNext = [Int](repeating: 0, count: 64)   // per (level, prio) round-robin cursor
    var nextWake: UInt64 = 0

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        directQlen = max(env.txQueueLen, 1)
        super.init(kind: "htb", handle: handle, parent: parent, env: env)
    }

    override var isClassful: Bool { true }
    override var extraQueued: (Int, UInt64) { (direct.count, direct.bytes) }

    /// htb's qdisc-wide settings (struct tc_htb_glob, TCA_HTB_DIRECT_QLEN).
    struct HTBGlobals { var r2q: Int; var defaultClass: UInt16; var directQlen: Int }
    var globals: HTBGlobals { HTBGlobals(r2q: r2q, defaultClass: defaultClass, directQlen: directQlen) }

    /// htb_change: the globals, and each class's quantum that follows r2q.
    func configure(_ g: HTBGlobals) {
        r2q = max(g.r2q, 1); defaultClass = g.defaultClass; directQlen = g.directQlen
        for c in classesByID.values where !c.quantumGiven { c.quantum = quantumFor(c.rate) }
    }

    func quantumFor(_ rate: UInt64) -> Int { min(max(Int(rate / 8) / r2q, 1000), 200_000) }

    // MARK: classes

    /// tc's words for a class (q_htb.c htb_parse_class_opt), into the parameters tc would send.

    /// An htb class's configuration as the kernel receives it (struct tc_htb_opt): both tc's
    /// words and rtnetlink produce it. `quantum` 0 means rate / r2q.
    struct HTBClassParams {
        var rate: UInt64, ceil: UInt64
        var bufferTicks: UInt32, cbufferTicks: UInt32
        var quantum: Int
        var prio: Int
        var burst: Int, cburst: Int
        /// Each rate spec's overhead, mpu and link layer (psched_l2t_ns charges them).
        var rateLink = LinkSpec(), ceilLink = LinkSpec()
    }

    /// htb_change_class: creates or changes a class, whole; a changed class keeps its queue.
    func setClass(_ classid: TcHandle, parent: TcHandle, _ p: HTBClassParams, replace: Bool) throws(SluiceError) {
        // htb_change_class refuses only 0:0 and another qdisc's major: X:0 is a class like any
        // other (a root, unless a parent is named), found as the parent `X:` from then on.
        guard classid.major == handle.major, classid.raw != 0 else {
            throw SluiceError("Error: classid \(classid) does not belong to htb \(handle)")
        }
        let existing = classesByID[classid.raw]
        if existing != nil && !replace { throw SluiceError("Error: class \(classid) already exists.") }
        var parentClass: HTBClass?
        // htb_find: a parent that is not a class of this qdisc leaves the class at the root;
        // `parent X:` finds class X:0 when there is one.
        if parent != .root, let pc = classesByID[parent.raw] {
            parentClass = pc
            if existing == nil, let gp = pc.parent, gp.level < 2 { throw SluiceError("Error: sch_htb: tree is too deep.") }
        }
        guard p.rate > 0 else { throw SluiceError("Error: \"rate\" is required.") }
        // A ceil below the rate is accepted, as htb_change_class accepts it.
        let rate = p.rate, ceilV = p.ceil
        let c = existing ?? HTBClass(classid: classid)
        c.rate = rate; c.ceil = ceilV; c.burst = p.burst; c.cburst = p.cburst
        c.rateCfg = RateCfg(rate, p.rateLink); c.ceilCfg = RateCfg(ceilV, p.ceilLink)
        c.bufferTicks = p.bufferTicks
        c.cbufferTicks = p.cbufferTicks
        c.buffer = TcCore.ns(c.bufferTicks); c.cbuffer = TcCore.ns(c.cbufferTicks)
        c.prio = p.prio
        c.quantumGiven = p.quantum > 0
        c.quantum = p.quantum > 0 ? p.quantum : quantumFor(rate)
        if existing == nil {
            c.tokens = Int64(c.buffer); c.ctokens = Int64(c.cbuffer); c.tc = clock.now
            c.parent = parentClass
            if let pc = parentClass {
                if pc.isLeaf {
                    // The parent stops being a leaf: its queue goes (counted as drops, as htb does).
                    if let l = pc.leaf { stats.drops &+= UInt64(l.statsSnapshot().qlen); l.purge() }
                    pc.leaf = nil
                    leaves.removeAll { $0 === pc }
                    // An inner class sits one level below its parent; a root at TC_HTB_MAXDEPTH − 1.
                    pc.level = (pc.parent?.level ?? HTBQdisc.maxDepth) - 1
                    pc.deficit = [Int](repeating: 0, count: 8)
                }
                pc.children.append(c)
            } else {
                roots.append(c)
            }
            c.leaf = FifoQdisc(kind: "pfifo", handle: .unspec, parent: classid, env: env)
            c.level = 0
            leaves.append(c)
            classesByID[classid.raw] = c
            classOrder.insert(classid.raw)
        }
    }

    /// TC_HTB_MAXDEPTH.
    static let maxDepth = 8

    override func deleteClass(_ classid: TcHandle) throws(SluiceError) {
        guard let c = classesByID[classid.raw] else { throw SluiceError("Error: Specified class not found.") }
        guard c.children.isEmpty else { throw SluiceError("Error: HTB class in use.") }
        guard !classInUse(classid) else { throw SluiceError("Error: HTB class in use.") }
        if let l = c.leaf { stats.drops &+= UInt64(l.statsSnapshot().qlen); l.purge() }
        leaves.removeAll { $0 === c }
        if let p = c.parent {
            p.children.removeAll { $0 === c }
            if p.children.isEmpty {
                // htb_parent_to_leaf: the parent becomes a leaf again, level 0, with a new pfifo.
                p.leaf = FifoQdisc(kind: "pfifo", handle: .unspec, parent: p.classid, env: env)
                p.level = 0
                p.deficit = [Int](repeating: 0, count: 8)
                leaves.append(p)
            }
        } else {
            roots.removeAll { $0 === c }
        }
        classesByID[classid.raw] = nil
        classOrder.remove(classid.raw)
    }

    override func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        guard let c = classesByID[classid.raw], c.isLeaf, let old = c.leaf else {
            // htb_graft: an inner class is a bare EINVAL.
            throw SluiceError("RTNETLINK answers: Invalid argument")
        }
        let new = q ?? FifoQdisc(kind: "pfifo", handle: .unspec, parent: classid, env: env)
        new.parent = classid
        c.leaf = new
        return old
    }

    override func childQdiscs() -> [Qdisc] { leaves.compactMap(\.leaf) }

    // MARK: datapath

    /// Where htb_classify sends a packet.
    enum Target { case leaf(HTBClass), direct }

    /// A class id as htb_classify reads it: X:0 (the qdisc's own handle) is the direct queue,
    /// a leaf is itself, anything else (an inner class, an unknown id) is nil.
    @inline(__always) func lookup(_ id: UInt32) -> Target? {
        if id == handle.raw { return .direct }
        if let c = classesByID[id], c.level == 0 { return .leaf(c) }
        return nil
    }

    /// The default class, or the direct queue when there is none or it is not a leaf.
    var defaultTarget: Target {
        if let c = classesByID[TcHandle(handle.major, defaultClass).raw], c.level == 0 { return .leaf(c) }
        return .direct
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        // skb->priority first: naming X:0 or a leaf of this qdisc, no filter runs.
        if let t = lookup(pool.metas[Int(p.index)].priority) {
            return enqueue(p, to: t)
        }
        switch classifyForEnqueue(p) {
        case .done(let v): return v
        case .go(let pk, let r): return resolve(pk, r, depth: 0)
        }
    }

    /// htb_classify after a filter's result: X:0 is the direct queue, a leaf is itself, an
    /// inner class runs its own filters (its block) and the walk goes on; no result, an
    /// unknown class or an inner class without a verdict of its own falls to the default.
    func resolve(_ p: consuming Packet, _ r: TcResult?, depth: Int) -> EnqueueVerdict {
        guard case .classid(let id)? = r else { return enqueue(p, to: defaultTarget) }
        if let t = lookup(id.raw) { return enqueue(p, to: t) }
        guard let c = classesByID[id.raw], !c.filters.isEmpty, depth < Self.maxDepth else { return enqueue(p, to: defaultTarget) }
        switch classifyForEnqueue(p, block: c.filters) {
        case .done(let v): return v
        case .go(let pk, let r2): return resolve(pk, r2, depth: depth + 1)
        }
    }

    override func withClassBlock<R>(_ classid: TcHandle, _ body: (inout FilterBlock) throws(SluiceError) -> R) throws(SluiceError) -> R? {
        guard let c = classesByID[classid.raw] else { throw SluiceError("Error: Specified class doesn't exist (No such file or directory).") }
        return try body(&c.filters)
    }
    override var classBlocks: [(classid: TcHandle, block: FilterBlock)] {
        classOrder.order.compactMap { classesByID[$0] }.filter { !$0.filters.isEmpty }.map { ($0.classid, $0.filters) }
    }

    func enqueue(_ p: consuming Packet, to t: Target) -> EnqueueVerdict {
        switch t {
        case .leaf(let c):
            let v = c.leaf!.enqueue(p)
            if v == .dropped || v == .congestion { stats.drops &+= 1; c.stats.drops &+= 1 }
            return v
        case .direct:
            guard direct.count < directQlen else { return drop(p) }
            direct.push(p, pool)
            directPackets &+= 1
            return .success
        }
    }

    override func dequeue() -> Packet? {
        if let p = direct.pop(pool) { countSent(len(p), segs: segs(p)); return p }
        let now = clock.now
        // One pass: the lowest level, then the lowest prio, at which a backlogged leaf may send;
        // among those, the one nearest after that (level, prio)'s round-robin cursor.
        let n = leaves.count
        var bestLevel = Int.max, bestPrio = Int.max, bestDist = Int.max, bestIdx = -1
        var candidates = 0
        var wake: UInt64 = 0
        var i = 0
        leafRefs.withUnsafeBufferPointer { refs in
            while i < n {
                refs[i]._withUnsafeGuaranteedRef { c in
                    guard c.leafView!.backlogged else { return }
                    candidates += 1
                    if let lvl = sendLevel(c, now: now) {
                        let key = min(lvl, 7) * 8 + c.prio
                        let dist = (i - rrNext[key] + n) % n
                        if lvl < bestLevel || (lvl == bestLevel && (c.prio < bestPrio || (c.prio == bestPrio && dist < bestDist))) {
                            bestLevel = lvl; bestPrio = c.prio; bestDist = dist; bestIdx = i
                        }
                    } else {
                        let t = blockedUntil(c, now: now)
                        if t > 0 && (wake == 0 || t < wake) { wake = t }
                    }
                }
                i += 1
            }
        }
        guard bestIdx >= 0 else {
            nextWake = candidates > 0 ? wake : 0
            return nil
        }
        let c = leaves[bestIdx]
        let key = min(bestLevel, 7) * 8 + bestPrio
        guard let p = c.leaf!.dequeue() else { return nil }
        let l = len(p)
        let lv = min(bestLevel, 7)
        c.deficit[lv] -= l
        if c.deficit[lv] < 0 {
            c.deficit[lv] += c.quantum
            rrNext[key] = (bestIdx + 1) % n
        } else {
            rrNext[key] = bestIdx
        }
        let nsegs = segs(p)
        charge(c, level: bestLevel, bytes: l, segs: nsegs, now: now)
        countSent(l, segs: nsegs)
        nextWake = 0
        return p
    }

    /// The level at which leaf `c` may send now, or nil.
    func sendLevel(_ c: HTBClass, now: UInt64) -> Int? {
        var cur: HTBClass? = c
        while let k = cur {
            switch k.modeAt(now) {
            case .canSend: return k.level
            case .cantSend: return nil
            case .mayBorrow: cur = k.parent
            }
        }
        return nil
    }

    /// When a blocked leaf may next send: the earliest mode change on its path up.
    func blockedUntil(_ c: HTBClass, now: UInt64) -> UInt64 {
        var t: UInt64 = 0
        var cur: HTBClass? = c
        while let k = cur {
            let m = k.mode(now: now)
            let n = k.nextChange(now: now)
            if n > 0 && (t == 0 || n < t) { t = n }
            if m != .mayBorrow { break }
            cur = k.parent
        }
        return t
    }

    /// htb_charge_class: rate buckets at or above the lending level, ceil buckets everywhere.
    func charge(_ leaf: HTBClass, level: Int, bytes: Int, segs: UInt64 = 1, now: UInt64) {
        var cur: HTBClass? = leaf
        while let c = cur {
            let diff = c.elapsed(now)
            let mb = Int64(HTBClass.mbuffer)
            if c.level >= level {
                if c.level == level { c.lends &+= 1 }
                var t = min(c.tokens + diff, Int64(c.buffer)) - Int64(c.rateCfg.charge(bytes))
                if t <= -mb { t = 1 - mb }
                c.tokens = t
            } else {
                c.borrows &+= 1
                c.tokens = min(c.tokens + diff, Int64(c.buffer))
            }
            var ct = min(c.ctokens + diff, Int64(c.cbuffer)) - Int64(c.ceilCfg.charge(bytes))
            if ct <= -mb { ct = 1 - mb }
            c.ctokens = ct
            c.tc = now
            c.memoTime = .max
            c.stats.packets &+= segs
            c.stats.bytes &+= UInt64(bytes)
            // htb_change_class_mode: becoming CANT_SEND counts an overlimit, on the class and
            // on the qdisc.
            let m = c.mode(now: now)
            if m != c.cmode {
                if m == .cantSend { c.overlimits &+= 1; stats.overlimits &+= 1 }
                c.cmode = m
            }
            cur = c.parent
        }
    }

    override var watchdog: UInt64 { nextWake }

    override func reset() {
        direct.purge(pool)
        for c in leaves { c.leaf?.purge() }
        nextWake = 0
    }


    /// htb_dump_class and htb_dump_class_stats, in the kernel's class walk order.
    override func classes(details: Bool) -> [QdiscClassInfo] {
        classOrder.order.compactMap { classesByID[$0] }.map { c in
            var st = QdiscStats()
            st.packets = c.stats.packets; st.bytes = c.stats.bytes
            st.drops = c.stats.drops; st.overlimits = c.overlimits
            st.rate = c.estimator?.sample
            if c.level == 0, let l = c.leaf { let ls = l.statsSnapshot(); st.qlen = ls.qlen; st.backlog = ls.backlog }
            return QdiscClassInfo(classid: c.classid, parent: c.parent?.classid ?? .root, leaf: c.leaf,
                                  options: classOptions(c, details: details), stats: st, xstats: classXstats(c))
        }
    }

    /// htb_print_opt for a class (`details`: tc -d).
    func classOptions(_ c: HTBClass, details: Bool) -> String {
        var s = ""
        if c.level == 0 {
            s += "prio \(c.prio) "
            if details { s += "quantum \(c.quantum) " }
        }
        let rateB = c.rate / 8, ceilB = c.ceil / 8
        let rl = c.rateCfg.link
        s += "rate \(TcFormat.rateBytes(rateB)) "
        if rl.overhead != 0 { s += "overhead \(rl.overhead) " }
        s += "ceil \(TcFormat.rateBytes(ceilB)) "
        if rl.atm { s += "linklayer atm " } else if details { s += "linklayer ethernet " }
        let b = TcFormat.sizeU32(TcCore.xmitsize(rate: rateB, ticks: c.bufferTicks))
        let cb = TcFormat.sizeU32(TcCore.xmitsize(rate: ceilB, ticks: c.cbufferTicks))
        if details {
            let mpu = TcFormat.sizeU32(UInt32(clamping: rl.mpu)), cmpu = TcFormat.sizeU32(UInt32(clamping: c.ceilCfg.link.mpu))
            s += "burst \(b)/1 mpu \(mpu) cburst \(cb)/1 mpu \(cmpu) level \(c.level) "
        } else {
            s += "burst \(b) cburst \(cb) "
        }
        return s
    }

    /// htb_print_xstats: the buckets as last charged (PSCHED_NS2TICKS of cl->tokens).
    func classXstats(_ c: HTBClass) -> String {
        func ticks(_ ns: Int64) -> Int64 { min(max(ns >> 6, Int64(Int32.min)), Int64(Int32.max)) }
        return " lended: \(c.lends) borrowed: \(c.borrows) giants: \(c.giants)\n tokens: \(ticks(c.tokens)) ctokens: \(ticks(c.ctokens))\n"
    }

    func htbClass(_ id: TcHandle) -> HTBClass? { classesByID[id.raw] }
}
