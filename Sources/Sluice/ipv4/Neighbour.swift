/// Principles (net/core/neighbour.c, net/ipv4/arp.c, net/ipv6/ndisc.c)
/// ----------
/// The neighbour tables (ARP for IPv4, ND for IPv6: one generic table, one state machine, as
/// the kernel's neigh_table serves arp_tbl and nd_tbl) with the NUD states on the datapath's
/// clock. What differs by family — how to solicit, which error reports a failure, the
/// EtherType — is the stack's (`NeighbourResolver`):
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
    /// NUD_CONNECTED: the address is known good.
    public var isConnected: Bool { self == .reachable || self == .permanent || self == .noarp }
}

public struct NeighbourParams: Sendable {
    /// Two base reachable times before `now` (0 if the clock has not run that long): the
    /// confirmation time the kernel gives an entry no one has confirmed.
    func longAgo(_ now: UInt64) -> UInt64 { now > 2 * baseReachableTime ? now - 2 * baseReachableTime : 0 }
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
    /// proxy_delay (the longest random delay of a proxied answer to a broadcast request) and
    /// proxy_qlen (answers waiting at most).
    public var proxyDelay = 800 * Time.ms
    public var proxyQlen = 64
    /// A device's own reachable_time, drawn from its base when its parameters are set (0: the
    /// table's).
    public var reachableTime: UInt64 = 0
    public init() {}
}

public typealias NeighbourEntry = NeighbourEntryOf<UInt32>
public typealias NeighbourTable = NeighbourTableOf<UInt32>

public struct NeighbourEntryOf<A: InetAddressValue> {
    public internal(set) var ip: A
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
    /// NTF_ROUTER: the neighbour advertised itself as a router (IPv6).
    public internal(set) var isRouter = false
}

/// A neighbour table (arp_tbl, nd_tbl). Entries live in a flat array; `index` maps (dev, ip) to
/// a slot.
public final class NeighbourTableOf<A: InetAddressValue> {
    public var params = NeighbourParams()
    /// A device's own parameters (`ip ntable change … dev X`, its neigh_parms): a copy of the
    /// table's when first set, then changed on its own; other devices use the table's.
    public internal(set) var deviceParams: [Int32: NeighbourParams] = [:]
    @inline(__always) public func parms(_ dev: Int32) -> NeighbourParams {
        deviceParams.isEmpty ? params : deviceParams[dev] ?? params
    }
    func setDeviceParams(_ dev: Int32, _ p: NeighbourParams?) {
        guard var p else { deviceParams[dev] = nil; return }
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        p.reachableTime = p.baseReachableTime / 2 + (seed >> 11) % max(p.baseReachableTime, 1)
        deviceParams[dev] = p
    }
    public internal(set) var entries: [NeighbourEntryOf<A>] = []
    struct Key: Hashable { var dev: Int32; var ip: A }
    var index: [Key: Int32] = [:]
    var free: [Int32] = []
    /// Counters: failed resolutions, queue overflows, requests and replies sent.
    public internal(set) var resFailed: UInt64 = 0
    public internal(set) var unresDiscards: UInt64 = 0
    public internal(set) var requestsSent: UInt64 = 0
    public internal(set) var tableOverflows: UInt64 = 0
    public internal(set) var count = 0
    /// Proxy entries (pneigh_entry), in the order they were added; and proxied answers that
    /// found the queue full.
    public internal(set) var proxies: [ProxyNeighbourOf<A>] = []
    public internal(set) var proxyDiscards: UInt64 = 0
    /// Packets waiting for resolution in all entries.
    public internal(set) var queued = 0
    public internal(set) var repliesSent: UInt64 = 0
    /// Entries made and removed (ndt_stats' allocs and destroys).
    public internal(set) var allocs: UInt64 = 0
    public internal(set) var destroys: UInt64 = 0
    /// The table-wide reachable time (neigh_parms' reachable_time): drawn from
    /// base_reachable_time, and again when that changes.
    var drawnReachable: (base: UInt64, value: UInt64) = (0, 0)
    public func tableReachableTime() -> UInt64 {
        if drawnReachable.base != params.baseReachableTime { drawnReachable = (params.baseReachableTime, randomReachable()) }
        return drawnReachable.value
    }
    var seed: UInt64 = 0x5EED

