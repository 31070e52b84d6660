/// Default priomap of pfifo_fast and prio: skb->priority (0…15) → band.
let defaultPriomap: [Int] = [1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]

/// pfifo_fast (sch_generic.c): three FIFO bands chosen by priomap[skb->priority & 15], band 0
/// first. Each band is a ring of `txqueuelen` packets (the kernel's skb_array per band), so the
/// limit is per band, and a later txqueuelen change resizes them (change_tx_queue_len).
/// The default root qdisc of a device with a queue.
final class PfifoFastQdisc: Qdisc {
    var bands = (PacketQueue(), PacketQueue(), PacketQueue())
    let priomap = defaultPriomap
    /// Packets per band.
    var bandLimit: Int

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        bandLimit = max(env.txQueueLen, 1)
        super.init(kind: "pfifo_fast", handle: handle, parent: parent, env: env)
    }

    override func changeTxQueueLen(_ n: Int) { bandLimit = max(n, 1); env.txQueueLen = n }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        let l = len(p)
        switch priomap[Int(pool.metas[Int(p.index)].priority & 15)] {
        case 0:
            guard bands.0.count < bandLimit else { return drop(p) }
            bands.0.push(p, pool)
        case 1:
            guard bands.1.count < bandLimit else { return drop(p) }
            bands.1.push(p, pool)
        default:
            guard bands.2.count < bandLimit else { return drop(p) }
            bands.2.push(p, pool)
        }
        accountIn(l)
        return .success
    }

    override func dequeue() -> Packet? {
        var p = bands.0.pop(pool)
        if p == nil { p = bands.1.pop(pool) }
        if p == nil { p = bands.2.pop(pool) }
        guard let p else { return nil }
        accountOut(len(p), segs: segs(p))
        return p
    }

    override func peekLength() -> Int? {
        guard let i = bands.0.peekIndex ?? bands.1.peekIndex ?? bands.2.peekIndex else { return nil }
        return Int(pool.metas[Int(i)].pktLen)
    }

    override func reset() {
        bands.0.purge(pool); bands.1.purge(pool); bands.2.purge(pool)
        stats.qlen = 0; stats.backlog = 0
    }

}

/// prio (sch_prio.c): N bands (classes major:1…major:N), each with its own child qdisc
/// (pfifo by default); strict priority: band 0 is always served first. A packet's band comes
/// from skb->priority when it names one of this qdisc's classes, else the filters, else priomap.
final class PrioQdisc: Qdisc {
    var bandCount = 3
    var priomap = defaultPriomap
    var children: [Qdisc] = []

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "prio", handle: handle, parent: parent, env: env)
    }

    override var isClassful: Bool { true }


    /// prio_tune (struct tc_prio_qopt): applied whole; removed bands drop their packets.
    func configure(bands: Int, priomap map: [Int]) throws(SluiceError) {
        guard (2...16).contains(bands), map.count == 16 else { throw SluiceError("Error: prio needs 2 to 16 bands and 16 priomap entries.") }
        if let bad = map.first(where: { $0 >= bands || $0 < 0 }) {
            throw SluiceError("Error: priomap band \(bad) is out of range for \(bands) bands")
        }
        // Shrinking drops the packets of removed bands (counted), as prio_tune does.
        while children.count > bands {
            let c = children.removeLast()
            stats.drops &+= UInt64(c.statsSnapshot().qlen)
            c.purge()
        }
        while children.count < bands {
            children.append(FifoQdisc(kind: "pfifo", handle: .unspec, parent: TcHandle(handle.major, UInt16(children.count + 1)), env: env))
        }
        bandCount = bands
        priomap = map
    }

    override func attached() {
        if children.isEmpty { try? configure(bands: bandCount, priomap: priomap) }
    }

    /// A class minor as prio_classify reads it: band minor − 1, or prio2band[0] beyond `bands`
    /// (minor 0 included: the unsigned subtraction wraps).
    @inline(__always) func band(minor m: UInt32) -> Int {
        let b = Int(m & 0xFFFF) - 1
        return b >= 0 && b < bandCount ? b : priomap[0]
    }

    /// prio_classify: skb->priority is read once, before any filter runs (a filter's skbedit
    /// does not move this packet). A priority whose major is this qdisc's handle names the band
    /// and no filter runs; otherwise the filters decide, and with no filter or no match,
    /// prio2band[priority & 15] — or prio2band[0] when the priority has a major number.
    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        let prio = pool.metas[Int(p.index)].priority
        if prio & 0xFFFF_0000 == handle.raw { return enqueue(p, band: band(minor: prio)) }
        let fallback = prio >> 16 != 0 ? priomap[0] : priomap[Int(prio & 15)]
        if filters.isEmpty { return enqueue(p, band: fallback) }
        switch classifyForEnqueue(p) {
        case .done(let v): return v
        case .go(let pk, let r):
            switch r {
            case nil: return enqueue(pk, band: fallback)
            case .classid(let c)?: return enqueue(pk, band: band(minor: c.raw))
            default: return enqueue(pk, band: band(minor: 0))   // matched without a class id
            }
        }
    }

    func enqueue(_ p: consuming Packet, band b: Int) -> EnqueueVerdict {
        let v = children[b].enqueue(p)
        if v == .dropped || v == .congestion { stats.drops &+= 1 }
        return v
    }

    override func dequeue() -> Packet? {
        for c in children {
            if let p = c.dequeuePeeked() { countSent(len(p), segs: segs(p)); return p }
        }
        return nil
    }

    override func peekLength() -> Int? {
        for c in children { if let l = c.peekLength() { return l } }
        return nil
    }

    override func reset() { for c in children { c.reset() } }
    override var watchdog: UInt64 {
        var w: UInt64 = 0
        for c in children { let cw = c.watchdog; if cw > 0 && (w == 0 || cw < w) { w = cw } }
        return w
    }

    override func childQdiscs() -> [Qdisc] { children }

    /// prio_dump_class_stats: each band's child qdisc's statistics.
    override func classes(details: Bool) -> [QdiscClassInfo] { bandClasses(children, parent: handle) }

    override func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        try graftBand(&children, classid, q, count: bandCount, notFound: "Error: Failed to find specified qdisc.")
    }
}
