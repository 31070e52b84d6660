/// The `tc` half of the command language:
///   qdisc add|replace|change|del dev D (root | parent X:Y) [handle H:] KIND [OPTIONS]
///   qdisc show [dev D]                      (-s statistics)
///   class add|change|replace|del dev D parent X:[Y] classid X:Y KIND [OPTIONS]
///   class show dev D
///   filter add|del dev D parent X: [protocol P] [prio N] KIND … (flowid|classid X:Y | action drop)
///   filter show dev D [parent X:]
/// A qdisc is built and configured whole before it is grafted, so a bad option changes nothing.
extension CommandRunner {
    static let qdiscKinds = ["pfifo", "bfifo", "pfifo_head_drop", "pfifo_fast", "prio", "tbf", "htb", "codel", "fq_codel", "netem", "sfq", "red", "drr"]

    func makeQdisc(_ kind: String, handle: TcHandle, parent: TcHandle, dev: NetDevice, _ a: inout TcArgs) throws(SluiceError) -> Qdisc {
        let env = dp.qdiscEnv(dev)
        let q: Qdisc
        switch kind {
        case "pfifo", "bfifo", "pfifo_head_drop": q = FifoQdisc(kind: kind, handle: handle, parent: parent, env: env)
        case "pfifo_fast": q = PfifoFastQdisc(handle: handle, parent: parent, env: env)
        case "prio": q = PrioQdisc(handle: handle, parent: parent, env: env)
        case "tbf": q = TBFQdisc(handle: handle, parent: parent, env: env)
        case "htb": q = HTBQdisc(handle: handle, parent: parent, env: env)
        case "codel": q = CoDelQdisc(handle: handle, parent: parent, env: env)
        case "fq_codel": q = FQCoDelQdisc(handle: handle, parent: parent, env: env)
        case "netem": q = NetemQdisc(handle: handle, parent: parent, env: env)
        case "sfq": q = SFQQdisc(handle: handle, parent: parent, env: env)
        case "red": q = REDQdisc(handle: handle, parent: parent, env: env)
        case "drr": q = DRRQdisc(handle: handle, parent: parent, env: env)
        case "ingress", "clsact":
            throw SluiceError("Error: qdisc kind \"\(kind)\" is not implemented in Sluice yet.")
        default: throw SluiceError("Error: Specified qdisc kind is unknown.")
        }
        try q.change(&a)
        q.attached()
        return q
    }

    /// Every qdisc of the device, root first, depth first.
    func qdiscTree(_ dev: NetDevice) -> [Qdisc] {
        var out: [Qdisc] = []
        func walk(_ q: Qdisc) { out.append(q); for c in q.childQdiscs() { walk(c) } }
        walk(dev.qdisc)
        return out
    }

    func findQdisc(_ dev: NetDevice, major: UInt16) -> Qdisc? {
        qdiscTree(dev).first { $0.handle.major == major && $0.handle != .unspec }
    }

    func tcDevice(_ a: inout TcArgs) throws(SluiceError) -> NetDevice {
        guard a.peek == "dev" else { throw SluiceError("Error: \"dev\" is required.") }
        a.i += 1
        return try device(try a.value(for: "dev"))
    }

    struct TcTarget { var dev: NetDevice; var parent: TcHandle?; var handle: TcHandle?; var classid: TcHandle?
        var kind: String?; var proto: UInt16 = 3; var prio: UInt16? }

    /// Reads the words that locate an object (dev, root, parent, handle, classid, protocol, prio)
    /// up to the kind.
    func tcTarget(_ a: inout TcArgs, kindRequired: Bool, filter: Bool = false) throws(SluiceError) -> TcTarget {
        var dev: NetDevice?
        var t = TcTarget(dev: dp.allDevices.first!)
        while let k = a.next() {
            switch k {
            case "dev": dev = try device(try a.value(for: "dev"))
            case "root": t.parent = .root
            case "parent": t.parent = try TcHandle.parse(try a.value(for: k))
            case "handle": let v = try a.value(for: k)
                if let h = try? TcHandle.parse(v) { t.handle = h } else if let n = UInt32(v.split(separator: "/").first ?? "", radix: 10) ?? UInt32(v.hasPrefix("0x") ? String(v.dropFirst(2)) : "", radix: 16) {
                    t.handle = TcHandle(raw: n)
                } else { throw SluiceError("Error: invalid handle \"\(v)\"") }
            case "classid": t.classid = try TcHandle.parse(try a.value(for: k))
            case "protocol" where filter, "proto" where filter:
                let v = try a.value(for: k)
                switch v {
                case "all": t.proto = 3
                case "ip": t.proto = EtherType.ipv4
                case "ipv6": t.proto = EtherType.ipv6
                case "arp": t.proto = EtherType.arp
                case "802.1q", "802.1Q": t.proto = EtherType.vlan
                default:
                    guard let n = UInt16(v.hasPrefix("0x") ? String(v.dropFirst(2)) : v, radix: 16) else { throw SluiceError("Error: unknown protocol \"\(v)\"") }
                    t.proto = n
                }
            case "prio" where filter, "pref" where filter, "priority" where filter: t.prio = UInt16(try a.int(for: k, 1...0xFFFF))
            case "estimator", "stab": throw SluiceError("Error: \"\(k)\" is not supported by Sluice yet.")
            default:
                t.kind = k
                guard let dev else { throw SluiceError("Error: \"dev\" is required.") }
                t.dev = dev
                return t
            }
        }
        guard let dev else { throw SluiceError("Error: \"dev\" is required.") }
        t.dev = dev
        if kindRequired { throw SluiceError("Error: a qdisc/class/filter kind is required.") }
        return t
    }

