/// Principles (net/sched/sch_teql.c)
/// ----------
/// `teql0`, the slave side of the "true link equalizer": the qdisc a device gets when it is
/// made a slave of the teql0 master. As teql_qdisc_init and teql_enqueue/teql_dequeue:
/// - root only (EOPNOTSUPP, "sch_teql: teql can only be used as root");
/// - no options: whatever TCA_OPTIONS holds is ignored, and nothing is dumped;
/// - a FIFO bounded by the device's txqueuelen read at each enqueue (not a limit fixed at
///   creation, as pfifo's), dropping at the tail past it.
/// Not built: the master device teql0 itself (an ARPHRD_VOID device that resolves each
/// packet's neighbour on the next slave and round-robins over the slaves' queues). So a teql0
/// qdisc queues its own device's traffic, as a slave does, and nothing is equalized.
final class TeqlQdisc: Qdisc {
    var q = PacketQueue()

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "teql0", handle: handle, parent: parent, env: env)
    }

    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        guard q.count < env.txQueueLen else { return drop(p) }
        let l = len(p)
        q.push(p, pool)
        accountIn(l)
        return .success
    }

    override func dequeue() -> Packet? {
        guard let p = q.pop(pool) else { return nil }
        accountOut(len(p), segs: segs(p))
        return p
    }

    override func peekLength() -> Int? { q.peekIndex.map { Int(pool.metas[Int($0)].pktLen) } }
    override func reset() { q.purge(pool); stats.qlen = 0; stats.backlog = 0 }
}
