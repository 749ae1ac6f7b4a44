import ExaiDaemon
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import Traceline

/// The scripted session of `--demo-run`: what a client sees, frame by frame.
enum DemoClient {
    static func run(port: Int, token: String, daemon: ExaiDaemon) async {
        let script: [String] = [
            #"{"op":"hello","token":"\#(token)"}"#,
            #"{"op":"list_tools"}"#,
            #"{"op":"call_tool","request_id":"demo-1","name":"chat","arguments":{"prompt":"Say hello to Jaeger","model":"glm-4.5-flash"}}"#,
            #"{"op":"call_tool","request_id":"demo-2","name":"chat_EXAI-WS","arguments":{"prompt":"Summarise W3C trace context","model":"kimi-k2-0905-preview"}}"#,
            #"{"op":"call_tool","request_id":"demo-3","name":"no_such_tool"}"#,
        ]
        var configuration = WebSocketClientConfiguration()
        configuration.additionalHeaders[HTTPField.Name("X-Correlation-ID")!] = "demo-session-1"
        do {
            try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/", configuration: configuration,
                                              logger: Logger(label: "demo-client")) { inbound, outbound, _ in
                var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                for line in script {
                    print("→ \(line)")
                    try await outbound.write(.text(line))
                    // Read until the answer to this line (a call ends with call_tool_res).
                    while case .text(let text)? = try await messages.next() {
                        print("← \(text.count > 300 ? String(text.prefix(300)) + "…" : text)")
                        if !text.contains(#""op":"progress""#) && !text.contains(#""op":"call_tool_ack""#) { break }
                    }
                }
                try await outbound.close(.normalClosure, reason: nil)
            }
        } catch {
            print("demo client failed: \(error)")
        }
        try? await Task.sleep(for: .milliseconds(1500))  // one synthetic probe
        let report = await daemon.health.report()
        print("\nGET /health → \(report.httpStatus)\n\(report.json())")
        let metrics = daemon.registry.render(format: .prometheusText).split(separator: "\n")
            .filter { ($0.hasPrefix("mcp_") || $0.hasPrefix("traces_span_metrics_calls_total")) && !$0.contains("_bucket") }
        print("\nGET /metrics (excerpt)\n" + metrics.joined(separator: "\n"))
    }
}
