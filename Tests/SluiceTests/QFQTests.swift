import Foundation
import XCTest
@testable import Sluice

/// qfq (sch_qfq.c) on replayed traffic through a 10 Mbit/s line: QFQ+ serves classes in
/// proportion to their weights (its WF2Q+ guarantee: each backlogged class gets
/// weight / Σweights of the line), whether the classes share an aggregate (same weight and
/// maximum packet) or not.
final class QFQTests: XCTestCase {
    func config(_ classes: [(minor: Int, weight: Int, maxpkt: Int?)]) -> [String] {
        var lines = ["qdisc add dev eth0 root handle 1: qfq"]
        for c in classes {
            lines.append("class add dev eth0 parent 1: classid 1:\(c.minor) qfq weight \(c.weight)" + (c.maxpkt.map { " maxpkt \($0)" } ?? ""))
            lines.append("filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport \(c.minor) 0xffff flowid 1:\(c.minor)")
        }
        return lines
    }

    func testSharesFollowTheWeights() throws {
        let flows = (1...3).map { Flow(dport: UInt16($0), size: 1000, rate: 20_000_000, duration: 2 * Time.s) }
        let (_, out, report) = try replay(flows, rate: "10mbit", config([(1, 10, nil), (2, 20, nil), (3, 30, nil)]))
        for (d, share) in [(1, 1.0 / 6), (2, 2.0 / 6), (3, 3.0 / 6)] {
            let got = throughput(out, from: 300 * Time.ms, to: 1900 * Time.ms) { dport($0) == UInt16(d) }
            XCTAssertEqual(got, 10e6 * share, accuracy: 10e6 * share * 0.05, "class 1:\(d)\n" + report.text)
        }
        XCTAssertTrue(report.text.contains("class qfq 1:2 root weight 20 maxpkt 1514 "), report.text)
    }

    /// Two classes of one aggregate (same weight and maximum packet, DRR between them) and one
    /// of another: 1 : 1 : 2.
    func testClassesSharingAnAggregate() throws {
        let flows = [Flow(dport: 1, size: 1000, rate: 20_000_000, duration: 2 * Time.s),
                     Flow(dport: 2, size: 500, rate: 20_000_000, duration: 2 * Time.s),
                     Flow(dport: 3, size: 1000, rate: 20_000_000, duration: 2 * Time.s)]
        let (rp, out, report) = try replay(flows, rate: "10mbit", config([(1, 5, nil), (2, 5, nil), (3, 10, nil)]))
        for (d, share) in [(1, 0.25), (2, 0.25), (3, 0.5)] {
            let got = throughput(out, from: 300 * Time.ms, to: 1900 * Time.ms) { dport($0) == UInt16(d) }
            XCTAssertEqual(got, 10e6 * share, accuracy: 10e6 * share * 0.05, "class 1:\(d)\n" + report.text)
        }
        let q = try XCTUnwrap(rp.dev.qdisc as? QFQQdisc)
        XCTAssertEqual(q.aggs.filter(\.inUse).count, 2, "1:1 and 1:2 share an aggregate")
        XCTAssertEqual(q.wsum, 20)
    }

    /// A packet longer than its class's maximum moves the class to an aggregate with that
    /// maximum (qfq_enqueue's qfq_change_agg), as `tc class show` then says.
    func testMaxpktGrowsWithALongerPacket() throws {
        let (_, out, report) = try replay([Flow(dport: 1, size: 1000, rate: 1_000_000, duration: 100 * Time.ms)], rate: "10mbit",
                                          config([(1, 1, 512)]))
        XCTAssertEqual(out.count, makeTrace([Flow(dport: 1, size: 1000, rate: 1_000_000, duration: 100 * Time.ms)]).count)
        XCTAssertTrue(report.text.contains("class qfq 1:1 root weight 1 maxpkt 1000 "), report.text)
    }

    /// Weight and maximum packet limits (the kernel's policy ranges and weight sum).
    func testLimits() throws {
        let env = QdiscEnv(pool: PacketPool(capacity: 16), clock: .virtual(), mtu: 1514, txQueueLen: 1000)
        let q = QFQQdisc(handle: TcHandle(1, 0), parent: .root, env: env)
        XCTAssertThrowsError(try q.setClass(TcHandle(1, 1), weight: 0, lmax: nil, create: true, exclusive: true))
        XCTAssertThrowsError(try q.setClass(TcHandle(1, 1), weight: 1025, lmax: nil, create: true, exclusive: true))
        XCTAssertThrowsError(try q.setClass(TcHandle(1, 1), weight: 1, lmax: 511, create: true, exclusive: true))
        for i in 1...64 { try q.setClass(TcHandle(1, UInt16(i)), weight: 1024, lmax: nil, create: true, exclusive: true) }
        XCTAssertThrowsError(try q.setClass(TcHandle(1, 65), weight: 1, lmax: nil, create: true, exclusive: true)) { e in
            XCTAssertTrue("\(e)".contains("total weight out of range (1 + 65536)"), "\(e)")
        }
        try q.deleteClass(TcHandle(1, 1))
        XCTAssertEqual(q.wsum, 63 * 1024)
    }
}
