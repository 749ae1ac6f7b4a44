import Testing
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

@Suite struct SamplerTests {
    func parameters(parent: SpanContext? = nil, traceID: TraceID = .random()) -> SamplingParameters {
        SamplingParameters(parentContext: parent, traceID: traceID, name: "op", kind: .internal)
    }

    func parent(remote: Bool, sampled: Bool) -> SpanContext {
        SpanContext(traceID: .random(), spanID: .random(), traceFlags: sampled ? .sampled : [], isRemote: remote)
    }

    @Test func alwaysOnAndOff() {
        #expect(AlwaysOnSampler().shouldSample(parameters()) == .recordAndSample)
        #expect(AlwaysOffSampler().shouldSample(parameters()) == .drop)
    }

    @Test("parent-based follows the parent for all four parent kinds")
    func parentBased() {
        let sampler = ParentBasedSampler(root: AlwaysOffSampler())
        #expect(sampler.shouldSample(parameters()) == .drop)
        #expect(sampler.shouldSample(parameters(parent: parent(remote: true, sampled: true))) == .recordAndSample)
        #expect(sampler.shouldSample(parameters(parent: parent(remote: true, sampled: false))) == .drop)
        #expect(sampler.shouldSample(parameters(parent: parent(remote: false, sampled: true))) == .recordAndSample)
        #expect(sampler.shouldSample(parameters(parent: parent(remote: false, sampled: false))) == .drop)
        #expect(ParentBasedSampler(root: AlwaysOnSampler()).shouldSample(parameters()) == .recordAndSample)
    }

