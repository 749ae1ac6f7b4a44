import Foundation
import HummingbirdWebSocket
import NIOWebSocket
import Traceline

/// Sends JSON frames on one connection. Every frame carries a `correlation_id`; a write to a
/// closed connection is dropped (the session is ending anyway).
struct FrameWriter: Sendable {
    let outbound: WebSocketOutboundWriter

    func send(_ members: [(String, JSONValue)], correlationID: CorrelationID) async {
        var members = members
        members.removeAll { $0.0 == "correlation_id" }
        members.append(("correlation_id", .string(correlationID.value)))
        try? await outbound.write(.text(JSONValue.object(members).serialized))
    }

    func close(_ code: WebSocketErrorCode, reason: String) async {
        try? await outbound.close(code, reason: reason)
    }
}

/// Seconds since the Unix epoch, the `t` of progress frames.
func epochSeconds() -> JSONValue {
    .number((Date().timeIntervalSince1970 * 1000).rounded() / 1000)
}

/// Compares secrets in time that depends on their lengths only, not on where they differ.
func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let left = Array(a.utf8), right = Array(b.utf8)
    var difference = UInt8(left.count == right.count ? 0 : 1)
    let length = max(left.count, right.count)
    for index in 0..<length {
        let x = index < left.count ? left[index] : 0
        let y = index < right.count ? right[index] : 0
        difference |= x ^ y
    }
    return difference == 0
}
