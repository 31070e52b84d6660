/// Principles (drivers/net/vxlan/vxlan_core.c, RFC 7348)
/// ----------
/// A VXLAN device carries Ethernet frames inside UDP over IPv4: what it is sent gets an 8-byte
/// VXLAN header (the I flag and the 24-bit VNI), a UDP header (the source port a hash of the
/// inner flow, in the local port range, as udp_flow_src_port; the checksum computed — the
/// kernel's default for IPv4, `udpcsum`) and an IPv4 header (from `local`, or the address the
/// route to `remote` prefers; TTL 64 unless set; TOS as set; DF clear), and leaves through
/// Sluice's own IPv4 output to `remote` — routed, its next hop resolved by ARP. UDP datagrams
/// to `dstport` on a local address whose VXLAN header carries a VNI of a VXLAN device are
/// taken apart and the inner frame received on that device.
///
/// Where a frame goes is the device's forwarding table (VXLANFdb.swift): the remotes of its
/// destination MAC, else of the all-zeros entry (`remote`, and whatever `bridge fdb append`
/// added), each getting its own copy.
///
/// What this device does not do (refused when asked, by name): multicast groups, IPv6
/// underlays, GBP and other extensions, learning on a collect_metadata device. The device offers no segmentation
/// or checksum offload, so GSO frames are segmented and checksums completed before they are
/// encapsulated, and its MTU leaves room for the 50 bytes it adds.
final class VXLANDriver: NetDriver {
    struct Config: Equatable {
        var vni: UInt32
        var remote: UInt32 = 0
        var local: UInt32 = 0
        var port: UInt16 = 8472           // the kernel's default (not IANA's 4789)
        var ttl: UInt8 = 0                // 0: 64 (ip_default_ttl) for a unicast remote
        var tos: UInt8 = 0
        var udpCsum = true
        var portMin: UInt16 = 0, portMax: UInt16 = 0   // 0: the local port range 32768–60999
        var link: Int32 = 0
        /// collect_metadata (`external`): the endpoint, VNI, port, TTL, TOS and checksum come
        /// from each packet's tunnel metadata (tunnel_key), and what is received carries them.
        var external = false
        /// IFLA_VXLAN_LEARNING (on unless `nolearning`), AGEING (seconds) and LIMIT (0: none).
        var learning = true
        var ageing: UInt32 = 300
        var maxAddresses = 0
    }
    var config: Config
    /// The forwarding table (VXLANFdb.swift): inner MAC → remotes, plain values.
    var fdb: [UInt64: VXLANFdbEntry] = [:]
    var moreRemotes: [[VXLANRemote]] = []
    var freeMore: [Int32] = []
    var fdbSeq: UInt64 = 0
    /// Entries learnt or moved by snooping; frames dropped because they would move a static one.
    var learnt: UInt64 = 0, rxStaticMoves: UInt64 = 0
    /// Frames dropped for want of a destination (no remote) and received datagrams refused.
    var txNoRemote: UInt64 = 0, rxBad: UInt64 = 0

    static let overhead = 50                // outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8

    init(config: Config) { self.config = config }

    override var supportedFeatures: DeviceFeatures { [] }
    override var countsRxMulticast: Bool { false }
    override var details: String {
        var s = config.external ? "vxlan external " : "vxlan id \(config.vni) "
        if config.remote != 0 { s += "remote \(CommandRunner.ipString(config.remote)) " }
        if config.local != 0 { s += "local \(CommandRunner.ipString(config.local)) " }
        return s + "dstport \(config.port)"
    }

