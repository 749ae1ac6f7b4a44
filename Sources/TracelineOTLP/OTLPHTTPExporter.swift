import COTLPProto
import CTracelineHTTP
import CTracelineSupport
import Logging
import Synchronization
import TracelineCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Sends spans as OTLP protobuf over HTTP (`POST …/v1/traces`) with libcurl.
///
/// This is where a span is sent. The batch processor calls `export` on its own thread; `export`
/// encodes the batch and hands the request to one of
/// ``OTLPExporterConfiguration/maxConcurrentRequests`` sender threads, each with its own curl
/// handle and keep-alive connection, so encoding the next batch overlaps sending earlier ones and
/// a slow or stalled receiver holds a sender, not the export thread (with 1, `export` sends on the
/// calling thread). Blocking libcurl calls never occupy a Swift concurrency thread. Responses are handled as the OTLP specification says: 2xx may carry a partial
/// success (rejected spans are counted and its message logged once per distinct text); 429, 502,
/// 503, 504 and transport errors are retried as ``OTLPExporterConfiguration/RetryPolicy`` says,
/// or after the receiver's `Retry-After` (seconds or HTTP-date), never past the export deadline;
/// any other status drops the batch, counted and logged. A ``CircuitBreaker`` fails fast after
/// repeated failures. By default the exporter buffers nothing: the processor's queue is the only
/// buffer. With ``OTLPExporterConfiguration/retryBufferBytes`` set, failed requests wait,
/// encoded, in a buffer that a second thread (with its own curl handle) retries; `export` then
/// answers ``ExportResult/handedOver`` and ``handedOverSpans`` says what became of them.
///
/// `@unchecked Sendable`: each curl handle is used by one thread (`client` by the export thread,
/// `senderClient` by the retry thread, and each sender thread's own); `retryBuffer` and `sender`
/// are touched only under `retryBufferSignal`'s lock, the `flight` state only under
/// `flightSignal`'s; everything else is immutable, atomic or behind its own lock.
///
/// Made with ``SpanExporters/otlp(configuration:logger:)``; the type itself is SPI
/// (`@_spi(Testing)`), for tests and tools that read its breaker and internals.
@_spi(Testing) public final class OTLPHTTPExporter: SpanExporter, @unchecked Sendable {
    /// The settings the exporter was created with.
    public let configuration: OTLPExporterConfiguration
    /// Fails exports fast after repeated failures; named `otlp-exporter`.
    public let breaker: CircuitBreaker
    /// `User-Agent` of every request.
    public static let userAgent = "Traceline-OTLP-Exporter-Swift/\(Resource.sdkVersion)"

    /// Every counter, under one lock so that a snapshot adds up.
    private struct Books {
        var statistics = SpanExporterStatistics()
        var handedOver = HandedOverSpans()
    }

    private let logger: Logger
    private let encoder = OTLPTraceEncoder()
    private let client: OpaquePointer?
    private let request: OTLPHTTPRequest
    private let books = LockedValue(Books())
    private let seenPartialMessages = LockedValue<Set<String>>([])
    private let isShutDown = Atomic<Bool>(false)
    /// Monotonic milliseconds after which work must stop (0: none); read by libcurl's progress callback.
    private let abortAt: UnsafeMutablePointer<Int64>
    private let sleeper = ThreadSignal()
    private let dropLog = LogRateLimiter()

    // The retry buffer and its sender thread; `retryBufferSignal`'s lock guards the two vars and
    // is taken before `books`' lock, never after.
    private let retryBufferSignal = ThreadSignal()
    private nonisolated(unsafe) var retryBuffer: OTLPRetryBuffer
    private nonisolated(unsafe) var sender = SenderState.notStarted
    /// The sender's own handle: it sends while the export thread sends new batches.
    private let senderClient: OpaquePointer?

    private enum SenderState { case notStarted, running, finished }

    // The sender threads. `flightSignal`'s lock guards `flight`; it is taken before `books`' lock,
    // never after, and is never held together with `retryBufferSignal`'s.
    private let flightSignal = ThreadSignal()
    private nonisolated(unsafe) var flight = Flight()
    /// Set by a retryable failure, cleared by a delivery: while it is set and the retry buffer
    /// holds requests, new batches queue behind them instead of making a request that fails too.
    private let receiverFailing = Atomic<Bool>(false)

