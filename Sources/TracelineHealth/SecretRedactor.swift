import TracelineCore
import TracelineMetrics

/// Replaces secrets in free text with `***` before the text leaves the process (health reports,
/// trace pages, tool errors): URL credentials, `password=…` / `"api_key": "…"` pairs, bearer, `sk-`
/// and Zhipu API keys, long mixed-case tokens; the result is cut to `maximumLength` characters.
/// It reads at most the first `maximumLength` characters plus 256 bytes (≤ 2.3 KiB), in five
/// linear passes over their UTF-8 bytes, so its cost does not grow with the input's length.
public enum SecretRedactor {
    /// Longest output kept, in characters; the rest is cut with `…`.
    public static let maximumLength = 512

    /// Returns `text` with secret-looking parts replaced by `***`, cut to `maximumLength` characters.
    public static func redact(_ text: String) -> String {
        let total = text.utf8.count
        if let result = text.utf8.withContiguousStorageIfAvailable({ Scan.redact($0, total: total) }) {
            return result
        }
        let prefix = Array(text.utf8.prefix(Scan.windowLimit + 1))
        return prefix.withUnsafeBufferPointer { Scan.redact($0, total: total) }
    }
}

/// The input's first bytes, redacted by one linear pass per rule family, in the order the rules
/// have priority: URL credentials, key–value pairs, bearer tokens, `sk-` keys, opaque tokens. A
/// later pass sees the earlier passes' `***`, so a match that overlaps an earlier one (`Bearer
/// api_key=…`) cannot uncover part of it. Only the first `maximumLength` characters are kept;
/// the 256 bytes after them are read so that a secret crossing the cut is still recognised.
private struct Scan {
    /// Bytes read after the visible part, for secrets that cross the cut.
    static let margin = 256
    /// Bytes that always hold `maximumLength` scalars plus the margin.
    static let windowLimit = SecretRedactor.maximumLength * 4 + margin

    enum Rule { case urlCredentials, keyValue, bearer, openAIKey, token }

    /// The text as the passes so far left it (the window of the input).
    var input: [UInt8]
    var output: [UInt8] = []
    /// Offset in `input` where the kept part ends.
    var visibleEnd: Int
    /// True once a replacement started in the kept part (which may then be over the length).
    var replacedVisibleText = false
    /// In the current pass: `input` before this offset is in `output`.
    var copied = 0
    /// In the current pass: where the candidate being tried starts.
    var matchStart = 0
    /// True when the original text goes on after the window: a candidate that reaches the
    /// window's end may be longer, and is redacted.
    let inputGoesOn: Bool

    static func redact(_ bytes: UnsafeBufferPointer<UInt8>, total: Int) -> String {
        let windowEnd = scalarStart(bytes, atOrBefore: min(total, windowLimit), total: total)
        let visibleEnd = visibleBoundary(bytes, windowEnd: windowEnd, total: total)
        let end = scalarStart(bytes, atOrBefore: min(windowEnd, visibleEnd + margin), total: total)
        var scan = Scan(
            input: Array(UnsafeBufferPointer(rebasing: bytes[0..<end])), visibleEnd: visibleEnd,
            inputGoesOn: end < total)
        scan.output.reserveCapacity(end + 64)
        scan.apply(.urlCredentials) { byte, _ in byte == .colon }
        scan.apply(.keyValue) { byte, previous in
            byte == .quote || byte == .apostrophe || (byte.isKeyCharacter && !previous.isKeyCharacter)
        }
        scan.apply(.bearer) { byte, previous in byte | 0x20 == UInt8(ascii: "b") && !previous.isWordCharacter }
        scan.apply(.openAIKey) { byte, previous in byte == UInt8(ascii: "s") && !previous.isWordCharacter }
        scan.apply(.token) { byte, previous in byte.isTokenCharacter && !previous.isTokenCharacter }
        return scan.result()
    }

