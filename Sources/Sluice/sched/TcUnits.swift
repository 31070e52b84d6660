/// iproute2's units, parsed and printed as `tc` does (tc_util.c get_rate/get_size/get_time and
/// their sprint_* counterparts).
///   rate: bit kbit mbit gbit tbit (×1000), kibit mibit gibit (×1024), bps kbps mbps gbps (bytes/s);
///         a bare number is bit/s.
///   size: b, k kb, m mb, g gb (×1024 bytes), kbit mbit gbit (×1024 bits); a bare number is bytes.
///   time: s sec secs, ms msec msecs, us usec usecs; a bare number is microseconds.
public enum TcUnits {
    static func split(_ s: String) -> (Double, String)? {
        let num = s.prefix { $0.isNumber || $0 == "." }
        guard !num.isEmpty, let v = Double(num) else { return nil }
        return (v, String(s.dropFirst(num.count)).lowercased())
    }

    /// Bits per second.
    public static func rate(_ s: String) -> UInt64? {
        guard let (v, u) = split(s) else { return nil }
        let m: Double
        switch u {
        case "", "bit": m = 1
        case "kbit": m = 1e3
        case "mbit": m = 1e6
        case "gbit": m = 1e9
        case "tbit": m = 1e12
        case "kibit": m = 1024
        case "mibit": m = 1024 * 1024
        case "gibit": m = 1024 * 1024 * 1024
        case "bps": m = 8
        case "kbps": m = 8e3
        case "mbps": m = 8e6
        case "gbps": m = 8e9
        case "kibps": m = 8 * 1024
        case "mibps": m = 8 * 1024 * 1024
        default: return nil
        }
        let r = v * m
        return r.isFinite && r < 1.8e19 ? UInt64(r) : nil
    }

    /// Bytes.
    public static func size(_ s: String) -> Int? {
        guard let (v, u) = split(s) else { return nil }
        let m: Double
        switch u {
        case "", "b": m = 1
        case "k", "kb": m = 1024
        case "m", "mb": m = 1024 * 1024
        case "g", "gb": m = 1024 * 1024 * 1024
        case "kbit": m = 1024.0 / 8
        case "mbit": m = 1024.0 * 1024 / 8
        case "gbit": m = 1024.0 * 1024 * 1024 / 8
        default: return nil
        }
        let r = v * m
        return r.isFinite && r < Double(Int32.max) ? Int(r) : nil
    }

    /// Nanoseconds.
    public static func time(_ s: String) -> UInt64? {
        guard let (v, u) = split(s) else { return nil }
        let m: Double
        switch u {
        case "s", "sec", "secs": m = 1e9
        case "ms", "msec", "msecs": m = 1e6
        case "", "us", "usec", "usecs": m = 1e3
        case "ns", "nsec", "nsecs": m = 1
        default: return nil
        }
        let r = v * m
        return r.isFinite && r < 1.8e19 ? UInt64(r) : nil
    }
}

public enum TcFormat {
    static func trim(_ v: Double) -> String {
        if v == v.rounded() { return String(Int64(v)) }
        var s = String(format3(v))
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }
    static func format3(_ v: Double) -> String {
        let scaled = (v * 1000).rounded() / 1000
        return String(scaled)
    }

    /// 10Mbit, 1.5Gbit, 800Kbit, 64bit.
    public static func rate(_ bps: UInt64) -> String {
        let v = Double(bps)
        if v >= 1e12 { return trim(v / 1e12) + "Tbit" }
        if v >= 1e9 { return trim(v / 1e9) + "Gbit" }
        if v >= 1e6 { return trim(v / 1e6) + "Mbit" }
        if v >= 1e3 { return trim(v / 1e3) + "Kbit" }
        return "\(bps)bit"
    }

    /// 1600b, 32Kb, 2Mb.
    public static func size(_ b: Int) -> String {
        if b >= 1024 * 1024 && b % (1024 * 1024) == 0 { return "\(b / (1024 * 1024))Mb" }
        if b >= 1024 && b % 1024 == 0 { return "\(b / 1024)Kb" }
        if b >= 1024 * 1024 { return trim(Double(b) / (1024 * 1024)) + "Mb" }
        if b >= 1024 * 16 { return trim(Double(b) / 1024) + "Kb" }
        return "\(b)b"
    }

    /// 50ms, 1s, 500us, 1.5ms.
    public static func time(_ ns: UInt64) -> String {
        let v = Double(ns)
        if ns >= 1_000_000_000 { return trim(v / 1e9) + "s" }
        if ns >= 1_000_000 { return trim(v / 1e6) + "ms" }
        if ns >= 1_000 { return trim(v / 1e3) + "us" }
        return "\(ns)ns"
    }
}

