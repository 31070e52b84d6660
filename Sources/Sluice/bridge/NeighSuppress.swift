/// Principles (net/bridge/br_arp_nd_proxy.c)
/// ----------
/// The bridge answers some ARP requests and IPv6 neighbour solicitations itself, from the
/// neighbour table of its own device (entries an EVPN control plane or `ip neigh add … dev br0`
/// put there), and keeps what it answered from ports that asked for it:
/// - `proxy_arp` on the port a request arrives on: a request for a neighbour the bridge knows
///   (NUD_VALID, its address in the FDB) is answered out of that port; nothing the bridge
///   floods ever goes to a proxy_arp port.
/// - `proxy_arp_wifi` on the port behind which the neighbour sits: the same answer, and the
///   answered request is not flooded to proxy_arp_wifi ports.
/// - `neigh_suppress` on the neighbour's port: ARP and ND (solicitations) are answered; once
///   any port has it (BROPT_NEIGH_SUPPRESS_ENABLED), a request whose neighbour the bridge
///   knows, a request for the bridge's own address, a gratuitous ARP or ARP probe, a DAD
///   solicitation and an unsolicited advertisement are not flooded to neigh_suppress ports.
///   Frames arriving on a neigh_suppress port are not looked at.
/// - The answer is the kernel's arp_create / br_nd_send frame: 42-byte ARP reply from the
///   neighbour's address; a solicited, override neighbour advertisement (router flag from the
///   entry) with the target's link-layer option, hop limit 255, to the solicitation's source
///   link-layer option (else its Ethernet source). With VLAN filtering, the answer leaves
///   tagged with the request's TCI unless its VID is the port's PVID, and the neighbour is
///   looked up on the bridge's VLAN device for that VLAN (none: no answer).
/// - Frames the bridge device sends itself are looked at only with neigh_suppress on some
///   port; their answers go up the bridge device's own stack (netif_rx: its backlog), but an
///   ARP answer outside a VLAN is transmitted through the bridge device, as arp_send does.
/// Not modelled: per-VLAN suppression (neigh_vlan_suppress, Linux 6.5), addresses on devices
/// stacked above the bridge's VLAN device (br_is_local_ip's upper walk).
extension Bridge {
    /// BR_INPUT_SKB_CB(skb)->proxyarp_replied for the frame at `frame` (`length` bytes,
    /// metadata `m`) arriving on `port` (nil: sent by the bridge device), answering where the
    /// kernel answers.
    func proxySuppress(_ frame: UnsafeMutableRawPointer, length: Int, _ m: UnsafeMutablePointer<PacketMeta>, vid: UInt16,
                       port: NetDevice?, _ dp: Datapath) -> Bool {
        guard length >= EthernetHeader.length else { return false }
        let type = EthernetHeader(unchecked: Bytes(frame, count: length)).etherType
        if type == EtherType.arp || type == 0x8035 {
            guard let arp = ARPHeader(bridgeView: Bytes(frame + EthernetHeader.length, count: length - EthernetHeader.length)) else { return false }
            return proxySuppressARP(arp, m, vid: vid, port: port, dp)
        }
        if type == EtherType.ipv6 && neighSuppressEnabled,
           let nd = Inet6Wire.bridgeNDMessage(frame + EthernetHeader.length, length: length - EthernetHeader.length) {
            return suppressND(frame, nd, m, vid: vid, port: port, dp)
        }
        return false
    }

    /// The device whose neighbour table answers for `vid`: the bridge itself, or its VLAN
    /// device for that VLAN (__vlan_find_dev_deep_rcu).
    private func neighbourDevice(vid: UInt16, _ m: UnsafeMutablePointer<PacketMeta>, _ dp: Datapath) -> NetDevice? {
        if vid == 0 { return device }
        let i = device.vlanGroup?.find(proto: m.pointee.vlanPresent ? m.pointee.vlanProto : vlanProto, vid: vid) ?? 0
        return i == 0 ? nil : dp.devices[Int(i)]
    }

