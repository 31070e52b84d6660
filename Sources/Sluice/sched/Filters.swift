#if canImport(Glibc)
import Glibc
#endif

/// Principles (cls_api.c, act_api.c)
/// ----------
/// A qdisc's filters form its block: chains of filters, each chain evaluated in priority order
/// (lowest first), every filter matching on its protocol (or all). The first filter that
/// matches runs its actions in order; each action returns a control verdict:
///   pipe → the next action; ok/pass → accept (with the filter's class id, if any);
///   drop/shot → drop; continue → the next filter; reclassify → start over (bounded);
///   goto chain N → evaluate chain N; stolen → an action (mirred redirect) took the packet.
/// Matchers: matchall, fw (packet mark), u32 (value/mask words at offsets from the network
/// header), flower (MACs, VLAN, EtherType, IP protocol, addresses, ports, TOS, with masks).
/// Actions may change the packet (vlan push/pop writes the frame after copy-on-write), so
/// classification works on the packet's pool index and may replace it.
public enum TcResult: Equatable, Sendable {
    case classid(TcHandle)     // accepted, with a class
    case ok                    // accepted, no class named
    case drop
    case stolen                // consumed by an action
}

/// A TC_ACT_* control verdict.
enum ActVerdict: Equatable {
    case ok, shot, pipe, reclassify, continue_, stolen
    /// TC_ACT_TRAP: to the CPU in hardware; in software the packet is consumed, not counted
    /// as a drop (as the qdiscs' classify and the ingress hook treat it).
    case trap
    case gotoChain(UInt32)
    /// TC_ACT_JUMP: go on with the action `n` places from the start of the list.
    case jump(UInt32)

    static func parse(_ w: String, _ a: inout TcArgs) throws(SluiceError) -> ActVerdict? {
        switch w {
        case "ok", "pass": return .ok
        case "drop", "shot": return .shot
        case "pipe": return .pipe
        case "reclassify": return .reclassify
        case "continue": return .continue_
        case "trap": return .trap
        case "goto":
            guard a.next() == "chain" else { throw SluiceError("Error: \"goto\" must be followed by \"chain N\"") }
            return .gotoChain(UInt32(try a.int(for: "chain", 0...Int(UInt32.max))))
        case "jump":
            return .jump(UInt32(try a.int(for: "jump", 0...Int(UInt32.max))))
        default: return nil
        }
    }

    var text: String {
        switch self {
        case .ok: "pass"
        case .shot: "drop"
        case .pipe: "pipe"
        case .reclassify: "reclassify"
        case .continue_: "continue"
        case .stolen: "stolen"
        case .trap: "trap"
        case .gotoChain(let c): "goto chain \(c)"
        case .jump(let n): "jump \(n)"
        }
    }
}

/// A policer (act_police, tcf_police_act): a byte-rate token bucket of `burst` (as time at
/// `rate`), optionally a second bucket of one `mtu` at `peakrate`, or instead a packet-rate
/// bucket (`pkts_rate`, `pkts_burst`); packets over `mtu` (a GSO frame: any of its
/// segments) exceed at once. With neither rate, a policer checks the MTU alone. A packet
/// that fits every bucket takes the conform verdict and pays; otherwise the exceed verdict
/// (counted as an overlimit). Times in ns; lengths charged with `overhead`, as the kernel's
/// rate tables.
final class Policer {
    struct Params {
        var rate: UInt64 = 0            // bits/s; 0: no byte-rate bucket
        var peakrate: UInt64 = 0        // bits/s; 0: none
        var pps: UInt64 = 0             // packets/s; 0: none
        var bufferTicks: UInt32 = 0     // the burst as psched ticks at `rate` (tc_police.burst)
        var ppsBurstTicks: UInt64 = 0   // pkts_burst as ticks at `pps` (TCA_POLICE_PKTBURST64)
        var mtu: UInt32 = 0             // 0: 255 << cell_log with a rate (2040), else no limit
        var overhead: UInt16 = 0
        var mpu: UInt16 = 0
        /// TC_LINKLAYER_ATM: lengths charged as whole 53-byte cells of 48 bytes.
        var atm = false
        var conform: ActVerdict = .ok   // tcfp_result
        var exceed: ActVerdict = .reclassify   // tcf_action
    }
    let p: Params
    var conform: ActVerdict { p.conform }
    var exceed: ActVerdict { p.exceed }
    var rate: UInt64 { p.rate }
    /// tcfp_mtu as the kernel keeps it.
    let mtu: UInt32
    let burstNs: Int64, pktBurstNs: Int64
    let rateCfg: RateCfg, peakCfg: RateCfg
    private(set) var mtuPtoks: Int64 = 0
    var toks: Int64, ptoks: Int64 = 0, pkttoks: Int64 = 0
    var tc: UInt64 = 0
    var conformed: UInt64 = 0, exceeded: UInt64 = 0

    init(_ p: Params) {
        self.p = p
        let link = LinkSpec(overhead: Int(p.overhead), mpu: Int(p.mpu), atm: p.atm)
        rateCfg = RateCfg(p.rate, link); peakCfg = RateCfg(p.peakrate, link)
        mtu = p.mtu != 0 ? p.mtu : (p.rate > 0 ? 2040 : UInt32.max)
        burstNs = Int64(TcCore.ns(p.bufferTicks))
        pktBurstNs = Int64(clamping: p.ppsBurstTicks << 6)
        toks = burstNs
        mtuPtoks = p.peakrate > 0 ? Int64(charge(Int(mtu), peakCfg)) : 0
        ptoks = mtuPtoks
    }

    /// psched_l2t_ns: the time `len` bytes take at the rate, with the overhead, the mpu and the
    /// link layer's cells.
    @inline(__always) func charge(_ len: Int, _ cfg: RateCfg) -> UInt64 { cfg.charge(len) }

    /// The burst in bytes as tc prints it (tc_calc_xmitsize of the ticks).
    var burst: Int { Int(TcCore.xmitsize(rate: p.rate / 8, ticks: p.bufferTicks)) }
    /// pkts_burst as tc prints it.
    var ppsBurst: UInt64 { UInt64(TcCore.xmitsize(rate: p.pps, ticks: UInt32(clamping: p.ppsBurstTicks))) }

    /// `len` is qdisc_pkt_len; `segLen` a GSO frame's largest segment (0 for other packets).
    func police(_ len: Int, segLen: Int, now: UInt64) -> ActVerdict {
        if (segLen > 0 ? segLen : len) <= Int(mtu) {
            if p.rate == 0 && p.pps == 0 { conformed &+= 1; return p.conform }
            var t = min(Int64(bitPattern: now &- tc), burstNs)
            var pt: Int64 = 0, ppst: Int64 = 0
            if p.peakrate > 0 {
                pt = min(t + ptoks, mtuPtoks) - Int64(charge(len, peakCfg))
            }
            if p.rate > 0 {
                t = min(t + toks, burstNs) - Int64(charge(len, rateCfg))
            } else {
                ppst = min(min(Int64(bitPattern: now &- tc), pktBurstNs) + pkttoks, pktBurstNs) - Int64(1_000_000_000 / p.pps)
            }
            if (t | pt | ppst) >= 0 {
                tc = now; toks = t; ptoks = pt; pkttoks = ppst
                conformed &+= 1
                return p.conform
            }
        }
        exceeded &+= 1
        return p.exceed
    }
}

/// mirred's target: a device of the same datapath.
final class MirredTarget {
    /// The datapath, reached on the per-packet path without reference counting
    /// (`_withUnsafeGuaranteedRef`): a strong reference loaded from an `unowned(unsafe)`
    /// property is a retain and a release per packet.
    let dp: Unmanaged<Datapath>
    let ifindex: Int32
    let name: String
    init(dp: Datapath, ifindex: Int32, name: String) { self.dp = .passUnretained(dp); self.ifindex = ifindex; self.name = name }
}

enum TcAction {
    case gact(ActVerdict)
    /// gact with its probability (tc_gact_p): `paction` instead of the verdict for one packet in
    /// `pval` — chosen at random (PGACT_NETRAND, 1) or every pval-th (PGACT_DETERM, 2).
    case gactRandom(ActVerdict, ptype: UInt16, pval: UInt16, paction: ActVerdict)
    case police(Policer)
    case mirred(egress: Bool, redirect: Bool, target: MirredTarget, then: ActVerdict)
    case vlanPush(vid: UInt16, prio: UInt8, proto: UInt16, then: ActVerdict)
    case vlanPop(then: ActVerdict)
    case vlanModify(vid: UInt16, prio: UInt8?, proto: UInt16, then: ActVerdict)
    case skbedit(SkbeditParams, then: ActVerdict)
    /// act_csum: TCA_CSUM_UPDATE_FLAG_* bits.
    case csum(flags: UInt32, then: ActVerdict)
    /// act_nat: stateless IPv4 NAT of `old`/`mask` to `new` (host order), source on egress.
    case nat(old: UInt32, new: UInt32, mask: UInt32, egress: Bool, then: ActVerdict)
    /// act_skbmod: Ethernet rewrites, a MAC swap, or an ECN CE mark.
    case skbmod(SkbmodParams, then: ActVerdict)
    /// act_pedit: 32-bit word rewrites at header offsets.
    case pedit(PeditParams, then: ActVerdict)
    /// act_mpls: push (after the MAC header or before it), pop, modify or dec_ttl of a label
    /// stack entry.
    case mpls(MPLSParams, then: ActVerdict)
    /// act_ife: encapsulates the frame with metadata (mark, priority, tc index) or takes it off.
    case ife(IFEParams, then: ActVerdict)
    /// act_gate: a time schedule of open and closed intervals (802.1Qci stream gating).
    case gate(GateParams, then: ActVerdict)
    /// act_simple: logs its string and the packet count (rate-limited, as the kernel's
    /// net_info_ratelimited), then its verdict. The string lives in `SimpleData`.
    case simple(tag: Int32, then: ActVerdict)
    /// act_bpf: a classic BPF program whose return is the verdict (TC_ACT_UNSPEC: `then`, the
    /// default action; an unknown code: continue).
    case bpf(BPFProgram, then: ActVerdict)
    /// act_tunnel_key: sets the packet's tunnel metadata (for a collect_metadata device such
    /// as an external vxlan), or with nil releases it.
    case tunnelKey(TunnelInfo?, then: ActVerdict)
    /// act_sample: one packet in `rate`, chosen at random, is a sample for psample group
    /// `group` (cut to `trunc` bytes); the packet itself goes on with the verdict.
    case sample(SampleParams, then: ActVerdict)
    /// act_ct: connection tracking (Conntrack.swift) — track, commit, NAT, clear.
    case ct(CTParams, then: ActVerdict)
    /// act_connmark: the packet's mark from its connection's.
    case connmark(zone: UInt16, then: ActVerdict)
    /// act_ctinfo: DSCP and mark restored from the connection's mark.
    case ctinfo(CtinfoParams, then: ActVerdict)

    /// The action kind's name (TCA_ACT_KIND).
    var kindName: String {
        switch self {
        case .gact, .gactRandom: return "gact"
        case .police: return "police"
        case .mirred: return "mirred"
        case .vlanPush, .vlanPop, .vlanModify: return "vlan"
        case .skbedit: return "skbedit"
        case .csum: return "csum"
        case .nat: return "nat"
        case .skbmod: return "skbmod"
        case .pedit: return "pedit"
        case .simple: return "simple"
        case .bpf: return "bpf"
        case .tunnelKey: return "tunnel_key"
        case .sample: return "sample"
        case .ct: return "ct"
        case .connmark: return "connmark"
        case .ctinfo: return "ctinfo"
        case .mpls: return "mpls"
        case .ife: return "ife"
        case .gate: return "gate"
        }
    }

