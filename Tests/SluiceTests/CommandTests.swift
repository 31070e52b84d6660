import Foundation
import XCTest
@testable import Sluice

final class CommandTests: XCTestCase {
    var lab: Lab!
    override func setUpWithError() throws { lab = try Lab(ports: ["p1", "p2"]) }

    func expectError(_ line: String, contains: String, file: StaticString = #filePath, line l: UInt = #line) {
        let before = lab.runner.report()
        XCTAssertThrowsError(try lab.runner.execute(line), file: file, line: l) { e in
            let msg = (e as! SluiceError).message
            XCTAssertTrue(msg.contains(contains), "\"\(msg)\" lacks \"\(contains)\"", file: file, line: l)
            XCTAssertFalse(msg.contains("\n"), "one line", file: file, line: l)
        }
        XCTAssertEqual(lab.runner.report(), before, "nothing changed after: \(line)", file: file, line: l)
    }

    /// What a walk of /proc/sys/net lists is what `sysctl` answers: every listed key reads,
    /// directories list their entries sorted, and a key is no directory.
    func testSysctlDirectoriesListOnlyKeysThatRead() throws {
        let r = try MemoryRouter([])
        let paths = r.runner.sysctlPaths()
        XCTAssertGreaterThan(paths.count, 40)
        for p in paths {
            let key = p.map { $0.replacingOccurrences(of: ".", with: "/") }.joined(separator: ".")
            XCTAssertNoThrow(try r.runner.sysctl([key]), key)
        }
        XCTAssertEqual(r.runner.sysctlDirectory(["net"]), ["core/", "ipv4/", "ipv6/", "vrf/"])
        XCTAssertEqual(r.runner.sysctlDirectory(["net", "ipv6", "conf"]), ["all/", "default/", "r1/", "r2/"])
        XCTAssertNil(r.runner.sysctlDirectory(["net", "ipv4", "ip_forward"]))
        XCTAssertNil(r.runner.sysctlDirectory(["net", "nosuch"]))
    }

    /// net.core.busy_poll and net.core.default_qdisc on a running daemon (live clock): the
    /// window every device has from then on and new ones get; the root new devices get.
    func testNetCoreKnobsApplyToADaemon() throws {
        let dp = Datapath(poolSize: 64, clock: .real())
        dp.log = { _ in }
        let runner = CommandRunner(datapath: dp)
        dp.defaultBusyPollNs = 50 * Time.us
        try dp.addMemory(name: "m1", driver: MemoryDriver())
        XCTAssertEqual(try runner.sysctl(["net.core.busy_poll"]), "net.core.busy_poll = 50\n")
        XCTAssertEqual(try runner.sysctl(["-w", "net.core.busy_poll=0"]), "net.core.busy_poll = 0\n")
        XCTAssertEqual(dp.device(named: "m1")?.napi.busyPollNs, 0)
        _ = try runner.sysctl(["net.core.busy_poll=200"])
        try dp.addMemory(name: "m2", driver: MemoryDriver())
        XCTAssertEqual([dp.device(named: "m1")?.napi.busyPollNs, dp.device(named: "m2")?.napi.busyPollNs], [200 * Time.us, 200 * Time.us])
        XCTAssertThrowsError(try runner.sysctl(["net.core.busy_poll=-1"]))
        XCTAssertEqual(dp.defaultBusyPollNs, 200 * Time.us)
        try runner.execute("link set m1 up")
        XCTAssertEqual(try runner.sysctl(["net.core.default_qdisc"]), "net.core.default_qdisc = pfifo_fast\n")
        _ = try runner.sysctl(["net.core.default_qdisc=fq_codel"])
        try dp.addMemory(name: "m3", driver: MemoryDriver())
        try runner.execute("link set m3 up")
        XCTAssertTrue(dp.device(named: "m3")?.qdisc is FQCoDelQdisc)
        XCTAssertFalse(dp.device(named: "m1")?.qdisc is FQCoDelQdisc, "a device already up keeps its root")
        XCTAssertThrowsError(try runner.sysctl(["net.core.default_qdisc=nosuch"]))
        XCTAssertEqual(dp.defaultQdiscKind, "fq_codel")
    }