    /// br_fdb_find_rcu for the neighbour's address: whether the FDB holds it, and the port it
    /// names (nil for the bridge's own addresses, whose f->dst is NULL).
    private func fdbHolder(_ mac: MACAddress, vid: UInt16, _ dp: Datapath) -> (found: Bool, port: NetDevice?) {
        let (port, local) = fdb.lookup(mac, vlan: vid, now: dp.clock.now, ageing: .max >> 1)
        if port == 0 && !local { return (false, nil) }
        return (true, port == device.ifindex ? nil : dp.devices[Int(port)])
    }

    /// br_do_proxy_suppress_arp.
    private func proxySuppressARP(_ arp: ARPHeader, _ m: UnsafeMutablePointer<PacketMeta>, vid: UInt16, port: NetDevice?, _ dp: Datapath) -> Bool {
        guard !device.flags.contains(.noARP) else { return false }
        let sip = arp.senderIP, tip = arp.targetIP, op = arp.operation
        if tip >> 24 == 127 || tip >> 28 == 0xE { return false }
        let portFlags = port?.bridgePort.flags ?? []
        if neighSuppressEnabled {
            if portFlags.contains(.neighSuppress) { return false }
            // Gratuitous ARP and probes (RARP aside) are kept from suppressing ports.
            if op != 3 && op != 4 && (sip >> 24 == 0 || sip == tip) { return true }
        }
        guard op == 1, let vdev = neighbourDevice(vid: vid, m, dp) else { return false }
        if neighSuppressEnabled && dp.ipv4.confirmAddress(dp.ipv4.addresses[vdev.ifindex] ?? [], dst: 0, local: tip, scope: RouteScope.host) {
            return true
        }
        let table = dp.ipv4.neighbours
        guard let i = table.find(vdev.ifindex, tip) else { return false }
        let n = table.entries[Int(i)]
        guard n.state.isValid else { return false }
        let f = fdbHolder(n.mac, vid: vid, dp)
        guard f.found else { return false }
        var replied = false
        if portFlags.contains(.proxyArp) || !(f.port?.bridgePort.flags.isDisjoint(with: [.proxyArpWifi, .neighSuppress]) ?? true) {
            // br_arp_send → arp_create(ARPOP_REPLY, dest_ip sip, src_ip tip, dest_hw sha, src_hw n->ha, target_hw sha).
            let sha = arp.senderMAC
            answer(port: port, m, vid: vid, arp: true, dp) { f in
                InetWire.writeEthernet(f, dst: sha, src: n.mac, type: EtherType.arp)
                let a = Bytes(f + EthernetHeader.length, count: ARPHeader.length)
                a.setU16(0, 1); a.setU16(2, EtherType.ipv4); a.setU8(4, 6); a.setU8(5, 4); a.setU16(6, 2)
                n.mac.store(to: a.base + 8); a.setU32(14, tip)
                sha.store(to: a.base + 18); a.setU32(24, sip)
                return EthernetHeader.length + ARPHeader.length
            }
            replied = true
        }
        return replied || neighSuppressEnabled
    }