    /// The action's print_aopt text (m_gact.c, m_mirred.c, m_vlan.c, m_skbedit.c, m_police.c),
    /// ending with its index line; `tm` is print_tm's text for `tc -s`.
    func printText(index: UInt32, tm: String, ref: Int = 1, bind: Int = 1) -> String {
        let indexLine = "\tindex \(index) ref \(ref) bind \(bind)\(tm)\n"
        switch self {
        case .gact(let v):
            return "gact action \(v.text)\n\t random type none pass val 0\n\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .gactRandom(let v, let t, let val, let p):
            return "gact action \(v.text)\n\t random type \(t == 1 ? "netrand" : "determ") \(p.text) val \(val)\n\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .police(let p):
            // print_police: rate, burst and mtu always; peakrate, pkts_rate/pkts_burst when
            // set; the exceed verdict, "/conform" when it is not the default; overhead.
            var s = " police " + cFormat("0x%x ", index) + "rate \(TcFormat.rateBytes(p.rate / 8)) burst \(TcFormat.sizeU32(UInt32(clamping: p.burst))) mtu \(TcFormat.sizeU32(p.mtu)) "
            if p.p.peakrate > 0 { s += "peakrate \(TcFormat.rateBytes(p.p.peakrate / 8)) " }
            if p.p.pps > 0 { s += "pkts_rate \(p.p.pps) pkts_burst \(p.ppsBurst) " }
            s += "action \(p.exceed.text)" + (p.conform != .ok ? "/\(p.conform.text) " : " ")
            s += "overhead \(TcFormat.sizeU32(UInt32(p.p.overhead))) "
            if p.p.atm { s += "linklayer atm " }
            return s + "\n\tref \(ref) bind \(bind)\(tm)\n"
        case .mirred(let e, let r, let t, let then):
            return "mirred (\(e ? "Egress" : "Ingress") \(r ? "Redirect" : "Mirror") to device \(t.name)) \(then.text)\n" + indexLine
        case .vlanPush(let vid, let prio, let proto, let then):
            return "vlan  push id \(vid) protocol \(proto == EtherType.qinq ? "802.1ad" : "802.1Q") priority \(prio) \(then.text)\n\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .vlanPop(let then):
            return "vlan  pop \(then.text)\n\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .vlanModify(let vid, let prio, let proto, let then):
            return "vlan  modify id \(vid) protocol \(proto == EtherType.qinq ? "802.1ad" : "802.1Q")\(prio.map { " priority \($0)" } ?? "") \(then.text)\n\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .skbedit(let k, let then):
            // print_skbedit's order.
            var s = "skbedit "
            if let q = k.queue { s += "queue_mapping \(q)" }
            if let pr = k.priority { s += " priority \(TcFormat.classid(TcHandle(raw: pr)))" }
            if let mk = k.mark { s += " mark \(mk)" + (k.mask.map { "/\(cFormat("%#x", $0))" } ?? "") }
            if let t = k.ptype { s += " ptype " + (SkbeditParams.ptypeNames[Int(t)] ?? "\(t)") }
            if k.inheritDS { s += " inheritdsfield" }
            return s + " \(then.text)\n\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .csum(let flags, let then):
            // print_csum: the flags named in its order, "?empty" for none.
            let names = [(1, "iph"), (2, "icmp"), (4, "igmp"), (8, "tcp"), (16, "udp"), (32, "udplite"), (64, "sctp")]
            let set = names.filter { flags & UInt32($0.0) != 0 }.map(\.1)
            return "csum (\(set.isEmpty ? "?empty" : set.joined(separator: ", "))) action \(then.text)\n" + indexLine
        case .nat(let old, let new, let mask, let egress, let then):
            // print_nat: the prefix length is 33 − ffs() of the mask as tc loads it (the
            // network-order word read in host order), so any mask with a full first octet
            // prints as /32, as Debian's tc prints it.
            let raw = mask.bigEndian
            let ffs = raw == 0 ? 0 : raw.trailingZeroBitCount + 1
            let plen = ffs == 0 ? 0 : 33 - ffs
            return " nat \(egress ? "egress" : "ingress") \(CommandRunner.ipString(old))/\(plen) \(CommandRunner.ipString(new)) \(then.text)\n"
                + "\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .skbmod(let p, let then):
            var s = "skbmod \(then.text) "
            if let t = p.etype { s += cFormat("set etype 0x%X ", UInt32(t)) + "\n\t " }
            if let m = p.dmac { s += "set dmac \(m) " }
            if let m = p.smac { s += "set smac \(m) " }
            if p.swap { s += "swap mac " }
            if p.ecn { s += "ecn " }
            return s + "\n\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .mpls(let p, let then):
            // print_mpls: the operation, the protocol for push/pop, the fields given.
            var s = "mpls  \(MPLSParams.names[Int(p.op)])"
            if p.op == MPLSParams.pop || p.op == MPLSParams.push || p.op == MPLSParams.macPush { s += " protocol " + TcFormat.proto(p.proto) }
            if p.op == MPLSParams.push || p.op == MPLSParams.macPush || p.op == MPLSParams.modify {
                if let l = p.label { s += " label \(l)" }
                if let t = p.tc { s += " tc \(t)" }
                if let b = p.bos { s += " bos \(b)" }
                if p.ttl != 0 { s += " ttl \(p.ttl)" }
            }
            return s + " \(then.text)\n\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .gate(let p, let then):
            // print_gate's lines.
            var s = "gate \n\tpriority " + (p.priority == -1 ? "wildcard" : "\(p.priority)") + "\tclockid \(GateParams.clockName(p.clockid))\tflags \(cFormat("%#x", p.flags))\n"
            s += "\tbase-time \(TcFormat.time64(Int64(bitPattern: p.base)))\tcycle-time \(TcFormat.time64(Int64(bitPattern: p.cycle)))\tcycle-time-ext \(TcFormat.time64(Int64(bitPattern: p.cycleExt)))"
            for k in 0..<p.count {
                let e = p.entries[k]
                s += "\n\t number \(k)\tgate-state \(e.open ? "open" : "close")\tinterval \(TcFormat.time64(Int64(e.interval)))"
                s += "\n\t ipv " + (e.ipv < 0 ? "wildcard" : "\(e.ipv)") + "\tmax-octets " + (e.maxOctets < 0 ? "wildcard" : "\(e.maxOctets)")
            }
            return s + "\t\(then.text)\n\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .ife(let p, let then):
            // print_ife: mode, control, type, the metadata (mark, tcindex, prio), the MACs.
            var s = "ife \(p.encode ? "encode" : "decode") action \(then.text) " + cFormat("type %#llX ", UInt64(p.type)) + "\n\t"
            if p.mark != 0 { s += p.mark == 2 ? "use mark \(p.markValue) " : "allow mark " }
            if p.tcindex != 0 { s += p.tcindex == 2 ? "use tcindex \(p.tcindexValue) " : "allow tcindex " }
            if p.prio != 0 { s += p.prio == 2 ? "use prio \(p.prioValue) " : "allow prio " }
            if let d = p.dst { s += "dst \(d) " }
            if let m = p.src { s += "src \(m) " }
            return s + "\n\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .ct(let p, let then):
            // print_ct: the parameters, the control, the index line.
            return "ct\(p.text) \(then.text)\n" + indexLine
        case .connmark(let zone, let then):
            return " connmark zone \(zone) \(then.text)\n\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .ctinfo(let p, let then):
            // print_ctinfo: zone, control, index line, then the DSCP and mark settings.
            var s = "ctinfo zone \(p.zone) \(then.text)\n\t index \(index) ref \(ref) bind \(bind)\(tm)"
            if let dm = p.dscpMask { s += cFormat("\n\t dscp %#010x %#010x", dm, p.dscpStateMask) }
            if let cm = p.cpmarkMask { s += cFormat("\n\t cpmark %#010x", cm) }
            return s + "\n"
        case .sample(let sp, let then):
            // print_sample: rate, group, the truncation when set, the control.
            return "sample rate 1/\(sp.rate) group \(sp.group)\(sp.trunc.map { " trunc_size \($0)" } ?? "") \(then.text)\n\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .simple(let tag, _):
            return "Simple <\(SimpleData.string(tag))>\n\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .tunnelKey(let info, let then):
            // print_tunnel_key (m_tunnel_key.c).
            var s = "tunnel_key "
            if let t = info {
                s += " set\n\tsrc_ip \(CommandRunner.ipString(t.src))\n\tdst_ip \(CommandRunner.ipString(t.dst))"
                if t.flags & TunnelInfo.key != 0 { s += "\n\tkey_id \(t.id)" }
                if t.port != 0 { s += "\n\tdst_port \(t.port)" }
                s += t.flags & TunnelInfo.csum != 0 ? "\n\tcsum" : "\n\tnocsum"
                if t.tos != 0 { s += cFormat("\n\ttos 0x%x", UInt32(t.tos)) }
                if t.ttl != 0 { s += "\n\tttl \(t.ttl)" }
            } else {
                s += " unset"
            }
            return s + " \(then.text)\n\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .bpf(let prog, let then):
            // bpf_print_opt (m_bpf.c): the bytecode, the default action, the index line.
            return "bpf bytecode '\(prog.bytecode)' default-action \(then.text)\n\t index \(index) ref \(ref) bind \(bind)\(tm)\n"
        case .pedit(let p, let then):
            // print_pedit: the verdict and key count, the index line, then each key's place
            // ("at OFF" for the network header, "at ipv4+OFF" and the like for extended keys),
            // command, value and mask as network-order words.
            let names = ["", "eth", "ipv4", "ipv6", "tcp", "udp"]
            var s = " pedit action \(then.text) keys \(p.keys.count)\n \t index \(index) ref \(ref) bind \(bind)\(tm)"
            for (i, k) in p.keys.enumerated() {
                let off = Int32(bitPattern: k.off)
                let loc = k.htype == 0 ? "\(off)" : (Int(k.htype) < names.count ? names[Int(k.htype)] : "unknown(\(k.htype))") + cFormat("%+d", off)
                s += "\n\t key #\(i)  at \(loc): \(k.cmd != 0 ? "add" : "val")" + cFormat(" %08x mask %08x", k.val.byteSwapped, k.mask.byteSwapped)
            }
            return s + "\n"
        }
    }
}

/// An action as the packet path dispatches it: police and pedit reach their objects
/// unretained (`TcFilter.actions` holds them for as long as this exists); the rest run from the
/// action itself. Trivial to copy, so reading one costs no retain and no outlined copy.
enum HotAction {
    case police(Unmanaged<Policer>)
    case pedit(Unmanaged<PeditParams>, then: ActVerdict)
    case mirred(Unmanaged<MirredTarget>, egress: Bool, redirect: Bool, then: ActVerdict)
    case other(editsFrame: Bool)

    init(_ a: TcAction) {
        switch a {
        case .police(let p): self = .police(.passUnretained(p))
        case .mirred(let egress, let redirect, let t, let then): self = .mirred(.passUnretained(t), egress: egress, redirect: redirect, then: then)
        case .pedit(let p, let then): self = .pedit(.passUnretained(p), then: then)
        default: self = .other(editsFrame: FilterBlock.editsFrame(a))
        }
    }

    var editsFrame: Bool {
        switch self {
        case .police, .mirred: false
        case .pedit: true
        case .other(let e): e
        }
    }
}

/// act_pedit's keys (held by reference: an action is copied per packet, its keys are not).
final class PeditParams {
    let keys: [HeaderEdit.PeditKey]
    /// Whether the keys came extended (TCA_PEDIT_PARMS_EX with header types and commands).
    let extended: Bool
    init(keys: [HeaderEdit.PeditKey], extended: Bool) { self.keys = keys; self.extended = extended }
}

/// act_sample's parameters (TCA_SAMPLE_RATE, TCA_SAMPLE_PSAMPLE_GROUP, TCA_SAMPLE_TRUNC_SIZE).
struct SampleParams: Equatable {
    var rate: UInt32
    var group: UInt32
    var trunc: UInt32?
}

/// act_skbmod's parameters (tcf_skbmod_init keeps one of: address and type rewrites, a MAC
/// swap, or ECN — the later ones win).
struct SkbmodParams {
    var dmac: MACAddress?
    var smac: MACAddress?
    var etype: UInt16?
    var swap = false
    var ecn = false
    /// SKBMOD_F_* bits as dumped.
    var flags: UInt64 { (dmac != nil ? 1 : 0) | (smac != nil ? 2 : 0) | (etype != nil ? 4 : 0) | (swap ? 8 : 0) | (ecn ? 16 : 0) }
}

struct FlowerKey {
    var dstMAC: (UInt64, UInt64)?        // value, mask
    var srcMAC: (UInt64, UInt64)?
    var vlanID: UInt16?
    var vlanPrio: UInt8?
    var ethType: UInt16?
    var ipProto: UInt8?
    var srcIP: (UInt32, UInt32)?
    var dstIP: (UInt32, UInt32)?
    var srcIP6: V6Prefix?
    var dstIP6: V6Prefix?
    var srcPort: ClosedRange<UInt16>?
    var dstPort: ClosedRange<UInt16>?
    var tos: (UInt8, UInt8)?
    /// Tunnel keys (enc_*): the packet's tunnel metadata, which an external vxlan attaches to
    /// what it receives; a packet without any matches none of them.
    var encKeyID: UInt32?
    var encSrcIP: (UInt32, UInt32)?
    var encDstIP: (UInt32, UInt32)?
    var encDstPort: UInt16?
    var encTos: (UInt8, UInt8)?
    var encTTL: (UInt8, UInt8)?
    var hasEncKeys: Bool { encKeyID != nil || encSrcIP != nil || encDstIP != nil || encDstPort != nil || encTos != nil || encTTL != nil }
    /// Connection tracking keys (skb_flow_dissect_ct): state flags, zone, mark, labels — each
    /// value and mask.
    var ctState: (UInt16, UInt16)?
    var ctZone: (UInt16, UInt16)?
    var ctMark: (UInt32, UInt32)?
    var ctLabels: (UInt64, UInt64, UInt64, UInt64)?
    var hasCTKeys: Bool { ctState != nil || ctZone != nil || ctMark != nil || ctLabels != nil }

    /// fl_validate_ct_state's rules for a ct_state value; nil when it is valid.
    static func ctStateError(_ state: UInt16) -> String? {
        if state != 0 && state & 8 == 0 { return "no trk, so no other flag can be set" }
        if state & 1 != 0 && state & 2 != 0 { return "new and est are mutually exclusive" }
        if state & 16 != 0 && state & ~(8 | 16) != 0 { return "when inv is set, only trk may be set" }
        if state & 1 != 0 && state & 32 != 0 { return "new and rpl are mutually exclusive" }
        return nil
    }
    /// The state flags in the order tc prints them.
    static let ctFlagNames: [(String, UInt16)] = [("trk", 8), ("new", 1), ("est", 2), ("rel", 4), ("inv", 16), ("rpl", 32)]

    /// The key and its masks as words, each field preceded by whether it is there: two keys
    /// are the same filter key (fl_ht_insert_unique) when their signatures are equal.
    var signature: [UInt64] {
        var w: [UInt64] = []
        w.reserveCapacity(40)
        func put(_ present: Bool, _ values: UInt64...) { w.append(present ? 1 : 0); if present { w += values } }
        put(dstMAC != nil, dstMAC?.0 ?? 0, dstMAC?.1 ?? 0)
        put(srcMAC != nil, srcMAC?.0 ?? 0, srcMAC?.1 ?? 0)
        put(vlanID != nil, UInt64(vlanID ?? 0))
        put(vlanPrio != nil, UInt64(vlanPrio ?? 0))
        put(ethType != nil, UInt64(ethType ?? 0))
        put(ipProto != nil, UInt64(ipProto ?? 0))
        put(srcIP != nil, UInt64(srcIP?.0 ?? 0) << 32 | UInt64(srcIP?.1 ?? 0))
        put(dstIP != nil, UInt64(dstIP?.0 ?? 0) << 32 | UInt64(dstIP?.1 ?? 0))
        put(srcIP6 != nil, srcIP6?.hi ?? 0, srcIP6?.lo ?? 0, srcIP6?.maskHi ?? 0, srcIP6?.maskLo ?? 0)
        put(dstIP6 != nil, dstIP6?.hi ?? 0, dstIP6?.lo ?? 0, dstIP6?.maskHi ?? 0, dstIP6?.maskLo ?? 0)
        put(srcPort != nil, UInt64(srcPort?.lowerBound ?? 0) << 16 | UInt64(srcPort?.upperBound ?? 0))
        put(dstPort != nil, UInt64(dstPort?.lowerBound ?? 0) << 16 | UInt64(dstPort?.upperBound ?? 0))
        put(tos != nil, UInt64(tos?.0 ?? 0) << 8 | UInt64(tos?.1 ?? 0))
        put(encKeyID != nil, UInt64(encKeyID ?? 0))
        put(encSrcIP != nil, UInt64(encSrcIP?.0 ?? 0) << 32 | UInt64(encSrcIP?.1 ?? 0))
        put(encDstIP != nil, UInt64(encDstIP?.0 ?? 0) << 32 | UInt64(encDstIP?.1 ?? 0))
        put(encDstPort != nil, UInt64(encDstPort ?? 0))
        put(encTos != nil, UInt64(encTos?.0 ?? 0) << 8 | UInt64(encTos?.1 ?? 0))
        put(encTTL != nil, UInt64(encTTL?.0 ?? 0) << 8 | UInt64(encTTL?.1 ?? 0))
        put(ctState != nil, UInt64(ctState?.0 ?? 0) << 16 | UInt64(ctState?.1 ?? 0))
        put(ctZone != nil, UInt64(ctZone?.0 ?? 0) << 16 | UInt64(ctZone?.1 ?? 0))
        put(ctMark != nil, UInt64(ctMark?.0 ?? 0) << 32 | UInt64(ctMark?.1 ?? 0))
        put(ctLabels != nil, ctLabels?.0 ?? 0, ctLabels?.1 ?? 0, ctLabels?.2 ?? 0, ctLabels?.3 ?? 0)
        return w
    }

    /// The key's mask alone (struct fl_flow_mask): which fields, with which masks; an exact
    /// port and a port range are different masks. Filters with the same mask share one of
    /// the kernel's per-mask hash tables.
    var maskSignature: [UInt64] {
        var w: [UInt64] = []
        w.reserveCapacity(32)
        func put(_ present: Bool, _ values: UInt64...) { w.append(present ? 1 : 0); if present { w += values } }
        put(dstMAC != nil, dstMAC?.1 ?? 0)
        put(srcMAC != nil, srcMAC?.1 ?? 0)
        put(vlanID != nil); put(vlanPrio != nil); put(ethType != nil); put(ipProto != nil)
        put(srcIP != nil, UInt64(srcIP?.1 ?? 0))
        put(dstIP != nil, UInt64(dstIP?.1 ?? 0))
        put(srcIP6 != nil, srcIP6?.maskHi ?? 0, srcIP6?.maskLo ?? 0)
        put(dstIP6 != nil, dstIP6?.maskHi ?? 0, dstIP6?.maskLo ?? 0)
        put(srcPort != nil, srcPort.map { $0.count > 1 ? 1 : 0 } ?? 0)
        put(dstPort != nil, dstPort.map { $0.count > 1 ? 1 : 0 } ?? 0)
        put(tos != nil, UInt64(tos?.1 ?? 0))
        put(encKeyID != nil)
        put(encSrcIP != nil, UInt64(encSrcIP?.1 ?? 0))
        put(encDstIP != nil, UInt64(encDstIP?.1 ?? 0))
        put(encDstPort != nil)
        put(encTos != nil, UInt64(encTos?.1 ?? 0))
        put(encTTL != nil, UInt64(encTTL?.1 ?? 0))
        put(ctState != nil, UInt64(ctState?.1 ?? 0))
        put(ctZone != nil, UInt64(ctZone?.1 ?? 0))
        put(ctMark != nil, UInt64(ctMark?.1 ?? 0))
        put(ctLabels != nil, ctLabels?.2 ?? 0, ctLabels?.3 ?? 0)
        return w
    }
}

/// An IPv6 prefix as two masked 64-bit words (no heap storage on the match path).
struct V6Prefix {
    var hi: UInt64, lo: UInt64, maskHi: UInt64, maskLo: UInt64
    init(bytes: [UInt8], plen: Int) {
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<8 { h = h << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { l = l << 8 | UInt64(bytes[i]) }
        maskHi = plen >= 64 ? ~0 : (plen == 0 ? 0 : ~UInt64(0) << UInt64(64 - plen))
        maskLo = plen >= 128 ? ~0 : (plen <= 64 ? 0 : ~UInt64(0) << UInt64(128 - plen))
        hi = h & maskHi; lo = l & maskLo
    }
    @inline(__always) func matches(_ p: UnsafeRawPointer) -> Bool {
        let h = UInt64(bigEndian: p.loadUnaligned(as: UInt64.self))
        let l = UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        return h & maskHi == hi && l & maskLo == lo
    }
}

/// A u32 key: the word at `offset` from the network header, masked. `l4` records a
/// `nexthdr+` key (the kernel's offmask), which only changes where a link offset applies.
struct U32Key { var value: UInt32; var mask: UInt32; var offset: Int; var l4: Bool }

enum FilterMatch {
    case all
    case fw(mark: UInt32, mask: UInt32)
    /// Keys as parsed (value, mask, offset from the network header; `l4`: from the L4 header).
    case u32([(value: UInt32, mask: UInt32, offset: Int, l4: Bool)])
    /// The same keys once the filter is in a block: a range of the block's flat key storage.
    case u32Range(start: Int, count: Int)
    case flower(FlowerKey)
    /// cls_basic: its ematch tree, if any, is the filter's `ematch` (Ematch.swift).
    case basic
    /// cls_flow: the filter's `flow` parameters make the class id (cls_flow.swift); its ematch
    /// tree, if any, must match first.
    case flow
    /// cls_cgroup: the class of the sending task's net_cls cgroup, read from the packet's
    /// socket; forwarded packets have none, so it never matches (its ematch tree is kept and
    /// shown).
    case cgroup
    /// cls_bpf: the filter's classic BPF program (`bpf`) decides — 0 no match, −1 the filter's
    /// class, anything else the class id; with `bpfDirect` its return is the action.
    case bpf
    /// cls_route (route4): a routed packet's realms (dst->tclassid) — destination realm `to`,
    /// source realm `from`, or the input device `iif` (RouteFilter).
    case route(to: UInt32?, from: UInt32?, iif: Int32?)
}

/// cls_route's rules (net/sched/cls_route.c).
enum RouteFilter {
    /// route4_set_parms: the handle the attributes make — `to` in the low byte (0x8000 when
    /// none), the source realm, or 0x8000 | ifindex, or 0xFFFF (any source) above — with the
    /// `order` bits (0x7F00) of the handle asked for. Throws the kernel's refusals.
    static func handle(to: UInt32?, from: UInt32?, iif: Int32?, requested: UInt32) throws(SluiceError) -> UInt32 {
        guard requested != 0 else { throw SluiceError("Error: Creating with handle of 0 is invalid (Invalid argument)") }
        var h: UInt32 = 0x8000
        if let to {
            guard requested & 0x8000 == 0 else { throw SluiceError("Error: Invalid handle (Invalid argument)") }
            h = to
        }
        if from != nil && iif != nil { throw SluiceError("Error: 'from' and 'fromif' are mutually exclusive (Invalid argument)") }
        if let from { h |= from << 16 } else if let iif { h |= (UInt32(bitPattern: iif) | 0x8000) << 16 } else { h |= 0xFFFF << 16 }
        h |= requested & 0x7F00
        guard h == requested else {
            throw SluiceError("Error: Handle mismatch constructed: \(String(requested, radix: 16)) (expected: \(String(h, radix: 16))) (Invalid argument)")
        }
        return h
    }

    /// route4_walk's order (dumps): the destination bucket (to, or 256 for none), the source
    /// bucket (from_hash), then the handle.
    static func dumpKey(_ h: UInt32) -> (UInt32, UInt32, UInt32) {
        let to = h & 0x8000 != 0 ? 256 : h & 0xFF
        let id = (h >> 16) & 0xFFFF
        let from: UInt32 = id == 0xFFFF ? 32 : id & 0x8000 == 0 ? (id > 255 ? 256 : id & 0xF) : 16 + (id & 0xF)
        return (to, from, h)
    }

    /// route4_classify's order, the same for every packet: filters with a destination realm
    /// (only those of the packet's are candidates), then those without; in each, source-realm
    /// filters, then input-device ones, then any-source ones; by handle within each.
    static func classifyKey(_ f: TcFilter) -> (Int, Int, UInt32) {
        guard case .route(let to, let from, let iif) = f.match else { return (2, 0, f.handle) }
        return (to == nil ? 1 : 0, from != nil ? 0 : iif != nil ? 1 : 2, f.handle)
    }

    /// Whether a routed packet with realms `id` that came in on `inIf` matches. The input-device
    /// lookup lands in the bucket of (ifindex >> 16) & 0xF while filters are filed under
    /// ifindex & 0xF (route4_hash_iif against from_hash): as in the kernel, a `fromif` filter
    /// only matches devices whose ifindex is a multiple of 16.
    @inline(__always)
    static func matches(to: UInt32?, from: UInt32?, iif: Int32?, id: UInt32, inIf: Int32) -> Bool {
        if let to { guard id & 0xFF == to else { return false } }
        if let from { return (to ?? 0) | from << 16 == (to == nil ? id & 0xFFFF_0000 : id) }
        if let iif { return iif == inIf && UInt32(bitPattern: iif) & 0xF == (UInt32(bitPattern: inIf) >> 16) & 0xF }
        return true
    }
}

/// One entry of a gate schedule (struct tcfg_gate_entry).
struct GateEntry { var open: Bool; var interval: UInt32; var ipv: Int32; var maxOctets: Int32 }

/// act_gate's parameters. The entries live in memory owned by the action table's entry for as
/// long as the program runs (a schedule is small and changes only by configuration), so the
/// packet path reads them through a plain pointer. Times are on the gate's clock (`clockid`,
/// TAI by default); `offset` turns the datapath clock into it (0 in virtual time, where the
/// datapath clock is the only clock).
struct GateParams {
    var entries: UnsafePointer<GateEntry>
    var count: Int
    var priority: Int32 = -1
    var base: UInt64 = 0
    var cycle: UInt64 = 0
    var cycleExt: UInt64 = 0
    var flags: UInt32 = 0
    var clockid: Int32 = 11
    var period: UInt64 = 0
    var start: UInt64 = 0
    var offset: Int64 = 0

    static func store(_ e: [GateEntry]) -> UnsafePointer<GateEntry> {
        let p = UnsafeMutablePointer<GateEntry>.allocate(capacity: max(e.count, 1))
        p.initialize(from: e, count: e.count)
        return UnsafePointer(p)
    }

    static func clockName(_ id: Int32) -> String {
        switch id { case 0: "REALTIME"; case 1: "MONOTONIC"; case 7: "BOOTTIME"; case 11: "TAI"; default: "invalid" }
    }

    /// tcf_gate_init's timing: the cycle is the entries' sum unless given; the start is the
    /// base time if ahead, else the next cycle boundary after now (gate_get_start_time).
    mutating func schedule(now datapathNow: UInt64, virtual: Bool) {
        period = (0..<count).reduce(UInt64(0)) { $0 + UInt64(entries[$1].interval) }
        if cycle == 0 { cycle = period }
        let gateNow: UInt64
        if virtual { gateNow = datapathNow; offset = 0 } else {
            var ts = timespec()
            clock_gettime(clockid_t(clockid), &ts)
            gateNow = UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
            offset = Int64(bitPattern: gateNow &- datapathNow)
        }
        if base > gateNow || cycle == 0 { start = base } else { start = base + ((gateNow - base) / cycle + 1) * cycle }
    }
}

/// act_ife's parameters: encode or decode, the outer EtherType and MACs, and the metadata —
/// mark (1), prio (3), tcindex (5) — each absent (0), allowed (1: the packet's value) or used
/// (2: the configured one), in `order` (metadata ids, 8 bits each).
struct IFEParams: Equatable {
    static let mark: UInt16 = 1, prio: UInt16 = 3, tcindex: UInt16 = 5
    var encode: Bool
    var type: UInt16 = 0
    var dst: MACAddress? = nil
    var src: MACAddress? = nil
    var mark: UInt8 = 0, markValue: UInt32 = 0
    var prio: UInt8 = 0, prioValue: UInt32 = 0
    var tcindex: UInt8 = 0, tcindexValue: UInt16 = 0
    var order: UInt32 = 0

    /// The metadata in id order (populate_metalist walks the ids).
    mutating func setOrder() {
        order = 0
        var shift: UInt32 = 0
        for (id, state) in [(IFEParams.mark, mark), (IFEParams.prio, prio), (IFEParams.tcindex, tcindex)] where state != 0 {
            order |= UInt32(id) << shift; shift += 8
        }
    }
}

/// act_mpls's parameters (struct tcf_mpls_params): the operation, the fields to set (nil or 0
/// TTL: as they are), the EtherType pushed or restored.
struct MPLSParams: Equatable {
    static let pop: UInt8 = 1, push: UInt8 = 2, modify: UInt8 = 3, decTTL: UInt8 = 4, macPush: UInt8 = 5
    static let names = ["", "pop", "push", "modify", "dec_ttl", "mac_push"]
    var op: UInt8
    var label: UInt32? = nil
    var tc: UInt8? = nil
    var ttl: UInt8 = 0
    var bos: UInt8? = nil
    var proto: UInt16 = MPLSEdit.unicast

    /// tcf_mpls_get_lse: `base` (the current entry, or 0) with the fields given.
    @inline(__always) func lse(_ base: UInt32, setBos: Bool) -> UInt32 {
        var v = base
        if let l = label { v = (v & ~0xFFFF_F000) | l << 12 }
        if ttl != 0 { v = (v & ~0xFF) | UInt32(ttl) }
        if let t = tc { v = (v & ~0xE00) | UInt32(t) << 9 }
        if let b = bos { v = (v & ~0x100) | UInt32(b) << 8 } else if setBos { v |= 0x100 }
        return v
    }
}

/// act_simple's strings, interned (a packet's action carries an index, so executing it copies
/// nothing), and its rate-limited log: at most 10 lines per 5 s, as printk's default ratelimit.
enum SimpleData {
    nonisolated(unsafe) static var strings: [String] = []
    nonisolated(unsafe) static var sink: ((String) -> Void)?
    nonisolated(unsafe) static var windowStart: UInt64 = 0
    nonisolated(unsafe) static var inWindow = 0

    static func intern(_ s: String) -> Int32 {
        if let i = strings.firstIndex(of: s) { return Int32(i) }
        strings.append(s)
        return Int32(strings.count - 1)
    }
    static func string(_ tag: Int32) -> String { Int(tag) < strings.count ? strings[Int(tag)] : "" }

    /// tcf_simp_act's "simple: DATA_PACKETS" line, rate-limited.
    static func hit(_ tag: Int32, packets: UInt64, now: UInt64) {
        guard let sink else { return }
        if now &- windowStart > 5 * Time.s { windowStart = now; inWindow = 0 }
        guard inWindow < 10 else { return }
        inWindow += 1
        sink("simple: \(string(tag))_\(packets)")
    }
}

/// act_skbedit's parameters: what it sets (nil: left alone). `ptype` is PACKET_HOST,
/// BROADCAST, MULTICAST or OTHERHOST (0…3), which IPv4, ARP and IPv6 receive then obey instead
/// of the destination MAC; `inheritDS` sets the priority to the IP header's DSCP (the DS
/// field >> 2), as tcf_skbedit_act.
struct SkbeditParams: Equatable {
    var priority: UInt32?
    var mark: UInt32?
    /// TCA_SKBEDIT_MASK when given (dumped only then).
    var mask: UInt32?
    var queue: UInt16?
    var ptype: UInt16?
    var inheritDS = false
    static let ptypeNames = [0: "host", 1: "broadcast", 2: "multicast", 3: "otherhost"]
    var isEmpty: Bool { priority == nil && mark == nil && queue == nil && ptype == nil && !inheritDS }
}

struct TcFilter {
    var prio: UInt16
    var proto: UInt16          // ETH_P_ALL (3) matches every protocol
    /// The filter's handle as the kernel gives it (u32: htid << 20 | node; fw: the mark;
    /// matchall and flower: 1 unless given).
    var handle: UInt32
    var chain: UInt32 = 0
    /// Removed, kept in the block's store until it is compacted (`FilterBlock.store`); the
    /// walk passes over it.
    var dead = false
    var kind: String
    var match: FilterMatch
    var result: TcResult?      // flowid/classid
    /// TCA_CLS_FLAGS as asked (skip_hw 1, skip_sw 2, verbose 16) for matchall, u32 and
    /// flower; dumps add NOT_IN_HW (8).
    var clsFlags: UInt32 = 0
    /// The actions' parameters, copied from their entries (the packet path reads these).
    var actions: [TcAction] = [] { didSet { hot = actions.map(HotAction.init) } }
    /// The same actions as the packet path dispatches them (one per action).
    var hot: [HotAction] = []
    /// What the request asked for each action (index, cookie), until the filter is bound.
    var actionRequests: [ActionRequest] = []
    /// The action entries the filter is bound to (index, counters, references); the object's
    /// identity is the filter's.
    var bound = BoundActions.none() { didSet { counterBase = bound.counters } }
    /// `bound.counters`, kept beside it so the packet path reads a plain pointer.
    var counterBase: UnsafeMutablePointer<UnsafeMutablePointer<ActionCounters>>?
    /// basic: the compiled ematch tree (nil: every packet matches), and its records and bytes as
    /// plain pointers for the packet path.
    var ematch: EmatchProgram? = nil {
        didSet { emOps = ematch.map { UnsafePointer($0.ops) }; emCount = ematch?.count ?? 0; emBytes = ematch.map { UnsafePointer($0.bytes) } }
    }
    var emOps: UnsafePointer<EmOp>?
    /// flow: the classifier's parameters.
    var flow: FlowParams? = nil
    /// The classifier's old-style police attribute type (TCA_U32_POLICE, TCA_FW_POLICE, …)
    /// when the filter's one action is a policer given that way (TCA_OLD_COMPAT): dumped
    /// back in that attribute rather than as an action list.
    var oldPolice: UInt16? = nil
    /// u32, fw and flower `indev`: the packet must have come in on this device (skb_iif,
    /// tcf_match_indev); 0 for any.
    var indev: Int32 = 0
    /// bpf: the program, and direct-action mode (TCA_BPF_FLAG_ACT_DIRECT).
    var bpf: BPFProgram? = nil
    var bpfDirect = false
    /// flower: when its mask came to be in its instance (fl_create_new_mask adds masks at the
    /// tail of the list fl_classify walks); equal for filters sharing a mask.
    var flowerMaskSeq: UInt32 = 0
    /// flower: its mask's hash table in the block (`FilterBlock.flowerTables`), or -1 for a
    /// mask walked filter by filter.
    var flowerTable: Int32 = -1
    /// flower: its key's hash there (kept, so that a mask's table is rebuilt without hashing).
    var flowerHash: UInt64 = 0
    var emCount = 0
    var emBytes: UnsafePointer<UInt8>?
    /// When the filter was installed (datapath clock), for `tc -s`'s "installed N sec".
    var installed: UInt64 = 0
    // u32 (U32.swift): the selector's hash and offset fields, the table linked to, the table
    // and bucket asked for (TCA_U32_HASH, `ht`), the mark to match (TCA_U32_MARK).
    var u32Sel = U32Sel()
    var u32Link: UInt32 = 0
    var u32Ht: UInt32? = nil
    /// A request for a new hash table (`divisor N`) rather than a knode; 0: for the instance
    /// alone (a u32 filter without options).
    var u32Divisor: UInt32? = nil
    var u32MarkValue: UInt32 = 0, u32MarkMask: UInt32 = 0
    /// Resolved by `reindexU32`: the linked table's index, the instance root's, and where the
    /// filter's instance (chain, priority) ends in the block's list.
    var u32Down: Int32 = -1
    var u32Root: Int32 = -1
    var instanceEnd: Int32 = 0
    var isU32: Bool { kind == "u32" }
}

/// An action's statistics (struct tc_action's bstats/qstats and tcf_t).
struct ActionCounters {
    var packets: UInt64 = 0, bytes: UInt64 = 0, drops: UInt64 = 0, overlimits: UInt64 = 0
    var firstUse: UInt64 = 0, lastUse: UInt64 = 0
    /// gact's probability state: packets seen (PGACT_DETERM) and a xorshift state (PGACT_NETRAND).
    var seen: UInt64 = 0, random: UInt64 = 1
    /// gate: the schedule interval the octets count in, and the octets so far.
    var gateWindow: UInt64 = 0, gateOctets: Int64 = 0
    /// ctinfo: DSCP rewrites done and failed, marks copied.
    var dscpSet: UInt64 = 0, dscpError: UInt64 = 0, cpmarkSet: UInt64 = 0
}

/// Parsed fields of a frame, for matching.
struct ParsedFrame {
    var proto: UInt16 = 0        // EtherType after any VLAN tag
    var l3 = 14
    var l4 = -1
    var ipProto: UInt8 = 0
    var vlanID: UInt16? = nil
    var vlanPrio: UInt8 = 0

    init(_ d: UnsafeMutableRawPointer, _ len: Int, _ m: PacketMeta) {
        guard len >= 14 else { return }
        proto = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        if m.vlanPresent { vlanID = m.vlanTCI & 0x0FFF; vlanPrio = UInt8(m.vlanTCI >> 13) }
        if (proto == EtherType.vlan || proto == EtherType.qinq) && len >= 18 {
            let tci = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: 14, as: UInt16.self))
            vlanID = tci & 0x0FFF; vlanPrio = UInt8(tci >> 13)
            proto = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: 16, as: UInt16.self))
            l3 = 18
        }
        if proto == EtherType.ipv4 && len >= l3 + 20 {
            ipProto = d.load(fromByteOffset: l3 + 9, as: UInt8.self)
            let frag = UInt16(bigEndian: d.loadUnaligned(fromByteOffset: l3 + 6, as: UInt16.self)) & 0x1FFF
            if frag == 0 { l4 = l3 + Int(d.load(fromByteOffset: l3, as: UInt8.self) & 0x0F) * 4 }
        } else if proto == EtherType.ipv6 && len >= l3 + 40 {
            ipProto = d.load(fromByteOffset: l3 + 6, as: UInt8.self)
            l4 = l3 + 40
        }
    }
}

