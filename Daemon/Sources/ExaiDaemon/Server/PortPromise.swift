import NIOConcurrencyHelpers

/// A port that becomes known once a listener is bound; any number of callers can wait for it.
final class PortPromise: Sendable {
    private let state = NIOLockedValueBox<(port: Int?, closed: Bool, waiters: [CheckedContinuation<Int?, Never>])>(
        (nil, false, []))

    func fulfil(_ port: Int) {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Int?, Never>] in
            state.port = port
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    /// Wakes the waiters with nil (the listener will never start).
    func fail() {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Int?, Never>] in
            state.closed = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    var value: Int? {
        get async {
            await withCheckedContinuation { continuation in
                let ready = state.withLockedValue { state -> Int?? in
                    if let port = state.port { return .some(port) }
                    if state.closed { return .some(nil) }
                    state.waiters.append(continuation)
                    return .none
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}
