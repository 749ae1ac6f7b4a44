import Synchronization
import Tracing

/// Derives RED metrics (rate, errors, duration) from every ended span, named and labelled the way
/// the OpenTelemetry Collector's spanmetrics connector does, so Jaeger's Monitor tab (SPM) reads
/// them straight from Prometheus scraping this process.
///
/// Series: `traces_span_metrics_calls_total` and `traces_span_metrics_duration_milliseconds_*`,
/// keyed by `service_name`, `span_name`, `span_kind`, `status_code` and any configured extra
/// dimensions (span attributes). Recording takes one short lock on one of 16 shards to find the
/// series, then only atomic adds; at most `maxSeries` series exist, the rest go into one overflow
/// series labelled `otel_metric_overflow="true"` and are counted. Each bucket keeps the latest
/// sampled span that fell into it as an exemplar (OpenMetrics output only).
public final class SpanMetricsProcessor: SpanProcessor {
    /// Naming, buckets, labels and limits of the span metrics.
    public struct Configuration: Sendable, Equatable {
        /// Metric name prefix (`traces_span_metrics`, the connector's and Jaeger's default).
        public var namespace = "traces_span_metrics"
        /// Histogram bucket upper bounds in milliseconds (the connector's defaults).
        public var bucketsMilliseconds: [Double] = [
            2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000,
        ]
        /// Span attribute keys that become extra labels (dots become underscores), e.g. `gen_ai.provider.name`.
        public var dimensions: [String] = []
        /// Series per metric before overflow.
        public var maxSeries = 2000
        /// Label values longer than this are cut.
        public var maxLabelValueLength = 256
        /// Keep the latest sampled span per bucket as an exemplar.
        public var exemplars = true
        /// Count spans the sampler did not sample too (recorded for metrics only, never exported),
        /// so the series count all traffic whatever the sampling ratio.
        public var includeUnsampledSpans = true
        /// The recent window behind ``recentStatistics()`` and how many slices it slides by.
        public var window: Duration = .seconds(60)
        /// Slices the recent window is divided into; it slides by `window / windowSlices`.
        public var windowSlices = 12

        /// Creates the default configuration, matching the spanmetrics connector's defaults.
        public init() {}
    }

    /// The settings the processor was created with.
    public let configuration: Configuration
    private let bounds: [Double]
    private let labelNames: [String]
    private let shards: [LockedValue<[SeriesKey: SpanMetricSeries]>]
    private let seriesCount = Atomic<Int>(0)
    private let overflowed = Atomic<Int>(0)
    private let overflowSeries: LockedValue<SpanMetricSeries>
    private let sliceSeconds: Double
    private let now: @Sendable () -> Double

    /// True unless `configuration.includeUnsampledSpans` is off; see `SpanProcessor.needsUnsampledSpans`.
    public var needsUnsampledSpans: Bool { configuration.includeUnsampledSpans }

    /// Creates a processor that records into series described by `configuration`.
    public convenience init(configuration: Configuration = Configuration()) {
        self.init(configuration: configuration, now: { Double(MonotonicClock.nowNanoseconds()) / 1e9 })
    }

    /// - Parameter now: monotonic seconds, replaceable in tests of the recent window.
    init(configuration: Configuration, now: @escaping @Sendable () -> Double) {
        self.configuration = configuration
        self.now = now
        let slices = max(1, configuration.windowSlices)
        let windowSeconds =
            Double(configuration.window.components.seconds) + Double(configuration.window.components.attoseconds) / 1e18
        self.sliceSeconds = max(0.001, windowSeconds / Double(slices))
        self.bounds = configuration.bucketsMilliseconds.filter { $0.isFinite }.sorted()
        self.labelNames =
            ["service_name", "span_name", "span_kind", "status_code"]
            + configuration.dimensions.map { Exposition.sanitizeName($0) }
        self.shards = (0..<16).map { _ in LockedValue([:]) }
        self.overflowSeries = LockedValue(SpanMetricSeries(labelValues: [], bucketCount: bounds.count + 1, slices: 0))
    }

    /// Always false: metrics are recorded when spans end.
    public var isStartRequired: Bool { false }

    /// Series recorded into the overflow series because `maxSeries` was reached.
    public var overflowCount: Int { overflowed.load(ordering: .relaxed) }
    /// Distinct series (excluding the overflow series).
    public var seriesTotal: Int { seriesCount.load(ordering: .relaxed) }

