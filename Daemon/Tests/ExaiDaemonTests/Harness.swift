import ExaiDaemon
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOConcurrencyHelpers
import ProviderSim
import ServiceLifecycle
import Testing
import Traceline
import TracelineTestSupport
import Tracing

/// Log records kept in memory, with their metadata (the provider's included).
final class LogCapture: Sendable {
    struct Record: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
        var line: String {
            "\(level) \(message) \(metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
        }
    }

    private let storage = NIOLockedValueBox<[Record]>([])
    var records: [Record] { storage.withLockedValue { $0 } }
    func append(_ record: Record) { storage.withLockedValue { $0.append(record) } }

    func logger(_ label: String) -> Logger {
        Logger(label: label, factory: { _ in Handler(capture: self) })
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        var metadataProvider: Logger.MetadataProvider? = .traceline

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadataProvider?.get() ?? [:]
            merged.merge(metadata) { $1 }
            merged.merge(event.metadata ?? [:]) { $1 }
            capture.append(
                Record(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
        }
    }
}

/// A daemon on an ephemeral port, a provider simulator behind it, and an in-memory span pipeline.
final class DaemonHarness: Sendable {
    let simulator: ProviderSimulator
    let exporter: InMemorySpanExporter
    let provider: TracerProvider
    let spanMetrics: SpanMetricsProcessor
    let views: SpanViewsProcessor
    let logs = LogCapture()
    let daemon: ExaiDaemon
    let group: ServiceGroup
    let port: Int
    private let tasks: [Task<Void, any Error>]

    static let kimiKey = "sk-kimi-FAKE0123456789abcdefSECRET"
    static let glmKey = "glm-FAKE-9876543210.zyxwvSECRET"

    init(
        simulator configureSimulator: ProviderSimulator.Configuration = .init(),
        exporter spanExporter: (any SpanExporter)? = nil,
        sampler: any Sampler = ParentBasedSampler(root: AlwaysOnSampler()),
        _ configure: (inout DaemonConfiguration) -> Void = { _ in }
    ) async throws {
        simulator = ProviderSimulator(
            configuration: configureSimulator, logger: Logger(label: "sim", factory: { _ in SwiftLogNoOpLogHandler() }))
        let simulatorTask = Task { [simulator] in try await simulator.run() }
        let simulatorPort = try #require(await simulator.listeningPort())
        exporter = InMemorySpanExporter()
        spanMetrics = SpanMetricsProcessor()
        views = SpanViewsProcessor(views: ExaiDaemon.metricViews)
        var processors: [any SpanProcessor] = [spanMetrics, views, SpanProcessors.simple(exporter: exporter)]
        if let spanExporter {
            processors.append(
                SpanProcessors.batch(exporter: spanExporter, configuration: .init(scheduleDelay: .milliseconds(100))))
        }
        provider = TracerProvider(
            resource: Resource(attributes: ["service.name": "exai-daemon-test"]), sampler: sampler,
            processors: processors)
        var configuration = DaemonConfiguration()
        configuration.port = 0
        configuration.metricsPort = 0
        configuration.syntheticInterval = .zero
        configuration.shutdownGrace = .seconds(5)
        configuration.kimi.baseURL = "http://127.0.0.1:\(simulatorPort)/v1"
        configuration.kimi.apiKey = Self.kimiKey
        configuration.glm.baseURL = "http://127.0.0.1:\(simulatorPort)/api/paas/v4"
        configuration.glm.apiKey = Self.glmKey
        for kind in [\DaemonConfiguration.kimi, \DaemonConfiguration.glm] {
            configuration[keyPath: kind].retryBackoff = [.milliseconds(20), .milliseconds(20)]
        }
        configure(&configuration)
        let registry = MetricsRegistry([spanMetrics, views])
        daemon = ExaiDaemon(
            configuration: configuration, tracer: provider.tracer(), registry: registry, spanMetrics: spanMetrics,
            tracerProvider: provider, logger: logs.logger("exai-daemon"))
        group = ServiceGroup(
            configuration: .init(
                services: [.init(service: daemon)], gracefulShutdownSignals: [],
                logger: Logger(label: "group", factory: { _ in SwiftLogNoOpLogHandler() })))
        let daemonTask = Task { [group] in try await group.run() }
        tasks = [simulatorTask, daemonTask]
        port = try #require(await daemon.listeningPort())
    }

    var url: String { "ws://127.0.0.1:\(port)/" }

    /// Graceful shutdown of the daemon, then the simulator.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await tasks[1].result
        tasks[0].cancel()
        _ = await tasks[0].result
    }

    func connect(headers: [String: String] = [:]) async throws -> TestClient {
        try await TestClient.connect(url: url, headers: headers)
    }

    /// A connected client past a successful hello.
    func session(token: String = "", headers: [String: String] = [:]) async throws -> TestClient {
        let client = try await connect(headers: headers)
        client.send(#"{"op":"hello","token":"\#(token)"}"#)
        let ack = try await client.receive()
        #expect(ack["ok"]?.boolValue == true, "hello refused: \(ack.serialized)")
        return client
    }
}

/// An imperative WebSocket client over hummingbird-websocket's `WebSocketClient`.
/// Used by one test at a time; the iterator box makes the compiler accept `receive` from async code.
final class TestClient: @unchecked Sendable {
    private enum Outgoing: Sendable { case text(String), binary([UInt8]), close }

