import Instrumentation

/// A hook in the span pipeline: sees each recording span when it starts and when it ends.
///
/// `onStart` and `onEnd` run on the thread that starts or ends the span, so they must be quick and
/// must never block. Every method may be called concurrently.
public protocol SpanProcessor: Sendable {
    /// Called when a recording span starts. The span may still be changed here.
    func onStart(_ span: TracelineSpan, parentContext: ServiceContext)
    /// Called once when a recording span ends. The record is handed over (consumed), so a
    /// processor that keeps it (a queue) stores it without copying.
    func onEnd(_ span: consuming FinishedSpan)
    /// Called once when a recording span ends, instead of `onEnd(_:)`, when the record is lent: the
    /// provider lends it to every processor but the last, which gets it moved into `onEnd(_:)`.
    /// A processor that only reads the span (metrics) implements this to spare each span a copy
    /// of the record (a retain and a release of every field). Default: `onEnd(copy span)`.
    func onEnd(reading span: borrowing FinishedSpan)
    /// Whether `onStart` must be called. Processors that only look at ended spans return false,
    /// which spares every span start a call. Default: true.
    var isStartRequired: Bool { get }
    /// Whether this processor needs spans the sampler did not sample (metrics that must count all
    /// traffic). When any processor says yes, such spans are recorded but not sampled
    /// (`isRecording` true, sampled flag clear): every processor sees them, and export processors
    /// skip them by the flag. Default: false.
    var needsUnsampledSpans: Bool { get }
    /// Exports everything already received before `deadline`.
    func forceFlush(deadline: ContinuousClock.Instant) async -> FlushReport
    /// Flushes, then stops; later spans are dropped and counted.
    func shutdown(deadline: ContinuousClock.Instant) async -> FlushReport
    /// The books of the export pipeline this processor runs, or nil when it runs none. Health
    /// checks and metrics read them here, so they need not know the processor's type. Default: nil.
    var pipelineStatistics: SpanPipelineStatistics? { get }
}

extension SpanProcessor {
    /// Defaults to true.
    public var isStartRequired: Bool { true }
    /// Defaults to false.
    public var needsUnsampledSpans: Bool { false }
    /// Does nothing by default.
    public func onStart(_ span: TracelineSpan, parentContext: ServiceContext) {}
    /// Passes a copy of the record to `onEnd(_:)` by default.
    public func onEnd(reading span: borrowing FinishedSpan) { onEnd(copy span) }
    /// Does nothing and returns an empty report by default.
    public func forceFlush(deadline: ContinuousClock.Instant) async -> FlushReport { FlushReport() }
    /// Does nothing and returns an empty report by default.
    public func shutdown(deadline: ContinuousClock.Instant) async -> FlushReport { FlushReport() }
    /// Nil by default.
    public var pipelineStatistics: SpanPipelineStatistics? { nil }
}
