import COTLPProto
import Foundation
import Testing
import TracelineTestSupport
import Tracing

@_spi(Fuzzing) @testable import Traceline
@_spi(Fuzzing) @_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

@Suite struct OTLPEncoderTests {
    /// Spans that use every field the encoder writes.
    func richSpans() -> [FinishedSpan] {
        let (_, tracer, exporter) = makeTestPipeline(
            limits: SpanLimits(attributeCountLimit: 10, eventCountLimit: 1, linkCountLimit: 1))
        let remoteParent = extract([
            ("traceparent", "00-\(sampleTraceID)-\(sampleSpanID)-03"),
            ("tracestate", "vendor=a,other=b"),
            ("x-correlation-id", "corr-9"),
        ])
        let linked = tracer.startSpan("linked", context: .topLevel)
        let span = tracer.startSpan(
            "rich\u{0}name", context: remoteParent, ofKind: .server,
            at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: 1_700_000_000_000_000_001))
        span.attributes["string"] = "with\u{0}nul and ünïcode"
        span.attributes.set("int", value: .int64(-42))
        span.attributes.set("int32", value: .int32(7))
        span.attributes.set("double", value: .double(2.5))
        span.attributes.set("bool", value: .bool(true))
        span.attributes.set("strings", value: .stringArray(["a", "b"]))
        span.attributes.set("ints", value: .int64Array([1, 2]))
        span.attributes.set("doubles", value: .doubleArray([0.5]))
        span.attributes.set("bools", value: .boolArray([false, true]))
        span.attributes.set("over-limit", value: .string("dropped"))  // the 11th with correlation_id
        span.addEvent(
            SpanEvent(
                name: "event", at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: 1_700_000_000_000_000_500),
                attributes: ["e": 1]))
        span.addEvent("dropped event")
        span.addLink(SpanLink(context: linked.context, attributes: ["l": "x"]))
        span.addLink(SpanLink(context: remoteParent, attributes: [:]))  // over the link limit
        span.setStatus(SpanStatus(code: .error, message: "it broke"))
        span.end(at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: 1_700_000_000_000_001_000))
        linked.end()
        return exporter.spans
    }

    @Test("round trip through the protobuf-c generated unpack code: every field equal")
    func protobufCRoundTrip() throws {
        let spans = richSpans()
        let bytes = OTLPTraceEncoder().encode(spans)
        let request = try #require(
            bytes.withUnsafeBufferPointer {
                opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
                    nil, $0.count, $0.baseAddress)
            })
        defer { opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(request, nil) }
        #expect(request.pointee.n_resource_spans == 1)
        let resourceSpans = try #require(request.pointee.resource_spans[0])
        #expect(resourceSpans.pointee.n_scope_spans == 1)
        let scopeSpans = try #require(resourceSpans.pointee.scope_spans[0])
        #expect(OTLPResponseDecoder.string(scopeSpans.pointee.scope.pointee.name) == "tests")
        #expect(OTLPResponseDecoder.string(scopeSpans.pointee.scope.pointee.version) == "1.0")
        let resourceKeys = (0..<resourceSpans.pointee.resource.pointee.n_attributes).map {
            OTLPResponseDecoder.string(resourceSpans.pointee.resource.pointee.attributes[$0]!.pointee.key)
        }
        #expect(resourceKeys == ["service.name"])
        #expect(scopeSpans.pointee.n_spans == 2)

        let rich = try #require(
            (0..<scopeSpans.pointee.n_spans).map { scopeSpans.pointee.spans[$0]! }
                .first { OTLPResponseDecoder.string($0.pointee.name) == "rich\u{0}name" })
        let original = try #require(spans.first { $0.name == "rich\u{0}name" })
        let p = rich.pointee
        #expect(bytesOf(p.trace_id) == original.spanContext.traceID.bytes)
        #expect(bytesOf(p.span_id) == original.spanContext.spanID.bytes)
        #expect(bytesOf(p.parent_span_id) == SpanID(hexString: sampleSpanID)!.bytes)
        #expect(OTLPResponseDecoder.string(p.trace_state) == "vendor=a,other=b")
        #expect(p.flags == 0x03 | 0x100 | 0x200, "sampled + random, remote parent known and remote")
        #expect(p.kind == OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER)
        #expect(p.start_time_unix_nano == 1_700_000_000_000_000_001)
        #expect(p.end_time_unix_nano == 1_700_000_000_000_001_000)
        #expect(p.dropped_attributes_count == 1)
        #expect(p.dropped_events_count == 1)
        #expect(p.dropped_links_count == 1)
        #expect(p.status.pointee.code == OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR)
        #expect(OTLPResponseDecoder.string(p.status.pointee.message) == "it broke")

        var decoded: [String: String] = [:]
        for index in 0..<p.n_attributes {
            let keyValue = p.attributes[index]!.pointee
            decoded[OTLPResponseDecoder.string(keyValue.key)] = describe(keyValue.value.pointee)
        }
        #expect(decoded["string"] == "s:with\u{0}nul and ünïcode", "NUL and non-ASCII bytes survive")
        #expect(decoded["int"] == "i:-42")
        #expect(decoded["int32"] == "i:7")
        #expect(decoded["double"] == "d:2.5")
        #expect(decoded["bool"] == "b:true")
        #expect(decoded["strings"] == "[s:a,s:b]")
        #expect(decoded["ints"] == "[i:1,i:2]")
        #expect(decoded["doubles"] == "[d:0.5]")
        #expect(decoded["bools"] == "[b:false,b:true]")
        #expect(decoded["correlation_id"] == "s:corr-9")
        #expect(decoded.count == 10)

        #expect(p.n_events == 1)
        let event = p.events[0]!.pointee
        #expect(OTLPResponseDecoder.string(event.name) == "event")
        #expect(event.time_unix_nano == 1_700_000_000_000_000_500)
        #expect(event.n_attributes == 1)
        #expect(p.n_links == 1)
        let link = p.links[0]!.pointee
        let linkedSpan = try #require(spans.first { $0.name == "linked" })
        #expect(bytesOf(link.span_id) == linkedSpan.spanContext.spanID.bytes)
        #expect(bytesOf(link.trace_id) == linkedSpan.spanContext.traceID.bytes)
        #expect(link.flags == 0x03 | 0x100, "a local link: remote known, not remote")
        #expect(link.n_attributes == 1)

        let root = try #require(
            (0..<scopeSpans.pointee.n_spans).map { scopeSpans.pointee.spans[$0]! }
                .first { OTLPResponseDecoder.string($0.pointee.name) == "linked" })
        #expect(root.pointee.parent_span_id.len == 0, "a root span has no parent bytes")
        #expect(root.pointee.status == nil, "unset status is absent")
        #expect(root.pointee.flags & 0x300 == 0x100)
    }

    @Test("the same bytes decode identically with the official opentelemetry-proto package")
    func independentDecoder() async throws {
        let spans = richSpans()
        let bytes = OTLPTraceEncoder().encode(spans)
        let file = NSTemporaryDirectory() + "otlp-request-\(UUID().uuidString).bin"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let (exitStatus, data) = try await offThreadThrowing { () -> (Int32, Data) in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: TestEnvironment.python)
            process.arguments = [TestEnvironment.script("decode_request.py"), file]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, data)
        }
        #expect(exitStatus == 0)
        let decoded = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        #expect(decoded.count == 2)
        let rich = try #require(decoded.first { ($0["name"] as? String) == "rich\u{0}name" })
        let original = try #require(spans.first { $0.name == "rich\u{0}name" })
        #expect(rich["trace_id"] as? String == original.spanContext.traceID.hexString)
        #expect(rich["span_id"] as? String == original.spanContext.spanID.hexString)
        #expect(rich["parent_span_id"] as? String == sampleSpanID)
        #expect(rich["trace_state"] as? String == "vendor=a,other=b")
        #expect(rich["flags"] as? Int == 0x303)
        #expect(rich["kind"] as? Int == 2)
        #expect((rich["start"] as? NSNumber)?.uint64Value == 1_700_000_000_000_000_001)
        #expect(rich["dropped_attributes_count"] as? Int == 1)
        let attributes = try #require(rich["attributes"] as? [String: Any])
        #expect((attributes["string"] as? [String: Any])?["value"] as? String == "with\u{0}nul and ünïcode")
        #expect((attributes["int"] as? [String: Any])?["value"] as? Int == -42)
        #expect((attributes["double"] as? [String: Any])?["value"] as? Double == 2.5)
        #expect((attributes["bool"] as? [String: Any])?["value"] as? Bool == true)
        #expect((attributes["strings"] as? [[String: Any]])?.compactMap { $0["value"] as? String } == ["a", "b"])
        let status = try #require(rich["status"] as? [String: Any])
        #expect(status["code"] as? Int == 2)
        #expect(status["message"] as? String == "it broke")
        #expect((rich["events"] as? [[String: Any]])?.first?["name"] as? String == "event")
        #expect((rich["links"] as? [[String: Any]])?.count == 1)
        let resource = try #require(rich["resource"] as? [String: Any])
        #expect((resource["service.name"] as? [String: Any])?["value"] as? String == "test-service")
    }

    @Test("a 512-span batch reuses arena chunks instead of allocating per field")
    func arenaReuse() {
        let spans = makeFinishedSpans(512)
        let encoder = OTLPTraceEncoder()
        let first = encoder.encode(spans)
        let bytesFirst = encoder.lastArenaBytes
        let second = encoder.encode(spans)
        #expect(first == second, "deterministic output for the same input")
        #expect(encoder.lastArenaBytes == bytesFirst)
        #expect(bytesFirst > 0)
        #expect(OTLPTraceEncoder().encode([]).isEmpty, "an empty batch is an empty message")
    }

    @Test("a request packed into its reserved bound is the request libprotobuf-c sizes exactly")
    func packedWithinBound() {
        // Negative integers pack to the most bytes per struct byte of any value the encoder sets.
        let (_, tracer, exporter) = makeTestPipeline()
        let dense = tracer.startSpan("", context: .topLevel)
        for index in 0..<64 { dense.attributes.set("\(index)", value: .int64(-1 - Int64(index))) }
        dense.attributes.set("ints", value: .int64Array(Array(repeating: Int64.min, count: 256)))
        dense.end()
        let batches = [richSpans(), makeFinishedSpans(512), exporter.spans, richSpans() + exporter.spans]
        let encoder = OTLPTraceEncoder()
        for spans in batches {
            let packed = encoder.encode(spans)
            let arenaBytes = encoder.lastArenaBytes
            #expect(packed == OTLPTraceEncoder().encodeSizedExactly(spans))
            #expect(packed.count <= arenaBytes, "at most half the proven bound: \(packed.count) of \(arenaBytes)")
            #expect(OTLPTraceEncoder.packedSizeBound(arenaBytes: arenaBytes) >= packed.count)
        }
    }

    @Test("the pack buffer keeps a small reservation and unmaps a large one after use")
    func packBufferReservations() throws {
        let buffer = OTLPPackBuffer()
        #expect(buffer.withReservation(of: 0) { _ in true } == true, "an empty reservation still maps a page")
        let small = try #require(buffer.withReservation(of: 10_000) { $0 })
        #expect(buffer.capacity >= 10_000)
        let again = try #require(buffer.withReservation(of: 5_000) { $0 })
        #expect(again == small, "a reservation that fits is reused")
        let large = OTLPPackBuffer.retainedBytes + 1
        let filled = buffer.withReservation(of: large) { base in
            base.initializeMemory(as: UInt8.self, repeating: 0xAB, count: large)
            return base.load(fromByteOffset: large - 1, as: UInt8.self)
        }
        #expect(filled == 0xAB, "every reserved byte is writable")
        #expect(buffer.capacity == 0, "a reservation over the retained size is unmapped after use")
    }

    @Test("spans of several scopes and resources are grouped")
    func grouping() throws {
        let exporter = InMemorySpanExporter()
        let providerA = TracerProvider(
            resource: Resource(attributes: ["service.name": "a"]), processors: [SimpleSpanProcessor(exporter: exporter)]
        )
        let providerB = TracerProvider(
            resource: Resource(attributes: ["service.name": "b"]), processors: [SimpleSpanProcessor(exporter: exporter)]
        )
        providerA.tracer(scope: InstrumentationScope(name: "x")).startSpan("a-x", context: .topLevel).end()
        providerA.tracer(scope: InstrumentationScope(name: "y")).startSpan("a-y", context: .topLevel).end()
        providerB.tracer(scope: InstrumentationScope(name: "x")).startSpan("b-x", context: .topLevel).end()
        providerA.tracer(scope: InstrumentationScope(name: "x")).startSpan("a-x-2", context: .topLevel).end()
        let bytes = OTLPTraceEncoder().encode(exporter.spans)
        let request = try #require(
            bytes.withUnsafeBufferPointer {
                opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
                    nil, $0.count, $0.baseAddress)
            })
        defer { opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(request, nil) }
        #expect(request.pointee.n_resource_spans == 2)
        let first = request.pointee.resource_spans[0]!.pointee
        #expect(first.n_scope_spans == 2)
        #expect(first.scope_spans[0]!.pointee.n_spans == 2, "a-x and a-x-2 share resource and scope")
        #expect(request.pointee.resource_spans[1]!.pointee.n_scope_spans == 1)
    }
}

private func bytesOf(_ data: ProtobufCBinaryData) -> [UInt8] {
    guard data.len > 0, let pointer = data.data else { return [] }
    return Array(UnsafeBufferPointer(start: pointer, count: data.len))
}

private func describe(_ value: Opentelemetry__Proto__Common__V1__AnyValue) -> String {
    switch value.value_case {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        return "s:" + OTLPResponseDecoder.string(value.string_value)
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE: return "i:\(value.int_value)"
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE: return "d:\(value.double_value)"
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE: return "b:\(value.bool_value != 0)"
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
        let array = value.array_value.pointee
        return "[" + (0..<array.n_values).map { describe(array.values[$0]!.pointee) }.joined(separator: ",") + "]"
    default: return "?"
    }
}
