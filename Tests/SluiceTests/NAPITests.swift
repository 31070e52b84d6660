import XCTest
@testable import Sluice

final class NAPITests: XCTestCase {

    /// n sources all sending to one sink port, with a static FDB entry for the destination.
    func lab(sources n: Int, each: Int, weight: Int = 64) throws -> (Datapath, [NetDevice], MemoryDriver) {
        let dp = Datapath(poolSize: 4096, clock: .virtual(start: 1))
        let r = CommandRunner(datapath: dp)
        try r.execute("link add br0 type bridge")
        let sink = MemoryDriver()
        sink.capture = false
        try dp.addMemory(name: "sink", driver: sink)
        try r.execute("link set sink master br0 up")
        try r.execute("fdb add 02:00:00:00:00:0b dev sink static")
        var devs: [NetDevice] = []
        for i in 0..<n {
            let d = MemoryDriver()
            d.setTemplates([frame(macB, MACAddress(raw: 0x0200_0000_1000 + UInt64(i)))])
            d.toGenerate = each
            let dev = try dp.addMemory(name: "src\(i)", driver: d)
            try r.execute("link set src\(i) master br0 up napi_weight \(weight)")
            devs.append(dev)
        }
        try r.execute("link set br0 up")
        return (dp, devs, sink)
    }

    func testBudgetBoundsOnePassAndWeightBoundsEachPoll() throws {
        let (dp, devs, sink) = try lab(sources: 3, each: 1000)
        for d in devs { dp.napiSchedule(d) }
        let n = dp.netRxAction()
        // Polls of 64: after 5 polls 320 >= 300, the pass stops (net_rx_action checks after a poll).
        XCTAssertEqual(n, 320)
        XCTAssertEqual(devs.map { $0.napi.polls }, [2, 2, 1])
        XCTAssertEqual(dp.timeSqueeze, 1, "stopped with work left")
        XCTAssertEqual(sink.transmitted, 320)
        XCTAssertEqual(dp.pollListCount, 3, "all still polling")
    }

    func testBusyPollKeepsAQuietQueuePolledForItsWindowOncePerPass() throws {
        let (dp, devs, sink) = try lab(sources: 1, each: 10)
        let r = CommandRunner(datapath: dp)
        try r.execute("link set src0 busy_poll 100")
        dp.napiSchedule(devs[0])
        XCTAssertEqual(dp.netRxAction(), 10)
        XCTAssertTrue(devs[0].napi.scheduled, "found packets: stays polling for 100 µs")
        // Empty passes inside the window: one poll each, still scheduled.
        for _ in 0..<3 { XCTAssertEqual(dp.netRxAction(), 0) }
        XCTAssertEqual(devs[0].napi.polls, 4)
        XCTAssertEqual(devs[0].napi.busyPolls, 3)
        XCTAssertTrue(devs[0].napi.scheduled)
        // A packet inside the window is taken at once, and restarts it.
        (devs[0].driver as! MemoryDriver).toGenerate = 1
        dp.clock.advance(by: 60 * Time.us)
        XCTAssertEqual(dp.netRxAction(), 1)
        dp.clock.advance(by: 60 * Time.us)
        XCTAssertEqual(dp.netRxAction(), 0)
        XCTAssertTrue(devs[0].napi.scheduled, "60 µs after the last packet")
        dp.clock.advance(by: 50 * Time.us)
        dp.netRxAction()
        XCTAssertFalse(devs[0].napi.scheduled, "110 µs without a packet: back to epoll")
        XCTAssertEqual(devs[0].napi.interruptModeEntries, 1)
        XCTAssertEqual(sink.transmitted, 11)
        XCTAssertEqual(dp.timeSqueeze, 0)
        // Off (the default): the first poll that finds fewer than the weight completes.
        try r.execute("link set src0 busy_poll 0")
        (devs[0].driver as! MemoryDriver).toGenerate = 5
        dp.napiSchedule(devs[0])
        dp.netRxAction()
        XCTAssertFalse(devs[0].napi.scheduled)
    }

