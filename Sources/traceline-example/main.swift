// A small program that emits a few traces: the README's "main job" until the daemon exists.
//
// It bootstraps Traceline (console exporter unless OTEL_TRACES_EXPORTER says otherwise),
// handles three simulated requests carrying W3C and correlation headers, and shuts down,
// printing the pipeline's counters so a newcomer sees where every span went.

import Logging
import Traceline
import Tracing

#if canImport(Glibc)
import Glibc
#endif

struct HeaderExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier.first(where: { $0.key.lowercased() == key.lowercased() })?.value
    }
}

struct HeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

var configuration = TracelineConfiguration.fromEnvironment()
// With no exporter chosen and no collector configured, print spans so there is something to see.
if getenv("OTEL_TRACES_EXPORTER") == nil && configuration.exporter == .none { configuration.exporter = .console }
if getenv("OTEL_SERVICE_NAME") == nil {
    configuration.resource.attributes.set("service.name", value: "traceline-example")
}
configuration.batch.scheduleDelay = .milliseconds(200)
let service = Traceline.bootstrap(configuration: configuration)
let logger = Logger(label: "example")

let incomingRequests: [[String: String]] = [
    ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "X-Correlation-ID": "order-42"],
    ["x-correlation-id": "bad\r\nvalue"],  // rejected: a fresh correlation ID is generated
    [:],
]

for (index, headers) in incomingRequests.enumerated() {
    var context = ServiceContext.topLevel
    InstrumentationSystem.instrument.extract(headers, into: &context, using: HeaderExtractor())
    await withSpan("GET /orders/\(index)", context: context, ofKind: .server) { span in
        span.attributes["http.request.method"] = "GET"
        span.attributes["http.response.status_code"] = 200
        logger.info("handling request")
        await withSpan("chat kimi-k2", ofKind: .client) { client in
            client.attributes["gen_ai.provider.name"] = "moonshot_ai"
            var outgoing: [String: String] = [:]
            InstrumentationSystem.instrument.inject(
                ServiceContext.current ?? .topLevel, into: &outgoing, using: HeaderInjector())
            logger.info("calling provider", metadata: ["traceparent": "\(outgoing["traceparent"] ?? "-")"])
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

let report = await service.shutdown()
logger.info("shutdown complete", metadata: ["report": "\(report)"])
if let stats = service.provider?.pipelineStatistics {
    print("spans enqueued=\(stats.enqueued) exported=\(stats.exported) dropped=\(stats.dropped) failed=\(stats.failed)")
}
