import CSluiceLinux
#if canImport(Glibc)
import Glibc
#endif

/// Principles
/// ----------
/// A TAP device opened with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR: each read() gives one frame behind
/// a 12-byte virtio_net_hdr, each write() takes one. The read lands the header in the buffer's
/// headroom and the frame at its data offset, so nothing is copied. TUNSETOFFLOAD tells the
/// kernel which offloads Sluice accepts (what the kernel may hand it: checksum-partial frames,
/// TSO/USO super-frames); the datapath sets them from the features every port the frame can
/// reach supports. Closing the fd deletes a TAP Sluice created (it is not persistent).
/// tun has no batched read or write of its own: a read or a write is one frame (64 KiB
/// super-frames make that one per ~44 MTU-sized segments). Transmit (`tx uring`, the default) hands a
/// whole batch to the kernel in one io_uring_enter: tun takes IOCB_NOWAIT, so each writev
/// completes inline during that call, in order, and the batch costs one system call instead of
/// one per frame. Receive (`rx uring`, the default) reads bursts of frames the same way, each
/// read non-blocking (RWF_NOWAIT), so a drained TAP answers -EAGAIN at once. Where io_uring
/// cannot be had (an old kernel, `kernel.io_uring_disabled`), the port says so once and reads
/// and writes one frame per system call, as `rx read tx write` do.
///
/// Multi-queue (`queues N`, IFF_MULTI_QUEUE): one fd per queue, as QEMU's `queues=` opens
/// them. The datapath waits on an epoll set of all of them; a poll reads the queues in turn,
/// starting one further each time. tun sends a host's frame to the queue its flow was last
/// written on (tun_flow_update learns it from Sluice's writes, tun_automq_select_queue uses
/// it), so each frame is written to the queue its flow hashes to: a flow's two directions
/// stay on one queue, and flows spread over the queues.
final class TapDriver: NetDriver {
    /// How frames are written to the TAP.
    enum TxMode: String, Sendable { case uring, write }
    /// How frames are read from it.
    enum RxMode: String, Sendable { case uring, read }
    let ifname: String
    private(set) var fd: Int32
    let vnet: Bool
    let vnetSize = VirtioNetHeader.mergeableSize
    let usoAccepted: Bool
    var failure: String?
    var currentOffloads: UInt = 0
    /// Header scratch for writes (one frame at a time).
    let txHeader: UnsafeMutableRawPointer
    let txMode: TxMode
    let rxMode: RxMode
    /// Receive through the ring: buffers and their pool indexes per burst, the burst's size,
    /// and reads submitted against frames found (`link show -d`).
    private let rxBufs: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private let rxIdx: UnsafeMutablePointer<UInt32>
    private var rxBurst = 16
    static let maxRxBurst = 64, minRxBurst = 4
    private(set) var rxReads: UInt64 = 0
    private(set) var rxFrames: UInt64 = 0
    /// The port's ring, made on first use, or the reason there is none.
    private var uring: OpaquePointer?
    private(set) var uringFailure: String?
    private var uringTried = false
    /// Per batch: a header and two iovecs per frame; what each read or write returned.
    private let txHeaders: UnsafeMutableRawPointer
    private let txIov: UnsafeMutablePointer<iovec>
    private let results: UnsafeMutablePointer<Int32>
    /// Batches and frames written through the ring (`link show -d`).
    private(set) var uringBatches: UInt64 = 0
    private(set) var uringFrames: UInt64 = 0

    /// The kernel TAP's own txqueuelen when Sluice was asked to set it (`host_txqueuelen`):
    /// the length of tun's ring of frames the host has sent and Sluice has not read yet. tun
    /// orphans what it queues, so TCP Small Queues does not bound a bulk sender there; a short
    /// ring keeps that FIFO from standing in front of everything else on the way into Sluice.
    /// Left at the kernel's 1000 unless asked: side-by-side runs here did not show a difference
    /// beyond this VM's noise (see the issue notes).
    let hostTxQueueLen: Int?

    /// The queues' fds (`fd` first) and, with more than one, the epoll set the datapath waits
    /// on; frames read per queue; the queue the next poll starts at; each frame's queue while a
    /// batch is written.
    private let queueFDs: UnsafeMutablePointer<Int32>
    private let queueCount: Int
    private var queueSet: Int32 = -1
    private let queueRx: UnsafeMutablePointer<UInt64>
    private let queueTx: UnsafeMutablePointer<UInt64>
    private var nextQueue = 0
    private let txQueueOf: UnsafeMutablePointer<UInt8>
    static let maxQueues = 16

