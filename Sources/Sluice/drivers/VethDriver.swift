/// Principles (drivers/net/veth.c)
/// ----------
/// A pair of devices joined back to back inside the datapath: what one transmits, the other
/// receives, through its own NAPI poll and rx handlers (a bridge port, tc ingress), as the
/// kernel's veth hands a frame to its peer's netif_rx. As the kernel's:
/// - the carrier is on only while both ends are up (veth_open/veth_close);
/// - a frame sent while the peer is not running is dropped and counted on the sender
///   (tx_dropped), as is one that finds the peer's backlog full (netdev_max_backlog, 1000);
/// - every offload is on, so super-frames cross whole, and the default root qdisc is noqueue
///   (IFF_NO_QUEUE);
/// - deleting one end deletes the other.
/// Frames move by pool index (the PacketQueue links through the pool): nothing is copied or
/// allocated per packet.
/// Frames handed from one device's transmit to another's (or its own) receive, as netif_rx
/// queues them: up to netdev_max_backlog (1000), polled by the receiver's NAPI.
struct RxBacklog {
    static let max = 1000
    var queue = PacketQueue()
    var isEmpty: Bool { queue.isEmpty }

    mutating func poll(_ pool: PacketPool, into batch: inout PacketBatch, budget: Int) -> Int {
        var got = 0
        while got < budget, let p = queue.pop(pool) {
            batch.append(p)
            got += 1
        }
        return got
    }

    /// Takes a sender's batch: (frames queued, their bytes, frames dropped for a full backlog).
    mutating func take(_ batch: inout PacketBatch, _ pool: PacketPool) -> (sent: UInt64, bytes: UInt64, dropped: UInt64) {
        var sent: UInt64 = 0, bytes: UInt64 = 0, dropped: UInt64 = 0
        batch.drain { p in
            if queue.count >= Self.max {
                dropped &+= 1
                pool.free(p)
            } else {
                bytes &+= UInt64(pool.metas[Int(p.index)].length)
                sent &+= 1
                queue.push(p, pool)
            }
        }
        return (sent, bytes, dropped)
    }

    mutating func purge(_ pool: PacketPool) { queue.purge(pool) }
}

final class VethDriver: NetDriver {
    /// The other end (weak: each device owns its driver).
    weak var peer: NetDevice?
    /// Frames the peer sent, waiting for this end's poll.
    var backlog = RxBacklog()

    override var supportedFeatures: DeviceFeatures { .offloads }
    override var countsRxMulticast: Bool { false }
    override var hasPendingRx: Bool { !backlog.isEmpty }

    override func poll(_ dp: Datapath, _ dev: NetDevice, into batch: inout PacketBatch, budget: Int) -> Int {
        backlog.poll(dp.pool, into: &batch, budget: budget)
    }

    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        guard let peer, peer.isOperational, let other = peer.driver as? VethDriver else {
            dev.stats.txDropped &+= UInt64(batch.count)
            dev.drop(.devDown, UInt64(batch.count))
            batch.freeAll(dp.pool)
            return
        }
        let (sent, bytes, dropped) = other.backlog.take(&batch, dp.pool)
        dev.stats.txPackets &+= sent
        dev.stats.txBytes &+= bytes
        if dropped > 0 { dev.stats.txDropped &+= dropped; dev.drop(.txBusy, dropped) }
        if sent > 0 { dp.napiSchedule(peer) }
    }

    override func setAdminUp(_ up: Bool, _ dev: NetDevice) throws(SluiceError) {
        let both = up && (peer?.isUp ?? false)
        dev.carrier = both
        peer?.carrier = both
    }

    override func purge(_ pool: PacketPool) { backlog.purge(pool) }
}

extension Datapath {
    /// `link add NAME type veth peer name PEER` (veth_newlink): both ends, carrier off until
    /// both are up.
    @discardableResult
    /// Each end's transmit and receive queues default to the number of possible CPUs
    /// (veth_get_num_queues); `queues`/`peerQueues` are IFLA_NUM_TX_QUEUES/_RX_QUEUES when
    /// given; one transmit queue is in use unless the count was given (veth_init_queues).
    public func addVethPair(name: String, peer peerName: String, mtu: Int = 1500, peerMTU: Int? = nil,
                            queues: (tx: Int?, rx: Int?) = (nil, nil), peerQueues: (tx: Int?, rx: Int?) = (nil, nil)) throws(SluiceError) -> (NetDevice, NetDevice) {
        guard device(named: peerName) == nil, peerName != name else { throw SluiceError("Error: device \"\(peerName)\" already exists") }
        let da = VethDriver(), db = VethDriver()
        let a = NetDevice(name: name, kind: "veth", mac: .local(seed: stableHash(name) ^ 0xE7), mtu: mtu, driver: da)
        let b = NetDevice(name: peerName, kind: "veth", mac: .local(seed: stableHash(peerName) ^ 0xE7), mtu: peerMTU ?? mtu, driver: db)
        for (d, q) in [(a, queues), (b, peerQueues)] {
            d.carrier = false
            d.noQueue = true          // IFF_NO_QUEUE: the kernel's veth has noqueue as its default root
            d.numTxQueues = q.tx ?? Self.possibleCPUs
            d.numRxQueues = q.rx ?? Self.possibleCPUs
            d.realNumTxQueues = q.tx ?? 1               // veth_init_queues: one in use unless asked
            d.tsoMaxSize = NetDevice.gsoMaxSizeLimit   // netif_set_tso_max_size(dev, GSO_MAX_SIZE)
        }
        // veth_newlink registers the peer first: it takes the lower ifindex.
        try register(b)
        do { try register(a) } catch { unregister(b); throw error }
        da.peer = b
        db.peer = a
        return (a, b)
    }

    /// num_possible_cpus() (/sys/devices/system/cpu/possible, e.g. "0-1"), at most 4096.
    static let possibleCPUs: Int = {
        let n = (try? CPUPlan.parseList(readFile("/sys/devices/system/cpu/possible") ?? "").count) ?? 0
        return n > 0 ? min(n, 4096) : 1
    }()

    /// The other end of a veth device, if `dev` is one.
    public func vethPeer(_ dev: NetDevice) -> NetDevice? { (dev.driver as? VethDriver)?.peer }
}
