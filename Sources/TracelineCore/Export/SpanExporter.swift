/// The outcome of one export call.
public enum ExportResult: Sendable, Equatable {
    /// The batch was delivered.
    case success
    /// The batch was delivered, but the receiver refused `rejected` of its spans (an OTLP partial
    /// success); those are lost and counted as rejected.
    case partialSuccess(rejected: Int)
    /// The exporter kept the batch to deliver it later (a request still on the wire, a retry
    /// buffer): it is neither delivered nor lost yet. What becomes of it is reported by
    /// ``SpanExporter/handedOverSpans``.
    case handedOver
    /// The batch is lost; `reason` says why (for logs and counters).
    case failure(reason: String)
}

/// What became of the spans an exporter kept with ``ExportResult/handedOver``, counted since the
/// exporter was created: `delivered + rejected + dropped + pending` is every span handed over.
public struct HandedOverSpans: Sendable, Equatable {
    /// Spans delivered later.
    public var delivered = 0
    /// Spans the receiver refused when they were delivered later.
    public var rejected = 0
    /// Spans lost later (retries exhausted, buffer limits, shutdown).
    public var dropped = 0
    /// Spans the exporter still holds.
    public var pending = 0

    /// Creates the books of an exporter that has kept nothing.
    public init(delivered: Int = 0, rejected: Int = 0, dropped: Int = 0, pending: Int = 0) {
        self.delivered = delivered
        self.rejected = rejected
        self.dropped = dropped
        self.pending = pending
    }
}

/// Sends finished spans somewhere: a collector, the console, memory.
///
/// The batch processor calls `export` from its own export thread, one call at a time, so an
/// exporter may block (for example on a network round trip) but must return by `deadline`.
/// Retrying belongs to the exporter; the processor drops a batch that failed. An exporter that
/// keeps batches past `export` (``ExportResult/handedOver``) reports their fate through
/// ``handedOverSpans``, so the processor's books and flush reports stay whole.
public protocol SpanExporter: Sendable {
    /// Sends `batch` and returns by `deadline`; the processors never call it concurrently.
    func export(_ batch: [FinishedSpan], deadline: ContinuousClock.Instant) -> ExportResult
    /// Tries to deliver what the exporter holds until `deadline`, then returns its books.
    /// Default: nothing held.
    @discardableResult
    func forceFlush(deadline: ContinuousClock.Instant) -> HandedOverSpans
    /// Releases resources; later exports fail. What is still held at `deadline` is dropped.
    /// Returns the final books. Default: nothing to do.
    @discardableResult
    func shutdown(deadline: ContinuousClock.Instant) -> HandedOverSpans
    /// Called from the shutting-down caller's thread, possibly while `export` runs on the export
    /// thread: an export in progress (a retry wait, a stalled request) must now end by `deadline`.
    /// Default: nothing to do.
    func beginShutdown(deadline: ContinuousClock.Instant)
    /// The books of batches this exporter kept (``ExportResult/handedOver``). Default: all zero.
    var handedOverSpans: HandedOverSpans { get }
    /// Counters for health checks and metrics, or nil when the exporter keeps none. Default: nil.
    var exportStatistics: SpanExporterStatistics? { get }
}

extension SpanExporter {
    /// Returns ``handedOverSpans`` at once by default.
    @discardableResult
    public func forceFlush(deadline: ContinuousClock.Instant) -> HandedOverSpans { handedOverSpans }
    /// Returns ``handedOverSpans`` by default.
    @discardableResult
    public func shutdown(deadline: ContinuousClock.Instant) -> HandedOverSpans { handedOverSpans }
    /// Does nothing by default.
    public func beginShutdown(deadline: ContinuousClock.Instant) {}
    /// All zero by default: nothing is kept.
    public var handedOverSpans: HandedOverSpans { HandedOverSpans() }
    /// Nil by default.
    public var exportStatistics: SpanExporterStatistics? { nil }
}
