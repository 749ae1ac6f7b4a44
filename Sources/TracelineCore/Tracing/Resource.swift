import Tracing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The entity producing telemetry: `service.name`, the SDK, the host and the process.
public struct Resource: Sendable, Equatable {
    /// The resource attributes, such as `service.name` and `host.name`.
    public var attributes: SpanAttributes

    /// Creates a resource with exactly `attributes`; nothing is detected.
    public init(attributes: SpanAttributes = [:]) {
        self.attributes = attributes
    }

    /// `service.name`, or `unknown_service:<executable>` when none was configured.
    @inlinable public var serviceName: String {
        if case .string(let name)? = attributes.get("service.name") { return name }
        return "unknown_service"
    }

    /// Name reported as `telemetry.sdk.name`. Not "opentelemetry": that name belongs to the official SDKs.
    public static let sdkName = "traceline"
    /// Version reported as `telemetry.sdk.version`.
    public static let sdkVersion = "0.1.0"

    /// Merges `other` into this resource; `other` wins on conflicting keys.
    public func merging(_ other: Resource) -> Resource {
        var merged = attributes
        other.attributes.forEach { key, value in merged.set(key, value: value) }
        return Resource(attributes: merged)
    }

    /// The attributes the SDK detects by itself: SDK identity, host name, process id and executable.
    public static func detected() -> Resource {
        var attributes: SpanAttributes = [
            "telemetry.sdk.name": .string(sdkName),
            "telemetry.sdk.language": "swift",
            "telemetry.sdk.version": .string(sdkVersion),
            "process.pid": .int64(Int64(getpid())),
        ]
        if let host = hostName() { attributes.set("host.name", value: .string(host)) }
        if let executable = executableName() {
            attributes.set("process.executable.name", value: .string(executable))
        }
        return Resource(attributes: attributes)
    }

    static func hostName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? nil : name
    }

    package static func executableName() -> String? {
        guard let first = CommandLine.arguments.first, !first.isEmpty else { return nil }
        return first.split(separator: "/").last.map(String.init)
    }
}
