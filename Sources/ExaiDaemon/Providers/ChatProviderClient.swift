import AsyncHTTPClient
import Foundation
import Logging
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

    public init(model: String, messages: [(role: String, content: String)], temperature: Double? = nil,
                maxTokens: Int? = nil, idempotencyKey: String? = nil) {
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

    public var description: String {
        switch self {
        case .circuitOpen(let kind, let seconds):
            return "\(kind.gateName) provider unavailable: circuit breaker open after repeated failures; retry in \(seconds) s"
        case .status(let kind, let code, let message):
            return "\(kind.gateName) provider answered HTTP \(code)" + (message.isEmpty ? "" : ": \(message)")
        case .timeout(let kind): return "\(kind.gateName) provider timed out"
        case .transport(let kind, let detail): return "\(kind.gateName) provider unreachable: \(detail)"
        case .invalidResponse(let kind, let detail): return "\(kind.gateName) provider sent an invalid response: \(detail)"
        }
    }

    public var errorType: String {
        switch self {
        case .circuitOpen: return "circuit_open"
        case .status(_, let code, _): return String(code)
        case .timeout: return "timeout"
        case .transport: return "transport"
        case .invalidResponse: return "invalid_response"
        }
    }

    /// `status` label of `mcp_api_calls_total`.
    var metricStatus: String {
        if case .timeout = self { return "timeout" }
        return "error"
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
            configuration: .init(failureThreshold: configuration.breakerFailures, cooldown: configuration.breakerCooldown)
        )
        let base = configuration.baseURL.hasSuffix("/") ? String(configuration.baseURL.dropLast()) : configuration.baseURL
        self.url = base + "/chat/completions"
        let parsed = URLComponents(string: base)
        self.host = parsed?.host
        self.port = parsed?.port ?? (parsed?.scheme == "https" ? 443 : parsed?.scheme == "http" ? 80 : nil)
    }

    /// Sends the request; throws ``ProviderError``.
    public func chat(_ request: ChatRequest, deadline: ContinuousClock.Instant) async throws -> ChatResponse {
        let kind = configuration.kind
        return try await withGenAISpan(provider: kind.semanticName, model: request.model,
                                       serverAddress: host, serverPort: port, tracer: tracer) { span in
            span.setAttribute("exai.provider", .string(kind.rawValue))
            guard breaker.acquire() else {
                span.setAttribute("exai.call.status", "error")
                let seconds = Int(configuration.breakerCooldown.components.seconds)
                throw ProviderError.circuitOpen(kind, retryAfterSeconds: seconds)
            }
            do {
                let response = try await send(request, deadline: deadline, span: span)
                breaker.recordSuccess()
                span.record(GenAIUsage(responseModel: response.model, responseID: response.id,
                                       inputTokens: response.promptTokens, outputTokens: response.completionTokens,
                                       finishReasons: response.finishReason.map { [$0] } ?? []))
                span.setAttribute("exai.call.status", "success")
                return response
            } catch let error as ProviderError {
                // A client error (bad request, bad key) says nothing about the provider's health.
                if case .status(_, let code, _) = error, code < 500, code != 429, code != 408 {
                    breaker.recordSuccess()
                } else {
                    breaker.recordFailure()
                }
                span.setAttribute("exai.call.status", .string(error.metricStatus))
                throw error
            } catch {
                breaker.recordFailure()
                span.setAttribute("exai.call.status", "error")
                throw error
            }
        }
    }

    private func send(_ request: ChatRequest, deadline: ContinuousClock.Instant, span: GenAISpanRecorder) async throws -> ChatResponse {
        let kind = configuration.kind
        let body = try Self.encode(request)
        var attempt = 0
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { throw ProviderError.timeout(kind) }
            var http = HTTPClientRequest(url: url)
            http.method = .POST
            http.headers.add(name: "Authorization", value: "Bearer \(configuration.apiKey)")
            http.headers.add(name: "Content-Type", value: "application/json")
            http.headers.add(name: "Accept", value: "application/json")
            if let key = request.idempotencyKey { http.headers.add(name: "Idempotency-Key", value: key) }
            http.body = .bytes(ByteBuffer(bytes: body))
            let attemptTimeout = min(configuration.timeout, remaining)
            var retryDelay: Duration?
            let failure: ProviderError
            do {
                let response = try await httpClient.execute(http, timeout: .nanoseconds(Int64(attemptTimeout.nanoseconds)))
                let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
                if response.status == .ok {
                    return try Self.decode(bytes, kind: kind, requestedModel: request.model)
                }
                let code = Int(response.status.code)
                failure = .status(kind, code: code, message: Self.errorMessage(bytes))
                if code == 429 || code == 408 || code >= 500 {
                    retryDelay = response.headers.first(name: "Retry-After").flatMap {
                        RetryAfter.delay($0, nowSeconds: Int64(Date().timeIntervalSince1970))
                    }
                    retryDelay = retryDelay ?? backoff(attempt)
                }
            } catch let error as ProviderError {
                throw error
            } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
                failure = .timeout(kind)
                retryDelay = backoff(attempt)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                failure = .transport(kind, String(describing: error))
                retryDelay = backoff(attempt)
            }
            guard let delay = retryDelay, attempt < configuration.retryBackoff.count,
                  ContinuousClock.now + delay < deadline else {
                throw failure
            }
            attempt += 1
            span.setAttribute("http.request.resend_count", .int64(Int64(attempt)))
            logger.warning("provider call failed; retrying", metadata: [
                "provider": "\(kind.rawValue)", "attempt": "\(attempt)", "error": "\(failure)", "delay": "\(delay)",
            ])
            try await Task.sleep(for: delay)
        }
    }

    private func backoff(_ attempt: Int) -> Duration? {
        attempt < configuration.retryBackoff.count ? configuration.retryBackoff[attempt] : nil
    }

    static func encode(_ request: ChatRequest) throws -> [UInt8] {
        var body: [(String, JSONValue)] = [
            ("model", .string(request.model)),
            ("messages", .array(request.messages.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) })),
            ("stream", false),
        ]
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
        let prompt = Int(usage?["prompt_tokens"]?.numberValue ?? 0)
        let completion = Int(usage?["completion_tokens"]?.numberValue ?? 0)
        return ChatResponse(
            content: message["content"]?.stringValue ?? "",
            model: json["model"]?.stringValue ?? requestedModel,
            id: json["id"]?.stringValue,
            finishReason: choice["finish_reason"]?.stringValue,
            promptTokens: prompt,
            completionTokens: completion,
            totalTokens: Int(usage?["total_tokens"]?.numberValue ?? Double(prompt + completion))
        )
    }

    /// The provider's own error message, short and free of secrets.
    static func errorMessage(_ buffer: ByteBuffer) -> String {
        let data = Data(buffer.readableBytesView)
        let json = try? JSONDecoder().decode(JSONValue.self, from: data)
        let text = json?["error"]?["message"]?.stringValue ?? json?["message"]?.stringValue
            ?? String(decoding: data.prefix(200), as: UTF8.self)
        return SecretRedactor.redact(String(text.prefix(200)))
    }
}

extension Duration {
    var nanoseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1e9 + Double(attoseconds) / 1e9
    }
}