    /// Creates (or attaches to) the kernel TAP interface `name`, with `queues` queues.
    init(name: String, vnet: Bool, hostTxQueueLen: Int? = nil, txMode: TxMode = .uring, rxMode: RxMode = .uring, queues: Int = 1) throws(SluiceError) {
        ifname = name
        self.vnet = vnet
        self.txMode = txMode
        self.rxMode = rxMode
        guard (1...Self.maxQueues).contains(queues) else { throw SluiceError("tap \(name): queues must be in 1...\(Self.maxQueues), not \(queues)") }
        var flags = LinuxABI.IFF_TAP | LinuxABI.IFF_NO_PI
        if vnet { flags |= LinuxABI.IFF_VNET_HDR }
        if queues > 1 { flags |= LinuxABI.IFF_MULTI_QUEUE }
        var fds: [Int32] = []
        func undo() { for q in fds { Glibc.close(q) } }
        for _ in 0..<queues {
            let q = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
            guard q >= 0 else { let e = errnoString(); undo(); throw SluiceError("tap \(name): cannot open /dev/net/tun: \(e)") }
            guard csl_tun_set_iff(q, name, flags) == 0 else {
                let e = errnoString()
                Glibc.close(q); undo()
                throw SluiceError("tap \(name): TUNSETIFF failed\(queues > 1 ? " (queue \(fds.count) of \(queues))" : ""): \(e)")
            }
            _ = fcntl(q, F_SETFL, fcntl(q, F_GETFL) | O_NONBLOCK)
            fds.append(q)
        }
        if queues > 1 {
            let set = csl_epoll_create()
            guard set >= 0 else { let e = errnoString(); undo(); throw SluiceError("tap \(name): epoll_create1: \(e)") }
            for (i, q) in fds.enumerated() where csl_epoll_add(set, q, UInt64(i)) != 0 {
                let e = errnoString(); Glibc.close(set); undo()
                throw SluiceError("tap \(name): epoll_ctl: \(e)")
            }
            queueSet = set
        }
        let f = fds[0]
        var uso = false
        if vnet {
            _ = csl_ioctl_int(f, csl_TUNSETVNETHDRSZ(), Int32(vnetSize))
            // Probe whether this kernel takes USO, then start with no offloads until a bridge decides.
            let base = LinuxABI.TUN_F_CSUM | LinuxABI.TUN_F_TSO4 | LinuxABI.TUN_F_TSO6 | LinuxABI.TUN_F_TSO_ECN
            uso = csl_ioctl_ulong(f, csl_TUNSETOFFLOAD(), base | LinuxABI.TUN_F_USO4 | LinuxABI.TUN_F_USO6) == 0
            _ = csl_ioctl_ulong(f, csl_TUNSETOFFLOAD(), 0)
        }
        fd = f
        usoAccepted = uso
        if let qlen = hostTxQueueLen {
            let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            let ok = s >= 0 && csl_set_txqlen(s, name, Int32(qlen)) == 0
            let e = errnoString()
            if s >= 0 { Glibc.close(s) }
            guard ok else {
                undo(); if queueSet >= 0 { Glibc.close(queueSet) }
                throw SluiceError("tap \(name): setting the kernel TAP's txqueuelen \(qlen): \(e)")
            }
        }
        self.hostTxQueueLen = hostTxQueueLen
        // Buffers last: a refused TAP (any throw above) leaves nothing allocated behind.
        txHeader = .allocate(byteCount: 16, alignment: 8)
        rxBufs = .allocate(capacity: Self.maxRxBurst)
        rxIdx = .allocate(capacity: Self.maxRxBurst)
        (txHeaders, txIov, results) = Self.txScratch()
        (queueFDs, queueRx, queueTx, txQueueOf) = Self.queueScratch()
        queueCount = queues
        queueFDs.update(from: fds, count: queues)
    }

