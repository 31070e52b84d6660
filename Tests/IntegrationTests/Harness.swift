import Foundation
import XCTest
import Sluice
import CSluiceLinux

/// Runs `argv` (PATH searched) to completion: what it wrote to stdout (and stderr, unless
/// `stderr` is `.discard`) and its exit status (the signal's number if a signal ended it, as
/// Foundation's Process reports). posix_spawn (csl_spawn_piped), a blocking read and waitpid:
/// Foundation's Process polls its run loop in waitUntilExit, which added tens of milliseconds
/// to every command, and the integration tests run thousands. The child gets only fds 0–2.
enum StderrMode { case merge, discard }
func spawnAndWait(_ argv: [String], environment: [String: String]? = nil, stderr: StderrMode = .merge) throws -> (out: String, status: Int32) {
    let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    let cEnv: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
    defer { for a in cArgs { free(a) }; for e in cEnv ?? [] { free(e) } }
    var pid: pid_t = 0
    let fd = cArgs.withUnsafeBufferPointer { args in
        if let cEnv {
            return cEnv.withUnsafeBufferPointer { csl_spawn_piped(args.baseAddress, $0.baseAddress, stderr == .merge ? 1 : 0, &pid) }
        }
        return csl_spawn_piped(args.baseAddress, nil, stderr == .merge ? 1 : 0, &pid)
    }
    guard fd >= 0 else { throw HarnessError("cannot run \(argv[0]): \(String(cString: strerror(-fd)))") }
    var data: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 { data.append(contentsOf: buf[0..<n]); continue }
        if n < 0 && errno == EINTR { continue }
        break
    }
    close(fd)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as macros.
    let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : status & 0x7f
    return (String(decoding: data, as: UTF8.self), code)
}

