import TracelineCore

/// The SDK's own health as metrics: the batch queue and the OTLP exporter, named after the
/// OpenTelemetry `otel.sdk.*` self-observability conventions in Prometheus form, plus a few
/// Traceline counters those conventions do not cover (retries, bytes, breaker).
public struct PipelineMetrics: MetricsSource {
    /// The provider whose started and ended span counts are reported, if any.
    public let provider: TracerProvider?
    private let pipeline: @Sendable () -> SpanPipelineStatistics?
    private let exporterOnly: @Sendable () -> SpanExporterStatistics?

    /// The metrics for a provider: its span counts, and the books of its export pipeline
    /// (``TracerProvider/pipelineStatistics``) when it has one.
    public init(provider: TracerProvider) {
        self.provider = provider
        self.pipeline = { provider.pipelineStatistics }
        self.exporterOnly = { nil }
    }

    /// The metrics for one processor's export pipeline, without a provider.
    public init(processor: any SpanProcessor) {
        self.provider = nil
        self.pipeline = { processor.pipelineStatistics }
        self.exporterOnly = { nil }
    }

    /// The exporter families alone, for an exporter used without a processor.
    init(exporter: any SpanExporter) {
        self.provider = nil
        self.pipeline = { nil }
        self.exporterOnly = { exporter.exportStatistics }
    }

    /// Renders the pipeline families; see `MetricsSource.renderFamilies`.
    public func renderFamilies(format: MetricsFormat) -> String {
        var writer = MetricFamilyWriter(format: format)
        if let provider {
            writer.counter(
                "otel_sdk_span_started", help: "Spans started, recording or not.",
                [([], Double(provider.startedSpanCount))])
            writer.counter(
                "otel_sdk_span_ended", help: "Recording spans ended.", [([], Double(provider.endedSpanCount))])
        }
        let pipeline = pipeline()
        if let stats = pipeline {
            let component = [
                ("otel_component_type", "batching_span_processor"),
                ("otel_component_name", "batching_span_processor/0"),
            ]
            writer.gauge(
                "otel_sdk_processor_span_queue_size", help: "Spans waiting in the batch queue.",
                [(component, Double(stats.queueSize))])
            writer.gauge(
                "otel_sdk_processor_span_queue_capacity", help: "Capacity of the batch queue.",
                [(component, Double(stats.queueCapacity))])
            writer.counter(
                "otel_sdk_processor_span_processed",
                help: "Spans the batch processor handled; error_type says why one was dropped.",
                [
                    (component, Double(stats.enqueued)),
                    (component + [("error_type", "queue_full")], Double(stats.droppedQueueFull)),
                    (
                        component + [("error_type", "already_shutdown")],
                        Double(stats.droppedAfterShutdown + stats.discardedAtShutdown)
                    ),
                ])
            writer.counter(
                "traceline_processor_enqueue_waits",
                help: "Spans whose end() found the batch queue full and waited for room (maxEnqueueWait).",
                [(component, Double(stats.enqueueWaits))])
        }
        if let stats = pipeline?.exporter ?? exporterOnly() {
            let component = [
                ("otel_component_type", "otlp_http_span_exporter"),
                ("otel_component_name", "otlp_http_span_exporter/0"),
            ]
            writer.counter(
                "otel_sdk_exporter_span_exported",
                help: "Spans the OTLP exporter handled; error_type says why one was not accepted.",
                [
                    (component, Double(stats.spansExported)),
                    (component + [("error_type", "rejected")], Double(stats.spansRejected)),
                    (component + [("error_type", "export_failed")], Double(stats.spansDropped)),
                ])
            if stats.bufferCapacityBytes > 0 {
                writer.gauge(
                    "traceline_exporter_retry_buffer_spans", help: "Spans waiting in the OTLP exporter's retry buffer.",
                    [(component, Double(stats.spansBuffered))])
                writer.gauge(
                    "traceline_exporter_retry_buffer_bytes", help: "Request bytes in the OTLP exporter's retry buffer.",
                    [(component, Double(stats.bytesBuffered))])
                writer.gauge(
                    "traceline_exporter_retry_buffer_capacity_bytes",
                    help: "Capacity of the OTLP exporter's retry buffer.",
                    [(component, Double(stats.bufferCapacityBytes))])
                writer.counter(
                    "traceline_exporter_retry_buffer_dropped_spans",
                    help: "Spans dropped because the retry buffer was full (also in export_failed).",
                    [(component, Double(stats.spansDroppedBufferFull))])
            }
            if stats.inFlightCapacityBytes > 0 {
                writer.gauge(
                    "traceline_exporter_in_flight_spans",
                    help: "Spans in requests handed to the OTLP exporter's sender threads and not yet answered.",
                    [(component, Double(stats.spansInFlight))])
                writer.gauge(
                    "traceline_exporter_in_flight_bytes",
                    help: "Request bytes handed to the OTLP exporter's sender threads and not yet answered.",
                    [(component, Double(stats.bytesInFlight))])
                writer.gauge(
                    "traceline_exporter_in_flight_capacity_bytes",
                    help: "The limit on request bytes in flight.",
                    [(component, Double(stats.inFlightCapacityBytes))])
                writer.counter(
                    "traceline_exporter_sender_waits",
                    help: "Times an export found no room in flight (it then waited, or used the retry buffer).",
                    [(component, Double(stats.senderWaits))])
            }
            writer.counter(
                "traceline_exporter_requests", help: "HTTP requests the OTLP exporter sent, retries included.",
                [(component, Double(stats.requests))])
            writer.counter(
                "traceline_exporter_retries", help: "OTLP requests that were retries.",
                [(component, Double(stats.retries))])
            writer.counter(
                "traceline_exporter_bytes", help: "OTLP request body bytes, before compression and as sent.",
                [
                    (component + [("stage", "uncompressed")], Double(stats.bytesUncompressed)),
                    (component + [("stage", "sent")], Double(stats.bytesSent)),
                ])
            writer.counter(
                "traceline_exporter_export_duration_seconds", help: "Time spent in export calls, retries included.",
                [
                    (component, stats.exportDurationTotal.inSeconds)
                ])
            writer.counter(
                "traceline_exporter_exports", help: "Export calls (batches).", [(component, Double(stats.exportCalls))])
            if let breakerState = stats.breakerState {
                writer.gauge(
                    "traceline_exporter_breaker_state", help: "1 for the circuit breaker's current state.",
                    [CircuitBreaker.State.closed, .open, .halfOpen].map {
                        (component + [("state", $0.rawValue)], $0 == breakerState ? 1 : 0)
                    })
                writer.counter(
                    "traceline_exporter_breaker_rejections", help: "Exports refused while the breaker was open.",
                    [(component, Double(stats.breakerRejections))])
            }
        }
        return writer.text
    }
}
