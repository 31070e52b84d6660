import CSluiceLinux
#if canImport(Glibc)
import Glibc
#endif

/// Principles
/// ----------
/// An AF_XDP port: one XSK socket bound to one queue of a kernel interface, its rx, tx, fill
/// and completion rings driven in batches by the NAPI poll (C glue in CSluiceLinux/xsk.c,
/// through Debian's libxdp, which loads its default redirect program and removes it when the
/// socket goes).
/// - The UMEM is the port's own (4 KiB frames, half of them kept in the fill ring): the pool's
///   64 KiB buffers are larger than an XDP frame may be, so a frame is copied between UMEM and
///   pool once each way — the same cost as AF_PACKET, without its per-batch system calls: the
///   kernel is kicked only when it sets need_wakeup.
/// - Multi-buffer (Linux 6.6+): the port loads its own six-instruction redirect program with
///   BPF_F_XDP_HAS_FRAGS through a BPF link (the kernel detaches it when the daemon's fd
///   closes, even if the daemon dies) and binds with XDP_USE_SG, so a frame larger than a UMEM
///   frame — jumbo MTUs, up to 17 descriptors as xsk_build_skb allows — arrives and leaves as a
///   chain of descriptors flagged XDP_PKT_CONTD, copied to and from one pool buffer. Where that
///   cannot be had, libxdp's program and one frame per descriptor (`multibuffer off` and why
///   in the device's report). Either way the port offers no TSO or checksum offload (the
///   frames cross the kernel as they are): GSO and checksum completion happen in software
///   before transmit, and GRO (on by default, as on a NIC) rebuilds super-frames on receive.
/// - Byte queue limits on transmit (`DynamicQueueLimit`): bytes handed to the tx ring and not
///   yet on the completion ring are bounded by BQL's adaptive limit; the qdisc stops being
///   dequeued while the limit is reached, so a backlog waits in Sluice's qdisc (fq_codel by
///   default), not in the ring. The completion ring is read before every decision.
/// - Where the kernel, the interface or libxdp cannot do AF_XDP, `link add … type afxdp`
///   falls back to an AF_PACKET port with a message saying why.
public final class XDPDriver: NetDriver {
    public enum Mode: String, Sendable { case auto, copy, zerocopy }
    let kernelName: String
    let kernelIfindex: Int32
    let queue: UInt32
    private var xsk: OpaquePointer?
    private let fd: Int32
    let zerocopy: Bool
    let driverMode: Bool
    /// Frames as chains of descriptors (XDP_USE_SG); when not, why.
    let multiBuffer: Bool
    let multiBufferOff: String
    /// The largest frame the port can hand the kernel: one UMEM frame, or 17 with multi-buffer.
    let maxFrame: Int
    let umemFrame: Int
    var failure: String?
    static let frames: UInt32 = 4096
    private let bufs: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private let lens: UnsafeMutablePointer<UInt32>
    private let idx: UnsafeMutablePointer<UInt32>
    public private(set) var kicks: UInt64 = 0
    /// Byte queue limits for the tx ring, and the lengths of the descriptors in flight (in
    /// submission order: the completion ring returns them in that order).
    var bql = DynamicQueueLimit()
    private let inflightLens: UnsafeMutablePointer<UInt32>
    private var inflightHead = 0, inflightCount = 0
    /// Bytes dequeued for this port and not yet handed to the ring (netdev_tx_sent_queue is
    /// called as they go; until then they count against the limit here).
    private var admitted = 0

    /// Frames circulating for receive: the most that can wait in the rx ring (ethtool's rx ring
    /// size). A full ring drops at the kernel, where TCP sees it, instead of queueing.
    let rxRing: UInt32
    public static let defaultRxRing: UInt32 = 2048