public struct FilterBlock {
    /// The block's filters in walk order: by (chain, prio), then as each classifier keeps
    /// them. A removed filter may stay as a tombstone (`dead`) until the next compaction, so
    /// that a delete is not a move of everything after it; `filters` is the live view.
    var store: [TcFilter] = []
    /// Tombstones in `store`. A tombstone keeps its place, so u32's positions (its bucket
    /// index, instance ends) stay right; a dead knode leaves its bucket. Every instance in
    /// `store` keeps at least one live filter: a delete that empties an instance compacts the
    /// block, so a dead filter always shares its instance's kind and protocol with a live one.
    var deadCount = 0
    /// u32 keys of every filter, flat (filters refer to ranges of it).
    var u32Keys: [U32Key] = []
    /// u32 hash tables (tc_u_common's list) and their bucket index (U32.swift).
    var u32Tables: [U32Table] = []
    var u32Serial = 0
    var u32Ranges: [Int32] = [0]
    var u32Slots: [Int32] = []
    /// The parent the last filter request for this block named (block->classid: tc_new_tfilter
    /// sets it, dumps and notifications carry it as tcm_parent); 0 until then.
    var classid: UInt32 = 0
    /// Chains made by `tc chain add` (explicitly created: they stay without filters).
    var explicitChains: [UInt32] = []
    var isEmpty: Bool { store.count == deadCount }
    /// Live filters.
    var liveCount: Int { store.count - deadCount }

