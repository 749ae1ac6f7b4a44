/// The W3C `tracestate` list: vendor key/value pairs carried alongside `traceparent`.
///
/// Parsing follows Trace Context Level 2: at most 32 members, Level-2 key grammar
/// (`lcalpha / DIGIT` then up to 255 of `lcalpha DIGIT _ - * / @`), values of 1–256 printable
/// ASCII characters without `,` or `=` and not ending in a space. Any invalid member makes the
/// whole header invalid (the parse returns nil); the caller keeps the `traceparent` regardless.
public struct TraceState: Hashable, Sendable, CustomStringConvertible {
    /// One `key=value` member, in header order.
    public struct Member: Hashable, Sendable {
        /// The vendor key.
        public let key: String
        /// The vendor value.
        public let value: String
    }

    /// Maximum number of members the W3C grammar allows.
    public static let maxMembers = 32
    /// Injected headers are cut to this many characters by removing whole members (W3C §tracestate limits).
    public static let maxPropagatedLength = 512
    /// Members longer than this are removed first when the header must be cut.
    public static let longMemberThreshold = 128

    /// Members in header order (leftmost is the most recently updated vendor).
    public private(set) var members: [Member]

    /// An empty list.
    public init() { self.members = [] }

    /// Parses a (possibly combined) `tracestate` header. Returns nil if the header is invalid.
    public init?(headerValue: String) {
        var members: [Member] = []
        var seenKeys = Set<String>()
        for rawMember in headerValue.split(separator: ",", omittingEmptySubsequences: false) {
            let member = Self.trimOWS(rawMember)
            if member.isEmpty { continue }  // empty and whitespace-only members are allowed
            guard let equals = member.firstIndex(of: "=") else { return nil }
            let key = member[member.startIndex..<equals]
            let value = member[member.index(after: equals)...]
            guard Self.isValidKey(key), Self.isValidValue(value) else { return nil }
            members.append(Member(key: String(key), value: String(value)))
            if members.count > Self.maxMembers { return nil }
            seenKeys.insert(String(key))
        }
        // Duplicate keys are a sender error; keep the leftmost occurrence of each key.
        if seenKeys.count != members.count {
            var kept = Set<String>()
            members = members.filter { kept.insert($0.key).inserted }
        }
        self.members = members
    }

    /// Whether the list has no members.
    public var isEmpty: Bool { members.isEmpty }

    /// The value for `key`, if present.
    public subscript(key: String) -> String? {
        members.first(where: { $0.key == key })?.value
    }

    /// Sets `key` to `value`, moving it to the left as W3C mutation rules require.
    /// Invalid keys or values are ignored (returns false). When the list is full the rightmost member is removed.
    @discardableResult
    public mutating func set(_ key: String, _ value: String) -> Bool {
        guard Self.isValidKey(Substring(key)), Self.isValidValue(Substring(value)) else { return false }
        members.removeAll { $0.key == key }
        members.insert(Member(key: key, value: value), at: 0)
        if members.count > Self.maxMembers { members.removeLast(members.count - Self.maxMembers) }
        return true
    }

    /// Removes `key` if present.
    public mutating func remove(_ key: String) {
        members.removeAll { $0.key == key }
    }

    /// The header value to send: whole members only, at most 512 characters; members over
    /// 128 characters are removed first, then members from the right.
    public var headerValue: String {
        var kept = members
        func length(_ list: [Member]) -> Int {
            list.reduce(0) { $0 + $1.key.utf8.count + 1 + $1.value.utf8.count } + max(0, list.count - 1)
        }
        if length(kept) > Self.maxPropagatedLength {
            while length(kept) > Self.maxPropagatedLength,
                let longIndex = kept.lastIndex(where: {
                    $0.key.utf8.count + 1 + $0.value.utf8.count > Self.longMemberThreshold
                })
            {
                kept.remove(at: longIndex)
            }
            while length(kept) > Self.maxPropagatedLength { kept.removeLast() }
        }
        return kept.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    /// The header value; see `headerValue`.
    public var description: String { headerValue }

    static func trimOWS(_ text: Substring) -> Substring {
        var result = text
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }

    /// Level 2 key: `( lcalpha / DIGIT ) 0*255( lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@" )`.
    static func isValidKey(_ key: Substring) -> Bool {
        let utf8 = key.utf8
        guard let first = utf8.first, utf8.count <= 256 else { return false }
        guard isLowerAlpha(first) || isDigit(first) else { return false }
        for byte in utf8.dropFirst() {
            guard
                isLowerAlpha(byte) || isDigit(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
                    || byte == UInt8(ascii: "*") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "@")
            else { return false }
        }
        return true
    }

    /// Value: 1–256 characters of `%x20-2B / %x2D-3C / %x3E-7E`, last one not a space.
    static func isValidValue(_ value: Substring) -> Bool {
        let utf8 = value.utf8
        guard let last = utf8.last, utf8.count <= 256, last != 0x20 else { return false }
        for byte in utf8 {
            guard byte >= 0x20, byte <= 0x7E, byte != 0x2C, byte != 0x3D else { return false }
        }
        return true
    }

    private static func isLowerAlpha(_ byte: UInt8) -> Bool { byte >= 0x61 && byte <= 0x7A }
    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
}
