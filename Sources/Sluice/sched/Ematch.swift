/// Principles (net/sched/ematch.c, em_cmp.c, em_nbyte.c, em_u32.c, em_meta.c, em_canid.c)
/// ----------
/// An extended-match tree, as the basic classifier carries it: a list of matches, each with a
/// relation to the next (AND, OR, END) and an invert flag; a container match runs the sequence
/// starting at a later index (no backward jumps, so no loops) and counts as its result. The
/// walk is __tcf_em_tree_match: a match that decides the relation ends its sequence early.
/// Matches:
/// - cmp: an 8/16/32-bit big-endian field at an offset from the link, network or transport
///   header, masked (optionally byte-swapped: `trans`), compared eq/gt/lt with a value;
/// - nbyte: bytes equal to a pattern at an offset from a layer;
/// - u32: a masked 32-bit word at an offset from the network header (`nexthdr+` offsets only
///   mean something inside cls_u32, as the kernel's em_u32 without packet info);
/// - meta: an integer property of the packet — priority, protocol, packet length, data length,
///   link header length, mark, tc index, VLAN tag, flow hash, or a constant — compared with a
///   value after a shift; socket properties never match (forwarded packets have no socket);
/// - canid: CAN identifiers; Sluice carries no CAN frames, so it never matches.
/// A field beyond the frame does not match (tcf_valid_offset). The transport header is the
/// one after the IP header (where the kernel, for bridged packets, still points at the network
/// header). The tree is compiled to plain records and a byte store held by an `EmatchProgram`;
/// the filter keeps raw pointers to them, so matching allocates and retains nothing.
struct EmOp {
    static let relAnd: UInt16 = 1, relOr: UInt16 = 2, invert: UInt16 = 4, simple: UInt16 = 8
    enum Kind: UInt8 { case container = 0, cmp = 1, nbyte = 2, u32 = 3, meta = 4, canid = 7 }
    var flags: UInt16 = 0
    var kind: Kind = .container
    var layer: UInt8 = 0
    var align: UInt8 = 0
    var trans = false
    var opnd: UInt8 = 0
    var off: Int32 = 0
    var val: UInt32 = 0
    var mask: UInt32 = 0
    /// container: the index it runs; nbyte: the pattern's start in the byte store.
    var ref: Int32 = 0
    var len: Int32 = 0
    // meta: left id and shift, right id, shift and constant.
    var metaLeft: UInt16 = 0, metaRight: UInt16 = 0
    var shiftLeft: UInt8 = 0, shiftRight: UInt8 = 0
    var lvalue: UInt64 = 0, rvalue: UInt64 = 0
}

/// A compiled tree: its records and byte store (plain memory, freed with the program) and the
/// tree as it came (TCA_EMATCH_TREE_HDR and each match's header and data), dumped back.
final class EmatchProgram {
    let ops: UnsafeMutablePointer<EmOp>
    let count: Int
    let bytes: UnsafeMutablePointer<UInt8>
    let progid: UInt16
    /// Each match: (matchid, kind, flags, data as received).
    let raw: [(matchid: UInt16, kind: UInt16, flags: UInt16, data: [UInt8])]

    init(ops o: [EmOp], bytes b: [UInt8], progid: UInt16, raw: [(matchid: UInt16, kind: UInt16, flags: UInt16, data: [UInt8])]) {
        count = o.count
        ops = .allocate(capacity: max(o.count, 1))
        ops.initialize(from: o, count: o.count)
        bytes = .allocate(capacity: max(b.count, 1))
        bytes.initialize(from: b, count: b.count)
        self.progid = progid
        self.raw = raw
    }
    deinit { ops.deinitialize(count: count); ops.deallocate(); bytes.deallocate() }

    static let stackDepth = 32     // CONFIG_NET_EMATCH_STACK

    /// The meta ids Sluice reads (TCF_META_ID_*), and those that need a socket.
    static let metaIDs: Set<UInt16> = [0, 6, 7, 9, 10, 11, 12, 13, 46, 47]
    static let socketMetaIDs: ClosedRange<UInt16> = 16...45

