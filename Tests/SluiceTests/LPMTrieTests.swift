import XCTest
@testable import Sluice

/// The trie against a brute-force longest-prefix match (the definition: of all stored prefixes
/// whose first `length` bits equal the address's, the longest), over random prefixes, random
/// deletes and random lookups — plus lookups next to stored prefixes, where mistakes hide.
final class LPMTrieTests: XCTestCase {
    struct Rng: RandomNumberGenerator {
        var s: UInt64
        mutating func next() -> UInt64 { s &+= 0x9E37_79B9_7F4A_7C15; var z = s; z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9; z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB; return z ^ (z >> 31) }
    }

    func check<K: FixedWidthInteger & UnsignedInteger & Hashable>(_ type: K.Type, strides: [Int], prefixes n: Int, lookups: Int,
                                                                 lengths: (inout Rng) -> Int, key: (inout Rng) -> K) {
        var rng = Rng(s: 42)
        var trie = LPMTrie<K>(strides: strides)
        var stored: [LPMTrie<K>.PrefixKey: UInt32] = [:]
        var byLength = [[K: UInt32]](repeating: [:], count: K.bitWidth + 1)
        var next: UInt32 = 1
        func brute(_ a: K) -> UInt32 {
            for l in stride(from: K.bitWidth, through: 0, by: -1) {
                if let e = byLength[l][LPMTrie<K>.mask(a, l)] { return e }
            }
            return 0
        }
        var probes: [K] = []
        for i in 0..<n {
            let l = lengths(&rng)
            let p = LPMTrie<K>.mask(key(&rng), l)
            let e = next; next += 1
            trie.insert(p, l, entry: e)
            stored[.init(prefix: p, length: UInt8(l))] = e
            byLength[l][p] = e
            if i % 16 == 0 { probes.append(p); probes.append(p | (l < K.bitWidth ? K.max >> l : 0)) }
        }
        // Delete a quarter, replace some.
        for (k, _) in stored.shuffled(using: &rng).prefix(n / 4) {
            XCTAssertEqual(trie.remove(k.prefix, Int(k.length)), stored[k])
            stored[k] = nil
            byLength[Int(k.length)][k.prefix] = nil
        }
        for (k, _) in stored.shuffled(using: &rng).prefix(n / 20) {
            let e = next; next += 1
            trie.insert(k.prefix, Int(k.length), entry: e)
            stored[k] = e
            byLength[Int(k.length)][k.prefix] = e
        }
        XCTAssertEqual(trie.count, stored.count)
        var mismatches = 0
        for a in probes + (0..<lookups).map({ _ in key(&rng) }) where trie.lookup(a) != brute(a) {
            mismatches += 1
            if mismatches < 5 { XCTFail("lookup \(String(a, radix: 16)): trie \(trie.lookup(a)), brute force \(brute(a))") }
        }
        XCTAssertEqual(mismatches, 0)
        // Deleting everything leaves only the root.
        for (k, _) in stored { trie.remove(k.prefix, Int(k.length)) }
        XCTAssertEqual(trie.count, 0)
        XCTAssertEqual(trie.nodeCount, 1)
        XCTAssertEqual(trie.lookup(key(&rng)), 0)
    }

    func testIPv4AgainstBruteForce() {
        // Lengths as in a routing table (mostly /24 and /16–/23), some short and host routes;
        // keys from a few /8s so prefixes nest.
        check(UInt32.self, strides: [16, 8, 8], prefixes: 100_000, lookups: 100_000,
              lengths: { r in
                  let x = Int.random(in: 0..<100, using: &r)
                  return x < 55 ? 24 : x < 85 ? Int.random(in: 16...23, using: &r) : x < 95 ? Int.random(in: 0...15, using: &r) : Int.random(in: 25...32, using: &r)
              },
              key: { r in (UInt32.random(in: 0..<8, using: &r) << 29) | UInt32.random(in: 0...UInt32.max, using: &r) >> 3 })
    }

    func testIPv6AgainstBruteForce() {
        check(UInt128.self, strides: [16] + Array(repeating: 4, count: 28), prefixes: 100_000, lookups: 100_000,
              lengths: { r in
                  let x = Int.random(in: 0..<100, using: &r)
                  return x < 50 ? 48 : x < 80 ? Int.random(in: 29...47, using: &r) : x < 90 ? Int.random(in: 0...28, using: &r) : Int.random(in: 49...128, using: &r)
              },
              key: { r in
                  (UInt128(0x2001_0db8) << 96) | (UInt128(UInt64.random(in: 0...UInt64.max, using: &r) >> 40) << 72) | UInt128(UInt64.random(in: 0...UInt64.max, using: &r))
              })
    }
}
