#if canImport(Glibc)
import Glibc
#endif

/// Principles (sch_netem.c)
/// ----------
/// netem emulates a path: each packet gets a time to send = now + delay (latency ± jitter
/// drawn from a distribution, with correlation to the previous draw), and waits in a queue
/// ordered by that time (tfifo). On enqueue it may be lost (random with correlation, or a
/// Gilbert-Elliott two-state channel), duplicated, corrupted (one random bit flipped), or — when
/// reordering — sent at once, jumping the queue (every `gap`-th packet is a candidate). With a
/// `rate`, packets also queue behind each other at that rate, counting `packetoverhead`.
/// Randomness comes from a seeded generator: the same seed and input give the same output.
final class NetemQdisc: Qdisc {
    /// NETEM_DIST_SCALE: a table value of 8192 is one standard deviation (sigma).
    static let distScale: Int64 = 8192
    /// NETEM_DIST_MAX: the most values a distribution table may hold.
    static let distMax = 16_384
    var latency: UInt64 = 0
    /// At most INT_MAX ns, as netem_change caps it for tabledist's s32 sigma.
    var jitter: UInt64 = 0
    var delayCorr = 0.0
    /// The delay distribution table (TCA_NETEM_DELAY_DIST: signed 16-bit values, `distScale`
    /// to one sigma), as tc reads it from iproute2's NAME.dist files — normal, pareto,
    /// paretonormal, experimental or one a user made with maketable; nil: uniform jitter.
    var delayDist: [Int16]? = nil
    /// The slot distribution table (TCA_NETEM_SLOT_DIST), kept as the delay table is: until
    /// a new one is sent.
    var slotDist: [Int16]? = nil
    var lossP = 0.0, lossCorr = 0.0
    /// Gilbert-Elliott as the kernel keeps it (tc_netem_gemodel): p good→bad, r bad→good, h the
    /// bad state's chance to deliver (tc's "1-h" is its loss), k the good state's loss (tc's "1-k").
    var ge: (p: Double, r: Double, h: Double, k: Double)?
    var geBad = false
    /// The 4-state Markov loss model (NETEM_LOSS_GI: p13, p31, p32, p23, p14) and its state:
    /// 1 transmitted in a gap, 2 transmitted in a burst, 3 lost in a gap, 4 lost in a burst.
    var gi: (p13: Double, p31: Double, p32: Double, p23: Double, p14: Double)?
    var giState = 1
    /// Loss events mark ECN-capable packets Congestion Experienced instead of dropping them.
    var ecn = false
    /// Delivery slots (struct tc_netem_slot): packets leave only while a slot is open, at most
    /// `maxPackets` and `maxBytes` each (Int32.max: unlimited); the next slot opens after a
    /// delay drawn uniformly from min…max, or, with a slot table, from it around `distDelay` ±
    /// `distJitter` (get_slot_next).
    struct Slot {
        var minDelay: UInt64 = 0, maxDelay: UInt64 = 0
        var maxPackets = 0, maxBytes = 0
        var distDelay: UInt64 = 0, distJitter: UInt64 = 0
    }
    var slot: Slot?
    var slotNext: UInt64 = 0
    var slotPacketsLeft = 0, slotBytesLeft = 0
    var dupP = 0.0, dupCorr = 0.0
    var corruptP = 0.0, corruptCorr = 0.0
    var reorderP = 0.0, reorderCorr = 0.0
    var gap = 0
    var rate: UInt64 = 0
    var packetOverhead = 0
    /// tc_netem_rate's cell_size and cell_overhead: each packet (with its overhead) charged as
    /// whole cells of cellSize + cellOverhead bytes (ATM-like links).
    var cellSize = 0, cellOverhead = 0
    var limit = 1000
    var seed: UInt64 = 0x5EED
    var rng = SplitMix(seed: 0x5EED)
    var last = (delay: 0.0, loss: 0.0, dup: 0.0, corrupt: 0.0, reorder: 0.0)
    var counter = 0
    /// tfifo: a binary min-heap of (time to send, arrival number) → packet, O(log n) like the
    /// kernel's rbtree. Storage grows to `limit` at configuration, never per packet.
    var heapIdx: [UInt32] = []
    var heapKey: [(UInt64, UInt64)] = []
    var heapCount = 0
    var arrivals: UInt64 = 0
    var tailSend: UInt64 = 0       // time to send of the latest delayed packet (for rate)
    var nextWake: UInt64 = 0
    var duplicated: UInt64 = 0, corrupted: UInt64 = 0, reordered: UInt64 = 0, lost: UInt64 = 0, marked: UInt64 = 0

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "netem", handle: handle, parent: parent, env: env)
    }

    /// packet_time_ns's length: the packet with its overhead, in whole cells when a cell size
    /// is set.
    @inline(__always)
    func packetTimeLength(_ l: Int) -> Int {
        var len = max(l + packetOverhead, 1)
        if cellSize > 0 {
            let cells = (len + cellSize - 1) / cellSize
            len = max(cells * (cellSize + cellOverhead), 1)
        }
        return len
    }

    /// netem's configuration (struct tc_netem_qopt and its attributes): the typed value tc's
    /// words and rtnetlink both produce.
    struct NetemParams {
        var latency: UInt64 = 0, jitter: UInt64 = 0, delayCorr = 0.0, dist: [Int16]? = nil
        var lossP = 0.0, lossCorr = 0.0
        var ge: (p: Double, r: Double, h: Double, k: Double)? = nil
        var dupP = 0.0, dupCorr = 0.0, corruptP = 0.0, corruptCorr = 0.0, reorderP = 0.0, reorderCorr = 0.0
        var gap = 0, rate: UInt64 = 0, packetOverhead = 0, limit = 1000, seed: UInt64 = 0x5EED
        var gi: (p13: Double, p31: Double, p32: Double, p23: Double, p14: Double)? = nil
        var ecn = false
        var slot: Slot? = nil
        var cellSize = 0, cellOverhead = 0
        var slotDist: [Int16]? = nil
        /// A seed was given (TCA_NETEM_PRNG_SEED, `seed N`): the generator restarts from it
        /// even when it is the same.
        var reseed = false
    }
    var params: NetemParams {
        var p = NetemParams(latency: latency, jitter: jitter, delayCorr: delayCorr, dist: delayDist, lossP: lossP, lossCorr: lossCorr, ge: ge,
                    dupP: dupP, dupCorr: dupCorr, corruptP: corruptP, corruptCorr: corruptCorr, reorderP: reorderP,
                    reorderCorr: reorderCorr, gap: gap, rate: rate, packetOverhead: packetOverhead, limit: limit, seed: seed)
        p.gi = gi; p.ecn = ecn; p.slot = slot
        p.cellSize = cellSize; p.cellOverhead = cellOverhead
        p.slotDist = slotDist
        return p
    }

    /// netem_change: checked, then applied whole; the queue stays.
    func configure(_ p: NetemParams) throws(SluiceError) {
        let lat = p.latency, jit = p.jitter, dcor = p.delayCorr, dist = p.dist, lossP = p.lossP, lossC = p.lossCorr, ge = p.ge
        let dup = p.dupP, dupC = p.dupCorr, cor = p.corruptP, corC = p.corruptCorr, reo = p.reorderP, reoC = p.reorderCorr
        var gap = p.gap
        let rate = p.rate, ovh = p.packetOverhead, limit = p.limit, seed = p.seed
        if reo > 0 && lat == 0 { throw SluiceError("Error: netem reorder needs a delay (packets are reordered by not delaying some).") }
        if reo > 0 && gap == 0 { gap = 1 }
        for case let t? in [dist, p.slotDist] where t.isEmpty || t.count > Self.distMax {
            throw SluiceError("Error: netem: invalid distribution table size: \(t.count) (Invalid argument)")
        }
        // netem_change caps the jitter (and get_slot the slot's) to tabledist's s32 sigma.
        latency = lat; jitter = min(jit, UInt64(Int32.max)); delayCorr = dcor; delayDist = dist; slotDist = p.slotDist; self.lossP = lossP; lossCorr = lossC; self.ge = ge
        // get_loss_clg: a loss model given starts in its first state.
        gi = p.gi; ecn = p.ecn
        if gi != nil { giState = 1 }
        // get_slot: unlimited where 0; the first slot is open at once.
        if var s = p.slot {
            s.distJitter = min(s.distJitter, UInt64(Int32.max))
            if s.maxPackets <= 0 { s.maxPackets = Int(Int32.max) }
            if s.maxBytes <= 0 { s.maxBytes = Int(Int32.max) }
            slot = s
            slotPacketsLeft = s.maxPackets; slotBytesLeft = s.maxBytes
            slotNext = s.minDelay | s.maxDelay | s.distJitter != 0 ? clock.now : 0
        } else {
            slot = nil; slotNext = 0
        }
        if ge != nil { geBad = false }
        dupP = dup; dupCorr = dupC; corruptP = cor; corruptCorr = corC; reorderP = reo; reorderCorr = reoC
        self.gap = gap; self.rate = rate; packetOverhead = ovh; self.limit = limit
        cellSize = max(p.cellSize, 0); cellOverhead = p.cellOverhead
        if p.reseed || seed != self.seed || rng.state == 0x5EED { self.seed = seed; rng = SplitMix(seed: seed) }
        let cap = min(limit, 1 << 22) + 1
        if heapIdx.count < cap {
            heapIdx.reserveCapacity(cap); heapKey.reserveCapacity(cap)
            while heapIdx.count < cap { heapIdx.append(0); heapKey.append((0, 0)) }
        }
    }

    /// get_crandom: a uniform draw in [0,1) correlated with the previous one.
    @inline(__always) func crandom(_ last: inout Double, _ rho: Double) -> Double {
        let u = rng.nextDouble()
        if rho == 0 { return u }
        last = (1 - rho) * u + rho * last
        return last
    }

    /// A uniform draw in [0,1) as the u32 the kernel's prandom gives.
    @inline(__always) static func u32(_ u: Double) -> UInt32 { UInt32(min(u * 4_294_967_296, 4_294_967_295)) }

    /// tabledist(latency, jitter, delay_cor, delay_dist): the delay, which may be negative
    /// (the packet is then due before now).
    @inline(__always) func delay() -> Int64 {
        guard jitter > 0 else { return Int64(latency) }
        return Self.tabledist(mu: Int64(latency), sigma: Int64(jitter), rnd: Self.u32(crandom(&last.delay, delayCorr)), delayDist)
    }

    /// tabledist: `mu` ± `sigma` shaped by the table — the value the draw `rnd` indexes, in
    /// units of `distScale` per sigma, scaled in two parts so that nothing overflows and rounded
    /// half away from zero — or, without a table, uniform on [mu − sigma, mu + sigma).
    @inline(__always)
    static func tabledist(mu: Int64, sigma: Int64, rnd: UInt32, _ table: [Int16]?) -> Int64 {
        if sigma == 0 { return mu }
        guard let table, !table.isEmpty else { return Int64(rnd % (2 &* UInt32(truncatingIfNeeded: sigma))) + mu - sigma }
        let t = Int64(table[Int(rnd % UInt32(table.count))])
        var x = (sigma % distScale) * t
        x += x >= 0 ? distScale / 2 : -distScale / 2
        return x / distScale + (sigma / distScale) * t + mu
    }

    /// iproute2's get_distribution: NAME.dist from TC_LIB_DIR, else tc's library directory —
    /// lines starting with '#' skipped, every number strtol reads taken (as a __s16), at most
    /// `distMax` of them.
    static func loadDistribution(_ name: String) throws(SluiceError) -> [Int16] {
        let dirs = getenv("TC_LIB_DIR").map { [String(cString: $0)] }
            ?? ["/usr/lib/x86_64-linux-gnu/tc", "/usr/lib/aarch64-linux-gnu/tc", "/usr/lib/tc", "/usr/lib64/tc"]
        var path = "\(dirs[0])/\(name).dist"
        var f: UnsafeMutablePointer<FILE>? = nil
        var err: Int32 = ENOENT
        for d in dirs {
            path = "\(d)/\(name).dist"
            f = fopen(path, "r")
            if f != nil { break }
            err = errno
            if err != ENOENT { break }
        }
        guard let f else {
            path = "\(dirs[0])/\(name).dist"
            throw SluiceError("Error: No distribution data for \(name) (\(path): \(String(cString: strerror(err))))")
        }
        defer { fclose(f) }
        var values: [Int16] = []
        var line: UnsafeMutablePointer<CChar>? = nil
        var cap = 0
        defer { free(line) }
        while getline(&line, &cap, f) != -1, let l = line {
            if l[0] == 10 || l[0] == 35 { continue }       // '\n', '#'
            var p = UnsafeMutablePointer(mutating: l)
            while true {
                var end: UnsafeMutablePointer<CChar>? = nil
                let x = strtol(p, &end, 0)
                guard let e = end, e != p else { break }
                guard values.count < distMax else { throw SluiceError("Error: \(path): too much data") }
                values.append(Int16(truncatingIfNeeded: x))
                p = e
            }
        }
        guard !values.isEmpty else { throw SluiceError("Error: \(path): no distribution data") }
        return values
    }

    func lose() -> Bool {
        if let g = gi {
            // loss_4state: one draw against the transitions out of the current state.
            let rnd = rng.nextDouble()
            switch giState {
            case 1:
                if rnd < g.p14 { giState = 3; return true }
                if rnd < g.p13 + g.p14 { giState = 4; return true }
            case 2:
                if rnd < g.p23 { giState = 4; return true }
            case 4:
                if rnd < g.p32 { giState = 2 }
                else if rnd < g.p31 + g.p32 { giState = 1 }
                else { return true }
            default:
                giState = 1
            }
            return false
        }
        if let g = ge {
            // loss_gilb_ell: the state's transition is drawn, then the loss with the probability
            // of the state the packet arrived in.
            if geBad {
                if rng.nextDouble() < g.r { geBad = false }
                return rng.nextDouble() >= g.h
            }
            if rng.nextDouble() < g.p { geBad = true }
            return rng.nextDouble() < g.k
        }
        return lossP > 0 && crandom(&last.loss, lossCorr) < lossP
    }

    /// Set while a duplicate goes through enqueue (netem_enqueue zeroes q->duplicate around
    /// it: a duplicate is not duplicated again).
    var duplicating = false

    /// netem_enqueue, in its order: duplication is drawn first, then loss, which takes one
    /// copy away — a duplicated packet that is lost still goes once; with `ecn` a loss marks an
    /// ECN-capable packet CE instead (counted as a drop, delivered). The duplicate is cloned
    /// before any corruption and enqueued again from the top, facing loss and corruption of its
    /// own. Corruption segments a GSO frame first (netem_segment: the first segment is
    /// corrupted, the others are enqueued each as a packet of their own), completes a partial
    /// checksum (skb_checksum_help), so the receiver sees the damage, and flips one bit of
    /// one byte anywhere in the frame (skb_headlen: the whole frame, headers included).
    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        var count = 1
        if !duplicating && dupP > 0 && crandom(&last.dup, dupCorr) < dupP { count += 1 }
        if lose() {
            if ecn && ECN.setCE(pool, p.index) { stats.drops &+= 1; marked &+= 1 } else { count -= 1 }
        }
        if count == 0 { lost &+= 1; return drop(p) }
        if count > 1, let c = pool.clone(p) {
            duplicated &+= 1
            duplicating = true
            _ = enqueue(c)
            duplicating = false
        }
        guard corruptP > 0 && crandom(&last.corrupt, corruptCorr) < corruptP else { return enqueueOne(p) }
        var rest = PacketQueue()
        var w = p
        if !pool.metas[Int(w.index)].gsoType.isEmpty {
            var first = PacketQueue.empty
            let r = GSO.segment(w, pool: pool) { s in
                pool.metas[Int(s.index)].pktLen = pool.metas[Int(s.index)].length
                if first == PacketQueue.empty { first = s.index; _ = consume s } else { rest.push(s, pool) }
            }
            guard r > 0, first != PacketQueue.empty else { stats.drops &+= 1; return .dropped }
            w = Packet(index: first)
        }
        let verdict: EnqueueVerdict
        if corruptOne(&w) {
            corrupted &+= 1
            verdict = enqueueOne(w)
        } else {
            verdict = drop(w)
        }
        var any = verdict == .success
        while let s = rest.pop(pool) { if enqueue(s) == .success { any = true } }
        return any ? .success : verdict
    }

    /// Flips one random bit of `w` after making it writable and completing a partial checksum;
    /// false when either fails (netem drops the packet then).
    func corruptOne(_ w: inout Packet) -> Bool {
        guard pool.makeWritable(&w) else { return false }
        let m = pool.meta(w)
        let len = Int(m.pointee.length)
        guard len > 0 else { return false }
        if m.pointee.csum == .partial {
            guard Checksum.complete(frame: pool.data(w), length: len, start: Int(m.pointee.csumStart), offset: Int(m.pointee.csumOffset)) else { return false }
            m.pointee.csum = .none      // skb_checksum_help leaves CHECKSUM_NONE: the receiver verifies
        }
        let byte = pool.data(w) + Int(rng.next() % UInt64(len))
        byte.storeBytes(of: byte.load(as: UInt8.self) ^ (1 << UInt8(rng.next() % 8)), as: UInt8.self)
        return true
    }

    func enqueueOne(_ p: consuming Packet) -> EnqueueVerdict {
        guard stats.qlen < limit, heapCount < heapIdx.count else { return drop(p) }
        let l = len(p)
        var now = clock.now
        let send: UInt64
        if gap == 0 || counter < gap - 1 || reorderP == 0 || crandom(&last.reorder, reorderCorr) >= reorderP {
            var d = delay()
            if rate > 0 && heapCount > 0 && tailSend > now {
                d -= Int64(tailSend - now); d = max(d, 0); now = tailSend
            }
            if rate > 0 { d += Int64(l2t(packetTimeLength(l), rate)) }
            // A negative delay makes the packet due before now, ahead of those due meanwhile
            // (time 0 is kept for the reordered).
            send = max(1, d >= 0 ? now &+ UInt64(d) : now &- min(now, UInt64(-d)))
            // The rate's reference is the latest time to send of what is queued (netem_enqueue's
            // `last`): packets leave in time order, so the latest since the queue was empty.
            tailSend = heapCount > 0 ? max(tailSend, send) : send
            counter += 1
        } else {
            // Reorder: this one goes to the head of netem's own queue (__qdisc_enqueue_head,
            // counted as a requeue), out at once and outside any slot — the latest reordered
            // first.
            send = 0
            counter = 0
            reordered &+= 1
            stats.requeues &+= 1
        }
        arrivals &+= 1
        heapPush(p.index, (send, send == 0 ? ~arrivals : arrivals))
        _ = consume p
        accountIn(l)
        return .success
    }

    @inline(__always) func less(_ a: (UInt64, UInt64), _ b: (UInt64, UInt64)) -> Bool { a.0 < b.0 || (a.0 == b.0 && a.1 < b.1) }

    func heapPush(_ idx: UInt32, _ key: (UInt64, UInt64)) {
        var i = heapCount
        heapCount += 1
        while i > 0 {
            let parent = (i - 1) / 2
            if !less(key, heapKey[parent]) { break }
            heapIdx[i] = heapIdx[parent]; heapKey[i] = heapKey[parent]
            i = parent
        }
        heapIdx[i] = idx; heapKey[i] = key
    }

    func heapPop() -> UInt32 {
        let top = heapIdx[0]
        heapCount -= 1
        let idx = heapIdx[heapCount], key = heapKey[heapCount]
        var i = 0
        while true {
            let l = 2 * i + 1
            if l >= heapCount { break }
            var c = l
            if l + 1 < heapCount && less(heapKey[l + 1], heapKey[l]) { c = l + 1 }
            if !less(heapKey[c], key) { break }
            heapIdx[i] = heapIdx[c]; heapKey[i] = heapKey[c]
            i = c
        }
        if heapCount > 0 { heapIdx[i] = idx; heapKey[i] = key }
        return top
    }

    /// get_slot_next: the next slot opens after a drawn delay, with fresh allowances.
    func nextSlot(_ now: UInt64) {
        guard let s = slot else { return }
        let d: Int64
        if let t = slotDist {
            d = Self.tabledist(mu: Int64(s.distDelay), sigma: Int64(s.distJitter), rnd: Self.u32(rng.nextDouble()), t)
        } else {
            d = Int64(s.minDelay &+ UInt64(Double(s.maxDelay &- s.minDelay) * rng.nextDouble()))
        }
        // slot_next = now + next_delay; 0 stays "no slots".
        slotNext = max(1, d >= 0 ? now &+ UInt64(d) : now &- min(now, UInt64(-d)))
        slotPacketsLeft = s.maxPackets
        slotBytesLeft = s.maxBytes
    }

    /// Whether the tfifo's head (due at `t`) may leave now, as netem_dequeue decides with slots.
    @inline(__always)
    func headMayLeave(_ t: UInt64, _ now: UInt64) -> Bool {
        if slotNext != 0 && slotNext < t { nextSlot(now) }
        return t <= now && slotNext <= now
    }

    /// A packet of `l` bytes left in the current slot.
    @inline(__always)
    func tookSlot(_ l: Int, _ now: UInt64) {
        guard slotNext != 0 else { return }
        slotPacketsLeft -= 1
        slotBytesLeft -= l
        if slotPacketsLeft <= 0 || slotBytesLeft <= 0 { nextSlot(now) }
    }

    override func dequeue() -> Packet? {
        let now = clock.now
        guard let child else {
            guard heapCount > 0 else { nextWake = 0; return nil }
            let t = heapKey[0].0
            guard t == 0 || headMayLeave(t, now) else { nextWake = max(t, slotNext); return nil }
            let p = Packet(index: heapPop())
            if t != 0 { tookSlot(len(p), now) }
            accountOut(len(p), segs: segs(p))
            return p
        }
        // With a child (netem_dequeue): a reordered packet leaves first, past the child; then
        // packets whose time has come move from the tfifo into the child, in order; what the
        // child lets out leaves.
        if heapCount > 0 && heapKey[0].0 == 0 {
            let p = Packet(index: heapPop())
            accountOut(len(p), segs: segs(p))
            return p
        }
        while heapCount > 0 && heapKey[0].0 != 0 && headMayLeave(heapKey[0].0, now) {
            let p = Packet(index: heapPop())
            let l = len(p)
            tookSlot(l, now)
            stats.qlen -= 1; stats.backlog &-= UInt64(l)
            let v = child.enqueue(p)
            if v == .dropped || v == .congestion { stats.drops &+= 1 }
        }
        nextWake = heapCount > 0 ? max(heapKey[0].0, slotNext) : 0
        guard let p = child.dequeue() else { return nil }
        countSent(len(p), segs: segs(p))
        return p
    }

    override var watchdog: UInt64 {
        let own = heapCount == 0 ? 0 : nextWake
        guard let child else { return own }
        let w = child.watchdog
        return own == 0 ? w : (w == 0 ? own : min(w, own))
    }
    override func reset() {
        while heapCount > 0 { pool.free(Packet(index: heapPop())) }
        stats.qlen = 0; stats.backlog = 0; nextWake = 0; tailSend = 0
        child?.purge()
    }

    /// The child of class major:1 (q->qdisc): nil unless one was added (`parent 1:1`).
    var child: Qdisc?
    override var isClassful: Bool { true }
    /// The tfifo's own packets (the child reports its own).
    override var extraQueued: (Int, UInt64) { (stats.qlen, stats.backlog) }
    override func childQdiscs() -> [Qdisc] { child.map { [$0] } ?? [] }
    override func classes(details: Bool) -> [QdiscClassInfo] {
        guard let child else { return [] }
        return [QdiscClassInfo(classid: TcHandle(handle.major, 1), parent: handle, leaf: child, options: "", stats: nil, xstats: nil)]
    }
    override var hasSingleClass: Bool { true }
    override func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        guard classid.major == handle.major else { throw SluiceError("Error: Failed to find specified qdisc.") }
        let old = child
        q?.parent = classid
        child = q
        return old
    }

}

/// SplitMix64: small, fast, seedable; good enough for emulation and hashing perturbation.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    @inline(__always) mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    @inline(__always) mutating func nextDouble() -> Double { Double(next() >> 11) * (1.0 / 9007199254740992.0) }
}
