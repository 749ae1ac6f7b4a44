/// Names the library or module that produced a span, exported as the OTLP instrumentation scope.
public struct InstrumentationScope: Hashable, Sendable {
    /// The library or module name.
    public var name: String
    /// The library's version, if known.
    public var version: String?

    /// Creates a scope.
    /// - Parameters:
    ///   - name: the library or module name.
    ///   - version: the library's version, or nil.
    public init(name: String, version: String? = nil) {
        self.name = name
        self.version = version
    }
}
