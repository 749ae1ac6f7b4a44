import Foundation
import Testing
import TracelineTestSupport
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

/// Counts probe runs and fails or hangs on demand.
final class ProbeScript: Sendable {
    enum Mode: Sendable { case pass, fail(String), hang }
    let mode: LockedValue<Mode>
    let runs = LockedValue(0)
    init(_ mode: Mode = .pass) { self.mode = LockedValue(mode) }
    var count: Int { runs.withLock { $0 } }

    func check(_ name: String, critical: Bool = true, timeout: Duration = .seconds(2)) -> HealthCheck {
        HealthCheck(
            component: name, measurement: "responseTime", componentType: "datastore", critical: critical,
            timeout: timeout
        ) {
            self.runs.withLock { $0 += 1 }
            switch self.mode.withLock({ $0 }) {
            case .pass: return .pass(1, unit: "ms")
            case .fail(let output): return .fail(output)
            case .hang:
                // A dependency that ignores cancellation entirely (awaiting a detached task does
                // not pass cancellation on), without holding a thread.
                await Task.detached { try? await Task.sleep(for: .seconds(30)) }.value
                return .pass()
            }
        }
    }
}

/// The report body parsed back, for shape checks.
func parse(_ json: String) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
}

/// Validates the IETF draft's shape: what every consumer of /health may rely on.
func validateShape(_ json: String, style: HealthReport.StatusStyle = .ietf) throws {
    let root = try parse(json)
    let status = try #require(root["status"] as? String)
    #expect((style == .ietf ? ["pass", "warn", "fail"] : ["healthy", "degraded"]).contains(status))
    let iso = ISO8601DateFormatter()
    iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    #expect(iso.date(from: try #require(root["timestamp"] as? String)) != nil)
    let checks = try #require(root["checks"] as? [String: Any])
    for (key, value) in checks {
        #expect(key.split(separator: ":").count <= 2)
        let array = try #require(value as? [[String: Any]], "\(key) is an array of objects")
        #expect(array.count == 1)
        let check = array[0]
        #expect(check["componentType"] is String)
        let checkStatus = try #require(check["status"] as? String)
        #expect(["pass", "warn", "fail"].contains(checkStatus))
        #expect(iso.date(from: try #require(check["time"] as? String)) != nil)
        if check["observedValue"] != nil { #expect(check["observedUnit"] is String, "\(key): a value has a unit") }
        if checkStatus == "pass" {
            #expect(check["output"] == nil, "\(key): no output when passing")
        } else {
            #expect(check["output"] is String, "\(key): output when not passing")
        }
    }
    let memory = try #require(root["memory"] as? [String: Any])
    #expect(((memory["usage_mb"] as? Double) ?? 0) > 0)
}

@Suite struct HealthAggregatorTests {
    @Test("all checks pass: 200, status pass, the documented shape")
    func allPass() async throws {
        let a = ProbeScript(), b = ProbeScript()
        let aggregator = HealthAggregator(checks: [
            a.check("redis"), b.check("postgres", critical: false), .memory(warnAbove: 1, failAbove: 1),
            .disk(warnAbove: nil, failAbove: 1),
        ])
        let report = await aggregator.report()
        #expect(report.status == .pass)
        #expect(report.httpStatus == 200)
        #expect(
            report.entries.map(\.key) == [
                "redis:responseTime", "postgres:responseTime", "memory:utilization", "disk:utilization",
            ])
        try validateShape(report.json())
        let root = try parse(report.json())
        #expect(root["status"] as? String == "pass")
        #expect(root["output"] == nil)
    }

    @Test("a critical check failing: 503 with that check's output")
    func criticalFailure() async throws {
        let a = ProbeScript(.fail("connection refused")), b = ProbeScript()
        let aggregator = HealthAggregator(checks: [a.check("redis"), b.check("postgres")])
        let report = await aggregator.report()
        #expect(report.status == .fail)
        #expect(report.httpStatus == 503)
        try validateShape(report.json())
        let checks = try #require(try parse(report.json())["checks"] as? [String: [[String: Any]]])
        #expect(checks["redis:responseTime"]?[0]["status"] as? String == "fail")
        #expect(checks["redis:responseTime"]?[0]["output"] as? String == "connection refused")
        #expect(checks["postgres:responseTime"]?[0]["status"] as? String == "pass")
        #expect(try parse(report.json(style: .seed))["status"] as? String == "degraded")
    }

    @Test("a non-critical check failing: 200 with status warn")
    func nonCriticalFailure() async throws {
        let a = ProbeScript(.fail("cache down")), b = ProbeScript()
        let aggregator = HealthAggregator(checks: [a.check("cache", critical: false), b.check("postgres")])
        let report = await aggregator.report()
        #expect(report.status == .warn)
        #expect(report.httpStatus == 200)
        try validateShape(report.json())
        #expect(try parse(report.json(style: .seed))["status"] as? String == "healthy")
        let readiness = await aggregator.report(criticalOnly: true)
        #expect(readiness.entries.map(\.key) == ["postgres:responseTime"])
        #expect(readiness.status == .pass)
    }

    @Test("transitions are kept per check and exported as metrics")
    func transitionsAndMetrics() async throws {
        let script = ProbeScript()
        let aggregator = HealthAggregator(configuration: .init(cacheInterval: .zero), checks: [script.check("redis")])
        let first = await aggregator.report()
        let firstTransition = first.entries[0].lastTransition
        try await Task.sleep(for: .milliseconds(20))
        let second = await aggregator.report()
        #expect(second.entries[0].lastTransition == firstTransition, "no change, no transition")
        script.mode.withLock { $0 = .fail("down") }
        let third = await aggregator.report()
        #expect(third.entries[0].lastTransition > firstTransition)
        let text = aggregator.renderFamilies(format: .prometheusText)
        #expect(
            text.contains(
                "health_check_status{check=\"redis:responseTime\",component_type=\"datastore\",critical=\"true\"} 0"))
        #expect(text.contains("health_check_probes_total{check=\"redis:responseTime\"} 3"))
        #expect(text.contains("health_check_last_transition_timestamp_seconds{check=\"redis:responseTime\"}"))
        script.mode.withLock { $0 = .pass }
        _ = await aggregator.report()
        #expect(
            aggregator.renderFamilies(format: .prometheusText)
                .contains(
                    "health_check_status{check=\"redis:responseTime\",component_type=\"datastore\",critical=\"true\"} 1"
                ))
    }

    @Test("a thrown error fails the check, and no secret-looking value reaches any output")
    func redaction() async throws {
        struct ConnectionError: Error, CustomStringConvertible {
            var description: String {
                "cannot connect to postgres://admin:hunter2@db.internal:5432/app (password=hunter2, api_key: sk-live0123456789abcdef); "
                    + "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload; token=AbCdEf0123456789AbCdEf0123456789XyZ"
            }
        }
        let aggregator = HealthAggregator(checks: [
            .ping("postgres", summary: (name: "supabase", fields: [("enabled", true)])) { throw ConnectionError() }
        ])
        let report = await aggregator.report()
        #expect(report.httpStatus == 503)
        for body in [
            report.json(), report.json(style: .seed), report.verboseText(title: "readyz"),
            aggregator.renderFamilies(format: .openMetrics),
        ] {
            for secret in [
                "hunter2", "sk-live0123456789abcdef", "eyJhbGciOiJIUzI1NiJ9", "AbCdEf0123456789AbCdEf0123456789XyZ",
                "admin:",
            ] {
                #expect(!body.contains(secret), "\(secret) leaked")
            }
        }
        let output = try #require(report.entries[0].result.output)
        #expect(output.contains("db.internal:5432"), "what failed stays readable: \(output)")
        let supabase = try #require(try parse(report.json(style: .seed))["supabase"] as? [String: Any])
        #expect(supabase["enabled"] as? Bool == true)
        #expect(supabase["status"] as? String == "unhealthy")
        #expect((supabase["error"] as? String)?.contains("cannot connect") == true)
    }

    @Test("the seed's fields: status healthy/degraded, timestamp, storage, supabase, memory.usage_mb")
    func seedFields() async throws {
        let aggregator = HealthAggregator(checks: [
            .ping("storage", summary: (name: "storage", fields: [("type", "memory")])) {}
        ])
        aggregator.setSummaryField("supabase", .object([("enabled", false), ("status", "disabled")]))
        let report = await aggregator.report()
        #expect(report.contentType(style: .seed) == "application/json")
        #expect(report.contentType(style: .ietf) == "application/health+json")
        let json = report.json(style: .seed)
        try validateShape(json, style: .seed)
        let root = try parse(json)
        #expect(root["status"] as? String == "healthy")
        #expect((root["storage"] as? [String: Any])?["type"] as? String == "memory")
        #expect((root["storage"] as? [String: Any])?["status"] as? String == "healthy")
        #expect((root["supabase"] as? [String: Any])?["status"] as? String == "disabled")
        #expect((root["supabase"] as? [String: Any])?["enabled"] as? Bool == false)
        let memory = try #require((root["memory"] as? [String: Any])?["usage_mb"] as? Double)
        let rss = try #require(residentMiB())
        #expect(abs(memory - rss) < max(8, rss * 0.2), "usage_mb \(memory) vs VmRSS \(rss)")
    }

    @Test("probes run with tracing suppressed unless traceProbes is set")
    func probeSuppression() async throws {
        let exporter = InMemorySpanExporter()
        let provider = TracerProvider(processors: [SimpleSpanProcessor(exporter: exporter)])
        let tracer = provider.tracer()
        let check = HealthCheck.ping("redis") {
            tracer.startSpan("redis PING", context: ServiceContext.current ?? .topLevel, ofKind: .client).end()
        }
        _ = await HealthAggregator(checks: [check]).report()
        #expect(exporter.spans.isEmpty)
        _ = await HealthAggregator(configuration: .init(traceProbes: true), checks: [check]).report()
        #expect(exporter.spans.map(\.name) == ["redis PING"])
        var suppressed = ServiceContext.topLevel
        suppressed.isTracingSuppressed = true
        let span = tracer.startSpan("x", context: suppressed, ofKind: .server)
        #expect(!span.isRecording)
        #expect(!span.context.spanContext!.traceFlags.contains(.sampled))
    }
}

