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

    /// Creates the default configuration.
    public init() {}

    /// Creates a configuration; sizes below 1 are raised to 1.
    /// - Parameters:
    ///   - scheduleDelay: longest wait between two exports.
    ///   - exportTimeout: longest one export may take; `.zero` means no limit.
    ///   - maxQueueSize: spans the queue holds before it drops.
    ///   - maxExportBatchSize: spans per export call, capped at `maxQueueSize`.
    public init(
        scheduleDelay: Duration = .milliseconds(5000), exportTimeout: Duration = .milliseconds(30000),
        maxQueueSize: Int = 2048, maxExportBatchSize: Int = 512
    ) {
        self.scheduleDelay = scheduleDelay
        self.exportTimeout = exportTimeout
        self.maxQueueSize = max(1, maxQueueSize)
        self.maxExportBatchSize = min(max(1, maxExportBatchSize), self.maxQueueSize)
    }
}
