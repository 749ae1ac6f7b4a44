/// The books of an export pipeline (a batch processor and its exporter), read by the span-pipeline
/// health check and ``PipelineMetrics``.
///
/// Every span the processor queued is in exactly one place:
/// `enqueued = exported + rejected + failed + pendingInExporter + inExport + queueSize + discardedAtShutdown`,
/// and the spans never queued are in `dropped`. Counters are read one by one, so the identity
/// holds exactly once the pipeline is idle.
public struct SpanPipelineStatistics: Sendable, Equatable {
    /// Spans waiting in the queue now.
    public var queueSize: Int
    /// The queue's capacity.
    public var queueCapacity: Int
    /// Spans ever accepted into the queue.
    public var enqueued: Int
    /// Spans delivered: by the export call, or later by the exporter that kept them.
    public var exported: Int
    /// Spans the receiver refused (OTLP partial success).
    public var rejected: Int
    /// Spans lost after they left the queue: failed export calls, and kept spans the exporter dropped.
    public var failed: Int
    /// Spans the exporter kept to deliver later (``ExportResult/handedOver``), ever.
    public var handedOver: Int
    /// Of those, spans the exporter still holds.
    public var pendingInExporter: Int
    /// Spans in the export call running now.
    public var inExport: Int
    /// Export calls that failed.
    public var failedExports: Int
    /// Export calls made.
    public var exports: Int
    /// Spans dropped because the queue was full (`error.type=queue_full`).
    public var droppedQueueFull: Int
    /// Spans whose `end()` found the queue full and waited for room
    /// (``BatchSpanProcessorConfiguration/maxEnqueueWait``); those that still found no room are
    /// also in `droppedQueueFull`.
    public var enqueueWaits: Int = 0
    /// Spans that ended after shutdown (`error.type=already_shutdown`).
    public var droppedAfterShutdown: Int
    /// Spans still queued when shutdown's deadline passed, thrown away.
    public var discardedAtShutdown: Int
    /// The exporter's own counters, when it keeps any.
    public var exporter: SpanExporterStatistics?

    /// Every span dropped without reaching the exporter.
    public var dropped: Int { droppedQueueFull + droppedAfterShutdown + discardedAtShutdown }
}
