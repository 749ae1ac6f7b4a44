import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import ServiceLifecycle
import Traceline
import TracelineHummingbird
import Tracing

/// The exai-daemon: AI clients connect over WebSocket, call tools, and the tools call the Kimi
/// and GLM chat APIs. The same HTTP server serves `/health`, `/livez`, `/readyz` and `/metrics`;
/// a second listener serves `/metrics` on `METRICS_PORT`.
///
/// Run it in a `ServiceGroup` after the tracing service (so spans are flushed after it stops).
/// On graceful shutdown it stops taking calls, lets running calls finish up to
/// `shutdownGrace`, closes sessions with 1001, then stops its listeners.
public final class ExaiDaemon: Service, Sendable {
    public static let version = "0.1.0"
    /// The string attribute cut the daemon's executable sets when no `OTEL_*_VALUE_LENGTH_LIMIT` is given.
    public static let spanAttributeValueLengthLimit = 4096

    public let configuration: DaemonConfiguration
    public let registry: MetricsRegistry
    public let health: HealthAggregator
    let tracer: any Tracer
    let logger: Logger
    let startedAt = ContinuousClock.now
    let httpClient: HTTPClient
    let providers: [ProviderKind: ChatProviderClient]
    let tools: [String: any DaemonTool]
    let toolOrder: [String]
    let globalGate: ConcurrencyGate
    let providerGates: [ProviderKind: ConcurrencyGate]
    let connections: ConnectionLimiter
    let rateLimiter: RateLimiter
    let callRegistry: CallRegistry
    let metrics: DaemonMetrics
    let streamStatistics = StreamStatistics()
    let synthetic: SyntheticMonitor?
    let tracePages: (store: TraceStore, spanMetrics: SpanMetricsProcessor?, options: TracePagesOptions)?
    /// The trace pages' per-minute history of the span metrics (with the pages and span metrics).
    let history: SpanMetricsHistory?
    /// The conversation store (memory or Redis) and, when configured, Supabase persistence.
    public let conversations: ConversationStore
    private let state: NIOLockedValueBox<State>
    private let port = PortPromise()
    private let metricsPort = PortPromise()

    private struct State {
        var token: String
        /// Bumped by every rotation; sessions remember the generation they authenticated under.
        var tokenGeneration = 0
        var sessions: [String: DaemonSession] = [:]
        var accepting = true
    }

