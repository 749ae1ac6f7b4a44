import Foundation
import Logging
import Synchronization
import Testing
import TracelineTestSupport
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

/// Transport behaviour against a real local receiver (Tests/proto/otlp_receiver.py on 127.0.0.1).
@Suite(.serialized) struct OTLPExporterTests {
    @Test(
        "gzip off and on: every span arrives, decoded by the official package; headers are right",
        arguments: [
            OTLPExporterConfiguration.Compression.none, .gzip,
        ])
    func delivery(compression: OTLPExporterConfiguration.Compression) async throws {
        let receiver = try await OTLPReceiver.start()
        var configuration = fastConfiguration(endpoint: receiver.endpoint, compression: compression)
        configuration.headers = [("x-api-key", "secret-value")]
        let exporter = OTLPHTTPExporter(configuration: configuration)
        let spans = makeFinishedSpans(200)
        #expect(await offThread { exporter.export(spans, deadline: .now + .seconds(10)) } == .success)
        let records = try receiver.records()
        try #require(records.count == 1)
        let headers = try #require(records[0]["headers"] as? [String: String])
        #expect(headers["content-type"] == "application/x-protobuf")
        #expect(headers["content-encoding"] == (compression == .gzip ? "gzip" : nil))
        #expect(headers["user-agent"] == OTLPHTTPExporter.userAgent)
        #expect(headers["x-api-key"] == "secret-value")
        #expect(records[0]["path"] as? String == "/v1/traces")
        #expect(records[0]["decode_error"] == nil)
        #expect(Set(try receiver.acceptedSpanIDs()) == Set(spans.map(\.spanContext.spanID.hexString)))
        let stats = exporter.statistics
        #expect(stats.spansExported == 200)
        #expect(stats.requests == 1)
        if compression == .gzip {
            #expect(stats.bytesSent < stats.bytesUncompressed / 2, "gzip shrinks repetitive spans")
        } else {
            #expect(stats.bytesSent == stats.bytesUncompressed)
        }
    }

    @Test("TLS: trusted through OTEL_EXPORTER_OTLP_CERTIFICATE; refused without it, and not retried")
    func tls() async throws {
        let tls = try await makeSelfSignedCertificate()
        let receiver = try await OTLPReceiver.start(tls: tls)
        var trusted = fastConfiguration(endpoint: receiver.tlsEndpoint)
        trusted.certificateFile = tls.certificate
        let exporter = OTLPHTTPExporter(configuration: trusted)
        #expect(await offThread { exporter.export(makeFinishedSpans(3), deadline: .now + .seconds(10)) } == .success)
        #expect(try receiver.acceptedSpanIDs().count == 3)

        var untrusted = fastConfiguration(endpoint: receiver.tlsEndpoint)
        untrusted.retry.maxElapsed = .milliseconds(500)
        let refused = OTLPHTTPExporter(configuration: untrusted)
        let result = await offThread { refused.export(makeFinishedSpans(3), deadline: .now + .seconds(10)) }
        #expect(result != .success, "a self-signed certificate is not in the system trust store")
        #expect(refused.statistics.spansDropped == 3)
        #expect(refused.statistics.retries == 0, "an untrusted certificate is not retried")
        #expect(try receiver.acceptedSpanIDs().count == 3, "nothing more arrived")
    }

    @Test("503 with Retry-After: 1, then 200: every span arrives exactly once, after the wait")
    func retryAfterSeconds() async throws {
        let receiver = try await OTLPReceiver.start(script: "503:ra=1,200")
        let exporter = OTLPHTTPExporter(configuration: fastConfiguration(endpoint: receiver.endpoint))
        let spans = makeFinishedSpans(50)
        let started = ContinuousClock.now
        #expect(await offThread { exporter.export(spans, deadline: .now + .seconds(10)) } == .success)
        #expect(ContinuousClock.now - started >= .milliseconds(950), "Retry-After honoured over the 100 ms backoff")
        let accepted = try receiver.acceptedSpanIDs()
        #expect(accepted.count == 50)
        #expect(Set(accepted).count == 50, "exactly once")
        #expect(exporter.statistics.retries == 1)
        #expect(exporter.statistics.spansExported == 50)
    }

