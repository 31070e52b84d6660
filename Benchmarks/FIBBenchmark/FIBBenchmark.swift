import Benchmark
import Sluice

/// FIB lookups at full-table size: 1 M IPv4 routes through `FIB` (the forwarding lookup, with
/// its flat next-hop records) and 200 k IPv6 prefixes in the IPv6 trie (`LPMTrie<UInt128>`,
/// strides 16 then 4s). Prefix lengths follow a routing table's shape (mostly /24 for IPv4,
/// /48 and /32–/47 for IPv6). One iteration looks up 1024 addresses; memory per route is the
/// tables' own accounting, printed when the tables are built.
let lookupsPerIteration = 1024

struct SplitMix: RandomNumberGenerator {
    var s: UInt64
    mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class IPv4Rig {
    let fib: FIB
    var probes: [UInt32] = []
    init(routes: Int) throws {
        var rng = SplitMix(s: 1)
        let dp = Datapath(poolSize: 64, clock: .virtual(start: 1))
        let r = CommandRunner(datapath: dp)
        try dp.addMemory(name: "m1", driver: MemoryDriver())
        try r.execute("link set m1 up")
        try r.execute("addr add 198.18.0.1/16 dev m1")
        fib = dp.ipv4.fib
        var n = 0
        while n < routes {
            let x = Int.random(in: 0..<100, using: &rng)
            let len = x < 60 ? 24 : x < 90 ? Int.random(in: 16...23, using: &rng) : Int.random(in: 8...15, using: &rng)
            let a = UInt32.random(in: 0x0100_0000...0xDFFF_FFFF, using: &rng)
            // A prefix over the next hops own subnet would make them unreachable: skipped.
            if (a >> 16) == 0xC612 { continue }
            try r.execute("route replace \(CommandRunner.ipString(a))/\(len) via 198.18.0.\(2 + n % 200) dev m1")
            n += 1
            if n % 16 == 0 { probes.append(a) }
        }
        while probes.count < 65536 { probes.append(UInt32.random(in: 0...UInt32.max, using: &rng)) }
        let routesIn = fib.main.routeCount
        print("IPv4 FIB: \(routesIn) routes, \(fib.main.memoryBytes / max(routesIn, 1)) bytes per route (\(fib.main.memoryBytes >> 20) MiB)")
    }

    @inline(never)
    func lookups(_ start: Int) -> UInt32 {
        var acc: UInt32 = 0
        for i in 0..<lookupsPerIteration {
            let a = probes[(start &+ i) & 65535]
            if let r = fib.lookup(a, hash: a) { acc &+= r.gateway }
        }
        return acc
    }
}

final class IPv6Rig {
    var trie = LPMTrie<UInt128>(strides: [16] + Array(repeating: 4, count: 28))
    var probes: [UInt128] = []
    init(routes: Int) {
        var rng = SplitMix(s: 2)
        var n = 0
        while n < routes {
            let x = Int.random(in: 0..<100, using: &rng)
            let len = x < 55 ? 48 : x < 90 ? Int.random(in: 32...47, using: &rng) : Int.random(in: 19...31, using: &rng)
            // 2000::/3 with clustered allocations, as global unicast is.
            let hi = UInt128(0x2000 | UInt16.random(in: 0...0x0FFF, using: &rng) & 0x0C3F) << 112
            let a = hi | UInt128(UInt64.random(in: 0...UInt64.max, using: &rng)) << 48
            trie.insert(LPMTrie<UInt128>.mask(a, len), len, entry: UInt32(n + 1))
            n += 1
            if n % 8 == 0 { probes.append(a | 0x1234) }
        }
        while probes.count < 65536 { probes.append(probes[probes.count % max(routes / 8, 1)] ^ 0xFFFF_0000) }
        print("IPv6 trie: \(trie.count) prefixes, \(trie.memoryBytes / max(trie.count, 1)) bytes per prefix (\(trie.memoryBytes >> 20) MiB)")
    }

    @inline(never)
    func lookups(_ start: Int) -> UInt32 {
        var acc: UInt32 = 0
        for i in 0..<lookupsPerIteration { acc &+= trie.lookup(probes[(start &+ i) & 65535]) }
        return acc
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .instructions],
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 100_000
    )
    nonisolated(unsafe) let v4 = try! IPv4Rig(routes: 1_000_000)
    nonisolated(unsafe) var i4 = 0
    Benchmark("IPv4 FIB lookup x\(lookupsPerIteration), 1M routes") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(v4.lookups(i4)); i4 &+= lookupsPerIteration }
    }
    nonisolated(unsafe) let v6 = IPv6Rig(routes: 200_000)
    nonisolated(unsafe) var i6 = 0
    Benchmark("IPv6 trie lookup x\(lookupsPerIteration), 200k prefixes") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(v6.lookups(i6)); i6 &+= lookupsPerIteration }
    }
}
