/// Principles (net/core/fib_rules.c, net/ipv4/fib_rules.c, net/ipv6/fib6_rules.c)
/// ----------
/// Policy routing: an ordered list of rules, each a set of selectors (source and destination
/// prefixes, TOS, input and output device by name, firewall mark under a mask, uid range, IP
/// protocol and port ranges) and an action — look up a table, jump forward to a priority, do
/// nothing, or answer blackhole, unreachable or prohibit. A lookup walks the rules by priority;
/// a table that has no route for the destination (or whose match is suppressed by
/// `suppress_prefixlength`) lets the walk go on, as fib_rules_lookup with -EAGAIN.
/// The default rules are the kernel's (IPv4: 0 local, 32766 main, 32767 default; IPv6: 0 local,
/// 32766 main). While they are the only rules and table `default` is empty, the forwarding
/// path never walks them: it looks up local, then main, as before (the kernel's
/// fib_has_custom_rules shortcut).

/// FR_ACT_* and FIB_RULE_* (linux/fib_rules.h).
public enum RuleAction {
    public static let toTable: UInt8 = 1, goto: UInt8 = 2, nop: UInt8 = 3
    public static let blackhole: UInt8 = 6, unreachable: UInt8 = 7, prohibit: UInt8 = 8
    public static let flagPermanent: UInt32 = 1, flagInvert: UInt32 = 2, flagUnresolved: UInt32 = 4
    public static let flagIifDetached: UInt32 = 8, flagOifDetached: UInt32 = 0x10
}

/// One rule: the typed value `ip rule` and RTM_NEWRULE produce (struct fib_rule with the
/// family's fib4_rule/fib6_rule selectors).
public struct FIBRuleOf<A: InetAddressValue>: Equatable, Sendable {
    public var priority: UInt32 = 0
    public var action: UInt8 = RuleAction.toTable
    public var table: UInt32 = 0
    /// FIB_RULE_INVERT, as given; the detached and unresolved flags are computed when shown.
    public var flags: UInt32 = 0
    public var src: A = 0, srcLen = 0, dst: A = 0, dstLen = 0
    public var tos: UInt8 = 0
    /// Devices by name (FRA_IIFNAME/FRA_OIFNAME); the index is -1 while no such device exists.
    public var iifName = "", oifName = ""
    public var iif: Int32 = 0, oif: Int32 = 0
    public var mark: UInt32 = 0, markMask: UInt32 = 0
    /// FR_ACT_GOTO's target priority.
    public var target: UInt32 = 0
    public var suppressPrefixLen: Int32 = -1, suppressIfgroup: Int32 = -1
    public var uidStart: UInt32 = 0, uidEnd: UInt32 = .max
    public var proto: UInt8 = 0
    public var ipProto: UInt8 = 0
    /// Port ranges; (0, 0) when unset.
    public var sportStart: UInt16 = 0, sportEnd: UInt16 = 0, dportStart: UInt16 = 0, dportEnd: UInt16 = 0
    /// FRA_FLOW (IPv4): realms a lookup through this rule gives (res->tclassid).
    public var realm: UInt32 = 0
    /// FRA_L3MDEV: look up the table of the VRF the flow is in (`ip rule add l3mdev`); a flow
    /// in no VRF does not match.
    public var l3mdev: UInt8 = 0

    public init() {}

    public var uidSet: Bool { uidStart != 0 || uidEnd != .max }
    public var needsPorts: Bool { ipProto != 0 || sportEnd != 0 || dportEnd != 0 }

    /// fib_default_rule_add.
    static func defaultRule(_ priority: UInt32, table: UInt32) -> FIBRuleOf {
        var r = FIBRuleOf()
        r.priority = priority; r.table = table; r.proto = RouteProtocol.kernel
        return r
    }

