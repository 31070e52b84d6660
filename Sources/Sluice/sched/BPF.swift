/// Classic BPF (struct sock_filter programs) for cls_bpf and act_bpf, as the kernel checks
/// and runs them (net/core/filter.c: bpf_check_classic, check_load_and_stores, the classic
/// to eBPF conversion's semantics):
///
/// - Checked once, when configured: 1…4096 instructions of the allowed opcodes, jumps forward
///   and inside the program, no division by a constant 0 or shift by 32 or more, scratch
///   memory (16 words) read only after a store on every path, only known ancillary loads
///   (SKF_AD_OFF + n), and a `ret` last. The kernel answers EINVAL otherwise.
/// - Run per packet with A, X and the scratch words in registers and a local array: loads are
///   big-endian and bounds-checked (a load outside the frame ends the program with 0, as the
///   kernel's does), a division or modulo by X = 0 returns 0, shifts by X take its low 5 bits.
///
/// The frame is seen as tc's programs see it: from the MAC header, with a VLAN tag that the
/// kernel would hold out of band (skb_vlan_untag on receive, TX VLAN offload on send) taken
/// out of the view, so offset 12 is the EtherType after the tag and `len` excludes the tag.
struct SockFilter: Equatable {
    var code: UInt16, jt: UInt8, jf: UInt8, k: UInt32
}

struct BPFProgram {
    /// The instructions, in memory owned by the program for as long as a filter or action
    /// holds it (configuration-time allocation; the packet path reads them through a pointer).
    let insns: UnsafePointer<SockFilter>
    let count: Int

    static let maxInsns = 4096, memWords = 16
    static let adOff: UInt32 = 0xFFFF_F000          // SKF_AD_OFF (−0x1000)
    static let netOff: UInt32 = 0xFFF0_0000         // SKF_NET_OFF (−0x100000)
    static let llOff: UInt32 = 0xFFE0_0000          // SKF_LL_OFF (−0x200000)

    var ops: [SockFilter] { Array(UnsafeBufferPointer(start: insns, count: count)) }

    /// tc's text (`bytecode 'N,code jt jf k,…'`, bpf_print_ops).
    var bytecode: String {
        "\(count)," + ops.map { "\($0.code) \($0.jt) \($0.jf) \($0.k)" }.joined(separator: ",")
    }

