import Glibc

/// `ip tunnel` (iproute2's tunnel ioctls, net/ipv4/ip_tunnel.c: ip_tunnel_siocdevprivate,
/// ip_tunnel_ctl; ip_gre.c: ipgre_tunnel_ctl)
/// ----------
/// Debian's `ip tunnel add|change|del|show` speaks SIOCADDTUNNEL, SIOCCHGTUNNEL, SIOCDELTUNNEL
/// and SIOCGETTUNNEL on an AF_INET socket, with a `struct ip_tunnel_parm` and the device in
/// `ifr_name` (gre0 to add, the tunnel itself to change or delete). `sluice exec`'s shim passes
/// them as message 13 (below NLMSG_MIN_TYPE, as its other private messages): the command
/// (u32), ifr_name (16 bytes) and the parm (52 bytes); the answer is message 13 with the errno
/// (0 or positive) and the parm as the kernel copies it back. Naming gre0 loads the GRE
/// "module" (dev_load: the fallback devices). The checks are ipgre_tunnel_ctl's and
/// ip_tunnel_ctl's; the change itself is made as the equivalent RTM_NEWLINK or RTM_DELLINK
/// request, so it is checked, applied whole and announced as `ip link` would be. Only gre
/// devices answer (gretap, as every other device, has no ndo_siocdevprivate: EOPNOTSUPP).
extension RtnlProcessor {
    static let tunnelIoctlType: UInt16 = 13
    static let SIOCGETTUNNEL: UInt32 = 0x89F0, SIOCADDTUNNEL: UInt32 = 0x89F1, SIOCDELTUNNEL: UInt32 = 0x89F2, SIOCCHGTUNNEL: UInt32 = 0x89F3

    /// struct ip_tunnel_parm: name[16], link (host order), i_flags, o_flags (be16), i_key,
    /// o_key (be32), then struct iphdr.
    struct TunnelParm {
        var bytes: [UInt8]
        var name: String { String(decoding: bytes[0..<16].prefix { $0 != 0 }, as: UTF8.self) }
        func be16(_ o: Int) -> UInt16 { UInt16(bytes[o]) << 8 | UInt16(bytes[o + 1]) }
        func be32(_ o: Int) -> UInt32 { bytes[o..<(o + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
        mutating func setBE16(_ o: Int, _ v: UInt16) { bytes[o] = UInt8(v >> 8); bytes[o + 1] = UInt8(v & 0xFF) }
        mutating func setBE32(_ o: Int, _ v: UInt32) { for i in 0..<4 { bytes[o + i] = UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32(i))) } }
        var link: Int32 { Int32(bitPattern: UInt32(bytes[16]) | UInt32(bytes[17]) << 8 | UInt32(bytes[18]) << 16 | UInt32(bytes[19]) << 24) }
        var iflags: UInt16 { be16(20) }
        var oflags: UInt16 { be16(22) }
        var version: UInt8 { bytes[32] >> 4 }
        var ihl: UInt8 { bytes[32] & 0x0F }
        var tos: UInt8 { bytes[33] }
        var fragOff: UInt16 { be16(38) }
        var ttl: UInt8 { bytes[40] }
        var proto: UInt8 { bytes[41] }

        /// The tunnel these parameters describe (ip_tunnel_ctl's adjustments made: a TTL sets DF,
        /// a key without its flag is 0).
        var config: GREDriver.Config {
            var c = GREDriver.Config(tap: false)
            c.link = link
            c.iflags = iflags; c.oflags = oflags
            c.ikey = iflags & GREDriver.Config.key != 0 ? be32(24) : 0
            c.okey = oflags & GREDriver.Config.key != 0 ? be32(28) : 0
            c.local = be32(44); c.remote = be32(48)
            c.ttl = ttl; c.tos = tos
            c.pmtudisc = fragOff & 0x4000 != 0 || ttl != 0
            return c
        }

        /// The parm of a device (t->parms as SIOCGETTUNNEL copies it).
        init(_ dev: NetDevice, _ c: GREDriver.Config) {
            bytes = [UInt8](repeating: 0, count: 52)
            for (i, b) in dev.name.utf8.prefix(15).enumerated() { bytes[i] = b }
            let l = UInt32(bitPattern: c.link)
            for i in 0..<4 { bytes[16 + i] = UInt8(truncatingIfNeeded: l >> (8 * UInt32(i))) }
            setBE16(20, c.iflags); setBE16(22, c.oflags)
            setBE32(24, c.ikey); setBE32(28, c.okey)
            bytes[32] = 0x45
            bytes[33] = c.tos
            setBE16(38, c.pmtudisc ? 0x4000 : 0)
            bytes[40] = c.ttl
            bytes[41] = 47
            setBE32(44, c.local); setBE32(48, c.remote)
        }
        init(bytes: [UInt8]) { self.bytes = bytes }
    }