/// VmRSS of this process in MiB, read independently of the code under test.
func residentMiB() -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kilobytes = Double(line.filter(\.isNumber))
    else { return nil }
    return kilobytes / 1024
}

@Suite struct BuiltinHealthCheckTests {
    func run(_ check: HealthCheck) async throws -> HealthCheckResult { try await check.probe() }

    @Test("memory: resident set against the cgroup or machine limit, from real values")
    func memory() async throws {
        let result = try await run(.memory())
        let observed = try #require(
            {
                if case .number(let n)? = result.observedValue { return n }; return nil
            }())
        let limitText = (try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8))?.trimmingCharacters(
            in: .whitespacesAndNewlines)
        let meminfo = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        let total =
            Double(meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }!.filter(\.isNumber))! * 1024
        let limit = limitText.flatMap(Double.init) ?? total
        let expected = try #require(residentMiB()) * 1_048_576 / limit * 100
        #expect(abs(observed - expected) < 0.5, "observed \(observed) % vs \(expected) %")
        #expect(result.observedUnit == "percent")
        #expect(result.status == (expected > 90 ? .fail : expected > 80 ? .warn : .pass))
        // The thresholds, on the same real reading.
        #expect(try await run(.memory(warnAbove: 0, failAbove: 1)).status == .warn)
        #expect(try await run(.memory(warnAbove: 0, failAbove: 0)).status == .fail)
        #expect(try await run(.memory(warnAbove: 0, failAbove: 0)).output?.contains("MiB limit") == true)
        #expect(try await run(.memory(reading: { nil })).status == .warn)
    }

    @Test("disk: used fraction as df computes it, and the thresholds")
    func disk() async throws {
        let result = try await run(.disk(path: "/"))
        let observed = try #require(
            {
                if case .number(let n)? = result.observedValue { return n }; return nil
            }())
        let text = try await offThreadThrowing { () -> String in
            let df = Process()
            df.executableURL = URL(fileURLWithPath: "/bin/df")
            df.arguments = ["-P", "-k", "/"]
            let pipe = Pipe()
            df.standardOutput = pipe
            try df.run()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            df.waitUntilExit()
            return text
        }
        let fields = text.split(separator: "\n")[1].split(separator: " ")
        let used = Double(fields[2])!, available = Double(fields[3])!
        let expected = used / (used + available) * 100
        #expect(abs(observed - expected) < 0.5, "observed \(observed) % vs df \(expected) %")
        #expect(try await run(.disk(path: "/", warnAbove: nil, failAbove: 0)).status == .fail)
        #expect(try await run(.disk(path: "/", warnAbove: 0, failAbove: 1)).status == .warn)
        let missing = try await run(.disk(path: "/no/such/path"))
        #expect(missing.status == .fail)
    }

    @Test("RED thresholds flip to warn on an error burst or slow spans, and back after the window")
    func redThresholds() async throws {
        let clock = RecentStatisticsTests.FakeClock()
        var configuration = SpanMetricsProcessor.Configuration()
        configuration.window = .seconds(60)
        let metrics = SpanMetricsProcessor(configuration: configuration, now: { clock.now() })
        let tracer = TracerProvider(resource: Resource(attributes: ["service.name": "svc"]), processors: [metrics])
            .tracer()
        func spans(_ name: String, count: Int, milliseconds: Double = 5, error: Bool = false) {
            for _ in 0..<count { RecentStatisticsTests().span(tracer, name, milliseconds: milliseconds, error: error) }
        }
        let errorRate = HealthCheck.errorRate(metrics, spanNames: ["call_tool chat"])
        let latency = HealthCheck.latency(metrics, spanNames: ["call_tool chat"])
        spans("call_tool chat", count: 100)
        spans("health", count: 10, error: true)
        #expect(try await run(errorRate).status == .pass, "other span names are not watched")
        #expect(try await run(latency).status == .pass)
        spans("call_tool chat", count: 10, error: true)
        let burst = try await run(errorRate)
        #expect(burst.status == .warn)
        #expect(burst.output?.contains("call_tool chat 9 % of 110") == true, "\(burst.output ?? "")")
        #expect(burst.observedValue == .number(9.1))
        spans("call_tool chat", count: 20, milliseconds: 3000)
        let slow = try await run(latency)
        #expect(slow.status == .warn, "p95 past 2 s: \(slow)")
        clock.advance(61)
        #expect(try await run(errorRate).status == .pass, "the burst left the window")
        #expect(try await run(latency).status == .pass)
        #expect(try await run(HealthCheck.errorRate(metrics)).status == .pass)
    }

    @Test("span pipeline: warns when spans were dropped since the last check")
    func spanPipeline() async throws {
        // A blocked exporter, so the 4-span queue overflows whatever the scheduling (with an
        // instant exporter a fast export thread could keep up with all 50 spans: a flaky test).
        let exporter = ControllableExporter()
        exporter.setBlocked(true)
        let processor = BatchSpanProcessor(
            exporter: exporter,
            configuration: .init(scheduleDelay: .seconds(60), maxQueueSize: 4, maxExportBatchSize: 4))
        let tracer = TracerProvider(processors: [processor]).tracer()
        let check = HealthCheck.spanPipeline(processor: processor)
        #expect(try await run(check).status == .pass)
        for _ in 0..<50 { tracer.startSpan("s", context: .topLevel, ofKind: .internal).end() }
        #expect(processor.statistics.droppedQueueFull >= 46 - 4, "at most a queue and a batch got through")
        let dropped = try await run(check)
        #expect(dropped.status == .warn)
        #expect(dropped.output?.contains("spans lost") == true)
        #expect(try await run(check).status == .pass, "nothing new lost since the last check")
        exporter.setBlocked(false)
        _ = await processor.shutdown(deadline: .now + .seconds(2))
    }
}

