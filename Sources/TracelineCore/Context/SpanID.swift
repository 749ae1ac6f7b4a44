import CTracelineSupport

/// An 8-byte W3C span (parent) identifier. The all-zero value is invalid and never generated.
public struct SpanID: Hashable, Sendable, CustomStringConvertible {
    /// The 8 bytes as a big-endian integer.
    public let rawValue: UInt64

    /// Returns nil for the invalid all-zero ID.
    public init?(rawValue: UInt64) {
        guard rawValue != 0 else { return nil }
        self.rawValue = rawValue
    }

    init(unchecked rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// Parses 16 lowercase hex digits. Uppercase, wrong length and all-zero are rejected.
    public init?(hexString: some StringProtocol) {
        var string = String(hexString)
        let parsed: UInt64? = string.withUTF8 { bytes in
            guard bytes.count == 16 else { return nil }
            return Hex.decodeLowercase(bytes, from: 0, count: 16)
        }
        guard let value = parsed, value != 0 else { return nil }
        self.rawValue = value
    }

    /// A fresh random span ID from the calling thread's generator.
    public static func random() -> SpanID {
        while true {
            let value = traceline_random_u64()
            if value != 0 { return SpanID(unchecked: value) }
        }
    }

    /// The 8 bytes in network (big-endian) order, as OTLP carries them.
    public var bytes: [UInt8] {
        stride(from: 56, through: 0, by: -8).map { UInt8(truncatingIfNeeded: rawValue >> UInt64($0)) }
    }

    /// 16 lowercase hex digits.
    public var hexString: String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            Hex.encode(rawValue, digitCount: 16, into: buffer, at: 0)
            return 16
        }
    }

    /// The 16 lowercase hex digits.
    public var description: String { hexString }
}
