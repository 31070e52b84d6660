#if canImport(Glibc)
import Glibc
#endif

/// taprio (sch_taprio.c): IEEE 802.1Qbv time-aware scheduling in software. The root of a
/// multiqueue device, with mqprio's traffic classes over the queues (num_tc, map, queues) and a
/// gate control list: entries `S MASK INTERVAL`, each opening the gates of the classes in its
/// mask for its interval, repeated every cycle from `base-time` on the qdisc's clock (TAI,
/// REALTIME, BOOTTIME or MONOTONIC). As the kernel's software mode:
/// - one child per transmit queue (pfifo, parent major:queue+1), a packet going to the queue
///   netdev_pick_tx picks within its class's range;
/// - dequeue serves the open classes, the highest first, round robin over each class's queues;
///   a packet leaves only if its transmission (its length at the link speed ethtool reports,
///   picos_per_byte) ends before its gate closes (the guard band), and within the bytes its
///   class may still send in this window (the budget);
/// - until the schedule starts, every gate is open (802.1Qbv AdminGateStates); a new schedule
///   given while one runs waits as the admin schedule and takes over at its base time (or
///   within the running cycle's extension), as advance_sched switches them;
/// - a class's frames longer than its window can carry (or than its max-sdu) are dropped at
///   enqueue (taprio_update_queue_max_sdu), GSO frames first cut into segments that may fit;
/// - txtime-assist (flags 0x1) computes each packet's launch time (get_packet_txtime) and lets
///   the children send; a packet no window can carry is dropped. Full offload (flags 0x2) and
///   frame preemption need hardware: refused, as for a device without ndo_setup_tc.
/// The kernel advances the schedule from an hrtimer; here `advance` replays advance_sched up to
/// the clock's now whenever the qdisc is used or shown, and the device's transmit timer is set
/// to the next gate event while packets wait. Long idle spans skip whole cycles at once.
final class TaprioQdisc: Qdisc {
    static let txtimeAssist: UInt32 = 1, fullOffload: UInt32 = 2
    static let allGatesOpen: UInt32 = .max
    static let flagsInvalid: UInt32 = .max
    static let infiniteBudget = Int64(Int32.max)

    /// struct sched_entry.
    struct Entry {
        var index: UInt32
        var command: UInt8
        var gateMask: UInt32
        var interval: UInt32
        var gateDuration = SIMD16<UInt64>(repeating: 0)
        var budget = SIMD16<Int64>(repeating: 0)
        var gateCloseTime = SIMD16<Int64>(repeating: 0)
        var endTime: Int64 = 0
        var nextTxtime: Int64 = 0
    }

    /// struct sched_gate_list.
    struct Schedule {
        var entries: [Entry] = []
        var baseTime: Int64 = 0
        var cycleTime: Int64 = 0
        var cycleTimeExtension: Int64 = 0
        var cycleEndTime: Int64 = 0
        var maxOpenGateDuration = SIMD16<UInt64>(repeating: 0)
        var maxFrmLen = SIMD16<UInt32>(repeating: .max)
        var maxSdu = SIMD16<UInt32>(repeating: 0)
    }

    /// What a request asks (TCA_TAPRIO_ATTR_*), from tc's words or from netlink.
    struct Request {
        var priomap: MQQdisc.TrafficClasses?
        var entries: [(command: UInt8, gateMask: UInt32, interval: UInt32)] = []
        var baseTime: Int64?
        var cycleTime: Int64?
        var cycleTimeExtension: Int64?
        var clockid: Int32?
        var flags: UInt32?
        var txtimeDelay: UInt32?
        var singleEntry = false
        /// TCA_TAPRIO_ATTR_TC_ENTRY nests: index (nil when missing), max SDU, frame preemption.
        var tcEntries: [(index: UInt32?, maxSdu: UInt32?, fp: UInt32?)] = []
    }