    /// A direct-mapped cache in front of `index` (4096 slots): a hit costs a hash, a load and a
    /// compare of the entry instead of a hash-table lookup. Entries are re-checked on use, so a
    /// stale slot only misses.
    var cacheSlots = [Int32](repeating: -1, count: 4096)

    @inline(__always)
    public func find(_ dev: Int32, _ ip: A) -> Int32? {
        let folded = UInt64(truncatingIfNeeded: ip) ^ UInt64(truncatingIfNeeded: ip >> 64)
        let k = folded ^ UInt64(UInt32(bitPattern: dev)) << 40
        let h = Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 52)
        let c = cacheSlots[h]
        if c >= 0 && Int(c) < entries.count && entries[Int(c)].ip == ip && entries[Int(c)].dev == dev { return c }
        guard let i = index[Key(dev: dev, ip: ip)] else { return nil }
        cacheSlots[h] = i
        return i
    }

    func randomReachable(dev: Int32 = 0) -> UInt64 {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        let base = dev == 0 ? params.baseReachableTime : parms(dev).baseReachableTime
        return base / 2 + (seed >> 11) % base
    }

    /// Creates an entry in state NONE (neigh_create), or nil when the table is full even after
    /// forced garbage collection (neigh_forced_gc: unreferenced STALE/FAILED entries go).
    func create(_ dev: Int32, _ ip: A, now: UInt64, pool: PacketPool) -> Int32? {
        if count >= params.gcThresh3 {
            for i in entries.indices where entries[i].dev != 0 && (entries[i].state == .stale || entries[i].state == .failed || entries[i].state == .none) && entries[i].queue.isEmpty {
                remove(Int32(i), pool)
            }
            guard count < params.gcThresh3 else { tableOverflows &+= 1; return nil }
        }
        count += 1; allocs &+= 1
        // ___neigh_create: confirmed two base reachable times ago (never, as far as anyone asks).
        let e = NeighbourEntryOf<A>(ip: ip, dev: dev, mac: MACAddress(raw: 0), state: .none, updated: now,
                               confirmed: parms(dev).longAgo(now), used: now, reachableTime: randomReachable(dev: dev))
        let i: Int32
        if let f = free.popLast() { i = f; entries[Int(i)] = e } else { i = Int32(entries.count); entries.append(e) }
        index[Key(dev: dev, ip: ip)] = i
        return i
    }

    func remove(_ i: Int32, _ pool: PacketPool) {
        let e = entries[Int(i)]
        if e.dev != 0 { count -= 1; destroys &+= 1 }
        queued -= entries[Int(i)].queue.purge(pool)
        index[Key(dev: e.dev, ip: e.ip)] = nil
        entries[Int(i)] = NeighbourEntryOf<A>(ip: 0, dev: 0, mac: MACAddress(raw: 0), state: .none, updated: 0, confirmed: 0, used: 0, reachableTime: 0)
        free.append(i)
    }

    /// neigh_table_clear at shutdown: every packet waiting for resolution is freed.
    func purgeQueues(_ pool: PacketPool) {
        for i in entries.indices where !entries[i].queue.isEmpty { queued -= entries[i].queue.purge(pool) }
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
    public var shown: [NeighbourEntryOf<A>] {
        // Entries in state none too (neigh_dump_table dumps them; `ip neigh show nud all` lists
        // them): one a refused `ip neigh add` made, as neigh_add's lookup does.
        entries.filter { $0.dev != 0 }.sorted { ($0.dev, $0.ip) < ($1.dev, $1.ip) }
    }
}

/// A stack that resolves next hops through a neighbour table: the family's parts.
protocol NeighbourResolver: AnyObject {
    associatedtype Addr: InetAddressValue
    var neighbours: NeighbourTableOf<Addr> { get }
    var fib: FIBOf<Addr> { get }
    var pool: PacketPool { get }
    var clock: DatapathClock { get }
    var dp: Datapath { get }
    var dpRef: Unmanaged<Datapath> { get }
    /// The EtherType of the family's packets.
    static var etherType: UInt16 { get }
    /// Sends a request for entry `i` (arp_solicit, ndisc_solicit).
    func solicit(_ i: Int)
    /// Answers a packet whose next hop failed to resolve (arp_error_report, ndisc_error_report).
    func reportUnresolved(_ dev: NetDevice, _ p: borrowing Packet)
}

