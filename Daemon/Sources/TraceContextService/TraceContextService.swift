import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Instrumentation
import Logging
import NIOCore
import Traceline
import Tracing

/// The service side of the W3C trace-context test harness
/// (https://github.com/w3c/trace-context/tree/main/test): `POST /test` receives a JSON array of
/// `{"url": …, "arguments": …}`; for each element it POSTs `arguments` (as JSON) to `url`, in a
/// child span of the context extracted from the request, with our propagators injecting
/// `traceparent` and `tracestate` through AsyncHTTPClient; it answers once every call finished.
public struct TraceContextService: Sendable {
    public let host: String
    public let port: Int
    let tracer: any Tracer
    let logger: Logger

    public init(
        host: String = "127.0.0.1", port: Int = 8080, tracer: any Tracer,
        logger: Logger = Logger(label: "trace-context-service")
    ) {
        self.host = host
        self.port = port
        self.tracer = tracer
        self.logger = logger
    }

    /// Runs the server until cancelled; `onListening` gets the bound port.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        var configuration = HTTPClient.Configuration()
        configuration.tracing.tracer = tracer
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(10))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let router = Router()
        let tracer = self.tracer
        router.post("/test") { request, context -> Response in
            var serviceContext = ServiceContext.topLevel
            tracer.extract(request.headers, into: &serviceContext, using: FieldsExtractor())
            let body = try await request.body.collect(upTo: 1 << 20)
            guard let cases = try? JSONDecoder().decode(JSONValue.self, from: Data(buffer: body)).arrayValue else {
                return Response(status: .badRequest)
            }
            let span = tracer.startSpan("POST /test", context: serviceContext, ofKind: .server)
            defer { span.end() }
            await ServiceContext.withValue(span.context) {
                for item in cases {
                    guard let url = item["url"]?.stringValue else { continue }
                    var outgoing = HTTPClientRequest(url: url)
                    outgoing.method = .POST
                    outgoing.headers.add(name: "Content-Type", value: "application/json")
                    outgoing.body = .bytes(ByteBuffer(string: (item["arguments"] ?? .array([])).serialized))
                    do {
                        let response = try await client.execute(outgoing, timeout: .seconds(10))
                        _ = try await response.body.collect(upTo: 1 << 20)
                    } catch {
                        context.logger.warning(
                            "harness callback failed", metadata: ["url": "\(url)", "error": "\(error)"])
                    }
                }
            }
            return Response(status: .ok)
        }
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: port), serverName: "trace-context-service"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        do {
            try await app.run()
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
    }
}

private struct FieldsExtractor: Extractor {
    func extract(key: String, from carrier: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { carrier[$0] }
    }
}
