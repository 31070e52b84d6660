/// Principles (sch_sfq.c)
/// ----------
/// Stochastic fairness queueing: packets hash (5-tuple + a perturbation) into `divisor`
/// buckets; the buckets that hold packets take turns in a round robin with a byte allotment of
/// `quantum` each turn. A flow may hold at most `depth` packets, at most `flows` flows may be
/// active, and when the whole qdisc is over `limit` the longest flow loses its tail packet, so a
/// flood hurts itself, not the others. Every `perturb` seconds the hash changes (and the queued
/// packets are rehashed), so flows that collide do not collide for long.
///
/// With `redflowlimit … min … max …` each flow also runs RED over its own byte backlog (the
/// kernel's red.h fixed point, without idle decay, the average reset when a flow's queue
/// starts anew): early or forced drops — or with `ecn` marks, of the flow's head packet
/// under `headdrop` — counted as tc_sfqred_stats. RED, once set, stays, as sfq_change keeps it.
final class SFQQdisc: Qdisc {
    var limit = 127
    var quantum: Int
    var divisor = 1024
    var depth = 127
    var maxFlows = 128
    var perturb: UInt64 = 0
    var headdrop = false
    var seed: UInt32 = 0
    var nextPerturb: UInt64 = 0
    var rng = SplitMix(seed: 0x5F0)
    var buckets: [PacketQueue] = []
    var allot: [Int] = []
    var ringNext: [Int32] = []
    var active: [Bool] = []
    var ringTail: Int32 = -1      // the ring is circular; tail.next is the head
    var activeCount = 0
    /// RED per flow (q->red_parms), its flags (TC_RED_ECN, TC_RED_HARDDROP) and each bucket's state.
    var red: REDParms?
    var redFlags: UInt8 = 0
    var redVars: [REDVars] = []
    /// struct tc_sfqred_stats.
    var probDrop: UInt32 = 0, forcedDrop: UInt32 = 0, probMark: UInt32 = 0, forcedMark: UInt32 = 0, probMarkHead: UInt32 = 0, forcedMarkHead: UInt32 = 0

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        quantum = env.mtu
        super.init(kind: "sfq", handle: handle, parent: parent, env: env)
    }

    /// sfq's configuration (struct tc_sfq_qopt_v1 without RED): the typed value tc's words and
    /// rtnetlink both produce.
    struct SFQParams {
        var limit: Int; var quantum: Int; var divisor: Int; var depth: Int; var flows: Int; var perturb: UInt64; var headdrop: Bool
        /// tc_sfq_qopt_v1's RED part: thresholds in bytes, Wlog, Plog, Scell_log, max_P; nil
        /// (qth_min 0) keeps what is set.
        var red: (qthMin: UInt32, qthMax: UInt32, wlog: UInt8, plog: UInt8, scellLog: UInt8, maxP: UInt32)? = nil
        var redFlags: UInt8? = nil
    }
    var params: SFQParams {
        SFQParams(limit: limit, quantum: quantum, divisor: divisor, depth: depth, flows: maxFlows, perturb: perturb, headdrop: headdrop)
    }

    /// sfq_change: applied whole; the divisor is fixed once the hash table exists.
    func configure(_ p: SFQParams) throws(SluiceError) {
        let limit = p.limit, quantum = p.quantum, divisor = p.divisor, depth = p.depth, flows = p.flows, perturb = p.perturb, hd = p.headdrop
        if !buckets.isEmpty && divisor != self.divisor { throw SluiceError("Error: sfq divisor cannot be changed once set.") }
        if let r = p.red, !REDParms.valid(qthMin: r.qthMin, qthMax: r.qthMax, wlog: r.wlog, scellLog: r.scellLog) {
            throw SluiceError("Error: sfq: invalid RED parameters.")
        }
        if let r = p.red, r.qthMin != 0 { red = REDParms(qthMin: r.qthMin, qthMax: r.qthMax, wlog: r.wlog, plog: r.plog, scellLog: r.scellLog, maxP: r.maxP) }
        if let f = p.redFlags { redFlags = f }
        self.limit = min(limit, depth * flows)
        self.quantum = max(quantum, 256)
        self.divisor = divisor; self.depth = depth; maxFlows = flows; self.perturb = perturb; headdrop = hd
        if buckets.isEmpty {
            buckets = Array(repeating: PacketQueue(), count: divisor)
            allot = Array(repeating: 0, count: divisor)
            ringNext = Array(repeating: -1, count: divisor)
            active = Array(repeating: false, count: divisor)
            redVars = Array(repeating: REDVars(), count: divisor)
            seed = UInt32(truncatingIfNeeded: rng.next())
        }
        nextPerturb = perturb > 0 ? clock.now &+ perturb : 0
        while stats.qlen > self.limit { dropFromLongest() }
    }

    override func attached() { if buckets.isEmpty { try? configure(params) } }

    func bucket(_ idx: UInt32) -> Int {
        if let r = filters.classify(Packet(index: idx), pool: pool), case .classid(let c) = r, c.minor > 0, Int(c.minor) <= divisor { return Int(c.minor) - 1 }
        return Int(FlowHash.hash(pool, idx, seed: seed) & UInt32(divisor - 1))
    }

    func activate(_ b: Int) {
        active[b] = true
        redVars[b].restart()
        allot[b] = quantum
        activeCount += 1
        if ringTail < 0 { ringNext[b] = Int32(b) } else { ringNext[b] = ringNext[Int(ringTail)]; ringNext[Int(ringTail)] = Int32(b) }
        ringTail = Int32(b)
    }

    func dropFromLongest() {
        var longest = -1, most = 0
        for b in 0..<buckets.count where buckets[b].count > most { most = buckets[b].count; longest = b }
        guard longest >= 0 else { return }
        dropOne(longest)
    }

    func dropOne(_ b: Int) {
        if headdrop {
            if let x = buckets[b].pop(pool) { accountDropped(len(x)); pool.free(x) }
        } else {
            // Tail drop: unlink the last packet.
            var q = buckets[b]
            var kept = PacketQueue()
            let n = q.count
            for _ in 0..<(n - 1) { kept.push(q.pop(pool)!, pool) }
            if let x = q.pop(pool) { accountDropped(len(x)); pool.free(x) }
            buckets[b] = kept
        }
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        maybePerturb()
        let b = bucket(p.index)
        if !active[b] && activeCount >= maxFlows { return drop(p) }
        var congested = buckets[b].count >= depth
        if !congested, active[b], let r = red {
            // sfq_enqueue's RED on the flow's byte backlog.
            redVars[b].qavg = r.averageNoIdle(redVars[b].qavg, backlog: buckets[b].bytes)
            let ecn = redFlags & 1 != 0, hardMark = redFlags & 3 == 1
            switch r.action(&redVars[b], redVars[b].qavg, &rng) {
            case .dontMark: break
            case .probMark:
                stats.overlimits &+= 1
                if ecn, headdrop, let h = buckets[b].peekIndex, ECN.setCE(pool, h) { probMarkHead &+= 1 }
                else if ecn && ECN.setCE(pool, p.index) { probMark &+= 1 }
                else { probDrop &+= 1; congested = true }
            case .hardMark:
                stats.overlimits &+= 1
                if hardMark, headdrop, let h = buckets[b].peekIndex, ECN.setCE(pool, h) { forcedMarkHead &+= 1 }
                else if hardMark && ECN.setCE(pool, p.index) { forcedMark &+= 1 }
                else { forcedDrop &+= 1; congested = true }
            }
        }
        if congested {
            // congestion_drop: the new packet, or with headdrop the flow's oldest for it.
            if !headdrop { return drop(p) }
            dropOne(b)
            let l = len(p)
            buckets[b].push(p, pool)
            accountIn(l)
            return .congestion
        }
        let l = len(p)
        buckets[b].push(p, pool)
        accountIn(l)
        if !active[b] { activate(b) }
        if stats.qlen <= limit { return .success }
        let before = buckets[b].count
        dropFromLongest()
        return buckets[b].count != before ? .congestion : .success
    }

    override func dequeue() -> Packet? {
        maybePerturb()
        while ringTail >= 0 {
            let b = Int(ringNext[Int(ringTail)])
            if allot[b] <= 0 {
                ringTail = Int32(b)
                allot[b] += quantum
                continue
            }
            guard let p = buckets[b].pop(pool) else { unlinkHead(b); continue }
            let l = len(p)
            allot[b] -= l
            if buckets[b].isEmpty { unlinkHead(b) }
            accountOut(l, segs: segs(p))
            return p
        }
        return nil
    }

    /// Removes the bucket at the head of the ring (it became empty).
    func unlinkHead(_ b: Int) {
        active[b] = false
        activeCount -= 1
        if ringNext[b] == Int32(b) { ringTail = -1 } else { ringNext[Int(ringTail)] = ringNext[b] }
    }

    func maybePerturb() {
        guard perturb > 0, clock.now >= nextPerturb else { return }
        nextPerturb = clock.now &+ perturb
        seed = UInt32(truncatingIfNeeded: rng.next())
        // Rehash: take every queued packet out in ring order and put it back.
        var all = PacketQueue()
        while ringTail >= 0 {
            let b = Int(ringNext[Int(ringTail)])
            while let x = buckets[b].pop(pool) { all.push(x, pool) }
            unlinkHead(b)
        }
        while let x = all.pop(pool) {
            let b = bucket(x.index)
            if !active[b] { activate(b) }
            if let r = red { redVars[b].qavg = r.averageNoIdle(redVars[b].qavg, backlog: buckets[b].bytes) }
            buckets[b].push(x, pool)
        }
    }

    override func reset() {
        for b in 0..<buckets.count { buckets[b].purge(pool); active[b] = false }
        ringTail = -1; activeCount = 0; stats.qlen = 0; stats.backlog = 0
    }

}