    /// vxlan_xmit → vxlan_xmit_one for an IPv4 remote.
    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        let pool = dp.pool
        let c = config
        let ipv4 = dp.ipv4
        batch.drain { p in
            let m = pool.meta(p)
            // The endpoint and its parameters: the device's, or with collect_metadata the
            // packet's tunnel metadata (without any, the packet is dropped).
            var remote = c.remote, local = c.local, vni = c.vni, port = c.port, ttl = c.ttl, tos = c.tos, csum = c.udpCsum, df = false
            if c.external {
                guard m.pointee.tcFlags & PacketMeta.hasTunnel != 0 else { txNoRemote &+= 1; dev.stats.txDropped &+= 1; pool.free(p); return }
                let t = pool.tunnels[Int(p.index)]
                remote = t.dst; local = t.src; vni = t.id & 0xFF_FFFF
                if t.port != 0 { port = t.port }
                ttl = t.ttl; tos = t.tos; csum = t.flags & TunnelInfo.csum != 0; df = t.flags & TunnelInfo.dontFragment != 0
                m.pointee.tcFlags &= ~PacketMeta.hasTunnel
            }
            if !c.external {
                // vxlan_xmit: the destination's entry, else the all-zeros one; every remote but
                // the last gets a copy of its own.
                let dst = MACAddress(at: pool.data(p)).raw
                guard let e = fdb[dst] ?? fdb[Self.zeroMAC] else { txNoRemote &+= 1; dev.stats.txDropped &+= 1; pool.free(p); return }
                if e.more >= 0 {
                    for r in moreRemotes[Int(e.more)] {
                        guard var copy = pool.clone(p) else { dev.stats.txDropped &+= 1; continue }
                        guard pool.makeWritable(&copy) else { dev.stats.txDropped &+= 1; pool.free(copy); continue }
                        encapsulate(dp, dev, copy, remote: r.ip, local: local, vni: r.vni, port: r.port, ttl: ttl, tos: tos, csum: csum, df: df)
                    }
                }
                remote = e.remote.ip; vni = e.remote.vni; port = e.remote.port
            }
            encapsulate(dp, dev, p, remote: remote, local: local, vni: vni, port: port, ttl: ttl, tos: tos, csum: csum, df: df)
        }
    }

    /// vxlan_xmit_one for an IPv4 remote: the outer headers in the headroom, then IPv4 output.
    func encapsulate(_ dp: Datapath, _ dev: NetDevice, _ p: consuming Packet, remote: UInt32, local: UInt32, vni: UInt32, port: UInt16,
                     ttl: UInt8, tos: UInt8, csum: Bool, df: Bool) {
            let pool = dp.pool, ipv4 = dp.ipv4, c = config
            let m = pool.meta(p)
            let inner = Int(m.pointee.length)
            guard remote != 0 else { txNoRemote &+= 1; dev.stats.txDropped &+= 1; pool.free(p); return }
            guard m.pointee.dataOffset >= UInt32(Self.overhead) else { dev.stats.txDropped &+= 1; pool.free(p); return }
            let hash = FlowHash.hash(pool, p.index, seed: 0)
            var src = local
            if src == 0, let r = ipv4.fib.lookup(remote, hash: 0) { src = ipv4.preferredSource(r) }
            guard src != 0 else { txNoRemote &+= 1; dev.stats.txDropped &+= 1; pool.free(p); return }
            // Headroom for the outer headers, in place.
            m.pointee.dataOffset -= UInt32(Self.overhead)
            m.pointee.length += UInt32(Self.overhead)
            let frame = pool.data(p)
            let ip = frame + InetWire.ethernetLength
            let udp = ip + InetWire.ipv4Length
            let udpLen = UDPHeader.length + 8 + inner
            // udp_flow_src_port: the hash scaled into [min, max).
            let lo = c.portMin != 0 ? UInt32(c.portMin) : 32768, hi = c.portMax != 0 ? UInt32(c.portMax) : 60999
            var h = hash; h ^= h << 16
            let sport = UInt16(truncatingIfNeeded: (UInt64(h) * UInt64(hi - lo)) >> 32 + UInt64(lo))
            let b = Bytes(udp, count: udpLen)
            b.setU16(0, sport); b.setU16(2, port); b.setU16(4, UInt16(udpLen)); b.setU16(6, 0)
            b.setU32(8, 0x0800_0000); b.setU32(12, vni << 8)
            InetWire.writeIPv4(ip, tos: tos, totalLength: InetWire.ipv4Length + udpLen, id: ipv4.takeID(), df: df,
                               ttl: ttl != 0 ? ttl : 64, proto: IPProto.udp, src: src, dst: remote)
            if csum {
                // The pseudo-header sum in the checksum field, then completed over the datagram
                // as a CHECKSUM_PARTIAL packet is (0 sent as 0xFFFF).
                var pseudo = UInt32(src >> 16) + UInt32(src & 0xFFFF) + UInt32(remote >> 16) + UInt32(remote & 0xFFFF)
                pseudo += UInt32(IPProto.udp) + UInt32(udpLen)
                pseudo = (pseudo & 0xFFFF) + (pseudo >> 16); pseudo = (pseudo & 0xFFFF) + (pseudo >> 16)
                b.setU16(6, UInt16(pseudo))
                _ = Checksum.complete(frame: frame, length: Int(m.pointee.length), start: InetWire.ethernetLength + InetWire.ipv4Length, offset: 6)
            }
            m.pointee.csum = .none
            m.pointee.gsoType = GSOType(rawValue: 0); m.pointee.gsoSize = 0
            m.pointee.vlanPresent = false
            dev.stats.txPackets &+= 1
            dev.stats.txBytes &+= UInt64(inner)
            ipv4.output(p, dst: remote)
    }
}

