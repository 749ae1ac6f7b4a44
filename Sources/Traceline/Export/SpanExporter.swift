/// The outcome of one export call.
public enum ExportResult: Sendable, Equatable {
    /// The batch was delivered.
    case success
    /// The batch is lost; `reason` says why (for logs and counters).
    case failure(reason: String)
}

/// Sends finished spans somewhere: a collector, the console, memory.
///
/// The batch processor calls `export` from its own export thread, one call at a time, so an
/// exporter may block (for example on a network round trip) but must return by `deadline`.
/// Retrying belongs to the exporter; the processor drops a batch that failed.
public protocol SpanExporter: Sendable {
    /// Sends `batch` and returns by `deadline`; the processors never call it concurrently.
    func export(_ batch: [FinishedSpan], deadline: ContinuousClock.Instant) -> ExportResult
    /// Sends anything the exporter buffers itself. Default: nothing to do.
    func forceFlush(deadline: ContinuousClock.Instant) -> ExportResult
    /// Releases resources; later exports fail. Default: nothing to do.
    func shutdown(deadline: ContinuousClock.Instant)
    /// Called from the shutting-down caller's thread, possibly while `export` runs on the export
    /// thread: an export in progress (a retry wait, a stalled request) must now end by `deadline`.
    /// Default: nothing to do.
    func beginShutdown(deadline: ContinuousClock.Instant)
}

extension SpanExporter {
    /// Returns `success` at once by default: nothing is buffered.
    public func forceFlush(deadline: ContinuousClock.Instant) -> ExportResult { .success }
    /// Does nothing by default.
    public func shutdown(deadline: ContinuousClock.Instant) {}
    /// Does nothing by default.
    public func beginShutdown(deadline: ContinuousClock.Instant) {}
}
