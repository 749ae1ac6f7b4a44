import Testing
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

/// The test vectors of shared/docs/w3c-trace-context.md §5 (numbers refer to that table).
@Suite struct W3CTraceContextTests {
    let T = sampleTraceID
    let P = sampleSpanID

    /// Extracts, starts a server span, injects: what a service in the W3C harness does.
    func roundTrip(_ headers: [(String, String)]) -> (incoming: SpanContext?, outgoing: HeaderList, span: TracelineSpan)
    {
        let (_, tracer, _) = makeTestPipeline()
        let context = extract(headers)
        let span = tracer.startSpan("handle", context: context, ofKind: .server)
        defer { span.end() }
        return (context.spanContext, inject(span.context), span)
    }

    func outgoingTraceparent(_ headers: [(String, String)]) -> (traceID: String, parentID: String, flags: String) {
        let value = roundTrip(headers).outgoing.combined("traceparent") ?? ""
        let parts = value.split(separator: "-").map(String.init)
        #expect(parts.count == 4, "outgoing traceparent must have four fields: \(value)")
        #expect(parts.first == "00", "outgoing version must be 00")
        return (parts[safe: 1] ?? "", parts[safe: 2] ?? "", parts[safe: 3] ?? "")
    }

    @Test("1: no traceparent starts a new valid trace")
    func noHeader() {
        let out = outgoingTraceparent([])
        #expect(out.traceID.count == 32 && out.traceID != String(repeating: "0", count: 32))
        #expect(out.parentID.count == 16)
    }

    @Test(
        "2, 4, 22: valid traceparent continues, names case-insensitive, OWS trimmed",
        arguments: [
            ("traceparent", "00-\(sampleTraceID)-\(sampleSpanID)-01"),
            ("TraceParent", "00-\(sampleTraceID)-\(sampleSpanID)-01"),
            ("TrAcEpArEnT", "00-\(sampleTraceID)-\(sampleSpanID)-01"),
            ("TRACEPARENT", "00-\(sampleTraceID)-\(sampleSpanID)-01"),
            ("traceparent", " 00-\(sampleTraceID)-\(sampleSpanID)-01"),
            ("traceparent", "00-\(sampleTraceID)-\(sampleSpanID)-01\t"),
            ("traceparent", "\t 00-\(sampleTraceID)-\(sampleSpanID)-01 \t"),
        ])
    func continues(name: String, value: String) {
        let result = roundTrip([(name, value)])
        #expect(result.incoming?.traceID.hexString == T)
        #expect(result.incoming?.spanID.hexString == P)
        #expect(result.incoming?.isRemote == true)
        let out = outgoingTraceparent([(name, value)])
        #expect(out.traceID == T)
        #expect(out.parentID != P, "a new parent-id per outgoing call")
        #expect(out.flags == "01")
        #expect(result.span.storage.parentSpanID?.hexString == P)
    }

    @Test(
        "3, 5-7, 10-21: invalid traceparent restarts the trace",
        arguments: [
            // 3: two headers
            "00-\(sampleTraceID)-\(sampleSpanID)-01,00-12345678901234567890123456789011-\(sampleSpanID)-01",
            "00-\(sampleTraceID)-\(sampleSpanID)-01.",  // 6
            "00-\(sampleTraceID)-\(sampleSpanID)-01-what-the-future-will-be-like",  // 7
            "cc-\(sampleTraceID)-\(sampleSpanID)-01.what-the-future-will-be-like",  // 10
            "cc-\(sampleTraceID)-\(sampleSpanID)",  // 11: future version, too short
            "ff-\(sampleTraceID)-\(sampleSpanID)-01",  // 12
            ".0-\(sampleTraceID)-\(sampleSpanID)-01", "0.-\(sampleTraceID)-\(sampleSpanID)-01",  // 13
            "000-\(sampleTraceID)-\(sampleSpanID)-01", "0000-\(sampleTraceID)-\(sampleSpanID)-01",
            "0-\(sampleTraceID)-\(sampleSpanID)-01",  // 14
            "00-00000000000000000000000000000000-\(sampleSpanID)-01",  // 15
            "00-\(sampleTraceID)-0000000000000000-01",  // 16
            "00-.2345678901234567890123456789012-\(sampleSpanID)-01",
            "00-1234567890123456789012345678901.-\(sampleSpanID)-01",  // 17
            "00-123456789012345678901234567890123-\(sampleSpanID)-01",
            "00-1234567890123456789012345678901-\(sampleSpanID)-01",  // 18
            "00-\(sampleTraceID)-.234567890123456-01", "00-\(sampleTraceID)-12345678901234567-01",
            "00-\(sampleTraceID)-123456789012345-01",  // 19
            "00-\(sampleTraceID)-\(sampleSpanID)-.0", "00-\(sampleTraceID)-\(sampleSpanID)-0.",
            "00-\(sampleTraceID)-\(sampleSpanID)-001", "00-\(sampleTraceID)-\(sampleSpanID)-1",  // 20
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  // 21
            "zz-" + String(repeating: "a", count: 52),  // opentelemetry-swift's force-unwrap case
            "", "-", String(repeating: "-", count: 100),
        ])
    func restarts(value: String) {
        let result = roundTrip([("traceparent", value), ("tracestate", "foo=1")])
        #expect(result.incoming == nil, "an invalid traceparent stores nothing in the context")
        let out = result.outgoing
        let traceparent = out.combined("traceparent") ?? ""
        #expect(!traceparent.contains(sampleTraceID), "no incoming trace-id is reused: \(traceparent)")
        #expect(!traceparent.contains("12345678901234567890123456789011"))
        #expect(out.combined("tracestate") == nil, "30: tracestate is discarded with an invalid traceparent")
    }

