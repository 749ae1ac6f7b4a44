import Tracing

extension SpanAttributes {
    /// No attributes, made by storing the empty dictionary singleton. `SpanAttributes()` and `[:]`
    /// both go through the variadic dictionary-literal initializer, about 65 instructions a span.
    @inline(__always)
    static var empty: SpanAttributes { SpanAttributes([String: SpanAttribute]()) }
}
