import Logging
import ServiceContextModule
import TracelineCore
import TracelineMetrics

/// Runs registered health checks and keeps their latest state.
///
/// Checks run concurrently, each under its own timeout: a hung dependency fails its check and the
/// report still comes back in about the longest timeout. Results are cached for `cacheInterval`,
/// and callers arriving while a check runs share that run, so a burst of probes from load
/// balancers and Kubernetes does not hammer the dependencies. A probe that outlives its timeout
/// fails its check, which then keeps failing without a new probe for three timeouts (at least 5 s);
/// then one more probe may try (a client stuck on a dead connection may never return, even once the
/// dependency is back), with at most three hung probes per check, so a stuck dependency cannot
/// pile up tasks. Probes run with tracing suppressed unless `traceProbes` is set.
///
/// The state is readable from code (``report(criticalOnly:excluding:)``, ``latestReport``) and as
/// metrics (this is a ``MetricsSource``): `health_check_status{check}` (1 pass, 0.5 warn, 0 fail),
/// probe duration, probe and timeout counts, last transition time.
public final class HealthAggregator: MetricsSource, Sendable {
    /// Caching, tracing and identity settings of the aggregator.
    public struct Configuration: Sendable {
        /// How long a result is reused before the check runs again.
        public var cacheInterval: Duration = .seconds(2)
        /// Whether probes create spans (off: health traffic would swamp traces and RED metrics).
        public var traceProbes = false
        /// Reported as the draft's `version`, `serviceId` and `description`.
        public var version: String?
        /// Reported as the draft's `serviceId`.
        public var serviceID: String?
        /// Reported as the draft's `description`.
        public var serviceDescription: String?

        /// Creates a configuration.
        /// - Parameters:
        ///   - cacheInterval: how long a result is reused before the check runs again.
        ///   - traceProbes: whether probes create spans.
        ///   - version: reported as `version`.
        ///   - serviceID: reported as `serviceId`.
        ///   - serviceDescription: reported as `description`.
        public init(
            cacheInterval: Duration = .seconds(2), traceProbes: Bool = false,
            version: String? = nil, serviceID: String? = nil, serviceDescription: String? = nil
        ) {
            self.cacheInterval = cacheInterval
            self.traceProbes = traceProbes
            self.version = version
            self.serviceID = serviceID
            self.serviceDescription = serviceDescription
        }
    }

    /// The settings the aggregator was created with.
    public let configuration: Configuration
    private let state = LockedValue(State())
    private let logger: Logger
    private let startedAt = ContinuousClock.now

    private struct State {
        var checks: [HealthCheck] = []
        var checkState: [String: CheckState] = [:]
        var summaryFields: [(String, JSONValue)] = []
        var latest: HealthReport?
    }

    private struct CheckState {
        var entry: HealthReport.Entry?
        var evaluatedAt: ContinuousClock.Instant?
        var running: Task<HealthReport.Entry, Never>?
        /// Probes that outlived their timeout and have not returned yet: generation → start.
        var hung: [Int: ContinuousClock.Instant] = [:]
        var probeGeneration = 0
        var probes = 0
        var timeouts = 0
    }

    /// Creates an aggregator.
    /// - Parameters:
    ///   - configuration: caching, tracing and identity settings.
    ///   - checks: checks to register at once.
    ///   - logger: reports status changes of checks.
    public init(
        configuration: Configuration = Configuration(), checks: [HealthCheck] = [],
        logger: Logger = Logger(label: "traceline.health")
    ) {
        self.configuration = configuration
        self.logger = logger
        for check in checks { register(check) }
    }

    /// Adds a check; one with the same key replaces the old one.
    public func register(_ check: HealthCheck) {
        state.withLock { state in
            state.checks.removeAll { $0.key == check.key }
            state.checks.append(check)
            state.checkState[check.key] = CheckState()
        }
    }

    /// Sets a fixed root object of the report, e.g. `"supabase": {"enabled": false, "status": "disabled"}`.
    public func setSummaryField(_ name: String, _ value: JSONValue) {
        state.withLock { state in
            state.summaryFields.removeAll { $0.0 == name }
            state.summaryFields.append((name, value))
        }
    }