    @Test("5: other header names are not traceparent", arguments: ["trace-parent", "trace.parent"])
    func otherNames(name: String) {
        #expect(roundTrip([(name, "00-\(sampleTraceID)-\(sampleSpanID)-01")]).incoming == nil)
    }

    @Test(
        "8, 9: a future version continues and is sent on as 00",
        arguments: [
            "cc-\(sampleTraceID)-\(sampleSpanID)-01",
            "cc-\(sampleTraceID)-\(sampleSpanID)-01-what-the-future-will-be-like",
        ])
    func futureVersion(value: String) {
        let out = outgoingTraceparent([("traceparent", value)])
        #expect(out.traceID == T)
        #expect(out.flags == "01")
    }

    @Test("23-25: the random flag is kept; reserved bits are cleared")
    func flags() {
        #expect(outgoingTraceparent([("traceparent", "00-\(T)-\(P)-02")]).flags == "02")
        #expect(outgoingTraceparent([("traceparent", "00-\(T)-\(P)-03")]).flags == "03")
        #expect(outgoingTraceparent([("traceparent", "00-\(T)-\(P)-09")]).flags == "01")
        #expect(outgoingTraceparent([("traceparent", "cc-\(T)-\(P)-ff")]).flags == "03")
        // A new trace sets the random flag: our IDs are fully random.
        #expect(outgoingTraceparent([]).flags == "03")
    }

    @Test("26-28: each outgoing call gets its own parent-id")
    func distinctParents() {
        for headers in [
            [("traceparent", "00-\(T)-\(P)-01")], [], [("traceparent", "00-00000000000000000000000000000000-\(P)-01")],
        ] {
            let (_, tracer, _) = makeTestPipeline()
            let context = extract(headers)
            var parents = Set<String>()
            var traces = Set<String>()
            for _ in 0..<3 {
                let span = tracer.startSpan("callback", context: context, ofKind: .client)
                let value = inject(span.context).combined("traceparent") ?? ""
                let parts = value.split(separator: "-")
                parents.insert(String(parts[2]))
                traces.insert(String(parts[1]))
                span.end()
            }
            #expect(parents.count == 3)
            #expect(!traces.contains("00000000000000000000000000000000"))
        }
    }

    @Test("29: tracestate without traceparent is discarded")
    func tracestateAlone() {
        let result = roundTrip([("tracestate", "foo=1,bar=2")])
        #expect(result.outgoing.combined("tracestate") == nil)
    }

    @Test("31, 33, 35, 36: tracestate is inherited and combined in order")
    func tracestateInherited() {
        let tp = ("traceparent", "00-\(T)-\(P)-00")
        #expect(roundTrip([tp, ("tracestate", "foo=1,bar=2")]).outgoing.combined("tracestate") == "foo=1,bar=2")
        #expect(roundTrip([tp, ("TrAcEsTaTe", "foo=1")]).outgoing.combined("tracestate") == "foo=1")
        #expect(
            roundTrip([tp, ("tracestate", "foo=1"), ("tracestate", "")]).outgoing.combined("tracestate") == "foo=1")
        #expect(
            roundTrip([tp, ("tracestate", ""), ("tracestate", "foo=1")]).outgoing.combined("tracestate") == "foo=1")
        #expect(
            roundTrip([tp, ("tracestate", "foo=1,bar=2"), ("tracestate", "rojo=1,congo=2"), ("tracestate", "baz=3")])
                .outgoing.combined("tracestate") == "foo=1,bar=2,rojo=1,congo=2,baz=3"
        )
        // 34: an empty tracestate is accepted and nothing is sent on.
        let empty = roundTrip([tp, ("tracestate", "")])
        #expect(empty.incoming?.traceID.hexString == T)
        #expect(empty.outgoing.combined("tracestate") == nil)
        // 32: other names are ignored.
        #expect(roundTrip([tp, ("trace-state", "foo=1")]).outgoing.combined("tracestate") == nil)
    }

    @Test("a bad tracestate never costs a valid traceparent")
    func badTracestateKeepsTraceparent() {
        let result = roundTrip([("traceparent", "00-\(T)-\(P)-01"), ("tracestate", "FOO=1")])
        #expect(result.incoming?.traceID.hexString == T)
        #expect(result.outgoing.combined("tracestate") == nil)
    }
}

