/// Something that contributes metric families to a `/metrics` page.
public protocol MetricsSource: Sendable {
    /// Complete families (HELP, TYPE, samples) in `format`, without the OpenMetrics `# EOF`.
    func renderFamilies(format: MetricsFormat) -> String
}

extension SpanMetricsProcessor: MetricsSource {}

/// Puts several sources on one endpoint: span metrics, the SDK's own counters, process metrics.
public final class MetricsRegistry: Sendable {
    private let sources: LockedValue<[any MetricsSource]>

    public init(_ sources: [any MetricsSource] = []) {
        self.sources = LockedValue(sources)
    }

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
/// its `_total` suffix; text 0.0.4 names it with it).
struct MetricFamilyWriter {
    let format: MetricsFormat
    var text = ""

    init(format: MetricsFormat) { self.format = format }

    mutating func counter(_ name: String, help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
        let family = format == .openMetrics ? name : name + "_total"
        text += "# HELP \(family) \(Exposition.escapeHelp(help))\n# TYPE \(family) counter\n"
        for sample in samples { text += "\(name)_total\(Exposition.labels(sample.labels)) \(Exposition.number(sample.value))\n" }
    }

    mutating func gauge(_ name: String, help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
        text += "# HELP \(name) \(Exposition.escapeHelp(help))\n# TYPE \(name) gauge\n"
        for sample in samples { text += "\(name)\(Exposition.labels(sample.labels)) \(Exposition.number(sample.value))\n" }
    }
}