    /// The registered checks' keys, in registration order.
    public var checkKeys: [String] { state.withLock { $0.checks.map(\.key) } }

    /// The most recent full report, if one was made.
    public var latestReport: HealthReport? { state.withLock { $0.latest } }

    /// How long the aggregator has existed (the `/livez` uptime).
    public var uptime: Duration { ContinuousClock.now - startedAt }

    /// Evaluates the checks (cached results within `cacheInterval`) and reports.
    /// - Parameters:
    ///   - criticalOnly: only the critical checks (readiness).
    ///   - excluding: keys to skip (Kubernetes' `?exclude=`).
    public func report(criticalOnly: Bool = false, excluding: Set<String> = []) async -> HealthReport {
        let (checks, summaryFields) = state.withLock { state in
            (
                state.checks.filter { (!criticalOnly || $0.isCritical) && !excluding.contains($0.key) },
                state.summaryFields
            )
        }
        var entries = [HealthReport.Entry?](repeating: nil, count: checks.count)
        await withTaskGroup(of: (Int, HealthReport.Entry).self) { group in
            for (index, check) in checks.enumerated() {
                group.addTask { (index, await self.evaluate(check)) }
            }
            for await (index, entry) in group { entries[index] = entry }
        }
        var report = HealthReport(entries: entries.compactMap { $0 }, timestamp: WallClock.nowSeconds())
        report.summaryFields = summaryFields
        report.residentMemoryBytes = ProcessMetrics.residentMemoryBytes()
        report.version = configuration.version
        report.serviceID = configuration.serviceID
        report.serviceDescription = configuration.serviceDescription
        if !criticalOnly && excluding.isEmpty {
            state.withLock { $0.latest = report }
        }
        return report
    }

    /// One check's result: from the cache, from a run already in progress, or from a new run.
    private func evaluate(_ check: HealthCheck) async -> HealthReport.Entry {
        enum Action {
            case done(HealthReport.Entry)
            case wait(Task<HealthReport.Entry, Never>)
        }
        let now = ContinuousClock.now
        let action = state.withLock { state -> Action in
            var checkState = state.checkState[check.key] ?? CheckState()
            defer { state.checkState[check.key] = checkState }
            if var entry = checkState.entry, let at = checkState.evaluatedAt, now - at < configuration.cacheInterval {
                entry.cached = true
                return .done(entry)
            }
            if let running = checkState.running { return .wait(running) }
            // A hung probe is not started again at once; after `hungRetryInterval` one more may try
            // (a client stuck on a dead connection may never return even once the dependency is
            // back), up to `maxHungProbes` outstanding per check, so hung tasks stay bounded.
            if let newest = checkState.hung.values.max(),
                now - newest < hungRetryInterval(check) || checkState.hung.count >= Self.maxHungProbes
            {
                let oldest = checkState.hung.values.min() ?? newest
                let seconds = Int((milliseconds(now - oldest) / 1000).rounded())
                let entry = record(
                    HealthCheckResult.fail("timed out: the previous probe has not returned for \(seconds) s"),
                    for: check, duration: 0, in: &checkState)
                return .done(entry)
            }
            checkState.probeGeneration += 1
            checkState.probes += 1
            let generation = checkState.probeGeneration
            let task = Task { await self.run(check, generation: generation) }
            checkState.running = task
            return .wait(task)
        }
        switch action {
        case .done(let entry): return entry
        case .wait(let task): return await task.value
        }
    }

    /// Hung probes outstanding per check before no new one is started.
    static let maxHungProbes = 3

    /// How long after a probe hung another may be tried: three timeouts, at least 5 s.
    private func hungRetryInterval(_ check: HealthCheck) -> Duration {
        max(check.timeout * 3, .seconds(5))
    }

