#if canImport(Glibc)
import Glibc
#endif

/// Principles
/// ----------
/// `tc … show` output, byte for byte as iproute2 6.1 (Debian's tc) prints what the kernel
/// dumps: scripts written against tc read Sluice's output unchanged. Values go through the same
/// round trips the kernel and tc put them through — sizes and times become psched ticks
/// (tc_core.c: tc_calc_xmittime / tc_calc_xmitsize), rates whole bytes per second, percentages
/// fractions of 2^32 — and are printed with C's printf rules (`%g`, `%.3g`), so a 3 Mbit/s
/// class's default 1600-byte burst prints as the kernel's `1599b`.

/// printf-formatted text (tc's output is printf output: `%g` and `%.3g` are C's).
func cFormat(_ format: String, _ args: CVarArg...) -> String {
    withVaList(args) { va in
        var buf = [CChar](repeating: 0, count: 128)
        let n = vsnprintf(&buf, buf.count, format, va)
        if n >= buf.count {
            buf = [CChar](repeating: 0, count: Int(n) + 1)
            return withVaList(args) { va2 in _ = vsnprintf(&buf, buf.count, format, va2); return String(cString: buf) }
        }
        return String(cString: buf)
    }
}

/// tc_core.c: psched ticks as tc computes them. /proc/net/psched on kernels with
/// high-resolution timers reads `000003e8 00000040 000f4240 3b9aca00`: 1000 ns per µs over a
/// 64 ns tick, so 15.625 ticks per microsecond; the kernel keeps ticks × 64 ns (PSCHED_TICKS2NS).
enum TcCore {
    static let tickInUsec = 1000.0 / 64.0

    /// tc_core_time2tick: microseconds (an unsigned int) → ticks, truncated.
    static func time2tick(_ usec: UInt32) -> UInt32 { UInt32(clamping: UInt64(Double(usec) * tickInUsec)) }
    /// tc_core_tick2time: ticks → microseconds, truncated.
    static func tick2time(_ ticks: UInt32) -> UInt32 { UInt32(Double(ticks) / tickInUsec) }
    /// tc_calc_xmittime: ticks to send `size` bytes at `rate` bytes/s.
    static func xmittime(rate: UInt64, size: UInt32) -> UInt32 {
        guard rate > 0 else { return 0 }
        let us = 1e6 * (Double(size) / Double(rate))
        return time2tick(UInt32(clamping: UInt64(max(us, 0))))
    }
    /// tc_calc_xmitsize: bytes sent at `rate` in `ticks`.
    static func xmitsize(rate: UInt64, ticks: UInt32) -> UInt32 {
        UInt32(clamping: UInt64(Double(rate) * Double(tick2time(ticks)) / 1e6))
    }
    /// The kernel's nanoseconds for a tick count (PSCHED_TICKS2NS).
    static func ns(_ ticks: UInt32) -> UInt64 { UInt64(ticks) << 6 }
}

extension TcFormat {
    /// sprint_time64: nanoseconds as `10us`, `1.5ms`, `2s` (`%.3g`) or `500ns`.
    static func time64(_ ns: Int64) -> String {
        let d = Double(ns)
        if ns >= 1_000_000_000 { return cFormat("%.3gs", d / 1e9) }
        if ns >= 1_000_000 { return cFormat("%.3gms", d / 1e6) }
        if ns >= 1_000 { return cFormat("%.3gus", d / 1e3) }
        return "\(ns)ns"
    }

    /// print_rate: a rate in bytes per second as bits (`10Mbit`, `1500Kbit`, `64bit`).
    static func rateBytes(_ bytesPerSec: UInt64) -> String {
        var rate = bytesPerSec << 3
        let units = ["", "K", "M", "G", "T"]
        var i = 0
        while i < units.count - 1 {
            if rate < 1000 { break }
            if rate % 1000 != 0 && rate < 1000 * 1000 { break }
            rate /= 1000
            i += 1
        }
        return cFormat("%.0f", Double(rate)) + units[i] + "bit"
    }

    /// sprint_size: bytes as `1514000b`, `32Kb`, `2Mb` (rounding within tc's tolerances).
    static func sizeU32(_ sz: UInt32) -> String {
        let kilo = 1024.0, mega = 1024.0 * 1024.0
        let t = Double(sz)
        if t >= mega && abs(mega * (t / mega).rounded(.toNearestOrEven) - t) < 1024 {
            return cFormat("%gMb", (t / mega).rounded(.toNearestOrEven))
        }
        if t >= kilo && abs(kilo * (t / kilo).rounded(.toNearestOrEven) - t) < 16 {
            return cFormat("%gKb", (t / kilo).rounded(.toNearestOrEven))
        }
        return "\(sz)b"
    }

    /// sprint_time: microseconds as `5ms`, `73.7ms`, `1.5s`, `500us`.
    static func timeUs(_ us: UInt32) -> String {
        let t = Double(us)
        if t >= 1e6 { return cFormat("%.3gs", t / 1e6) }
        if t >= 1e3 { return cFormat("%.3gms", t / 1e3) }
        return "\(us)us"
    }

