import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOConcurrencyHelpers
import Traceline
import Tracing

/// A small client for the exai-daemon's WebSocket protocol: hello, `list_tools`, `call_tool`.
///
/// Each call is a CLIENT span `call_tool {tool}` whose context travels in the message's
/// `_meta.traceparent`, so the daemon's spans join the client's trace; ``Call/traceID`` says
/// which trace to open in Jaeger.
public final class ExaiClient: Sendable {
    /// One `call_tool` exchange.
    public struct Call: Sendable {
        public var frames: [JSONValue]
        public var traceID: String?
        /// The final frame (`call_tool_res`).
        public var result: JSONValue? { frames.last }
        /// The reply's text, or the error's code and message.
        public var summary: String {
            guard let result else { return "(no reply)" }
            if let error = result["error"] {
                return "error \(error["code"]?.stringValue ?? "?"): \(error["message"]?.stringValue ?? "")"
            }
            let text = result["text"]?.stringValue ?? ""
            if let output = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)),
                let content = output["content"]?.stringValue
            {
                return content
            }
            return text
        }
        /// The `continuation_id` the reply offers, if any.
        public var continuationID: String? {
            guard let text = result?["text"]?.stringValue,
                let output = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            else { return nil }
            return output["continuation_offer"]?["continuation_id"]?.stringValue
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// One consumer at a time (a session is driven by one task); each read makes a fresh iterator
    /// over the same stream.
    private let inbound: AsyncStream<String>
    private let outbound: AsyncStream<String>.Continuation
    private let tracer: any Tracer
    private let printFrame: @Sendable (String, String) -> Void

    private init(
        inbound: AsyncStream<String>, outbound: AsyncStream<String>.Continuation, tracer: any Tracer,
        printFrame: @escaping @Sendable (String, String) -> Void
    ) {
        self.inbound = inbound
        self.outbound = outbound
        self.tracer = tracer
        self.printFrame = printFrame
    }

    /// Connects, says hello, runs `body`, closes.
    /// - Parameter printFrame: called with "→" or "←" and each frame's text (for a transcript).
    public static func withSession<Result: Sendable>(
        url: String, token: String = "", correlationID: String? = nil, tracer: any Tracer = NoOpTracer(),
        printFrame: @escaping @Sendable (String, String) -> Void = { _, _ in },
        _ body: @escaping @Sendable (ExaiClient) async throws -> Result
    ) async throws -> Result {
        var configuration = WebSocketClientConfiguration()
        configuration.maxFrameSize = 1 << 24
        if let correlationID { configuration.additionalHeaders[HTTPField.Name("X-Correlation-ID")!] = correlationID }
        let result = NIOLockedValueBox<Swift.Result<Result, any Error>?>(nil)
        try await WebSocketClient.connect(
            url: url, configuration: configuration,
            logger: Logger(label: "exai-client", factory: { _ in SwiftLogNoOpLogHandler() })
        ) { inbound, outbound, _ in
            let (incoming, incomingContinuation) = AsyncStream.makeStream(of: String.self)
            let (outgoing, outgoingContinuation) = AsyncStream.makeStream(of: String.self)
            let client = ExaiClient(
                inbound: incoming, outbound: outgoingContinuation, tracer: tracer, printFrame: printFrame)
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        for try await message in inbound.messages(maxSize: 1 << 24) {
                            if case .text(let text) = message { incomingContinuation.yield(text) }
                        }
                    } catch {}
                    incomingContinuation.finish()
                }
                group.addTask {
                    for await text in outgoing { try? await outbound.write(.text(text)) }
                }
                do {
                    try await client.hello(token: token)
                    let value = try await body(client)
                    result.withLockedValue { $0 = .success(value) }
                } catch {
                    result.withLockedValue { $0 = .failure(error) }
                }
                outgoingContinuation.finish()
                try? await outbound.close(.normalClosure, reason: nil)
                group.cancelAll()
            }
        }
        guard let outcome = result.withLockedValue({ $0 }) else {
            throw Failure(description: "the daemon closed the connection")
        }
        return try outcome.get()
    }

    /// Sends one frame.
    public func send(_ frame: JSONValue) {
        printFrame("→", frame.serialized)
        outbound.yield(frame.serialized)
    }

    /// The next frame.
    public func receive() async throws -> JSONValue {
        var iterator = inbound.makeAsyncIterator()
        let next = await iterator.next()
        guard let text = next else { throw Failure(description: "the daemon closed the connection") }
        printFrame("←", text)
        guard let frame = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
            throw Failure(description: "the daemon sent a frame that is not JSON")
        }
        return frame
    }

    func hello(token: String) async throws {
        send(.object([("op", "hello"), ("token", .string(token))]))
        let ack = try await receive()
        guard ack["ok"]?.boolValue == true else {
            throw Failure(description: "hello refused: \(ack["error"]?.stringValue ?? "unknown reason")")
        }
    }

    /// The daemon's tools: name and description.
    public func listTools() async throws -> [(name: String, description: String)] {
        send(.object([("op", "list_tools")]))
        while true {
            let frame = try await receive()
            guard frame["op"]?.stringValue == "list_tools_res" else { continue }
            return (frame["tools"]?.arrayValue ?? []).map {
                ($0["name"]?.stringValue ?? "", $0["description"]?.stringValue ?? "")
            }
        }
    }

    /// Calls a tool in a CLIENT span and collects the frames up to its result.
    public func call(
        _ tool: String, arguments: JSONValue = .object([]), requestID: String = UUID().uuidString.lowercased()
    ) async throws -> Call {
        let span = tracer.startSpan("call_tool \(tool)", context: ServiceContext.current ?? .topLevel, ofKind: .client)
        defer { span.end() }
        var headers: [String: String] = [:]
        tracer.inject(span.context, into: &headers, using: DictionaryCarrier())
        var meta: [(String, JSONValue)] = []
        if let traceparent = headers["traceparent"] { meta.append(("traceparent", .string(traceparent))) }
        if let tracestate = headers["tracestate"] { meta.append(("tracestate", .string(tracestate))) }
        var frame: [(String, JSONValue)] = [
            ("op", "call_tool"), ("request_id", .string(requestID)), ("name", .string(tool)), ("arguments", arguments),
        ]
        if !meta.isEmpty { frame.append(("_meta", .object(meta))) }
        send(.object(frame))
        var frames: [JSONValue] = []
        while true {
            let reply = try await receive()
            guard reply["request_id"]?.stringValue == requestID else { continue }
            frames.append(reply)
            if reply["op"]?.stringValue == "call_tool_res" { break }
        }
        if frames.last?["error"] != nil { span.setStatus(SpanStatus(code: .error)) }
        let traceID = span.context.spanContext.map { $0.traceID.description }
        return Call(frames: frames, traceID: traceID)
    }
}

private struct DictionaryCarrier: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
