#if canImport(Glibc)
import Glibc
#endif

/// tc's words for qdisc and class options (the OPTIONS of `tc qdisc add|change|replace … KIND`
/// and `tc class … KIND`), as q_*.c reads them, turned into the typed value each kind is
/// configured with — the same value the rtnetlink codec decodes TCA_OPTIONS into. The qdisc
/// then applies that value whole (its kernel change()); it holds packets and state, and no
/// parser. Unspecified options keep the qdisc's current values, as a `change` does.
enum QdiscGrammar {
    /// Reads `a` for `q`'s kind and applies the result.
    static func change(_ q: Qdisc, _ a: inout TcArgs) throws(SluiceError) {
        switch q {
        case let f as FifoQdisc: f.limit = try fifoLimit(f, &a)
        case let t as TBFQdisc: try t.configure(try tbf(t, &a))
        case let h as HTBQdisc: h.configure(try htb(h, &a))
        case let m as MultiqQdisc:
            // q_multiq.c takes no options.
            if let k = a.next() { throw SluiceError("Error: multiq: What is \"\(k)\"?") }
            m.tune()
        case let p as PrioQdisc:
            let (bands, map) = try prio(p, &a)
            try p.configure(bands: bands, priomap: map)
        case let f as FQCoDelQdisc: try f.configure(try fqCodel(f, &a))
        case let c as CoDelQdisc:
            var p = c.params, limit = c.limit
            try coDelOptions(&a, &p, limit: &limit, kind: "codel")
            c.configure(limit: limit, params: p)
        case let n as NetemQdisc: try n.configure(try netem(n, &a))
        case let s as SFQQdisc: try s.configure(try sfq(s, &a))
        case let r as REDQdisc: try r.configure(try red(r, &a))
        case let p as PIEQdisc: try p.configure(try pie(p, &a))
        case let f as FQPIEQdisc: try f.configure(try fqPie(f, &a))
        case let f as FQQdisc: try f.configure(try fq(f, &a))
        case let h as HFSCQdisc: h.defcls = try hfsc(h, &a)
        case let e as ETSQdisc: try e.configure(try ets(&a))
        case let c as ChokeQdisc: try c.configure(try choke(&a))
        case let g as GREDQdisc: try g.apply(try gred(&a))
        case let e as ETFQdisc:
            // q_etf.c: delta NANOS, clockid CLOCKID (required), offload, deadline_mode,
            // skip_sock_check — each once.
            var p = ETFQdisc.Params(delta: 0, clockid: -1, offload: false, deadlineMode: false, skipSockCheck: false)
            var seen: Set<String> = []
            while let k = a.next() {
                guard seen.insert(k).inserted else { throw SluiceError("Error: etf: duplicate \"\(k)\" specification") }
                switch k {
                case "offload": p.offload = true
                case "deadline_mode": p.deadlineMode = true
                case "skip_sock_check": p.skipSockCheck = true
                case "delta": p.delta = Int32(try a.int(for: k, Int(Int32.min)...Int(Int32.max)))
                case "clockid":
                    var v = try a.value(for: k).uppercased()
                    if v.hasPrefix("CLOCK_") { v.removeFirst(6) }
                    guard let id = ["REALTIME": Int32(0), "TAI": 11, "BOOTTIME": 7, "MONOTONIC": 1][v] else {
                        throw SluiceError("Error: etf: illegal value for \"clockid\": it must be a valid SYS-V id (i.e. CLOCK_TAI)")
                    }
                    p.clockid = id
                default: throw SluiceError("Error: etf: unknown option \"\(k)\" (delta, clockid, offload, deadline_mode, skip_sock_check)")
                }
            }
            guard p.clockid != -1 else { throw SluiceError("Error: etf: must set \"clockid\"") }
            try e.configure(p)
        case let s as SFBQdisc:
            // q_sfb.c: rehash MS, db MS, limit, max, target, increment, decrement (fractions),
            // penalty_rate, penalty_burst; tc's own defaults and max/target relation.
            var p = SFBQdisc.Params(max: 0, binSize: 0, increment: (0xFFFF + 1000) / 2000, decrement: (0xFFFF + 10000) / 20000)
            while let k = a.next() {
                switch k {
                case "rehash": p.rehashMs = UInt32(try a.int(for: k, 0...Int(UInt32.max)))
                case "db": p.warmupMs = UInt32(try a.int(for: k, 0...Int(UInt32.max)))
                case "limit": p.limit = UInt32(try a.int(for: k, 0...Int(UInt32.max)))
                case "max": p.max = UInt32(try a.int(for: k, 0...Int(UInt32.max)))
                case "target": p.binSize = UInt32(try a.int(for: k, 0...Int(UInt32.max)))
                case "increment": p.increment = UInt32(try a.double(for: k, 0.0...1.0) * 65535 + 0.5)
                case "decrement": p.decrement = UInt32(try a.double(for: k, 0.0...1.0) * 65535 + 0.5)
                case "penalty_rate": p.penaltyRate = UInt32(try a.int(for: k, 0...Int(UInt32.max)))
                case "penalty_burst": p.penaltyBurst = UInt32(try a.int(for: k, 0...Int(UInt32.max)))
                default: throw SluiceError("Error: sfb: unknown option \"\(k)\"")
                }
            }
            if p.max == 0 { p.max = p.binSize >= 1 ? (p.binSize * 5 + 1) / 4 : 25 }
            if p.binSize == 0 { p.binSize = (p.max * 4 + 3) / 5 }
            s.configure(p)
        case let c as CakeQdisc: try c.configure(try cake(&a))
        case let c as CBSQdisc:
            // q_cbs.c: offload, hicredit, locredit, sendslope, idleslope (each once; all 0 when
            // not given — tc sends the whole struct).
            var p = CBSQdisc.Params()
            while let k = a.next() {
                func s32() throws(SluiceError) -> Int32 {
                    let v = try a.value(for: k)
                    guard let n = Int32(v) else { throw SluiceError("cbs: illegal value for \"\(k)\": \"\(v)\"") }
                    return n
                }
                switch k {
                case "offload":
                    let v = try a.value(for: k)
                    guard let n = UInt8(v) else { throw SluiceError("cbs: illegal value for \"offload\": \"\(v)\"") }
                    p.offload = n
                case "hicredit": p.hicredit = try s32()
                case "locredit": p.locredit = try s32()
                case "sendslope": p.sendslope = try s32()
                case "idleslope": p.idleslope = try s32()
                default: throw SluiceError("cbs: unknown parameter \"\(k)\"")
                }
            }
            try c.configure(p)
        case let h as HHFQdisc:
            // q_hhf.c: limit, quantum, hh_limit, reset_timeout, admit_bytes, evict_timeout, non_hh_weight.
            var p = HHFQdisc.Params()
            while let k = a.next() {
                switch k {
                case "limit": p.limit = try a.int(for: k, 0...Int(UInt32.max))
                case "quantum": p.quantum = try a.size(for: k)
                case "hh_limit": p.hhLimit = try a.int(for: k, 0...1_000_000)
                case "reset_timeout": p.resetTimeout = try a.time(for: k)
                case "admit_bytes": p.admitBytes = UInt32(clamping: try a.size(for: k))
                case "evict_timeout": p.evictTimeout = try a.time(for: k)
                case "non_hh_weight": p.nonHHWeight = try a.int(for: k, 0...Int(UInt32.max))
                default: throw SluiceError("Error: hhf: unknown option \"\(k)\"")
                }
            }
            try h.configure(p)
        case let s as SkbprioQdisc:
            // q_skbprio.c: `limit N`.
            while let k = a.next() {
                guard k == "limit" else { throw SluiceError("Error: skbprio: unknown parameter \"\(k)\"") }
                s.limit = try a.int(for: k, 0...Int(UInt32.max))
            }
        case is TeqlQdisc:
            // tc has no q_teql: parse_noqopt takes no words.
            if !a.done { throw SluiceError("Unknown qdisc \"teql0\", hence option \"\(a.words[a.i])\" is unparsable") }
        case let p as PlugQdisc:
            // q_plug.c: block, release, release_indefinite, limit BYTES (the last word wins).
            var action: UInt32?, limit: UInt32 = 0
            while let k = a.next() {
                switch k {
                case "block": action = PlugQdisc.buffer
                case "release": action = PlugQdisc.releaseOne
                case "release_indefinite": action = PlugQdisc.releaseIndefinite
                case "limit": action = PlugQdisc.setLimit; limit = UInt32(clamping: try a.size(for: k))
                default: throw SluiceError("Error: plug: unknown parameter \"\(k)\"")
                }
            }
            if let action { try p.apply(action: action, limit: limit, initial: !p.configured) }
        case let m as MQQdisc where m.kind == "mqprio": try mqprio(m, &a)
        case let t as TaprioQdisc: try t.configure(try taprio(&a), stab: t.sizeTable, maxMtu: t.env.mtu - 14)
        default:
            if !a.done { throw SluiceError("Error: qdisc \(q.kind) takes no arguments (\"\(a.words[a.i])\")") }
        }
    }

