import Tracing

// The span loops every harness measures. Inlinable so that each caller gets them specialised for
// its tracer, as a user's code would; never inlined, so profilers and callgrind's
// `--toggle-collect='*spanLoop*'` find them by name.

/// The loop the issue names: `withSpan("op", ofKind: .client)` setting two string and two int attributes.
@inlinable @inline(never)
public func spanLoop<T: Tracer>(_ tracer: T, count: Int) {
    for index in 0..<count {
        tracer.withSpan("op", context: .topLevel, ofKind: .client) { span in
            span.attributes["peer.service"] = "kimi"
            span.attributes["gen_ai.request.model"] = "kimi-k2"
            span.attributes["http.response.status_code"] = 200
            span.attributes["iteration"] = index
        }
    }
}

/// The floor: `withSpan` with no attributes, the span handed to an opaque function. Without that,
/// the optimiser deletes a NoOp span nothing reads, and the loop costs nothing at all. (NoOpTracer's
/// `attributes` getter returns a fresh dictionary, so the 4-attribute NoOp loop allocates on every
/// write: it is a padded baseline, this row is not.) Its name must not contain `Span`: a mangled
/// name may refer back to an earlier `Span` word, which `--toggle-collect` patterns then miss.
@inlinable @inline(never)
public func bareLoop<T: Tracer>(_ tracer: T, count: Int) {
    for _ in 0..<count {
        tracer.withSpan("op", context: .topLevel, ofKind: .client) { span in keep(span) }
    }
}

nonisolated(unsafe) var keptSpans = 0

/// Reads the span where the optimiser cannot see: about ten instructions per call.
@inline(never) @_optimize(none) @usableFromInline
func keep(_ span: any Span) {
    _ = span.context
    keptSpans &+= 1
}
