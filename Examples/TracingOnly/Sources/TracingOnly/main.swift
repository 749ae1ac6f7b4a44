// One traced unit of work, exported over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (or
// localhost:4318), with the tracing core and the OTLP exporter alone: no bootstrap module.
import Foundation
import Instrumentation
import TracelineCore
import TracelineOTLP
import Tracing

var warnings: [String] = []
let otlp = OTLPExporterConfiguration.fromEnvironment(ProcessInfo.processInfo.environment, warnings: &warnings)
for warning in warnings { print("configuration: \(warning)") }
let provider = TracerProvider(processors: [SpanProcessors.batch(exporter: SpanExporters.otlp(configuration: otlp))])
InstrumentationSystem.bootstrap(provider.tracer())

await withSpan("checkout", ofKind: .server) { span in
    span.attributes["order.items"] = 3
    // A child span, as an HTTP client call would make.
    await withSpan("charge card", ofKind: .client) { _ in
        try? await Task.sleep(for: .milliseconds(5))
    }
}
print(await provider.shutdown(deadline: .now + .seconds(5)))