    /// Requests handed to the sender threads, waiting for one or being sent.
    private struct Flight {
        typealias Handed = (request: OTLPRetryBuffer.Request, deadline: ContinuousClock.Instant)
        /// Handed over and not yet picked up by a sender, oldest from `head` on; taken slots are
        /// nil, so their bodies are freed when a sender picks them up.
        private var waiting: [Handed?] = []
        private var head = 0
        /// Handed over and not yet answered (waiting or being sent).
        var requests = 0
        var bytes = 0
        var sendersRunning = 0
        var sendersStarted = false
        /// No sender thread could be started: `export` sends on the calling thread.
        var unavailable = false

        mutating func append(_ request: OTLPRetryBuffer.Request, deadline: ContinuousClock.Instant) {
            waiting.append((request, deadline))
            requests += 1
            bytes += request.body.count
        }

        /// The oldest waiting request, or nil; amortised O(1).
        mutating func next() -> Handed? {
            guard head < waiting.count, let handed = waiting[head] else { return nil }
            waiting[head] = nil
            head += 1
            if head >= 32 && head * 2 >= waiting.count {
                waiting.removeFirst(head)
                head = 0
            }
            return handed
        }

        /// Counts a request a sender has finished with.
        mutating func answered(_ request: OTLPRetryBuffer.Request) {
            requests -= 1
            bytes -= request.body.count
        }
    }

    /// `maxConcurrentRequests`, clamped to 1...64.
    private var senderCount: Int { min(max(1, configuration.maxConcurrentRequests), 64) }

    private var sendsOnCallingThread: Bool {
        senderCount == 1 || flightSignal.withLock { flight.unavailable }
    }

    /// Creates the exporter and its libcurl handle.
    /// - Parameters:
    ///   - configuration: endpoint, headers, compression, TLS files, retry and breaker settings.
    ///   - logger: reports dropped batches and partial successes.
    public init(
        configuration: OTLPExporterConfiguration = OTLPExporterConfiguration(),
        logger: Logger = Logger(label: "traceline.otlp-exporter")
    ) {
        self.configuration = configuration
        self.logger = logger
        self.breaker = CircuitBreaker(name: "otlp-exporter", configuration: configuration.breaker)
        self.client = traceline_http_client_create()
        self.request = OTLPHTTPRequest(configuration: configuration, userAgent: Self.userAgent)
        self.abortAt = .allocate(capacity: 1)
        abortAt.initialize(to: 0)
        self.retryBuffer = OTLPRetryBuffer(capacityBytes: configuration.retryBufferBytes)
        self.senderClient = configuration.retryBufferBytes > 0 ? traceline_http_client_create() : nil
        if client == nil { logger.error("libcurl could not create a handle; every export will fail") }
    }

    deinit {
        traceline_http_client_destroy(client)
        if let senderClient { traceline_http_client_destroy(senderClient) }
        abortAt.deallocate()
    }

    /// A snapshot of the exporter's counters.
    public var statistics: SpanExporterStatistics {
        var snapshot = books.withLock { $0.statistics }
        snapshot.breakerState = breaker.currentState
        snapshot.bufferCapacityBytes = configuration.retryBufferBytes
        snapshot.inFlightCapacityBytes = senderCount > 1 ? configuration.maxInFlightBytes : 0
        return snapshot
    }

    /// The same snapshot as ``statistics``; see `SpanExporter.exportStatistics`.
    public var exportStatistics: SpanExporterStatistics? { statistics }

    /// What became of the batches the retry buffer took; see `SpanExporter.handedOverSpans`.
    public var handedOverSpans: HandedOverSpans {
        books.withLock { books in
            var handedOver = books.handedOver
            handedOver.pending = books.statistics.spansBuffered + books.statistics.spansInFlight
            return handedOver
        }
    }

    private func update(_ body: (inout SpanExporterStatistics) -> Void) { books.withLock { body(&$0.statistics) } }

    // MARK: - SpanExporter

