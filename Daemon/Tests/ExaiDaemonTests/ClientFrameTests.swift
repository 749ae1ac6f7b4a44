import ExaiProtocol
import Testing
import Traceline

/// The frame parser on its own: what the daemon answers to each kind of bad frame is in
/// ProtocolTests; here, the classification and the extremes the fuzz target explores.
@Suite struct ClientFrameTests {
    @Test("a call_tool frame yields its fields; trace metadata is read from _meta")
    func callTool() throws {
        let text =
            #"{"op":"call_tool","request_id":"r1","name":"chat","_meta":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"a=b","correlation_id":"abc-123"}}"#
        let frame = try ClientFrame.parse(text).get()
        #expect(frame.op == "call_tool")
        #expect(frame.requestID == "r1")
        #expect(frame.toolName == "chat")
        #expect(frame.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        #expect(frame.tracestate == "a=b")
        #expect(frame.correlationID?.value == "abc-123")
    }

    @Test("bad frames are classified, never accepted")
    func problems() {
        #expect(ClientFrame.parse("{not json").failure == .invalidJSON)
        #expect(ClientFrame.parse("").failure == .invalidJSON)
        #expect(ClientFrame.parse("[1,2]").failure == .invalidMessage("expected a JSON object"))
        #expect(ClientFrame.parse(#"{"op":7}"#).failure == .invalidMessage("missing string field op"))
        #expect(
            ClientFrame.parse(#"{"op":"call_tool","name":""}"#).failure
                == .invalidMessage("call_tool needs a non-empty string name"))
        #expect(
            ClientFrame.parse(#"{"op":"call_tool","name":"chat","request_id":7}"#).failure
                == .invalidMessage("request_id must be a string"))
        #expect(
            ClientFrame.parse(#"{"op":"call_tool","name":"chat","arguments":[1]}"#).failure
                == .invalidMessage("arguments must be an object"))
    }

    @Test("request_id, tool name and op are short visible ASCII: no CR/LF, no megabyte strings")
    func boundedStrings() {
        let requestIDProblem = ClientFrame.Problem.invalidMessage(
            "request_id must be 1 to 128 visible ASCII characters (no spaces or control characters)")
        #expect(
            ClientFrame.parse(#"{"op":"call_tool","name":"chat","request_id":"r1\r\nlevel=critical forged"}"#).failure
                == requestIDProblem)
        #expect(ClientFrame.parse(#"{"op":"health","request_id":""}"#).failure == requestIDProblem)
        let long = String(repeating: "r", count: 129)
        #expect(
            ClientFrame.parse(#"{"op":"call_tool","name":"chat","request_id":"\#(long)"}"#).failure == requestIDProblem)
        #expect(
            ClientFrame.parse(#"{"op":"call_tool","name":"chat","request_id":"\#(long.dropLast())"}"#).failure == nil)
        let longName = String(repeating: "n", count: 60_000)
        #expect(
            ClientFrame.parse(#"{"op":"call_tool","name":"\#(longName)"}"#).failure
                == .invalidMessage("name must be 1 to 128 visible ASCII characters"))
        #expect(
            ClientFrame.parse(#"{"op":"call\ntool"}"#).failure
                == .invalidMessage("op must be 1 to 64 visible ASCII characters"))
    }

    @Test("a hostile correlation_id is ignored, not used")
    func hostileCorrelationID() throws {
        let frame = try ClientFrame.parse(#"{"op":"health","correlation_id":"bad id\r\nX-Injected: 1"}"#).get()
        #expect(frame.correlationID == nil)
    }

    @Test("a frame nested 100 000 deep is an error, not a stack overflow")
    func deepNesting() {
        let depth = 100_000
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(ClientFrame.parse(text).failure == .invalidJSON)
        let objects = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
        #expect(ClientFrame.parse(objects).failure == .invalidJSON)
    }
}

extension Result {
    /// The error, or nil on success.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