    /// Attaches to an already open fd that speaks the TAP framing (tests use a socketpair).
    init(fd: Int32, name: String, vnet: Bool, txMode: TxMode = .write, rxMode: RxMode = .read) {
        ifname = name
        self.fd = fd
        self.vnet = vnet
        self.txMode = txMode
        self.rxMode = rxMode
        txHeader = .allocate(byteCount: 16, alignment: 8)
        rxBufs = .allocate(capacity: Self.maxRxBurst)
        rxIdx = .allocate(capacity: Self.maxRxBurst)
        (txHeaders, txIov, results) = Self.txScratch()
        (queueFDs, queueRx, queueTx, txQueueOf) = Self.queueScratch()
        queueFDs[0] = fd
        queueCount = 1
        usoAccepted = false
        hostTxQueueLen = nil
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    static let headerStride = 16
    static func txScratch() -> (UnsafeMutableRawPointer, UnsafeMutablePointer<iovec>, UnsafeMutablePointer<Int32>) {
        (.allocate(byteCount: headerStride * PacketBatch.capacity, alignment: 8),
         .allocate(capacity: 2 * PacketBatch.capacity), .allocate(capacity: PacketBatch.capacity))
    }

    static func queueScratch() -> (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt8>) {
        let fds = UnsafeMutablePointer<Int32>.allocate(capacity: maxQueues)
        let rx = UnsafeMutablePointer<UInt64>.allocate(capacity: maxQueues), tx = UnsafeMutablePointer<UInt64>.allocate(capacity: maxQueues)
        fds.initialize(repeating: -1, count: maxQueues); rx.initialize(repeating: 0, count: maxQueues); tx.initialize(repeating: 0, count: maxQueues)
        return (fds, rx, tx, .allocate(capacity: PacketBatch.capacity))
    }

    deinit {
        txHeader.deallocate(); txHeaders.deallocate(); txIov.deallocate(); results.deallocate(); rxBufs.deallocate(); rxIdx.deallocate()
        queueFDs.deallocate(); queueRx.deallocate(); queueTx.deallocate(); txQueueOf.deallocate()
        if let u = uring { csl_uring_close(u) }
    }

    override var groByDefault: Bool { true }
    override var supportedFeatures: DeviceFeatures {
        guard vnet else { return [.sg] }
        return usoAccepted ? DeviceFeatures.virtio.union(.gsoUDPL4) : .virtio
    }
    override var pollFD: Int32 { queueSet >= 0 ? queueSet : fd }
    override func failureReason() -> String? { failure }

    override func applyOffloads(_ f: DeviceFeatures, _ dev: NetDevice) {
        guard vnet, fd >= 0 else { return }
        var flags: UInt = 0
        if f.contains(.hwCsum) {
            flags |= LinuxABI.TUN_F_CSUM
            if f.contains(.tso) { flags |= LinuxABI.TUN_F_TSO4 }
            if f.contains(.tso6) { flags |= LinuxABI.TUN_F_TSO6 }
            if f.contains(.tsoECN) && flags & (LinuxABI.TUN_F_TSO4 | LinuxABI.TUN_F_TSO6) != 0 { flags |= LinuxABI.TUN_F_TSO_ECN }
            if f.contains(.gsoUDPL4) && usoAccepted { flags |= LinuxABI.TUN_F_USO4 | LinuxABI.TUN_F_USO6 }
        }
        if csl_ioctl_ulong(fd, csl_TUNSETOFFLOAD(), flags) == 0 { currentOffloads = flags }
    }

    var offloadNames: String {
        var n: [String] = []
        if currentOffloads & LinuxABI.TUN_F_CSUM != 0 { n.append("csum") }
        if currentOffloads & LinuxABI.TUN_F_TSO4 != 0 { n.append("tso4") }
        if currentOffloads & LinuxABI.TUN_F_TSO6 != 0 { n.append("tso6") }
        if currentOffloads & LinuxABI.TUN_F_TSO_ECN != 0 { n.append("tso_ecn") }
        if currentOffloads & LinuxABI.TUN_F_USO4 != 0 { n.append("uso") }
        return n.isEmpty ? "none" : n.joined(separator: ",")
    }

    override var details: String {
        "tap \(ifname) vnet_hdr \(vnet ? "\(vnetSize)" : "off") offload \(offloadNames)" + (hostTxQueueLen.map { " host_txqueuelen \($0)" } ?? "")
            + " rx \(rxMode.rawValue) tx \(txMode.rawValue)" + (uringFailure.map { " (io_uring unavailable: \($0); one read or writev per frame)" } ?? "")
            + (rxReads > 0 ? " uring_reads \(rxReads) uring_rx_frames \(rxFrames)" : "")
            + (uringBatches > 0 ? " uring_batches \(uringBatches) uring_frames \(uringFrames)" : "")
            + (queueCount > 1 ? " queues \(queueCount) queue_rx_frames \((0..<queueCount).map { String(queueRx[$0]) }.joined(separator: ","))"
                + " queue_tx_frames \((0..<queueCount).map { String(queueTx[$0]) }.joined(separator: ","))" : "")
    }

    override func poll(_ dp: Datapath, _ dev: NetDevice, into batch: inout PacketBatch, budget: Int) -> Int {
        guard fd >= 0, failure == nil else { return 0 }
        let nq = queueCount
        if nq == 1 { return pollQueue(fd, dp, dev, into: &batch, budget: budget) }
        var got = 0
        let first = nextQueue
        nextQueue = first + 1 == nq ? 0 : first + 1
        for k in 0..<nq where got < budget && failure == nil {
            let q = (first + k) % nq
            let n = pollQueue(queueFDs[q], dp, dev, into: &batch, budget: budget - got)
            queueRx[q] &+= UInt64(n)
            got += n
        }
        return got
    }

    /// One queue's frames, up to `budget`.
    private func pollQueue(_ fd: Int32, _ dp: Datapath, _ dev: NetDevice, into batch: inout PacketBatch, budget: Int) -> Int {
        if rxMode == .uring, rxBurst > Self.minRxBurst, let u = ring(dp) { return pollBatched(fd, dp, dev, into: &batch, budget: budget, u) }
        let pool = dp.pool
        let hdr = vnet ? vnetSize : 0
        var got = 0
        var bad = RxErrors()
        while got < budget {
            guard let p = pool.alloc() else {
                dev.stats.rxMissedErrors &+= 1
                dev.drop(.noBuffer)
                break
            }
            let n = read(fd, pool.data(p) - hdr, hdr + PacketPool.dataRoom)
            if n <= 0 {
                let e = errno
                pool.free(p)
                if n < 0 && csl_errno_is_wouldblock(e) != 0 { break }
                if n < 0 && e == EINTR { continue }
                failure = n == 0 ? "tap \(ifname): end of file" : "tap \(ifname): read failed: \(String(cString: strerror(e)))"
                break
            }
            if accept(p, n, pool, &batch, &bad) { got += 1 }
        }
        bad.count(dev)
        // A quiet port reads frame by frame (one read costs less than a ring's enter); one
        // that found a burst goes back to the ring.
        if rxMode == .uring && got >= 2 * Self.minRxBurst { rxBurst = 4 * Self.minRxBurst }
        return got
    }

    /// Frames refused on receive, counted once per poll.
    struct RxErrors {
        var badHeader: UInt64 = 0, runts: UInt64 = 0
        func count(_ dev: NetDevice) { dev.countRxErrors(badHeader: badHeader, length: runts, lengthReason: .pktTooSmall) }
    }

    /// A frame of `n` bytes (virtio header included) read into `p`'s headroom and data: checked
    /// and appended to the batch, or counted and freed. Returns whether it was appended.
    @inline(__always)
    private func accept(_ p: consuming Packet, _ n: Int, _ pool: PacketPool, _ batch: inout PacketBatch, _ bad: inout RxErrors) -> Bool {
        let hdr = vnet ? vnetSize : 0
        let len = n - hdr
        guard len >= EthernetHeader.length else {
            bad.runts += 1
            pool.free(p)
            return false
        }
        let m = pool.meta(p)
        m.pointee.length = UInt32(len)
        if vnet {
            let start = pool.data(p) - hdr
            do {
                try VirtioNetHeader.decode(UnsafeRawPointer(start), frame: UnsafeRawPointer(start + hdr), length: len, into: &m.pointee)
            } catch {
                bad.badHeader += 1
                pool.free(p)
                return false
            }
        }
        batch.append(p)
        return true
    }

    /// Reads of up to `rxBurst` frames in one io_uring_enter each, non-blocking, until the TAP
    /// is drained or the budget spent. The burst follows what the last one found: it doubles
    /// (to 64) while every read finds a frame, and shrinks to twice what a partly empty one
    /// found; at its floor (a burst found one or two frames) the port reads frame by frame
    /// until a poll finds 8 or more again, so a quiet port — a ping — pays one read, not an
    /// enter of four.
    private func pollBatched(_ fd: Int32, _ dp: Datapath, _ dev: NetDevice, into batch: inout PacketBatch, budget: Int, _ u: OpaquePointer) -> Int {
        let pool = dp.pool
        let hdr = vnet ? vnetSize : 0
        var got = 0
        var bad = RxErrors()
        while got < budget {
            let want = min(rxBurst, budget - got)
            var k = 0
            while k < want {
                guard let p = pool.alloc() else { break }
                rxBufs[k] = pool.data(p) - hdr
                rxIdx[k] = p.index
                _ = consume p
                k += 1
            }
            if k == 0 {
                dev.stats.rxMissedErrors &+= 1
                dev.drop(.noBuffer)
                break
            }
            let done = Int(csl_uring_read_batch(u, fd, rxBufs, UInt32(hdr + PacketPool.dataRoom), Int32(k), results))
            var frames = 0
            for i in 0..<k {
                let p = Packet(index: rxIdx[i])
                let r = i < done ? Int(results[i]) : -Int(EAGAIN)
                if r > 0 {
                    frames += 1
                    if accept(p, r, pool, &batch, &bad) { got += 1 }
                    continue
                }
                pool.free(p)
                if r == -Int(EAGAIN) || r == -Int(EINTR) { continue }
                if failure == nil {
                    failure = r == 0 ? "tap \(ifname): end of file" : "tap \(ifname): read failed: \(String(cString: strerror(Int32(-r))))"
                }
            }
            rxReads &+= UInt64(k)
            rxFrames &+= UInt64(frames)
            if failure != nil { break }
            if frames == k { rxBurst = min(rxBurst * 2, Self.maxRxBurst) } else { rxBurst = max(Self.minRxBurst, min(2 * frames, Self.maxRxBurst)) }
            if frames < k { break }                       // drained (or interrupted): done for this poll
        }
        bad.count(dev)
        return got
    }

    /// The ring, made on first use; nil when `tx write` or when io_uring is unavailable.
    private func ring(_ dp: Datapath) -> OpaquePointer? {
        if let u = uring { return u }
        guard txMode == .uring || rxMode == .uring, !uringTried else { return nil }
        uringTried = true
        var e: Int32 = 0
        guard let u = csl_uring_open(UInt32(PacketBatch.capacity), &e) else {
            uringFailure = e == ENOSYS ? "not in this kernel" : errnoString(e)
            dp.log("tap \(ifname): io_uring: \(uringFailure!); one read or writev per frame instead")
            return nil
        }
        uring = u
        return u
    }

    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        if batch.count > 1, txMode == .uring, fd >= 0, failure == nil, let u = ring(dp) {
            transmitBatched(dp, dev, &batch, u)
            return
        }
        let pool = dp.pool
        var packets: UInt64 = 0, bytes: UInt64 = 0, errors: UInt64 = 0, busy: UInt64 = 0
        let hdrLen = vnet ? vnetSize : 0
        let failed = failure != nil || fd < 0
        let txHeader = self.txHeader
        let nq = queueCount
        var done = 0
        let n = batch.count
        while done < n {
            let idx = batch.index(at: done)
            if failed { errors += 1; done += 1; continue }
            let q = nq == 1 ? 0 : queue(of: idx, pool, nq)
            let fd = queueFDs[q]
            queueTx[q] &+= 1
            let len = Int(pool.metas[Int(idx)].length)
            let data = batch.withPacket(at: done) { pool.data($0) }
            var iov = (iovec(iov_base: txHeader, iov_len: hdrLen), iovec(iov_base: data, iov_len: len))
            if vnet { VirtioNetHeader.encode(pool.metas[Int(idx)], into: txHeader, size: hdrLen) }
            let w = withUnsafeMutableBytes(of: &iov) { raw -> Int in
                let v = raw.baseAddress!.assumingMemoryBound(to: iovec.self)
                return vnet ? writev(fd, v, 2) : write(fd, data, len)
            }
            if w == hdrLen + len {
                packets += 1; bytes += UInt64(len)
            } else if w < 0 && csl_errno_is_wouldblock(errno) != 0 {
                busy += 1
                break                       // the rest stays in the batch for a requeue
            } else {
                errors += 1
            }
            done += 1
        }
        dev.stats.txPackets &+= packets
        dev.stats.txBytes &+= bytes
        if errors > 0 {
            dev.stats.txErrors &+= errors
            dev.drop(.txError, errors)
        }
        if busy > 0 { batch.freeFirst(done, pool) } else { batch.freeAll(pool) }
    }

