import ServiceLifecycle
import TracelineCore
import TracelineMetrics
import Tracing

/// Runs registered end-to-end probes on a schedule, each as its own trace.
///
/// Every run is a root span `synthetic {name}` with `synthetic=true` (so it can be filtered out of
/// dashboards and Jaeger searches), timed, and recorded as metrics:
/// `synthetic_probe_runs_total{probe,result}`, `synthetic_probe_duration_seconds{probe}`,
/// `synthetic_probe_consecutive_failures{probe}`, `synthetic_probe_last_success_timestamp_seconds{probe}`.
/// ``healthCheck(_:critical:)`` turns a probe's state into a health check: warn after one failure,
/// fail after `failureThreshold` in a row. Run the monitor in a ServiceGroup; it stops on cancellation
/// or graceful shutdown.
public final class SyntheticMonitor: Service, MetricsSource, Sendable {
    /// One scheduled end-to-end check: a name, a schedule and the work to run.
    public struct Probe: Sendable {
        /// Names the probe in spans, metrics and health checks.
        public let name: String
        /// Time between the end of one run and the start of the next.
        public let interval: Duration
        /// How long one run may take before it counts as failed.
        public let timeout: Duration
        /// Consecutive failures that turn the probe's health check to `fail`.
        public let failureThreshold: Int
        let body: @Sendable () async throws -> Void

        /// Creates a probe.
        /// - Parameters:
        ///   - name: names the probe in spans, metrics and health checks.
        ///   - interval: time between runs.
        ///   - timeout: how long one run may take before it fails.
        ///   - failureThreshold: consecutive failures that turn its health check to `fail`; at least 1.
        ///   - body: the probe itself; throwing fails the run.
        public init(
            name: String, interval: Duration = .seconds(60), timeout: Duration = .seconds(10),
            failureThreshold: Int = 3, _ body: @escaping @Sendable () async throws -> Void
        ) {
            self.name = name
            self.interval = interval
            self.timeout = timeout
            self.failureThreshold = max(1, failureThreshold)
            self.body = body
        }
    }

    /// A probe's record so far.
    public struct ProbeState: Sendable, Equatable {
        /// Runs completed.
        public var runs = 0
        /// Runs that failed or timed out.
        public var failures = 0
        /// Failures since the last success.
        public var consecutiveFailures = 0
        /// Seconds the last run took.
        public var lastDuration: Double?
        /// Wall-clock time of the last success (seconds since the Unix epoch).
        public var lastSuccess: Double?
        /// The last failure, redacted; nil after a success.
        public var lastError: String?
    }

    /// Seconds; the histogram's bucket bounds.
    static let buckets: [Double] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    /// The scheduled probes.
    public let probes: [Probe]
    private let states: LockedValue<[String: (state: ProbeState, buckets: [Int], sum: Double)]>
    private let traced: @Sendable (String, @escaping @Sendable () async throws -> Void) async throws -> Void

    /// - Parameters:
    ///   - probes: the probes to schedule, each on its own interval.
    ///   - tracer: the tracer for the probes' root spans; the global one when nil.
    public init(probes: [Probe], tracer: (any Tracer)? = nil) {
        self.probes = probes
        self.states = LockedValue(
            Dictionary(
                uniqueKeysWithValues: probes.map {
                    ($0.name, (ProbeState(), Array(repeating: 0, count: Self.buckets.count + 1), 0))
                }))
        if let tracer {
            self.traced = Self.makeTraced(tracer)
        } else {
            self.traced = { name, body in
                try await withSpan("synthetic \(name)", context: .topLevel, ofKind: .internal) { span in
                    span.attributes["synthetic"] = true
                    span.attributes["synthetic.probe"] = name
                    try await body()
                }
            }
        }
    }

    private static func makeTraced<T: Tracer>(
        _ tracer: T
    ) -> @Sendable (String, @escaping @Sendable () async throws -> Void) async throws -> Void {
        { name, body in
            try await tracer.withSpan("synthetic \(name)", context: .topLevel, ofKind: .internal) { span in
                span.attributes["synthetic"] = true
                span.attributes["synthetic.probe"] = name
                try await body()
            }
        }
    }

