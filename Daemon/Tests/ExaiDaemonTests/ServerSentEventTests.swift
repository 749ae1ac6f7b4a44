import Foundation
import Testing
import Traceline

@testable import ExaiDaemon

@Suite struct ServerSentEventTests {
    static let stream =
        ": keep-alive\r\nevent: message\r\ndata: {\"a\":1}\r\n\r\ndata: first\ndata: second\n\nid: 7\rdata: [DONE]\r\r"

    @Test("events, comments, multi-line data and CR, LF, CRLF endings; the same events at every split point")
    func splitAnywhere() throws {
        let bytes = Array(Self.stream.utf8)
        let expected = ["{\"a\":1}", "first\nsecond", "[DONE]"]
        var whole = ServerSentEventParser(maxLineBytes: 1024)
        #expect(try whole.feed(bytes) + whole.finish() == expected)
        for split in 0...bytes.count {
            var parser = ServerSentEventParser(maxLineBytes: 1024)
            let events = try parser.feed(bytes[..<split]) + parser.feed(bytes[split...]) + parser.finish()
            #expect(events == expected, "split at \(split)")
        }
    }

    @Test("a last event without its blank line still counts; a bare `data` line is data with an empty value")
    func unterminated() throws {
        var parser = ServerSentEventParser(maxLineBytes: 64)
        #expect(try parser.feed(Array("data\n\ndatum: y\n\ndata:x".utf8)) == [""])
        #expect(try parser.finish() == ["x"])
    }

    @Test("a line, or an event's data, over the limit is an error, whatever the split")
    func bounded() throws {
        var parser = ServerSentEventParser(maxLineBytes: 16)
        #expect(throws: ServerSentEventParser.Failure.lineTooLong(limit: 16)) {
            _ = try parser.feed(Array(repeating: UInt8(ascii: "a"), count: 17))
        }
        var lines = ServerSentEventParser(maxLineBytes: 16)
        #expect(throws: ServerSentEventParser.Failure.lineTooLong(limit: 16)) {
            _ = try lines.feed(Array("data: 0123456789\ndata: 0123456789\n".utf8))
        }
        var fine = ServerSentEventParser(maxLineBytes: 16)
        #expect(try fine.feed(Array("data: 0123456789\n\n".utf8)) == ["0123456789"])
    }

    @Test("chunks make the answer; usage is read at the top level and in choices[0]; [DONE] ends")
    func decoder() throws {
        var decoder = ChatStreamDecoder(kind: .kimi, requestedModel: "kimi-k2-0905-preview", maxAnswerBytes: 1024)
        #expect(
            try decoder.apply(
                #"{"id":"c1","model":"kimi-k2","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#)
                == .progress(generated: false))
        #expect(
            try decoder.apply(#"{"choices":[{"index":0,"delta":{"reasoning_content":"hmm"}}]}"#)
                == .progress(generated: true))
        #expect(try decoder.apply(#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#) == .text("Hel"))
        #expect(try decoder.apply(#"{"choices":[{"index":0,"delta":{"content":"lo"}}]}"#) == .text("lo"))
        #expect(
            try decoder.apply(
                #"{"choices":[{"index":0,"delta":{},"finish_reason":"stop","usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}]}"#
            ) == .progress(generated: false))
        #expect(try decoder.apply("[DONE]") == .done)
        let response = decoder.response
        #expect(
            response
                == ChatResponse(
                    content: "Hello", model: "kimi-k2", id: "c1", finishReason: "stop",
                    promptTokens: 7, completionTokens: 2, totalTokens: 9))
        var glm = ChatStreamDecoder(kind: .glm, requestedModel: "glm-4.5", maxAnswerBytes: 1024)
        _ = try glm.apply(#"{"choices":[],"usage":{"prompt_tokens":1e300,"completion_tokens":3}}"#)
        #expect(
            glm.response.promptTokens == 0 && glm.response.completionTokens == 3 && glm.response.totalTokens == 3,
            "an absurd count is 0, not a trap")
    }

    @Test("an error event, a non-JSON event and an answer over its bound are clear errors")
    func failures() throws {
        var decoder = ChatStreamDecoder(kind: .glm, requestedModel: "glm-4.5", maxAnswerBytes: 8)
        #expect(throws: ProviderError.streamInterrupted(.glm, "overloaded")) {
            _ = try decoder.apply(#"{"error":{"message":"overloaded","type":"server_error"}}"#)
        }
        #expect(throws: ProviderError.invalidResponse(.glm, "a stream event is not a JSON object (5 bytes)")) {
            _ = try decoder.apply("hello")
        }
        _ = try decoder.apply(#"{"choices":[{"delta":{"content":"12345678"}}]}"#)
        do {
            _ = try decoder.apply(#"{"choices":[{"delta":{"content":"9"}}]}"#)
            Issue.record("the ninth byte was accepted")
        } catch {
            #expect(error.description.contains("over 8 bytes"))
        }
    }
}