    func testMalformedLinesGiveOneClearErrorAndChangeNothing() {
        expectError("lnk set p1 up", contains: "unknown object \"lnk\"")
        expectError("link frob p1", contains: "unknown link command")
        expectError("link set nosuch up", contains: "Cannot find device \"nosuch\"")
        expectError("link set p1 mtu", contains: "\"mtu\" needs an argument")
        expectError("link set p1 mtu 12", contains: "mtu less than device minimum")
        expectError("link set p1 mtu abc", contains: "argument \"abc\" is wrong")
        expectError("link set p1 promisc maybe", contains: "must be \"on\" or \"off\"")
        expectError("link set p1 master p2", contains: "p2 is not a bridge")
        expectError("link set br0 master br0", contains: "Can not enslave a bridge to a bridge")
        expectError("link add x type warp", contains: "unknown link type \"warp\"")
        expectError("link add x", contains: "\"type\" is required")
        expectError("link add p1 type bridge", contains: "already exists")
        expectError("link add waytoolongname0123 type bridge", contains: "not a valid device name")
        expectError("link add x type afpacket", contains: "needs \"dev KERNEL_IFNAME\"")
        expectError("link add x type pcap", contains: "give \"in FILE\"")
        expectError("link add x type tap dev y", contains: "not an argument of type tap")
        expectError("link add x type tap rx ring", contains: "rx must be uring or read, not \"ring\"")
        expectError("link add x type tap tx sendmmsg", contains: "tx must be uring or write, not \"sendmmsg\"")
        expectError("link add x type tap queues 0", contains: "\"queues\" takes an integer in 1...16")
        expectError("link add x type tap queues 17", contains: "\"queues\" takes an integer in 1...16")
        expectError("fdb add 02:00:00:00:00:zz dev p1", contains: "not a valid MAC")
        expectError("fdb add ff:ff:ff:ff:ff:ff dev p1", contains: "not a unicast")
        expectError("fdb add 02:00:00:00:00:01", contains: "needs \"dev PORT\"")
        expectError("fdb add 02:00:00:00:00:01 dev br0", contains: "not a bridge port")
        expectError("fdb del 02:00:00:00:00:01 dev p1", contains: "no fdb entry")
        expectError("link set p1 \"up", contains: "unterminated quote")
    }

    /// `addrlabel` refusals in the batch grammar: iproute2's ipaddrlabel_modify words for a
    /// missing prefix or label and an invalid one; the kernel's errno (ip6addrlbl_add: EEXIST,
    /// ip6addrlbl_del: ESRCH, a mapped prefix past /96: EINVAL) as ip prints it.
    func testAddrLabelRefusalsInTheBatchGrammar() throws {
        expectError("addrlabel add label 5", contains: "Not enough information: \"prefix\" argument is required.")
        expectError("addrlabel add prefix 2001:db8::/32", contains: "Not enough information: \"label\" argument is required.")
        expectError("addrlabel add prefix 2001:db8::/32 label 4294967295", contains: "argument \"4294967295\" is wrong: label is invalid")
        expectError("addrlabel add prefix 2001:db8::/32 dev nosuch label 1", contains: "argument \"nosuch\" is wrong: dev is invalid")
        expectError("addrlabel add prefix 2001:zz::/32 label 1", contains: "inet6 prefix is expected")
        expectError("addrlabel add prefix ::ffff:198.18.0.1/128 label 1", contains: "RTNETLINK answers: Invalid argument")
        expectError("addrlabel add prefix ::/0 label 9", contains: "RTNETLINK answers: File exists")
        expectError("addrlabel del prefix 2001:db8::/32 label 1", contains: "RTNETLINK answers: No such process")
        XCTAssertEqual(lab.dp.ipv6.addressLabels.entries.count, 10, "the default table, unchanged")
        try lab.runner.execute("addrlabel add prefix 2001:db8::/32 label 9")
        XCTAssertTrue(try lab.runner.execute("addrlabel list").contains("prefix 2001:db8::/32 label 9 \n"))
        try lab.runner.execute("addrlabel flush")
        XCTAssertEqual(try lab.runner.execute("addrlabel list"), "")
    }