extension Datapath {
    /// `link add NAME type vxlan id VNI [remote A] [local A] [dstport P] [ttl N] [tos N]
    /// [srcport MIN MAX] [udpcsum|noudpcsum] [dev UNDERLAY]`.
    @discardableResult
    public func addVXLAN(name: String, vni: UInt32, remote: UInt32 = 0, local: UInt32 = 0, port: UInt16 = 8472, ttl: UInt8 = 0, tos: UInt8 = 0,
                         udpCsum: Bool = true, srcPorts: (UInt16, UInt16)? = nil, link: NetDevice? = nil, mac: MACAddress? = nil, mtu: Int? = nil,
                         external: Bool = false, learning: Bool = true, ageing: UInt32 = 300, maxAddresses: Int = 0) throws(SluiceError) -> NetDevice {
        guard vni < 1 << 24 else { throw SluiceError("Error: vxlan: VNI must be below 16777216 (Numerical result out of range).") }
        if remote >> 28 == 0xE { throw SluiceError("Error: vxlan: multicast groups are not implemented in Sluice; give a unicast remote (Operation not supported).") }
        for d in allDevices {
            if let v = d.driver as? VXLANDriver, v.config.port == port, v.config.external == external, external || v.config.vni == vni {
                throw SluiceError("Error: A VXLAN device with the specified VNI already exists (File exists).")
            }
        }
        var c = VXLANDriver.Config(vni: external ? 0 : vni, remote: remote, local: local, port: port, ttl: ttl, tos: tos, udpCsum: udpCsum)
        c.external = external
        c.learning = learning; c.ageing = ageing; c.maxAddresses = maxAddresses
        if let s = srcPorts { c.portMin = s.0; c.portMax = s.1 }
        c.link = link?.ifindex ?? 0
        // The underlay's MTU less the encapsulation; 1500 without one (what is longer is
        // fragmented on the way, the outer header not forbidding it).
        if let link, let mtu, mtu > link.mtu - VXLANDriver.overhead {
            throw SluiceError("Error: vxlan: mtu \(mtu) is greater than \(link.mtu - VXLANDriver.overhead), the underlay's less the encapsulation (Invalid argument).")
        }
        let dev = NetDevice(name: name, kind: "vxlan", mac: mac ?? .local(seed: stableHash(name) ^ 0x7E1A),
                            mtu: mtu ?? (link.map { $0.mtu - VXLANDriver.overhead } ?? 1500), driver: VXLANDriver(config: c))
        dev.noQueue = true            // vxlan_setup: IFF_NO_QUEUE
        dev.operstateUnknown = true   // and no carrier events
        try register(dev)
        vxlanIfindexes.removeAll { devices[Int($0)]?.driver as? VXLANDriver == nil }
        vxlanIfindexes.append(dev.ifindex)
        registerVXLANPort(port)
        if remote != 0, let v = dev.driver as? VXLANDriver {
            // vxlan_dev_configure: the default destination as the all-zeros entry.
            try? v.create(VXLANDriver.zeroMAC, VXLANRemote(ip: remote, port: port, vni: c.vni, ifindex: c.link),
                          state: NDA.NUD_REACHABLE | NDA.NUD_PERMANENT, flags: NDA.NTF_SELF, now: clock.now)
        }
        return dev
    }

