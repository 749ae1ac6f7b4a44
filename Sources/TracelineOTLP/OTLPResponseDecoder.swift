import COTLPProto
import TracelineCore

/// Reads what an OTLP/HTTP receiver answers: the partial success of a 2xx, the `Status` message
/// of a failure. Both through the protobuf-c unpack code generated from Proto/.
///
/// Visible to the fuzz targets (`Fuzz/`) through `@_spi(Fuzzing)`; not part of the public API.
@_spi(Fuzzing)
public enum OTLPResponseDecoder {
    /// What a 2xx body says was not accepted.
    public struct PartialSuccess: Equatable {
        /// Spans the receiver rejected (never negative).
        public var rejectedSpans: Int64
        /// The receiver's explanation, possibly empty.
        public var errorMessage: String
    }

    /// The partial success in a 2xx body, or nil when the body is empty, has none, or is not a
    /// valid response (garbage is treated as full success: the receiver accepted the request).
    public static func partialSuccess(_ body: UnsafeRawBufferPointer) -> PartialSuccess? {
        guard body.count > 0, let base = body.baseAddress else { return nil }
        guard
            let response = opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
                nil, body.count, base.assumingMemoryBound(to: UInt8.self)
            )
        else { return nil }
        defer {
            opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(response, nil)
        }
        guard let partial = response.pointee.partial_success else { return nil }
        let message = string(partial.pointee.error_message)
        if partial.pointee.rejected_spans == 0 && message.isEmpty { return nil }
        return PartialSuccess(rejectedSpans: max(0, partial.pointee.rejected_spans), errorMessage: message)
    }

    /// The `message` of a `google.rpc.Status` failure body, if it parses.
    public static func statusMessage(_ body: UnsafeRawBufferPointer) -> String? {
        guard body.count > 0, let base = body.baseAddress else { return nil }
        guard let status = traceline__rpc__status__unpack(nil, body.count, base.assumingMemoryBound(to: UInt8.self))
        else { return nil }
        defer { traceline__rpc__status__free_unpacked(status, nil) }
        let message = string(status.pointee.message)
        return message.isEmpty ? nil : message
    }

    static func string(_ data: ProtobufCBinaryData) -> String {
        guard data.len > 0, let bytes = data.data else { return "" }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: data.len), as: UTF8.self)
    }
}
