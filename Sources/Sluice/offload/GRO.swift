#if canImport(Glibc)
import Glibc
#endif

/// Principles
/// ----------
/// Generic receive offload as net/core/gro.c, net/ipv4/tcp_offload.c, udp_offload.c and
/// net/ipv6/ip6_offload.c do it: consecutive segments of one TCP flow (or one UDP flow, when the
/// device forwards UDP GRO) received in one NAPI poll become one GSO super-frame, so everything
/// after receive — bridge, tc, the egress driver — handles one packet instead of up to 64.
///
/// What merges is exactly what the kernel merges, and nothing else:
/// - the same flow: same link-layer header (MACs, tag), addresses, protocol, ports, IPv6 flow label;
/// - the same IPv4 TTL, TOS and DF (IPv6 traffic class and hop limit); the IPv4 ID incrementing
///   by one per segment, or fixed when the flow's second segment repeats it with DF set
///   (SKB_GSO_TCP_FIXEDID);
/// - TCP: contiguous sequence numbers, the same ACK number, window, data offset and options,
///   no flag but ACK/PSH/FIN/CWR differing, no CWR on a later segment, no segment longer than
///   the first (its length is the aggregate's gso_size); SYN, RST, URG, PSH, FIN or a shorter
///   segment end the aggregate after merging;
/// - UDP: no segment longer than the first, a shorter one ends it, a zero checksum never merges;
/// - checksum verified (or marked valid by the device) before merging; no IP options, IPv6
///   extension headers, fragments or link-layer padding;
/// - at most `maxSize` bytes of IP datagram (gro_max_size) and 64 segments per aggregate.
/// A segment of a held flow that cannot merge ends that flow first (so a flow's order is kept,
/// which the kernel does not always do), then starts a new aggregate or passes alone.
///
/// The GRO list lives for one NAPI poll: every aggregate is completed at the end of the poll
/// (napi_complete), so one engine per datapath serves every device's poll in turn — unless the
/// device has gro_flush_timeout, when a poll that completes keeps the aggregates of the current
/// jiffy on the device (gro_flush_old) and the next poll starts with them. Aggregates
/// stay in the slot of their first segment; merged segments leave the batch, their payload
/// copied behind the first one's (the pool's buffers hold 64 KiB; the kernel chains pages
/// instead). A completed aggregate of n > 1 segments is CHECKSUM_PARTIAL with GSO type, size
/// and header length set, IP lengths and checksum fixed, exactly what software GSO takes apart
/// again (tcp4_gro_complete, udp_gro_complete, inet_gro_complete).
final class GRO {
    /// MAX_GRO_SKBS: aggregates held at once; a new flow beyond it completes the oldest.
    static let maxFlows = 8
    /// Segments per aggregate (UDP_GRO_CNT_MAX; TCP's is bounded the same way here).
    static let maxSegments = 64

    struct Flow {
        var head: UInt32 = 0
        var hash: UInt32 = 0
        var l3: Int = 0, l4: Int = 0, payload: Int = 0
        /// Bytes of IP datagram held (IPv4 total length / IPv6 header + payload).
        var ipLength: Int = 0
        /// The first segment's payload length: the aggregate's gso_size.
        var mss: Int = 0
        var count: Int = 1
        var nextSeq: UInt32 = 0
        var firstID: UInt16 = 0
        var fixedID = false
        var isTCP = true, isIPv4 = true
        /// NAPI_GRO_CB(skb)->age: the jiffy the aggregate's first segment came in.
        var age: UInt64 = 0
    }

    /// jiffies at Debian's HZ=250, for the age of held aggregates.
    @inline(__always)
    static func jiffy(_ now: UInt64) -> UInt64 { now / (4 * Time.ms) }

    let flows: UnsafeMutablePointer<Flow>
    var count = 0
    let pool: PacketPool

    init(pool: PacketPool) {
        self.pool = pool
        flows = .allocate(capacity: Self.maxFlows)
        flows.initialize(repeating: Flow(), count: Self.maxFlows)
    }

    deinit { flows.deallocate() }

