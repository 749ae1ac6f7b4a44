// trace-context-service --host H --port P: the service under test for the W3C trace-context
// harness (python3 test/test.py http://H:P/test in a clone of w3c/trace-context). See README.

import Foundation
import Logging
import TraceContextService
import Traceline

var host = "127.0.0.1", port = 8080
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let flag = arguments.next() {
    switch flag {
    case "--host": host = arguments.next() ?? host
    case "--port": port = Int(arguments.next() ?? "") ?? port
    case "--help", "-h":
        print("usage: trace-context-service [--host 127.0.0.1] [--port 8080]   (test endpoint: POST /test)")
        exit(0)
    default:
        FileHandle.standardError.write(Data("unknown option \(flag)\n".utf8))
        exit(2)
    }
}
var configuration = TracelineConfiguration.fromEnvironment()
if ProcessInfo.processInfo.environment["OTEL_SERVICE_NAME"] == nil {
    configuration.resource.attributes.set("service.name", value: "trace-context-service")
}
// The harness checks headers only; spans go wherever OTEL_* says (nowhere by default).
let provider = Traceline.makeProvider(configuration: configuration)
let listenHost = host
let service = TraceContextService(host: listenHost, port: port, tracer: provider.tracer())
try await service.run { port in print("trace-context-service listening on http://\(listenHost):\(port)/test") }
