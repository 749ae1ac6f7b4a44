@_spi(Testing) import TracelineCore
import Tracing

/// `count` finished spans as a client call records them: four attributes (two strings, two ints)
/// and one event each, one resource and one scope. The batch both encoding benchmarks encode.
public func makeEncodingBatch(count: Int) -> [FinishedSpan] {
    let exporter = InMemorySpanExporter()
    let provider = TracerProvider(
        resource: Resource(attributes: ["service.name": "bench"]), processors: [SimpleSpanProcessor(exporter: exporter)]
    )
    let tracer = provider.tracer(scope: InstrumentationScope(name: "bench", version: "1.0"))
    for index in 0..<count {
        let span = tracer.startSpan("chat kimi-k2", context: .topLevel, ofKind: .client)
        span.attributes["gen_ai.provider.name"] = "moonshot_ai"
        span.attributes["gen_ai.request.model"] = "kimi-k2"
        span.attributes["http.response.status_code"] = 200
        span.attributes["iteration"] = index
        span.addEvent(SpanEvent(name: "gen_ai.content.completion", attributes: ["tokens": 42]))
        span.end()
    }
    return exporter.spans
}