    /// The whole batch in one io_uring_enter: a header and the frame per writev, results by
    /// position. Every frame is written or counted as an error; nothing is left for a requeue
    /// (tun's write does not wait for room: the kernel's receive backlog drops instead).
    /// With several queues, the frames of each queue in turn, one enter (or more) per queue;
    /// the iovecs and results are then in queue order, each frame's with its own.
    private func transmitBatched(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch, _ u: OpaquePointer) {
        let pool = dp.pool
        let hdrLen = vnet ? vnetSize : 0
        let n = batch.count
        let nq = queueCount
        var packets: UInt64 = 0, bytes: UInt64 = 0, errors: UInt64 = 0
        if nq > 1 { for i in 0..<n { txQueueOf[i] = UInt8(queue(of: batch.index(at: i), pool, nq)) } }
        var slot = 0
        for q in 0..<nq {
            let start = slot
            for i in 0..<n where nq == 1 || Int(txQueueOf[i]) == q {
                let idx = Int(batch.index(at: i))
                let len = Int(pool.metas[idx].length)
                let h = txHeaders + slot * Self.headerStride
                if vnet { VirtioNetHeader.encode(pool.metas[idx], into: h, size: hdrLen) }
                txIov[2 * slot] = iovec(iov_base: h, iov_len: hdrLen)
                txIov[2 * slot + 1] = iovec(iov_base: batch.withPacket(at: i) { pool.data($0) }, iov_len: len)
                slot += 1
            }
            var done = start
            while done < slot {
                let k = Int(csl_uring_writev_batch(u, queueFDs[q], txIov + 2 * done, 2, Int32(slot - done), results + done))
                guard k > 0 else { break }
                uringBatches &+= 1
                done += k
            }
            for j in done..<slot { results[j] = -1 }
            uringFrames &+= UInt64(done - start)
            queueTx[q] &+= UInt64(slot - start)
        }
        for i in 0..<n {
            let len = Int(txIov[2 * i + 1].iov_len)
            if Int(results[i]) == hdrLen + len { packets += 1; bytes += UInt64(len) } else { errors += 1 }
        }
        dev.stats.txPackets &+= packets
        dev.stats.txBytes &+= bytes
        if errors > 0 {
            dev.stats.txErrors &+= errors
            dev.drop(.txError, errors)
        }
        batch.freeAll(pool)
    }

