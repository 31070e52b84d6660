import XCTest
@testable import Sluice

/// Classification and queueing rules read from the kernel's net/sched sources (this machine's
/// kernel lacks prio, fq_codel, netem and skbedit, so they cannot be measured side by side here).
/// Each expectation names the function it comes from.
final class TcKernelSemanticsTests: XCTestCase {
    /// A line device "eth0" on a virtual clock, configured with tc lines.
    final class Rig {
        let dp: Datapath
        let runner: CommandRunner
        let dev: NetDevice
        init(_ lines: [String], rate: UInt64 = 1_000_000_000, txqueuelen: Int? = nil) throws {
            dp = Datapath(poolSize: 4096, clock: .virtual(start: 1_000 * Time.s))
            dp.log = { _ in }
            runner = CommandRunner(datapath: dp)
            dev = try dp.addLine(name: "eth0", rate: rate, output: nil)
            if let q = txqueuelen { try runner.execute("link set eth0 txqueuelen \(q)") }
            for l in lines { try runner.execute(l) }
        }

        /// Hands one frame to the root qdisc (as dev_queue_xmit does), with skb fields set.
        @discardableResult
        func enqueue(_ frame: [UInt8], priority: UInt32 = 0, mark: UInt32 = 0) -> EnqueueVerdict {
            let p = must(dp.pool.alloc())
            frame.withUnsafeBytes { dp.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
            let m = dp.pool.meta(p)
            m.pointee.priority = priority
            m.pointee.mark = mark
            m.pointee.pktLen = UInt32(frame.count)
            m.pointee.timestamp = dp.clock.now
            return dev.qdisc.enqueue(p)
        }

        /// Dequeues everything the root lets out now.
        func drain() -> Int {
            var n = 0
            while let p = dev.qdisc.dequeue() { dp.pool.free(p); n += 1 }
            return n
        }

        func finish() { dev.qdisc.purge(); XCTAssertEqual(dp.pool.inUse, 0) }
    }

    static func udp(dport: UInt16 = 5201, sport: UInt16 = 1234, length: Int = 100) -> [UInt8] {
        FrameBuilder.udpFrame(dst: macB, src: macA, srcIP: FrameBuilder.ip(198, 18, 0, 1), dstIP: FrameBuilder.ip(198, 18, 0, 2),
                              sport: sport, dport: dport, frameLength: length)
    }

    // MARK: prio (prio_classify)

    func prioBands(_ r: Rig) -> [Int] { (r.dev.qdisc as! PrioQdisc).children.map { $0.statsSnapshot().qlen } }

    func testPrioClassifyAsTheKernel() throws {
        // A filter that would put everything in band 3 (1:3).
        let r = try Rig(["qdisc add dev eth0 root handle 1: prio",
                         "filter add dev eth0 parent 1: protocol all prio 1 u32 match u32 0 0 flowid 1:3"])
        // skb->priority naming this qdisc picks the band; no filter runs.
        r.enqueue(Self.udp(), priority: 0x0001_0001)
        XCTAssertEqual(prioBands(r), [1, 0, 0])
        // Minor 0, or beyond `bands`: prio2band[0] (band 1, i.e. 1:2).
        r.enqueue(Self.udp(), priority: 0x0001_0000)
        r.enqueue(Self.udp(), priority: 0x0001_0009)
        XCTAssertEqual(prioBands(r), [1, 2, 0])
        // Otherwise the filter decides.
        r.enqueue(Self.udp(), priority: 6)
        XCTAssertEqual(prioBands(r), [1, 2, 1])
        r.finish()

        // No filter: prio2band[priority & 15]; with a major number (not this qdisc's), prio2band[0].
        let n = try Rig(["qdisc add dev eth0 root handle 1: prio"])
        n.enqueue(Self.udp(), priority: 6)              // TC_PRIO_INTERACTIVE → band 0
        n.enqueue(Self.udp(), priority: 2)              // → band 2
        n.enqueue(Self.udp(), priority: 0x0005_0006)    // major 5: prio2band[0] → band 1
        XCTAssertEqual(prioBands(n), [1, 1, 1])
        n.finish()

        // A filter's class id beyond `bands` (its major is not checked): prio2band[0]; a match
        // without a class id (minor 0): prio2band[0] too; no match: prio2band[priority & 15].
        let f = try Rig(["qdisc add dev eth0 root handle 1: prio",
                         "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 1 0xffff flowid 1:9",
                         "filter add dev eth0 parent 1: protocol ip prio 2 u32 match ip dport 2 0xffff flowid 7:1",
                         "filter add dev eth0 parent 1: protocol ip prio 3 u32 match ip dport 3 0xffff action ok"])
        f.enqueue(Self.udp(dport: 1), priority: 6)
        XCTAssertEqual(prioBands(f), [0, 1, 0])
        f.enqueue(Self.udp(dport: 2), priority: 2)
        XCTAssertEqual(prioBands(f), [1, 1, 0])
        f.enqueue(Self.udp(dport: 3), priority: 6)
        XCTAssertEqual(prioBands(f), [1, 2, 0])
        f.enqueue(Self.udp(dport: 4), priority: 2)
        XCTAssertEqual(prioBands(f), [1, 2, 1])
        f.finish()
    }