    /// Encodes the batch and hands it to a sender thread (or, with one request at a time, sends
    /// and retries it until `deadline`); see `SpanExporter.export`.
    public func export(_ batch: [FinishedSpan], deadline: ContinuousClock.Instant) -> ExportResult {
        guard !batch.isEmpty else { return .success }
        let started = ContinuousClock.now
        defer {
            let elapsed = ContinuousClock.now - started
            update {
                $0.exportCalls += 1
                $0.exportDurationTotal += elapsed
                $0.lastExportDuration = elapsed
            }
        }
        guard !isShutDown.load(ordering: .relaxed), let client else {
            return drop(batch.count, reason: "exporter is shut down")
        }
        // Requests already wait for a failing receiver: this one queues behind them (in order, and
        // without a request of its own that would fail too); the sender answers to the breaker.
        let behindBuffered =
            senderClient != nil && receiverFailing.load(ordering: .relaxed)
            && retryBufferSignal.withLock { !retryBuffer.isEmpty }
        if !behindBuffered {
            guard breaker.acquire() else {
                update { $0.breakerRejections += 1 }
                return drop(batch.count, reason: "circuit breaker open")
            }
        }

        let encoded = encoder.encode(batch)
        if encoded.count > configuration.maxRequestBytes {
            if !behindBuffered { breaker.recordSuccess() }  // not the receiver's fault
            return drop(
                batch.count,
                reason: "request of \(encoded.count) bytes exceeds the \(configuration.maxRequestBytes)-byte limit")
        }
        var body = encoded
        if configuration.compression == .gzip {
            guard let compressed = Self.gzip(encoded) else {
                if !behindBuffered { breaker.recordSuccess() }
                return drop(batch.count, reason: "gzip compression failed")
            }
            body = compressed
        }
        if behindBuffered {
            return keepForRetry(
                OTLPRetryBuffer.Request(
                    body: body, uncompressedBytes: encoded.count, spans: batch.count,
                    schedule: RetrySchedule(policy: configuration.retry, startedAt: .now), retryAt: .now))
        }
        let request = OTLPRetryBuffer.Request(
            body: body, uncompressedBytes: encoded.count, spans: batch.count,
            schedule: RetrySchedule(policy: configuration.retry, startedAt: started), retryAt: .now)
        if !sendsOnCallingThread, let result = handToSender(request, deadline: deadline) {
            return result
        }
        return deliver(request, deadline: deadline, client: client, handedOver: false)
    }

    /// Makes a running export give up by `deadline`; see `SpanExporter.beginShutdown`.
    public func beginShutdown(deadline: ContinuousClock.Instant) {
        traceline_store_i64(abortAt, Self.monotonicMilliseconds(for: deadline))
        sleeper.withLock { sleeper.signal() }
        retryBufferSignal.withLock { retryBufferSignal.signal() }
        flightSignal.withLock { flightSignal.signal() }
    }

    /// Waits until every request handed to a sender is answered and the retry buffer is empty
    /// (retries keep their backoff and `Retry-After`) or `deadline`, then returns the books; see
    /// `SpanExporter.forceFlush`.
    @discardableResult
    public func forceFlush(deadline: ContinuousClock.Instant) -> HandedOverSpans {
        waitForSenders(until: deadline)
        if senderClient != nil { _ = waitForRetryBuffer(until: deadline) }
        return handedOverSpans
    }

    /// Fails later exports, ends requests on the wire at `deadline` (libcurl notices within about
    /// a second), and gives the retry buffer until `deadline` to empty (what is left is dropped,
    /// counted); see `SpanExporter.shutdown`.
    @discardableResult
    public func shutdown(deadline: ContinuousClock.Instant) -> HandedOverSpans {
        isShutDown.store(true, ordering: .relaxed)
        beginShutdown(deadline: deadline)
        // libcurl looks at the abort time about once a second while it waits for an answer.
        waitForSenders(until: deadline + .milliseconds(1200), untilStopped: true)
        if senderClient != nil {
            _ = waitForRetryBuffer(until: deadline + .milliseconds(100), untilSenderFinished: true)
        }
        return handedOverSpans
    }

    // MARK: - The sender threads

