import ArgumentParser
import Sluice
#if canImport(Glibc)
import Glibc
#endif

/// `sluice replay`: a pcap trace through one egress device and its qdiscs, in virtual time.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Push a pcap trace through one egress device whose line drains at --rate, in virtual time.")

    @Option(name: .customLong("in"), help: "Input pcap (Ethernet).") var input: String
    @Option(name: .customLong("out"), help: "Output pcap: what left the line, stamped with the time it started.") var output: String
    @Option(help: "Line rate, in tc units (100mbit, 1gbit, …).") var rate: String
    @Option(help: "File of tc lines (qdisc/class/filter …) for the device.") var config: String?
    @Option(help: "Name of the egress device in the config lines.") var dev: String = "eth0"
    @Option(help: "Bytes of per-packet overhead on the line (preamble, IFG, FCS: 24 for Ethernet).") var overhead: Int = 0
    @Option(help: "Write backlog, throughput and drops per class over time to this CSV file.") var timeseries: String?
    @Option(help: "Time-series sampling interval (tc time units).") var interval: String = "10ms"

    func validate() throws {
        guard TcUnits.rate(rate).map({ $0 > 0 }) == true else { throw ValidationError("--rate \"\(rate)\" is not a rate (e.g. 100mbit)") }
        guard TcUnits.time(interval).map({ $0 > 0 }) == true else { throw ValidationError("--interval \"\(interval)\" is not a time (e.g. 10ms)") }
        guard (0...1000).contains(overhead) else { throw ValidationError("--overhead must be in 0...1000") }
    }

    func run() throws {
        var lines: [String] = []
        if let config {
            guard let text = readFile(config) else { fail("cannot read \(config): \(String(cString: strerror(errno)))") }
            lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        }
        let r: Replay
        do {
            r = try Replay(input: input, output: output, rate: TcUnits.rate(rate)!, devName: dev, overhead: overhead,
                           configLines: lines, interval: TcUnits.time(interval)!)
        } catch {
            fail("\(config ?? input): \(error.message)")
        }
        let report = r.run(timeseries: timeseries != nil)
        r.finish()
        writeOut(report.text)
        if let timeseries {
            let fd = open(timeseries, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { fail("cannot write \(timeseries)") }
            var csv = r.timeseriesCSV
            csv.withUTF8 { b in _ = write(fd, b.baseAddress!, b.count) }
            close(fd)
        }
    }
}