    /// The live filters, in walk order. Reading it with tombstones present makes a copy;
    /// modifying it compacts the block first, so positions in it are positions in `store`.
    var filters: [TcFilter] {
        get { deadCount == 0 ? store : store.filter { !$0.dead } }
        _modify {
            compact()
            positions = nil
            yield &store
        }
    }

    /// What requests look up in a block (a handle in an instance, a flower key in an instance),
    /// built on first need from the live filters and kept up to date by every change made
    /// through the block's own methods.
    struct Index {
        struct Handle: Hashable { var chain: UInt32, prio: UInt16, handle: UInt32 }
        struct Key: Hashable { var chain: UInt32, prio: UInt16, key: [UInt64] }
        var handles: Set<Handle> = []
        /// Flower keys per instance, counted: a replace may give a filter a key another has
        /// (fl_ht_insert_unique allows it when overwriting), and the key stays taken while
        /// either has it.
        var flowerKeys: [Key: Int] = [:]
        /// Each instance's flower masks: when the mask came (its filters' `flowerMaskSeq`) and
        /// how many filters use it (the mask goes with its last filter).
        var flowerMasks: [Key: (seq: UInt32, count: Int, table: Int32)] = [:]
        /// u32 knode handles, which are unique in the whole block (u32_get looks everywhere).
        var u32Handles: Set<UInt32> = []
        /// Live filters per instance (chain << 16 | prio).
        var instanceCounts: [UInt64: Int] = [:]
        static func instance(_ chain: UInt32, _ prio: UInt16) -> UInt64 { UInt64(chain) << 16 | UInt64(prio) }
        mutating func insert(_ f: TcFilter) {
            handles.insert(Handle(chain: f.chain, prio: f.prio, handle: f.handle))
            if case .flower(let k) = f.match {
                flowerKeys[Key(chain: f.chain, prio: f.prio, key: k.signature), default: 0] += 1
                flowerMasks[Key(chain: f.chain, prio: f.prio, key: k.maskSignature), default: (f.flowerMaskSeq, 0, f.flowerTable)].count += 1
            }
            if f.isU32 { u32Handles.insert(f.handle) }
            instanceCounts[Self.instance(f.chain, f.prio), default: 0] += 1
        }
        mutating func remove(_ f: TcFilter) {
            handles.remove(Handle(chain: f.chain, prio: f.prio, handle: f.handle))
            if case .flower(let k) = f.match {
                let key = Key(chain: f.chain, prio: f.prio, key: k.signature)
                if let n = flowerKeys[key] { flowerKeys[key] = n > 1 ? n - 1 : nil }
                let mk = Key(chain: f.chain, prio: f.prio, key: k.maskSignature)
                if let m = flowerMasks[mk] { flowerMasks[mk] = m.count > 1 ? (m.seq, m.count - 1, m.table) : nil }
            }
            if f.isU32 { u32Handles.remove(f.handle) }
            let i = Self.instance(f.chain, f.prio)
            if let n = instanceCounts[i] { instanceCounts[i] = n > 1 ? n - 1 : nil }
        }
    }
    var cachedIndex: Index?
    /// Where each live filter is in `store`, by (chain, prio, handle): built on first need,
    /// kept while filters are appended, tombstoned or replaced in place, dropped when
    /// anything moves them.
    var positions: [Index.Handle: Int]?
    /// flower's per-mask hash tables (fl_mask_lookup), one per hashable mask of an instance;
    /// a filter names its mask's by `flowerTable`. A table no filter names is reused.
    var flowerTables: [FlowerMaskTable] = []
    var flowerFreeTables: [Int32] = []
    /// The last flower mask age handed out in this block.
    var nextFlowerMaskSeq: UInt32 = 0
    mutating func index() -> Index {
        if let i = cachedIndex { return i }
        var i = Index()
        for f in store where !f.dead { i.insert(f) }
        cachedIndex = i
        return i
    }
    mutating func invalidateIndex() { cachedIndex = nil }