    /// The identity of a series, hashed without building label strings (they are made once, when
    /// a series is created).
    struct SeriesKey: Hashable {
        let service: String
        let name: String
        let kind: SpanKind
        let status: UInt8
        let dimensions: [String]
    }

    /// Records the span's call and duration in its series; see `SpanProcessor.onEnd`.
    public func onEnd(_ span: consuming FinishedSpan) {
        let status: UInt8 = span.status.map { $0.code == .ok ? 1 : 2 } ?? 0
        let dimensions =
            configuration.dimensions.isEmpty
            ? []
            : configuration.dimensions.map {
                span.attributes.get($0).map(Self.labelText) ?? ""
            }
        let key = SeriesKey(
            service: span.resource.serviceName, name: span.name, kind: span.kind, status: status, dimensions: dimensions
        )
        let milliseconds = Double(span.durationNanoseconds) / 1_000_000
        var bucket = bounds.count
        for (index, bound) in bounds.enumerated() where milliseconds <= bound {
            bucket = index
            break
        }
        let exemplar: SpanMetricSeries.Exemplar? =
            configuration.exemplars && span.spanContext.isSampled
            ? .init(
                traceID: span.spanContext.traceID, spanID: span.spanContext.spanID,
                value: milliseconds, timestampNanoseconds: span.endTimeNanosecondsSinceEpoch)
            : nil
        let epoch = Int(now() / sliceSeconds)
        let shard = shards[Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))]
        // One short lock on one of 16 shards: find or make the series, then count in place.
        let recorded = shard.withLock { series -> Bool in
            if let existing = series[key] {
                existing.record(bucket: bucket, value: milliseconds, exemplar: exemplar, epoch: epoch)
                return true
            }
            if seriesCount.load(ordering: .relaxed) >= configuration.maxSeries { return false }
            seriesCount.add(1, ordering: .relaxed)
            let created = SpanMetricSeries(
                labelValues: labelValues(for: key), bucketCount: bounds.count + 1,
                slices: max(1, configuration.windowSlices))
            created.record(bucket: bucket, value: milliseconds, exemplar: exemplar, epoch: epoch)
            series[key] = created
            return true
        }
        if !recorded {
            overflowed.add(1, ordering: .relaxed)
            overflowSeries.withLock { $0.record(bucket: bucket, value: milliseconds, exemplar: exemplar, epoch: epoch) }
        }
    }

    private func labelValues(for key: SeriesKey) -> [String] {
        let status = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"][Int(key.status)]
        return ([key.service, key.name, Self.kindLabel(key.kind), status] + key.dimensions).map {
            $0.count > configuration.maxLabelValueLength ? String($0.prefix(configuration.maxLabelValueLength)) : $0
        }
    }

    static func kindLabel(_ kind: SpanKind) -> String {
        switch kind {
        case .internal: return "SPAN_KIND_INTERNAL"
        case .server: return "SPAN_KIND_SERVER"
        case .client: return "SPAN_KIND_CLIENT"
        case .producer: return "SPAN_KIND_PRODUCER"
        case .consumer: return "SPAN_KIND_CONSUMER"
        }
    }

    static func labelText(_ attribute: SpanAttribute) -> String {
        switch attribute {
        case .string(let text): return text
        case .int32(let number): return String(number)
        case .int64(let number): return String(number)
        case .double(let number): return String(number)
        case .bool(let flag): return String(flag)
        case .stringConvertible(let value): return String(describing: value)
        default: return ""
        }
    }

    // MARK: - Recent window

    /// Rate, errors and latency percentiles of one span name over the recent window.
    public struct RecentStatistics: Sendable, Equatable {
        /// The `service.name` of the spans.
        public var serviceName: String
        /// The span name.
        public var spanName: String
        /// Spans ended in the window.
        public var calls: Int
        /// Spans ended in the window with status ERROR.
        public var errors: Int
        /// Calls per second over the window.
        public var rate: Double
        /// `errors / calls`, or 0 when there were no calls.
        public var errorRate: Double { calls == 0 ? 0 : Double(errors) / Double(calls) }
        /// Percentiles in milliseconds, interpolated inside histogram buckets the way PromQL's
        /// `histogram_quantile` does; values past the last finite bucket report that bound.
        public var p50: Double
        /// 95th percentile duration in milliseconds.
        public var p95: Double
        /// 99th percentile duration in milliseconds.
        public var p99: Double
    }

    /// Statistics per (service, span name) over the last `window` (sliding by `window / windowSlices`).
    /// Spans that went into the overflow series are not attributed to a name.
    public func recentStatistics() -> [RecentStatistics] {
        let slices = max(1, configuration.windowSlices)
        let current = Int(now() / sliceSeconds)
        var grouped: [String: (service: String, name: String, buckets: [Int], errors: Int)] = [:]
        for shard in shards {
            shard.withLock { series in
                for entry in series.values {
                    let counts = entry.window.sum(from: current - slices + 1, through: current)
                    let total = counts.reduce(0, +)
                    guard total > 0 else { continue }
                    let key = entry.labelValues[0] + "\u{1F}" + entry.labelValues[1]
                    var group =
                        grouped[key] ?? (
                            entry.labelValues[0], entry.labelValues[1], Array(repeating: 0, count: counts.count), 0
                        )
                    for index in counts.indices { group.buckets[index] += counts[index] }
                    if entry.labelValues[3] == "STATUS_CODE_ERROR" { group.errors += total }
                    grouped[key] = group
                }
            }
        }
        let seconds = sliceSeconds * Double(slices)
        return grouped.values.map { group in
            let calls = group.buckets.reduce(0, +)
            return RecentStatistics(
                serviceName: group.service, spanName: group.name, calls: calls, errors: group.errors,
                rate: Double(calls) / seconds,
                p50: Self.quantile(0.50, buckets: group.buckets, bounds: bounds),
                p95: Self.quantile(0.95, buckets: group.buckets, bounds: bounds),
                p99: Self.quantile(0.99, buckets: group.buckets, bounds: bounds)
            )
        }.sorted { ($0.serviceName, $0.spanName) < ($1.serviceName, $1.spanName) }
    }

    /// The `q` quantile of a bucketed distribution (non-cumulative `buckets`, the last one +Inf).
    static func quantile(_ q: Double, buckets: [Int], bounds: [Double]) -> Double {
        let total = buckets.reduce(0, +)
        guard total > 0 else { return 0 }
        let rank = q * Double(total)
        var cumulative = 0
        for (index, count) in buckets.enumerated() {
            let previous = cumulative
            cumulative += count
            guard Double(cumulative) >= rank, count > 0 else { continue }
            if index >= bounds.count { return bounds.last ?? 0 }
            let lower = index == 0 ? 0 : bounds[index - 1]
            return lower + (bounds[index] - lower) * (rank - Double(previous)) / Double(count)
        }
        return bounds.last ?? 0
    }

    // MARK: - Exposition

    /// The processor's series in `format`, complete (OpenMetrics output ends with `# EOF`).
    public func render(format: MetricsFormat) -> String {
        var text = renderFamilies(format: format)
        if format == .openMetrics { text += "# EOF\n" }
        return text
    }

    /// The metric families only, for combining with other sources on one endpoint.
    public func renderFamilies(format: MetricsFormat) -> String {
        var snapshots: [(labels: [String], snapshot: SpanMetricSeries.Snapshot)] = []
        for shard in shards {
            shard.withLock { series in
                for entry in series.values { snapshots.append((entry.labelValues, entry.snapshot())) }
            }
        }
        snapshots.sort { $0.labels.lexicographicallyPrecedes($1.labels) }
        let overflowSnapshot = overflowSeries.withLock { $0.snapshot() }
        let includeOverflow = overflowSnapshot.count > 0

        let calls = configuration.namespace + "_calls"
        let duration = configuration.namespace + "_duration_milliseconds"
        var out = ""
        // Calls: a counter. 0.0.4 names the family with its _total suffix; OpenMetrics without it.
        let callsFamily = format == .openMetrics ? calls : calls + "_total"
        out += "# HELP \(callsFamily) Spans ended, by service, span name, kind and status.\n"
        out += "# TYPE \(callsFamily) counter\n"
        func labelPairs(_ labels: [String]) -> [(String, String)] {
            labels.isEmpty ? [("otel_metric_overflow", "true")] : Array(zip(labelNames, labels))
        }
        var rows = snapshots
        if includeOverflow { rows.append(([], overflowSnapshot)) }
        for (series, snapshot) in rows {
            out += "\(calls)_total\(Exposition.labels(labelPairs(series))) \(snapshot.count)\n"
        }
        out += "# HELP \(duration) Span duration in milliseconds.\n"
        out += "# TYPE \(duration) histogram\n"
        // Escape each series' labels once, and format the bucket bounds once per render: escaping
        // per line costs about 50 µs a series, 110 ms for 2000 series.
        let leLabels = (0...bounds.count).map { index in
            "le=\"" + (index < bounds.count ? Exposition.number(bounds[index]) : "+Inf") + "\"}"
        }
        let bucketPrefix = duration + "_bucket{"
        for (series, snapshot) in rows {
            let pairs = labelPairs(series)
            let escaped = Exposition.labels(pairs)
            let inner = escaped.isEmpty ? "" : String(escaped.dropFirst().dropLast()) + ","
            var cumulative = 0
            for index in 0...bounds.count {
                cumulative += snapshot.buckets[index]
                out += bucketPrefix
                out += inner
                out += leLabels[index]
                out += " "
                out += String(cumulative)
                if format == .openMetrics, let exemplar = snapshot.exemplars[index] {
                    out +=
                        " # {trace_id=\"\(exemplar.traceID.hexString)\",span_id=\"\(exemplar.spanID.hexString)\"} "
                        + "\(Exposition.number(exemplar.value)) \(Double(exemplar.timestampNanoseconds) / 1e9)"
                }
                out += "\n"
            }
            out += "\(duration)_sum\(escaped) \(Exposition.number(snapshot.sum))\n"
            out += "\(duration)_count\(escaped) \(cumulative)\n"
        }
        return out
    }
}

