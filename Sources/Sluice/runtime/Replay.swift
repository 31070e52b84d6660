/// Principles
/// ----------
/// `sluice replay`: a pcap trace pushed through one egress device in virtual time. Each input
/// record is handed to dev_queue_xmit at its own timestamp; the device's line drains at the
/// given rate; the clock jumps from event to event (next arrival, line free, a shaper's
/// watchdog), so a minute of trace replays in well under a second and two runs of the same input
/// give the same bytes. The qdisc code is the live code.
public struct ReplayReport {
    public var text: String
    public var delays: [UInt64]
}

public final class Replay {
    public let dp: Datapath
    public let runner: CommandRunner
    public let dev: NetDevice
    let records: [PcapFile.Record]
    var series: [String] = []
    let interval: UInt64

    public init(input: String, output: String?, rate: UInt64, devName: String = "eth0", overhead: Int = 0,
                configLines: [String], interval: UInt64 = 10 * Time.ms, poolSize: Int = 65536) throws(SluiceError) {
        records = try PcapFile.read(input)
        dp = Datapath(poolSize: poolSize, clock: .virtual(start: records.first?.timestamp ?? 0))
        dp.log = { writeErr("sluice: \($0)") }
        runner = CommandRunner(datapath: dp)
        let biggest = records.map(\.data.count).max() ?? 0
        dev = try dp.addLine(name: devName, rate: rate, overhead: overhead, output: output, mtu: max(1500, biggest - 14))
        self.interval = interval
        for (n, line) in configLines.enumerated() {
            do { try runner.execute(line) } catch {
                dp.shutdown()
                throw SluiceError("config line \(n + 1): \(error.message)")
            }
        }
    }

    /// Runs the trace to the end and until the queue has drained.
    public func run(timeseries: Bool = false) -> ReplayReport {
        var i = 0
        var batch = PacketBatch()
        let pool = dp.pool
        var nextSample = (records.first?.timestamp ?? 0) &+ interval
        var last = sampleState()
        if timeseries { series.append("time_s,class,backlog_bytes,backlog_packets,throughput_bps,drops") }
        var dropsNoBuffer = 0
        while true {
            let arrival = i < records.count ? records[i].timestamp : UInt64.max
            let timer = dp.nextTxTimer
            let next = min(arrival, timer == 0 ? UInt64.max : timer)
            if next == UInt64.max { break }
            if timeseries {
                while nextSample <= next {
                    dp.clock.advance(to: nextSample)
                    last = emitSample(last)
                    nextSample &+= interval
                }
            }
            dp.clock.advance(to: next)
            while i < records.count && records[i].timestamp <= dp.clock.now {
                let r = records[i]
                i += 1
                guard r.data.count >= 14, r.data.count <= PacketPool.dataRoom, let p = pool.alloc() else { dropsNoBuffer += 1; continue }
                r.data.withUnsafeBytes { pool.setFrame(p, from: $0.baseAddress!, count: $0.count) }
                batch.append(p)
                if batch.isFull { dp.transmit(dev, &batch) }
            }
            if !batch.isEmpty { dp.transmit(dev, &batch) }
            dp.runTxWork()
        }
        if timeseries { _ = emitSample(last) }
        let delays = dp.lineDelays(dev)
        var text = "replay: \(records.count) packets in, \(dev.stats.txPackets) out on \(dev.name)"
        if dropsNoBuffer > 0 { text += ", \(dropsNoBuffer) unusable input records" }
        let span = (records.last?.timestamp ?? 0) &- (records.first?.timestamp ?? 0)
        text += ", trace \(TcFormat.time(span)), finished at +\(TcFormat.time(dp.clock.now &- (records.first?.timestamp ?? 0)))\n"
        text += "queue delay: " + Self.percentiles(delays) + "\n"
        text += (try? runner.execute("-s qdisc show dev \(dev.name)")) ?? ""
        text += (try? runner.execute("-s class show dev \(dev.name)")) ?? ""
        return ReplayReport(text: text, delays: delays)
    }

    public var timeseriesCSV: String { series.joined(separator: "\n") + "\n" }

    public static func percentiles(_ d: [UInt64]) -> String {
        guard !d.isEmpty else { return "no packets" }
        let s = d.sorted()
        func q(_ f: Double) -> UInt64 { s[min(s.count - 1, Int((Double(s.count) * f).rounded(.up)) - 1 < 0 ? 0 : Int((Double(s.count) * f).rounded(.up)) - 1)] }
        return "p50 \(TcFormat.time(q(0.5))) p99 \(TcFormat.time(q(0.99))) max \(TcFormat.time(s.last!)) (\(s.count) packets)"
    }

    typealias Sample = [String: (bytes: UInt64, drops: UInt64)]

    func sampleState() -> Sample {
        var s: Sample = [:]
        let root = dev.qdisc!
        let st = root.statsSnapshot()
        s["root"] = (st.bytes, st.drops)
        for c in root.classes(details: false) { s[c.classid.description] = (c.stats?.bytes ?? 0, c.stats?.drops ?? 0) }
        return s
    }

    func emitSample(_ prev: Sample) -> Sample {
        let now = sampleState()
        let t = Double(dp.clock.now &- (records.first?.timestamp ?? 0)) / 1e9
        let root = dev.qdisc!
        var rows: [(String, UInt64, Int)] = []
        let rs = root.statsSnapshot()
        rows.append(("root", rs.backlog, rs.qlen))
        for c in root.classes(details: false) { rows.append((c.classid.description, c.stats?.backlog ?? 0, c.stats?.qlen ?? 0)) }
        for (name, backlog, qlen) in rows {
            let cur = now[name] ?? (0, 0), old = prev[name] ?? (0, 0)
            let bps = Double(cur.bytes &- old.bytes) * 8 / (Double(interval) / 1e9)
            series.append("\(String(format6(t))),\(name),\(backlog),\(qlen),\(UInt64(bps)),\(cur.drops &- old.drops)")
        }
        return now
    }

    func format6(_ t: Double) -> String {
        let us = Int64((t * 1e6).rounded())
        let frac = String(us % 1_000_000)
        return "\(us / 1_000_000)." + String(repeating: "0", count: 6 - frac.count) + frac
    }

    public func finish() { dp.shutdown() }
}
