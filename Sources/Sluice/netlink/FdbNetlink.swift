#if canImport(Glibc)
import Glibc
#endif

/// The bridge FDB over rtnetlink (AF_BRIDGE neighbours), as rtnl_fdb_dump/add/del and the
/// bridge's br_fdb_dump/br_fdb_add/br_fdb_delete with fdb_fill_info put them on the wire:
/// what `bridge fdb show|add|del|replace|append` send and read. An entry's VLAN must be one of
/// its port's (br_fdb_add's "unconfigured vlan" otherwise).
///
/// Not modelled: NTF_USE and extern_learn flags.
enum NDA {
    static let DST: UInt16 = 1, LLADDR: UInt16 = 2, CACHEINFO: UInt16 = 3, VLAN: UInt16 = 5
    static let IFINDEX: UInt16 = 8, MASTER: UInt16 = 9, FLAGS_EXT: UInt16 = 15
    static let NUD_REACHABLE: UInt16 = 0x02, NUD_STALE: UInt16 = 0x04, NUD_NOARP: UInt16 = 0x40, NUD_PERMANENT: UInt16 = 0x80
    static let NTF_USE: UInt8 = 0x01, NTF_SELF: UInt8 = 0x02, NTF_MASTER: UInt8 = 0x04
    static let NTF_EXT_LEARNED: UInt8 = 0x10, NTF_STICKY: UInt8 = 0x40
    static let AF_BRIDGE: UInt8 = 7
    static let PORT: UInt16 = 6, VNI: UInt16 = 7, SRC_VNI: UInt16 = 11, NH_ID: UInt16 = 13
    static let NDM_STATE_MASK: UInt16 = 16, NDM_FLAGS_MASK: UInt16 = 17
    static let policy = NLAPolicy(maxType: 17, [DST: .unspec, LLADDR: .binary(maxLength: 32), VLAN: .unspec, PORT: .unspec, VNI: .u32,
                                                IFINDEX: .u32, MASTER: .u32, SRC_VNI: .u32, NH_ID: .u32,
                                                NDM_STATE_MASK: .u16, NDM_FLAGS_MASK: .u8])
}

extension RtnlProcessor {
    /// fdb_fill_info for one entry of `br`.
    func encodeFdbEntry(_ e: FDBEntry, br: Bridge, now: UInt64, type: UInt16 = NL.RTM_NEWNEIGH, flags: UInt16 = NL.F_MULTI,
                        seq: UInt32, _ w: inout NetlinkWriter) {
        let start = w.begin(type: type, flags: flags, seq: seq, pid: pid)
        w.put8(NDA.AF_BRIDGE); w.put8(0); w.put16(0)
        w.put32(UInt32(bitPattern: e.port))                 // the port, or the bridge for its own addresses
        let state: UInt16 = e.isLocal ? NDA.NUD_PERMANENT : e.isStatic ? NDA.NUD_NOARP
            : (e.updated &+ br.ageingTime <= now ? NDA.NUD_STALE : NDA.NUD_REACHABLE)
        w.put16(state)
        w.put8(e.isSticky ? NDA.NTF_STICKY : 0); w.put8(0)    // ndm_flags, ndm_type
        w.attr(NDA.LLADDR, e.mac.octets)
        w.attr(NDA.MASTER, u32: UInt32(bitPattern: br.device.ifindex))
        let age = UInt32(truncatingIfNeeded: (now &- e.updated) / (10 * Time.ms))   // clock_t
        var ci = NetlinkWriter()
        ci.put32(0); ci.put32(age); ci.put32(age); ci.put32(0)   // confirmed, used, updated, refcnt
        w.attr(NDA.CACHEINFO, ci.bytes)
        if e.vlan != 0 { w.attr(NDA.VLAN, u16: e.vlan) }
        w.end(start)
    }

