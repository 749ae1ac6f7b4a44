import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Queues sampled spans as they end and exports them in batches from a dedicated thread.
///
/// This is where a span waits: `onEnd` puts it in one bounded lock-free queue (never allocating,
/// and never blocking unless ``BatchSpanProcessorConfiguration/maxEnqueueWait`` allows it to
/// wait for room); the export thread sends a batch when `maxExportBatchSize` spans are waiting,
/// when `scheduleDelay` has passed, or when a flush is asked for. A full queue drops the newest
/// span and counts it (after the allowed wait, if any). Nothing is exported twice;
/// ``statistics`` accounts for every span, including those the exporter kept to deliver later
/// (see ``SpanPipelineStatistics``).
///
/// Made with ``SpanProcessors/batch(exporter:configuration:logger:)``; the type itself is SPI
/// (`@_spi(Testing)`), for tests and benchmarks that read its internals.
@_spi(Testing) public final class BatchSpanProcessor: SpanProcessor {
    /// The batching settings type (``BatchSpanProcessorConfiguration``).
    public typealias Configuration = BatchSpanProcessorConfiguration

    /// The batching settings in force.
    public let configuration: Configuration
    /// The exporter this processor feeds.
    public let exporter: any SpanExporter
    private let queue: BoundedSpanQueue
    private let signal = ThreadSignal()
    private let logger: Logger
    private let failureLog = LogRateLimiter()