    /// tcf_em_tree_validate and each kind's change(): a tree from TCA_EMATCH_TREE's header and
    /// list, refused as the kernel refuses it (EINVAL; ENOENT for an unknown kind).
    static func compile(header h: ArraySlice<UInt8>, list: [(type: UInt16, value: ArraySlice<UInt8>)]) throws(SluiceError) -> EmatchProgram {
        guard h.count >= 4 else { throw SluiceError("Error: ematch: the tree header is cut short") }
        let n = Int(h.le16(at: 0)), progid = h.le16(at: 2)
        var ops: [EmOp] = [], bytes: [UInt8] = []
        var raw: [(matchid: UInt16, kind: UInt16, flags: UInt16, data: [UInt8])] = []
        for (idx, m) in list.enumerated() {
            guard m.type == idx + 1, idx < n, m.value.count >= 8 else { throw SluiceError("Error: ematch: malformed match list") }
            let matchid = m.value.le16(at: 0), kind = m.value.le16(at: 2), flags = m.value.le16(at: 4)
            let data = m.value.dropFirst(8)
            guard flags & 3 != 3 else { throw SluiceError("Error: ematch: invalid relation") }
            var op = EmOp()
            op.flags = flags
            var keep = Array(data)
            switch kind {
            case 0:
                guard data.count >= 4 else { throw SluiceError("Error: ematch: a container needs its target") }
                let ref = Int(data.le32(at: 0))
                guard ref < n, ref > idx else { throw SluiceError("Error: ematch: a container may only jump forward") }
                op.kind = .container; op.ref = Int32(ref)
                keep = Array(data.prefix(4))
            case 1:
                // struct tcf_em_cmp: val, mask, off, align:4 flags:4, layer:4 opnd:4.
                guard data.count >= 12, flags & EmOp.simple == 0 else { throw SluiceError("Error: ematch cmp: malformed") }
                op.kind = .cmp
                op.val = data.le32(at: 0); op.mask = data.le32(at: 4); op.off = Int32(data.le16(at: 8))
                let b10 = data[data.startIndex + 10], b11 = data[data.startIndex + 11]
                op.align = b10 & 0x0F; op.trans = (b10 >> 4) & 1 != 0
                op.layer = b11 & 0x0F; op.opnd = b11 >> 4
            case 2:
                // struct tcf_em_nbyte: off, len:12 layer:4, then the pattern.
                guard data.count >= 4 else { throw SluiceError("Error: ematch nbyte: malformed") }
                let w = data.le16(at: 2)
                let len = Int(w & 0x0FFF)
                guard data.count >= 4 + len else { throw SluiceError("Error: ematch nbyte: the pattern is cut short") }
                op.kind = .nbyte; op.off = Int32(data.le16(at: 0)); op.layer = UInt8(w >> 12)
                op.ref = Int32(bytes.count); op.len = Int32(len)
                bytes += data.dropFirst(4).prefix(len)
                keep = Array(data.prefix(4 + len))
            case 3:
                // struct tc_u32_key: mask, val (network order), off, offmask.
                guard data.count >= 16 else { throw SluiceError("Error: ematch u32: malformed") }
                op.kind = .u32
                op.mask = data.le32(at: 0).byteSwapped
                op.val = data.le32(at: 4).byteSwapped
                op.off = Int32(bitPattern: data.le32(at: 8))
            case 4:
                op = try meta(data, flags: flags)
            case 7:
                // em_canid_change: whole struct can_filter rules (8 bytes), up to 500.
                guard data.count >= 8, data.count % 8 == 0, data.count <= 8 * 500 else { throw SluiceError("Error: ematch canid: malformed rules") }
                op.kind = .canid
                // em_canid_change keeps (and dumps) the EFF rules first, then the SFF ones.
                let rules = stride(from: 0, to: data.count, by: 8).map { Array(data.dropFirst($0).prefix(8)) }
                let eff = rules.filter { $0[3] & 0x80 != 0 }, sff = rules.filter { $0[3] & 0x80 == 0 }
                keep = (eff + sff).flatMap { $0 }
            case 5, 6, 8, 9:
                throw SluiceError("Error: ematch kind \(kind) (text, vlan, ipset, ipt) is not implemented in Sluice")
            default:
                throw SluiceError("Error: ematch: unknown kind \(kind)")
            }
            ops.append(op)
            raw.append((matchid, kind, flags, keep))
        }
        guard ops.count == n else { throw SluiceError("Error: ematch: the list does not have the header's number of matches") }
        return EmatchProgram(ops: ops, bytes: bytes, progid: progid, raw: raw)
    }

