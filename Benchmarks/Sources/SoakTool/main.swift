// Soak and fault tool: drives the SDK's export pipeline (tracer → BatchSpanProcessor →
// OTLPHTTPExporter) at a set span rate against Soak/soak_receiver.py, which fails on a schedule,
// then proves the accounting: every created span is exported, dropped or rejected — each one
// counted by the SDK, confirmed span by span by the receiver — and none was accepted twice.
//
//   swift run -c release --package-path Benchmarks SoakTool --scenario a|b|c [options]
//   options: --rate N (spans/s) --duration S --schedule "0=200,10=503:ra=1,20=200" --python PATH
//            --drain S (flush deadline after the run, 60) --json FILE
//   The batch processor and exporter read the standard OTEL_BSP_* / OTEL_EXPORTER_OTLP_* variables.
import Foundation
import Traceline
@_spi(Testing) import TracelineCore
@_spi(Testing) import TracelineOTLP
import Tracing

struct Options {
    var scenario = "custom"
    var rate = 20_000
    var duration = 60
    var schedule: [(at: Int, mode: String)] = [(0, "200")]
    var python = ProcessInfo.processInfo.environment["TRACELINE_TEST_PYTHON"] ?? ".venv/bin/python"
    var receiverScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Soak/soak_receiver.py").standardized.path
    var drain = 60
    var json: String?

    static func parseSchedule(_ text: String) -> [(Int, String)] {
        text.split(separator: ",").compactMap { entry in
            guard let equals = entry.firstIndex(of: "="), let at = Int(entry[..<equals]) else { return nil }
            return (at, String(entry[entry.index(after: equals)...]))
        }
    }

    /// The three runs of the hardening issue.
    mutating func apply(scenario: String) {
        self.scenario = scenario
        switch scenario {
        case "a":  // 10 minutes, the receiver down (connection refused) for 60 s in the middle
            duration = 600
            schedule = [(0, "200"), (270, "refuse"), (330, "200")]
        case "b":  // 503 with Retry-After: 1 for 10 s, then healthy
            duration = 30
            schedule = [(0, "200"), (10, "503:ra=1"), (20, "200")]
        case "c":  // flapping every 5 s through every kind of failure
            duration = 120
            let faults = ["503:ra=1", "429", "refuse", "stall:3", "close", "partial:50"]
            schedule = (0..<(duration / 10)).flatMap { cycle in
                [(cycle * 10, "200"), (cycle * 10 + 5, faults[cycle % faults.count])]
            }
        default:
            say("unknown scenario \(scenario) (a, b or c)")
            exit(2)
        }
    }
}

/// Writes a line unbuffered, so progress shows as it happens, also in a pipe or a file.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

var options = Options()
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    let value = { () -> String in
        guard let next = arguments.popFirst() else { say("\(argument) needs a value"); exit(2) }
        return next
    }
    switch argument {
    case "--scenario": options.apply(scenario: value())
    case "--rate": options.rate = Int(value()) ?? options.rate
    case "--duration": options.duration = Int(value()) ?? options.duration
    case "--schedule": options.schedule = Options.parseSchedule(value())
    case "--python": options.python = value()
    case "--drain": options.drain = Int(value()) ?? options.drain
    case "--json": options.json = value()
    default: say("unknown option \(argument)"); exit(2)
    }
}

let maxSeq = options.rate * options.duration + options.rate
let receiver = try SoakReceiver(python: options.python, script: options.receiverScript, maxSeq: maxSeq)
defer { receiver.stop() }

// The pipeline under test, configured as a user would: OTEL_* variables, endpoint overridden.
var configuration = TracelineConfiguration.fromEnvironment()
for warning in configuration.warnings { say("configuration: \(warning)") }
configuration.otlp.endpoint = "http://127.0.0.1:\(receiver.dataPort)/v1/traces"
let exporter = OTLPHTTPExporter(configuration: configuration.otlp)
let processor = BatchSpanProcessor(exporter: exporter, configuration: configuration.batch)
let provider = TracerProvider(
    resource: Resource(attributes: ["service.name": "soak"]), sampler: AlwaysOnSampler(),
    processors: [processor])
let tracer = provider.tracer()

