import Synchronization
import Tracing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Prints one human-readable line per span (plus its events), for debugging without a collector.
///
/// Format: `[trace_id span_id<-parent] KIND name 12.345ms status {attributes}`. Output goes to
/// standard error by default so it does not mix with a program's own output.
public final class ConsoleSpanExporter: SpanExporter {
    /// Where the lines go: standard output or standard error.
    public enum Stream: Sendable { case standardOutput, standardError }

    private let stream: Stream
    private let writeLock = LockedValue<Void>(())

    /// Creates an exporter that writes to `stream` (standard error by default).
    public init(stream: Stream = .standardError) {
        self.stream = stream
    }

    /// Writes one line per span and per event; see `SpanExporter.export`.
    public func export(_ batch: [FinishedSpan], deadline: ContinuousClock.Instant) -> ExportResult {
        var text = ""
        for span in batch { text += Self.format(span) }
        let descriptor: Int32 = stream == .standardOutput ? 1 : 2
        writeLock.withLock { _ in
            var bytes = Array(text.utf8)[...]
            while !bytes.isEmpty {
                let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
                if written <= 0 {
                    if written < 0 && errno == EINTR { continue }
                    return
                }
                bytes = bytes.dropFirst(written)
            }
        }
        return .success
    }

    static func format(_ span: FinishedSpan) -> String {
        let parent = span.parentSpanID.map { "<-\($0.hexString)" } ?? ""
        let milliseconds = Double(span.durationNanoseconds) / 1_000_000
        let status: String
        switch span.status?.code {
        case .ok?: status = "OK"
        case .error?: status = "ERROR" + (span.status?.message.map { "(\($0))" } ?? "")
        case nil: status = "UNSET"
        }
        var line = "[\(span.spanContext.traceID.hexString) \(span.spanContext.spanID.hexString)\(parent)] "
        line += "\(span.kind.displayName) \(span.name) \(formatMilliseconds(milliseconds))ms \(status)"
        line += " " + formatAttributes(span.attributes)
        line += "\n"
        for event in span.events {
            line += "    event \(event.name) " + formatAttributes(event.attributes) + "\n"
        }
        return line
    }

    private static func formatMilliseconds(_ value: Double) -> String {
        let thousandths = Int((value * 1000).rounded())
        let fraction = String(thousandths % 1000)
        return "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    private static func formatAttributes(_ attributes: SpanAttributes) -> String {
        var pairs: [String] = []
        attributes.forEach { key, value in pairs.append("\(key)=\(describe(value))") }
        return "{" + pairs.sorted().joined(separator: ", ") + "}"
    }

    static func describe(_ value: SpanAttribute) -> String {
        switch value {
        case .string(let text): return "\"\(text)\""
        case .int32(let number): return String(number)
        case .int64(let number): return String(number)
        case .double(let number): return String(number)
        case .bool(let flag): return String(flag)
        case .stringArray(let texts): return "[" + texts.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        case .int32Array(let numbers): return "[" + numbers.map(String.init).joined(separator: ",") + "]"
        case .int64Array(let numbers): return "[" + numbers.map(String.init).joined(separator: ",") + "]"
        case .doubleArray(let numbers): return "[" + numbers.map { String($0) }.joined(separator: ",") + "]"
        case .boolArray(let flags): return "[" + flags.map(String.init).joined(separator: ",") + "]"
        case .stringConvertible(let convertible): return "\"\(convertible)\""
        case .stringConvertibleArray(let convertibles):
            return "[" + convertibles.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        default: return "?"
        }
    }
}

extension SpanKind {
    /// `SERVER`, `CLIENT`, `PRODUCER`, `CONSUMER` or `INTERNAL`: how the console exporter and the
    /// trace pages print a span's kind.
    public var displayName: String {
        switch self {
        case .server: return "SERVER"
        case .client: return "CLIENT"
        case .producer: return "PRODUCER"
        case .consumer: return "CONSUMER"
        case .internal: return "INTERNAL"
        }
    }
}