    @Test("Retry-After replaces the backoff: three 503s asking for 1 s take 3 s, not 2 + 4 + 8 s")
    func retryAfterReplacesBackoff() async throws {
        let receiver = try await OTLPReceiver.start(script: "503:ra=1,503:ra=1,503:ra=1,200")
        var configuration = fastConfiguration(endpoint: receiver.endpoint)
        configuration.retry.initialBackoff = .seconds(2)
        configuration.retry.maxBackoff = .seconds(8)
        configuration.retry.jitter = 0
        let exporter = OTLPHTTPExporter(configuration: configuration)
        let started = ContinuousClock.now
        #expect(await offThread { exporter.export(makeFinishedSpans(5), deadline: .now + .seconds(30)) } == .success)
        let elapsed = ContinuousClock.now - started
        // The upper bound only tells 3 s from 14 s; it leaves room for a loaded CI machine.
        #expect(elapsed >= .milliseconds(2900) && elapsed < .seconds(10), "elapsed \(elapsed)")
        #expect(exporter.statistics.retries == 3)
    }

    @Test("Retry-After as an HTTP date is honoured")
    func retryAfterDate() async throws {
        let receiver = try await OTLPReceiver.start(script: "503:date=2,200")
        let exporter = OTLPHTTPExporter(configuration: fastConfiguration(endpoint: receiver.endpoint))
        let started = ContinuousClock.now
        #expect(await offThread { exporter.export(makeFinishedSpans(5), deadline: .now + .seconds(10)) } == .success)
        // The date has one-second resolution: now + 2 s waits between 1 and 2 seconds.
        #expect(ContinuousClock.now - started >= .milliseconds(900))
        #expect(exporter.statistics.retries == 1)
    }

    @Test("429 is retried")
    func tooManyRequests() async throws {
        let receiver = try await OTLPReceiver.start(script: "429,429,200")
        let exporter = OTLPHTTPExporter(configuration: fastConfiguration(endpoint: receiver.endpoint))
        #expect(await offThread { exporter.export(makeFinishedSpans(3), deadline: .now + .seconds(10)) } == .success)
        #expect(try receiver.records().count == 3)
        #expect(exporter.statistics.retries == 2)
    }

    @Test("400 drops the batch, counted, with the receiver's message, and is not retried")
    func badRequest() async throws {
        let receiver = try await OTLPReceiver.start(script: "400")
        let exporter = OTLPHTTPExporter(configuration: fastConfiguration(endpoint: receiver.endpoint))
        let result = await offThread { exporter.export(makeFinishedSpans(7), deadline: .now + .seconds(10)) }
        guard case .failure(let reason) = result else {
            Issue.record("expected failure")
            return
        }
        #expect(reason.contains("HTTP 400"))
        #expect(reason.contains("test failure 400"), "the rpc Status message is decoded")
        #expect(try receiver.records().count == 1)
        #expect(exporter.statistics.spansDropped == 7)
        #expect(exporter.statistics.retries == 0)
    }

    @Test("connection refused, then the receiver comes up: delivered within the retry budget")
    func refusedThenUp() async throws {
        let port = try await offThreadThrowing { try unusedPort() }
        let exporter = OTLPHTTPExporter(
            configuration: fastConfiguration(endpoint: "http://127.0.0.1:\(port)/v1/traces"))
        let spans = makeFinishedSpans(10)
        let export = Task { await offThread { exporter.export(spans, deadline: .now + .seconds(15)) } }
        try await Task.sleep(for: .milliseconds(700))
        let receiver = try await OTLPReceiver.start(script: "200", port: port)
        #expect(await export.value == .success)
        #expect(Set(try receiver.acceptedSpanIDs()).count == 10)
        #expect(exporter.statistics.retries >= 1)
    }

