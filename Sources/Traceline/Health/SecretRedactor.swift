/// Removes secret-looking parts of free text before it leaves the process in a health report:
/// URL credentials (`postgres://user:pass@host`), `password=…`/`token: …`/`api_key=…` pairs,
/// bearer tokens, `sk-…` API keys and long mixed-case opaque tokens. Dependency errors often quote
/// a connection string; the report should say what failed, never how to log in.
public enum SecretRedactor {
    /// Longest output kept, in characters; the rest is cut with `…`.
    public static let maximumLength = 512

    /// Returns `text` with secret-looking parts replaced by `***`, cut to `maximumLength` characters.
    public static func redact(_ text: String) -> String {
        var result = text
        for (pattern, replacement) in rules {
            guard let regex = try? Regex(pattern) else { continue }
            result = result.replacing(regex) { match in
                replacement.replacingCaptures(match)
            }
        }
        if result.count > maximumLength { result = String(result.prefix(maximumLength)) + "…" }
        return result
    }

    /// Pattern and replacement; `$1`, `$2` in a replacement are the pattern's capture groups.
    private static let rules: [(String, String)] = [
        (#"([A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]+@"#, "$1***@"),
        (#"(?i)\b(password|passwd|pwd|secret|token|api[_\-]?key|access[_\-]?key|authorization|auth)(\s*[=:]\s*)("[^"]*"|'[^']*'|(?:(?:bearer|basic|digest)\s+)?[^\s,;&]+)"#, "$1$2***"),
        (#"(?i)\bbearer\s+[^\s,;]+"#, "Bearer ***"),
        (#"\bsk-[A-Za-z0-9_\-]{8,}"#, "sk-***"),
        (#"\b(?=[A-Za-z0-9+/_\-]*[A-Z])(?=[A-Za-z0-9+/_\-]*[a-z])(?=[A-Za-z0-9+/_\-]*[0-9])[A-Za-z0-9+/_\-]{32,}={0,2}"#, "***"),
    ]
}

extension String {
    fileprivate func replacingCaptures(_ match: Regex<AnyRegexOutput>.Match) -> String {
        var text = self
        for index in stride(from: match.output.count - 1, through: 1, by: -1) {
            let value = match.output[index].substring.map(String.init) ?? ""
            text = text.replacing("$\(index)", with: value)
        }
        return text
    }
}
