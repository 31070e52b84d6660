/// Principles (RFC 8290, sch_fq_codel.c)
/// ----------
/// Packets are hashed by their 5-tuple into `flows` queues, each under its own CoDel. A
/// deficit round robin serves the queues: a flow that just became active joins the new-flows
/// list and is served before the old flows (so sparse flows — DNS, ACKs, the first packets of a
/// connection — see almost no queue); a flow that used its `quantum` of bytes moves to the tail
/// of the old-flows list. When the qdisc is over `limit` packets or `memory_limit` bytes, it
/// drops from the head of the fattest flow, up to `drop_batch` packets at once (finding the
/// fattest flow is a scan, so it is done rarely and in a batch).
final class FQCoDelQdisc: Qdisc {
    var flowCount = 1024
    var quantum: Int
    var limit = 10240
    var memoryLimit = 32 << 20
    var dropBatch = 64
    var params = CoDelParams()
    var perturbation: UInt32

    var queues: [PacketQueue] = []
    var cvars: [CoDelVars] = []
    var deficit: [Int] = []
    var listOf: [UInt8] = []          // 0 none, 1 new, 2 old
    var nextInList: [Int32] = []
    var newHead: Int32 = -1, newTail: Int32 = -1, oldHead: Int32 = -1, oldTail: Int32 = -1
    var newCount = 0, oldCount = 0
    var cstats = CoDelStats()
    var newFlowCount: UInt64 = 0
    var dropOverlimit: UInt64 = 0
    var dropOvermemory: UInt64 = 0
    var memoryUsage = 0

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        quantum = env.mtu
        perturbation = UInt32(truncatingIfNeeded: stableHash("fq_codel\(handle.raw)"))
        super.init(kind: "fq_codel", handle: handle, parent: parent, env: env)
        params.ecn = true
        params.mtu = env.mtu
    }


    /// fq_codel's configuration (its TCA_FQ_CODEL_* attributes), produced by tc's words and by
    /// rtnetlink alike.
    struct FQCoDelParams { var codel: CoDelParams; var limit: Int; var flows: Int; var quantum: Int; var memoryLimit: Int; var dropBatch: Int }
    var currentParams: FQCoDelParams {
        FQCoDelParams(codel: params, limit: limit, flows: flowCount, quantum: quantum, memoryLimit: memoryLimit, dropBatch: dropBatch)
    }

    /// fq_codel_change: applied whole; the number of flows is fixed once set.
    func configure(_ c: FQCoDelParams) throws(SluiceError) {
        if c.flows != flowCount && !queues.isEmpty { throw SluiceError("Error: fq_codel: Number of flows cannot be changed") }
        guard c.flows >= 1 && c.flows <= 65536 else { throw SluiceError("Error: fq_codel: flows must be in 1…65536") }
        guard c.codel.interval > 0, c.limit > 0 else { throw SluiceError("Error: fq_codel: limit and interval must be positive") }
        let flows = c.flows, limit = c.limit
        params = c.codel
        params.mtu = env.mtu
        self.limit = limit
        flowCount = flows
        self.quantum = max(c.quantum, 256)        // the kernel's floor
        memoryLimit = min(c.memoryLimit, 1 << 31)
        dropBatch = max(c.dropBatch, 1)
        if queues.isEmpty {
            queues = Array(repeating: PacketQueue(), count: flows)
            cvars = Array(repeating: CoDelVars(), count: flows)
            deficit = Array(repeating: 0, count: flows)
            listOf = Array(repeating: 0, count: flows)
            nextInList = Array(repeating: -1, count: flows)
        }
        while stats.qlen > limit { _ = dropFattest() }
    }

    override func attached() {
        if queues.isEmpty { try? configure(currentParams) }
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        let idx: Int
        switch classifyFlow(p, flows: flowCount, seed: perturbation) {
        case .consumed(let v): return v
        case .dropped(let pk): return drop(pk)
        case .queue(let pk, let f):
            idx = f
            let l = len(pk)
            pool.metas[Int(pk.index)].timestamp = clock.now
            queues[idx].push(pk, pool)
            accountIn(l)
            memoryUsage += skbTruesize(l)
        }
        if listOf[idx] == 0 {
            append(idx, toNew: true)
            deficit[idx] = quantum
            newFlowCount &+= 1
        }
        let overMemory = memoryUsage > memoryLimit
        if stats.qlen <= limit && !overMemory { return .success }
        // Over a limit: drop a batch from the fattest flow.
        let before = stats.qlen
        let victim = dropFattest()
        if overMemory { dropOvermemory &+= UInt64(before - stats.qlen) }
        return victim == idx ? .congestion : .success
    }

    /// fq_codel_drop: up to half of the fattest flow's backlog, at most drop_batch packets.
    func dropFattest() -> Int {
        var fat = 0
        var most: UInt64 = 0
        for i in 0..<flowCount where queues[i].bytes > most { most = queues[i].bytes; fat = i }
        let threshold = most / 2
        var dropped: UInt64 = 0
        var n = 0
        repeat {
            guard let x = queues[fat].pop(pool) else { break }
            let l = len(x)
            dropped &+= UInt64(l)
            memoryUsage -= skbTruesize(l)
            accountDropped(l)
            pool.free(x)
            n += 1
        } while n < dropBatch && dropped < threshold
        dropOverlimit &+= UInt64(n)
        // "Tell codel to increase its signal strength also".
        cvars[fat].count &+= UInt32(n)
        return fat
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
                deficit[f] += quantum
                _ = popHead(new: fromNew)
                append(f, toNew: false)
                continue
            }
            let others = stats.backlog &- queues[f].bytes
            let pkt = CoDel.dequeue(&queues[f], pool, &cvars[f], params, &cstats, now: now, otherBacklog: others) { d in
                let l = len(d)
                memoryUsage -= skbTruesize(l)
                accountDropped(l)
                pool.free(d)
            }
            guard let pkt else {
                _ = popHead(new: fromNew)
                // An emptied new flow goes to the old list (so it cannot jump the queue again
                // at once); an emptied old flow becomes inactive.
                if fromNew && oldHead >= 0 { append(f, toNew: false) }
                continue
            }
            let l = len(pkt)
            deficit[f] -= l
            memoryUsage -= skbTruesize(l)
            accountOut(l, segs: segs(pkt))
            return pkt
        }
    }

    override func reset() {
        for i in 0..<queues.count { queues[i].purge(pool); cvars[i] = CoDelVars(); listOf[i] = 0 }
        newHead = -1; newTail = -1; oldHead = -1; oldTail = -1; newCount = 0; oldCount = 0
        stats.qlen = 0; stats.backlog = 0; memoryUsage = 0
    }



    /// CoDel drops (not counting overlimit drops), for tests.
    var codelDrops: UInt64 { cstats.dropCount }
}