    /// One pass of `rule` over `input`, tried where `mayStart` says the byte (after the previous
    /// one) can begin a match; `visibleEnd` follows the text (a replacement that starts before it
    /// is kept whole). Text between replacements is copied in one piece.
    mutating func apply(_ rule: Rule, mayStartAfter mayStart: (_ byte: UInt8, _ previous: UInt8) -> Bool) {
        output.removeAll(keepingCapacity: true)
        var mappedVisibleEnd: Int?
        copied = 0
        var index = 0
        while index < input.count {
            let candidate = input.withUnsafeBufferPointer { bytes in
                var offset = index
                while offset < bytes.count && !mayStart(bytes[offset], offset > 0 ? bytes[offset - 1] : .space) {
                    offset += 1
                }
                return offset
            }
            if candidate >= visibleEnd && mappedVisibleEnd == nil {
                mappedVisibleEnd = output.count + max(index, visibleEnd) - copied
            }
            guard candidate < input.count else { break }
            matchStart = candidate
            if let next = replace(rule, at: candidate) {
                if candidate < visibleEnd { replacedVisibleText = true }
                (index, copied) = (next, next)
            } else {
                index = candidate + 1
            }
        }
        output.append(contentsOf: input[copied..<input.count])
        visibleEnd = mappedVisibleEnd ?? output.count
        swap(&input, &output)
    }

    /// The kept part, cut to `maximumLength` characters (only replacements can have made it
    /// longer), with `…` when anything was left out.
    func result() -> String {
        let text = String(decoding: input[0..<visibleEnd], as: UTF8.self)
        if replacedVisibleText && visibleEnd > SecretRedactor.maximumLength,
            let cut = text.index(text.startIndex, offsetBy: SecretRedactor.maximumLength, limitedBy: text.endIndex),
            cut < text.endIndex
        {
            return String(text[..<cut]) + "…"
        }
        return visibleEnd < input.count || inputGoesOn ? text + "…" : text
    }

    // MARK: Window

    /// `offset` moved back to the start of the scalar it falls in.
    static func scalarStart(_ bytes: UnsafeBufferPointer<UInt8>, atOrBefore offset: Int, total: Int) -> Int {
        var offset = offset
        while offset > 0 && offset < total && bytes[offset] & 0xC0 == 0x80 { offset -= 1 }
        return offset
    }

    /// Byte offset after the first `maximumLength` characters (grapheme clusters) of the window,
    /// never inside a character.
    static func visibleBoundary(_ bytes: UnsafeBufferPointer<UInt8>, windowEnd: Int, total: Int) -> Int {
        // ASCII: one byte per character, except CR LF.
        var offset = 0
        var characters = 0
        while characters < SecretRedactor.maximumLength && offset < windowEnd {
            let byte = bytes[offset]
            if byte >= 0x80 { return graphemeBoundary(bytes, windowEnd: windowEnd, total: total) }
            offset += byte == .cr && offset + 1 < windowEnd && bytes[offset + 1] == .lf ? 2 : 1
            characters += 1
        }
        // A combining mark after the last ASCII character belongs to it.
        if offset < windowEnd && bytes[offset] >= 0x80 {
            return graphemeBoundary(bytes, windowEnd: windowEnd, total: total)
        }
        return offset
    }

