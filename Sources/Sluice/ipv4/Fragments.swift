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
struct FragmentKey6: Hashable { let src: UInt128, dst: UInt128, id: UInt32 }

struct FragmentQueue {
    /// Fragment packets with their byte ranges of the datagram's payload, by offset.
    var pieces: [(start: Int, end: Int, index: UInt32)] = []
    var totalLength = -1          // payload length, known once the last fragment came
    var bytes = 0
    var deadline: UInt64 = 0
    var hasFirst = false
    var dev: Int32 = 0

    /// The fragment at offset 0, if it came (the one an expiry message quotes).
    var first: UInt32? { hasFirst ? pieces.first.flatMap { $0.start == 0 ? $0.index : nil } : nil }

    /// Copies each fragment's payload to `out` + its offset and frees the fragments;
    /// `payload(ip)` says where a fragment's payload starts from its IP header.
    func gather(into out: UnsafeMutableRawPointer, _ pool: PacketPool, payload: (UnsafeMutableRawPointer) -> Int) {
        for piece in pieces {
            let ip = pool.data(Packet(index: piece.index)) + InetWire.ethernetLength
            (out + piece.start).copyMemory(from: ip + payload(ip), byteCount: piece.end - piece.start)
            pool.free(Packet(index: piece.index))
        }
    }
}

/// The reassembly queues of one family (inet_frags): the rules both IPv4 and IPv6 follow —
/// bounds, overlaps, the last fragment, completion, expiry. What a fragment is, and how the
/// whole datagram is rebuilt, is the family's.
struct FragmentQueues<Key: Hashable> {
    static var timeout: UInt64 { 30 * Time.s }
    static var highThresh: Int { 4 * 1024 * 1024 }
    var queues: [Key: FragmentQueue] = [:]
    /// Bytes and pool buffers the queued fragments hold.
    var memory = 0, buffers = 0
    var nextExpiry: UInt64 = 0

    enum Outcome { case queued, complete(FragmentQueue), refused, discarded }

    /// ip_frag_queue / ip6_frag_queue for the fragment carrying payload bytes [start, end) of
    /// its datagram (`last`: no more-fragments flag). `.queued` and `.complete` took the packet;
    /// `.refused` (bounds) and `.discarded` (overlap, inconsistent length: the whole datagram
    /// went) leave it to the caller to free and count.
    mutating func add(_ key: Key, start: Int, end: Int, last: Bool, index: UInt32, length: Int,
                      now: UInt64, dev: Int32, pool: PacketPool) -> Outcome {
        if (!last && (end - start) % 8 != 0) || end > 65535 || memory + length > Self.highThresh || buffers >= pool.capacity / 8 {
            return .refused
        }
        var q = queues[key] ?? FragmentQueue(deadline: now + Self.timeout, dev: dev)
        if last {
            // The last fragment: the length is known; a second, different one is corruption.
            if q.totalLength >= 0 && q.totalLength != end { discard(key, q, pool); return .discarded }
            q.totalLength = end
        } else if q.totalLength >= 0 && end > q.totalLength {
            discard(key, q, pool); return .discarded
        }
        // Overlaps (or an exact duplicate) discard the datagram (RFC 5722).
        if q.pieces.contains(where: { start < $0.end && $0.start < end }) { discard(key, q, pool); return .discarded }
        if start == 0 { q.hasFirst = true }
        let at = q.pieces.firstIndex { $0.start > start } ?? q.pieces.count
        q.pieces.insert((start, end, index), at: at)
        q.bytes += length
        memory += length
        buffers += 1
        // Complete: the last came and the pieces leave no hole.
        var covered = 0
        for piece in q.pieces { if piece.start != covered { break }; covered = piece.end }
        guard q.totalLength >= 0, covered == q.totalLength else { queues[key] = q; return .queued }
        queues[key] = nil
        memory -= q.bytes
        buffers -= q.pieces.count
        return .complete(q)
    }

    mutating func discard(_ key: Key, _ q: FragmentQueue, _ pool: PacketPool) {
        for piece in q.pieces { pool.free(Packet(index: piece.index)) }
        memory -= q.bytes
        buffers -= q.pieces.count
        queues[key] = nil
    }

    /// inet_frags_fini at shutdown: every queue goes, its fragments freed.
    mutating func purgeAll(_ pool: PacketPool) {
        for (key, q) in queues { discard(key, q, pool) }
    }

    /// ip_expire: queues past their deadline go; `expired` sees each before its fragments are
    /// freed (to answer the sender). Returns how many went.
    @discardableResult
    mutating func expire(_ now: UInt64, _ pool: PacketPool, _ expired: (FragmentQueue) -> Void) -> Int {
        guard !queues.isEmpty, now >= nextExpiry else { return 0 }
        nextExpiry = now + Time.s
        var n = 0
        for (key, q) in queues where q.deadline <= now {
            expired(q)
            discard(key, q, pool)
            n += 1
        }
        return n
    }
}