    /// Takes words while `body` accepts them, at most 16 (q_mqprio.c's and q_taprio.c's lists).
    static func upTo16(_ a: inout TcArgs, _ body: (String) -> Bool) {
        var n = 0
        while n < 16, let w = a.peek, body(w) { a.i += 1; n += 1 }
    }

    /// mqprio's and taprio's traffic-class words: `num_tc N`, `map P0…` (the rest 0) and
    /// `queues COUNT@OFFSET…`. nil when `k` is none of them; for `queues`, the pairs read.
    static func trafficClassWord(_ k: String, _ a: inout TcArgs, _ t: inout MQQdisc.TrafficClasses, illegal: String) throws(SluiceError) -> Int? {
        switch k {
        case "num_tc":
            guard let v = UInt8(try a.value(for: k)) else { throw SluiceError("\(illegal) \"num_tc\"") }
            t.numTc = Int(v)
            return 0
        case "map":
            var i = 0
            upTo16(&a) { w in guard let v = UInt8(w) else { return false }; t.prioTcMap[i] = v; i += 1; return true }
            while i < 16 { t.prioTcMap[i] = 0; i += 1 }
            return 0
        case "queues":
            var i = 0
            upTo16(&a) { w in
                let p = w.split(separator: "@", omittingEmptySubsequences: false)
                guard p.count == 2, let c = UInt16(p[0]), let o = UInt16(p[1]) else { return false }
                t.count[i] = c; t.offset[i] = o; i += 1; return true
            }
            return i
        default: return nil
        }
    }

    /// q_taprio.c: num_tc, map, queues COUNT@OFFSET… (as mqprio's, the map's rest 0), sched-entry
    /// S MASK(hex) INTERVAL…, base-time, cycle-time, cycle-time-extension, clockid
    /// [CLOCK_]TAI|REALTIME|BOOTTIME|MONOTONIC, flags, txtime-delay, and newer tc's max-sdu
    /// N… and fp E|P… (TC entries). The priomap is sent only with num_tc.
    static func taprio(_ a: inout TcArgs) throws(SluiceError) -> TaprioQdisc.Request {
        var r = TaprioQdisc.Request()
        var t = MQQdisc.TrafficClasses(numTc: 0, prioTcMap: .zero, count: .zero, offset: .zero)
        var maxSdu: [UInt32] = [], fp: [UInt32] = []
        func u32(_ w: String, hex: Bool = false) -> UInt32? {
            let v = hex ? UInt64(w.hasPrefix("0x") || w.hasPrefix("0X") ? String(w.dropFirst(2)) : w, radix: 16) : TcArgs.parseC(w)
            return v.flatMap { $0 <= UInt64(UInt32.max) ? UInt32($0) : nil }
        }
        while let k = a.next() {
            if try trafficClassWord(k, &a, &t, illegal: "Illegal") != nil { continue }
            switch k {
            case "fp":
                var bad: String?
                upTo16(&a) { w in
                    guard w == "E" || w == "P" else { bad = w; return false }
                    fp.append(w == "E" ? 1 : 2); return true
                }
                if let bad { throw SluiceError("Illegal \"fp\" value \"\(bad)\", expected \"E\" or \"P\"") }
            case "max-sdu":
                upTo16(&a) { w in guard let v = UInt32(w) else { return false }; maxSdu.append(v); return true }
            case "sched-entry":
                let usage = SluiceError("Usage: ... taprio ... sched-entry <cmd> <gate mask> <interval>")
                guard try a.value(for: k) == "S" else { throw usage }
                guard let mask = u32(try a.value(for: k), hex: true), let interval = u32(try a.value(for: k)) else { throw usage }
                r.entries.append((command: 0, gateMask: mask, interval: interval))
            case "base-time", "cycle-time", "cycle-time-extension":
                guard let w = a.peek, let v = Int64(w) else { a.i = a.words.count; break }
                a.i += 1
                if k == "base-time" { r.baseTime = v } else if k == "cycle-time" {
                    if r.cycleTime != nil { throw SluiceError("taprio: duplicate \"cycle-time\" specification") }
                    r.cycleTime = v
                } else {
                    if r.cycleTimeExtension != nil { throw SluiceError("taprio: duplicate \"cycle-time-extension\" specification") }
                    r.cycleTimeExtension = v
                }
            case "clockid":
                let v = try a.value(for: k)
                if r.clockid != nil { throw SluiceError("taprio: duplicate \"clockid\" specification") }
                var name = v.uppercased()
                if name.hasPrefix("CLOCK_") { name.removeFirst(6) }
                guard let id: Int32 = ["REALTIME": 0, "TAI": 11, "BOOTTIME": 7, "MONOTONIC": 1][name] else {
                    throw SluiceError("taprio: illegal value for \"clockid\": \"\(v)\".")
                }
                r.clockid = id
            case "flags":
                if r.flags != nil { throw SluiceError("taprio: duplicate \"flags\" specification") }
                guard let v = u32(try a.value(for: k)) else { throw SluiceError("Illegal \"flags\"") }
                r.flags = v
            case "txtime-delay":
                if r.txtimeDelay != nil { throw SluiceError("taprio: duplicate \"txtime-delay\" specification") }
                guard let v = u32(try a.value(for: k)) else { throw SluiceError("Illegal \"txtime-delay\"") }
                r.txtimeDelay = v
            default: throw SluiceError("Unknown argument")
            }
        }
        // What q_taprio.c sends: zero values are not sent at all.
        if r.flags == 0 { r.flags = nil }
        if r.txtimeDelay == 0 { r.txtimeDelay = nil }
        if r.baseTime == 0 { r.baseTime = nil }
        if r.cycleTime == 0 { r.cycleTime = nil }
        if r.cycleTimeExtension == 0 { r.cycleTimeExtension = nil }
        if t.numTc > 0 { r.priomap = t }
        for tc in 0..<max(maxSdu.count, fp.count) {
            r.tcEntries.append((index: UInt32(tc), maxSdu: tc < maxSdu.count ? maxSdu[tc] : nil, fp: tc < fp.count ? fp[tc] : nil))
        }
        return r
    }

    /// q_mqprio.c: num_tc, map P0…P15 (the rest 0), queues COUNT@OFFSET…, hw 0|1, fp E|P…,
    /// and with hw: mode dcb|channel, shaper dcb|bw_rlimit, min_rate/max_rate RATE… — with
    /// tc's defaults (8 classes, map 0 1 2 3 4 5 6 7 0 1 1 1 3 3 3 3, hw 1).
    static func mqprio(_ m: MQQdisc, _ a: inout TcArgs) throws(SluiceError) {
        var t = MQQdisc.TrafficClasses(numTc: 8, prioTcMap: [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 1, 1, 3, 3, 3, 3], count: .zero, offset: .zero)
        var hw: UInt8 = 1, attributes = false, pairs = 0, bwRate = false
        while let k = a.next() {
            if let n = try trafficClassWord(k, &a, &t, illegal: "Error: mqprio: Illegal") { pairs += n; continue }
            switch k {
            case "fp":
                upTo16(&a) { $0 == "E" || $0 == "P" }
                attributes = true
            case "hw":
                guard let v = UInt8(try a.value(for: k)) else { throw SluiceError("Error: mqprio: Illegal \"hw\"") }
                hw = v
            case "mode" where hw != 0:
                let v = try a.value(for: k)
                guard "dcb".hasPrefix(v) || "channel".hasPrefix(v) else { throw SluiceError("Error: mqprio: Illegal mode (\(v))") }
                if "channel".hasPrefix(v) { attributes = true }
            case "shaper" where hw != 0:
                let v = try a.value(for: k)
                guard "dcb".hasPrefix(v) || "bw_rlimit".hasPrefix(v) else { throw SluiceError("Error: mqprio: Illegal shaper (\(v))") }
                if "bw_rlimit".hasPrefix(v) { attributes = true; bwRate = true }
            case "min_rate" where bwRate, "max_rate" where bwRate:
                upTo16(&a) { w in TcUnits.rate(w) != nil }
            default: throw SluiceError("Error: mqprio: unknown argument \"\(k)\"")
            }
        }
        guard pairs <= t.numTc else {
            throw SluiceError("Error: mqprio: queues count/offset pair count \(pairs) can not be higher than given num_tc \(t.numTc)")
        }
        try m.applyMqprio(t, hw: min(hw, 1), hasAttributes: attributes)
    }

