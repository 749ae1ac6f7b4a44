import Instrumentation
import Logging
@_spi(Fuzzing) import TracelineCore
import TracelineHealth
import TracelineMetrics
import TracelineOTLP
import Tracing

/// Everything the one-call bootstrap needs, read from the standard `OTEL_*` environment variables.
///
/// Reading never fails: a malformed value is ignored (its default applies) and described in
/// ``warnings``, which the bootstrap logs once logging is up. Values are never echoed verbatim
/// when they could carry secrets.
public struct TracelineConfiguration: Sendable {
    /// Which exporter the bootstrap installs (`OTEL_TRACES_EXPORTER`).
    public enum ExporterSelection: String, Sendable, Equatable {
        /// OTLP/HTTP protobuf to a collector.
        case otlp
        /// Human-readable lines on standard error.
        case console
        /// No exporter, no batch processor.
        case none
    }

    /// `OTEL_SDK_DISABLED=true`: no tracer, no exporter, no thread; propagation still works.
    public var isDisabled = false
    /// The resource: detected attributes, then `OTEL_RESOURCE_ATTRIBUTES`, then `OTEL_SERVICE_NAME`.
    public var resource: Resource
    /// The sampler (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`); parent-based always-on by default.
    public var sampler: any Sampler = ParentBasedSampler(root: AlwaysOnSampler())
    /// Attribute, event and link limits per span (`OTEL_SPAN_*_LIMIT`, `OTEL_ATTRIBUTE_*_LIMIT`).
    public var limits = SpanLimits()
    /// Batch span processor settings (`OTEL_BSP_*`).
    public var batch = BatchSpanProcessorConfiguration()
    /// The propagator names in use, after validation (`OTEL_PROPAGATORS`).
    public var propagators: [String] = ["tracecontext", "baggage", "correlationid"]
    /// The exporter to install (`OTEL_TRACES_EXPORTER`); when unset, OTLP if an endpoint is configured, else none.
    public var exporter: ExporterSelection = .none
    /// Settings of the OTLP/HTTP exporter (`OTEL_EXPORTER_OTLP_*`).
    public var otlp = OTLPExporterConfiguration()
    /// Level of the SDK's own log messages (`OTEL_LOG_LEVEL`).
    public var logLevel: Logger.Level = .info
    /// How long graceful shutdown may spend flushing spans.
    public var shutdownTimeout: Duration = .seconds(10)
    /// Problems found while reading the environment, in words safe to log.
    public var warnings: [String] = []

    /// The defaults, with the detected resource and `serviceName` (if given) as `service.name`.
    public init(serviceName: String? = nil) {
        var resource = Resource.detected()
        resource.attributes.set("service.name", value: .string(serviceName ?? Self.unknownServiceName()))
        self.resource = resource
    }

    static func unknownServiceName() -> String {
        Resource.executableName().map { "unknown_service:\($0)" } ?? "unknown_service"
    }

    /// The propagators selected by ``propagators``.
    public func makePropagator(logger: Logger? = nil) -> CompositePropagator {
        CompositePropagator(
            propagators.compactMap { name -> (any Instrument)? in
                switch name {
                case "tracecontext": return W3CTraceContextPropagator()
                case "baggage": return W3CBaggagePropagator()
                case "correlationid": return CorrelationIDPropagator(logger: logger)
                default: return nil
                }
            })
    }

