import Instrumentation
import Tracing

/// Traceline's implementation of swift-distributed-tracing's `Tracer`.
///
/// This is where a span is born: it picks the parent from the `ServiceContext`, generates IDs,
/// asks the sampler, and hands recording spans to the processors. Propagation (`extract`/`inject`)
/// goes through the provider's ``CompositePropagator``.
public struct TracelineTracer: Tracer {
    /// The span type this tracer returns.
    public typealias Span = TracelineSpan

    /// The provider whose sampler, limits, processors and propagators this tracer uses.
    public let provider: TracerProvider
    unowned(unsafe) let origin: TracerOrigin  // interned, immortal

    init(provider: TracerProvider, origin: TracerOrigin) {
        self.provider = provider
        self.origin = origin
    }

    /// The attribute under which every span records its context's correlation ID.
    public static let correlationIDAttribute = "correlation_id"

    /// Starts a span; see `Tracer.startSpan`.
    public func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> ServiceContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> TracelineSpan {
        let parentContext = context()
        provider.spansStarted.increment()
        // Each context lookup is a generic, non-inlinable call into swift-distributed-tracing that
        // resolves metadata at run time; the entry count tells us when there is nothing to find.
        let entryCount = parentContext.count
        let parent = entryCount == 0 ? nil : parentContext[SpanReferenceKey.self]?.spanContext
        let correlationID = entryCount > (parent == nil ? 0 : 1) ? parentContext.correlationID : nil
        let traceID = parent?.traceID ?? TraceID.random()
        // Suppression is looked up only when the context holds more than the span and correlation ID.
        let suppressed =
            entryCount > (parent == nil ? 0 : 1) + (correlationID == nil ? 0 : 1)
            && parentContext.isTracingSuppressed
        var decision =
            suppressed
            ? .drop
            : provider.sampler.shouldSample(
                SamplingParameters(parentContext: parent, traceID: traceID, name: operationName, kind: kind)
            )
        // Metrics that count all traffic see spans the sampler left out; exporters skip them by the flag.
        if decision == .drop && !suppressed && provider.recordsUnsampledSpans { decision = .recordOnly }
        // A new trace has a fully random ID (W3C Level 2 random flag); a child keeps its parent's flag.
        var flags: TraceFlags = parent.map { $0.traceFlags.intersection(.random) } ?? .random
        if decision == .recordAndSample { flags.insert(.sampled) }
        let spanContext = SpanContext(
            traceID: traceID,
            spanID: SpanID.random(),
            traceFlags: flags,
            traceState: parent?.traceState ?? TraceState(),
            isRemote: false
        )
        let recording = decision != .drop
        var attributes = SpanAttributes.empty
        if recording, let correlationID {
            attributes = .withRoomForEight
            attributes.set(Self.correlationIDAttribute, value: .string(correlationID.value))
        }
        let storage = SpanStorage(
            name: operationName,
            spanContext: spanContext,
            parentSpanID: parent?.spanID,
            parentIsRemote: parent?.isRemote ?? false,
            kind: kind,
            startTime: recording ? instant().nanosecondsSinceEpoch : 0,
            recordingProvider: recording ? provider : nil,
            origin: origin,
            attributes: attributes
        )
        var spanServiceContext = parentContext
        spanServiceContext[SpanReferenceKey.self] = .local(storage)
        let span = TracelineSpan(storage: storage, context: spanServiceContext)
        if recording { provider.spanStarted(span, parentContext: parentContext) }
        return span
    }

    /// The local span stored in `context`, if any; see `Tracer.activeSpan`.
    public func activeSpan(identifiedBy context: ServiceContext) -> TracelineSpan? {
        guard case .local(let storage)? = context[SpanReferenceKey.self] else { return nil }
        return TracelineSpan(storage: storage, context: context)
    }

    /// Extracts with the provider's propagator; see `Instrument.extract`.
    public func extract<Carrier, Extract>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    )
    where Extract: Extractor, Extract.Carrier == Carrier {
        provider.propagator.extract(carrier, into: &context, using: extractor)
    }

    /// Injects with the provider's propagator; see `Instrument.inject`.
    public func inject<Carrier, Inject>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Inject.Carrier == Carrier {
        provider.propagator.inject(context, into: &carrier, using: injector)
    }

    /// Starts a flush of every processor without waiting (the legacy, synchronous API).
    /// Prefer `await provider.forceFlush(deadline:)`, which reports what was exported.
    public func forceFlush() {
        let provider = self.provider
        Task { _ = await provider.forceFlush(deadline: .now + .seconds(30)) }
    }
}
