/// Principles (sch_qfq.c: Quick Fair Queueing Plus; Checconi, Rizzo and Valente)
/// ----------
/// QFQ+ approximates WF2Q+ in O(1): classes (weight 1…1024, maximum packet `maxpkt`) with
/// the same weight and maximum packet share an aggregate (at most 8, fewer on short device
/// queues), served among themselves by DRR with the maximum packet as quantum. Aggregates
/// carry virtual start and finish times S and F (fixed point, 30 fractional bits) against a
/// system virtual time V that advances by len / Σweights per packet sent; an aggregate may be
/// served only while eligible (S ≤ V), and among eligible ones the earliest F goes first.
/// To find it in constant time aggregates are grouped by log2(budget / weight): each group
/// keeps a bucket ring of 32 slots by rounded S, and four bitmaps over the groups
/// (eligible/ineligible × ready/blocked) keep the groups ordered by F. The aggregate in service
/// spends a budget of its classes' maximum packets before it is charged and rescheduled.
/// Packets are classified by skb->priority naming a class, or by the filters; a packet no
/// class claims is dropped. Classes, aggregates and group slots live in arrays linked by
/// index, so the packet path allocates nothing. A class's maximum packet grows to the length
/// of a bigger packet as the kernel's enqueue does (the class moves to another aggregate).
final class QFQQdisc: Qdisc {
    static let maxSlots = 32, maxIndex = 24, fracBits: UInt64 = 30, mtuShift = 16
    static let oneFP: UInt64 = 1 << 30
    static let maxWeight: UInt32 = 1024, maxWsum: UInt32 = 64 * 1024, minLmax: UInt32 = 512, maxLmax: UInt32 = 1 << 16
    static let ER = 0, IR = 1, EB = 2, IB = 3

    struct Cls {
        var classid: UInt32
        var leaf: Qdisc
        var deficit: Int = 0
        var agg: Int = -1
        var active = false
        var prev = -1, next = -1
        var stats = QdiscStats()
    }

    struct Agg {
        var S: UInt64 = 0, F: UInt64 = 0
        var grp = -1
        var classWeight: UInt32 = 0
        var lmax: UInt32 = 0
        var invW: UInt32 = 0
        var budgetmax: UInt32 = 0, initialBudget: UInt32 = 0, budget: UInt32 = 0
        var numClasses = 0
        var head = -1, tail = -1            // active classes (DRR list)
        var slotPrev = -1, slotNext = -1    // bucket list in its group
        var inUse = false
    }

    struct Group {
        var S: UInt64 = 0, F: UInt64 = 0
        var slotShift: UInt64 = 0
        var index = 0
        var front = 0
        var fullSlots: UInt64 = 0
    }

