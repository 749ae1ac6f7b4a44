import CTracelineSupport
import TracelineCore
import TracelineMetrics
import Tracing

/// Keeps recent traces in process memory for the built-in trace pages (zPages-style): the most
/// recent traces, the slowest traces per span name, and traces with errors.
///
/// `onEnd` only appends the span to one of 16 striped buffers (a short lock, chosen by the
/// calling thread, so producers rarely meet); spans are grouped into traces when the pages read
/// the store or a buffer fills. Memory is bounded by `maxBytes` (an estimate per span: its
/// strings plus a fixed overhead): past it, the oldest traces that are neither among the slowest
/// nor among the error traces are evicted, and every eviction is counted. Only sampled spans are
/// kept. Its size is on `/metrics` (it is a ``MetricsSource``).
public final class TraceStore: SpanProcessor, MetricsSource {
    public struct Configuration: Sendable {
        /// The memory the stored spans may take, estimated; default 4 MiB.
        public var maxBytes = 4 << 20
        /// Slowest traces kept per span name.
        public var slowPerName = 5
        /// Error traces kept.
        public var errorTraces = 50
        /// Spans per trace kept (the rest are counted as dropped).
        public var maxSpansPerTrace = 1000
        /// Span names with a "slowest" list; a new name past it gets none (counted), so spans named
        /// after a request (an id in the name) cannot grow the index.
        public var maxSpanNames = 500

        public init(
            maxBytes: Int = 4 << 20, slowPerName: Int = 5, errorTraces: Int = 50, maxSpansPerTrace: Int = 1000,
            maxSpanNames: Int = 500
        ) {
            self.maxBytes = maxBytes
            self.slowPerName = slowPerName
            self.errorTraces = errorTraces
            self.maxSpansPerTrace = maxSpansPerTrace
            self.maxSpanNames = maxSpanNames
        }
    }

    /// One stored trace.
    public struct Trace: Sendable {
        public var traceID: TraceID
        public var spans: [FinishedSpan]
        /// Wall-clock span of the trace, in nanoseconds since the epoch.
        public var start: UInt64
        public var end: UInt64
        public var hasError: Bool
        public var correlationIDs: Set<String>
        var bytes: Int
        var lastUpdate: UInt64

        /// The root span: the one without a local parent in this trace (the earliest if several).
        public var root: FinishedSpan? {
            let ids = Set(spans.map(\.spanContext.spanID))
            return spans.filter { $0.parentSpanID.map { !ids.contains($0) } ?? true }.min {
                $0.startTimeNanosecondsSinceEpoch < $1.startTimeNanosecondsSinceEpoch
            }
        }
        public var durationNanoseconds: UInt64 { end >= start ? end - start : 0 }
    }

    public let configuration: Configuration
    private let stripes: [LockedValue<[FinishedSpan]>]
    private let state = LockedValue(State())
    private static let stripeCapacity = 256