    /// prio_classify reads skb->priority before running the filters: an skbedit in prio's own
    /// filter does not move the packet it runs on (the match has no class id: prio2band[0]);
    /// the same skbedit on the clsact egress hook, which runs before the root qdisc, does.
    func testSkbeditPriorityAppliesToTheNextClassification() throws {
        let (_, out, report) = try replay([Flow(dport: 7, size: 500, rate: 1_000_000, duration: 10 * Time.ms)], rate: "100mbit",
                                          ["qdisc add dev eth0 root handle 1: prio",
                                           "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 7 0xffff action skbedit priority 1:3"])
        XCTAssertFalse(out.isEmpty)
        XCTAssertEqual(sentOfClass(report.text, "class prio 1:2 "), out.count * 500, report.text)
        XCTAssertEqual(sentOfClass(report.text, "class prio 1:3 "), 0, report.text)

        let (_, out2, report2) = try replay([Flow(dport: 7, size: 500, rate: 1_000_000, duration: 10 * Time.ms)], rate: "100mbit",
                                            ["qdisc add dev eth0 root handle 1: prio", "qdisc add dev eth0 clsact",
                                             "filter add dev eth0 egress protocol ip prio 1 u32 match ip dport 7 0xffff action skbedit priority 1:3"])
        XCTAssertEqual(sentOfClass(report2.text, "class prio 1:3 "), out2.count * 500, report2.text)
    }

    func sentOfClass(_ text: String, _ prefix: String) -> Int {
        let lines = text.split(separator: "\n").map(String.init)
        guard let i = lines.firstIndex(where: { $0.hasPrefix(prefix) }), i + 1 < lines.count else { return -1 }
        return number(lines[i + 1], after: "Sent") ?? -1
    }

    func number(_ s: String, after key: String) -> Int? {
        guard let r = s.range(of: key + " ") else { return nil }
        return Int(s[r.upperBound...].prefix { $0.isNumber })
    }

    // MARK: htb (htb_classify, htb_change_class)

    func testHTBClassifyDirectAndPriority() throws {
        let r = try Rig(["qdisc add dev eth0 root handle 1: htb default 20",
                         "class add dev eth0 parent 1: classid 1:1 htb rate 10mbit",
                         "class add dev eth0 parent 1:1 classid 1:10 htb rate 5mbit",
                         "class add dev eth0 parent 1:1 classid 1:20 htb rate 5mbit",
                         "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 1 0xffff flowid 1:0",
                         "filter add dev eth0 parent 1: protocol ip prio 2 u32 match ip dport 2 0xffff action drop",
                         "filter add dev eth0 parent 1: protocol ip prio 3 u32 match ip dport 3 0xffff flowid 1:1"])
        let htb = r.dev.qdisc as! HTBQdisc
        func leafQ(_ m: UInt16) -> Int { htb.htbClass(TcHandle(1, m))!.leaf!.statsSnapshot().qlen }
        // A filter result of X:0 is the direct queue.
        r.enqueue(Self.udp(dport: 1))
        XCTAssertEqual(htb.direct.count, 1)
        // skb->priority X:0 is the direct queue too, and no filter runs (dport 2 would be dropped).
        r.enqueue(Self.udp(dport: 2), priority: 0x0001_0000)
        XCTAssertEqual(htb.direct.count, 2)
        // A priority naming a leaf selects it without filters.
        r.enqueue(Self.udp(dport: 2), priority: 0x0001_0010)
        XCTAssertEqual(leafQ(0x10), 1)
        // A filter naming an inner class (with no filters of its own): the default class.
        r.enqueue(Self.udp(dport: 3))
        XCTAssertEqual(leafQ(0x20), 1)
        // The drop verdict drops.
        XCTAssertEqual(r.enqueue(Self.udp(dport: 2)), .dropped)
        r.finish()
    }

