import Testing
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

@Suite struct GenAIStreamSpanTests {
    @Test(
        "a streamed call's span: stream flag, time to first chunk, its event, usage; a histogram view reads the attribute"
    )
    func streamSpan() async throws {
        let exporter = InMemorySpanExporter()
        let views = SpanViewsProcessor(views: [
            SpanMetricView(
                name: "ttft_seconds", help: "time to first chunk",
                instrument: .attributeHistogram(
                    attribute: "gen_ai.response.time_to_first_chunk", buckets: [0.01, 0.05, 1]),
                labels: [("model", .attribute("gen_ai.request.model"))])
        ])
        let provider = TracerProvider(processors: [views, SimpleSpanProcessor(exporter: exporter)])
        let text = try await withGenAIStreamSpan(provider: "moonshot_ai", model: "kimi-k2", tracer: provider.tracer()) {
            span in
            try await Task.sleep(for: .milliseconds(20))
            var text = ""
            for piece in ["a", "b", "c"] {
                span.chunkReceived()
                text += piece
            }
            #expect(span.chunks == 3)
            span.record(GenAIUsage(inputTokens: 5, outputTokens: 3, finishReasons: ["stop"]))
            return text
        }
        // Not streamed: no chunks, so no time to first chunk, and the view skips the span.
        _ = try await withGenAIStreamSpan(provider: "moonshot_ai", model: "kimi-k2", tracer: provider.tracer()) { _ in 0
        }
        #expect(text == "abc")
        let spans = exporter.spans
        #expect(spans.count == 2)
        let span = try #require(spans.first)
        #expect(span.name == "chat kimi-k2" && span.kind == .client)
        #expect(span.attributes.get("gen_ai.request.stream") == .bool(true))
        guard case .double(let ttft)? = span.attributes.get("gen_ai.response.time_to_first_chunk") else {
            Issue.record("no time to first chunk: \(span.attributes)")
            return
        }
        #expect(ttft >= 0.02 && ttft < 5)
        #expect(span.events.map(\.name) == ["gen_ai.first_chunk"], "one event, at the first chunk only")
        #expect(span.attributes.get("gen_ai.usage.output_tokens") == .int64(3))
        #expect(spans[1].attributes.get("gen_ai.response.time_to_first_chunk") == nil)
        let text2 = views.renderFamilies(format: .prometheusText)
        #expect(text2.contains(#"ttft_seconds_count{model="kimi-k2"} 1"#), "\(text2)")
        #expect(text2.contains(#"ttft_seconds_bucket{model="kimi-k2",le="0.01"} 0"#))
    }

    @Test("a cancelled stream is not an error; a failed one is")
    func outcomes() async throws {
        let exporter = InMemorySpanExporter()
        let provider = TracerProvider(processors: [SimpleSpanProcessor(exporter: exporter)])
        await #expect(throws: CancellationError.self) {
            try await withGenAIStreamSpan(provider: "p", model: "m", tracer: provider.tracer()) { _ in
                throw CancellationError()
            }
        }
        struct Broken: Error {}
        await #expect(throws: Broken.self) {
            try await withGenAIStreamSpan(provider: "p", model: "m", tracer: provider.tracer()) { _ in throw Broken() }
        }
        let spans = exporter.spans
        #expect(spans.count == 2)
        #expect(spans[0].status?.code != .error && spans[0].attributes.get("error.type") == nil)
        #expect(spans[1].status?.code == .error && spans[1].attributes.get("error.type") == .string("Broken"))
    }
}