    /// Runs the probe under its timeout and records the outcome.
    private func run(_ check: HealthCheck, generation: Int) async -> HealthReport.Entry {
        let start = ContinuousClock.now
        let traceProbes = configuration.traceProbes
        let outcome = await withTimeout(
            check.timeout,
            operation: {
                // Probes never inherit the request that triggered them: a cached result is shared by many.
                var context = ServiceContext.topLevel
                context.isTracingSuppressed = !traceProbes
                return await ServiceContext.withValue(context) {
                    do {
                        var result = try await check.probe()
                        result.output = result.output.map(SecretRedactor.redact)
                        return result
                    } catch {
                        return HealthCheckResult.fail(SecretRedactor.redact(String(describing: error)))
                    }
                }
            },
            onFinish: { [state] in
                state.withLock { state in
                    state.checkState[check.key]?.hung[generation] = nil
                }
            })
        let duration = milliseconds(ContinuousClock.now - start) / 1000
        let result = outcome ?? .fail("timed out after \(check.timeout)")
        return state.withLock { state in
            var checkState = state.checkState[check.key] ?? CheckState()
            defer { state.checkState[check.key] = checkState }
            checkState.running = nil
            if outcome == nil {
                checkState.timeouts += 1
                checkState.hung[generation] = start
            }
            return record(result, for: check, duration: duration, in: &checkState)
        }
    }

    private func record(
        _ result: HealthCheckResult, for check: HealthCheck, duration: Double,
        in checkState: inout CheckState
    ) -> HealthReport.Entry {
        let now = WallClock.nowSeconds()
        let previous = checkState.entry
        let changed = previous.map { $0.status != result.status } ?? (result.status != .pass)
        let entry = HealthReport.Entry(
            key: check.key, componentType: check.componentType, isCritical: check.isCritical, result: result,
            time: now, lastTransition: changed || previous == nil ? now : previous!.lastTransition,
            duration: duration, cached: false, summary: check.summary
        )
        checkState.entry = entry
        checkState.evaluatedAt = ContinuousClock.now
        if changed {
            let metadata: Logger.Metadata = [
                "check": "\(check.key)", "status": "\(result.status.rawValue)",
                "previous": "\(previous?.status.rawValue ?? "none")",
            ]
            if result.status == .pass {
                logger.info("health check recovered", metadata: metadata)
            } else {
                logger.warning(
                    "health check \(result.status.rawValue): \(result.output ?? "")",
                    metadata: metadata.merging(["critical": "\(check.isCritical)"]) { $1 })
            }
        }
        return entry
    }

    // MARK: - Metrics

    /// Renders the `health_check_*` families; see `MetricsSource.renderFamilies`.
    public func renderFamilies(format: MetricsFormat) -> String {
        let rows = state.withLock { state in
            state.checks.compactMap { check -> (HealthCheck, CheckState)? in
                state.checkState[check.key].map { (check, $0) }
            }
        }
        var writer = MetricFamilyWriter(format: format)
        let evaluated = rows.filter { $0.1.entry != nil }
        writer.gauge(
            "health_check_status", help: "Latest result of each health check: 1 pass, 0.5 warn, 0 fail.",
            evaluated.map {
                (
                    [
                        ("check", $0.0.key), ("component_type", $0.0.componentType),
                        ("critical", String($0.0.isCritical)),
                    ],
                    $0.1.entry!.status.gaugeValue
                )
            })
        writer.gauge(
            "health_check_duration_seconds", help: "How long the latest probe of each health check took.",
            evaluated.map { ([("check", $0.0.key)], $0.1.entry!.duration) })
        writer.gauge(
            "health_check_last_transition_timestamp_seconds", help: "When each health check last changed status.",
            evaluated.map { ([("check", $0.0.key)], $0.1.entry!.lastTransition) })
        writer.counter(
            "health_check_probes", help: "Probes started per health check (cached answers excluded).",
            rows.map { ([("check", $0.0.key)], Double($0.1.probes)) })
        writer.counter(
            "health_check_timeouts", help: "Probes that outlived their timeout, per health check.",
            rows.map { ([("check", $0.0.key)], Double($0.1.timeouts)) })
        return writer.text
    }
}

extension HealthAggregator {
    /// Cached probe count of `key`, for tests and diagnostics.
    func probeCount(_ key: String) -> Int { state.withLock { $0.checkState[key]?.probes ?? 0 } }
}
