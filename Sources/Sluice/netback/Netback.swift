import CSluiceLinux
import CSluiceVIF
import SluiceVIF
#if canImport(Glibc)
import Glibc
#endif

/// Principles (drivers/net/xen-netback: netback.c, rx.c, interface.c)
/// ----------
/// A `vif` device is the backend of a virtual NIC whose frontend is another process
/// (`SluiceFrontend`). It is a port like any other (a bridge port, tc, counters); its carrier is
/// on while a frontend is connected.
/// - Connect: the frontend's handshake over the control socket hands over the memfd (sealed
///   against shrinking, or refused: a shrunk mapping would fault) and two eventfds; the worker
///   maps the memory, checks the layout header, and from then on polls
///   the vif through NAPI like any device: the frontend's eventfd is its interrupt.
/// - Guest tx (netback's tx action): each request is copied out of the shared slot once, into
///   private memory, then checked — producer index within one ring of the consumer, request id
///   within the ring, offset + size within a page, at most 18 slots and 64 KiB per packet, an
///   extra-info slot well formed — and its data copied through the grant into a pool buffer
///   (grant copy: Sluice's buffers stay private; see ARCHITECTURE.md). A refused grant (a bad
///   reference, one not granted, or granted to someone else) answers the packet's slots with an
///   error and is counted; a malformed ring is fatal for that vif only (netbk_fatal_tx_err):
///   it is disconnected, what it held is freed, every other port keeps forwarding.
/// - Guest rx (netback's rx action): packets for the frontend wait in the vif's queue until the
///   frontend has posted rx requests — up to half a ring of pages in bytes (rx_queue_max), past
///   which the device's queue is stopped so the rest waits in the qdisc, and never more than
///   its txqueuelen packets (a device without a qdisc drops there, counted); each
///   request names a writable grant the frame (or its next page) is copied into, and is answered
///   with the size. A read-only grant answers the request with an error.
/// - Notifications both ways follow the event-index rule: the backend sets its request event
///   index before it goes back to interrupt mode and looks again (RING_FINAL_CHECK), and
///   notifies the frontend only when it asked (RING_PUSH_RESPONSES_AND_CHECK_NOTIFY).
/// - The frontend's control socket closing (the process died, or closed it) disconnects it.
/// - Offloads follow the frontend's features: with checksum offload and TCP GSO negotiated,
///   super-frames and checksum-blank frames cross whole both ways (an extra-info slot carries
///   the GSO size and type); without, the datapath segments and completes checksums before
///   the vif (its features, and a bridge's intersection, follow the handshake).
/// - Credit-based scheduling of guest tx (netback's `rate`, xen_net_read_rate's bytes per
///   window): a packet larger than the credit left waits on the ring — the frontend's own
///   problem, nothing is dropped — until the next window, when credit_bytes are added (never
///   past max(128 KiB, credit_bytes), so a 64 KiB super-frame always fits), exactly as
///   tx_credit_exceeded and tx_add_credit; the vif's poll is resumed by the worker's timer
///   (credit_timeout), not by the frontend's notifications.
/// Not yet: multi-queue, hash/XDP extras, mapped grants.
final class VifDriver: NetDriver {
    struct Connection {
        let base: UnsafeMutableRawPointer
        let size: Int
        let layout: VIFLayout
        let memfd: Int32, fromFront: Int32, toFront: Int32
        /// The control socket that connected it (its closing disconnects).
        let owner: Int32
        let tx: VIFRingHeader, rx: VIFRingHeader
        let grants: VIFGrantTable
        let txSlots: UnsafeMutableRawPointer, rxSlots: UnsafeMutableRawPointer
        let data: UnsafeMutableRawPointer
        var txReqCons: UInt32 = 0, txRspProd: UInt32 = 0
        var rxReqCons: UInt32 = 0, rxRspProd: UInt32 = 0
    }

