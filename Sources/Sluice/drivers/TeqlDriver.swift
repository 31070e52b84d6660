/// Principles (net/sched/sch_teql.c, the master half)
/// ----------
/// teql0, the "true link equalizer": a device that sends each packet out of the next of its
/// slaves in turn, so that several links carry one stream. A device becomes a slave by taking
/// the `teql0` qdisc as its root (`tc qdisc add dev eth0 root teql0`); deleting that qdisc (or
/// the device) lets it go. As the kernel's:
/// - teql0 appears when the teql0 qdisc is first asked for (the kernel's module load: Sluice
///   makes it then), an ARPHRD_VOID device with NOARP, MTU 1500 (68–65535), txqueuelen 100,
///   and no link ops: `ip link del` is refused (EOPNOTSUPP) and `ip -d link` shows no kind.
/// - Slaves form a ring; a new one joins after the head (teql_qdisc_init). The first sets the
///   master's MTU and its BROADCAST/POINTOPOINT flags; while the master is down a later one
///   lowers the MTU and clears flags it lacks; while it is up a slave that lacks a flag the
///   master has, or has a smaller MTU, is refused (EINVAL). The master itself cannot be its
///   own slave (ELOOP); teql only as root.
/// - Opening the master needs a slave (EUNATCH) and takes the smallest slave MTU and the flags
///   every slave has (teql_master_open); its MTU cannot exceed a slave's (teql_master_mtu).
/// - Transmit (teql_master_xmit), per packet, from the head of the ring: a slave whose root is
///   no longer this master's qdisc is passed over; one down or whose driver cannot take more
///   is busy. On the others the packet's next hop (kept from routing: netif_keep_dst) is
///   resolved in that slave's neighbour table; with an address the Ethernet header is written
///   for the slave and the packet goes straight to its driver, past its qdisc (which holds only
///   what is sent to the slave itself), and the head moves past it. A first round only starts
///   resolution where none is usable (neigh_event_send without a packet); if no slave could
///   send, a second round queues the packet on the first unresolved neighbour, which sends it
///   through the slave once answered. All slaves busy: the packet waits in the master's qdisc.
///   None usable: tx_errors and tx_dropped. A packet without a next hop (one redirected here)
///   goes out as it is.
/// - A slave's qdisc found empty makes that slave the head (teql_dequeue), so an idle link is
///   tried first.
/// - The master counts only what it sent, dropped or failed (teql_master_stats64): rx is 0.
final class TeqlDriver: NetDriver {
    /// The slaves' ring (teql_master.slaves and NEXT_SLAVE), in ring order; `head` is the one
    /// tried first. A member whose device no longer has that qdisc as root is pruned lazily.
    var ring: [(ifindex: Int32, qdisc: TeqlQdisc)] = []
    var head = 0
    var scratch = PacketBatch()

    override var supportedFeatures: DeviceFeatures { [] }

    /// The slaves still attached (their root is still the qdisc that joined), in ring order;
    /// prunes the others.
    func liveSlaves(_ dp: Datapath) -> [NetDevice] {
        prune(dp)
        return ring.compactMap { dp.device($0.ifindex) }
    }

    /// Drops the members that left (in place: no allocation on the transmit path).
    func prune(_ dp: Datapath) {
        var k = 0
        while k < ring.count {
            if let d = dp.device(ring[k].ifindex), d.qdisc === ring[k].qdisc {
                k += 1
            } else {
                ring.remove(at: k)
                if head > k { head -= 1 }
            }
        }
        if head >= ring.count { head = 0 }
    }

    /// teql_qdisc_init's checks and the join: `q` becomes `dev`'s root once this returns.
    func admit(_ dp: Datapath, master: NetDevice, dev: NetDevice) throws(SluiceError) {
        let slaves = liveSlaves(dp).filter { $0 !== dev }
        guard !slaves.isEmpty else { return }
        if master.isUp {
            let fm = master.flags
            if (fm.contains(.pointToPoint) && !dev.flags.contains(.pointToPoint)) || (fm.contains(.broadcast) && !dev.flags.contains(.broadcast))
                || (fm.contains(.multicast) && !dev.flags.contains(.multicast)) || dev.mtu < master.mtu {
                throw SluiceError("RTNETLINK answers: Invalid argument")
            }
        }
    }

    /// The qdisc `q` is now `dev`'s root: it joins the ring after the head, or starts it.
    func join(_ dp: Datapath, master: NetDevice, dev: NetDevice, _ q: TeqlQdisc) {
        let had = !liveSlaves(dp).filter { $0 !== dev }.isEmpty
        ring.removeAll { $0.ifindex == dev.ifindex }
        if head >= ring.count { head = 0 }
        q.master = self
        q.slaveIfindex = dev.ifindex
        if had {
            if !master.isUp {
                for f in [InterfaceFlags.pointToPoint, .broadcast, .multicast] where !dev.flags.contains(f) { master.flags.remove(f) }
                if dev.mtu < master.mtu { master.mtu = dev.mtu }
            }
            ring.insert((dev.ifindex, q), at: head + 1)
        } else {
            ring = [(dev.ifindex, q)]
            head = 0
            master.mtu = dev.mtu
            master.flags.remove([.pointToPoint, .broadcast])
            master.flags.formUnion(dev.flags.intersection([.pointToPoint, .broadcast]))
        }
    }

