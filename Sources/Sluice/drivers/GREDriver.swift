/// Principles (net/ipv4/ip_gre.c, ip_tunnel.c, gre_demux.c; RFC 2784, RFC 2890)
/// ----------
/// GRE over IPv4, which this machine's kernel lacks: `gre` carries IP packets (an
/// ARPHRD_IPGRE device: POINTOPOINT, NOARP, no queue, its address the tunnel's endpoints) and
/// `gretap` Ethernet frames (protocol 0x6558, a bridgeable Ethernet device with a queue).
/// - Sending (ipgre_xmit, gre_tap_xmit → ip_tunnel_xmit): a GRE header — checksum, key and
///   sequence number as `ocsum`, `okey`, `oseq` ask — and an IPv4 header from `local` (else the
///   route's preferred source) to `remote`, written in the headroom in place of the Ethernet
///   header (kept whole inside a gretap's), then Sluice's IPv4 output: routed, ARP-resolved,
///   fragmented as any packet. TTL as set, else the inner packet's (`inherit`, the default);
///   TOS as set, or the inner one's with `tos inherit`, its ECN bits from the inner packet
///   (INET_ECN_encapsulate); DF with `pmtudisc` (the default) or when the inner IPv4 has it.
///   The device offers no offloads, so super-frames are segmented before they are wrapped.
/// - Receiving (gre_parse_header, ipgre_rcv, ip_tunnel_lookup, ip_tunnel_rcv): IP protocol 47
///   to a local address. Version or routing bits: dropped. A checksum that fails: dropped. The
///   tunnel is found as the kernel's four passes find it — both endpoints, then the remote
///   only, then the local only, then neither — each needing the key to match (a keyed tunnel
///   takes only that key, a keyless one only keyless packets), gretap's for 0x6558 and gre's
///   for the rest; none: ICMP port unreachable. Then the checksum flag must be what `icsum`
///   says (else rx_crc_errors), with `iseq` a sequence number not older than the last
///   (rx_fifo_errors), outer CE on a not-ECT inner packet is dropped (rx_frame_errors) and
///   otherwise copied in (INET_ECN_decapsulate). The inner packet is received on the device.
/// - The fallback devices (ipgre_init_net, ipgre_tap_init_net): the first GRE device, or the
///   first `ip tunnel` ioctl naming one (dev_load), brings `gre0` and `gretap0`, as loading
///   ip_gre does: no endpoints, down, never deleted (ip_tunnel_dellink leaves them). Up, they
///   take what no other tunnel takes (ip_tunnel_lookup's last resort).
/// - Changing a tunnel (ipgre_changelink → ip_tunnel_changelink): another tunnel with the same
///   endpoints, link and key is EEXIST; a gre device cannot turn point-to-point into
///   broadcast or back (EINVAL); a fallback cannot be changed (EINVAL). A new link rebinds the
///   MTU (ip_tunnel_bind_dev) and a new header length moves it (ipgre_link_update), unless
///   the request sets the MTU.
/// Not built: NBMA tunnels (no remote; the fallbacks have none and drop what they are sent),
/// multicast remotes, collect_metadata, erspan (and its erspan0), IPv6 underlays (ip6gre),
/// GSO through the tunnel, PMTU messages to the inner sender.
final class GREDriver: NetDriver {
    struct Config: Equatable {
        var tap: Bool
        var remote: UInt32 = 0, local: UInt32 = 0
        var link: Int32 = 0
        /// GRE wire flags for what arrives and what is sent: GRE_CSUM, GRE_KEY, GRE_SEQ.
        var iflags: UInt16 = 0, oflags: UInt16 = 0
        var ikey: UInt32 = 0, okey: UInt32 = 0
        /// 0: inherit the inner packet's.
        var ttl: UInt8 = 0
        /// Bit 0 set: inherit the inner packet's.
        var tos: UInt8 = 0
        var pmtudisc = true
        /// The header GRE adds (4, plus 4 each for checksum, key and sequence number).
        var headerLength: Int { 4 + (oflags & Self.csum != 0 ? 4 : 0) + (oflags & Self.key != 0 ? 4 : 0) + (oflags & Self.seq != 0 ? 4 : 0) }
        static let csum: UInt16 = 0x8000, routing: UInt16 = 0x4000, key: UInt16 = 0x2000, seq: UInt16 = 0x1000, version: UInt16 = 0x0007
    }
    var config: Config
    /// gre0 or gretap0 (itn->fb_tunnel_dev).
    var fallback = false
    var oSeq: UInt32 = 0
    var iSeq: UInt32 = 0
    static let teb: UInt16 = 0x6558

