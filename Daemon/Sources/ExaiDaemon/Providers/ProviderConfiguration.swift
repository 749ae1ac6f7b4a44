/// The two chat providers the daemon routes to.
public enum ProviderKind: String, Sendable, CaseIterable {
    case kimi, glm

    /// `gen_ai.provider.name`: the registry's `moonshot_ai`; Zhipu has no registry value, so ours.
    public var semanticName: String { self == .kimi ? "moonshot_ai" : "zhipu_ai" }
    /// How the reference daemon names the provider in OVER_CAPACITY messages.
    public var gateName: String { self == .kimi ? "KIMI" : "GLM" }
    var environmentPrefix: String { self == .kimi ? "KIMI" : "GLM" }

    /// The models the reference daemon lists for the provider: the default accepted list
    /// (``ProviderConfiguration/models`` extends it from `KIMI_MODELS` / `GLM_MODELS`).
    public var builtInModels: [String] {
        switch self {
        case .kimi:
            return [
                "kimi-k2-0905-preview", "kimi-k2-0711-preview", "kimi-k2-turbo-preview", "moonshot-v1-8k",
                "moonshot-v1-32k", "moonshot-v1-128k", "kimi-latest", "kimi-thinking-preview",
            ]
        case .glm:
            return ["glm-4.6", "glm-4.5", "glm-4.5-flash", "glm-4.5-air", "glm-4.5v"]
        }
    }
}

/// The shape of a model name a client may send: at most 64 bytes of letters, digits and `.-_:/`.
/// Anything else is refused before it can reach a span, a log line or a metric label.
public enum ModelName {
    public static let maxBytes = 64

    public static func isWellFormed(_ name: String) -> Bool {
        let bytes = name.utf8
        return !bytes.isEmpty && bytes.count <= maxBytes
            && bytes.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == 0x2E || byte == 0x2D || byte == 0x5F || byte == 0x3A || byte == 0x2F
            }
    }
}

/// Which provider serves which model: only the configured lists, so a client cannot make the
/// daemon call a provider (or mint a metric series) with a model nobody configured.
public struct ModelCatalog: Sendable {
    public let models: [ProviderKind: [String]]

    public init(kimi: ProviderConfiguration, glm: ProviderConfiguration) {
        models = [.kimi: kimi.models, .glm: glm.models]
    }

    /// The provider and the configured spelling of `model` (compared case-insensitively), or nil.
    public func lookUp(_ model: String) -> (kind: ProviderKind, model: String)? {
        guard ModelName.isWellFormed(model) else { return nil }
        let lower = model.lowercased()
        for kind in ProviderKind.allCases {
            if let known = models[kind]?.first(where: { $0.lowercased() == lower }) { return (kind, known) }
        }
        return nil
    }

    /// Every accepted model, provider by provider, for error messages.
    public var summary: String {
        ProviderKind.allCases.map { "\($0.gateName): \((models[$0] ?? []).joined(separator: ", "))" }.joined(
            separator: "; ")
    }
}

/// One OpenAI-compatible chat-completions endpoint.
public struct ProviderConfiguration: Sendable {
    public var kind: ProviderKind
    /// Base URL; requests go to `{baseURL}/chat/completions`.
    public var baseURL: String
    /// Sent as `Authorization: Bearer …`; never logged, traced or shown.
    public var apiKey: String
    public var defaultModel: String
    /// Models this provider accepts: the built-in list plus `KIMI_MODELS` / `GLM_MODELS`.
    public var models: [String]
    /// Whether `chat` asks for a streamed answer (`"stream": true`, server-sent events). Both
    /// providers support it; `KIMI_STREAM` / `GLM_STREAM` turn it off.
    public var stream = true
    /// A non-streamed attempt's limit; for a streamed attempt, the limit to the first byte of the answer.
    public var timeout: Duration = .seconds(30)
    /// A streamed answer fails when no byte arrives for this long (the call's deadline still bounds the whole call).
    public var streamIdleTimeout: Duration = .seconds(30)
    /// The answer text one call keeps, in bytes; a longer answer fails the call (`EXAI_CHAT_MAX_ANSWER_BYTES`).
    public var maxAnswerBytes = 1 << 20
    /// One line, or one event, of a streamed answer, in bytes (`EXAI_STREAM_MAX_EVENT_BYTES`).
    public var maxEventBytes = 256 << 10
    /// Waits between attempts (the reference's 1, 3, 5, 8 s: four retries); a `Retry-After` overrides one.
    public var retryBackoff: [Duration] = [.seconds(1), .seconds(3), .seconds(5), .seconds(8)]
    /// Consecutive failed calls that open the breaker, and how long it stays open (4, 120 s).
    public var breakerFailures = 4
    public var breakerCooldown: Duration = .seconds(120)

    public init(kind: ProviderKind, baseURL: String, apiKey: String, defaultModel: String) {
        self.kind = kind
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.defaultModel = defaultModel
        self.models = kind.builtInModels
    }

    public var hasKey: Bool { !apiKey.isEmpty }
}
