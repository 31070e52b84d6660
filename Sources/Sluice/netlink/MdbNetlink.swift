#if canImport(Glibc)
import Glibc
#endif

/// Principles (net/core/rtnetlink.c: rtnl_mdb_dump, rtnl_mdb_add/del, rtnl_validate_mdb_entry;
/// net/bridge/br_mdb.c: br_mdb_dump, br_mdb_add, br_mdb_del)
/// ----------
/// `bridge mdb`: each bridge's multicast database (bridge/Multicast.swift) as br_mdb_dump
/// gives it — one message per bridge, an MDBA_MDB nest with an entry per group (newest first)
/// and in it one br_mdb_entry per port with its timer and how it was made (kernel: learnt;
/// static: added), then the router ports with their timers. Adding takes a port of the bridge
/// and a group (permanent, or temporary for a membership interval); deleting removes it.
/// A malformed entry gets the kernel's validation answer before anything else.
enum MDBA {
    static let RTM_NEWMDB: UInt16 = 84, RTM_DELMDB: UInt16 = 85, RTM_GETMDB: UInt16 = 86
    static let MDB: UInt16 = 1, ROUTER: UInt16 = 2, SET_ENTRY: UInt16 = 1
    static let MDB_ENTRY: UInt16 = 1, MDB_ENTRY_INFO: UInt16 = 1
    static let EATTR_TIMER: UInt16 = 1, EATTR_RTPROT: UInt16 = 5
    static let ROUTER_PORT: UInt16 = 1, ROUTER_PATTR_TIMER: UInt16 = 1, ROUTER_PATTR_TYPE: UInt16 = 2
    static let ROUTER_PATTR_INET_TIMER: UInt16 = 3, ROUTER_PATTR_INET6_TIMER: UInt16 = 4
    /// sizeof(struct br_mdb_entry): ifindex, state, flags, vid, then the address union (16
    /// bytes) and its protocol, padded to 4.
    static let entrySize = 28
    static let MDB_TEMPORARY: UInt8 = 0, MDB_PERMANENT: UInt8 = 1
    static let FLAGS_FAST_LEAVE: UInt8 = 1 << 1
    static let policy = NLAPolicy(maxType: 2, [SET_ENTRY: .unspec])
}

extension RtnlProcessor {
    /// rtnl_mdb_dump → br_mdb_dump: one RTM_GETMDB message per bridge (br_port_msg with the
    /// bridge's ifindex), its groups and its router ports.
    func dumpMdb(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) {
        let bridges = dp.allDevices.compactMap { dp.bridge($0) }
        let seq = msg.header.seq
        dumpInParts(seq: seq, count: bridges.count, &replies) { [unowned self] i, w in
            let br = bridges[i], db = br.mdb, now = dp.clock.now
            let start = w.begin(type: MDBA.RTM_GETMDB, flags: NL.F_MULTI, seq: seq, pid: pid)
            w.put8(0); w.put8(0); w.put8(0); w.put8(0)              // br_port_msg: family left zero
            w.put32(UInt32(bitPattern: br.device.ifindex))
            func left(_ t: UInt64) -> UInt32 { t > now ? UInt32(truncatingIfNeeded: (t - now) / (10 * Time.ms)) : 0 }
            // br_mdb_fill_info and br_rports_fill_info put nothing when they have nothing.
            if !db.order.isEmpty {
            let nest = w.beginNest(MDBA.MDB, flagged: false)
            for key in db.order {
                guard let ports = db.groups[key], !ports.isEmpty else { continue }
                let entry = w.beginNest(MDBA.MDB_ENTRY, flagged: false)
                // br_mdb_fill_info: the host's entry first.
                for pg in ports.filter({ $0.port == br.device.ifindex }) + ports.filter({ $0.port != br.device.ifindex }) {
                    let info = w.beginNest(MDBA.MDB_ENTRY_INFO, flagged: false)
                    let fast = dp.device(pg.port)?.bridgePort.flags.contains(.fastLeave) ?? false
                    w.put(Self.mdbEntry(ifindex: pg.port, permanent: pg.permanent, flags: fast ? MDBA.FLAGS_FAST_LEAVE : 0, key: key))
                    w.attr(MDBA.EATTR_TIMER, u32: pg.permanent ? 0 : left(pg.expires))
                    if pg.port != br.device.ifindex { w.attr(MDBA.EATTR_RTPROT, u8: pg.rtprot) }   // not for a host join
                    w.endNest(info)
                }
                w.endNest(entry)
            }
            w.endNest(nest)
            }
            if !db.routers.isEmpty {
            let routers = w.beginNest(MDBA.ROUTER, flagged: false)
            for p in br.ports {
                guard let t = db.routers[p] else { continue }
                let rp = w.beginNest(MDBA.ROUTER_PORT, flagged: false)
                w.put32(UInt32(bitPattern: p))
                w.attr(MDBA.ROUTER_PATTR_TIMER, u32: t == .max ? 0 : left(t))
                w.attr(MDBA.ROUTER_PATTR_TYPE, u8: dp.device(p)?.bridgePort.mcastRouter ?? 1)   // MDB_RTR_TYPE_*
                w.endNest(rp)
            }
            w.endNest(routers)
            }
            w.end(start)
        }
    }

