import Synchronization
import Testing
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

#if canImport(Glibc)
import Glibc
#endif

/// An exporter that records batches and can be told to block or fail, to drive the processor
/// into its edge cases from the test.
final class ControllableExporter: SpanExporter {
    private struct State {
        var spans: [FinishedSpan] = []
        var batchSizes: [Int] = []
        var blocked = false
        var failing = false
        var inExport = false
    }
    private let state = LockedValue(State())

    func export(_ batch: [FinishedSpan], deadline: ContinuousClock.Instant) -> ExportResult {
        state.withLock { $0.inExport = true }
        while state.withLock({ $0.blocked }) { usleep(1000) }
        return state.withLock { state in
            state.inExport = false
            if state.failing { return .failure(reason: "test failure") }
            state.spans.append(contentsOf: batch)
            state.batchSizes.append(batch.count)
            return .success
        }
    }

    var spans: [FinishedSpan] { state.withLock { $0.spans } }
    var batchSizes: [Int] { state.withLock { $0.batchSizes } }
    var inExport: Bool { state.withLock { $0.inExport } }
    func setBlocked(_ value: Bool) { state.withLock { $0.blocked = value } }
    func setFailing(_ value: Bool) { state.withLock { $0.failing = value } }
}

/// Polls `condition` every millisecond for up to `seconds`.
///
/// The default bound is for a loaded CI machine (two cores, every suite in parallel), not a promise
/// of the code under test: a condition that holds returns at once, so a generous bound costs nothing.
func eventually(seconds: Double = 20, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}

@Suite struct BatchSpanProcessorTests {
    func pipeline(
        _ configuration: BatchSpanProcessor.Configuration, exporter: ControllableExporter
    )
        -> (BatchSpanProcessor, TracelineTracer)
    {
        let processor = BatchSpanProcessor(exporter: exporter, configuration: configuration)
        let provider = TracerProvider(processors: [processor])
        return (processor, provider.tracer())
    }

    func endSpans(_ tracer: TracelineTracer, count: Int, prefix: String = "s") {
        for index in 0..<count { tracer.startSpan("\(prefix)\(index)", context: .topLevel).end() }
    }

    @Test("a full queue drops the newest spans and counts them")
    func fullQueueDropsNewest() async throws {
        let exporter = ControllableExporter()
        exporter.setBlocked(true)
        let (processor, tracer) = pipeline(
            .init(scheduleDelay: .seconds(3600), maxQueueSize: 10, maxExportBatchSize: 5), exporter: exporter)
        endSpans(tracer, count: 5, prefix: "first")
        #expect(await eventually { exporter.inExport }, "the export thread took the first batch")
        endSpans(tracer, count: 15, prefix: "second")
        var stats = processor.statistics
        #expect(stats.droppedQueueFull == 5)
        #expect(stats.queueSize == 10)
        exporter.setBlocked(false)
        let report = await processor.forceFlush(deadline: .now + .seconds(10))
        #expect(report.isComplete)
        let names = exporter.spans.map(\.name)
        #expect(names == (0..<5).map { "first\($0)" } + (0..<10).map { "second\($0)" }, "the oldest are kept")
        stats = processor.statistics
        #expect(stats.exported == 15)
        #expect(stats.enqueued == 15)
        _ = await processor.shutdown(deadline: .now + .seconds(5))
    }

    /// A 10-span queue whose export thread is held in its first 5-span batch ("first0"…"first4").
    func stuckPipeline(maxEnqueueWait: Duration) async -> (ControllableExporter, BatchSpanProcessor, TracelineTracer) {
        let exporter = ControllableExporter()
        exporter.setBlocked(true)
        let (processor, tracer) = pipeline(
            .init(
                scheduleDelay: .seconds(3600), maxQueueSize: 10, maxExportBatchSize: 5,
                maxEnqueueWait: maxEnqueueWait),
            exporter: exporter)
        endSpans(tracer, count: 5, prefix: "first")
        #expect(await eventually { exporter.inExport }, "the export thread took the first batch")
        return (exporter, processor, tracer)
    }

