// swift-tools-version:6.1
import PackageDescription

// A service that uses Traceline's tracing core and OTLP exporter only, as the README's "Add it to
// your package" shows. CI builds it and checks that it resolves none of the daemon's dependencies
// (Scripts/check-light-dependency.sh). The README's lines use the repository's URL; this package
// names the same checkout by path.
let package = Package(
    name: "TracingOnly",
    dependencies: [
        .package(name: "Traceline", path: "../.."),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
    ],
    targets: [
        .executableTarget(
            name: "TracingOnly",
            dependencies: [
                .product(name: "TracelineCore", package: "Traceline"),
                .product(name: "TracelineOTLP", package: "Traceline"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
