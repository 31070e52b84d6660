import HeapModule
/// tc actions as the kernel keeps them (act_api.c): every action is an object in its kind's
/// table (tcf_idr), numbered from 1, with its parameters, counters, cookie and two counts —
/// `bind` (filters using it) and `ref` (bind, plus one while it was created by `tc actions add`
/// and not deleted). A filter either creates its actions (they go when it goes) or binds to an
/// existing index (`action gact index 5`), sharing its parameters and counters; `tc actions
/// replace` changes an action for every filter bound to it; `tc actions delete` and `flush`
/// refuse a bound action (EPERM).
///
/// The packet path never touches these objects: a filter keeps a copy of each action's
/// parameters (`TcFilter.actions`, re-copied when the action is replaced) and a plain pointer to
/// each action's counters (`BoundActions.counters`).

/// One action (struct tc_action).
final class ActionEntry {
    let kind: String
    let index: UInt32
    var action: TcAction
    var cookie: [UInt8]?
    /// The user's flags (TCA_ACT_FLAGS_USER_MASK: no_percpu, skip_hw, skip_sw), with the
    /// skip flags a binding filter passed on to an action it made.
    var flags: UInt32 = 0
    /// Held by the table itself: created by `tc actions add`, not yet deleted.
    var standalone: Bool
    /// Filters bound to it (tcfa_bindcnt).
    var binds = 0
    /// Made by `tc actions add` (it then keeps its own skip_hw/skip_sw flags).
    let createdStandalone: Bool
    /// used_hw_stats_valid: the action has been in a `tc actions list` dump; dumps report the
    /// hardware statistics used (none) from then on.
    var hwStatsValid = false
    let installed: UInt64
    let counters: UnsafeMutablePointer<ActionCounters>

    var refs: Int { binds + (standalone ? 1 : 0) }

    init(kind: String, index: UInt32, action: TcAction, cookie: [UInt8]?, standalone: Bool, installed: UInt64) {
        self.kind = kind; self.index = index; self.action = action; self.cookie = cookie
        self.standalone = standalone; self.installed = installed; createdStandalone = standalone
        counters = .allocate(capacity: 1)
        counters.initialize(to: ActionCounters())
        // A per-action seed for gact's netrand (the kernel draws from its own generator).
        counters.pointee.random = UInt64(index) &* 0x9E37_79B9_7F4A_7C15 | 1
    }
    deinit { counters.deinitialize(count: 1); counters.deallocate() }
}

/// The actions a request asks for, before they are bound: the parameters, the index asked for
/// (0: the lowest free one) and a cookie.
struct ActionRequest {
    var action: TcAction
    var index: UInt32 = 0
    var cookie: [UInt8]? = nil
    /// Set when the request names an index and no parameters (`action mirred index 5`): it can
    /// only bind to an existing action; this is the kind's complaint otherwise.
    var onlyBinds: String? = nil
    /// TCA_ACT_FLAGS: no_percpu (1), skip_hw (2), skip_sw (4).
    var flags: UInt32 = 0
    var kind: String { action.kindName }
}

/// A filter's actions, bound to their entries. Freed with the last copy of its filter, which
/// unbinds them (tcf_exts_destroy): an action a filter created goes with it.
final class BoundActions {
    let entries: [ActionEntry]
    /// Each entry's counters, for the packet path.
    let counters: UnsafeMutablePointer<UnsafeMutablePointer<ActionCounters>>
    /// Strong: a datapath going away frees its devices (and filters) after its table.
    let table: ActionTable?

    init(_ entries: [ActionEntry], table: ActionTable?) {
        self.entries = entries
        self.table = table
        counters = .allocate(capacity: max(entries.count, 1))
        for (k, e) in entries.enumerated() { (counters + k).initialize(to: e.counters) }
        for e in entries { e.binds += 1 }
    }
    deinit {
        for e in entries { table?.unbind(e) }
        counters.deallocate()
    }
    static func none() -> BoundActions { BoundActions([], table: nil) }
}

/// The datapath's action tables, one per kind (the kernel's per-netns tcf_idrinfo).
public final class ActionTable {
    private(set) var byKind: [String: [UInt32: ActionEntry]] = [:]
    /// Per kind, indexes freed below the frontier, and the frontier (see `freeIndex`): making N
    /// actions is not N walks from 1, nor is making them while others go.
    private var holes: [String: Heap<UInt32>] = [:]
    private var frontier: [String: UInt32] = [:]

    /// The kinds Sluice's datapath executes.
    static let kinds: Set<String> = ["gact", "mirred", "police", "vlan", "skbedit", "csum", "nat", "skbmod", "pedit", "simple", "mpls", "ife", "gate", "bpf", "tunnel_key", "sample", "ct", "connmark", "ctinfo"]

    func lookup(_ kind: String, _ index: UInt32) -> ActionEntry? { byKind[kind]?[index] }

    /// A kind's actions in index order.
    func entries(_ kind: String) -> [ActionEntry] {
        (byKind[kind] ?? [:]).values.sorted { $0.index < $1.index }
    }