    @Test("a stalled receiver times out, is retried, and the span is counted once")
    func stall() async throws {
        let receiver = try await OTLPReceiver.start(script: "stall:3,200")
        var configuration = fastConfiguration(endpoint: receiver.endpoint)
        configuration.timeout = .milliseconds(500)
        let exporter = OTLPHTTPExporter(configuration: configuration)
        #expect(await offThread { exporter.export(makeFinishedSpans(4), deadline: .now + .seconds(10)) } == .success)
        let stats = exporter.statistics
        #expect(stats.retries == 1)
        #expect(stats.spansExported == 4)
        #expect(stats.lastError == nil)
    }

    @Test("a dropped connection is retried")
    func closedConnection() async throws {
        let receiver = try await OTLPReceiver.start(script: "close,200")
        let exporter = OTLPHTTPExporter(configuration: fastConfiguration(endpoint: receiver.endpoint))
        #expect(await offThread { exporter.export(makeFinishedSpans(2), deadline: .now + .seconds(10)) } == .success)
        #expect(exporter.statistics.retries == 1)
    }

    @Test("partial success counts rejected spans and logs the message once per text")
    func partialSuccess() async throws {
        let receiver = try await OTLPReceiver.start(script: "partial:3:three spans were bad")
        let recorder = LogRecorder()
        let logger = Logger(label: "otlp") { _ in recorder.handler() }
        let exporter = OTLPHTTPExporter(configuration: fastConfiguration(endpoint: receiver.endpoint), logger: logger)
        for _ in 0..<2 {
            let result = await offThread { exporter.export(makeFinishedSpans(10), deadline: .now + .seconds(10)) }
            #expect(result == .partialSuccess(rejected: 3))
        }
        let stats = exporter.statistics
        #expect(stats.spansRejected == 6)
        #expect(stats.spansExported == 14)
        #expect(stats.retries == 0, "a partial success is never retried")
        #expect(recorder.lines.filter { $0.contains("three spans were bad") }.count == 1)
    }

    @Test("a garbage 2xx body counts as success (the receiver accepted the request)")
    func garbageSuccess() async throws {
        let receiver = try await OTLPReceiver.start(script: "garbage")
        let exporter = OTLPHTTPExporter(configuration: fastConfiguration(endpoint: receiver.endpoint))
        #expect(await offThread { exporter.export(makeFinishedSpans(3), deadline: .now + .seconds(10)) } == .success)
        #expect(exporter.statistics.spansExported == 3)
    }

