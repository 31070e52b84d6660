/// `rule` in ip-rule(8)'s words, parsed to the typed rule (FIBRules.swift) that RTM_NEWRULE
/// also produces, applied by the same FIB methods; `rule show` prints as `ip rule` prints.
/// Routing tables by name or number (rt_tables: local 255, main 254, default 253).
extension CommandRunner {
    static func tableID(_ v: String) -> UInt32? {
        switch v { case "main": 254; case "local": 255; case "default": 253; case "unspec": 0; default: UInt32(v) }
    }

    static func tableName(_ id: UInt32) -> String {
        switch id { case 254: "main"; case 255: "local"; case 253: "default"; case 0: "unspec"; default: String(id) }
    }

    func rule(_ w: [String], _ opts: Options = Options()) throws(SluiceError) -> String {
        Self.wantsIPv6(w, opts) ? try rule(w, dp.ipv6) : try rule(w, dp.ipv4)
    }

    func rule<S: InetFamilyStack>(_ w: [String], _ stack: S) throws(SluiceError) -> String {
        let fib = stack.fib
        guard let verb = w.first else { return ruleShow(fib, S.self) }
        switch try match(verb, ["add", "delete", "show", "list", "flush"], what: "rule command") {
        case "show", "list": return ruleShow(fib, S.self)
        case "flush":
            // iprule_flush: every rule but priority 0's.
            while let i = fib.rules.firstIndex(where: { $0.priority != 0 }) { fib.removeRule(at: i) }
            return ""
        default:
            let add = verb == "add"
            var (r, given) = try parseRule(Array(w.dropFirst()), S.self)
            if add && r.action == 0 { r.action = RuleAction.toTable }
            if add && r.action == RuleAction.toTable && r.table == 0 && !given.table { r.table = FIB.tableMain }
            do {
                if add && r.realm != 0 { fib.hasRealms = true }
                if add { try fib.addRule(r, priorityGiven: given.priority, exclusive: true) }
                else { try fib.deleteRule(r, priorityGiven: given.priority) }
            } catch {
                switch error {
                case .exists: throw SluiceError("RTNETLINK answers: File exists")
                case .notFound: throw SluiceError("RTNETLINK answers: No such file or directory")
                case .permanent: throw SluiceError("RTNETLINK answers: Operation not permitted")
                case .invalid(let m): throw SluiceError("Error: \(m).")
                }
            }
            return ""
        }
    }

