import TracelineCore
import Tracing

/// The identity of a span-metrics series, hashed without building label strings (they are made
/// once, when a series is created).
///
/// A span end hashes its fields once with ``hash(name:kind:status:dimensions:)``, without making a
/// key (one is made only for a new series); that hash both picks the shard and places the series
/// in the shard's ``SpanMetricSeriesTable``: one pass of SipHash per span end. The service name is
/// compared but not hashed, since a processor almost always sees one service.
struct SpanMetricSeriesKey: Sendable, Equatable {
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
    /// The hash of every field above but `service`.
    let fieldsHash: Int

    init(service: String, name: String, kind: SpanKind, status: Status, dimensions: [String]) {
        self.service = service
        self.name = name
        self.kind = kind
        self.status = status
        self.dimensions = dimensions
        self.fieldsHash = Self.hash(name: name, kind: kind, status: status, dimensions: dimensions)
    }

    /// The hash of a key with these fields, without making the key: SipHash over the name, one
    /// word holding kind, status and dimension count, and the dimension values when there are any.
    static func hash(name: String, kind: SpanKind, status: Status, dimensions: [String]) -> Int {
        var hasher = Hasher()
        hasher.combine(name)
        hasher.combine(UInt(kindCode(kind)) | UInt(status.rawValue) << 8 | UInt(dimensions.count) << 16)
        for value in dimensions { hasher.combine(value) }
        return hasher.finalize()
    }

    /// Whether this key has these fields; `hash` is theirs, compared first.
    func matches(
        hash: Int, service: String, name: String, kind: SpanKind, status: Status, dimensions: [String]
    ) -> Bool {
        fieldsHash == hash && self.name == name && self.service == service && self.kind == kind
            && self.status == status && self.dimensions == dimensions
    }

    static func == (lhs: SpanMetricSeriesKey, rhs: SpanMetricSeriesKey) -> Bool {
        lhs.matches(
            hash: rhs.fieldsHash, service: rhs.service, name: rhs.name, kind: rhs.kind, status: rhs.status,
            dimensions: rhs.dimensions)
    }

    private static func kindCode(_ kind: SpanKind) -> UInt8 {
        switch kind {
        case .internal: return 0
        case .server: return 1
        case .client: return 2
        case .producer: return 3
        case .consumer: return 4
        }
    }

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
/// The counters live in one buffer allocated with the series, so recording a span is a few stores
/// with no copy-on-write or exclusivity checks; every index into it is checked by a `precondition`.
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
    private let bucketCount: Int
    private let sliceCount: Int
    /// `bucketCount` cumulative counts, then `sliceCount` slice numbers, then `sliceCount` rows of
    /// `bucketCount` counts, one row per slice of the recent window.
    private let counts: UnsafeMutablePointer<Int>
    private let sum: UnsafeMutablePointer<Double>
    private let exemplars: UnsafeMutablePointer<Exemplar?>

    init(key: SpanMetricSeriesKey, labelValues: [String], bucketCount: Int, slices: Int) {
        precondition(bucketCount > 0 && slices >= 0)
        self.key = key
        self.labelValues = labelValues
        self.bucketCount = bucketCount
        self.sliceCount = slices
        counts = .allocate(capacity: bucketCount + slices + slices * bucketCount)
        counts.initialize(repeating: 0, count: bucketCount)
        (counts + bucketCount).initialize(repeating: Int.min, count: slices)  // no slice holds a number yet
        (counts + bucketCount + slices).initialize(repeating: 0, count: slices * bucketCount)
        sum = .allocate(capacity: 1)
        sum.initialize(to: 0)
        exemplars = .allocate(capacity: bucketCount)
        exemplars.initialize(repeating: nil, count: bucketCount)
    }

    deinit {
        counts.deallocate()
        sum.deallocate()
        exemplars.deinitialize(count: bucketCount)
        exemplars.deallocate()
    }

    /// Counts one span in `bucket`, in the cumulative histogram and in the slice numbered `epoch`.
    func record(bucket: Int, value: Double, exemplar: Exemplar?, epoch: Int) {
        precondition(bucket >= 0 && bucket < bucketCount)
        counts[bucket] += 1
        sum.pointee += value
        if let exemplar { exemplars[bucket] = exemplar }
        guard sliceCount > 0 else { return }
        let slot = ((epoch % sliceCount) + sliceCount) % sliceCount
        let row = counts + bucketCount + sliceCount + slot * bucketCount
        if counts[bucketCount + slot] != epoch {
            counts[bucketCount + slot] = epoch
            row.update(repeating: 0, count: bucketCount)
        }
        row[bucket] += 1
    }

    func snapshot() -> Snapshot {
        Snapshot(
            buckets: Array(UnsafeBufferPointer(start: counts, count: bucketCount)), sum: sum.pointee,
            exemplars: Array(UnsafeBufferPointer(start: exemplars, count: bucketCount)))
    }

    /// Bucket counts summed over the recent-window slices numbered `first...last`.
    func windowSum(from first: Int, through last: Int) -> [Int] {
        var total = Array(repeating: 0, count: bucketCount)
        for slot in 0..<sliceCount {
            let epoch = counts[bucketCount + slot]
            guard epoch >= first && epoch <= last else { continue }
            let row = counts + bucketCount + sliceCount + slot * bucketCount
            for index in total.indices { total[index] += row[index] }
        }
        return total
    }
}

/// The series of one shard, found by their key's precomputed hash: an open-addressing table with
/// linear probing, kept at most half full. Lookups hash nothing more (a `Dictionary` would run
/// SipHash again over the hash). Not synchronised itself: the shard's lock guards it.
struct SpanMetricSeriesTable {
    private var slots: [SpanMetricSeries?] = Array(repeating: nil, count: 16)
    private(set) var count = 0

    /// Every series, in no particular order.
    var values: [SpanMetricSeries] { slots.compactMap { $0 } }

    /// The series whose key has these fields (`hash` being theirs, from ``SpanMetricSeriesKey/hash``).
    func find(
        hash: Int, service: String, name: String, kind: SpanKind, status: SpanMetricSeriesKey.Status,
        dimensions: [String]
    ) -> SpanMetricSeries? {
        let mask = slots.count - 1
        var index = hash & mask
        while let series = slots[index] {
            if series.key.matches(
                hash: hash, service: service, name: name, kind: kind, status: status, dimensions: dimensions)
            {
                return series
            }
            index = (index + 1) & mask
        }
        return nil
    }

    /// Adds a series whose key is not in the table yet.
    mutating func insert(_ series: SpanMetricSeries) {
        if (count + 1) * 2 > slots.count {
            let old = slots
            slots = Array(repeating: nil, count: old.count * 2)
            for case let existing? in old { place(existing) }
        }
        place(series)
        count += 1
    }

    private mutating func place(_ series: SpanMetricSeries) {
        let mask = slots.count - 1
        var index = series.key.fieldsHash & mask
        while slots[index] != nil { index = (index + 1) & mask }
        slots[index] = series
    }
}
