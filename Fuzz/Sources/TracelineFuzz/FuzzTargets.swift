import ExaiProtocol
import Instrumentation
import ServiceContextModule
@_spi(Fuzzing) import Traceline
@_spi(Fuzzing) import TracelineCore
@_spi(Fuzzing) import TracelineOTLP

/// One parser under fuzzing: it gets raw bytes and checks what the parser promises about its
/// result. A crash, a trap or a broken `precondition` is a finding.
struct FuzzTarget: Sendable {
    let name: String
    let run: @Sendable (UnsafeRawBufferPointer) -> Void

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "traceparent", run: traceparent),
        FuzzTarget(name: "tracestate", run: tracestate),
        FuzzTarget(name: "baggage", run: baggage),
        FuzzTarget(name: "correlation-id", run: correlationID),
        FuzzTarget(name: "resource-attributes", run: resourceAttributes),
        FuzzTarget(name: "otlp-headers", run: otlpHeaders),
        FuzzTarget(name: "daemon-frame", run: daemonFrame),
        FuzzTarget(name: "otlp-response", run: otlpResponse),
        FuzzTarget(name: "redactor", run: redactor),
    ]
}

/// Header values reach us as bytes; Swift carriers hold them as (repaired) UTF-8 strings.
private func text(_ bytes: UnsafeRawBufferPointer) -> String {
    String(decoding: bytes, as: UTF8.self)
}

/// A header carrier as the HTTP integrations build it.
private struct HeaderExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key] ?? carrier.first { $0.key.lowercased() == key.lowercased() }?.value
    }
}

/// `traceparent` (+ the first line as `tracestate` when there are two): a parsed value formats
/// back to a header that parses to the same IDs; the propagator extracts exactly that.
private func traceparent(_ bytes: UnsafeRawBufferPointer) {
    let input = text(bytes)
    let lines = input.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
    let header = String(lines[0])
    let parsed = W3CTraceContextPropagator.parseTraceparent(header)
    var context = ServiceContext.topLevel
    var carrier = ["traceparent": header]
    if lines.count > 1 { carrier["tracestate"] = String(lines[1]) }
    W3CTraceContextPropagator().extract(carrier, into: &context, using: HeaderExtractor())
    guard let parsed else {
        precondition(context.spanContext == nil, "an invalid traceparent produced a parent")
        return
    }
    let extracted = context.spanContext
    precondition(
        extracted?.traceID == parsed.traceID && extracted?.spanID == parsed.spanID, "extract disagrees with parse")
    let formatted = W3CTraceContextPropagator.formatTraceparent(
        SpanContext(traceID: parsed.traceID, spanID: parsed.spanID, traceFlags: parsed.flags, isRemote: true))
    precondition(formatted.utf8.count == 55, "formatted traceparent is not 55 characters")
    let again = W3CTraceContextPropagator.parseTraceparent(formatted)
    precondition(
        again?.traceID == parsed.traceID && again?.spanID == parsed.spanID && again?.flags == parsed.flags,
        "traceparent does not survive format → parse")
}

/// `tracestate`: at most 32 members, unique keys, and the header we would send parses back to
/// the members it kept, within 512 characters.
private func tracestate(_ bytes: UnsafeRawBufferPointer) {
    guard let state = TraceState(headerValue: text(bytes)) else { return }
    precondition(state.members.count <= TraceState.maxMembers, "more than 32 members")
    precondition(Set(state.members.map(\.key)).count == state.members.count, "duplicate keys kept")
    let header = state.headerValue
    precondition(header.utf8.count <= TraceState.maxPropagatedLength, "propagated tracestate over 512 characters")
    guard let reparsed = TraceState(headerValue: header) else { preconditionFailure("our tracestate does not parse") }
    let kept = Set(reparsed.members.map { "\($0.key)=\($0.value)" })
    precondition(kept.isSubset(of: Set(state.members.map { "\($0.key)=\($0.value)" })), "tracestate changed members")
}

