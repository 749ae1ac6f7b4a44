import Foundation
import Synchronization
import TracelineTestSupport
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

#if canImport(Glibc)
import Glibc
#endif

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

/// An exporter configuration for fast tests: short backoff, short timeout, and one request at a
/// time on the calling thread, so that `export` answers with the request's own outcome
/// (`OTLPSenderTests` covers the sender threads).
func fastConfiguration(
    endpoint: String, compression: OTLPExporterConfiguration.Compression = .none
) -> OTLPExporterConfiguration {
    var configuration = OTLPExporterConfiguration()
    configuration.endpoint = endpoint
    configuration.compression = compression
    configuration.timeout = .seconds(5)
    configuration.retry.initialBackoff = .milliseconds(100)
    configuration.retry.maxBackoff = .milliseconds(400)
    configuration.retry.maxElapsed = .seconds(20)
    configuration.maxConcurrentRequests = 1
    return configuration
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
    process.arguments = [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
    ]
    process.standardError = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw ReceiverError(description: "openssl failed") }
    return (certificate, key)
}