    /// Hands `request` to the sender threads, starting them the first time; it waits for a free
    /// one in `flight`. When `maxInFlightBytes` is reached (or, with the retry buffer on, every
    /// sender is busy) the request goes to the retry buffer if it is on, and otherwise this thread
    /// waits for an answer to make room, until `deadline`. Returns nil when no sender thread could
    /// be started: the caller sends it itself.
    private func handToSender(_ request: OTLPRetryBuffer.Request, deadline: ContinuousClock.Instant) -> ExportResult? {
        let limit = MonotonicClock.nanoseconds(for: deadline)
        var waited = false
        flightSignal.lock()
        if !flight.sendersStarted {
            flight.sendersStarted = true
            for _ in 0..<senderCount {
                guard startThread(name: "traceline-otlp-send", { [self] in runRequestSender() }) else { break }
                flight.sendersRunning += 1
            }
            if flight.sendersRunning == 0 {
                flight.unavailable = true
                flightSignal.unlock()
                logger.error("Could not start the OTLP sender threads; the export thread sends every request itself")
                return nil
            }
        }
        // Without the retry buffer, requests wait here for a free sender up to `maxInFlightBytes`,
        // so a receiver that is slow for a moment does not stop the export thread. With it, a
        // request that finds every sender busy goes to the buffer, whose thread sends it.
        while (senderClient != nil && flight.requests >= senderCount)
            || (flight.bytes > 0 && flight.bytes + request.body.count > configuration.maxInFlightBytes)
        {
            if !waited {
                waited = true
                update { $0.senderWaits += 1 }
            }
            let abortMilliseconds = traceline_load_i64(abortAt)
            let pastAbort = abortMilliseconds != 0 && traceline_monotonic_ms() >= abortMilliseconds
            if senderClient != nil, !isShutDown.load(ordering: .relaxed) {
                // The retry buffer's thread sends it: the export thread goes back to the queue.
                flightSignal.unlock()
                breaker.recordCancelled()
                return keepForRetry(request)
            }
            if isShutDown.load(ordering: .relaxed) || pastAbort || MonotonicClock.nowNanoseconds() >= limit {
                flightSignal.unlock()
                breaker.recordCancelled()
                return drop(request.spans, reason: "every OTLP sender stayed busy until the export deadline")
            }
            flightSignal.wait(untilMonotonic: limit)
        }
        flight.append(request, deadline: deadline)
        update {
            $0.spansInFlight += request.spans
            $0.bytesInFlight += request.body.count
        }
        flightSignal.signal()
        flightSignal.unlock()
        return .handedOver
    }

    /// A sender thread: sends requests handed over by `export` on its own connection until the
    /// exporter shuts down and none is waiting.
    private func runRequestSender() {
        let client = traceline_http_client_create()
        defer { traceline_http_client_destroy(client) }
        while true {
            flightSignal.lock()
            var next = flight.next()
            while next == nil {
                if isShutDown.load(ordering: .relaxed) {
                    flight.sendersRunning -= 1
                    flightSignal.signal()
                    flightSignal.unlock()
                    return
                }
                flightSignal.wait(untilMonotonic: MonotonicClock.nowNanoseconds() + 1_000_000_000)
                next = flight.next()
            }
            flightSignal.unlock()
            guard let (request, deadline) = next else { continue }
            let abortMilliseconds = traceline_load_i64(abortAt)
            if abortMilliseconds != 0 && traceline_monotonic_ms() >= abortMilliseconds {
                dropSent(request, reason: "shutdown deadline passed before it was sent")
            } else if ContinuousClock.now >= deadline {
                dropSent(request, reason: "export deadline passed while it waited for a sender")
            } else if let client {
                deliver(request, deadline: deadline, client: client, handedOver: true)
            } else {
                dropSent(request, reason: "libcurl could not create a handle")
            }
            flightSignal.withLock {
                flight.answered(request)
                flightSignal.signal()
            }
        }
    }