    /// Whether instance (chain, prio) has a filter with `handle`.
    mutating func hasHandle(chain: UInt32, prio: UInt16, _ handle: UInt32) -> Bool {
        index().handles.contains(Index.Handle(chain: chain, prio: prio, handle: handle))
    }
    /// Where the live filter with `handle` of instance (chain, prio) is in `store`.
    mutating func position(chain: UInt32, prio: UInt16, handle: UInt32) -> Int? {
        guard hasHandle(chain: chain, prio: prio, handle) else { return nil }
        if positions == nil {
            var p: [Index.Handle: Int] = [:]
            p.reserveCapacity(liveCount)
            for (i, f) in store.enumerated() where !f.dead {
                let k = Index.Handle(chain: f.chain, prio: f.prio, handle: f.handle)
                if p[k] == nil { p[k] = i }
            }
            positions = p
        }
        return positions![Index.Handle(chain: chain, prio: prio, handle: handle)]
    }
    /// fl_ht_insert_unique's test: instance (chain, prio) has a flower filter with this key.
    mutating func hasFlowerKey(chain: UInt32, prio: UInt16, _ k: FlowerKey) -> Bool {
        index().flowerKeys[Index.Key(chain: chain, prio: prio, key: k.signature)] != nil
    }
    /// idr_alloc_u32 from 1: the lowest handle instance (chain, prio) does not use.
    mutating func lowestFreeHandle(chain: UInt32, prio: UInt16) -> UInt32 {
        var h: UInt32 = 1
        while hasHandle(chain: chain, prio: prio, h) { h += 1 }
        return h
    }

