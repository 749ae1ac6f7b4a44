import Instrumentation
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

/// HTTP-style header list: names compare case-insensitively and repeated fields are combined
/// with "," in order (RFC 9110 §5.3), as real HTTP carriers do.
struct HeaderList: Sendable {
    var fields: [(name: String, value: String)] = []

    init(_ fields: [(String, String)] = []) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    func combined(_ name: String) -> String? {
        let values = fields.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
        return values.isEmpty ? nil : values.joined(separator: ",")
    }
}

struct HeaderListExtractor: Extractor {
    func extract(key: String, from carrier: HeaderList) -> String? { carrier.combined(key) }
}

struct HeaderListInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout HeaderList) {
        carrier.fields.removeAll { $0.name.lowercased() == key.lowercased() }
        carrier.fields.append((name: key, value: value))
    }
}

/// A provider that exports synchronously into memory, for assertions right after `end()`.
func makeTestPipeline(
    sampler: any Sampler = ParentBasedSampler(root: AlwaysOnSampler()),
    limits: SpanLimits = SpanLimits()
) -> (TracerProvider, TracelineTracer, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter()
    let provider = TracerProvider(
        resource: Resource(attributes: ["service.name": "test-service"]),
        sampler: sampler,
        limits: limits,
        processors: [SimpleSpanProcessor(exporter: exporter)]
    )
    return (provider, provider.tracer(scope: InstrumentationScope(name: "tests", version: "1.0")), exporter)
}

let sampleTraceID = "12345678901234567890123456789012"
let sampleSpanID = "1234567890123456"

/// Extracts `headers` with the default propagators into a fresh context.
func extract(_ headers: [(String, String)], propagator: CompositePropagator = .default) -> ServiceContext {
    var context = ServiceContext.topLevel
    propagator.extract(HeaderList(headers), into: &context, using: HeaderListExtractor())
    return context
}

/// Injects `context` with the default propagators.
func inject(_ context: ServiceContext, propagator: CompositePropagator = .default) -> HeaderList {
    var headers = HeaderList()
    propagator.inject(context, into: &headers, using: HeaderListInjector())
    return headers
}

/// Ends a server span named `name` that took `milliseconds`, with status ERROR when `error`.
func endServerSpan(_ tracer: TracelineTracer, _ name: String, milliseconds: Double, error: Bool = false) {
    let start: UInt64 = 1_700_000_000_000_000_000
    let span = tracer.startSpan(
        name, context: .topLevel, ofKind: .server, at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: start))
    if error { span.setStatus(SpanStatus(code: .error)) }
    span.end(at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: start + UInt64(milliseconds * 1_000_000)))
}