    private let incoming: AsyncStream<String>
    private let incomingContinuation: AsyncStream<String>.Continuation
    private let outgoing: AsyncStream<Outgoing>.Continuation
    private let connection: Task<WebSocketCloseFrame?, any Error>
    private var iteratorStorage: AsyncStream<String>.Iterator

    private init(url: String, headers: [String: String]) {
        let (incoming, incomingContinuation) = AsyncStream.makeStream(of: String.self)
        let (outgoingStream, outgoing) = AsyncStream.makeStream(of: Outgoing.self)
        self.incoming = incoming
        self.incomingContinuation = incomingContinuation
        self.outgoing = outgoing
        self.iteratorStorage = incoming.makeAsyncIterator()
        var configuration = WebSocketClientConfiguration()
        configuration.maxFrameSize = 1 << 24
        for (name, value) in headers { configuration.additionalHeaders[HTTPField.Name(name)!] = value }
        connection = Task {
            defer { incomingContinuation.finish() }
            return try await WebSocketClient.connect(
                url: url, configuration: configuration,
                logger: Logger(label: "test-client", factory: { _ in SwiftLogNoOpLogHandler() })
            ) { inbound, outbound, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await message in inbound.messages(maxSize: 1 << 24) {
                            if case .text(let text) = message { incomingContinuation.yield(text) }
                        }
                    }
                    group.addTask {
                        for await frame in outgoingStream {
                            switch frame {
                            case .text(let text): try await outbound.write(.text(text))
                            case .binary(let bytes): try await outbound.write(.binary(.init(bytes: bytes)))
                            case .close:
                                try await outbound.close(.normalClosure, reason: nil)
                                return
                            }
                        }
                    }
                    try await group.next()
                    group.cancelAll()
                }
            }
        }
    }

    static func connect(url: String, headers: [String: String] = [:]) async throws -> TestClient {
        TestClient(url: url, headers: headers)
    }

    func send(_ text: String) { outgoing.yield(.text(text)) }
    func send(_ json: JSONValue) { outgoing.yield(.text(json.serialized)) }
    func sendBinary(_ bytes: [UInt8]) { outgoing.yield(.binary(bytes)) }

    /// The next frame, parsed; fails after `timeout`.
    func receive(timeout: Duration = .seconds(10)) async throws -> JSONValue {
        let marker = "__timeout__" + UUID().uuidString
        let timer = Task { [incomingContinuation] in
            try await Task.sleep(for: timeout)
            incomingContinuation.yield(marker)
        }
        defer { timer.cancel() }
        while true {
            let next = await iteratorStorage.next()
            guard let text = next else { throw ClientError(description: "connection closed") }
            if text.hasPrefix("__timeout__") {
                if text == marker { throw ClientError(description: "no frame within \(timeout)") }
                continue
            }
            guard let json = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
                throw ClientError(description: "not JSON: \(text)")
            }
            return json
        }
    }

    /// Frames until (and including) the first for which `last` is true.
    func receive(until last: (JSONValue) -> Bool, timeout: Duration = .seconds(10)) async throws -> [JSONValue] {
        var frames: [JSONValue] = []
        while true {
            let frame = try await receive(timeout: timeout)
            frames.append(frame)
            if last(frame) { return frames }
        }
    }

    /// All frames of one call, up to its `call_tool_res`.
    func call(
        _ requestID: String, _ name: String, _ arguments: String = "{}", meta: String? = nil
    ) async throws -> [JSONValue] {
        send(
            #"{"op":"call_tool","request_id":"\#(requestID)","name":"\#(name)","arguments":\#(arguments)\#(meta.map { ",\"_meta\":\($0)" } ?? "")}"#
        )
        return try await receive(until: {
            $0["op"]?.stringValue == "call_tool_res" && $0["request_id"]?.stringValue == requestID
        })
    }

    func close() { outgoing.yield(.close) }

    /// How the server closed the connection (waits for it).
    func closeFrame() async throws -> WebSocketCloseFrame? {
        try await connection.value
    }
}

struct ClientError: Error, CustomStringConvertible {
    let description: String
}

extension JSONValue {
    var op: String? { self["op"]?.stringValue }
}

/// The local PostgreSQL the test command starts (Scripts/start-postgres.sh).
enum TestPostgres {
    static var adminURL: String? { ProcessInfo.processInfo.environment["TRACELINE_TEST_POSTGRES_URL"] }

    /// A new empty database for one test; its URL (through `port` when given, e.g. a proxy's).
    static func makeDatabase(port: Int? = nil) async throws -> String {
        guard let admin = adminURL, var components = URLComponents(string: admin) else {
            throw ClientError(
                description:
                    "TRACELINE_TEST_POSTGRES_URL is not set or not a URL: run the tests with Scripts/test.sh (it starts PostgreSQL)"
            )
        }
        let name = "exai_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        try await psql(admin, "CREATE DATABASE \(name)")
        components.path = "/\(name)"
        if let port { components.port = port }
        return components.string! + "?sslmode=disable"
    }

    static var upstreamPort: Int { URLComponents(string: adminURL ?? "")?.port ?? 5432 }

    /// Runs one statement with psql (the client Debian's postgresql package installs).
    @discardableResult
    static func psql(_ url: String, _ statement: String) async throws -> String {
        try await offThreadThrowing {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            process.arguments = [url.replacingOccurrences(of: "?sslmode=disable", with: ""), "-Atqc", statement]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw ClientError(description: "psql failed: \(statement)") }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
