import Foundation
import Testing
import TracelineTestSupport

/// Runs the example executable in its own process: `Traceline.bootstrap` installs global state
/// (InstrumentationSystem, LoggingSystem) that may be set only once per process.
@Suite struct BootstrapTests {
    static func examplePath() throws -> String { try builtExecutable("traceline-example") }

    /// Runs the example on its own thread: waiting for a child process must not hold a concurrency thread.
    static func run(environment: [String: String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await offThreadThrowing { try runBlocking(environment: environment) }
    }

    static func runBlocking(environment: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try examplePath())
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OTEL_") }
        env.merge(environment) { $1 }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: outData, as: UTF8.self),
            String(decoding: errData, as: UTF8.self)
        )
    }

    @Test("bootstrap: console export, log correlation, and a flush that loses nothing")
    func bootstrapConsole() async throws {
        let result = try await Self.run(environment: ["OTEL_SERVICE_NAME": "bootstrap-test"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("spans enqueued=6 exported=6 dropped=0 failed=0"))
        #expect(result.stderr.contains("[4bf92f3577b34da6a3ce929d0e0e4736 "), "the incoming trace continues")
        #expect(result.stderr.contains("SERVER GET /orders/0"))
        #expect(result.stderr.contains("correlation_id=order-42 "), "log lines carry the correlation ID")
        #expect(!result.stderr.contains("bad\r\nvalue"), "the rejected correlation ID is never printed")
    }

    @Test("OTEL_SDK_DISABLED=true: no spans, no export thread, propagation still works")
    func bootstrapDisabled() async throws {
        let result = try await Self.run(environment: ["OTEL_SDK_DISABLED": "true"])
        #expect(result.status == 0)
        #expect(!result.stderr.contains("SERVER GET"))
        #expect(!result.stdout.contains("spans enqueued"))
        #expect(result.stderr.contains("Tracing disabled"))
        #expect(result.stderr.contains("correlation_id=order-42"))
    }

    @Test("OTEL_EXPORTER_OTLP_ENDPOINT selects the OTLP exporter: the example's spans reach a receiver")
    func bootstrapOTLP() async throws {
        let receiver = try await OTLPReceiver.start()
        let result = try await Self.run(environment: [
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(receiver.port)",
            "OTEL_SERVICE_NAME": "otlp-bootstrap",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        ])
        #expect(result.status == 0)
        #expect(result.stdout.contains("exported=6 dropped=0"))
        let records = try receiver.records()
        #expect(records.allSatisfy { ($0["headers"] as? [String: String])?["content-encoding"] == "gzip" })
        let spans = records.flatMap { $0["spans"] as? [[String: Any]] ?? [] }
        #expect(spans.count == 6)
        #expect(spans.contains { ($0["trace_id"] as? String) == "4bf92f3577b34da6a3ce929d0e0e4736" })
        let service = (spans.first?["resource"] as? [String: Any])?["service.name"] as? [String: Any]
        #expect(service?["value"] as? String == "otlp-bootstrap")
    }

    @Test("broken configuration is reported and the program still runs")
    func brokenConfiguration() async throws {
        let result = try await Self.run(environment: [
            "OTEL_RESOURCE_ATTRIBUTES": "broken",
            "OTEL_TRACES_SAMPLER": "nonsense",
            "OTEL_BSP_MAX_QUEUE_SIZE": "-5",
            "OTEL_PROPAGATORS": "xray",
        ])
        #expect(result.status == 0)
        #expect(result.stderr.contains("OTEL_RESOURCE_ATTRIBUTES ignored"))
        #expect(result.stderr.contains("OTEL_TRACES_SAMPLER"))
        #expect(result.stderr.contains("OTEL_BSP_MAX_QUEUE_SIZE"))
        #expect(result.stdout.contains("exported=6"))
    }
}
