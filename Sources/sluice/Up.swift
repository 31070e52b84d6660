import ArgumentParser
import Foundation
import Sluice

/// `sluice up`: the built-in default topology, end to end.
///
///     ns A: tap ─┐                      ┌─ veth ─ ns B
///                └─ Sluice bridge br0 ──┘ (AF_PACKET on the veth's other end)
///
/// Two namespaces get 198.18.0.1/24 and 198.18.0.2/24; ping and a bounded iperf3 run cross the
/// bridge; then per-port statistics and the FDB are printed and everything is torn down.
struct Up: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the default topology: two namespaces through Sluice's bridge, ping, iperf3, statistics.")

    @Option(name: .long, help: "Seconds of iperf3 TCP (1-60).")
    var seconds: Int = 5

    @Option(name: .long, help: "CPUs for the datapath worker.")
    var cpus: String?

    func validate() throws {
        guard (1...60).contains(seconds) else { throw ValidationError("--seconds must be in 1...60") }
    }

    func run() throws {
        guard geteuid() == 0 else { fail("sluice up needs root (network namespaces, TAP devices)") }
        for tool in ["ip", "ping", "iperf3"] where which(tool) == nil {
            fail("sluice up needs \"\(tool)\" on PATH (Debian: apt-get install -y iproute2 iputils-ping iperf3)")
        }
        let plan = try CPUPlan.current(requested: try cpus.map { s throws(SluiceError) in try CPUPlan.parseList(s) })
        let tag = "sl" + String(getpid() % 46656, radix: 36)
        let nsA = "\(tag)-a", nsB = "\(tag)-b"
        let tap = "\(tag)t0", vethHost = "\(tag)v0", vethPeer = "\(tag)v1"
        signal(SIGINT, SIG_IGN)   // children get it and end; we go on to tear down
        signal(SIGTERM, SIG_IGN)

        let dp = Datapath(poolSize: 4096)
        dp.log = { writeErr("sluice: \($0)") }
        try? dp.setDefaultQdisc("fq_codel")
        dp.defaultBusyPollNs = UInt64(Datapath.liveBusyPollUs) * Time.us
        try dp.addLoopback()
        let worker = Worker(datapath: dp)
        var created: [() -> Void] = []
        defer {
            if !worker.isFinished { worker.stop() }
            dp.shutdown()
            for undo in created.reversed() { undo() }
            writeOut("torn down: namespaces \(nsA) \(nsB), interfaces \(tap) \(vethHost)/\(vethPeer)\n")
        }
        func step(_ args: [String]) throws {
            let r = runCommand(args)
            guard r.status == 0 else { throw SluiceError("\(args.joined(separator: " ")) failed: \(r.output.trimmingCharacters(in: .whitespacesAndNewlines))") }
        }
        do {
            try step(["ip", "netns", "add", nsA]); created.append { _ = runCommand(["ip", "netns", "del", nsA]) }
            try step(["ip", "netns", "add", nsB]); created.append { _ = runCommand(["ip", "netns", "del", nsB]) }
            try step(["ip", "link", "add", vethHost, "type", "veth", "peer", "name", vethPeer, "netns", nsB])
            created.append { _ = runCommand(["ip", "link", "del", vethHost]) }
            try step(["ip", "link", "set", vethHost, "up"])
            let r = worker.runner
            for line in ["link add br0 type bridge",
                         "link add \(tap) type tap",
                         "link add port-b type afpacket dev \(vethHost)",
                         "link set \(tap) master br0 up",
                         "link set port-b master br0 up",
                         "link set br0 up"] {
                writeOut("sluice> \(line)\n")
                try r.execute(line)
            }
            try step(["ip", "link", "set", tap, "netns", nsA])
            for (ns, dev, addr) in [(nsA, tap, "198.18.0.1/24"), (nsB, vethPeer, "198.18.0.2/24")] {
                try step(["ip", "-n", ns, "link", "set", "lo", "up"])
                try step(["ip", "-n", ns, "addr", "add", addr, "dev", dev])
                try step(["ip", "-n", ns, "link", "set", dev, "up"])
            }
            worker.cpu = plan.datapath
            try worker.start()
            writeOut("datapath worker on CPU \(plan.datapath); \(nsA) (tap \(tap), 198.18.0.1) <-> br0 <-> \(nsB) (veth \(vethPeer) via AF_PACKET, 198.18.0.2)\n\n")

            let ping = runCommand(["ip", "netns", "exec", nsA, "ping", "-c", "5", "-i", "0.2", "-W", "2", "198.18.0.2"])
            writeOut(ping.output + "\n")
            guard ping.status == 0 else { throw SluiceError("ping through Sluice failed") }

            let server = Process()
            server.executableURL = URL(fileURLWithPath: which("ip")!)
            server.arguments = ["netns", "exec", nsB, "iperf3", "-s", "-1", "-B", "198.18.0.2"]
            server.standardOutput = FileHandle.nullDevice
            server.standardError = FileHandle.nullDevice
            try server.run()
            defer { if server.isRunning { server.terminate() }; server.waitUntilExit() }
            var client = (status: Int32(1), output: "")
            for _ in 0..<20 {
                usleep(200_000)
                client = runCommand(["ip", "netns", "exec", nsA, "iperf3", "-c", "198.18.0.2", "-t", String(seconds), "-f", "g"])
                if client.status == 0 || !client.output.contains("Connection refused") { break }
            }
            writeOut(client.output.split(separator: "\n").filter { $0.contains("sender") || $0.contains("receiver") || $0.contains("Interval") }.joined(separator: "\n") + "\n\n")
            guard client.status == 0 else { throw SluiceError("iperf3 through Sluice failed: \(client.output)") }
            worker.stop()
            writeOut(worker.runner.report())
        } catch let e as SluiceError {
            writeErr("sluice up: \(e.message)")
            throw ExitCode(1)
        }
    }
}

/// Runs a command to completion, capturing stdout and stderr together.
func runCommand(_ args: [String]) -> (status: Int32, output: String) {
    guard let exe = which(args[0]) else { return (127, "\(args[0]): not found") }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = Array(args.dropFirst())
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    do { try p.run() } catch { return (127, "\(error)") }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

func which(_ name: String) -> String? {
    if name.hasPrefix("/") { return name }
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    for dir in path.split(separator: ":") {
        let p = "\(dir)/\(name)"
        if access(p, X_OK) == 0 { return p }
    }
    return nil
}