    /// GRO over one poll's batch from `dev`: merged segments leave the batch. Aggregates the
    /// device held from its last poll (gro_flush_timeout) come first, as they came first, and
    /// take this poll's segments of their flows. At the end every aggregate is completed, or
    /// with `hold` (the poll is about to complete with gro_flush_timeout set: napi_complete_done's
    /// gro_flush_normal(…, flush_old)) only those older than the current jiffy; the others leave
    /// the batch and stay held on the device for its next poll.
    func run(_ dev: NetDevice, _ batch: inout PacketBatch, hold: Bool = false, now: UInt64 = 0) {
        let udp = dev.activeFeatures.contains(.udpGROForwarding)
        let maxSize = dev.groMaxSize
        age = Self.jiffy(now)
        let preloaded = load(dev, into: &batch)
        var i = 0
        batch.compact { idx in
            i += 1
            return i <= preloaded || receive(idx, dev, udp: udp, maxSize: maxSize)
        }
        if count > 0 { heldAtPollEnd = true }
        finish(dev, &batch, keepYoung: hold)
    }

    /// The device's held aggregates into the list, their heads at the front of the batch.
    private func load(_ dev: NetDevice, into batch: inout PacketBatch) -> Int {
        let k = dev.groHeldCount
        guard k > 0, let held = dev.groHeld else { return 0 }
        let n = min(k, PacketBatch.capacity - batch.count)
        batch.prepend(count: n) { held[$0].head }
        for j in 0..<n { flows[j] = held[j] }
        count = n
        dev.groHeldCount = 0
        return n
    }

    /// Completes the aggregates, or with `keepYoung` those of an earlier jiffy (gro_flush_old),
    /// keeping the rest on the device, out of the batch.
    private func finish(_ dev: NetDevice, _ batch: inout PacketBatch, keepYoung: Bool) {
        if keepYoung {
            var j = 0
            while j < count {
                if flows[j].age != age { complete(j, dev, .pollEnd) } else { j += 1 }
            }
            if count > 0 {
                let held = dev.groHeld ?? {
                    let p = UnsafeMutablePointer<Flow>.allocate(capacity: Self.maxFlows)
                    p.initialize(repeating: Flow(), count: Self.maxFlows)
                    dev.groHeld = p
                    return p
                }()
                for j in 0..<count { held[j] = flows[j] }
                dev.groHeldCount = count
                let c = count
                batch.compact { idx in
                    for j in 0..<c where held[j].head == idx { return false }
                    return true
                }
                count = 0
            }
        }
        while count > 0 { complete(0, dev, .pollEnd) }
    }

    /// A poll that received nothing (a timer's, or the end of a busy window): the device's
    /// held aggregates into `batch`, completed — all of them, or (`keepYoung`) those of an
    /// earlier jiffy, the others staying held. The batch then goes up the stack as received.
    func flushHeld(_ dev: NetDevice, _ batch: inout PacketBatch, keepYoung: Bool, now: UInt64) {
        age = Self.jiffy(now)
        _ = load(dev, into: &batch)
        finish(dev, &batch, keepYoung: keepYoung)
    }

    /// Frees what a device holds (it went down or away).
    func dropHeld(_ dev: NetDevice) -> Int {
        let k = dev.groHeldCount
        guard k > 0, let held = dev.groHeld else { return 0 }
        for j in 0..<k { pool.free(Packet(index: held[j].head)) }
        dev.groHeldCount = 0
        return k
    }

    /// The current poll's jiffy (the age new aggregates get).
    private var age: UInt64 = 0

    /// The last poll's GRO list still held a flow when the poll ended (the kernel's
    /// napi->gro.bitmask at napi_complete_done): gro_flush_timeout then arms the queue's timer.
    var heldAtPollEnd = false

    // MARK: LRO

