/// Names the library or module that produced a span, exported as the OTLP instrumentation scope.
public struct InstrumentationScope: Hashable, Sendable {
    public var name: String
    public var version: String?

    public init(name: String, version: String? = nil) {
        self.name = name
        self.version = version
    }
}