    init(config: Config) { self.config = config }

    override var supportedFeatures: DeviceFeatures { [] }
    override var countsRxMulticast: Bool { false }
    override var details: String {
        var s = config.tap ? "gretap" : "gre"
        s += " remote \(CommandRunner.ipString(config.remote)) local \(config.local == 0 ? "any" : CommandRunner.ipString(config.local))"
        if config.iflags & Config.key != 0 { s += " ikey \(config.ikey)" }
        if config.oflags & Config.key != 0 { s += " okey \(config.okey)" }
        return s + " ttl \(config.ttl == 0 ? "inherit" : String(config.ttl))"
    }

    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        let pool = dp.pool, ipv4 = dp.ipv4, c = config
        let hlen = c.headerLength
        batch.drain { p in
            let m = pool.meta(p)
            let frame = pool.data(p)
            let len = Int(m.pointee.length)
            // The payload: the whole frame for gretap, the packet after the Ethernet header for gre.
            let strip = c.tap ? 0 : EthernetHeader.length
            guard len > strip, c.remote != 0 else { dev.stats.txDropped &+= 1; pool.free(p); return }
            let etherType = UInt16(frame.load(fromByteOffset: 12, as: UInt8.self)) << 8 | UInt16(frame.load(fromByteOffset: 13, as: UInt8.self))
            let proto = c.tap ? Self.teb : etherType
            let push = EthernetHeader.length + InetWire.ipv4Length + hlen - strip
            guard m.pointee.dataOffset >= UInt32(push) else { dev.stats.txDropped &+= 1; pool.free(p); return }
            // The inner network header, for what `inherit` and ECN read.
            let inner = frame + EthernetHeader.length
            let innerV4 = etherType == EtherType.ipv4 && len >= EthernetHeader.length + InetWire.ipv4Length
            let innerV6 = etherType == EtherType.ipv6 && len >= EthernetHeader.length + 40
            let innerTOS: UInt8 = innerV4 ? inner.load(fromByteOffset: 1, as: UInt8.self)
                : innerV6 ? UInt8(truncatingIfNeeded: UInt16(inner.load(as: UInt8.self) & 0x0F) << 4 | UInt16(inner.load(fromByteOffset: 1, as: UInt8.self) >> 4)) : 0
            var tos = c.tos
            if tos & 1 != 0 { tos = (innerV4 || innerV6) ? innerTOS : 0 }
            tos = (tos & ~3) | (innerTOS & 3 == 3 ? 2 : innerTOS & 3)          // INET_ECN_encapsulate
            var ttl = c.ttl
            if ttl == 0 { ttl = innerV4 ? inner.load(fromByteOffset: 8, as: UInt8.self) : innerV6 ? inner.load(fromByteOffset: 7, as: UInt8.self) : 64 }
            let df = c.pmtudisc || (innerV4 && inner.load(fromByteOffset: 6, as: UInt8.self) & 0x40 != 0)
            var src = c.local
            if src == 0, let r = ipv4.fib.lookup(c.remote, hash: 0) { src = ipv4.preferredSource(r) }
            guard src != 0 else { dev.stats.txDropped &+= 1; pool.free(p); return }
            let payload = len - strip
            m.pointee.dataOffset -= UInt32(push)
            m.pointee.length = UInt32(EthernetHeader.length + InetWire.ipv4Length + hlen + payload)
            let f = pool.data(p)
            let g = Bytes(f + EthernetHeader.length + InetWire.ipv4Length, count: hlen + payload)
            // gre_build_header.
            g.setU16(0, c.oflags & (Config.csum | Config.key | Config.seq))
            g.setU16(2, proto)
            var o = 4
            if c.oflags & Config.csum != 0 { g.setU32(4, 0); o += 4 }
            if c.oflags & Config.key != 0 { g.setU32(o, c.okey); o += 4 }
            if c.oflags & Config.seq != 0 { g.setU32(o, oSeq); oSeq &+= 1 }
            if c.oflags & Config.csum != 0 {
                g.base.storeBytes(of: Checksum.fold(Checksum.sum(g.base, hlen + payload)).bigEndian, toByteOffset: 4, as: UInt16.self)
            }
            InetWire.writeIPv4(f + EthernetHeader.length, tos: tos, totalLength: InetWire.ipv4Length + hlen + payload, id: ipv4.takeID(), df: df,
                               ttl: ttl, proto: 47, src: src, dst: c.remote)
            m.pointee.csum = .none
            m.pointee.gsoType = GSOType(rawValue: 0); m.pointee.gsoSize = 0
            m.pointee.vlanPresent = false
            dev.stats.txPackets &+= 1
            dev.stats.txBytes &+= UInt64(payload)
            ipv4.output(p, dst: c.remote)
        }
    }
}

