import XCTest
@testable import Sluice

/// `tc show` text for the kinds this machine's kernel lacks, worked out by hand from
/// iproute2 6.1's print functions (q_prio.c, q_codel.c, q_netem.c, q_red.c, q_drr.c, q_sfq.c)
/// over the values the kernel would dump. (Kinds the kernel has are compared with the real
/// `tc` in IntegrationTests/TcSideBySideTests.)
final class TcPrintTests: XCTestCase {
    func show(_ lines: [String], _ cmd: String) throws -> String {
        let dp = Datapath(poolSize: 64, clock: .virtual(start: 1))
        let r = CommandRunner(datapath: dp)
        try dp.addLine(name: "eth0", rate: 1_000_000_000, output: nil)
        for l in lines { try r.execute(l) }
        return try r.execute(cmd)
    }

    func testPrio() throws {
        // prio_print_opt: "bands %u " then "priomap" and " %d" per entry, no trailing space.
        XCTAssertEqual(try show(["qdisc add dev eth0 root handle 1: prio"], "qdisc show dev eth0"),
                       "qdisc prio 1: root refcnt 2 bands 3 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n")
        // prio_dump_class: parent is the qdisc; the default pfifo children have handle 0 (no
        // "leaf"); no class options.
        XCTAssertEqual(try show(["qdisc add dev eth0 root handle 1: prio bands 2 priomap 1 0"], "class show dev eth0"),
                       "class prio 1:1 parent 1: \nclass prio 1:2 parent 1: \n")
    }

    func testCoDel() throws {
        XCTAssertEqual(try show(["qdisc add dev eth0 root handle 1: codel"], "qdisc show dev eth0"),
                       "qdisc codel 1: root refcnt 2 limit 1000p target 5ms interval 100ms \n")
        XCTAssertEqual(try show(["qdisc add dev eth0 root handle 1: codel limit 500 target 2.5ms interval 30ms ecn"], "qdisc show dev eth0"),
                       "qdisc codel 1: root refcnt 2 limit 500p target 2.5ms interval 30ms ecn \n")
    }

    func testNetem() throws {
        // netem_print_opt: " delay %s", "  %s" jitter, " %g%%" correlation; loss, duplicate,
        // reorder, corrupt, rate, then gap last; percentages through rint(p × (2^32 − 1)).
        XCTAssertEqual(try show(["qdisc add dev eth0 root handle 1: netem delay 100ms 10ms 25% loss 1% duplicate 2% reorder 25% 50% gap 5 corrupt 0.1% rate 1mbit"],
                                "qdisc show dev eth0"),
                       "qdisc netem 1: root refcnt 2 limit 1000 delay 100ms  10ms 25% loss 1% duplicate 2% reorder 25% 50% corrupt 0.1% rate 1Mbit gap 5\n")
        XCTAssertEqual(try show(["qdisc add dev eth0 root handle 1: netem delay 1.5ms"], "qdisc show dev eth0"),
                       "qdisc netem 1: root refcnt 2 limit 1000 delay 1.5ms\n")
    }

    func testRED() throws {
        // sprint_size keeps bytes that are not within 16 of a whole KiB.
        XCTAssertEqual(try show(["qdisc add dev eth0 root handle 1: red limit 400000 min 30000 max 90000 avpkt 1000 burst 55 probability 0.02 bandwidth 10mbit ecn"],
                                "qdisc show dev eth0"),
                       "qdisc red 1: root refcnt 2 limit 400000b min 30000b max 90000b ecn \n")
    }

    func testDRR() throws {
        // drr_dump_class: parent TC_H_ROOT ("root"), quantum from drr_print_opt.
        let lines = ["qdisc add dev eth0 root handle 1: drr", "class add dev eth0 parent 1: classid 1:1 drr quantum 1514"]
        XCTAssertEqual(try show(lines, "qdisc show dev eth0"), "qdisc drr 1: root refcnt 2 \n")
        XCTAssertEqual(try show(lines, "class show dev eth0"), "class drr 1:1 root quantum 1514b \n")
        XCTAssertEqual(try show(lines, "-s class show dev eth0"),
                       "class drr 1:1 root quantum 1514b \n Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0) \n backlog 0b 0p requeues 0\n deficit 0b \n")
    }

    func testSFQ() throws {
        // sfq_print_opt: flows only with -d, before divisor.
        XCTAssertEqual(try show(["qdisc add dev eth0 root handle 1: sfq"], "-d qdisc show dev eth0"),
                       "qdisc sfq 1: root refcnt 2 limit 127p quantum 1514b depth 127 flows 128 divisor 1024 \n")
    }

    func testFormatsAsC() {
        XCTAssertEqual(TcFormat.rateBytes(1_250_000), "10Mbit")
        XCTAssertEqual(TcFormat.rateBytes(187_500), "1500Kbit")
        XCTAssertEqual(TcFormat.rateBytes(8), "64bit")
        XCTAssertEqual(TcFormat.sizeU32(1_514_000), "1514000b")
        XCTAssertEqual(TcFormat.sizeU32(32766), "32Kb")
        XCTAssertEqual(TcFormat.sizeU32(33_554_432), "32Mb")
        XCTAssertEqual(TcFormat.timeUs(73_728), "73.7ms")
        XCTAssertEqual(TcFormat.timeUs(1_500_000), "1.5s")
        XCTAssertEqual(TcFormat.timeUs(500), "500us")
        // tc_calc_xmittime → tc_calc_xmitsize: 1600 bytes at 3 Mbit/s come back as 1599.
        XCTAssertEqual(TcCore.xmitsize(rate: 375_000, ticks: TcCore.xmittime(rate: 375_000, size: 1600)), 1599)
    }
}