    /// Sends `request` and retries it until `deadline`, or moves it to the retry buffer after a
    /// retryable failure when the buffer is on; settles its spans in the books. `handedOver`: the
    /// request came from a sender thread, so `export` already answered for it.
    @discardableResult
    private func deliver(
        _ request: OTLPRetryBuffer.Request, deadline: ContinuousClock.Instant, client: OpaquePointer,
        handedOver: Bool
    ) -> ExportResult {
        func lose(_ reason: String) -> ExportResult {
            guard handedOver else { return drop(request.spans, reason: reason) }
            dropSent(request, reason: reason)
            return .failure(reason: reason)
        }
        var schedule = request.schedule
        while true {
            let outcome = send(
                request.body, uncompressedBytes: request.uncompressedBytes, schedule: &schedule, client: client,
                deadline: deadline)
            switch outcome {
            case .success(let rejected, let message):
                breaker.recordSuccess()
                receiverFailing.store(false, ordering: .relaxed)
                let refused =
                    handedOver
                    ? settleSent(request, rejected: rejected)
                    : settleDelivered(spans: request.spans, rejected: rejected, handedOver: false)
                if let message, !message.isEmpty { logPartialSuccessOnce(message, rejected: rejected) }
                return refused > 0 ? .partialSuccess(rejected: refused) : .success
            case .permanentFailure(let reason):
                breaker.recordFailure()
                return lose(reason)
            case .retryableFailure(let reason, let retryAfter):
                receiverFailing.store(true, ordering: .relaxed)
                if senderClient != nil, !isShutDown.load(ordering: .relaxed) {
                    // The retry buffer's thread retries it; this thread goes back to its work.
                    guard let retryAt = schedule.nextAttempt(retryAfter: retryAfter, now: .now) else {
                        breaker.recordFailure()
                        return lose("\(reason); no retry left within \(configuration.retry.maxElapsed)")
                    }
                    var kept = request
                    kept.schedule = schedule
                    kept.retryAt = retryAt
                    return keepForRetry(kept, reason: reason, fromSender: handedOver)
                }
                guard let resumeAt = schedule.nextAttempt(retryAfter: retryAfter, now: .now, deadline: deadline),
                    !isShutDown.load(ordering: .relaxed)
                else {
                    breaker.recordFailure()
                    return lose("\(reason); no retry left before the deadline (attempt \(schedule.attempts))")
                }
                if !sleep(until: resumeAt) {
                    breaker.recordFailure()
                    return lose("\(reason); shutdown deadline passed while waiting to retry")
                }
            }
        }
    }

    /// Blocks until every handed-over request is answered (for a shutdown: until the sender threads
    /// have ended) or `deadline`.
    private func waitForSenders(until deadline: ContinuousClock.Instant, untilStopped: Bool = false) {
        guard senderCount > 1 else { return }
        let limit = MonotonicClock.nanoseconds(for: deadline)
        flightSignal.withLock {
            flightSignal.signal()
            while MonotonicClock.nowNanoseconds() < limit {
                if untilStopped ? flight.sendersRunning == 0 : flight.requests == 0 { break }
                flightSignal.wait(untilMonotonic: limit)
            }
        }
    }

    /// Counts a handed-over request the receiver answered; returns its rejected spans.
    private func settleSent(_ request: OTLPRetryBuffer.Request, rejected: Int) -> Int {
        let refused = min(max(0, rejected), request.spans)
        books.withLock {
            $0.statistics.spansExported += request.spans - refused
            $0.statistics.spansRejected += refused
            $0.statistics.spansInFlight -= request.spans
            $0.statistics.bytesInFlight -= request.body.count
            $0.handedOver.delivered += request.spans - refused
            $0.handedOver.rejected += refused
        }
        return refused
    }

    /// Counts and logs a handed-over request that will not be delivered.
    private func dropSent(_ request: OTLPRetryBuffer.Request, reason: String) {
        books.withLock {
            $0.statistics.spansInFlight -= request.spans
            $0.statistics.bytesInFlight -= request.body.count
            $0.handedOver.dropped += request.spans
        }
        _ = drop(request.spans, reason: reason)
    }

    // MARK: - The retry buffer

