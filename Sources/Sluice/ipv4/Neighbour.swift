/// Principles (net/core/neighbour.c, net/ipv4/arp.c)
/// ----------
/// The ARP neighbour table with the kernel's NUD state machine on the datapath's clock:
/// - A packet to an unknown next hop creates an INCOMPLETE entry, is queued (at most
///   `unresQueue` packets, the oldest dropped first as arp_queue), and a broadcast request goes
///   out now and every `retransTime` (1 s) — three in all (probes start at ucast_probes and stop
///   at ucast + mcast probes, as __neigh_event_send and neigh_max_probes) — then FAILED: queued
///   packets are dropped, each answered with ICMP host unreachable (arp_error_report).
/// - An answer makes it REACHABLE for reachable_time (base 30 s, drawn in [½, 1½] × base as
///   neigh_rand_reach_time), then STALE. Using a STALE entry sends at once and moves it to
///   DELAY; without confirmation within delay_first_probe_time (5 s) it goes to PROBE: three
///   unicast requests 1 s apart, then FAILED.
/// - A request for one of our addresses creates or refreshes the sender's entry as STALE
///   (neigh_event_ns); a unicast reply confirms (REACHABLE); broadcast replies and requests
///   only make an entry STALE. An entry updated less than locktime (1 s) ago keeps its address
///   against a different one (the first answer wins, as arp_process).
/// - PERMANENT and NOARP entries come from configuration and never change by themselves.
/// - Entries unused for gc_staletime (60 s) in STALE or FAILED are removed.
public enum NUD: UInt16, Sendable {
    case none = 0x00, incomplete = 0x01, reachable = 0x02, stale = 0x04, delay = 0x08
    case probe = 0x10, failed = 0x20, noarp = 0x40, permanent = 0x80

    public var name: String {
        switch self {
        case .none: "NONE"; case .incomplete: "INCOMPLETE"; case .reachable: "REACHABLE"; case .stale: "STALE"
        case .delay: "DELAY"; case .probe: "PROBE"; case .failed: "FAILED"; case .noarp: "NOARP"; case .permanent: "PERMANENT"
        }
    }
    /// NUD_VALID: the entry has a link-layer address that may be used.
    public var isValid: Bool { [.reachable, .stale, .delay, .probe, .permanent, .noarp].contains(self) }
}

public struct NeighbourParams: Sendable {
    public var baseReachableTime = 30 * Time.s
    public var retransTime = 1 * Time.s
    public var delayFirstProbeTime = 5 * Time.s
    public var gcStaleTime = 60 * Time.s
    public var locktime = 1 * Time.s
    public var ucastProbes = 3
    public var mcastProbes = 3
    /// unres_qlen: packets queued per unresolved entry.
    public var unresQueue = 101
    /// gc_thresh3: the most entries the table holds; past it, stale and failed entries are
    /// collected, and if none can go a new neighbour is refused (neighbour table overflow).
    public var gcThresh3 = 1024
    public init() {}
}

public struct NeighbourEntry {
    public internal(set) var ip: UInt32
    public internal(set) var dev: Int32
    public internal(set) var mac: MACAddress
    public internal(set) var state: NUD
    public internal(set) var updated: UInt64
    public internal(set) var confirmed: UInt64
    public internal(set) var used: UInt64
    var reachableTime: UInt64
    var timer: UInt64 = 0
    var probes = 0
    var queue = PacketQueue()
}

/// The neighbour table (arp_tbl). Entries live in a flat array; `index` maps (dev, ip) to a slot.
public final class NeighbourTable {
    public var params = NeighbourParams()
    public internal(set) var entries: [NeighbourEntry] = []
    var index: [UInt64: Int32] = [:]
    var free: [Int32] = []
    /// Counters: failed resolutions, queue overflows, requests and replies sent.
    public internal(set) var resFailed: UInt64 = 0
    public internal(set) var unresDiscards: UInt64 = 0
    public internal(set) var requestsSent: UInt64 = 0
    public internal(set) var tableOverflows: UInt64 = 0
    public internal(set) var count = 0
    /// Packets waiting for resolution in all entries.
    public internal(set) var queued = 0
    public internal(set) var repliesSent: UInt64 = 0
    var seed: UInt64 = 0x5EED