    /// teql_dequeue finding its queue empty: that slave is tried first from now on.
    func slaveIdle(_ q: TeqlQdisc) {
        if let k = ring.firstIndex(where: { $0.qdisc === q }) { head = k }
    }

    /// teql_master_open.
    override func setAdminUp(_ up: Bool, _ dev: NetDevice) throws(SluiceError) {
        guard up, let dp = datapath else { return }
        let slaves = liveSlaves(dp)
        guard !slaves.isEmpty else { throw SluiceError("RTNETLINK answers: Protocol driver not attached") }
        var flags: InterfaceFlags = [.broadcast, .pointToPoint]
        var mtu = 0xFFFE
        for s in slaves {
            mtu = min(mtu, s.mtu)
            if !s.flags.contains(.pointToPoint) { flags.remove(.pointToPoint) }
            if !s.flags.contains(.broadcast) { flags.remove(.broadcast) }
            if !s.flags.contains(.multicast) { flags.remove(.multicast) }
        }
        dev.mtu = mtu
        dev.flags.remove([.pointToPoint, .broadcast])
        dev.flags.formUnion(flags)
    }

    /// teql_master_mtu: no larger than any slave's.
    func checkMTU(_ dp: Datapath, _ mtu: Int) throws(SluiceError) {
        if liveSlaves(dp).contains(where: { mtu > $0.mtu }) { throw SluiceError("RTNETLINK answers: Invalid argument") }
    }

    weak var datapath: Datapath?

    override func attach(_ dev: NetDevice, _ dp: Datapath) throws(SluiceError) { datapath = dp }

    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        prune(dp)
        let pool = dp.pool
        let now = dp.clock.now
        var stopped = false
        batch.compact { idx in
            if stopped { return true }
            guard !ring.isEmpty else {
                dev.stats.txDropped &+= 1
                pool.free(Packet(index: idx))
                return false
            }
            let m = pool.metas[Int(idx)]
            let hasNexthop = m.tcFlags & PacketMeta.hasNexthop != 0
            let nexthop = pool.nexthops[Int(idx)]
            let v4 = nexthop >> 32 == 0xFFFF
            var queueAt: (entry: Int, slot: Int)? = nil   // the second round (skb_res): the first unresolved
            for round in 0..<2 {
                var busy = false, nores = false
                let n = ring.count
                let start = head
                for k in 0..<n {
                    let j = (start + k) % n
                    let (si, q) = ring[j]
                    guard let slave = dp.device(si), slave.qdisc === q else { continue }
                    if !slave.isUp || !slave.driver.txReady(now) { busy = true; continue }
                    var mac: MACAddress? = nil
                    if hasNexthop {
                        let r = v4 ? dp.ipv4.resolveForSlave(slave, UInt32(truncatingIfNeeded: nexthop))
                                   : dp.ipv6.resolveForSlave(slave, nexthop)
                        guard let r else { nores = true; continue }          // no neighbour entry to be had
                        guard let a = r.mac else {
                            if round == 1 { queueAt = (r.entry, j); break }
                            nores = true; continue
                        }
                        mac = a
                    }
                    // dev_hard_header for the slave, then netdev_start_xmit on it.
                    var w = idx
                    if let mac {
                        guard let wi = pool.writableIndex(idx) else {
                            dev.stats.txDropped &+= 1; pool.free(Packet(index: idx)); return false
                        }
                        w = wi
                        InetWire.writeEthernet(pool.data(Packet(index: w)), dst: mac, src: slave.mac,
                                               type: v4 ? EtherType.ipv4 : EtherType.ipv6)
                    }
                    let length = UInt64(pool.metas[Int(w)].length)
                    scratch.append(Packet(index: w))
                    slave.driver.transmit(dp, slave, &scratch)
                    if scratch.isEmpty {
                        dev.stats.txPackets &+= 1
                        dev.stats.txBytes &+= length
                        if head == j { head = (j + 1) % n }
                        return false
                    }
                    // The slave's driver turned it away after all: the next slave is tried.
                    scratch.drain { p in idx = p.index; _ = consume p }
                }
                if let (e, j) = queueAt {
                    // The packet waits on that slave's neighbour; the head moves past the slave.
                    if v4 { dp.ipv4.enqueue(e, Packet(index: idx)) } else { dp.ipv6.enqueue(e, Packet(index: idx)) }
                    if head == j { head = (j + 1) % n }
                    return false
                }
                if round == 0 && nores && hasNexthop { continue }
                if busy { stopped = true; return true }
                break
            }
            dev.stats.txErrors &+= 1
            dev.stats.txDropped &+= 1
            pool.free(Packet(index: idx))
            return false
        }
    }

    override var details: String {
        "teql slaves \(ring.count)"
    }
}

extension Datapath {
    /// The teql0 master, made on first use (the kernel's sch_teql module load).
    func teqlMaster() throws(SluiceError) -> NetDevice {
        if let d = device(named: "teql0"), d.driver is TeqlDriver { return d }
        if device(named: "teql0") != nil { throw SluiceError("RTNETLINK answers: File exists") }
        let dev = NetDevice(name: "teql0", kind: "teql", mac: MACAddress(raw: 0), mtu: 1500, driver: TeqlDriver())
        dev.flags = [.noARP]
        dev.txQueueLen = 100
        dev.keepsDst = true
        dev.operstateUnknown = true
        try register(dev)
        return dev
    }
}