    private let wakePending = Atomic<Bool>(false)
    private let highWaterMark: Int
    /// Set when the last depth check found the queue over `highWaterMark`.
    private let congested = Atomic<Bool>(false)
    /// The depth is checked when `position & wakeCheckMask == wakeCheckMask`: every span for small
    /// batches, one span in 16 for the default 512.
    private let wakeCheckMask: Int
    private let isShutDown = Atomic<Bool>(false)
    private let droppedQueueFull = Atomic<Int>(0)
    private let enqueueWaits = Atomic<Int>(0)
    /// Set when a wait for room ran out: the export thread is not draining (a stalled exporter),
    /// so later spans drop at once instead of each waiting in vain; cleared when the queue is
    /// back under `highWaterMark`.
    private let enqueueWaitExpired = Atomic<Bool>(false)
    private let maxEnqueueWaitNanoseconds: UInt64
    private let droppedAfterShutdown = Atomic<Int>(0)
    private let discardedAtShutdown = Atomic<Int>(0)
    private let exported = Atomic<Int>(0)
    private let rejected = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)
    private let handedOver = Atomic<Int>(0)
    private let inExport = Atomic<Int>(0)
    private let failedExports = Atomic<Int>(0)
    private let exports = Atomic<Int>(0)

    // Guarded by `signal`'s lock.
    private nonisolated(unsafe) var pendingFlushes: [Request] = []
    private nonisolated(unsafe) var pendingShutdown: Request?
    private nonisolated(unsafe) var threadFinished = false
    /// The exporter's books at the previous flush report; only the export thread touches it.
    private nonisolated(unsafe) var reportedExporterBooks = HandedOverSpans()

    /// Creates the processor and starts its export thread.
    /// - Parameters:
    ///   - exporter: receives the batches.
    ///   - configuration: queue size, batch size and timings.
    ///   - logger: reports failed exports and thread problems.
    public init(
        exporter: any SpanExporter, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "traceline.batch-span-processor")
    ) {
        self.exporter = exporter
        self.configuration = configuration
        self.queue = BoundedSpanQueue(capacity: configuration.maxQueueSize)
        self.maxEnqueueWaitNanoseconds = configuration.maxEnqueueWait.wholeNanoseconds
        self.highWaterMark = max(configuration.maxExportBatchSize, configuration.maxQueueSize / 2)
        var checkInterval = 1
        while checkInterval * 2 <= min(16, configuration.maxExportBatchSize / 32) { checkInterval *= 2 }
        self.wakeCheckMask = checkInterval - 1
        self.logger = logger
        let started = startThread(name: "traceline-bsp") { [self] in self.run() }
        if !started {
            logger.error("Could not start the span export thread; spans will be dropped and counted")
            isShutDown.store(true, ordering: .releasing)
            threadFinished = true
        }
    }

    /// A snapshot of the processor's counters, with what became of the spans its exporter kept.
    public var statistics: SpanPipelineStatistics {
        let kept = exporter.handedOverSpans
        return SpanPipelineStatistics(
            queueSize: queue.count,
            queueCapacity: queue.capacity,
            enqueued: queue.enqueuedTotal,
            exported: exported.load(ordering: .relaxed) + kept.delivered,
            rejected: rejected.load(ordering: .relaxed) + kept.rejected,
            failed: failed.load(ordering: .relaxed) + kept.dropped,
            handedOver: handedOver.load(ordering: .relaxed),
            pendingInExporter: kept.pending,
            inExport: inExport.load(ordering: .relaxed),
            failedExports: failedExports.load(ordering: .relaxed),
            exports: exports.load(ordering: .relaxed),
            droppedQueueFull: droppedQueueFull.load(ordering: .relaxed),
            enqueueWaits: enqueueWaits.load(ordering: .relaxed),
            droppedAfterShutdown: droppedAfterShutdown.load(ordering: .relaxed),
            discardedAtShutdown: discardedAtShutdown.load(ordering: .relaxed),
            exporter: exporter.exportStatistics
        )
    }

    /// The same snapshot as ``statistics``; see `SpanProcessor.pipelineStatistics`.
    public var pipelineStatistics: SpanPipelineStatistics? { statistics }

    /// Always false: this processor only looks at ended spans.
    public var isStartRequired: Bool { false }

    /// Queues a sampled span for export without blocking; see `SpanProcessor.onEnd`.
    public func onEnd(_ span: consuming FinishedSpan) {
        // Record-only spans are visible to processors but are not exported.
        guard span.spanContext.traceFlags.contains(.sampled) else { return }
        if isShutDown.load(ordering: .relaxed) {
            droppedAfterShutdown.add(1, ordering: .relaxed)
            return
        }
        guard let position = queue.claim() ?? waitForRoom() else {
            droppedQueueFull.add(1, ordering: .relaxed)
            return
        }
        queue.fill(position, with: span)
        // The queue is over half full: the export thread needs CPU that the producers are taking
        // (more producing threads than cores), so offer the core. `sched_yield` returns at once
        // when nothing else is runnable, and it does not wait for the exporter; only spans ended
        // while the queue is congested pay it (about a microsecond), a gentle back-pressure.
        if congested.load(ordering: .relaxed) { sched_yield() }
        // Reading the queue depth touches the export thread's cache line; doing it for one span in
        // 16 keeps that off the common path and still wakes the thread within 16 spans of a full batch.
        guard position & wakeCheckMask == wakeCheckMask else { return }
        let depth = queue.count
        let overHighWater = depth >= highWaterMark
        if overHighWater != congested.load(ordering: .relaxed) { congested.store(overHighWater, ordering: .relaxed) }
        if !overHighWater, enqueueWaitExpired.load(ordering: .relaxed) {
            enqueueWaitExpired.store(false, ordering: .relaxed)
        }
        guard depth >= configuration.maxExportBatchSize else { return }
        wakeExportThread()
    }

    /// Signals the export thread unless a wake-up is already pending (one lock per wake, not per span).
    private func wakeExportThread() {
        if !wakePending.exchange(true, ordering: .acquiringAndReleasing) {
            signal.withLock { signal.signal() }
        }
    }

    /// Waits up to `maxEnqueueWait` for a slot in the full queue, sleeping in 50 µs steps so the
    /// export thread gets the core; returns the claimed position, or nil: at once when waiting is
    /// off or an earlier wait ran out and the queue has not drained since.
    private func waitForRoom() -> Int? {
        guard maxEnqueueWaitNanoseconds > 0, !enqueueWaitExpired.load(ordering: .relaxed) else { return nil }
        enqueueWaits.add(1, ordering: .relaxed)
        wakeExportThread()
        let (sum, overflow) = MonotonicClock.nowNanoseconds().addingReportingOverflow(maxEnqueueWaitNanoseconds)
        let deadline = overflow ? UInt64.max : sum
        while MonotonicClock.nowNanoseconds() < deadline, !isShutDown.load(ordering: .relaxed) {
            var pause = timespec(tv_sec: 0, tv_nsec: 50_000)
            nanosleep(&pause, nil)
            if let position = queue.claim() { return position }
        }
        enqueueWaitExpired.store(true, ordering: .relaxed)
        return nil
    }

    /// Exports everything queued; see `SpanProcessor.forceFlush`.
    public func forceFlush(deadline: ContinuousClock.Instant) async -> FlushReport {
        await submit(deadline: deadline, isShutdown: false)
    }

    /// Exports what is queued, shuts down the exporter and stops the export thread; see `SpanProcessor.shutdown`.
    public func shutdown(deadline: ContinuousClock.Instant) async -> FlushReport {
        guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else {
            return FlushReport(notExported: queue.count)
        }
        exporter.beginShutdown(deadline: deadline)
        return await submit(deadline: deadline, isShutdown: true)
    }

    // MARK: - Requests from callers to the export thread

    /// A flush or shutdown waiting for the export thread; answered once, by the thread or by a
    /// timer thread at the deadline, so a caller never waits on a stuck exporter past its deadline.
    /// The timer is an OS thread, not a task: it must fire even when every concurrency thread is busy.
    /// `@unchecked Sendable`: its two vars are touched only under `signal`'s lock.
    private final class Request: @unchecked Sendable {
        let deadline: ContinuousClock.Instant
        private let signal = ThreadSignal()
        // Guarded by `signal`'s lock.
        private var continuation: CheckedContinuation<FlushReport, Never>?
        private var answered = false

        init(deadline: ContinuousClock.Instant) { self.deadline = deadline }

        func install(_ continuation: CheckedContinuation<FlushReport, Never>) {
            let resumeNow = signal.withLock { () -> Bool in
                if answered { return true }
                self.continuation = continuation
                return false
            }
            // Answered before the continuation arrived (cannot happen today; kept correct anyway).
            if resumeNow { continuation.resume(returning: FlushReport()) }
        }

        func answer(_ report: FlushReport) {
            let waiting = signal.withLock { () -> CheckedContinuation<FlushReport, Never>? in
                guard !answered else { return nil }
                answered = true
                signal.signal()
                defer { continuation = nil }
                return continuation
            }
            waiting?.resume(returning: report)
        }

        /// Blocks the calling (timer) thread until answered or `monotonicDeadline`; true if answered.
        func waitUntilAnswered(monotonicDeadline: UInt64) -> Bool {
            signal.withLock {
                while !answered && MonotonicClock.nowNanoseconds() < monotonicDeadline {
                    signal.wait(untilMonotonic: monotonicDeadline)
                }
                return answered
            }
        }
    }

    private func submit(deadline: ContinuousClock.Instant, isShutdown: Bool) async -> FlushReport {
        let request = Request(deadline: deadline)
        let queue = self.queue
        let exporter = self.exporter
        // Grace beyond the deadline for the export thread to report what it did.
        let timerDeadline = MonotonicClock.nanoseconds(for: deadline + .milliseconds(100))
        return await withCheckedContinuation { continuation in
            request.install(continuation)
            let accepted = signal.withLock { () -> Bool in
                guard !threadFinished else { return false }
                if isShutdown { pendingShutdown = request } else { pendingFlushes.append(request) }
                signal.signal()
                return true
            }
            guard accepted else {
                request.answer(FlushReport(notExported: queue.count))
                return
            }
            let timerStarted = startThread(name: "traceline-flush") {
                if !request.waitUntilAnswered(monotonicDeadline: timerDeadline) {
                    request.answer(
                        FlushReport(
                            notExported: queue.count, pending: exporter.handedOverSpans.pending, timedOut: true))
                }
            }
            if !timerStarted { logger.warning("No timer thread for flush deadline; waiting for the export thread") }
        }
    }

    // MARK: - The export thread

    private func run() {
        let delay = configuration.scheduleDelay.wholeNanoseconds
        var nextScheduled = MonotonicClock.nowNanoseconds() + delay
        while true {
            signal.lock()
            while pendingFlushes.isEmpty, pendingShutdown == nil {
                wakePending.store(false, ordering: .releasing)
                if queue.count >= configuration.maxExportBatchSize { break }
                if MonotonicClock.nowNanoseconds() >= nextScheduled { break }
                signal.wait(untilMonotonic: nextScheduled)
            }
            let flushes = pendingFlushes
            pendingFlushes = []
            let shutdown = pendingShutdown
            signal.unlock()

            for request in flushes {
                var report = drain(until: request.deadline, discardRemainder: false)
                merge(exporter.forceFlush(deadline: request.deadline), into: &report)
                request.answer(report)
            }
            if let shutdown {
                var report = drain(until: shutdown.deadline, discardRemainder: true)
                merge(exporter.shutdown(deadline: shutdown.deadline), into: &report)
                signal.withLock { threadFinished = true }
                // Answer flushes that arrived while we were draining: there is nothing left to do for them.
                let late = signal.withLock { () -> [Request] in
                    defer { pendingFlushes = [] }
                    return pendingFlushes
                }
                for request in late { request.answer(FlushReport()) }
                shutdown.answer(report)
                return
            }
            if flushes.isEmpty {
                // Woken by a full batch or the schedule: send full batches, or everything on schedule.
                let onSchedule = MonotonicClock.nowNanoseconds() >= nextScheduled
                if onSchedule {
                    exportAvailable(limit: queue.count)
                } else {
                    while queue.count >= configuration.maxExportBatchSize {
                        exportBatch(queue.dequeue(upTo: configuration.maxExportBatchSize), deadline: exportDeadline())
                    }
                }
            }
            nextScheduled = MonotonicClock.nowNanoseconds() + delay
        }
    }

    private func exportDeadline() -> ContinuousClock.Instant {
        configuration.exportTimeout == .zero ? .now + .seconds(86_400 * 365) : .now + configuration.exportTimeout
    }

    /// Exports up to `limit` queued spans in batches.
    private func exportAvailable(limit: Int) {
        var remaining = limit
        while remaining > 0 {
            let batch = queue.dequeue(upTo: min(remaining, configuration.maxExportBatchSize))
            if batch.isEmpty { return }
            remaining -= batch.count
            exportBatch(batch, deadline: exportDeadline())
        }
    }

    /// Adds to `report` what became of the exporter's kept spans since the previous report.
    private func merge(_ books: HandedOverSpans, into report: inout FlushReport) {
        let previous = reportedExporterBooks
        report.exported += books.delivered - previous.delivered
        report.rejected += books.rejected - previous.rejected
        report.failed += books.dropped - previous.dropped
        report.pending = books.pending
        reportedExporterBooks = books
    }

    /// Exports one batch and counts it; returns what became of its spans (a handed-over batch is
    /// in none of the counts: the exporter's books report it later).
    @discardableResult
    private func exportBatch(_ batch: [FinishedSpan], deadline: ContinuousClock.Instant) -> FlushReport {
        guard !batch.isEmpty else { return FlushReport() }
        exports.add(1, ordering: .relaxed)
        inExport.store(batch.count, ordering: .relaxed)
        var outcome = FlushReport()
        switch exporter.export(batch, deadline: deadline) {
        case .success:
            outcome.exported = batch.count
        case .partialSuccess(let refused):
            outcome.rejected = min(max(0, refused), batch.count)
            outcome.exported = batch.count - outcome.rejected
        case .handedOver:
            handedOver.add(batch.count, ordering: .relaxed)
        case .failure(let reason):
            outcome.failed = batch.count
            failedExports.add(1, ordering: .relaxed)
            if let suppressed = failureLog.admit() {
                var metadata: Logger.Metadata = ["spans": "\(batch.count)", "reason": "\(reason)"]
                if suppressed > 0 { metadata["similar_lines_suppressed"] = "\(suppressed)" }
                logger.warning("Span export failed; batch dropped", metadata: metadata)
            }
        }
        exported.add(outcome.exported, ordering: .relaxed)
        rejected.add(outcome.rejected, ordering: .relaxed)
        failed.add(outcome.failed, ordering: .relaxed)
        inExport.store(0, ordering: .relaxed)
        return outcome
    }

    /// Exports everything queued before `deadline`. Spans left when it passes stay queued for a
    /// flush, or are discarded and counted for a shutdown.
    private func drain(until deadline: ContinuousClock.Instant, discardRemainder: Bool) -> FlushReport {
        var report = FlushReport()
        while true {
            if ContinuousClock.now >= deadline {
                report.timedOut = queue.count > 0
                break
            }
            let batch = queue.dequeue(upTo: configuration.maxExportBatchSize)
            if batch.isEmpty { break }
            let perExport = exportDeadline()
            // A handed-over batch is in the exporter's books, merged after the drain.
            report.add(exportBatch(batch, deadline: min(perExport, deadline)))
        }
        if discardRemainder {
            var discarded = 0
            while queue.dequeue() != nil { discarded += 1 }
            discardedAtShutdown.add(discarded, ordering: .relaxed)
            report.notExported = discarded
        } else {
            report.notExported = queue.count
        }
        return report
    }
}