    /// Answers one tunnel ioctl message.
    func tunnelIoctl(_ msg: NetlinkMessage) -> [UInt8] {
        let p = Array(msg.payload)
        var errno: Int32 = EINVAL
        var out = [UInt8](repeating: 0, count: 52)
        if p.count >= 72 {
            let cmd = UInt32(p[0]) | UInt32(p[1]) << 8 | UInt32(p[2]) << 16 | UInt32(p[3]) << 24
            let name = String(decoding: p[4..<20].prefix { $0 != 0 }, as: UTF8.self)
            let parm = TunnelParm(bytes: Array(p[20..<72]))
            out = parm.bytes
            (errno, out) = tunnelControl(cmd, name, parm)
        }
        var w = NetlinkWriter()
        let st = w.begin(type: Self.tunnelIoctlType, flags: 0, seq: msg.header.seq, pid: pid)
        w.put32(UInt32(bitPattern: errno))
        w.put(out)
        w.end(st)
        return w.bytes
    }

    func tunnelControl(_ cmd: UInt32, _ name: String, _ parm: TunnelParm) -> (Int32, [UInt8]) {
        // dev_load: the GRE module comes with its fallback devices.
        if name == "gre0" || name == "gretap0" { dp.greFallbacks() }
        guard let dev = dp.device(named: name) else { return (ENODEV, parm.bytes) }
        guard let drv = dev.driver as? GREDriver, !drv.config.tap else { return (EOPNOTSUPP, parm.bytes) }
        if cmd != Self.SIOCGETTUNNEL && !mayChange { return (EPERM, parm.bytes) }
        switch cmd {
        case Self.SIOCGETTUNNEL:
            // On the fallback, the tunnel the parm describes, else the fallback itself.
            let t = drv.fallback ? dp.findTunnel(parm.config) ?? dev : dev
            guard let g = t.driver as? GREDriver else { return (ENODEV, parm.bytes) }
            return (0, TunnelParm(t, g.config).bytes)
        case Self.SIOCADDTUNNEL, Self.SIOCCHGTUNNEL:
            typealias C = GREDriver.Config
            // ipgre_tunnel_ctl's checks.
            if parm.version != 4 || parm.proto != 47 || parm.ihl != 5 || parm.fragOff & ~0x4000 != 0
                || (parm.iflags | parm.oflags) & (C.version | C.routing) != 0 { return (EINVAL, parm.bytes) }
            let c = parm.config
            var back = TunnelParm(bytes: parm.bytes)
            back.setBE16(38, c.pmtudisc ? 0x4000 : 0)
            back.setBE32(24, c.ikey); back.setBE32(28, c.okey)
            let found = dp.findTunnel(c)
            if cmd == Self.SIOCADDTUNNEL {
                if found != nil { return (EEXIST, back.bytes) }
                // ip_tunnel_create: the name given, else the kind's first free "gre%d".
                var newName = parm.name
                if newName.isEmpty { newName = (0...).lazy.map { "gre\($0)" }.first { self.dp.device(named: $0) == nil }! }
                return (linkRequest(NL.RTM_NEWLINK, flags: NL.F_CREATE | NL.F_EXCL, index: 0, name: newName, config: c), back.bytes)
            }
            var target = dev
            if drv.fallback {
                guard let t = found else { return (ENOENT, back.bytes) }
                target = t
            } else if let t = found, t !== dev {
                return (EEXIST, back.bytes)
            } else if found == nil && (c.remote != 0) != dev.flags.contains(.pointToPoint) {
                return (EINVAL, back.bytes)
            }
            if (target.driver as? GREDriver)?.fallback == true {
                // ip_tunnel_update on the fallback itself: its parameters, no checks.
                (target.driver as? GREDriver)?.config = c
                return (0, back.bytes)
            }
            return (linkRequest(NL.RTM_NEWLINK, flags: 0, index: target.ifindex, name: nil, config: c), back.bytes)
        case Self.SIOCDELTUNNEL:
            var target = dev
            if drv.fallback {
                guard let t = dp.findTunnel(parm.config) else { return (ENOENT, parm.bytes) }
                if (t.driver as? GREDriver)?.fallback == true { return (EPERM, parm.bytes) }
                target = t
            }
            return (linkRequest(NL.RTM_DELLINK, flags: 0, index: target.ifindex, name: nil, config: nil), parm.bytes)
        default:
            return (EINVAL, parm.bytes)
        }
    }

