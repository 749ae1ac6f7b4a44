import NIOConcurrencyHelpers

/// A token bucket: `capacity` tokens, refilled at `perSecond`; a message takes one.
struct TokenBucket {
    let capacity: Double
    let perSecond: Double
    private(set) var tokens: Double
    private var last: ContinuousClock.Instant

    init(_ limit: DaemonConfiguration.RateLimit, now: ContinuousClock.Instant) {
        capacity = limit.capacity
        perSecond = limit.perSecond
        tokens = limit.capacity
        last = now
    }

    mutating func take(now: ContinuousClock.Instant) -> Bool {
        let elapsed = now - last
        last = now
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(capacity, tokens + seconds * perSecond)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

/// Message rate limits: one bucket for everything, one per client IP, one per session. A message
/// must get a token from all three; the first that is empty names the reason.
final class RateLimiter: Sendable {
    private struct State {
        var global: TokenBucket
        var perIP: [String: TokenBucket] = [:]
        var perSession: [String: TokenBucket] = [:]
        var limited = 0
    }

    private let configuration: DaemonConfiguration
    private let state: NIOLockedValueBox<State>

    init(configuration: DaemonConfiguration) {
        self.configuration = configuration
        self.state = NIOLockedValueBox(State(global: TokenBucket(configuration.globalRate, now: .now)))
    }

    /// nil when the message may proceed, else the reason (`global`, `ip`, `session`).
    func admit(ip: String, session: String) -> String? {
        let now = ContinuousClock.now
        return state.withLockedValue { state in
            var ipBucket = state.perIP[ip] ?? TokenBucket(configuration.ipRate, now: now)
            var sessionBucket = state.perSession[session] ?? TokenBucket(configuration.sessionRate, now: now)
            defer {
                state.perIP[ip] = ipBucket
                state.perSession[session] = sessionBucket
            }
            let reason: String?
            if !state.global.take(now: now) { reason = "global rate limit" }
            else if !ipBucket.take(now: now) { reason = "per-IP rate limit" }
            else if !sessionBucket.take(now: now) { reason = "per-session rate limit" }
            else { reason = nil }
            if reason != nil { state.limited += 1 }
            return reason
        }
    }

    /// Forgets a closed session's bucket, and the IP's when it has no session left.
    func forget(session: String, ip: String, ipStillConnected: Bool) {
        state.withLockedValue { state in
            state.perSession[session] = nil
            if !ipStillConnected { state.perIP[ip] = nil }
        }
    }

    var limitedCount: Int { state.withLockedValue { $0.limited } }
    var trackedSessions: Int { state.withLockedValue { $0.perSession.count } }
}

/// Open-connection limits, global and per client IP.
final class ConnectionLimiter: Sendable {
    private struct State {
        var total = 0
        var perIP: [String: Int] = [:]
        var rejected = 0
    }

    private let maxTotal: Int
    private let maxPerIP: Int
    private let state = NIOLockedValueBox(State())

    init(maxTotal: Int, maxPerIP: Int) {
        self.maxTotal = maxTotal
        self.maxPerIP = maxPerIP
    }

    /// Takes a slot; nil when admitted, else the close reason.
    func admit(ip: String) -> String? {
        state.withLockedValue { state in
            if state.total >= maxTotal {
                state.rejected += 1
                return "too many connections"
            }
            if state.perIP[ip, default: 0] >= maxPerIP {
                state.rejected += 1
                return "too many connections from this address"
            }
            state.total += 1
            state.perIP[ip, default: 0] += 1
            return nil
        }
    }

    /// Returns the slot; true when the IP still has connections open.
    @discardableResult
    func release(ip: String) -> Bool {
        state.withLockedValue { state in
            state.total = max(0, state.total - 1)
            let left = max(0, state.perIP[ip, default: 0] - 1)
            state.perIP[ip] = left == 0 ? nil : left
            return left > 0
        }
    }

    var open: Int { state.withLockedValue { $0.total } }
    var rejectedCount: Int { state.withLockedValue { $0.rejected } }
}
