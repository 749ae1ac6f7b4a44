@_spi(Fuzzing) import TracelineCore

/// Settings of the OTLP/HTTP trace exporter, from the `OTEL_EXPORTER_OTLP_*` variables.
public struct OTLPExporterConfiguration: Sendable, Equatable {
    /// Request body compression (`OTEL_EXPORTER_OTLP_COMPRESSION`).
    public enum Compression: String, Sendable, Equatable { case none, gzip }

    /// Retry policy for 429, 502, 503, 504 and transport errors.
    ///
    /// The delay before retry n (n = 1, 2, …) is `initialBackoff × multiplier^(n-1)`, capped at
    /// `maxBackoff`, with ±`jitter` randomisation; a `Retry-After` header replaces it. Retrying
    /// stops when the next attempt would start after `maxElapsed` or after the export's deadline.
    /// The 5 s cap (opentelemetry-java's) bounds how long a recovered collector waits for the next
    /// attempt: after an outage ends, a full queue keeps overflowing for at most about 5 s.
    public struct RetryPolicy: Sendable, Equatable {
        /// Delay before the first retry (1 s).
        public var initialBackoff: Duration = .seconds(1)
        /// Longest delay between two attempts (5 s).
        public var maxBackoff: Duration = .seconds(5)
        /// Factor applied to the delay after each retry (2).
        public var multiplier: Double = 2
        /// Random spread of each delay as a fraction of it: 0.2 means ±20 %.
        public var jitter: Double = 0.2
        /// Longest time from the first attempt to the start of a retry (60 s).
        public var maxElapsed: Duration = .seconds(60)
        /// Creates the default policy.
        public init() {}
    }

    /// Full URL requests go to (`/v1/traces` already applied).
    public var endpoint: String = "http://localhost:4318/v1/traces"
    /// Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`, percent-decoded).
    public var headers: [(name: String, value: String)] = []
    /// Request body compression (`OTEL_EXPORTER_OTLP_COMPRESSION`, none by default).
    public var compression: Compression = .none
    /// Per-request timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s); nil means no limit.
    public var timeout: Duration? = .seconds(10)
    /// Trusted CA bundle (PEM) instead of the system store.
    public var certificateFile: String?
    /// Client certificate (PEM) for mutual TLS (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`).
    public var clientCertificateFile: String?
    /// Private key (PEM) of the client certificate (`OTEL_EXPORTER_OTLP_CLIENT_KEY`).
    public var clientKeyFile: String?
    /// When and how often failed requests are retried.
    public var retry = RetryPolicy()
    /// Circuit breaker settings; by default it opens after 5 consecutive failures, for 30 s.
    public var breaker = CircuitBreaker.Configuration(failureThreshold: 5, cooldown: .seconds(30))
    /// Requests over this size (before compression) are not sent; their spans are counted as dropped.
    public var maxRequestBytes = 64 * 1024 * 1024
    /// Responses over this size are an error (not retried).
    public var maxResponseBytes = 4 * 1024 * 1024
    /// Bytes of encoded requests kept for retry while the receiver is failing
    /// (`TRACELINE_OTLP_RETRY_BUFFER_BYTES`; 0, the default, turns the buffer off).
    ///
    /// Off, a failing batch is retried on the export thread and the processor's queue is the only
    /// buffer, as in the other OpenTelemetry SDKs: at 20 000 spans/s the default 2048-span queue
    /// overflows within a tenth of a second of an outage. On, a batch whose attempt fails
    /// retryably, and every batch after it, waits here as its request body while a sender thread
    /// retries the oldest (backoff or `Retry-After`), so the queue keeps draining. A request that
    /// does not fit is dropped and counted; one waiting longer than `retry.maxElapsed` too.
    /// Sizing: about 200 bytes a span, 50–70 with gzip; 32 MiB with gzip holds about 10 s at
    /// 50 000 spans/s.
    public var retryBufferBytes = 0
    /// How many requests may be on the wire at once (`TRACELINE_OTLP_MAX_CONCURRENT_REQUESTS`,
    /// default 2; values outside 1...64 are clamped).
    ///
    /// With 1, `export` sends the request on the calling thread and answers with its outcome: the
    /// export thread encodes nothing while it waits for the receiver. With more, `export` encodes
    /// the batch, hands the request to one of that many sender threads (each with its own
    /// keep-alive connection) and returns ``ExportResult/handedOver``, so the next batch is encoded
    /// while earlier ones are on the wire; batches may arrive out of order, which OTLP allows.
    /// When every sender is busy, the encoded request waits for the next free one (or, with the
    /// retry buffer on, goes there) and `export` returns; only when ``maxInFlightBytes`` is reached
    /// does `export` wait, so a receiver slower than the producers still pushes back on the
    /// processor's queue.
    public var maxConcurrentRequests = 2
    /// Request bytes handed to sender threads and not yet answered, being sent or waiting for a
    /// free sender (`TRACELINE_OTLP_MAX_IN_FLIGHT_BYTES`, default 16 MiB: about 80 000 spans
    /// uncompressed). A request larger than this is still sent when nothing else is in flight.
    /// Unused when ``maxConcurrentRequests`` is 1.
    public var maxInFlightBytes = 16 * 1024 * 1024

    /// Creates the default configuration: `http://localhost:4318/v1/traces`, no compression, 10 s timeout.
    public init() {}