    // MARK: qdisc

    func qdisc(_ w: [String], _ opts: Options) throws(SluiceError) -> String {
        guard let verb = w.first else { return try qdiscShow(nil, opts) }
        var a = TcArgs(Array(w.dropFirst()))
        switch try match(verb, ["add", "replace", "change", "delete", "show", "list", "link"], what: "qdisc command") {
        case "show", "list":
            var d: NetDevice?
            if a.peek == "dev" { d = try tcDevice(&a) }
            return try qdiscShow(d, opts)
        case "delete":
            let t = try tcTarget(&a, kindRequired: false)
            try qdiscDelete(t)
            return ""
        case let op:
            let t = try tcTarget(&a, kindRequired: op != "change")
            try qdiscAdd(t, &a, op: op)
            return ""
        }
    }

    func qdiscAdd(_ t: TcTarget, _ a: inout TcArgs, op: String) throws(SluiceError) {
        let dev = t.dev
        let parent = t.parent ?? (t.handle.flatMap { h in qdiscTree(dev).first { $0.handle == h }?.parent } ?? .root)
        // The qdisc that sits at `parent` now.
        let current: Qdisc?
        var owner: Qdisc?
        if parent == .root {
            current = dev.qdisc
        } else {
            guard let o = findQdisc(dev, major: parent.major), o.isClassful else { throw SluiceError("Error: Failed to find specified qdisc.") }
            owner = o
            current = o.childQdiscs().first { $0.parent == parent }
        }
        if op == "change" {
            guard let cur = current, t.handle == nil || cur.handle == t.handle!, t.kind == nil || t.kind == cur.kind else {
                throw SluiceError("Error: Specified qdisc not found.")
            }
            try cur.change(&a)
            return
        }
        guard let kind = t.kind else { throw SluiceError("Error: a qdisc kind is required.") }
        let userOwned = current.map { $0.handle != .unspec } ?? false
        if op == "add" && userOwned {
            throw SluiceError("Error: Exclusivity flag on, cannot modify.")
        }
        if op == "replace", let cur = current, userOwned, cur.kind == kind, t.handle == nil || t.handle == cur.handle {
            try cur.change(&a)
            return
        }
        var handle = t.handle ?? .unspec
        if handle.minor != 0 { throw SluiceError("Error: a qdisc handle has no minor number (\(handle)).") }
        let used = Set(qdiscTree(dev).filter { $0 !== current }.map(\.handle.major))
        if handle == .unspec {
            var m: UInt16 = 0x8001
            while used.contains(m) { m += 1 }
            handle = TcHandle(m, 0)
        } else if used.contains(handle.major) {
            throw SluiceError("Error: handle \(handle) is already in use on \(dev.name).")
        }
        let q = try makeQdisc(kind, handle: handle, parent: parent, dev: dev, &a)
        // Graft; the old qdisc's packets are dropped and counted, as qdisc_graft + destroy do.
        if let owner {
            let old = try owner.graft(parent, q)
            let n = old.statsSnapshot().qlen
            old.reset()
            owner.stats.drops &+= UInt64(n)
        } else {
            let old = dev.qdisc!
            let n = old.statsSnapshot().qlen
            old.reset()
            if n > 0 { dev.stats.txDropped &+= UInt64(n); dp.log("\(dev.name): qdisc \(old.kind) replaced: \(n) queued packets dropped") }
            dev.qdisc = q
        }
        dev.txTimer = 0
    }