@Suite struct TraceStateTests {
    @Test(
        "37-40, 42, 44, 45, 47, 49, 53: valid lists",
        arguments: [
            ("foo=1,foo=1", ["foo=1"]),
            ("foo=1,foo=2", ["foo=1"]),
            ("foo=1 \t , \t bar=2, \t baz=3", ["foo=1", "bar=2", "baz=3"]),
            ("foo=1\t \t,\t \tbar=2,\t \tbaz=3", ["foo=1", "bar=2", "baz=3"]),
            (" foo=1", ["foo=1"]), ("\tfoo=1", ["foo=1"]), ("foo=1 ", ["foo=1"]), ("foo=1\t", ["foo=1"]),
            ("\t foo=1 \t", ["foo=1"]),
            ("foo@=1,bar=2", ["foo@=1", "bar=2"]),
            ("foo@@bar=1,bar=2", ["foo@@bar=1", "bar=2"]),
            ("foo@bar@baz=1,bar=2", ["foo@bar@baz=1", "bar=2"]),
            ("foo=1,\(String(repeating: "z", count: 256))=1", ["foo=1", "\(String(repeating: "z", count: 256))=1"]),
            (
                "\(String(repeating: "t", count: 241))@\(String(repeating: "v", count: 14))=1",
                ["\(String(repeating: "t", count: 241))@\(String(repeating: "v", count: 14))=1"]
            ),
            ("t@\(String(repeating: "v", count: 15))=1", ["t@\(String(repeating: "v", count: 15))=1"]),
            ("foo= 1", ["foo= 1"]),
        ])
    func valid(header: String, expected: [String]) throws {
        let state = try #require(TraceState(headerValue: header))
        #expect(state.members.map { "\($0.key)=\($0.value)" } == expected)
    }

    @Test("38: every allowed key and value character is preserved")
    func allCharacters() throws {
        let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
        let valueBytes = Array(0x20...0x2B) + Array(0x2D...0x3C) + Array(0x3E...0x7E)
        let value = String(decoding: valueBytes.map(UInt8.init), as: UTF8.self)
        let state = try #require(TraceState(headerValue: "\(key)=\(value)"))
        #expect(state[key] == value)
        let withTenant = try #require(TraceState(headerValue: "\(key)@a-z0-9_-*/=\(value)"))
        #expect(withTenant.members.count == 1)
    }

    @Test(
        "41, 43, 46, 48, 50-52: invalid lists are discarded whole",
        arguments: [
            "foo =1", "FOO=1", "foo.bar=1", "@foo=1,bar=2",
            (1...33).map { String(format2("bar", $0)) + "=\($0)" }.joined(separator: ","),
            "foo=1,\(String(repeating: "z", count: 257))=1",
            "foo=bar=baz", "foo=,bar=3", "foo=\(String(repeating: "v", count: 257))",
            "foo=1\r\n", "foo=caf\u{e9}",
        ])
    func invalid(header: String) {
        #expect(TraceState(headerValue: header) == nil)
    }

    @Test("45: 32 members over four lines are all kept")
    func thirtyTwo() throws {
        let members = (1...32).map { format2("bar", $0) + "=\(String($0))" }
        let lines = stride(from: 0, to: 32, by: 8).map { members[$0..<($0 + 8)].joined(separator: ",") }
        let headers = [("traceparent", "00-\(sampleTraceID)-\(sampleSpanID)-01")] + lines.map { ("tracestate", $0) }
        let context = extract(headers)
        #expect(context.spanContext?.traceState.members.count == 32)
    }

    @Test("54: a long header is cut to 512 characters by whole members, long ones first")
    func truncation() throws {
        let long = "long=" + String(repeating: "x", count: 200)
        var members = [long]
        for index in 0..<30 { members.append("k\(index)=" + String(repeating: "v", count: 20)) }
        let state = try #require(TraceState(headerValue: members.joined(separator: ",")))
        let value = state.headerValue
        #expect(value.utf8.count <= 512)
        #expect(!value.contains("long="), "the member over 128 characters goes first")
        #expect(value.hasPrefix("k0="), "then members are removed from the right")
        for member in value.split(separator: ",") { #expect(members.contains(String(member))) }
    }

    @Test("55: adding to a full list puts the new key left and drops the rightmost")
    func addToFull() throws {
        var state = try #require(TraceState(headerValue: (1...32).map { "k\($0)=\($0)" }.joined(separator: ",")))
        let accepted1 = state.set("ours", "1")
        #expect(accepted1)
        #expect(state.members.count == 32)
        #expect(state.members.first?.key == "ours")
        #expect(state["k32"] == nil)
        let accepted2 = state.set("BAD", "1")
        #expect(!accepted2)
    }
}

func format2(_ prefix: String, _ number: Int) -> String {
    prefix + (number < 10 ? "0\(number)" : "\(number)")
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
