/// IGMP (RFC 2236, RFC 3376) and MLD (RFC 2710, RFC 3810) as a snooping bridge reads them
/// (ip_mc_check_igmp, ipv6_mc_check_mld). `MulticastListener.classify` tells what an untagged
/// IPv4/IPv6 multicast frame is:
/// - not a listener message (`.data`): its group, for the multicast database, and whether the
///   kernel would send it only to router ports when nothing is known of it (every routable
///   IPv4 group, every IPv6 group but all-nodes);
/// - a report, leave or query, whose records the caller visits (no allocation);
/// - `.invalid`: a listener message that fails the kernel's checks (header, length,
///   checksum, unknown type), which a snooping bridge drops.
/// Groups are IPv6-sized: an IPv4 group is its 32 bits; `v6` tells which.
public enum MulticastListener {
    public enum Kind: Equatable {
        case notIP
        case data(group: UInt128, v6: Bool, routersOnly: Bool)
        case report(v6: Bool, version: Int)        // records via `visit`
        case query(v6: Bool, source: UInt128, group: UInt128, maxDelay: UInt64)
        /// A source-specific query: the bridge does not act on it (IGMPv2/MLDv1 snooping).
        case ignored
        case invalid(String)
    }

    /// One group of a report: joined (report, or a v3 record other than "include nothing"),
    /// or left (leave/done, or TO_IN/IS_IN with no sources).
    public typealias Visit = (_ group: UInt128, _ join: Bool) -> Void

    static let igmpQuery: UInt8 = 0x11, igmpV1Report: UInt8 = 0x12, igmpV2Report: UInt8 = 0x16
    static let igmpLeave: UInt8 = 0x17, igmpV3Report: UInt8 = 0x22
    static let mldQuery: UInt8 = 130, mldReport: UInt8 = 131, mldDone: UInt8 = 132, mldV2Report: UInt8 = 143
    /// Record types that with no sources mean "no longer listening": MODE_IS_INCLUDE, CHANGE_TO_INCLUDE.
    static let isInclude: UInt8 = 1, toInclude: UInt8 = 3

    public static let allHostsV4: UInt128 = 0xE000_0001
    public static let allNodesV6: UInt128 = 0xFF02 << 112 | 1