    /// `tc class add|change|replace … KIND OPTIONS` for the classful kinds with options.
    static func addClass(_ q: Qdisc, _ classid: TcHandle, parent: TcHandle, _ a: inout TcArgs, replace: Bool) throws(SluiceError) {
        switch q {
        case let h as HTBQdisc: try h.setClass(classid, parent: parent, try htbClass(h, classid, &a), replace: replace)
        case let f as QFQQdisc:
            // q_qfq.c: weight NUMBER, maxpkt BYTES (decimal).
            var weight: UInt32?, lmax: UInt32?
            while let k = a.next() {
                let v = try a.value(for: k)
                switch k {
                case "weight":
                    guard let n = UInt32(v) else { throw SluiceError("Illegal \"weight\"") }
                    weight = n
                case "maxpkt":
                    guard let n = UInt32(v) else { throw SluiceError("Illegal \"maxpkt\"") }
                    lmax = n
                default: throw SluiceError("What is \"\(k)\"?")
                }
            }
            // tc class add is NLM_F_EXCL|NLM_F_CREATE, change neither, replace NLM_F_CREATE.
            try f.setClass(classid, weight: weight, lmax: lmax, create: true, exclusive: !replace)
        case let d as DRRQdisc:
            guard classid.major == d.handle.major, classid.minor != 0 else { throw SluiceError("Error: classid \(classid) does not belong to drr \(d.handle)") }
            let existing = d.classesByID[classid.raw]
            if existing != nil && !replace { throw SluiceError("Error: class \(classid) already exists.") }
            var quantum = existing?.quantum ?? d.env.mtu
            while let k = a.next() {
                switch k {
                case "quantum": quantum = try a.size(for: k)
                default: throw SluiceError("Error: unknown drr class option \"\(k)\" (quantum)")
                }
            }
            try d.setClass(classid, quantum: quantum, replace: replace)
        case let h as HFSCQdisc:
            try h.setClass(classid, parent: parent, try hfscClass(&a), create: true, exclusive: !replace)
        case let e as ETSQdisc:
            var quantum: Int?
            while let k = a.next() {
                switch k {
                case "quantum":
                    let v = try a.int(for: k, 0...Int(UInt32.max))
                    guard v > 0 else { throw SluiceError("Error: \"quanta\" must be > 0") }
                    quantum = v
                default: throw SluiceError("Error: What is \"\(k)\"? (ets class options: quantum)")
                }
            }
            try e.setQuantum(classid, quantum)
        default:
            throw SluiceError("Error: qdisc \(q.kind) is classless")
        }
    }

    /// q_ets.c: `bands N`, `strict N`, `quanta Q…`, `priomap B…`; bands default to strict plus
    /// quanta, and must cover them.
    static func ets(_ a: inout TcArgs) throws(SluiceError) -> ETSQdisc.Params {
        var nbands = 0, nstrict = 0
        var quanta: [Int] = [], priomap: [Int] = []
        var mode = ""
        while let k = a.next() {
            switch k {
            case "bands", "strict":
                let v = try a.int(for: k, 0...Int(UInt32.max))
                guard v <= ETSQdisc.maxBands else { throw SluiceError("Error: The number of \"\(k)\" must be <= \(ETSQdisc.maxBands)") }
                if k == "bands" { nbands = v } else { nstrict = v }
                mode = ""
            case "quanta": mode = "quanta"
            case "priomap": mode = "priomap"
            default:
                guard !mode.isEmpty, let v = UInt32(k) else { throw SluiceError("Error: What is \"\(k)\"? (ets: bands, strict, quanta, priomap)") }
                if mode == "quanta" {
                    guard v > 0 else { throw SluiceError("Error: \"quanta\" must be > 0") }
                    quanta.append(Int(v))
                } else {
                    guard priomap.count < 16 else { throw SluiceError("Error: \"priomap\" index cannot be higher than 15") }
                    priomap.append(Int(v))
                }
            }
        }
        if nbands == 0 { nbands = quanta.count + nstrict }
        guard nbands > 0 else { throw SluiceError("Error: One of \"bands\", \"quanta\" or \"strict\" needs to be specified") }
        guard nstrict + quanta.count <= nbands else { throw SluiceError("Error: Not enough total bands to cover all the strict bands and quanta") }
        guard priomap.allSatisfy({ $0 < nbands }) else { throw SluiceError("Error: \"priomap\" element is out of bounds") }
        return ETSQdisc.Params(nbands: nbands, nstrict: nstrict, quanta: quanta, priomap: priomap)
    }

    /// q_cake.c: rates, RTT presets, diffserv and isolation modes, framing keywords (which add
    /// to `overhead` and set ATM/PTM as tc does), memlimit, fwmark. tc sends only what is
    /// named.
    static func cake(_ a: inout TcArgs) throws(SluiceError) -> CakeQdisc.Params {
        var p = CakeQdisc.Params()
        var overhead: Int32 = 0, overheadSet = false, mpu: UInt32 = 0, unlimited = false, bandwidth: UInt64 = 0
        var preset: String?
        let presets: [String: (UInt32, UInt32)] = ["datacentre": (5, 100), "lan": (50, 1000), "metro": (500, 10000), "regional": (1500, 30000),
                                                   "internet": (5000, 100_000), "oceanic": (15000, 300_000), "satellite": (50000, 1_000_000),
                                                   "interplanetary": (50_000_000, 1_000_000_000)]
        let framing: [String: (atm: UInt32?, add: Int32)] = ["ipoa-vcmux": (1, 8), "ipoa-llcsnap": (1, 16), "bridged-vcmux": (1, 24), "bridged-llcsnap": (1, 32),
                                                             "pppoa-vcmux": (1, 10), "pppoa-llc": (1, 14), "pppoe-vcmux": (1, 32), "pppoe-llcsnap": (1, 40),
                                                             "pppoe-ptm": (2, 30), "bridged-ptm": (2, 22), "ether-vlan": (nil, 4)]
        let flowModes = ["flowblind": 0, "srchost": 1, "dsthost": 2, "hosts": 3, "flows": 4, "dual-srchost": 5, "dual-dsthost": 6, "triple-isolate": 7]
        let diffserv = ["diffserv3": 0, "diffserv4": 1, "diffserv": 1, "diffserv8": 2, "besteffort": 3, "precedence": 4]
        while let k = a.next() {
            if let (t, i) = presets[k] {
                if let preset { throw SluiceError("Error: duplicate \"\(k)\": \"\(preset)\" is the second value.") }
                preset = k
                p.target = t; p.rtt = i
                continue
            }
            if let f = framing[k] { if let atm = f.atm { p.atm = atm }; overhead += f.add; overheadSet = true; continue }
            if let m = flowModes[k] { p.flowMode = UInt32(m); continue }
            if let d = diffserv[k] { p.diffserv = UInt32(d); continue }
            switch k {
            case "bandwidth":
                guard let r = TcUnits.rate(try a.value(for: k)) else { throw SluiceError("Illegal \"bandwidth\"") }
                bandwidth = r / 8; unlimited = false; p.autorate = false     // get_rate64: bytes per second
            case "unlimited": bandwidth = 0; unlimited = true; p.autorate = false
            case "autorate-ingress": p.autorate = true
            case "rtt":
                guard let ns = TcUnits.time(try a.value(for: k)) else { throw SluiceError("Illegal \"rtt\"") }
                let us = UInt32(clamping: ns / 1000)
                p.rtt = us; p.target = max(us / 20, 1)
            case "nowash": p.wash = false
            case "wash": p.wash = true
            case "split-gso": p.splitGSO = true
            case "no-split-gso": p.splitGSO = false
            case "nat": p.nat = true
            case "nonat": p.nat = false
            case "ptm": p.atm = 2
            case "atm": p.atm = 1
            case "noatm": p.atm = 0
            case "raw": p.atm = 0; overhead = 0; overheadSet = true; p.raw = true
            case "conservative": p.atm = 1; overhead = 48; overheadSet = true
            case "via-ethernet": break
            case "ethernet": overhead += 38; overheadSet = true; mpu = 84
            case "docsis": p.atm = 0; overhead += 18; overheadSet = true; mpu = 64
            case "overhead":
                guard let v = Int32(try a.value(for: k)), (-64...256).contains(v) else { throw SluiceError("Illegal \"overhead\", valid range is -64 to 256") }
                overhead = v; overheadSet = true
            case "mpu":
                guard let v = UInt32(try a.value(for: k)), v <= 256 else { throw SluiceError("Illegal \"mpu\", valid range is 0 to 256") }
                mpu = v
            case "ingress": p.ingress = true
            case "egress": p.ingress = false
            case "no-ack-filter": p.ackFilter = 0
            case "ack-filter": p.ackFilter = 1
            case "ack-filter-aggressive": p.ackFilter = 2
            case "memlimit":
                let v = try a.value(for: k)
                guard let n = TcUnits.size(v), n <= Int(UInt32.max) else { throw SluiceError("Illegal value for \"memlimit\": \"\(v)\"") }
                p.memory = UInt32(n)
            case "fwmark":
                let v = try a.value(for: k)
                guard let n = v.hasPrefix("0x") ? UInt32(v.dropFirst(2), radix: 16) : UInt32(v) else { throw SluiceError("Illegal value for \"fwmark\": \"\(v)\"") }
                p.fwmark = n
            default: throw SluiceError("What is \"\(k)\"?")
            }
        }
        if bandwidth > 0 || unlimited { p.rate = bandwidth }
        if overheadSet { p.overhead = overhead }
        if mpu > 0 { p.mpu = mpu }
        // tc sends 0 for memlimit and fwmark as "not given".
        if p.memory == 0 { p.memory = nil }
        if p.fwmark == 0 { p.fwmark = nil }
        return p
    }

