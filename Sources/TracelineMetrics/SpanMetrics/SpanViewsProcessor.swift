import TracelineCore
import Tracing

/// Keeps the metrics a set of ``SpanMetricView``s derive, and renders them.
public final class SpanViewsProcessor: SpanProcessor, MetricsSource {
    /// The views this processor maintains.
    public let views: [SpanMetricView]
    /// Series per view before new label sets go to one `otel_metric_overflow="true"` series.
    public let maxSeries: Int
    /// Whether spans the sampler did not sample are counted too (recorded for metrics, never exported).
    public let includeUnsampledSpans: Bool
    /// Whether histogram buckets keep the latest sampled span as an exemplar (OpenMetrics output only).
    public let exemplars: Bool
    private let state: [LockedValue<[[String]: ViewSeries]>]
    /// What `onStart` and `onEnd` read of each view, in `views` order: iterating `views` itself
    /// copied every view (name, help, labels, filter) for every span, about 360 instructions a view.
    private let plans: [ViewPlan]
    private let overflowed = LockedValue(0)

    private final class ViewPlan: Sendable {
        let filter: @Sendable (FinishedSpan) -> Bool
        let labelSources: [SpanMetricView.LabelSource]
        let instrument: SpanMetricView.Instrument
        let spanNames: Set<String>?

        init(_ view: SpanMetricView) {
            filter = view.filter
            labelSources = view.labels.map(\.source)
            instrument = view.instrument
            spanNames = view.spanNames
        }
    }

    /// `@unchecked Sendable`: reached only through the `state` shard that holds it, under its lock.
    private final class ViewSeries: @unchecked Sendable {
        var value = 0.0
        var buckets: [Int]
        var sum = 0.0
        /// Empty for counters; one slot per bucket for histograms.
        var exemplars: [SpanMetricSeries.Exemplar?]
        init(bucketCount: Int) {
            buckets = Array(repeating: 0, count: bucketCount)
            exemplars = Array(repeating: nil, count: bucketCount)
        }
    }

    /// Creates a processor for `views`.
    /// - Parameters:
    ///   - views: the metrics to derive from spans.
    ///   - maxSeries: label sets kept per view before new ones go to the overflow series.
    ///   - includeUnsampledSpans: count spans the sampler did not sample too, so views count all traffic.
    ///   - exemplars: keep the latest sampled span per histogram bucket as an exemplar, so a latency
    ///     panel links to a trace.
    public init(
        views: [SpanMetricView], maxSeries: Int = 2000, includeUnsampledSpans: Bool = true, exemplars: Bool = true
    ) {
        self.views = views
        self.maxSeries = maxSeries
        self.includeUnsampledSpans = includeUnsampledSpans
        self.exemplars = exemplars
        self.state = views.map { _ in LockedValue([:]) }
        self.plans = views.map(ViewPlan.init)
    }

    /// Label sets that went into overflow series.
    public var overflowCount: Int { overflowed.withLock { $0 } }

    /// Follows `includeUnsampledSpans`; see `SpanProcessor.needsUnsampledSpans`.
    public var needsUnsampledSpans: Bool { includeUnsampledSpans }

    /// True when some view counts active spans and so must see span starts.
    public var isStartRequired: Bool { views.contains { $0.spanNames != nil } }

    /// Counts the span in matching active-span views; see `SpanProcessor.onStart`.
    public func onStart(_ span: TracelineSpan, parentContext: ServiceContext) {
        let name = span.operationName
        for index in plans.indices where plans[index].spanNames?.contains(name) == true {
            update(index, labels: []) { $0.value += 1 }
        }
    }

    /// Updates every view whose filter matches the span; see `SpanProcessor.onEnd`.
    public func onEnd(_ span: consuming FinishedSpan) { onEnd(reading: span) }

    /// Updates every view whose filter matches the lent span; see `SpanProcessor.onEnd(reading:)`.
    public func onEnd(reading span: borrowing FinishedSpan) {
        for index in plans.indices {
            let plan = plans[index]
            guard plan.filter(span) else { continue }
            let labels = plan.labelSources.map { Self.value(of: $0, in: span) }
            let instrument = plan.instrument
            switch instrument.kind {
            case .counter:
                let amount: Double
                if let attribute = instrument.attribute {
                    guard let number = Self.number(span.attributes.get(attribute)) else { continue }
                    amount = number
                } else {
                    amount = 1
                }
                update(index, labels: labels) { $0.value += amount }
            case .histogram:
                let seconds = Double(span.durationNanoseconds) / 1e9
                observe(
                    instrument.unit == .seconds ? seconds : seconds * 1000, buckets: instrument.buckets, view: index,
                    labels: labels, span: span)
            case .attributeHistogram:
                guard let attribute = instrument.attribute, let value = Self.number(span.attributes.get(attribute)),
                    value.isFinite
                else { continue }
                observe(value, buckets: instrument.buckets, view: index, labels: labels, span: span)
            case .upDownCounter:
                update(index, labels: []) { $0.value -= 1 }
            }
        }
    }