@Suite struct SyntheticMonitorTests {
    @Test(
        "the scheduler runs the probe as its own synthetic trace, records metrics, and fails the check after K failures"
    )
    func synthetic() async throws {
        let exporter = InMemorySpanExporter()
        let tracer = TracerProvider(processors: [SimpleSpanProcessor(exporter: exporter)]).tracer()
        let failing = LockedValue(false)
        let monitor = SyntheticMonitor(
            probes: [
                .init(name: "hello", interval: .milliseconds(50), failureThreshold: 3) {
                    try await Task.sleep(for: .milliseconds(5))
                    if failing.withLock({ $0 }) { throw CancellationError() }
                }
            ], tracer: tracer)
        let aggregator = HealthAggregator(
            configuration: .init(cacheInterval: .zero), checks: [monitor.healthCheck("hello", critical: true)])

        let runner = Task { try await monitor.run() }
        let giveUp = ContinuousClock.now + .seconds(10)
        while (monitor.state(of: "hello")?.runs ?? 0) < 3 && ContinuousClock.now < giveUp {
            try await Task.sleep(for: .milliseconds(20))
        }
        runner.cancel()
        _ = try? await runner.value
        let runs = try #require(monitor.state(of: "hello")).runs
        #expect(runs >= 3, "the schedule repeats the probe")
        #expect(await aggregator.report().status == .pass)

        let spans = exporter.spans
        #expect(spans.count == runs)
        let span = try #require(spans.first)
        #expect(span.name == "synthetic hello")
        #expect(span.parentSpanID == nil, "a root span: its own trace")
        #expect(span.attributes["synthetic"]?.toSpanAttribute() == .bool(true))
        #expect(Set(spans.map(\.spanContext.traceID)).count == runs)

        failing.withLock { $0 = true }
        #expect(await monitor.runOnce("hello") == false)
        #expect(await aggregator.report().status == .warn)
        await monitor.runOnce("hello")
        await monitor.runOnce("hello")
        let red = await aggregator.report()
        #expect(red.status == .fail)
        #expect(red.httpStatus == 503)
        #expect(red.entries[0].result.output?.contains("3 consecutive failures") == true)
        let text = monitor.renderFamilies(format: .prometheusText)
        #expect(text.contains("synthetic_probe_runs_total{probe=\"hello\",result=\"failure\"} 3"))
        #expect(text.contains("synthetic_probe_runs_total{probe=\"hello\",result=\"success\"} \(runs)"))
        #expect(text.contains("synthetic_probe_consecutive_failures{probe=\"hello\"} 3"))
        #expect(text.contains("synthetic_probe_duration_seconds_count{probe=\"hello\"} \(runs + 3)"))
        #expect(exporter.spans.last?.status?.code == .error)

        failing.withLock { $0 = false }
        await monitor.runOnce("hello")
        #expect(await aggregator.report().status == .pass)
    }
}

