// swift-tools-version:6.1
import PackageDescription

// The Traceline SDK. A service that depends on this package resolves only swift-distributed-tracing,
// swift-log, swift-service-lifecycle and swift-metrics, and links three C libraries from the system
// (libprotobuf-c, libcurl, zlib): no SwiftNIO. The Hummingbird glue is behind the `Hummingbird`
// trait, off by default, so a service that does not use it never resolves Hummingbird.
//
// The exai-daemon, its client, provider-sim and the W3C test service are a second package in
// Daemon/, which depends on this one by path.
let package = Package(
    name: "Traceline",
    products: [
        // Everything: the bootstrap from OTEL_* variables and all the modules below, re-exported.
        .library(name: "Traceline", targets: ["Traceline"]),
        // The parts, for a service that wants less: tracing alone, plus the OTLP exporter.
        .library(name: "TracelineCore", targets: ["TracelineCore"]),
        .library(name: "TracelineOTLP", targets: ["TracelineOTLP"]),
        // Empty unless the `Hummingbird` trait is enabled.
        .library(name: "TracelineHummingbird", targets: ["TracelineHummingbird"]),
        .executable(name: "traceline-example", targets: ["traceline-example"]),
        // Helpers for this repository's test targets (a real OTLP receiver, ports, off-pool waits);
        // not part of the SDK's API.
        .library(name: "TracelineTestSupport", targets: ["TracelineTestSupport"]),
    ],
    traits: [
        .trait(
            name: "Hummingbird",
            description: "The TracelineHummingbird target: a /metrics route and a metrics server on Hummingbird 2."),
        .default(enabledTraits: []),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        // Only with the `Hummingbird` trait (TracelineHummingbird).
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // `swift package generate-documentation --target Traceline` (the DocC catalogue in
        // Sources/Traceline/Traceline.docc); no target uses it, so a dependent never resolves it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.5.0"),
    ],
    targets: [
        // Thread-local random ID generation and small libc helpers that Swift cannot express cheaply.
        .target(name: "CTracelineSupport"),
        // protobuf-c code generated from Proto/ by Scripts/generate-proto.sh (committed; CI checks it is fresh).
        .target(
            name: "COTLPProto",
            linkerSettings: [.linkedLibrary("protobuf-c")]
        ),
        // libcurl transport and zlib gzip for the OTLP/HTTP exporter (libcurl's variadic API is C-only).
        .target(
            name: "CTracelineHTTP",
            linkerSettings: [.linkedLibrary("curl"), .linkedLibrary("z")]
        ),
        // The pipeline, in the order a span travels it: the tracing core (where a span is born
        // and queued), OTLP export (where it is encoded and sent), then the readers of what
        // happened (metrics, health, debug pages), and the bootstrap that wires them together.
        // Dependencies point one way: every module depends on the core, none on the bootstrap.

        // Tracing core: IDs and context (Context/), W3C and correlation-ID propagation
        // (Propagation/), sampling (Sampling/), spans from start to the frozen FinishedSpan
        // (Tracing/), the processors and the lock-free batch queue with its export thread
        // (Processing/), the exporter protocol with the console and in-memory exporters (Export/),
        // log correlation (Logging/) and GenAI span helpers (GenAI/). No network code.
        .target(
            name: "TracelineCore",
            dependencies: [
                "CTracelineSupport",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // OTLP export: batches encoded to OTLP protobuf with libprotobuf-c (COTLPProto, generated
        // from Proto/), gzip, and sent with libcurl (CTracelineHTTP), with the retry policy,
        // circuit breaker and the optional retry buffer.
        .target(
            name: "TracelineOTLP",
            dependencies: [
                "TracelineCore",
                "CTracelineSupport",
                "COTLPProto",
                "CTracelineHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // Metrics: RED metrics from spans (SpanMetrics/: aggregation, recent window, exposition),
        // declarative span views, the SDK's own pipeline metrics, process metrics, a swift-metrics
        // backend, and the Prometheus/OpenMetrics text writer they all render through.
        .target(
            name: "TracelineMetrics",
            dependencies: [
                "TracelineCore",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // Health: checks with timeouts, the aggregator behind /health, /livez and /readyz (IETF
        // health-check format), synthetic probes, and the redactor that keeps secrets out of outputs.
        .target(
            name: "TracelineHealth",
            dependencies: [
                "TracelineCore",
                "TracelineMetrics",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Debug: the in-memory store of recent traces that the built-in trace pages read.
        .target(
            name: "TracelineDebug",
            dependencies: [
                "TracelineCore",
                "TracelineMetrics",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                "CTracelineSupport",
            ]
        ),
        // The bootstrap: configuration from the standard OTEL_* variables, the provider and its
        // exporter wired from it, and a swift-service-lifecycle service that flushes at shutdown.
        // Re-exports every module above, so `import Traceline` is all most services need.
        .target(
            name: "Traceline",
            dependencies: [
                "TracelineCore",
                "TracelineOTLP",
                "TracelineMetrics",
                "TracelineHealth",
                "TracelineDebug",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Hummingbird glue: the /metrics route and a standalone metrics server (`Hummingbird` trait).
        .target(
            name: "TracelineHummingbird",
            dependencies: [
                "Traceline",
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Hummingbird"])),
                .product(name: "HTTPTypes", package: "swift-http-types", condition: .when(traits: ["Hummingbird"])),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "traceline-example",
            dependencies: [
                "Traceline",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Helpers shared by the test targets of both packages (a real OTLP receiver, ports, off-pool waits).
        .target(name: "TracelineTestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "TracelineTests",
            dependencies: [
                "Traceline",
                "TracelineCore",
                "TracelineOTLP",
                "TracelineMetrics",
                "TracelineHealth",
                "TracelineDebug",
                "TracelineTestSupport",
                "COTLPProto",
                "CTracelineHTTP",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "TracelineHummingbirdTests",
            dependencies: [
                "Traceline",
                "TracelineTestSupport",
                "TracelineHummingbird",
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Hummingbird"])),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
