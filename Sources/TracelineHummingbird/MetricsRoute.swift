// Compiled only with the package's `Hummingbird` trait.
#if Hummingbird
import Hummingbird
import Logging
import Traceline

extension RouterMethods {
    /// Serves `registry` at `path` (default `/metrics`) in the format the scrape's `Accept` header
    /// prefers: OpenMetrics (with exemplars) for Prometheus, text 0.0.4 otherwise.
    @discardableResult
    public func addMetricsRoute(_ path: RouterPath = "/metrics", registry: MetricsRegistry) -> Self {
        get(path) { request, _ -> Response in
            let format = MetricsFormat.negotiate(accept: request.headers[.accept])
            let body = registry.render(format: format)
            var headers = HTTPFields()
            headers[.contentType] = format.contentType
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
    }
}

/// A small application that serves `/metrics` on a separate port (`METRICS_PORT`, as the seed
/// asks: `:8000/metrics`), and, when given, the trace pages: an internal listener keeps them off
/// the public port. It listens on loopback unless `host` says otherwise. `history` adds the trace
/// pages' history section. Run it in your ServiceGroup.
public func makeMetricsServer(
    host: String = "127.0.0.1",
    port: Int = 8000,
    registry: MetricsRegistry,
    tracePages: (store: TraceStore, spanMetrics: SpanMetricsProcessor?, options: TracePagesOptions)? = nil,
    history: SpanMetricsHistory? = nil,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let router = Router()
    router.addMetricsRoute(registry: registry)
    if let tracePages {
        router.addTracePages(
            store: tracePages.store, spanMetrics: tracePages.spanMetrics, history: history,
            options: tracePages.options)
    }
    return Application(
        router: router,
        configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "traceline-metrics"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
        logger: Logger(label: "traceline.metrics-server")
    )
}
#endif
