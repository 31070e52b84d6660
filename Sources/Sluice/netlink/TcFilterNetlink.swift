#if canImport(Glibc)
import Glibc
#endif

/// Filters and their actions over rtnetlink: dumps as tcf_fill_node, u32_dump, mall_dump,
/// fw_dump and tcf_action_dump_1 put them on the wire; RTM_NEWTFILTER/DELTFILTER decoded into
/// the same TcFilter values tc's words produce and added through the same step (addFilter).
/// Classifiers: u32 (without hash tables), matchall, fw, flower (MACs, EtherType, VLAN, IP
/// protocol, addresses, ports, TOS); actions: gact, mirred. Others answer
/// EOPNOTSUPP with a message until they are implemented here.
/// TCA_FLOWER_* attribute numbers Sluice reads and writes by name.
enum Flower {
    static let CLASSID: UInt16 = 1, ACT: UInt16 = 3, FLAGS: UInt16 = 22
}

extension RtnlProcessor {
    /// TC_ACT_* codes (linux/pkt_cls.h).
    static func actionCode(_ v: ActVerdict) -> Int32 {
        switch v {
        case .ok: 0
        case .reclassify: 1
        case .shot: 2
        case .pipe: 3
        case .stolen: 4
        case .trap: 8
        case .continue_: -1
        case .gotoChain(let c): Int32(bitPattern: 0x2000_0000 | (c & 0x0FFF_FFFF))
        case .jump(let n): Int32(bitPattern: 0x1000_0000 | (n & 0x0FFF_FFFF))
        }
    }

    static func verdict(_ code: Int32) -> ActVerdict? {
        switch code {
        case 0: .ok
        case 1: .reclassify
        case 2: .shot
        case 3: .pipe
        case 4: .stolen
        case 8: .trap
        case -1: .continue_
        default:
            code & 0x7000_0000 == 0x2000_0000 ? .gotoChain(UInt32(bitPattern: code) & 0x0FFF_FFFF)
                : code & 0x7000_0000 == 0x1000_0000 ? .jump(UInt32(bitPattern: code) & 0x0FFF_FFFF) : nil
        }
    }

    /// tcm_info of a filter: priority in the upper half, protocol (network order) below.
    static func filterInfo(_ f: TcFilter) -> UInt32 { UInt32(f.prio) << 16 | UInt32(f.proto.byteSwapped) }

    /// struct tcf_t: ages in clock_t (1/100 s).
    func tcfT(installed: UInt64, c: ActionCounters, _ w: inout NetlinkWriter) {
        let now = dp.clock.now
        func ticks(_ t: UInt64) -> UInt64 { t == 0 ? 0 : (now &- t) / (10 * Time.ms) }
        w.put64(ticks(installed)); w.put64(ticks(c.lastUse == 0 ? installed : c.lastUse)); w.put64(0); w.put64(ticks(c.firstUse))
    }

