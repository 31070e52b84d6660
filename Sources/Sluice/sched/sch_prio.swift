/// Default priomap of pfifo_fast and prio: skb->priority (0…15) → band.
let defaultPriomap: [Int] = [1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]

/// pfifo_fast (sch_generic.c): three FIFO bands chosen by priomap[skb->priority], band 0 first;
/// `txqueuelen` packets in all. The default root qdisc of a device with a queue.
final class PfifoFastQdisc: Qdisc {
    var bands = (PacketQueue(), PacketQueue(), PacketQueue())
    let priomap = defaultPriomap

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "pfifo_fast", handle: handle, parent: parent, env: env)
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        guard stats.qlen < max(env.txQueueLen, 1) else { return drop(p) }
        let l = len(p)
        switch priomap[Int(pool.metas[Int(p.index)].priority & 15)] {
        case 0: bands.0.push(p, pool)
        case 1: bands.1.push(p, pool)
        default: bands.2.push(p, pool)
        }
        accountIn(l)
        return .success
    }

    override func dequeue() -> Packet? {
        var p = bands.0.pop(pool)
        if p == nil { p = bands.1.pop(pool) }
        if p == nil { p = bands.2.pop(pool) }
        guard let p else { return nil }
        accountOut(len(p))
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

    override func dumpOptions() -> String { "bands 3 priomap " + priomap.map(String.init).joined(separator: " ") }
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

    override func change(_ a: inout TcArgs) throws(SluiceError) {
        var bands = bandCount
        var map = priomap
        while let k = a.next() {
            switch k {
            case "bands": bands = try a.int(for: k, 2...16)
            case "priomap":
                var m: [Int] = []
                while m.count < 16, let v = a.peek, let n = Int(v) { m.append(n); a.i += 1 }
                guard !m.isEmpty else { throw SluiceError("Error: \"priomap\" needs up to 16 band numbers") }
                map = m + Array(repeating: 1, count: 16 - m.count)
            default: throw SluiceError("Error: unknown prio option \"\(k)\" (expected: bands, priomap)")
            }
        }
        if let bad = map.first(where: { $0 >= bands || $0 < 0 }) {
            throw SluiceError("Error: priomap band \(bad) is out of range for \(bands) bands")
        }
        // Shrinking drops the packets of removed bands (counted), as prio_tune does.
        while children.count > bands {
            let c = children.removeLast()
            stats.drops &+= UInt64(c.statsSnapshot().qlen)
            c.reset()
        }
        while children.count < bands {
            children.append(FifoQdisc(kind: "pfifo", handle: .unspec, parent: TcHandle(handle.major, UInt16(children.count + 1)), env: env))
        }
        bandCount = bands
        priomap = map
    }

    override func attached() {
        if children.isEmpty {
            var a = TcArgs([])
            try? change(&a)
        }
    }

    func band(for p: borrowing Packet, _ r: TcResult?) -> Int {
        let prio = pool.metas[Int(p.index)].priority
        if prio >> 16 == UInt32(handle.major), prio & 0xFFFF > 0, Int(prio & 0xFFFF) <= bandCount { return Int(prio & 0xFFFF) - 1 }
        if case .classid(let c)? = r, c.minor > 0, Int(c.minor) <= bandCount { return Int(c.minor) - 1 }
        return priomap[Int(prio & 15)]
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        switch classifyForEnqueue(p) {
        case .done(let v): return v
        case .go(let pk, let r):
            let b = band(for: pk, r)
            let v = children[b].enqueue(pk)
            if v == .dropped || v == .congestion { stats.drops &+= 1 }
            return v
        }
    }

    override func dequeue() -> Packet? {
        for c in children {
            if let p = c.dequeue() { countSent(len(p)); return p }
        }
        return nil
    }

    override func peekLength() -> Int? {
        for c in children { if let l = c.peekLength() { return l } }
        return nil
    }

    override func reset() { for c in children { c.reset() } }
    override var watchdog: UInt64 { children.map(\.watchdog).filter { $0 > 0 }.min() ?? 0 }

    override func dumpOptions() -> String { "bands \(bandCount) priomap " + priomap.map(String.init).joined(separator: " ") }
    override func childQdiscs() -> [Qdisc] { children }

    override func classes() -> [QdiscClassInfo] {
        children.enumerated().map { i, c in
            QdiscClassInfo(classid: TcHandle(handle.major, UInt16(i + 1)), parent: handle, leaf: c, options: "", stats: c.statsSnapshot(), xstats: "")
        }
    }

    override func graft(_ classid: TcHandle, _ q: Qdisc) throws(SluiceError) -> Qdisc {
        let b = Int(classid.minor) - 1
        guard classid.major == handle.major, b >= 0, b < bandCount else { throw SluiceError("Error: Failed to find specified qdisc.") }
        let old = children[b]
        q.parent = classid
        children[b] = q
        return old
    }
}
