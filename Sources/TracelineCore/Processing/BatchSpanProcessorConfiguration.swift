/// Batching settings; the defaults are the OpenTelemetry ones (`OTEL_BSP_*`).
public struct BatchSpanProcessorConfiguration: Sendable, Equatable {
    /// Longest wait between two exports (`OTEL_BSP_SCHEDULE_DELAY`, 5000 ms).
    public var scheduleDelay: Duration = .milliseconds(5000)
    /// Longest one export may take (`OTEL_BSP_EXPORT_TIMEOUT`, 30000 ms).
    public var exportTimeout: Duration = .milliseconds(30000)
    /// Spans the queue holds before it drops (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048).
    public var maxQueueSize: Int = 2048
    /// Spans per export call (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, 512; never above `maxQueueSize`).
    public var maxExportBatchSize: Int = 512
    /// How long `end()` may wait for room when the queue is full before it drops the span
    /// (`TRACELINE_BSP_MAX_ENQUEUE_WAIT` in milliseconds; `.zero` by default: never wait, the
    /// OpenTelemetry behaviour). A waiting `end()` sleeps in 50 µs steps, which gives its core to
    /// the export thread; set it where a lost span costs more than a slower `end()` while the
    /// exporter is behind. Once a wait runs out (the exporter is stalled, not just short of CPU),
    /// spans drop at once until the queue has drained below half, so a stalled collector costs one
    /// wait, not one per span. Waits are counted (``SpanPipelineStatistics/enqueueWaits``).
    public var maxEnqueueWait: Duration = .zero

    /// Creates the default configuration.
    public init() {}

    /// Creates a configuration; sizes below 1 are raised to 1.
    /// - Parameters:
    ///   - scheduleDelay: longest wait between two exports.
    ///   - exportTimeout: longest one export may take; `.zero` means no limit.
    ///   - maxQueueSize: spans the queue holds before it drops.
    ///   - maxExportBatchSize: spans per export call, capped at `maxQueueSize`.
    ///   - maxEnqueueWait: how long `end()` may wait for room in a full queue; negative is `.zero`.
    public init(
        scheduleDelay: Duration = .milliseconds(5000), exportTimeout: Duration = .milliseconds(30000),
        maxQueueSize: Int = 2048, maxExportBatchSize: Int = 512, maxEnqueueWait: Duration = .zero
    ) {
        self.scheduleDelay = scheduleDelay
        self.exportTimeout = exportTimeout
        self.maxQueueSize = max(1, maxQueueSize)
        self.maxExportBatchSize = min(max(1, maxExportBatchSize), self.maxQueueSize)
        self.maxEnqueueWait = max(.zero, maxEnqueueWait)
    }
}
