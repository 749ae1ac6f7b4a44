import ExaiProtocol
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOConcurrencyHelpers
import Traceline
import Tracing

/// Why the synthetic probe failed.
struct SyntheticProbeError: Error, CustomStringConvertible {
    let description: String
}

extension ExaiDaemon {
    /// The end-to-end probe: connect to our own WebSocket, `hello`, then `call_tool listmodels`
    /// (cheap: no provider call), carrying the probe span's `traceparent` in `_meta` so the daemon's
    /// spans join the synthetic trace.
    func syntheticProbe() async throws {
        guard let port = await listeningPort() else { throw SyntheticProbeError(description: "not listening") }
        var headers: [String: String] = [:]
        let context = ServiceContext.current ?? .topLevel
        tracer.inject(context, into: &headers, using: DictionaryInjector())
        var meta: [(String, JSONValue)] = []
        if let traceparent = headers["traceparent"] { meta.append(("traceparent", .string(traceparent))) }
        if let tracestate = headers["tracestate"] { meta.append(("tracestate", .string(tracestate))) }
        let token = currentToken
        let metaObject = JSONValue.object(meta)
        let host = configuration.host == "0.0.0.0" ? "127.0.0.1" : configuration.host
        let outcome = NIOLockedValueBox<String?>("no call_tool_res")
        var clientConfiguration = WebSocketClientConfiguration()
        clientConfiguration.maxFrameSize = 1 << 20
        // The upgrade joins the synthetic trace too.
        for (name, value) in headers where name == "traceparent" || name == "tracestate" || name == "x-correlation-id" {
            if let field = HTTPField.Name(name) { clientConfiguration.additionalHeaders[field] = value }
        }
        try await WebSocketClient.connect(
            url: "ws://\(host):\(port)/", configuration: clientConfiguration,
            logger: Logger(label: "exai-daemon.synthetic")
        ) { inbound, outbound, _ in
            var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
            try await outbound.write(.text(JSONValue.object([("op", "hello"), ("token", .string(token))]).serialized))
            guard case .text(let ack)? = try await messages.next(),
                ClientFrame.decodeJSON(ack)?["ok"]?.boolValue == true
            else {
                outcome.withLockedValue { $0 = "hello refused" }
                return
            }
            try await outbound.write(
                .text(
                    JSONValue.object([
                        ("op", "call_tool"), ("request_id", "synthetic"), ("name", "listmodels"),
                        ("arguments", .object([])), ("_meta", metaObject),
                    ]).serialized))
            while let frame = try await messages.next() {
                guard case .text(let text) = frame, let json = ClientFrame.decodeJSON(text),
                    json["op"]?.stringValue == "call_tool_res"
                else { continue }
                let failure = json["error"].map {
                    "listmodels failed: \($0["code"]?.stringValue ?? "") \($0["message"]?.stringValue ?? "")"
                }
                outcome.withLockedValue { $0 = failure }
                break
            }
            try await outbound.close(.normalClosure, reason: nil)
        }
        if let failure = outcome.withLockedValue({ $0 }) { throw SyntheticProbeError(description: failure) }
    }
}
