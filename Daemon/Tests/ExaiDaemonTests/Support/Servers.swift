import Foundation
import TracelineTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A real redis-server (Debian's `redis-server`) on 127.0.0.1, owned by the test: it can be
/// stopped, restarted on the same port, and paused (SIGSTOP) like a hung server.
public final class RedisServerProcess: @unchecked Sendable {
    public private(set) var port = 0
    public let password: String?
    private var pid: pid_t = 0
    private let lock = NSLock()

    /// Starts a server on a free port; if it does not come up (another process took the port
    /// between our check and its bind), tries another port, three times in all.
    public init(password: String? = nil) throws {
        self.password = password
        var lastError: (any Error)?
        for _ in 0..<3 {
            port = freePort()
            do {
                try start()
                return
            } catch {
                lastError = error
                stop()
            }
        }
        throw lastError ?? ReceiverError(description: "redis-server did not start")
    }

    deinit { stop() }

    /// Starts a server without holding a concurrency thread while it comes up.
    public static func launch(password: String? = nil) async throws -> RedisServerProcess {
        try await offThreadThrowing { try RedisServerProcess(password: password) }
    }

    /// Starts the server again on the same port (after ``stop()``), off the concurrency pool.
    public func restart() async throws {
        try await offThreadThrowing { try self.start() }
    }

    public var url: String { "redis://\(password.map { ":\($0)@" } ?? "")127.0.0.1:\(port)" }

    public func start() throws {
        var arguments = [
            "redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--loglevel", "warning",
        ]
        if let password { arguments += ["--requirepass", password] }
        var child: pid_t = 0
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        posix_spawn_file_actions_addopen(&fileActions, 1, "/dev/null", O_WRONLY, 0)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        let cArguments = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        let status = posix_spawnp(&child, "redis-server", &fileActions, nil, cArguments, environ)
        guard status == 0 else {
            throw ReceiverError(description: "redis-server did not start (install redis-server): \(status)")
        }
        lock.withLock { pid = child }
        // Ready when it accepts connections; a server that exited (port taken) fails at once.
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if Self.canConnect(port: port) { return }
            var status: Int32 = 0
            if waitpid(child, &status, WNOHANG) == child {
                lock.withLock { pid = 0 }
                throw ReceiverError(description: "redis-server exited at start on port \(port) (status \(status))")
            }
            usleep(20_000)
        }
        throw ReceiverError(description: "redis-server did not listen on \(port) within 5 s")
    }

    /// Kills the server (SIGKILL) and reaps it.
    public func stop() {
        let child = lock.withLock { () -> pid_t in
            defer { pid = 0 }; return pid
        }
        guard child > 0 else { return }
        kill(child, SIGCONT)
        kill(child, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(child, &status, 0)
    }

    /// SIGSTOP: connections stay open, nothing answers.
    public func pause() { lock.withLock { if pid > 0 { kill(pid, SIGSTOP) } } }
    public func resume() { lock.withLock { if pid > 0 { kill(pid, SIGCONT) } } }

    static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        } == 0
    }
}

/// A TCP proxy on 127.0.0.1 in front of a real server, to take the server away from a client
/// without touching it (or other tests using it): `stop()` closes the listener and every
/// connection (the client sees resets and refusals); `start()` listens again on the same port.
public final class TCPProxy: @unchecked Sendable {
    public let port: Int
    private let upstreamPort: Int
    private let lock = NSLock()
    private var listener: Int32 = -1
    private var sockets: Set<Int32> = []

