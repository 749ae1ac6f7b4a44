import Testing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

/// One test per rule, each with text that must change and text that must not; then the cut.
/// Speed is measured in Benchmarks (`--redact`) and checked by the `redactor` fuzz target.
@Suite("SecretRedactor") struct SecretRedactorTests {
    static let prose = [
        "",
        "the token was rejected, check your password",
        "passwords: 3 attempts left; password_reset=sent; max_tokens: 100; tokenizer: bpe",
        "oauth=enabled authentication: failed",
        "https://api.example.com/v1/chat?model=glm-4 returned 503",
        "mailto:ops@example.com and file:///tmp/x@y",
        "héllo wörld 日本語 👨‍👩‍👧 🇺🇸 e\u{301}",
    ]

    @Test("text without secrets comes back unchanged", arguments: prose)
    func unchanged(text: String) {
        #expect(SecretRedactor.redact(text) == text)
    }

    @Test(
        "URL credentials: scheme://***@host",
        arguments: [
            (
                "cannot connect to postgres://admin:hunter2@db.internal:5432/app",
                "cannot connect to postgres://***@db.internal:5432/app"
            ),
            ("redis://:s3cret@cache:6379", "redis://***@cache:6379"),
            ("https://user@host/x", "https://***@host/x"),
            ("(amqp+ssl://guest:guest@mq)", "(amqp+ssl://***@mq)"),
        ])
    func urlCredentials(input: String, expected: String) {
        #expect(SecretRedactor.redact(input) == expected)
    }

    @Test(
        "URL credentials: the userinfo ends at the last @, so a password may hold @, # or ?",
        arguments: [
            ("postgres://u:p@ss@db:5432/x", "postgres://***@db:5432/x"),
            ("postgres://admin:p#ss?w0rd@db/x", "postgres://***@db/x"),
            ("mysql://root:a@b@c@localhost", "mysql://***@localhost"),
        ])
    func urlCredentialsWithAt(input: String, expected: String) {
        #expect(SecretRedactor.redact(input) == expected)
    }

    @Test(
        "URL credentials: an @ after the path, or no scheme, is not userinfo",
        arguments: [
            "https://example.com/users/@me", "https://example.com/a b@c", "://x@y", "1://x@y", "http://@host",
        ])
    func urlWithoutCredentials(text: String) {
        #expect(SecretRedactor.redact(text) == text)
    }

    @Test(
        "key=value and key: value pairs keep the key and separator",
        arguments: [
            ("password=hunter2", "password=***"),
            ("PASSWORD: hunter2 next", "PASSWORD: *** next"),
            ("pwd = 'a b c' rest", "pwd = *** rest"),
            ("token: \"x y\"; next", "token: ***; next"),
            ("Authorization: Bearer abc.def", "Authorization: ***"),
            ("authorization=Basic dXNlcjpwYXNz", "authorization=***"),
            ("GET /x?api_key=abc&page=2", "GET /x?api_key=***&page=2"),
            (
                "api-key: k1, apikey: k2, access_key=k3; access-key=k4 secret=k5 auth=k6 passwd=k7",
                "api-key: ***, apikey: ***, access_key=***; access-key=*** secret=*** auth=*** passwd=***"
            ),
            (
                "DB_PASSWORD=hunter2 X-Api-Key: k1 accessToken=k2 client.secret=k3",
                "DB_PASSWORD=*** X-Api-Key: *** accessToken=*** client.secret=***"
            ),
        ])
    func keyValue(input: String, expected: String) {
        #expect(SecretRedactor.redact(input) == expected)
    }

