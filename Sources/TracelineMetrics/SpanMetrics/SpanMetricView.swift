import TracelineCore
import Tracing

/// A declarative rule that derives one metric from spans, so a service publishes domain metrics
/// (for example `mcp_api_calls_total{provider,model,status}`) without hand-written bookkeeping.
public struct SpanMetricView: Sendable {
    /// Where a label's value comes from.
    public enum LabelSource: Sendable {
        /// A span attribute (empty string when absent).
        case attribute(String)
        /// The span's name.
        case spanName
        /// `success` or `error` (error when the status is ERROR), or custom words.
        case outcome(success: String = "success", error: String = "error")
        /// A fixed value (to tell apart several views that share a metric name).
        case constant(String)
    }

    /// What the metric is: `.counter()`, `.histogram(buckets:unit:)`,
    /// `.attributeHistogram(attribute:buckets:)` or `.upDownCounter`.
    ///
    /// A struct rather than an enum with payloads: a multi-payload enum may keep its case in the
    /// spare high bits of a payload's pointer, which LeakSanitizer cannot follow, so buckets kept
    /// for the life of the process were reported as leaked.
    public struct Instrument: Sendable {
        enum Kind: Sendable { case counter, histogram, attributeHistogram, upDownCounter }

        let kind: Kind
        /// The attribute a counter adds, or an attribute histogram observes.
        let attribute: String?
        let buckets: [Double]
        let unit: DurationUnit

        /// Counts matching spans (`value: nil`), or adds a numeric attribute's value.
        public static func counter(value: String? = nil) -> Instrument {
            Instrument(kind: .counter, attribute: value, buckets: [], unit: .seconds)
        }

        /// Span durations in seconds or milliseconds.
        public static func histogram(buckets: [Double], unit: DurationUnit) -> Instrument {
            Instrument(kind: .histogram, attribute: nil, buckets: buckets, unit: unit)
        }

        /// The values of a numeric attribute (for example `gen_ai.response.time_to_first_chunk`);
        /// spans without it are not counted.
        public static func attributeHistogram(attribute: String, buckets: [Double]) -> Instrument {
            Instrument(kind: .attributeHistogram, attribute: attribute, buckets: buckets, unit: .seconds)
        }

        /// +1 when a matching span starts, −1 when it ends (matching by name only, since
        /// attributes are usually set after start).
        public static let upDownCounter = Instrument(kind: .upDownCounter, attribute: nil, buckets: [], unit: .seconds)
    }

    /// The unit histogram durations are recorded in: seconds or milliseconds.
    public enum DurationUnit: Sendable { case seconds, milliseconds }

    /// Which ended spans a view counts, described rather than opaque: views whose filter is
    /// `hasAttribute` with the same attribute share one lookup per span end.
    public struct Filter: Sendable {
        /// The attribute a span must carry, for `hasAttribute` (nil for `matching`).
        let attribute: String?
        /// The test itself, for `matching`.
        let predicate: (@Sendable (FinishedSpan) -> Bool)?

        /// Spans that carry `attribute` (for example all `gen_ai.operation.name` spans).
        public static func hasAttribute(_ attribute: String) -> Filter {
            Filter(attribute: attribute, predicate: nil)
        }

        /// Spans for which `predicate` returns true; evaluated for each view that uses it.
        public static func matching(_ predicate: @escaping @Sendable (FinishedSpan) -> Bool) -> Filter {
            Filter(attribute: nil, predicate: predicate)
        }

        /// The filter as one test of a span.
        var test: @Sendable (FinishedSpan) -> Bool {
            if let predicate { return predicate }
            return SpanMetricView.hasAttribute(attribute ?? "")
        }
    }

    /// The metric's Prometheus name, with invalid characters replaced by `_`.
    public let name: String
    /// The `# HELP` text.
    public let help: String
    /// The kind of metric the view produces.
    public let instrument: Instrument
    /// Label names (made valid) and where their values come from.
    public let labels: [(name: String, source: LabelSource)]
    /// Which ended spans count (for up-down counters: the span names that count).
    public let filter: @Sendable (FinishedSpan) -> Bool
    /// For an `activeSpans` view, the span names it tracks; nil for other views.
    public let spanNames: Set<String>?
    /// The attribute the view's filter requires, when it was made with `Filter.hasAttribute`.
    let requiredAttribute: String?

    /// - Parameters:
    ///   - name: the Prometheus name, including `_total` for counters.
    ///   - help: the `# HELP` text.
    ///   - instrument: counter, histogram or up-down counter.
    ///   - labels: label names and where their values come from.
    ///   - filter: which ended spans contribute; default all.
    public init(
        name: String, help: String, instrument: Instrument, labels: [(name: String, source: LabelSource)] = [],
        filter: @escaping @Sendable (FinishedSpan) -> Bool = { _ in true }
    ) {
        self.init(name: name, help: help, instrument: instrument, labels: labels, test: filter, requiredAttribute: nil)
    }

    /// - Parameters:
    ///   - name: the Prometheus name, including `_total` for counters.
    ///   - help: the `# HELP` text.
    ///   - instrument: counter, histogram or up-down counter.
    ///   - labels: label names and where their values come from.
    ///   - filter: which ended spans contribute: `.hasAttribute(_:)` (shared between views) or
    ///     `.matching(_:)`.
    public init(
        name: String, help: String, instrument: Instrument, labels: [(name: String, source: LabelSource)] = [],
        filter: Filter
    ) {
        self.init(
            name: name, help: help, instrument: instrument, labels: labels, test: filter.test,
            requiredAttribute: filter.attribute)
    }

    private init(
        name: String, help: String, instrument: Instrument, labels: [(name: String, source: LabelSource)],
        test: @escaping @Sendable (FinishedSpan) -> Bool, requiredAttribute: String?
    ) {
        self.name = Exposition.sanitizeName(name, allowColon: true)
        self.help = help
        self.instrument = instrument
        self.labels = labels.map { (Exposition.sanitizeName($0.name), $0.source) }
        self.filter = test
        self.spanNames = nil
        self.requiredAttribute = requiredAttribute
    }

    /// An up-down counter driven by the start and end of spans with one of `spanNames`.
    public static func activeSpans(name: String, help: String, spanNames: Set<String>) -> SpanMetricView {
        SpanMetricView(name: name, help: help, spanNames: spanNames)
    }

    private init(name: String, help: String, spanNames: Set<String>) {
        self.name = Exposition.sanitizeName(name, allowColon: true)
        self.help = help
        self.instrument = .upDownCounter
        self.labels = []
        self.filter = { spanNames.contains($0.name) }
        self.spanNames = spanNames
        self.requiredAttribute = nil
    }

    /// Matches spans that carry `attribute` (for example all `gen_ai.operation.name` spans). Each
    /// view evaluates its own closure; `Filter.hasAttribute` is the same test, shared between views.
    public static func hasAttribute(_ attribute: String) -> @Sendable (FinishedSpan) -> Bool {
        { span in carries(span, attribute) }
    }

    /// Whether `span` has `attribute`. A pattern rather than `!= nil`, which copies the attribute
    /// twice more (about 230 instructions a test).
    static func carries(_ span: borrowing FinishedSpan, _ attribute: String) -> Bool {
        if case .none = span.attributes.get(attribute) { return false }
        return true
    }
}
