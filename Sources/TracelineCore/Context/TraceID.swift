import CTracelineSupport

/// A 16-byte W3C trace identifier. The all-zero value is invalid and never generated.
public struct TraceID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The high (leftmost) 8 bytes, big-endian.
    public let high: UInt64
    /// The low (rightmost) 8 bytes, big-endian. W3C Level 2 randomness lives here.
    public let low: UInt64

    /// Creates a trace ID from its two halves; returns nil for the invalid all-zero ID.
    public init?(high: UInt64, low: UInt64) {
        guard high != 0 || low != 0 else { return nil }
        self.high = high
        self.low = low
    }

    init(uncheckedHigh high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Parses 32 lowercase hex digits. Uppercase, wrong length and all-zero are rejected.
    public init?(hexString: some StringProtocol) {
        var string = String(hexString)
        let parsed: TraceID?? = string.withUTF8 { bytes in
            guard bytes.count == 32 else { return nil }
            guard let high = Hex.decodeLowercase(bytes, from: 0, count: 16),
                let low = Hex.decodeLowercase(bytes, from: 16, count: 16)
            else { return nil }
            return TraceID(high: high, low: low)
        }
        guard let id = parsed ?? nil else { return nil }
        self = id
    }

    /// A fresh random trace ID from the calling thread's generator (all 16 bytes random).
    public static func random() -> TraceID {
        while true {
            let high = traceline_random_u64()
            let low = traceline_random_u64()
            if high != 0 || low != 0 { return TraceID(uncheckedHigh: high, low: low) }
        }
    }

    /// The 16 bytes in network (big-endian) order, as OTLP carries them.
    public var bytes: [UInt8] {
        var result = [UInt8]()
        result.reserveCapacity(16)
        for shift in stride(from: 56, through: 0, by: -8) {
            result.append(UInt8(truncatingIfNeeded: high >> UInt64(shift)))
        }
        for shift in stride(from: 56, through: 0, by: -8) {
            result.append(UInt8(truncatingIfNeeded: low >> UInt64(shift)))
        }
        return result
    }

    /// 32 lowercase hex digits.
    public var hexString: String {
        String(unsafeUninitializedCapacity: 32) { buffer in
            Hex.encode(high, digitCount: 16, into: buffer, at: 0)
            Hex.encode(low, digitCount: 16, into: buffer, at: 16)
            return 32
        }
    }

    /// The 32 lowercase hex digits.
    public var description: String { hexString }

    /// Orders by the high half, then the low half.
    public static func < (lhs: TraceID, rhs: TraceID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }
}