/// The flow (0-based) of a packet for the flow-queueing qdiscs (fq_codel_classify,
/// fq_pie_classify), or why it is not queued.
enum FlowChoice: ~Copyable { case queue(Packet, Int), dropped(Packet), consumed(EnqueueVerdict) }

extension Qdisc {
    /// A priority naming this qdisc and a flow (1…flows) selects it directly; with no filter,
    /// the 5-tuple hash; with filters, the class id minor of the match — no match, minor 0 or
    /// one beyond `flows` is dropped, as are drop and stolen verdicts (only those not stolen
    /// count as drops).
    @inline(__always)
    func classifyFlow(_ p: consuming Packet, flows: Int, seed: UInt32) -> FlowChoice {
        let prio = pool.metas[Int(p.index)].priority
        if prio & 0xFFFF_0000 == handle.raw, prio & 0xFFFF > 0, Int(prio & 0xFFFF) <= flows {
            return .queue(p, Int(prio & 0xFFFF) - 1)
        }
        if filters.isEmpty {
            let f = Int(FlowHash.hash(pool, p.index, seed: seed) % UInt32(flows))
            return .queue(p, f)
        }
        switch classifyForEnqueue(p) {
        case .done(let v): return .consumed(v)
        case .go(let pk, let r):
            if case .classid(let c)? = r, c.minor > 0, Int(c.minor) <= flows { return .queue(pk, Int(c.minor) - 1) }
            return .dropped(pk)
        }
    }

    /// The memory a queued packet is charged (skb->truesize: the buffer rounded to 1 KiB plus
    /// the sk_buff), for memory_limit.
    @inline(__always) func skbTruesize(_ l: Int) -> Int { (l + 1023) & ~1023 + 512 }
}

/// The 5-tuple hash used by flow-queueing qdiscs (skb_get_hash with a perturbation).
enum FlowHash {
    static func hash(_ pool: PacketPool, _ idx: UInt32, seed: UInt32) -> UInt32 {
        let m = pool.metas[Int(idx)]
        let d = pool.base + Int(pool.dataOf[Int(idx)]) * PacketPool.bufferSize + Int(m.dataOffset)
        let len = Int(m.length)
        var h: UInt64 = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15
        func mix(_ v: UInt64) { h = (h ^ v) &* 0xff51_afd7_ed55_8ccd; h ^= h >> 32 }
        guard len >= 14 else { return UInt32(truncatingIfNeeded: h) }
        var l3 = 14
        var type = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        if type == EtherType.vlan, len >= 18 { type = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: 16, as: UInt16.self)); l3 = 18 }
        var proto: UInt8 = 0
        var l4 = -1
        if type == EtherType.ipv4, len >= l3 + 20 {
            mix(UInt64(d.loadUnaligned(fromByteOffset: l3 + 12, as: UInt64.self)))
            proto = d.load(fromByteOffset: l3 + 9, as: UInt8.self)
            let frag = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: l3 + 6, as: UInt16.self)) & 0x1FFF
            if frag == 0 { l4 = l3 + Int(d.load(fromByteOffset: l3, as: UInt8.self) & 0x0F) * 4 }
        } else if type == EtherType.ipv6, len >= l3 + 40 {
            for o in stride(from: 8, to: 40, by: 8) { mix(d.loadUnaligned(fromByteOffset: l3 + o, as: UInt64.self)) }
            proto = d.load(fromByteOffset: l3 + 6, as: UInt8.self)
            l4 = l3 + 40
        } else {
            mix(UInt64(type)); mix(MACAddress(at: d).raw); mix(MACAddress(at: d + 6).raw)
        }
        mix(UInt64(proto))
        if l4 >= 0, (proto == IPProto.tcp || proto == IPProto.udp), len >= l4 + 4 {
            mix(UInt64(d.loadUnaligned(fromByteOffset: l4, as: UInt32.self)))
        }
        return UInt32(truncatingIfNeeded: h ^ (h >> 29))
    }
}