    /// q_choke.c: limit and bandwidth required; min, max (packets; Floyd's defaults max =
    /// limit/4, min = max/3), burst, avpkt (1000), probability (0.02), ecn, harddrop; Wlog, Plog
    /// and the idle table as tc computes them.
    static func choke(_ a: inout TcArgs) throws(SluiceError) -> ChokeQdisc.Params {
        var limit = 0, qmin = 0, qmax = 0, burst = 0, avpkt = 1000
        var rate: UInt64 = 0, prob = 0.02, ecn = false, hd = false
        while let k = a.next() {
            switch k {
            case "limit": limit = try a.int(for: k, 0...Int(UInt32.max))
            case "bandwidth": rate = try a.rate(for: k)
            case "min": qmin = try a.int(for: k, 0...Int(UInt32.max))
            case "max": qmax = try a.int(for: k, 0...Int(UInt32.max))
            case "burst": burst = try a.int(for: k, 0...Int(UInt32.max))
            case "avpkt": avpkt = try a.size(for: k)
            case "probability": prob = try a.double(for: k, 0.0...1.0)
            case "ecn": ecn = true
            case "harddrop": hd = true
            default: throw SluiceError("Error: choke: unknown option \"\(k)\" (limit, bandwidth, min, max, burst, avpkt, probability, ecn, harddrop)")
            }
        }
        guard rate > 0, limit > 0 else { throw SluiceError("Error: Required parameter (bandwidth, limit) is missing") }
        if qmax == 0 { qmax = limit / 4 }
        if qmin == 0 { qmin = qmax / 3 }
        if burst == 0 { burst = (2 * qmin + qmax) / 3 }
        guard qmax <= limit else { throw SluiceError("Error: \"max\" is larger than \"limit\"") }
        guard qmin < qmax else { throw SluiceError("Error: \"min\" is not smaller than \"max\"") }
        guard let w = redEWMA(qmin: qmin * avpkt, burst: burst, avpkt: avpkt) else { throw SluiceError("Error: CHOKE: failed to calculate EWMA constant.") }
        guard let plog = redP(qmin: qmin * avpkt, qmax: qmax * avpkt, prob: prob) else { throw SluiceError("Error: CHOKE: failed to calculate probability.") }
        guard let (scell, stab) = ChokeQdisc.idleDamping(wlog: w, avpkt: avpkt, bytesPerSecond: rate / 8) else {
            throw SluiceError("Error: CHOKE: failed to calculate idle damping table.")
        }
        return ChokeQdisc.Params(limit: limit, qmin: qmin, qmax: qmax, wlog: w, plog: plog, scellLog: scell, ecn: ecn, harddrop: hd,
                                 stab: stab, maxP: Double(UInt32(prob * 4294967296.0)) / 4294967296.0)
    }

    /// q_gred.c: `setup vqs N default D [grio] [limit BYTES] [ecn] [harddrop]` defines the
    /// table; `vq N [prio P] limit BYTES min BYTES max BYTES avpkt BYTES [burst PACKETS]
    /// [probability P] [bandwidth RATE] [ecn] [harddrop]` configures one virtual queue (burst
    /// (2 min + max) / (3 avpkt) and bandwidth 10 Mbit when not given, as tc sets them).
    static func gred(_ a: inout TcArgs) throws(SluiceError) -> GREDQdisc.Request {
        let maxDPs = UInt32(GREDQdisc.maxDPs)
        if a.peek == "setup" {
            _ = a.next()
            var t = GREDQdisc.TableDef(dps: 0, def: maxDPs, grio: false, flags: 0)
            var limit: UInt32 = 0
            while let k = a.next() {
                switch k {
                case "vqs", "DPs":
                    t.dps = UInt32(try a.int(for: k, 0...Int(UInt32.max)))
                    guard t.dps <= maxDPs else { throw SluiceError("Error: GRED: only \(maxDPs) VQs are currently supported") }
                case "default":
                    guard t.dps != 0 else { throw SluiceError("Error: \"default\" must be defined after \"vqs\"") }
                    t.def = UInt32(try a.int(for: k, 0...Int(UInt32.max)))
                    guard t.def < t.dps else { throw SluiceError("Error: \"default\" must be less than \"vqs\"") }
                case "grio": t.grio = true
                case "limit": limit = UInt32(clamping: try a.size(for: k))
                case "ecn": t.flags |= GREDQdisc.ecnFlag
                case "harddrop": t.flags |= GREDQdisc.harddropFlag
                default: throw SluiceError("Error: gred: unknown option \"\(k)\" (vqs, default, grio, limit, ecn, harddrop)")
                }
            }
            guard t.dps != 0, t.def != maxDPs else { throw SluiceError("Error: Illegal gred setup parameters") }
            return .table(t, limit: limit == 0 ? nil : limit)
        }
        var limit = 0, qmin = 0, qmax = 0, dp = Int(maxDPs), burst = 0, avpkt = 0, prio = 0
        var prob = 0.02, rate: UInt64 = 0, flags: UInt32 = 0, ok = false
        while let k = a.next() {
            switch k {
            case "limit": limit = try a.size(for: k)
            case "min": qmin = try a.size(for: k)
            case "max": qmax = try a.size(for: k)
            case "vq", "DP":
                dp = try a.int(for: k, 0...Int(UInt32.max))
                guard dp < Int(maxDPs) else { throw SluiceError("Error: GRED: only \(maxDPs) VQs are currently supported") }
            case "burst": burst = try a.int(for: k, 0...Int(UInt32.max))
            case "avpkt": avpkt = try a.size(for: k)
            case "probability": prob = try a.double(for: k, 0.0...1.0)
            case "prio": prio = try a.int(for: k, 0...255)
            case "bandwidth": rate = try a.rate(for: k)
            case "ecn": flags |= GREDQdisc.ecnFlag; continue
            case "harddrop": flags |= GREDQdisc.harddropFlag; continue
            case "setup": throw SluiceError("Error: Illegal \"setup\"")
            default: throw SluiceError("Error: gred: unknown option \"\(k)\" (setup, vq, prio, limit, min, max, avpkt, burst, probability, bandwidth, ecn, harddrop)")
            }
            ok = true
        }
        guard ok else { throw SluiceError("Error: gred: give `setup vqs N default D …` or `vq N limit … min … max … avpkt …`") }
        guard dp != Int(maxDPs), limit > 0, qmin > 0, qmax > 0, avpkt > 0 else {
            throw SluiceError("Error: Required parameter (vq, limit, min, max, avpkt) is missing")
        }
        if burst == 0 { burst = (2 * qmin + qmax) / (3 * avpkt) }
        if rate == 0 { rate = 10_000_000 }
        guard let w = redEWMA(qmin: qmin, burst: burst, avpkt: avpkt) else { throw SluiceError("Error: GRED: failed to calculate EWMA constant.") }
        guard let plog = redP(qmin: qmin, qmax: qmax, prob: prob) else { throw SluiceError("Error: GRED: failed to calculate probability.") }
        guard let (scell, stab) = ChokeQdisc.idleDamping(wlog: w, avpkt: avpkt, bytesPerSecond: rate / 8) else {
            throw SluiceError("Error: GRED: failed to calculate idle damping table.")
        }
        return .vq(GREDQdisc.VQParams(limit: UInt32(clamping: limit), qthMin: UInt32(clamping: qmin), qthMax: UInt32(clamping: qmax), dp: UInt32(dp),
                                      wlog: UInt8(w), plog: UInt8(plog), scellLog: UInt8(scell), prio: UInt8(truncatingIfNeeded: prio),
                                      stab: stab, maxP: UInt32(truncatingIfNeeded: UInt64(prob * 4294967296.0)), vqFlags: [(UInt32(dp), flags)]))
    }

    /// q_hfsc.c's qdisc options: `default CLASSID` (hexadecimal minor).
    static func hfsc(_ q: HFSCQdisc, _ a: inout TcArgs) throws(SluiceError) -> UInt16 {
        var d = q.defcls
        var given = false
        while let k = a.next() {
            switch k {
            case "default":
                if given { throw SluiceError("Error: HFSC: Double \"default\"") }
                let v = try a.value(for: k)
                guard let n = UInt16(v.hasPrefix("0x") ? String(v.dropFirst(2)) : v, radix: 16) else { throw SluiceError("Error: HFSC: Illegal \"default\"") }
                d = n; given = true
            default: throw SluiceError("Error: HFSC: What is \"\(k)\" ? (default CLASSID)")
            }
        }
        return d
    }

