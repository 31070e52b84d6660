import Foundation
import XCTest
@testable import Sluice

final class SFQTests: XCTestCase {
    /// A flood cannot starve a modest flow: SFQ drops from the longest queue.
    func testFloodDoesNotStarveAModestFlow() throws {
        let (_, out, report) = try replay([Flow(dport: 1, size: 1500, rate: 50_000_000, duration: 1 * Time.s),
                                           Flow(dport: 2, size: 500, rate: 2_000_000, duration: 1 * Time.s)], rate: "10mbit",
                                          ["qdisc add dev eth0 root sfq perturb 10"])
        let modest = throughput(out, from: 100 * Time.ms, to: 900 * Time.ms) { dport($0) == 2 }
        XCTAssertEqual(modest, 2e6, accuracy: 2e6 * 0.05, report.text)
        let flood = throughput(out, from: 100 * Time.ms, to: 900 * Time.ms) { dport($0) == 1 }
        XCTAssertEqual(flood, 8e6, accuracy: 8e6 * 0.05)
        let sentModest = out.filter { dport($0) == 2 }.count
        XCTAssertEqual(sentModest, makeTrace([Flow(dport: 2, size: 500, rate: 2_000_000, duration: 1 * Time.s)]).count, "no modest packet lost")
        XCTAssertTrue(report.text.contains("qdisc sfq 8001: root refcnt 2 limit 127p quantum 1514b depth 127 divisor 1024 perturb 10sec \n"), report.text)
    }

    func testTwoGreedyFlowsShareEqually() throws {
        let (_, out, _) = try replay([Flow(dport: 1, size: 1000, rate: 30_000_000, duration: 1 * Time.s),
                                      Flow(dport: 2, size: 1000, rate: 30_000_000, duration: 1 * Time.s)], rate: "10mbit",
                                     ["qdisc add dev eth0 root sfq"])
        let a = throughput(out, from: 100 * Time.ms, to: 900 * Time.ms) { dport($0) == 1 }
        XCTAssertEqual(a, 5e6, accuracy: 5e6 * 0.05)
    }
}

/// sfq with RED per flow (sfq_enqueue's red_parms path): expected values from red.h's
/// thresholds and sfq_enqueue's accounting.
final class SFQREDTests: XCTestCase {
    let flood = Flow(dport: 1, size: 1000, rate: 12_000_000, duration: 2 * Time.s)

    /// Mean sojourn (ms) of the flow's packets that left in the second half of the run.
    func sojourn(_ out: [PcapFile.Record], _ f: Flow) -> Double {
        let gap = l2t(f.size, f.rate)
        let late = out.filter { $0.timestamp >= t0 + Time.s && $0.timestamp < t0 + 2 * Time.s }
        return late.map { Double($0.timestamp - (t0 + f.start + UInt64(seqOf($0)) * gap)) / 1e6 }.reduce(0, +) / Double(max(late.count, 1))
    }

    /// A 12 Mbit/s flood into 10 Mbit/s: plain sfq lets the flow fill its 127-packet depth
    /// (127 kB, 102 ms at 10 Mbit/s); with RED between 8000 and 60000 bytes the flow's average
    /// backlog settles where RED's early drops remove the excess sixth (p_b ≈ 0.09 with
    /// max_P 0.2: about 32 kB, 25 ms), well under max (48 ms).
    func testPerFlowREDKeepsTheFlowsQueueUnderMax() throws {
        let (_, plain, _) = try replay([flood], rate: "10mbit", ["qdisc add dev eth0 root sfq"])
        let (rp, out, report) = try replay([flood], rate: "10mbit", ["qdisc add dev eth0 root sfq redflowlimit 100000 min 8000 max 60000 probability 0.2"])
        let q = try XCTUnwrap(rp.dev.qdisc as? SFQQdisc)
        let s0 = sojourn(plain, flood), s1 = sojourn(out, flood)
        print(String(format: "sfq flood sojourn: plain %.1f ms, per-flow RED %.1f ms; prob_drop %u forced_drop %u", s0, s1, q.probDrop, q.forcedDrop))
        XCTAssertEqual(s0, 127 * 0.8, accuracy: 3, "plain sfq: a full 127-packet flow")
        XCTAssertLessThan(s1, 60_000 * 8 / 10e6 * 1000 * 0.8, report.text)
        XCTAssertGreaterThan(s1, 8_000 * 8 / 10e6 * 1000 / 2)
        XCTAssertGreaterThan(q.probDrop, 100)
        XCTAssertEqual(Int(q.probDrop + q.forcedDrop) + out.count, makeTrace([flood]).count, "every loss is RED's")
        XCTAssertTrue(report.text.contains("ewma 6 min 8000b max 60000b probability 0.2 \n  prob_mark 0 prob_mark_head 0 prob_drop \(q.probDrop)"), report.text)
    }

    /// The same flood ECN-capable (ECT(0)) with `ecn`: RED marks CE instead of dropping (above
    /// max too, without `harddrop`), the marked packets are the ones that leave with CE, and an
    /// unresponsive flow then meets the flow's depth.
    func testECNMarksInsteadOfDropping() throws {
        var f = flood
        f.tos = 0x02
        let (rp, out, report) = try replay([f], rate: "10mbit", ["qdisc add dev eth0 root sfq limit 127 redflowlimit 100000 min 8000 max 60000 probability 0.2 ecn"])
        let q = try XCTUnwrap(rp.dev.qdisc as? SFQQdisc)
        let ce = out.filter { $0.data[15] & 3 == 3 }.count
        print("sfq ecn: prob_mark \(q.probMark) forced_mark \(q.forcedMark) prob_drop \(q.probDrop), CE on the wire \(ce)")
        XCTAssertGreaterThan(q.probMark + q.forcedMark, 100, report.text)
        XCTAssertEqual(q.probDrop + q.forcedDrop, 0)
        XCTAssertEqual(ce, Int(q.probMark + q.forcedMark))
    }
}

final class REDTests: XCTestCase {
    func red(_ opts: String) throws -> REDQdisc {
        let env = QdiscEnv(pool: PacketPool(capacity: 16), clock: .virtual(), mtu: 1514, txQueueLen: 1000)
        let q = REDQdisc(handle: TcHandle(1, 0), parent: .root, env: env)
        var a = TcArgs(opts.split(separator: " ").map(String.init))
        try QdiscGrammar.change(q, &a)
        return q
    }

    /// p_b rises linearly from 0 at min to `probability` at max; above max, everything.
    func testProbabilityCurve() throws {
        let q = try red("limit 400000 min 30000 max 90000 avpkt 1000 burst 55 probability 0.1")
        XCTAssertEqual(q.baseProbability(29_999), 0)
        XCTAssertEqual(q.baseProbability(30_000), 0, accuracy: 1e-12)
        XCTAssertEqual(q.baseProbability(60_000), 0.05, accuracy: 1e-12)
        XCTAssertEqual(q.baseProbability(75_000), 0.075, accuracy: 1e-12)
        XCTAssertEqual(q.baseProbability(90_000), 1)
    }

    /// With count-based spreading, the gap between drops is uniform on 1…1/p_b, so the drop
    /// rate is 2·p_b/(1 + p_b) (Floyd & Jacobson 1993, §7; the kernel's red_action).
    /// red.h's fixed point gives the same spreading: at an average halfway between min and
    /// max with max_P 0.1, p_b = 0.05 and the drop rate 2·p_b/(1 + p_b).
    func testFixedPointREDSpreadsDropsAlike() {
        let p = REDParms(qthMin: 30_000, qthMax: 90_000, wlog: 9, plog: 0, scellLog: 0, maxP: UInt32(0.1 * 4294967296.0))
        var v = REDVars(), rng = Sluice.SplitMix(seed: 7)
        let n = 100_000
        var drops = 0
        for _ in 0..<n where p.action(&v, UInt64(60_000) << 9, &rng) == .probMark { drops += 1 }
        XCTAssertEqual(Double(drops) / Double(n), 2 * 0.05 / 1.05, accuracy: 0.003)
        XCTAssertEqual(p.action(&v, UInt64(29_999) << 9, &rng), .dontMark)
        XCTAssertEqual(p.action(&v, UInt64(90_000) << 9, &rng), .hardMark)
        XCTAssertEqual(p.minThreshold, 30_000)
        // Without max_P, red_set_parms takes (max − min) / 2^Plog.
        XCTAssertEqual(REDParms(qthMin: 100, qthMax: 300, wlog: 2, plog: 8, scellLog: 0, maxP: 0).maxP, (UInt32.max >> 8) &* 200)
    }

    func testEmpiricalDropRateMatchesTheSpreading() throws {
        let q = try red("limit 400000 min 30000 max 90000 avpkt 1000 burst 55 probability 0.1")
        let n = 100_000
        var drops = 0
        for _ in 0..<n where q.decide(60_000).drop { drops += 1 }
        let pb = 0.05
        XCTAssertEqual(Double(drops) / Double(n), 2 * pb / (1 + pb), accuracy: 0.003)
        var below = 0, above = 0
        for _ in 0..<1000 { if q.decide(10_000).drop { below += 1 }; if q.decide(95_000).drop { above += 1 } }
        XCTAssertEqual(below, 0)
        XCTAssertEqual(above, 1000)
    }

    func testEwmaWeightFromBurstAsTc() throws {
        // tc_red_eval_ewma(qmin 30000, burst 55, avpkt 1000) gives Wlog 8 … let the formula speak:
        let q = try red("limit 400000 min 30000 max 90000 avpkt 1000 burst 55 probability 0.1")
        let W = 1.0 / Double(1 << q.wlog)
        let a = 55.0 + 1 - 30.0
        XCTAssertLessThanOrEqual(a, (1 - pow(1 - W, 55)) / W)
        let W2 = W * 2
        XCTAssertGreaterThan(a, (1 - pow(1 - W2, 55)) / W2, "the smallest such Wlog")
        XCTAssertThrowsError(try red("limit 400000 min 30000 max 90000 avpkt 1000 burst 10"))
    }

