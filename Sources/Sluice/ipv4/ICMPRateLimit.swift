/// The ICMP error rate limits shared by ICMP and ICMPv6 (icmp_global_allow,
/// inet_peer_xrlim_allow): a global token bucket of `msgsPerSec` with a burst, then a bucket per
/// destination that allows one message per `timeout` with a burst of 6 (XRLIM_BURST_FACTOR).
struct ICMPRateLimiter<A: InetAddressValue> {
    var peers: [A: (tokens: UInt64, last: UInt64)] = [:]
    var globalTokens: UInt64 = 50
    var globalLast: UInt64 = 0

    mutating func allow(peer: A, timeout: UInt64, now: UInt64, msgsPerSec: UInt64, burst: UInt64) -> Bool {
        let add = (now &- globalLast) * msgsPerSec / Time.s
        if add > 0 { globalTokens = min(burst, globalTokens + add); globalLast = now }
        guard globalTokens > 0 else { return false }
        var b = peers[peer] ?? (timeout * 6, now)
        b.tokens = min(timeout * 6, b.tokens + (now &- b.last))
        b.last = now
        guard b.tokens >= timeout else { peers[peer] = b; return false }
        b.tokens -= timeout
        peers[peer] = b
        globalTokens -= 1
        if peers.count > 4096 { peers.removeAll(keepingCapacity: true) }
        return true
    }
}
