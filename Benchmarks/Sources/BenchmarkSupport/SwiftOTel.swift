import Logging
import OTel

/// swift-otel 1.6.0 set up the same way in every harness: traces only, its batch processor, and
/// either no exporter or its OTLP/HTTP protobuf exporter to `endpoint`.
/// - Parameter diagnostics: receives swift-otel's own log (its only report of queue drops).
public func swiftOTelConfiguration(
    otlpEndpoint endpoint: String?, diagnostics: Logger = Logger(label: "otel") { _ in SwiftLogNoOpLogHandler() }
) -> OTel.Configuration {
    var configuration = OTel.Configuration.default
    configuration.serviceName = "bench"
    if let endpoint {
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.endpoint = endpoint
        configuration.traces.otlpExporter.protocol = .httpProtobuf
    } else {
        configuration.traces.exporter = .none
    }
    configuration.metrics.enabled = false
    configuration.logs.enabled = false
    configuration.diagnosticLogger = .custom(diagnostics)
    return configuration
}