    func testLiveQueueDropsEarlyUnderLoad() throws {
        let (_, out, report) = try replay([Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 1 * Time.s)], rate: "10mbit",
                                          ["qdisc add dev eth0 root red limit 400kb min 30kb max 90kb avpkt 1000 burst 55 probability 0.1 bandwidth 10mbit"])
        XCTAssertEqual(throughput(out, from: 200 * Time.ms, to: 900 * Time.ms), 10e6, accuracy: 0.5e6)
        XCTAssertTrue(report.text.range(of: #"early [1-9]"#, options: .regularExpression) != nil, report.text)
    }
}

extension REDTests {
    /// red_enqueue in `ecn nodrop` mode: a packet RED picks that is not ECN-capable is queued,
    /// not dropped, so every drop is the child's (pdrop) — the queue fills to its byte limit
    /// as a plain fifo would. The same overload without nodrop drops early.
    func testNodropQueuesWhatCannotBeMarked() throws {
        let cfg = "limit 400kb min 30kb max 90kb avpkt 1000 burst 55 probability 0.1 bandwidth 10mbit ecn"
        let (rp, _, report) = try replay([Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 1 * Time.s)], rate: "10mbit",
                                         ["qdisc add dev eth0 root handle 1: red " + cfg + " nodrop"])
        let q = try XCTUnwrap(rp.dev.qdisc as? REDQdisc)
        XCTAssertGreaterThan(q.early + q.forced, 0, report.text)
        XCTAssertEqual(q.marked, 0)
        XCTAssertGreaterThan(q.pdrop, 0)
        XCTAssertEqual(q.stats.drops, q.pdrop, report.text)
        XCTAssertTrue(report.text.contains("ecn nodrop "), report.text)
        XCTAssertThrowsError(try red("limit 400000 min 30000 max 90000 avpkt 1000 burst 55 nodrop"), "nodrop needs ecn")
    }

    /// red_adaptative_algo every 500 ms: under an overload that keeps the average above
    /// min + 0.6 (max − min), max_P grows by min(1 %, max_P / 4) per tick from 2 %: after the
    /// ticks at 0.5 s and 1 s, 2 % → 2.5 % → 3.125 %; the class the child lives in is shown.
    func testAdaptiveRaisesMaxPUnderOverload() throws {
        let (rp, _, report) = try replay([Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 1_100 * Time.ms)], rate: "10mbit",
                                         ["qdisc add dev eth0 root handle 1: red limit 400kb min 30kb max 90kb avpkt 1000 burst 55 probability 0.02 bandwidth 10mbit adaptive"])
        let q = try XCTUnwrap(rp.dev.qdisc as? REDQdisc)
        XCTAssertEqual(q.maxP, 0.03125, accuracy: 1e-9, report.text)
        XCTAssertTrue(report.text.contains("adaptive "), report.text)
        XCTAssertEqual(q.classes(details: false).map(\.classid), [TcHandle(1, 1)])
    }
}

final class DRRTests: XCTestCase {
    /// Byte shares follow the quanta: 1500 and 4500 give 1:3.
    func testByteSharesFollowQuanta() throws {
        let cfg = ["qdisc add dev eth0 root handle 1: drr",
                   "class add dev eth0 parent 1: classid 1:1 drr quantum 1500",
                   "class add dev eth0 parent 1: classid 1:2 drr quantum 4500",
                   "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 1 0xffff flowid 1:1",
                   "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 2 0xffff flowid 1:2"]
        let (_, out, report) = try replay([Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 1 * Time.s),
                                           Flow(dport: 2, size: 300, rate: 20_000_000, duration: 1 * Time.s)], rate: "10mbit", cfg)
        let a = throughput(out, from: 100 * Time.ms, to: 900 * Time.ms) { dport($0) == 1 }
        let b = throughput(out, from: 100 * Time.ms, to: 900 * Time.ms) { dport($0) == 2 }
        XCTAssertEqual(a / (a + b), 0.25, accuracy: 0.02, report.text)
    }

    func testUnclassifiedIsDropped() throws {
        let (_, out, report) = try replay([Flow(dport: 9, size: 1000, rate: 1_000_000, duration: 100 * Time.ms)], rate: "10mbit",
                                          ["qdisc add dev eth0 root handle 1: drr", "class add dev eth0 parent 1: classid 1:1 drr"])
        XCTAssertEqual(out.count, 0)
        XCTAssertTrue(report.text.contains("qdisc drr 1:"), report.text)
    }
}

/// ets (sch_ets.c): strict bands first, then deficit round robin by byte quanta among the
/// ETS bands, bands chosen by filters' class ids or the priomap.
final class ETSTests: XCTestCase {
    /// Band 1 (strict) takes the 2 Mbit/s it offers; bands 2 and 3 share the other 8 Mbit/s of
    /// the line by their quanta, 1500 : 4500 bytes = 1 : 3 (2 and 6 Mbit/s).
    func testStrictThenQuantaShares() throws {
        let cfg = ["qdisc add dev eth0 root handle 1: ets bands 3 strict 1 quanta 1500 4500",
                   "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 1 0xffff flowid 1:1",
                   "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 2 0xffff flowid 1:2",
                   "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 3 0xffff flowid 1:3"]
        let (_, out, report) = try replay([Flow(dport: 1, size: 1000, rate: 2_000_000, duration: 1 * Time.s),
                                           Flow(dport: 2, size: 1000, rate: 20_000_000, duration: 1 * Time.s),
                                           Flow(dport: 3, size: 300, rate: 20_000_000, duration: 1 * Time.s)], rate: "10mbit", cfg)
        let a = throughput(out, from: 100 * Time.ms, to: 900 * Time.ms) { dport($0) == 1 }
        let b = throughput(out, from: 100 * Time.ms, to: 900 * Time.ms) { dport($0) == 2 }
        let c = throughput(out, from: 100 * Time.ms, to: 900 * Time.ms) { dport($0) == 3 }
        XCTAssertEqual(a, 2e6, accuracy: 2e6 * 0.05, report.text)
        XCTAssertEqual(b / (b + c), 0.25, accuracy: 0.02, report.text)
        XCTAssertTrue(report.text.contains("qdisc ets 1: root refcnt 2 bands 3 strict 1 quanta 1500 4500 priomap 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 "), report.text)
    }

    /// Without filters the priomap decides: priority 6 → band 1 (strict), the rest → the last.
    func testPriomapAndUnmappedPriorities() throws {
        let env = QdiscEnv(pool: PacketPool(capacity: 16), clock: .virtual(), mtu: 1514, txQueueLen: 1000)
        let q = ETSQdisc(handle: TcHandle(1, 0), parent: .root, env: env)
        var a = TcArgs(["bands", "4", "strict", "2", "priomap", "3", "2", "1", "0", "3", "3", "0"])
        try QdiscGrammar.change(q, &a)
        XCTAssertEqual(q.band(priority: 6), 0)
        XCTAssertEqual(q.band(priority: 2), 1)
        XCTAssertEqual(q.band(priority: 9), 3, "unmapped priorities go to the last band")
        XCTAssertEqual(q.band(priority: 0x10003), 3, "a priority with a major number takes priomap[0]")
        XCTAssertEqual(Array(q.quanta[2..<4]), [1514, 1514], "ETS bands without a quantum get the MTU")
        var bad = TcArgs(["bands", "2", "priomap", "0", "2"])
        XCTAssertThrowsError(try QdiscGrammar.change(q, &bad))
    }
}