    func qdiscDelete(_ t: TcTarget) throws(SluiceError) {
        let dev = t.dev
        let parent = t.parent ?? .root
        if parent == .root {
            let old = dev.qdisc!
            guard old.handle != .unspec else { throw SluiceError("Error: Cannot delete qdisc with handle of zero.") }
            if let h = t.handle, h != old.handle { throw SluiceError("Error: Specified qdisc not found.") }
            let n = old.statsSnapshot().qlen
            old.reset()
            dev.stats.txDropped &+= UInt64(n)
            dev.qdisc = dp.defaultQdisc(for: dev)
            return
        }
        guard let owner = findQdisc(dev, major: parent.major), owner.isClassful else { throw SluiceError("Error: Failed to find specified qdisc.") }
        let q = FifoQdisc(kind: "pfifo", handle: .unspec, parent: parent, env: dp.qdiscEnv(dev))
        let old = try owner.graft(parent, q)
        owner.stats.drops &+= UInt64(old.statsSnapshot().qlen)
        old.reset()
    }

    func statsText(_ s: QdiscStats) -> String {
        " Sent \(s.bytes) bytes \(s.packets) pkt (dropped \(s.drops), overlimits \(s.overlimits) requeues \(s.requeues)) \n backlog \(TcFormat.size(Int(s.backlog))) \(s.qlen)p requeues \(s.requeues)\n"
    }

    func qdiscShow(_ only: NetDevice?, _ opts: Options) throws(SluiceError) -> String {
        var out = ""
        for dev in only.map({ [$0] }) ?? dp.allDevices {
            for q in qdiscTree(dev) {
                if q !== dev.qdisc && q.handle == .unspec { continue }   // built-in leaf qdiscs are not listed
                let place = q === dev.qdisc ? "root" : "parent \(q.parent)"
                let o = q.dumpOptions()
                out += "qdisc \(q.kind) \(q.handle) dev \(dev.name) \(place) refcnt 2\(o.isEmpty ? "" : " " + o)\n"
                if opts.stats > 0 {
                    out += statsText(q.statsSnapshot())
                    let x = q.dumpXstats()
                    if !x.isEmpty { out += x + "\n" }
                }
            }
        }
        return out
    }

    // MARK: class

    func tcClass(_ w: [String], _ opts: Options) throws(SluiceError) -> String {
        guard let verb = w.first else { throw SluiceError("Error: class needs a command (add, change, replace, del, show)") }
        var a = TcArgs(Array(w.dropFirst()))
        switch try match(verb, ["add", "replace", "change", "delete", "show", "list"], what: "class command") {
        case "show", "list":
            let t = try tcTarget(&a, kindRequired: false)
            return classShow(t.dev, opts)
        case "delete":
            let t = try tcTarget(&a, kindRequired: false)
            guard let id = t.classid else { throw SluiceError("Error: \"classid\" is required.") }
            guard let owner = findQdisc(t.dev, major: id.major) else { throw SluiceError("Error: Failed to find specified qdisc.") }
            try owner.deleteClass(id)
            return ""
        case let op:
            let t = try tcTarget(&a, kindRequired: true)
            guard let id = t.classid else { throw SluiceError("Error: \"classid\" is required.") }
            guard let parent = t.parent else { throw SluiceError("Error: \"parent\" is required.") }
            guard let owner = findQdisc(t.dev, major: id.major) else { throw SluiceError("Error: Failed to find specified qdisc.") }
            guard owner.isClassful, owner.kind == t.kind else {
                throw SluiceError("Error: qdisc \(owner.handle) is \(owner.kind), not a classful \(t.kind ?? "?")")
            }
            try owner.addClass(id, parent: parent, &a, replace: op != "add")
            return ""
        }
    }

    func classShow(_ dev: NetDevice, _ opts: Options) -> String {
        var out = ""
        for q in qdiscTree(dev) where q.isClassful {
            for c in q.classes() {
                var line = "class \(q.kind) \(c.classid) "
                line += c.options.isEmpty ? "parent \(c.parent)" : c.options
                if let l = c.leaf, l.handle != .unspec { line += " leaf \(l.handle)" }
                out += line + " \n"
                if opts.stats > 0 {
                    out += statsText(c.stats)
                    if !c.xstats.isEmpty { out += c.xstats + "\n" }
                }
            }
        }
        return out
    }

    // MARK: filter