    /// fib_rule_match with the family's match (fib4_rule_match, fib6_rule_match).
    @inline(__always)
    func matches(_ dst: A, _ k: FlowKeysOf<A>) -> Bool {
        var ok = true
        if iif != 0 && iif != k.iif { ok = false }
        else if oif != 0 && oif != k.oif { ok = false }
        else if (mark ^ k.mark) & markMask != 0 { ok = false }
        else if k.uid < uidStart || k.uid > uidEnd { ok = false }
        else if srcLen > 0 && LPMTrie<A>.mask(k.src, srcLen) != src { ok = false }
        else if dstLen > 0 && LPMTrie<A>.mask(dst, dstLen) != self.dst { ok = false }
        else if tos != 0 && tos != k.tos { ok = false }
        else if ipProto != 0 && ipProto != k.proto { ok = false }
        else if sportEnd != 0 && !(sportStart...sportEnd).contains(k.sport) { ok = false }
        else if dportEnd != 0 && !(dportStart...dportEnd).contains(k.dport) { ok = false }
        return flags & RuleAction.flagInvert != 0 ? !ok : ok
    }
}

/// The flow a rule walk looks at (struct flowi): for a forwarded packet its input device,
/// mark, TOS (DSCP bits) and, when some rule asks, protocol and ports; for one Sluice sends,
/// the input device is lo (LOOPBACK_IFINDEX) and the output device may be given.
public struct FlowKeysOf<A: InetAddressValue>: Sendable {
    public var src: A = 0
    public var iif: Int32 = 0, oif: Int32 = 0
    public var mark: UInt32 = 0, uid: UInt32 = 0
    public var tos: UInt8 = 0, proto: UInt8 = 0
    public var sport: UInt16 = 0, dport: UInt16 = 0
    public init(src: A = 0, iif: Int32 = 0, oif: Int32 = 0, mark: UInt32 = 0, tos: UInt8 = 0) {
        self.src = src; self.iif = iif; self.oif = oif; self.mark = mark; self.tos = tos
    }
}

/// What a rule walk ends in.
enum RuleOutcome<A: InetAddressValue> {
    /// A table to look up (already known to hold a route, unless restricted to a device), and
    /// the realms of the rule that chose it.
    case table(FIBTableOf<A>, realm: UInt32)
    /// FR_ACT_BLACKHOLE, _UNREACHABLE (ENETUNREACH: as no route), _PROHIBIT.
    case reject(RouteType)
    /// No rule gave an answer (ESRCH: as no route).
    case none
}

extension FIBOf {
    /// The kernel's default rules for the family.
    static func defaultRules(v6: Bool) -> [FIBRuleOf<A>] {
        v6 ? [.defaultRule(0, table: 255), .defaultRule(32766, table: 254)]
           : [.defaultRule(0, table: 255), .defaultRule(32766, table: 254), .defaultRule(32767, table: 253)]
    }

