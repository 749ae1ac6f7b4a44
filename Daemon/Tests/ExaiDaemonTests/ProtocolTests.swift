import ExaiDaemon
import Foundation
import ProviderSim
import Testing
import Traceline

@Suite(.timeLimit(.minutes(2))) struct HandshakeTests {
    @Test("hello: ack with a session id; every frame carries the connection's correlation ID")
    func hello() async throws {
        let harness = try await DaemonHarness()
        let client = try await harness.connect(headers: ["X-Correlation-ID": "corr-hello-1"])
        client.send(#"{"op":"hello","token":"","session_id":"ignored"}"#)
        let ack = try await client.receive()
        #expect(ack.op == "hello_ack")
        #expect(ack["ok"]?.boolValue == true)
        #expect((ack["session_id"]?.stringValue?.count ?? 0) == 36)
        #expect(ack["correlation_id"]?.stringValue == "corr-hello-1")
        client.send(#"{"op":"list_tools"}"#)
        let tools = try await client.receive()
        #expect(tools.op == "list_tools_res")
        #expect(
            tools["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["chat", "listmodels", "version"])
        #expect(tools["tools"]?.arrayValue?.first?["inputSchema"]?["type"]?.stringValue == "object")
        #expect(tools["correlation_id"]?.stringValue == "corr-hello-1")
        client.close()
        await harness.stop()
    }

    @Test("hello failures: 4000 invalid, 4003 unauthorized (the token is checked first), 4001 missing, 4002 timeout")
    func helloFailures() async throws {
        let harness = try await DaemonHarness {
            $0.token = "s3cret-token"; $0.helloTimeout = .milliseconds(1500);
            $0.failedHelloRate = .init(capacity: 100, perSecond: 1)
        }
        let cases: [(String?, String?, UInt16)] = [
            ("not json", "invalid_hello", 4000),
            (#"{"op":"list_tools","token":"s3cret-token"}"#, "missing_hello", 4001),
            (#"{"op":"list_tools"}"#, "unauthorized", 4003),
            (#"{"op":"hello","token":"wrong"}"#, "unauthorized", 4003),
            (#"{"op":"hello","token":"s3cret-toke"}"#, "unauthorized", 4003),
            (nil, nil, 4002),
        ]
        for (frame, error, code) in cases {
            let client = try await harness.connect()
            if let frame {
                client.send(frame)
                let ack = try await client.receive()
                #expect(ack.op == "hello_ack")
                #expect(ack["ok"]?.boolValue == false)
                #expect(ack["error"]?.stringValue == error)
            }
            let close = try await client.closeFrame()
            #expect(close?.closeCode == .unknown(code), "\(frame ?? "no hello"): \(String(describing: close))")
        }
        let good = try await harness.session(token: "s3cret-token")
        good.close()
        #expect(!harness.logs.records.map(\.line).joined().contains("s3cret"), "no token (or prefix) in logs")
        await harness.stop()
    }

    @Test("the 101 response echoes the correlation ID; a hostile one is replaced")
    func upgradeEchoesCorrelation() async throws {
        let harness = try await DaemonHarness()
        let echoed = try await rawUpgrade(port: harness.port, extraHeaders: "X-Correlation-ID: order-77\r\n")
        #expect(echoed.status == 101)
        #expect(echoed.headers["x-correlation-id"] == "order-77")
        let replaced = try await rawUpgrade(
            port: harness.port, extraHeaders: "X-Correlation-ID: bad value;<script>\r\n")
        #expect(replaced.status == 101)
        let generated = try #require(replaced.headers["x-correlation-id"])
        #expect(generated != "bad value;<script>")
        #expect(generated.count == 36)
        await harness.stop()
    }

    @Test("connection limits close with 1008; the active-connections gauge goes up and down")
    func connectionLimits() async throws {
        let harness = try await DaemonHarness { $0.maxConnectionsPerIP = 2 }
        let first = try await harness.session()
        let second = try await harness.session()
        #expect(harness.daemon.activeConnections == 2)
        #expect(try await rawCloseCode(port: harness.port) == 1008, "policy violation")
        #expect(harness.daemon.registry.render(format: .prometheusText).contains("mcp_active_connections 2"))
        first.close()
        second.close()
        _ = try await first.closeFrame()
        _ = try await second.closeFrame()
        try await eventually { harness.daemon.activeConnections == 0 }
        #expect(harness.daemon.registry.render(format: .prometheusText).contains("mcp_active_connections 0"))
        #expect(harness.daemon.registry.render(format: .prometheusText).contains("exai_connections_rejected_total 1"))
        await harness.stop()
    }
}

@Suite(.timeLimit(.minutes(2))) struct MessageTests {
    @Test("bad frames: invalid_json, invalid_message, Unknown op, binary")
    func badFrames() async throws {
        let harness = try await DaemonHarness()
        let client = try await harness.session()
        let cases: [(String, String)] = [
            ("{not json", "invalid_json"),
            ("[1,2]", "invalid_message: expected a JSON object"),
            (#"{"no_op":1}"#, "invalid_message: missing string field op"),
            (#"{"op":"call_tool"}"#, "invalid_message: call_tool needs a non-empty string name"),
            (#"{"op":"call_tool","name":"chat","request_id":5}"#, "invalid_message: request_id must be a string"),
            (#"{"op":"call_tool","name":"chat","arguments":"x"}"#, "invalid_message: arguments must be an object"),
            (#"{"op":"frobnicate"}"#, "Unknown op: frobnicate"),
        ]
        for (frame, message) in cases {
            client.send(frame)
            let reply = try await client.receive()
            #expect(reply.op == "error", "\(frame)")
            #expect(reply["message"]?.stringValue == message, "\(frame)")
            #expect(reply["correlation_id"]?.stringValue != nil)
        }
        client.sendBinary([1, 2, 3])
        #expect(
            try await client.receive()["message"]?.stringValue == "invalid_message: binary frames are not supported")
        client.send(#"{"op":"health"}"#)
        let health = try await client.receive()
        #expect(health.op == "health_res", "the session survives bad frames")
        #expect(health["health"]?["sessions"]?.numberValue == 1)
        #expect(health["health"]?["tool_count"]?.numberValue == 3)
        #expect(health["health"]?["global_capacity"]?.numberValue == 24)
        client.close()
        await harness.stop()
    }

    @Test("rate limiting: the session's bucket runs out; the error names it")
    func rateLimit() async throws {
        let harness = try await DaemonHarness { $0.sessionRate = .init(capacity: 3, perSecond: 0.001) }
        let client = try await harness.session()
        for _ in 0..<3 {
            client.send(#"{"op":"health"}"#)
            #expect(try await client.receive().op == "health_res")
        }
        client.send(#"{"op":"health"}"#)
        let limited = try await client.receive()
        #expect(limited.op == "error")
        #expect(limited["message"]?.stringValue == "rate_limit_exceeded: per-session rate limit")
        client.close()
        await harness.stop()
    }

    @Test("rotate_token: missing_params, unauthorized, then the new token is the one hello needs")
    func rotateToken() async throws {
        let harness = try await DaemonHarness { $0.token = "old-token" }
        let client = try await harness.session(token: "old-token")
        client.send(#"{"op":"rotate_token","old":"old-token"}"#)
        #expect(try await client.receive()["error"]?.stringValue == "missing_params")
        client.send(#"{"op":"rotate_token","old":"guess","new":"mine"}"#)
        let refused = try await client.receive()
        #expect(refused.op == "rotate_token_res")
        #expect(refused["ok"]?.boolValue == false)
        #expect(refused["error"]?.stringValue == "unauthorized")
        client.send(#"{"op":"rotate_token","old":"old-token","new":"new-token"}"#)
        #expect(try await client.receive()["ok"]?.boolValue == true)
        let stale = try await harness.connect()
        stale.send(#"{"op":"hello","token":"old-token"}"#)
        #expect(try await stale.receive()["error"]?.stringValue == "unauthorized")
        _ = try await harness.session(token: "new-token")
        let lines = harness.logs.records.map(\.line).joined(separator: "\n")
        for secret in ["old-token", "new-token", "guess"] { #expect(!lines.contains(secret)) }
        await harness.stop()
    }
}

@Suite(.timeLimit(.minutes(2))) struct CallToolTests {
    @Test("chat: accepted progress, one ack with the timeout, then outputs and text")
    func chat() async throws {
        let harness = try await DaemonHarness()
        let client = try await harness.session(headers: ["X-Correlation-ID": "corr-chat"])
        let frames = try await client.call("r1", "chat", #"{"prompt":"hello there","model":"glm-4.5-flash"}"#)
        #expect(frames.map { $0.op ?? "" } == ["progress", "call_tool_ack", "call_tool_res"])
        #expect(frames[0]["note"]?.stringValue == "accepted, awaiting provider/session capacity")
        #expect(frames[1]["accepted"]?.boolValue == true)
        #expect(frames[1]["timeout"]?.numberValue == 67)
        #expect(frames[1]["name"]?.stringValue == "chat")
        let result = frames[2]
        #expect(result["error"] == nil)
        let text = try #require(result["outputs"]?.arrayValue?.first?["text"]?.stringValue)
        #expect(result["text"]?.stringValue == text)
        let output = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(output["status"]?.stringValue == "success")
        #expect(output["content"]?.stringValue == "Simulated reply from glm-4.5-flash: hello there")
        #expect(output["metadata"]?["provider"]?.stringValue == "glm")
        #expect(output["metadata"]?["usage"]?["input_tokens"]?.numberValue == 7)
        for frame in frames { #expect(frame["correlation_id"]?.stringValue == "corr-chat") }
        #expect(harness.simulator.received.map(\.path) == ["/api/paas/v4/chat/completions"])

        // Kimi models go to Kimi; IDE suffixes are stripped; unknown tools are named in the error.
        let kimi = try await client.call("r2", "chat_EXAI-WS", #"{"prompt":"hi","model":"kimi-k2-0905-preview"}"#)
        #expect(kimi.last?["outputs"] != nil)
        #expect(harness.simulator.received.last?.path == "/v1/chat/completions")
        let missing = try await client.call("r3", "nope-EXAI_WS")
        #expect(missing.count == 1)
        #expect(missing[0]["error"]?["code"]?.stringValue == "TOOL_NOT_FOUND")
        #expect(missing[0]["error"]?["message"]?.stringValue == "Unknown tool: nope-EXAI_WS")
        let version = try await client.call("r4", "version")
        #expect(version.last?["text"]?.stringValue?.contains("exai-daemon") == true)
        let badModel = try await client.call("r5", "chat", #"{"prompt":"x","model":"gpt-9"}"#)
        #expect(badModel.last?["error"]?["code"]?.stringValue == "EXEC_ERROR")
        let badModelMessage = try #require(badModel.last?["error"]?["message"]?.stringValue)
        #expect(
            badModelMessage.hasPrefix(#"unknown model "gpt-9"; accepted models: KIMI: kimi-k2-0905-preview"#),
            "\(badModelMessage)")
        client.close()
        await harness.stop()
    }

    @Test("gates: OVER_CAPACITY with retry_after when the provider's or the global gate is full")
    func overCapacity() async throws {
        let harness = try await DaemonHarness(simulator: .init(latency: .seconds(2))) {
            $0.glmMaxInflight = 1; $0.globalMaxInflight = 2
        }
        let client = try await harness.session()
        client.send(
            #"{"op":"call_tool","request_id":"a","name":"chat","arguments":{"prompt":"one","model":"glm-4.5"}}"#)
        _ = try await client.receive(until: { $0.op == "call_tool_ack" })
        let second = try await client.call("b", "chat", #"{"prompt":"two","model":"glm-4.5"}"#)
        let error = try #require(second.last?["error"])
        #expect(error["code"]?.stringValue == "OVER_CAPACITY")
        #expect(error["message"]?.stringValue == "GLM concurrency limit reached; retry soon")
        #expect(error["retry_after"]?.numberValue == 1)
        client.send(
            #"{"op":"call_tool","request_id":"c","name":"chat","arguments":{"prompt":"three","model":"kimi-latest"}}"#)
        let third = try await client.receive(until: { $0.op == "call_tool_ack" || $0["error"] != nil })
        #expect(third.last?.op == "call_tool_ack", "Kimi has its own gate")
        let fourth = try await client.call("d", "version")
        #expect(fourth.last?["error"]?["message"]?.stringValue == "Global concurrency limit reached; retry soon")
        let rest = try await client.receive(
            until: { $0.op == "call_tool_res" && $0["request_id"]?.stringValue == "c" }, timeout: .seconds(5))
        #expect(rest.last?["outputs"] != nil)
        // "a" ends about when "c" does, but its GLM slot comes back only once its handler has
        // returned: ask again until it is free (a slot that never comes back fails after 10 s).
        var afterwards: [JSONValue] = []
        let giveUp = ContinuousClock.now + .seconds(10)
        for attempt in 1... {
            afterwards = try await client.call("e\(attempt)", "chat", #"{"prompt":"again","model":"glm-4.5"}"#)
            let busy = afterwards.last?["error"]?["code"]?.stringValue == "OVER_CAPACITY"
            if !busy || ContinuousClock.now >= giveUp { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(afterwards.last?["outputs"] != nil, "slots come back")
        client.close()
        await harness.stop()
    }

    @Test(
        "de-duplication: same request id → still processing, then the cached result; same call under another id → DUPLICATE"
    )
    func deduplication() async throws {
        // The first call is held for 4 s: x1's resend and x2 must both arrive while it runs (with
        // 2 s, a loaded machine once let x1 finish first and x2's call read x1's result).
        let harness = try await DaemonHarness(simulator: .init(latency: .seconds(4)))
        let client = try await harness.session()
        client.send(
            #"{"op":"call_tool","request_id":"x1","name":"chat","arguments":{"prompt":"same","model":"glm-4.5"}}"#)
        _ = try await client.receive(until: { $0.op == "call_tool_ack" })
        client.send(
            #"{"op":"call_tool","request_id":"x1","name":"chat","arguments":{"prompt":"same","model":"glm-4.5"}}"#)
        let again = try await client.receive()
        #expect(again.op == "progress")
        #expect(again["note"]?.stringValue == "duplicate request; still processing")
        let duplicate = try await client.call("x2", "chat", #"{"model":"glm-4.5","prompt":"same"}"#)
        #expect(duplicate.last?["error"]?["code"]?.stringValue == "DUPLICATE")
        #expect(duplicate.last?["error"]?["original_request_id"]?.stringValue == "x1")
        let first = try await client.receive(until: { $0.op == "call_tool_res" })
        #expect(first.last?["request_id"]?.stringValue == "x1")
        let resent = try await client.call("x1", "chat", #"{"prompt":"same","model":"glm-4.5"}"#)
        #expect(resent.count == 1, "a cached result is re-sent without running")
        #expect(resent[0]["outputs"] == first.last?["outputs"])
        #expect(harness.simulator.received.count == 1)
        client.close()
        await harness.stop()
    }

    @Test("the deadline: TIMEOUT, heartbeats while waiting, and the provider request is cancelled")
    func timeout() async throws {
        let harness = try await DaemonHarness(simulator: .init(latency: .seconds(10))) {
            $0.callTimeout = .milliseconds(1500)
            $0.progressInterval = .milliseconds(100)
        }
        let client = try await harness.session()
        let start = ContinuousClock.now
        let frames = try await client.call("slow", "chat", #"{"prompt":"wait","model":"glm-4.5"}"#)
        #expect(ContinuousClock.now - start < .seconds(6), "answered at the deadline, not after the provider's 10 s")
        let error = try #require(frames.last?["error"])
        #expect(error["code"]?.stringValue == "TIMEOUT")
        #expect(error["message"]?.stringValue == "call_tool exceeded 1.5s")
        let heartbeats = frames.filter { $0.op == "progress" && $0["note"] == nil && $0["t"] != nil }
        #expect(heartbeats.count >= 3, "\(heartbeats.count) heartbeats in 1.5 s at 100 ms")
        try await eventually { harness.daemon.inFlightEntries == 0 }
        client.close()
        await harness.stop()
    }

    @Test(
        "provider failures: retries honour Retry-After; a 4xx is EXEC_ERROR; an open breaker answers with a clear error"
    )
    func providerFailures() async throws {
        let harness = try await DaemonHarness(simulator: .init(retryAfterSeconds: 1)) { configuration in
            configuration.glm.breakerFailures = 2
            configuration.glm.breakerCooldown = .seconds(60)
        }
        let client = try await harness.session()
        harness.simulator.script([429, 200])
        let start = ContinuousClock.now
        let retried = try await client.call("r1", "chat", #"{"prompt":"a","model":"glm-4.5"}"#)
        #expect(retried.last?["outputs"] != nil)
        #expect(ContinuousClock.now - start >= .milliseconds(950), "Retry-After: 1 honoured over the 20 ms backoff")
        #expect(harness.simulator.received.suffix(2).map(\.status) == [429, 200])

        harness.simulator.script([400])
        let rejected = try await client.call("r2", "chat", #"{"prompt":"b","model":"glm-4.5"}"#)
        #expect(rejected.last?["error"]?["code"]?.stringValue == "EXEC_ERROR")
        #expect(
            rejected.last?["error"]?["message"]?.stringValue
                == "GLM provider answered HTTP 400: provider-sim answered 400")

        harness.simulator.script(Array(repeating: 503, count: 6))
        for id in ["r3", "r4"] {
            let failed = try await client.call(id, "chat", #"{"prompt":"\#(id)","model":"glm-4.5"}"#)
            #expect(failed.last?["error"]?["message"]?.stringValue?.contains("HTTP 503") == true)
        }
        let open = try await client.call("r5", "chat", #"{"prompt":"c","model":"glm-4.5"}"#)
        let message = try #require(open.last?["error"]?["message"]?.stringValue)
        #expect(open.last?["error"]?["code"]?.stringValue == "EXEC_ERROR")
        #expect(message.contains("circuit breaker open"), "never an empty success: \(message)")
        #expect(open.last?["outputs"] == nil)
        let report = await harness.daemon.health.report()
        #expect(report.entries.first { $0.key == "glm:circuitBreaker" }?.status == .fail)
        #expect(report.httpStatus == 200, "a provider down is not unreadiness")
        #expect(
            harness.daemon.registry.render(format: .prometheusText).contains("circuit_breaker_state{service=\"glm\"} 1")
        )
        client.close()
        await harness.stop()
    }

    @Test("no leak: in-flight entries go back to zero after many calls, and a closed session leaves nothing")
    func noLeak() async throws {
        let harness = try await DaemonHarness { configuration in
            configuration.sessionRate = .init(capacity: 1000, perSecond: 1000)
            configuration.ipRate = .init(capacity: 1000, perSecond: 1000)
            configuration.sessionMaxInflight = 300
            configuration.globalMaxInflight = 300
        }
        let client = try await harness.session()
        for index in 0..<300 {
            client.send(
                #"{"op":"call_tool","request_id":"n\#(index)","name":"\#(index % 2 == 0 ? "version" : "listmodels")","arguments":{"n":\#(index)}}"#
            )
        }
        var results = 0
        while results < 300 {
            if try await client.receive().op == "call_tool_res" { results += 1 }
        }
        try await eventually { harness.daemon.inFlightEntries == 0 }
        #expect(harness.daemon.registry.render(format: .prometheusText).contains("exai_cached_results 300"))
        client.close()
        _ = try await client.closeFrame()
        try await eventually {
            harness.daemon.registry.render(format: .prometheusText).contains("exai_cached_results 0")
        }
        await harness.stop()
    }

    @Test("graceful shutdown: a running call finishes, then the session is closed with 1001")
    func gracefulShutdown() async throws {
        let harness = try await DaemonHarness(simulator: .init(latency: .milliseconds(500)))
        let client = try await harness.session()
        client.send(
            #"{"op":"call_tool","request_id":"last","name":"chat","arguments":{"prompt":"finish me","model":"glm-4.5"}}"#
        )
        _ = try await client.receive(until: { $0.op == "call_tool_ack" })
        let stopping = Task { await harness.stop() }
        let frames = try await client.receive(until: { $0.op == "call_tool_res" })
        #expect(frames.last?["outputs"] != nil, "the in-flight call completed")
        let close = try await client.closeFrame()
        #expect(close?.closeCode == .goingAway)
        await stopping.value
    }
}

/// Polls `condition` for up to `bound`.
///
/// The default bound is for a loaded CI machine, not a promise of the code under test: with every
/// suite in parallel on two cores, a daemon's start-up migration once took longer than 5 s (well
/// under a second alone). A condition that holds returns at once, so a generous bound costs nothing.
func eventually(within bound: Duration = .seconds(30), _ condition: () -> Bool) async throws {
    let end = ContinuousClock.now + bound
    while !condition() {
        guard ContinuousClock.now < end else {
            Issue.record("condition not met within \(bound)")
            return
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}