/// skbprio and plug (sch_skbprio.c, sch_plug.c) on packets.
final class SkbprioAndPlugTests: XCTestCase {
    func env() -> QdiscEnv { QdiscEnv(pool: PacketPool(capacity: 64), clock: .virtual(), mtu: 1514, txQueueLen: 1000) }
    func packet(_ e: QdiscEnv, priority: UInt32, tag: UInt8) -> Packet {
        let f = FrameBuilder.udpFrame(dst: macB, src: macA, sport: UInt16(tag), dport: 9, frameLength: 100)
        let p = must(e.pool.alloc())
        f.withUnsafeBytes { e.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
        e.pool.metas[Int(p.index)].priority = priority
        e.pool.metas[Int(p.index)].pktLen = 100
        return p
    }
    func tag(_ e: QdiscEnv, _ p: borrowing Packet) -> UInt8 { e.pool.data(p).load(fromByteOffset: 14 + 20 + 1, as: UInt8.self) }

    /// Higher priorities first; when full, a higher arrival pushes out the tail of the lowest
    /// queued priority, and an arrival at or below the lowest is dropped.
    func testSkbprioServesHighFirstAndDropsTheLowestWhenFull() throws {
        let e = env()
        let q = SkbprioQdisc(handle: TcHandle(1, 0), parent: .root, env: e)
        q.limit = 3
        XCTAssertEqual(q.enqueue(packet(e, priority: 1, tag: 1)), .success)
        XCTAssertEqual(q.enqueue(packet(e, priority: 5, tag: 2)), .success)
        XCTAssertEqual(q.enqueue(packet(e, priority: 1, tag: 3)), .success)
        XCTAssertEqual(q.enqueue(packet(e, priority: 0, tag: 4)), .dropped, "below the lowest queued")
        XCTAssertEqual(q.enqueue(packet(e, priority: 9, tag: 5)), .congestion, "takes the place of priority 1's tail")
        var order: [UInt8] = []
        while let p = q.dequeue() { order.append(tag(e, p)); e.pool.free(p) }
        XCTAssertEqual(order, [5, 2, 1])
        XCTAssertEqual(q.stats.drops, 2)
        XCTAssertEqual(q.classes(details: false)[1].stats?.drops, 1, "priority 1 lost one")
        XCTAssertEqual(e.pool.inUse, 0)
    }

    /// Nothing leaves a new plug; `block` closes an epoch that `release` lets out, packets
    /// after it wait; `release_indefinite` opens it until the next `block`.
    func testPlugReleasesWhatWasBufferedBeforeTheBlock() throws {
        let e = env()
        let q = PlugQdisc(handle: TcHandle(1, 0), parent: .root, env: e)
        for t: UInt8 in 1...3 { XCTAssertEqual(q.enqueue(packet(e, priority: 0, tag: t)), .success) }
        if let p = q.dequeue() { XCTFail("a new plug holds"); e.pool.free(p) }
        try q.apply(action: PlugQdisc.buffer, limit: 0, initial: false)
        _ = q.enqueue(packet(e, priority: 0, tag: 4))
        try q.apply(action: PlugQdisc.releaseOne, limit: 0, initial: false)
        var out: [UInt8] = []
        while let p = q.dequeue() { out.append(tag(e, p)); e.pool.free(p) }
        XCTAssertEqual(out, [1, 2, 3], "the epoch closed by block, not the packet after it")
        try q.apply(action: PlugQdisc.releaseIndefinite, limit: 0, initial: false)
        while let p = q.dequeue() { out.append(tag(e, p)); e.pool.free(p) }
        _ = q.enqueue(packet(e, priority: 0, tag: 5))
        while let p = q.dequeue() { out.append(tag(e, p)); e.pool.free(p) }
        XCTAssertEqual(out, [1, 2, 3, 4, 5])
        try q.apply(action: PlugQdisc.buffer, limit: 0, initial: false)
        _ = q.enqueue(packet(e, priority: 0, tag: 6))
        if let p = q.dequeue() { XCTFail("plugged again"); e.pool.free(p) }
        q.purge()
        XCTAssertEqual(e.pool.inUse, 0)
    }
}

/// choke (sch_choke.c): RED plus CHOKe's flow match.
final class ChokeTests: XCTestCase {
    /// An unresponsive 20 Mbit/s flow and a 2 Mbit/s one share a 10 Mbit/s line. RED drops
    /// both at the same rate; CHOKe's random draw mostly finds the big flow's packets, so the
    /// small flow loses far less under choke than under red with the same thresholds, and the
    /// matched drops are counted.
    func testChokePunishesTheFlowThatFillsTheQueue() throws {
        let flows = [Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 2 * Time.s),
                     Flow(dport: 2, size: 1000, rate: 2_000_000, duration: 2 * Time.s)]
        let (crp, cout, creport) = try replay(flows, rate: "10mbit", ["qdisc add dev eth0 root choke limit 1000 bandwidth 10mbit min 30 max 90 probability 0.1"])
        let (_, rout, _) = try replay(flows, rate: "10mbit", ["qdisc add dev eth0 root red limit 1000000 min 30000 max 90000 avpkt 1000 burst 50 probability 0.1 bandwidth 10mbit"])
        let offered = 2_000_000.0 * 2 / 8 / 1000          // the small flow's packets
        let chokeSmall = Double(cout.filter { dport($0) == 2 }.count), redSmall = Double(rout.filter { dport($0) == 2 }.count)
        print("choke: small flow \(chokeSmall) of \(offered) delivered (red: \(redSmall))")
        XCTAssertGreaterThan(chokeSmall, redSmall, creport.text)
        XCTAssertGreaterThan(chokeSmall / offered, 0.9, creport.text)
        let q = try XCTUnwrap(crp.dev.qdisc as? ChokeQdisc)
        XCTAssertGreaterThan(q.matched, 100)
        XCTAssertTrue(creport.text.contains("matched \(q.matched)"), creport.text)
    }
}

/// hhf (sch_hhf.c): heavy hitters found by the multi-stage filter wait behind the rest.
final class HHFTests: XCTestCase {
    /// A 50 Mbit/s elephant — more than admit_bytes (128 KiB) per reset_timeout (40 ms) — and
    /// four 0.5 Mbit/s mice share a 10 Mbit/s line: the elephant is caught (one heavy hitter)
    /// and queued apart, the mice keep what they send, where a plain FIFO drops from all of
    /// them alike.
    func testMiceKeepTheirShareBesideAnElephant() throws {
        var flows = [Flow(dport: 1, size: 1000, rate: 50_000_000, duration: 2 * Time.s)]
        for d: UInt16 in 2...5 { flows.append(Flow(dport: d, size: 500, rate: 500_000, duration: 2 * Time.s)) }
        let (rp, out, report) = try replay(flows, rate: "10mbit", ["qdisc add dev eth0 root hhf"])
        let (_, fifo, _) = try replay(flows, rate: "10mbit", ["qdisc add dev eth0 root pfifo limit 1000"])
        let offered = 4.0 * 500_000 * 2 / 8 / 500
        let mice = Double(out.filter { dport($0) != 1 }.count), fifoMice = Double(fifo.filter { dport($0) != 1 }.count)
        print("hhf: mice \(mice) of \(offered) delivered (pfifo: \(fifoMice))")
        XCTAssertGreaterThan(mice / offered, 0.97, report.text)
        XCTAssertLessThan(fifoMice / offered, 0.8)
        let q = try XCTUnwrap(rp.dev.qdisc as? HHFQdisc)
        XCTAssertEqual(q.hhTotal, 1, "one heavy hitter: the elephant")
        XCTAssertTrue(report.text.contains("tot_hh 1"), report.text)
    }
}

/// sfb (sch_sfb.c): Blue probabilities per Bloom-filter bin.
final class SFBTests: XCTestCase {
    /// A non-responsive 20 Mbit/s flow keeps its bins full, so Blue raises their probability
    /// until its early drops hold it to what the line leaves; four 0.5 Mbit/s flows, whose
    /// bins stay short, keep what they send — where a 1000-packet FIFO drops most of theirs.
    func testFlowsThatFillTheirBinsAreDroppedEarly() throws {
        var flows = [Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 2 * Time.s)]
        for d: UInt16 in 2...5 { flows.append(Flow(dport: d, size: 500, rate: 500_000, duration: 2 * Time.s)) }
        let (rp, out, report) = try replay(flows, rate: "10mbit", ["qdisc add dev eth0 root sfb"])
        let (_, fifo, _) = try replay(flows, rate: "10mbit", ["qdisc add dev eth0 root pfifo limit 1000"])
        let mice = out.filter { dport($0) != 1 }.count, fifoMice = fifo.filter { dport($0) != 1 }.count
        print("sfb: mice \(mice) of 1000 (pfifo \(fifoMice))")
        XCTAssertGreaterThan(Double(mice) / 1000, 0.95, report.text)
        XCTAssertLessThan(Double(fifoMice) / 1000, 0.5)
        let q = try XCTUnwrap(rp.dev.qdisc as? SFBQdisc)
        XCTAssertGreaterThan(q.earlydrop, 1000)
        XCTAssertEqual(q.marked, 0, "Not-ECT packets are dropped, not marked")
    }
}

final class PIETests: XCTestCase {
    /// PIE against an unresponsive overload (RFC 8033 §4): 20 Mbit/s of 1000-byte UDP into a
    /// 10 Mbit/s line for 20 s. A 1000-packet FIFO would hold 800 ms. PIE's probability climbs
    /// (slowly while small: alpha and beta are scaled down), overshoots, and settles: over the
    /// last 8 s the sojourn time averages near the 15 ms target and half the packets go.
    func testPIEHoldsTheQueueingDelayNearItsTarget() throws {
        let gap = l2t(1000, 20_000_000)
        let (rp, out, _) = try replay([Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 20 * Time.s)], rate: "10mbit",
                                      ["qdisc add dev eth0 root pie"])
        let late = out.filter { $0.timestamp > t0 + 12 * Time.s }
        let delays = late.map { Double($0.timestamp - (t0 + UInt64(seqOf($0)) * gap)) / 1e6 }
        let mean = delays.reduce(0, +) / Double(delays.count)
        print("pie: mean sojourn \(mean) ms over the last 8 s, \(out.count) of 50000 delivered")
        XCTAssertEqual(mean, 15, accuracy: 6, "mean sojourn (ms) over the last 8 s")
        XCTAssertLessThan(delays.max() ?? 1e9, 100)
        XCTAssertEqual(Double(out.count) / 50_000, 0.5, accuracy: 0.05, "delivered share")
        let q = try XCTUnwrap(rp.dev.qdisc as? PIEQdisc)
        XCTAssertGreaterThan(q.dropped, 20_000)
        XCTAssertEqual(q.packetsIn + q.dropped, 50_000)
    }

    /// The same overload with `dq_rate_estimator` (RFC 8033 §5.3): the delay is the backlog
    /// over a drain rate measured every 16 KiB dequeued. The rate it reports must be the line's
    /// 10 Mbit/s (1 250 000 bytes/s, within the estimator's granularity), and the delay it
    /// controls must again settle near the target.
    func testPIEWithTheDrainRateEstimatorMeasuresTheLine() throws {
        let gap = l2t(1000, 20_000_000)
        var rate: UInt32 = 0, xstats = ""
        let (_, out, _) = try replay([Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 20 * Time.s)], rate: "10mbit",
                                     ["qdisc add dev eth0 root pie dq_rate_estimator"]) { rp in
            let q = try XCTUnwrap(rp.dev.qdisc as? PIEQdisc)
            rate = PIE.avgDqRateBytes(q.vars)
            xstats = QdiscShow.xstats(q) ?? ""
        }
        let late = out.filter { $0.timestamp > t0 + 12 * Time.s }
        let delays = late.map { Double($0.timestamp - (t0 + UInt64(seqOf($0)) * gap)) / 1e6 }
        let mean = delays.reduce(0, +) / Double(delays.count)
        print("pie dq_rate_estimator: mean sojourn \(mean) ms over the last 8 s, \(out.count) of 50000 delivered, avg_dq_rate \(rate)")
        XCTAssertEqual(Double(rate), 1_250_000, accuracy: 1_250_000 * 0.03, "avg_dq_rate, bytes/s")
        XCTAssertEqual(mean, 15, accuracy: 6, "mean sojourn (ms) over the last 8 s")
        XCTAssertEqual(Double(out.count) / 50_000, 0.5, accuracy: 0.05, "delivered share")
        XCTAssertTrue(xstats.contains(" avg_dq_rate \(rate)\n"), xstats)
    }
}

