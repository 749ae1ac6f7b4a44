import Foundation
import Logging
import Testing
import Traceline
import TracelineTestSupport
import Tracing

@testable import ExaiDaemon

/// Every per-client map and cache is bounded in bytes (or pruned), and conversations keep every exchange.
@Suite struct BoundsTests {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test("cached results are bounded in bytes: the oldest go first, counted")
    func resultCacheBytes() {
        let registry = CallRegistry(ttl: .seconds(600), maxResultBytes: 64 * 1024)
        let frame = JSONValue.object([("text", .string(String(repeating: "x", count: 10_000)))])
        for index in 0..<20 {
            #expect(
                registry.begin(session: "s", requestID: "r\(index)", callKey: "k\(index)", coalesce: true) == .started)
            registry.finish(session: "s", requestID: "r\(index)", callKey: "k\(index)", result: frame)
        }
        #expect(registry.cachedBytes <= 64 * 1024)
        #expect(registry.cachedCount == 6, "six 10 KB results fit in 64 KiB")
        #expect(registry.evictedCount == 14)
        #expect(
            registry.begin(session: "s", requestID: "r19", callKey: "k19", coalesce: true) != .started,
            "the newest is still cached")
        #expect(
            registry.begin(session: "s", requestID: "r0", callKey: "k0", coalesce: true) == .started,
            "the oldest was evicted")
        // A single result larger than the whole bound is not cached at all.
        let huge = JSONValue.object([("text", .string(String(repeating: "y", count: 100_000)))])
        registry.finish(session: "s", requestID: "big", callKey: "kb", result: huge)
        #expect(registry.cachedBytes <= 64 * 1024)
        registry.forget(session: "s")
        #expect(registry.cachedBytes == 0 && registry.cachedCount == 0 && registry.inFlightCount == 0)
    }

    @Test("call keys are short digests: equal calls collide, different ones do not, no client text kept")
    func callKeys() {
        let prompt = String(repeating: "secret prompt ", count: 10_000)
        let a = CallKey.digest(prompt)
        #expect(a.utf8.count == 32)
        #expect(a == CallKey.digest(prompt))
        #expect(a != CallKey.digest(prompt + "!"))
        #expect(CallKey.idempotencyKey() != CallKey.idempotencyKey())
    }

    @Test("per-IP rate buckets are bounded: refilled ones are forgotten, past the bound the idlest go, counted")
    func rateLimiterIPs() {
        var configuration = DaemonConfiguration()
        configuration.maxTrackedIPs = 100
        configuration.ipRate = .init(capacity: 2, perSecond: 0.001)
        configuration.globalRate = .init(capacity: 1_000_000, perSecond: 1_000_000)
        let limiter = RateLimiter(configuration: configuration)
        for index in 0..<5_000 {
            _ = limiter.admit(ip: "10.0.\(index / 256).\(index % 256)", session: "s\(index)")
            limiter.forget(session: "s\(index)", ip: "10.0.\(index / 256).\(index % 256)", ipStillConnected: true)
        }
        #expect(limiter.trackedIPs.messages <= 100)
        #expect(limiter.evictedIPs > 0)
        #expect(limiter.trackedSessions == 0)
        // A bucket that has refilled is the same as a new one and is dropped without counting.
        var refilling = DaemonConfiguration()
        refilling.maxTrackedIPs = 10
        refilling.ipRate = .init(capacity: 5, perSecond: 1_000_000_000)
        let fast = RateLimiter(configuration: refilling)
        for index in 0..<1_000 { _ = fast.admit(ip: "192.0.2.\(index % 250)-\(index)", session: "s") }
        #expect(fast.trackedIPs.messages <= 10)
        #expect(fast.evictedIPs == 0)
    }

    @Test("the in-memory store is bounded in bytes: the soonest to expire go first, counted")
    func memoryStoreBytes() async throws {
        let store = MemoryStorage(maxEntries: 1_000, maxBytes: 100_000)
        for index in 0..<50 {
            try await store.set("k\(index)", Array(repeating: 7, count: 10_000), ttl: .seconds(Double(100 + index)))
        }
        #expect(store.bytes <= 100_000)
        #expect(store.evictedCount == 41)
        #expect(try await store.get("k49") != nil)
        #expect(try await store.get("k0") == nil)
        await #expect(throws: StorageError.self) {
            try await store.set("big", Array(repeating: 1, count: 200_000), ttl: .seconds(5))
        }
        _ = try await store.delete("k49")
        #expect(store.count == 8)
    }

    static func conversations(maxTurns: Int = 50, maxBytes: Int = 1 << 20) -> (ConversationStore, MemoryStorage) {
        let memory = MemoryStorage()
        let storage = InstrumentedStorage(backend: memory, tracer: NoOpTracer())
        return (
            ConversationStore(
                storage: storage, supabase: nil, ttl: .seconds(600), maxTurns: maxTurns, maxBytes: maxBytes,
                logger: quiet), memory
        )
    }

    @Test("two concurrent calls on one conversation both keep their exchange")
    func concurrentAppends() async throws {
        let (store, _) = Self.conversations()
        let thread = store.newThread(tool: "chat")
        _ = await store.append(
            [ConversationTurn(role: "user", content: "first"), ConversationTurn(role: "assistant", content: "one")],
            to: thread)
        let loaded = try await store.load(thread.threadID)
        // Both calls loaded the same two turns, then append concurrently.
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<8 {
                group.addTask {
                    _ = await store.append(
                        [
                            ConversationTurn(role: "user", content: "q\(index)"),
                            ConversationTurn(role: "assistant", content: "a\(index)"),
                        ],
                        to: loaded)
                }
            }
        }
        let final = try await store.load(thread.threadID)
        #expect(final.turns.count == 18, "every exchange kept: \(final.turns.map(\.content))")
        for index in 0..<8 { #expect(final.turns.contains { $0.content == "q\(index)" }) }
    }

    @Test("a stored conversation keeps its newest turns within the turn and byte bounds; trims are counted")
    func trimmedThreads() async throws {
        let (store, memory) = Self.conversations(maxTurns: 6, maxBytes: 4_000)
        var thread = store.newThread(tool: "chat")
        for index in 0..<10 {
            (thread, _) = await store.append(
                [
                    ConversationTurn(role: "user", content: "question \(index)"),
                    ConversationTurn(role: "assistant", content: "answer \(index)"),
                ], to: thread)
        }
        let stored = try await store.load(thread.threadID)
        #expect(
            stored.turns.map(\.content) == [
                "question 7", "answer 7", "question 8", "answer 8", "question 9", "answer 9",
            ])
        #expect(store.trimmedTurns > 0)
        // Bytes: one 3 KB answer leaves room for little else.
        let big = String(repeating: "b", count: 3_000)
        _ = await store.append(
            [ConversationTurn(role: "user", content: "q"), ConversationTurn(role: "assistant", content: big)],
            to: stored)
        let afterBig = try await store.load(thread.threadID)
        #expect(afterBig.turns.last?.content == big)
        #expect(afterBig.turns.reduce(0) { $0 + $1.content.utf8.count } <= 4_000)
        #expect(memory.bytes < 10_000)
    }
}