/// `baggage`: within the W3C limits, and what we send parses back to the same entries.
private func baggage(_ bytes: UnsafeRawBufferPointer) {
    let (parsed, dropped) = Baggage.parse(headerValue: text(bytes))
    precondition(dropped >= 0 && parsed.entries.count <= Baggage.maxMembers, "baggage over 64 members")
    let header = parsed.headerValue
    let (again, droppedAgain) = Baggage.parse(headerValue: header)
    precondition(droppedAgain == 0 || header.utf8.count > Baggage.maxBytes, "our baggage header loses members")
    if droppedAgain == 0 {
        precondition(again.entries.map(\.key) == parsed.entries.map(\.key), "baggage keys change across a round trip")
        precondition(
            again.entries.map(\.value) == parsed.entries.map(\.value), "baggage values change across a round trip")
    }
}

/// `X-Correlation-ID`: an accepted ID is the allow-listed input itself; the propagator always
/// leaves a valid ID in the context (the input or a fresh one).
private func correlationID(_ bytes: UnsafeRawBufferPointer) {
    let input = text(bytes)
    if let id = CorrelationID(input) {
        precondition(id.value == input, "accepted ID differs from the input")
        precondition(CorrelationID.validate(input) == nil, "validate and init disagree")
        precondition(id.value.utf8.count <= CorrelationID.maxLength, "accepted ID over the length limit")
    } else {
        precondition(CorrelationID.validate(input) != nil, "rejected ID without a reason")
    }
    var context = ServiceContext.topLevel
    CorrelationIDPropagator().extract(["X-Correlation-ID": input], into: &context, using: HeaderExtractor())
    guard let extracted = context.correlationID else { preconditionFailure("no correlation ID after extract") }
    precondition(CorrelationID.validate(extracted.value) == nil, "extract left an invalid ID")
}

/// `OTEL_RESOURCE_ATTRIBUTES`: a list is applied whole or rejected whole with a warning that
/// never echoes it; the configuration always ends up with a service name.
private func resourceAttributes(_ bytes: UnsafeRawBufferPointer) {
    let input = text(bytes)
    let configuration = TracelineConfiguration.fromEnvironment(["OTEL_RESOURCE_ATTRIBUTES": input])
    switch KeyValueListParser.parse(input) {
    case .success(let pairs):
        for pair in pairs where pair.key != "service.name" {
            precondition(!pair.key.isEmpty, "empty key accepted")
            precondition(
                configuration.resource.attributes.get(pair.key) != nil, "accepted attribute missing from the resource")
        }
    case .failure:
        precondition(
            configuration.warnings.contains { $0.hasPrefix("OTEL_RESOURCE_ATTRIBUTES ignored") },
            "rejected list without a warning")
    }
    precondition(configuration.resource.attributes.get("service.name") != nil, "no service.name")
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: every header we would send has a token name and a value without
/// CR, LF or NUL (no header injection); warnings never contain the values.
private func otlpHeaders(_ bytes: UnsafeRawBufferPointer) {
    let input = text(bytes)
    var warnings: [String] = []
    let configuration = OTLPExporterConfiguration.fromEnvironment(
        ["OTEL_EXPORTER_OTLP_HEADERS": input], warnings: &warnings)
    for header in configuration.headers {
        precondition(
            !header.name.isEmpty && !header.name.utf8.contains { $0 <= 0x20 || $0 == UInt8(ascii: ":") || $0 >= 0x7F },
            "unsafe header name")
        precondition(
            !header.value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 }, "CR, LF or NUL in a header value")
    }
    // Every warning is one of the two templates, filled only with a header name or the parser's
    // own words: no room for a value. (Searching the warnings for each value gave four kinds of
    // false positive, never a real echo: a value equal to the variable's name, to a header name
    // as warnings show it, or to a name plus the template's quote, and a NUL-padded value.)
    let variable = "OTEL_EXPORTER_OTLP_HEADERS"
    switch KeyValueListParser.parse(input) {
    case .success(let pairs):
        let templates = Set(
            pairs.map { "\(variable): header '\(shown($0.key))' has an invalid name or value; ignored" })
        precondition(
            warnings.allSatisfy { templates.contains($0) }, "a warning outside the templates (could echo a value)")
    case .failure(let failure):
        precondition(
            warnings == ["\(variable) ignored: \(failure)"],
            "a rejected list gives exactly one warning, in the parser's words")
    }
}

