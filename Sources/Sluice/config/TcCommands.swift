#if canImport(Glibc)
import Glibc
#endif

/// The `tc` half of the command language:
///   qdisc add|replace|change|del dev D (root | parent X:Y) [handle H:] KIND [OPTIONS]
///   qdisc show [dev D]                      (-s statistics)
///   class add|change|replace|del dev D parent X:[Y] classid X:Y KIND [OPTIONS]
///   class show dev D
///   filter add|del dev D parent X: [protocol P] [prio N] KIND … (flowid|classid X:Y | action drop)
///   filter show dev D [parent X:]
/// A qdisc is built and configured whole before it is grafted, so a bad option changes nothing.
extension CommandRunner {
    static let qdiscKinds = ["pfifo", "bfifo", "pfifo_head_drop", "pfifo_fast", "prio", "tbf", "htb", "codel", "fq_codel", "netem", "sfq", "red", "drr", "pie", "fq_pie", "fq", "hfsc", "ets", "skbprio", "plug", "choke", "hhf", "sfb", "cake", "cbs", "qfq", "gred", "etf", "noqueue", "mq", "multiq", "mqprio", "taprio", "teql0"]

    /// A qdisc of `kind` with its defaults, not yet configured.
    func newQdisc(_ kind: String, handle: TcHandle, parent: TcHandle, dev: NetDevice) throws(SluiceError) -> Qdisc {
        let env = dp.qdiscEnv(dev)
        let q: Qdisc
        switch kind {
        case "pfifo", "bfifo", "pfifo_head_drop": q = FifoQdisc(kind: kind, handle: handle, parent: parent, env: env)
        case "pfifo_fast": q = PfifoFastQdisc(handle: handle, parent: parent, env: env)
        case "noqueue":
            guard parent == .root else { throw SluiceError("Error: noqueue can only be the root qdisc.") }
            q = NoqueueQdisc(handle: handle, env: env)
        case "prio": q = PrioQdisc(handle: handle, parent: parent, env: env)
        case "tbf": q = TBFQdisc(handle: handle, parent: parent, env: env)
        case "htb": q = HTBQdisc(handle: handle, parent: parent, env: env)
        case "codel": q = CoDelQdisc(handle: handle, parent: parent, env: env)
        case "fq_codel": q = FQCoDelQdisc(handle: handle, parent: parent, env: env)
        case "netem": q = NetemQdisc(handle: handle, parent: parent, env: env)
        case "sfq": q = SFQQdisc(handle: handle, parent: parent, env: env)
        case "red": q = REDQdisc(handle: handle, parent: parent, env: env)
        case "drr": q = DRRQdisc(handle: handle, parent: parent, env: env)
        case "pie": q = PIEQdisc(handle: handle, parent: parent, env: env)
        case "fq_pie": q = FQPIEQdisc(handle: handle, parent: parent, env: env)
        case "fq": q = FQQdisc(handle: handle, parent: parent, env: env)
        case "hfsc": q = HFSCQdisc(handle: handle, parent: parent, env: env)
        case "ets": q = ETSQdisc(handle: handle, parent: parent, env: env)
        case "skbprio": q = SkbprioQdisc(handle: handle, parent: parent, env: env)
        case "plug": q = PlugQdisc(handle: handle, parent: parent, env: env)
        case "teql0":
            // teql_qdisc_init's order: not the master itself (ELOOP), root only, then the
            // slave must suit a master that is up.
            let master = try dp.teqlMaster()
            if dev === master { throw SluiceError("RTNETLINK answers: Too many levels of symbolic links") }
            guard parent == .root else { throw SluiceError("Error: sch_teql: teql can only be used as root.") }
            try (master.driver as! TeqlDriver).admit(dp, master: master, dev: dev)
            q = TeqlQdisc(handle: handle, parent: parent, env: env)
        case "choke": q = ChokeQdisc(handle: handle, parent: parent, env: env)
        case "hhf": q = HHFQdisc(handle: handle, parent: parent, env: env)
        case "sfb": q = SFBQdisc(handle: handle, parent: parent, env: env)
        case "cake": q = CakeQdisc(handle: handle, parent: parent, env: env)
        case "cbs": q = CBSQdisc(handle: handle, parent: parent, env: env)
        case "qfq": q = QFQQdisc(handle: handle, parent: parent, env: env)
        case "gred": q = GREDQdisc(handle: handle, parent: parent, env: env)
        case "etf": q = ETFQdisc(handle: handle, parent: parent, env: env)
        case "mq":
            // mq_init: only as the root of a multiqueue device (EOPNOTSUPP, no message).
            guard parent == .root, dev.numTxQueues > 1 else { throw SluiceError("RTNETLINK answers: Operation not supported") }
            let m = MQQdisc(handle: handle, parent: parent, env: env)
            m.populate { i in dp.defaultQdisc(for: dev, kind: i < dev.realNumTxQueues ? nil : "pfifo_fast", queue: true) }
            q = m
        case "multiq":
            // multiq_tune: a multiqueue device only (EOPNOTSUPP, no message).
            guard dev.numTxQueues > 1 else { throw SluiceError("RTNETLINK answers: Operation not supported") }
            q = MultiqQdisc(handle: handle, parent: parent, env: env)
        case "mqprio":
            // mqprio_init: only as the root of a multiqueue device (EOPNOTSUPP, no message).
            guard parent == .root, dev.numTxQueues > 1 else { throw SluiceError("RTNETLINK answers: Operation not supported") }
            let m = MQQdisc(kind: "mqprio", handle: handle, parent: parent, env: env)
            m.populate { i in dp.defaultQdisc(for: dev, kind: i < dev.realNumTxQueues ? nil : "pfifo_fast", queue: true) }
            q = m
        case "taprio":
            // taprio_init: the root of a multiqueue device only.
            guard parent == .root else { throw SluiceError("Error: sch_taprio: Can only be attached as root qdisc (Operation not supported)") }
            guard dev.numTxQueues > 1 else { throw SluiceError("Error: sch_taprio: Multi-queue device is required (Operation not supported)") }
            q = TaprioQdisc(handle: handle, parent: parent, env: env)
        case "ingress", "clsact":
            throw SluiceError("Error: qdisc kind \"\(kind)\" is not implemented in Sluice yet.")
        default: throw SluiceError("Error: Specified qdisc kind is unknown.")
        }
        return q
    }