    /// br_mdb_notify: RTM_NEWMDB or RTM_DELMDB with the one port group that came or went.
    public func mdbNotification(_ c: MulticastDB.Change, _ br: Bridge) -> [UInt8] {
        var w = NetlinkWriter()
        let now = dp.clock.now
        let start = w.begin(type: c.deleted ? MDBA.RTM_DELMDB : MDBA.RTM_NEWMDB, flags: 0, seq: 0, pid: 0)
        w.put8(NDA.AF_BRIDGE); w.put8(0); w.put8(0); w.put8(0)
        w.put32(UInt32(bitPattern: br.device.ifindex))
        let nest = w.beginNest(MDBA.MDB, flagged: false)
        let entry = w.beginNest(MDBA.MDB_ENTRY, flagged: false)
        let info = w.beginNest(MDBA.MDB_ENTRY_INFO, flagged: false)
        let g = c.group
        let fast = dp.device(g.port)?.bridgePort.flags.contains(.fastLeave) ?? false
        w.put(Self.mdbEntry(ifindex: g.port, permanent: g.permanent, flags: fast ? MDBA.FLAGS_FAST_LEAVE : 0, key: c.key))
        w.attr(MDBA.EATTR_TIMER, u32: g.permanent || c.deleted || g.expires <= now ? 0 : UInt32(truncatingIfNeeded: (g.expires - now) / (10 * Time.ms)))
        if g.port != br.device.ifindex { w.attr(MDBA.EATTR_RTPROT, u8: g.rtprot) }
        w.endNest(info); w.endNest(entry); w.endNest(nest)
        w.end(start)
        return w.bytes
    }

    /// struct br_mdb_entry.
    static func mdbEntry(ifindex: Int32, permanent: Bool, flags: UInt8, key: MDBKey) -> [UInt8] {
        var e = [UInt8](repeating: 0, count: MDBA.entrySize)
        let i = UInt32(bitPattern: ifindex)
        for k in 0..<4 { e[k] = UInt8(truncatingIfNeeded: i >> (8 * UInt32(k))) }
        e[4] = permanent ? MDBA.MDB_PERMANENT : MDBA.MDB_TEMPORARY
        e[5] = flags
        e[6] = UInt8(key.vid & 0xFF); e[7] = UInt8(key.vid >> 8)
        if key.v6 {
            for k in 0..<16 { e[8 + k] = UInt8(truncatingIfNeeded: key.group >> (8 * UInt128(15 - k))) }
            e[24] = 0x86; e[25] = 0xDD
        } else {
            for k in 0..<4 { e[8 + k] = UInt8(truncatingIfNeeded: key.group >> (8 * UInt128(3 - k))) }
            e[24] = 0x08; e[25] = 0x00
        }
        return e
    }

