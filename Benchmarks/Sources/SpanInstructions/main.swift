// Runs one span scenario N times with no malloc interposer, for `valgrind --tool=callgrind`
// (instruction counts do not move with the shared machine's noise; the interposer of
// TracelineBenchmarks crashes valgrind). See Benchmarks/README.md, "Instruction counts".
//
//   SpanInstructions <noop|noop-bare|recording|recording-metrics|recording-views|recording-value-limit|unsampled|unsampled-metrics|swift-otel|encode> <count>
//
// `encode` builds and packs OTLP requests of 500 spans (TracelineBenchmarks' `--encode` batch) until
// `count` spans are encoded; `count` is a multiple of 500.

import BenchmarkSupport
import Foundation
import Logging
import OTel
import Traceline
@_spi(Testing) import TracelineCore
@_spi(Testing) import TracelineOTLP
import Tracing

struct DiscardingExporter: SpanExporter {
    func export(_ batch: [FinishedSpan], deadline: ContinuousClock.Instant) -> ExportResult { .success }
}

/// The batch processor of every Traceline scenario. `end()` waits for room rather than dropping:
/// valgrind runs one thread at a time, so whether the export thread keeps up is chance, and a span
/// dropped at a full queue is freed on the calling thread, about 370 instructions per span more
/// on average in the runs that drop. Waiting keeps every span's free on the export thread.
func discardingProcessor() -> BatchSpanProcessor {
    BatchSpanProcessor(
        exporter: DiscardingExporter(), configuration: BatchSpanProcessorConfiguration(maxEnqueueWait: .seconds(10)))
}

/// The loop is compiled here, in the module that calls it, as a user's code would be: imported
/// from another module (even `@inlinable`), swift-otel's attribute writes compile differently and
/// its count moves by half. TracelineBenchmarks keeps its own copy for the same reason.
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
/// Named so that its mangled name contains `bareLoop` (a name with `Span` in it is mangled with a
/// back-reference to the module's name), which callgrind's `--toggle-collect` matches.
@inline(never)
func bareLoop(_ tracer: NoOpTracer, count: Int) {
    for _ in 0..<count {
        tracer.withSpan("op", context: .topLevel, ofKind: .client) { span in keep(span) }
    }
}

nonisolated(unsafe) var keptSpans = 0

/// Encodes `spans` until `count` spans are encoded, on the calling thread, as the export thread does.
@inline(never)
func encodeLoop(_ encoder: OTLPTraceEncoder, _ spans: [FinishedSpan], count: Int) {
    precondition(count % spans.count == 0, "encode: count must be a multiple of \(spans.count)")
    var bytes = 0
    for _ in 0..<(count / spans.count) { bytes &+= encoder.encode(spans).count }
    precondition(bytes > 0)
}

/// Reads the span where the optimiser cannot see: about ten instructions per call.
@inline(never) @_optimize(none)
func keep(_ span: any Span) {
    _ = span.context
    keptSpans &+= 1
}

let arguments = CommandLine.arguments
let scenario = arguments.count > 1 ? arguments[1] : "recording"
let count = arguments.count > 2 ? Int(arguments[2]) ?? 100_000 : 100_000
let resource = Resource(attributes: ["service.name": "bench"])
switch scenario {
case "noop":
    spanLoop(NoOpTracer(), count: count)
case "noop-bare":
    bareLoop(NoOpTracer(), count: count)
case "swift-otel":
    // swift-otel 1.6.0 with its batch processor and no exporter, as in TracelineBenchmarks. Its
    // service runs on the cooperative pool (a detached task): main stays synchronous, since an async
    // main runs on dispatch's main queue, which crashes valgrind 3.19.
    let backend = try OTel.makeTracingBackend(configuration: swiftOTelConfiguration(otlpEndpoint: nil))
    let service = Task.detached { try await backend.service.run() }
    spanLoop(backend.factory, count: count)
    service.cancel()
case "recording":
    let provider = TracerProvider(resource: resource, processors: [discardingProcessor()])
    // No `await` anywhere: an async main runs on dispatch's main queue, which crashes valgrind 3.19.
    spanLoop(provider.tracer(), count: count)
case "recording-value-limit":
    let provider = TracerProvider(
        resource: resource, limits: SpanLimits(attributeValueLengthLimit: 4096),
        processors: [discardingProcessor()])
    spanLoop(provider.tracer(), count: count)
case "unsampled":
    let provider = TracerProvider(
        resource: resource, sampler: AlwaysOffSampler(),
        processors: [discardingProcessor()])
    spanLoop(provider.tracer(), count: count)
case "recording-metrics":
    let provider = TracerProvider(
        resource: resource, processors: [SpanMetricsProcessor(), discardingProcessor()])
    spanLoop(provider.tracer(), count: count)
case "recording-views":
    // Three views of the kind the exai-daemon keeps: a counter and a histogram labelled from
    // attributes, and a counter adding an attribute's value.
    let model = SpanMetricView.Filter.hasAttribute("gen_ai.request.model")
    let views = SpanViewsProcessor(views: [
        SpanMetricView(
            name: "calls_total", help: "Calls.", instrument: .counter(),
            labels: [("model", .attribute("gen_ai.request.model")), ("outcome", .outcome())], filter: model),
        SpanMetricView(
            name: "latency_seconds", help: "Latency.", instrument: .histogram(buckets: [0.1, 1, 10], unit: .seconds),
            labels: [("peer", .attribute("peer.service")), ("model", .attribute("gen_ai.request.model"))],
            filter: model),
        SpanMetricView(
            name: "status_sum_total", help: "Status codes added up.",
            instrument: .counter(value: "http.response.status_code"),
            labels: [("peer", .attribute("peer.service"))], filter: model),
    ])
    let provider = TracerProvider(resource: resource, processors: [views, discardingProcessor()])
    spanLoop(provider.tracer(), count: count)
case "unsampled-metrics":
    let provider = TracerProvider(
        resource: resource, sampler: AlwaysOffSampler(),
        processors: [SpanMetricsProcessor(), discardingProcessor()])
    spanLoop(provider.tracer(), count: count)
case "encode":
    let spans = makeEncodingBatch(count: 500)
    let encoder = OTLPTraceEncoder()
    _ = encoder.encode(spans)  // the arena's chunks, allocated once per encoder, are not per span
    encodeLoop(encoder, spans, count: count)
default:
    FileHandle.standardError.write(Data("unknown scenario \(scenario)\n".utf8))
    exit(2)
}
