import Testing
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

@Suite struct SpanViewsTests {
    /// The seed's mcp_* metrics, declared as views over gen_ai client spans.
    static func mcpViews() -> [SpanMetricView] {
        let genAI = SpanMetricView.hasAttribute("gen_ai.operation.name")
        let providerModel: [(name: String, source: SpanMetricView.LabelSource)] = [
            ("provider", .attribute("gen_ai.provider.name")), ("model", .attribute("gen_ai.request.model")),
        ]
        return [
            SpanMetricView(
                name: "mcp_api_calls_total", help: "Provider API calls.", instrument: .counter(),
                labels: providerModel + [("status", .outcome())], filter: genAI),
            SpanMetricView(
                name: "mcp_api_latency_seconds", help: "Provider API latency.",
                instrument: .histogram(buckets: [0.1, 0.5, 1, 2, 5, 10, 30], unit: .seconds),
                labels: providerModel, filter: genAI),
            SpanMetricView(
                name: "mcp_tokens_total", help: "Tokens used, by type.",
                instrument: .counter(value: "gen_ai.usage.input_tokens"),
                labels: providerModel + [("type", .constant("input"))], filter: genAI),
            SpanMetricView(
                name: "mcp_tokens_total", help: "Tokens used, by type.",
                instrument: .counter(value: "gen_ai.usage.output_tokens"),
                labels: providerModel + [("type", .constant("output"))], filter: genAI),
            .activeSpans(
                name: "mcp_active_connections", help: "Open WebSocket connections.", spanNames: ["websocket.connection"]
            ),
        ]
    }

