import ExaiClient
import ExaiDaemon
import Foundation
import Traceline
import Tracing

/// The scripted session of `--demo-run`: what a client sees, frame by frame, then where to look.
enum DemoClient {
    static func run(port: Int, token: String, daemon: ExaiDaemon, tracer: any Tracer) async {
        do {
            try await ExaiClient.withSession(
                url: "ws://127.0.0.1:\(port)/", token: token, correlationID: "demo-session-1", tracer: tracer,
                printFrame: { direction, text in
                    print("\(direction) \(text.count > 240 ? String(text.prefix(240)) + "…" : text)")
                }
            ) { client in
                _ = try await client.listTools()
                let first = try await client.call(
                    "chat", arguments: .object([("prompt", "Say hello to Jaeger"), ("model", "glm-4.5-flash")]))
                print("   trace \(first.traceID ?? "-"): \(first.summary)\n")
                var follow: [(String, JSONValue)] = [
                    ("prompt", "And once more, with Kimi"), ("model", "kimi-k2-0905-preview"),
                ]
                if let id = first.continuationID { follow.append(("continuation_id", .string(id))) }
                let second = try await client.call("chat_EXAI-WS", arguments: .object(follow))
                print("   trace \(second.traceID ?? "-"): \(second.summary)\n")
                let missing = try await client.call("no_such_tool")
                print("   trace \(missing.traceID ?? "-"): \(missing.summary)\n")
            }
        } catch {
            print("demo client failed: \(error)")
        }
        try? await Task.sleep(for: .milliseconds(1500))  // one synthetic probe
        let report = await daemon.health.report()
        print("\nGET /health → \(report.httpStatus)\n\(report.json())")
        let metrics = daemon.registry.render(format: .prometheusText).split(separator: "\n")
            .filter {
                ($0.hasPrefix("mcp_") || $0.hasPrefix("traces_span_metrics_calls_total")) && !$0.contains("_bucket")
            }
        print("\nGET /metrics (excerpt)\n" + metrics.joined(separator: "\n"))
        print(
            """

            Where to look: the spans above (console exporter), one trace per call: call_tool (client) →
            call_tool chat (server) → GET/SET thread (storage) → chat {model} (GenAI client) → POST (HTTP).
            Run it for real: `swift run exai-daemon --demo`, then `swift run exai-client --list "hi"`;
            with Jaeger and Prometheus: `docker compose up` (see README).
            """)
    }
}