    /// Classifies the frame of `length` bytes at `frame` (Ethernet header untagged); for a
    /// report, calls `visit` for each group it names.
    public static func classify(_ frame: UnsafeMutableRawPointer, length: Int, visit: Visit) -> Kind {
        guard length >= 14 else { return .notIP }
        let type = UInt16(bigEndian: frame.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        if type == EtherType.ipv4 { return ipv4(frame, length: length, visit: visit) }
        if type == EtherType.ipv6 { return ipv6(frame, length: length, visit: visit) }
        return .notIP
    }

    static func ipv4(_ frame: UnsafeMutableRawPointer, length: Int, visit: Visit) -> Kind {
        guard case .ok(let ihl, let total) = InetWire.checkIPv4(frame, frameLength: length) else { return .notIP }
        let ip = Bytes(frame + InetWire.ethernetLength, count: total)
        let dst = UInt128(ip.u32(16))
        guard ip.u8(9) == IPProto.igmp else {
            // 224.0.0.0/24 is link-local: flooded; anything else goes to routers when unknown.
            return .data(group: dst, v6: false, routersOnly: dst >> 8 != 0xE00000)
        }
        let n = total - ihl
        let m = ip.suffix(from: ihl)
        guard n >= 8 else { return .invalid("IGMP message shorter than 8 bytes") }
        guard Checksum.fold(Checksum.sum(UnsafeRawPointer(m.base), n)) == 0 else { return .invalid("IGMP checksum") }
        switch m.u8(0) {
        case igmpV1Report, igmpV2Report:
            visit(UInt128(m.u32(4)), true)
            return .report(v6: false, version: m.u8(0) == igmpV1Report ? 1 : 2)
        case igmpLeave:
            visit(UInt128(m.u32(4)), false)
            return .report(v6: false, version: 2)
        case igmpV3Report:
            let records = Int(m.u16(6))
            var off = 8
            for _ in 0..<records {
                guard off + 8 <= n else { return .invalid("IGMPv3 report past its length") }
                let rtype = m.u8(off), aux = Int(m.u8(off + 1)), nsrcs = Int(m.u16(off + 2))
                let group = UInt128(m.u32(off + 4))
                let next = off + 8 + 4 * nsrcs + 4 * aux
                guard next <= n else { return .invalid("IGMPv3 record past the report") }
                if (1...6).contains(rtype) {
                    visit(group, !((rtype == isInclude || rtype == toInclude) && nsrcs == 0))
                }
                off = next
            }
            return .report(v6: false, version: 3)
        case igmpQuery:
            let group = UInt128(m.u32(4))
            var delay: UInt64
            if n == 8 {
                delay = UInt64(m.u8(1)) * 100 * Time.ms          // tenths of a second
                if delay == 0 { delay = 10 * Time.s; return .query(v6: false, source: UInt128(ip.u32(12)), group: 0, maxDelay: delay) }
            } else if n >= 12 {
                delay = UInt64(max(decodeCode(m.u8(1)), 1)) * 100 * Time.ms
                if m.u16(10) != 0 { return .ignored }
            } else {
                return .invalid("IGMP query of \(n) bytes")
            }
            // A general query must go to all-hosts (ip_mc_check_igmp_query).
            if group == 0 && dst != allHostsV4 { return .invalid("general query not to 224.0.0.1") }
            return .query(v6: false, source: UInt128(ip.u32(12)), group: group, maxDelay: delay)
        default:
            return .invalid("IGMP type 0x\(String(m.u8(0), radix: 16))")
        }
    }

    /// An IGMPv2 general query as the bridge's querier sends it (br_ip4_multicast_alloc_query):
    /// IPv4 with the router alert option, TOS 0xC0, TTL 1, DF, from `src` (0.0.0.0 unless
    /// mcast_query_use_ifaddr) to 224.0.0.1; max response time in tenths of a second. Returns
    /// the frame's length.
    public static func writeIGMPQuery(_ f: UnsafeMutableRawPointer, srcMAC: MACAddress, src: UInt32, maxResponseTenths: UInt8) -> Int {
        let b = Bytes(f, count: 14 + 24 + 8)
        MACAddress(raw: 0x0100_5E00_0001).store(to: f)
        srcMAC.store(to: f + 6)
        b.setU16(12, EtherType.ipv4)
        let ip = b.suffix(from: 14)
        ip.setU8(0, 0x46); ip.setU8(1, 0xC0); ip.setU16(2, 32); ip.setU16(4, 0); ip.setU16(6, 0x4000)
        ip.setU8(8, 1); ip.setU8(9, IPProto.igmp); ip.setU16(10, 0)
        ip.setU32(12, src); ip.setU32(16, 0xE000_0001)
        ip.setU32(20, 0x9404_0000)                                   // router alert (RFC 2113)
        ip.setU16(10, Checksum.fold(Checksum.sum(UnsafeRawPointer(ip.base), 24)))
        let m = ip.suffix(from: 24)
        m.setU8(0, igmpQuery); m.setU8(1, maxResponseTenths); m.setU16(2, 0); m.setU32(4, 0)
        m.setU16(2, Checksum.fold(Checksum.sum(UnsafeRawPointer(m.base), 8)))
        return 14 + 24 + 8
    }

    /// An MLDv1 general query (br_ip6_multicast_alloc_query): behind a hop-by-hop header with
    /// the router alert (MLD), hop limit 1, from the link-local `src` to ff02::1; maximum
    /// response delay in milliseconds. Returns the frame's length.
    public static func writeMLDQuery(_ f: UnsafeMutableRawPointer, srcMAC: MACAddress, src: UInt128, maxDelayMs: UInt16) -> Int {
        let b = Bytes(f, count: 14 + 40 + 8 + 24)
        Inet6Wire.multicastMAC(allNodesV6).store(to: f)
        srcMAC.store(to: f + 6)
        b.setU16(12, EtherType.ipv6)
        let ip = f + 14
        Inet6Wire.writeIPv6(ip, trafficClass: 0, payloadLength: 8 + 24, nextHeader: 0, hopLimit: 1, src: src, dst: allNodesV6)
        let h = b.suffix(from: 54)
        h.setU8(0, IPProto.icmpv6); h.setU8(1, 0); h.setU8(2, 5); h.setU8(3, 2); h.setU16(4, 0); h.setU8(6, 1); h.setU8(7, 0)
        let m = b.suffix(from: 62)
        m.setU8(0, mldQuery); m.setU8(1, 0); m.setU16(2, 0); m.setU16(4, maxDelayMs); m.setU16(6, 0)
        for o in stride(from: 8, to: 24, by: 4) { m.setU32(o, 0) }
        Inet6Wire.setChecksum(m.base, length: 24, offset: 2, src: src, dst: allNodesV6, next: IPProto.icmpv6)
        return 14 + 40 + 8 + 24
    }

    /// IGMPv3's and MLDv2's floating-point code (RFC 3376 4.1.1).
    static func decodeCode(_ c: UInt8) -> Int {
        c < 128 ? Int(c) : (Int(c & 0x0F) | 0x10) << (Int((c >> 4) & 0x07) + 3)
    }

    static func ipv6(_ frame: UnsafeMutableRawPointer, length: Int, visit: Visit) -> Kind {
        guard case .ok(let plen) = Inet6Wire.checkIPv6(frame, frameLength: length) else { return .notIP }
        let ip = frame + InetWire.ethernetLength
        let total = Inet6Wire.ipv6Length + plen
        let src = Inet6Wire.load128(ip + 8), dst = Inet6Wire.load128(ip + 24)
        let data = Kind.data(group: dst, v6: true, routersOnly: dst != allNodesV6)
        // MLD travels behind a hop-by-hop header (the router alert); anything else is data.
        guard Inet6Wire.nextHeader(ip) == 0 else { return data }
        guard case .proto(let next, let off) = Inet6Wire.upperLayer(ip, total: total) else { return .invalid("IPv6 extension headers") }
        guard next == IPProto.icmpv6 else { return data }
        let n = total - off
        guard n >= 4 else { return .invalid("ICMPv6 header truncated") }
        let m = Bytes(ip + off, count: n)
        let t = m.u8(0)
        guard [mldQuery, mldReport, mldDone, mldV2Report].contains(t) else { return data }
        guard Inet6Wire.checksumValid(UnsafeRawPointer(m.base), length: n, src: src, dst: dst, next: IPProto.icmpv6) else { return .invalid("MLD checksum") }
        switch t {
        case mldReport, mldDone:
            guard n >= 24 else { return .invalid("MLDv1 message shorter than 24 bytes") }
            visit(Inet6Wire.load128(m.base + 8), t == mldReport)
            return .report(v6: true, version: 1)
        case mldV2Report:
            guard n >= 8 else { return .invalid("MLDv2 report shorter than 8 bytes") }
            let records = Int(m.u16(6))
            var o = 8
            for _ in 0..<records {
                guard o + 20 <= n else { return .invalid("MLDv2 report past its length") }
                let rtype = m.u8(o), aux = Int(m.u8(o + 1)), nsrcs = Int(m.u16(o + 2))
                let group = Inet6Wire.load128(m.base + o + 4)
                let next = o + 20 + 16 * nsrcs + 4 * aux
                guard next <= n else { return .invalid("MLDv2 record past the report") }
                if (1...6).contains(rtype) {
                    visit(group, !((rtype == isInclude || rtype == toInclude) && nsrcs == 0))
                }
                o = next
            }
            return .report(v6: true, version: 2)
        default:
            // A query: from a link-local source (RFC 3810 5.1.14), 24 bytes (v1) or 28 and more (v2).
            guard Inet6Wire.isLinkLocal(src) else { return .invalid("MLD query not from a link-local address") }
            let group = Inet6Wire.load128(m.base + 8)
            var delay: UInt64
            if n == 24 {
                delay = UInt64(m.u16(4)) * Time.ms
            } else if n >= 28 {
                let c = Int(m.u16(4))
                delay = UInt64(max(c < 32768 ? c : ((c & 0x0FFF) | 0x1000) << (((c >> 12) & 7) + 3), 1)) * Time.ms
                if m.u16(26) != 0 { return .ignored }
            } else {
                return .invalid("MLD query of \(n) bytes")
            }
            if group == 0 && dst != allNodesV6 { return .invalid("general query not to ff02::1") }
            return .query(v6: true, source: src, group: group, maxDelay: max(delay, 1))
        }
    }
}

// MARK: the listener's side (mcast.c): what an IPv6 node sends, and the queries it reads

extension MulticastListener {
    /// MLDv2 record types (RFC 3810 5.2.12) a node without source filters sends.
    public static let modeIsExclude: UInt8 = 2, changeToInclude: UInt8 = 3, changeToExclude: UInt8 = 4
    /// ff02::16, where MLDv2 reports go.
    public static let allMLDv2Routers: UInt128 = 0xFF02 << 112 | 0x16
    /// ff02::2, where an MLDv1 done goes.
    public static let allRoutersV6: UInt128 = 0xFF02 << 112 | 2
    /// The Ethernet, IPv6 and hop-by-hop headers in front of an MLD message.
    public static let mldHeadroom = 14 + 40 + 8

