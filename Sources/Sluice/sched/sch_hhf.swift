/// Principles (sch_hhf.c; Estan and Varghese's multi-stage filter)
/// ----------
/// Heavy-Hitter Filter: a flow that sends more than `admit_bytes` within `reset_timeout` is a
/// heavy hitter. The test is a multi-stage filter: four arrays of 1024 byte counters indexed
/// by four 10-bit pieces of the flow hash; a packet's flow is heavy when all four counters
/// would pass the threshold (then its counters are left alone: shielding); otherwise only the
/// smallest counters grow (conservative update). The arrays reset every `reset_timeout`.
/// Heavy hitters are kept in a table (at most `hh_limit`, each forgotten `evict_timeout`
/// after its last packet) and their packets go to one queue, everything else to another;
/// the queues are served by weighted deficit round robin, the non-heavy one `non_hh_weight`
/// quanta per turn and first when it has just become busy (fq_codel's new/old lists). Over
/// `limit` packets, the heavy-hitter queue's head is dropped first.
/// The table is preallocated (a slot array with hash chains), so the packet path allocates
/// nothing.
final class HHFQdisc: Qdisc {
    static let arrays = 4, arrayLen = 1024, chains = 1024
    var limit = 1000
    var quantum: Int
    var hhLimit = 2048
    var resetTimeout: UInt64 = 40 * Time.ms
    var admitBytes: UInt32 = 131_072
    var evictTimeout: UInt64 = 1 * Time.s
    var nonHHWeight = 2

