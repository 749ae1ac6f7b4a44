// Compiled only with the package's `Hummingbird` trait.
#if Hummingbird
import Foundation
import Hummingbird
import Logging
import Testing
import Traceline
import TracelineHummingbird
import TracelineTestSupport
import Tracing

@Suite(.serialized, .timeLimit(.minutes(2))) struct TracePagesTests {
    /// A store holding one three-level trace with hostile names and attributes, and the trace's ID.
    func makeStore() -> (TraceStore, SpanMetricsProcessor, TraceID) {
        let store = TraceStore()
        let metrics = SpanMetricsProcessor()
        let tracer = TracerProvider(
            resource: Resource(attributes: ["service.name": "pages-test"]), processors: [metrics, store]
        ).tracer()
        var context = ServiceContext.topLevel
        context.correlationID = CorrelationID("corr-page-1")
        let root = tracer.startSpan("GET /orders", context: context, ofKind: .server)
        root.attributes["evil"] = "<script>alert('attr')</script>"
        root.attributes["db.password"] = "password=hunter2"
        let child = tracer.startSpan("<img src=x onerror=alert(1)>", context: root.context, ofKind: .client)
        let grandchild = tracer.startSpan("GET thread", context: child.context, ofKind: .internal)
        grandchild.addEvent(SpanEvent(name: "cache miss"))
        grandchild.end()
        child.setStatus(SpanStatus(code: .error, message: "boom"))
        child.end()
        root.end()
        return (store, metrics, root.context.spanContext!.traceID)
    }

    func withServer(
        _ store: TraceStore, _ metrics: SpanMetricsProcessor, history: SpanMetricsHistory? = nil,
        _ body: (Int) async throws -> Void
    ) async throws {
        let router = Router()
        router.addTracePages(
            store: store, spanMetrics: metrics, history: history,
            options: .init(jaegerURL: "http://localhost:16686", serviceName: "pages-test"))
        let (ports, port) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { port.yield($0.localAddress?.port ?? 0) },
            logger: Logger(label: "pages", factory: { _ in SwiftLogNoOpLogHandler() }))
        let server = Task { try await app.run() }
        defer { server.cancel() }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw CancellationError() }
        try await body(bound)
    }

    @Test("pages: summary, trace waterfall, search by correlation ID; every value escaped, secrets redacted")
    func pages() async throws {
        let (store, metrics, traceID) = makeStore()
        try await withServer(store, metrics) { port in
            let base = "http://127.0.0.1:\(port)/debug/traces"
            let summary = try await httpGet(base)
            #expect(summary.status == 200)
            #expect(summary.contentType == "text/html; charset=utf-8")
            #expect(summary.body.contains("<table id=\"summary\">"))
            #expect(summary.body.contains("/debug/traces/trace/\(traceID)"))
            let trace = try await httpGet("\(base)/trace/\(traceID)")
            #expect(trace.status == 200)
            #expect(trace.body.components(separatedBy: "class=\"span-bar").count - 1 == 3)
            #expect(trace.body.contains("corr-page-1"))
            #expect(trace.body.contains("http://localhost:16686/trace/\(traceID)"))
            for page in [summary.body, trace.body] {
                #expect(!page.contains("<script>alert"), "attribute rendered inert")
                #expect(!page.contains("<img src=x"), "span name rendered inert")
                #expect(!page.contains("hunter2"), "secrets redacted")
            }
            #expect(trace.body.contains("&lt;script&gt;alert(&#39;attr&#39;)&lt;/script&gt;"))
            let search = try await httpGet("\(base)/search?q=corr-page-1")
            #expect(search.body.contains("/debug/traces/trace/\(traceID)"))
            let missing = try await httpGet("\(base)/trace/0123456789abcdef0123456789abcdef")
            #expect(missing.status == 404)
            let hostile = try await httpGet("\(base)/search?q=%3Cscript%3Ealert(2)%3C/script%3E")
            #expect(!hostile.body.contains("<script>alert(2)"))
        }
    }

    /// Headless Chromium (Debian's `chromium`) renders the pages; the DOM it built is checked and a
    /// screenshot is saved under `.build/artifacts/`.
    @Test("browser: Chromium renders the summary and the waterfall with the spans nested")
    func browser() async throws {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        let browser = try #require(chromium, "Chromium is not installed (Scripts/setup.sh installs Debian's chromium)")
        let (store, metrics, traceID) = makeStore()
        // Five one-second intervals of history for the span names of the stored trace.
        let history = SpanMetricsHistory(processor: metrics, configuration: .init(interval: .seconds(1), points: 5))
        history.sample()
        let tracer = TracerProvider(
            resource: Resource(attributes: ["service.name": "pages-test"]), processors: [metrics]
        ).tracer()
        for interval in 0..<5 {
            for call in 0..<(3 + interval * 2) {
                let span = tracer.startSpan("GET /orders", context: .topLevel, ofKind: .server)
                if call == 0 && interval == 3 { span.setStatus(SpanStatus(code: .error)) }
                span.end()
            }
            history.sample()
        }
        try await withServer(store, metrics, history: history) { port in
            let url = "http://127.0.0.1:\(port)/debug/traces/trace/\(traceID)"
            let dom = try await runBrowser(browser, ["--dump-dom", url])
            let bars = dom.components(separatedBy: "class=\"span-bar").count - 1
            #expect(bars == 3, "three span bars in the waterfall")
            #expect(
                dom.contains("data-depth=\"0\"") && dom.contains("data-depth=\"1\"") && dom.contains("data-depth=\"2\"")
            )
            // The nesting: each bar's parent is the bar one level up.
            let ids = dom.matches(of: /data-span-id="([0-9a-f]{16})" data-parent-id="([0-9a-f]*)" data-depth="(\d)"/)
                .map {
                    (String($0.1), String($0.2), Int($0.3)!)
                }
            #expect(ids.count == 3)
            if ids.count == 3 {
                #expect(ids[0].2 == 0 && ids[1].1 == ids[0].0 && ids[2].1 == ids[1].0, "root → child → grandchild")
            }
            #expect(!dom.contains("<img src=\"x\""), "no element was injected")
            let summaryDOM = try await runBrowser(browser, ["--dump-dom", "http://127.0.0.1:\(port)/debug/traces"])
            #expect(summaryDOM.contains("id=\"summary\""))
            // The history: a row for the span name with three sparklines of five points each.
            let row = try #require(
                summaryDOM.firstMatch(of: /<tr data-span-name="GET \/orders">.*?<\/tr>/.dotMatchesNewlines()),
                "a history row for GET /orders")
            let lines = row.0.matches(of: /<polyline[^>]*points="([^"]*)"/).map { $0.1.split(separator: " ").count }
            #expect(lines == [5, 5, 5], "three sparklines of five points: \(row.0)")
            #expect(row.0.contains("660.0</span>"), "the last interval: 11 calls in 1 s, 660 per minute: \(row.0)")
            let artifacts = TestEnvironment.root.appendingPathComponent(".build/artifacts")
            try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
            for (name, page) in [
                ("trace-page.png", url), ("trace-history.png", "http://127.0.0.1:\(port)/debug/traces"),
            ] {
                let screenshot = artifacts.appendingPathComponent(name).path
                try? FileManager.default.removeItem(atPath: screenshot)
                _ = try await runBrowser(browser, ["--screenshot=\(screenshot)", "--window-size=1400,900", page])
                let size = (try? FileManager.default.attributesOfItem(atPath: screenshot)[.size] as? Int) ?? 0
                #expect(size > 10_000, "a screenshot was saved at \(screenshot)")
            }
        }
    }
}

/// Runs headless Chromium off the concurrency pool, killed after 60 s; returns its stdout.
func runBrowser(_ path: String, _ arguments: [String]) async throws -> String {
    try await offThreadThrowing {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        let profile = NSTemporaryDirectory() + "chromium-\(UUID().uuidString)"
        process.arguments =
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--user-data-dir=\(profile)", "--virtual-time-budget=3000",
            ] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: watchdog)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        try? FileManager.default.removeItem(atPath: profile)
        return String(decoding: data, as: UTF8.self)
    }
}
#endif
