import CHiredis
import Foundation
import NIOConcurrencyHelpers
import NIOPosix

/// Redis through hiredis (Debian's libhiredis-dev). hiredis's synchronous API blocks, so every
/// command runs on a small `NIOThreadPool` of its own, each thread using a pooled connection;
/// neither an event loop nor the concurrency pool ever waits on the network. Connect and command
/// timeouts bound every call; a broken connection is dropped and the next call reconnects.
///
/// Why not a Swift Redis client: none is in the project's package mirror, and the issue names
/// hiredis; RESP is not rewritten here.
public final class RedisStorage: StorageBackend {
    public struct Configuration: Sendable, Equatable {
        public var host = "127.0.0.1"
        public var port = 6379
        public var username: String?
        public var password: String?
        public var database = 0
        public var connectTimeout: Duration = .seconds(1)
        public var commandTimeout: Duration = .seconds(2)
        public var poolSize = 4

        public init() {}

        /// `redis://[[user]:password@]host[:port][/db]`. TLS (`rediss://`) is not supported by the
        /// hiredis version in Debian 12 and is refused with a clear error.
        public static func parse(_ url: String) throws -> Configuration {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
                throw StorageError.invalidConfiguration("REDIS_URL is not a URL")
            }
            guard scheme == "redis" else {
                throw StorageError.invalidConfiguration(
                    scheme == "rediss"
                        ? "rediss:// (TLS) is not supported; use a local TLS proxy or redis://"
                        : "REDIS_URL must start with redis://")
            }
            var configuration = Configuration()
            if let host = components.host, !host.isEmpty { configuration.host = host }
            if let port = components.port { configuration.port = port }
            if let user = components.user, !user.isEmpty {
                configuration.username = user.removingPercentEncoding ?? user
            }
            if let password = components.password {
                configuration.password = password.removingPercentEncoding ?? password
            }
            let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            if !path.isEmpty {
                guard let database = Int(path), database >= 0 else {
                    throw StorageError.invalidConfiguration("the database index in REDIS_URL must be a number")
                }
                configuration.database = database
            }
            return configuration
        }
    }

    public let kind = "redis"
    public let configuration: Configuration
    public var spanTarget: StorageSpanTarget {
        StorageSpanTarget(
            system: "redis", namespace: String(configuration.database), address: configuration.host,
            port: configuration.port, isRemote: true)
    }

    private let threads: NIOThreadPool
    private let idle = NIOLockedValueBox<[RedisConnection]>([])

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.threads = NIOThreadPool(numberOfThreads: max(1, configuration.poolSize))
        threads.start()
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        switch try await command(["GET", key].map { Array($0.utf8) }) {
        case .bytes(let value): return value
        case .null: return nil
        default: throw StorageError.server(backend: kind, message: "unexpected reply to GET")
        }
    }

    public func set(_ key: String, _ value: [UInt8], ttl: Duration) async throws {
        let exact = ttl / .milliseconds(1)
        let milliseconds = exact >= Double(Int.max) ? Int.max : max(1, Int(exact.rounded(.down)))
        _ = try await command([
            Array("SET".utf8), Array(key.utf8), value, Array("PX".utf8), Array(String(milliseconds).utf8),
        ])
    }

    @discardableResult
    public func delete(_ key: String) async throws -> Bool {
        if case .integer(let count) = try await command([Array("DEL".utf8), Array(key.utf8)]) { return count > 0 }
        return false
    }

    public func ping() async throws {
        _ = try await command([Array("PING".utf8)])
    }

    public func shutdown() async {
        try? await threads.shutdownGracefully()
        for connection in idle.withLockedValue({ connections in
            defer { connections = [] }; return connections
        }) { connection.close() }
    }

    /// Runs one command on a pool thread with a pooled (or new) connection.
    func command(_ arguments: [[UInt8]]) async throws -> RedisReply {
        let configuration = self.configuration
        let idle = self.idle
        do {
            return try await threads.runIfActive {
                let connection =
                    try idle.withLockedValue { $0.popLast() } ?? RedisConnection(configuration: configuration)
                do {
                    let reply = try connection.run(arguments)
                    idle.withLockedValue { $0.append(connection) }
                    return reply
                } catch let error as StorageError {
                    // A server error leaves the connection usable; anything else drops it.
                    if case .server = error {
                        idle.withLockedValue { $0.append(connection) }
                    } else {
                        connection.close()
                    }
                    throw error
                }
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError.unavailable(backend: "redis", reason: "client shut down")
        }
    }
}

