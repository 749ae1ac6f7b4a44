import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Traceline
import Tracing

/// A chat-completions request.
public struct ChatRequest: Sendable {
    public var model: String
    /// `(role, content)` pairs.
    public var messages: [(role: String, content: String)]
    public var temperature: Double?
    public var maxTokens: Int?
    /// Sent as `Idempotency-Key` so a retried request is not billed twice.
    public var idempotencyKey: String?

    public init(
        model: String, messages: [(role: String, content: String)], temperature: Double? = nil,
        maxTokens: Int? = nil, idempotencyKey: String? = nil
    ) {
        self.model = model
        self.messages = messages
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.idempotencyKey = idempotencyKey
    }
}

/// What the provider answered.
public struct ChatResponse: Sendable, Equatable {
    public var content: String
    public var model: String
    public var id: String?
    public var finishReason: String?
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int
}

/// Why a provider call failed. Descriptions never contain the API key.
public enum ProviderError: Error, CustomStringConvertible, GenAIErrorTypeProviding, Equatable {
    /// The breaker is open after repeated failures; the call was not attempted.
    case circuitOpen(ProviderKind, retryAfterSeconds: Int)
    /// The provider answered an error status (after retries, if it was retryable).
    case status(ProviderKind, code: Int, message: String)
    /// The call did not finish within its time.
    case timeout(ProviderKind)
    /// The connection failed (refused, reset, TLS).
    case transport(ProviderKind, String)
    /// The answer was not a chat completion.
    case invalidResponse(ProviderKind, String)
    /// A streamed answer sent no byte for the idle timeout.
    case stalled(ProviderKind, idleSeconds: Double)
    /// A streamed answer broke off after part of it was passed on (an error event, a dropped
    /// connection); not retried, since the client already has text.
    case streamInterrupted(ProviderKind, String)

    public var description: String {
        switch self {
        case .circuitOpen(let kind, let seconds):
            return
                "\(kind.gateName) provider unavailable: circuit breaker open after repeated failures; retry in \(seconds) s"
        case .status(let kind, let code, let message):
            return "\(kind.gateName) provider answered HTTP \(code)" + (message.isEmpty ? "" : ": \(message)")
        case .timeout(let kind): return "\(kind.gateName) provider timed out"
        case .transport(let kind, let detail): return "\(kind.gateName) provider unreachable: \(detail)"
        case .invalidResponse(let kind, let detail):
            return "\(kind.gateName) provider sent an invalid response: \(detail)"
        case .stalled(let kind, let seconds):
            return
                "\(kind.gateName) provider stream stalled: nothing for \(seconds) s (\(kind.environmentPrefix)_STREAM_IDLE_TIMEOUT_SECS)"
        case .streamInterrupted(let kind, let detail): return "\(kind.gateName) provider stream broke off: \(detail)"
        }
    }

    public var errorType: String {
        switch self {
        case .circuitOpen: return "circuit_open"
        case .status(_, let code, _): return String(code)
        case .timeout: return "timeout"
        case .transport: return "transport"
        case .invalidResponse: return "invalid_response"
        case .stalled: return "stream_stalled"
        case .streamInterrupted: return "stream_interrupted"
        }
    }

    /// `status` label of `mcp_api_calls_total`.
    var metricStatus: String {
        switch self {
        case .timeout, .stalled: return "timeout"
        default: return "error"
        }
    }
}

/// An OpenAI-compatible chat-completions client over AsyncHTTPClient (non-blocking), with retries
/// on 429, 408, 5xx and connection errors (honouring `Retry-After`), a circuit breaker, and a
/// GenAI CLIENT span per call whose HTTP request carries `traceparent`, `tracestate` and
/// `X-Correlation-ID` but not baggage.
public final class ChatProviderClient: Sendable {
    public let configuration: ProviderConfiguration
    public let breaker: CircuitBreaker
    private let httpClient: HTTPClient
    private let tracer: any Tracer
    private let logger: Logger
    private let url: String
    private let host: String?
    private let port: Int?

