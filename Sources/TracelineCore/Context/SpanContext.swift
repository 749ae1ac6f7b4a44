/// The part of a span that crosses process boundaries: its IDs, flags and vendor trace state.
public struct SpanContext: Hashable, Sendable {
    /// The trace this span belongs to.
    public var traceID: TraceID
    /// The span's own ID.
    public var spanID: SpanID
    /// The W3C trace flags, such as `sampled`.
    public var traceFlags: TraceFlags
    /// Vendor-specific `tracestate` members.
    public var traceState: TraceState
    /// True when this context was extracted from an incoming request rather than created here.
    public var isRemote: Bool

    /// Creates a span context.
    /// - Parameters:
    ///   - traceID: the trace this span belongs to.
    ///   - spanID: the span's own ID.
    ///   - traceFlags: the W3C trace flags.
    ///   - traceState: vendor trace state; empty by default.
    ///   - isRemote: whether the context came from another process.
    public init(
        traceID: TraceID, spanID: SpanID, traceFlags: TraceFlags, traceState: TraceState = TraceState(), isRemote: Bool
    ) {
        self.traceID = traceID
        self.spanID = spanID
        self.traceFlags = traceFlags
        self.traceState = traceState
        self.isRemote = isRemote
    }

    /// Whether the `sampled` flag is set.
    public var isSampled: Bool { traceFlags.contains(.sampled) }
}