    /// Why a vif dropped a request or was disconnected (counted, shown by `link show -d`).
    enum Reason: Int, CaseIterable {
        case prodJump, badID, slotOverflow, tooManySlots, tooBig, badSize, badExtra, grantRefused, grantReadOnly
        case rxProdJump, noBuffer, queueFull
        var name: String {
            switch self {
            case .prodJump: "tx_prod_past_ring"; case .badID: "tx_bad_id"; case .slotOverflow: "tx_offset_past_page"
            case .tooManySlots: "tx_too_many_slots"; case .tooBig: "tx_too_big"; case .badSize: "tx_bad_size"
            case .badExtra: "tx_bad_extra"; case .grantRefused: "grant_refused"; case .grantReadOnly: "rx_grant_read_only"
            case .rxProdJump: "rx_prod_past_ring"; case .noBuffer: "no_buffer"; case .queueFull: "rx_queue_full"
            }
        }
        var fatal: Bool { [.prodJump, .badID, .slotOverflow, .tooManySlots, .tooBig, .badSize, .badExtra, .rxProdJump].contains(self) }
    }

    var conn: Connection?
    /// One packet's slots as copied out of the ring (private memory, allocated once).
    var chain = [VIFTxRequest](repeating: VIFTxRequest(gref: 0, offset: 0, flags: 0, id: 0, size: 0), count: VIF.maxSlotsPerPacket)
    /// Packets for the frontend waiting for its rx requests, and their bytes.
    var pending = PacketQueue()
    var pendingBytes = 0
    /// netback's rx_queue_max (XENVIF_RX_QUEUE_BYTES: half the rx ring's worth of pages): at
    /// or past it the vif's queue is stopped (xenvif_rx_queue_tail), so what waits longer waits
    /// in the qdisc, where its AQM and priorities act; woken when it falls below again
    /// (xenvif_rx_dequeue).
    var rxQueueMax = 0
    /// Bytes qdisc_run dequeued for the next `transmit` (admitted while the queue was open).
    var admitted = 0
    var stopped = false
    var queueStops: UInt64 = 0
    var counts = [UInt64](repeating: 0, count: Reason.allCases.count)
    var connects: UInt64 = 0, disconnects: UInt64 = 0
    var notifications: UInt64 = 0, interrupts: UInt64 = 0
    var lastDisconnect = ""
    /// netback's credit scheduler: `creditBytes` per `creditWindow` ns (0: unlimited, the
    /// default), what is left of it, where the window started, and when a waiting packet
    /// gets more (credit_timeout; 0 when not armed).
    var creditBytes: UInt64 = 0, creditWindow: UInt64 = 0
    var remainingCredit: UInt64 = 0, creditWindowStart: UInt64 = 0, creditTimeout: UInt64 = 0
    var rateLimited: UInt64 = 0
    weak var dev: NetDevice?
    unowned(unsafe) var dp: Datapath?

    /// What a vif can take: until a frontend says otherwise (at connect), Xen's full set —
    /// scatter-gather, checksum offload and TCP GSO both families.
    override var supportedFeatures: DeviceFeatures { [.sg, .hwCsum, .tso, .tso6] }

    /// The offloads a connected frontend takes on receive (its feature-* flags).
    static func features(_ f: UInt32) -> DeviceFeatures {
        var d: DeviceFeatures = [.sg]
        if f & VIF.featureCsumOffload != 0 {
            d.insert(.hwCsum)
            if f & VIF.featureGSOTCPv4 != 0 { d.insert(.tso) }
            if f & VIF.featureGSOTCPv6 != 0 { d.insert(.tso6) }
        }
        return d
    }
    override var pollFD: Int32 { conn?.fromFront ?? -1 }

    override func attach(_ dev: NetDevice, _ dp: Datapath) throws(SluiceError) {
        self.dev = dev
        self.dp = dp
        dev.carrier = false
    }

    override func setAdminUp(_ up: Bool, _ dev: NetDevice) throws(SluiceError) {
        dev.carrier = up && conn != nil
    }

    override var details: String {
        var s = "vif " + (conn.map { "connected ring \($0.layout.ringSlots) grants \($0.layout.grants) pages \($0.layout.dataPages)" } ?? "disconnected")
        s += " connects \(connects) disconnects \(disconnects) interrupts \(interrupts) notifications \(notifications)"
        let errs = Reason.allCases.filter { counts[$0.rawValue] > 0 }.map { "\($0.name) \(counts[$0.rawValue])" }
        if !errs.isEmpty { s += " " + errs.joined(separator: " ") }
        s += " rx_queue \(pendingBytes) max \(rxQueueMax) stops \(queueStops)"
        if creditBytes != 0 { s += " rate \(creditBytes)B/\(creditWindow / 1000)us credit \(remainingCredit) rate_limited \(rateLimited)" }
        if !lastDisconnect.isEmpty { s += " last_disconnect \"\(lastDisconnect)\"" }
        return s
    }

