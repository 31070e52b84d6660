/// Principles (sch_hfsc.c; Stoica, Zhang, Ng, SIGCOMM '97)
/// ----------
/// Hierarchical Fair Service Curve. Each class has up to three two-piece linear service
/// curves (slope m1 for d µs, then m2): a real-time curve (`rt`) guaranteeing a leaf its
/// service with bounded delay, a link-sharing curve (`ls`) by which idle bandwidth is shared
/// among siblings, and an upper-limit curve (`ul`) capping what link-sharing may give.
/// Dequeue first serves, by the real-time criterion, the eligible leaf (eligible time ≤ now)
/// with the earliest deadline; otherwise, by link-sharing, it walks down from the root taking
/// at each level the active child with the smallest virtual time whose fit time (from `ul`)
/// has come. Work done by link-sharing does not count against the real-time curve
/// (`cl_cumul`); every byte counts in the virtual times of the class and its ancestors
/// (`cl_total`). Leaves hold a child qdisc (pfifo by default); packets no filter places go to
/// the `default` class, or are dropped.
///
/// Arithmetic is the kernel's, in psched ticks of 64 ns: slopes scaled by 2^24 (bytes per
/// tick) and inverse slopes by 2^14 (ticks per byte), with its rounding, so a curve reads
/// back (`tc class show`) as the kernel would show it. The kernel's red-black trees (eligible,
/// per-parent virtual-time and fit-time trees) are sorted arrays of class numbers here, ties
/// after equals as rb inserts place them — the tens of classes a shaper has make that cheap.
final class HFSCClass {
    let classid: TcHandle
    let index: Int32
    var parent: Int32 = -1
    var children: [Int32] = []
    var level = 0
    var leaf: Qdisc
    var flags: UInt8 = 0
    var rsc = HFSCQdisc.ISC(), fsc = HFSCQdisc.ISC(), usc = HFSCQdisc.ISC()
    var deadline = HFSCQdisc.RTSC(), eligible = HFSCQdisc.RTSC(), virtual = HFSCQdisc.RTSC(), ulimit = HFSCQdisc.RTSC()
    var total: UInt64 = 0, cumul: UInt64 = 0
    var d: UInt64 = 0, e: UInt64 = 0, vt: UInt64 = 0, f: UInt64 = 0, myf: UInt64 = 0, cfmin: UInt64 = 0
    var cvtmin: UInt64 = 0, vtadj: UInt64 = 0, cvtoff: UInt64 = 0
    var vtperiod: UInt32 = 0, parentperiod: UInt32 = 0, nactive: UInt32 = 0
    var inEligible = false
    var vtTree: [Int32] = []
    var cfTree: [Int32] = []
    var stats = QdiscStats()
    /// The class's own filter block (cl->block), run when a filter above names this class
    /// while it is an inner class.
    var filters = FilterBlock()
    /// The curves as asked (tc_service_curve: m1 and m2 in bytes/s, d in µs), for dumps.
    init(classid: TcHandle, index: Int32, leaf: Qdisc) { self.classid = classid; self.index = index; self.leaf = leaf }
}

final class HFSCQdisc: Qdisc {
    static let rsc: UInt8 = 1, fscFlag: UInt8 = 2, uscFlag: UInt8 = 4
    static let infinity = UInt64.max
    static let smShift: UInt64 = 24, ismShift: UInt64 = 14       // 30 − PSCHED_SHIFT, 8 + PSCHED_SHIFT
    static let ticksPerSec: UInt64 = 1_000_000_000 >> 6

    /// struct tc_service_curve: m1, m2 in bytes per second, d in µs.
    struct Curve: Equatable { var m1: UInt32; var d: UInt32; var m2: UInt32 }
    /// internal_sc.
    struct ISC { var sm1: UInt64 = 0, ism1: UInt64 = 0, dx: UInt64 = 0, dy: UInt64 = 0, sm2: UInt64 = 0, ism2: UInt64 = 0 }
    /// runtime_sc.
    struct RTSC { var x: UInt64 = 0, y: UInt64 = 0, sm1: UInt64 = 0, ism1: UInt64 = 0, dx: UInt64 = 0, dy: UInt64 = 0, sm2: UInt64 = 0, ism2: UInt64 = 0 }

    /// A class's curves as a request carries them (a curve of two zero slopes counts as none).
    struct ClassParams { var rt: Curve?; var ls: Curve?; var ul: Curve? }

