// Same-run comparison of span cost: NoOpTracer, swift-otel 1.6.0, Traceline.
//
// Every scenario runs `runs` times, interleaved (noop, otel, traceline, noop, ...) so machine
// noise hits all of them alike; the table reports medians. Allocations are counted by the
// MallocCounter target, which interposes malloc for the whole process.

import BenchmarkSupport
import Logging
import MallocCounter
import OTel
import ServiceLifecycle
import Synchronization
import Traceline
@_spi(Testing) import TracelineCore
@_spi(Testing) import TracelineOTLP
import Tracing

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Settings

let arguments = CommandLine.arguments
func argument(_ name: String, default value: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count,
        let parsed = Int(arguments[index + 1])
    else { return value }
    return parsed
}
let runs = argument("--runs", default: 7)
let iterations = argument("--iterations", default: 100_000)
func stringArgument(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

if arguments.contains("--render") {
    runRenderBenchmark(runs: runs)
    exit(0)
}
if arguments.contains("--redact") {
    runRedactionBenchmark(runs: runs)
    exit(0)
}
if arguments.contains("--encode") {
    runEncodingBenchmark(runs: runs, oursOnly: arguments.contains("--ours-only"))
    exit(0)
}
if let peer = stringArgument("--e2e") {
    try await runEndToEnd(
        peer: peer, endpoint: stringArgument("--endpoint") ?? "http://127.0.0.1:4318/v1/traces",
        statsFile: stringArgument("--stats") ?? "/tmp/receiver-stats", seconds: argument("--seconds", default: 10),
        rate: argument("--rate", default: 0), yielding: arguments.contains("--yield"),
        senders: argument("--senders", default: 2), queueSize: argument("--queue", default: 2048),
        enqueueWaitMilliseconds: argument("--enqueue-wait", default: 0))
    exit(0)
}

// MARK: - Measurement

/// The process's CPU time so far, all threads, in nanoseconds.
func processCPUNanoseconds() -> Int {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return time.tv_sec * 1_000_000_000 + time.tv_nsec
}

/// Waits until the previous scenario's background work is done, so it does not run into the next
/// scenario's timing: the Traceline pipelines are flushed, then the process must use under 2 ms of
/// CPU in a 20 ms window (swift-otel's processor drains its spans on the cooperative pool after its
/// loop returns). Gives up after 3 s and returns false.
func settle() async -> Bool {
    for pipeline in settledProviders { _ = await pipeline.forceFlush(deadline: .now + .seconds(3)) }
    let deadline = ContinuousClock.now + .seconds(3)
    while ContinuousClock.now < deadline {
        let before = processCPUNanoseconds()
        try? await Task.sleep(for: .milliseconds(20))
        if processCPUNanoseconds() - before < 2_000_000 { return true }
    }
    return false
}

struct Sample {
    var nanosecondsPerOp: Double
    var mallocsPerOp: Double
}

func measure(operations: Int, _ body: () async -> Void) async -> Sample {
    let mallocsBefore = malloc_counter_total()
    let start = ContinuousClock.now
    await body()
    let elapsed = ContinuousClock.now - start
    let mallocs = malloc_counter_total() - mallocsBefore
    let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
    return Sample(
        nanosecondsPerOp: nanoseconds / Double(operations), mallocsPerOp: Double(mallocs) / Double(operations))
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// The loop the issue names: `withSpan("op", ofKind: .client)` setting two string and two int
/// attributes. Compiled in this module, like SpanInstructions' copy (see there why not shared).
@inline(never)
func spanLoop<T: Tracer>(_ tracer: T, count: Int) {
    for index in 0..<count {
        tracer.withSpan("op", context: .topLevel, ofKind: .client) { span in
            span.attributes["peer.service"] = "kimi"
            span.attributes["gen_ai.request.model"] = "kimi-k2"
            span.attributes["http.response.status_code"] = 200
            span.attributes["iteration"] = index
        }
    }
}

/// The floor: `withSpan` with no attributes, the span handed to an opaque function. Without that,
/// the optimiser deletes a NoOp span nothing reads, and the loop costs nothing at all. (NoOpTracer's
/// `attributes` getter returns a fresh dictionary, so the 4-attribute NoOp loop allocates on every
/// write: it is a padded baseline, this row is not.)
@inline(never)
func bareLoop<T: Tracer>(_ tracer: T, count: Int) {
    for _ in 0..<count {
        tracer.withSpan("op", context: .topLevel, ofKind: .client) { span in keep(span) }
    }
}

nonisolated(unsafe) var keptSpans = 0

/// Reads the span where the optimiser cannot see: about ten instructions per call.
@inline(never) @_optimize(none)
func keep(_ span: any Span) {
    _ = span.context
    keptSpans &+= 1
}

@inline(never)
func rootChildLoop<T: Tracer>(_ tracer: T, count: Int) {
    for _ in 0..<count {
        tracer.withSpan("parent", context: .topLevel, ofKind: .server) { parent in
            tracer.withSpan("child", context: parent.context, ofKind: .client) { child in
                child.attributes["db.system.name"] = "redis"
            }
        }
    }
}

func concurrentLoop<T: Tracer>(_ tracer: T, producers: Int, count: Int) async {
    await withTaskGroup(of: Void.self) { group in
        for _ in 0..<producers { group.addTask { spanLoop(tracer, count: count) } }
    }
}

// MARK: - Peers

/// Discards batches but counts the spans it was given.
final class DiscardingExporter: SpanExporter {
    let received = Atomic<Int>(0)
    func export(_ batch: [FinishedSpan], deadline: ContinuousClock.Instant) -> ExportResult {
        received.add(batch.count, ordering: .relaxed)
        return .success
    }
}

/// Sums swift-otel's "Spans were dropped" warnings, its only report of queue drops.
final class DropCounter: Sendable {
    let dropped = Atomic<Int>(0)
    struct Handler: LogHandler {
        let counter: DropCounter
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .warning
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            if case .string(let text)? = event.metadata?["dropped_count"], let count = Int(text) {
                counter.dropped.add(count, ordering: .relaxed)
            }
        }
    }
}

let otelDrops = DropCounter()
let otelBackend = try OTel.makeTracingBackend(
    configuration: swiftOTelConfiguration(
        otlpEndpoint: nil, diagnostics: Logger(label: "otel") { _ in DropCounter.Handler(counter: otelDrops) }))
let otelTracer = otelBackend.factory
let otelService = Task { try await otelBackend.service.run() }

let exporter = DiscardingExporter()
let queueSize = argument("--queue", default: 2048)
let processor = BatchSpanProcessor(
    exporter: exporter, configuration: .init(maxQueueSize: queueSize, maxExportBatchSize: min(512, queueSize)))
let provider = TracerProvider(
    resource: Resource(attributes: ["service.name": "bench"]),
    processors: [processor]
)
let tracer = provider.tracer()
// The same pipeline with string values cut at 4096 characters, as the exai-daemon sets, to show
// what the cut costs (the default is no cut).
let valueLimitProvider = TracerProvider(
    resource: Resource(attributes: ["service.name": "bench"]),
    limits: SpanLimits(attributeValueLengthLimit: 4096),
    processors: [BatchSpanProcessor(exporter: DiscardingExporter())])
let valueLimitTracer = valueLimitProvider.tracer()
let spanMetrics = SpanMetricsProcessor()
let metricsExporter = DiscardingExporter()
let metricsProvider = TracerProvider(
    resource: Resource(attributes: ["service.name": "bench"]),
    processors: [spanMetrics, BatchSpanProcessor(exporter: metricsExporter)])
let metricsTracer = metricsProvider.tracer()
/// Ends the span on the calling thread: the record is freed there, with no queue and no export
/// thread. Its row against the span row is what the handoff to the export thread costs.
final class FreeOnEndProcessor: SpanProcessor {
    func onEnd(_ span: consuming FinishedSpan) { _ = consume span }
    var isStartRequired: Bool { false }
}
let noExportTracer = TracerProvider(
    resource: Resource(attributes: ["service.name": "bench"]), processors: [FreeOnEndProcessor()]
).tracer()
let unsampledProvider = TracerProvider(
    sampler: AlwaysOffSampler(), processors: [BatchSpanProcessor(exporter: DiscardingExporter())])
let unsampledTracer = unsampledProvider.tracer()
// Unsampled, with span metrics installed: the spans are recorded for the metrics (record-only), not exported.
let unsampledMetrics = SpanMetricsProcessor()
let unsampledMetricsProvider = TracerProvider(
    sampler: AlwaysOffSampler(),
    processors: [unsampledMetrics, BatchSpanProcessor(exporter: DiscardingExporter())])
let unsampledMetricsTracer = unsampledMetricsProvider.tracer()
let noop = NoOpTracer()
let settledProviders = [
    provider, valueLimitProvider, metricsProvider, unsampledProvider, unsampledMetricsProvider,
]

// Propagation inputs.
struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}
struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
let traceContext = W3CTraceContextPropagator()
let incoming = ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]
var injectContext = ServiceContext.topLevel
traceContext.extract(incoming, into: &injectContext, using: DictionaryExtractor())

