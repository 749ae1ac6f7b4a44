import TracelineCore

extension SpanMetricsProcessor {
    /// Rate, errors and latency percentiles of one span name over the recent window.
    public struct RecentStatistics: Sendable, Equatable {
        /// The `service.name` of the spans.
        public var serviceName: String
        /// The span name.
        public var spanName: String
        /// Spans ended in the window.
        public var calls: Int
        /// Spans ended in the window with status ERROR.
        public var errors: Int
        /// Calls per second over the window.
        public var rate: Double
        /// `errors / calls`, or 0 when there were no calls.
        public var errorRate: Double { calls == 0 ? 0 : Double(errors) / Double(calls) }
        /// Percentiles in milliseconds, interpolated inside histogram buckets the way PromQL's
        /// `histogram_quantile` does; values past the last finite bucket report that bound.
        public var p50: Double
        /// 95th percentile duration in milliseconds.
        public var p95: Double
        /// 99th percentile duration in milliseconds.
        public var p99: Double
    }

    private struct NameKey: Hashable {
        let service: String
        let spanName: String
    }

    /// Statistics per (service, span name) over the last `window` (sliding by `window / windowSlices`).
    /// Spans that went into the overflow series are not attributed to a name.
    public func recentStatistics() -> [RecentStatistics] {
        let slices = max(1, configuration.windowSlices)
        let current = Int(now() / sliceSeconds)
        var grouped: [NameKey: (buckets: [Int], errors: Int)] = [:]
        for shard in shards {
            shard.withLock { series in
                for entry in series.values {
                    let counts = entry.windowSum(from: current - slices + 1, through: current)
                    let total = counts.reduce(0, +)
                    guard total > 0 else { continue }
                    let name = NameKey(service: entry.key.service, spanName: entry.key.name)
                    var group = grouped[name] ?? (Array(repeating: 0, count: counts.count), 0)
                    for index in counts.indices { group.buckets[index] += counts[index] }
                    if entry.key.status == .error { group.errors += total }
                    grouped[name] = group
                }
            }
        }
        let seconds = sliceSeconds * Double(slices)
        return grouped.map { name, group in
            let calls = group.buckets.reduce(0, +)
            return RecentStatistics(
                serviceName: name.service, spanName: name.spanName, calls: calls, errors: group.errors,
                rate: Double(calls) / seconds,
                p50: Self.quantile(0.50, buckets: group.buckets, bounds: bounds),
                p95: Self.quantile(0.95, buckets: group.buckets, bounds: bounds),
                p99: Self.quantile(0.99, buckets: group.buckets, bounds: bounds)
            )
        }.sorted { ($0.serviceName, $0.spanName) < ($1.serviceName, $1.spanName) }
    }

    /// Every series' counts since the start, per bucket (for ``SpanMetricsHistory``); the overflow
    /// series is not attributed to a name and is left out.
    func cumulativeSeries() -> [(service: String, name: String, isError: Bool, buckets: [Int])] {
        var result: [(service: String, name: String, isError: Bool, buckets: [Int])] = []
        for shard in shards {
            shard.withLock { series in
                for entry in series.values {
                    result.append(
                        (entry.key.service, entry.key.name, entry.key.status == .error, entry.snapshot().buckets))
                }
            }
        }
        return result
    }

    /// The `q` quantile of a bucketed distribution (non-cumulative `buckets`, the last one +Inf).
    static func quantile(_ q: Double, buckets: [Int], bounds: [Double]) -> Double {
        let total = buckets.reduce(0, +)
        guard total > 0 else { return 0 }
        let rank = q * Double(total)
        var cumulative = 0
        for (index, count) in buckets.enumerated() {
            let previous = cumulative
            cumulative += count
            guard Double(cumulative) >= rank, count > 0 else { continue }
            if index >= bounds.count { return bounds.last ?? 0 }
            let lower = index == 0 ? 0 : bounds[index - 1]
            return lower + (bounds[index] - lower) * (rank - Double(previous)) / Double(count)
        }
        return bounds.last ?? 0
    }
}
