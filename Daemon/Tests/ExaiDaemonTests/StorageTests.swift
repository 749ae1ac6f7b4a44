import ExaiDaemon
import Foundation
import Logging
import Testing
import Traceline
import TracelineTestSupport
import Tracing

@Suite(.timeLimit(.minutes(2))) struct StorageBackendTests {
    func crud(_ backend: any StorageBackend) async throws {
        let key = "thread:\(UUID().uuidString)"
        #expect(try await backend.get(key) == nil)
        try await backend.set(key, Array("one".utf8), ttl: .seconds(60))
        #expect(try await backend.get(key) == Array("one".utf8))
        try await backend.set(key, [0, 255, 10, 0], ttl: .seconds(60))
        #expect(try await backend.get(key) == [0, 255, 10, 0], "binary-safe")
        #expect(try await backend.delete(key))
        #expect(try await backend.get(key) == nil)
        #expect(try await backend.delete(key) == false)
        // A second of margin: the parallel stage on two cores can hold a task for hundreds of ms.
        try await backend.set(key, Array("short".utf8), ttl: .seconds(1))
        #expect(try await backend.get(key) != nil)
        try await Task.sleep(for: .milliseconds(1200))
        #expect(try await backend.get(key) == nil, "expired")
        try await backend.ping()
    }

    @Test("memory: CRUD, TTL expiry and the size bound")
    func memory() async throws {
        try await crud(MemoryStorage())
        let bounded = MemoryStorage(maxEntries: 3)
        for index in 0..<5 { try await bounded.set("k\(index)", [UInt8(index)], ttl: .seconds(60 + index)) }
        #expect(bounded.count == 3)
        #expect(try await bounded.get("k4") == [4], "the newest stays")
        #expect(try await bounded.get("k0") == nil, "the soonest to expire went first")
    }

    @Test("redis: CRUD and TTL on a real redis-server, password and database index from the URL")
    func redis() async throws {
        let server = try await RedisServerProcess.launch(password: "p@ss word")
        defer { server.stop() }
        let url = "redis://:p%40ss%20word@127.0.0.1:\(server.port)/3"
        let configuration = try RedisStorage.Configuration.parse(url)
        #expect(configuration.database == 3)
        #expect(configuration.password == "p@ss word")
        let backend = RedisStorage(configuration: configuration)
        try await crud(backend)
        try await backend.set("thread:db3", Array("x".utf8), ttl: .seconds(60))
        let databaseZero = RedisStorage(
            configuration: try RedisStorage.Configuration.parse("redis://:p%40ss%20word@127.0.0.1:\(server.port)/0"))
        #expect(try await databaseZero.get("thread:db3") == nil, "written to database 3")
        let wrong = RedisStorage(
            configuration: try RedisStorage.Configuration.parse("redis://:nope@127.0.0.1:\(server.port)"))
        await #expect(throws: StorageError.self) { try await wrong.ping() }
        do { try await wrong.ping() } catch { #expect(!"\(error)".contains("nope"), "no password in errors: \(error)") }
        #expect(throws: StorageError.self) { try RedisStorage.Configuration.parse("rediss://host") }
        await backend.shutdown()
        await databaseZero.shutdown()
        await wrong.shutdown()
    }

    @Test("redis restarted mid-run: errors counted, the breaker opens and fails fast, then recovers")
    func redisRestart() async throws {
        let server = try await RedisServerProcess.launch()
        defer { server.stop() }
        var configuration = try RedisStorage.Configuration.parse(server.url)
        configuration.commandTimeout = .milliseconds(500)
        let exporter = InMemorySpanExporter()
        let tracer = TracerProvider(processors: [SpanProcessors.simple(exporter: exporter)]).tracer()
        let backend = RedisStorage(configuration: configuration)
        let storage = InstrumentedStorage(
            backend: backend, tracer: tracer,
            breaker: .init(failureThreshold: 5, cooldown: .milliseconds(500)))
        try await storage.set("thread:a", [1], ttl: .seconds(60))
        server.stop()
        for _ in 0..<5 { await #expect(throws: StorageError.self) { _ = try await storage.get("thread:a") } }
        #expect(storage.breaker.currentState == .open)
        let start = ContinuousClock.now
        await #expect(throws: StorageError.circuitOpen(backend: "redis")) { _ = try await storage.get("thread:a") }
        // Well under the 500 ms command timeout; the bound leaves room for a loaded CI machine.
        #expect(ContinuousClock.now - start < .milliseconds(250), "fails fast while open")
        try await server.restart()
        try await Task.sleep(for: .milliseconds(600))
        try await storage.set("thread:b", [2], ttl: .seconds(60))
        #expect(try await storage.get("thread:b") == [2])
        #expect(storage.breaker.currentState == .closed)
        let failures = exporter.spans.filter { $0.attributes["exai.result"]?.toSpanAttribute() == .string("error") }
        #expect(failures.count == 6, "five failures and one refusal, each a span")
        #expect(exporter.spans.first?.name == "SET thread")
        #expect(exporter.spans.first?.kind == .client)
        #expect(exporter.spans.first?.attributes["db.system.name"]?.toSpanAttribute() == .string("redis"))
        #expect(
            exporter.spans.allSatisfy { span in !"\(span.attributes)".contains("thread:a") }, "never the key or value")
        await backend.shutdown()  // its thread pool (LeakSanitizer reports a pool never shut down)
    }
}

@Suite(.timeLimit(.minutes(2))) struct SupabaseTests {
    @Test("migrations from empty, then re-run: idempotent, with the cascade and the index")
    func migrations() async throws {
        let url = try await TestPostgres.makeDatabase()
        let supabase = try SupabasePersistence(url: url, tracer: NoOpTracer(), logger: Logger(label: "test"))
        let running = Task { await supabase.run() }
        defer { running.cancel() }
        #expect(try await supabase.migrate() == 1)
        #expect(try await supabase.migrate() == 0, "re-running applies nothing")
        #expect(try await supabase.schemaVersion() == 1)
        #expect(
            try await TestPostgres.psql(
                url, "SELECT confdeltype FROM pg_constraint WHERE conrelid = 'messages'::regclass AND contype = 'f'")
                == "c")
        #expect(
            try await TestPostgres.psql(
                url, "SELECT count(*) FROM pg_indexes WHERE indexname = 'messages_conversation_order'") == "1")
        try await supabase.persist(
            continuationID: "conv-1", title: "hello",
            turns: [
                ConversationTurn(role: "user", content: "hi"),
                ConversationTurn(
                    role: "assistant", content: "hello", provider: "glm", model: "glm-4.5", inputTokens: 3,
                    outputTokens: 2),
            ])
        let turns = try #require(try await supabase.loadTurns(continuationID: "conv-1"))
        #expect(turns.map(\.role) == ["user", "assistant"])
        #expect(turns[1].outputTokens == 2)
        #expect(try await supabase.loadTurns(continuationID: "nope") == nil)
        try await TestPostgres.psql(url, "DELETE FROM conversations WHERE continuation_id = 'conv-1'")
        #expect(
            try await TestPostgres.psql(url, "SELECT count(*) FROM messages") == "0",
            "messages go with their conversation")
    }
}