    /// em_meta_change: TCA_EM_META_HDR (two tcf_meta_val: kind, shift, op), LVALUE, RVALUE.
    static func meta(_ data: ArraySlice<UInt8>, flags: UInt16) throws(SluiceError) -> EmOp {
        let attrs: [(type: UInt16, value: ArraySlice<UInt8>, offset: Int)]
        do { attrs = try NLAttributes.list(data, base: 0) } catch { throw SluiceError("Error: ematch meta: malformed attributes") }
        guard let hdr = attrs.first(where: { $0.type == 1 })?.value, hdr.count >= 8 else { throw SluiceError("Error: ematch meta: the header is missing") }
        var op = EmOp()
        op.kind = .meta; op.flags = flags
        let lkind = hdr.le16(at: 0), rkind = hdr.le16(at: 4)
        op.shiftLeft = hdr[hdr.startIndex + 2]; op.opnd = hdr[hdr.startIndex + 3]
        op.shiftRight = hdr[hdr.startIndex + 6]
        // Both sides integers (TCF_META_TYPE_INT, 1 << 12); a variable one (a device name) is not read here.
        guard lkind >> 12 == 1, rkind >> 12 == 1 else { throw SluiceError("Error: ematch meta: only integer meta values are implemented in Sluice") }
        op.metaLeft = lkind & 0x7FF; op.metaRight = rkind & 0x7FF
        for id in [op.metaLeft, op.metaRight] where !metaIDs.contains(id) && !socketMetaIDs.contains(id) {
            throw SluiceError("Error: ematch meta: meta id \(id) is not implemented in Sluice")
        }
        if let r = attrs.first(where: { $0.type == 3 })?.value {
            if r.count >= 8 { op.rvalue = UInt64(r.le32(at: 0)) | UInt64(r.le32(at: 4)) << 32 } else if r.count == 4 { op.rvalue = UInt64(r.le32(at: 0)) } else {
                throw SluiceError("Error: ematch meta: bad value")
            }
        }
        if let l = attrs.first(where: { $0.type == 2 })?.value, op.metaLeft == 0 {
            op.lvalue = l.count >= 8 ? UInt64(l.le32(at: 0)) | UInt64(l.le32(at: 4)) << 32 : l.count >= 4 ? UInt64(l.le32(at: 0)) : 0
        }
        return op
    }

