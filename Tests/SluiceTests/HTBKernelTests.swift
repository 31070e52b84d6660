import Foundation
import XCTest
@testable import Sluice

/// htb as net/sched/sch_htb.c behaves, with expectations from this machine's kernel (measured
/// side by side: see the issue notes) or from the kernel's source where stated.
final class HTBKernelTests: XCTestCase {
    /// Two saturated leaves whose rates add up to their parent's rate each get their own rate:
    /// the kernel, `htb default 20`, 1:1 10mbit, 1:10 3mbit ceil 10mbit, 1:20 7mbit ceil 10mbit,
    /// two saturated TCP flows measured 2.94 and 6.80 Mbit/s of goodput (30.2 % / 69.8 %).
    func testLeavesFillingTheirParentEachGetTheirRate() throws {
        let cfg = ["qdisc add dev eth0 root handle 1: htb default 20",
                   "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 10 0xffff flowid 1:10",
                   "class add dev eth0 parent 1: classid 1:1 htb rate 10mbit",
                   "class add dev eth0 parent 1:1 classid 1:10 htb rate 3mbit ceil 10mbit",
                   "class add dev eth0 parent 1:1 classid 1:20 htb rate 7mbit ceil 10mbit"]
        let (_, out, report) = try replay([Flow(dport: 10, size: 1500, rate: 20_000_000, duration: 2 * Time.s),
                                           Flow(dport: 20, size: 1500, rate: 20_000_000, duration: 2 * Time.s)], rate: "100mbit", cfg)
        let a = throughput(out, from: 500 * Time.ms, to: 1900 * Time.ms) { dport($0) == 10 }
        let b = throughput(out, from: 500 * Time.ms, to: 1900 * Time.ms) { dport($0) == 20 }
        XCTAssertEqual(a, 3e6, accuracy: 3e6 * 0.03, report.text)
        XCTAssertEqual(b, 7e6, accuracy: 7e6 * 0.03, report.text)
    }
}
