// swift-tools-version:6.1
import PackageDescription

// The core `Traceline` target depends only on swift-distributed-tracing, swift-log,
// swift-service-lifecycle, swift-metrics (its API only) and three C libraries from the system (libprotobuf-c, libcurl, zlib):
// a service that only wants tracing gets a light build with no SwiftNIO.
let package = Package(
    name: "Traceline",
    products: [
        .library(name: "Traceline", targets: ["Traceline"]),
        .library(name: "TracelineHummingbird", targets: ["TracelineHummingbird"]),
        .executable(name: "traceline-example", targets: ["traceline-example"]),
        .library(name: "ExaiDaemon", targets: ["ExaiDaemon"]),
        .library(name: "ExaiProtocol", targets: ["ExaiProtocol"]),
        .library(name: "ProviderSim", targets: ["ProviderSim"]),
        .executable(name: "exai-daemon", targets: ["exai-daemon"]),
        .executable(name: "provider-sim", targets: ["provider-sim"]),
        .executable(name: "exai-client", targets: ["exai-client"]),
        .executable(name: "trace-context-service", targets: ["trace-context-service"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        // Web-framework glue only (TracelineHummingbird); the core never imports it.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // The exai-daemon only: WebSocket server and client, and the provider HTTP client.
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // `swift package generate-documentation --target Traceline` (the DocC catalogue in Sources/Traceline/Traceline.docc).
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
        .target(
            name: "Traceline",
            dependencies: [
                "CTracelineSupport",
                "COTLPProto",
                "CTracelineHTTP",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // Hummingbird glue: the /metrics route and a standalone metrics server.
        .target(
            name: "TracelineHummingbird",
            dependencies: [
                "Traceline",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // hiredis (Debian's libhiredis-dev) for the daemon's Redis storage backend.
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        // The exai-daemon's frame parser: untrusted text in, a checked message out (fuzzed on its own).
        .target(
            name: "ExaiProtocol",
            dependencies: ["Traceline"]
        ),
        // The exai-daemon: WebSocket protocol, providers, health, metrics (a user of everything above).
        .target(
            name: "ExaiDaemon",
            dependencies: [
                "Traceline",
                "ExaiProtocol",
                "TracelineHummingbird",
                "CHiredis",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // A local OpenAI-compatible chat-completions server standing in for Kimi and GLM.
        .target(
            name: "ProviderSim",
            dependencies: [
                "Traceline",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "exai-daemon",
            dependencies: [
                "ExaiDaemon",
                "ExaiClient",
                "ProviderSim",
                "Traceline",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // A client for the daemon's protocol (the demo's scripted session, and the exai-client tool).
        .target(
            name: "ExaiClient",
            dependencies: [
                "Traceline",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "exai-client",
            dependencies: ["ExaiClient", "Traceline"]
        ),
        // The service side of the W3C trace-context test harness, on our propagators.
        .target(
            name: "TraceContextService",
            dependencies: [
                "Traceline",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "trace-context-service",
            dependencies: ["TraceContextService", "Traceline", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "provider-sim",
            dependencies: ["ProviderSim", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "traceline-example",
            dependencies: [
                "Traceline",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Helpers shared by the test targets (a real OTLP receiver, ports, off-pool waits).
        .target(name: "TracelineTestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "TracelineTests",
            dependencies: [
                "Traceline",
                "TracelineTestSupport",
                "COTLPProto",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "ExaiDaemonTests",
            dependencies: [
                "ExaiDaemon",
                "ExaiProtocol",
                "ExaiClient",
                "TraceContextService",
                .product(name: "Hummingbird", package: "hummingbird"),
                "TracelineTestSupport",
                "ProviderSim",
                "Traceline",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "TracelineHummingbirdTests",
            dependencies: [
                "Traceline",
                "TracelineTestSupport",
                "TracelineHummingbird",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
