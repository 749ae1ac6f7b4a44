import Foundation
import Logging
import Traceline
import Tracing

extension ExaiDaemon {
    private enum RunOutcome: Sendable {
        case outputs([JSONValue])
        case failed(String)
        case timedOut
        case cancelled
    }

    /// The `call_tool` life-cycle of the reference daemon: lookup, result cache, de-duplication,
    /// gates, one ACK, heartbeats, the deadline, and exactly one `call_tool_res` (or the duplicate
    /// `progress` note) per request.
    func callTool(
        _ message: JSONValue, session: DaemonSession, correlationID: CorrelationID, logger: Logger
    ) async -> MessageOutcome {
        let writer = session.writer
        let requestID = message["request_id"]?.stringValue ?? UUID().uuidString.lowercased()
        let rawName = message["name"]?.stringValue ?? ""
        let name = ToolNames.normalize(rawName)
        let arguments = message["arguments"].flatMap { $0.objectValue != nil ? $0 : nil } ?? .object([])
        func send(_ members: [(String, JSONValue)]) async { await writer.send(members, correlationID: correlationID) }
        func fail(_ code: String, _ text: String, extra: [(String, JSONValue)] = []) async -> MessageOutcome {
            await send([
                ("op", "call_tool_res"), ("request_id", .string(requestID)),
                ("error", .object([("code", .string(code)), ("message", .string(text))] + extra)),
            ])
            if code == "EXEC_ERROR" || code == "TIMEOUT" {
                logger.error(
                    "call_tool failed",
                    metadata: ["code": "\(code)", "tool": "\(name)", "request_id": "\(requestID)", "error": "\(text)"])
            }
            return MessageOutcome(status: code, errorMessage: text)
        }

        guard let tool = tools[name] else {
            return await fail("TOOL_NOT_FOUND", "Unknown tool: \(String(rawName.prefix(128)))")
        }
        let provider = tool.provider(for: arguments)
        let callKey = CallKey.digest(
            JSONValue.object([
                ("name", .string(name)), ("arguments", arguments),
                ("__prov", .string(provider?.rawValue ?? "none")),
            ]).serialized)
        switch callRegistry.begin(
            session: session.id, requestID: requestID, callKey: callKey,
            coalesce: !configuration.disableCoalesceForTools.contains(name))
        {
        case .cached(let frame):
            await send(frame.objectValue ?? [])
            return MessageOutcome(status: "success")
        case .runningRequest:
            await send([
                ("op", "progress"), ("request_id", .string(requestID)), ("name", .string(name)), ("t", epochSeconds()),
                ("note", "duplicate request; still processing"),
            ])
            return MessageOutcome(status: "duplicate_request")
        case .duplicateOf(let original):
            return await fail(
                "DUPLICATE", "duplicate call in flight", extra: [("original_request_id", .string(original))])
        case .started:
            break
        }
        // Finished before the reply goes out (below), so that a client sending the same call again
        // as soon as it has the reply is not told DUPLICATE; here for every earlier return.
        var finished = false
        defer {
            if !finished {
                callRegistry.finish(session: session.id, requestID: requestID, callKey: callKey, result: nil)
            }
        }

        // Gates, without waiting: global, then the provider's, then the session's.
        let retryAfter: [(String, JSONValue)] = [("retry_after", .number(Double(configuration.retryAfterSeconds)))]
        guard globalGate.tryAcquire() else {
            return await fail("OVER_CAPACITY", "Global concurrency limit reached; retry soon", extra: retryAfter)
        }
        defer { globalGate.release() }
        await send([
            ("op", "progress"), ("request_id", .string(requestID)), ("name", .string(name)), ("t", epochSeconds()),
            ("note", "accepted, awaiting provider/session capacity"),
        ])
        let providerGate = provider.flatMap { providerGates[$0] }
        if let providerGate, !providerGate.tryAcquire() {
            return await fail(
                "OVER_CAPACITY", "\(providerGate.name) concurrency limit reached; retry soon", extra: retryAfter)
        }
        defer { providerGate?.release() }
        guard session.gate.tryAcquire() else {
            return await fail("OVER_CAPACITY", "Session concurrency limit reached; retry soon", extra: retryAfter)
        }
        defer { session.gate.release() }

        let timeout = configuration.callTimeout
        let timeoutSeconds = timeout / .seconds(1)
        await send([
            ("op", "call_tool_ack"), ("request_id", .string(requestID)), ("accepted", true),
            ("timeout", .number(timeoutSeconds)), ("name", .string(name)),
        ])
        let deadline = ContinuousClock.now + timeout
        // `_meta.stream: true` asks for the answer's text as it is generated, in stream_chunk frames.
        let relay =
            message["_meta"]?["stream"]?.boolValue == true
            ? StreamRelay(
                limitBytes: configuration.streamBufferBytes, flushBytes: configuration.streamChunkBytes,
                interval: configuration.streamChunkInterval, statistics: streamStatistics
            ) { text in
                await writer.send(
                    [("op", "stream_chunk"), ("request_id", .string(requestID)), ("chunk", .string(text))],
                    correlationID: correlationID)
            }
            : nil
        var context = ToolContext(
            sessionID: session.id, requestID: requestID, idempotencyKey: CallKey.idempotencyKey(),
            deadline: deadline
        ) { text in
            await writer.send(
                [
                    ("op", "progress"), ("request_id", .string(requestID)), ("name", .string(name)),
                    ("message", .string(text)), ("level", "info"), ("t", epochSeconds()),
                ], correlationID: correlationID)
            await writer.send(
                [
                    ("op", "progress"), ("request_id", .string(requestID)), ("name", .string(name)),
                    ("t", epochSeconds()),
                ],
                correlationID: correlationID)
        }
        if let relay { context.onText = { relay.append($0) } }
        let toolContext = context
        let heartbeat = configuration.progressInterval
        let compatText = configuration.compatText
        let timeoutText =
            timeoutSeconds == timeoutSeconds.rounded() ? String(Int(timeoutSeconds)) : String(timeoutSeconds)
        // The final frame is sent from inside the group, as soon as the outcome is known: a tool
        // stuck in a call that ignores cancellation (a hung storage server) cannot hold the reply
        // past the deadline while the group waits for it to unwind.
        let (outcome, _) = await withTaskGroup(of: RunOutcome?.self) { group -> (RunOutcome, [(String, JSONValue)]?) in
            group.addTask {
                await withTaskCancellationHandler {
                    do {
                        let outputs = try await tool.run(arguments: arguments, context: toolContext)
                        // Every chunk goes before the result that ends the call.
                        await relay?.finish()
                        return .outputs(outputs)
                    } catch is CancellationError {
                        relay?.cancel()
                        return .cancelled
                    } catch {
                        relay?.cancel()
                        // A provider timing out at the call's own deadline is the call timing out.
                        if ContinuousClock.now >= deadline { return .timedOut }
                        return .failed(SecretRedactor.redact(String(describing: error)))
                    }
                } onCancel: {
                    relay?.cancel()
                }
            }
            group.addTask {
                try? await Task.sleep(until: deadline)
                return Task.isCancelled ? nil : .timedOut
            }
            group.addTask {
                while true {
                    try? await Task.sleep(for: heartbeat)
                    if Task.isCancelled { return nil }
                    await writer.send(
                        [
                            ("op", "progress"), ("request_id", .string(requestID)), ("name", .string(name)),
                            ("t", epochSeconds()),
                        ],
                        correlationID: correlationID)
                }
            }
            var result = RunOutcome.cancelled
            for await value in group {
                if let value {
                    result = value
                    break
                }
            }
            group.cancelAll()
            var frame: [(String, JSONValue)]?
            switch result {
            case .outputs(let outputs):
                var members: [(String, JSONValue)] = [
                    ("op", "call_tool_res"), ("request_id", .string(requestID)),
                    ("outputs", .array(outputs.isEmpty ? [.object([("type", "text"), ("text", "")])] : outputs)),
                ]
                if compatText {
                    members.append(
                        ("text", .string(outputs.compactMap { $0["text"]?.stringValue }.joined(separator: "\n\n"))))
                }
                if let dropped = relay?.droppedBytes, dropped > 0 {
                    members.append(("stream_dropped_bytes", .number(Double(dropped))))
                }
                frame = members
            case .failed(let text):
                frame = [
                    ("op", "call_tool_res"), ("request_id", .string(requestID)),
                    ("error", .object([("code", "EXEC_ERROR"), ("message", .string(text))])),
                ]
            case .timedOut:
                frame = [
                    ("op", "call_tool_res"), ("request_id", .string(requestID)),
                    (
                        "error",
                        .object([("code", "TIMEOUT"), ("message", .string("call_tool exceeded \(timeoutText)s"))])
                    ),
                ]
            case .cancelled:
                frame = nil
            }
            let cached: JSONValue? = if case .outputs = result { frame.map(JSONValue.object) } else { nil }
            callRegistry.finish(session: session.id, requestID: requestID, callKey: callKey, result: cached)
            finished = true
            if let frame { await writer.send(frame, correlationID: correlationID) }
            return (result, frame)
        }
        switch outcome {
        case .outputs:
            return .success
        case .failed(let text):
            logger.error(
                "call_tool failed",
                metadata: ["code": "EXEC_ERROR", "tool": "\(name)", "request_id": "\(requestID)", "error": "\(text)"])
            return MessageOutcome(status: "EXEC_ERROR", errorMessage: text)
        case .timedOut:
            logger.error(
                "call_tool failed", metadata: ["code": "TIMEOUT", "tool": "\(name)", "request_id": "\(requestID)"])
            return MessageOutcome(status: "TIMEOUT", errorMessage: "call_tool exceeded \(timeoutText)s")
        case .cancelled:
            return MessageOutcome(status: "cancelled")
        }
    }
}
