import XCTest
@testable import Sluice

/// act_ct, act_connmark, act_ctinfo and flower's ct keys on real frames. This kernel has no
/// act_ct; the expected states come from nf_conntrack's sources (resolve_normal_ct's ctinfo,
/// tcp_conntracks, icmp_error_message, nf_nat_manip_pkt) and skb_flow_dissect_ct's flags.
final class ConntrackTests: XCTestCase {
    let a = FrameBuilder.ip(198, 18, 0, 1), b = FrameBuilder.ip(198, 18, 0, 2), c = FrameBuilder.ip(198, 18, 0, 3)

    func block(_ lines: [String]) throws -> (Datapath, CommandRunner) {
        let dp = Datapath(poolSize: 64, clock: .virtual(start: 1))
        let r = CommandRunner(datapath: dp)
        try dp.addLine(name: "eth0", rate: 1_000_000_000, output: nil)
        try r.execute("qdisc add dev eth0 clsact")
        for l in lines { try r.execute(l) }
        return (dp, r)
    }

    func tcp(_ s: UInt32, _ d: UInt32, _ sp: UInt16, _ dp: UInt16, _ flags: UInt8) -> [UInt8] {
        FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4,
                              payload: FrameBuilder.tcp(srcIP: s, dstIP: d, sport: sp, dport: dp, seq: 1, flags: flags, payload: []))
    }

    /// Runs the block with actions on a frame; the result, the frame after it, and the
    /// packet's metadata.
    func run(_ dp: Datapath, _ f: [UInt8], now: UInt64 = 1_000) -> (TcResult?, [UInt8], PacketMeta) {
        let p = must(dp.pool.alloc())
        f.withUnsafeBytes { dp.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
        var idx = p.index
        _ = consume p
        let r = dp.device(named: "eth0")!.ingress!.filters.run(&idx, pool: dp.pool, now: now, mayModify: true)
        let m = dp.pool.metas[Int(idx)]
        let out = Array(UnsafeRawBufferPointer(start: dp.pool.data(Packet(index: idx)), count: Int(m.length)))
        dp.pool.free(Packet(index: idx))
        return (r, out, m)
    }

    static let firewall = [
        "filter add dev eth0 ingress chain 0 protocol ip prio 1 flower ct_state -trk action ct zone 1 pipe action goto chain 1",
        "filter add dev eth0 ingress chain 1 protocol ip prio 1 flower src_ip 198.18.0.1 ct_state +trk+new classid 1:1 action ct zone 1 commit mark 0x42 pipe",
        "filter add dev eth0 ingress chain 1 protocol ip prio 2 flower ct_state +trk+est-rpl classid 1:2",
        "filter add dev eth0 ingress chain 1 protocol ip prio 3 flower ct_state +trk+est+rpl classid 1:3",
        "filter add dev eth0 ingress chain 1 protocol ip prio 4 flower ct_state +trk+rel+rpl classid 1:4",
        "filter add dev eth0 ingress chain 1 protocol ip prio 5 flower ct_state +trk+inv classid 1:5 action drop",
        "filter add dev eth0 ingress chain 1 protocol ip prio 6 flower ct_state +trk+new classid 1:6 action drop",
    ]

    /// A stateful firewall as OVS and tc users write it: A may open TCP to B; the handshake's
    /// states are NEW, ESTABLISHED|REPLY, ESTABLISHED; B may not open to A; a SYN/ACK nobody
    /// asked for is invalid (tcp_new refuses it); an ICMP error quoting A's packet is
    /// RELATED in the reply direction.
    func testStatefulFirewallStates() throws {
        let (dp, _) = try block(Self.firewall)
        XCTAssertEqual(run(dp, tcp(a, b, 40000, 80, TCPHeader.syn)).0, .classid(TcHandle(1, 1)), "SYN from A: +trk+new, committed")
        XCTAssertEqual(run(dp, tcp(b, a, 80, 40000, TCPHeader.syn | TCPHeader.ack)).0, .classid(TcHandle(1, 3)), "SYN/ACK: +est+rpl")
        XCTAssertEqual(run(dp, tcp(a, b, 40000, 80, TCPHeader.ack)).0, .classid(TcHandle(1, 2)), "ACK: +est")
        XCTAssertEqual(run(dp, tcp(b, a, 80, 40000, TCPHeader.ack)).0, .classid(TcHandle(1, 3)))
        XCTAssertEqual(run(dp, tcp(b, a, 5555, 22, TCPHeader.syn)).0, .drop, "B opening to A: +trk+new, not from A")
        XCTAssertEqual(run(dp, tcp(c, a, 80, 40001, TCPHeader.syn | TCPHeader.ack)).0, .drop, "an unasked SYN/ACK is invalid")
        // An ICMP port unreachable from B quoting a UDP datagram A sent (and committed).
        let udp = FrameBuilder.udp(srcIP: a, dstIP: b, sport: 5000, dport: 53, payload: [1, 2, 3, 4])
        XCTAssertEqual(run(dp, FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4, payload: udp)).0, .classid(TcHandle(1, 1)))
        var icmp: [UInt8] = [3, 3, 0, 0, 0, 0, 0, 0] + Array(udp.prefix(28))
        let ck = icmp.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, icmp.count)) }
        icmp[2] = UInt8(ck >> 8); icmp[3] = UInt8(ck & 0xFF)
        let err = FrameBuilder.ethernet(dst: macA, src: macB, type: EtherType.ipv4, payload: FrameBuilder.ipv4(src: b, dst: a, proto: IPProto.icmp, payload: icmp))
        XCTAssertEqual(run(dp, err).0, .classid(TcHandle(1, 4)), "ICMP error: +trk+rel+rpl")
        // The table as /proc/net/nf_conntrack lists it: the TCP connection assured, with the
        // commit's mark, in zone 1.
        let lines = dp.pool.conntrack.lines(now: 1_000)
        let tcpLine = try XCTUnwrap(lines.first { $0.contains(" tcp ") })
        XCTAssertTrue(tcpLine.contains("ESTABLISHED src=198.18.0.1 dst=198.18.0.2 sport=40000 dport=80 src=198.18.0.2 dst=198.18.0.1 sport=80 dport=40000 [ASSURED] mark=66 zone=1"), tcpLine)
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(dp.pool.inUse, 0)
    }

    /// Fragments: the first carries the ports and is tracked; the later ones take its
    /// connection and state (the kernel reassembles before tracking and gets the same state
    /// for the whole datagram). A later fragment whose first was never seen is invalid.
    func testFragmentsFollowTheirFirstFragment() throws {
        let (dp, _) = try block(Self.firewall)
        /// An IPv4 fragment of `ip` (a whole packet from FrameBuilder): payload bytes
        /// [from, to) of its payload, with MF and the offset set, the checksum redone.
        func fragment(_ ip: [UInt8], _ from: Int, _ to: Int, more: Bool, id: UInt16 = 77) -> [UInt8] {
            var h = Array(ip[0..<20])
            let body = Array(ip[(20 + from)..<(20 + to)])
            h[2] = UInt8((20 + body.count) >> 8); h[3] = UInt8((20 + body.count) & 255)
            h[4] = UInt8(id >> 8); h[5] = UInt8(id & 255)
            let fo = UInt16(from / 8) | (more ? 0x2000 : 0)
            h[6] = UInt8(fo >> 8); h[7] = UInt8(fo & 255)
            h[10] = 0; h[11] = 0
            let c = h.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, 20)) }
            h[10] = UInt8(c >> 8); h[11] = UInt8(c & 255)
            return FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4, payload: h + body)
        }
        let out = FrameBuilder.udp(srcIP: a, dstIP: b, sport: 5000, dport: 53, payload: [UInt8](repeating: 7, count: 100))
        XCTAssertEqual(run(dp, fragment(out, 0, 64, more: true)).0, .classid(TcHandle(1, 1)), "first fragment: +trk+new, committed")
        XCTAssertEqual(run(dp, fragment(out, 64, 108, more: false)).0, .classid(TcHandle(1, 1)), "second fragment: the same connection, new")
        let back = FrameBuilder.udp(srcIP: b, dstIP: a, sport: 53, dport: 5000, payload: [UInt8](repeating: 8, count: 100))
        XCTAssertEqual(run(dp, fragment(back, 0, 64, more: true, id: 78)).0, .classid(TcHandle(1, 3)), "the reply's first fragment: +est+rpl")
        XCTAssertEqual(run(dp, fragment(back, 64, 108, more: false, id: 78)).0, .classid(TcHandle(1, 3)), "and its second")
        XCTAssertEqual(run(dp, fragment(back, 64, 108, more: false, id: 79)).0, .drop, "a later fragment of a datagram never seen: +trk+inv")
        XCTAssertEqual(dp.pool.inUse, 0)
    }

    /// Without commit nothing enters the table: the next packet is NEW again. Zones keep
    /// connections apart. Entries expire by the kernel's timeouts (UDP 30 s unreplied).
    func testCommitZonesAndTimeouts() throws {
        let (dp, _) = try block([
            "filter add dev eth0 ingress protocol ip prio 1 flower ip_proto udp dst_port 1 action ct zone 3 pipe action gact pass",
            "filter add dev eth0 ingress protocol ip prio 2 flower ip_proto udp dst_port 2 action ct zone 3 commit pipe action gact pass",
            "filter add dev eth0 ingress protocol ip prio 3 flower ip_proto udp dst_port 3 action ct zone 4 pipe action gact pass",
        ])
        func udp(_ dport: UInt16, sport: UInt16 = 7) -> [UInt8] { FrameBuilder.udpFrame(dst: macB, src: macA, srcIP: a, dstIP: b, sport: sport, dport: dport) }
        XCTAssertEqual(run(dp, udp(1)).2.ctInfo, Conntrack.new)
        XCTAssertEqual(run(dp, udp(1)).2.ctInfo, Conntrack.new, "not committed: new again")
        XCTAssertEqual(dp.pool.conntrack.count, 0)
        XCTAssertEqual(run(dp, udp(2)).2.ctInfo, Conntrack.new)
        XCTAssertEqual(dp.pool.conntrack.count, 1)
        let again = run(dp, udp(2)).2
        XCTAssertEqual(again.ctInfo, Conntrack.new, "committed, no reply yet: still new")
        XCTAssertNotEqual(again.ctRef, 0)
        XCTAssertEqual(again.ctZone, 3)
        XCTAssertEqual(again.ctFlags & PacketMeta.postCT, PacketMeta.postCT)
        // The same tuple in another zone is another connection.
        XCTAssertEqual(dp.pool.conntrack.find({ var t = CTTuple(); t.family = 4; t.proto = IPProto.udp; t.srcLo = UInt64(a); t.dstLo = UInt64(b); t.sport = 7; t.dport = 2; t.zone = 4; return t }(), now: 1_000) == nil, true)
        // 30 s later (nf_conntrack_udp_timeout) the unreplied entry is gone.
        XCTAssertEqual(run(dp, udp(2), now: 1_000 + 29 * 1_000_000_000).2.ctInfo, Conntrack.new)
        XCTAssertEqual(dp.pool.conntrack.count, 1)
        _ = run(dp, udp(3), now: 1_000 + 60 * 1_000_000_000)
        XCTAssertEqual(dp.pool.conntrack.lines(now: 1_000 + 60 * 1_000_000_000).count, 0, "expired")
        XCTAssertEqual(dp.pool.inUse, 0)
    }

    /// Source NAT with a port range: the first packet is rewritten to the range, with IPv4 and
    /// TCP checksums that verify; the reply is translated back by `ct nat` (restore); a second
    /// connection from the same source port gets the next free port (nf_nat's unique tuple).
    func testSourceNATRewritesAndRestores() throws {
        let (dp, _) = try block([
            "filter add dev eth0 ingress protocol ip prio 1 flower dst_ip 198.18.0.2 action ct commit nat src addr 198.18.9.9 port 2000-2001 pipe action gact pass",
            "filter add dev eth0 ingress protocol ip prio 2 flower dst_ip 198.18.9.9 action ct nat pipe action gact pass",
        ])
        func verify(_ f: [UInt8], line: UInt = #line) {
            let ip = Array(f[14..<34])
            XCTAssertEqual(ip.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, 20)) }, 0, "IPv4 checksum", line: line)
            let seg = Array(f[34...])
            let pseudo = Array(f[26..<34]) + [0, IPProto.tcp, UInt8(seg.count >> 8), UInt8(seg.count & 255)]
            let all = pseudo + seg
            XCTAssertEqual(all.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, all.count)) }, 0, "TCP checksum", line: line)
        }
        let (_, out, m) = run(dp, tcp(a, b, 40000, 80, TCPHeader.syn))
        XCTAssertEqual(Array(out[26..<30]), [198, 18, 9, 9], "source address translated")
        // The port: the kernel starts from a hashed offset in the range when the original is
        // outside it; either of the two.
        let port = UInt16(out[34]) << 8 | UInt16(out[35])
        XCTAssertTrue(port == 2000 || port == 2001, "source port from the range: \(port)")
        XCTAssertEqual(m.ctFlags & PacketMeta.postSNAT, PacketMeta.postSNAT)
        verify(out)
        let (_, back, _) = run(dp, tcp(b, FrameBuilder.ip(198, 18, 9, 9), 80, port, TCPHeader.syn | TCPHeader.ack))
        XCTAssertEqual(Array(back[30..<34]), [198, 18, 0, 1], "reply's destination restored")
        XCTAssertEqual(UInt16(back[36]) << 8 | UInt16(back[37]), 40000)
        verify(back)
        // Another host behind the NAT with the same source port gets the other port.
        let (_, out2, _) = run(dp, tcp(c, b, 40000, 80, TCPHeader.syn))
        XCTAssertEqual(UInt16(out2[34]) << 8 | UInt16(out2[35]), port == 2000 ? 2001 : 2000)
        verify(out2)
        // A third finds the range exhausted: nf_nat_setup_info fails, the packet drops.
        XCTAssertEqual(run(dp, tcp(FrameBuilder.ip(198, 18, 0, 4), b, 40000, 80, TCPHeader.syn)).0, .drop)
        XCTAssertEqual(dp.pool.inUse, 0)
    }

    /// IPv6 destination NAT: the address and port rewritten with a TCP checksum that verifies
    /// over the new pseudo-header (RFC 8200 8.1), and the reply's source restored.
    func testIPv6DestinationNAT() throws {
        let (dp, _) = try block([
            "filter add dev eth0 ingress protocol ipv6 prio 1 flower dst_ip 2001:db8::80 action ct commit nat dst addr 2001:db8::99 port 8080 pipe action gact pass",
            "filter add dev eth0 ingress protocol ipv6 prio 2 flower src_ip 2001:db8::99 action ct nat pipe action gact pass",
        ])
        func addr(_ last: UInt8) -> [UInt8] { [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [last] }
        func tcp6(_ s: [UInt8], _ d: [UInt8], _ sp: UInt16, _ dport: UInt16) -> [UInt8] {
            var seg: [UInt8] = [UInt8(sp >> 8), UInt8(sp & 255), UInt8(dport >> 8), UInt8(dport & 255), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, TCPHeader.syn, 0xFF, 0xFF, 0, 0, 0, 0]
            let pseudo = s + d + [0, 0, 0, UInt8(seg.count), 0, 0, 0, IPProto.tcp]
            let all = pseudo + seg
            let c = all.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, all.count)) }
            seg[16] = UInt8(c >> 8); seg[17] = UInt8(c & 255)
            return FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv6, payload: FrameBuilder.ipv6(src: s, dst: d, next: IPProto.tcp, payload: seg))
        }
        func verify(_ f: [UInt8], line: UInt = #line) {
            let seg = Array(f[54...])
            let all = Array(f[22..<54]) + [0, 0, 0, UInt8(seg.count), 0, 0, 0, IPProto.tcp] + seg
            XCTAssertEqual(all.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, all.count)) }, 0, "TCP checksum", line: line)
        }
        let (_, out, m) = run(dp, tcp6(addr(1), addr(0x80), 40000, 80))
        XCTAssertEqual(Array(out[38..<54]), addr(0x99))
        XCTAssertEqual(UInt16(out[56]) << 8 | UInt16(out[57]), 8080)
        XCTAssertEqual(m.ctFlags & PacketMeta.postDNAT, PacketMeta.postDNAT)
        verify(out)
        let (_, back, _) = run(dp, tcp6(addr(0x99), addr(1), 8080, 40000))
        XCTAssertEqual(Array(back[22..<38]), addr(0x80), "reply's source restored")
        XCTAssertEqual(UInt16(back[54]) << 8 | UInt16(back[55]), 80)
        verify(back)
        XCTAssertEqual(dp.pool.inUse, 0)
    }

    /// connmark copies the connection's mark to a packet that has no connection attached yet
    /// (it looks the tuple up, as on ingress); ctinfo restores DSCP from the mark's bits under
    /// the state mask and copies the mark under its mask.
    func testConnmarkAndCtinfo() throws {
        let (dp, _) = try block([
            "filter add dev eth0 ingress protocol ip prio 1 flower ip_proto tcp dst_port 80 action ct commit mark 0x01000028 pipe action gact pass",
            "filter add dev eth0 ingress protocol ip prio 2 flower ip_proto tcp src_port 80 action connmark pipe action ctinfo dscp 0xfc 0x01000000 cpmark 0x00ffffff pipe action gact pass",
        ])
        _ = run(dp, tcp(a, b, 40000, 80, TCPHeader.syn))
        let (_, out, m) = run(dp, tcp(b, a, 80, 40000, TCPHeader.syn | TCPHeader.ack))
        XCTAssertEqual(m.mark, 0x28, "ctinfo's cpmark under 0x00ffffff (connmark had set 0x01000028 first)")
        // DSCP = (mark & 0xfc) >> 2 = 0x0a, in the TOS byte's upper six bits: 0x28.
        XCTAssertEqual(out[15], 0x28)
        let ip = Array(out[14..<34])
        XCTAssertEqual(ip.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress!, 20)) }, 0)
        let e = try XCTUnwrap(dp.tcActions.lookup("ctinfo", 1))
        XCTAssertEqual(e.counters.pointee.dscpSet, 1)
        XCTAssertEqual(e.counters.pointee.cpmarkSet, 1)
        XCTAssertEqual(try XCTUnwrap(dp.tcActions.lookup("connmark", 1)).counters.pointee.overlimits, 1)
        XCTAssertEqual(dp.pool.inUse, 0)
    }

    /// ct clear drops the connection and post-ct state (flower sees -trk again); a frame that
    /// is not IP makes act_ct drop it (NFPROTO_UNSPEC); ct_state values the kernel refuses
    /// are refused with its words.
    func testClearNonIPAndRefusedStates() throws {
        let (dp, r) = try block([
            "filter add dev eth0 ingress protocol all prio 1 flower action ct pipe action ct clear pipe action goto chain 1",
            "filter add dev eth0 ingress chain 1 protocol ip prio 1 flower ct_state -trk classid 1:7",
        ])
        XCTAssertEqual(run(dp, tcp(a, b, 1, 2, TCPHeader.syn)).0, .classid(TcHandle(1, 7)))
        var arp = tcp(a, b, 1, 2, TCPHeader.syn); arp[12] = 0x08; arp[13] = 0x06
        XCTAssertEqual(run(dp, arp).0, .drop)
        for (state, words) in [("+new", "no trk, so no other flag can be set"), ("+trk+new+est", "new and est are mutually exclusive"),
                               ("+trk+inv+est", "when inv is set, only trk may be set"), ("+trk+new+rpl", "new and rpl are mutually exclusive")] {
            XCTAssertThrowsError(try r.execute("filter add dev eth0 ingress protocol ip prio 9 flower ct_state \(state) action drop")) {
                XCTAssertTrue("\($0)".contains(words), "\(state): \($0)")
            }
        }
        XCTAssertEqual(dp.pool.inUse, 0)
    }

    /// tcf_ct_init refuses ct in a filter outside an ingress or clsact block.
    func testCtOnlyAtIngressOrClsact() throws {
        let (_, r) = try block([])
        try r.execute("qdisc add dev eth0 root handle 1: prio")
        XCTAssertThrowsError(try r.execute("filter add dev eth0 parent 1: protocol ip prio 1 flower action ct")) {
            XCTAssertTrue("\($0)".contains("Attaching ct to a non ingress/clsact qdisc is unsupported"), "\($0)")
        }
        XCTAssertNoThrow(try r.execute("filter add dev eth0 egress protocol ip prio 1 flower action ct"))
        XCTAssertNoThrow(try r.execute("filter add dev eth0 parent 1: protocol ip prio 1 flower action connmark"))
        // Labels as tc writes them: hex digits left-aligned in 16 bytes, the mask likewise.
        try r.execute("filter add dev eth0 egress protocol ip prio 2 flower action ct label 123123/ffff0000000000000000000000000001 index 9")
        guard case .ct(let p, _)? = r.dp.tcActions.lookup("ct", 9)?.action else { return XCTFail("no ct action 9") }
        XCTAssertEqual([p.labelHi, p.labelLo, p.labelMaskHi, p.labelMaskLo], [0x1231_2300_0000_0000, 0, 0xFFFF_0000_0000_0000, 1])
        XCTAssertThrowsError(try r.execute("filter add dev eth0 egress protocol ip prio 3 flower action ct label 12g"))
    }
}
