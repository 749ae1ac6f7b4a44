/// W3C Baggage: application key/value pairs that travel with a request to every downstream service.
///
/// Limits follow the W3C spec: at most 64 members and 8192 bytes when serialised. A member that
/// would exceed them is dropped whole (never cut). Do not put secrets here: every hop sees them.
public struct Baggage: Hashable, Sendable {
    /// One member: a key, its decoded value, and its raw `;`-separated properties (metadata).
    public struct Entry: Hashable, Sendable {
        /// The member's key, an RFC 7230 token.
        public var key: String
        /// The decoded value.
        public var value: String
        /// The raw properties after the first `;`, if any.
        public var metadata: String?

        /// Creates a member; the key and value are not validated here.
        /// - Parameters:
        ///   - key: the member's key.
        ///   - value: the decoded value.
        ///   - metadata: raw `;`-separated properties, or nil.
        public init(key: String, value: String, metadata: String? = nil) {
            self.key = key
            self.value = value
            self.metadata = metadata
        }
    }

    /// Most members a baggage may hold (W3C limit).
    public static let maxMembers = 64
    /// Most bytes the serialised header may take (W3C limit).
    public static let maxBytes = 8192

    /// Members in order; keys are unique (a later `set` replaces an earlier value).
    public private(set) var entries: [Entry] = []

    /// An empty baggage.
    public init() {}

    /// Whether there are no members.
    public var isEmpty: Bool { entries.isEmpty }

    /// The value for `key`; setting nil removes the member, setting a value behaves like `set(_:_:metadata:)`.
    public subscript(key: String) -> String? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            if let newValue { set(key, newValue) } else { entries.removeAll { $0.key == key } }
        }
    }

    /// Sets a member. Returns false (and changes nothing) if the key is not an RFC 7230 token or
    /// the result would exceed the W3C limits.
    @discardableResult
    public mutating func set(_ key: String, _ value: String, metadata: String? = nil) -> Bool {
        guard Self.isToken(Substring(key)) else { return false }
        var candidate = entries
        candidate.removeAll { $0.key == key }
        candidate.append(Entry(key: key, value: value, metadata: metadata))
        guard candidate.count <= Self.maxMembers, Self.serialize(candidate).utf8.count <= Self.maxBytes else {
            return false
        }
        entries = candidate
        return true
    }

    /// Removes every member (the OTel Baggage API requires a way to clear all entries).
    public mutating func removeAll() { entries.removeAll() }

    /// Parses a (possibly combined) `baggage` header. Invalid members are dropped one by one;
    /// members past 64 or past 8192 bytes are dropped whole. Returns the baggage and the number of members dropped.
    public static func parse(headerValue: String) -> (baggage: Baggage, dropped: Int) {
        var baggage = Baggage()
        var dropped = 0
        var bytes = 0
        for rawMember in headerValue.split(separator: ",", omittingEmptySubsequences: false) {
            let member = TraceState.trimOWS(rawMember)
            if member.isEmpty { continue }
            guard let entry = parseMember(member) else { dropped += 1; continue }
            let memberBytes = member.utf8.count + (baggage.entries.isEmpty ? 0 : 1)
            if baggage.entries.count >= maxMembers || bytes + memberBytes > maxBytes {
                dropped += 1
                continue
            }
            if let existing = baggage.entries.firstIndex(where: { $0.key == entry.key }) {
                baggage.entries[existing] = entry
            } else {
                baggage.entries.append(entry)
            }
            bytes += memberBytes
        }
        return (baggage, dropped)
    }

    /// The header value to send, percent-encoding every value byte outside `baggage-octet`.
    public var headerValue: String { Self.serialize(entries) }

    private static func serialize(_ entries: [Entry]) -> String {
        entries.map { entry in
            var member = entry.key + "=" + percentEncode(entry.value)
            if let metadata = entry.metadata, !metadata.isEmpty { member += ";" + metadata }
            return member
        }.joined(separator: ",")
    }

    private static func parseMember(_ member: Substring) -> Entry? {
        var parts = member.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
        let keyValue = parts.removeFirst()
        guard let equals = keyValue.firstIndex(of: "=") else { return nil }
        let key = TraceState.trimOWS(keyValue[keyValue.startIndex..<equals])
        let rawValue = TraceState.trimOWS(keyValue[keyValue.index(after: equals)...])
        guard isToken(key), rawValue.utf8.allSatisfy(isBaggageOctet), let value = percentDecode(rawValue) else {
            return nil
        }
        let metadata = parts.first.map { String(TraceState.trimOWS($0)) }
        return Entry(key: String(key), value: value, metadata: metadata)
    }

    /// RFC 7230 `token`: 1 or more `tchar`.
    package static func isToken(_ text: Substring) -> Bool {
        guard !text.isEmpty else { return false }
        return text.utf8.allSatisfy { byte in
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
            case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
                UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
                return true
            default: return false
            }
        }
    }

    /// `baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`.
    static func isBaggageOctet(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x21, 0x23...0x2B, 0x2D...0x3A, 0x3C...0x5B, 0x5D...0x7E: return true
        default: return false
        }
    }

    /// Decodes `%XX` escapes; invalid UTF-8 becomes U+FFFD. A malformed escape fails the member.
    static func percentDecode(_ text: Substring) -> String? {
        PercentDecoding.decode(text, invalidUTF8: .replace)
    }

    static func percentEncode(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        let digits = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            if isBaggageOctet(byte) && byte != UInt8(ascii: "%") {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
