import CSluiceLinux
#if canImport(Glibc)
import Glibc
#endif

/// Principles
/// ----------
/// Attaches to an existing kernel interface (a veth end, a NIC) through AF_PACKET:
/// - receive from a TPACKET_V3 ring mapped into Sluice: the kernel fills blocks of frames and
///   hands a block over when it is full or after `retireMs`; Sluice copies each frame into a pool
///   buffer and gives the block back once every frame in it is taken. No syscall per frame.
/// - transmit with sendmmsg, up to 256 frames a syscall, with PACKET_QDISC_BYPASS (Sluice is the
///   qdisc layer) straight into the driver.
/// - PACKET_VNET_HDR on both directions, so checksum-partial and TSO frames from the kernel pass
///   through as they do through a TAP (without it a veth with tx checksum offload stalls TCP).
/// - promiscuity through PACKET_MR_PROMISC membership, which holds the kernel's own count.
/// - VLAN: the kernel strips the outer 802.1Q/802.1ad tag of every received frame into skb
///   metadata before AF_PACKET sees it (TP_STATUS_VLAN_VALID, tp_vlan_tci, tp_vlan_tpid);
///   Sluice keeps it as the packet's `vlanTCI`/`vlanProto`, as the kernel's skb does, and the
///   transmit path puts it back into the frame for devices without VLAN tx offload.
/// Cost: one copy per received frame (ring → pool); one syscall per transmitted batch.
public final class PacketSocketDriver: NetDriver {
    let kernelName: String
    let kernelIfindex: Int32
    private(set) var fd: Int32 = -1
    let vnet: Bool
    let blockSize: Int
    let blockCount: Int
    let retireMs: UInt32
    /// How frames are received: a TPACKET_V3 ring (frames handed over a block at a time: a
    /// block is retired when full or after `retireMs`, so an idle port adds up to that much
    /// latency) or recvmmsg straight into pool buffers (each frame readable at once, up to a
    /// poll's budget per system call).
    public enum RxMode: String, Sendable { case ring, mmsg }
    let rxMode: RxMode
    private let rxBufs: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private let rxInfo: UnsafeMutablePointer<csl_rx_info>
    private let rxIdx: UnsafeMutablePointer<UInt32>
    private var ring: UnsafeMutableRawPointer?
    private var ringBytes = 0
    // Receive cursor within the ring.
    private var block = 0
    private var left = 0
    private var frame: UnsafeMutableRawPointer?
    var failure: String?
    var promiscHeld = false
    // Transmit scratch, allocated once.
    private let iov: UnsafeMutablePointer<iovec>
    private let iovCount: UnsafeMutablePointer<Int32>
    private let headers: UnsafeMutableRawPointer
    private let sentLen: UnsafeMutablePointer<UInt32>

    init(kernelInterface: String, vnet: Bool, rxMode: RxMode = .mmsg, blockSize: Int = 1 << 18, blockCount: Int = 64, retireMs: UInt32 = 1) throws(SluiceError) {
        kernelName = kernelInterface
        self.vnet = vnet
        self.rxMode = rxMode
        rxBufs = .allocate(capacity: PacketBatch.capacity)
        rxInfo = .allocate(capacity: PacketBatch.capacity)
        rxIdx = .allocate(capacity: PacketBatch.capacity)
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.retireMs = retireMs
        let idx = if_nametoindex(kernelInterface)
        guard idx != 0 else { throw SluiceError("afpacket: no kernel interface \"\(kernelInterface)\"") }
        kernelIfindex = Int32(idx)
        iov = .allocate(capacity: 2 * PacketBatch.capacity)
        iovCount = .allocate(capacity: PacketBatch.capacity)
        headers = .allocate(byteCount: 16 * PacketBatch.capacity, alignment: 8)
        sentLen = .allocate(capacity: PacketBatch.capacity)
        super.init()
        do { try open() } catch { close(); throw error }
    }

    deinit {
        iov.deallocate(); iovCount.deallocate(); headers.deallocate(); sentLen.deallocate()
        rxBufs.deallocate(); rxInfo.deallocate(); rxIdx.deallocate()
    }