    // MARK: connect / disconnect

    /// The frontend's handshake: maps `memfd`, checks the layout the frontend wrote there and
    /// the one it sent, and starts serving. Takes ownership of the fds (closed on failure).
    func connect(header: [UInt8], memfd: Int32, fromFront: Int32, toFront: Int32, owner: Int32) throws(SluiceError) {
        func fail(_ m: String) -> SluiceError { Glibc.close(memfd); Glibc.close(fromFront); Glibc.close(toFront); return SluiceError(m) }
        guard conn == nil else { throw fail("vif: a frontend is already connected") }
        // A frontend that could shrink the memory under the mapping would make the backend fault
        // (SIGBUS): only a memfd sealed against shrinking is taken.
        guard csv_fd_sealed(memfd) == 1 else { throw fail("vif: the shared memory must be a memfd sealed against shrinking (F_SEAL_SHRINK)") }
        // Whatever the frontend passed as its eventfds, the worker never blocks on them.
        for fd in [fromFront, toFront] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        let size = Int(csv_fd_size(memfd))
        guard size >= VIF.pageSize, size <= 1 << 30 else { throw fail("vif: the shared memory is \(size) bytes (4 KiB to 1 GiB)") }
        guard let m = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0), m != MAP_FAILED else {
            throw fail("vif: cannot map the shared memory: \(errnoString())")
        }
        // The layout is read once, here, and used from private memory from then on.
        guard let layout = VIFLayout(reading: m, mappedSize: size),
              header.count >= VIFLayout.headerBytes,
              header.withUnsafeBytes({ VIFLayout(reading: $0.baseAddress!, mappedSize: size) }) == layout else {
            munmap(m, size)
            throw fail("vif: the shared memory's layout header is invalid or differs from the request's")
        }
        let tx = VIFRingHeader(m + layout.txRingOffset), rx = VIFRingHeader(m + layout.rxRingOffset)
        var c = Connection(base: m, size: size, layout: layout, memfd: memfd, fromFront: fromFront, toFront: toFront, owner: owner,
                           tx: tx, rx: rx, grants: VIFGrantTable(m + layout.grantOffset, count: layout.grants),
                           txSlots: m + layout.txRingOffset + VIF.ringHeaderSize, rxSlots: m + layout.rxRingOffset + VIF.ringHeaderSize,
                           data: m + layout.dataOffset)
        // The rings start where the frontend's producers are (a fresh frontend: 0).
        c.txReqCons = 0; c.txRspProd = 0; c.rxReqCons = 0; c.rxRspProd = 0
        tx.rspProd = 0; rx.rspProd = 0
        conn = c
        connects &+= 1
        // connect(): the credit starts full, its window now (xenvif_init_queue).
        if creditBytes != 0, let dp { setRate(bytes: creditBytes, window: creditWindow, now: dp.clock.now) }
        rxQueueMax = Int(layout.ringSlots) / 2 * VIF.pageSize
        admitted = 0; stopped = false
        if let dev, let dp {
            // The frontend's features decide what the datapath hands this port (and, through a
            // bridge's intersection, what its other ports may take).
            let f = Self.features(layout.features)
            dev.hwFeatures = f.union([.gro, .udpGROForwarding, .lro])
            dev.activeFeatures = dev.activeFeatures.subtracting(.offloads).union(f)
            if dev.master != 0, let br = dp.bridges[dev.master] { br.recomputeFeatures(dp) }
            dp.driverFDChanged(dev, old: -1, new: fromFront)
            dev.carrier = dev.isUp
            dp.napiSchedule(dev)
        }
    }

    /// Disconnects the frontend (it asked, died, or broke the rules): frees what waited for it,
    /// unmaps, closes the fds.
    func disconnect(_ why: String) {
        guard let c = conn else { return }
        if let dev, let dp {
            dp.driverFDChanged(dev, old: c.fromFront, new: -1)
            dev.carrier = false
            pending.purge(dp.pool)
            pendingBytes = 0
            dp.log("\(dev.name): frontend disconnected: \(why)")
        }
        munmap(c.base, c.size)
        Glibc.close(c.memfd); Glibc.close(c.fromFront); Glibc.close(c.toFront)
        conn = nil
        disconnects &+= 1
        creditTimeout = 0                                       // del_timer_sync(credit_timeout)
        lastDisconnect = why
    }

    override func close() { disconnect("device deleted") }
    override func purge(_ pool: PacketPool) { pending.purge(pool); pendingBytes = 0 }

    override func txReady(_ now: UInt64) -> Bool {
        guard conn != nil else { return true }          // transmit drops and counts them
        if pendingBytes + admitted < rxQueueMax { return true }
        if !stopped { stopped = true; queueStops &+= 1 }
        return false
    }
    override func txAdmit(_ bytes: Int, _ now: UInt64) { admitted += bytes }

    func count(_ r: Reason, _ n: UInt64 = 1) { counts[r.rawValue] &+= n }

    /// xen_net_read_rate's result: `bytes` per `window` ns, or unlimited with 0.
    func setRate(bytes: UInt64, window: UInt64, now: UInt64) {
        creditBytes = bytes
        creditWindow = bytes == 0 ? 0 : window
        remainingCredit = bytes
        creditWindowStart = now
        creditTimeout = 0
    }

    /// xen_net_rate_changed: a new rate on a live vif (the toolstack rewrote `rate`). A credit
    /// timeout that is pending fires at once (mod_timer_pending to now), else the credit left
    /// is clamped to the new window's bytes; the window's start is kept. 0 bytes: unlimited.
    func changeRate(bytes: UInt64, window: UInt64, now: UInt64) {
        let wasUnlimited = creditBytes == 0
        creditBytes = bytes
        creditWindow = bytes == 0 ? 0 : window
        if creditTimeout != 0 {
            creditTimeout = max(now, 1)
        } else if bytes != 0 && (wasUnlimited || remainingCredit > bytes) {
            // Unlimited is netback's ~0 credit: clamped like any larger credit.
            remainingCredit = bytes
        }
    }

    /// The credit a change of `rate` (bits per second, 0: unlimited) and/or `window` (ns) asks
    /// for on this vif: the window stays unless given (50 ms when there was none); a window
    /// alone keeps the rate. nil when neither is given.
    func credit(rate: UInt64?, window: UInt64?) throws(SluiceError) -> (bytes: UInt64, window: UInt64)? {
        let w = (window ?? (creditWindow != 0 ? creditWindow : 50_000_000)) / 1000 * 1000
        if let rate { return (rate == 0 ? 0 : Self.creditBytes(bps: rate, window: w), w) }
        guard window != nil else { return nil }
        guard creditBytes != 0 else { throw SluiceError("Error: vif: \(dev?.name ?? "the vif") has no rate; a window needs one") }
        return (Self.creditBytes(bps: currentRate, window: w), w)
    }

    /// The rate in bits per second the credit gives (0: unlimited).
    var currentRate: UInt64 {
        creditBytes == 0 || creditWindow == 0 ? 0 : UInt64((Double(creditBytes) * 8 * 1e9 / Double(creditWindow)).rounded())
    }

    /// xen_net_read_rate's bytes for `bps` bits per second over a `window` of whole
    /// microseconds (ns; at least one byte).
    static func creditBytes(bps: UInt64, window: UInt64) -> UInt64 {
        max(1, UInt64((Double(bps) / 8 * Double(window) / 1e9).rounded(.down)))
    }

    /// tx_add_credit: another window's bytes, bounded by max(128 KiB, credit_bytes).
    func addCredit() {
        let maxBurst = max(131_072, creditBytes)
        let (sum, over) = remainingCredit.addingReportingOverflow(creditBytes)
        remainingCredit = min(over ? .max : sum, maxBurst)
    }

    /// tx_credit_exceeded: whether a packet of `size` must wait for credit; arms the timeout
    /// when it must.
    func creditExceeded(_ size: UInt64, now: UInt64) -> Bool {
        if creditTimeout != 0 { return true }                  // timer_pending
        let next = creditWindowStart &+ creditWindow
        if now >= next {
            creditWindowStart = now
            addCredit()
        }
        if size > remainingCredit {
            creditTimeout = max(next, 1)
            creditWindowStart = next
            rateLimited &+= 1
            return true
        }
        return false
    }

    /// When the worker must poll this vif again because credit comes (0: not waiting).
    override var rxResumeAt: UInt64 { creditTimeout }

    func notifyFront(_ c: Connection) {
        var one: UInt64 = 1
        _ = write(c.toFront, &one, 8)
        notifications &+= 1
    }

    // MARK: guest tx (frontend → Sluice)

    override func poll(_ dp: Datapath, _ dev: NetDevice, into batch: inout PacketBatch, budget: Int) -> Int {
        guard var c = conn else { return 0 }
        var v: UInt64 = 0
        if read(c.fromFront, &v, 8) == 8 { interrupts &+= 1 }
        let now = dp.clock.now
        if creditTimeout != 0 && now >= creditTimeout {
            // tx_credit_callback.
            creditTimeout = 0
            addCredit()
        }
        let slots = UInt32(c.layout.ringSlots), mask = slots - 1
        let pool = dp.pool
        var got = 0
        var fatal: Reason?
        let oldRsp = c.txRspProd
        func respond(_ id: UInt16, _ status: Int16) {
            VIFTxResponse(id: id, status: status).store(to: c.txSlots + Int(c.txRspProd & mask) * VIF.txSlotSize)
            c.txRspProd &+= 1
        }
        outer: while got < budget {
            var prod = c.tx.reqProd
            if prod &- c.txReqCons > slots { fatal = .prodJump; break }
            if prod == c.txReqCons {
                // RING_FINAL_CHECK_FOR_REQUESTS.
                c.tx.reqEvent = c.txReqCons &+ 1
                prod = c.tx.reqProd
                if prod == c.txReqCons { break }
                if prod &- c.txReqCons > slots { fatal = .prodJump; break }
            }
            // The packet's slots, each copied once out of shared memory.
            var n = 0, at = c.txReqCons
            var extra: VIFExtraGSO?
            var haveExtra = false
            while true {
                guard at != prod else { break outer }               // the rest of the chain is not there yet
                let r = VIFTxRequest(at: c.txSlots + Int(at & mask) * VIF.txSlotSize)
                at &+= 1
                guard UInt32(r.id) < slots else { fatal = .badID; break outer }
                guard Int(r.offset) + Int(r.size) <= VIF.pageSize || n == 0 else { fatal = .slotOverflow; break outer }
                guard n < VIF.maxSlotsPerPacket else { fatal = .tooManySlots; break outer }
                chain[n] = r
                n += 1
                if n == 1 && r.flags & VIF.extraInfo != 0 {
                    guard at != prod else { break outer }
                    let e = c.txSlots + Int(at & mask) * VIF.txSlotSize
                    let copy = (e.loadUnaligned(as: UInt64.self), e.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
                    at &+= 1
                    haveExtra = true
                    extra = withUnsafeBytes(of: copy) { VIFExtraGSO(at: $0.baseAddress!) }
                    guard let x = extra, x.type == VIF.gsoTCPv4 || x.type == VIF.gsoTCPv6, x.size > 0 else { fatal = .badExtra; break outer }
                }
                if r.flags & VIF.moreData == 0 { break }
            }
            // Credit-based scheduling (xenvif_tx_build_gops): a packet over the credit left
            // stays on the ring, unconsumed, until the timeout gives more.
            if creditBytes != 0 {
                let size = UInt64(chain[0].size)
                if size > remainingCredit && creditExceeded(size, now: now) { break }
                remainingCredit &-= min(size, remainingCredit)
            }
            c.txReqCons = at
            // Sizes: the first slot carries the packet's; its own part is what the others leave.
            var total = Int(chain[0].size)
            var rest = 0
            for k in 1..<max(n, 1) where k < n { rest += Int(chain[k].size) }
            let firstLen = total - rest
            guard total >= 14, total <= VIF.maxPacket else { fatal = total > VIF.maxPacket ? .tooBig : .badSize; break }
            guard firstLen > 0, Int(chain[0].offset) + firstLen <= VIF.pageSize else { fatal = firstLen <= 0 ? .badSize : .slotOverflow; break }
            guard let p = pool.alloc() else {
                count(.noBuffer)
                for k in 0..<n { respond(chain[k].id, VIF.statusDropped) }
                if haveExtra { respond(0, VIF.statusNull) }
                continue
            }
            let dst = pool.data(p)
            var off = 0, refused = false
            for k in 0..<n {
                let r = chain[k]
                let len = k == 0 ? firstLen : Int(r.size)
                switch c.grants.begin(r.gref, write: false, dataPages: c.layout.dataPages) {
                case .success(let a):
                    if Int(r.offset) >= a.offset && Int(r.offset) + len <= a.offset + a.length {
                        (dst + off).copyMemory(from: c.data + a.page * VIF.pageSize + Int(r.offset), byteCount: len)
                    } else { refused = true }
                    c.grants.end(r.gref, write: false)
                case .failure:
                    refused = true
                }
                off += len
            }
            total = off
            for k in 0..<n { respond(chain[k].id, refused ? VIF.statusError : VIF.statusOkay) }
            if haveExtra { respond(0, VIF.statusNull) }                      // no request: the frontend skips it
            if refused { count(.grantRefused); pool.free(p); continue }
            let m = pool.meta(p)
            m.pointee.length = UInt32(total)
            m.pointee.ifindex = dev.ifindex
            if chain[0].flags & VIF.dataValidated != 0 { m.pointee.csum = .unnecessary }
            if chain[0].flags & VIF.csumBlank != 0 || extra != nil {
                guard Self.setupPartialChecksum(pool, p) else { count(.badExtra); pool.free(p); continue }
            }
            if let x = extra {
                m.pointee.gsoType = x.type == VIF.gsoTCPv4 ? .tcpv4 : .tcpv6
                m.pointee.gsoSize = x.size
            }
            batch.append(p)
            got += 1
        }
        if c.txRspProd != oldRsp {
            c.tx.rspProd = c.txRspProd
            if VIF.needsNotify(new: c.txRspProd, old: oldRsp, event: c.tx.rspEvent) { notifyFront(c) }
        }
        conn = c
        if let fatal {
            count(fatal)
            disconnect("frontend broke the ring: \(fatal.name)")
            dp.driverFailedQuietly(dev)
            return got
        }
        // Frames that waited for rx requests may go now.
        if !pending.isEmpty { deliver(dp, dev) }
        return got
    }

    /// skb_checksum_setup for a checksum-blank frame: the checksum field of its TCP or UDP
    /// header (IPv4 or IPv6, no extension headers) becomes CHECKSUM_PARTIAL; false if the frame
    /// is not one of those.
    static func setupPartialChecksum(_ pool: PacketPool, _ p: borrowing Packet) -> Bool {
        let m = pool.meta(p)
        guard let t = InetWire.transportChecksum(pool.data(p), length: Int(m.pointee.length)) else { return false }
        m.pointee.csum = .partial
        m.pointee.csumStart = UInt16(t.start)
        m.pointee.csumOffset = UInt16(t.offset)
        if let end = t.headerEnd { m.pointee.hdrLen = UInt16(end) }
        return true
    }

    // MARK: guest rx (Sluice → frontend)

    override func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        guard conn != nil else {
            dev.stats.txDropped &+= UInt64(batch.count)
            dev.drop(.devDown, UInt64(batch.count))
            batch.freeAll(dp.pool)
            return
        }
        let pool = dp.pool
        let limit = max(dev.txQueueLen, 1), byteLimit = rxQueueMax
        var dropped: UInt64 = 0
        admitted = 0
        // What qdisc_run admitted fits; a device without a queue (noqueue) hands over more than
        // that, and what finds the queue full is dropped, as xenvif_start_xmit drops it.
        batch.drain { p in
            if pending.count >= limit || pendingBytes >= byteLimit { dropped &+= 1; pool.free(p) } else {
                pendingBytes += Int(pool.metas[Int(p.index)].length)
                pending.push(p, pool)
            }
        }
        if dropped > 0 { count(.queueFull, dropped); dev.stats.txDropped &+= dropped; dev.drop(.txBusy, dropped) }
        deliver(dp, dev)
    }

    /// Copies waiting packets into the frontend's posted rx pages, as far as they go.
    func deliver(_ dp: Datapath, _ dev: NetDevice) {
        guard var c = conn else { return }
        let slots = UInt32(c.layout.ringSlots), mask = slots - 1
        let pool = dp.pool
        let oldRsp = c.rxRspProd
        var fatal = false
        var sent: UInt64 = 0, bytes: UInt64 = 0
        let gsoOK = Self.features(c.layout.features)
        while let idx = pending.peekIndex {
            let meta = pool.metas[Int(idx)]
            let len = Int(meta.length)
            let gso = meta.gsoType.contains(.tcpv4) ? VIF.gsoTCPv4 : meta.gsoType.contains(.tcpv6) ? VIF.gsoTCPv6 : 0
            // What the frontend did not negotiate never reaches it (features follow the
            // handshake); a frame that slipped through anyway is dropped, not mangled.
            if (gso == VIF.gsoTCPv4 && !gsoOK.contains(.tso)) || (gso == VIF.gsoTCPv6 && !gsoOK.contains(.tso6))
                || (gso == 0 && !meta.gsoType.isEmpty) || (meta.csum == .partial && !gsoOK.contains(.hwCsum)) {
                if let p = pending.pop(pool) { pool.free(p) }
                pendingBytes -= len
                dev.stats.txDropped &+= 1; dev.drop(.gsoUnsupported)
                continue
            }
            let pages = UInt32((len + VIF.pageSize - 1) / VIF.pageSize)
            let need = pages + (gso != 0 ? 1 : 0)
            var prod = c.rx.reqProd
            if prod &- c.rxReqCons > slots { fatal = true; break }
            if prod &- c.rxReqCons < need {
                // Ask to be told when enough requests are there, then look again.
                c.rx.reqEvent = c.rxReqCons &+ need
                prod = c.rx.reqProd
                if prod &- c.rxReqCons > slots { fatal = true; break }
                if prod &- c.rxReqCons < need { break }
            }
            guard let p = pending.pop(pool) else { break }
            pendingBytes -= len
            let src = pool.data(p)
            var off = 0, failed = false
            var firstFlags: UInt16 = 0
            if meta.csum == .partial { firstFlags |= VIF.rxCsumBlank | VIF.rxDataValidated }
            else if meta.csum == .unnecessary { firstFlags |= VIF.rxDataValidated }
            if gso != 0 { firstFlags |= VIF.extraInfo }
            var k = 0
            while k < Int(need) {
                let req = VIFRxRequest(at: c.rxSlots + Int(c.rxReqCons & mask) * VIF.rxSlotSize)
                let id = req.id, gref = req.gref
                c.rxReqCons &+= 1
                let r = c.rxSlots + Int(c.rxRspProd & mask) * VIF.rxSlotSize
                c.rxRspProd &+= 1
                if k == 1 && gso != 0 {
                    // The extra-info slot (netif_extra_info, GSO) takes this request's place.
                    VIFExtraGSO(size: meta.gsoSize, type: gso).store(to: r)
                    k += 1
                    continue
                }
                let chunk = min(VIF.pageSize, len - off)
                var status = Int16(chunk)
                switch c.grants.begin(gref, write: true, dataPages: c.layout.dataPages) {
                case .success(let a) where a.length >= chunk:
                    (c.data + a.page * VIF.pageSize + a.offset).copyMemory(from: src + off, byteCount: chunk)
                    c.grants.end(gref, write: true)
                case .success:
                    c.grants.end(gref, write: true)
                    status = VIF.statusError; failed = true; count(.grantRefused)
                case .failure(let why):
                    status = VIF.statusError; failed = true; count(why == .readOnly ? .grantReadOnly : .grantRefused)
                }
                var flags: UInt16 = off + chunk < len ? VIF.rxMoreData : 0
                if k == 0 { flags |= firstFlags }
                VIFRxResponse(id: id, offset: 0, flags: flags, status: status).store(to: r)
                off += chunk
                k += 1
            }
            if failed { dev.stats.txErrors &+= 1 } else { sent &+= 1; bytes &+= UInt64(len) }
            pool.free(p)
        }
        dev.stats.txPackets &+= sent
        dev.stats.txBytes &+= bytes
        if c.rxRspProd != oldRsp {
            c.rx.rspProd = c.rxRspProd
            if VIF.needsNotify(new: c.rxRspProd, old: oldRsp, event: c.rx.rspEvent) { notifyFront(c) }
        }
        conn = c
        if stopped && pendingBytes < rxQueueMax {
            stopped = false
            dp.kickTransmit(dev)                        // netif_tx_wake_queue
        }
        if fatal {
            count(.rxProdJump)
            disconnect("frontend broke the ring: \(Reason.rxProdJump.name)")
            dp.driverFailedQuietly(dev)
        }
    }
}

