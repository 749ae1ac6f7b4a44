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

@Suite struct SpanMetricsTests {
    /// A provider whose spans feed `metrics`; spans get exact durations through start/end instants.
    func pipeline(
        _ configuration: SpanMetricsProcessor.Configuration = .init()
    ) -> (SpanMetricsProcessor, TracelineTracer) {
        let metrics = SpanMetricsProcessor(configuration: configuration)
        let provider = TracerProvider(resource: Resource(attributes: ["service.name": "svc"]), processors: [metrics])
        return (metrics, provider.tracer())
    }

    func span(
        _ tracer: TracelineTracer, _ name: String, milliseconds: Double, kind: SpanKind = .server,
        status: SpanStatus? = nil, context: ServiceContext = .topLevel, attributes: SpanAttributes = [:]
    ) {
        let start: UInt64 = 1_700_000_000_000_000_000
        let span = tracer.startSpan(
            name, context: context, ofKind: kind, at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: start))
        span.attributes = attributes
        if let status { span.setStatus(status) }
        span.end(at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: start + UInt64(milliseconds * 1_000_000)))
    }

    let server = #"service_name="svc",span_name="GET /x",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET""#

    @Test("exact cumulative bucket counts, sum and count for known durations")
    func buckets() throws {
        let (metrics, tracer) = pipeline()
        for milliseconds in [1.0, 2.0, 3.0, 5.0, 50.0, 20_000.0] { span(tracer, "GET /x", milliseconds: milliseconds) }
        let text = metrics.render(format: .prometheusText)
        #expect(text.contains("traces_span_metrics_calls_total{\(server)} 6.0\n"))
        #expect(
            text.contains("traces_span_metrics_duration_milliseconds_bucket{\(server),le=\"2.0\"} 2\n"),
            "le is inclusive: 1 and 2")
        #expect(text.contains("traces_span_metrics_duration_milliseconds_bucket{\(server),le=\"4.0\"} 3\n"))
        #expect(text.contains("traces_span_metrics_duration_milliseconds_bucket{\(server),le=\"6.0\"} 4\n"))
        #expect(text.contains("traces_span_metrics_duration_milliseconds_bucket{\(server),le=\"50.0\"} 5\n"))
        #expect(text.contains("traces_span_metrics_duration_milliseconds_bucket{\(server),le=\"15000.0\"} 5\n"))
        #expect(text.contains("traces_span_metrics_duration_milliseconds_bucket{\(server),le=\"+Inf\"} 6\n"))
        #expect(text.contains("traces_span_metrics_duration_milliseconds_sum{\(server)} 20061.0\n"))
        #expect(text.contains("traces_span_metrics_duration_milliseconds_count{\(server)} 6\n"))
        #expect(!text.contains(" # {"), "no exemplars in text 0.0.4")
        #expect(!text.contains("# EOF"))
        #expect(text.hasSuffix("\n"))
        try checkStructure(text)
    }

    @Test("kind and status labels; errors are their own series, as SPM's error ratio needs")
    func labels() {
        let (metrics, tracer) = pipeline()
        span(tracer, "call", milliseconds: 1, kind: .client, status: SpanStatus(code: .error, message: "x"))
        span(tracer, "call", milliseconds: 1, kind: .client, status: SpanStatus(code: .ok))
        span(tracer, "call", milliseconds: 1, kind: .client)
        let text = metrics.render(format: .prometheusText)
        for status in ["STATUS_CODE_ERROR", "STATUS_CODE_OK", "STATUS_CODE_UNSET"] {
            #expect(
                text.contains(
                    #"traces_span_metrics_calls_total{service_name="svc",span_name="call",span_kind="SPAN_KIND_CLIENT",status_code="\#(status)"} 1"#
                ))
        }
        #expect(metrics.seriesTotal == 3)
    }

    @Test("OpenMetrics: exemplars on the bucket each sampled span fell into, # EOF at the end")
    func exemplars() throws {
        let (metrics, tracer) = pipeline()
        let parent = extract([("traceparent", "00-\(sampleTraceID)-\(sampleSpanID)-01")])
        span(tracer, "GET /x", milliseconds: 3, context: parent)
        let unsampled = extract([("traceparent", "00-0af7651916cd43dd8448eb211c80319c-\(sampleSpanID)-00")])
        // Not recorded at all: the parent-based sampler drops it.
        span(tracer, "GET /x", milliseconds: 300, context: unsampled)
        let text = metrics.render(format: .openMetrics)
        #expect(text.hasSuffix("# EOF\n"))
        #expect(text.contains("# TYPE traces_span_metrics_calls counter\n"))
        let line = try #require(text.split(separator: "\n").first { $0.contains("le=\"4.0\"") })
        #expect(line.contains(" # {trace_id=\"\(sampleTraceID)\",span_id=\""), "exemplar on the 4 ms bucket: \(line)")
        #expect(line.contains("} 3.0 1700000000.003"))
        let others = text.split(separator: "\n").filter { $0.contains("_bucket") && !$0.contains("le=\"4.0\"") }
        #expect(others.allSatisfy { !$0.contains(" # {") }, "one exemplar, in its own bucket only")
        try checkStructure(text)
    }

    @Test("at most maxSeries series; the rest go to one overflow series and are counted")
    func overflow() {
        var configuration = SpanMetricsProcessor.Configuration()
        configuration.maxSeries = 2
        let (metrics, tracer) = pipeline(configuration)
        for name in ["a", "b", "c", "d", "c"] { span(tracer, name, milliseconds: 1) }
        let text = metrics.render(format: .prometheusText)
        #expect(metrics.seriesTotal == 2)
        #expect(metrics.overflowCount == 3)
        #expect(text.contains("traces_span_metrics_calls_total{otel_metric_overflow=\"true\"} 3.0\n"))
        #expect(!text.contains("span_name=\"c\""))
    }

    @Test("hostile label values are escaped and capped; extra dimensions from span attributes")
    func escaping() throws {
        var configuration = SpanMetricsProcessor.Configuration()
        configuration.dimensions = ["gen_ai.provider.name"]
        configuration.maxLabelValueLength = 20
        let (metrics, tracer) = pipeline(configuration)
        span(tracer, "say \"hi\"\\\nnow", milliseconds: 1, attributes: ["gen_ai.provider.name": "moonshot_ai"])
        span(tracer, String(repeating: "x", count: 100), milliseconds: 1)
        let text = metrics.render(format: .prometheusText)
        #expect(text.contains(#"span_name="say \"hi\"\\\nnow""#))
        #expect(text.contains(#"gen_ai_provider_name="moonshot_ai""#))
        #expect(text.contains("span_name=\"\(String(repeating: "x", count: 20))\""))
        #expect(!text.contains(String(repeating: "x", count: 21)))
        try checkStructure(text)
    }

    @Test("content negotiation by Accept")
    func negotiation() {
        let prometheus242 =
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        #expect(MetricsFormat.negotiate(accept: prometheus242) == .openMetrics)
        #expect(MetricsFormat.negotiate(accept: "text/plain;version=0.0.4") == .prometheusText)
        #expect(
            MetricsFormat.negotiate(
                accept: "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.2")
                == .prometheusText)
        #expect(MetricsFormat.negotiate(accept: nil) == .prometheusText)
        #expect(MetricsFormat.negotiate(accept: "*/*") == .prometheusText)
        #expect(MetricsFormat.negotiate(accept: "garbage;;;q=x") == .prometheusText)
        #expect(MetricsFormat.openMetrics.contentType.hasPrefix("application/openmetrics-text; version=1.0.0"))
    }

    /// promtool 2.42 parses text 0.0.4 only: OpenMetrics exemplars are a parse error to it, and the
    /// OpenMetrics counter naming (family `x`, sample `x_total`) reads as "no help text". So the
    /// OpenMetrics output is checked with exemplars removed and that one naming finding allowed;
    /// its exemplar syntax is checked by `exemplars()` and by a real Prometheus scrape later.
    @Test("promtool accepts both formats; its only finding is the SPM-mandated milliseconds name")
    func promtool() async throws {
        let (metrics, tracer) = pipeline()
        let parent = extract([("traceparent", "00-\(sampleTraceID)-\(sampleSpanID)-01")])
        for milliseconds in [1.0, 30.0, 3000.0] { span(tracer, "GET /x", milliseconds: milliseconds, context: parent) }
        for format in [MetricsFormat.prometheusText, .openMetrics] {
            let rendered = metrics.render(format: format)
            let text = format == .openMetrics ? rendered.replacing(/\s#\s\{[^\n]*/, with: "") : rendered
            let (status, findings) = try await promtoolCheckMetrics(text)
            #expect(status == 0 || status == 3, "promtool parse error for \(format): \(findings)")
            #expect(
                findings.allSatisfy {
                    $0.contains("use base unit \"seconds\" instead of \"milliseconds\"")
                        || (format == .openMetrics && $0 == "traces_span_metrics_calls_total no help text")
                }, "\(findings)")
        }
    }

    @Test("a thousand series, two services with the same span names: each counted in its own series")
    func manySeries() throws {
        let metrics = SpanMetricsProcessor()
        let tracers = ["svc-a", "svc-b"].map {
            TracerProvider(resource: Resource(attributes: ["service.name": .string($0)]), processors: [metrics])
                .tracer()
        }
        // Enough names to grow every shard's table several times; each name ends (index % 3) + 1 times.
        for index in 0..<500 {
            for tracer in tracers {
                for _ in 0...(index % 3) { span(tracer, "op-\(index)", milliseconds: 1) }
            }
        }
        #expect(metrics.seriesTotal == 1_000)
        #expect(metrics.overflowCount == 0)
        let text = metrics.render(format: .prometheusText)
        let lines = Set(text.split(separator: "\n").map(String.init))
        for index in [0, 1, 2, 257, 499] {
            for service in ["svc-a", "svc-b"] {
                let line =
                    "traces_span_metrics_calls_total{service_name=\"\(service)\",span_name=\"op-\(index)\","
                    + "span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\"} \(Double(index % 3 + 1))"
                #expect(lines.contains(line), "missing \(line)")
            }
        }
        try checkStructure(text)
    }

    @Test("concurrent recording loses no count")
    func concurrent() async throws {
        let (metrics, tracer) = pipeline()
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<4 {
                group.addTask { for _ in 0..<2_000 { self.span(tracer, "op\(task % 2)", milliseconds: 7) } }
            }
        }
        let text = metrics.render(format: .prometheusText)
        let totals = text.split(separator: "\n").filter { $0.hasPrefix("traces_span_metrics_calls_total") }
            .compactMap { Double($0.split(separator: " ").last ?? "") }
        #expect(totals.count == 2 && totals.reduce(0, +) == 8_000)
        try checkStructure(text)
    }
}