final class FQPIETests: XCTestCase {
    /// fq_pie against an unresponsive flood (20 Mbit/s of 1000-byte UDP into 10 Mbit/s, as
    /// PIETests) beside a sparse flow (100-byte packets every 10 ms): the flood's own PIE holds
    /// its sojourn time near the 15 ms target, dropping early rather than at the 10 240-packet
    /// limit; the sparse flow, always new, waits at most for the packet on the line and one
    /// quantum of the flood (2 × 0.8 ms) and loses nothing. Under plain pie, for contrast, the
    /// sparse flow shares the flood's queue and its drops.
    func testSparseFlowIsolatedAndTheFloodHeldNearTarget() throws {
        let gap = l2t(1000, 20_000_000)
        let flows = [Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 20 * Time.s),
                     Flow(dport: 2, size: 100, rate: 80_000, duration: 20 * Time.s)]
        var xstats = ""
        let (_, out, _) = try replay(flows, rate: "10mbit", ["qdisc add dev eth0 root fq_pie"]) { rp in
            xstats = QdiscShow.xstats(try XCTUnwrap(rp.dev.qdisc as? FQPIEQdisc)) ?? ""
        }
        let sparse = out.filter { dport($0) == 2 }
        let worst = sparse.map { Double($0.timestamp - (t0 + UInt64(seqOf($0)) * 10 * Time.ms)) }.max() ?? 1e12
        let late = out.filter { dport($0) == 1 && $0.timestamp > t0 + 12 * Time.s }
        let delays = late.map { Double($0.timestamp - (t0 + UInt64(seqOf($0)) * gap)) / 1e6 }
        let mean = delays.reduce(0, +) / Double(delays.count)
        let (_, pieOut, _) = try replay(flows, rate: "10mbit", ["qdisc add dev eth0 root pie"])
        let pieSparse = pieOut.filter { dport($0) == 2 }.count
        print("fq_pie: flood mean sojourn \(mean) ms over the last 8 s; sparse \(sparse.count)/2000, worst \(worst / 1e6) ms (pie: \(pieSparse)/2000)\n\(xstats)")
        XCTAssertEqual(sparse.count, 2000, "sparse flow not dropped")
        XCTAssertLessThanOrEqual(worst, 1.6e6 + 1e3, "sparse flow delay \(worst / 1e6) ms")
        XCTAssertEqual(mean, 15, accuracy: 6, "flood mean sojourn (ms)")
        XCTAssertTrue(xstats.contains(" overlimit 0 "), xstats)
        XCTAssertEqual(throughput(out, from: 12 * Time.s, to: 20 * Time.s), 10e6, accuracy: 10e6 * 0.02, "the line stays full")
        XCTAssertLessThan(pieSparse, 1500, "under pie the sparse flow shares the flood's drops")
    }

    /// Byte fairness across two floods of different packet sizes (the DRR with quantum = MTU):
    /// each gets half of the line, each flow's controller acting on its own backlog.
    func testTwoFloodsShareTheLineByBytes() throws {
        let (_, out, _) = try replay([Flow(dport: 1, size: 1500, rate: 20_000_000, duration: 3 * Time.s),
                                      Flow(dport: 2, size: 300, rate: 20_000_000, duration: 3 * Time.s)], rate: "10mbit",
                                     ["qdisc add dev eth0 root fq_pie"])
        let a = throughput(out, from: 1 * Time.s, to: 3 * Time.s) { dport($0) == 1 }
        let b = throughput(out, from: 1 * Time.s, to: 3 * Time.s) { dport($0) == 2 }
        XCTAssertEqual(a, 5e6, accuracy: 5e6 * 0.05)
        XCTAssertEqual(b, 5e6, accuracy: 5e6 * 0.05)
    }

    /// `ecn`: while a flow's probability is at most `ecn_prob` (here 50 %), an ECN-capable
    /// packet chosen for an early drop is marked CE and queued instead; above it, dropped. An
    /// unresponsive ECT(0) flow 10 % over the line (marks do not slow it, so the queue and the
    /// probability climb until drops take over, then fall back) therefore sees CE marks first,
    /// before any drop, and many of them; every mark counted reaches the wire. A Not-ECT flow
    /// under the same qdisc is never marked.
    func testECNMarksBeforeDropping() throws {
        func run(tos: UInt8) throws -> (marks: UInt64, drops: UInt64, out: [PcapFile.Record]) {
            var marks: UInt64 = 0, drops: UInt64 = 0
            let (_, out, _) = try replay([Flow(dport: 1, size: 1000, rate: 11_000_000, duration: 10 * Time.s, tos: tos)], rate: "10mbit",
                                         ["qdisc add dev eth0 root fq_pie ecn ecn_prob 50"]) { rp in
                let q = try XCTUnwrap(rp.dev.qdisc as? FQPIEQdisc)
                marks = q.ecnMarked; drops = q.dropped
            }
            return (marks, drops, out)
        }
        let ect = try run(tos: 0x02)
        let ce = ect.out.filter { $0.data[15] & 0x03 == 0x03 }
        let firstCE = ce.map(seqOf).min() ?? .max
        var firstLost: UInt32 = .max
        for (i, r) in ect.out.enumerated() where seqOf(r) != UInt32(i) { firstLost = UInt32(i); break }
        print("fq_pie ecn: \(ect.marks) marked, \(ect.drops) dropped, \(ce.count) CE delivered of \(ect.out.count); first CE seq \(firstCE), first loss at \(firstLost)")
        XCTAssertGreaterThan(ect.marks, 100)
        XCTAssertEqual(UInt64(ce.count), ect.marks)
        XCTAssertLessThan(firstCE, firstLost, "marks come before drops")
        let plain = try run(tos: 0)
        XCTAssertEqual(plain.marks, 0)
        XCTAssertGreaterThan(plain.drops, 0)
        XCTAssertEqual(plain.out.filter { $0.data[15] & 0x03 == 0x03 }.count, 0)
    }
}

final class FQTests: XCTestCase {
    /// `maxrate` paces every flow (sch_fq's flow_max_rate): once a flow has used its credit,
    /// each packet — counted as at least one quantum — sets the flow's next departure
    /// `len / rate` later. Two flows offering 5 Mbit/s each on a 10 Mbit/s line leave at
    /// 2 Mbit/s each, the rest held back until each flow's 100-packet limit drops it
    /// (`flows_plimit`), while the line has room to spare.
    func testMaxratePacesEachFlow() throws {
        var xstats = "", throttled: UInt64 = 0, plimit: UInt64 = 0
        let (_, out, _) = try replay([Flow(dport: 1, size: 1000, rate: 5_000_000, duration: 4 * Time.s),
                                      Flow(dport: 2, size: 1000, rate: 5_000_000, duration: 4 * Time.s)], rate: "10mbit",
                                     ["qdisc add dev eth0 root fq maxrate 2mbit"]) { rp in
            let q = try XCTUnwrap(rp.dev.qdisc as? FQQdisc)
            xstats = QdiscShow.xstats(q) ?? ""; throttled = q.statThrottled; plimit = q.statFlowsPlimit
        }
        let a = throughput(out, from: 1 * Time.s, to: 4 * Time.s) { dport($0) == 1 }
        let b = throughput(out, from: 1 * Time.s, to: 4 * Time.s) { dport($0) == 2 }
        print("fq maxrate 2mbit: \(a / 1e6) and \(b / 1e6) Mbit/s\n\(xstats)")
        XCTAssertEqual(a, 2e6, accuracy: 2e6 * 0.05)
        XCTAssertEqual(b, 2e6, accuracy: 2e6 * 0.05)
        XCTAssertGreaterThan(throttled, 100)
        XCTAssertGreaterThan(plimit, 1000)
        XCTAssertTrue(xstats.contains(" flows_plimit \(plimit)"), xstats)
    }

    /// Without pacing fq is a deficit round robin over flows: two floods of 1500- and
    /// 300-byte packets share a 10 Mbit/s line by bytes.
    func testTwoFloodsShareTheLineByBytes() throws {
        let (_, out, _) = try replay([Flow(dport: 1, size: 1500, rate: 20_000_000, duration: 3 * Time.s),
                                      Flow(dport: 2, size: 300, rate: 20_000_000, duration: 3 * Time.s)], rate: "10mbit",
                                     ["qdisc add dev eth0 root fq"])
        let a = throughput(out, from: 1 * Time.s, to: 3 * Time.s) { dport($0) == 1 }
        let b = throughput(out, from: 1 * Time.s, to: 3 * Time.s) { dport($0) == 2 }
        XCTAssertEqual(a, 5e6, accuracy: 5e6 * 0.05)
        XCTAssertEqual(b, 5e6, accuracy: 5e6 * 0.05)
    }

