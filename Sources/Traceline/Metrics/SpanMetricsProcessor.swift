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
    public struct Configuration: Sendable, Equatable {
        /// Metric name prefix (`traces_span_metrics`, the connector's and Jaeger's default).
        public var namespace = "traces_span_metrics"
        /// Histogram bucket upper bounds in milliseconds (the connector's defaults).
        public var bucketsMilliseconds: [Double] = [2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000]
        /// Span attribute keys that become extra labels (dots become underscores), e.g. `gen_ai.provider.name`.
        public var dimensions: [String] = []
        /// Series per metric before overflow.
        public var maxSeries = 2000
        /// Label values longer than this are cut.
        public var maxLabelValueLength = 256
        /// Keep the latest sampled span per bucket as an exemplar.
        public var exemplars = true

        public init() {}
    }

    public let configuration: Configuration
    private let bounds: [Double]
    private let labelNames: [String]
    private let shards: [LockedValue<[String: SpanMetricSeries]>]
    private let seriesCount = Atomic<Int>(0)
    private let overflowed = Atomic<Int>(0)
    private let overflowSeries: SpanMetricSeries

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.bounds = configuration.bucketsMilliseconds.filter { $0.isFinite }.sorted()
        self.labelNames = ["service_name", "span_name", "span_kind", "status_code"]
            + configuration.dimensions.map { Exposition.sanitizeName($0) }
        self.shards = (0..<16).map { _ in LockedValue([:]) }
        self.overflowSeries = SpanMetricSeries(labelValues: [], bucketCount: bounds.count + 1)
    }

    public var isStartRequired: Bool { false }

    /// Series recorded into the overflow series because `maxSeries` was reached.
    public var overflowCount: Int { overflowed.load(ordering: .relaxed) }
    /// Distinct series (excluding the overflow series).
    public var seriesTotal: Int { seriesCount.load(ordering: .relaxed) }

    public func onEnd(_ span: consuming FinishedSpan) {
        var values = [
            span.resource.serviceName, span.name, Self.kindLabel(span.kind), Self.statusLabel(span.status),
        ]
        for key in configuration.dimensions {
            values.append(span.attributes.get(key).map(Self.labelText) ?? "")
        }
        for index in values.indices where values[index].count > configuration.maxLabelValueLength {
            values[index] = String(values[index].prefix(configuration.maxLabelValueLength))
        }
        let series = findOrCreate(values)
        let milliseconds = Double(span.durationNanoseconds) / 1_000_000
        var bucket = bounds.count
        for (index, bound) in bounds.enumerated() where milliseconds <= bound {
            bucket = index
            break
        }
        let exemplar: SpanMetricSeries.Exemplar? = configuration.exemplars && span.spanContext.isSampled
            ? .init(traceID: span.spanContext.traceID.hexString, spanID: span.spanContext.spanID.hexString,
                    value: milliseconds, timestampSeconds: Double(span.endTimeNanosecondsSinceEpoch) / 1e9)
            : nil
        series.record(bucket: bucket, value: milliseconds, exemplar: exemplar)
    }

    private func findOrCreate(_ values: [String]) -> SpanMetricSeries {
        let key = values.joined(separator: "\u{1F}")
        var hasher = Hasher()
        hasher.combine(key)
        let shard = shards[Int(UInt(bitPattern: hasher.finalize()) % UInt(shards.count))]
        return shard.withLock { series in
            if let existing = series[key] { return existing }
            if seriesCount.load(ordering: .relaxed) >= configuration.maxSeries {
                overflowed.add(1, ordering: .relaxed)
                return overflowSeries
            }
            seriesCount.add(1, ordering: .relaxed)
            let created = SpanMetricSeries(labelValues: values, bucketCount: bounds.count + 1)
            series[key] = created
            return created
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

    static func statusLabel(_ status: SpanStatus?) -> String {
        switch status?.code {
        case .ok?: return "STATUS_CODE_OK"
        case .error?: return "STATUS_CODE_ERROR"
        case nil: return "STATUS_CODE_UNSET"
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

    // MARK: - Exposition

    /// The processor's series in `format`, complete (OpenMetrics output ends with `# EOF`).
    public func render(format: MetricsFormat) -> String {
        var text = renderFamilies(format: format)
        if format == .openMetrics { text += "# EOF\n" }
        return text
    }

    /// The metric families only, for combining with other sources on one endpoint.
    public func renderFamilies(format: MetricsFormat) -> String {
        var all: [SpanMetricSeries] = []
        for shard in shards { shard.withLock { all.append(contentsOf: $0.values) } }
        all.sort { $0.labelValues.lexicographicallyPrecedes($1.labelValues) }
        let snapshots = all.map { ($0, $0.snapshot()) }
        let overflowSnapshot = overflowSeries.snapshot()
        let includeOverflow = overflowSnapshot.count > 0

        let calls = configuration.namespace + "_calls"
        let duration = configuration.namespace + "_duration_milliseconds"
        var out = ""
        // Calls: a counter. 0.0.4 names the family with its _total suffix; OpenMetrics without it.
        let callsFamily = format == .openMetrics ? calls : calls + "_total"
        out += "# HELP \(callsFamily) Spans ended, by service, span name, kind and status.\n"
        out += "# TYPE \(callsFamily) counter\n"
        func labelPairs(_ series: SpanMetricSeries) -> [(String, String)] {
            series.labelValues.isEmpty ? [("otel_metric_overflow", "true")] : Array(zip(labelNames, series.labelValues))
        }
        var rows = snapshots
        if includeOverflow { rows.append((overflowSeries, overflowSnapshot)) }
        for (series, snapshot) in rows {
            out += "\(calls)_total\(Exposition.labels(labelPairs(series))) \(snapshot.count)\n"
        }
        out += "# HELP \(duration) Span duration in milliseconds.\n"
        out += "# TYPE \(duration) histogram\n"
        for (series, snapshot) in rows {
            let pairs = labelPairs(series)
            var cumulative = 0
            for index in 0...bounds.count {
                cumulative += snapshot.buckets[index]
                let le = index < bounds.count ? Exposition.number(bounds[index]) : "+Inf"
                out += "\(duration)_bucket\(Exposition.labels(pairs + [("le", le)])) \(cumulative)"
                if format == .openMetrics, let exemplar = snapshot.exemplars[index] {
                    out += " # {trace_id=\"\(exemplar.traceID)\",span_id=\"\(exemplar.spanID)\"} "
                        + "\(Exposition.number(exemplar.value)) \(exemplar.timestampSeconds)"
                }
                out += "\n"
            }
            out += "\(duration)_sum\(Exposition.labels(pairs)) \(Exposition.number(snapshot.sum))\n"
            out += "\(duration)_count\(Exposition.labels(pairs)) \(cumulative)\n"
        }
        return out
    }
}

/// One label set's histogram: per-bucket atomic counts, an atomic sum, the latest exemplars.
final class SpanMetricSeries: Sendable {
    struct Exemplar: Sendable {
        let traceID: String
        let spanID: String
        let value: Double
        let timestampSeconds: Double
    }

    struct Snapshot {
        var buckets: [Int]
        var sum: Double
        var exemplars: [Exemplar?]
        var count: Int { buckets.reduce(0, +) }
    }

    let labelValues: [String]
    private let counts: [AtomicCounter]
    private let sumBits = Atomic<UInt64>(0.0.bitPattern)
    private let exemplars: LockedValue<[Exemplar?]>

    init(labelValues: [String], bucketCount: Int) {
        self.labelValues = labelValues
        self.counts = (0..<bucketCount).map { _ in AtomicCounter() }
        self.exemplars = LockedValue(Array(repeating: nil, count: bucketCount))
    }

    func record(bucket: Int, value: Double, exemplar: Exemplar?) {
        counts[bucket].value.add(1, ordering: .relaxed)
        var current = sumBits.load(ordering: .relaxed)
        while true {
            let (exchanged, original) = sumBits.compareExchange(
                expected: current, desired: (Double(bitPattern: current) + value).bitPattern,
                successOrdering: .relaxed, failureOrdering: .relaxed)
            if exchanged { break }
            current = original
        }
        if let exemplar { exemplars.withLock { $0[bucket] = exemplar } }
    }

    /// A consistent-enough view: counts read once each, so `+Inf` always equals `_count`.
    func snapshot() -> Snapshot {
        Snapshot(buckets: counts.map { $0.value.load(ordering: .relaxed) },
                 sum: Double(bitPattern: sumBits.load(ordering: .relaxed)),
                 exemplars: exemplars.withLock { $0 })
    }
}

/// An atomic counter in its own heap cell, so an array of them can exist (`Atomic` cannot be copied).
final class AtomicCounter: Sendable {
    let value = Atomic<Int>(0)
}
