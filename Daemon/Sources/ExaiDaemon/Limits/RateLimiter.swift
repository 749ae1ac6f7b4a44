import NIOConcurrencyHelpers

/// A token bucket: `capacity` tokens, refilled at `perSecond`; a message takes one.
struct TokenBucket {
    let capacity: Double
    let perSecond: Double
    private(set) var tokens: Double
    private(set) var last: ContinuousClock.Instant

    init(_ limit: DaemonConfiguration.RateLimit, now: ContinuousClock.Instant) {
        capacity = limit.capacity
        perSecond = limit.perSecond
        tokens = limit.capacity
        last = now
    }

    private mutating func refill(now: ContinuousClock.Instant) {
        let elapsed = now - last
        last = now
        let seconds = elapsed / .seconds(1)
        tokens = min(capacity, tokens + seconds * perSecond)
    }

    mutating func take(now: ContinuousClock.Instant) -> Bool {
        refill(now: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Whether a token is there, without taking it.
    mutating func hasToken(now: ContinuousClock.Instant) -> Bool {
        refill(now: now)
        return tokens >= 1
    }

    /// Refilled to capacity by `now`: the same as a new bucket, so it need not be kept.
    func isFull(now: ContinuousClock.Instant) -> Bool {
        let elapsed = now - last
        let seconds = elapsed / .seconds(1)
        return tokens + seconds * perSecond >= capacity
    }
}

/// Token buckets keyed by client IP, at most `limit` of them: a bucket that has refilled is
/// forgotten (a new one is the same), and past the limit the longest-idle one goes, counted.
struct IPBuckets {
    let rate: DaemonConfiguration.RateLimit
    let limit: Int
    private(set) var buckets: [String: TokenBucket] = [:]
    private(set) var evicted = 0

    init(rate: DaemonConfiguration.RateLimit, limit: Int) {
        self.rate = rate
        self.limit = limit
    }

    mutating func take(_ ip: String, now: ContinuousClock.Instant) -> Bool {
        var bucket = buckets[ip] ?? TokenBucket(rate, now: now)
        let taken = bucket.take(now: now)
        store(ip, bucket, now: now)
        return taken
    }

    mutating func hasToken(_ ip: String, now: ContinuousClock.Instant) -> Bool {
        guard var bucket = buckets[ip] else { return true }
        let available = bucket.hasToken(now: now)
        buckets[ip] = bucket
        return available
    }

    private mutating func store(_ ip: String, _ bucket: TokenBucket, now: ContinuousClock.Instant) {
        buckets[ip] = bucket
        guard buckets.count > limit else { return }
        // One pass forgets every refilled bucket; if all are busy, the longest-idle goes.
        buckets = buckets.filter { $0.key == ip || !$0.value.isFull(now: now) }
        while buckets.count > limit,
            let idle = buckets.filter({ $0.key != ip }).min(by: { $0.value.last < $1.value.last })
        {
            buckets[idle.key] = nil
            evicted += 1
        }
    }

    mutating func forget(_ ip: String) { buckets[ip] = nil }
}

/// Message rate limits: one bucket for everything, one per client IP, one per session. A message
/// must get a token from all three; the first that is empty names the reason. Failed hellos have
/// their own per-IP bucket: an IP that spent it is refused at connect until it refills.
final class RateLimiter: Sendable {
    private struct State {
        var global: TokenBucket
        var perIP: IPBuckets
        var failedHellos: IPBuckets
        var perSession: [String: TokenBucket] = [:]
        var limited = 0
    }

    private let configuration: DaemonConfiguration
    private let state: NIOLockedValueBox<State>

    init(configuration: DaemonConfiguration) {
        self.configuration = configuration
        self.state = NIOLockedValueBox(
            State(
                global: TokenBucket(configuration.globalRate, now: .now),
                perIP: IPBuckets(rate: configuration.ipRate, limit: configuration.maxTrackedIPs),
                failedHellos: IPBuckets(rate: configuration.failedHelloRate, limit: configuration.maxTrackedIPs)
            ))
    }

    /// nil when the message may proceed, else the reason (`global`, `ip`, `session`).
    func admit(ip: String, session: String) -> String? {
        let now = ContinuousClock.now
        return state.withLockedValue { state in
            var sessionBucket = state.perSession[session] ?? TokenBucket(configuration.sessionRate, now: now)
            defer { state.perSession[session] = sessionBucket }
            let reason: String?
            if !state.global.take(now: now) {
                reason = "global rate limit"
            } else if !state.perIP.take(ip, now: now) {
                reason = "per-IP rate limit"
            } else if !sessionBucket.take(now: now) {
                reason = "per-session rate limit"
            } else {
                reason = nil
            }
            if reason != nil { state.limited += 1 }
            return reason
        }
    }

    /// False while `ip` has used up its failed hellos.
    func mayConnect(ip: String) -> Bool {
        state.withLockedValue { $0.failedHellos.hasToken(ip, now: .now) }
    }

    /// Spends one of `ip`'s failed hellos.
    func helloFailed(ip: String) {
        state.withLockedValue { _ = $0.failedHellos.take(ip, now: .now) }
    }

    /// Forgets a closed session's bucket, and the IP's when it has no session left.
    func forget(session: String, ip: String, ipStillConnected: Bool) {
        state.withLockedValue { state in
            state.perSession[session] = nil
            if !ipStillConnected { state.perIP.forget(ip) }
        }
    }

    var limitedCount: Int { state.withLockedValue { $0.limited } }
    var trackedSessions: Int { state.withLockedValue { $0.perSession.count } }
    /// Client IPs with a message bucket, and with a failed-hello bucket.
    var trackedIPs: (messages: Int, failedHellos: Int) {
        state.withLockedValue { ($0.perIP.buckets.count, $0.failedHellos.buckets.count) }
    }
    /// IP buckets forgotten while still in use because `maxTrackedIPs` was reached.
    var evictedIPs: Int { state.withLockedValue { $0.perIP.evicted + $0.failedHellos.evicted } }
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