    /// The fast path: a flow that never queues (one packet at a time on an idle line) takes
    /// the fast path every time, so no flow is ever created for it.
    func testFastPathWhileNothingQueues() throws {
        var fast: UInt64 = 0, flows = -1
        _ = try replay([Flow(dport: 1, size: 100, rate: 80_000, duration: 1 * Time.s)], rate: "10mbit",
                       ["qdisc add dev eth0 root fq"]) { rp in
            let q = try XCTUnwrap(rp.dev.qdisc as? FQQdisc)
            fast = q.statFastpath; flows = q.flows
        }
        XCTAssertEqual(fast, 100)
        XCTAssertEqual(flows, 0)
    }

    /// Flow reclaim (fq_gc): twenty flows that queued and went idle stay allocated; a lookup
    /// more than three seconds later reclaims the idle flows it passes in its bucket. With
    /// two buckets, four new floods at 5 s walk them: the `gc` count rises and the flows
    /// left are those created less those reclaimed.
    func testIdleFlowsAreReclaimedAfterThreeSeconds() throws {
        var phase1 = (1...20).map { Flow(dport: UInt16($0), size: 1000, rate: 1_000_000, duration: 500 * Time.ms) }
        phase1 += (100...103).map { Flow(dport: UInt16($0), size: 1000, rate: 5_000_000, start: 5 * Time.s, duration: 200 * Time.ms) }
        var gc: UInt64 = 0, flows = -1, xstats = ""
        _ = try replay(phase1, rate: "10mbit", ["qdisc add dev eth0 root fq buckets 2"]) { rp in
            let q = try XCTUnwrap(rp.dev.qdisc as? FQQdisc)
            gc = q.statGCFlows; flows = q.flows; xstats = QdiscShow.xstats(q) ?? ""
        }
        print("fq gc: \(xstats)")
        XCTAssertGreaterThan(gc, 0, xstats)
        XCTAssertEqual(flows, 24 - Int(gc), xstats)
        XCTAssertTrue(xstats.contains("  gc \(gc) "), xstats)
    }
}

final class HFSCTests: XCTestCase {
    /// Link-sharing: two backlogged leaves with `ls` curves of 3 and 7 Mbit/s under one parent
    /// share a 10 Mbit/s line 3:7 (the virtual times advance at 1/m2 per byte).
    func testLinkSharingFollowsTheCurves() throws {
        let (_, out, _) = try replay([Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 3 * Time.s),
                                      Flow(dport: 2, size: 1000, rate: 20_000_000, duration: 3 * Time.s)], rate: "10mbit",
                                     ["qdisc add dev eth0 root handle 1: hfsc",
                                      "class add dev eth0 parent 1: classid 1:1 hfsc ls rate 10mbit",
                                      "class add dev eth0 parent 1:1 classid 1:10 hfsc ls rate 3mbit",
                                      "class add dev eth0 parent 1:1 classid 1:20 hfsc ls rate 7mbit",
                                      "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 1 0xffff flowid 1:10",
                                      "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 2 0xffff flowid 1:20"])
        let a = throughput(out, from: 1 * Time.s, to: 3 * Time.s) { dport($0) == 1 }
        let b = throughput(out, from: 1 * Time.s, to: 3 * Time.s) { dport($0) == 2 }
        print("hfsc ls 3:7 → \(a / 1e6) and \(b / 1e6) Mbit/s")
        XCTAssertEqual(a, 3e6, accuracy: 3e6 * 0.05)
        XCTAssertEqual(b, 7e6, accuracy: 7e6 * 0.05)
    }

    /// `ul` caps link-sharing: a class alone on a 10 Mbit/s line with `ls rate 7mbit ul rate
    /// 2mbit` leaves at 2 Mbit/s (its fit time runs ahead of the clock otherwise).
    func testUpperLimitCapsLinkSharing() throws {
        let (_, out, _) = try replay([Flow(dport: 1, size: 1000, rate: 8_000_000, duration: 3 * Time.s)], rate: "10mbit",
                                     ["qdisc add dev eth0 root handle 1: hfsc default 10",
                                      "class add dev eth0 parent 1: classid 1:10 hfsc ls rate 7mbit ul rate 2mbit"])
        let a = throughput(out, from: 1 * Time.s, to: 3 * Time.s)
        print("hfsc ul 2mbit → \(a / 1e6) Mbit/s")
        XCTAssertEqual(a, 2e6, accuracy: 2e6 * 0.03)
    }

    /// Real-time: a leaf with only `rt rate 2mbit` offering exactly 2 Mbit/s gets all of it
    /// with a small delay (its deadline is one packet at 2 Mbit/s, 4 ms, plus the packet on the
    /// line) while a link-sharing flood takes the remaining 8 Mbit/s; the real-time work
    /// (`rtwork`) is what the leaf sent. (Its packets arrive 0.3 ms out of step with the
    /// flood's, so they do meet a packet on the line.)
    func testRealTimeGuaranteeBesideAFlood() throws {
        var x = ""
        let (_, out, _) = try replay([Flow(dport: 1, size: 1000, rate: 2_000_000, start: 300 * Time.us, duration: 3 * Time.s),
                                      Flow(dport: 2, size: 1000, rate: 20_000_000, duration: 3 * Time.s)], rate: "10mbit",
                                     ["qdisc add dev eth0 root handle 1: hfsc default 20",
                                      "class add dev eth0 parent 1: classid 1:10 hfsc rt rate 2mbit",
                                      "class add dev eth0 parent 1: classid 1:20 hfsc ls rate 10mbit",
                                      "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 1 0xffff flowid 1:10"]) { rp in
            let q = try XCTUnwrap(rp.dev.qdisc as? HFSCQdisc)
            x = q.classes(details: false).first { $0.classid.minor == 0x10 }?.xstats ?? ""
        }
        let rt = out.filter { dport($0) == 1 }
        let gap = l2t(1000, 2_000_000)
        let worst = rt.map { Double($0.timestamp - (t0 + 300 * Time.us + UInt64(seqOf($0)) * gap)) }.max() ?? 1e12
        let a = throughput(out, from: 1 * Time.s, to: 3 * Time.s) { dport($0) == 1 }
        let b = throughput(out, from: 1 * Time.s, to: 3 * Time.s) { dport($0) == 2 }
        print("hfsc rt 2mbit: \(rt.count)/750 delivered, worst delay \(worst / 1e6) ms, \(a / 1e6) + \(b / 1e6) Mbit/s;\(x)")
        XCTAssertEqual(rt.count, 750)
        XCTAssertLessThan(worst, 4.0e6 + 0.8e6 + 0.1e6)
        XCTAssertEqual(a, 2e6, accuracy: 2e6 * 0.03)
        XCTAssertEqual(b, 8e6, accuracy: 8e6 * 0.03)
        XCTAssertTrue(x.contains("rtwork 750000 bytes"), x)
    }
}

/// Filters attached to classes (`tc filter add … parent 1:1`): each class has its own block,
/// run when a filter above names that class while it is an inner class (htb_classify,
/// hfsc_classify). The expected classes follow from those walks.
final class ClassFilterTests: XCTestCase {
    func run(_ lines: [String]) throws -> (CommandRunner, [PcapFile.Record]) {
        var runner: CommandRunner!
        let (_, out, _) = try replay([Flow(dport: 1, size: 500, rate: 1_000_000, duration: 100 * Time.ms),
                                      Flow(dport: 2, size: 500, rate: 1_000_000, duration: 100 * Time.ms),
                                      Flow(dport: 3, size: 500, rate: 1_000_000, duration: 100 * Time.ms)], rate: "100mbit", lines) { rp in
            runner = rp.runner
        }
        return (runner, out)
    }
    func sent(_ show: String, _ cls: String) -> Int? {
        guard let r = show.range(of: "class \(cls) ") else { return nil }
        let rest = show[r.upperBound...]
        guard let s = rest.range(of: " Sent ") else { return nil }
        let n = rest[s.upperBound...].split(separator: " ")[2]
        return Int(n)
    }

    func testHTBInnerClassFiltersClassify() throws {
        let (r, out) = try run(["qdisc add dev eth0 root handle 1: htb default 30",
                                "class add dev eth0 parent 1: classid 1:1 htb rate 50mbit",
                                "class add dev eth0 parent 1:1 classid 1:10 htb rate 10mbit",
                                "class add dev eth0 parent 1:1 classid 1:20 htb rate 10mbit",
                                "class add dev eth0 parent 1: classid 1:30 htb rate 10mbit",
                                "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip protocol 17 0xff flowid 1:1",
                                "filter add dev eth0 parent 1:1 protocol ip prio 1 u32 match ip dport 1 0xffff flowid 1:10",
                                "filter add dev eth0 parent 1:1 protocol ip prio 2 u32 match ip dport 2 0xffff flowid 1:20"])
        XCTAssertEqual(out.count, 75)
        let show = try r.execute("-s class show dev eth0")
        XCTAssertEqual(sent(show, "htb 1:10"), 25, show)
        XCTAssertEqual(sent(show, "htb 1:20"), 25, show)
        XCTAssertEqual(sent(show, "htb 1:30"), 25, "dport 3: no verdict in 1:1's block, so the default class")
        XCTAssertEqual(try r.execute("filter show dev eth0").components(separatedBy: "flowid").count - 1, 1, "the qdisc's block holds one filter")
        XCTAssertTrue(try r.execute("filter show dev eth0 parent 1:1").contains("*flowid 1:20"))
        XCTAssertThrowsError(try r.execute("class del dev eth0 classid 1:20"), "a class filter names it")
        XCTAssertThrowsError(try r.execute("filter add dev eth0 parent 1:7 protocol ip prio 1 u32 match ip dport 9 0xffff flowid 1:10"))
    }

