import Traceline

/// Everything the daemon reads from its environment, with the reference daemon's defaults
/// (shared/docs/exai-protocol.md). Unparseable values are reported in `warnings` and replaced by
/// the default; the daemon never refuses to start over a typo.
public struct DaemonConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8079
    /// Second listener serving `/metrics` (and the trace pages); 0 disables it, and `/metrics`
    /// is then served on the WebSocket port instead.
    public var metricsPort = 8000
    /// The metrics listener's address; loopback unless an operator opts in.
    public var metricsHost = "127.0.0.1"
    /// Empty: authentication disabled, allowed only on a loopback `host` unless `allowUnauthenticated`.
    public var token = ""
    /// Serve a non-loopback `host` without a token (logged at warning).
    public var allowUnauthenticated = false
    public var maxMessageBytes = 33_554_432
    /// Largest hello message; a larger one closes the connection unread.
    public var helloMaxBytes = 16_384
    /// Failed hellos (bad token or malformed) per client IP: capacity/refill per second. An IP
    /// past it is refused at connect (1008) until the bucket refills.
    public var failedHelloRate = RateLimit(capacity: 5, perSecond: 0.1)
    /// Client IPs tracked by the rate limiters (message and failed-hello buckets); past it the
    /// longest-idle entry is forgotten and counted.
    public var maxTrackedIPs = 10_000
    /// Bytes of `call_tool` results kept for resends by `request_id`, all sessions together.
    public var resultCacheBytes = 64 * 1024 * 1024
    /// Bytes of one conversation thread kept in the store (memory or Redis); older turns are
    /// trimmed there (they stay in Supabase). Its newest `maxStoredTurns` turns are what a provider is sent.
    public var conversationMaxBytes = 1024 * 1024
    /// Bytes the in-memory conversation store holds (`EXAI_STORAGE=memory`).
    public var memoryStoreBytes = 256 * 1024 * 1024
    public var maxStoredTurns = 50
    /// Text of one streamed call waiting to be sent to its client, in bytes; past it new text is
    /// dropped from the `stream_chunk` frames (counted; the final result keeps all of it).
    public var streamBufferBytes = 64 * 1024
    /// At most one `stream_chunk` frame per call per interval; text arriving meanwhile is coalesced.
    public var streamChunkInterval: Duration = .milliseconds(50)
    /// A `stream_chunk` frame is sent at once when this much text is waiting.
    public var streamChunkBytes = 1024
    /// A connection whose frames wait this long without one being written (a client that stopped
    /// reading) has its calls cancelled and is sent nothing more.
    public var sendTimeout: Duration = .seconds(30)
    public var pingInterval: Duration = .seconds(45)
    public var helloTimeout: Duration = .seconds(15)
    public var callTimeout: Duration = .seconds(67)
    public var progressInterval: Duration = .seconds(8)
    public var resultTTL: Duration = .seconds(600)
    public var retryAfterSeconds = 1
    public var compatText = true
    public var globalMaxInflight = 24
    public var kimiMaxInflight = 6
    public var glmMaxInflight = 4
    public var sessionMaxInflight = 8
    public var maxConnections = 1000
    public var maxConnectionsPerIP = 10
    /// Token buckets on messages: capacity and refill per second.
    public var globalRate = RateLimit(capacity: 1000, perSecond: 100)
    public var ipRate = RateLimit(capacity: 100, perSecond: 10)
    public var sessionRate = RateLimit(capacity: 50, perSecond: 5)
    public var defaultModel = "glm-4.5-flash"
    public var kimi = ProviderConfiguration(
        kind: .kimi, baseURL: "https://api.moonshot.ai/v1", apiKey: "",
        defaultModel: "kimi-k2-0905-preview")
    public var glm = ProviderConfiguration(
        kind: .glm, baseURL: "https://api.z.ai/api/paas/v4", apiKey: "",
        defaultModel: "glm-4.5-flash")
    /// Tools whose identical in-flight calls are not coalesced into DUPLICATE.
    public var disableCoalesceForTools: Set<String> = []
    /// Seconds between synthetic probes; 0 disables them.
    public var syntheticInterval: Duration = .seconds(60)
    /// Seconds between background health evaluations, which keep `health_check_status` current
    /// when nothing polls `/health`; 0 disables them.
    public var healthInterval: Duration = .seconds(15)
    /// Tokens per hour published as `exai_token_budget_tokens_per_hour` for the
    /// `TokenSpendAboveBudget` alert; 0 publishes no budget (the alert stays off).
    public var tokenBudgetPerHour = 0
    /// Whether `rotate_token` may change the token. A rotation reaches only the replica that
    /// receives it, so with several replicas it is off (`EXAI_TOKEN_ROTATION=false`) and the token
    /// is changed in the configuration, one replica restart at a time.
    public var tokenRotation = true
    /// Start an in-process provider simulator for every provider without an API key.
    public var demo = false
    /// Serve the built-in trace pages at `/debug/traces` on the metrics listener (on in demo mode).
    public var tracePages = false
    /// Jaeger's UI, for links from the trace pages (e.g. `http://localhost:16686`).
    public var jaegerUIURL: String?
    /// `memory` (default) or `redis`.
    public var storage = "memory"
    /// `redis://[[user]:password@]host[:port][/db]`, for `storage == "redis"`.
    public var redisURL = "redis://127.0.0.1:6379/0"
    public var redisCommandTimeout: Duration = .seconds(2)
    /// How long a conversation lives in the key/value store.
    public var conversationTTL: Duration = .seconds(3 * 3600)
    /// Supabase's PostgreSQL connection string; empty disables persistence.
    public var supabaseURL = ""
    /// Breakers: Redis (or memory) 5 failures / 60 s, Supabase 3 / 30 s.
    public var storageBreaker = CircuitBreaker.Configuration(failureThreshold: 5, cooldown: .seconds(60))
    public var supabaseBreaker = CircuitBreaker.Configuration(failureThreshold: 3, cooldown: .seconds(30))
    /// How long in-flight calls may run after SIGTERM before sessions are closed.
    public var shutdownGrace: Duration = .seconds(10)
    public var warnings: [String] = []

    public struct RateLimit: Sendable, Equatable {
        public var capacity: Double
        public var perSecond: Double
        public init(capacity: Double, perSecond: Double) {
            self.capacity = capacity
            self.perSecond = perSecond
        }
    }

    public init() {}

    /// The variables `--help` lists: name, default, meaning.
    public static let variables: [(name: String, defaultValue: String, meaning: String)] = [
        ("EXAI_WS_HOST", "127.0.0.1", "WebSocket and HTTP listen address"),
        ("EXAI_WS_PORT", "8079", "WebSocket (/) and /health, /livez, /readyz port (and /metrics when METRICS_PORT=0)"),
        ("METRICS_PORT", "8000", "second listener for /metrics (and /debug/traces); 0 disables it"),
        ("METRICS_HOST", "127.0.0.1", "the metrics listener's address; set 0.0.0.0 to let another host scrape it"),
        ("EXAI_WS_TOKEN", "(empty)", "hello token; empty disables authentication (only on a loopback EXAI_WS_HOST)"),
        (
            "EXAI_ALLOW_UNAUTHENTICATED", "false",
            "start without EXAI_WS_TOKEN on a non-loopback EXAI_WS_HOST (logged at warning)"
        ),
        ("EXAI_WS_MAX_BYTES", "33554432", "largest WebSocket message"),
        ("EXAI_WS_HELLO_MAX_BYTES", "16384", "largest hello message; larger closes the connection unread"),
        (
            "RATE_LIMIT_FAILED_HELLO", "5/0.1",
            "failed hellos per client IP (capacity/refill per second); past it connections are refused"
        ),
        (
            "RATE_LIMIT_MAX_TRACKED_IPS", "10000",
            "client IPs the rate limiters track; past it the longest-idle is forgotten"
        ),
        ("EXAI_WS_RESULT_CACHE_BYTES", "67108864", "bytes of call_tool results cached for resends, all sessions"),
        (
            "EXAI_CONVERSATION_MAX_BYTES", "1048576",
            "bytes of one conversation kept in the store; older turns stay only in Supabase"
        ),
        (
            "EXAI_MEMORY_STORE_BYTES", "268435456",
            "bytes the in-memory conversation store holds; past it the soonest to expire go"
        ),
        ("EXAI_WS_PING_INTERVAL", "45", "seconds between WebSocket pings"),
        ("EXAI_WS_HELLO_TIMEOUT", "15", "seconds to wait for hello"),
        ("EXAI_WS_CALL_TIMEOUT", "67", "call_tool deadline in seconds"),
        ("EXAI_WS_PROGRESS_INTERVAL_SECS", "8", "heartbeat interval while a call runs"),
        ("EXAI_WS_RESULT_TTL", "600", "seconds a result stays cached by request_id"),
        ("EXAI_WS_RETRY_AFTER_SECS", "1", "retry_after in OVER_CAPACITY errors"),
        ("EXAI_WS_COMPAT_TEXT", "true", "add the joined `text` to call_tool_res"),
        ("EXAI_WS_GLOBAL_MAX_INFLIGHT", "24", "concurrent calls, all sessions"),
        ("EXAI_WS_KIMI_MAX_INFLIGHT", "6", "concurrent Kimi calls"),
        ("EXAI_WS_GLM_MAX_INFLIGHT", "4", "concurrent GLM calls"),
        ("EXAI_WS_SESSION_MAX_INFLIGHT", "8", "concurrent calls per session"),
        ("EXAI_WS_DISABLE_COALESCE_FOR_TOOLS", "(empty)", "comma list of tools never answered DUPLICATE"),
        ("MAX_CONNECTIONS", "1000", "open WebSocket connections, all clients"),
        ("MAX_CONNECTIONS_PER_IP", "10", "open WebSocket connections per client IP"),
        ("RATE_LIMIT_GLOBAL", "1000/100", "message token bucket, all sessions: capacity/refill per second"),
        ("RATE_LIMIT_PER_IP", "100/10", "message token bucket per client IP"),
        ("RATE_LIMIT_PER_SESSION", "50/5", "message token bucket per session"),
        ("DEFAULT_MODEL", "glm-4.5-flash", "model when a chat call names none"),
        ("KIMI_API_URL", "https://api.moonshot.ai/v1", "Kimi (Moonshot) OpenAI-compatible base URL"),
        ("KIMI_API_KEY", "(empty)", "Kimi key (or MOONSHOT_API_KEY); never logged"),
        ("KIMI_DEFAULT_MODEL", "kimi-k2-0905-preview", "Kimi model for kimi_* tools"),
        (
            "KIMI_MODELS", "(empty)",
            "comma list of Kimi models accepted besides the built-in ones (listmodels shows all)"
        ),
        (
            "KIMI_TIMEOUT_SECS", "30",
            "Kimi: a non-streamed attempt's limit; streamed, the limit to the answer's first byte"
        ),
        ("KIMI_STREAM", "true", "stream Kimi chat answers (server-sent events)"),
        ("KIMI_STREAM_IDLE_TIMEOUT_SECS", "30", "a streamed Kimi answer fails after this long without a byte"),
        ("GLM_API_URL", "https://api.z.ai/api/paas/v4", "GLM (Zhipu) OpenAI-compatible base URL"),
        ("GLM_API_KEY", "(empty)", "GLM key (or ZHIPUAI_API_KEY); never logged"),
        (
            "GLM_TIMEOUT_SECS", "30",
            "GLM: a non-streamed attempt's limit; streamed, the limit to the answer's first byte"
        ),
        ("GLM_STREAM", "true", "stream GLM chat answers (server-sent events)"),
        ("GLM_STREAM_IDLE_TIMEOUT_SECS", "30", "a streamed GLM answer fails after this long without a byte"),
        ("GLM_MODELS", "(empty)", "comma list of GLM models accepted besides the built-in ones"),
        (
            "EXAI_CHAT_MAX_ANSWER_BYTES", "1048576",
            "bytes of answer text one chat call keeps; a longer answer fails the call"
        ),
        ("EXAI_STREAM_MAX_EVENT_BYTES", "262144", "bytes of one line or event of a streamed answer"),
        (
            "EXAI_WS_STREAM_BUFFER_BYTES", "65536",
            "bytes of streamed text waiting for one client's call; past it stream_chunk text is dropped (counted)"
        ),
        ("EXAI_WS_STREAM_CHUNK_MS", "50", "at most one stream_chunk frame per call per this many milliseconds"),
        ("EXAI_WS_STREAM_CHUNK_BYTES", "1024", "send a stream_chunk at once when this many bytes wait"),
        (
            "EXAI_WS_SEND_TIMEOUT_SECS", "30",
            "a client whose frames wait this long unread has its calls cancelled (exai_protocol_errors_total{reason=\"send_timeout\"})"
        ),
        ("EXAI_STORAGE", "memory", "conversation store: memory or redis"),
        (
            "REDIS_URL", "redis://127.0.0.1:6379/0",
            "Redis for EXAI_STORAGE=redis (password and database index in the URL; never logged)"
        ),
        ("REDIS_TIMEOUT_MS", "2000", "Redis command timeout"),
        ("EXAI_CONVERSATION_TTL_SECS", "10800", "conversation lifetime in the store"),
        ("SUPABASE_DB_URL", "(empty)", "Supabase PostgreSQL URL for persistence; empty disables it (never logged)"),
        ("EXAI_SYNTHETIC_INTERVAL", "60", "seconds between synthetic hello + listmodels probes; 0 disables"),
        (
            "EXAI_HEALTH_INTERVAL", "15",
            "seconds between background health evaluations (keeps health_check_status current); 0 disables"
        ),
        (
            "EXAI_TOKEN_ROTATION", "true",
            "allow rotate_token; it changes this replica only, so set false when running several"
        ),
        (
            "EXAI_TOKEN_BUDGET_PER_HOUR", "0",
            "provider tokens per hour; above it the TokenSpendAboveBudget alert fires; 0 is no budget"
        ),
        ("EXAI_DEMO", "false", "start an in-process provider simulator for providers without a key"),
        ("EXAI_TRACE_PAGES", "false", "serve the trace pages at /debug/traces on METRICS_PORT (true in --demo)"),
        ("EXAI_JAEGER_UI_URL", "(empty)", "Jaeger UI base URL for links from the trace pages"),
        ("EXAI_SHUTDOWN_GRACE", "10", "seconds in-flight calls may finish after SIGTERM"),
        ("OTEL_*", "", "standard OpenTelemetry SDK variables (service name, exporter, sampler, …); see README"),
        (
            "TRACELINE_OTLP_RETRY_BUFFER_BYTES", "0",
            "bytes of encoded requests kept for retry while the collector fails; 0 is off"
        ),
        (
            "TRACELINE_OTLP_MAX_CONCURRENT_REQUESTS", "2",
            "OTLP requests on the wire at once, one sender thread each; 1 sends from the export thread"
        ),
        (
            "TRACELINE_OTLP_MAX_IN_FLIGHT_BYTES", "16777216",
            "OTLP request bytes handed to the senders, not yet answered"
        ),
    ]

    public static var helpText: String {
        var text =
            "exai-daemon: an AI-tool WebSocket daemon, traced with Traceline.\n\nUsage: exai-daemon [--demo | --demo-run] [--help]\n\nEnvironment:\n"
        let width = variables.map(\.name.count).max() ?? 0
        for variable in variables {
            let padded = variable.name + String(repeating: " ", count: width - variable.name.count)
            let defaultText = variable.defaultValue.isEmpty ? "" : " (default \(variable.defaultValue))"
            text += "  \(padded)  \(variable.meaning)\(defaultText)\n"
        }
        return text
    }

    /// Reads the environment (the process's by default).
    public static func fromEnvironment(_ environment: [String: String]) -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        var warnings: [String] = []
        func string(_ name: String) -> String? {
            guard let value = environment[name]?.trimmed(" \t\r\n"), !value.isEmpty else { return nil }
            return value
        }
        func integer(_ name: String, _ target: inout Int, minimum: Int = 0) {
            guard let text = string(name) else { return }
            if let value = Int(text), value >= minimum {
                target = value
            } else {
                warnings.append("\(name)=\(text) is not an integer ≥ \(minimum); using \(target)")
            }
        }
        func seconds(_ name: String, _ target: inout Duration, minimum: Double = 0) {
            guard let text = string(name) else { return }
            if let value = Double(text), value >= minimum, value.isFinite {
                target = .milliseconds(Int64(value * 1000))
            } else {
                warnings.append("\(name)=\(text) is not a number of seconds ≥ \(minimum); using \(target)")
            }
        }
        func flag(_ name: String, _ target: inout Bool) {
            guard let text = string(name)?.lowercased() else { return }
            switch text {
            case "1", "true", "yes", "on": target = true
            case "0", "false", "no", "off": target = false
            default: warnings.append("\(name)=\(text) is not a boolean; using \(target)")
            }
        }
        func models(_ name: String, _ target: inout ProviderConfiguration) {
            guard let text = string(name) else { return }
            for model in text.split(separator: ",").map({ String($0).trimmed(" ") }) where !model.isEmpty {
                if ModelName.isWellFormed(model) {
                    if !target.models.contains(model) { target.models.append(model) }
                } else {
                    warnings.append(
                        "\(name): a model name is 1 to \(ModelName.maxBytes) letters, digits, '.', '-', '_', ':' or '/'; ignoring one entry"
                    )
                }
            }
        }
        func rate(_ name: String, _ target: inout RateLimit) {
            guard let text = string(name) else { return }
            let parts = text.split(separator: "/").compactMap { Double($0) }
            if parts.count == 2, parts[0] > 0, parts[1] > 0 {
                target = RateLimit(capacity: parts[0], perSecond: parts[1])
            } else {
                warnings.append(
                    "\(name)=\(text) is not capacity/perSecond; using \(Int(target.capacity))/\(Int(target.perSecond))")
            }
        }
        if let host = string("EXAI_WS_HOST") { configuration.host = host }
        integer("EXAI_WS_PORT", &configuration.port)
        integer("METRICS_PORT", &configuration.metricsPort)
        if let host = string("METRICS_HOST") { configuration.metricsHost = host }
        configuration.token = environment["EXAI_WS_TOKEN"] ?? ""
        flag("EXAI_ALLOW_UNAUTHENTICATED", &configuration.allowUnauthenticated)
        integer("EXAI_WS_MAX_BYTES", &configuration.maxMessageBytes, minimum: 1024)
        integer("EXAI_WS_HELLO_MAX_BYTES", &configuration.helloMaxBytes, minimum: 256)
        rate("RATE_LIMIT_FAILED_HELLO", &configuration.failedHelloRate)
        integer("RATE_LIMIT_MAX_TRACKED_IPS", &configuration.maxTrackedIPs, minimum: 1)
        integer("EXAI_WS_RESULT_CACHE_BYTES", &configuration.resultCacheBytes)
        integer("EXAI_CONVERSATION_MAX_BYTES", &configuration.conversationMaxBytes, minimum: 1024)
        integer("EXAI_MEMORY_STORE_BYTES", &configuration.memoryStoreBytes, minimum: 65536)
        seconds("EXAI_WS_PING_INTERVAL", &configuration.pingInterval, minimum: 1)
        seconds("EXAI_WS_HELLO_TIMEOUT", &configuration.helloTimeout, minimum: 0.1)
        seconds("EXAI_WS_CALL_TIMEOUT", &configuration.callTimeout, minimum: 0.1)
        seconds("EXAI_WS_PROGRESS_INTERVAL_SECS", &configuration.progressInterval, minimum: 0.05)
        seconds("EXAI_WS_RESULT_TTL", &configuration.resultTTL)
        integer("EXAI_WS_RETRY_AFTER_SECS", &configuration.retryAfterSeconds)
        flag("EXAI_WS_COMPAT_TEXT", &configuration.compatText)
        integer("EXAI_WS_GLOBAL_MAX_INFLIGHT", &configuration.globalMaxInflight, minimum: 1)
        integer("EXAI_WS_KIMI_MAX_INFLIGHT", &configuration.kimiMaxInflight, minimum: 1)
        integer("EXAI_WS_GLM_MAX_INFLIGHT", &configuration.glmMaxInflight, minimum: 1)
        integer("EXAI_WS_SESSION_MAX_INFLIGHT", &configuration.sessionMaxInflight, minimum: 1)
        integer("MAX_CONNECTIONS", &configuration.maxConnections, minimum: 1)
        integer("MAX_CONNECTIONS_PER_IP", &configuration.maxConnectionsPerIP, minimum: 1)
        rate("RATE_LIMIT_GLOBAL", &configuration.globalRate)
        rate("RATE_LIMIT_PER_IP", &configuration.ipRate)
        rate("RATE_LIMIT_PER_SESSION", &configuration.sessionRate)
        if let tools = string("EXAI_WS_DISABLE_COALESCE_FOR_TOOLS") {
            configuration.disableCoalesceForTools = Set(tools.split(separator: ",").map { String($0).trimmed(" ") })
        }
        if let model = string("DEFAULT_MODEL") { configuration.defaultModel = model }
        if let model = string("KIMI_DEFAULT_MODEL") { configuration.kimi.defaultModel = model }
        if let url = string("KIMI_API_URL") { configuration.kimi.baseURL = url }
        if let key = string("KIMI_API_KEY") ?? string("MOONSHOT_API_KEY") { configuration.kimi.apiKey = key }
        seconds("KIMI_TIMEOUT_SECS", &configuration.kimi.timeout, minimum: 0.1)
        flag("KIMI_STREAM", &configuration.kimi.stream)
        seconds("KIMI_STREAM_IDLE_TIMEOUT_SECS", &configuration.kimi.streamIdleTimeout, minimum: 0.05)
        models("KIMI_MODELS", &configuration.kimi)
        if let url = string("GLM_API_URL") { configuration.glm.baseURL = url }
        if let key = string("GLM_API_KEY") ?? string("ZHIPUAI_API_KEY") { configuration.glm.apiKey = key }
        seconds("GLM_TIMEOUT_SECS", &configuration.glm.timeout, minimum: 0.1)
        flag("GLM_STREAM", &configuration.glm.stream)
        seconds("GLM_STREAM_IDLE_TIMEOUT_SECS", &configuration.glm.streamIdleTimeout, minimum: 0.05)
        var answerBytes = configuration.kimi.maxAnswerBytes, eventBytes = configuration.kimi.maxEventBytes
        integer("EXAI_CHAT_MAX_ANSWER_BYTES", &answerBytes, minimum: 1024)
        integer("EXAI_STREAM_MAX_EVENT_BYTES", &eventBytes, minimum: 1024)
        configuration.kimi.maxAnswerBytes = answerBytes
        configuration.glm.maxAnswerBytes = answerBytes
        configuration.kimi.maxEventBytes = eventBytes
        configuration.glm.maxEventBytes = eventBytes
        integer("EXAI_WS_STREAM_BUFFER_BYTES", &configuration.streamBufferBytes, minimum: 1024)
        var chunkMilliseconds = 50
        integer("EXAI_WS_STREAM_CHUNK_MS", &chunkMilliseconds)
        configuration.streamChunkInterval = .milliseconds(chunkMilliseconds)
        integer("EXAI_WS_STREAM_CHUNK_BYTES", &configuration.streamChunkBytes, minimum: 1)
        seconds("EXAI_WS_SEND_TIMEOUT_SECS", &configuration.sendTimeout, minimum: 0.1)
        models("GLM_MODELS", &configuration.glm)
        if let storage = string("EXAI_STORAGE")?.lowercased() {
            if storage == "memory" || storage == "redis" {
                configuration.storage = storage
            } else {
                warnings.append("EXAI_STORAGE=\(storage) is not memory or redis; using memory")
            }
        }
        if let url = string("REDIS_URL") { configuration.redisURL = url }
        var redisMilliseconds = 2000
        integer("REDIS_TIMEOUT_MS", &redisMilliseconds, minimum: 1)
        configuration.redisCommandTimeout = .milliseconds(redisMilliseconds)
        seconds("EXAI_CONVERSATION_TTL_SECS", &configuration.conversationTTL, minimum: 1)
        if let url = string("SUPABASE_DB_URL") { configuration.supabaseURL = url }
        seconds("EXAI_SYNTHETIC_INTERVAL", &configuration.syntheticInterval)
        seconds("EXAI_HEALTH_INTERVAL", &configuration.healthInterval)
        integer("EXAI_TOKEN_BUDGET_PER_HOUR", &configuration.tokenBudgetPerHour, minimum: 0)
        flag("EXAI_TOKEN_ROTATION", &configuration.tokenRotation)
        flag("EXAI_DEMO", &configuration.demo)
        flag("EXAI_TRACE_PAGES", &configuration.tracePages)
        configuration.jaegerUIURL = string("EXAI_JAEGER_UI_URL")
        seconds("EXAI_SHUTDOWN_GRACE", &configuration.shutdownGrace)
        for provider in [configuration.kimi, configuration.glm]
        where !provider.baseURL.hasPrefix("http://") && !provider.baseURL.hasPrefix("https://") {
            warnings.append("\(provider.kind.environmentPrefix)_API_URL must start with http:// or https://")
        }
        configuration.warnings = warnings
        return configuration
    }

    /// Why the daemon must not start as configured, or nil: a non-loopback `host` without a token
    /// (unless `allowUnauthenticated`) would let anyone on the network use the provider keys.
    public var startupRefusal: String? {
        guard token.isEmpty, !allowUnauthenticated, !Self.isLoopback(host) else { return nil }
        return
            "EXAI_WS_HOST=\(host) is reachable from the network but EXAI_WS_TOKEN is empty: anyone could call the providers "
            + "on your keys. Set EXAI_WS_TOKEN, bind 127.0.0.1, or set EXAI_ALLOW_UNAUTHENTICATED=true to accept that risk."
    }

    /// Whether `host` names only this machine (127.0.0.0/8, ::1, localhost).
    public static func isLoopback(_ host: String) -> Bool {
        let lower = host.lowercased()
        if lower == "localhost" || lower == "::1" || lower == "[::1]" { return true }
        let parts = lower.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}

extension String {
    /// Without leading and trailing characters from `characters`.
    func trimmed(_ characters: String) -> String {
        let set = Set(characters)
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
