import Atomics
import CSluiceLinux
#if canImport(Glibc)
import Glibc
#endif

/// The datapath worker: one thread, pinned to its CPU, running `Datapath.runOnce` until told to
/// stop. Other threads talk to it through atomics and the datapath's wake eventfd only; the
/// datapath itself (pool, devices, tables) is touched by this thread alone while it runs.
public final class Worker: @unchecked Sendable {
    public let datapath: Datapath
    public let runner: CommandRunner
    let stopFlag = ManagedAtomic<Bool>(false)
    let reportFlag = ManagedAtomic<Bool>(false)
    let finished = ManagedAtomic<Bool>(false)
    /// Stop by itself once every pcap source is exhausted (offline runs).
    public var exitWhenIdle = false
    public var cpu: Int?
    /// Called on the worker thread when it stops by itself.
    public var onFinish: (@Sendable () -> Void)?
    /// Where reports go (the worker prints them between batches).
    public var output: @Sendable (String) -> Void = { s in writeOut(s) }
    var thread: pthread_t?

    public init(datapath: Datapath) {
        self.datapath = datapath
        runner = CommandRunner(datapath: datapath)
    }

    public func start() throws(SluiceError) {
        let box = Unmanaged.passRetained(self)
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { arg in
            let w = Unmanaged<Worker>.fromOpaque(arg!).takeRetainedValue()
            w.run()
            return nil
        }, box.toOpaque())
        guard rc == 0 else { box.release(); throw SluiceError("cannot start datapath thread: \(errnoString(rc))") }
        thread = t
    }

    func run() {
        if let cpu {
            do { try CPUPlan.pinCurrentThread([cpu]) } catch { output("sluice: \(error)\n") }
        }
        // The kernel's qdisc watchdog (netem, tbf, fq, htb…) arms its hrtimer with no slack
        // (qdisc_watchdog_schedule_ns); a user thread's timers may fire up to 50 µs late unless
        // it asks for less. The worker's timerfd is that watchdog: 1 ns, as precise as the kernel's.
        _ = csl_set_timer_slack(1)
        while !stopFlag.load(ordering: .acquiring) {
            datapath.runOnce(timeoutMs: 100)
            if reportFlag.exchange(false, ordering: .acquiringAndReleasing) {
                output(runner.report())
            }
            if exitWhenIdle && datapath.pcapInputsDone { break }
        }
        datapath.flushTransmit()
        finished.store(true, ordering: .releasing)
        if !stopFlag.load(ordering: .acquiring) { onFinish?() }
    }

    /// Asks the worker to print a report between batches.
    public func requestReport() {
        reportFlag.store(true, ordering: .releasing)
        datapath.wake()
    }

    /// Stops the worker and waits for it.
    public func stop() {
        stopFlag.store(true, ordering: .releasing)
        datapath.wake()
        if let t = thread { pthread_join(t, nil); thread = nil }
    }

    public var isFinished: Bool { finished.load(ordering: .acquiring) }
}

/// Writes text to standard output unbuffered (reports from any thread, in order).
public func writeOut(_ s: String) {
    var s = s
    s.withUTF8 { b in
        var off = 0
        while off < b.count {
            let n = write(1, b.baseAddress! + off, b.count - off)
            if n <= 0 { break }
            off += n
        }
    }
}

/// Writes one line to standard error.
public func writeErr(_ s: String) {
    var s = s.hasSuffix("\n") ? s : s + "\n"
    s.withUTF8 { b in _ = write(2, b.baseAddress!, b.count) }
}
