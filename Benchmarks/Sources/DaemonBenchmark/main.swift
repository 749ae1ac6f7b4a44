// N concurrent WebSocket sessions calling `chat` against a zero-latency provider-sim, with the
// full Traceline pipeline (span metrics, mcp_* views, batch processor) vs tracing off (NoOpTracer,
// what OTEL_SDK_DISABLED=true gives the daemon), alternating in the same process. Reports calls/s
// and client-side p50/p99 latency, medians over runs.
//
// With --streaming, both arms are traced and the comparison is streamed vs non-streamed calls:
// the provider streams (server-sent events, 8 chunks) and the client asks for stream_chunk frames,
// against the provider answering in one piece. It also reports the time to first token the
// daemon adds: from provider-sim writing its first chunk to the client receiving its first
// stream_chunk (same process, same clock).
//
// With --arm noop|traceline|swift-otel --endpoint URL, one process measures one backend as a user
// would deploy it, for run-daemon.sh --backends to compare across processes (peak RSS is per
// process): Traceline with span metrics, the mcp_* views and the OTLP/HTTP exporter, or swift-otel
// 1.6.0 as the swift-distributed-tracing backend with its OTLP/HTTP exporter, both to the
// receiver at URL and with log correlation on; or NoOpTracer. It prints one `ARM` line.
//
//   DaemonBenchmark [--sessions 16] [--calls 150] [--runs 5] [--streaming]
//   DaemonBenchmark --arm traceline --endpoint http://127.0.0.1:4318/v1/traces [--sessions 16] [--calls 150]

import BenchmarkSupport
import ExaiDaemon
import Foundation
import HummingbirdWSClient
import Logging
import NIOConcurrencyHelpers
import OTel
import ProviderSim
import ServiceLifecycle
import Synchronization
import Traceline
@_spi(Testing) import TracelineCore
@_spi(Testing) import TracelineOTLP
import Tracing

var sessions = 16, calls = 150, runs = 5
var streaming = false
var arm: String?, endpoint = ""
var argumentIterator = CommandLine.arguments.dropFirst().makeIterator()
while let flag = argumentIterator.next() {
    if flag == "--streaming" {
        streaming = true
        continue
    }
    if flag == "--arm" || flag == "--endpoint" {
        let text = argumentIterator.next() ?? ""
        if flag == "--arm" { arm = text } else { endpoint = text }
        continue
    }
    let value = Int(argumentIterator.next() ?? "") ?? 0
    switch flag {
    case "--sessions": sessions = value
    case "--calls": calls = value
    case "--runs": runs = value
    default: print("unknown option \(flag)"); exit(2)
    }
}

/// Keeps nothing: the benchmark measures the SDK, not a collector.
final class DiscardingExporter: SpanExporter {
    func export(_ batch: [FinishedSpan], deadline: ContinuousClock.Instant) -> ExportResult { .success }
    func shutdown(deadline: ContinuousClock.Instant) {}
}

/// Formats every record with its metadata (the metadata provider's included, so the trace IDs of
/// log correlation) and drops the text: what a log line costs short of the write.
struct FormattingSink: LogHandler {
    static let lines = Atomic<Int>(0)
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let own = event.metadata { all.merge(own) { $1 } }
        let text =
            "\(event.level) \(event.message) "
            + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        if !text.isEmpty { Self.lines.add(1, ordering: .relaxed) }
    }
}

/// The tracer, metrics and logger one backend gives the daemon, and how to flush it afterwards.
struct Backend {
    var tracer: any Tracer
    var spanMetrics: SpanMetricsProcessor?
    var registry = MetricsRegistry()
    var logger: Logger
    var shutdown: @Sendable () async -> Void = {}
}

struct RunResult {
    var callsPerSecond: Double
    var p50: Double
    var p99: Double
    var errors: Int
    /// Provider first chunk written → client first stream_chunk received, ms (streamed runs).
    var firstTokenOverheads: [Double] = []
}

let quiet = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
let simulator = ProviderSimulator(logger: quiet)
Task { try await simulator.run() }
guard let simulatorPort = await simulator.listeningPort() else { fatalError("provider-sim did not start") }

@Sendable func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000
}

