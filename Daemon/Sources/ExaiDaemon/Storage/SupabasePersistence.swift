import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOSSL
import PostgresNIO
import Traceline
import Tracing

/// Conversations persisted to Supabase through its PostgreSQL connection (postgres-nio).
///
/// Tables `schema_version`, `conversations`, `messages` are created and migrated at start-up by
/// versioned, idempotent migrations under an advisory lock (several daemons may start at once).
/// Every call is a CLIENT span (`INSERT messages`, `SELECT schema_version`, …) behind a circuit
/// breaker (3 failures, 30 s) that sees every real failure.
public final class SupabasePersistence: Sendable {
    public struct Target: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var database: String
    }

    public let target: Target
    public let breaker: CircuitBreaker
    let client: PostgresClient
    /// For the health probe: a fresh connection each time, so the probe measures the database now,
    /// not the pool's reconnection backoff.
    private let probeConfiguration: PostgresConnection.Configuration
    private let tracer: any Tracer
    private let logger: Logger
    private let migrated = NIOLockedValueBox(false)

    /// The migrations, in order; each runs once, in the transaction that records it.
    static let migrations: [(version: Int, description: String, statements: [PostgresQuery])] = [
        (
            1, "conversations and messages",
            [
                """
                CREATE TABLE IF NOT EXISTS conversations (
                    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                    continuation_id text NOT NULL UNIQUE,
                    title text,
                    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                """
                CREATE TABLE IF NOT EXISTS messages (
                    id bigserial PRIMARY KEY,
                    conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
                    role text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
                    content text NOT NULL,
                    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
                    created_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX IF NOT EXISTS messages_conversation_order ON messages (conversation_id, created_at, id)",
            ]
        )
    ]

    /// - Parameter url: `postgres://user:password@host:port/database[?sslmode=disable|prefer|require]`
    ///   (the connection string a Supabase project gives; the pooler's works too).
    public init(
        url: String, tracer: any Tracer, logger: Logger,
        breaker: CircuitBreaker.Configuration = .init(failureThreshold: 3, cooldown: .seconds(30))
    ) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql", let host = components.host, !host.isEmpty
        else {
            throw StorageError.invalidConfiguration(
                "SUPABASE_DB_URL must be postgres://user:password@host:port/database")
        }
        let database = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        let mode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        let tls: PostgresClient.Configuration.TLS
        switch mode {
        case "disable": tls = .disable
        case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
        default: tls = .prefer(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432,
            username: components.user?.removingPercentEncoding ?? components.user ?? "postgres",
            password: components.password?.removingPercentEncoding ?? components.password,
            database: database.isEmpty ? nil : database, tls: tls)
        configuration.options.connectTimeout = .seconds(3)
        configuration.options.maximumConnections = 8
        self.target = Target(
            host: host, port: components.port ?? 5432, database: database.isEmpty ? "postgres" : database)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let probeTLS: PostgresConnection.Configuration.TLS
        switch mode {
        case "disable": probeTLS = .disable
        case "require", "verify-ca", "verify-full":
            probeTLS = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        default: probeTLS = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var probe = PostgresConnection.Configuration(
            host: host, port: components.port ?? 5432,
            username: components.user?.removingPercentEncoding ?? components.user ?? "postgres",
            password: components.password?.removingPercentEncoding ?? components.password,
            database: database.isEmpty ? nil : database, tls: probeTLS)
        probe.options.connectTimeout = .seconds(3)
        self.probeConfiguration = probe
        self.tracer = tracer
        self.logger = logger
        self.breaker = CircuitBreaker(name: "supabase", configuration: breaker)
    }

    /// Runs the connection pool; returns when cancelled.
    public func run() async {
        await client.run()
    }

    public var isMigrated: Bool { migrated.withLockedValue { $0 } }

    /// Applies the pending migrations; safe to call again (and from several processes).
    @discardableResult
    public func migrate() async throws -> Int {
        let applied = try await traced("MIGRATE", "migrate", "schema_version") { [client, logger] in
            // Everything under the lock, the first CREATE included: `CREATE TABLE IF NOT EXISTS`
            // is not safe against a concurrent create of the same table (23505 on pg_type), and a
            // daemon's start-up migration races its first chat's write, or another daemon's start.
            let applied = try await client.withTransaction(logger: logger) { connection -> Int in
                try await connection.query("SELECT pg_advisory_xact_lock(7341902)", logger: logger)
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS schema_version (
                        version integer PRIMARY KEY,
                        applied_at timestamptz NOT NULL DEFAULT now(),
                        description text NOT NULL
                    )
                    """, logger: logger)
                var current = 0
                for try await version in try await connection.query(
                    "SELECT coalesce(max(version), 0) FROM schema_version", logger: logger
                ).decode(Int.self) {
                    current = version
                }
                var count = 0
                for migration in Self.migrations where migration.version > current {
                    for statement in migration.statements { try await connection.query(statement, logger: logger) }
                    try await connection.query(
                        "INSERT INTO schema_version (version, description) VALUES (\(migration.version), \(migration.description))",
                        logger: logger)
                    count += 1
                }
                return count
            }
            return applied
        }
        migrated.withLockedValue { $0 = true }
        return applied
    }

    /// The health probe: `SELECT version FROM schema_version LIMIT 1` (the seed's one-row query) on
    /// a fresh connection.
    public func schemaVersion() async throws -> Int? {
        try await traced("SELECT", "select", "schema_version") { [probeConfiguration, logger] in
            let connection = try await PostgresConnection.connect(
                configuration: probeConfiguration, id: 0, logger: logger)
            do {
                var version: Int?
                for try await value in try await connection.query(
                    "SELECT version FROM schema_version ORDER BY version DESC LIMIT 1", logger: logger
                ).decode(Int.self) {
                    version = value
                }
                try? await connection.close()
                return version
            } catch {
                try? await connection.close()
                throw error
            }
        }
    }

    /// Turns a continuation loads at most: the newest, which are the ones a provider is sent.
    public static let maxLoadedTurns = 200

    /// The thread's newest turns (at most ``maxLoadedTurns``) in order, oldest first, or nil when
    /// the conversation is unknown.
    public func loadTurns(continuationID: String) async throws -> [ConversationTurn]? {
        try await ensureMigrated()
        return try await traced("SELECT", "select", "messages") { [client, logger] in
            var found = false
            for try await _ in try await client.query(
                "SELECT 1 FROM conversations WHERE continuation_id = \(continuationID)", logger: logger
            ).decode(Int.self) {
                found = true
            }
            guard found else { return nil }
            var turns: [ConversationTurn] = []
            let rows = try await client.query(
                """
                SELECT role, content, metadata, created_at FROM (
                    SELECT m.id, m.role, m.content, m.metadata::text AS metadata, m.created_at FROM messages m
                    JOIN conversations c ON c.id = m.conversation_id
                    WHERE c.continuation_id = \(continuationID)
                    ORDER BY m.created_at DESC, m.id DESC LIMIT \(Self.maxLoadedTurns)
                ) newest ORDER BY created_at, id
                """, logger: logger)
            for try await (role, content, metadata, created) in rows.decode((String, String, String, Date).self) {
                var turn =
                    (try? JSONDecoder().decode(ConversationTurn.self, from: Data(metadata.utf8)))
                    ?? ConversationTurn(role: role, content: content)
                turn.role = role
                turn.content = content
                turn.timestamp = created.formatted(.iso8601)
                turns.append(turn)
            }
            return turns
        }
    }

    /// Saves the new turns of one exchange (and the conversation row, the first time).
    public func persist(continuationID: String, title: String, turns: [ConversationTurn]) async throws {
        try await ensureMigrated()
        try await traced("INSERT", "insert", "messages") { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                var conversationID: UUID?
                let rows = try await connection.query(
                    """
                    INSERT INTO conversations (continuation_id, title) VALUES (\(continuationID), \(String(title.prefix(200))))
                    ON CONFLICT (continuation_id) DO UPDATE SET updated_at = now() RETURNING id
                    """, logger: logger)
                for try await id in rows.decode(UUID.self) { conversationID = id }
                guard let conversationID else {
                    throw StorageError.server(backend: "supabase", message: "no conversation id returned")
                }
                for turn in turns {
                    let metadata = String(decoding: try JSONEncoder().encode(turn), as: UTF8.self)
                    try await connection.query(
                        """
                        INSERT INTO messages (conversation_id, role, content, metadata)
                        VALUES (\(conversationID), \(turn.role), \(turn.content), \(metadata)::jsonb)
                        """, logger: logger)
                }
            }
        }
    }

    private func ensureMigrated() async throws {
        if !isMigrated { try await migrate() }
    }

    private func traced<Result: Sendable>(
        _ operation: String, _ metricOperation: String, _ collection: String,
        _ body: @Sendable () async throws -> Result
    ) async throws -> Result {
        let span = tracer.startSpan(
            "\(operation) \(collection)", context: ServiceContext.current ?? .topLevel, ofKind: .client)
        span.attributes["db.system.name"] = "postgresql"
        span.attributes["db.operation.name"] = operation
        span.attributes["db.collection.name"] = collection
        span.attributes["db.namespace"] = target.database
        span.attributes["server.address"] = target.host
        span.attributes["server.port"] = target.port
        span.attributes["exai.storage.backend"] = "supabase"
        span.attributes["exai.storage.operation"] = metricOperation
        defer { span.end() }
        guard breaker.acquire() else {
            let error = StorageError.circuitOpen(backend: "supabase")
            Self.record(error, on: span)
            throw error
        }
        do {
            let result = try await body()
            breaker.recordSuccess()
            span.attributes["exai.result"] = "success"
            return result
        } catch is CancellationError {
            breaker.recordSuccess()
            throw CancellationError()
        } catch {
            breaker.recordFailure()
            let wrapped = Self.describe(error)
            Self.record(wrapped, on: span)
            throw wrapped
        }
    }

    /// postgres-nio keeps its error descriptions generic (they may hold data); we add the SQLSTATE
    /// and the server's message, never the query's values.
    static func describe(_ error: any Error) -> StorageError {
        if let error = error as? StorageError { return error }
        if let error = error as? PSQLError {
            if let server = error.serverInfo {
                let state = server[.sqlState] ?? "?"
                return .server(backend: "supabase", message: "\(state) \(server[.message] ?? "")")
            }
            return .unavailable(backend: "supabase", reason: "\(error.code)")
        }
        return .unavailable(backend: "supabase", reason: String(describing: error))
    }

    private static func record(_ error: StorageError, on span: any Tracing.Span) {
        span.attributes["exai.result"] = "error"
        span.attributes["error.type"] = error.errorType
        span.setStatus(SpanStatus(code: .error, message: error.description))
    }
}