    /// struct sock_filter array as TCA_BPF_OPS carries it.
    var wire: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count * 8)
        for o in ops {
            out += [UInt8(o.code & 0xFF), UInt8(o.code >> 8), o.jt, o.jf]
            out += [UInt8(o.k & 0xFF), UInt8((o.k >> 8) & 0xFF), UInt8((o.k >> 16) & 0xFF), UInt8(o.k >> 24)]
        }
        return out
    }

    static func decode(wire: ArraySlice<UInt8>, count: Int) -> [SockFilter]? {
        guard wire.count == count * 8 else { return nil }
        return (0..<count).map { i in
            let b = wire.startIndex + i * 8
            return SockFilter(code: UInt16(wire[b]) | UInt16(wire[b + 1]) << 8, jt: wire[b + 2], jf: wire[b + 3],
                              k: UInt32(wire[b + 4]) | UInt32(wire[b + 5]) << 8 | UInt32(wire[b + 6]) << 16 | UInt32(wire[b + 7]) << 24)
        }
    }

    /// bpf_parse_string (tc's lib/bpf_legacy.c): "N,code jt jf k,code jt jf k,…", the count
    /// first and equal to the instructions given; from a file, line ends count as commas (so
    /// `tcpdump -ddd` output reads as it is).
    static func parse(bytecode s: String) throws(SluiceError) -> [SockFilter] {
        let flat = String(s.filter { $0 != "\r" }.map { $0 == "\n" ? "," : $0 })
        let parts = flat.split(separator: ",").map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ") }.filter { !$0.isEmpty }
        guard let n = parts.first.flatMap({ Int($0) }), n > 0, n <= maxInsns else { throw SluiceError("Error: bpf: bytecode must start with the instruction count (1…\(maxInsns))") }
        guard parts.count - 1 == n else { throw SluiceError("Error: bpf: bytecode holds \(parts.count - 1) instructions, not \(n)") }
        var out: [SockFilter] = []
        for p in parts.dropFirst() {
            let f = p.split(separator: " ")
            guard f.count == 4, let c = UInt16(f[0]), let jt = UInt8(f[1]), let jf = UInt8(f[2]), let k = UInt32(f[3]) else {
                throw SluiceError("Error: bpf: bad instruction \"\(p)\" (code jt jf k)")
            }
            out.append(SockFilter(code: c, jt: jt, jf: jf, k: k))
        }
        return out
    }

    // Opcode fields.
    static let LD: UInt16 = 0x00, LDX: UInt16 = 0x01, ST: UInt16 = 0x02, STX: UInt16 = 0x03, ALU: UInt16 = 0x04, JMP: UInt16 = 0x05, RET: UInt16 = 0x06, MISC: UInt16 = 0x07
    static let W: UInt16 = 0x00, H: UInt16 = 0x08, B: UInt16 = 0x10
    static let IMM: UInt16 = 0x00, ABS: UInt16 = 0x20, IND: UInt16 = 0x40, MEM: UInt16 = 0x60, LEN: UInt16 = 0x80, MSH: UInt16 = 0xa0
    static let ADD: UInt16 = 0x00, SUB: UInt16 = 0x10, MUL: UInt16 = 0x20, DIV: UInt16 = 0x30, OR: UInt16 = 0x40, AND: UInt16 = 0x50
    static let LSH: UInt16 = 0x60, RSH: UInt16 = 0x70, NEG: UInt16 = 0x80, MOD: UInt16 = 0x90, XOR: UInt16 = 0xa0
    static let JA: UInt16 = 0x00, JEQ: UInt16 = 0x10, JGT: UInt16 = 0x20, JGE: UInt16 = 0x30, JSET: UInt16 = 0x40
    static let K: UInt16 = 0x00, X: UInt16 = 0x08, A: UInt16 = 0x10
    static let TAX: UInt16 = 0x00, TXA: UInt16 = 0x80

    /// chk_code_allowed's table.
    static let allowed: Set<UInt16> = {
        var s: Set<UInt16> = []
        for op in [ADD, SUB, MUL, DIV, MOD, AND, OR, XOR, LSH, RSH] { s.insert(ALU | op | K); s.insert(ALU | op | X) }
        s.insert(ALU | NEG)
        for sz in [W, H, B] { s.insert(LD | sz | ABS); s.insert(LD | sz | IND) }
        s.formUnion([LD | W | LEN, LD | IMM, LD | MEM, LDX | W | LEN, LDX | B | MSH, LDX | IMM, LDX | MEM, ST, STX,
                      MISC | TAX, MISC | TXA, RET | K, RET | A, JMP | JA])
        for j in [JEQ, JGT, JGE, JSET] { s.insert(JMP | j | K); s.insert(JMP | j | X) }
        return s
    }()

    /// The ancillary loads bpf_anc_helper knows (SKF_AD_*).
    static let ancillary: Set<UInt32> = [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60]

    /// bpf_check_classic + check_load_and_stores, then the program in its own memory.
    static func compile(_ f: [SockFilter]) throws(SluiceError) -> BPFProgram {
        let n = f.count
        guard n > 0, n <= maxInsns else { throw SluiceError("Error: bpf: a program has 1 to \(maxInsns) instructions") }
        for (pc, i) in f.enumerated() {
            guard allowed.contains(i.code) else { throw SluiceError("Error: bpf: instruction \(pc): opcode \(i.code) is not classic BPF") }
            switch i.code {
            case ALU | DIV | K, ALU | MOD | K:
                guard i.k != 0 else { throw SluiceError("Error: bpf: instruction \(pc): division by zero") }
            case ALU | LSH | K, ALU | RSH | K:
                guard i.k < 32 else { throw SluiceError("Error: bpf: instruction \(pc): shift by \(i.k)") }
            case LD | MEM, LDX | MEM, ST, STX:
                guard i.k < UInt32(memWords) else { throw SluiceError("Error: bpf: instruction \(pc): scratch word \(i.k) of \(memWords)") }
            case JMP | JA:
                guard i.k < UInt32(n - pc - 1) else { throw SluiceError("Error: bpf: instruction \(pc): jump past the end") }
            case JMP | JEQ | K, JMP | JEQ | X, JMP | JGT | K, JMP | JGT | X, JMP | JGE | K, JMP | JGE | X, JMP | JSET | K, JMP | JSET | X:
                guard pc + Int(i.jt) + 1 < n, pc + Int(i.jf) + 1 < n else { throw SluiceError("Error: bpf: instruction \(pc): jump past the end") }
            case LD | W | ABS, LD | H | ABS, LD | B | ABS:
                if i.k >= adOff && !ancillary.contains(i.k &- adOff) { throw SluiceError("Error: bpf: instruction \(pc): unknown ancillary load") }
            default: break
            }
        }
        guard f[n - 1].code == RET | K || f[n - 1].code == RET | A else { throw SluiceError("Error: bpf: the last instruction must be a return") }
        // check_load_and_stores: a scratch word is read only where every path stored it.
        var masks = [UInt16](repeating: 0xFFFF, count: n)
        var valid: UInt16 = 0
        for pc in 0..<n {
            valid &= masks[pc]
            let i = f[pc]
            switch i.code {
            case ST, STX: valid |= 1 << UInt16(i.k)
            case LD | MEM, LDX | MEM:
                guard valid & (1 << UInt16(i.k)) != 0 else { throw SluiceError("Error: bpf: instruction \(pc): scratch word \(i.k) read before it is stored") }
            case JMP | JA: masks[pc + 1 + Int(i.k)] &= valid; valid = 0xFFFF
            case JMP | JEQ | K, JMP | JEQ | X, JMP | JGT | K, JMP | JGT | X, JMP | JGE | K, JMP | JGE | X, JMP | JSET | K, JMP | JSET | X:
                masks[pc + 1 + Int(i.jt)] &= valid; masks[pc + 1 + Int(i.jf)] &= valid; valid = 0xFFFF
            default: break
            }
        }
        let p = UnsafeMutablePointer<SockFilter>.allocate(capacity: n)
        p.initialize(from: f, count: n)
        return BPFProgram(insns: UnsafePointer(p), count: n)
    }

    /// Runs the program on a frame (`d`, `len` from the MAC header) and its metadata.
    func run(_ d: UnsafeRawPointer, _ len: Int, _ m: PacketMeta, _ pf: ParsedFrame, random: () -> UInt32) -> UInt32 {
        // The kernel's view: an in-band 802.1Q/802.1ad tag is out of band there.
        let tagged = !m.vlanPresent && pf.vlanID != nil && pf.l3 == 18
        let vlen = tagged ? len - 4 : len
        let l3 = tagged ? 14 : pf.l3
        @inline(__always) func byte(_ i: Int) -> UInt32 { UInt32(d.load(fromByteOffset: tagged && i >= 12 ? i + 4 : i, as: UInt8.self)) }
        /// A big-endian load of `size` bytes at view offset `off`, or nil outside the frame.
        @inline(__always) func load(_ off: Int, _ size: Int) -> UInt32? {
            guard off >= 0, off <= vlen - size else { return nil }
            var v: UInt32 = 0
            for k in 0..<size { v = v << 8 | byte(off + k) }
            return v
        }
        /// A load at k (+ X for IND): the frame, the network or link-layer relative areas.
        @inline(__always) func packet(_ k: UInt32, _ size: Int) -> UInt32? {
            if k >= BPFProgram.llOff {
                if k >= BPFProgram.netOff { return load(Int(k &- BPFProgram.netOff) + l3, size) }
                return load(Int(k &- BPFProgram.llOff), size)
            }
            return load(Int(k), size)
        }
        var a: UInt32 = 0, x: UInt32 = 0
        return withUnsafeTemporaryAllocation(of: UInt32.self, capacity: BPFProgram.memWords) { mem -> UInt32 in
            var pc = 0
            while pc < count {
                let i = insns[pc]
                pc += 1
                switch i.code {
                case BPFProgram.LD | BPFProgram.W | BPFProgram.ABS, BPFProgram.LD | BPFProgram.H | BPFProgram.ABS, BPFProgram.LD | BPFProgram.B | BPFProgram.ABS:
                    if i.k >= BPFProgram.adOff {
                        a = ancillary(i.k &- BPFProgram.adOff, a: a, x: x, d: d, len: len, m: m, pf: pf, random: random)
                        continue
                    }
                    let size = i.code & 0x18 == BPFProgram.W ? 4 : i.code & 0x18 == BPFProgram.H ? 2 : 1
                    guard let v = packet(i.k, size) else { return 0 }
                    a = v
                case BPFProgram.LD | BPFProgram.W | BPFProgram.IND, BPFProgram.LD | BPFProgram.H | BPFProgram.IND, BPFProgram.LD | BPFProgram.B | BPFProgram.IND:
                    let size = i.code & 0x18 == BPFProgram.W ? 4 : i.code & 0x18 == BPFProgram.H ? 2 : 1
                    guard let v = packet(x &+ i.k, size) else { return 0 }
                    a = v
                case BPFProgram.LD | BPFProgram.W | BPFProgram.LEN: a = UInt32(vlen)
                case BPFProgram.LDX | BPFProgram.W | BPFProgram.LEN: x = UInt32(vlen)
                case BPFProgram.LD | BPFProgram.IMM: a = i.k
                case BPFProgram.LDX | BPFProgram.IMM: x = i.k
                case BPFProgram.LD | BPFProgram.MEM: a = mem[Int(i.k)]
                case BPFProgram.LDX | BPFProgram.MEM: x = mem[Int(i.k)]
                case BPFProgram.LDX | BPFProgram.B | BPFProgram.MSH:
                    guard let v = packet(i.k, 1) else { return 0 }
                    x = (v & 0x0F) << 2
                case BPFProgram.ST: mem[Int(i.k)] = a
                case BPFProgram.STX: mem[Int(i.k)] = x
                case BPFProgram.MISC | BPFProgram.TAX: x = a
                case BPFProgram.MISC | BPFProgram.TXA: a = x
                case BPFProgram.RET | BPFProgram.K: return i.k
                case BPFProgram.RET | BPFProgram.A: return a
                case BPFProgram.JMP | BPFProgram.JA: pc += Int(i.k)
                case BPFProgram.ALU | BPFProgram.NEG: a = 0 &- a
                default:
                    let cls = i.code & 0x07
                    let src = i.code & 0x08 == BPFProgram.X ? x : i.k
                    if cls == BPFProgram.JMP {
                        let taken: Bool
                        switch i.code & 0xF0 {
                        case BPFProgram.JEQ: taken = a == src
                        case BPFProgram.JGT: taken = a > src
                        case BPFProgram.JGE: taken = a >= src
                        default: taken = a & src != 0             // JSET
                        }
                        pc += Int(taken ? i.jt : i.jf)
                    } else {
                        switch i.code & 0xF0 {
                        case BPFProgram.ADD: a = a &+ src
                        case BPFProgram.SUB: a = a &- src
                        case BPFProgram.MUL: a = a &* src
                        case BPFProgram.DIV: if src == 0 { return 0 }; a = a / src
                        case BPFProgram.MOD: if src == 0 { return 0 }; a = a % src
                        case BPFProgram.OR: a = a | src
                        case BPFProgram.AND: a = a & src
                        case BPFProgram.XOR: a = a ^ src
                        case BPFProgram.LSH: a = a << (src & 31)
                        default: a = a >> (src & 31)              // RSH
                        }
                    }
                }
            }
            return 0
        }
    }

    /// The ancillary loads (convert_bpf_extensions): what the kernel reads from the skb.
    func ancillary(_ n: UInt32, a: UInt32, x: UInt32, d: UnsafeRawPointer, len: Int, m: PacketMeta, pf: ParsedFrame, random: () -> UInt32) -> UInt32 {
        let vlanTCI: UInt16? = m.vlanPresent ? m.vlanTCI : pf.vlanID.map { UInt16(pf.vlanPrio) << 13 | $0 }
        switch n {
        case 0: return UInt32(pf.proto)                                   // skb->protocol
        case 4:                                                           // skb->pkt_type
            if m.pktType & 0x80 != 0 { return UInt32(m.pktType & 0x7F) }
            guard len >= 6 else { return 0 }
            let b0 = d.load(as: UInt8.self)
            if b0 & 1 == 0 { return 0 }
            return (0..<6).allSatisfy({ d.load(fromByteOffset: $0, as: UInt8.self) == 0xFF }) ? 1 : 2
        case 8: return UInt32(bitPattern: m.ifindex)
        case 12, 16:                                                      // nla_find from A for type X
            guard len >= 4, a <= UInt32(len - 4) else { return 0 }
            var off = Int(a)
            while off + 4 <= len {
                let l = Int(UInt16(d.load(fromByteOffset: off, as: UInt8.self)) | UInt16(d.load(fromByteOffset: off + 1, as: UInt8.self)) << 8)
                let t = UInt32(UInt16(d.load(fromByteOffset: off + 2, as: UInt8.self)) | UInt16(d.load(fromByteOffset: off + 3, as: UInt8.self)) << 8) & 0x3FFF
                guard l >= 4, off + l <= len else { return 0 }
                if t == x { return UInt32(off) }
                off += (l + 3) & ~3
            }
            return 0
        case 20: return m.mark
        case 24: return UInt32(m.queueMapping)
        case 28: return 1                                                 // ARPHRD_ETHER
        case 32: return m.flowHash
        case 36: return 0                                                 // the worker's CPU
        case 40: return a ^ x
        case 44: return UInt32(vlanTCI ?? 0)
        case 48: return vlanTCI != nil ? 1 : 0
        case 52:                                                          // skb_get_poff
            guard pf.l4 >= 0 else { return 0 }
            switch pf.ipProto {
            case IPProto.tcp:
                guard pf.l4 + 13 <= len else { return 0 }
                return UInt32(pf.l4 + Int(d.load(fromByteOffset: pf.l4 + 12, as: UInt8.self) >> 4) * 4) - (m.vlanPresent || pf.l3 != 18 ? 0 : 4)
            case IPProto.udp, 1, 58: return UInt32(pf.l4 + 8) - (m.vlanPresent || pf.l3 != 18 ? 0 : 4)
            default: return UInt32(pf.l4) - (m.vlanPresent || pf.l3 != 18 ? 0 : 4)
            }
        case 56: return random()
        case 60: return vlanTCI != nil ? UInt32(m.vlanPresent ? m.vlanProto : (pf.l3 == 18 ? UInt16(bigEndian: d.loadUnaligned(fromByteOffset: 12, as: UInt16.self)) : 0)) : 0
        default: return 0
        }
    }
}
