/// Principles (net/ipv4/ip_output.c ip_do_fragment, ip_fragment.c, inet_fragment.c)
/// ----------
/// Fragmentation: a datagram larger than the egress MTU without DF is cut into fragments
/// whose data is a multiple of 8 bytes (the last takes the rest), each with the original
/// header, its own total length, offset and MF (the last keeps the original's MF, so a
/// fragment can be fragmented again), and a fresh checksum; options not marked "copied"
/// become NOPs after the first fragment (ip_options_fragment). Counted as FragOKs/FragCreates.
/// Reassembly, for datagrams addressed to Sluice: fragments are queued per (source,
/// destination, ID, protocol); when the last arrives and no hole is left, the datagram is
/// rebuilt in one buffer and delivered. As the kernel since 4.19, an overlap discards the
/// whole datagram (RFC 5722's rule, applied to IPv4 too); a datagram not complete within
/// ipfrag_time (30 s) is dropped and, if its first fragment came, answered with ICMP time
/// exceeded (fragment reassembly); queued fragments may hold at most ipfrag_high_thresh
/// (4 MiB) and — Sluice's own bound, since every fragment holds a pool buffer — an eighth of
/// the packet pool: beyond either, new fragments are dropped (ReasmFails) until timeouts free
/// room, so a fragment flood cannot starve forwarding of buffers.
struct FragmentKey: Hashable { let src: UInt32, dst: UInt32, id: UInt16, proto: UInt8 }

struct FragmentQueue {
    /// Fragment packets with their byte ranges of the datagram's payload, by offset.
    var pieces: [(start: Int, end: Int, index: UInt32)] = []
    var totalLength = -1          // payload length, known once the last fragment came
    var bytes = 0
    var deadline: UInt64 = 0
    var hasFirst = false
    var dev: Int32 = 0
}

extension IPv4Stack {
    public static let fragTimeout = 30 * Time.s
    public static let fragHighThresh = 4 * 1024 * 1024

    /// ip_do_fragment for a datagram whose IPv4 header starts at offset 14 of `p`; the
    /// fragments go to `out` through the neighbour layer. `p` is freed.
    func fragmentAndSend(_ out: NetDevice, _ nexthop: UInt32, _ p: consuming Packet, ihl: Int, total: Int, nh: Int32) {
        let frame = pool.data(p)
        let ip = frame + InetWire.ethernetLength
        let hdr = IPv4Header(unchecked: Bytes(ip, count: ihl))
        let fragField = hdr.fragmentField
        let baseOffset = Int(fragField & 0x1FFF) * 8
        let originalMF = fragField & 0x2000 != 0
        let chunk = (out.mtu - ihl) & ~7
        guard chunk >= 8 else { stats.fragFails &+= 1; pool.free(p); return }
        let payload = total - ihl
        var done = 0
        var first = true
        while done < payload {
            let len = min(chunk, payload - done)
            let last = done + len >= payload
            guard let q = pool.alloc() else { stats.fragFails &+= 1; break }
            let f = pool.data(q)
            let fip = f + InetWire.ethernetLength
            fip.copyMemory(from: ip, byteCount: ihl)
            if !first && ihl > InetWire.ipv4Length { InetWire.nopUncopiedOptions(fip, ihl: ihl) }
            (fip + ihl).copyMemory(from: ip + ihl + done, byteCount: len)
            let mf = !last || originalMF
            InetWire.setFragment(fip, totalLength: ihl + len, offset: baseOffset + done, moreFragments: mf, dontFragment: false)
            pool.meta(q).pointee.length = UInt32(InetWire.ethernetLength + ihl + len)
            stats.fragCreates &+= 1
            neighOutput(out, nexthop, q, nh: nh)
            done += len
            first = false
        }
        if done >= payload { stats.fragOKs &+= 1 }
        pool.free(p)
    }

