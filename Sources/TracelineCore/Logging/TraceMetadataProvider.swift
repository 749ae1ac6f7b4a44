import Logging
import ServiceContextModule

extension Logger.MetadataProvider {
    /// Adds `trace_id`, `span_id`, `trace_flags` and `correlation_id` to every log line written
    /// inside a span's context (the task-local `ServiceContext.current`), so logs and traces join up.
    public static let traceline = Logger.MetadataProvider {
        guard let context = ServiceContext.current else { return [:] }
        var metadata: Logger.Metadata = [:]
        if let spanContext = context.spanContext {
            metadata["trace_id"] = .string(spanContext.traceID.hexString)
            metadata["span_id"] = .string(spanContext.spanID.hexString)
            let flags = spanContext.traceFlags.known.rawValue
            metadata["trace_flags"] = .string(flags < 0x10 ? "0\(String(flags, radix: 16))" : String(flags, radix: 16))
        }
        if let correlationID = context.correlationID {
            metadata["correlation_id"] = .string(correlationID.value)
        }
        return metadata
    }
}
