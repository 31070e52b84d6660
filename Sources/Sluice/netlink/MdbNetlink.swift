#if canImport(Glibc)
import Glibc
#endif

/// Principles (net/core/rtnetlink.c: rtnl_mdb_dump, rtnl_mdb_add/del, rtnl_validate_mdb_entry;
/// net/bridge/br_mdb.c: br_mdb_dump, br_mdb_config_init)
/// ----------
/// `bridge mdb`: Sluice's bridges have no IGMP/MLD snooping, so each has an empty multicast
/// database, as a kernel bridge with `mcast_snooping 0`: the dump gives each bridge's
/// message with an empty MDBA_MDB, and adding or deleting an entry is refused in the kernel's
/// words — after the same validation of the entry, so a malformed request gets the same answer
/// it would get there.
enum MDBA {
    static let RTM_NEWMDB: UInt16 = 84, RTM_DELMDB: UInt16 = 85, RTM_GETMDB: UInt16 = 86
    static let MDB: UInt16 = 1, SET_ENTRY: UInt16 = 1
    /// sizeof(struct br_mdb_entry): ifindex, state, flags, vid, then the address union (16
    /// bytes) and its protocol, padded to 4.
    static let entrySize = 28
    static let MDB_TEMPORARY: UInt8 = 0, MDB_PERMANENT: UInt8 = 1
    static let policy = NLAPolicy(maxType: 2, [SET_ENTRY: .unspec])
}

extension RtnlProcessor {
    /// rtnl_mdb_dump → br_mdb_dump: one RTM_GETMDB message per bridge (br_port_msg with the
    /// bridge's ifindex, family left zero), its MDBA_MDB nest empty, no router ports.
    func dumpMdb(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) {
        let bridges = dp.allDevices.filter { dp.bridge($0) != nil }.map(\.ifindex)
        let seq = msg.header.seq
        dumpInParts(seq: seq, count: bridges.count, &replies) { [unowned self] i, w in
            let start = w.begin(type: MDBA.RTM_GETMDB, flags: NL.F_MULTI, seq: seq, pid: pid)
            w.put8(0); w.put8(0); w.put8(0); w.put8(0)
            w.put32(UInt32(bitPattern: bridges[i]))
            let nest = w.beginNest(MDBA.MDB, flagged: false)
            w.endNest(nest)
            w.end(start)
        }
    }

    /// rtnl_mdb_add / rtnl_mdb_del, then br_mdb_config_init's first checks.
    func changeMdb(_ msg: NetlinkMessage) throws(NetlinkError) {
        let p = msg.payload
        guard p.count >= 8 else { throw NetlinkError(EINVAL) }
        let a = try NLAttributes.parse(p.dropFirst(8), base: NL.hdrLen + 8, policy: MDBA.policy, strict: false)
        if let e = a[MDBA.SET_ENTRY] { try validateMdbEntry(e) }
        let ifindex = Int32(bitPattern: p.le32(at: 4))
        guard ifindex != 0 else { throw NetlinkError(EINVAL, "Invalid ifindex") }
        guard let dev = dp.device(ifindex) else { throw NetlinkError(ENODEV, "Device doesn't exist") }
        guard a[MDBA.SET_ENTRY] != nil else { throw NetlinkError(EINVAL, "Missing MDBA_SET_ENTRY attribute") }
        guard dp.bridge(dev) != nil else { throw NetlinkError(EOPNOTSUPP, "Device does not support MDB operations") }
        guard dev.isUp else { throw NetlinkError(EINVAL, "bridge: Bridge device is not running") }
        throw NetlinkError(EINVAL, "bridge: Bridge's multicast processing is disabled")
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
