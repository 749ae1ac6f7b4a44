import Foundation
import Traceline

/// What a running tool can see and do.
struct ToolContext: Sendable {
    let sessionID: String
    let requestID: String
    /// A short random ID for this call, sent as the provider request's `Idempotency-Key` (the same
    /// on every retry of this call); never derived from client text.
    let idempotencyKey: String
    let deadline: ContinuousClock.Instant
    /// Sends a `progress` frame with a message.
    let progress: @Sendable (String) async -> Void
    /// Passes answer text to the client as it is generated, when the client asked for a stream
    /// (`_meta.stream`); nil otherwise. Never waits on the client.
    var onText: (@Sendable (String) async -> Void)? = nil
}

/// A tool clients call with `call_tool`.
protocol DaemonTool: Sendable {
    var name: String { get }
    var description: String { get }
    var inputSchema: JSONValue { get }
    /// The provider whose gate the call takes, if any.
    func provider(for arguments: JSONValue) -> ProviderKind?
    /// The outputs (`[{"type":"text","text":…}]`); throws to answer EXEC_ERROR.
    func run(arguments: JSONValue, context: ToolContext) async throws -> [JSONValue]
}

/// A tool's failure that the client should read as is (no stack, no secrets).
struct ToolError: Error, CustomStringConvertible {
    let description: String
}

enum ToolNames {
    /// IDE suffixes the reference strips: `chat_EXAI-WS` is `chat`.
    static let suffixes = ["_EXAI-WS", "-EXAI-WS", "_EXAI_WS", "-EXAI_WS"]

    static func normalize(_ name: String) -> String {
        for suffix in suffixes where name.hasSuffix(suffix) { return String(name.dropLast(suffix.count)) }
        return name
    }
}

/// A tool's JSON `ToolOutput` as the reference wraps it in one text block.
func toolOutput(content: String, metadata: [(String, JSONValue)], continuation: String? = nil) -> [JSONValue] {
    var members: [(String, JSONValue)] = [
        ("status", "success"), ("content", .string(content)), ("content_type", "text"), ("metadata", .object(metadata)),
    ]
    if let continuation {
        members.append(("continuation_offer", .object([("continuation_id", .string(continuation))])))
    }
    let output = JSONValue.object(members)
    return [.object([("type", "text"), ("text", .string(output.serialized))])]
}

/// `chat`: one chat completion, routed by model (Kimi models to Kimi, GLM models to GLM).
struct ChatTool: DaemonTool {
    let providers: [ProviderKind: ChatProviderClient]
    let catalog: ModelCatalog
    let defaultModel: String
    let conversations: ConversationStore

    var name: String { "chat" }
    var description: String { "Chat with a Kimi (Moonshot) or GLM (Zhipu) model; the model picks the provider." }
    var inputSchema: JSONValue {
        .object([
            ("type", "object"),
            (
                "properties",
                .object([
                    ("prompt", .object([("type", "string"), ("description", "The user message.")])),
                    (
                        "model",
                        .object([("type", "string"), ("description", .string("Model name; default \(defaultModel)."))])
                    ),
                    ("system_prompt", .object([("type", "string")])),
                    ("temperature", .object([("type", "number"), ("minimum", 0), ("maximum", 1)])),
                    ("max_tokens", .object([("type", "integer"), ("minimum", 1)])),
                    (
                        "continuation_id",
                        .object([
                            ("type", "string"),
                            ("description", "Continue a conversation (the id a previous reply offered)."),
                        ])
                    ),
                ])
            ),
            ("required", .array(["prompt"])),
        ])
    }