    /// The order tc_dump_qdisc_root lists a device's qdiscs (and tc_dump_tclass their classes):
    /// the root, then the device's qdisc hash — 16 buckets by hash_32(handle, 4), bucket by
    /// bucket, in each the one hashed last first (hlist_add_head at qdisc_create).
    func qdiscDumpOrder(_ dev: NetDevice) -> [Qdisc] {
        let tree = qdiscTree(dev)
        guard let root = tree.first else { return [] }
        @inline(__always) func bucket(_ q: Qdisc) -> UInt32 { (q.handle.raw &* 0x61C8_8647) >> 28 }
        return [root] + tree.dropFirst().sorted { (bucket($0), $1.hashSeq) < (bucket($1), $0.hashSeq) }
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

    /// qdisc_lookup: the device's qdisc of this handle, the ingress (or clsact) one included.
    func lookupQdisc(_ dev: NetDevice, major: UInt16) -> Qdisc? {
        findQdisc(dev, major: major) ?? dev.ingress.flatMap { $0.handle.major == major ? $0 : nil }
    }

    func tcDevice(_ a: inout TcArgs) throws(SluiceError) -> NetDevice {
        guard a.peek == "dev" else { throw SluiceError("Error: \"dev\" is required.") }
        a.i += 1
        return try device(try a.value(for: "dev"))
    }

    struct TcTarget { var dev: NetDevice; var parent: TcHandle?; var handle: TcHandle?; var classid: TcHandle?
        var kind: String?; var proto: UInt16 = 3; var prio: UInt16?; var chain: UInt32 = 0
        var protoGiven = false; var chainGiven = false
        /// A size table given with `stab …` before the kind.
        var stab: SizeTable?
        /// `estimator INTERVAL TIME_CONST` before the kind, as tc sends it (struct tc_estimator).
        var estimator: [UInt8]?
        /// The handle as written (a u32 handle is table:bucket:node, parsed once the kind is known).
        var handleText: String? }

    /// Reads the words that locate an object (dev, root, parent, handle, classid, protocol, prio)
    /// up to the kind.
    func tcTarget(_ a: inout TcArgs, kindRequired: Bool, filter: Bool = false) throws(SluiceError) -> TcTarget {
        var dev: NetDevice?
        var t = TcTarget(dev: dp.allDevices.first!)
        while let k = a.next() {
            switch k {
            case "dev": dev = try device(try a.value(for: "dev"))
            case "root": t.parent = .root
            case "ingress" where !filter, "clsact" where !filter:
                t.kind = k; t.parent = .ingress; t.handle = TcHandle(0xFFFF, 0)      // as tc sends them
                guard let dev else { throw SluiceError("Error: \"dev\" is required.") }
                t.dev = dev
                return t
            case "ingress" where filter: t.parent = TcHandle(raw: 0xFFFF_FFF2)
            case "egress" where filter: t.parent = TcHandle(raw: 0xFFFF_FFF3)
            case "chain" where filter: t.chain = UInt32(try a.int(for: k, 0...Int(UInt32.max))); t.chainGiven = true
            case "parent": t.parent = try TcHandle.parse(try a.value(for: k))
            case "handle": let v = try a.value(for: k)
                t.handleText = v
                if v.filter({ $0 == ":" }).count == 2 { t.handle = TcHandle(raw: 0); continue }   // u32's X:Y:Z, read later
                if let h = try? TcHandle.parse(v) { t.handle = h } else if let n = UInt32(v.split(separator: "/").first ?? "", radix: 10) ?? UInt32(v.hasPrefix("0x") ? String(v.dropFirst(2)) : "", radix: 16) {
                    t.handle = TcHandle(raw: n)
                } else { throw SluiceError("Error: invalid handle \"\(v)\"") }
            case "classid": t.classid = try TcHandle.parse(try a.value(for: k))
            case "protocol" where filter, "proto" where filter:
                let v = try a.value(for: k)
                t.protoGiven = true
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
            case "stab" where !filter: t.stab = try SizeTable.parse(&a)
            case "estimator" where !filter: t.estimator = try Self.estimator(&a)
            case "estimator": throw SluiceError("Error: \"\(k)\" is not supported by Sluice yet.")
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
            // tc_qdisc_list: dev, then one of root, ingress|clsact, parent ID, handle ID (tc
            // filters the dump by them), and invisible (the built-in defaults too).
            var d: NetDevice?
            var filter = QdiscShowFilter()
            while let w = a.next() {
                switch w {
                case "dev": a.i -= 1; d = try tcDevice(&a)
                case "root", "ingress", "clsact", "parent", "handle":
                    if filter.parent != nil { throw SluiceError("Error: argument \"\(w)\" is wrong: parent is already specified") }
                    if filter.handle != nil { throw SluiceError("Error: argument \"\(w)\" is wrong: handle is already specified") }
                    switch w {
                    case "root": filter.parent = TcHandle.root.raw
                    case "ingress", "clsact": filter.parent = 0xFFFF_FFF1
                    case "parent": filter.parent = try TcHandle.parse(try a.value(for: w)).raw
                    default: filter.handle = try TcHandle.parse(try a.value(for: w)).raw
                    }
                case "invisible": filter.invisible = true
                default: throw SluiceError("Error: What is \"\(w)\"? Try \"tc qdisc help\".")
                }
            }
            return try qdiscShow(d, opts, filter: filter)
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

    /// `tc qdisc add|replace|change` in tc's words.
    func qdiscAdd(_ t: TcTarget, _ a: inout TcArgs, op: String) throws(SluiceError) {
        if t.kind == "ingress" || t.kind == "clsact" {
            guard a.done else { throw SluiceError("Error: qdisc \(t.kind!) takes no options") }
        }
        let o: QdiscOp = op == "add" ? .add : (op == "change" ? .change : .replace)
        try modifyQdisc(dev: t.dev, parent: t.parent, handle: t.handle, kind: t.kind, op: o, options: !a.done) { (q: Qdisc) throws(SluiceError) in
            if t.stab != nil && q !== t.dev.qdisc && q.parent != .root {
                throw SluiceError("Error: Sluice applies size tables at the root qdisc only (the kernel also at inner ones).")
            }
            try QdiscGrammar.change(q, &a)
            q.sizeTable = t.stab
            if let e = t.estimator { try dp.attachEstimator(q, e[...], create: o == .add) }
        }
    }

    /// tc's parse_estimator and tc_setup_estimator: the sampling interval is the smallest of
    /// 250 ms × 2^0…5 not below INTERVAL (sent as −2…3), the EWMA's log the last one whose
    /// time constant INTERVAL / −ln(1 − 2^−log) stays within TIME_CONST.
    static func estimator(_ a: inout TcArgs) throws(SluiceError) -> [UInt8] {
        let interval = try a.time(for: "estimator") / 1000, constant = try a.time(for: "estimator") / 1000   // µs
        guard var i = (0...5).first(where: { interval <= UInt64(250_000) << UInt64($0) }) else {
            throw SluiceError("Error: estimator interval \(interval)us is above 8s.")
        }
        i -= 2
        var ewma = 1
        while ewma < 32 {
            let w = 1.0 - 1.0 / Double(UInt64(1) << UInt64(ewma))
            if Double(interval) / -log(w) > Double(constant) { break }
            ewma += 1
        }
        ewma -= 1
        guard ewma > 0, ewma < 31 else { throw SluiceError("Error: Illegal \"estimator\": the time constant is out of range for the interval.") }
        return [UInt8(bitPattern: Int8(i)), UInt8(ewma)]
    }

    /// tc qdisc add (NLM_F_CREATE|NLM_F_EXCL), replace (NLM_F_CREATE|NLM_F_REPLACE), change (no
    /// flags): tc_modify_qdisc's rules, for both syntaxes. `configure` applies the options to a
    /// new qdisc or — for change, or replace with the same kind — to the existing one, which
    /// keeps its queue. Nothing changes unless configure succeeds.
    public enum QdiscOp: Sendable { case add, replace, change }

    /// The qdisc kinds Linux has (Qdisc_ops ids), Sluice's or not: under ffff:fff1 any other
    /// is "unknown" before the ingress-only rule is checked.
    static let kernelQdiscKinds: Set<String> = [
        "pfifo", "bfifo", "pfifo_head_drop", "pfifo_fast", "noqueue", "prio", "multiq", "tbf", "htb", "codel", "fq_codel",
        "netem", "sfq", "red", "drr", "pie", "fq_pie", "fq", "hfsc", "ets", "skbprio", "plug", "choke", "hhf", "sfb", "cake",
        "cbs", "qfq", "gred", "etf", "mq", "mqprio", "taprio", "dualpi2", "ingress", "clsact", "teql0"]
    /// Kinds whose Qdisc_ops have no `change` (qdisc_change refuses them, even for a replace
    /// by the same kind and handle).
    static let kindsWithoutChange: Set<String> = ["htb", "pfifo_fast", "drr", "ingress", "clsact", "noqueue", "etf", "mqprio"]
    static let changeUnsupported = SluiceError("Error: Change operation not supported by specified qdisc.")

    func modifyQdisc(dev: NetDevice, parent wanted: TcHandle?, handle wantedHandle: TcHandle?, kind: String?, op: QdiscOp,
                     options: Bool = true, configure: (Qdisc) throws(SluiceError) -> Void) throws(SluiceError) {
        if wanted == .ingress || (wanted == nil && (kind == "ingress" || kind == "clsact")) {
            try modifyIngress(dev: dev, handle: wanted == nil ? TcHandle(0xFFFF, 0) : wantedHandle, kind: kind, op: op, options: options)
            return
        }
        // tc_modify_qdisc, step by step. Without a parent only a change of the qdisc the
        // handle names is possible.
        guard let parent = wanted else {
            guard let h = wantedHandle else { throw SluiceError("Error: Handle cannot be zero.") }
            guard let q = lookupQdisc(dev, major: h.major), h.minor == 0 else { throw SluiceError("Error: Specified qdisc not found.") }
            try changeQdisc(q, kind: kind, op: op, options: options, configure: configure)
            return
        }
        // The qdisc that sits at `parent` now (a default one, handle 0, counts as none).
        let current: Qdisc?
        var owner: Qdisc?
        if parent == .root {
            current = dev.qdisc
        } else {
            guard let o = findQdisc(dev, major: parent.major) else { throw SluiceError("Error: Failed to find specified qdisc.") }
            current = try leafOf(o, parent)
            owner = o
        }
        let sitting = current.flatMap { $0.handle == .unspec ? nil : $0 }
        var needsCreateFlag = true
        if let q = sitting, wantedHandle == nil || q.handle == wantedHandle! {
            // The same handle, or none: a change of it, unless another kind is asked for.
            if let k = kind, k != q.kind, wantedHandle == nil {
                needsCreateFlag = op != .change          // "a hole in the API": change creates
            } else {
                try changeQdisc(q, kind: kind, op: op, options: options, configure: configure)
                return
            }
        } else if let h = wantedHandle {
            if sitting != nil && op != .replace { throw SluiceError("Error: NLM_F_REPLACE needed to override.") }
            if h.minor != 0 { throw SluiceError("Error: Invalid minor handle.") }
            // qdisc_lookup finds the ingress qdisc too (ffff:, under ffff:fff1).
            if let other = lookupQdisc(dev, major: h.major) {
                if other.parent != parent || other === dev.ingress { throw SluiceError("Error: Cannot move an existing qdisc to a different parent.") }
                if op == .add { throw SluiceError("Error: Exclusivity flag on, cannot override.") }
                if let k = kind, k != other.kind { throw SluiceError("Error: Invalid qdisc name: must match existing qdisc.") }
                throw SluiceError("Error: Qdisc parent/child loop detected.")
            }
        }
        if needsCreateFlag && op == .change { throw SluiceError("Error: Qdisc not found. To create specify NLM_F_CREATE flag.") }
        guard let kind else { throw SluiceError("Error: Specified qdisc kind is unknown.") }
        // A handle given is free here (checked above); none is drawn.
        var handle = wantedHandle ?? .unspec
        let used = Set(qdiscTree(dev).filter { $0 !== current }.map(\.handle.major))
        let counter = dp.autoHandle
        if handle == .unspec {
            // qdisc_alloc_handle: one counter for the whole daemon (the kernel's is static),
            // never reusing a handle in use on the device. A qdisc that is not made gives its
            // number back (the text grammar's option errors are tc's own, before any request).
            var m: UInt16 = 0
            for _ in 0..<0x8000 {
                m = dp.allocQdiscHandle()
                if !used.contains(m) { break }
            }
            handle = TcHandle(m, 0)
        }
        let q: Qdisc
        do {
            q = try newQdisc(kind, handle: handle, parent: parent, dev: dev)
            try configure(q)
        } catch {
            dp.autoHandle = counter
            throw error
        }
        q.attached()
        // Graft; the old qdisc's packets are dropped and counted, as qdisc_graft + destroy do.
        if let owner {
            if let old = try owner.graft(parent, q) {
                let n = old.statsSnapshot().qlen
                old.purge()
                owner.stats.drops &+= UInt64(n)
            }
        } else {
            let old = dev.qdisc!
            let n = old.statsSnapshot().qlen
            old.purge()
            if n > 0 { dev.stats.txDropped &+= UInt64(n); dp.log("\(dev.name): qdisc \(old.kind) replaced: \(n) queued packets dropped") }
            dev.qdisc = q
            if let t = q as? TeqlQdisc, let master = dp.device(named: "teql0"), let md = master.driver as? TeqlDriver {
                md.join(dp, master: master, dev: dev, t)
            }
        }
        dev.txTimer = 0
    }

    /// tc_modify_qdisc's change of an existing qdisc: refused with NLM_F_EXCL or another kind;
    /// qdisc_change calls the kind's change only when options come (a kind without one
    /// refuses them), so a replace with the same words and no options changes nothing.
    func changeQdisc(_ q: Qdisc, kind: String?, op: QdiscOp, options: Bool, configure: (Qdisc) throws(SluiceError) -> Void) throws(SluiceError) {
        if op == .add { throw SluiceError("Error: Exclusivity flag on, cannot modify.") }
        if let k = kind, k != q.kind { throw SluiceError("Error: Invalid qdisc name: must match existing qdisc.") }
        if Self.kindsWithoutChange.contains(q.kind) {
            if options { throw Self.changeUnsupported }
            return
        }
        try configure(q)
    }

    /// tc_modify_qdisc with parent TC_H_INGRESS: the device gets its ingress queue first
    /// (dev_ingress_queue_create, kept from then on); a handle that is not the ingress qdisc's
    /// needs NLM_F_REPLACE and names a new qdisc (an existing one elsewhere cannot move here);
    /// the ingress qdisc itself is only "changed", which ingress and clsact refuse when options
    /// come; only those two kinds are ever made under ffff:fff1 (qdisc_create's TCQ_F_INGRESS).
    func modifyIngress(dev: NetDevice, handle: TcHandle?, kind: String?, op: QdiscOp, options: Bool) throws(SluiceError) {
        dev.ingressQueueMade = true
        let cur = dev.ingress
        var create = false, createWithoutFlag = false
        if cur == nil || handle == nil || handle != TcHandle(0xFFFF, 0) {
            if let h = handle {
                if cur != nil && op != .replace { throw SluiceError("Error: NLM_F_REPLACE needed to override.") }
                if h.minor != 0 { throw SluiceError("Error: Invalid minor handle.") }
                if findQdisc(dev, major: h.major) != nil {
                    throw SluiceError("Error: Cannot move an existing qdisc to a different parent.")
                }
                create = true
            } else if let c = cur {
                if let k = kind, k != c.kind {
                    if op == .change { createWithoutFlag = true } else { create = true }
                }
            } else {
                create = true
            }
        }
        if !create && !createWithoutFlag {
            guard let c = cur else { throw SluiceError("Error: Specified qdisc not found.") }
            if op == .add { throw SluiceError("Error: Exclusivity flag on, cannot modify.") }
            if let k = kind, k != c.kind { throw SluiceError("Error: Invalid qdisc name: must match existing qdisc.") }
            if options { throw Self.changeUnsupported }
            return
        }
        if create && op == .change { throw SluiceError("Error: Qdisc not found. To create specify NLM_F_CREATE flag.") }
        guard let kind, Self.kernelQdiscKinds.contains(kind) else {
            throw SluiceError("Error: Specified qdisc kind is unknown.")
        }
        guard kind == "ingress" || kind == "clsact" else {
            throw SluiceError("Error: Specified parent ID is reserved for ingress and clsact Qdiscs.")
        }
        // qdisc_graft: the old ingress qdisc (and its filters) goes, the new one takes its place.
        dev.ingress = IngressQdisc(clsact: kind == "clsact", env: dp.qdiscEnv(dev))
    }

    /// qdisc_leaf: the parent class must exist (cops->find). A one-class qdisc takes any of
    /// its ids; hfsc's root class is the qdisc's own id and is found by its graft.
    func checkClassExists(_ o: Qdisc, _ classid: TcHandle) throws(SluiceError) {
        if !o.hasSingleClass && o.kind != "hfsc" && !o.classes(details: false).contains(where: { $0.classid == classid }) {
            throw SluiceError("Error: Specified class not found.")
        }
    }

    /// tc_get_qdisc for RTM_DELQDISC, its checks in its order: the qdisc at the parent (the root,
    /// the ingress queue's for any parent of major ffff, else the leaf of a class of a classful
    /// qdisc) or, without a parent, the qdisc of the handle; the handle and kind must be that
    /// qdisc's; then a parent is required and a default qdisc (handle 0) cannot go.
    func qdiscDelete(_ t: TcTarget) throws(SluiceError) {
        let dev = t.dev
        let q: Qdisc
        var owner: Qdisc?
        if let clid = t.parent, clid != .unspec {
            var found: Qdisc?
            if clid == .root {
                found = dev.qdisc
            } else if clid.major == 0xFFFF {
                // The ingress queue's qdisc: the builtin noop (handle 0) once the queue exists.
                found = dev.ingress ?? (dev.ingressQueueMade ? NoopQdisc(env: dp.qdiscEnv(dev)) : nil)
            } else {
                guard let p = lookupQdisc(dev, major: clid.major) else {
                    throw SluiceError("Error: Failed to find qdisc with specified classid.")
                }
                found = try leafOf(p, clid)
                owner = p
            }
            guard let f = found else { throw SluiceError("Error: Cannot find specified qdisc on specified device.") }
            if let h = t.handle, h != .unspec, h != f.handle { throw SluiceError("Error: Invalid handle.") }
            q = f
        } else {
            guard let h = t.handle, h != .unspec, h.minor == 0, let f = lookupQdisc(dev, major: h.major) else {
                throw SluiceError("Error: Failed to find qdisc with specified handle.")
            }
            q = f
        }
        if let k = t.kind, k != q.kind { throw SluiceError("Error: Invalid qdisc name: must match existing qdisc.") }
        guard let clid = t.parent, clid != .unspec else { throw SluiceError("Error: Classid cannot be zero.") }
        guard q.handle != .unspec else { throw SluiceError("Error: Cannot delete qdisc with handle of zero (No such file or directory).") }
        if clid == .root {
            let n = q.statsSnapshot().qlen
            q.purge()
            dev.stats.txDropped &+= UInt64(n)
            // qdisc_graft(NULL) leaves noop_qdisc; dev_activate replaces it on a device that is up.
            dev.qdisc = dev.isUp ? dp.defaultQdisc(for: dev) : NoopQdisc(env: dp.qdiscEnv(dev))
        } else if let owner {
            if let old = try owner.graft(clid, nil) {
                owner.stats.drops &+= UInt64(old.statsSnapshot().qlen)
                old.purge()
            }
        } else {
            dev.ingress = nil
        }
    }

    /// qdisc_leaf: the qdisc under class `classid` of `p`; a classless `p` is EOPNOTSUPP and a
    /// missing class ENOENT, in the kernel's words.
    func leafOf(_ p: Qdisc, _ classid: TcHandle) throws(SluiceError) -> Qdisc? {
        guard p.isClassful else { throw SluiceError("Error: Parent qdisc is not classful (Operation not supported).") }
        try checkClassExists(p, classid)
        return p.leaf(at: classid)
    }

    /// print_qdisc: `tc qdisc show [dev D]` (-s statistics and xstats, -d details). The device
    /// is named only when the listing is not for one device, as tc does.
    /// What `tc qdisc show` keeps of the dump (print_qdisc's filters).
    struct QdiscShowFilter { var parent: UInt32?; var handle: UInt32?; var invisible = false }

    func qdiscShow(_ only: NetDevice?, _ opts: Options, filter: QdiscShowFilter = QdiscShowFilter()) throws(SluiceError) -> String {
        var out = ""
        for dev in only.map({ [$0] }) ?? dp.allDevices {
            let devText = only == nil ? "dev \(dev.name) " : ""
            func line(_ q: Qdisc, parent: String, parentRaw: UInt32) {
                if let p = filter.parent, p != parentRaw { return }
                if let h = filter.handle, h != q.handle.raw { return }
                out += "qdisc \(q.kind) \(String(q.handle.major, radix: 16)): \(devText)\(parent)"
                if q.refcnt != 1 { out += "refcnt \(q.refcnt) " }
                out += QdiscShow.options(q, details: opts.details, stats: opts.stats > 0) + "\n"
                if opts.details, let st = q.sizeTable { out += " " + st.words + "\n" }
                guard opts.stats > 0 else { return }
                out += TcFormat.stats(q.statsSnapshot(), prefix: " ") + "\n"
                if let x = QdiscShow.xstats(q) { out += x + "\n" }
            }
            for q in qdiscDumpOrder(dev) {
                if q is NoopQdisc { continue }   // TCQ_F_BUILTIN: tc_qdisc_dump_ignore
                if q !== dev.qdisc && q.handle == .unspec && !q.shownDefault && (!filter.invisible || q.unhashed) { continue }   // built-in defaults are invisible
                line(q, parent: q === dev.qdisc ? "root " : "parent \(TcFormat.classid(q.parent)) ",
                     parentRaw: q === dev.qdisc ? TcHandle.root.raw : q.parent.raw)
            }
            if let ing = dev.ingress { line(ing, parent: "parent ffff:fff1 ", parentRaw: 0xFFFF_FFF1) }
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
            try QdiscGrammar.addClass(owner, id, parent: parent, &a, replace: op != "add")
            if let e = t.estimator, let c = (owner as? HTBQdisc)?.htbClass(id) { try dp.attachEstimator(c, e[...]) }
            return ""
        }
    }

    /// print_class: `tc class show dev D` (-s statistics and xstats, -d details).
    func classShow(_ dev: NetDevice, _ opts: Options, devFilter: Bool = true) -> String {
        var out = ""
        for q in qdiscDumpOrder(dev) where q.isClassful {
            for c in q.classes(details: opts.details) {
                out += "class \(q.kind) \(TcFormat.classid(c.classid)) "
                if !devFilter { out += "dev \(dev.name) " }
                out += c.parent == .root ? "root " : "parent \(TcFormat.classid(c.parent)) "
                if let l = c.leaf, l.handle != .unspec { out += "leaf \(String(l.handle.major, radix: 16)): " }
                out += c.options + "\n"
                guard opts.stats > 0 else { continue }
                // A class that dumps no statistics still has an (empty) statistics block.
                out += (c.stats.map { TcFormat.stats($0, prefix: " ") } ?? "") + "\n"
                if let x = c.xstats { out += x + "\n" }
            }
        }
        return out
    }

    // MARK: filter

    /// The filter block a `parent`/`ingress`/`egress` names, as an inout accessor.
    /// The qdisc that owns the block a `parent`/`ingress`/`egress` names.
    func blockOwner(_ t: TcTarget) throws(SluiceError) -> Qdisc {
        let dev = t.dev
        let parent = t.parent ?? dev.qdisc.handle
        if parent.raw == 0xFFFF_FFF3 {
            guard let ing = dev.ingress, ing.clsact else { throw SluiceError("Error: egress filters need a clsact qdisc.") }
            return ing
        }
        if parent.raw == 0xFFFF_FFF2 || parent.major == 0xFFFF || parent == .ingress {
            guard let ing = dev.ingress else { throw SluiceError("Error: Parent Qdisc doesn't exists.") }
            return ing
        }
        // tcf_block_find's words when qdisc_lookup finds nothing.
        guard let owner = findQdisc(dev, major: parent.major) else { throw SluiceError("Error: Parent Qdisc doesn't exists.") }
        // __tcf_qdisc_find: a classful qdisc without cops->tcf_block.
        if owner is MQQdisc || owner is TaprioQdisc { throw SluiceError("Error: Class doesn't support blocks (Operation not supported).") }
        return owner
    }

    /// tc_del_tfilter without a handle: every filter of the priority (all priorities when none is
    /// given) in the chain. `anyProtocol`: the text grammar's `protocol all` matches every protocol.
    /// tc_del_tfilter: one filter by handle (u32: a knode or a hash table), else a whole
    /// priority's instance, else every filter of the chain.
    func deleteFilters(_ t: TcTarget, anyProtocol: Bool) throws(SluiceError) {
        // tc_del_tfilter: without a priority the request flushes the chain, which a protocol,
        // handle or kind would narrow.
        if t.prio == nil && (t.protoGiven || (t.handle?.raw ?? 0) != 0 || t.kind != nil) {
            throw SluiceError("Error: Cannot flush filters with protocol, handle or kind set.")
        }
        try withBlock(t) { (b: inout FilterBlock) throws(SluiceError) in
            // tcf_chain_tp_find: the priority's instance must be of the protocol asked for.
            if let prio = t.prio, t.protoGiven, !anyProtocol, t.proto != 0, let p = b.instanceProtocol(chain: t.chain, prio: prio), p != t.proto {
                throw SluiceError("Error: Protocol mismatch for filter with specified priority.")
            }
            if let h = t.handle?.raw, h != 0 {
                guard let prio = t.prio else { throw SluiceError("Error: Cannot flush filters with protocol, handle or kind set.") }
                let first = b.instanceHead(chain: t.chain, prio: prio)
                let isU32 = first?.isU32 ?? (b.u32Root(chain: t.chain, prio: prio) != nil)
                if let k = t.kind, let first, first.kind != k { throw SluiceError("Error: Specified filter kind does not match existing one.") }
                if isU32 { try b.deleteU32(handle: h, chain: t.chain, prio: prio); return }
                guard let i = b.position(chain: t.chain, prio: prio, handle: h) else {
                    throw SluiceError("Error: Specified filter handle not found.")
                }
                b.removeFilter(at: i)
                return
            }
            let before = b.liveCount
            let tablesBefore = b.u32Tables.count
            let hit = { (c: UInt32, p: UInt16, proto: UInt16) in (t.prio == nil || p == t.prio!) && (anyProtocol || proto == t.proto) && c == t.chain }
            b.removeFilters { hit($0.chain, $0.prio, $0.proto) }
            for r in b.u32Tables.filter({ $0.isRoot && hit($0.chain, $0.prio, $0.proto) }) { b.dropU32Tables(chain: r.chain, prio: r.prio) }
            // tc_del_tfilter: a flush (no priority) succeeds whatever it found; a priority in a
            // chain the block does not have, or that the chain does not have, is an error.
            if t.prio != nil && b.liveCount == before && b.u32Tables.count == tablesBefore {
                if !b.chainList.contains(t.chain) && !b.explicitChains.contains(t.chain) {
                    throw SluiceError("Error: Cannot find specified filter chain.")
                }
                throw SluiceError("Error: Filter with specified priority/protocol not found.")
            }
        }
    }

    /// The filter block a `parent`/`ingress`/`egress` names, as an inout accessor; the
    /// block's chain order is brought up to date after the change.
    func withBlock<R>(_ t: TcTarget, _ change: (inout FilterBlock) throws(SluiceError) -> R) throws(SluiceError) -> R {
        let owner = try blockOwner(t)
        if t.parent?.raw == 0xFFFF_FFF3, let ing = owner as? IngressQdisc {
            defer { ing.egressFilters.noteChains() }
            return try change(&ing.egressFilters)
        }
        if let p = t.parent, p.minor != 0, p.major != 0xFFFF {
            return try withClassBlock(owner, p) { (b: inout FilterBlock) throws(SluiceError) -> R in
                defer { b.noteChains() }
                return try change(&b)
            }
        }
        defer { owner.filters.noteChains() }
        return try change(&owner.filters)
    }

    /// __tcf_qdisc_cl_find and cops->tcf_block for a parent that names a class: its own
    /// block (htb and hfsc classes have one); a classless qdisc, a missing class or a class
    /// without a block is refused as the kernel refuses it.
    func withClassBlock<R>(_ owner: Qdisc, _ classid: TcHandle, _ body: (inout FilterBlock) throws(SluiceError) -> R) throws(SluiceError) -> R {
        guard owner.isClassful else { throw SluiceError("Error: Qdisc not classful.") }
        guard let r = try owner.withClassBlock(classid, body) else {
            throw SluiceError("Error: \(owner.kind) classes have no filter blocks (attach the filter to the qdisc, parent \(TcFormat.classid(owner.handle))).")
        }
        return r
    }

    // MARK: chain

    /// `tc chain add|delete|show|get dev D [parent P|ingress|egress] [chain N]`.
    func tcChain(_ w: [String], _ opts: Options) throws(SluiceError) -> String {
        guard let verb = w.first else { throw SluiceError("Error: chain needs a command (add, del, show, get)") }
        var a = TcArgs(Array(w.dropFirst()))
        let v = try match(verb, ["add", "delete", "show", "list", "get"], what: "chain command")
        let t = try tcTarget(&a, kindRequired: false, filter: true)
        if let k = t.kind { throw SluiceError("Error: chain templates (\"\(k)\") are not implemented in Sluice.") }
        switch v {
        case "add", "delete":
            try changeChain(t, create: v == "add", createFlag: true)
            return ""
        default:
            let chains = try withBlock(t) { (b: inout FilterBlock) throws(SluiceError) in b.chainList }
            if v == "get" && !chains.contains(t.chain) { throw SluiceError("Error: Cannot find specified filter chain.") }
            // print_filter for RTM_NEWCHAIN: the parent (the owning qdisc's handle) unless it
            // is the one the request named.
            let owner = Self.chainOwner(t.dev, parent: t.parent?.raw ?? 0)
            let shown = v == "get" ? [t.chain] : chains.filter { !t.chainGiven || $0 == t.chain }
            let parent = t.parent?.raw != owner ? TcFormat.classid(TcHandle(raw: owner)) : nil
            return shown.map { "chain " + (parent.map { "parent \($0) " } ?? "") + "chain \($0) \n" }.joined()
        }
    }

    /// block->q->handle for the block a parent names (what tc_chain_fill_node reports):
    /// ffff: for ingress and clsact, the root qdisc's handle for none, else the qdisc the
    /// parent's major names.
    static func chainOwner(_ dev: NetDevice, parent: UInt32) -> UInt32 {
        if parent >> 16 == 0xFFFF { return 0xFFFF_0000 }
        if parent == 0 { return dev.qdisc.handle.raw }
        return parent & 0xFFFF_0000
    }

    /// tc_ctl_chain: a chain made explicitly (it stays without filters), or deleted with its
    /// filters. `createFlag` is NLM_F_CREATE.
    func changeChain(_ t: TcTarget, create: Bool, createFlag: Bool) throws(SluiceError) {
        guard t.chain <= 0x0FFF_FFFF else { throw SluiceError("Error: Specified chain index exceeds upper limit.") }
        try withBlock(t) { (b: inout FilterBlock) throws(SluiceError) in
            let exists = b.chainList.contains(t.chain)
            if create {
                if exists { throw SluiceError("Error: Filter chain already exists.") }
                if !createFlag { throw SluiceError("Error: Need both RTM_NEWCHAIN and NLM_F_CREATE to create a new chain.") }
                b.explicitChains.append(t.chain)
            } else {
                guard exists else { throw SluiceError("Error: Cannot find specified filter chain.") }
                b.removeFilters { $0.chain == t.chain }
                b.dropU32Tables(chain: t.chain, prio: nil)
                b.explicitChains.removeAll { $0 == t.chain }
            }
        }
    }

    func tcFilter(_ w: [String], _ opts: Options) throws(SluiceError) -> String {
        guard let verb = w.first else { throw SluiceError("Error: filter needs a command (add, del, show)") }
        var a = TcArgs(Array(w.dropFirst()))
        let v = try match(verb, ["add", "replace", "change", "delete", "show", "list"], what: "filter command")
        switch v {
        case "show", "list":
            let t = try tcTarget(&a, kindRequired: false, filter: true)
            return filterShow(t, opts: opts)
        case "delete":
            var t = try tcTarget(&a, kindRequired: false, filter: true)
            if t.kind == "u32", let text = t.handleText { t.handle = TcHandle(raw: try u32Handle(text, "handle")) }
            try deleteFilters(t, anyProtocol: t.proto == 3)
            return ""
        default:
            let t = try tcTarget(&a, kindRequired: true, filter: true)
            var f = TcFilter(prio: t.prio ?? 49152, proto: t.proto, handle: t.handle?.raw ?? 0, chain: t.chain,
                             kind: t.kind!, match: .all, result: nil)
            try parseFilter(&f, &a, handle: t.handle, handleText: t.kind == "u32" ? t.handleText : nil, dev: t.dev)
            // tc's flags: add is NLM_F_CREATE|NLM_F_EXCL, replace NLM_F_CREATE, change none.
            try addFilter(t, f, create: v != "change", exclusive: v == "add")
            return ""
        }
    }

    /// tc_new_tfilter's common part for both syntaxes: default handle, priority (tcf_auto_prio),
    /// u32 handles, action indexes per kind, counters.
    ///
    /// tc_new_tfilter's lookup decides between create and change: the classifier instance at
    /// (chain, prio) must match the kind and protocol asked for; a filter found by handle is
    /// changed in place (replaced) unless NLM_F_EXCL; one not found is created only with
    /// NLM_F_CREATE.
    func addFilter(_ t: TcTarget, _ filter: TcFilter, create: Bool = true, exclusive: Bool = false) throws(SluiceError) {
        var f = filter
        // tcf_exts_validate: the actions are created or bound before the filter goes in; if it
        // does not, they are released with it.
        let reqs = f.actions.count == f.actionRequests.count ? f.actionRequests : f.actions.map { ActionRequest(action: $0) }
        // tcf_ct_init with bind: a filter may use ct only in an ingress or clsact block
        // (TCA_ACT_FLAGS_AT_INGRESS_OR_CLSACT).
        if reqs.contains(where: { if case .ct = $0.action { return true }; return false }), !(try blockOwner(t) is IngressQdisc) {
            throw SluiceError("Error: act_ct: Attaching ct to a non ingress/clsact qdisc is unsupported (Operation not supported).")
        }
        f.bound = try dp.tcActions.bind(reqs, now: dp.clock.now, filterFlags: f.clsFlags)
        // tc_setup_cb_add: skip_sw needs a device that offloads, and Sluice's have no hardware.
        if f.clsFlags & 2 != 0 { throw SluiceError("Error: skip_sw: the filter cannot be offloaded, Sluice's devices have no hardware.") }
        f.actions = f.bound.entries.map(\.action)
        f.actionRequests = []
        f.installed = dp.clock.now
        let owner = try blockOwner(t)
        if f.kind == "u32" && !owner.hasU32Instances { owner.nextU32Table = 0x800 }
        try withBlock(t) { (b: inout FilterBlock) throws(SluiceError) in
            b.classid = t.parent?.raw ?? owner.handle.raw
            if t.prio == nil { f.prio = b.autoPrio(chain: t.chain) }
            let instance = b.instanceRange(chain: f.chain, prio: f.prio)
            let root = b.u32Root(chain: f.chain, prio: f.prio).map { b.u32Tables[$0] }
            if let tp = b.instanceHead(chain: f.chain, prio: f.prio) ?? root.map({ TcFilter(prio: $0.prio, proto: $0.proto, handle: 0, chain: $0.chain, kind: "u32", match: .all) }) {
                if f.proto != 0 && tp.proto != f.proto { throw SluiceError("Error: Protocol mismatch for filter with specified priority.") }
                if tp.kind != f.kind { throw SluiceError("Error: Specified filter kind does not match existing one.") }
                f.proto = tp.proto
            } else if !create {
                throw SluiceError("Error: Need both RTM_NEWTFILTER and NLM_F_CREATE to create a new filter.")
            }
            if let divisor = f.u32Divisor {
                // u32_get finds an existing table by its handle; u32_change refuses to change one.
                if f.handle != 0, f.handle & 0xFFFFF == 0, b.u32Table(f.handle) != nil {
                    if exclusive { throw SluiceError("Error: Filter already exists.") }
                    throw SluiceError("Error: cls_u32: Key node id cannot be zero.")
                }
                if !create { throw SluiceError("Error: Need both RTM_NEWTFILTER and NLM_F_CREATE to create a new filter.") }
                if divisor == 0 {
                    _ = b.ensureU32Root(chain: f.chain, prio: f.prio, proto: f.proto, next: &owner.nextU32Table)
                    b.reindexU32()
                    return
                }
                try b.addU32Table(handle: f.handle, divisor: divisor, chain: f.chain, prio: f.prio, proto: f.proto, next: &owner.nextU32Table)
                return
            }
            // tp->ops->get: matchall and cgroup hold one filter per instance (handle 1 unless
            // given); u32 finds a node by its full handle.
            let single = f.kind == "matchall" || f.kind == "cgroup"
            var existing: Int?
            if single, !instance.isEmpty {
                let i = instance.lowerBound
                if f.handle == 0 || b.store[i].handle == f.handle { existing = i }
            } else if f.handle != 0 {
                // u32_get looks in every hash table of the block (tc_u_common), whichever
                // instance made it; other classifiers only in the instance asked for.
                if f.kind == "u32" {
                    if b.index().u32Handles.contains(f.handle) { existing = b.store.firstIndex { $0.isU32 && $0.handle == f.handle } }
                } else {
                    existing = b.position(chain: f.chain, prio: f.prio, handle: f.handle)
                }
            }
            if let i = existing {
                if exclusive { throw SluiceError("Error: Filter already exists.") }
                f.handle = b.store[i].handle
                // fl_check_assign_mask: a filter changed in place keeps its mask; another one is
                // refused with EINVAL and no message.
                if case .flower(let k) = f.match, case .flower(let old) = b.store[i].match, k.maskSignature != old.maskSignature {
                    throw SluiceError("RTNETLINK answers: Invalid argument")
                }
                // u32_change on an existing node copies it (u32_init_knode) and sets only its
                // class and actions: the selector stays the old one.
                if f.kind == "u32" {
                    let old = b.store[i]
                    f.match = .u32(b.keys(of: old).map { (value: $0.value, mask: $0.mask, offset: $0.offset, l4: $0.l4) })
                    f.u32Sel = old.u32Sel
                    f.u32MarkValue = old.u32MarkValue; f.u32MarkMask = old.u32MarkMask
                    f.chain = old.chain; f.prio = old.prio; f.proto = old.proto      // it stays in its table
                    if f.u32Link == 0 { f.u32Link = old.u32Link }
                    try b.checkU32Link(f)
                }
                b.replace(at: i, with: f)
                return
            }
            if !create { throw SluiceError("Error: Need both RTM_NEWTFILTER and NLM_F_CREATE to create a new filter.") }
            // fw_change: a new fw filter is its mark, so it needs a handle.
            if f.kind == "fw" && f.handle == 0 { throw SluiceError("Error: fw: a new filter needs a handle (the mark).") }
            // fl_ht_insert_unique: a flower key (with its mask) appears once per instance.
            if case .flower(let k) = f.match, b.hasFlowerKey(chain: f.chain, prio: f.prio, k) {
                throw SluiceError("Error: Filter already exists.")
            }
            if single && !instance.isEmpty { throw SluiceError(f.kind == "cgroup" ? "Error: cgroup: the instance's filter has another handle." : "Error: Filter already exists.") }
            // flow_change: a new flow filter needs a handle; its base class defaults to the
            // qdisc's major and minor 1.
            if f.kind == "flow" {
                guard f.handle != 0 else { throw SluiceError("Error: flow: a new filter needs a handle.") }
                if var p = f.flow {
                    if p.baseclass >> 16 == 0 { p.baseclass |= UInt32(owner.handle.major) << 16 }
                    if p.baseclass & 0xFFFF == 0 { p.baseclass |= 1 }
                    f.flow = p
                }
            }
            // cls_cgroup_change: the instance's one filter is named by its handle.
            if f.kind == "cgroup" && f.handle == 0 { throw SluiceError("Error: cgroup: a new filter needs a handle.") }
            if f.kind == "matchall" && f.handle == 0 { f.handle = 1 }
            if (f.kind == "basic" || f.kind == "bpf" || f.kind == "flower") && f.handle == 0 {
                // basic_change, cls_bpf_grab_new_handle, fl_change: idr_alloc_u32 from 1 in the
                // instance.
                f.handle = b.lowestFreeHandle(chain: f.chain, prio: f.prio)
            }
            try b.add(f, u32Tables: &owner.nextU32Table)
        }
    }

    /// Every filter of every block of the datapath (qdiscs' and ingress/clsact's).
    func allFilters() -> [TcFilter] {
        var out: [TcFilter] = []
        for dev in dp.allDevices {
            for q in qdiscTree(dev) { out += q.filters.filters }
            if let ing = dev.ingress { out += ing.filters.filters + ing.egressFilters.filters }
        }
        return out
    }

    func hexOrDec(_ s: String, _ what: String) throws(SluiceError) -> UInt32 {
        let v = s.hasPrefix("0x") ? UInt32(s.dropFirst(2), radix: 16) : UInt32(s)
        guard let v else { throw SluiceError("Error: Illegal \(what) \"\(s)\"") }
        return v
    }

    /// f_u32.c get_u32_handle: table:bucket:node in hex (`2:`, `2:7b:`, `800::800`), or 0xNNN.
    func u32Handle(_ s: String, _ what: String) throws(SluiceError) -> UInt32 {
        let bad = SluiceError("Error: Illegal \"\(what)\" \"\(s)\"")
        guard s.contains(":") else {
            guard s.hasPrefix("0x"), let v = UInt32(s.dropFirst(2), radix: 16) else { throw bad }
            return v
        }
        let parts = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 3 else { throw bad }
        func field(_ i: Int, _ limit: UInt32) throws(SluiceError) -> UInt32 {
            guard i < parts.count, !parts[i].isEmpty else { return 0 }
            guard let v = UInt32(parts[i], radix: 16), v < limit else { throw bad }
            return v
        }
        return try field(0, 0x1000) << 20 | field(1, 0x100) << 12 | field(2, 0x1000)
    }

    func parseFilter(_ f: inout TcFilter, _ a: inout TcArgs, handle: TcHandle?, handleText: String? = nil, dev: NetDevice) throws(SluiceError) {
        var keys: [(value: UInt32, mask: UInt32, offset: Int, l4: Bool)] = []
        var fk = FlowerKey()
        switch f.kind {
        case "matchall": f.match = .all
        case "fw":
            let h = handle?.raw ?? 0
            f.match = .fw(mark: h, mask: 0xFFFF_FFFF)
        case "flower": break
        case "u32":
            if let text = handleText { f.handle = try u32Handle(text, "handle") }
        case "basic": f.match = .basic
        case "cgroup": f.match = .cgroup
        case "flow": f.match = .flow
        case "bpf": f.match = .bpf
        case "route": f.match = .route(to: nil, from: nil, iif: nil)
        default: throw SluiceError("Error: Specified filter kind is unknown.")
        }
        // f_route.c: the handle the words make (0xFFFF8000 to start), `order` in 0x7F00.
        var routeHandle: UInt32 = 0xFFFF_8000, routeOrder: UInt32 = 0
        func realm(_ v: String, _ what: String) throws(SluiceError) -> UInt32 {
            guard let x = v == "cosmos" ? 0 : UInt32(v) else { throw SluiceError("Error: Illegal \"\(what)\"") }
            return x
        }
        while let k = a.next() {
            switch k {
            case "flowid", "classid":
                f.result = .classid(try TcHandle.parse(try a.value(for: k)))
            case "action", "actions":
                let r = try parseActionRequest(&a, dev: dev)
                f.actions.append(r.action)
                f.actionRequests.append(r)
            case "map" where f.kind == "flow", "hash" where f.kind == "flow":
                try parseFlow(&f, k, &a)
            case "match" where f.kind == "basic" || f.kind == "cgroup" || f.kind == "flow":
                throw SluiceError("Error: \(f.kind) match: ematch expressions are read over rtnetlink only — add this filter with `sluice exec tc` or `sluice filter`.")
            case "match" where f.kind == "u32":
                keys.append(contentsOf: try parseU32Match(&a))
            case "divisor" where f.kind == "u32":
                let v = try a.value(for: k)
                guard let d = UInt32(v), d > 0, d <= 0x100, (d - 1) & d == 0 else { throw SluiceError("Error: Illegal \"divisor\" \"\(v)\"") }
                f.u32Divisor = d
            case "ht" where f.kind == "u32":
                let h = try u32Handle(try a.value(for: k), "ht")
                guard h & 0xFFF == 0 else { throw SluiceError("Error: Illegal \"ht\": a node id is not a table") }
                f.u32Ht = h
            case "link" where f.kind == "u32":
                let h = try u32Handle(try a.value(for: k), "link")
                guard h & 0xFFF == 0 else { throw SluiceError("Error: \"link\" must be a hash table") }
                f.u32Link = h
            case "hashkey" where f.kind == "u32":
                guard a.next() == "mask" else { throw SluiceError("Error: hashkey needs \"mask MASK at OFFSET\"") }
                let m = try a.value(for: "mask")
                guard let mask = UInt32(m.hasPrefix("0x") ? String(m.dropFirst(2)) : m, radix: 16) else { throw SluiceError("Error: Illegal \"hashkey mask\" \"\(m)\"") }
                guard a.next() == "at" else { throw SluiceError("Error: hashkey needs \"mask MASK at OFFSET\"") }
                let o = try a.int(for: "at", -32768...32767)
                guard o % 4 == 0 else { throw SluiceError("Error: hashkey offset must be 4 byte aligned") }
                f.u32Sel.hmask = mask; f.u32Sel.hoff = Int16(o)
            case "offset" where f.kind == "u32":
                // f_u32.c parse_offset: [plus N] [at OFFSET mask MASK shift SHIFT] [eat]
                loop: while let w = a.peek {
                    switch w {
                    case "plus": a.i += 1; f.u32Sel.off = UInt16(try a.int(for: w, 0...65535)); f.u32Sel.flags |= U32Sel.OFFSET
                    case "at": a.i += 1
                        let o = try a.int(for: w, -32768...32767)
                        guard o % 2 == 0 else { throw SluiceError("Error: offset \"at\" must be even") }
                        f.u32Sel.offoff = Int16(o); f.u32Sel.flags |= U32Sel.VAROFFSET
                    case "mask": a.i += 1
                        let m = try a.value(for: w)
                        guard let v = UInt16(m.hasPrefix("0x") ? String(m.dropFirst(2)) : m, radix: 16) else { throw SluiceError("Error: Illegal \"offset mask\" \"\(m)\"") }
                        f.u32Sel.offmask = v; f.u32Sel.flags |= U32Sel.VAROFFSET
                    case "shift": a.i += 1; f.u32Sel.offshift = UInt8(try a.int(for: w, 0...15)); f.u32Sel.flags |= U32Sel.VAROFFSET
                    case "eat": a.i += 1; f.u32Sel.flags |= U32Sel.EAT
                    default: break loop
                    }
                }
            case "to" where f.kind == "route":
                guard case .route(_, let from, let iif) = f.match else { break }
                let x = try realm(try a.value(for: k), "to")
                f.match = .route(to: x, from: from, iif: iif)
                routeHandle = routeHandle & ~0x80FF | (x & 0xFF)
            case "from" where f.kind == "route":
                guard case .route(let to, _, let iif) = f.match else { break }
                let x = try realm(try a.value(for: k), "from")
                f.match = .route(to: to, from: x, iif: iif)
                routeHandle = routeHandle & 0xFFFF | x << 16
            case "fromif" where f.kind == "route":
                guard case .route(let to, let from, _) = f.match else { break }
                let name = try a.value(for: k)
                guard let d = dp.device(named: name) else { throw SluiceError("Error: Illegal \"fromif\"") }
                f.match = .route(to: to, from: from, iif: d.ifindex)
                routeHandle = routeHandle & 0xFFFF | (0x8000 | UInt32(bitPattern: d.ifindex)) << 16
            case "order" where f.kind == "route":
                routeOrder = try hexOrDec(try a.value(for: k), "order")
            case "mask" where f.kind == "fw":
                guard case .fw(let m, _) = f.match else { break }
                f.match = .fw(mark: m, mask: try hexOrDec(try a.value(for: k), "mask"))
            case "indev" where f.kind == "u32" || f.kind == "fw" || f.kind == "flower":
                let name = try a.value(for: k)
                guard let d = dp.device(named: name) else { throw SluiceError("Error: Network device not found: \"\(name)\"") }
                f.indev = d.ifindex
            case "skip_hw": f.clsFlags |= 1
            case "skip_sw": f.clsFlags |= 2
            case "verbose": f.clsFlags |= 16
            case "police" where ["u32", "fw", "basic", "cgroup", "flow", "bpf", "route"].contains(f.kind):
                // The classifier's old-style police (TCA_*_POLICE): its one action.
                a.i -= 1
                let r = try parseActionRequest(&a, dev: dev)
                f.actions = [r.action]; f.actionRequests = [r]
                f.oldPolice = ["u32": 6, "fw": 2, "basic": 4, "cgroup": 2, "flow": 10, "bpf": 2, "route": 5][f.kind]
            case "bytecode", "bc", "bytecode-file", "bcf" where f.kind == "bpf":
                f.bpf = try Self.bpfProgram(k, &a)
            case "object-file", "obj" where f.kind == "bpf":
                throw SluiceError("Error: bpf: eBPF object files are not supported; Sluice runs classic BPF (bytecode, bytecode-file).")
            case "direct-action", "da" where f.kind == "bpf": f.bpfDirect = true
            default:
                if f.kind == "flower", try parseFlowerKey(k, &a, &fk) { continue }
                throw SluiceError("Error: unknown \(f.kind) filter argument \"\(k)\"")
            }
        }
        if case .route(let to, let from, let iif) = f.match {
            if routeOrder != 0 { routeHandle = routeHandle & ~0x7F00 | (routeOrder << 8) & 0x7F00 }
            // tc sends the handle it made unless one was given; route4_set_parms checks it.
            f.handle = try RouteFilter.handle(to: to, from: from, iif: iif, requested: handle?.raw ?? routeHandle)
        }
        if f.kind == "u32" {
            if f.u32Divisor != nil { return }
            guard !keys.isEmpty else { throw SluiceError("Error: u32 needs at least one \"match\".") }
            f.match = .u32(keys)
            if f.u32Link != 0 && f.result == nil && f.actions.isEmpty { return }
        }
        if f.kind == "flower" {
            // tc's flower sends the filter's protocol as its EtherType key (flower_parse_opt).
            if fk.ethType == nil && f.proto != 3 && f.proto != EtherType.vlan && f.proto != EtherType.qinq { fk.ethType = f.proto }
            f.match = .flower(fk)
        }
        if f.kind == "bpf" && f.bpf == nil { throw SluiceError("Error: bpf: give the program: bytecode 'N,code jt jf k,…' or bytecode-file FILE") }
        // flow, cgroup and bpf make their class themselves.
        guard f.result != nil || !f.actions.isEmpty || f.kind == "flow" || f.kind == "cgroup" || f.kind == "bpf" else {
            throw SluiceError("Error: the filter needs \"flowid X:Y\", \"classid X:Y\" or an action.")
        }
    }

    /// `bytecode 'N,…'` or `bytecode-file FILE` (the same text in a file), checked as the
    /// kernel checks a classic program.
    static func bpfProgram(_ k: String, _ a: inout TcArgs) throws(SluiceError) -> BPFProgram {
        var text = try a.value(for: k)
        if k == "bytecode-file" || k == "bcf" {
            guard let t = readFile(text) else { throw SluiceError("Error: bpf: cannot read \"\(text)\"") }
            text = t
        }
        if text.hasPrefix("'") && text.hasSuffix("'") && text.count >= 2 { text = String(text.dropFirst().dropLast()) }
        return try BPFProgram.compile(try BPFProgram.parse(bytecode: text))
    }

    func parseMAC(_ v: String) throws(SluiceError) -> (UInt64, UInt64) {
        let parts = v.split(separator: "/")
        guard let m = MACAddress(parsing: parts[0]) else { throw SluiceError("Error: Illegal MAC address \"\(v)\"") }
        var mask: UInt64 = 0xFFFF_FFFF_FFFF
        if parts.count > 1 {
            if let n = Int(parts[1]), (0...48).contains(n) { mask = n == 0 ? 0 : (0xFFFF_FFFF_FFFF << UInt64(48 - n)) & 0xFFFF_FFFF_FFFF }
            else if let mm = MACAddress(parsing: parts[1]) { mask = mm.raw } else { throw SluiceError("Error: Illegal MAC mask \"\(v)\"") }
        }
        return (m.raw, mask)
    }

    func parseV4(_ v: String) throws(SluiceError) -> (UInt32, UInt32)? {
        let parts = v.split(separator: "/")
        let o = parts[0].split(separator: ".").compactMap { UInt32($0) }
        guard o.count == 4, o.allSatisfy({ $0 < 256 }) else { return nil }
        let plen = parts.count > 1 ? Int(parts[1]) ?? -1 : 32
        guard (0...32).contains(plen) else { throw SluiceError("Error: Illegal prefix in \"\(v)\"") }
        let mask: UInt32 = plen == 0 ? 0 : ~UInt32(0) << UInt32(32 - plen)
        return ((o[0] << 24 | o[1] << 16 | o[2] << 8 | o[3]) & mask, mask)
    }

    func parseV6(_ v: String) throws(SluiceError) -> ([UInt8], Int) {
        let parts = v.split(separator: "/")
        let plen = parts.count > 1 ? Int(parts[1]) ?? -1 : 128
        guard (0...128).contains(plen) else { throw SluiceError("Error: Illegal prefix in \"\(v)\"") }
        let s = String(parts[0])
        var halves: [String] = []
        let chars = Array(s)
        if let i = (0..<max(chars.count - 1, 0)).first(where: { chars[$0] == ":" && chars[$0 + 1] == ":" }) {
            halves = [String(chars[..<i]), String(chars[(i + 2)...])]
            if halves[1].contains("::") || String(chars[(i + 2)...]).hasPrefix(":") { throw SluiceError("Error: Illegal IPv6 address \"\(v)\"") }
        } else { halves = [s] }
        guard halves.count <= 2 else { throw SluiceError("Error: Illegal IPv6 address \"\(v)\"") }
        func groups(_ h: String) throws(SluiceError) -> [UInt16] {
            if h.isEmpty { return [] }
            var out: [UInt16] = []
            for g in h.split(separator: ":") { guard let x = UInt16(g, radix: 16) else { throw SluiceError("Error: Illegal IPv6 address \"\(v)\"") }; out.append(x) }
            return out
        }
        let head = try groups(halves[0]), tail = halves.count == 2 ? try groups(halves[1]) : []
        guard head.count + tail.count <= 8, halves.count == 2 || head.count == 8 else { throw SluiceError("Error: Illegal IPv6 address \"\(v)\"") }
        let all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        return (all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }, plen)
    }

    func parsePortRange(_ v: String) throws(SluiceError) -> ClosedRange<UInt16> {
        let r = v.split(separator: "-")
        guard let lo = UInt16(r[0]), let hi = r.count > 1 ? UInt16(r[1]) : lo, lo <= hi, r.count <= 2 else {
            throw SluiceError("Error: Illegal port \"\(v)\"")
        }
        return lo...hi
    }

    /// A conntrack label as tc writes it (ct_parse_labels, flower's ct_label): up to 32 hex
    /// digits, left-aligned in 16 bytes, as two big-endian words.
    static func label128(_ t: Substring) -> (UInt64, UInt64)? {
        guard !t.isEmpty, t.count <= 32, t.allSatisfy(\.isHexDigit) else { return nil }
        let full = t + String(repeating: "0", count: 32 - t.count)
        return (UInt64(full.prefix(16), radix: 16)!, UInt64(full.suffix(16), radix: 16)!)
    }

    func parseFlowerKey(_ k: String, _ a: inout TcArgs, _ fk: inout FlowerKey) throws(SluiceError) -> Bool {
        switch k {
        case "enc_key_id": fk.encKeyID = UInt32(try a.int(for: k, 0...Int(UInt32.max)))
        case "enc_dst_ip", "enc_src_ip":
            let v = try a.value(for: k)
            guard let ip = try parseV4(v) else { throw SluiceError("Error: flower: \(k) must be an IPv4 address or prefix (IPv6 tunnels are not implemented in Sluice)") }
            if k == "enc_dst_ip" { fk.encDstIP = ip } else { fk.encSrcIP = ip }
        case "enc_dst_port": fk.encDstPort = UInt16(try a.int(for: k, 0...65535))
        case "enc_tos", "enc_ttl":
            let v = try a.value(for: k)
            let parts = v.split(separator: "/")
            func num(_ x: Substring) -> UInt8? { x.hasPrefix("0x") ? UInt8(x.dropFirst(2), radix: 16) : UInt8(x) }
            guard let val = num(parts[0]), let msk = parts.count > 1 ? num(parts[1]) : 0xFF else { throw SluiceError("Error: flower: Illegal \"\(k)\" \"\(v)\"") }
            if k == "enc_tos" { fk.encTos = (val, msk) } else { fk.encTTL = (val, msk) }
        case "ct_state":
            // flower_parse_ct_state: +flag / -flag, flags trk new est rel inv rpl.
            let v = try a.value(for: k)
            var state: UInt16 = 0, mask: UInt16 = 0
            var rest = Substring(v)
            while let sign = rest.first {
                guard sign == "+" || sign == "-" else { throw SluiceError("Error: flower: Illegal \"ct_state\" \"\(v)\"") }
                rest = rest.dropFirst()
                guard let (name, bit) = FlowerKey.ctFlagNames.first(where: { rest.hasPrefix($0.0) }) else { throw SluiceError("Error: flower: Illegal \"ct_state\" \"\(v)\"") }
                rest = rest.dropFirst(name.count)
                mask |= bit
                if sign == "+" { state |= bit }
            }
            guard mask != 0 else { throw SluiceError("Error: flower: Illegal \"ct_state\" \"\(v)\"") }
            if let e = FlowerKey.ctStateError(state) { throw SluiceError("Error: \(e).") }
            fk.ctState = (state, mask)
        case "ct_zone", "ct_mark":
            let v = try a.value(for: k)
            let parts = v.split(separator: "/", maxSplits: 1)
            let limit: UInt64 = k == "ct_zone" ? 0xFFFF : 0xFFFF_FFFF
            guard let val = TcArgs.parseC(String(parts[0])), val <= limit,
                  let msk = parts.count > 1 ? TcArgs.parseC(String(parts[1])) : limit, msk <= limit else { throw SluiceError("Error: flower: Illegal \"\(k)\" \"\(v)\"") }
            if k == "ct_zone" { fk.ctZone = (UInt16(val), UInt16(msk)) } else { fk.ctMark = (UInt32(val), UInt32(msk)) }
        case "ct_label":
            let v = try a.value(for: k)
            let parts = v.split(separator: "/", maxSplits: 1)
            guard let (hi, lo) = Self.label128(parts[0]), let (mh, ml) = parts.count > 1 ? Self.label128(parts[1]) : (.max, .max) else {
                throw SluiceError("Error: flower: Illegal \"ct_label\" \"\(v)\"")
            }
            fk.ctLabels = (hi, lo, mh, ml)
        case "dst_mac": fk.dstMAC = try parseMAC(try a.value(for: k))
        case "src_mac": fk.srcMAC = try parseMAC(try a.value(for: k))
        case "vlan_id": fk.vlanID = UInt16(try a.int(for: k, 0...4095))
        case "vlan_prio": fk.vlanPrio = UInt8(try a.int(for: k, 0...7))
        case "eth_type":
            let v = try a.value(for: k)
            switch v {
            case "ip", "ipv4": fk.ethType = EtherType.ipv4
            case "ipv6": fk.ethType = EtherType.ipv6
            case "arp": fk.ethType = EtherType.arp
            default: fk.ethType = UInt16(truncatingIfNeeded: try hexOrDec(v, "eth_type"))
            }
        case "ip_proto":
            let v = try a.value(for: k)
            switch v {
            case "tcp": fk.ipProto = IPProto.tcp
            case "udp": fk.ipProto = IPProto.udp
            case "icmp": fk.ipProto = IPProto.icmp
            case "icmpv6": fk.ipProto = IPProto.icmpv6
            default: guard let n = UInt8(v) else { throw SluiceError("Error: Illegal ip_proto \"\(v)\"") }; fk.ipProto = n
            }
        case "src_ip", "dst_ip":
            let v = try a.value(for: k)
            if let v4 = try parseV4(v) { if k == "src_ip" { fk.srcIP = v4 } else { fk.dstIP = v4 } }
            else { let v6 = try parseV6(v); let p6 = V6Prefix(bytes: v6.0, plen: v6.1); if k == "src_ip" { fk.srcIP6 = p6 } else { fk.dstIP6 = p6 } }
        case "src_port": fk.srcPort = try parsePortRange(try a.value(for: k))
        case "dst_port": fk.dstPort = try parsePortRange(try a.value(for: k))
        case "ip_tos":
            let v = try a.value(for: k).split(separator: "/")
            let val = UInt8(truncatingIfNeeded: try hexOrDec(String(v[0]), "ip_tos"))
            let mask = v.count > 1 ? UInt8(truncatingIfNeeded: try hexOrDec(String(v[1]), "ip_tos mask")) : 0xFF
            fk.tos = (val, mask)
        default: return false
        }
        return true
    }

    /// f_flow.c's words after `map` or `hash`: `key(s) K[,K…]`, `and`/`or`/`xor` (folded into
    /// mask and xor as transfer_bitop does), `rshift`, `addend`, `divisor`, `baseclass`, `perturb`.
    func parseFlow(_ f: inout TcFilter, _ mode: String, _ a: inout TcArgs) throws(SluiceError) {
        var p = FlowParams(keymask: 0, hash: mode == "hash")
        loop: while let w = a.peek {
            switch w {
            case "key", "keys":
                a.i += 1
                for name in try a.value(for: w).split(separator: ",") {
                    guard let k = FlowParams.keyNames.firstIndex(of: String(name)) else { throw SluiceError("Error: flow: unknown key \"\(name)\"") }
                    p.keymask |= 1 << UInt32(k)
                }
            case "and", "or", "xor":
                a.i += 1
                let v = try hexOrDec(try a.value(for: w), w)
                let (m, x): (UInt32, UInt32) = w == "and" ? (v, 0) : w == "or" ? (~v, v) : (0xFFFF_FFFF, v)
                p.mask &= m; p.xor = (p.xor & m) ^ x
            case "rshift": a.i += 1; p.rshift = try hexOrDec(try a.value(for: w), w)
            case "addend": a.i += 1; p.addend = try hexOrDec(try a.value(for: w), w)
            case "divisor": a.i += 1; p.divisor = try hexOrDec(try a.value(for: w), w)
            case "baseclass": a.i += 1; p.baseclass = try TcHandle.parse(try a.value(for: w)).raw
            case "perturb": a.i += 1; p.perturb = try hexOrDec(try a.value(for: w), w)
            default: break loop
            }
        }
        guard p.keymask != 0 else { throw SluiceError("Error: flow: \"keys\" are required") }
        guard p.hash || p.keymask.nonzeroBitCount == 1 else { throw SluiceError("Error: flow map takes one key") }
        guard p.hash || p.perturb == 0 else { throw SluiceError("Error: flow: perturb needs hash mode") }
        p.hashrnd = UInt32.random(in: 0...UInt32.max)
        f.flow = p
    }

    /// One action after `action` with what may follow any action: `index N` (bind to that
    /// action, or create it with that index) and `cookie HEX` (up to 16 bytes), as tc's
    /// parse_action reads them.
    func parseActionRequest(_ a: inout TcArgs, dev: NetDevice) throws(SluiceError) -> ActionRequest {
        var r = ActionRequest(action: try parseAction(&a, dev: dev))
        while let w = a.peek {
            switch w {
            case "index":
                a.i += 1
                let v = try a.value(for: w)
                guard let n = UInt32(v) else { throw SluiceError("Error: Illegal \"index\" \"\(v)\"") }
                r.index = n
            case "cookie":
                a.i += 1
                let v = try a.value(for: w)
                guard v.count % 2 == 0, v.count <= 32, let b = TcFormat.hexBytes(v) else { throw SluiceError("Error: cookie must be a hex string of up to 16 bytes, not \"\(v)\"") }
                r.cookie = b
            // parse_action's flags after an action.
            case "no_percpu": a.i += 1; r.flags |= 1
            case "skip_hw": a.i += 1; r.flags |= 2
            case "skip_sw": a.i += 1; r.flags |= 4
            default: return r
            }
        }
        return r
    }

    /// One action after `action`: gact verdicts, police, mirred, vlan, skbedit.
    func parseAction(_ a: inout TcArgs, dev: NetDevice) throws(SluiceError) -> TcAction {
        guard let kind = a.next() else { throw SluiceError("Error: \"action\" needs a kind") }
        func trailing(_ a: inout TcArgs, _ dflt: ActVerdict) throws(SluiceError) -> ActVerdict {
            if let w = a.peek, let v = try { () throws(SluiceError) -> ActVerdict? in var b = a; b.i += 1; let r = try ActVerdict.parse(w, &b); if r != nil { a = b }; return r }() { return v }
            return dflt
        }
        // m_gact.c: [gact] VERDICT [random determ|netrand VERDICT VAL]
        func gact(_ v: ActVerdict) throws(SluiceError) -> TcAction {
            guard a.peek == "random" else { return .gact(v) }
            a.i += 1
            let type = try a.value(for: "random")
            guard type == "determ" || type == "netrand" else { throw SluiceError("Error: Illegal \"random type\" \"\(type)\"") }
            guard let w = a.next(), let p = try ActVerdict.parse(w, &a) else { throw SluiceError("Error: Illegal \"random\" verdict") }
            let val = try a.int(for: "val", 1...10000)
            return .gactRandom(v, ptype: type == "netrand" ? 1 : 2, pval: UInt16(val), paction: p)
        }
        if let v = try ActVerdict.parse(kind, &a) { return try gact(v) }
        switch kind {
        case "gact":
            guard let w = a.next(), let v = try ActVerdict.parse(w, &a) else { throw SluiceError("Error: gact needs a verdict (ok, pass, drop, pipe, reclassify, continue, goto chain N)") }
            return try gact(v)
        case "police":
            // m_police.c: rate/burst, mtu, peakrate, pkts_rate/pkts_burst, overhead, mpu, the exceed
            // verdict (`conform-exceed EXCEED[/CONFORM]` or a bare verdict); tc's own checks.
            var rate: UInt64 = 0, burst = 0, mtu = 0, peak: UInt64 = 0, pps: UInt64 = 0, ppsBurst: UInt64 = 0, overhead = 0, mpu = 0
            var exceed = ActVerdict.reclassify, conform = ActVerdict.ok, atm = false
            var dummy = TcArgs([])
            loop: while let w = a.peek {
                switch w {
                case "rate": a.i += 1; rate = try a.rate(for: w)
                case "burst", "buffer", "maxburst": a.i += 1; burst = try a.size(for: w)
                case "mtu", "minburst": a.i += 1; mtu = try a.size(for: w)
                case "peakrate": a.i += 1; peak = try a.rate(for: w)
                case "pkts_rate": a.i += 1; pps = UInt64(try a.int(for: w, 1...Int(Int64.max)))
                case "pkts_burst": a.i += 1; ppsBurst = UInt64(try a.int(for: w, 1...Int(Int64.max)))
                case "overhead": a.i += 1; overhead = try a.int(for: w, 0...65535)
                case "mpu": a.i += 1; mpu = min(try a.size(for: w), 65535)
                case "avrate":
                    throw SluiceError("Error: police: \"avrate\" needs a rate estimator, which Sluice's actions do not keep.")
                case "linklayer":
                    a.i += 1
                    switch try a.value(for: w) {
                    case "ethernet": atm = false
                    case "atm", "adsl": atm = true
                    case let v: throw SluiceError("Error: police: Illegal \"linklayer\" \"\(v)\" (ethernet, atm, adsl)")
                    }
                case "conform-exceed":
                    a.i += 1
                    let v = try a.value(for: w).split(separator: "/").map(String.init)
                    guard let e = try ActVerdict.parse(v[0], &dummy) else { throw SluiceError("Error: Illegal conform-exceed \"\(v[0])\"") }
                    exceed = e
                    if v.count > 1 { guard let c = try ActVerdict.parse(v[1], &dummy) else { throw SluiceError("Error: Illegal conform-exceed \"\(v[1])\"") }; conform = c }
                case "drop", "shot", "pass", "ok", "reclassify", "continue", "pipe":
                    a.i += 1; exceed = try ActVerdict.parse(w, &dummy)!
                default: break loop
                }
            }
            guard rate > 0 || mtu > 0 || pps > 0 else { throw SluiceError("Error: police: 'rate' or 'avrate' or 'mtu' or 'pkts_rate' MUST be specified.") }
            if rate > 0 && burst == 0 { throw SluiceError("Error: police: 'burst' requires 'rate'.") }
            if pps > 0 && ppsBurst == 0 { throw SluiceError("Error: police: 'pkts_burst' requires 'pkts_rate'.") }
            if pps > 0 && rate > 0 { throw SluiceError("Error: police: 'rate' and 'pkts_rate' are not allowed in same action.") }
            if peak > 0 && rate == 0 { throw SluiceError("Error: police: 'peakrate' requires 'rate'.") }
            if peak > 0 && mtu == 0 { throw SluiceError("Error: police: 'mtu' is required, if 'peakrate' is requested.") }
            if case .gotoChain = conform { throw SluiceError("Error: goto chain not allowed on fallback") }
            var pp = Policer.Params()
            pp.rate = rate; pp.peakrate = peak; pp.pps = pps; pp.overhead = UInt16(overhead); pp.mpu = UInt16(mpu); pp.atm = atm
            pp.bufferTicks = rate > 0 ? TcCore.xmittime(rate: rate / 8, size: UInt32(clamping: burst)) : 0
            pp.ppsBurstTicks = pps > 0 ? UInt64(TcCore.xmittime(rate: pps, size: UInt32(clamping: ppsBurst))) : 0
            pp.mtu = UInt32(clamping: mtu)
            pp.conform = conform; pp.exceed = exceed
            return .police(Policer(pp))
        case "mirred":
            guard let dir = a.next(), dir == "egress" || dir == "ingress" else { throw SluiceError("Error: mirred needs \"egress\" or \"ingress\"") }
            guard let how = a.next(), how == "redirect" || how == "mirror" else { throw SluiceError("Error: mirred needs \"redirect\" or \"mirror\"") }
            guard a.next() == "dev" else { throw SluiceError("Error: mirred needs \"dev DEVICE\"") }
            let target = try device(try a.value(for: "dev"))
            guard target !== dev || how == "mirror" && dir == "ingress" else { throw SluiceError("Error: mirred to the same device would loop.") }
            let then = try trailing(&a, how == "redirect" ? .stolen : .pipe)
            return .mirred(egress: dir == "egress", redirect: how == "redirect", target: MirredTarget(dp: dp, ifindex: target.ifindex, name: target.name), then: then)
        case "vlan":
            guard let op = a.next() else { throw SluiceError("Error: vlan needs push, pop or modify") }
            switch op {
            case "pop": return .vlanPop(then: try trailing(&a, .pipe))
            case "push", "modify":
                var vid: UInt16?; var prio: UInt8?; var proto = EtherType.vlan
                loop: while let w = a.peek {
                    switch w {
                    case "id": a.i += 1; vid = UInt16(try a.int(for: w, 0...4095))
                    case "priority": a.i += 1; prio = UInt8(try a.int(for: w, 0...7))
                    case "protocol": a.i += 1
                        let v = try a.value(for: w)
                        guard v == "802.1q" || v == "802.1Q" || v == "802.1ad" else { throw SluiceError("Error: vlan protocol must be 802.1Q or 802.1ad") }
                        proto = v == "802.1ad" ? EtherType.qinq : EtherType.vlan
                    default: break loop
                    }
                }
                guard let vid else { throw SluiceError("Error: vlan \(op) needs \"id VID\"") }
                let then = try trailing(&a, .pipe)
                return op == "push" ? .vlanPush(vid: vid, prio: prio ?? 0, proto: proto, then: then) : .vlanModify(vid: vid, prio: prio, proto: proto, then: then)
            default: throw SluiceError("Error: vlan needs push, pop or modify, not \"\(op)\"")
            }
        case "skbedit":
            // m_skbedit.c's words.
            var k = SkbeditParams()
            loop: while let w = a.peek {
                switch w {
                case "priority": a.i += 1
                    let v = try a.value(for: w)
                    if v.contains(":") { k.priority = try TcHandle.parse(v).raw } else { k.priority = try hexOrDec(v, "priority") }
                case "mark": a.i += 1
                    let v = try a.value(for: w).split(separator: "/").map(String.init)
                    k.mark = try hexOrDec(v[0], "mark")
                    if v.count > 1 { k.mask = try hexOrDec(v[1], "mark mask") }
                case "queue_mapping": a.i += 1; k.queue = UInt16(try a.int(for: w, 0...65535))
                case "ptype": a.i += 1
                    let v = try a.value(for: w)
                    guard let t = SkbeditParams.ptypeNames.first(where: { $0.value == v })?.key else { throw SluiceError("Error: Illegal ptype (\(v))") }
                    k.ptype = UInt16(t)
                case "inheritdsfield": a.i += 1; k.inheritDS = true
                default: break loop
                }
            }
            guard !k.isEmpty else { throw SluiceError("Error: skbedit needs priority, mark, queue_mapping, ptype or inheritdsfield") }
            return .skbedit(k, then: try trailing(&a, .pipe))
        case "csum":
            // m_csum.c: the headers to fix, joined by and/or/+, then a control (pass).
            var flags: UInt32 = 0
            let names: [String: UInt32] = ["iph": 1, "ip4h": 1, "ipv4h": 1, "icmp": 2, "igmp": 4, "tcp": 8, "udp": 16, "udplite": 32, "sctp": 64]
            while let w = a.peek {
                if let f = names[w] { flags |= f } else if w != "and" && w != "or" && w != "+" { break }
                a.i += 1
            }
            guard flags != 0 else { throw SluiceError("Error: Illegal csum construct, empty <UPDATE> list") }
            return .csum(flags: flags, then: try trailing(&a, .ok))
        case "nat":
            // m_nat.c: ingress|egress OLD[/LEN] NEW, then a control (pass). `any`, `all` and
            // `default` are 0.0.0.0 with the full mask tc's shift by 32 leaves.
            guard let dir = a.next(), dir == "ingress" || dir == "egress" else { throw SluiceError("Error: Illegal nat construct (ingress or egress)") }
            let o = try a.value(for: "nat")
            var old: UInt32 = 0, mask: UInt32 = 0xFFFF_FFFF
            if !["any", "all", "default"].contains(o) {
                let parts = o.split(separator: "/")
                guard let addr = CommandRunner.parseIPv4(parts[0]) else { throw SluiceError("Error: Illegal nat construct (\(o))") }
                old = addr
                if parts.count > 1 {
                    guard let l = Int(parts[1]), (0...32).contains(l) else { throw SluiceError("Error: Illegal nat construct (\(o))") }
                    mask = l == 0 ? 0xFFFF_FFFF : ~UInt32(0) << UInt32(32 - l)
                }
            }
            let n = try a.value(for: "nat")
            guard let new = CommandRunner.parseIPv4(n) else { throw SluiceError("Error: Illegal nat construct (\(n))") }
            return .nat(old: old, new: new, mask: mask, egress: dir == "egress", then: try trailing(&a, .ok))
        case "skbmod":
            // m_skbmod.c: set dmac|smac MAC, set etype T, swap mac, ecn; then a control (pipe).
            var p = SkbmodParams()
            loop: while let w = a.peek {
                switch w {
                case "set", "swap": a.i += 1
                case "mac": a.i += 1; p.swap = true
                case "ecn": a.i += 1; p.ecn = true
                case "dmac", "smac":
                    a.i += 1
                    let v = try a.value(for: w)
                    guard let m = MACAddress(parsing: v) else { throw SluiceError("Error: Invalid \(w == "dmac" ? "dst" : "src") mac address \(v)") }
                    if w == "dmac" { p.dmac = m } else { p.smac = m }
                case "etype":
                    a.i += 1
                    let v = try a.value(for: w)
                    guard let t = v.hasPrefix("0x") ? UInt16(v.dropFirst(2), radix: 16) : UInt16(v) else { throw SluiceError("Error: ethertype is invalid \"\(v)\"") }
                    p.etype = t
                default: break loop
                }
            }
            guard p.flags != 0 else { throw SluiceError("Error: skbmod requires at least one option") }
            return .skbmod(p, then: try trailing(&a, .pipe))
        case "gate":
            // m_gate.c: [priority P] [base-time T] [cycle-time T] [cycle-time-ext T]
            // [clockid CLOCK] sched-entry open|close INTERVAL [IPV MAXOCTETS] …, a control.
            var entries: [GateEntry] = []
            var gp = GateParams(entries: GateParams.store([]), count: 0)
            loop: while let w = a.peek {
                switch w {
                case "priority": a.i += 1; gp.priority = Int32(try a.int(for: w, -1...Int(Int32.max)))
                case "base-time": a.i += 1; gp.base = try a.time(for: w)
                case "cycle-time": a.i += 1; gp.cycle = try a.time(for: w)
                case "cycle-time-ext": a.i += 1; gp.cycleExt = try a.time(for: w)
                case "clockid":
                    a.i += 1
                    let c = try a.value(for: w)
                    let ids: [String: Int32] = ["CLOCK_REALTIME": 0, "REALTIME": 0, "CLOCK_MONOTONIC": 1, "MONOTONIC": 1, "CLOCK_BOOTTIME": 7, "BOOTTIME": 7, "CLOCK_TAI": 11, "TAI": 11]
                    guard let id = ids[c] else { throw SluiceError("Error: gate: invalid clockid \"\(c)\"") }
                    gp.clockid = id
                case "sched-entry":
                    a.i += 1
                    let state = try a.value(for: w)
                    guard state == "open" || state == "close" else { throw SluiceError("Error: gate: sched-entry needs open or close") }
                    let iv = try a.time(for: "interval")
                    guard iv > 0, iv <= UInt64(UInt32.max) else { throw SluiceError("Error: gate: Invalid interval for schedule entry") }
                    var e = GateEntry(open: state == "open", interval: UInt32(iv), ipv: -1, maxOctets: -1)
                    if let ipv = a.peek, let n = Int32(ipv) {
                        a.i += 1; e.ipv = n
                        if let mo = a.peek {
                            let digits = mo.hasSuffix("b") ? String(mo.dropLast()) : mo
                            if let n = Int32(digits) { a.i += 1; e.maxOctets = n }
                        }
                    }
                    entries.append(e)
                default: break loop
                }
            }
            guard !entries.isEmpty else { throw SluiceError("Error: gate: The entry list is empty") }
            gp.entries = GateParams.store(entries); gp.count = entries.count
            gp.schedule(now: dp.clock.now, virtual: dp.clock.mode == .virtual)
            return .gate(gp, then: try trailing(&a, .pipe))
        case "ife":
            // m_ife.c: encode|decode, `allow mark|prio|tcindex`, `use mark|prio|tcindex V`,
            // dst MAC, src MAC, type T, then a control (pipe); decode allows every metadatum.
            guard let mode = a.next(), mode == "encode" || mode == "decode" else { throw SluiceError("Error: ife needs encode or decode") }
            var ip = IFEParams(encode: mode == "encode")
            var listed = false
            loop: while let w = a.peek {
                switch w {
                case "allow", "use":
                    a.i += 1
                    listed = true
                    let what = try a.value(for: w)
                    let val: UInt32? = w == "use" ? try hexOrDec(try a.value(for: what), what) : nil
                    switch what {
                    case "mark": ip.mark = val == nil ? 1 : 2; ip.markValue = val ?? 0
                    case "prio": ip.prio = val == nil ? 1 : 2; ip.prioValue = val ?? 0
                    case "tcindex":
                        if let val, val > 0xFFFF { throw SluiceError("Error: ife: tcindex \(val) is above 65535") }
                        ip.tcindex = val == nil ? 1 : 2; ip.tcindexValue = UInt16(val ?? 0)
                    default: throw SluiceError("Error: ife: unknown metadatum \"\(what)\" (mark, prio, tcindex)")
                    }
                case "dst", "src":
                    a.i += 1
                    let v = try a.value(for: w)
                    guard let m = MACAddress(parsing: v) else { throw SluiceError("Error: ife: Illegal MAC address \"\(v)\"") }
                    if w == "dst" { ip.dst = m } else { ip.src = m }
                case "type":
                    a.i += 1
                    let t = try hexOrDec(try a.value(for: w), w)
                    guard t <= 0xFFFF else { throw SluiceError("Error: ife: type \(t) is above 0xffff") }
                    ip.type = UInt16(t)
                default: break loop
                }
            }
            if ip.encode && ip.type == 0 { ip.type = IFEWire.defaultType }
            if !ip.encode { ip.type = 0; ip.dst = nil; ip.src = nil }
            if !listed { ip.mark = 1; ip.prio = 1; ip.tcindex = 1 }
            ip.setOrder()
            return .ife(ip, then: try trailing(&a, .pipe))
        case "mpls":
            // m_mpls.c: pop protocol P | push|mac_push [protocol mpls_uc|mpls_mc] label L [tc T]
            // [ttl T] [bos B] | modify [label L] [tc T] [ttl T] [bos B] | dec_ttl, then a control.
            var p: MPLSParams?
            var proto: UInt16?
            loop: while let w = a.peek {
                switch w {
                case "pop", "push", "modify", "mac_push", "dec_ttl":
                    guard p == nil else { throw SluiceError("Error: mpls: only one of pop, push, modify, mac_push, dec_ttl") }
                    a.i += 1
                    p = MPLSParams(op: UInt8(MPLSParams.names.firstIndex(of: w)!))
                case "label", "tc", "ttl", "bos":
                    guard let op = p?.op, [MPLSParams.push, MPLSParams.macPush, MPLSParams.modify].contains(op) else {
                        throw SluiceError("Error: mpls: \"\(w)\" is only valid for push, mac_push and modify")
                    }
                    a.i += 1
                    switch w {
                    case "label":
                        let v = try hexOrDec(try a.value(for: w), "label")
                        guard v <= 0xFFFFF else { throw SluiceError("Error: mpls: label must be <=0xFFFFF") }
                        p?.label = v
                    case "tc": p?.tc = UInt8(try a.int(for: w, 0...7))
                    case "ttl": p?.ttl = UInt8(try a.int(for: w, 1...255))
                    default: p?.bos = UInt8(try a.int(for: w, 0...1))
                    }
                case "protocol":
                    guard let op = p?.op, [MPLSParams.push, MPLSParams.macPush, MPLSParams.pop].contains(op) else {
                        throw SluiceError("Error: mpls: \"protocol\" is only valid for push, mac_push and pop")
                    }
                    a.i += 1
                    proto = try TcFormat.parseProto(try a.value(for: w))
                default: break loop
                }
            }
            guard var mp = p else { throw SluiceError("Error: mpls needs pop, push, modify, mac_push or dec_ttl") }
            if let proto { mp.proto = proto }
            switch mp.op {
            case MPLSParams.pop: guard proto != nil else { throw SluiceError("Error: mpls pop: \"protocol\" is required") }
            case MPLSParams.push, MPLSParams.macPush:
                guard mp.label != nil else { throw SluiceError("Error: mpls push: \"label\" is required") }
                guard MPLSEdit.isMPLS(mp.proto) else { throw SluiceError("Error: mpls push: protocol must be mpls_uc or mpls_mc") }
                if mp.ttl == 0 { mp.ttl = 255 }
            default: break
            }
            return .mpls(mp, then: try trailing(&a, .pipe))
        case "simple":
            // m_simple.c: [sdata STRING] [CONTROL] (pipe); at most 31 bytes.
            var data = ""
            if a.peek == "sdata" {
                a.i += 1
                data = try a.value(for: "sdata")
                guard data.utf8.count <= 31 else { throw SluiceError("Error: simple: Maximum size of sdata (\(data.utf8.count)) is 31 bytes") }
            }
            return .simple(tag: SimpleData.intern(data), then: try trailing(&a, .pipe))
        case "pedit":
            // m_pedit.c: [ex] munge … [munge …], then a control (pass).
            var extended = false
            if a.peek == "ex" { a.i += 1; extended = true }
            var keys: [HeaderEdit.PeditKey] = []
            var munges = 0
            while a.peek == "munge" {
                a.i += 1
                try PeditGrammar.munge(&a, extended: extended, &keys)
                munges += 1
            }
            guard munges > 0 else { throw SluiceError("Error: Bad pedit construct (pedit [ex] munge …)") }
            return .pedit(PeditParams(keys: keys, extended: extended), then: try trailing(&a, .ok))
        case "bpf":
            // m_bpf.c: the program (bytecode or bytecode-file), then the default action (pipe).
            guard let w = a.next(), ["bytecode", "bc", "bytecode-file", "bcf", "object-file", "obj"].contains(w) else {
                throw SluiceError("Error: bpf: give the program: bytecode 'N,code jt jf k,…' or bytecode-file FILE")
            }
            if w == "object-file" || w == "obj" { throw SluiceError("Error: bpf: eBPF object files are not supported; Sluice runs classic BPF (bytecode, bytecode-file).") }
            let prog = try Self.bpfProgram(w, &a)
            return .bpf(prog, then: try trailing(&a, .pipe))
        case "tunnel_key":
            // m_tunnel_key.c: unset | set src_ip A dst_ip A [id N] [dst_port P] [csum|nocsum]
            // [tos N] [ttl N] [nofrag], then a control (pipe).
            guard let mode = a.next(), mode == "set" || mode == "unset" else { throw SluiceError("Error: tunnel_key: \"set\" or \"unset\" is required") }
            if mode == "unset" { return .tunnelKey(nil, then: try trailing(&a, .pipe)) }
            var t = TunnelInfo(); t.flags = TunnelInfo.csum
            var haveSrc = false, haveDst = false
            loop: while let w = a.peek {
                switch w {
                case "src_ip", "dst_ip":
                    a.i += 1
                    let v = try a.value(for: w)
                    guard let ip = try parseV4(v), ip.1 == 0xFFFF_FFFF else {
                        throw SluiceError(v.contains(":") ? "Error: tunnel_key: IPv6 tunnel endpoints are not implemented in Sluice" : "Error: tunnel_key: Illegal \"\(w)\" \"\(v)\"")
                    }
                    if w == "src_ip" { t.src = ip.0; haveSrc = true } else { t.dst = ip.0; haveDst = true }
                case "id":
                    a.i += 1
                    t.id = UInt32(try a.int(for: w, 0...Int(UInt32.max))); t.flags |= TunnelInfo.key
                case "dst_port": a.i += 1; t.port = UInt16(try a.int(for: w, 0...65535))
                case "csum": a.i += 1; t.flags |= TunnelInfo.csum
                case "nocsum": a.i += 1; t.flags &= ~TunnelInfo.csum
                case "nofrag": a.i += 1; t.flags |= TunnelInfo.dontFragment
                case "tos": a.i += 1; t.tos = UInt8(try a.int(for: w, 0...255))
                case "ttl": a.i += 1; t.ttl = UInt8(try a.int(for: w, 0...255))
                case "geneve_opts", "vxlan_opts", "erspan_opts": throw SluiceError("Error: tunnel_key: tunnel options are not implemented in Sluice")
                default: break loop
                }
            }
            guard haveSrc && haveDst else { throw SluiceError("Error: Missing either ipv4 or ipv6 src and dst") }
            return .tunnelKey(t, then: try trailing(&a, .pipe))
        case "sample":
            // m_sample.c: rate N group N [trunc N], then a control (pipe); rate and group are
            // required (the kernel's "sample rate and group are required"), rate not 0.
            var rate: UInt32?, group: UInt32?, trunc: UInt32?
            loop: while let w = a.peek {
                switch w {
                case "rate": a.i += 1; rate = UInt32(try a.int(for: w, 0...Int(UInt32.max)))
                case "group": a.i += 1; group = UInt32(try a.int(for: w, 0...Int(UInt32.max)))
                case "trunc": a.i += 1; trunc = UInt32(try a.int(for: w, 0...Int(UInt32.max)))
                default: break loop
                }
            }
            guard let rate, let group else { throw SluiceError("Error: sample rate and group are required.") }
            guard rate != 0 else { throw SluiceError("Error: invalid sample rate.") }
            return .sample(SampleParams(rate: rate, group: group, trunc: trunc), then: try trailing(&a, .pipe))
        case "ct":
            // m_ct.c: clear | [commit [force]] [zone Z] [mark V[/M]] [label L[/M]]
            //   [nat [src|dst addr A[-B] [port P[-Q]]]], then a control (pipe).
            var flags: UInt16 = 0, zone: UInt16 = 0, mark: UInt32 = 0, markMask: UInt32 = 0
            var lh: UInt64 = 0, ll: UInt64 = 0, mh: UInt64 = 0, ml: UInt64 = 0
            var range = Conntrack.NATRange()
            loop: while let w = a.peek {
                switch w {
                case "clear": a.i += 1; flags |= CTParams.clear
                case "commit": a.i += 1; flags |= CTParams.commit
                case "force": a.i += 1; flags |= CTParams.force
                case "zone": a.i += 1; zone = UInt16(try a.int(for: w, 0...65535))
                case "mark":
                    a.i += 1
                    let t = try a.value(for: w)
                    let parts = t.split(separator: "/", maxSplits: 1)
                    guard let v = TcArgs.parseC(String(parts[0])).flatMap({ UInt32(exactly: $0) }) else { throw SluiceError("Error: ct: Illegal \"mark\"") }
                    mark = v
                    markMask = .max
                    if parts.count > 1 { guard let mv = TcArgs.parseC(String(parts[1])).flatMap({ UInt32(exactly: $0) }) else { throw SluiceError("Error: ct: Illegal \"mark\"") }; markMask = mv }
                case "label":
                    a.i += 1
                    let t = try a.value(for: w)
                    let parts = t.split(separator: "/", maxSplits: 1)
                    guard let l = Self.label128(parts[0]), let m = parts.count > 1 ? Self.label128(parts[1]) : (.max, .max) else {
                        throw SluiceError("Error: ct: Illegal label \"\(t)\"")
                    }
                    (lh, ll) = l; (mh, ml) = m
                case "nat":
                    a.i += 1
                    flags |= CTParams.nat
                    guard let dir = a.peek, dir == "src" || dir == "dst" else { continue }
                    a.i += 1
                    flags |= dir == "src" ? CTParams.natSrc : CTParams.natDst
                    if a.peek == "addr" {
                        a.i += 1
                        let t = try a.value(for: "addr")
                        let parts = t.split(separator: "-", maxSplits: 1)
                        range.hasAddr = true
                        if let lo = CommandRunner.parseIPv4(parts[0]) {
                            guard let hi = parts.count > 1 ? CommandRunner.parseIPv4(parts[1]) : lo else { throw SluiceError("Error: ct: Illegal nat address range \"\(t)\"") }
                            range.minLo = UInt64(lo); range.maxLo = UInt64(hi)
                        } else if let lo = CommandRunner.parseIPv6(String(parts[0])) {
                            guard let hi = parts.count > 1 ? CommandRunner.parseIPv6(String(parts[1])) : lo else { throw SluiceError("Error: ct: Illegal nat address range \"\(t)\"") }
                            range.v4 = false
                            range.minHi = UInt64(truncatingIfNeeded: lo >> 64); range.minLo = UInt64(truncatingIfNeeded: lo)
                            range.maxHi = UInt64(truncatingIfNeeded: hi >> 64); range.maxLo = UInt64(truncatingIfNeeded: hi)
                        } else {
                            throw SluiceError("Error: ct: Illegal nat address range \"\(t)\"")
                        }
                    }
                    if a.peek == "port" {
                        a.i += 1
                        let t = try a.value(for: "port")
                        let parts = t.split(separator: "-", maxSplits: 1)
                        guard let lo = UInt16(parts[0]), let hi = parts.count > 1 ? UInt16(parts[1]) : lo else { throw SluiceError("Error: ct: Illegal nat port range \"\(t)\"") }
                        range.hasPorts = true; range.minPort = lo; range.maxPort = hi
                    }
                case "helper": throw SluiceError("Error: ct: Sluice has no conntrack helpers (Operation not supported).")
                default: break loop
                }
            }
            if flags & CTParams.clear != 0 && flags != CTParams.clear { throw SluiceError("Error: ct: clear can't be combined with other ct options") }
            let cp = CTParams(flags: flags, zone: zone, mark: mark, markMask: markMask, labelHi: lh, labelLo: ll, labelMaskHi: mh, labelMaskLo: ml, range: range)
            return .ct(cp, then: try trailing(&a, .pipe))
        case "connmark":
            // m_connmark.c: [zone Z], then a control (pipe).
            var zone: UInt16 = 0
            if a.peek == "zone" { a.i += 1; zone = UInt16(try a.int(for: "zone", 0...65535)) }
            return .connmark(zone: zone, then: try trailing(&a, .pipe))
        case "ctinfo":
            // m_ctinfo.c: [dscp MASK [STATEMASK]] [cpmark [MASK]] [zone Z], then a control.
            var zone: UInt16 = 0, dscp: UInt32? = nil, state: UInt32 = 0, cpmark: UInt32? = nil
            func num(_ t: String) -> UInt32? { TcArgs.parseC(t).flatMap { UInt32(exactly: $0) } }
            loop: while let w = a.peek {
                switch w {
                case "zone": a.i += 1; zone = UInt16(try a.int(for: w, 0...65535))
                case "dscp":
                    a.i += 1
                    guard let v = num(try a.value(for: w)) else { throw SluiceError("Error: ctinfo: Illegal dscp mask") }
                    let shift = v == 0 ? 0 : v.trailingZeroBitCount
                    guard v >> shift == 0x3F else { throw SluiceError("Error: dscp mask must be 6 contiguous bits") }
                    dscp = v
                    if let n = a.peek.flatMap(num) { a.i += 1; state = n }
                    guard v & state == 0 else { throw SluiceError("Error: dscp statemask must not overlap dscp mask") }
                case "cpmark":
                    a.i += 1
                    cpmark = 0xFFFF_FFFF
                    if let n = a.peek.flatMap(num) { a.i += 1; cpmark = n }
                default: break loop
                }
            }
            return .ctinfo(CtinfoParams(zone: zone, dscpMask: dscp, dscpStateMask: state, cpmarkMask: cpmark), then: try trailing(&a, .pipe))
        case "ife":
            throw SluiceError("Error: action \"\(kind)\" is not implemented in Sluice yet.")
        default: throw SluiceError("Error: unknown action \"\(kind)\"")
        }
    }

    /// u32 selectors as iproute2's f_u32.c packs them: every key is a 32-bit word at an offset
    /// from the network header — `match ip sport/dport` at the fixed offsets 20/22 (no IP
    /// options assumed, as tc does), `nexthdr+N` keys at N plus the link offset (zero: Sluice
    /// has no `link … offset`). Values parse with base 0, masks in hex, as tc's get_u32.
    ///   match ip src|dst ADDR[/LEN] | sport|dport V M | protocol|tos|dsfield|ihl|icmp_type|icmp_code V M
    ///       | nofrag | firstfrag | df | mf
    ///   match u32|u16|u8 VALUE MASK [at [nexthdr+]OFFSET]
    func parseU32Match(_ a: inout TcArgs) throws(SluiceError) -> [(value: UInt32, mask: UInt32, offset: Int, l4: Bool)] {
        func value(_ s: String, _ what: String) throws(SluiceError) -> UInt32 {
            let v = s.hasPrefix("0x") || s.hasPrefix("0X") ? UInt32(s.dropFirst(2), radix: 16)
                : (s.count > 1 && s.hasPrefix("0") ? UInt32(s.dropFirst(), radix: 8) : UInt32(s))
            guard let v else { throw SluiceError("Error: Illegal \"\(what)\" \"\(s)\"") }
            return v
        }
        func mask(_ s: String) throws(SluiceError) -> UInt32 {
            guard let m = UInt32(s.hasPrefix("0x") || s.hasPrefix("0X") ? String(s.dropFirst(2)) : s, radix: 16) else {
                throw SluiceError("Error: Illegal \"mask\" \"\(s)\"")
            }
            return m
        }
        func sub(width: Int, _ value: UInt32, _ mask: UInt32, at off: Int, l4: Bool) throws(SluiceError) -> (value: UInt32, mask: UInt32, offset: Int, l4: Bool) {
            guard width == 8 || off % (width / 8) == 0 else { throw SluiceError("Error: Illegal \"at\" \(off): a u\(width) key needs \(width / 8)-byte alignment") }
            let aligned = off & ~3
            let shift = UInt32(32 - width - (off - aligned) * 8)
            let m = (width == 32 ? mask : mask & ((1 << UInt32(width)) - 1)) << shift
            return ((value << shift) & m, m, aligned, l4)
        }
        func vm(_ field: String, width: Int, at off: Int) throws(SluiceError) -> [(value: UInt32, mask: UInt32, offset: Int, l4: Bool)] {
            let v = try value(try a.value(for: field), field)
            let m = try mask(try a.value(for: "\(field) mask"))
            return [try sub(width: width, v, m, at: off, l4: false)]
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
                let m: UInt32 = plen == 0 ? 0 : ~UInt32(0) << UInt32(32 - plen)
                return [(addr & m, m, field == "src" ? 12 : 16, false)]
            case "sport": return try vm(field, width: 16, at: 20)
            case "dport": return try vm(field, width: 16, at: 22)
            case "protocol": return try vm(field, width: 8, at: 9)
            case "tos", "dsfield": return try vm(field, width: 8, at: 1)
            case "ihl": return try vm(field, width: 8, at: 0)
            case "icmp_type": return try vm(field, width: 8, at: 20)
            case "icmp_code": return try vm(field, width: 8, at: 21)
            case "nofrag": return [try sub(width: 16, 0, 0x3FFF, at: 6, l4: false)]
            case "firstfrag": return [try sub(width: 16, 0, 0x1FFF, at: 6, l4: false)]
            case "df": return [try sub(width: 16, 0x4000, 0x4000, at: 6, l4: false)]
            case "mf": return [try sub(width: 16, 0x2000, 0x2000, at: 6, l4: false)]
            default: throw SluiceError("Error: unknown \"match ip\" field \"\(field)\" (src, dst, sport, dport, protocol, tos, dsfield, ihl, icmp_type, icmp_code, nofrag, firstfrag, df, mf)")
            }
        case "u32", "u16", "u8":
            let width = sel == "u32" ? 32 : (sel == "u16" ? 16 : 8)
            let v = try value(try a.value(for: sel), "value")
            let m = try mask(try a.value(for: "mask"))
            var off = 0, l4 = false
            if a.peek == "at" {
                a.i += 1
                var offText = try a.value(for: "at")
                if offText == "nexthdr+" { l4 = true; offText = try a.value(for: "nexthdr+") } else if offText.hasPrefix("nexthdr+") {
                    l4 = true; offText = String(offText.dropFirst("nexthdr+".count))
                }
                let neg = offText.hasPrefix("-")
                let mag = neg ? String(offText.dropFirst()) : offText
                guard let o = (mag.hasPrefix("0x") ? Int(mag.dropFirst(2), radix: 16) : Int(mag)), o < 1 << 16 else {
                    throw SluiceError("Error: Illegal \"at\" \"\(offText)\"")
                }
                off = neg ? -o : o
            }
            return [try sub(width: width, v, m, at: off, l4: l4)]
        default: throw SluiceError("Error: unknown u32 selector \"\(sel)\" (ip, u32, u16, u8)")
        }
    }

    /// print_filter: `tc filter show dev D [parent P | ingress | egress] [protocol P] [pref N]
    /// [chain C]` (-s action statistics). What the request names is not repeated in the output.
    func filterShow(_ t: TcTarget, opts: Options) -> String {
        // tc_dump_tfilter: with no parent, the root qdisc's block; otherwise the named one.
        var blocks: [(parent: String, block: FilterBlock)] = []
        if let p = t.parent {
            if p.raw == 0xFFFF_FFF3 {
                if let ing = t.dev.ingress, ing.clsact { blocks.append(("", ing.egressFilters)) }
            } else if p.major == 0xFFFF {
                // ffff:fff2 (`ingress`) names clsact's ingress block, and a plain ingress
                // qdisc's only block, whatever the minor (ingress_tcf_block).
                if let ing = t.dev.ingress { blocks.append(("", ing.filters)) }
            } else if let q = findQdisc(t.dev, major: p.major) {
                if p.minor != 0 {
                    if let b = try? withClassBlock(q, p, { (b: inout FilterBlock) throws(SluiceError) in b }) { blocks.append(("", b)) }
                } else {
                    blocks.append(("", q.filters))
                }
            }
        } else {
            blocks.append(("parent \(TcFormat.classid(t.dev.qdisc.handle)) ", t.dev.qdisc.filters))
        }
        let now = dp.clock.now
        var out = ""
        for (parent, block) in blocks {
            // One classifier instance per (chain, prio): its head line, then its filters (u32:
            // each table's row, then its knodes).
            var head = ""
            for (f, isHead, isTable, divisor) in RtnlProcessor.walk(block)
            where (!t.chainGiven || f.chain == t.chain) && (t.prio == nil || f.prio == t.prio!) && (!t.protoGiven || f.proto == t.proto) {
                if isHead {
                    head = "filter " + (t.parent == nil ? parent : "")
                    if !t.protoGiven { head += "protocol \(TcFormat.proto(f.proto)) " }
                    if t.prio == nil { head += "pref \(f.prio) " }
                    head += "\(f.kind) "
                    if !t.chainGiven { head += "chain \(f.chain) " }
                    out += head + "\n"
                } else if isTable {
                    out += head + "fh \(String(f.handle >> 20, radix: 16)): ht divisor \(divisor) \n"
                } else {
                    out += head + filterOptions(f, block) + actionsText(f, opts, now: now) + "\n"
                }
            }
        }
        return out
    }

    /// The classifier's print_fopt text for one filter (u32, matchall, fw, flower).
    func filterOptions(_ f: TcFilter, _ block: FilterBlock) -> String {
        var s = ""
        let flowid: String? = { if case .classid(let c)? = f.result { return TcFormat.classid(c) } else { return nil } }()
        switch f.match {
        case .u32, .u32Range:
            let ht = String(f.handle >> 20, radix: 16), node = f.handle & 0xFFF
            s += "fh \(ht)::\(String(node, radix: 16)) order \(node) key ht \(ht) bkt 0 "
            // TC_U32_TERMINAL is set by a flowid or an action.
            if let flowid { s += "*flowid \(flowid) " } else if !f.actions.isEmpty { s += "terminal flowid " }
            s += (f.clsFlags & 1 != 0 ? "skip_hw " : "") + "not_in_hw "
            for k in block.keys(of: f) {
                s += "\n  match " + cFormat("%08x/%08x ", k.value, k.mask) + "at \(k.l4 ? "nexthdr+" : "")\(k.offset)"
            }
            if f.indev != 0, let d = dp.device(f.indev) { s += "\n  input dev \(d.name)\n" }
        case .flow:
            // flow_print_opt.
            s += cFormat("handle 0x%x ", f.handle)
            if let p = f.flow {
                s += p.hash ? "hash " : "map "
                s += "keys " + (0..<18).filter { p.keymask & (1 << $0) != 0 }.map { FlowParams.keyNames[$0] }.joined(separator: ",") + " "
                if p.mask != 0xFFFF_FFFF || p.xor != 0 {
                    let or = (p.mask & p.xor) ^ p.xor, xor = p.mask & p.xor
                    if p.mask != 0xFFFF_FFFF { s += cFormat("and 0x%.8x ", p.mask) }
                    if xor != 0 { s += cFormat("xor 0x%.8x ", xor) }
                    if or != 0 { s += cFormat("or 0x%.8x ", or) }
                }
                if p.rshift != 0 { s += "rshift \(p.rshift) " }
                if p.addend != 0 { s += cFormat("addend 0x%x ", p.addend) }
                if p.divisor != 0 { s += "divisor \(p.divisor) " }
                if p.baseclass != 0 { s += "baseclass \(TcFormat.classid(TcHandle(raw: p.baseclass))) " }
                if p.perturb != 0 { s += "perturb \(p.perturb)sec " }
            }
            if let e = f.ematch { s += "\n  " + e.text }
        case .cgroup:
            s += cFormat("handle 0x%x ", f.handle)
            if let e = f.ematch { s += "\n  " + e.text }
        case .bpf:
            // bpf_print_opt (f_bpf.c): handle, flowid, direct-action, flags, the bytecode.
            s += cFormat("handle 0x%x ", f.handle)
            if let flowid { s += "flowid \(flowid) " }
            if f.bpfDirect { s += "direct-action " }
            s += (f.clsFlags & 1 != 0 ? "skip_hw " : "") + "not_in_hw "
            if let p = f.bpf { s += "bytecode '\(p.bytecode)'" }
        case .basic:
            // basic_print_opt: handle, flowid, then the ematch tree as print_ematch writes it.
            s += cFormat("handle 0x%x ", f.handle)
            if let flowid { s += "flowid \(flowid) " }
            if let e = f.ematch { s += "\n  " + e.text }
        case .all:
            s += cFormat("handle 0x%x ", f.handle)
            if let flowid { s += "flowid \(flowid) " }
            s += (f.clsFlags & 1 != 0 ? "\n  skip_hw" : "") + "\n  not_in_hw"
        case .route(let to, let from, let iif):
            // route_print_opt: the handle, its order, the class, to, from or fromif.
            s += cFormat("fh 0x%08x ", f.handle)
            if f.handle & 0x7F00 != 0 { s += "order \((f.handle >> 8) & 0x7F) " }
            if let flowid { s += "flowid \(flowid) " }
            func realm(_ x: UInt32) -> String { x == 0 ? "cosmos" : "\(x)" }
            if f.handle & 0x8000 == 0 { s += "to \(realm((to ?? 0) & 0xFF)) " }
            if f.handle & 0x8000_0000 != 0 {
                if f.handle >> 16 != 0xFFFF { s += "fromif \(dp.device(iif ?? 0)?.name ?? "if\(iif ?? 0)")" }
            } else {
                s += "from \(realm(from ?? 0)) "
            }
        case .fw(let mark, let mask):
            s += mask != 0xFFFF_FFFF ? cFormat("handle 0x%x/0x%x ", mark, mask) : cFormat("handle 0x%x ", mark)
            if let flowid { s += "classid \(flowid) " }
            if f.indev != 0, let d = dp.device(f.indev) { s += "input dev \(d.name) " }
            if !f.actions.isEmpty { s += "\n" }
        case .flower(let k):
            // flower_print_opt's order and forms (tc/f_flower.c).
            s += cFormat("handle 0x%x ", f.handle)
            if let flowid { s += "classid \(flowid) " }
            if f.indev != 0, let d = dp.device(f.indev) { s += "\n  indev \(d.name)" }
            func mac(_ v: (UInt64, UInt64)) -> String {
                let bits = v.1.nonzeroBitCount, contiguous = v.1 == ((UInt64(1) << 48) - 1) & ~((UInt64(1) << UInt64(48 - bits)) - 1)
                return MACAddress(raw: v.0).description + (v.1 == 0xFFFF_FFFF_FFFF ? "" : contiguous ? "/\(bits)" : "/" + MACAddress(raw: v.1).description)
            }
            let vlan = k.vlanID != nil || k.vlanPrio != nil
            if let v = k.vlanID { s += "\n  vlan_id \(v)" }
            if let v = k.vlanPrio { s += "\n  vlan_prio \(v)" }
            if vlan, let t = k.ethType {
                s += "\n  vlan_ethtype " + (t == EtherType.ipv4 ? "ip" : t == EtherType.ipv6 ? "ipv6" : t == EtherType.arp ? "arp" : cFormat("[%04x]", UInt32(t)))
            }
            if let v = k.dstMAC { s += "\n  dst_mac \(mac(v))" }
            if let v = k.srcMAC { s += "\n  src_mac \(mac(v))" }
            let outer: UInt16? = vlan ? EtherType.vlan : k.ethType
            if let v = outer { s += "\n  eth_type \(v == EtherType.ipv4 ? "ipv4" : v == EtherType.ipv6 ? "ipv6" : v == EtherType.arp ? "arp" : cFormat("%04x", UInt32(v)))" }
            if let v = k.ipProto {
                s += "\n  ip_proto " + (v == IPProto.tcp ? "tcp" : v == IPProto.udp ? "udp" : v == 132 ? "sctp" : v == IPProto.icmp ? "icmp" : v == IPProto.icmpv6 ? "icmpv6" : cFormat("%02x", UInt32(v)))
            }
            if let (v, m) = k.tos { s += "\n  ip_tos " + cFormat("0x%x", UInt32(v)) + (m == 0xFF ? "" : cFormat("/0x%x", UInt32(m))) }
            func v4(_ v: (UInt32, UInt32)) -> String {
                let a = "\(v.0 >> 24).\((v.0 >> 16) & 255).\((v.0 >> 8) & 255).\(v.0 & 255)"
                return v.1 == 0xFFFF_FFFF ? a : a + "/\(v.1.nonzeroBitCount)"
            }
            func v6(_ p: V6Prefix) -> String {
                var b = [UInt8]()
                for i in 0..<8 { b.append(UInt8(truncatingIfNeeded: p.hi >> (56 - 8 * UInt64(i)))) }
                for i in 0..<8 { b.append(UInt8(truncatingIfNeeded: p.lo >> (56 - 8 * UInt64(i)))) }
                let bits = p.maskHi.nonzeroBitCount + p.maskLo.nonzeroBitCount
                var v: UInt128 = 0
                for x in b { v = v << 8 | UInt128(x) }
                return CommandRunner.ip6String(v) + (bits == 128 ? "" : "/\(bits)")
            }
            // Addresses are printed for an IPv4 or IPv6 EtherType only, destination first.
            if outer == EtherType.ipv4 {
                if let v = k.dstIP { s += "\n  dst_ip \(v4(v))" }
                if let v = k.srcIP { s += "\n  src_ip \(v4(v))" }
            } else if outer == EtherType.ipv6 {
                if let p = k.dstIP6 { s += "\n  dst_ip \(v6(p))" }
                if let p = k.srcIP6 { s += "\n  src_ip \(v6(p))" }
            }
            if k.ipProto == IPProto.tcp || k.ipProto == IPProto.udp || k.ipProto == 132 {
                if let r = k.dstPort { s += "\n  dst_port \(r.lowerBound)" + (r.count > 1 ? "-\(r.upperBound)" : "") }
                if let r = k.srcPort { s += "\n  src_port \(r.lowerBound)" + (r.count > 1 ? "-\(r.upperBound)" : "") }
            }
            // The tunnel keys, in flower_print_opt's order.
            if let v = k.encDstIP { s += "\n  enc_dst_ip \(v4(v))" }
            if let v = k.encSrcIP { s += "\n  enc_src_ip \(v4(v))" }
            if let v = k.encKeyID { s += "\n  enc_key_id \(v)" }
            if let v = k.encDstPort { s += "\n  enc_dst_port \(v)" }
            if let (v, m) = k.encTos { s += "\n  enc_tos " + cFormat("0x%x", UInt32(v)) + (m == 0xFF ? "" : cFormat("/0x%x", UInt32(m))) }
            if let (v, m) = k.encTTL { s += "\n  enc_ttl " + cFormat("0x%x", UInt32(v)) + (m == 0xFF ? "" : cFormat("/0x%x", UInt32(m))) }
            // flower_print_ct_state / _ct_zone / _ct_mark / _ct_label.
            if let (v, m) = k.ctState {
                s += "\n  ct_state " + FlowerKey.ctFlagNames.filter { m & $0.1 != 0 }.map { (v & $0.1 != 0 ? "+" : "-") + $0.0 }.joined()
            }
            if let (v, m) = k.ctZone { s += "\n  ct_zone \(v)" + (m == 0xFFFF ? "" : "/\(m)") }
            if let (v, m) = k.ctMark { s += "\n  ct_mark \(v)" + (m == .max ? "" : "/\(m)") }
            if let (h, l, mh, ml) = k.ctLabels {
                s += "\n  ct_label " + cFormat("%016llx%016llx", h, l) + (mh == .max && ml == .max ? "" : cFormat("/%016llx%016llx", mh, ml))
            }
            s += (f.clsFlags & 1 != 0 ? "\n  skip_hw" : "") + "\n  not_in_hw"
        }
        return s
    }

    /// tc_print_action for a filter's actions: each as "\taction order N: …", with their
    /// statistics under -s.
    func actionsText(_ f: TcFilter, _ opts: Options, now: UInt64) -> String {
        var s = ""
        for (k, act) in f.actions.enumerated() {
            let idx = k < f.bound.entries.count ? f.bound.entries[k].index : UInt32(k + 1)
            let c = k < f.bound.entries.count ? f.bound.entries[k].counters.pointee : ActionCounters()
            var tm = ""
            if opts.stats > 0 {
                // print_tm: clock_t (1/100 s) ages printed in whole seconds.
                func age(_ t: UInt64) -> UInt64 { (now &- t) / (10 * Time.ms) }
                if age(f.installed) != 0 { tm += " installed \(age(f.installed) / 100) sec" }
                let last = c.lastUse == 0 ? f.installed : c.lastUse
                if age(last) != 0 { tm += " used \(age(last) / 100) sec" }
                if c.firstUse != 0 && age(c.firstUse) != 0 { tm += " firstused \(age(c.firstUse) / 100) sec" }
            }
            let e = k < f.bound.entries.count ? f.bound.entries[k] : nil
            if f.oldPolice != nil {
                // The classifier's own police attribute: tc_print_police after a new line
                // (fw: on the same line), no action heading.
                s += (f.kind == "fw" ? " " : "\n") + act.printText(index: idx, tm: tm, ref: e?.refs ?? 1, bind: e?.binds ?? 1)
                continue
            }
            s += "\n\taction order \(k + 1): " + act.printText(index: idx, tm: tm, ref: e?.refs ?? 1, bind: e?.binds ?? 1)
            if opts.stats > 0 {
                var st = QdiscStats()
                st.packets = c.packets; st.bytes = c.bytes; st.drops = c.drops; st.overlimits = c.overlimits
                s += "\tAction statistics:\n" + TcFormat.stats(st, prefix: "\t") + "\n"
            }
        }
        return s
    }

    func format08(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 8 - s.count)) + s
    }
}