    private func open() throws(SluiceError) {
        let f = socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), Int32(LinuxABI.ETH_P_ALL.bigEndian))
        guard f >= 0 else { throw SluiceError("afpacket \(kernelName): socket: \(errnoString())") }
        fd = f
        func opt(_ name: Int32, _ v: Int32, _ what: String) throws(SluiceError) {
            guard csl_setsockopt_int(f, LinuxABI.SOL_PACKET, name, v) == 0 else {
                throw SluiceError("afpacket \(kernelName): \(what): \(errnoString())")
            }
        }
        if rxMode == .ring { try opt(LinuxABI.PACKET_VERSION, LinuxABI.TPACKET_V3, "PACKET_VERSION TPACKET_V3") }
        if vnet { try opt(LinuxABI.PACKET_VNET_HDR, 1, "PACKET_VNET_HDR") }
        try opt(LinuxABI.PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS")
        _ = csl_setsockopt_int(f, LinuxABI.SOL_PACKET, LinuxABI.PACKET_IGNORE_OUTGOING, 1)
        var sz: Int32 = 4 << 20
        _ = setsockopt(f, SOL_SOCKET, SO_SNDBUF, &sz, 4)
        if rxMode == .mmsg {
            // The VLAN tag the kernel stripped comes as PACKET_AUXDATA; a larger receive buffer
            // holds a burst of super-frames until the next poll.
            try opt(LinuxABI.PACKET_AUXDATA, 1, "PACKET_AUXDATA")
            var rb: Int32 = 8 << 20
            _ = setsockopt(f, SOL_SOCKET, SO_RCVBUF, &rb, 4)
            guard csl_packet_bind(f, kernelIfindex) == 0 else {
                throw SluiceError("afpacket \(kernelName): bind: \(errnoString())")
            }
            return
        }
        guard csl_tpacket_v3_ring(f, UInt32(blockSize), UInt32(blockCount), 2048, retireMs) == 0 else {
            throw SluiceError("afpacket \(kernelName): PACKET_RX_RING: \(errnoString())")
        }
        ringBytes = blockSize * blockCount
        let m = mmap(nil, ringBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, f, 0)
        let mm = (m == MAP_FAILED || m == nil) ? mmap(nil, ringBytes, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0) : m
        guard let mm, mm != MAP_FAILED else { throw SluiceError("afpacket \(kernelName): mmap ring: \(errnoString())") }
        ring = mm
        guard csl_packet_bind(f, kernelIfindex) == 0 else {
            throw SluiceError("afpacket \(kernelName): bind: \(errnoString())")
        }
    }

    override var groByDefault: Bool { true }
    override var supportedFeatures: DeviceFeatures { vnet ? .virtio : [.sg] }
    override var pollFD: Int32 { fd }
    override func failureReason() -> String? { failure }
    override var kernelLinkIndex: Int32 { kernelIfindex }
    override func kernelLinkGone() {
        if failure == nil { failure = "afpacket \(kernelName): kernel interface gone (\(errnoString(ENODEV)))" }
    }
    /// NETDEV_DOWN left ENETDOWN on the socket (packet_notifier); NETDEV_UP hooked it again.
    override func kernelLinkResumed() {
        var err: Int32 = 0
        var len = socklen_t(4)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
    }

    override var details: String {
        let rx = rxMode == .ring ? "rx ring tpacket_v3 \(blockCount)x\(blockSize / 1024)KiB retire \(retireMs)ms" : "rx mmsg"
        return "afpacket dev \(kernelName) (kernel ifindex \(kernelIfindex)) \(rx) vnet_hdr \(vnet ? "on" : "off") qdisc_bypass"
    }

    override func setPromiscuous(_ on: Bool, _ dev: NetDevice) throws(SluiceError) {
        guard fd >= 0, on != promiscHeld else { return }
        guard csl_packet_mreq(fd, kernelIfindex, LinuxABI.PACKET_MR_PROMISC, on ? 1 : 0) == 0 else {
            throw SluiceError("afpacket \(kernelName): PACKET_MR_PROMISC: \(errnoString())")
        }
        promiscHeld = on
    }

    override func setAdminUp(_ up: Bool, _ dev: NetDevice) throws(SluiceError) {
        // The kernel interface must be up to pass frames; Sluice brings it up, never down
        // (it does not own it).
        if up && fd >= 0 { _ = csl_set_if_up(fd, kernelName, 1) }
    }

    /// Checks the socket error after a quiet poll: the interface going away ends the port.
    private func checkSocketError() {
        var err: Int32 = 0
        var len = socklen_t(4)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0, err != 0 else { return }
        if if_nametoindex(kernelName) != UInt32(kernelIfindex) {
            failure = "afpacket \(kernelName): kernel interface gone (\(errnoString(err)))"
        }
    }

    override func poll(_ dp: Datapath, _ dev: NetDevice, into batch: inout PacketBatch, budget: Int) -> Int {
        if rxMode == .mmsg { return pollMmsg(dp, dev, into: &batch, budget: budget) }
        guard let ring, failure == nil else { return 0 }
        let pool = dp.pool
        var got = 0
        var badHdr: UInt64 = 0, truncated: UInt64 = 0
        let vnet = self.vnet
        while got < budget {
            if left == 0 {
                let b = ring + block * blockSize
                guard csl_block_status(b) & LinuxABI.TP_STATUS_USER != 0 else { break }
                left = Int(csl_block_num_pkts(b))
                frame = b + Int(csl_block_first_offset(b))
                if left == 0 { releaseBlock(ring); continue }
            }
            guard let f = frame else { break }
            guard let p = pool.alloc() else {
                dev.stats.rxMissedErrors &+= 1
                dev.drop(.noBuffer)
                break
            }
            let snap = Int(csl_frame_snaplen(f))
            let wire = Int(csl_frame_len(f))
            let mac = f + Int(csl_frame_mac(f))
            var keep = true
            if snap < wire || snap > PacketPool.dataRoom {
                truncated += 1
                keep = false
            } else if csl_frame_pkttype(f) == LinuxABI.PACKET_OUTGOING {
                keep = false
            } else {
                pool.setFrame(p, from: mac, count: snap)
                let status = csl_frame_status(f)
                if status & LinuxABI.TP_STATUS_VLAN_VALID != 0 {
                    let m = pool.meta(p)
                    m.pointee.vlanPresent = true
                    m.pointee.vlanTCI = csl_frame_vlan_tci(f)
                    m.pointee.vlanProto = status & LinuxABI.TP_STATUS_VLAN_TPID_VALID != 0 ? csl_frame_vlan_tpid(f) : EtherType.vlan
                }
                if vnet {
                    do {
                        try VirtioNetHeader.decode(UnsafeRawPointer(mac - VirtioNetHeader.size), frame: UnsafeRawPointer(mac),
                                                   length: snap, into: &pool.meta(p).pointee)
                    } catch {
                        badHdr += 1
                        keep = false
                    }
                }
            }
            if keep { batch.append(p); got += 1 } else { pool.free(p) }
            left -= 1
            if left == 0 {
                releaseBlock(ring)
            } else {
                frame = f + Int(csl_frame_next_offset(f))
            }
        }
        dev.countRxErrors(badHeader: badHdr, length: truncated, lengthReason: .truncated)
        if got == 0 { checkSocketError() }
        return got
    }

    /// recvmmsg into pool buffers: the virtio header lands in the buffer's headroom, the frame
    /// where a packet's data starts; what the call did not fill goes back to the pool.
    private func pollMmsg(_ dp: Datapath, _ dev: NetDevice, into batch: inout PacketBatch, budget: Int) -> Int {
        guard failure == nil, fd >= 0 else { return 0 }
        let pool = dp.pool
        let hdr = vnet ? VirtioNetHeader.size : 0
        var n = 0
        while n < budget, let p = pool.alloc() {
            rxBufs[n] = pool.data(p) - hdr
            rxIdx[n] = p.index
            _ = consume p
            n += 1
        }
        if n == 0 { dev.stats.rxMissedErrors &+= 1; dev.drop(.noBuffer); return 0 }
        let r = Int(csl_recv_batch(fd, rxBufs, UInt32(PacketPool.dataRoom + hdr), Int32(n), rxInfo))
        // recvmmsg reports (and clears) the socket's error itself: the interface going away.
        let e = errno
        if r < 0, csl_errno_is_wouldblock(e) == 0, if_nametoindex(kernelName) != UInt32(kernelIfindex) {
            failure = "afpacket \(kernelName): kernel interface gone (\(errnoString(e)))"
        }
        var got = 0
        var badHdr: UInt64 = 0, truncated: UInt64 = 0
        for i in 0..<n {
            let p = Packet(index: rxIdx[i])
            guard i < r else { pool.free(p); continue }
            let info = rxInfo[i]
            let len = Int(info.len) - hdr
            if info.truncated != 0 || len < 0 { truncated += 1; pool.free(p); continue }
            if info.pkttype == UInt8(LinuxABI.PACKET_OUTGOING) { pool.free(p); continue }
            let m = pool.meta(p)
            m.pointee.length = UInt32(len)
            if info.status & LinuxABI.TP_STATUS_VLAN_VALID != 0 {
                m.pointee.vlanPresent = true
                m.pointee.vlanTCI = info.vlan_tci
                m.pointee.vlanProto = info.status & LinuxABI.TP_STATUS_VLAN_TPID_VALID != 0 ? info.vlan_tpid : EtherType.vlan
            }
            if vnet {
                let data = pool.data(p)
                do {
                    try VirtioNetHeader.decode(UnsafeRawPointer(data - hdr), frame: UnsafeRawPointer(data), length: len, into: &m.pointee)
                } catch {
                    badHdr += 1; pool.free(p); continue
                }
            }
            batch.append(p)
            got += 1
        }
        dev.countRxErrors(badHeader: badHdr, length: truncated, lengthReason: .truncated)
        if got == 0 { checkSocketError() }
        return got
    }

    private func releaseBlock(_ ring: UnsafeMutableRawPointer) {
        csl_block_release(ring + block * blockSize)
        block = (block + 1) % blockCount
        frame = nil
        left = 0
    }

    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        let pool = dp.pool
        let n = batch.count
        guard failure == nil, fd >= 0 else {
            dev.stats.txErrors &+= UInt64(n); dev.drop(.txError, UInt64(n)); batch.freeAll(pool); return
        }
        var v = 0
        for i in 0..<n {
            let idx = Int(batch.index(at: i))
            let m = pool.metas[idx]
            if vnet {
                let h = headers + i * 16
                VirtioNetHeader.encode(m, into: h, size: VirtioNetHeader.size)
                iov[v] = iovec(iov_base: h, iov_len: VirtioNetHeader.size); v += 1
                iovCount[i] = 2
            } else {
                iovCount[i] = 1
            }
            let data = batch.withPacket(at: i) { pool.data($0) }
            iov[v] = iovec(iov_base: data, iov_len: Int(m.length)); v += 1
        }
        var sent = 0, errors: UInt64 = 0, bytes: UInt64 = 0
        var iovBase = 0
        var retries = 0
        var stoppedBusy = false
        while sent < n {
            let r = Int(csl_sendmmsg(fd, iov + iovBase, iovCount + sent, Int32(n - sent), sentLen))
            if r > 0 {
                for k in 0..<r { bytes += UInt64(pool.metas[Int(batch.index(at: sent + k))].length); iovBase += Int(iovCount[sent + k]) }
                sent += r
                continue
            }
            let e = errno
            if csl_errno_is_wouldblock(e) != 0 || e == ENOBUFS {
                if retries < 2 { retries += 1; continue }
                stoppedBusy = true          // the rest stays in the batch for a requeue
                break
            }
            // This frame cannot go at all: count it and go on with the rest.
            errors += 1
            if e == ENXIO || e == ENODEV { failure = "afpacket \(kernelName): send failed: \(errnoString(e))" }
            iovBase += Int(iovCount[sent])
            sent += 1
        }
        dev.stats.txPackets &+= UInt64(sent) - errors
        dev.stats.txBytes &+= bytes
        if errors > 0 {
            dev.stats.txErrors &+= errors
            dev.drop(.txError, errors)
        }
        if stoppedBusy { batch.freeFirst(sent, pool) } else { batch.freeAll(pool) }
    }

    override func close() {
        if let ring { munmap(ring, ringBytes); self.ring = nil }
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }
}