/// The NUD state machine (neighbour.c), the same for every family.
extension NeighbourResolver {
    /// neigh_output / neigh_resolve_output: with a usable address the frame leaves now, else it
    /// waits for resolution. `nh` (the FIB's next hop) caches the entry for its gateway.
    func neighOutput(_ out: NetDevice, _ nexthop: Addr, _ p: consuming Packet, nh: Int32) {
        let now = clock.now
        if out.keepsDst { pool.setNexthop(p, nexthop) }
        var idx: Int32 = -1
        if nh >= 0, fib.main.nhGateway[Int(nh)] == nexthop {
            let c = fib.main.nhNeigh[Int(nh)] &- 1
            if c >= 0 && Int(c) < neighbours.entries.count && neighbours.entries[Int(c)].ip == nexthop && neighbours.entries[Int(c)].dev == out.ifindex { idx = c }
        }
        if idx < 0 {
            guard let found = neighbours.find(out.ifindex, nexthop) ?? neighbours.create(out.ifindex, nexthop, now: now, pool: pool) else {
                out.drop(.neighFull); out.stats.txDropped &+= 1; pool.free(p); return
            }
            idx = found
            if nh >= 0, fib.main.nhGateway[Int(nh)] == nexthop { fib.main.nhNeigh[Int(nh)] = idx &+ 1 }
        }
        let i = Int(idx)
        // __neigh_event_send: a packet that starts resolution is queued before the first probe
        // goes, so the probe sees it (neigh_probe: ndisc_solicit takes its source from it).
        let state = neighbours.entries[i].state
        if (state == .none || state == .failed) && !out.flags.contains(.noARP) {
            enqueue(i, p)
            _ = eventSend(i, out, now: now)
            return
        }
        if let mac = eventSend(i, out, now: now) { transmit(out, mac, p) } else { enqueue(i, p) }
    }

    /// neigh_event_send: entry `i`'s address when it may be used now (a stale entry starts its
    /// delay; a NOARP device's entry is NUD_NOARP with the device's own address); nil while it
    /// resolves, a first probe sent when none was under way.
    func eventSend(_ i: Int, _ out: NetDevice, now: UInt64) -> MACAddress? {
        switch neighbours.entries[i].state {
        case .reachable, .delay, .probe, .permanent, .noarp:
            neighbours.entries[i].used = now
            return neighbours.entries[i].mac
        case .stale:
            neighbours.entries[i].used = now
            neighbours.entries[i].state = .delay
            neighbours.entries[i].updated = now
            neighbours.setTimer(i, now + neighbours.parms(out.ifindex).delayFirstProbeTime)
            return neighbours.entries[i].mac
        case .incomplete:
            return nil
        case .none where out.flags.contains(.noARP):
            // arp_constructor / ndisc_constructor: on a NOARP device the entry is NUD_NOARP and
            // carries the device's own address.
            neighbours.entries[i].state = .noarp
            neighbours.entries[i].mac = out.mac
            neighbours.entries[i].updated = now
            neighbours.entries[i].used = now
            return out.mac
        case .none, .failed:
            neighbours.entries[i].state = .incomplete
            neighbours.entries[i].updated = now
            neighbours.entries[i].probes = neighbours.parms(out.ifindex).ucastProbes
            solicit(i)
            neighbours.entries[i].probes += 1
            neighbours.setTimer(i, now + neighbours.parms(out.ifindex).retransTime)
            return nil
        }
    }

    /// __teql_resolve's look at the neighbour of `nexthop` on `dev` (made if missing): its
    /// address when usable now, as neigh_event_send returning 0; else resolution is started
    /// (neigh_event_send without a packet: a probe now if none was under way) and nil is
    /// returned with the entry, for `enqueue` if the caller then queues the packet there.
    func resolveForSlave(_ dev: NetDevice, _ nexthop: Addr) -> (entry: Int, mac: MACAddress?)? {
        let now = clock.now
        guard let found = neighbours.find(dev.ifindex, nexthop) ?? neighbours.create(dev.ifindex, nexthop, now: now, pool: pool) else { return nil }
        let i = Int(found)
        return (i, eventSend(i, dev, now: now))
    }