/// The benchmark's own setups: Traceline with a discarding exporter, or NoOpTracer; logs discarded.
func localBackend(traced: Bool) -> Backend {
    guard traced else { return Backend(tracer: NoOpTracer(), logger: quiet) }
    let metrics = SpanMetricsProcessor()
    let views = SpanViewsProcessor(views: ExaiDaemon.metricViews)
    let provider = TracerProvider(
        resource: Resource(attributes: ["service.name": "bench"]),
        processors: [metrics, views, BatchSpanProcessor(exporter: DiscardingExporter())])
    var backend = Backend(tracer: provider.tracer(), spanMetrics: metrics, logger: quiet)
    backend.registry.register(metrics)
    backend.registry.register(views)
    backend.shutdown = { _ = await provider.shutdown(deadline: .now + .seconds(5)) }
    return backend
}

/// A backend as a user deploys it: OTLP/HTTP to `endpoint` and log correlation on.
func deployedBackend(_ name: String, endpoint: String) throws -> Backend {
    func logger(_ provider: Logger.MetadataProvider?) -> Logger {
        Logger(label: "exai-daemon") { _ in FormattingSink(metadataProvider: provider) }
    }
    switch name {
    case "noop":
        return Backend(tracer: NoOpTracer(), logger: logger(nil))
    case "traceline":
        var exporterConfiguration = OTLPExporterConfiguration()
        exporterConfiguration.endpoint = endpoint
        let exporter = OTLPHTTPExporter(configuration: exporterConfiguration, logger: quiet)
        let metrics = SpanMetricsProcessor()
        let views = SpanViewsProcessor(views: ExaiDaemon.metricViews)
        let provider = TracerProvider(
            resource: Resource(attributes: ["service.name": "bench"]),
            processors: [metrics, views, BatchSpanProcessor(exporter: exporter, logger: quiet)])
        var backend = Backend(tracer: provider.tracer(), spanMetrics: metrics, logger: logger(.traceline))
        backend.registry.register(metrics)
        backend.registry.register(views)
        backend.shutdown = { _ = await provider.shutdown(deadline: .now + .seconds(10)) }
        return backend
    case "swift-otel":
        let otel = try OTel.makeTracingBackend(
            configuration: swiftOTelConfiguration(otlpEndpoint: endpoint, diagnostics: quiet))
        let service = Task { try await otel.service.run() }
        var backend = Backend(tracer: otel.factory, logger: logger(OTel.makeLoggingMetadataProvider()))
        backend.shutdown = {
            service.cancel()
            _ = await service.result
        }
        return backend
    default:
        fatalError("unknown arm \(name): noop, traceline or swift-otel")
    }
}

func measure(traced: Bool, streamed: Bool = false, sessions: Int, calls: Int) async throws -> RunResult {
    try await measure(localBackend(traced: traced), streamed: streamed, sessions: sessions, calls: calls)
}

