/// Principles (sch_ingress.c)
/// ----------
/// ingress and clsact are not queues: they are places to hang filters. ingress (handle ffff:)
/// runs its block on every received packet before the device's rx handler (the bridge);
/// clsact adds a second block run on every packet being transmitted, before the root qdisc.
/// The filters' actions decide: pass on, drop (counted), or take the packet (mirred redirect).
/// A class id from an egress filter becomes skb->priority, as with tc's `classid` on clsact.
final class IngressQdisc: Qdisc {
    let clsact: Bool
    var egressFilters = FilterBlock()

    init(clsact: Bool, env: QdiscEnv) {
        self.clsact = clsact
        super.init(kind: clsact ? "clsact" : "ingress", handle: TcHandle(0xFFFF, 0), parent: .ingress, env: env)
    }

    var hasEgress: Bool { clsact && !egressFilters.isEmpty }

    /// Runs `block` on every packet of `batch`, keeping those that pass.
    func run(_ block: FilterBlock, _ batch: inout PacketBatch, egress: Bool) {
        if block.isEmpty { return }
        let pool = self.pool
        let now = clock.now
        var out = PacketBatch()
        batch.drain { p in
            var idx = p.index
            _ = consume p
            let l = Int(pool.metas[Int(idx)].length)
            switch block.run(&idx, pool: pool, now: now) {
            case .drop?:
                stats.drops &+= 1
                pool.free(Packet(index: idx))
            case .stolen?:
                stats.packets &+= 1; stats.bytes &+= UInt64(l)
            case .classid(let c)?:
                if egress { pool.metas[Int(idx)].priority = c.raw }
                stats.packets &+= 1; stats.bytes &+= UInt64(l)
                out.append(Packet(index: idx))
            default:
                stats.packets &+= 1; stats.bytes &+= UInt64(l)
                out.append(Packet(index: idx))
            }
        }
        swap(&batch, &out)
        out.freeAll(pool)
    }

    func handleIngress(_ batch: inout PacketBatch) { run(filters, &batch, egress: false) }
    func handleEgress(_ batch: inout PacketBatch) { run(egressFilters, &batch, egress: true) }

    override func printOptions(details: Bool) -> String { clsact ? "" : "---------------- " }
    override var refcnt: Int { 1 }
}