    /// br_do_suppress_nd (called only while some port has neigh_suppress).
    private func suppressND(_ frame: UnsafeMutableRawPointer, _ nd: (type: UInt8, flags: UInt32, target: UInt128, answerTo: Inet6Wire.LLOption),
                            _ m: UnsafeMutablePointer<PacketMeta>, vid: UInt16, port: NetDevice?, _ dp: Datapath) -> Bool {
        if port?.bridgePort.flags.contains(.neighSuppress) ?? false { return false }
        if nd.type == 136 { return nd.flags & 0x4000_0000 == 0 }
        let ip = frame + EthernetHeader.length
        let saddr = Inet6Wire.source(ip), daddr = Inet6Wire.destination(ip)
        if saddr == 0 || saddr == daddr { return true }
        guard let vdev = neighbourDevice(vid: vid, m, dp) else { return false }
        if (dp.ipv6.addresses[vdev.ifindex] ?? []).contains(where: { $0.address == nd.target && !$0.tentative }) { return true }
        let table = dp.ipv6.neighbours
        guard let i = table.find(vdev.ifindex, nd.target) else { return false }
        let n = table.entries[Int(i)]
        guard n.state.isValid else { return false }
        let f = fdbHolder(n.mac, vid: vid, dp)
        guard f.found else { return false }
        if f.port?.bridgePort.flags.contains(.neighSuppress) ?? false {
            let to: MACAddress
            switch nd.answerTo {
            case .malformed: return true            // br_nd_send gives up; still "replied"
            case .some(let mac): to = mac
            case .none: to = MACAddress(at: frame + 6)
            }
            let tclass = Inet6Wire.trafficClass(ip) & 0xF0                 // ipv6hdr->priority only
            let target = nd.target, router = n.isRouter
            answer(port: port, m, vid: vid, arp: false, dp) { f in
                InetWire.writeEthernet(f, dst: to, src: n.mac, type: EtherType.ipv6)
                let rip = f + EthernetHeader.length, icmp = rip + Inet6Wire.ipv6Length
                let flags: UInt32 = (router ? 0x8000_0000 : 0) | 0x6000_0000     // solicited, override
                let len = Inet6Wire.writeND(icmp, type: 136, flags: flags, target: target, lladdr: n.mac)
                Inet6Wire.setChecksum(icmp, length: len, offset: 2, src: target, dst: saddr, next: IPProto.icmpv6)
                Inet6Wire.writeIPv6(rip, trafficClass: tclass, payloadLength: len, nextHeader: IPProto.icmpv6, hopLimit: 255, src: target, dst: saddr)
                return EthernetHeader.length + Inet6Wire.ipv6Length + len
            }
        }
        return true
    }

    /// Sends an answer built by `write` (which returns its length) as br_arp_send and
    /// br_nd_send do: with VLAN filtering tagged with the request's whole TCI (priority
    /// included) unless its VID is the PVID of the port (or of the bridge itself, for its
    /// own device); out of the port it came in by, or, for the bridge device's own requests,
    /// up its receive path (netif_rx) — except an ARP answer outside any VLAN, which arp_send
    /// transmits through the bridge device (br_dev_xmit forwards it by its destination, and
    /// one to the bridge's own address ends at its local FDB entry).
    private func answer(port: NetDevice?, _ m: UnsafeMutablePointer<PacketMeta>, vid: UInt16, arp: Bool, _ dp: Datapath,
                        _ write: (UnsafeMutableRawPointer) -> Int) {
        let pool = dp.pool
        guard let q = pool.alloc() else { (port ?? device).drop(.noBuffer); return }
        let qm = pool.meta(q)
        qm.pointee.length = UInt32(write(pool.data(q)))
        let tci: UInt16 = vid == 0 ? 0 : (m.pointee.vlanPresent ? m.pointee.vlanTCI : vid)
        if tci != 0 {
            let pvid = port.map { $0.bridgeVLANs?.pvid ?? 0 } ?? selfVLANs.pvid
            if pvid != tci & 0x0FFF {
                qm.pointee.vlanPresent = true
                qm.pointee.vlanProto = m.pointee.vlanPresent ? m.pointee.vlanProto : vlanProto
                qm.pointee.vlanTCI = tci
            }
        }
        neighAnswers &+= 1
        if let port {
            dp.stage(port.ifindex, q)
        } else if arp && tci == 0 {
            dp.stage(device.ifindex, q)
        } else if let drv = device.driver as? BridgeDriver, drv.backlog.queue.count < RxBacklog.max {
            drv.backlog.queue.push(q, pool)
            dp.napiSchedule(device)
        } else {
            device.drop(.noBuffer); device.stats.rxDropped &+= 1
            pool.free(q)
        }
    }
}
