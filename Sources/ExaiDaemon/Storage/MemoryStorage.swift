import NIOConcurrencyHelpers

/// The default store: a dictionary with lazy TTL expiry and a size bound. When full, expired
/// entries go first, then the ones closest to expiry.
public final class MemoryStorage: StorageBackend {
    public let kind = "memory"
    public let maxEntries: Int
    public var spanTarget: StorageSpanTarget { StorageSpanTarget(system: "memory", namespace: "exai", isRemote: false) }

    private struct Entry {
        var value: [UInt8]
        var expires: ContinuousClock.Instant
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    public init(maxEntries: Int = 10_000) {
        self.maxEntries = max(1, maxEntries)
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        let now = ContinuousClock.now
        return entries.withLockedValue { entries in
            guard let entry = entries[key] else { return nil }
            if entry.expires <= now {
                entries[key] = nil
                return nil
            }
            return entry.value
        }
    }

    public func set(_ key: String, _ value: [UInt8], ttl: Duration) async throws {
        let now = ContinuousClock.now
        entries.withLockedValue { entries in
            if entries[key] == nil, entries.count >= maxEntries {
                entries = entries.filter { $0.value.expires > now }
                if entries.count >= maxEntries, let soonest = entries.min(by: { $0.value.expires < $1.value.expires })?.key {
                    entries[soonest] = nil
                }
            }
            entries[key] = Entry(value: value, expires: now + ttl)
        }
    }

    @discardableResult
    public func delete(_ key: String) async throws -> Bool {
        entries.withLockedValue { $0.removeValue(forKey: key) != nil }
    }

    public func ping() async throws {}

    public func shutdown() async {}

    /// Entries held, expired ones included until touched.
    public var count: Int { entries.withLockedValue { $0.count } }
}