    /// A line that fails validation changes nothing (the undo path after a failure while
    /// applying is exercised against a real interface in RollbackTests).
    /// The bridge's STP settings in the batch grammar: kept (br_dev_setup's defaults, then what
    /// was set), bounded as br_set_hello_time, br_set_max_age and (while STP runs)
    /// br_set_forward_delay bound them, applied whole or not at all; what the bridge does not
    /// have is refused, not ignored.
    func testBridgeSettingsAreKeptBoundedAndRefusedWhole() throws {
        let br = lab.dp.bridge(lab.dp.device(named: "br0")!)!
        XCTAssertEqual([br.forwardDelay, br.helloTime, br.maxAge, UInt32(br.priority)], [1500, 200, 2000, 0x8000])
        try lab.runner.execute("link set br0 type bridge forward_delay 100 hello_time 1000 max_age 600 priority 4096")
        XCTAssertEqual([br.forwardDelay, br.helloTime, br.maxAge, UInt32(br.priority)], [100, 1000, 600, 4096])
        expectError("link set br0 type bridge priority 1 hello_time 99", contains: "hello_time 99 is out of range")
        expectError("link set br0 type bridge max_age 4001", contains: "max_age 4001 is out of range")
        expectError("link set br0 type bridge mcast_snooping 1 nf_call_iptables 1", contains: "no netfilter hooks")
        expectError("link set br0 type bridge nf_call_arptables 1", contains: "no netfilter hooks")
        expectError("link set p1 type bridge priority 1", contains: "p1 is not of type bridge")
        XCTAssertEqual(br.priority, 4096)
        // br_stp_start brings the forward delay into 2–30 s; while STP runs it stays there.
        try lab.runner.execute("link set br0 type bridge stp_state 1")
        XCTAssertEqual(br.forwardDelay, 200)
        expectError("link set br0 type bridge priority 1 forward_delay 100", contains: "forward_delay 100 is out of range")
        XCTAssertEqual(br.priority, 4096)
        try lab.runner.execute("link set br0 type bridge stp_state 0 mcast_snooping 0")
        try lab.runner.execute("link set br0 type bridge forward_delay 100")
        XCTAssertEqual(br.forwardDelay, 100)
    }

    func testValidationFailureChangesNothing() throws {
        try lab.runner.execute("link set p1 down nomaster")
        XCTAssertEqual(lab.dev("p1").promiscuity, 0)
        expectError("link set p1 up promisc on master p2", contains: "not a bridge")
        XCTAssertFalse(lab.dev("p1").isUp)
        XCTAssertEqual(lab.dev("p1").promiscuity, 0)
    }

    func testPromiscuityIsACount() throws {
        let p1 = lab.dev("p1")
        XCTAssertEqual(p1.promiscuity, 1, "bridge port holds one")
        try lab.runner.execute("link set p1 promisc on")
        XCTAssertEqual(p1.promiscuity, 2)
        try lab.runner.execute("link set p1 promisc on")
        XCTAssertEqual(p1.promiscuity, 2, "promisc on twice holds one reference")
        try lab.runner.execute("link set p1 nomaster")
        XCTAssertEqual(p1.promiscuity, 1)
        XCTAssertTrue(p1.displayFlags.contains(.promisc))
        try lab.runner.execute("link set p1 promisc off")
        XCTAssertEqual(p1.promiscuity, 0)
        XCTAssertFalse(p1.displayFlags.contains(.promisc))
    }

    func testAbbreviationsAndShow() throws {
        try lab.runner.execute("l s p1 down")
        XCTAssertFalse(lab.dev("p1").isUp)
        let show = try lab.runner.execute("-s link show p1")
        XCTAssertTrue(show.contains("p1: <BROADCAST,MULTICAST> mtu 1500"), show)
        XCTAssertTrue(show.contains("master br0 state DOWN"), show)
        XCTAssertTrue(show.contains("RX:  bytes packets"), show)
        XCTAssertTrue(try lab.runner.execute("link show").contains("br0"))
        XCTAssertEqual(try lab.runner.execute("# a comment"), "")
        try lab.runner.execute("link del p2")
        XCTAssertNil(lab.dp.device(named: "p2"))
        try lab.runner.execute("link del br0")
        XCTAssertEqual(lab.dev("p1").master, 0)
        XCTAssertEqual(lab.dev("p1").promiscuity, 0)
    }