    /// tcf_fill_node: the classifier instance's head (fh NULL) or one of its filters.
    /// `table`: a u32 hash table's row (`f.handle` its id, `divisor` its buckets).
    func encodeFilter(_ f: TcFilter, head: Bool, table: Bool = false, divisor: Int = 1, block: FilterBlock, ifindex: Int32, parent: UInt32,
                      seq: UInt32, flags: UInt16 = NL.F_MULTI, terse: Bool = false, _ w: inout NetlinkWriter) {
        let start = w.begin(type: NL.RTM_NEWTFILTER, flags: flags, seq: seq, pid: pid)
        w.put8(0); w.put8(0); w.put16(0)
        w.put32(UInt32(bitPattern: ifindex))
        let handle: UInt32 = head ? 0 : (table ? f.handle & 0xFFF0_0000 : f.handle)
        w.put32(handle)
        w.put32(parent)
        w.put32(Self.filterInfo(f))
        w.attr(TCA.KIND, string: f.kind)
        w.attr(TCA.CHAIN, u32: f.chain)
        if !head && terse {
            // fl_terse_dump / mall_terse_dump: the flags and the actions' kind, index and counts.
            let n = w.beginNest(TCA.OPTIONS, flagged: false)
            let isFlower: Bool = { if case .flower = f.match { return true }; return false }()
            w.attr(isFlower ? Flower.FLAGS : 3, u32: f.clsFlags | 8)
            if !f.bound.entries.isEmpty {
                let outer = w.beginNest(isFlower ? Flower.ACT : 2, flagged: false)
                for (k, e) in f.bound.entries.enumerated() { encodeAction(e, order: UInt16(k + 1), terse: true, &w) }
                w.endNest(outer)
            }
            w.endNest(n)
        } else if !head {
            let classid: UInt32? = { if case .classid(let c)? = f.result { return c.raw } else { return nil } }()
            let n = w.beginNest(TCA.OPTIONS)
            switch f.match {
            case _ where table:
                w.attr(4, u32: UInt32(divisor))                                // TCA_U32_DIVISOR
            case .u32Range:
                // u32_dump: struct tc_u32_sel with its keys, the table and bucket, the class, the
                // link, flags, mark, actions.
                var sel = NetlinkWriter()
                let keys = block.keys(of: f)
                let s = f.u32Sel
                sel.put8(s.flags); sel.put8(s.offshift); sel.put8(UInt8(keys.count)); sel.put8(0)
                sel.put16(s.offmask.bigEndian); sel.put16(s.off)
                sel.put16(UInt16(bitPattern: s.offoff)); sel.put16(UInt16(bitPattern: s.hoff)); sel.put32(s.hmask.bigEndian)
                for k in keys {
                    sel.put32(k.mask.bigEndian)
                    sel.put32(k.value.bigEndian)
                    sel.put32(UInt32(bitPattern: Int32(k.offset)))
                    sel.put32(k.l4 ? UInt32.max : 0)
                }
                w.attr(5, sel.bytes)                                           // TCA_U32_SEL
                w.attr(2, u32: f.handle & 0xFFFF_F000)                         // TCA_U32_HASH
                if let classid { w.attr(1, u32: classid) }
                if f.u32Link != 0 { w.attr(3, u32: f.u32Link) }                // TCA_U32_LINK
                w.attr(11, u32: f.clsFlags | 8)                                // TCA_U32_FLAGS: NOT_IN_HW
                if f.indev != 0, let d = dp.device(f.indev) { w.attr(8, string: d.name) }   // TCA_U32_INDEV
                if f.u32MarkValue != 0 || f.u32MarkMask != 0 {
                    var m = NetlinkWriter(); m.put32(f.u32MarkValue); m.put32(f.u32MarkMask); m.put32(0)
                    w.attr(10, m.bytes)                                        // TCA_U32_MARK
                }
                encodeActions(f, nestType: 7, &w)                              // TCA_U32_ACT
            case .all:
                if let classid { w.attr(1, u32: classid) }
                w.attr(3, u32: f.clsFlags | 8)                                 // TCA_MATCHALL_FLAGS
                let hits = f.bound.entries.first?.counters.pointee.packets ?? 0
                w.attr(4, u64: hits)                                           // TCA_MATCHALL_PCNT
                encodeActions(f, nestType: 2, &w)                              // TCA_MATCHALL_ACT
            case .basic:
                // basic_dump: class, the hit counters (struct tc_basic_pcnt), actions, ematches.
                if let classid { w.attr(1, u32: classid) }
                let hits = f.bound.entries.first?.counters.pointee.packets ?? 0
                var pc = NetlinkWriter(); pc.put64(hits); pc.put64(hits)
                w.attr(5, pc.bytes)                                            // TCA_BASIC_PCNT
                encodeActions(f, nestType: 3, &w)                              // TCA_BASIC_ACT
                f.ematch?.dump(2, &w)                                          // TCA_BASIC_EMATCHES
            case .flow:
                // flow_dump: keys and mode; mask and xor when not the identity; the rest when set.
                if let p = f.flow {
                    w.attr(1, u32: p.keymask); w.attr(2, u32: p.hash ? 1 : 0)
                    if p.mask != 0xFFFF_FFFF || p.xor != 0 { w.attr(6, u32: p.mask); w.attr(7, u32: p.xor) }
                    if p.rshift != 0 { w.attr(4, u32: p.rshift) }
                    if p.addend != 0 { w.attr(5, u32: p.addend) }
                    if p.divisor != 0 { w.attr(8, u32: p.divisor) }
                    if p.baseclass != 0 { w.attr(3, u32: p.baseclass) }
                    if p.perturb != 0 { w.attr(12, u32: p.perturb) }
                }
                encodeActions(f, nestType: 9, &w)                              // TCA_FLOW_ACT
                if let e = f.ematch, e.count > 0 { e.dump(11, &w) }            // TCA_FLOW_EMATCHES
            case .bpf:
                // cls_bpf_dump: class, the classic program, actions, flags, generic flags.
                if let classid { w.attr(3, u32: classid) }
                if let p = f.bpf { w.attr(4, u16: UInt16(p.count)); w.attr(5, p.wire) }
                encodeActions(f, nestType: 1, &w)                              // TCA_BPF_ACT
                if f.bpfDirect { w.attr(8, u32: 1) }                           // TCA_BPF_FLAGS: ACT_DIRECT
                w.attr(9, u32: f.clsFlags | 8)                                 // TCA_BPF_FLAGS_GEN: NOT_IN_HW
            case .cgroup:
                // cls_cgroup_dump: actions, then the ematch tree.
                encodeActions(f, nestType: 1, &w)                              // TCA_CGROUP_ACT
                f.ematch?.dump(3, &w)                                          // TCA_CGROUP_EMATCHES
            case .route(let to, let from, let iif):
                // route4_dump: TO unless none, then IIF or FROM (0 when any), the class.
                let h = f.handle
                if h & 0x8000 == 0 { w.attr(2, u32: (to ?? 0) & 0xFF) }
                if h & 0x8000_0000 != 0 {
                    if h >> 16 != 0xFFFF { w.attr(4, u32: UInt32(bitPattern: iif ?? 0)) }
                } else {
                    w.attr(3, u32: from ?? 0)
                }
                if let classid, classid != 0 { w.attr(1, u32: classid) }
                encodeActions(f, nestType: 6, &w)                              // TCA_ROUTE4_ACT
            case .fw(_, let mask):
                if let classid { w.attr(1, u32: classid) }
                if f.indev != 0, let d = dp.device(f.indev) { w.attr(3, string: d.name) }   // TCA_FW_INDEV
                if mask != 0xFFFF_FFFF { w.attr(5, u32: mask) }
                encodeActions(f, nestType: 4, &w)                              // TCA_FW_ACT
            case .flower(let k):
                if let classid { w.attr(Flower.CLASSID, u32: classid) }
                if f.indev != 0, let d = dp.device(f.indev) { w.attr(2, string: d.name) }   // TCA_FLOWER_INDEV
                encodeFlower(k, &w)
                w.attr(Flower.FLAGS, u32: f.clsFlags | 8)                      // TCA_CLS_FLAGS_NOT_IN_HW
                w.attr(86, u32: 0)                                             // TCA_FLOWER_IN_HW_COUNT
                encodeActions(f, nestType: Flower.ACT, &w)
            default:
                break
            }
            w.endNest(n)
        }
        w.end(start)
    }

    /// tc_ctl_chain for RTM_NEWCHAIN and RTM_DELCHAIN. Templates (a kind on the chain) are
    /// not kept by Sluice.
    func changeChain(_ msg: NetlinkMessage) throws(NetlinkError) {
        let (t, a) = try filterTarget(msg)
        let create = msg.header.type == NL.RTM_NEWCHAIN
        if create && a.has(TCA.KIND) { throw NetlinkError(EOPNOTSUPP, "chain templates are not implemented in Sluice", offset: a.offsets[TCA.KIND]) }
        do { try runner.changeChain(t, create: create, createFlag: msg.header.flags & NL.F_CREATE != 0) } catch {
            let m = error.message
            throw NetlinkError(m.contains("already exists") ? EEXIST : m.contains("NLM_F_CREATE") ? ENOENT : EINVAL,
                               String(m.dropFirst(m.hasPrefix("Error: ") ? 7 : 0).dropLast(m.hasSuffix(".") ? 1 : 0)))
        }
    }