    /// - Parameters:
    ///   - tracer: the tracer for every span the daemon makes (a `TracelineTracer`, or `NoOpTracer` when tracing is off).
    ///   - registry: the `/metrics` registry; the daemon adds its own sources, health and synthetic series.
    ///   - spanMetrics: for the RED health checks on `call_tool chat`.
    ///   - tracerProvider: its export pipeline's books feed the span-pipeline health check.
    ///   - traceStore: when set (and `configuration.tracePages`), the trace pages on the metrics listener read it.
    public init(
        configuration: DaemonConfiguration, tracer: any Tracer = NoOpTracer(),
        registry: MetricsRegistry = MetricsRegistry(),
        spanMetrics: SpanMetricsProcessor? = nil, tracerProvider: TracerProvider? = nil,
        traceStore: TraceStore? = nil, logger: Logger = Logger(label: "exai-daemon")
    ) {
        self.configuration = configuration
        self.registry = registry
        self.tracer = tracer
        self.logger = logger
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.tracing.tracer = tracer is NoOpTracer ? nil : tracer
        clientConfiguration.timeout = .init(connect: .seconds(10))
        self.httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        var providers: [ProviderKind: ChatProviderClient] = [:]
        for provider in [configuration.kimi, configuration.glm] where provider.hasKey {
            providers[provider.kind] = ChatProviderClient(
                configuration: provider, httpClient: httpClient, tracer: tracer, logger: logger)
        }
        self.providers = providers
        if configuration.tracePages, let traceStore {
            self.tracePages = (
                traceStore, spanMetrics,
                TracePagesOptions(jaegerURL: configuration.jaegerUIURL, serviceName: "exai-daemon")
            )
        } else {
            self.tracePages = nil
        }
        self.history =
            configuration.tracePages && traceStore != nil ? spanMetrics.map { SpanMetricsHistory(processor: $0) } : nil
        var storageWarnings: [String] = []
        let backend: any StorageBackend
        if configuration.storage == "redis" {
            do {
                var redis = try RedisStorage.Configuration.parse(configuration.redisURL)
                redis.commandTimeout = configuration.redisCommandTimeout
                backend = RedisStorage(configuration: redis)
            } catch {
                storageWarnings.append("REDIS_URL: \(error); conversations are kept in memory instead")
                backend = MemoryStorage(maxBytes: configuration.memoryStoreBytes)
            }
        } else {
            backend = MemoryStorage(maxBytes: configuration.memoryStoreBytes)
        }
        var supabase: SupabasePersistence?
        if !configuration.supabaseURL.isEmpty {
            do {
                supabase = try SupabasePersistence(
                    url: configuration.supabaseURL, tracer: tracer, logger: logger,
                    breaker: configuration.supabaseBreaker)
            } catch {
                storageWarnings.append("SUPABASE_DB_URL: \(error); Supabase persistence is disabled")
            }
        }
        self.conversations = ConversationStore(
            storage: InstrumentedStorage(backend: backend, tracer: tracer, breaker: configuration.storageBreaker),
            supabase: supabase,
            ttl: configuration.conversationTTL, maxTurns: configuration.maxStoredTurns,
            maxBytes: configuration.conversationMaxBytes, logger: logger)
        let catalog = ModelCatalog(kimi: configuration.kimi, glm: configuration.glm)
        let tools: [any DaemonTool] = [
            ChatTool(
                providers: providers, catalog: catalog, defaultModel: configuration.defaultModel,
                conversations: conversations),
            ListModelsTool(providers: providers, catalog: catalog, defaultModel: configuration.defaultModel),
            VersionTool(),
        ]
        self.tools = Dictionary(uniqueKeysWithValues: tools.map { ($0.name, $0) })
        self.toolOrder = tools.map(\.name)
        self.globalGate = ConcurrencyGate(name: "Global", limit: configuration.globalMaxInflight)
        self.providerGates = [
            .kimi: ConcurrencyGate(name: "KIMI", limit: configuration.kimiMaxInflight),
            .glm: ConcurrencyGate(name: "GLM", limit: configuration.glmMaxInflight),
        ]
        self.connections = ConnectionLimiter(
            maxTotal: configuration.maxConnections, maxPerIP: configuration.maxConnectionsPerIP)
        self.rateLimiter = RateLimiter(configuration: configuration)
        self.callRegistry = CallRegistry(ttl: configuration.resultTTL, maxResultBytes: configuration.resultCacheBytes)
        self.state = NIOLockedValueBox(State(token: configuration.token))
        self.health = HealthAggregator(
            configuration: .init(
                version: Self.version, serviceID: "exai-daemon",
                serviceDescription: "exai-daemon WebSocket AI-tool server"))
        let globalGate = self.globalGate, providerGates = self.providerGates
        let gates = [globalGate] + ProviderKind.allCases.compactMap { providerGates[$0] }
        let callRegistry = self.callRegistry, connections = self.connections, rateLimiter = self.rateLimiter
        let conversations = self.conversations
        let streamStatistics = self.streamStatistics, streamBufferLimit = configuration.streamBufferBytes
        let tokenBudget = configuration.tokenBudgetPerHour
        let memoryStore = conversations.storage.backend as? MemoryStorage
        let breakers =
            ProviderKind.allCases.compactMap { kind in providers[kind].map { (kind.rawValue, $0.breaker) } }
            + [(conversations.storage.kind, conversations.storage.breaker)]
            + (supabase.map { [("supabase", $0.breaker)] } ?? [])
        // The session count is read through a weak box, set once `self` exists.
        let owner = WeakDaemon()
        self.metrics = DaemonMetrics {
            let ips = rateLimiter.trackedIPs
            return DaemonMetrics.Snapshot(
                sessions: owner.daemon?.sessionCount ?? 0, inFlight: callRegistry.inFlightCount,
                cached: callRegistry.cachedCount,
                cachedBytes: callRegistry.cachedBytes, cacheLimitBytes: callRegistry.maxResultBytes,
                cacheEvicted: callRegistry.evictedCount,
                rejected: connections.rejectedCount, trackedIPs: ips.messages, trackedFailedHelloIPs: ips.failedHellos,
                evictedIPs: rateLimiter.evictedIPs, trimmedTurns: conversations.trimmedTurns,
                memoryStoreBytes: memoryStore?.bytes, memoryStoreEvicted: memoryStore?.evictedCount,
                gates: gates.map { ($0.name, $0.current, $0.limit) }, breakers: breakers,
                stream: streamStatistics.snapshot, streamBufferLimit: streamBufferLimit,
                tokenBudgetPerHour: tokenBudget)
        }
        if configuration.syntheticInterval > .zero {
            self.synthetic = SyntheticMonitor(
                probes: [
                    .init(
                        name: "exai", interval: configuration.syntheticInterval, timeout: .seconds(10),
                        failureThreshold: 3
                    ) {
                        guard let daemon = owner.daemon else { return }
                        try await daemon.syntheticProbe()
                    }
                ], tracer: tracer is NoOpTracer ? nil : tracer)
        } else {
            self.synthetic = nil
        }
        owner.daemon = self

        if configuration.token.isEmpty {
            if configuration.startupRefusal == nil && !DaemonConfiguration.isLoopback(configuration.host) {
                logger.warning(
                    "EXAI_WS_TOKEN is empty on a non-loopback address (EXAI_ALLOW_UNAUTHENTICATED=true): anyone who can reach \(configuration.host) can use the providers"
                )
            } else {
                logger.warning("EXAI_WS_TOKEN is empty: authentication is disabled (loopback only)")
            }
        }
        for warning in configuration.warnings { logger.warning("configuration: \(warning)") }
        for warning in storageWarnings { logger.error("configuration: \(warning)") }
        registerHealthChecks(spanMetrics: spanMetrics, tracerProvider: tracerProvider)
        registry.register(metrics)
        registry.register(health)
        if let traceStore, configuration.tracePages { registry.register(traceStore) }
        if let synthetic { registry.register(synthetic) }
        if let history { registry.register(history) }
    }

