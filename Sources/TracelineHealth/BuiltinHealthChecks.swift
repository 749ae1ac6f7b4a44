import TracelineCore
import TracelineMetrics

/// Checks that every service can use: memory, disk, the span pipeline, RED thresholds, and a
/// "ping" adaptor for datastores and other dependencies.
extension HealthCheck {
    /// Resident memory against the memory the process may use (its cgroup limit, else the machine's).
    /// Key `memory:utilization`, observed in percent.
    public static func memory(
        warnAbove: Double = 0.80,
        failAbove: Double = 0.90,
        critical: Bool = true,
        reading: @escaping @Sendable () -> (resident: Double, limit: Double)? = {
            guard let resident = ProcessMetrics.residentMemoryBytes(), let limit = ProcessMetrics.memoryLimitBytes()
            else { return nil }
            return (resident, limit)
        }
    ) -> HealthCheck {
        HealthCheck(component: "memory", measurement: "utilization", componentType: "system", critical: critical) {
            guard let (resident, limit) = reading(), limit > 0 else {
                return .warn("memory usage cannot be read from /proc")
            }
            let ratio = resident / limit
            let percent = JSONValue.number((ratio * 1000).rounded() / 10)
            let detail =
                "resident memory \(mebibytes(resident)) MiB is \(Int((ratio * 100).rounded())) % of the \(mebibytes(limit)) MiB limit"
            if ratio > failAbove {
                return .fail(detail + " (fails above \(Int(failAbove * 100)) %)", value: percent, unit: "percent")
            }
            if ratio > warnAbove {
                return .warn(detail + " (warns above \(Int(warnAbove * 100)) %)", value: percent, unit: "percent")
            }
            return .pass(percent, unit: "percent")
        }
    }

    /// Used fraction of the file system that holds `path` (as `df` reports it). Key `disk:utilization`.
    public static func disk(
        path: String = "/", warnAbove: Double? = 0.85, failAbove: Double = 0.90, critical: Bool = true
    ) -> HealthCheck {
        HealthCheck(component: "disk", measurement: "utilization", componentType: "system", critical: critical) {
            guard let ratio = ProcessMetrics.diskUsageRatio(path) else {
                return .fail("cannot read the file system usage of \(path)")
            }
            let percent = JSONValue.number((ratio * 1000).rounded() / 10)
            let detail = "\(path) is \(Int((ratio * 100).rounded())) % full"
            if ratio > failAbove {
                return .fail(detail + " (fails above \(Int(failAbove * 100)) %)", value: percent, unit: "percent")
            }
            if let warnAbove, ratio > warnAbove {
                return .warn(detail + " (warns above \(Int(warnAbove * 100)) %)", value: percent, unit: "percent")
            }
            return .pass(percent, unit: "percent")
        }
    }

    /// The span pipeline: warns when the exporter's circuit breaker is not closed, or when spans were
    /// dropped (queue full, export failures, kept spans the exporter dropped later) since the
    /// previous run. Key `spans:pipeline`, observed value the spans lost since the previous run.
    /// Never critical: losing telemetry must not take the service out of rotation.
    public static func spanPipeline(provider: TracerProvider) -> HealthCheck {
        spanPipeline { provider.pipelineStatistics }
    }

    /// The same check on one processor's export pipeline.
    public static func spanPipeline(processor: any SpanProcessor) -> HealthCheck {
        spanPipeline { processor.pipelineStatistics }
    }

    private static func spanPipeline(_ read: @escaping @Sendable () -> SpanPipelineStatistics?) -> HealthCheck {
        let previous = LockedValue<Int?>(nil)
        return HealthCheck(component: "spans", measurement: "pipeline", componentType: "component", critical: false) {
            guard let statistics = read() else { return .pass(.number(0), unit: "spans") }
            let lost = statistics.dropped + statistics.failed
            let delta = previous.withLock { last -> Int in
                defer { last = lost }
                return last.map { lost - $0 } ?? lost
            }
            var problems: [String] = []
            if let exporter = statistics.exporter, let state = exporter.breakerState, state != .closed {
                problems.append(
                    "the OTLP exporter's circuit breaker is \(state.rawValue)"
                        + (exporter.lastError.map { " (last error: \($0))" } ?? ""))
            }
            if delta > 0 {
                problems.append(
                    "\(delta) spans lost since the last check (queue full \(statistics.droppedQueueFull), export failed \(statistics.failed) in total)"
                )
            }
            let value = JSONValue.number(Double(delta))
            return problems.isEmpty
                ? .pass(value, unit: "spans") : .warn(problems.joined(separator: "; "), value: value, unit: "spans")
        }
    }

