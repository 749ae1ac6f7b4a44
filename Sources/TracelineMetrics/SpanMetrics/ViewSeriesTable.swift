/// One series of a ``SpanMetricView``: its label values and what it has counted.
///
/// `@unchecked Sendable`: reached only through the ``ViewSeriesTable`` that holds it, under that
/// table's lock.
final class ViewSeries: @unchecked Sendable {
    /// The label values, in the view's label order; empty for the overflow series.
    let labels: [String]
    /// Whether this is the view's overflow series, which takes label sets beyond its limit.
    let isOverflow: Bool
    var value = 0.0
    var buckets: [Int]
    var sum = 0.0
    /// Empty for counters; one slot per bucket for histograms.
    var exemplars: [SpanMetricSeries.Exemplar?]
    /// The next series whose label values have the same hash.
    fileprivate var nextWithSameHash: ViewSeries?

    init(labels: [String], isOverflow: Bool = false, bucketCount: Int) {
        self.labels = labels
        self.isOverflow = isOverflow
        buckets = Array(repeating: 0, count: bucketCount)
        exemplars = Array(repeating: nil, count: bucketCount)
    }
}

/// One view's series, found by a hash of their label values: a span end compares the values it
/// read with a series' labels in place, and builds a label array only for a new series.
///
/// Not thread-safe; `SpanViewsProcessor` keeps each table behind its own lock.
struct ViewSeriesTable {
    /// Every series, in the order they were created.
    private(set) var series: [ViewSeries] = []
    private var firstByHash: [Int: ViewSeries] = [:]
    private var overflowSeries: ViewSeries?

    /// Series kept, the overflow series included.
    var count: Int { series.count }

    /// The series whose labels equal `values` (`count` of them, read by position), if any.
    func find(hash: Int, count: Int, values: (Int) -> String) -> ViewSeries? {
        var candidate = firstByHash[hash]
        while let current = candidate {
            if current.labels.count == count, (0..<count).allSatisfy({ current.labels[$0] == values($0) }) {
                return current
            }
            candidate = current.nextWithSameHash
        }
        return nil
    }

    /// Adds a series with `labels` under `hash`; the caller has checked it is not there yet.
    mutating func insert(labels: [String], hash: Int, bucketCount: Int) -> ViewSeries {
        let created = ViewSeries(labels: labels, bucketCount: bucketCount)
        created.nextWithSameHash = firstByHash[hash]
        firstByHash[hash] = created
        series.append(created)
        return created
    }

    /// The one series that takes label sets beyond the view's limit, made on first use.
    mutating func overflow(bucketCount: Int) -> ViewSeries {
        if let overflowSeries { return overflowSeries }
        let created = ViewSeries(labels: [], isOverflow: true, bucketCount: bucketCount)
        overflowSeries = created
        series.append(created)
        return created
    }
}