extension Datapath {
    /// `link add NAME type gre|gretap remote A [local A] [ikey|okey|key K] [icsum|ocsum|csum]
    /// [iseq|oseq|seq] [ttl N|inherit] [tos N|inherit] [pmtudisc|nopmtudisc] [dev UNDERLAY]`.
    @discardableResult
    func addGRE(name: String, config c: GREDriver.Config, mac: MACAddress? = nil, mtu: Int? = nil) throws(SluiceError) -> NetDevice {
        // ipgre_tunnel_validate, ipgre_tap_validate, ip_tunnel_newlink's ip_tunnel_find.
        if (c.iflags | c.oflags) & (GREDriver.Config.version | GREDriver.Config.routing) != 0 { throw SluiceError("RTNETLINK answers: Invalid argument") }
        guard c.remote != 0 else {
            if c.tap { throw SluiceError("RTNETLINK answers: Invalid argument") }
            throw SluiceError("Error: gre: a tunnel without a remote (NBMA) is not implemented in Sluice (Operation not supported).")
        }
        if c.remote >> 28 == 0xE { throw SluiceError("Error: gre: multicast remotes are not implemented in Sluice (Operation not supported).") }
        greFallbacks()
        if findTunnel(c) != nil { throw SluiceError("RTNETLINK answers: File exists") }
        let maxMTU = 65535 - greTunnelHeader(c)
        if let mtu, mtu > maxMTU || mtu < 68 { throw SluiceError("RTNETLINK answers: Invalid argument") }
        return try registerGRE(name: name, config: c, mac: mac ?? .local(seed: stableHash(name) ^ 0x6E5E), mtu: mtu ?? greBindMTU(c), fallback: false)
    }

    /// What the tunnel adds in front of a packet, the outer IPv4 header included (and the
    /// inner Ethernet header of a gretap: its hard_header_len).
    func greTunnelHeader(_ c: GREDriver.Config) -> Int {
        InetWire.ipv4Length + c.headerLength + (c.tap ? EthernetHeader.length : 0)
    }

    /// ip_tunnel_bind_dev: the MTU of the device the remote is routed through (or the underlay
    /// given, else 1500) less what the tunnel adds, at least 68.
    func greBindMTU(_ c: GREDriver.Config) -> Int {
        var under = 1500
        if c.remote != 0, let r = ipv4.fib.lookup(c.remote, hash: 0), let d = device(r.dev) { under = d.mtu }
        else if c.link != 0, let d = device(c.link) { under = d.mtu }
        return max(68, min(under, 65535) - greTunnelHeader(c))
    }

    func registerGRE(name: String, config c: GREDriver.Config, mac: MACAddress, mtu: Int, fallback: Bool) throws(SluiceError) -> NetDevice {
        let drv = GREDriver(config: c)
        drv.fallback = fallback
        let dev = NetDevice(name: name, kind: c.tap ? "gretap" : "gre", mac: mac, mtu: mtu, driver: drv)
        if c.tap {
            dev.operstateUnknown = true
        } else {
            // ipgre_tunnel_init: NOARP; ip_tunnel_bind_dev: POINTOPOINT once there is a remote.
            dev.flags = c.remote != 0 ? [.noARP, .pointToPoint] : [.noARP]
            dev.noQueue = true                 // alloc_netdev_mqs: no tx_queue_len set, IFF_NO_QUEUE
            dev.operstateUnknown = true
        }
        try register(dev)
        ipv4.addProtocol(47, .gre)             // gre_add_protocol, once the module is there
        return dev
    }

    /// ip_gre's module load: gre0 and gretap0, once (a name already taken is left alone).
    func greFallbacks() {
        for tap in [false, true] {
            let name = tap ? "gretap0" : "gre0"
            guard !devices.contains(where: { ($0?.driver as? GREDriver).map { $0.fallback && $0.config.tap == tap } ?? false }),
                  device(named: name) == nil else { continue }
            let c = GREDriver.Config(tap: tap, pmtudisc: false)
            _ = try? registerGRE(name: name, config: c, mac: MACAddress(raw: 0), mtu: greBindMTU(c), fallback: true)
        }
    }

