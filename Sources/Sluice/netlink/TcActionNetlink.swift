#if canImport(Glibc)
import Glibc
#endif

/// tc actions over rtnetlink (act_api.c): RTM_NEWACTION (`tc actions add|replace`),
/// RTM_DELACTION (`tc actions delete`, and `flush` with NLM_F_ROOT), RTM_GETACTION (`get`, and
/// `list` as a dump), and the TCA_*_ACT nests of filters — each action encoded as the kind's
/// dump puts it on the wire (tcf_gact_dump, tcf_mirred_dump, tcf_police_dump, tcf_vlan_dump,
/// tcf_skbedit_dump) and decoded from what tc's parse_aopt sends.
enum TCAAct {
    static let KIND: UInt16 = 1, OPTIONS: UInt16 = 2, INDEX: UInt16 = 3, STATS: UInt16 = 4, COOKIE: UInt16 = 6
    static let FLAGS: UInt16 = 7, HW_STATS: UInt16 = 8, USED_HW_STATS: UInt16 = 9, IN_HW_COUNT: UInt16 = 10
    /// TCA_ROOT_*: the attributes of a tcamsg.
    static let ROOT_TAB: UInt16 = 1, ROOT_FLAGS: UInt16 = 2, ROOT_COUNT: UInt16 = 3, ROOT_TIME_DELTA: UInt16 = 4
    static let FLAG_LARGE_DUMP_ON: UInt32 = 1, FLAG_TERSE_DUMP: UInt32 = 2
    static let FCNT: UInt16 = 5
    static let MAX_PRIO = 32
    static let COOKIE_MAX = 16
    static let policy = NLAPolicy(maxType: 10, [KIND: .string(maxLength: 15), OPTIONS: .unspec, INDEX: .u32,
                                                COOKIE: .binary(maxLength: COOKIE_MAX), FLAGS: .minLength(8), HW_STATS: .minLength(8)])
    static let rootPolicy = NLAPolicy(maxType: 5, [ROOT_TAB: .unspec, ROOT_FLAGS: .minLength(8), ROOT_COUNT: .u32, ROOT_TIME_DELTA: .u32])
}

extension RtnlProcessor {
    // MARK: Encoding