    @Test(
        "JSON and dictionary fields: the value becomes ***, quotes kept",
        arguments: [
            (#"{"password":"hunter2"}"#, #"{"password":"***"}"#),
            (#"{"api_key": "abc", "user": "bob"}"#, #"{"api_key": "***", "user": "bob"}"#),
            ("{'token': 'x', 'user': 'bob'}", "{'token': '***', 'user': 'bob'}"),
            (
                #"{"access_token":"a","client_secret":"b","refresh_token":"c","expires_in":3600}"#,
                #"{"access_token":"***","client_secret":"***","refresh_token":"***","expires_in":3600}"#
            ),
            (#"{"Password": "with \"escaped\" quotes", "n": 1}"#, #"{"Password": "***", "n": 1}"#),
            (#"{"pin_token": 123456}"#, #"{"pin_token": ***}"#),
        ])
    func jsonFields(input: String, expected: String) {
        #expect(SecretRedactor.redact(input) == expected)
    }

    @Test(
        "JSON fields that are not secrets, or hold no secret, stay",
        arguments: [
            #"{"token_type":"Bearer","user":"x"}"#,
            #"{"token": null, "auth": true}"#,
            #"{"auth": {"user": "bob"}}"#,
            #"{"description":"password","tokens":42}"#,
        ])
    func jsonFieldsUnchanged(text: String) {
        #expect(SecretRedactor.redact(text) == text)
    }

    @Test(
        "bearer tokens: Bearer ***",
        arguments: [
            ("call failed: bearer abc123, retrying", "call failed: Bearer ***, retrying"),
            ("BEARER\teyJhbGciOiJIUzI1NiJ9.payload.sig", "Bearer ***"),
        ])
    func bearer(input: String, expected: String) {
        #expect(SecretRedactor.redact(input) == expected)
    }

    @Test("the word bearer alone stays", arguments: ["bearers of bad news", "Bearer", "a bearer, then"])
    func bearerWord(text: String) {
        #expect(SecretRedactor.redact(text) == text)
    }

    @Test(
        "sk- keys: sk-***",
        arguments: [
            ("key sk-live0123456789abcdef used", "key sk-*** used"),
            ("sk-proj-AbC_12-xyzABC", "sk-***"),
        ])
    func openAIKey(input: String, expected: String) {
        #expect(SecretRedactor.redact(input) == expected)
    }

    @Test(
        "sk- that is too short or inside a word stays",
        arguments: ["sk-short", "task-abcdefghij", "disk-usage-is-high"])
    func openAIKeyLookalikes(text: String) {
        #expect(SecretRedactor.redact(text) == text)
    }

    @Test(
        "long mixed-case tokens: ***",
        arguments: [
            ("id AbCdEf0123456789AbCdEf0123456789XyZ end", "id *** end"),
            ("QWxhZGRpbjpvcGVuIHNlc2FtZQQWxhZGRpbjpvcGVuIHNlc2FtZQ== rest", "*** rest"),
            ("x a+b/C9d_e-f0123456789ABCDEFghijklmn y", "x *** y"),
        ])
    func opaqueToken(input: String, expected: String) {
        #expect(SecretRedactor.redact(input) == expected)
    }

    @Test(
        "identifiers that are not mixed-case tokens stay",
        arguments: [
            String(repeating: "abcdefghij", count: 4),  // 40 lowercase letters
            "commit 4bf92f3577b34da6a3ce929d0e0e473600f067aa",  // a git SHA
            "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",  // W3C trace and span IDs
            "550e8400-e29b-41d4-a716-446655440000",  // a UUID
            "AbCdEf0123456789AbCdEf012345678",  // 31 characters
            "ALLUPPERCASE0123456789ABCDEFGHIJKLMNOP",  // no lowercase
        ])
    func opaqueTokenLookalikes(text: String) {
        #expect(SecretRedactor.redact(text) == text)
    }

    @Test(
        "Zhipu (GLM) API keys: 32 hex, a dot and an alphanumeric secret become ***",
        arguments: [
            ("glm key 0123456789abcdef0123456789abcdef.AbCdEfGh12345678 rejected", "glm key *** rejected"),
            ("4bf92f3577b34da6a3ce929d0e0e4736.k3y5ecr3t0", "***"),
            ("key-0123456789abcdef0123456789abcdef.abcdefghijklmnop", "key-***"),
        ])
    func zhipuKey(input: String, expected: String) {
        #expect(SecretRedactor.redact(input) == expected)
    }

    @Test(
        "hex IDs without a long alphanumeric suffix stay",
        arguments: [
            "commit 4bf92f3577b34da6a3ce929d0e0e473600f067aa.",
            "file 0123456789abcdef0123456789abcdef.json",
            "short 0123456789abcdef0123456789abcde.AbCdEfGh12345678",  // 31 hex
        ])
    func zhipuLookalikes(text: String) {
        #expect(SecretRedactor.redact(text) == text)
    }

    /// (head, unit, count): `head` then `count` copies of `unit`, about 1 MiB (built in the test,
    /// so that the test's name stays short).
    @Test(
        "the input is cut before it is scanned: 1 MiB gives at most 512 characters and …",
        arguments: [
            ("", "a1B", 350_000),
            ("", "@", 1 << 20),
            ("postgres://", "@", 1 << 20),
            ("", "password=", 120_000),
            ("", "x", 1 << 20),
            ("", "日本語", 120_000),
            ("a", "\u{301}", 500_000),  // one character of 1 MB
        ])
    func cutBeforeMatch(head: String, unit: String, count: Int) {
        let redacted = SecretRedactor.redact(head + String(repeating: unit, count: count))
        #expect(redacted.count <= SecretRedactor.maximumLength + 1)
        #expect(redacted.hasSuffix("…"))
    }

    @Test("the cut is at maximumLength characters, on character boundaries")
    func cutLength() {
        let exact = String(repeating: "x", count: SecretRedactor.maximumLength)
        #expect(SecretRedactor.redact(exact) == exact)
        #expect(SecretRedactor.redact(exact + "y") == exact + "…")
        #expect(SecretRedactor.redact(exact + "\r\n") == exact + "…")
        let accented = String(repeating: "e\u{301}", count: 600)
        #expect(SecretRedactor.redact(accented) == String(repeating: "e\u{301}", count: 512) + "…")
        // 512 ASCII characters, the last with a combining mark: the mark is not split off.
        let marked = String(repeating: "x", count: 511) + "e\u{301}" + "tail"
        #expect(SecretRedactor.redact(marked) == String(repeating: "x", count: 511) + "e\u{301}" + "…")
        for text in [String(repeating: "🇺🇸", count: 600), String(repeating: "👨‍👩‍👧", count: 600)] {
            let redacted = SecretRedactor.redact(text)
            #expect(redacted.count <= SecretRedactor.maximumLength + 1)
            #expect(redacted.hasSuffix("…"))
            #expect(redacted.dropLast().allSatisfy { $0 == text.first }, "no character cut in half")
        }
        // Replacements can make the text longer than the input: the output is still cut.
        let grown = String(repeating: "bearer x ", count: 57)
        #expect(grown.count == 513 && SecretRedactor.redact(grown).count == SecretRedactor.maximumLength + 1)
    }

    @Test(
        "a secret that crosses the 512-character cut shows none of itself",
        arguments: [
            "password=hunter2hunter2hunter2hunter2",
            "AbCdEf0123456789AbCdEf0123456789XyZ",
            "sk-live0123456789abcdef",
            "postgres://admin:hunter2hunter2@db",
            #"{"api_key": "hunter2hunter2hunter2"}"#,
            "Authorization: Bearer hunter2hunter2hunter2",
            "0123456789abcdef0123456789abcdef.hunter2hunter2hunter2",
        ])
    func secretAcrossTheCut(secret: String) {
        for filler in ["lorem ipsum ", "é ü ", "日本 "] {
            for start in [490, 500, 505, 510] {
                var text = String(repeating: filler, count: start / filler.count + 1)
                text = String(text.prefix(start - 1)) + " " + secret + " and more text after it"
                let redacted = SecretRedactor.redact(text)
                #expect(redacted.count <= SecretRedactor.maximumLength + 1)
                for leak in ["hunter", "AbCdEf", "live01", "89abcdef"] {
                    #expect(!redacted.contains(leak), "\(leak) at \(start) after \(filler): \(redacted.suffix(40))")
                }
            }
        }
    }

    @Test("a secret written past the cut window is redacted as far as it is shown")
    func longSecretAcrossTheWindow() {
        // A token far longer than the 256 bytes read after the cut: it runs to the window's end.
        let token = String(repeating: "abcdefgh", count: 100) + "AB12"
        let redacted = SecretRedactor.redact(String(repeating: "x ", count: 250) + token)
        #expect(!redacted.contains("abcdefgh"))
        let url = "postgres://admin:" + String(repeating: "p", count: 600) + "@db"
        #expect(!SecretRedactor.redact(String(repeating: "x ", count: 240) + url).contains("ppp"))
    }

    @Test(
        "overlapping secrets: a value that swallows the next key does not uncover its value",
        arguments: [
            (#"password=x"token= hunter2"#, "hunter2"),
            ("auth=x'api_key = hunter2", "hunter2"),
            ("token:Bearer hunter2", "hunter2"),
            ("bearer  apikey = 'hunter2'", "hunter2"),
            ("Bearer x&\"BEARER\thunter2", "hunter2"),
        ])
    func overlapping(input: String, secret: String) {
        #expect(!SecretRedactor.redact(input).contains(secret), "\(SecretRedactor.redact(input))")
    }
}