/// One label set's histogram, cumulative since start, plus its recent-window slices and the latest
/// exemplar per bucket. Not synchronised itself: the owning shard's lock guards every field.
final class SpanMetricSeries: @unchecked Sendable {
    struct Exemplar: Sendable {
        let traceID: TraceID
        let spanID: SpanID
        let value: Double
        let timestampNanoseconds: UInt64
    }

    struct Snapshot {
        var buckets: [Int]
        var sum: Double
        var exemplars: [Exemplar?]
        var count: Int { buckets.reduce(0, +) }
    }

    let labelValues: [String]
    let window: SlicedHistogram
    private var buckets: [Int]
    private var sum = 0.0
    private var exemplars: [Exemplar?]

    init(labelValues: [String], bucketCount: Int, slices: Int) {
        self.labelValues = labelValues
        self.window = SlicedHistogram(slices: slices, bucketCount: bucketCount)
        self.buckets = Array(repeating: 0, count: bucketCount)
        self.exemplars = Array(repeating: nil, count: bucketCount)
    }

    func record(bucket: Int, value: Double, exemplar: Exemplar?, epoch: Int) {
        buckets[bucket] += 1
        sum += value
        if let exemplar { exemplars[bucket] = exemplar }
        window.record(bucket: bucket, epoch: epoch)
    }

