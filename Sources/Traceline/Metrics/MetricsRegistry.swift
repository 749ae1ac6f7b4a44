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
        text += "# HELP \(name) \(Exposition.escapeHelp(help))\n# TYPE \(name) histogram\n"
        for sample in samples {
            var cumulative = 0
            for (index, count) in sample.buckets.enumerated() {
                cumulative += count
                let le = index < bounds.count ? Exposition.number(bounds[index]) : "+Inf"
                text += "\(name)_bucket\(Exposition.labels(sample.labels + [("le", le)])) \(cumulative)\n"
            }
            text += "\(name)_sum\(Exposition.labels(sample.labels)) \(Exposition.number(sample.sum))\n"
            text += "\(name)_count\(Exposition.labels(sample.labels)) \(cumulative)\n"
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