    /// Puts `request` in the retry buffer (starting the sender thread the first time), or drops
    /// its spans when it does not fit. The batch is the exporter's from here: `.handedOver` tells
    /// the processor so, and ``handedOverSpans`` says what becomes of it.
    /// A request from a sender thread (`fromSender`) was handed over already: it moves from the
    /// in-flight count to the buffer's, or to the handed-over books' dropped spans.
    private func keepForRetry(
        _ request: OTLPRetryBuffer.Request, reason: String? = nil, fromSender: Bool = false
    ) -> ExportResult {
        let (accepted, startSender) = retryBufferSignal.withLock { () -> (Bool, Bool) in
            guard sender != .finished else { return (false, false) }
            guard retryBuffer.append(request) else {
                update { $0.spansDroppedBufferFull += request.spans }
                return (false, false)
            }
            update {
                if fromSender {
                    $0.spansInFlight -= request.spans
                    $0.bytesInFlight -= request.body.count
                }
                $0.spansBuffered = retryBuffer.spans
                $0.bytesBuffered = retryBuffer.bytes
                if let reason { $0.lastError = reason }
            }
            retryBufferSignal.signal()
            let start = sender == .notStarted
            if start { sender = .running }
            return (true, start)
        }
        guard accepted else {
            let why =
                isShutDown.load(ordering: .relaxed)
                ? "exporter is shut down"
                : "retry buffer full (\(configuration.retryBufferBytes) bytes)" + (reason.map { " after \($0)" } ?? "")
            if fromSender {
                dropSent(request, reason: why)
                return .failure(reason: why)
            }
            return drop(request.spans, reason: why)
        }
        if startSender, !startThread(name: "traceline-otlp-retry", { [self] in runSender() }) {
            logger.error("Could not start the OTLP retry thread; buffered spans will be dropped at shutdown")
            retryBufferSignal.withLock { sender = .notStarted }
        }
        return .handedOver
    }

    /// Blocks until the buffer is empty (and, for a shutdown, the sender has ended) or `deadline`;
    /// returns the spans still buffered.
    private func waitForRetryBuffer(until deadline: ContinuousClock.Instant, untilSenderFinished: Bool = false) -> Int {
        let limit = MonotonicClock.nanoseconds(for: deadline)
        return retryBufferSignal.withLock { () -> Int in
            retryBufferSignal.signal()
            while MonotonicClock.nowNanoseconds() < limit {
                let done = untilSenderFinished ? sender != .running : retryBuffer.isEmpty
                if done { break }
                retryBufferSignal.wait(untilMonotonic: limit)
            }
            if untilSenderFinished, sender != .running {
                // No sender to empty it (never started, or already ended): what is left is lost.
                let left = retryBuffer.removeAll()
                if left.spans > 0 {
                    dropBuffered(left.spans, reason: "exporter shut down with spans in the retry buffer")
                }
                sender = .finished
            }
            return retryBuffer.spans
        }
    }

    /// The sender thread: sends the oldest buffered request when its retry time comes, until
    /// the buffer is empty at shutdown or the shutdown deadline passes.
    private func runSender() {
        guard let senderClient else { return }
        while true {
            // Wait for a request that is due; drop those past `maxElapsed` and, at shutdown, the rest.
            retryBufferSignal.lock()
            var due: OTLPRetryBuffer.Request?
            while due == nil {
                let now = ContinuousClock.now
                let abortMilliseconds = traceline_load_i64(abortAt)
                let pastAbort = abortMilliseconds != 0 && traceline_monotonic_ms() >= abortMilliseconds
                if isShutDown.load(ordering: .relaxed), retryBuffer.isEmpty || pastAbort {
                    let left = retryBuffer.removeAll()
                    if left.spans > 0 {
                        dropBuffered(left.spans, reason: "shutdown deadline passed with spans in the retry buffer")
                    }
                    sender = .finished
                    retryBufferSignal.signal()
                    retryBufferSignal.unlock()
                    return
                }
                while let first = retryBuffer.first, now - first.schedule.startedAt > configuration.retry.maxElapsed {
                    retryBuffer.removeFirst()
                    dropBuffered(
                        first.spans, reason: "in the retry buffer longer than \(configuration.retry.maxElapsed)")
                    breaker.recordFailure()
                }
                guard let first = retryBuffer.first else {
                    retryBufferSignal.signal()  // a flush waits for the empty buffer
                    retryBufferSignal.wait(untilMonotonic: MonotonicClock.nowNanoseconds() + 1_000_000_000)
                    continue
                }
                if first.retryAt <= now {
                    due = first
                    break
                }
                let wakeAt = MonotonicClock.nanoseconds(for: first.retryAt)
                if abortMilliseconds != 0, UInt64(abortMilliseconds) * 1_000_000 < wakeAt {
                    // Shutting down, and the next retry would come after the deadline: nothing in
                    // the buffer can be delivered in time (it goes in order).
                    let left = retryBuffer.removeAll()
                    dropBuffered(
                        left.spans,
                        reason: "shutdown deadline comes before the next retry; spans in the retry buffer dropped")
                    retryBufferSignal.signal()
                    continue
                }
                retryBufferSignal.wait(untilMonotonic: wakeAt)
            }
            retryBufferSignal.unlock()
            guard let request = due else { continue }

            var schedule = request.schedule
            let outcome = send(
                request.body, uncompressedBytes: request.uncompressedBytes, schedule: &schedule, client: senderClient,
                deadline: .now + (configuration.timeout ?? .seconds(60)))
            retryBufferSignal.withLock {
                switch outcome {
                case .success(let rejected, _):
                    retryBuffer.removeFirst()
                    settleDelivered(spans: request.spans, rejected: rejected, handedOver: true)
                case .permanentFailure(let reason):
                    retryBuffer.removeFirst()
                    dropBuffered(request.spans, reason: reason)
                case .retryableFailure(let reason, let retryAfter):
                    if let retryAt = schedule.nextAttempt(retryAfter: retryAfter, now: .now) {
                        retryBuffer.updateFirst {
                            $0.schedule = schedule
                            $0.retryAt = retryAt
                        }
                        update { $0.lastError = reason }
                    } else {
                        retryBuffer.removeFirst()
                        dropBuffered(
                            request.spans,
                            reason:
                                "\(reason); no retry left within \(configuration.retry.maxElapsed) (attempt \(schedule.attempts))"
                        )
                    }
                }
                retryBufferSignal.signal()
            }
            switch outcome {
            case .success(let rejected, let message):
                breaker.recordSuccess()
                receiverFailing.store(false, ordering: .relaxed)
                if let message, !message.isEmpty { logPartialSuccessOnce(message, rejected: rejected) }
            case .permanentFailure:
                breaker.recordFailure()
            case .retryableFailure:
                receiverFailing.store(true, ordering: .relaxed)
            }
        }
    }