    func testQuietDeviceReturnsToInterruptModeBusyOneStaysPolling() throws {
        let (dp, devs, _) = try lab(sources: 2, each: 0)
        (devs[0].driver as! MemoryDriver).toGenerate = 10
        (devs[1].driver as! MemoryDriver).toGenerate = 1000
        dp.napiSchedule(devs[0]); dp.napiSchedule(devs[1])
        dp.netRxAction()
        XCTAssertFalse(devs[0].napi.scheduled, "10 < weight: napi_complete")
        XCTAssertEqual(devs[0].napi.interruptModeEntries, 1)
        XCTAssertTrue(devs[1].napi.scheduled, "used its whole weight: stays on the poll list")
        XCTAssertEqual(devs[1].napi.interruptModeEntries, 0)
        XCTAssertGreaterThan(devs[1].napi.fullPolls, 0)
        // Drain the busy one: it leaves polling exactly once, when it runs dry.
        while dp.pollListCount > 0 { dp.netRxAction() }
        XCTAssertEqual(devs[1].napi.pollModeEntries, 1)
        XCTAssertEqual(devs[1].napi.interruptModeEntries, 1)
        XCTAssertEqual(devs[1].stats.rxPackets, 1000)
        // A new event puts it back in polling mode: one more entry of each.
        (devs[1].driver as! MemoryDriver).toGenerate = 5
        dp.runOnce(timeoutMs: 0)
        XCTAssertEqual(devs[1].napi.pollModeEntries, 2)
        XCTAssertEqual(devs[1].napi.interruptModeEntries, 2)
        XCTAssertEqual(dp.pool.inUse, 0)
    }

    /// napi_complete_done with napi_defer_hard_irqs 2 and gro_flush_timeout 20 µs: a poll that
    /// found packets leaves the interrupt masked and the timer polls the queue 20 µs later, up to
    /// two such polls without packets; packets arriving meanwhile wait for the timer; the third
    /// completion re-arms the interrupt (net/core/dev.c napi_complete_done, napi_watchdog).
    func testDeferredHardIrqsPollOnTheTimerThenReArm() throws {
        let (dp, devs, sink) = try lab(sources: 1, each: 10)
        let r = CommandRunner(datapath: dp)
        let q = devs[0], d = q.driver as! MemoryDriver
        try r.execute("link set src0 busy_poll 0 napi_defer_hard_irqs 2 gro_flush_timeout 20000")
        dp.runOnce(timeoutMs: 0)
        XCTAssertEqual(sink.transmitted, 10)
        XCTAssertFalse(q.napi.scheduled)
        XCTAssertTrue(q.napi.irqMasked, "found packets: defer_hard_irqs_count 2 → 1, interrupt stays masked")
        XCTAssertEqual(q.napi.timerDue, dp.clock.now + 20 * Time.us)
        XCTAssertEqual(q.napi.interruptModeEntries, 0)
        // A frame arriving while masked waits for the timer.
        d.toGenerate = 1
        dp.clock.advance(by: 19 * Time.us)
        dp.runOnce(timeoutMs: 0)
        XCTAssertEqual(sink.transmitted, 10, "masked: not polled before the timer")
        dp.clock.advance(by: 1 * Time.us)
        dp.runOnce(timeoutMs: 0)
        XCTAssertEqual(sink.transmitted, 11, "the timer's poll took it")
        XCTAssertEqual(q.napi.timerPolls, 1)
        XCTAssertTrue(q.napi.irqMasked, "work again: the count starts over at 2")
        // Two empty timer polls: the first keeps it masked (count 1 → 0), the second re-arms.
        dp.clock.advance(by: 20 * Time.us); dp.runOnce(timeoutMs: 0)
        XCTAssertTrue(q.napi.irqMasked)
        XCTAssertNotEqual(q.napi.timerDue, 0)
        dp.clock.advance(by: 20 * Time.us); dp.runOnce(timeoutMs: 0)
        XCTAssertFalse(q.napi.irqMasked, "count 0 and no work: napi_complete_done returns true")
        XCTAssertEqual(q.napi.timerDue, 0, "no work, no GRO held: no timer")
        XCTAssertEqual(q.napi.timerPolls, 3)
        XCTAssertEqual(q.napi.deferredCompletions, 3)
        XCTAssertEqual(q.napi.interruptModeEntries, 1)
        // Re-armed: the next frame is taken at once, and masks the interrupt again.
        d.toGenerate = 1
        dp.runOnce(timeoutMs: 0)
        XCTAssertEqual(sink.transmitted, 12)
        XCTAssertTrue(q.napi.irqMasked)
        dp.clock.advance(by: 40 * Time.us); dp.runOnce(timeoutMs: 0)
        dp.clock.advance(by: 20 * Time.us); dp.runOnce(timeoutMs: 0)
        XCTAssertFalse(q.napi.irqMasked)
        // A timeout alone (no deferral) never masks; nor does deferral without a timeout.
        try r.execute("link set src0 napi_defer_hard_irqs 0")
        d.toGenerate = 3; dp.runOnce(timeoutMs: 0)
        XCTAssertEqual(sink.transmitted, 15)
        XCTAssertFalse(q.napi.irqMasked)
        XCTAssertEqual(q.napi.timerDue, 0, "these frames are not TCP: GRO held nothing")
        try r.execute("link set src0 napi_defer_hard_irqs 5 gro_flush_timeout 0")
        d.toGenerate = 3; dp.runOnce(timeoutMs: 0)
        XCTAssertFalse(q.napi.irqMasked)
        XCTAssertEqual(sink.transmitted, 18)
        XCTAssertEqual(dp.pool.inUse, 0)
    }