    var cls: [HFSCClass] = []
    var byID: [UInt32: Int32] = [:]
    var eligibleTree: [Int32] = []
    var defcls: UInt16 = 0
    var classOrder = KernelClassHash()
    var freeIndexes: [Int32] = []
    /// Packets the leaves hold, as sch->q.qlen (kept on enqueue and dequeue; recounted when a
    /// leaf may have dropped on its own).
    var queued = 0

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "hfsc", handle: handle, parent: parent, env: env)
        let root = HFSCClass(classid: handle, index: 0, leaf: FifoQdisc(kind: "pfifo", handle: .unspec, parent: handle, env: env))
        cls.append(root)
        byID[handle.raw] = 0
        classOrder.insert(handle.raw)
    }

    /// The root class takes the qdisc's handle, which may be given only at graft time.
    override func attached() {
        let root = cls[0]
        guard root.classid != handle, root.children.isEmpty else { return }
        byID[root.classid.raw] = nil
        classOrder.remove(root.classid.raw)
        cls[0] = HFSCClass(classid: handle, index: 0, leaf: root.leaf)
        root.leaf.parent = handle
        byID[handle.raw] = 0
        classOrder.insert(handle.raw)
    }

    override var isClassful: Bool { true }
    override func childQdiscs() -> [Qdisc] {
        classOrder.order.compactMap { byID[$0] }.map { cls[Int($0)] }.filter { $0.level == 0 }.map(\.leaf)
    }

    // MARK: - Service curve arithmetic (seg_x2y … rtsc_min)

    @inline(__always) static func segX2Y(_ x: UInt64, _ sm: UInt64) -> UInt64 {
        (x >> smShift) &* sm &+ (((x & ((1 << smShift) - 1)) &* sm) >> smShift)
    }
    @inline(__always) static func segY2X(_ y: UInt64, _ ism: UInt64) -> UInt64 {
        if y == 0 { return 0 }
        if ism == infinity { return infinity }
        return (y >> ismShift) &* ism &+ (((y & ((1 << ismShift) - 1)) &* ism) >> ismShift)
    }
    static func m2sm(_ m: UInt32) -> UInt64 { ((UInt64(m) << smShift) + ticksPerSec - 1) / ticksPerSec }
    static func m2ism(_ m: UInt32) -> UInt64 { m == 0 ? infinity : ((ticksPerSec << ismShift) + UInt64(m) - 1) / UInt64(m) }
    static func d2dx(_ d: UInt32) -> UInt64 { (UInt64(d) * ticksPerSec + 999_999) / 1_000_000 }
    static func sm2m(_ sm: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: (sm &* ticksPerSec) >> smShift) }
    static func dx2d(_ dx: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: dx &* 1_000_000 / ticksPerSec) }

    static func isc(_ c: Curve) -> ISC {
        var i = ISC()
        i.sm1 = m2sm(c.m1); i.ism1 = m2ism(c.m1); i.dx = d2dx(c.d); i.dy = segX2Y(i.dx, i.sm1)
        i.sm2 = m2sm(c.m2); i.ism2 = m2ism(c.m2)
        return i
    }
    /// The curve as the kernel dumps it back (hfsc_dump_sc).
    static func curve(_ i: ISC) -> Curve { Curve(m1: sm2m(i.sm1), d: dx2d(i.dx), m2: sm2m(i.sm2)) }

    static func rtscInit(_ i: ISC, _ x: UInt64, _ y: UInt64) -> RTSC {
        RTSC(x: x, y: y, sm1: i.sm1, ism1: i.ism1, dx: i.dx, dy: i.dy, sm2: i.sm2, ism2: i.ism2)
    }
    static func y2x(_ r: RTSC, _ y: UInt64) -> UInt64 {
        if y < r.y { return r.x }
        if y <= r.y &+ r.dy { return r.dy == 0 ? r.x &+ r.dx : r.x &+ segY2X(y - r.y, r.ism1) }
        return r.x &+ r.dx &+ segY2X(y - r.y - r.dy, r.ism2)
    }
    static func x2y(_ r: RTSC, _ x: UInt64) -> UInt64 {
        if x <= r.x { return r.y }
        if x <= r.x &+ r.dx { return r.y &+ segX2Y(x - r.x, r.sm1) }
        return r.y &+ r.dy &+ segX2Y(x - r.x - r.dx, r.sm2)
    }
    /// rtsc_min: the runtime curve becomes the minimum of itself and `i` starting at (x, y).
    static func rtscMin(_ r: inout RTSC, _ i: ISC, _ x: UInt64, _ y: UInt64) {
        if i.sm1 <= i.sm2 {
            if x2y(r, x) < y { return }
            r.x = x; r.y = y
            return
        }
        let y1 = x2y(r, x)
        if y1 <= y { return }
        let y2 = x2y(r, x &+ i.dx)
        if y2 >= y &+ i.dy { r.x = x; r.y = y; r.dx = i.dx; r.dy = i.dy; return }
        let dsm = UInt64(UInt32(truncatingIfNeeded: i.sm1 &- i.sm2))
        var dx = dsm == 0 ? 0 : ((y1 - y) << smShift) / dsm
        if r.x &+ r.dx > x { dx &+= r.x &+ r.dx &- x }
        let dy = segX2Y(dx, i.sm1)
        r.x = x; r.y = y; r.dx = dx; r.dy = dy
    }

    // MARK: - Sorted "trees"

    /// Inserts `c` after every entry whose key is ≤ its own (rb_insert's ties to the right).
    @inline(__always) func treeInsert(_ tree: inout [Int32], _ c: Int32, key: (HFSCClass) -> UInt64) {
        let k = key(cls[Int(c)])
        var lo = 0, hi = tree.count
        while lo < hi { let m = (lo + hi) / 2; if key(cls[Int(tree[m])]) <= k { lo = m + 1 } else { hi = m } }
        tree.insert(c, at: lo)
    }
    @inline(__always) func treeRemove(_ tree: inout [Int32], _ c: Int32) {
        if let i = tree.firstIndex(of: c) { tree.remove(at: i) }
    }

    func eltreeInsert(_ c: HFSCClass) { treeInsert(&eligibleTree, c.index) { $0.e }; c.inEligible = true }
    func eltreeRemove(_ c: HFSCClass) { if c.inEligible { treeRemove(&eligibleTree, c.index); c.inEligible = false } }
    func eltreeUpdate(_ c: HFSCClass) { eltreeRemove(c); eltreeInsert(c) }

    func vttreeInsert(_ c: HFSCClass) { let p = cls[Int(c.parent)]; treeInsert(&p.vtTree, c.index) { $0.vt } }
    func vttreeRemove(_ c: HFSCClass) { treeRemove(&cls[Int(c.parent)].vtTree, c.index) }
    func cftreeInsert(_ c: HFSCClass) { let p = cls[Int(c.parent)]; treeInsert(&p.cfTree, c.index) { $0.f } }
    func cftreeRemove(_ c: HFSCClass) { treeRemove(&cls[Int(c.parent)].cfTree, c.index) }

    func updateCfmin(_ c: HFSCClass) { c.cfmin = c.cfTree.first.map { cls[Int($0)].f } ?? 0 }

    // MARK: - The scheduler (init_ed … update_vf)

    @inline(__always) var curTime: UInt64 { clock.now >> 6 }

    func initED(_ c: HFSCClass, _ nextLen: Int) {
        let now = curTime
        Self.rtscMin(&c.deadline, c.rsc, now, c.cumul)
        c.eligible = c.deadline
        if c.rsc.sm1 <= c.rsc.sm2 { c.eligible.dx = 0; c.eligible.dy = 0 }
        c.e = Self.y2x(c.eligible, c.cumul)
        c.d = Self.y2x(c.deadline, c.cumul &+ UInt64(nextLen))
        eltreeInsert(c)
    }

    func updateED(_ c: HFSCClass, _ nextLen: Int) {
        c.e = Self.y2x(c.eligible, c.cumul)
        c.d = Self.y2x(c.deadline, c.cumul &+ UInt64(nextLen))
        eltreeUpdate(c)
    }

    func initVF(_ start: HFSCClass, _ len: Int) {
        var cur: UInt64 = 0
        var goActive = true
        var c = start
        while c.parent >= 0 {
            let p = cls[Int(c.parent)]
            if goActive { let was = c.nactive; c.nactive &+= 1; goActive = was == 0 }
            if goActive {
                if let last = p.vtTree.last {
                    var vt = cls[Int(last)].vt
                    if p.cvtmin != 0 { vt = (p.cvtmin &+ vt) / 2 }
                    if p.vtperiod != c.parentperiod || vt > c.vt { c.vt = vt }
                } else {
                    c.vt = p.cvtoff
                    p.cvtmin = 0
                }
                Self.rtscMin(&c.virtual, c.fsc, c.vt, c.total)
                c.vtadj = 0
                c.vtperiod &+= 1
                c.parentperiod = p.vtperiod
                if p.nactive == 0 { c.parentperiod &+= 1 }
                c.f = 0
                vttreeInsert(c)
                cftreeInsert(c)
                if c.flags & Self.uscFlag != 0 {
                    if cur == 0 { cur = curTime }
                    Self.rtscMin(&c.ulimit, c.usc, cur, c.total)
                    c.myf = Self.y2x(c.ulimit, c.total)
                }
            }
            let f = max(c.myf, c.cfmin)
            if f != c.f { c.f = f; cftreeRemove(c); cftreeInsert(c) }
            updateCfmin(p)
            c = p
        }
    }

    func updateVF(_ start: HFSCClass, _ len: Int) {
        var goPassive = !start.leaf.backlogged && start.flags & Self.fscFlag != 0
        var c = start
        while c.parent >= 0 {
            let p = cls[Int(c.parent)]
            c.total &+= UInt64(len)
            if c.flags & Self.fscFlag == 0 || c.nactive == 0 { c = p; continue }
            if goPassive { c.nactive -= 1; goPassive = c.nactive == 0 }
            c.vt = Self.y2x(c.virtual, c.total) &+ c.vtadj
            if c.vt < p.cvtmin { c.vtadj &+= p.cvtmin - c.vt; c.vt = p.cvtmin }
            if goPassive {
                if c.vt > p.cvtoff { p.cvtoff = c.vt }
                vttreeRemove(c)
                cftreeRemove(c)
                updateCfmin(p)
                c = p
                continue
            }
            vttreeRemove(c); vttreeInsert(c)
            if c.flags & Self.uscFlag != 0 { c.myf = Self.y2x(c.ulimit, c.total) }
            let f = max(c.myf, c.cfmin)
            if f != c.f { c.f = f; cftreeRemove(c); cftreeInsert(c); updateCfmin(p) }
            c = p
        }
    }

    /// eltree_get_mindl: the eligible class with the earliest deadline.
    func minDeadline(_ now: UInt64) -> HFSCClass? {
        var best: HFSCClass? = nil
        for i in eligibleTree {
            let p = cls[Int(i)]
            if p.e > now { break }
            if best == nil || p.d < best!.d { best = p }
        }
        return best
    }

    /// vttree_get_minvt: down from the root by the first child that fits.
    func minVT(_ now: UInt64) -> HFSCClass? {
        var c = cls[0]
        if c.cfmin > now { return nil }
        while c.level > 0 {
            guard let n = c.vtTree.first(where: { cls[Int($0)].f <= now }) else { return nil }
            let child = cls[Int(n)]
            if c.cvtmin < child.vt { c.cvtmin = child.vt }
            c = child
        }
        return c
    }

    // MARK: - Classes

    func classOf(_ id: TcHandle) -> HFSCClass? { byID[id.raw].map { cls[Int($0)] } }

    func adjustLevels(_ from: HFSCClass) {
        var c: HFSCClass? = from
        while let x = c {
            x.level = x.children.map { cls[Int($0)].level + 1 }.max() ?? 0
            c = x.parent >= 0 ? cls[Int(x.parent)] : nil
        }
    }

    /// hfsc_change_class. `parentid` nil when the request names none.
    func setClass(_ classid: TcHandle, parent parentid: TcHandle?, _ p: ClassParams, create: Bool, exclusive: Bool) throws(SluiceError) {
        if let c = classOf(classid) {
            if exclusive { throw SluiceError("Error: Class already exists.") }
            if let pid = parentid, pid.raw != 0 {
                if c.parent >= 0 && cls[Int(c.parent)].classid != pid { throw SluiceError("Error: hfsc: the class has another parent.") }
                if c.parent < 0 && pid != .root { throw SluiceError("Error: hfsc: the root class has no parent.") }
            }
            let now = curTime
            let old = c.flags
            if let rt = p.rt { changeRSC(c, rt, now) }
            if let ls = p.ls { changeFSC(c, ls) }
            if let ul = p.ul { changeUSC(c, ul, now) }
            if let len = c.leaf.peekLength(), c.leaf.backlogged {
                if c.flags & Self.rsc != 0 { if old & Self.rsc != 0 { updateED(c, len) } else { initED(c, len) } }
                if c.flags & Self.fscFlag != 0 { if old & Self.fscFlag != 0 { updateVF(c, 0) } else { initVF(c, len) } }
            }
            return
        }
        guard create else { throw SluiceError("Error: Specified class not found.") }
        if parentid == .root { throw SluiceError("Error: hfsc: the root class already exists.") }
        var parentClass = cls[0]
        if let pid = parentid, pid.raw != 0 {
            guard let pc = classOf(pid) else { throw SluiceError("Error: hfsc: parent class \(pid) not found.") }
            parentClass = pc
        }
        guard classid.raw != 0, classid.major == handle.major, classid.minor != 0 else { throw SluiceError("Error: hfsc: class id \(classid) is not of this qdisc.") }
        guard p.rt != nil || p.ls != nil else { throw SluiceError("Error: hfsc: a class needs a real-time or link-sharing curve.") }
        let idx: Int32
        let leaf = FifoQdisc(kind: "pfifo", handle: .unspec, parent: classid, env: env)
        if let free = freeIndexes.popLast() {
            idx = free
            cls[Int(idx)] = HFSCClass(classid: classid, index: idx, leaf: leaf)
        } else {
            idx = Int32(cls.count)
            cls.append(HFSCClass(classid: classid, index: idx, leaf: leaf))
        }
        let c = cls[Int(idx)]
        if let rt = p.rt { changeRSC(c, rt, 0) }
        if let ls = p.ls { changeFSC(c, ls) }
        if let ul = p.ul { changeUSC(c, ul, 0) }
        c.parent = parentClass.index
        if parentClass.flags & Self.fscFlag == 0 && parentClass.index != 0 {
            // "Forced curve change on parent 'rt' to 'sc'"
            parentClass.fsc = parentClass.rsc
            parentClass.virtual = Self.rtscInit(parentClass.fsc, parentClass.vt, parentClass.total)
            parentClass.flags |= Self.fscFlag
        }
        byID[classid.raw] = idx
        classOrder.insert(classid.raw)
        parentClass.children.append(idx)
        if parentClass.level == 0 { purgeLeaf(parentClass) }
        adjustLevels(parentClass)
    }

    func changeRSC(_ c: HFSCClass, _ sc: Curve, _ now: UInt64) {
        c.rsc = Self.isc(sc)
        c.deadline = Self.rtscInit(c.rsc, now, c.cumul)
        c.eligible = c.deadline
        if c.rsc.sm1 <= c.rsc.sm2 { c.eligible.dx = 0; c.eligible.dy = 0 }
        c.flags |= Self.rsc
    }
    func changeFSC(_ c: HFSCClass, _ sc: Curve) {
        c.fsc = Self.isc(sc)
        c.virtual = Self.rtscInit(c.fsc, c.vt, c.total)
        c.flags |= Self.fscFlag
    }
    func changeUSC(_ c: HFSCClass, _ sc: Curve, _ now: UInt64) {
        c.usc = Self.isc(sc)
        c.ulimit = Self.rtscInit(c.usc, now, c.total)
        c.flags |= Self.uscFlag
    }

    /// qdisc_purge_queue on a class's leaf: its packets dropped, and the class made passive
    /// (hfsc_qlen_notify).
    func purgeLeaf(_ c: HFSCClass) {
        let n = c.leaf.statsSnapshot().qlen
        guard n > 0 else { return }
        c.leaf.purge()
        queued = max(0, queued - n)
        stats.drops &+= UInt64(n)
        if c.nactive > 0 { updateVF(c, 0) }
        if c.flags & Self.rsc != 0 { eltreeRemove(c) }
    }

    override func withClassBlock<R>(_ classid: TcHandle, _ body: (inout FilterBlock) throws(SluiceError) -> R) throws(SluiceError) -> R? {
        guard let c = classOf(classid) else { throw SluiceError("Error: Specified class doesn't exist (No such file or directory).") }
        return try body(&c.filters)
    }
    override var classBlocks: [(classid: TcHandle, block: FilterBlock)] {
        classOrder.order.compactMap { byID[$0] }.map { cls[Int($0)] }.filter { !$0.filters.isEmpty }.map { ($0.classid, $0.filters) }
    }

    override func deleteClass(_ classid: TcHandle) throws(SluiceError) {
        guard let c = classOf(classid) else { throw SluiceError("Error: Specified class not found.") }
        guard c.level == 0, c.index != 0, !classInUse(classid) else { throw SluiceError("Error: HFSC class in use") }
        let p = cls[Int(c.parent)]
        p.children.removeAll { $0 == c.index }
        adjustLevels(p)
        purgeLeaf(c)
        byID[classid.raw] = nil
        classOrder.remove(classid.raw)
        freeIndexes.append(c.index)
    }

    override func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        guard let c = classOf(classid) else { throw SluiceError("Error: Failed to find specified qdisc.") }
        guard c.level == 0 else { throw SluiceError("Error: hfsc: only leaf classes hold a qdisc.") }
        purgeLeaf(c)
        let old = c.leaf
        let new = q ?? FifoQdisc(kind: "pfifo", handle: .unspec, parent: classid, env: env)
        new.parent = classid
        c.leaf = new
        return old
    }

    // MARK: - Enqueue and dequeue

    /// The default class when it is a leaf.
    var defaultClass: HFSCClass? {
        guard let d = byID[UInt32(handle.major) << 16 | UInt32(defcls)], cls[Int(d)].level == 0 else { return nil }
        return cls[Int(d)]
    }

    /// hfsc_classify after a filter's result, from the class `head` whose filters gave it: a
    /// leaf is the class; an inner class below `head` runs its own filters next (filters may
    /// only point downwards); anything else falls to the default class.
    func resolve(_ p: consuming Packet, _ r: TcResult?, head: HFSCClass) -> EnqueueVerdict {
        guard case .classid(let id)? = r, let c = classOf(id), c.level < head.level else { return enqueue(p, into: defaultClass) }
        if c.level == 0 { return enqueue(p, into: c) }
        switch classifyForEnqueue(p, block: c.filters) {
        case .done(let v): return v
        case .go(let pk, let r2): return resolve(pk, r2, head: c)
        }
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        // skb->priority naming a leaf of this qdisc: no filter runs.
        let prio = pool.metas[Int(p.index)].priority
        if prio >> 16 == UInt32(handle.major), let i = byID[prio], cls[Int(i)].level == 0 { return enqueue(p, into: cls[Int(i)]) }
        switch classifyForEnqueue(p) {
        case .done(let v): return v
        case .go(let pk, let r): return resolve(pk, r, head: cls[0])
        }
    }

    func enqueue(_ pk: consuming Packet, into target: HFSCClass?) -> EnqueueVerdict {
        do {
            guard let c = target else { return drop(pk) }
            let l = len(pk)
            let first = !c.leaf.backlogged
            let v = c.leaf.enqueue(pk)
            if v == .dropped || v == .congestion { stats.drops &+= 1; c.stats.drops &+= 1; return v }
            queued += 1
            if first && !(c.flags & Self.fscFlag != 0 && c.nactive > 0) && !(c.flags & Self.rsc != 0 && c.inEligible) {
                if c.flags & Self.rsc != 0 { initED(c, l) }
                if c.flags & Self.fscFlag != 0 { initVF(c, l) }
                if c.flags & Self.rsc != 0 { _ = c.leaf.peekLength() }
            }
            return v
        }
    }

    override func dequeue() -> Packet? {
        guard queued > 0 else { return nil }
        let now = curTime
        var realtime = false
        let c: HFSCClass
        if let r = minDeadline(now) {
            c = r; realtime = true
        } else if let l = minVT(now) {
            c = l
        } else {
            // Nothing may send now. Leaves that dropped on their own (an AQM leaf) may have
            // left the count high: recount before calling it an overlimit.
            queued = leafPackets()
            if queued > 0 { stats.overlimits &+= 1 }
            return nil
        }
        guard let p = c.leaf.dequeuePeeked() else { queued = leafPackets(); return nil }
        queued -= 1
        let l = len(p)
        c.stats.packets &+= segs(p); c.stats.bytes &+= UInt64(l)
        updateVF(c, l)
        if realtime { c.cumul &+= UInt64(l) }
        if c.flags & Self.rsc != 0 {
            if c.leaf.backlogged, let next = c.leaf.peekLength() {
                if realtime { updateED(c, next) } else { c.d = Self.y2x(c.deadline, c.cumul &+ UInt64(next)) }
            } else {
                eltreeRemove(c)
            }
        }
        countSent(l, segs: segs(p))
        return p
    }

    /// The packets the leaves hold (their own counts).
    func leafPackets() -> Int {
        var n = 0
        for c in cls where c.level == 0 && byID[c.classid.raw] == c.index {
            n += c.leaf.isClassful ? c.leaf.statsSnapshot().qlen : c.leaf.stats.qlen
        }
        return n
    }

    /// hfsc_schedule_watchdog: the earliest eligible time or the root's fit time.
    override var watchdog: UInt64 {
        guard queued > 0 else { return 0 }
        var next: UInt64 = 0
        if let first = eligibleTree.first { next = cls[Int(first)].e }
        let cf = cls[0].cfmin
        if cf != 0 && (next == 0 || next > cf) { next = cf }
        if next == 0 {
            // No curve waits: a leaf's own timer (a shaping leaf qdisc) may.
            var w: UInt64 = 0
            for c in cls where c.level == 0 { let lw = c.leaf.watchdog; if lw > 0 && (w == 0 || lw < w) { w = lw } }
            return w
        }
        return next << 6
    }

    /// hfsc_reset_qdisc / hfsc_reset_class.
    override func reset() {
        for c in cls where byID[c.classid.raw] == c.index {
            c.total = 0; c.cumul = 0; c.d = 0; c.e = 0; c.vt = 0; c.vtadj = 0; c.cvtmin = 0; c.cvtoff = 0
            c.vtperiod = 0; c.parentperiod = 0; c.f = 0; c.myf = 0; c.cfmin = 0; c.nactive = 0
            c.vtTree.removeAll(); c.cfTree.removeAll(); c.inEligible = false
            c.leaf.purge()
            if c.flags & Self.rsc != 0 { c.deadline = Self.rtscInit(c.rsc, 0, 0) }
            if c.flags & Self.fscFlag != 0 { c.virtual = Self.rtscInit(c.fsc, 0, 0) }
            if c.flags & Self.uscFlag != 0 { c.ulimit = Self.rtscInit(c.usc, 0, 0) }
        }
        eligibleTree.removeAll()
        queued = 0
    }

    /// The curves a class dumps (hfsc_dump_curves): those it has.
    func curves(_ c: HFSCClass) -> ClassParams {
        ClassParams(rt: c.flags & Self.rsc != 0 ? Self.curve(c.rsc) : nil,
                    ls: c.flags & Self.fscFlag != 0 ? Self.curve(c.fsc) : nil,
                    ul: c.flags & Self.uscFlag != 0 ? Self.curve(c.usc) : nil)
    }

    /// hfsc_dump_class and hfsc_dump_class_stats in the kernel's class walk order, the root
    /// class included (its parent is TC_H_ROOT).
    override func classes(details: Bool) -> [QdiscClassInfo] {
        classOrder.order.compactMap { byID[$0] }.map { i in
            let c = cls[Int(i)]
            var st = c.leaf.statsSnapshot()
            if c.level > 0 { st.qlen = 0; st.backlog = 0 }
            st.packets = c.stats.packets; st.bytes = c.stats.bytes; st.drops = c.stats.drops
            var x = " period \(c.vtperiod) "
            if c.total != 0 { x += "work \(c.total) bytes " }
            if c.cumul != 0 { x += "rtwork \(c.cumul) bytes " }
            x += "level \(c.level) "
            return QdiscClassInfo(classid: c.classid, parent: c.parent >= 0 ? cls[Int(c.parent)].classid : .root,
                                  leaf: c.level == 0 ? c.leaf : nil, options: Self.curveText(curves(c)), stats: st, xstats: x)
        }
    }

    /// hfsc_print_class_opt: `sc` when rt and ls are the same curve, else `rt` and `ls`; `ul`.
    static func curveText(_ p: ClassParams) -> String {
        func sc(_ name: String, _ c: Curve) -> String {
            "\(name) m1 \(TcFormat.rateBytes(UInt64(c.m1))) d \(TcFormat.timeUs(c.d)) m2 \(TcFormat.rateBytes(UInt64(c.m2))) "
        }
        var s = ""
        if let rt = p.rt, let ls = p.ls, rt == ls { s += sc("sc", rt) } else {
            if let rt = p.rt { s += sc("rt", rt) }
            if let ls = p.ls { s += sc("ls", ls) }
        }
        if let ul = p.ul { s += sc("ul", ul) }
        return s
    }
}
