import Traceline
import Tracing

/// A storage backend behind a circuit breaker, each call a span.
///
/// Spans follow the database conventions: named `{db.operation.name} {target}` where the target
/// is the key's prefix (`GET thread`, never the key itself, which holds an id), with
/// `db.system.name`, `db.operation.name`, `db.namespace`, `server.*`; a read records
/// `exai.cache.result` (hit or miss); a failure records `error.type`. Values never go on spans.
/// The breaker sees every real failure (a miss is not one) and, while open, calls fail fast.
public final class InstrumentedStorage: Sendable {
    public let backend: any StorageBackend
    public let breaker: CircuitBreaker
    let tracer: any Tracer

    public init(
        backend: any StorageBackend, tracer: any Tracer,
        breaker: CircuitBreaker.Configuration = .init(failureThreshold: 5, cooldown: .seconds(60))
    ) {
        self.backend = backend
        self.tracer = tracer
        self.breaker = CircuitBreaker(name: backend.kind, configuration: breaker)
    }

    public var kind: String { backend.kind }

    public func get(_ key: String) async throws -> [UInt8]? {
        try await traced("GET", "get", key) { span in
            let value = try await backend.get(key)
            span.attributes["exai.cache.result"] = value == nil ? "miss" : "hit"
            return value
        }
    }

    public func set(_ key: String, _ value: [UInt8], ttl: Duration) async throws {
        try await traced("SET", "set", key) { _ in try await backend.set(key, value, ttl: ttl) }
    }

    @discardableResult
    public func delete(_ key: String) async throws -> Bool {
        try await traced("DEL", "delete", key) { _ in try await backend.delete(key) }
    }

    public func ping() async throws {
        try await traced("PING", "ping", nil) { _ in try await backend.ping() }
    }

    private func traced<Result: Sendable>(
        _ operation: String, _ metricOperation: String, _ key: String?,
        _ body: (any Tracing.Span) async throws -> Result
    ) async throws -> Result {
        let target = backend.spanTarget
        let prefix = key.map { String($0.prefix { $0 != ":" }.prefix(32)) }
        let span = tracer.startSpan(
            prefix.map { "\(operation) \($0)" } ?? operation, context: ServiceContext.current ?? .topLevel,
            ofKind: target.isRemote ? .client : .internal)
        span.attributes["db.system.name"] = target.system
        span.attributes["db.operation.name"] = operation
        if let namespace = target.namespace { span.attributes["db.namespace"] = namespace }
        if let address = target.address { span.attributes["server.address"] = address }
        if let port = target.port { span.attributes["server.port"] = port }
        span.attributes["exai.storage.backend"] = backend.kind
        span.attributes["exai.storage.operation"] = metricOperation
        defer { span.end() }
        guard breaker.acquire() else {
            let error = StorageError.circuitOpen(backend: backend.kind)
            record(error, on: span, metricOperation: metricOperation)
            throw error
        }
        do {
            let result = try await body(span)
            breaker.recordSuccess()
            span.attributes["exai.result"] = "success"
            return result
        } catch is CancellationError {
            breaker.recordSuccess()
            span.attributes["exai.result"] = "cancelled"
            throw CancellationError()
        } catch {
            breaker.recordFailure()
            record(error, on: span, metricOperation: metricOperation)
            throw error
        }
    }

    private func record(_ error: any Error, on span: any Tracing.Span, metricOperation: String) {
        span.attributes["exai.result"] = "error"
        span.attributes["error.type"] =
            (error as? GenAIErrorTypeProviding)?.errorType ?? String(describing: type(of: error))
        if metricOperation == "get" { span.attributes["exai.cache.result"] = "error" }
        span.setStatus(SpanStatus(code: .error, message: String(describing: error)))
    }
}