    /// Counts a delivered request's spans, accepted and rejected; returns the rejected ones. For a
    /// request from the retry buffer (`handedOver`), `retryBufferSignal`'s lock is held.
    @discardableResult
    private func settleDelivered(spans: Int, rejected: Int, handedOver: Bool) -> Int {
        let refused = min(max(0, rejected), spans)
        books.withLock {
            $0.statistics.spansExported += spans - refused
            $0.statistics.spansRejected += refused
            if handedOver {
                $0.handedOver.delivered += spans - refused
                $0.handedOver.rejected += refused
                $0.statistics.spansBuffered = retryBuffer.spans
                $0.statistics.bytesBuffered = retryBuffer.bytes
            }
        }
        return refused
    }

    /// Counts and logs spans that leave the retry buffer undelivered; `retryBufferSignal`'s lock held.
    private func dropBuffered(_ spans: Int, reason: String) {
        books.withLock {
            $0.handedOver.dropped += spans
            $0.statistics.spansBuffered = retryBuffer.spans
            $0.statistics.bytesBuffered = retryBuffer.bytes
        }
        _ = drop(spans, reason: reason)
    }

    // MARK: - One request

    enum Outcome {
        case success(rejected: Int, message: String?)
        case retryableFailure(String, retryAfter: Duration?)
        case permanentFailure(String)
    }