    func testHFSCFiltersOnlyPointDownwards() throws {
        // 1:1 and 1:2 are inner classes of the same level: 1:1's filter naming 1:2 does not
        // count (hfsc_classify: "filter may only point downwards", by level), so dport 2 falls
        // to the default class 1:30 instead of going on to 1:2's filter and its leaf 1:21.
        let (r, _) = try run(["qdisc add dev eth0 root handle 1: hfsc default 30",
                              "class add dev eth0 parent 1: classid 1:1 hfsc ls rate 50mbit",
                              "class add dev eth0 parent 1:1 classid 1:10 hfsc ls rate 10mbit",
                              "class add dev eth0 parent 1: classid 1:2 hfsc ls rate 10mbit",
                              "class add dev eth0 parent 1:2 classid 1:21 hfsc ls rate 10mbit",
                              "class add dev eth0 parent 1: classid 1:30 hfsc ls rate 10mbit",
                              "filter add dev eth0 parent 1:2 protocol ip prio 1 u32 match ip protocol 17 0xff flowid 1:21",
                              "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip protocol 17 0xff flowid 1:1",
                              "filter add dev eth0 parent 1:1 protocol ip prio 1 u32 match ip dport 1 0xffff flowid 1:10",
                              "filter add dev eth0 parent 1:1 protocol ip prio 2 u32 match ip dport 2 0xffff flowid 1:2"])
        let show = try r.execute("-s class show dev eth0")
        XCTAssertEqual(sent(show, "hfsc 1:10"), 25, show)
        XCTAssertEqual(sent(show, "hfsc 1:21"), 0, show)
        XCTAssertEqual(sent(show, "hfsc 1:30"), 50, show)
    }
}

/// gred (sch_gred.c): virtual queues picked by tc_index, each with its own RED, in one FIFO.
/// The expected values are sch_gred.c's rules: every arrival counts in its VQ's packetsin, what
/// a VQ loses is its early + forced + pdrop, a packet without a configured VQ and no default
/// passes within the qdisc's byte limit, and grio adds the averages of better VQs.
final class GREDTests: XCTestCase {
    /// Two 8 Mbit/s flows into 10 Mbit/s; a clsact egress classid gives the second tc_index 1.
    let flows = [Flow(dport: 1, size: 1000, rate: 8_000_000, duration: 2 * Time.s),
                 Flow(dport: 2, size: 1000, rate: 8_000_000, duration: 2 * Time.s)]
    let offered = 8_000_000 * 2 / 8 / 1000
    func config(_ setup: String, _ vqs: [String]) -> [String] {
        ["qdisc add dev eth0 clsact",
         "filter add dev eth0 egress protocol ip prio 1 u32 match ip dport 2 0xffff classid :1",
         "qdisc add dev eth0 root handle 1: gred setup " + setup] + vqs.map { "qdisc change dev eth0 root gred " + $0 }
    }

    func testEachVirtualQueueRunsItsOwnRED() throws {
        var avg = [UInt64](repeating: 0, count: 2)
        let (rp, out, report) = try replay(flows, rate: "10mbit", config("vqs 2 default 0", [
            "vq 0 limit 200KB min 15KB max 30KB avpkt 1000 probability 0.1",
            "vq 1 limit 200KB min 60KB max 120KB avpkt 1000 probability 0.1"])) { r in
            let g = try XCTUnwrap(r.dev.qdisc as? GREDQdisc)
            avg = [g.dumpVQ(0).vars.qavg, g.dumpVQ(1).vars.qavg]
        }
        let g = try XCTUnwrap(rp.dev.qdisc as? GREDQdisc)
        let got = [out.filter { dport($0) == 1 }.count, out.filter { dport($0) == 2 }.count]
        for i in 0..<2 {
            let v = g.vqs[i]
            XCTAssertEqual(Int(v.packetsin), offered, "every arrival counts in its VQ: \(report.text)")
            XCTAssertEqual(Int(v.packetsin - v.probDrop - v.forcedDrop - v.pdrop), got[i], "what a VQ loses is what its flow lost")
        }
        print("gred: VQ 0 (min 15KB) delivered \(got[0]), VQ 1 (min 60KB) \(got[1]) of \(offered) each; averages \(avg[0]) B, \(avg[1]) B")
        // The VQ with the lower thresholds is held near them and gives way to the other.
        XCTAssertLessThan(got[0], got[1], report.text)
        XCTAssertGreaterThan(g.vqs[0].probDrop, 0)
        XCTAssertLessThanOrEqual(avg[0], 30 * 1024 + 2000)
        XCTAssertEqual(got[0] + got[1], out.count)
        XCTAssertTrue(report.text.contains("vq 0 prio 8 limit 200Kb min 15Kb max 30Kb"), report.text)
        XCTAssertTrue(report.text.contains("Total packets: \(offered) "), report.text)
    }

    /// tc_index 1 names a VQ that is not configured, and so is the default: the packets pass
    /// within the qdisc's `limit` of bytes (a tail drop), and no VQ counts them.
    func testWithoutTheDefaultVQPacketsPassWithinTheLimit() throws {
        let (rp, out, _) = try replay([flows[1]].map { var f = $0; f.rate = 20_000_000; return f }, rate: "10mbit",
                                      config("vqs 4 default 1 limit 30000", ["vq 0 limit 200KB min 15KB max 30KB avpkt 1000"]))
        let g = try XCTUnwrap(rp.dev.qdisc as? GREDQdisc)
        XCTAssertEqual(g.vqs[0].packetsin, 0)
        // 2 s at 20 Mbit/s offered, 2 s of a 10 Mbit/s line (2500 packets of 1000 bytes) plus
        // the 30 packets the 30000-byte limit held when the flow stopped.
        let sent = 20_000_000 * 2 / 8 / 1000, line = 10_000_000 * 2 / 8 / 1000
        print("gred without a default VQ: \(out.count) delivered of \(sent), \(g.stats.drops) dropped")
        XCTAssertEqual(Int(g.stats.drops) + out.count, sent)
        XCTAssertEqual(out.count, line + 30, accuracy: 2)
    }

    /// grio: VQ 1 (prio 2) counts VQ 0's (prio 1) average with its own, so it is dropped
    /// sooner than in plain mode; two VQs of one priority switch on WRED (one shared average).
    func testGrioAddsTheAveragesOfBetterQueuesAndEqualPrioritiesMeanWRED() throws {
        let vqs = ["vq 0 prio 1 limit 200KB min 30KB max 90KB avpkt 1000 probability 0.1",
                   "vq 1 prio 2 limit 200KB min 30KB max 90KB avpkt 1000 probability 0.1"]
        let (_, plain, _) = try replay(flows, rate: "10mbit", config("vqs 2 default 0", vqs))
        let (rp, rio, _) = try replay(flows, rate: "10mbit", config("vqs 2 default 0 grio", vqs))
        let p1 = plain.filter { dport($0) == 2 }.count, r1 = rio.filter { dport($0) == 2 }.count
        let r0 = rio.filter { dport($0) == 1 }.count
        print("gred grio: VQ 1 delivered \(r1) (plain mode: \(p1)), VQ 0 \(r0)")
        XCTAssertLessThan(r1, p1)
        XCTAssertGreaterThan(r0, r1)
        let g = try XCTUnwrap(rp.dev.qdisc as? GREDQdisc)
        XCTAssertTrue(g.rio && !g.wred)
        try rp.runner.execute("qdisc change dev eth0 root gred vq 1 prio 1 limit 200KB min 30KB max 90KB avpkt 1000")
        XCTAssertTrue(g.wred, "two VQs of priority 1")
        XCTAssertTrue(try rp.runner.execute("qdisc show dev eth0").contains("vqs 2 default 0 grio limit"))
    }

    func testRefusals() throws {
        let dp = Datapath(poolSize: 64, clock: .virtual(start: 1))
        let r = CommandRunner(datapath: dp)
        try dp.addLine(name: "eth0", rate: 1_000_000_000, output: nil)
        for (line, msg) in [("qdisc add dev eth0 root gred vq 0 limit 1000 min 100 max 200 avpkt 100", "virtual queue configuration can't be specified at initialization time"),
                            ("qdisc add dev eth0 root gred setup vqs 17 default 0", "only 16 VQs"),
                            ("qdisc add dev eth0 root gred setup default 0", "\"default\" must be defined after \"vqs\""),
                            ("qdisc add dev eth0 root gred setup vqs 4 default 4", "\"default\" must be less than \"vqs\"")] {
            XCTAssertThrowsError(try r.execute(line), line) { XCTAssertTrue("\($0)".contains(msg), "\($0)") }
        }
        try r.execute("qdisc add dev eth0 root gred setup vqs 4 default 1")
        XCTAssertThrowsError(try r.execute("qdisc change dev eth0 root gred vq 5 limit 1000 min 100 max 200 avpkt 100")) {
            XCTAssertTrue("\($0)".contains("virtual queue index above virtual queue count"), "\($0)")
        }
        XCTAssertThrowsError(try r.execute("qdisc change dev eth0 root gred vq 1 limit 1000 min 100 avpkt 100")) {
            XCTAssertTrue("\($0)".contains("Required parameter"), "\($0)")
        }
        XCTAssertEqual(try r.execute("qdisc show dev eth0"), "qdisc gred 8001: root refcnt 2 vqs 4 default 1 limit 1514000b \n")
    }
}