    @Test("with maxEnqueueWait, end() waits for room in a full queue instead of dropping")
    func fullQueueWaitsForRoom() async throws {
        let (exporter, processor, tracer) = await stuckPipeline(maxEnqueueWait: .seconds(60))
        endSpans(tracer, count: 10, prefix: "second")
        #expect(processor.statistics.queueSize == 10)
        // These find the queue full: they wait, on a thread of their own, until the exporter moves.
        let ended = Atomic<Int>(0)
        let started = startThread(name: "test-producer") {
            for index in 0..<5 {
                tracer.startSpan("third\(index)", context: .topLevel).end()
                ended.add(1, ordering: .relaxed)
            }
        }
        #expect(started)
        #expect(await eventually { processor.statistics.enqueueWaits >= 1 }, "end() is waiting for room")
        #expect(ended.load(ordering: .relaxed) == 0, "no span was dropped to make room")
        exporter.setBlocked(false)
        #expect(await eventually { ended.load(ordering: .relaxed) == 5 })
        let report = await processor.forceFlush(deadline: .now + .seconds(10))
        #expect(report.isComplete)
        let stats = processor.statistics
        #expect(stats.droppedQueueFull == 0)
        #expect(stats.exported == 20)
        #expect(
            exporter.spans.map(\.name)
                == (0..<5).map { "first\($0)" } + (0..<10).map { "second\($0)" } + (0..<5).map { "third\($0)" })
        _ = await processor.shutdown(deadline: .now + .seconds(5))
    }

    @Test("the wait for room is bounded; after one runs out, spans drop at once until the queue drains")
    func enqueueWaitIsBounded() async throws {
        let (exporter, processor, tracer) = await stuckPipeline(maxEnqueueWait: .milliseconds(20))
        endSpans(tracer, count: 13, prefix: "second")
        var stats = processor.statistics
        #expect(stats.droppedQueueFull == 3)
        #expect(stats.enqueueWaits == 1, "the first span waited and ran out; the next two did not wait")
        #expect(stats.queueSize == 10)
        exporter.setBlocked(false)
        #expect(await eventually { processor.statistics.queueSize == 0 && !exporter.inExport })
        exporter.setBlocked(true)
        endSpans(tracer, count: 5, prefix: "drained")  // under half full again: waiting is back on
        #expect(await eventually { processor.statistics.queueSize == 0 && exporter.inExport })
        endSpans(tracer, count: 11, prefix: "third")
        stats = processor.statistics
        #expect(stats.enqueueWaits == 2, "a full queue after the drain waits again")
        #expect(stats.droppedQueueFull == 4)
        exporter.setBlocked(false)
        _ = await processor.shutdown(deadline: .now + .seconds(5))
    }

    @Test("forceFlush exports everything once; a second flush exports nothing again")
    func flushExportsOnce() async throws {
        let exporter = ControllableExporter()
        let (processor, tracer) = pipeline(
            .init(scheduleDelay: .seconds(3600), maxQueueSize: 2048, maxExportBatchSize: 512), exporter: exporter)
        endSpans(tracer, count: 1000)
        let report = await processor.forceFlush(deadline: .now + .seconds(10))
        // Full batches may leave before the flush; what is left goes in it. All 1000 are out when it returns.
        #expect(
            processor.statistics.exported == 1000,
            "exported \(processor.statistics.exported) by the time forceFlush returned")
        #expect(report.exported > 0 && report.exported <= 1000, "the flush exported \(report.exported)")
        let second = await processor.forceFlush(deadline: .now + .seconds(10))
        #expect(second.exported == 0)
        let ids = exporter.spans.map(\.spanContext.spanID)
        #expect(ids.count == 1000)
        #expect(Set(ids).count == 1000, "no span exported twice")
        #expect(exporter.batchSizes.allSatisfy { $0 <= 512 })
        _ = await processor.shutdown(deadline: .now + .seconds(5))
    }

    @Test("a full batch is exported without waiting for the schedule")
    func batchSizeTriggers() async {
        let exporter = ControllableExporter()
        let (processor, tracer) = pipeline(
            .init(scheduleDelay: .seconds(3600), maxQueueSize: 100, maxExportBatchSize: 10), exporter: exporter)
        endSpans(tracer, count: 10)
        #expect(await eventually { exporter.spans.count == 10 })
        #expect(exporter.batchSizes == [10])
        _ = await processor.shutdown(deadline: .now + .seconds(5))
    }

    @Test("the schedule delay exports a partial batch")
    func scheduleTriggers() async {
        let exporter = ControllableExporter()
        let (processor, tracer) = pipeline(
            .init(scheduleDelay: .milliseconds(50), maxQueueSize: 100, maxExportBatchSize: 50), exporter: exporter)
        endSpans(tracer, count: 3)
        #expect(await eventually { exporter.spans.count == 3 })
        _ = await processor.shutdown(deadline: .now + .seconds(5))
    }

    @Test("shutdown with a stuck exporter returns by its deadline and says what was not exported")
    func shutdownDeadline() async {
        let (processor, exporter, tracer, report, elapsed) = await Self.shutdownWithStuckExporter()
        // The exporter never returns, so returning at all proves the deadline. The tight bound is
        // BatchSpanProcessorTimingTests' (run alone): here, under a sanitizer with every suite in
        // parallel, a shutdown once returned after 3.9 s, its resumed task waiting for a free
        // thread of the cooperative pool.
        #expect(elapsed < .seconds(10), "returned after \(elapsed) (deadline 300 ms; the exporter never returns)")
        #expect(report.timedOut)
        #expect(report.notExported == 7)
        // Spans ending after shutdown are dropped and counted.
        endSpans(tracer, count: 3)
        #expect(processor.statistics.droppedAfterShutdown == 3)
        exporter.setBlocked(false)
        #expect(await eventually { processor.statistics.discardedAtShutdown + processor.statistics.exported == 12 })
    }

    /// Five spans stuck in a blocked export, seven queued, then shutdown with a 300 ms deadline.
    static func shutdownWithStuckExporter() async
        -> (BatchSpanProcessor, ControllableExporter, TracelineTracer, FlushReport, Duration)
    {
        let exporter = ControllableExporter()
        exporter.setBlocked(true)
        let test = BatchSpanProcessorTests()
        let (processor, tracer) = test.pipeline(
            .init(scheduleDelay: .seconds(3600), maxQueueSize: 100, maxExportBatchSize: 5), exporter: exporter)
        test.endSpans(tracer, count: 5)
        #expect(await eventually { exporter.inExport })
        test.endSpans(tracer, count: 7)
        let started = ContinuousClock.now
        let report = await processor.shutdown(deadline: .now + .milliseconds(300))
        return (processor, exporter, tracer, report, ContinuousClock.now - started)
    }

    @Test("shutdown flushes what is queued; a second shutdown is harmless")
    func shutdownFlushes() async {
        let exporter = ControllableExporter()
        let (processor, tracer) = pipeline(.init(scheduleDelay: .seconds(3600)), exporter: exporter)
        endSpans(tracer, count: 42)
        let report = await processor.shutdown(deadline: .now + .seconds(5))
        #expect(report.exported == 42)
        #expect(report.isComplete)
        let again = await processor.shutdown(deadline: .now + .seconds(1))
        #expect(again.exported == 0)
        let flushAfter = await processor.forceFlush(deadline: .now + .seconds(1))
        #expect(flushAfter.exported == 0)
        #expect(exporter.spans.count == 42)
    }

    @Test("failed exports are counted, not retried by the processor")
    func failedExports() async {
        let exporter = ControllableExporter()
        exporter.setFailing(true)
        let (processor, tracer) = pipeline(
            .init(scheduleDelay: .seconds(3600), maxQueueSize: 100, maxExportBatchSize: 10), exporter: exporter)
        endSpans(tracer, count: 25)
        let report = await processor.forceFlush(deadline: .now + .seconds(5))
        let stats = processor.statistics
        #expect(stats.failed == 25)
        #expect(stats.failedExports == 3)
        #expect(stats.exported == 0)
        #expect(report.failed + stats.failed >= 25)
        #expect(!report.isComplete || stats.failed == 25)
        _ = await processor.shutdown(deadline: .now + .seconds(5))
    }

    @Test("concurrent producers: every span is exported or counted as dropped", arguments: [2048, 65536])
    func concurrentProducers(queueSize: Int) async {
        let exporter = ControllableExporter()
        let (processor, tracer) = pipeline(
            .init(scheduleDelay: .seconds(3600), maxQueueSize: queueSize, maxExportBatchSize: 512), exporter: exporter)
        let producers = 4
        let perProducer = 10_000
        await withTaskGroup(of: Void.self) { group in
            for producer in 0..<producers {
                group.addTask { self.endSpans(tracer, count: perProducer, prefix: "p\(producer)-") }
            }
        }
        _ = await processor.shutdown(deadline: .now + .seconds(30))
        let stats = processor.statistics
        let total = producers * perProducer
        #expect(stats.enqueued + stats.droppedQueueFull == total)
        #expect(stats.exported == stats.enqueued)
        #expect(exporter.spans.count == stats.exported)
        #expect(Set(exporter.spans.map(\.spanContext.spanID)).count == exporter.spans.count, "no duplicates")
        if queueSize >= total { #expect(stats.droppedQueueFull == 0) }
    }

    @Test("the queue never holds more than its capacity, even when it is not a power of two")
    func oddCapacity() async {
        let queue = BoundedSpanQueue(capacity: 3)
        let (_, tracer, exporter) = makeTestPipeline()
        tracer.startSpan("x", context: .topLevel).end()
        let span = exporter.spans[0]
        #expect(queue.enqueue(span) == 0 && queue.enqueue(span) == 1 && queue.enqueue(span) == 2)
        #expect(queue.enqueue(span) == nil)
        #expect(queue.count == 3)
        #expect(queue.dequeue(upTo: 10).count == 3)
        #expect(queue.dequeue() == nil)
        #expect(queue.enqueue(span) == 3)
    }
}

/// The wall-clock bound of a shutdown whose exporter is stuck; the test command runs `*Timing*`
/// suites alone, so the clock measures the processor, not the other tests' load.
@Suite(.serialized) struct BatchSpanProcessorTimingTests {
    @Test("shutdown with a stuck exporter returns within its 300 ms deadline plus the 100 ms grace")
    func shutdownDeadline() async {
        let (_, exporter, _, report, elapsed) = await BatchSpanProcessorTests.shutdownWithStuckExporter()
        #expect(elapsed < .milliseconds(700), "returned after \(elapsed)")
        #expect(report.timedOut)
        exporter.setBlocked(false)
    }
}