    @inline(__always) static func key(_ dev: Int32, _ ip: UInt32) -> UInt64 { UInt64(UInt32(bitPattern: dev)) << 32 | UInt64(ip) }

    /// A direct-mapped cache in front of `index` (4096 slots of key and entry): a hit costs two
    /// loads and a compare instead of a hash-table lookup. Entries are re-checked on use, so a
    /// stale slot only misses.
    var cacheKeys = [UInt64](repeating: UInt64.max, count: 4096)
    var cacheSlots = [Int32](repeating: -1, count: 4096)

    @inline(__always)
    public func find(_ dev: Int32, _ ip: UInt32) -> Int32? {
        let k = Self.key(dev, ip)
        let h = Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 52)
        if cacheKeys[h] == k {
            let i = cacheSlots[h]
            if i >= 0 && Int(i) < entries.count && entries[Int(i)].ip == ip && entries[Int(i)].dev == dev { return i }
        }
        guard let i = index[k] else { return nil }
        cacheKeys[h] = k
        cacheSlots[h] = i
        return i
    }

    func randomReachable() -> UInt64 {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        let base = params.baseReachableTime
        return base / 2 + (seed >> 11) % base
    }

    /// Creates an entry in state NONE (neigh_create), or nil when the table is full even after
    /// forced garbage collection (neigh_forced_gc: unreferenced STALE/FAILED entries go).
    func create(_ dev: Int32, _ ip: UInt32, now: UInt64, pool: PacketPool) -> Int32? {
        if count >= params.gcThresh3 {
            for i in entries.indices where entries[i].dev != 0 && (entries[i].state == .stale || entries[i].state == .failed || entries[i].state == .none) && entries[i].queue.isEmpty {
                remove(Int32(i), pool)
            }
            guard count < params.gcThresh3 else { tableOverflows &+= 1; return nil }
        }
        count += 1
        let e = NeighbourEntry(ip: ip, dev: dev, mac: MACAddress(raw: 0), state: .none, updated: now, confirmed: 0,
                               used: now, reachableTime: randomReachable())
        let i: Int32
        if let f = free.popLast() { i = f; entries[Int(i)] = e } else { i = Int32(entries.count); entries.append(e) }
        index[Self.key(dev, ip)] = i
        return i
    }

    func remove(_ i: Int32, _ pool: PacketPool) {
        let e = entries[Int(i)]
        if e.dev != 0 { count -= 1 }
        queued -= entries[Int(i)].queue.purge(pool)
        index[Self.key(e.dev, e.ip)] = nil
        entries[Int(i)] = NeighbourEntry(ip: 0, dev: 0, mac: MACAddress(raw: 0), state: .none, updated: 0, confirmed: 0, used: 0, reachableTime: 0)
        free.append(i)
    }

    /// No entry's timer is earlier than this (0: none is set); exact after `recomputeEarliest`.
    var earliest: UInt64 = 0
    var nextTimer: UInt64 { earliest }

    @inline(__always)
    func setTimer(_ i: Int, _ at: UInt64) {
        entries[i].timer = at
        if earliest == 0 || at < earliest { earliest = at }
    }

    func recomputeEarliest() {
        var t: UInt64 = 0
        for e in entries where e.timer != 0 && (t == 0 || e.timer < t) { t = e.timer }
        earliest = t
    }

    /// Entries as `ip neigh show` lists them (live ones, by device then address).
    public var shown: [NeighbourEntry] {
        entries.filter { $0.dev != 0 && $0.state != .none }.sorted { ($0.dev, $0.ip) < ($1.dev, $1.ip) }
    }
}
