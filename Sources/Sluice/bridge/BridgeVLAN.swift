/// Principles (net/bridge/br_vlan.c)
/// ----------
/// Every port, and the bridge device itself ("self"), has a set of VLANs (a
/// net_bridge_vlan_group): member VLAN ids, which of them leave untagged, and at most one PVID.
/// The sets exist whether or not filtering is on; a new port gets the bridge's
/// vlan_default_pvid (1) as PVID and untagged, as does the bridge itself (nbp_vlan_init,
/// br_vlan_init). With `vlan_filtering 1`:
/// - Ingress (br_allowed_ingress): a frame tagged with the bridge's vlan_protocol is in the
///   tag's VLAN, which must be in the port's set; an untagged or priority-tagged (VID 0) frame is
///   in the port's PVID (the tag is added out of band, a priority tag keeps its PCP), and is
///   dropped when the port has none. A frame tagged with the other protocol counts as untagged,
///   its tag put back in the frame. What is refused is counted on the port (VLAN_FILTERED).
/// - The FDB learns and looks up (MAC, VLAN).
/// - Egress (br_allowed_egress, br_handle_vlan): a frame leaves only through ports whose set
///   holds its VLAN — flooding included — and leaves untagged where the port says so, otherwise
///   with the tag, which the egress device inserts.
/// - Local delivery to the bridge device checks the bridge's own set the same way.
/// With filtering off, VLAN 0 is used for the FDB and frames keep whatever tag they carry.
public final class BridgeVLANSet {
    var member = [UInt64](repeating: 0, count: 64)
    var untagged = [UInt64](repeating: 0, count: 64)
    public internal(set) var pvid: UInt16 = 0
    public internal(set) var count = 0

    @inline(__always)
    public func contains(_ vid: UInt16) -> Bool {
        let v = Int(vid & 0x0FFF)
        return member[v >> 6] & (1 << UInt64(v & 63)) != 0
    }

    @inline(__always)
    public func isUntagged(_ vid: UInt16) -> Bool {
        let v = Int(vid & 0x0FFF)
        return untagged[v >> 6] & (1 << UInt64(v & 63)) != 0
    }

    /// __vlan_add / __vlan_add_flags: adds `vid` or updates its flags. PVID moves to `vid` when
    /// asked, and is cleared when an existing PVID is re-added without it.
    func add(_ vid: UInt16, pvid isPVID: Bool, untagged isUntagged: Bool) {
        let v = Int(vid)
        let bit: UInt64 = 1 << UInt64(v & 63)
        if member[v >> 6] & bit == 0 { member[v >> 6] |= bit; count += 1 }
        if isUntagged { untagged[v >> 6] |= bit } else { untagged[v >> 6] &= ~bit }
        if isPVID { pvid = vid } else if pvid == vid { pvid = 0 }
    }

    @discardableResult
    func remove(_ vid: UInt16) -> Bool {
        let v = Int(vid)
        let bit: UInt64 = 1 << UInt64(v & 63)
        guard member[v >> 6] & bit != 0 else { return false }
        member[v >> 6] &= ~bit
        untagged[v >> 6] &= ~bit
        count -= 1
        if pvid == vid { pvid = 0 }
        return true
    }

    /// The member VLAN ids, ascending (the kernel's sorted vlan_list).
    public var vids: [UInt16] {
        var out: [UInt16] = []
        for w in 0..<64 where member[w] != 0 {
            for b in 0..<64 where member[w] & (1 << UInt64(b)) != 0 { out.append(UInt16(w * 64 + b)) }
        }
        return out
    }

    /// BRIDGE_VLAN_INFO_* flags of one member VLAN.
    public func infoFlags(_ vid: UInt16) -> UInt16 {
        (pvid == vid ? BridgeVLANInfo.pvid : 0) | (isUntagged(vid) ? BridgeVLANInfo.untagged : 0)
    }
}

/// `struct bridge_vlan_info` flags (include/uapi/linux/if_bridge.h).
public enum BridgeVLANInfo {
    public static let master: UInt16 = 1 << 0
    public static let pvid: UInt16 = 1 << 1
    public static let untagged: UInt16 = 1 << 2
    public static let rangeBegin: UInt16 = 1 << 3
    public static let rangeEnd: UInt16 = 1 << 4
    public static let brentry: UInt16 = 1 << 5
    public static let onlyOpts: UInt16 = 1 << 6
}