    /// arp_queue: per entry at most unres_qlen packets, the oldest dropped first; and — Sluice's
    /// own bound, since each holds a pool buffer — at most an eighth of the pool waiting in all
    /// entries together, so a scan of unresolvable addresses cannot starve forwarding.
    func enqueue(_ i: Int, _ p: consuming Packet) {
        let t = neighbours
        if t.entries[i].queue.count >= t.parms(t.entries[i].dev).unresQueue, let old = t.entries[i].queue.pop(pool) {
            pool.free(old)
            t.queued -= 1
            t.unresDiscards &+= 1
        }
        guard t.queued < pool.capacity / 8 else {
            t.unresDiscards &+= 1
            pool.free(p)
            return
        }
        t.entries[i].queue.push(p, pool)
        t.queued += 1
    }

    /// Writes the Ethernet header and queues the frame on `out`.
    @inline(__always)
    func transmit(_ out: NetDevice, _ mac: MACAddress, _ p: consuming Packet) {
        InetWire.writeEthernet(pool.data(p), dst: mac, src: out.mac, type: Self.etherType)
        let i = out.ifindex, idx = p.index
        _ = consume p
        dpRef._withUnsafeGuaranteedRef { $0.stage(i, Packet(index: idx)) }
    }

    /// neigh_update: a new state and address; a valid entry sends what waited for it.
    func neighUpdate(_ i: Int, mac: MACAddress, state: NUD, override: Bool) {
        let t = neighbours
        let now = clock.now
        let old = t.entries[i]
        if old.state == .permanent || old.state == .noarp { return }
        if old.state.isValid && old.mac != mac && !override {
            // The first answer wins while locked; a different address only marks it stale.
            return
        }
        // __neigh_update: a connected state is a confirmation; a new address that is not
        // (an entry without one takes any as new) dates the confirmation two base reachable
        // times back.
        if state.isConnected { t.entries[i].confirmed = now }
        else if !old.state.isValid || old.mac != mac { t.entries[i].confirmed = t.parms(old.dev).longAgo(now) }
        t.entries[i].mac = mac
        t.entries[i].state = state
        t.entries[i].updated = now
        if state == .reachable {
            t.entries[i].reachableTime = t.randomReachable(dev: t.entries[i].dev)
            t.setTimer(i, now + t.entries[i].reachableTime)
        } else {
            t.entries[i].timer = 0
        }
        if state.isValid, let out = dp.devices[Int(old.dev)] {
            while let p = t.entries[i].queue.pop(pool) { t.queued -= 1; transmit(out, mac, p) }
        }
    }

    /// neigh_timer_handler for every entry whose timer is due.
    func runTimers() {
        let t = neighbours
        let now = clock.now
        for i in t.entries.indices where t.entries[i].timer != 0 && t.entries[i].timer <= now {
            var e = t.entries[i]
            let pr = t.parms(e.dev)
            switch e.state {
            case .reachable:
                if now < e.confirmed + e.reachableTime { e.timer = e.confirmed + e.reachableTime }
                else if now < e.used + pr.delayFirstProbeTime { e.state = .delay; e.updated = now; e.timer = now + pr.delayFirstProbeTime }
                else { e.state = .stale; e.updated = now; e.timer = 0 }
            case .delay:
                if now < e.confirmed + pr.delayFirstProbeTime {
                    e.state = .reachable; e.updated = now; e.timer = e.confirmed + e.reachableTime
                } else {
                    e.state = .probe; e.updated = now; e.probes = 0; e.timer = now + pr.retransTime
                }
            case .incomplete, .probe:
                e.timer = now + pr.retransTime
            default:
                e.timer = 0
            }
            t.entries[i] = e
            if e.timer != 0 { t.setTimer(i, e.timer) }
            guard e.state == .incomplete || e.state == .probe else { continue }
            let maxProbes = pr.ucastProbes + (e.state == .probe ? 0 : pr.mcastProbes)
            if e.probes >= maxProbes {
                fail(i)
                continue
            }
            solicit(i)
            t.entries[i].probes += 1
        }
        t.recomputeEarliest()
    }