/// A cursor over the words of a tc command with typed readers that give tc-like errors.
public struct TcArgs {
    public var words: [String]
    public var i = 0
    public init(_ w: [String]) { words = w }

    /// strtoull with base 0, the whole word: 0x… hexadecimal, 0… octal, else decimal.
    public static func parseC(_ t: String) -> UInt64? {
        if t.hasPrefix("0x") || t.hasPrefix("0X") { return UInt64(t.dropFirst(2), radix: 16) }
        if t.count > 1 && t.hasPrefix("0") { return UInt64(t.dropFirst(), radix: 8) }
        return UInt64(t)
    }
    public var done: Bool { i >= words.count }
    public mutating func next() -> String? { defer { i += 1 }; return i < words.count ? words[i] : nil }
    public var peek: String? { i < words.count ? words[i] : nil }
    public mutating func value(for key: String) throws(SluiceError) -> String {
        guard let v = next() else { throw SluiceError("Error: \"\(key)\" needs an argument") }
        return v
    }
    public mutating func int(for key: String, _ range: ClosedRange<Int>) throws(SluiceError) -> Int {
        let v = try value(for: key)
        guard let n = Int(v), range.contains(n) else {
            throw SluiceError("Error: Illegal \"\(key)\" \"\(v)\" (an integer in \(range.lowerBound)...\(range.upperBound))")
        }
        return n
    }
    public mutating func double(for key: String, _ range: ClosedRange<Double>) throws(SluiceError) -> Double {
        let v = try value(for: key)
        guard let n = Double(v), range.contains(n) else { throw SluiceError("Error: Illegal \"\(key)\" \"\(v)\"") }
        return n
    }
    public mutating func rate(for key: String) throws(SluiceError) -> UInt64 {
        let v = try value(for: key)
        guard let r = TcUnits.rate(v) else { throw SluiceError("Error: Illegal \"\(key)\" \"\(v)\" (a rate: 10mbit, 1gbit, 500kbps…)") }
        return r
    }
    public mutating func size(for key: String) throws(SluiceError) -> Int {
        let v = try value(for: key)
        guard let r = TcUnits.size(v) else { throw SluiceError("Error: Illegal \"\(key)\" \"\(v)\" (a size: 1514, 32kb, 1mb…)") }
        return r
    }
    public mutating func time(for key: String) throws(SluiceError) -> UInt64 {
        let v = try value(for: key)
        guard let r = TcUnits.time(v) else { throw SluiceError("Error: Illegal \"\(key)\" \"\(v)\" (a time: 5ms, 100us, 1s…)") }
        return r
    }
    /// A percentage ("1%", "0.5%") or a probability as a fraction of 2^32, as netem and red take them.
    public mutating func percent(for key: String) throws(SluiceError) -> Double {
        let v = try value(for: key)
        let t = v.hasSuffix("%") ? String(v.dropLast()) : v
        guard let d = Double(t), d >= 0, d <= 100 else { throw SluiceError("Error: Illegal \"\(key)\" \"\(v)\" (a percentage)") }
        return d / 100
    }
}

/// Time a packet of `bytes` takes at `rateBps` bits/s, in ns (psched_l2t_ns).
@inline(__always)
func l2t(_ bytes: Int, _ rateBps: UInt64) -> UInt64 {
    rateBps == 0 ? 0 : UInt64(bytes) &* 8_000_000_000 / rateBps
}

/// A rate with its length-to-time conversion precomputed as a multiply and a shift, exactly as
/// psched_ratecfg_precompute does it (the largest 32-bit multiplier of NSEC_PER_SEC / bytes per
/// second, doubling the dividend): no division per packet, and the same truncation as the
/// kernel, so buckets computed from a length (tbf's TCA_TBF_BURST/PBURST) dump the same ticks.
struct RateCfg {
    let rate: UInt64      // bit/s
    let mult: UInt64      // a u32, as the kernel keeps it
    let shift: UInt64
    /// The rate spec's link layer (struct tc_ratespec: overhead, mpu, linklayer), which
    /// psched_l2t_ns charges with each length.
    let link: LinkSpec
    init(_ rate: UInt64, _ link: LinkSpec = LinkSpec()) {
        self.rate = rate
        self.link = link
        let bytes = rate / 8
        guard bytes > 0 else { mult = 0; shift = 0; return }
        var factor: UInt64 = 1_000_000_000, m: UInt64 = 0, sh: UInt64 = 0
        while true {
            m = UInt64(UInt32(truncatingIfNeeded: factor / bytes))
            if m & (1 << 31) != 0 || factor & (1 << 63) != 0 { break }
            factor <<= 1
            sh += 1
        }
        mult = m; shift = sh
    }
    /// Nanoseconds to send `bytes` (psched_l2t_ns without overhead or cells).
    @inline(__always) func l2t(_ bytes: Int) -> UInt64 {
        (UInt64(bytes) &* mult) >> shift
    }
    /// psched_l2t_ns: the overhead added, the length raised to the mpu, whole 53-byte ATM
    /// cells of 48 bytes on an ATM link, then the time at the rate.
    @inline(__always) func charge(_ len: Int) -> UInt64 {
        var l = len + link.overhead
        if l < link.mpu { l = link.mpu }
        if link.atm { l = (l + 47) / 48 * 53 }
        return l2t(l)
    }
}