    @Test("the breaker opens after N failures, fails fast, and closes after a successful probe")
    func breaker() async throws {
        let receiver = try await OTLPReceiver.start(script: "500,500,200")
        var configuration = fastConfiguration(endpoint: receiver.endpoint)
        configuration.breaker = CircuitBreaker.Configuration(failureThreshold: 2, cooldown: .milliseconds(800))
        let exporter = OTLPHTTPExporter(configuration: configuration)
        for _ in 0..<2 {
            #expect(await offThread { exporter.export(makeFinishedSpans(1), deadline: .now + .seconds(5)) } != .success)
        }
        #expect(exporter.breaker.currentState == .open)
        #expect(
            await offThread { exporter.export(makeFinishedSpans(1), deadline: .now + .seconds(5)) }
                == .failure(reason: "circuit breaker open"))
        #expect(try receiver.records().count == 2, "no request while open")
        try await Task.sleep(for: .milliseconds(900))
        #expect(await offThread { exporter.export(makeFinishedSpans(1), deadline: .now + .seconds(5)) } == .success)
        #expect(exporter.breaker.currentState == .closed)
        let breakerStats = exporter.breaker.statistics
        #expect(breakerStats.timesOpened == 1)
        #expect(breakerStats.timesHalfOpened == 1)
        #expect(breakerStats.timesClosed == 1)
        #expect(breakerStats.rejectedCalls == 1)
        #expect(exporter.statistics.breakerRejections == 1)
        #expect(exporter.statistics.spansDropped == 3)
    }

    @Test("shutdown while a retry is pending ends the export by the shutdown deadline")
    func shutdownDuringRetry() async throws {
        let receiver = try await OTLPReceiver.start(script: "503:ra=30")
        let exporter = OTLPHTTPExporter(configuration: fastConfiguration(endpoint: receiver.endpoint))
        let started = ContinuousClock.now
        let spans = makeFinishedSpans(5)
        let export = Task { await offThread { exporter.export(spans, deadline: .now + .seconds(60)) } }
        try await Task.sleep(for: .milliseconds(300))
        exporter.shutdown(deadline: .now + .milliseconds(200))
        let result = await export.value
        #expect(ContinuousClock.now - started < .seconds(10), "not the 30 s Retry-After")
        #expect(result != .success)
        #expect(exporter.statistics.spansDropped == 5)
        #expect(
            await offThread { exporter.export(makeFinishedSpans(1), deadline: .now + .seconds(1)) } != .success,
            "no export after shutdown")
    }

    @Test("through the batch processor: a collector that is down loses nothing uncounted")
    func processorAccounting() async throws {
        // Bound, not listening: refused, and no other test can be given this port meanwhile.
        let (placeholder, port) = boundSocket(listening: false)
        defer { close(placeholder) }
        var configuration = fastConfiguration(endpoint: "http://127.0.0.1:\(port)/v1/traces")
        configuration.retry.maxElapsed = .milliseconds(300)
        let exporter = OTLPHTTPExporter(configuration: configuration)
        let processor = BatchSpanProcessor(
            exporter: exporter,
            configuration: .init(scheduleDelay: .seconds(3600), maxQueueSize: 64, maxExportBatchSize: 16))
        let tracer = TracerProvider(processors: [processor]).tracer()
        for index in 0..<200 { tracer.startSpan("s\(index)", context: .topLevel).end() }
        _ = await processor.shutdown(deadline: .now + .seconds(20))
        let stats = processor.statistics
        let exporterStats = exporter.statistics
        #expect(stats.enqueued + stats.droppedQueueFull == 200)
        #expect(stats.exported + stats.failed + stats.discardedAtShutdown + stats.queueSize == stats.enqueued)
        #expect(exporterStats.spansDropped == stats.failed)
        #expect(stats.failed > 0)
    }
}