    func snapshot() -> Snapshot {
        Snapshot(buckets: buckets, sum: sum, exemplars: exemplars)
    }
}

/// A ring of time slices, each with its own bucket counts and the slice number it holds.
/// Not synchronised itself: its owner's lock guards it.
final class SlicedHistogram: @unchecked Sendable {
    private var epochs: [Int]
    private var counts: [[Int]]

    init(slices: Int, bucketCount: Int) {
        epochs = Array(repeating: Int.min, count: slices)
        counts = Array(repeating: Array(repeating: 0, count: bucketCount), count: slices)
    }

    func record(bucket: Int, epoch: Int) {
        guard !epochs.isEmpty else { return }
        let slot = ((epoch % epochs.count) + epochs.count) % epochs.count
        if epochs[slot] != epoch {
            epochs[slot] = epoch
            for index in counts[slot].indices { counts[slot][index] = 0 }
        }
        counts[slot][bucket] += 1
    }

    /// Bucket counts summed over the slices numbered `first...last`.
    func sum(from first: Int, through last: Int) -> [Int] {
        var total = Array(repeating: 0, count: counts.first?.count ?? 0)
        for slot in epochs.indices where epochs[slot] >= first && epochs[slot] <= last {
            for index in total.indices { total[index] += counts[slot][index] }
        }
        return total
    }
}