    /// idr_alloc_u32 from 1: the lowest index not in use (nor in `taken`). Every index below a
    /// kind's frontier is in use or in its holes (a min-heap of indexes freed below the
    /// frontier, checked when they come up: one may be in use again), so an allocation is
    /// O(log n) however the table's indexes were freed — not a scan up from the lowest hole.
    func freeIndex(_ kind: String, taken: Set<UInt32> = []) -> UInt32? {
        let used = byKind[kind] ?? [:]
        var reserved: [UInt32] = []          // free, but this request's: they stay holes
        defer { for h in reserved { holes[kind, default: Heap()].insert(h) } }
        while let h = holes[kind]?.min {
            if used[h] != nil { _ = holes[kind]!.removeMin(); continue }
            if taken.contains(h) { reserved.append(holes[kind]!.removeMin()); continue }
            return h
        }
        var n = max(frontier[kind] ?? 1, 1)
        while used[n] != nil || taken.contains(n) {
            if used[n] == nil { reserved.append(n) }
            if n == .max { return nil }
            n += 1
        }
        frontier[kind] = n
        return n
    }

    func insert(_ e: ActionEntry) { byKind[e.kind, default: [:]][e.index] = e }

    /// The action leaves the table (its last reference went, or it was deleted or flushed).
    func remove(_ e: ActionEntry) {
        guard byKind[e.kind]?[e.index] === e else { return }
        byKind[e.kind]![e.index] = nil
        if e.index < frontier[e.kind] ?? 1 { holes[e.kind, default: Heap()].insert(e.index) }
    }

    func unbind(_ e: ActionEntry) {
        e.binds -= 1
        if e.refs == 0 { remove(e) }
    }

    /// Binds a filter's actions (tcf_action_init with bind): an index that exists is used as it
    /// is, its parameters unchanged (as gact_init and the others return early when binding);
    /// otherwise a new action is created with the index asked for or the lowest free one.
    ///
    /// `filterFlags` are the filter's skip_hw (1) and skip_sw (2): as tcf_action_init checks
    /// them, an action made by `tc actions add` must have the same, one made by a filter may
    /// not have one the filter lacks and takes the filter's.
    func bind(_ reqs: [ActionRequest], now: UInt64, filterFlags: UInt32 = 0) throws(SluiceError) -> BoundActions {
        var entries: [ActionEntry] = []
        var taken: [String: Set<UInt32>] = [:]
        for r in reqs {
            let kind = r.action.kindName
            if r.index != 0, let e = lookup(kind, r.index) { entries.append(e); continue }
            if r.index != 0, let e = entries.first(where: { $0.kind == kind && $0.index == r.index }) { entries.append(e); continue }
            if let complaint = r.onlyBinds { throw SluiceError("Error: \(complaint)") }
            guard let index = r.index != 0 ? r.index : freeIndex(kind, taken: taken[kind] ?? []) else {
                throw SluiceError("Error: No free \(kind) action index.")
            }
            taken[kind, default: []].insert(index)
            let e = ActionEntry(kind: kind, index: index, action: r.action, cookie: r.cookie, standalone: false, installed: now)
            e.flags = r.flags
            entries.append(e)
        }
        // TCA_CLS_FLAGS_SKIP_HW/SW (1, 2) against TCA_ACT_FLAGS_SKIP_HW/SW (2, 4).
        let skip = (filterFlags & 3) << 1
        for e in entries {
            let own = e.flags & 6
            if e.createdStandalone ? own != skip : own & ~skip != 0 {
                throw SluiceError("Error: Mismatch between action and filter offload flags.")
            }
        }
        for e in entries where !e.createdStandalone { e.flags |= skip }
        let bound = BoundActions(entries, table: self)
        for e in entries where lookup(e.kind, e.index) == nil { insert(e) }
        return bound
    }
}

extension TcAction {
    /// tcf_action_check_ctrlact without a filter: `goto chain` needs one ("can't goto NULL
    /// proto/chain"), so an action made by `tc actions add` may not jump to a chain.
    var jumpsToChain: Bool {
        func g(_ v: ActVerdict) -> Bool { if case .gotoChain = v { return true }; return false }
        switch self {
        case .gact(let v): return g(v)
        case .gactRandom(let v, _, _, let p): return g(v) || g(p)
        case .police(let p): return g(p.conform) || g(p.exceed)
        case .mirred(_, _, _, let v), .vlanPush(_, _, _, let v), .vlanPop(let v), .vlanModify(_, _, _, let v),
             .skbedit(_, let v), .csum(_, let v), .nat(_, _, _, _, let v), .skbmod(_, let v), .pedit(_, let v), .simple(_, let v), .mpls(_, let v), .ife(_, let v), .gate(_, let v), .bpf(_, let v), .tunnelKey(_, let v), .sample(_, let v),
             .ct(_, let v), .connmark(_, let v), .ctinfo(_, let v): return g(v)
        }
    }
}
