import TracelineCore

/// The two text formats a Prometheus scrape can ask for.
public enum MetricsFormat: Sendable, Equatable {
    /// Prometheus text 0.0.4: no exemplars.
    case prometheusText
    /// OpenMetrics 1.0: exemplars on histogram buckets, `# EOF` at the end.
    case openMetrics

    /// The `Content-Type` header value for a response in this format.
    public var contentType: String {
        switch self {
        case .prometheusText: return "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: return "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// Picks the format a scrape's `Accept` header prefers; text 0.0.4 is the last resort.
    public static func negotiate(accept: String?) -> MetricsFormat {
        guard let accept else { return .prometheusText }
        var best: (quality: Double, format: MetricsFormat) = (0, .prometheusText)
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { String($0).trimmingSpaces }
            guard let mediaType = parts.first?.lowercased() else { continue }
            var quality = 1.0
            var version: String?
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces }
                guard pair.count == 2 else { continue }
                if pair[0].lowercased() == "q" { quality = Double(pair[1]) ?? 0 }
                if pair[0].lowercased() == "version" { version = pair[1] }
            }
            if mediaType == "application/openmetrics-text", version == nil || version == "1.0.0", quality > best.quality
            {
                best = (quality, .openMetrics)
            } else if mediaType == "text/plain", version == nil || version == "0.0.4", quality > best.quality {
                best = (quality, .prometheusText)
            }
        }
        return best.format
    }
}

/// Writing the exposition text: escaping, number formatting, label sets.
enum Exposition {
    /// Label values escape `\`, `"` and newline.
    static func escapeLabelValue(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for character in value.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// HELP text escapes `\` and newline.
    static func escapeHelp(_ text: String) -> String {
        text.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }

    /// A metric or label name made valid: `[a-zA-Z_:][a-zA-Z0-9_:]*` (label names without `:`).
    static func sanitizeName(_ name: String, allowColon: Bool = false) -> String {
        var out = ""
        for (index, scalar) in name.unicodeScalars.enumerated() {
            let valid =
                (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || scalar == "_"
                || (allowColon && scalar == ":") || (index > 0 && scalar >= "0" && scalar <= "9")
            out.unicodeScalars.append(valid ? scalar : "_")
        }
        if let first = out.unicodeScalars.first, first >= "0" && first <= "9" { out = "_" + out }
        return out.isEmpty ? "_" : out
    }

    /// A float the way Prometheus writes it (`+Inf`, `-Inf`, `NaN`, shortest round-trip otherwise).
    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value == .infinity { return "+Inf" }
        if value == -.infinity { return "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) + ".0" }
        return String(value)
    }

    static func labels(_ pairs: [(String, String)]) -> String {
        if pairs.isEmpty { return "" }
        return "{" + pairs.map { "\($0.0)=\"\(escapeLabelValue($0.1))\"" }.joined(separator: ",") + "}"
    }
}
