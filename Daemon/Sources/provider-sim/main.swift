import Foundation
import Logging
import ProviderSim

// provider-sim --host H --port P [--latency-ms N] [--error-rate R] [--rate-limit-every N] [--retry-after S] [--api-key K]
//              [--stream-chunks N] [--stream-delay-ms N] [--stream-fail-after N]
var configuration = ProviderSimulator.Configuration()
var arguments = CommandLine.arguments.dropFirst().makeIterator()
func usage() -> Never {
    print(
        """
        provider-sim: a local OpenAI-compatible chat-completions server (Kimi and GLM paths).
        Usage: provider-sim [--host 127.0.0.1] [--port 8090] [--latency-ms 0] [--error-rate 0] [--rate-limit-every 0] [--retry-after 1] [--api-key KEY]
                            [--stream-chunks 8] [--stream-delay-ms 0] [--stream-fail-after N]
          A "stream": true request is answered with server-sent events in --stream-chunks chunks,
          --stream-delay-ms apart, usage in the last one; --stream-fail-after N breaks the stream off.
          POST /v1/chat/completions           (Kimi-style base URL http://H:P/v1)
          POST /api/paas/v4/chat/completions  (GLM-style base URL http://H:P/api/paas/v4)
          GET  /_sim/requests                 (the trace headers each request carried)
        """)
    exit(0)
}
configuration.port = 8090
while let flag = arguments.next() {
    func value() -> String {
        guard let value = arguments.next() else {
            FileHandle.standardError.write(Data("\(flag) needs a value\n".utf8)); exit(2)
        }
        return value
    }
    switch flag {
    case "--host": configuration.host = value()
    case "--port": configuration.port = Int(value()) ?? configuration.port
    case "--latency-ms": configuration.latency = .milliseconds(Int(value()) ?? 0)
    case "--error-rate": configuration.errorRate = Double(value()) ?? 0
    case "--rate-limit-every": configuration.rateLimitEvery = Int(value()) ?? 0
    case "--retry-after": configuration.retryAfterSeconds = Int(value()) ?? 1
    case "--api-key": configuration.apiKey = value()
    case "--stream-chunks": configuration.streamChunks = Int(value()) ?? configuration.streamChunks
    case "--stream-delay-ms": configuration.streamChunkDelay = .milliseconds(Int(value()) ?? 0)
    case "--stream-fail-after": configuration.streamFailAfterChunks = Int(value())
    case "--help", "-h": usage()
    default:
        FileHandle.standardError.write(Data("unknown option \(flag); see --help\n".utf8))
        exit(2)
    }
}
let simulator = ProviderSimulator(configuration: configuration)
Task {
    if let port = await simulator.listeningPort() { print("provider-sim listening on \(configuration.host):\(port)") }
}
try await simulator.run()