/// What promtool does not check (shared/docs/jaeger-prometheus.md §7): every histogram has a
/// `+Inf` bucket equal to its `_count`, buckets never decrease, no series appears twice.
func checkStructure(_ text: String) throws {
    var seen = Set<String>()
    var lastBucket: [String: Int] = [:]
    var infBucket: [String: Int] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        let sample = line.split(separator: " # ").first.map(String.init) ?? String(line)
        guard let space = sample.lastIndex(of: " ") else { throw ReceiverError(description: "bad line \(line)") }
        let series = String(sample[..<space])
        let value = Int(Double(sample[sample.index(after: space)...]) ?? -1)
        #expect(seen.insert(series).inserted, "duplicate series \(series)")
        if series.contains("_bucket{") {
            let family = series.replacing(/,?le="[^"]*"/, with: "")
            #expect(value >= lastBucket[family, default: 0], "buckets decrease in \(series)")
            lastBucket[family] = value
            if series.contains("le=\"+Inf\"") { infBucket[family.replacing("_bucket", with: "_count")] = value }
        }
    }
    for line in text.split(separator: "\n") where line.contains("_count{") {
        let parts = line.split(separator: " ")
        #expect(infBucket[String(parts[0])] == Int(parts[1]), "+Inf bucket missing or unequal to \(parts[0])")
    }
}

/// Runs `promtool check metrics` on `text`: its exit status and its findings, one per line.
func promtoolCheckMetrics(_ text: String) async throws -> (Int32, [String]) {
    try await offThreadThrowing { () -> (Int32, [String]) in
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        process.arguments = ["check", "metrics"]
        let input = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        )
    }
}