    /// q_hfsc.c's class options: `[rt SC] [ls SC] | [sc SC]`, `[ul SC]`, where
    /// SC := [m1 RATE] [d TIME] m2 RATE, or [umax BYTES] [dmax TIME] rate RATE (turned into
    /// m1/d/m2 as hfsc_get_sc2 does). A curve of two zero slopes is refused, as is `ul`
    /// without a link-sharing curve.
    static func hfscClass(_ a: inout TcArgs) throws(SluiceError) -> HFSCQdisc.ClassParams {
        var p = HFSCQdisc.ClassParams(rt: nil, ls: nil, ul: nil)
        func curve(_ name: String) throws(SluiceError) -> HFSCQdisc.Curve {
            var m1: UInt64 = 0, d: UInt64 = 0, m2: UInt64 = 0, umax = 0, dmax: UInt64 = 0
            var form1 = false, form2 = false, end = false
            while !end, let w = a.peek {
                switch w {
                case "m1": a.i += 1; m1 = try a.rate(for: "m1") / 8; form1 = true
                case "d": a.i += 1; d = try a.time(for: "d") / 1000; form1 = true
                case "m2": a.i += 1; m2 = try a.rate(for: "m2") / 8; form1 = true; end = true
                case "umax": a.i += 1; umax = try a.size(for: "umax"); form2 = true
                case "dmax": a.i += 1; dmax = try a.time(for: "dmax") / 1000; form2 = true
                case "rate": a.i += 1; m2 = try a.rate(for: "rate") / 8; form2 = true; end = true
                default: throw SluiceError("Error: HFSC: Illegal \"\(name)\"")
                }
            }
            guard end, form1 != form2 else { throw SluiceError("Error: HFSC: Illegal \"\(name)\"") }
            if form2 {
                if umax != 0 && dmax == 0 { throw SluiceError("Error: HFSC: umax given but dmax is zero.") }
                let steep = dmax != 0 ? (Double(umax) * 1e6 / Double(dmax)).rounded(.up) : 0
                if dmax != 0 && steep > Double(m2) {
                    m1 = UInt64(steep); d = dmax
                } else {
                    m1 = 0
                    d = m2 > 0 ? UInt64(max(0, (Double(dmax) - Double(umax) * 1e6 / Double(m2)).rounded(.up))) : dmax
                }
            }
            guard m1 != 0 || m2 != 0 else { throw SluiceError("Error: HFSC: Service Curve has two zero slopes") }
            return HFSCQdisc.Curve(m1: UInt32(clamping: m1), d: UInt32(clamping: d), m2: UInt32(clamping: m2))
        }
        while let k = a.next() {
            switch k {
            case "rt": p.rt = try curve("rt")
            case "ls": p.ls = try curve("ls")
            case "sc": let c = try curve("sc"); p.rt = c; p.ls = c
            case "ul": p.ul = try curve("ul")
            default: throw SluiceError("Error: HFSC: What is \"\(k)\" ? (rt, ls, sc, ul)")
            }
        }
        guard p.rt != nil || p.ls != nil || p.ul != nil else { throw SluiceError("Error: HFSC: no parameters given") }
        if p.ul != nil && p.ls == nil { throw SluiceError("Error: HFSC: Upper-limit Service Curve without Link-Share Service Curve") }
        return p
    }

    /// pfifo, bfifo, pfifo_head_drop: `limit` (packets, or bytes for bfifo).
    static func fifoLimit(_ f: FifoQdisc, _ a: inout TcArgs) throws(SluiceError) -> Int {
        var newLimit = f.limit
        while let k = a.next() {
            switch k {
            case "limit": newLimit = f.mode == .bytes ? try a.size(for: k) : try a.int(for: k, 0...Int(Int32.max))
            default: throw SluiceError("Error: unknown \(f.kind) option \"\(k)\" (expected: limit)")
            }
        }
        return newLimit
    }

    /// q_tbf.c: rate, burst, limit or latency, peakrate, mtu; the buckets as psched ticks.
    static func tbf(_ t: TBFQdisc, _ a: inout TcArgs) throws(SluiceError) -> TBFQdisc.TBFParams {
        var rate = t.rate, peak = t.peakrate, burst = t.burst, mtu = t.mtu, limit: Int? = nil, lat: UInt64? = nil
        var overhead = t.overhead, mpu = t.mpu, atm = t.atm
        while let k = a.next() {
            switch k {
            case "rate": rate = try a.rate(for: k)
            case "peakrate": peak = try a.rate(for: k)
            case "burst", "buffer", "maxburst": burst = try a.size(for: k)
            case "mtu", "minburst": mtu = try a.size(for: k)
            case "limit": limit = try a.size(for: k)
            case "latency", "lat": lat = try a.time(for: k)
            case "overhead": overhead = try a.int(for: k, 0...65535)
            case "mpu": mpu = try a.int(for: k, 0...65535)
            case "linklayer": atm = try linklayerIsATM(&a, k)
            default: throw SluiceError("Error: unknown tbf option \"\(k)\" (expected: rate, burst, limit, latency, peakrate, mtu, mpu, overhead, linklayer)")
            }
        }
        guard rate > 0 else { throw SluiceError("Error: \"rate\" is required (and must not be 0).") }
        guard burst > 0 else { throw SluiceError("Error: \"burst\" is required.") }
        if limit == nil && lat == nil && t.limit == 0 { throw SluiceError("Error: Either \"limit\" or \"latency\" are required.") }
        if limit != nil && lat != nil { throw SluiceError("Error: \"limit\" and \"latency\" are mutually exclusive.") }
        let wire = t.env.mtu
        guard burst >= wire else {
            throw SluiceError("Error: tbf burst \(TcFormat.size(burst)) is smaller than the device MTU with its link header (\(wire)b): no full-size packet could ever be sent.")
        }
        if peak > 0 {
            guard peak > rate else { throw SluiceError("Error: \"peakrate\" must be greater than \"rate\".") }
            if mtu == 0 { mtu = wire }
            guard mtu >= wire else { throw SluiceError("Error: tbf mtu \(TcFormat.size(mtu)) is smaller than the device MTU (\(wire)b).") }
        }
        var newLimit = limit ?? t.limit
        let rateB = rate / 8, peakB = peak / 8
        if let lat {
            // q_tbf.c: limit = rate × latency + burst (bytes/s, µs), or the peak bucket's
            // bound if smaller.
            let us = Double(lat / 1000)
            var l = Double(rateB) * us / 1e6 + Double(burst)
            if peak > 0 { l = min(l, Double(peakB) * us / 1e6 + Double(mtu)) }
            newLimit = Int(UInt32(clamping: UInt64(max(l, 0))))
        }
        // What tc sends the kernel (struct tc_tbf_qopt): buckets as psched ticks.
        return TBFQdisc.TBFParams(rate: rate, peakrate: peak, bufferTicks: TcCore.xmittime(rate: rateB, size: UInt32(clamping: burst)),
                                  mtuTicks: peak > 0 ? TcCore.xmittime(rate: peakB, size: UInt32(clamping: mtu)) : 0,
                                  limit: newLimit, burst: burst, mtu: mtu, overhead: overhead, mpu: mpu, atm: atm)
    }

    /// tc's get_linklayer: ethernet (eth) or atm (adsl); true for ATM.
    static func linklayerIsATM(_ a: inout TcArgs, _ k: String) throws(SluiceError) -> Bool {
        let v = try a.value(for: k)
        switch v {
        case "ethernet", "eth": return false
        case "atm", "adsl": return true
        default: throw SluiceError("Error: Illegal \"linklayer\" \"\(v)\"")
        }
    }

    /// q_htb.c's qdisc options: r2q, default, direct_qlen.
    static func htb(_ h: HTBQdisc, _ a: inout TcArgs) throws(SluiceError) -> HTBQdisc.HTBGlobals {
        var g = h.globals
        while let k = a.next() {
            switch k {
            case "r2q": g.r2q = try a.int(for: k, 1...Int(Int32.max))
            case "default": let v = try a.value(for: k)
                guard let d = UInt16(v.hasPrefix("0x") ? String(v.dropFirst(2)) : v, radix: 16) else { throw SluiceError("Error: Illegal \"default\" \"\(v)\"") }
                g.defaultClass = d
            case "direct_qlen": g.directQlen = try a.int(for: k, 0...Int(Int32.max))
            default: throw SluiceError("Error: unknown htb option \"\(k)\" (expected: default, r2q, direct_qlen)")
            }
        }
        return g
    }