    /// The change as the equivalent rtnetlink request, through the usual path (checks,
    /// atomic apply, notifications — with sequence 0, as an ioctl's); its errno.
    func linkRequest(_ type: UInt16, flags: UInt16, index: Int32, name: String?, config: GREDriver.Config?) -> Int32 {
        var w = NetlinkWriter()
        let st = w.begin(type: type, flags: NL.F_REQUEST | flags, seq: 0, pid: pid)
        w.put8(0); w.put8(0); w.put16(0)
        w.put32(UInt32(bitPattern: index)); w.put32(0); w.put32(0)
        if let name { w.attr(IFLA.IFNAME, string: name) }
        if let config {
            let li = w.beginNest(IFLA.LINKINFO, flagged: false)
            w.attr(IFLA.INFO_KIND, string: "gre")
            Self.greInfoData(config, &w)
            w.endNest(li)
        }
        w.end(st)
        guard let msg = NetlinkMessages(w.bytes).first(where: { _ in true }) else { return EINVAL }
        var replies: [[UInt8]] = []
        do throws(NetlinkError) {
            _ = try withEvents(msg) { () throws(NetlinkError) -> Bool in try dispatch(msg, &replies) }
        } catch {
            return error.errno
        }
        return 0
    }

    /// ipgre_fill_info: a GRE tunnel's IFLA_INFO_DATA.
    static func greInfoData(_ c: GREDriver.Config, _ w: inout NetlinkWriter) {
        func be32(_ x: UInt32) -> [UInt8] { [UInt8(x >> 24), UInt8((x >> 16) & 255), UInt8((x >> 8) & 255), UInt8(x & 255)] }
        func be16(_ x: UInt16) -> [UInt8] { [UInt8(x >> 8), UInt8(x & 255)] }
        let data = w.beginNest(IFLA.INFO_DATA, flagged: false)
        w.attr(1, u32: UInt32(bitPattern: c.link))
        w.attr(2, be16(c.iflags)); w.attr(3, be16(c.oflags))
        w.attr(4, be32(c.ikey)); w.attr(5, be32(c.okey))
        w.attr(6, be32(c.local)); w.attr(7, be32(c.remote))
        w.attr(8, u8: c.ttl); w.attr(9, u8: c.tos); w.attr(10, u8: c.pmtudisc ? 1 : 0)
        w.attr(20, u32: 0)                                                           // IFLA_GRE_FWMARK
        w.attr(14, u16: 0); w.attr(15, be16(0)); w.attr(16, be16(0)); w.attr(17, u16: 0)   // ENCAP_TYPE, SPORT, DPORT, FLAGS
        w.attr(19, u8: 0)                                                            // IFLA_GRE_IGNORE_DF
        w.endNest(data)
    }
}
