/// Principles (drivers/net/dummy.c)
/// ----------
/// A device with no wire: it never receives, and what it is sent is counted (tx_packets,
/// tx_bytes) and freed, as the kernel's dummy does. It offers every offload, so nothing is
/// segmented or checksummed on its way to nowhere. Useful to configure and test tc (the
/// kernel's own tc tests use dummy devices) and as an anchor for addresses.
final class DummyDriver: NetDriver {
    override var supportedFeatures: DeviceFeatures { .offloads }
    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        var bytes: UInt64 = 0
        for i in 0..<batch.count { bytes &+= UInt64(dp.pool.metas[Int(batch.index(at: i))].length) }
        dev.stats.txPackets &+= UInt64(batch.count)
        dev.stats.txBytes &+= bytes
        batch.freeAll(dp.pool)
    }
}

extension Datapath {
    /// `link add NAME type dummy`
    @discardableResult
    public func addDummy(name: String, mac: MACAddress? = nil, mtu: Int = 1500) throws(SluiceError) -> NetDevice {
        let dev = NetDevice(name: name, kind: "dummy", mac: mac ?? .local(seed: stableHash(name) ^ 0xD0), mtu: mtu, driver: DummyDriver())
        dev.flags.insert(.noARP)
        dev.flags.remove(.multicast)
        dev.noQueue = true
        dev.operstateUnknown = true
        try register(dev)
        return dev
    }
}