    private func registerHealthChecks(
        spanMetrics: SpanMetricsProcessor?, tracerProvider: TracerProvider?
    ) {
        health.register(.memory())
        health.register(.disk(path: "/"))
        if let tracerProvider, tracerProvider.pipelineStatistics != nil {
            health.register(.spanPipeline(provider: tracerProvider))
        }
        if let spanMetrics {
            health.register(.errorRate(spanMetrics, spanNames: ["call_tool chat"], minimumCalls: 5))
            health.register(.latency(spanMetrics, spanNames: ["call_tool chat"], minimumCalls: 5))
        }
        for kind in ProviderKind.allCases {
            guard let client = providers[kind] else { continue }
            // A provider down is a warning, not unreadiness: the other provider and the other tools still work.
            health.register(
                HealthCheck(
                    component: kind.rawValue, measurement: "circuitBreaker", componentType: "component", critical: false
                ) {
                    switch client.breaker.currentState {
                    case .closed: return .pass("closed", unit: "state")
                    case .halfOpen:
                        return .warn(
                            "circuit breaker half-open: probing the provider", value: "half_open", unit: "state")
                    case .open:
                        return .fail("circuit breaker open after repeated failures", value: "open", unit: "state")
                    }
                })
        }
        if let synthetic { health.register(synthetic.healthCheck("exai")) }
        registerStorageHealthChecks()
    }

    /// The seed's real connectivity checks: a write/read/delete round trip on the store (reporting
    /// its real type), and Supabase's one-row `schema_version` query; both critical when configured.
    private func registerStorageHealthChecks() {
        let storage = conversations.storage
        health.register(
            .ping(
                "storage", componentType: "datastore", critical: true, timeout: .seconds(2),
                summary: (name: "storage", fields: [("type", .string(storage.kind))])
            ) {
                let key = "health:probe:\(UUID().uuidString.lowercased())"
                let value = Array("ok".utf8)
                try await storage.set(key, value, ttl: .seconds(5))
                guard try await storage.get(key) == value else {
                    throw StorageError.server(backend: storage.kind, message: "read back a different value")
                }
                try await storage.delete(key)
            })
        if let supabase = conversations.supabase {
            health.register(
                .ping(
                    "supabase", componentType: "datastore", critical: true, timeout: .seconds(3),
                    summary: (name: "supabase", fields: [("enabled", true)])
                ) {
                    guard try await supabase.schemaVersion() != nil else {
                        throw StorageError.server(
                            backend: "supabase", message: "schema_version is empty: migrations have not run")
                    }
                })
        } else {
            health.setSummaryField("supabase", .object([("enabled", false), ("status", "disabled")]))
        }
    }

    // MARK: - State

