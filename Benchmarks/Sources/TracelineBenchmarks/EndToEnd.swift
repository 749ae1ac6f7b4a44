// End-to-end delivery: spans produced as fast as one task can, exported with default batch
// settings to a local OTLP/HTTP receiver on 127.0.0.1; counts what the receiver decoded during a
// fixed window, and the process's peak resident memory. Each peer runs in its own process
// (run.sh starts them one after the other against the same receiver).

import Logging
import OTel
import ServiceLifecycle
import Traceline
@_spi(Testing) import TracelineCore
@_spi(Testing) import TracelineOTLP
import Tracing

#if canImport(Glibc)
import Glibc
#endif

/// Reads "requests spans bytes" from the receiver's stats file.
func receiverTotals(_ path: String) -> (requests: Int, spans: Int, bytes: Int) {
    guard let file = fopen(path, "r") else { return (0, 0, 0) }
    defer { fclose(file) }
    var requests = 0, spans = 0, bytes = 0
    _ = withUnsafeMutablePointer(to: &requests) { r in
        withUnsafeMutablePointer(to: &spans) { s in
            withUnsafeMutablePointer(to: &bytes) { b in
                vfscanfHelper(file, r, s, b)
            }
        }
    }
    return (requests, spans, bytes)
}

private func vfscanfHelper(
    _ file: UnsafeMutablePointer<FILE>, _ r: UnsafeMutablePointer<Int>, _ s: UnsafeMutablePointer<Int>,
    _ b: UnsafeMutablePointer<Int>
) -> Int32 {
    var buffer = [CChar](repeating: 0, count: 128)
    guard fgets(&buffer, 128, file) != nil else { return 0 }
    let parts = String(cString: buffer).split(separator: " ").compactMap { Int($0.filter(\.isNumber)) }
    guard parts.count == 3 else { return 0 }
    r.pointee = parts[0]; s.pointee = parts[1]; b.pointee = parts[2]
    return 3
}

/// Peak resident set size (VmHWM) in KiB.
func peakResidentKiB() -> Int {
    guard let file = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, file) != nil {
        let text = String(cString: line)
        if text.hasPrefix("VmHWM:") { return Int(text.filter(\.isNumber)) ?? 0 }
    }
    return 0
}

@inline(never)
func produce<T: Tracer>(_ tracer: T, until deadline: ContinuousClock.Instant) -> Int {
    var created = 0
    while ContinuousClock.now < deadline {
        for index in 0..<256 {
            tracer.withSpan("chat kimi-k2", context: .topLevel, ofKind: .client) { span in
                span.attributes["gen_ai.provider.name"] = "moonshot_ai"
                span.attributes["gen_ai.request.model"] = "kimi-k2"
                span.attributes["http.response.status_code"] = 200
                span.attributes["iteration"] = index
                span.addEvent(SpanEvent(name: "gen_ai.content.completion", attributes: ["tokens": 42]))
            }
        }
        created += 256
    }
    return created
}

func runEndToEnd(peer: String, endpoint: String, statsFile: String, seconds: Int) async throws {
    let window = Duration.seconds(seconds)
    var created = 0
    switch peer {
    case "traceline":
        var configuration = OTLPExporterConfiguration()
        configuration.endpoint = endpoint
        let exporter = OTLPHTTPExporter(
            configuration: configuration, logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        let processor = BatchSpanProcessor(
            exporter: exporter, logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        let provider = TracerProvider(
            resource: Resource(attributes: ["service.name": "bench"]), processors: [processor])
        let before = receiverTotals(statsFile)
        created = produce(provider.tracer(), until: .now + window)
        let after = receiverTotals(statsFile)
        let stats = processor.statistics
        let exporterStats = exporter.statistics
        report(
            peer: "Traceline", created: created, delivered: after.spans - before.spans, seconds: seconds,
            extra:
                "dropped at queue \(stats.droppedQueueFull), exporter dropped \(exporterStats.spansDropped), requests \(exporterStats.requests)"
        )
        _ = await provider.shutdown(deadline: .now + .seconds(10))
    case "swift-otel":
        var configuration = OTel.Configuration.default
        configuration.serviceName = "bench"
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.endpoint = endpoint
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        configuration.diagnosticLogger = .custom(Logger(label: "otel") { _ in SwiftLogNoOpLogHandler() })
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        let service = Task { try await backend.service.run() }
        try await Task.sleep(for: .milliseconds(200))
        let before = receiverTotals(statsFile)
        created = produce(backend.factory, until: .now + window)
        let after = receiverTotals(statsFile)
        report(
            peer: "swift-otel 1.6.0", created: created, delivered: after.spans - before.spans, seconds: seconds,
            extra: "")
        service.cancel()
    case "receiver-limit":
        // The receiver's own ceiling: one ready 512-span batch posted back to back, no span production.
        var configuration = OTLPExporterConfiguration()
        configuration.endpoint = endpoint
        let exporter = OTLPHTTPExporter(
            configuration: configuration, logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        let batch = makeEncodingBatch()
        let before = receiverTotals(statsFile)
        let deadline = ContinuousClock.now + window
        while ContinuousClock.now < deadline {
            _ = exporter.export(batch, deadline: .now + .seconds(10))
            created += batch.count
        }
        let after = receiverTotals(statsFile)
        report(
            peer: "receiver ceiling", created: created, delivered: after.spans - before.spans, seconds: seconds,
            extra: "pre-built batches posted back to back")
    default:
        print("unknown peer \(peer)")
    }
}

func report(peer: String, created: Int, delivered: Int, seconds: Int, extra: String) {
    print(
        "| \(pad(peer, 17)) | \(pad(String(created / seconds), 13)) | \(pad(String(delivered / seconds), 15)) | \(pad(String(peakResidentKiB() / 1024), 13)) | \(extra)"
    )
}
