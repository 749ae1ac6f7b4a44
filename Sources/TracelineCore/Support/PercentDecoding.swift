/// `%XX` decoding shared by the baggage header and the `OTEL_*` key-value lists.
enum PercentDecoding {
    /// What to do with bytes that decode to invalid UTF-8.
    enum InvalidUTF8 { case replace, reject }

    /// Decodes `%XX` escapes. A `%` not followed by two hex digits fails (nil); invalid UTF-8
    /// becomes U+FFFD (`.replace`) or fails (`.reject`).
    static func decode(_ text: Substring, invalidUTF8: InvalidUTF8) -> String? {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return String(text) }  // already valid UTF-8
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        switch invalidUTF8 {
        case .replace: return String(decoding: bytes, as: UTF8.self)
        case .reject: return String(validating: bytes, as: UTF8.self)
        }
    }

    /// The value of one hex digit, or nil.
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}
