import Foundation
import XCTest
@testable import Sluice

/// netem over 10^5 packets, checked against the distributions' moments and the kernel's rules,
/// with bounds of several standard errors.
final class NetemTests: XCTestCase {
    let n = 100_000
    /// 100 000 small packets 10 µs apart through a 10 Gbit/s line (serialization ≈ 0).
    func run(_ netem: String) throws -> (out: [PcapFile.Record], delays: [Double], report: ReplayReport, qdisc: NetemQdisc) {
        let (rp, out, report) = try replay([Flow(dport: 1, size: 100, rate: 80_000_000, duration: UInt64(n) * 10 * Time.us)], rate: "10gbit",
                                          ["qdisc add dev eth0 root netem limit 200000 \(netem)"])
        let delays = out.map { Double(Int64(bitPattern: $0.timestamp &- (t0 &+ UInt64(seqOf($0)) &* 10 &* Time.us))) }
        return (out, delays, report, rp.dev.qdisc as! NetemQdisc)
    }

    func meanSD(_ x: [Double]) -> (Double, Double) {
        let m = x.reduce(0, +) / Double(x.count)
        let v = x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count - 1)
        return (m, v.squareRoot())
    }

    /// iproute2's table NAME.dist as tc reads it (q_netem.c's get_distribution), or a failure
    /// naming what is missing: the expected values below come from these tables and
    /// sch_netem.c's tabledist, delay = mu + sigma · t / NETEM_DIST_SCALE (8192).
    func iproute2Table(_ name: String) throws -> [Double] {
        for dir in ["/usr/lib/x86_64-linux-gnu/tc", "/usr/lib/aarch64-linux-gnu/tc", "/usr/lib/tc"] {
            guard let text = try? String(contentsOfFile: "\(dir)/\(name).dist", encoding: .utf8) else { continue }
            return text.split(separator: "\n").filter { !$0.hasPrefix("#") }
                .flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Double($0) } }
        }
        XCTFail("iproute2's \(name).dist is missing (scripts/install-deps.sh installs iproute2)")
        throw XCTSkip("no \(name).dist")
    }

    /// Each of iproute2's tables shapes the delay as tabledist does: the mean and standard
    /// deviation are the table's own, scaled by sigma / 8192, not those of the ideal
    /// distribution (pareto.dist's sigma is 0.82 of the one asked for), and the median falls
    /// where the table's does.
    func testDelayDistributionsAreIproute2sTables() throws {
        for name in ["normal", "pareto", "paretonormal", "experimental"] {
            let t = try iproute2Table(name)
            let (tm, tsd) = meanSD(t)
            let sigma = 10e6, mu = 100e6
            let r = try run("delay 100ms 10ms distribution \(name)")
            let (m, sd) = meanSD(r.delays)
            XCTAssertEqual(r.out.count, n, name)
            // n draws: the mean's standard error is sd/√n; allow 5 of them plus rounding.
            XCTAssertEqual(m, mu + sigma * tm / 8192, accuracy: 5 * sigma * tsd / 8192 / Double(n).squareRoot() + 1e3, name)
            XCTAssertEqual(sd, sigma * tsd / 8192, accuracy: 0.03 * sigma * tsd / 8192, name)
            let tMedian = t.sorted()[t.count / 2]
            let median = r.delays.sorted()[r.delays.count / 2]
            XCTAssertEqual(median, mu + sigma * tMedian / 8192, accuracy: 0.02 * sigma, name)
        }
    }

    /// Sluice's own words read tables as tc does (get_distribution): NAME.dist in TC_LIB_DIR,
    /// '#' lines skipped, any number strtol takes (hex too), truncated to 16 bits; a missing
    /// file or more than 16 384 values refused with tc's words.
    func testDistributionFilesAreReadAsTc() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("netem-dist-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir); unsetenv("TC_LIB_DIR") }
        try "# made by hand\n-8192 8192\n\n0x10 -0x10\t70000\n".write(toFile: dir + "/mine.dist", atomically: true, encoding: .utf8)
        try String(repeating: "1 ", count: 16_385).write(toFile: dir + "/big.dist", atomically: true, encoding: .utf8)
        setenv("TC_LIB_DIR", dir, 1)
        let env = QdiscEnv(pool: PacketPool(capacity: 8), clock: .virtual(start: 1_000), mtu: 1514, txQueueLen: 1000)
        let q = NetemQdisc(handle: TcHandle(1, 0), parent: .root, env: env)
        var a = TcArgs(["delay", "20ms", "10ms", "distribution", "mine", "slot", "distribution", "mine", "5ms", "1ms"])
        try QdiscGrammar.change(q, &a)
        XCTAssertEqual(q.delayDist, [-8192, 8192, 16, -16, Int16(truncatingIfNeeded: 70_000)])
        XCTAssertEqual(q.slotDist, q.delayDist)
        for (name, message) in [("nosuch", "Error: No distribution data for nosuch (\(dir)/nosuch.dist: No such file or directory)"),
                                ("big", "Error: \(dir)/big.dist: too much data")] {
            var b = TcArgs(["delay", "1ms", "1ms", "distribution", name])
            XCTAssertThrowsError(try QdiscGrammar.change(q, &b)) { XCTAssertEqual(($0 as? SluiceError)?.message, message) }
        }
        XCTAssertEqual(q.latency, 20 * Time.ms, "a refused change leaves netem as it was")
    }

    func testUniformJitterByDefault() throws {
        let r = try run("delay 100ms 10ms")
        let (m, sd) = meanSD(r.delays)
        XCTAssertEqual(m, 100e6, accuracy: 0.2e6)
        XCTAssertEqual(sd, 20e6 / 12.0.squareRoot(), accuracy: 0.2e6, "uniform on [90, 110] ms")
        XCTAssertGreaterThanOrEqual(r.delays.min()!, 90e6 - 1e3)
        XCTAssertLessThanOrEqual(r.delays.max()!, 110e6 + 1e5)
    }

    /// tabledist's arithmetic on a table's value t: (sigma % 8192) · t rounded half away from
    /// zero over 8192, plus (sigma / 8192) · t, plus mu — so ±8192 is exactly ±sigma, and a
    /// negative result is a delay before now (the packet is due at once).
    func testTabledistArithmeticAsTheKernel() {
        XCTAssertEqual(NetemQdisc.tabledist(mu: 100_000_000, sigma: 10_000_000, rnd: 0, [8192]), 110_000_000)
        XCTAssertEqual(NetemQdisc.tabledist(mu: 100_000_000, sigma: 10_000_000, rnd: 7, [-8192]), 90_000_000)
        // sigma 12 345: 12 345 % 8192 = 4 153, · 4 096 = 17 010 688, + 4 096 → 2 077 (floor of
        // 2 077.0); 12 345 / 8192 = 1, · 4 096 = 4 096: 6 173 + mu.
        XCTAssertEqual(NetemQdisc.tabledist(mu: 1_000, sigma: 12_345, rnd: 1, [0, 4096]), 7_173)
        XCTAssertEqual(NetemQdisc.tabledist(mu: 1_000, sigma: 12_345, rnd: 1, [0, -4096]), 1_000 - 6_173)
        XCTAssertEqual(NetemQdisc.tabledist(mu: 5, sigma: 10, rnd: 0, [-32768]), -35)
        // Without a table: uniform, (rnd % 2·sigma) + mu − sigma.
        XCTAssertEqual(NetemQdisc.tabledist(mu: 100, sigma: 10, rnd: 25, nil), 95)
        XCTAssertEqual(NetemQdisc.tabledist(mu: 100, sigma: 0, rnd: 25, [8192]), 100)
    }

    /// get_dist_table: 1…NETEM_DIST_MAX (16 384) values, else EINVAL, and nothing changes.
    func testDistributionTableSizeIsCheckedAndAFailedChangeKeepsTheOld() throws {
        let env = QdiscEnv(pool: PacketPool(capacity: 8), clock: .virtual(start: 1_000), mtu: 1514, txQueueLen: 1000)
        let q = NetemQdisc(handle: TcHandle(1, 0), parent: .root, env: env)
        var p = q.params
        p.latency = 5 * Time.ms; p.jitter = Time.ms; p.dist = [8192]
        try q.configure(p)
        XCTAssertEqual(q.delayDist, [8192])
        for bad in [[Int16](), [Int16](repeating: 1, count: 16_385)] {
            var b = q.params
            b.latency = 9 * Time.ms; b.dist = bad
            XCTAssertThrowsError(try q.configure(b)) { e in
                XCTAssertEqual((e as? SluiceError)?.message, "Error: netem: invalid distribution table size: \(bad.count) (Invalid argument)")
            }
            XCTAssertEqual(q.latency, 5 * Time.ms)
            XCTAssertEqual(q.delayDist, [8192])
        }
        var ok = q.params
        ok.dist = [Int16](repeating: -8192, count: 16_384)
        XCTAssertNoThrow(try q.configure(ok))
        XCTAssertEqual(q.delayDist?.count, 16_384)
    }

    func testRandomLossRate() throws {
        let r = try run("loss 1%")
        let lossRate = 1 - Double(r.out.count) / Double(n)
        XCTAssertEqual(lossRate, 0.01, accuracy: 3 * (0.01 * 0.99 / Double(n)).squareRoot() + 1e-4)
    }

    func testGilbertElliottLossRateAndBursts() throws {
        // p = 1 %, r = 10 %: the bad state holds p/(p+r) of the time and loses everything there.
        let r = try run("loss gemodel 1% 10%")
        let lossRate = 1 - Double(r.out.count) / Double(n)
        XCTAssertEqual(lossRate, 0.01 / 0.11, accuracy: 0.012)
        // Mean loss burst ≈ 1/r = 10 packets.
        let seqs = Set(r.out.map(seqOf))
        var bursts: [Int] = [], run = 0
        for s in 0..<UInt32(n) { if seqs.contains(s) { if run > 0 { bursts.append(run) }; run = 0 } else { run += 1 } }
        let meanBurst = Double(bursts.reduce(0, +)) / Double(bursts.count)
        XCTAssertEqual(meanBurst, 10, accuracy: 1.0)
    }

    /// The 4-state model as loss_4state walks it (p13 p31 p32 p23 p14, q_netem.c's order):
    /// p13 = p32 = p23 = 100 % alternates lost (gap → burst loss), sent (→ burst transmit), lost,
    /// … from the first packet; and for a mixed chain the loss rate is the stationary
    /// probability of the two lost states, computed here from the same transitions.
    func testFourStateLossAsLoss4State() throws {
        let alt = try run("loss state 100% 0% 100% 100% 0%")
        let got = Set(alt.out.map(seqOf))
        XCTAssertEqual(got.count, n / 2)
        XCTAssertTrue((0..<UInt32(n)).allSatisfy { got.contains($0) == ($0 % 2 == 1) }, "lost, sent, lost, …")
        let (p13, p31, p32, p23, p14) = (0.10, 0.70, 0.10, 0.80, 0.05)
        let r = try run("loss state 10% 70% 10% 80% 5%")
        // States 1 gap-sent, 2 burst-sent, 3 gap-lost, 4 burst-lost; rows: from, columns: to.
        let t: [[Double]] = [[1 - p13 - p14, 0, p14, p13], [0, 1 - p23, 0, p23], [1, 0, 0, 0], [p31, p32, 0, 1 - p31 - p32]]
        var pi = [1.0, 0, 0, 0]
        for _ in 0..<10_000 { pi = (0..<4).map { j in (0..<4).reduce(0) { $0 + pi[$1] * t[$1][j] } } }
        let expected = pi[2] + pi[3]
        let lossRate = 1 - Double(r.out.count) / Double(n)
        XCTAssertEqual(lossRate, expected, accuracy: 0.02, "stationary loss \(expected)")
        XCTAssertGreaterThan(expected, 0.1)
    }

    /// netem's ecn: a loss event marks an ECN-capable packet Congestion Experienced and lets it
    /// through (counted as a drop, as netem_enqueue's qdisc_qstats_drop); a not-ECT packet is
    /// lost. The same words come back from `qdisc show`.
    func testECNMarksInsteadOfDropping() throws {
        let env = QdiscEnv(pool: PacketPool(capacity: 64), clock: .virtual(start: 1), mtu: 1514, txQueueLen: 1000)
        let q = NetemQdisc(handle: TcHandle(1, 0), parent: .root, env: env)
        var a = TcArgs(["loss", "100%", "ecn"])
        try QdiscGrammar.change(q, &a)
        XCTAssertEqual(QdiscShow.options(q, details: false), "limit 1000 loss 100% ecn ")
        func frame(tos: UInt8) -> [UInt8] {
            var f = FrameBuilder.udpFrame(dst: macB, src: macA, srcIP: FrameBuilder.ip(198, 18, 0, 1), dstIP: FrameBuilder.ip(198, 18, 0, 2), sport: 1, dport: 2)
            f[15] = tos
            var sum: UInt32 = 0
            f[24] = 0; f[25] = 0
            for i in stride(from: 14, to: 34, by: 2) { sum += UInt32(f[i]) << 8 | UInt32(f[i + 1]) }
            while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
            f[24] = UInt8(~UInt16(sum) >> 8); f[25] = UInt8(~UInt16(sum) & 0xFF)
            return f
        }
        for tos: UInt8 in [0x02, 0x00] {                   // ECT(0), then not-ECT
            let p = must(env.pool.alloc())
            let f = frame(tos: tos)
            f.withUnsafeBytes { env.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
            env.pool.meta(p).pointee.pktLen = UInt32(f.count)
            _ = q.enqueue(p)
        }
        XCTAssertEqual(q.stats.qlen, 1, "the ECT packet stays")
        XCTAssertEqual(q.stats.drops, 2, "one mark, one loss")
        guard let out = q.dequeue() else { return XCTFail("nothing to dequeue") }
        XCTAssertEqual(env.pool.data(out).load(fromByteOffset: 15, as: UInt8.self) & 3, 3, "CE")
        env.pool.free(out)
        XCTAssertEqual(env.pool.inUse, 0)
    }

    /// Delivery slots as netem_dequeue and get_slot_next keep them: the first slot is open at
    /// once, takes at most `packets` (or `bytes`), and the next opens a drawn delay later (here
    /// min = max, so exactly 5 ms).
    func testSlotsReleaseBurstsAsNetemDequeue() throws {
        func drain(_ words: [String], size: Int) throws -> [Int] {
            let env = QdiscEnv(pool: PacketPool(capacity: 64), clock: .virtual(start: 1_000), mtu: 1514, txQueueLen: 1000)
            let q = NetemQdisc(handle: TcHandle(1, 0), parent: .root, env: env)
            var a = TcArgs(words)
            try QdiscGrammar.change(q, &a)
            for _ in 0..<10 {
                let p = must(env.pool.alloc())
                env.pool.meta(p).pointee.length = UInt32(size)
                env.pool.meta(p).pointee.pktLen = UInt32(size)
                _ = q.enqueue(p)
            }
            var perSlot: [Int] = []
            for _ in 0..<8 {
                var n = 0
                while let p = q.dequeue() { env.pool.free(p); n += 1 }
                perSlot.append(n)
                env.clock.advance(by: 5 * Time.ms)
            }
            XCTAssertEqual(env.pool.inUse, 0)
            return perSlot
        }
        XCTAssertEqual(try drain(["slot", "5ms", "5ms", "packets", "3"], size: 100), [3, 3, 3, 1, 0, 0, 0, 0])
        XCTAssertEqual(try drain(["slot", "5ms", "bytes", "3000"], size: 1000), [3, 3, 3, 1, 0, 0, 0, 0])
        let env = QdiscEnv(pool: PacketPool(capacity: 8), clock: .virtual(start: 1_000), mtu: 1514, txQueueLen: 1000)
        let q = NetemQdisc(handle: TcHandle(1, 0), parent: .root, env: env)
        var a = TcArgs(["delay", "1ms", "slot", "2ms", "4ms", "packets", "5", "bytes", "64000"])
        try QdiscGrammar.change(q, &a)
        XCTAssertEqual(QdiscShow.options(q, details: false), "limit 1000 delay 1ms slot 2ms 4ms packets 5 bytes 64000")
    }

    /// The gemodel's positions as q_netem.c packs them and loss_gilb_ell reads them: the third
    /// is the bad state's loss ("1-h"), the fourth the good state's ("1-k"). Never leaving the
    /// good state (p 0) with 1-k 5 % loses 5 %; never leaving the bad state (r 0, p 100 %) with
    /// 1-h 20 % loses 20 % after the first packet.
    func testGilbertElliottParameterPositionsAsTheKernel() throws {
        let good = try run("loss gemodel 0% 100% 100% 5%")
        XCTAssertEqual(1 - Double(good.out.count) / Double(n), 0.05, accuracy: 3 * (0.05 * 0.95 / Double(n)).squareRoot() + 1e-4)
        let bad = try run("loss gemodel 100% 0% 20% 0%")
        XCTAssertEqual(1 - Double(bad.out.count) / Double(n), 0.20, accuracy: 3 * (0.2 * 0.8 / Double(n)).squareRoot() + 1e-3)
    }

    func testDuplicateRate() throws {
        let r = try run("duplicate 5%")
        XCTAssertEqual(Double(r.out.count - n) / Double(n), 0.05, accuracy: 3 * (0.05 * 0.95 / Double(n)).squareRoot() + 1e-4)
    }

    func testReorderFractionFollowsGapRule() throws {
        // With gap 5, four packets are delayed, then each packet is a candidate until one (25 %)
        // goes out at once: 1 in (4 + 1/0.25) = 1/8 of the packets jump the queue.
        let r = try run("delay 10ms reorder 25% gap 5")
        let early = r.delays.filter { $0 < 1e6 }.count
        XCTAssertEqual(Double(early) / Double(n), 1.0 / 8, accuracy: 0.005)
        XCTAssertEqual(r.qdisc.reordered, UInt64(early))
        // Those packets left before packets sent earlier: the output is out of sequence.
        let seqs = r.out.map(seqOf)
        XCTAssertGreaterThan(zip(seqs, seqs.dropFirst()).filter { $0 > $1 }.count, early / 2)
    }

    /// A reordered packet goes to the head of netem's own queue (sch->q: counted as a requeue),
    /// which netem_dequeue empties before it looks at the slots: with delivery slots of 1 ms it
    /// still leaves at once, while the delayed packets wait for their slot.
    func testReorderedPacketsLeaveOutsideTheSlots() throws {
        let r = try run("delay 10ms reorder 25% gap 5 slot 1ms 1ms packets 100")
        let early = r.delays.filter { $0 < 50e3 }.count
        XCTAssertEqual(UInt64(early), r.qdisc.reordered, "every reordered packet left within 50 µs, and only they")
        XCTAssertEqual(Double(early) / Double(n), 1.0 / 8, accuracy: 0.005)
        XCTAssertEqual(r.qdisc.stats.requeues, r.qdisc.reordered)
        XCTAssertEqual(r.out.count, n)
    }

    func testCorruptFlipsOneBit() throws {
        let r = try run("corrupt 1%")
        let reference = FrameBuilder.udpFrame(dst: macB, src: macA, dport: 1, frameLength: 100)
        var changed = 0
        for o in r.out {
            var base = reference
            base[42] = o.data[42]; base[43] = o.data[43]; base[44] = o.data[44]; base[45] = o.data[45]
            let bits = zip(base, o.data).reduce(0) { $0 + ($1.0 ^ $1.1).nonzeroBitCount }
            if bits > 0 { changed += 1; XCTAssertEqual(bits, 1) }
        }
        // netem_enqueue flips a bit of any byte of the frame (get_random_u32_below(skb_headlen)),
        // the Ethernet header included. Bits flipped inside the sequence-number field are not
        // seen: allow for them.
        XCTAssertEqual(Double(changed) / Double(n), 0.01 * (1 - 32.0 / (100 * 8)), accuracy: 0.0015)
    }

    /// netem_enqueue draws duplication before loss, and a loss takes one copy away: with both
    /// at 100 % every packet still goes once. At duplicate 100 % alone each goes twice (the
    /// duplicate is not duplicated again); with loss 50 % a packet goes once when the first draw
    /// loses (½), else it and its duplicate, which faces a loss draw of its own: ½ · 1 + ½ · 1.5
    /// = 1.25 packets out per packet in.
    func testDuplicationIsDrawnBeforeLossAsNetemEnqueue() throws {
        XCTAssertEqual(try run("duplicate 100% loss 100%").out.count, n)
        XCTAssertEqual(try run("duplicate 100%").out.count, 2 * n)
        let half = try run("duplicate 100% loss 50%")
        // Per packet in: 1 or 2 out with equal chance when not lost first; sd of the sum ≈ √n · 0.43.
        XCTAssertEqual(Double(half.out.count) / Double(n), 1.25, accuracy: 5 * 0.433 / Double(n).squareRoot())
    }

    /// A GSO super-frame picked for corruption is segmented first (netem_segment); the first
    /// segment is corrupted and each other one goes through netem_enqueue again — at corrupt
    /// 100 % all of them. Each gets its checksum completed before the flip (skb_checksum_help),
    /// so it differs from the clean segment in exactly one bit and the receiver sees a bad sum.
    func testCorruptionSegmentsAGSOFrameAndCompletesItsChecksumFirst() throws {
        let clean = try Lab(ports: ["p1", "p2"])
        var b = PacketBatch()
        b.append(tcpGSOPacket(clean.dp.pool, payload: 10_000, mss: 1448))
        clean.dp.transmit(clean.dev("p2"), &b)
        let reference = clean.ports["p2"]!.takeCaptured()
        XCTAssertEqual(reference.count, 7)

        let lab = try Lab(ports: [], poolSize: 256)
        let d = MemoryDriver(features: DeviceFeatures.offloads)
        lab.ports["p2"] = d
        try lab.dp.addMemory(name: "p2", driver: d)
        try lab.runner.execute("link set p2 up")
        try lab.runner.execute("qdisc add dev p2 root netem corrupt 100%")
        var batch = PacketBatch()
        batch.append(tcpGSOPacket(lab.dp.pool, payload: 10_000, mss: 1448))
        lab.dp.transmit(lab.dev("p2"), &batch)
        let out = lab.runUntilIdle()["p2"] ?? []
        XCTAssertEqual(out.count, 7, "segmented, not one corrupted super-frame")
        for (i, (o, r)) in zip(out, reference).enumerated() {
            XCTAssertEqual(o.count, r.count, "segment \(i)")
            XCTAssertEqual(zip(o, r).reduce(0) { $0 + ($1.0 ^ $1.1).nonzeroBitCount }, 1, "segment \(i): one bit from the clean, checksummed segment")
        }
        XCTAssertEqual((lab.dp.device(named: "p2")?.qdisc as? NetemQdisc)?.corrupted, 7)
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    func testRateWithPacketOverhead() throws {
        // 1 Mbit/s counting 100-byte frames + 25 bytes overhead: 1000 packets/s.
        let (_, out, _) = try replay([Flow(dport: 1, size: 100, rate: 8_000_000, duration: 2 * Time.s)], rate: "10gbit",
                                     ["qdisc add dev eth0 root netem rate 1mbit 25 limit 100000"])
        let mid = out.filter { $0.timestamp >= t0 + 500 * Time.ms && $0.timestamp < t0 + 1500 * Time.ms }.count
        XCTAssertEqual(Double(mid), 1000, accuracy: 5)
    }

    /// packet_time_ns with cells: 100-byte frames + 20 bytes of overhead are 120 bytes, two
    /// 100-byte cells of 105 bytes each with the cell overhead: 210 bytes at 1 Mbit/s, so
    /// 1e6 / 8 / 210 = 595.2 packets per second.
    func testRateWithCellSizeAndCellOverhead() throws {
        let (_, out, _) = try replay([Flow(dport: 1, size: 100, rate: 8_000_000, duration: 2 * Time.s)], rate: "10gbit",
                                     ["qdisc add dev eth0 root netem rate 1mbit 20 100 5 limit 100000"])
        let mid = out.filter { $0.timestamp >= t0 + 500 * Time.ms && $0.timestamp < t0 + 1500 * Time.ms }.count
        XCTAssertEqual(Double(mid), 1e6 / 8 / 210, accuracy: 3)
    }

    func testSameSeedSameOutput() throws {
        let a = try run("delay 20ms 5ms 25% distribution paretonormal loss 2% duplicate 1% seed 7")
        let b = try run("delay 20ms 5ms 25% distribution paretonormal loss 2% duplicate 1% seed 7")
        XCTAssertEqual(a.out, b.out)
    }
}
