import Foundation
import Testing
import TracelineTestSupport
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@_spi(Testing) @testable import TracelineOTLP

/// The exporter's sender threads (`maxConcurrentRequests` > 1), against the real test receiver.
@Suite(.serialized) struct OTLPSenderTests {
    func configuration(endpoint: String, senders: Int = 2) -> OTLPExporterConfiguration {
        var configuration = fastConfiguration(endpoint: endpoint)
        configuration.maxConcurrentRequests = senders
        return configuration
    }

    /// Polls `condition` on this thread for up to `seconds`.
    func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    @Test("two requests are on the wire at once; a third waits for a sender without holding the export thread")
    func overlaps() async throws {
        let receiver = try await OTLPReceiver.start(script: "stall:1.5")
        let exporter = OTLPHTTPExporter(configuration: configuration(endpoint: receiver.endpoint))
        let batches = (0..<3).map { makeFinishedSpans(40, prefix: "batch\($0)") }
        let (firstTwo, bothOnTheWire, third, handedOver) = await offThread {
            let firstTwo = batches.prefix(2).map { exporter.export($0, deadline: .now + .seconds(10)) }
            // Both requests reach the receiver before either is answered.
            let bothOnTheWire = eventually(1.2) {
                let statistics = exporter.statistics
                return statistics.requests == 2 && statistics.spansExported == 0
            }
            let third = exporter.export(batches[2], deadline: .now + .seconds(10))
            return (firstTwo, bothOnTheWire, third, exporter.statistics)
        }
        #expect(firstTwo == [.handedOver, .handedOver])
        #expect(bothOnTheWire, "two requests in flight together: \(exporter.statistics)")
        #expect(third == .handedOver)
        #expect(handedOver.senderWaits == 0, "the third batch did not wait for a sender")
        #expect(handedOver.requests == 2 && handedOver.spansExported == 0, "it waits unsent: \(handedOver)")
        #expect(handedOver.spansInFlight == 120, "the waiting request counts as in flight: \(handedOver)")
        let books = await offThread { exporter.forceFlush(deadline: .now + .seconds(10)) }
        #expect(books == HandedOverSpans(delivered: 120))
        let accepted = try receiver.acceptedSpanIDs()
        #expect(accepted.count == 120 && Set(accepted).count == 120, "every span once")
        let statistics = exporter.statistics
        #expect(statistics.spansInFlight == 0 && statistics.bytesInFlight == 0)
        #expect(statistics.inFlightCapacityBytes == 16 * 1024 * 1024)
        exporter.shutdown(deadline: .now + .seconds(1))
    }

    @Test("a request still waiting for a sender at its export deadline is dropped, counted, and never sent")
    func waitingPastDeadline() async throws {
        let receiver = try await OTLPReceiver.start(script: "stall:1")
        let exporter = OTLPHTTPExporter(configuration: configuration(endpoint: receiver.endpoint))
        let third = await offThread {
            _ = exporter.export(makeFinishedSpans(10, prefix: "a"), deadline: .now + .seconds(10))
            _ = exporter.export(makeFinishedSpans(10, prefix: "b"), deadline: .now + .seconds(10))
            _ = eventually(2) { exporter.statistics.requests == 2 }
            return exporter.export(makeFinishedSpans(7, prefix: "late"), deadline: .now + .milliseconds(200))
        }
        #expect(third == .handedOver)
        let books = await offThread { exporter.forceFlush(deadline: .now + .seconds(10)) }
        #expect(books == HandedOverSpans(delivered: 20, dropped: 7), "\(books)")
        #expect(exporter.statistics.requests == 2, "the late request was not sent")
        #expect(try receiver.acceptedSpanIDs().count == 20)
        exporter.shutdown(deadline: .now + .seconds(1))
    }

    @Test("with maxInFlightBytes reached, the export thread waits for an answer: a slow receiver pushes back")
    func inFlightBytesPushBack() async throws {
        let receiver = try await OTLPReceiver.start(script: "stall:1")
        var settings = configuration(endpoint: receiver.endpoint)
        // Every request is larger than the bound: one at a time, though two senders are idle.
        settings.maxInFlightBytes = 1
        let exporter = OTLPHTTPExporter(configuration: settings)
        let (results, waited, elapsed) = await offThread {
            let first = exporter.export(makeFinishedSpans(10, prefix: "first"), deadline: .now + .seconds(10))
            let started = ContinuousClock.now
            let second = exporter.export(makeFinishedSpans(10, prefix: "second"), deadline: .now + .seconds(10))
            return ([first, second], exporter.statistics, ContinuousClock.now - started)
        }
        #expect(results == [.handedOver, .handedOver])
        #expect(waited.senderWaits == 1, "\(waited)")
        #expect(waited.spansExported == 10, "the second was handed over once the first was answered: \(waited)")
        #expect(elapsed >= .milliseconds(800), "it waited out the first request's stall: \(elapsed)")
        let books = await offThread { exporter.forceFlush(deadline: .now + .seconds(10)) }
        #expect(books == HandedOverSpans(delivered: 20))
        exporter.shutdown(deadline: .now + .seconds(1))
    }

