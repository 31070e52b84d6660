/// Principles (RFC 8289, include/net/codel_impl.h)
/// ----------
/// CoDel watches each packet's sojourn time (now − enqueue time). When the sojourn time has
/// stayed above `target` for a whole `interval` (and more than one MTU is queued), it enters
/// the dropping state and drops (or ECN-marks) one packet, then the next at
/// interval / √count later, count growing by one each time: the control law. It leaves the
/// dropping state as soon as a packet's sojourn falls below target. Re-entering soon after
/// leaving resumes near the previous count (count − lastcount), so the drop rate picks up
/// where it was.

/// Per-queue CoDel state (struct codel_vars) and statistics.
struct CoDelVars {
    var count: UInt32 = 0
    var lastcount: UInt32 = 0
    var dropping = false
    var firstAboveTime: UInt64 = 0
    var dropNext: UInt64 = 0
    var ldelay: UInt64 = 0
}

struct CoDelParams {
    var target: UInt64 = 5 * Time.ms
    var interval: UInt64 = 100 * Time.ms
    var ceThreshold: UInt64 = 0        // 0: off
    var ecn = false
    var mtu = 1514
}

struct CoDelStats {
    var maxpacket = 0
    var dropCount: UInt64 = 0
    var ecnMark: UInt64 = 0
    var ceMark: UInt64 = 0
}

enum CoDel {
    /// t + interval / √count.
    @inline(__always)
    static func controlLaw(_ t: UInt64, _ interval: UInt64, _ count: UInt32) -> UInt64 {
        t &+ UInt64(Double(interval) / Double(max(count, 1)).squareRoot())
    }

    /// codel_should_drop for the packet at `idx` with `backlog` bytes still queued after it.
    static func shouldDrop(_ idx: UInt32?, _ pool: PacketPool, _ v: inout CoDelVars, _ p: CoDelParams,
                           _ st: inout CoDelStats, backlog: UInt64, now: UInt64) -> Bool {
        guard let idx else { v.firstAboveTime = 0; return false }
        let m = pool.metas[Int(idx)]
        v.ldelay = now &- m.timestamp
        st.maxpacket = max(st.maxpacket, Int(m.pktLen))
        if v.ldelay < p.target || backlog <= UInt64(p.mtu) {
            v.firstAboveTime = 0
            return false
        }
        if v.firstAboveTime == 0 {
            v.firstAboveTime = now &+ p.interval
        } else if now >= v.firstAboveTime {
            return true
        }
        return false
    }

    /// codel_dequeue over a queue: returns the packet to send (or nil), dropping or marking on
    /// the way as the control law says. `drop` frees a packet and does the owner's accounting.
    /// The "less than one MTU queued" test reads the whole qdisc's backlog, as the kernel passes
    /// `sch->qstats.backlog`: `q`'s bytes plus `otherBacklog`, what the qdisc holds elsewhere
    /// (fq_codel's other flows).
    static func dequeue(_ q: inout PacketQueue, _ pool: PacketPool, _ v: inout CoDelVars, _ p: CoDelParams,
                        _ st: inout CoDelStats, now: UInt64, otherBacklog: UInt64 = 0,
                        drop: (consuming Packet) -> Void) -> Packet? {
        guard var pkt = q.pop(pool) else { v.dropping = false; return nil }
        var isDrop = shouldDrop(pkt.index, pool, &v, p, &st, backlog: q.bytes &+ otherBacklog, now: now)
        if v.dropping {
            if !isDrop {
                v.dropping = false
            } else if now >= v.dropNext {
                while v.dropping && now >= v.dropNext {
                    v.count &+= 1
                    if p.ecn && ECN.setCE(pool, pkt.index) {
                        st.ecnMark &+= 1
                        v.dropNext = controlLaw(v.dropNext, p.interval, v.count)
                        break
                    }
                    drop(pkt)
                    st.dropCount &+= 1
                    guard let n = q.pop(pool) else { v.dropping = false; v.firstAboveTime = 0; return nil }
                    pkt = n
                    if !shouldDrop(pkt.index, pool, &v, p, &st, backlog: q.bytes &+ otherBacklog, now: now) {
                        v.dropping = false
                    } else {
                        v.dropNext = controlLaw(v.dropNext, p.interval, v.count)
                    }
                }
            }
        } else if isDrop {
            if p.ecn && ECN.setCE(pool, pkt.index) {
                st.ecnMark &+= 1
            } else {
                drop(pkt)
                st.dropCount &+= 1
                guard let n = q.pop(pool) else { v.firstAboveTime = 0; return enterDropping(&v, p, now: now) }
                pkt = n
                isDrop = shouldDrop(pkt.index, pool, &v, p, &st, backlog: q.bytes &+ otherBacklog, now: now)
            }
            _ = enterDropping(&v, p, now: now)
        }
        if p.ceThreshold > 0, now &- pool.metas[Int(pkt.index)].timestamp > p.ceThreshold, ECN.setCE(pool, pkt.index) {
            st.ceMark &+= 1
        }
        return pkt
    }

