import ExaiDaemon
import Foundation
import ProviderSim
import Testing
import Traceline
import TracelineTestSupport
import Tracing

func httpGet(_ url: String) async throws -> (status: Int, body: String) {
    let response = try await httpExchange(url)
    return (response.status, response.body)
}

/// A span as the real OTLP receiver decoded it.
struct ReceivedSpan {
    let record: [String: Any]
    var name: String { record["name"] as? String ?? "" }
    var traceID: String { record["trace_id"] as? String ?? "" }
    var spanID: String { record["span_id"] as? String ?? "" }
    var parentSpanID: String { record["parent_span_id"] as? String ?? "" }
    var kind: Int { record["kind"] as? Int ?? 0 }
    func attribute(_ key: String) -> Any? {
        ((record["attributes"] as? [String: Any])?[key] as? [String: Any])?["value"]
    }
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct EndToEndTests {
    @Test(
        "one trace: call_tool SERVER → chat CLIENT → HTTP CLIENT, received by a real OTLP receiver; the provider saw its trace and correlation IDs"
    )
    func oneTrace() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { receiver.stop() }
        var exporterConfiguration = OTLPExporterConfiguration()
        exporterConfiguration.endpoint = receiver.endpoint
        let harness = try await DaemonHarness(exporter: SpanExporters.otlp(configuration: exporterConfiguration))
        let client = try await harness.session(headers: ["X-Correlation-ID": "e2e-corr-1", "baggage": "user=alice"])
        let frames = try await client.call("e2e-1", "chat", #"{"prompt":"trace me","model":"glm-4.5"}"#)
        #expect(frames.last?["outputs"] != nil)
        for frame in frames { #expect(frame["correlation_id"]?.stringValue == "e2e-corr-1") }

        // A second call continues the client's own trace and names its own correlation ID.
        let clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736", clientSpan = "00f067aa0ba902b7"
        let continued = try await client.call(
            "e2e-2", "chat", #"{"prompt":"again","model":"kimi-k2-0905-preview"}"#,
            meta: #"{"traceparent":"00-\#(clientTrace)-\#(clientSpan)-01","correlation_id":"msg-corr-2"}"#)
        for frame in continued { #expect(frame["correlation_id"]?.stringValue == "msg-corr-2") }
        client.close()
        _ = try await client.closeFrame()

        // Metrics over real HTTP, while the daemon runs. A call's spans end just after its reply
        // is sent, so the page is read until it has every series (or 5 s have passed).
        let expected = [
            #"mcp_requests_total{method="call_tool",endpoint="chat",status="success"} 2"#,
            #"mcp_api_calls_total{provider="glm",model="glm-4.5",status="success"} 1"#,
            #"mcp_api_calls_total{provider="kimi",model="kimi-k2-0905-preview",status="success"} 1"#,
            #"mcp_tokens_total{provider="glm",model="glm-4.5",type="input"} 6"#,
            #"mcp_tokens_total{provider="glm",model="glm-4.5",type="output"} 10"#,
            #"mcp_api_latency_seconds_count{provider="glm",model="glm-4.5"} 1"#,
            #"mcp_request_duration_seconds_count{method="call_tool",endpoint="chat"} 2"#,
            #"traces_span_metrics_calls_total{service_name="exai-daemon-test",span_name="call_tool chat",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 2"#,
            #"traces_span_metrics_calls_total{service_name="exai-daemon-test",span_name="chat glm-4.5",span_kind="SPAN_KIND_CLIENT",status_code="STATUS_CODE_UNSET"} 1"#,
            "mcp_active_connections 0",
        ]
        func missing(_ body: String) -> [String] {
            expected.filter { !body.contains($0 + "\n") && !body.contains($0 + ".0\n") }
        }
        var metrics = try await httpGet("http://127.0.0.1:\(harness.port)/metrics")
        let giveUp = ContinuousClock.now + .seconds(5)
        while !missing(metrics.body).isEmpty, ContinuousClock.now < giveUp {
            try await Task.sleep(for: .milliseconds(50))
            metrics = try await httpGet("http://127.0.0.1:\(harness.port)/metrics")
        }
        #expect(metrics.status == 200)
        #expect(missing(metrics.body).isEmpty, "missing: \(missing(metrics.body))")

        _ = await harness.provider.forceFlush(deadline: .now + .seconds(10))
        let spans = try receiver.records().flatMap { ($0["spans"] as? [[String: Any]]) ?? [] }.map(ReceivedSpan.init)
        let call = try #require(
            spans.first { $0.name == "call_tool chat" && $0.attribute("exai.request_id") as? String == "e2e-1" })
        let chat = try #require(spans.first { $0.name == "chat glm-4.5" })
        let http = try #require(spans.first { $0.name == "POST" && $0.traceID == call.traceID })
        #expect(call.kind == 2, "SERVER")
        #expect(chat.kind == 3 && http.kind == 3, "CLIENT")
        #expect(chat.traceID == call.traceID && chat.parentSpanID == call.spanID, "the chat span is the call's child")
        #expect(http.parentSpanID == chat.spanID, "the HTTP span is the chat span's child")
        #expect(chat.attribute("gen_ai.provider.name") as? String == "zhipu_ai")
        #expect(chat.attribute("gen_ai.operation.name") as? String == "chat")
        #expect(chat.attribute("gen_ai.request.model") as? String == "glm-4.5")
        #expect(chat.attribute("gen_ai.response.model") as? String == "glm-4.5")
        #expect(chat.attribute("gen_ai.usage.input_tokens") as? Int == 6)
        #expect(chat.attribute("gen_ai.usage.output_tokens") as? Int == 10)
        #expect(call.attribute("exai.session_id") as? String != nil)
        #expect(call.attribute("exai.tool") as? String == "chat")
        let upgrade = try #require(spans.first { $0.name == "GET /" })
        #expect(
            ((call.record["links"] as? [[String: Any]])?.first?["span_id"] as? String) == upgrade.spanID,
            "a call without _meta starts a trace linked to the connection")

        // Every span of the first call carries the connection's correlation ID.
        for span in spans where span.traceID == call.traceID {
            #expect(span.attribute("correlation_id") as? String == "e2e-corr-1", "\(span.name)")
        }
        // The provider saw the HTTP span's context and the correlation ID, and no baggage.
        let received = harness.simulator.received
        // Flags 03: sampled, and the Level 2 random flag (our trace IDs are fully random).
        #expect(received[0].traceparent == "00-\(call.traceID)-\(http.spanID)-03")
        #expect(received[0].correlationID == "e2e-corr-1")
        #expect(received.allSatisfy { $0.baggage == nil }, "no baggage to third parties")
        #expect(received[0].authorized)

        // The second call is a child of the client's span, with the message's correlation ID.
        let second = try #require(spans.first { $0.attribute("exai.request_id") as? String == "e2e-2" })
        #expect(second.traceID == clientTrace)
        #expect(second.parentSpanID == clientSpan)
        #expect(second.attribute("correlation_id") as? String == "msg-corr-2")
        #expect(received[1].traceparent?.contains(clientTrace) == true)
        #expect(received[1].correlationID == "msg-corr-2")

        // Log lines of the session carry the correlation ID.
        let sessionLogs = harness.logs.records.filter { $0.metadata["session_id"] != nil }
        #expect(!sessionLogs.isEmpty)
        for record in sessionLogs { #expect(record.metadata["correlation_id"] == "e2e-corr-1", "\(record.line)") }
        await harness.stop()
    }

    @Test("redaction: keys and tokens never reach logs, spans, /metrics, /health or error frames")
    func redaction() async throws {
        let token = "tok-SECRET-0123456789"
        let harness = try await DaemonHarness(simulator: .init(apiKey: DaemonHarness.glmKey)) { $0.token = token }
        // A wrong token that shares a prefix with the real one.
        let intruder = try await harness.connect()
        intruder.send(#"{"op":"hello","token":"tok-SECRET-0000"}"#)
        _ = try await intruder.receive()
        let client = try await harness.session(token: token)
        _ = try await client.call("ok", "chat", #"{"prompt":"a","model":"glm-4.5"}"#)
        // Kimi's key is not what the simulator accepts: a 401 whose error travels everywhere.
        let refused = try await client.call("401", "chat", #"{"prompt":"b","model":"kimi-latest"}"#)
        #expect(refused.last?["error"]?["message"]?.stringValue?.contains("HTTP 401") == true)
        client.send(#"{"op":"rotate_token","old":"\#(token)","new":"tok-SECRET-NEW-987654"}"#)
        _ = try await client.receive()
        client.close()
        _ = try await client.closeFrame()
        let frames = refused.map(\.serialized).joined()
        let logs = harness.logs.records.map(\.line).joined(separator: "\n")
        let spans = harness.exporter.spans.map { span in
            "\(span.name) \(span.attributes) \(span.events) \(String(describing: span.status))"
        }.joined(separator: "\n")
        let metrics = harness.daemon.registry.render(format: .openMetrics)
        let health = await harness.daemon.health.report().json()
        #expect(!spans.isEmpty && !logs.isEmpty)
        for secret in [DaemonHarness.kimiKey, DaemonHarness.glmKey, token, "tok-SECRET", "SECRET-NEW", "Bearer"] {
            for (name, text) in [
                ("frames", frames), ("logs", logs), ("spans", spans), ("metrics", metrics), ("health", health),
            ] {
                #expect(!text.contains(secret), "\(secret) in \(name)")
            }
        }
        await harness.stop()
    }
}

/// Wall-clock bounds (`/health` in < 200 ms): run on their own by the test command (suites named
/// `*Timing*`), outside the parallel and ThreadSanitizer runs.
@Suite(.serialized, .timeLimit(.minutes(2))) struct EndToEndTimingTests {
    @Test("non-blocking: with one provider taking 10 s, /health answers fast and another session's call completes")
    func nonBlocking() async throws {
        let fast = ProviderSimulator()
        let fastTask = Task { try await fast.run() }
        defer { fastTask.cancel() }
        let fastPort = try #require(await fast.listeningPort())
        let harness = try await DaemonHarness(simulator: .init(latency: .seconds(10))) {
            $0.kimi.baseURL = "http://127.0.0.1:\(fastPort)/v1"
            $0.callTimeout = .seconds(20)
        }
        let slow = try await harness.session()
        slow.send(
            #"{"op":"call_tool","request_id":"slow","name":"chat","arguments":{"prompt":"slow","model":"glm-4.5"}}"#)
        _ = try await slow.receive(until: { $0.op == "call_tool_ack" })

        let start = ContinuousClock.now
        let health = try await httpGet("http://127.0.0.1:\(harness.port)/health")
        let healthTime = ContinuousClock.now - start
        #expect(health.status == 200)
        #expect(healthTime < .milliseconds(200), "/health took \(healthTime)")
        let ready = try await httpGet("http://127.0.0.1:\(harness.port)/readyz")
        #expect(ready.status == 200)

        let other = try await harness.session()
        let otherStart = ContinuousClock.now
        let frames = try await other.call("quick", "chat", #"{"prompt":"quick","model":"kimi-latest"}"#)
        #expect(frames.last?["outputs"] != nil)
        #expect(ContinuousClock.now - otherStart < .seconds(2))
        slow.close()
        other.close()
        await harness.stop()
    }
}
