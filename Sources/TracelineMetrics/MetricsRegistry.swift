import TracelineCore

/// Something that contributes metric families to a `/metrics` page.
public protocol MetricsSource: Sendable {
    /// Complete families (HELP, TYPE, samples) in `format`, without the OpenMetrics `# EOF`.
    func renderFamilies(format: MetricsFormat) -> String
}

extension SpanMetricsProcessor: MetricsSource {}

/// Puts several sources on one endpoint: span metrics, the SDK's own counters, process metrics.
public final class MetricsRegistry: Sendable {
    private let sources: LockedValue<[any MetricsSource]>

    /// Creates a registry that renders `sources` in order.
    public init(_ sources: [any MetricsSource] = []) {
        self.sources = LockedValue(sources)
    }

    /// Adds `source`; it is rendered after the sources already registered.
    public func register(_ source: any MetricsSource) {
        sources.withLock { $0.append(source) }
    }

    /// The whole exposition for a scrape that accepted `format`.
    public func render(format: MetricsFormat) -> String {
        let current = sources.withLock { $0 }
        var text = current.map { $0.renderFamilies(format: format) }.joined()
        if format == .openMetrics { text += "# EOF\n" }
        return text
    }
}

/// Writes counter and gauge families in either format (OpenMetrics names a counter family without
/// its `_total` suffix; text 0.0.4 names it with it). Label values are escaped; names are the
/// caller's (valid Prometheus names). For custom ``MetricsSource``s.
public struct MetricFamilyWriter {
    /// The format the families are written in.
    public let format: MetricsFormat
    /// The families written so far.
    public private(set) var text = ""

    /// Creates an empty writer for `format`.
    public init(format: MetricsFormat) { self.format = format }

    /// A counter family; `name` without `_total`.
    public mutating func counter(_ name: String, help: String, _ samples: [(labels: [(String, String)], value: Double)])
    {
        let family = format == .openMetrics ? name : name + "_total"
        text += "# HELP \(family) \(Exposition.escapeHelp(help))\n# TYPE \(family) counter\n"
        for sample in samples {
            text += "\(name)_total\(Exposition.labels(sample.labels)) \(Exposition.number(sample.value))\n"
        }
    }

    /// A histogram family: per series the non-cumulative bucket counts (the last is `+Inf`) and the sum.
    public mutating func histogram(
        _ name: String, help: String, bounds: [Double],
        _ samples: [(labels: [(String, String)], buckets: [Int], sum: Double)]
    ) {
        histogram(
            name, help: help, bounds: bounds,
            series: samples.map { HistogramSeries(labels: $0.0, buckets: $0.1, sum: $0.2) })
    }

    /// A histogram family whose series may carry an exemplar per bucket (written in OpenMetrics
    /// only). Each series' labels are escaped once and the `le` labels once per family, so a
    /// family of thousands of series costs one string append per bucket line.
    mutating func histogram(_ name: String, help: String, bounds: [Double], series: [HistogramSeries]) {
        text += "# HELP \(name) \(Exposition.escapeHelp(help))\n# TYPE \(name) histogram\n"
        let leLabels = (0...bounds.count).map { index in
            "le=\"" + (index < bounds.count ? Exposition.number(bounds[index]) : "+Inf") + "\"}"
        }
        let bucketPrefix = name + "_bucket{"
        for sample in series {
            precondition(sample.buckets.count == bounds.count + 1, "one bucket count per bound, plus +Inf")
            let escaped = Exposition.labels(sample.labels)
            let inner = escaped.isEmpty ? "" : String(escaped.dropFirst().dropLast()) + ","
            var cumulative = 0
            for index in sample.buckets.indices {
                cumulative += sample.buckets[index]
                text += bucketPrefix
                text += inner
                text += leLabels[index]
                text += " "
                text += String(cumulative)
                if format == .openMetrics, index < sample.exemplars.count, let exemplar = sample.exemplars[index] {
                    text += " # " + Exposition.labels(exemplar.labels) + " " + Exposition.number(exemplar.value)
                    text += " \(exemplar.timestampSeconds)"
                }
                text += "\n"
            }
            text += "\(name)_sum\(escaped) \(Exposition.number(sample.sum))\n"
            text += "\(name)_count\(escaped) \(cumulative)\n"
        }
    }

    /// A gauge family: one sample per label set.
    /// - Parameters:
    ///   - name: the family name.
    ///   - help: the `# HELP` text.
    ///   - samples: each series' labels and value.
    public mutating func gauge(_ name: String, help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
        text += "# HELP \(name) \(Exposition.escapeHelp(help))\n# TYPE \(name) gauge\n"
        for sample in samples {
            text += "\(name)\(Exposition.labels(sample.labels)) \(Exposition.number(sample.value))\n"
        }
    }
}

/// One series of a histogram family, for ``MetricFamilyWriter``.
struct HistogramSeries {
    /// The series' labels, without `le`.
    var labels: [(String, String)]
    /// Non-cumulative counts per bucket; the last is `+Inf`.
    var buckets: [Int]
    /// The sum of the observed values.
    var sum: Double
    /// At most one exemplar per bucket (empty: none).
    var exemplars: [MetricExemplar?] = []
}

/// An OpenMetrics exemplar: a sample that fell into a bucket, with the trace that produced it.
struct MetricExemplar {
    /// The exemplar's labels (`trace_id`, `span_id`).
    var labels: [(String, String)]
    /// The observed value.
    var value: Double
    /// When it was observed, in seconds since the epoch.
    var timestampSeconds: Double
}
