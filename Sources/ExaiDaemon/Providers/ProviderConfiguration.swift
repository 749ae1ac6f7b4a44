/// The two chat providers the daemon routes to.
public enum ProviderKind: String, Sendable, CaseIterable {
    case kimi, glm

    /// `gen_ai.provider.name`: the registry's `moonshot_ai`; Zhipu has no registry value, so ours.
    public var semanticName: String { self == .kimi ? "moonshot_ai" : "zhipu_ai" }
    /// How the reference daemon names the provider in OVER_CAPACITY messages.
    public var gateName: String { self == .kimi ? "KIMI" : "GLM" }
    var environmentPrefix: String { self == .kimi ? "KIMI" : "GLM" }

    /// The models the reference daemon lists for the provider.
    public var models: [String] {
        switch self {
        case .kimi:
            return ["kimi-k2-0905-preview", "kimi-k2-0711-preview", "kimi-k2-turbo-preview", "moonshot-v1-8k",
                    "moonshot-v1-32k", "moonshot-v1-128k", "kimi-latest", "kimi-thinking-preview"]
        case .glm:
            return ["glm-4.6", "glm-4.5", "glm-4.5-flash", "glm-4.5-air", "glm-4.5v"]
        }
    }

    /// The provider serving `model`: listed models first, then the families' prefixes (`kimi-latest-8k`).
    public static func serving(model: String) -> ProviderKind? {
        let lower = model.lowercased()
        if ProviderKind.kimi.models.contains(lower) || lower.hasPrefix("kimi-") || lower.hasPrefix("moonshot-") { return .kimi }
        if ProviderKind.glm.models.contains(lower) || lower.hasPrefix("glm-") { return .glm }
        return nil
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
    /// One HTTP attempt's limit.
    public var timeout: Duration = .seconds(30)
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
    }

    public var hasKey: Bool { !apiKey.isEmpty }
}