/// etf (sch_etf.c): a packet is sent at its launch time, which only a local SO_TXTIME socket
/// gives; forwarded packets have none (is_packet_valid fails) and are dropped and counted.
final class ETFTests: XCTestCase {
    func testForwardedPacketsHaveNoLaunchTimeAndAreDropped() throws {
        let (rp, out, report) = try replay([Flow(dport: 1, size: 500, rate: 1_000_000, duration: 200 * Time.ms)], rate: "10mbit",
                                           ["qdisc add dev eth0 root etf clockid CLOCK_TAI delta 300000 skip_sock_check"])
        XCTAssertEqual(out.count, 0, report.text)
        XCTAssertEqual(Int(rp.dev.qdisc.stats.drops), makeTrace([Flow(dport: 1, size: 500, rate: 1_000_000, duration: 200 * Time.ms)]).count)
        XCTAssertTrue(report.text.contains("qdisc etf 8001: root refcnt 2 clockid TAI delta 300000 offload off deadline_mode off skip_sock_check on"), report.text)
    }

    func testConfigurationAsEtfInit() throws {
        let dp = Datapath(poolSize: 64, clock: .virtual(start: 1))
        let r = CommandRunner(datapath: dp)
        try dp.addLine(name: "eth0", rate: 1_000_000_000, output: nil)
        for (line, msg) in [("qdisc add dev eth0 root etf delta 100", "must set \"clockid\""),
                            ("qdisc add dev eth0 root etf clockid CLOCK_REALTIME", "CLOCK_TAI must be used"),
                            ("qdisc add dev eth0 root etf clockid CLOCK_TAI delta -5", "Delta must be positive"),
                            ("qdisc add dev eth0 root etf clockid CLOCK_TAI offload", "does not support ETF offload"),
                            ("qdisc add dev eth0 root mq", "Operation not supported")] {
            XCTAssertThrowsError(try r.execute(line), line) { XCTAssertTrue("\($0)".contains(msg), "\(line): \($0)") }
        }
        try r.execute("qdisc add dev eth0 root handle 1: etf clockid CLOCK_TAI deadline_mode")
        XCTAssertEqual(try r.execute("qdisc show dev eth0"), "qdisc etf 1: root refcnt 2 clockid TAI delta 0 offload off deadline_mode on skip_sock_check off\n")
        XCTAssertThrowsError(try r.execute("qdisc change dev eth0 root etf clockid CLOCK_TAI delta 5"))
    }
}

