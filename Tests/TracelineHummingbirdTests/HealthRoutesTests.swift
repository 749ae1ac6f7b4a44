// Compiled only with the package's `Hummingbird` trait.
#if Hummingbird
import Foundation
import Hummingbird
import Logging
import Testing
import Traceline
import TracelineHummingbird

@Suite(.serialized, .timeLimit(.minutes(2))) struct HealthRoutesTests {
    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Bool
        init(_ value: Bool) { self.value = value }
        func get() -> Bool { lock.withLock { value } }
        func set(_ newValue: Bool) { lock.withLock { value = newValue } }
    }

    static func withHealthServer(
        _ aggregator: HealthAggregator, options: HealthRoutesOptions = HealthRoutesOptions(),
        _ body: (Int) async throws -> Void
    ) async throws {
        let router = Router()
        router.addHealthRoutes(aggregator, options: options)
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { portContinuation.yield($0.localAddress?.port ?? 0) },
            logger: Logger(label: "health-test"))
        let server = Task { try await app.run() }
        defer { server.cancel() }
        var iterator = portStream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        try await body(port)
    }

    @Test("/health, /livez and /readyz over real HTTP, with a critical dependency going down and up")
    func endpoints() async throws {
        let databaseUp = Flag(true)
        let aggregator = HealthAggregator(
            configuration: .init(cacheInterval: .zero, version: "1.2.3"),
            checks: [
                .ping("database") { if !databaseUp.get() { throw CocoaError(.fileNoSuchFile) } },
                .ping("cache", critical: false) {},
                .memory(warnAbove: 1, failAbove: 1),
            ])
        try await HealthRoutesTests.withHealthServer(aggregator) { port in
            let base = "http://127.0.0.1:\(port)"
            var health = try await httpGet("\(base)/health")
            #expect(health.status == 200)
            #expect(health.contentType == "application/health+json")
            var root = try #require(JSONSerialization.jsonObject(with: Data(health.body.utf8)) as? [String: Any])
            #expect(root["status"] as? String == "pass")
            #expect(root["version"] as? String == "1.2.3")
            #expect(
                Set((root["checks"] as? [String: Any])?.keys ?? [:].keys) == [
                    "database:responseTime", "cache:responseTime", "memory:utilization",
                ])

            let live = try await httpGet("\(base)/livez")
            #expect(live.status == 200)
            #expect(live.body.contains("\"status\":\"pass\""))
            let ready = try await httpGet("\(base)/readyz")
            #expect(ready.status == 200)
            #expect(!ready.body.contains("cache:responseTime"), "readiness runs the critical checks only")

            databaseUp.set(false)
            health = try await httpGet("\(base)/health")
            #expect(health.status == 503)
            root = try #require(JSONSerialization.jsonObject(with: Data(health.body.utf8)) as? [String: Any])
            #expect(root["status"] as? String == "fail")
            let readyDown = try await httpGet("\(base)/readyz")
            #expect(readyDown.status == 503)
            #expect(try await httpGet("\(base)/livez").status == 200, "liveness does not call dependencies")
            let verbose = try await httpGet("\(base)/readyz?verbose")
            #expect(verbose.status == 503)
            #expect(verbose.body.contains("[-]database:responseTime failed:"))
            #expect(verbose.body.hasSuffix("readyz check failed\n"))
            let excluded = try await httpGet("\(base)/readyz?verbose&exclude=database:responseTime")
            #expect(excluded.status == 200)
            #expect(excluded.body.contains("[+]database:responseTime excluded: ok"))
            let seed = try await httpGet("\(base)/health?format=seed")
            #expect(seed.status == 503)
            #expect(seed.contentType == "application/json")
            #expect(seed.body.contains("\"status\":\"degraded\""))

            databaseUp.set(true)
            #expect(try await httpGet("\(base)/health").status == 200)
        }
    }
}

/// Wall-clock bounds: run on their own by the test command (suites named `*Timing*`).
@Suite(.serialized, .timeLimit(.minutes(2))) struct HealthRoutesTimingTests {
    @Test("a dependency hanging for 30 s: /health answers within the timeout plus 100 ms")
    func hangingDependency() async throws {
        let aggregator = HealthAggregator(checks: [
            .ping("stuck", timeout: .milliseconds(300)) {
                // Ignores cancellation (a detached task is not cancelled with its waiter), holds no thread.
                await Task.detached { try? await Task.sleep(for: .seconds(30)) }.value
            }
        ])
        try await HealthRoutesTests.withHealthServer(aggregator, options: HealthRoutesOptions(statusStyle: .seed)) {
            port in
            let start = ContinuousClock.now
            let health = try await httpGet("http://127.0.0.1:\(port)/health")
            let elapsed = ContinuousClock.now - start
            #expect(elapsed < .milliseconds(400), "answered in \(elapsed)")
            #expect(health.status == 503)
            #expect(health.body.contains("\"status\":\"degraded\""))
            #expect(health.body.contains("timed out"))
            let live = ContinuousClock.now
            #expect(try await httpGet("http://127.0.0.1:\(port)/livez").status == 200)
            #expect(ContinuousClock.now - live < .milliseconds(200))
        }
    }
}
#endif
