#if canImport(Glibc)
import Glibc
#endif

/// Principles
/// ----------
/// A device whose wire is a pair of files in the classic pcap format (the one tcpdump and
/// tshark read): `in FILE` is a receive source, `out FILE` a transmit sink. Either may be absent.
/// The source has no fd to wait on: it stays on the poll list while it has records, delivering
/// up to its NAPI weight per poll. With a virtual clock, each record's timestamp advances the
/// clock before it is received, so an offline run is a deterministic function of its input;
/// written records carry the datapath clock's time (wall time when live).
/// Bad input (a record longer than a buffer, a truncated file) is counted and ends the source.
final class PcapDriver: NetDriver {
    static let linktypeEthernet: UInt32 = 1
    let inPath: String?
    let outPath: String?
    private var inFD: Int32 = -1
    private var outFD: Int32 = -1
    private var swapped = false
    private var nanos = false
    private var eof = true
    private var failure: String?
    /// Read and write buffers.
    private let rbuf: UnsafeMutableRawPointer
    private var rlen = 0, rpos = 0
    private let wbuf: UnsafeMutableRawPointer
    private var wlen = 0
    static let bufSize = 1 << 18
    let snaplen = UInt32(PacketPool.dataRoom)
    var ended: String?

    init(input: String?, output: String?) throws(SluiceError) {
        inPath = input
        outPath = output
        rbuf = .allocate(byteCount: Self.bufSize, alignment: 16)
        wbuf = .allocate(byteCount: Self.bufSize, alignment: 16)
        super.init()
        if let input {
            inFD = Glibc.open(input, O_RDONLY | O_CLOEXEC)
            guard inFD >= 0 else { throw SluiceError("pcap: cannot open \(input): \(errnoString())") }
            var gh = [UInt8](repeating: 0, count: 24)
            guard readExact(&gh, 24) else { throw SluiceError("pcap: \(input): not a pcap file (short header)") }
            let magic = gh.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            switch magic {
            case 0xa1b2_c3d4: break
            case 0xd4c3_b2a1: swapped = true
            case 0xa1b2_3c4d: nanos = true
            case 0x4d3c_b2a1: swapped = true; nanos = true
            default: throw SluiceError("pcap: \(input): bad magic 0x\(String(magic, radix: 16)) (pcapng is not supported)")
            }
            let linktype = fix(gh.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 20, as: UInt32.self) }) & 0x0FFF_FFFF
            guard linktype == Self.linktypeEthernet else { throw SluiceError("pcap: \(input): link type \(linktype) is not Ethernet") }
            eof = false
        }
        if let output {
            outFD = Glibc.open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard outFD >= 0 else { throw SluiceError("pcap: cannot create \(output): \(errnoString())") }
            // Classic pcap, nanosecond timestamps, Ethernet.
            var gh = [UInt8](repeating: 0, count: 24)
            gh.withUnsafeMutableBytes { b in
                b.storeBytes(of: UInt32(0xa1b2_3c4d), toByteOffset: 0, as: UInt32.self)
                b.storeBytes(of: UInt16(2), toByteOffset: 4, as: UInt16.self)
                b.storeBytes(of: UInt16(4), toByteOffset: 6, as: UInt16.self)
                b.storeBytes(of: snaplen, toByteOffset: 16, as: UInt32.self)
                b.storeBytes(of: Self.linktypeEthernet, toByteOffset: 20, as: UInt32.self)
            }
            gh.withUnsafeBytes { append($0.baseAddress!, 24) }
        }
    }

    deinit { rbuf.deallocate(); wbuf.deallocate() }

    @inline(__always) private func fix(_ v: UInt32) -> UInt32 { swapped ? v.byteSwapped : v }

    override var hasPendingRx: Bool { !eof && failure == nil }
    override func failureReason() -> String? { nil }
    override var details: String {
        "pcap in \(inPath ?? "-") out \(outPath ?? "-")" + (ended.map { " (input ended: \($0))" } ?? "")
    }
    /// The input is exhausted (or ended on an error).
    var inputDone: Bool { eof }

    /// Reads exactly `n` bytes into `dst` through the buffer; false at end of file.
    private func readExact(_ dst: UnsafeMutableRawPointer, _ n: Int) -> Bool {
        var need = n
        var out = dst
        while need > 0 {
            if rpos == rlen {
                let r = read(inFD, rbuf, Self.bufSize)
                if r <= 0 { return false }
                rlen = r; rpos = 0
            }
            let k = min(need, rlen - rpos)
            out.copyMemory(from: rbuf + rpos, byteCount: k)
            rpos += k; need -= k; out += k
        }
        return true
    }

    private func readExact(_ dst: inout [UInt8], _ n: Int) -> Bool {
        dst.withUnsafeMutableBytes { readExact($0.baseAddress!, n) }
    }

    override func poll(_ dp: Datapath, _ dev: NetDevice, into batch: inout PacketBatch, budget: Int) -> Int {
        guard !eof else { return 0 }
        let pool = dp.pool
        var got = 0
        var rec = (UInt32(0), UInt32(0), UInt32(0), UInt32(0))
        while got < budget {
            let ok = withUnsafeMutableBytes(of: &rec) { readExact($0.baseAddress!, 16) }
            guard ok else { finish(nil); break }
            let sec = UInt64(fix(rec.0)), frac = UInt64(fix(rec.1))
            let incl = Int(fix(rec.2)), orig = Int(fix(rec.3))
            let ts = sec &* Time.s &+ (nanos ? frac : frac &* Time.us)
            guard incl <= PacketPool.dataRoom else {
                dev.stats.rxErrors &+= 1; dev.stats.rxLengthErrors &+= 1; dev.drop(.pktTooBig)
                finish("record of \(incl) bytes is larger than a packet buffer")
                break
            }
            guard let p = pool.alloc() else {
                // Keep the record for the next poll is not possible with a stream; drop it, counted.
                dev.stats.rxMissedErrors &+= 1; dev.drop(.noBuffer)
                var skip = [UInt8](repeating: 0, count: incl)
                if !readExact(&skip, incl) { finish("truncated record") }
                break
            }
            guard readExact(pool.data(p), incl) else {
                pool.free(p)
                dev.stats.rxErrors &+= 1; dev.drop(.truncated)
                finish("truncated record")
                break
            }
            if dp.clock.mode == .virtual { dp.clock.advance(to: ts) }
            if incl < orig {
                // Captured with a snaplen: not the whole frame, cannot be forwarded.
                dev.stats.rxErrors &+= 1; dev.stats.rxLengthErrors &+= 1; dev.drop(.truncated)
                pool.free(p)
                continue
            }
            pool.meta(p).pointee.length = UInt32(incl)
            batch.append(p)
            got += 1
        }
        return got
    }

    private func finish(_ error: String?) {
        eof = true
        ended = error ?? "end of file"
        if inFD >= 0 { Glibc.close(inFD); inFD = -1 }
        if let error { failure = error }
    }

    private func append(_ src: UnsafeRawPointer, _ n: Int) {
        var src = src, n = n
        while n > 0 {
            if wlen == Self.bufSize { flush() }
            let k = min(n, Self.bufSize - wlen)
            (wbuf + wlen).copyMemory(from: src, byteCount: k)
            wlen += k; n -= k; src += k
        }
    }

    func flush() {
        var off = 0
        while off < wlen {
            let w = write(outFD, wbuf + off, wlen - off)
            if w <= 0 { break }
            off += w
        }
        wlen = 0
    }

    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        let pool = dp.pool
        guard outFD >= 0 else {
            dev.stats.txDropped &+= UInt64(batch.count); dev.drop(.noHandler, UInt64(batch.count))
            batch.freeAll(pool); return
        }
        let now = dp.clock.wallNow
        var packets: UInt64 = 0, bytes: UInt64 = 0
        batch.drain { p in
            let len = UInt32(pool.length(p))
            var rec = (UInt32(truncatingIfNeeded: now / Time.s), UInt32(truncatingIfNeeded: now % Time.s), len, len)
            withUnsafeBytes(of: &rec) { append($0.baseAddress!, 16) }
            append(pool.data(p), Int(len))
            packets += 1; bytes += UInt64(len)
            pool.free(p)
        }
        dev.stats.txPackets &+= packets
        dev.stats.txBytes &+= bytes
    }

    override func close() {
        if outFD >= 0 { flush(); Glibc.close(outFD); outFD = -1 }
        if inFD >= 0 { Glibc.close(inFD); inFD = -1 }
        eof = true
    }
}