    private struct State {
        var traces: [TraceID: Trace] = [:]
        var bytes = 0
        var sequence: UInt64 = 0
        /// Per span name: (duration, trace) of the slowest spans, slowest first.
        var slowest: [String: [(UInt64, TraceID)]] = [:]
        var errors: [TraceID] = []
        var evicted = 0
        var dropped = 0
        /// Spans not ranked among the slowest because `maxSpanNames` names were tracked.
        var unrankedNames = 0
    }

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.stripes = (0..<16).map { _ in LockedValue([]) }
    }

    public var isStartRequired: Bool { false }

    public func onEnd(_ span: consuming FinishedSpan) {
        guard span.spanContext.traceFlags.contains(.sampled) else { return }
        let finished = span
        let stripe = stripes[Int(traceline_thread_stripe() & 15)]
        let full = stripe.withLock { buffer -> Bool in
            buffer.append(finished)
            return buffer.count >= Self.stripeCapacity
        }
        if full { organize() }
    }

    /// Moves buffered spans into traces and applies the bounds.
    func organize() {
        var pending: [FinishedSpan] = []
        for stripe in stripes {
            stripe.withLock { buffer in
                pending.append(contentsOf: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        guard !pending.isEmpty else { return }
        let configuration = self.configuration
        state.withLock { state in
            for span in pending {
                state.sequence += 1
                let id = span.spanContext.traceID
                var trace =
                    state.traces[id]
                    ?? Trace(
                        traceID: id, spans: [], start: span.startTimeNanosecondsSinceEpoch,
                        end: span.endTimeNanosecondsSinceEpoch,
                        hasError: false, correlationIDs: [], bytes: 0, lastUpdate: 0)
                guard trace.spans.count < configuration.maxSpansPerTrace else {
                    state.dropped += 1
                    continue
                }
                let size = Self.estimatedBytes(span)
                trace.spans.append(span)
                trace.bytes += size
                trace.start = min(trace.start, span.startTimeNanosecondsSinceEpoch)
                trace.end = max(trace.end, span.endTimeNanosecondsSinceEpoch)
                trace.lastUpdate = state.sequence
                if span.status?.code == .error { trace.hasError = true }
                if case .string(let correlation)? = span.attributes.get("correlation_id") {
                    trace.correlationIDs.insert(correlation)
                }
                state.traces[id] = trace
                state.bytes += size
                if span.status?.code == .error, !state.errors.contains(id) {
                    state.errors.append(id)
                    if state.errors.count > configuration.errorTraces {
                        state.errors.removeFirst(state.errors.count - configuration.errorTraces)
                    }
                }
                let duration = span.durationNanoseconds
                if state.slowest[span.name] == nil, state.slowest.count >= configuration.maxSpanNames {
                    // Names whose traces were all evicted hold nothing; past them, the new name is not ranked.
                    state.slowest = state.slowest.filter { !$0.value.isEmpty }
                    if state.slowest.count >= configuration.maxSpanNames {
                        state.unrankedNames += 1
                        continue
                    }
                }
                var slow = state.slowest[span.name] ?? []
                if slow.count < configuration.slowPerName || duration > (slow.last?.0 ?? 0) {
                    slow.removeAll { $0.1 == id }
                    slow.append((duration, id))
                    slow.sort { $0.0 > $1.0 }
                    if slow.count > configuration.slowPerName {
                        slow.removeLast(slow.count - configuration.slowPerName)
                    }
                    state.slowest[span.name] = slow
                }
            }
            Self.evict(&state, maxBytes: configuration.maxBytes)
        }
    }

    private static func evict(_ state: inout State, maxBytes: Int) {
        guard state.bytes > maxBytes else { return }
        let pinned = Set(state.errors).union(state.slowest.values.flatMap { $0.map(\.1) })
        let candidates = state.traces.values.filter { !pinned.contains($0.traceID) }.sorted {
            $0.lastUpdate < $1.lastUpdate
        }
        for trace in candidates where state.bytes > maxBytes {
            state.traces[trace.traceID] = nil
            state.bytes -= trace.bytes
            state.evicted += 1
        }
        // Still over (everything pinned): drop the oldest pinned traces too.
        if state.bytes > maxBytes {
            for trace in state.traces.values.sorted(by: { $0.lastUpdate < $1.lastUpdate }) where state.bytes > maxBytes
            {
                state.traces[trace.traceID] = nil
                state.bytes -= trace.bytes
                state.evicted += 1
                state.errors.removeAll { $0 == trace.traceID }
                for name in state.slowest.keys { state.slowest[name]?.removeAll { $0.1 == trace.traceID } }
            }
        }
    }

    static func estimatedBytes(_ span: FinishedSpan) -> Int {
        var bytes = 256 + span.name.utf8.count
        span.attributes.forEach { key, value in
            bytes += 48 + key.utf8.count
            if case .string(let text) = value.toSpanAttribute() { bytes += text.utf8.count }
        }
        bytes += span.events.count * 96 + span.links.count * 64
        return bytes
    }

    // MARK: - Reading

    /// The trace with `id`, if stored.
    public func trace(_ id: TraceID) -> Trace? {
        organize()
        return state.withLock { $0.traces[id] }
    }

    /// Stored traces carrying `correlationID`, most recent first.
    public func traces(correlationID: String) -> [Trace] {
        organize()
        return state.withLock { state in state.traces.values.filter { $0.correlationIDs.contains(correlationID) } }
            .sorted { $0.end > $1.end }
    }

    /// The `limit` most recently finished traces.
    public func recent(limit: Int = 20) -> [Trace] {
        organize()
        return Array(state.withLock { Array($0.traces.values) }.sorted { $0.end > $1.end }.prefix(limit))
    }

    /// Error traces, most recent first.
    public func errors(limit: Int = 20) -> [Trace] {
        organize()
        return state.withLock { state in state.errors.reversed().compactMap { state.traces[$0] } }.prefix(limit).map {
            $0
        }
    }

    /// Per span name, its slowest stored spans' durations (ns) and traces.
    public func slowest() -> [(name: String, traces: [(durationNanoseconds: UInt64, trace: TraceID)])] {
        organize()
        return state.withLock { state in
            state.slowest.map {
                (name: $0.key, traces: $0.value.filter { state.traces[$0.1] != nil }.map { ($0.0, $0.1) })
            }
        }.sorted { $0.name < $1.name }
    }

    /// Durations (ns) of the stored spans per name, for the latency charts.
    public func durationsByName() -> [String: [UInt64]] {
        organize()
        return state.withLock { state in
            var durations: [String: [UInt64]] = [:]
            for trace in state.traces.values {
                for span in trace.spans {
                    durations[span.name, default: []].append(span.durationNanoseconds)
                }
            }
            return durations
        }
    }

    /// What the store holds: traces, spans, estimated bytes, evictions, drops, span names ranked
    /// in the slowest index and spans left unranked because that index was full.
    public var statistics:
        (traces: Int, spans: Int, bytes: Int, evicted: Int, dropped: Int, rankedNames: Int, unranked: Int)
    {
        organize()
        return state.withLock { state in
            (
                state.traces.count, state.traces.values.reduce(0) { $0 + $1.spans.count }, state.bytes, state.evicted,
                state.dropped,
                state.slowest.count, state.unrankedNames
            )
        }
    }

    public func renderFamilies(format: MetricsFormat) -> String {
        let statistics = self.statistics
        var writer = MetricFamilyWriter(format: format)
        writer.gauge(
            "traceline_trace_store_traces", help: "Traces held by the in-process trace store.",
            [([], Double(statistics.traces))])
        writer.gauge(
            "traceline_trace_store_spans", help: "Spans held by the in-process trace store.",
            [([], Double(statistics.spans))])
        writer.gauge(
            "traceline_trace_store_bytes", help: "Estimated memory of the spans the trace store holds.",
            [([], Double(statistics.bytes))])
        writer.gauge(
            "traceline_trace_store_max_bytes", help: "The trace store's memory bound.",
            [([], Double(configuration.maxBytes))])
        writer.counter(
            "traceline_trace_store_evicted_traces", help: "Traces evicted to stay under the memory bound.",
            [([], Double(statistics.evicted))])
        writer.counter(
            "traceline_trace_store_dropped_spans", help: "Spans not stored because their trace was at its span limit.",
            [([], Double(statistics.dropped))])
        writer.gauge(
            "traceline_trace_store_slowest_names", help: "Span names in the slowest-traces index.",
            [([], Double(statistics.rankedNames))])
        writer.counter(
            "traceline_trace_store_unranked_spans",
            help: "Spans not ranked among the slowest because the index held maxSpanNames names.",
            [([], Double(statistics.unranked))])
        return writer.text
    }
}