    /// q_htb.c's class options: rate, ceil, burst, cburst, prio, quantum, and the link: mpu,
    /// overhead and linklayer for both rates; tc's default buffers (rate / HZ + mtu).
    static func htbClass(_ h: HTBQdisc, _ classid: TcHandle, _ a: inout TcArgs) throws(SluiceError) -> HTBQdisc.HTBClassParams {
        let existing = h.classesByID[classid.raw]
        var rate: UInt64 = existing?.rate ?? 0, ceil: UInt64? = existing?.ceil
        var burst: Int? = existing?.burst, cburst: Int? = existing?.cburst
        var prio = existing?.prio ?? 0
        var quantum: Int? = existing?.quantumGiven == true ? existing?.quantum : nil
        var link = existing?.rateCfg.link ?? LinkSpec(), mtu = 1600
        while let k = a.next() {
            switch k {
            case "rate": rate = try a.rate(for: k)
            case "ceil": ceil = try a.rate(for: k)
            case "burst", "buffer", "maxburst": burst = try a.size(for: k)
            case "cburst", "cbuffer", "cmaxburst": cburst = try a.size(for: k)
            case "prio": prio = try a.int(for: k, 0...7)
            case "quantum": quantum = try a.size(for: k)
            case "mtu": mtu = try a.int(for: k, 0...Int(UInt32.max))
            case "mpu": link.mpu = try a.int(for: k, 0...65535)
            case "overhead": link.overhead = try a.int(for: k, 0...65535)
            case "linklayer": link.atm = try linklayerIsATM(&a, k)
            default: throw SluiceError("Error: unknown htb class option \"\(k)\" (expected: rate, ceil, burst, cburst, prio, quantum, mtu, mpu, overhead, linklayer)")
            }
        }
        guard rate > 0 else { throw SluiceError("Error: \"rate\" is required.") }
        let ceilV = ceil ?? rate
        // tc's default buffer: rate / HZ + mtu, with the 1 GHz psched clock → about mtu bytes.
        let b = burst ?? (Int(rate / 8 / 1_000_000_000) + mtu)
        let cb = cburst ?? (Int(ceilV / 8 / 1_000_000_000) + mtu)
        return HTBQdisc.HTBClassParams(
            rate: rate, ceil: ceilV, bufferTicks: TcCore.xmittime(rate: rate / 8, size: UInt32(clamping: b)),
            cbufferTicks: TcCore.xmittime(rate: ceilV / 8, size: UInt32(clamping: cb)), quantum: quantum ?? 0, prio: prio,
            burst: b, cburst: cb, rateLink: link, ceilLink: link)
    }

    /// q_prio.c: bands, priomap.
    static func prio(_ p: PrioQdisc, _ a: inout TcArgs) throws(SluiceError) -> (Int, [Int]) {
        var bands = p.bandCount
        var map = p.priomap
        while let k = a.next() {
            switch k {
            case "bands": bands = try a.int(for: k, 2...16)
            case "priomap":
                var m: [Int] = []
                while m.count < 16, let v = a.peek, let n = Int(v) { m.append(n); a.i += 1 }
                guard !m.isEmpty else { throw SluiceError("Error: \"priomap\" needs up to 16 band numbers") }
                map = m + Array(repeating: 1, count: 16 - m.count)
            default: throw SluiceError("Error: unknown prio option \"\(k)\" (expected: bands, priomap)")
            }
        }
        return (bands, map)
    }

    /// q_fq_codel.c: codel's words plus flows, quantum, memory_limit, drop_batch.
    static func fqCodel(_ f: FQCoDelQdisc, _ a: inout TcArgs) throws(SluiceError) -> FQCoDelQdisc.FQCoDelParams {
        var c = f.currentParams
        var codel = c.codel, limit = c.limit
        var flows = c.flows, quantum = c.quantum, mem = c.memoryLimit, batch = c.dropBatch
        try coDelOptions(&a, &codel, limit: &limit, kind: "fq_codel") { (k: String, a: inout TcArgs) throws(SluiceError) -> Bool in
            switch k {
            case "flows": flows = try a.int(for: k, 1...65536)
            case "quantum": quantum = try a.size(for: k)
            case "memory_limit": mem = try a.size(for: k)
            case "drop_batch": batch = try a.int(for: k, 1...Int(Int32.max))
            default: return false
            }
            return true
        }
        c.codel = codel; c.limit = limit; c.flows = flows; c.quantum = quantum; c.memoryLimit = mem; c.dropBatch = batch
        return c
    }

    /// q_codel.c: limit, target, interval, ce_threshold, ecn/noecn (and a kind's own words).
    static func coDelOptions(_ a: inout TcArgs, _ p: inout CoDelParams, limit: inout Int, kind: String,
                             extra: ((String, inout TcArgs) throws(SluiceError) -> Bool)? = nil) throws(SluiceError) {
        while let k = a.next() {
            switch k {
            case "limit": limit = try a.int(for: k, 1...Int(Int32.max))
            case "target": p.target = try a.time(for: k)
            case "interval": p.interval = try a.time(for: k)
            case "ce_threshold": p.ceThreshold = try a.time(for: k)
            case "ecn": p.ecn = true
            case "noecn": p.ecn = false
            default:
                if let extra, try extra(k, &a) { continue }
                throw SluiceError("Error: unknown \(kind) option \"\(k)\"")
            }
        }
        guard p.interval > 0 else { throw SluiceError("Error: \(kind) interval must be positive") }
    }

    /// q_pie.c: limit, target, tupdate, alpha, beta, ecn/noecn, bytemode/nobytemode,
    /// [no_]dq_rate_estimator.
    static func pie(_ q: PIEQdisc, _ a: inout TcArgs) throws(SluiceError) -> PIEQdisc.PIEParams {
        var p = q.params
        while let k = a.next() {
            switch k {
            case "limit": p.limit = try a.int(for: k, 1...Int(Int32.max))
            case "target": p.target = try a.time(for: k)
            case "tupdate": p.tupdate = try a.time(for: k)
            case "alpha": p.alpha = UInt32(try a.int(for: k, 0...32))
            case "beta": p.beta = UInt32(try a.int(for: k, 0...32))
            case "ecn": p.ecn = true
            case "noecn": p.ecn = false
            case "bytemode": p.bytemode = true
            case "nobytemode": p.bytemode = false
            case "no_dq_rate_estimator": p.dqRateEstimator = false
            case "dq_rate_estimator": p.dqRateEstimator = true
            default: throw SluiceError("Error: unknown pie option \"\(k)\" (limit, target, tupdate, alpha, beta, ecn, bytemode, dq_rate_estimator)")
            }
        }
        return p
    }

    /// q_fq_pie.c: limit, flows, target, tupdate, alpha, beta, quantum, memory_limit, ecn_prob,
    /// [no]ecn, [no]bytemode, [no_]dq_rate_estimator. As tc sends them, a zero is not sent (the
    /// value stays); `flows` is refused once the qdisc exists.
    static func fqPie(_ q: FQPIEQdisc, _ a: inout TcArgs) throws(SluiceError) -> FQPIEQdisc.FQPIEParams {
        var c = q.params
        func nonzero<T: BinaryInteger>(_ v: T, _ set: (T) -> Void) { if v != 0 { set(v) } }
        while let k = a.next() {
            switch k {
            case "limit": nonzero(try a.int(for: k, 0...Int(UInt32.max))) { c.pie.limit = $0 }
            case "flows": nonzero(try a.int(for: k, 0...Int(UInt32.max))) { c.flows = $0 }
            case "target": nonzero(try a.time(for: k)) { c.pie.target = $0 }
            case "tupdate": nonzero(try a.time(for: k)) { c.pie.tupdate = $0 }
            case "alpha": nonzero(try a.int(for: k, 0...32)) { c.pie.alpha = UInt32($0) }
            case "beta": nonzero(try a.int(for: k, 0...32)) { c.pie.beta = UInt32($0) }
            case "quantum": nonzero(try a.size(for: k)) { c.quantum = $0 }
            case "memory_limit": nonzero(try a.size(for: k)) { c.memoryLimit = $0 }
            case "ecn_prob": nonzero(try a.int(for: k, 0...99)) { c.ecnProb = UInt32($0) }
            case "ecn": c.pie.ecn = true
            case "noecn": c.pie.ecn = false
            case "bytemode": c.pie.bytemode = true
            case "nobytemode": c.pie.bytemode = false
            case "dq_rate_estimator": c.pie.dqRateEstimator = true
            case "no_dq_rate_estimator": c.pie.dqRateEstimator = false
            default: throw SluiceError("Error: What is \"\(k)\"? (fq_pie: limit, flows, target, tupdate, alpha, beta, quantum, memory_limit, ecn_prob, [no]ecn, [no]bytemode, [no_]dq_rate_estimator)")
            }
        }
        return c
    }