    public init(configuration: ProviderConfiguration, httpClient: HTTPClient, tracer: any Tracer, logger: Logger) {
        self.configuration = configuration
        self.httpClient = httpClient
        self.tracer = tracer
        self.logger = logger
        self.breaker = CircuitBreaker(
            name: configuration.kind.rawValue,
            configuration: .init(
                failureThreshold: configuration.breakerFailures, cooldown: configuration.breakerCooldown)
        )
        let base =
            configuration.baseURL.hasSuffix("/") ? String(configuration.baseURL.dropLast()) : configuration.baseURL
        self.url = base + "/chat/completions"
        let parsed = URLComponents(string: base)
        self.host = parsed?.host
        self.port = parsed?.port ?? (parsed?.scheme == "https" ? 443 : parsed?.scheme == "http" ? 80 : nil)
    }

    /// Sends the request and returns the whole answer; throws ``ProviderError``.
    public func chat(_ request: ChatRequest, deadline: ContinuousClock.Instant) async throws -> ChatResponse {
        let kind = configuration.kind
        return try await withGenAISpan(
            provider: kind.semanticName, model: request.model,
            serverAddress: host, serverPort: port, tracer: tracer
        ) { span in
            span.setAttribute("exai.provider", .string(kind.rawValue))
            let response = try await withBreaker(status: { span.setAttribute("exai.call.status", .string($0)) }) {
                try await send(request, deadline: deadline, span: span)
            }
            span.record(response.usage)
            return response
        }
    }

    /// Asks for a streamed answer (server-sent events) and passes its text to `onText` as it
    /// arrives; returns the whole answer with the usage the stream reported.
    ///
    /// Before the first byte the attempt's ``ProviderConfiguration/timeout`` applies, then
    /// ``ProviderConfiguration/streamIdleTimeout`` between bytes; `deadline` bounds the whole call.
    /// A failed attempt is retried only while no text has gone to `onText`. Cancelling the calling
    /// task closes the provider connection at once; the breaker does not count it.
    public func chatStreaming(
        _ request: ChatRequest, deadline: ContinuousClock.Instant,
        onText: (@Sendable (String) async -> Void)? = nil
    ) async throws -> ChatResponse {
        let kind = configuration.kind
        return try await withGenAIStreamSpan(
            provider: kind.semanticName, model: request.model,
            serverAddress: host, serverPort: port, tracer: tracer
        ) { span in
            span.setAttribute("exai.provider", .string(kind.rawValue))
            // Counted whatever the outcome: chunks of a broken or cancelled stream were generated too.
            defer { span.setAttribute("exai.stream.chunks", .int64(Int64(span.chunks))) }
            let response = try await withBreaker(status: { span.setAttribute("exai.call.status", .string($0)) }) {
                try await sendStreaming(request, deadline: deadline, span: span, onText: onText)
            }
            span.record(response.usage)
            return response
        }
    }

    /// Runs one call through the breaker and reports its status (`success`, `error`, `timeout`, `cancelled`).
    private func withBreaker(
        status: (String) -> Void, _ body: () async throws -> ChatResponse
    ) async throws -> ChatResponse {
        guard breaker.acquire() else {
            status("error")
            throw ProviderError.circuitOpen(
                configuration.kind, retryAfterSeconds: Int(configuration.breakerCooldown.components.seconds))
        }
        do {
            let response = try await body()
            breaker.recordSuccess()
            status("success")
            return response
        } catch let error as ProviderError {
            // A client error (bad request, bad key) says nothing about the provider's health.
            if case .status(_, let code, _) = error, code < 500, code != 429, code != 408 {
                breaker.recordSuccess()
            } else {
                breaker.recordFailure()
            }
            status(error.metricStatus)
            throw error
        } catch is CancellationError {
            // The caller gave up (client gone, call deadline): nothing was learnt about the provider.
            breaker.recordCancelled()
            status("cancelled")
            throw CancellationError()
        } catch {
            breaker.recordFailure()
            status("error")
            throw error
        }
    }

    /// What one attempt came to: an answer, or a failure and whether (after how long) to retry.
    private enum Attempt {
        case answered(ChatResponse)
        case failed(ProviderError, retryAfter: Duration?)
    }