extension Datapath {
    /// `link add NAME type pcap [in FILE] [out FILE]`
    @discardableResult
    public func addPcap(name: String, input: String?, output: String?) throws(SluiceError) -> NetDevice {
        guard byName[name] == nil else { throw SluiceError("device \(name) already exists") }
        guard input != nil || output != nil else { throw SluiceError("pcap \(name): give \"in FILE\", \"out FILE\" or both") }
        let drv = try PcapDriver(input: input, output: output)
        let dev = NetDevice(name: name, kind: "pcap", mac: .local(seed: stableHash(name)), mtu: 65535, driver: drv)
        do { try register(dev) } catch { drv.close(); throw error }
        return dev
    }

    /// True when every pcap source has reached its end and nothing waits to be polled.
    public var pcapInputsDone: Bool {
        for case let d? in devices { if let p = d.driver as? PcapDriver, p.hasPendingRx { return false } }
        return pollCount == 0
    }
}

/// Whole-file pcap reading and writing (tests, tools). Microsecond-magic files are written;
/// both magics are read.
public enum PcapFile {
    public struct Record: Equatable, Sendable {
        public var timestamp: UInt64   // ns since the epoch
        public var data: [UInt8]
        public var originalLength: Int
        public init(timestamp: UInt64, data: [UInt8], originalLength: Int? = nil) {
            self.timestamp = timestamp; self.data = data; self.originalLength = originalLength ?? data.count
        }
    }