    /// The queue a frame is written to: its flow's hash (the 5-tuple, or the addresses, or
    /// the MACs), the same for every frame of the flow.
    @inline(__always)
    private func queue(of idx: UInt32, _ pool: PacketPool, _ nq: Int) -> Int {
        Int(FlowHash.hash(pool, idx, seed: 0) % UInt32(nq))
    }

    override func close() {
        for q in 0..<queueCount where queueFDs[q] >= 0 { Glibc.close(queueFDs[q]); queueFDs[q] = -1 }
        fd = -1
        if queueSet >= 0 { Glibc.close(queueSet); queueSet = -1 }
        if let u = uring { csl_uring_close(u); uring = nil }
    }
}

func errnoString(_ e: Int32 = errno) -> String { String(cString: strerror(e)) }

extension Datapath {
    /// `link add NAME type tap [vnet_hdr on|off] [host_txqueuelen N] [rx uring|read] [tx uring|write] [queues N]`:
    /// creates or attaches to the kernel TAP `NAME`.
    @discardableResult
    public func addTap(name: String, vnet: Bool = true, mac: MACAddress? = nil, mtu: Int = 1500,
                       hostTxQueueLen: Int? = nil, txUring: Bool = true, rxUring: Bool = true, queues: Int = 1) throws(SluiceError) -> NetDevice {
        guard byName[name] == nil else { throw SluiceError("device \(name) already exists") }
        let drv = try TapDriver(name: name, vnet: vnet, hostTxQueueLen: hostTxQueueLen, txMode: txUring ? .uring : .write,
                                rxMode: rxUring ? .uring : .read, queues: queues)
        let dev = NetDevice(name: name, kind: "tap", mac: mac ?? .local(seed: stableHash(name)), mtu: mtu, driver: drv)
        do { try register(dev) } catch { drv.close(); throw error }
        drv.applyOffloads(dev.activeFeatures, dev)
        return dev
    }

    /// A TAP port over an existing fd carrying TAP framing (a socketpair in tests).
    @discardableResult
    public func addTap(name: String, fd: Int32, vnet: Bool = true, uring: Bool = false) throws(SluiceError) -> NetDevice {
        let drv = TapDriver(fd: fd, name: name, vnet: vnet, txMode: uring ? .uring : .write, rxMode: uring ? .uring : .read)
        let dev = NetDevice(name: name, kind: "tap", mac: .local(seed: stableHash(name)), driver: drv)
        try register(dev)
        return dev
    }
}

/// FNV-1a of a string: a stable seed (Swift's hashValue changes per process).
func stableHash(_ s: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}