extension IPv4Stack {
    public static var fragTimeout: UInt64 { FragmentQueues<FragmentKey>.timeout }
    public static var fragHighThresh: Int { FragmentQueues<FragmentKey>.highThresh }

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
        stats.reasmReqds &+= 1
        let len = Int(pool.meta(p).pointee.length)
        let idx = p.index
        _ = consume p
        let q: FragmentQueue
        switch frags.add(key, start: start, end: start + total - ihl, last: hdr.fragmentField & 0x2000 == 0, index: idx, length: len,
                         now: now, dev: dev.ifindex, pool: pool) {
        case .queued: return nil
        case .refused, .discarded:
            stats.reasmFails &+= 1; dev.drop(.ipFragment); pool.free(Packet(index: idx)); return nil
        case .complete(let c): q = c
        }
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
        q.gather(into: out + InetWire.ethernetLength + firstIHL, pool) { ip in Int(ip.load(as: UInt8.self) & 0x0F) * 4 }
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
        frags.expire(now, pool) { q in
            stats.reasmTimeout &+= 1
            stats.reasmFails &+= 1
            if let first = q.first, let dev = dp.devices[Int(q.dev)] { icmpSend(dev, Packet(index: first), type: 11, code: 1, info: 0, forLocal: true) }
        }
    }
}

extension IPv6Stack {
    /// ipv6_frag_rcv for a fragment for us whose fragment header is at `off` (from the IPv6
    /// header): queued per (source, destination, identification); once complete, the datagram
    /// is rebuilt from the first fragment's unfragmentable part, the fragment header's next
    /// header put where the fragment header was named, and delivered again. A fragment of a
    /// length not a multiple of 8 with more to come is answered with a parameter problem
    /// pointing at the payload length (RFC 8200 4.5).
    func reassemble(_ dev: NetDevice, _ p: consuming Packet, offset off: Int, total: Int) -> Packet? {
        let now = clock.now
        expireFragments(now)
        let ip = pool.data(p) + InetWire.ethernetLength
        let (_, start, more, id) = Inet6Wire.fragmentHeader(ip + off)
        let end = start + total - off - 8
        stats.reasmReqds &+= 1
        if more && (end - start) % 8 != 0 {
            icmpSend(dev, p, type: 4, code: 0, info: 4)
            stats.reasmFails &+= 1; dev.drop(.ipFragment); pool.free(p); return nil
        }
        let key = FragmentKey6(src: Inet6Wire.source(ip), dst: Inet6Wire.destination(ip), id: id)
        let len = Int(pool.meta(p).pointee.length)
        let idx = p.index
        _ = consume p
        let q: FragmentQueue
        switch frags.add(key, start: start, end: end, last: !more, index: idx, length: len, now: now, dev: dev.ifindex, pool: pool) {
        case .queued: return nil
        case .refused, .discarded:
            stats.reasmFails &+= 1; dev.drop(.ipFragment); pool.free(Packet(index: idx)); return nil
        case .complete(let c): q = c
        }
        // The first fragment's unfragmentable part (its header chain up to the fragment header).
        let first = pool.data(Packet(index: q.pieces[0].index)) + InetWire.ethernetLength
        let firstOff = Self.fragmentHeader(first)
        let payload = firstOff - Inet6Wire.ipv6Length + q.totalLength
        guard firstOff >= Inet6Wire.ipv6Length, payload <= 65535, let whole = pool.alloc() else {
            for piece in q.pieces { pool.free(Packet(index: piece.index)) }
            stats.reasmFails &+= 1
            return nil
        }
        let out = pool.data(whole)
        out.copyMemory(from: first - InetWire.ethernetLength, byteCount: InetWire.ethernetLength + firstOff)
        let oip = out + InetWire.ethernetLength
        let nextField = Inet6Wire.nextHeaderField(first, upper: firstOff)
        Inet6Wire.setNextHeader(oip, at: nextField, Inet6Wire.fragmentHeader(first + firstOff).next)
        Inet6Wire.setPayloadLength(oip, payload)
        q.gather(into: oip + firstOff, pool) { ip in Self.fragmentHeader(ip) + 8 }
        pool.meta(whole).pointee.length = UInt32(InetWire.ethernetLength + firstOff + q.totalLength)
        pool.meta(whole).pointee.ifindex = dev.ifindex
        stats.reasmOKs &+= 1
        return whole
    }

    /// The offset of a queued fragment's fragment header (its header chain was walked before).
    static func fragmentHeader(_ ip: UnsafeMutableRawPointer) -> Int {
        if case .fragment(let o) = Inet6Wire.upperLayer(ip, total: Inet6Wire.ipv6Length + Inet6Wire.payloadLength(ip)) { return o }
        return -1
    }

    /// ip6_frag_expire: with the first fragment, time exceeded (fragment reassembly, code 1).
    func expireFragments(_ now: UInt64) {
        frags.expire(now, pool) { q in
            stats.reasmTimeout &+= 1
            stats.reasmFails &+= 1
            if let first = q.first, let dev = dp.devices[Int(q.dev)] { icmpSend(dev, Packet(index: first), type: 3, code: 1, info: 0) }
        }
    }
}