    /// nlmsg_populate_fdb_fill: one address of a device's own lists (ndo_dflt_fdb_dump).
    func encodeSelfAddress(_ dev: NetDevice, _ mac: MACAddress, flags: UInt16, seq: UInt32, _ w: inout NetlinkWriter) {
        let start = w.begin(type: NL.RTM_NEWNEIGH, flags: flags, seq: seq, pid: pid)
        w.put8(NDA.AF_BRIDGE); w.put8(0); w.put16(0)
        w.put32(UInt32(bitPattern: dev.ifindex))
        w.put16(NDA.NUD_PERMANENT)
        w.put8(NDA.NTF_SELF); w.put8(0)
        w.attr(NDA.LLADDR, mac.octets)
        w.end(start)
    }

    /// vxlan_fdb_info: one remote of a VXLAN device's entry (the port, VNI and underlay only
    /// where they differ from the device's).
    func encodeVXLANRow(_ dev: NetDevice, _ v: VXLANDriver, mac: UInt64, _ e: VXLANFdbEntry, _ r: VXLANRemote, now: UInt64,
                        type: UInt16 = NL.RTM_NEWNEIGH, flags: UInt16 = NL.F_MULTI, seq: UInt32, _ w: inout NetlinkWriter) {
        let start = w.begin(type: type, flags: flags, seq: seq, pid: pid)
        w.put8(NDA.AF_BRIDGE); w.put8(0); w.put16(0)
        w.put32(UInt32(bitPattern: dev.ifindex))
        w.put16(e.state)
        w.put8(e.flags); w.put8(RouteType.unicast.rawValue)
        w.attr(NDA.LLADDR, MACAddress(raw: mac).octets)
        if r.ip != 0 { w.attr(NDA.DST, [UInt8(r.ip >> 24), UInt8((r.ip >> 16) & 255), UInt8((r.ip >> 8) & 255), UInt8(r.ip & 255)]) }
        if r.port != 0 && r.port != v.config.port { w.attr(NDA.PORT, [UInt8(r.port >> 8), UInt8(r.port & 255)]) }
        if r.vni != v.config.vni { w.attr(NDA.VNI, u32: r.vni) }
        if r.ifindex != 0 { w.attr(NDA.IFINDEX, u32: UInt32(bitPattern: r.ifindex)) }
        func clk(_ t: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: (now &- t) / (10 * Time.ms)) }
        var ci = NetlinkWriter()
        ci.put32(0); ci.put32(clk(e.used)); ci.put32(clk(e.updated)); ci.put32(0)   // confirmed, used, updated, refcnt
        w.attr(NDA.CACHEINFO, ci.bytes)
        w.end(start)
    }

    /// RTM_GETNEIGH dump for AF_BRIDGE (rtnl_fdb_dump): per device in order, a port's entries
    /// from its bridge, a bridge's own; newest first, as the bridge's hash list; then a VXLAN
    /// device's own table (its ndo_fdb_dump), newest first, a row per remote.
    func dumpFdb(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let p = msg.payload
        var brIndex: Int32 = 0, portIndex: Int32 = 0
        if strictCheck {
            // valid_fdb_dump_strict
            guard p.count >= 12 else { throw NetlinkError(EINVAL, "Invalid header for fdb dump request") }
            guard p.le16(at: 2) == 0, p[p.startIndex + 1] == 0, p.le16(at: 8) == 0, p[p.startIndex + 10] == 0 else {
                throw NetlinkError(EINVAL, "Invalid values in header for fdb dump request")
            }
            let a = try NLAttributes.parse(p.dropFirst(12), base: NL.hdrLen + 12, policy: NDA.policy, strict: true)
            for t in a.values.keys where t != NDA.IFINDEX && t != NDA.MASTER {
                throw NetlinkError(EINVAL, "Unsupported attribute in fdb dump request", offset: a.offsets[t])
            }
            brIndex = Int32(bitPattern: a.u32(NDA.MASTER) ?? 0)
            portIndex = Int32(bitPattern: a.u32(NDA.IFINDEX) ?? 0)
        } else if p.count >= 16 {
            // valid_fdb_dump_legacy: an ifinfomsg, with IFLA_MASTER.
            portIndex = Int32(bitPattern: p.le32(at: 4))
            if let a = try? NLAttributes.parse(p.dropFirst(16), base: NL.hdrLen + 16, policy: IFLA.policy, strict: false) {
                brIndex = Int32(bitPattern: a.u32(IFLA.MASTER) ?? 0)
            }
        }
        if brIndex != 0 {
            guard let d = dp.device(brIndex), dp.bridge(d) != nil else { throw NetlinkError(ENODEV, "Bridge device not found") }
        }
        // The table is read once (entries in dump order, a few bytes each); the messages are
        // then built a datagram at a time, each when the reader has taken the one before
        // (`continueDump`), so a big table never holds up the datapath for long.
        // Per device, as rtnl_fdb_dump: a port's entries from its bridge; then the device's own
        // (ndo_fdb_dump): a bridge's multicast list and its own addresses, a VXLAN device's
        // table, any other device's multicast list (ndo_dflt_fdb_dump).
        struct Group {
            let dev: NetDevice
            var bridge: Bridge? = nil
            var entries: [FDBEntry] = []
            var ownFirst = false
            var own: [MACAddress] = []
            var vxlan: VXLANDriver? = nil
            var vxRows: [(mac: UInt64, entry: VXLANFdbEntry, remote: VXLANRemote)] = []
            var count: Int { entries.count + own.count + vxRows.count }
        }
        var groups: [Group] = []
        for dev in dp.allDevices {
            if portIndex != 0 && dev.ifindex != portIndex { continue }
            var g = Group(dev: dev)
            if let own = dp.bridge(dev) {
                guard brIndex == 0 || brIndex == dev.ifindex else { continue }
                g.bridge = own; g.ownFirst = true
                g.entries = own.fdb.entries(port: dev.ifindex)
                g.own = dp.multicastList(dev)
            } else if dev.master != 0, let master = dp.bridges[dev.master] {
                guard brIndex == 0 || brIndex == dev.master else { continue }
                g.bridge = master
                g.entries = master.fdb.entries(port: dev.ifindex)
            } else if brIndex != 0 {
                continue
            }
            if let v = dev.driver as? VXLANDriver { g.vxlan = v; g.vxRows = v.dumpRows }
            else if g.own.isEmpty && !g.ownFirst { g.own = dev.userUnicast + dp.multicastList(dev) }
            if g.count > 0 { groups.append(g) }
        }
        let seq = msg.header.seq
        let tables = groups.compactMap(\.bridge)
        let generations = tables.map { $0.fdb.generation }
        var gi = 0, ri = 0
        dump = { [unowned self] (w: inout NetlinkWriter) -> Bool in
            // NLM_F_DUMP_INTR once a table changed since the dump began (netlink_dump's cb->seq).
            let intr = zip(tables, generations).contains { $0.fdb.generation != $1 }
            let flags = NL.F_MULTI | (intr ? NL.F_DUMP_INTR : 0)
            let now = dp.clock.now
            while gi < groups.count {
                let g = groups[gi]
                while ri < g.count {
                    let before = w.count
                    var k = ri
                    if g.ownFirst && k < g.own.count {
                        encodeSelfAddress(g.dev, g.own[k], flags: flags, seq: seq, &w)
                    } else {
                        if g.ownFirst { k -= g.own.count }
                        if k < g.entries.count {
                            encodeFdbEntry(g.entries[k], br: g.bridge!, now: now, flags: flags, seq: seq, &w)
                        } else {
                            k -= g.entries.count
                            if !g.ownFirst && k < g.own.count {
                                encodeSelfAddress(g.dev, g.own[k], flags: flags, seq: seq, &w)
                            } else {
                                if !g.ownFirst { k -= g.own.count }
                                let r = g.vxRows[k]
                                encodeVXLANRow(g.dev, g.vxlan!, mac: r.mac, r.entry, r.remote, now: now, flags: flags, seq: seq, &w)
                            }
                        }
                    }
                    if w.count > bufferSize && before > 0 { w.truncate(to: before); return false }
                    ri += 1
                }
                gi += 1; ri = 0
            }
            if w.count + NL.hdrLen + 4 > bufferSize { return false }
            w.done(seq: seq, pid: pid, flags: flags)
            return true
        }
        if let first = nextDumpPart() { replies.append(first) }
    }

    /// The parts of an RTM_NEWNEIGH/DELNEIGH for AF_BRIDGE both check first (rtnl_fdb_add/del).
    func fdbRequest(_ msg: NetlinkMessage) throws(NetlinkError)
        -> (dev: NetDevice, mac: MACAddress, vlan: UInt16, state: UInt16, flags: UInt8) {
        let r = try fdbRequest(msg, bulk: false)
        return (r.dev, r.mac!, r.vlan, r.state, r.flags)
    }

    /// The same; a bulk delete (NLM_F_BULK) names no address.
    func fdbRequest(_ msg: NetlinkMessage, bulk: Bool) throws(NetlinkError)
        -> (dev: NetDevice, mac: MACAddress?, vlan: UInt16, state: UInt16, flags: UInt8, attrs: NLAttributes) {
        let p = msg.payload
        guard p.count >= 12 else { throw NetlinkError(EINVAL, "Invalid header for neighbor message") }
        let a = try NLAttributes.parse(p.dropFirst(12), base: NL.hdrLen + 12, policy: NDA.policy, strict: false)
        let ifindex = Int32(bitPattern: p.le32(at: 4))
        guard ifindex != 0 else { throw NetlinkError(EINVAL, "invalid ifindex") }
        guard let dev = dp.device(ifindex) else { throw NetlinkError(ENODEV, "unknown ifindex") }
        var mac: MACAddress? = nil
        if !bulk {
            guard let ll = a[NDA.LLADDR], ll.count == 6 else { throw NetlinkError(EINVAL, "invalid address") }
            mac = MACAddress(Array(ll))
        }
        var vlan: UInt16 = 0
        if let v = a[NDA.VLAN] {
            guard v.count == 2 else { throw NetlinkError(EINVAL, "invalid vlan attribute size", offset: a.offsets[NDA.VLAN]) }
            vlan = v.le16(at: 0)
            guard vlan != 0 && vlan < 4095 else { throw NetlinkError(EINVAL, "invalid vlan id", offset: a.offsets[NDA.VLAN]) }
        }
        return (dev, mac, vlan, p.le16(at: 8), p[p.startIndex + 10], a)
    }

    /// rtnl_fdb_get + br_fdb_get (`bridge fdb get MAC br BR|brport PORT|dev DEV [self] [vlan V]`):
    /// the entry for the address and VLAN in the bridge named or the port's master, as a dump
    /// fills it. `self` asks the device's own table, which only a bridge has here.
    func getFdb(_ msg: NetlinkMessage) throws(NetlinkError) -> [UInt8] {
        let p = msg.payload
        guard p.count >= 12 else { throw NetlinkError(EINVAL, "Invalid header for fdb get request") }
        let flags = p[p.startIndex + 10]
        if strictCheck {
            guard p[p.startIndex + 1] == 0, p.le16(at: 2) == 0, p.le16(at: 8) == 0, p[p.startIndex + 11] == 0 else {
                throw NetlinkError(EINVAL, "Invalid values in header for fdb get request")
            }
            guard flags & ~(NDA.NTF_MASTER | NDA.NTF_SELF) == 0 else { throw NetlinkError(EINVAL, "Invalid flags in header for fdb get request") }
        }
        let a = try NLAttributes.parse(p.dropFirst(12), base: NL.hdrLen + 12, policy: NDA.policy, strict: strictCheck)
        guard let ll = a[NDA.LLADDR], ll.count == 6 else { throw NetlinkError(EINVAL, "Invalid address in fdb get request") }
        var vlan: UInt16 = 0
        if let v = a[NDA.VLAN] {
            vlan = v.count == 2 ? v.le16(at: 0) : 0
            guard vlan != 0 && vlan < 4095 else { throw NetlinkError(EINVAL, "Invalid vlan id in fdb get request", offset: a.offsets[NDA.VLAN]) }
        }
        let portIndex = Int32(bitPattern: p.le32(at: 4))
        var dev: NetDevice?
        if portIndex != 0 {
            guard let d = dp.device(portIndex) else { throw NetlinkError(ENODEV, "Unknown device ifindex") }
            dev = d
        }
        var br: Bridge?
        if let m = a.u32(NDA.MASTER), m != 0 {
            if dev != nil { throw NetlinkError(EINVAL, "Master and device are mutually exclusive") }
            guard let b = dp.device(Int32(bitPattern: m)) else { throw NetlinkError(EINVAL, "Invalid master ifindex") }
            guard let bb = dp.bridges[b.ifindex] else { throw NetlinkError(EOPNOTSUPP, "Fdb get operation not supported by device") }
            br = bb
        } else if let d = dev {
            if flags & NDA.NTF_SELF == 0 {
                guard d.master != 0, let bb = dp.bridges[d.master] else { throw NetlinkError(EINVAL, "Device is not a bridge port") }
                br = bb
            } else if let v = d.driver as? VXLANDriver {
                // vxlan_fdb_get: the entry's first remote.
                guard let e = v.fdb[MACAddress(Array(ll)).raw] else { throw NetlinkError(ENOENT, "Fdb entry not found") }
                var w = NetlinkWriter()
                encodeVXLANRow(d, v, mac: MACAddress(Array(ll)).raw, e, e.remote, now: dp.clock.now, flags: 0, seq: msg.header.seq, &w)
                return w.bytes
            } else {
                guard let bb = dp.bridges[d.ifindex] else { throw NetlinkError(EOPNOTSUPP, "Fdb get operation not supported by device") }
                br = bb
            }
        } else {
            throw NetlinkError(ENODEV, "No device specified")
        }
        guard let br, let e = br.fdb.entry(MACAddress(Array(ll)), vlan: vlan) else { throw NetlinkError(ENOENT, "Fdb entry not found") }
        var w = NetlinkWriter()
        encodeFdbEntry(e, br: br, now: dp.clock.now, flags: 0, seq: msg.header.seq, &w)
        return w.bytes
    }

    /// RTM_NEWNEIGH for AF_BRIDGE: br_fdb_add on the port's bridge (or on a bridge itself with
    /// `self`: an entry of its own), with fdb_add_entry's rules.
    /// vxlan_fdb_parse: the remote a request names (NDA_DST, NDA_PORT, NDA_VNI, NDA_IFINDEX),
    /// the device's own port and VNI where it names none.
    func vxlanRemote(_ msg: NetlinkMessage, _ v: VXLANDriver) throws(NetlinkError) -> (VXLANRemote, given: Bool) {
        let p = msg.payload
        let a = try NLAttributes.parse(p.dropFirst(12), base: NL.hdrLen + 12, policy: NDA.policy, strict: false)
        if a.has(NDA.NH_ID) { throw NetlinkError(EOPNOTSUPP, "vxlan: nexthop groups are not implemented in Sluice") }
        if a.has(NDA.SRC_VNI) { throw NetlinkError(EOPNOTSUPP, "vxlan: entries per source VNI are not implemented in Sluice") }
        var r = VXLANRemote(ip: 0, port: v.config.port, vni: v.config.vni, ifindex: 0)
        if let d = a[NDA.DST] {
            guard d.count == 4 else {
                throw d.count == 16 ? NetlinkError(EAFNOSUPPORT) : NetlinkError(EINVAL)
            }
            r.ip = d.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        }
        if let pt = a[NDA.PORT] {
            guard pt.count == 2 else { throw NetlinkError(EINVAL) }
            r.port = UInt16(pt[pt.startIndex]) << 8 | UInt16(pt[pt.startIndex + 1])
        }
        if let vni = a.u32(NDA.VNI) {
            guard vni < 1 << 24 else { throw NetlinkError(EINVAL) }
            r.vni = vni
        }
        if let i = a.u32(NDA.IFINDEX) {
            guard dp.device(Int32(bitPattern: i)) != nil else { throw NetlinkError(EADDRNOTAVAIL, "Device not found") }
            r.ifindex = Int32(bitPattern: i)
        }
        return (r, a.has(NDA.DST))
    }

    /// vxlan_fdb_add / vxlan_fdb_delete: a VXLAN device's own entry (`self`).
    func vxlanFdb(_ msg: NetlinkMessage, _ dev: NetDevice, _ v: VXLANDriver, mac: MACAddress, state: UInt16, delete: Bool) throws(NetlinkError) {
        let (r, given) = try vxlanRemote(msg, v)
        if delete {
            guard v.delete(mac.raw, remote: given ? r : nil) else { throw NetlinkError(ENOENT) }
            return
        }
        guard state & (NDA.NUD_PERMANENT | NDA.NUD_REACHABLE) != 0 else { throw NetlinkError(EINVAL) }
        guard given else { throw NetlinkError(EINVAL) }
        let f = msg.header.flags
        do {
            try v.update(mac.raw, r, state: state, flags: NDA.NTF_SELF, create: f & NL.F_CREATE != 0, exclusive: f & NL.F_EXCL != 0,
                         replace: f & NL.F_REPLACE != 0, append: f & NL.F_APPEND != 0, now: dp.clock.now)
        } catch {
            switch error {
            case .exists: throw NetlinkError(EEXIST)
            case .notFound: throw NetlinkError(ENOENT)
            case .notUnicast: throw NetlinkError(EOPNOTSUPP)
            case .full: throw NetlinkError(ENOSPC)
            }
        }
    }

    func addFdb(_ msg: NetlinkMessage) throws(NetlinkError) {
        let (dev, mac, vlan, state, flags) = try fdbRequest(msg)
        if flags & NDA.NTF_SELF != 0, let v = dev.driver as? VXLANDriver {
            try vxlanFdb(msg, dev, v, mac: mac, state: state, delete: false)
            return
        }
        let br: Bridge, port: Int32?
        if (flags == 0 || flags & NDA.NTF_MASTER != 0) && dev.master != 0, let b = dp.bridges[dev.master] {
            br = b; port = dev.ifindex
        } else if flags & NDA.NTF_SELF != 0, let b = dp.bridge(dev) {
            br = b; port = nil
        } else if flags & NDA.NTF_SELF != 0 {
            try selfAddress(msg, dev, mac: mac, vlan: vlan, state: state, delete: false)
            return
        } else {
            throw NetlinkError(EINVAL, "\(dev.name) is not a bridge port")
        }
        if flags & (NDA.NTF_USE | NDA.NTF_EXT_LEARNED) != 0 {
            throw NetlinkError(EOPNOTSUPP, "use and extern_learn FDB entries are not implemented in Sluice yet")
        }
        guard state & (NDA.NUD_PERMANENT | NDA.NUD_NOARP | NDA.NUD_REACHABLE) != 0 else { throw NetlinkError(EINVAL) }
        // br_fdb_add: a VLAN must be one of the port's (or, for the bridge's own entries, the
        // bridge's), else "unconfigured vlan".
        if vlan != 0 {
            let set = port.flatMap { dp.device($0) }.map { br.vlanSet($0) } ?? br.selfVLANs
            guard set?.contains(vlan) ?? false else { throw NetlinkError(EINVAL) }
        }
        let local = state & NDA.NUD_PERMANENT != 0, isStatic = local || state & NDA.NUD_NOARP != 0
        if let port {
            let portDev = dp.device(port)!
            let learning = br.device.isUp && portDev.isOperational
            if !isStatic && !learning { throw NetlinkError(EPERM) }
        } else if !local {
            throw NetlinkError(EINVAL)    // an entry of the bridge itself must be permanent
        }
        // fdb_add_entry: a sticky entry cannot be the bridge's own (permanent).
        let sticky = flags & NDA.NTF_STICKY != 0
        if sticky && local { throw NetlinkError(EINVAL) }
        let exists = br.fdb.entry(mac, vlan: vlan) != nil
        if !exists && msg.header.flags & NL.F_CREATE == 0 { throw NetlinkError(ENOENT) }
        if exists && msg.header.flags & NL.F_EXCL != 0 { throw NetlinkError(EEXIST) }
        do {
            try br.fdb.add(mac, vlan: vlan, port: port ?? br.device.ifindex, isStatic: isStatic, isLocal: local, isSticky: sticky, now: dp.clock.now)
        } catch {
            throw NetlinkError(ENOSPC, error.message)
        }
    }

    /// ndo_dflt_fdb_add / ndo_dflt_fdb_del: a device's own unicast (or link-local) and
    /// multicast address lists. Permanent addresses only, no VLAN; a second add is EEXIST
    /// only with NLM_F_EXCL; deleting an address not there is ENOENT.
    func selfAddress(_ msg: NetlinkMessage, _ dev: NetDevice, mac: MACAddress, vlan: UInt16, state: UInt16, delete: Bool) throws(NetlinkError) {
        if delete ? state & NDA.NUD_PERMANENT == 0 : (state != 0 && state & NDA.NUD_PERMANENT == 0) { throw NetlinkError(EINVAL) }
        if vlan != 0 { throw NetlinkError(EINVAL) }
        let o = mac.octets
        let linkLocal = o[0] == 0x01 && o[1] == 0x80 && o[2] == 0xC2 && o[3] == 0 && o[4] == 0 && o[5] & 0xF0 == 0
        let unicast = o[0] & 1 == 0 || linkLocal
        if !unicast && mac.raw == 0xFFFF_FFFF_FFFF { throw NetlinkError(EINVAL) }
        var list = unicast ? dev.userUnicast : dev.userMulticast
        if delete {
            guard let i = list.firstIndex(of: mac) else { throw NetlinkError(ENOENT) }
            list.remove(at: i)
        } else if list.contains(mac) || (!unicast && dp.stackMulticastList(dev).contains(mac)) {
            if msg.header.flags & NL.F_EXCL != 0 { throw NetlinkError(EEXIST) }
            return
        } else {
            list.append(mac)
        }
        if unicast { dev.userUnicast = list } else { dev.userMulticast = list }
    }

    /// RTM_DELNEIGH for AF_BRIDGE with NLM_F_BULK (`bridge fdb flush`): br_fdb_delete_bulk on
    /// the bridge named (as master or self; a port or another device: EOPNOTSUPP), deleting
    /// the entries that match its filters — VLAN, port (NDA_IFINDEX), and the entry flags the
    /// state and ndm flags select under their masks (permanent: local, noarp: static, sticky;
    /// extern_learn, offloaded and added_by_user are never set on Sluice's entries).
    func flushFdb(_ msg: NetlinkMessage) throws(NetlinkError) {
        let (dev, _, vlan, state, allFlags, a) = try fdbRequest(msg, bulk: true)
        guard let br = dp.bridge(dev) else { throw NetlinkError(EOPNOTSUPP) }
        let ndmFlags = allFlags & ~(NDA.NTF_SELF | NDA.NTF_MASTER)
        // FDB_FLUSH_ALLOWED_NDM_FLAGS (use, extern_learn, offloaded, sticky) and _STATES.
        if ndmFlags & ~(NDA.NTF_USE | NDA.NTF_EXT_LEARNED | 0x20 | NDA.NTF_STICKY) != 0 { throw NetlinkError(EINVAL, "bridge: Unsupported fdb flush ndm flag bits set") }
        if state & ~(NDA.NUD_PERMANENT | NDA.NUD_NOARP) != 0 { throw NetlinkError(EINVAL, "bridge: Unsupported fdb flush ndm state bits set") }
        // Entry flags as bits: 1 static, 2 local, 4 sticky (Sluice's FDB slots), 8 any of the
        // flags Sluice's entries never carry (use, extern_learn, offloaded).
        func bits(state s: UInt16, flags f: UInt8) -> UInt8 {
            (s & NDA.NUD_NOARP != 0 ? 1 : 0) | (s & NDA.NUD_PERMANENT != 0 ? 2 : 0) | (f & NDA.NTF_STICKY != 0 ? 4 : 0)
                | (f & (NDA.NTF_USE | NDA.NTF_EXT_LEARNED | 0x20) != 0 ? 8 : 0)
        }
        let want = bits(state: state, flags: ndmFlags)
        let mask = bits(state: a.u16(NDA.NDM_STATE_MASK) ?? 0, flags: a.u8(NDA.NDM_FLAGS_MASK) ?? 0)
        var port: Int32 = 0
        if let i = a.u32(NDA.IFINDEX) {
            // __fdb_flush_validate_ifindex.
            let pi = Int32(bitPattern: i)
            guard let pd = dp.device(pi) else { throw NetlinkError(ENODEV, "bridge: Unknown flush device ifindex") }
            if pd.ifindex != br.device.ifindex {
                guard pd.master != 0 else { throw NetlinkError(EINVAL, "bridge: Flush device is not a bridge or bridge port") }
                guard pd.master == br.device.ifindex else { throw NetlinkError(EINVAL, "bridge: Port belongs to a different bridge") }
            }
            port = pi
        }
        br.fdb.flush { e in
            if vlan != 0 && e.vlan != vlan { return false }
            if port != 0 && e.port != port { return false }
            let f: UInt8 = (e.isStatic ? 1 : 0) | (e.isLocal ? 2 : 0) | (e.isSticky ? 4 : 0)
            return mask == 0 || f & mask == want
        }
    }

    /// RTM_DELNEIGH for AF_BRIDGE: br_fdb_delete (fdb_delete_by_addr_and_port).
    func delFdb(_ msg: NetlinkMessage) throws(NetlinkError) {
        if msg.header.flags & 0x200 != 0 { try flushFdb(msg); return }     // NLM_F_BULK
        let (dev, mac, vlan, state, flags) = try fdbRequest(msg)
        if flags & NDA.NTF_SELF != 0, let v = dev.driver as? VXLANDriver {
            try vxlanFdb(msg, dev, v, mac: mac, state: state, delete: true)
            return
        }
        let br: Bridge, port: Int32
        if (flags == 0 || flags & NDA.NTF_MASTER != 0) && dev.master != 0, let b = dp.bridges[dev.master] {
            br = b; port = dev.ifindex
        } else if flags & NDA.NTF_SELF != 0, let b = dp.bridge(dev) {
            br = b; port = dev.ifindex
        } else if flags & NDA.NTF_SELF != 0 {
            try selfAddress(msg, dev, mac: mac, vlan: vlan, state: state, delete: true)
            return
        } else {
            throw NetlinkError(EINVAL, "\(dev.name) is not a bridge port")
        }
        guard br.fdb.entry(mac, vlan: vlan)?.port == port else { throw NetlinkError(ENOENT) }
        br.fdb.remove(mac, vlan: vlan)
    }

    /// br_fdb_notify for what the datapath did: RTM_NEWNEIGH for an entry learnt or moved (as
    /// it stands now), RTM_DELNEIGH for one aged out.
    public func fdbNotifications(_ changes: [FDB.Change], _ br: Bridge) -> [[UInt8]] {
        let now = dp.clock.now
        var out: [[UInt8]] = []
        for c in changes {
            let mac = MACAddress(raw: c.key), vlan = UInt16((c.key >> 48) & 0x0FFF)
            var w = NetlinkWriter()
            if c.deleted {
                let e = FDBEntry(mac: mac, vlan: vlan, port: c.port, isStatic: false, isLocal: false, updated: 0)
                encodeFdbEntry(e, br: br, now: now, type: NL.RTM_DELNEIGH, flags: 0, seq: 0, &w)
            } else {
                guard let e = br.fdb.entry(mac, vlan: vlan) else { continue }
                encodeFdbEntry(e, br: br, now: now, flags: 0, seq: 0, &w)
            }
            out.append(w.bytes)
        }
        return out
    }
}