    init(kernelInterface: String, queue: UInt32, mode: Mode, rxRing: UInt32 = XDPDriver.defaultRxRing, multiBuffer wantMultiBuffer: Bool = true) throws(SluiceError) {
        kernelName = kernelInterface
        self.queue = queue
        self.rxRing = rxRing
        var err = [CChar](repeating: 0, count: 256)
        let modeCode: Int32 = mode == .auto ? 0 : (mode == .copy ? 1 : 2)
        kernelIfindex = Int32(if_nametoindex(kernelInterface))
        guard kernelIfindex != 0 else { throw SluiceError("afxdp: no kernel interface \"\(kernelInterface)\"") }
        // The interface must be up before libxdp attaches its program and binds the socket.
        let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if s >= 0 { _ = csl_set_if_up(s, kernelInterface, 1); Glibc.close(s) }
        guard let x = csl_xsk_open(kernelInterface, queue, modeCode, wantMultiBuffer ? 1 : 0, Self.frames, rxRing, &err, Int32(err.count)) else {
            throw SluiceError(String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        xsk = x
        fd = csl_xsk_fd(x)
        zerocopy = csl_xsk_zerocopy(x) != 0
        driverMode = csl_xsk_driver_mode(x) != 0
        multiBuffer = csl_xsk_multibuffer(x) != 0
        multiBufferOff = String(cString: csl_xsk_multibuffer_reason(x))
        umemFrame = Int(csl_xsk_frame_size(x))
        maxFrame = umemFrame * (multiBuffer ? Int(CSL_XSK_MAX_DESCS) : 1)
        bufs = .allocate(capacity: PacketBatch.capacity)
        lens = .allocate(capacity: PacketBatch.capacity)
        idx = .allocate(capacity: PacketBatch.capacity)
        inflightLens = .allocate(capacity: Int(Self.frames))
        super.init()
    }

    deinit { bufs.deallocate(); lens.deallocate(); idx.deallocate(); inflightLens.deallocate() }

    /// The completion ring's news: frames back, bytes completed for BQL.
    private func reclaim(_ now: UInt64) {
        guard let xsk else { return }
        let n = min(Int(csl_xsk_reclaim(xsk)), inflightCount)
        guard n > 0 else { return }
        var bytes = 0
        for _ in 0..<n {
            bytes += Int(inflightLens[inflightHead])
            inflightHead = (inflightHead + 1) & (Int(Self.frames) - 1)
        }
        inflightCount -= n
        bql.completed(bytes, now: now)
    }

    override func txReady(_ now: UInt64) -> Bool {
        reclaim(now)
        return bql.avail - admitted >= 0
    }
    override func txAdmit(_ bytes: Int, _ now: UInt64) { admitted += bytes }
    /// Stopped by BQL: look at the completion ring again shortly.
    override func txReadyAt(_ now: UInt64) -> UInt64 { bql.avail - admitted >= 0 ? 0 : now &+ 20 * Time.us }

    override var groByDefault: Bool { true }
    override var supportedFeatures: DeviceFeatures { [] }
    override var pollFD: Int32 { xsk == nil ? -1 : fd }
    override func failureReason() -> String? { failure }
    override var kernelLinkIndex: Int32 { kernelIfindex }
    override func kernelLinkGone() {
        if failure == nil { failure = "afxdp \(kernelName): kernel interface gone (\(errnoString(ENODEV)))" }
    }
    override var details: String {
        "afxdp dev \(kernelName) queue \(queue) mode \(zerocopy ? "zerocopy" : "copy") (\(driverMode ? "native" : "generic") XDP) frames \(Self.frames) rx_ring \(rxRing) \(multiBuffer ? "multibuffer on" : "multibuffer off (\(multiBufferOff))") need_wakeup kicks \(kicks) bql limit \(bql.limit) inflight \(bql.inflight)" + socketStatistics
    }

    /// The socket's XDP_STATISTICS: what the kernel dropped before Sluice saw it (its rx ring
    /// full, the fill ring empty, or for another reason) and the descriptors it refused.
    var socketStatistics: String {
        var st = [UInt64](repeating: 0, count: 6)
        guard xsk != nil, csl_xdp_statistics(fd, &st) == 0 else { return "" }
        return " xsk rx_dropped \(st[0]) rx_ring_full \(st[3]) fill_ring_empty \(st[4]) rx_invalid \(st[1]) tx_invalid \(st[2]) tx_ring_empty \(st[5])"
    }

    override func poll(_ dp: Datapath, _ dev: NetDevice, into batch: inout PacketBatch, budget: Int) -> Int {
        guard let xsk, failure == nil else { return 0 }
        let pool = dp.pool
        // Buffers for what the rx ring holds (a frame takes at least one descriptor), not for
        // the whole budget: a poll that finds two frames takes two buffers from the pool.
        let ready = Int(csl_xsk_rx_ready(xsk))
        if ready == 0 { _ = csl_xsk_recv(xsk, bufs, 0, lens, 0); return 0 }    // the fill ring's wakeup
        var n = 0
        while n < min(budget, ready), let p = pool.alloc() {
            bufs[n] = pool.data(p)
            idx[n] = p.index
            _ = consume p
            n += 1
        }
        if n == 0 { dev.stats.rxMissedErrors &+= 1; dev.drop(.noBuffer); return 0 }
        let r = Int(csl_xsk_recv(xsk, bufs, UInt32(PacketPool.dataRoom), lens, Int32(n)))
        var got = 0
        var truncated: UInt64 = 0
        for i in 0..<n {
            let p = Packet(index: idx[i])
            guard i < r else { pool.free(p); continue }
            let len = Int(lens[i])
            // A descriptor longer than a pool buffer (a lying or multi-buffer one) is refused.
            if len > PacketPool.dataRoom { truncated += 1; pool.free(p); continue }
            pool.meta(p).pointee.length = UInt32(len)
            batch.append(p)
            got += 1
        }
        if truncated > 0 {
            dev.stats.rxErrors &+= truncated
            dev.stats.rxLengthErrors &+= truncated
            dev.drop(.truncated, truncated)
        }
        if r < 0 { failure = "afxdp \(kernelName): receive failed" }
        return got
    }

    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        let pool = dp.pool
        let n = batch.count
        guard let xsk, failure == nil else {
            dev.stats.txErrors &+= UInt64(n); dev.drop(.txError, UInt64(n)); batch.freeAll(pool); return
        }
        var bytes: UInt64 = 0
        let now = dp.clock.now
        admitted = 0
        reclaim(now)
        // BQL: frames go while the queue is not stopped (the last one may overshoot it, as
        // netdev_tx_sent_queue stops the queue after the frame that crossed the limit).
        var avail = bql.avail
        var allowed = 0
        for i in 0..<n {
            let ix = Int(batch.index(at: i))
            bufs[i] = batch.withPacket(at: i) { pool.data($0) }
            lens[i] = pool.metas[ix].length
            if avail >= 0 { allowed += 1; avail -= Int(lens[i]) }
        }
        var kicked: Int32 = 0
        var sent = allowed == 0 ? 0 : Int(csl_xsk_send(xsk, bufs, lens, Int32(allowed), &kicked))
        if kicked > 0 { kicks &+= UInt64(kicked) }
        if sent < 0 { sent = 0; failure = "afxdp \(kernelName): transmit failed" }
        // A kick that failed, or nothing taken: the interface may be gone (its namespace
        // deleted); then the port ends, as an AF_PACKET port does.
        if (kicked < 0 || sent < allowed) && if_nametoindex(kernelName) == 0 {
            failure = "afxdp \(kernelName): kernel interface gone (\(errnoString(kicked < 0 ? -kicked : ENODEV)))"
        }
        // A frame larger than the port can hand over cannot go at all: counted, dropped.
        var tooBig: UInt64 = 0
        if sent < allowed && Int(lens[sent]) > maxFrame {
            tooBig = 1
        }
        // The completion ring answers per descriptor: one length each, in submission order.
        for i in 0..<sent {
            bytes += UInt64(lens[i])
            var left = Int(lens[i])
            repeat {
                let chunk = min(left, umemFrame)
                inflightLens[(inflightHead + inflightCount) & (Int(Self.frames) - 1)] = UInt32(chunk)
                inflightCount += 1
                left -= chunk
            } while left > 0
            bql.queued(Int(lens[i]))
        }
        dev.stats.txPackets &+= UInt64(sent)
        dev.stats.txBytes &+= bytes
        if tooBig > 0 {
            dev.stats.txErrors &+= 1
            dev.drop(.pktTooBig)
            batch.freeFirst(sent + 1, pool)
        } else {
            batch.freeFirst(sent, pool)   // the rest (ring full) stays for a requeue
        }
    }

    override func close() {
        if let xsk { csl_xsk_close(xsk); self.xsk = nil }
    }
}

extension Datapath {
    /// `link add NAME type afxdp dev KERNEL_IFNAME [queue N] [mode auto|copy|zerocopy]`; where
    /// AF_XDP cannot be had, an AF_PACKET port on the same interface, and `log` says why.
    @discardableResult
    public func addXDP(name: String, kernelInterface: String, queue: UInt32 = 0, mode: XDPDriver.Mode = .auto,
                       rxRing: UInt32 = XDPDriver.defaultRxRing, multiBuffer: Bool = true) throws(SluiceError) -> NetDevice {
        guard byName[name] == nil else { throw SluiceError("device \(name) already exists") }
        let drv: XDPDriver
        do {
            drv = try XDPDriver(kernelInterface: kernelInterface, queue: queue, mode: mode, rxRing: rxRing, multiBuffer: multiBuffer)
        } catch {
            guard if_nametoindex(kernelInterface) != 0 else { throw error }
            log("afxdp \(name): \(error.message); falling back to AF_PACKET on \(kernelInterface)")
            return try addPacketSocket(name: name, kernelInterface: kernelInterface)
        }
        return try registerKernelPort(name: name, kind: "afxdp", kernelInterface: kernelInterface, driver: drv)
    }
}