    var currentToken: String { state.withLockedValue { $0.token } }
    var currentTokenAndGeneration: (token: String, generation: Int) {
        state.withLockedValue { ($0.token, $0.tokenGeneration) }
    }
    var acceptingCalls: Bool { state.withLockedValue { $0.accepting } }
    var sessionCount: Int { state.withLockedValue { $0.sessions.count } }

    enum TokenRotation: Equatable {
        case rotated(generation: Int)
        case unauthorized
        /// No token is set: rotation would let the first client lock every other one out.
        case authDisabled
        /// `EXAI_TOKEN_ROTATION=false`: replicas would disagree about the token.
        case rotationDisabled
    }

    /// Replaces the token when `old` matches it (constant-time); refused while auth is disabled.
    func rotateToken(old: String, new: String) -> TokenRotation {
        state.withLockedValue { state in
            guard !state.token.isEmpty else { return .authDisabled }
            guard configuration.tokenRotation else { return .rotationDisabled }
            guard constantTimeEquals(old, state.token) else { return .unauthorized }
            state.token = new
            state.tokenGeneration += 1
            return .rotated(generation: state.tokenGeneration)
        }
    }

    /// Closes (4003) every session that authenticated before `generation`, except `keep`; returns how many.
    func closeSessions(olderThan generation: Int, except keep: String) async -> Int {
        let stale = state.withLockedValue {
            $0.sessions.values.filter { $0.tokenGeneration < generation && $0.id != keep }
        }
        for session in stale {
            session.cancelAll()
            await session.writer.close(.unknown(4003), reason: "token rotated")
        }
        return stale.count
    }

    /// Adds a session that has just authenticated; false when the token was rotated since it was checked.
    func register(_ session: DaemonSession) -> Bool {
        state.withLockedValue { state in
            guard session.tokenGeneration == state.tokenGeneration else { return false }
            state.sessions[session.id] = session
            return true
        }
    }
    func unregister(_ session: DaemonSession) {
        _ = state.withLockedValue { $0.sessions.removeValue(forKey: session.id) }
    }

    /// Entries in flight in the call registry (each call leaves it when it ends), for tests.
    public var inFlightEntries: Int { callRegistry.inFlightCount }
    public var activeConnections: Int { metrics.activeConnections }

    /// The WebSocket/HTTP port once listening (useful with port 0).
    public func listeningPort() async -> Int? { await port.value }

    /// The metrics listener's port once listening, if it is enabled.
    public func metricsListeningPort() async -> Int? {
        guard configuration.metricsPort > 0 else { return nil }
        return await metricsPort.value
    }

    func startSpan(_ name: String, context: ServiceContext, kind: SpanKind) -> any Tracing.Span {
        tracer.startSpan(name, context: context, ofKind: kind)
    }

    // MARK: - Run

