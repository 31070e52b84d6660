/// flower's per-mask hash (cls_flower's fl_mask_lookup over each mask's rhashtable): the
/// filters of one instance that share a mask are kept together in the block (a new one after
/// the others), and their keys are hashed over the fields the mask names. A packet's fields
/// under the same mask hash alike when it matches a key, so classification tries the filters
/// with the packet's hash only — per mask, not per filter — and confirms each with the full
/// match (fields the hash leaves out, such as ct_* and enc_*, and collisions).
///
/// A mask with a port range is not hashed (fl_lookup_range walks its filters too), nor one
/// that names none of the hashed fields; nor is a mask with fewer than `hashedFrom` filters
/// used through its table, where trying the filters costs less than hashing the packet.
struct FlowerMaskTable {
    /// The mask's run in the block: its filters, tombstones included (the walk steps over
    /// the whole run when no filter in it has the packet's hash).
    var count = 0
    /// Slots in use: the live filters' hashes, and old hashes of filters changed or removed
    /// since the last build (they find a filter that no longer matches them, or a tombstone).
    var used = 0
    /// Open addressing, linear probing; a slot is the key's hash with its low 24 bits replaced
    /// by 1 + the filter's offset from the mask's first filter; 0 is empty. At most half full.
    var slots: [UInt64] = []

    static let hashedFrom = 4
    static let offsetMask: UInt64 = 1 << 24 - 1

    /// Whether the walk looks the packet up here rather than trying the run's filters.
    var isUsed: Bool { count >= Self.hashedFrom && !slots.isEmpty }

    /// The filter offset a slot holds when its hash is `h`'s, else nil.
    @inline(__always)
    static func offset(_ slot: UInt64, ifHash h: UInt64) -> Int? {
        slot & ~offsetMask == h & ~offsetMask ? Int(slot & offsetMask) - 1 : nil
    }

    /// Adds a filter's hash at `offset` in the run (its end for a new filter, its place for
    /// a changed one); false when the table must be built again (it would be more than half
    /// full).
    mutating func insert(hash: UInt64, offset: Int) -> Bool {
        guard !slots.isEmpty, (used + 1) * 2 <= slots.count, UInt64(offset) + 1 < Self.offsetMask else { return false }
        place(hash, offset)
        used += 1
        count = max(count, offset + 1)
        return true
    }

    /// The table for a run, in filter order: each filter's hash, nil for a tombstone. Sized
    /// to four times the live filters, so that as many more inserts fit before the next
    /// build. Past 2^24 filters under one mask the table stays empty: they are tried one by
    /// one.
    mutating func rebuild(_ hashes: [UInt64?]) {
        count = hashes.count
        used = 0
        guard UInt64(hashes.count) < Self.offsetMask else { slots = []; return }
        let live = hashes.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
        var size = 8
        while size < live * 4 { size *= 2 }
        slots = [UInt64](repeating: 0, count: size)
        for (i, h) in hashes.enumerated() { if let h { place(h, i); used += 1 } }
    }

    private mutating func place(_ h: UInt64, _ offset: Int) {
        let mask = slots.count - 1
        var j = Int(truncatingIfNeeded: h) & mask
        while slots[j] != 0 { j = (j + 1) & mask }
        slots[j] = h & ~Self.offsetMask | UInt64(offset + 1)
    }
}

/// The fields the hash covers, each one word.
enum FlowerField { case dstMAC, srcMAC, vlanID, vlanPrio, ethType, ipProto, srcIP, dstIP, srcIP6Hi, srcIP6Lo, dstIP6Hi, dstIP6Lo, tos, srcPort, dstPort }

extension FlowerKey {
    /// Whether filters under this key's mask are hashed: ports exact (a range is walked), and
    /// at least one hashed field named.
    var isHashable: Bool {
        if let r = srcPort, r.count > 1 { return false }
        if let r = dstPort, r.count > 1 { return false }
        return dstMAC != nil || srcMAC != nil || vlanID != nil || vlanPrio != nil || ethType != nil || ipProto != nil
            || srcIP != nil || dstIP != nil || srcIP6 != nil || dstIP6 != nil || tos != nil || srcPort != nil || dstPort != nil
    }

