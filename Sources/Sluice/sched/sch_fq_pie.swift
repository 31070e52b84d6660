/// Principles (sch_fq_pie.c; RFC 8033 per flow, the flow queueing of RFC 8290)
/// ----------
/// fq_codel's structure with PIE in place of CoDel: packets are hashed into `flows` queues,
/// served by a deficit round robin in which newly active flows go first; each flow has its
/// own PIE controller (probability, delay, burst allowance), fed by that flow's backlog, and
/// drops or ECN-marks (while its probability is at most `ecn_prob` %) on enqueue only. The
/// qdisc drops at `limit` packets; `memory_limit` is only counted (`overmemory`), as the
/// kernel's fq_pie does.
///
/// The kernel's adapt timer updates every flow each `tupdate`, the first time half a second
/// after creation. A flow's controller depends only on its own backlog, which changes only
/// when that flow enqueues or dequeues, so each flow catches up with the updates it missed on
/// the same schedule when it is next touched — the same values, without a walk of every flow
/// per period.
final class FQPIEQdisc: Qdisc {
    struct FQPIEParams {
        var pie = PIE.Params(limit: 10240)
        /// Only a request carries it: the number of flows is fixed once the qdisc exists.
        var flows: Int?
        var quantum: Int
        var memoryLimit = 32 << 20
        var ecnProb: UInt32 = 10
    }
    var params: FQPIEParams
    var flowCount = 1024
    let seed: UInt32

