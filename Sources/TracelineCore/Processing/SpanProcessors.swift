import Logging

/// The span processors Traceline ships, behind the ``SpanProcessor`` protocol. Their books are
/// read through ``SpanProcessor/pipelineStatistics``.
public enum SpanProcessors {
    /// Queues sampled spans as they end and exports them in batches from a dedicated thread: the
    /// processor for production. `end()` never blocks by default; a full queue drops the newest
    /// span, counted (``BatchSpanProcessorConfiguration/maxEnqueueWait`` lets it wait for room first).
    /// - Parameters:
    ///   - exporter: receives the batches.
    ///   - configuration: queue size, batch size and timings (the `OTEL_BSP_*` defaults).
    ///   - logger: reports failed exports and thread problems.
    public static func batch(
        exporter: any SpanExporter, configuration: BatchSpanProcessorConfiguration = .init(),
        logger: Logger = Logger(label: "traceline.batch-span-processor")
    ) -> any SpanProcessor {
        BatchSpanProcessor(exporter: exporter, configuration: configuration, logger: logger)
    }

    /// Exports every sampled span as it ends, on the ending thread (so `end()` waits for the
    /// exporter): for tests and debugging only.
    public static func simple(exporter: any SpanExporter) -> any SpanProcessor {
        SimpleSpanProcessor(exporter: exporter)
    }
}
