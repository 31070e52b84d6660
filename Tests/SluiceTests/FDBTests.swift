import XCTest
@testable import Sluice

final class FDBTests: XCTestCase {
    /// Random learn/remove/age against a Dictionary model: the open-addressing table with
    /// backward-shift deletion must agree on every lookup.
    func testAgreesWithAModelUnderChurn() throws {
        let fdb = FDB(capacityLog2: 8, maxLearned: 200)
        var model: [UInt64: (Int32, UInt64)] = [:]
        var rng = SystemRandomNumberGenerator()
        var seed: UInt64 = 42
        func next() -> UInt64 { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return seed >> 33 }
        _ = rng
        var now: UInt64 = 1_000
        let ageing: UInt64 = 500
        for _ in 0..<20_000 {
            let mac = MACAddress(raw: 0x0200_0000_0000 | (next() % 300))
            switch next() % 10 {
            case 0..<6:
                let port = Int32(next() % 4 + 1)
                fdb.learn(mac, vlan: 0, port: port, now: now)
                if model[mac.raw] != nil || model.count < 200 { model[mac.raw] = (port, now) }
            case 6..<8:
                XCTAssertEqual(fdb.remove(mac, vlan: 0), model.removeValue(forKey: mac.raw) != nil)
            case 8:
                now += next() % 50
            default:
                fdb.age(now: now, ageing: ageing)
                model = model.filter { $0.value.1 + ageing > now }
            }
            let got = fdb.lookup(mac, vlan: 0, now: now, ageing: ageing).port
            let want = model[mac.raw].map { $0.1 + ageing > now ? $0.0 : 0 } ?? 0
            XCTAssertEqual(got, want)
        }
        fdb.age(now: now, ageing: ageing)
        model = model.filter { $0.value.1 + ageing > now }
        XCTAssertEqual(fdb.count, model.count)
        for (k, v) in model { XCTAssertEqual(fdb.lookup(MACAddress(raw: k), vlan: 0, now: now, ageing: ageing).port, v.0) }
    }

    func testVLANIsPartOfTheKeyAndLearningStopsAtTheLimit() throws {
        let fdb = FDB(capacityLog2: 6, maxLearned: 2)
        fdb.learn(macA, vlan: 10, port: 1, now: 0)
        fdb.learn(macA, vlan: 20, port: 2, now: 0)
        fdb.learn(macB, vlan: 10, port: 3, now: 0)
        XCTAssertEqual(fdb.lookup(macA, vlan: 10, now: 0, ageing: 10).port, 1)
        XCTAssertEqual(fdb.lookup(macA, vlan: 20, now: 0, ageing: 10).port, 2)
        XCTAssertEqual(fdb.lookup(macB, vlan: 10, now: 0, ageing: 10).port, 0)
        XCTAssertEqual(fdb.learnRefused, 1)
        try fdb.add(macB, vlan: 10, port: 3, isStatic: true, now: 0)   // static entries don't count
        XCTAssertEqual(fdb.lookup(macB, vlan: 10, now: 99, ageing: 10).port, 3)
    }

    /// Configured entries grow the table (64 slots at first, 5 000 static entries); every entry
    /// is still found, learning keeps its own limit, and a full table refuses learning rather
    /// than probing forever.
    func testConfiguredEntriesGrowTheTable() throws {
        let fdb = FDB(capacityLog2: 6, maxLearned: 8)
        for i in 0..<5_000 { try fdb.add(MACAddress(raw: 0x0200_0000_0000 | UInt64(i)), vlan: 0, port: Int32(i % 7 + 1), isStatic: true, now: 0) }
        XCTAssertGreaterThanOrEqual(fdb.capacity, 5_000 * 8 / 7)
        for i in 0..<5_000 { XCTAssertEqual(fdb.lookup(MACAddress(raw: 0x0200_0000_0000 | UInt64(i)), vlan: 0, now: 0, ageing: 10).port, Int32(i % 7 + 1)) }
        for i in 0..<20 { fdb.learn(MACAddress(raw: 0x0400_0000_0000 | UInt64(i)), vlan: 0, port: 1, now: 0) }
        XCTAssertEqual(fdb.learnedCount, 8)
        XCTAssertEqual(fdb.learnRefused, 12)
        XCTAssertEqual(fdb.count, 5_008)
        let small = FDB(capacityLog2: 4, maxLearned: 100)
        for i in 0..<100 { small.learn(MACAddress(raw: 0x0400_0000_0000 | UInt64(i)), vlan: 0, port: 1, now: 0) }
        XCTAssertEqual(small.count, 14, "learning stops at 7/8 of the table")
        XCTAssertEqual(small.learnRefused, 86)
    }
}
