import Foundation
import Traceline

/// One message a client sent to the exai-daemon, parsed and checked against the protocol's shape.
///
/// This is the daemon's frame parser, kept apart from the server (no SwiftNIO, no Hummingbird) so
/// that it can be fuzzed on its own: it reads untrusted text and must never crash, whatever arrives.
public struct ClientFrame: Sendable {
    /// The whole message, a JSON object.
    public let json: JSONValue
    /// The `op` field.
    public let op: String

    /// `request_id` of a `call_tool` (a string when present).
    public var requestID: String? { json["request_id"]?.stringValue }
    /// The tool `name` of a `call_tool`.
    public var toolName: String? { json["name"]?.stringValue }
    /// The `_meta.traceparent` the client propagates, if any (parsed later, by the propagator).
    public var traceparent: String? { json["_meta"]?["traceparent"]?.stringValue }
    /// The `_meta.tracestate` that goes with it.
    public var tracestate: String? { json["_meta"]?["tracestate"]?.stringValue }
    /// The message's `correlation_id` (or `_meta.correlation_id`) when it is a valid correlation ID.
    public var correlationID: CorrelationID? {
        (json["correlation_id"]?.stringValue).flatMap { CorrelationID($0) }
            ?? (json["_meta"]?["correlation_id"]?.stringValue).flatMap { CorrelationID($0) }
    }

    /// Why a text frame is not a protocol message.
    public enum Problem: Error, Equatable, Sendable {
        /// The text is not JSON.
        case invalidJSON
        /// JSON, but not the shape of a message; the reason is safe to send back to the client.
        case invalidMessage(String)
    }

    /// Parses one text frame into a message, or says why it is not one.
    public static func parse(_ text: String) -> Result<ClientFrame, Problem> {
        guard let json = decodeJSON(text) else { return .failure(.invalidJSON) }
        if let problem = structuralProblem(json) { return .failure(.invalidMessage(problem)) }
        return .success(ClientFrame(json: json, op: json["op"]?.stringValue ?? ""))
    }

    /// Decodes one text frame as JSON; nil when it is not JSON (Foundation's decoder bounds the
    /// nesting depth, so a deeply nested frame is an error, not a stack overflow).
    public static func decodeJSON(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// Longest `request_id`, tool `name` and `op`, in bytes. These strings reach span attributes
    /// and log lines, so they are short visible ASCII: no CR/LF to forge a log line.
    public static let maxRequestIDBytes = 128
    public static let maxToolNameBytes = 128
    public static let maxOpBytes = 64

    /// 1 to `maxBytes` bytes, each visible ASCII (0x21–0x7E).
    static func isToken(_ text: String, maxBytes: Int) -> Bool {
        let bytes = text.utf8
        return !bytes.isEmpty && bytes.count <= maxBytes && bytes.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }

    /// Why a decoded message is malformed, or nil.
    static func structuralProblem(_ json: JSONValue) -> String? {
        guard json.objectValue != nil else { return "expected a JSON object" }
        guard let op = json["op"]?.stringValue else { return "missing string field op" }
        guard isToken(op, maxBytes: maxOpBytes) else { return "op must be 1 to \(maxOpBytes) visible ASCII characters" }
        if let requestID = json["request_id"] {
            guard let text = requestID.stringValue else { return "request_id must be a string" }
            guard isToken(text, maxBytes: maxRequestIDBytes) else {
                return
                    "request_id must be 1 to \(maxRequestIDBytes) visible ASCII characters (no spaces or control characters)"
            }
        }
        if op == "call_tool" {
            guard let name = json["name"]?.stringValue, !name.isEmpty else {
                return "call_tool needs a non-empty string name"
            }
            guard isToken(name, maxBytes: maxToolNameBytes) else {
                return "name must be 1 to \(maxToolNameBytes) visible ASCII characters"
            }
            if let arguments = json["arguments"], arguments.objectValue == nil, !arguments.isNull {
                return "arguments must be an object"
            }
        }
        return nil
    }
}
