import Foundation
import XCTest
import Sluice

/// The same tc lines applied to this machine's kernel (on a single-queue veth "d0" in a
/// namespace of the test) and to Sluice (a device "d0" of an in-process datapath): what
/// `tc [-s] [-d] qdisc|class|filter show` prints must be the same, word for word, and the same
/// frames must be classified alike. Only what the kernel has is compared here (pfifo, bfifo,
/// pfifo_head_drop, pfifo_fast, tbf, htb, ingress, clsact, u32, mirred).
final class TcSideBySideTests: XCTestCase {
    var net: TestNet!
    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    /// A kernel "d0" (peer "d1") in a fresh namespace, IPv6 off so nothing is sent on its own.
    func kernelDevice(up: Bool) throws -> String {
        let ns = try net.netns("tc")
        try sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
        try sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"])
        try sh(["ip", "-n", ns, "link", "add", "d0", "numtxqueues", "1", "numrxqueues", "1", "type", "veth",
                "peer", "name", "d1", "numtxqueues", "1", "numrxqueues", "1"])
        if up { for d in ["d0", "d1"] { try sh(["ip", "-n", ns, "link", "set", d, "up"]) } }
        return ns
    }

    /// Sluice's side: in-memory devices d0 and d1, both up.
    func sluiceDevice() throws -> (Datapath, CommandRunner) {
        let dp = Datapath(poolSize: 512)
        dp.log = { _ in }
        let r = CommandRunner(datapath: dp)
        try dp.addMemory(name: "d0")
        try dp.addMemory(name: "d1")
        try r.execute("link set d0 up")
        try r.execute("link set d1 up")
        return (dp, r)
    }

    func tc(_ ns: String, _ line: String) throws -> String {
        try sh(["ip", "netns", "exec", ns, "tc"] + line.split(separator: " ").map(String.init), stderr: false)
    }

