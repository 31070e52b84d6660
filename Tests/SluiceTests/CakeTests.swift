import Foundation
import XCTest
@testable import Sluice

/// cake (sch_cake.c) on replayed traffic, the device's line faster than cake's bandwidth so
/// cake is the bottleneck. Expected values come from cake's own definitions: its shaper
/// charges each packet's length after framing compensation (cake_calc_overhead: minus the
/// network offset when an overhead is set, plus the overhead, at least the mpu, ATM cells of
/// 53 bytes per 48), its tins take the DSCP by the diffserv tables, and flows and hosts share
/// by DRR++.
final class CakeTests: XCTestCase {
    /// The flows' frames with the source address set per flow (198.18.0.x).
    func trace(_ flows: [(Flow, UInt8)]) -> [PcapFile.Record] {
        var out: [PcapFile.Record] = []
        for (f, host) in flows {
            for var r in makeTrace([f]) {
                r.data[29] = host
                r.data[24] = 0; r.data[25] = 0
                let c = r.data.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress! + 14, 20)) }
                r.data[24] = UInt8(c >> 8); r.data[25] = UInt8(c & 0xff)
                out.append(r)
            }
        }
        return out.sorted { $0.timestamp < $1.timestamp }
    }

    func run(_ records: [PcapFile.Record], _ config: [String]) throws -> (Replay, [PcapFile.Record], ReplayReport) {
        let dir = NSTemporaryDirectory() + "sluice-cake-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try PcapFile.write(dir + "/in.pcap", records)
        let r = try Replay(input: dir + "/in.pcap", output: dir + "/out.pcap", rate: TcUnits.rate("100mbit")!, configLines: config)
        let report = r.run(timeseries: false)
        r.finish()
        return (r, try PcapFile.read(dir + "/out.pcap"), report)
    }

    func host(_ r: PcapFile.Record) -> UInt8 { r.data[29] }

    /// The shaper holds a 20 Mbit/s flood to `bandwidth`; with `overhead 18 mpu 64` a 100-byte
    /// frame costs 100 − 14 + 18 = 104 bytes, with `atm` 86 bytes take two cells (106 bytes).
    func testShaperChargesFramedLengths() throws {
        let flood = Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 2 * Time.s)
        let (_, out, report) = try run(trace([(flood, 1)]), ["qdisc add dev eth0 root cake bandwidth 10mbit besteffort flows"])
        XCTAssertEqual(throughput(out, from: 500 * Time.ms, to: 1900 * Time.ms), 10e6, accuracy: 10e6 * 0.02, report.text)
        XCTAssertTrue(report.text.contains("qdisc cake 8001: root refcnt 2 bandwidth 10Mbit besteffort flows nonat nowash no-ack-filter split-gso rtt 100ms raw overhead 0 "), report.text)

        let small = Flow(dport: 1, size: 100, rate: 20_000_000, duration: 2 * Time.s)
        let (_, eth, _) = try run(trace([(small, 1)]), ["qdisc add dev eth0 root cake bandwidth 10mbit besteffort overhead 18 mpu 64"])
        XCTAssertEqual(throughput(eth, from: 500 * Time.ms, to: 1900 * Time.ms), 10e6 * 100 / 104, accuracy: 10e6 * 0.02)
        let (_, atm, atmReport) = try run(trace([(small, 1)]), ["qdisc add dev eth0 root cake bandwidth 10mbit besteffort atm overhead 0"])
        XCTAssertEqual(throughput(atm, from: 500 * Time.ms, to: 1900 * Time.ms), 10e6 * 100 / 106, accuracy: 10e6 * 0.02)
        XCTAssertTrue(atmReport.text.contains(" min/max network layer size:           86 /      86\n"), atmReport.text)
        XCTAssertTrue(atmReport.text.contains(" min/max overhead-adjusted size:      106 /     106\n"), atmReport.text)
    }

    /// Flow isolation: a 2 Mbit/s flow beside two 20 Mbit/s floods keeps all it sends (it is
    /// sparse, served first); the floods split the rest evenly.
    func testSparseFlowKeepsItsShareBesideFloods() throws {
        let flows = [(Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 2 * Time.s), UInt8(1)),
                     (Flow(dport: 2, size: 1000, rate: 20_000_000, duration: 2 * Time.s), UInt8(1)),
                     (Flow(dport: 3, size: 500, rate: 2_000_000, duration: 2 * Time.s), UInt8(1))]
        let (_, out, report) = try run(trace(flows), ["qdisc add dev eth0 root cake bandwidth 10mbit besteffort flows"])
        let offered = makeTrace([flows[2].0]).count
        XCTAssertEqual(out.filter { dport($0) == 3 }.count, offered, report.text)
        let a = throughput(out, from: 500 * Time.ms, to: 1900 * Time.ms) { dport($0) == 1 }
        let b = throughput(out, from: 500 * Time.ms, to: 1900 * Time.ms) { dport($0) == 2 }
        XCTAssertEqual(a, 4e6, accuracy: 4e6 * 0.05)
        XCTAssertEqual(b, 4e6, accuracy: 4e6 * 0.05)
    }

    /// Host isolation (`dual-srchost`): host 1 with four floods and host 2 with one share the
    /// line by host, 5 and 5 Mbit/s; under `flows` the same traffic splits by flow, 8 and 2.
    func testDualSrchostSharesByHostFirst() throws {
        var flows: [(Flow, UInt8)] = []
        for d: UInt16 in 1...4 { flows.append((Flow(dport: d, size: 1000, rate: 10_000_000, duration: 2 * Time.s), 1)) }
        flows.append((Flow(dport: 9, size: 1000, rate: 10_000_000, duration: 2 * Time.s), 2))
        let (_, out, report) = try run(trace(flows), ["qdisc add dev eth0 root cake bandwidth 10mbit besteffort dual-srchost"])
        let h1 = throughput(out, from: 500 * Time.ms, to: 1900 * Time.ms) { self.host($0) == 1 }
        let h2 = throughput(out, from: 500 * Time.ms, to: 1900 * Time.ms) { self.host($0) == 2 }
        XCTAssertEqual(h1, 5e6, accuracy: 5e6 * 0.06, report.text)
        XCTAssertEqual(h2, 5e6, accuracy: 5e6 * 0.06, report.text)
        let (_, byFlow, _) = try run(trace(flows), ["qdisc add dev eth0 root cake bandwidth 10mbit besteffort flows"])
        XCTAssertEqual(throughput(byFlow, from: 500 * Time.ms, to: 1900 * Time.ms) { self.host($0) == 2 }, 2e6, accuracy: 2e6 * 0.06)
    }

    /// diffserv4: EF (DSCP 46) goes to the Voice tin, whose threshold is a quarter of the
    /// bandwidth; 2 Mbit/s of it keeps every packet and waits little beside a best-effort flood.
    /// The statistics name the four tins as tc prints them.
    func testVoiceTinAheadOfBestEffort() throws {
        let voice = Flow(dport: 5, size: 200, rate: 2_000_000, duration: 2 * Time.s, tos: 0xB8)
        let flows = [(Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 2 * Time.s), UInt8(1)), (voice, UInt8(1))]
        let (rp, out, report) = try run(trace(flows), ["qdisc add dev eth0 root cake bandwidth 10mbit diffserv4"])
        let sent = makeTrace([voice])
        let got = out.filter { dport($0) == 5 }
        XCTAssertEqual(got.count, sent.count, report.text)
        let gap = l2t(200, 2_000_000)
        let worst = got.map { $0.timestamp - (t0 + UInt64(seqOf($0)) * gap) }.max() ?? 0
        XCTAssertLessThan(worst, 5 * Time.ms, "voice waits at most a few packets")
        XCTAssertTrue(report.text.contains("                   Bulk  Best Effort        Video        Voice\n"), report.text)
        XCTAssertTrue(report.text.contains("  thresh        625Kbit       10Mbit        5Mbit     2500Kbit\n"), report.text)
        let q = try XCTUnwrap(rp.dev.qdisc as? CakeQdisc)
        XCTAssertEqual(q.tinCount, 4)
    }

    /// Memory limit: over `memlimit` the longest queue loses its head (cake_drop), so a short
    /// flow beside a flood is not the one that pays.
    func testOverflowDropsFromTheLongestQueue() throws {
        let flows = [(Flow(dport: 1, size: 1000, rate: 40_000_000, duration: 1 * Time.s), UInt8(1)),
                     (Flow(dport: 2, size: 500, rate: 1_000_000, duration: 1 * Time.s), UInt8(1))]
        let (rp, out, report) = try run(trace(flows), ["qdisc add dev eth0 root cake bandwidth 10mbit besteffort flows memlimit 200kb"])
        XCTAssertEqual(out.filter { dport($0) == 2 }.count, makeTrace([flows[1].0]).count, report.text)
        let q = try XCTUnwrap(rp.dev.qdisc as? CakeQdisc)
        XCTAssertGreaterThan(q.tins[0].dropOverlimit, 1000)
        XCTAssertLessThanOrEqual(q.bufferMaxUsed, 200 * 1024 + 2048)
    }

    /// The ACK filter (cake_ack_filter): pure ACKs of one connection, 1000 per second into a
    /// line that carries about 230: a queued ACK that a newer one covers is dropped (the one
    /// nearest the head once two are eligible), so what leaves still acknowledges in order and
    /// the last ACK always arrives. Without the filter none is dropped that way.
    func testACKFilterDropsRedundantPureACKs() throws {
        var recs: [PcapFile.Record] = []
        for i in 0..<2000 {
            let ip = FrameBuilder.tcp(srcIP: FrameBuilder.ip(198, 18, 0, 1), dstIP: FrameBuilder.ip(198, 18, 0, 2), sport: 40000, dport: 5201,
                                      seq: 1, payload: [])
            var fr = FrameBuilder.ethernet(dst: macB, src: macA, type: EtherType.ipv4, payload: ip)
            let ack = UInt32(1000 + i * 1448)
            fr[42] = UInt8(ack >> 24); fr[43] = UInt8((ack >> 16) & 0xff); fr[44] = UInt8((ack >> 8) & 0xff); fr[45] = UInt8(ack & 0xff)
            recs.append(.init(timestamp: t0 + UInt64(i) * Time.ms, data: fr))
        }
        func acks(_ out: [PcapFile.Record]) -> [UInt32] { out.map { UInt32($0.data[42]) << 24 | UInt32($0.data[43]) << 16 | UInt32($0.data[44]) << 8 | UInt32($0.data[45]) } }
        let (rp, out, report) = try run(recs, ["qdisc add dev eth0 root cake bandwidth 100kbit besteffort ack-filter"])
        let got = acks(out)
        let q = try XCTUnwrap(rp.dev.qdisc as? CakeQdisc)
        XCTAssertGreaterThan(q.tins[0].ackDrops, 1000, report.text)
        XCTAssertEqual(got, got.sorted(), "ACKs leave in order")
        XCTAssertEqual(got.last, UInt32(1000 + 1999 * 1448), "the newest ACK is delivered")
        XCTAssertEqual(got.count + Int(q.tins[0].ackDrops) + Int(q.tins[0].dropped), 2000)
        XCTAssertTrue(report.text.contains("ack-filter split-gso"), report.text)
        let (plain, _, _) = try run(recs, ["qdisc add dev eth0 root cake bandwidth 100kbit besteffort"])
        XCTAssertEqual(try XCTUnwrap(plain.dev.qdisc as? CakeQdisc).tins[0].ackDrops, 0)
    }
}
