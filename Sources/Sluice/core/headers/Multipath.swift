/// Principles (net/ipv4/route.c: fib_multipath_hash, ip_multipath_l3_keys,
/// fib_multipath_custom_hash_*; net/ipv6/route.c: rt6_multipath_hash, ip6_multipath_l3_keys)
/// ----------
/// What a multipath route's hash reads from a forwarded packet, bounds-checked here once:
/// the transport ports (TCP, UDP, SCTP, DCCP; none for a fragment, as the flow dissector
/// without FLOW_DISSECTOR_F_PARSE_1ST_FRAG), the IPv6 flow label, and — for an ICMP error,
/// so that it takes the path of the flow it reports on — the addresses of the header it
/// quotes. The policies that combine them live with the stacks (IPv4Stack.multipathHash).

/// FIB_MULTIPATH_HASH_FIELD_* (include/net/ip_fib.h): what policy 3 hashes.
public enum MultipathField {
    public static let srcIP: UInt32 = 1 << 0, dstIP: UInt32 = 1 << 1, ipProto: UInt32 = 1 << 2, flowLabel: UInt32 = 1 << 3
    public static let srcPort: UInt32 = 1 << 4, dstPort: UInt32 = 1 << 5
    public static let innerSrcIP: UInt32 = 1 << 6, innerDstIP: UInt32 = 1 << 7, innerIPProto: UInt32 = 1 << 8
    public static let innerFlowLabel: UInt32 = 1 << 9, innerSrcPort: UInt32 = 1 << 10, innerDstPort: UInt32 = 1 << 11
    public static let outerMask: UInt32 = 0x3F, innerMask: UInt32 = 0xFC0
    /// FIB_MULTIPATH_HASH_FIELD_ALL_MASK: outer and inner fields.
    public static let all: UInt32 = 0xFFF
}

/// What the flow dissector takes from one IPv4 or IPv6 header: the addresses, IPv6's flow
/// label (host order, as the dissector keeps it), the transport protocol (after IPv6's
/// extension headers; a fragment's next header) and ports (none for a fragment).
public struct DissectedFlow {
    public var src4: UInt32 = 0, dst4: UInt32 = 0
    public var src6: UInt128 = 0, dst6: UInt128 = 0
    public var label: UInt32 = 0, proto: UInt8 = 0, ports: UInt32 = 0
}

extension InetWire {
    /// The flow dissector's keys for the IPv4 (or, with `v6`, IPv6) packet at `ip`, `total`
    /// bytes long (a tunnel's inner packet; `tunnelled` checked its fixed header is there).
    public static func dissect(_ ip: UnsafeRawPointer, total: Int, v6: Bool) -> DissectedFlow {
        var k = DissectedFlow()
        if v6 {
            k.src6 = Inet6Wire.source(ip); k.dst6 = Inet6Wire.destination(ip); k.label = Inet6Wire.flowLabel(ip)
            (k.proto, k.ports) = Inet6Wire.multipathL4(ip, total: total)
            return k
        }
        let ihl = Int(ip.load(as: UInt8.self) & 0x0F) * 4
        k.src4 = UInt32(bigEndian: ip.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        k.dst4 = UInt32(bigEndian: ip.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        k.proto = ip.load(fromByteOffset: 9, as: UInt8.self)
        let fragment = UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 6, as: UInt16.self)) & 0x3FFF != 0
        if ihl >= 20 { k.ports = multipathPorts(ip, ihl: ihl, total: total, proto: k.proto, fragment: fragment) }
        return k
    }

    /// The source and destination ports (as one word) of an IPv4 packet's transport header
    /// `ip` + `ihl`, 0 for a fragment, another protocol or a header cut short.
    @inline(__always)
    public static func multipathPorts(_ ip: UnsafeRawPointer, ihl: Int, total: Int, proto: UInt8, fragment: Bool) -> UInt32 {
        guard !fragment, let off = portsOffset(proto), ihl + off + 4 <= total else { return 0 }
        return UInt32(bigEndian: ip.loadUnaligned(fromByteOffset: ihl + off, as: UInt32.self))
    }

    /// proto_ports_offset: where the flow dissector reads "ports" — TCP, UDP, DCCP, SCTP,
    /// UDP-Lite at 0, ESP's SPI at 0, AH's at 4; nil for any other protocol.
    @inline(__always)
    public static func portsOffset(_ proto: UInt8) -> Int? {
        switch proto {
        case IPProto.tcp, IPProto.udp, 33, 50, 132, 136: 0
        case 51: 4
        default: nil
        }
    }

