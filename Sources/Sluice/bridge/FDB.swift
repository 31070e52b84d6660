/// Principles
/// ----------
/// The forwarding database: (MAC, VLAN id) → port, as net/bridge's br_fdb. An open-addressing
/// table with linear probing in one unsafe buffer: the key is the MAC in the low 48 bits and
/// the VLAN id above it, hashed with one multiply. Deletion shifts the following entries back
/// (no tombstones), so lookups stay short however entries churn. Learned entries age out
/// `ageingTime` after they were last refreshed; static and local entries never do.
/// Cost: a lookup is one multiply and usually one cache line.
public struct FDBEntry: Sendable, Equatable {
    public var mac: MACAddress
    public var vlan: UInt16
    public var port: Int32
    public var isStatic: Bool
    /// The bridge's own address (delivered locally, never forwarded).
    public var isLocal: Bool
    /// Datapath clock time of the last refresh (learning) or creation.
    public var updated: UInt64
    /// NTF_STICKY (`bridge fdb add … sticky`): learning never moves it to another port.
    public var isSticky = false

    public init(mac: MACAddress, vlan: UInt16, port: Int32, isStatic: Bool, isLocal: Bool, updated: UInt64, isSticky: Bool = false) {
        self.mac = mac; self.vlan = vlan; self.port = port; self.isStatic = isStatic; self.isLocal = isLocal
        self.updated = updated; self.isSticky = isSticky
    }
}

public final class FDB {
    struct Slot {
        var key: UInt64      // 0 = empty; otherwise mac | vid << 48 | 1 << 63
        var port: Int32
        var flags: UInt8     // 1 static, 2 local, 4 sticky; dynamic: no 1 or 2
        var updated: UInt64
    }

    // Replaced only by `grow()`, on the control path between batches; unchecked so that the
    // per-packet lookups pay no exclusivity checks for them.
    @exclusivity(unchecked) private(set) var slots: UnsafeMutablePointer<Slot>
    @exclusivity(unchecked) private(set) var mask: Int
    @exclusivity(unchecked) private(set) var shift: UInt64
    @exclusivity(unchecked) public private(set) var capacity: Int
    /// Learned (dynamic) entries allowed before learning stops (counted in `learnRefused`).
    public var maxLearned: Int
    public private(set) var count = 0
    /// Bumped when an entry appears or goes (a dump in progress then reports NLM_F_DUMP_INTR).
    public private(set) var generation: UInt64 = 0

    /// What the datapath learnt, moved and aged, for notifications (br_fdb_notify): a
    /// preallocated ring written only while `recordChanges` is on (someone listens), so the
    /// packet path neither allocates nor waits. A full ring loses the oldest (`changesLost`).
    public struct Change: Sendable { public var key: UInt64; public var port: Int32; public var deleted: Bool }
    public var recordChanges = false
    var changes = [Change](repeating: Change(key: 0, port: 0, deleted: false), count: 1024)
    var changeWrite = 0, changeRead = 0
    public private(set) var changesLost: UInt64 = 0

    @inline(__always)
    func record(_ key: UInt64, _ port: Int32, deleted: Bool) {
        guard recordChanges else { return }
        if changeWrite - changeRead == changes.count { changeRead += 1; changesLost &+= 1 }
        changes[changeWrite & (changes.count - 1)] = Change(key: key, port: port, deleted: deleted)
        changeWrite += 1
    }

    /// The changes recorded since the last call (control path).
    public func takeChanges() -> [Change] {
        guard changeWrite != changeRead else { return [] }
        var out: [Change] = []
        while changeRead < changeWrite { out.append(changes[changeRead & (changes.count - 1)]); changeRead += 1 }
        return out
    }
    public private(set) var learnedCount = 0
    public private(set) var learnRefused: UInt64 = 0
    /// Dynamic entries moved to another port (a station moved, or a loop).
    public private(set) var moves: UInt64 = 0

