/// Principles (drivers/net/ifb.c)
/// ----------
/// The Intermediate Functional Block: a device whose only traffic is what tc's mirred
/// redirects to it. A packet redirected to an ifb's egress goes through the ifb's root qdisc —
/// so traffic received on a port can be shaped by any qdisc, the classic use — and is then
/// given back where the redirect ran: received again on that device if the redirect ran at
/// its ingress (netif_receive_skb), sent again from it if at its egress (dev_queue_xmit). What
/// it gives back skips the tc ingress hook, or the first actions at egress, once
/// (tc_skip_classify), so it is not redirected again. A packet that was not redirected (a
/// mirror, or anything else sent to the ifb) is dropped and counted (rx_dropped). The ifb
/// counts what reaches it as received and what it gives back as sent; a packet whose device is
/// gone is dropped (tx_dropped).
final class IFBDriver: NetDriver {
    override var supportedFeatures: DeviceFeatures { .offloads }

    /// ifb_xmit and ifb_ri_tasklet in one step: the qdisc has already released the packets.
    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        let pool = dp.pool
        batch.drain { p in
            let m = pool.meta(p)
            let len = UInt64(m.pointee.length)
            dev.stats.rxPackets &+= 1
            dev.stats.rxBytes &+= len
            let flags = m.pointee.tcFlags
            let back = m.pointee.redirIif
            guard flags & PacketMeta.redirected != 0, back != 0 else {
                dev.stats.rxDropped &+= 1
                pool.free(p)
                return
            }
            guard dp.device(back) != nil else {
                dev.stats.txDropped &+= 1
                pool.free(p)
                return
            }
            m.pointee.tcFlags = (flags & ~(PacketMeta.redirected | PacketMeta.fromIngress)) | PacketMeta.skipClassify
            dev.stats.txPackets &+= 1
            dev.stats.txBytes &+= len
            if flags & PacketMeta.fromIngress != 0 {
                dp.divert(p, to: back, egress: false)
            } else {
                dp.stage(back, p)
            }
        }
    }
}

extension Datapath {
    /// `link add NAME type ifb`: queue length 32 (TX_Q_LIMIT), no ARP, every offload.
    @discardableResult
    public func addIFB(name: String, mac: MACAddress? = nil, mtu: Int = 1500) throws(SluiceError) -> NetDevice {
        let dev = NetDevice(name: name, kind: "ifb", mac: mac ?? .local(seed: stableHash(name) ^ 0x1FB), mtu: mtu, driver: IFBDriver())
        dev.flags.insert(.noARP)           // ifb_setup: IFF_NOARP, and no IFF_MULTICAST
        dev.flags.remove(.multicast)
        dev.txQueueLen = 32
        dev.tsoMaxSize = NetDevice.gsoMaxSizeLimit   // ifb_setup: netif_set_tso_max_size(dev, GSO_MAX_SIZE)
        try register(dev)
        return dev
    }
}