    public static func write(_ path: String, _ records: [Record], nanosecond: Bool = false) throws(SluiceError) {
        var out: [UInt8] = []
        func le32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func le16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        le32(nanosecond ? 0xa1b2_3c4d : 0xa1b2_c3d4); le16(2); le16(4); le32(0); le32(0); le32(262144); le32(1)
        for r in records {
            le32(UInt32(r.timestamp / Time.s))
            le32(UInt32(nanosecond ? r.timestamp % Time.s : (r.timestamp % Time.s) / Time.us))
            le32(UInt32(r.data.count)); le32(UInt32(r.originalLength))
            out += r.data
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SluiceError("cannot create \(path): \(errnoString())") }
        defer { close(fd) }
        let n = out.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
        guard n == out.count else { throw SluiceError("short write to \(path)") }
    }

    public static func read(_ path: String) throws(SluiceError) -> [Record] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SluiceError("cannot open \(path): \(errnoString())") }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n <= 0 { break }
            bytes += buf[0..<n]
        }
        close(fd)
        guard bytes.count >= 24 else { throw SluiceError("\(path): not a pcap file") }
        func u32(_ o: Int, _ swap: Bool) -> UInt32 {
            let v = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) }
            return swap ? v.byteSwapped : v
        }
        let magic = u32(0, false)
        let swap = magic == 0xd4c3_b2a1 || magic == 0x4d3c_b2a1
        let nanos = magic == 0xa1b2_3c4d || magic == 0x4d3c_b2a1
        guard swap || magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d else { throw SluiceError("\(path): bad magic") }
        var recs: [Record] = []
        var o = 24
        while o + 16 <= bytes.count {
            let sec = UInt64(u32(o, swap)), frac = UInt64(u32(o + 4, swap))
            let incl = Int(u32(o + 8, swap)), orig = Int(u32(o + 12, swap))
            guard o + 16 + incl <= bytes.count else { throw SluiceError("\(path): truncated record") }
            recs.append(Record(timestamp: sec * Time.s + (nanos ? frac : frac * Time.us), data: Array(bytes[(o + 16)..<(o + 16 + incl)]), originalLength: orig))
            o += 16 + incl
        }
        return recs
    }
}
