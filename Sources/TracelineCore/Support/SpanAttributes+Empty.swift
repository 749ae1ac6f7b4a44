import Tracing

extension SpanAttributes {
    /// No attributes, made by storing the empty dictionary singleton. `SpanAttributes()` and `[:]`
    /// both go through the variadic dictionary-literal initializer, about 65 instructions a span.
    @inline(__always)
    static var empty: SpanAttributes { SpanAttributes([String: SpanAttribute]()) }

    private static let roomForEight = [String: SpanAttribute](minimumCapacity: 8)

    /// No attributes, sharing one empty dictionary with room for 8: the first write copies it,
    /// and the copy keeps the room. Copying allocates through the stdlib with one run-time
    /// generic-metadata lookup; `Dictionary(minimumCapacity:)` and `reserveCapacity` are not
    /// specialised in this module and take two (about 400 instructions more a span).
    @inline(__always)
    static var withRoomForEight: SpanAttributes { SpanAttributes(roomForEight) }
}