    /// Large receive offload as the kernel's inet_lro did (net/ipv4/inet_lro.c, removed in
    /// 4.x), for contrast with GRO: TCP over IPv4 only, descriptors matched by addresses and
    /// ports alone; TTL, TOS, DF and the IP ID are not looked at; ACK number, window and the
    /// timestamp echo may differ, the aggregate keeps the *last* segment's; PSH merges. A
    /// segment out of sequence or failing lro_tcp_ip_check ends its flow's aggregate and
    /// passes alone. An aggregate ends at `max_aggr` segments or 0xFFFF − MTU bytes, or at the
    /// end of the poll (lro_flush_all). Because the merged header carries the last segment's
    /// ACK/window/TS and any IDs, segmenting an LRO aggregate does not give back the segments
    /// that went in — the reason the kernel turns LRO off on bridged and forwarding devices.
    func runLRO(_ dev: NetDevice, _ batch: inout PacketBatch) {
        let maxAggr = dev.lroMaxAggr, maxDesc = min(dev.lroMaxDesc, Self.maxFlows)
        let limit = 0xFFFF - dev.mtu
        batch.compact { idx in receiveLRO(idx, dev, maxAggr: maxAggr, maxDesc: maxDesc, limit: limit) }
        while count > 0 { complete(0, dev, .pollEnd) }
    }

    /// lro_tcp_ip_check: a segment LRO may start or extend an aggregate with.
    @inline(__always)
    private func lroEligible(_ f: TransportFrame, _ m: UnsafeMutablePointer<PacketMeta>) -> Bool {
        guard f.isIPv4, f.isTCP, !f.hasIPOptions, !f.isFragment, f.trailerLength == 0, f.payloadLength > 0 else { return false }
        let b = f.bytes, t = f.l4
        let flags = b.u8(t + 13)
        if flags & (TCPHeader.cwr | TCPHeader.ece | TCPHeader.urg | TCPHeader.rst | TCPHeader.syn | TCPHeader.fin) != 0 || flags & TCPHeader.ack == 0 { return false }
        if b.u8(f.l3 + 1) & 0x3 == 0x3 { return false }           // ECN CE
        let thlen = f.payload - t
        if thlen != 20 && thlen != 32 { return false }
        if thlen == 32 && (b.u32(t + 20) != 0x0101_080A || b.u32(t + 28) == 0) { return false }
        return f.ipv4.checksumValid && checksumValid(f, m)
    }

    private func receiveLRO(_ idx: UInt32, _ dev: NetDevice, maxAggr: Int, maxDesc: Int, limit: Int) -> Bool {
        let m = pool.metas + Int(idx)
        let b = Bytes(pool.data(Packet(index: idx)), count: Int(m.pointee.length))
        guard m.pointee.gsoType.isEmpty, let f = try? TransportFrame.parse(b), f.isIPv4, f.isTCP else { return true }
        // lro_get_desc: same addresses and ports, nothing else.
        var held = -1
        for i in 0..<count {
            let h = Bytes(pool.data(Packet(index: flows[i].head)), count: flows[i].payload)
            let fl = flows[i]
            if fl.isIPv4 && fl.isTCP && fl.l3 == f.l3 && h.u32(fl.l3 + 12) == b.u32(f.l3 + 12)
                && h.u32(fl.l3 + 16) == b.u32(f.l3 + 16) && h.u32(fl.l4) == b.u32(f.l4) { held = i; break }
        }
        let len = f.payloadLength
        if held >= 0 {
            let fl = flows[held]
            let h = Bytes(pool.data(Packet(index: fl.head)), count: fl.payload)
            var ok = b.u32(f.l4 + 4) == fl.nextSeq && lroEligible(f, m) && fl.payload - fl.l4 == f.payload - f.l4
            // timestamps in order (tsval not older than the aggregate's)
            if ok && f.payload - f.l4 == 32 && Int32(bitPattern: h.u32(fl.l4 + 24) &- b.u32(f.l4 + 24)) > 0 { ok = false }
            if ok && fl.l3 + fl.ipLength + len > pool.tailroom(Packet(index: fl.head)) { ok = false }
            guard ok else {
                complete(held, dev, .sequence)
                return true
            }
            merge(held, f, idx, len: len, flags: 0)
            dev.groMerged &+= 1
            // lro_add_common: the aggregate takes the newest ACK, window and TS echo; its gso_size is
            // the largest segment.
            h.setU32(fl.l4 + 8, b.u32(f.l4 + 8))
            h.setU16(fl.l4 + 14, b.u16(f.l4 + 14))
            if f.payload - f.l4 == 32 { h.setU32(fl.l4 + 28, b.u32(f.l4 + 28)) }
            if len > fl.mss { flows[held].mss = len }
            if flows[held].count >= maxAggr { complete(held, dev, .segmentLimit) }
            else if flows[held].ipLength > limit { complete(held, dev, .sizeLimit) }
            return false
        }
        guard count < maxDesc, lroEligible(f, m), pool.isExclusive(Packet(index: idx)) else { return true }
        flows[count] = Flow(head: idx, hash: 0, l3: f.l3, l4: f.l4, payload: f.payload, ipLength: f.end - f.l3, mss: len,
                            count: 1, nextSeq: b.u32(f.l4 + 4) &+ UInt32(len), firstID: b.u16(f.l3 + 4), fixedID: false,
                            isTCP: true, isIPv4: true)
        count += 1
        return true
    }

