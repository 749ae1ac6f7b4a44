import Traceline

/// A key/value store for conversation threads: the in-memory default or Redis.
public protocol StorageBackend: Sendable {
    /// `memory` or `redis`: what health and metrics report (never "redis" for the in-memory store).
    var kind: String { get }
    /// For spans: `db.system.name`, `db.namespace`, `server.address`, `server.port`.
    var spanTarget: StorageSpanTarget { get }
    func get(_ key: String) async throws -> [UInt8]?
    func set(_ key: String, _ value: [UInt8], ttl: Duration) async throws
    /// Whether the key existed.
    @discardableResult func delete(_ key: String) async throws -> Bool
    func ping() async throws
    func shutdown() async
}

public struct StorageSpanTarget: Sendable {
    public var system: String
    public var namespace: String?
    public var address: String?
    public var port: Int?
    /// CLIENT for a remote store, INTERNAL for one in the process.
    public var isRemote: Bool
}

/// Why a storage or database call failed. Descriptions never hold values or credentials.
public enum StorageError: Error, CustomStringConvertible, GenAIErrorTypeProviding, Equatable {
    case unavailable(backend: String, reason: String)
    case timeout(backend: String)
    case server(backend: String, message: String)
    case circuitOpen(backend: String)
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .unavailable(let backend, let reason): return "\(backend) unavailable: \(reason)"
        case .timeout(let backend): return "\(backend) did not answer in time"
        case .server(let backend, let message): return "\(backend) error: \(message)"
        case .circuitOpen(let backend):
            return "\(backend) circuit breaker open after repeated failures; serving without it"
        case .invalidConfiguration(let reason): return "invalid storage configuration: \(reason)"
        }
    }

    public var errorType: String {
        switch self {
        case .unavailable: return "unavailable"
        case .timeout: return "timeout"
        case .server: return "server_error"
        case .circuitOpen: return "circuit_open"
        case .invalidConfiguration: return "configuration"
        }
    }
}
