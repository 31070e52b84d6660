import ArgumentParser
import Sluice
#if canImport(Glibc)
import Glibc
#endif

/// `sluice daemon --config FILE`: applies a batch of command lines, then runs the datapath
/// worker until SIGINT/SIGTERM (SIGUSR1 prints a report). On the way out it deletes the kernel
/// interfaces it created, returns every buffer and prints the final statistics.
struct Daemon: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the datapath with a configuration batch file.")

    @Option(name: .long, help: "Batch file of command lines (link …, fdb …), one per line.")
    var config: String

    @Option(name: .long, help: "CPUs for the datapath worker (a list like 1 or 2-3; the first usable one is taken). The rest of the daemon runs on the other, non-isolated CPUs.")
    var cpus: String?

    @Option(name: .long, help: "Packet buffers in the pool.")
    var poolSize: Int = 4096

    @Option(name: .long, help: "real (live) or virtual (time follows pcap timestamps).")
    var clock: String = "real"

    @Flag(name: .long, help: "Exit once every pcap input is exhausted (offline runs).")
    var exitWhenIdle = false

    @Option(name: .long, help: "The root qdisc new devices get (net.core.default_qdisc): fq_codel, pfifo_fast, pfifo or bfifo.")
    var defaultQdisc: String = "fq_codel"

    @Option(name: .long, help: "Busy-poll window (µs) new devices get: after a poll that found packets the worker polls the queue again, without sleeping in epoll, until this long passes without one; 0 for off. Per device: busy_poll USECS.")
    var busyPoll: Int = Datapath.liveBusyPollUs

    @Option(name: .long, help: "The rtnetlink control socket (AF_UNIX SOCK_SEQPACKET, mode 0660); \"none\" for no socket.")
    var socket: String = ControlSocket.defaultPath

    @Option(name: .long, help: "Accept routes from FRR's zebra (dplane_fpm_nl) on [ADDRESS:]PORT (TCP, FPM framing of rtnetlink route messages; zebra's default port is 2620). Needs the control socket.")
    var fpm: String?

    @Option(name: .long, help: "A group (name or id) that may connect to the control socket (read-only unless also admin).")
    var socketGroup: String?

    @Option(name: .long, help: "A group (name or id) whose members may change state over the control socket (besides root).")
    var adminGroup: String?

    func validate() throws {
        guard clock == "real" || clock == "virtual" else { throw ValidationError("--clock must be real or virtual, not \"\(clock)\"") }
        guard (0...1_000_000).contains(busyPoll) else { throw ValidationError("--busy-poll must be in 0...1000000 (µs), not \(busyPoll)") }
        guard (64...1_000_000).contains(poolSize) else { throw ValidationError("--pool-size must be in 64...1000000") }
        if let cpus { _ = try CPUPlan.parseList(cpus) }
        guard Datapath.defaultQdiscKinds.contains(defaultQdisc) else {
            throw ValidationError("--default-qdisc must be one of \(Datapath.defaultQdiscKinds.joined(separator: ", ")), not \"\(defaultQdisc)\"")
        }
    }

    func run() throws {
        let requested = try cpus.map { s throws(SluiceError) in try CPUPlan.parseList(s) }
        let plan: CPUPlan
        do { plan = try CPUPlan.current(requested: requested) } catch { fail("\(error)") }
        try? CPUPlan.pinCurrentThread(plan.housekeeping)
        guard let text = readFile(config) else { fail("cannot read \(config): \(String(cString: strerror(errno)))") }

        let dp = Datapath(poolSize: poolSize, clock: clock == "virtual" ? .virtual() : .real())
        dp.log = { writeErr("sluice: \($0)") }
        try? dp.setDefaultQdisc(defaultQdisc)
        dp.defaultBusyPollNs = UInt64(busyPoll) * Time.us
        try dp.addLoopback()
        let worker = Worker(datapath: dp)
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            do {
                let out = try worker.runner.execute(String(line))
                if !out.isEmpty { writeOut(out) }
            } catch {
                dp.shutdown()
                fail("\(config):\(n + 1): \(error.message)")
            }
        }

        // Signals go to the main thread only (sigwait); the worker inherits the mask.
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGHUP] { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)

        worker.cpu = plan.datapath
        worker.exitWhenIdle = exitWhenIdle
        let me = getpid()
        worker.onFinish = { kill(me, SIGUSR2) }
        var server: ControlServer?
        if socket != "none" {
            func group(_ g: String?, _ option: String) -> gid_t? {
                guard let g else { return nil }
                if let n = gid_t(g) { return n }
                if let gr = getgrnam(g) { return gr.pointee.gr_gid }
                fail("\(option): no group \"\(g)\"")
            }
            do {
                server = try ControlServer(path: socket, runner: worker.runner, adminGroup: group(adminGroup, "--admin-group"))
                if let gid = group(socketGroup, "--socket-group") { chown(socket, uid_t.max, gid) }
            } catch { dp.shutdown(); fail("\(error)") }
        }
        var fpmServer: FPMServer?
        if let fpm {
            guard let server else { dp.shutdown(); fail("--fpm needs the control socket (not --socket none)") }
            let parts = fpm.split(separator: ":", omittingEmptySubsequences: false)
            let address = parts.count == 2 ? String(parts[0]) : "127.0.0.1"
            guard let port = UInt16(parts.last ?? "") else { dp.shutdown(); fail("--fpm: \"\(fpm)\" is not [ADDRESS:]PORT") }
            server.log = { writeErr("sluice: \($0)") }
            do { fpmServer = try FPMServer(address: address, port: port, control: server) } catch { dp.shutdown(); fail("\(error)") }
        }
        do { try worker.start(); try server?.start(); try fpmServer?.start() } catch { dp.shutdown(); fail("\(error)") }
        writeErr("sluice: ready: \(dp.allDevices.count) devices, datapath worker on CPU \(plan.datapath), housekeeping CPUs \(plan.housekeeping.map(String.init).joined(separator: ",")), pool \(poolSize) buffers")

        var sig: Int32 = 0
        loop: while true {
            sigwait(&set, &sig)
            switch sig {
            case SIGUSR1: worker.requestReport()
            case SIGUSR2: if worker.isFinished { break loop }
            default: break loop
            }
        }
        fpmServer?.stop()
        server?.stop()
        worker.stop()
        server = nil
        writeOut("final statistics:\n" + worker.runner.report())
        dp.shutdown()
        writeOut("shutdown: " + worker.runner.poolLine() + (dp.pool.inUse == 0 ? " (no buffer leaked)\n" : " (LEAK)\n"))
        if dp.pool.inUse != 0 { throw ExitCode(3) }
    }
}

func fail(_ message: String) -> Never {
    writeErr("sluice: \(message)")
    exit(1)
}
