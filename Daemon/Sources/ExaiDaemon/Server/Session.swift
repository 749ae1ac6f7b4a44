import ExaiProtocol
import Foundation
import HummingbirdWebSocket
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import Traceline
import Tracing

/// One authenticated WebSocket client.
final class DaemonSession: Sendable {
    let id: String
    let connection: ConnectionInfo
    let writer: FrameWriter
    let gate: ConcurrencyGate
    /// The token generation the session authenticated under; a rotation closes older ones.
    let tokenGeneration: Int
    private let running = NIOLockedValueBox<[UUID: Task<Void, Never>]>([:])

    init(id: String, connection: ConnectionInfo, writer: FrameWriter, maxInflight: Int, tokenGeneration: Int) {
        self.id = id
        self.tokenGeneration = tokenGeneration
        self.connection = connection
        self.writer = writer
        self.gate = ConcurrencyGate(name: "Session", limit: maxInflight)
    }

    /// Runs `body` as a tracked task: cancelled when the session closes, awaited on shutdown.
    func spawn(_ body: @escaping @Sendable () async -> Void) {
        let key = UUID()
        running.withLockedValue { tasks in
            tasks[key] = Task { [weak self] in
                await body()
                _ = self?.running.withLockedValue { $0.removeValue(forKey: key) }
            }
        }
    }

    var runningCount: Int { running.withLockedValue { $0.count } }

    func cancelAll() {
        for task in running.withLockedValue({ Array($0.values) }) { task.cancel() }
    }
}

/// The outcome of one message, for its span and `mcp_requests_total`.
struct MessageOutcome: Sendable {
    /// `success`, or the error code (`TOOL_NOT_FOUND`, `OVER_CAPACITY`, `TIMEOUT`, …).
    var status: String
    var errorMessage: String?
    static let success = MessageOutcome(status: "success")
}

