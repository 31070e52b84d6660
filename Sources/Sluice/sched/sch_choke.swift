#if canImport(Glibc)
import Glibc
#endif

/// Principles (sch_choke.c; Pan, Prabhakar, Psounis: CHOKe, INFOCOM 2000)
/// ----------
/// RED on a queue counted in packets, plus CHOKe's flow test: once the average exceeds `min`,
/// each arriving packet is compared with one drawn at random from the queue; if they belong to
/// the same flow (EtherType, IP protocol, addresses and ports) both are dropped (`matched`).
/// Otherwise RED decides: above `max` every packet is dropped (or ECN-marked with `ecn` and
/// without `harddrop`), between the thresholds with RED's spread probability. The queue is a
/// ring of `limit` + 1 rounded up to a power of two; a packet dropped from inside leaves a
/// hole that dequeue and the random draw skip, as the kernel's table does. While empty, the
/// average decays by the Stab table tc sends (red_calc_qavg_from_idle_time).
final class ChokeQdisc: Qdisc {
    var limit = 0, qmin = 0, qmax = 0, wlog = 9, plog = 0, scellLog = 0
    var maxP = 0.02
    var ecn = false, harddrop = false
    var stab = [UInt8](repeating: 0, count: 256)
    var ring: [UInt32] = []
    var mask = 0
    var head = 0, tail = 0
    var qavg = 0.0
    var count = -1
    var threshold = 0.0
    var idleStart: UInt64 = 0
    var rng = SplitMix(seed: 0xC40E)
    var early: UInt64 = 0, pdrop: UInt64 = 0, marked: UInt64 = 0, matched: UInt64 = 0
    static let maxQueue = 128 * 1024

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "choke", handle: handle, parent: parent, env: env)
    }

    /// choke's options as the kernel takes them (struct tc_red_qopt, the Stab table, max_P).
    struct Params {
        var limit: Int, qmin: Int, qmax: Int, wlog: Int, plog: Int, scellLog: Int
        var ecn: Bool, harddrop: Bool
        var stab: [UInt8]
        var maxP: Double
    }

    /// choke_change: red_check_params, the limit, then the ring resized keeping the packets
    /// that fit (the rest dropped, as the kernel's copy does).
    func configure(_ p: Params) throws(SluiceError) {
        func fls(_ v: Int) -> Int { v == 0 ? 0 : Int.bitWidth - v.leadingZeroBitCount }
        guard fls(p.qmin) + p.wlog < 32, fls(p.qmax) + p.wlog < 32, p.scellLog < 32, p.qmax >= p.qmin,
              p.stab.count == 256, p.stab.allSatisfy({ $0 < 32 }) else { throw SluiceError("Error: choke: invalid RED parameters") }
        guard p.limit <= Self.maxQueue else { throw SluiceError("Error: choke: limit above \(Self.maxQueue)") }
        var size = 1
        while size < p.limit + 1 { size <<= 1 }
        if size - 1 != mask || ring.isEmpty {
            var kept: [UInt32] = []
            while head != tail {
                let i = ring[head]
                head = (head + 1) & mask
                if i == PacketQueue.empty { continue }
                if kept.count < size - 1 { kept.append(i) } else {
                    let l = Int(pool.metas[Int(i)].pktLen)
                    stats.qlen -= 1; stats.backlog &-= UInt64(l); stats.drops &+= 1
                    pool.free(Packet(index: i))
                }
            }
            ring = [UInt32](repeating: PacketQueue.empty, count: size)
            for (k, i) in kept.enumerated() { ring[k] = i }
            mask = size - 1; head = 0; tail = kept.count
        }
        limit = p.limit; qmin = p.qmin; qmax = p.qmax; wlog = p.wlog; plog = p.plog; scellLog = p.scellLog
        ecn = p.ecn; harddrop = p.harddrop; stab = p.stab; maxP = p.maxP
        qavg = 0; count = -1
        if head == tail { idleStart = clock.now }
    }

    var weight: Double { 1.0 / Double(1 << wlog) }
    var queued: Int { (tail &- head) & mask }

    /// red_calc_qavg_from_idle_time: the Stab shift for the idle time, or the linear start.
    func decayedAverage(_ now: UInt64) -> Double {
        let usIdle = min(Double(now &- idleStart) / 1000, Double(255 << scellLog))
        let shift = stab[(Int(usIdle) >> scellLog) & 0xFF]
        if shift > 0 { return qavg / Double(1 << Int(shift)) }
        let lin = qavg * usIdle / Double(1 << scellLog)
        return lin < qavg / 2 ? qavg - lin : qavg / 2
    }

    /// The flow of a queued or arriving packet (make_flow_keys_digest's fields).
    func flow(_ i: UInt32) -> (UInt64, UInt64, UInt64, UInt64, UInt64) {
        let m = pool.metas[Int(i)]
        let d = pool.data(Packet(index: i))
        let len = Int(m.length)
        let pf = ParsedFrame(d, len, m)
        var t = (UInt64(pf.proto) << 8 | UInt64(pf.ipProto), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        func w(_ o: Int) -> UInt64 { UInt64(HeaderEdit.loadBE(d, len, at: o, size: 4) ?? 0) }
        if pf.proto == EtherType.ipv4 {
            t.1 = w(pf.l3 + 12); t.2 = w(pf.l3 + 16)
        } else if pf.proto == EtherType.ipv6 {
            t.1 = w(pf.l3 + 8) << 32 | w(pf.l3 + 12); t.2 = w(pf.l3 + 16) << 32 | w(pf.l3 + 20)
            t.3 = w(pf.l3 + 24) << 32 | w(pf.l3 + 28); t.4 = w(pf.l3 + 32) << 32 | w(pf.l3 + 36)
        }
        if pf.l4 >= 0 && (pf.ipProto == IPProto.tcp || pf.ipProto == IPProto.udp) { t.0 |= w(pf.l4) << 24 }
        return t
    }

    /// choke_peek_random: up to three draws for a slot that is not a hole, else the head.
    func randomSlot() -> Int {
        var idx = head
        for _ in 0..<3 {
            idx = (head + Int(rng.next() % UInt64(max(queued, 1)))) & mask
            if ring[idx] != PacketQueue.empty { return idx }
        }
        return head
    }

    /// choke_zap_head_holes / tail_holes.
    func zapHoles() {
        while head != tail && ring[head] == PacketQueue.empty { head = (head + 1) & mask }
        while head != tail && ring[(tail - 1) & mask] == PacketQueue.empty { tail = (tail - 1) & mask }
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        guard !ring.isEmpty else { return drop(p) }
        let now = clock.now
        if idleStart > 0 { qavg = decayedAverage(now); idleStart = 0 }
        qavg += weight * (Double(stats.qlen) - qavg)
        if qavg <= Double(qmin) {
            count = -1
        } else {
            if head != tail {
                let idx = randomSlot()
                let other = ring[idx]
                if other != PacketQueue.empty && flow(other) == flow(p.index) {
                    // choke_drop_by_idx, then the arriving packet.
                    matched &+= 1
                    ring[idx] = PacketQueue.empty
                    zapHoles()
                    let l = Int(pool.metas[Int(other)].pktLen)
                    stats.qlen -= 1; stats.backlog &-= UInt64(l); stats.drops &+= 1
                    pool.free(Packet(index: other))
                    _ = drop(p)
                    return .congestion
                }
            }
            if qavg > Double(qmax) {
                count = -1
                stats.overlimits &+= 1
                if harddrop || !ecn || !ECN.setCE(pool, p.index) { early &+= 1; _ = drop(p); return .congestion }
                marked &+= 1
            } else {
                count += 1
                if count == 0 {
                    threshold = rng.nextDouble()
                } else if Double(count) * maxP * (qavg - Double(qmin)) / Double(max(qmax - qmin, 1)) >= threshold {
                    count = 0
                    threshold = rng.nextDouble()
                    stats.overlimits &+= 1
                    if !ecn || !ECN.setCE(pool, p.index) { early &+= 1; _ = drop(p); return .congestion }
                    marked &+= 1
                }
            }
        }
        guard stats.qlen < limit else { pdrop &+= 1; return drop(p) }
        let l = len(p)
        ring[tail] = p.index
        _ = consume p
        tail = (tail + 1) & mask
        accountIn(l)
        return .success
    }

    override func dequeue() -> Packet? {
        guard head != tail else {
            if idleStart == 0 { idleStart = clock.now }
            return nil
        }
        let i = ring[head]
        ring[head] = PacketQueue.empty
        zapHoles()
        let p = Packet(index: i)
        accountOut(len(p), segs: segs(p))
        return p
    }

    override func peekLength() -> Int? { head == tail ? nil : Int(pool.metas[Int(ring[head])].pktLen) }

    override func reset() {
        while head != tail {
            let i = ring[head]
            if i != PacketQueue.empty { pool.free(Packet(index: i)) }
            ring[head] = PacketQueue.empty
            head = (head + 1) & mask
        }
        head = 0; tail = 0
        stats.qlen = 0; stats.backlog = 0
        qavg = 0; count = -1; idleStart = clock.now
    }

    /// tc_red_eval_idle_damping: Scell_log and the Stab table for `avpkt` bytes at `bps`.
    static func idleDamping(wlog: Int, avpkt: Int, bytesPerSecond: UInt64) -> (Int, [UInt8])? {
        let xmit = Double(TcCore.xmittime(rate: bytesPerSecond, size: UInt32(clamping: avpkt)))
        let lW = -log(1.0 - 1.0 / Double(1 << wlog)) / xmit
        let maxtime = 31 / lW
        var clog = 0
        while clog < 32 && maxtime / Double(1 << clog) >= 512 { clog += 1 }
        guard clog < 32 else { return nil }
        var s = [UInt8](repeating: 0, count: 256)
        for i in 1..<255 { s[i] = UInt8(min(31, Double(i << clog) * lW)) }
        s[255] = 31
        return (clog, s)
    }
}
