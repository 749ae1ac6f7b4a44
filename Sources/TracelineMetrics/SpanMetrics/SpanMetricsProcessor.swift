import Synchronization
import TracelineCore
import Tracing

/// Derives RED metrics (rate, errors, duration) from every ended span, named and labelled the way
/// the OpenTelemetry Collector's spanmetrics connector does, so Jaeger's Monitor tab (SPM) reads
/// them straight from Prometheus scraping this process.
///
/// Series: `traces_span_metrics_calls_total` and `traces_span_metrics_duration_milliseconds_*`,
/// keyed by `service_name`, `span_name`, `span_kind`, `status_code` and any configured extra
/// dimensions (span attributes). Recording hashes the span's name, kind, status and dimensions once,
/// then takes one short lock on one of 16 shards to find the series and count in place; at most
/// `maxSeries` series exist, the rest go into one overflow series labelled
/// `otel_metric_overflow="true"` and are counted. Each bucket keeps the latest sampled span that
/// fell into it as an exemplar (OpenMetrics output only).
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
    let bounds: [Double]
    let labelNames: [String]
    /// 16 shards, picked by the top 4 bits of a series key's hash.
    static let shardBits = 4
    let shards: [MetricShard<SpanMetricSeriesTable>]
    private let seriesCount = Atomic<Int>(0)
    private let overflowed = Atomic<Int>(0)
    let overflowSeries: LockedValue<SpanMetricSeries>
    let sliceSeconds: Double
    let now: @Sendable () -> Double

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
        let windowSeconds = configuration.window.inSeconds
        self.sliceSeconds = max(0.001, windowSeconds / Double(slices))
        self.bounds = configuration.bucketsMilliseconds.filter { $0.isFinite }.sorted()
        self.labelNames =
            ["service_name", "span_name", "span_kind", "status_code"]
            + configuration.dimensions.map { Exposition.sanitizeName($0) }
        self.shards = (0..<(1 << Self.shardBits)).map { _ in MetricShard(SpanMetricSeriesTable()) }
        self.overflowSeries = LockedValue(
            SpanMetricSeries(
                key: SpanMetricSeriesKey(service: "", name: "", kind: .internal, status: .unset, dimensions: []),
                labelValues: [], bucketCount: bounds.count + 1, slices: 0))
    }

    /// Always false: metrics are recorded when spans end.
    public var isStartRequired: Bool { false }

    /// Series recorded into the overflow series because `maxSeries` was reached.
    public var overflowCount: Int { overflowed.load(ordering: .relaxed) }
    /// Distinct series (excluding the overflow series).
    public var seriesTotal: Int { seriesCount.load(ordering: .relaxed) }

    /// Records the span's call and duration in its series; see `SpanProcessor.onEnd`.
    public func onEnd(_ span: consuming FinishedSpan) { onEnd(reading: span) }

    /// Records the span's call and duration in its series, reading the lent record; see
    /// `SpanProcessor.onEnd(reading:)`.
    public func onEnd(reading span: borrowing FinishedSpan) {
        let dimensions =
            configuration.dimensions.isEmpty
            ? []
            : configuration.dimensions.map {
                span.attributes.get($0)?.plainText ?? ""
            }
        let kind = span.kind
        let status = SpanMetricSeriesKey.Status(span.status)
        let hash = SpanMetricSeriesKey.hash(name: span.name, kind: kind, status: status, dimensions: dimensions)
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
        // The top bits pick the shard; the table inside uses the low bits.
        let shard = shards[Int(UInt(bitPattern: hash) >> (UInt.bitWidth - Self.shardBits))]
        // One short lock on one of 16 shards: find the series and count in place. The key is only
        // made for a series seen for the first time.
        shard.lock()
        if let existing = shard.table.find(
            hash: hash, service: span.serviceName, name: span.name, kind: kind, status: status,
            dimensions: dimensions)
        {
            existing.record(bucket: bucket, value: milliseconds, exemplar: exemplar, epoch: epoch)
            shard.unlock()
            return
        }
        var recorded = false
        if seriesCount.load(ordering: .relaxed) < configuration.maxSeries {
            seriesCount.add(1, ordering: .relaxed)
            let key = SpanMetricSeriesKey(
                service: span.serviceName, name: span.name, kind: kind, status: status, dimensions: dimensions)
            let created = SpanMetricSeries(
                key: key, labelValues: labelValues(for: key), bucketCount: bounds.count + 1,
                slices: max(1, configuration.windowSlices))
            created.record(bucket: bucket, value: milliseconds, exemplar: exemplar, epoch: epoch)
            shard.table.insert(created)
            recorded = true
        }
        shard.unlock()
        if !recorded {
            overflowed.add(1, ordering: .relaxed)
            overflowSeries.withLock { $0.record(bucket: bucket, value: milliseconds, exemplar: exemplar, epoch: epoch) }
        }
    }

    private func labelValues(for key: SpanMetricSeriesKey) -> [String] {
        ([key.service, key.name, key.kindLabel, key.status.label] + key.dimensions).map {
            $0.count > configuration.maxLabelValueLength ? String($0.prefix(configuration.maxLabelValueLength)) : $0
        }
    }
}
