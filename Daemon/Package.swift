// swift-tools-version:6.1
import PackageDescription

// The exai-daemon and the programs around it: a user of the Traceline SDK in the parent folder,
// which it depends on by path (with the Hummingbird glue). Kept apart so that a service depending
// on Traceline never resolves the daemon's WebSocket server, HTTP client, PostgreSQL driver or TLS.
let package = Package(
    name: "ExaiDaemon",
    products: [
        .library(name: "ExaiDaemon", targets: ["ExaiDaemon"]),
        .library(name: "ExaiProtocol", targets: ["ExaiProtocol"]),
        .library(name: "ProviderSim", targets: ["ProviderSim"]),
        .executable(name: "exai-daemon", targets: ["exai-daemon"]),
        .executable(name: "provider-sim", targets: ["provider-sim"]),
        .executable(name: "exai-client", targets: ["exai-client"]),
        .executable(name: "trace-context-service", targets: ["trace-context-service"]),
    ],
    dependencies: [
        .package(name: "Traceline", path: "..", traits: ["Hummingbird"]),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // WebSocket server and client, and the provider HTTP client.
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // hiredis (Debian's libhiredis-dev) for the daemon's Redis storage backend.
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        // The exai-daemon's frame parser: untrusted text in, a checked message out (fuzzed on its own).
        .target(
            name: "ExaiProtocol",
            dependencies: [.product(name: "Traceline", package: "Traceline")]
        ),
        // The exai-daemon: WebSocket protocol, providers, health, metrics (a user of everything above).
        .target(
            name: "ExaiDaemon",
            dependencies: [
                .product(name: "Traceline", package: "Traceline"),
                "ExaiProtocol",
                .product(name: "TracelineHummingbird", package: "Traceline"),
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
                .product(name: "Traceline", package: "Traceline"),
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
                .product(name: "Traceline", package: "Traceline"),
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
                .product(name: "Traceline", package: "Traceline"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "exai-client",
            dependencies: ["ExaiClient", .product(name: "Traceline", package: "Traceline")]
        ),
        // The service side of the W3C trace-context test harness, on our propagators.
        .target(
            name: "TraceContextService",
            dependencies: [
                .product(name: "Traceline", package: "Traceline"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "trace-context-service",
            dependencies: [
                "TraceContextService", .product(name: "Traceline", package: "Traceline"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "provider-sim",
            dependencies: ["ProviderSim", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "ExaiDaemonTests",
            dependencies: [
                "ExaiDaemon",
                "ExaiProtocol",
                "ExaiClient",
                "TraceContextService",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "TracelineTestSupport", package: "Traceline"),
                "ProviderSim",
                .product(name: "Traceline", package: "Traceline"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
