import Instrumentation
import Synchronization
import Testing
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

struct TestError: Error, CustomStringConvertible {
    var description: String { "the provider said no" }
}

@Suite struct TracerTests {
    @Test("root and child spans: IDs, parents, kinds, times, scope and resource")
    func rootAndChild() throws {
        let (_, tracer, exporter) = makeTestPipeline()
        let root = tracer.startSpan("root", context: .topLevel, ofKind: .server)
        let child = tracer.startSpan("child", context: root.context, ofKind: .client)
        child.end()
        root.end()
        let spans = exporter.spans
        try #require(spans.count == 2)
        let (finishedChild, finishedRoot) = (spans[0], spans[1])
        #expect(finishedRoot.parentSpanID == nil)
        #expect(finishedChild.parentSpanID == finishedRoot.spanContext.spanID)
        #expect(finishedChild.spanContext.traceID == finishedRoot.spanContext.traceID)
        #expect(finishedChild.spanContext.spanID != finishedRoot.spanContext.spanID)
        #expect(finishedRoot.kind == .server)
        #expect(finishedChild.kind == .client)
        #expect(!finishedChild.parentIsRemote)
        #expect(finishedRoot.startTimeNanosecondsSinceEpoch <= finishedRoot.endTimeNanosecondsSinceEpoch)
        #expect(finishedRoot.instrumentationScope == InstrumentationScope(name: "tests", version: "1.0"))
        #expect(finishedRoot.resource.serviceName == "test-service")
        #expect(finishedRoot.spanContext.traceFlags.contains(.sampled))
    }

    @Test("withSpan nests through the task-local context, sync and async")
    func withSpanNesting() async throws {
        let (_, tracer, exporter) = makeTestPipeline()
        await tracer.withSpan("outer", context: .topLevel) { outer in
            await tracer.withSpan("inner") { inner in
                #expect(inner.storage.parentSpanID == outer.spanContext.spanID)
                try? await Task.sleep(for: .milliseconds(1))
            }
            tracer.withSpan("sync") { _ in }
        }
        let names = exporter.spans.map(\.name)
        #expect(names == ["inner", "sync", "outer"])
        let outer = try #require(exporter.spans.last)
        #expect(exporter.spans.dropLast().allSatisfy { $0.parentSpanID == outer.spanContext.spanID })
    }

    @Test("attributes, events, links, status and renaming are exported")
    func recordedData() throws {
        let (_, tracer, exporter) = makeTestPipeline()
        let other = tracer.startSpan("other", context: .topLevel)
        let span = tracer.startSpan("initial", context: .topLevel)
        span.attributes["s"] = "text"
        span.attributes["i"] = 42
        span.attributes["d"] = 1.5
        span.attributes["b"] = true
        span.attributes.set("a", value: .int64Array([1, 2, 3]))
        span.attributes.set("sa", value: .stringArray(["x", "y"]))
        span.updateAttributes { $0["u"] = "updated" }
        span.operationName = "renamed"
        span.addEvent(SpanEvent(name: "cache.miss", attributes: ["key.hash": 7]))
        span.addLink(SpanLink(context: other.context, attributes: ["link.kind": "follows"]))
        span.addLink(SpanLink(context: .topLevel, attributes: [:]))  // nothing to link to: ignored
        span.setStatus(SpanStatus(code: .error, message: "boom"))
        span.end()
        other.end()
        let finished = try #require(exporter.spans.first { $0.name == "renamed" })
        #expect(finished.attributes.get("s") == .string("text"))
        #expect(finished.attributes.get("i") == .int64(42))
        #expect(finished.attributes.get("d") == .double(1.5))
        #expect(finished.attributes.get("b") == .bool(true))
        #expect(finished.attributes.get("a") == .int64Array([1, 2, 3]))
        #expect(finished.attributes.get("sa") == .stringArray(["x", "y"]))
        #expect(finished.attributes.get("u") == .string("updated"))
        #expect(finished.events.map(\.name) == ["cache.miss"])
        #expect(finished.events.first?.attributes.get("key.hash") == .int64(7))
        #expect(finished.links.count == 1)
        #expect(finished.links.first?.spanContext.spanID == other.spanContext.spanID)
        #expect(finished.status == SpanStatus(code: .error, message: "boom"))
    }

    @Test("status: OK is final, an OK carries no description")
    func statusRules() throws {
        let (_, tracer, exporter) = makeTestPipeline()
        let span = tracer.startSpan("s", context: .topLevel)
        span.setStatus(SpanStatus(code: .ok, message: "ignored"))
        span.setStatus(SpanStatus(code: .error, message: "too late"))
        span.end()
        #expect(exporter.spans.first?.status == SpanStatus(code: .ok))
    }