    @Test("through the batch processor: every span arrives once and the processor's books balance")
    func processorBooks() async throws {
        let receiver = try await OTLPReceiver.start(script: "200,503,200")
        let exporter = OTLPHTTPExporter(configuration: configuration(endpoint: receiver.endpoint, senders: 3))
        let processor = BatchSpanProcessor(
            exporter: exporter,
            configuration: .init(scheduleDelay: .milliseconds(20), maxQueueSize: 4096, maxExportBatchSize: 64))
        let tracer = TracerProvider(processors: [processor]).tracer()
        for round in 0..<20 {
            for index in 0..<100 { tracer.startSpan("s\(round)-\(index)", context: .topLevel).end() }
            try await Task.sleep(for: .milliseconds(5))
        }
        let report = await processor.forceFlush(deadline: .now + .seconds(20))
        #expect(report.isComplete, "\(report)")
        #expect(report.exported == 2000 && report.pending == 0, "\(report)")
        let statistics = processor.statistics
        #expect(statistics.droppedQueueFull == 0)
        #expect(statistics.exported == 2000)
        #expect(statistics.handedOver == 2000, "every batch went through a sender thread")
        #expect(
            statistics.enqueued
                == statistics.exported + statistics.rejected + statistics.failed + statistics.pendingInExporter
                + statistics.inExport + statistics.queueSize + statistics.discardedAtShutdown)
        #expect(exporter.statistics.retries == 1, "the 503 was retried by its sender")
        let accepted = try receiver.acceptedSpanIDs()
        #expect(accepted.count == 2000 && Set(accepted).count == 2000)
        _ = await processor.shutdown(deadline: .now + .seconds(2))
    }

    @Test("a stalled receiver holds the senders, not the export thread, when the retry buffer is on")
    func stalledReceiverWithBuffer() async throws {
        let receiver = try await OTLPReceiver.start(script: "stall:2.5,stall:2.5,stall:2.5,200")
        var settings = configuration(endpoint: receiver.endpoint)
        settings.retryBufferBytes = 1 << 20
        let exporter = OTLPHTTPExporter(configuration: settings)
        let batches = (0..<6).map { makeFinishedSpans(20, prefix: "batch\($0)") }
        let (results, duringStall) = await offThread {
            let results = batches.map { exporter.export($0, deadline: .now + .seconds(10)) }
            return (results, exporter.statistics)
        }
        #expect(results.allSatisfy { $0 == .handedOver }, "\(results)")
        #expect(duringStall.spansExported == 0, "all six exports returned while both senders were stalled")
        #expect(duringStall.spansInFlight == 40 && duringStall.spansBuffered == 80, "\(duringStall)")
        let books = await offThread { exporter.forceFlush(deadline: .now + .seconds(10)) }
        #expect(books == HandedOverSpans(delivered: 120))
        #expect(Set(try receiver.acceptedSpanIDs()).count == 120)
        exporter.shutdown(deadline: .now + .seconds(1))
    }

    @Test("shutdown ends stalled requests at its deadline and counts their spans as dropped")
    func shutdownDuringStall() async throws {
        let receiver = try await OTLPReceiver.start(script: "stall:4")
        let exporter = OTLPHTTPExporter(configuration: configuration(endpoint: receiver.endpoint))
        let (books, elapsed) = await offThread {
            _ = exporter.export(makeFinishedSpans(10), deadline: .now + .seconds(10))
            _ = exporter.export(makeFinishedSpans(15), deadline: .now + .seconds(10))
            _ = eventually(2) { exporter.statistics.requests == 2 }
            // Waits for a sender; at the deadline it is dropped without being sent.
            _ = exporter.export(makeFinishedSpans(5), deadline: .now + .seconds(10))
            let started = ContinuousClock.now
            let books = exporter.shutdown(deadline: .now + .milliseconds(300))
            return (books, ContinuousClock.now - started)
        }
        #expect(books == HandedOverSpans(dropped: 30), "nothing pending after shutdown: \(books)")
        #expect(exporter.statistics.requests == 2, "the waiting request was never sent")
        #expect(elapsed < .seconds(3), "shutdown did not wait out the 4 s stall")
        #expect(exporter.statistics.spansInFlight == 0)
        #expect(await offThread { exporter.export(makeFinishedSpans(1), deadline: .now + .seconds(1)) } != .success)
    }

    @Test(
        "TRACELINE_OTLP_MAX_CONCURRENT_REQUESTS and _MAX_IN_FLIGHT_BYTES: numbers in range are used; anything else warns"
    )
    func environment() {
        var warnings: [String] = []
        let defaults = OTLPExporterConfiguration.fromEnvironment([:], warnings: &warnings)
        #expect(defaults.maxConcurrentRequests == 2 && defaults.maxInFlightBytes == 16 << 20)
        let set = OTLPExporterConfiguration.fromEnvironment(
            ["TRACELINE_OTLP_MAX_CONCURRENT_REQUESTS": "4", "TRACELINE_OTLP_MAX_IN_FLIGHT_BYTES": "1048576"],
            warnings: &warnings)
        #expect(set.maxConcurrentRequests == 4 && set.maxInFlightBytes == 1 << 20)
        #expect(warnings.isEmpty)
        for bad in ["0", "65", "-1", "two"] {
            let config = OTLPExporterConfiguration.fromEnvironment(
                ["TRACELINE_OTLP_MAX_CONCURRENT_REQUESTS": bad, "TRACELINE_OTLP_MAX_IN_FLIGHT_BYTES": bad],
                warnings: &warnings)
            #expect(config.maxConcurrentRequests == 2)
            #expect(config.maxInFlightBytes == (bad == "65" ? 65 : 16 << 20))
        }
        #expect(warnings.count == 7, "\(warnings)")  // "65" is a valid byte count
    }
}