    /// rtnl_mdb_add / rtnl_mdb_del, then br_mdb_add / br_mdb_del.
    func changeMdb(_ msg: NetlinkMessage) throws(NetlinkError) {
        let p = msg.payload
        guard p.count >= 8 else { throw NetlinkError(EINVAL) }
        let a = try NLAttributes.parse(p.dropFirst(8), base: NL.hdrLen + 8, policy: MDBA.policy, strict: false)
        if let e = a[MDBA.SET_ENTRY] { try validateMdbEntry(e) }
        let ifindex = Int32(bitPattern: p.le32(at: 4))
        guard ifindex != 0 else { throw NetlinkError(EINVAL, "Invalid ifindex") }
        guard let dev = dp.device(ifindex) else { throw NetlinkError(ENODEV, "Device doesn't exist") }
        guard let e = a[MDBA.SET_ENTRY] else { throw NetlinkError(EINVAL, "Missing MDBA_SET_ENTRY attribute") }
        guard let br = dp.bridge(dev) else { throw NetlinkError(EOPNOTSUPP, "Device does not support MDB operations") }
        guard dev.isUp else { throw NetlinkError(EINVAL, "bridge: Bridge device is not running") }
        guard br.mdb.snooping else { throw NetlinkError(EINVAL, "bridge: Bridge's multicast processing is disabled") }
        let b = e.startIndex
        let portIndex = Int32(bitPattern: e.le32(at: 0))
        let permanent = e[b + 4] == MDBA.MDB_PERMANENT
        let vid = UInt16(e[b + 6]) | UInt16(e[b + 7]) << 8
        let proto = UInt16(e[b + 24]) << 8 | UInt16(e[b + 25])
        guard proto == 0x0800 || proto == 0x86DD else { throw NetlinkError(EOPNOTSUPP, "bridge: Layer 2 MDB entries are not supported by Sluice") }
        var group: UInt128 = 0
        for k in 0..<(proto == 0x0800 ? 4 : 16) { group = group << 8 | UInt128(e[b + 8 + k]) }
        if proto == 0x0800 && group == 0 || proto == 0x86DD && group == 0 {
            throw NetlinkError(EOPNOTSUPP, "bridge: (*, G) entries for all groups are not supported by Sluice")
        }
        guard let port = dp.device(portIndex) else { throw NetlinkError(ENODEV, "bridge: Port net device doesn't exist") }
        let key = MDBKey(group: group, v6: proto == 0x86DD, vid: vid)
        // The bridge itself as the port: a host join (br_multicast_host_join), always temporary.
        let host = port === dev
        if !host {
            guard port.master != 0 else { throw NetlinkError(EINVAL, "bridge: Net device is not a bridge port") }
            guard port.master == dev.ifindex else { throw NetlinkError(EINVAL, "bridge: Port belongs to a different bridge device") }
        }
        if msg.header.type == MDBA.RTM_DELMDB {
            guard br.mdb.remove(key, port: port.ifindex) else { throw NetlinkError(EINVAL, "bridge: Port group entry not found") }
            return
        }
        // br_multicast_new_group: a new group past mcast_hash_max turns snooping off, E2BIG.
        if br.mdb.groups[key] == nil && br.mdb.groups.count >= Int(br.mdb.settings.hashMax) {
            br.mdb.snooping = false
            throw NetlinkError(E2BIG)
        }
        if host {
            guard br.mdb.groups[key]?.contains(where: { $0.port == port.ifindex }) != true else {
                throw NetlinkError(EEXIST, "bridge: Group is already joined by host")
            }
            let t = dp.clock.now &+ br.mdb.settings.membershipNs
            br.mdb.add(key, port: port.ifindex, expires: t, permanent: false, rtprot: 0)
            dp.armMulticast(t)
            return
        }
        guard port.bridgePortState != BridgePortSettings.disabled || permanent else {
            throw NetlinkError(EINVAL, "bridge: Port is in disabled state and entry is not permanent")
        }
        if let existing = br.mdb.groups[key]?.first(where: { $0.port == port.ifindex }) {
            guard msg.header.flags & NL.F_REPLACE != 0 else { throw NetlinkError(EEXIST, "bridge: (*, G) group is already joined by port") }
            _ = existing
            br.mdb.remove(key, port: port.ifindex)
        }
        let t = permanent ? 0 : dp.clock.now &+ br.mdb.settings.membershipNs
        br.mdb.add(key, port: port.ifindex, expires: t, permanent: permanent, rtprot: MulticastDB.rtprotStatic)
        dp.armMulticast(t)
    }

    /// rtnl_validate_mdb_entry: the entry's length, port, group and state.
    func validateMdbEntry(_ e: ArraySlice<UInt8>) throws(NetlinkError) {
        guard e.count == MDBA.entrySize else { throw NetlinkError(EINVAL, "Invalid attribute length") }
        let b = e.startIndex
        guard e.le32(at: 0) != 0 else { throw NetlinkError(EINVAL, "Zero entry ifindex is not allowed") }
        let state = e[b + 4]
        let vid = UInt16(e[b + 6]) | UInt16(e[b + 7]) << 8
        let addr = e[(b + 8)..<(b + 24)]
        let proto = UInt16(e[b + 24]) << 8 | UInt16(e[b + 25])
        switch proto {
        case 0x0800:
            let a0 = addr[addr.startIndex], a1 = addr[addr.startIndex + 1], a2 = addr[addr.startIndex + 2]
            let zero = addr.prefix(4).allSatisfy { $0 == 0 }
            guard a0 & 0xF0 == 0xE0 || zero else { throw NetlinkError(EINVAL, "IPv4 entry group address is not multicast or 0.0.0.0") }
            if a0 == 224 && a1 == 0 && a2 == 0 { throw NetlinkError(EINVAL, "IPv4 entry group address is local multicast") }
        case 0x86DD:
            let allNodes: [UInt8] = [0xFF, 0x02] + [UInt8](repeating: 0, count: 13) + [1]
            if Array(addr) == allNodes { throw NetlinkError(EINVAL, "IPv6 entry group address is link-local all nodes") }
        case 0:
            guard addr[addr.startIndex] & 1 == 1 else { throw NetlinkError(EINVAL, "L2 entry group is not multicast") }
        default:
            throw NetlinkError(EINVAL, "Unknown entry protocol")
        }
        guard state == MDBA.MDB_PERMANENT || state == MDBA.MDB_TEMPORARY else { throw NetlinkError(EINVAL, "Unknown entry state") }
        guard vid < 0xFFF else { throw NetlinkError(EINVAL, "Invalid entry VLAN id") }
    }
}
