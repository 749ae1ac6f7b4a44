import Testing
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineMetrics

@Suite struct SpanMetricsHistoryTests {
    func pipeline() -> (SpanMetricsProcessor, TracelineTracer) {
        let metrics = SpanMetricsProcessor()
        let provider = TracerProvider(resource: Resource(attributes: ["service.name": "svc"]), processors: [metrics])
        return (metrics, provider.tracer())
    }

    func span(_ tracer: TracelineTracer, _ name: String, milliseconds: Double, error: Bool = false) {
        endServerSpan(tracer, name, milliseconds: milliseconds, error: error)
    }

    @Test("one point per interval per span name: what ended since the last sample, with errors and p95")
    func points() throws {
        let (metrics, tracer) = pipeline()
        for _ in 0..<7 { span(tracer, "before the baseline", milliseconds: 1) }
        let history = SpanMetricsHistory(processor: metrics, configuration: .init(interval: .seconds(60), points: 3))
        history.sample(endTime: 1000)
        #expect(history.history().names.isEmpty, "the first sample is the baseline")

        for _ in 0..<18 { span(tracer, "GET /a", milliseconds: 30) }
        for _ in 0..<2 { span(tracer, "GET /a", milliseconds: 3000, error: true) }
        span(tracer, "GET /b", milliseconds: 1)
        history.sample(endTime: 1060)
        history.sample(endTime: 1120)  // nothing ended
        for _ in 0..<4 { span(tracer, "GET /b", milliseconds: 1) }
        history.sample(endTime: 1180)

        let kept = history.history()
        #expect(kept.endTimes == [1060, 1120, 1180])
        #expect(kept.names.map(\.spanName) == ["GET /a", "GET /b"], "busiest first")
        let a = kept.names[0].points
        #expect(a[0]?.calls == 20 && a[0]?.errors == 2)
        let p95 = try #require(a[0]?.p95)
        #expect(p95 > 2000 && p95 <= 5000, "the two 3 s spans are the top 10 %: p95 \(p95)")
        #expect(a[1] == nil && a[2] == nil)
        #expect(kept.names[1].points.map { $0?.calls } == [1, nil, 4])
        #expect(!kept.names.contains { $0.spanName == "before the baseline" })

        history.sample(endTime: 1240)  // a fourth point pushes the oldest out
        #expect(history.history().endTimes == [1120, 1180, 1240])
        #expect(history.history().names.map(\.spanName) == ["GET /b"])
    }

    @Test("the byte bound keeps the busiest names of each interval and counts the rest")
    func bound() {
        let (metrics, tracer) = pipeline()
        // Each point costs 64 + 3 ("svc") + 6 ("name-N") = 73 bytes; 2 points fit in an interval's 150.
        let history = SpanMetricsHistory(processor: metrics, configuration: .init(points: 2, maxBytes: 300))
        history.sample(endTime: 0)
        for index in 0..<5 {
            for _ in 0...index { span(tracer, "name-\(index)", milliseconds: 1) }
        }
        history.sample(endTime: 60)
        #expect(history.history().names.map(\.spanName) == ["name-4", "name-3"])
        #expect(history.droppedPoints == 3)
        #expect(history.bytes == 146)
        for _ in 0..<3 { history.sample(endTime: 120) }
        #expect(history.bytes == 0, "quiet intervals cost nothing and the old ones went")
        let text = history.renderFamilies(format: .prometheusText)
        #expect(text.contains("traceline_span_history_dropped_points_total 3.0\n"))
        #expect(text.contains("traceline_span_history_max_bytes 300.0\n"))
    }
}
