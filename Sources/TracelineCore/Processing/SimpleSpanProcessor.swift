import Synchronization

/// Exports every span as it ends, on the ending thread. For tests and debugging only: `end()`
/// waits for the exporter. Export calls are serialised, as exporters expect.
/// Made with ``SpanProcessors/simple(exporter:)``; the type itself is SPI (`@_spi(Testing)`).
@_spi(Testing) public final class SimpleSpanProcessor: SpanProcessor {
    private let exporter: any SpanExporter
    private let exportLock = LockedValue<Bool>(false)  // true once shut down

    /// Creates a processor that hands each sampled span to `exporter` as it ends.
    public init(exporter: any SpanExporter) {
        self.exporter = exporter
    }

    /// Always false: this processor only looks at ended spans.
    public var isStartRequired: Bool { false }

    /// Exports a sampled span synchronously; see `SpanProcessor.onEnd`.
    public func onEnd(_ span: consuming FinishedSpan) {
        guard span.spanContext.traceFlags.contains(.sampled) else { return }
        let batch = [span]
        exportLock.withLock { isShutDown in
            guard !isShutDown else { return }
            _ = exporter.export(batch, deadline: .now + .seconds(30))
        }
    }

    /// Flushes the exporter; see `SpanProcessor.forceFlush`.
    public func forceFlush(deadline: ContinuousClock.Instant) async -> FlushReport {
        FlushReport(pending: exporter.forceFlush(deadline: deadline).pending)
    }

    /// Shuts down the exporter once; see `SpanProcessor.shutdown`.
    public func shutdown(deadline: ContinuousClock.Instant) async -> FlushReport {
        let first = exportLock.withLock { isShutDown -> Bool in
            defer { isShutDown = true }
            return !isShutDown
        }
        guard first else { return FlushReport() }
        return FlushReport(pending: exporter.shutdown(deadline: deadline).pending)
    }
}