    /// htb_change_class: a new class is a leaf (level 0); a leaf that gets a child becomes an
    /// inner class one level below its parent, a root inner class TC_HTB_MAXDEPTH − 1 = 7;
    /// deleting the last child makes the parent a leaf again. (This machine's kernel prints
    /// levels 7, 6, 5, 4, 0 for such a chain: see the side-by-side output test.)
    func testHTBLevelsAsTheKernelAssignsThem() throws {
        let r = try Rig(["qdisc add dev eth0 root handle 1: htb",
                         "class add dev eth0 parent 1: classid 1:1 htb rate 10mbit",
                         "class add dev eth0 parent 1:1 classid 1:10 htb rate 5mbit",
                         "class add dev eth0 parent 1:10 classid 1:100 htb rate 1mbit",
                         "class add dev eth0 parent 1:100 classid 1:1000 htb rate 1mbit",
                         "class add dev eth0 parent 1:1 classid 1:20 htb rate 5mbit",
                         "class add dev eth0 parent 1: classid 1:5 htb rate 1mbit"])
        let htb = r.dev.qdisc as! HTBQdisc
        func level(_ m: UInt16) -> Int { htb.htbClass(TcHandle(1, m))!.level }
        XCTAssertEqual([level(1), level(0x10), level(0x100), level(0x1000), level(0x20), level(5)], [7, 6, 5, 0, 0, 0])
        try r.runner.execute("class del dev eth0 classid 1:1000")
        XCTAssertEqual(level(0x100), 0)
        XCTAssertNotNil(htb.htbClass(TcHandle(1, 0x100))!.leaf)
        // Eight levels at most: a class whose grandparent is below level 2 is refused.
        try r.runner.execute("class add dev eth0 parent 1:100 classid 1:1001 htb rate 1mbit")
        try r.runner.execute("class add dev eth0 parent 1:1001 classid 1:1002 htb rate 1mbit")
        try r.runner.execute("class add dev eth0 parent 1:1002 classid 1:1003 htb rate 1mbit")
        try r.runner.execute("class add dev eth0 parent 1:1003 classid 1:1004 htb rate 1mbit")
        try r.runner.execute("class add dev eth0 parent 1:1004 classid 1:1005 htb rate 1mbit")
        XCTAssertEqual(level(0x1004), 1)
        XCTAssertThrowsError(try r.runner.execute("class add dev eth0 parent 1:1005 classid 1:1006 htb rate 1mbit"))
        r.finish()
    }

    // MARK: pfifo_fast

    /// pfifo_fast keeps one ring of txqueuelen packets per band (pfifo_fast_init: skb_array of
    /// tx_queue_len), and follows a later txqueuelen change (pfifo_fast_change_tx_queue_len).
    func testPfifoFastLimitIsPerBandAndFollowsTxqueuelen() throws {
        let r = try Rig([], txqueuelen: 10)
        XCTAssertEqual(r.dev.qdisc.kind, "pfifo_fast")
        // priority 6 → band 0, 0 → band 1, 2 → band 2.
        for prio: UInt32 in [6, 0, 2] { for _ in 0..<15 { r.enqueue(Self.udp(), priority: prio) } }
        XCTAssertEqual(r.dev.qdisc.statsSnapshot().qlen, 30)
        XCTAssertEqual(r.dev.qdisc.stats.drops, 15)
        _ = r.drain()
        try r.runner.execute("link set eth0 txqueuelen 20")
        for prio: UInt32 in [6, 0, 2] { for _ in 0..<25 { r.enqueue(Self.udp(), priority: prio) } }
        XCTAssertEqual(r.dev.qdisc.statsSnapshot().qlen, 60)
        r.finish()
    }