    /// gro_flush_timeout without deferral: a poll that leaves GRO holding a TCP flow keeps it
    /// and arms the timer with the interrupt re-armed (napi_complete_done: timeout from
    /// gro.bitmask); the timer's poll finds nothing and flushes it.
    func testGROFlushTimeoutArmsTheTimerWhenGROHeldAFlow() throws {
        let (dp, devs, sink) = try lab(sources: 1, each: 0)
        let r = CommandRunner(datapath: dp)
        let q = devs[0], d = q.driver as! MemoryDriver
        try r.execute("link set src0 busy_poll 0 gro on gro_flush_timeout 50000")
        var seg = GROTests.tcp4(GROTests.Seg(seq: 1000, len: 100, id: 1))
        for i in 0..<6 { seg[i] = macB.octets[i] }
        d.inject(seg)
        dp.runOnce(timeoutMs: 0)
        XCTAssertEqual(sink.transmitted, 0, "held in the GRO list for the next poll")
        XCTAssertFalse(q.napi.irqMasked)
        XCTAssertEqual(q.napi.timerDue, dp.clock.now + 50 * Time.us)
        dp.clock.advance(by: 50 * Time.us)
        dp.runOnce(timeoutMs: 0)
        XCTAssertEqual(q.napi.timerPolls, 1, "napi_watchdog schedules the queue")
        XCTAssertEqual(sink.transmitted, 1, "its poll found nothing: everything held goes up")
        XCTAssertEqual(q.napi.timerDue, 0)
        XCTAssertEqual(dp.pool.inUse, 0)
    }

    func testTimeLimitEndsThePass() throws {
        let (dp, devs, _) = try lab(sources: 2, each: 1000)
        for d in devs { (d.driver as! MemoryDriver).costPerPacket = 20 * Time.us }  // 64 × 20 µs = 1.28 ms a poll
        dp.timeLimit = 2 * Time.ms
        dp.budget = 10_000
        for d in devs { dp.napiSchedule(d) }
        let n = dp.netRxAction()
        XCTAssertEqual(n, 128, "second poll crosses 2 ms: the pass ends after it")
        XCTAssertEqual(dp.timeSqueeze, 1)
    }

    func testWeightIsConfigurable() throws {
        let (dp, devs, _) = try lab(sources: 1, each: 100, weight: 16)
        dp.napiSchedule(devs[0])
        dp.budget = 16
        XCTAssertEqual(dp.netRxAction(), 16)
    }
}
