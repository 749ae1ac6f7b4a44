// exai-daemon: the AI-tool WebSocket daemon, traced with Traceline.
//
//   exai-daemon              serve (configuration from EXAI_*, KIMI_*, GLM_*, OTEL_* variables)
//   exai-daemon --demo       serve, with an in-process provider simulator for providers without a key
//   exai-daemon --demo-run   the README's main job: start in demo mode, run one scripted client
//                            session (hello, list_tools, two chat calls), print what happened, stop
//   exai-daemon --help       list the variables

import ExaiDaemon
import Foundation
import Logging
import ProviderSim
import ServiceLifecycle
import Traceline
import Tracing

let arguments = Set(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") {
    print(DaemonConfiguration.helpText)
    exit(0)
}
let demoRun = arguments.contains("--demo-run")
var configuration = DaemonConfiguration.fromEnvironment(ProcessInfo.processInfo.environment)
if let refusal = configuration.startupRefusal {
    FileHandle.standardError.write(Data("exai-daemon: refusing to start: \(refusal)\n".utf8))
    exit(1)
}
if arguments.contains("--demo") || demoRun {
    configuration.demo = true
    configuration.tracePages = true
}
if demoRun {
    // Ephemeral ports, so the demo runs next to anything already listening.
    configuration.port = 0
    configuration.metricsPort = 0
    configuration.syntheticInterval = .seconds(1)
}

var tracing = TracelineConfiguration.fromEnvironment()
// The daemon's spans carry client-chosen text (error messages, requested names): cut string values
// at 4096 characters unless the operator set a limit.
if tracing.limits.attributeValueLengthLimit == nil {
    tracing.limits.attributeValueLengthLimit = ExaiDaemon.spanAttributeValueLengthLimit
}
if ProcessInfo.processInfo.environment["OTEL_SERVICE_NAME"] == nil {
    tracing.resource.attributes.set("service.name", value: "exai-daemon")
}
// Replicas share a service name; this tells their spans apart (OTEL_RESOURCE_ATTRIBUTES may set it).
if tracing.resource.attributes.get("service.instance.id") == nil {
    tracing.resource.attributes.set("service.instance.id", value: .string(UUID().uuidString.lowercased()))
}
if demoRun && ProcessInfo.processInfo.environment["OTEL_TRACES_EXPORTER"] == nil && tracing.exporter == .none {
    tracing.exporter = .console
}
let spanMetrics = SpanMetricsProcessor()
let views = SpanViewsProcessor(views: ExaiDaemon.metricViews)
// The trace pages' store only exists when the pages are on (they are off outside demo mode by default).
let traceStore = configuration.tracePages ? TraceStore() : nil
let tracingService = Traceline.bootstrap(
    configuration: tracing, processors: [spanMetrics, views] + (traceStore.map { [$0] } ?? []))
let logger = Logger(label: "exai-daemon")
let registry = MetricsRegistry([spanMetrics, views, ProcessMetrics()])
if let provider = tracingService.provider { registry.register(PipelineMetrics(provider: provider)) }

var services: [any Service] = [tracingService]
if configuration.demo {
    var needsSimulator = false
    for kind in ProviderKind.allCases where (kind == .kimi ? configuration.kimi : configuration.glm).apiKey.isEmpty {
        needsSimulator = true
    }
    if needsSimulator {
        let simulator = ProviderSimulator(configuration: .init(latency: .milliseconds(40)))
        Task { try await simulator.run() }
        guard let port = await simulator.listeningPort() else { fatalError("provider-sim did not start") }
        if configuration.kimi.apiKey.isEmpty {
            configuration.kimi.baseURL = "http://127.0.0.1:\(port)/v1"
            configuration.kimi.apiKey = "demo-key"
        }
        if configuration.glm.apiKey.isEmpty {
            configuration.glm.baseURL = "http://127.0.0.1:\(port)/api/paas/v4"
            configuration.glm.apiKey = "demo-key"
        }
        logger.notice(
            "demo mode: providers without a key use the in-process provider-sim", metadata: ["port": "\(port)"])
    }
}

let daemon = ExaiDaemon(
    configuration: configuration, tracer: tracingService.provider?.tracer() ?? NoOpTracer(),
    registry: registry, spanMetrics: spanMetrics, tracerProvider: tracingService.provider,
    traceStore: traceStore, logger: logger)
services.append(daemon)
// Graceful shutdown runs in reverse order: the daemon drains first, then the spans are flushed.
let group = ServiceGroup(
    configuration: .init(
        services: services.map { .init(service: $0) },
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger
    ))
if demoRun {
    Task {
        guard let port = await daemon.listeningPort() else { return }
        await DemoClient.run(
            port: port, token: configuration.token, daemon: daemon,
            tracer: tracingService.provider?.tracer() ?? NoOpTracer())
        await group.triggerGracefulShutdown()
    }
}
do {
    try await group.run()
} catch {
    // A refused configuration or a port that cannot be bound: say so and exit non-zero.
    logger.critical("exai-daemon exiting", metadata: ["error": "\(error)"])
    exit(1)
}