    /// Hashes the fields the key's mask names, each read by `field` and masked with the key's
    /// mask; nil when `field` has no value for one of them.
    @inline(__always)
    func hashed(_ field: (FlowerField) -> UInt64?) -> UInt64? {
        var h: UInt64 = 0x736C_7569_6365_6677
        @inline(__always) func mix(_ v: UInt64) { h = (h ^ v) &* 0x9E37_79B9_7F4A_7C15; h ^= h >> 29 }
        @inline(__always) func take(_ f: FlowerField, _ mask: UInt64) -> Bool {
            guard let v = field(f) else { return false }
            mix(v & mask)
            return true
        }
        if let (_, m) = dstMAC, !take(.dstMAC, m) { return nil }
        if let (_, m) = srcMAC, !take(.srcMAC, m) { return nil }
        if vlanID != nil, !take(.vlanID, 0xFFF) { return nil }
        if vlanPrio != nil, !take(.vlanPrio, 0x7) { return nil }
        if ethType != nil, !take(.ethType, 0xFFFF) { return nil }
        if ipProto != nil, !take(.ipProto, 0xFF) { return nil }
        if let (_, m) = srcIP, !take(.srcIP, UInt64(m)) { return nil }
        if let (_, m) = dstIP, !take(.dstIP, UInt64(m)) { return nil }
        if let p = srcIP6, !take(.srcIP6Hi, p.maskHi) || !take(.srcIP6Lo, p.maskLo) { return nil }
        if let p = dstIP6, !take(.dstIP6Hi, p.maskHi) || !take(.dstIP6Lo, p.maskLo) { return nil }
        if let (_, m) = tos, !take(.tos, UInt64(m)) { return nil }
        if srcPort != nil, !take(.srcPort, 0xFFFF) { return nil }
        if dstPort != nil, !take(.dstPort, 0xFFFF) { return nil }
        return h ^ (h >> 32)
    }

    /// The key's own hash (its values under its mask).
    var hash: UInt64 {
        hashed { f in
            switch f {
            case .dstMAC: return dstMAC.map { $0.0 }
            case .srcMAC: return srcMAC.map { $0.0 }
            case .vlanID: return vlanID.map { UInt64($0) }
            case .vlanPrio: return vlanPrio.map { UInt64($0) }
            case .ethType: return ethType.map { UInt64($0) }
            case .ipProto: return ipProto.map { UInt64($0) }
            case .srcIP: return srcIP.map { UInt64($0.0) }
            case .dstIP: return dstIP.map { UInt64($0.0) }
            case .srcIP6Hi: return srcIP6?.hi
            case .srcIP6Lo: return srcIP6?.lo
            case .dstIP6Hi: return dstIP6?.hi
            case .dstIP6Lo: return dstIP6?.lo
            case .tos: return tos.map { UInt64($0.0) }
            case .srcPort: return srcPort.map { UInt64($0.lowerBound) }
            case .dstPort: return dstPort.map { UInt64($0.lowerBound) }
            }
        } ?? 0
    }

    /// The packet's hash over the fields this key's mask names, read as `matches` reads them;
    /// nil when the packet lacks one of them (then no filter under the mask matches it).
    @inline(__always)
    func packetHash(_ data: UnsafeMutableRawPointer, _ len: Int, _ pf: ParsedFrame) -> UInt64? {
        let b = Bytes(data, count: len)
        let v4 = pf.proto == EtherType.ipv4 && len >= pf.l3 + 20
        let v6 = pf.proto == EtherType.ipv6 && len >= pf.l3 + 40
        let ports = pf.l4 >= 0 && pf.l4 + 4 <= len && (pf.ipProto == IPProto.tcp || pf.ipProto == IPProto.udp)
        func u64(_ o: Int) -> UInt64 { UInt64(b.u32(o)) << 32 | UInt64(b.u32(o + 4)) }
        return hashed { f in
            switch f {
            case .dstMAC: return MACAddress(at: data).raw
            case .srcMAC: return MACAddress(at: data + 6).raw
            case .vlanID: return pf.vlanID.map { UInt64($0) }
            case .vlanPrio: return pf.vlanID == nil ? nil : UInt64(pf.vlanPrio)
            case .ethType: return UInt64(pf.proto)
            case .ipProto: return UInt64(pf.ipProto)
            case .srcIP: return v4 ? UInt64(b.u32(pf.l3 + 12)) : nil
            case .dstIP: return v4 ? UInt64(b.u32(pf.l3 + 16)) : nil
            case .srcIP6Hi: return v6 ? u64(pf.l3 + 8) : nil
            case .srcIP6Lo: return v6 ? u64(pf.l3 + 16) : nil
            case .dstIP6Hi: return v6 ? u64(pf.l3 + 24) : nil
            case .dstIP6Lo: return v6 ? u64(pf.l3 + 32) : nil
            case .tos: return v4 ? UInt64(b.u8(pf.l3 + 1)) : v6 ? UInt64(UInt8(truncatingIfNeeded: b.u16(pf.l3) >> 4)) : nil
            case .srcPort: return ports ? UInt64(b.u16(pf.l4)) : nil
            case .dstPort: return ports ? UInt64(b.u16(pf.l4 + 2)) : nil
            }
        }
    }
}
