/// Byte queue limits (the kernel's BQL, lib/dynamic_queue_limits.c): how many bytes a driver
/// may have handed to its device and not yet seen completed. The limit adapts: it grows when
/// the device ran dry while bytes were being held back (starvation: the limit was too small to
/// keep it busy), and shrinks, after a hold time, by the smallest slack seen — bytes that sat
/// queued in the device although it never ran short. What the limit keeps out of the device
/// stays in the qdisc, where fq_codel's AQM and priorities act on it.
///
/// A driver calls `queued` for what it handed over, `completed` for what the device finished
/// (its completion ring), and stops taking packets while `avail < 0` (netif_tx_stop_queue).
struct DynamicQueueLimit {
    /// DQL_MAX_LIMIT: UINT_MAX / 2 - DQL_MAX_OBJECT (UINT_MAX / 16).
    static let maxLimit = Int(UInt32.max / 2) - Int(UInt32.max / 16)

    var limit = 0
    var minLimit = 0
    var maxLimit = Self.maxLimit
    /// slack_hold_time: one second (HZ).
    var holdTime: UInt64 = Time.s

    private(set) var numQueued = 0
    private(set) var numCompleted = 0
    private(set) var adjLimit = 0
    private var lastObjCount = 0
    private var prevOvlimit = 0
    private var prevNumQueued = 0
    private var prevLastObjCount = 0
    private var lowestSlack = Int.max
    private var slackStartTime: UInt64 = 0

    /// Bytes handed over and not completed.
    var inflight: Int { numQueued - numCompleted }
    /// Bytes that may still be handed over (negative: the queue is stopped).
    var avail: Int { adjLimit - numQueued }

    init(now: UInt64 = 0) { slackStartTime = now }

    /// dql_queued.
    mutating func queued(_ count: Int) {
        lastObjCount = count
        numQueued += count
    }

    /// dql_completed: `count` bytes finished at `now`; the limit adapts.
    mutating func completed(_ count: Int, now: UInt64) {
        let queuedNow = numQueued
        // The kernel BUG()s on more completed than queued; a device that reports so is
        // believed up to what was in flight.
        let completed = numCompleted + min(max(count, 0), queuedNow - numCompleted)
        var limit = self.limit
        var ovlimit = max(queuedNow - numCompleted - limit, 0)
        let inprogress = queuedNow - completed
        let prevInprogress = prevNumQueued - numCompleted
        let allPrevCompleted = completed >= prevNumQueued
        if (ovlimit > 0 && inprogress == 0) || (prevOvlimit > 0 && allPrevCompleted) {
            // Starved: the device finished everything while more was held back. Grow by what
            // was completed beyond the last interval's queue, plus what was over the limit.
            limit += max(completed - prevNumQueued, 0) + prevOvlimit
            slackStartTime = now
            lowestSlack = Int.max
        } else if inprogress > 0 && prevInprogress > 0 && !allPrevCompleted {
            // Not starved: measure the slack (what stayed queued beyond need) and, once the
            // hold time passed, take the smallest slack seen off the limit.
            var slack = max(limit + prevOvlimit - 2 * (completed - numCompleted), 0)
            let slackLastObjs = prevOvlimit > 0 ? max(prevLastObjCount - prevOvlimit, 0) : 0
            slack = max(slack, slackLastObjs)
            if slack < lowestSlack { lowestSlack = slack }
            if now > slackStartTime &+ holdTime {
                limit = max(limit - lowestSlack, 0)
                slackStartTime = now
                lowestSlack = Int.max
            }
        }
        limit = min(max(limit, minLimit), maxLimit)
        if limit != self.limit {
            self.limit = limit
            ovlimit = 0
        }
        adjLimit = limit + completed
        prevOvlimit = ovlimit
        prevLastObjCount = lastObjCount
        numCompleted = completed
        prevNumQueued = queuedNow
    }

    /// dql_reset.
    mutating func reset(now: UInt64) {
        limit = minLimit
        numQueued = 0; numCompleted = 0; adjLimit = minLimit
        lastObjCount = 0; prevOvlimit = 0; prevNumQueued = 0; prevLastObjCount = 0
        lowestSlack = Int.max
        slackStartTime = now
    }
}