/// Runs a command with a time bound, capturing stdout+stderr.
@discardableResult
func sh(_ args: [String], timeout: Int = 60, allowFailure: Bool = false, stderr: Bool = true) throws -> String {
    let (out, status) = try spawnAndWait(["/usr/bin/timeout", "--kill-after=5", String(timeout)] + args, stderr: stderr ? .merge : .discard)
    if status != 0 && !allowFailure {
        throw HarnessError("\(args.joined(separator: " ")) exited \(status): \(out)")
    }
    return out
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Everything one test creates: namespaces (and so the interfaces in them), host-side
/// interfaces and processes. Torn down in reverse order, also when the test fails.
final class TestNet {
    let tag: String
    private var cleanups: [() -> Void] = []
    private let cleanupsLock = NSLock()
    let dir: String
    nonisolated(unsafe) static var counter = 0

    init() throws {
        guard geteuid() == 0 else { throw HarnessError("integration tests need root (network namespaces, TAP devices)") }
        for tool in ["ip", "ping", "iperf3", "tshark", "tcpdump", "timeout"] {
            guard (try? sh(["sh", "-c", "command -v \(tool)"])) != nil else {
                throw HarnessError("integration tests need \(tool): run scripts/install-deps.sh")
            }
        }
        TestNet.counter += 1
        // Unique per run and per test: pid and a counter in base 36, e.g. "s1x9a2".
        tag = "s" + String(getpid() % 46656, radix: 36) + String(TestNet.counter, radix: 36) + String(Int.random(in: 0..<36), radix: 36)
        dir = NSTemporaryDirectory() + "sluice-it-\(tag)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        cleanups.append { [dir] in try? FileManager.default.removeItem(atPath: dir) }
    }

    /// Safe from the threads of `eachAtOnce`.
    func onCleanup(_ f: @escaping () -> Void) { cleanupsLock.withLock { cleanups.append(f) } }

    func cleanup() {
        let all = cleanupsLock.withLock { let all = cleanups; cleanups = []; return all }
        for f in all.reversed() { f() }
    }

    /// Creates a namespace named "<tag>-<suffix>" with loopback up.
    func netns(_ suffix: String) throws -> String {
        let name = "\(tag)-\(suffix)"
        try sh(["ip", "netns", "add", name])
        onCleanup { _ = try? sh(["ip", "netns", "del", name], allowFailure: true) }
        try sh(["ip", "-n", name, "link", "set", "lo", "up"])
        return name
    }

    /// Moves `dev` from namespace `from` into `ns` and gives it `addr`.
    func place(_ dev: String, from: String, into ns: String, addr: String, mtu: Int? = nil) throws {
        try sh(["ip", "-n", from, "link", "set", dev, "netns", ns])
        try sh(["ip", "-n", ns, "addr", "add", addr, "dev", dev])
        if let mtu { try sh(["ip", "-n", ns, "link", "set", dev, "mtu", String(mtu)]) }
        try sh(["ip", "-n", ns, "link", "set", dev, "up"])
    }

    /// A veth pair with one end in `hostNS` (Sluice's side) and the other in `ns` with `addr`.
    func veth(_ name: String, hostNS: String, peerNS ns: String, addr: String) throws {
        try sh(["ip", "-n", hostNS, "link", "add", name, "type", "veth", "peer", "name", name + "p", "netns", ns])
        try sh(["ip", "-n", ns, "addr", "add", addr, "dev", name + "p"])
        try sh(["ip", "-n", ns, "link", "set", name + "p", "up"])
    }

    func ping(from ns: String, _ dst: String, count: Int = 3, size: Int? = nil) throws -> String {
        var a = ["ip", "netns", "exec", ns, "ping", "-c", String(count), "-i", "0.2", "-W", "2"]
        if let size { a += ["-s", String(size)] }
        return try sh(a + [dst], timeout: 30)
    }

    /// iperf3 between two namespaces; the server is our child and is waited for.
    func iperf(from client: String, to server: String, addr: String, seconds: Int = 2, port: Int = 5201, extra: [String] = []) throws -> [String: Any] {
        let srv = try iperfServer(in: server, addr: addr, port: port, seconds: seconds)
        defer { if srv.isRunning { srv.terminate() }; srv.waitUntilExit() }
        var last = ""
        for _ in 0..<25 {
            usleep(200_000)
            last = try sh(["ip", "netns", "exec", client, "iperf3", "-c", addr, "-p", String(port), "-t", String(seconds), "-J"] + extra,
                           timeout: seconds + 20, allowFailure: true)
            if !last.contains("Connection refused") && !last.contains("unable to connect") { break }
        }
        guard let obj = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any] else {
            throw HarnessError("iperf3 gave no JSON: \(last)")
        }
        if let e = obj["error"] as? String { throw HarnessError("iperf3: \(e)") }
        return obj
    }

    /// A namespace's UDP counters from its own /proc/net/snmp.
    func udpCounters(_ ns: String) throws -> [String: Int] {
        let lines = try sh(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"]).split(separator: "\n").filter { $0.hasPrefix("Udp: ") }
        guard lines.count >= 2 else { throw HarnessError("no Udp lines in /proc/net/snmp of \(ns)") }
        let names = lines[0].split(separator: " ").dropFirst(), values = lines[1].split(separator: " ").dropFirst()
        return Dictionary(zip(names.map(String.init), values.map { Int($0) ?? 0 }), uniquingKeysWith: { a, _ in a })
    }

    /// A UDP stream (iperf3, 1200-byte datagrams at `rate`) from `client` to `server`, with the
    /// loss on the path told apart from the loss in the receiving host: the path lost what the
    /// client's stack sent and the server's stack never saw (its UDP layer counts what it
    /// delivered, what overflowed the socket's buffer and what found no socket). iperf3's own
    /// figure adds the datagrams the receiving iperf3 was too slow to read, which measures how
    /// busy the machine is, not the path.
    func udpStream(from client: String, to server: String, addr: String, rate: String = "100M") throws -> UDPStream {
        let out0 = try udpCounters(client)["OutDatagrams"] ?? 0
        let in0 = try udpCounters(server)
        let r = try iperf(from: client, to: server, addr: addr, extra: ["-u", "-b", rate, "-l", "1200"])
        let out1 = try udpCounters(client)["OutDatagrams"] ?? 0
        let in1 = try udpCounters(server)
        func d(_ k: String) -> Int { (in1[k] ?? 0) - (in0[k] ?? 0) }
        let sum = (r["end"] as! [String: Any])["sum"] as! [String: Any]
        return UDPStream(sent: out1 - out0, arrived: d("InDatagrams") + d("InErrors") + d("NoPorts"),
                         bufferOverflows: d("RcvbufErrors"), iperfLostPercent: sum["lost_percent"] as! Double)
    }
}

struct UDPStream: CustomStringConvertible {
    var sent: Int, arrived: Int, bufferOverflows: Int, iperfLostPercent: Double
    var pathLossPercent: Double { sent == 0 ? 100 : Double(sent - arrived) / Double(sent) * 100 }
    var description: String {
        String(format: "%d datagrams sent, %d reached the receiving host (path loss %.2f%%); %d overflowed its socket buffer; iperf3 reports %.2f%% lost",
               sent, arrived, pathLossPercent, bufferOverflows, iperfLostPercent)
    }
}

extension TestNet {
    /// A one-shot iperf3 server in `ns`, bounded in time; a child of the test, to be waited for.
    func iperfServer(in ns: String, addr: String, port: Int, seconds: Int) throws -> Process {
        let srv = Process()
        srv.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        srv.arguments = ["--kill-after=5", String(seconds + 30), "ip", "netns", "exec", ns, "iperf3", "-s", "-1", "-B", addr, "-p", String(port)]
        srv.standardOutput = FileHandle.nullDevice
        srv.standardError = FileHandle.nullDevice
        try srv.run()
        return srv
    }

    /// Several iperf3 flows at once (one server per port, all our children), results in port order.
    func iperfConcurrent(from client: String, to server: String, addr: String, ports: [Int], seconds: Int) throws -> [[String: Any]] {
        var servers: [Process] = []
        defer { for s in servers { if s.isRunning { s.terminate() }; s.waitUntilExit() } }
        for port in ports { servers.append(try iperfServer(in: server, addr: addr, port: port, seconds: seconds)) }
        usleep(500_000)
        var clients: [(Process, String)] = []
        for port in ports {
            let out = dir + "/iperf-\(port)-\(UInt32.random(in: 0...UInt32.max)).json"
            FileManager.default.createFile(atPath: out, contents: nil)
            let c = Process()
            c.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
            c.arguments = ["--kill-after=5", String(seconds + 20), "ip", "netns", "exec", client, "iperf3", "-c", addr, "-p", String(port), "-t", String(seconds), "-J"]
            c.standardOutput = FileHandle(forWritingAtPath: out)
            c.standardError = FileHandle.nullDevice
            try c.run()
            clients.append((c, out))
        }
        var results: [[String: Any]] = []
        for (c, out) in clients {
            c.waitUntilExit()
            let data = FileManager.default.contents(atPath: out) ?? Data()
            guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw HarnessError("iperf3 gave no JSON: \(String(decoding: data, as: UTF8.self))")
            }
            if let e = obj["error"] as? String { throw HarnessError("iperf3: \(e)") }
            results.append(obj)
        }
        return results
    }
}