    /// Character boundaries inside the window are those of the whole text, except that the
    /// window's last character may go on past a cut window.
    static func graphemeBoundary(_ bytes: UnsafeBufferPointer<UInt8>, windowEnd: Int, total: Int) -> Int {
        let window = String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<windowEnd]), as: UTF8.self)
        var index = window.startIndex
        var characters = 0
        while characters < SecretRedactor.maximumLength && index < window.endIndex {
            index = window.index(after: index)
            characters += 1
        }
        if index == window.endIndex && windowEnd < total && index > window.startIndex {
            index = window.index(before: index)
        }
        return window.utf8.distance(from: window.startIndex, to: index)
    }

    // MARK: Rules

    /// Rules read no byte from here on.
    var end: Int { input.count }

    /// Appends the replacement of a secret that `rule` finds at `index` and returns where it ends,
    /// or nil (and appends nothing).
    mutating func replace(_ rule: Rule, at index: Int) -> Int? {
        switch rule {
        case .urlCredentials: return urlCredentials(at: index)
        case .keyValue:
            return input[index] == .quote || input[index] == .apostrophe ? quotedField(at: index) : keyValue(at: index)
        case .bearer: return bearer(at: index)
        case .openAIKey: return openAIKey(at: index)
        case .token: return token(at: index)
        }
    }

    /// `scheme://userinfo@host` → `scheme://***@host` (at the `:` of `://`; the scheme was copied).
    /// The userinfo ends at the last `@` before the first `/` or whitespace, so a password may hold
    /// `@`, `?` or `#`.
    mutating func urlCredentials(at index: Int) -> Int? {
        guard index + 2 < end, input[index + 1] == .slash, input[index + 2] == .slash else { return nil }
        var schemeIndex = index - 1
        var hasLetter = false
        while schemeIndex >= 0 && input[schemeIndex].isSchemeCharacter {
            if input[schemeIndex].isLetter { hasLetter = true; break }
            schemeIndex -= 1
        }
        guard hasLetter else { return nil }
        let start = index + 3
        var offset = start
        var lastAt = -1
        while offset < end && input[offset] != .slash && !input[offset].isSpace {
            if input[offset] == .at { lastAt = offset }
            offset += 1
        }
        if offset == end && inputGoesOn && offset > start {
            append("://***")  // the authority goes on past the window: its `@` may be there
            return end
        }
        guard lastAt > start else { return nil }
        append("://***@")
        return lastAt + 1
    }

    /// `"password": "x"`, `'token': 'x'`, `"access_token":"x"` → the value becomes `***` (quotes
    /// kept); a bare value (`"pin": 1234`) likewise; objects, arrays, null, true and false stay.
    mutating func quotedField(at index: Int) -> Int? {
        let quote = input[index]
        var keyEnd = index + 1
        let keyLimit = min(end, index + 65)
        while keyEnd < keyLimit && input[keyEnd] != quote && input[keyEnd] != .lf { keyEnd += 1 }
        guard keyEnd < end, input[keyEnd] == quote, isSecretKey(index + 1, keyEnd),
            let value = valueOffset(afterKey: keyEnd + 1)
        else {
            return nil
        }
        let first = input[value]
        if first == .quote || first == .apostrophe {
            var close = value + 1
            while close < end && input[close] != first { close += input[close] == .backslash ? 2 : 1 }
            if close < end || inputGoesOn {
                append(from: index, to: value + 1)
                append("***")
                if close < end { output.append(first) }
                return min(close + 1, end)
            }
        } else if first == .openBrace || first == .openBracket || isLiteral(at: value) {
            return nil
        }
        let bareEnd = bareValueEnd(from: value, stopAt: { $0.endsJSONValue })
        guard bareEnd > value else { return nil }
        append(from: index, to: value)
        append("***")
        return endAfterSwallowedKeys(valueStart: value, valueEnd: bareEnd)
    }

    /// `password=x`, `token: "x"`, `Authorization: Bearer x`, `DB_PASSWORD=x` → `key=***` (the
    /// separator kept, the value and its quotes or auth scheme replaced).
    mutating func keyValue(at index: Int) -> Int? {
        var keyEnd = index
        while keyEnd < end && input[keyEnd].isKeyCharacter { keyEnd += 1 }
        guard isSecretKey(index, keyEnd), let value = valueOffset(afterKey: keyEnd),
            let valueEnd = keyValueEnd(from: value)
        else {
            return nil
        }
        append(from: index, to: value)
        append("***")
        return valueEnd
    }

    /// After a key: optional whitespace, `=` or `:`, optional whitespace; where the value starts.
    func valueOffset(afterKey keyEnd: Int) -> Int? {
        let separator = skipSpaces(from: keyEnd)
        guard separator < end, input[separator] == .colon || input[separator] == .equals else { return nil }
        let value = skipSpaces(from: separator + 1)
        return value < end ? value : nil
    }

    /// Where a `key=value` value starting at `value` ends.
    func keyValueEnd(from value: Int) -> Int? {
        guard let (start, valueEnd, bare) = singleValueEnd(from: value) else { return nil }
        return bare ? endAfterSwallowedKeys(valueStart: start, valueEnd: valueEnd) : valueEnd
    }

    /// A bare value that swallowed the start of another secret (`x"token=` then ` y`, `x'api_key`
    /// then ` = y`, `x-Bearer` or `x&pwd=Basic` then ` y`) would leave that secret behind: the
    /// match goes on to its end.
    func endAfterSwallowedKeys(valueStart: Int, valueEnd: Int) -> Int {
        var (start, valueEnd, bare) = (valueStart, valueEnd, true)
        while bare {
            let separatorInside = input[valueEnd - 1] == .equals || input[valueEnd - 1] == .colon
            if hasSecretKey(endingAt: separatorInside ? valueEnd - 1 : valueEnd, from: start) {
                guard let next = separatorInside ? skipSpaces(from: valueEnd) : valueOffset(afterKey: valueEnd),
                    next < end, let following = singleValueEnd(from: next)
                else { break }
                (start, valueEnd, bare) = following
            } else if valueEnd < end && input[valueEnd].isSpace,
                let scheme = authSchemeStart(endingAt: valueEnd, from: start),
                startsWithLowercased("bearer", at: scheme)
                    || (scheme > start && (input[scheme - 1] == .equals || input[scheme - 1] == .colon)
                        && hasSecretKey(endingAt: scheme - 1, from: start))
            {
                let token = skipSpaces(from: valueEnd)
                let tokenEnd = bareValueEnd(from: token, stopAt: { $0.isSpace || $0 == .comma || $0 == .semicolon })
                guard tokenEnd > token else { break }
                (start, valueEnd) = (token, tokenEnd)
            } else {
                break
            }
        }
        return valueEnd
    }

    /// `input[start..<keyEnd]` ends in a secret key, possibly quoted.
    func hasSecretKey(endingAt keyEnd: Int, from start: Int) -> Bool {
        var keyEnd = keyEnd
        if keyEnd > start && (input[keyEnd - 1] == .quote || input[keyEnd - 1] == .apostrophe) { keyEnd -= 1 }
        var keyStart = keyEnd
        while keyStart > start && input[keyStart - 1].isKeyCharacter { keyStart -= 1 }
        return keyStart < keyEnd && isSecretKey(keyStart, keyEnd)
    }

    /// Where `bearer`, `basic` or `digest` (any case, as a whole word) starts when
    /// `input[start..<wordEnd]` ends in one.
    func authSchemeStart(endingAt wordEnd: Int, from start: Int) -> Int? {
        for scheme: StaticString in ["bearer", "basic", "digest"] {
            let word = wordEnd - scheme.utf8CodeUnitCount
            if word >= start && startsWithLowercased(scheme, at: word)
                && (word == start || !input[word - 1].isWordCharacter)
            {
                return word
            }
        }
        return nil
    }

    /// One value: a quoted string (to the window's end if it is cut there), or an optional
    /// `bearer`/`basic`/`digest` and a run up to whitespace, `,`, `;` or `&`.
    func singleValueEnd(from value: Int) -> (start: Int, end: Int, bare: Bool)? {
        let first = input[value]
        if first == .quote || first == .apostrophe {
            var close = value + 1
            while close < end && input[close] != first { close += 1 }
            if close < end { return (value, close + 1, false) }
            if inputGoesOn { return (value, end, false) }
        }
        var start = value
        if let afterScheme = afterAuthScheme(at: value), afterScheme < end, !input[afterScheme].endsValue {
            start = afterScheme
        }
        let valueEnd = bareValueEnd(from: start, stopAt: { $0.endsValue })
        return valueEnd > start ? (start, valueEnd, true) : nil
    }

    /// `Bearer x` (any case) → `Bearer ***`; the token ends at whitespace, `,` or `;`.
    mutating func bearer(at index: Int) -> Int? {
        guard startsWithLowercased("bearer", at: index) else { return nil }
        let start = index + 6
        guard start < end, input[start].isSpace else { return nil }
        var tokenStart = skipSpaces(from: start)
        var tokenEnd = bareValueEnd(from: tokenStart, stopAt: { $0.isSpace || $0 == .comma || $0 == .semicolon })
        guard tokenEnd > tokenStart else { return nil }
        // A token that ends in another `bearer` (`x&Bearer y`) goes on to that one's end.
        while tokenEnd < end && input[tokenEnd].isSpace,
            let scheme = authSchemeStart(endingAt: tokenEnd, from: tokenStart),
            startsWithLowercased("bearer", at: scheme)
        {
            let next = skipSpaces(from: tokenEnd)
            let nextEnd = bareValueEnd(from: next, stopAt: { $0.isSpace || $0 == .comma || $0 == .semicolon })
            guard nextEnd > next else { break }
            (tokenStart, tokenEnd) = (next, nextEnd)
        }
        append("Bearer ***")
        return tokenEnd
    }

    /// `sk-` and at least 8 of `[A-Za-z0-9_-]` → `sk-***` (with a Zhipu key's `.secret` when the
    /// run ends in its 32 hex digits).
    mutating func openAIKey(at index: Int) -> Int? {
        guard index + 3 <= end, input[index + 1] == UInt8(ascii: "k"), input[index + 2] == .hyphen else { return nil }
        var keyEnd = index + 3
        var hexTail = 0
        while keyEnd < end && (input[keyEnd].isAlphanumeric || input[keyEnd] == .underscore || input[keyEnd] == .hyphen)
        {
            hexTail = input[keyEnd].isHexDigit ? hexTail + 1 : 0
            keyEnd += 1
        }
        guard keyEnd - (index + 3) >= 8 || (keyEnd == end && inputGoesOn) else { return nil }
        append("sk-***")
        return zhipuSecretEnd(hexEnd: keyEnd, hexLength: hexTail) ?? keyEnd
    }

    /// A run of `[A-Za-z0-9+/_-]` (the whole run, from its start): a Zhipu key (32+ hex, `.`,
    /// 10+ alphanumerics) → `***`; 32+ characters with an upper, a lower and a digit, plus up to
    /// two `=` → `***`. A long run that goes on past a cut window is redacted without the test.
    mutating func token(at index: Int) -> Int? {
        var runEnd = index
        var upper = false, lower = false, digit = false
        var hexTail = 0
        while runEnd < end, input[runEnd].isTokenCharacter {
            let byte = input[runEnd]
            if byte.isUppercase {
                upper = true
            } else if byte.isLowercase {
                lower = true
            } else if byte.isDigit {
                digit = true
            }
            hexTail = byte.isHexDigit ? hexTail + 1 : 0
            runEnd += 1
        }
        if let secretEnd = zhipuSecretEnd(hexEnd: runEnd, hexLength: hexTail) {
            append(from: index, to: runEnd - hexTail)
            append("***")
            return secretEnd
        }
        guard runEnd - index >= 32, (upper && lower && digit) || (runEnd == end && inputGoesOn) else { return nil }
        var padEnd = runEnd
        while padEnd < end && padEnd - runEnd < 2 && input[padEnd] == .equals { padEnd += 1 }
        append("***")
        return padEnd
    }

    // MARK: Helpers

    /// Where a Zhipu key's secret (`.` and 10+ alphanumerics) ends, when `hexLength` (32+) hex
    /// digits end at `hexEnd`.
    func zhipuSecretEnd(hexEnd: Int, hexLength: Int) -> Int? {
        guard hexLength >= 32, hexEnd < end, input[hexEnd] == .period else { return nil }
        var secretEnd = hexEnd + 1
        while secretEnd < end && input[secretEnd].isAlphanumeric { secretEnd += 1 }
        return secretEnd - (hexEnd + 1) >= 10 || (secretEnd == end && inputGoesOn) ? secretEnd : nil
    }

    /// Keys whose value is a secret, lowercase; a key matches when it is one of them or ends in
    /// one after `_`, `-`, `.` or a camel-case hump (`client_secret`, `X-Api-Key`, `accessToken`).
    static let secretKeys: [[UInt8]] = [
        "password", "passwd", "pwd", "passphrase", "secret", "token", "auth", "authorization",
        "apikey", "api_key", "api-key", "accesskey", "access_key", "access-key",
        "secretkey", "secret_key", "secret-key", "privatekey", "private_key", "private-key",
    ].map { Array($0.utf8) }
    /// By byte: whether one of `secretKeys` ends in it; turns most keys away at once.
    static let endsSecretKey: [Bool] = (0...255).map { byte in secretKeys.contains { $0.last == UInt8(byte) } }

    func isSecretKey(_ start: Int, _ keyEnd: Int) -> Bool {
        guard keyEnd - start >= 3, Self.endsSecretKey[Int(input[keyEnd - 1].lowercased)] else { return false }
        for word in Self.secretKeys where keyEnd - start >= word.count {
            let wordStart = keyEnd - word.count
            guard (0..<word.count).allSatisfy({ input[wordStart + $0].lowercased == word[$0] }) else { continue }
            if wordStart == start { return true }
            let before = input[wordStart - 1]
            if before == .underscore || before == .hyphen || before == .period { return true }
            if input[wordStart].isUppercase && (before.isLowercase || before.isDigit) { return true }
        }
        return false
    }

    /// `bearer`, `basic` or `digest` (any case) and whitespace at `index`: where the credential starts.
    func afterAuthScheme(at index: Int) -> Int? {
        for scheme: StaticString in ["bearer", "basic", "digest"] where startsWithLowercased(scheme, at: index) {
            let after = index + scheme.utf8CodeUnitCount
            guard after < end, input[after].isSpace else { return nil }
            return skipSpaces(from: after)
        }
        return nil
    }

    /// `null`, `true` or `false` ending at a non-alphanumeric byte (or the input's end).
    func isLiteral(at index: Int) -> Bool {
        for literal: StaticString in ["null", "true", "false"] where startsWithLowercased(literal, at: index) {
            let after = index + literal.utf8CodeUnitCount
            return after < end ? !input[after].isAlphanumeric : !inputGoesOn
        }
        return false
    }

    /// `word` (lowercase) is at `index`, in any case.
    func startsWithLowercased(_ word: StaticString, at index: Int) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= end else { return false }
        for offset in 0..<count where input[index + offset].lowercased != word.utf8Start[offset] { return false }
        return true
    }

    func skipSpaces(from index: Int) -> Int {
        var offset = index
        while offset < end && input[offset].isSpace { offset += 1 }
        return offset
    }

    func bareValueEnd(from index: Int, stopAt isEnd: (UInt8) -> Bool) -> Int {
        var offset = index
        while offset < end && !isEnd(input[offset]) { offset += 1 }
        return offset
    }

    /// Appends part of a replacement (the text before the match first, once the match is sure).
    mutating func append(_ text: StaticString) {
        copyUpToMatch()
        output.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Appends `input[start..<stop]` as part of a replacement.
    mutating func append(from start: Int, to stop: Int) {
        copyUpToMatch()
        output.append(contentsOf: input[start..<stop])
    }

    mutating func copyUpToMatch() {
        guard copied < matchStart else { return }
        output.append(contentsOf: input[copied..<matchStart])
        copied = matchStart
    }
}

