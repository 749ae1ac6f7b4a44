import Instrumentation
import Logging
import ServiceLifecycle
import TracelineCore
import TracelineHealth
import TracelineMetrics
import TracelineOTLP
import Tracing

/// Entry points: one call that wires tracing, propagation and log correlation for a process.
public enum Traceline {
    /// The default log handler the bootstrap installs: swift-log's stream handler on standard error.
    public static let standardErrorLogHandler: @Sendable (String, Logger.MetadataProvider?) -> any LogHandler = {
        label, provider in
        StreamLogHandler.standardError(label: label, metadataProvider: provider)
    }

    /// Reads the configuration, installs the tracer into `InstrumentationSystem`, bootstraps
    /// swift-log with the trace metadata provider, and returns a service that flushes spans on
    /// graceful shutdown. Call it once, at the start of `main`.
    ///
    /// - Parameters:
    ///   - configuration: defaults to the `OTEL_*` environment.
    ///   - exporter: overrides the exporter `OTEL_TRACES_EXPORTER` selects.
    ///   - processors: more processors that see every span before the batch processor, for example a
    ///     `SpanMetricsProcessor` or `SpanViewsProcessor`.
    ///   - logHandler: the swift-log handler factory to install with `Logger.MetadataProvider.traceline`;
    ///     pass nil if the application bootstraps logging itself (then add the provider there).
    @discardableResult
    public static func bootstrap(
        configuration: TracelineConfiguration = .fromEnvironment(),
        exporter: (any SpanExporter)? = nil,
        processors: [any SpanProcessor] = [],
        logHandler: (@Sendable (String, Logger.MetadataProvider?) -> any LogHandler)? = standardErrorLogHandler
    ) -> TracelineService {
        if let logHandler {
            LoggingSystem.bootstrap(logHandler, metadataProvider: .traceline)
        }
        var logger = Logger(label: "traceline")
        logger.logLevel = configuration.logLevel
        for warning in configuration.warnings { logger.warning("Configuration: \(warning)") }

        if configuration.isDisabled {
            // The specification keeps propagation working when the SDK is disabled; nothing else runs.
            InstrumentationSystem.bootstrap(configuration.makePropagator(logger: logger))
            logger.info("Tracing disabled by OTEL_SDK_DISABLED; propagation only")
            return TracelineService(provider: nil, shutdownTimeout: configuration.shutdownTimeout, logger: logger)
        }

        let provider = makeProvider(
            configuration: configuration, exporter: exporter, processors: processors, logger: logger)
        InstrumentationSystem.bootstrap(provider.tracer())
        return TracelineService(provider: provider, shutdownTimeout: configuration.shutdownTimeout, logger: logger)
    }

    /// Builds a provider from `configuration` without touching any global state (useful in tests
    /// and for processes that run several pipelines).
    public static func makeProvider(
        configuration: TracelineConfiguration,
        exporter: (any SpanExporter)? = nil,
        processors extra: [any SpanProcessor] = [],
        logger: Logger = Logger(label: "traceline")
    ) -> TracerProvider {
        var processors = extra
        if let chosen = exporter ?? makeExporter(configuration, logger: logger) {
            processors.append(
                SpanProcessors.batch(exporter: chosen, configuration: configuration.batch, logger: logger))
        }
        return TracerProvider(
            resource: configuration.resource,
            sampler: configuration.sampler,
            limits: configuration.limits,
            processors: processors,
            propagator: configuration.makePropagator(logger: logger)
        )
    }

    static func makeExporter(_ configuration: TracelineConfiguration, logger: Logger) -> (any SpanExporter)? {
        switch configuration.exporter {
        case .console:
            return ConsoleSpanExporter()
        case .none:
            return nil
        case .otlp:
            return SpanExporters.otlp(configuration: configuration.otlp, logger: logger)
        }
    }
}

/// The handle the bootstrap returns: a swift-service-lifecycle `Service` whose graceful shutdown
/// (or cancellation) flushes queued spans within the configured timeout.
public struct TracelineService: Service {
    /// The pipeline, or nil when tracing is disabled.
    public let provider: TracerProvider?
    let shutdownTimeout: Duration
    let logger: Logger

    init(provider: TracerProvider?, shutdownTimeout: Duration, logger: Logger) {
        self.provider = provider
        self.shutdownTimeout = shutdownTimeout
        self.logger = logger
    }

    /// Waits for graceful shutdown or cancellation, then flushes and shuts the pipeline down.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Flushes and stops the pipeline now; returns what was exported and what was not.
    @discardableResult
    public func shutdown() async -> FlushReport {
        guard let provider else { return FlushReport() }
        let report = await provider.shutdown(deadline: .now + shutdownTimeout)
        if !report.isComplete {
            logger.warning("Spans not exported at shutdown", metadata: ["report": "\(report)"])
        }
        return report
    }
}
