import TracelineCore
import Tracing

/// The identity of a span-metrics series, hashed without building label strings (they are made
/// once, when a series is created).
///
/// The fields are hashed once, when the key is made: that hash picks the shard, and the shard's
/// dictionary hashes only it, so a span end costs one pass of SipHash over the strings, not two.
struct SpanMetricSeriesKey: Hashable, Sendable {
    /// The span status as the `status_code` label says it.
    enum Status: UInt8, Sendable {
        case unset, ok, error

        init(_ status: SpanStatus?) {
            switch status?.code {
            case nil: self = .unset
            case .ok?: self = .ok
            case .error?: self = .error
            }
        }

        var label: String {
            switch self {
            case .unset: return "STATUS_CODE_UNSET"
            case .ok: return "STATUS_CODE_OK"
            case .error: return "STATUS_CODE_ERROR"
            }
        }
    }

    let service: String
    let name: String
    let kind: SpanKind
    let status: Status
    /// Values of the configured extra dimensions, in order ("" when the span lacks one).
    let dimensions: [String]
    /// The hash of every field above.
    let fieldsHash: Int

    init(service: String, name: String, kind: SpanKind, status: Status, dimensions: [String]) {
        self.service = service
        self.name = name
        self.kind = kind
        self.status = status
        self.dimensions = dimensions
        var hasher = Hasher()
        hasher.combine(service)
        hasher.combine(name)
        hasher.combine(kind)
        hasher.combine(status)
        hasher.combine(dimensions)
        self.fieldsHash = hasher.finalize()
    }

    static func == (lhs: SpanMetricSeriesKey, rhs: SpanMetricSeriesKey) -> Bool {
        lhs.fieldsHash == rhs.fieldsHash && lhs.name == rhs.name && lhs.service == rhs.service
            && lhs.kind == rhs.kind && lhs.status == rhs.status && lhs.dimensions == rhs.dimensions
    }

    func hash(into hasher: inout Hasher) { hasher.combine(fieldsHash) }

    /// The `span_kind` label value.
    var kindLabel: String {
        switch kind {
        case .internal: return "SPAN_KIND_INTERNAL"
        case .server: return "SPAN_KIND_SERVER"
        case .client: return "SPAN_KIND_CLIENT"
        case .producer: return "SPAN_KIND_PRODUCER"
        case .consumer: return "SPAN_KIND_CONSUMER"
        }
    }
}

/// One label set's histogram, cumulative since start, plus its recent-window slices and the latest
/// exemplar per bucket. Not synchronised itself: the owning shard's lock guards every field.
///
/// `@unchecked Sendable`: reached only under the lock of the shard that holds it.
final class SpanMetricSeries: @unchecked Sendable {
    struct Exemplar: Sendable {
        let traceID: TraceID
        let spanID: SpanID
        let value: Double
        let timestampNanoseconds: UInt64
    }

    struct Snapshot {
        var buckets: [Int]
        var sum: Double
        var exemplars: [Exemplar?]
        var count: Int { buckets.reduce(0, +) }
    }

    /// The series' identity, typed (the recent window reads it).
    let key: SpanMetricSeriesKey
    /// The label values in `SpanMetricsProcessor`'s label-name order, made once when the series is created.
    let labelValues: [String]
    let window: SlicedHistogram
    private var buckets: [Int]
    private var sum = 0.0
    private var exemplars: [Exemplar?]

    init(key: SpanMetricSeriesKey, labelValues: [String], bucketCount: Int, slices: Int) {
        self.key = key
        self.labelValues = labelValues
        self.window = SlicedHistogram(slices: slices, bucketCount: bucketCount)
        self.buckets = Array(repeating: 0, count: bucketCount)
        self.exemplars = Array(repeating: nil, count: bucketCount)
    }

    func record(bucket: Int, value: Double, exemplar: Exemplar?, epoch: Int) {
        buckets[bucket] += 1
        sum += value
        if let exemplar { exemplars[bucket] = exemplar }
        window.record(bucket: bucket, epoch: epoch)
    }

    func snapshot() -> Snapshot {
        Snapshot(buckets: buckets, sum: sum, exemplars: exemplars)
    }
}

/// A ring of time slices, each with its own bucket counts and the slice number it holds.
/// Not synchronised itself: its owner's lock guards it (hence `@unchecked Sendable`).
final class SlicedHistogram: @unchecked Sendable {
    private var epochs: [Int]
    private var counts: [[Int]]

    init(slices: Int, bucketCount: Int) {
        epochs = Array(repeating: Int.min, count: slices)
        counts = Array(repeating: Array(repeating: 0, count: bucketCount), count: slices)
    }

    func record(bucket: Int, epoch: Int) {
        guard !epochs.isEmpty else { return }
        let slot = ((epoch % epochs.count) + epochs.count) % epochs.count
        if epochs[slot] != epoch {
            epochs[slot] = epoch
            for index in counts[slot].indices { counts[slot][index] = 0 }
        }
        counts[slot][bucket] += 1
    }

    /// Bucket counts summed over the slices numbered `first...last`.
    func sum(from first: Int, through last: Int) -> [Int] {
        var total = Array(repeating: 0, count: counts.first?.count ?? 0)
        for slot in epochs.indices where epochs[slot] >= first && epochs[slot] <= last {
            for index in total.indices { total[index] += counts[slot][index] }
        }
        return total
    }
}
