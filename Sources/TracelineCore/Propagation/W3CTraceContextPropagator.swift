import Instrumentation

/// Propagates W3C Trace Context (`traceparent` and `tracestate`), parsing by the Level 2 rules.
///
/// An invalid `traceparent` stores nothing, so the next span starts a new trace, and its
/// `tracestate` is not even parsed. An invalid `tracestate` is dropped but never costs a valid
/// `traceparent`. Outgoing headers always use version `00` and only the flag bits we understand.
public struct W3CTraceContextPropagator: Instrument {
    /// The `traceparent` header name.
    public static let traceparentHeader = "traceparent"
    /// The `tracestate` header name.
    public static let tracestateHeader = "tracestate"

    /// Creates the propagator.
    public init() {}

    /// Stores a valid incoming `traceparent` as the remote parent; see `Instrument.extract`.
    public func extract<Carrier, Extract>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    )
    where Extract: Extractor, Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: Self.traceparentHeader, from: carrier),
            let parsed = Self.parseTraceparent(header)
        else { return }
        var traceState = TraceState()
        if let stateHeader = extractor.extract(key: Self.tracestateHeader, from: carrier),
            let state = TraceState(headerValue: stateHeader)
        {
            traceState = state
        }
        context.setRemoteSpanContext(
            SpanContext(
                traceID: parsed.traceID, spanID: parsed.spanID, traceFlags: parsed.flags, traceState: traceState,
                isRemote: true)
        )
    }

    /// Writes `traceparent` and a non-empty `tracestate` for the context's span; see `Instrument.inject`.
    public func inject<Carrier, Inject>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Inject.Carrier == Carrier {
        guard let spanContext = context.spanContext else { return }
        injector.inject(Self.formatTraceparent(spanContext), forKey: Self.traceparentHeader, into: &carrier)
        if !spanContext.traceState.isEmpty {
            let value = spanContext.traceState.headerValue
            if !value.isEmpty { injector.inject(value, forKey: Self.tracestateHeader, into: &carrier) }
        }
    }

    /// The `00-<trace-id>-<parent-id>-<flags>` header for `spanContext`.
    public static func formatTraceparent(_ spanContext: SpanContext) -> String {
        String(unsafeUninitializedCapacity: 55) { buffer in
            buffer[0] = UInt8(ascii: "0")
            buffer[1] = UInt8(ascii: "0")
            buffer[2] = UInt8(ascii: "-")
            Hex.encode(spanContext.traceID.high, digitCount: 16, into: buffer, at: 3)
            Hex.encode(spanContext.traceID.low, digitCount: 16, into: buffer, at: 19)
            buffer[35] = UInt8(ascii: "-")
            Hex.encode(spanContext.spanID.rawValue, digitCount: 16, into: buffer, at: 36)
            buffer[52] = UInt8(ascii: "-")
            Hex.encode(UInt64(spanContext.traceFlags.known.rawValue), digitCount: 2, into: buffer, at: 53)
            return 55
        }
    }

    /// Parses a `traceparent` value by the Level 2 receiver rules; nil means "restart the trace".
    ///
    /// Leading and trailing spaces and tabs are ignored. Version `ff`, non-hex or uppercase digits,
    /// all-zero IDs and v00 values with trailing data are invalid. A higher version is accepted when
    /// its first three fields parse and the flags are followed by the end or a `-`. Reserved flag
    /// bits are accepted and cleared (we forward only `sampled` and `random`), as the grammar allows.
    public static func parseTraceparent(_ header: String) -> (traceID: TraceID, spanID: SpanID, flags: TraceFlags)? {
        let trimmed = TraceState.trimOWS(Substring(header))
        var text = String(trimmed)
        return text.withUTF8 { bytes -> (TraceID, SpanID, TraceFlags)? in
            guard bytes.count >= 55 else { return nil }
            guard let version = Hex.decodeLowercase(bytes, from: 0, count: 2), version != 0xFF,
                bytes[2] == UInt8(ascii: "-")
            else { return nil }
            if version == 0 {
                guard bytes.count == 55 else { return nil }
            } else if bytes.count > 55 {
                guard bytes[55] == UInt8(ascii: "-") else { return nil }
            }
            guard bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-"),
                let high = Hex.decodeLowercase(bytes, from: 3, count: 16),
                let low = Hex.decodeLowercase(bytes, from: 19, count: 16),
                let traceID = TraceID(high: high, low: low),
                let rawSpanID = Hex.decodeLowercase(bytes, from: 36, count: 16),
                let spanID = SpanID(rawValue: rawSpanID),
                let flags = Hex.decodeLowercase(bytes, from: 53, count: 2)
            else { return nil }
            return (traceID, spanID, TraceFlags(rawValue: UInt8(flags)).known)
        }
    }
}
