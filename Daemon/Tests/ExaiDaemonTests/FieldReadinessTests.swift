import ExaiDaemon
import ExaiProtocol
import Foundation
import Testing
import Traceline
import TracelineTestSupport

/// The daemon against an independent stand-in for the Kimi/GLM APIs (aiohttp with its default
/// 8 KiB header limits) and against hostile clients.
@Suite(.timeLimit(.minutes(2))) struct RealProviderTests {
    static let standInKey = "standin-key-0123456789"

    /// A daemon whose providers are the stand-in.
    static func harness(
        _ standIn: ProviderStandIn, _ configure: @escaping (inout DaemonConfiguration) -> Void = { _ in }
    ) async throws -> DaemonHarness {
        try await DaemonHarness { configuration in
            configuration.kimi.baseURL = standIn.baseURL
            configuration.kimi.apiKey = standIn.apiKey
            configuration.glm.baseURL = standIn.glmBaseURL
            configuration.glm.apiKey = standIn.apiKey
            configure(&configuration)
        }
    }

    @Test("24 KB and 200 KB prompts succeed against 8 KiB header limits; no client text in any header")
    func longPrompts() async throws {
        let standIn = try await ProviderStandIn.start(apiKey: Self.standInKey)
        defer { standIn.stop() }
        let harness = try await Self.harness(standIn)
        let client = try await harness.session()
        for (index, size) in [24 * 1024, 200 * 1024].enumerated() {
            let marker = "PROMPTMARK\(index)"
            let prompt = marker + String(repeating: "review this line of code; ", count: size / 26)
            let model = index == 0 ? "glm-4.5-flash" : "kimi-k2-0905-preview"
            // 1.5 is outside both providers' range: the daemon clamps it rather than have the call refused.
            let arguments = JSONValue.object([
                ("prompt", .string(prompt)), ("model", .string(model)), ("temperature", 1.5),
            ]).serialized
            let frames = try await client.call("long-\(index)", "chat", arguments)
            let result = try #require(frames.last)
            #expect(result["error"] == nil, "\(size)-byte prompt: \(result.serialized.prefix(300))")
            #expect(result["text"]?.stringValue?.contains("Stand-in reply") == true)
        }
        let requests = try standIn.requests()
        #expect(requests.count == 2)
        for request in requests {
            #expect(request.status == 200)
            #expect(request.headerBytes < 2048, "header bytes: \(request.headerBytes)")
            for (name, value) in request.headers {
                #expect(
                    !value.contains("PROMPTMARK") && !value.contains("review this line"),
                    "client text in header \(name)")
            }
            let key = try #require(request.header("Idempotency-Key"))
            #expect(
                key.utf8.count == 32 && key.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
            )
        }
        #expect(requests[0].header("Idempotency-Key") != requests[1].header("Idempotency-Key"), "one key per call")
        client.close()
        await harness.stop()
    }

    @Test(
        "an unknown model is refused without a provider call, naming the accepted ones; 200 made-up names add no series"
    )
    func unknownModels() async throws {
        let standIn = try await ProviderStandIn.start(apiKey: Self.standInKey)
        defer { standIn.stop() }
        let harness = try await Self.harness(standIn) {
            $0.sessionRate = .init(capacity: 1000, perSecond: 1000); $0.ipRate = .init(capacity: 1000, perSecond: 1000)
        }
        let client = try await harness.session()
        let first = try await client.call("m0", "chat", #"{"prompt":"hi","model":"glm-made-up-0"}"#)
        let message = try #require(first.last?["error"]?["message"]?.stringValue)
        #expect(first.last?["error"]?["code"]?.stringValue == "EXEC_ERROR")
        #expect(message.contains(#"unknown model "glm-made-up-0""#))
        #expect(message.contains("glm-4.5-flash") && message.contains("kimi-k2-0905-preview"), "\(message)")
        for index in 1..<200 {
            let frames = try await client.call("m\(index)", "chat", #"{"prompt":"hi","model":"glm-made-up-\#(index)"}"#)
            #expect(frames.last?["error"]?["code"]?.stringValue == "EXEC_ERROR")
        }
        #expect(try standIn.requests().isEmpty, "no provider call for an unknown model")
        let metrics = harness.daemon.registry.render(format: .prometheusText)
        let spanNames = Set(
            metrics.split(separator: "\n").filter { $0.hasPrefix("traces_span_metrics_calls_total{") }.compactMap {
                line in
                line.range(of: #"span_name=""#).map { String(line[$0.upperBound...].prefix { $0 != "\"" }) }
            })
        #expect(spanNames.isSubset(of: ["GET /", "call_tool chat"]), "span-metrics series: \(spanNames)")
        #expect(!metrics.contains("made-up"))
        #expect(metrics.split(separator: "\n").allSatisfy { $0.utf8.count < 300 }, "no long /metrics lines")
        // The same model name, configured, is accepted.
        client.close()
        await harness.stop()
        let extended = try await ProviderStandIn.start(apiKey: Self.standInKey, models: ["glm-made-up-7"])
        defer { extended.stop() }
        var environment = ["GLM_MODELS": "glm-made-up-7, bad model!"]
        environment["GLM_API_KEY"] = "x"
        let configured = DaemonConfiguration.fromEnvironment(environment)
        #expect(configured.glm.models.contains("glm-made-up-7"))
        #expect(configured.warnings.contains { $0.hasPrefix("GLM_MODELS") }, "the malformed entry is reported")
        let accepting = try await Self.harness(extended) { $0.glm.models = configured.glm.models }
        let second = try await accepting.session()
        let accepted = try await second.call("ok", "chat", #"{"prompt":"hi","model":"glm-made-up-7"}"#)
        #expect(accepted.last?["error"] == nil, "\(accepted.last?.serialized ?? "")")
        second.close()
        await accepting.stop()
    }

    @Test("a 60 000-character model name is refused at once, and its text reaches no span, log line or label")
    func hugeModelName() async throws {
        let harness = try await DaemonHarness()
        let client = try await harness.session()
        let model = String(repeating: "a1B", count: 20_000)
        let frames = try await client.call("huge", "chat", #"{"prompt":"hi","model":"\#(model)"}"#)
        let message = try #require(frames.last?["error"]?["message"]?.stringValue)
        #expect(message.contains("60000 bytes, not a model name"))
        #expect(message.utf8.count < 1024)
        let spans = harness.exporter.spans
        #expect(!spans.contains { $0.name.contains("a1Ba1B") })
        #expect(
            spans.allSatisfy { span in
                var long = false
                span.attributes.forEach { _, value in if "\(value)".utf8.count > 1024 { long = true } }
                return !long
            })
        #expect(!harness.logs.records.contains { $0.line.contains("a1Ba1Ba1B") })
        client.close()
        await harness.stop()
    }

    @Test("CR/LF in request_id is refused; no log record carries a line break")
    func requestIDInjection() async throws {
        let harness = try await DaemonHarness()
        let client = try await harness.session()
        client.send(
            #"{"op":"call_tool","request_id":"r1\r\n2026-01-01 critical forged line","name":"chat","arguments":{"prompt":"x"}}"#
        )
        let reply = try await client.receive()
        #expect(reply.op == "error")
        #expect(reply["message"]?.stringValue?.hasPrefix("invalid_message: request_id must be") == true)
        let long = String(repeating: "x", count: 1_000_000)
        client.send(#"{"op":"call_tool","request_id":"\#(long)","name":"version"}"#)
        #expect(try await client.receive().op == "error")
        let frames = try await client.call("fine-1", "version")
        #expect(frames.last?["error"] == nil)
        for record in harness.logs.records {
            #expect(!record.line.contains("\r") && !record.line.contains("\n"), "\(record.line.prefix(200))")
            #expect(!record.line.contains("forged") && !record.line.contains("xxxxxxxxxx"))
        }
        client.close()
        await harness.stop()
    }
}

@Suite(.timeLimit(.minutes(2))) struct HostileClientTests {
    @Test("rotate_token is refused while auth is disabled, and another client still gets in")
    func rotateWithoutAuth() async throws {
        let harness = try await DaemonHarness()
        let attacker = try await harness.session()
        attacker.send(#"{"op":"rotate_token","old":"","new":"mine-now"}"#)
        let reply = try await attacker.receive()
        #expect(reply.op == "rotate_token_res")
        #expect(reply["ok"]?.boolValue == false)
        #expect(reply["error"]?.stringValue == "auth_disabled")
        let other = try await harness.session(token: "")
        other.close()
        attacker.close()
        await harness.stop()
    }

    @Test("with EXAI_TOKEN_ROTATION=false the right old token still cannot rotate, and it keeps working")
    func rotationDisabled() async throws {
        let harness = try await DaemonHarness {
            $0.token = "old-token"
            $0.tokenRotation = false
        }
        let rotator = try await harness.session(token: "old-token")
        rotator.send(#"{"op":"rotate_token","old":"old-token","new":"new-token"}"#)
        let reply = try await rotator.receive()
        #expect(reply["ok"]?.boolValue == false)
        #expect(reply["error"]?.stringValue == "rotation_disabled")
        let other = try await harness.session(token: "old-token")
        other.send(#"{"op":"health"}"#)
        #expect(try await other.receive().op == "health_res")
        other.close()
        rotator.close()
        await harness.stop()
    }

    @Test("after a rotation, sessions that authenticated with the old token are closed with 4003")
    func rotationClosesOldSessions() async throws {
        let harness = try await DaemonHarness { $0.token = "old-token" }
        let rotator = try await harness.session(token: "old-token")
        let bystander = try await harness.session(token: "old-token")
        rotator.send(#"{"op":"rotate_token","old":"old-token","new":"new-token"}"#)
        #expect(try await rotator.receive()["ok"]?.boolValue == true)
        let close = try await bystander.closeFrame()
        #expect(close?.closeCode == .unknown(4003))
        let fresh = try await harness.session(token: "new-token")
        fresh.send(#"{"op":"health"}"#)
        #expect(try await fresh.receive().op == "health_res")
        rotator.send(#"{"op":"health"}"#)
        #expect(try await rotator.receive().op == "health_res", "the rotating session stays")
        fresh.close()
        rotator.close()
        await harness.stop()
    }

    @Test("a 1 MiB hello is closed unparsed, even with the right token; failed hellos are throttled per IP")
    func oversizedHello() async throws {
        let harness = try await DaemonHarness {
            $0.token = "tok"
            $0.failedHelloRate = .init(capacity: 3, perSecond: 0.01)
        }
        let padding = String(repeating: "p", count: 1 << 20)
        let big = try await harness.connect()
        big.send(#"{"op":"hello","token":"tok","padding":"\#(padding)"}"#)
        let ack = try await big.receive()
        #expect(ack["ok"]?.boolValue == false)
        #expect(ack["error"]?.stringValue == "invalid_hello")
        #expect(try await big.closeFrame()?.closeCode == .unknown(4000))
        for _ in 0..<2 {
            let wrong = try await harness.connect()
            wrong.send(#"{"op":"hello","token":"guess"}"#)
            #expect(try await wrong.receive()["error"]?.stringValue == "unauthorized")
            _ = try await wrong.closeFrame()
        }
        // Three failures spent the IP's budget: the next connection is refused at connect, before any hello.
        #expect(try await rawCloseCode(port: harness.port) == 1008, "policy violation")
        #expect(
            harness.daemon.registry.render(format: .prometheusText).contains(
                #"exai_protocol_errors_total{reason="failed_hello_limit"} 1"#))
        await harness.stop()
    }

    @Test("invalid frames spend rate-limit tokens: the limiter runs before parsing")
    func rateLimitBeforeParsing() async throws {
        let harness = try await DaemonHarness { $0.sessionRate = .init(capacity: 3, perSecond: 0.01) }
        let client = try await harness.session()
        for _ in 0..<3 {
            client.send("{not json")
            #expect(try await client.receive()["message"]?.stringValue == "invalid_json")
        }
        client.send("{not json")
        #expect(try await client.receive()["message"]?.stringValue == "rate_limit_exceeded: per-session rate limit")
        client.close()
        await harness.stop()
    }
}

@Suite(.timeLimit(.minutes(2))) struct SampledMetricsTests {
    /// `mcp_requests_total{method="call_tool",endpoint="version",status="success"}` and the SPM calls of `call_tool version`.
    static func counts(_ harness: DaemonHarness) -> (requests: Int, spm: Int) {
        let text = harness.daemon.registry.render(format: .prometheusText)
        func value(_ prefix: String) -> Int {
            text.split(separator: "\n").filter { $0.hasPrefix(prefix) }.compactMap {
                Double($0.split(separator: " ").last ?? "").map(Int.init)
            }.reduce(0, +)
        }
        return (
            value(#"mcp_requests_total{method="call_tool",endpoint="version",status="success"}"#),
            value(#"traces_span_metrics_calls_total{service_name="exai-daemon-test",span_name="call_tool version""#)
        )
    }

    @Test("a client whose parent is not sampled is still counted; nothing of it is exported")
    func unsampledParent() async throws {
        let harness = try await DaemonHarness()
        let client = try await harness.session()
        for index in 0..<20 {
            let meta = #"{"traceparent":"00-\#(String(format: "%032x", index + 1))-00f067aa0ba902b7-00"}"#
            let frames = try await client.call("u\(index)", "version", "{}", meta: meta)
            #expect(frames.last?["error"] == nil)
        }
        try await eventually { Self.counts(harness) == (20, 20) }
        let (requests, spm) = Self.counts(harness)
        #expect(requests == 20)
        #expect(spm == 20)
        #expect(!harness.exporter.spans.contains { $0.name == "call_tool version" }, "unsampled spans are not exported")
        client.close()
        await harness.stop()
    }

    @Test("OTEL_TRACES_SAMPLER=traceidratio 0.1: metrics count every call, the OTLP receiver gets only sampled spans")
    func ratioSampler() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { receiver.stop() }
        var otlp = OTLPExporterConfiguration()
        otlp.endpoint = receiver.endpoint
        let exporter = SpanExporters.otlp(configuration: otlp)
        let harness = try await DaemonHarness(
            exporter: exporter, sampler: ParentBasedSampler(root: TraceIDRatioSampler(ratio: 0.1))
        ) {
            $0.sessionRate = .init(capacity: 1000, perSecond: 1000)
            $0.ipRate = .init(capacity: 1000, perSecond: 1000)
        }
        let client = try await harness.session()
        let calls = 200
        for index in 0..<calls {
            let frames = try await client.call("s\(index)", "version")
            #expect(frames.last?["error"] == nil)
        }
        // The last call's span ends just after its reply is sent.
        try await eventually { Self.counts(harness) == (calls, calls) }
        let (requests, spm) = Self.counts(harness)
        #expect(requests == calls)
        #expect(spm == calls)
        let sampled = harness.exporter.spans.filter { $0.name == "call_tool version" }
        #expect(sampled.count > 0 && sampled.count < calls / 2, "about a tenth sampled: \(sampled.count)")
        #expect(sampled.allSatisfy { $0.spanContext.isSampled })
        _ = await harness.provider.forceFlush(deadline: .now + .seconds(10))
        let received = Set(try receiver.acceptedSpanIDs())
        let sampledIDs = Set(harness.exporter.spans.map { $0.spanContext.spanID.hexString })
        #expect(received == sampledIDs, "the receiver got exactly the sampled spans")
        client.close()
        await harness.stop()
    }
}

/// The exai-daemon executable itself: how it refuses to start.
@Suite(.timeLimit(.minutes(2))) struct DaemonProcessTests {
    static func daemonPath() throws -> String { try builtExecutable("exai-daemon") }

    /// Runs the daemon until it exits (or 20 s pass: then it is killed and that is the failure);
    /// its exit code, or 128 + the signal that ended it.
    static func run(_ environment: [String: String]) async throws -> (status: Int32, stderr: String) {
        let path = try daemonPath()
        return try await offThreadThrowing {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.environment = [
                "PATH": "/usr/bin:/bin", "EXAI_SYNTHETIC_INTERVAL": "0", "OTEL_TRACES_EXPORTER": "none",
            ]
            .merging(environment) { $1 }
            let err = Pipe()
            process.standardError = err
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let pid = process.processIdentifier
            let killer = DispatchWorkItem { kill(pid, SIGKILL) }
            DispatchQueue.global().asyncAfter(deadline: .now() + 20, execute: killer)
            let data = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            killer.cancel()
            let status =
                process.terminationReason == .uncaughtSignal
                ? 128 + process.terminationStatus : process.terminationStatus
            return (status, String(decoding: data, as: UTF8.self))
        }
    }

    @Test("a port that cannot be bound ends the process with a non-zero exit and a clear log line")
    func busyPort() async throws {
        let (listener, busy) = boundSocket(listening: true)
        defer { close(listener) }
        let (status, stderr) = try await Self.run(["EXAI_WS_PORT": "\(busy)", "METRICS_PORT": "0"])
        #expect(status == 1, "exit code 1, not a crash or the 20 s guard: \(status)")
        #expect(stderr.contains("listener stopped") || stderr.contains("exiting"), "\(stderr.suffix(600))")
        #expect(
            stderr.lowercased().contains("address already in use") || stderr.contains("bind"), "\(stderr.suffix(600))")
    }

    @Test("a non-loopback address without EXAI_WS_TOKEN refuses to start; the opt-out starts with a warning")
    func unauthenticatedOnNetwork() async throws {
        let (status, stderr) = try await Self.run(["EXAI_WS_HOST": "0.0.0.0", "EXAI_WS_PORT": "0", "METRICS_PORT": "0"])
        #expect(status == 1, "\(status)")
        #expect(stderr.contains("EXAI_WS_TOKEN is empty"))
        #expect(
            DaemonConfiguration.fromEnvironment(["EXAI_WS_HOST": "0.0.0.0", "EXAI_ALLOW_UNAUTHENTICATED": "true"])
                .startupRefusal == nil)
        #expect(
            DaemonConfiguration.fromEnvironment(["EXAI_WS_HOST": "0.0.0.0", "EXAI_WS_TOKEN": "t"]).startupRefusal == nil
        )
        #expect(DaemonConfiguration.fromEnvironment(["EXAI_WS_HOST": "127.0.0.2"]).startupRefusal == nil)
        #expect(DaemonConfiguration.fromEnvironment(["EXAI_WS_HOST": "::"]).startupRefusal != nil)
        #expect(DaemonConfiguration.fromEnvironment(["EXAI_WS_HOST": "127.0.0.1.evil.example"]).startupRefusal != nil)
    }
}

/// Bounds on time and memory a hostile or busy client could push: run alone by the test command
/// (suites named `*Timing*`), outside the parallel and sanitizer runs.
@Suite(.serialized, .timeLimit(.minutes(6))) struct FieldTimingTests {
    @Test("a 60 000-character model name is answered in < 100 ms while /livez stays fast")
    func hugeModelNameIsFast() async throws {
        let harness = try await DaemonHarness()
        let client = try await harness.session()
        let model = String(repeating: "a1B", count: 20_000)
        _ = try await client.call("warm", "version")
        let start = ContinuousClock.now
        let frames = try await client.call("huge", "chat", #"{"prompt":"hi","model":"\#(model)"}"#)
        let elapsed = ContinuousClock.now - start
        #expect(frames.last?["error"]?["code"]?.stringValue == "EXEC_ERROR")
        #expect(elapsed < .milliseconds(100), "refused in \(elapsed)")
        let livezStart = ContinuousClock.now
        #expect(try await httpGet("http://127.0.0.1:\(harness.port)/livez").status == 200)
        #expect(ContinuousClock.now - livezStart < .milliseconds(100))
        client.close()
        await harness.stop()
    }

    /// Resident set size of process `pid`, in bytes.
    static func residentBytes(_ pid: Int32) throws -> Int {
        let text = try String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8)
        let pages = Int(text.split(separator: " ")[1]) ?? 0
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    @Test(
        "after a warm-up, 10 000 connect/hello/close cycles grow the daemon's resident set by less than 1 MiB (the better of two windows)"
    )
    func connectionChurn() async throws {
        // The daemon in its own process, so the test's own allocations are not counted. glibc's
        // default of up to 8 arenas per core keeps RSS climbing for some 15 000 connections with no
        // leak at all (each new arena warms up); two arenas let the measurement see leaks only.
        let port = freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try DaemonProcessTests.daemonPath())
        process.environment = [
            "PATH": "/usr/bin:/bin", "EXAI_WS_PORT": "\(port)", "METRICS_PORT": "0", "EXAI_SYNTHETIC_INTERVAL": "0",
            "OTEL_TRACES_EXPORTER": "none", "MAX_CONNECTIONS_PER_IP": "100000", "RATE_LIMIT_PER_IP": "1000000/1000000",
            "RATE_LIMIT_GLOBAL": "1000000/1000000", "MALLOC_ARENA_MAX": "2",
        ]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let pid = process.processIdentifier
        defer {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        let url = "ws://127.0.0.1:\(port)/"
        var ready = false
        for _ in 0..<200 where !ready {
            ready = (try? await httpGet("http://127.0.0.1:\(port)/livez").status) == 200
            if !ready { try await Task.sleep(for: .milliseconds(50)) }
        }
        try #require(ready, "the daemon did not start")
        func cycles(_ count: Int) async throws {
            for _ in 0..<count {
                let client = try await TestClient.connect(url: url)
                client.send(#"{"op":"hello","token":""}"#)
                #expect(try await client.receive()["ok"]?.boolValue == true)
                client.close()
                _ = try await client.closeFrame()
            }
            // Let the daemon finish closing the last sessions before a measurement.
            try await Task.sleep(for: .milliseconds(500))
        }
        try await cycles(10_000)
        // Two windows of 10 000 connections: a leak of 105 bytes or more per connection grows the
        // set by 1 MiB in each; the allocator settling (a page or two of arena growth) shows in
        // one window at most, so the smaller growth is the one compared.
        var samples = [try Self.residentBytes(pid)]
        for _ in 0..<2 {
            try await cycles(10_000)
            samples.append(try Self.residentBytes(pid))
        }
        let growths = zip(samples.dropFirst(), samples).map { $0 - $1 }
        #expect(
            growths.min()! < 1 << 20, "the daemon's RSS grew by \(growths) bytes over two windows of 10 000 connections"
        )
        let metrics = try await httpGet("http://127.0.0.1:\(port)/metrics").body
        #expect(metrics.contains("mcp_active_connections 0"), "every connection closed")
    }
}
