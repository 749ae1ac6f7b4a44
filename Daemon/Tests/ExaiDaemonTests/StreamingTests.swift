import Foundation
import ProviderSim
import Testing
import Traceline
import TracelineTestSupport

@testable import ExaiDaemon

#if canImport(Glibc)
import Glibc
#endif

/// Streamed chat against the independent provider stand-in (its documented SSE format, shaped by
/// flags into slow, stalled, broken and huge streams) and provider-sim.
@Suite(.timeLimit(.minutes(3))) struct StreamingTests {
    static let streamMeta = #"{"stream":true}"#

    static func chunks(_ frames: [JSONValue]) -> [String] {
        frames.filter { $0["op"]?.stringValue == "stream_chunk" }.compactMap { $0["chunk"]?.stringValue }
    }

    /// The chat tool's answer text and metadata from a `call_tool_res`.
    static func answer(_ result: JSONValue) throws -> (content: String, metadata: JSONValue) {
        let text = try #require(
            result["outputs"]?.arrayValue?.first?["text"]?.stringValue, "no output: \(result.serialized.prefix(300))")
        let output = try #require(try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)))
        return (try #require(output["content"]?.stringValue), try #require(output["metadata"]))
    }

    static func metric(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap {
            Double($0.split(separator: " ").last ?? "")
        }
    }

    static func daemonMetrics(_ harness: DaemonHarness) async throws -> String {
        try await httpGet("http://127.0.0.1:\(harness.port)/metrics").body
    }

    @Test("a client that does not ask for a stream sees exactly the frames it saw before streaming")
    func nonStreamingClients() async throws {
        let standIn = try await ProviderStandIn.start(apiKey: RealProviderTests.standInKey)
        defer { standIn.stop() }
        var shapes: [[String]] = []
        for stream in [true, false] {
            let harness = try await RealProviderTests.harness(standIn) { $0.glm.stream = stream }
            let client = try await harness.session()
            let frames = try await client.call("plain", "chat", #"{"prompt":"hello","model":"glm-4.5-flash"}"#)
            shapes.append(
                frames.map { frame in
                    (frame.objectValue ?? []).map(\.0).filter { $0 != "t" }.joined(separator: ",") + ":"
                        + (frame["op"]?.stringValue ?? "")
                })
            #expect(Self.chunks(frames).isEmpty)
            let (content, _) = try Self.answer(try #require(frames.last))
            // A streaming client on a provider that does not stream gets the answer as one chunk.
            let streamed = try await client.call(
                "asked", "chat", #"{"prompt":"hello","model":"glm-4.5-flash"}"#, meta: Self.streamMeta)
            #expect(Self.chunks(streamed).joined() == content)
            client.close()
            await harness.stop()
        }
        #expect(shapes[0] == shapes[1], "streamed upstream: \(shapes[0]); not streamed: \(shapes[1])")
        #expect(
            shapes[0].map { $0.split(separator: ":").last ?? "" } == ["progress", "call_tool_ack", "call_tool_res"])
    }

    @Test(
        "a provider error after chunks were sent is reported without a retry; before any chunk reached a client it is retried"
    )
    func midStreamError() async throws {
        let standIn = try await ProviderStandIn.start(
            apiKey: RealProviderTests.standInKey,
            arguments: ["--stream-chunks", "8", "--stream-delay-ms", "30", "--stream-fail-after", "3"])
        defer { standIn.stop() }
        let harness = try await RealProviderTests.harness(standIn)
        let client = try await harness.session()
        let frames = try await client.call(
            "broken", "chat", #"{"prompt":"hi","model":"glm-4.5-flash"}"#, meta: Self.streamMeta)
        #expect(!Self.chunks(frames).isEmpty)
        let message = frames.last?["error"]?["message"]?.stringValue ?? ""
        #expect(message.contains("stream broke off") && message.contains("overloaded"), "\(message)")
        #expect(try standIn.requests().count == 1, "no retry after text went to the client")
        try standIn.clearRequests()
        let plain = try await client.call("broken-plain", "chat", #"{"prompt":"hi","model":"glm-4.5-flash"}"#)
        #expect(plain.last?["error"] != nil)
        #expect(
            try standIn.requests().count == 3,
            "retried (the harness allows two retries) while nothing had reached the client")
        client.close()
        await harness.stop()
    }

    @Test("provider-sim streams, and its mid-stream failure reaches a streaming client as a broken stream")
    func simulatorStreams() async throws {
        var simulator = ProviderSimulator.Configuration()
        simulator.streamChunks = 4
        let harness = try await DaemonHarness(simulator: simulator)
        let client = try await harness.session()
        let frames = try await client.call(
            "sim", "chat", #"{"prompt":"hello there","model":"glm-4.5-flash"}"#, meta: Self.streamMeta)
        let (content, _) = try Self.answer(try #require(frames.last))
        #expect(Self.chunks(frames).joined() == content && content.contains("hello there"))
        harness.simulator.update { $0.streamFailAfterChunks = 2 }
        harness.simulator.resetReceived()
        let broken = try await client.call(
            "sim-broken", "chat", #"{"prompt":"hello again","model":"glm-4.5-flash"}"#, meta: Self.streamMeta)
        #expect(
            broken.last?["error"]?["message"]?.stringValue?.contains("stream broke off") == true,
            "\(broken.last?.serialized ?? "")")
        #expect(harness.simulator.received.count == 1)
        client.close()
        await harness.stop()
    }
}

/// The streaming tests that assert wall-clock bounds (chunks 200 ms apart, idle and send
/// timeouts, upstream closed within 1 s) or move megabytes: run alone, in the Timing stage.
@Suite(.timeLimit(.minutes(3))) struct StreamingTimingTests {
    @Test(
        "a streamed answer: ≥ 3 chunks, then call_tool_res with their concatenation; usage, finish reason and TTFT from the stream"
    )
    func streamedAnswer() async throws {
        let standIn = try await ProviderStandIn.start(
            apiKey: RealProviderTests.standInKey,
            arguments: ["--stream-chunks", "6", "--stream-delay-ms", "200"])
        defer { standIn.stop() }
        // No coalescing interval: each delta is its own frame unless deltas arrive together.
        let harness = try await RealProviderTests.harness(standIn) { $0.streamChunkInterval = .zero }
        let client = try await harness.session()
        for (index, (model, provider)) in [("glm-4.5-flash", "glm"), ("kimi-k2-0905-preview", "kimi")].enumerated() {
            let prompt = "Review this function, please: " + String(repeating: "x", count: 37 * (index + 1))
            let frames = try await client.call(
                "s\(index)", "chat",
                JSONValue.object([("prompt", .string(prompt)), ("model", .string(model))]).serialized,
                meta: StreamingTests.streamMeta)
            let chunks = StreamingTests.chunks(frames)
            #expect(chunks.count >= 3, "\(model): \(chunks.count) chunks")
            let result = try #require(frames.last)
            #expect(result["error"] == nil, "\(result.serialized.prefix(300))")
            let (content, metadata) = try StreamingTests.answer(result)
            #expect(content.hasPrefix("Stand-in reply"))
            #expect(chunks.joined() == content, "the chunks are the answer, in order")
            let firstChunk = try #require(frames.firstIndex { $0["op"]?.stringValue == "stream_chunk" })
            #expect(
                frames[firstChunk]["request_id"]?.stringValue == "s\(index)"
                    && frames[firstChunk]["correlation_id"]?.stringValue != nil)
            // The stand-in counts tokens as ceil(bytes / 4) of the prompt and of its reply.
            let input = (prompt.utf8.count + 3) / 4, output = (content.utf8.count + 3) / 4
            #expect(metadata["usage"]?["input_tokens"]?.numberValue == Double(input))
            #expect(metadata["usage"]?["output_tokens"]?.numberValue == Double(output))
            #expect(metadata["finish_reason"]?.stringValue == "stop")
            await #expect(throws: (any Error).self, "nothing after call_tool_res") {
                try await client.receive(timeout: .milliseconds(300))
            }

            let span = try #require(harness.exporter.spans.last { $0.name == "chat \(model)" })
            #expect(span.attributes.get("gen_ai.request.stream") == .bool(true))
            #expect(span.attributes.get("gen_ai.usage.input_tokens") == .int64(Int64(input)))
            #expect(span.attributes.get("gen_ai.usage.output_tokens") == .int64(Int64(output)))
            #expect(span.attributes.get("gen_ai.response.finish_reasons") == .stringArray(["stop"]))
            #expect(span.events.map(\.name) == ["gen_ai.first_chunk"])
            guard case .double(let ttft)? = span.attributes.get("gen_ai.response.time_to_first_chunk") else {
                Issue.record("no TTFT on \(span.name)")
                continue
            }
            #expect(ttft > 0 && ttft < 5)
            let deltas = try #require(standIn.streamOutcomes().last)
            #expect(deltas.outcome == "complete")
            #expect(span.attributes.get("exai.stream.chunks") == .int64(Int64(deltas.sent)))

            let views = harness.views.renderFamilies(format: .prometheusText)
            #expect(
                StreamingTests.metric(
                    views, #"mcp_tokens_total{provider="\#(provider)",model="\#(model)",type="output"}"#)
                    == Double(output), "\(views)")
            #expect(
                StreamingTests.metric(
                    views, #"mcp_tokens_total{provider="\#(provider)",model="\#(model)",type="input"}"#)
                    == Double(input))
            #expect(
                StreamingTests.metric(
                    views, #"mcp_api_time_to_first_token_seconds_count{provider="\#(provider)",model="\#(model)"}"#)
                    == 1)
            #expect(
                StreamingTests.metric(views, #"mcp_stream_chunks_total{provider="\#(provider)",model="\#(model)"}"#)
                    == Double(deltas.sent))
        }
        let metrics = try await StreamingTests.daemonMetrics(harness)
        #expect((StreamingTests.metric(metrics, "exai_stream_frames_sent_total") ?? 0) >= 6)
        #expect(StreamingTests.metric(metrics, "exai_stream_dropped_bytes_total") == 0)
        #expect(StreamingTests.metric(metrics, "exai_stream_buffered_bytes") == 0)
        client.close()
        await harness.stop()
    }

    @Test(
        "an idle gap past the idle timeout fails the call clearly, without a retry; a slow but steady stream outlives the first-byte timeout"
    )
    func timeouts() async throws {
        let stalled = try await ProviderStandIn.start(
            apiKey: RealProviderTests.standInKey,
            arguments: ["--stream-chunks", "5", "--stream-gap-after", "2", "--stream-gap-ms", "4000"])
        defer { stalled.stop() }
        let steady = try await ProviderStandIn.start(
            apiKey: RealProviderTests.standInKey,
            arguments: ["--answer-bytes", "300", "--stream-chunks", "30", "--stream-delay-ms", "120"])
        defer { steady.stop() }
        for (standIn, isStalled) in [(stalled, true), (steady, false)] {
            let harness = try await RealProviderTests.harness(standIn) { configuration in
                configuration.glm.timeout = .seconds(2)
                configuration.glm.streamIdleTimeout = .seconds(1)
            }
            let client = try await harness.session()
            let started = ContinuousClock.now
            let frames = try await client.call(
                "t", "chat", #"{"prompt":"hello","model":"glm-4.5-flash"}"#, meta: StreamingTests.streamMeta)
            let elapsed = ContinuousClock.now - started
            let result = try #require(frames.last)
            if isStalled {
                #expect(result["error"]?["code"]?.stringValue == "EXEC_ERROR")
                let message = result["error"]?["message"]?.stringValue ?? ""
                #expect(
                    message.contains("stream stalled") && message.contains("GLM_STREAM_IDLE_TIMEOUT_SECS"), "\(message)"
                )
                #expect(!StreamingTests.chunks(frames).isEmpty, "text before the gap reached the client")
                #expect(try standIn.requests().count == 1, "no retry once text was sent")
                #expect(elapsed < .milliseconds(3500), "failed at the idle timeout, not at the gap's end: \(elapsed)")
                let views = harness.views.renderFamilies(format: .prometheusText)
                #expect(
                    StreamingTests.metric(
                        views, #"mcp_api_calls_total{provider="glm",model="glm-4.5-flash",status="timeout"}"#) == 1)
            } else {
                #expect(result["error"] == nil, "\(result.serialized.prefix(300))")
                #expect(elapsed > .seconds(3), "the stream took \(elapsed), longer than the 2 s first-byte timeout")
                #expect(StreamingTests.chunks(frames).count >= 10)
            }
            client.close()
            await harness.stop()
        }
    }

    /// The largest send buffer Linux autotunes a TCP socket to (the last field of tcp_wmem).
    static func tcpSendBufferMaximum() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_wmem", encoding: .utf8) else { return nil }
        return text.split(whereSeparator: \.isWhitespace).last.flatMap { Int($0) }
    }

    /// Waits up to `limit` for the stand-in to see a stream end.
    static func streamEnd(
        _ standIn: ProviderStandIn, after earlier: Int, limit: Duration = .seconds(5)
    ) async throws -> ProviderStandIn.StreamOutcome {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let outcomes = try standIn.streamOutcomes()
            if outcomes.count > earlier, let outcome = outcomes.last { return outcome }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ClientError(description: "the stand-in saw no stream end within \(limit)")
    }

    @Test(
        "a client that disconnects, or a deadline that passes, closes the provider stream within 1 s; the breaker stays closed"
    )
    func cancellation() async throws {
        let standIn = try await ProviderStandIn.start(
            apiKey: RealProviderTests.standInKey,
            arguments: ["--stream-chunks", "200", "--stream-delay-ms", "50"])
        defer { standIn.stop() }
        let harness = try await RealProviderTests.harness(standIn) { $0.callTimeout = .seconds(2) }
        for disconnect in [true, false] {
            let earlier = try standIn.streamOutcomes().count
            let client = try await harness.session()
            let sentAt: Double
            if disconnect {
                client.send(
                    #"{"op":"call_tool","request_id":"gone","name":"chat","arguments":{"prompt":"hi","model":"glm-4.5-flash"},"_meta":{"stream":true}}"#
                )
                _ = try await client.receive(until: { $0["op"]?.stringValue == "stream_chunk" })
                client.close()
                sentAt = Date().timeIntervalSince1970
            } else {
                let frames = try await client.call(
                    "late", "chat", #"{"prompt":"hi","model":"glm-4.5-flash"}"#, meta: StreamingTests.streamMeta)
                sentAt = Date().timeIntervalSince1970
                #expect(frames.last?["error"]?["code"]?.stringValue == "TIMEOUT")
                client.close()
            }
            let end = try await Self.streamEnd(standIn, after: earlier)
            #expect(end.outcome == "client_closed")
            #expect(end.sent < 200)
            #expect(
                end.endedAt - sentAt < 1.0,
                "\(disconnect ? "disconnect" : "deadline"): upstream closed \(end.endedAt - sentAt) s later")
            try await Task.sleep(for: .milliseconds(100))
            let span = try #require(harness.exporter.spans.last { $0.name == "chat glm-4.5-flash" })
            #expect(span.attributes.get("exai.call.status") == .string("cancelled"))
            #expect(span.status?.code != .error)
        }
        let metrics = try await StreamingTests.daemonMetrics(harness)
        #expect(StreamingTests.metric(metrics, #"circuit_breaker_state{service="glm"}"#) == 0)
        #expect(StreamingTests.metric(metrics, "exai_stream_buffered_bytes") == 0)
        #expect(
            harness.daemon.providers[.glm]?.breaker.statistics.consecutiveFailures == 0,
            "a cancelled call is not a provider failure")
        await harness.stop()
    }

    @Test(
        "a client that never reads: waiting text stays within EXAI_WS_STREAM_BUFFER_BYTES, the rest is dropped and counted"
    )
    func slowReader() async throws {
        let total = 10_000_000
        let standIn = try await ProviderStandIn.start(
            apiKey: RealProviderTests.standInKey,
            arguments: ["--answer-bytes", "\(total)", "--stream-chunks", "2500"])
        defer { standIn.stop() }
        let limit = 65_536
        let harness = try await RealProviderTests.harness(standIn) { configuration in
            configuration.glm.maxAnswerBytes = 32 << 20
            configuration.streamBufferBytes = limit
        }
        let socket = try await StalledClient.start(
            port: harness.port,
            call:
                #"{"op":"call_tool","request_id":"slow","name":"chat","arguments":{"prompt":"hi","model":"glm-4.5-flash"},"_meta":{"stream":true}}"#
        )
        var largestBuffered = 0.0
        let deadline = ContinuousClock.now + .seconds(60)
        while try standIn.streamOutcomes().isEmpty, ContinuousClock.now < deadline {
            let metrics = try await StreamingTests.daemonMetrics(harness)
            largestBuffered = max(largestBuffered, StreamingTests.metric(metrics, "exai_stream_buffered_bytes") ?? 0)
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try standIn.streamOutcomes().last?.outcome == "complete", "the provider stream was read to its end")
        // The stand-in is done once its socket took the last byte; the daemon may still be reading
        // megabytes from the kernel's buffers. Wait until every byte is sent, dropped or waiting
        // (one frame, at most `limit` bytes, may still be on its way into the blocked socket).
        var (sent, dropped, metrics) = (0.0, 0.0, "")
        repeat {
            try await Task.sleep(for: .milliseconds(100))
            metrics = try await StreamingTests.daemonMetrics(harness)
            largestBuffered = max(largestBuffered, StreamingTests.metric(metrics, "exai_stream_buffered_bytes") ?? 0)
            sent = StreamingTests.metric(metrics, "exai_stream_sent_bytes_total") ?? 0
            dropped = StreamingTests.metric(metrics, "exai_stream_dropped_bytes_total") ?? 0
        } while sent + dropped + largestBuffered < Double(total - limit) && ContinuousClock.now < deadline
        #expect(largestBuffered <= Double(limit), "buffered \(largestBuffered) bytes")
        #expect(sent + dropped <= Double(total))
        #expect(
            sent + dropped + Double(2 * limit) >= Double(total),
            "every byte is sent, dropped or waiting: sent \(sent), dropped \(dropped)")
        // What was sent fits in the kernel's socket buffers (the daemon's send buffer, at most
        // tcp_wmem's maximum, and the client's 4 KiB receive buffer); all else had to be dropped.
        let sendBufferLimit = Self.tcpSendBufferMaximum() ?? 4 << 20
        #expect(sent <= Double(sendBufferLimit + (1 << 20)), "sent \(sent) bytes to a client that never reads")
        #expect(
            dropped >= Double(total - sendBufferLimit - (1 << 20)) - Double(2 * limit),
            "dropped \(dropped), sent \(sent)")
        socket.close()
        try await Task.sleep(for: .milliseconds(300))
        let after = try await StreamingTests.daemonMetrics(harness)
        #expect(StreamingTests.metric(after, "exai_stream_buffered_bytes") == 0, "released with the session")
        await harness.stop()
    }
    @Test(
        "a client that stops reading has its calls cancelled after the send timeout: gates free, provider stream closed"
    )
    func stalledClient() async throws {
        let standIn = try await ProviderStandIn.start(
            apiKey: RealProviderTests.standInKey,
            arguments: ["--answer-bytes", "8000000", "--stream-chunks", "2000", "--stream-delay-ms", "3"])
        defer { standIn.stop() }
        let harness = try await RealProviderTests.harness(standIn) { configuration in
            configuration.glm.maxAnswerBytes = 32 << 20
            configuration.sendTimeout = .seconds(1)
        }
        let socket = try await StalledClient.start(
            port: harness.port,
            call:
                #"{"op":"call_tool","request_id":"stuck","name":"chat","arguments":{"prompt":"hi","model":"glm-4.5-flash"},"_meta":{"stream":true}}"#
        )
        defer { socket.close() }
        let deadline = ContinuousClock.now + .seconds(20)
        var metrics = ""
        while ContinuousClock.now < deadline {
            metrics = try await StreamingTests.daemonMetrics(harness)
            if StreamingTests.metric(metrics, #"exai_protocol_errors_total{reason="send_timeout"}"#) == 1,
                StreamingTests.metric(metrics, #"exai_gate_in_use{gate="Global"}"#) == 0
            {
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(
            StreamingTests.metric(metrics, #"exai_protocol_errors_total{reason="send_timeout"}"#) == 1,
            "\(metrics.split(separator: "\n").filter { $0.contains("protocol_errors") })")
        let gates = metrics.split(separator: "\n").filter { $0.hasPrefix("exai_gate_in_use{") }
        #expect(!gates.isEmpty && gates.allSatisfy { Double($0.split(separator: " ").last ?? "") == 0 }, "\(gates)")
        #expect(StreamingTests.metric(metrics, "exai_stream_buffered_bytes") == 0)
        let end = try await Self.streamEnd(standIn, after: 0, limit: .seconds(20))
        #expect(end.outcome == "client_closed" || end.outcome == "complete", "\(end.outcome)")
        // The client is still connected and still not reading: shutdown must not wait for it.
        let stopping = ContinuousClock.now
        await harness.stop()
        #expect(ContinuousClock.now - stopping < .seconds(15), "stopped in \(ContinuousClock.now - stopping)")
    }
}

/// A WebSocket client on a plain socket with a tiny receive buffer that, after its hello and one
/// message, never reads again.
final class StalledClient: Sendable {
    let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    static func start(port: Int, call: String) async throws -> StalledClient {
        try await offThreadThrowing {
            let fd = try loopbackSocket(port: port, receiveBuffer: 4096)
            func write(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) } }
            sendUpgradeRequest(fd, port: port)
            // The 101 head, then the hello and its ack (read loosely: only to let the session start).
            var buffer = [UInt8](repeating: 0, count: 4096)
            _ = recv(fd, &buffer, buffer.count, 0)
            write(maskedText(#"{"op":"hello","token":""}"#))
            _ = recv(fd, &buffer, buffer.count, 0)
            write(maskedText(call))
            return StalledClient(fd: fd)
        }
    }

    /// A client text frame (masked, with a zero key: the payload is unchanged).
    static func maskedText(_ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        var frame: [UInt8] = [0x81]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        return frame + [0, 0, 0, 0] + payload
    }

    func close() { _ = Glibc.close(fd) }
}
