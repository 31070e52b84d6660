/// Principles (sch_sfb.c; Feng, Kandlur, Saha, Shin: Stochastic Fair Blue, 2001)
/// ----------
/// Blue's marking probability kept per bin of a Bloom filter: 8 levels of 16 bins, a flow's
/// bin at each level taken from 4 bits of its (perturbed) hash. Each bin counts the packets
/// queued for the flows hashed to it; on every arrival a bin that is empty lowers its
/// probability by `decrement`, one holding `target` (bin_size) packets or more raises it by
/// `increment`. A packet takes the smallest queue length and the smallest probability among
/// its bins: past `max` packets it is dropped (bucketdrop); a probability of 1 marks an
/// inelastic flow, rate-limited to `penalty_rate` packets per second with a `penalty_burst`
/// (penaltydrop); otherwise it is ECN-marked (or dropped) with that probability, and dropped
/// outright when above one half. Two filters alternate every `rehash` with fresh hashes, the
/// next one learning for `db` before it takes over (double buffering). The queue itself is a
/// child qdisc (pfifo of `limit`, txqueuelen by default) in class major:1. Each packet's two
/// hashes are kept in a table indexed by its pool slot, as the kernel keeps them in skb->cb.
final class SFBQdisc: Qdisc {
    static let levels = 8, buckets = 16, maxProb: UInt32 = 0xFFFF
    var rehashInterval: UInt64 = 600 * Time.s
    var warmup: UInt64 = 60 * Time.s
    var limit = 0
    var maxQ: UInt32 = 25, binSize: UInt32 = 20
    var increment: UInt32 = (0xFFFF + 500) / 1000, decrement: UInt32 = (0xFFFF + 3000) / 6000
    var penaltyRate: UInt32 = 10, penaltyBurst: UInt32 = 20
    var qlen = [UInt16](repeating: 0, count: 2 * SFBQdisc.levels * SFBQdisc.buckets)
    var pmark = [UInt16](repeating: 0, count: 2 * SFBQdisc.levels * SFBQdisc.buckets)
    var perturbation: (UInt32, UInt32) = (0, 0)
    var slot = 0
    var doubleBuffering = false
    var rehashTime: UInt64 = 0
    var tokens: UInt32 = 0
    var tokenTime: UInt64 = 0
    var hashes: [UInt64]
    var rng = SplitMix(seed: 0x5FB)
    var child: Qdisc?
    var earlydrop: UInt64 = 0, penaltydrop: UInt64 = 0, bucketdrop: UInt64 = 0, queuedrop: UInt64 = 0, childdrop: UInt64 = 0, marked: UInt64 = 0

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        hashes = [UInt64](repeating: 0, count: env.pool.capacity)
        super.init(kind: "sfb", handle: handle, parent: parent, env: env)
    }

    override var hasSingleClass: Bool { true }
    override var isClassful: Bool { true }
    override func attached() { if child == nil { configure(Params()) } }
    var classid: TcHandle { TcHandle(handle.major, 1) }

    /// struct tc_sfb_qopt as the kernel takes it (times in ms).
    struct Params {
        var rehashMs: UInt32 = 600_000, warmupMs: UInt32 = 60_000, max: UInt32 = 25, binSize: UInt32 = 20
        var increment: UInt32 = (0xFFFF + 500) / 1000, decrement: UInt32 = (0xFFFF + 3000) / 6000
        var limit: UInt32 = 0, penaltyRate: UInt32 = 10, penaltyBurst: UInt32 = 20
    }

    /// sfb_change: a new pfifo child of `limit` (txqueuelen when 0), the filters cleared and
    /// re-seeded.
    func configure(_ p: Params) {
        if let c = child { stats.drops &+= UInt64(c.statsSnapshot().qlen); c.purge() }
        limit = p.limit == 0 ? max(env.txQueueLen, 1) : Int(p.limit)
        let c = FifoQdisc(kind: "pfifo", handle: .unspec, parent: classid, env: env)
        c.limit = limit
        child = c
        stats.qlen = 0; stats.backlog = 0
        rehashInterval = UInt64(p.rehashMs) * Time.ms; warmup = UInt64(p.warmupMs) * Time.ms
        maxQ = p.max; binSize = p.binSize; increment = p.increment; decrement = p.decrement
        penaltyRate = p.penaltyRate; penaltyBurst = p.penaltyBurst
        tokens = p.penaltyBurst
        rehashTime = clock.now; tokenTime = clock.now
        slot = 0; doubleBuffering = false
        for i in 0..<qlen.count { qlen[i] = 0; pmark[i] = 0 }
        perturbation = (UInt32(truncatingIfNeeded: rng.next()), UInt32(truncatingIfNeeded: rng.next()))
    }

    @inline(__always) func hash(_ idx: UInt32, _ s: Int) -> UInt32 {
        let h = FlowHash.hash(pool, idx, seed: s == 0 ? perturbation.0 : perturbation.1)
        return h == 0 ? 1 : h
    }

    /// Blue's update of `hash`'s bins in slot `s`; returns the smallest queue and probability.
    @inline(__always) func visit(_ hash: UInt32, _ s: Int) -> (UInt32, UInt32) {
        var h = hash, minQ = UInt32.max, minP = UInt32.max
        for l in 0..<Self.levels {
            let b = (s * Self.levels + l) * Self.buckets + Int(h & 15)
            h >>= 4
            if qlen[b] == 0 { pmark[b] = UInt16(pmark[b] > UInt16(clamping: decrement) ? UInt32(pmark[b]) - decrement : 0) } else if UInt32(qlen[b]) >= binSize {
                pmark[b] = UInt16(min(UInt32(pmark[b]) + increment, Self.maxProb))
            }
            minQ = min(minQ, UInt32(qlen[b])); minP = min(minP, UInt32(pmark[b]))
        }
        return (minQ, minP)
    }

    @inline(__always) func count(_ hash: UInt32, _ s: Int, up: Bool) {
        guard hash != 0 else { return }
        var h = hash
        for l in 0..<Self.levels {
            let b = (s * Self.levels + l) * Self.buckets + Int(h & 15)
            h >>= 4
            if up { if qlen[b] < 0xFFFF { qlen[b] += 1 } } else if qlen[b] > 0 { qlen[b] -= 1 }
        }
    }

    /// sfb_rate_limit: true when the inelastic flow's packet must go.
    func rateLimited(_ now: UInt64) -> Bool {
        if penaltyRate == 0 || penaltyBurst == 0 { return true }
        if tokens < 1 {
            let age = min(10 * Time.s, now &- tokenTime)
            tokens = UInt32(min(UInt64(penaltyBurst), age * UInt64(penaltyRate) / Time.s))
            tokenTime = now
            if tokens < 1 { return true }
        }
        tokens -= 1
        return false
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        guard let child else { return drop(p) }
        let now = clock.now
        if stats.qlen >= limit { stats.overlimits &+= 1; queuedrop &+= 1; return drop(p) }
        if rehashInterval > 0 {
            let deadline = rehashTime &+ rehashInterval
            if now > deadline {
                // sfb_swap_slot: the current filter gets new hashes (its bins as they are) and the
                // other takes over.
                let fresh = UInt32(truncatingIfNeeded: rng.next())
                if slot == 0 { perturbation.0 = fresh } else { perturbation.1 = fresh }
                slot ^= 1; doubleBuffering = false; rehashTime = now
            } else if !doubleBuffering && warmup > 0 && now > deadline &- warmup {
                doubleBuffering = true
            }
        }
        let h = hash(p.index, slot)
        var hs: (UInt32, UInt32) = slot == 0 ? (h, 0) : (0, h)
        let (minQ, pMin) = visit(h, slot)
        if minQ >= maxQ { stats.overlimits &+= 1; bucketdrop &+= 1; return drop(p) }
        if pMin >= Self.maxProb {
            // An inelastic flow: the other filter learns it too while double buffering.
            if doubleBuffering {
                let o = hash(p.index, slot ^ 1)
                if slot == 0 { hs.1 = o } else { hs.0 = o }
                _ = visit(o, slot ^ 1)
            }
            if rateLimited(now) { stats.overlimits &+= 1; penaltydrop &+= 1; return drop(p) }
        } else {
            let r = UInt32(rng.next() & 0xFFFF)
            if r < pMin {
                if pMin > Self.maxProb / 2 && r < (pMin - Self.maxProb / 2) * 2 { earlydrop &+= 1; return drop(p) }
                if ECN.setCE(pool, p.index) { marked &+= 1 } else { earlydrop &+= 1; return drop(p) }
            }
        }
        let idx = Int(p.index), l = len(p)
        let v = child.enqueue(p)
        if v == .success {
            accountIn(l)
            hashes[idx] = UInt64(hs.0) | UInt64(hs.1) << 32
            count(hs.0, 0, up: true); count(hs.1, 1, up: true)
        } else if v == .dropped || v == .congestion {
            childdrop &+= 1; stats.drops &+= 1
        }
        return v
    }

    override func dequeue() -> Packet? {
        guard let child, let p = child.dequeuePeeked() else { return nil }
        let l = len(p)
        stats.qlen -= 1; stats.backlog &-= UInt64(l)
        countSent(l, segs: segs(p))
        let hv = hashes[Int(p.index)]
        count(UInt32(truncatingIfNeeded: hv), 0, up: false); count(UInt32(hv >> 32), 1, up: false)
        return p
    }

    override func peekLength() -> Int? { child?.peekLength() }
    override var watchdog: UInt64 { child?.watchdog ?? 0 }
    override func reset() {
        child?.purge(); stats.qlen = 0; stats.backlog = 0
        for i in 0..<qlen.count { qlen[i] = 0; pmark[i] = 0 }
    }
    override func childQdiscs() -> [Qdisc] { child.map { [$0] } ?? [] }
    override func classes(details: Bool) -> [QdiscClassInfo] { [] }

    override func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        let old = try graftOnly(classid, q, into: &child)
        let s = child?.statsSnapshot() ?? QdiscStats()
        stats.qlen = s.qlen; stats.backlog = s.backlog
        return old
    }

    /// sfb_compute_qlen over the current filter: the longest bin and the largest and mean
    /// probabilities.
    var binStats: (maxQlen: UInt32, maxProb: UInt32, avgProb: UInt32) {
        var q: UInt32 = 0, pm: UInt32 = 0, total: UInt32 = 0
        for b in 0..<(Self.levels * Self.buckets) {
            let i = slot * Self.levels * Self.buckets + b
            q = max(q, UInt32(qlen[i])); pm = max(pm, UInt32(pmark[i])); total += UInt32(pmark[i])
        }
        return (q, pm, total / UInt32(Self.levels * Self.buckets))
    }
}