    public init(capacityLog2: Int = 14, maxLearned: Int? = nil) {
        capacity = 1 << capacityLog2
        mask = capacity - 1
        shift = UInt64(64 - capacityLog2)
        self.maxLearned = maxLearned ?? capacity / 2
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: Slot(key: 0, port: 0, flags: 0, updated: 0), count: capacity)
    }

    deinit { slots.deallocate() }

    @inline(__always)
    static func key(_ mac: MACAddress, _ vlan: UInt16) -> UInt64 {
        mac.raw | UInt64(vlan & 0x0FFF) << 48 | 1 << 63
    }

    @inline(__always)
    func home(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    @inline(__always)
    func find(_ key: UInt64) -> Int {
        var i = home(key)
        while true {
            let k = slots[i].key
            if k == key { return i }
            if k == 0 { return -1 }
            i = (i + 1) & mask
        }
    }

    /// The port for (mac, vlan), or 0 if unknown or aged out (as of `now`, with `ageing` ns).
    @inline(__always)
    public func lookup(_ mac: MACAddress, vlan: UInt16, now: UInt64, ageing: UInt64) -> (port: Int32, local: Bool) {
        let i = find(Self.key(mac, vlan))
        if i < 0 { return (0, false) }
        let s = slots[i]
        if s.flags & 3 == 0 && s.updated &+ ageing <= now { return (0, false) }
        return (s.port, s.flags & 2 != 0)
    }

    /// br_fdb_update: learn or refresh `mac` on `port`. The bridge's own (local) entries stay
    /// as they are; any other is refreshed, and moves to `port` unless it is sticky — a
    /// static entry too, as the kernel's does (only `sticky` pins an address to its port).
    @inline(__always)
    public func learn(_ mac: MACAddress, vlan: UInt16, port: Int32, now: UInt64) {
        let key = Self.key(mac, vlan)
        var i = home(key)
        while true {
            let k = slots[i].key
            if k == key {
                let f = slots[i].flags
                if f & 2 != 0 { return }
                if slots[i].port != port && f & 4 == 0 { slots[i].port = port; moves &+= 1; record(key, port, deleted: false) }
                slots[i].updated = now
                return
            }
            if k == 0 { break }
            i = (i + 1) & mask
        }
        guard learnedCount < maxLearned, count < capacity - capacity / 8 else { learnRefused &+= 1; return }
        slots[i] = Slot(key: key, port: port, flags: 0, updated: now)
        count += 1
        learnedCount += 1
        generation &+= 1
        record(key, port, deleted: false)
    }

    /// Adds or replaces an entry (`fdb add … static`, the bridge's own address).
    public func add(_ mac: MACAddress, vlan: UInt16, port: Int32, isStatic: Bool, isLocal: Bool = false, isSticky: Bool = false, now: UInt64) throws(SluiceError) {
        let key = Self.key(mac, vlan)
        let flags: UInt8 = (isStatic ? 1 : 0) | (isLocal ? 2 : 0) | (isSticky ? 4 : 0)
        let f = find(key)
        if f >= 0 {
            if slots[f].flags & 3 == 0 { learnedCount -= 1 }
            if flags & 3 == 0 { learnedCount += 1 }
            slots[f] = Slot(key: key, port: port, flags: flags, updated: now)
            return
        }
        if count >= capacity - capacity / 8 { try grow() }
        var i = home(key)
        while slots[i].key != 0 { i = (i + 1) & mask }
        slots[i] = Slot(key: key, port: port, flags: flags, updated: now)
        count += 1
        generation &+= 1
        if flags & 3 == 0 { learnedCount += 1 }
    }

    /// Doubles the table (configured entries are not limited by the table's first size; learning
    /// in the datapath never grows it and stops at `maxLearned` or a full table).
    func grow() throws(SluiceError) {
        guard capacity < 1 << 24 else { throw SluiceError("fdb full (\(count) entries)") }
        let old = slots, oldCapacity = capacity
        capacity *= 2
        mask = capacity - 1
        shift -= 1
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: Slot(key: 0, port: 0, flags: 0, updated: 0), count: capacity)
        for j in 0..<oldCapacity where old[j].key != 0 {
            var i = home(old[j].key)
            while slots[i].key != 0 { i = (i + 1) & mask }
            slots[i] = old[j]
        }
        old.deallocate()
    }

    /// One port's entries (or a bridge's own), newest first, as the bridge's hash list lists them.
    public func entries(port: Int32) -> [FDBEntry] {
        collect { $0.port == port }.sorted { $0.updated > $1.updated }
    }

    /// The entry for (mac, vlan), if any (control path).
    public func entry(_ mac: MACAddress, vlan: UInt16) -> FDBEntry? {
        let i = find(Self.key(mac, vlan))
        guard i >= 0 else { return nil }
        let s = slots[i]
        return FDBEntry(mac: mac, vlan: vlan, port: s.port, isStatic: s.flags & 1 != 0, isLocal: s.flags & 2 != 0, updated: s.updated, isSticky: s.flags & 4 != 0)
    }

    /// Removes (mac, vlan); returns whether it was there.
    @discardableResult
    public func remove(_ mac: MACAddress, vlan: UInt16) -> Bool {
        let i = find(Self.key(mac, vlan))
        if i < 0 { return false }
        removeSlot(i)
        return true
    }

    /// Backward-shift deletion for linear probing.
    func removeSlot(_ start: Int) {
        if slots[start].flags & 3 == 0 { learnedCount -= 1 }
        count -= 1
        generation &+= 1
        var hole = start
        var j = (start + 1) & mask
        while slots[j].key != 0 {
            let h = home(slots[j].key)
            // Move j into the hole if its home is not cyclically in (hole, j].
            let dist = (j - h) & mask
            let holeDist = (j - hole) & mask
            if dist >= holeDist {
                slots[hole] = slots[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        slots[hole] = Slot(key: 0, port: 0, flags: 0, updated: 0)
    }

    /// Removes dynamic entries not refreshed within `ageing` (br_fdb_cleanup). Returns how many.
    @discardableResult
    public func age(now: UInt64, ageing: UInt64) -> Int { cleanup(now: now, ageing: ageing).removed }

    /// br_fdb_cleanup's walk: removes the dynamic entries not refreshed within `ageing` and
    /// says when the first of the others expires (0: none left to expire).
    func cleanup(now: UInt64, ageing: UInt64) -> (removed: Int, nextExpiry: UInt64) {
        var removed = 0
        var next: UInt64 = 0
        var i = 0
        while i < capacity {
            let s = slots[i]
            if s.key != 0 && s.flags & 3 == 0 {
                let expiry = s.updated &+ ageing
                if expiry <= now {
                    record(s.key, s.port, deleted: true)
                    removeSlot(i)
                    removed += 1
                    continue   // a shifted entry may now sit at i
                }
                if next == 0 || expiry < next { next = expiry }
            }
            i += 1
        }
        return (removed, next)
    }

    /// Removes the entries of `port` (port removed from the bridge); static ones too when `all`.
    public func flush(port: Int32, all: Bool) {
        var i = 0
        while i < capacity {
            let s = slots[i]
            if s.key != 0 && s.port == port && (all || s.flags & 3 == 0) { removeSlot(i); continue }
            i += 1
        }
    }

    /// br_fdb_delete_by_port for one VLAN: the port's learnt entries in `vlan`.
    /// br_fdb_flush with a filter: every entry `matches` picks goes.
    public func flush(_ matches: (FDBEntry) -> Bool) {
        var i = 0
        while i < capacity {
            let s = slots[i]
            if s.key != 0 {
                let e = FDBEntry(mac: MACAddress(raw: s.key & 0xFFFF_FFFF_FFFF), vlan: UInt16((s.key >> 48) & 0x0FFF), port: s.port,
                                 isStatic: s.flags & 1 != 0, isLocal: s.flags & 2 != 0, updated: s.updated, isSticky: s.flags & 4 != 0)
                if matches(e) { removeSlot(i); continue }
            }
            i += 1
        }
    }

    public func flush(port: Int32, vlan: UInt16) {
        var i = 0
        while i < capacity {
            let s = slots[i]
            if s.key != 0 && s.port == port && s.flags & 3 == 0 && UInt16((s.key >> 48) & 0x0FFF) == vlan { removeSlot(i); continue }
            i += 1
        }
    }

    public var entries: [FDBEntry] {
        collect { _ in true }.sorted { ($0.port, $0.mac.raw, $0.vlan) < ($1.port, $1.mac.raw, $1.vlan) }
    }

    /// The entries whose slot passes `keep`, in table order (control path).
    func collect(_ keep: (Slot) -> Bool) -> [FDBEntry] {
        var out: [FDBEntry] = []
        for i in 0..<capacity where slots[i].key != 0 && keep(slots[i]) {
            let s = slots[i]
            out.append(FDBEntry(mac: MACAddress(raw: s.key), vlan: UInt16((s.key >> 48) & 0x0FFF), port: s.port,
                                isStatic: s.flags & 1 != 0, isLocal: s.flags & 2 != 0, updated: s.updated, isSticky: s.flags & 4 != 0))
        }
        return out
    }
}
