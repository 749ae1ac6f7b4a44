import Synchronization

/// Keeps exported spans in memory, for tests and for inspecting what the pipeline produced.
public final class InMemorySpanExporter: SpanExporter {
    private let state = LockedValue<State>(State())

    private struct State {
        var spans: [FinishedSpan] = []
        var exportCalls = 0
        var isShutDown = false
    }

    /// Creates an empty exporter.
    public init() {}

    /// Appends the batch to `spans`, or fails after shutdown; see `SpanExporter.export`.
    public func export(_ batch: [FinishedSpan], deadline: ContinuousClock.Instant) -> ExportResult {
        state.withLock { state in
            guard !state.isShutDown else { return .failure(reason: "exporter is shut down") }
            state.spans.append(contentsOf: batch)
            state.exportCalls += 1
            return .success
        }
    }

    /// Makes later exports fail; see `SpanExporter.shutdown`.
    public func shutdown(deadline: ContinuousClock.Instant) {
        state.withLock { $0.isShutDown = true }
    }

    /// Every span exported so far, in export order.
    public var spans: [FinishedSpan] { state.withLock { $0.spans } }

    /// How many times `export` was called.
    public var exportCalls: Int { state.withLock { $0.exportCalls } }

    /// Forgets the spans exported so far.
    public func reset() { state.withLock { $0.spans.removeAll() } }
}