    /// Network-order words as act_ct carries addresses and labels.
    static func be32(_ b: ArraySlice<UInt8>) -> UInt32 {
        var v: UInt32 = 0
        for k in 0..<4 { v = v << 8 | UInt32(b.count > k ? b[b.startIndex + k] : 0) }
        return v
    }
    static func be128(_ hi: UInt64, _ lo: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: hi >> (56 - 8 * $0)) } + (0..<8).map { UInt8(truncatingIfNeeded: lo >> (56 - 8 * $0)) }
    }
    /// 16 bytes (shorter: zero-padded at the end) as two big-endian words.
    static func be128(_ b: ArraySlice<UInt8>) -> (UInt64, UInt64) {
        var hi: UInt64 = 0, lo: UInt64 = 0
        for k in 0..<8 { hi = hi << 8 | UInt64(b.count > k ? b[b.startIndex + k] : 0) }
        for k in 8..<16 { lo = lo << 8 | UInt64(b.count > k ? b[b.startIndex + k] : 0) }
        return (hi, lo)
    }

    /// struct tcf_t for an action: ages in clock_t (1/100 s).
    func tcfT(_ e: ActionEntry, _ w: inout NetlinkWriter) {
        tcfT(installed: e.installed, c: e.counters.pointee, &w)
    }

    /// tcf_exts_dump: the filter's actions as TCA_*_ACT { [order] { … } }, orders from 1.
    func encodeActions(_ f: TcFilter, nestType: UInt16, _ w: inout NetlinkWriter) {
        guard !f.bound.entries.isEmpty else { return }
        if let pt = f.oldPolice, let e = f.bound.entries.first {
            // tcf_exts_dump for TCA_OLD_COMPAT: the policer's options in the police attribute.
            let n = w.beginNest(pt, flagged: false)
            encodeActionOptions(e, &w)
            w.endNest(n)
            return
        }
        let outer = w.beginNest(nestType, flagged: false)
        for (k, e) in f.bound.entries.enumerated() { encodeAction(e, order: UInt16(k + 1), &w) }
        w.endNest(outer)
    }

    /// tcf_action_dump_1: one action as the nest `order` — kind, cookie, statistics, options
    /// with its parameters and the counts (ref, bind) the kernel reports. The hardware
    /// statistics used (none here) are reported once the action has been in a `tc actions
    /// list` dump (`listing`), which is what makes them valid in the kernel: from then on every
    /// dump of it has them, under a filter or by `get` too; before, none does (as measured on
    /// this kernel). `terse`: kind, index and basic statistics only.
    func encodeAction(_ e: ActionEntry, order: UInt16, listing: Bool = false, terse: Bool = false, _ w: inout NetlinkWriter) {
        let c = e.counters.pointee
        let one = w.beginNest(order, flagged: false)
        w.attr(TCAAct.KIND, string: e.kind)
        if terse { w.attr(TCAAct.INDEX, u32: e.index) }
        if let ck = e.cookie { w.attr(TCAAct.COOKIE, ck) }
        let sn = w.beginNest(TCAAct.STATS, flagged: false)
        var b = NetlinkWriter(); b.put64(c.bytes); b.put32(UInt32(truncatingIfNeeded: c.packets)); b.put32(0)
        w.attr(TCA.STATS_BASIC, b.bytes)
        if !terse {
            var q = NetlinkWriter()
            for v in [0, 0, UInt32(truncatingIfNeeded: c.drops), 0, UInt32(truncatingIfNeeded: c.overlimits)] { q.put32(v) }
            w.attr(TCA.STATS_QUEUE, q.bytes)
        }
        w.endNest(sn)
        if terse { w.endNest(one); return }
        if e.flags != 0 { var bf = NetlinkWriter(); bf.put32(e.flags); bf.put32(e.flags); w.attr(TCAAct.FLAGS, bf.bytes) }
        w.attr(TCAAct.IN_HW_COUNT, u32: 0)
        if listing { e.hwStatsValid = true }
        if e.hwStatsValid {
            var bf = NetlinkWriter(); bf.put32(0); bf.put32(3)                 // nla_bitfield32: none of HW_STATS_ANY
            w.attr(TCAAct.USED_HW_STATS, bf.bytes)
        }
        let opts = w.beginNest(TCAAct.OPTIONS, flagged: false)
        encodeActionOptions(e, &w)
        w.endNest(opts)
        w.endNest(one)
    }

    /// The action's own dump (ops->dump: its parameters and times), as TCA_ACT_OPTIONS holds
    /// it — or, for a filter's old-style police (TCA_OLD_COMPAT), as tcf_action_dump_old
    /// writes it straight into the classifier's police attribute.
    func encodeActionOptions(_ e: ActionEntry, _ w: inout NetlinkWriter) {
        var tm = NetlinkWriter(); tcfT(e, &tm)
        var gen = NetlinkWriter()                                              // struct tc_gen
        func tcGen(_ v: ActVerdict) {
            gen.put32(e.index); gen.put32(0); gen.put32(UInt32(bitPattern: Self.actionCode(v)))
            gen.put32(UInt32(e.refs)); gen.put32(UInt32(e.binds))
        }
        switch e.action {
        case .gact(let v):
            tcGen(v)
            w.attr(2, gen.bytes); w.attr(1, tm.bytes)                          // TCA_GACT_PARMS, TCA_GACT_TM
        case .gactRandom(let v, let ptype, let pval, let p):
            tcGen(v)
            w.attr(2, gen.bytes)
            var pr = NetlinkWriter(); pr.put16(ptype); pr.put16(pval); pr.put32(UInt32(bitPattern: Self.actionCode(p)))
            w.attr(3, pr.bytes)                                                // TCA_GACT_PROB
            w.attr(1, tm.bytes)
        case .mirred(let egress, let redirect, let target, let then):
            tcGen(then)
            gen.put32(UInt32(egress ? (redirect ? 1 : 2) : (redirect ? 3 : 4)))
            gen.put32(UInt32(bitPattern: target.ifindex))
            w.attr(2, gen.bytes); w.attr(1, tm.bytes)                          // TCA_MIRRED_PARMS, TCA_MIRRED_TM
        case .police(let p):
            // tcf_police_dump: the 64-bit rates when they do not fit, the packet rate, then
            // struct tc_police (index, action (exceed), limit, burst (ticks), mtu, rate,
            // peakrate, refcnt, bindcnt, capab), the conform verdict unless "ok", the times.
            if p.rate / 8 >= 1 << 32 { w.attr(8, u64: p.rate / 8) }               // TCA_POLICE_RATE64
            if p.p.peakrate / 8 >= 1 << 32 { w.attr(9, u64: p.p.peakrate / 8) }   // TCA_POLICE_PEAKRATE64
            if p.p.pps > 0 { w.attr(10, u64: p.p.pps); w.attr(11, u64: p.p.ppsBurstTicks) }   // PKTRATE64, PKTBURST64
            var t = NetlinkWriter()
            t.put32(e.index); t.put32(UInt32(bitPattern: Self.actionCode(p.exceed))); t.put32(0)
            t.put32(p.p.bufferTicks); t.put32(p.mtu)
            if p.rate > 0 { Self.ratespec(&t, p.rateCfg) } else { t.put([UInt8](repeating: 0, count: 12)) }
            if p.p.peakrate > 0 { Self.ratespec(&t, p.peakCfg) } else { t.put([UInt8](repeating: 0, count: 12)) }
            t.put32(UInt32(e.refs)); t.put32(UInt32(e.binds)); t.put32(0)
            w.attr(1, t.bytes)                                                 // TCA_POLICE_TBF
            if p.conform != .ok { w.attr(5, u32: UInt32(bitPattern: Self.actionCode(p.conform))) }   // TCA_POLICE_RESULT
            w.attr(6, tm.bytes)                                                // TCA_POLICE_TM
        case .vlanPop(let then):
            tcGen(then); gen.put32(1)                                          // TCA_VLAN_ACT_POP
            w.attr(2, gen.bytes); w.attr(1, tm.bytes)
        case .vlanPush(let vid, let prio, let proto, let then):
            tcGen(then); gen.put32(2)                                          // TCA_VLAN_ACT_PUSH
            w.attr(2, gen.bytes)
            w.attr(3, u16: vid)                                                // TCA_VLAN_PUSH_VLAN_ID
            w.attr(4, [UInt8(proto >> 8), UInt8(proto & 0xFF)])                // TCA_VLAN_PUSH_VLAN_PROTOCOL (be16)
            w.attr(6, u8: prio)                                                // TCA_VLAN_PUSH_VLAN_PRIORITY
            w.attr(1, tm.bytes)
        case .vlanModify(let vid, let prio, let proto, let then):
            tcGen(then); gen.put32(3)                                          // TCA_VLAN_ACT_MODIFY
            w.attr(2, gen.bytes)
            w.attr(3, u16: vid)
            w.attr(4, [UInt8(proto >> 8), UInt8(proto & 0xFF)])
            if let prio { w.attr(6, u8: prio) }
            w.attr(1, tm.bytes)
        case .skbedit(let k, let then):
            tcGen(then)
            w.attr(2, gen.bytes)                                               // TCA_SKBEDIT_PARMS
            if let pr = k.priority { w.attr(3, u32: pr) }                      // TCA_SKBEDIT_PRIORITY
            if let q = k.queue { w.attr(4, u16: q) }                           // TCA_SKBEDIT_QUEUE_MAPPING
            if let v = k.mark { w.attr(5, u32: v) }                            // TCA_SKBEDIT_MARK
            if let t = k.ptype { w.attr(7, u16: t) }                           // TCA_SKBEDIT_PTYPE
            if let m = k.mask { w.attr(8, u32: m) }                            // TCA_SKBEDIT_MASK
            if k.inheritDS { w.attr(9, u64: 0x20) }                            // TCA_SKBEDIT_FLAGS: INHERITDSFIELD
            w.attr(1, tm.bytes)
        case .csum(let flags, let then):
            tcGen(then); gen.put32(flags)                                      // struct tc_csum
            w.attr(1, gen.bytes); w.attr(2, tm.bytes)                          // TCA_CSUM_PARMS, TCA_CSUM_TM
        case .nat(let old, let new, let mask, let egress, let then):
            tcGen(then)                                                        // struct tc_nat (addresses in network order)
            gen.put([UInt8](withUnsafeBytes(of: old.bigEndian) { Array($0) }))
            gen.put([UInt8](withUnsafeBytes(of: new.bigEndian) { Array($0) }))
            gen.put([UInt8](withUnsafeBytes(of: mask.bigEndian) { Array($0) }))
            gen.put32(egress ? 1 : 0)
            w.attr(1, gen.bytes); w.attr(2, tm.bytes)                          // TCA_NAT_PARMS, TCA_NAT_TM
        case .skbmod(let p, let then):
            tcGen(then); gen.put32(0); gen.put64(p.flags)                      // struct tc_skbmod (u64 flags, aligned)
            w.attr(2, gen.bytes)                                               // TCA_SKBMOD_PARMS
            if let m = p.dmac { w.attr(3, m.octets) }                          // TCA_SKBMOD_DMAC
            if let m = p.smac { w.attr(4, m.octets) }                          // TCA_SKBMOD_SMAC
            if let t = p.etype { w.attr(5, u16: t) }                           // TCA_SKBMOD_ETYPE
            w.attr(1, tm.bytes)                                                // TCA_SKBMOD_TM
        case .mpls(let p, let then):
            // tcf_mpls_dump: tc_mpls (tc_gen + m_action), the fields set, the protocol, times.
            tcGen(then); gen.put32(UInt32(p.op))
            w.attr(2, gen.bytes)                                               // TCA_MPLS_PARMS
            if let l = p.label { w.attr(5, u32: l) }                           // TCA_MPLS_LABEL
            if let t = p.tc { w.attr(6, u8: t) }                               // TCA_MPLS_TC
            if p.ttl != 0 { w.attr(7, u8: p.ttl) }                             // TCA_MPLS_TTL
            if let b = p.bos { w.attr(8, u8: b) }                              // TCA_MPLS_BOS
            w.attr(4, [UInt8(p.proto >> 8), UInt8(p.proto & 0xFF)])            // TCA_MPLS_PROTO (be16)
            w.attr(1, tm.bytes)                                                // TCA_MPLS_TM
        case .gate(let p, let then):
            // tcf_gate_dump: parms, times, clock, flags, priority, the entries, tm.
            tcGen(then)
            w.attr(2, gen.bytes)                                               // TCA_GATE_PARMS
            w.attr(6, u64: p.base); w.attr(7, u64: p.cycle); w.attr(8, u64: p.cycleExt)
            w.attr(10, u32: UInt32(bitPattern: p.clockid)); w.attr(9, u32: p.flags); w.attr(4, u32: UInt32(bitPattern: p.priority))
            let list = w.beginNest(5, flagged: false)                          // TCA_GATE_ENTRY_LIST
            for k in 0..<p.count {
                let e = p.entries[k]
                let one = w.beginNest(1, flagged: false)                       // TCA_GATE_ONE_ENTRY
                w.attr(1, u32: UInt32(k))
                if e.open { w.attr(2, []) }
                w.attr(3, u32: e.interval)
                w.attr(5, u32: UInt32(bitPattern: e.maxOctets))
                w.attr(4, u32: UInt32(bitPattern: e.ipv))
                w.endNest(one)
            }
            w.endNest(list)
            w.attr(1, tm.bytes)                                                // TCA_GATE_TM
        case .ife(let p, let then):
            // tcf_ife_dump: tc_ife (tc_gen + flags), times, MACs when set, the type, the list.
            tcGen(then); gen.put16(p.encode ? 1 : 0); gen.put16(0)
            w.attr(1, gen.bytes)                                               // TCA_IFE_PARMS
            w.attr(2, tm.bytes)                                                // TCA_IFE_TM
            if let d = p.dst { w.attr(3, d.octets) }                           // TCA_IFE_DMAC
            if let s = p.src { w.attr(4, s.octets) }                           // TCA_IFE_SMAC
            w.attr(5, u16: p.type)                                             // TCA_IFE_TYPE (host order, as nla_put of a u16)
            let ml = w.beginNest(6, flagged: false)                            // TCA_IFE_METALST
            var order = p.order
            while order != 0 {
                let id = UInt16(order & 0xFF)
                order >>= 8
                switch id {
                case IFEParams.mark: if p.mark == 2 { w.attr(id, u32: p.markValue) } else { w.attr(id, []) }
                case IFEParams.prio: if p.prio == 2 { w.attr(id, u32: p.prioValue) } else { w.attr(id, []) }
                default: if p.tcindex == 2 { w.attr(id, u16: p.tcindexValue) } else { w.attr(id, []) }
                }
            }
            w.endNest(ml)
        case .tunnelKey(let info, let then):
            // tunnel_key_dump: tc_tunnel_key (tc_gen, t_action), for set the key id, addresses,
            // port, no_csum, no_frag, TOS and TTL; the times.
            tcGen(then); gen.put32(info == nil ? 2 : 1)
            w.attr(2, gen.bytes)                                               // TCA_TUNNEL_KEY_PARMS
            if let t = info {
                func be32(_ x: UInt32) -> [UInt8] { [UInt8(x >> 24), UInt8((x >> 16) & 255), UInt8((x >> 8) & 255), UInt8(x & 255)] }
                if t.flags & TunnelInfo.key != 0 { w.attr(7, be32(t.id)) }   // ENC_KEY_ID
                w.attr(3, be32(t.src)); w.attr(4, be32(t.dst))                // ENC_IPV4_SRC, _DST
                if t.port != 0 { w.attr(9, [UInt8(t.port >> 8), UInt8(t.port & 255)]) }   // ENC_DST_PORT
                w.attr(10, u8: t.flags & TunnelInfo.csum != 0 ? 0 : 1)         // NO_CSUM
                if t.flags & TunnelInfo.dontFragment != 0 { w.attr(14, []) }   // NO_FRAG
                if t.tos != 0 { w.attr(12, u8: t.tos) }
                if t.ttl != 0 { w.attr(13, u8: t.ttl) }
            }
            w.attr(1, tm.bytes)                                                // TCA_TUNNEL_KEY_TM
        case .bpf(let prog, let then):
            // tcf_bpf_dump: tc_act_bpf (tc_gen), the classic program, the times.
            tcGen(then)
            w.attr(2, gen.bytes)                                               // TCA_ACT_BPF_PARMS
            w.attr(3, u16: UInt16(prog.count))                                 // TCA_ACT_BPF_OPS_LEN
            w.attr(4, prog.wire)                                               // TCA_ACT_BPF_OPS
            w.attr(1, tm.bytes)                                                // TCA_ACT_BPF_TM
        case .ct(let p, let then):
            // tcf_ct_dump: TCA_CT_ACTION; unless clear: mark and labels when masked, zone, the
            // NAT range; then struct tc_ct (tc_gen) and the times.
            tcGen(then)
            w.attr(3, u16: p.flags)                                            // TCA_CT_ACTION
            if p.flags & CTParams.clear == 0 {
                if p.markMask != 0 { w.attr(5, u32: p.mark); w.attr(6, u32: p.markMask) }
                if p.hasLabels {
                    w.attr(7, Self.be128(p.labelHi, p.labelLo)); w.attr(8, Self.be128(p.labelMaskHi, p.labelMaskLo))
                }
                w.attr(4, u16: p.zone)                                         // TCA_CT_ZONE
                if p.flags & CTParams.nat != 0 && p.flags & (CTParams.natSrc | CTParams.natDst) != 0 {
                    let r = p.range
                    if r.hasAddr {
                        if r.v4 {
                            w.attr(9, Self.be32(UInt32(truncatingIfNeeded: r.minLo))); w.attr(10, Self.be32(UInt32(truncatingIfNeeded: r.maxLo)))
                        } else {
                            w.attr(11, Self.be128(r.minHi, r.minLo)); w.attr(12, Self.be128(r.maxHi, r.maxLo))
                        }
                    }
                    if r.hasPorts { w.attr(13, [UInt8(r.minPort >> 8), UInt8(r.minPort & 255)]); w.attr(14, [UInt8(r.maxPort >> 8), UInt8(r.maxPort & 255)]) }
                }
            }
            w.attr(1, gen.bytes)                                               // TCA_CT_PARMS
            w.attr(2, tm.bytes)                                                // TCA_CT_TM
        case .connmark(let zone, let then):
            // tcf_connmark_dump: struct tc_connmark (tc_gen, zone), the times.
            tcGen(then)
            gen.put16(zone); gen.put16(0)
            w.attr(1, gen.bytes); w.attr(2, tm.bytes)                          // TCA_CONNMARK_PARMS, _TM
        case .ctinfo(let p, let then):
            // tcf_ctinfo_dump: the times, struct tc_ctinfo, zone, the modes' masks, counters.
            tcGen(then)
            let c = e.counters.pointee
            w.attr(2, tm.bytes)                                                // TCA_CTINFO_TM
            w.attr(3, gen.bytes)                                               // TCA_CTINFO_ACT
            w.attr(4, u16: p.zone)
            if let dm = p.dscpMask { w.attr(5, u32: dm); w.attr(6, u32: p.dscpStateMask) }
            if let cm = p.cpmarkMask { w.attr(7, u32: cm) }
            w.attr(8, u64: c.dscpSet); w.attr(9, u64: c.dscpError); w.attr(10, u64: c.cpmarkSet)
        case .sample(let sp, let then):
            // tcf_sample_dump: tc_sample (tc_gen), the times, rate, truncation, group.
            tcGen(then)
            w.attr(2, gen.bytes)                                               // TCA_SAMPLE_PARMS
            w.attr(1, tm.bytes)                                                // TCA_SAMPLE_TM
            w.attr(3, u32: sp.rate)                                            // TCA_SAMPLE_RATE
            if let t = sp.trunc { w.attr(4, u32: t) }                          // TCA_SAMPLE_TRUNC_SIZE
            w.attr(5, u32: sp.group)                                           // TCA_SAMPLE_PSAMPLE_GROUP
        case .simple(let tag, let then):
            // tcf_simp_dump: tc_defact (tc_gen), the string, the times.
            tcGen(then)
            w.attr(2, gen.bytes)                                               // TCA_DEF_PARMS
            w.attr(3, string: SimpleData.string(tag))                          // TCA_DEF_DATA
            w.attr(1, tm.bytes)                                                // TCA_DEF_TM
        case .pedit(let p, let then):
            // tcf_pedit_dump: the extended keys' types and commands first, then the selector
            // (tc_gen, nkeys, flags, the keys) as PARMS_EX, or PARMS for plain keys; the times.
            tcGen(then)
            gen.put8(UInt8(truncatingIfNeeded: p.keys.count)); gen.put8(0); gen.put16(0)
            for k in p.keys { for v in [k.mask, k.val, k.off, k.at, k.offmask, k.shift] { gen.put32(v) } }
            if p.extended {
                let ex = w.beginNest(5, flagged: false)                        // TCA_PEDIT_KEYS_EX (nla_nest_start_noflag)
                for k in p.keys {
                    let one = w.beginNest(6, flagged: false)                   // TCA_PEDIT_KEY_EX
                    w.attr(1, u16: k.htype); w.attr(2, u16: k.cmd)
                    w.endNest(one)
                }
                w.endNest(ex)
                w.attr(4, gen.bytes)                                           // TCA_PEDIT_PARMS_EX
            } else {
                w.attr(2, gen.bytes)                                           // TCA_PEDIT_PARMS
            }
            w.attr(1, tm.bytes)                                                // TCA_PEDIT_TM
        }
    }

    // MARK: Decoding

    /// tcf_action_init: the actions of a TCA_*_ACT nest (or a tcamsg's TCA_ACT_TAB), in order,
    /// with the index each asks for and its cookie. At most TCA_ACT_MAX_PRIO (32).
    func decodeActions(_ o: ArraySlice<UInt8>, base: Int, dev: NetDevice?) throws(NetlinkError) -> [ActionRequest] {
        let list = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: UInt16(TCAAct.MAX_PRIO), [:]), strict: false)
        var out: [ActionRequest] = []
        for order in list.values.keys.sorted() where order > 0 {
            let off = list.offsets[order]! + NL.attrHdrLen
            let one = try NLAttributes.parse(list[order]!, base: off, policy: TCAAct.policy, strict: false)
            guard let kind = one.string(TCAAct.KIND) else { throw NetlinkError(EINVAL, "TC action kind must be specified", offset: off) }
            guard ActionTable.kinds.contains(kind) else {
                throw NetlinkError(ENOENT, "Failed to load TC action module", offset: one.offsets[TCAAct.KIND])
            }
            guard let raw = one[TCAAct.OPTIONS] else { throw NetlinkError(EINVAL, "Must provide action options", offset: off) }
            var r = try decodeAction(kind, raw, base: one.offsets[TCAAct.OPTIONS]! + NL.attrHdrLen, dev: dev)
            if let ck = one[TCAAct.COOKIE] { r.cookie = Array(ck) }
            if let fl = one[TCAAct.FLAGS] {
                // nla_bitfield32 {value, selector}: only the user flags, and not both skips.
                let value = fl.le32(at: 0), selector = fl.le32(at: 4)
                guard value & ~7 == 0, selector & ~7 == 0 else { throw NetlinkError(EINVAL, "Unsupported action flags", offset: one.offsets[TCAAct.FLAGS]) }
                guard value & 6 != 6 else { throw NetlinkError(EINVAL, "skip_hw and skip_sw are exclusive", offset: one.offsets[TCAAct.FLAGS]) }
                r.flags = value
            }
            out.append(r)
        }
        return out
    }

    /// One kind's options (its init's nla_parse and checks) as an ActionRequest.
    func decodeAction(_ kind: String, _ o: ArraySlice<UInt8>, base: Int, dev: NetDevice?) throws(NetlinkError) -> ActionRequest {
        func verdict(_ code: UInt32, at offset: Int?) throws(NetlinkError) -> ActVerdict {
            guard let v = Self.verdict(Int32(bitPattern: code)) else { throw NetlinkError(EINVAL, "Invalid control action", offset: offset) }
            return v
        }
        switch kind {
        case "police":
            // tcf_police_init.
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 11, [1: .minLength(56), 2: .binary(maxLength: 1024),
                3: .binary(maxLength: 1024), 4: .u32, 5: .u32, 8: .u64, 9: .u64, 10: .u64, 11: .u64]), strict: false)
            guard let t = a[1] else { throw NetlinkError(EINVAL, "police: TCA_POLICE_TBF is required", offset: base) }
            let index = t.le32(at: 0)
            let exceed = try verdict(t.le32(at: 4), at: a.offsets[1])
            let conform = try a.u32(5).map { (c: UInt32) throws(NetlinkError) -> ActVerdict in try verdict(c, at: a.offsets[5]) } ?? .ok
            let rate = t.le32(at: 28) != 0 ? Self.rateBits(t, at: 20, rate64: a.u64(8)) : 0
            let peak = rate > 0 && t.le32(at: 40) != 0 ? Self.rateBits(t, at: 32, rate64: a.u64(9)) : 0
            // A request that names an index alone binds to it (tcf_idr_check_alloc).
            if rate == 0 && index != 0 && !a.has(10) && t.le32(at: 16) == 0 && !a.has(4) {
                var pp = Policer.Params(); pp.conform = conform; pp.exceed = exceed
                return ActionRequest(action: .police(Policer(pp)), index: index, onlyBinds: "police: a rate, a packet rate or an mtu is required")
            }
            if a.has(4) { throw NetlinkError(EINVAL, "police: avrate needs a rate estimator (TCA_RATE), which Sluice's actions do not keep", offset: a.offsets[4]) }
            if case .gotoChain = conform { throw NetlinkError(EINVAL, "goto chain not allowed on fallback", offset: a.offsets[5]) }
            if a.has(10) != a.has(11) { throw NetlinkError(EINVAL, "Both or neither packet-per-second burst and rate must be provided", offset: base) }
            if a.has(10) && rate > 0 { throw NetlinkError(EINVAL, "packet-per-second and byte-per-second rate limits not allowed in same action", offset: a.offsets[10]) }
            if let v = a.u64(10), v == 0 { throw NetlinkError(ERANGE, "integer out of range", offset: a.offsets[10]) }
            if let v = a.u64(11), v == 0 { throw NetlinkError(ERANGE, "integer out of range", offset: a.offsets[11]) }
            if rate > 0 && !a.has(2) { throw NetlinkError(EINVAL, "police: a rate table is required with a rate", offset: a.offsets[1]) }
            let linklayer = t[t.startIndex + 21] & 0x0F
            guard linklayer <= 2 else { throw NetlinkError(EOPNOTSUPP, "police: link layer \(linklayer) is not implemented in Sluice", offset: a.offsets[1]) }
            var pp = Policer.Params()
            pp.rate = rate; pp.peakrate = peak
            pp.bufferTicks = t.le32(at: 12)
            pp.overhead = t.le16(at: 22)
            pp.mpu = t.le16(at: 26)
            pp.atm = linklayer == 2
            pp.pps = a.u64(10) ?? 0; pp.ppsBurstTicks = a.u64(11) ?? 0
            // tcfp_mtu: as asked, else 255 << the rate table's cell_log (tc: 2040 bytes).
            pp.mtu = t.le32(at: 16)
            if pp.mtu == 0 && rate > 0 { pp.mtu = 255 << UInt32(t[t.startIndex + 20]) }
            pp.conform = conform; pp.exceed = exceed
            return ActionRequest(action: .police(Policer(pp)), index: index)
        case "gact":
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 4, [2: .minLength(20), 3: .minLength(8)]), strict: false)
            guard let p = a[2] else { throw NetlinkError(EINVAL, "Missing required gact parameters", offset: base) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[2])
            if let pr = a[3] {
                let ptype = pr.le16(at: 0), pval = pr.le16(at: 2)
                guard ptype <= 2 else { throw NetlinkError(EINVAL, "gact: unknown random type", offset: a.offsets[3]) }
                let pa = try verdict(pr.le32(at: 4), at: a.offsets[3])
                if ptype != 0 { return ActionRequest(action: .gactRandom(v, ptype: ptype, pval: pval, paction: pa), index: p.le32(at: 0)) }
            }
            return ActionRequest(action: .gact(v), index: p.le32(at: 0))
        case "mirred":
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 6, [2: .minLength(28)]), strict: false)
            guard let p = a[2] else { throw NetlinkError(EINVAL, "Missing required mirred parameters", offset: base) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[2])
            let index = p.le32(at: 0)
            let eaction = p.le32(at: 20), ifindex = Int32(bitPattern: p.le32(at: 24))
            if eaction == 0 && index != 0 {
                // `action mirred index N`: binds to that action (tcf_mirred_init returns early).
                return ActionRequest(action: .mirred(egress: true, redirect: true, target: MirredTarget(dp: dp, ifindex: 0, name: ""), then: v),
                                     index: index, onlyBinds: "act_mirred: Unknown mirred option")
            }
            guard (1...4).contains(eaction) else { throw NetlinkError(EINVAL, "act_mirred: Unknown mirred option", offset: a.offsets[2]) }
            guard let target = dp.device(ifindex) else {
                throw NetlinkError(ENODEV, "act_mirred: Specified device does not exist", offset: a.offsets[2])
            }
            if let dev, target === dev, eaction == 1 || eaction == 2 { throw NetlinkError(ELOOP, "mirred to the same device would loop", offset: a.offsets[2]) }
            return ActionRequest(action: .mirred(egress: eaction <= 2, redirect: eaction == 1 || eaction == 3,
                                                 target: MirredTarget(dp: dp, ifindex: ifindex, name: target.name), then: v), index: index)
        case "vlan":
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 8, [2: .minLength(24), 3: .u16, 4: .minLength(2), 6: .u8]), strict: false)
            guard let p = a[2] else { throw NetlinkError(EINVAL, "Missing required vlan action parameters", offset: base) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[2])
            let index = p.le32(at: 0)
            switch p.le32(at: 20) {
            case 1: return ActionRequest(action: .vlanPop(then: v), index: index)
            case 2, 3:
                guard let vid = a.u16(3) else {
                    throw NetlinkError(EINVAL, "vlan push/modify requires a VLAN id", offset: a.offsets[2])
                }
                guard vid < 4095 else { throw NetlinkError(ERANGE, "vlan id out of range", offset: a.offsets[3]) }
                let proto = a[4].map { UInt16($0[$0.startIndex]) << 8 | UInt16($0[$0.startIndex + 1]) } ?? EtherType.vlan
                guard proto == EtherType.vlan || proto == EtherType.qinq else {
                    throw NetlinkError(EPROTONOSUPPORT, "vlan protocol must be 802.1Q or 802.1ad", offset: a.offsets[4])
                }
                let prio = a.u8(6).map { $0 & 7 }
                if p.le32(at: 20) == 2 { return ActionRequest(action: .vlanPush(vid: vid, prio: prio ?? 0, proto: proto, then: v), index: index) }
                return ActionRequest(action: .vlanModify(vid: vid, prio: prio, proto: proto, then: v), index: index)
            case 0 where index != 0:
                return ActionRequest(action: .vlanPop(then: v), index: index, onlyBinds: "Invalid vlan action")
            default:
                throw NetlinkError(EOPNOTSUPP, "vlan: only pop, push and modify are implemented in Sluice", offset: a.offsets[2])
            }
        case "skbedit":
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 10, [2: .minLength(20), 3: .u32, 4: .u16, 5: .u32, 7: .u16, 8: .u32, 9: .u64]), strict: false)
            guard let p = a[2] else { throw NetlinkError(EINVAL, "Missing required skbedit parameters", offset: base) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[2])
            // tcf_skbedit_init: a packet type up to PACKET_OTHERHOST; of the flags, only
            // INHERITDSFIELD (TXQ_SKBHASH needs tx queues Sluice's devices do not have).
            var k = SkbeditParams(priority: a.u32(3), mark: a.u32(5), mask: a.u32(8), queue: a.u16(4), ptype: a.u16(7))
            if let t = k.ptype, t > 3 { throw NetlinkError(EINVAL, "skbedit: packet type out of range", offset: a.offsets[7]) }
            if let f = a.u64(9) {
                if f & 0x40 != 0 { throw NetlinkError(EOPNOTSUPP, "skbedit: queue_mapping by skb hash is not implemented in Sluice", offset: a.offsets[9]) }
                k.inheritDS = f & 0x20 != 0
            }
            if k.mask != nil && k.mark == nil { k.mask = nil }
            if k.isEmpty && p.le32(at: 0) != 0 {
                // `action skbedit index N`: binds to that action (tcf_skbedit_init returns first).
                return ActionRequest(action: .skbedit(k, then: v), index: p.le32(at: 0), onlyBinds: "skbedit: no parameters given")
            }
            guard !k.isEmpty else { throw NetlinkError(EINVAL, "skbedit: no parameters given", offset: a.offsets[2]) }
            return ActionRequest(action: .skbedit(k, then: v), index: p.le32(at: 0))
        case "csum":
            // tcf_csum_init: struct tc_csum (tc_gen + update_flags); flags beyond SCTP refused.
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 3, [1: .minLength(24)]), strict: false)
            guard let p = a[1] else { throw NetlinkError(EINVAL, "Missing required csum parameters", offset: base) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[1])
            let flags = p.le32(at: 20)
            guard flags & ~0x7F == 0 else { throw NetlinkError(EINVAL, "Invalid csum update flags", offset: a.offsets[1]) }
            return ActionRequest(action: .csum(flags: flags, then: v), index: p.le32(at: 0))
        case "nat":
            // tcf_nat_init: struct tc_nat (tc_gen, old, new, mask in network order, flags).
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 4, [1: .minLength(36)]), strict: false)
            guard let p = a[1] else { throw NetlinkError(EINVAL, "Missing required nat parameters", offset: base) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[1])
            func be(_ at: Int) -> UInt32 { UInt32(bigEndian: p.le32(at: at).littleEndian) }
            return ActionRequest(action: .nat(old: be(20), new: be(24), mask: be(28), egress: p.le32(at: 32) & 1 != 0, then: v), index: p.le32(at: 0))
        case "pedit":
            // tcf_pedit_init: the selector from PARMS or PARMS_EX, at least one key, the keys
            // whole; extended keys' types and commands, one per key, within their ranges.
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 6, [2: .minLength(24), 4: .minLength(24), 5: .unspec]), strict: false)
            guard let sel = a[2] ?? a[4], let selOff = a.offsets[2] ?? a.offsets[4] else {
                throw NetlinkError(EINVAL, "Missing required TCA_PEDIT_PARMS or TCA_PEDIT_PARMS_EX pedit attribute", offset: base)
            }
            let v = try verdict(sel.le32(at: 8), at: selOff)
            let n = Int(sel[sel.startIndex + 20])
            if n == 0 && sel.le32(at: 0) != 0 {
                // `action pedit index N`: binds to that action (tcf_pedit_init returns before
                // it counts the keys).
                return ActionRequest(action: .pedit(PeditParams(keys: [], extended: false), then: v), index: sel.le32(at: 0), onlyBinds: "Pedit requires keys to be passed")
            }
            guard n > 0 else { throw NetlinkError(EINVAL, "Pedit requires keys to be passed", offset: selOff) }
            guard sel.count >= 24 + 24 * n else { throw NetlinkError(EINVAL, "Invalid TCA_PEDIT_PARMS/TCA_PEDIT_PARMS_EX pedit attribute", offset: selOff) }
            var keys: [HeaderEdit.PeditKey] = (0..<n).map { i in
                let b = 24 + 24 * i
                return HeaderEdit.PeditKey(mask: sel.le32(at: b), val: sel.le32(at: b + 4), off: sel.le32(at: b + 8), at: sel.le32(at: b + 12),
                                           offmask: sel.le32(at: b + 16), shift: sel.le32(at: b + 20))
            }
            var extended = false
            if let ex = a[5] {
                extended = true
                let list = try NLAttributes.list(ex, base: a.offsets[5]! + NL.attrHdrLen)
                guard list.count == n, list.allSatisfy({ $0.type == 6 }) else { throw NetlinkError(EINVAL, "pedit: one extended key per key is required", offset: a.offsets[5]) }
                for (i, one) in list.enumerated() {
                    let k = try NLAttributes.parse(one.value, base: one.offset + NL.attrHdrLen, policy: NLAPolicy(maxType: 2, [1: .u16, 2: .u16]), strict: false)
                    guard let ht = k.u16(1), let cmd = k.u16(2) else { throw NetlinkError(EINVAL, "pedit: an extended key needs a header type and a command", offset: one.offset) }
                    guard ht <= 5, cmd <= 1 else { throw NetlinkError(EINVAL, "pedit: header type or command out of range", offset: one.offset) }
                    keys[i].htype = ht; keys[i].cmd = cmd
                }
            }
            return ActionRequest(action: .pedit(PeditParams(keys: keys, extended: extended), then: v), index: sel.le32(at: 0))
        case "mpls":
            // tcf_mpls_init: the policy (exact parms, label ≤ 0xFFFFF and not 3, tc ≤ 7, ttl ≥ 1,
            // bos ≤ 1), then each operation's rules; binding by index returns first.
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 8, [2: .minLength(24), 4: .u16, 5: .u32, 6: .u8, 7: .u8, 8: .u8]), strict: false)
            guard let p = a[2], p.count == 24 else { throw NetlinkError(EINVAL, "No MPLS params", offset: base) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[2])
            if let l = a.u32(5), l > 0xFFFFF || l == 3 { throw NetlinkError(EINVAL, "MPLS label out of range", offset: a.offsets[5]) }
            if let t = a.u8(6), t > 7 { throw NetlinkError(ERANGE, "integer out of range", offset: a.offsets[6]) }
            if let t = a.u8(7), t < 1 { throw NetlinkError(ERANGE, "integer out of range", offset: a.offsets[7]) }
            if let b = a.u8(8), b > 1 { throw NetlinkError(ERANGE, "integer out of range", offset: a.offsets[8]) }
            let op = p.le32(at: 20), index = p.le32(at: 0)
            let proto = a[4].map { UInt16($0[$0.startIndex]) << 8 | UInt16($0[$0.startIndex + 1]) }
            var mp = MPLSParams(op: UInt8(truncatingIfNeeded: op), label: a.u32(5), tc: a.u8(6), ttl: a.u8(7) ?? 0, bos: a.u8(8), proto: proto ?? MPLSEdit.unicast)
            func refuse(_ msg: String) throws(NetlinkError) -> ActionRequest {
                if index != 0 { return ActionRequest(action: .mpls(mp, then: v), index: index, onlyBinds: "act_mpls: " + msg) }
                throw NetlinkError(EINVAL, "act_mpls: " + msg, offset: a.offsets[2])
            }
            switch UInt8(truncatingIfNeeded: op) {
            case MPLSParams.pop:
                guard let proto else { return try refuse("Protocol must be set for MPLS pop") }
                guard proto >= 0x0600 else { return try refuse("Invalid protocol type for MPLS pop") }
                if a.has(5) || a.has(6) || a.has(7) || a.has(8) { return try refuse("Label, TTL, TC or BOS cannot be used with MPLS pop") }
            case MPLSParams.decTTL:
                if a.has(4) || a.has(5) || a.has(6) || a.has(7) || a.has(8) { return try refuse("Label, TTL, TC, BOS or protocol cannot be used with MPLS dec_ttl") }
            case MPLSParams.push, MPLSParams.macPush:
                guard a.has(5) else { return try refuse("Label is required for MPLS push") }
                if let proto, !MPLSEdit.isMPLS(proto) {
                    if index != 0 { return ActionRequest(action: .mpls(mp, then: v), index: index, onlyBinds: "act_mpls: Protocol must be an MPLS type for MPLS push") }
                    throw NetlinkError(EPROTONOSUPPORT, "act_mpls: Protocol must be an MPLS type for MPLS push", offset: a.offsets[4])
                }
                if mp.ttl == 0 { mp.ttl = 255 }                                // ACT_MPLS_TTL_DEFAULT
            case MPLSParams.modify:
                if a.has(4) { return try refuse("Protocol cannot be used with MPLS modify") }
            default:
                return try refuse("Unknown MPLS action")
            }
            return ActionRequest(action: .mpls(mp, then: v), index: index)
        case "gate":
            // tcf_gate_init: an entry list for a new action (each entry an interval > 0);
            // a replace without one keeps the old entries and cycle; the clock one of
            // REALTIME, MONOTONIC, BOOTTIME, TAI.
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 10, [2: .minLength(20), 4: .u32, 5: .unspec, 6: .u64, 7: .u64, 8: .u64, 9: .u32, 10: .u32]), strict: false)
            guard let p = a[2] else { throw NetlinkError(EINVAL, "gate: parameters are required", offset: base) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[2])
            let index = p.le32(at: 0)
            var entries: [GateEntry] = []
            if let list = a[5] {
                for one in try NLAttributes.list(list, base: a.offsets[5]! + NL.attrHdrLen) where one.type == 1 {
                    let e = try NLAttributes.parse(one.value, base: one.offset + NL.attrHdrLen, policy: NLAPolicy(maxType: 5, [1: .u32, 2: .flag, 3: .u32, 4: .u32, 5: .u32]), strict: false)
                    guard let iv = e.u32(3), iv > 0 else { throw NetlinkError(EINVAL, "Invalid interval for schedule entry", offset: one.offset) }
                    entries.append(GateEntry(open: e.has(2), interval: iv, ipv: e.u32(4).map { Int32(bitPattern: $0) } ?? -1,
                                             maxOctets: e.u32(5).map { Int32(bitPattern: $0) } ?? -1))
                }
            }
            let old = index != 0 ? dp.tcActions.lookup("gate", index) : nil
            var gp = GateParams(entries: GateParams.store(entries), count: entries.count)
            if case .gate(let op, _)? = old?.action {
                gp.priority = op.priority; gp.base = op.base; gp.cycleExt = op.cycleExt; gp.flags = op.flags; gp.clockid = op.clockid
                if entries.isEmpty { gp.entries = op.entries; gp.count = op.count; if !a.has(7) { gp.cycle = op.cycle } }
            } else if entries.isEmpty {
                if index != 0 { return ActionRequest(action: .gate(gp, then: v), index: index, onlyBinds: "The entry list is empty") }
                throw NetlinkError(EINVAL, "The entry list is empty", offset: a.offsets[2])
            }
            if let c = a.u32(10) {
                guard [0, 1, 7, 11].contains(Int32(bitPattern: c)) else { throw NetlinkError(EINVAL, "Invalid 'clockid'", offset: a.offsets[10]) }
                gp.clockid = Int32(bitPattern: c)
            }
            if let x = a.u32(4) { gp.priority = Int32(bitPattern: x) }
            if let x = a.u64(6) { gp.base = x }
            if let x = a.u32(9) { gp.flags = x }
            if let x = a.u64(7) { gp.cycle = x }
            if let x = a.u64(8) { gp.cycleExt = x }
            gp.schedule(now: dp.clock.now, virtual: dp.clock.mode == .virtual)
            return ActionRequest(action: .gate(gp, then: v), index: index)
        case "ife":
            // tcf_ife_init: flags IFE_ENCODE only; encode takes the type (0xED3E by default)
            // and MACs; the metadata list (each empty: allow, or its value: use) or, without
            // one, every metadatum allowed. u32 values of 4 bytes, the tc index of 2.
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 7, [1: .minLength(24), 3: .minLength(6), 4: .minLength(6), 5: .u16, 6: .unspec]), strict: false)
            guard let p = a[1] else { throw NetlinkError(EINVAL, "IFE requires parameters", offset: base) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[1])
            let flags = p.le16(at: 20)
            guard flags & ~1 == 0 else { throw NetlinkError(EINVAL, "Unknown IFE flags", offset: a.offsets[1]) }
            var ip = IFEParams(encode: flags & 1 != 0)
            if ip.encode {
                ip.type = a.u16(5) ?? IFEWire.defaultType
                if let m = a[3] { ip.dst = MACAddress(Array(m.prefix(6))) }
                if let m = a[4] { ip.src = MACAddress(Array(m.prefix(6))) }
                if ip.dst?.raw == 0 { ip.dst = nil }
                if ip.src?.raw == 0 { ip.src = nil }
            }
            if let ml = a[6] {
                for one in try NLAttributes.list(ml, base: a.offsets[6]! + NL.attrHdrLen) {
                    switch one.type {
                    case IFEParams.mark, IFEParams.prio:
                        guard one.value.isEmpty || one.value.count == 4 else { throw NetlinkError(EINVAL, "ife: a u32 metadatum takes 4 bytes", offset: one.offset) }
                        let val = one.value.isEmpty ? nil : one.value.le32(at: 0)
                        if one.type == IFEParams.mark { ip.mark = val == nil ? 1 : 2; ip.markValue = val ?? 0 } else { ip.prio = val == nil ? 1 : 2; ip.prioValue = val ?? 0 }
                    case IFEParams.tcindex:
                        guard one.value.isEmpty || one.value.count == 2 else { throw NetlinkError(EINVAL, "ife: the tc index takes 2 bytes", offset: one.offset) }
                        ip.tcindex = one.value.isEmpty ? 1 : 2; ip.tcindexValue = one.value.isEmpty ? 0 : one.value.le16(at: 0)
                    default:
                        throw NetlinkError(ENOENT, "ife: metadatum \(one.type) is not available (Sluice has mark, prio and tcindex)", offset: one.offset)
                    }
                }
            } else {
                ip.mark = 1; ip.prio = 1; ip.tcindex = 1
            }
            ip.setOrder()
            return ActionRequest(action: .ife(ip, then: v), index: p.le32(at: 0))
        case "tunnel_key":
            // tunnel_key_init: TCA_TUNNEL_KEY_PARMS; release, or set with both IPv4 endpoints
            // (IPv6 endpoints and tunnel options are refused by name).
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 14, [2: .minLength(24), 3: .minLength(4), 4: .minLength(4), 5: .minLength(16), 6: .minLength(16),
                                                                                         7: .u32, 9: .u16, 10: .u8, 11: .unspec, 12: .u8, 13: .u8, 14: .flag]), strict: false)
            guard let p = a[2] else { throw NetlinkError(EINVAL, "Missing tunnel key parameters", offset: base) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[2])
            func be32(_ x: ArraySlice<UInt8>) -> UInt32 { x.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
            switch Int32(bitPattern: p.le32(at: 20)) {
            case 2: return ActionRequest(action: .tunnelKey(nil, then: v), index: p.le32(at: 0))
            case 1:
                if a.has(11) { throw NetlinkError(EOPNOTSUPP, "tunnel_key: tunnel options (geneve, vxlan, erspan) are not implemented in Sluice", offset: a.offsets[11]) }
                var t = TunnelInfo()
                if let s = a[3], let d = a[4] { t.src = be32(s); t.dst = be32(d) }
                else if a.has(5) || a.has(6) { throw NetlinkError(EOPNOTSUPP, "tunnel_key: IPv6 tunnel endpoints are not implemented in Sluice", offset: a.offsets[5] ?? a.offsets[6]) }
                else {
                    return ActionRequest(action: .tunnelKey(nil, then: v), index: p.le32(at: 0), onlyBinds: "Missing either ipv4 or ipv6 src and dst")
                }
                if let k = a[7] { t.id = be32(k); t.flags |= TunnelInfo.key }
                if let pt = a[9] { t.port = UInt16(pt[pt.startIndex]) << 8 | UInt16(pt[pt.startIndex + 1]) }
                if (a.u8(10) ?? 0) == 0 { t.flags |= TunnelInfo.csum }
                if a.has(14) { t.flags |= TunnelInfo.dontFragment }
                t.tos = a.u8(12) ?? 0; t.ttl = a.u8(13) ?? 0
                return ActionRequest(action: .tunnelKey(t, then: v), index: p.le32(at: 0))
            default:
                return ActionRequest(action: .tunnelKey(nil, then: v), index: p.le32(at: 0), onlyBinds: "Unknown tunnel key action")
            }
        case "bpf":
            // tcf_bpf_init: TCA_ACT_BPF_PARMS, and exactly one program: classic (OPS_LEN and
            // OPS) or eBPF (FD) — which Sluice does not run.
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 9, [2: .minLength(20), 3: .u16, 4: .binary(maxLength: 4096 * 8), 5: .u32, 6: .string(maxLength: 256)]), strict: false)
            guard let p = a[2] else { throw NetlinkError(EINVAL, "bpf: TCA_ACT_BPF_PARMS is required", offset: base) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[2])
            let classic = a.has(3) && a.has(4)
            if a.has(5) && !classic { throw NetlinkError(EOPNOTSUPP, "bpf: eBPF programs are not supported; Sluice runs classic BPF", offset: a.offsets[5]) }
            guard classic != a.has(5) else {
                // No program: only a reference to an existing bpf action (`action bpf index N`);
                // the placeholder is never run, its kind says which table to look in.
                let none = (try? BPFProgram.compile([SockFilter(code: 0x06, jt: 0, jf: 0, k: 0)]))!
                return ActionRequest(action: .bpf(none, then: v), index: p.le32(at: 0), onlyBinds: "bpf: give one program (TCA_ACT_BPF_OPS_LEN and TCA_ACT_BPF_OPS)")
            }
            let n = Int(a.u16(3) ?? 0)
            guard n > 0, n <= BPFProgram.maxInsns, let ops = BPFProgram.decode(wire: a[4]!, count: n) else {
                throw NetlinkError(EINVAL, "bpf: the program's length does not match TCA_ACT_BPF_OPS_LEN", offset: a.offsets[4])
            }
            do { return ActionRequest(action: .bpf(try BPFProgram.compile(ops), then: v), index: p.le32(at: 0)) } catch {
                throw NetlinkError(EINVAL, String(error.message.dropFirst(error.message.hasPrefix("Error: ") ? 7 : 0)), offset: a.offsets[4])
            }
        case "ct":
            // tcf_ct_init / tcf_ct_fill_params.
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 18, [1: .minLength(20), 3: .u16, 4: .u16, 5: .u32, 6: .u32,
                7: .binary(maxLength: 16), 8: .binary(maxLength: 16), 9: .u32, 10: .u32, 11: .minLength(16), 12: .minLength(16), 13: .u16, 14: .u16,
                16: .string(maxLength: 16), 17: .u8, 18: .u8]), strict: false)
            guard let p = a[1] else { throw NetlinkError(EINVAL, "Missing required ct parameters", offset: base) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[1])
            let flags = a.u16(3) ?? 0
            if flags & CTParams.clear != 0 {
                return ActionRequest(action: .ct(CTParams(flags: flags), then: v), index: p.le32(at: 0))
            }
            if flags & CTParams.nat != 0 && flags & CTParams.natSrc != 0 && flags & CTParams.natDst != 0 {
                throw NetlinkError(EOPNOTSUPP, "dnat and snat can't be enabled at the same time", offset: a.offsets[3])
            }
            var range = Conntrack.NATRange()
            if flags & CTParams.nat != 0 && flags & (CTParams.natSrc | CTParams.natDst) != 0 {
                if let lo = a[9] {
                    range.hasAddr = true; range.v4 = true
                    range.minLo = UInt64(Self.be32(lo)); range.maxLo = a[10].map { UInt64(Self.be32($0)) } ?? range.minLo
                } else if let lo = a[11] {
                    range.hasAddr = true; range.v4 = false
                    (range.minHi, range.minLo) = Self.be128(lo)
                    (range.maxHi, range.maxLo) = a[12].map { Self.be128($0) } ?? (range.minHi, range.minLo)
                }
                if let lo = a[13] {
                    range.hasPorts = true
                    range.minPort = UInt16(lo[lo.startIndex]) << 8 | UInt16(lo[lo.startIndex + 1])
                    range.maxPort = a[14].map { UInt16($0[$0.startIndex]) << 8 | UInt16($0[$0.startIndex + 1]) } ?? range.minPort
                }
            }
            var mark: UInt32 = 0, markMask: UInt32 = 0
            if let m = a.u32(5) { mark = m; markMask = a.u32(6) ?? .max }
            var lh: UInt64 = 0, ll: UInt64 = 0, mh: UInt64 = 0, ml: UInt64 = 0
            if let l = a[7] {
                (lh, ll) = Self.be128(l)
                (mh, ml) = a[8].map { Self.be128($0) } ?? (.max, .max)
            }
            if a.has(16) { throw NetlinkError(EOPNOTSUPP, "Failed to add helper: Sluice has no conntrack helpers", offset: a.offsets[16]) }
            let cp = CTParams(flags: flags, zone: a.u16(4) ?? 0, mark: mark, markMask: markMask, labelHi: lh, labelLo: ll,
                              labelMaskHi: mh, labelMaskLo: ml, range: range)
            return ActionRequest(action: .ct(cp, then: v), index: p.le32(at: 0))
        case "connmark":
            // tcf_connmark_init: struct tc_connmark (tc_gen, zone).
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 3, [1: .minLength(22)]), strict: false)
            guard let p = a[1] else { throw NetlinkError(EINVAL, "Missing required connmark parameters", offset: base) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[1])
            return ActionRequest(action: .connmark(zone: p.le16(at: 20), then: v), index: p.le32(at: 0))
        case "ctinfo":
            // tcf_ctinfo_init: TCA_CTINFO_ACT; a DSCP mask of 6 contiguous bits, a state mask
            // not overlapping it; zone; the mark copy's mask.
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 10, [3: .minLength(20), 4: .u16, 5: .u32, 6: .u32, 7: .u32]), strict: false)
            guard let p = a[3] else { throw NetlinkError(EINVAL, "Missing required TCA_CTINFO_ACT attribute", offset: base) }
            var dscpMask: UInt32? = nil, stateMask: UInt32 = 0
            if let dm = a.u32(5) {
                let shift = dm == 0 ? 0 : dm.trailingZeroBitCount
                guard dm >> shift == 0x3F else { throw NetlinkError(EINVAL, "dscp mask must be 6 contiguous bits", offset: a.offsets[5]) }
                stateMask = a.u32(6) ?? 0
                guard dm & stateMask == 0 else { throw NetlinkError(EINVAL, "dscp statemask must not overlap dscp mask", offset: a.offsets[6]) }
                dscpMask = dm
            }
            let v = try verdict(p.le32(at: 8), at: a.offsets[3])
            let cp = CtinfoParams(zone: a.u16(4) ?? 0, dscpMask: dscpMask, dscpStateMask: stateMask, cpmarkMask: a.u32(7))
            return ActionRequest(action: .ctinfo(cp, then: v), index: p.le32(at: 0))
        case "sample":
            // tcf_sample_init: TCA_SAMPLE_PARMS; rate and group unless binding; rate not 0.
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 6, [2: .minLength(20), 3: .u32, 4: .u32, 5: .u32]), strict: false)
            guard let p = a[2] else { throw NetlinkError(EINVAL) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[2])
            guard let rate = a.u32(3), let group = a.u32(5) else {
                return ActionRequest(action: .sample(SampleParams(rate: 1, group: 0), then: v), index: p.le32(at: 0), onlyBinds: "sample rate and group are required")
            }
            guard rate != 0 else { throw NetlinkError(EINVAL, "invalid sample rate", offset: a.offsets[3]) }
            // A replace without TCA_SAMPLE_TRUNC_SIZE keeps the truncation the action had.
            var trunc = a.u32(4)
            if trunc == nil, p.le32(at: 0) != 0, case .sample(let old, _)? = dp.tcActions.lookup("sample", p.le32(at: 0))?.action { trunc = old.trunc }
            return ActionRequest(action: .sample(SampleParams(rate: rate, group: group, trunc: trunc), then: v), index: p.le32(at: 0))
        case "simple":
            // tcf_simp_init: TCA_DEF_PARMS; TCA_DEF_DATA (up to 32 bytes) unless binding.
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 4, [2: .minLength(20), 3: .string(maxLength: 32)]), strict: false)
            guard let p = a[2] else { throw NetlinkError(EINVAL, "simple: TCA_DEF_PARMS is required", offset: base) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[2])
            guard let data = a.string(3) else {
                return ActionRequest(action: .simple(tag: SimpleData.intern(""), then: v), index: p.le32(at: 0), onlyBinds: "simple: TCA_DEF_DATA is required")
            }
            return ActionRequest(action: .simple(tag: SimpleData.intern(data), then: v), index: p.le32(at: 0))
        case "skbmod":
            // tcf_skbmod_init: struct tc_skbmod; one of the address/type edits, a MAC swap or
            // ECN (ECN wins over swap, swap over edits); none is EINVAL.
            let a = try NLAttributes.parse(o, base: base, policy: NLAPolicy(maxType: 7, [2: .minLength(32), 3: .minLength(6), 4: .minLength(6), 5: .u16]), strict: false)
            guard let p = a[2] else { throw NetlinkError(EINVAL, "Missing required skbmod parameters", offset: base) }
            let v = try verdict(p.le32(at: 8), at: a.offsets[2])
            let flags = UInt64(p.le32(at: 24)) | UInt64(p.le32(at: 28)) << 32
            var sp = SkbmodParams()
            if let m = a[3] { sp.dmac = MACAddress(Array(m.prefix(6))) }
            if let m = a[4] { sp.smac = MACAddress(Array(m.prefix(6))) }
            if let t = a.u16(5) { sp.etype = t }
            if flags & 8 != 0 { sp = SkbmodParams(); sp.swap = true }
            if flags & 16 != 0 { sp = SkbmodParams(); sp.ecn = true }
            if sp.flags == 0 && p.le32(at: 0) != 0 {
                // `action skbmod index N`: binds to that action (tcf_skbmod_init returns first).
                return ActionRequest(action: .skbmod(sp, then: v), index: p.le32(at: 0), onlyBinds: "skbmod: no action given")
            }
            guard sp.flags != 0 else { throw NetlinkError(EINVAL, "skbmod: no action given", offset: a.offsets[2]) }
            return ActionRequest(action: .skbmod(sp, then: v), index: p.le32(at: 0))
        default:
            throw NetlinkError(EOPNOTSUPP, "action \(kind) is not implemented in Sluice yet")
        }
    }

    // MARK: RTM_*ACTION

    /// The tcamsg's TCA_ACT_TAB entries: (kind, index, the entry's bytes and offset).
    func actionTab(_ msg: NetlinkMessage) throws(NetlinkError) -> (root: NLAttributes, entries: [(kind: String?, index: UInt32?, attrs: NLAttributes)]) {
        let root = try NLAttributes.parse(msg.payload.dropFirst(4), base: NL.hdrLen + 4, policy: TCAAct.rootPolicy, strict: false)
        guard let tab = root[TCAAct.ROOT_TAB] else { throw NetlinkError(EINVAL, "Netlink action attributes missing") }
        let list = try NLAttributes.parse(tab, base: root.offsets[TCAAct.ROOT_TAB]! + NL.attrHdrLen,
                                          policy: NLAPolicy(maxType: UInt16(TCAAct.MAX_PRIO), [:]), strict: false)
        var out: [(kind: String?, index: UInt32?, attrs: NLAttributes)] = []
        for order in list.values.keys.sorted() {
            let e = try NLAttributes.parse(list[order]!, base: list.offsets[order]! + NL.attrHdrLen, policy: TCAAct.policy, strict: false)
            out.append((e.string(TCAAct.KIND), e.u32(TCAAct.INDEX), e))
        }
        guard !out.isEmpty else { throw NetlinkError(EINVAL, "No action specified") }
        return (root, out)
    }

    /// A message carrying actions (tca_get_fill): a tcamsg and TCA_ACT_TAB with orders from 1.
    func actionMessage(type: UInt16, flags: UInt16, seq: UInt32, _ entries: [ActionEntry], get: Bool = false) -> [UInt8] {
        var w = NetlinkWriter()
        let start = w.begin(type: type, flags: flags, seq: seq, pid: pid)
        w.put8(0); w.put8(0); w.put16(0)                                       // struct tcamsg
        let tab = w.beginNest(TCAAct.ROOT_TAB, flagged: false)
        for (k, e) in entries.enumerated() { encodeAction(e, order: UInt16(k + 1), &w) }
        w.endNest(tab)
        w.end(start)
        return w.bytes
    }

    /// Multicasts an action change to RTNLGRP_TC; with NLM_F_ECHO the requester gets it too.
    func announceActions(_ msg: NetlinkMessage, type: UInt16, flags: UInt16, _ entries: [ActionEntry], _ replies: inout [[UInt8]]) {
        let echo = msg.header.flags & NL.F_ECHO != 0
        guard echo || eventGroups.contains(RTNLGRP.TC) else { return }
        let m = actionMessage(type: type, flags: flags, seq: msg.header.seq, entries)
        if eventGroups.contains(RTNLGRP.TC) { events.append((RTNLGRP.TC, m)) }
        if echo { replies.append(m) }
    }

    /// tcf_action_add: every action of the request created (standalone: one reference held by
    /// the table) or, with NLM_F_REPLACE, an existing one's parameters replaced — for the
    /// filters bound to it too. All are checked before any is applied: the request applies whole
    /// or not at all.
    func newActions(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let (root, _) = try actionTab(msg)
        let replace = msg.header.flags & NL.F_REPLACE != 0
        let tab = root[TCAAct.ROOT_TAB]!
        let reqs = try decodeActions(tab, base: root.offsets[TCAAct.ROOT_TAB]! + NL.attrHdrLen, dev: nil)
        let table = dp.tcActions
        var planned: [String: Set<UInt32>] = [:]
        var plan: [(ActionRequest, existing: ActionEntry?, index: UInt32)] = []
        for r in reqs {
            let kind = r.action.kindName
            // tcf_action_check_ctrlact: no chain to jump to without a filter.
            if r.action.jumpsToChain { throw NetlinkError(EINVAL, "can't goto NULL proto/chain") }
            // tcf_action_offload_add: skip_sw needs the action in hardware, and Sluice has none.
            if r.flags & 4 != 0 { throw NetlinkError(EINVAL, "skip_sw: the action cannot be offloaded, Sluice has no hardware") }
            if r.index != 0, planned[kind, default: []].contains(r.index) { throw NetlinkError(EEXIST, "TC action with this index is already in the request") }
            if r.index != 0, let e = table.lookup(kind, r.index) {
                guard replace else { throw NetlinkError(EEXIST) }
                if let complaint = r.onlyBinds { throw NetlinkError(EINVAL, complaint) }
                planned[kind, default: []].insert(r.index)
                plan.append((r, e, r.index))
                continue
            }
            if let complaint = r.onlyBinds { throw NetlinkError(EINVAL, complaint) }
            guard let index = r.index != 0 ? r.index : table.freeIndex(kind, taken: planned[kind] ?? []) else {
                throw NetlinkError(ENOSPC, "No free \(kind) action index")
            }
            planned[kind, default: []].insert(index)
            plan.append((r, nil, index))
        }
        var touched: [ActionEntry] = []
        for (r, existing, index) in plan {
            if let e = existing {
                e.action = r.action
                if let ck = r.cookie { e.cookie = ck }
                runner.refreshBoundActions(e)
                touched.append(e)
            } else {
                let e = ActionEntry(kind: r.action.kindName, index: index, action: r.action, cookie: r.cookie, standalone: true, installed: dp.clock.now)
                e.flags = r.flags
                table.insert(e)
                touched.append(e)
            }
        }
        announceActions(msg, type: NL.RTM_NEWACTION, flags: msg.header.flags & (NL.F_CREATE | NL.F_REPLACE | NL.F_EXCL), touched, &replies)
    }

    /// tca_action_gd for RTM_DELACTION: the actions named by kind and index, or with NLM_F_ROOT
    /// and one kind, all of that kind (tca_action_flush).
    func delActions(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let (_, entries) = try actionTab(msg)
        let table = dp.tcActions
        if msg.header.flags & NL.F_ROOT != 0 {
            // tca_action_flush and tcf_del_walker: in index order until one is bound (EPERM,
            // without a message, if it is the first; a warning otherwise).
            guard let kind = entries[0].kind, ActionTable.kinds.contains(kind) else { throw NetlinkError(EINVAL, "Cannot flush unknown TC action") }
            var n: UInt32 = 0
            var stopped = false
            for e in table.entries(kind) {
                if e.binds > 0 { stopped = true; break }
                e.standalone = false
                table.remove(e)
                n += 1
            }
            if stopped && n == 0 { throw NetlinkError(EPERM) }
            if stopped { extAckWarning = "Unable to flush all TC actions" }
            if n > 0 && (msg.header.flags & NL.F_ECHO != 0 || eventGroups.contains(RTNLGRP.TC)) {
                var w = NetlinkWriter()
                let start = w.begin(type: NL.RTM_DELACTION, flags: NL.F_ROOT, seq: msg.header.seq, pid: pid)
                w.put8(0); w.put8(0); w.put16(0)
                let tab = w.beginNest(TCAAct.ROOT_TAB, flagged: false)
                let one = w.beginNest(0, flagged: false)
                w.attr(TCA.KIND, string: kind)
                w.attr(TCAAct.FCNT, u32: n)
                w.endNest(one)
                w.endNest(tab)
                w.end(start)
                if eventGroups.contains(RTNLGRP.TC) { events.append((RTNLGRP.TC, w.bytes)) }
                if msg.header.flags & NL.F_ECHO != 0 { replies.append(w.bytes) }
            }
            return
        }
        // tcf_action_get_1 for each, then tcf_action_delete: all found and unbound, or nothing.
        var found: [ActionEntry] = []
        for (kind, index, attrs) in entries {
            // tcf_action_get_1: the index first, then the kind.
            guard let index else { throw NetlinkError(EINVAL, "Invalid TC action index value", offset: attrs.offsets[TCAAct.KIND]) }
            guard let kind, ActionTable.kinds.contains(kind) else { throw NetlinkError(EINVAL, "Specified TC action kind not found") }
            guard let e = table.lookup(kind, index) else { throw NetlinkError(ENOENT, "TC action with specified index not found") }
            found.append(e)
        }
        if found.contains(where: { $0.binds > 0 }) { throw NetlinkError(EPERM, "Failed to delete TC action") }
        announceActions(msg, type: NL.RTM_DELACTION, flags: 0, found, &replies)
        for e in found {
            e.standalone = false
            table.remove(e)
        }
    }

    /// tca_action_gd for RTM_GETACTION: the actions named by kind and index, in one message.
    func getActions(_ msg: NetlinkMessage) throws(NetlinkError) -> [UInt8] {
        let (_, entries) = try actionTab(msg)
        var found: [ActionEntry] = []
        for (kind, index, attrs) in entries {
            // tcf_action_get_1: the index first, then the kind.
            guard let index else { throw NetlinkError(EINVAL, "Invalid TC action index value", offset: attrs.offsets[TCAAct.KIND]) }
            guard let kind, ActionTable.kinds.contains(kind) else { throw NetlinkError(EINVAL, "Specified TC action kind not found") }
            guard let e = dp.tcActions.lookup(kind, index) else { throw NetlinkError(ENOENT, "TC action with specified index not found") }
            found.append(e)
        }
        return actionMessage(type: NL.RTM_GETACTION, flags: 0, seq: msg.header.seq, found, get: true)
    }

    /// tc_dump_action: the kind's actions in index order, each message with its count
    /// (TCA_ROOT_COUNT) and the actions as nests 0, 1, … (tcf_dump_walker): TCA_ACT_MAX_PRIO
    /// to a message, or as many as fit with TCA_ACT_FLAG_LARGE_DUMP_ON (as tc asks); `since`
    /// (TCA_ROOT_TIME_DELTA, ms) leaves out actions unused for longer.
    func dumpActions(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let (root, entries) = try actionTab(msg)
        var parts = DumpParts(limit: bufferSize)
        // find_dump_kind / tc_lookup_action: an unknown kind dumps nothing.
        guard let kind = entries[0].kind, ActionTable.kinds.contains(kind) else {
            parts.finish(seq: msg.header.seq, pid: pid, into: &replies)
            return
        }
        var flags: UInt32 = 0
        if let f = root[TCAAct.ROOT_FLAGS] { flags = f.le32(at: 0) & f.le32(at: 4) }
        let large = flags & TCAAct.FLAG_LARGE_DUMP_ON != 0, terse = flags & TCAAct.FLAG_TERSE_DUMP != 0
        var all = dp.tcActions.entries(kind)
        if let ms = root.u32(TCAAct.ROOT_TIME_DELTA), ms > 0 {
            let since = dp.clock.now &- UInt64(ms) * Time.ms
            all = all.filter { e in
                let last = e.counters.pointee.lastUse == 0 ? e.installed : e.counters.pointee.lastUse
                return last >= since
            }
        }
        var i = 0
        while i < all.count {
            // One message: as many as fit in half the reader's buffer, or 32.
            var body = NetlinkWriter()
            var n = 0
            while i + n < all.count && (large || n < TCAAct.MAX_PRIO) {
                var one = NetlinkWriter()
                encodeAction(all[i + n], order: UInt16(n), listing: !terse, terse: terse, &one)
                if n > 0 && body.count + one.count > bufferSize / 2 { break }
                body.put(one.bytes)
                n += 1
            }
            let count = n
            parts.add { w in
                let start = w.begin(type: NL.RTM_GETACTION, flags: NL.F_MULTI, seq: msg.header.seq, pid: pid)
                w.put8(0); w.put8(0); w.put16(0)                                // struct tcamsg
                w.attr(TCAAct.ROOT_COUNT, u32: UInt32(count))
                let tab = w.beginNest(TCAAct.ROOT_TAB, flagged: false)
                w.put(body.bytes)
                w.endNest(tab)
                w.end(start)
            }
            i += n
        }
        parts.finish(seq: msg.header.seq, pid: pid, into: &replies)
    }
}

extension CommandRunner {
    /// Copies a replaced action's parameters into every filter bound to it.
    func refreshBoundActions(_ e: ActionEntry) {
        func fix(_ b: inout FilterBlock) {
            for i in b.filters.indices {
                let entries = b.filters[i].bound.entries
                for k in entries.indices where entries[k] === e && k < b.filters[i].actions.count { b.filters[i].actions[k] = e.action }
            }
        }
        for dev in dp.allDevices {
            for q in qdiscTree(dev) { fix(&q.filters) }
            if let ing = dev.ingress { fix(&ing.filters); fix(&ing.egressFilters) }
        }
    }
}