    /// fib_rules_lookup: the rules in order; a goto continues at the first rule of its target
    /// priority (a rule whose target is gone is skipped, as an unresolved goto); a table
    /// lookup that finds nothing for `addr` — or, restricted to `keys.oif`, nothing through
    /// it, or a throw route — or whose match is suppressed goes on to the next rule.
    func walkRules(_ addr: A, _ flow: FlowKeysOf<A>, hash: UInt32, restrictToOIF: Bool = false) -> RuleOutcome<A> {
        // l3mdev_update_flow: the VRF of the output device (an output device that is a VRF
        // device only names it, and is no longer matched), else of the input device.
        var keys = flow
        var vrfTable: UInt32? = nil
        if !l3mdev.isEmpty {
            if keys.oif != 0, let o = l3mdev[keys.oif] {
                vrfTable = o.table
                if o.master == keys.oif { keys.oif = 0 }
            } else if keys.oif == 0, keys.iif != loopbackIndex, let i = l3mdev[keys.iif] {
                vrfTable = i.table
            }
        }
        var i = 0
        let n = rules.count
        while i < n {
            let r = rules[i]
            guard r.matches(addr, keys), r.l3mdev == 0 || vrfTable != nil else { i &+= 1; continue }
            switch r.action {
            case RuleAction.goto:
                guard let j = rules.firstIndex(where: { $0.priority == r.target }), j > i else { i &+= 1; continue }
                i = j
                continue
            case RuleAction.nop:
                i &+= 1
                continue
            case RuleAction.toTable:
                guard let t = tables[r.l3mdev != 0 ? vrfTable! : r.table] else { i &+= 1; continue }
                // A throw route ends the table's lookup as no route would (EAGAIN).
                let found: Bool
                if restrictToOIF && keys.oif != 0 {
                    let r = t.resolve(addr, oif: keys.oif, hash: hash)
                    found = r != nil && r!.route.type != .throw
                } else {
                    found = t.finds(addr)
                }
                guard found else { i &+= 1; continue }
                if r.suppressPrefixLen >= 0, let l = t.prefixLength(addr), l <= Int(r.suppressPrefixLen) { i &+= 1; continue }
                return .table(t, realm: r.realm)
            case RuleAction.unreachable: return .reject(.unreachable)
            case RuleAction.prohibit: return .reject(.prohibit)
            default: return .reject(.blackhole)
            }
        }
        return .none
    }

    /// The forwarding lookup through the rules (only when rules other than the defaults exist,
    /// or table `default` holds routes): an unreachable rule is as no route (ENETUNREACH).
    func lookupRules(_ addr: A, _ keys: FlowKeysOf<A>, hash: UInt32) -> FIBResultOf<A>? {
        switch walkRules(addr, keys, hash: hash) {
        case .table(let t, let realm):
            guard var res = t.lookup(addr, hash: hash) else { return nil }
            res.ruleRealm = realm
            return res
        case .reject(let type): return type == .unreachable ? nil : FIBResultOf(type: type, gateway: 0, dev: 0, prefsrc: 0, nh: -1)
        case .none: return nil
        }
    }

    /// Inserts a rule after those of its priority or lower (fib_nl_newrule), resolving device
    /// names; the fast-path shortcut follows.
    func insertRule(_ r: FIBRuleOf<A>) {
        let at = rules.firstIndex { $0.priority > r.priority } ?? rules.count
        rules.insert(r, at: at)
        if !Self.defaultRules(v6: A.bitWidth == 128).contains(r) { hadCustomRules = true }
        updateSimple()
    }

    func removeRule(at i: Int) {
        rules.remove(at: i)
        updateSimple()
    }

    /// attach_rules/detach_rules on NETDEV_REGISTER, _CHANGENAME and _UNREGISTER.
    func devicesChanged(_ index: (String) -> Int32?) {
        for i in rules.indices {
            if !rules[i].iifName.isEmpty { rules[i].iif = index(rules[i].iifName) ?? -1 }
            if !rules[i].oifName.isEmpty { rules[i].oif = index(rules[i].oifName) ?? -1 }
        }
    }

    /// fib_has_custom_rules, and table `default` (which the default rules reach) still empty.
    func updateSimple() {
        let defaults = Self.defaultRules(v6: A.bitWidth == 128)
        simple = rules == defaults && (tables[253]?.prefixes.allSatisfy { $0 == nil } ?? true)
        needsPorts = rules.contains { $0.needsPorts }
    }
}

/// Why a rule change is refused, for each syntax to word as the kernel's answer.
public enum RuleError: Error, Equatable {
    case exists, notFound, permanent
    case invalid(String)
}

