// Compiled only with the package's `Hummingbird` trait.
#if Hummingbird
import HTTPTypes
import Hummingbird
import Traceline
import Tracing

/// Options for ``RouterMethods/addTracePages(store:spanMetrics:history:options:)``.
public struct TracePagesOptions: Sendable {
    /// Where the pages live; default `/debug/traces`.
    public var prefix: String = "/debug/traces"
    /// When set (e.g. `http://localhost:16686`), every trace links to it.
    public var jaegerURL: String?
    /// Shown in the page titles.
    public var serviceName: String = ""

    public init(prefix: String = "/debug/traces", jaegerURL: String? = nil, serviceName: String = "") {
        self.prefix = prefix
        self.jaegerURL = jaegerURL
        self.serviceName = serviceName
    }
}

extension RouterMethods {
    /// Serves the built-in trace pages (zPages-style) from `store`: a summary per span name (rate,
    /// errors, p50/p95/p99 from `spanMetrics`, a latency chart), the per-interval history of rate,
    /// error % and p95 per span name from `history`, recent, slowest and error traces, a waterfall
    /// per trace, and search by trace ID or correlation ID. Server-rendered HTML with
    /// inline SVG and a few lines of inline JavaScript; no external assets. Every rendered value is
    /// escaped and passed through the secret redactor. Off unless you call this: add it to an
    /// internal listener in production.
    @discardableResult
    public func addTracePages(
        store: TraceStore, spanMetrics: SpanMetricsProcessor? = nil, history: SpanMetricsHistory? = nil,
        options: TracePagesOptions = TracePagesOptions()
    ) -> Self {
        let renderer = TracePageRenderer(store: store, spanMetrics: spanMetrics, history: history, options: options)
        let prefix = options.prefix.hasSuffix("/") ? String(options.prefix.dropLast()) : options.prefix
        get(RouterPath(prefix)) { _, _ in htmlResponse(renderer.summaryPage()) }
        get(RouterPath(prefix + "/trace/:id")) { _, context -> Response in
            guard let id = context.parameters.get("id"), let page = renderer.tracePage(id) else {
                return htmlResponse(renderer.notFoundPage(context.parameters.get("id") ?? ""), status: .notFound)
            }
            return htmlResponse(page)
        }
        get(RouterPath(prefix + "/search")) { request, _ -> Response in
            let query = request.uri.queryParameters.get("q") ?? ""
            if let location = renderer.directLink(for: query) {
                var headers = HTTPFields()
                headers[.location] = location
                return Response(status: .seeOther, headers: headers)
            }
            return htmlResponse(renderer.searchPage(query))
        }
        return self
    }
}

private func htmlResponse(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "text/html; charset=utf-8"
    headers[.cacheControl] = "no-store"
    // The pages carry their own inline script and style only.
    headers[HTTPField.Name("Content-Security-Policy")!] =
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:"
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
}

/// Renders the trace pages. Every value that comes from a span passes through ``escape(_:)``.
struct TracePageRenderer: Sendable {
    let store: TraceStore
    let spanMetrics: SpanMetricsProcessor?
    let history: SpanMetricsHistory?
    let options: TracePagesOptions

    var prefix: String { options.prefix.hasSuffix("/") ? String(options.prefix.dropLast()) : options.prefix }

