import Foundation
import XCTest
@testable import Sluice

/// cbs (sch_cbs.c), software path, on a 100 Mbit/s line (its port rate): IEEE 802.1Q's
/// credit-based shaper gives a class its idle slope as long-term rate, whatever it offers
/// beyond, with sendslope = idleslope − port rate.
final class CBSTests: XCTestCase {
    func testLongTermRateIsTheIdleSlope() throws {
        let (rp, out, report) = try replay([Flow(dport: 1, size: 1000, rate: 50_000_000, duration: 1 * Time.s)], rate: "100mbit",
                                           ["qdisc add dev eth0 root handle 1: cbs idleslope 20000 sendslope -80000 hicredit 30 locredit -1470"])
        XCTAssertEqual(throughput(out, from: 100 * Time.ms, to: 900 * Time.ms), 20e6, accuracy: 20e6 * 0.02, report.text)
        XCTAssertTrue(report.text.contains("qdisc cbs 1: root refcnt 2 hicredit 30 locredit -1470 sendslope -80000 idleslope 20000 offload 0 \n"), report.text)
        XCTAssertTrue(report.text.contains("qdisc pfifo 0: parent 1: limit 1000p"), report.text)
        let q = try XCTUnwrap(rp.dev.qdisc as? CBSQdisc)
        XCTAssertEqual(q.portRate, 12_500_000, "the line's rate in bytes per second")
        // Credits never fall below locredit nor rise above hicredit.
        XCTAssertGreaterThanOrEqual(q.credits, -1470)
        XCTAssertLessThanOrEqual(q.credits, 30)
    }

    /// A stream under its idle slope passes untouched: packets leave as they come.
    func testStreamUnderTheIdleSlopeIsNotDelayed() throws {
        let (_, out, _) = try replay([Flow(dport: 1, size: 500, rate: 5_000_000, duration: 1 * Time.s)], rate: "100mbit",
                                     ["qdisc add dev eth0 root handle 1: cbs idleslope 20000 sendslope -80000 hicredit 30 locredit -1470"])
        XCTAssertEqual(out.count, makeTrace([Flow(dport: 1, size: 500, rate: 5_000_000, duration: 1 * Time.s)]).count)
        let gap = l2t(500, 5_000_000)
        let worst = out.map { $0.timestamp - (t0 + UInt64(seqOf($0)) * gap) }.max() ?? 0
        XCTAssertLessThan(worst, 200 * Time.us, "no more than a packet's time on the port and a little credit")
    }

    /// Offload needs a device that shapes; none here does, and the kernel refuses it the same
    /// way on a device without ndo_setup_tc.
    func testOffloadIsRefused() throws {
        XCTAssertThrowsError(try replay([], rate: "100mbit", ["qdisc add dev eth0 root handle 1: cbs idleslope 20000 offload 1"])) { e in
            XCTAssertTrue("\(e)".contains("does not support cbs offload"), "\(e)")
        }
    }
}
