import NIOConcurrencyHelpers

/// A counting gate taken without waiting: a call either gets a slot now or is told to retry.
/// The reference daemon's semaphores with a 1 ms acquire timeout behave the same way.
final class ConcurrencyGate: Sendable {
    let name: String
    let limit: Int
    private let inUse = NIOLockedValueBox(0)

    init(name: String, limit: Int) {
        self.name = name
        self.limit = max(1, limit)
    }

    func tryAcquire() -> Bool {
        inUse.withLockedValue { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func release() {
        inUse.withLockedValue { count in count = max(0, count - 1) }
    }

    var current: Int { inUse.withLockedValue { $0 } }
}