    private func observe(_ value: Double, buckets: [Double], view index: Int, labels: [String], span: FinishedSpan) {
        let bucket = buckets.firstIndex(where: { value <= $0 }) ?? buckets.count
        let exemplar: SpanMetricSeries.Exemplar? =
            exemplars && span.spanContext.isSampled
            ? .init(
                traceID: span.spanContext.traceID, spanID: span.spanContext.spanID, value: value,
                timestampNanoseconds: span.endTimeNanosecondsSinceEpoch)
            : nil
        update(index, labels: labels, bucketCount: buckets.count + 1) {
            $0.buckets[bucket] += 1
            $0.sum += value
            if let exemplar { $0.exemplars[bucket] = exemplar }
        }
    }

    private func update(_ index: Int, labels: [String], bucketCount: Int = 0, _ body: (ViewSeries) -> Void) {
        state[index].withLock { series in
            if let existing = series[labels] {
                body(existing)
                return
            }
            var key = labels
            if series.count >= maxSeries, !labels.isEmpty {
                key = ["\u{0}overflow"]
                overflowed.withLock { $0 += 1 }
            }
            let entry = series[key] ?? ViewSeries(bucketCount: bucketCount)
            series[key] = entry
            body(entry)
        }
    }

    static func value(of source: SpanMetricView.LabelSource, in span: FinishedSpan) -> String {
        switch source {
        case .attribute(let key): return span.attributes.get(key)?.plainText ?? ""
        case .spanName: return span.name
        case .outcome(let success, let error): return span.status?.code == .error ? error : success
        case .constant(let value): return value
        }
    }

    static func number(_ attribute: SpanAttribute?) -> Double? {
        switch attribute {
        case .int64(let value)?: return Double(value)
        case .int32(let value)?: return Double(value)
        case .double(let value)?: return value
        default: return nil
        }
    }

    /// Renders one family per metric name; see `MetricsSource.renderFamilies`.
    public func renderFamilies(format: MetricsFormat) -> String {
        var writer = MetricFamilyWriter(format: format)
        // Views sharing a metric name (for example two token views) form one family: their series
        // are gathered under the first view's help text and instrument.
        var order: [String] = []
        var grouped: [String: (view: SpanMetricView, rows: [(labels: [(String, String)], series: ViewSeriesSample)])] =
            [:]
        for (index, view) in views.enumerated() {
            let key = Self.familyName(view)
            let rows = state[index].withLock { series in
                series.map {
                    (
                        labels: $0.key,
                        sample: ViewSeriesSample(
                            value: $0.value.value, buckets: $0.value.buckets, sum: $0.value.sum,
                            exemplars: $0.value.exemplars)
                    )
                }
            }.sorted { $0.labels.lexicographicallyPrecedes($1.labels) }.map { row in
                (
                    labels: row.labels == ["\u{0}overflow"]
                        ? [("otel_metric_overflow", "true")] : Array(zip(view.labels.map(\.name), row.labels)),
                    series: row.sample
                )
            }
            if grouped[key] == nil {
                order.append(key)
                grouped[key] = (view, [])
            }
            grouped[key]!.rows += rows
        }
        for key in order {
            let (view, rows) = grouped[key]!
            switch view.instrument.kind {
            case .counter:
                writer.counter(key, help: view.help, rows.map { ($0.labels, $0.series.value) })
            case .upDownCounter:
                writer.gauge(key, help: view.help, rows.map { ($0.labels, $0.series.value) })
            case .histogram, .attributeHistogram:
                writer.histogram(
                    key, help: view.help, bounds: view.instrument.buckets,
                    series: rows.map { row in
                        HistogramSeries(
                            labels: row.labels, buckets: row.series.buckets, sum: row.series.sum,
                            exemplars: row.series.exemplars.map { $0?.exposition })
                    })
            }
        }
        return writer.text
    }

    /// The family name: counters without their `_total` suffix (the writer adds it).
    static func familyName(_ view: SpanMetricView) -> String {
        if view.instrument.kind == .counter, view.name.hasSuffix("_total") { return String(view.name.dropLast(6)) }
        return view.name
    }

    struct ViewSeriesSample {
        let value: Double
        let buckets: [Int]
        let sum: Double
        let exemplars: [SpanMetricSeries.Exemplar?]
    }
}