    /// neigh_invalidate: FAILED; what waited is answered with ICMP host unreachable.
    func fail(_ i: Int) {
        let t = neighbours
        t.entries[i].state = .failed
        t.entries[i].updated = clock.now
        t.entries[i].timer = 0
        t.resFailed &+= 1
        let inDev = dp.devices[Int(t.entries[i].dev)]
        while let p = t.entries[i].queue.pop(pool) {
            t.queued -= 1
            if let inDev { reportUnresolved(inDev, p) }
            pool.free(p)
        }
    }

    /// Garbage collection (neigh_periodic_work): unused STALE and FAILED entries go.
    func collectGarbage() {
        let t = neighbours
        let now = clock.now
        for i in t.entries.indices where t.entries[i].dev != 0 {
            let e = t.entries[i]
            if (e.state == .stale || e.state == .failed) && now > max(e.used, e.updated) + t.parms(e.dev).gcStaleTime {
                t.remove(Int32(i), pool)
            }
        }
    }

    var nextTimer: UInt64 { neighbours.nextTimer }

    func flushNeighbours(dev: Int32, all: Bool = false) {
        let t = neighbours
        if all { t.flushProxies(dev: dev) }
        for i in t.entries.indices where t.entries[i].dev == dev && (all || (t.entries[i].state != .permanent && t.entries[i].state != .noarp)) {
            t.remove(Int32(i), pool)
        }
    }

    // MARK: configuration of neighbours (`neigh add|del`)

    /// neigh_add → __neigh_update with NEIGH_UPDATE_F_ADMIN: a state without a link-layer
    /// address (incomplete, failed) is set as it is, without a timer; a valid one needs an
    /// address (given, or the entry's own). A state the timer drives (reachable, delay,
    /// probe) gets it: delay and probe at once, so delay turns to probe and probes begin.
    /// `router` is NTF_ROUTER (IPv6).
    func addNeighbour(_ dev: NetDevice, ip: Addr, mac: MACAddress?, state: NUD, replace: Bool, router: Bool? = nil) throws(SluiceError) {
        let t = neighbours
        let existing = t.find(dev.ifindex, ip)
        if let i = existing, !replace && t.entries[Int(i)].state != .none && t.entries[Int(i)].state != .failed && t.entries[Int(i)].state != .incomplete {
            throw SluiceError("Error: neighbour exists (File exists)")
        }
        let i: Int
        if let existing { i = Int(existing) } else {
            guard let n = t.create(dev.ifindex, ip, now: clock.now, pool: pool) else {
                throw SluiceError("Error: neighbour table overflow (No buffer space available)")
            }
            i = Int(n)
        }
        // The entry neigh_add looked up (and so made) stays, in state none, when the update
        // is refused.
        if state.isValid && mac == nil && !t.entries[i].state.isValid {
            throw SluiceError("Error: No link layer address given (Invalid argument)")
        }
        if let router { t.entries[i].isRouter = router }
        guard state.isValid else {
            t.entries[i].state = state
            t.entries[i].timer = 0
            t.entries[i].updated = clock.now
            if state == .failed { while let p = t.entries[i].queue.pop(pool) { t.queued -= 1; pool.free(p) } }
            return
        }
        let m = mac ?? t.entries[i].mac
        t.entries[i].state = .none
        neighUpdate(i, mac: m, state: state, override: true)
        switch state {
        case .delay, .probe:
            if state == .probe { t.entries[i].probes = 0 }
            t.setTimer(i, clock.now)
        case .reachable: break
        default: t.entries[i].timer = 0
        }
    }

    func deleteNeighbour(_ dev: NetDevice, ip: Addr) throws(SluiceError) {
        guard let i = neighbours.find(dev.ifindex, ip) else { throw SluiceError("RTNETLINK answers: No such file or directory") }
        neighbours.remove(i, pool)
    }}