    /// One segment: true when it stays in the batch (alone or as the head of an aggregate),
    /// false when it was merged into an earlier one and freed.
    @inline(__always)
    private func receive(_ idx: UInt32, _ dev: NetDevice, udp: Bool, maxSize: Int) -> Bool {
        let m = pool.metas + Int(idx)
        let data = pool.data(Packet(index: idx))
        let b = Bytes(data, count: Int(m.pointee.length))
        let f: TransportFrame
        do {
            guard let t = try TransportFrame.parse(b) else { dev.groCount(.notEligible); return true }
            f = t
        } catch {
            dev.groCount(GROReason(error))
            return true
        }
        let hash = flowHash(f)
        let held = find(f, hash: hash, meta: m.pointee)

        // Per-segment conditions: the segment cannot be merged at all (the kernel's
        // NAPI_GRO_CB(skb)->flush). A held aggregate of its flow is completed first.
        var alone: GROReason?
        if !f.isTCP && !udp { alone = .notEligible }
        else if !m.pointee.gsoType.isEmpty { alone = .alreadyGSO }
        else if f.isFragment { alone = .fragment }
        else if f.hasIPOptions { alone = f.isIPv4 ? .ipOptions : .ipv6ExtHeaders }
        else if f.trailerLength != 0 { alone = .padding }
        else if f.isIPv4 && !f.ipv4.checksumValid { alone = .badChecksum }
        else if !f.isTCP && f.bytes.u16(f.l4 + UDPHeader.checksumOffset) == 0 { alone = .udpZeroChecksum }
        else if !checksumValid(f, m) { alone = .badChecksum }
        if let r = alone {
            dev.groCount(r)
            if held >= 0 { complete(held, dev, r) }
            return true
        }

        let len = f.payloadLength
        let flags = f.isTCP ? f.bytes.u8(f.l4 + 13) : 0
        if held >= 0 {
            if let r = cannotMerge(held, f, len: len, flags: flags, maxSize: maxSize) {
                complete(held, dev, r)
            } else {
                merge(held, f, idx, len: len, flags: flags)
                dev.groMerged &+= 1
                let fl = flows[held]
                if f.isTCP && flags & (TCPHeader.urg | TCPHeader.psh | TCPHeader.rst | TCPHeader.syn | TCPHeader.fin) != 0 {
                    complete(held, dev, .tcpFlags)
                } else if len < fl.mss {
                    complete(held, dev, .lastSegment)
                } else if fl.count >= Self.maxSegments {
                    complete(held, dev, .segmentLimit)
                }
                return false
            }
        }
        // A new aggregate, unless this segment would end one at once (no payload, or a flag
        // that flushes): then it passes alone, as tcp_gro_receive's out_check_final.
        if len == 0 { return true }
        if f.isTCP && flags & (TCPHeader.urg | TCPHeader.psh | TCPHeader.rst | TCPHeader.syn | TCPHeader.fin) != 0 { return true }
        guard pool.isExclusive(Packet(index: idx)) else { dev.groCount(.notWritable); return true }
        if count == Self.maxFlows { complete(0, dev, .tableFull) }
        let ip = f.end - f.l3
        flows[count] = Flow(head: idx, hash: hash, l3: f.l3, l4: f.l4, payload: f.payload, ipLength: ip, mss: len,
                            count: 1, nextSeq: f.isTCP ? f.bytes.u32(f.l4 + 4) &+ UInt32(len) : 0,
                            firstID: f.isIPv4 ? f.bytes.u16(f.l3 + 4) : 0, fixedID: false,
                            isTCP: f.isTCP, isIPv4: f.isIPv4, age: age)
        count += 1
        return true
    }

