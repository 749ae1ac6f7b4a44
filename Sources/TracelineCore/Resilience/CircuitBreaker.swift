import Synchronization

/// Fails fast after repeated failures, then lets one probe through to test recovery.
///
/// Closed: calls go through; `failureThreshold` consecutive failures open it. Open: calls are
/// refused (``acquire()`` returns false) for `cooldown`. Then half-open: exactly one call is let
/// through; its success closes the breaker, its failure opens it again. Every transition and
/// every refused call is counted. Used by the OTLP exporter; general enough for any dependency.
public final class CircuitBreaker: Sendable {
    /// The breaker's position; the raw value is the `state` label value in metrics.
    public enum State: String, Sendable, Equatable {
        /// `closed` lets calls through, `open` refuses them, `halfOpen` lets one probe through.
        case closed, open, halfOpen = "half_open"
    }

    /// When the breaker opens and how long it stays open.
    public struct Configuration: Sendable, Equatable {
        /// Consecutive failures that open the breaker.
        public var failureThreshold: Int
        /// How long it stays open before the probe.
        public var cooldown: Duration

        /// Creates a configuration.
        /// - Parameters:
        ///   - failureThreshold: consecutive failures that open the breaker; values below 1 are raised to 1.
        ///   - cooldown: how long the breaker stays open before it lets a probe through.
        public init(failureThreshold: Int = 5, cooldown: Duration = .seconds(30)) {
            self.failureThreshold = max(1, failureThreshold)
            self.cooldown = cooldown
        }
    }

    /// A snapshot of the breaker's state and counters.
    public struct Statistics: Sendable, Equatable {
        /// The state when the snapshot was taken.
        public var state: State
        /// Failures recorded since the last success.
        public var consecutiveFailures: Int
        /// Transitions into each state.
        public var timesOpened: Int
        /// Transitions into `halfOpen`.
        public var timesHalfOpened: Int
        /// Transitions into `closed`.
        public var timesClosed: Int
        /// Calls refused while open.
        public var rejectedCalls: Int
    }

    /// Names the breaker in logs and metrics.
    public let name: String
    /// The failure threshold and cooldown in force.
    public let configuration: Configuration
    private let state: LockedValue<Internal>
    private let now: @Sendable () -> ContinuousClock.Instant

    private struct Internal {
        var state: State = .closed
        var consecutiveFailures = 0
        var openedAt: ContinuousClock.Instant?
        var probeInFlight = false
        var statistics = Statistics(
            state: .closed, consecutiveFailures: 0, timesOpened: 0, timesHalfOpened: 0, timesClosed: 0, rejectedCalls: 0
        )
    }

    /// - Parameters:
    ///   - name: names the breaker in logs and metrics.
    ///   - configuration: failure threshold and cooldown.
    ///   - now: the clock, replaceable in tests.
    public init(
        name: String, configuration: Configuration = Configuration(),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.name = name
        self.configuration = configuration
        self.state = LockedValue(Internal())
        self.now = now
    }

    /// Whether a call may proceed now. Every `true` must be followed by `recordSuccess()`,
    /// `recordFailure()` or `recordCancelled()`.
    public func acquire() -> Bool {
        let now = self.now()
        return state.withLock { state in
            switch state.state {
            case .closed:
                return true
            case .open:
                if let openedAt = state.openedAt, now - openedAt >= configuration.cooldown {
                    state.state = .halfOpen
                    state.statistics.timesHalfOpened += 1
                    state.probeInFlight = true
                    return true
                }
                state.statistics.rejectedCalls += 1
                return false
            case .halfOpen:
                if state.probeInFlight {
                    state.statistics.rejectedCalls += 1
                    return false
                }
                state.probeInFlight = true
                return true
            }
        }
    }

    /// Reports that an acquired call succeeded; closes the breaker and resets the failure count.
    public func recordSuccess() {
        state.withLock { state in
            state.consecutiveFailures = 0
            state.probeInFlight = false
            if state.state != .closed {
                state.state = .closed
                state.openedAt = nil
                state.statistics.timesClosed += 1
            }
        }
    }

    /// Reports that an acquired call failed; opens the breaker at the threshold, or at once when half-open.
    public func recordFailure() {
        let now = self.now()
        state.withLock { state in
            state.consecutiveFailures += 1
            state.probeInFlight = false
            let shouldOpen =
                state.state == .halfOpen
                || (state.state == .closed && state.consecutiveFailures >= configuration.failureThreshold)
            if shouldOpen {
                state.state = .open
                state.openedAt = now
                state.statistics.timesOpened += 1
            }
        }
    }

    /// Reports that an acquired call was abandoned by its caller (cancelled, or past the caller's
    /// deadline) before it said anything about the dependency: nothing is counted, and a half-open
    /// breaker lets the next call probe.
    public func recordCancelled() {
        state.withLock { $0.probeInFlight = false }
    }

    /// The breaker's state now.
    public var currentState: State { state.withLock { $0.state } }

    /// A snapshot of the state and counters.
    public var statistics: Statistics {
        state.withLock { state in
            var statistics = state.statistics
            statistics.state = state.state
            statistics.consecutiveFailures = state.consecutiveFailures
            return statistics
        }
    }
}
