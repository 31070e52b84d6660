import Benchmark
import Sluice

/// The in-memory forwarding loop: a generator port receives 64-byte frames in NAPI polls of 64,
/// the bridge looks each destination up in the FDB and stages it for the sink port, the sink
/// transmits and frees. Steady state must allocate nothing per packet.
/// One benchmark iteration forwards `packetsPerIteration` packets.
let packetsPerIteration = 1024

final class ForwardingRig {
    let dp = Datapath(poolSize: 2048, clock: .virtual(start: 1))
    let source: MemoryDriver
    let src: NetDevice

    init(flood: Bool) throws {
        let r = CommandRunner(datapath: dp)
        try r.execute("link add br0 type bridge")
        source = MemoryDriver()
        let a = MACAddress(raw: 0x0200_0000_000A), b = MACAddress(raw: 0x0200_0000_000B)
        // Eight flows (source MACs) to one destination, as a switch sees.
        source.setTemplates((0..<8).map { FrameBuilder.udpFrame(dst: flood ? .broadcast : b, src: MACAddress(raw: a.raw + UInt64($0)), frameLength: 60) })
        src = try dp.addMemory(name: "src", driver: source)
        for n in ["sink", "sink2"] {
            let d = MemoryDriver()
            d.capture = false
            try dp.addMemory(name: n, driver: d)
            try r.execute("link set \(n) master br0 up")
        }
        try r.execute("link set src master br0 up")
        try r.execute("link set br0 up")
        try r.execute("fdb add 02:00:00:00:00:0b dev sink static")
        forward(4096)   // warm up: learn, fault in buffers
    }

    @inline(never)
    func forward(_ n: Int) {
        source.toGenerate = n
        while source.toGenerate > 0 || dp.pollListCount > 0 {
            dp.napiSchedule(src)
            dp.netRxAction()
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .instructions, .retainCount, .releaseCount],
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 100_000
    )
    // The harness's own allocations per iteration, to subtract.
    Benchmark("baseline (empty iteration)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(0) }
    }
    nonisolated(unsafe) let unicast = try! ForwardingRig(flood: false)
    Benchmark("forward unicast 64B x\(packetsPerIteration)") { benchmark in
        for _ in benchmark.scaledIterations { unicast.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let flood = try! ForwardingRig(flood: true)
    Benchmark("flood broadcast 64B x\(packetsPerIteration) to 2 ports") { benchmark in
        for _ in benchmark.scaledIterations { flood.forward(packetsPerIteration) }
    }
}