extension Bridge {
    /// br_allowed_ingress for a batch on `port` (filtering on): admitted frames leave with the
    /// VLAN in their out-of-band tag; the rest are counted and freed.
    func admitVLANs(port: NetDevice, _ batch: inout PacketBatch, _ dp: Datapath) {
        let pool = dp.pool
        let proto = vlanProto
        var refused: UInt64 = 0, failed: UInt64 = 0
        guard let set = port.bridgeVLANs else {
            refused = UInt64(batch.count)
            batch.freeAll(pool)
            port.drop(.vlanFiltered, refused)
            return
        }
        let pvid = set.pvid
        batch.compact { idx in
            var m = pool.metas + Int(idx)
            var vid: UInt16 = 0
            var tagged = false
            if m.pointee.vlanPresent {
                if m.pointee.vlanProto == proto {
                    vid = m.pointee.vlanTCI & 0x0FFF
                    tagged = true
                } else {
                    // Protocol mismatch: the tag goes back into the frame; the frame is untagged.
                    guard let w = pool.writableIndex(idx) else { failed += 1; pool.free(Packet(index: idx)); return false }
                    idx = w
                    m = pool.metas + Int(w)
                    guard VLANEdit.pushMetadataTag(pool, w) else { failed += 1; pool.free(Packet(index: w)); return false }
                }
            }
            if vid == 0 {
                guard pvid != 0 else { refused += 1; pool.free(Packet(index: idx)); return false }
                if tagged {
                    m.pointee.vlanTCI |= pvid          // priority-tagged: keep the PCP
                } else {
                    m.pointee.vlanPresent = true
                    m.pointee.vlanProto = proto
                    m.pointee.vlanTCI = pvid
                }
                return true
            }
            guard set.contains(vid) else { refused += 1; pool.free(Packet(index: idx)); return false }
            return true
        }
        if refused > 0 { port.drop(.vlanFiltered, refused) }
        if failed > 0 { port.drop(.noBuffer, failed); port.stats.rxDropped &+= failed }
    }

    /// br_allowed_egress + br_handle_vlan for a frame leaving through `set`'s port: false when
    /// the port is not in the frame's VLAN; clears the tag when the port sends it untagged.
    @inline(__always)
    static func egressVLAN(_ m: UnsafeMutablePointer<PacketMeta>, _ set: BridgeVLANSet?) -> Bool {
        guard let set else { return false }
        let vid = m.pointee.vlanTCI & 0x0FFF
        guard set.contains(vid) else { return false }
        if set.isUntagged(vid) {
            m.pointee.vlanPresent = false
            m.pointee.vlanTCI = 0
            m.pointee.vlanProto = 0
        }
        return true
    }

    // MARK: configuration

    /// The VLAN set of `dev`: a port's, or the bridge's own when `dev` is the bridge.
    func vlanSet(_ dev: NetDevice) -> BridgeVLANSet? {
        dev === device ? selfVLANs : dev.bridgeVLANs
    }

    /// br_vlan_add / nbp_vlan_add for one VLAN id (1…4094).
    public func addVLAN(_ dev: NetDevice, vid: UInt16, pvid: Bool, untagged: Bool) throws(SluiceError) {
        guard (1...4094).contains(vid) else { throw SluiceError("Error: bridge: Vlan id is invalid.") }
        guard let set = vlanSet(dev) else { throw SluiceError("Error: \(dev.name) is not a port of \(device.name)") }
        set.add(vid, pvid: pvid, untagged: untagged)
    }

    /// br_vlan_delete / nbp_vlan_delete: the FDB entries of that VLAN on the port go too.
    public func deleteVLAN(_ dev: NetDevice, vid: UInt16) throws(SluiceError) {
        guard (1...4094).contains(vid) else { throw SluiceError("Error: bridge: Vlan id is invalid.") }
        guard let set = vlanSet(dev) else { throw SluiceError("Error: \(dev.name) is not a port of \(device.name)") }
        guard set.remove(vid) else { throw SluiceError("Error: bridge: VLAN \(vid) is not configured on \(dev.name) (No such file or directory).") }
        fdb.flush(port: dev.ifindex, vlan: vid)
    }

    /// br_vlan_filter_toggle.
    public func setVLANFiltering(_ on: Bool) { vlanFiltering = on }

    /// br_vlan_set_proto: 802.1Q or 802.1ad only.
    public func setVLANProtocol(_ proto: UInt16) throws(SluiceError) {
        guard proto == EtherType.vlan || proto == EtherType.qinq else {
            throw SluiceError("Error: bridge: vlan_protocol must be 802.1Q or 802.1ad (Protocol not supported).")
        }
        vlanProto = proto
    }

    /// br_vlan_set_default_pvid: refused while filtering is on; where the old default is still a
    /// port's untagged PVID, the new one replaces it (0 removes it).
    public func setDefaultPVID(_ pvid: UInt16, _ dp: Datapath) throws(SluiceError) {
        guard pvid < 4095 else { throw SluiceError("Error: bridge: invalid vlan_default_pvid \(pvid).") }
        guard pvid != defaultPVID else { return }
        guard !vlanFiltering else {
            throw SluiceError("Error: bridge: disable vlan filtering to change vlan_default_pvid (Operation not permitted).")
        }
        let old = defaultPVID
        var sets = [selfVLANs]
        for p in ports { if let s = dp.device(p)?.bridgeVLANs { sets.append(s) } }
        for s in sets {
            let hadDefault = old != 0 && s.pvid == old && s.isUntagged(old)
            if hadDefault { s.remove(old) }
            if pvid != 0 && (hadDefault || old == 0) && !s.contains(pvid) { s.add(pvid, pvid: true, untagged: true) }
        }
        defaultPVID = pvid
    }
}