/// Tests whose assertions are wall-clock bounds (a timeout plus 100 ms, a cache interval). The test
/// command runs suites named `*Timing*` on their own, after the parallel run and outside the
/// ThreadSanitizer run, so other tests' CPU load does not skew the clock.
@Suite(.serialized) struct HealthTimingTests {
    @Test("a check hanging for 30 s fails within its timeout plus 100 ms, and is not started again while hung")
    func hangingCheck() async throws {
        let hung = ProbeScript(.hang), healthy = ProbeScript()
        let aggregator = HealthAggregator(
            configuration: .init(cacheInterval: .zero),
            checks: [hung.check("db", timeout: .milliseconds(300)), healthy.check("redis")])
        let start = ContinuousClock.now
        let report = await aggregator.report()
        let elapsed = ContinuousClock.now - start
        #expect(elapsed < .milliseconds(400), "took \(elapsed)")
        #expect(report.httpStatus == 503)
        let entry = try #require(report.entries.first { $0.key == "db:responseTime" })
        #expect(entry.status == .fail)
        #expect(entry.result.output?.contains("timed out") == true)
        #expect(report.entries.first { $0.key == "redis:responseTime" }?.status == .pass)

        let again = ContinuousClock.now
        let second = await aggregator.report()
        #expect(ContinuousClock.now - again < .milliseconds(100), "a hung probe is not waited for again")
        #expect(
            second.entries.first { $0.key == "db:responseTime" }?.result.output?.contains("has not returned") == true)
        #expect(hung.count == 1, "no second probe while the first is stuck")
        #expect(healthy.count == 2)
        #expect(
            aggregator.renderFamilies(format: .prometheusText).contains(
                "health_check_timeouts_total{check=\"db:responseTime\"} 1"))
    }

    @Test("results are cached within the interval and shared by concurrent callers")
    func caching() async throws {
        let script = ProbeScript()
        let slow = HealthCheck(component: "slow", critical: true) {
            try await Task.sleep(for: .milliseconds(50))
            return try await script.check("x").probe()
        }
        let aggregator = HealthAggregator(configuration: .init(cacheInterval: .milliseconds(500)), checks: [slow])
        await withTaskGroup(of: HealthStatus.self) { group in
            for _ in 0..<20 { group.addTask { await aggregator.report().status } }
            for await status in group { #expect(status == .pass) }
        }
        #expect(script.count == 1, "20 concurrent probes ran the check once")
        _ = await aggregator.report()
        #expect(script.count == 1)
        #expect(aggregator.probeCount("slow") == 1)
        try await Task.sleep(for: .milliseconds(600))
        let fresh = await aggregator.report()
        #expect(script.count == 2, "the cache expired")
        #expect(fresh.entries[0].cached == false)
    }

    @Test("a probe that hangs fails at its timeout")
    func probeTimeout() async throws {
        let monitor = SyntheticMonitor(probes: [
            .init(name: "stuck", timeout: .milliseconds(100)) { try await Task.sleep(for: .seconds(30)) }
        ])
        let start = ContinuousClock.now
        #expect(await monitor.runOnce("stuck") == false)
        #expect(ContinuousClock.now - start < .milliseconds(300))
        #expect(monitor.state(of: "stuck")?.lastError?.contains("timed out") == true)
    }
}