    func chat(
        _ tracer: TracelineTracer, provider: String, model: String, seconds: Double, input: Int, output: Int,
        error: Bool = false
    ) {
        let start: UInt64 = 1_700_000_000_000_000_000
        let span = tracer.startSpan(
            "chat \(model)", context: .topLevel, ofKind: .client,
            at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: start))
        span.attributes["gen_ai.operation.name"] = "chat"
        span.attributes["gen_ai.provider.name"] = provider
        span.attributes["gen_ai.request.model"] = model
        span.attributes["gen_ai.usage.input_tokens"] = input
        span.attributes["gen_ai.usage.output_tokens"] = output
        if error { span.setStatus(SpanStatus(code: .error)) }
        span.end(at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: start + UInt64(seconds * 1e9)))
    }

    @Test("mcp_api_calls_total, mcp_api_latency_seconds and mcp_tokens_total from gen_ai spans")
    func mcpMetrics() async throws {
        let views = SpanViewsProcessor(views: Self.mcpViews())
        let provider = TracerProvider(processors: [views])
        let tracer = provider.tracer()
        chat(tracer, provider: "moonshot_ai", model: "kimi-k2", seconds: 0.3, input: 100, output: 20)
        chat(tracer, provider: "moonshot_ai", model: "kimi-k2", seconds: 1.5, input: 50, output: 5)
        chat(tracer, provider: "zhipu_ai", model: "glm-4.5", seconds: 12, input: 10, output: 0, error: true)
        tracer.startSpan("not a provider call", context: .topLevel).end()
        let text = views.renderFamilies(format: .prometheusText)
        let kimi = #"provider="moonshot_ai",model="kimi-k2""#
        let glm = #"provider="zhipu_ai",model="glm-4.5""#
        #expect(text.contains("mcp_api_calls_total{\(kimi),status=\"success\"} 2.0\n"))
        #expect(text.contains("mcp_api_calls_total{\(glm),status=\"error\"} 1.0\n"))
        #expect(text.contains("mcp_api_latency_seconds_bucket{\(kimi),le=\"0.5\"} 1\n"))
        #expect(text.contains("mcp_api_latency_seconds_bucket{\(kimi),le=\"2.0\"} 2\n"))
        #expect(text.contains("mcp_api_latency_seconds_bucket{\(glm),le=\"10.0\"} 0\n"))
        #expect(text.contains("mcp_api_latency_seconds_bucket{\(glm),le=\"+Inf\"} 1\n"))
        #expect(text.contains("mcp_api_latency_seconds_sum{\(kimi)} 1.8\n"))
        #expect(text.contains("mcp_api_latency_seconds_count{\(kimi)} 2\n"))
        #expect(text.contains("mcp_tokens_total{\(kimi),type=\"input\"} 150.0\n"))
        #expect(text.contains("mcp_tokens_total{\(kimi),type=\"output\"} 25.0\n"))
        #expect(text.contains("mcp_tokens_total{\(glm),type=\"output\"} 0.0\n"))
        #expect(
            text.components(separatedBy: "# TYPE mcp_tokens_total counter").count == 2,
            "one family for both token views")
        #expect(!text.contains("not a provider call"))
        try checkStructure(text)
        let (status, findings) = try await promtoolCheckMetrics(text)
        #expect(status == 0 || status == 3)
        #expect(findings.isEmpty, "\(findings)")
    }

    @Test("view histograms keep the latest sampled span per bucket as an OpenMetrics exemplar")
    func viewExemplars() throws {
        let views = SpanViewsProcessor(views: Self.mcpViews())
        let tracer = TracerProvider(processors: [views]).tracer()
        chat(tracer, provider: "moonshot_ai", model: "kimi-k2", seconds: 0.3, input: 1, output: 1)
        let spans = try #require(
            views.renderFamilies(format: .openMetrics).split(separator: "\n").first {
                $0.hasPrefix("mcp_api_latency_seconds_bucket{") && $0.contains("le=\"0.5\"")
            })
        let exemplar = try #require(spans.range(of: " # {trace_id=\""))
        let traceID = spans[exemplar.upperBound...].prefix(32)
        #expect(traceID.count == 32 && traceID.allSatisfy(\.isHexDigit), "\(spans)")
        #expect(spans.contains(",span_id=\""), "\(spans)")
        #expect(spans.contains("} 0.3 "), "the exemplar's value is the observed seconds: \(spans)")
        #expect(!views.renderFamilies(format: .prometheusText).contains("trace_id"), "text format has no exemplars")

        let without = SpanViewsProcessor(views: Self.mcpViews(), exemplars: false)
        chat(
            TracerProvider(processors: [without]).tracer(), provider: "p", model: "m", seconds: 0.3, input: 1, output: 1
        )
        #expect(!without.renderFamilies(format: .openMetrics).contains("trace_id"))
    }

    /// Views of every kind, kept until the process exits, as a service keeps its views. Under
    /// AddressSanitizer, LeakSanitizer then checks at exit that their buckets and attribute names
    /// are still found through the processor (an enum payload's pointer with its case kept in the
    /// pointer's spare bits was not, and the suite failed with a "leak").
    static let keptForTheProcess = SpanViewsProcessor(views: [
        SpanMetricView(
            name: "kept_total", help: "Counted.", instrument: .counter(value: String(repeating: "a", count: 40))),
        SpanMetricView(
            name: "kept_seconds", help: "Durations.", instrument: .histogram(buckets: [0.1, 1, 10], unit: .seconds)),
        SpanMetricView(
            name: "kept_ttft_seconds", help: "Observed values.",
            instrument: .attributeHistogram(attribute: String(repeating: "t", count: 40), buckets: [0.01, 0.1, 1])),
    ])

    @Test("views kept for the life of the process record counters, durations and attribute values")
    func viewsKeptForTheProcess() throws {
        let provider = TracerProvider(sampler: AlwaysOnSampler(), processors: [Self.keptForTheProcess])
        let span = provider.tracer().startSpan("x", context: .topLevel)
        span.attributes[String(repeating: "a", count: 40)] = 3
        span.attributes[String(repeating: "t", count: 40)] = 0.05
        span.end()
        let text = Self.keptForTheProcess.renderFamilies(format: .prometheusText)
        #expect(text.contains("kept_total 3"), "\(text)")
        #expect(text.contains("kept_seconds_count 1"), "\(text)")
        #expect(text.contains(#"kept_ttft_seconds_bucket{le="0.1"} 1"#), "\(text)")
        #expect(text.contains(#"kept_ttft_seconds_bucket{le="0.01"} 0"#), "\(text)")
    }

    @Test("mcp_active_connections goes up on start and down on end")
    func activeConnections() {
        let views = SpanViewsProcessor(views: Self.mcpViews())
        let tracer = TracerProvider(processors: [views]).tracer()
        func gauge() -> String? {
            views.renderFamilies(format: .prometheusText).split(separator: "\n")
                .first { $0.hasPrefix("mcp_active_connections ") }.map { String($0.split(separator: " ")[1]) }
        }
        let first = tracer.startSpan("websocket.connection", context: .topLevel, ofKind: .server)
        let second = tracer.startSpan("websocket.connection", context: .topLevel, ofKind: .server)
        #expect(gauge() == "2.0")
        first.end()
        #expect(gauge() == "1.0")
        second.end()
        #expect(gauge() == "0.0")
    }

    @Test("views that share label sources each get their own labels, in their own order")
    func sharedLabelSources() {
        let byModelThenPeer = SpanMetricView(
            name: "a_total", help: "A.", instrument: .counter(),
            labels: [("model", .attribute("model")), ("peer", .attribute("peer")), ("kind", .constant("x"))])
        let byPeerThenModel = SpanMetricView(
            name: "b_total", help: "B.", instrument: .counter(),
            labels: [("peer", .attribute("peer")), ("model", .attribute("model")), ("kind", .constant("y"))])
        let views = SpanViewsProcessor(views: [byModelThenPeer, byPeerThenModel])
        let tracer = TracerProvider(processors: [views]).tracer()
        for (model, peer) in [("m1", "p1"), ("m1", "p2"), ("m1", "p1")] {
            let span = tracer.startSpan("call", context: .topLevel)
            span.attributes["model"] = model
            span.attributes["peer"] = peer
            span.end()
        }
        let text = views.renderFamilies(format: .prometheusText)
        #expect(text.contains(#"a_total{model="m1",peer="p1",kind="x"} 2.0"#))
        #expect(text.contains(#"a_total{model="m1",peer="p2",kind="x"} 1.0"#))
        #expect(text.contains(#"b_total{peer="p1",model="m1",kind="y"} 2.0"#))
        #expect(text.contains(#"b_total{peer="p2",model="m1",kind="y"} 1.0"#))
    }

    @Test("Filter.hasAttribute views share a lookup and count what the closure filter counts")
    func describedFilters() {
        func view(_ name: String, _ filter: SpanMetricView.Filter) -> SpanMetricView {
            SpanMetricView(name: name, help: "\(name).", instrument: .counter(), filter: filter)
        }
        let views = SpanViewsProcessor(views: [
            view("a_total", .hasAttribute("a")), view("a_again_total", .hasAttribute("a")),
            view("b_total", .hasAttribute("b")), view("long_total", .matching { $0.name.count > 3 }),
            SpanMetricView(
                name: "a_closure_total", help: "a, by closure.", instrument: .counter(),
                filter: SpanMetricView.hasAttribute("a")),
        ])
        let tracer = TracerProvider(processors: [views]).tracer()
        for (name, keys) in [("one", ["a"]), ("two", ["a", "b"]), ("three", ["a"]), ("four", [String]())] {
            let span = tracer.startSpan(name, context: .topLevel)
            for key in keys { span.attributes[key] = "x" }
            span.end()
        }
        let text = views.renderFamilies(format: .prometheusText)
        #expect(text.contains("a_total 3.0\n"))
        #expect(text.contains("a_again_total 3.0\n"))
        #expect(text.contains("a_closure_total 3.0\n"))
        #expect(text.contains("b_total 1.0\n"))
        #expect(text.contains("long_total 2.0\n"))
    }

    @Test("a view filtered and labelled by one attribute reads it once, and unfiltered views still see it missing")
    func filterAttributeAsLabel() {
        let views = SpanViewsProcessor(views: [
            SpanMetricView(
                name: "by_model_total", help: "Filtered by model.", instrument: .counter(),
                labels: [("model", .attribute("model"))], filter: .hasAttribute("model")),
            SpanMetricView(
                name: "all_total", help: "Every span, by model.", instrument: .counter(),
                labels: [("model", .attribute("model"))]),
            SpanMetricView(
                name: "empty_model_total", help: "Filtered by model, empty ones too.", instrument: .counter(),
                labels: [("model", .attribute("model")), ("name", .spanName)], filter: .hasAttribute("model")),
        ])
        let tracer = TracerProvider(processors: [views]).tracer()
        for model in ["k2", nil, "glm", "k2", ""] {
            let span = tracer.startSpan("s", context: .topLevel)
            if let model { span.attributes["model"] = model }
            span.end()
        }
        let text = views.renderFamilies(format: .prometheusText)
        #expect(text.contains("by_model_total{model=\"k2\"} 2.0\n"))
        #expect(text.contains("by_model_total{model=\"glm\"} 1.0\n"))
        #expect(text.contains("by_model_total{model=\"\"} 1.0\n"), "an empty value is carried")
        #expect(text.contains("all_total{model=\"\"} 2.0\n"), "a missing value reads as empty")
        #expect(text.contains("all_total{model=\"k2\"} 2.0\n"))
        #expect(text.contains("empty_model_total{model=\"\",name=\"s\"} 1.0\n"))
    }

    @Test("series whose label values share a hash stay apart")
    func sameHash() {
        var table = ViewSeriesTable()
        let first = table.insert(labels: ["a", "b"], hash: 7, bucketCount: 0)
        let second = table.insert(labels: ["c", "d"], hash: 7, bucketCount: 0)
        let values: [[String]] = [["a", "b"], ["c", "d"], ["a", "d"]]
        #expect(table.find(hash: 7, count: 2) { values[0][$0] } === first)
        #expect(table.find(hash: 7, count: 2) { values[1][$0] } === second)
        #expect(table.find(hash: 7, count: 2) { values[2][$0] } == nil)
        #expect(table.find(hash: 8, count: 2) { values[0][$0] } == nil)
        #expect(table.count == 2)
    }

    @Test("a label value cannot pass itself off as the overflow series")
    func overflowIsNotALabelValue() {
        let view = SpanMetricView(
            name: "calls_total", help: "Calls.", instrument: .counter(), labels: [("peer", .attribute("peer"))])
        let views = SpanViewsProcessor(views: [view], maxSeries: 2)
        let tracer = TracerProvider(processors: [views]).tracer()
        let span = tracer.startSpan("call", context: .topLevel)
        span.attributes["peer"] = "\u{0}overflow"
        span.end()
        let text = views.renderFamilies(format: .prometheusText)
        #expect(!text.contains("otel_metric_overflow"))
        #expect(text.contains("calls_total{peer="))
        #expect(views.overflowCount == 0)
    }

    @Test("label sets beyond maxSeries go to one overflow series")
    func overflow() {
        let view = SpanMetricView(
            name: "calls_total", help: "Calls.", instrument: .counter(), labels: [("name", .spanName)])
        let views = SpanViewsProcessor(views: [view], maxSeries: 2)
        let tracer = TracerProvider(processors: [views]).tracer()
        for name in ["a", "b", "c", "d"] { tracer.startSpan(name, context: .topLevel).end() }
        let text = views.renderFamilies(format: .prometheusText)
        #expect(text.contains("calls_total{otel_metric_overflow=\"true\"} 2.0\n"))
        #expect(views.overflowCount == 2)
    }
}
