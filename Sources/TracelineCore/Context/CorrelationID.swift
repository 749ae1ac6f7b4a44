import CTracelineSupport

/// A request correlation ID, as carried by the `X-Correlation-ID` header.
///
/// Only values of 1–128 characters drawn from letters, digits and `-_.:@/+=` are accepted, so a
/// correlation ID is always safe to log, to put in a header, and to use as a span attribute.
/// Anything else (CR/LF, control characters, unicode, oversize values) is rejected.
public struct CorrelationID: Hashable, Sendable, CustomStringConvertible {
    /// Longest accepted ID, in bytes.
    public static let maxLength = 128

    /// The validated value.
    public let value: String

    /// Validates `value`; returns nil if it breaks the allow-list or the length limit.
    public init?(_ value: some StringProtocol) {
        guard Self.validate(value) == nil else { return nil }
        self.value = String(value)
    }

    private init(unchecked value: String) { self.value = value }

    /// A new random ID in UUID version 4 form (lowercase, 36 characters).
    public static func generate() -> CorrelationID {
        let high = traceline_random_u64()
        let low = traceline_random_u64()
        // Set the version (4) and the RFC 4122 variant bits.
        let versioned = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
        let varianted = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        let text = String(unsafeUninitializedCapacity: 36) { buffer in
            Hex.encode(versioned >> 32, digitCount: 8, into: buffer, at: 0)
            buffer[8] = UInt8(ascii: "-")
            Hex.encode((versioned >> 16) & 0xFFFF, digitCount: 4, into: buffer, at: 9)
            buffer[13] = UInt8(ascii: "-")
            Hex.encode(versioned & 0xFFFF, digitCount: 4, into: buffer, at: 14)
            buffer[18] = UInt8(ascii: "-")
            Hex.encode(varianted >> 48, digitCount: 4, into: buffer, at: 19)
            buffer[23] = UInt8(ascii: "-")
            Hex.encode(varianted & 0xFFFF_FFFF_FFFF, digitCount: 12, into: buffer, at: 24)
            return 36
        }
        return CorrelationID(unchecked: text)
    }

    /// Why a candidate value is rejected, in words that never repeat the value itself.
    public enum Rejection: Sendable, Equatable, CustomStringConvertible {
        /// The value is empty.
        case empty
        /// The value is longer than `maxLength`; `bytes` is its length.
        case tooLong(bytes: Int)
        /// The value has a character outside the allow-list.
        case forbiddenCharacter

        /// The reason in words, without the rejected value.
        public var description: String {
            switch self {
            case .empty: return "empty"
            case .tooLong(let bytes): return "too long (\(bytes) bytes, limit \(CorrelationID.maxLength))"
            case .forbiddenCharacter: return "forbidden character (outside [A-Za-z0-9-_.:@/+=])"
            }
        }
    }

    /// Returns why `candidate` is not acceptable, or nil if it is.
    public static func validate(_ candidate: some StringProtocol) -> Rejection? {
        let utf8 = candidate.utf8
        if utf8.isEmpty { return .empty }
        if utf8.count > maxLength { return .tooLong(bytes: utf8.count) }
        for byte in utf8 where !isAllowed(byte) { return .forbiddenCharacter }
        return nil
    }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "@"),
            UInt8(ascii: "/"), UInt8(ascii: "+"), UInt8(ascii: "="):
            return true
        default: return false
        }
    }

    /// The ID itself.
    public var description: String { value }
}
