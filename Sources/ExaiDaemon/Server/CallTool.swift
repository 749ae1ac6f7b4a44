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
    func callTool(_ message: JSONValue, session: DaemonSession, correlationID: CorrelationID, logger: Logger) async -> MessageOutcome {
        let writer = session.writer
        let requestID = message["request_id"]?.stringValue ?? UUID().uuidString.lowercased()
        let rawName = message["name"]?.stringValue ?? ""
        let name = ToolNames.normalize(rawName)
        let arguments = message["arguments"].flatMap { $0.objectValue != nil ? $0 : nil } ?? .object([])
        func send(_ members: [(String, JSONValue)]) async { await writer.send(members, correlationID: correlationID) }
        func fail(_ code: String, _ text: String, extra: [(String, JSONValue)] = []) async -> MessageOutcome {
            await send([("op", "call_tool_res"), ("request_id", .string(requestID)),
                        ("error", .object([("code", .string(code)), ("message", .string(text))] + extra))])
            if code == "EXEC_ERROR" || code == "TIMEOUT" {
                logger.error("call_tool failed", metadata: ["code": "\(code)", "tool": "\(name)", "request_id": "\(requestID)", "error": "\(text)"])
            }
            return MessageOutcome(status: code, errorMessage: text)
        }

        guard let tool = tools[name] else { return await fail("TOOL_NOT_FOUND", "Unknown tool: \(String(rawName.prefix(128)))") }
        let provider = tool.provider(for: arguments)
        let callKey = JSONValue.object([("name", .string(name)), ("arguments", arguments),
                                        ("__prov", .string(provider?.rawValue ?? "none"))]).serialized
        switch callRegistry.begin(session: session.id, requestID: requestID, callKey: callKey,
                                  coalesce: !configuration.disableCoalesceForTools.contains(name)) {
        case .cached(let frame):
            await send(frame.objectValue ?? [])
            return MessageOutcome(status: "success")
        case .runningRequest:
            await send([("op", "progress"), ("request_id", .string(requestID)), ("name", .string(name)), ("t", epochSeconds()),
                        ("note", "duplicate request; still processing")])
            return MessageOutcome(status: "duplicate_request")
        case .duplicateOf(let original):
            return await fail("DUPLICATE", "duplicate call in flight", extra: [("original_request_id", .string(original))])
        case .started:
            break
        }
        var resultFrame: JSONValue?
        defer { callRegistry.finish(session: session.id, requestID: requestID, callKey: callKey, result: resultFrame) }

        // Gates, without waiting: global, then the provider's, then the session's.
        let retryAfter: [(String, JSONValue)] = [("retry_after", .number(Double(configuration.retryAfterSeconds)))]
        guard globalGate.tryAcquire() else {
            return await fail("OVER_CAPACITY", "Global concurrency limit reached; retry soon", extra: retryAfter)
        }
        defer { globalGate.release() }
        await send([("op", "progress"), ("request_id", .string(requestID)), ("name", .string(name)), ("t", epochSeconds()),
                    ("note", "accepted, awaiting provider/session capacity")])
        let providerGate = provider.flatMap { providerGates[$0] }
        if let providerGate, !providerGate.tryAcquire() {
            return await fail("OVER_CAPACITY", "\(providerGate.name) concurrency limit reached; retry soon", extra: retryAfter)
        }
        defer { providerGate?.release() }
        guard session.gate.tryAcquire() else {
            return await fail("OVER_CAPACITY", "Session concurrency limit reached; retry soon", extra: retryAfter)
        }
        defer { session.gate.release() }

        let timeout = configuration.callTimeout
        let timeoutSeconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        await send([("op", "call_tool_ack"), ("request_id", .string(requestID)), ("accepted", true),
                    ("timeout", .number(timeoutSeconds)), ("name", .string(name))])
        let deadline = ContinuousClock.now + timeout
        let context = ToolContext(sessionID: session.id, requestID: requestID, callKey: callKey, deadline: deadline) { text in
            await writer.send([("op", "progress"), ("request_id", .string(requestID)), ("name", .string(name)),
                               ("message", .string(text)), ("level", "info"), ("t", epochSeconds())], correlationID: correlationID)
            await writer.send([("op", "progress"), ("request_id", .string(requestID)), ("name", .string(name)), ("t", epochSeconds())],
                              correlationID: correlationID)
        }
        let heartbeat = configuration.progressInterval
        let outcome = await withTaskGroup(of: RunOutcome?.self) { group -> RunOutcome in
            group.addTask {
                do {
                    return .outputs(try await tool.run(arguments: arguments, context: context))
                } catch is CancellationError {
                    return .cancelled
                } catch {
                    return .failed(SecretRedactor.redact(String(describing: error)))
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
                    await writer.send([("op", "progress"), ("request_id", .string(requestID)), ("name", .string(name)), ("t", epochSeconds())],
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
            return result
        }
        switch outcome {
        case .outputs(let outputs):
            var frame: [(String, JSONValue)] = [("op", "call_tool_res"), ("request_id", .string(requestID)),
                                                ("outputs", .array(outputs.isEmpty ? [.object([("type", "text"), ("text", "")])] : outputs))]
            if configuration.compatText {
                let text = outputs.compactMap { $0["text"]?.stringValue }.joined(separator: "\n\n")
                frame.append(("text", .string(text)))
            }
            resultFrame = .object(frame)
            await send(frame)
            return .success
        case .failed(let text):
            let outcome = await fail("EXEC_ERROR", text)
            resultFrame = nil
            return outcome
        case .timedOut:
            let seconds = timeoutSeconds == timeoutSeconds.rounded() ? String(Int(timeoutSeconds)) : String(timeoutSeconds)
            return await fail("TIMEOUT", "call_tool exceeded \(seconds)s")
        case .cancelled:
            return MessageOutcome(status: "cancelled")
        }
    }
}