    /// Reads `environment` (the process environment by default).
    public static func fromEnvironment(_ environment: [String: String]? = nil) -> TracelineConfiguration {
        let env = environment ?? Environment.current()
        var config = TracelineConfiguration()
        var warnings: [String] = []

        if let disabled = env["OTEL_SDK_DISABLED"] {
            config.isDisabled = disabled.lowercased() == "true"
        }

        // Resource: detected < OTEL_RESOURCE_ATTRIBUTES < OTEL_SERVICE_NAME.
        if let text = env["OTEL_RESOURCE_ATTRIBUTES"], !text.isEmpty {
            switch KeyValueListParser.parse(text) {
            case .success(let pairs):
                var attributes = config.resource.attributes
                for pair in pairs { attributes.set(pair.key, value: .string(pair.value)) }
                config.resource = Resource(attributes: attributes)
            case .failure(let failure):
                warnings.append("OTEL_RESOURCE_ATTRIBUTES ignored: \(failure)")
            }
        }
        if let name = env["OTEL_SERVICE_NAME"], !name.isEmpty {
            config.resource.attributes.set("service.name", value: .string(name))
        }

        // Sampler.
        if let name = env["OTEL_TRACES_SAMPLER"]?.lowercased(), !name.isEmpty {
            var ratio = 1.0
            if let argument = env["OTEL_TRACES_SAMPLER_ARG"], !argument.isEmpty {
                if let value = Double(argument.trimmingSpaces), value >= 0, value <= 1 {
                    ratio = value
                } else {
                    warnings.append("OTEL_TRACES_SAMPLER_ARG must be a probability in [0, 1]; using 1.0")
                }
            }
            switch name {
            case "always_on": config.sampler = AlwaysOnSampler()
            case "always_off": config.sampler = AlwaysOffSampler()
            case "traceidratio": config.sampler = TraceIDRatioSampler(ratio: ratio)
            case "parentbased_always_on": config.sampler = ParentBasedSampler(root: AlwaysOnSampler())
            case "parentbased_always_off": config.sampler = ParentBasedSampler(root: AlwaysOffSampler())
            case "parentbased_traceidratio":
                config.sampler = ParentBasedSampler(root: TraceIDRatioSampler(ratio: ratio))
            default:
                warnings.append(
                    "OTEL_TRACES_SAMPLER '\(sanitized(name))' is not supported; using parentbased_always_on")
            }
        }

        // Span limits: the span-specific variable wins over the general one.
        func integer(_ key: String, minimum: Int) -> Int? {
            guard let text = env[key], !text.isEmpty else { return nil }
            guard let value = Int(text.trimmingSpaces), value >= minimum else {
                warnings.append("\(key) must be an integer >= \(minimum); ignored")
                return nil
            }
            return value
        }
        let generalCount = integer("OTEL_ATTRIBUTE_COUNT_LIMIT", minimum: 0)
        let generalLength = integer("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", minimum: 0)
        config.limits = SpanLimits(
            attributeCountLimit: integer("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", minimum: 0) ?? generalCount ?? 128,
            attributeValueLengthLimit: integer("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", minimum: 0) ?? generalLength,
            eventCountLimit: integer("OTEL_SPAN_EVENT_COUNT_LIMIT", minimum: 0) ?? 128,
            linkCountLimit: integer("OTEL_SPAN_LINK_COUNT_LIMIT", minimum: 0) ?? 128,
            eventAttributeCountLimit: integer("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", minimum: 0) ?? generalCount ?? 128,
            linkAttributeCountLimit: integer("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", minimum: 0) ?? generalCount ?? 128
        )

        // Batch span processor.
        var batch = BatchSpanProcessorConfiguration()
        if let delay = integer("OTEL_BSP_SCHEDULE_DELAY", minimum: 1) { batch.scheduleDelay = .milliseconds(delay) }
        if let timeout = integer("OTEL_BSP_EXPORT_TIMEOUT", minimum: 0) { batch.exportTimeout = .milliseconds(timeout) }
        let queueSize = integer("OTEL_BSP_MAX_QUEUE_SIZE", minimum: 1) ?? batch.maxQueueSize
        var batchSize =
            integer("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", minimum: 1) ?? min(batch.maxExportBatchSize, queueSize)
        if batchSize > queueSize {
            warnings.append(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE (\(batchSize)) exceeds OTEL_BSP_MAX_QUEUE_SIZE (\(queueSize)); using \(queueSize)"
            )
            batchSize = queueSize
        }
        let enqueueWait = integer("TRACELINE_BSP_MAX_ENQUEUE_WAIT", minimum: 0).map { Duration.milliseconds($0) }
        config.batch = BatchSpanProcessorConfiguration(
            scheduleDelay: batch.scheduleDelay, exportTimeout: batch.exportTimeout,
            maxQueueSize: queueSize, maxExportBatchSize: batchSize, maxEnqueueWait: enqueueWait ?? .zero
        )

        // Propagators: de-duplicated; unknown names warn; our correlation ID comes along unless "none".
        if let list = env["OTEL_PROPAGATORS"], !list.trimmingSpaces.isEmpty {
            var names: [String] = []
            for raw in list.split(separator: ",") {
                let name = String(raw).trimmingSpaces.lowercased()
                if name.isEmpty || names.contains(name) { continue }
                switch name {
                case "tracecontext", "baggage", "correlationid", "none": names.append(name)
                case "b3", "b3multi", "jaeger", "xray", "ottrace":
                    warnings.append("OTEL_PROPAGATORS: '\(name)' is not supported by Traceline; ignored")
                default:
                    warnings.append("OTEL_PROPAGATORS: unknown propagator '\(sanitized(name))'; ignored")
                }
            }
            if names.contains("none") {
                names = []
            } else if !names.contains("correlationid") {
                names.append("correlationid")
            }
            config.propagators = names
        }

        // Exporter.
        config.otlp = OTLPExporterConfiguration.fromEnvironment(env, warnings: &warnings)
        let hasEndpoint =
            !(env["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? "").isEmpty
            || !(env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] ?? "").isEmpty
        config.exporter = hasEndpoint ? .otlp : .none
        if let text = env["OTEL_TRACES_EXPORTER"], !text.trimmingSpaces.isEmpty {
            let first = text.split(separator: ",").first.map { String($0).trimmingSpaces.lowercased() } ?? ""
            switch first {
            case "otlp": config.exporter = .otlp
            case "console", "logging": config.exporter = .console
            case "none": config.exporter = .none
            default:
                warnings.append(
                    "OTEL_TRACES_EXPORTER '\(sanitized(first))' is not supported; using \(config.exporter.rawValue)")
            }
        }

        if let level = env["OTEL_LOG_LEVEL"]?.lowercased(), !level.isEmpty {
            switch level {
            case "trace": config.logLevel = .trace
            case "debug": config.logLevel = .debug
            case "info": config.logLevel = .info
            case "warn", "warning": config.logLevel = .warning
            case "error": config.logLevel = .error
            case "critical", "fatal": config.logLevel = .critical
            default: warnings.append("OTEL_LOG_LEVEL '\(sanitized(level))' is not a level; using info")
            }
        }

        config.warnings = warnings
        return config
    }

    /// A short, printable rendering of an untrusted configuration value.
    static func sanitized(_ text: String) -> String { LogText.sanitized(text) }
}