// MARK: - Scenarios

struct Scenario {
    let name: String
    let operations: Int
    let body: () async -> Void
}

let probeSpan = tracer.startSpan("probe", context: .topLevel)
let diagnosticScenarios: [Scenario] = [
    Scenario(name: "diag: 4 attribute writes", operations: iterations) {
        for index in 0..<iterations {
            probeSpan.attributes["peer.service"] = "kimi"
            probeSpan.attributes["gen_ai.request.model"] = "kimi-k2"
            probeSpan.attributes["http.response.status_code"] = 200
            probeSpan.attributes["iteration"] = index
        }
    },
    Scenario(name: "diag: start+end, no attributes", operations: iterations) {
        for _ in 0..<iterations { tracer.startSpan("op", context: .topLevel, ofKind: .client).end() }
    },
    Scenario(name: "diag: start only", operations: iterations) {
        for _ in 0..<iterations { _ = tracer.startSpan("op", context: .topLevel, ofKind: .client) }
    },
    Scenario(name: "diag: withSpan, no attributes", operations: iterations) {
        for _ in 0..<iterations { tracer.withSpan("op", context: .topLevel, ofKind: .client) { _ in } }
    },
    Scenario(name: "diag: noop withSpan, no attributes", operations: iterations) {
        for _ in 0..<iterations { noop.withSpan("op", context: .topLevel, ofKind: .client) { _ in } }
    },
]
let diagnostics = arguments.contains("--diagnose")

