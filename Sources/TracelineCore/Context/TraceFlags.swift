/// The W3C `trace-flags` byte. Only the bits this SDK understands are ever sent on.
public struct TraceFlags: OptionSet, Hashable, Sendable {
    /// The flags byte.
    public let rawValue: UInt8
    /// Creates flags from a byte, unknown bits included.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Bit 0: the caller may have recorded this trace.
    public static let sampled = TraceFlags(rawValue: 0x01)
    /// Bit 1 (Level 2): the rightmost 7 bytes of the trace ID are uniformly random.
    public static let random = TraceFlags(rawValue: 0x02)

    /// The flags with every bit we do not understand cleared, as W3C requires before forwarding.
    public var known: TraceFlags { TraceFlags(rawValue: rawValue & 0x03) }
}