    /// iprule_modify's selectors and actions.
    func parseRule<S: InetFamilyStack>(_ w: [String], _: S.Type) throws(SluiceError) -> (FIBRuleOf<S.Addr>, (priority: Bool, table: Bool)) {
        var r = FIBRuleOf<S.Addr>()
        var a = Args(w)
        var given = (priority: false, table: false)
        func range(_ v: String, _ key: String) throws(SluiceError) -> (UInt16, UInt16) {
            let p = v.split(separator: "-", maxSplits: 1)
            guard let s = UInt16(p[0]), let e = p.count == 2 ? UInt16(p[1]) : s else { throw SluiceError("Error: argument \"\(v)\" is wrong: invalid \(key)") }
            return (s, e)
        }
        func number(_ v: String) -> UInt32? { v.hasPrefix("0x") ? UInt32(v.dropFirst(2), radix: 16) : UInt32(v) }
        while let k = a.next() {
            switch k {
            case "not": r.flags |= RuleAction.flagInvert
            case "from", "to":
                let v = try a.value(for: k)
                if v == "all" { continue }
                let (p, l) = try Self.parsePrefix(v, S.self)
                if k == "from" { r.src = LPMTrie<S.Addr>.mask(p, l); r.srcLen = l } else { r.dst = LPMTrie<S.Addr>.mask(p, l); r.dstLen = l }
            case "preference", "order", "priority", "pref", "prio":
                let v = try a.value(for: k)
                guard let n = UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: preference value is invalid") }
                r.priority = n; given.priority = true
            case "tos", "dsfield":
                let v = try a.value(for: k)
                guard let n = number(v), n <= 255 else { throw SluiceError("Error: argument \"\(v)\" is wrong: TOS value is invalid") }
                r.tos = UInt8(n)
            case "fwmark":
                let v = try a.value(for: k)
                let p = v.split(separator: "/", maxSplits: 1).map(String.init)
                guard let m = number(p[0]), let mask = p.count == 2 ? number(p[1]) : (m != 0 ? .max : 0) else {
                    throw SluiceError("Error: argument \"\(v)\" is wrong: fwmark value is invalid")
                }
                r.mark = m; r.markMask = mask
            case "table", "lookup":
                let v = try a.value(for: k)
                guard let t = Self.tableID(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: invalid table ID") }
                r.table = t; given.table = true
                if r.action == 0 { r.action = RuleAction.toTable }
            case "suppress_prefixlength", "sup_pl":
                let v = try a.value(for: k)
                guard let n = Int32(v), n >= -1 else { throw SluiceError("Error: argument \"\(v)\" is wrong: suppress_prefixlength value is invalid") }
                r.suppressPrefixLen = n
            case "dev", "iif", "oif":
                let v = try a.value(for: k)
                let idx = dp.device(named: v)?.ifindex ?? -1
                if k == "oif" { r.oifName = v; r.oif = idx } else { r.iifName = v; r.iif = idx }
            case "uidrange":
                let v = try a.value(for: k)
                let p = v.split(separator: "-", maxSplits: 1)
                guard p.count == 2, let s = UInt32(p[0]), let e = UInt32(p[1]) else { throw SluiceError("Error: argument \"\(v)\" is wrong: invalid UID range") }
                r.uidStart = s; r.uidEnd = e
            case "ipproto":
                let v = try a.value(for: k)
                switch v {
                case "tcp": r.ipProto = IPProto.tcp; case "udp": r.ipProto = IPProto.udp; case "icmp": r.ipProto = IPProto.icmp
                case "ipv6-icmp", "icmpv6": r.ipProto = IPProto.icmpv6; case "sctp": r.ipProto = 132
                default: guard let n = UInt8(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: Invalid \"ipproto\"") }; r.ipProto = n
                }
            case "sport", "dport":
                if S.isIPv6 { throw SluiceError("Error: Sluice's IPv6 rules do not match ports (Operation not supported).") }
                let (s, e) = try range(try a.value(for: k), k)
                if k == "sport" { r.sportStart = s; r.sportEnd = e } else { r.dportStart = s; r.dportEnd = e }
            case "protocol", "proto":
                let v = try a.value(for: k)
                guard let n = RouteProtocol.parse(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: invalid \"protocol\"") }
                r.proto = n
            case "goto":
                let v = try a.value(for: k)
                guard let n = UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: invalid fib rule goto target") }
                r.action = RuleAction.goto; r.target = n
            case "nop": r.action = RuleAction.nop
            case "type", "blackhole", "unreachable", "prohibit", "unicast":
                let t = k == "type" ? try a.value(for: k) : k
                switch t {
                case "unicast": r.action = RuleAction.toTable
                case "blackhole": r.action = RuleAction.blackhole
                case "unreachable": r.action = RuleAction.unreachable
                case "prohibit": r.action = RuleAction.prohibit
                default: throw SluiceError("Error: argument \"\(t)\" is wrong: Failed to parse rule type")
                }
            case "realms", "realm":
                // FRA_FLOW (IPv4; IPv6 rules ignore it).
                let v = try CommandRunner.realms(try a.value(for: k))
                if S.Addr.bitWidth == 32 { r.realm = v }
            case "l3mdev":
                // The table of the flow's VRF; iproute2 sends no table with it.
                r.l3mdev = 1; given.table = true
                if r.action == 0 { r.action = RuleAction.toTable }
            case "nat", "map-to", "suppress_ifgroup", "sup_group", "tun_id", "flowlabel":
                throw SluiceError("Error: \"\(k)\" is not supported by Sluice's rules (Operation not supported).")
            default:
                throw SluiceError("Error: argument \"\(k)\" is wrong: Failed to parse rule type")
            }
        }
        return (r, given)
    }

    /// print_rule's plain text.
    func ruleShow<A: InetAddressValue, S: InetFamilyStack>(_ fib: FIBOf<A>, _: S.Type) -> String where S.Addr == A {
        var out = ""
        for r in fib.rules {
            var s = "\(r.priority):\t"
            if r.flags & RuleAction.flagInvert != 0 { s += "not " }
            s += "from " + (r.srcLen > 0 ? Self.prefixString(r.src, r.srcLen, S.self) : "all") + " "
            if r.dstLen > 0 { s += "to \(Self.prefixString(r.dst, r.dstLen, S.self)) " }
            if r.tos != 0 { s += "tos 0x\(String(r.tos, radix: 16)) " }
            if r.mark != 0 || r.markMask != 0 {
                s += "fwmark 0x\(String(r.mark, radix: 16))" + (r.markMask != .max ? "/0x\(String(r.markMask, radix: 16))" : "") + " "
            }
            if !r.iifName.isEmpty { s += "iif \(r.iifName) " + (r.iif == -1 ? "[detached] " : "") }
            if !r.oifName.isEmpty { s += "oif \(r.oifName) " + (r.oif == -1 ? "[detached] " : "") }
            if r.uidSet { s += "uidrange \(r.uidStart)-\(r.uidEnd) " }
            if r.ipProto != 0 { s += "ipproto \(r.ipProto == IPProto.tcp ? "tcp" : r.ipProto == IPProto.udp ? "udp" : String(r.ipProto)) " }
            for (n, lo, hi) in [("sport", r.sportStart, r.sportEnd), ("dport", r.dportStart, r.dportEnd)] where hi != 0 {
                s += lo == hi ? "\(n) \(lo) " : "\(n) \(lo)-\(hi) "
            }
            if r.action == RuleAction.toTable && r.table != 0 { s += "lookup \(Self.tableName(r.table)) " }
            if r.l3mdev != 0 { s += "lookup [l3mdev-table] " }
            if r.suppressPrefixLen != -1 { s += "suppress_prefixlength \(r.suppressPrefixLen) " }
            if r.realm != 0 { s += "realms " + (r.realm >> 16 != 0 ? "\(r.realm >> 16)/" : "") + (r.realm & 0xFFFF == 0 ? "cosmos" : "\(r.realm & 0xFFFF)") + " " }
            switch r.action {
            case RuleAction.goto: s += "goto \(r.target)" + (fib.rules.contains { $0.priority == r.target } ? "" : " [unresolved]") + " "
            case RuleAction.nop: s += "nop "
            case RuleAction.blackhole: s += "blackhole "
            case RuleAction.unreachable: s += "unreachable "
            case RuleAction.prohibit: s += "prohibit "
            default: break
            }
            if r.proto != 0 && r.proto != RouteProtocol.kernel { s += "proto \(RouteProtocol.name(r.proto)) " }
            while s.hasSuffix(" ") { s.removeLast() }
            out += s + "\n"
        }
        return out
    }
}
