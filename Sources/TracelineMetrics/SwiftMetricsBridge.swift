import CoreMetrics
import Synchronization
import TracelineCore

/// A swift-metrics backend whose metrics appear on the same `/metrics` page as the span metrics
/// (bootstrap it with `MetricsSystem.bootstrap(bridge)` and register it with the registry).
///
/// Written here rather than combining with swift-prometheus because one page must have one HELP/TYPE
/// per family across every source, choose between text 0.0.4 and OpenMetrics per scrape, and use
/// this package's label escaping and naming; swift-prometheus renders text 0.0.4 only, on its own.
///
/// Mapping: `Counter` and `FloatingPointCounter` → counter (`_total` added when missing); `Meter` and
/// non-aggregating `Recorder` → gauge; aggregating `Recorder` → histogram of the raw values; `Timer`
/// → histogram in seconds (`_seconds` added when missing). Label and dimension names are sanitised.
/// A name reused with another kind is refused (the handler still works but is not exported) and counted.
public final class SwiftMetricsBridge: MetricsFactory, MetricsSource {
    /// Default histogram buckets (the Prometheus client libraries' defaults, in seconds for timers).
    public static let defaultBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    enum Kind: String { case counter, gauge, histogram }

    /// `@unchecked Sendable`: reached only inside the bridge's lock.
    private final class Family: @unchecked Sendable {
        let kind: Kind
        var series: [[String]: any ExportedValue] = [:]
        var labelNames: [String]
        init(kind: Kind, labelNames: [String]) {
            self.kind = kind
            self.labelNames = labelNames
        }
    }

    private let families = LockedValue<[String: Family]>([:])
    private let conflicts = Atomic<Int>(0)
    /// Histogram bucket upper bounds, sorted; in seconds for timers.
    public let buckets: [Double]

    /// Creates a bridge whose histograms use `buckets` (sorted on the way in).
    public init(buckets: [Double] = SwiftMetricsBridge.defaultBuckets) {
        self.buckets = buckets.sorted()
    }

    /// Handlers refused because their name was already used with another kind.
    public var conflictCount: Int { conflicts.load(ordering: .relaxed) }

    private func register<H: ExportedValue>(
        _ name: String, kind: Kind, dimensions: [(String, String)], make: () -> H
    ) -> H {
        let labels = dimensions.map { Exposition.sanitizeName($0.0) }
        let values = dimensions.map(\.1)
        return families.withLock { families in
            let family = families[name] ?? Family(kind: kind, labelNames: labels)
            guard family.kind == kind, family.labelNames == labels || family.series.isEmpty else {
                conflicts.add(1, ordering: .relaxed)
                return make()  // works for the caller, never exported
            }
            families[name] = family
            if let existing = family.series[values] as? H { return existing }
            let handler = make()
            family.labelNames = labels
            family.series[values] = handler
            return handler
        }
    }

    private static func name(_ label: String, suffix: String) -> String {
        let sanitized = Exposition.sanitizeName(label, allowColon: true)
        return sanitized.hasSuffix(suffix) ? String(sanitized.dropLast(suffix.count)) : sanitized
    }

    /// Makes a counter; see `MetricsFactory.makeCounter`.
    public func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler {
        register(Self.name(label, suffix: "_total"), kind: .counter, dimensions: dimensions) { CounterValue() }
    }

    /// Makes a floating-point counter; see `MetricsFactory.makeFloatingPointCounter`.
    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> FloatingPointCounterHandler {
        register(Self.name(label, suffix: "_total"), kind: .counter, dimensions: dimensions) { CounterValue() }
    }

    /// Makes a gauge; see `MetricsFactory.makeMeter`.
    public func makeMeter(label: String, dimensions: [(String, String)]) -> MeterHandler {
        register(Exposition.sanitizeName(label, allowColon: true), kind: .gauge, dimensions: dimensions) {
            GaugeValue()
        }
    }

    /// Makes a histogram, or a gauge when not aggregating; see `MetricsFactory.makeRecorder`.
    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler {
        let name = Exposition.sanitizeName(label, allowColon: true)
        if aggregate {
            return register(name, kind: .histogram, dimensions: dimensions) {
                HistogramValue(bounds: buckets, scale: 1)
            }
        }
        return register(name, kind: .gauge, dimensions: dimensions) { GaugeValue() }
    }

    /// Makes a histogram in seconds; see `MetricsFactory.makeTimer`.
    public func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler {
        let base = Exposition.sanitizeName(label, allowColon: true)
        let name = base.hasSuffix("_seconds") ? base : base + "_seconds"
        return register(name, kind: .histogram, dimensions: dimensions) { HistogramValue(bounds: buckets, scale: 1e-9) }
    }