func sluiceBinary() throws -> String {
    if let e = ProcessInfo.processInfo.environment["SLUICE_BIN"] { return e }
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for d in [dir, dir.deletingLastPathComponent()] {
        let p = d.appendingPathComponent("sluice").path
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    throw HarnessError("sluice binary not found next to \(CommandLine.arguments[0]); build it (swift build) or set SLUICE_BIN")
}

/// A `sluice daemon` child, run inside namespace `ns`.
final class DaemonProcess {
    let process = Process()
    let outPath: String, errPath: String

    init(net: TestNet, ns: String?, config: [String], extraArgs: [String] = []) throws {
        let cfg = net.dir + "/sluice-\(UInt32.random(in: 0...UInt32.max)).conf"
        try config.joined(separator: "\n").write(toFile: cfg, atomically: true, encoding: .utf8)
        outPath = cfg + ".out"; errPath = cfg + ".err"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let bin = try sluiceBinary()
        if let ns {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", ns, bin, "daemon", "--config", cfg] + extraArgs
        } else {
            process.executableURL = URL(fileURLWithPath: bin)
            process.arguments = ["daemon", "--config", cfg] + extraArgs
        }
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try process.run()
        net.onCleanup { [process] in
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    func waitReady(seconds: Double = 20) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if stderr.contains("sluice: ready") { return }
            if !process.isRunning { throw HarnessError("daemon exited \(process.terminationStatus): \(stderr)") }
            usleep(50_000)
        }
        throw HarnessError("daemon not ready after \(seconds) s: \(stderr)")
    }

    /// SIGUSR1: the daemon prints a report between batches; returns it.
    func report() throws -> String {
        let before = stdout.utf8.count
        kill(process.processIdentifier, SIGUSR1)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let new = String(decoding: Array(stdout.utf8).dropFirst(before), as: UTF8.self)
            if new.contains("pool: capacity") { return new }
            usleep(50_000)
        }
        throw HarnessError("no report after SIGUSR1: \(stderr)")
    }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    func stop(seconds: Double = 20) -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    func waitExit(seconds: Double = 30) -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// Extracts a device's block from a report.
func section(_ report: String, device: String) -> String {
    let lines = report.components(separatedBy: "\n")
    guard let i = lines.firstIndex(where: { $0.range(of: #"^\d+: \#(device):"#, options: .regularExpression) != nil }) else { return "" }
    var out = [lines[i]]
    for l in lines[(i + 1)...] { if l.hasPrefix("    ") { out.append(l) } else { break } }
    return out.joined(separator: "\n")
}

/// The value after `key` on the line that has it ("poll_mode_entries 12" → 12).
func number(after key: String, in text: String) -> Int? {
    guard let r = text.range(of: key + " ") else { return nil }
    return Int(text[r.upperBound...].prefix { $0.isNumber })
}

/// The first number in a device section's "RX:"/"TX:" value row at column `col`.
func statsRow(_ sec: String, _ header: String) -> [UInt64] {
    let lines = sec.components(separatedBy: "\n")
    guard let i = lines.firstIndex(where: { $0.hasPrefix("    \(header)") }), i + 1 < lines.count else { return [] }
    return lines[i + 1].split(separator: " ").compactMap { UInt64($0) }
}

extension TestNet {
    /// A daemon in namespace SW with bridge br0 and two TAP ports (TAG a, TAG b) up on it, plus
    /// `extra` config lines (`A`/`B` stand for the ports' names). The TAPs stay in SW for the
    /// caller to place. Returns the daemon, SW and the two names.
    /// `tapBridgeDaemon` with a control socket, its TAPs moved into namespaces sa (198.18.0.1)
    /// and sb (198.18.0.2): what a test of traffic between two kernel stacks through one Sluice
    /// port's qdisc needs.
    func tapPair(extra: [String] = []) throws -> (d: DaemonProcess, sock: String, sa: String, sb: String, tb: String) {
        let sock = dir + "/ctl.sock"
        let (d, sw, ta, tb) = try tapBridgeDaemon("sw", extra: extra, extraArgs: ["--socket", sock])
        let sa = try netns("sa"), sb = try netns("sb")
        try place(ta, from: sw, into: sa, addr: "198.18.0.1/24")
        try place(tb, from: sw, into: sb, addr: "198.18.0.2/24")
        return (d, sock, sa, sb, tb)
    }

    func tapBridgeDaemon(_ suffix: String, extra: [String] = [], extraArgs: [String] = []) throws -> (DaemonProcess, String, String, String) {
        let sw = try netns(suffix)
        let ta = "\(tag)a", tb = "\(tag)b"
        let d = try DaemonProcess(net: self, ns: sw, config: [
            "link add br0 type bridge", "link add \(ta) type tap", "link add \(tb) type tap",
            "link set \(ta) master br0 up", "link set \(tb) master br0 up", "link set br0 up",
        ] + extra.map { $0.replacingOccurrences(of: "DEV_A", with: ta).replacingOccurrences(of: "DEV_B", with: tb) }, extraArgs: extraArgs)
        try d.waitReady()
        return (d, sw, ta, tb)
    }
}

extension TestNet {
    /// tcpdump in `ns` on `dev`, writing a pcap until stopped (bounded by `seconds`); returns
    /// once it listens. Stop it with `decodeCapture`.
    func startCapture(_ ns: String, _ dev: String, seconds: Int = 60) throws -> (Process, String) {
        let pcap = dir + "/cap-\(dev)-\(UInt32.random(in: 0...UInt32.max)).pcap"
        let err = pcap + ".err"
        FileManager.default.createFile(atPath: err, contents: nil)
        let td = Process()
        td.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        td.arguments = ["--kill-after=2", String(seconds), "ip", "netns", "exec", ns, "tcpdump", "--immediate-mode", "-i", dev, "-U", "-w", pcap]
        td.standardOutput = FileHandle.nullDevice
        td.standardError = FileHandle(forWritingAtPath: err)
        try td.run()
        onCleanup { if td.isRunning { td.terminate() }; td.waitUntilExit() }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !((try? String(contentsOfFile: err, encoding: .utf8)) ?? "").contains("listening on") { usleep(50_000) }
        return (td, pcap)
    }

    /// Stops a capture (SIGINT, so the pcap is complete) and returns tcpdump's decoding of it:
    /// one line per frame, link-level headers included, no timestamps.
    func decodeCapture(_ c: (Process, String)) throws -> [String] {
        kill(c.0.processIdentifier, SIGINT)
        c.0.waitUntilExit()
        return try sh(["tcpdump", "-r", c.1, "-nn", "-e", "-t"], stderr: false).split(separator: "\n").map(String.init)
    }
}

extension DaemonProcess {
    /// Stops the daemon (SIGSTOP), has `from` send `count` 64-byte UDP datagrams to `addr`
    /// port 9, where nothing listens, resumes it, and returns how many of them `to`'s stack
    /// took (its Udp NoPorts counter) within 3 s: what the kernel held for the stopped daemon
    /// and the daemon then forwarded.
    func burstWhileStopped(from: String, to: String, addr: String, count: Int) throws -> UInt64 {
        func noPorts() throws -> UInt64 {
            let lines = try sh(["ip", "netns", "exec", to, "cat", "/proc/net/snmp"]).split(separator: "\n").filter { $0.hasPrefix("Udp:") }
            guard lines.count == 2, let i = lines[0].split(separator: " ").firstIndex(of: "NoPorts") else { throw HarnessError("no Udp NoPorts in /proc/net/snmp") }
            return UInt64(lines[1].split(separator: " ")[i]) ?? 0
        }
        let before = try noPorts()
        guard kill(process.processIdentifier, SIGSTOP) == 0 else { throw HarnessError("cannot stop the daemon") }
        defer { kill(process.processIdentifier, SIGCONT) }
        try sh(["ip", "netns", "exec", from, "python3", "-c",
                "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor i in range(\(count)): s.sendto(b'x' * 64, ('\(addr)', 9))\n"])
        usleep(300_000)
        kill(process.processIdentifier, SIGCONT)
        var got: UInt64 = 0
        for _ in 0..<30 where got < UInt64(count) { usleep(100_000); got = try noPorts() - before }
        return got
    }
}

/// `timeout ARGS…`: output (stdout and stderr together) and exit status.
func runBounded(_ args: [String], environment: [String: String]? = nil) throws -> (out: String, status: Int32) {
    try spawnAndWait(["/usr/bin/timeout"] + args, environment: environment)
}

/// Runs `body` for every side at once, each on its own thread, and returns what each gave, in
/// order (the first side's error is thrown, after all have ended). A side-by-side test whose
/// sides live in namespaces of their own (the kernel's router, Sluice's) takes half the time
/// this way; the two sides share nothing but the test's cleanups, which take a lock.
func eachAtOnce<S, R>(_ sides: [S], _ body: (S) throws -> R) throws -> [R] {
    let slots = UnsafeMutableBufferPointer<Result<R, any Error>?>.allocate(capacity: sides.count)
    slots.initialize(repeating: nil)
    defer { _ = slots.deinitialize(); slots.deallocate() }
    withoutActuallyEscaping(body) { body in
        // Each thread writes only its own slot, and all have ended before the slots are read.
        // Threads of their own, made here, not Dispatch's workers: those block signals, and the
        // processes they start (`timeout`'s SIGALRM, a SIGTERM to end a monitor) inherit that.
        let shared = SharedAcrossSides(slots: slots, sides: sides, body: body)
        let done = DispatchSemaphore(value: 0)
        for i in sides.indices.dropLast() {
            Thread {
                shared.slots[i] = Result { try shared.body(shared.sides[i]) }
                done.signal()
            }.start()
        }
        if let last = sides.indices.last { shared.slots[last] = Result { try shared.body(shared.sides[last]) } }
        for _ in sides.indices.dropLast() { done.wait() }
    }
    return try slots.map { try $0!.get() }
}

private struct SharedAcrossSides<S, R>: @unchecked Sendable {
    let slots: UnsafeMutableBufferPointer<Result<R, any Error>?>
    let sides: [S]
    let body: (S) throws -> R
}
