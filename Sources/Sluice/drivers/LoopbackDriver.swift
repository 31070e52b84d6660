/// Principles (drivers/net/loopback.c)
/// ----------
/// `lo`: what it is sent comes back as received on it (loopback_xmit hands the frame to
/// netif_rx), through its own NAPI poll, so tc on `lo` and `mirred … dev lo` behave as on the
/// kernel's. As the kernel's: ifindex 1 when made first (the daemon makes it before anything
/// else), MTU 65536, the all-zero address, LOOPBACK, no queue (IFF_NO_QUEUE), every
/// offload, carrier always on, no link kind (it cannot be added or deleted); it counts what it
/// carries on both sides. Up, it has 127.0.0.1/8 and ::1 (inetdev_event, init_loopback).
/// Frames move by pool index; a full backlog (netdev_max_backlog, 1000) drops and counts.
final class LoopbackDriver: NetDriver {
    var backlog = RxBacklog()

    override var supportedFeatures: DeviceFeatures { .offloads }
    override var hasPendingRx: Bool { !backlog.isEmpty }

    override func poll(_ dp: Datapath, _ dev: NetDevice, into batch: inout PacketBatch, budget: Int) -> Int {
        backlog.poll(dp.pool, into: &batch, budget: budget)
    }

    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        let (sent, bytes, dropped) = backlog.take(&batch, dp.pool)
        dev.stats.txPackets &+= sent
        dev.stats.txBytes &+= bytes
        if dropped > 0 { dev.stats.txDropped &+= dropped; dev.drop(.txBusy, dropped) }
        if sent > 0 { dp.napiSchedule(dev) }
    }

    override func purge(_ pool: PacketPool) { backlog.purge(pool) }
}

extension Datapath {
    /// The loopback device `lo` (loopback_net_init), up.
    @discardableResult
    public func addLoopback() throws(SluiceError) -> NetDevice {
        let dev = NetDevice(name: "lo", kind: "loopback", mac: MACAddress(raw: 0), mtu: 65536, driver: LoopbackDriver())
        dev.flags = [.loopback]
        dev.noQueue = true
        dev.operstateUnknown = true
        try register(dev)
        ipv4.fib.loopbackIndex = dev.ifindex
        ipv6.fib.loopbackIndex = dev.ifindex
        dev.carrier = true
        try setUp(dev, true)
        return dev
    }
}