    /// The packet an IPv4 packet tunnels, as the flow dissector finds it without
    /// FLOW_DISSECTOR_F_STOP_AT_ENCAP: IPIP (4), IPv6 in IPv4 (41), or GRE version 0 (47) with
    /// its checksum, key and sequence words skipped, carrying IPv4 or IPv6 — whether it is
    /// IPv6, and its offset from `ip`. Nil for anything else, a fragment, or a header cut short.
    public static func tunnelled(_ ip: UnsafeRawPointer, at off: Int, total: Int, proto: UInt8) -> (v6: Bool, offset: Int)? {
        var inner = proto, at = off
        if proto == 47 {
            guard off + 4 <= total else { return nil }
            let flags = UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: off, as: UInt16.self))
            guard flags & 0x7 == 0 else { return nil }    // version 0
            let type = UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: off + 2, as: UInt16.self))
            at = off + 4 + (flags & 0x8000 != 0 ? 4 : 0) + (flags & 0x2000 != 0 ? 4 : 0) + (flags & 0x1000 != 0 ? 4 : 0)
            switch type { case 0x0800: inner = 4; case 0x86DD: inner = 41; default: return nil }
        }
        switch inner {
        case 4:
            guard at + 20 <= total, ip.load(fromByteOffset: at, as: UInt8.self) >> 4 == 4 else { return nil }
            return (false, at)
        case 41:
            guard at + Inet6Wire.ipv6Length <= total, ip.load(fromByteOffset: at, as: UInt8.self) >> 4 == 6 else { return nil }
            return (true, at)
        default: return nil
        }
    }

    /// ip_multipath_l3_keys: for an ICMP error (destination unreachable, source quench,
    /// redirect, time exceeded, parameter problem) that quotes a whole IPv4 header, that
    /// header's source and destination.
    public static func icmpErrorInnerAddresses(_ ip: UnsafeRawPointer, ihl: Int, total: Int, fragment: Bool) -> (src: UInt32, dst: UInt32)? {
        guard !fragment, ihl + 8 + 20 <= total else { return nil }
        let type = ip.load(fromByteOffset: ihl, as: UInt8.self)
        guard type == 3 || type == 4 || type == 5 || type == 11 || type == 12 else { return nil }
        let inner = ihl + 8
        return (UInt32(bigEndian: ip.loadUnaligned(fromByteOffset: inner + 12, as: UInt32.self)),
                UInt32(bigEndian: ip.loadUnaligned(fromByteOffset: inner + 16, as: UInt32.self)))
    }
}

extension Inet6Wire {
    /// The 20-bit flow label.
    @inline(__always)
    public static func flowLabel(_ ip: UnsafeRawPointer) -> UInt32 {
        UInt32(bigEndian: ip.loadUnaligned(as: UInt32.self)) & 0xF_FFFF
    }

    /// The transport protocol after the extension headers a host walks, and its ports as one
    /// word (0 for a fragment, another protocol, or a header cut short).
    public static func multipathL4(_ ip: UnsafeRawPointer, total: Int) -> (proto: UInt8, ports: UInt32) {
        switch upperLayer(ip, total: total) {
        case .proto(let n, let off):
            guard let po = InetWire.portsOffset(n), off + po + 4 <= total else { return (n, 0) }
            return (n, UInt32(bigEndian: ip.loadUnaligned(fromByteOffset: off + po, as: UInt32.self)))
        case .fragment(let off):
            // The flow dissector takes the fragment header's next header, and no ports.
            return (ip.load(fromByteOffset: off, as: UInt8.self), 0)
        default: return (nextHeader(ip), 0)
        }
    }

    /// ip6_multipath_l3_keys: for an ICMPv6 error right after the fixed header that quotes a
    /// whole IPv6 header, that header's source, destination, flow label and next header.
    public static func icmpErrorInner(_ ip: UnsafeRawPointer, total: Int) -> (src: UInt128, dst: UInt128, label: UInt32, next: UInt8)? {
        guard nextHeader(ip) == IPProto.icmpv6, ipv6Length + 8 + ipv6Length <= total,
              (1...4).contains(ip.load(fromByteOffset: ipv6Length, as: UInt8.self)) else { return nil }   // icmpv6_is_err
        let inner = ip + ipv6Length + 8
        return (source(inner), destination(inner), flowLabel(inner), nextHeader(inner))
    }
}