extension FIBRuleOf {
    /// fib_nl2rule's checks that depend on the rule alone.
    func validate() throws(RuleError) {
        if target != 0 && action != RuleAction.goto { throw .invalid("Unexpected goto") }
        if action == RuleAction.goto {
            guard target != 0 else { throw .invalid("Missing goto target for action goto") }
            guard target > priority else { throw .invalid("Backward goto not supported") }
        }
        if l3mdev > 1 { throw .invalid("Invalid l3mdev attribute") }
        if l3mdev != 0 && table != 0 { throw .invalid("l3mdev and table are mutually exclusive") }
        if uidSet && (uidStart > uidEnd || uidEnd == .max) { throw .invalid("Invalid uid range") }
        // fib_rule_port_range_valid.
        if sportEnd != 0 && !(sportStart != 0 && sportEnd < 0xFFFF && sportStart <= sportEnd) { throw .invalid("Invalid sport range") }
        if dportEnd != 0 && !(dportStart != 0 && dportEnd < 0xFFFF && dportStart <= dportEnd) { throw .invalid("Invalid dport range") }
        if tos & 0x03 != 0 { throw .invalid("Invalid dsfield (tos): ECN bits must be 0") }
    }

    /// rule_exists: the same rule in every field.
    func same(_ b: FIBRuleOf) -> Bool {
        var x = self, y = b
        x.iif = 0; x.oif = 0; y.iif = 0; y.oif = 0
        return x == y
    }

    /// rule_find: `self` is the request; every field it names (is not zero or unset) must match.
    func selects(_ x: FIBRuleOf, priorityGiven: Bool) -> Bool {
        (action == 0 || x.action == action) && (table == 0 || x.table == table)
            && (!priorityGiven || x.priority == priority)
            && (iifName.isEmpty || x.iifName == iifName) && (oifName.isEmpty || x.oifName == oifName)
            && (mark == 0 || x.mark == mark) && (markMask == 0 || x.markMask == markMask)
            && (suppressPrefixLen == -1 || x.suppressPrefixLen == suppressPrefixLen)
            && (!uidSet || (x.uidStart == uidStart && x.uidEnd == uidEnd))
            && (ipProto == 0 || x.ipProto == ipProto) && (proto == 0 || x.proto == proto)
            && (sportEnd == 0 || (x.sportStart, x.sportEnd) == (sportStart, sportEnd))
            && (dportEnd == 0 || (x.dportStart, x.dportEnd) == (dportStart, dportEnd))
            && (srcLen == 0 || (x.srcLen == srcLen && x.src == src))
            && (dstLen == 0 || (x.dstLen == dstLen && x.dst == dst))
            && (tos == 0 || x.tos == tos) && (realm == 0 || x.realm == realm)
            && (l3mdev == 0 || x.l3mdev == l3mdev)
    }
}

extension FIBOf {
    /// fib_nl_newrule: without a priority, one below the second rule's (fib_default_rule_pref);
    /// NLM_F_EXCL refuses an identical rule; a table lookup without a table takes the first
    /// unused table id (fib_empty_table).
    func addRule(_ rule: FIBRuleOf<A>, priorityGiven: Bool, exclusive: Bool) throws(RuleError) {
        var r = rule
        if !priorityGiven { r.priority = rules.count >= 2 && rules[1].priority > 0 ? rules[1].priority - 1 : 0 }
        try r.validate()
        if exclusive && rules.contains(where: { $0.same(r) }) { throw .exists }
        if r.table == 0 && r.action == RuleAction.toTable && r.l3mdev == 0 {
            var id: UInt32 = 1
            while tables[id] != nil { id += 1 }
            _ = newTable(id)
            r.table = id
        }
        insertRule(r)
    }

    /// fib_nl_delrule: the first rule the request selects; the permanent ones stay (EPERM).
    func deleteRule(_ request: FIBRuleOf<A>, priorityGiven: Bool) throws(RuleError) {
        if request.action == RuleAction.goto || request.target != 0 { try request.validate() }
        guard let i = rules.firstIndex(where: { request.selects($0, priorityGiven: priorityGiven) }) else { throw .notFound }
        if rules[i].flags & RuleAction.flagPermanent != 0 { throw .permanent }
        removeRule(at: i)
    }
}
