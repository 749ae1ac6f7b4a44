/// Text from outside (configuration values, receiver messages) made safe for a log line.
package enum LogText {
    /// Printable ASCII only (anything else becomes `?`), cut at 40 characters with `…`.
    package static func sanitized(_ text: String) -> String {
        let printable = text.unicodeScalars.map { scalar -> String in
            scalar.value >= 0x20 && scalar.value < 0x7F ? String(scalar) : "?"
        }.joined()
        return printable.count > 40 ? String(printable.prefix(40)) + "…" : printable
    }
}
