// swift-tools-version:6.1
import PackageDescription

// Separate from the main package so `swift test` never builds swift-otel or these harnesses.
// Run: Benchmarks/run.sh  (see Benchmarks/README.md)
let package = Package(
    name: "TracelineBenchmarks",
    dependencies: [
        .package(name: "Traceline", path: ".."),
        .package(name: "ExaiDaemon", path: "../Daemon"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // The peer we compare with. Its OTLP/HTTP trait is on only because 1.6.0 does not compile
        // without one (a Foundation import comes through it); the comparison uses `exporter = .none`.
        .package(url: "https://github.com/swift-otel/swift-otel.git", exact: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
    ],
    targets: [
        // Counts every allocation by defining malloc & co. in the executable (see malloc_counter.c).
        .target(name: "MallocCounter"),
        // What the harnesses share: swift-otel's setup and the encoding batch. Not the span loops:
        // each harness compiles its own, in its own module, as a user's code would be (see
        // SpanInstructions/main.swift).
        .target(
            name: "BenchmarkSupport",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "TracelineCore", package: "Traceline"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // swift-protobuf types generated once from ../Proto by generate-swift-protobuf.sh (committed:
        // building protoc-gen-swift takes minutes), the peer of the encoding benchmark.
        .target(
            name: "SwiftProtobufOTLP",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .executableTarget(
            name: "TracelineBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                "MallocCounter",
                "SwiftProtobufOTLP",
                .product(name: "Traceline", package: "Traceline"),
                .product(name: "TracelineCore", package: "Traceline"),
                .product(name: "TracelineOTLP", package: "Traceline"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "OTel", package: "swift-otel"),
            ]
        ),
        // One span scenario without the malloc interposer, for instruction counts under callgrind.
        .executableTarget(
            name: "SpanInstructions",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "Traceline", package: "Traceline"),
                .product(name: "TracelineCore", package: "Traceline"),
                .product(name: "TracelineOTLP", package: "Traceline"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "OTel", package: "swift-otel"),
            ]
        ),
        // The exai-daemon under load: calls/s and latency with tracing on vs off (run-daemon.sh).
        .executableTarget(
            name: "DaemonBenchmark",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "ExaiDaemon", package: "ExaiDaemon"),
                .product(name: "ProviderSim", package: "ExaiDaemon"),
                .product(name: "Traceline", package: "Traceline"),
                .product(name: "TracelineCore", package: "Traceline"),
                .product(name: "TracelineOTLP", package: "Traceline"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "OTel", package: "swift-otel"),
            ]
        ),
        // Soak and fault tool: the export pipeline at a set span rate against a receiver that
        // fails on a schedule (Soak/soak_receiver.py); proves the span accounting (Soak/README.md).
        .executableTarget(
            name: "SoakTool",
            dependencies: [
                .product(name: "Traceline", package: "Traceline"),
                .product(name: "TracelineCore", package: "Traceline"),
                .product(name: "TracelineOTLP", package: "Traceline"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