    /// ip6_mc_hdr and the hop-by-hop header of mld_newpack/igmp6_send: hop limit 1, traffic
    /// class 0, a router alert for MLD and a PadN; `length` the MLD message's.
    static func writeMLDHeaders(_ f: UnsafeMutableRawPointer, srcMAC: MACAddress, src: UInt128, dst: UInt128, length: Int) {
        let b = Bytes(f, count: mldHeadroom)
        Inet6Wire.multicastMAC(dst).store(to: f)
        srcMAC.store(to: f + 6)
        b.setU16(12, EtherType.ipv6)
        Inet6Wire.writeIPv6(f + 14, trafficClass: 0, payloadLength: 8 + length, nextHeader: 0, hopLimit: 1, src: src, dst: dst)
        let h = b.suffix(from: 54)
        h.setU8(0, IPProto.icmpv6); h.setU8(1, 0); h.setU8(2, 5); h.setU8(3, 2); h.setU16(4, 0); h.setU8(6, 1); h.setU8(7, 0)
    }

    /// igmp6_send: an MLDv1 report (to the group) or done (to ff02::2) for `group`; the frame's
    /// length. `f` must hold 86 bytes.
    public static func writeMLDv1(_ f: UnsafeMutableRawPointer, srcMAC: MACAddress, src: UInt128, done: Bool, group: UInt128) -> Int {
        let dst = done ? allRoutersV6 : group
        writeMLDHeaders(f, srcMAC: srcMAC, src: src, dst: dst, length: 24)
        let m = Bytes(f + mldHeadroom, count: 24)
        m.setU8(0, done ? mldDone : mldReport); m.setU8(1, 0); m.setU16(2, 0); m.setU32(4, 0)
        Inet6Wire.store128(group, m.base + 8)
        Inet6Wire.setChecksum(m.base, length: 24, offset: 2, src: src, dst: dst, next: IPProto.icmpv6)
        return mldHeadroom + 24
    }