    /// HTML-escapes `text` after redacting secret-looking parts.
    static func escape(_ text: String) -> String {
        var out = ""
        for character in SecretRedactor.redact(text) {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    func page(title: String, _ body: String) -> String {
        """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(Self.escape(title))</title>
        <style>
        body{font:14px system-ui,sans-serif;margin:24px;color:#222}a{color:#0b57d0}table{border-collapse:collapse}
        td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}th{background:#f4f4f4}
        .err{color:#b00020;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}
        .span-bar{fill:#4a90d9;cursor:pointer}.span-bar.error{fill:#d9534f}.lbl{font:12px monospace;fill:#222}
        details{margin:4px 0}code{background:#f4f4f4;padding:1px 4px}
        #history td{white-space:nowrap}.spark{vertical-align:middle}
        </style></head><body>
        <form action="\(prefix)/search" method="get"><a href="\(prefix)">Traces</a>
        <input name="q" size="40" placeholder="trace ID or correlation ID"> <button>Search</button></form>
        \(body)</body></html>
        """
    }

    static func milliseconds(_ nanoseconds: UInt64) -> String {
        if nanoseconds < 1_000_000 { return "\(nanoseconds / 1000) µs" }
        let ms = Double(nanoseconds) / 1e6
        return ms < 10 ? String(twoDecimals(ms)) + " ms" : "\(Int(ms.rounded())) ms"
    }

    static func twoDecimals(_ value: Double) -> String {
        let scaled = (value * 100).rounded() / 100
        return String(scaled)
    }

    func traceLink(_ trace: TraceStore.Trace) -> String {
        let root = trace.root
        let name = root.map(\.name) ?? "(no root)"
        var html =
            "<a href=\"\(prefix)/trace/\(trace.traceID)\">\(Self.escape(name))</a> \(Self.milliseconds(trace.durationNanoseconds))"
        html += ", \(trace.spans.count) spans"
        if trace.hasError { html += " <span class=\"err\">error</span>" }
        if let correlation = trace.correlationIDs.sorted().first {
            html += " · correlation <code>\(Self.escape(correlation))</code>"
        }
        return html
    }

    func summaryPage() -> String {
        var body = "<h1>Traces\(options.serviceName.isEmpty ? "" : " — " + Self.escape(options.serviceName))</h1>"
        let stats = spanMetrics?.recentStatistics() ?? []
        let durations = store.durationsByName()
        body += "<h2>Span names (last \(spanMetrics.map { "\($0.configuration.window)" } ?? "window"))</h2>"
        body +=
            "<table id=\"summary\"><tr><th>span name</th><th>calls/s</th><th>error %</th><th>p50</th><th>p95</th><th>p99</th><th>latency (stored spans)</th></tr>"
        let names = Set(stats.map(\.spanName)).union(durations.keys).sorted()
        for name in names {
            let stat = stats.first { $0.spanName == name }
            body += "<tr><td>\(Self.escape(name))</td>"
            if let stat {
                body +=
                    "<td class=\"num\">\(Self.twoDecimals(stat.rate))</td><td class=\"num\(stat.errors > 0 ? " err" : "")\">\(Self.twoDecimals(stat.errorRate * 100))</td>"
                body +=
                    "<td class=\"num\">\(Self.twoDecimals(stat.p50)) ms</td><td class=\"num\">\(Self.twoDecimals(stat.p95)) ms</td><td class=\"num\">\(Self.twoDecimals(stat.p99)) ms</td>"
            } else {
                body += "<td></td><td></td><td></td><td></td><td></td>"
            }
            body += "<td>\(Self.latencyChart(durations[name] ?? []))</td></tr>"
        }
        body += "</table>"
        if let history { body += historySection(history.history()) }
        body +=
            "<h2>Recent traces</h2><ul id=\"recent\">" + store.recent().map { "<li>\(traceLink($0))</li>" }.joined()
            + "</ul>"
        body += "<h2>Slowest per span name</h2><ul id=\"slowest\">"
        for entry in store.slowest() where !entry.traces.isEmpty {
            body +=
                "<li>\(Self.escape(entry.name)): "
                + entry.traces.map {
                    "<a href=\"\(prefix)/trace/\($0.trace)\">\(Self.milliseconds($0.durationNanoseconds))</a>"
                }.joined(separator: ", ") + "</li>"
        }
        body +=
            "</ul><h2>Traces with errors</h2><ul id=\"errors\">"
            + store.errors().map { "<li>\(traceLink($0))</li>" }.joined() + "</ul>"
        let statistics = store.statistics
        body +=
            "<p>Store: \(statistics.traces) traces, \(statistics.spans) spans, ~\(statistics.bytes / 1024) KiB of \(store.configuration.maxBytes / 1024) KiB; \(statistics.evicted) traces evicted.</p>"
        return page(title: "Traces", body)
    }

    /// Span names shown in the history, busiest first.
    static let historyNames = 20

    /// Per span name: calls per minute, error % and p95 over the kept intervals, as sparklines with
    /// the latest value.
    func historySection(_ history: SpanMetricsHistory.History) -> String {
        let seconds = Int((Double(history.endTimes.count) * history.intervalSeconds).rounded())
        let span = seconds < 120 ? "\(seconds) s" : "\(seconds / 60) min"
        var html =
            "<h2>History (last \(span), one point per \(Self.twoDecimals(history.intervalSeconds)) s)</h2>"
        guard !history.names.isEmpty else {
            return html
                + "<p id=\"history\">No points yet: the first covers the first \(Self.twoDecimals(history.intervalSeconds)) s.</p>"
        }
        html +=
            "<table id=\"history\"><tr><th>span name</th><th>calls/min</th><th>error %</th><th>p95</th></tr>"
        let perMinute = 60 / max(0.001, history.intervalSeconds)
        for name in history.names.prefix(Self.historyNames) {
            let rate = name.points.map { ($0?.calls).map { Double($0) * perMinute } ?? 0 }
            let errors = name.points.map { point in
                point.map { $0.calls == 0 ? 0 : Double($0.errors) / Double($0.calls) * 100 } ?? 0
            }
            let p95 = name.points.map { $0?.p95 }
            html += "<tr data-span-name=\"\(Self.escape(name.spanName))\"><td>\(Self.escape(name.spanName))</td>"
            html += "<td>\(Self.sparkline(rate, colour: "#4a90d9", unit: ""))</td>"
            html += "<td>\(Self.sparkline(errors, colour: "#d9534f", unit: " %"))</td>"
            html += "<td>\(Self.sparkline(p95.map { $0 ?? 0 }, colour: "#5cb85c", unit: " ms"))</td></tr>"
        }
        html += "</table>"
        if history.names.count > Self.historyNames {
            html += "<p>\(history.names.count - Self.historyNames) quieter span names not shown.</p>"
        }
        return html
    }

    /// An inline SVG line of `values` (oldest first) scaled to its own peak, then the last value.
    static func sparkline(_ values: [Double], colour: String, unit: String) -> String {
        let width = 180.0, height = 28.0
        let peak = max(values.max() ?? 0, 0.000_001)
        let step = values.count > 1 ? width / Double(values.count - 1) : 0
        let points = values.enumerated().map { index, value in
            "\(twoDecimals(Double(index) * step)),\(twoDecimals(height - value / peak * (height - 2) - 1))"
        }.joined(separator: " ")
        let last = values.last ?? 0
        return
            "<svg class=\"spark\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\"><title>peak \(twoDecimals(peak))\(unit)</title>"
            + "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" points=\"\(points)\"/></svg>"
            + " <span class=\"num\">\(twoDecimals(last))\(unit)</span>"
    }

    /// A small bar chart of stored durations in log buckets (≤1 ms … >10 s).
    static func latencyChart(_ durations: [UInt64]) -> String {
        let bounds: [Double] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10000]
        var counts = Array(repeating: 0, count: bounds.count + 1)
        for duration in durations {
            let ms = Double(duration) / 1e6
            counts[bounds.firstIndex { ms <= $0 } ?? bounds.count] += 1
        }
        let peak = max(1, counts.max() ?? 1)
        var svg =
            "<svg class=\"chart\" width=\"\(counts.count * 10)\" height=\"24\" role=\"img\"><title>≤1 ms … >10 s</title>"
        for (index, count) in counts.enumerated() where count > 0 {
            let height = max(1, Int((Double(count) / Double(peak) * 24).rounded()))
            svg +=
                "<rect x=\"\(index * 10)\" y=\"\(24 - height)\" width=\"8\" height=\"\(height)\" fill=\"#4a90d9\"><title>\(count)</title></rect>"
        }
        return svg + "</svg>"
    }

    func tracePage(_ idText: String) -> String? {
        guard let id = TraceID(hexString: idText), let trace = store.trace(id) else { return nil }
        // Depth-first from the roots, children by start time.
        let ids = Set(trace.spans.map(\.spanContext.spanID))
        var children: [SpanID: [FinishedSpan]] = [:]
        var roots: [FinishedSpan] = []
        for span in trace.spans {
            if let parent = span.parentSpanID, ids.contains(parent) {
                children[parent, default: []].append(span)
            } else {
                roots.append(span)
            }
        }
        var ordered: [(FinishedSpan, Int)] = []
        func visit(_ span: FinishedSpan, _ depth: Int) {
            ordered.append((span, depth))
            for child in (children[span.spanContext.spanID] ?? []).sorted(by: {
                $0.startTimeNanosecondsSinceEpoch < $1.startTimeNanosecondsSinceEpoch
            }) {
                visit(child, depth + 1)
            }
        }
        for root in roots.sorted(by: { $0.startTimeNanosecondsSinceEpoch < $1.startTimeNanosecondsSinceEpoch }) {
            visit(root, 0)
        }

        let total = max(1, trace.end - trace.start)
        let width = 1000.0, row = 24
        var body =
            "<h1>Trace <code>\(trace.traceID)</code></h1><p>\(Self.milliseconds(trace.durationNanoseconds)), \(trace.spans.count) spans"
        if !trace.correlationIDs.isEmpty {
            body +=
                " · correlation "
                + trace.correlationIDs.sorted().map {
                    "<a href=\"\(prefix)/search?q=\(Self.escape(percentEncode($0)))\"><code>\(Self.escape($0))</code></a>"
                }.joined(separator: ", ")
        }
        if let jaeger = options.jaegerURL {
            body += " · <a href=\"\(Self.escape(jaeger))/trace/\(trace.traceID)\">open in Jaeger</a>"
        }
        body += "</p><svg id=\"waterfall\" width=\"\(Int(width) + 320)\" height=\"\(ordered.count * row + 10)\">"
        for (index, (span, depth)) in ordered.enumerated() {
            let x = Double(span.startTimeNanosecondsSinceEpoch &- trace.start) / Double(total) * width
            let w = max(1, Double(span.durationNanoseconds) / Double(total) * width)
            let y = index * row + 4
            let error = span.status?.code == .error
            body += "<g><rect class=\"span-bar\(error ? " error" : "")\" data-span-id=\"\(span.spanContext.spanID)\""
            body += " data-parent-id=\"\(span.parentSpanID.map { "\($0)" } ?? "")\" data-depth=\"\(depth)\""
            body += " x=\"\(Int(x) + 300)\" y=\"\(y)\" width=\"\(Int(w.rounded(.up)))\" height=\"16\">"
            body += "<title>\(Self.escape(span.name)) \(Self.milliseconds(span.durationNanoseconds))</title></rect>"
            body +=
                "<text class=\"lbl\" x=\"\(4 + depth * 12)\" y=\"\(y + 13)\">\(Self.escape(String(span.name.prefix(36)))) \(Self.milliseconds(span.durationNanoseconds))</text></g>"
        }
        body += "</svg><h2>Spans</h2>"
        for (span, depth) in ordered {
            body +=
                "<details id=\"span-\(span.spanContext.spanID)\" style=\"margin-left:\(depth * 16)px\"><summary>\(Self.escape(span.name))"
            body += " · \(span.kind.displayName) · \(Self.milliseconds(span.durationNanoseconds))"
            if span.status?.code == .error {
                body += " <span class=\"err\">error\(span.status?.message.map { ": " + Self.escape($0) } ?? "")</span>"
            }
            body += "</summary><table>"
            var rows: [(String, String)] = []
            span.attributes.forEach { key, value in rows.append((key, Self.text(value.toSpanAttribute()))) }
            for (key, value) in rows.sorted(by: { $0.0 < $1.0 }) {
                body += "<tr><th>\(Self.escape(key))</th><td>\(Self.escape(value))</td></tr>"
            }
            body += "</table>"
            if !span.events.isEmpty {
                body +=
                    "<ul>"
                    + span.events.map { event in
                        "<li>+\(Self.milliseconds(event.timeNanosecondsSinceEpoch &- span.startTimeNanosecondsSinceEpoch)) \(Self.escape(event.name))</li>"
                    }.joined() + "</ul>"
            }
            body += "</details>"
        }
        body += """
            <script>
            document.querySelectorAll('.span-bar').forEach(function (bar) {
              bar.addEventListener('click', function () {
                var details = document.getElementById('span-' + bar.getAttribute('data-span-id'));
                if (details) { details.open = true; details.scrollIntoView(); }
              });
            });
            </script>
            """
        return page(title: "Trace \(trace.traceID)", body)
    }

    func notFoundPage(_ id: String) -> String {
        page(
            title: "Trace not found",
            "<h1>Trace not found</h1><p>No stored trace <code>\(Self.escape(String(id.prefix(64))))</code>: it was never sampled here, or it was evicted.</p>"
        )
    }

    /// A trace ID that is stored goes straight to its page.
    func directLink(for query: String) -> String? {
        let trimmed = query.trimmingSpaces
        guard let id = TraceID(hexString: trimmed), store.trace(id) != nil else { return nil }
        return "\(prefix)/trace/\(id)"
    }

    func searchPage(_ query: String) -> String {
        let trimmed = query.trimmingSpaces
        let traces = trimmed.isEmpty ? [] : store.traces(correlationID: trimmed)
        var body = "<h1>Search: <code>\(Self.escape(String(trimmed.prefix(128))))</code></h1>"
        body +=
            traces.isEmpty
            ? "<p>No stored trace has this trace ID or correlation ID.</p>"
            : "<ul id=\"results\">" + traces.map { "<li>\(traceLink($0))</li>" }.joined() + "</ul>"
        return page(title: "Search", body)
    }

    /// An attribute's value as plain text (arrays comma-separated).
    static func text(_ attribute: SpanAttribute) -> String { attribute.plainText }

}

private func percentEncode(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
        if (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || byte == 0x2D || byte == 0x5F || byte == 0x2E
        {
            out.append(Character(UnicodeScalar(byte)))
        } else {
            out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2)
        }
    }
    return out
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
    fileprivate var trimmingSpaces: String {
        var slice = Substring(self)
        while slice.first?.isWhitespace == true { slice.removeFirst() }
        while slice.last?.isWhitespace == true { slice.removeLast() }
        return String(slice)
    }
}
#endif
