import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import Traceline

/// A local OpenAI-compatible chat-completions server standing in for Kimi and GLM, for demos,
/// tests and benchmarks: it answers `POST /v1/chat/completions` (a Kimi-style base URL
/// `http://host:port/v1`) and `POST /api/paas/v4/chat/completions` (a GLM-style one) with
/// configurable latency, error rate and 429s with `Retry-After`, reports realistic `usage`, and
/// records the trace headers each request carried (`GET /_sim/requests`).
public final class ProviderSimulator: Service, Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 0
        /// Added before every answer.
        public var latency: Duration = .zero
        /// Fraction of requests answered 500, spread evenly (deterministic, not random).
        public var errorRate = 0.0
        /// Every Nth request is answered 429 with `Retry-After`; 0 never.
        public var rateLimitEvery = 0
        public var retryAfterSeconds = 1
        /// When set, requests without `Authorization: Bearer <key>` get 401.
        public var apiKey: String?
        /// A `"stream": true` request is answered as server-sent events: the reply in this many
        /// `chat.completion.chunk` events (at least one), then a last chunk with the finish reason
        /// and usage, then `data: [DONE]`.
        public var streamChunks = 8
        /// Waited before each streamed chunk after the first.
        public var streamChunkDelay: Duration = .zero
        /// When set, a stream breaks off after this many chunks (the connection closes mid-body).
        public var streamFailAfterChunks: Int?

        public init(
            host: String = "127.0.0.1", port: Int = 0, latency: Duration = .zero, errorRate: Double = 0,
            rateLimitEvery: Int = 0, retryAfterSeconds: Int = 1, apiKey: String? = nil
        ) {
            self.host = host
            self.port = port
            self.latency = latency
            self.errorRate = errorRate
            self.rateLimitEvery = rateLimitEvery
            self.retryAfterSeconds = retryAfterSeconds
            self.apiKey = apiKey
        }
    }

    /// What one request carried (never the key itself).
    public struct ReceivedRequest: Sendable, Equatable {
        public var path: String
        public var model: String
        public var traceparent: String?
        public var tracestate: String?
        public var correlationID: String?
        public var baggage: String?
        public var idempotencyKey: String?
        public var authorized: Bool
        public var status: Int
        /// `(role, content)` of the request's messages.
        public var messages: [String] = []
    }

    private struct State {
        var configuration: Configuration
        var firstChunks: [String: ContinuousClock.Instant] = [:]
        var count = 0
        var scripted: [Int] = []
        var received: [ReceivedRequest] = []
    }

    private let state: NIOLockedValueBox<State>
    private let ports = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
    private let logger: Logger

    public init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "provider-sim")) {
        self.state = NIOLockedValueBox(State(configuration: configuration))
        self.logger = logger
    }

    /// Changes the behaviour while running (tests).
    public func update(_ change: (inout Configuration) -> Void) { state.withLockedValue { change(&$0.configuration) } }

    /// The next requests get these statuses (429s carry `Retry-After`), before the normal behaviour.
    public func script(_ statuses: [Int]) { state.withLockedValue { $0.scripted.append(contentsOf: statuses) } }

    /// When the first chunk of the streamed answer to the request with this `X-Correlation-ID`
    /// was written (the last 10 000 streamed requests).
    public func firstChunkSent(correlationID: String) -> ContinuousClock.Instant? {
        state.withLockedValue { $0.firstChunks[correlationID] }
    }

    /// The last 1000 requests, oldest first.
    public var received: [ReceivedRequest] { state.withLockedValue { $0.received } }
    public func resetReceived() { state.withLockedValue { $0.received.removeAll() } }

    public func listeningPort() async -> Int? {
        var iterator = ports.stream.makeAsyncIterator()
        return await iterator.next()
    }

    public func run() async throws {
        let router = Router()
        router.post("/v1/chat/completions") { request, _ in try await self.complete(request) }
        router.post("/api/paas/v4/chat/completions") { request, _ in try await self.complete(request) }
        router.get("/_sim/requests") { _, _ -> Response in
            let list = JSONValue.array(
                self.received.map { received in
                    JSONValue.object([
                        ("path", .string(received.path)), ("model", .string(received.model)),
                        ("traceparent", received.traceparent.map(JSONValue.string) ?? .null),
                        ("tracestate", received.tracestate.map(JSONValue.string) ?? .null),
                        ("x-correlation-id", received.correlationID.map(JSONValue.string) ?? .null),
                        ("baggage", received.baggage.map(JSONValue.string) ?? .null),
                        ("authorized", .bool(received.authorized)), ("status", .number(Double(received.status))),
                        ("messages", .array(received.messages.map(JSONValue.string))),
                    ])
                })
            return Self.json(list, status: .ok)
        }
        let configuration = state.withLockedValue { $0.configuration }
        let continuation = ports.continuation
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: "provider-sim"),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        try await app.run()
    }

    private func complete(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 8 * 1024 * 1024)
        let json = try? JSONDecoder().decode(JSONValue.self, from: Data(buffer: body))
        let model = json?["model"]?.stringValue ?? ""
        let header = { (name: String) in request.headers.first { $0.name.canonicalName == name.lowercased() }?.value }
        let (configuration, status) = state.withLockedValue { state -> (Configuration, Int) in
            state.count += 1
            let n = state.count
            let configuration = state.configuration
            let authorized =
                configuration.apiKey.map { header("Authorization") == "Bearer \($0)" }
                ?? (header("Authorization") != nil)
            var status = 200
            if !state.scripted.isEmpty {
                status = state.scripted.removeFirst()
            } else if !authorized {
                status = 401
            } else if json == nil || model.isEmpty {
                status = 400
            } else if configuration.rateLimitEvery > 0, n % configuration.rateLimitEvery == 0 {
                status = 429
            } else if configuration.errorRate > 0,
                Int((Double(n) * configuration.errorRate).rounded(.down))
                    != Int((Double(n - 1) * configuration.errorRate).rounded(.down))
            {
                status = 500
            }
            state.received.append(
                ReceivedRequest(
                    path: request.uri.path, model: model, traceparent: header("traceparent"),
                    tracestate: header("tracestate"),
                    correlationID: header("x-correlation-id"), baggage: header("baggage"),
                    idempotencyKey: header("Idempotency-Key"),
                    authorized: authorized, status: status,
                    messages: (json?["messages"]?.arrayValue ?? []).map {
                        "\($0["role"]?.stringValue ?? ""): \($0["content"]?.stringValue ?? "")"
                    }))
            if state.received.count > 1000 { state.received.removeFirst(state.received.count - 1000) }
            return (configuration, status)
        }
        if configuration.latency > .zero { try await Task.sleep(for: configuration.latency) }
        switch status {
        case 200: break
        case 429:
            var response = Self.json(
                .object([
                    ("error", .object([("message", "rate limited by provider-sim"), ("type", "rate_limit_error")]))
                ]),
                status: .tooManyRequests)
            response.headers[.retryAfter] = String(configuration.retryAfterSeconds)
            return response
        default:
            return Self.json(
                .object([
                    (
                        "error",
                        .object([("message", .string("provider-sim answered \(status)")), ("type", "server_error")])
                    )
                ]),
                status: HTTPResponse.Status(code: status))
        }
        let messages = json?["messages"]?.arrayValue ?? []
        let lastUser = messages.last { $0["role"]?.stringValue == "user" }?["content"]?.stringValue ?? ""
        let reply = "Simulated reply from \(model): \(lastUser.prefix(200))"
        let promptTokens = messages.reduce(0) { $0 + 4 + Self.tokens($1["content"]?.stringValue ?? "") }
        let completionTokens = Self.tokens(reply)
        var completionCap = completionTokens
        if let maxTokens = json?["max_tokens"]?.numberValue { completionCap = min(completionTokens, Int(maxTokens)) }
        let id = "chatcmpl-sim-\(UUID().uuidString.prefix(8).lowercased())"
        if json?["stream"]?.boolValue == true {
            return stream(
                reply, id: id, model: model, finishReason: completionCap < completionTokens ? "length" : "stop",
                usage: (promptTokens, completionCap), correlationID: header("x-correlation-id"),
                configuration: configuration)
        }
        let answer = JSONValue.object([
            ("id", .string(id)),
            ("object", "chat.completion"),
            ("created", .number(Double(Int(Date().timeIntervalSince1970)))),
            ("model", .string(model)),
            (
                "choices",
                .array([
                    .object([
                        ("index", 0), ("message", .object([("role", "assistant"), ("content", .string(reply))])),
                        ("finish_reason", .string(completionCap < completionTokens ? "length" : "stop")),
                    ])
                ])
            ),
            (
                "usage",
                .object([
                    ("prompt_tokens", .number(Double(promptTokens))),
                    ("completion_tokens", .number(Double(completionCap))),
                    ("total_tokens", .number(Double(promptTokens + completionCap))),
                ])
            ),
        ])
        return Self.json(answer, status: .ok)
    }

    /// The reply as server-sent events, in `configuration.streamChunks` pieces.
    private func stream(
        _ reply: String, id: String, model: String, finishReason: String, usage: (prompt: Int, completion: Int),
        correlationID: String?, configuration: Configuration
    ) -> Response {
        let count = max(1, configuration.streamChunks)
        let characters = Array(reply)
        let size = max(1, (characters.count + count - 1) / count)
        let pieces = stride(from: 0, to: max(characters.count, 1), by: size).map {
            String(characters[$0..<min($0 + size, characters.count)])
        }
        let created = JSONValue.number(Double(Int(Date().timeIntervalSince1970)))
        @Sendable func event(_ choice: [(String, JSONValue)], usage: JSONValue? = nil) -> ByteBuffer {
            var members: [(String, JSONValue)] = [
                ("id", .string(id)), ("object", "chat.completion.chunk"), ("created", created),
                ("model", .string(model)), ("choices", .array([.object([("index", 0)] + choice)])),
            ]
            if let usage { members.append(("usage", usage)) }
            return ByteBuffer(string: "data: \(JSONValue.object(members).serialized)\n\n")
        }
        let usageValue = JSONValue.object([
            ("prompt_tokens", .number(Double(usage.prompt))), ("completion_tokens", .number(Double(usage.completion))),
            ("total_tokens", .number(Double(usage.prompt + usage.completion))),
        ])
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let state = self.state
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                for (index, piece) in pieces.enumerated() {
                    if let failAfter = configuration.streamFailAfterChunks, index >= failAfter {
                        throw SimulatedStreamFailure()
                    }
                    if index > 0, configuration.streamChunkDelay > .zero {
                        try await Task.sleep(for: configuration.streamChunkDelay)
                    }
                    let delta: JSONValue =
                        index == 0
                        ? .object([("role", "assistant"), ("content", .string(piece))])
                        : .object([("content", .string(piece))])
                    try await writer.write(event([("delta", delta), ("finish_reason", .null)]))
                    if index == 0, let correlationID {
                        let now = ContinuousClock.now
                        state.withLockedValue { state in
                            if state.firstChunks.count >= 10_000 { state.firstChunks.removeAll() }
                            state.firstChunks[correlationID] = now
                        }
                    }
                }
                if let failAfter = configuration.streamFailAfterChunks, failAfter >= pieces.count {
                    throw SimulatedStreamFailure()
                }
                try await writer.write(
                    event([("delta", .object([])), ("finish_reason", .string(finishReason))], usage: usageValue))
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            })
    }

    private struct SimulatedStreamFailure: Error {}

    /// About four characters a token, as OpenAI's rule of thumb.
    static func tokens(_ text: String) -> Int { max(1, (text.utf8.count + 3) / 4) }

    static func json(_ value: JSONValue, status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(
            status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized)))
    }
}