    /// mld_newpack, add_grhead and mld_sendpack: an MLDv2 report to ff02::16 with one record of
    /// no sources per (type, group); the frame's length. `f` must hold
    /// `mldHeadroom + 8 + 20 × records.count` bytes.
    public static func writeMLDv2Report(_ f: UnsafeMutableRawPointer, srcMAC: MACAddress, src: UInt128, records: ArraySlice<(type: UInt8, group: UInt128)>) -> Int {
        let len = 8 + 20 * records.count
        writeMLDHeaders(f, srcMAC: srcMAC, src: src, dst: allMLDv2Routers, length: len)
        let m = Bytes(f + mldHeadroom, count: len)
        m.setU8(0, mldV2Report); m.setU8(1, 0); m.setU16(2, 0); m.setU16(4, 0); m.setU16(6, UInt16(records.count))
        var o = 8
        for r in records {
            m.setU8(o, r.type); m.setU8(o + 1, 0); m.setU16(o + 2, 0)
            Inet6Wire.store128(r.group, m.base + o + 4)
            o += 20
        }
        Inet6Wire.setChecksum(m.base, length: len, offset: 2, src: src, dst: allMLDv2Routers, next: IPProto.icmpv6)
        return mldHeadroom + len
    }

    /// A query as a listener reads it (__mld_query_work): `length` the ICMPv6 message's (24: an
    /// MLDv1 query; 28 and more: MLDv2), the maximum response delay in ms (MLDv2's code decoded),
    /// the group (0: general), and MLDv2's QRV, QQIC and number of sources.
    public struct ListenerQuery: Equatable, Sendable {
        public var length: Int
        public var maxResponseMs: Int
        public var group: UInt128
        public var qrv: Int = 0, qqic: Int = 0, sources: Int = 0
    }