/// A name as the SDK's warnings show it: characters outside printable ASCII become "?", and at
/// most 40 are shown.
private func shown(_ text: String) -> String {
    let printable = String(
        String.UnicodeScalarView(text.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7F ? $0 : "?" }))
    return printable.count > 40 ? String(printable.prefix(40)) + "…" : printable
}

/// The exai-daemon's frame parser: a frame is a message with a string op, or a clear problem;
/// the correlation ID it yields is always valid.
private func daemonFrame(_ bytes: UnsafeRawBufferPointer) {
    switch ClientFrame.parse(text(bytes)) {
    case .success(let frame):
        precondition(frame.json.objectValue != nil, "a message that is not an object")
        if frame.op == "call_tool" { precondition(!(frame.toolName ?? "").isEmpty, "call_tool without a name") }
        if let id = frame.correlationID {
            precondition(CorrelationID.validate(id.value) == nil, "invalid correlation ID")
        }
        _ = frame.requestID
        if let traceparent = frame.traceparent { _ = W3CTraceContextPropagator.parseTraceparent(traceparent) }
        _ = frame.json.serialized
    case .failure(.invalidMessage(let reason)):
        precondition(!reason.isEmpty, "a problem without a reason")
    case .failure(.invalidJSON):
        break
    }
}

/// A collector's answer: the partial success of a 2xx, the `Status` of a failure, and the
/// `Retry-After` header (the first line, when the input has two).
private func otlpResponse(_ bytes: UnsafeRawBufferPointer) {
    if let partial = OTLPResponseDecoder.partialSuccess(bytes) {
        precondition(partial.rejectedSpans >= 0, "negative rejected_spans")
    }
    _ = OTLPResponseDecoder.statusMessage(bytes)
    if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
        let header = String(decoding: bytes[..<newline], as: UTF8.self)
        if let delay = RetryAfter.delay(header, nowSeconds: 1_790_000_000) {
            precondition(delay >= .zero, "negative Retry-After delay")
        }
    }
}

/// `SecretRedactor`: at most `maximumLength` characters plus `…`; a password written after the
/// text is never shown; and the input is cut before it is scanned, so text past its first 2.3 KiB
/// changes nothing and a call on the input repeated to 64 KiB stays within 5 ms.
private func redactor(_ bytes: UnsafeRawBufferPointer) {
    let input = text(bytes)
    let redacted = SecretRedactor.redact(input)
    precondition(redacted.count <= SecretRedactor.maximumLength + 1, "redacted text over maximumLength + 1 characters")
    let marker = "Zq9MARKERzQ1"
    if !input.contains("Zq9MAR") {
        precondition(
            !SecretRedactor.redact(input + " password=" + marker).contains("Zq9MAR"),
            "a password after the text was shown")
    }
    var long = input.isEmpty ? "a1B" : input
    while long.utf8.count < 64 << 10 { long += long }
    precondition(
        SecretRedactor.redact(long) == SecretRedactor.redact(long + " password=hunter2 and more"),
        "the output depends on text past the window")
    // Best of three, so that a preemption on a loaded machine is not a finding.
    var fastest = Duration.seconds(60)
    for _ in 0..<3 {
        let start = ContinuousClock.now
        _ = SecretRedactor.redact(long)
        fastest = min(fastest, ContinuousClock.now - start)
    }
    precondition(fastest < .milliseconds(5), "redact took \(fastest) on \(long.utf8.count) bytes")
}
