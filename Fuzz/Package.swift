// swift-tools-version:6.1
import PackageDescription

// Fuzz targets for every parser that reads untrusted input. A separate package so that `swift
// test` never builds it: it is built with libFuzzer and AddressSanitizer instrumentation
// (`-sanitize=fuzzer,address`, see run.sh), which the normal build must not carry.
let package = Package(
    name: "TracelineFuzz",
    dependencies: [
        .package(name: "Traceline", path: ".."),
        .package(name: "ExaiDaemon", path: "../Daemon"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
    ],
    targets: [
        // Declares libFuzzer's driver entry point.
        .target(name: "CLibFuzzer"),
        // One binary; TRACELINE_FUZZ_TARGET picks the parser (run.sh sets it).
        .executableTarget(
            name: "TracelineFuzz",
            dependencies: [
                "CLibFuzzer",
                .product(name: "Traceline", package: "Traceline"),
                .product(name: "TracelineCore", package: "Traceline"),
                .product(name: "TracelineOTLP", package: "Traceline"),
                .product(name: "ExaiProtocol", package: "ExaiDaemon"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
