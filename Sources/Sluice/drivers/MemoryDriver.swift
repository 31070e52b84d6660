/// Principles
/// ----------
/// An in-memory device for tests and benchmarks, with no kernel behind it.
/// - Receive: frames queued with `inject`, or a generator that copies preloaded templates
///   into pool buffers (`generate`), which allocates nothing per packet.
/// - Transmit: captured as byte arrays (`capture = true`, tests) or counted and freed.
/// - `costPerPacket` advances a virtual clock per received packet, to test time limits.
public final class MemoryDriver: NetDriver {
    public var features: DeviceFeatures
    public var capture = true
    public private(set) var captured: [[UInt8]] = []
    private var queue: [[UInt8]] = []
    private var head = 0
    // Generator: templates stored contiguously, no allocation while generating.
    private var templates: UnsafeMutableRawPointer?
    private var templateLengths: [Int] = []
    private var templateStride = 0
    private var nextTemplate = 0
    public var toGenerate = 0
    public private(set) var transmitted: UInt64 = 0
    public var costPerPacket: UInt64 = 0
    /// Checksum state received frames carry (a NIC that verified checksums: `.unnecessary`).
    public var rxChecksum: ChecksumState = .none
    /// Transmit: at most this many packets per call are taken; the rest are left (driver busy).
    public var txPerCall = Int.max

    public init(features: DeviceFeatures = []) { self.features = features }
    deinit { templates?.deallocate() }

    override var supportedFeatures: DeviceFeatures { features }
    override var hasPendingRx: Bool { head < queue.count || toGenerate > 0 }

    /// Queues a frame to be received.
    public func inject(_ frame: [UInt8]) { queue.append(frame) }
    public var pending: Int { queue.count - head + toGenerate }

    /// Preloads templates for `generate`.
    public func setTemplates(_ frames: [[UInt8]]) {
        templates?.deallocate()
        templateStride = ((frames.map(\.count).max() ?? 0) + 63) & ~63
        templateStride = max(templateStride, 64)
        let t = UnsafeMutableRawPointer.allocate(byteCount: templateStride * frames.count, alignment: 64)
        for (i, f) in frames.enumerated() { f.withUnsafeBytes { (t + i * templateStride).copyMemory(from: $0.baseAddress!, byteCount: f.count) } }
        templates = t
        templateLengths = frames.map(\.count)
        nextTemplate = 0
    }

    public func takeCaptured() -> [[UInt8]] { defer { captured = [] }; return captured }

    override func poll(_ dp: Datapath, _ dev: NetDevice, into batch: inout PacketBatch, budget: Int) -> Int {
        let pool = dp.pool
        var got = 0
        while got < budget && head < queue.count {
            guard let p = pool.alloc() else { dev.stats.rxMissedErrors &+= 1; dev.drop(.noBuffer); break }
            queue[head].withUnsafeBytes { pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
            if rxChecksum == .unnecessary { pool.meta(p).pointee.csum = .unnecessary }
            head += 1
            batch.append(p)
            got += 1
        }
        if head == queue.count && head > 0 { queue.removeAll(keepingCapacity: true); head = 0 }
        if let t = templates {
            while got < budget && toGenerate > 0 {
                guard let p = pool.alloc() else { dev.stats.rxMissedErrors &+= 1; dev.drop(.noBuffer); break }
                let k = nextTemplate
                nextTemplate = k + 1 == templateLengths.count ? 0 : k + 1
                pool.setFrame(p, from: t + k * templateStride, count: templateLengths[k])
                if rxChecksum == .unnecessary { pool.meta(p).pointee.csum = .unnecessary }
                batch.append(p)
                toGenerate -= 1
                got += 1
            }
        }
        if costPerPacket > 0 && dp.clock.mode == .virtual { dp.clock.advance(by: costPerPacket * UInt64(got)) }
        return got
    }

    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        let pool = dp.pool
        var bytes: UInt64 = 0
        let n = UInt64(min(batch.count, txPerCall))
        for i in 0..<Int(n) {
            let b = batch.withPacket(at: i) { pool.bytes($0) }
            bytes += UInt64(b.count)
            if capture { captured.append(Array(b)) }
        }
        batch.freeFirst(Int(n), pool)
        transmitted &+= n
        dev.stats.txPackets &+= n
        dev.stats.txBytes &+= bytes
    }
}

extension Datapath {
    /// An in-memory device (tests, benchmarks).
    @discardableResult
    public func addMemory(name: String, driver: MemoryDriver = MemoryDriver(), mac: MACAddress? = nil, mtu: Int = 1500) throws(SluiceError) -> NetDevice {
        let dev = NetDevice(name: name, kind: "memory", mac: mac ?? .local(seed: stableHash(name)), mtu: mtu, driver: driver)
        try register(dev)
        return dev
    }

    public func memoryDriver(_ dev: NetDevice) -> MemoryDriver? { dev.driver as? MemoryDriver }
}