func measure(_ backend: Backend, streamed: Bool = false, sessions: Int, calls: Int) async throws -> RunResult {
    var configuration = DaemonConfiguration()
    configuration.port = 0
    configuration.metricsPort = 0
    configuration.syntheticInterval = .zero
    configuration.globalMaxInflight = 10_000
    configuration.glmMaxInflight = 10_000
    configuration.kimiMaxInflight = 10_000
    configuration.sessionMaxInflight = 10_000
    configuration.maxConnectionsPerIP = 10_000
    for keyPath in [\DaemonConfiguration.globalRate, \.ipRate, \.sessionRate] {
        configuration[keyPath: keyPath] = .init(capacity: 1e9, perSecond: 1e9)
    }
    configuration.glm.baseURL = "http://127.0.0.1:\(simulatorPort)/api/paas/v4"
    configuration.glm.apiKey = "bench"
    configuration.glm.stream = streamed
    let daemon = ExaiDaemon(
        configuration: configuration, tracer: backend.tracer, registry: backend.registry,
        spanMetrics: backend.spanMetrics, logger: backend.logger)
    let group = ServiceGroup(
        configuration: .init(services: [.init(service: daemon)], gracefulShutdownSignals: [], logger: quiet))
    let running = Task { try await group.run() }
    guard let port = await daemon.listeningPort() else { fatalError("daemon did not start") }

    let latencies = NIOLockedValueBox<[Double]>([])
    let errors = NIOLockedValueBox(0)
    let overheads = NIOLockedValueBox<[Double]>([])
    let warmup = 10
    let start = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
    let begin = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        for session in 0..<sessions {
            tasks.addTask {
                try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/", logger: quiet) {
                    inbound, outbound, _ in
                    var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                    try await outbound.write(.text(#"{"op":"hello","token":""}"#))
                    _ = try await messages.next()
                    var mine: [Double] = [], myOverheads: [Double] = []
                    for call in 0..<(warmup + calls) {
                        if call == warmup {
                            start.withLockedValue { if $0 == nil { $0 = .now } }
                        }
                        let sent = ContinuousClock.now
                        let correlation = "bench-\(session)-\(call)"
                        let meta = streamed ? #","_meta":{"stream":true,"correlation_id":"\#(correlation)"}"# : ""
                        try await outbound.write(
                            .text(
                                #"{"op":"call_tool","request_id":"\#(session)-\#(call)","name":"chat","arguments":{"prompt":"benchmark \#(session) \#(call)","model":"glm-4.5-flash"}\#(meta)}"#
                            ))
                        var firstChunk: ContinuousClock.Instant?
                        while let message = try await messages.next() {
                            guard case .text(let text) = message else { continue }
                            if firstChunk == nil, text.hasPrefix(#"{"op":"stream_chunk""#) { firstChunk = .now }
                            guard text.hasPrefix(#"{"op":"call_tool_res""#) else { continue }
                            if text.contains(#""error""#) { errors.withLockedValue { $0 += 1 } }
                            break
                        }
                        if call >= warmup {
                            let elapsed = ContinuousClock.now - sent
                            mine.append(milliseconds(elapsed))
                            if streamed {
                                guard let firstChunk, let written = simulator.firstChunkSent(correlationID: correlation)
                                else {
                                    errors.withLockedValue { $0 += 1 }
                                    continue
                                }
                                myOverheads.append(milliseconds(firstChunk - written))
                            }
                        }
                    }
                    latencies.withLockedValue { $0.append(contentsOf: mine) }
                    overheads.withLockedValue { $0.append(contentsOf: myOverheads) }
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
        }
        try await tasks.waitForAll()
    }
    let end = ContinuousClock.now
    let measuredStart = start.withLockedValue { $0 } ?? begin
    let wall = end - measuredStart
    let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
    let sorted = latencies.withLockedValue { $0 }.sorted()
    await group.triggerGracefulShutdown()
    _ = await running.result
    await backend.shutdown()
    func percentile(_ q: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
    }
    return RunResult(
        callsPerSecond: Double(sorted.count) / seconds, p50: percentile(0.5), p99: percentile(0.99),
        errors: errors.withLockedValue { $0 }, firstTokenOverheads: overheads.withLockedValue { $0 })
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty
        ? 0
        : sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// User plus system CPU seconds of this process.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// VmHWM: the most resident memory this process has had, in MiB.
func peakResidentMiB() -> Double {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
    return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
}

if let arm {
    let backend = try deployedBackend(arm, endpoint: endpoint)
    let linesBefore = FormattingSink.lines.load(ordering: .relaxed)
    let cpuBefore = cpuSeconds()
    let result = try await measure(backend, sessions: sessions, calls: calls)
    let cpu = cpuSeconds() - cpuBefore
    let total = Double(sessions * (calls + 10))  // the measured calls and each session's warm-up
    print(
        String(
            format:
                "ARM %@ calls/s %.0f p50 %.3f p99 %.3f errors %d cpu_ms_per_call %.3f peak_rss_mib %.1f log_lines_per_call %.2f",
            arm as NSString, result.callsPerSecond, result.p50, result.p99, result.errors, cpu * 1000 / total,
            peakResidentMiB(), Double(FormattingSink.lines.load(ordering: .relaxed) - linesBefore) / total))
    exit(0)
}

if streaming {
    print(
        "exai-daemon, traced, \(sessions) sessions × \(calls) sequential chat calls, zero-latency provider-sim, \(runs) runs (alternating order)"
    )
    var streamedRuns: [RunResult] = [], plainRuns: [RunResult] = []
    for run in 0..<runs {
        if run % 2 == 0 {
            streamedRuns.append(try await measure(traced: true, streamed: true, sessions: sessions, calls: calls))
            plainRuns.append(try await measure(traced: true, sessions: sessions, calls: calls))
        } else {
            plainRuns.append(try await measure(traced: true, sessions: sessions, calls: calls))
            streamedRuns.append(try await measure(traced: true, streamed: true, sessions: sessions, calls: calls))
        }
        let overheads = streamedRuns.last!.firstTokenOverheads.sorted()
        print(
            String(
                format:
                    "  run %d: streamed %.0f calls/s p50 %.2f ms p99 %.2f ms, TTFT added p50 %.2f ms p99 %.2f ms | non-streamed %.0f calls/s p50 %.2f ms p99 %.2f ms",
                run + 1, streamedRuns.last!.callsPerSecond, streamedRuns.last!.p50, streamedRuns.last!.p99,
                overheads.isEmpty ? 0 : overheads[overheads.count / 2],
                overheads.isEmpty ? 0 : overheads[min(overheads.count - 1, overheads.count * 99 / 100)],
                plainRuns.last!.callsPerSecond, plainRuns.last!.p50, plainRuns.last!.p99))
    }
    print("| calls                   | calls/s | p50 ms | p99 ms | errors |")
    print("|-------------------------|---------|--------|--------|--------|")
    for (name, results) in [("streamed (8 chunks)", streamedRuns), ("non-streamed", plainRuns)] {
        print(
            String(
                format: "| %-23@ | %7.0f | %6.2f | %6.2f | %6d |", name as NSString,
                median(results.map(\.callsPerSecond)),
                median(results.map(\.p50)), median(results.map(\.p99)), results.map(\.errors).reduce(0, +)))
    }
    let p50s = streamedRuns.map { $0.firstTokenOverheads.sorted() }.map { $0.isEmpty ? 0 : $0[$0.count / 2] }
    let p99s = streamedRuns.map { $0.firstTokenOverheads.sorted() }.map {
        $0.isEmpty ? 0 : $0[min($0.count - 1, $0.count * 99 / 100)]
    }
    print(
        String(
            format:
                "time to first token added by the daemon (provider-sim first chunk -> client first stream_chunk), medians over runs: p50 %.2f ms (runs %.2f-%.2f), p99 %.2f ms (runs %.2f-%.2f)",
            median(p50s), p50s.min() ?? 0, p50s.max() ?? 0, median(p99s), p99s.min() ?? 0, p99s.max() ?? 0))
    exit(0)
}

print(
    "exai-daemon, \(sessions) sessions × \(calls) sequential chat calls, zero-latency provider-sim, \(runs) runs (alternating order)"
)
var traced: [RunResult] = [], disabled: [RunResult] = []
for run in 0..<runs {
    if run % 2 == 0 {
        traced.append(try await measure(traced: true, sessions: sessions, calls: calls))
        disabled.append(try await measure(traced: false, sessions: sessions, calls: calls))
    } else {
        disabled.append(try await measure(traced: false, sessions: sessions, calls: calls))
        traced.append(try await measure(traced: true, sessions: sessions, calls: calls))
    }
    print(
        String(
            format: "  run %d: traced %.0f calls/s p50 %.2f ms p99 %.2f ms | off %.0f calls/s p50 %.2f ms p99 %.2f ms",
            run + 1, traced.last!.callsPerSecond, traced.last!.p50, traced.last!.p99,
            disabled.last!.callsPerSecond, disabled.last!.p50, disabled.last!.p99))
}
print("| mode                    | calls/s | p50 ms | p99 ms | errors |")
print("|-------------------------|---------|--------|--------|--------|")
for (name, results) in [("tracing on (Traceline)", traced), ("OTEL_SDK_DISABLED (NoOp)", disabled)] {
    print(
        String(
            format: "| %-23@ | %7.0f | %6.2f | %6.2f | %6d |", name as NSString, median(results.map(\.callsPerSecond)),
            median(results.map(\.p50)), median(results.map(\.p99)), results.map(\.errors).reduce(0, +)))
}
let overhead = (median(traced.map(\.p50)) / median(disabled.map(\.p50)) - 1) * 100
let perRun = zip(traced, disabled).map { ($0.p50 / $1.p50 - 1) * 100 }
print(
    String(
        format: "p50 overhead of tracing, medians: %.1f %% (per run: %@) (target <= 5 %%)", overhead,
        perRun.map { String(format: "%.1f", $0) }.joined(separator: ", ") as NSString))