    @Test("recordError adds an exception event; withSpan sets error status")
    func recordError() throws {
        let (_, tracer, exporter) = makeTestPipeline()
        #expect(throws: TestError.self) {
            try tracer.withSpan("failing", context: .topLevel) { _ in throw TestError() }
        }
        let span = try #require(exporter.spans.first)
        #expect(span.status?.code == .error)
        let event = try #require(span.events.first)
        #expect(event.name == "exception")
        #expect(event.attributes.get("exception.type") == .string(String(reflecting: TestError.self)))
        #expect(event.attributes.get("exception.message") == .string("the provider said no"))
    }

    @Test("end(at:) uses the given instant; a second end and later writes change nothing")
    func endOnce() throws {
        let (_, tracer, exporter) = makeTestPipeline()
        let start = DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: 1_000_000_000)
        let end = DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: 3_500_000_000)
        let span = tracer.startSpan("timed", context: .topLevel, ofKind: .internal, at: start)
        span.end(at: end)
        span.attributes["late"] = "x"
        span.addEvent("late")
        span.end()
        try #require(exporter.spans.count == 1)
        let finished = exporter.spans[0]
        #expect(finished.startTimeNanosecondsSinceEpoch == 1_000_000_000)
        #expect(finished.endTimeNanosecondsSinceEpoch == 3_500_000_000)
        #expect(finished.durationNanoseconds == 2_500_000_000)
        #expect(finished.attributes.get("late") == nil)
        #expect(finished.events.isEmpty)
    }

    @Test("activeSpan finds the span of a context")
    func activeSpan() {
        let (_, tracer, _) = makeTestPipeline()
        let span = tracer.startSpan("active", context: .topLevel)
        #expect(tracer.activeSpan(identifiedBy: span.context)?.spanContext == span.spanContext)
        #expect(tracer.activeSpan(identifiedBy: .topLevel) == nil)
        span.end()
    }

    @Test("IDs are never zero and do not repeat across threads")
    func idUniqueness() async {
        let ids = await withTaskGroup(of: [UInt64].self) { group in
            for _ in 0..<4 {
                group.addTask { (0..<5000).map { _ in SpanID.random().rawValue } }
            }
            var all: [UInt64] = []
            for await chunk in group { all += chunk }
            return all
        }
        #expect(!ids.contains(0))
        #expect(Set(ids).count == ids.count)
        #expect(TraceID(high: 0, low: 0) == nil)
        #expect(SpanID(rawValue: 0) == nil)
        #expect(TraceID(hexString: "0af7651916cd43dd8448eb211c80319c")?.hexString == "0af7651916cd43dd8448eb211c80319c")
        #expect(TraceID(hexString: "0AF7651916CD43DD8448EB211C80319C") == nil)
        #expect(SpanID(hexString: "b7ad6b7169203331")?.bytes == [0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31])
    }

    @Test("concurrent writes to one span lose nothing")
    func concurrentAttributeWrites() async throws {
        let (_, tracer, exporter) = makeTestPipeline(limits: SpanLimits(attributeCountLimit: 1000))
        let span = tracer.startSpan("shared", context: .topLevel)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<4 {
                group.addTask {
                    for index in 0..<100 {
                        span.attributes["t\(task).\(index)"] = index
                        span.addEvent(SpanEvent(name: "e\(task).\(index)"))
                    }
                }
            }
        }
        span.end()
        let finished = try #require(exporter.spans.first)
        #expect(finished.attributes.count == 400)
        #expect(finished.events.count + finished.droppedEventsCount == 400)
        #expect(finished.events.count == 128)
    }

    @Test("every processor but the last is lent the record, the last gets it moved; onEnd alone still sees each span")
    func processorsAreLentTheRecord() {
        final class Recorder: SpanProcessor {
            let lent = Atomic<Int>(0)
            let moved = Atomic<Int>(0)
            func onEnd(_ span: consuming FinishedSpan) { moved.add(1, ordering: .relaxed) }
            func onEnd(reading span: borrowing FinishedSpan) { lent.add(1, ordering: .relaxed) }
        }
        final class OnlyOnEnd: SpanProcessor {
            let names = Mutex<[String]>([])
            func onEnd(_ span: consuming FinishedSpan) {
                let name = span.name
                names.withLock { $0.append(name) }
            }
        }
        let first = Recorder(), onlyOnEnd = OnlyOnEnd(), last = Recorder()
        let provider = TracerProvider(processors: [first, onlyOnEnd, last])
        provider.tracer().startSpan("a", context: .topLevel).end()
        provider.tracer().startSpan("b", context: .topLevel).end()
        #expect(first.lent.load(ordering: .relaxed) == 2)
        #expect(first.moved.load(ordering: .relaxed) == 0)
        #expect(onlyOnEnd.names.withLock { $0 } == ["a", "b"], "the default passes a copy to onEnd")
        #expect(last.moved.load(ordering: .relaxed) == 2)
        #expect(last.lent.load(ordering: .relaxed) == 0)
    }
}