    /// __tcf_em_tree_match over the frame `d` of `len` bytes: the program's records and bytes
    /// as plain pointers (the filter keeps them beside its reference to the program).
    @inline(__always)
    static func matches(_ ops: UnsafePointer<EmOp>, _ count: Int, _ bytes: UnsafePointer<UInt8>,
                        _ d: UnsafeMutableRawPointer, _ len: Int, _ m: PacketMeta, _ pf: ParsedFrame) -> Bool {
        if count == 0 { return true }
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: stackDepth) { stack -> Bool in
            var sp = 0, i = 0, res = false
            proceed: while true {
                while i < count {
                    let op = ops[i]
                    if op.kind == .container {
                        guard sp < stackDepth else { return false }
                        stack[sp] = i; sp += 1
                        i = Int(op.ref)
                        continue
                    }
                    // tcf_em_match: the result, inverted when asked.
                    res = one(op, bytes, d, len, m, pf) != (op.flags & EmOp.invert != 0)
                    if earlyEnd(op.flags, res) { break }
                    i += 1
                }
                // pop_stack: a container's own invert and relation apply to its sequence's result.
                while sp > 0 {
                    sp -= 1
                    let ci = stack[sp]
                    let c = ops[ci]
                    if c.flags & EmOp.invert != 0 { res = !res }
                    if earlyEnd(c.flags, res) { continue }
                    i = ci + 1
                    continue proceed
                }
                return res
            }
        }
    }

    @inline(__always) static func earlyEnd(_ flags: UInt16, _ res: Bool) -> Bool {
        let rel = flags & 3
        return rel == 0 || (!res && rel == EmOp.relAnd) || (res && rel == EmOp.relOr)
    }

    /// The start of a layer (TCF_LAYER_LINK, _NETWORK, _TRANSPORT) in the frame.
    @inline(__always) static func base(_ layer: UInt8, _ pf: ParsedFrame) -> Int? {
        switch layer {
        case 0: return 0
        case 1: return pf.l3
        case 2: return pf.l4 >= 0 ? pf.l4 : nil
        default: return nil
        }
    }

    @inline(__always)
    static func one(_ op: EmOp, _ bytes: UnsafePointer<UInt8>, _ d: UnsafeMutableRawPointer, _ len: Int, _ m: PacketMeta, _ pf: ParsedFrame) -> Bool {
        switch op.kind {
        case .container: return false
        case .cmp:
            guard let b = base(op.layer, pf), var v = HeaderEdit.loadBE(d, len, at: b + Int(op.off), size: Int(op.align)) else { return false }
            if op.trans { v = op.align == 2 ? UInt32(UInt16(truncatingIfNeeded: v).byteSwapped) : op.align == 4 ? v.byteSwapped : v }
            if op.mask != 0 { v &= op.mask }
            switch op.opnd {
            case 0: return v == op.val
            case 1: return v > op.val
            case 2: return v < op.val
            default: return false
            }
        case .nbyte:
            guard let b = base(op.layer, pf) else { return false }
            return HeaderEdit.bytesEqual(d, len, at: b + Int(op.off), bytes + Int(op.ref), Int(op.len))
        case .u32:
            guard let v = HeaderEdit.loadBE(d, len, at: pf.l3 + Int(op.off), size: 4) else { return false }
            return (v ^ op.val) & op.mask == 0
        case .meta:
            guard let l = meta(op.metaLeft, op.lvalue, m, pf, len), let r = meta(op.metaRight, op.rvalue, m, pf, len) else { return false }
            let a = op.shiftLeft > 0 ? l >> UInt64(op.shiftLeft) : l
            let b = op.shiftRight > 0 ? r >> UInt64(op.shiftRight) : r
            switch op.opnd {
            case 0: return a == b
            case 1: return a > b
            case 2: return a < b
            default: return false
            }
        case .canid:
            return false
        }
    }

    /// em_meta's integer collectors for what a forwarded packet has.
    @inline(__always)
    static func meta(_ id: UInt16, _ value: UInt64, _ m: PacketMeta, _ pf: ParsedFrame, _ len: Int) -> UInt64? {
        switch id {
        case 0: return value
        case 6: return UInt64(m.priority)
        case 7: return UInt64(pf.proto)
        case 9: return UInt64(m.pktLen != 0 ? m.pktLen : m.length)
        case 10: return 0                                  // skb->data_len: Sluice's buffers are linear
        case 11: return UInt64(pf.l3)                      // mac_len
        case 12: return UInt64(m.mark)
        case 13: return UInt64(m.tcIndex)
        case 46:
            if m.vlanPresent { return UInt64(m.vlanTCI) }
            return pf.vlanID.map { UInt64(UInt16(pf.vlanPrio) << 13 | $0) }
        case 47: return UInt64(m.flowHash)
        default: return nil                                // socket values: no socket
        }
    }

    /// tc's print_ematch text: `NOT`, `AND`/`OR` between matches, containers in parentheses,
    /// each match as its module prints it.
    var text: String {
        func seq(_ start: Int) -> String {
            var out = "", i = start
            while i < count {
                let op = ops[i]
                if op.flags & EmOp.invert != 0 { out += "NOT " }
                if op.kind == .container { out += "(" + seq(Int(op.ref)) + ") " } else { out += one(i) + " " }
                switch op.flags & 3 {
                case EmOp.relAnd: out += "AND "
                case EmOp.relOr: out += "OR "
                default: return out.trimmingSuffix()
                }
                i += 1
            }
            return out.trimmingSuffix()
        }
        func one(_ i: Int) -> String {
            let op = ops[i]
            let layers = ["0", "1", "2"]
            let opnd = op.opnd == 0 ? "eq" : op.opnd == 1 ? "gt" : "lt"
            switch op.kind {
            case .cmp:
                let size = op.align == 1 ? "u8" : op.align == 2 ? "u16" : "u32"
                return "cmp(\(size) at \(op.off) layer \(layers[Int(min(op.layer, 2))]) mask 0x\(String(op.mask, radix: 16))\(op.trans ? " trans" : "") \(opnd) \(op.val))"
            case .u32:
                return "u32(" + cFormat("%08x/%08x", op.val, op.mask) + " at \(op.off))"
            case .nbyte:
                let pat = (0..<Int(op.len)).map { cFormat("%02x", bytes[Int(op.ref) + $0]) }.joined()
                return "nbyte(\(pat) at \(op.off) layer \(op.layer))"
            case .meta:
                return "meta(\(op.metaLeft) \(opnd) \(op.metaRight == 0 ? op.rvalue : UInt64(op.metaRight)))"
            case .canid: return "canid(…)"
            case .container: return ""
            }
        }
        return count == 0 ? "" : seq(0)
    }

    /// tcf_em_tree_dump: TCA_EMATCH_TREE_HDR and the list, each match's header and data.
    func dump(_ type: UInt16, _ w: inout NetlinkWriter) {
        let top = w.beginNest(type, flagged: false)
        var h = NetlinkWriter(); h.put16(UInt16(count)); h.put16(progid)
        w.attr(1, h.bytes)
        let list = w.beginNest(2, flagged: false)
        for (i, r) in raw.enumerated() {
            var b = NetlinkWriter()
            b.put16(r.matchid); b.put16(r.kind); b.put16(r.flags); b.put16(0)
            b.put(r.data)
            w.attr(UInt16(i + 1), b.bytes)
        }
        w.endNest(list)
        w.endNest(top)
    }
}

extension String {
    fileprivate func trimmingSuffix() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