say(
    "soak \(options.scenario): \(options.rate) spans/s for \(options.duration) s; queue \(configuration.batch.maxQueueSize), "
        + "batch \(configuration.batch.maxExportBatchSize), retry buffer \(configuration.otlp.retryBufferBytes) bytes, "
        + "compression \(configuration.otlp.compression.rawValue); schedule "
        + options.schedule.map { "\($0.at)s=\($0.mode)" }.joined(separator: " "))

/// Creates spans at the set rate on its own thread: each carries its sequence number (`soak.seq`,
/// which the receiver counts) and the attributes of a typical server span.
final class Generator: @unchecked Sendable {
    let rate: Int
    let duration: Int
    let tracer: TracelineTracer
    let created = LockedCounter()
    init(rate: Int, duration: Int, tracer: TracelineTracer) {
        self.rate = rate
        self.duration = duration
        self.tracer = tracer
    }

    let finished = LockedCounter()

    func start() { Thread { self.run() }.start() }
    var isFinished: Bool { finished.load() == 1 }

    func run() {
        let start = ContinuousClock.now
        let total = rate * duration
        var seq = 0
        while seq < total {
            let elapsed = ContinuousClock.now - start
            let due = min(
                total,
                Int(Double(rate) * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            )
            while seq < due {
                let span = tracer.startSpan("GET /api/items/{id}", context: .topLevel, ofKind: .server)
                span.attributes["soak.seq"] = seq
                span.attributes["http.request.method"] = "GET"
                span.attributes["url.path"] = "/api/items/42"
                span.attributes["http.response.status_code"] = 200
                span.end()
                seq += 1
            }
            created.store(seq)
            usleep(1000)
        }
        created.store(seq)
        finished.store(1)
    }
}

/// A counter the generator publishes and the monitor reads (a lock: read once a second).
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func store(_ new: Int) { lock.lock(); value = new; lock.unlock() }
    func load() -> Int { lock.lock(); defer { lock.unlock() }; return value }
}

let generator = Generator(rate: options.rate, duration: options.duration, tracer: tracer)
let started = ContinuousClock.now
generator.start()

// The fault schedule and a progress line every 10 s.
var pending = options.schedule.sorted { $0.at < $1.at }
var mode = "200"
var second = 0
var peakBufferedBytes = 0, peakBufferedSpans = 0  // sampled every second
while second < options.duration {
    while let next = pending.first, next.at <= second {
        try receiver.setMode(next.mode)
        mode = next.mode
        pending.removeFirst()
    }
    let buffered = exporter.statistics
    if buffered.bytesBuffered > peakBufferedBytes {
        (peakBufferedBytes, peakBufferedSpans) = (buffered.bytesBuffered, buffered.spansBuffered)
    }
    if second % 10 == 0 {
        let p = processor.statistics, e = exporter.statistics, memory = memoryUsage()
        say(
            String(
                format:
                    "t=%3ds mode=%-9@ created=%9d exported=%9d dropped(queue)=%8d dropped(export)=%8d rejected=%6d queue=%5d buffered=%7d (%.1f MiB) retries=%4d breaker=%@ rss=%.1fMiB",
                second, mode as NSString, generator.created.load(), e.spansExported, p.droppedQueueFull, e.spansDropped,
                e.spansRejected, p.queueSize, e.spansBuffered, Double(e.bytesBuffered) / 1_048_576, e.retries,
                exporter.breaker.currentState.rawValue as NSString, Double(memory.current) / 1_048_576))
    }
    second += 1
    try await Task.sleep(until: started + .seconds(second), clock: .continuous)
}
while !generator.isFinished { try await Task.sleep(for: .milliseconds(10)) }
let created = generator.created.load()

// Drain: the receiver healthy, then a shutdown with the configured deadline.
try receiver.setMode("200")
let flush = await provider.shutdown(deadline: .now + .seconds(options.drain))
let p = processor.statistics, e = exporter.statistics
let memory = memoryUsage()
let stats = try receiver.statistics(created: created)
let perSeq = stats["created"] as? [String: Any] ?? [:]
func number(_ dictionary: [String: Any], _ key: String) -> Int { (dictionary[key] as? NSNumber)?.intValue ?? -1 }