    var counters = [UInt32](repeating: 0, count: HHFQdisc.arrays * HHFQdisc.arrayLen)
    var valid = [Bool](repeating: false, count: HHFQdisc.arrays * HHFQdisc.arrayLen)
    var arraysReset: UInt64 = 0
    // The heavy-hitter table: slots with a hash, a last hit, and a chain link.
    var flowHash: [UInt32] = [], flowHit: [UInt64] = [], flowNext: [Int32] = []
    var chainHead = [Int32](repeating: -1, count: HHFQdisc.chains)
    var freeSlots: [Int32] = []
    var buckets = (PacketQueue(), PacketQueue())
    var deficit = (0, 0)
    /// Bucket order: 0 heavy hitters, 1 the rest; `listed` says where each one is (0 none,
    /// 1 new, 2 old), `order` the round-robin sequence.
    var listed = (0, 0)
    var newList: [Int] = [], oldList: [Int] = []
    let seed: UInt32
    var dropOverlimit: UInt64 = 0, hhOverlimit: UInt64 = 0, hhTotal: UInt64 = 0, hhCurrent = 0

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        quantum = env.mtu
        seed = env.clock.mode == .virtual ? 0x00FF_5EED : UInt32.random(in: 0...UInt32.max)   // repeatable offline
        super.init(kind: "hhf", handle: handle, parent: parent, env: env)
        newList.reserveCapacity(2); oldList.reserveCapacity(2)
        resize()
    }

    /// hhf_change's values (tc_hhf: limit, quantum ≥ 256, hh_limit, timeouts in µs, admit
    /// bytes, weight; quantum × weight must fit an int).
    struct Params {
        var limit: Int?, quantum: Int?, hhLimit: Int?, resetTimeout: UInt64?, admitBytes: UInt32?, evictTimeout: UInt64?, nonHHWeight: Int?
    }

    func configure(_ p: Params) throws(SluiceError) {
        let q = max(256, p.quantum ?? quantum), w = p.nonHHWeight ?? nonHHWeight
        let product = q * w
        guard product > 0, product <= Int(Int32.max) else { throw SluiceError("Error: hhf: quantum × non_hh_weight must be 1…2^31-1") }
        quantum = q; nonHHWeight = w
        if let v = p.limit { limit = v }
        if let v = p.hhLimit { hhLimit = v; resize() }
        if let v = p.resetTimeout { resetTimeout = v }
        if let v = p.admitBytes { admitBytes = v }
        if let v = p.evictTimeout { evictTimeout = v }
        while stats.qlen > limit, let pk = dequeueInternal() {
            stats.drops &+= 1
            pool.free(pk)
        }
    }

    /// The heavy-hitter table sized for `hhLimit` (existing entries forgotten).
    func resize() {
        let n = max(hhLimit, 1)
        flowHash = [UInt32](repeating: 0, count: n)
        flowHit = [UInt64](repeating: 0, count: n)
        flowNext = [Int32](repeating: -1, count: n)
        freeSlots = (0..<Int32(n)).reversed().map { $0 }
        for i in 0..<Self.chains { chainHead[i] = -1 }
        hhCurrent = 0
    }

    /// seek_list: the heavy hitter with `hash`, forgetting expired ones on the way except the
    /// chain's last (the kernel keeps it for reuse).
    func seek(_ hash: UInt32, chain: Int, now: UInt64) -> Int32? {
        var prev: Int32 = -1
        var i = chainHead[chain]
        while i >= 0 {
            let next = flowNext[Int(i)]
            if flowHit[Int(i)] &+ evictTimeout < now {
                if next < 0 { return nil }
                if prev < 0 { chainHead[chain] = next } else { flowNext[Int(prev)] = next }
                freeSlots.append(i); hhCurrent -= 1
            } else if flowHash[Int(i)] == hash {
                return i
            } else {
                prev = i
            }
            i = next
        }
        return nil
    }

    /// alloc_new_hh: an expired entry of the chain reused, else a free slot within the limit.
    func newHeavyHitter(chain: Int, now: UInt64) -> Int32? {
        var i = chainHead[chain]
        while i >= 0 {
            if flowHit[Int(i)] &+ evictTimeout < now { return i }
            i = flowNext[Int(i)]
        }
        guard hhCurrent < hhLimit, let s = freeSlots.popLast() else { hhOverlimit &+= 1; return nil }
        hhCurrent += 1
        flowNext[Int(s)] = chainHead[chain]
        chainHead[chain] = s
        return s
    }

    /// hhf_classify: 0 for a heavy hitter, 1 otherwise.
    func classify(_ idx: UInt32, _ len: Int) -> Int {
        let now = clock.now
        if arraysReset &+ resetTimeout < now {
            for k in 0..<valid.count { valid[k] = false }
            arraysReset = now
        }
        let hash = FlowHash.hash(pool, idx, seed: seed)
        let chain = Int(hash) & (Self.chains - 1)
        if let f = seek(hash, chain: chain, now: now) { flowHit[Int(f)] = now; return 0 }
        var minVal = UInt32.max
        var h = hash
        var pos = (0, 0, 0, 0)
        for a in 0..<Self.arrays {
            let p = a * Self.arrayLen + Int(h & UInt32(Self.arrayLen - 1))
            h >>= 10
            switch a { case 0: pos.0 = p; case 1: pos.1 = p; case 2: pos.2 = p; default: pos.3 = p }
            if !valid[p] { counters[p] = 0; valid[p] = true }
            let v = counters[p] &+ UInt32(len)
            if v < minVal { minVal = v }
        }
        if minVal > admitBytes {
            guard let f = newHeavyHitter(chain: chain, now: now) else { return 1 }
            flowHash[Int(f)] = hash; flowHit[Int(f)] = now
            hhTotal &+= 1
            return 0
        }
        if counters[pos.0] < minVal { counters[pos.0] = minVal }
        if counters[pos.1] < minVal { counters[pos.1] = minVal }
        if counters[pos.2] < minVal { counters[pos.2] = minVal }
        if counters[pos.3] < minVal { counters[pos.3] = minVal }
        return 1
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        let l = len(p)
        let b = classify(p.index, l)
        if b == 0 { buckets.0.push(p, pool) } else { buckets.1.push(p, pool) }
        accountIn(l)
        if (b == 0 ? listed.0 : listed.1) == 0 {
            // Heavy hitters always go to the old list; the rest start on the new one.
            if b == 0 { oldList.append(0); listed.0 = 2; deficit.0 = quantum } else { newList.append(1); listed.1 = 1; deficit.1 = nonHHWeight * quantum }
        }
        if stats.qlen <= limit { return .success }
        dropOverlimit &+= 1
        // hhf_drop: the heavy-hitter queue's head first.
        let from = buckets.0.isEmpty ? 1 : 0
        if let d = from == 0 ? buckets.0.pop(pool) : buckets.1.pop(pool) {
            let dl = len(d)
            stats.qlen -= 1; stats.backlog &-= UInt64(dl); stats.drops &+= 1
            pool.free(d)
        }
        return from == b ? .congestion : .success
    }

    /// The next packet by the weighted round robin, without counting it as sent.
    func dequeueInternal() -> Packet? {
        while true {
            let fromNew = !newList.isEmpty
            guard let b = fromNew ? newList.first : oldList.first else { return nil }
            let d = b == 0 ? deficit.0 : deficit.1
            if d <= 0 {
                let w = b == 0 ? 1 : nonHHWeight
                if b == 0 { deficit.0 += w * quantum } else { deficit.1 += w * quantum }
                if fromNew { newList.removeFirst() } else { oldList.removeFirst() }
                oldList.append(b)
                if b == 0 { listed.0 = 2 } else { listed.1 = 2 }
                continue
            }
            let pk = b == 0 ? buckets.0.pop(pool) : buckets.1.pop(pool)
            guard let pk else {
                if fromNew { newList.removeFirst() } else { oldList.removeFirst() }
                if fromNew && !oldList.isEmpty {
                    oldList.append(b)
                    if b == 0 { listed.0 = 2 } else { listed.1 = 2 }
                } else if b == 0 { listed.0 = 0 } else { listed.1 = 0 }
                continue
            }
            let l = len(pk)
            stats.qlen -= 1; stats.backlog &-= UInt64(l)
            if b == 0 { deficit.0 -= l } else { deficit.1 -= l }
            return pk
        }
    }

    override func dequeue() -> Packet? {
        guard let p = dequeueInternal() else { return nil }
        countSent(len(p), segs: segs(p))
        return p
    }

    override func peekLength() -> Int? {
        for b in newList { if let i = (b == 0 ? buckets.0 : buckets.1).peekIndex { return Int(pool.metas[Int(i)].pktLen) } }
        for b in oldList { if let i = (b == 0 ? buckets.0 : buckets.1).peekIndex { return Int(pool.metas[Int(i)].pktLen) } }
        return nil
    }

    override func reset() {
        buckets.0.purge(pool); buckets.1.purge(pool)
        newList.removeAll(keepingCapacity: true); oldList.removeAll(keepingCapacity: true)
        listed = (0, 0)
        stats.qlen = 0; stats.backlog = 0
    }
}
