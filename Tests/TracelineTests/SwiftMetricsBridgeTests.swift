import CoreMetrics
import Testing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

@Suite struct SwiftMetricsBridgeTests {
    @Test("counters, gauges, recorders and timers appear with their labels; one family per name")
    func bridge() async throws {
        let bridge = SwiftMetricsBridge()
        let requests = bridge.makeCounter(label: "http_requests", dimensions: [("method", "GET"), ("status", "200")])
        requests.increment(by: 3)
        bridge.makeCounter(label: "http_requests", dimensions: [("method", "POST"), ("status", "500")]).increment(by: 1)
        bridge.makeCounter(label: "http_requests", dimensions: [("method", "GET"), ("status", "200")]).increment(by: 2)
        bridge.makeFloatingPointCounter(label: "tokens.cost_total", dimensions: []).increment(by: 0.25)
        let connections = bridge.makeMeter(label: "ws_connections", dimensions: [])
        connections.set(Int64(5))
        connections.decrement(by: 2)
        bridge.makeRecorder(label: "queue_depth", dimensions: [], aggregate: false).record(Int64(7))
        let sizes = bridge.makeRecorder(label: "payload_bytes", dimensions: [], aggregate: true)
        sizes.record(Int64(3))
        sizes.record(Int64(30))
        let latency = bridge.makeTimer(label: "http_server_request_duration", dimensions: [("route", "/chat")])
        latency.recordNanoseconds(40_000_000)
        latency.recordNanoseconds(3_000_000_000)

        let text = bridge.renderFamilies(format: .prometheusText)
        #expect(
            text.contains("http_requests_total{method=\"GET\",status=\"200\"} 5.0\n"), "same label set, same handler")
        #expect(text.contains("http_requests_total{method=\"POST\",status=\"500\"} 1.0\n"))
        #expect(text.contains("tokens_cost_total 0.25\n"))
        #expect(text.contains("ws_connections 3.0\n"))
        #expect(text.contains("queue_depth 7.0\n"))
        #expect(text.contains("payload_bytes_bucket{le=\"5.0\"} 1\n"))
        #expect(text.contains("payload_bytes_bucket{le=\"+Inf\"} 2\n"))
        #expect(text.contains("http_server_request_duration_seconds_bucket{route=\"/chat\",le=\"0.05\"} 1\n"))
        #expect(text.contains("http_server_request_duration_seconds_bucket{route=\"/chat\",le=\"2.5\"} 1\n"))
        #expect(text.contains("http_server_request_duration_seconds_count{route=\"/chat\"} 2\n"))
        #expect(text.contains("http_server_request_duration_seconds_sum{route=\"/chat\"} 3.04\n"))
        #expect(text.components(separatedBy: "# TYPE http_requests_total counter").count == 2)
        try checkStructure(text)
        let (status, findings) = try await promtoolCheckMetrics(text)
        #expect(status == 0 || status == 3)
        #expect(
            findings.allSatisfy {
                $0.contains("payload_bytes") || $0.contains("queue_depth") || $0.contains("ws_connections")
                    || $0.contains("tokens_cost")
            }, "\(findings)")
    }

    @Test("a name reused with another kind is refused and counted; destroy removes a series")
    func conflictsAndDestroy() {
        let bridge = SwiftMetricsBridge()
        bridge.makeCounter(label: "thing", dimensions: []).increment(by: 1)
        let gauge = bridge.makeMeter(label: "thing", dimensions: [])
        gauge.set(Int64(9))
        #expect(bridge.conflictCount == 1)
        let text = bridge.renderFamilies(format: .prometheusText)
        #expect(text.contains("thing_total 1.0\n"))
        #expect(!text.contains("thing 9"))
        let counter = bridge.makeCounter(label: "temporary", dimensions: [])
        counter.increment(by: 1)
        bridge.destroyCounter(counter)
        #expect(!bridge.renderFamilies(format: .prometheusText).contains("temporary"))
    }

    @Test("bridged metrics share the registry page with span metrics")
    func registry() {
        let bridge = SwiftMetricsBridge()
        bridge.makeCounter(label: "app_events", dimensions: []).increment(by: 1)
        let registry = MetricsRegistry([SpanMetricsProcessor(), bridge])
        let text = registry.render(format: .openMetrics)
        #expect(text.contains("# TYPE app_events counter\napp_events_total 1.0\n"))
        #expect(text.hasSuffix("# EOF\n"))
    }
}