    /// Reads the query at `off` of the IPv6 packet at `ip` (`total` bytes); nil if it is
    /// shorter than an MLDv1 query, or an MLDv2 one whose sources run past it.
    public static func listenerQuery(_ ip: UnsafeRawPointer, offset off: Int, total: Int) -> ListenerQuery? {
        let n = total - off
        guard off >= 0, n >= 24 else { return nil }
        let m = Bytes(UnsafeMutableRawPointer(mutating: ip + off), count: n)
        var q = ListenerQuery(length: n, maxResponseMs: Int(m.u16(4)), group: Inet6Wire.load128(m.base + 8))
        if n >= 28 {
            let c = Int(m.u16(4))
            q.maxResponseMs = c < 32768 ? c : ((c & 0x0FFF) | 0x1000) << (((c >> 12) & 7) + 3)
            q.qrv = Int(m.u8(24) & 7)
            q.qqic = decodeCode(m.u8(25))
            q.sources = Int(m.u16(26))
            guard 28 + 16 * q.sources <= n else { return nil }
        }
        return q
    }
}

extension Inet6Wire {
    /// The value of the router alert option in the packet's hop-by-hop header (IP6CB's ra,
    /// ipv6_hop_ra), nil without one; the options are walked within the header's length.
    public static func routerAlert(_ ip: UnsafeRawPointer, total: Int) -> UInt16? {
        guard total >= ipv6Length + 8, nextHeader(ip) == 0 else { return nil }
        let end = ipv6Length + (Int(ip.load(fromByteOffset: ipv6Length + 1, as: UInt8.self)) + 1) * 8
        guard end <= total else { return nil }
        var o = ipv6Length + 2
        while o < end {
            let t = ip.load(fromByteOffset: o, as: UInt8.self)
            if t == 0 { o += 1; continue }                      // Pad1
            guard o + 2 <= end else { return nil }
            let l = Int(ip.load(fromByteOffset: o + 1, as: UInt8.self))
            guard o + 2 + l <= end else { return nil }
            if t == 5 && l == 2 {
                return UInt16(ip.load(fromByteOffset: o + 2, as: UInt8.self)) << 8 | UInt16(ip.load(fromByteOffset: o + 3, as: UInt8.self))
            }
            o += 2 + l
        }
        return nil
    }
}

// MARK: the IPv4 listener's side (igmp.c): reports a host sends, and the queries it reads

extension MulticastListener {
    /// IGMPv3 record types a host without source filters sends, and where v3 reports go.
    public static let igmpModeIsExclude: UInt8 = 2, igmpChangeToInclude: UInt8 = 3, igmpChangeToExclude: UInt8 = 4
    public static let allIGMPv3Routers: UInt32 = 0xE000_0016
    public static let allRoutersV4: UInt32 = 0xE000_0002
    public static let igmpV1ReportType = igmpV1Report, igmpV2ReportType = igmpV2Report, igmpLeaveType = igmpLeave