    /// Runs every probe on its interval (first run immediately) until cancelled or shut down gracefully.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for probe in self.probes {
                    group.addTask {
                        while !Task.isCancelled {
                            _ = await self.runOnce(probe.name)
                            try? await Task.sleep(for: probe.interval)
                        }
                    }
                }
            }
        }
    }

    /// Runs one probe now; returns whether it succeeded. A probe that outlives its timeout fails.
    @discardableResult
    public func runOnce(_ name: String) async -> Bool {
        guard let probe = probes.first(where: { $0.name == name }) else { return false }
        let start = ContinuousClock.now
        let traced = self.traced
        let outcome: String? =
            await withTimeout(probe.timeout) {
                do {
                    try await traced(probe.name, probe.body)
                    return nil
                } catch {
                    return SecretRedactor.redact(String(describing: error))
                }
            } ?? "timed out after \(probe.timeout)"
        let seconds = milliseconds(ContinuousClock.now - start) / 1000
        let bucket = Self.buckets.firstIndex { seconds <= $0 } ?? Self.buckets.count
        states.withLock { states in
            guard var entry = states[name] else { return }
            entry.state.runs += 1
            entry.state.lastDuration = seconds
            entry.buckets[bucket] += 1
            entry.sum += seconds
            if let outcome {
                entry.state.failures += 1
                entry.state.consecutiveFailures += 1
                entry.state.lastError = outcome
            } else {
                entry.state.consecutiveFailures = 0
                entry.state.lastSuccess = WallClock.nowSeconds()
                entry.state.lastError = nil
            }
            states[name] = entry
        }
        return outcome == nil
    }

    /// The record of the probe named `name`, or nil if there is none.
    public func state(of name: String) -> ProbeState? { states.withLock { $0[name]?.state } }

    /// A health check reading the probe's record (it does not run the probe): pass after a success,
    /// warn after one or more failures, fail after `failureThreshold` in a row. Key `synthetic:{name}`.
    public func healthCheck(_ name: String, critical: Bool = false) -> HealthCheck {
        let threshold = probes.first { $0.name == name }?.failureThreshold ?? 1
        return HealthCheck(component: "synthetic", measurement: name, componentType: "component", critical: critical) {
            [self] in
            guard let state = self.state(of: name) else { return .fail("no synthetic probe named \(name)") }
            let value = state.lastDuration.map { JSONValue.number(($0 * 10_000).rounded() / 10) }
            if state.runs == 0 { return .pass(nil) }
            if state.consecutiveFailures >= threshold {
                return .fail(
                    "\(state.consecutiveFailures) consecutive failures: \(state.lastError ?? "")", value: value,
                    unit: "ms")
            }
            if state.consecutiveFailures > 0 {
                return .warn(
                    "\(state.consecutiveFailures) of \(threshold) allowed failures: \(state.lastError ?? "")",
                    value: value, unit: "ms")
            }
            return .pass(value, unit: "ms")
        }
    }

    /// Renders the `synthetic_probe_*` families; see `MetricsSource.renderFamilies`.
    public func renderFamilies(format: MetricsFormat) -> String {
        let rows = states.withLock { states in
            probes.compactMap { probe in states[probe.name].map { (probe.name, $0) } }
        }
        var writer = MetricFamilyWriter(format: format)
        writer.counter(
            "synthetic_probe_runs", help: "Synthetic probe runs by result.",
            rows.flatMap {
                [
                    ([("probe", $0.0), ("result", "success")], Double($0.1.state.runs - $0.1.state.failures)),
                    ([("probe", $0.0), ("result", "failure")], Double($0.1.state.failures)),
                ]
            })
        writer.histogram(
            "synthetic_probe_duration_seconds", help: "Duration of synthetic probe runs.", bounds: Self.buckets,
            rows.map { ([("probe", $0.0)], $0.1.buckets, $0.1.sum) })
        writer.gauge(
            "synthetic_probe_consecutive_failures", help: "Failures in a row of each synthetic probe.",
            rows.map { ([("probe", $0.0)], Double($0.1.state.consecutiveFailures)) })
        let succeeded = rows.compactMap { row in row.1.state.lastSuccess.map { ([("probe", row.0)], $0) } }
        writer.gauge(
            "synthetic_probe_last_success_timestamp_seconds", help: "When each synthetic probe last succeeded.",
            succeeded)
        return writer.text
    }
}
