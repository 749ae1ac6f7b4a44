// Compiled only with the package's `Hummingbird` trait.
#if Hummingbird
import Hummingbird
import Traceline

/// Options for ``RouterMethods/addHealthRoutes(_:options:)``.
public struct HealthRoutesOptions: Sendable {
    public var healthPath: String = "/health"
    public var livenessPath: String = "/livez"
    public var readinessPath: String = "/readyz"
    /// The root `status` of `/health`: IETF `pass`/`warn`/`fail` (default) or the seed's
    /// `healthy`/`degraded`. A request can choose with `?format=ietf` or `?format=seed`.
    public var statusStyle: HealthReport.StatusStyle = .ietf
    /// Whether health requests and their probes are traced. Off by default: a probe every few
    /// seconds would swamp Jaeger and skew the RED metrics. With it off, every span started while
    /// handling a health request is suppressed. Note that a request span made by Hummingbird's
    /// `TracingMiddleware` is started before the handler runs: add these routes before that
    /// middleware (Hummingbird applies middleware only to routes added after it).
    public var traceRequests = false

    public init(statusStyle: HealthReport.StatusStyle = .ietf, traceRequests: Bool = false) {
        self.statusStyle = statusStyle
        self.traceRequests = traceRequests
    }
}

extension RouterMethods {
    /// Serves the aggregator's state:
    /// - `/health`: every check, IETF health+json (also the seed's fields); 200, or 503 when a critical check fails.
    /// - `/livez`: the process answers; no dependency is called. Always 200 while the server runs.
    /// - `/readyz`: the critical checks only; 200 or 503.
    ///
    /// `/livez` and `/readyz` accept Kubernetes' `?verbose` (plain text, one line per check) and
    /// `?exclude=<check>` (repeatable). Responses carry `Cache-Control: no-store`.
    @discardableResult
    public func addHealthRoutes(
        _ aggregator: HealthAggregator, options: HealthRoutesOptions = HealthRoutesOptions()
    ) -> Self {
        let traced = options.traceRequests
        get(RouterPath(options.healthPath)) { request, _ -> Response in
            let style =
                request.uri.queryParameters.get("format").flatMap(HealthReport.StatusStyle.init(rawValue:))
                ?? options.statusStyle
            let report = await suppressingUnless(traced) { await aggregator.report() }
            return healthResponse(
                status: report.httpStatus, contentType: report.contentType(style: style),
                body: report.json(style: style))
        }
        get(RouterPath(options.livenessPath)) { request, _ -> Response in
            let uptime = Double(aggregator.uptime.components.seconds)
            if request.uri.queryParameters.has("verbose") {
                return healthResponse(
                    status: 200, contentType: "text/plain; charset=utf-8", body: "[+]ping ok\nlivez check passed\n")
            }
            let body = JSONValue.object([
                ("status", "pass"),
                (
                    "checks",
                    .object([
                        (
                            "uptime",
                            .array([
                                .object([
                                    ("componentType", "system"), ("observedValue", .number(uptime)),
                                    ("observedUnit", "s"), ("status", "pass"),
                                ])
                            ])
                        )
                    ])
                ),
            ]).serialized
            return healthResponse(status: 200, contentType: "application/health+json", body: body)
        }
        get(RouterPath(options.readinessPath)) { request, _ -> Response in
            let parameters = request.uri.queryParameters
            let excluded = Set(parameters.getAll("exclude").map { String($0) })
            let report = await suppressingUnless(traced) {
                await aggregator.report(criticalOnly: true, excluding: excluded)
            }
            if parameters.has("verbose") {
                var text = report.verboseText(title: "readyz")
                for key in excluded.sorted() { text = "[+]\(key) excluded: ok\n" + text }
                return healthResponse(status: report.httpStatus, contentType: "text/plain; charset=utf-8", body: text)
            }
            return healthResponse(
                status: report.httpStatus, contentType: "application/health+json", body: report.json())
        }
        return self
    }
}

private func suppressingUnless<Result: Sendable>(_ traced: Bool, _ body: () async -> Result) async -> Result {
    traced ? await body() : await withTracingSuppressed(body)
}

private func healthResponse(status: Int, contentType: String, body: String) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = contentType
    headers[.cacheControl] = "no-store"
    return Response(
        status: HTTPResponse.Status(code: status), headers: headers,
        body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
}
#endif
