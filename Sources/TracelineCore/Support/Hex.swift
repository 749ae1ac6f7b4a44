/// Lowercase hexadecimal encoding and strict decoding, shared by the ID types.
///
/// Written by hand rather than through `String(_:radix:)` because it runs on every
/// `traceparent` extract and inject and must reject uppercase input, which W3C forbids.
enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Decodes exactly `count` lowercase hex digits starting at `start` into an integer.
    /// Returns nil on any character outside `0-9a-f`.
    @inline(__always)
    static func decodeLowercase(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, count: Int) -> UInt64? {
        guard start >= 0, count <= 16, start + count <= bytes.count else { return nil }
        var value: UInt64 = 0
        for index in start..<(start + count) {
            let byte = bytes[index]
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte &- UInt8(ascii: "a") &+ 10
            default: return nil
            }
            value = (value << 4) | UInt64(nibble)
        }
        return value
    }

    /// Writes `value` as `digitCount` lowercase hex digits (most significant first) into `buffer`.
    @inline(__always)
    static func encode(
        _ value: UInt64, digitCount: Int, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int
    ) {
        var remaining = value
        var index = offset + digitCount - 1
        while index >= offset {
            buffer[index] = digits[Int(remaining & 0xF)]
            remaining >>= 4
            index -= 1
        }
    }
}
