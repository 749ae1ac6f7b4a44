import Instrumentation
import Synchronization
import Tracing

/// Owns the tracing pipeline: sampler, limits, resource, propagators and span processors.
///
/// Create one per process (``Traceline/Traceline/bootstrap(configuration:exporter:processors:logHandler:)`` does it for you), ask it for
/// tracers, and shut it down on exit so queued spans are exported.
public final class TracerProvider: Sendable {
    /// The resource every span of this provider carries.
    public let resource: Resource
    /// Decides which spans are recorded and exported.
    public let sampler: any Sampler
    /// Caps on attributes, events and links per span.
    public let limits: SpanLimits
    /// The processors that receive spans, in order.
    public let processors: [any SpanProcessor]
    /// The propagators used by every tracer's `extract`/`inject`.
    public let propagator: CompositePropagator

    private let isShutDown = Atomic<Bool>(false)
    /// Spans started (recording or not) and recording spans ended, for `otel_sdk_span_*` metrics.
    let spansStarted = StripedCounter()
    let spansEnded = StripedCounter()

    /// Spans started so far, sampled or not.
    public var startedSpanCount: Int { spansStarted.value }
    /// Recording spans ended so far.
    public var endedSpanCount: Int { spansEnded.value }

    /// True when a processor needs unsampled spans: the sampler's `drop` then becomes `recordOnly`.
    let recordsUnsampledSpans: Bool
    /// The processors whose `onStart` must run; usually none.
    private let startProcessors: [any SpanProcessor]
    private let defaultOrigin: TracerOrigin

    /// The scope used by ``tracer()`` when none is given.
    public static let defaultScope = InstrumentationScope(name: "traceline", version: Resource.sdkVersion)

    /// Creates a provider.
    /// - Parameters:
    ///   - resource: the resource of every span; detected attributes by default.
    ///   - sampler: decides which spans are recorded; parent-based always-on by default.
    ///   - limits: caps per span.
    ///   - processors: receive started and ended spans, in order.
    ///   - propagator: used by every tracer's `extract` and `inject`.
    public init(
        resource: Resource = Resource.detected(),
        sampler: any Sampler = ParentBasedSampler(root: AlwaysOnSampler()),
        limits: SpanLimits = SpanLimits(),
        processors: [any SpanProcessor],
        propagator: CompositePropagator = CompositePropagator.default
    ) {
        self.resource = resource
        self.sampler = sampler
        self.limits = limits
        self.processors = processors
        self.startProcessors = processors.filter(\.isStartRequired)
        self.recordsUnsampledSpans = processors.contains { $0.needsUnsampledSpans }
        self.propagator = propagator
        self.defaultOrigin = TracerOrigin.intern(resource: resource, scope: Self.defaultScope)
    }

    /// A tracer whose spans carry `scope` as their instrumentation scope.
    public func tracer(scope: InstrumentationScope) -> TracelineTracer {
        TracelineTracer(provider: self, origin: TracerOrigin.intern(resource: resource, scope: scope))
    }

    /// A tracer with the default `traceline` scope.
    public func tracer() -> TracelineTracer {
        TracelineTracer(provider: self, origin: defaultOrigin)
    }

    /// The books of the first processor that runs an export pipeline (the batch processor
    /// ``Traceline`` sets up), or nil when none does.
    public var pipelineStatistics: SpanPipelineStatistics? {
        for processor in processors {
            if let statistics = processor.pipelineStatistics { return statistics }
        }
        return nil
    }

    /// True once ``shutdown(deadline:)`` has begun.
    public var isShutdown: Bool { isShutDown.load(ordering: .relaxed) }

    @inline(__always)
    func spanStarted(_ span: TracelineSpan, parentContext: ServiceContext) {
        if startProcessors.isEmpty { return }
        for processor in startProcessors { processor.onStart(span, parentContext: parentContext) }
    }

    /// Hands the record to every processor: lent to all but the last, which gets it moved.
    @inline(__always)
    func spanEnded(_ span: consuming FinishedSpan) {
        spansEnded.increment()
        let count = processors.count
        guard count > 0 else { return }
        for index in 0..<(count - 1) { processors[index].onEnd(reading: span) }
        processors[count - 1].onEnd(span)
    }

    /// Exports everything already ended, processor by processor, before `deadline`.
    public func forceFlush(deadline: ContinuousClock.Instant) async -> FlushReport {
        var report = FlushReport()
        for processor in processors { report.add(await processor.forceFlush(deadline: deadline)) }
        return report
    }

    /// Flushes and shuts every processor down, once. Later calls return an empty report.
    public func shutdown(deadline: ContinuousClock.Instant) async -> FlushReport {
        guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else { return FlushReport() }
        var report = FlushReport()
        for processor in processors { report.add(await processor.shutdown(deadline: deadline)) }
        return report
    }
}

/// What a flush or shutdown achieved, in spans.
///
/// It covers the spans queued when it began, and what became, since the previous report, of spans
/// the exporter kept to deliver later: `exported` counts those delivered in that time, `failed`
/// those lost, and `pending` those the exporter still holds.
public struct FlushReport: Sendable, Equatable, CustomStringConvertible {
    /// Spans delivered.
    public var exported = 0
    /// Spans the receiver refused (OTLP partial success).
    public var rejected = 0
    /// Spans lost after they left the queue (failed exports, kept spans dropped by the exporter).
    public var failed = 0
    /// Spans still queued when the deadline passed (never handed to the exporter).
    public var notExported = 0
    /// Spans the exporter still holds to deliver later: handed over, not delivered.
    public var pending = 0
    /// True if the deadline passed before the work was done.
    public var timedOut = false

    /// Creates a report.
    /// - Parameters:
    ///   - exported: spans delivered.
    ///   - rejected: spans the receiver refused.
    ///   - failed: spans lost after they left the queue.
    ///   - notExported: spans still queued when the deadline passed.
    ///   - pending: spans the exporter still holds.
    ///   - timedOut: whether the deadline passed first.
    public init(
        exported: Int = 0, rejected: Int = 0, failed: Int = 0, notExported: Int = 0, pending: Int = 0,
        timedOut: Bool = false
    ) {
        self.exported = exported
        self.rejected = rejected
        self.failed = failed
        self.notExported = notExported
        self.pending = pending
        self.timedOut = timedOut
    }

    /// True when everything was delivered: nothing refused, lost, left behind or still held.
    public var isComplete: Bool { rejected == 0 && failed == 0 && notExported == 0 && pending == 0 && !timedOut }

    mutating func add(_ other: FlushReport) {
        exported += other.exported
        rejected += other.rejected
        failed += other.failed
        notExported += other.notExported
        pending += other.pending
        timedOut = timedOut || other.timedOut
    }

    /// The counts on one line, for logs.
    public var description: String {
        "exported=\(exported) rejected=\(rejected) failed=\(failed) notExported=\(notExported) pending=\(pending) timedOut=\(timedOut)"
    }
}