    /// q_fq.c: limit, flow_limit, buckets (a power of two: tc sends its log), maxrate,
    /// low_rate_threshold, ce_threshold, timer_slack, horizon, horizon_drop|horizon_cap,
    /// defrate (ignored, as the kernel ignores it), quantum, initial_quantum, orphan_mask,
    /// refill_delay, pacing|nopacing, and newer tc's `bands 3 priomap P0…P15` and
    /// `weights W0 W1 W2`.
    static func fq(_ q: FQQdisc, _ a: inout TcArgs) throws(SluiceError) -> FQQdisc.FQParams {
        var p = q.params
        while let k = a.next() {
            switch k {
            case "limit": p.limit = try a.int(for: k, 0...Int(UInt32.max))
            case "flow_limit": p.flowLimit = try a.int(for: k, 0...Int(UInt32.max))
            case "buckets":
                let n = try a.int(for: k, 0...Int(UInt32.max))
                if n != 0 { p.bucketsLog = Int.bitWidth - 1 - n.leadingZeroBitCount }       // ilog2, as tc sends it
            case "maxrate": p.maxRate = min(try a.rate(for: k) / 8, FQQdisc.unlimited)
            case "low_rate_threshold": p.lowRateThreshold = min(try a.rate(for: k) / 8, UInt64(UInt32.max))
            case "defrate": _ = try a.rate(for: k)
            case "ce_threshold": p.ceThreshold = try a.time(for: k) / 1000 * 1000
            case "timer_slack":
                // get_time64: a bare number is nanoseconds.
                let t: UInt64
                if let w = a.peek, let n = UInt64(w) { a.i += 1; t = n } else { t = try a.time(for: k) }
                guard t <= UInt64(UInt32.max) else { throw SluiceError("Error: Illegal (out of range) \"timer_slack\"") }
                p.timerSlack = UInt32(t)
            case "horizon": p.horizon = try a.time(for: k) / 1000 * 1000
            case "horizon_drop": p.horizonDrop = true
            case "horizon_cap": p.horizonDrop = false
            case "quantum": p.quantum = try a.int(for: k, 0...Int(UInt32.max))
            case "initial_quantum": p.initialQuantum = try a.int(for: k, 0...Int(UInt32.max))
            case "orphan_mask": p.orphanMask = UInt32(try a.int(for: k, 0...Int(UInt32.max)))
            case "refill_delay": p.refillDelay = try a.time(for: k) / 1000 * 1000
            case "pacing": p.rateEnable = true
            case "nopacing": p.rateEnable = false
            case "bands":
                guard try a.int(for: k, 0...Int(Int32.max)) == 3 else { throw SluiceError("Error: \"bands\" must be 3") }
                guard a.next() == "priomap" else { throw SluiceError("Error: \"priomap\" expected") }
                p.prio2band = []
                for _ in 0..<16 {
                    guard a.peek != nil else { throw SluiceError("Error: Not enough elements in priomap") }
                    p.prio2band.append(UInt8(try a.int(for: "priomap", 0...2)))
                }
            case "weights":
                p.weights = []
                for _ in 0..<3 {
                    guard a.peek != nil else { throw SluiceError("Error: Not enough elements in weights") }
                    p.weights.append(Int32(try a.int(for: "weights", 1...Int(Int32.max))))
                }
            default:
                throw SluiceError("Error: What is \"\(k)\"? (fq: limit, flow_limit, buckets, maxrate, low_rate_threshold, ce_threshold, timer_slack, horizon, horizon_drop, horizon_cap, quantum, initial_quantum, orphan_mask, refill_delay, pacing, nopacing, bands 3 priomap …, weights …)")
            }
        }
        return p
    }

    /// q_sfq.c: limit, quantum, perturb, divisor, depth, flows, headdrop; RED per flow with
    /// redflowlimit (required for it), min, max (Floyd's defaults: limit/4, max/3), avpkt,
    /// burst, probability, ecn, harddrop, Wlog and Plog as tc computes them.
    static func sfq(_ q: SFQQdisc, _ a: inout TcArgs) throws(SluiceError) -> SFQQdisc.SFQParams {
        let c = q.params
        var limit = c.limit, quantum = c.quantum, divisor = c.divisor, depth = c.depth, flows = c.flows, perturb = c.perturb, hd = c.headdrop
        var red = false, redLimit = 0, qmin = 0, qmax = 0, burst = 0, avpkt = 1000, prob = 0.02, flags: UInt8 = 0
        while let k = a.next() {
            switch k {
            case "limit": limit = try a.int(for: k, 2...65535)
            case "quantum": quantum = try a.size(for: k)
            case "divisor": divisor = try a.int(for: k, 1...65536)
                guard divisor & (divisor - 1) == 0 else { throw SluiceError("Error: sfq divisor must be a power of 2") }
            case "depth": depth = try a.int(for: k, 1...127)
            case "flows": flows = try a.int(for: k, 1...65536)
            case "perturb": perturb = UInt64(try a.int(for: k, 0...Int(Int32.max))) * Time.s
            case "headdrop": hd = true
            case "tailtdrop", "taildrop": hd = false
            case "redflowlimit": redLimit = try a.int(for: k, 0...Int(UInt32.max)); red = true
            case "min": qmin = try a.int(for: k, 0...Int(UInt32.max)); red = true
            case "max": qmax = try a.int(for: k, 0...Int(UInt32.max)); red = true
            case "burst": burst = try a.int(for: k, 0...Int(UInt32.max)); red = true
            case "avpkt": avpkt = try a.size(for: k); red = true
            case "probability": prob = try a.double(for: k, 0.0...1.0); red = true
            case "ecn": flags |= 1; red = true
            case "harddrop": flags |= 2; red = true
            default: throw SluiceError("Error: unknown sfq option \"\(k)\" (limit, quantum, perturb, divisor, depth, flows, headdrop, redflowlimit, min, max, avpkt, burst, probability, ecn, harddrop)")
            }
        }
        var p = SFQQdisc.SFQParams(limit: limit, quantum: quantum, divisor: divisor, depth: depth, flows: flows, perturb: perturb, headdrop: hd)
        p.redFlags = flags                                  // tc always sends the flags (sfq_change takes them)
        guard red else { return p }
        guard redLimit > 0 else { throw SluiceError("Error: Required parameter (redflowlimit) is missing") }
        if qmax == 0 { qmax = redLimit / 4 }
        if qmin == 0 { qmin = qmax / 3 }
        if burst == 0 { burst = (2 * qmin + qmax) / (3 * avpkt) }
        guard qmax <= redLimit else { throw SluiceError("Error: \"max\" is larger than \"limit\"") }
        guard qmin < qmax else { throw SluiceError("Error: \"min\" is not smaller than \"max\"") }
        guard let w = redEWMA(qmin: qmin, burst: burst, avpkt: avpkt) else { throw SluiceError("Error: SFQ: failed to calculate EWMA constant.") }
        guard let plog = redP(qmin: qmin, qmax: qmax, prob: prob) else { throw SluiceError("Error: SFQ: failed to calculate probability.") }
        p.red = (UInt32(clamping: qmin), UInt32(clamping: qmax), UInt8(w), UInt8(plog), 0, UInt32(truncatingIfNeeded: UInt64(prob * 4294967296.0)))
        return p
    }

    /// q_red.c: limit, min, max, avpkt, burst, probability, bandwidth, ecn, harddrop; Wlog as
    /// tc_red_eval_ewma computes it.
    static func red(_ q: REDQdisc, _ a: inout TcArgs) throws(SluiceError) -> REDQdisc.REDParams {
        var limit = q.limit, qmin = q.qmin, qmax = q.qmax, avpkt = q.avpkt, burst = q.burst
        var maxP = q.maxP, bw = q.bandwidth, ecn = q.ecn, hd = q.harddrop, nodrop = q.nodrop, adaptive = q.adaptive
        while let k = a.next() {
            switch k {
            case "limit": limit = try a.size(for: k)
            case "min": qmin = try a.size(for: k)
            case "max": qmax = try a.size(for: k)
            case "avpkt": avpkt = try a.size(for: k)
            case "burst": burst = try a.int(for: k, 1...Int(Int32.max))
            case "probability": maxP = try a.double(for: k, 0.0...1.0)
            case "bandwidth": bw = try a.rate(for: k)
            case "ecn": ecn = true
            case "harddrop": hd = true
            case "nodrop": nodrop = true
            case "adaptive": adaptive = true
            case "qevent": throw SluiceError("Error: red \"\(k)\" is not implemented in Sluice yet.")
            default: throw SluiceError("Error: unknown red option \"\(k)\" (limit, min, max, avpkt, burst, probability, bandwidth, ecn, harddrop, nodrop, adaptive)")
            }
        }
        guard limit > 0 else { throw SluiceError("Error: \"limit\" is required.") }
        if qmax == 0 { qmax = qmin > 0 ? qmin * 3 : limit / 4 }
        if qmin == 0 { qmin = qmax / 3 }
        guard qmin < qmax, qmax <= limit else { throw SluiceError("Error: red needs min < max <= limit (min \(qmin), max \(qmax), limit \(limit)).") }
        guard avpkt > 0 else { throw SluiceError("Error: \"avpkt\" must be positive.") }
        if burst == 0 { burst = (2 * qmin + qmax) / (3 * avpkt) }
        guard Double(burst) + 1 - Double(qmin) / Double(avpkt) >= 1 else { throw SluiceError("Error: red burst \(burst) is too small; try burst \(1 + qmin / avpkt).") }
        guard let w = redEWMA(qmin: qmin, burst: burst, avpkt: avpkt) else { throw SluiceError("Error: red: cannot find a weight for burst \(burst).") }
        return REDQdisc.REDParams(limit: limit, qmin: qmin, qmax: qmax, wlog: w, maxP: maxP, scellLog: nil, ecn: ecn, harddrop: hd,
                                  avpkt: avpkt, burst: burst, bandwidth: bw, nodrop: nodrop, adaptive: adaptive)
    }

