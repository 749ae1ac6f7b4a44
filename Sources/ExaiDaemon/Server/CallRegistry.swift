import NIOConcurrencyHelpers
import NIOCore
import Traceline

/// Results by `request_id` (for a resent request) and the calls in flight (for de-duplication),
/// per session.
///
/// The reference daemon kept both in process-wide dictionaries, so one client could read
/// another's result by guessing its request id, and its in-flight set never shrank. Here every
/// entry belongs to a session, in-flight entries are removed when their call ends whatever the
/// outcome, cached results expire after the TTL and are bounded in number, and a closed session's
/// entries go with it.
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
        var results: [Key: (frame: JSONValue, expires: ContinuousClock.Instant)] = [:]
        var resultOrder = CircularBuffer<Key>()
        var runningRequests: [Key: String] = [:]   // request id → call key
        var runningCalls: [Key: String] = [:]      // call key → request id
    }

    let ttl: Duration
    let maxResults: Int
    private let state = NIOLockedValueBox(State())

    init(ttl: Duration, maxResults: Int = 10_000) {
        self.ttl = ttl
        self.maxResults = maxResults
    }

    func begin(session: String, requestID: String, callKey: String, coalesce: Bool) -> Begin {
        let now = ContinuousClock.now
        return state.withLockedValue { state in
            let request = Key(session: session, value: requestID)
            if let cached = state.results[request] {
                if cached.expires > now { return .cached(cached.frame) }
                state.results[request] = nil
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
        state.withLockedValue { state in
            let request = Key(session: session, value: requestID)
            state.runningRequests[request] = nil
            let call = Key(session: session, value: callKey)
            if state.runningCalls[call] == requestID { state.runningCalls[call] = nil }
            guard let result, ttl > .zero else { return }
            if state.results[request] == nil { state.resultOrder.append(request) }
            state.results[request] = (result, now + ttl)
            // Expired entries and the oldest beyond the bound go, in insertion order.
            while let oldest = state.resultOrder.first {
                if let entry = state.results[oldest], entry.expires > now, state.results.count <= maxResults { break }
                state.resultOrder.removeFirst()
                state.results[oldest] = nil
            }
        }
    }

    /// Drops everything a closed session left.
    func forget(session: String) {
        state.withLockedValue { state in
            state.results = state.results.filter { $0.key.session != session }
            state.resultOrder = CircularBuffer(state.resultOrder.filter { $0.session != session })
            state.runningRequests = state.runningRequests.filter { $0.key.session != session }
            state.runningCalls = state.runningCalls.filter { $0.key.session != session }
        }
    }

    /// Entries in flight (both maps), for the leak test and `/metrics`.
    var inFlightCount: Int { state.withLockedValue { $0.runningRequests.count + $0.runningCalls.count } }
    var cachedCount: Int { state.withLockedValue { $0.results.count } }
}