extension UInt8 {
    fileprivate static let lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r"), space = UInt8(ascii: " ")
    fileprivate static let colon = UInt8(ascii: ":"), equals = UInt8(ascii: "="), slash = UInt8(ascii: "/")
    fileprivate static let at = UInt8(ascii: "@"), quote = UInt8(ascii: "\""), apostrophe = UInt8(ascii: "'")
    fileprivate static let backslash = UInt8(ascii: "\\"), comma = UInt8(ascii: ","), semicolon = UInt8(ascii: ";")
    fileprivate static let ampersand = UInt8(ascii: "&"), period = UInt8(ascii: "."), hyphen = UInt8(ascii: "-")
    fileprivate static let underscore = UInt8(ascii: "_"), plus = UInt8(ascii: "+")
    fileprivate static let openBrace = UInt8(ascii: "{"), closeBrace = UInt8(ascii: "}")
    fileprivate static let openBracket = UInt8(ascii: "["), closeBracket = UInt8(ascii: "]")

    fileprivate var isUppercase: Bool { self >= 0x41 && self <= 0x5A }
    fileprivate var isLowercase: Bool { self >= 0x61 && self <= 0x7A }
    fileprivate var isLetter: Bool { isUppercase || isLowercase }
    fileprivate var isDigit: Bool { self >= 0x30 && self <= 0x39 }
    fileprivate var isAlphanumeric: Bool { isLetter || isDigit }
    fileprivate var isHexDigit: Bool { isDigit || (self | 0x20 >= 0x61 && self | 0x20 <= 0x66) }
    fileprivate var lowercased: UInt8 { isUppercase ? self | 0x20 : self }
    /// ASCII whitespace: space, tab, LF, VT, FF, CR.
    fileprivate var isSpace: Bool { self == .space || (self >= 0x09 && self <= 0x0D) }
    /// `[A-Za-z0-9_]`: the characters a word boundary is measured against.
    fileprivate var isWordCharacter: Bool { isAlphanumeric || self == .underscore }
    /// `[A-Za-z0-9_.-]`: the characters of a `key=value` key.
    fileprivate var isKeyCharacter: Bool { isWordCharacter || self == .period || self == .hyphen }
    /// `[A-Za-z0-9+/_-]`: the characters of an opaque token (base64 and base64url).
    fileprivate var isTokenCharacter: Bool { isWordCharacter || self == .plus || self == .slash || self == .hyphen }
    /// `[A-Za-z0-9+.-]`: the characters of a URL scheme.
    fileprivate var isSchemeCharacter: Bool { isAlphanumeric || self == .plus || self == .period || self == .hyphen }
    /// Ends a bare `key=value` value: whitespace, `,`, `;`, `&`.
    fileprivate var endsValue: Bool { isSpace || self == .comma || self == .semicolon || self == .ampersand }
    /// Ends a bare JSON value: those, `}` and `]`.
    fileprivate var endsJSONValue: Bool { endsValue || self == .closeBrace || self == .closeBracket }
}
