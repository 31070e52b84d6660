/// Principles (drivers/net/vxlan/vxlan_core.c: vxlan_fdb_*, vxlan_snoop, vxlan_cleanup)
/// ----------
/// A VXLAN device's forwarding table: inner MAC → remote endpoints (IPv4 address, UDP port,
/// VNI, underlay device). The all-zeros MAC is the default destination (made from `remote` at
/// creation) and, with several remotes (`bridge fdb append 00:00:00:00:00:00 … dst A`), the
/// head-end replication list: a frame whose destination has no entry goes to each of them.
/// Learning (on unless `nolearning`) records the outer source of what is received, moves a
/// learnt entry whose endpoint changed, refuses (drops) a frame that would move a static one,
/// and ages learnt entries after `ageing` seconds (300). Entries are plain values (no
/// reference inside), so a lookup per frame retains nothing; the second and later remotes of
/// an entry live in a side table only a replicated frame reads.
struct VXLANRemote: Equatable {
    var ip: UInt32
    var port: UInt16
    var vni: UInt32
    var ifindex: Int32
}

struct VXLANFdbEntry {
    var remote: VXLANRemote
    /// Index into `VXLANDriver.moreRemotes` of the second and later remotes, or -1.
    var more: Int32 = -1
    var state: UInt16
    var flags: UInt8
    var updated: UInt64, used: UInt64
    /// Creation order (the dump lists the newest first).
    var seq: UInt64
    var isStatic: Bool { state & (NDA.NUD_PERMANENT | NDA.NUD_NOARP) != 0 }
}

extension VXLANDriver {
    static let zeroMAC: UInt64 = 0

    /// The remotes of an entry, in order (control path).
    func remotes(_ e: VXLANFdbEntry) -> [VXLANRemote] {
        [e.remote] + (e.more >= 0 ? moreRemotes[Int(e.more)] : [])
    }

    func setRemotes(_ key: UInt64, _ list: [VXLANRemote]) {
        guard var e = fdb[key], let first = list.first else { return }
        e.remote = first
        if list.count > 1 {
            if e.more >= 0 { moreRemotes[Int(e.more)] = Array(list.dropFirst()) }
            else if let f = freeMore.popLast() { moreRemotes[Int(f)] = Array(list.dropFirst()); e.more = f }
            else { moreRemotes.append(Array(list.dropFirst())); e.more = Int32(moreRemotes.count - 1) }
        } else if e.more >= 0 {
            moreRemotes[Int(e.more)] = []; freeMore.append(e.more); e.more = -1
        }
        fdb[key] = e
    }

    func removeEntry(_ key: UInt64) {
        guard let e = fdb.removeValue(forKey: key) else { return }
        if e.more >= 0 { moreRemotes[Int(e.more)] = []; freeMore.append(e.more) }
    }

    func create(_ key: UInt64, _ r: VXLANRemote, state: UInt16, flags: UInt8, now: UInt64) throws(VXLANFdbError) {
        if config.maxAddresses != 0 && fdb.count >= config.maxAddresses { throw .full }
        fdbSeq &+= 1
        fdb[key] = VXLANFdbEntry(remote: r, state: state, flags: flags, updated: now, used: now, seq: fdbSeq)
    }

    /// vxlan_fdb_update (a request): create, or change state/flags, replace a unicast entry's
    /// remote, append to a multicast or all-zeros one.
    func update(_ key: UInt64, _ r: VXLANRemote, state: UInt16, flags: UInt8, create mayCreate: Bool, exclusive: Bool,
                replace: Bool, append: Bool, now: UInt64) throws(VXLANFdbError) {
        let unicast = key != Self.zeroMAC && key >> 40 & 1 == 0
        if var e = fdb[key] {
            if exclusive { throw .exists }
            if e.state != state { e.state = state; e.updated = now }
            e.flags = flags
            fdb[key] = e
            if replace {
                guard unicast else { throw .notUnicast }
                setRemotes(key, [r])
            }
            if append && !unicast {
                var list = remotes(e)
                if !list.contains(r) { list.append(r); setRemotes(key, list) }
            }
            return
        }
        guard mayCreate else { throw .notFound }
        if replace && !unicast { throw .notUnicast }
        try create(key, r, state: state, flags: flags, now: now)
    }

    /// __vxlan_fdb_delete: one remote when given and not the only one, else the entry. False only
    /// when there is no entry; a remote the entry does not have changes nothing and, as the
    /// kernel's, is no error.
    func delete(_ key: UInt64, remote: VXLANRemote?) -> Bool {
        guard let e = fdb[key] else { return false }
        var list = remotes(e)
        if let r = remote {
            guard let i = list.firstIndex(where: { $0.ip == r.ip && $0.port == r.port && $0.vni == r.vni && $0.ifindex == r.ifindex }) else { return true }
            if list.count > 1 { list.remove(at: i); setRemotes(key, list); return true }
        }
        removeEntry(key)
        return true
    }

    /// vxlan_snoop: false when the frame must be dropped (it would move a static entry).
    func snoop(_ mac: MACAddress, from ip: UInt32, now: UInt64) -> Bool {
        let key = mac.raw
        if var e = fdb[key] {
            if e.remote.ip == ip && e.remote.ifindex == 0 { return true }
            if e.isStatic { return false }
            e.remote.ip = ip
            e.updated = now
            fdb[key] = e
            learnt &+= 1
            return true
        }
        let r = VXLANRemote(ip: ip, port: config.port, vni: config.vni, ifindex: 0)
        if (try? create(key, r, state: NDA.NUD_REACHABLE, flags: NDA.NTF_SELF, now: now)) != nil { learnt &+= 1 }
        return true
    }

    /// vxlan_cleanup: learnt entries idle for the ageing time go.
    func age(now: UInt64) {
        guard config.ageing > 0, fdb.contains(where: { !$0.value.isStatic }) else { return }
        let limit = UInt64(config.ageing) * Time.s
        for (k, e) in fdb where !e.isStatic && now &- e.updated >= limit { removeEntry(k) }
    }

    /// The entries in dump order (newest first), each remote its own row.
    var dumpRows: [(mac: UInt64, entry: VXLANFdbEntry, remote: VXLANRemote)] {
        fdb.sorted { $0.value.seq > $1.value.seq }.flatMap { kv in remotes(kv.value).map { (kv.key, kv.value, $0) } }
    }
}

enum VXLANFdbError: Error { case exists, notFound, notUnicast, full }

extension VXLANDriver {
    /// vxlan_changelink: the new configuration; a new default remote joins the all-zeros entry
    /// and the old one leaves it.
    func change(to c: Config, now: UInt64) {
        let old = config
        config = c
        guard c.remote != old.remote else { return }
        if c.remote != 0 {
            try? update(Self.zeroMAC, VXLANRemote(ip: c.remote, port: c.port, vni: c.vni, ifindex: c.link),
                        state: NDA.NUD_REACHABLE | NDA.NUD_PERMANENT, flags: NDA.NTF_SELF, create: true, exclusive: false,
                        replace: false, append: true, now: now)
        }
        if old.remote != 0 { _ = delete(Self.zeroMAC, remote: VXLANRemote(ip: old.remote, port: old.port, vni: old.vni, ifindex: old.link)) }
    }
}