    var children: [Qdisc] = []
    /// The device's traffic classes as taprio set them (netdev_set_num_tc and friends).
    var trafficClasses: MQQdisc.TrafficClasses?
    var flags = TaprioQdisc.flagsInvalid
    var clockid: Int32 = -1
    var txtimeDelay: UInt32 = 0
    var picosPerByte: Int64 = 800_000
    var maxSdu = [UInt32](repeating: 0, count: 16)
    var fp = [UInt32](repeating: 1, count: 16)
    var oper: Schedule?
    var admin: Schedule?
    /// q->current_entry: an index into oper's entries, nil before the schedule starts.
    var current: Int?
    /// The advance timer's expiry on the qdisc's clock (0: not armed).
    var timer: Int64 = 0
    /// Per class, the queue its round robin serves next (q->cur_txq).
    var curTxq = [Int](repeating: 0, count: 16)
    /// The qdisc's clock minus the datapath's (0 in virtual time, where there is one clock).
    var offset: Int64 = 0

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "taprio", handle: handle, parent: parent, env: env)
        // taprio_init: a pfifo per transmit queue (qdisc_create_dflt), listed for the queues in use.
        for i in 0..<max(env.txQueues, 1) {
            let c = FifoQdisc(kind: "pfifo", handle: .unspec, parent: TcHandle(handle.major, UInt16(truncatingIfNeeded: i + 1)), env: env)
            c.shownDefault = i < env.realTxQueues
            c.unhashed = i >= env.realTxQueues
            children.append(c)
        }
    }

    override var isClassful: Bool { true }
    override func childQdiscs() -> [Qdisc] { children }
    var numTc: Int { trafficClasses?.numTc ?? 0 }

    // MARK: configuration (taprio_change)

    static func clockNow(_ id: Int32) -> Int64 {
        var ts = timespec()
        clock_gettime(clockid_t(id), &ts)
        return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
    }

    /// The time on the qdisc's clock.
    @inline(__always) func now() -> Int64 { Int64(bitPattern: clock.now) &+ offset }

    @inline(__always) func lengthToDuration(_ len: Int) -> Int64 { Int64(len) &* picosPerByte / 1000 }
    @inline(__always) func durationToLength(_ d: UInt64) -> UInt64 { d &* 1000 / UInt64(picosPerByte) }

    /// taprio_change's checks and effects in its order; nothing is kept unless all pass. Returns
    /// the extack warning the kernel leaves on success, if any.
    @discardableResult
    func configure(_ r: Request, stab: SizeTable?, maxMtu: Int) throws(SluiceError) -> String? {
        let newFlags = r.flags ?? 0
        if newFlags & ~(Self.txtimeAssist | Self.fullOffload) != 0 { throw SluiceError("Error: reserved bit set") }
        if newFlags & Self.txtimeAssist != 0 && newFlags & Self.fullOffload != 0 {
            throw SluiceError("Error: TXTIME_ASSIST and FULL_OFFLOAD are mutually exclusive")
        }
        if flags != Self.flagsInvalid && flags != newFlags {
            throw SluiceError("Error: sch_taprio: Changing 'flags' of a running schedule is not supported (Operation not supported)")
        }
        // taprio_set_picos_per_byte: ethtool's speed (Mbit/s), 10 when the device reports none.
        var warning: String?
        let speed = max(Int64(env.linkSpeed / 1_000_000), 1)
        var ppb = 8_000_000 / speed
        if ppb < 17 { warning = "sch_taprio: Link speed \(speed) is too high. Schedule may be inaccurate."; ppb = 17 }
        // taprio_parse_mqprio_opt.
        if let m = r.priomap {
            guard m.numTc <= env.txQueues else { throw SluiceError("Error: Number of traffic classes is greater than number of HW queues") }
            try m.validate(realTxQueues: env.realTxQueues, allowOverlap: newFlags & Self.txtimeAssist != 0)
        } else if trafficClasses == nil {
            throw SluiceError("Error: 'mqprio' configuration is necessary")
        }
        // taprio_parse_tc_entries.
        var newMaxSdu = maxSdu, newFp = fp, seen: UInt32 = 0
        for e in r.tcEntries {
            guard let tc = e.index else { throw SluiceError("Error: sch_taprio: TC entry index missing") }
            guard tc < 16 else { throw SluiceError("Error: sch_taprio: TC entry index out of range (Numerical result out of range)") }
            guard seen & (1 << tc) == 0 else { throw SluiceError("Error: sch_taprio: Duplicate TC entry") }
            seen |= 1 << tc
            if let v = e.maxSdu {
                guard Int(v) <= maxMtu else { throw SluiceError("Error: sch_taprio: TC max SDU exceeds device max MTU (Numerical result out of range)") }
                newMaxSdu[Int(tc)] = v
            }
            if let v = e.fp { newFp[Int(tc)] = v }
        }
        if newFp.contains(where: { $0 != 1 }) {
            if newFlags & Self.fullOffload == 0 { throw SluiceError("Error: Preemption only supported with full offload (Operation not supported)") }
            throw SluiceError("Error: Device does not support preemption (Operation not supported)")
        }
        // taprio_mqprio_cmp: the same mapping is no change; another one only before any schedule.
        var mapping = r.priomap
        if let m = mapping, let t = trafficClasses, Self.sameMapping(m, t) { mapping = nil }
        if mapping != nil && (oper != nil || admin != nil) {
            throw SluiceError("Error: Changing the traffic mapping of a running schedule is not supported (Unknown error 524)")
        }
        let classes = mapping ?? trafficClasses!
        // parse_taprio_schedule.
        if r.singleEntry { throw SluiceError("Error: Adding a single entry is not supported (Unknown error 524)") }
        let minDuration = Int64(60) * ppb / 1000
        var s = Schedule()
        s.baseTime = r.baseTime ?? 0
        s.cycleTimeExtension = r.cycleTimeExtension ?? 0
        s.cycleTime = r.cycleTime ?? 0
        for (i, e) in r.entries.enumerated() {
            guard Int64(e.interval) >= minDuration else { throw SluiceError("Error: Invalid interval for schedule entry") }
            s.entries.append(Entry(index: UInt32(i), command: e.command, gateMask: e.gateMask, interval: e.interval))
        }
        if s.cycleTime == 0 {
            let cycle = s.entries.reduce(Int64(0)) { $0 + Int64($1.interval) }
            guard cycle <= Int64(Int32.max) else { throw SluiceError("Error: 'cycle_time' is too big") }
            s.cycleTime = cycle
        }
        guard s.cycleTime >= Int64(s.entries.count) * minDuration else { throw SluiceError("Error: 'cycle_time' is too small") }
        Self.calculateGateDurations(&s, numTc: classes.numTc)
        guard !s.entries.isEmpty else { throw SluiceError("Error: There should be at least one entry in the schedule") }
        // taprio_parse_clockid.
        var newClock = clockid
        if newFlags & Self.fullOffload != 0 {
            if r.clockid != nil { throw SluiceError("Error: The 'clockid' cannot be specified for full offload") }
            throw SluiceError("Error: Device does not have a PTP clock (Unknown error 524)")
        } else if let c = r.clockid {
            if c < 0 || (clockid != -1 && clockid != c) {
                throw SluiceError("Error: Changing the 'clockid' of a running schedule is not supported (Unknown error 524)")
            }
            guard [0, 1, 7, 11].contains(c) else { throw SluiceError("Error: Invalid 'clockid'") }
            newClock = c
        } else {
            throw SluiceError("Error: Specifying a 'clockid' is mandatory")
        }
        if r.txtimeDelay != nil && newFlags & Self.txtimeAssist == 0 {
            throw SluiceError("Error: sch_taprio: txtime-delay can only be set when txtime-assist mode is enabled")
        }
        // All checked: applied.
        flags = newFlags
        picosPerByte = ppb
        maxSdu = newMaxSdu; fp = newFp
        if let m = mapping {
            trafficClasses = m
            for i in 0..<m.numTc { curTxq[i] = Int(m.offset[i]) }
        }
        clockid = newClock
        offset = clock.mode == .virtual ? 0 : Self.clockNow(newClock) &- Int64(bitPattern: clock.now)
        if let d = r.txtimeDelay { txtimeDelay = d }
        updateQueueMaxSdu(&s, stab: stab)
        let t = now()
        advance(t)
        // taprio_get_start_time: the base time if ahead, else the next cycle boundary.
        let start = s.baseTime > t ? s.baseTime : s.baseTime + ((t - s.baseTime) / s.cycleTime + 1) * s.cycleTime
        // setup_txtime.
        for i in s.entries.indices { s.entries[i].nextTxtime = start }
        if flags & Self.txtimeAssist != 0 {
            if oper == nil { oper = s } else { admin = s }
        } else {
            // setup_first_end_time, then taprio_start_sched (the earlier of the two expiries).
            s.cycleEndTime = start + s.cycleTime
            s.entries[0].endTime = start + Int64(s.entries[0].interval)
            setBudgets(&s, 0)
            for tc in 0..<classes.numTc {
                s.entries[0].gateCloseTime[tc] = s.entries[0].gateDuration[tc] == UInt64(s.cycleTime) ? .max : start + Int64(s.entries[0].gateDuration[tc])
            }
            current = nil
            timer = timer == 0 ? start : min(start, timer)
            admin = s
        }
        if stab == nil { warning = "sch_taprio: Size table not specified, frame length estimations may be inaccurate" }
        return warning
    }

    static func sameMapping(_ a: MQQdisc.TrafficClasses, _ b: MQQdisc.TrafficClasses) -> Bool {
        guard a.numTc == b.numTc, a.prioTcMap == b.prioTcMap else { return false }
        return (0..<a.numTc).allSatisfy { a.count[$0] == b.count[$0] && a.offset[$0] == b.offset[$0] }
    }

    /// taprio_calculate_gate_durations: per entry and class, how long the gate stays open from
    /// that entry on; per class, the longest such window.
    static func calculateGateDurations(_ s: inout Schedule, numTc: Int) {
        let n = s.entries.count
        for i in 0..<n {
            var open = s.entries[i].gateMask
            var j = i
            repeat {
                if open == 0 { break }
                for tc in 0..<numTc where open & (1 << tc) != 0 {
                    if s.entries[j].gateMask & (1 << tc) != 0 { s.entries[i].gateDuration[tc] += UInt64(s.entries[j].interval) }
                    else { open &= ~(1 << tc) }
                }
                j = (j + 1) % n
            } while j != i
            for tc in 0..<numTc where s.entries[i].gateDuration[tc] > s.maxOpenGateDuration[tc] {
                s.maxOpenGateDuration[tc] = s.entries[i].gateDuration[tc]
            }
        }
    }

    /// taprio_update_queue_max_sdu: the smaller of the user's max-sdu and what the longest
    /// window carries at the link speed (less the size table's overhead).
    func updateQueueMaxSdu(_ s: inout Schedule, stab: SizeTable?) {
        let hardHeader: UInt64 = 14, maxMtu = UInt64(max(env.mtu - 14, 68))
        for tc in 0..<numTc {
            let fromUser = maxSdu[tc] != 0 ? UInt64(maxSdu[tc]) : UInt64(UInt32.max)
            var dynamic = UInt64(UInt32.max)
            if s.maxOpenGateDuration[tc] != UInt64(s.cycleTime) {
                var frm = durationToLength(s.maxOpenGateDuration[tc])
                if let stab {
                    frm = UInt64(max(Int64(frm) - Int64(stab.overhead), Int64(hardHeader) + 1))
                }
                dynamic = frm >= hardHeader ? frm - hardHeader : UInt64(UInt32.max)
                if dynamic > maxMtu { dynamic = UInt64(UInt32.max) }
            }
            let m = min(dynamic, fromUser)
            if m != UInt64(UInt32.max) {
                s.maxFrmLen[tc] = UInt32(m + hardHeader); s.maxSdu[tc] = UInt32(m)
            } else {
                s.maxFrmLen[tc] = .max; s.maxSdu[tc] = 0
            }
        }
    }

    /// taprio_set_budgets: the bytes each class may send in the window starting at entry `i`.
    func setBudgets(_ s: inout Schedule, _ i: Int) {
        for tc in 0..<numTc {
            s.entries[i].budget[tc] = s.entries[i].gateDuration[tc] == UInt64(s.cycleTime)
                ? Self.infiniteBudget : min(Int64(s.entries[i].gateDuration[tc] &* 1000) / picosPerByte, Self.infiniteBudget)
        }
    }

    // MARK: the schedule (advance_sched)

    /// Runs advance_sched for every expiry up to `t`, skipping whole idle cycles at once.
    func advance(_ t: Int64) {
        guard flags & (Self.txtimeAssist | Self.fullOffload) == 0 else { return }
        while timer != 0 && t >= timer {
            // The schedule repeats: move the running entry and the cycle end by whole cycles, up
            // to two cycles before `t` or before a waiting admin schedule could take over.
            var limit = t
            if let o = oper, let a = admin { limit = min(t, a.baseTime - o.cycleTimeExtension - 2 * o.cycleTime) }
            if let o = oper, let c = current, o.cycleTime > 0, limit - timer > 2 * o.cycleTime {
                let shift = ((limit - timer) / o.cycleTime - 1) * o.cycleTime
                timer += shift
                oper!.cycleEndTime += shift
                oper!.entries[c].endTime += shift
                for tc in 0..<16 where oper!.entries[c].gateCloseTime[tc] != .max { oper!.entries[c].gateCloseTime[tc] += shift }
            }
            advanceSched()
        }
    }

    func advanceSched() {
        if oper == nil { oper = admin; admin = nil }
        guard oper != nil, !oper!.entries.isEmpty else { timer = 0; return }
        var next = 0
        var end: Int64
        if current == nil || oper!.entries[current!].endTime == oper!.baseTime {
            end = oper!.entries[0].endTime
        } else {
            let cur = current!
            if cur == oper!.entries.count - 1 || oper!.entries[cur].endTime == oper!.cycleEndTime {
                next = 0
                oper!.cycleEndTime += oper!.cycleTime
            } else {
                next = cur + 1
            }
            let curEnd = oper!.entries[cur].endTime
            end = min(curEnd + Int64(oper!.entries[next].interval), oper!.cycleEndTime)
            for tc in 0..<numTc {
                let d = oper!.entries[next].gateDuration[tc]
                oper!.entries[next].gateCloseTime[tc] = d == UInt64(oper!.cycleTime) ? .max : curEnd + Int64(d)
            }
            if let a = admin, a.baseTime <= end || a.baseTime <= end + oper!.cycleTimeExtension {
                // should_change_schedules, then switch_schedules.
                oper = a; admin = nil
                next = 0
                end = oper!.entries[0].endTime
            }
            oper!.entries[next].endTime = end
            setBudgets(&oper!, next)
        }
        current = next
        timer = end
    }

    // MARK: packets

    /// taprio_enqueue: the packet's queue (capped to those in use), its class's frame limit,
    /// txtime-assist's launch time, then the queue's qdisc.
    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict {
        advance(now())
        let q = queue(for: p)
        guard q < children.count, !(children[q] is NoopQdisc) else { return drop(p) }
        let m = pool.metas[Int(p.index)]
        let tc = Int(trafficClasses?.prioTcMap[Int(m.priority & 15)] ?? 0)
        if let limit = oper?.maxFrmLen[tc], m.length > limit {
            // taprio_enqueue_segmented: a GSO frame is cut into segments, each checked against
            // the limit and enqueued on its own; any other frame is dropped.
            guard !m.gsoType.isEmpty else { return drop(p) }
            var n = 0
            let r = GSO.segment(p, pool: pool) { s in
                pool.metas[Int(s.index)].pktLen = pool.metas[Int(s.index)].length
                if pool.metas[Int(s.index)].length > limit { _ = drop(s); return }
                if enqueueOne(s, queue: q, tc: tc) == .success { n += 1 }
            }
            if r < 0 { stats.drops &+= 1; return .dropped }
            return n > 0 ? .success : .dropped
        }
        return enqueueOne(p, queue: q, tc: tc)
    }

    /// taprio_enqueue_one: txtime-assist's launch time (none: dropped), then the queue's qdisc.
    func enqueueOne(_ p: consuming Packet, queue q: Int, tc: Int) -> EnqueueVerdict {
        if flags & Self.txtimeAssist != 0 && packetTxtime(len: Int(pool.metas[Int(p.index)].pktLen), tc: tc) == 0 { return drop(p) }
        return children[q].enqueue(p)
    }

    /// netdev_pick_tx with taprio's classes (as mqprio's).
    @inline(__always) func queue(for p: borrowing Packet) -> Int {
        MQQdisc.pickQueue(p.index, pool: pool, classes: trafficClasses, inUse: env.realTxQueues, queues: children.count)
    }

    override func dequeue() -> Packet? {
        let t = now()
        advance(t)
        // txtime-assist runs no timer: no entry, every gate open, no checks (the launch time
        // is already given).
        let mask = current.map { oper!.entries[$0].gateMask } ?? Self.allGatesOpen
        guard mask != 0, let classes = trafficClasses else { return nil }
        var tc = classes.numTc - 1
        while tc >= 0 {
            defer { tc -= 1 }
            guard mask & (1 << UInt32(tc)) != 0 else { continue }
            let first = curTxq[tc]
            repeat {
                let got = dequeue(txq: curTxq[tc], mask: mask, now: t)
                curTxq[tc] += 1
                if curTxq[tc] == Int(classes.offset[tc]) + Int(classes.count[tc]) { curTxq[tc] = Int(classes.offset[tc]) }
                if curTxq[tc] >= children.count { curTxq[tc] = first }
                if let got { return got }
            } while curTxq[tc] != first
        }
        return nil
    }

    /// taprio_dequeue_from_txq: the queue's head leaves if its class's gate is open, its
    /// transmission ends before the gate closes, and the window's budget covers it.
    func dequeue(txq: Int, mask: UInt32, now t: Int64) -> Packet? {
        let child = children[txq]
        if flags & Self.txtimeAssist != 0 {
            guard let p = child.dequeuePeeked() else { return nil }
            countSent(len(p), segs: segs(p))
            return p
        }
        guard let head = child.peekIndex() else { return nil }
        let m = pool.metas[Int(head)]
        let tc = Int(trafficClasses!.prioTcMap[Int(m.priority & 15)])
        guard mask & (1 << UInt32(tc)) != 0 else { return nil }
        if mask != Self.allGatesOpen, let c = current {
            let len = Int(m.pktLen)
            guard t + lengthToDuration(len) < oper!.entries[c].gateCloseTime[tc] else { return nil }
            // taprio_update_budgets: every class's budget pays for the frame.
            var mine: Int64 = 0
            for k in 0..<numTc {
                let b = oper!.entries[c].budget[k]
                if b == Self.infiniteBudget { if k == tc { mine = b }; continue }
                oper!.entries[c].budget[k] = b - Int64(len)
                if k == tc { mine = b - Int64(len) }
            }
            guard mine >= 0 else { return nil }
        }
        guard let p = child.dequeuePeeked() else { return nil }
        countSent(len(p), segs: segs(p))
        return p
    }

    /// get_packet_txtime (txtime-assist): the earliest time from now + txtime-delay at which
    /// the packet's transmission fits a window of its class; 0 when none does.
    func packetTxtime(len: Int, tc: Int) -> Int64 {
        var minimum = now() + Int64(txtimeDelay)
        if let a = admin, minimum > a.baseTime { oper = a; admin = nil }
        guard var sched = oper, minimum >= sched.baseTime else { return minimum }
        let dur = lengthToDuration(len)
        var usingAdmin = false
        var txtime: Int64 = 0, endTx: Int64 = 0
        var found = 0
        while true {
            guard let (e, start, end) = findEntry(sched, tc: tc, len: len, time: minimum) else { return 0 }
            txtime = max(sched.entries[e].nextTxtime, minimum, start)
            if let a = admin, !usingAdmin, txtime > a.baseTime { sched = a; usingAdmin = true; continue }
            endTx = txtime + dur
            minimum = endTx
            found = e
            if endTx > end { sched.entries[e].nextTxtime = start + sched.cycleTime; continue }
            break
        }
        sched.entries[found].nextTxtime = endTx
        if usingAdmin { admin = sched } else { oper = sched }
        return txtime
    }

    /// find_entry_to_transmit (without validate_interval): the entry, and its window's start and
    /// end, in which a packet of class `tc` may go at or after `time`.
    func findEntry(_ s: Schedule, tc: Int, len: Int, time: Int64) -> (Int, Int64, Int64)? {
        let dur = lengthToDuration(len)
        let cycle = s.cycleTime
        let elapsed = (time - s.baseTime) % cycle
        var intvEnd = time - elapsed
        let cycleEnd = intvEnd + cycle
        var found: (Int, Int64, Int64)?
        var available = false
        var earliest = Int64.max
        for (i, e) in s.entries.enumerated() {
            let intvStart = intvEnd
            // get_interval_end_time.
            let elapsedHere = (intvStart - s.baseTime) % cycle
            let cEnd = intvStart + (cycle - elapsedHere)
            let iEnd = intvStart + Int64(e.interval)
            if iEnd < cEnd { intvEnd = iEnd }
            else if let a = admin, a.baseTime > cEnd, a.baseTime < cEnd + s.cycleTimeExtension { intvEnd = a.baseTime }
            else { intvEnd = cEnd }
            if intvStart > cycleEnd { break }
            guard e.gateMask & (1 << UInt32(tc)) != 0, dur <= Int64(e.interval) else { continue }
            let tx = e.nextTxtime
            if tx < time {
                let endTx = time + dur
                if (intvStart < time && endTx < intvEnd) || intvStart > time {
                    return (i, intvStart, intvEnd)
                } else if !available {
                    available = true
                    found = (i, intvStart + cycle, intvEnd + cycle)
                }
            } else if tx < earliest && !available {
                earliest = tx
                let n = (tx - intvStart) / cycle
                found = (i, intvStart + n * cycle, intvEnd + n * cycle)
            }
        }
        return found
    }

    override func reset() { for c in children { c.purge() } }

    /// While packets wait: the next gate event (or a child's own timer), on the datapath clock.
    override var watchdog: UInt64 {
        var w: UInt64 = 0
        for c in children { let cw = c.watchdog; if cw > 0 && (w == 0 || cw < w) { w = cw } }
        if timer != 0 && backlogged {
            let t = UInt64(clamping: max(timer &- offset, 1))
            w = w == 0 ? t : min(w, t)
        }
        return w
    }

    /// taprio_walk + taprio_dump_class(_stats): one class per transmit queue, parent root.
    override func classes(details: Bool) -> [QdiscClassInfo] { bandClasses(children, parent: .root) }

    /// taprio_graft: any queue's class; nil leaves noop.
    override func graft(_ classid: TcHandle, _ q: Qdisc?) throws(SluiceError) -> Qdisc? {
        try graftBand(&children, classid, q, count: children.count, notFound: "RTNETLINK answers: Invalid argument")
    }

    override func deleteClass(_ classid: TcHandle) throws(SluiceError) {
        throw SluiceError("RTNETLINK answers: Operation not supported")
    }
}
