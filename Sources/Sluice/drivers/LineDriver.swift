/// Principles
/// ----------
/// An egress "wire" of a given bit rate, for offline runs in virtual time: it takes a packet
/// only when the line is free, and then stays busy for the packet's serialization time
/// (bytes + `overhead`) × 8 / rate. That is what makes a queue build up in front of it, so the
/// same qdisc code that runs live is exercised by a replay. Transmitted packets are written to a
/// pcap file stamped with the time they started on the line, and their queueing delay
/// (start − enqueue) is recorded for percentiles.
final class LineDriver: NetDriver {
    let rate: UInt64
    let overhead: Int
    var lineFree: UInt64 = 0
    let sink: PcapDriver?
    var delays: [UInt64] = []
    var sentBytes: UInt64 = 0
    var sentPackets: UInt64 = 0

    init(rate: UInt64, overhead: Int = 0, output: String?) throws(SluiceError) {
        self.rate = rate
        self.overhead = overhead
        sink = try output.map { path throws(SluiceError) in try PcapDriver(input: nil, output: path) }
        delays.reserveCapacity(1 << 16)
    }

    override var supportedFeatures: DeviceFeatures { [.sg, .hwCsum] }
    override func txReady(_ now: UInt64) -> Bool { lineFree <= now }
    override func txReadyAt(_ now: UInt64) -> UInt64 { lineFree > now ? lineFree : 0 }
    override func txAdmit(_ bytes: Int, _ now: UInt64) {
        lineFree = max(lineFree, now) &+ l2t(bytes + overhead, rate)
    }

    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        let pool = dp.pool
        let now = dp.clock.now
        for i in 0..<batch.count {
            let m = pool.metas[Int(batch.index(at: i))]
            delays.append(now &- m.timestamp)
            sentBytes &+= UInt64(m.length)
        }
        sentPackets &+= UInt64(batch.count)
        if let sink {
            sink.transmit(dp, dev, &batch)      // counts tx_packets/tx_bytes
        } else {
            var bytes: UInt64 = 0
            for i in 0..<batch.count { bytes &+= UInt64(pool.metas[Int(batch.index(at: i))].length) }
            dev.stats.txPackets &+= UInt64(batch.count)
            dev.stats.txBytes &+= bytes
            batch.freeAll(pool)
        }
    }

    override func close() { sink?.close() }
    override var details: String { "line rate \(TcFormat.rate(rate)) overhead \(overhead)" }
}

extension Datapath {
    /// An egress device whose wire drains at `rate` (offline replays).
    @discardableResult
    public func addLine(name: String, rate: UInt64, overhead: Int = 0, output: String?, mtu: Int = 1500) throws(SluiceError) -> NetDevice {
        let drv = try LineDriver(rate: rate, overhead: overhead, output: output)
        let dev = NetDevice(name: name, kind: "line", mac: .local(seed: stableHash(name)), mtu: mtu, driver: drv)
        dev.flags.insert(.up)
        try register(dev)
        return dev
    }

    /// Queueing delays recorded by a line device (ns), in transmit order.
    public func lineDelays(_ dev: NetDevice) -> [UInt64] { (dev.driver as? LineDriver)?.delays ?? [] }
}