    /// The checksum is known good: the device verified it (CHECKSUM_UNNECESSARY), the sender's
    /// stack will fill it in (CHECKSUM_PARTIAL at this transport header), or it verifies here
    /// (skb_gro_checksum_validate on CHECKSUM_NONE).
    @inline(__always)
    private func checksumValid(_ f: TransportFrame, _ m: UnsafeMutablePointer<PacketMeta>) -> Bool {
        switch m.pointee.csum {
        case .unnecessary: return true
        case .partial:
            return Int(m.pointee.csumStart) == f.l4
                && Int(m.pointee.csumOffset) == (f.isTCP ? TCPHeader.checksumOffset : UDPHeader.checksumOffset)
        case .none: return f.verifyL4Checksum() == 0
        }
    }

    @inline(__always)
    private func flowHash(_ f: TransportFrame) -> UInt32 {
        let b = f.bytes
        var h = b.u32(f.l4)                       // ports
        if f.isIPv4 {
            h ^= b.u32(f.l3 + 12) &* 0x9E37_79B1
            h ^= b.u32(f.l3 + 16) &* 0x85EB_CA77
        } else {
            for i in stride(from: 8, to: 40, by: 4) { h = (h ^ b.u32(f.l3 + i)) &* 0x9E37_79B1 }
        }
        return h ^ (f.isTCP ? 6 : 17)
    }

    /// The held aggregate of `f`'s flow (dev_gro_receive's same_flow, then the L3 and L4
    /// same-flow checks), or -1.
    @inline(__always)
    private func find(_ f: TransportFrame, hash: UInt32, meta: PacketMeta) -> Int {
        var i = 0
        while i < count {
            let fl = flows[i]
            if fl.hash == hash, fl.l3 == f.l3, fl.l4 == f.l4, fl.isTCP == f.isTCP, fl.isIPv4 == f.isIPv4 {
                let hm = pool.metas[Int(fl.head)]
                let h = pool.data(Packet(index: fl.head))
                let b = f.bytes
                if hm.vlanPresent == meta.vlanPresent, !meta.vlanPresent || hm.vlanTCI == meta.vlanTCI,
                   memcmp(h, b.base, f.l3) == 0, sameNetworkFlow(h, f), h.loadUnaligned(fromByteOffset: fl.l4, as: UInt32.self) == b.base.loadUnaligned(fromByteOffset: f.l4, as: UInt32.self) {
                    return i
                }
            }
            i += 1
        }
        return -1
    }

    @inline(__always)
    private func sameNetworkFlow(_ h: UnsafeMutableRawPointer, _ f: TransportFrame) -> Bool {
        let b = f.bytes.base + f.l3
        let a = h + f.l3
        if f.isIPv4 {
            // protocol, then source and destination addresses
            return a.load(fromByteOffset: 9, as: UInt8.self) == b.load(fromByteOffset: 9, as: UInt8.self)
                && memcmp(a + 12, b + 12, 8) == 0
        }
        // version and flow label (not the traffic class), next header, addresses
        let w1 = UInt32(bigEndian: a.loadUnaligned(as: UInt32.self)), w2 = UInt32(bigEndian: b.loadUnaligned(as: UInt32.self))
        return (w1 ^ w2) & 0xF00F_FFFF == 0
            && a.load(fromByteOffset: 6, as: UInt8.self) == b.load(fromByteOffset: 6, as: UInt8.self)
            && memcmp(a + 8, b + 8, 32) == 0
    }

