import NIOConcurrencyHelpers
import Traceline

/// The daemon's own series (the span-derived `mcp_*` ones come from ``ExaiDaemon/metricViews``).
final class DaemonMetrics: MetricsSource, Sendable {
    private struct State {
        var activeConnections = 0
        var protocolErrors: [String: Int] = [:]
    }

    /// The state the scrape reads from the daemon's parts.
    struct Snapshot {
        var sessions: Int
        var inFlight: Int
        var cached: Int
        var cachedBytes: Int
        var cacheLimitBytes: Int
        var cacheEvicted: Int
        var rejected: Int
        var trackedIPs: Int
        var trackedFailedHelloIPs: Int
        var evictedIPs: Int
        var trimmedTurns: Int
        /// The in-memory conversation store's bytes and early evictions (nil with Redis).
        var memoryStoreBytes: Int?
        var memoryStoreEvicted: Int?
        var gates: [(String, Int, Int)]
        var breakers: [(String, CircuitBreaker)]
        var stream: StreamStatistics.Snapshot
        var streamBufferLimit: Int
        /// EXAI_TOKEN_BUDGET_PER_HOUR; 0 publishes no budget series.
        var tokenBudgetPerHour: Int
    }

    private let state = NIOLockedValueBox(State())
    private let snapshot: @Sendable () -> Snapshot

    init(snapshot: @escaping @Sendable () -> Snapshot) {
        self.snapshot = snapshot
    }

    func connectionOpened() { state.withLockedValue { $0.activeConnections += 1 } }
    func connectionClosed() { state.withLockedValue { $0.activeConnections -= 1 } }
    func protocolError(_ reason: String) { state.withLockedValue { $0.protocolErrors[reason, default: 0] += 1 } }
    var activeConnections: Int { state.withLockedValue { $0.activeConnections } }

