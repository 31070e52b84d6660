import CSluiceVIF
import SluiceVIF
#if canImport(Glibc)
import Glibc
#endif

/// Principles (drivers/net/xen-netfront.c)
/// ----------
/// A virtual NIC plugged into a running Sluice daemon: the frontend half of the split driver.
/// The application owns its packet pages (a memfd it shares with the daemon), grants the daemon
/// access to them page by page, and talks through two Xen-style rings:
/// - Sending: each frame is copied into free tx pages, each page granted read-only, and one
///   request per page is produced (the first carries the whole size; `moreData` chains the
///   rest; a GSO super-frame's first slot carries an extra-info slot). The backend is notified
///   only when it asked (its request event index). Responses give the pages back: the grant
///   is revoked — unless the backend still holds it, when the page waits (Xen's busy rule).
/// - Receiving: free rx pages are granted writable and posted as rx requests; the backend
///   copies frames into them and responds; `receive` hands each frame to the caller and posts
///   the page again.
/// - Waiting: `eventFD` becomes readable when the backend notifies; `receive`/`reclaim` set the
///   response event index before sleeping and look again, so no notification is lost and a
///   busy ring costs none.
/// The handshake is one exchange over the daemon's control socket (XenStore reduced): the
/// layout in the shared header, the memfd and two eventfds as SCM_RIGHTS, the answer an
/// rtnetlink acknowledgement. The socket stays open for the NIC's life: closing it (or the
/// process dying) disconnects the backend, which then frees everything it held.
public final class VirtualNIC {
    public struct Error: Swift.Error, CustomStringConvertible { public let description: String }

    public let layout: VIFLayout
    let memfd: Int32
    let base: UnsafeMutableRawPointer
    let sock: Int32
    /// Written by us to wake the backend; read by the backend.
    let toBackend: Int32
    /// Written by the backend to wake us: wait on it (poll/epoll) for received frames and
    /// completed sends.
    public let eventFD: Int32
    let tx: VIFRingHeader, rx: VIFRingHeader
    let grants: VIFGrantTable
    let txSlots: UnsafeMutableRawPointer, rxSlots: UnsafeMutableRawPointer
    var txReqProd: UInt32 = 0, txRspCons: UInt32 = 0
    var rxReqProd: UInt32 = 0, rxRspCons: UInt32 = 0
    /// Pages 0..<txPages are for sending, the rest for receiving; grant ref = page number.
    let txPages: Int
    var freeTx: [Int] = []
    /// Pages a tx slot id holds until its response (−1: none), and revoked-while-busy pages.
    var slotPage: [Int]
    var busyPages: [Int] = []
    /// `send(filling:)`'s scratch: the pages taken for a frame and their memory.
    var taken: [Int] = []
    var pieces: [UnsafeMutableRawBufferPointer] = []
    /// Counters.
    public private(set) var notificationsSent: UInt64 = 0
    public private(set) var txErrors: UInt64 = 0
    public private(set) var rxErrors: UInt64 = 0