    /// Why segment `f` (payload `len`) cannot join aggregate `i`, or nil: inet_gro_flush /
    /// ipv6_gro_flush, then tcp_gro_receive's or udp_gro_receive_segment's rules.
    @inline(__always)
    private func cannotMerge(_ i: Int, _ f: TransportFrame, len: Int, flags: UInt8, maxSize: Int) -> GROReason? {
        let fl = flows[i]
        let h = Bytes(pool.data(Packet(index: fl.head)), count: fl.payload)
        let b = f.bytes
        if f.isIPv4 {
            let l3 = f.l3
            // TTL, TOS, DF: all fields must match except length, ID and checksum.
            if h.u8(l3 + 8) != b.u8(l3 + 8) || h.u8(l3 + 1) != b.u8(l3 + 1)
                || (h.u16(l3 + 6) ^ b.u16(l3 + 6)) & 0x4000 != 0 { return .ipHeader }
            let offset = b.u16(l3 + 4) &- fl.firstID
            if fl.count == 1 && offset == 0 && b.u16(l3 + 6) & 0x4000 != 0 {
                flows[i].fixedID = true
            }
            if offset != (flows[i].fixedID ? 0 : UInt16(truncatingIfNeeded: fl.count)) { return .ipID }
        } else {
            let l3 = f.l3
            if (h.u32(l3) ^ b.u32(l3)) & 0x0FF0_0000 != 0 || h.u8(l3 + 7) != b.u8(l3 + 7) { return .ipHeader }
        }
        if f.isTCP {
            let t = fl.l4, u = f.l4
            let w1 = h.u32(t + 12), w2 = b.u32(u + 12)
            if flags & TCPHeader.cwr != 0 { return .tcpFlags }
            // data offset, reserved bits and every flag but CWR, FIN and PSH must match
            if (w1 ^ w2) & 0xFFFF_0000 & ~(UInt32(TCPHeader.cwr | TCPHeader.fin | TCPHeader.psh) << 16) != 0 { return .tcpFlags }
            if w1 & 0xFFFF != w2 & 0xFFFF { return .window }
            if h.u32(t + 8) != b.u32(u + 8) { return .ackNumber }
            let thlen = fl.payload - fl.l4
            if thlen > TCPHeader.minLength, memcmp(h.base + t + 20, b.base + u + 20, thlen - 20) != 0 { return .tcpOptions }
            if len == 0 || len > fl.mss { return .segmentSize }
            if b.u32(u + 4) != fl.nextSeq { return .sequence }
        } else {
            if len > fl.mss { return .segmentSize }
        }
        if fl.ipLength + len >= maxSize { return .sizeLimit }
        // The aggregate's bytes must stay inside the head's buffer.
        if fl.l3 + fl.ipLength + len > pool.tailroom(Packet(index: fl.head)) { return .sizeLimit }
        return nil
    }

    /// skb_gro_receive: the segment's payload goes behind the aggregate's; the segment is freed.
    @inline(__always)
    private func merge(_ i: Int, _ f: TransportFrame, _ idx: UInt32, len: Int, flags: UInt8) {
        let fl = flows[i]
        let head = Packet(index: fl.head)
        let hd = pool.data(head)
        (hd + fl.l3 + fl.ipLength).copyMemory(from: f.bytes.base + f.payload, byteCount: len)
        flows[i].ipLength += len
        flows[i].count += 1
        pool.metas[Int(fl.head)].length = UInt32(fl.l3 + fl.ipLength + len)
        if f.isTCP {
            flows[i].nextSeq = fl.nextSeq &+ UInt32(len)
            // tcp_flag_word(th2) |= flags & (FIN | PSH)
            let fo = fl.l4 + 13
            hd.storeBytes(of: hd.load(fromByteOffset: fo, as: UInt8.self) | (flags & (TCPHeader.fin | TCPHeader.psh)),
                          toByteOffset: fo, as: UInt8.self)
        }
        pool.free(Packet(index: idx))
    }

