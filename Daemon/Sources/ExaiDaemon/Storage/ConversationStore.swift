import Foundation
import Logging
import NIOConcurrencyHelpers
import Traceline

/// One message of a conversation, as stored (roles, provider, model, token usage).
public struct ConversationTurn: Codable, Sendable, Equatable {
    public var role: String
    public var content: String
    public var timestamp: String
    public var provider: String?
    public var model: String?
    public var inputTokens: Int?
    public var outputTokens: Int?

    public init(
        role: String, content: String, timestamp: String = Date().formatted(.iso8601),
        provider: String? = nil, model: String? = nil, inputTokens: Int? = nil, outputTokens: Int? = nil
    ) {
        self.role = role
        self.content = content
        self.timestamp = timestamp
        self.provider = provider
        self.model = model
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
    }

    enum CodingKeys: String, CodingKey {
        case role, content, timestamp, provider, model
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
    }
}

/// A conversation thread, stored as JSON under `thread:<continuation_id>`.
public struct ConversationThread: Codable, Sendable, Equatable {
    public var threadID: String
    public var createdAt: String
    public var lastUpdatedAt: String
    public var toolName: String
    public var turns: [ConversationTurn]

    enum CodingKeys: String, CodingKey {
        case threadID = "thread_id"
        case createdAt = "created_at"
        case lastUpdatedAt = "last_updated_at"
        case toolName = "tool_name"
        case turns
    }
}

/// Why a conversation could not be continued; the text is what the client reads.
public enum ConversationError: Error, CustomStringConvertible, Equatable {
    case invalidID
    case notFound(String)
    case corrupt(String)
    case unavailable(String)

    public var description: String {
        switch self {
        case .invalidID: return "continuation_id must be 1 to 64 letters, digits, '-' or '_'"
        case .notFound(let id): return "unknown continuation_id \(id): the conversation expired or never existed"
        case .corrupt(let id):
            return "the stored conversation \(id) is corrupt and cannot be continued; start a new one"
        case .unavailable(let reason): return "conversation storage unavailable: \(reason)"
        }
    }
}

/// Conversation continuity: threads in the key/value store (TTL), persisted to Supabase when it is
/// configured; a store miss falls back to Supabase and re-caches.
///
/// The store keeps what a provider is sent: the newest `maxTurns` turns within `maxBytes`; older
/// turns are trimmed there (counted) and stay in Supabase. Writes to one thread are serialized in
/// this process and each appends to the stored thread as it is then, so two concurrent calls on
/// one conversation both keep their exchange.
public final class ConversationStore: Sendable {
    public let storage: InstrumentedStorage
    public let supabase: SupabasePersistence?
    public let ttl: Duration
    public let maxTurns: Int
    public let maxBytes: Int
    private let logger: Logger
    private let writers = KeyedSerialQueue()
    private let trimmed = NIOLockedValueBox(0)

    public init(
        storage: InstrumentedStorage, supabase: SupabasePersistence?, ttl: Duration,
        maxTurns: Int = 50, maxBytes: Int = 1024 * 1024, logger: Logger
    ) {
        self.storage = storage
        self.supabase = supabase
        self.ttl = ttl
        self.maxTurns = maxTurns
        self.maxBytes = maxBytes
        self.logger = logger
    }

    /// Turns trimmed from stored threads so far.
    public var trimmedTurns: Int { trimmed.withLockedValue { $0 } }

    static func key(_ id: String) -> String { "thread:\(id)" }

