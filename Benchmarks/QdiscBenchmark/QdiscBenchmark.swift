import Benchmark
import Sluice

/// Enqueue + dequeue per packet for each qdisc, on a virtual clock that advances so shapers
/// always have tokens (what is measured is the qdisc's own work, not waiting). One iteration
/// moves `batch` packets through: enqueue all, dequeue all.
let batch = 256

final class QdiscRig {
    let dp: Datapath
    let runner: CommandRunner
    let dev: NetDevice
    var frames: [UInt32] = []

    init(_ lines: [String], flows: Int) throws {
        dp = Datapath(poolSize: 4096, clock: .virtual(start: 1_000_000_000))
        runner = CommandRunner(datapath: dp)
        dev = try dp.addLine(name: "eth0", rate: 100_000_000_000, output: nil)
        for l in lines { try runner.execute(l) }
        // Templates: `flows` distinct UDP flows (by source port), 1000-byte frames.
        var templates: [[UInt8]] = []
        for i in 0..<min(flows, 10_000) {
            let sport = UInt16(1000 + i % 60000)
            let dport = UInt16(10 + i % 16)
            templates.append(FrameBuilder.udpFrame(dst: MACAddress(raw: 0x0200_0000_000B), src: MACAddress(raw: 0x0200_0000_000A),
                                                   sport: sport, dport: dport, frameLength: 1000))
        }
        self.templates = templates
    }
    let templates: [[UInt8]]
    var next = 0

    /// Hands the next `batch` templates to `body`, cycling through them.
    @inline(__always)
    func eachFrame(_ body: (UnsafeRawBufferPointer) -> Void) {
        for _ in 0..<batch {
            let t = templates[next]
            next = next + 1 == templates.count ? 0 : next + 1
            t.withUnsafeBytes(body)
        }
    }

    @inline(never)
    func rig() {
        let probe = BenchProbe(dp: dp, dev: dev)
        eachFrame { probe.rigOnly($0) }
    }

    @inline(never)
    func run() {
        let probe = BenchProbe(dp: dp, dev: dev)
        eachFrame { probe.enqueue($0) }
        dp.clock.advance(by: 300_000)   // 256 kB at 10 Gbit/s = 205 µs; below CoDel's 5 ms target
        probe.drain()
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .instructions, .retainCount, .releaseCount],
        maxDuration: .seconds(2), maxIterations: 50_000)
    func bench(_ name: String, _ lines: [String], flows: Int = 16) {
        nonisolated(unsafe) let rig = try! QdiscRig(lines, flows: flows)
        for _ in 0..<20 { rig.run() }
        Benchmark("\(name) enqueue+dequeue x\(batch)") { b in for _ in b.scaledIterations { rig.run() } }
    }
    Benchmark("baseline (empty iteration)") { b in for _ in b.scaledIterations { blackHole(0) } }
    nonisolated(unsafe) let rigOnly = try! QdiscRig([], flows: 16)
    Benchmark("rig only (alloc, 64-byte copy, free) x\(batch)") { b in for _ in b.scaledIterations { rigOnly.rig() } }
    bench("pfifo", ["qdisc add dev eth0 root pfifo limit 1000"])
    bench("pfifo_fast", [])
    bench("tbf", ["qdisc add dev eth0 root tbf rate 10gbit burst 1mb limit 10mb"])
    var htb = ["qdisc add dev eth0 root handle 1: htb default 10", "class add dev eth0 parent 1: classid 1:1 htb rate 10gbit"]
    for m in 0..<4 {
        htb.append("class add dev eth0 parent 1:1 classid 1:\(String(0x10 + m, radix: 16)) htb rate 2gbit ceil 10gbit")
        for l in 0..<4 {
            let leaf = String(0x100 + m * 16 + l, radix: 16)
            htb.append("class add dev eth0 parent 1:\(String(0x10 + m, radix: 16)) classid 1:\(leaf) htb rate 500mbit ceil 10gbit")
            htb.append("filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport \(10 + m * 4 + l) 0xffff flowid 1:\(leaf)")
        }
    }
    bench("htb 3 levels 16 leaves", htb)
    bench("htb 3 levels 16 leaves + fq_codel leaves", htb + (0..<16).map { i in
        let leaf = String(0x100 + (i / 4) * 16 + i % 4, radix: 16)
        return "qdisc add dev eth0 parent 1:\(leaf) fq_codel"
    })
    bench("netem delay 10us 1us", ["qdisc add dev eth0 root netem delay 10us 1us limit 10000"])
    bench("netem delay 10us 1us distribution normal", ["qdisc add dev eth0 root netem delay 10us 1us distribution normal limit 10000"])
    bench("netem duplicate 5% corrupt 5% reorder 5%", ["qdisc add dev eth0 root netem delay 10us duplicate 5% corrupt 5% reorder 5% limit 10000"])
    bench("netem loss state + slots", ["qdisc add dev eth0 root netem loss state 1% 30% limit 10000 slot 10us 20us packets 32"])
    bench("pie", ["qdisc add dev eth0 root pie limit 10000"])
    bench("fq_pie", ["qdisc add dev eth0 root fq_pie"])
    bench("fq", ["qdisc add dev eth0 root fq"])
    bench("fq maxrate", ["qdisc add dev eth0 root fq maxrate 50gbit"])
    var hfsc = ["qdisc add dev eth0 root handle 1: hfsc default 10", "class add dev eth0 parent 1: classid 1:1 hfsc ls rate 10gbit ul rate 10gbit"]
    for l in 0..<4 {
        let leaf = String(0x10 + l, radix: 16)
        hfsc.append("class add dev eth0 parent 1:1 classid 1:\(leaf) hfsc rt rate 1gbit ls rate 2gbit")
        hfsc.append("filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport \(10 + l) 0xffff flowid 1:\(leaf)")
    }
    bench("hfsc 2 levels 4 leaves", hfsc)
    var ets = ["qdisc add dev eth0 root handle 1: ets bands 4 strict 1 quanta 1514 3028 4542"]
    for l in 0..<4 { ets.append("filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport \(10 + l) 0xffff flowid 1:\(l + 1)") }
    bench("ets 4 bands 1 strict", ets)
    bench("choke", ["qdisc add dev eth0 root choke limit 1000 bandwidth 10gbit"])
    bench("hhf", ["qdisc add dev eth0 root hhf"])
    bench("skbprio", ["qdisc add dev eth0 root skbprio limit 1000"])
    bench("cake unlimited triple-isolate", ["qdisc add dev eth0 root cake"], flows: 1000)
    bench("cake 50gbit diffserv4 ack-filter", ["qdisc add dev eth0 root cake bandwidth 50gbit diffserv4 ack-filter"], flows: 1000)
    bench("fq_codel 1024 flows 10000 active", ["qdisc add dev eth0 root fq_codel flows 1024 limit 20000"], flows: 10_000)
}
