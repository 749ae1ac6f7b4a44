import Testing
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

@Suite struct SpanLimitsTests {
    @Test("attribute count: new keys beyond the limit are dropped and counted; updates still apply")
    func attributeCount() throws {
        let (_, tracer, exporter) = makeTestPipeline(limits: SpanLimits(attributeCountLimit: 3))
        let span = tracer.startSpan("limited", context: .topLevel)
        span.attributes["a"] = 1
        span.attributes["b"] = 2
        span.attributes["c"] = 3
        span.attributes["d"] = 4
        span.attributes["e"] = 5
        span.attributes["a"] = 10  // an update of a kept key is not a new attribute
        span.end()
        let finished = try #require(exporter.spans.first)
        #expect(finished.attributes.count == 3)
        #expect(finished.attributes.get("a") == .int64(10))
        #expect(finished.attributes.get("d") == nil && finished.attributes.get("e") == nil)
        #expect(finished.droppedAttributesCount == 2)
    }

    @Test("a bulk replacement over the limit is cut and counted")
    func bulkReplacement() throws {
        let (_, tracer, exporter) = makeTestPipeline(limits: SpanLimits(attributeCountLimit: 2))
        let span = tracer.startSpan("bulk", context: .topLevel)
        span.attributes = ["a": 1, "b": 2, "c": 3, "d": 4, "e": 5]
        span.end()
        let finished = try #require(exporter.spans.first)
        #expect(finished.attributes.count == 2)
        #expect(finished.droppedAttributesCount == 3)
    }

    @Test("value length: strings and string arrays are cut; other types are not")
    func valueLength() throws {
        let (_, tracer, exporter) = makeTestPipeline(limits: SpanLimits(attributeValueLengthLimit: 4))
        let span = tracer.startSpan("long", context: .topLevel)
        span.attributes["s"] = "abcdefgh"
        span.attributes["u"] = "éèêëx"
        span.attributes.set("arr", value: .stringArray(["123456", "12"]))
        span.attributes["n"] = 123_456_789
        span.addEvent(SpanEvent(name: "e", attributes: ["msg": "long message"]))
        span.end()
        let finished = try #require(exporter.spans.first)
        #expect(finished.attributes.get("s") == .string("abcd"))
        #expect(finished.attributes.get("u") == .string("éèêë"), "characters, not bytes")
        #expect(finished.attributes.get("arr") == .stringArray(["1234", "12"]))
        #expect(finished.attributes.get("n") == .int64(123_456_789))
        #expect(finished.events.first?.attributes.get("msg") == .string("long"))
    }

    @Test("event and link counts, and their attribute counts")
    func eventsAndLinks() throws {
        let limits = SpanLimits(
            eventCountLimit: 2, linkCountLimit: 1, eventAttributeCountLimit: 1, linkAttributeCountLimit: 1)
        let (_, tracer, exporter) = makeTestPipeline(limits: limits)
        let target = tracer.startSpan("target", context: .topLevel)
        let span = tracer.startSpan("limited", context: .topLevel)
        for index in 0..<5 { span.addEvent(SpanEvent(name: "e\(index)", attributes: ["a": 1, "b": 2])) }
        span.addLink(SpanLink(context: target.context, attributes: ["x": 1, "y": 2, "z": 3]))
        span.addLink(SpanLink(context: target.context, attributes: [:]))
        span.end()
        target.end()
        let finished = try #require(exporter.spans.first { $0.name == "limited" })
        #expect(finished.events.map(\.name) == ["e0", "e1"])
        #expect(finished.droppedEventsCount == 3)
        #expect(finished.events.allSatisfy { $0.attributes.count == 1 && $0.droppedAttributesCount == 1 })
        #expect(finished.links.count == 1)
        #expect(finished.droppedLinksCount == 1)
        #expect(finished.links.first?.droppedAttributesCount == 2)
    }
}
