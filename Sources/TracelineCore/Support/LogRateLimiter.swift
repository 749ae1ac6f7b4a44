/// Lets a repeated warning through at most once per interval and counts the ones it holds back,
/// so a collector outage at a high span rate writes a line a second, not a line per batch.
/// (The counters, not the log, are the record of what was dropped.)
package final class LogRateLimiter: Sendable {
    private let intervalNanoseconds: UInt64
    private let state = LockedValue<(lastLogged: UInt64?, suppressed: Int)>((nil, 0))

    package init(interval: Duration = .seconds(1)) {
        intervalNanoseconds = interval.wholeNanoseconds
    }

    /// Nil when this occurrence is to be suppressed; otherwise the number suppressed since the
    /// last one let through.
    package func admit() -> Int? {
        let now = MonotonicClock.nowNanoseconds()
        return state.withLock { state -> Int? in
            if let last = state.lastLogged, now &- last < intervalNanoseconds {
                state.suppressed += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.suppressed
        }
    }
}
