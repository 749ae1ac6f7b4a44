import ExaiClient
import ExaiDaemon
import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import Testing
import TraceContextService
import Traceline
import TracelineTestSupport
import Tracing

@Suite(.timeLimit(.minutes(2))) struct ExaiClientTests {
    @Test("exai-client's session: tools, a chat whose trace the daemon joins, the trace ID it prints")
    func clientSession() async throws {
        let harness = try await DaemonHarness()
        let clientSpans = InMemorySpanExporter()
        let clientTracer = TracerProvider(
            resource: Resource(attributes: ["service.name": "exai-client"]),
            processors: [SpanProcessors.simple(exporter: clientSpans)]
        ).tracer()
        let transcript = NIOLockedValueBox<[String]>([])
        let call = try await ExaiClient.withSession(
            url: harness.url, correlationID: "client-corr", tracer: clientTracer,
            printFrame: { direction, text in transcript.withLockedValue { $0.append("\(direction) \(text)") } }
        ) { client in
            let tools = try await client.listTools()
            #expect(tools.map(\.name) == ["chat", "listmodels", "version"])
            return try await client.call("chat", arguments: .object([("prompt", "hi"), ("model", "glm-4.5")]))
        }
        #expect(call.summary == "Simulated reply from glm-4.5: hi")
        #expect(call.continuationID != nil)
        let traceID = try #require(call.traceID)
        let root = try #require(clientSpans.spans.first { $0.name == "call_tool chat" })
        #expect(root.kind == .client)
        try await eventually { harness.exporter.spans.contains { $0.name == "call_tool chat" } }
        let server = try #require(harness.exporter.spans.first { $0.name == "call_tool chat" })
        #expect(server.spanContext.traceID.description == traceID, "the daemon joined the client's trace")
        #expect(server.parentSpanID == root.spanContext.spanID)
        #expect(server.attributes["correlation_id"]?.toSpanAttribute() == .string("client-corr"))
        #expect(transcript.withLockedValue { $0 }.first == #"→ {"op":"hello","token":""}"#)
        await harness.stop()
    }
}

@Suite(.timeLimit(.minutes(2))) struct TraceContextServiceTests {
    /// The harness's side: records the headers of each callback it receives.
    final class Callbacks: Sendable {
        let received = NIOLockedValueBox<[[String: String]]>([])
    }

    @Test("trace-context-service: each callback carries the propagated context, as the W3C harness checks")
    func harness() async throws {
        let callbacks = Callbacks()
        let router = Router()
        router.post("/callback") { request, _ -> Response in
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            callbacks.received.withLockedValue { $0.append(headers) }
            return Response(status: .ok)
        }
        let (harnessPorts, harnessPort) = AsyncStream.makeStream(of: Int.self)
        let harnessApp = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { harnessPort.yield($0.localAddress?.port ?? 0) },
            logger: Logger(label: "harness", factory: { _ in SwiftLogNoOpLogHandler() }))
        let harnessTask = Task { try await harnessApp.run() }
        defer { harnessTask.cancel() }
        var harnessIterator = harnessPorts.makeAsyncIterator()
        let callbackPort = try #require(await harnessIterator.next())

        let tracer = TracerProvider(processors: []).tracer()
        let service = TraceContextService(
            port: 0, tracer: tracer, logger: Logger(label: "tcs", factory: { _ in SwiftLogNoOpLogHandler() }))
        let (servicePorts, servicePort) = AsyncStream.makeStream(of: Int.self)
        let serviceTask = Task { try await service.run { servicePort.yield($0) } }
        defer { serviceTask.cancel() }
        var serviceIterator = servicePorts.makeAsyncIterator()
        let port = try #require(await serviceIterator.next())

        func test(_ headers: [String: String]) async throws -> [String: String] {
            callbacks.received.withLockedValue { $0.removeAll() }
            let response = try await httpExchange(
                "http://127.0.0.1:\(port)/test", method: "POST", headers: headers,
                body: #"[{"url":"http://127.0.0.1:\#(callbackPort)/callback","arguments":[]}]"#)
            #expect(response.status == 200)
            return try #require(callbacks.received.withLockedValue { $0.first })
        }
        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736", parentID = "00f067aa0ba902b7"

        // A valid parent: same trace, a new parent id, flags and tracestate carried.
        let valid = try await test(["traceparent": "00-\(traceID)-\(parentID)-01", "tracestate": "foo=1,bar=2"])
        let forwarded = try #require(valid["traceparent"]?.split(separator: "-").map(String.init))
        #expect(forwarded.count == 4)
        #expect(forwarded[0] == "00" && forwarded[1] == traceID && forwarded[3] == "01")
        #expect(forwarded[2] != parentID && forwarded[2].count == 16)
        #expect(valid["tracestate"] == "foo=1,bar=2")

        // Uppercase hex is invalid: the trace restarts and tracestate is dropped.
        let invalid = try await test([
            "traceparent": "00-\(traceID.uppercased())-\(parentID)-01", "tracestate": "foo=1",
        ])
        #expect(invalid["traceparent"]?.contains(traceID) == false)
        #expect(invalid["traceparent"]?.count == 55)
        #expect(invalid["tracestate"] == nil)

        // A future version with extra fields is accepted and forwarded as version 00.
        let future = try await test(["traceparent": "cc-\(traceID)-\(parentID)-01-what-the-future-holds"])
        #expect(future["traceparent"]?.hasPrefix("00-\(traceID)-") == true)

        // More than 32 tracestate members: the list is not propagated (W3C: discard or truncate).
        let members = (0..<33).map { "k\($0)=v" }.joined(separator: ",")
        let long = try await test(["traceparent": "00-\(traceID)-\(parentID)-00", "tracestate": members])
        #expect(long["traceparent"]?.hasSuffix("-00") == true, "not sampled stays not sampled")
        #expect((long["tracestate"]?.split(separator: ",").count ?? 0) <= 32)

        // No context: a new trace.
        let none = try await test([:])
        #expect(none["traceparent"]?.count == 55)
    }
}