    /// tc_dump_chain: every chain of the block the request names, in creation order, with
    /// the owning qdisc's handle as parent (tc_chain_fill_node).
    /// A device or block that is not there makes an empty dump, not an error (tc_dump_chain
    /// returns what it has).
    func dumpChains(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let (ifindex, _, parent) = try tcmsg(msg)
        var parts = DumpParts(limit: bufferSize)
        guard let dev = dp.device(ifindex), let (block, _) = try? filterBlock(dev, parent: parent) else {
            parts.finish(seq: msg.header.seq, pid: pid, into: &replies)
            return
        }
        let owner = CommandRunner.chainOwner(dev, parent: parent)
        for c in block.chainList {
            parts.add { w in chainMessage(dev, parent: owner, chain: c, seq: msg.header.seq, flags: NL.F_MULTI, &w) }
        }
        parts.finish(seq: msg.header.seq, pid: pid, into: &replies)
    }

    /// RTM_GETCHAIN for one chain.
    func getChain(_ msg: NetlinkMessage) throws(NetlinkError) -> [UInt8] {
        let (t, _) = try filterTarget(msg)
        let parent = t.parent?.raw ?? 0
        let (block, _) = try filterBlock(t.dev, parent: parent)
        guard block.chainList.contains(t.chain) else { throw NetlinkError(EINVAL, "Cannot find specified filter chain") }
        var w = NetlinkWriter()
        chainMessage(t.dev, parent: CommandRunner.chainOwner(t.dev, parent: parent), chain: t.chain, seq: msg.header.seq, flags: 0, &w)
        return w.bytes
    }

    /// tc_flags_valid: skip_hw, skip_sw and verbose only, not both skips.
    static func clsFlags(_ v: UInt32?, at offset: Int?) throws(NetlinkError) -> UInt32 {
        guard let v else { return 0 }
        guard v & ~0x13 == 0, v & 3 != 3 else { throw NetlinkError(EINVAL, "Invalid filter flags", offset: offset) }
        return v
    }

    /// The block a filter request names (tcm_parent), with the parent value dumps carry.
    func filterBlock(_ dev: NetDevice, parent: UInt32) throws(NetlinkError) -> (FilterBlock, UInt32) {
        switch parent {
        case let p where p >> 16 == 0xFFFF:
            // ingress has one block whatever the minor (its classid ffff:); clsact one per
            // direction, named by ffff:fff2 and ffff:fff3.
            guard let ing = dev.ingress else { throw NetlinkError(EINVAL, "Parent Qdisc doesn't exists") }
            if !ing.clsact { return (ing.filters, 0xFFFF_0000) }
            return (parent == 0xFFFF_FFF3 ? ing.egressFilters : ing.filters, parent == 0xFFFF_FFF3 ? parent : 0xFFFF_FFF2)
        case 0:
            return (dev.qdisc.filters, dev.qdisc.handle.raw)
        default:
            guard let q = runner.findQdisc(dev, major: UInt16(parent >> 16)) else { throw NetlinkError(EINVAL, "Parent Qdisc doesn't exists") }
            if parent & 0xFFFF != 0 {
                do { return (try runner.withClassBlock(q, TcHandle(raw: parent)) { (b: inout FilterBlock) throws(SluiceError) in b }, parent) }
                catch { throw Self.netlinkError(error) }
            }
            return (q.filters, q.handle.raw)
        }
    }

    /// tcf_chain_dump / tp->ops->walk for a block: each instance's head, then its filters —
    /// for u32 its tables (tp_c->hlist: newest first), each followed by its buckets' knodes in
    /// node order (u32_walk). (filter, head, table row, divisor).
    static func walk(_ block: FilterBlock) -> [(TcFilter, Bool, Bool, Int)] {
        var out: [(TcFilter, Bool, Bool, Int)] = []
        for (chain, prio) in block.instances {
            let fs = block.filters.filter { $0.chain == chain && $0.prio == prio }
            if let r = block.u32Root(chain: chain, prio: prio) {
                let root = block.u32Tables[r]
                let head = fs.first ?? TcFilter(prio: prio, proto: root.proto, handle: 0, chain: chain, kind: "u32", match: .all)
                out.append((head, true, false, 1))
                for t in block.u32Tables.filter({ $0.chain == chain && $0.prio == prio }).sorted(by: { $0.serial > $1.serial }) {
                    var row = head
                    row.handle = t.htid
                    out.append((row, false, true, t.divisor))
                    for b in 0..<t.divisor {
                        let lo = Int(block.u32Ranges[t.base + b]), hi = Int(block.u32Ranges[t.base + b + 1])
                        for k in lo..<hi { out.append((block.store[Int(block.u32Slots[k])], false, false, 1)) }
                    }
                }
                continue
            }
            guard let first = fs.first else { continue }
            out.append((first, true, false, 1))
            // route4_walk lists by bucket, not in classification order.
            // fl_walk goes by handle (the idr), not in the masks' order.
            let listed = first.kind == "route" ? fs.sorted { RouteFilter.dumpKey($0.handle) < RouteFilter.dumpKey($1.handle) }
                : first.kind == "flower" ? fs.sorted { $0.handle < $1.handle } : fs
            for f in listed { out.append((f, false, false, 1)) }
        }
        return out
    }

    /// tc_dump_tfilter.
    func dumpFilters(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let (ifindex, _, parent) = try tcmsg(msg)
        guard let dev = dp.device(ifindex) else { throw NetlinkError(ENODEV) }
        let (block, p) = try filterBlock(dev, parent: parent)
        // tcf_chain_dump: only the priority, protocol and chain asked for, when asked.
        let info = msg.payload.le32(at: 16)
        let prio = UInt16(info >> 16), proto = UInt16(truncatingIfNeeded: info).byteSwapped
        let a = try? NLAttributes.parse(msg.payload.dropFirst(20), base: NL.hdrLen + 20, policy: TCA.policy, strict: false)
        let chain = a?.u32(TCA.CHAIN)
        // TCA_DUMP_FLAGS (bitfield32): TCA_DUMP_FLAGS_TERSE asks for the classifiers' terse
        // dumps; those without one (all but flower and matchall) are left out.
        let terse = a?[TCA.DUMP_FLAGS].map { $0.count >= 8 && $0.le32(at: 0) & $0.le32(at: 4) & 1 != 0 } ?? false
        var parts = DumpParts(limit: bufferSize)
        for (f, head, table, divisor) in Self.walk(block)
        where (prio == 0 || f.prio == prio) && (proto == 0 || f.proto == proto) && (chain == nil || f.chain == chain!) {
            if terse && !head { switch f.match { case .flower, .all: break; default: continue } }
            parts.add { w in encodeFilter(f, head: head, table: table, divisor: divisor, block: block, ifindex: ifindex, parent: block.classid != 0 ? block.classid : p, seq: msg.header.seq, terse: terse, &w) }
        }
        parts.finish(seq: msg.header.seq, pid: pid, into: &replies)
    }