    func renderFamilies(format: MetricsFormat) -> String {
        let (connections, errors) = state.withLockedValue { ($0.activeConnections, $0.protocolErrors) }
        let now = snapshot()
        var writer = MetricFamilyWriter(format: format)
        writer.gauge("mcp_active_connections", help: "Open WebSocket connections.", [([], Double(connections))])
        writer.gauge("exai_sessions", help: "Sessions past hello.", [([], Double(now.sessions))])
        writer.gauge(
            "exai_inflight_calls", help: "call_tool entries in flight (request ids and call keys).",
            [([], Double(now.inFlight))])
        writer.gauge("exai_cached_results", help: "call_tool results cached by request_id.", [([], Double(now.cached))])
        writer.gauge(
            "exai_cached_result_bytes", help: "Bytes of cached call_tool results.", [([], Double(now.cachedBytes))])
        writer.gauge(
            "exai_cached_result_limit_bytes", help: "EXAI_WS_RESULT_CACHE_BYTES.", [([], Double(now.cacheLimitBytes))])
        writer.counter(
            "exai_cached_results_evicted", help: "Cached results dropped before their TTL by the byte bound.",
            [([], Double(now.cacheEvicted))])
        writer.gauge(
            "exai_rate_limiter_tracked_ips", help: "Client IPs with a rate-limit bucket, by bucket.",
            [
                ([("bucket", "messages")], Double(now.trackedIPs)),
                ([("bucket", "failed_hello")], Double(now.trackedFailedHelloIPs)),
            ])
        writer.counter(
            "exai_rate_limiter_evicted_ips",
            help: "IP buckets forgotten while in use (RATE_LIMIT_MAX_TRACKED_IPS reached).",
            [([], Double(now.evictedIPs))])
        writer.counter(
            "exai_conversation_turns_trimmed",
            help: "Turns trimmed from stored conversations by EXAI_CONVERSATION_MAX_BYTES or the turn limit.",
            [([], Double(now.trimmedTurns))])
        if let bytes = now.memoryStoreBytes, let evicted = now.memoryStoreEvicted {
            writer.gauge(
                "exai_memory_store_bytes", help: "Bytes held by the in-memory conversation store.",
                [([], Double(bytes))])
            writer.counter(
                "exai_memory_store_evicted",
                help: "Entries the in-memory store dropped before their TTL (EXAI_MEMORY_STORE_BYTES).",
                [([], Double(evicted))])
        }
        writer.counter(
            "exai_stream_frames_sent", help: "stream_chunk frames sent to clients.",
            [([], Double(now.stream.framesSent))])
        writer.counter(
            "exai_stream_sent_bytes", help: "Bytes of answer text sent in stream_chunk frames.",
            [([], Double(now.stream.bytesSent))])
        writer.counter(
            "exai_stream_dropped_bytes",
            help:
                "Bytes of answer text left out of stream_chunk frames because a client read too slowly (EXAI_WS_STREAM_BUFFER_BYTES); the final result keeps them.",
            [([], Double(now.stream.droppedBytes))])
        writer.gauge(
            "exai_stream_buffered_bytes",
            help: "Bytes of answer text waiting to be sent to streaming clients, all calls.",
            [([], Double(now.stream.bufferedBytes))])
        writer.gauge(
            "exai_stream_buffer_limit_bytes", help: "EXAI_WS_STREAM_BUFFER_BYTES, per streamed call.",
            [([], Double(now.streamBufferLimit))])
        if now.tokenBudgetPerHour > 0 {
            writer.gauge(
                "exai_token_budget_tokens_per_hour",
                help:
                    "EXAI_TOKEN_BUDGET_PER_HOUR: the provider tokens per hour the TokenSpendAboveBudget alert allows.",
                [([], Double(now.tokenBudgetPerHour))])
        }
        writer.gauge(
            "exai_gate_in_use", help: "Concurrency gate slots in use.",
            now.gates.map { ([("gate", $0.0)], Double($0.1)) })
        writer.gauge(
            "exai_gate_limit", help: "Concurrency gate sizes.", now.gates.map { ([("gate", $0.0)], Double($0.2)) })
        writer.counter(
            "exai_connections_rejected", help: "Connections closed with 1008 by the connection limits.",
            [([], Double(now.rejected))])
        writer.counter(
            "exai_protocol_errors",
            help: "Protocol errors, refused clients and clients that stopped reading (send_timeout), by reason.",
            errors.sorted { $0.key < $1.key }.map { ([("reason", $0.key)], Double($0.value)) })
        writer.gauge(
            "circuit_breaker_state", help: "Provider circuit breakers: 0 closed, 1 open, 2 half_open.",
            now.breakers.map {
                let value: Double =
                    switch $0.1.currentState {
                    case .closed: 0;
                    case .open: 1;
                    case .halfOpen: 2
                    }
                return ([("service", $0.0)], value)
            })
        writer.counter(
            "circuit_breaker_rejected_calls", help: "Calls the provider circuit breakers refused while open.",
            now.breakers.map { ([("service", $0.0)], Double($0.1.statistics.rejectedCalls)) })
        return writer.text
    }
}

