import Testing
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

@Suite struct RecentStatisticsTests {
    final class FakeClock: @unchecked Sendable {
        private let seconds = LockedValue(1000.0)
        func now() -> Double { seconds.withLock { $0 } }
        func advance(_ delta: Double) { seconds.withLock { $0 += delta } }
    }

    func pipeline(clock: FakeClock) -> (SpanMetricsProcessor, TracelineTracer) {
        let metrics = SpanMetricsProcessor(configuration: .init(), now: { clock.now() })
        let provider = TracerProvider(resource: Resource(attributes: ["service.name": "svc"]), processors: [metrics])
        return (metrics, provider.tracer())
    }

    func span(_ tracer: TracelineTracer, _ name: String, milliseconds: Double, error: Bool = false) {
        endServerSpan(tracer, name, milliseconds: milliseconds, error: error)
    }

    @Test("percentiles are interpolated inside buckets (p95 is not the median)")
    func percentiles() throws {
        let clock = FakeClock()
        let (metrics, tracer) = pipeline(clock: clock)
        for _ in 0..<50 { span(tracer, "GET /x", milliseconds: 1) }
        for _ in 0..<45 { span(tracer, "GET /x", milliseconds: 30) }
        for _ in 0..<5 { span(tracer, "GET /x", milliseconds: 3000, error: true) }
        let stats = try #require(metrics.recentStatistics().first)
        #expect(stats.spanName == "GET /x")
        #expect(stats.serviceName == "svc")
        #expect(stats.calls == 100)
        #expect(stats.errors == 5)
        #expect(stats.errorRate == 0.05)
        #expect(stats.p50 == 2.0, "rank 50 closes the (0, 2] bucket")
        #expect(stats.p95 == 50.0, "rank 95 closes the (10, 50] bucket")
        #expect(abs(stats.p99 - 4400) < 1e-9, "rank 99 is 4/5 into (2000, 5000]")
        #expect(stats.p95 != stats.p50)
        #expect(abs(stats.rate - 100.0 / 60.0) < 1e-9)
    }

    @Test("the window slides: old spans leave it, new ones count")
    func sliding() throws {
        let clock = FakeClock()
        let (metrics, tracer) = pipeline(clock: clock)
        for _ in 0..<10 { span(tracer, "op", milliseconds: 3000, error: true) }
        #expect(metrics.recentStatistics().first?.errorRate == 1)
        clock.advance(30)
        for _ in 0..<10 { span(tracer, "op", milliseconds: 1) }
        let mixed = try #require(metrics.recentStatistics().first)
        #expect(mixed.calls == 20)
        #expect(mixed.errorRate == 0.5)
        clock.advance(35)  // the first burst is now more than 60 s old
        let recent = try #require(metrics.recentStatistics().first)
        #expect(recent.calls == 10)
        #expect(recent.errors == 0)
        #expect(recent.p95 <= 2)
        clock.advance(61)
        #expect(metrics.recentStatistics().isEmpty)
        // The cumulative series for Prometheus are unaffected by the window.
        #expect(
            metrics.render(format: .prometheusText).contains(
                "traces_span_metrics_calls_total{service_name=\"svc\",span_name=\"op\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\"} 10.0\n"
            ))
    }

    @Test("quantile edge cases: empty, all in +Inf, single bucket")
    func quantileEdges() {
        let bounds: [Double] = [10, 100]
        #expect(SpanMetricsProcessor.quantile(0.5, buckets: [0, 0, 0], bounds: bounds) == 0)
        #expect(
            SpanMetricsProcessor.quantile(0.99, buckets: [0, 0, 7], bounds: bounds) == 100,
            "past the last bound reports it")
        #expect(SpanMetricsProcessor.quantile(0.5, buckets: [0, 4, 0], bounds: bounds) == 55)
    }
}
