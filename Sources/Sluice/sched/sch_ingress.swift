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
    /// clsact's two blocks share one tc_u_common (block->q is the qdisc).
    override var hasU32Instances: Bool { super.hasU32Instances || !egressFilters.u32Tables.isEmpty }

    /// Runs `block` on every packet of `batch`, keeping those that pass.
    func run(_ block: FilterBlock, _ batch: inout PacketBatch, egress: Bool) {
        if block.isEmpty { return }
        let pool = self.pool
        let now = clock.now
        var drops: UInt64 = 0, packets: UInt64 = 0, bytes: UInt64 = 0
        batch.compact { idx in
            // qdisc_skb_cb(skb)->pkt_len as the kernel sets it before classifying: on ingress
            // skb->len, which starts after the Ethernet header (and after an outer VLAN tag,
            // which the receive path moved out of the frame); on egress qdisc_pkt_len_init's
            // wire length. Policers and the statistics count these bytes.
            let m = pool.metas + Int(idx)
            if egress {
                m.pointee.tcFlags &= ~PacketMeta.atIngress
                if m.pointee.tcFlags & PacketMeta.redirected == 0 { m.pointee.redirIif = env.ifindex }
                m.pointee.pktLen = UInt32(GSO.wireLength(m.pointee))
            } else {
                // What ifb gives back skips the ingress hook once (skb_skip_tc_classify in
                // __netif_receive_skb_core); the rest is marked at ingress.
                if m.pointee.tcFlags & PacketMeta.skipClassify != 0 { m.pointee.tcFlags &= ~PacketMeta.skipClassify; return true }
                m.pointee.tcFlags |= PacketMeta.atIngress
                m.pointee.pktLen = UInt32(max(0, Int(m.pointee.length) - HeaderEdit.macHeaderLength(pool.base + Int(pool.dataOf[Int(idx)]) * PacketPool.bufferSize + Int(m.pointee.dataOffset), Int(m.pointee.length))))
            }
            let l = UInt64(m.pointee.pktLen)
            switch block.run(&idx, pool: pool, now: now) {
            case .drop?:
                drops += 1
                pool.free(Packet(index: idx))
                return false
            case .stolen?:
                packets += 1; bytes += l
                return false
            case .classid(let c)?:
                // tc_run: skb->tc_index = TC_H_MIN(res.classid) on an accepted verdict.
                if !egress { pool.metas[Int(idx)].tcFlags &= ~PacketMeta.redirected }
                pool.metas[Int(idx)].tcIndex = c.minor
                if egress { pool.metas[Int(idx)].priority = c.raw }
                packets += 1; bytes += l
                return true
            case .ok?:
                if !egress { pool.metas[Int(idx)].tcFlags &= ~PacketMeta.redirected }
                pool.metas[Int(idx)].tcIndex = 0
                packets += 1; bytes += l
                return true
            default:
                if !egress { pool.metas[Int(idx)].tcFlags &= ~PacketMeta.redirected }
                packets += 1; bytes += l
                return true
            }
        }
        stats.drops &+= drops; stats.packets &+= packets; stats.bytes &+= bytes
    }

    func handleIngress(_ batch: inout PacketBatch) { run(filters, &batch, egress: false) }
    func handleEgress(_ batch: inout PacketBatch) { run(egressFilters, &batch, egress: true) }

    override var refcnt: Int { 1 }
}
