// exai-client: talk to an exai-daemon from the command line.
//
//   exai-client [--url ws://127.0.0.1:8079/] [--token T] [--model glm-4.5-flash] [--continue ID]
//               [--correlation-id ID] [--list] [--verbose] [prompt…]
//
// Says hello, optionally lists the tools, sends the prompt to `chat`, and prints the reply and
// the trace ID (open it in Jaeger). With OTEL_EXPORTER_OTLP_ENDPOINT set, the client's own span is
// exported too, as the root of that trace.

import ExaiClient
import Foundation
import Traceline

var url =
    ProcessInfo.processInfo.environment["EXAI_URL"]
    ?? "ws://127.0.0.1:\(ProcessInfo.processInfo.environment["EXAI_WS_PORT"] ?? "8079")/"
var token = ProcessInfo.processInfo.environment["EXAI_WS_TOKEN"] ?? ""
var model: String?
var continuation: String?
var correlationID: String?
var list = false
var verbose = false
var words: [String] = []
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    func value() -> String {
        guard let value = arguments.next() else {
            FileHandle.standardError.write(Data("\(argument) needs a value\n".utf8)); exit(2)
        }
        return value
    }
    switch argument {
    case "--url": url = value()
    case "--token": token = value()
    case "--model": model = value()
    case "--continue": continuation = value()
    case "--correlation-id": correlationID = value()
    case "--list": list = true
    case "--verbose", "-v": verbose = true
    case "--help", "-h":
        print(
            "usage: exai-client [--url ws://127.0.0.1:8079/] [--token T] [--model M] [--continue ID] [--correlation-id ID] [--list] [--verbose] [prompt…]\n"
                + "exit status: 0 answered, 1 no session (connection refused, hello failed), 3 the call answered an error"
        )
        exit(0)
    default: words.append(argument)
    }
}
let prompt = words.isEmpty ? (list ? nil : "Hello from exai-client") : words.joined(separator: " ")

var tracing = TracelineConfiguration.fromEnvironment()
if ProcessInfo.processInfo.environment["OTEL_SERVICE_NAME"] == nil {
    tracing.resource.attributes.set("service.name", value: "exai-client")
}
let provider = Traceline.makeProvider(configuration: tracing)
let chatModel = model
let chatContinuation = continuation
let show = verbose
let listTools = list
let chatPrompt = prompt
// Exit status: 0 the call answered, 1 no session (connection, hello), 3 the call answered an error.
var callFailed = false
do {
    callFailed = try await ExaiClient.withSession(
        url: url, token: token, correlationID: correlationID, tracer: provider.tracer(),
        printFrame: { direction, text in if show { print("\(direction) \(text)") } }
    ) { client in
        if listTools {
            for tool in try await client.listTools() { print("\(tool.name): \(tool.description)") }
        }
        guard let prompt = chatPrompt else { return false }
        var arguments: [(String, JSONValue)] = [("prompt", .string(prompt))]
        if let chatModel { arguments.append(("model", .string(chatModel))) }
        if let chatContinuation { arguments.append(("continuation_id", .string(chatContinuation))) }
        let call = try await client.call("chat", arguments: .object(arguments))
        print(call.summary)
        if let id = call.continuationID { print("continuation_id: \(id)") }
        if let trace = call.traceID { print("trace: \(trace)  (Jaeger: http://localhost:16686/trace/\(trace))") }
        return call.result == nil || call.result?["error"] != nil
    }
} catch {
    FileHandle.standardError.write(Data("exai-client: \(error)\n".utf8))
    _ = await provider.shutdown(deadline: .now + .seconds(5))
    exit(1)
}
_ = await provider.shutdown(deadline: .now + .seconds(5))
if callFailed { exit(3) }