    /// ip_tunnel_find: the tunnel of the same kind with these endpoints, link and key.
    func findTunnel(_ c: GREDriver.Config) -> NetDevice? {
        typealias C = GREDriver.Config
        for case let d? in devices {
            guard let g = d.driver as? GREDriver else { continue }
            let o = g.config
            if o.tap == c.tap && o.remote == c.remote && o.local == c.local && o.link == c.link
                && o.iflags & C.key == c.iflags & C.key && (c.iflags & C.key == 0 || o.ikey == c.ikey) { return d }
        }
        return nil
    }

    /// ip_tunnel_changelink's checks, before anything changes.
    func checkGREChange(_ dev: NetDevice, _ c: GREDriver.Config) throws(SluiceError) {
        guard let g = dev.driver as? GREDriver, g.config.tap == c.tap else { throw SluiceError("RTNETLINK answers: Operation not supported") }
        if g.fallback { throw SluiceError("RTNETLINK answers: Invalid argument") }
        if let t = findTunnel(c) {
            if t !== dev { throw SluiceError("RTNETLINK answers: File exists") }
        } else if !c.tap && (c.remote != 0) != dev.flags.contains(.pointToPoint) {
            throw SluiceError("RTNETLINK answers: Invalid argument")
        }
        if c.remote == 0 { throw SluiceError("Error: gre: a tunnel without a remote (NBMA) is not implemented in Sluice (Operation not supported).") }
        if c.remote >> 28 == 0xE { throw SluiceError("Error: gre: multicast remotes are not implemented in Sluice (Operation not supported).") }
    }

    /// ip_tunnel_update, then ipgre_link_update: the new parameters; a new link rebinds the
    /// MTU and a new GRE header length moves it, when `setMTU` (the request gives none).
    func changeGRE(_ dev: NetDevice, _ c: GREDriver.Config, setMTU: Bool) {
        guard let g = dev.driver as? GREDriver else { return }
        let old = g.config
        g.config = c
        if setMTU {
            if old.link != c.link { dev.mtu = greBindMTU(GREDriver.Config(tap: c.tap, remote: c.remote, local: c.local, link: c.link, oflags: old.oflags)) }
            dev.mtu = max(dev.mtu - (c.headerLength - old.headerLength), 68)
        }
    }

