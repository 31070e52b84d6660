/// Principles (sch_cake.c: Common Applications Kept Enhanced)
/// ----------
/// cake is a shaper, a priority queue and a flow queue in one:
/// - A deficit-mode shaper: each packet advances a "next packet may leave at" time by its
///   length (after framing compensation: `overhead`, `mpu`, ATM cells or PTM coding) times the
///   time per byte, globally and per tin; a failsafe runs 1.5 times slower, so a stuck tin
///   cannot stall the rest.
/// - Tins: the DSCP picks one (diffserv3/4/8, precedence, besteffort), unless a firewall mark
///   under `fwmark` or a priority of this qdisc's major names one. Shaped, the highest
///   priority tin under its own threshold rate goes first, else the one soonest due;
///   unshaped, tins share by weighted deficit round robin.
/// - Flows: in each tin, 1024 queues found through an 8-way set-associative hash of the
///   5-tuple, the source host, the destination host, or their mixes (`flowblind` …
///   `triple-isolate`); the dual and triple modes share a host's quantum among its bulk flows.
///   Flows are served DRR++: new (sparse) flows first, then old (bulk) ones, and emptied flows
///   decay on their own list while their AQM state calms down.
/// - COBALT per flow: CoDel's control law (with the inverse square roots cached for small
///   counts, as the kernel does) plus BLUE, whose drop probability grows when the queue
///   overflows and decays when the flow runs empty, for unresponsive flows.
/// - Memory: over `memlimit` (by default four intervals at the shaped rate, at least 4 MiB,
///   at most `limit` × MTU) the longest queue anywhere loses its head, found through a max-heap
///   of all 8192 queues rebuilt lazily.
/// Everything lives in preallocated arrays indexed by tin × 1024 + queue (the heap's entries
/// are those indices), so the packet path allocates nothing. `nat` is kept and dumped, but
/// Sluice has no connection tracking, so no packet has a translated tuple to hash by: cake
/// then hashes the addresses on the wire, as the kernel's does for untracked packets. The
/// ACK filter drops a queued pure ACK made redundant by a newer one of the same connection
/// (TCPAckView reads the headers). Not kept: per-flow classes in `tc class show`.
final class CakeQdisc: Qdisc {
    static let queues = 1024, ways = 8, maxTins = 8
    static let flowFlows: UInt32 = 4, flowSrc: UInt32 = 1, flowDst: UInt32 = 2, flowNAT: UInt32 = 64
    static let flagOverhead: UInt16 = 1, flagAutorate: UInt16 = 2, flagIngress: UInt16 = 4, flagWash: UInt16 = 8, flagSplitGSO: UInt16 = 16
    static let setNone: UInt8 = 0, setSparse: UInt8 = 1, setSparseWait: UInt8 = 2, setBulk: UInt8 = 3, setDecaying: UInt8 = 4
    static let listNew = 0, listOld = 1, listDecaying = 2

    struct CobaltVars {
        var count: UInt32 = 0
        var recInvSqrt: UInt32 = 0
        var dropNext: Int64 = 0
        var blueTimer: Int64 = 0
        var pDrop: UInt32 = 0
        var dropping = false
        var ecnMarked = false
    }

    struct CobaltParams {
        var interval: UInt64 = 0, target: UInt64 = 0, mtuTime: UInt64 = 0
        var pInc: UInt32 = 0, pDec: UInt32 = 0
    }

    struct Flow {
        var queue = PacketQueue()
        var deficit: Int32 = 0
        var dropped: UInt32 = 0
        var cvars = CobaltVars()
        var srchost: UInt16 = 0, dsthost: UInt16 = 0
        var set: UInt8 = 0
        /// The flow chain it is on (-1 none) and its neighbours there (queue numbers).
        var list: Int8 = -1
        var prev: Int16 = -1, next: Int16 = -1
    }

    struct Host {
        var srcTag: UInt32 = 0, dstTag: UInt32 = 0
        var srcBulk: UInt16 = 0, dstBulk: UInt16 = 0
    }

    struct Tin {
        var flowQuantum: UInt16 = 1514
        var cparams = CobaltParams()
        var dropOverlimit: UInt32 = 0
        var bulkFlows = 0, sparseFlows = 0, decayingFlows = 0, unresponsiveFlows = 0
        var maxSkblen: UInt32 = 0
        /// Heads and tails of the new, old and decaying flow chains.
        var heads: (Int16, Int16, Int16) = (-1, -1, -1)
        var tails: (Int16, Int16, Int16) = (-1, -1, -1)
        var timeNextPacket: Int64 = 0
        var rateNs: UInt64 = 0, rateBps: UInt64 = 0, rateShift: UInt16 = 0
        var quantum: UInt16 = 0
        var deficit: Int32 = 0
        var backlog: UInt32 = 0
        var dropped: UInt32 = 0, ecnMarked: UInt32 = 0, packets: UInt32 = 0
        var bytes: UInt64 = 0
        var ackDrops: UInt32 = 0
        var avgDelay: UInt64 = 0, peakDelay: UInt64 = 0, baseDelay: UInt64 = 0
        var wayDirects: UInt32 = 0, wayHits: UInt32 = 0, wayMisses: UInt32 = 0, wayCollisions: UInt32 = 0
    }

    /// cake_change's attributes (TCA_CAKE_*), each optional: what a request names changes.
    struct Params {
        var rate: UInt64?, diffserv: UInt32?, atm: UInt32?, flowMode: UInt32?, overhead: Int32?, raw = false
        var rtt: UInt32?, target: UInt32?, autorate: Bool?, memory: UInt32?, nat: Bool?, wash: Bool?, mpu: UInt32?
        var ingress: Bool?, ackFilter: UInt32?, splitGSO: Bool?, fwmark: UInt32?
    }

    // Configuration (cake_sched_data).
    var limit = 10240
    var tinMode: UInt32 = 0            // CAKE_DIFFSERV_DIFFSERV3
    var flowMode: UInt32 = 7           // CAKE_FLOW_TRIPLE
    var atmMode: UInt32 = 0
    var ackFilter: UInt32 = 0
    var fwmarkMask: UInt32 = 0, fwmarkShift: UInt32 = 0
    var rateBps: UInt64 = 0
    var rateFlags: UInt16 = CakeQdisc.flagSplitGSO
    var rateOverhead: Int32 = 0
    var rateMPU: UInt32 = 0
    var interval: UInt32 = 100_000     // µs
    var target: UInt32 = 5_000         // µs
    var bufferConfigLimit: UInt32 = 0

