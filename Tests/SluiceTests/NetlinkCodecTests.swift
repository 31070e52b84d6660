#if canImport(Glibc)
import Glibc
#endif
import XCTest
@testable import Sluice

/// The rtnetlink codec against bytes Debian's own `tc` and `ip` sent this machine's kernel
/// (captured with `strace -e trace=sendmsg,sendto -e write=3`), and the kernel's rules for
/// replies and errors (net/netlink/af_netlink.c netlink_ack, lib/nlattr.c, net/core/rtnetlink.c).
final class NetlinkCodecTests: XCTestCase {
    static func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex { let j = s.index(i, offsetBy: 2); out.append(UInt8(s[i..<j], radix: 16)!); i = j }
        return out
    }

    /// `tc qdisc add dev d0 root handle 1: htb default 20` (d0 had ifindex 3).
    static let htbQdisc = hex("4800000024000506a8a50d6b00000000000000000300000000000100ffffffff0000000008000100687462001c00020018000200030000000a000000200000000000000000000000")
    /// `tc filter add dev d0 parent 1: protocol ip prio 1 u32 match ip dport 22 0xffff flowid 1:10`.
    static let u32Filter = hex("5c0000002c000506a8a50d6b000000000000000003000000000000000000010008000100080001007533320030000200080001001000010024000500010001000000000000000000000000000000ffff000000161400000000000000")
    /// `ip link set dev d0 mtu 1400`.
    static let linkSetMTU = hex("2800000010000500a7a50d6b00000000000000000300000000000000000000000800040078050000")
    /// `bridge fdb add 02:00:00:00:00:05 dev d0 master static` (ndm_ifindex set to d0's index
    /// here, 2): ndmsg { AF_BRIDGE, state NUD_NOARP|NUD_REACHABLE, flags NTF_MASTER } + NDA_LLADDR.
    static let fdbAdd = hex("280000001c000506c8aa0d6b000000000700000002000000420004000a0002000200000000050000")
    /// `ip route add 198.18.50.0/24 via 198.18.1.20`: rtmsg { AF_INET, /24, table main, boot,
    /// unicast } + RTA_DST + RTA_GATEWAY.
    static let routeAdd = hex("2c00000018000506a7a50d6b0000000002180000fe0300010000000008000100c612320008000500c6120114")
    /// `ip addr add 198.18.1.1/24 dev d0` (ifa_index 1): ifaddrmsg + IFA_LOCAL + IFA_ADDRESS.
    static let addrAdd = hex("2800000014000506a8a50d6b00000000021800000100000008000200c612010108000100c6120101")
    /// `ip link show dev d0`.
    static let linkShow = hex("3000000012000100a7a50d6b0000000011000000000000000000000000000000070003006430000008001d0001000000")

    func testDecodesWhatTcAndIpSend() throws {
        // tcmsg + TCA_KIND "htb" + TCA_OPTIONS { TCA_HTB_INIT: tc_htb_glob { version 3,
        // rate2quantum 10, defcls 0x20 } } — what q_htb.c packs for "default 20".
        var it = NetlinkMessages(Self.htbQdisc)
        let m = try XCTUnwrap(it.next())
        XCTAssertNil(it.next())
        XCTAssertEqual(m.header.type, NL.RTM_NEWQDISC)
        XCTAssertEqual(m.header.flags, NL.F_REQUEST | NL.F_ACK | NL.F_EXCL | NL.F_CREATE)
        XCTAssertEqual(m.payload.le32(at: 4), 3, "tcm_ifindex")
        XCTAssertEqual(m.payload.le32(at: 8), 0x0001_0000, "tcm_handle 1:")
        XCTAssertEqual(m.payload.le32(at: 12), 0xFFFF_FFFF, "tcm_parent root")
        let tca = NLAPolicy(maxType: 20, [1: .string(maxLength: 15), 2: .unspec])
        let a = try NLAttributes.parse(m.payload.dropFirst(20), base: 36, policy: tca, strict: true)
        XCTAssertEqual(a.string(1), "htb")
        let opts = try NLAttributes.parse(a[2]!, base: a.offsets[2]! + 4, policy: NLAPolicy(maxType: 8, [2: .minLength(20)]), strict: false)
        let glob = try XCTUnwrap(opts[2])
        XCTAssertEqual([glob.le32(at: 0), glob.le32(at: 4), glob.le32(at: 8)], [3, 10, 0x20])

        // u32: TCA_KIND "u32", TCA_OPTIONS { TCA_U32_CLASSID 1:10, TCA_U32_SEL with one key:
        // value 0x0016 mask 0xffff at offset 20 (dport as tc packs it) }.
        let f = try XCTUnwrap(NetlinkMessages(Self.u32Filter).first { _ in true })
        XCTAssertEqual(f.header.type, NL.RTM_NEWTFILTER)
        XCTAssertEqual(f.payload.le32(at: 16), 0x0001_0008, "tcm_info: prio 1, protocol ETH_P_IP (big-endian 0x0800)")
        let fa = try NLAttributes.parse(f.payload.dropFirst(20), base: 36, policy: tca, strict: true)
        XCTAssertEqual(fa.string(1), "u32")
        let u = try NLAttributes.parse(fa[2]!, base: 0, policy: NLAPolicy(maxType: 12, [1: .u32, 5: .minLength(16)]), strict: false)
        XCTAssertEqual(u.u32(1), 0x0001_0010)
        let sel = try XCTUnwrap(u[5])
        XCTAssertEqual(sel[sel.startIndex], 1, "flags: TC_U32_TERMINAL")
        XCTAssertEqual(sel[sel.startIndex + 2], 1, "nkeys (struct tc_u32_sel: flags, offshift, nkeys)")
        XCTAssertEqual([sel.le32(at: 16).bigEndian, sel.le32(at: 20).bigEndian, sel.le32(at: 24)], [0x0000_FFFF, 0x0000_0016, 20],
                       "mask, value (network order), offset 20")

        // ip link set: ifinfomsg with ifindex 3, IFLA_MTU 1400.
        let l = try XCTUnwrap(NetlinkMessages(Self.linkSetMTU).first { _ in true })
        XCTAssertEqual(l.header.type, NL.RTM_NEWLINK)
        let la = try NLAttributes.parse(l.payload.dropFirst(16), base: 32, policy: IFLA.policy, strict: true)
        XCTAssertEqual(la.u32(IFLA.MTU), 1400)
    }

    func testWriterRoundTrip() throws {
        var w = NetlinkWriter()
        let s = w.begin(type: NL.RTM_NEWLINK, flags: NL.F_REQUEST, seq: 7, pid: 9)
        w.put([UInt8](repeating: 0, count: 16))
        w.attr(IFLA.IFNAME, string: "br-lan")
        w.attr(IFLA.MTU, u32: 9000)
        let n = w.beginNest(IFLA.LINKINFO)
        w.attr(IFLA.INFO_KIND, string: "bridge")
        w.endNest(n)
        w.end(s)
        XCTAssertEqual(w.count % 4, 0)
        let m = try XCTUnwrap(NetlinkMessages(w.bytes).first { _ in true })
        XCTAssertEqual(m.header, NLMsgHeader(length: UInt32(w.count), type: NL.RTM_NEWLINK, flags: NL.F_REQUEST, seq: 7, pid: 9))
        let a = try NLAttributes.parse(m.payload.dropFirst(16), base: 32, policy: IFLA.policy, strict: true)
        XCTAssertEqual(a.string(IFLA.IFNAME), "br-lan")
        XCTAssertEqual(a.u32(IFLA.MTU), 9000)
        let li = try NLAttributes.parse(a[IFLA.LINKINFO]!, base: 0, policy: IFLA.linkinfoPolicy, strict: true)
        XCTAssertEqual(li.string(IFLA.INFO_KIND), "bridge")
    }

    // MARK: the processor

    func processor() throws -> RtnlProcessor {
        let dp = Datapath(poolSize: 64, clock: .virtual(start: 1))
        let r = CommandRunner(datapath: dp)
        try r.execute("link add br0 type bridge")
        try dp.addMemory(name: "d0")
        try dp.addMemory(name: "d1")
        try r.execute("link set d0 master br0 up")
        let p = RtnlProcessor(datapath: dp, pid: 4242)
        p.extAck = true
        return p
    }

    /// The NLMSG_ERROR in a reply: errno, the echoed header, the extack TLVs.
    func errorOf(_ reply: [UInt8]) -> (errno: Int32, flags: UInt16, echoedLength: Int, message: String?, offset: UInt32?)? {
        guard let m = NetlinkMessages(reply).first(where: { _ in true }), m.header.type == NL.ERROR else { return nil }
        let err = Int32(bitPattern: m.payload.le32(at: 0))
        let echoed = Int(m.payload.le32(at: 4))
        let capped = m.header.flags & NL.F_CAPPED != 0
        let tlvStart = 4 + (capped ? NL.hdrLen : NL.align(echoed))
        let a = try? NLAttributes.parse(m.payload.dropFirst(tlvStart), base: 0, policy: NLAPolicy(maxType: 8, [1: .string(maxLength: 1000), 2: .u32]), strict: false)
        return (-err, m.header.flags, echoed, a?.string(1), a?.u32(2))
    }

    /// A vif's rate in its IFLA_INFO_DATA: made with one, changed live, dumped back; bad values
    /// refused with EINVAL and the offending attribute's offset, nothing changed.
    func testAVifsRateIsItsLinkInfoData() throws {
        let p = try processor()
        func newlink(_ name: String, create: Bool, _ data: [(UInt16, [UInt8])]) -> [UInt8] {
            var w = NetlinkWriter()
            let s = w.begin(type: NL.RTM_NEWLINK, flags: NL.F_REQUEST | NL.F_ACK | (create ? NL.F_CREATE | NL.F_EXCL : 0), seq: 3, pid: 0)
            w.put([UInt8](repeating: 0, count: 16))
            w.attr(IFLA.IFNAME, string: name)
            let li = w.beginNest(IFLA.LINKINFO)
            w.attr(IFLA.INFO_KIND, string: "vif")
            let d = w.beginNest(IFLA.INFO_DATA)
            for (t, v) in data { w.attr(t, v) }
            w.endNest(d); w.endNest(li); w.end(s)
            return w.bytes
        }
        func u64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
        func u32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) } }
        XCTAssertEqual(errorOf(p.handle(newlink("vif1", create: true, [(IFLA.Port.VIF_RATE, u64(20_000_000))]))[0])?.errno, 0)
        let v = try XCTUnwrap(p.dp.device(named: "vif1")?.driver as? VifDriver)
        XCTAssertEqual(v.creditBytes, 125_000); XCTAssertEqual(v.creditWindow, 50_000_000)
        XCTAssertEqual(errorOf(p.handle(newlink("vif1", create: false, [(IFLA.Port.VIF_RATE, u64(8_000_000)), (IFLA.Port.VIF_WINDOW_USEC, u32(10_000))]))[0])?.errno, 0)
        XCTAssertEqual(v.creditBytes, 10_000); XCTAssertEqual(v.creditWindow, 10_000_000)
        // The dump says it back.
        var w = NetlinkWriter()
        let s = w.begin(type: NL.RTM_GETLINK, flags: NL.F_REQUEST, seq: 4, pid: 0)
        w.put([UInt8](repeating: 0, count: 16)); w.attr(IFLA.IFNAME, string: "vif1"); w.end(s)
        let m = try XCTUnwrap(NetlinkMessages(p.handle(w.bytes)[0]).first { _ in true })
        let a = try NLAttributes.parse(m.payload.dropFirst(16), base: 32, policy: IFLA.policy, strict: false)
        let li = try NLAttributes.parse(try XCTUnwrap(a[IFLA.LINKINFO]), base: 0, policy: IFLA.linkinfoPolicy, strict: false)
        XCTAssertEqual(li.string(IFLA.INFO_KIND), "vif")
        let d = try NLAttributes.parse(try XCTUnwrap(li[IFLA.INFO_DATA]), base: 0, policy: IFLA.Port.policy, strict: false)
        XCTAssertEqual(d.u64(IFLA.Port.VIF_RATE), 8_000_000); XCTAssertEqual(d.u32(IFLA.Port.VIF_WINDOW_USEC), 10_000)
        // Refused: a window of 0 or past 10 s, a rate under 8 bit/s (EINVAL), a short u64 (ERANGE,
        // as validate_nla for an attribute under its minimum length); each with its offset, and
        // the vif as it was.
        for (data, what, errno) in [([(IFLA.Port.VIF_WINDOW_USEC, u32(0))], "window 0", EINVAL), ([(IFLA.Port.VIF_WINDOW_USEC, u32(10_000_001))], "window > 10 s", EINVAL),
                                    ([(IFLA.Port.VIF_RATE, u64(7))], "rate 7", EINVAL), ([(IFLA.Port.VIF_RATE, u32(1_000_000))], "a u32 for a u64", ERANGE)] {
            let e = try XCTUnwrap(errorOf(p.handle(newlink("vif1", create: false, data))[0]), what)
            XCTAssertEqual(e.errno, errno, what)
            XCTAssertNotNil(e.offset, what)
        }
        XCTAssertEqual(v.creditBytes, 10_000); XCTAssertEqual(v.creditWindow, 10_000_000)
        XCTAssertEqual(errorOf(p.handle(newlink("vif2", create: true, []))[0])?.errno, 0)
        let e = try XCTUnwrap(errorOf(p.handle(newlink("vif2", create: false, [(IFLA.Port.VIF_WINDOW_USEC, u32(10_000))]))[0]))
        XCTAssertEqual(e.errno, EINVAL); XCTAssertTrue(e.message?.contains("has no rate") ?? false, "\(e)")
        // A bad rate at creation makes nothing.
        XCTAssertEqual(errorOf(p.handle(newlink("vif3", create: true, [(IFLA.Port.VIF_RATE, u64(3))]))[0])?.errno, EINVAL)
        XCTAssertNil(p.dp.device(named: "vif3"))
    }

    func testGetLinkByNameIndexAndDump() throws {
        let p = try processor()
        // `ip link show dev d0` as ip sent it (with ifi_family AF_UNSPEC): one RTM_NEWLINK.
        let r = p.handle(Self.linkShow)
        XCTAssertEqual(r.count, 1)
        let m = try XCTUnwrap(NetlinkMessages(r[0]).first { _ in true })
        XCTAssertEqual(m.header.type, NL.RTM_NEWLINK)
        XCTAssertEqual(m.header.pid, 4242)
        XCTAssertEqual(m.header.seq, 0x6B0D_A5A7, "the request's sequence number")
        let a = try NLAttributes.parse(m.payload.dropFirst(16), base: 32, policy: IFLA.policy, strict: false)
        XCTAssertEqual(a.string(IFLA.IFNAME), "d0")
        XCTAssertEqual(a.u32(IFLA.MTU), 1500)
        XCTAssertEqual(a.u32(IFLA.MASTER), UInt32(p.dp.device(named: "br0")!.ifindex))
        // An unknown name: ENODEV, no message (rtnl_getlink), the request echoed.
        var req = Self.linkShow
        req[req.count - 16 + 5] = 0x39   // "d9"
        let e = try XCTUnwrap(errorOf(p.handle(req)[0]))
        XCTAssertEqual(e.errno, ENODEV)
        XCTAssertEqual(e.echoedLength, req.count)
        // A dump: every link as NLM_F_MULTI, then DONE.
        var w = NetlinkWriter()
        let s = w.begin(type: NL.RTM_GETLINK, flags: NL.F_REQUEST | NL.F_DUMP, seq: 5, pid: 0)
        w.put([UInt8](repeating: 0, count: 16)); w.attr(IFLA.EXT_MASK, u32: 1); w.end(s)
        let parts = p.handle(w.bytes).flatMap { Array(NetlinkMessages($0)) }
        XCTAssertEqual(parts.map(\.header.type), [NL.RTM_NEWLINK, NL.RTM_NEWLINK, NL.RTM_NEWLINK, NL.DONE])
        XCTAssertTrue(parts.allSatisfy { $0.header.flags & NL.F_MULTI != 0 && $0.header.seq == 5 })
        // A reader with a small buffer gets the dump in several datagrams.
        p.bufferSize = 300
        XCTAssertGreaterThan(p.handle(w.bytes).count, 1)
    }

    func testAcksAsTheKernel() throws {
        let p = try processor()
        // A request the processor does not implement yet (RTM_NEWNEIGH): EOPNOTSUPP, the
        // request echoed unless NETLINK_CAP_ACK.
        var w = NetlinkWriter()
        let s = w.begin(type: NL.RTM_NEWNEIGH, flags: NL.F_REQUEST | NL.F_ACK | NL.F_CREATE, seq: 3, pid: 0)
        w.put([UInt8](repeating: 0, count: 12)); w.attr(1, [198, 18, 0, 9]); w.end(s)
        let e = try XCTUnwrap(errorOf(p.handle(w.bytes)[0]))
        XCTAssertEqual(e.errno, EOPNOTSUPP)
        XCTAssertEqual(e.echoedLength, w.count)
        XCTAssertEqual(e.flags & NL.F_CAPPED, 0)
        p.capAck = true
        XCTAssertEqual(try XCTUnwrap(errorOf(p.handle(w.bytes)[0])).flags & NL.F_CAPPED, NL.F_CAPPED)
        // An htb qdisc added as tc sends it (d0 has ifindex 3 here, as in the capture): acked with 0.
        XCTAssertEqual(p.dp.device(3)?.name, "d1")
        XCTAssertEqual(try XCTUnwrap(errorOf(p.handle(Self.htbQdisc)[0])).errno, 0)
        XCTAssertEqual(p.dp.device(3)?.qdisc.kind, "htb")
        XCTAssertEqual(try XCTUnwrap(errorOf(p.handle(Self.htbQdisc)[0])).errno, EEXIST, "add with NLM_F_EXCL again")
        // A read-only client may not change anything: EPERM.
        p.mayChange = false
        XCTAssertEqual(try XCTUnwrap(errorOf(p.handle(Self.linkSetMTU)[0])).errno, EPERM)
        // Not a request, or a control message: answered only with NLM_F_ACK, then with 0.
        var notReq = Self.linkShow
        notReq[6] = 0
        XCTAssertEqual(p.handle(notReq).count, 0)
        notReq[6] = UInt8(NL.F_ACK)
        let ok = try XCTUnwrap(errorOf(p.handle(notReq)[0]))
        XCTAssertEqual(ok.errno, 0)
        XCTAssertEqual(ok.flags & NL.F_CAPPED, NL.F_CAPPED, "a success never echoes the request")
        // Several messages in one datagram each get their answer; trailing padding is ignored.
        let two = Self.linkShow + Self.linkShow + [0, 0, 0, 0]
        XCTAssertEqual(p.handle(two).count, 2)
    }

    func testStrictChecksAsTheKernel() throws {
        let p = try processor()
        p.strictCheck = true
        func dump(_ attrs: (inout NetlinkWriter) -> Void, header: [UInt8] = [UInt8](repeating: 0, count: 16)) -> [UInt8] {
            var w = NetlinkWriter()
            let s = w.begin(type: NL.RTM_GETLINK, flags: NL.F_REQUEST | NL.F_DUMP, seq: 1, pid: 0)
            w.put(header); attrs(&w); w.end(s)
            return w.bytes
        }
        // An attribute type beyond the policy: EINVAL "Unknown attribute type" at its offset.
        let e1 = try XCTUnwrap(errorOf(p.handle(dump { $0.attr(IFLA.EXT_MASK, u32: 1); $0.attr(300, u32: 0) })[0]))
        XCTAssertEqual(e1.errno, EINVAL)
        XCTAssertEqual(e1.message, "Unknown attribute type")
        XCTAssertEqual(e1.offset, 16 + 16 + 8, "the second attribute")
        // A known attribute a link dump does not take (rtnl_valid_dump_ifinfo_req).
        let e2 = try XCTUnwrap(errorOf(p.handle(dump { $0.attr(IFLA.MTU, u32: 1500) })[0]))
        XCTAssertEqual(e2.message, "Unsupported attribute in link dump request")
        // A u32 attribute too short: ERANGE "Attribute failed policy validation" (validate_nla's
        // minimum length; the exact length is NL_VALIDATE_STRICT_ATTRS, not rtnetlink's).
        let e3 = try XCTUnwrap(errorOf(p.handle(dump { $0.attr(IFLA.EXT_MASK, [1, 0]) })[0]))
        XCTAssertEqual(e3.errno, ERANGE)
        XCTAssertEqual(e3.message, "Attribute failed policy validation")
        // A dump filtered by ifindex is refused; so is a non-zero ifi_type.
        var hdr = [UInt8](repeating: 0, count: 16); hdr[4] = 2
        XCTAssertEqual(try XCTUnwrap(errorOf(p.handle(dump({ _ in }, header: hdr))[0])).message, "Filter by device index not supported for link dumps")
        hdr = [UInt8](repeating: 0, count: 16); hdr[2] = 1
        XCTAssertEqual(try XCTUnwrap(errorOf(p.handle(dump({ _ in }, header: hdr))[0])).message, "Invalid values in header for link dump request")
        // Filtering by kind works (NLM_F_DUMP_FILTERED on DONE), with IFLA_LINKINFO flagged
        // NLA_F_NESTED or not — `ip link show type bridge` sends it unflagged, and the
        // kernel's deprecated-strict parse takes it.
        for flagged in [true, false] {
            let filtered = p.handle(dump { w in
                let n = w.beginNest(IFLA.LINKINFO, flagged: flagged); w.attr(IFLA.INFO_KIND, string: "bridge"); w.endNest(n)
            }).flatMap { Array(NetlinkMessages($0)) }
            XCTAssertEqual(filtered.map(\.header.type), [NL.RTM_NEWLINK, NL.DONE])
            XCTAssertNotEqual(filtered.last!.header.flags & NL.F_DUMP_FILTERED, 0)
        }
    }

    /// What `bridge fdb add … master static` sends adds a static entry on d0's bridge (CREATE|EXCL:
    /// a second one is EEXIST), and an AF_BRIDGE neighbour dump returns it as fdb_fill_info does.
    func testBridgeFdbAddAndDump() throws {
        let p = try processor()
        XCTAssertEqual(errorOf(p.handle(Self.fdbAdd)[0])?.errno, 0)
        XCTAssertEqual(errorOf(p.handle(Self.fdbAdd)[0])?.errno, EEXIST)
        var dump = NetlinkWriter()
        let st = dump.begin(type: NL.RTM_GETNEIGH, flags: NL.F_REQUEST | NL.F_DUMP, seq: 9, pid: 0)
        dump.put8(7); for _ in 0..<15 { dump.put8(0) }    // ifinfomsg (legacy dump request)
        dump.end(st)
        let msgs = p.handle(dump.bytes).flatMap { Array(NetlinkMessages($0)) }
        let entries = msgs.filter { $0.header.type == NL.RTM_NEWNEIGH }.compactMap { m -> (Int32, UInt16, [UInt8])? in
            guard let a = try? NLAttributes.parse(m.payload.dropFirst(12), base: 28, policy: NLAPolicy(maxType: 16, [:]), strict: false),
                  let ll = a[2] else { return nil }
            return (Int32(bitPattern: m.payload.le32(at: 4)), m.payload.le16(at: 8), Array(ll))
        }
        XCTAssertTrue(entries.contains { $0.0 == 2 && $0.1 == 0x40 && $0.2 == [2, 0, 0, 0, 0, 5] }, "static entry on d0, NUD_NOARP: \(entries)")
        XCTAssertEqual(msgs.last?.header.type, NL.DONE)
    }

    /// A 3 000-entry FDB dumped into 4 KiB datagrams, as netlink_dump does: one datagram per
    /// call, each whole and within the reader's buffer, the next built only when asked; every
    /// entry once and NLMSG_DONE last; entries changed mid-dump mark the later messages
    /// NLM_F_DUMP_INTR; a second dump on the same socket meanwhile is EBUSY.
    func testFdbDumpIsBuiltAPartAtATime() throws {
        let p = try processor()
        p.bufferSize = 4096
        let br = try XCTUnwrap(p.dp.bridges.values.first)
        let d0 = try XCTUnwrap(p.dp.device(named: "d0"))
        let local = br.fdb.count   // the bridge's own address and its ports'
        for i in 0..<3000 { try br.fdb.add(MACAddress(raw: 0x0210_0000_0000 | UInt64(i)), vlan: 0, port: d0.ifindex, isStatic: true, now: 1) }
        var req = NetlinkWriter()
        let st = req.begin(type: NL.RTM_GETNEIGH, flags: NL.F_REQUEST | NL.F_DUMP, seq: 5, pid: 0)
        req.put8(7); for _ in 0..<15 { req.put8(0) }
        req.end(st)
        var parts = p.handle(req.bytes)
        XCTAssertEqual(parts.count, 1, "one datagram per call")
        XCTAssertTrue(p.dumpPending)
        XCTAssertEqual(errorOf(p.handle(req.bytes)[0])?.errno, EBUSY)
        while let next = p.nextDumpPart() {
            parts.append(next)
            if parts.count == 3 { try br.fdb.add(MACAddress(raw: 0x0220_0000_0000), vlan: 0, port: d0.ifindex, isStatic: true, now: 2) }
        }
        XCTAssertFalse(p.dumpPending)
        XCTAssertGreaterThan(parts.count, 40)
        var macs = Set<[UInt8]>(), done = 0
        for (k, part) in parts.enumerated() {
            XCTAssertLessThanOrEqual(part.count, 4096)
            let msgs = Array(NetlinkMessages(part))
            XCTAssertEqual(msgs.reduce(0) { $0 + NL.align(Int($1.header.length)) }, part.count, "whole messages")
            for m in msgs {
                XCTAssertEqual(m.header.flags & NL.F_DUMP_INTR != 0, k >= 3, "part \(k)")
                if m.header.type == NL.DONE { done += 1; continue }
                let a = try NLAttributes.parse(m.payload.dropFirst(12), base: 28, policy: NLAPolicy(maxType: 16, [:]), strict: false)
                guard a.has(9) else { continue }   // a device's own multicast list (self), not the bridge's table
                XCTAssertTrue(macs.insert(Array(try XCTUnwrap(a[2]))).inserted, "each entry once")
            }
        }
        XCTAssertEqual(done, 1)
        XCTAssertEqual(macs.count, 3000 + local, "3 000 entries on d0 and the local ones")
        XCTAssertEqual(Array(NetlinkMessages(parts.last!)).last?.header.type, NL.DONE)
    }

    /// Neighbour dumps of both families in parts: 3 000 IPv4 and 3 000 IPv6 entries into 4 KiB
    /// datagrams, each whole, every entry once, NLMSG_DONE last.
    func testNeighbourDumpIsBuiltAPartAtATime() throws {
        let p = try processor()
        p.bufferSize = 4096
        let d0 = try XCTUnwrap(p.dp.device(named: "d0"))
        try p.runner.execute("link set d0 up")
        try p.runner.execute("addr add 198.18.0.1/16 dev d0")
        try p.runner.execute("addr add 2001:db8::1/64 dev d0")
        try p.runner.execute("sysctl net.ipv4.neigh.default.gc_thresh3=10000 net.ipv6.neigh.default.gc_thresh3=10000")
        for i in 0..<3000 {
            try p.dp.ipv4.addNeighbour(d0, ip: 0xC612_0000 | UInt32(i + 2), mac: MACAddress(raw: 0x0210_0000_0000 | UInt64(i)), state: .permanent, replace: false)
            try p.dp.ipv6.addNeighbour(d0, ip: UInt128(0x2001_0db8) << 96 | UInt128(i + 2), mac: MACAddress(raw: 0x0220_0000_0000 | UInt64(i)), state: .permanent, replace: false)
        }
        var req = NetlinkWriter()
        let st = req.begin(type: NL.RTM_GETNEIGH, flags: NL.F_REQUEST | NL.F_DUMP, seq: 6, pid: 0)
        req.put8(0); for _ in 0..<11 { req.put8(0) }
        req.end(st)
        var parts = p.handle(req.bytes)
        XCTAssertEqual(parts.count, 1, "one datagram per call")
        while let next = p.nextDumpPart() { parts.append(next) }
        var v4 = 0, v6 = 0, done = 0
        for part in parts {
            XCTAssertLessThanOrEqual(part.count, 4096)
            for m in NetlinkMessages(part) {
                if m.header.type == NL.DONE { done += 1; continue }
                if m.payload.first == 2 { v4 += 1 } else if m.payload.first == 10 { v6 += 1 }
            }
        }
        XCTAssertGreaterThan(parts.count, 40)
        XCTAssertEqual(v4, 3000)
        XCTAssertEqual(v6, 3000)
        XCTAssertEqual(done, 1)
    }

    /// What `tc qdisc add dev d0 root handle 1: netem delay 10ms 1ms 25% loss 1% reorder 5% gap 3`
    /// sends (ifindex set to d0's, 2): tc_netem_qopt in psched ticks and UINT32_MAX fractions,
    /// then TCA_NETEM_CORR and TCA_NETEM_REORDER inside TCA_OPTIONS, decoded to those values.
    func testDecodesNetemAsTcPacksIt() throws {
        let p = try processor()
        let msg = Self.hex("6800000024000506fbb00d6b00000000000000000200000000000100ffffffff000000000a0001006e6574656d000000380002005a620200e8030000295c8f020300000000000000093d0000100001000000004000000000000000000c000300cdcccc0c00000000")
        XCTAssertEqual(errorOf(p.handle(msg)[0])?.errno, 0)
        let q = try XCTUnwrap(p.dp.device(named: "d0")?.qdisc as? NetemQdisc)
        XCTAssertEqual(q.latency, 10_000_000)
        XCTAssertEqual(q.jitter, 1_000_000)
        XCTAssertEqual(q.delayCorr, 0.25, accuracy: 1e-9)
        XCTAssertEqual(q.lossP, 0.01, accuracy: 1e-9)
        XCTAssertEqual(q.reorderP, 0.05, accuracy: 1e-9)
        XCTAssertEqual(q.gap, 3)
        XCTAssertEqual(q.limit, 1000)
    }

    /// TCA_NETEM_DELAY_DIST as tc sends a table (signed 16-bit values) and TCA_NETEM_PRNG_SEED
    /// (Linux 6.3+): the table is taken whole and kept by a change that sends none, the seed is
    /// dumped back after the slots (netem_dump's order); an empty or oversized table is EINVAL
    /// (get_dist_table) and changes nothing.
    func testNetemTableAndSeedOverRtnetlink() throws {
        let p = try processor()
        let d0 = try XCTUnwrap(p.dp.device(named: "d0"))
        func request(latencyTicks: UInt32, table: [Int16]?, seed: UInt64?) -> [UInt8] {
            var w = NetlinkWriter()
            let st = w.begin(type: NL.RTM_NEWQDISC, flags: NL.F_REQUEST | NL.F_ACK | NL.F_CREATE | NL.F_REPLACE, seq: 9, pid: 0)
            w.put8(0); w.put8(0); w.put16(0); w.put32(UInt32(bitPattern: d0.ifindex)); w.put32(0x1_0000); w.put32(0xFFFF_FFFF); w.put32(0)
            w.attr(TCA.KIND, string: "netem")
            var o = NetlinkWriter()
            o.put32(latencyTicks); o.put32(1000); o.put32(0); o.put32(0); o.put32(0); o.put32(15_625)   // jitter 1 ms
            if let table { var t = NetlinkWriter(); for v in table { t.put16(UInt16(bitPattern: v)) }; o.attr(2, t.bytes) }
            if let seed { o.attr(14, u64: seed) }
            w.attr(TCA.OPTIONS, o.bytes)
            w.end(st)
            return w.bytes
        }
        XCTAssertEqual(errorOf(p.handle(request(latencyTicks: 156_250, table: [-8192, 8192], seed: 42))[0])?.errno, 0)
        let q = try XCTUnwrap(d0.qdisc as? NetemQdisc)
        XCTAssertEqual(q.latency, 10_000_000)
        XCTAssertEqual(q.delayDist, [-8192, 8192])
        XCTAssertEqual(q.seed, 42)
        XCTAssertEqual(errorOf(p.handle(request(latencyTicks: 312_500, table: nil, seed: nil))[0])?.errno, 0)
        XCTAssertEqual(q.latency, 20_000_000)
        XCTAssertEqual(q.delayDist, [-8192, 8192], "kept without a new table")
        XCTAssertEqual(q.seed, 42)
        for bad in [[Int16](), [Int16](repeating: 0, count: 16_385)] {
            XCTAssertEqual(errorOf(p.handle(request(latencyTicks: 1, table: bad, seed: 7))[0])?.errno, EINVAL)
            XCTAssertEqual(q.latency, 20_000_000)
            XCTAssertEqual(q.seed, 42)
        }
        var w = NetlinkWriter()
        p.encodeNetem(q, &w)
        let dumped = w.bytes
        let seedAttr: [UInt8] = [12, 0, 14, 0, 42, 0, 0, 0, 0, 0, 0, 0]
        XCTAssertEqual(Array(dumped.suffix(12)), seedAttr, "TCA_NETEM_PRNG_SEED last")
    }

    /// IPv6 and flower/red requests, built here as `ip -6` and `tc` lay them out (rtmsg,
    /// ifaddrmsg, ndmsg, tcmsg and their attributes), for the malformed corpus.
    static func v6Seeds(_ d0: Int32) -> [[UInt8]] {
        let a1: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        let gw: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20]
        let net: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x50] + [UInt8](repeating: 0, count: 10)
        var out: [[UInt8]] = []
        var w = NetlinkWriter()
        var st = w.begin(type: NL.RTM_NEWADDR, flags: NL.F_REQUEST | NL.F_ACK | NL.F_CREATE | NL.F_EXCL, seq: 1, pid: 0)
        w.put8(10); w.put8(64); w.put8(0); w.put8(0); w.put32(UInt32(bitPattern: d0))
        w.attr(IFA.LOCAL, a1); w.attr(IFA.ADDRESS, a1)
        w.end(st); out.append(w.bytes)
        w = NetlinkWriter()
        st = w.begin(type: NL.RTM_NEWROUTE, flags: NL.F_REQUEST | NL.F_ACK | NL.F_CREATE | NL.F_EXCL, seq: 2, pid: 0)
        w.put8(10); w.put8(64); w.put8(0); w.put8(0); w.put8(254); w.put8(3); w.put8(0); w.put8(1); w.put32(0)
        w.attr(RTA.DST, net); w.attr(RTA.GATEWAY, gw); w.attr(RTA.OIF, u32: UInt32(bitPattern: d0))
        w.end(st); out.append(w.bytes)
        w = NetlinkWriter()
        st = w.begin(type: NL.RTM_NEWNEIGH, flags: NL.F_REQUEST | NL.F_ACK | NL.F_CREATE | NL.F_EXCL, seq: 3, pid: 0)
        w.put8(10); w.put8(0); w.put16(0); w.put32(UInt32(bitPattern: d0)); w.put16(0x80); w.put8(0); w.put8(1)
        w.attr(NDA.DST, gw); w.attr(NDA.LLADDR, [2, 0, 0, 0, 0, 0x20])
        w.end(st); out.append(w.bytes)
        w = NetlinkWriter()
        st = w.begin(type: NL.RTM_NEWTFILTER, flags: NL.F_REQUEST | NL.F_ACK | NL.F_CREATE | NL.F_EXCL, seq: 4, pid: 0)
        w.put8(0); w.put8(0); w.put16(0); w.put32(UInt32(bitPattern: d0)); w.put32(0); w.put32(0xFFFF_0000); w.put32(1 << 16 | 0x0008)
        w.attr(TCA.KIND, string: "flower")
        let o = w.beginNest(TCA.OPTIONS)
        w.attr(8, [0x08, 0x00]); w.attr(9, u8: 17); w.attr(12, [198, 18, 0, 2]); w.attr(13, [255, 255, 255, 255])
        w.attr(89, [0x13, 0x88]); w.attr(90, [0x13, 0x92]); w.attr(1, u32: 0x0001_0001)
        w.endNest(o)
        w.end(st); out.append(w.bytes)
        w = NetlinkWriter()
        st = w.begin(type: NL.RTM_NEWQDISC, flags: NL.F_REQUEST | NL.F_ACK | NL.F_CREATE | NL.F_EXCL, seq: 5, pid: 0)
        w.put8(0); w.put8(0); w.put16(0); w.put32(UInt32(bitPattern: d0)); w.put32(0x0002_0000); w.put32(0xFFFF_FFFF); w.put32(0)
        w.attr(TCA.KIND, string: "red")
        let r = w.beginNest(TCA.OPTIONS)
        var q = NetlinkWriter()
        q.put32(400_000); q.put32(30_000); q.put32(90_000); q.put8(5); q.put8(21); q.put8(15); q.put8(1)
        w.attr(1, q.bytes); w.attr(2, [UInt8](repeating: 0, count: 256)); w.attr(3, u32: 85_899_345)
        w.endNest(r)
        w.end(st); out.append(w.bytes)
        return out
    }

    /// tc actions requests as Debian's tc lays them out (m_action.c, m_gact.c, m_vlan.c,
    /// m_police.c): add gact with a cookie, vlan push, police with its rate table; a dump; a flush.
    /// Debian tc's own requests (captured with strace on a kernel veth d0, ifindex 3, under an
    /// htb root 1: and an ingress qdisc): gred's table and a VQ, a classic BPF filter in
    /// direct-action mode, sfq with RED, netem with cells, u32 with old-style police, act_bpf.
    static let tcSeeds: [[UInt8]] = [
        hex("4400000024000506cf780e6b0000000000000000030000000000050005000100000000000900010067726564000000001400020010000300040000000100000001000000"),   // gred_setup
        hex("9001000024000500cf780e6b000000000000000003000000000005000000000000000000090001006772656400000000600102003800010000f00000003c0000006400000100000000000000000000000000000000000000000000000000000002110c00000000000000000004010200000000000000000000000000000000000101010101010101010101010101010102020202020202020202020202020202030303030303030303030303030303030404040404040404040404040404040405050505050505050505050505050505060606060606060606060606060606060707070707070707070707070707070708080808080808080808080808080808090909090909090909090909090909090a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f1f08000400999999191800060014000100080002000100000008000c0000000000"),   // gred_vq
        hex("740000002c000506cf780e6b000000000000000003000000000000000000010008000700080001006270660048000200060004000600000034000500280000000c000000150000030008000030000000170000001500000101000000060000000200000006000000ffffffff0800080001000000"),   // bpf_filter
        hex("7800000024000506cf780e6b00000000000000000300000000000600060001000000000008000100736671004c00020000000000000000000000000000000000000000000000000001000000a0860100401f000060ea00000612000133333333000000000000000000000000000000000000000000000000"),   // sfq_red
        hex("6000000024000506cf780e6b0000000000000000030000000000070007000100000000000a0001006e6574656d0000003000020000000000e8030000000000000000000000000000000000001400060048e80100140000006400000005000000"),   // netem_cells
        hex("a00400002c000506cf780e6b000000000000000003000000000000000000ffff08003200080001007533320074040200440406003c000100000000000200000000000000008813000000000003010000ffff000048e8010000000000000000000000000000000000000000000000000004040200e8030000d0070000b80b0000a00f00008813000070170000581b0000401f00002823000010270000f82a0000e02e0000c8320000b0360000983a0000803e00006842000050460000384a0000204e000008520000f0550000d8590000c05d0000a86100009065000078690000606d0000487100003075000018790000007d0000e8800000d0840000b8880000a08c0000889000007094000058980000409c000028a0000010a40000f8a70000e0ab0000c8af0000b0b3000098b7000080bb000068bf000050c3000038c7000020cb000008cf0000f0d20000d8d60000c0da0000a8de000090e2000078e6000060ea000048ee000030f2000018f6000000fa0000e8fd0000d0010100b8050100a0090100880d0100701101005815010040190100281d010010210100f8240100e0280100c82c0100b03001009834010080380100683c0100504001003844010020480100084c0100f04f0100d8530100c0570100a85b0100905f01007863010060670100486b0100306f01001873010000770100e87a0100d07e0100b8820100a0860100888a0100708e01005892010040960100289a0100109e0100f8a10100e0a50100c8a90100b0ad010098b1010080b5010068b9010050bd010038c1010020c5010008c90100f0cc0100d8d00100c0d40100a8d8010090dc010078e0010060e4010048e8010030ec010018f0010000f40100e8f70100d0fb0100b8ff0100a003020088070200700b0200580f02004013020028170200101b0200f81e0200e0220200c8260200b02a0200982e02008032020068360200503a0200383e02002042020008460200f0490200d84d0200c0510200a855020090590200785d0200606102004865020030690200186d020000710200e8740200d0780200b87c0200a08002008884020070880200588c0200409002002894020010980200f89b0200e09f0200c8a30200b0a7020098ab020080af020068b3020050b7020038bb020020bf020008c30200f0c60200d8ca0200c0ce0200a8d2020090d6020078da020060de020048e2020030e6020018ea020000ee0200e8f10200d0f50200b8f90200a0fd0200880103007005030058090300400d03002811030010150300f8180300e01c0300c8200300b024030098280300802c0300683003005034030038380300203c030008400300f0430300d8470300c04b0300a84f03009053030078570300605b0300485f03003063030018670300006b0300e86e0300d0720300b8760300a07a0300887e03007082030058860300408a0300288e030010920300f8950300e0990300c89d0300b0a1030098a5030080a9030068ad030050b1030038b5030020b9030008bd0300f0c00300d8c40300c0c8030098cc030090d0030068d4030060d8030048dc030030e0030018e4030000e803000800010001000000240005000100010000000000000000000000000000000000000000000000000000000000"),   // u32_police
        hex("5400000030000506ce780e6b0000000000000000400001003c00010008000100627066003000028006000300010000000c00040006000000ffffffff180002000500000000000000030000000000000000000000"),   // act_bpf
    ]

    static func actionSeeds() -> [[UInt8]] {
        var out: [[UInt8]] = []
        func message(_ type: UInt16, _ flags: UInt16, _ body: (inout NetlinkWriter) -> Void) {
            var w = NetlinkWriter()
            let st = w.begin(type: type, flags: NL.F_REQUEST | flags, seq: UInt32(out.count + 1), pid: 0)
            w.put8(0); w.put8(0); w.put16(0)                                   // struct tcamsg
            let tab = w.beginNest(1, flagged: false)                           // TCA_ACT_TAB
            let one = w.beginNest(1, flagged: false)
            body(&w)
            w.endNest(one)
            w.endNest(tab)
            w.end(st)
            out.append(w.bytes)
        }
        func gen(_ index: UInt32, _ action: Int32) -> NetlinkWriter {
            var g = NetlinkWriter(); g.put32(index); g.put32(0); g.put32(UInt32(bitPattern: action)); g.put32(0); g.put32(0); return g
        }
        let add = NL.F_ACK | NL.F_CREATE | NL.F_EXCL
        message(NL.RTM_NEWACTION, add) { w in
            w.attr(1, string: "gact")
            let o = w.beginNest(2); w.attr(2, gen(8, 0).bytes); w.endNest(o)
            w.attr(6, [0xaa, 0xbb, 0xcc])                                      // TCA_ACT_COOKIE
        }
        message(NL.RTM_NEWACTION, add) { w in
            w.attr(1, string: "vlan")
            let o = w.beginNest(2)
            var g = gen(3, 3); g.put32(2)                                      // pipe, TCA_VLAN_ACT_PUSH
            w.attr(2, g.bytes); w.attr(3, u16: 5); w.attr(4, [0x81, 0x00]); w.attr(6, u8: 3)
            w.endNest(o)
        }
        message(NL.RTM_NEWACTION, add) { w in
            w.attr(1, string: "police")
            let o = w.beginNest(2)
            var t = NetlinkWriter()
            t.put32(2); t.put32(2); t.put32(0); t.put32(TcCore.xmittime(rate: 125_000, size: 10_240)); t.put32(0)
            t.put8(3); t.put8(1); t.put16(0); t.put16(0); t.put16(0); t.put32(125_000)   // tc_ratespec
            t.put([UInt8](repeating: 0, count: 12)); t.put32(0); t.put32(0); t.put32(0)
            w.attr(1, t.bytes); w.attr(2, [UInt8](repeating: 0, count: 1024))
            w.endNest(o)
        }
        message(NL.RTM_GETACTION, NL.F_DUMP) { w in w.attr(1, string: "vlan") }
        message(NL.RTM_DELACTION, NL.F_ACK | NL.F_ROOT) { w in w.attr(1, string: "gact") }
        return out
    }

    /// The action seeds apply whole when intact: three actions made, dumped, gact flushed.
    func testActionRequestsApply() throws {
        let p = try processor()
        let seeds = Self.actionSeeds()
        for m in seeds.prefix(3) { XCTAssertEqual(errorOf(p.handle(m)[0])?.errno, 0, "\(m.prefix(20))") }
        XCTAssertEqual(p.dp.tcActions.lookup("gact", 8)?.cookie, [0xaa, 0xbb, 0xcc])
        guard case .vlanPush(5, 3, EtherType.vlan, .pipe)? = p.dp.tcActions.lookup("vlan", 3)?.action else { return XCTFail("vlan push") }
        guard case .police(let pol)? = p.dp.tcActions.lookup("police", 2)?.action else { return XCTFail("police") }
        XCTAssertEqual(pol.rate, 1_000_000)
        XCTAssertEqual(pol.mtu, 2040, "255 << cell_log, as tcf_police_init")
        XCTAssertEqual(pol.exceed, .shot)
        let dump = p.handle(seeds[3])
        XCTAssertEqual(dump.flatMap { Array(NetlinkMessages($0)) }.filter { $0.header.type == NL.RTM_GETACTION }.count, 1)
        XCTAssertEqual(errorOf(p.handle(seeds[4])[0])?.errno, 0)
        XCTAssertNil(p.dp.tcActions.lookup("gact", 8))
        XCTAssertNotNil(p.dp.tcActions.lookup("vlan", 3))
    }

    /// The IPv6, flower and red seeds are taken whole when intact.
    func testIPv6FlowerAndRedRequestsApply() throws {
        let p = try processor()
        let d0 = try XCTUnwrap(p.dp.device(named: "d0"))
        try p.runner.execute("link set d0 up")
        try p.runner.execute("qdisc add dev d0 ingress")
        for m in Self.v6Seeds(d0.ifindex) { XCTAssertEqual(errorOf(p.handle(m)[0])?.errno, 0, "\(m.prefix(20))") }
        XCTAssertTrue(try p.runner.execute("-6 route show").contains("2001:db8:50::/64 via 2001:db8:1::20 dev d0 metric 1024 pref medium"))
        XCTAssertTrue(try p.runner.execute("-6 neigh show").contains("2001:db8:1::20 dev d0 lladdr 02:00:00:00:00:20 PERMANENT"))
        let fs = try p.runner.execute("filter show dev d0 ingress")
        XCTAssertTrue(fs.contains("dst_port 5000-5010"), fs)
        let qs = try p.runner.execute("qdisc show dev d0")
        XCTAssertTrue(qs.contains("qdisc red 2: root refcnt 2 limit 400000b min 30000b max 90000b ecn"), qs)
    }

    /// Debian tc's own bytes for the newer kinds apply as they stand: gred's table then a VQ,
    /// cls_bpf, sfq with RED, netem with cells, u32 with old-style police, act_bpf.
    func testDebianTcRequestsForTheNewerKindsApply() throws {
        let p = try processor()
        let d0 = try XCTUnwrap(p.dp.device(named: "d0")).ifindex
        for l in ["qdisc add dev d0 root handle 1: htb", "class add dev d0 parent 1: classid 1:5 htb rate 1mbit",
                  "class add dev d0 parent 1: classid 1:6 htb rate 1mbit", "class add dev d0 parent 1: classid 1:7 htb rate 1mbit",
                  "qdisc add dev d0 ingress"] { try p.runner.execute(l) }
        for (k, seed) in Self.tcSeeds.enumerated() {
            var m = seed
            // The captures name ifindex 3 in their tcmsg (not act_bpf's tcamsg, type 48).
            if m[4] != 48 { m[20] = UInt8(d0); m[21] = 0; m[22] = 0; m[23] = 0 }
            let e = errorOf(p.handle(m).first ?? [])
            XCTAssertEqual(e?.errno, 0, "seed \(k): \(e?.message ?? "")")
        }
        let q = try p.runner.execute("qdisc show dev d0")
        XCTAssertTrue(q.contains("qdisc gred 5: parent 1:5 vqs 4 default 1 grio limit"), q)
        XCTAssertTrue(q.contains("vq 1 prio 8 limit 60Kb min 15Kb max 25Kb"), q)
        XCTAssertTrue(q.contains("ewma 6 min 8000b max 60000b probability 0.2 ecn"), q)
        XCTAssertTrue(q.contains("rate 1Mbit packetoverhead 20 cellsize 100 celloverhead 5"), q)
        let f = try p.runner.execute("filter show dev d0")
        XCTAssertTrue(f.contains("handle 0x1 direct-action not_in_hw bytecode '6,40 0 0 12,21 0 3 2048,48 0 0 23,21 0 1 1,6 0 0 2,6 0 0 4294967295'"), f)
        XCTAssertTrue(try p.runner.execute("filter show dev d0 ingress").contains(" police 0x1 rate 1Mbit burst 10Kb"))
        let act = try XCTUnwrap(p.dp.tcActions.lookup("bpf", 5))
        XCTAssertTrue(act.action.printText(index: 5, tm: "").hasPrefix("bpf bytecode '1,6 0 0 4294967295' default-action pipe"))
    }

    /// What Debian's ip 6.1 sends for `ip nexthop add id 1 via 198.18.0.2 dev va`, `… id 2 via
    /// 198.18.0.3 dev va` and `ip nexthop add id 10 group 1/2,3` (captured with strace -e
    /// write=3; va was ifindex 3 there, patched to d1's here): decoded to the objects the
    /// kernel makes, dumped back as nh_fill_node fills them (an IPv4 nexthop scope link with
    /// its OIF and gateway; the group AF_UNSPEC with NHA_GROUP_TYPE, weight − 1 in each entry
    /// and NHA_OP_FLAGS), and the same request again EEXIST.
    static let nexthopAdd1 = hex("3000000068000506467f146b00000000" + "020000000000000008000100010000000" + "8000600c612000208000500030000" + "00")
    static let nexthopAdd2 = hex("3000000068000506467f146b00000000" + "020000000000000008000100020000000" + "8000600c612000308000500030000" + "00")
    static let nexthopGroup = hex("3400000068000506467f146b000000000000000000000000080001000a0000001400020001000000000000000200000002000000")

    func testNexthopRequestsAsDebiansIpSendsThem() throws {
        let p = try processor()
        let r = CommandRunner(datapath: p.dp)
        try r.execute("link set d1 up")
        try r.execute("addr add 198.18.0.1/24 dev d1")
        let d1 = try XCTUnwrap(p.dp.device(named: "d1")).ifindex
        func patched(_ m: [UInt8]) -> [UInt8] { var m = m; m[44] = UInt8(d1); return m }
        XCTAssertEqual(Self.nexthopAdd1.count, 48)
        for m in [patched(Self.nexthopAdd1), patched(Self.nexthopAdd2), Self.nexthopGroup] {
            XCTAssertEqual(errorOf(try XCTUnwrap(p.handle(m).first))?.errno, 0)
        }
        XCTAssertEqual(p.dp.nexthops.objects[1]?.kind, .single(v6: false, gateway: 0xC612_0002, dev: d1, onlink: false))
        XCTAssertEqual(p.dp.nexthops.objects[10]?.members, [NexthopObject.Member(id: 1, weight: 1), NexthopObject.Member(id: 2, weight: 3)])
        XCTAssertEqual(errorOf(try XCTUnwrap(p.handle(Self.nexthopGroup).first))?.errno, EEXIST)
        // The dump.
        var w = NetlinkWriter()
        let st = w.begin(type: NHA.RTM_GETNEXTHOP, flags: NL.F_REQUEST | NL.F_DUMP, seq: 9, pid: 0)
        w.put32(0); w.put32(0)
        w.end(st)
        let msgs = p.handle(w.bytes).flatMap { Array(NetlinkMessages($0)) }.filter { $0.header.type == NHA.RTM_NEWNEXTHOP }
        XCTAssertEqual(msgs.count, 3)
        let one = Array(msgs[0].payload)
        XCTAssertEqual(Array(one[0..<8]), [2, 253, 0, 0, 0, 0, 0, 0], "AF_INET, scope link")
        XCTAssertEqual(Array(one[8...]), [8, 0, 1, 0, 1, 0, 0, 0, 8, 0, 5, 0, UInt8(d1), 0, 0, 0, 8, 0, 6, 0, 198, 18, 0, 2])
        let g = Array(msgs[2].payload)
        XCTAssertEqual(Array(g[0..<8]), [0, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(Array(g[8...]), [8, 0, 1, 0, 10, 0, 0, 0, 6, 0, 3, 0, 0, 0, 0, 0,
                                        20, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0,
                                        8, 0, 14, 0, 0, 0, 0, 0x80])
    }

    /// 12 000 malformed messages made from real ones: cut short, lengths that lie (message and
    /// attribute), bytes flipped, wrong nesting, unknown types. The processor answers each
    /// datagram with well-formed replies only — an error carries an errno the kernel uses for
    /// such requests — never crashes, leaks no buffer, and still answers afterwards. (Requests
    /// that survive mutation intact may apply: that is their meaning.)
    func testMalformedCorpus() throws {
        let p = try processor()
        var rng = SplitMix(seed: 0x4E4C)
        let seeds = [Self.htbQdisc, Self.u32Filter, Self.linkSetMTU, Self.linkShow, Self.fdbAdd, Self.routeAdd, Self.addrAdd]
            + Self.v6Seeds(try XCTUnwrap(p.dp.device(named: "d0")).ifindex) + Self.actionSeeds() + Self.tcSeeds
            + [Self.nexthopAdd1, Self.nexthopGroup]
        let allowed: Set<Int32> = [0, EINVAL, ERANGE, EOPNOTSUPP, ENODEV, EPERM, EEXIST, ENOENT, EBUSY,
                                   ENETUNREACH, ENETDOWN, ESRCH, EADDRNOTAVAIL, EHOSTUNREACH, EACCES, EPROTONOSUPPORT, ENOBUFS,
                                   EAFNOSUPPORT]   // a rule request of a family without rules (fib_nl_newrule)
        var errors = 0, silent = 0
        for i in 0..<12_000 {
            var m = seeds[i % seeds.count]
            switch i % 6 {
            case 0: m = Array(m.prefix(Int(rng.next() % UInt64(m.count))))                       // truncated
            case 1: let v = UInt32(rng.next() % 4096); m[0] = UInt8(v & 0xFF); m[1] = UInt8(v >> 8)   // nlmsg_len lies
            case 2: if m.count > 40 { let o = 36 + Int(rng.next() % UInt64(m.count - 38)); m[o] = UInt8(truncatingIfNeeded: rng.next()) }  // attr length/type byte
            case 3: for _ in 0..<4 { let o = Int(rng.next() % UInt64(m.count)); m[o] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            case 4: if m.count > 38 { m[m.count > 40 ? 39 : 37] ^= 0x80 }                         // flip NLA_F_NESTED
            default: m += [8, 0, UInt8(truncatingIfNeeded: 100 + rng.next() % 150), 0, 1, 2, 3, 4]  // unknown type
                let total = UInt32(m.count); m[0] = UInt8(total & 0xFF); m[1] = UInt8(total >> 8)
            }
            p.strictCheck = i % 2 == 0
            let replies = p.handle(m)
            if replies.isEmpty { silent += 1 }
            for r in replies {
                let msgs = Array(NetlinkMessages(r))
                XCTAssertFalse(msgs.isEmpty, "reply parses")
                XCTAssertEqual(msgs.reduce(0) { $0 + NL.align(Int($1.header.length)) }, r.count, "reply is whole messages")
                for x in msgs where x.header.type == NL.ERROR {
                    let e = Int32(bitPattern: x.payload.le32(at: 0))
                    XCTAssertTrue(allowed.contains(-e), "errno \(-e) for \(m)")
                    if e != 0 { errors += 1 }
                }
            }
        }
        XCTAssertGreaterThan(errors, 1000)
        XCTAssertGreaterThan(silent, 1000, "headers that lie are not answered, as netlink_rcv_skb")
        XCTAssertEqual(p.dp.pool.inUse, 0)
        p.strictCheck = false
        let after = p.handle(Self.linkShow)
        XCTAssertFalse(after.isEmpty, "still answering")
    }
}

/// taprio over rtnetlink: the request Debian's tc 6.1 sends for
///   tc qdisc add dev v0 root handle 1: taprio num_tc 3 map 2 2 1 0 2 2 2 2 2 2 2 2 2 2 2 2
///      queues 1@0 1@1 2@2 base-time 1000000000 sched-entry S 01 300000 sched-entry S 03 300000
///      sched-entry S 04 400000 cycle-time-extension 1000 clockid CLOCK_TAI
/// (its TCA_OPTIONS bytes captured with strace), applied as the kernel would, then mutated
/// 3 000 ways: every answer well formed with an errno the kernel uses, nothing leaked.
final class TaprioNetlinkTests: XCTestCase {
    static let options = NetlinkCodecTests.hex("080005000b000000560001000302020100020202020202020202020202000100010002000000000000000000000000000000000000000000000000000000000001000200000000000000000000000000000000000000000000000000000000000c00030000ca9a3b000000000c000900e803000000000000580002801c0001000500020000000000080003000100000008000400e09304001c0001000500020000000000080003000300000008000400e09304001c0001000500020000000000080003000400000008000400801a0600")

    static func request(_ ifindex: Int32, flags: UInt16) -> [UInt8] {
        var w = NetlinkWriter()
        let st = w.begin(type: NL.RTM_NEWQDISC, flags: NL.F_REQUEST | NL.F_ACK | flags, seq: 7, pid: 0)
        w.put8(0); w.put8(0); w.put16(0); w.put32(UInt32(bitPattern: ifindex)); w.put32(0x1_0000); w.put32(0xFFFF_FFFF); w.put32(0)
        w.attr(TCA.KIND, string: "taprio")
        w.attr(TCA.OPTIONS, options)
        w.end(st)
        return w.bytes
    }

    func testDebianTcsRequestAppliesAndMalformedOnesAreRefused() throws {
        let dp = Datapath(poolSize: 64, clock: .virtual(start: 1_000 * Time.s))
        dp.log = { _ in }
        let d0 = try dp.addMemory(name: "d0")
        dp.setQueueCounts(d0, tx: 8, rx: nil)
        let p = RtnlProcessor(datapath: dp, pid: 4242)
        p.extAck = true
        let add = Self.request(d0.ifindex, flags: NL.F_EXCL | NL.F_CREATE)
        let first = Array(NetlinkMessages(try XCTUnwrap(p.handle(add).first)))
        XCTAssertEqual(first.first.map { Int32(bitPattern: $0.payload.le32(at: 0)) }, 0)
        let q = try XCTUnwrap(d0.qdisc as? TaprioQdisc)
        let t = try XCTUnwrap(q.trafficClasses)
        XCTAssertEqual(t.numTc, 3)
        XCTAssertEqual((0..<16).map { t.prioTcMap[$0] }, [2, 2, 1, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
        XCTAssertEqual((0..<3).map { t.count[$0] }, [1, 1, 2])
        XCTAssertEqual((0..<3).map { t.offset[$0] }, [0, 1, 2])
        XCTAssertEqual(q.clockid, 11)
        let s = try XCTUnwrap(q.admin ?? q.oper)
        XCTAssertEqual(s.entries.map(\.gateMask), [1, 3, 4])
        XCTAssertEqual(s.entries.map(\.interval), [300_000, 300_000, 400_000])
        XCTAssertEqual(s.baseTime, 1_000_000_000)
        XCTAssertEqual(s.cycleTime, 1_000_000)
        XCTAssertEqual(s.cycleTimeExtension, 1000)
        // The same request again, mutated.
        let seed = Self.request(d0.ifindex, flags: NL.F_REPLACE | NL.F_CREATE)
        var rng = SplitMix(seed: 0x7A9)
        let allowed: Set<Int32> = [0, EINVAL, ERANGE, EOPNOTSUPP, ENODEV, EEXIST, ENOENT, EPERM, 524]
        var errors = 0
        for i in 0..<3_000 {
            var m = seed
            switch i % 5 {
            case 0: m = Array(m.prefix(Int(rng.next() % UInt64(m.count))))
            case 1: let o = 48 + Int(rng.next() % UInt64(m.count - 48)); m[o] = UInt8(truncatingIfNeeded: rng.next())
            case 2: for _ in 0..<4 { let o = 36 + Int(rng.next() % UInt64(m.count - 36)); m[o] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            case 3: let v = UInt32(rng.next() % 4096); m[0] = UInt8(v & 0xFF); m[1] = UInt8(v >> 8)
            default: m += [8, 0, UInt8(truncatingIfNeeded: 13 + rng.next() % 40), 0, 1, 2, 3, 4]
                let total = UInt32(m.count); m[0] = UInt8(total & 0xFF); m[1] = UInt8(total >> 8)
            }
            for r in p.handle(m) {
                let msgs = Array(NetlinkMessages(r))
                XCTAssertFalse(msgs.isEmpty)
                for x in msgs where x.header.type == NL.ERROR {
                    let e = -Int32(bitPattern: x.payload.le32(at: 0))
                    XCTAssertTrue(allowed.contains(e), "errno \(e) for \(m)")
                    if e != 0 { errors += 1 }
                }
            }
            // Whatever applied, the schedule the qdisc keeps is one taprio_change accepts.
            if let tq = d0.qdisc as? TaprioQdisc, let sc = tq.admin ?? tq.oper {
                XCTAssertFalse(sc.entries.isEmpty)
                XCTAssertGreaterThan(sc.cycleTime, 0)
            }
            dp.clock.advance(by: 50_000)
            _ = d0.qdisc.dequeue()
        }
        XCTAssertGreaterThan(errors, 300)
        XCTAssertEqual(dp.pool.inUse, 0)
        XCTAssertFalse(p.handle(add).isEmpty, "still answering")
    }
}
