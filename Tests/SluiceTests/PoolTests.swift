import XCTest
@testable import Sluice

final class PoolTests: XCTestCase {
    func testEveryBufferReturnsExactlyOnce() {
        let pool = PacketPool(capacity: 8)
        var batch = PacketBatch()
        for _ in 0..<8 { batch.append(must(pool.alloc())) }
        switch pool.alloc() {
        case .none: break
        case .some(let extra): XCTFail("pool of 8 gave a ninth buffer"); pool.free(extra)
        }
        XCTAssertEqual(pool.exhausted, 1)
        XCTAssertEqual(pool.inUse, 8)
        batch.freeAll(pool)
        XCTAssertEqual(pool.inUse, 0)
        XCTAssertEqual(pool.available, 8)
        XCTAssertEqual(pool.allocations, pool.frees)
    }

    func testBuffersHoldGSOSuperFramesWithHeadroom() {
        let pool = PacketPool(capacity: 2)
        let p = must(pool.alloc())
        XCTAssertGreaterThanOrEqual(pool.headroom(p), 128)
        XCTAssertGreaterThanOrEqual(pool.tailroom(p), 65536 + 14)
        // Touch the last byte of a 64 KiB frame.
        let big = [UInt8](repeating: 7, count: 65536 + 14)
        big.withUnsafeBytes { pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
        XCTAssertEqual(pool.data(p).load(fromByteOffset: 65536 + 13, as: UInt8.self), 7)
        XCTAssertTrue(pool.push(p, 4))
        XCTAssertEqual(pool.length(p), 65536 + 18)
        XCTAssertTrue(pool.pull(p, 4))
        pool.free(p)
        XCTAssertEqual(pool.inUse, 0)
    }

    func testClonesShareBytesAndReturnTheBufferWhenTheLastGoes() {
        let pool = PacketPool(capacity: 4)
        let p = must(pool.alloc())
        let bytes: [UInt8] = [1, 2, 3, 4]
        bytes.withUnsafeBytes { pool.setFrame(p, from: $0.baseAddress!, count: 4) }
        let c1 = must(pool.clone(p))
        let c2 = must(pool.clone(p))
        XCTAssertEqual(pool.data(c1), pool.data(p), "a clone shares the bytes")
        XCTAssertFalse(pool.isExclusive(p))
        XCTAssertEqual(pool.inUse, 3)
        pool.free(p)                      // original handle goes first
        XCTAssertEqual(pool.available, 1, "shared buffer stays out while clones hold it")
        var w = c1
        XCTAssertTrue(pool.makeWritable(&w), "copy-on-write")
        XCTAssertEqual(Array(pool.bytes(w)), bytes)
        XCTAssertTrue(pool.isExclusive(w))
        pool.free(w)
        pool.free(c2)
        XCTAssertEqual(pool.inUse, 0)
        XCTAssertEqual(pool.available, 4, "every buffer back")
        XCTAssertEqual(pool.allocations, pool.frees)
    }

    func testBatchFilterKeepsOrderAndRejectsExactlyOnce() {
        let pool = PacketPool(capacity: 16)
        var batch = PacketBatch()
        for i in 0..<10 {
            let p = must(pool.alloc())
            pool.meta(p).pointee.mark = UInt32(i)
            batch.append(p)
        }
        var rejected = 0
        batch.filter({ pool.meta($0).pointee.mark % 2 == 0 }, reject: { rejected += 1; pool.free($0) })
        XCTAssertEqual(batch.count, 5)
        XCTAssertEqual(rejected, 5)
        var marks: [UInt32] = []
        batch.drain { marks.append(pool.meta($0).pointee.mark); pool.free($0) }
        XCTAssertEqual(marks, [0, 2, 4, 6, 8])
        XCTAssertEqual(pool.inUse, 0)
    }
}