    // MARK: fq_codel (fq_codel_classify, fq_codel_drop, codel_should_drop)

    func testFQCoDelClassifyWithFilters() throws {
        let r = try Rig(["qdisc add dev eth0 root handle 1: fq_codel",
                         "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 1 0xffff flowid 1:5",
                         "filter add dev eth0 parent 1: protocol ip prio 2 u32 match ip dport 2 0xffff action drop",
                         "filter add dev eth0 parent 1: protocol ip prio 3 u32 match ip dport 3 0xffff flowid 1:0",
                         "filter add dev eth0 parent 1: protocol ip prio 4 u32 match ip dport 4 0xffff flowid 1:2000"])
        let fq = r.dev.qdisc as! FQCoDelQdisc
        XCTAssertEqual(r.enqueue(Self.udp(dport: 1)), .success)
        XCTAssertEqual(fq.queues[4].count, 1, "class id minor 5 → flow 5")
        // No match, a drop verdict, minor 0, a minor beyond `flows`: dropped and counted.
        for d: UInt16 in [9, 2, 3, 4] { XCTAssertEqual(r.enqueue(Self.udp(dport: d)), .dropped, "dport \(d)") }
        XCTAssertEqual(fq.stats.drops, 4)
        // A priority naming this qdisc and a flow selects it; no filter runs (dport 2 would drop).
        XCTAssertEqual(r.enqueue(Self.udp(dport: 2), priority: 0x0001_0007), .success)
        XCTAssertEqual(fq.queues[6].count, 1)
        r.finish()
    }

    func testFQCoDelOverlimitDropRaisesTheFlowsCoDelCount() throws {
        let r = try Rig(["qdisc add dev eth0 root handle 1: fq_codel limit 100 drop_batch 8"])
        let fq = r.dev.qdisc as! FQCoDelQdisc
        for _ in 0..<100 { r.enqueue(Self.udp(dport: 1, length: 1000)) }
        for _ in 0..<20 { r.enqueue(Self.udp(dport: 2, length: 100)) }
        // The 101st packet overflowed the limit: up to half the fat flow's bytes, at most
        // drop_batch packets, were dropped from it, and its CoDel count grew by as many.
        let fat = (0..<fq.flowCount).max { fq.queues[$0].bytes < fq.queues[$1].bytes }!
        XCTAssertEqual(fq.dropOverlimit, 8 * 3, "three overflows of one batch each (101st, 109th, 117th packet)")
        XCTAssertEqual(fq.cvars[fat].count, 24)
        r.finish()
    }

    /// codel_should_drop's "less than one MTU queued" test reads the qdisc's whole backlog
    /// (fq_codel passes &sch->qstats.backlog), not the flow's: a flow holding one old packet
    /// is still subject to CoDel while other flows hold the queue.
    func testFQCoDelUsesTheQdiscBacklogForTheMTUTest() throws {
        let r = try Rig(["qdisc add dev eth0 root handle 1: fq_codel noecn"])
        let fq = r.dev.qdisc as! FQCoDelQdisc
        r.enqueue(Self.udp(dport: 1, length: 1000))                     // flow A: one packet
        for _ in 0..<20 { r.enqueue(Self.udp(dport: 2, length: 1000)) } // flow B: 20 packets
        let a = (0..<fq.flowCount).first { fq.queues[$0].count == 1 }!
        // A's packet has waited 200 ms, and its sojourn has been above target for an interval.
        r.dp.clock.advance(by: 200 * Time.ms)
        fq.cvars[a].firstAboveTime = r.dp.clock.now - 1
        let before = fq.codelDrops
        if let p = fq.dequeue() { r.dp.pool.free(p) }
        XCTAssertEqual(fq.codelDrops, before + 1, "A's packet is dropped: 20 KB are queued behind it in the qdisc")
        r.finish()
    }

    // MARK: tbf and netem are classful with one child