extension SupabaseTests {
    /// A daemon migrates at start while its first chat already writes (which migrates too), and
    /// several daemons may start on one empty database: every one of those calls must succeed.
    /// (`CREATE TABLE IF NOT EXISTS` is not safe against a concurrent create of the same table.)
    @Test("migrations racing on an empty database, in one process and across two: every call succeeds")
    func concurrentMigrations() async throws {
        for round in 0..<4 {
            let url = try await TestPostgres.makeDatabase()
            let daemons = try (0..<2).map { _ in
                try SupabasePersistence(url: url, tracer: NoOpTracer(), logger: Logger(label: "test"))
            }
            let running = daemons.map { daemon in Task { await daemon.run() } }
            defer { running.forEach { $0.cancel() } }
            let failures = await withTaskGroup(of: String?.self) { group in
                for (index, daemon) in daemons.enumerated() {
                    for call in 0..<3 {
                        group.addTask {
                            do {
                                if call == 0 {
                                    try await daemon.migrate()
                                } else {
                                    try await daemon.persist(
                                        continuationID: "round\(round)-\(index)-\(call)", title: "t",
                                        turns: [ConversationTurn(role: "user", content: "hi")])
                                }
                                return nil
                            } catch { return "\(error)" }
                        }
                    }
                }
                var failures: [String] = []
                for await failure in group { if let failure { failures.append(failure) } }
                return failures
            }
            #expect(failures.isEmpty, "round \(round): \(failures)")
            #expect(try await TestPostgres.psql(url, "SELECT count(*) FROM messages") == "4")
            #expect(try await TestPostgres.psql(url, "SELECT count(*) FROM schema_version") == "1")
        }
    }
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct ContinuityTests {
    @Test("continuity across a daemon restart with Redis + Supabase; a store miss falls back to Supabase and re-caches")
    func acrossRestart() async throws {
        let redis = try await RedisServerProcess.launch()
        defer { redis.stop() }
        let database = try await TestPostgres.makeDatabase()
        func configure(_ configuration: inout DaemonConfiguration) {
            configuration.storage = "redis"
            configuration.redisURL = redis.url
            configuration.supabaseURL = database
        }
        let first = try await DaemonHarness(configure)
        let client = try await first.session()
        let frames = try await client.call("c1", "chat", #"{"prompt":"remember the number 42","model":"glm-4.5"}"#)
        let output = try JSONDecoder().decode(
            JSONValue.self, from: Data(try #require(frames.last?["text"]?.stringValue).utf8))
        let continuation = try #require(output["continuation_offer"]?["continuation_id"]?.stringValue)
        #expect(output["metadata"]?["storage_warning"] == nil, "the first exchange was saved: \(output.serialized)")
        client.close()
        await first.stop()

        let second = try await DaemonHarness(configure)
        let again = try await second.session()
        let reply = try await again.call(
            "c2", "chat", #"{"prompt":"what number?","model":"glm-4.5","continuation_id":"\#(continuation)"}"#)
        #expect(reply.last?["outputs"] != nil, "\(reply.last?.serialized ?? "")")
        let secondReply = reply.last?.serialized ?? ""
        #expect(secondReply.contains("storage_warning") == false, "the second exchange was saved: \(secondReply)")
        #expect(
            second.simulator.received.last?.messages == [
                "user: remember the number 42", "assistant: Simulated reply from glm-4.5: remember the number 42",
                "user: what number?",
            ])

        // Redis loses the thread: Supabase has it, and the store gets it back.
        let store = RedisStorage(configuration: try RedisStorage.Configuration.parse(redis.url))
        #expect(try await store.delete("thread:\(continuation)"))
        let third = try await again.call(
            "c3", "chat", #"{"prompt":"and now?","model":"glm-4.5","continuation_id":"\#(continuation)"}"#)
        #expect(third.last?["outputs"] != nil)
        #expect(second.simulator.received.last?.messages.count == 5)
        #expect(try await store.get("thread:\(continuation)") != nil, "re-cached")
        #expect(try await TestPostgres.psql(database, "SELECT count(*) FROM messages") == "6")
        let unknown = try await again.call(
            "c4", "chat", #"{"prompt":"x","model":"glm-4.5","continuation_id":"does-not-exist"}"#)
        #expect(
            unknown.last?["error"]?["message"]?.stringValue
                == "unknown continuation_id does-not-exist: the conversation expired or never existed")
        again.close()
        await store.shutdown()
        await second.stop()
    }

    @Test("a corrupt stored thread: a clear error frame and a log line, and the key is left as it was")
    func corruptThread() async throws {
        let harness = try await DaemonHarness()
        let garbage: [UInt8] = [0xFF, 0x00, 0x7B, 0x22, 0x9F]
        try await harness.daemon.conversations.storage.backend.set("thread:broken-1", garbage, ttl: .seconds(60))
        let client = try await harness.session()
        let frames = try await client.call(
            "x", "chat", #"{"prompt":"go on","model":"glm-4.5","continuation_id":"broken-1"}"#)
        #expect(frames.last?["error"]?["code"]?.stringValue == "EXEC_ERROR")
        #expect(
            frames.last?["error"]?["message"]?.stringValue
                == "the stored conversation broken-1 is corrupt and cannot be continued; start a new one")
        #expect(harness.logs.records.contains { $0.level == .error && $0.message == "stored conversation is corrupt" })
        #expect(
            try await harness.daemon.conversations.storage.backend.get("thread:broken-1") == garbage, "not overwritten")
        #expect(harness.simulator.received.isEmpty, "no provider call on a broken thread")
        client.close()
        await harness.stop()
    }

    @Test("a paused Redis never holds a reply past the call deadline")
    func pausedRedis() async throws {
        let redis = try await RedisServerProcess.launch()
        defer { redis.stop() }
        let harness = try await DaemonHarness {
            $0.storage = "redis"
            $0.redisURL = redis.url
            $0.redisCommandTimeout = .seconds(5)
            $0.callTimeout = .milliseconds(800)
        }
        let client = try await harness.session()
        let first = try await client.call("a", "chat", #"{"prompt":"hi","model":"glm-4.5"}"#)
        let output = try JSONDecoder().decode(
            JSONValue.self, from: Data(try #require(first.last?["text"]?.stringValue).utf8))
        let continuation = try #require(output["continuation_offer"]?["continuation_id"]?.stringValue)
        redis.pause()
        let start = ContinuousClock.now
        let frames = try await client.call(
            "b", "chat", #"{"prompt":"more","model":"glm-4.5","continuation_id":"\#(continuation)"}"#)
        let elapsed = ContinuousClock.now - start
        redis.resume()
        #expect(frames.last?["error"]?["code"]?.stringValue == "TIMEOUT")
        #expect(elapsed < .seconds(3), "answered in \(elapsed): at the 800 ms deadline, not the 5 s Redis timeout")
        client.close()
        await harness.stop()
    }

    @Test("Postgres taken away: /health 503 within the check timeout, then 200 once it is back")
    func postgresOutage() async throws {
        let proxy = try TCPProxy(upstreamPort: TestPostgres.upstreamPort)
        defer { proxy.stop() }
        let database = try await TestPostgres.makeDatabase(port: proxy.port)
        let harness = try await DaemonHarness {
            $0.supabaseURL = database
            $0.supabaseBreaker = .init(failureThreshold: 3, cooldown: .milliseconds(500))
        }
        try await eventually { harness.daemon.conversations.supabase?.isMigrated == true }
        let healthy = try await httpGet("http://127.0.0.1:\(harness.port)/health")
        #expect(healthy.status == 200, "\(healthy.body)")
        #expect(healthy.body.contains(#""supabase":{"enabled":true,"status":"healthy"}"#))
        #expect(healthy.body.contains(#""storage":{"type":"memory","status":"healthy"}"#))

        proxy.stop()
        try await Task.sleep(for: .milliseconds(2100))  // past the health cache
        let start = ContinuousClock.now
        let down = try await httpGet("http://127.0.0.1:\(harness.port)/health")
        #expect(
            ContinuousClock.now - start < .milliseconds(4500),
            "within the 3 s check timeout (plus slack for a loaded machine)")
        #expect(down.status == 503, "\(down.body)")
        #expect(down.body.contains(#""supabase":{"enabled":true,"status":"unhealthy""#))
        #expect(!down.body.contains("traceline:traceline"), "no credentials in health output")

        try proxy.start()
        var status = 0
        let end = ContinuousClock.now + .seconds(15)
        while status != 200, ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(500))
            status = try await httpGet("http://127.0.0.1:\(harness.port)/health").status
        }
        #expect(status == 200, "healthy again after the database came back")
        await harness.stop()
    }
}

@Suite(.timeLimit(.minutes(2))) struct StorageTraceTests {
    @Test(
        "a chat with continuation: storage spans (get, set, insert) under the call_tool span, with the correlation ID; storage metrics move"
    )
    func storageSpans() async throws {
        let database = try await TestPostgres.makeDatabase()
        let harness = try await DaemonHarness { $0.supabaseURL = database }
        try await eventually { harness.daemon.conversations.supabase?.isMigrated == true }
        let client = try await harness.session(headers: ["X-Correlation-ID": "storage-corr"])
        let first = try await client.call("s1", "chat", #"{"prompt":"start","model":"glm-4.5"}"#)
        let output = try JSONDecoder().decode(
            JSONValue.self, from: Data(try #require(first.last?["text"]?.stringValue).utf8))
        let continuation = try #require(output["continuation_offer"]?["continuation_id"]?.stringValue)
        harness.exporter.reset()
        _ = try await client.call(
            "s2", "chat", #"{"prompt":"continue","model":"glm-4.5","continuation_id":"\#(continuation)"}"#)
        client.close()
        // The first call's span may end after its reply (and so after the reset): pick the second by its ID.
        func isSecondCall(_ span: FinishedSpan) -> Bool {
            span.name == "call_tool chat" && span.attributes["exai.request_id"]?.toSpanAttribute() == .string("s2")
        }
        try await eventually { harness.exporter.spans.contains(where: isSecondCall) }
        let spans = harness.exporter.spans
        let call = try #require(spans.first(where: isSecondCall))
        let children = spans.filter { $0.parentSpanID == call.spanContext.spanID }
        // The write re-reads the thread first, so an exchange another call saved meanwhile is kept.
        #expect(
            children.map(\.name) == ["GET thread", "chat glm-4.5", "GET thread", "SET thread", "INSERT messages"],
            "\(children.map(\.name))")
        let get = try #require(children.first)
        #expect(get.kind == .internal, "the in-memory store is INTERNAL")
        #expect(get.attributes["db.system.name"]?.toSpanAttribute() == .string("memory"))
        #expect(get.attributes["exai.cache.result"]?.toSpanAttribute() == .string("hit"))
        let insert = try #require(children.last)
        #expect(insert.kind == .client)
        #expect(insert.attributes["db.system.name"]?.toSpanAttribute() == .string("postgresql"))
        #expect(insert.attributes["db.collection.name"]?.toSpanAttribute() == .string("messages"))
        for span in spans where span.spanContext.traceID == call.spanContext.traceID {
            #expect(span.attributes["correlation_id"]?.toSpanAttribute() == .string("storage-corr"), "\(span.name)")
            #expect(!"\(span.attributes)".contains("continue"), "no values on spans")
        }
        let metrics = harness.daemon.registry.render(format: .prometheusText)
        for series in [
            #"mcp_storage_operations_total{operation="get",backend="memory",result="success"} 2"#,
            #"mcp_storage_operations_total{operation="set",backend="memory",result="success"} 2"#,
            #"mcp_storage_operations_total{operation="insert",backend="supabase",result="success"} 2"#,
            #"mcp_cache_operations_total{operation="get",result="hit"} 2"#,
        ] {
            #expect(metrics.contains(series + ".0\n") || metrics.contains(series + "\n"), "missing: \(series)")
        }
        await harness.stop()
    }
}
