import Foundation
import Testing
import TracelineTestSupport
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

/// The exporter's opt-in retry buffer, against the real test receiver.
@Suite(.serialized) struct OTLPRetryBufferTests {
    func configuration(endpoint: String, bufferBytes: Int = 1 << 20) -> OTLPExporterConfiguration {
        var configuration = fastConfiguration(endpoint: endpoint)
        configuration.retryBufferBytes = bufferBytes
        return configuration
    }

    @Test("a failing receiver does not hold the export thread; after it recovers every span arrives once")
    func ridesOutFailures() async throws {
        let receiver = try await OTLPReceiver.start(script: "503:ra=1,503:ra=1,200")
        let exporter = OTLPHTTPExporter(configuration: configuration(endpoint: receiver.endpoint))
        let batches = (0..<5).map { makeFinishedSpans(20, prefix: "batch\($0)") }
        let started = ContinuousClock.now
        // All five calls and the look at the receiver on one thread, well inside the first
        // Retry-After's second: resuming a task per call once took over 2 s on a loaded machine,
        // long enough for the buffer to drain before the look.
        let (results, requestsWhileExporting, buffered, bytes) = try await offThreadThrowing {
            let results = batches.map { exporter.export($0, deadline: .now + .seconds(10)) }
            let statistics = exporter.statistics
            return (results, try receiver.records().count, statistics.spansBuffered, statistics.bytesBuffered)
        }
        #expect(results.allSatisfy { $0 == .handedOver }, "\(results)")
        // Without the buffer the first export would have returned only after three requests.
        #expect(requestsWhileExporting <= 2, "the later batches waited behind the first, without requests of their own")
        #expect(buffered == 100)
        #expect(bytes > 0)

        let books = await offThread { exporter.forceFlush(deadline: .now + .seconds(10)) }
        #expect(books == HandedOverSpans(delivered: 100), "every kept span delivered, none pending")
        #expect(ContinuousClock.now - started >= .milliseconds(1900), "both Retry-After: 1 honoured")
        let accepted = try receiver.acceptedSpanIDs()
        #expect(accepted.count == 100)
        #expect(Set(accepted).count == 100, "exactly once")
        let stats = exporter.statistics
        #expect(stats.spansExported == 100)
        #expect(stats.spansDropped == 0)
        #expect(stats.spansBuffered == 0 && stats.bytesBuffered == 0)
        #expect(stats.retries == 2, "only the first request was retried; the others went out once it succeeded")
        #expect(stats.requests == 7)
        // In order: the first batch's spans reached the receiver before the second's.
        let names = try receiver.records().filter { $0["action"] as? String == "200" }
            .flatMap { ($0["spans"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String } }
        #expect(
            names.first?.hasPrefix("batch0") == true && names.last?.hasPrefix("batch4") == true,
            "\(names.prefix(1)) … \(names.suffix(1))")
        exporter.shutdown(deadline: .now + .seconds(1))
    }

    @Test("a full buffer drops the newest request, counted; shutdown drops what is left, counted, by its deadline")
    func fullBufferAndShutdown() async throws {
        // Bound, not listening: refused, and no other test can be given this port meanwhile.
        let (placeholder, port) = boundSocket(listening: false)
        defer { close(placeholder) }
        let batches = (0..<5).map { makeFinishedSpans(20, prefix: "b\($0)") }
        let sizes = batches.map { OTLPTraceEncoder().encode($0).count }
        var settings = configuration(endpoint: "http://127.0.0.1:\(port)/v1/traces", bufferBytes: sizes[0] + sizes[1])
        settings.retry.maxElapsed = .seconds(30)
        let exporter = OTLPHTTPExporter(configuration: settings)
        var results: [ExportResult] = []
        for batch in batches {
            results.append(await offThread { exporter.export(batch, deadline: .now + .seconds(10)) })
        }
        #expect(results.prefix(2).allSatisfy { $0 == .handedOver })
        #expect(results.dropFirst(2).allSatisfy { $0 != .success && $0 != .handedOver }, "\(results)")
        var stats = exporter.statistics
        #expect(stats.spansBuffered == 40)
        #expect(stats.spansDroppedBufferFull == 60)
        #expect(stats.spansDropped == 60)
        #expect(stats.spansExported + stats.spansRejected + stats.spansDropped + stats.spansBuffered == 100)
        let metrics = PipelineMetrics(exporter: exporter).renderFamilies(format: .prometheusText)
        #expect(
            metrics.contains(
                "traceline_exporter_retry_buffer_spans{otel_component_type=\"otlp_http_span_exporter\",otel_component_name=\"otlp_http_span_exporter/0\"} 40"
            ), "\(metrics)")

