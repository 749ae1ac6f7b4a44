import TracelineCore

/// Encoded OTLP requests that the receiver could not take yet, oldest first, bounded by bytes.
///
/// This is where spans wait during a collector outage when the exporter's retry buffer is on
/// (``OTLPExporterConfiguration/retryBufferBytes``): a span costs what its share of the request
/// body costs (about 200 bytes, 50–70 compressed) instead of a queued span record (about 1.3 KB),
/// so the export thread can keep emptying the processor's queue through an outage of several
/// seconds at a high span rate. Not thread-safe: the exporter guards it with its own lock.
struct OTLPRetryBuffer {
    /// One request body and what it carries.
    struct Request {
        /// The body as it is sent (compressed when the exporter compresses).
        let body: [UInt8]
        /// The body's size before compression.
        let uncompressedBytes: Int
        /// Spans in the request.
        let spans: Int
        /// Its attempts and backoff; it is dropped `maxElapsed` after `schedule.startedAt`.
        var schedule: RetrySchedule
        /// Not sent again before this instant.
        var retryAt: ContinuousClock.Instant
    }

    /// The most body bytes held at once.
    let capacityBytes: Int
    private var requests: [Request] = []
    private var head = 0
    /// Body bytes held now.
    private(set) var bytes = 0
    /// Spans held now.
    private(set) var spans = 0

    init(capacityBytes: Int) { self.capacityBytes = max(0, capacityBytes) }

    var isEmpty: Bool { head == requests.count }
    /// Requests held now.
    var count: Int { requests.count - head }
    /// The oldest request: the next one to send.
    var first: Request? { isEmpty ? nil : requests[head] }

    /// Appends `request` if its body fits in the free bytes; false (nothing changed) otherwise.
    mutating func append(_ request: Request) -> Bool {
        guard bytes + request.body.count <= capacityBytes else { return false }
        requests.append(request)
        bytes += request.body.count
        spans += request.spans
        return true
    }

    /// Changes the oldest request in place (its retry time after a failed attempt).
    mutating func updateFirst(_ change: (inout Request) -> Void) {
        guard !isEmpty else { return }
        change(&requests[head])
    }

    /// Removes and returns the oldest request.
    @discardableResult
    mutating func removeFirst() -> Request? {
        guard !isEmpty else { return nil }
        let request = requests[head]
        // Frees the body now.
        requests[head] = Request(
            body: [], uncompressedBytes: 0, spans: 0, schedule: request.schedule, retryAt: request.retryAt)
        head += 1
        bytes -= request.body.count
        spans -= request.spans
        // Compact once the removed prefix is as long as what is left: amortised O(1) per request.
        if head >= 32 && head * 2 >= requests.count {
            requests.removeFirst(head)
            head = 0
        }
        return request
    }

    /// Empties the buffer; returns the requests and spans it held.
    mutating func removeAll() -> (requests: Int, spans: Int) {
        let removed = (count, spans)
        requests = []
        head = 0
        bytes = 0
        spans = 0
        return removed
    }
}
