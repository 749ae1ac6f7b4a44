import Tracing

/// The handle a ``withGenAIStreamSpan(operation:provider:model:serverAddress:serverPort:tracer:isolation:_:)``
/// body records through: call ``chunkReceived()`` for every chunk of generated output as it
/// arrives, and ``record(_:)`` with the usage the stream reported at its end.
public struct GenAIStreamRecorder: Sendable {
    private struct Progress {
        var chunks = 0
        var timeToFirstChunk: Duration?
    }

    let span: any Tracing.Span
    private let started: ContinuousClock.Instant
    private let progress = LockedValue(Progress())

    init(_ span: any Tracing.Span) {
        self.span = span
        self.started = .now
    }

    /// Counts one chunk of output. The first one sets `gen_ai.response.time_to_first_chunk`
    /// (seconds since the span started) and adds a `gen_ai.first_chunk` event. Cost: one short lock.
    public func chunkReceived() {
        let now = ContinuousClock.now
        let first = progress.withLock { progress -> Duration? in
            progress.chunks += 1
            guard progress.timeToFirstChunk == nil else { return nil }
            progress.timeToFirstChunk = now - started
            return progress.timeToFirstChunk
        }
        if let first {
            let (seconds, attoseconds) = first.components
            span.attributes["gen_ai.response.time_to_first_chunk"] = Double(seconds) + Double(attoseconds) / 1e18
            span.addEvent(SpanEvent(name: "gen_ai.first_chunk"))
        }
    }

    /// Chunks counted so far.
    public var chunks: Int { progress.withLock { $0.chunks } }

    /// Time from the span's start to the first chunk, once one arrived.
    public var timeToFirstChunk: Duration? { progress.withLock { $0.timeToFirstChunk } }

    /// Records the response's model, id, token usage and finish reasons (from the stream's last chunks).
    public func record(_ usage: GenAIUsage) { usage.apply(to: span) }

    /// Sets any other attribute.
    public func setAttribute(_ key: String, _ value: SpanAttribute) { span.attributes[key] = value }
}

/// Runs a streamed generative-AI call (for example a chat completion read as server-sent events)
/// inside a CLIENT span: the span of ``withGenAISpan(operation:provider:model:serverAddress:serverPort:tracer:isolation:_:)``
/// with `gen_ai.request.stream = true`, plus time to first chunk and an event when it arrived.
///
/// ```swift
/// let text = try await withGenAIStreamSpan(provider: "moonshot_ai", model: "kimi-k2-0905-preview") { span in
///     var text = ""
///     for try await chunk in client.streamChat(request) {
///         if let delta = chunk.delta {
///             span.chunkReceived()
///             text += delta
///         }
///         if let usage = chunk.usage {
///             span.record(GenAIUsage(inputTokens: usage.prompt, outputTokens: usage.completion,
///                                    finishReasons: chunk.finishReason.map { [$0] } ?? []))
///         }
///     }
///     return text
/// }
/// ```
public func withGenAIStreamSpan<Result>(
    operation: String = "chat",
    provider: String,
    model: String,
    serverAddress: String? = nil,
    serverPort: Int? = nil,
    tracer: (any Tracer)? = nil,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (GenAIStreamRecorder) async throws -> Result
) async throws -> Result {
    let span = startGenAISpan(
        operation: operation, provider: provider, model: model, serverAddress: serverAddress,
        serverPort: serverPort, tracer: tracer, stream: true)
    return try await runGenAISpan(span) { try await body(GenAIStreamRecorder(span)) }
}
