/// Principles (sch_fq.c)
/// ----------
/// The Fair Queue packet scheduler keeps a queue per flow, created when the flow first sends
/// and reclaimed three seconds after it went idle (garbage collection on the lookup path), and
/// serves them in a deficit round robin where newly active flows go first and a new flow
/// starts with a larger credit (`initial_quantum`). Flows belong to one of three priority
/// bands (the packet's priority through a priomap), served by a weighted round robin; `limit`
/// applies per band. A flow can be paced: with `maxrate`, each packet sets when the flow may
/// send next (rate-limited flows wait in a tree ordered by that time, and the qdisc's
/// watchdog is the earliest). Packets that sojourned longer than `ce_threshold` leave with CE.
/// While the qdisc is empty — or every flow is idle or throttled and few packets wait there —
/// a packet takes the fast path: a plain FIFO served before any flow.
///
/// What Sluice forwards has no socket: as the kernel does for such "orphaned" packets, the
/// flow is the packet's hash masked with `orphan_mask` and no socket pacing rate applies
/// (only `maxrate`); forwarded packets carry no departure time (skb->tstamp is cleared when
/// the kernel forwards), so `horizon` is kept and dumped but never acts. Departure times,
/// flow reclaim ages and the refill delay are in nanoseconds of the datapath clock.
final class FQQdisc: Qdisc {
    static let bands = 3
    static let minWeight: Int32 = 16384
    static let gcAge: UInt64 = 3 * Time.s
    static let unlimited = UInt64(UInt32.max)     // flow_max_rate ~0U: no per-flow limit
    static let defaultPrio2band: [UInt8] = [1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]

    /// fq's configuration (TCA_FQ_*), as tc's words and rtnetlink both produce it.
    struct FQParams: Equatable {
        var limit = 10000
        var flowLimit = 100
        var quantum: Int
        var initialQuantum: Int
        var rateEnable = true
        var maxRate = FQQdisc.unlimited            // bytes/s
        var bucketsLog = 10
        var refillDelay: UInt64 = 40 * Time.ms     // ns
        var orphanMask: UInt32 = 1023
        var lowRateThreshold: UInt64 = 550_000 / 8 // bytes/s
        var ceThreshold: UInt64 = UInt64(UInt32.max) * 1000   // ns
        var timerSlack: UInt32 = 10_000            // ns
        var horizon: UInt64 = 10 * Time.s          // ns
        var horizonDrop = true
        var offloadHorizon: UInt64 = 0             // ns
        var prio2band = FQQdisc.defaultPrio2band
        var weights: [Int32] = [9 << 16, 3 << 16, 1 << 16]
    }
    var params: FQParams

    // Flow slots.
    var fQueue: [PacketQueue] = []
    var fKey: [UInt32] = []
    var fCredit: [Int] = []
    var fBand: [Int] = []
    var fNext: [Int32] = []          // RR list link
    var fBucketNext: [Int32] = []
    var fTimeNext: [UInt64] = []     // time_next_packet
    var fAge: [UInt64] = []          // when detached (valid while detached)
    var fDetached: [Bool] = []
    var fThrottled: [Bool] = []
    var freeSlots: [Int32] = []
    var buckets: [Int32] = []
    // Per band: new and old lists, credit.
    var newHead = [Int32](repeating: -1, count: 3), newTail = [Int32](repeating: -1, count: 3)
    var oldHead = [Int32](repeating: -1, count: 3), oldTail = [Int32](repeating: -1, count: 3)
    var bandCredit = [Int](repeating: 0, count: 3)
    var bandNr = 0
    var bandPktCount = [Int](repeating: 0, count: 3)
    // Rate-limited flows, ordered by time_next_packet (ties in arrival order).
    var delayed: [Int32] = []
    var timeNextDelayedFlow = UInt64.max
    var unthrottleLatency: UInt64 = 0
    var internalQ = PacketQueue()
    var seed: UInt32