extension Datapath {
    /// `link add NAME type vif`: a virtual NIC's backend, disconnected until a frontend connects.
    public func addVif(name: String, mac: MACAddress? = nil, mtu: Int = 1500) throws(SluiceError) -> NetDevice {
        let m = mac ?? .local(seed: stableHash(name) ^ 0x5F)
        let dev = NetDevice(name: name, kind: "vif", mac: m, mtu: mtu, driver: VifDriver())
        return try register(dev)
    }

    /// The frontend's handshake for the vif named in `payload` (16 bytes of name, then the
    /// layout header); `fds`: memfd, frontend→backend eventfd, backend→frontend eventfd.
    func connectVif(payload: [UInt8], fds: [Int32], owner: Int32) throws(SluiceError) {
        guard fds.count == 3, payload.count >= 16 + VIFLayout.headerBytes else {
            for f in fds { Glibc.close(f) }
            throw SluiceError("vif: the connect request needs the interface name, the layout header and three file descriptors")
        }
        let name = String(decoding: payload[0..<16].prefix { $0 != 0 }, as: UTF8.self)
        guard let dev = device(named: name), let v = dev.driver as? VifDriver else {
            for f in fds { Glibc.close(f) }
            throw SluiceError("vif: no device \"\(name)\" of type vif (link add \(name) type vif)")
        }
        try v.connect(header: Array(payload[16...]), memfd: fds[0], fromFront: fds[1], toFront: fds[2], owner: owner)
    }

