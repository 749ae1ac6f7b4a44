import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// Helpers shared by the test targets: the repository's paths, a real OTLP receiver, and running
// blocking work off the concurrency pool.

/// Paths of the repository and of the test venv's Python (made by Scripts/test.sh).
public enum TestEnvironment {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    public static var python: String {
        ProcessInfo.processInfo.environment["TRACELINE_TEST_PYTHON"]
            ?? root.appendingPathComponent(".venv/bin/python").path
    }
    public static func script(_ name: String) -> String { root.appendingPathComponent("Tests/proto/\(name)").path }
}

public struct ReceiverError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// A real OTLP/HTTP receiver on 127.0.0.1 (Tests/proto/otlp_receiver.py), decoding with the
/// official opentelemetry-proto package and answering by a script.
public final class OTLPReceiver: @unchecked Sendable {
    /// Starts a receiver without blocking a concurrency thread while Python starts.
    public static func start(
        script: String = "200", port: Int = 0, tls: (certificate: String, key: String)? = nil
    ) async throws -> OTLPReceiver {
        try await offThreadThrowing { try OTLPReceiver(script: script, port: port, tls: tls) }
    }

    public let port: Int
    private let process: Process
    private let recordPath: String

    public init(script: String = "200", port requested: Int = 0, tls: (certificate: String, key: String)? = nil) throws
    {
        recordPath = NSTemporaryDirectory() + "otlp-receiver-\(UUID().uuidString).jsonl"
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.python)
        process.arguments =
            [
                TestEnvironment.script("otlp_receiver.py"), "--record", recordPath, "--script", script, "--port",
                String(requested),
            ]
            + (tls.map { ["--tls-cert", $0.certificate, "--tls-key", $0.key] } ?? [])
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var line = Data()
        let handle = output.fileHandleForReading
        while !line.contains(0x0A) {
            let chunk = handle.availableData
            if chunk.isEmpty { throw ReceiverError(description: "receiver exited before announcing its port") }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let portText = text.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines),
            let port = Int(portText)
        else {
            throw ReceiverError(description: "unexpected receiver output: \(text)")
        }
        self.port = port
    }

    deinit { stop() }

    public var endpoint: String { "http://127.0.0.1:\(port)/v1/traces" }
    public var tlsEndpoint: String { "https://127.0.0.1:\(port)/v1/traces" }

    /// Kills the receiver and reaps it directly: Foundation's `waitUntilExit` spins a run loop,
    /// which can wait forever on a Swift Testing thread.
    public func stop() {
        let pid = process.processIdentifier
        guard pid > 0, !stopped.exchange(true, ordering: .relaxed) else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }
    private let stopped = Atomic<Bool>(false)

    /// One record per request received.
    public func records() throws -> [[String: Any]] {
        let text = (try? String(contentsOfFile: recordPath, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw ReceiverError(description: "bad record line")
            }
            return object
        }
    }

    /// Span IDs in requests the receiver answered with 200-class actions.
    public func acceptedSpanIDs() throws -> [String] {
        try records().filter { record in
            let action = record["action"] as? String ?? ""
            return action == "200" || action.hasPrefix("partial") || action.hasPrefix("stall") || action == "garbage"
        }.flatMap { ($0["spans"] as? [[String: Any]] ?? []).compactMap { $0["span_id"] as? String } }
    }
}

/// Runs blocking work (an export that waits on the network) on its own OS thread, so tests never
/// block the cooperative pool that other tests' continuations need.
public func offThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.start()
    }
}

/// `offThread` for throwing work.
public func offThreadThrowing<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await offThread { Result { try body() } }.get()
}

/// A free TCP port on 127.0.0.1 (bound once, then released).
public func freePort() -> Int {
    let (descriptor, port) = boundSocket(listening: false)
    close(descriptor)
    return port
}

/// A TCP socket bound to a free port of 127.0.0.1 (and listening, when asked), so that the port is
/// busy until the caller closes the descriptor.
public func boundSocket(listening: Bool) -> (descriptor: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    if listening { _ = listen(fd, 1) }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// The path of an executable product built beside the running test bundle (SwiftPM puts the test
/// binary inside `<name>.xctest/`, the products next to it).
public func builtExecutable(_ name: String) throws -> String {
    let me = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var directory = URL(fileURLWithPath: me).deletingLastPathComponent()
    while directory.pathComponents.count > 1 {
        let candidate = directory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory.deleteLastPathComponent()
    }
    throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: name])
}