    /// Stops exporting the counter; see `MetricsFactory.destroyCounter`.
    public func destroyCounter(_ handler: CounterHandler) { remove(handler) }
    /// Stops exporting the counter; see `MetricsFactory.destroyFloatingPointCounter`.
    public func destroyFloatingPointCounter(_ handler: FloatingPointCounterHandler) { remove(handler) }
    /// Stops exporting the gauge; see `MetricsFactory.destroyMeter`.
    public func destroyMeter(_ handler: MeterHandler) { remove(handler) }
    /// Stops exporting the recorder; see `MetricsFactory.destroyRecorder`.
    public func destroyRecorder(_ handler: RecorderHandler) { remove(handler) }
    /// Stops exporting the timer; see `MetricsFactory.destroyTimer`.
    public func destroyTimer(_ handler: TimerHandler) { remove(handler) }

    private func remove(_ handler: AnyObject) {
        families.withLock { families in
            for (name, family) in families {
                if let key = family.series.first(where: { $0.value === handler })?.key {
                    family.series[key] = nil
                    if family.series.isEmpty { families[name] = nil }
                }
            }
        }
    }

    /// Renders every bridged family; see `MetricsSource.renderFamilies`.
    public func renderFamilies(format: MetricsFormat) -> String {
        let snapshot = families.withLock { families in
            families.map { name, family in
                (name, family.kind, family.labelNames, family.series.map { ($0.key, $0.value.sample()) })
            }
        }.sorted { $0.0 < $1.0 }
        var writer = MetricFamilyWriter(format: format)
        for (name, kind, labelNames, series) in snapshot {
            let rows = series.sorted { $0.0.lexicographicallyPrecedes($1.0) }.map {
                (Array(zip(labelNames, $0.0)), $0.1)
            }
            switch kind {
            case .counter:
                writer.counter(name, help: "swift-metrics counter \(name).", rows.map { ($0.0, $0.1.value) })
            case .gauge:
                writer.gauge(name, help: "swift-metrics gauge \(name).", rows.map { ($0.0, $0.1.value) })
            case .histogram:
                writer.histogram(
                    name, help: "swift-metrics histogram \(name).", bounds: buckets,
                    rows.map { ($0.0, $0.1.buckets, $0.1.value) })
            }
        }
        return writer.text
    }
}

/// What every bridged handler can report.
protocol ExportedValue: AnyObject, Sendable {
    /// `value` is the counter or gauge value, or the histogram's sum; `buckets` only for histograms.
    func sample() -> (value: Double, buckets: [Int])
}

final class CounterValue: CounterHandler, FloatingPointCounterHandler, ExportedValue {
    private let total = LockedValue(0.0)
    func increment(by amount: Int64) { if amount > 0 { total.withLock { $0 += Double(amount) } } }
    func increment(by amount: Double) { if amount > 0, amount.isFinite { total.withLock { $0 += amount } } }
    func reset() { total.withLock { $0 = 0 } }
    func sample() -> (value: Double, buckets: [Int]) { (total.withLock { $0 }, []) }
}

final class GaugeValue: MeterHandler, RecorderHandler, ExportedValue {
    private let current = LockedValue(0.0)
    func set(_ value: Int64) { current.withLock { $0 = Double(value) } }
    func set(_ value: Double) { current.withLock { $0 = value } }
    func increment(by amount: Double) { current.withLock { $0 += amount } }
    func decrement(by amount: Double) { current.withLock { $0 -= amount } }
    func record(_ value: Int64) { set(value) }
    func record(_ value: Double) { set(value) }
    func sample() -> (value: Double, buckets: [Int]) { (current.withLock { $0 }, []) }
}

final class HistogramValue: RecorderHandler, TimerHandler, ExportedValue {
    private let bounds: [Double]
    private let scale: Double
    private let state: LockedValue<(buckets: [Int], sum: Double)>

    init(bounds: [Double], scale: Double) {
        self.bounds = bounds
        self.scale = scale
        self.state = LockedValue((Array(repeating: 0, count: bounds.count + 1), 0))
    }

    func record(_ value: Int64) { observe(Double(value) * scale) }
    func record(_ value: Double) { observe(value * scale) }
    func recordNanoseconds(_ duration: Int64) { observe(Double(duration) * scale) }

    private func observe(_ value: Double) {
        guard value.isFinite else { return }
        let bucket = bounds.firstIndex(where: { value <= $0 }) ?? bounds.count
        state.withLock {
            $0.buckets[bucket] += 1
            $0.sum += value
        }
    }

    func sample() -> (value: Double, buckets: [Int]) {
        let current = state.withLock { $0 }
        return (current.sum, current.buckets)
    }
}
