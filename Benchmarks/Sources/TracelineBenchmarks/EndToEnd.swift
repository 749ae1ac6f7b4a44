// End-to-end delivery: spans produced as fast as one task can (`--yield`: yielding after each
// chunk of 256; `--rate N`: paced at N spans/s, sleeping between chunks), exported with default batch settings to a local OTLP/HTTP
// receiver on 127.0.0.1; counts what the receiver decoded during a fixed window and after
// shutdown, and the process's peak resident memory. Each peer runs in its own process
// (run.sh starts them one after the other against the same receiver).

import BenchmarkSupport
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

/// CPU seconds (user + system) this process's threads have used, summed by thread name.
func cpuSecondsByThread() -> [String: Double] {
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    var totals: [String: Double] = [:]
    guard let directory = opendir("/proc/self/task") else { return totals }
    defer { closedir(directory) }
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) {
            String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        guard name.first?.isNumber == true, let file = fopen("/proc/self/task/\(name)/stat", "r") else { continue }
        var line = [CChar](repeating: 0, count: 1024)
        let read = fgets(&line, 1024, file)
        fclose(file)
        guard read != nil else { continue }
        let text = String(cString: line)
        // "pid (comm) state ..." : comm may hold spaces; the fields after the last ')' are fixed.
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")") else { continue }
        let comm = String(text[text.index(after: open)..<close])
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
        let group =
            comm.hasPrefix("traceline-otlp")
            ? "senders" : comm.hasPrefix("traceline-bsp") ? "export thread" : "producer and rest"
        totals[group, default: 0] += (user + system) / ticks
    }
    return totals
}

func describeCPU(_ totals: [String: Double]) -> String {
    totals.sorted { $0.key < $1.key }.map { "\($0.key) \(($0.value * 10).rounded() / 10)" }.joined(separator: ", ")
}

/// Busy and total jiffies of the whole machine (`/proc/stat`, all CPUs).
func machineCPUTicks() -> (busy: Int, total: Int) {
    guard let file = fopen("/proc/stat", "r") else { return (0, 0) }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 512)
    guard fgets(&line, 512, file) != nil else { return (0, 0) }
    // "cpu user nice system idle iowait irq softirq steal ..."
    let fields = String(cString: line).split(separator: " ").dropFirst().compactMap { Int($0) }
    guard fields.count >= 8 else { return (0, 0) }
    let total = fields.prefix(8).reduce(0, +)
    return (total - fields[3] - fields[4], total)
}

/// The machine's busy share since `start`, in percent (the receiver's and every other process's work included).
func machineBusyPercent(since start: (busy: Int, total: Int)) -> Int {
    let now = machineCPUTicks()
    let total = now.total - start.total
    return total > 0 ? (now.busy - start.busy) * 100 / total : 0
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
func produce<T: Tracer>(
    _ tracer: T, until deadline: ContinuousClock.Instant, rate: Int = 0, yielding: Bool = false
) async -> Int {
    var created = 0
    let start = ContinuousClock.now
    while ContinuousClock.now < deadline {
        if rate > 0 {
            let due = start + .nanoseconds(Int64(Double(created) / Double(rate) * 1e9))
            if due > .now { try? await Task.sleep(until: due, clock: .continuous) }
        } else if yielding {
            await Task.yield()
        }
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

func runEndToEnd(
    peer: String, endpoint: String, statsFile: String, seconds: Int, rate: Int = 0, yielding: Bool = false,
    senders: Int = 2, queueSize: Int = 2048, enqueueWaitMilliseconds: Int = 0
) async throws {
    let window = Duration.seconds(seconds)
    var created = 0
    switch peer {
    case "traceline":
        var configuration = OTLPExporterConfiguration()
        configuration.endpoint = endpoint
        configuration.maxConcurrentRequests = senders
        let exporter = OTLPHTTPExporter(
            configuration: configuration, logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        let processor = BatchSpanProcessor(
            exporter: exporter,
            configuration: .init(maxQueueSize: queueSize, maxEnqueueWait: .milliseconds(enqueueWaitMilliseconds)),
            logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        let provider = TracerProvider(
            resource: Resource(attributes: ["service.name": "bench"]), processors: [processor])
        let before = receiverTotals(statsFile)
        let machineBefore = machineCPUTicks()
        created = await produce(provider.tracer(), until: .now + window, rate: rate, yielding: yielding)
        let after = receiverTotals(statsFile)
        let cpu = describeCPU(cpuSecondsByThread())
        let busy = machineBusyPercent(since: machineBefore)
        _ = await provider.shutdown(deadline: .now + .seconds(10))
        let final = receiverTotals(statsFile)
        let stats = processor.statistics
        let exporterStats = exporter.statistics
        report(
            peer:
                "Traceline (\(senders) sender\(senders == 1 ? "" : "s")\(queueSize == 2048 ? "" : ", queue \(queueSize)")\(enqueueWaitMilliseconds == 0 ? "" : ", end() waits ≤ \(enqueueWaitMilliseconds) ms"))",
            created: created,
            delivered: after.spans - before.spans, seconds: seconds,
            extra:
                "dropped at queue \(stats.droppedQueueFull), end() waited \(stats.enqueueWaits) times, exporter dropped \(exporterStats.spansDropped), requests \(exporterStats.requests), sender waits \(exporterStats.senderWaits), delivered by shutdown \(final.spans - before.spans) of \(created); CPU s in the window: \(cpu); machine busy \(busy) % in the window"
        )
    case "swift-otel":
        let backend = try OTel.makeTracingBackend(configuration: swiftOTelConfiguration(otlpEndpoint: endpoint))
        let service = Task { try await backend.service.run() }
        try await Task.sleep(for: .milliseconds(200))
        let before = receiverTotals(statsFile)
        created = await produce(backend.factory, until: .now + window, rate: rate, yielding: yielding)
        let after = receiverTotals(statsFile)
        service.cancel()
        try? await Task.sleep(for: .seconds(3))  // what its cancelled service still delivers
        let final = receiverTotals(statsFile)
        report(
            peer: "swift-otel 1.6.0", created: created, delivered: after.spans - before.spans, seconds: seconds,
            extra: "delivered by shutdown \(final.spans - before.spans) of \(created)")
    case "receiver-limit":
        // The receiver's own ceiling: one ready 512-span batch posted back to back, no span
        // production, over `senders` connections.
        var configuration = OTLPExporterConfiguration()
        configuration.endpoint = endpoint
        configuration.maxConcurrentRequests = senders
        let exporter = OTLPHTTPExporter(
            configuration: configuration, logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        let batch = makeEncodingBatch(count: 512)
        let before = receiverTotals(statsFile)
        let deadline = ContinuousClock.now + window
        while ContinuousClock.now < deadline {
            _ = exporter.export(batch, deadline: .now + .seconds(10))
            created += batch.count
        }
        let after = receiverTotals(statsFile)
        exporter.shutdown(deadline: .now + .seconds(10))
        report(
            peer: "receiver ceiling (\(senders))", created: created, delivered: after.spans - before.spans,
            seconds: seconds, extra: "pre-built batches posted back to back over \(senders) connection(s)")
    default:
        print("unknown peer \(peer)")
    }
}

func report(peer: String, created: Int, delivered: Int, seconds: Int, extra: String) {
    print(
        "| \(pad(peer, 17)) | \(pad(String(created / seconds), 13)) | \(pad(String(delivered / seconds), 15)) | \(pad(String(peakResidentKiB() / 1024), 13)) | \(extra)"
    )
}