    /// Connects a frontend that lives in this process (an embedding program, a benchmark):
    /// `memfd` holds its layout and rings, `toBackend` is the eventfd it writes to wake the vif,
    /// `toFrontend` the one the vif writes. Takes the fds (closed on failure or disconnect).
    public func connectVif(named name: String, memfd: Int32, toBackend: Int32, toFrontend: Int32) throws(SluiceError) {
        var header = [UInt8](repeating: 0, count: VIFLayout.headerBytes)
        let n = header.withUnsafeMutableBytes { pread(memfd, $0.baseAddress, $0.count, 0) }
        var payload = [UInt8](repeating: 0, count: 16)
        for (i, b) in name.utf8.prefix(15).enumerated() { payload[i] = b }
        try connectVif(payload: payload + (n == header.count ? header : []), fds: [memfd, toBackend, toFrontend], owner: -1)
    }

    /// The control socket `owner` closed: the frontends it connected are gone.
    func disconnectVifs(owner: Int32) {
        for case let d? in devices {
            if let v = d.driver as? VifDriver, let c = v.conn, c.owner == owner { v.disconnect("the frontend's control socket closed") }
        }
    }

    /// A driver's wait fd changed (a vif connected or disconnected).
    func driverFDChanged(_ dev: NetDevice, old: Int32, new: Int32) {
        if old >= 0 { _ = csl_epoll_del(epfd, old) }
        if new >= 0 { _ = csl_epoll_add(epfd, new, UInt64(dev.ifindex)) }
    }

    /// After a vif disconnected itself (carrier off: NAPI lets it go after this poll).
    func driverFailedQuietly(_ dev: NetDevice) {
        parentStateChanged(dev, adminChanged: false)
    }
}
