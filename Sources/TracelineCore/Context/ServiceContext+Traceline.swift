import Instrumentation
import ServiceContextModule

/// What a `ServiceContext` holds for the span it belongs to: the live local span, or a parent
/// extracted from an incoming request. One word wide, so storing it in a context never boxes.
enum SpanReference: Sendable {
    case local(SpanStorage)
    case remote(RemoteSpanContext)

    var spanContext: SpanContext {
        switch self {
        case .local(let storage): return storage.spanContext
        case .remote(let remote): return remote.spanContext
        }
    }
}

/// An immutable box for a span context received from another process.
final class RemoteSpanContext: Sendable {
    let spanContext: SpanContext
    init(_ spanContext: SpanContext) { self.spanContext = spanContext }
}

enum SpanReferenceKey: ServiceContextKey {
    typealias Value = SpanReference
    static var nameOverride: String? { "traceline.span" }
}

enum CorrelationIDKey: ServiceContextKey {
    typealias Value = CorrelationID
    static var nameOverride: String? { "traceline.correlation_id" }
}

enum BaggageKey: ServiceContextKey {
    typealias Value = Baggage
    static var nameOverride: String? { "traceline.baggage" }
}

enum TracingSuppressedKey: ServiceContextKey {
    typealias Value = Bool
    static var nameOverride: String? { "traceline.tracing_suppressed" }
}

extension ServiceContext {
    /// The span context of the current span (local or extracted from a request), if any.
    public var spanContext: SpanContext? {
        self[SpanReferenceKey.self]?.spanContext
    }

    /// Sets a remote parent, as a propagator does after extracting `traceparent`.
    public mutating func setRemoteSpanContext(_ spanContext: SpanContext) {
        var remote = spanContext
        remote.isRemote = true
        self[SpanReferenceKey.self] = .remote(RemoteSpanContext(remote))
    }

    /// The request's correlation ID. Set by the `X-Correlation-ID` propagator on extract; read it
    /// to echo the ID in a response header. Every span started in this context carries it.
    public var correlationID: CorrelationID? {
        get { self[CorrelationIDKey.self] }
        set { self[CorrelationIDKey.self] = newValue }
    }

    /// W3C baggage carried with this context.
    public var baggage: Baggage? {
        get { self[BaggageKey.self] }
        set { self[BaggageKey.self] = newValue }
    }

    /// Whether spans started in this context are suppressed: they are not recorded, not exported,
    /// not counted in span metrics, and the sampled flag is cleared so downstream services skip them
    /// too. Health probes run this way so that a probe every few seconds does not swamp Jaeger and
    /// the RED metrics. The trace context still propagates.
    public var isTracingSuppressed: Bool {
        get { self[TracingSuppressedKey.self] ?? false }
        set { self[TracingSuppressedKey.self] = newValue ? true : nil }
    }
}

/// Runs `body` with tracing suppressed in the current task-local `ServiceContext`.
public func withTracingSuppressed<Result>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> Result
) async rethrows -> Result {
    var context = ServiceContext.current ?? .topLevel
    context.isTracingSuppressed = true
    return try await ServiceContext.withValue(context) { try await body() }
}