    var queues: [PacketQueue] = []
    var vars: [PIE.Vars] = []
    var nextUpdate: [UInt64] = []
    var deficit: [Int] = []
    var listOf: [UInt8] = []          // 0 none, 1 new, 2 old
    var nextInList: [Int32] = []
    var newHead: Int32 = -1, newTail: Int32 = -1, oldHead: Int32 = -1, oldTail: Int32 = -1
    var newCount = 0, oldCount = 0
    var firstUpdate: UInt64 = 0
    var rng = SplitMix(seed: 0xF9_1E)
    // tc_fq_pie_xstats
    var packetsIn: UInt64 = 0, dropped: UInt64 = 0, overlimit: UInt64 = 0, overmemory: UInt64 = 0, ecnMarked: UInt64 = 0
    var newFlowCount: UInt64 = 0
    var memoryUsage = 0

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        params = FQPIEParams(quantum: env.mtu)
        seed = UInt32(truncatingIfNeeded: stableHash("fq_pie\(handle.raw)"))
        super.init(kind: "fq_pie", handle: handle, parent: parent, env: env)
    }

    /// fq_pie_change: applied whole; `flows` only before the queues exist. A lower limit
    /// dequeues (and frees) packets until the qdisc fits, as the kernel does.
    func configure(_ c: FQPIEParams) throws(SluiceError) {
        if let f = c.flows {
            guard queues.isEmpty else { throw SluiceError("Error: fq_pie: Number of flows cannot be changed") }
            guard f >= 1 && f <= 65536 else { throw SluiceError("Error: fq_pie: Number of flows must range in [1..65536]") }
        }
        guard c.quantum >= 1 && c.quantum <= 1 << 20 else { throw SluiceError("Error: fq_pie: quantum must be within 1…1048576 (integer out of range)") }
        params = c
        params.flows = nil
        if let f = c.flows { flowCount = f }
        if queues.isEmpty {
            queues = Array(repeating: PacketQueue(), count: flowCount)
            vars = Array(repeating: PIE.Vars(), count: flowCount)
            firstUpdate = clock.now &+ Time.s / 2
            nextUpdate = Array(repeating: firstUpdate, count: flowCount)
            deficit = Array(repeating: 0, count: flowCount)
            listOf = Array(repeating: 0, count: flowCount)
            nextInList = Array(repeating: -1, count: flowCount)
        }
        while stats.qlen > params.pie.limit, let x = dequeue() { pool.free(x) }
    }

    override func attached() {
        if queues.isEmpty { try? configure(params) }
    }

    var limit: Int { params.pie.limit }

    /// The adapt timer's updates this flow missed.
    @inline(__always)
    func catchUp(_ f: Int, _ now: UInt64) {
        PIE.catchUp(params.pie, next: &nextUpdate[f], now: now) {
            PIE.calculateProbability(params.pie, &vars[f], backlog: queues[f].bytes)
        }
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        let now = clock.now
        switch classifyFlow(p, flows: flowCount, seed: seed) {
        case .consumed(let v): return v
        case .dropped(let pk): return drop(pk)
        case .queue(let pk, let f):
            catchUp(f, now)
            let l = len(pk)
            let ts = skbTruesize(l)
            if stats.qlen >= params.pie.limit {
                overlimit &+= 1
                dropped &+= 1; vars[f].accuProb = 0
                return drop(pk)
            }
            if memoryUsage > params.memoryLimit + ts { overmemory &+= 1 }
            var enqueue = false
            if !PIE.dropEarly(params.pie, &vars[f], backlog: queues[f].bytes, size: l, mtu: env.mtu, rng: &rng) {
                enqueue = true
            } else if params.pie.ecn && vars[f].prob <= PIE.maxProb / 100 * UInt64(params.ecnProb) && ECN.setCE(pool, pk.index) {
                ecnMarked &+= 1
                enqueue = true
            }
            guard enqueue else { dropped &+= 1; vars[f].accuProb = 0; return drop(pk) }
            pool.metas[Int(pk.index)].timestamp = now
            packetsIn &+= 1
            memoryUsage += ts
            queues[f].push(pk, pool)
            accountIn(l)
            if listOf[f] == 0 {
                append(f, toNew: true)
                newFlowCount &+= 1
                deficit[f] = params.quantum
            }
            return .success
        }
    }

    func append(_ f: Int, toNew: Bool) {
        nextInList[f] = -1
        if toNew {
            if newTail >= 0 { nextInList[Int(newTail)] = Int32(f) } else { newHead = Int32(f) }
            newTail = Int32(f); listOf[f] = 1; newCount += 1
        } else {
            if oldTail >= 0 { nextInList[Int(oldTail)] = Int32(f) } else { oldHead = Int32(f) }
            oldTail = Int32(f); listOf[f] = 2; oldCount += 1
        }
    }

    func popHead(new: Bool) -> Int {
        if new {
            let f = Int(newHead); newHead = nextInList[f]; if newHead < 0 { newTail = -1 }; newCount -= 1; listOf[f] = 0; return f
        }
        let f = Int(oldHead); oldHead = nextInList[f]; if oldHead < 0 { oldTail = -1 }; oldCount -= 1; listOf[f] = 0; return f
    }

    override func dequeue() -> Packet? {
        let now = clock.now
        while true {
            let fromNew = newHead >= 0
            guard fromNew || oldHead >= 0 else { return nil }
            let f = Int(fromNew ? newHead : oldHead)
            if deficit[f] <= 0 {
                deficit[f] += params.quantum
                _ = popHead(new: fromNew)
                append(f, toNew: false)
                continue
            }
            catchUp(f, now)
            guard let pkt = queues[f].pop(pool) else {
                _ = popHead(new: fromNew)
                // An emptied new flow passes through the old list (so it cannot starve the
                // old flows by coming back new at once); an emptied old flow goes inactive.
                if fromNew && oldHead >= 0 { append(f, toNew: false) }
                continue
            }
            let l = len(pkt)
            deficit[f] -= l
            memoryUsage -= skbTruesize(l)
            accountOut(l, segs: segs(pkt))
            PIE.processDequeue(params.pie, &vars[f], now: PIE.ticks(now), enqueued: PIE.ticks(pool.metas[Int(pkt.index)].timestamp),
                               length: l, backlog: queues[f].bytes)
            return pkt
        }
    }

    override func reset() {
        for i in 0..<queues.count { queues[i].purge(pool); vars[i].startCycle(); listOf[i] = 0 }
        newHead = -1; newTail = -1; oldHead = -1; oldTail = -1; newCount = 0; oldCount = 0
        stats.qlen = 0; stats.backlog = 0; memoryUsage = 0
    }
}
