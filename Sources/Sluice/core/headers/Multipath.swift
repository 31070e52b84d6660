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
    /// FIB_MULTIPATH_HASH_FIELD_ALL_MASK: outer and inner fields.
    public static let all: UInt32 = 0xFFF
}

extension InetWire {
    /// The source and destination ports (as one word) of an IPv4 packet's transport header
    /// `ip` + `ihl`, 0 for a fragment, another protocol or a header cut short.
    @inline(__always)
    public static func multipathPorts(_ ip: UnsafeRawPointer, ihl: Int, total: Int, proto: UInt8, fragment: Bool) -> UInt32 {
        guard !fragment, proto == IPProto.tcp || proto == IPProto.udp || proto == 132 || proto == 33, ihl + 4 <= total else { return 0 }
        return UInt32(bigEndian: ip.loadUnaligned(fromByteOffset: ihl, as: UInt32.self))
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
            guard n == IPProto.tcp || n == IPProto.udp || n == 132 || n == 33, off + 4 <= total else { return (n, 0) }
            return (n, UInt32(bigEndian: ip.loadUnaligned(fromByteOffset: off, as: UInt32.self)))
        case .fragment: return (44, 0)
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