    @Test("trace-ID ratio: deterministic, close to the ratio, monotone")
    func ratio() {
        let ids = (0..<20_000).map { _ in TraceID.random() }
        let quarter = TraceIDRatioSampler(ratio: 0.25)
        let half = TraceIDRatioSampler(ratio: 0.5)
        var quarterCount = 0
        for id in ids {
            let q = quarter.shouldSample(parameters(traceID: id))
            #expect(q == quarter.shouldSample(parameters(traceID: id)), "same trace, same decision")
            if q == .recordAndSample {
                quarterCount += 1
                #expect(
                    half.shouldSample(parameters(traceID: id)) == .recordAndSample, "a higher ratio samples a superset")
            }
        }
        let fraction = Double(quarterCount) / Double(ids.count)
        #expect(abs(fraction - 0.25) < 0.02, "sampled \(fraction)")
        #expect(TraceIDRatioSampler(ratio: 0).shouldSample(parameters()) == .drop)
        #expect(TraceIDRatioSampler(ratio: 1).shouldSample(parameters()) == .recordAndSample)
        #expect(TraceIDRatioSampler(ratio: 7).ratio == 1)
        #expect(TraceIDRatioSampler(ratio: .nan).ratio == 0)
        // Bytes 8-15 big-endian >> 1 compared with ratio * 2^63 (the opentelemetry-go rule).
        let low = TraceID(high: 1, low: 0x3FFF_FFFF_FFFF_FFFF << 1)!
        let high = TraceID(high: 1, low: 0x4000_0000_0000_0001 << 1)!
        let fiftyPercent = TraceIDRatioSampler(ratio: 0.5)
        #expect(fiftyPercent.shouldSample(parameters(traceID: low)) == .recordAndSample)
        #expect(fiftyPercent.shouldSample(parameters(traceID: high)) == .drop)
        #expect(quarter.description == "TraceIdRatioBased{0.25}")
    }

    @Test("an unsampled span is non-recording, exports nothing, and still propagates")
    func unsampledPropagates() {
        let (_, tracer, exporter) = makeTestPipeline(sampler: AlwaysOffSampler())
        let span = tracer.startSpan("dropped", context: extract([("x-correlation-id", "c1")]))
        span.attributes["ignored"] = "x"
        span.addEvent("ignored")
        #expect(!span.isRecording)
        #expect(span.attributes.isEmpty)
        let headers = inject(span.context)
        span.end()
        #expect(exporter.spans.isEmpty)
        let traceparent = headers.combined("traceparent") ?? ""
        #expect(traceparent.hasSuffix("-02"), "not sampled, random flag kept: \(traceparent)")
        #expect(headers.combined("x-correlation-id") == "c1")
        // A child of an unsampled remote parent stays unsampled (parent-based default).
        let (_, parentBasedTracer, parentBasedExporter) = makeTestPipeline()
        let child = parentBasedTracer.startSpan(
            "child", context: extract([("traceparent", "00-\(sampleTraceID)-\(sampleSpanID)-00")]))
        #expect(!child.isRecording)
        child.end()
        #expect(parentBasedExporter.spans.isEmpty)
    }

    @Test("record-only spans reach processors but are not exported")
    func recordOnly() {
        struct RecordOnly: Sampler {
            func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision { .recordOnly }
            var description: String { "RecordOnly" }
        }
        final class Counting: SpanProcessor {
            let ended = InMemorySpanExporter()
            func onEnd(_ span: consuming FinishedSpan) { _ = ended.export([span], deadline: .now) }
        }
        let counting = Counting()
        let exporter = InMemorySpanExporter()
        let provider = TracerProvider(
            sampler: RecordOnly(), processors: [counting, SimpleSpanProcessor(exporter: exporter)])
        let span = provider.tracer().startSpan("r")
        #expect(span.isRecording)
        #expect(!span.spanContext.isSampled)
        span.end()
        #expect(counting.ended.spans.count == 1)
        #expect(exporter.spans.isEmpty)
    }

    @Test("span metrics count every span whatever the sampler says; only sampled spans are exported or exemplars")
    func metricsCountUnsampledSpans() throws {
        let metrics = SpanMetricsProcessor()
        let exporter = InMemorySpanExporter()
        let provider = TracerProvider(
            resource: Resource(attributes: ["service.name": "svc"]),
            sampler: ParentBasedSampler(root: TraceIDRatioSampler(ratio: 0.1)),
            processors: [metrics, SimpleSpanProcessor(exporter: exporter)])
        let tracer = provider.tracer()
        var sampledTraceIDs: Set<String> = []
        for _ in 0..<1000 {
            let span = tracer.startSpan("op", ofKind: .server)
            #expect(span.isRecording, "recorded for the metrics even when not sampled")
            if span.spanContext.isSampled { sampledTraceIDs.insert(span.spanContext.traceID.description) }
            span.end()
        }
        // A remote parent with flags 00 (a client that does not sample): still counted, not exported.
        for _ in 0..<50 {
            let span = tracer.startSpan(
                "op", context: extract([("traceparent", "00-\(sampleTraceID)-\(sampleSpanID)-00")]), ofKind: .server)
            #expect(!span.spanContext.isSampled)
            span.end()
        }
        let text = metrics.render(format: .prometheusText)
        #expect(
            text.contains(
                #"traces_span_metrics_calls_total{service_name="svc",span_name="op",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 1050"#
            ))
        #expect(exporter.spans.count == sampledTraceIDs.count)
        #expect(
            sampledTraceIDs.count > 30 && sampledTraceIDs.count < 200, "about a tenth sampled: \(sampledTraceIDs.count)"
        )
        #expect(exporter.spans.allSatisfy { $0.spanContext.isSampled })
        let openMetrics = metrics.render(format: .openMetrics)
        let exemplarTraceIDs = openMetrics.split(separator: "\n").compactMap { line -> String? in
            guard let range = line.range(of: #"trace_id=""#) else { return nil }
            return String(line[range.upperBound...].prefix(32))
        }
        #expect(!exemplarTraceIDs.isEmpty)
        #expect(exemplarTraceIDs.allSatisfy { sampledTraceIDs.contains($0) }, "exemplars point only at exported traces")
    }

    @Test("without a processor that needs them, unsampled spans are not recorded; the metrics processor can opt out")
    func unsampledNotRecordedByDefault() {
        var configuration = SpanMetricsProcessor.Configuration()
        configuration.includeUnsampledSpans = false
        let metrics = SpanMetricsProcessor(configuration: configuration)
        let provider = TracerProvider(
            sampler: AlwaysOffSampler(),
            processors: [metrics, SpanViewsProcessor(views: [], includeUnsampledSpans: false)])
        let span = provider.tracer().startSpan("op")
        #expect(!span.isRecording)
        span.end()
        #expect(metrics.seriesTotal == 0)
        // Suppressed tracing (health probes) stays unrecorded even when metrics want unsampled spans.
        let counting = TracerProvider(sampler: AlwaysOffSampler(), processors: [SpanMetricsProcessor()])
        #expect(counting.tracer().startSpan("op").isRecording)
        var suppressed = ServiceContext.topLevel
        suppressed.isTracingSuppressed = true
        #expect(!counting.tracer().startSpan("probe", context: suppressed).isRecording)
    }
}