    // tc_fq_qd_stats
    var flows = 0, inactiveFlows = 0, throttledFlows = 0
    var statGCFlows: UInt64 = 0, statFastpath: UInt64 = 0, statThrottled: UInt64 = 0, statFlowsPlimit: UInt64 = 0
    var statPktsTooLong: UInt64 = 0, statAllocationErrors: UInt64 = 0, statCEMark: UInt64 = 0
    var statHorizonDrops: UInt64 = 0, statHorizonCaps: UInt64 = 0
    var statBandDrops = [UInt64](repeating: 0, count: 3)

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        params = FQParams(quantum: 2 * env.mtu, initialQuantum: 10 * env.mtu)
        seed = UInt32(truncatingIfNeeded: stableHash("fq\(handle.raw)"))
        super.init(kind: "fq", handle: handle, parent: parent, env: env)
    }

    /// The most flows a configuration can have: one per orphan hash value, and at most 65 536
    /// (beyond that a packet counts as an allocation error and takes the fast path, as the
    /// kernel does when it cannot allocate a flow).
    static func slotCount(_ p: FQParams) -> Int { Int(min(UInt64(p.orphanMask) + 1, 65536)) }

    /// fq_change, validated first and applied whole (the kernel applies the valid attributes
    /// of a request with an invalid one; Sluice changes nothing then). A smaller limit
    /// dequeues and frees until the qdisc fits.
    func configure(_ p: FQParams) throws(SluiceError) {
        guard p.bucketsLog >= 1 && p.bucketsLog <= 18 else { throw SluiceError("Error: fq: buckets must be a power of two from 2 to 262144") }
        guard p.quantum > 0 && p.quantum <= 1 << 20 else { throw SluiceError("Error: fq: invalid quantum") }
        guard p.initialQuantum >= 0 && p.initialQuantum <= Int(Int32.max) else { throw SluiceError("Error: fq: initial_quantum out of range") }
        guard p.prio2band.count == 16, p.prio2band.allSatisfy({ $0 < 3 }) else { throw SluiceError("Error: fq: FQ priomap maps to a too high band") }
        guard p.weights.count == 3 else { throw SluiceError("Error: fq: FQ only supports 3 bands") }
        for w in p.weights where w < Self.minWeight {
            throw SluiceError("Error: fq: Weight \(w) less that minimum allowed \(Self.minWeight)")
        }
        guard p.offloadHorizon == 0 else { throw SluiceError("Error: fq: invalid offload_horizon") }
        let resize = fQueue.isEmpty || Self.slotCount(p) != Self.slotCount(params) || p.bucketsLog != params.bucketsLog || p.orphanMask != params.orphanMask
        params = p
        if resize { rebuild() }
        while stats.qlen > params.limit, let x = dequeue() { pool.free(x) }
    }

    override func attached() { if fQueue.isEmpty { rebuild() } }

    /// Sizes the flow slots and buckets for the configuration. Flows with packets are kept
    /// (rehashed); idle ones are reclaimed, as fq_rehash reclaims those old enough.
    func rebuild() {
        let n = Self.slotCount(params)
        var keep: [(key: UInt32, q: PacketQueue, credit: Int, band: Int, timeNext: UInt64)] = []
        for i in 0..<fQueue.count where !fQueue[i].isEmpty {
            keep.append((fKey[i], fQueue[i], fCredit[i], fBand[i], fTimeNext[i]))
        }
        fQueue = Array(repeating: PacketQueue(), count: n)
        fKey = Array(repeating: 0, count: n); fCredit = Array(repeating: 0, count: n); fBand = Array(repeating: 0, count: n)
        fNext = Array(repeating: -1, count: n); fBucketNext = Array(repeating: -1, count: n)
        fTimeNext = Array(repeating: 0, count: n); fAge = Array(repeating: 0, count: n)
        fDetached = Array(repeating: true, count: n); fThrottled = Array(repeating: false, count: n)
        freeSlots = (0..<Int32(n)).reversed()
        buckets = Array(repeating: -1, count: 1 << params.bucketsLog)
        for b in 0..<3 { newHead[b] = -1; newTail[b] = -1; oldHead[b] = -1; oldTail[b] = -1 }
        delayed.removeAll(keepingCapacity: true); delayed.reserveCapacity(n)
        timeNextDelayedFlow = .max
        statGCFlows &+= UInt64(max(0, flows - keep.count))
        flows = 0; inactiveFlows = 0; throttledFlows = 0
        for k in keep {
            guard let f = newFlow(k.key & params.orphanMask) else { break }
            fQueue[f] = k.q; fCredit[f] = k.credit; fBand[f] = k.band; fTimeNext[f] = k.timeNext
            fDetached[f] = false; inactiveFlows -= 1
            addTail(f, new: false)
        }
    }

    @inline(__always) func bucket(_ key: UInt32) -> Int {
        Int(UInt32(truncatingIfNeeded: (UInt64(key) << 1 | 1) &* 0x61C8_8647) >> UInt32(32 - params.bucketsLog))
    }

    func newFlow(_ key: UInt32) -> Int? {
        guard let s = freeSlots.popLast() else { return nil }
        let f = Int(s)
        let b = bucket(key)
        fKey[f] = key; fBucketNext[f] = buckets[b]; buckets[b] = s
        fDetached[f] = true; fAge[f] = clock.now; fThrottled[f] = false
        fCredit[f] = params.initialQuantum; fBand[f] = 0; fTimeNext[f] = 0; fNext[f] = -1
        flows += 1; inactiveFlows += 1
        return f
    }

    /// fq_classify for a packet without a socket: the flow of its masked hash, reclaiming on
    /// the way the flows of the bucket idle for more than three seconds (fq_gc).
    func lookup(_ key: UInt32, now: UInt64) -> Int? {
        let b = bucket(key)
        var prev: Int32 = -1
        var i = buckets[b]
        var found: Int? = nil
        while i >= 0 {
            let f = Int(i)
            let next = fBucketNext[f]
            if fKey[f] == key { found = f; break }
            if fDetached[f] && now > fAge[f] &+ Self.gcAge {
                if prev >= 0 { fBucketNext[Int(prev)] = next } else { buckets[b] = next }
                freeSlots.append(i)
                flows -= 1; inactiveFlows -= 1; statGCFlows &+= 1
            } else {
                prev = i
            }
            i = next
        }
        return found ?? newFlow(key)
    }

    func addTail(_ f: Int, new: Bool) {
        let b = fBand[f]
        fNext[f] = -1
        if new {
            if newTail[b] >= 0 { fNext[Int(newTail[b])] = Int32(f) } else { newHead[b] = Int32(f) }
            newTail[b] = Int32(f)
        } else {
            if oldTail[b] >= 0 { fNext[Int(oldTail[b])] = Int32(f) } else { oldHead[b] = Int32(f) }
            oldTail[b] = Int32(f)
        }
    }

    func fastpath(now: UInt64) -> Bool {
        if stats.qlen != 0 {
            if flows != inactiveFlows + throttledFlows { return false }
            if internalQ.count >= 8 { return false }
            if timeNextDelayedFlow <= now &+ params.offloadHorizon { return false }
        }
        return params.maxRate == Self.unlimited
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        let m = pool.metas[Int(p.index)]
        let band = Int(params.prio2band[Int(m.priority & 15)])
        if bandPktCount[band] >= params.limit { statBandDrops[band] &+= 1; return drop(p) }
        let now = clock.now
        pool.metas[Int(p.index)].timestamp = now                  // time_to_send: no departure time of its own
        let l = len(p)
        if fastpath(now: now) {
            statFastpath &+= 1
            internalQ.push(p, pool)
            accountIn(l)
            return .success
        }
        guard let f = lookup(FlowHash.hash(pool, p.index, seed: seed) & params.orphanMask, now: now) else {
            statAllocationErrors &+= 1
            internalQ.push(p, pool)
            accountIn(l)
            return .success
        }
        if fQueue[f].count >= params.flowLimit { statFlowsPlimit &+= 1; return drop(p) }
        if fDetached[f] {
            addTail(f, new: true)                                 // into the list of the band it last had, as fq_enqueue
            fDetached[f] = false
            if now > fAge[f] &+ params.refillDelay { fCredit[f] = max(fCredit[f], params.quantum) }
        }
        fBand[f] = band
        bandPktCount[band] += 1
        pool.metas[Int(p.index)].schedCookie = UInt64(band)
        if fQueue[f].isEmpty { inactiveFlows -= 1 }
        fQueue[f].push(p, pool)
        accountIn(l)
        return .success
    }

    func setThrottled(_ f: Int) {
        let t = fTimeNext[f]
        var lo = 0, hi = delayed.count
        while lo < hi { let mid = (lo + hi) / 2; if fTimeNext[Int(delayed[mid])] <= t { lo = mid + 1 } else { hi = mid } }
        delayed.insert(Int32(f), at: lo)
        fThrottled[f] = true
        throttledFlows += 1; statThrottled &+= 1
        if timeNextDelayedFlow > t { timeNextDelayedFlow = t }
    }

    func checkThrottled(_ now: UInt64) {
        if timeNextDelayedFlow > now &+ params.offloadHorizon { return }
        if now > timeNextDelayedFlow {
            let sample = now - timeNextDelayedFlow
            unthrottleLatency -= unthrottleLatency >> 3
            unthrottleLatency += sample >> 3
        }
        let horizon = now &+ params.offloadHorizon
        timeNextDelayedFlow = .max
        var n = 0
        while n < delayed.count {
            let f = Int(delayed[n])
            if fTimeNext[f] > horizon { timeNextDelayedFlow = fTimeNext[f]; break }
            fThrottled[f] = false
            throttledFlows -= 1
            addTail(f, new: false)
            n += 1
        }
        if n > 0 { delayed.removeFirst(n) }
    }

    /// tc_fq_qd_stats.time_next_delayed_flow: the earliest throttled flow's time plus the
    /// slack, less now, in the kernel's wrapping arithmetic (negative, so not shown, when no
    /// flow waits).
    var nextPacketDelay: Int64 { Int64(bitPattern: timeNextDelayedFlow &+ UInt64(params.timerSlack) &- clock.now) }

    override var watchdog: UInt64 { stats.qlen > 0 && timeNextDelayedFlow != .max ? timeNextDelayedFlow : 0 }

    override func dequeue() -> Packet? {
        guard stats.qlen > 0 else { return nil }
        if let p = internalQ.pop(pool) {
            accountOut(len(p), segs: segs(p))
            return p
        }
        let now = clock.now
        checkThrottled(now)
        var b = bandNr
        var retry = 0
        while true {
            var fromNew = true
            var head: Int32 = -1
            if bandCredit[b] > 0 {
                if newHead[b] >= 0 { head = newHead[b] } else if oldHead[b] >= 0 { head = oldHead[b]; fromNew = false }
            }
            if head < 0 {
                var found = false
                while retry < Self.bands {
                    retry += 1
                    bandNr = bandNr + 1 == Self.bands ? 0 : bandNr + 1
                    b = bandNr
                    bandCredit[b] = min(bandCredit[b] + Int(params.weights[b]), Int(params.weights[b]))
                    if bandCredit[b] > 0 { found = true; break }
                    retry = 0
                }
                if !found { return nil }
                continue
            }
            let f = Int(head)
            retry = 0
            if fCredit[f] <= 0 {
                fCredit[f] += params.quantum
                popHead(b, new: fromNew)
                addTail(f, new: false)
                continue
            }
            if let idx = fQueue[f].peekIndex {
                let tnp = max(pool.metas[Int(idx)].timestamp, fTimeNext[f])
                if now &+ params.offloadHorizon < tnp {
                    popHead(b, new: fromNew)
                    fTimeNext[f] = tnp
                    setThrottled(f)
                    continue
                }
                let p = fQueue[f].pop(pool)!
                let plen0 = len(p)
                accountOut(plen0, segs: segs(p))
                if Int64(bitPattern: now &- tnp &- params.ceThreshold) > 0, ECN.setCE(pool, p.index) { statCEMark &+= 1 }
                if fQueue[f].isEmpty { inactiveFlows += 1 }
                bandPktCount[Int(pool.metas[Int(p.index)].schedCookie)] -= 1
                var plen = plen0
                fCredit[f] -= plen
                bandCredit[b] -= plen
                guard params.rateEnable else { return p }
                let rate = params.maxRate
                if rate <= params.lowRateThreshold {
                    fCredit[f] = 0
                } else {
                    plen = max(plen, params.quantum)
                    if fCredit[f] > 0 { return p }
                }
                if rate != Self.unlimited {
                    var l = UInt64(plen) * Time.s
                    if rate > 0 { l /= rate }
                    if l > Time.s { l = Time.s; statPktsTooLong &+= 1 }
                    if fTimeNext[f] != 0 { l -= min(l / 2, now &- fTimeNext[f]) }
                    fTimeNext[f] = now &+ l
                }
                return p
            }
            // An empty flow: a new one passes through the old list (so it cannot starve the
            // old ones); an old one is detached, and reclaimed once idle long enough.
            popHead(b, new: fromNew)
            if fromNew { addTail(f, new: false) } else { fDetached[f] = true; fAge[f] = now }
        }
    }

    func popHead(_ b: Int, new: Bool) {
        if new {
            let f = Int(newHead[b]); newHead[b] = fNext[f]; if newHead[b] < 0 { newTail[b] = -1 }
        } else {
            let f = Int(oldHead[b]); oldHead[b] = fNext[f]; if oldHead[b] < 0 { oldTail[b] = -1 }
        }
    }

    /// fq_reset: every packet freed and every flow reclaimed.
    override func reset() {
        internalQ.purge(pool)
        for i in 0..<fQueue.count { fQueue[i].purge(pool) }
        stats.qlen = 0; stats.backlog = 0
        bandPktCount = [0, 0, 0]
        let n = fQueue.count
        for i in 0..<n { fDetached[i] = true; fThrottled[i] = false; fNext[i] = -1; fBucketNext[i] = -1 }
        freeSlots = (0..<Int32(n)).reversed()
        for i in 0..<buckets.count { buckets[i] = -1 }
        for b in 0..<3 { newHead[b] = -1; newTail[b] = -1; oldHead[b] = -1; oldTail[b] = -1 }
        delayed.removeAll(keepingCapacity: true)
        timeNextDelayedFlow = .max
        flows = 0; inactiveFlows = 0; throttledFlows = 0
    }
}