@Suite struct OTLPConfigurationTests {
    @Test("endpoint rules: the signal URL is used as is; the base URL gets v1/traces")
    func endpoints() {
        var warnings: [String] = []
        func endpoint(_ env: [String: String]) -> String {
            OTLPExporterConfiguration.fromEnvironment(env, warnings: &warnings).endpoint
        }
        #expect(endpoint([:]) == "http://localhost:4318/v1/traces")
        #expect(endpoint(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"]) == "http://collector:4318/v1/traces")
        #expect(
            endpoint(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/mycollector/"])
                == "http://collector:4318/mycollector/v1/traces")
        #expect(endpoint(["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318"]) == "http://collector:4318/")
        #expect(
            endpoint([
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c/custom/path",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x",
            ]) == "https://c/custom/path")
        #expect(warnings.isEmpty)
        #expect(endpoint(["OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://nope"]) == "http://localhost:4318/v1/traces")
        #expect(warnings.count == 1)
    }

    @Test("headers are percent-decoded; the traces form wins; bad ones are reported without their values")
    func headers() {
        var warnings: [String] = []
        let config = OTLPExporterConfiguration.fromEnvironment(
            [
                "OTEL_EXPORTER_OTLP_HEADERS": "ignored=1",
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "api-key=abc%3D%3D,x-team = blue%20green",
            ], warnings: &warnings)
        #expect(config.headers.map(\.name) == ["api-key", "x-team"])
        #expect(config.headers.map(\.value) == ["abc==", "blue green"])
        #expect(warnings.isEmpty)
        let bad = OTLPExporterConfiguration.fromEnvironment(
            ["OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20SECRET%0D%0AX: y"], warnings: &warnings)
        #expect(bad.headers.isEmpty)
        #expect(warnings.count == 1)
        #expect(!warnings.joined().contains("SECRET"))
    }

    @Test("timeout, compression, certificates and protocol")
    func scalars() {
        var warnings: [String] = []
        let config = OTLPExporterConfiguration.fromEnvironment(
            [
                "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
                "OTEL_EXPORTER_OTLP_COMPRESSION": "GZIP",
                "OTEL_EXPORTER_OTLP_CERTIFICATE": "/etc/ca.pem",
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": "/etc/key.pem",
            ], warnings: &warnings)
        #expect(config.timeout == .milliseconds(2500))
        #expect(config.compression == .gzip)
        #expect(config.certificateFile == "/etc/ca.pem")
        #expect(config.clientKeyFile == "/etc/key.pem")
        #expect(
            OTLPExporterConfiguration.fromEnvironment(["OTEL_EXPORTER_OTLP_TIMEOUT": "0"], warnings: &warnings).timeout
                == nil)
        #expect(warnings.isEmpty)
        _ = OTLPExporterConfiguration.fromEnvironment(
            [
                "OTEL_EXPORTER_OTLP_TIMEOUT": "-1", "OTEL_EXPORTER_OTLP_COMPRESSION": "brotli",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            ], warnings: &warnings)
        #expect(warnings.count == 3)
    }

    @Test("Retry-After: seconds and the three HTTP-date forms")
    func retryAfter() {
        let now: Int64 = 784_111_777 - 10  // ten seconds before Sun, 06 Nov 1994 08:49:37 GMT
        #expect(RetryAfter.delay("120", nowSeconds: now) == .seconds(120))
        #expect(RetryAfter.delay("Sun, 06 Nov 1994 08:49:37 GMT", nowSeconds: now) == .seconds(10))
        #expect(RetryAfter.delay("Sunday, 06-Nov-94 08:49:37 GMT", nowSeconds: now) == .seconds(10))
        #expect(RetryAfter.delay("Sun Nov  6 08:49:37 1994", nowSeconds: now) == .seconds(10))
        #expect(
            RetryAfter.delay("Sun, 06 Nov 1994 08:49:37 GMT", nowSeconds: now + 100) == .zero, "a past date means now")
        #expect(RetryAfter.delay("soon", nowSeconds: now) == nil)
        #expect(RetryAfter.delay("-5", nowSeconds: now) == nil)
        #expect(RetryAfter.delay("", nowSeconds: now) == nil)
        // Found by fuzzing: a year past Int32 trapped in the conversion for timegm.
        #expect(RetryAfter.delay("Wed, 1 Oct 13333333337361432 07:28:00 GMT", nowSeconds: now) == nil)
        #expect(RetryAfter.delay("Wed, 1 Oct 10000 07:28:00 GMT", nowSeconds: now) == nil)
    }

    @Test("circuit breaker transitions with a controlled clock")
    func breakerUnit() {
        let clock = LockedValue(ContinuousClock.now)
        let breaker = CircuitBreaker(
            name: "test", configuration: .init(failureThreshold: 3, cooldown: .seconds(10)),
            now: { clock.withLock { $0 } })
        for _ in 0..<2 {
            #expect(breaker.acquire())
            breaker.recordFailure()
        }
        #expect(breaker.currentState == .closed)
        #expect(breaker.acquire())
        breaker.recordSuccess()  // a success resets the count
        for _ in 0..<3 {
            #expect(breaker.acquire())
            breaker.recordFailure()
        }
        #expect(breaker.currentState == .open)
        #expect(!breaker.acquire())
        clock.withLock { $0 += .seconds(11) }
        #expect(breaker.acquire(), "the probe")
        #expect(breaker.currentState == .halfOpen)
        #expect(!breaker.acquire(), "only one probe at a time")
        breaker.recordFailure()
        #expect(breaker.currentState == .open, "a failed probe reopens")
        clock.withLock { $0 += .seconds(11) }
        #expect(breaker.acquire())
        breaker.recordSuccess()
        #expect(breaker.currentState == .closed)
        let stats = breaker.statistics
        #expect(stats.timesOpened == 2)
        #expect(stats.timesHalfOpened == 2)
        #expect(stats.timesClosed == 1)
        #expect(stats.rejectedCalls == 2)
    }
}
