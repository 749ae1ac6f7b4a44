import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
@testable import Traceline
import Tracing

/// Paths of the repository and of the test venv's Python (made by Scripts/test.sh).
enum TestEnvironment {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var python: String {
        ProcessInfo.processInfo.environment["TRACELINE_TEST_PYTHON"] ?? root.appendingPathComponent(".venv/bin/python").path
    }
    static func script(_ name: String) -> String { root.appendingPathComponent("Tests/proto/\(name)").path }
}

struct ReceiverError: Error, CustomStringConvertible {
    let description: String
}

/// A real OTLP/HTTP receiver on 127.0.0.1 (Tests/proto/otlp_receiver.py), decoding with the
/// official opentelemetry-proto package and answering by a script.
final class OTLPReceiver: @unchecked Sendable {
    /// Starts a receiver without blocking a concurrency thread while Python starts.
    static func start(script: String = "200", port: Int = 0, tls: (certificate: String, key: String)? = nil) async throws -> OTLPReceiver {
        try await offThreadThrowing { try OTLPReceiver(script: script, port: port, tls: tls) }
    }

    let port: Int
    private let process: Process
    private let recordPath: String

    init(script: String = "200", port requested: Int = 0, tls: (certificate: String, key: String)? = nil) throws {
        recordPath = NSTemporaryDirectory() + "otlp-receiver-\(UUID().uuidString).jsonl"
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.python)
        process.arguments = [TestEnvironment.script("otlp_receiver.py"), "--record", recordPath, "--script", script, "--port", String(requested)]
            + (tls.map { ["--tls-cert", $0.certificate, "--tls-key", $0.key] } ?? [])
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var line = Data()
        let handle = output.fileHandleForReading
        while !line.contains(0x0A) {
            let chunk = handle.availableData
            if chunk.isEmpty { throw ReceiverError(description: "receiver exited before announcing its port") }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let portText = text.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines), let port = Int(portText) else {
            throw ReceiverError(description: "unexpected receiver output: \(text)")
        }
        self.port = port
    }

    deinit { stop() }

    var endpoint: String { "http://127.0.0.1:\(port)/v1/traces" }
    var tlsEndpoint: String { "https://127.0.0.1:\(port)/v1/traces" }

    /// Kills the receiver and reaps it directly: Foundation's `waitUntilExit` spins a run loop,
    /// which can wait forever on a Swift Testing thread.
    func stop() {
        let pid = process.processIdentifier
        guard pid > 0, !stopped.exchange(true, ordering: .relaxed) else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }
    private let stopped = Atomic<Bool>(false)

    /// One record per request received.
    func records() throws -> [[String: Any]] {
        let text = (try? String(contentsOfFile: recordPath, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw ReceiverError(description: "bad record line")
            }
            return object
        }
    }

    /// Span IDs in requests the receiver answered with 200-class actions.
    func acceptedSpanIDs() throws -> [String] {
        try records().filter { record in
            let action = record["action"] as? String ?? ""
            return action == "200" || action.hasPrefix("partial") || action.hasPrefix("stall") || action == "garbage"
        }.flatMap { ($0["spans"] as? [[String: Any]] ?? []).compactMap { $0["span_id"] as? String } }
    }
}

/// A port nothing listens on (bound once, then released).
func unusedPort() throws -> Int {
    let receiver = try OTLPReceiver()
    let port = receiver.port
    receiver.stop()
    return port
}

/// Finished spans made by a real pipeline, for feeding exporters directly.
func makeFinishedSpans(_ count: Int, prefix: String = "span") -> [FinishedSpan] {
    let (_, tracer, exporter) = makeTestPipeline()
    for index in 0..<count {
        let span = tracer.startSpan("\(prefix)-\(index)", context: .topLevel, ofKind: .client)
        span.attributes["index"] = index
        span.attributes["peer.service"] = "kimi"
        span.addEvent(SpanEvent(name: "sent", attributes: ["bytes": 42]))
        span.end()
    }
    return exporter.spans
}

/// An exporter configuration for fast tests: short backoff, short timeout.
func fastConfiguration(endpoint: String, compression: OTLPExporterConfiguration.Compression = .none) -> OTLPExporterConfiguration {
    var configuration = OTLPExporterConfiguration()
    configuration.endpoint = endpoint
    configuration.compression = compression
    configuration.timeout = .seconds(5)
    configuration.retry.initialBackoff = .milliseconds(100)
    configuration.retry.maxBackoff = .milliseconds(400)
    configuration.retry.maxElapsed = .seconds(20)
    return configuration
}

/// Runs blocking work (an export that waits on the network) on its own OS thread, so tests never
/// block the cooperative pool that other tests' continuations need.
func offThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.start()
    }
}

/// A self-signed certificate for 127.0.0.1, made with the openssl command line tool (on its own
/// thread: waiting for a child process must not hold a concurrency thread).
func makeSelfSignedCertificate() async throws -> (certificate: String, key: String) {
    try await offThreadThrowing { try makeSelfSignedCertificateBlocking() }
}

private func makeSelfSignedCertificateBlocking() throws -> (certificate: String, key: String) {
    let directory = NSTemporaryDirectory() + "traceline-tls-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let certificate = directory + "/cert.pem", key = directory + "/key.pem"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    process.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    process.standardError = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw ReceiverError(description: "openssl failed") }
    return (certificate, key)
}

/// `offThread` for throwing work.
func offThreadThrowing<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await offThread { Result { try body() } }.get()
}