let onlyIndex = argument("--only", default: -1)
let onlyName = arguments.firstIndex(of: "--only-name").flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
let allScenarios: [Scenario] =
    diagnostics
    ? (onlyIndex >= 0 ? [diagnosticScenarios[onlyIndex]] : diagnosticScenarios)
    : [
        Scenario(name: "span: NoOpTracer", operations: iterations) { spanLoop(noop, count: iterations) },
        Scenario(name: "floor: NoOpTracer, no attributes", operations: iterations) {
            bareLoop(noop, count: iterations)
        },
        Scenario(name: "span: swift-otel 1.6.0", operations: iterations / 10) {
            spanLoop(otelTracer, count: iterations / 10)
        },
        Scenario(name: "span: Traceline", operations: iterations) { spanLoop(tracer, count: iterations) },
        Scenario(name: "span: Traceline, no export (freed by the caller)", operations: iterations) {
            spanLoop(noExportTracer, count: iterations)
        },
        Scenario(name: "span: Traceline + span metrics", operations: iterations) {
            spanLoop(metricsTracer, count: iterations)
        },
        Scenario(name: "span: Traceline, value-length limit 4096", operations: iterations) {
            spanLoop(valueLimitTracer, count: iterations)
        },
        Scenario(name: "root+child pair: NoOpTracer", operations: iterations) {
            rootChildLoop(noop, count: iterations)
        },
        Scenario(name: "root+child pair: Traceline", operations: iterations) {
            rootChildLoop(tracer, count: iterations)
        },
        Scenario(name: "unsampled span: Traceline", operations: iterations) {
            spanLoop(unsampledTracer, count: iterations)
        },
        Scenario(name: "unsampled span: Traceline + span metrics", operations: iterations) {
            spanLoop(unsampledMetricsTracer, count: iterations)
        },
        Scenario(name: "2 producers: NoOpTracer", operations: iterations) {
            await concurrentLoop(noop, producers: 2, count: iterations / 2)
        },
        Scenario(name: "2 producers: swift-otel 1.6.0", operations: iterations / 10) {
            await concurrentLoop(otelTracer, producers: 2, count: iterations / 20)
        },
        Scenario(name: "2 producers: Traceline", operations: iterations) {
            await concurrentLoop(tracer, producers: 2, count: iterations / 2)
        },
        Scenario(name: "traceparent extract: Traceline", operations: iterations) {
            for _ in 0..<iterations {
                var context = ServiceContext.topLevel
                traceContext.extract(incoming, into: &context, using: DictionaryExtractor())
            }
        },
        Scenario(name: "traceparent inject: Traceline", operations: iterations) {
            for _ in 0..<iterations {
                var carrier: [String: String] = [:]
                traceContext.inject(injectContext, into: &carrier, using: DictionaryInjector())
            }
        },
    ]

let scenarios = onlyName.map { name in allScenarios.filter { $0.name == name } } ?? allScenarios
let focused = onlyName != nil

// Warm-up: one short pass of everything.
for scenario in scenarios { _ = await measure(operations: 1) { await scenario.body() } }
_ = await processor.forceFlush(deadline: .now + .seconds(30))
let tracelineEnqueuedBefore = processor.statistics.enqueued
let tracelineDroppedBefore = processor.statistics.droppedQueueFull
let otelDroppedBefore = otelDrops.dropped.load(ordering: .relaxed)