    func tcFilter(_ w: [String], _ opts: Options) throws(SluiceError) -> String {
        guard let verb = w.first else { throw SluiceError("Error: filter needs a command (add, del, show)") }
        var a = TcArgs(Array(w.dropFirst()))
        switch try match(verb, ["add", "replace", "delete", "show", "list"], what: "filter command") {
        case "show", "list":
            let t = try tcTarget(&a, kindRequired: false, filter: true)
            return filterShow(t)
        case "delete":
            let t = try tcTarget(&a, kindRequired: false, filter: true)
            let parent = t.parent ?? dev0(t).qdisc.handle
            guard let owner = findQdisc(t.dev, major: parent.major) else { throw SluiceError("Error: Failed to find specified qdisc.") }
            let before = owner.filters.filters.count
            owner.filters.filters.removeAll { (t.prio == nil || $0.prio == t.prio!) && (t.proto == 3 || $0.proto == t.proto) }
            if owner.filters.filters.count == before { throw SluiceError("Error: Filter with specified priority/protocol not found.") }
            return ""
        default:
            let t = try tcTarget(&a, kindRequired: true, filter: true)
            let parent = t.parent ?? t.dev.qdisc.handle
            guard let owner = findQdisc(t.dev, major: parent.major) else { throw SluiceError("Error: Failed to find specified qdisc.") }
            var f = TcFilter(prio: t.prio ?? UInt16(49152 - owner.filters.filters.count), proto: t.proto, handle: t.handle?.raw ?? 0,
                             kind: t.kind!, match: .all, result: nil)
            try parseFilter(&f, &a, handle: t.handle)
            owner.filters.add(f)
            return ""
        }
    }

    func dev0(_ t: TcTarget) -> NetDevice { t.dev }

    func parseFilter(_ f: inout TcFilter, _ a: inout TcArgs, handle: TcHandle?) throws(SluiceError) {
        var keys: [(value: UInt32, mask: UInt32, offset: Int, l4: Bool)] = []
        switch f.kind {
        case "matchall": f.match = .all
        case "fw":
            let h = handle?.raw ?? 0
            f.match = .fw(mark: h, mask: 0xFFFF_FFFF)
        case "u32": break
        case "flower", "basic", "bpf", "flow", "route":
            throw SluiceError("Error: filter kind \"\(f.kind)\" is not implemented in Sluice yet.")
        default: throw SluiceError("Error: Specified filter kind is unknown.")
        }
        while let k = a.next() {
            switch k {
            case "flowid", "classid":
                f.result = .classid(try TcHandle.parse(try a.value(for: k)))
            case "action":
                let v = try a.value(for: k)
                let verdict = v == "gact" ? try a.value(for: "gact") : v
                switch verdict {
                case "drop", "shot": f.result = .drop
                default: throw SluiceError("Error: action \"\(v)\" is not implemented in Sluice yet (drop is).")
                }
            case "match" where f.kind == "u32":
                keys.append(contentsOf: try parseU32Match(&a))
            case "mask" where f.kind == "fw":
                guard case .fw(let m, _) = f.match else { break }
                let v = try a.value(for: k)
                guard let mask = UInt32(v.hasPrefix("0x") ? String(v.dropFirst(2)) : v, radix: v.hasPrefix("0x") ? 16 : 10) else {
                    throw SluiceError("Error: Illegal \"mask\" \"\(v)\"")
                }
                f.match = .fw(mark: m, mask: mask)
            default: throw SluiceError("Error: unknown \(f.kind) filter argument \"\(k)\"")
            }
        }
        if f.kind == "u32" {
            guard !keys.isEmpty else { throw SluiceError("Error: u32 needs at least one \"match\".") }
            f.match = .u32(keys)
        }
        guard f.result != nil else { throw SluiceError("Error: the filter needs \"flowid X:Y\", \"classid X:Y\" or \"action drop\".") }
    }

