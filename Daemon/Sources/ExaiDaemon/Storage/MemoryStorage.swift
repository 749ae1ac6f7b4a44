import NIOConcurrencyHelpers

/// The default store: a dictionary with lazy TTL expiry, bounded in entries and in bytes (keys
/// plus values). When a write would pass either bound, expired entries go first, then the ones
/// closest to expiry; every entry evicted before its time is counted.
public final class MemoryStorage: StorageBackend {
    public let kind = "memory"
    public let maxEntries: Int
    public let maxBytes: Int
    public var spanTarget: StorageSpanTarget { StorageSpanTarget(system: "memory", namespace: "exai", isRemote: false) }

    private struct Entry {
        var value: [UInt8]
        var expires: ContinuousClock.Instant
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var bytes = 0
        var evicted = 0
    }

    private let state = NIOLockedValueBox(State())

    public init(maxEntries: Int = 10_000, maxBytes: Int = 256 * 1024 * 1024) {
        self.maxEntries = max(1, maxEntries)
        self.maxBytes = max(1, maxBytes)
    }

    private static func cost(_ key: String, _ value: [UInt8]) -> Int { key.utf8.count + value.count + 64 }

    public func get(_ key: String) async throws -> [UInt8]? {
        let now = ContinuousClock.now
        return state.withLockedValue { state in
            guard let entry = state.entries[key] else { return nil }
            if entry.expires <= now {
                state.entries[key] = nil
                state.bytes -= Self.cost(key, entry.value)
                return nil
            }
            return entry.value
        }
    }

    public func set(_ key: String, _ value: [UInt8], ttl: Duration) async throws {
        let now = ContinuousClock.now
        let cost = Self.cost(key, value)
        guard cost <= maxBytes else {
            throw StorageError.server(
                backend: kind, message: "value of \(value.count) bytes exceeds the store's \(maxBytes)-byte bound")
        }
        state.withLockedValue { state in
            if let previous = state.entries.removeValue(forKey: key) { state.bytes -= Self.cost(key, previous.value) }
            if state.entries.count >= maxEntries || state.bytes + cost > maxBytes {
                // One pass drops what has expired; then the soonest to expire go until the new entry fits.
                state.entries = state.entries.filter { $0.value.expires > now }
                state.bytes = state.entries.reduce(0) { $0 + Self.cost($1.key, $1.value.value) }
                if state.entries.count >= maxEntries || state.bytes + cost > maxBytes {
                    let soonest = state.entries.sorted { $0.value.expires < $1.value.expires }
                    for (oldKey, oldEntry) in soonest {
                        guard state.entries.count >= maxEntries || state.bytes + cost > maxBytes else { break }
                        state.entries[oldKey] = nil
                        state.bytes -= Self.cost(oldKey, oldEntry.value)
                        state.evicted += 1
                    }
                }
            }
            state.entries[key] = Entry(value: value, expires: now + ttl)
            state.bytes += cost
        }
    }

    @discardableResult
    public func delete(_ key: String) async throws -> Bool {
        state.withLockedValue { state in
            guard let entry = state.entries.removeValue(forKey: key) else { return false }
            state.bytes -= Self.cost(key, entry.value)
            return true
        }
    }

    public func ping() async throws {}

    public func shutdown() async {}

    /// Entries held, expired ones included until touched.
    public var count: Int { state.withLockedValue { $0.entries.count } }
    /// Bytes held (keys, values and a fixed per-entry cost), expired entries included until touched.
    public var bytes: Int { state.withLockedValue { $0.bytes } }
    /// Entries dropped before their TTL to stay within the bounds.
    public var evictedCount: Int { state.withLockedValue { $0.evicted } }
}