        let shutdownStarted = ContinuousClock.now
        let final = await offThread { exporter.shutdown(deadline: .now + .milliseconds(500)) }
        #expect(final == HandedOverSpans(dropped: 40), "the kept spans are reported lost, not pending")
        #expect(ContinuousClock.now - shutdownStarted < .seconds(10), "by its deadline, not after the 30 s maxElapsed")
        stats = exporter.statistics
        #expect(stats.spansBuffered == 0)
        #expect(stats.spansDropped == 100, "the 40 buffered spans dropped at shutdown, counted")
        #expect(await offThread { exporter.export(batches[0], deadline: .now + .seconds(1)) } != .success)
    }

    @Test(
        "through the batch processor: an outage longer than the queue holds loses nothing with the buffer, and drops without it"
    )
    func processorWithAndWithout() async throws {
        func run(
            bufferBytes: Int
        ) async throws -> (
            processor: SpanPipelineStatistics, exporter: SpanExporterStatistics, accepted: Int
        ) {
            let receiver = try await OTLPReceiver.start(script: "503:ra=1,503:ra=1,200")
            let exporter = OTLPHTTPExporter(
                configuration: configuration(endpoint: receiver.endpoint, bufferBytes: bufferBytes))
            let processor = BatchSpanProcessor(
                exporter: exporter,
                configuration: .init(scheduleDelay: .milliseconds(50), maxQueueSize: 64, maxExportBatchSize: 16))
            let tracer = TracerProvider(processors: [processor]).tracer()
            for round in 0..<50 {  // 1000 spans over about a second, while the receiver answers 503
                for index in 0..<20 { tracer.startSpan("s\(round)-\(index)", context: .topLevel).end() }
                try await Task.sleep(for: .milliseconds(20))
            }
            _ = await processor.shutdown(deadline: .now + .seconds(10))
            return (processor.statistics, exporter.statistics, Set(try receiver.acceptedSpanIDs()).count)
        }
        let buffered = try await run(bufferBytes: 4 << 20)
        #expect(buffered.processor.droppedQueueFull == 0)
        #expect(buffered.exporter.spansDropped == 0)
        #expect(buffered.accepted == 1000)
        #expect(buffered.exporter.spansExported == 1000)
        #expect(buffered.processor.exported == 1000, "the processor's books include what the buffer delivered")
        let unbuffered = try await run(bufferBytes: 0)
        #expect(
            unbuffered.processor.droppedQueueFull > 0,
            "the export thread waited out the 503s while the 64-span queue overflowed")
        #expect(unbuffered.accepted + unbuffered.processor.droppedQueueFull + unbuffered.exporter.spansDropped == 1000)
    }

    @Test(
        "one set of books: with the receiver down, forceFlush reports the parked spans as pending, not delivered; after it recovers, as delivered"
    )
    func flushReportsHandedOverSpans() async throws {
        // A bound socket that does not listen: connections are refused, and no other test's
        // receiver can be given this port while the exporter keeps retrying it.
        let (placeholder, port) = boundSocket(listening: false)
        var settings = configuration(endpoint: "http://127.0.0.1:\(port)/v1/traces")
        settings.retry.maxElapsed = .seconds(60)
        let exporter = OTLPHTTPExporter(configuration: settings)
        let processor = BatchSpanProcessor(
            exporter: exporter,
            configuration: .init(scheduleDelay: .seconds(3600), maxQueueSize: 64, maxExportBatchSize: 10))
        let tracer = TracerProvider(processors: [processor]).tracer()
        for index in 0..<30 { tracer.startSpan("s\(index)", context: .topLevel).end() }

        let whileDown = await processor.forceFlush(deadline: .now + .milliseconds(800))
        #expect(whileDown.exported == 0, "\(whileDown)")
        #expect(whileDown.pending == 30, "parked in the retry buffer: handed over, not delivered (\(whileDown))")
        #expect(whileDown.failed == 0 && whileDown.notExported == 0, "\(whileDown)")
        #expect(!whileDown.isComplete)
        var books = processor.statistics
        #expect(books.exported == 0 && books.handedOver == 30 && books.pendingInExporter == 30, "\(books)")

        close(placeholder)
        let receiver = try await OTLPReceiver.start(script: "200", port: port)
        let recovered = await processor.forceFlush(deadline: .now + .seconds(10))
        #expect(recovered.exported == 30, "delivered since the previous report (\(recovered))")
        #expect(recovered.pending == 0 && recovered.isComplete, "\(recovered)")
        #expect(Set(try receiver.acceptedSpanIDs()).count == 30)

        let final = await processor.shutdown(deadline: .now + .seconds(5))
        #expect(final == FlushReport(), "nothing left and nothing new to report (\(final))")
        books = processor.statistics
        let reported = whileDown.exported + recovered.exported + final.exported
        #expect(reported == 30, "the flush reports alone account for every span")
        #expect(
            books.enqueued
                == books.exported + books.rejected + books.failed + books.pendingInExporter + books.inExport
                + books.queueSize + books.discardedAtShutdown,
            "\(books)")
        #expect(books.exported == 30 && books.pendingInExporter == 0)
    }

    @Test("the span-pipeline health check counts spans the retry buffer dropped after taking them over")
    func healthCheckSeesBufferDrops() async throws {
        // Bound, not listening: refused, and no other test can be given this port meanwhile.
        let (placeholder, port) = boundSocket(listening: false)
        defer { close(placeholder) }
        var settings = configuration(endpoint: "http://127.0.0.1:\(port)/v1/traces")
        settings.retry.maxElapsed = .milliseconds(300)
        let exporter = OTLPHTTPExporter(configuration: settings)
        let processor = BatchSpanProcessor(
            exporter: exporter,
            configuration: .init(scheduleDelay: .seconds(3600), maxQueueSize: 64, maxExportBatchSize: 8))
        let tracer = TracerProvider(processors: [processor]).tracer()
        let check = HealthCheck.spanPipeline(processor: processor)
        #expect(try await check.probe().status == .pass)
        for index in 0..<8 { tracer.startSpan("s\(index)", context: .topLevel).end() }
        #expect(await eventually { exporter.statistics.spansDropped == 8 }, "parked, then past maxElapsed")
        #expect(processor.statistics.handedOver == 8, "the exporter took the batch over")
        #expect(processor.statistics.failed == 8, "and the processor's books learned that it was lost")
        let result = try await check.probe()
        #expect(result.status == .warn)
        #expect(result.output?.contains("8 spans lost") == true, "\(result.output ?? "")")
        _ = await processor.shutdown(deadline: .now + .seconds(2))
    }

    @Test("TRACELINE_OTLP_RETRY_BUFFER_BYTES: a byte count turns it on; anything else warns and leaves it off")
    func environment() {
        var warnings: [String] = []
        #expect(OTLPExporterConfiguration.fromEnvironment([:], warnings: &warnings).retryBufferBytes == 0)
        #expect(
            OTLPExporterConfiguration.fromEnvironment(
                ["TRACELINE_OTLP_RETRY_BUFFER_BYTES": "33554432"], warnings: &warnings
            ).retryBufferBytes == 33_554_432)
        #expect(warnings.isEmpty)
        for bad in ["-1", "32MiB", "lots"] {
            #expect(
                OTLPExporterConfiguration.fromEnvironment(
                    ["TRACELINE_OTLP_RETRY_BUFFER_BYTES": bad], warnings: &warnings
                ).retryBufferBytes == 0)
        }
        #expect(warnings.count == 3)
    }

    @Test("the buffer's bookkeeping: bounded by bytes, oldest first, compacts")
    func bookkeeping() {
        var buffer = OTLPRetryBuffer(capacityBytes: 1000)
        let now = ContinuousClock.now
        func request(_ bytes: Int, spans: Int) -> OTLPRetryBuffer.Request {
            .init(
                body: [UInt8](repeating: 1, count: bytes), uncompressedBytes: bytes, spans: spans,
                schedule: RetrySchedule(policy: .init(), startedAt: now), retryAt: now)
        }
        let first = buffer.append(request(600, spans: 6))
        let tooBig = buffer.append(request(401, spans: 4))
        let fits = buffer.append(request(400, spans: 4))
        #expect(first && !tooBig && fits, "bounded by bytes")
        #expect(buffer.bytes == 1000 && buffer.spans == 10 && buffer.count == 2)
        let oldest = buffer.removeFirst()
        #expect(oldest?.spans == 6)
        #expect(buffer.first?.spans == 4)
        for _ in 0..<100 {
            let appended = buffer.append(request(10, spans: 1))
            #expect(appended)
            buffer.removeFirst()
        }
        #expect(buffer.count == 1 && buffer.spans == 1 && buffer.bytes == 10)
        let removed = buffer.removeAll()
        #expect(removed.requests == 1 && removed.spans == 1)
        #expect(buffer.isEmpty && buffer.bytes == 0)
    }
}

@Suite struct LogRateLimiterTests {
    @Test("a line a second at most; the next line let through says how many were held back")
    func rateLimit() async throws {
        let slow = LogRateLimiter(interval: .seconds(600))
        #expect(slow.admit() == 0)
        #expect(slow.admit() == nil)
        #expect(slow.admit() == nil)
        let fast = LogRateLimiter(interval: .milliseconds(50))
        #expect(fast.admit() == 0)
        _ = fast.admit()
        try await Task.sleep(for: .milliseconds(60))
        let next = fast.admit()
        #expect(next != nil && next! <= 1, "let through after the interval, counting what was held back")
    }
}
