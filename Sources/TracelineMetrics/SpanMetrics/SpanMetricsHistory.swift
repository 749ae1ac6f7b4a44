import TracelineCore

/// Rate, errors and p95 per span name, one point per interval (default: per minute for the last
/// hour), so a service without Prometheus still shows trends (the trace pages draw them).
///
/// It reads a ``SpanMetricsProcessor``'s cumulative series once per interval and keeps the
/// differences; recording a span costs nothing more. ``run()`` does the sampling (start it in a task
/// next to your server, or call ``sample()`` on your own timer). Memory is bounded by
/// `Configuration.maxBytes`: each interval may keep `maxBytes / points` bytes of points, the busiest
/// span names first; the names left out are counted (``droppedPoints``,
/// `traceline_span_history_dropped_points_total`).
public final class SpanMetricsHistory: MetricsSource, Sendable {
    /// How often to sample, how many points to keep and the memory they may use.
    public struct Configuration: Sendable, Equatable {
        /// Time between points.
        public var interval: Duration = .seconds(60)
        /// Points kept per span name (60 one-minute points: the last hour).
        public var points = 60
        /// Bytes the points may use, estimated as 64 bytes plus the service and span names' UTF-8
        /// bytes per point.
        public var maxBytes = 1 << 20

        /// Creates a configuration.
        /// - Parameters:
        ///   - interval: time between points.
        ///   - points: points kept per span name.
        ///   - maxBytes: the estimated bytes all points may use.
        public init(interval: Duration = .seconds(60), points: Int = 60, maxBytes: Int = 1 << 20) {
            self.interval = interval
            self.points = points
            self.maxBytes = maxBytes
        }
    }

    /// One interval of one span name.
    public struct Point: Sendable, Equatable {
        /// Spans ended in the interval.
        public var calls: Int
        /// Of those, spans with status ERROR.
        public var errors: Int
        /// 95th percentile duration in milliseconds (interpolated in the histogram's buckets).
        public var p95: Double
    }

    /// The points of one span name, aligned with ``History/endTimes``; nil where the name had no
    /// spans or was left out by the memory bound.
    public struct NameHistory: Sendable, Equatable {
        /// The `service.name` of the spans.
        public var serviceName: String
        /// The span name.
        public var spanName: String
        /// One entry per interval, oldest first.
        public var points: [Point?]
        /// Spans over all kept points.
        public var calls: Int { points.reduce(0) { $0 + ($1?.calls ?? 0) } }
    }

    /// Everything kept: the end time of each interval and each name's points.
    public struct History: Sendable, Equatable {
        /// Wall-clock end of each interval, seconds since the Unix epoch, oldest first.
        public var endTimes: [Double]
        /// Seconds per interval.
        public var intervalSeconds: Double
        /// Span names with at least one kept point, busiest first.
        public var names: [NameHistory]
    }

    private struct Name: Hashable {
        let service: String
        let span: String
    }

    private struct Sample {
        let endTime: Double
        let points: [Name: Point]
        let bytes: Int
    }

    private struct State {
        /// Cumulative buckets and errors per name at the last sample; nil before the first.
        var previous: [Name: (buckets: [Int], errors: Int)]?
        var samples: [Sample] = []
        var bytes = 0
        var dropped = 0
    }

    /// The settings the history was created with.
    public let configuration: Configuration
    private let processor: SpanMetricsProcessor
    private let state = LockedValue(State())

    /// Creates a history of `processor`'s series; nothing is kept until the second ``sample()``.
    public init(processor: SpanMetricsProcessor, configuration: Configuration = Configuration()) {
        self.processor = processor
        var configuration = configuration
        configuration.points = max(1, configuration.points)
        configuration.maxBytes = max(0, configuration.maxBytes)
        self.configuration = configuration
    }

    /// Samples every `interval` until the task is cancelled.
    public func run() async {
        while (try? await Task.sleep(for: configuration.interval)) != nil {
            sample()
        }
    }

    /// Adds one point per span name: what ended since the previous call. The first call only sets
    /// the baseline. Costs one pass over the processor's series.
    public func sample() {
        sample(endTime: WallClock.nowSeconds())
    }

    func sample(endTime: Double) {
        var current: [Name: (buckets: [Int], errors: Int)] = [:]
        for series in processor.cumulativeSeries() {
            let name = Name(service: series.service, span: series.name)
            var entry = current[name] ?? (Array(repeating: 0, count: series.buckets.count), 0)
            for index in series.buckets.indices { entry.buckets[index] += series.buckets[index] }
            if series.isError { entry.errors += series.buckets.reduce(0, +) }
            current[name] = entry
        }
        let bounds = processor.bounds
        let budget = configuration.maxBytes / configuration.points
        state.withLock { state in
            defer { state.previous = current }
            guard let previous = state.previous else { return }
            var deltas: [(Name, Point)] = []
            for (name, now) in current {
                let before = previous[name]
                let buckets = now.buckets.indices.map { now.buckets[$0] - (before?.buckets[$0] ?? 0) }
                let calls = buckets.reduce(0, +)
                guard calls > 0 else { continue }
                let point = Point(
                    calls: calls, errors: now.errors - (before?.errors ?? 0),
                    p95: SpanMetricsProcessor.quantile(0.95, buckets: buckets, bounds: bounds))
                deltas.append((name, point))
            }
            deltas.sort { $0.1.calls > $1.1.calls }
            var kept: [Name: Point] = [:]
            var bytes = 0
            for (name, point) in deltas {
                let cost = 64 + name.service.utf8.count + name.span.utf8.count
                if bytes + cost > budget {
                    state.dropped += 1
                    continue
                }
                bytes += cost
                kept[name] = point
            }
            state.samples.append(Sample(endTime: endTime, points: kept, bytes: bytes))
            state.bytes += bytes
            if state.samples.count > configuration.points {
                state.bytes -= state.samples.removeFirst().bytes
            }
        }
    }

    /// What is kept now.
    public func history() -> History {
        let samples = state.withLock { $0.samples }
        var names: [Name: [Point?]] = [:]
        for (index, sample) in samples.enumerated() {
            for (name, point) in sample.points {
                names[name, default: Array(repeating: nil, count: samples.count)][index] = point
            }
        }
        let histories = names.map { name, points in
            NameHistory(serviceName: name.service, spanName: name.span, points: points)
        }.sorted { ($0.calls, $1.spanName) > ($1.calls, $0.spanName) }
        return History(
            endTimes: samples.map(\.endTime), intervalSeconds: configuration.interval.inSeconds, names: histories)
    }

    /// Estimated bytes of the kept points.
    public var bytes: Int { state.withLock { $0.bytes } }

    /// Name-intervals left out because the interval's share of `maxBytes` was used.
    public var droppedPoints: Int { state.withLock { $0.dropped } }

    /// `traceline_span_history_bytes`, `…_max_bytes` and `…_dropped_points_total`; see `MetricsSource`.
    public func renderFamilies(format: MetricsFormat) -> String {
        let (bytes, dropped) = state.withLock { ($0.bytes, $0.dropped) }
        var writer = MetricFamilyWriter(format: format)
        writer.gauge(
            "traceline_span_history_bytes", help: "Estimated bytes of the per-interval span-name history.",
            [([], Double(bytes))])
        writer.gauge(
            "traceline_span_history_max_bytes", help: "The history's memory bound.",
            [([], Double(configuration.maxBytes))])
        writer.counter(
            "traceline_span_history_dropped_points",
            help: "Span-name intervals left out of the history by its memory bound.", [([], Double(dropped))])
        return writer.text
    }
}