    /// napi_gro_complete: the aggregate at `i` leaves the list, finished as a GSO frame if it
    /// holds more than one segment (a single segment goes up untouched).
    private func complete(_ i: Int, _ dev: NetDevice, _ reason: GROReason) {
        let fl = flows[i]
        for k in i..<(count - 1) { flows[k] = flows[k + 1] }
        count -= 1
        if reason != .pollEnd || fl.count > 1 { dev.groCount(reason) }
        guard fl.count > 1 else { return }
        dev.groAggregates &+= 1
        let head = Packet(index: fl.head)
        let m = pool.metas + Int(fl.head)
        let len = Int(m.pointee.length)
        let b = Bytes(pool.data(head), count: len)
        let l4len = len - fl.l4
        if fl.isIPv4 {
            b.setU16(fl.l3 + 2, UInt16(fl.ipLength))
            IPv4Header(unchecked: b.suffix(from: fl.l3)).updateChecksum()
        } else {
            b.setU16(fl.l3 + 4, UInt16(fl.ipLength - IPv6Header.length))
        }
        var type: GSOType
        if fl.isTCP {
            type = fl.isIPv4 ? .tcpv4 : .tcpv6
            if b.u8(fl.l4 + 13) & TCPHeader.cwr != 0 { type.insert(.tcpECN) }
            if fl.fixedID { type.insert(.fixedID) }
        } else {
            type = .udpL4
            b.setU16(fl.l4 + 4, UInt16(l4len))
        }
        // The offsets are the first segment's, validated when it arrived.
        TransportFrame(bytes: b, l3: fl.l3, l4: fl.l4, payload: fl.payload, end: len, isIPv4: fl.isIPv4, isTCP: fl.isTCP,
                       hasIPOptions: false, isFragment: false).storePartialChecksum(l4Length: l4len)
        m.pointee.gsoType = type
        m.pointee.gsoSize = UInt16(fl.mss)
        m.pointee.hdrLen = UInt16(fl.payload)
        m.pointee.csum = .partial
        m.pointee.csumStart = UInt16(fl.l4)
        m.pointee.csumOffset = UInt16(fl.isTCP ? TCPHeader.checksumOffset : UDPHeader.checksumOffset)
    }
}

/// Why GRO passed a segment alone or completed an aggregate (per device, `link show -s`).
public enum GROReason: Int, CaseIterable, Sendable {
    /// The reason a header that failed validation (TransportFrame.parse) is counted under.
    init(_ e: HeaderError) {
        let header: String
        switch e {
        case .truncated(let h, _, _): header = h
        case .malformed(let h, _): header = h
        }
        switch header {
        case "ethernet", "802.1Q": self = .truncatedL2
        case "ipv4 total length", "ipv6 payload length": self = .badIPLength
        case "ipv4", "ipv4 options": self = .badIPv4Header
        case "ipv6": self = .badIPv6Header
        case "ipv6 extension": self = .badIPv6Extension
        case "tcp", "tcp options": self = .badTCPHeader
        default: self = .badUDPLength
        }
    }

    // A segment that passed alone, never merged:
    case notEligible, alreadyGSO, ipOptions, ipv6ExtHeaders, fragment, padding, badChecksum,
         udpZeroChecksum, notWritable
    // …because its headers do not hold together (bad input):
    case truncatedL2, badIPv4Header, badIPLength, badIPv6Header, badIPv6Extension, badTCPHeader, badUDPLength
    // An aggregate completed:
    case ipHeader, ipID, tcpFlags, window, ackNumber, tcpOptions, segmentSize, sequence, lastSegment,
         sizeLimit, segmentLimit, tableFull, pollEnd

    public var name: String {
        switch self {
        case .notEligible: "not_eligible"
        case .alreadyGSO: "already_gso"
        case .truncatedL2: "truncated_l2"
        case .badIPv4Header: "bad_ipv4_header"
        case .badIPLength: "bad_ip_length"
        case .badIPv6Header: "bad_ipv6_header"
        case .badIPv6Extension: "bad_ipv6_extension"
        case .badTCPHeader: "bad_tcp_header"
        case .badUDPLength: "bad_udp_length"
        case .ipOptions: "ip_options"
        case .ipv6ExtHeaders: "ipv6_ext_headers"
        case .fragment: "fragment"
        case .padding: "padding"
        case .badChecksum: "bad_checksum"
        case .udpZeroChecksum: "udp_zero_checksum"
        case .notWritable: "not_writable"
        case .ipHeader: "ip_header"
        case .ipID: "ip_id"
        case .tcpFlags: "tcp_flags"
        case .window: "window"
        case .ackNumber: "ack"
        case .tcpOptions: "tcp_options"
        case .segmentSize: "segment_size"
        case .sequence: "sequence"
        case .lastSegment: "last_segment"
        case .sizeLimit: "size_limit"
        case .segmentLimit: "segment_limit"
        case .tableFull: "table_full"
        case .pollEnd: "poll_end"
        }
    }
}