enum RedisReply: Equatable {
    case bytes([UInt8])
    case status(String)
    case integer(Int)
    case array([RedisReply])
    case null
}

/// One hiredis connection; used by one thread at a time.
final class RedisConnection: @unchecked Sendable {
    private var context: UnsafeMutablePointer<redisContext>?

    init(configuration: RedisStorage.Configuration) throws {
        var timeout = Self.timeval(configuration.connectTimeout)
        guard let context = redisConnectWithTimeout(configuration.host, Int32(configuration.port), timeout) else {
            throw StorageError.unavailable(backend: "redis", reason: "out of memory")
        }
        self.context = context
        if context.pointee.err != 0 {
            let reason = Self.errorText(context)
            close()
            throw StorageError.unavailable(backend: "redis", reason: reason)
        }
        timeout = Self.timeval(configuration.commandTimeout)
        redisSetTimeout(context, timeout)
        if let password = configuration.password {
            let arguments =
                [Array("AUTH".utf8)] + (configuration.username.map { [Array($0.utf8)] } ?? []) + [Array(password.utf8)]
            do { _ = try run(arguments) } catch {
                close()
                // Never echo the password: the server's message is enough.
                throw error
            }
        }
        if configuration.database != 0 {
            do { _ = try run([Array("SELECT".utf8), Array(String(configuration.database).utf8)]) } catch {
                close()
                throw error
            }
        }
    }

    deinit { close() }

    func close() {
        if let context { redisFree(context) }
        context = nil
    }

    func run(_ arguments: [[UInt8]]) throws -> RedisReply {
        guard let context else { throw StorageError.unavailable(backend: "redis", reason: "connection closed") }
        let lengths = arguments.map(\.count)
        let buffers = arguments.map { bytes -> UnsafeMutablePointer<CChar> in
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, bytes.count))
            bytes.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) { chars in
                    if let base = chars.baseAddress { buffer.initialize(from: base, count: bytes.count) }
                }
            }
            return buffer
        }
        defer { buffers.forEach { $0.deallocate() } }
        var pointers: [UnsafePointer<CChar>?] = buffers.map { UnsafePointer($0) }
        let raw = pointers.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeBufferPointer { argvlen in
                redisCommandArgv(context, Int32(arguments.count), argv.baseAddress, argvlen.baseAddress)
            }
        }
        guard let raw else {
            let reason = Self.errorText(context)
            let timedOut = context.pointee.err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)
            close()
            throw timedOut
                ? StorageError.timeout(backend: "redis") : StorageError.unavailable(backend: "redis", reason: reason)
        }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        return try Self.convert(reply)
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) throws -> RedisReply {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            return .bytes(value.str.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(value.len))) } ?? [])
        case REDIS_REPLY_STATUS:
            return .status(value.str.map { String(cString: $0) } ?? "")
        case REDIS_REPLY_INTEGER:
            return .integer(Int(value.integer))
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            for index in 0..<Int(value.elements) {
                if let element = value.element[index] { items.append(try convert(element)) }
            }
            return .array(items)
        case REDIS_REPLY_ERROR:
            let message = value.str.map { String(cString: $0) } ?? "error"
            throw StorageError.server(backend: "redis", message: String(message.prefix(200)))
        default:
            throw StorageError.server(backend: "redis", message: "unknown reply type \(value.type)")
        }
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func timeval(_ duration: Duration) -> Glibc.timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
