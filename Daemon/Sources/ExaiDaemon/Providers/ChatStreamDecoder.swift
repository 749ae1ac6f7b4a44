import Foundation
import Traceline

/// Reads the events of a streamed chat completion (`chat.completion.chunk` objects, then
/// `[DONE]`) into the answer, its finish reason and its usage.
///
/// Usage is taken wherever the providers put it: top level (OpenAI's `stream_options.include_usage`
/// chunk, GLM's last chunk) or in `choices[0].usage` (Moonshot's last chunk). The answer is bounded
/// by `maxAnswerBytes`; an event that is not a chunk, or an `error` event, is a clear failure.
struct ChatStreamDecoder {
    /// What one event meant.
    enum Step: Equatable {
        /// Text of the answer (`delta.content`), to pass on.
        case text(String)
        /// Generation went on without answer text (a role-only delta, `reasoning_content`).
        case progress(generated: Bool)
        /// `[DONE]`: the stream is complete.
        case done
    }

    let kind: ProviderKind
    let maxAnswerBytes: Int
    let requestedModel: String
    private(set) var content = ""
    private(set) var contentBytes = 0
    private(set) var id: String?
    private(set) var model: String?
    private(set) var finishReason: String?
    private(set) var usage: (prompt: Int, completion: Int, total: Int)?

    init(kind: ProviderKind, requestedModel: String, maxAnswerBytes: Int) {
        self.kind = kind
        self.requestedModel = requestedModel
        self.maxAnswerBytes = maxAnswerBytes
    }

    mutating func apply(_ data: String) throws(ProviderError) -> Step {
        if data == "[DONE]" { return .done }
        guard let json = try? JSONDecoder().decode(JSONValue.self, from: Data(data.utf8)), json.objectValue != nil
        else {
            throw .invalidResponse(kind, "a stream event is not a JSON object (\(data.utf8.count) bytes)")
        }
        if let error = json["error"] {
            let message = error["message"]?.stringValue ?? error.stringValue ?? "error event"
            throw .streamInterrupted(kind, SecretRedactor.redact(String(message.prefix(200))))
        }
        id = id ?? json["id"]?.stringValue
        model = model ?? json["model"]?.stringValue
        if let value = Self.usage(json["usage"]) ?? Self.usage(json["choices"]?.arrayValue?.first?["usage"]) {
            usage = value
        }
        guard let choice = json["choices"]?.arrayValue?.first else { return .progress(generated: false) }
        if let reason = choice["finish_reason"]?.stringValue { finishReason = String(reason.prefix(64)) }
        let delta = choice["delta"]
        if let text = delta?["content"]?.stringValue, !text.isEmpty {
            contentBytes += text.utf8.count
            guard contentBytes <= maxAnswerBytes else {
                throw .invalidResponse(kind, "the answer is over \(maxAnswerBytes) bytes (EXAI_CHAT_MAX_ANSWER_BYTES)")
            }
            content += text
            return .text(text)
        }
        let reasoning = delta?["reasoning_content"]?.stringValue ?? ""
        return .progress(generated: !reasoning.isEmpty)
    }

    /// The whole answer, once the stream is done.
    var response: ChatResponse {
        let prompt = usage?.prompt ?? 0, completion = usage?.completion ?? 0
        return ChatResponse(
            content: content, model: model ?? requestedModel, id: id, finishReason: finishReason,
            promptTokens: prompt, completionTokens: completion, totalTokens: usage?.total ?? prompt + completion)
    }

    private static func usage(_ value: JSONValue?) -> (prompt: Int, completion: Int, total: Int)? {
        guard let value, value.objectValue != nil else { return nil }
        let prompt = tokenCount(value["prompt_tokens"]), completion = tokenCount(value["completion_tokens"])
        return (
            prompt, completion, value["total_tokens"] == nil ? prompt + completion : tokenCount(value["total_tokens"])
        )
    }
}

/// A token count from a provider's JSON: a whole number in [0, 2^31), else 0 (never a trap on a
/// huge or fractional number).
func tokenCount(_ value: JSONValue?) -> Int {
    guard let number = value?.numberValue, number.isFinite, number >= 0, number < 2_147_483_648 else { return 0 }
    return Int(number)
}