    /// tc_get_tfilter: one filter, found by chain, priority, protocol and handle.
    func getFilter(_ msg: NetlinkMessage) throws(NetlinkError) -> [UInt8] {
        let (t, _) = try filterTarget(msg)
        guard let prio = t.prio else { throw NetlinkError(ENOENT, "Invalid filter command with priority of zero") }
        let (block, _) = try filterBlock(t.dev, parent: t.parent?.raw ?? 0)
        // tc_get_tfilter answers with the parent the request named (the root qdisc's for none).
        let p = t.parent?.raw ?? t.dev.qdisc.handle.raw
        if t.protoGiven, t.proto != 0, let ip = block.instanceProtocol(chain: t.chain, prio: prio), ip != t.proto {
            throw NetlinkError(EINVAL, "Protocol mismatch for filter with specified priority")
        }
        let instance = block.filters.filter { $0.chain == t.chain && $0.prio == prio && (!t.protoGiven || $0.proto == t.proto) }
        let root = block.u32Root(chain: t.chain, prio: prio).map { block.u32Tables[$0] }.flatMap { r in !t.protoGiven || r.proto == t.proto ? r : nil }
        guard let first = instance.first ?? root.map({ TcFilter(prio: prio, proto: $0.proto, handle: 0, chain: t.chain, kind: "u32", match: .all) }) else {
            throw NetlinkError(ENOENT, "Filter with specified priority/protocol not found")
        }
        if let k = t.kind, k != first.kind { throw NetlinkError(EINVAL, "Specified filter kind does not match existing one") }
        let h = t.handle?.raw ?? 0
        if first.isU32, h & 0xFFFFF == 0, let ti = block.u32Table(h) {
            var row = first
            row.handle = block.u32Tables[ti].htid
            var w = NetlinkWriter()
            encodeFilter(row, head: false, table: true, divisor: block.u32Tables[ti].divisor, block: block, ifindex: t.dev.ifindex, parent: p, seq: msg.header.seq, flags: 0, &w)
            return w.bytes
        }
        // u32's hash tables are shared by every u32 instance of the block (tc_u_common), so
        // u32_get finds a node by handle whatever instance holds it; tcf_fill_node then names
        // the instance the request went to.
        let found = first.kind == "u32" ? block.filters.first { $0.kind == "u32" && $0.handle == h }
            : instance.first(where: { $0.handle == h }) ?? (first.kind == "matchall" && h == 0 ? first : nil)
        guard var f = found else { throw NetlinkError(ENOENT, "Specified filter handle not found") }
        f.prio = first.prio
        f.proto = first.proto
        var w = NetlinkWriter()
        encodeFilter(f, head: false, block: block, ifindex: t.dev.ifindex, parent: p, seq: msg.header.seq, flags: 0, &w)
        return w.bytes
    }

    /// The TcTarget a filter request addresses.
    func filterTarget(_ msg: NetlinkMessage) throws(NetlinkError) -> (CommandRunner.TcTarget, NLAttributes) {
        let (ifindex, handle, parent) = try tcmsg(msg)
        guard let dev = dp.device(ifindex) else { throw NetlinkError(ENODEV) }
        let info = msg.payload.le32(at: 16)
        let a = try NLAttributes.parse(msg.payload.dropFirst(20), base: NL.hdrLen + 20, policy: TCA.policy, strict: false)
        var t = CommandRunner.TcTarget(dev: dev)
        t.parent = parent == 0 ? nil : TcHandle(raw: parent)
        t.handle = handle == 0 ? nil : TcHandle(raw: handle)
        t.kind = a.string(TCA.KIND)
        let prio = UInt16(info >> 16)
        t.prio = prio == 0 ? nil : prio
        let proto = UInt16(truncatingIfNeeded: info).byteSwapped
        t.proto = proto == 0 ? 3 : proto
        t.protoGiven = proto != 0
        if let c = a.u32(TCA.CHAIN) { t.chain = c; t.chainGiven = true }
        return (t, a)
    }

