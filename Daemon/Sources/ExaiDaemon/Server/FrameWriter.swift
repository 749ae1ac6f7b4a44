import Foundation
import HummingbirdWebSocket
import NIOConcurrencyHelpers
import NIOWebSocket
import Traceline

/// Sends JSON frames on one connection. Every frame carries a `correlation_id`; a write to a
/// closed connection is dropped (the session is ending anyway), and so is every write once the
/// connection is ``WriteWatch/isStalled`` (a client that stopped reading).
struct FrameWriter: Sendable {
    let outbound: WebSocketOutboundWriter
    let watch = WriteWatch()

    func send(_ members: [(String, JSONValue)], correlationID: CorrelationID) async {
        guard watch.begin() else { return }
        defer { watch.end() }
        var members = members
        members.removeAll { $0.0 == "correlation_id" }
        members.append(("correlation_id", .string(correlationID.value)))
        try? await outbound.write(.text(JSONValue.object(members).serialized))
    }

    func close(_ code: WebSocketErrorCode, reason: String) async {
        guard !watch.isStalled else { return }
        try? await outbound.close(code, reason: reason)
    }
}

/// Tells a client that reads too slowly from one that is merely busy: the connection is stalled
/// when frames have been waiting to be written and none has been written for a whole timeout.
/// Cost per frame: two short locks.
final class WriteWatch: Sendable {
    private struct State {
        var waiting = 0
        var lastProgress = ContinuousClock.now
        var stalled = false
    }

    private let state = NIOLockedValueBox(State())

    /// Registers a write; false once the connection is stalled (the frame is not sent).
    func begin() -> Bool {
        state.withLockedValue { state in
            guard !state.stalled else { return false }
            if state.waiting == 0 { state.lastProgress = .now }
            state.waiting += 1
            return true
        }
    }

    func end() {
        state.withLockedValue { state in
            state.waiting -= 1
            state.lastProgress = .now
        }
    }

    /// Marks the connection stalled when a write has waited `timeout` without progress; true only
    /// the time it does.
    func markStalled(timeout: Duration) -> Bool {
        state.withLockedValue { state in
            guard !state.stalled, state.waiting > 0, ContinuousClock.now - state.lastProgress >= timeout else {
                return false
            }
            state.stalled = true
            return true
        }
    }

    var isStalled: Bool { state.withLockedValue { $0.stalled } }
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