    static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64
            && id.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D
                    || $0 == 0x5F
            }
    }

    /// The thread for `id`: from the store, else from Supabase (then re-cached).
    public func load(_ id: String) async throws -> ConversationThread {
        guard Self.isValidID(id) else { throw ConversationError.invalidID }
        var storeError: (any Error)?
        do {
            if let bytes = try await storage.get(Self.key(id)) {
                guard let thread = try? JSONDecoder().decode(ConversationThread.self, from: Data(bytes)) else {
                    // Not overwritten: whoever wrote it may need it; the client is told to start anew.
                    logger.error(
                        "stored conversation is corrupt",
                        metadata: ["continuation_id": "\(id)", "bytes": "\(bytes.count)"])
                    throw ConversationError.corrupt(id)
                }
                return thread
            }
        } catch let error as ConversationError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            storeError = error
            logger.error("conversation store read failed; trying Supabase", metadata: ["error": "\(error)"])
        }
        if let supabase {
            let turns: [ConversationTurn]?
            do {
                turns = try await supabase.loadTurns(continuationID: id)
            } catch {
                logger.error("Supabase read failed", metadata: ["error": "\(error)"])
                throw ConversationError.unavailable(storeError.map { "\($0); \(error)" } ?? "\(error)")
            }
            if let turns {
                let now = Date().formatted(.iso8601)
                let thread = ConversationThread(
                    threadID: id, createdAt: turns.first?.timestamp ?? now, lastUpdatedAt: now, toolName: "chat",
                    turns: turns)
                if storeError == nil { try? await cache(thread) }
                return thread
            }
        }
        if let storeError { throw ConversationError.unavailable("\(storeError)") }
        throw ConversationError.notFound(id)
    }

    /// A new thread with a fresh continuation id.
    public func newThread(tool: String) -> ConversationThread {
        let now = Date().formatted(.iso8601)
        return ConversationThread(
            threadID: UUID().uuidString.lowercased(), createdAt: now, lastUpdatedAt: now, toolName: tool, turns: [])
    }

    /// Appends one exchange and saves it to the store and to Supabase. Failures are logged and
    /// returned (the reply still goes out: the exchange happened).
    public func append(
        _ newTurns: [ConversationTurn], to loaded: ConversationThread
    ) async -> (ConversationThread, [String]) {
        var problems: [String] = []
        let thread = await writers.run(loaded.threadID) { () -> ConversationThread in
            var thread = loaded
            // A continued thread may have grown since it was loaded (another call on it): append to what is stored now.
            if !loaded.turns.isEmpty, let bytes = try? await storage.get(Self.key(loaded.threadID)),
                let current = try? JSONDecoder().decode(ConversationThread.self, from: Data(bytes))
            {
                thread = current
            }
            thread.turns.append(contentsOf: newTurns)
            thread.lastUpdatedAt = Date().formatted(.iso8601)
            do { try await cache(trim(thread)) } catch {
                logger.error("conversation store write failed", metadata: ["error": "\(error)"])
                problems.append("store: \(error)")
            }
            return thread
        }
        if let supabase {
            do {
                try await supabase.persist(
                    continuationID: thread.threadID, title: thread.turns.first?.content ?? "", turns: newTurns)
            } catch {
                logger.error("Supabase write failed", metadata: ["error": "\(error)"])
                problems.append("supabase: \(error)")
            }
        }
        return (thread, problems)
    }

    /// The newest turns within `maxTurns` and `maxBytes` (content bytes plus a small per-turn cost).
    func trim(_ thread: ConversationThread) -> ConversationThread {
        var kept = 0
        var bytes = 0
        for turn in thread.turns.reversed() {
            let cost = turn.content.utf8.count + turn.role.utf8.count + 128
            if kept == maxTurns || (kept > 0 && bytes + cost > maxBytes) { break }
            bytes += cost
            kept += 1
        }
        let dropped = thread.turns.count - kept
        guard dropped > 0 else { return thread }
        trimmed.withLockedValue { $0 += dropped }
        var trimmedThread = thread
        trimmedThread.turns.removeFirst(dropped)
        return trimmedThread
    }

    private func cache(_ thread: ConversationThread) async throws {
        try await storage.set(Self.key(thread.threadID), Array(try JSONEncoder().encode(thread)), ttl: ttl)
    }
}