    var cls: [Cls] = []
    var freeCls: [Int] = []
    var byID: [UInt32: Int] = [:]
    var aggs: [Agg] = []
    var freeAggs: [Int] = []
    var nonfull: [Int] = []
    var groups: [Group]
    /// Heads of each group's 32 slot lists (aggregate indices), group × 32 + slot.
    var slotHeads: [Int]
    var oldV: UInt64 = 0, V: UInt64 = 0
    var inServ = -1
    var wsum: UInt32 = 0, iwsum: UInt32 = 0
    var bitmaps: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    let minSlotShift: UInt64
    let maxAggClasses: Int
    /// Classes on some aggregate's active list (sch->q.qlen is 0 exactly when none is).
    var activeClasses = 0
    /// The kernel's class walk order, for `tc class show`.
    var classOrder = KernelClassHash()

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        let maxClasses = min(env.txQueueLen + 1, 8)
        let shift = 63 - UInt64(max(maxClasses, 1)).leadingZeroBitCount
        maxAggClasses = 1 << shift
        minSlotShift = Self.fracBits + UInt64(Self.mtuShift + shift) - UInt64(Self.maxIndex)
        groups = (0...Self.maxIndex).map { i in Group(slotShift: 0, index: i) }
        slotHeads = [Int](repeating: -1, count: (Self.maxIndex + 1) * Self.maxSlots)
        super.init(kind: "qfq", handle: handle, parent: parent, env: env)
        for i in 0...Self.maxIndex { groups[i].slotShift = minSlotShift + UInt64(i) }
        cls.reserveCapacity(64); aggs.reserveCapacity(64); nonfull.reserveCapacity(64)
    }

    override var isClassful: Bool { true }
    override func childQdiscs() -> [Qdisc] { classOrder.order.compactMap { byID[$0] }.map { cls[$0].leaf } }

    // MARK: bitmaps

    @inline(__always) func bitmap(_ s: Int) -> UInt64 {
        switch s { case 0: bitmaps.0; case 1: bitmaps.1; case 2: bitmaps.2; default: bitmaps.3 }
    }
    @inline(__always) func setBitmap(_ s: Int, _ v: UInt64) {
        switch s { case 0: bitmaps.0 = v; case 1: bitmaps.1 = v; case 2: bitmaps.2 = v; default: bitmaps.3 = v }
    }
    @inline(__always) func setBit(_ s: Int, _ i: Int) { setBitmap(s, bitmap(s) | 1 << UInt64(i)) }
    @inline(__always) func clearBit(_ s: Int, _ i: Int) { setBitmap(s, bitmap(s) & ~(1 << UInt64(i))) }
    @inline(__always) static func gt(_ a: UInt64, _ b: UInt64) -> Bool { Int64(bitPattern: a &- b) > 0 }
    @inline(__always) static func roundDown(_ ts: UInt64, _ shift: UInt64) -> UInt64 { ts & ~((1 << shift) - 1) }
    @inline(__always) static func maskFrom(_ bitmap: UInt64, _ from: Int) -> UInt64 { bitmap & ~((1 << UInt64(from)) &- 1) }
    @inline(__always) static func ffs(_ b: UInt64) -> Int { b.trailingZeroBitCount }

    // MARK: configuration (control path)

    /// qfq_calc_index: the group of an aggregate, log2 of its budget over its weight.
    func calcIndex(invW: UInt32, maxlen: UInt32) -> Int {
        let slotSize = UInt64(maxlen) * UInt64(invW)
        let sizeMap = slotSize >> minSlotShift
        if sizeMap == 0 { return 0 }
        var index = (63 - sizeMap.leadingZeroBitCount) + 1
        if slotSize &- (1 << (UInt64(index) + minSlotShift - 1)) == 0 { index -= 1 }
        return max(index, 0)
    }

    func newAgg(lmax: UInt32, weight: UInt32) -> Int {
        var a = Agg()
        a.lmax = lmax; a.classWeight = weight; a.inUse = true
        let i: Int
        if let f = freeAggs.popLast() { aggs[f] = a; i = f } else { aggs.append(a); i = aggs.count - 1 }
        nonfull.insert(i, at: 0)
        return i
    }

    func findAgg(lmax: UInt32, weight: UInt32) -> Int? {
        nonfull.first { aggs[$0].lmax == lmax && aggs[$0].classWeight == weight }
    }

    /// qfq_update_agg: budget, inverse weight, group and the weight sum after a class joined
    /// or left.
    func updateAgg(_ a: Int, _ newNum: Int) {
        if newNum == maxAggClasses { nonfull.removeAll { $0 == a } }
        if aggs[a].numClasses > newNum && newNum == maxAggClasses - 1 { nonfull.insert(a, at: 0) }
        aggs[a].budgetmax = UInt32(newNum) * aggs[a].lmax
        aggs[a].invW = UInt32(Self.oneFP / UInt64(aggs[a].classWeight * UInt32(newNum)))
        if aggs[a].grp < 0 { aggs[a].grp = calcIndex(invW: aggs[a].invW, maxlen: aggs[a].budgetmax) }
        wsum = UInt32(Int(wsum) + Int(aggs[a].classWeight) * (newNum - aggs[a].numClasses))
        iwsum = UInt32(Self.oneFP / UInt64(max(wsum, 1)))
        aggs[a].numClasses = newNum
    }

    func addToAgg(_ a: Int, _ c: Int) {
        cls[c].agg = a
        updateAgg(a, aggs[a].numClasses + 1)
        if cls[c].leaf.backlogged {
            activeAppend(a, c)
            if aggs[a].head == c && inServ != a { activateAgg(a, enqueue: true) }
        }
    }

    func destroyAgg(_ a: Int) {
        nonfull.removeAll { $0 == a }
        wsum -= aggs[a].classWeight
        if wsum != 0 { iwsum = UInt32(Self.oneFP / UInt64(wsum)) }
        if inServ == a { inServ = chooseNextAgg() }
        aggs[a].inUse = false
        freeAggs.append(a)
    }

    func deactivateClass(_ c: Int) {
        let a = cls[c].agg
        activeRemove(a, c)
        if aggs[a].head < 0 { deactivateAgg(a) }
    }

    func rmFromAgg(_ c: Int) {
        let a = cls[c].agg
        cls[c].agg = -1
        if aggs[a].numClasses == 1 { destroyAgg(a); return }
        updateAgg(a, aggs[a].numClasses - 1)
    }

    func deactRmFromAgg(_ c: Int) {
        if cls[c].active { deactivateClass(c) }
        rmFromAgg(c)
    }

    /// qfq_change_agg: the class moves to the aggregate of its new weight and maximum packet.
    func changeAgg(_ c: Int, weight: UInt32, lmax: UInt32) throws(SluiceError) {
        guard lmax <= Self.maxLmax else { throw SluiceError("Error: qfq: maxpkt above 65536") }
        let a = findAgg(lmax: lmax, weight: weight) ?? newAgg(lmax: lmax, weight: weight)
        deactRmFromAgg(c)
        addToAgg(a, c)
    }

    /// qfq_change_class: a class created (its pfifo, deficit one maximum packet) or moved to
    /// the aggregate of its new weight and maximum packet. `weight` nil means 1; `lmax` nil
    /// the device's MTU + link header.
    func setClass(_ classid: TcHandle, weight w: UInt32?, lmax l: UInt32?, create: Bool, exclusive: Bool) throws(SluiceError) {
        guard classid.major == handle.major, classid.minor != 0 else { throw SluiceError("Error: classid \(classid) does not belong to qfq \(handle)") }
        let existing = byID[classid.raw]
        if existing != nil && exclusive { throw SluiceError("Error: Class already exists.") }
        if existing == nil && !create { throw SluiceError("Error: Specified class not found.") }
        var weight = w ?? 1
        guard (1...Self.maxWeight).contains(weight) else { throw SluiceError("Error: qfq: weight must be 1…1024.") }
        let lmax: UInt32
        if let l {
            guard (Self.minLmax...Self.maxLmax).contains(l) else { throw SluiceError("Error: qfq: maxpkt must be 512…65536.") }
            lmax = l
        } else {
            guard (Self.minLmax...Self.maxLmax).contains(UInt32(env.mtu)) else { throw SluiceError("Error: sch_qfq: MTU size out of bounds for qfq") }
            lmax = UInt32(env.mtu)
        }
        weight = UInt32(Self.oneFP / UInt64(UInt32(Self.oneFP / UInt64(weight))))
        if let e = existing {
            let a = cls[e].agg
            if aggs[a].lmax == lmax && aggs[a].classWeight == weight { return }
        }
        let oldWeight = existing.map { aggs[cls[$0].agg].classWeight } ?? 0
        let delta = Int(weight) - Int(oldWeight)
        guard Int(wsum) + delta <= Int(Self.maxWsum) else { throw SluiceError("Error: sch_qfq: total weight out of range (\(delta) + \(wsum))") }
        let c: Int
        if let e = existing {
            c = e
        } else {
            let leaf = FifoQdisc(kind: "pfifo", handle: .unspec, parent: classid, env: env)
            leaf.limit = max(env.txQueueLen, 1)
            let k = Cls(classid: classid.raw, leaf: leaf, deficit: Int(lmax))
            if let f = freeCls.popLast() { cls[f] = k; c = f } else { cls.append(k); c = cls.count - 1 }
        }
        let a = findAgg(lmax: lmax, weight: weight) ?? newAgg(lmax: lmax, weight: weight)
        if existing != nil {
            deactRmFromAgg(c)
        } else {
            byID[classid.raw] = c
            classOrder.insert(classid.raw)
        }
        addToAgg(a, c)
    }

    override func deleteClass(_ classid: TcHandle) throws(SluiceError) {
        guard let c = byID[classid.raw] else { throw SluiceError("Error: Specified class not found.") }
        guard !classInUse(classid) else { throw SluiceError("Error: sch_qfq: QFQ class in use") }
        if cls[c].active { deactivateClass(c) }
        stats.drops &+= UInt64(cls[c].leaf.statsSnapshot().qlen)
        cls[c].leaf.purge()
        byID[classid.raw] = nil
        classOrder.remove(classid.raw)
        rmFromAgg(c)
        cls[c].leaf = NoopQdisc(env: env)
        freeCls.append(c)
    }

    override func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        guard let c = byID[classid.raw] else { throw SluiceError("Error: Failed to find specified qdisc.") }
        let old = cls[c].leaf
        if cls[c].active { deactivateClass(c) }
        let new: Qdisc
        if let q { new = q } else {
            let f = FifoQdisc(kind: "pfifo", handle: .unspec, parent: classid, env: env)
            f.limit = max(env.txQueueLen, 1)
            new = f
        }
        new.parent = classid
        cls[c].leaf = new
        return old
    }

    // MARK: active lists (the aggregate's DRR queue)

    func activeAppend(_ a: Int, _ c: Int) {
        cls[c].prev = aggs[a].tail; cls[c].next = -1
        if aggs[a].tail >= 0 { cls[aggs[a].tail].next = c } else { aggs[a].head = c }
        aggs[a].tail = c
        cls[c].active = true
        activeClasses += 1
    }

    func activeRemove(_ a: Int, _ c: Int) {
        let p = cls[c].prev, n = cls[c].next
        if p >= 0 { cls[p].next = n } else { aggs[a].head = n }
        if n >= 0 { cls[n].prev = p } else { aggs[a].tail = p }
        cls[c].prev = -1; cls[c].next = -1
        cls[c].active = false
        activeClasses -= 1
    }

    // MARK: slots

    func slotInsert(_ g: Int, _ a: Int, _ roundedS: UInt64) {
        var slot = (roundedS &- groups[g].S) >> groups[g].slotShift
        if slot > UInt64(Self.maxSlots - 2) {
            let deltaS = roundedS &- groups[g].S &- (UInt64(Self.maxSlots - 2) << groups[g].slotShift)
            aggs[a].S &-= deltaS
            aggs[a].F &-= deltaS
            slot = UInt64(Self.maxSlots - 2)
        }
        let i = (groups[g].front + Int(slot)) % Self.maxSlots
        let h = g * Self.maxSlots + i
        aggs[a].slotPrev = -1
        aggs[a].slotNext = slotHeads[h]
        if slotHeads[h] >= 0 { aggs[slotHeads[h]].slotPrev = a }
        slotHeads[h] = a
        groups[g].fullSlots |= 1 << slot
    }

    func slotUnlink(_ g: Int, _ slotIndex: Int, _ a: Int) {
        let h = g * Self.maxSlots + slotIndex
        let p = aggs[a].slotPrev, n = aggs[a].slotNext
        if p >= 0 { aggs[p].slotNext = n } else { slotHeads[h] = n }
        if n >= 0 { aggs[n].slotPrev = p }
        aggs[a].slotPrev = -1; aggs[a].slotNext = -1
    }

    @inline(__always) func slotHead(_ g: Int) -> Int { slotHeads[g * Self.maxSlots + groups[g].front] }

    func frontSlotRemove(_ g: Int) {
        let a = slotHead(g)
        slotUnlink(g, groups[g].front, a)
        if slotHeads[g * Self.maxSlots + groups[g].front] < 0 { groups[g].fullSlots &= ~1 }
    }

    func slotScan(_ g: Int) -> Int {
        if groups[g].fullSlots == 0 { return -1 }
        let i = Self.ffs(groups[g].fullSlots)
        if i > 0 {
            groups[g].front = (groups[g].front + i) % Self.maxSlots
            groups[g].fullSlots >>= UInt64(i)
        }
        return slotHead(g)
    }

    func slotRotate(_ g: Int, _ roundedS: UInt64) {
        let i = Int(truncatingIfNeeded: (groups[g].S &- roundedS) >> groups[g].slotShift)
        groups[g].fullSlots <<= UInt64(i)
        groups[g].front = ((groups[g].front - i) % Self.maxSlots + Self.maxSlots) % Self.maxSlots
    }

    func slotRemove(_ g: Int, _ a: Int) {
        let roundedS = Self.roundDown(aggs[a].S, groups[g].slotShift)
        let offset = Int(truncatingIfNeeded: (roundedS &- groups[g].S) >> groups[g].slotShift)
        let i = (groups[g].front + offset) % Self.maxSlots
        slotUnlink(g, i, a)
        if slotHeads[g * Self.maxSlots + i] < 0 { groups[g].fullSlots &= ~(1 << UInt64(offset)) }
    }

    // MARK: group states

    func calcState(_ g: Int) -> Int {
        var state = Self.gt(groups[g].S, V) ? 1 : 0
        let mask = Self.maskFrom(bitmaps.0, groups[g].index)
        if mask != 0 {
            let next = Self.ffs(mask)
            if Self.gt(groups[g].F, groups[next].F) { state |= Self.EB }
        }
        return state
    }

    func moveGroups(_ mask: UInt64, _ src: Int, _ dst: Int) {
        setBitmap(dst, bitmap(dst) | bitmap(src) & mask)
        setBitmap(src, bitmap(src) & ~mask)
    }

    func unblockGroups(_ index: Int, _ oldF: UInt64) {
        var mask = Self.maskFrom(bitmaps.0, index + 1)
        if mask != 0 {
            let next = Self.ffs(mask)
            if !Self.gt(groups[next].F, oldF) { return }
        }
        mask = (1 << UInt64(index)) &- 1
        moveGroups(mask, Self.EB, Self.ER)
        moveGroups(mask, Self.IB, Self.IR)
    }

    func makeEligible() {
        let vslot = V >> minSlotShift, oldVslot = oldV >> minSlotShift
        if vslot != oldVslot {
            let lastFlip = 64 - (vslot ^ oldVslot).leadingZeroBitCount
            let mask: UInt64 = lastFlip > 31 ? ~0 : (1 << UInt64(lastFlip)) &- 1
            moveGroups(mask, Self.IR, Self.ER)
            moveGroups(mask, Self.IB, Self.EB)
        }
    }

    func updateEligible() {
        let ineligible = bitmaps.1 | bitmaps.3
        if ineligible != 0 {
            if bitmaps.0 == 0 {
                let g = Self.ffs(ineligible)
                if Self.gt(groups[g].S, V) { V = groups[g].S }
            }
            makeEligible()
        }
    }

    // MARK: aggregate timestamps and scheduling

    func chargeActualService(_ a: Int) {
        let received = min(aggs[a].budgetmax, aggs[a].initialBudget &- aggs[a].budget)
        aggs[a].F = aggs[a].S &+ UInt64(received) &* UInt64(aggs[a].invW)
    }

    func updateStart(_ a: Int) {
        let g = aggs[a].grp
        let shift = groups[g].slotShift
        let roundedF = Self.roundDown(aggs[a].F, shift)
        let limit = Self.roundDown(V, shift) &+ (1 << shift)
        if !Self.gt(aggs[a].F, V) || Self.gt(roundedF, limit) {
            let mask = Self.maskFrom(bitmaps.0, groups[g].index)
            if mask != 0 {
                let next = Self.ffs(mask)
                if Self.gt(roundedF, groups[next].F) {
                    aggs[a].S = Self.gt(limit, groups[next].F) ? groups[next].F : limit
                    return
                }
            }
            aggs[a].S = V
        } else {
            aggs[a].S = aggs[a].F
        }
    }

    func updateAggTs(_ a: Int, requeue: Bool) {
        if !requeue { updateStart(a) } else { aggs[a].S = aggs[a].F }
        aggs[a].F = aggs[a].S &+ UInt64(aggs[a].budgetmax) &* UInt64(aggs[a].invW)
    }

    func scheduleAgg(_ a: Int) {
        let g = aggs[a].grp
        let roundedS = Self.roundDown(aggs[a].S, groups[g].slotShift)
        var update = true
        if groups[g].fullSlots != 0 {
            if !Self.gt(groups[g].S, aggs[a].S) {
                update = false
            } else {
                slotRotate(g, roundedS)
                clearBit(Self.IR, groups[g].index)
                clearBit(Self.IB, groups[g].index)
            }
        } else if bitmaps.0 == 0 && Self.gt(roundedS, V) && inServ < 0 {
            V = roundedS
        }
        if update {
            groups[g].S = roundedS
            groups[g].F = roundedS &+ (2 << groups[g].slotShift)
            setBit(calcState(g), groups[g].index)
        }
        slotInsert(g, a, roundedS)
    }

    func activateAgg(_ a: Int, enqueue: Bool) {
        aggs[a].initialBudget = aggs[a].budgetmax
        aggs[a].budget = aggs[a].budgetmax
        updateAggTs(a, requeue: !enqueue)
        if inServ < 0 {
            inServ = a
            V = aggs[a].S
            oldV = V
        } else if a != inServ {
            scheduleAgg(a)
        }
    }

    func deactivateAgg(_ a0: Int) {
        var a = a0
        let g = aggs[a].grp
        if a == inServ {
            chargeActualService(a)
            inServ = chooseNextAgg()
            return
        }
        aggs[a].F = aggs[a].S
        slotRemove(g, a)
        let index = groups[g].index
        if groups[g].fullSlots == 0 {
            clearBit(Self.IR, index); clearBit(Self.EB, index); clearBit(Self.IB, index)
            if bitmaps.0 & (1 << UInt64(index)) != 0 && bitmaps.0 & ~((1 << UInt64(index)) &- 1) == 0 {
                var mask = bitmaps.0 & ((1 << UInt64(index)) &- 1)
                if mask != 0 { mask = ~((1 << UInt64(63 - mask.leadingZeroBitCount)) &- 1) } else { mask = ~0 }
                moveGroups(mask, Self.EB, Self.ER)
                moveGroups(mask, Self.IB, Self.IR)
            }
            clearBit(Self.ER, index)
        } else if slotHeads[g * Self.maxSlots + groups[g].front] < 0 {
            a = slotScan(g)
            let roundedS = Self.roundDown(aggs[a].S, groups[g].slotShift)
            if groups[g].S != roundedS {
                clearBit(Self.ER, index); clearBit(Self.IR, index); clearBit(Self.EB, index); clearBit(Self.IB, index)
                groups[g].S = roundedS
                groups[g].F = roundedS &+ (2 << groups[g].slotShift)
                setBit(calcState(g), index)
            }
        }
    }

    func chooseNextAgg() -> Int {
        updateEligible()
        oldV = V
        if bitmaps.0 == 0 { return -1 }
        let g = Self.ffs(bitmaps.0)
        let oldF = groups[g].F
        let a = slotHead(g)
        frontSlotRemove(g)
        let front = slotScan(g)
        if front < 0 {
            clearBit(Self.ER, groups[g].index)
        } else {
            let roundedS = Self.roundDown(aggs[front].S, groups[g].slotShift)
            if groups[g].S == roundedS { return a }
            groups[g].S = roundedS
            groups[g].F = roundedS &+ (2 << groups[g].slotShift)
            clearBit(Self.ER, groups[g].index)
            setBit(calcState(g), groups[g].index)
        }
        unblockGroups(groups[g].index, oldF)
        return a
    }

    // MARK: enqueue / dequeue

    func classify(_ p: borrowing Packet, _ r: TcResult?) -> Int? {
        let prio = pool.metas[Int(p.index)].priority
        if prio >> 16 == UInt32(handle.major), let c = byID[prio] { return c }
        if case .classid(let id)? = r { return byID[id.raw] }
        return nil
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        switch classifyForEnqueue(p) {
        case .done(let v): return v
        case .go(let pk, let r):
            guard let c = classify(pk, r) else { return drop(pk) }
            let len = len(pk)
            if aggs[cls[c].agg].lmax < UInt32(len) {
                do { try changeAgg(c, weight: aggs[cls[c].agg].classWeight, lmax: UInt32(len)) } catch {
                    cls[c].stats.drops &+= 1
                    return drop(pk)
                }
            }
            let gsoSegs = segs(pk)
            let v = cls[c].leaf.enqueue(pk)
            if v == .dropped || v == .congestion { cls[c].stats.drops &+= 1; stats.drops &+= 1; return v }
            if v == .stolen { return v }
            cls[c].stats.bytes &+= UInt64(len); cls[c].stats.packets &+= gsoSegs
            let a = cls[c].agg
            if cls[c].active {
                if cls[c].leaf.statsSnapshot().qlen == 1 && aggs[a].head == c && cls[c].deficit < len {
                    activeRemove(a, c); activeAppend(a, c)
                }
                return v
            }
            cls[c].deficit = Int(aggs[a].lmax)
            activeAppend(a, c)
            if aggs[a].head != c || inServ == a { return v }
            activateAgg(a, enqueue: true)
            return v
        }
    }

    /// The first active class of the aggregate with a packet and that packet's length; a
    /// class whose queue went empty behind the scheduler's back (its own AQM dropped what it
    /// held) leaves the list, as qfq_qlen_notify takes it off.
    func peekActive(_ a: Int) -> (Int, Int)? {
        while aggs[a].head >= 0 {
            let c = aggs[a].head
            if let l = cls[c].leaf.peekLength() { return (c, l) }
            deactivateClass(c)
            if a != inServ && aggs[a].head < 0 { return nil }
        }
        return nil
    }

    override func dequeue() -> Packet? {
        guard inServ >= 0 else { return nil }
        var a = inServ
        var head = aggs[a].head >= 0 ? peekActive(a) : nil
        if inServ != a { head = nil }
        if head == nil || aggs[a].budget < UInt32(head!.1) {
            if inServ == a {
                chargeActualService(a)
                aggs[a].initialBudget = aggs[a].budgetmax
                aggs[a].budget = aggs[a].budgetmax
                if aggs[a].head >= 0 {
                    updateAggTs(a, requeue: true)
                    scheduleAgg(a)
                } else if activeClasses == 0 {
                    inServ = -1
                    return nil
                }
                inServ = chooseNextAgg()
            }
            guard inServ >= 0 else { return nil }
            a = inServ
            head = peekActive(a)
        }
        guard let (c, len) = head, let p = cls[c].leaf.dequeuePeeked() else { return nil }
        cls[c].deficit -= len
        if !cls[c].leaf.backlogged {
            activeRemove(a, c)
        } else if let next = cls[c].leaf.peekLength(), cls[c].deficit < next {
            cls[c].deficit += Int(aggs[a].lmax)
            activeRemove(a, c); activeAppend(a, c)
        }
        countSent(len, segs: segs(p))
        aggs[a].budget = aggs[a].budget < UInt32(len) ? 0 : aggs[a].budget - UInt32(len)
        V &+= UInt64(len) &* UInt64(iwsum)
        return p
    }

    override func reset() {
        for c in byID.values {
            if cls[c].active { deactivateClass(c) }
            cls[c].leaf.purge()
        }
    }

    override var watchdog: UInt64 {
        var w: UInt64 = 0
        for c in byID.values { let x = cls[c].leaf.watchdog; if x > 0 && (w == 0 || x < w) { w = x } }
        return w
    }

    /// qfq_dump_class (parent root, weight and maxpkt) and qfq_dump_class_stats (the class's
    /// enqueued counters, its child's queue, tc_qfq_stats), in the kernel's class walk order.
    override func classes(details: Bool) -> [QdiscClassInfo] {
        classOrder.order.compactMap { byID[$0] }.map { c in
            var st = cls[c].leaf.statsSnapshot()
            st.packets = cls[c].stats.packets; st.bytes = cls[c].stats.bytes; st.drops = cls[c].stats.drops
            let a = aggs[cls[c].agg]
            return QdiscClassInfo(classid: TcHandle(raw: cls[c].classid), parent: .root, leaf: cls[c].leaf,
                                  options: "weight \(a.classWeight) maxpkt \(a.lmax) ", stats: st, xstats: nil)
        }
    }

    /// The weight and maximum packet of a class (its aggregate's).
    func classParams(_ classid: TcHandle) -> (weight: UInt32, lmax: UInt32)? {
        guard let c = byID[classid.raw] else { return nil }
        let a = aggs[cls[c].agg]
        return (a.classWeight, a.lmax)
    }
}
