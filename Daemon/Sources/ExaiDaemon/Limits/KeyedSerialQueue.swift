import NIOConcurrencyHelpers

/// Runs async work one at a time per key, in arrival order; different keys run concurrently.
/// A key with nothing running or waiting holds no memory.
final class KeyedSerialQueue: Sendable {
    private let waiters = NIOLockedValueBox<[String: [CheckedContinuation<Void, Never>]]>([:])

    /// Runs `body` once every earlier `run` for `key` has finished. Waiting is not cancellable:
    /// the work ahead is bounded by its own timeouts.
    func run<T>(_ key: String, _ body: () async throws -> T) async rethrows -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    private func acquire(_ key: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let runNow = waiters.withLockedValue { waiters -> Bool in
                guard waiters[key] != nil else {
                    waiters[key] = []
                    return true
                }
                waiters[key]!.append(continuation)
                return false
            }
            if runNow { continuation.resume() }
        }
    }

    private func release(_ key: String) {
        let next = waiters.withLockedValue { waiters -> CheckedContinuation<Void, Never>? in
            guard var queue = waiters[key], !queue.isEmpty else {
                waiters[key] = nil
                return nil
            }
            let next = queue.removeFirst()
            waiters[key] = queue
            return next
        }
        next?.resume()
    }
}
