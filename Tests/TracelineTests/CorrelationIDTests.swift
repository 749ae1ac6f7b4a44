import Logging
import Synchronization
import Testing
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

@Suite struct CorrelationIDTests {
    @Test(
        "valid IDs are accepted as they are",
        arguments: [
            "order-42", "a", "550e8400-e29b-41d4-a716-446655440000", "user@host:8080/path+x=y_z.v",
            String(repeating: "a", count: 128),
        ])
    func accepted(value: String) {
        let context = extract([("X-Correlation-ID", value)])
        #expect(context.correlationID?.value == value)
    }

    @Test("header name is case-insensitive", arguments: ["X-Correlation-ID", "x-correlation-id", "X-CORRELATION-ID"])
    func caseInsensitive(name: String) {
        #expect(extract([(name, "abc")]).correlationID?.value == "abc")
    }

    @Test(
        "hostile values are replaced by a generated ID",
        arguments: [
            "abc\r\nX-Injected: 1", "abc\n", "tab\there", "nul\u{0}byte", "esc\u{1b}[31m",
            String(repeating: "a", count: 129), String(repeating: "b", count: 10_000),
            "ünïcödé", "emoji😀", "space in", "semi;colon", "<script>", "\"quoted\"", "",
        ])
    func rejected(value: String) throws {
        let propagator = CorrelationIDPropagator()
        var context = ServiceContext.topLevel
        CompositePropagator([propagator]).extract(
            HeaderList([("X-Correlation-ID", value)]), into: &context, using: HeaderListExtractor())
        let id = try #require(context.correlationID)
        #expect(id.value != value)
        #expect(id.value.count == 36, "a UUID-form replacement")
        #expect(propagator.rejectedCount == 1)
        #expect(propagator.generatedCount == 1)
    }

    @Test("a rejected value is never logged raw")
    func rejectedNotLogged() {
        let recorder = LogRecorder()
        let logger = Logger(label: "test") { _ in recorder.handler() }
        let propagator = CorrelationIDPropagator(logger: logger)
        var context = ServiceContext.topLevel
        let hostile = "SECRET-TOKEN\r\nInjected: yes"
        CompositePropagator([propagator]).extract(
            HeaderList([("x-correlation-id", hostile)]), into: &context, using: HeaderListExtractor())
        let lines = recorder.lines
        #expect(!lines.isEmpty, "the rejection is reported")
        #expect(!lines.joined().contains("SECRET-TOKEN"))
        #expect(lines.joined().contains("forbidden") || lines.joined().contains("too long"))
    }

    @Test("missing ID is generated; existing context ID is kept")
    func missing() {
        let context = extract([])
        #expect(context.correlationID != nil)
        var existing = ServiceContext.topLevel
        existing.correlationID = CorrelationID("kept")
        CompositePropagator([CorrelationIDPropagator()]).extract(
            HeaderList(), into: &existing, using: HeaderListExtractor())
        #expect(existing.correlationID?.value == "kept")
    }

    @Test("generated IDs are UUID v4 and unique")
    func generated() {
        var seen = Set<String>()
        for _ in 0..<1000 {
            let id = CorrelationID.generate().value
            #expect(id.count == 36)
            let characters = Array(id)
            #expect(characters[14] == "4")
            #expect("89ab".contains(characters[19]))
            #expect(CorrelationID(id) != nil)
            seen.insert(id)
        }
        #expect(seen.count == 1000)
    }

    @Test("every span in the context carries the ID, and inject sends it on")
    func spansAndInject() {
        let (_, tracer, exporter) = makeTestPipeline()
        let context = extract([("X-Correlation-ID", "req-7")])
        let parent = tracer.startSpan("parent", context: context, ofKind: .server)
        let child = tracer.startSpan("child", context: parent.context, ofKind: .client)
        let outgoing = inject(child.context)
        child.end()
        parent.end()
        #expect(outgoing.combined("x-correlation-id") == "req-7")
        #expect(exporter.spans.count == 2)
        for span in exporter.spans {
            #expect(span.attributes.get("correlation_id") == .string("req-7"))
        }
        // Application code reads it to echo it in a response header.
        #expect(child.context.correlationID?.value == "req-7")
    }
}

/// A swift-log handler that records rendered lines, for asserting on what was logged.
final class LogRecorder: Sendable {
    private let storage = LockedValue<[String]>([])
    var lines: [String] { storage.withLock { $0 } }

    func handler(metadataProvider: Logger.MetadataProvider? = nil) -> RecordingHandler {
        RecordingHandler(recorder: self, metadataProvider: metadataProvider)
    }

    struct RecordingHandler: LogHandler {
        let recorder: LogRecorder
        var metadataProvider: Logger.MetadataProvider?
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        init(recorder: LogRecorder, metadataProvider: Logger.MetadataProvider?) {
            self.recorder = recorder
            self.metadataProvider = metadataProvider
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var all = metadata
            if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
            if let extra = event.metadata { all.merge(extra) { $1 } }
            let rendered = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            recorder.storage.withLock { $0.append("\(event.level) \(event.message) \(rendered)") }
        }
    }
}
