import XCTest
@testable import Sluice

/// Byte queue limits as lib/dynamic_queue_limits.c computes them, worked through by hand from
/// its dql_completed: starvation grows the limit by what was completed beyond the last
/// interval's queue; steady slack, once the hold time passed, shrinks it by the smallest slack.
final class DQLTests: XCTestCase {
    func testStarvationGrowsTheLimit() {
        var d = DynamicQueueLimit()
        d.queued(1000)
        XCTAssertLessThan(d.avail, 0, "a limit of 0 stops the queue after one frame")
        d.completed(1000, now: 1)
        XCTAssertEqual(d.limit, 1000)
        XCTAssertEqual(d.avail, 1000)
        d.queued(1000); d.queued(1000)
        XCTAssertLessThan(d.avail, 0)
        d.completed(2000, now: 2)
        XCTAssertEqual(d.limit, 3000, "1000 + (3000 completed - 1000 queued before)")
        XCTAssertEqual(d.inflight, 0)
    }

    func testSlackShrinksTheLimitAfterTheHoldTime() {
        var d = DynamicQueueLimit()
        d.limit = 10_000
        d.holdTime = 10
        d.queued(4000)
        d.completed(1000, now: 1)                 // no previous interval yet: unchanged
        XCTAssertEqual(d.limit, 10_000)
        d.queued(1000)
        d.completed(1000, now: 5)                 // slack 10000 - 2×1000 = 8000, within the hold time
        XCTAssertEqual(d.limit, 10_000)
        d.queued(1000)
        d.completed(1000, now: 20)                // hold time over: the lowest slack comes off
        XCTAssertEqual(d.limit, 2000)
        XCTAssertEqual(d.inflight, 3000)
    }

    func testCompletionsBeyondWhatWasQueuedAreBoundedNotFatal() {
        var d = DynamicQueueLimit()
        d.queued(500)
        d.completed(5000, now: 1)
        XCTAssertEqual(d.inflight, 0)
        XCTAssertEqual(d.limit, 500)
    }
}