    /// `chain` in the batch grammar. The expected text is what Debian's tc printed for the
    /// same commands against this machine's kernel (ExecTests compares the two over netlink):
    /// chains in the order they were made, the owning qdisc's handle shown unless it is the
    /// parent asked for.
    func testChainsInTheBatchGrammar() throws {
        try lab.runner.execute("qdisc add dev p1 ingress")
        try lab.runner.execute("chain add dev p1 ingress chain 3")
        try lab.runner.execute("chain add dev p1 ingress chain 1")
        XCTAssertEqual(try lab.runner.execute("chain show dev p1 ingress"), "chain parent ffff: chain 3 \nchain parent ffff: chain 1 \n")
        XCTAssertEqual(try lab.runner.execute("chain show dev p1 parent ffff:"), "chain chain 3 \nchain chain 1 \n")
        XCTAssertEqual(try lab.runner.execute("chain get dev p1 ingress chain 1"), "chain parent ffff: chain 1 \n")
        expectError("chain add dev p1 ingress chain 3", contains: "Filter chain already exists")
        expectError("chain get dev p1 ingress chain 9", contains: "Cannot find specified filter chain")
        expectError("chain del dev p1 ingress chain 9", contains: "Cannot find specified filter chain")
        expectError("chain add dev p1 ingress chain 268435456", contains: "exceeds upper limit")
        try lab.runner.execute("filter add dev p1 ingress chain 3 prio 1 protocol ip u32 match ip dst 198.18.0.1/32 flowid 1:1")
        try lab.runner.execute("chain del dev p1 ingress chain 3")
        XCTAssertEqual(try lab.runner.execute("filter show dev p1 ingress"), "", "deleting a chain deletes its filters")
        XCTAssertEqual(try lab.runner.execute("chain show dev p1 ingress"), "chain parent ffff: chain 1 \n")
    }

    /// `stab` in the batch grammar: tc's table for ATM (what Debian's tc printed for the same
    /// words against this kernel in ExecTests), and the lengths it charges — a 1514-byte frame
    /// with 24 bytes of overhead takes ⌈1538/48⌉ = 33 cells of 53 bytes.
    func testSizeTableInTheBatchGrammar() throws {
        try lab.runner.execute("qdisc add dev p1 root handle 1: stab overhead 24 linklayer atm tbf rate 10mbit burst 32kb latency 50ms")
        let show = try lab.runner.execute("-d qdisc show dev p1")
        XCTAssertTrue(show.contains("\n linklayer atm overhead 24 mtu 2047 tsize 512 \n"), show)
        let st = try XCTUnwrap(lab.dev("p1").qdisc.sizeTable)
        XCTAssertEqual(st.length(1514), 33 * 53)
        XCTAssertEqual(st.length(60), 2 * 53)
        // Past the table (cells of 4 bytes, 512 slots) __qdisc_calculate_pkt_len extrapolates:
        // slot 1255 = 2 × 512 + 231 → 2 × data[511] + data[231] = 2 × 2279 + 1060.
        XCTAssertEqual(st.length(5000), 2 * 2279 + 1060)
        try lab.runner.execute("qdisc change dev p1 root handle 1: tbf rate 10mbit burst 32kb latency 50ms")
        XCTAssertNil(lab.dev("p1").qdisc.sizeTable, "a change without stab removes it, as qdisc_change does")
        expectError("qdisc add dev p1 parent 1:1 handle 2: stab overhead 4 pfifo", contains: "root qdisc only")
    }
}

final class CPUPlanTests: XCTestCase {
    func testParseList() throws {
        XCTAssertEqual(try CPUPlan.parseList("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11])
        XCTAssertEqual(try CPUPlan.parseList(""), [])
        XCTAssertThrowsError(try CPUPlan.parseList("3-1"))
        XCTAssertThrowsError(try CPUPlan.parseList("a"))
        XCTAssertThrowsError(try CPUPlan.parseList("1,,2"))
    }

    func testIsolatedCPUsGoToTheDatapathNeverToHousekeeping() throws {
        let p = try CPUPlan.make(allowed: [0, 1, 2, 3], isolated: [2, 3], requested: nil)
        XCTAssertEqual(p, CPUPlan(datapath: 2, housekeeping: [0, 1]))
        let q = try CPUPlan.make(allowed: [0, 1, 2, 3], isolated: [2, 3], requested: [1])
        XCTAssertEqual(q, CPUPlan(datapath: 1, housekeeping: [0]))
        let r = try CPUPlan.make(allowed: [0, 1], isolated: [], requested: nil)
        XCTAssertEqual(r, CPUPlan(datapath: 1, housekeeping: [0]))
        let single = try CPUPlan.make(allowed: [0], isolated: [], requested: nil)
        XCTAssertEqual(single, CPUPlan(datapath: 0, housekeeping: [0]))
        XCTAssertThrowsError(try CPUPlan.make(allowed: [0, 1], isolated: [], requested: [7]))
    }

    func testPinningTheCurrentThread() throws {
        let before = CPUPlan.allowedCPUs()
        let t = Thread {
            try? CPUPlan.pinCurrentThread([before.last!])
            XCTAssertEqual(CPUPlan.currentThreadAffinity(), [before.last!])
        }
        t.start()
        while !t.isFinished { usleep(1000) }
    }
}