    /// gre_rcv: a GRE packet to one of our addresses, `ihl` and `total` its outer header's.
    func greReceive(_ inDev: NetDevice, _ p: consuming Packet, ihl: Int, total: Int) {
        let ipv4 = self.ipv4
        let ip = pool.data(p) + EthernetHeader.length
        let glen = total - ihl
        guard glen >= 4 else { ipv4.stats.greErrors &+= 1; pool.free(p); return }
        let g = Bytes(ip + ihl, count: glen)
        let flags = g.u16(0), proto = g.u16(2)
        typealias C = GREDriver.Config
        // gre_parse_header.
        guard flags & (C.version | C.routing) == 0 else { ipv4.stats.greErrors &+= 1; pool.free(p); return }
        let hlen = 4 + (flags & C.csum != 0 ? 4 : 0) + (flags & C.key != 0 ? 4 : 0) + (flags & C.seq != 0 ? 4 : 0)
        guard glen >= hlen else { ipv4.stats.greErrors &+= 1; pool.free(p); return }
        if flags & C.csum != 0, Checksum.fold(Checksum.sum(g.base, glen)) != 0 { ipv4.stats.greErrors &+= 1; pool.free(p); return }
        var o = flags & C.csum != 0 ? 8 : 4
        var key: UInt32 = 0, seq: UInt32 = 0
        if flags & C.key != 0 { key = g.u32(o); o += 4 }
        if flags & C.seq != 0 { seq = g.u32(o) }
        let remote = UInt32(bigEndian: ip.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        let local = UInt32(bigEndian: ip.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        let tap = proto == GREDriver.teb
        // ip_tunnel_lookup's four passes (a tunnel bound to the arrival device first in each).
        func keyMatches(_ c: C) -> Bool { flags & C.key == 0 ? c.iflags & C.key == 0 : c.iflags & C.key != 0 && c.ikey == key }
        var found: NetDevice?
        for pass in 0..<4 where found == nil {
            var cand: NetDevice?
            for slot in devices {                      // not allDevices: no array per packet
                guard let d = slot, let drv = d.driver as? GREDriver, drv.config.tap == tap, d.isUp, keyMatches(drv.config) else { continue }
                let c = drv.config
                let hit: Bool
                switch pass {
                case 0: hit = c.local == local && c.remote == remote
                case 1: hit = c.remote == remote && c.local == 0
                case 2: hit = c.local == local && c.remote == 0
                default: hit = c.local == 0 && c.remote == 0
                }
                guard hit else { continue }
                if c.link == inDev.ifindex { cand = d; break }
                if cand == nil { cand = d }
            }
            found = cand
        }
        // The last resort: the kind's fallback device, if it is up.
        if found == nil {
            for slot in devices {
                if let d = slot, let drv = d.driver as? GREDriver, drv.fallback, drv.config.tap == tap, d.isUp { found = d; break }
            }
        }
        guard let dev = found, let drv = dev.driver as? GREDriver else {
            ipv4.icmpSend(inDev, p, type: 3, code: 3, info: 0, forLocal: true)
            pool.free(p); return
        }
        // ip_tunnel_rcv.
        let c = drv.config
        if (c.iflags & C.csum != 0) != (flags & C.csum != 0) {
            dev.stats.rxCrcErrors &+= 1; dev.stats.rxErrors &+= 1; pool.free(p); return
        }
        if c.iflags & C.seq != 0 {
            if flags & C.seq == 0 || (drv.iSeq != 0 && Int32(bitPattern: seq &- drv.iSeq) < 0) {
                dev.stats.rxFifoErrors &+= 1; dev.stats.rxErrors &+= 1; pool.free(p); return
            }
            drv.iSeq = seq &+ 1
        }
        let innerLen = glen - hlen
        let innerType: UInt16
        if tap {
            guard innerLen >= EthernetHeader.length else { dev.stats.rxLengthErrors &+= 1; dev.stats.rxErrors &+= 1; pool.free(p); return }
            let e = ip + ihl + hlen
            innerType = UInt16(e.load(fromByteOffset: 12, as: UInt8.self)) << 8 | UInt16(e.load(fromByteOffset: 13, as: UInt8.self))
        } else {
            innerType = proto
        }
        let outerTOS = ip.load(fromByteOffset: 1, as: UInt8.self)     // read before a copy-on-write moves the bytes
        var pkt = p
        guard pool.makeWritable(&pkt) else { dev.stats.rxDropped &+= 1; pool.free(pkt); return }
        let m = pool.meta(pkt)
        // The frame moves to the inner one: a gretap's as it came, a gre's behind an Ethernet
        // header of our own (to the device, with the GRE protocol as its type).
        let start = EthernetHeader.length + ihl + hlen - (tap ? 0 : EthernetHeader.length)
        m.pointee.dataOffset += UInt32(start)
        m.pointee.length = UInt32(innerLen + (tap ? 0 : EthernetHeader.length))
        let f = pool.data(pkt)
        if !tap { InetWire.writeEthernet(f, dst: dev.mac, src: MACAddress(raw: 0), type: proto) }
        // INET_ECN_decapsulate: outer CE onto the inner packet; not-ECT inner with CE outer drops.
        if outerTOS & 3 == 3 {
            let n = f + EthernetHeader.length
            if innerType == EtherType.ipv4 && innerLen >= (tap ? 34 : 20) {
                let t = n.load(fromByteOffset: 1, as: UInt8.self)
                if t & 3 == 0 { dev.stats.rxFrameErrors &+= 1; dev.stats.rxErrors &+= 1; pool.free(pkt); return }
                if t & 3 != 3 {
                    n.storeBytes(of: t | 3, toByteOffset: 1, as: UInt8.self)
                    n.storeBytes(of: UInt16(0), toByteOffset: 10, as: UInt16.self)
                    let ihl2 = Int(n.load(as: UInt8.self) & 0x0F) * 4
                    n.storeBytes(of: Checksum.fold(Checksum.sum(n, ihl2)).bigEndian, toByteOffset: 10, as: UInt16.self)
                }
            } else if innerType == EtherType.ipv6 && innerLen >= (tap ? 54 : 40) {
                let b1 = n.load(fromByteOffset: 1, as: UInt8.self)
                if (b1 >> 4) & 3 == 0 { dev.stats.rxFrameErrors &+= 1; dev.stats.rxErrors &+= 1; pool.free(pkt); return }
                n.storeBytes(of: b1 | 0x30, toByteOffset: 1, as: UInt8.self)
            }
        }
        // skb_scrub_packet: what the outer packet carried does not follow the inner one.
        m.pointee.csum = .none
        m.pointee.gsoType = GSOType(rawValue: 0); m.pointee.gsoSize = 0
        m.pointee.vlanPresent = false
        m.pointee.mark = 0
        m.pointee.pktType = 0
        m.pointee.tcFlags = 0
        divert(pkt, to: dev.ifindex, egress: false)
    }
}