    /// Runs attempts until one answers, a failure is final, the retries are spent or the deadline is near.
    /// A ``ProviderError`` thrown by an attempt is final; timeouts and connection errors are retried.
    private func withRetries(
        deadline: ContinuousClock.Instant,
        _ attempt: (_ number: Int, _ remaining: Duration) async throws -> Attempt
    ) async throws -> ChatResponse {
        let kind = configuration.kind
        var number = 0
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { throw ProviderError.timeout(kind) }
            let outcome: Attempt
            do {
                outcome = try await attempt(number, remaining)
            } catch let error as ProviderError {
                throw error
            } catch let error as HTTPClientError
                where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout
            {
                if Task.isCancelled { throw CancellationError() }
                outcome = .failed(.timeout(kind), retryAfter: backoff(number))
            } catch {
                if Task.isCancelled || error is CancellationError { throw CancellationError() }
                outcome = .failed(.transport(kind, String(describing: error)), retryAfter: backoff(number))
            }
            let failure: ProviderError, delay: Duration?
            switch outcome {
            case .answered(let response): return response
            case .failed(let error, let retryAfter): (failure, delay) = (error, retryAfter)
            }
            guard let delay, number < configuration.retryBackoff.count, ContinuousClock.now + delay < deadline else {
                throw failure
            }
            number += 1
            logger.warning(
                "provider call failed; retrying",
                metadata: [
                    "provider": "\(kind.rawValue)", "attempt": "\(number)", "error": "\(failure)", "delay": "\(delay)",
                ])
            try await Task.sleep(for: delay)
        }
    }

    private func httpRequest(_ request: ChatRequest, body: [UInt8], accept: String) -> HTTPClientRequest {
        var http = HTTPClientRequest(url: url)
        http.method = .POST
        http.headers.add(name: "Authorization", value: "Bearer \(configuration.apiKey)")
        http.headers.add(name: "Content-Type", value: "application/json")
        http.headers.add(name: "Accept", value: accept)
        if let key = request.idempotencyKey { http.headers.add(name: "Idempotency-Key", value: key) }
        http.body = .bytes(ByteBuffer(bytes: body))
        return http
    }

    /// An error status: its message, and a retry (after `Retry-After` or the backoff) when it is 429, 408 or 5xx.
    private func statusFailure(_ response: HTTPClientResponse, attempt: Int) async throws -> Attempt {
        let bytes = try await response.body.collect(upTo: 64 * 1024)
        let code = Int(response.status.code)
        let failure = ProviderError.status(configuration.kind, code: code, message: Self.errorMessage(bytes))
        guard code == 429 || code == 408 || code >= 500 else { return .failed(failure, retryAfter: nil) }
        let retryAfter = response.headers.first(name: "Retry-After").flatMap {
            RetryAfter.delay($0, nowSeconds: Int64(Date().timeIntervalSince1970))
        }
        return .failed(failure, retryAfter: retryAfter ?? backoff(attempt))
    }

    private func send(
        _ request: ChatRequest, deadline: ContinuousClock.Instant, span: GenAISpanRecorder
    ) async throws -> ChatResponse {
        let kind = configuration.kind
        let body = try Self.encode(request, stream: false, kind: kind)
        let maxBytes = configuration.maxAnswerBytes * 2 + 64 * 1024
        return try await withRetries(deadline: deadline) { attempt, remaining in
            if attempt > 0 { span.setAttribute("http.request.resend_count", .int64(Int64(attempt))) }
            let http = httpRequest(request, body: body, accept: "application/json")
            let timeout = min(configuration.timeout, remaining)
            let response = try await httpClient.execute(http, timeout: .nanoseconds(Int64(timeout.nanoseconds)))
            guard response.status == .ok else { return try await statusFailure(response, attempt: attempt) }
            let bytes: ByteBuffer
            do {
                bytes = try await response.body.collect(upTo: maxBytes)
            } catch is NIOTooManyBytesError {
                throw ProviderError.invalidResponse(kind, "the answer is over \(maxBytes) bytes")
            }
            return .answered(try Self.decode(bytes, kind: kind, requestedModel: request.model))
        }
    }

    private func sendStreaming(
        _ request: ChatRequest, deadline: ContinuousClock.Instant, span: GenAIStreamRecorder,
        onText: (@Sendable (String) async -> Void)?
    ) async throws -> ChatResponse {
        let kind = configuration.kind
        let body = try Self.encode(request, stream: true, kind: kind)
        let configuration = self.configuration
        let forwarded = NIOLockedValueBox(false)
        return try await withRetries(deadline: deadline) { attempt, remaining in
            if attempt > 0 { span.setAttribute("http.request.resend_count", .int64(Int64(attempt))) }
            let http = httpRequest(request, body: body, accept: "text/event-stream")
            let firstByteDeadline = ContinuousClock.now + min(configuration.timeout, remaining)
            let response = try await httpClient.execute(
                http, timeout: .nanoseconds(Int64(min(configuration.timeout, remaining).nanoseconds)))
            guard response.status == .ok else { return try await statusFailure(response, attempt: attempt) }
            do {
                let answer = try await Self.readStream(
                    response, configuration: configuration, requestedModel: request.model,
                    firstByteDeadline: firstByteDeadline, span: span
                ) { text in
                    guard let onText else { return }
                    forwarded.withLockedValue { $0 = true }
                    await onText(text)
                }
                return .answered(answer)
            } catch {
                if Task.isCancelled { throw CancellationError() }
                let failure: ProviderError
                switch error {
                case let error as ProviderError: failure = error
                case is StreamStall: failure = .stalled(kind, idleSeconds: configuration.streamIdleTimeout.seconds)
                default: failure = .transport(kind, String(describing: error))
                }
                // Text already passed on cannot be taken back: a retry would send it twice.
                let final = forwarded.withLockedValue { $0 }
                switch failure {
                case .stalled, .streamInterrupted:
                    if final { throw failure }
                case .transport:
                    if final { throw ProviderError.streamInterrupted(kind, failure.description) }
                default:
                    throw failure  // not an answer this provider gives by chance: a retry would get the same
                }
                return .failed(failure, retryAfter: backoff(attempt))
            }
        }
    }

    /// Nothing arrived within the first-byte or idle timeout.
    private struct StreamStall: Error {}

    /// Reads one streamed answer, with a watchdog that fails it when the first byte, or the next
    /// one, is late. `onText` receives each piece of answer text in order.
    private static func readStream(
        _ response: HTTPClientResponse, configuration: ProviderConfiguration, requestedModel: String,
        firstByteDeadline: ContinuousClock.Instant, span: GenAIStreamRecorder,
        onText: @escaping @Sendable (String) async -> Void
    ) async throws -> ChatResponse {
        let kind = configuration.kind
        let lastByte = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
        let idle = configuration.streamIdleTimeout
        let isJSON = response.headers.first(name: "Content-Type")?.lowercased().contains("json") ?? false
        return try await withThrowingTaskGroup(of: ChatResponse?.self) { group in
            group.addTask {
                if isJSON {
                    // A provider (or a gateway) that ignored `"stream": true` answered in one piece.
                    let bytes = try await response.body.collect(upTo: configuration.maxAnswerBytes * 2 + 64 * 1024)
                    let answer = try decode(bytes, kind: kind, requestedModel: requestedModel)
                    if !answer.content.isEmpty {
                        span.chunkReceived()
                        await onText(answer.content)
                    }
                    return answer
                }
                var parser = ServerSentEventParser(maxLineBytes: configuration.maxEventBytes)
                var decoder = ChatStreamDecoder(
                    kind: kind, requestedModel: requestedModel, maxAnswerBytes: configuration.maxAnswerBytes)
                func apply(_ events: [String]) async throws -> Bool {
                    for event in events where !event.isEmpty {
                        switch try decoder.apply(event) {
                        case .text(let text):
                            span.chunkReceived()
                            await onText(text)
                        case .progress(let generated):
                            if generated { span.chunkReceived() }
                        case .done:
                            return true
                        }
                    }
                    return false
                }
                do {
                    for try await buffer in response.body {
                        lastByte.withLockedValue { $0 = .now }
                        if try await apply(try parser.feed(buffer)) { return decoder.response }
                    }
                    if try await apply(try parser.finish()) { return decoder.response }
                } catch let failure as ServerSentEventParser.Failure {
                    guard case .lineTooLong(let limit) = failure else { throw failure }
                    throw ProviderError.invalidResponse(
                        kind, "a stream line is over \(limit) bytes (EXAI_STREAM_MAX_EVENT_BYTES)")
                }
                // Some servers end after the last chunk without `[DONE]`; a finish reason says the answer is whole.
                guard decoder.finishReason != nil else {
                    throw ProviderError.streamInterrupted(kind, "the stream ended before [DONE]")
                }
                return decoder.response
            }
            group.addTask {
                while true {
                    let due = lastByte.withLockedValue { $0 }.map { $0 + idle } ?? firstByteDeadline
                    if ContinuousClock.now >= due { throw StreamStall() }
                    try await Task.sleep(until: due)
                }
            }
            let answer = try await group.next() ?? nil
            group.cancelAll()
            guard let answer else { throw StreamStall() }
            return answer
        }
    }

    private func backoff(_ attempt: Int) -> Duration? {
        attempt < configuration.retryBackoff.count ? configuration.retryBackoff[attempt] : nil
    }

    /// The request body. A streamed Kimi request asks for usage with `stream_options.include_usage`
    /// (OpenAI's switch, which Moonshot follows); GLM reports usage in its last chunk unasked.
    static func encode(_ request: ChatRequest, stream: Bool, kind: ProviderKind) throws -> [UInt8] {
        var body: [(String, JSONValue)] = [
            ("model", .string(request.model)),
            (
                "messages",
                .array(
                    request.messages.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) })
            ),
            ("stream", .bool(stream)),
        ]
        if stream, kind == .kimi { body.append(("stream_options", .object([("include_usage", true)]))) }
        if let temperature = request.temperature { body.append(("temperature", .number(temperature))) }
        if let maxTokens = request.maxTokens { body.append(("max_tokens", .number(Double(maxTokens)))) }
        return Array(JSONValue.object(body).serialized.utf8)
    }

    static func decode(_ buffer: ByteBuffer, kind: ProviderKind, requestedModel: String) throws -> ChatResponse {
        guard let json = try? JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView)) else {
            throw ProviderError.invalidResponse(kind, "not JSON")
        }
        guard let choice = json["choices"]?.arrayValue?.first, let message = choice["message"] else {
            throw ProviderError.invalidResponse(kind, "no choices[0].message")
        }
        let usage = json["usage"]
        let prompt = tokenCount(usage?["prompt_tokens"])
        let completion = tokenCount(usage?["completion_tokens"])
        return ChatResponse(
            content: message["content"]?.stringValue ?? "",
            model: json["model"]?.stringValue ?? requestedModel,
            id: json["id"]?.stringValue,
            finishReason: choice["finish_reason"]?.stringValue,
            promptTokens: prompt,
            completionTokens: completion,
            totalTokens: usage?["total_tokens"] == nil ? prompt + completion : tokenCount(usage?["total_tokens"])
        )
    }

    /// The provider's own error message, short and free of secrets.
    static func errorMessage(_ buffer: ByteBuffer) -> String {
        let data = Data(buffer.readableBytesView)
        let json = try? JSONDecoder().decode(JSONValue.self, from: data)
        let text =
            json?["error"]?["message"]?.stringValue ?? json?["message"]?.stringValue
            ?? String(decoding: data.prefix(200), as: UTF8.self)
        return SecretRedactor.redact(String(text.prefix(200)))
    }
}

extension ChatResponse {
    var usage: GenAIUsage {
        GenAIUsage(
            responseModel: model, responseID: id, inputTokens: promptTokens, outputTokens: completionTokens,
            finishReasons: finishReason.map { [$0] } ?? [])
    }
}

extension Duration {
    var seconds: Double { nanoseconds / 1e9 }

    var nanoseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1e9 + Double(attoseconds) / 1e9
    }
}