extension Datapath {
    /// `link add NAME type afpacket dev KERNEL_IFNAME [vnet_hdr on|off]`
    @discardableResult
    public func addPacketSocket(name: String, kernelInterface: String, vnet: Bool = true,
                                rxMode: PacketSocketDriver.RxMode = .mmsg) throws(SluiceError) -> NetDevice {
        guard byName[name] == nil else { throw SluiceError("device \(name) already exists") }
        let drv = try PacketSocketDriver(kernelInterface: kernelInterface, vnet: vnet, rxMode: rxMode)
        return try registerKernelPort(name: name, kind: "afpacket", kernelInterface: kernelInterface, driver: drv)
    }

    /// Registers a port on a kernel interface; its MTU follows the interface's.
    func registerKernelPort(name: String, kind: String, kernelInterface: String, driver: NetDriver) throws(SluiceError) -> NetDevice {
        let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let kmtu = s >= 0 ? csl_get_mtu(s, kernelInterface) : -1
        if s >= 0 { Glibc.close(s) }
        let dev = NetDevice(name: name, kind: kind, mac: .local(seed: stableHash(name)), mtu: kmtu > 0 ? Int(kmtu) : 1500, driver: driver)
        do { try register(dev) } catch { driver.close(); throw error }
        return dev
    }
}