extension ExaiDaemon {
    /// Serves one upgraded connection: admission, hello, then messages until it closes.
    ///
    /// The hello is read with its own small limit (`helloMaxBytes`) and its token is checked
    /// before any other field; a failed hello spends one of the client IP's failed-hello tokens.
    func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, connection: ConnectionInfo) async {
        let writer = FrameWriter(outbound: outbound)
        var logger = self.logger
        logger[metadataKey: "client"] = "\(connection.ip)"
        logger[metadataKey: "correlation_id"] = "\(connection.correlationID.value)"
        guard rateLimiter.mayConnect(ip: connection.ip) else {
            metrics.protocolError("failed_hello_limit")
            logger.warning("connection refused", metadata: ["reason": "too many failed hellos from this address"])
            await writer.close(.policyViolation, reason: "too many failed hellos; retry later")
            return
        }
        if let reason = connections.admit(ip: connection.ip) {
            logger.warning("connection refused", metadata: ["reason": "\(reason)"])
            await writer.close(.policyViolation, reason: reason)
            return
        }
        metrics.connectionOpened()
        var session: DaemonSession?
        defer {
            // The slot goes first, so the IP's rate bucket is forgotten with its last connection.
            let ipStillConnected = connections.release(ip: connection.ip)
            if let session {
                session.cancelAll()
                unregister(session)
                callRegistry.forget(session: session.id)
            }
            rateLimiter.forget(session: session?.id ?? "", ip: connection.ip, ipStillConnected: ipStillConnected)
            metrics.connectionClosed()
        }

        // hello, within the hello timeout and the hello size limit.
        let helloTimeout = configuration.helloTimeout
        let watchdog = Task {
            try await Task.sleep(for: helloTimeout)
            await writer.close(.unknown(4002), reason: "hello timeout or disconnect")
        }
        var frames = inbound.makeAsyncIterator()
        let helloMaxBytes = configuration.helloMaxBytes
        let first: WebSocketMessage?
        do {
            first = try await frames.nextMessage(maxSize: helloMaxBytes)
        } catch {
            first = .binary(ByteBuffer())  // too large when fragmented, or a protocol error: a failed hello
        }
        watchdog.cancel()
        let correlationID = connection.correlationID
        guard let first else {
            await writer.close(.unknown(4002), reason: "hello timeout or disconnect")
            return
        }
        func refuse(_ error: String, code: UInt16, reason: String, metric: String) async {
            rateLimiter.helloFailed(ip: connection.ip)
            metrics.protocolError(metric)
            logger.warning("hello refused", metadata: ["error": "\(error)"])
            await writer.send(
                [("op", "hello_ack"), ("ok", false), ("error", .string(error))], correlationID: correlationID)
            await writer.close(.unknown(code), reason: reason)
        }
        // Size first (an unfragmented frame arrives whole), then the token, then the rest.
        guard case .text(let text) = first, text.utf8.count <= helloMaxBytes else {
            await refuse(
                "invalid_hello", code: 4000, reason: "invalid hello (binary, or over \(helloMaxBytes) bytes)",
                metric: "invalid_hello")
            return
        }
        guard let hello = ClientFrame.decodeJSON(text), hello.objectValue != nil else {
            await refuse("invalid_hello", code: 4000, reason: "invalid hello", metric: "invalid_hello")
            return
        }
        let (expected, generation) = currentTokenAndGeneration
        if !expected.isEmpty, !constantTimeEquals(hello["token"]?.stringValue ?? "", expected) {
            // Never log the token, nor a prefix of it.
            await refuse("unauthorized", code: 4003, reason: "unauthorized", metric: "unauthorized")
            return
        }
        guard hello["op"]?.stringValue == "hello" else {
            await refuse("missing_hello", code: 4001, reason: "missing hello", metric: "missing_hello")
            return
        }
        let started = DaemonSession(
            id: UUID().uuidString.lowercased(), connection: connection, writer: writer,
            maxInflight: configuration.sessionMaxInflight, tokenGeneration: generation)
        guard register(started) else {
            await refuse("unauthorized", code: 4003, reason: "token rotated", metric: "unauthorized")
            return
        }
        session = started
        logger[metadataKey: "session_id"] = "\(started.id)"
        await writer.send(
            [("op", "hello_ack"), ("ok", true), ("session_id", .string(started.id))], correlationID: correlationID)
        logger.info("session started")

        while true {
            let message: WebSocketMessage?
            do {
                message = try await frames.nextMessage(maxSize: configuration.maxMessageBytes)
            } catch {
                logger.warning("connection ended with an error", metadata: ["error": "\(error)"])
                break
            }
            guard let message else { break }
            if writer.watch.isStalled { continue }
            await handle(message, in: started, logger: logger)
        }
        logger.info("session ended")
    }

    private func handle(_ message: WebSocketMessage, in session: DaemonSession, logger: Logger) async {
        let correlationID = session.connection.correlationID
        // The rate limiter runs before anything is parsed: an invalid frame costs a token too.
        if let reason = rateLimiter.admit(ip: session.connection.ip, session: session.id) {
            metrics.protocolError("rate_limited")
            logger.warning("message rate limited", metadata: ["reason": "\(reason)"])
            await session.writer.send(
                [("op", "error"), ("message", .string("rate_limit_exceeded: \(reason)"))], correlationID: correlationID)
            return
        }
        guard case .text(let text) = message else {
            metrics.protocolError("binary_frame")
            await session.writer.send(
                [("op", "error"), ("message", "invalid_message: binary frames are not supported")],
                correlationID: correlationID)
            return
        }
        let frame: ClientFrame
        switch ClientFrame.parse(text) {
        case .success(let parsed):
            frame = parsed
        case .failure(.invalidJSON):
            metrics.protocolError("invalid_json")
            await session.writer.send([("op", "error"), ("message", "invalid_json")], correlationID: correlationID)
            return
        case .failure(.invalidMessage(let problem)):
            metrics.protocolError("invalid_message")
            await session.writer.send(
                [("op", "error"), ("message", .string("invalid_message: \(problem)"))], correlationID: correlationID)
            return
        }
        let json = frame.json
        let op = frame.op
        switch op {
        case "call_tool":
            guard acceptingCalls else {
                let requestID = json["request_id"]?.stringValue ?? ""
                await session.writer.send(
                    [
                        ("op", "call_tool_res"), ("request_id", .string(requestID)),
                        (
                            "error",
                            .object([
                                ("code", "OVER_CAPACITY"),
                                ("message", "server shutting down; retry on another instance"),
                                ("retry_after", .number(Double(configuration.retryAfterSeconds))),
                            ])
                        ),
                    ],
                    correlationID: correlationID)
                return
            }
            session.spawn { [self] in
                await self.withMessageSpan(
                    op: op, tool: json["name"]?.stringValue, frame: frame, session: session, logger: logger
                ) { correlation, logger in
                    await self.callTool(json, session: session, correlationID: correlation, logger: logger)
                }
            }
        case "list_tools":
            await withMessageSpan(op: op, tool: nil, frame: frame, session: session, logger: logger) { correlation, _ in
                let tools = self.toolOrder.compactMap { self.tools[$0] }.map {
                    JSONValue.object([
                        ("name", .string($0.name)), ("description", .string($0.description)),
                        ("inputSchema", $0.inputSchema),
                    ])
                }
                await session.writer.send(
                    [("op", "list_tools_res"), ("tools", .array(tools))], correlationID: correlation)
                return .success
            }
        case "health":
            await withMessageSpan(op: op, tool: nil, frame: frame, session: session, logger: logger) { correlation, _ in
                let uptime = Int((ContinuousClock.now - self.startedAt).components.seconds)
                let health = JSONValue.object([
                    ("t", epochSeconds()),
                    ("uptime_human", .string("\(uptime / 3600)h \(uptime / 60 % 60)m \(uptime % 60)s")),
                    ("sessions", .number(Double(self.sessionCount))),
                    ("global_capacity", .number(Double(self.globalGate.limit - self.globalGate.current))),
                    ("tool_count", .number(Double(self.tools.count))),
                ])
                await session.writer.send(
                    [("op", "health_res"), ("ok", true), ("health", health)], correlationID: correlation)
                return .success
            }
        case "rotate_token":
            await withMessageSpan(op: op, tool: nil, frame: frame, session: session, logger: logger) {
                correlation, logger in
                guard let old = json["old"]?.stringValue, let new = json["new"]?.stringValue, !new.isEmpty else {
                    await session.writer.send(
                        [("op", "rotate_token_res"), ("ok", false), ("error", "missing_params")],
                        correlationID: correlation)
                    return MessageOutcome(status: "missing_params")
                }
                let rotation = self.rotateToken(old: old, new: new)
                switch rotation {
                case .authDisabled:
                    // With no token there is nothing to rotate; setting one would lock every other client out.
                    logger.error("rotate_token refused: authentication is disabled")
                    await session.writer.send(
                        [("op", "rotate_token_res"), ("ok", false), ("error", "auth_disabled")],
                        correlationID: correlation)
                    return MessageOutcome(status: "auth_disabled")
                case .rotationDisabled:
                    logger.error("rotate_token refused: EXAI_TOKEN_ROTATION is false (several replicas)")
                    await session.writer.send(
                        [("op", "rotate_token_res"), ("ok", false), ("error", "rotation_disabled")],
                        correlationID: correlation)
                    return MessageOutcome(status: "rotation_disabled")
                case .unauthorized:
                    logger.error("rotate_token refused: unauthorized")
                    await session.writer.send(
                        [("op", "rotate_token_res"), ("ok", false), ("error", "unauthorized")],
                        correlationID: correlation)
                    return MessageOutcome(status: "unauthorized")
                case .rotated(let generation):
                    await session.writer.send([("op", "rotate_token_res"), ("ok", true)], correlationID: correlation)
                    let closed = await self.closeSessions(olderThan: generation, except: session.id)
                    logger.notice("token rotated", metadata: ["sessions_closed": "\(closed)"])
                    return .success
                }
            }
        default:
            metrics.protocolError("unknown_op")
            await session.writer.send(
                [("op", "error"), ("message", .string("Unknown op: \(String(op.prefix(64)))"))],
                correlationID: correlationID)
        }
    }

    /// Runs one message's work in a SERVER span named after the op (`call_tool {tool}` for calls).
    ///
    /// The parent is the message's `_meta.traceparent` when it has one; otherwise the span starts a
    /// new trace linked to the connection's upgrade span. The correlation ID is the message's
    /// `correlation_id` (or `_meta.correlation_id`) when valid, else the connection's.
    func withMessageSpan(
        op: String, tool: String?, frame: ClientFrame, session: DaemonSession, logger: Logger,
        _ body: @Sendable (CorrelationID, Logger) async -> MessageOutcome
    ) async {
        var context = ServiceContext.topLevel
        if let traceparent = frame.traceparent {
            var carrier = ["traceparent": traceparent]
            if let tracestate = frame.tracestate { carrier["tracestate"] = tracestate }
            tracer.extract(carrier, into: &context, using: DictionaryExtractor())
        }
        let hasParent = context.spanContext != nil
        let correlationID = frame.correlationID ?? session.connection.correlationID
        context.correlationID = correlationID
        context.baggage = nil
        // Span names and metric labels take known tool names only: a client cannot mint series.
        let requested = tool.map(ToolNames.normalize)
        let toolName = requested.map { tools[$0] == nil ? "unknown" : $0 }
        let span = startSpan(toolName.map { "\(op) \($0)" } ?? op, context: context, kind: .server)
        if let requested, requested != toolName {
            span.attributes["exai.tool.requested"] = String(requested.prefix(128))
        }
        if !hasParent { span.addLink(SpanLink(context: session.connection.upgradeContext, attributes: [:])) }
        span.attributes["exai.op"] = op
        if let toolName { span.attributes["exai.tool"] = toolName }
        span.attributes["exai.session_id"] = session.id
        if let requestID = frame.requestID { span.attributes["exai.request_id"] = requestID }
        var logger = logger
        logger[metadataKey: "correlation_id"] = "\(correlationID.value)"
        let spanContext = span.context
        let outcome = await ServiceContext.withValue(spanContext) { await body(correlationID, logger) }
        span.attributes["exai.status"] = outcome.status
        if outcome.status != "success" {
            span.attributes["error.type"] = outcome.status
            span.setStatus(SpanStatus(code: .error, message: outcome.errorMessage))
        }
        span.end()
    }
}