/// What a tc_ratespec says of the link beside the rate, as psched_ratecfg keeps it: a
/// per-packet overhead, a minimum packet unit, and the ATM link layer (TC_LINKLAYER_ATM).
struct LinkSpec: Equatable {
    var overhead = 0
    var mpu = 0
    var atm = false

    /// From a tc_ratespec on the wire (u8 cell_log, u8 linklayer, u16 overhead, s16
    /// cell_align, u16 mpu, u32 rate) at `o`: an unaware link layer (0) counts as Ethernet,
    /// as __detect_linklayer decides for tc's own tables.
    static func wire(_ spec: ArraySlice<UInt8>, at o: Int) -> LinkSpec {
        LinkSpec(overhead: Int(spec.le16(at: o + 2)), mpu: Int(spec.le16(at: o + 6)),
                 atm: spec[spec.startIndex + o + 1] & 0x0F == 2)
    }
}

/// A rate estimate as `tc -s` shows it ("rate 8Mbit 700pps"): bytes and packets per second
/// (struct gnet_stats_rate_est64).
public struct RateSample: Sendable, Equatable {
    public var bps: UInt64
    public var pps: UInt64
}

/// gen_estimator: the rate estimator a qdisc or class gets from TCA_RATE (`tc … estimator
/// INTERVAL TIME_CONST`). Every 250 ms << intervalLog, est_timer takes the byte and packet
/// deltas scaled to 256 × per second (<< 10 − intervalLog) into an EWMA of weight 2^−ewmaLog,
/// in the kernel's wrapping u64 arithmetic; gen_estimator_read gives the averages >> 8.
struct RateEstimator: Equatable {
    let intervalLog: Int
    let ewmaLog: Int
    var avbps: UInt64 = 0, avpps: UInt64 = 0
    var lastBytes: UInt64, lastPackets: UInt64
    var nextDue: UInt64

    /// The timer's period: 250 ms, 500 ms, 1 s, 2 s, 4 s or 8 s.
    var period: UInt64 { Self.period(intervalLog) }
    static func period(_ log: Int) -> UInt64 { (250 * Time.ms) << UInt64(log) }

    /// gen_new_estimator from struct tc_estimator { s8 interval; u8 ewma_log; }: interval
    /// −2…3 and ewma_log 1…30, else EINVAL; the counters as they are now are the first base.
    init(wire: ArraySlice<UInt8>, bytes: UInt64, packets: UInt64, now: UInt64) throws(SluiceError) {
        guard wire.count >= 2 else { throw SluiceError("RTNETLINK answers: Invalid argument") }
        let interval = Int(Int8(bitPattern: wire[wire.startIndex])), ewma = Int(wire[wire.startIndex + 1])
        guard (-2...3).contains(interval), (1...30).contains(ewma) else { throw SluiceError("Error: Failed to generate new estimator (Invalid argument).") }
        intervalLog = interval + 2
        ewmaLog = ewma
        lastBytes = bytes; lastPackets = packets
        nextDue = now &+ Self.period(interval + 2)
    }

    /// est_timer: one step with the counters as they are now; the next step one period on, or
    /// at once (a jiffy) when the timer ran that late.
    mutating func tick(bytes: UInt64, packets: UInt64, now: UInt64) {
        let shift = UInt64(10 - intervalLog), e = UInt64(ewmaLog)
        let brate = ((bytes &- lastBytes) << shift) >> e &- (avbps >> e)
        let prate = ((packets &- lastPackets) << shift) >> e &- (avpps >> e)
        avbps &+= brate; avpps &+= prate
        lastBytes = bytes; lastPackets = packets
        nextDue &+= period
        if now >= nextDue { nextDue = now &+ Time.ms }
    }

    var sample: RateSample { RateSample(bps: avbps >> 8, pps: avpps >> 8) }
}
