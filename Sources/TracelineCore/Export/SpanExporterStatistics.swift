/// An exporter's counters, read by the span-pipeline health check and ``PipelineMetrics``.
/// Spans: `spansExported + spansRejected + spansDropped + spansInFlight + spansBuffered` equals
/// every span handed to `export`.
public struct SpanExporterStatistics: Sendable, Equatable {
    /// Spans the receiver accepted.
    public var spansExported = 0
    /// Spans the receiver reported as rejected in a partial success.
    public var spansRejected = 0
    /// Spans lost: non-retryable status, retries exhausted, deadline passed, breaker open,
    /// oversized request, retry buffer full.
    public var spansDropped = 0
    /// Spans in requests handed to the sender threads and not yet answered (being sent or
    /// waiting for a free sender).
    public var spansInFlight = 0
    /// Request body bytes handed to the sender threads and not yet answered.
    public var bytesInFlight = 0
    /// The limit on ``bytesInFlight`` (0: the exporter sends on the calling thread).
    public var inFlightCapacityBytes = 0
    /// Times `export` found ``inFlightCapacityBytes`` reached (with the retry buffer on: every
    /// sender busy) and waited, or put the request in the retry buffer.
    public var senderWaits = 0
    /// Spans waiting in the retry buffer now (0 when it is off).
    public var spansBuffered = 0
    /// Request body bytes in the retry buffer now.
    public var bytesBuffered = 0
    /// The retry buffer's capacity in bytes (0: off).
    public var bufferCapacityBytes = 0
    /// Spans dropped because the retry buffer had no room for their request (part of `spansDropped`).
    public var spansDroppedBufferFull = 0
    /// Requests sent (first attempts and retries).
    public var requests = 0
    /// Retries among them.
    public var retries = 0
    /// Request body bytes before compression.
    public var bytesUncompressed = 0
    /// Request body bytes as sent, after compression.
    public var bytesSent = 0
    /// Batches refused without a request because the breaker was open.
    public var breakerRejections = 0
    /// The circuit breaker's state when the snapshot was taken, if the exporter has one.
    public var breakerState: CircuitBreaker.State?
    /// The most recent failure, in words (never containing header values).
    public var lastError: String?
    /// Export calls.
    public var exportCalls = 0
    /// Time spent in all export calls together.
    public var exportDurationTotal: Duration = .zero
    /// Time spent in the most recent export call.
    public var lastExportDuration: Duration = .zero

    /// Creates all-zero counters.
    public init() {}
}