    /// A percentage stored as a fraction of 2^32 − 1, as netem prints it (`%g%%`).
    static func percent(_ p: Double) -> String {
        let scaled = (p * Double(UInt32.max)).rounded(.toNearestOrEven)
        return cFormat("%g%%", 100.0 * scaled / Double(UInt32.max))
    }

    /// hex2mem: "aabb01" as bytes; nil unless every character is a hex digit, in pairs.
    static func hexBytes(_ s: String) -> [UInt8]? {
        let c = Array(s.utf8)
        guard c.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < c.count {
            guard let b = UInt8(String(decoding: c[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
            i += 2
        }
        return out
    }

    /// print_tc_classid: `1:10`, `1:`, `root`, `none`, `ffff:fff1`.
    static func classid(_ h: TcHandle) -> String {
        if h == .root { return "root" }
        if h == .unspec { return "none" }
        if h.minor == 0 { return String(h.major, radix: 16) + ":" }
        if h.major == 0 { return ":" + String(h.minor, radix: 16) }
        return String(h.major, radix: 16) + ":" + String(h.minor, radix: 16)
    }

    /// ll_proto_n2a for the protocols filters use.
    static func proto(_ p: UInt16) -> String {
        switch p {
        case 3: return "all"
        case EtherType.ipv4: return "ip"
        case EtherType.ipv6: return "ipv6"
        case EtherType.arp: return "arp"
        case EtherType.vlan: return "802.1Q"
        case EtherType.qinq: return "802.1ad"
        case 0x8847: return "mpls_uc"
        case 0x8848: return "mpls_mc"
        default: return cFormat("0x%x", UInt32(p))
        }
    }

    /// ll_proto_a2n for the same names, or a number.
    static func parseProto(_ s: String) throws(SluiceError) -> UInt16 {
        switch s.lowercased() {
        case "all": return 3
        case "ip": return EtherType.ipv4
        case "ipv6": return EtherType.ipv6
        case "arp": return EtherType.arp
        case "802.1q": return EtherType.vlan
        case "802.1ad": return EtherType.qinq
        case "mpls_uc": return 0x8847
        case "mpls_mc": return 0x8848
        default:
            let v = s.hasPrefix("0x") ? UInt16(s.dropFirst(2), radix: 16) : UInt16(s)
            guard let v else { throw SluiceError("Error: invalid protocol \"\(s)\"") }
            return v
        }
    }

    /// print_tcstats2_attr for basic + queue statistics, with `prefix` on each line; no final
    /// newline (the caller's print_nl adds it).
    static func stats(_ s: QdiscStats, prefix: String) -> String {
        "\(prefix)Sent \(s.bytes) bytes \(s.packets) pkt (dropped \(s.drops), overlimits \(s.overlimits) requeues \(s.requeues)) \n"
            + "\(prefix)" + (s.rate.map { "rate \(rateBytes($0.bps)) \($0.pps)pps " } ?? "")
            + "backlog \(sizeU32(UInt32(clamping: s.backlog))) \(s.qlen)p requeues \(s.requeues)"
    }
}

/// What `tc class show` prints for one class (the kernel's class dump).
public struct QdiscClassInfo {
    public var classid: TcHandle
    /// The parent as dumped: a class id, the qdisc's handle, or `.root`.
    public var parent: TcHandle
    public var leaf: Qdisc?
    /// print_copt's text (with its trailing spaces).
    public var options: String
    /// Basic and queue statistics, or nil when the class has none (tbf, netem).
    public var stats: QdiscStats?
    /// print_xstats's text, or nil.
    public var xstats: String?
}

/// The order in which the kernel walks a qdisc's classes (struct Qdisc_class_hash): a table of
/// 4 buckets that doubles when more than 3/4 full, hashed by qdisc_class_hash, each bucket a
/// list with the newest class first. Kept only so that `tc class show` lists classes in the
/// kernel's order; nothing on the packet path reads it.
struct KernelClassHash {
    private var buckets: [[UInt32]] = Array(repeating: [], count: 4)
    private var count = 0

    static func hash(_ id: UInt32, _ mask: UInt32) -> Int {
        var v = id
        v ^= v >> 8
        v ^= v >> 4
        return Int(v & mask)
    }

    mutating func insert(_ id: UInt32) {
        buckets[Self.hash(id, UInt32(buckets.count - 1))].insert(id, at: 0)
        count += 1
        // qdisc_class_hash_grow: rehash into twice the buckets, walking the old ones in order.
        guard count * 4 > buckets.count * 3 else { return }
        var n: [[UInt32]] = Array(repeating: [], count: buckets.count * 2)
        for b in buckets { for id in b { n[Self.hash(id, UInt32(n.count - 1))].insert(id, at: 0) } }
        buckets = n
    }

    mutating func remove(_ id: UInt32) {
        for i in buckets.indices { if let j = buckets[i].firstIndex(of: id) { buckets[i].remove(at: j); count -= 1; return } }
    }

    /// Class ids in walk order.
    var order: [UInt32] { buckets.flatMap { $0 } }
}
