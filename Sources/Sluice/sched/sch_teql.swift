/// Principles (net/sched/sch_teql.c)
/// ----------
/// `teql0`, the slave side of the "true link equalizer": the qdisc a device gets when it is
/// made a slave of the teql0 master. As teql_qdisc_init and teql_enqueue/teql_dequeue:
/// - root only (EOPNOTSUPP, "sch_teql: teql can only be used as root");
/// - no options: whatever TCA_OPTIONS holds is ignored, and nothing is dumped;
/// - a FIFO bounded by the device's txqueuelen read at each enqueue (not a limit fixed at
///   creation, as pfifo's), dropping at the tail past it.
/// - its queue holds what is sent to the slave itself: the master's packets go past it,
///   straight to the slave's driver (drivers/TeqlDriver.swift);
/// - found empty by a dequeue, it makes its slave the master's head (teql_dequeue), so an
///   idle link is tried first.
final class TeqlQdisc: Qdisc {
    var q = PacketQueue()
    /// The master whose ring this slave joined, once grafted.
    weak var master: TeqlDriver?
    var slaveIfindex: Int32 = 0

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
        guard let p = q.pop(pool) else { master?.slaveIdle(self); return nil }
        accountOut(len(p), segs: segs(p))
        return p
    }

    override func peekLength() -> Int? { q.peekIndex.map { Int(pool.metas[Int($0)].pktLen) } }
    override func reset() { q.purge(pool); stats.qlen = 0; stats.backlog = 0 }
}
