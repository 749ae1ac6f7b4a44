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
    private let state: [MetricShard<ViewSeriesTable>]
    /// What `onStart` and `onEnd` read of each view, in `views` order (iterating `views` itself
    /// would copy every view's name, help, labels and filter, about 360 instructions a view).
    private let plans: [ViewPlan]
    /// The label sources of all views, each once: a span end reads each at most once, however many
    /// views label by it.
    private let labelSources: [SpanMetricView.LabelSource]
    /// The attributes that `Filter.hasAttribute` views require, each once: a span end looks each up
    /// at most once, however many views share it.
    private let requiredAttributes: [String]
    /// For each required attribute, the label source that reads the same attribute, if a view has
    /// one: the lookup that tests the filter then reads the label value too.
    private let requiredLabelSources: [Int?]
    private let overflowed = LockedValue(0)

    private final class ViewPlan: Sendable {
        let filter: @Sendable (FinishedSpan) -> Bool
        /// Index into the processor's `requiredAttributes`, for a `Filter.hasAttribute` view:
        /// then `filter` is not called.
        let requiredAttribute: Int?
        /// Indices into the processor's `labelSources`, in the view's label order.
        let labels: [Int]
        let instrument: SpanMetricView.Instrument
        let spanNames: Set<String>?

        init(_ view: SpanMetricView, requiredAttribute: Int?, labels: [Int]) {
            filter = view.filter
            self.requiredAttribute = requiredAttribute
            self.labels = labels
            instrument = view.instrument
            spanNames = view.spanNames
        }
    }

    /// A label value a span end has read, with its hash.
    private struct LabelValue {
        let text: String
        let hash: Int

        init(_ text: String) {
            self.text = text
            hash = text.hashValue
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
        self.state = views.map { _ in MetricShard(ViewSeriesTable()) }
        var sources: [SpanMetricView.LabelSource] = []
        var indexBySource: [String: Int] = [:]
        var attributes: [String] = []
        self.plans = views.map { view in
            let required = view.requiredAttribute.map { attribute in
                if let known = attributes.firstIndex(of: attribute) { return known }
                attributes.append(attribute)
                return attributes.count - 1
            }
            // An up-down counter has no labels: its series is the view's one total.
            let viewSources = view.instrument.kind == .upDownCounter ? [] : view.labels.map(\.source)
            let indices = viewSources.map { source in
                let identity = Self.identity(of: source)
                if let known = indexBySource[identity] { return known }
                sources.append(source)
                indexBySource[identity] = sources.count - 1
                return sources.count - 1
            }
            return ViewPlan(view, requiredAttribute: required, labels: indices)
        }
        self.labelSources = sources
        self.requiredAttributes = attributes
        self.requiredLabelSources = attributes.map { attribute in
            indexBySource[Self.identity(of: .attribute(attribute))]
        }
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
            // An active-span view has no labels: no values to read.
            update(index, plan: plans[index], values: UnsafeMutableBufferPointer(start: nil, count: 0)) {
                $0.value += 1
            }
        }
    }

    /// Updates every view whose filter matches the span; see `SpanProcessor.onEnd`.
    public func onEnd(_ span: consuming FinishedSpan) { onEnd(reading: span) }

    /// Updates every view whose filter matches the lent span; see `SpanProcessor.onEnd(reading:)`.
    public func onEnd(reading span: borrowing FinishedSpan) {
        // The label values this span end has read, by `labelSources` index, on the stack: an array
        // of a type of ours would look up its storage type's generic metadata on every span.
        withUnsafeTemporaryAllocation(of: LabelValue?.self, capacity: labelSources.count) { values in
            withUnsafeTemporaryAllocation(of: Bool?.self, capacity: requiredAttributes.count) { carried in
                values.initialize(repeating: nil)
                carried.initialize(repeating: nil)
                update(span, values: values, carried: carried)
                _ = values.deinitialize()
            }
        }
    }

    /// Updates every view whose filter matches `span`, reading label values into `values` and
    /// whether the span carries each required attribute into `carried`, once each.
    private func update(
        _ span: borrowing FinishedSpan, values: UnsafeMutableBufferPointer<LabelValue?>,
        carried: UnsafeMutableBufferPointer<Bool?>
    ) {
        for index in plans.indices {
            let plan = plans[index]
            if let required = plan.requiredAttribute {
                if carried[required] == nil { carried[required] = carries(required, span, values: values) }
                guard carried[required] == true else { continue }
            } else {
                guard plan.filter(span) else { continue }
            }
            // Patterns rather than `== nil`, which copies the value (a retain and a release).
            for source in plan.labels {
                guard case .none = values[source] else { continue }
                values[source] = LabelValue(Self.value(of: labelSources[source], in: span))
            }
            // The instrument is read field by field: binding it copies its array and string.
            switch plan.instrument.kind {
            case .counter:
                let amount: Double
                if let attribute = plan.instrument.attribute {
                    guard let number = Self.number(span.attributes.get(attribute)) else { continue }
                    amount = number
                } else {
                    amount = 1
                }
                update(index, plan: plan, values: values) { $0.value += amount }
            case .histogram:
                let seconds = Double(span.durationNanoseconds) / 1e9
                observe(
                    plan.instrument.unit == .seconds ? seconds : seconds * 1000, view: index, plan: plan,
                    values: values, span: span)
            case .attributeHistogram:
                guard let attribute = plan.instrument.attribute,
                    let value = Self.number(span.attributes.get(attribute)), value.isFinite
                else { continue }
                observe(value, view: index, plan: plan, values: values, span: span)
            case .upDownCounter:
                update(index, plan: plan, values: values) { $0.value -= 1 }
            }
        }
    }

    /// Whether `span` has required attribute `index`. When a label source reads that attribute and
    /// has not read it yet, the same lookup stores its label value.
    private func carries(
        _ index: Int, _ span: borrowing FinishedSpan, values: UnsafeMutableBufferPointer<LabelValue?>
    ) -> Bool {
        guard let source = requiredLabelSources[index], case .none = values[source] else {
            return SpanMetricView.carries(span, requiredAttributes[index])
        }
        guard let attribute = span.attributes.get(requiredAttributes[index]) else { return false }
        values[source] = LabelValue(attribute.plainText)
        return true
    }

    private func observe(
        _ value: Double, view index: Int, plan: ViewPlan, values: UnsafeMutableBufferPointer<LabelValue?>,
        span: borrowing FinishedSpan
    ) {
        let buckets = plan.instrument.buckets
        let bucket = buckets.firstIndex(where: { value <= $0 }) ?? buckets.count
        let exemplar: SpanMetricSeries.Exemplar? =
            exemplars && span.spanContext.isSampled
            ? .init(
                traceID: span.spanContext.traceID, spanID: span.spanContext.spanID, value: value,
                timestampNanoseconds: span.endTimeNanosecondsSinceEpoch)
            : nil
        update(index, plan: plan, values: values, bucketCount: buckets.count + 1) {
            $0.buckets[bucket] += 1
            $0.sum += value
            if let exemplar { $0.exemplars[bucket] = exemplar }
        }
    }

    /// Finds the view's series for the plan's label values (read into `values` already) and
    /// applies `body` to it, making the series, or taking the overflow series past `maxSeries`.
    private func update(
        _ index: Int, plan: ViewPlan, values: UnsafeMutableBufferPointer<LabelValue?>, bucketCount: Int = 0,
        _ body: (ViewSeries) -> Void
    ) {
        let labels = plan.labels
        // Each value's own hash is seeded per process, so this mix of them cannot be steered.
        var hash = labels.count
        for source in labels { hash = (hash &* 0x0000_0100_0000_01b3) ^ values[source]!.hash }
        let shard = state[index]
        shard.lock()
        let series: ViewSeries
        var didOverflow = false
        if let found = shard.table.find(hash: hash, count: labels.count, values: { values[labels[$0]]!.text }) {
            series = found
        } else if shard.table.count >= maxSeries, !labels.isEmpty {
            series = shard.table.overflow(bucketCount: bucketCount)
            didOverflow = true
        } else {
            series = shard.table.insert(
                labels: labels.map { values[$0]!.text }, hash: hash, bucketCount: bucketCount)
        }
        body(series)
        shard.unlock()
        if didOverflow { overflowed.withLock { $0 += 1 } }
    }

    /// What tells two label sources apart: views that share one read it once per span.
    private static func identity(of source: SpanMetricView.LabelSource) -> String {
        switch source {
        case .attribute(let key): return "attribute\u{0}\(key)"
        case .spanName: return "spanName"
        case .outcome(let success, let error): return "outcome\u{0}\(success)\u{0}\(error)"
        case .constant(let value): return "constant\u{0}\(value)"
        }
    }

    static func value(of source: SpanMetricView.LabelSource, in span: borrowing FinishedSpan) -> String {
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
            // The overflow series has no label values, so it sorts first.
            let rows = state[index].withLock { table in
                table.series.map {
                    (
                        labels: $0.labels, isOverflow: $0.isOverflow,
                        sample: ViewSeriesSample(
                            value: $0.value, buckets: $0.buckets, sum: $0.sum, exemplars: $0.exemplars)
                    )
                }
            }.sorted { $0.labels.lexicographicallyPrecedes($1.labels) }.map { row in
                (
                    labels: row.isOverflow
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