    /// u32 selectors: ip src/dst/sport/dport/protocol/tos, and u32/u16/u8 VALUE MASK at OFFSET.
    func parseU32Match(_ a: inout TcArgs) throws(SluiceError) -> [(value: UInt32, mask: UInt32, offset: Int, l4: Bool)] {
        func num(_ s: String, _ what: String) throws(SluiceError) -> UInt32 {
            let v = s.hasPrefix("0x") ? UInt32(s.dropFirst(2), radix: 16) : UInt32(s)
            guard let v else { throw SluiceError("Error: Illegal \(what) \"\(s)\"") }
            return v
        }
        func sub(width: Int, _ value: UInt32, _ mask: UInt32, at off: Int, l4: Bool) -> (value: UInt32, mask: UInt32, offset: Int, l4: Bool) {
            let aligned = off & ~3
            let shift = UInt32(32 - width - (off & 3) * 8)
            let m = (width == 32 ? mask : mask & ((1 << UInt32(width)) - 1)) << shift
            return ((value << shift) & m, m, aligned, l4)
        }
        let sel = try a.value(for: "match")
        switch sel {
        case "ip":
            let field = try a.value(for: "match ip")
            switch field {
            case "src", "dst":
                let v = try a.value(for: field)
                let parts = v.split(separator: "/")
                let octets = parts[0].split(separator: ".").compactMap { UInt32($0) }
                guard octets.count == 4, octets.allSatisfy({ $0 < 256 }) else { throw SluiceError("Error: Illegal address \"\(v)\"") }
                let plen = parts.count > 1 ? Int(parts[1]) ?? -1 : 32
                guard (0...32).contains(plen) else { throw SluiceError("Error: Illegal prefix length in \"\(v)\"") }
                let addr = octets[0] << 24 | octets[1] << 16 | octets[2] << 8 | octets[3]
                let mask: UInt32 = plen == 0 ? 0 : ~UInt32(0) << UInt32(32 - plen)
                return [(addr & mask, mask, field == "src" ? 12 : 16, false)]
            case "sport", "dport":
                let v = try num(try a.value(for: field), field)
                let m = a.peek.flatMap { UInt32($0.hasPrefix("0x") ? String($0.dropFirst(2)) : $0, radix: $0.hasPrefix("0x") ? 16 : 10) }
                if m != nil { a.i += 1 }
                return [sub(width: 16, v, m ?? 0xFFFF, at: field == "sport" ? 0 : 2, l4: true)]
            case "protocol":
                let v = try num(try a.value(for: field), field)
                let m = try num(try a.value(for: "protocol mask"), "mask")
                return [sub(width: 8, v, m, at: 9, l4: false)]
            case "tos", "dsfield":
                let v = try num(try a.value(for: field), field)
                let m = try num(try a.value(for: "tos mask"), "mask")
                return [sub(width: 8, v, m, at: 1, l4: false)]
            default: throw SluiceError("Error: unknown \"match ip\" field \"\(field)\" (src, dst, sport, dport, protocol, tos)")
            }
        case "u32", "u16", "u8":
            let width = sel == "u32" ? 32 : (sel == "u16" ? 16 : 8)
            let v = try num(try a.value(for: sel), "value")
            let m = try num(try a.value(for: "mask"), "mask")
            guard a.next() == "at" else { throw SluiceError("Error: \"match \(sel)\" needs \"at OFFSET\"") }
            var offText = try a.value(for: "at")
            var l4 = false
            if offText == "nexthdr+" || offText.hasPrefix("nexthdr+") { l4 = true; offText = String(offText.dropFirst("nexthdr+".count)); if offText.isEmpty { offText = try a.value(for: "nexthdr+") } }
            guard let off = Int(offText), off >= 0, off < 1 << 16 else { throw SluiceError("Error: Illegal offset \"\(offText)\"") }
            if width == 16 && off % 2 != 0 { throw SluiceError("Error: u16 offset \(off) is not 2-byte aligned") }
            if width == 32 && off % 4 != 0 { throw SluiceError("Error: u32 offset \(off) is not 4-byte aligned") }
            return [sub(width: width, v, m, at: off, l4: l4)]
        default: throw SluiceError("Error: unknown u32 selector \"\(sel)\" (ip, u32, u16, u8)")
        }
    }

    func filterShow(_ t: TcTarget) -> String {
        var out = ""
        for q in qdiscTree(t.dev) where !q.filters.isEmpty {
            if let p = t.parent, p.major != q.handle.major { continue }
            for f in q.filters.filters {
                let proto: String
                switch f.proto {
                case 3: proto = "all"
                case EtherType.ipv4: proto = "ip"
                case EtherType.ipv6: proto = "ipv6"
                case EtherType.arp: proto = "arp"
                default: proto = "0x" + String(f.proto, radix: 16)
                }
                var line = "filter parent \(q.handle) protocol \(proto) pref \(f.prio) \(f.kind)"
                switch f.match {
                case .fw(let m, let mask): line += " handle 0x\(String(m, radix: 16))" + (mask == 0xFFFF_FFFF ? "" : "/0x\(String(mask, radix: 16))")
                case .u32(let keys): for k in keys { line += " match \(String(format08(k.value)))/\(String(format08(k.mask))) at \(k.l4 ? "nexthdr+" : "")\(k.offset)" }
                case .all: break
                }
                switch f.result {
                case .classid(let c)?: line += " flowid \(c)"
                case .drop?: line += " action drop"
                case nil: break
                }
                out += line + "\n"
            }
        }
        return out
    }

    func format08(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 8 - s.count)) + s
    }
}
