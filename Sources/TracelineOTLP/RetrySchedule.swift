import CTracelineSupport
import TracelineCore

/// Decides, for one request, when to try again after a retryable failure, or that it is time to
/// give up. The one place ``OTLPExporterConfiguration/RetryPolicy`` is applied: the export thread
/// and the retry buffer's sender both use it.
struct RetrySchedule {
    /// The shortest wait a `Retry-After` header can ask for: a hostile `Retry-After: 0` must not
    /// make a hot loop.
    static let minimumRetryAfter: Duration = .milliseconds(100)

    let policy: OTLPExporterConfiguration.RetryPolicy
    /// When the first attempt was made (or the request entered the retry buffer).
    let startedAt: ContinuousClock.Instant
    /// Attempts made so far.
    private(set) var attempts = 0
    /// The backoff before the next retry, if the receiver does not name one.
    private(set) var backoff: Duration

    init(policy: OTLPExporterConfiguration.RetryPolicy, startedAt: ContinuousClock.Instant) {
        self.policy = policy
        self.startedAt = startedAt
        self.backoff = policy.initialBackoff
    }

    /// Counts an attempt that is about to be made; returns true when it is a retry.
    mutating func recordAttempt() -> Bool {
        attempts += 1
        return attempts > 1
    }

    /// After a retryable failure: the instant to try again, or nil when that would start later
    /// than `maxElapsed` after `startedAt` or at or after `deadline`. The receiver's
    /// `Retry-After` replaces the backoff (a longer backoff would idle a recovered collector
    /// while the queue overflows); otherwise the backoff grows for the next time.
    mutating func nextAttempt(
        retryAfter: Duration?, now: ContinuousClock.Instant, deadline: ContinuousClock.Instant? = nil
    ) -> ContinuousClock.Instant? {
        let delay = retryAfter.map { max($0, Self.minimumRetryAfter) } ?? jittered(backoff)
        if retryAfter == nil { backoff = min(policy.maxBackoff, backoff * policy.multiplier) }
        let resumeAt = now + delay
        if resumeAt - startedAt > policy.maxElapsed { return nil }
        if let deadline, resumeAt >= deadline { return nil }
        return resumeAt
    }

    private func jittered(_ delay: Duration) -> Duration {
        let jitter = policy.jitter
        guard jitter > 0 else { return delay }
        let unit = Double(traceline_random_u64() >> 11) / Double(1 << 53)  // [0, 1)
        return delay * (1 - jitter + 2 * jitter * unit)
    }
}