    /// RTM_NEWTFILTER (tc_new_tfilter) for u32, matchall, fw with gact/mirred actions.
    func newFilter(_ msg: NetlinkMessage) throws(NetlinkError) {
        let (t, a) = try filterTarget(msg)
        guard let kind = t.kind else { throw NetlinkError(EINVAL, "Filter kind and protocol must be specified") }
        var f = TcFilter(prio: t.prio ?? 0xC000, proto: t.proto, handle: t.handle?.raw ?? 0, chain: t.chain, kind: kind, match: .all, result: nil)
        let base = (a.offsets[TCA.OPTIONS] ?? 0) + NL.attrHdrLen
        let o = a[TCA.OPTIONS] ?? []
        func classid(_ v: UInt32?) { if let v { f.result = .classid(TcHandle(raw: v)) } }
        /// tcf_exts_validate_ex: an old-style police attribute (`tc filter … police …`)
        /// becomes the filter's one action, a policer (TCA_OLD_COMPAT); else the action list.
        func exts(_ m: NLAttributes, police: UInt16?, act: UInt16) throws(NetlinkError) {
            if let police, let p = m[police] {
                let r = try decodeAction("police", p, base: m.offsets[police]! + NL.attrHdrLen, dev: t.dev)
                f.actionRequests = [r]; f.actions = [r.action]; f.oldPolice = police
            } else if let l = m[act] {
                f.actionRequests = try decodeActions(l, base: m.offsets[act]! + NL.attrHdrLen, dev: t.dev); f.actions = f.actionRequests.map(\.action)
            }
        }
        switch kind {
        case "u32" where a[TCA.OPTIONS] == nil:
            // No options: the instance alone, with its root table (u32_change returns early).
            if t.handle != nil { throw NetlinkError(EINVAL, "cls_u32: Filter handle requires options") }
            f.u32Divisor = 0
        case "u32":
            let u = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 12, [1: .u32, 2: .u32, 3: .u32, 4: .u32, 5: .minLength(16), 6: .unspec, 7: .unspec,
                                                                                       8: .string(maxLength: 16), 10: .minLength(12), 11: .u32]), strict: false)
            if let name = u.string(8) {
                // tcf_change_indev; u32 answers EINVAL.
                guard let d = dp.device(named: name) else { throw NetlinkError(EINVAL, "Network device not found", offset: u.offsets[8]) }
                f.indev = d.ifindex
            }
            if let d = u.u32(4) {
                // TCA_U32_DIVISOR: a new hash table, nothing else.
                f.u32Divisor = d
                break
            }
            f.u32Ht = u.u32(2)
            f.u32Link = u.u32(3) ?? 0
            f.clsFlags = try Self.clsFlags(u.u32(11), at: u.offsets[11])
            if let m = u[10] { f.u32MarkValue = m.le32(at: 0); f.u32MarkMask = m.le32(at: 4) }
            guard let sel = u[5] else { throw NetlinkError(EINVAL, "cls_u32: Selector not specified") }
            f.u32Sel.flags = sel[sel.startIndex]
            f.u32Sel.offshift = sel[sel.startIndex + 1]
            f.u32Sel.offmask = UInt16(bigEndian: sel.le16(at: 4))
            f.u32Sel.off = sel.le16(at: 6)
            f.u32Sel.offoff = Int16(bitPattern: sel.le16(at: 8))
            f.u32Sel.hoff = Int16(bitPattern: sel.le16(at: 10))
            f.u32Sel.hmask = UInt32(bigEndian: sel.le32(at: 12))
            let n = Int(sel[sel.startIndex + 2])
            guard sel.count >= 16 + 16 * n else { throw NetlinkError(EINVAL, "u32: the selector is shorter than its keys", offset: u.offsets[5]) }
            var keys: [(value: UInt32, mask: UInt32, offset: Int, l4: Bool)] = []
            for k in 0..<n {
                let o = 16 + 16 * k
                keys.append((value: UInt32(bigEndian: sel.le32(at: o + 4)), mask: UInt32(bigEndian: sel.le32(at: o)),
                             offset: Int(Int32(bitPattern: sel.le32(at: o + 8))), l4: sel.le32(at: o + 12) != 0))
            }
            f.match = .u32(keys)
            classid(u.u32(1))
            try exts(u, police: 6, act: 7)
        case "matchall":
            let m = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 5, [1: .u32, 2: .unspec, 3: .u32]), strict: false)
            f.match = .all
            classid(m.u32(1))
            f.clsFlags = try Self.clsFlags(m.u32(3), at: m.offsets[3])
            if let act = m[2] { f.actionRequests = try decodeActions(act, base: m.offsets[2]! + NL.attrHdrLen, dev: t.dev) ; f.actions = f.actionRequests.map(\.action) }
        case "basic", "cgroup":
            // basic_change / cls_cgroup_change: options required; (basic) the class; the
            // actions and the ematch tree.
            guard a[TCA.OPTIONS] != nil else { throw NetlinkError(EINVAL, "\(kind): options are required") }
            let basic = kind == "basic"
            let (actT, treeT, policeT): (UInt16, UInt16, UInt16) = basic ? (3, 2, 4) : (1, 3, 2)
            let m = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 6, [1: basic ? .u32 : .unspec, 2: .unspec, 3: .unspec, 4: .unspec]), strict: false)
            f.match = basic ? .basic : .cgroup
            if basic { classid(m.u32(1)) }
            if let tree = m[treeT] {
                let tb = try NLAttributes.parse(tree, base: m.offsets[treeT]! + NL.attrHdrLen, policy: NLAPolicy(maxType: 2, [1: .minLength(4), 2: .unspec]), strict: false)
                guard let hdr = tb[1], let list = tb[2] else { throw NetlinkError(EINVAL, "ematch: the tree needs a header and a list", offset: m.offsets[treeT]) }
                let items = try NLAttributes.list(list, base: tb.offsets[2]! + NL.attrHdrLen).map { (type: $0.type, value: $0.value) }
                do { f.ematch = try EmatchProgram.compile(header: hdr, list: items) } catch {
                    throw NetlinkError(error.message.contains("not implemented") ? EOPNOTSUPP : error.message.contains("unknown kind") ? ENOENT : EINVAL,
                                       String(error.message.dropFirst(error.message.hasPrefix("Error: ") ? 7 : 0)), offset: m.offsets[treeT])
                }
            }
            try exts(m, police: policeT, act: actT)
        case "flow":
            // flow_change: keys (at most FLOW_KEY_MAX), mode, one key in map mode, perturb only
            // in hash mode, a base class with a minor; a change keeps what it does not name.
            guard a[TCA.OPTIONS] != nil else { throw NetlinkError(EINVAL, "flow: options are required") }
            let m = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 12, [1: .u32, 2: .u32, 3: .u32, 4: .u32, 5: .u32, 6: .u32, 7: .u32, 8: .u32, 9: .unspec, 10: .unspec, 11: .unspec, 12: .u32]), strict: false)
            f.match = .flow
            if let bc = m.u32(3), bc & 0xFFFF == 0 { throw NetlinkError(EINVAL, "flow: the base class needs a minor", offset: m.offsets[3]) }
            if let km = m.u32(1) {
                guard km != 0 else { throw NetlinkError(EINVAL, "flow: no keys", offset: m.offsets[1]) }
                guard km >> 18 == 0 else { throw NetlinkError(EOPNOTSUPP, "flow: unknown key", offset: m.offsets[1]) }
            }
            let existing = t.handle.flatMap { h in try? runner.withBlock(t) { (b: inout FilterBlock) throws(SluiceError) in
                b.filters.first { $0.kind == "flow" && $0.chain == t.chain && $0.prio == (t.prio ?? 0) && $0.handle == h.raw }?.flow } } ?? nil
            var p = existing ?? FlowParams(keymask: 0, hashrnd: UInt32.random(in: 0...UInt32.max))
            if existing == nil && !m.has(1) { throw NetlinkError(EINVAL, "flow: keys are required") }
            if let km = m.u32(1) { p.keymask = km }
            if let mode = m.u32(2) { p.hash = mode == 1 }
            if !p.hash && p.keymask.nonzeroBitCount > 1 { throw NetlinkError(EINVAL, "flow: map mode takes one key") }
            if let pt = m.u32(12) {
                guard p.hash else { throw NetlinkError(EINVAL, "flow: perturb needs hash mode", offset: m.offsets[12]) }
                p.perturb = pt
            }
            if let v = m.u32(6) { p.mask = v }
            if let v = m.u32(7) { p.xor = v }
            if let v = m.u32(4) { p.rshift = v }
            if let v = m.u32(5) { p.addend = v }
            if let v = m.u32(8) { p.divisor = v }
            if let v = m.u32(3) { p.baseclass = v }
            f.flow = p
            if let tree = m[11] {
                let tb = try NLAttributes.parse(tree, base: m.offsets[11]! + NL.attrHdrLen, policy: NLAPolicy(maxType: 2, [1: .minLength(4), 2: .unspec]), strict: false)
                guard let hdr = tb[1], let list = tb[2] else { throw NetlinkError(EINVAL, "ematch: the tree needs a header and a list", offset: m.offsets[11]) }
                let items = try NLAttributes.list(list, base: tb.offsets[2]! + NL.attrHdrLen).map { (type: $0.type, value: $0.value) }
                do { f.ematch = try EmatchProgram.compile(header: hdr, list: items) } catch {
                    throw NetlinkError(error.message.contains("not implemented") ? EOPNOTSUPP : EINVAL, String(error.message.dropFirst(error.message.hasPrefix("Error: ") ? 7 : 0)), offset: m.offsets[11])
                }
            }
            try exts(m, police: 10, act: 9)
        case "bpf":
            // cls_bpf_change / cls_bpf_set_parms: options required; exactly one program —
            // classic (OPS_LEN and OPS, checked as bpf_prog_create does) or eBPF (FD, which
            // Sluice does not run); direct action; generic flags; the class; actions.
            guard a[TCA.OPTIONS] != nil else { throw NetlinkError(EINVAL, "bpf: options are required") }
            let m = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 11, [1: .unspec, 2: .unspec, 3: .u32, 4: .u16, 5: .binary(maxLength: 4096 * 8), 6: .u32, 7: .string(maxLength: 256), 8: .u32, 9: .u32]), strict: false)
            let classic = m.has(4) && m.has(5)
            if m.has(6) && !classic { throw NetlinkError(EOPNOTSUPP, "bpf: eBPF programs are not supported; Sluice runs classic BPF", offset: m.offsets[6]) }
            guard classic != m.has(6) else { throw NetlinkError(EINVAL, "bpf: give one program (TCA_BPF_OPS_LEN and TCA_BPF_OPS)") }
            if let fl = m.u32(8) {
                guard fl & ~1 == 0 else { throw NetlinkError(EINVAL, "bpf: unknown flags", offset: m.offsets[8]) }
                f.bpfDirect = fl & 1 != 0
            }
            f.clsFlags = try Self.clsFlags(m.u32(9), at: m.offsets[9])
            let n = Int(m.u16(4) ?? 0)
            guard n > 0, n <= BPFProgram.maxInsns, let ops = BPFProgram.decode(wire: m[5]!, count: n) else {
                throw NetlinkError(EINVAL, "bpf: the program's length does not match TCA_BPF_OPS_LEN", offset: m.offsets[5])
            }
            do { f.bpf = try BPFProgram.compile(ops) } catch {
                throw NetlinkError(EINVAL, String(error.message.dropFirst(error.message.hasPrefix("Error: ") ? 7 : 0)), offset: m.offsets[5])
            }
            f.match = .bpf
            classid(m.u32(3))
            try exts(m, police: 2, act: 1)
        case "route":
            // route4_change / route4_set_parms: a handle (tc sends the one the words make), options,
            // realms of 8 bits and an ifindex of 15; the handle must be the one they make.
            guard let h = t.handle?.raw else { throw NetlinkError(EINVAL, "Creating with handle of 0 is invalid") }
            guard a[TCA.OPTIONS] != nil else { throw NetlinkError(EINVAL, "cls_route: Missing options") }
            let m = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 6, [1: .u32, 2: .u32, 3: .u32, 4: .u32, 5: .unspec, 6: .unspec]), strict: false)
            for (t, limit) in [(UInt16(2), UInt32(0xFF)), (3, 0xFF), (4, 0x7FFF)] {
                if let v = m.u32(t), v > limit { throw NetlinkError(ERANGE, "integer out of range", offset: m.offsets[t]) }
            }
            let to = m.u32(2), from = m.u32(3), iif = m.u32(4).map { Int32(bitPattern: $0) }
            if from != nil && iif != nil { throw NetlinkError(EINVAL, "'from' and 'fromif' are mutually exclusive", offset: m.offsets[3]) }
            do { f.handle = try RouteFilter.handle(to: to, from: from, iif: iif, requested: h) } catch { throw Self.netlinkError(error) }
            f.match = .route(to: to, from: from, iif: iif)
            classid(m.u32(1))
            try exts(m, police: 5, act: 6)
        case "fw" where a[TCA.OPTIONS] == nil:
            // fw_change without options: the old method, accepted, unless it names a handle.
            if t.handle != nil { throw NetlinkError(EINVAL, "fw: a handle needs options (a class or actions)") }
            return
        case "fw":
            let m = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 6, [1: .u32, 2: .unspec, 3: .string(maxLength: 16), 4: .unspec, 5: .u32]), strict: false)
            if let name = m.string(3) {
                guard let d = dp.device(named: name) else { throw NetlinkError(ENODEV, "Network device not found", offset: m.offsets[3]) }
                f.indev = d.ifindex
            }
            f.match = .fw(mark: t.handle?.raw ?? 0, mask: m.u32(5) ?? 0xFFFF_FFFF)
            classid(m.u32(1))
            try exts(m, police: 2, act: 4)
        case "flower":
            let m = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 110, [:]), strict: false)
            f.match = .flower(try Self.flowerKey(m))
            if let name = m.string(2) {
                // TCA_FLOWER_INDEV (tcf_change_indev).
                guard let d = dp.device(named: name) else { throw NetlinkError(ENODEV, "Network device not found", offset: m.offsets[2]) }
                f.indev = d.ifindex
            }
            classid(m.u32(Flower.CLASSID))
            f.clsFlags = try Self.clsFlags(m.u32(Flower.FLAGS), at: m.offsets[Flower.FLAGS])
            if let act = m[Flower.ACT] { f.actionRequests = try decodeActions(act, base: m.offsets[Flower.ACT]! + NL.attrHdrLen, dev: t.dev) ; f.actions = f.actionRequests.map(\.action) }
        default:
            throw NetlinkError(EOPNOTSUPP, "filter \(kind) is not implemented over rtnetlink in Sluice yet")
        }
        let flags = msg.header.flags
        do {
            try runner.addFilter(t, f, create: flags & NL.F_CREATE != 0, exclusive: flags & NL.F_EXCL != 0)
        } catch { throw Self.netlinkError(error) }
    }

    /// fl_set_key for the keys Sluice's flower matches: MACs (masked), EtherType (behind a
    /// VLAN tag: its id and priority, and the inner type), IP protocol, IPv4/IPv6 addresses
    /// (masked), TCP/UDP ports (exact or a range), TOS. Any other key is refused by name rather
    /// than ignored.
    static func flowerKey(_ m: NLAttributes) throws(NetlinkError) -> FlowerKey {
        var k = FlowerKey()
        func bytes(_ t: UInt16, _ n: Int) throws(NetlinkError) -> [UInt8]? {
            guard let v = m[t] else { return nil }
            guard v.count == n else { throw NetlinkError(EINVAL, "flower: attribute \(t) must be \(n) bytes", offset: m.offsets[t]) }
            return Array(v)
        }
        func be(_ b: [UInt8]) -> UInt64 { b.reduce(0) { $0 << 8 | UInt64($1) } }
        func masked(_ v: UInt16, _ mk: UInt16, _ n: Int) throws(NetlinkError) -> (UInt64, UInt64)? {
            guard let a = try bytes(v, n) else { return nil }
            let full = n == 8 ? UInt64.max : (UInt64(1) << (8 * UInt64(n))) - 1
            return (be(a), try bytes(mk, n).map(be) ?? full)
        }
        let known: Set<UInt16> = [Flower.CLASSID, 2, Flower.ACT, Flower.FLAGS, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                                  18, 19, 20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 35, 36, 37, 38, 45, 46, 73, 74, 80, 81, 82, 83, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98]
        if let other = m.values.keys.sorted().first(where: { !known.contains($0) }) {
            throw NetlinkError(EOPNOTSUPP, "flower key \(other) is not implemented in Sluice (MACs, EtherType, VLAN, IP protocol, addresses, ports and TOS are)", offset: m.offsets[other])
        }
        k.dstMAC = try masked(4, 5, 6)
        k.srcMAC = try masked(6, 7, 6)
        if let t = try bytes(8, 2) { k.ethType = UInt16(be(t)) }
        if let v = m[23] {
            guard v.count == 2 else { throw NetlinkError(EINVAL, "flower: vlan_id", offset: m.offsets[23]) }
            k.vlanID = v.le16(at: 0) & 0xFFF
        }
        if let v = try bytes(24, 1) { k.vlanPrio = v[0] & 7 }
        if let t = try bytes(25, 2) { k.ethType = UInt16(be(t)) }                 // the type behind the tag
        if k.ethType == EtherType.vlan || k.ethType == EtherType.qinq { k.ethType = nil }
        if let v = try bytes(9, 1) { k.ipProto = v[0] }
        if let (v, mk) = try masked(10, 11, 4) { k.srcIP = (UInt32(v), UInt32(mk)) }
        if let (v, mk) = try masked(12, 13, 4) { k.dstIP = (UInt32(v), UInt32(mk)) }
        func v6(_ a: UInt16, _ mk: UInt16) throws(NetlinkError) -> V6Prefix? {
            guard let v = try bytes(a, 16) else { return nil }
            let mask = try bytes(mk, 16) ?? [UInt8](repeating: 0xFF, count: 16)
            let plen = mask.reduce(0) { $0 + $1.nonzeroBitCount }
            guard mask == (0..<16).map({ i in UInt8(truncatingIfNeeded: 0xFF << max(0, min(8, 8 - (plen - 8 * i)))) }) || plen == 128 else {
                throw NetlinkError(EOPNOTSUPP, "flower: IPv6 masks must be prefixes in Sluice", offset: m.offsets[mk])
            }
            return V6Prefix(bytes: v, plen: plen)
        }
        k.srcIP6 = try v6(14, 15)
        k.dstIP6 = try v6(16, 17)
        func port(_ a: UInt16, _ mk: UInt16) throws(NetlinkError) -> ClosedRange<UInt16>? {
            guard let v = try bytes(a, 2) else { return nil }
            if let mask = try bytes(mk, 2), be(mask) != 0xFFFF {
                throw NetlinkError(EOPNOTSUPP, "flower: masked ports are not implemented in Sluice (exact ports and ranges are)", offset: m.offsets[mk])
            }
            let p = UInt16(be(v))
            return p...p
        }
        let tcpSrc = try port(18, 35), udpSrc = try port(20, 37), tcpDst = try port(19, 36), udpDst = try port(21, 38)
        k.srcPort = tcpSrc ?? udpSrc
        k.dstPort = tcpDst ?? udpDst
        if let lo = try bytes(87, 2), let hi = try bytes(88, 2) { k.srcPort = UInt16(be(lo))...max(UInt16(be(lo)), UInt16(be(hi))) }
        if let lo = try bytes(89, 2), let hi = try bytes(90, 2) { k.dstPort = UInt16(be(lo))...max(UInt16(be(lo)), UInt16(be(hi))) }
        if let t = try bytes(73, 1) { k.tos = (t[0], try bytes(74, 1)?[0] ?? 0xFF) }
        // Tunnel keys.
        if let v = try bytes(26, 4) { k.encKeyID = UInt32(be(v)) }
        if let (v, mk) = try masked(27, 28, 4) { k.encSrcIP = (UInt32(v), UInt32(mk)) }
        if let (v, mk) = try masked(29, 30, 4) { k.encDstIP = (UInt32(v), UInt32(mk)) }
        k.encDstPort = try port(45, 46)?.lowerBound
        if let t = try bytes(80, 1) { k.encTos = (t[0], try bytes(81, 1)?[0] ?? 0xFF) }
        if let t = try bytes(82, 1) { k.encTTL = (t[0], try bytes(83, 1)?[0] ?? 0xFF) }
        // Connection tracking keys (fl_set_key_ct): host-order words, labels as 16 bytes.
        if let v = try bytes(91, 2) {
            let state = v.le16(0)
            if let e = FlowerKey.ctStateError(state) { throw NetlinkError(EINVAL, e, offset: m.offsets[91]) }
            k.ctState = (state, try bytes(92, 2)?.le16(0) ?? 0xFFFF)
        }
        if let v = try bytes(93, 2) { k.ctZone = (v.le16(0), try bytes(94, 2)?.le16(0) ?? 0xFFFF) }
        if let v = try bytes(95, 4) { k.ctMark = (v.le32(0), try bytes(96, 4)?.le32(0) ?? .max) }
        if let v = m[97] {
            guard v.count <= 16 else { throw NetlinkError(EINVAL, "flower: ct_label is 16 bytes", offset: m.offsets[97]) }
            let (hi, lo) = Self.be128(v)
            let (mh, ml) = m[98].map { Self.be128($0) } ?? (.max, .max)
            k.ctLabels = (hi, lo, mh, ml)
        }
        return k
    }

    /// fl_dump_key for those keys (what tc's flower_print_opt reads).
    func encodeFlower(_ k: FlowerKey, _ w: inout NetlinkWriter) {
        func mac(_ t: UInt16, _ v: (UInt64, UInt64)?) {
            guard let v else { return }
            w.attr(t, MACAddress(raw: v.0).octets)
            w.attr(t + 1, MACAddress(raw: v.1).octets)
        }
        mac(4, k.dstMAC)
        mac(6, k.srcMAC)
        if let v = k.vlanID { w.attr(23, u16: v) }
        if let v = k.vlanPrio { w.attr(24, u8: v) }
        let vlan = k.vlanID != nil || k.vlanPrio != nil
        if vlan {
            w.attr(8, [0x81, 0x00])
            if let t = k.ethType { w.attr(25, [UInt8(t >> 8), UInt8(t & 0xFF)]) }
        } else if let t = k.ethType {
            w.attr(8, [UInt8(t >> 8), UInt8(t & 0xFF)])
        }
        if let p = k.ipProto { w.attr(9, u8: p) }
        if let (v, m) = k.tos { w.attr(73, u8: v); w.attr(74, u8: m) }
        if let v = k.encKeyID { w.attr(26, Self.be32(v)) }
        if let (v, m) = k.encSrcIP { w.attr(27, Self.be32(v)); w.attr(28, Self.be32(m)) }
        if let (v, m) = k.encDstIP { w.attr(29, Self.be32(v)); w.attr(30, Self.be32(m)) }
        if let p = k.encDstPort { w.attr(45, [UInt8(p >> 8), UInt8(p & 255)]); w.attr(46, [0xFF, 0xFF]) }
        if let (v, m) = k.encTos { w.attr(80, u8: v); w.attr(81, u8: m) }
        if let (v, m) = k.encTTL { w.attr(82, u8: v); w.attr(83, u8: m) }
        if let (v, m) = k.ctState { w.attr(91, u16: v); w.attr(92, u16: m) }
        if let (v, m) = k.ctZone { w.attr(93, u16: v); w.attr(94, u16: m) }
        if let (v, m) = k.ctMark { w.attr(95, u32: v); w.attr(96, u32: m) }
        if let (h, l, mh, ml) = k.ctLabels { w.attr(97, Self.be128(h, l)); w.attr(98, Self.be128(mh, ml)) }
        func v4(_ t: UInt16, _ v: (UInt32, UInt32)?) {
            guard let v else { return }
            w.attr(t, Self.be32(v.0)); w.attr(t + 1, Self.be32(v.1))
        }
        v4(10, k.srcIP); v4(12, k.dstIP)
        func v6(_ t: UInt16, _ p: V6Prefix?) {
            guard let p else { return }
            var a = [UInt8](), m = [UInt8]()
            for i in 0..<8 { a.append(UInt8(truncatingIfNeeded: p.hi >> (56 - 8 * UInt64(i)))); m.append(UInt8(truncatingIfNeeded: p.maskHi >> (56 - 8 * UInt64(i)))) }
            for i in 0..<8 { a.append(UInt8(truncatingIfNeeded: p.lo >> (56 - 8 * UInt64(i)))); m.append(UInt8(truncatingIfNeeded: p.maskLo >> (56 - 8 * UInt64(i)))) }
            w.attr(t, a); w.attr(t + 1, m)
        }
        v6(14, k.srcIP6); v6(16, k.dstIP6)
        let udp = k.ipProto == IPProto.udp
        func port(_ r: ClosedRange<UInt16>?, exact: UInt16, range: UInt16) {
            guard let r else { return }
            if r.count == 1 {
                w.attr(exact, [UInt8(r.lowerBound >> 8), UInt8(r.lowerBound & 0xFF)])
                w.attr(exact + 17, [0xFF, 0xFF])                                     // the _MASK attribute
            } else {
                w.attr(range, [UInt8(r.lowerBound >> 8), UInt8(r.lowerBound & 0xFF)])
                w.attr(range + 1, [UInt8(r.upperBound >> 8), UInt8(r.upperBound & 0xFF)])
            }
        }
        port(k.srcPort, exact: udp ? 20 : 18, range: 87)
        port(k.dstPort, exact: udp ? 21 : 19, range: 89)
    }

    /// RTM_DELTFILTER: a priority's filters (a whole classifier instance), or all of a chain's.
    func delFilter(_ msg: NetlinkMessage) throws(NetlinkError) {
        let (t, _) = try filterTarget(msg)
        do { try runner.deleteFilters(t, anyProtocol: !t.protoGiven) } catch { throw Self.netlinkError(error) }
    }
}
