import Testing
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

@Suite struct TraceStoreTests {
    func pipeline(
        _ configuration: TraceStore.Configuration = .init(), sampler: any Sampler = AlwaysOnSampler()
    ) -> (TraceStore, TracelineTracer) {
        let store = TraceStore(configuration: configuration)
        let provider = TracerProvider(sampler: sampler, processors: [store])
        return (store, provider.tracer())
    }

    func trace(
        _ tracer: TracelineTracer, name: String = "GET /orders", milliseconds: UInt64 = 5, error: Bool = false,
        children: Int = 2, attribute: String = "x"
    ) -> TraceID {
        let start: UInt64 = 1_700_000_000_000_000_000
        let root = tracer.startSpan(
            name, context: .topLevel, ofKind: .server, at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: start))
        root.attributes["payload"] = attribute
        for index in 0..<children {
            let child = tracer.startSpan(
                "child \(index)", context: root.context, ofKind: .client,
                at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: start + 1000))
            child.end(at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: start + 2000))
        }
        if error { root.setStatus(SpanStatus(code: .error)) }
        root.end(at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: start + milliseconds * 1_000_000))
        return root.context.spanContext!.traceID
    }

    @Test("keeps whole traces, recent first; finds them by trace ID and correlation ID")
    func retention() throws {
        let (store, tracer) = pipeline()
        let first = trace(tracer)
        var context = ServiceContext.topLevel
        context.correlationID = CorrelationID("order-42")
        let correlated = tracer.startSpan("POST /pay", context: context, ofKind: .server)
        correlated.end()
        let stored = try #require(store.trace(first))
        #expect(stored.spans.count == 3)
        #expect(stored.root?.name == "GET /orders")
        #expect(store.recent().first?.traceID == correlated.context.spanContext!.traceID)
        #expect(store.traces(correlationID: "order-42").map(\.traceID) == [correlated.context.spanContext!.traceID])
        #expect(store.statistics.spans == 4)
    }

    @Test("the slowest index holds at most maxSpanNames names: a span named per request cannot grow it")
    func slowestIndexBound() {
        let (store, tracer) = pipeline(.init(maxBytes: 256 * 1024, maxSpanNames: 20))
        for index in 0..<2_000 { _ = trace(tracer, name: "GET /orders/\(index)", children: 0) }
        let statistics = store.statistics
        #expect(statistics.rankedNames <= 20)
        #expect(statistics.unranked > 1_000, "unranked spans are counted: \(statistics.unranked)")
        #expect(store.slowest().count <= 20)
        #expect(statistics.bytes <= 256 * 1024)
        let text = store.renderFamilies(format: .prometheusText)
        #expect(text.contains("traceline_trace_store_unranked_spans_total \(statistics.unranked)"))
    }

    @Test("memory bound: old traces are evicted (counted); the slowest and error traces are kept")
    func bounds() throws {
        let (store, tracer) = pipeline(.init(maxBytes: 64 * 1024, slowPerName: 2, errorTraces: 3))
        let slow = trace(tracer, milliseconds: 5000)
        let failed = trace(tracer, error: true)
        for _ in 0..<300 { _ = trace(tracer, attribute: String(repeating: "a", count: 200)) }
        let statistics = store.statistics
        #expect(statistics.bytes <= 64 * 1024, "\(statistics.bytes) bytes")
        #expect(statistics.evicted > 200, "evictions are counted: \(statistics.evicted)")
        #expect(store.trace(slow) != nil, "the slowest trace survives")
        #expect(store.trace(failed) != nil, "the error trace survives")
        #expect(store.errors().map(\.traceID) == [failed])
        #expect(store.slowest().first { $0.name == "GET /orders" }?.traces.first?.trace == slow)
        let text = store.renderFamilies(format: .prometheusText)
        #expect(text.contains("traceline_trace_store_evicted_traces_total \(statistics.evicted)"))
        #expect(text.contains("traceline_trace_store_bytes "))
    }

    @Test("unsampled spans are not kept")
    func sampledOnly() {
        let (store, tracer) = pipeline(sampler: AlwaysOffSampler())
        _ = trace(tracer)
        #expect(store.statistics.spans == 0)
    }

    @Test("concurrent writers: every sampled span lands in its trace")
    func concurrentWriters() async {
        let (store, tracer) = pipeline(.init(maxBytes: 64 << 20))
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { for _ in 0..<200 { _ = self.trace(tracer, children: 1) } }
            }
        }
        let statistics = store.statistics
        #expect(statistics.traces == 1600)
        #expect(statistics.spans == 3200)
        #expect(statistics.evicted == 0)
    }
}