    /// print_tm's ages depend on when the command ran; they are not compared.
    func maskTimes(_ s: String) -> String {
        s.replacingOccurrences(of: #" (installed|used|firstused) \d+ sec"#, with: "", options: .regularExpression)
    }

    func compare(_ setup: [String], shows: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let ns = try kernelDevice(up: false)
        let (_, sluice) = try sluiceDevice()
        for l in setup {
            try sh(["ip", "netns", "exec", ns, "tc"] + l.split(separator: " ").map(String.init))
            try sluice.execute(l)
        }
        for show in shows {
            let k = maskTimes(try tc(ns, show)), s = maskTimes(try sluice.execute(show))
            XCTAssertEqual(s, k, "tc \(show) after \(setup.joined(separator: "; "))\n--- kernel:\n\(k)--- sluice:\n\(s)", file: file, line: line)
        }
        net.cleanup()
        net = try TestNet()
    }

    let qdiscShows = ["qdisc show dev d0", "-s qdisc show dev d0", "-d qdisc show dev d0"]
    let classShows = ["class show dev d0", "-s class show dev d0", "-d class show dev d0", "-s -d class show dev d0"]
    let filterShows = ["filter show dev d0", "-s filter show dev d0", "-d filter show dev d0"]

    func testFifoAndPfifoFastShowAsTheKernel() throws {
        for q in ["pfifo", "pfifo limit 50", "bfifo", "bfifo limit 30kb", "pfifo_head_drop limit 20", "pfifo_fast"] {
            try compare(["qdisc add dev d0 root handle 1: \(q)"], shows: qdiscShows)
        }
    }

    func testTBFShowsAsTheKernel() throws {
        for q in ["tbf rate 10mbit burst 32kb latency 50ms", "tbf rate 10mbit burst 10kb limit 100kb",
                  "tbf rate 10mbit burst 50kb latency 100ms peakrate 20mbit mtu 1600", "tbf rate 3mbit burst 7000 latency 20ms",
                  "tbf rate 1500kbit burst 1600 limit 3000"] {
            try compare(["qdisc add dev d0 root handle 1: \(q)"], shows: qdiscShows)
        }
        // tbf is classful: a child in class 1:1, listed with its class.
        try compare(["qdisc add dev d0 root handle 1: tbf rate 10mbit burst 32kb latency 50ms",
                     "qdisc add dev d0 parent 1:1 handle 10: pfifo limit 7"], shows: qdiscShows + classShows)
    }

    func testHTBTreeShowsAsTheKernel() throws {
        try compare(["qdisc add dev d0 root handle 1: htb default 20",
                     "class add dev d0 parent 1: classid 1:1 htb rate 10mbit",
                     "class add dev d0 parent 1:1 classid 1:10 htb rate 3mbit ceil 10mbit prio 2",
                     "class add dev d0 parent 1:1 classid 1:20 htb rate 7mbit ceil 10mbit",
                     "class add dev d0 parent 1:10 classid 1:100 htb rate 1mbit",
                     "class add dev d0 parent 1:100 classid 1:1000 htb rate 1mbit burst 10k cburst 20k",
                     "class add dev d0 parent 1: classid 1:5 htb rate 1mbit quantum 3000",
                     "qdisc add dev d0 parent 1:20 handle 20: pfifo limit 30"],
                    shows: qdiscShows + classShows)
        try compare(["qdisc add dev d0 root handle 1: htb r2q 5 direct_qlen 10"], shows: qdiscShows)
    }

    func testU32AndMirredFiltersShowAsTheKernel() throws {
        try compare(["qdisc add dev d0 root handle 1: htb default 20",
                     "class add dev d0 parent 1: classid 1:10 htb rate 3mbit",
                     "filter add dev d0 parent 1: protocol ip prio 1 u32 match ip dport 10 0xffff flowid 1:10",
                     "filter add dev d0 parent 1: protocol ip prio 1 u32 match ip sport 22 0xffff flowid 1:10",
                     "filter add dev d0 parent 1: protocol ip prio 2 u32 match ip src 198.18.0.0/16 match ip sport 80 0xffff flowid 1:10",
                     "filter add dev d0 parent 1: protocol all prio 3 u32 match u32 0 0 action mirred egress mirror dev d1",
                     "filter add dev d0 parent 1: protocol ip prio 4 u32 match u8 0x11 0xff at 9 match u16 0x0050 0xffff at nexthdr+22 flowid 1:10 action mirred egress redirect dev d1"],
                    shows: filterShows + ["filter show dev d0 parent 1:", "filter show dev d0 parent 1: prio 2"])
        // (A root of the same kind on both sides: the kernel's veth and Sluice's device differ
        // in their default root.)
        try compare(["qdisc add dev d0 root handle 1: pfifo", "qdisc add dev d0 clsact",
                     "filter add dev d0 egress protocol ip prio 1 u32 match ip dport 22 0xffff action mirred egress redirect dev d1",
                     "filter add dev d0 ingress protocol all prio 5 u32 match u32 0 0 flowid 1:1"],
                    shows: qdiscShows + filterShows + ["filter show dev d0 egress", "filter show dev d0 ingress", "-s filter show dev d0 egress"])
        try compare(["qdisc add dev d0 root handle 1: pfifo", "qdisc add dev d0 ingress",
                     "filter add dev d0 parent ffff: protocol ip prio 3 u32 match ip protocol 17 0xff flowid 1:1"],
                    shows: qdiscShows + ["filter show dev d0 parent ffff:"])
    }

    // MARK: Debian's tc against the daemon

    /// Debian's own `tc` prints the daemon's qdiscs and classes (through `sluice exec` and the
    /// control socket) exactly as it prints the kernel's for the same configuration.
    func testDebianTcShowsTheDaemonAsTheKernel() throws {
        let setup = ["qdisc add dev d0 root handle 1: htb default 20",
                     "class add dev d0 parent 1: classid 1:1 htb rate 10mbit",
                     "class add dev d0 parent 1:1 classid 1:10 htb rate 3mbit ceil 10mbit prio 2",
                     "class add dev d0 parent 1:1 classid 1:20 htb rate 7mbit ceil 10mbit",
                     "qdisc add dev d0 parent 1:20 handle 20: pfifo limit 50",
                     "qdisc add dev d0 parent 1:10 handle 10: tbf rate 2mbit burst 8kb latency 30ms",
                     "qdisc add dev d0 ingress"]
        let ns = try kernelDevice(up: false)
        for l in setup { try sh(["ip", "netns", "exec", ns, "tc"] + l.split(separator: " ").map(String.init)) }
        let sw = try net.netns("dsw")
        let sock = net.dir + "/ctl.sock"
        let d = try DaemonProcess(net: net, ns: sw, config: ["link add d0 type tap"] + setup, extraArgs: ["--socket", sock])
        try d.waitReady()
        let bin = try sluiceBinary()
        for show in ["qdisc show dev d0", "-s qdisc show dev d0", "-d qdisc show dev d0", "class show dev d0", "-s -d class show dev d0"] {
            let k = try tc(ns, show)
            let s = try sh([bin, "exec", "--socket", sock, "tc"] + show.split(separator: " ").map(String.init), stderr: false)
            XCTAssertEqual(s, k, "tc \(show)\n--- kernel:\n\(k)--- sluice:\n\(s)")
        }
        XCTAssertEqual(d.stop(), 0)
    }

    /// A daemon in namespace SUFFIX with TAPs d0 and d1 and a control socket.
    func tapDaemon(_ suffix: String) throws -> (DaemonProcess, String) {
        let sw = try net.netns(suffix)
        let sock = net.dir + "/ctl.sock"
        let d = try DaemonProcess(net: net, ns: sw, config: ["link add d0 type tap", "link add d1 type tap"], extraArgs: ["--socket", sock])
        try d.waitReady()
        return (d, sock)
    }

    /// Each `tc` line on the kernel (namespace NS) and on the daemon: the same output, errors
    /// and exit status.
    func tcAgrees(_ lines: [String], ns: String, sock: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let bin = try sluiceBinary()
        for l in lines {
            let k = maskTimes(try sh(["sh", "-c", "ip netns exec \(ns) tc \(l) 2>&1; echo status=$?"], stderr: false))
            let s = maskTimes(try sh(["sh", "-c", "\(bin) exec --socket \(sock) tc \(l) 2>&1; echo status=$?"], stderr: false))
            XCTAssertEqual(s, k, "tc \(l)\n--- kernel:\n\(k)--- sluice:\n\(s)", file: file, line: line)
        }
    }

    /// `tc qdisc show invisible` (TCA_DUMP_INVISIBLE) lists the default children a qdisc made
    /// for itself (tbf's bfifo, htb's leaf pfifos: qdisc_hash_add(q, true)) as the kernel does;
    /// without it they are hidden, and a child grafted in their place is listed either way.
    func testInvisibleDefaultChildrenListedAsTheKernel() throws {
        let ns = try kernelDevice(up: false)
        let (d, sock) = try tapDaemon("isw")
        try tcAgrees(["qdisc add dev d0 root handle 1: tbf rate 1mbit burst 10k latency 10ms",
                      "qdisc show dev d0", "qdisc show dev d0 invisible",
                      "qdisc add dev d0 parent 1:1 handle 2: pfifo limit 30", "qdisc show dev d0 invisible",
                      "qdisc del dev d0 parent 1:1 handle 2:", "qdisc show dev d0 invisible",
                      "qdisc replace dev d0 root handle 1: htb default 10",
                      "class add dev d0 parent 1: classid 1:10 htb rate 1mbit",
                      "class add dev d0 parent 1: classid 1:20 htb rate 2mbit",
                      "qdisc show dev d0", "qdisc show dev d0 invisible", "-s qdisc show dev d0 invisible"],
                     ns: ns, sock: sock)
        XCTAssertEqual(d.stop(), 0)
    }

    /// Debian's `tc` adds, shows and deletes u32 filters with mirred actions on the daemon over
    /// rtnetlink as on the kernel: the same output, the same errors and exit statuses.
    func testDebianTcFiltersOnTheDaemonAsOnTheKernel() throws {
        let ns = try kernelDevice(up: false)
        let (d, sock) = try tapDaemon("fsw")
        let lines = [
            "qdisc add dev d0 root handle 1: htb default 10",
            "filter add dev d0 parent 1: protocol ip prio 1 u32 match ip dst 198.18.0.1/32 flowid 1:10",
            "filter add dev d0 parent 1: protocol ip prio 1 u32 match ip src 198.18.0.2/32 match ip tos 0x10 0xff flowid 1:11",
            "filter add dev d0 parent 1: protocol ip prio 2 u32 match ip protocol 17 0xff match ip dport 53 0xffff action mirred egress redirect dev d1",
            "filter add dev d0 parent 1: protocol ip prio 3 u32 match u32 0 0 action mirred egress mirror dev d1 pipe",
            "filter add dev d0 parent 7: protocol ip prio 1 u32 match ip dst 198.18.0.1/32 flowid 1:10",
            "filter add dev d0 parent 1: protocol ip prio 4 u32 match ip dst 198.18.0.4/32 indev d1 flowid 1:12",
            "filter add dev d0 parent 1: protocol ip prio 4 u32 match ip dst 198.18.0.5/32 indev nosuch0 flowid 1:12",
            "filter show dev d0", "-s filter show dev d0", "-j filter show dev d0",
            "filter del dev d0 parent 1: prio 9",
            "filter del dev d0 parent 1: prio 2",
            "filter show dev d0",
            "qdisc add dev d0 ingress",
            "filter add dev d0 parent ffff: protocol ip prio 5 u32 match ip dst 198.18.0.0/15 action mirred egress redirect dev d1",
            "-s filter show dev d0 ingress",
            "filter del dev d0 parent 1:",
            "filter show dev d0",
        ]
        try tcAgrees(lines, ns: ns, sock: sock)
        XCTAssertEqual(d.stop(), 0)
    }

    /// Classic BPF filters (cls_bpf, which this kernel has) on the daemon as on the kernel:
    /// handles allocated from 1, new programs at the head of their instance, direct-action,
    /// skip_hw, classes, actions, replace in place, get, delete — the same output and exit
    /// statuses from Debian's tc. Programs bpf_check_classic refuses (a jump past the end, no
    /// final return, scratch memory read before a store, a division by 0) are EINVAL on both;
    /// the kernel gives no message, the daemon says what is wrong.
    func testClassicBPFFiltersOnTheDaemonAsOnTheKernel() throws {
        let ns = try kernelDevice(up: false)
        let (d, sock) = try tapDaemon("bsw")
        let lines = [
            "qdisc add dev d0 root handle 1: htb default 10",
            "filter add dev d0 parent 1: protocol ip prio 1 handle 1 bpf bytecode '4,40 0 0 12,21 0 1 2048,6 0 0 65547,6 0 0 0'",
            "filter add dev d0 parent 1: protocol ip prio 1 bpf bytecode '1,6 0 0 4294967295' flowid 1:20",
            "filter add dev d0 parent 1: protocol ip prio 1 bpf bytecode '3,2 0 0 3,96 0 0 3,22 0 0 0'",
            "filter add dev d0 parent 1: protocol ip prio 1 bpf bytecode '2,32 0 0 4294963200,6 0 0 0'",
            "filter add dev d0 parent 1: protocol ip prio 3 handle 5 bpf bytecode '1,6 0 0 0' da skip_hw",
            "filter add dev d0 parent 1: protocol ip prio 4 handle 7 bpf bytecode '1,6 0 0 4294967295' flowid 1:30 action mirred egress mirror dev d1",
            "filter show dev d0",
            "filter replace dev d0 parent 1: protocol ip prio 1 handle 1 bpf bytecode '1,6 0 0 65548'",
            "filter get dev d0 parent 1: protocol ip prio 1 handle 2 bpf",
            "filter show dev d0", "-j filter show dev d0",
            "filter del dev d0 parent 1: protocol ip prio 1 handle 1 bpf",
            "filter show dev d0",
        ]
        try tcAgrees(lines, ns: ns, sock: sock)
        let bin = try sluiceBinary()
        for (program, why) in [("2,21 0 5 2048,6 0 0 0", "jump past the end"), ("1,7 0 0 0", "the last instruction must be a return"),
                               ("2,96 0 0 3,6 0 0 0", "read before it is stored"), ("2,52 0 0 0,6 0 0 0", "division by zero")] {
            let l = "filter add dev d0 parent 1: protocol ip prio 1 bpf bytecode '\(program)'"
            let k = try sh(["sh", "-c", "ip netns exec \(ns) tc \(l) 2>&1; echo status=$?"], stderr: false)
            let s = try sh(["sh", "-c", "\(bin) exec --socket \(sock) tc \(l) 2>&1; echo status=$?"], stderr: false)
            XCTAssertEqual(k, "RTNETLINK answers: Invalid argument\nWe have an error talking to the kernel\nstatus=2\n", l)
            XCTAssertTrue(s.hasPrefix("Error: bpf: ") && s.contains(why) && s.hasSuffix("status=2\n"), "\(l)\n\(s)")
        }
        try tcAgrees(["filter show dev d0"], ns: ns, sock: sock)
        XCTAssertEqual(d.stop(), 0)
    }

    /// tc filter add / replace / change against existing and missing filters (tc_new_tfilter's
    /// NLM_F_CREATE / NLM_F_EXCL rules, u32 handles, protocol and kind checks): the daemon
    /// answers Debian's tc as the kernel does — output, errors and exit statuses.
    func testFilterReplaceAndChangeOnTheDaemonAsOnTheKernel() throws {
        let ns = try kernelDevice(up: false)
        let (d, sock) = try tapDaemon("rsw")
        let lines = [
            "qdisc add dev d0 root handle 1: htb default 10",
            "filter add dev d0 parent 1: protocol ip prio 1 handle 800::10 u32 match ip dst 198.18.0.1/32 flowid 1:10",
            "filter add dev d0 parent 1: protocol ip prio 1 handle 800::10 u32 match ip dst 198.18.0.2/32 flowid 1:10",
            "filter add dev d0 parent 1: protocol ip prio 1 u32 match ip dst 198.18.0.9/32 flowid 1:13",
            "filter replace dev d0 parent 1: protocol ip prio 1 handle 800::10 u32 match ip dst 198.18.0.3/32 flowid 1:11",
            "filter show dev d0",
            "filter change dev d0 parent 1: protocol ip prio 1 handle 800::10 u32 match ip dst 198.18.0.4/32 flowid 1:12",
            "filter change dev d0 parent 1: protocol ip prio 1 handle 800::20 u32 match ip dst 198.18.0.5/32 flowid 1:12",
            "filter replace dev d0 parent 1: protocol ip prio 4 u32 match ip dst 198.18.0.6/32 flowid 1:12",
            "filter change dev d0 parent 1: protocol ip prio 5 u32 match ip dst 198.18.0.7/32 flowid 1:12",
            "filter add dev d0 parent 1: protocol ipv6 prio 1 u32 match ip6 dst 2001:db8::1/128 flowid 1:12",
            "filter get dev d0 parent 1: protocol ip prio 1 handle 800::10 u32",
            "filter get dev d0 parent 1: protocol ip prio 4 handle 800::800 u32",
            "filter get dev d0 parent 1: protocol ip prio 1 handle 800::99 u32",
            "filter get dev d0 parent 1: protocol ip prio 9 handle 800::10 u32",
            "filter show dev d0",
            "-j filter show dev d0",
        ]
        try tcAgrees(lines, ns: ns, sock: sock)
        XCTAssertEqual(d.stop(), 0)
    }

    /// `tc actions list|get` for the mirred actions filters hold: the daemon's idr as the
    /// kernel's (indexes, references, bindings, output, errors).
    func testActionListAndGetOnTheDaemonAsOnTheKernel() throws {
        let ns = try kernelDevice(up: false)
        let (d, sock) = try tapDaemon("asw")
        let lines = [
            "qdisc add dev d0 root handle 1: htb default 10",
            "filter add dev d0 parent 1: protocol ip prio 1 u32 match ip dst 198.18.0.1/32 action mirred egress redirect dev d1",
            "filter add dev d0 parent 1: protocol ip prio 2 u32 match ip dst 198.18.0.2/32 action mirred egress mirror dev d1 pipe",
            "actions list action mirred",
            "actions ls action mirred",
            "-j actions list action mirred",
            "actions get action mirred index 2",
            "actions get action mirred index 7",
            "actions list action gact",
            "filter del dev d0 parent 1: prio 1",
            "actions list action mirred",
        ]
        try tcAgrees(lines, ns: ns, sock: sock)
        XCTAssertEqual(d.stop(), 0)
    }

    /// netem (which this kernel lacks) configured with Debian's tc over rtnetlink: the
    /// daemon's answer printed by tc itself equals Sluice's own printer (checked against
    /// q_netem.c's print in TcPrintTests) for the same words — add, then changes that leave
    /// options out (netem_change zeroes them).
    func testNetemAndSFQOverRtnetlinkAsTheirOwnWords() throws {
        let sw = try net.netns("nsw")
        let sock = net.dir + "/ctl.sock"
        let d = try DaemonProcess(net: net, ns: sw, config: ["link add d0 type tap"], extraArgs: ["--socket", sock])
        try d.waitReady()
        let bin = try sluiceBinary()
        let (_, sluice) = try sluiceDevice()
        let lines = [
            "qdisc add dev d0 root handle 1: netem delay 20ms 5ms 25% distribution normal loss 1% 30% duplicate 0.5% reorder 10% 50% corrupt 0.1% rate 5mbit",
            "qdisc change dev d0 root handle 1: netem delay 20ms loss gemodel 1% 10% 70% 0.1%",
            "qdisc change dev d0 root handle 1: netem delay 100ms limit 5000 rate 20gbit",
            "qdisc replace dev d0 root handle 1: netem loss 2%",
            "qdisc change dev d0 root handle 1: netem delay 5ms loss state 1% 30% 2% 90% 0.5% ecn",
            "qdisc change dev d0 root handle 1: netem loss state 3%",
            "qdisc change dev d0 root handle 1: netem delay 1ms slot 2ms 4ms packets 5 bytes 64000",
            "qdisc change dev d0 root handle 1: netem slot distribution normal 10ms 2ms",
        ]
        for l in lines {
            let args = l.split(separator: " ").map(String.init)
            _ = try sh([bin, "exec", "--socket", sock, "tc"] + args)
            // Sluice's own words keep what a change leaves out; netem_change (and so the daemon
            // over rtnetlink) does not: the in-process side starts from a fresh qdisc each time.
            _ = try? sluice.execute("qdisc del dev d0 root")
            try sluice.execute(l.replacingOccurrences(of: "qdisc change", with: "qdisc add").replacingOccurrences(of: "qdisc replace", with: "qdisc add"))
            let viaTc = try sh([bin, "exec", "--socket", sock, "tc", "qdisc", "show", "dev", "d0"], stderr: false)
            XCTAssertEqual(viaTc, try sluice.execute("qdisc show dev d0"), l)
        }
        // sfq the same way (struct tc_sfq_qopt_v1), each from a fresh qdisc.
        for l in ["qdisc add dev d0 root handle 2: sfq", "qdisc add dev d0 root handle 2: sfq perturb 10 quantum 1514 limit 100 divisor 512 depth 50 headdrop",
                  "qdisc add dev d0 root handle 2: sfq flows 64 limit 3000",
                  "qdisc add dev d0 root handle 2: pie",
                  "qdisc add dev d0 root handle 2: pie limit 500 target 5ms tupdate 30ms alpha 4 beta 16 ecn bytemode"] {
            _ = try sh([bin, "exec", "--socket", sock, "tc", "qdisc", "del", "dev", "d0", "root"], allowFailure: true)
            _ = try sh([bin, "exec", "--socket", sock, "tc"] + l.split(separator: " ").map(String.init))
            _ = try? sluice.execute("qdisc del dev d0 root")
            try sluice.execute(l)
            let viaTc = try sh([bin, "exec", "--socket", sock, "tc", "qdisc", "show", "dev", "d0"], stderr: false)
            XCTAssertEqual(viaTc, try sluice.execute("qdisc show dev d0"), l)
        }
        XCTAssertEqual(d.stop(), 0)
    }

    // MARK: u32 offsets on real frames

    /// An IPv4 UDP frame to 198.18.0.2 with `options` (a multiple of 4 bytes), `fragment`
    /// offset in 8-byte units, sport 1234, dport `dport`.
    static func ipv4(options: [UInt8] = [], fragment: UInt16 = 0, dst: [UInt8] = [198, 18, 0, 2], dport: UInt16,
                     payload: [UInt8] = [UInt8](repeating: 0xAB, count: 20)) -> [UInt8] {
        let ihl = 5 + options.count / 4
        var udp: [UInt8] = [0x04, 0xD2, UInt8(dport >> 8), UInt8(dport & 0xFF), 0, UInt8(8 + payload.count), 0, 0] + payload
        if fragment != 0 { udp = payload + payload }   // a later fragment carries payload only
        let total = ihl * 4 + udp.count
        var ip: [UInt8] = [UInt8(0x40 | ihl), 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 1,
                           UInt8(fragment >> 8), UInt8(fragment & 0xFF), 64, 17, 0, 0, 198, 18, 0, 1] + dst + options
        var sum: UInt32 = 0
        for i in stride(from: 0, to: ip.count, by: 2) { sum += UInt32(ip[i]) << 8 | UInt32(ip[i + 1]) }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        let c = ~UInt16(sum)
        ip[10] = UInt8(c >> 8); ip[11] = UInt8(c & 0xFF)
        return [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00] + ip + udp
    }

    /// `match ip dport 80` reads the word at network header + 20, as tc packs it: a frame with
    /// IP options is not matched by its real port but by whatever sits there, and a later
    /// fragment by its payload. The kernel's u32 and Sluice's must classify the same frames
    /// into the same classes.
    func testU32MatchesAtFixedOffsetsAsTheKernel() throws {
        let frames: [[UInt8]] = [
            Self.ipv4(dport: 80),                                                       // plain: 1:10
            Self.ipv4(options: [1, 1, 1, 0], dport: 80),                                // options hide the port
            Self.ipv4(options: [1, 1, 0x00, 0x50], dport: 9),                           // option bytes read as "dport 80"
            Self.ipv4(fragment: 185, dport: 9, payload: [0, 0, 0x00, 0x50] + [UInt8](repeating: 7, count: 12)),
            Self.ipv4(dport: 443),
        ]
        let setup = ["qdisc add dev d0 root handle 1: htb default 20",
                     "class add dev d0 parent 1: classid 1:10 htb rate 1gbit",
                     "class add dev d0 parent 1: classid 1:20 htb rate 1gbit",
                     "filter add dev d0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10"]
        let (kernelClasses, sluiceClasses) = try classifyEach(setup: setup, frames: frames)
        // The kernel's own answer, checked once for sense: the plain frame is matched, the one
        // whose options hide the port is not, the fragment whose payload reads 80 is.
        XCTAssertEqual(kernelClasses, ["1:10", "1:20", "1:10", "1:10", "1:20"], "kernel")
        XCTAssertEqual(sluiceClasses, kernelClasses)
    }

    /// `setup` on the kernel's d0 and on Sluice's, then each frame on its own through d0's
    /// qdisc (the kernel's: sent raw on d0; Sluice's: transmitted by the datapath): the htb
    /// class whose count grew, per frame, on each side.
    func classifyEach(setup: [String], frames: [[UInt8]]) throws -> (kernel: [String], sluice: [String]) {
        let ns = try kernelDevice(up: true)
        for l in setup { try sh(["ip", "netns", "exec", ns, "tc"] + l.split(separator: " ").map(String.init)) }
        let script = "import socket,sys,binascii\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind((sys.argv[1],0))\nfor h in sys.argv[2:]: s.send(binascii.unhexlify(h))\n"
        let hex = frames.map { $0.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
        var kernelClasses: [String] = []
        var sluiceClasses: [String] = []
        let (dp, sluice) = try sluiceDevice()
        for l in setup { try sluice.execute(l) }
        func counts(_ text: String) -> [String: Int] {
            var out: [String: Int] = [:]
            let lines = text.components(separatedBy: "\n")
            for (i, l) in lines.enumerated() where l.hasPrefix("class htb 1:") && i + 1 < lines.count {
                out[String(l.split(separator: " ")[2])] = number(after: "Sent", in: lines[i + 1]).map { _ in
                    Int(lines[i + 1].split(separator: " ")[3]) ?? -1 } ?? -1
            }
            return out
        }
        var kernelBefore = counts(try tc(ns, "-s class show dev d0"))
        var sluiceBefore = counts(try sluice.execute("-s class show dev d0"))
        for (i, f) in frames.enumerated() {
            try sh(["ip", "netns", "exec", ns, "python3", "-c", script, "d0", hex[i]])
            var b = PacketBatch()
            let p = dp.pool.alloc()!
            f.withUnsafeBytes { dp.pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
            b.append(p)
            dp.transmit(dp.device(named: "d0")!, &b)
            usleep(100_000)
            let k = counts(try tc(ns, "-s class show dev d0")), s = counts(try sluice.execute("-s class show dev d0"))
            kernelClasses.append(k.keys.sorted().first { k[$0]! > kernelBefore[$0, default: 0] } ?? "none")
            sluiceClasses.append(s.keys.sorted().first { s[$0]! > sluiceBefore[$0, default: 0] } ?? "none")
            kernelBefore = k; sluiceBefore = s
        }
        dp.shutdown()
        XCTAssertEqual(dp.pool.inUse, 0)
        return (kernelClasses, sluiceClasses)
    }

    /// The ingress hook counts qdisc_pkt_len = skb->len, which there starts after the
    /// Ethernet header and after an outer VLAN tag the receive path took out of the frame.
    /// The same frames into the kernel's veth and into Sluice's device: Debian's tc shows the
    /// same packets and bytes for both ingress qdiscs.
    func testIngressCountsTheBytesTheKernelCounts() throws {
        let ns = try kernelDevice(up: true)
        let setup = ["qdisc add dev d0 ingress", "filter add dev d0 parent ffff: protocol all prio 1 u32 match u32 0 0 flowid 1:1"]
        for l in setup { try sh(["ip", "netns", "exec", ns, "tc"] + l.split(separator: " ").map(String.init)) }
        let (dp, sluice) = try sluiceDevice()
        for l in setup { try sluice.execute(l) }
        var frames: [[UInt8]] = [200, 20, 120].map { Self.ipv4(dport: 9, payload: [UInt8](repeating: 1, count: $0)) }
        let plain = Self.ipv4(dport: 9)
        frames.append(Array(plain[0..<12]) + [0x81, 0x00, 0x00, 0x07] + Array(plain[12...]))
        let hex = frames.map { $0.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
        let script = "import socket,sys,binascii\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind((sys.argv[1],0))\nfor h in sys.argv[2:]: s.send(binascii.unhexlify(h))\n"
        try sh(["ip", "netns", "exec", ns, "python3", "-c", script, "d1"] + hex)
        let driver = try XCTUnwrap(dp.memoryDriver(dp.device(named: "d0")!))
        for f in frames { driver.inject(f) }
        for _ in 0..<100 { dp.runOnce(timeoutMs: 0) }
        usleep(200_000)
        func sent(_ s: String) -> String { s.components(separatedBy: "\n").first { $0.hasPrefix(" Sent ") } ?? "none" }
        let k = sent(try tc(ns, "-s qdisc show dev d0 ingress")), m = sent(try sluice.execute("-s qdisc show dev d0 ingress"))
        let expected = frames.map { $0.count - ($0[12] == 0x81 ? 18 : 14) }.reduce(0, +)
        XCTAssertTrue(k.hasPrefix(" Sent \(expected) bytes 4 pkt"), "kernel: \(k)")
        XCTAssertEqual(m, k)
        dp.shutdown()
    }

    /// u32 hash tables on real frames: a /16 hashed on the destination's last byte into a
    /// 256-bucket table, a bucket that holds nothing falling back to the next priority, whose
    /// link moves the keys past the IP header (`offset at 0 mask 0x0f00 shift 6 eat`, so IP
    /// options move them too) into a table matching the UDP port, its linking knode terminal.
    /// The kernel's cls_u32 and Sluice's put every frame in the same class.
    func testU32HashTablesClassifyAsTheKernel() throws {
        let classes = ["2", "3", "4", "7", "8", "20"].map { "class add dev d0 parent 1: classid 1:\($0) htb rate 1gbit" }
        let setup = ["qdisc add dev d0 root handle 1: htb default 20"] + classes + [
            "filter add dev d0 parent 1: prio 5 handle 2: protocol ip u32 divisor 256",
            "filter add dev d0 parent 1: protocol ip prio 5 u32 ht 800:: match ip dst 198.18.0.0/16 hashkey mask 0x000000ff at 16 link 2:",
            "filter add dev d0 parent 1: protocol ip prio 5 u32 ht 2:7b: match ip dst 198.18.0.123 flowid 1:2",
            "filter add dev d0 parent 1: protocol ip prio 5 u32 ht 2:7b: match ip dst 198.18.1.123 flowid 1:3",
            "filter add dev d0 parent 1: protocol ip prio 5 u32 ht 2:1: match ip dst 198.18.1.1 flowid 1:4",
            "filter add dev d0 parent 1: prio 6 handle 3: protocol ip u32 divisor 1",
            "filter add dev d0 parent 1: protocol ip prio 6 u32 match ip protocol 17 0xff link 3: offset at 0 mask 0x0f00 shift 6 eat flowid 1:8",
            "filter add dev d0 parent 1: protocol ip prio 6 u32 ht 3: match u16 5201 0xffff at 2 flowid 1:7",
        ]
        let frames: [[UInt8]] = [
            Self.ipv4(dst: [198, 18, 0, 123], dport: 9),
            Self.ipv4(dst: [198, 18, 1, 123], dport: 9),
            Self.ipv4(dst: [198, 18, 1, 1], dport: 9),
            Self.ipv4(dst: [198, 18, 2, 1], dport: 5201),
            Self.ipv4(options: [1, 1, 1, 0], dst: [198, 18, 2, 1], dport: 5201),
            Self.ipv4(dst: [198, 18, 2, 1], dport: 80),
            Self.ipv4(dst: [198, 19, 0, 123], dport: 5201),
        ]
        let (kernel, sluice) = try classifyEach(setup: setup, frames: frames)
        // Sense, once: the frames went to more than one class on the kernel.
        XCTAssertGreaterThan(Set(kernel).count, 3, "kernel: \(kernel)")
        XCTAssertEqual(sluice, kernel)
    }
}
