import Foundation
import XCTest
@testable import Sluice

/// A synthetic trace: flows of UDP packets, each with a sequence number in its payload.
struct Flow {
    var dport: UInt16
    var size: Int           // frame bytes
    var rate: UInt64        // offered bit/s
    var start: UInt64 = 0   // ns from t0
    var duration: UInt64    // ns
    var tos: UInt8 = 0
}

let t0: UInt64 = 1_700_000_000 * Time.s

func makeTrace(_ flows: [Flow]) -> [PcapFile.Record] {
    var recs: [PcapFile.Record] = []
    for f in flows {
        let gap = l2t(f.size, f.rate)
        var t = f.start
        var seq: UInt32 = 0
        while t < f.start + f.duration {
            var fr = FrameBuilder.udpFrame(dst: macB, src: macA, dport: f.dport, frameLength: f.size)
            fr[42] = UInt8(seq >> 24); fr[43] = UInt8((seq >> 16) & 0xff); fr[44] = UInt8((seq >> 8) & 0xff); fr[45] = UInt8(seq & 0xff)
            if f.tos != 0 { fr[15] = f.tos; fr[24] = 0; fr[25] = 0
                let c = fr.withUnsafeBytes { Checksum.fold(Checksum.sum($0.baseAddress! + 14, 20)) }
                fr[24] = UInt8(c >> 8); fr[25] = UInt8(c & 0xff) }
            recs.append(.init(timestamp: t0 + t, data: fr))
            t += gap
            seq += 1
        }
    }
    return recs.sorted { $0.timestamp < $1.timestamp }
}

/// A replay of `flows` through `config` at `rate`; returns the replay and the output records.
/// `beforeFinish` sees the replay after its last packet, before the device is torn down (which
/// resets its qdiscs, as the kernel's qdisc_reset does).
func replay(_ flows: [Flow], rate: String, _ config: [String], timeseries: Bool = false,
            beforeFinish: (Replay) throws -> Void = { _ in }) throws -> (Replay, [PcapFile.Record], ReplayReport) {
    let dir = NSTemporaryDirectory() + "sluice-sched-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try PcapFile.write(dir + "/in.pcap", makeTrace(flows))
    let r = try Replay(input: dir + "/in.pcap", output: dir + "/out.pcap", rate: TcUnits.rate(rate)!, configLines: config)
    let report = r.run(timeseries: timeseries)
    try beforeFinish(r)
    r.finish()
    return (r, try PcapFile.read(dir + "/out.pcap"), report)
}

func dport(_ r: PcapFile.Record) -> UInt16 { UInt16(r.data[36]) << 8 | UInt16(r.data[37]) }
func seqOf(_ r: PcapFile.Record) -> UInt32 { UInt32(r.data[42]) << 24 | UInt32(r.data[43]) << 16 | UInt32(r.data[44]) << 8 | UInt32(r.data[45]) }

/// Bits per second of the records matching `pred` between `from` and `to` (ns from t0).
func throughput(_ out: [PcapFile.Record], from: UInt64, to: UInt64, _ pred: (PcapFile.Record) -> Bool = { _ in true }) -> Double {
    let bytes = out.filter { $0.timestamp >= t0 + from && $0.timestamp < t0 + to && pred($0) }.reduce(0) { $0 + $1.data.count }
    return Double(bytes) * 8 / (Double(to - from) / 1e9)
}
