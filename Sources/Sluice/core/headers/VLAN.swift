import Glibc

/// 802.1Q / 802.1ad tags: moving them between the frame and the packet's metadata
/// (skb_vlan_untag, __vlan_hwaccel_push_inside) and act_vlan's in-frame edits, keeping
/// checksum and GSO offsets right. The only place tags are read from or written to bytes.
enum VLANEdit {
    static func frame(_ pool: PacketPool, _ i: UInt32) -> UnsafeMutableRawPointer {
        pool.base + Int(pool.dataOf[Int(i)]) * PacketPool.bufferSize + Int(pool.metas[Int(i)].dataOffset)
    }

    /// Moves the out-of-band tag (skb->vlan_tci) into the frame; false without headroom.
    static func pushMetadataTag(_ pool: PacketPool, _ i: UInt32) -> Bool {
        let m = pool.metas + Int(i)
        guard m.pointee.vlanPresent else { return true }
        guard inFrame(pool, i, tci: m.pointee.vlanTCI, proto: m.pointee.vlanProto == 0 ? EtherType.vlan : m.pointee.vlanProto) else { return false }
        m.pointee.vlanPresent = false
        m.pointee.vlanTCI = 0
        m.pointee.vlanProto = 0
        return true
    }

    /// act_vlan push (skb_vlan_push): a tag held out of band goes into the frame first, so the
    /// new tag is the outermost.
    static func push(_ pool: PacketPool, _ i: UInt32, tci: UInt16, proto: UInt16) -> Bool {
        pushMetadataTag(pool, i) && inFrame(pool, i, tci: tci, proto: proto)
    }

    static func inFrame(_ pool: PacketPool, _ i: UInt32, tci: UInt16, proto: UInt16) -> Bool {
        let p = Packet(index: i)
        guard pool.push(p, 4) else { return false }
        let d = frame(pool, i)
        memmove(d, d + 4, 12)
        d.storeBytes(of: proto.bigEndian, toByteOffset: 12, as: UInt16.self)
        d.storeBytes(of: tci.bigEndian, toByteOffset: 14, as: UInt16.self)
        shiftOffsets(pool, i, by: 4)
        return true
    }

    /// act_vlan pop (skb_vlan_pop): the out-of-band tag if there is one, else the frame's.
    @discardableResult
    static func pop(_ pool: PacketPool, _ i: UInt32) -> Bool {
        let m = pool.metas + Int(i)
        if m.pointee.vlanPresent {
            m.pointee.vlanPresent = false; m.pointee.vlanTCI = 0; m.pointee.vlanProto = 0
            return true
        }
        let d = frame(pool, i)
        let len = Int(pool.metas[Int(i)].length)
        guard len >= 18 else { return false }
        let t = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        guard t == EtherType.vlan || t == EtherType.qinq else { return false }
        memmove(d + 4, d, 12)
        _ = pool.pull(Packet(index: i), 4)
        shiftOffsets(pool, i, by: -4)
        return true
    }

    /// tcf_vlan_act's MODIFY: the outer tag gets the id, the priority if given, and the
    /// protocol (TPID) `proto`.
    static func modify(_ pool: PacketPool, _ i: UInt32, vid: UInt16, prio: UInt8?, proto: UInt16 = EtherType.vlan) {
        let m = pool.metas + Int(i)
        if m.pointee.vlanPresent {
            var tci = (m.pointee.vlanTCI & 0xF000) | (vid & 0x0FFF)
            if let prio { tci = (tci & 0x1FFF) | UInt16(prio & 7) << 13 }
            m.pointee.vlanTCI = tci
            m.pointee.vlanProto = proto
            return
        }
        let d = frame(pool, i)
        guard Int(pool.metas[Int(i)].length) >= 18 else { return }
        let t = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        guard t == EtherType.vlan || t == EtherType.qinq else { return }
        var tci = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: 14, as: UInt16.self))
        tci = (tci & 0xF000) | (vid & 0x0FFF)
        if let prio { tci = (tci & 0x1FFF) | UInt16(prio & 7) << 13 }
        d.storeBytes(of: tci.bigEndian, toByteOffset: 14, as: UInt16.self)
        d.storeBytes(of: proto.bigEndian, toByteOffset: 12, as: UInt16.self)
    }

    static func shiftOffsets(_ pool: PacketPool, _ i: UInt32, by n: Int) {
        let m = pool.metas + Int(i)
        if m.pointee.csum == .partial { m.pointee.csumStart = UInt16(Int(m.pointee.csumStart) + n) }
        if !m.pointee.gsoType.isEmpty { m.pointee.hdrLen = UInt16(Int(m.pointee.hdrLen) + n) }
        m.pointee.pktLen = UInt32(Int(m.pointee.pktLen) + (m.pointee.pktLen == 0 ? 0 : n))
    }

    /// The in-band EtherType at offset 12 (the outer tag's TPID, or the payload's type).
    @inline(__always)
    static func etherType(_ pool: PacketPool, _ i: UInt32) -> UInt16 {
        guard pool.metas[Int(i)].length >= 14 else { return 0 }
        return UInt16(bigEndian: frame(pool, i).loadUnaligned(fromByteOffset: 12, as: UInt16.self))
    }

    @inline(__always)
    static func isVLANType(_ t: UInt16) -> Bool { t == EtherType.vlan || t == EtherType.qinq }

    /// skb_vlan_untag: an outer in-band 802.1Q/802.1ad tag moves into the metadata, unless a
    /// tag is already held there. The caller makes the bytes writable first. A tagged frame too
    /// short to hold the tag and an EtherType is left as it is (false).
    static func untag(_ pool: PacketPool, _ i: UInt32) -> Bool {
        let m = pool.metas + Int(i)
        guard !m.pointee.vlanPresent, m.pointee.length >= 18 else { return false }
        let d = frame(pool, i)
        let t = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        guard isVLANType(t) else { return false }
        let tci = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: 14, as: UInt16.self))
        memmove(d + 4, d, 12)
        _ = pool.pull(Packet(index: i), 4)
        shiftOffsets(pool, i, by: -4)
        m.pointee.vlanPresent = true
        m.pointee.vlanTCI = tci
        m.pointee.vlanProto = t
        return true
    }
}