/// multiq (sch_multiq.c) on packets: the band is skb->queue_mapping (band 0 when it names no
/// band), bands are served round robin from the one after the last served, and a device
/// with fewer queues in use than it has gets that many bands.
final class MultiqTests: XCTestCase {
    func env(queues: Int, inUse: Int) -> QdiscEnv {
        var e = QdiscEnv(pool: PacketPool(capacity: 64), clock: .virtual(), mtu: 1514, txQueueLen: 4)
        e.txQueues = queues; e.realTxQueues = inUse
        return e
    }
    func packet(_ e: QdiscEnv, queue: UInt16, tag: UInt8) -> Packet {
        let f = FrameBuilder.udpFrame(dst: macB, src: macA, sport: UInt16(tag), dport: 9, frameLength: 100)
        let p = must(e.pool.alloc())
        f.withUnsafeBytes { e.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
        e.pool.metas[Int(p.index)].queueMapping = queue
        e.pool.metas[Int(p.index)].pktLen = 100
        return p
    }
    func tag(_ e: QdiscEnv, _ p: borrowing Packet) -> UInt8 { e.pool.data(p).load(fromByteOffset: 14 + 20 + 1, as: UInt8.self) }

    func testBandIsTheQueueMappingServedRoundRobin() throws {
        let e = env(queues: 4, inUse: 3)
        let q = MultiqQdisc(handle: TcHandle(1, 0), parent: .root, env: e)
        var a = TcArgs([])
        try QdiscGrammar.change(q, &a)
        XCTAssertEqual(QdiscShow.options(q, details: false), "bands 3/4 ")
        XCTAssertEqual(q.classes(details: false).map { "\($0.classid)" }, ["1:1", "1:2", "1:3"])
        // Queue 3 exists but is not in use: band 0, as queue 7.
        for (queue, t) in [(0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (7, 6)] as [(UInt16, UInt8)] {
            XCTAssertEqual(q.enqueue(packet(e, queue: queue, tag: t)), .success)
        }
        // Each band is a pfifo of txqueuelen (4): a fifth packet for band 0 is dropped.
        XCTAssertEqual(q.enqueue(packet(e, queue: 0, tag: 7)), .dropped)
        XCTAssertEqual(q.statsSnapshot().qlen, 6)
        var order: [UInt8] = []
        while let p = q.dequeue() { order.append(tag(e, p)); e.pool.free(p) }
        // curband starts at 0 and is advanced before each look: band 1 first.
        XCTAssertEqual(order, [3, 4, 1, 2, 5, 6])
        XCTAssertEqual(q.stats.drops, 1)
        XCTAssertEqual(q.stats.packets, 6)
        XCTAssertEqual(e.pool.inUse, 0)
        var bad = TcArgs(["bands", "2"])
        XCTAssertThrowsError(try QdiscGrammar.change(q, &bad), "q_multiq.c takes no options")
    }
}

/// mqprio (sch_mqprio.c, software mode) on packets: skb->priority picks a traffic class
/// through the map, and the queue is hashed within that class's range (skb_tx_hash); the
/// traffic-class classes sum their queues' statistics.
final class MQPrioTests: XCTestCase {
    func testPriorityPicksTheClassAndItsQueues() throws {
        var e = QdiscEnv(pool: PacketPool(capacity: 256), clock: .virtual(), mtu: 1514, txQueueLen: 1000)
        e.txQueues = 8; e.realTxQueues = 8
        let q = MQQdisc(kind: "mqprio", handle: TcHandle(1, 0), parent: .root, env: e)
        q.populate { _ in FifoQdisc(kind: "pfifo", handle: .unspec, parent: .unspec, env: e) }
        var a = TcArgs("num_tc 3 map 2 2 1 0 2 2 2 2 2 2 2 2 2 2 2 2 queues 1@0 1@1 2@2 hw 0".split(separator: " ").map(String.init))
        try QdiscGrammar.change(q, &a)
        XCTAssertTrue(QdiscShow.options(q, details: false).hasPrefix("tc 3 map 2 2 1 0 2 2 2 2 2 2 2 2 2 2 2 2 \n             queues:(0:0) (1:1) (2:3) "))
        for i in 0..<120 {
            let f = FrameBuilder.udpFrame(dst: macB, src: macA, sport: UInt16(1000 + i), dport: 9, frameLength: 100)
            let p = must(e.pool.alloc())
            f.withUnsafeBytes { e.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
            e.pool.metas[Int(p.index)].pktLen = 100
            e.pool.metas[Int(p.index)].priority = UInt32([3, 2, 0, 7][i % 4])   // tc 0, tc 1, tc 2, tc 2
            let v = q.enqueue(p)
            XCTAssertEqual(v, .success)
        }
        let queued = q.children.map { $0.statsSnapshot().qlen }
        XCTAssertEqual(Array(queued[0..<2]), [30, 30], "priority 3 → tc 0 → queue 0; priority 2 → tc 1 → queue 1")
        XCTAssertEqual(queued[2] + queued[3], 60, "tc 2 spreads over its two queues")
        XCTAssertTrue(queued[2] > 10 && queued[3] > 10, "\(queued)")
        XCTAssertEqual(Array(queued[4...]), [0, 0, 0, 0], "queues of no class get nothing")
        let classes = q.classes(details: false)
        XCTAssertEqual(classes.map { "\($0.classid) \($0.parent)" }.prefix(6),
                       ["1:ffe0 root", "1:ffe1 root", "1:ffe2 root", "1:1 1:ffe0", "1:2 1:ffe1", "1:3 1:ffe2"])
        XCTAssertEqual(classes[2].stats?.qlen, 60)
        var bad = TcArgs("num_tc 2 map 0 1 queues 1@0 2@0 hw 0".split(separator: " ").map(String.init))
        XCTAssertThrowsError(try QdiscGrammar.change(q, &bad), "overlapping ranges")
        var hw = TcArgs("num_tc 2 map 0 1 queues 1@0 1@1".split(separator: " ").map(String.init))
        XCTAssertThrowsError(try QdiscGrammar.change(q, &hw), "hw 1 (tc's default) needs a device that offloads")
        while let p = q.dequeue() { e.pool.free(p) }
        XCTAssertEqual(e.pool.inUse, 0)
    }
}

/// taprio (sch_taprio.c, software mode) on packets in virtual time. The expected times and
/// counts follow from the kernel's rules (advance_sched, taprio_dequeue_from_txq,
/// taprio_set_budgets, taprio_update_queue_max_sdu) for the schedule given, worked out by hand:
/// at 1 Gbit/s a byte takes 8 ns (picos_per_byte 8000), so a 1000-byte frame takes 8 µs and a
/// 100 µs window carries 12 500 bytes.
final class TaprioTests: XCTestCase {
    func env(speed: UInt64) -> QdiscEnv {
        var e = QdiscEnv(pool: PacketPool(capacity: 256), clock: .virtual(start: 1_000 * Time.s), mtu: 1514, txQueueLen: 1000)
        e.txQueues = 4; e.realTxQueues = 4; e.linkSpeed = speed
        return e
    }

    func taprio(_ e: QdiscEnv, _ words: String) throws -> TaprioQdisc {
        let q = TaprioQdisc(handle: TcHandle(1, 0), parent: .root, env: e)
        var a = TcArgs(words.split(separator: " ").map(String.init))
        try QdiscGrammar.change(q, &a)
        return q
    }

    /// A frame of `length` bytes with skb->priority `prio`.
    func packet(_ e: QdiscEnv, prio: UInt32, length: Int = 1000, sport: UInt16 = 1) -> Packet {
        let f = FrameBuilder.udpFrame(dst: macB, src: macA, sport: sport, dport: 9, frameLength: length)
        let p = must(e.pool.alloc())
        f.withUnsafeBytes { e.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
        e.pool.metas[Int(p.index)].pktLen = UInt32(length)
        e.pool.metas[Int(p.index)].priority = prio
        return p
    }

    /// The priorities of what dequeues now (each packet freed).
    func drain(_ q: TaprioQdisc, _ e: QdiscEnv) -> [UInt32] {
        var out: [UInt32] = []
        while let p = q.dequeue() { out.append(e.pool.metas[Int(p.index)].priority); e.pool.free(p) }
        return out
    }

    func testGatesGuardBandAndBudgetFollowTheSchedule() throws {
        let e = env(speed: 1_000_000_000)
        let t0 = Int64(1_000 * Time.s)
        // Two classes on queues 0 and 1; tc 0 open for 100 µs, then tc 1 for 100 µs.
        let q = try taprio(e, "num_tc 2 map 0 1 queues 1@0 1@1 base-time 0 sched-entry S 01 100000 sched-entry S 02 100000 clockid CLOCK_TAI")
        XCTAssertEqual(q.picosPerByte, 8000)
        // base-time 0 is past: the schedule starts at the next cycle boundary (t0 + 200 µs).
        let start = t0 + 200_000
        XCTAssertEqual(q.timer, start)
        // Until then every gate is open; the higher class goes first.
        XCTAssertEqual(q.enqueue(packet(e, prio: 0)), .success)
        XCTAssertEqual(q.enqueue(packet(e, prio: 1)), .success)
        XCTAssertEqual(drain(q, e), [1, 0])
        // Inside the first window only tc 0 leaves; tc 1 waits for its window at start + 100 µs.
        e.clock.advance(to: UInt64(start + 10_000))
        XCTAssertEqual(q.enqueue(packet(e, prio: 0)), .success)
        XCTAssertEqual(q.enqueue(packet(e, prio: 1)), .success)
        XCTAssertEqual(drain(q, e), [0])
        XCTAssertEqual(q.watchdog, UInt64(start + 100_000), "the next gate event, while a packet waits")
        e.clock.advance(to: UInt64(start + 100_000))
        XCTAssertEqual(drain(q, e), [1])
        // The guard band: 5 µs before tc 0's gate closes, an 8 µs frame waits for the next cycle.
        e.clock.advance(to: UInt64(start + 200_000 + 95_000))
        XCTAssertEqual(q.enqueue(packet(e, prio: 0)), .success)
        XCTAssertEqual(drain(q, e), [])
        e.clock.advance(to: UInt64(start + 400_000))
        XCTAssertEqual(drain(q, e), [0])
        // The budget: a 100 µs window carries 12 500 bytes, so 12 frames of 1000 bytes.
        e.clock.advance(to: UInt64(start + 600_000 + 1_000))
        for i in 0..<20 { XCTAssertEqual(q.enqueue(packet(e, prio: 0, sport: UInt16(i))), .success) }
        XCTAssertEqual(drain(q, e).count, 12)
        // Ten idle seconds later (50 000 cycles) the gates still keep time.
        let late = start + 600_000 + 10_000_000_000
        e.clock.advance(to: UInt64(late + 150_000))                // inside tc 1's window
        for p in drain(q, e) { XCTFail("tc 0 sent \(p) in tc 1's window") }
        e.clock.advance(to: UInt64(late + 200_000))
        XCTAssertEqual(drain(q, e).count, 8, "the other 8 in tc 0's next window")
        // A schedule waiting an hour ahead takes over at its base time, however long the
        // qdisc sat idle before and after (18 million cycles of 200 µs skipped, not walked).
        let base = late + 3_600_000_000_000
        var a = TcArgs("sched-entry S 02 50000 base-time \(base) clockid TAI".split(separator: " ").map(String.init))
        try QdiscGrammar.change(q, &a)
        e.clock.advance(to: UInt64(base + 7_200_000_000_000 + 10_000))
        XCTAssertEqual(q.enqueue(packet(e, prio: 0)), .success)
        XCTAssertEqual(q.enqueue(packet(e, prio: 1)), .success)
        XCTAssertNil(q.admin)
        XCTAssertEqual(q.oper?.baseTime, base)
        XCTAssertEqual(drain(q, e), [1], "only tc 1's gate opens in the new schedule")
        q.purge()
        XCTAssertEqual(e.pool.inUse, 0)
    }

    func testOversizeFramesAndAPendingScheduleAndRefusals() throws {
        // At 10 Mbit/s (what a device without ethtool speed gets) a byte takes 800 ns: a 100 µs
        // window carries 125 bytes, so tc 0's frames may be 125 bytes at most (max SDU 111).
        let e = env(speed: 10_000_000)
        let t0 = Int64(1_000 * Time.s)
        let q = try taprio(e, "num_tc 2 map 0 1 queues 1@0 1@1 sched-entry S 02 100000 sched-entry S 03 100000 clockid TAI")
        e.clock.advance(to: UInt64(t0 + 200_000))
        XCTAssertEqual(q.enqueue(packet(e, prio: 0, length: 126)), .dropped)
        XCTAssertEqual(q.oper?.maxSdu[0], 111)
        XCTAssertEqual(q.oper?.maxSdu[1], 0, "tc 1 is open in both entries: never closes, no limit")
        XCTAssertEqual(q.enqueue(packet(e, prio: 0, length: 125)), .success)
        XCTAssertEqual(q.enqueue(packet(e, prio: 1, length: 1500)), .success)
        XCTAssertEqual(q.stats.drops, 1)
        // A GSO frame over the limit is cut into segments (taprio_enqueue_segmented): 3 000
        // bytes at an MSS of 60 are 50 segments of 114 bytes, each within the 125.
        let v = q.enqueue(tcpGSOPacket(e.pool, payload: 3_000, mss: 60))
        XCTAssertEqual(v, .success)
        XCTAssertEqual(q.children[0].statsSnapshot().qlen, 1 + 50)
        XCTAssertEqual(q.stats.drops, 1)
        // A schedule given while one runs waits as the admin schedule until its base time.
        let base = t0 + 10_000_000
        var a = TcArgs("sched-entry S 02 50000 base-time \(base) clockid TAI".split(separator: " ").map(String.init))
        try QdiscGrammar.change(q, &a)
        XCTAssertNotNil(q.admin)
        XCTAssertTrue(QdiscShow.options(q, details: false).contains("\tbase-time \(base) cycle-time 50000 cycle-time-extension 0\n\tindex 0 cmd S gatemask 0x2 interval 50000\n"))
        e.clock.advance(to: UInt64(base + 1))
        _ = drain(q, e)
        XCTAssertNil(q.admin)
        XCTAssertEqual(q.oper?.entries.map(\.gateMask), [2])
        XCTAssertEqual(q.oper?.baseTime, base)
        // taprio_change's refusals, each leaving the qdisc as it was.
        let refused = [
            ("flags 0x1 sched-entry S 01 100000 clockid TAI", "Changing 'flags' of a running schedule is not supported"),
            ("num_tc 2 map 1 0 queues 1@0 1@1 sched-entry S 01 100000 clockid TAI", "Changing the traffic mapping of a running schedule is not supported"),
            ("sched-entry S 01 100000", "Specifying a 'clockid' is mandatory"),
            ("sched-entry S 01 100000 clockid REALTIME", "Changing the 'clockid' of a running schedule is not supported"),
            ("sched-entry S 01 100000 txtime-delay 100 clockid TAI", "txtime-delay can only be set when txtime-assist mode is enabled"),
            ("sched-entry S 01 40000 clockid TAI", "Invalid interval for schedule entry"),       // < 60 bytes × 800 ns
            ("clockid TAI", "There should be at least one entry in the schedule"),
            ("sched-entry S 01 100000 clockid TAI fp E P", "Preemption only supported with full offload"),
            ("sched-entry S 01 100000 clockid TAI max-sdu 9000", "TC max SDU exceeds device max MTU"),
        ]
        for (words, message) in refused {
            var w = TcArgs(words.split(separator: " ").map(String.init))
            XCTAssertThrowsError(try QdiscGrammar.change(q, &w), words) { XCTAssertTrue("\($0)".contains(message), "\(words): \($0)") }
        }
        XCTAssertEqual(q.oper?.entries.map(\.gateMask), [2])
        XCTAssertEqual(q.flags, 0)
        // Overlapping queue ranges: only txtime-assist allows them.
        let e2 = env(speed: 1_000_000_000)
        XCTAssertThrowsError(try taprio(e2, "num_tc 2 map 0 1 queues 1@0 1@0 sched-entry S 03 100000 clockid TAI"))
        let tx = try taprio(e2, "num_tc 2 map 0 1 queues 1@0 1@0 sched-entry S 01 100000 flags 0x1 txtime-delay 5000 clockid TAI")
        XCTAssertEqual(tx.txtimeDelay, 5000)
        // txtime-assist: a frame of a class whose gate never opens has no launch time: dropped.
        XCTAssertEqual(tx.enqueue(packet(e2, prio: 1)), .dropped)
        XCTAssertEqual(tx.enqueue(packet(e2, prio: 0)), .success)
        XCTAssertEqual(drain(tx, e2), [0])
        while let p = q.dequeue() { e.pool.free(p) }
        q.purge()
        XCTAssertEqual(e.pool.inUse, 0)
        XCTAssertEqual(e2.pool.inUse, 0)
    }
}