var samples: [String: [Sample]] = [:]
var dropsByScenario: [String: Int] = [:]
var unsettledStarts = 0
for _ in 0..<runs {
    for scenario in scenarios {
        if !(await settle()) { unsettledStarts += 1 }
        let droppedBefore = processor.statistics.droppedQueueFull
        samples[scenario.name, default: []].append(await measure(operations: scenario.operations, scenario.body))
        dropsByScenario[scenario.name, default: 0] += processor.statistics.droppedQueueFull - droppedBefore
    }
}

// Let both pipelines drain: swift-otel reports drops on its 5 s tick.
_ = await processor.forceFlush(deadline: .now + .seconds(30))
try? await Task.sleep(for: .seconds(6))
otelService.cancel()

let stats = processor.statistics
let tracelineSpans = stats.enqueued + stats.droppedQueueFull - tracelineEnqueuedBefore - tracelineDroppedBefore
let tracelineDropped = stats.droppedQueueFull - tracelineDroppedBefore
let otelSpans = runs * (iterations / 10) * 2
let otelDropped = otelDrops.dropped.load(ordering: .relaxed) - otelDroppedBefore

// MARK: - Report

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
func format(_ value: Double, decimals: Int = 1) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    return String(rounded)
}

print(
    "Traceline span benchmark: \(runs) runs, \(iterations) operations per Traceline/NoOp run (swift-otel: \(iterations / 10)); medians"
)
print("| \(pad("scenario", 34)) | ns/op   | mallocs/op | Traceline drops |")
print("|\(String(repeating: "-", count: 36))|---------|------------|-----------------|")
var medians: [String: (ns: Double, mallocs: Double)] = [:]
for scenario in scenarios {
    let list = samples[scenario.name] ?? []
    let ns = median(list.map(\.nanosecondsPerOp))
    let mallocs = median(list.map(\.mallocsPerOp))
    medians[scenario.name] = (ns, mallocs)
    let drops = scenario.name.hasSuffix("Traceline") ? String(dropsByScenario[scenario.name] ?? 0) : "-"
    print(
        "| \(pad(scenario.name, 34)) | \(pad(format(ns), 7)) | \(pad(format(mallocs, decimals: 2), 10)) | \(pad(drops, 15)) |"
    )
}

if diagnostics || focused {
    _ = await provider.shutdown(deadline: .now + .seconds(10))
    exit(0)
}
let noopSpan = medians["span: NoOpTracer"]!
let tracelineSpan = medians["span: Traceline"]!
let otelSpan = medians["span: swift-otel 1.6.0"]!
let unsampled = medians["unsampled span: Traceline"]!
print("")
print("Ratios (same run):")
print(
    "- Traceline / NoOp (recording span):      \(format(tracelineSpan.ns / noopSpan.ns, decimals: 2))x   (target <= 1.5x)"
)
if let noExport = medians["span: Traceline, no export (freed by the caller)"] {
    print(
        "- Traceline with no export / NoOp:        \(format(noExport.ns / noopSpan.ns, decimals: 2))x   (the rest of the span's ratio is the handoff to the export thread)"
    )
}
if let floor = medians["floor: NoOpTracer, no attributes"] {
    print(
        "- Traceline / NoOp without attributes:    \(format(tracelineSpan.ns / floor.ns, decimals: 2))x   (the target is on instructions: <= 3x)"
    )
}
print(
    "- swift-otel / Traceline:                 \(format(otelSpan.ns / tracelineSpan.ns, decimals: 1))x   (target >= 10x)"
)
print(
    "- Traceline mallocs beyond NoOp per span: \(format(tracelineSpan.mallocs - noopSpan.mallocs, decimals: 2))    (target <= 3)"
)
if let withMetrics = medians["span: Traceline + span metrics"] {
    print(
        "- span metrics processor, added per span: \(format(withMetrics.ns - tracelineSpan.ns)) ns   (target <= 150 ns)"
    )
}
print(
    "- unsampled Traceline / NoOp:             \(format(unsampled.ns / noopSpan.ns, decimals: 2))x   (target <= 1.2x)")
if let unsampledWithMetrics = medians["unsampled span: Traceline + span metrics"] {
    print(
        "- unsampled span recorded for span metrics: \(format(unsampledWithMetrics.ns - unsampled.ns)) ns more than unsampled without"
    )
}
print("")
print("Spans dropped with a discarding exporter (1 and 2 producers, all runs):")
print("- Traceline:  \(tracelineDropped) of \(tracelineSpans)")
print("- swift-otel: \(otelDropped) of \(otelSpans)")
print("Scenario starts that waited 3 s and found the process still busy: \(unsettledStarts)")
_ = await provider.shutdown(deadline: .now + .seconds(10))
