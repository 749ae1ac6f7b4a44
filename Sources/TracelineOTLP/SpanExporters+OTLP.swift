import Logging
import TracelineCore

/// The exporters Traceline ships behind the ``SpanExporter`` protocol that need more than a type
/// to make; the console and in-memory exporters are types of their own.
public enum SpanExporters {
    /// Sends spans as OTLP protobuf over HTTP with libcurl: retries, circuit breaker and the
    /// optional retry buffer as `configuration` says. Its counters are read through
    /// ``SpanExporter/exportStatistics`` and ``SpanExporter/handedOverSpans``.
    /// - Parameters:
    ///   - configuration: endpoint, headers, compression, TLS files, retry and breaker settings
    ///     (``OTLPExporterConfiguration/fromEnvironment(_:warnings:)`` reads the `OTEL_*` variables).
    ///   - logger: reports dropped batches and partial successes.
    public static func otlp(
        configuration: OTLPExporterConfiguration = .init(),
        logger: Logger = Logger(label: "traceline.otlp-exporter")
    ) -> any SpanExporter {
        OTLPHTTPExporter(configuration: configuration, logger: logger)
    }
}