// The identity is checked from the processor's books alone: they include what the exporter's
// retry buffer delivered or dropped after taking a batch over.
let exported = p.exported
let rejected = p.rejected
let droppedQueue = p.droppedQueueFull + p.droppedAfterShutdown
let droppedExport = p.failed
let droppedShutdown = p.discardedAtShutdown
let dropped = droppedQueue + droppedExport + droppedShutdown
let acceptedUnique = number(perSeq, "accepted_once") + number(perSeq, "accepted_twice_or_more")
let duplicates = number(perSeq, "accepted_twice_or_more")
let neverDelivered = number(perSeq, "never_delivered")
let receiverRejected = number(stats, "rejected_spans")

var failures: [String] = []
if exported + dropped + rejected != created {
    failures.append("exported + dropped + rejected = \(exported + dropped + rejected) ≠ created \(created)")
}
if duplicates != 0 { failures.append("\(duplicates) spans accepted twice") }
if acceptedUnique != exported {
    failures.append("receiver accepted \(acceptedUnique) distinct spans, SDK counted \(exported) exported")
}
if receiverRejected != rejected { failures.append("receiver rejected \(receiverRejected), SDK counted \(rejected)") }
if neverDelivered != dropped {
    failures.append("receiver never got \(neverDelivered) spans, SDK counted \(dropped) dropped")
}
if p.pendingInExporter != 0 || p.inExport != 0 || p.queueSize != 0 {
    failures.append("after shutdown: \(p.pendingInExporter) pending in the exporter, \(p.queueSize) queued")
}
if (e.spansExported, e.spansRejected, e.spansDropped) != (exported, rejected, droppedExport) {
    failures.append(
        "exporter counted exported \(e.spansExported) rejected \(e.spansRejected) dropped \(e.spansDropped); processor \(exported) \(rejected) \(droppedExport)"
    )
}
if provider.endedSpanCount != created {
    failures.append("provider ended \(provider.endedSpanCount) spans, generator created \(created)")
}

let elapsed = ContinuousClock.now - started
let summary: [String: Any] = [
    "scenario": options.scenario, "rate": options.rate, "duration_s": options.duration,
    "queue_size": configuration.batch.maxQueueSize, "batch_size": configuration.batch.maxExportBatchSize,
    "retry_buffer_bytes": configuration.otlp.retryBufferBytes, "compression": configuration.otlp.compression.rawValue,
    "dropped_buffer_full": e.spansDroppedBufferFull, "buffered_bytes_peak_sampled": peakBufferedBytes,
    "buffered_spans_at_peak_sample": peakBufferedSpans,
    "created": created, "exported": exported, "rejected": rejected, "dropped": dropped,
    "dropped_queue_full": droppedQueue, "dropped_export": droppedExport, "dropped_at_shutdown": droppedShutdown,
    "requests": e.requests, "retries": e.retries, "breaker_rejections": e.breakerRejections,
    "breaker_opened": exporter.breaker.statistics.timesOpened,
    "receiver_requests": number(stats, "requests"), "receiver_received_spans": number(stats, "received_spans"),
    "receiver_accepted_distinct": acceptedUnique, "receiver_duplicates": duplicates,
    "receiver_rejected": receiverRejected,
    "receiver_never_delivered": neverDelivered,
    "peak_rss_mib": Double(memory.peak) / 1_048_576, "flush_complete": flush.isComplete,
    "wall_s": Double(elapsed.components.seconds), "identity_holds": failures.isEmpty,
]
say(
    """
    result \(options.scenario): created \(created) = exported \(exported) + dropped \(dropped) (queue full \(droppedQueue), \
    export \(droppedExport), shutdown \(droppedShutdown)) + rejected \(rejected)
      requests \(e.requests), retries \(e.retries), breaker rejections \(e.breakerRejections), retry buffer full \(e.spansDroppedBufferFull); receiver: \(acceptedUnique) distinct \
    accepted, \(duplicates) duplicates, \(receiverRejected) rejected, \(neverDelivered) never delivered
      peak RSS \(String(format: "%.1f", Double(memory.peak) / 1_048_576)) MiB; flush \(flush)
    """)
if let path = options.json, let data = try? JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]) {
    try data.write(to: URL(fileURLWithPath: path))
}
if failures.isEmpty {
    say("PASS: the accounting identity holds, span by span, and no span was accepted twice")
} else {
    for failure in failures { say("FAIL: \(failure)") }
    receiver.stop()
    exit(1)
}