    /// ip_defrag: queues a fragment for us; returns the reassembled datagram (a frame with an
    /// Ethernet header, its IPv4 header from the first fragment) once complete, else nil.
    func reassemble(_ dev: NetDevice, _ p: consuming Packet, ihl: Int, total: Int) -> Packet? {
        let now = clock.now
        expireFragments(now)
        let ip = pool.data(p) + InetWire.ethernetLength
        let hdr = IPv4Header(unchecked: Bytes(ip, count: ihl))
        let key = FragmentKey(src: hdr.source, dst: hdr.destination, id: hdr.identification, proto: hdr.proto)
        let start = Int(hdr.fragmentField & 0x1FFF) * 8
        let end = start + total - ihl
        let mf = hdr.fragmentField & 0x2000 != 0
        stats.reasmReqds &+= 1
        // A middle fragment's data must be a multiple of 8 (ip_frag_queue: EINVAL otherwise).
        if (mf && (end - start) % 8 != 0) || end > 65535 || fragMemory + Int(pool.meta(p).pointee.length) > Self.fragHighThresh
            || fragBuffers >= pool.capacity / 8 {
            stats.reasmFails &+= 1; dev.drop(.ipFragment); pool.free(p); return nil
        }
        var q = fragQueues[key] ?? FragmentQueue(deadline: now + Self.fragTimeout, dev: dev.ifindex)
        let discard = { [self] (q: FragmentQueue) in
            for piece in q.pieces { pool.free(Packet(index: piece.index)) }
            fragMemory -= q.bytes
            fragBuffers -= q.pieces.count
            fragQueues[key] = nil
            stats.reasmFails &+= 1
        }
        if !mf {
            // The last fragment: the length is known; a second, different one is corruption.
            if q.totalLength >= 0 && q.totalLength != end { discard(q); dev.drop(.ipFragment); pool.free(p); return nil }
            q.totalLength = end
        } else if q.totalLength >= 0 && end > q.totalLength {
            discard(q); dev.drop(.ipFragment); pool.free(p); return nil
        }
        // Overlaps (or an exact duplicate) discard the datagram (RFC 5722, ip_frag_queue).
        if q.pieces.contains(where: { start < $0.end && $0.start < end }) {
            discard(q); dev.drop(.ipFragment); pool.free(p); return nil
        }
        if start == 0 { q.hasFirst = true }
        let len = Int(pool.meta(p).pointee.length)
        let idx = p.index
        _ = consume p
        let at = q.pieces.firstIndex { $0.start > start } ?? q.pieces.count
        q.pieces.insert((start, end, idx), at: at)
        q.bytes += len
        fragMemory += len
        fragBuffers += 1
        // Complete: the last came and the pieces leave no hole.
        var covered = 0
        for piece in q.pieces { if piece.start != covered { break }; covered = piece.end }
        guard q.totalLength >= 0, covered == q.totalLength else { fragQueues[key] = q; return nil }
        fragQueues[key] = nil
        fragMemory -= q.bytes
        fragBuffers -= q.pieces.count
        let firstIdx = q.pieces[0].index
        let firstIP = pool.data(Packet(index: firstIdx)) + InetWire.ethernetLength
        let firstIHL = Int(firstIP.load(as: UInt8.self) & 0x0F) * 4
        guard InetWire.ethernetLength + firstIHL + q.totalLength <= PacketPool.dataRoom, let whole = pool.alloc() else {
            for piece in q.pieces { pool.free(Packet(index: piece.index)) }
            stats.reasmFails &+= 1
            return nil
        }
        let out = pool.data(whole)
        out.copyMemory(from: pool.data(Packet(index: firstIdx)), byteCount: InetWire.ethernetLength + firstIHL)
        for piece in q.pieces {
            let fp = pool.data(Packet(index: piece.index)) + InetWire.ethernetLength
            let fihl = Int(fp.load(as: UInt8.self) & 0x0F) * 4
            (out + InetWire.ethernetLength + firstIHL + piece.start).copyMemory(from: fp + fihl, byteCount: piece.end - piece.start)
            pool.free(Packet(index: piece.index))
        }
        InetWire.setFragment(out + InetWire.ethernetLength, totalLength: firstIHL + q.totalLength, offset: 0,
                             moreFragments: false, dontFragment: firstIP.load(fromByteOffset: 6, as: UInt8.self) & 0x40 != 0)
        pool.meta(whole).pointee.length = UInt32(InetWire.ethernetLength + firstIHL + q.totalLength)
        pool.meta(whole).pointee.ifindex = dev.ifindex
        stats.reasmOKs &+= 1
        return whole
    }

    /// ip_expire: queues past ipfrag_time go; with their first fragment, ICMP time exceeded
    /// (code 1) to the sender.
    func expireFragments(_ now: UInt64) {
        guard !fragQueues.isEmpty, now >= nextFragExpiry else { return }
        nextFragExpiry = now + Time.s
        for (key, q) in fragQueues where q.deadline <= now {
            fragQueues[key] = nil
            fragMemory -= q.bytes
            fragBuffers -= q.pieces.count
            stats.reasmTimeout &+= 1
            stats.reasmFails &+= 1
            if q.hasFirst, let first = q.pieces.first, first.start == 0, let dev = dp.devices[Int(q.dev)] {
                icmpSend(dev, Packet(index: first.index), type: 11, code: 1, info: 0, forLocal: true)
            }
            for piece in q.pieces { pool.free(Packet(index: piece.index)) }
        }
    }
}