    /// Makes one attempt (counted in `schedule` and the statistics) and classifies the answer.
    private func send(
        _ body: [UInt8], uncompressedBytes: Int, schedule: inout RetrySchedule, client: OpaquePointer,
        deadline: ContinuousClock.Instant
    ) -> Outcome {
        let isRetry = schedule.recordAttempt()
        update {
            $0.requests += 1
            if isRetry { $0.retries += 1 }
            $0.bytesUncompressed += uncompressedBytes
            $0.bytesSent += body.count
        }
        var remaining = ContinuousClock.now.duration(to: deadline)
        if let timeout = configuration.timeout, timeout < remaining { remaining = timeout }
        let timeoutMilliseconds = max(1, remaining.wholeMilliseconds)
        var response = traceline_http_response()
        defer { traceline_http_response_free(&response) }
        let status = request.post(
            body, client: client, timeoutMilliseconds: timeoutMilliseconds, abortAt: abortAt, response: &response)

        if response.body_too_large != 0 {
            return .permanentFailure("response larger than \(configuration.maxResponseBytes) bytes")
        }
        if status != 0 {
            let message = withUnsafeBytes(of: &response.error) {
                String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            let aborted = traceline_load_i64(abortAt) != 0 && traceline_monotonic_ms() >= traceline_load_i64(abortAt)
            if aborted { return .permanentFailure("aborted at the shutdown deadline") }
            // Configuration problems do not heal by waiting: a malformed URL, an unsupported
            // scheme, a certificate the peer or we cannot verify (libcurl codes 1, 3, 58, 60, 77).
            if [1, 3, 58, 60, 77].contains(response.transport_error) {
                return .permanentFailure("transport error (not retried): \(message)")
            }
            let kind = response.timed_out != 0 ? "timeout" : "transport error"
            return .retryableFailure("\(kind): \(message)", retryAfter: nil)
        }

        let code = Int(response.status)
        let bodyBytes =
            response.body.map { UnsafeRawBufferPointer(start: $0, count: response.body_length) }
            ?? UnsafeRawBufferPointer(start: nil, count: 0)
        let retryAfterText = withUnsafeBytes(of: &response.retry_after) {
            String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        switch code {
        case 200..<300:
            let partial = OTLPResponseDecoder.partialSuccess(bodyBytes)
            return .success(rejected: Int(clamping: partial?.rejectedSpans ?? 0), message: partial?.errorMessage)
        case 429, 502, 503, 504:
            var retryAfter: Duration?
            if !retryAfterText.isEmpty {
                retryAfter = RetryAfter.delay(retryAfterText, nowSeconds: Int64(time(nil)))
                if let wait = retryAfter, wait > configuration.retry.maxElapsed {
                    retryAfter = configuration.retry.maxElapsed
                }
            }
            return .retryableFailure(
                "HTTP \(code)" + Self.describe(OTLPResponseDecoder.statusMessage(bodyBytes)), retryAfter: retryAfter)
        default:
            return .permanentFailure("HTTP \(code)" + Self.describe(OTLPResponseDecoder.statusMessage(bodyBytes)))
        }
    }

    private static func describe(_ message: String?) -> String {
        guard let message, !message.isEmpty else { return "" }
        return ": " + LogText.sanitized(message)
    }

    // MARK: - Helpers

    private func drop(_ count: Int, reason: String) -> ExportResult {
        update {
            $0.spansDropped += count
            $0.lastError = reason
        }
        if let suppressed = dropLog.admit() {
            var metadata: Logger.Metadata = ["spans": "\(count)", "reason": "\(reason)"]
            if suppressed > 0 { metadata["similar_lines_suppressed"] = "\(suppressed)" }
            logger.warning("OTLP export failed; spans dropped", metadata: metadata)
        }
        return .failure(reason: reason)
    }

    private func logPartialSuccessOnce(_ message: String, rejected: Int) {
        let isNew = seenPartialMessages.withLock { seen -> Bool in
            guard seen.count < 256 else { return false }
            return seen.insert(message).inserted
        }
        if isNew {
            logger.warning(
                "OTLP receiver reported a partial success",
                metadata: ["rejected_spans": "\(rejected)", "message": "\(LogText.sanitized(message))"])
        }
    }

    /// Sleeps on this (export) thread until `instant`; returns false if the shutdown deadline
    /// passes first.
    private func sleep(until instant: ContinuousClock.Instant) -> Bool {
        let target = MonotonicClock.nanoseconds(for: instant)
        sleeper.lock()
        defer { sleeper.unlock() }
        while true {
            let abortMilliseconds = traceline_load_i64(abortAt)
            let now = MonotonicClock.nowNanoseconds()
            if abortMilliseconds != 0, Int64(now / 1_000_000) >= abortMilliseconds { return false }
            if abortMilliseconds != 0, UInt64(abortMilliseconds) * 1_000_000 < target { return false }
            if now >= target { return true }
            sleeper.wait(untilMonotonic: target)
        }
    }

    static func monotonicMilliseconds(for deadline: ContinuousClock.Instant) -> Int64 {
        Int64(MonotonicClock.nanoseconds(for: deadline) / 1_000_000)
    }

    static func gzip(_ bytes: [UInt8]) -> [UInt8]? {
        var output: UnsafeMutablePointer<UInt8>?
        var length = 0
        let result = bytes.withUnsafeBufferPointer { traceline_gzip($0.baseAddress, $0.count, &output, &length) }
        guard result == 0, let output else { return nil }
        defer { free(output) }
        return Array(UnsafeBufferPointer(start: output, count: length))
    }
}
