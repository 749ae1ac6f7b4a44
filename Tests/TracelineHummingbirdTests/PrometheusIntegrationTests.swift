// Compiled only with the package's `Hummingbird` trait.
#if Hummingbird
import Foundation
import Hummingbird
import Testing
import Traceline
import TracelineTestSupport
import TracelineHummingbird
import Tracing

#if canImport(Glibc)
import Glibc
#endif

func httpGet(_ url: String, accept: String? = nil) async throws -> (status: Int, contentType: String, body: String) {
    let response = try await httpExchange(url, headers: accept.map { ["Accept": $0] } ?? [:])
    return (response.status, response.headers["content-type"] ?? "", response.body)
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct PrometheusIntegrationTests {
    /// Runs `body` with a metrics server for `registry` on 127.0.0.1; returns the port to it.
    func withMetricsServer(_ registry: MetricsRegistry, _ body: (Int) async throws -> Void) async throws {
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let app = makeMetricsServer(host: "127.0.0.1", port: 0, registry: registry) { port in
            portContinuation.yield(port)
        }
        let server = Task { try await app.run() }
        defer { server.cancel() }
        var iterator = portStream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        try await body(port)
    }

    @Test("the /metrics route negotiates its format by Accept")
    func route() async throws {
        let metrics = SpanMetricsProcessor()
        let provider = TracerProvider(
            resource: Resource(attributes: ["service.name": "route-test"]), processors: [metrics])
        provider.tracer().startSpan("GET /", context: .topLevel, ofKind: .server).end()
        try await withMetricsServer(MetricsRegistry([metrics])) { port in
            let text = try await httpGet("http://127.0.0.1:\(port)/metrics", accept: "text/plain;version=0.0.4")
            #expect(text.status == 200)
            #expect(text.contentType.hasPrefix("text/plain; version=0.0.4"))
            #expect(text.body.contains("traces_span_metrics_calls_total{service_name=\"route-test\""))
            let openMetrics = try await httpGet(
                "http://127.0.0.1:\(port)/metrics",
                accept: "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
            #expect(openMetrics.contentType.hasPrefix("application/openmetrics-text; version=1.0.0"))
            #expect(openMetrics.body.hasSuffix("# EOF\n"))
        }
    }

    @Test("a real Prometheus scrapes us and Jaeger SPM's PromQL answers with the right values")
    func spmQueries() async throws {
        let metrics = SpanMetricsProcessor()
        let provider = TracerProvider(
            resource: Resource(attributes: ["service.name": "spm-test"]), processors: [metrics])
        let tracer = provider.tracer()
        let registry = MetricsRegistry([metrics, ProcessMetrics()])
        try await withMetricsServer(registry) { port in
            let directory = NSTemporaryDirectory() + "prometheus-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let config = """
                global:
                  scrape_interval: 1s
                  evaluation_interval: 1s
                scrape_configs:
                  - job_name: traceline
                    static_configs:
                      - targets: ['127.0.0.1:\(port)']
                """
            try config.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
            let prometheusPort = freePort()
            let prometheus = Process()
            prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
            prometheus.arguments = [
                "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
                "--web.listen-address=127.0.0.1:\(prometheusPort)", "--enable-feature=exemplar-storage",
            ]
            prometheus.standardOutput = FileHandle.nullDevice
            prometheus.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try prometheus.run()
            defer {
                kill(prometheus.processIdentifier, SIGKILL)
                var status: Int32 = 0
                waitpid(prometheus.processIdentifier, &status, 0)
            }

            let api = "http://127.0.0.1:\(prometheusPort)/api/v1/query?query="
            func query(_ promql: String) async throws -> [(labels: [String: String], value: Double)] {
                let encoded = promql.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let response = try await httpGet(api + encoded)
                #expect(response.status == 200, "\(response.body)")
                let json = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
                let result = (json?["data"] as? [String: Any])?["result"] as? [[String: Any]] ?? []
                return result.map { entry in
                    let labels = entry["metric"] as? [String: String] ?? [:]
                    let value = Double((entry["value"] as? [Any])?.last as? String ?? "") ?? .nan
                    return (labels, value)
                }
            }

            // Wait until Prometheus is up and has scraped us once, so the traffic below is all observed.
            let waitStart = ContinuousClock.now
            var scraped = false
            while ContinuousClock.now - waitStart < .seconds(30), !scraped {
                // Raw request: Prometheus answers 503 while it starts, which is not a failure here.
                let upQuery = #"up{job="traceline"}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                if let response = try? await httpGet(api + upQuery), response.status == 200 {
                    scraped = response.body.contains(#""value":["#) && response.body.contains(#""1"]"#)
                }
                if !scraped { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(scraped, "Prometheus scraped the metrics server")

            // Traffic: 20 server spans of 20 ms per second, every 10th an error, for about 8 seconds.
            let start = ContinuousClock.now
            var emitted = 0
            while ContinuousClock.now - start < .seconds(8) {
                for index in 0..<20 {
                    let begin = DefaultTracerClock.now.nanosecondsSinceEpoch
                    let span = tracer.startSpan(
                        "POST /chat", context: .topLevel, ofKind: .server,
                        at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: begin))
                    if index % 10 == 0 { span.setStatus(SpanStatus(code: .error)) }
                    span.end(at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: begin + 20_000_000))
                    emitted += 1
                }
                try await Task.sleep(for: .seconds(1))
            }

            let filter = #"service_name=~"spm-test", span_kind=~"SPAN_KIND_SERVER""#
            let calls = try await query(
                "sum(rate(traces_span_metrics_calls_total{\(filter)}[10s])) by (service_name, span_name)")
            #expect(calls.count == 1)
            #expect(calls.first?.labels["span_name"] == "POST /chat")
            #expect(
                (calls.first?.value ?? 0) > 2,
                "about 20 calls per second, less rate()'s extrapolation at the edges: \(calls)")
            let errors = try await query(
                "sum(rate(traces_span_metrics_calls_total{\(filter), status_code=\"STATUS_CODE_ERROR\"}[10s])) by (service_name)"
                    + " / sum(rate(traces_span_metrics_calls_total{\(filter)}[10s])) by (service_name)")
            #expect(abs((errors.first?.value ?? 0) - 0.1) < 0.03, "one in ten is an error: \(errors)")
            let latency = try await query(
                "histogram_quantile(0.95, sum(rate(traces_span_metrics_duration_milliseconds_bucket{\(filter)}[10s])) by (service_name, le))"
            )
            let p95 = latency.first?.value ?? .nan
            #expect(p95 > 10 && p95 <= 50, "20 ms spans land in the (10, 50] bucket: p95 \(p95)")
            let total = try await query(#"sum(traces_span_metrics_calls_total{service_name="spm-test"})"#)
            #expect((total.first?.value ?? 0) <= Double(emitted))
            #expect(
                (total.first?.value ?? 0) >= Double(emitted - 40),
                "the last scrape saw (almost) every span: \(total) of \(emitted)")
        }
    }
}
#endif