    /// vxlan_rcv for UDP datagrams to a VXLAN port: the VNI names the device; the inner frame
    /// is received on it.
    func registerVXLANPort(_ port: UInt16) {
        ipv4.registerUDP(port: port) { dp, _, ip, total in
            let pool = dp.pool
            let ihl = Int(ip.load(as: UInt8.self) & 0x0F) * 4
            let udpLen = total - ihl
            let hdr = ip + ihl + UDPHeader.length
            let inner = udpLen - UDPHeader.length - 8
            guard udpLen >= UDPHeader.length + 8, inner >= EthernetHeader.length else { return }
            let flags = hdr.load(as: UInt8.self)
            let vni = UInt32(bigEndian: hdr.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) >> 8
            // The device with this VNI, else a collect_metadata one on the port (a walk of the
            // vxlan devices only, nothing allocated).
            var found: NetDevice?, external: NetDevice?
            for i in dp.vxlanIfindexes {
                guard let d = dp.devices[Int(i)], let v = d.driver as? VXLANDriver, v.config.port == port else { continue }
                if v.config.external { external = d } else if v.config.vni == vni { found = d; break }
            }
            guard let dev = found ?? external, let drv = dev.driver as? VXLANDriver else { return }
            // The I flag must be set; reserved flags refuse the packet (vxlan_rcv's unknown flags).
            guard flags == 0x08, hdr.load(fromByteOffset: 7, as: UInt8.self) == 0 else { drv.rxBad &+= 1; dev.stats.rxErrors &+= 1; return }
            guard dev.isOperational else { dev.stats.rxDropped &+= 1; return }
            if !drv.config.external {
                // vxlan_set_mac: our own frames looped back are dropped; learning snoops the
                // inner source's endpoint (refusing to move a static entry).
                let srcMAC = MACAddress(at: hdr + 8 + 6)
                if srcMAC == dev.mac { dev.stats.rxDropped &+= 1; return }
                if drv.config.learning {
                    let outerSrc = UInt32(bigEndian: ip.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
                    if !drv.snoop(srcMAC, from: outerSrc, now: dp.clock.now) { drv.rxStaticMoves &+= 1; dev.stats.rxDropped &+= 1; return }
                }
            }
            guard let q = pool.alloc() else { dev.stats.rxDropped &+= 1; return }
            pool.setFrame(q, from: hdr + 8, count: inner)
            if drv.config.external {
                // The tunnel it came by, as the metadata dst vxlan_rcv attaches.
                var t = TunnelInfo()
                t.src = UInt32(bigEndian: ip.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
                t.dst = UInt32(bigEndian: ip.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
                t.id = vni; t.port = port
                t.tos = ip.load(fromByteOffset: 1, as: UInt8.self); t.ttl = ip.load(fromByteOffset: 8, as: UInt8.self)
                t.flags = TunnelInfo.key | (ip.loadUnaligned(fromByteOffset: ihl + 6, as: UInt16.self) != 0 ? TunnelInfo.csum : 0)
                pool.tunnels[Int(q.index)] = t
                pool.metas[Int(q.index)].tcFlags |= PacketMeta.hasTunnel
            }
            dp.divert(q, to: dev.ifindex, egress: false)      // received (and counted) on the device
        }
    }
}