    /// The filters of instance (chain, prio): a run of `store`, which is kept in (chain, prio)
    /// order (tombstones included; a run is never only tombstones).
    func instanceRange(chain: UInt32, prio: UInt16) -> Range<Int> {
        func bound(_ upper: Bool) -> Int {
            var lo = 0, hi = store.count
            while lo < hi {
                let mid = (lo + hi) / 2
                let k = (store[mid].chain, store[mid].prio)
                if upper ? k <= (chain, prio) : k < (chain, prio) { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        return bound(false)..<bound(true)
    }

    /// A filter of instance (chain, prio), for what they all share (kind, protocol); nil when
    /// the block has no such instance.
    func instanceHead(chain: UInt32, prio: UInt16) -> TcFilter? {
        let r = instanceRange(chain: chain, prio: prio)
        return r.isEmpty ? nil : store[r.lowerBound]
    }

    /// The run of instance range `r` whose filters have flower mask age `seq` (an instance's
    /// filters are kept by their mask's age).
    func maskRun(_ r: Range<Int>, seq: UInt32) -> Range<Int> {
        func bound(_ upper: Bool) -> Int {
            var lo = r.lowerBound, hi = r.upperBound
            while lo < hi {
                let mid = (lo + hi) / 2
                if upper ? store[mid].flowerMaskSeq <= seq : store[mid].flowerMaskSeq < seq { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        return bound(false)..<bound(true)
    }

    /// Chains in the order they came to exist (block->chain_list: tcf_chain_create adds at
    /// the tail); kept by `noteChains` after each change.
    var chainOrder: [UInt32] = []

    /// The chains the block has: explicit ones and those with filters, in creation order.
    var chainList: [UInt32] {
        // The filters' chains: one binary search per chain over the (chain, prio) order.
        var filterChains: [UInt32] = []
        var i = 0
        while i < store.count {
            let c = store[i].chain
            filterChains.append(c)
            i = instanceRange(chain: c, prio: .max).upperBound
        }
        var live = Set(explicitChains)
        live.formUnion(filterChains)
        for t in u32Tables where t.isRoot { live.insert(t.chain) }
        var out = chainOrder.filter { live.contains($0) }
        var have = Set(out)
        for c in explicitChains + filterChains + u32Tables.filter(\.isRoot).map(\.chain) where have.insert(c).inserted { out.append(c) }
        return out
    }

    /// Records the chains that exist after a change, keeping the order they were made in.
    mutating func noteChains() { chainOrder = chainList }

    /// The instances (chain, priority) in walk order: those with filters, and u32 instances
    /// that have only tables.
    var instances: [(chain: UInt32, prio: UInt16)] {
        var out: [(chain: UInt32, prio: UInt16)] = []
        var i = 0
        while i < store.count {
            let (c, p) = (store[i].chain, store[i].prio)
            out.append((c, p))
            i = instanceRange(chain: c, prio: p).upperBound
        }
        var seen = Set(out.map { UInt64($0.chain) << 16 | UInt64($0.prio) })
        for t in u32Tables where t.isRoot && seen.insert(UInt64(t.chain) << 16 | UInt64(t.prio)).inserted { out.append((t.chain, t.prio)) }
        return out.sorted { ($0.chain, $0.prio) < ($1.chain, $1.prio) }
    }

    /// tcf_auto_prio: a filter added without a priority gets one below the chain's first.
    func autoPrio(chain: UInt32) -> UInt16 {
        guard let first = instances.filter({ $0.chain == chain }).map(\.prio).min() else { return 0xC000 }
        return first > 1 ? first - 1 : 1
    }

    /// Adds a filter; `u32Tables` is the owning qdisc's next u32 hash table id (gen_new_htid:
    /// one counter per qdisc — clsact's two blocks share it — from 0x800, never reused).
    mutating func add(_ f: TcFilter, u32Tables next: inout UInt32) throws(SluiceError) {
        var f = f
        f.dead = false
        var tablesChanged = false
        if f.isU32 {
            // One u32 instance per (chain, prio) with its own root table; a knode goes to the
            // table and bucket asked for, its node the lowest free from 0x800 (gen_new_kid)
            // unless the request named one.
            let saved = (u32Tables, u32Serial)
            do { try placeU32(&f, next: &next) } catch { (u32Tables, u32Serial) = saved; throw error }
            tablesChanged = u32Tables.count != saved.0.count
            if f.result != nil || !f.actions.isEmpty { f.u32Sel.flags |= U32Sel.TERMINAL }
        }
        if case .u32(let keys) = f.match {
            f.match = .u32Range(start: u32Keys.count, count: keys.count)
            for k in keys { u32Keys.append(U32Key(value: k.value, mask: k.mask, offset: k.offset, l4: k.l4)) }
        }
        // Stable: filters of one priority stay in the order they came — except cls_bpf's,
        // which puts a new program at the head of its list (list_add_rcu).
        let r = instanceRange(chain: f.chain, prio: f.prio)
        var at = f.kind == "bpf" ? r.lowerBound : r.upperBound
        if f.kind == "route" {
            // Kept in route4_classify's order (dumps sort them as route4_walk).
            let key = RouteFilter.classifyKey(f)
            at = store[r].firstIndex { RouteFilter.classifyKey($0) > key } ?? r.upperBound
        }
        if case .flower(let k) = f.match {
            // fl_classify walks the masks in the order they came and stops at the first that
            // has the packet's key: filters are kept by their mask's age (a new mask last), and
            // after those of their own mask.
            if let m = index().flowerMasks[Index.Key(chain: f.chain, prio: f.prio, key: k.maskSignature)] {
                f.flowerMaskSeq = m.seq
                f.flowerTable = m.table
            } else {
                nextFlowerMaskSeq &+= 1
                f.flowerMaskSeq = nextFlowerMaskSeq
                f.flowerTable = k.isHashable ? newFlowerTable() : -1
            }
            if f.flowerTable >= 0 { f.flowerHash = k.hash }
            at = maskRun(r, seq: f.flowerMaskSeq).upperBound
        }
        let run = f.flowerTable >= 0 ? maskRun(r, seq: f.flowerMaskSeq) : r
        if at == store.count {
            store.append(f)
            if positions != nil, !f.isU32 {
                let k = Index.Handle(chain: f.chain, prio: f.prio, handle: f.handle)
                if positions![k] == nil { positions![k] = at }
            }
        } else {
            store.insert(f, at: at)
            positions = nil
        }
        if cachedIndex != nil { cachedIndex!.insert(f) }
        if f.flowerTable >= 0 {
            // A mask's filters are contiguous and a new one comes last: its offset is the
            // run's length before it (tombstones included).
            let t = Int(f.flowerTable)
            if !flowerTables[t].insert(hash: f.flowerHash, offset: at - run.lowerBound) {
                refreshFlowerTable(f.flowerTable, chain: f.chain, prio: f.prio, seq: f.flowerMaskSeq)
            }
        }
        // No u32 table, no u32 filter: nothing refers to filters by position. A knode into
        // tables that stay as they were is placed in the index as it stands.
        if f.isU32 {
            if !tablesChanged && u32IndexIsCurrent { indexNewKnode(at: at) } else { reindexU32() }
        } else if !u32Tables.isEmpty {
            if u32IndexIsCurrent { indexShifted(at: at) } else { reindexU32() }
        }
    }

    /// A hash table for a new flower mask: one no filter names, or a new one.
    mutating func newFlowerTable() -> Int32 {
        if let t = flowerFreeTables.popLast() { return t }
        flowerTables.append(FlowerMaskTable())
        return Int32(flowerTables.count - 1)
    }

    /// Builds table `t` again from its mask's run in instance (chain, prio) (`seq`, the mask's
    /// age); tombstones keep their offsets but no slot. A table left without filters (its
    /// mask went with its last) is freed for reuse.
    mutating func refreshFlowerTable(_ t: Int32, chain: UInt32, prio: UInt16, seq: UInt32) {
        let run = maskRun(instanceRange(chain: chain, prio: prio), seq: seq)
        flowerTables[Int(t)].rebuild(store[run].map { $0.dead ? nil : $0.flowerHash })
        if run.isEmpty { flowerTables[Int(t)] = FlowerMaskTable(); flowerFreeTables.append(t) }
    }

    /// Every flower table built again from `store` (after filters moved); the tables no
    /// filter names are freed.
    mutating func rebuildFlowerTables() {
        var hashes = [[UInt64?]](repeating: [], count: flowerTables.count)
        var named = [Bool](repeating: false, count: flowerTables.count)
        for f in store where f.flowerTable >= 0 {
            hashes[Int(f.flowerTable)].append(f.dead ? nil : f.flowerHash)
            named[Int(f.flowerTable)] = true
        }
        flowerFreeTables = []
        for t in flowerTables.indices {
            if named[t] { flowerTables[t].rebuild(hashes[t]) } else { flowerTables[t] = FlowerMaskTable(); flowerFreeTables.append(Int32(t)) }
        }
    }

    /// Drops the tombstones: the live filters move together, and what refers to positions
    /// (flower tables, u32's index, `positions`) is built again. O(n), done when tombstones
    /// reach half the store or an instance loses its last filter, so a delete costs O(1)
    /// amortised.
    mutating func compact() {
        guard deadCount > 0 else { return }
        store.removeAll { $0.dead }
        deadCount = 0
        positions = nil
        rebuildFlowerTables()
        if !u32Tables.isEmpty { reindexU32() }
    }

    /// Makes filter `i` of `store` a tombstone: what it holds goes now (its actions are
    /// unbound, as tcf_exts_destroy, and what they refer to released); its match stays, for
    /// the keys and masks the walk reads at a mask's first filter.
    mutating func bury(_ i: Int) {
        store[i].dead = true
        store[i].actions = []
        store[i].bound = .none()
        store[i].ematch = nil
        store[i].bpf = nil
        store[i].flow = nil
        deadCount += 1
    }

    /// Removes filter `i` of `store` (not a u32 knode: those go with `deleteU32`): it becomes a
    /// tombstone; the block is compacted when they reach half of it, or when the filter was
    /// its instance's last.
    mutating func removeFilter(at i: Int) {
        let f = store[i]
        _ = index()
        cachedIndex!.remove(f)
        bury(i)
        if positions != nil { positions![Index.Handle(chain: f.chain, prio: f.prio, handle: f.handle)] = nil }
        if cachedIndex!.instanceCounts[Index.instance(f.chain, f.prio)] == nil || deadCount * 2 > store.count { compact() }
    }

    /// Removes the filters `drop` selects, and the u32 tables of instances left without any.
    mutating func removeFilters(where drop: (TcFilter) -> Bool) {
        compact()
        var gone: [TcFilter] = []
        store.removeAll { f in
            guard drop(f) else { return false }
            gone.append(f)
            return true
        }
        if gone.isEmpty { return }
        positions = nil
        if cachedIndex != nil { for f in gone { cachedIndex!.remove(f) } }
        if gone.contains(where: { $0.flowerTable >= 0 }) { rebuildFlowerTables() }
        if !u32Tables.isEmpty || gone.contains(where: \.isU32) { reindexU32() }
    }

    /// Puts `f` in the place of filter `i` of `store` (a change keeps its place in the walk
    /// order, as u32_replace_knode does); the old u32 keys stay in the flat store,
    /// unreferenced.
    mutating func replace(at i: Int, with f: TcFilter) {
        var f = f
        f.dead = false
        if case .flower(let k) = f.match {
            // fl_change over an existing filter: in its place when the mask stays; under its
            // new mask (the mask's place, or a new one last) when it changes.
            guard case .flower(let old) = store[i].match, old.maskSignature == k.maskSignature else {
                removeFilter(at: i)
                var tables: UInt32 = 0           // (flower makes no u32 table)
                try? add(f, u32Tables: &tables)
                return
            }
            f.flowerMaskSeq = store[i].flowerMaskSeq
            f.flowerTable = store[i].flowerTable
            if f.flowerTable >= 0 { f.flowerHash = k.hash }
        }
        if case .u32(let keys) = f.match {
            f.match = .u32Range(start: u32Keys.count, count: keys.count)
            for k in keys { u32Keys.append(U32Key(value: k.value, mask: k.mask, offset: k.offset, l4: k.l4)) }
        }
        if f.isU32 && (f.result != nil || !f.actions.isEmpty) { f.u32Sel.flags |= U32Sel.TERMINAL }
        if cachedIndex != nil { cachedIndex!.remove(store[i]); cachedIndex!.insert(f) }
        let oldHash = store[i].flowerHash
        store[i] = f
        if f.flowerTable >= 0 && f.flowerHash != oldHash {
            // The new key's hash goes in beside the old one, which now finds a filter that
            // no longer matches it (the lookup confirms every candidate).
            let run = maskRun(instanceRange(chain: f.chain, prio: f.prio), seq: f.flowerMaskSeq)
            if !flowerTables[Int(f.flowerTable)].insert(hash: f.flowerHash, offset: i - run.lowerBound) {
                refreshFlowerTable(f.flowerTable, chain: f.chain, prio: f.prio, seq: f.flowerMaskSeq)
            }
        }
        if !u32Tables.isEmpty || f.isU32 { reindexU32() }
    }

    /// The u32 keys of a filter, for display.
    func keys(of f: TcFilter) -> [U32Key] {
        if case .u32Range(let s, let c) = f.match { return Array(u32Keys[s..<(s + c)]) }
        return []
    }

    /// Classification without actions that change or take the packet (legacy callers).
    func classify(_ p: borrowing Packet, pool: PacketPool) -> TcResult? {
        var idx = p.index
        return run(&idx, pool: pool, now: 0, mayModify: false)
    }

    /// tcf_classify with actions. `idx` may be replaced (copy-on-write by an action); after
    /// `.stolen` or `.drop` the caller must not use the packet (`.drop`: the caller frees it).
    func run(_ idx: inout UInt32, pool: PacketPool, now: UInt64, mayModify: Bool = true) -> TcResult? {
        if store.isEmpty { return nil }
        var index = idx
        defer { idx = index }
        return store.withUnsafeBufferPointer { fb -> TcResult? in
            u32Keys.withUnsafeBufferPointer { kb -> TcResult? in
                u32Tables.withUnsafeBufferPointer { tables -> TcResult? in
                    u32Ranges.withUnsafeBufferPointer { ranges -> TcResult? in
                        u32Slots.withUnsafeBufferPointer { slots -> TcResult? in
                            flowerTables.withUnsafeBufferPointer { ft -> TcResult? in
                                runFilters(&index, pool: pool, now: now, mayModify: mayModify, fb: fb, kb: kb, tables: tables, ranges: ranges, slots: slots, ft: ft)
                            }
                        }
                    }
                }
            }
        }
    }

    /// tcf_exts_exec for the filter at `fp`: its actions in order while they say pipe.
    /// Static: the u32 walk calls it from a closure, and a method would capture the whole
    /// block (a copy of the FilterBlock, retaining each of its arrays, per packet).
    @inline(__always)
    static func execute(_ fp: UnsafePointer<TcFilter>, _ index: inout UInt32, _ pf: inout ParsedFrame?, pool: PacketPool, now: UInt64, mayModify: Bool) -> ActVerdict {
        var verdict = ActVerdict.ok
        if fp.pointee.actions.isEmpty { return verdict }
        // tcf_action_exec: what ifb gave back runs no actions, once (skb_skip_tc_classify).
        if pool.metas[Int(index)].tcFlags & PacketMeta.skipClassify != 0 {
            pool.metas[Int(index)].tcFlags &= ~PacketMeta.skipClassify
            return .ok
        }
        let counters = fp.pointee.counterBase
        var k = 0
        var skip = 0
        var jumpTTL = 32
        let count = fp.pointee.actions.count
        // The actions are read in place (a buffer pointer's element is borrowed): copying an
        // action out of the array runs the enum's outlined copy and destroy per action.
        let ab = fp.pointee.actions.withUnsafeBufferPointer { $0 }
        let hb = fp.pointee.hot.withUnsafeBufferPointer { $0 }
        let hot = hb.count == count
        while k < count {
            if skip > 0 { skip -= 1; k += 1; continue }
            let before = index
            let pl = pool.metas[Int(index)].pktLen
            let len = UInt64(pl != 0 ? pl : pool.metas[Int(index)].length)     // bstats_update: qdisc_pkt_len
            if hot, case .police(let u) = hb[k] {
                verdict = u._withUnsafeGuaranteedRef { Self.police($0, index, pool: pool, now: now, counters: counters?[k]) }
            } else if hot, case .mirred(let u, let egress, let redirect, let then) = hb[k] {
                verdict = u._withUnsafeGuaranteedRef { Self.mirred($0, egress: egress, redirect: redirect, then: then, index, pool: pool, mayModify: mayModify) }
            } else if hot, case .pedit(let u, let then) = hb[k] {
                verdict = u._withUnsafeGuaranteedRef { Self.pedit($0, then, &index, pool: pool, mayModify: mayModify, counters: counters?[k]) }
            } else {
                verdict = Self.act(ab[k], &index, pool: pool, now: now, mayModify: mayModify, counters: counters?[k])
            }
            if mayModify, let counters {
                // tcf_action_update_bstats / tcf_lastuse_update.
                let c = counters[k]
                c.pointee.packets &+= 1; c.pointee.bytes &+= len
                if verdict == .shot { c.pointee.drops &+= 1 }
                if c.pointee.firstUse == 0 { c.pointee.firstUse = now }
                c.pointee.lastUse = now
            }
            k += 1
            if index != before || (hot ? hb[k - 1].editsFrame : Self.editsFrame(ab[k - 1])) { pf = nil }
            if case .jump(let n) = verdict {
                // tcf_action_exec: restart the list skipping `n` actions; a jump to nowhere
                // or the 32nd jump ends the list with "ok".
                jumpTTL -= 1
                guard n > 0, Int(n) <= count, jumpTTL > 0 else { return .ok }
                skip = Int(n); k = 0
                continue
            }
            if verdict != .pipe { break }
        }
        return verdict
    }

    @inline(__always)
    func runFilters(_ index: inout UInt32, pool: PacketPool, now: UInt64, mayModify: Bool,
                    fb: UnsafeBufferPointer<TcFilter>, kb: UnsafeBufferPointer<U32Key>, tables: UnsafeBufferPointer<U32Table>,
                    ranges: UnsafeBufferPointer<Int32>, slots: UnsafeBufferPointer<Int32>,
                    ft: UnsafeBufferPointer<FlowerMaskTable>) -> TcResult? {
        var chain: UInt32 = 0
        var i = 0
        var restarts = 0
        var pf: ParsedFrame? = nil        // parsed on first need; again after an edit
        let n = fb.count
        while i < n {
            var fp = fb.baseAddress! + i
            if fp.pointee.chain != chain { i += 1; continue }
            var verdict: ActVerdict
            var computed: UInt32? = nil          // cls_flow's class id, made before its actions run
            if case .u32Range = fp.pointee.match {
                // The whole u32 instance at once (u32_classify), from its root table.
                let end = Int(fp.pointee.instanceEnd)
                let m = pool.metas + Int(index)
                let data = pool.base + Int(pool.dataOf[Int(index)]) * PacketPool.bufferSize + Int(m.pointee.dataOffset)
                let len = Int(m.pointee.length)
                if len < EthernetHeader.length || fp.pointee.u32Root < 0 { i = max(end, i + 1); continue }
                if pf == nil { pf = ParsedFrame(data, len, m.pointee) }
                let proto = fp.pointee.proto
                if proto != 3 && proto != pf!.proto { i = max(end, i + 1); continue }
                var off2 = 0
                // The callback takes the pool unretained: captured as a reference, the pool was
                // retained and released around every walk (the caller holds it for the call).
                let unmanagedPool = Unmanaged.passUnretained(pool)
                let out = Self.u32Walk(table: Int(fp.pointee.u32Root), sel: 0, off: pf!.l3, off2: &off2, depth: 0,
                                       tables: tables, ranges: ranges, slots: slots, fb: fb, kb: kb,
                                       data: UnsafeRawPointer(data), len: len, mark: m.pointee.mark) { fi in
                    unmanagedPool._withUnsafeGuaranteedRef { pool in
                        // check_terminal: a knode for another input device does not match.
                        let dev = fb[fi].indev
                        if dev != 0 && dev != pool.metas[Int(index)].ifindex { return nil }
                        let v = Self.execute(fb.baseAddress! + fi, &index, &pf, pool: pool, now: now, mayModify: mayModify)
                        return v == .continue_ ? nil : v
                    }
                }
                guard case .verdict(let v, let fi) = out else { i = max(end, i + 1); continue }
                verdict = v
                fp = fb.baseAddress! + fi
                if verdict == .continue_ { i = max(end, i + 1); continue }
            } else if case .bpf = fp.pointee.match {
                // cls_bpf_classify: the program on the frame from its MAC header.
                let m = pool.metas + Int(index)
                let data = pool.base + Int(pool.dataOf[Int(index)]) * PacketPool.bufferSize + Int(m.pointee.dataOffset)
                let len = Int(m.pointee.length)
                guard len >= EthernetHeader.length, let prog = fp.pointee.bpf, !fp.pointee.dead else { i += 1; continue }
                if pf == nil { pf = ParsedFrame(data, len, m.pointee) }
                let proto = fp.pointee.proto
                if proto != 3 && proto != pf!.proto { i += 1; continue }
                let direct = fp.pointee.bpfDirect
                let r: UInt32 = fp.pointee.clsFlags & 2 != 0 ? (direct ? UInt32.max : 0)
                    : prog.run(data, len, m.pointee, pf!) { UInt32.random(in: 0...UInt32.max) }
                if direct {
                    // cls_bpf_exec_opcode: the program's return is the action; the filter's
                    // class is the result.
                    switch Int32(bitPattern: r) {
                    case 0: return fp.pointee.result ?? .ok
                    case 2, 7: return .drop            // SHOT; REDIRECT without a target
                    case 4, 8:                         // STOLEN, TRAP: consumed here
                        guard mayModify else { return .drop }
                        pool.free(Packet(index: index)); return .stolen
                    case 1:
                        restarts += 1
                        if restarts > 4 { return .drop }
                        chain = 0; i = 0; continue
                    default: i += 1; continue          // TC_ACT_UNSPEC and the rest: next filter
                    }
                }
                if r == 0 { i += 1; continue }
                if r != UInt32.max { computed = r }
                verdict = Self.execute(fp, &index, &pf, pool: pool, now: now, mayModify: mayModify)
            } else {
                let table = Int(fp.pointee.flowerTable)
                if table >= 0 && ft[table].isUsed {
                    // fl_mask_lookup: the walk is at the first filter of a mask (it enters an
                    // instance at its start and leaves a mask whole); the packet's fields under
                    // the mask are hashed, and only filters with that hash are tried. Their keys
                    // are unique under the mask: the first that matches is the only one.
                    guard let hit = flowerLookup(ft.baseAddress! + table, start: i, index, pool, &pf, fb: fb, kb: kb) else {
                        i += ft[table].count; continue
                    }
                    i = hit
                    fp = fb.baseAddress! + hit
                } else if fp.pointee.dead || !matches(fp, index, pool, &pf, kb) { i += 1; continue }
                if let fl = fp.pointee.flow, let pfv = pf {
                    let m = pool.metas + Int(index)
                    let data = pool.base + Int(pool.dataOf[Int(index)]) * PacketPool.bufferSize + Int(m.pointee.dataOffset)
                    computed = fl.classid(data, Int(m.pointee.length), m.pointee, pfv, now: now)
                }
                verdict = Self.execute(fp, &index, &pf, pool: pool, now: now, mayModify: mayModify)
            }
            switch verdict {
            case .ok, .pipe, .jump:                                      // (execute resolves jumps)
                if let c = computed { return .classid(TcHandle(raw: c)) }
                return fp.pointee.result ?? .ok
            case .shot: return .drop
            case .stolen: return .stolen
            case .trap:
                // Consumed: freed here, reported as taken (not counted as a drop).
                guard mayModify else { return .drop }
                pool.free(Packet(index: index)); return .stolen
            case .continue_:
                i += 1
                // fl_classify returns its first match's verdict: TC_ACT_UNSPEC goes on to the
                // next instance, not to the instance's next filter (cls_basic's does).
                if case .flower = fp.pointee.match {
                    let c = fp.pointee.chain, p = fp.pointee.prio
                    while i < n && fb[i].chain == c && fb[i].prio == p { i += 1 }
                }
            case .reclassify:
                restarts += 1
                if restarts > 4 { return .drop }     // as the kernel's reclassify loop limit
                chain = 0; i = 0
            case .gotoChain(let c):
                restarts += 1
                if restarts > 32 { return .drop }
                chain = c
                i = 0
                while i < n && fb[i].chain != c { i += 1 }
            }
        }
        return nil
    }

    /// The filter under the mask whose first filter is at `start` that the packet matches,
    /// found through the mask's hash table; nil when none does.
    @inline(__always)
    func flowerLookup(_ tp: UnsafePointer<FlowerMaskTable>, start: Int, _ idx: UInt32, _ pool: PacketPool, _ pf: inout ParsedFrame?,
                      fb: UnsafeBufferPointer<TcFilter>, kb: UnsafeBufferPointer<U32Key>) -> Int? {
        guard case .flower(let k) = fb[start].match else { return nil }
        let m = pool.metas + Int(idx)
        let len = Int(m.pointee.length)
        guard len >= EthernetHeader.length else { return nil }
        let data = pool.base + Int(pool.dataOf[Int(idx)]) * PacketPool.bufferSize + Int(m.pointee.dataOffset)
        if pf == nil { pf = ParsedFrame(data, len, m.pointee) }
        guard let h = k.packetHash(data, len, pf!) else { return nil }
        // The slots are read in place (the block holds them for the call).
        let slots = tp.pointee.slots.withUnsafeBufferPointer { $0 }
        let mask = slots.count - 1
        var j = Int(truncatingIfNeeded: h) & mask
        while slots[j] != 0 {
            if let off = FlowerMaskTable.offset(slots[j], ifHash: h), !fb[start + off].dead, matches(fb.baseAddress! + start + off, idx, pool, &pf, kb) {
                return start + off
            }
            j = (j + 1) & mask
        }
        return nil
    }

    static func parse(_ idx: UInt32, _ pool: PacketPool) -> ParsedFrame {
        let m = pool.metas[Int(idx)]
        return ParsedFrame(pool.base + Int(pool.dataOf[Int(idx)]) * PacketPool.bufferSize + Int(m.dataOffset), Int(m.length), m)
    }

    static func editsFrame(_ a: TcAction) -> Bool {
        switch a {
        case .vlanPush, .vlanPop, .vlanModify, .csum, .nat, .skbmod, .pedit, .mpls, .ife, .ct, .ctinfo: return true
        default: return false
        }
    }

    @inline(__always)
    func matches(_ fp: UnsafePointer<TcFilter>, _ idx: UInt32, _ pool: PacketPool, _ pfCache: inout ParsedFrame?,
                 _ kb: UnsafeBufferPointer<U32Key>) -> Bool {
        let proto = fp.pointee.proto
        let m = pool.metas + Int(idx)
        if proto == 3 {
            switch fp.pointee.match {
            case .all: return true
            case .fw(let mark, let mask): return m.pointee.mark & mask == mark && (fp.pointee.indev == 0 || fp.pointee.indev == m.pointee.ifindex)
            default: break
            }
        }
        let data = pool.base + Int(pool.dataOf[Int(idx)]) * PacketPool.bufferSize + Int(m.pointee.dataOffset)
        let len = Int(m.pointee.length)
        guard len >= EthernetHeader.length else { return false }
        if pfCache == nil { pfCache = ParsedFrame(data, len, m.pointee) }
        let pf = pfCache!
        if proto != 3 && proto != pf.proto { return false }
        switch fp.pointee.match {
        case .all: return true
        case .fw(let mark, let mask): return m.pointee.mark & mask == mark && (fp.pointee.indev == 0 || fp.pointee.indev == m.pointee.ifindex)
        case .basic, .flow:
            guard let ops = fp.pointee.emOps, let bytes = fp.pointee.emBytes else { return true }
            return EmatchProgram.matches(ops, fp.pointee.emCount, bytes, data, len, m.pointee, pf)
        case .cgroup: return false       // no socket, no net_cls class id (cls_cgroup_classify)
        case .route(let to, let from, let iif):
            // route4_classify: no dst (not routed), no match.
            guard m.pointee.tcFlags & PacketMeta.routed != 0 else { return false }
            return RouteFilter.matches(to: to, from: from, iif: iif, id: m.pointee.routeClassid, inIf: m.pointee.ifindex)
        case .bpf: return false          // run by runFilters (cls_bpf_classify)
        case .u32: return false          // only in blocks as ranges
        case .u32Range: return false     // walked whole by u32Walk (U32.swift)
        case .flower(let k):
            if fp.pointee.indev != 0 && fp.pointee.indev != m.pointee.ifindex { return false }
            if k.hasEncKeys {
                guard m.pointee.tcFlags & PacketMeta.hasTunnel != 0 else { return false }
                let t = pool.tunnels[Int(idx)]
                if let v = k.encKeyID, t.flags & TunnelInfo.key == 0 || t.id != v { return false }
                if let (v, msk) = k.encSrcIP, t.src & msk != v & msk { return false }
                if let (v, msk) = k.encDstIP, t.dst & msk != v & msk { return false }
                if let v = k.encDstPort, t.port != v { return false }
                if let (v, msk) = k.encTos, t.tos & msk != v & msk { return false }
                if let (v, msk) = k.encTTL, t.ttl & msk != v & msk { return false }
            }
            if k.hasCTKeys {
                let c = CTAction.flowKey(pool, m.pointee)
                if let (v, msk) = k.ctState, c.state & msk != v & msk { return false }
                if let (v, msk) = k.ctZone, c.zone & msk != v & msk { return false }
                if let (v, msk) = k.ctMark, c.mark & msk != v & msk { return false }
                if let (hi, lo, mh, ml) = k.ctLabels, c.labelHi & mh != hi & mh || c.labelLo & ml != lo & ml { return false }
            }
            if let (v, msk) = k.dstMAC, MACAddress(at: data).raw & msk != v & msk { return false }
            if let (v, msk) = k.srcMAC, MACAddress(at: data + 6).raw & msk != v & msk { return false }
            if let vid = k.vlanID, pf.vlanID != vid { return false }
            if let vp = k.vlanPrio, pf.vlanID == nil || pf.vlanPrio != vp { return false }
            if let t = k.ethType, pf.proto != t { return false }
            if let ip = k.ipProto, pf.ipProto != ip { return false }
            if pf.proto == EtherType.ipv4 && len >= pf.l3 + 20 {
                let src = UInt32(bigEndian: data.loadUnaligned(fromByteOffset: pf.l3 + 12, as: UInt32.self))
                let dst = UInt32(bigEndian: data.loadUnaligned(fromByteOffset: pf.l3 + 16, as: UInt32.self))
                if let (v, msk) = k.srcIP, src & msk != v & msk { return false }
                if let (v, msk) = k.dstIP, dst & msk != v & msk { return false }
                if let (v, msk) = k.tos, data.load(fromByteOffset: pf.l3 + 1, as: UInt8.self) & msk != v & msk { return false }
                if k.srcIP6 != nil || k.dstIP6 != nil { return false }
            } else if pf.proto == EtherType.ipv6 && len >= pf.l3 + 40 {
                if k.srcIP != nil || k.dstIP != nil { return false }
                if let p6 = k.srcIP6, !p6.matches(data + pf.l3 + 8) { return false }
                if let p6 = k.dstIP6, !p6.matches(data + pf.l3 + 24) { return false }
                if let (v, msk) = k.tos {
                    let tc = UInt8(truncatingIfNeeded: UInt16(bigEndian: data.loadUnaligned(fromByteOffset: pf.l3, as: UInt16.self)) >> 4)
                    if tc & msk != v & msk { return false }
                }
            } else if k.srcIP != nil || k.dstIP != nil || k.srcIP6 != nil || k.dstIP6 != nil || k.tos != nil {
                return false
            }
            if k.srcPort != nil || k.dstPort != nil {
                guard pf.l4 >= 0, pf.l4 + 4 <= len, pf.ipProto == IPProto.tcp || pf.ipProto == IPProto.udp else { return false }
                let sp = UInt16(bigEndian: data.loadUnaligned(fromByteOffset: pf.l4, as: UInt16.self))
                let dp = UInt16(bigEndian: data.loadUnaligned(fromByteOffset: pf.l4 + 2, as: UInt16.self))
                if let r = k.srcPort, !r.contains(sp) { return false }
                if let r = k.dstPort, !r.contains(dp) { return false }
            }
            return true
        }
    }

    /// tcf_police_act on the packet: its length (a GSO frame's largest segment against the MTU).
    @inline(__always)
    static func police(_ p: Policer, _ idx: UInt32, pool: PacketPool, now: UInt64, counters: UnsafeMutablePointer<ActionCounters>?) -> ActVerdict {
        let m = pool.metas[Int(idx)]
        let seg = m.gsoSize > 0 && !m.gsoType.isEmpty ? Int(m.hdrLen) + Int(m.gsoSize) : 0
        let before = p.exceeded
        let v = p.police(Int(m.pktLen == 0 ? m.length : m.pktLen), segLen: seg, now: now)
        if p.exceeded != before, let c = counters { c.pointee.overlimits &+= 1 }
        return v
    }

    /// tcf_mirred_act: skb_iif is the device the action runs on; a redirect is marked as such
    /// and with where it ran (skb_set_redirected), which ifb uses.
    @inline(__always)
    static func mirred(_ t: MirredTarget, egress: Bool, redirect: Bool, then: ActVerdict, _ idx: UInt32, pool: PacketPool, mayModify: Bool) -> ActVerdict {
        guard mayModify else { return .ok }
        let fl = pool.metas[Int(idx)].tcFlags
        let ingress = fl & PacketMeta.atIngress != 0
        if ingress { pool.metas[Int(idx)].redirIif = pool.metas[Int(idx)].ifindex }
        if redirect {
            pool.metas[Int(idx)].tcFlags = (fl & ~PacketMeta.fromIngress) | PacketMeta.redirected | (ingress ? PacketMeta.fromIngress : 0)
            t.dp._withUnsafeGuaranteedRef { $0.divert(Packet(index: idx), to: t.ifindex, egress: egress) }
            return .stolen
        }
        if let c = pool.clone(Packet(index: idx)) {
            let ci = c.index
            _ = consume c
            t.dp._withUnsafeGuaranteedRef { $0.divert(Packet(index: ci), to: t.ifindex, egress: egress) }
        }
        return then
    }

    /// tcf_pedit_act: the keys applied to a writable copy of the frame.
    @inline(__always)
    static func pedit(_ p: PeditParams, _ then: ActVerdict, _ idx: inout UInt32, pool: PacketPool, mayModify: Bool,
                      counters: UnsafeMutablePointer<ActionCounters>?) -> ActVerdict {
        guard mayModify else { return .ok }
        guard let w = pool.writableIndex(idx) else { return then }
        idx = w
        let m = pool.metas[Int(w)]
        let d = pool.data(Packet(index: w))
        let ok = p.keys.withUnsafeBufferPointer { HeaderEdit.pedit(d, Int(m.length), $0) }
        if !ok, let c = counters { c.pointee.overlimits &+= 1 }
        return then
    }

    /// Runs one action.
    static func act(_ a: TcAction, _ idx: inout UInt32, pool: PacketPool, now: UInt64, mayModify: Bool,
                    counters: UnsafeMutablePointer<ActionCounters>? = nil) -> ActVerdict {
        switch a {
        case .gact(let v): return v
        case .gactRandom(let v, let ptype, let pval, let p):
            // gact_determ / gact_net_rand: the other verdict once in `pval` packets.
            guard pval != 0, let c = counters, mayModify else { return v }
            if ptype == 2 {
                c.pointee.seen &+= 1
                return c.pointee.seen % UInt64(pval) == 0 ? p : v
            }
            var x = c.pointee.random
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            c.pointee.random = x
            return x % UInt64(pval) == 0 ? p : v
        case .police(let p):
            return police(p, idx, pool: pool, now: now, counters: counters)
        case .skbedit(let k, let then):
            // tcf_skbedit_act: the DS field's class selector as priority, then priority,
            // packet type, queue and mark as asked.
            if k.inheritDS {
                if let ds = HeaderEdit.dsfield(pool.data(Packet(index: idx)), Int(pool.metas[Int(idx)].length)) {
                    pool.metas[Int(idx)].priority = UInt32(ds >> 2)
                }
            }
            if let pr = k.priority { pool.metas[Int(idx)].priority = pr }
            if let t = k.ptype { pool.metas[Int(idx)].pktType = 0x80 | UInt8(t) }
            if let q = k.queue { pool.metas[Int(idx)].queueMapping = q }
            if let v = k.mark { let m = k.mask ?? 0xFFFF_FFFF; pool.metas[Int(idx)].mark = (pool.metas[Int(idx)].mark & ~m) | (v & m) }
            return then
        case .mirred(let egress, let redirect, let t, let then):
            return mirred(t, egress: egress, redirect: redirect, then: then, idx, pool: pool, mayModify: mayModify)
        case .vlanPush(let vid, let prio, let proto, let then):
            guard mayModify, let w = pool.writableIndex(idx) else { return mayModify ? .shot : .ok }
            idx = w
            return VLANEdit.push(pool, w, tci: UInt16(prio) << 13 | vid, proto: proto) ? then : .shot
        case .vlanPop(let then):
            guard mayModify, let w = pool.writableIndex(idx) else { return mayModify ? .shot : .ok }
            idx = w
            _ = VLANEdit.pop(pool, w)
            return then
        case .vlanModify(let vid, let prio, let proto, let then):
            guard mayModify, let w = pool.writableIndex(idx) else { return mayModify ? .shot : .ok }
            idx = w
            VLANEdit.modify(pool, w, vid: vid, prio: prio, proto: proto)
            return then
        case .csum(let flags, let then):
            guard mayModify else { return .ok }
            if then == .shot { return .shot }
            guard let w = pool.writableIndex(idx) else { return .shot }
            idx = w
            let m = pool.metas[Int(w)]
            let d = pool.data(Packet(index: w))
            let gso = m.gsoType
            switch HeaderEdit.csum(d, Int(m.length), flags: HeaderEdit.CsumFlags(rawValue: flags),
                                   gsoTCP: gso.contains(.tcpv4) || gso.contains(.tcpv6), gsoUDP: gso.contains(.udpL4)) {
            case .drop: return .shot
            case .rewritten: pool.metas[Int(w)].csum = .none
            case .untouched: break
            }
            return then
        case .nat(let old, let new, let mask, let egress, let then):
            guard mayModify else { return .ok }
            if then == .shot { return .shot }
            guard let w = pool.writableIndex(idx) else { return .shot }
            idx = w
            let m = pool.metas[Int(w)]
            let d = pool.data(Packet(index: w))
            return HeaderEdit.nat(d, Int(m.length), old: old, new: new, mask: mask, egress: egress, partial: m.csum == .partial) ? then : .shot
        case .mpls(let p, let then):
            guard mayModify else { return .ok }
            guard let w = pool.writableIndex(idx) else { return .shot }
            idx = w
            // Super-frames would need MPLS GSO, which Sluice's software GSO does not do.
            if !pool.metas[Int(w)].gsoType.isEmpty && (p.op == MPLSParams.push || p.op == MPLSParams.macPush) {
                if let c = counters { c.pointee.drops &+= 1 }
                return .shot
            }
            let ok: Bool
            switch p.op {
            case MPLSParams.pop: ok = MPLSEdit.pop(pool, w, next: p.proto)
            case MPLSParams.push:
                let isMPLS = MPLSEdit.network(pool, w).map { MPLSEdit.isMPLS($0.proto) } ?? false
                ok = MPLSEdit.push(pool, w, lse: p.lse(0, setBos: !isMPLS), proto: p.proto, atMAC: false)
            case MPLSParams.macPush:
                ok = VLANEdit.pushMetadataTag(pool, w) && MPLSEdit.push(pool, w, lse: p.lse(0, setBos: true), proto: p.proto, atMAC: true)
            case MPLSParams.modify:
                ok = MPLSEdit.top(pool, w).map { MPLSEdit.update(pool, w, lse: p.lse($0, setBos: false)) } ?? false
            default: ok = MPLSEdit.decTTL(pool, w)
            }
            return ok ? then : .shot
        case .gate(let p, let then):
            // tcf_gate_act with the schedule computed from the time instead of a timer: before
            // the start the gate is pending (everything passes); then entry k of the repeating
            // list decides — closed drops, open passes within its max octets per interval.
            guard mayModify, p.count > 0, p.period > 0 else { return then }
            let t = UInt64(Int64(bitPattern: now) &+ p.offset)
            guard t >= p.start else { return then }
            let since = t - p.start
            var pos = since % p.period
            var k = 0
            while k < p.count - 1 && pos >= UInt64(p.entries[k].interval) { pos -= UInt64(p.entries[k].interval); k += 1 }
            let e = p.entries[k]
            guard e.open else { if let c = counters { c.pointee.drops &+= 1 }; return .shot }
            if e.maxOctets >= 0, let c = counters {
                let window = (since / p.period) &* UInt64(p.count) &+ UInt64(k) &+ 1
                if c.pointee.gateWindow != window { c.pointee.gateWindow = window; c.pointee.gateOctets = 0 }
                c.pointee.gateOctets &+= Int64(pool.metas[Int(idx)].pktLen == 0 ? pool.metas[Int(idx)].length : pool.metas[Int(idx)].pktLen)
                if c.pointee.gateOctets > Int64(e.maxOctets) { c.pointee.overlimits &+= 1; c.pointee.drops &+= 1; return .shot }
            }
            return then
        case .ife(let p, let then):
            guard mayModify else { return .ok }
            guard let w = pool.writableIndex(idx) else { return .shot }
            idx = w
            if p.encode {
                // tcf_ife_encode: each metadatum present (configured or the packet's, non-zero)
                // as a TLV; none at all: the frame goes as it is, counted as an overlimit.
                let m = pool.metas[Int(w)]
                return withUnsafeTemporaryAllocation(of: (UInt16, UInt32, Bool).self, capacity: 3) { buf -> ActVerdict in
                    var n = 0
                    var order = p.order
                    while order != 0 {
                        let id = UInt16(order & 0xFF)
                        order >>= 8
                        let v: UInt32, short: Bool
                        switch id {
                        case IFEParams.mark: v = p.mark == 2 ? p.markValue : m.mark; short = false
                        case IFEParams.prio: v = p.prio == 2 ? p.prioValue : m.priority; short = false
                        default: v = p.tcindex == 2 ? UInt32(p.tcindexValue) : UInt32(m.tcIndex); short = true
                        }
                        if v != 0 { buf[n] = (id, v, short); n += 1 }
                    }
                    if n == 0 { if let c = counters { c.pointee.overlimits &+= 1 }; return then }
                    if then == .shot { return .shot }
                    return IFEWire.encode(pool, w, tlvs: UnsafeBufferPointer(rebasing: buf[0..<n]), metalen: 8 * n, type: p.type, dst: p.dst, src: p.src) ? then : .shot
                }
            }
            // tcf_ife_decode: the metadata the action allows are applied; others counted.
            let r = IFEWire.decode(pool, w) { t, v, dlen in
                switch t {
                case IFEParams.mark where p.mark != 0 && dlen >= 4: pool.metas[Int(w)].mark = v; return true
                case IFEParams.prio where p.prio != 0 && dlen >= 4: pool.metas[Int(w)].priority = v; return true
                case IFEParams.tcindex where p.tcindex != 0 && dlen >= 2: pool.metas[Int(w)].tcIndex = UInt16(truncatingIfNeeded: v); return true
                default: return false
                }
            }
            if r.unknown > 0, let c = counters { c.pointee.overlimits &+= UInt64(r.unknown) }
            return r.ok ? then : .shot
        case .sample(let sp, let then):
            // tcf_sample_act: one in `rate` at random (get_random_u32_below(rate) == 0). Sluice
            // has no psample family to hand the copy to, so a sample is counted (`seen`).
            guard let c = counters else { return then }
            var x = c.pointee.random
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            c.pointee.random = x
            if x % UInt64(sp.rate) == 0 { c.pointee.seen &+= 1 }
            return then
        case .ct(let p, let then):
            guard mayModify else { return then }
            return CTAction.ct(p, &idx, pool: pool, now: now) ? then : .shot
        case .connmark(let zone, let then):
            if mayModify { CTAction.connmark(zone: zone, idx, pool: pool, now: now, counters: counters) }
            return then
        case .ctinfo(let p, let then):
            if mayModify { CTAction.ctinfo(p, &idx, pool: pool, now: now, counters: counters) }
            return then
        case .simple(let tag, let then):
            if mayModify { SimpleData.hit(tag, packets: counters.map { $0.pointee.packets &+ 1 } ?? 0, now: now) }
            return then
        case .tunnelKey(let info, let then):
            // tunnel_key_act: the metadata dst set or released.
            guard mayModify else { return then }
            if let t = info {
                pool.tunnels[Int(idx)] = t
                pool.metas[Int(idx)].tcFlags |= PacketMeta.hasTunnel
            } else {
                pool.metas[Int(idx)].tcFlags &= ~PacketMeta.hasTunnel
            }
            return then
        case .bpf(let prog, let then):
            // tcf_bpf_act: the program's return as the verdict.
            let m = pool.metas + Int(idx)
            let data = pool.base + Int(pool.dataOf[Int(idx)]) * PacketPool.bufferSize + Int(m.pointee.dataOffset)
            let len = Int(m.pointee.length)
            guard len >= EthernetHeader.length else { return .continue_ }
            let r = prog.run(data, len, m.pointee, ParsedFrame(data, len, m.pointee)) { UInt32.random(in: 0...UInt32.max) }
            switch Int32(bitPattern: r) {
            case 3: return .pipe
            case 1: return .reclassify
            case 0: return .ok
            case 2, 7: return .shot               // SHOT (counted as the action's drop); REDIRECT names no target
            case -1: return then
            default: return .continue_
            }
        case .pedit(let p, let then):
            return pedit(p, then, &idx, pool: pool, mayModify: mayModify, counters: counters)
        case .skbmod(let p, let then):
            guard mayModify else { return .ok }
            guard let w = pool.writableIndex(idx) else { return .shot }
            idx = w
            if p.ecn {
                _ = ECN.setCE(pool, w)
                return then
            }
            let m = pool.metas[Int(w)]
            let d = pool.data(Packet(index: w))
            HeaderEdit.skbmod(d, Int(m.length), dmac: p.dmac, smac: p.smac, etype: p.etype, swap: p.swap)
            return then
        }
    }
}