    public func run() async throws {
        if let refusal = configuration.startupRefusal {
            logger.critical("refusing to start: \(refusal)")
            port.fail()
            metricsPort.fail()
            throw DaemonStartupError(description: refusal)
        }
        var listeners: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: makeApplication())]
        if configuration.metricsPort > 0 {
            let promise = metricsPort
            listeners.append(
                .init(
                    service: makeMetricsServer(
                        host: configuration.metricsHost, port: configuration.metricsPort,
                        registry: registry, tracePages: tracePages, history: history
                    ) { port in
                        promise.fulfil(port)
                    }))
        }
        // The listeners run in their own group, out of reach of the outer graceful shutdown: the
        // daemon drains its sessions first, then shuts them down. A listener that stops on its own
        // (a port that cannot be bound) ends the daemon with its error.
        let group = ServiceGroup(configuration: .init(services: listeners, gracefulShutdownSignals: [], logger: logger))
        let (events, event) = AsyncStream<(any Error)?>.makeStream()
        let servers = Task.detached { () -> Result<Void, any Error> in
            do {
                try await group.run()
                event.yield(ListenerStopped())
                return .success(())
            } catch {
                event.yield(error)
                return .failure(error)
            }
        }
        let shutdownWatch = Task {
            try? await gracefulShutdown()
            event.yield(nil)
        }
        let supabaseTask = conversations.supabase.map { supabase in
            Task.detached { [logger] in
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await supabase.run() }
                    group.addTask {
                        // Migrate at start; retry while the database is unreachable.
                        while !Task.isCancelled {
                            do {
                                let applied = try await supabase.migrate()
                                logger.info("Supabase schema ready", metadata: ["migrations_applied": "\(applied)"])
                                return
                            } catch {
                                logger.error(
                                    "Supabase migrations failed; retrying in 5 s", metadata: ["error": "\(error)"])
                                try? await Task.sleep(for: .seconds(5))
                            }
                        }
                    }
                    await group.waitForAll()
                }
            }
        }
        let stallSweeper = Task { await self.sweepStalledClients() }
        let historyTask = history.map { history in
            Task.detached {
                history.sample()  // the baseline: the first point covers the first minute
                await history.run()
            }
        }
        let syntheticTask = synthetic.map { monitor in
            Task.detached {
                guard await self.listeningPort() != nil else { return }
                try await monitor.run()
            }
        }
        // Alerts and dashboards read health_check_status; without this a check's state would only
        // move when someone polls /health.
        let healthTask =
            configuration.healthInterval > .zero
            ? Task.detached { [health, configuration] in
                // One interval first: the dependencies (the Supabase schema) are still being set up.
                while (try? await Task.sleep(for: configuration.healthInterval)) != nil {
                    _ = await health.report()
                }
            } : nil
        logger.info(
            "exai-daemon starting",
            metadata: [
                "host": "\(configuration.host)", "port": "\(configuration.port)",
                "metrics":
                    "\(configuration.metricsPort > 0 ? "\(configuration.metricsHost):\(configuration.metricsPort)" : "off")",
                "providers": "\(providers.keys.map(\.rawValue).sorted())",
            ])
        var listenerFailure: (any Error)?
        for await stopped in events {
            listenerFailure = stopped
            break
        }
        shutdownWatch.cancel()
        if let listenerFailure {
            logger.critical("a listener stopped; the daemon stops too", metadata: ["error": "\(listenerFailure)"])
            port.fail()
            metricsPort.fail()
        }
        syntheticTask?.cancel()
        healthTask?.cancel()
        historyTask?.cancel()
        stallSweeper.cancel()
        await drain()
        await group.triggerGracefulShutdown()
        // Bounded: a client that never closes its connection must not hold the process.
        await withTaskGroup(of: Bool.self) { race in
            race.addTask {
                _ = await servers.result; return true
            }
            race.addTask {
                try? await Task.sleep(for: .seconds(5)); return false
            }
            if await race.next() == false {
                // Cancelled here, before the group waits for its children: awaiting a task's
                // result does not end when the waiter is cancelled.
                logger.warning("listeners did not stop within 5 s of the graceful shutdown; cancelling them")
                servers.cancel()
            }
            race.cancelAll()
        }
        let result = await servers.value
        port.fail()
        metricsPort.fail()
        // Before storage shuts down: a health run in flight probes it. Each check has its own
        // timeout, so this waits at most the longest one.
        _ = await syntheticTask?.result
        _ = await healthTask?.result
        _ = await historyTask?.result
        supabaseTask?.cancel()
        _ = await supabaseTask?.result
        await conversations.storage.backend.shutdown()
        try? await httpClient.shutdown()
        if case .failure(let error) = result { logger.error("listener failed", metadata: ["error": "\(error)"]) }
        logger.info("exai-daemon stopped")
        if let listenerFailure { throw listenerFailure }
        try result.get()
    }

    /// Once a second (or each send timeout, if shorter), finds sessions whose frames have waited
    /// `sendTimeout` unwritten: a client that stopped reading would hold its calls' gates while
    /// their frames wait. Their calls are cancelled; nothing more is sent to them or started for them.
    /// One task for the daemon, so a session costs no timer of its own.
    func sweepStalledClients() async {
        let timeout = configuration.sendTimeout
        while !Task.isCancelled {
            try? await Task.sleep(for: min(timeout, .seconds(1)))
            let sessions = state.withLockedValue { Array($0.sessions.values) }
            for session in sessions where session.writer.watch.markStalled(timeout: timeout) {
                metrics.protocolError("send_timeout")
                logger.warning(
                    "client stopped reading; its calls are cancelled",
                    metadata: [
                        "session_id": "\(session.id)", "client": "\(session.connection.ip)",
                        "send_timeout": "\(timeout)",
                    ])
                session.cancelAll()
            }
        }
    }

    /// Stops taking calls, waits for running ones up to the grace period, then closes every session with 1001.
    func drain() async {
        state.withLockedValue { $0.accepting = false }
        let deadline = ContinuousClock.now + configuration.shutdownGrace
        while ContinuousClock.now < deadline,
            state.withLockedValue({ $0.sessions.values.contains { $0.runningCount > 0 } })
        {
            try? await Task.sleep(for: .milliseconds(50))
        }
        let sessions = state.withLockedValue { Array($0.sessions.values) }
        logger.info("closing sessions", metadata: ["sessions": "\(sessions.count)"])
        for session in sessions { session.cancelAll() }
        // Bounded: a close frame to a client that stopped reading would wait forever.
        await withTaskGroup(of: Void.self) { race in
            race.addTask {
                await withTaskGroup(of: Void.self) { closes in
                    for session in sessions {
                        closes.addTask { await session.writer.close(.goingAway, reason: "server shutting down") }
                    }
                }
            }
            race.addTask { try? await Task.sleep(for: .seconds(2)) }
            await race.next()
            race.cancelAll()
        }
    }

    private func makeApplication() -> some ApplicationProtocol {
        let router = Router()
        // Health first and untraced: probes every few seconds would swamp the traces. `/metrics`
        // is served here only when there is no metrics listener (it says more than health does).
        router.addHealthRoutes(health)
        if configuration.metricsPort == 0 { router.addMetricsRoute(registry: registry) }
        let promise = port
        // The closure form of the upgrade keeps nothing per connection once it closes (the router
        // form's request context holds a reference to itself, one leak per connection).
        return Application(
            router: router,
            server: .http1WebSocketUpgrade(
                configuration: .init(
                    ws: WebSocketServerConfiguration(
                        maxFrameSize: configuration.maxMessageBytes,
                        autoPing: .enabled(timePeriod: configuration.pingInterval)
                    ))
            ) { [self] head, channel, _ in
                upgrade(head, remoteIP: channel.remoteAddress?.ipAddress ?? "unknown")
            },
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: "exai-daemon"),
            onServerRunning: { channel in promise.fulfil(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }

    /// Accepts a WebSocket upgrade of `GET /` (anything else gets 400), with a short SERVER span
    /// `GET /` whose context the connection keeps: the remote parent from `traceparent`, and the
    /// correlation ID from `X-Correlation-ID` (a new one when absent or invalid), echoed on the 101.
    func upgrade(
        _ head: HTTPRequest, remoteIP: String
    )
        -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>>
    {
        let path = (head.path ?? "").prefix { $0 != "?" }
        guard head.method == .get, path == "/" else { return .dontUpgrade }
        var serviceContext = ServiceContext.topLevel
        tracer.extract(head.headerFields, into: &serviceContext, using: HTTPFieldsExtractor())
        if serviceContext.correlationID == nil {
            // Tracing off: the correlation ID still works.
            CorrelationIDPropagator().extract(head.headerFields, into: &serviceContext, using: HTTPFieldsExtractor())
        }
        let correlationID = serviceContext.correlationID ?? CorrelationID.generate()
        serviceContext.correlationID = correlationID
        serviceContext.baggage = nil
        let span = startSpan("GET /", context: serviceContext, kind: .server)
        defer { span.end() }
        span.attributes["http.request.method"] = "GET"
        span.attributes["url.path"] = "/"
        span.attributes["url.scheme"] = "ws"
        span.attributes["client.address"] = remoteIP
        span.attributes["network.protocol.name"] = "websocket"
        if let agent = head.headerFields[.userAgent] {
            span.attributes["user_agent.original"] = String(agent.prefix(256))
        }
        span.attributes["http.response.status_code"] = 101
        let connection = ConnectionInfo(ip: remoteIP, upgradeContext: span.context, correlationID: correlationID)
        var headers = HTTPFields()
        headers[.correlationID] = correlationID.value
        return .upgrade(headers) { [self] inbound, outbound, _ in
            await self.serve(inbound: inbound, outbound: outbound, connection: connection)
        }
    }
}

/// The daemon refused to start; the text says why and what to change.
public struct DaemonStartupError: Error, CustomStringConvertible {
    public let description: String
}

/// A listener returned without being asked to (the daemon cannot serve without it).
struct ListenerStopped: Error, CustomStringConvertible {
    var description: String { "a listener stopped unexpectedly" }
}

/// Lets closures made in `init` reach the daemon without a retain cycle.
final class WeakDaemon: @unchecked Sendable {
    weak var daemon: ExaiDaemon?
}

extension HTTPField.Name {
    static let correlationID = HTTPField.Name("X-Correlation-ID")!
}
