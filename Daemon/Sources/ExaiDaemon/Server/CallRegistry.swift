import NIOConcurrencyHelpers
import NIOCore
import Traceline

/// Short keys derived from a call, so that neither the registry nor a provider request carries
/// the client's text.
enum CallKey {
    /// 128 bits of two keyed SipHash digests of `text` (the tool name and its arguments): equal
    /// calls get equal keys; the per-process random seed keeps a client from forging a collision.
    static func digest(_ text: String) -> String {
        var first = Hasher()
        first.combine(0 as UInt8)
        first.combine(text)
        var second = Hasher()
        second.combine(1 as UInt8)
        second.combine(text)
        return hex(UInt64(bitPattern: Int64(first.finalize()))) + hex(UInt64(bitPattern: Int64(second.finalize())))
    }

    /// A random 128-bit ID in hex, for the provider request's `Idempotency-Key`.
    static func idempotencyKey() -> String {
        hex(UInt64.random(in: .min ... .max)) + hex(UInt64.random(in: .min ... .max))
    }

    private static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}

/// Results by `request_id` (for a resent request) and the calls in flight (for de-duplication),
/// per session.
///
/// The reference daemon kept both in process-wide dictionaries, so one client could read
/// another's result by guessing its request id, and its in-flight set never shrank. Here every
/// entry belongs to a session, in-flight entries are removed when their call ends whatever the
/// outcome, cached results expire after the TTL and are bounded in bytes (oldest evicted first,
/// counted), and a closed session's entries go with it. Call keys are digests, so an entry costs
/// a few hundred bytes whatever the call's arguments.
final class CallRegistry: Sendable {
    enum Begin: Equatable {
        /// A finished call with this request id: resend its result.
        case cached(JSONValue)
        /// This request id is running.
        case runningRequest
        /// The same call (tool and arguments) is running under another request id.
        case duplicateOf(String)
        /// Go ahead; call ``finish`` when done.
        case started
    }

    private struct Key: Hashable {
        let session: String
        let value: String
    }

    private struct State {
        var results: [Key: (frame: JSONValue, bytes: Int, expires: ContinuousClock.Instant)] = [:]
        var resultOrder = CircularBuffer<Key>()
        var resultBytes = 0
        var evicted = 0
        var runningRequests: [Key: String] = [:]  // request id → call key
        var runningCalls: [Key: String] = [:]  // call key → request id
    }

    let ttl: Duration
    let maxResultBytes: Int
    private let state = NIOLockedValueBox(State())

    init(ttl: Duration, maxResultBytes: Int = 64 * 1024 * 1024) {
        self.ttl = ttl
        self.maxResultBytes = maxResultBytes
    }

    func begin(session: String, requestID: String, callKey: String, coalesce: Bool) -> Begin {
        let now = ContinuousClock.now
        return state.withLockedValue { state in
            let request = Key(session: session, value: requestID)
            if let cached = state.results[request] {
                if cached.expires > now { return .cached(cached.frame) }
                state.results[request] = nil
                state.resultBytes -= cached.bytes
            }
            if state.runningRequests[request] != nil { return .runningRequest }
            let call = Key(session: session, value: callKey)
            if coalesce, let original = state.runningCalls[call] { return .duplicateOf(original) }
            state.runningRequests[request] = callKey
            if coalesce { state.runningCalls[call] = requestID }
            return .started
        }
    }

    /// Ends a started call; caches `result` (nil: nothing to cache, e.g. cancelled).
    func finish(session: String, requestID: String, callKey: String, result: JSONValue?) {
        let now = ContinuousClock.now
        // The frame's size as sent, plus the keys and bookkeeping.
        let bytes = result.map { $0.serialized.utf8.count + session.utf8.count + requestID.utf8.count + 128 } ?? 0
        state.withLockedValue { state in
            let request = Key(session: session, value: requestID)
            state.runningRequests[request] = nil
            let call = Key(session: session, value: callKey)
            if state.runningCalls[call] == requestID { state.runningCalls[call] = nil }
            guard let result, ttl > .zero else { return }
            guard bytes <= maxResultBytes else {
                state.evicted += 1
                return
            }
            if let previous = state.results[request] {
                state.resultBytes -= previous.bytes
            } else {
                state.resultOrder.append(request)
            }
            state.results[request] = (result, bytes, now + ttl)
            state.resultBytes += bytes
            // Expired entries and the oldest beyond the byte bound go, in insertion order.
            while let oldest = state.resultOrder.first {
                guard let entry = state.results[oldest] else {
                    state.resultOrder.removeFirst()
                    continue
                }
                if entry.expires > now, state.resultBytes <= maxResultBytes { break }
                if entry.expires > now { state.evicted += 1 }
                state.resultOrder.removeFirst()
                state.results[oldest] = nil
                state.resultBytes -= entry.bytes
            }
        }
    }

    /// Drops everything a closed session left.
    func forget(session: String) {
        state.withLockedValue { state in
            state.results = state.results.filter { $0.key.session != session }
            state.resultBytes = state.results.values.reduce(0) { $0 + $1.bytes }
            state.resultOrder = CircularBuffer(state.resultOrder.filter { $0.session != session })
            state.runningRequests = state.runningRequests.filter { $0.key.session != session }
            state.runningCalls = state.runningCalls.filter { $0.key.session != session }
        }
    }

    /// Entries in flight (both maps), for the leak test and `/metrics`.
    var inFlightCount: Int { state.withLockedValue { $0.runningRequests.count + $0.runningCalls.count } }
    var cachedCount: Int { state.withLockedValue { $0.results.count } }
    var cachedBytes: Int { state.withLockedValue { $0.resultBytes } }
    /// Results dropped before their TTL because the byte bound was reached.
    var evictedCount: Int { state.withLockedValue { $0.evicted } }
}