    /// Error rate of the span names in `spanNames` (all names when nil) over the span metrics'
    /// recent window; warns above `maxErrorRate` once a name has `minimumCalls` calls.
    /// Key `spans:errorRate`, observed in percent (the worst name).
    public static func errorRate(
        _ metrics: SpanMetricsProcessor,
        spanNames: Set<String>? = nil,
        maxErrorRate: Double = 0.05,
        minimumCalls: Int = 1
    ) -> HealthCheck {
        HealthCheck(component: "spans", measurement: "errorRate", componentType: "component", critical: false) {
            let recent = metrics.recentStatistics().filter {
                ($0.calls >= minimumCalls) && (spanNames?.contains($0.spanName) ?? true)
            }
            let worst = recent.map(\.errorRate).max() ?? 0
            let value = JSONValue.number((worst * 1000).rounded() / 10)
            let over = recent.filter { $0.errorRate > maxErrorRate }
            guard !over.isEmpty else { return .pass(value, unit: "percent") }
            let names = over.map { "\($0.spanName) \(Int(($0.errorRate * 100).rounded())) % of \($0.calls)" }.joined(
                separator: ", ")
            return .warn(
                "error rate above \(formatPercent(maxErrorRate)) % over the last \(metrics.configuration.window): \(names)",
                value: value, unit: "percent")
        }
    }

    /// p95 latency of the span names in `spanNames` (all when nil) over the span metrics' recent
    /// window; warns above `maxP95`. Key `spans:responseTime`, observed in ms (the worst name).
    public static func latency(
        _ metrics: SpanMetricsProcessor,
        spanNames: Set<String>? = nil,
        maxP95: Duration = .seconds(2),
        minimumCalls: Int = 1
    ) -> HealthCheck {
        let limit = milliseconds(maxP95)
        return HealthCheck(component: "spans", measurement: "responseTime", componentType: "component", critical: false)
        {
            let recent = metrics.recentStatistics().filter {
                ($0.calls >= minimumCalls) && (spanNames?.contains($0.spanName) ?? true)
            }
            let worst = recent.map(\.p95).max() ?? 0
            let value = JSONValue.number(worst.rounded())
            let over = recent.filter { $0.p95 > limit }
            guard !over.isEmpty else { return .pass(value, unit: "ms") }
            let names = over.map { "\($0.spanName) p95 \(Int($0.p95.rounded())) ms" }.joined(separator: ", ")
            return .warn(
                "p95 latency above \(Int(limit)) ms over the last \(metrics.configuration.window): \(names)",
                value: value, unit: "ms")
        }
    }

    /// Adapts a connectivity probe (a storage write and read, a one-row query, a PING) to a check:
    /// passes when `ping` returns, fails with its (redacted) error when it throws, warns when it is
    /// slower than `warnAbove`. Key `component:responseTime`, observed in ms.
    public static func ping(
        _ component: String,
        componentType: String = "datastore",
        critical: Bool = true,
        timeout: Duration = .seconds(2),
        warnAbove: Duration? = nil,
        summary: (name: String, fields: [(String, JSONValue)])? = nil,
        _ ping: @escaping @Sendable () async throws -> Void
    ) -> HealthCheck {
        HealthCheck(
            component: component, measurement: "responseTime", componentType: componentType,
            critical: critical, timeout: timeout, summary: summary
        ) {
            let start = ContinuousClock.now
            try await ping()
            let elapsed = milliseconds(ContinuousClock.now - start)
            let value = JSONValue.number((elapsed * 10).rounded() / 10)
            if let warnAbove, elapsed > milliseconds(warnAbove) {
                return .warn(
                    "answered in \(Int(elapsed)) ms (warns above \(Int(milliseconds(warnAbove))) ms)", value: value,
                    unit: "ms")
            }
            return .pass(value, unit: "ms")
        }
    }
}

private func mebibytes(_ bytes: Double) -> Int { Int((bytes / 1_048_576).rounded()) }

private func formatPercent(_ ratio: Double) -> String {
    let percent = ratio * 100
    return percent == percent.rounded() ? String(Int(percent)) : String(percent)
}

func milliseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1000 + Double(attoseconds) / 1e15
}
