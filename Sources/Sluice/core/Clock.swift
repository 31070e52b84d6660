#if canImport(Glibc)
import Glibc
#endif

/// The datapath's clock. Every time-dependent algorithm reads this clock only, so the same
/// code runs live (CLOCK_MONOTONIC) and offline (a virtual clock advanced by a replay or a test).
/// A final class with a mode rather than a protocol: read once per batch, no existential.
public final class DatapathClock: @unchecked Sendable {
    public enum Mode: Sendable { case real, virtual }
    public let mode: Mode
    var virtualNow: UInt64
    /// Wall-clock offset for timestamps written to files in real mode.
    let realtimeOffset: Int64

    public init(mode: Mode, start: UInt64 = 0) {
        self.mode = mode
        self.virtualNow = start
        if mode == .real {
            realtimeOffset = Int64(bitPattern: Self.read(CLOCK_REALTIME)) - Int64(bitPattern: Self.read(CLOCK_MONOTONIC))
        } else {
            realtimeOffset = 0
        }
    }

    public static func real() -> DatapathClock { DatapathClock(mode: .real) }
    public static func virtual(start: UInt64 = 0) -> DatapathClock { DatapathClock(mode: .virtual, start: start) }

    @inline(__always) static func read(_ id: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Nanoseconds, monotonic.
    public var now: UInt64 {
        mode == .virtual ? virtualNow : Self.read(CLOCK_MONOTONIC)
    }

    /// Wall time in nanoseconds since the epoch (virtual: the virtual time itself).
    public var wallNow: UInt64 {
        mode == .virtual ? virtualNow : UInt64(Int64(bitPattern: Self.read(CLOCK_MONOTONIC)) + realtimeOffset)
    }

    /// Moves virtual time forward to `t` (never backward). No effect on a real clock.
    public func advance(to t: UInt64) {
        precondition(mode == .virtual, "advance(to:) on a real clock")
        if t > virtualNow { virtualNow = t }
    }

    public func advance(by ns: UInt64) { advance(to: virtualNow &+ ns) }
}

public enum Time {
    public static let ns: UInt64 = 1
    public static let us: UInt64 = 1_000
    public static let ms: UInt64 = 1_000_000
    public static let s: UInt64 = 1_000_000_000
}