    func model(for arguments: JSONValue) -> String {
        arguments["model"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? defaultModel
    }

    func provider(for arguments: JSONValue) -> ProviderKind? { catalog.lookUp(model(for: arguments))?.kind }

    func run(arguments: JSONValue, context: ToolContext) async throws -> [JSONValue] {
        guard let prompt = arguments["prompt"]?.stringValue ?? arguments["message"]?.stringValue, !prompt.isEmpty else {
            throw ToolError(description: "chat needs a non-empty string `prompt`")
        }
        let requested = model(for: arguments)
        // Refused before any span, log line or label sees it: the text is the client's, of any length.
        guard let (kind, model) = catalog.lookUp(requested) else {
            let shown =
                ModelName.isWellFormed(requested)
                ? "\"\(requested)\"" : "(\(requested.utf8.count) bytes, not a model name)"
            throw ToolError(description: "unknown model \(shown); accepted models: \(catalog.summary)")
        }
        guard let client = providers[kind] else {
            throw ToolError(
                description: "the \(kind.gateName) provider is not configured (set \(kind.environmentPrefix)_API_KEY)")
        }
        // Continuity: the earlier turns come first; a new conversation gets an id to continue with.
        let thread: ConversationThread
        if let id = arguments["continuation_id"]?.stringValue, !id.isEmpty {
            thread = try await conversations.load(id)
        } else {
            thread = conversations.newThread(tool: name)
        }
        var messages: [(role: String, content: String)] = []
        if let system = arguments["system_prompt"]?.stringValue, !system.isEmpty { messages.append(("system", system)) }
        messages.append(contentsOf: thread.turns.suffix(conversations.maxTurns).map { ($0.role, $0.content) })
        messages.append(("user", prompt))
        // Kimi and GLM both take temperature in [0, 1] and answer 400 outside it.
        let temperature = arguments["temperature"]?.numberValue.map { min(1, max(0, $0)) }
        let maxTokens = arguments["max_tokens"]?.numberValue.map { Int(max(1, min(1_000_000, $0))) }
        let request = ChatRequest(
            model: model, messages: messages, temperature: temperature ?? (kind == .kimi ? 0.6 : nil),
            maxTokens: maxTokens, idempotencyKey: context.idempotencyKey)
        let response: ChatResponse
        if client.configuration.stream {
            response = try await client.chatStreaming(request, deadline: context.deadline, onText: context.onText)
        } else {
            response = try await client.chat(request, deadline: context.deadline)
            if let onText = context.onText, !response.content.isEmpty { await onText(response.content) }
        }
        let (saved, problems) = await conversations.append(
            [
                ConversationTurn(role: "user", content: prompt),
                ConversationTurn(
                    role: "assistant", content: response.content, provider: kind.rawValue, model: response.model,
                    inputTokens: response.promptTokens, outputTokens: response.completionTokens),
            ], to: thread)
        var metadata: [(String, JSONValue)] = [
            ("provider", .string(kind.rawValue)), ("model", .string(response.model)),
            ("finish_reason", response.finishReason.map(JSONValue.string) ?? .null),
            (
                "usage",
                .object([
                    ("input_tokens", .number(Double(response.promptTokens))),
                    ("output_tokens", .number(Double(response.completionTokens))),
                    ("total_tokens", .number(Double(response.totalTokens))),
                ])
            ),
            ("turns", .number(Double(saved.turns.count))),
        ]
        if !problems.isEmpty {
            metadata.append(("storage_warning", .string("the conversation could not be fully saved")))
        }
        return toolOutput(
            content: response.content, metadata: metadata,
            continuation: problems.count < (conversations.supabase == nil ? 1 : 2) ? saved.threadID : nil)
    }
}

/// `listmodels`: the models of each configured provider.
struct ListModelsTool: DaemonTool {
    let providers: [ProviderKind: ChatProviderClient]
    let catalog: ModelCatalog
    let defaultModel: String

    var name: String { "listmodels" }
    var description: String { "List the models each configured provider serves." }
    var inputSchema: JSONValue { .object([("type", "object"), ("properties", .object([]))]) }
    func provider(for arguments: JSONValue) -> ProviderKind? { nil }

    func run(arguments: JSONValue, context: ToolContext) async throws -> [JSONValue] {
        var lines: [String] = []
        var metadata: [(String, JSONValue)] = [("default_model", .string(defaultModel))]
        for kind in ProviderKind.allCases {
            let configured = providers[kind] != nil
            let models = catalog.models[kind] ?? []
            lines.append(
                "\(kind.gateName) (\(configured ? "configured" : "not configured")): " + models.joined(separator: ", "))
            metadata.append(
                (
                    kind.rawValue,
                    .object([("configured", .bool(configured)), ("models", .array(models.map(JSONValue.string)))])
                ))
        }
        return toolOutput(content: lines.joined(separator: "\n"), metadata: metadata)
    }
}

/// `version`: the daemon's and the SDK's versions.
struct VersionTool: DaemonTool {
    var name: String { "version" }
    var description: String { "The daemon's version." }
    var inputSchema: JSONValue { .object([("type", "object"), ("properties", .object([]))]) }
    func provider(for arguments: JSONValue) -> ProviderKind? { nil }

    func run(arguments: JSONValue, context: ToolContext) async throws -> [JSONValue] {
        toolOutput(
            content: "exai-daemon \(ExaiDaemon.version) (Swift, Traceline \(Resource.sdkVersion))",
            metadata: [("version", .string(ExaiDaemon.version)), ("traceline", .string(Resource.sdkVersion))])
    }
}