    /// Compares every setting except the request and response size limits.
    public static func == (lhs: OTLPExporterConfiguration, rhs: OTLPExporterConfiguration) -> Bool {
        lhs.endpoint == rhs.endpoint && lhs.headers.map(\.name) == rhs.headers.map(\.name)
            && lhs.headers.map(\.value) == rhs.headers.map(\.value) && lhs.compression == rhs.compression
            && lhs.timeout == rhs.timeout && lhs.certificateFile == rhs.certificateFile
            && lhs.clientCertificateFile == rhs.clientCertificateFile && lhs.clientKeyFile == rhs.clientKeyFile
            && lhs.retry == rhs.retry && lhs.breaker == rhs.breaker && lhs.retryBufferBytes == rhs.retryBufferBytes
            && lhs.maxConcurrentRequests == rhs.maxConcurrentRequests && lhs.maxInFlightBytes == rhs.maxInFlightBytes
    }

    /// Reads the environment; problems are appended to `warnings` (never echoing header values,
    /// which often carry credentials).
    public static func fromEnvironment(_ env: [String: String], warnings: inout [String]) -> OTLPExporterConfiguration {
        var config = OTLPExporterConfiguration()
        func value(_ generic: String) -> (name: String, value: String)? {
            let specific = generic.replacingFirst("OTEL_EXPORTER_OTLP_", with: "OTEL_EXPORTER_OTLP_TRACES_")
            if let text = env[specific], !text.isEmpty { return (specific, text) }
            if let text = env[generic], !text.isEmpty { return (generic, text) }
            return nil
        }

        if let url = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], !url.isEmpty {
            config.endpoint = Self.signalURL(url)
        } else if let base = env["OTEL_EXPORTER_OTLP_ENDPOINT"], !base.isEmpty {
            config.endpoint = Self.appendTracesPath(base)
        }
        if !(config.endpoint.hasPrefix("http://") || config.endpoint.hasPrefix("https://")) {
            warnings.append("OTLP endpoint must start with http:// or https://; using http://localhost:4318/v1/traces")
            config.endpoint = "http://localhost:4318/v1/traces"
        }

        if let (name, text) = value("OTEL_EXPORTER_OTLP_HEADERS") {
            switch KeyValueListParser.parse(text) {
            case .success(let pairs):
                var valid: [(name: String, value: String)] = []
                for pair in pairs {
                    let safe =
                        Baggage.isToken(Substring(pair.key))
                        && !pair.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 })
                    if safe {
                        valid.append((pair.key, pair.value))
                    } else {
                        warnings.append(
                            "\(name): header '\(LogText.sanitized(pair.key))' has an invalid name or value; ignored"
                        )
                    }
                }
                config.headers = valid
            case .failure(let failure):
                warnings.append("\(name) ignored: \(failure)")
            }
        }

        if let (name, text) = value("OTEL_EXPORTER_OTLP_COMPRESSION") {
            switch text.lowercased().trimmingSpaces {
            case "gzip": config.compression = .gzip
            case "none": config.compression = .none
            default: warnings.append("\(name) must be gzip or none; using none")
            }
        }

        if let (name, text) = value("OTEL_EXPORTER_OTLP_TIMEOUT") {
            if let milliseconds = Int(text.trimmingSpaces), milliseconds >= 0 {
                config.timeout = milliseconds == 0 ? nil : .milliseconds(milliseconds)
            } else {
                warnings.append("\(name) must be a non-negative number of milliseconds; using 10000")
            }
        }

        config.certificateFile = value("OTEL_EXPORTER_OTLP_CERTIFICATE")?.value
        config.clientCertificateFile = value("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")?.value
        config.clientKeyFile = value("OTEL_EXPORTER_OTLP_CLIENT_KEY")?.value

        if let text = env["TRACELINE_OTLP_RETRY_BUFFER_BYTES"], !text.isEmpty {
            if let bytes = Int(text.trimmingSpaces), bytes >= 0 {
                config.retryBufferBytes = bytes
            } else {
                warnings.append(
                    "TRACELINE_OTLP_RETRY_BUFFER_BYTES must be a non-negative number of bytes; the retry buffer is off")
            }
        }

        if let text = env["TRACELINE_OTLP_MAX_CONCURRENT_REQUESTS"], !text.isEmpty {
            if let count = Int(text.trimmingSpaces), (1...64).contains(count) {
                config.maxConcurrentRequests = count
            } else {
                warnings.append("TRACELINE_OTLP_MAX_CONCURRENT_REQUESTS must be a number from 1 to 64; using 2")
            }
        }
        if let text = env["TRACELINE_OTLP_MAX_IN_FLIGHT_BYTES"], !text.isEmpty {
            if let bytes = Int(text.trimmingSpaces), bytes > 0 {
                config.maxInFlightBytes = bytes
            } else {
                warnings.append("TRACELINE_OTLP_MAX_IN_FLIGHT_BYTES must be a positive number of bytes; using 16777216")
            }
        }

        if let (name, text) = value("OTEL_EXPORTER_OTLP_PROTOCOL"), text.lowercased() != "http/protobuf" {
            warnings.append("\(name) '\(LogText.sanitized(text))' is not supported; using http/protobuf")
        }
        return config
    }

    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is used as is; only a URL without a path gets `/`.
    static func signalURL(_ url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return url }
        let afterScheme = url[schemeEnd.upperBound...]
        return afterScheme.contains("/") ? url : url + "/"
    }

    /// `OTEL_EXPORTER_OTLP_ENDPOINT` + `v1/traces`, with exactly one `/` between.
    static func appendTracesPath(_ base: String) -> String {
        base.hasSuffix("/") ? base + "v1/traces" : base + "/v1/traces"
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = firstRange(of: target) else { return self }
        var result = self
        result.replaceSubrange(range, with: replacement)
        return result
    }
}
