import XCTest
@testable import Sluice

let macA = MACAddress(raw: 0x0200_0000_000A)
let macB = MACAddress(raw: 0x0200_0000_000B)
let macC = MACAddress(raw: 0x0200_0000_000C)
let macD = MACAddress(raw: 0x0200_0000_000D)

/// A bridge of in-memory ports on a virtual clock.
final class Lab {
    let dp: Datapath
    let runner: CommandRunner
    var ports: [String: MemoryDriver] = [:]

    init(ports names: [String], poolSize: Int = 1024) throws {
        dp = Datapath(poolSize: poolSize, clock: .virtual(start: 1_000 * Time.s))
        dp.log = { _ in }
        runner = CommandRunner(datapath: dp)
        try runner.execute("link add br0 type bridge")
        for n in names {
            let d = MemoryDriver()
            ports[n] = d
            try dp.addMemory(name: n, driver: d)
            try runner.execute("link set \(n) master br0 up")
        }
        try runner.execute("link set br0 up")
    }

    func dev(_ n: String) -> NetDevice { dp.device(named: n)! }

    /// Injects `frame` on `port` and runs the datapath until idle; returns what each port sent.
    @discardableResult
    func send(_ frame: [UInt8], on port: String) -> [String: [[UInt8]]] {
        ports[port]!.inject(frame)
        return runUntilIdle()
    }

    func runUntilIdle() -> [String: [[UInt8]]] {
        for _ in 0..<10_000 {
            dp.runOnce(timeoutMs: 0)
            if dp.pollListCount == 0 && !ports.values.contains(where: { $0.pending > 0 }) { break }
        }
        var out: [String: [[UInt8]]] = [:]
        for (n, d) in ports { out[n] = d.takeCaptured() }
        return out
    }

    /// Ports that transmitted something in `out`.
    static func receivers(_ out: [String: [[UInt8]]]) -> Set<String> {
        Set(out.filter { !$0.value.isEmpty }.keys)
    }
}

func frame(_ dst: MACAddress, _ src: MACAddress, length: Int = 60) -> [UInt8] {
    FrameBuilder.udpFrame(dst: dst, src: src, frameLength: length)
}

/// Unwraps a noncopyable optional or stops the test.
func must<T: ~Copyable>(_ v: consuming T?, file: StaticString = #filePath, line: UInt = #line) -> T {
    switch consume v {
    case .some(let x): return x
    case .none: fatalError("unexpected nil", file: file, line: line)
    }
}

/// A router of two in-memory ports, r1 (MAC …:01) and r2 (…:02), up, on a virtual clock, with
/// `config` (addresses, routes) applied: the fixture of the IPv4 and IPv6 tests.
final class MemoryRouter {
    let dp = Datapath(poolSize: 512, clock: .virtual(start: 1_000 * Time.s))
    let runner: CommandRunner
    let r1 = MemoryDriver(), r2 = MemoryDriver()
    /// `dad`: duplicate address detection as the kernel's default (accept_dad 1); off (the
    /// virtual clock's default), the router's addresses are usable at once.
    init(_ config: [String], dad: Bool = false) throws {
        dp.log = { _ in }
        if dad { dp.ipv6.setConf(.default, .acceptDAD, 1) }
        runner = CommandRunner(datapath: dp)
        try dp.addMemory(name: "r1", driver: r1, mac: MACAddress(raw: 0x0200_0000_0001))
        try dp.addMemory(name: "r2", driver: r2, mac: MACAddress(raw: 0x0200_0000_0002))
        try runner.execute("link set r1 up")
        try runner.execute("link set r2 up")
        for c in config { try runner.execute(c) }
    }
    func dev(_ n: String) -> NetDevice { dp.device(named: n)! }
    /// Injects and runs until idle; returns what r1 and r2 sent.
    @discardableResult
    func send(_ f: [UInt8], on port: MemoryDriver) -> (r1: [[UInt8]], r2: [[UInt8]]) {
        port.inject(f)
        return run()
    }
    func run() -> (r1: [[UInt8]], r2: [[UInt8]]) {
        for _ in 0..<100 {
            dp.runOnce(timeoutMs: 0)
            if dp.pollListCount == 0 && r1.pending == 0 && r2.pending == 0 { break }
        }
        return (r1.takeCaptured(), r2.takeCaptured())
    }
    /// Advances virtual time, running the neighbour timers on the way.
    func advance(_ ns: UInt64) -> (r1: [[UInt8]], r2: [[UInt8]]) {
        dp.clock.advance(to: dp.clock.now + ns)
        return run()
    }
}
