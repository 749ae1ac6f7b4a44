import Tracing

/// What a generative-AI call reports back, recorded on its span as `gen_ai.*` attributes.
public struct GenAIUsage: Sendable, Equatable {
    /// The model that answered (`gen_ai.response.model`).
    public var responseModel: String?
    /// The provider's response ID (`gen_ai.response.id`).
    public var responseID: String?
    /// Tokens in the prompt (`gen_ai.usage.input_tokens`).
    public var inputTokens: Int?
    /// Tokens in the completion (`gen_ai.usage.output_tokens`).
    public var outputTokens: Int?
    /// Why generation stopped, one per choice (`gen_ai.response.finish_reasons`).
    public var finishReasons: [String]

    /// Creates a usage record; nil and empty fields are not recorded.
    /// - Parameters:
    ///   - responseModel: the model that answered.
    ///   - responseID: the provider's response ID.
    ///   - inputTokens: tokens in the prompt.
    ///   - outputTokens: tokens in the completion.
    ///   - finishReasons: why generation stopped.
    public init(
        responseModel: String? = nil, responseID: String? = nil, inputTokens: Int? = nil,
        outputTokens: Int? = nil, finishReasons: [String] = []
    ) {
        self.responseModel = responseModel
        self.responseID = responseID
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.finishReasons = finishReasons
    }
}

/// An error that names its own `error.type` (e.g. `timeout`, `429`, `circuit_open`) instead of its type name.
public protocol GenAIErrorTypeProviding: Error {
    /// The value recorded as `error.type`.
    var errorType: String { get }
}

/// The handle a ``withGenAISpan(operation:provider:model:serverAddress:serverPort:tracer:isolation:_:)`` body records through.
public struct GenAISpanRecorder: Sendable {
    let span: any Tracing.Span

    init(_ span: any Tracing.Span) { self.span = span }

    /// Records the response's model, id, token usage and finish reasons.
    public func record(_ usage: GenAIUsage) { usage.apply(to: span) }

    /// Sets any other attribute (e.g. `http.request.resend_count`).
    public func setAttribute(_ key: String, _ value: SpanAttribute) { span.attributes[key] = value }
}

/// Runs `body` inside a CLIENT span for one generative-AI call, following the OpenTelemetry GenAI
/// conventions: named `{operation} {model}`, with `gen_ai.operation.name`, `gen_ai.provider.name`,
/// `gen_ai.request.model` and `server.*` set at start (samplers see them), the response attributes
/// the body records, and on failure the error recorded with `error.type`.
///
/// Baggage is removed from the context inside the span: HTTP clients that inject the current
/// context (AsyncHTTPClient does) then send `traceparent`, `tracestate` and `X-Correlation-ID` to
/// the provider, but not your baggage, which is for your own services.
///
/// ```swift
/// let reply = try await withGenAISpan(provider: "moonshot_ai", model: "kimi-k2-0905-preview") { span in
///     let response = try await client.chat(request)
///     span.record(GenAIUsage(responseModel: response.model, inputTokens: response.usage.prompt,
///                            outputTokens: response.usage.completion, finishReasons: [response.finishReason]))
///     return response.text
/// }
/// ```
public func withGenAISpan<Result>(
    operation: String = "chat",
    provider: String,
    model: String,
    serverAddress: String? = nil,
    serverPort: Int? = nil,
    tracer: (any Tracer)? = nil,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (GenAISpanRecorder) async throws -> Result
) async throws -> Result {
    let span = startGenAISpan(
        operation: operation, provider: provider, model: model, serverAddress: serverAddress,
        serverPort: serverPort, tracer: tracer)
    return try await runGenAISpan(span) { try await body(GenAISpanRecorder(span)) }
}

/// Starts the span of one GenAI call with the attributes samplers see; the context inside drops baggage.
func startGenAISpan(
    operation: String, provider: String, model: String, serverAddress: String?, serverPort: Int?,
    tracer: (any Tracer)?, stream: Bool? = nil
) -> any Tracing.Span {
    var context = ServiceContext.current ?? .topLevel
    context.baggage = nil
    let span = (tracer ?? InstrumentationSystem.tracer).startAnySpan(
        "\(operation) \(model)", context: context, ofKind: .client)
    span.attributes["gen_ai.operation.name"] = operation
    span.attributes["gen_ai.provider.name"] = provider
    span.attributes["gen_ai.request.model"] = model
    if let stream { span.attributes["gen_ai.request.stream"] = stream }
    if let serverAddress { span.attributes["server.address"] = serverAddress }
    if let serverPort { span.attributes["server.port"] = serverPort }
    return span
}

/// Runs `body` with `span` current, records a failure on it (a cancellation is not one) and ends it.
func runGenAISpan<Result>(
    _ span: any Tracing.Span,
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> Result
) async throws -> Result {
    defer { span.end() }
    do {
        return try await ServiceContext.withValue(span.context) { try await body() }
    } catch is CancellationError {
        // Cancelled on purpose by the caller: not an error (status unset, no error.type).
        throw CancellationError()
    } catch {
        span.attributes["error.type"] =
            (error as? GenAIErrorTypeProviding)?.errorType ?? String(describing: type(of: error))
        span.recordError(error)
        span.setStatus(SpanStatus(code: .error))
        throw error
    }
}

extension GenAIUsage {
    func apply(to span: any Tracing.Span) {
        if let value = responseModel { span.attributes["gen_ai.response.model"] = value }
        if let value = responseID { span.attributes["gen_ai.response.id"] = value }
        if let value = inputTokens { span.attributes["gen_ai.usage.input_tokens"] = value }
        if let value = outputTokens { span.attributes["gen_ai.usage.output_tokens"] = value }
        if !finishReasons.isEmpty { span.attributes["gen_ai.response.finish_reasons"] = finishReasons }
    }
}

extension Tracer {
    /// `startSpan` through an existential tracer.
    fileprivate func startAnySpan(_ name: String, context: ServiceContext, ofKind kind: SpanKind) -> any Tracing.Span {
        startSpan(name, context: context, ofKind: kind)
    }
}