    private static func enterDropping(_ v: inout CoDelVars, _ p: CoDelParams, now: UInt64) -> Packet? {
        v.dropping = true
        let delta = v.count &- v.lastcount
        if delta > 1 && v.count > v.lastcount && now &- v.dropNext < 16 &* p.interval {
            v.count = delta
        } else {
            v.count = 1
        }
        v.lastcount = v.count
        v.dropNext = controlLaw(now, p.interval, v.count)
        return nil
    }
}

/// ECN: marks Congestion Experienced on an ECN-capable IPv4/IPv6 packet (INET_ECN_set_ce).
enum ECN {
    static func setCE(_ pool: PacketPool, _ idx: UInt32) -> Bool {
        let m = pool.metas[Int(idx)]
        guard pool.refs[Int(pool.dataOf[Int(idx)])] == 1 else { return false }   // shared bytes: don't write
        let d = pool.base + Int(pool.dataOf[Int(idx)]) * PacketPool.bufferSize + Int(m.dataOffset)
        let len = Int(m.length)
        guard len >= 14 else { return false }
        var l3 = 14
        var type = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        if type == EtherType.vlan, len >= 18 { type = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: 16, as: UInt16.self)); l3 = 18 }
        if type == EtherType.ipv4 && len >= l3 + 20 {
            let tos = d.load(fromByteOffset: l3 + 1, as: UInt8.self)
            guard tos & 3 != 0 else { return false }       // Not-ECT
            if tos & 3 == 3 { return true }
            // RFC 1624 incremental update of the header checksum.
            let old = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: l3, as: UInt16.self))
            let new = old | 3
            d.storeBytes(of: UInt8(tos | 3), toByteOffset: l3 + 1, as: UInt8.self)
            var sum = UInt32(~UInt16(bigEndian: d.loadUnaligned(fromByteOffset: l3 + 10, as: UInt16.self))) + UInt32(~old) + UInt32(new)
            sum = (sum & 0xFFFF) + (sum >> 16); sum = (sum & 0xFFFF) + (sum >> 16)
            d.storeBytes(of: (~UInt16(sum)).bigEndian, toByteOffset: l3 + 10, as: UInt16.self)
            return true
        }
        if type == EtherType.ipv6 && len >= l3 + 40 {
            let w = UInt32(bigEndian: d.loadUnaligned(fromByteOffset: l3, as: UInt32.self))
            guard (w >> 20) & 3 != 0 else { return false }
            d.storeBytes(of: (w | (3 << 20)).bigEndian, toByteOffset: l3, as: UInt32.self)
            return true
        }
        return false
    }
}

/// codel (sch_codel.c): one FIFO under CoDel; `limit` packets (default 1000).
final class CoDelQdisc: Qdisc {
    var params = CoDelParams()
    var vars = CoDelVars()
    var cstats = CoDelStats()
    var limit = 1000
    var dropOverlimit: UInt64 = 0
    var q = PacketQueue()

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "codel", handle: handle, parent: parent, env: env)
        params.mtu = env.mtu
    }


    /// codel_change: applied whole; a lower limit drops from the head now.
    func configure(limit: Int, params p: CoDelParams) {
        params = p
        self.limit = limit
        // A lower limit drops from the head now (as codel_change does).
        while q.count > limit, let x = q.pop(pool) { accountDropped(len(x)); pool.free(x) }
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        guard q.count < limit else { dropOverlimit &+= 1; return drop(p) }
        let l = len(p)
        pool.metas[Int(p.index)].timestamp = clock.now
        q.push(p, pool)
        accountIn(l)
        return .success
    }

    override func dequeue() -> Packet? {
        let pkt = CoDel.dequeue(&q, pool, &vars, params, &cstats, now: clock.now) { d in
            accountDropped(len(d)); pool.free(d)
        }
        guard let pkt else { return nil }
        accountOut(len(pkt), segs: segs(pkt))
        return pkt
    }

    override func peekLength() -> Int? { q.peekIndex.map { Int(pool.metas[Int($0)].pktLen) } }
    override func reset() { q.purge(pool); stats.qlen = 0; stats.backlog = 0; vars = CoDelVars() }


}


