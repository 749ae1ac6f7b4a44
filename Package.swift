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
        .library(name: "Traceline", targets: ["Traceline"]),
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