    /// igmp_send_report's and igmpv3_newpack's IPv4 header: TOS 0xC0, DF, id 0 (a DF packet of
    /// no socket), TTL 1, the router alert option; `length` the IGMP message's.
    static func writeIGMPHeaders(_ f: UnsafeMutableRawPointer, srcMAC: MACAddress, src: UInt32, dst: UInt32, length: Int) {
        let b = Bytes(f, count: 14 + 24)
        MACAddress(raw: 0x0100_5E00_0000 | UInt64(dst & 0x7F_FFFF)).store(to: f)
        srcMAC.store(to: f + 6)
        b.setU16(12, EtherType.ipv4)
        let ip = b.suffix(from: 14)
        ip.setU8(0, 0x46); ip.setU8(1, 0xC0); ip.setU16(2, UInt16(24 + length)); ip.setU16(4, 0); ip.setU16(6, 0x4000)
        ip.setU8(8, 1); ip.setU8(9, IPProto.igmp); ip.setU16(10, 0)
        ip.setU32(12, src); ip.setU32(16, dst)
        ip.setU32(20, 0x9404_0000)
        ip.setU16(10, Checksum.fold(Checksum.sum(UnsafeRawPointer(ip.base), 24)))
    }

    /// An IGMPv1 or v2 report (to the group) or a leave (to 224.0.0.2): 46 bytes.
    public static func writeIGMPReport(_ f: UnsafeMutableRawPointer, srcMAC: MACAddress, src: UInt32, type: UInt8, group: UInt32) -> Int {
        writeIGMPHeaders(f, srcMAC: srcMAC, src: src, dst: type == igmpLeave ? allRoutersV4 : group, length: 8)
        let m = Bytes(f + 38, count: 8)
        m.setU8(0, type); m.setU8(1, 0); m.setU16(2, 0); m.setU32(4, group)
        m.setU16(2, Checksum.fold(Checksum.sum(UnsafeRawPointer(m.base), 8)))
        return 46
    }

    /// An IGMPv3 report to 224.0.0.22 with one record of no sources per (type, group).
    public static func writeIGMPv3Report(_ f: UnsafeMutableRawPointer, srcMAC: MACAddress, src: UInt32, records: ArraySlice<(type: UInt8, group: UInt32)>) -> Int {
        let len = 8 + 8 * records.count
        writeIGMPHeaders(f, srcMAC: srcMAC, src: src, dst: allIGMPv3Routers, length: len)
        let m = Bytes(f + 38, count: len)
        m.setU8(0, igmpV3Report); m.setU8(1, 0); m.setU16(2, 0); m.setU16(4, 0); m.setU16(6, UInt16(records.count))
        var o = 8
        for r in records {
            m.setU8(o, r.type); m.setU8(o + 1, 0); m.setU16(o + 2, 0); m.setU32(o + 4, r.group)
            o += 8
        }
        m.setU16(2, Checksum.fold(Checksum.sum(UnsafeRawPointer(m.base), len)))
        return 38 + len
    }

    /// A query as a host reads it (igmp_heard_query): `length` the IGMP message's (8: v1 or v2,
    /// 12 and more: v3), its code (v1/v2: tenths of a second; v3: decoded), group, and v3's QRV,
    /// QQIC (decoded) and number of sources; nil if shorter than 8 bytes, its checksum is bad,
    /// or v3 sources run past it.
    public struct HostQuery: Equatable, Sendable {
        public var length: Int
        public var code: Int
        public var group: UInt32
        public var qrv = 0, qqic = 0, sources = 0
    }

    public static func igmpHostQuery(_ m: UnsafeRawPointer, length n: Int) -> HostQuery? {
        guard n >= 8, Checksum.fold(Checksum.sum(m, n)) == 0 else { return nil }
        let b = Bytes(UnsafeMutableRawPointer(mutating: m), count: n)
        var q = HostQuery(length: n, code: Int(b.u8(1)), group: b.u32(4))
        if n >= 12 {
            q.code = decodeCode(b.u8(1))
            q.qrv = Int(b.u8(8) & 7)
            q.qqic = decodeCode(b.u8(9))
            q.sources = Int(b.u16(10))
            guard 12 + 4 * q.sources <= n else { return nil }
        }
        return q
    }
}