    public init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        self.port = freePort()
        try start()
    }

    deinit { stop() }

    public func start() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw ReceiverError(description: "proxy could not listen on \(port)")
        }
        lock.withLock { listener = fd }
        let thread = Thread { [weak self] in self?.acceptLoop(fd) }
        thread.start()
    }

    public func stop() {
        let (fd, open) = lock.withLock { () -> (Int32, Set<Int32>) in
            defer { listener = -1; sockets = [] }
            return (listener, sockets)
        }
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
        for socket in open { shutdown(socket, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop(_ fd: Int32) {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { return }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(upstreamPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else { close(client); close(upstream); continue }
            let accepted = lock.withLock { () -> Bool in
                guard listener == fd else { return false }
                sockets.insert(client)
                sockets.insert(upstream)
                return true
            }
            guard accepted else { close(client); close(upstream); return }
            let pumps = PumpCount()
            for (from, to) in [(client, upstream), (upstream, client)] {
                Thread { [weak self] in
                    var buffer = [UInt8](repeating: 0, count: 16384)
                    pump: while true {
                        let count = read(from, &buffer, buffer.count)
                        if count <= 0 { break }
                        var offset = 0
                        while offset < count {
                            let written = buffer[offset..<count].withUnsafeBytes {
                                write(to, $0.baseAddress, count - offset)
                            }
                            if written <= 0 { break pump }
                            offset += written
                        }
                    }
                    shutdown(from, Int32(SHUT_RDWR))
                    shutdown(to, Int32(SHUT_RDWR))
                    // The second pump to finish closes both sockets.
                    let last = pumps.finish()
                    if last {
                        self?.forget([client, upstream])
                        close(client)
                        close(upstream)
                    }
                }.start()
            }
        }
    }

    private func forget(_ fds: [Int32]) {
        lock.withLock { for fd in fds { sockets.remove(fd) } }
    }

    private static func loopback(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return address
    }
}

/// Counts the finished pumps of one proxied connection.
private final class PumpCount: @unchecked Sendable {
    private let lock = NSLock()
    private var done = 0
    /// True for the second pump to finish.
    func finish() -> Bool {
        lock.withLock {
            done += 1; return done == 2
        }
    }
}

/// An independent stand-in for the Moonshot Kimi and Zhipu GLM chat-completions APIs
/// (Tests/standin/openai_standin.py: aiohttp with its default header limits, so a header field
/// over 8190 bytes is refused with 400 before the handler sees it, as a real gateway refuses it).
/// It accepts `POST <any prefix>/chat/completions` with `Authorization: Bearer <apiKey>` and records
/// every request that reaches its handler; a request aiohttp itself refuses is not recorded.
public final class ProviderStandIn: @unchecked Sendable {
    /// One request the stand-in's handler saw, in arrival order.
    public struct RecordedRequest: Sendable {
        public let method: String
        public let path: String
        /// Header name (as the client spelled it) to value; repeated headers joined with ", ".
        public let headers: [String: String]
        /// Bytes of all header lines as sent ("name: value\r\n" each), request line excluded.
        public let headerBytes: Int
        /// Body bytes; nil when the body was over the stand-in's 4 MiB limit (status 413).
        public let bodyBytes: Int?
        /// The status the stand-in answered with.
        public let status: Int

        /// A header's value, the name matched without regard to case.
        public func header(_ name: String) -> String? {
            headers.first { $0.key.lowercased() == name.lowercased() }?.value
        }
    }

    /// Starts a stand-in without blocking a concurrency thread while Python starts.
    public static func start(
        apiKey: String, models: [String]? = nil, arguments: [String] = []
    ) async throws -> ProviderStandIn {
        try await offThreadThrowing { try ProviderStandIn(apiKey: apiKey, models: models, arguments: arguments) }
    }

    /// How one streamed answer ended, as the stand-in saw it.
    public struct StreamOutcome: Sendable {
        /// Deltas with text written before the end.
        public let sent: Int
        /// `complete`, `client_closed` or `failed`.
        public let outcome: String
        /// When it ended (Unix time, seconds).
        public let endedAt: Double
    }

    public let port: Int
    public let apiKey: String
    private let process: Process
    private let recordPath: String
    private let streamsPath: String
    private let lock = NSLock()
    private var stopped = false

    /// Starts `openai_standin.py` on a free port of 127.0.0.1 with the test venv's Python
    /// (aiohttp installed by Scripts/test.sh); `models` replaces its default list of model ids.
    /// `arguments` are passed on (the stream-shaping flags, e.g. `--stream-delay-ms 50`).
    public init(apiKey: String, models: [String]? = nil, arguments: [String] = []) throws {
        let record = NSTemporaryDirectory() + "provider-standin-\(UUID().uuidString).jsonl"
        let streams = record + ".streams"
        let child = Process()
        child.executableURL = URL(fileURLWithPath: TestEnvironment.python)
        child.arguments =
            [
                TestEnvironment.root.appendingPathComponent("Daemon/Tests/standin/openai_standin.py").path,
                "--api-key", apiKey, "--host", "127.0.0.1", "--port", "0", "--record", record,
                "--record-streams", streams,
            ] + arguments
            + (models.map { ["--models", $0.joined(separator: ",")] } ?? [])
        let output = Pipe()
        child.standardOutput = output
        try child.run()
        // A stand-in that failed to announce its port is killed and reaped before the error.
        func fail(_ description: String) -> ReceiverError {
            kill(child.processIdentifier, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(child.processIdentifier, &status, 0)
            return ReceiverError(description: description)
        }
        var line = Data()
        let handle = output.fileHandleForReading
        while !line.contains(0x0A) {
            let chunk = handle.availableData
            if chunk.isEmpty {
                throw fail(
                    "provider stand-in exited before announcing its port (is aiohttp in \(TestEnvironment.python)?)")
            }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("LISTENING "), let port = Int(text.dropFirst("LISTENING ".count)) else {
            throw fail("unexpected provider stand-in output: \(text)")
        }
        self.port = port
        self.apiKey = apiKey
        self.process = child
        self.recordPath = record
        self.streamsPath = streams
    }

    deinit { stop() }

    /// A Kimi-style base URL (`{base}/chat/completions` is served).
    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }
    /// A GLM-style base URL (`{base}/chat/completions` is served).
    public var glmBaseURL: String { "http://127.0.0.1:\(port)/api/paas/v4" }

    /// Kills the stand-in and reaps it directly, as ``OTLPReceiver/stop()`` does (Foundation's
    /// `waitUntilExit` spins a run loop, which can wait forever on a Swift Testing thread).
    public func stop() {
        let pid = process.processIdentifier
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }; return !stopped
        }
        guard pid > 0, first else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }

    /// Every request the handler saw so far, most recent last (each is written before its
    /// response is sent, so a request that got its answer is already here).
    public func requests() throws -> [RecordedRequest] {
        let text = (try? String(contentsOfFile: recordPath, encoding: .utf8)) ?? ""
        // Only whole lines: a record being written while this reads is left for the next call.
        return try text.split(separator: "\n", omittingEmptySubsequences: true).dropLast(text.hasSuffix("\n") ? 0 : 1)
            .map { line in
                guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    let method = object["method"] as? String, let path = object["path"] as? String,
                    let headers = object["headers"] as? [String: String],
                    let headerBytes = object["header_bytes"] as? Int,
                    let status = object["status"] as? Int
                else { throw ReceiverError(description: "bad provider stand-in record: \(line)") }
                return RecordedRequest(
                    method: method, path: path, headers: headers, headerBytes: headerBytes,
                    bodyBytes: object["body_bytes"] as? Int, status: status)
            }
    }

    /// Every streamed answer that has ended, in order.
    public func streamOutcomes() throws -> [StreamOutcome] {
        let text = (try? String(contentsOfFile: streamsPath, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").dropLast(text.hasSuffix("\n") ? 0 : 1).map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let sent = object["sent"] as? Int, let outcome = object["outcome"] as? String,
                let endedAt = object["ended_at"] as? Double
            else { throw ReceiverError(description: "bad provider stand-in stream record: \(line)") }
            return StreamOutcome(sent: sent, outcome: outcome, endedAt: endedAt)
        }
    }

    /// Forgets the requests recorded so far (empties the record file that ``requests()`` reads).
    public func clearRequests() throws {
        try Data().write(to: URL(fileURLWithPath: recordPath))
    }
}