extension ExaiDaemon {
    /// The seed's `mcp_*` metrics, derived from the daemon's spans. Add a `SpanViewsProcessor` with
    /// these views to the tracer provider, and the processor to the metrics registry.
    public static var metricViews: [SpanMetricView] {
        let requestBuckets = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
        let apiBuckets = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120]
        // The GenAI conventions' boundaries for time to first chunk.
        let ttftBuckets = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
        let isMessage = SpanMetricView.Filter.hasAttribute("exai.op")
        let isProviderCall = SpanMetricView.Filter.hasAttribute("exai.provider")
        let endpoint: SpanMetricView.LabelSource = .attribute("exai.tool")
        let isStorage = SpanMetricView.Filter.hasAttribute("exai.storage.operation")
        let isCacheLookup = SpanMetricView.Filter.hasAttribute("exai.cache.result")
        return [
            SpanMetricView(
                name: "mcp_requests_total", help: "WebSocket messages handled, by op, tool and outcome.",
                instrument: .counter(),
                labels: [
                    ("method", .attribute("exai.op")), ("endpoint", endpoint), ("status", .attribute("exai.status")),
                ],
                filter: isMessage),
            SpanMetricView(
                name: "mcp_request_duration_seconds", help: "Time to handle a WebSocket message.",
                instrument: .histogram(buckets: requestBuckets, unit: .seconds),
                labels: [("method", .attribute("exai.op")), ("endpoint", endpoint)], filter: isMessage),
            SpanMetricView(
                name: "mcp_api_calls_total",
                help: "Provider API calls, by provider, model and outcome (success, error, timeout).",
                instrument: .counter(),
                labels: [
                    ("provider", .attribute("exai.provider")), ("model", .attribute("gen_ai.request.model")),
                    ("status", .attribute("exai.call.status")),
                ], filter: isProviderCall),
            SpanMetricView(
                name: "mcp_api_retries_total",
                help: "Provider API attempts that failed and were retried (each call's http.request.resend_count).",
                instrument: .counter(value: "http.request.resend_count"),
                labels: [("provider", .attribute("exai.provider")), ("model", .attribute("gen_ai.request.model"))],
                filter: isProviderCall),
            SpanMetricView(
                name: "mcp_api_latency_seconds", help: "Provider API call latency, retries included.",
                instrument: .histogram(buckets: apiBuckets, unit: .seconds),
                labels: [("provider", .attribute("exai.provider")), ("model", .attribute("gen_ai.request.model"))],
                filter: isProviderCall),
            SpanMetricView(
                name: "mcp_tokens_total", help: "Tokens the providers reported, by type.",
                instrument: .counter(value: "gen_ai.usage.input_tokens"),
                labels: [
                    ("provider", .attribute("exai.provider")), ("model", .attribute("gen_ai.request.model")),
                    ("type", .constant("input")),
                ],
                filter: isProviderCall),
            SpanMetricView(
                name: "mcp_tokens_total", help: "Tokens the providers reported, by type.",
                instrument: .counter(value: "gen_ai.usage.output_tokens"),
                labels: [
                    ("provider", .attribute("exai.provider")), ("model", .attribute("gen_ai.request.model")),
                    ("type", .constant("output")),
                ],
                filter: isProviderCall),
            SpanMetricView(
                name: "mcp_api_time_to_first_token_seconds",
                help:
                    "Streamed provider calls: time from the request to the first generated token (gen_ai.response.time_to_first_chunk).",
                instrument: .attributeHistogram(attribute: "gen_ai.response.time_to_first_chunk", buckets: ttftBuckets),
                labels: [("provider", .attribute("exai.provider")), ("model", .attribute("gen_ai.request.model"))],
                filter: isProviderCall),
            SpanMetricView(
                name: "mcp_stream_chunks_total", help: "Chunks of generated output the providers streamed.",
                instrument: .counter(value: "exai.stream.chunks"),
                labels: [("provider", .attribute("exai.provider")), ("model", .attribute("gen_ai.request.model"))],
                filter: isProviderCall),
            SpanMetricView(
                name: "mcp_storage_operations_total",
                help: "Storage and database calls, by operation, backend (memory, redis, supabase) and result.",
                instrument: .counter(),
                labels: [
                    ("operation", .attribute("exai.storage.operation")),
                    ("backend", .attribute("exai.storage.backend")), ("result", .attribute("exai.result")),
                ],
                filter: isStorage),
            SpanMetricView(
                name: "mcp_storage_latency_seconds", help: "Storage and database call latency.",
                instrument: .histogram(
                    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], unit: .seconds),
                labels: [
                    ("operation", .attribute("exai.storage.operation")),
                    ("backend", .attribute("exai.storage.backend")),
                ],
                filter: isStorage),
            SpanMetricView(
                name: "mcp_cache_operations_total", help: "Conversation cache lookups: hit, miss or error.",
                instrument: .counter(),
                labels: [
                    ("operation", .attribute("exai.storage.operation")), ("result", .attribute("exai.cache.result")),
                ],
                filter: isCacheLookup),
        ]
    }
}
