import Foundation
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
        var arguments = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"]
        if let password { arguments += ["--requirepass", password] }
        var child: pid_t = 0
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        posix_spawn_file_actions_addopen(&fileActions, 1, "/dev/null", O_WRONLY, 0)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        let cArguments = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        let status = posix_spawnp(&child, "redis-server", &fileActions, nil, cArguments, environ)
        guard status == 0 else { throw ReceiverError(description: "redis-server did not start (install redis-server): \(status)") }
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
        let child = lock.withLock { () -> pid_t in defer { pid = 0 }; return pid }
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
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
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
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
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
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
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
                            let written = buffer[offset..<count].withUnsafeBytes { write(to, $0.baseAddress, count - offset) }
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
    func finish() -> Bool { lock.withLock { done += 1; return done == 2 } }
}