    // State.
    var tinCount = 3
    // The tables live in memory allocated once with the qdisc (freed in deinit): the packet
    // path reaches them without array uniqueness checks or reference counting.
    static let slots = CakeQdisc.maxTins * CakeQdisc.queues
    let tinIndex = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
    let tinOrder = UnsafeMutablePointer<UInt8>.allocate(capacity: CakeQdisc.maxTins)
    let tins = UnsafeMutablePointer<Tin>.allocate(capacity: CakeQdisc.maxTins)
    let flows = UnsafeMutablePointer<Flow>.allocate(capacity: CakeQdisc.slots)
    let backlogs = UnsafeMutablePointer<UInt32>.allocate(capacity: CakeQdisc.slots)
    let tags = UnsafeMutablePointer<UInt32>.allocate(capacity: CakeQdisc.slots)
    let hosts = UnsafeMutablePointer<Host>.allocate(capacity: CakeQdisc.slots)
    /// The overflow max-heap by backlog: entries are tin × 1024 + queue; `heapIndex` is each
    /// queue's place in it.
    let heap = UnsafeMutablePointer<UInt16>.allocate(capacity: CakeQdisc.slots)
    let heapIndex = UnsafeMutablePointer<UInt16>.allocate(capacity: CakeQdisc.slots)
    let invSqrtCache = UnsafeMutablePointer<UInt32>.allocate(capacity: 16)
    var overflowTimeout = 0
    var rateNs: UInt64 = 0, rateShift: UInt16 = 0
    var timeNextPacket: Int64 = 0, failsafeNextPacket: Int64 = 0
    var bufferUsed: UInt32 = 0, bufferMaxUsed: UInt32 = 0, bufferLimit: UInt32 = 0
    var curTin = 0, curFlow = 0
    var lastPacketTime: Int64 = 0, avgWindowBegin: Int64 = 0
    var avgPacketInterval: UInt64 = 0, avgWindowBytes: UInt64 = 0, avgPeakBandwidth: UInt64 = 0
    var lastReconfigTime: Int64 = 0
    var avgNetoff: UInt32 = 0
    var maxNetlen: UInt32 = 0, maxAdjlen: UInt32 = 0, minNetlen: UInt32 = .max, minAdjlen: UInt32 = .max
    var nextWake: UInt64 = 0
    var rng: UInt64
    let seed: UInt32

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        // Offline (the virtual clock) a run must be repeatable: fixed seeds. Live, the hashes'
        // seed is random, as the kernel's flow dissector key is per boot.
        let offline = env.clock.mode == .virtual
        rng = offline ? 0x9E37_79B9_7F4A_7C15 : UInt64.random(in: 1...UInt64.max)
        seed = offline ? 0xCA4E_5EED : UInt32.random(in: 0...UInt32.max)
        super.init(kind: "cake", handle: handle, parent: parent, env: env)
        tinIndex.initialize(repeating: 0, count: 64)
        tinOrder.initialize(repeating: 0, count: Self.maxTins)
        tins.initialize(repeating: Tin(), count: Self.maxTins)
        flows.initialize(repeating: Flow(), count: Self.slots)
        backlogs.initialize(repeating: 0, count: Self.slots)
        tags.initialize(repeating: 0, count: Self.slots)
        hosts.initialize(repeating: Host(), count: Self.slots)
        heap.initialize(repeating: 0, count: Self.slots)
        heapIndex.initialize(repeating: 0, count: Self.slots)
        for i in 0..<16 { (invSqrtCache + i).initialize(to: Self.invSqrtTable[i]) }
        for t in 0..<Self.maxTins {
            for j in 0..<Self.queues {
                let k = j * Self.maxTins + t
                heap[k] = UInt16(t * Self.queues + j)
                heapIndex[t * Self.queues + j] = UInt16(k)
            }
        }
        reconfigure()
        avgPeakBandwidth = rateBps
    }

    // MARK: tables

    static let precedence: [UInt8] = (0..<64).map { UInt8($0 >> 3) }
    static let diffserv8: [UInt8] = [
        2, 0, 1, 2, 4, 2, 2, 2, 1, 2, 1, 2, 1, 2, 1, 2, 5, 2, 4, 2, 4, 2, 4, 2, 3, 2, 3, 2, 3, 2, 3, 2,
        6, 2, 3, 2, 3, 2, 3, 2, 6, 2, 2, 2, 6, 2, 6, 2, 7, 2, 2, 2, 2, 2, 2, 2, 7, 2, 2, 2, 2, 2, 2, 2]
    static let diffserv4: [UInt8] = [
        0, 1, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0,
        3, 0, 2, 0, 2, 0, 2, 0, 3, 0, 0, 0, 3, 0, 3, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]
    static let diffserv3: [UInt8] = [
        0, 1, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
    static let besteffort = [UInt8](repeating: 0, count: 64)
    static let normalOrder: [UInt8] = [0, 1, 2, 3, 4, 5, 6, 7]
    static let bulkOrder: [UInt8] = [1, 0, 2, 3]
    /// 1/√count for counts below 16, computed with eight Newton steps (as the kernel's cache).
    static let invSqrtTable: [UInt32] = [
        ~0, ~0, 3037000500, 2479700525, 2147483647, 1920767767, 1753413056, 1623345051,
        1518500250, 1431655765, 1358187914, 1294981364, 1239850263, 1191209601, 1147878294, 1108955788]

    deinit {
        for p in [tinIndex, tinOrder] as [UnsafeMutablePointer<UInt8>] { p.deallocate() }
        tins.deallocate(); flows.deallocate(); backlogs.deallocate(); tags.deallocate(); hosts.deallocate()
        heap.deallocate(); heapIndex.deallocate(); invSqrtCache.deallocate()
    }

    /// Sets the tin mapping tables (tin_index, tin_order).
    func setTables(_ index: [UInt8], _ order: [UInt8]) {
        for i in 0..<64 { tinIndex[i] = index[i] }
        for i in 0..<Self.maxTins { tinOrder[i] = i < order.count ? order[i] : 0 }
    }

    // MARK: configuration

    func configure(_ p: Params) throws(SluiceError) {
        if let d = p.diffserv, d > 4 { throw SluiceError("Error: cake: unknown diffserv mode \(d).") }
        if let v = p.rate { rateBps = v }
        if let v = p.diffserv { tinMode = v }
        var flags = rateFlags
        if let v = p.wash { flags = v ? flags | Self.flagWash : flags & ~Self.flagWash }
        if let v = p.nat { flowMode = flowMode & 63 | (v ? Self.flowNAT : 0) }
        if let v = p.flowMode { flowMode = flowMode & Self.flowNAT | v & 63 }
        if let v = p.atm { atmMode = v }
        if let v = p.overhead {
            rateOverhead = v; flags |= Self.flagOverhead
            maxNetlen = 0; maxAdjlen = 0; minNetlen = .max; minAdjlen = .max
        }
        if p.raw {
            flags &= ~Self.flagOverhead
            maxNetlen = 0; maxAdjlen = 0; minNetlen = .max; minAdjlen = .max
        }
        if let v = p.mpu { rateMPU = v }
        if let v = p.rtt { interval = max(v, 1) }
        if let v = p.target { target = max(v, 1) }
        if let v = p.autorate { flags = v ? flags | Self.flagAutorate : flags & ~Self.flagAutorate }
        if let v = p.ingress { flags = v ? flags | Self.flagIngress : flags & ~Self.flagIngress }
        if let v = p.memory { bufferConfigLimit = v }
        if let v = p.splitGSO { flags = v ? flags | Self.flagSplitGSO : flags & ~Self.flagSplitGSO }
        if let v = p.ackFilter { ackFilter = v }
        if let v = p.fwmark { fwmarkMask = v; fwmarkShift = v == 0 ? 0 : UInt32(v.trailingZeroBitCount) }
        rateFlags = flags
        reconfigure()
    }

    /// cake_set_rate: a tin's time per byte (rate_ns >> rate_shft), flow quantum and COBALT
    /// parameters (target at least 1.5 MTU times, interval at least twice the target).
    func setRate(_ t: Int, _ rate: UInt64, mtu: Int) {
        var shift: UInt16 = 0
        var ns: UInt64 = 0
        tins[t].flowQuantum = 1514
        if rate > 0 {
            tins[t].flowQuantum = UInt16(max(min(rate >> 12, 1514), 300))
            shift = 34
            ns = (UInt64(1_000_000_000) << 34) / max(64, rate)
            while ns >> 34 != 0 { ns >>= 1; shift -= 1 }
        }
        tins[t].rateBps = rate; tins[t].rateNs = ns; tins[t].rateShift = shift
        let byteTargetNs = (UInt64(mtu) &* ns) >> shift
        let targetNs = UInt64(target) * 1000, rttNs = UInt64(interval) * 1000
        tins[t].cparams.target = max(byteTargetNs * 3 / 2, targetNs)
        tins[t].cparams.interval = max(rttNs &+ tins[t].cparams.target &- targetNs, tins[t].cparams.target * 2)
        tins[t].cparams.mtuTime = byteTargetNs
        tins[t].cparams.pInc = 1 << 24
        tins[t].cparams.pDec = 1 << 20
    }

    /// cake_reconfigure: the tins of the diffserv mode, the global rate (the first tin's),
    /// the memory limit; tins no longer in use are emptied.
    func reconfigure() {
        let mtu = env.mtu
        var rate = rateBps
        var ft = 0
        switch tinMode {
        case 3:     // besteffort
            tinCount = 1; setTables(Self.besteffort, Self.normalOrder)
            setRate(0, rate, mtu: mtu); tins[0].quantum = 65535
        case 4, 2:  // precedence, diffserv8
            tinCount = 8; setTables(tinMode == 4 ? Self.precedence : Self.diffserv8, Self.normalOrder)
            var quantum: UInt32 = 256
            for i in 0..<8 {
                setRate(i, rate, mtu: mtu)
                tins[i].quantum = UInt16(max(1, quantum))
                rate = rate &* 7 >> 3
                quantum = quantum * 7 >> 3
            }
        case 1:     // diffserv4
            tinCount = 4; setTables(Self.diffserv4, Self.bulkOrder)
            setRate(0, rate, mtu: mtu); setRate(1, rate >> 4, mtu: mtu); setRate(2, rate >> 1, mtu: mtu); setRate(3, rate >> 2, mtu: mtu)
            tins[0].quantum = 1024; tins[1].quantum = 64; tins[2].quantum = 512; tins[3].quantum = 256
        default:    // diffserv3
            tinCount = 3; setTables(Self.diffserv3, Self.bulkOrder)
            setRate(0, rate, mtu: mtu); setRate(1, rate >> 4, mtu: mtu); setRate(2, rate >> 2, mtu: mtu)
            tins[0].quantum = 1024; tins[1].quantum = 64; tins[2].quantum = 256
        }
        ft = 0
        for c in tinCount..<Self.maxTins {
            clearTin(c)
            tins[c].cparams.mtuTime = tins[ft].cparams.mtuTime
        }
        rateNs = tins[ft].rateNs
        rateShift = tins[ft].rateShift
        if bufferConfigLimit != 0 {
            bufferLimit = bufferConfigLimit
        } else if rateBps != 0 {
            let t = rateBps &* UInt64(interval) / 250_000
            bufferLimit = UInt32(truncatingIfNeeded: max(t, 4 << 20))
        } else {
            bufferLimit = .max
        }
        bufferLimit = min(bufferLimit, max(UInt32(clamping: limit * mtu), bufferConfigLimit))
        lastReconfigTime = Int64(bitPattern: clock.now)
    }

    /// cake_clear_tin: frees what a tin no longer in use still holds.
    func clearTin(_ t: Int) {
        for j in 0..<Self.queues {
            let g = t * Self.queues + j
            while let p = dequeueOne(g) { pool.free(p) }
        }
    }

    // MARK: COBALT

    @inline(__always) func invSqrt(_ v: inout CobaltVars) {
        if v.count < 16 { v.recInvSqrt = invSqrtCache[Int(v.count)]; return }
        let inv = UInt64(v.recInvSqrt)
        let inv2 = (inv * inv) >> 32
        var val = (UInt64(3) << 32) &- UInt64(v.count) &* inv2
        val >>= 2
        val = (val &* inv) >> (32 - 2 + 1)
        v.recInvSqrt = UInt32(truncatingIfNeeded: val)
    }

    /// t + interval / √count (reciprocal_scale of the interval as a u32, as the kernel's).
    @inline(__always) static func control(_ t: Int64, _ interval: UInt64, _ recInvSqrt: UInt32) -> Int64 {
        t &+ Int64((UInt64(UInt32(truncatingIfNeeded: interval)) &* UInt64(recInvSqrt)) >> 32)
    }

    /// cobalt_queue_full: BLUE's probability up (at most once per target); true when BLUE
    /// just became active.
    func cobaltQueueFull(_ v: inout CobaltVars, _ p: CobaltParams, _ now: Int64) -> Bool {
        var up = false
        if now &- v.blueTimer > Int64(p.target) {
            up = v.pDrop == 0
            v.pDrop &+= p.pInc
            if v.pDrop < p.pInc { v.pDrop = .max }
            v.blueTimer = now
        }
        v.dropping = true
        v.dropNext = now
        if v.count == 0 { v.count = 1 }
        return up
    }

    /// cobalt_queue_empty: BLUE's probability down, CoDel's count decays; true when BLUE just
    /// went quiet.
    func cobaltQueueEmpty(_ v: inout CobaltVars, _ p: CobaltParams, _ now: Int64) -> Bool {
        var down = false
        if v.pDrop != 0 && now &- v.blueTimer > Int64(p.target) {
            v.pDrop = v.pDrop < p.pDec ? 0 : v.pDrop - p.pDec
            v.blueTimer = now
            down = v.pDrop == 0
        }
        v.dropping = false
        if v.count != 0 && now &- v.dropNext >= 0 {
            v.count -= 1
            invSqrt(&v)
            v.dropNext = Self.control(v.dropNext, p.interval, v.recInvSqrt)
        }
        return down
    }

    /// cobalt_should_drop: true to drop the dequeued packet (after an ECN mark was tried).
    func cobaltShouldDrop(_ v: inout CobaltVars, _ p: CobaltParams, _ now: Int64, _ idx: UInt32, bulkFlows: UInt64) -> Bool {
        let sojourn = UInt64(bitPattern: now &- Int64(bitPattern: pool.metas[Int(idx)].timestamp))
        var schedule = now &- v.dropNext
        let overTarget = sojourn > p.target && sojourn > p.mtuTime &* bulkFlows &* 2 && sojourn > p.mtuTime &* 4
        var nextDue = v.count != 0 && schedule >= 0
        var drop = false
        v.ecnMarked = false
        if overTarget {
            if !v.dropping {
                v.dropping = true
                v.dropNext = Self.control(now, p.interval, v.recInvSqrt)
            }
            if v.count == 0 { v.count = 1 }
        } else if v.dropping {
            v.dropping = false
        }
        if nextDue && v.dropping {
            v.ecnMarked = ECN.setCE(pool, idx)
            drop = !v.ecnMarked
            v.count &+= 1
            if v.count == 0 { v.count -= 1 }
            invSqrt(&v)
            v.dropNext = Self.control(v.dropNext, p.interval, v.recInvSqrt)
            schedule = now &- v.dropNext
        } else {
            while nextDue {
                v.count -= 1
                invSqrt(&v)
                v.dropNext = Self.control(v.dropNext, p.interval, v.recInvSqrt)
                schedule = now &- v.dropNext
                nextDue = v.count != 0 && schedule >= 0
            }
        }
        if v.pDrop != 0 { drop = drop || random32() < v.pDrop }
        if v.count == 0 {
            v.dropNext = now &+ Int64(p.interval)
        } else if schedule > 0 && !drop {
            v.dropNext = now
        }
        return drop
    }

    @inline(__always) func random32() -> UInt32 {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17
        return UInt32(truncatingIfNeeded: rng >> 16)
    }

    // MARK: flow chains (list_head per tin: new, old, decaying)

    @inline(__always) func head(_ t: Int, _ l: Int) -> Int16 {
        switch l { case 0: tins[t].heads.0; case 1: tins[t].heads.1; default: tins[t].heads.2 }
    }
    @inline(__always) func setHead(_ t: Int, _ l: Int, _ v: Int16) {
        switch l { case 0: tins[t].heads.0 = v; case 1: tins[t].heads.1 = v; default: tins[t].heads.2 = v }
    }
    @inline(__always) func tail(_ t: Int, _ l: Int) -> Int16 {
        switch l { case 0: tins[t].tails.0; case 1: tins[t].tails.1; default: tins[t].tails.2 }
    }
    @inline(__always) func setTail(_ t: Int, _ l: Int, _ v: Int16) {
        switch l { case 0: tins[t].tails.0 = v; case 1: tins[t].tails.1 = v; default: tins[t].tails.2 = v }
    }

    func unlink(_ t: Int, _ q: Int) {
        let g = t * Self.queues + q
        let l = Int(flows[g].list)
        guard l >= 0 else { return }
        let p = flows[g].prev, n = flows[g].next
        if p >= 0 { flows[t * Self.queues + Int(p)].next = n } else { setHead(t, l, n) }
        if n >= 0 { flows[t * Self.queues + Int(n)].prev = p } else { setTail(t, l, p) }
        flows[g].list = -1; flows[g].prev = -1; flows[g].next = -1
    }

    /// list_move_tail onto chain `l`.
    func moveTail(_ t: Int, _ q: Int, _ l: Int) {
        unlink(t, q)
        let g = t * Self.queues + q
        let last = tail(t, l)
        flows[g].list = Int8(l); flows[g].prev = last; flows[g].next = -1
        if last >= 0 { flows[t * Self.queues + Int(last)].next = Int16(q) } else { setHead(t, l, Int16(q)) }
        setTail(t, l, Int16(q))
    }

    // MARK: hosts

    @inline(__always) func dualSrc() -> Bool { flowMode & 5 == 5 }
    @inline(__always) func dualDst() -> Bool { flowMode & 6 == 6 }

    func incBulk(_ t: Int, _ g: Int) {
        let base = t * Self.queues
        if dualSrc(), hosts[base + Int(flows[g].srchost)].srcBulk < Self.queues { hosts[base + Int(flows[g].srchost)].srcBulk += 1 }
        if dualDst(), hosts[base + Int(flows[g].dsthost)].dstBulk < Self.queues { hosts[base + Int(flows[g].dsthost)].dstBulk += 1 }
    }

    func decBulk(_ t: Int, _ g: Int) {
        let base = t * Self.queues
        if dualSrc(), hosts[base + Int(flows[g].srchost)].srcBulk > 0 { hosts[base + Int(flows[g].srchost)].srcBulk -= 1 }
        if dualDst(), hosts[base + Int(flows[g].dsthost)].dstBulk > 0 { hosts[base + Int(flows[g].dsthost)].dstBulk -= 1 }
    }

    /// cake_get_flow_quantum: the tin's flow quantum shared among the host's bulk flows (dual
    /// and triple modes), dithered so the rounding does not accumulate.
    func flowQuantum(_ t: Int, _ g: Int) -> Int32 {
        let base = t * Self.queues
        var load: UInt16 = 1
        if dualSrc() { load = max(load, hosts[base + Int(flows[g].srchost)].srcBulk) }
        if dualDst() { load = max(load, hosts[base + Int(flows[g].dsthost)].dstBulk) }
        let dither = random32() & 0xFFFF
        let div: UInt32 = load == 0 ? 65535 : 65535 / UInt32(load)      // quantum_div
        return Int32((UInt32(tins[t].flowQuantum) * div + dither) >> 16)
    }

    // MARK: classification

    /// The flow, source-host and destination-host hashes of a frame (flow_hash_from_keys over
    /// the full keys, and over the keys with only one address left); hosts hash to 0 for
    /// frames without IP addresses.
    func hashes(_ idx: UInt32) -> (flow: UInt32, src: UInt32, dst: UInt32) {
        let m = pool.metas[Int(idx)]
        let d = pool.base + Int(pool.dataOf[Int(idx)]) * PacketPool.bufferSize + Int(m.dataOffset)
        let len = Int(m.length)
        let flow = FlowHash.hash(pool, idx, seed: seed)
        let pf = ParsedFrame(d, len, m)
        var src = JHash(count: 4, initval: seed), dst = JHash(count: 4, initval: seed ^ 0x5bd1_e995)
        if pf.proto == EtherType.ipv4, let s = HeaderEdit.loadBE(d, len, at: pf.l3 + 12, size: 4), let t = HeaderEdit.loadBE(d, len, at: pf.l3 + 16, size: 4) {
            src.add(s); src.add(4)
            dst.add(t); dst.add(4)
        } else if pf.proto == EtherType.ipv6, len >= pf.l3 + 40 {
            for o in 0..<4 {
                src.add(HeaderEdit.loadBE(d, len, at: pf.l3 + 8 + 4 * o, size: 4) ?? 0)
                dst.add(HeaderEdit.loadBE(d, len, at: pf.l3 + 24 + 4 * o, size: 4) ?? 0)
            }
        } else {
            return (flow, 0, 0)
        }
        return (flow, src.finish(), dst.finish())
    }

    /// cake_hash: the queue (0…1023) of tin `t` for the packet, through the set-associative
    /// table, with the host slots of the dual and triple modes.
    func hashQueue(_ t: Int, _ idx: UInt32, flowOverride: UInt16, hostOverride: UInt16) -> Int {
        if flowMode & 63 == 0 { return 0 }
        let hashFlows = flowOverride == 0 && flowMode & Self.flowFlows != 0
        let hashHosts = hostOverride == 0 && flowMode & 3 != 0
        var flowHash: UInt32 = 0, srcHash: UInt32 = 0, dstHash: UInt32 = 0
        if hashFlows || hashHosts {
            let h = hashes(idx)
            if hashFlows { flowHash = h.flow }
            srcHash = h.src; dstHash = h.dst
        }
        if flowOverride != 0 { flowHash = UInt32(flowOverride) - 1 }
        if hostOverride != 0 { srcHash = UInt32(hostOverride) - 1; dstHash = UInt32(hostOverride) - 1 }
        if flowMode & Self.flowFlows == 0 {
            if flowMode & Self.flowSrc != 0 { flowHash ^= srcHash }
            if flowMode & Self.flowDst != 0 { flowHash ^= dstHash }
        }
        let base = t * Self.queues
        var reduced = Int(flowHash % UInt32(Self.queues))
        if tags[base + reduced] == flowHash && flows[base + reduced].set != 0 {
            tins[t].wayDirects &+= 1
            return reduced
        }
        let inner = reduced % Self.ways, outer = reduced - inner
        var allocSrc = false, allocDst = false
        var k = inner
        var found = false
        for i in 0..<Self.ways {
            if tags[base + outer + k] == flowHash {
                if i > 0 { tins[t].wayHits &+= 1 }
                if flows[base + outer + k].set == 0 { allocSrc = dualSrc(); allocDst = dualDst() }
                found = true
                break
            }
            k = (k + 1) % Self.ways
        }
        if !found {
            for _ in 0..<Self.ways {
                if flows[base + outer + k].set == 0 {
                    tins[t].wayMisses &+= 1
                    allocSrc = dualSrc(); allocDst = dualDst()
                    found = true
                    break
                }
                k = (k + 1) % Self.ways
            }
        }
        if !found {
            tins[t].wayCollisions &+= 1
            allocSrc = dualSrc(); allocDst = dualDst()
            if flows[base + outer + k].set == Self.setBulk { decBulk(t, base + outer + k) }
        }
        reduced = outer + k
        tags[base + reduced] = flowHash
        let g = base + reduced
        if allocSrc {
            let si = Int(srcHash % UInt32(Self.queues)), sin = si % Self.ways, sout = si - sin
            var j = sin, hit = false
            for _ in 0..<Self.ways {
                if hosts[base + sout + j].srcTag == srcHash { hit = true; break }
                j = (j + 1) % Self.ways
            }
            if !hit {
                for _ in 0..<Self.ways {
                    if hosts[base + sout + j].srcBulk == 0 { break }
                    j = (j + 1) % Self.ways
                }
                hosts[base + sout + j].srcTag = srcHash
            }
            flows[g].srchost = UInt16(sout + j)
            if flows[g].set == Self.setBulk, hosts[base + sout + j].srcBulk < Self.queues { hosts[base + sout + j].srcBulk += 1 }
        }
        if allocDst {
            let di = Int(dstHash % UInt32(Self.queues)), din = di % Self.ways, dout = di - din
            var j = din, hit = false
            for _ in 0..<Self.ways {
                if hosts[base + dout + j].dstTag == dstHash { hit = true; break }
                j = (j + 1) % Self.ways
            }
            if !hit {
                for _ in 0..<Self.ways {
                    if hosts[base + dout + j].dstBulk == 0 { break }
                    j = (j + 1) % Self.ways
                }
                hosts[base + dout + j].dstTag = dstHash
            }
            flows[g].dsthost = UInt16(dout + j)
            if flows[g].set == Self.setBulk, hosts[base + dout + j].dstBulk < Self.queues { hosts[base + dout + j].dstBulk += 1 }
        }
        return reduced
    }

    /// cake_select_tin (with wash: the DSCP cleared, ECN kept).
    func selectTin(_ idx: UInt32) -> Int {
        let m = pool.metas[Int(idx)]
        let mark = (m.mark & fwmarkMask) >> fwmarkShift
        let wash = rateFlags & Self.flagWash != 0
        var dscp: UInt8 = 0
        if wash { dscp = diffserv(idx, wash: true) }
        if tinMode == 3 { return 0 }
        if mark != 0 && Int(mark) <= tinCount { return Int(tinOrder[Int(mark) - 1]) }
        if m.priority >> 16 == handle.raw >> 16, m.priority & 0xFFFF > 0, Int(m.priority & 0xFFFF) <= tinCount {
            return Int(tinOrder[Int(m.priority & 0xFFFF) - 1])
        }
        if !wash { dscp = diffserv(idx, wash: false) }
        let t = Int(tinIndex[Int(dscp)])
        return t < tinCount ? t : 0
    }

    /// cake_handle_diffserv: the DSCP (CS7 for ARP, 0 without a DS field).
    func diffserv(_ idx: UInt32, wash: Bool) -> UInt8 {
        let m = pool.metas[Int(idx)]
        let d = pool.base + Int(pool.dataOf[Int(idx)]) * PacketPool.bufferSize + Int(m.dataOffset)
        let len = Int(m.length)
        guard let (proto, _) = HeaderEdit.network(d, len) else { return 0 }
        if proto == EtherType.arp { return 0x38 }
        guard let ds = HeaderEdit.dsfield(d, len) else { return 0 }
        let dscp = ds >> 2
        if wash && dscp != 0 && pool.refs[Int(pool.dataOf[Int(idx)])] == 1 { HeaderEdit.setDSCP(d, len, 0) }
        return dscp
    }

    // MARK: framing compensation

    @inline(__always) static func ewma(_ avg: UInt64, _ sample: UInt64, _ shift: UInt64) -> UInt64 {
        avg &- (avg >> shift) &+ (sample >> shift)
    }

    /// cake_calc_overhead: the length on the wire after framing (overhead, mpu, ATM cells or
    /// PTM's 64/65 coding).
    func calcOverhead(_ length: UInt32, _ off: UInt32) -> UInt32 {
        var len = length
        if rateFlags & Self.flagOverhead != 0 { len &-= off }
        if maxNetlen < len { maxNetlen = len }
        if minNetlen > len { minNetlen = len }
        var l = max(Int64(Int32(bitPattern: len)) + Int64(rateOverhead), Int64(Int32(bitPattern: rateMPU)))
        if atmMode == 1 { l = (l + 47) / 48 * 53 } else if atmMode == 2 { l += (l + 63) / 64 }
        len = UInt32(truncatingIfNeeded: l)
        if maxAdjlen < len { maxAdjlen = len }
        if minAdjlen > len { minAdjlen = len }
        return len
    }

    /// cake_overhead: per segment for a GSO frame.
    func adjustedLength(_ idx: UInt32) -> UInt32 {
        let m = pool.metas[Int(idx)]
        let d = pool.base + Int(pool.dataOf[Int(idx)]) * PacketPool.bufferSize + Int(m.dataOffset)
        let off = UInt32(HeaderEdit.network(d, Int(m.length))?.off ?? EthernetHeader.length)
        avgNetoff = UInt32(truncatingIfNeeded: Self.ewma(UInt64(avgNetoff), UInt64(off) << 16, 8))
        guard !m.gsoType.isEmpty, m.gsoSize > 0, m.length > UInt32(m.hdrLen) else { return calcOverhead(m.pktLen, off) }
        let hdr = UInt32(m.hdrLen), mss = UInt32(m.gsoSize)
        let segs = (m.length - hdr + mss - 1) / mss
        let last = m.length - mss * (segs - 1)
        return calcOverhead(mss + hdr, off) &* (segs - 1) &+ calcOverhead(last, off)
    }

    // MARK: shaper

    /// cake_advance_shaper: charges the packet to its tin and the global shaper.
    @discardableResult
    func advanceShaper(_ t: Int, _ idx: UInt32, _ now: Int64, drop: Bool) -> UInt32 {
        let len = UInt32(truncatingIfNeeded: pool.metas[Int(idx)].schedCookie)
        if rateNs != 0 {
            let tinDur = Int64(bitPattern: (UInt64(len) &* tins[t].rateNs) >> tins[t].rateShift)
            let globalDur = Int64(bitPattern: (UInt64(len) &* rateNs) >> rateShift)
            let failsafeDur = globalDur + globalDur >> 1
            if tins[t].timeNextPacket < now {
                tins[t].timeNextPacket &+= tinDur
            } else if tins[t].timeNextPacket < now &+ tinDur {
                tins[t].timeNextPacket = now &+ tinDur
            }
            timeNextPacket &+= globalDur
            if !drop { failsafeNextPacket &+= failsafeDur }
        }
        return len
    }

    // MARK: overflow heap

    @inline(__always) func heapBacklog(_ i: Int) -> UInt32 { backlogs[Int(heap[i])] }

    func heapSwap(_ i: Int, _ j: Int) {
        let a = heap[i], b = heap[j]
        heap[i] = b; heap[j] = a
        heapIndex[Int(a)] = UInt16(j); heapIndex[Int(b)] = UInt16(i)
    }

    func heapify(_ start: Int) {
        let n = Self.slots
        var i = start
        while true {
            var m = i, mb = heapBacklog(i)
            let l = 2 * i + 1, r = l + 1
            if l < n, heapBacklog(l) > mb { m = l; mb = heapBacklog(l) }
            if r < n, heapBacklog(r) > mb { m = r }
            if m == i { return }
            heapSwap(i, m)
            i = m
        }
    }

    func heapifyUp(_ start: Int) {
        var i = start
        while i > 0 && i < Self.slots {
            let p = (i - 1) >> 1
            guard heapBacklog(i) > heapBacklog(p) else { return }
            heapSwap(i, p)
            i = p
        }
    }

    /// cake_drop: the head of the longest queue anywhere; returns its queue (tin × 1024 + q).
    func dropLongest(_ now: Int64) -> Int {
        if overflowTimeout == 0 {
            for i in stride(from: Self.slots / 2 - 1, through: 0, by: -1) { heapify(i) }
        }
        overflowTimeout = 65535
        let g = Int(heap[0])
        let t = g / Self.queues
        guard let p = dequeueOne(g) else { overflowTimeout = 0; return g }
        if cobaltQueueFull(&flows[g].cvars, tins[t].cparams, now) { tins[t].unresponsiveFlows += 1 }
        flows[g].dropped &+= 1
        tins[t].dropped &+= 1
        stats.drops &+= 1
        if rateFlags & Self.flagIngress != 0 { advanceShaper(t, p.index, now, drop: true) }
        pool.free(p)
        heapify(0)
        return g
    }

    // MARK: enqueue / dequeue

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        var flowOverride: UInt16 = 0, hostOverride: UInt16 = 0
        var pk: Packet
        switch classifyForEnqueue(p) {
        case .done(let v): return v
        case .go(let q, let r):
            pk = q
            if case .classid(let c)? = r {
                if c.minor <= UInt16(Self.queues) { flowOverride = c.minor }
                if c.raw >> 16 <= UInt32(Self.queues) { hostOverride = c.major }
            }
        }
        let t = selectTin(pk.index)
        let q = hashQueue(t, pk.index, flowOverride: flowOverride, hostOverride: hostOverride)
        let g = t * Self.queues + q
        let now = Int64(bitPattern: clock.now)
        let len = len(pk)
        if tins[t].backlog == 0 {
            if tins[t].timeNextPacket < now { tins[t].timeNextPacket = now }
            if stats.qlen == 0 {
                if timeNextPacket < now {
                    failsafeNextPacket = now; timeNextPacket = now
                } else if timeNextPacket > now && failsafeNextPacket > now {
                    stats.overlimits &+= 1
                    nextWake = UInt64(min(timeNextPacket, failsafeNextPacket))
                }
            }
        }
        if UInt32(len) > tins[t].maxSkblen { tins[t].maxSkblen = UInt32(len) }
        if rateFlags & Self.flagSplitGSO != 0 && !pool.metas[Int(pk.index)].gsoType.isEmpty {
            var slen = 0, n = 0
            let r = GSO.segment(pk, pool: pool) { s in
                let m = pool.meta(s)
                m.pointee.pktLen = m.pointee.length
                m.pointee.timestamp = UInt64(now)
                m.pointee.schedCookie = UInt64(adjustedLength(s.index))
                let l = Int(m.pointee.length)
                slen += l; n += 1
                bufferUsed &+= UInt32(skbTruesize(l))
                flows[g].queue.push(s, pool)
                tins[t].packets &+= 1
                stats.qlen += 1
            }
            if r < 0 { stats.drops &+= 1; return .dropped }
            tins[t].bytes &+= UInt64(slen)
            backlogs[g] &+= UInt32(slen)
            tins[t].backlog &+= UInt32(slen)
            stats.backlog &+= UInt64(slen)
            avgWindowBytes &+= UInt64(slen)
        } else {
            let m = pool.meta(pk)
            m.pointee.timestamp = UInt64(now)
            m.pointee.schedCookie = UInt64(adjustedLength(pk.index))
            flows[g].queue.push(pk, pool)
            var ackLen = 0
            if ackFilter != 0, let ack = ackFilterTake(g) {
                // A redundant pure ACK leaves in place of the new packet's growth.
                tins[t].ackDrops &+= 1
                stats.drops &+= 1
                ackLen = Int(pool.metas[Int(ack.index)].pktLen)
                bufferUsed = bufferUsed &+ UInt32(skbTruesize(len)) &- UInt32(skbTruesize(Int(pool.metas[Int(ack.index)].length)))
                if rateFlags & Self.flagIngress != 0 { advanceShaper(t, ack.index, now, drop: true) }
                pool.free(ack)
            } else {
                stats.qlen += 1
                bufferUsed &+= UInt32(skbTruesize(len))
            }
            tins[t].packets &+= 1
            tins[t].bytes &+= UInt64(len)
            backlogs[g] &+= UInt32(len - ackLen)
            tins[t].backlog &+= UInt32(len - ackLen)
            stats.backlog &+= UInt64(len - ackLen)
            avgWindowBytes &+= UInt64(len - ackLen)
        }
        if overflowTimeout != 0 { heapifyUp(Int(heapIndex[g])) }
        if rateFlags & Self.flagAutorate != 0 {
            // The incoming capacity estimate: bursts filtered out, the peak rate of the gaps.
            let gap = UInt64(min(max(now &- lastPacketTime, 0), 1_000_000_000))
            avgPacketInterval = Self.ewma(avgPacketInterval, gap, gap > avgPacketInterval ? 2 : 8)
            lastPacketTime = now
            if gap > avgPacketInterval {
                let window = UInt64(max(now &- avgWindowBegin, 1))
                let b = avgWindowBytes &* 1_000_000_000 / window
                avgPeakBandwidth = Self.ewma(avgPeakBandwidth, b, b > avgPeakBandwidth ? 2 : 8)
                avgWindowBytes = 0
                avgWindowBegin = now
                if now > lastReconfigTime &+ 250 * Int64(Time.ms) {
                    rateBps = (avgPeakBandwidth * 15) >> 4
                    reconfigure()
                }
            }
        } else {
            avgWindowBytes = 0
            lastPacketTime = now
        }
        let set = flows[g].set
        if set == Self.setNone || set == Self.setDecaying {
            if set == Self.setDecaying { tins[t].decayingFlows -= 1 }
            moveTail(t, q, Self.listNew)
            flows[g].set = Self.setSparse
            tins[t].sparseFlows += 1
            flows[g].deficit = flowQuantum(t, g)
        } else if set == Self.setSparseWait {
            flows[g].set = Self.setBulk
            tins[t].sparseFlows -= 1
            tins[t].bulkFlows += 1
            incBulk(t, g)
        }
        if bufferUsed > bufferMaxUsed { bufferMaxUsed = bufferUsed }
        if bufferUsed <= bufferLimit { return .success }
        let before = stats.qlen
        var sameFlow = false
        while bufferUsed > bufferLimit {
            if dropLongest(now) == g { sameFlow = true }
        }
        tins[t].dropOverlimit &+= UInt32(before - stats.qlen)
        return sameFlow ? .congestion : .success
    }

    @inline(__always) func ackView(_ i: UInt32) -> TCPAckView? {
        let m = pool.metas[Int(i)]
        return TCPAckView(pool.base + Int(pool.dataOf[Int(i)]) * PacketPool.bufferSize + Int(m.dataOffset), Int(m.length))
    }

    /// cake_ack_filter: with the packet just queued at the tail of queue `g` an ACK, an older
    /// pure ACK of the same connection that it makes redundant (a cumulative ACK no newer, no
    /// data, SACKing no more, timestamps no newer, the same ECE/CWR) is unlinked and returned:
    /// the one nearest the head once two are found, or in aggressive mode a single one just
    /// before the new packet.
    func ackFilterTake(_ g: Int) -> Packet? {
        let empty = PacketQueue.empty
        let tailIdx = flows[g].queue.tail
        guard flows[g].queue.head != tailIdx, let t = ackView(tailIdx) else { return nil }
        let ack: UInt32 = 0x0010_0000, syn: UInt32 = 0x0002_0000, eceCwr: UInt32 = 0x00C0_0000
        guard t.flagWord & (ack | syn) == ack else { return nil }
        let (tsval, tsecr) = t.timestamps
        var elig = empty, eligPrev = empty, eligFlags: UInt32 = 0, numFound = 0
        var prev = empty, cur = flows[g].queue.head
        var done = false
        while cur != empty && cur != tailIdx {
            defer { prev = cur; cur = pool.next[Int(cur)] }
            guard let c = ackView(cur), c.ipVersion == t.ipVersion, c.ports == t.ports, c.sameAddresses(t) else { continue }
            if elig != empty && c.flagWord & eceCwr != eligFlags {
                elig = empty; eligPrev = empty; numFound -= 1
            }
            guard c.mayDrop(tsval: tsval, tsecr: tsecr), c.segLen - c.tcpLen == 0,
                  Int32(bitPattern: c.ackSeq &- t.ackSeq) <= 0 else { continue }
            let sack = TCPAckView.sackCompare(c, t)
            if sack < 0 || (c.ackSeq == t.ackSeq && sack == 0) { continue }
            if elig == empty { elig = cur; eligPrev = prev; eligFlags = c.flagWord & eceCwr }
            numFound += 1
            if numFound > 1 { done = true; break }
        }
        if !done {
            guard elig != empty, ackFilter == 2, pool.next[Int(elig)] == tailIdx, eligFlags == t.flagWord & eceCwr else { return nil }
        }
        // Unlink `elig` (never the tail).
        let after = pool.next[Int(elig)]
        if eligPrev != empty { pool.next[Int(eligPrev)] = after } else { flows[g].queue.head = after }
        flows[g].queue.count -= 1
        flows[g].queue.bytes &-= UInt64(pool.metas[Int(elig)].pktLen)
        return Packet(index: elig)
    }

    /// cake_dequeue_one: the head of queue `g`, with the accounting of its leaving.
    func dequeueOne(_ g: Int) -> Packet? {
        guard let p = flows[g].queue.pop(pool) else { return nil }
        let l = len(p)
        let t = g / Self.queues
        backlogs[g] &-= UInt32(l)
        tins[t].backlog &-= UInt32(l)
        stats.backlog &-= UInt64(l)
        bufferUsed &-= UInt32(skbTruesize(Int(pool.metas[Int(p.index)].length)))
        stats.qlen -= 1
        if overflowTimeout != 0 { heapify(Int(heapIndex[g])) }
        return p
    }

    override func dequeue() -> Packet? {
        let now = Int64(bitPattern: clock.now)
        var t = curTin
        var firstFlow = true
        begin: while true {
            if stats.qlen == 0 { return nil }
            if timeNextPacket > now && failsafeNextPacket > now {
                stats.overlimits &+= 1
                nextWake = UInt64(min(timeNextPacket, failsafeNextPacket))
                return nil
            }
            if rateNs == 0 {
                // Unshaped: tins by deficit round robin.
                var wrapped = false, empty = true
                while tins[t].deficit < 0 || tins[t].sparseFlows + tins[t].bulkFlows == 0 {
                    if tins[t].deficit <= 0 { tins[t].deficit &+= Int32(tins[t].quantum) }
                    if tins[t].sparseFlows + tins[t].bulkFlows > 0 { empty = false }
                    t += 1
                    if t >= tinCount {
                        t = 0
                        if wrapped {
                            if empty { curTin = t; return nil }
                        } else {
                            wrapped = true
                        }
                    }
                }
            } else {
                // Shaped: the highest priority tin on schedule, else the soonest due.
                var best = Int64.max, bestTin = 0
                for i in 0..<tinCount where tins[i].sparseFlows + tins[i].bulkFlows > 0 {
                    let toPacket = tins[i].timeNextPacket &- now
                    if toPacket <= 0 || toPacket <= best { best = toPacket; bestTin = i }
                }
                t = bestTin
                if tins[t].sparseFlows + tins[t].bulkFlows == 0 { curTin = t; return nil }
            }
            curTin = t
            retry: while true {
                var l = Self.listDecaying
                if !firstFlow || head(t, l) < 0 {
                    l = Self.listNew
                    if head(t, l) < 0 {
                        l = Self.listOld
                        if head(t, l) < 0 {
                            l = Self.listDecaying
                            if head(t, l) < 0 { continue begin }
                        }
                    }
                }
                let q = Int(head(t, l))
                let g = t * Self.queues + q
                curFlow = q
                firstFlow = false
                if flows[g].deficit <= 0 {
                    // DRR++: a flow that used its quantum goes to the old (bulk) rotation.
                    if flows[g].set == Self.setSparse {
                        if !flows[g].queue.isEmpty {
                            tins[t].sparseFlows -= 1
                            tins[t].bulkFlows += 1
                            incBulk(t, g)
                            flows[g].set = Self.setBulk
                        } else {
                            flows[g].set = Self.setSparseWait
                        }
                    }
                    flows[g].deficit &+= flowQuantum(t, g)
                    moveTail(t, q, Self.listOld)
                    continue retry
                }
                while true {
                    guard let p = dequeueOne(g) else {
                        // The queue was empty: decay its AQM state, or forget it.
                        if cobaltQueueEmpty(&flows[g].cvars, tins[t].cparams, now) { tins[t].unresponsiveFlows -= 1 }
                        let v = flows[g].cvars
                        if v.pDrop != 0 || v.count != 0 || now < v.dropNext {
                            moveTail(t, q, Self.listDecaying)
                            if flows[g].set == Self.setBulk {
                                tins[t].bulkFlows -= 1
                                decBulk(t, g)
                                tins[t].decayingFlows += 1
                            } else if flows[g].set == Self.setSparse || flows[g].set == Self.setSparseWait {
                                tins[t].sparseFlows -= 1
                                tins[t].decayingFlows += 1
                            }
                            flows[g].set = Self.setDecaying
                        } else {
                            unlink(t, q)
                            let s = flows[g].set
                            if s == Self.setSparse || s == Self.setSparseWait {
                                tins[t].sparseFlows -= 1
                            } else if s == Self.setBulk {
                                tins[t].bulkFlows -= 1
                                decBulk(t, g)
                            } else {
                                tins[t].decayingFlows -= 1
                            }
                            flows[g].set = Self.setNone
                        }
                        continue begin
                    }
                    let ingress = rateFlags & Self.flagIngress != 0
                    let bulk = UInt64(tins[t].bulkFlows) * (ingress ? 1 : 0)
                    if !cobaltShouldDrop(&flows[g].cvars, tins[t].cparams, now, p.index, bulkFlows: bulk) || flows[g].queue.isEmpty {
                        return deliver(p, t, g, now)
                    }
                    if ingress {
                        let l = Int32(advanceShaper(t, p.index, now, drop: true))
                        flows[g].deficit &-= l
                        tins[t].deficit &-= l
                    }
                    flows[g].dropped &+= 1
                    tins[t].dropped &+= 1
                    stats.drops &+= 1
                    pool.free(p)
                    if ingress { continue retry }
                }
            }
        }
    }

    /// The end of cake_dequeue for a packet that leaves: ECN and delay statistics, the
    /// shaper charged, the watchdog set when the next packet is not due yet.
    func deliver(_ p: consuming Packet, _ t: Int, _ g: Int, _ now: Int64) -> Packet {
        if flows[g].cvars.ecnMarked { tins[t].ecnMarked &+= 1 }
        countSent(len(p), segs: segs(p))
        let delay = UInt64(bitPattern: now &- Int64(bitPattern: pool.metas[Int(p.index)].timestamp))
        tins[t].avgDelay = Self.ewma(tins[t].avgDelay, delay, 8)
        tins[t].peakDelay = Self.ewma(tins[t].peakDelay, delay, delay > tins[t].peakDelay ? 2 : 8)
        tins[t].baseDelay = Self.ewma(tins[t].baseDelay, delay, delay < tins[t].baseDelay ? 2 : 8)
        let l = Int32(advanceShaper(t, p.index, now, drop: false))
        flows[g].deficit &-= l
        tins[t].deficit &-= l
        nextWake = timeNextPacket > now && stats.qlen > 0 ? UInt64(min(timeNextPacket, failsafeNextPacket)) : 0
        if overflowTimeout > 0 { overflowTimeout -= 1 }
        return p
    }

    override var watchdog: UInt64 { stats.qlen > 0 ? nextWake : 0 }

    override func reset() {
        for t in 0..<Self.maxTins { clearTin(t) }
    }
}
