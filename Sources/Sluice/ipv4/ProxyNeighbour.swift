/// Principles (net/core/neighbour.c: pneigh_*, neigh_proxy_process; net/ipv4/arp.c: arp_process)
/// ----------
/// Proxy neighbour entries (`ip neigh add proxy ADDR [dev DEV]`): addresses this router answers
/// neighbour requests for on behalf of hosts it routes to. For IPv4, while forwarding, an ARP
/// request arriving on a device with an entry for its target (the entry's device, or any when
/// it names none) — the target routed as unicast through another device — is answered with
/// the device's own address: at once when the request was sent to us, else after a random
/// delay below proxy_delay (pneigh_enqueue; at most proxy_qlen waiting), as arp_process does.
/// For IPv6 the entries are answered for only with proxy_ndp set (ndisc_recv_ns, see
/// IPv6.swift's answerSolicitation); the device listens to each entry's solicited-node group.

/// One pneigh_entry.
public struct ProxyNeighbourOf<A: InetAddressValue>: Equatable, Sendable {
    public var ip: A
    /// The device, or 0 for every device.
    public var dev: Int32
    public var flags: UInt8
    public var permanent: Bool
    public var proto: UInt8
}

/// What waits on a family's proxy queue (proxy_queue) for its random delay.
protocol ProxyQueued {
    var dev: Int32 { get }
    var due: UInt64 { get set }
}

extension Array where Element: ProxyQueued {
    /// The earliest delay's end (0: none).
    var earliestDue: UInt64 {
        var m: UInt64 = 0
        for q in self where m == 0 || q.due < m { m = q.due }
        return m
    }

    /// Takes the entries whose delay is over, in the order they were queued.
    mutating func takeDue(_ now: UInt64) -> [Element] {
        let due = filter { $0.due <= now }
        if !due.isEmpty { removeAll { $0.due <= now } }
        return due
    }
}

/// A neighbour solicitation for a proxied or anycast IPv6 address, waiting for its delay
/// (proxy_queue), or being answered.
struct PendingProxySolicitation: ProxyQueued {
    var dev: Int32, due: UInt64
    var src: UInt128, target: UInt128, sllao: MACAddress?
    /// Sent to a group (the answer then carries our link-layer address).
    var multicast: Bool
}

/// A proxy reply waiting for its delay (proxy_queue).
struct PendingProxyReply: ProxyQueued {
    var dev: Int32, due: UInt64
    var sip: UInt32, tip: UInt32, sha: MACAddress
}

extension NeighbourTableOf {
    /// pneigh_lookup without creating: the entry for `ip` on `dev` or on every device.
    func proxy(_ dev: Int32, _ ip: A) -> Int? {
        proxies.firstIndex { $0.ip == ip && ($0.dev == dev || $0.dev == 0) }
    }

    /// pneigh_lookup with creation: a new entry, or the flags and state of an existing one.
    public func addProxy(_ p: ProxyNeighbourOf<A>) {
        if let i = proxies.firstIndex(where: { $0.ip == p.ip && $0.dev == p.dev }) {
            proxies[i].flags = p.flags; proxies[i].permanent = p.permanent
            if p.proto != 0 { proxies[i].proto = p.proto }
        } else {
            proxies.append(p)
        }
    }

    /// pneigh_delete: false when there is none for exactly that device.
    public func deleteProxy(_ ip: A, dev: Int32) -> Bool {
        guard let i = proxies.firstIndex(where: { $0.ip == ip && $0.dev == dev }) else { return false }
        proxies.remove(at: i)
        return true
    }

    /// pneigh_enqueue's delay: when an answer queued now on `dev` goes, a random time below
    /// proxy_delay later.
    func proxyDue(now: UInt64, dev: Int32) -> UInt64 {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        return now + (seed >> 11) % max(parms(dev).proxyDelay, 1)
    }

    /// pneigh_ifdown: a device going down or away takes its entries.
    func flushProxies(dev: Int32) {
        proxies.removeAll { $0.dev == dev }
    }

    /// The kernel's dump order: by pneigh_hash bucket, the newest first within one.
    public var proxiesInDumpOrder: [ProxyNeighbourOf<A>] {
        func bucket(_ ip: A) -> UInt32 {
            var h = UInt32(truncatingIfNeeded: ip).byteSwapped     // the key's last four bytes, as loaded
            h ^= h >> 16; h ^= h >> 8; h ^= h >> 4
            return h & 0xF
        }
        return proxies.enumerated().sorted { (bucket($0.element.ip), -$0.offset) < (bucket($1.element.ip), -$1.offset) }.map(\.element)
    }
}

extension IPv4Stack {
    /// arp_process's proxy branch for a request that is not for one of our addresses, routed
    /// by `r`: true when it was answered or queued for a delayed answer. The device must
    /// forward; the target be routed as unicast, and either through another device with
    /// proxy_arp as medium_id allows (arp_fwd_proxy) or an entry for the target
    /// (pneigh_lookup), or back through this device with proxy_arp_pvlan, not for the asker
    /// itself (arp_fwd_pvlan); and the route input accept the sender (__mkroute_input's
    /// fib_validate_source).
    func proxyARP(_ dev: NetDevice, _ r: FIBResult, sip: UInt32, sha: MACAddress, tip: UInt32, sentToUs: Bool, now: UInt64) -> Bool {
        let t = neighbours
        guard dev.inet4.forwarding, r.type == .unicast else { return false }
        let c = dev.inet4
        let viaOther = r.dev != dev.ifindex
        /// arp_fwd_proxy: the media of the two devices.
        func fwdProxy() -> Bool {
            guard viaOther, c.proxyArp, c.mediumId != -1 else { return false }
            if c.mediumId == 0 { return true }
            let omi = dp.device(r.dev)?.inet4.mediumId ?? -1
            return omi != c.mediumId && omi != -1
        }
        guard fwdProxy() || (!viaOther && c.proxyArpPvlan && sip != tip)
                || (viaOther && !t.proxies.isEmpty && t.proxy(dev.ifindex, tip) != nil),
              validateSource(dev, src: sip, dst: tip, tos: 0, oif: r.dev) == .ok else { return false }
        // neigh_event_ns: the asker becomes a stale neighbour.
        if sip != 0, let i = t.find(dev.ifindex, sip) ?? t.create(dev.ifindex, sip, now: now, pool: pool) {
            neighUpdate(Int(i), mac: sha, state: .stale, override: true)
        }
        let pr = t.parms(dev.ifindex)
        if sentToUs || pr.proxyDelay == 0 {
            sendARP(dev, op: 2, dstMAC: sha, tha: sha, spa: tip, tpa: sip)
            t.repliesSent &+= 1
        } else if proxyQueue.count < pr.proxyQlen {
            proxyQueue.append(PendingProxyReply(dev: dev.ifindex, due: t.proxyDue(now: now, dev: dev.ifindex), sip: sip, tip: tip, sha: sha))
        } else {
            t.proxyDiscards &+= 1
        }
        return true
    }

    /// neigh_proxy_process: the replies whose delay is over.
    func runProxyQueue(_ now: UInt64) {
        for q in proxyQueue.takeDue(now) {
            guard let dev = dp.device(q.dev), dev.isOperational else { continue }
            sendARP(dev, op: 2, dstMAC: q.sha, tha: q.sha, spa: q.tip, tpa: q.sip)
            neighbours.repliesSent &+= 1
        }
    }

    /// The earliest delayed proxy reply (0: none).
    var nextProxyReply: UInt64 { proxyQueue.earliestDue }
}