    /// Connects to the daemon at `socketPath` as the backend device `interface` (made there
    /// first with `link add NAME type vif`).
    public init(socketPath: String, interface: String, ringSlots: Int = 256, dataPages: Int = 1024,
                features: UInt32 = VIF.featureSG | VIF.featureRxCopy | VIF.featureCsumOffload | VIF.featureGSOTCPv4 | VIF.featureGSOTCPv6) throws {
        guard VIF.isPowerOfTwo(ringSlots), ringSlots >= 32, dataPages >= 2 * ringSlots else {
            throw Error(description: "ring slots must be a power of two ≥ 32 and data pages ≥ twice the ring slots")
        }
        guard interface.utf8.count < 16, !interface.isEmpty else { throw Error(description: "interface name must be 1–15 bytes") }
        layout = VIFLayout(ringSlots: ringSlots, grants: dataPages, dataPages: dataPages, features: features)
        memfd = csv_memfd("sluice-vif", layout.totalSize)
        guard memfd >= 0 else { throw Error(description: "memfd_create: \(String(cString: strerror(errno)))") }
        guard let m = mmap(nil, layout.totalSize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0), m != MAP_FAILED else {
            Glibc.close(memfd)
            throw Error(description: "mmap: \(String(cString: strerror(errno)))")
        }
        base = m
        layout.write(to: base)
        tx = VIFRingHeader(base + layout.txRingOffset)
        rx = VIFRingHeader(base + layout.rxRingOffset)
        // SHARED_RING_INIT: both event indices 1 (the first request/response notifies).
        tx.reqEvent = 1; tx.rspEvent = 1; rx.reqEvent = 1; rx.rspEvent = 1
        txSlots = base + layout.txRingOffset + VIF.ringHeaderSize
        rxSlots = base + layout.rxRingOffset + VIF.ringHeaderSize
        grants = VIFGrantTable(base + layout.grantOffset, count: layout.grants)
        txPages = dataPages / 2
        freeTx = Array((0..<txPages).reversed())
        slotPage = Array(repeating: -1, count: ringSlots)
        toBackend = csv_eventfd()
        eventFD = csv_eventfd()
        sock = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var ok = false
        defer { if !ok { teardown() } }
        guard toBackend >= 0, eventFD >= 0, sock >= 0 else { throw Error(description: "eventfd/socket: \(String(cString: strerror(errno)))") }
        try Self.connect(sock, socketPath)
        // The greeting (NLMSG_NOOP with our port id), then the connect request and its answer.
        var buf = [UInt8](repeating: 0, count: 4096)
        _ = buf.withUnsafeMutableBytes { recv(sock, $0.baseAddress, $0.count, 0) }
        var msg = [UInt8](repeating: 0, count: 16 + 16 + VIFLayout.headerBytes)
        let total = UInt32(msg.count)
        msg.withUnsafeMutableBytes { p in
            p.storeBytes(of: total.littleEndian, toByteOffset: 0, as: UInt32.self)
            p.storeBytes(of: VIF.connectMessageType.littleEndian, toByteOffset: 4, as: UInt16.self)
            p.storeBytes(of: UInt16(0x5).littleEndian, toByteOffset: 6, as: UInt16.self)   // NLM_F_REQUEST | NLM_F_ACK
            p.storeBytes(of: UInt32(1).littleEndian, toByteOffset: 8, as: UInt32.self)
            for (i, b) in interface.utf8.enumerated() { p[16 + i] = b }
            (p.baseAddress! + 32).copyMemory(from: base, byteCount: VIFLayout.headerBytes)
        }
        let fds = [memfd, toBackend, eventFD]
        guard msg.withUnsafeBytes({ csv_send_fds(sock, $0.baseAddress, $0.count, fds, 3) }) == msg.count else {
            throw Error(description: "sending the connect request: \(String(cString: strerror(errno)))")
        }
        let r = buf.withUnsafeMutableBytes { recv(sock, $0.baseAddress, $0.count, 0) }
        guard r >= 20, buf.withUnsafeBytes({ $0.load(fromByteOffset: 4, as: UInt16.self) }) == 2 else {
            throw Error(description: "the daemon did not answer the connect request")
        }
        let err = buf.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: 16, as: Int32.self)) }
        if err != 0 {
            // The extack message (NLMSGERR_ATTR_MSG) after the echoed header.
            var text = String(cString: strerror(-err))
            var off = 36
            while off + 4 <= r {
                let l = Int(buf[off]) | Int(buf[off + 1]) << 8, t = Int(buf[off + 2]) | Int(buf[off + 3]) << 8
                guard l >= 4, off + l <= r else { break }
                if t == 1 { text = String(decoding: buf[(off + 4)..<(off + l)].prefix { $0 != 0 }, as: UTF8.self) }
                off += (l + 3) & ~3
            }
            throw Error(description: "the daemon refused the virtual NIC: \(text)")
        }
        ok = true
        postRx()
    }

    static func connect(_ sock: Int32, _ path: String) throws {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw Error(description: "socket path too long") }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(sock, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard r == 0 else { throw Error(description: "cannot reach the daemon at \(path): \(String(cString: strerror(errno)))") }
    }

    func teardown() {
        if sock >= 0 { Glibc.close(sock) }
        if toBackend >= 0 { Glibc.close(toBackend) }
        if eventFD >= 0 { Glibc.close(eventFD) }
        munmap(base, layout.totalSize)
        Glibc.close(memfd)
    }

    deinit { teardown() }

    var mask: UInt32 { UInt32(layout.ringSlots - 1) }
    func page(_ n: Int) -> UnsafeMutableRawPointer { base + layout.dataOffset + n * VIF.pageSize }

    func notify() {
        var one: UInt64 = 1
        _ = write(toBackend, &one, 8)
        notificationsSent &+= 1
    }

    // MARK: sending

    /// Queues one Ethernet frame (up to 64 KiB; with `gso` a TCP super-frame the backend will
    /// segment or pass on whole). `csumBlank`: its TCP/UDP checksum is still to be computed
    /// (required with `gso`); `dataValidated`: its checksum is known good. Returns false when
    /// the ring or the tx pages are full: call `reclaim` (or wait on `eventFD`) and try again.
    /// Call `flush` after a batch.
    public func send(_ frame: UnsafeRawBufferPointer, gso: VIFExtraGSO? = nil, csumBlank: Bool = false, dataValidated: Bool = false) -> Bool {
        let n = frame.count
        guard n > 0 else { return false }
        return send(filling: n) { pages in
            var done = 0
            for p in pages where done < n {
                let len = min(p.count, n - done)
                p.baseAddress!.copyMemory(from: frame.baseAddress! + done, byteCount: len)
                done += len
            }
            return Fill(length: n, gso: gso, csumBlank: csumBlank, dataValidated: dataValidated)
        }
    }

    /// What `send(filling:)`'s writer put in the pages.
    public struct Fill {
        public var length: Int, gso: VIFExtraGSO?, csumBlank: Bool, dataValidated: Bool
        public init(length: Int, gso: VIFExtraGSO? = nil, csumBlank: Bool = false, dataValidated: Bool = false) {
            self.length = length; self.gso = gso; self.csumBlank = csumBlank; self.dataValidated = dataValidated
        }
    }

    /// Sends a frame of up to `maxLength` bytes written straight into shared pages (no copy of
    /// ours): `fill` gets the pages, in order, and returns what it wrote (nil: nothing, the pages
    /// go back). With a reader such as readv(2) the frame goes from the kernel into the pages
    /// the backend copies from. Returns false when the ring or the tx pages are full.
    public func send(filling maxLength: Int, _ fill: ([UnsafeMutableRawBufferPointer]) -> Fill?) -> Bool {
        guard maxLength > 0, maxLength <= VIF.maxPacket else { return false }
        let pages = (maxLength + VIF.pageSize - 1) / VIF.pageSize
        if freeTx.count < pages || Int(txReqProd &- txRspCons) + pages + 1 > layout.ringSlots { reclaim() }
        guard freeTx.count >= pages, Int(txReqProd &- txRspCons) + pages + 1 <= layout.ringSlots else { return false }
        // Scratch arrays kept between calls: no allocation per frame.
        taken.removeAll(keepingCapacity: true)
        pieces.removeAll(keepingCapacity: true)
        for _ in 0..<pages {
            let pg = freeTx.removeLast()
            taken.append(pg)
            pieces.append(UnsafeMutableRawBufferPointer(start: page(pg), count: VIF.pageSize))
        }
        guard let f = fill(pieces), f.length > 0, f.length <= pages * VIF.pageSize else {
            for pg in taken.reversed() { freeTx.append(pg) }
            return false
        }
        let n = f.length
        let used = (n + VIF.pageSize - 1) / VIF.pageSize
        for pg in taken[used...].reversed() { freeTx.append(pg) }
        var done = 0
        for k in 0..<used {
            let pg = taken[k]
            let len = min(VIF.pageSize, n - done)
            grants.grant(pg, page: pg, offset: 0, length: len, readOnly: true)
            let id = UInt16(txReqProd & mask)
            slotPage[Int(id)] = pg
            var flags: UInt16 = k < used - 1 ? VIF.moreData : 0
            if k == 0 {
                if f.gso != nil { flags |= VIF.extraInfo }
                if f.csumBlank || f.gso != nil { flags |= VIF.csumBlank }
                if f.dataValidated { flags |= VIF.dataValidated }
            }
            VIFTxRequest(gref: UInt32(pg), offset: 0, flags: flags, id: id, size: UInt16(truncatingIfNeeded: k == 0 ? n : len))
                .store(to: txSlots + Int(txReqProd & mask) * VIF.txSlotSize)
            txReqProd &+= 1
            if k == 0, let gso = f.gso {
                slotPage[Int(txReqProd & mask)] = -1
                gso.store(to: txSlots + Int(txReqProd & mask) * VIF.txSlotSize)
                txReqProd &+= 1
            }
            done += len
        }
        return true
    }

    public func send(_ frame: [UInt8], gso: VIFExtraGSO? = nil, csumBlank: Bool = false, dataValidated: Bool = false) -> Bool {
        frame.withUnsafeBytes { send($0, gso: gso, csumBlank: csumBlank, dataValidated: dataValidated) }
    }

    /// Publishes what `send` queued (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY).
    public func flush() {
        let old = tx.reqProd
        guard old != txReqProd else { return }
        tx.reqProd = txReqProd
        if VIF.needsNotify(new: txReqProd, old: old, event: tx.reqEvent) { notify() }
    }

    /// Takes tx responses: pages back to the free list (a page whose grant the backend still
    /// holds waits until it lets go).
    public func reclaim() {
        busyPages.removeAll { pg in
            if grants.revoke(pg) { freeTx.append(pg); return true }
            return false
        }
        while true {
            let prod = tx.rspProd
            while txRspCons != prod {
                let rsp = VIFTxResponse(at: txSlots + Int(txRspCons & mask) * VIF.txSlotSize)
                let id = Int(rsp.id) & Int(mask), status = rsp.status
                // An extra-info slot's answer names no request (xennet_tx_buf_gc skips it):
                // taking its id would give back the page of a request still in flight.
                if status == VIF.statusNull { txRspCons &+= 1; continue }
                if status < 0 && status != VIF.statusDropped { txErrors &+= 1 }
                let pg = slotPage[id]
                slotPage[id] = -1
                if pg >= 0 {
                    if grants.revoke(pg) { freeTx.append(pg) } else { busyPages.append(pg) }
                }
                txRspCons &+= 1
            }
            tx.rspEvent = txRspCons &+ 1
            if tx.rspProd == txRspCons { break }
        }
    }

    // MARK: receiving

    /// Posts rx requests up to a full ring. Request positions and pages correspond: position
    /// `i` posts id `i & mask` with page `txPages + (i & mask)`; the backend answers in request
    /// order, so the response at position `i` is about that page (an extra-info slot too).
    func postRx() {
        let old = rxReqProd
        while Int(rxReqProd &- rxRspCons) < layout.ringSlots {
            let id = Int(rxReqProd & mask)
            let pg = txPages + id
            grants.grant(pg, page: pg, offset: 0, length: VIF.pageSize, readOnly: false)
            VIFRxRequest(id: UInt16(id), gref: UInt32(pg)).store(to: rxSlots + id * VIF.rxSlotSize)
            rxReqProd &+= 1
        }
        guard rxReqProd != old else { return }
        let before = rx.reqProd
        rx.reqProd = rxReqProd
        if VIF.needsNotify(new: rxReqProd, old: before, event: rx.reqEvent) { notify() }
    }

    /// What the backend said about a received frame.
    public struct FrameInfo: Sendable {
        /// A TCP super-frame (to segment, or to hand on whole to a stack that takes them).
        public var gso: VIFExtraGSO?
        /// Its TCP/UDP checksum is still to be computed (NETRXF_csum_blank).
        public var csumBlank = false
        /// Its checksum is known good (NETRXF_data_validated).
        public var dataValidated = false
    }

    /// Hands up to `max` received frames to `body` (each valid only during the call), posts
    /// their pages again, and returns how many there were.
    @discardableResult
    public func receive(max: Int = 256, _ body: (UnsafeRawBufferPointer) -> Void) -> Int {
        receive(max: max) { f, _ in body(f) }
    }

    @discardableResult
    public func receive(max: Int = 256, _ body: (UnsafeRawBufferPointer, FrameInfo) -> Void) -> Int {
        var frame = [UInt8]()
        frame.reserveCapacity(VIF.maxPacket)
        return receive(max: max, pieces: { pieces, info in
            frame.removeAll(keepingCapacity: true)
            for p in pieces { frame.append(contentsOf: p) }
            frame.withUnsafeBytes { body($0, info) }
        })
    }

    /// Receives without copying: `body` gets each frame as its pieces in the shared pages, in
    /// order (valid only during the call; for writev(2) to a TAP, say).
    @discardableResult
    public func receive(max: Int = 256, pieces body: ([UnsafeRawBufferPointer], FrameInfo) -> Void) -> Int {
        var got = 0
        var pieces: [UnsafeRawBufferPointer] = []
        pieces.reserveCapacity(VIF.maxSlotsPerPacket)
        while got < max {
            if rxRspCons == rx.rspProd {
                rx.rspEvent = rxRspCons &+ 1
                if rx.rspProd == rxRspCons { break }
            }
            // One frame: a chain of responses flagged moreData, with an extra-info slot after the
            // first when flagged. Stop (and look again later) if the chain is not all there.
            let avail = rx.rspProd &- rxRspCons
            var need: UInt32 = 1, at = rxRspCons
            while true {
                guard need <= avail else { break }
                let flags = VIFRxResponse(at: rxSlots + Int(at & mask) * VIF.rxSlotSize).flags
                if at == rxRspCons && flags & VIF.extraInfo != 0 { need += 1; at &+= 1 }
                guard flags & VIF.rxMoreData != 0 else { break }
                need += 1; at &+= 1
            }
            guard need <= avail else { break }
            pieces.removeAll(keepingCapacity: true)
            var info = FrameInfo()
            var bad = false
            let first = VIFRxResponse(at: rxSlots + Int(rxRspCons & mask) * VIF.rxSlotSize).flags
            for k in 0..<Int(need) {
                let pos = rxRspCons &+ UInt32(k)
                let s = rxSlots + Int(pos & mask) * VIF.rxSlotSize
                if k == 1 && first & VIF.extraInfo != 0 {
                    info.gso = VIFExtraGSO(at: s)
                    continue
                }
                let rsp = VIFRxResponse(at: s)
                let off = Int(rsp.offset), flags = rsp.flags, status = Int(rsp.status)
                if k == 0 {
                    info.csumBlank = flags & VIF.rxCsumBlank != 0
                    info.dataValidated = flags & VIF.rxDataValidated != 0
                }
                if status < 0 || off + status > VIF.pageSize { bad = true }
                else { pieces.append(UnsafeRawBufferPointer(start: page(txPages + Int(pos & mask)) + off, count: status)) }
            }
            if bad { rxErrors &+= 1 } else { body(pieces, info); got += 1 }
            for k in 0..<Int(need) { _ = grants.revoke(txPages + Int((rxRspCons &+ UInt32(k)) & mask)) }
            rxRspCons &+= need
        }
        postRx()
        return got
    }

    /// The control socket to the daemon: readable (end of file) or hung up when the daemon went
    /// away or dropped this NIC; wait on it beside `eventFD`.
    public var connectionFD: Int32 { sock }

    /// Whether the daemon still holds this NIC's connection (false once it closed it).
    public var isConnected: Bool {
        var p = pollfd(fd: sock, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 0) > 0 else { return true }
        if p.revents & Int16(POLLHUP | POLLERR) != 0 { return false }
        var b: UInt8 = 0
        return recv(sock, &b, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) != 0
    }

    /// Clears the event counter (call when `eventFD` was readable).
    public func acknowledgeEvent() {
        var v: UInt64 = 0
        _ = read(eventFD, &v, 8)
    }

    /// Waits until the backend notifies or `timeoutMs` passes.
    public func wait(timeoutMs: Int32) {
        var p = pollfd(fd: eventFD, events: Int16(POLLIN), revents: 0)
        if poll(&p, 1, timeoutMs) > 0 { acknowledgeEvent() }
    }
}