    /// tc_red_eval_ewma (tc_red.c): the smallest Wlog below 32 that lets `burst` packets of
    /// `avpkt` bytes into an empty queue before the average reaches `qmin` bytes; nil if none.
    static func redEWMA(qmin: Int, burst: Int, avpkt: Int) -> Int? {
        let a = Double(burst) + 1 - Double(qmin) / Double(avpkt)
        guard a >= 1 else { return nil }
        var w = 1, W = 0.5
        while w < 32 && a > (1 - pow(1 - W, Double(burst))) / W { w += 1; W /= 2 }
        return w < 32 ? w : nil
    }

    /// tc_red_eval_P: Plog such that 2^-Plog over max − min bytes gives `prob`; 0 when the
    /// thresholds are equal, nil when none fits.
    static func redP(qmin: Int, qmax: Int, prob: Double) -> Int? {
        guard qmax != qmin else { return 0 }
        guard qmax > qmin else { return nil }
        var p = prob / Double(qmax - qmin), i = 0
        while i < 32 && p <= 1.0 { p *= 2; i += 1 }
        return i < 32 ? i : nil
    }

    /// q_netem.c's words.
    static func netem(_ q: NetemQdisc, _ a: inout TcArgs) throws(SluiceError) -> NetemQdisc.NetemParams {
        let s = q.params
        var lat = s.latency, jit = s.jitter, dcor = s.delayCorr, dist = s.dist, lossP = s.lossP, lossC = s.lossCorr, ge = s.ge
        var dup = s.dupP, dupC = s.dupCorr, cor = s.corruptP, corC = s.corruptCorr, reo = s.reorderP, reoC = s.reorderCorr
        var gap = s.gap, rate = s.rate, ovh = s.packetOverhead, limit = s.limit, seed = s.seed
        var cellSize = s.cellSize, cellOvh = s.cellOverhead
        var gi = s.gi, ecn = s.ecn, slot = s.slot, slotDist = s.slotDist, reseed = false
        func optPercent(_ a: inout TcArgs) throws(SluiceError) -> Double? {
            guard let v = a.peek, v.last == "%" || Double(v) != nil, !v.isEmpty else { return nil }
            return try a.percent(for: "correlation")
        }
        while let k = a.next() {
            switch k {
            case "delay", "latency":
                lat = try a.time(for: k)
                if let v = a.peek, TcUnits.time(v) != nil, v.first?.isNumber == true { jit = try a.time(for: "jitter")
                    if let c = try optPercent(&a) { dcor = c } }
            case "distribution":
                // q_netem.c: the table NAME.dist from tc's library (TC_LIB_DIR); `uniform`, for
                // which iproute2 ships no table, is netem's own jitter without one.
                let v = try a.value(for: k)
                dist = v == "uniform" ? nil : try NetemQdisc.loadDistribution(v)
            case "loss", "drop":
                if a.peek == "random" { a.i += 1 }
                if a.peek == "gemodel" {
                    a.i += 1
                    // q_netem.c: p [r [1-h [1-k]]], defaults r = 1-p, h = 0 (all lost when bad), k = 0.
                    let p = try a.percent(for: "gemodel p")
                    var r = 1 - p, h = 0.0, kk = 0.0
                    if let x = try optPercent(&a) { r = x; if let y = try optPercent(&a) { h = 1 - y; if let z = try optPercent(&a) { kk = z } } }
                    ge = (p, r, h, kk); lossP = 0; gi = nil
                } else if a.peek == "state" {
                    a.i += 1
                    // q_netem.c: p13 [p31 [p32 [p23 [p14]]]], defaults p31 = 1-p13, p32 = 0,
                    // p23 = 1, p14 = 0.
                    let p13 = try a.percent(for: "loss p13")
                    var g = (p13: p13, p31: 1 - p13, p32: 0.0, p23: 1.0, p14: 0.0)
                    if let x = try optPercent(&a) { g.p31 = x
                        if let x = try optPercent(&a) { g.p32 = x
                            if let x = try optPercent(&a) { g.p23 = x
                                if let x = try optPercent(&a) { g.p14 = x } } } }
                    gi = g; ge = nil; lossP = 0
                } else {
                    lossP = try a.percent(for: k); ge = nil; gi = nil
                    if let c = try optPercent(&a) { lossC = c }
                }
            case "duplicate": dup = try a.percent(for: k); if let c = try optPercent(&a) { dupC = c }
            case "corrupt": cor = try a.percent(for: k); if let c = try optPercent(&a) { corC = c }
            case "reorder": reo = try a.percent(for: k); if let c = try optPercent(&a) { reoC = c }
            case "gap": gap = try a.int(for: k, 1...Int(Int32.max))
            case "rate":
                // q_netem.c: rate [PACKETOVERHEAD [CELLSIZE [CELLOVERHEAD]]].
                rate = try a.rate(for: k)
                if a.peek.map({ Int($0) != nil }) == true { ovh = try a.int(for: "packetoverhead", Int(Int32.min)...Int(Int32.max)) }
                if a.peek.map({ UInt32($0) != nil }) == true { cellSize = try a.int(for: "cellsize", 0...Int(UInt32.max)) }
                if a.peek.map({ Int($0) != nil }) == true { cellOvh = try a.int(for: "celloverhead", Int(Int32.min)...Int(Int32.max)) }
            case "packetoverhead": ovh = try a.int(for: k, -1000...1000)
            case "limit": limit = try a.int(for: k, 1...Int(Int32.max))
            case "seed": seed = UInt64(try a.int(for: k, 0...Int.max)); reseed = true
            case "ecn": ecn = true
            case "slot":
                // q_netem.c: slot MIN [MAX] | slot distribution D DELAY JITTER; [packets N] [bytes N]
                var sl = NetemQdisc.Slot()
                if a.peek == "distribution" {
                    a.i += 1
                    slotDist = try NetemQdisc.loadDistribution(try a.value(for: "slot distribution"))
                    sl.distDelay = try a.time(for: "slot delay")
                    sl.distJitter = try a.time(for: "slot jitter")
                    guard sl.distJitter > 0 else { throw SluiceError("Error: Non-positive jitter") }
                } else {
                    sl.minDelay = try a.time(for: "slot min_delay")
                    if let v = a.peek, v.first?.isNumber == true, TcUnits.time(v) != nil {
                        sl.maxDelay = try a.time(for: "slot max_delay")
                        guard sl.maxDelay >= sl.minDelay else { throw SluiceError("Error: Illegal \"slot max_delay\"") }
                    } else {
                        sl.maxDelay = sl.minDelay
                    }
                }
                if a.peek == "packets" { a.i += 1; sl.maxPackets = try a.int(for: "slot packets", 0...Int(Int32.max)) }
                if a.peek == "bytes" { a.i += 1; sl.maxBytes = min(try a.size(for: "slot bytes"), Int(Int32.max)) }
                slot = sl
            case "cellsize": cellSize = try a.int(for: k, 0...Int(UInt32.max))
            case "celloverhead": cellOvh = try a.int(for: k, Int(Int32.min)...Int(Int32.max))
            default: throw SluiceError("Error: unknown netem option \"\(k)\"")
            }
        }
        var np = NetemQdisc.NetemParams(latency: lat, jitter: jit, delayCorr: dcor, dist: dist, lossP: lossP, lossCorr: lossC, ge: ge,
                                        dupP: dup, dupCorr: dupC, corruptP: cor, corruptCorr: corC, reorderP: reo, reorderCorr: reoC,
                                        gap: gap, rate: rate, packetOverhead: ovh, limit: limit, seed: seed, gi: gi, ecn: ecn, slot: slot)
        np.cellSize = cellSize; np.cellOverhead = cellOvh; np.slotDist = slotDist; np.reseed = reseed
        return np
    }
}
