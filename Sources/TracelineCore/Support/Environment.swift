#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the process environment without Foundation. Internal: a public `Environment` would
/// collide with Hummingbird's in every app that imports both.
package enum Environment {
    /// The whole process environment.
    package static func current() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let pair = String(cString: entry)
            if let equals = pair.firstIndex(of: "=") {
                result[String(pair[pair.startIndex..<equals])] = String(pair[pair.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}

/// Parses the `key1=value1,key2=value2` lists of `OTEL_RESOURCE_ATTRIBUTES` and
/// `OTEL_EXPORTER_OTLP_HEADERS`: keys and values are trimmed and percent-decoded.
/// Any malformed member rejects the whole list, as the specification requires. Not part of the
/// API: `@_spi(Fuzzing)` lets the fuzz targets reach it.
@_spi(Fuzzing) public enum KeyValueListParser {
    /// Why a list was rejected; `index` counts members from 0.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// Member number `index` (0-based) has no `=`.
        case missingEquals(index: Int)
        /// Member number `index` has an empty key.
        case emptyKey(index: Int)
        /// Member number `index` has a bad percent escape or decodes to invalid UTF-8.
        case badPercentEncoding(index: Int)

        /// The reason in words, counting members from 1 and never echoing the text.
        public var description: String {
            switch self {
            case .missingEquals(let index): return "member \(index + 1) has no '='"
            case .emptyKey(let index): return "member \(index + 1) has an empty key"
            case .badPercentEncoding(let index): return "member \(index + 1) has an invalid percent-encoding"
            }
        }
    }

    /// The decoded pairs of `text` in order (empty members skipped), or the first failure.
    public static func parse(_ text: String) -> Result<[(key: String, value: String)], Failure> {
        var pairs: [(key: String, value: String)] = []
        let members = text.split(separator: ",", omittingEmptySubsequences: false)
        for (index, rawMember) in members.enumerated() {
            let member = trim(rawMember)
            if member.isEmpty { continue }
            guard let equals = member.firstIndex(of: "=") else { return .failure(.missingEquals(index: index)) }
            let rawKey = trim(member[member.startIndex..<equals])
            let rawValue = trim(member[member.index(after: equals)...])
            guard let key = percentDecode(rawKey), let value = percentDecode(rawValue) else {
                return .failure(.badPercentEncoding(index: index))
            }
            guard !key.isEmpty else { return .failure(.emptyKey(index: index)) }
            pairs.append((key, value))
        }
        return .success(pairs)
    }

    private static func trim(_ text: Substring) -> Substring {
        var result = text
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }

    /// Strict percent-decoding: `%` must be followed by two hex digits, and the result must be UTF-8.
    package static func percentDecode(_ text: Substring) -> String? {
        PercentDecoding.decode(text, invalidUTF8: .reject)
    }
}

extension Environment {
    /// One variable, or nil.
    package static func value(_ name: String) -> String? {
        guard let raw = getenv(name) else { return nil }
        return String(cString: raw)
    }
}