    /// psched_l2t_ns charges each packet its length plus the rate spec's overhead, rounded up
    /// to 48-byte ATM cells of 53 bytes with `linklayer atm`: 1000-byte frames through 10 Mbit/s
    /// with `overhead 500` leave at 10 × 1000/1500 Mbit/s of frame bytes; with ATM cells at
    /// 10 × 1000/(21 × 53) Mbit/s. `tc qdisc show` reads both back as tbf_print_opt prints them.
    func testTBFChargesOverheadAndATMCells() throws {
        for (opts, want) in [("overhead 500", 10e6 * 1000 / 1500), ("linklayer atm", 10e6 * 1000 / (21 * 53))] {
            let (_, out, report) = try replay([Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 2 * Time.s)], rate: "1gbit",
                                              ["qdisc add dev eth0 root handle 1: tbf rate 10mbit burst 32kb latency 400ms " + opts])
            XCTAssertEqual(throughput(out, from: 500 * Time.ms, to: 1900 * Time.ms) { dport($0) == 1 }, want, accuracy: want * 0.01, opts)
            XCTAssertTrue(report.text.contains(opts + " "), report.text)
        }
    }

    func testTBFWithAnFQCoDelChild() throws {
        let cfg = ["qdisc add dev eth0 root handle 1: tbf rate 10mbit burst 32kb latency 400ms",
                   "qdisc add dev eth0 parent 1:1 handle 10: fq_codel"]
        let (_, out, report) = try replay([Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 2 * Time.s),
                                           Flow(dport: 2, size: 1000, rate: 20_000_000, duration: 2 * Time.s)], rate: "1gbit", cfg)
        let a = throughput(out, from: 500 * Time.ms, to: 1900 * Time.ms) { dport($0) == 1 }
        let b = throughput(out, from: 500 * Time.ms, to: 1900 * Time.ms) { dport($0) == 2 }
        XCTAssertEqual(a + b, 10e6, accuracy: 10e6 * 0.01, "tbf's rate")
        XCTAssertEqual(a, b, accuracy: 10e6 * 0.02, "fq_codel shares it between the flows")
        XCTAssertTrue(report.text.contains("qdisc fq_codel 10: parent 1:1 limit"), report.text)
        // Both qdiscs keep statistics: what the child let out is what tbf sent; the child's
        // CoDel did the dropping (a bfifo child would only tail-drop at its byte limit).
        XCTAssertGreaterThan(sentOfQdisc(report.text, "qdisc fq_codel 10:"), 0, report.text)
        XCTAssertEqual(sentOfQdisc(report.text, "qdisc fq_codel 10:"), sentOfQdisc(report.text, "qdisc tbf 1:"), report.text)
        let fq = report.text.components(separatedBy: "qdisc fq_codel 10:").last ?? ""
        XCTAssertGreaterThan(number(fq, after: "dropped") ?? 0, 0, report.text)
    }

    func testNetemDelayWithARateLimitingChild() throws {
        let cfg = ["qdisc add dev eth0 root handle 1: netem delay 20ms",
                   "qdisc add dev eth0 parent 1:1 handle 10: tbf rate 5mbit burst 10kb latency 50ms"]
        let flows = [Flow(dport: 1, size: 1000, rate: 2_000_000, duration: 1 * Time.s)]
        let trace = makeTrace(flows)
        let (_, out, report) = try replay(flows, rate: "1gbit", cfg)
        XCTAssertEqual(out.count, trace.count, "2 Mbit/s fits under the child's 5 Mbit/s")
        // Every packet leaves 20 ms after it arrived (the child has tokens for it).
        for (o, i) in zip(out, trace) { XCTAssertEqual(Double(o.timestamp - i.timestamp), 20e6, accuracy: 0.2e6) }
        let (_, out2, _) = try replay([Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 1 * Time.s)], rate: "1gbit", cfg)
        XCTAssertEqual(throughput(out2, from: 300 * Time.ms, to: 900 * Time.ms), 5e6, accuracy: 5e6 * 0.02, "the child's rate")
        XCTAssertTrue(report.text.contains("qdisc tbf 10: parent 1:1 rate 5Mbit"), report.text)
    }

    func sentOfQdisc(_ text: String, _ prefix: String) -> Int {
        let lines = text.split(separator: "\n").map(String.init)
        guard let i = lines.firstIndex(where: { $0.hasPrefix(prefix) }), i + 1 < lines.count else { return -1 }
        return number(lines[i + 1], after: "Sent") ?? -1
    }
}
