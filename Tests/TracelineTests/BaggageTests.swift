import Testing
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

@Suite struct BaggageTests {
    @Test("56: members with properties and OWS")
    func properties() {
        let header = "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue"
        let (baggage, dropped) = Baggage.parse(headerValue: header)
        #expect(dropped == 0)
        #expect(baggage.entries.map(\.key) == ["key1", "key2", "key3"])
        #expect(baggage["key2"] == "value2")
        #expect(baggage.entries[0].metadata == "property1;property2")
        #expect(baggage.entries[2].metadata == "propertyKey=propertyValue")
    }

    @Test("57, 58, 60: percent-decoding, invalid UTF-8 and '=' in values")
    func decoding() {
        let (baggage, _) = Baggage.parse(headerValue: "userId=Am%C3%A9lie,serverNode=DF%2028,k=%FF,eq=a=b")
        #expect(baggage["userId"] == "Amélie")
        #expect(baggage["serverNode"] == "DF 28")
        #expect(baggage["k"] == "\u{FFFD}")
        #expect(baggage["eq"] == "a=b")
    }

    @Test("invalid members are dropped one by one")
    func invalidMembers() {
        let (baggage, dropped) = Baggage.parse(headerValue: "good=1,bad key=2,=3,novalue,pct=%zz,quote=\"x\",fine=2")
        #expect(baggage.entries.map(\.key) == ["good", "fine"])
        #expect(dropped == 5)
    }

    @Test("59: more than 64 members or 8192 bytes drop whole members")
    func limits() {
        let many = (0..<70).map { "k\($0)=v" }.joined(separator: ",")
        let (baggage, dropped) = Baggage.parse(headerValue: many)
        #expect(baggage.entries.count == 64)
        #expect(dropped == 6)

        let big = (0..<5).map { "k\($0)=" + String(repeating: "x", count: 2000) }.joined(separator: ",")
        let (sized, droppedBig) = Baggage.parse(headerValue: big)
        #expect(sized.entries.count == 4)
        #expect(droppedBig == 1)
        #expect(sized.headerValue.utf8.count <= 8192)
        for entry in sized.entries { #expect(entry.value.count == 2000, "never a partial member") }
    }

    @Test("round trip through inject percent-encodes what must be encoded")
    func roundTrip() throws {
        var baggage = Baggage()
        let accepted1 = baggage.set("user", "Amélie, 100% \"ok\";")
        #expect(accepted1)
        let accepted2 = baggage.set("bad key", "x")
        #expect(!accepted2)
        var context = ServiceContext.topLevel
        context.baggage = baggage
        let headers = inject(context)
        let header = try #require(headers.combined("baggage"))
        #expect(!header.contains(" ") && !header.contains("\""))
        let back = extract([("baggage", header)])
        #expect(back.baggage?["user"] == "Amélie, 100% \"ok\";")
    }

    @Test("set refuses to exceed the limits")
    func setLimits() {
        var baggage = Baggage()
        for index in 0..<64 {
            let added = baggage.set("k\(index)", "v")
            #expect(added)
        }
        let accepted3 = baggage.set("one-more", "v")
        #expect(!accepted3)
        baggage.removeAll()
        #expect(baggage.isEmpty)
        let accepted4 = baggage.set("huge", String(repeating: "x", count: 9000))
        #expect(!accepted4)
    }
}
