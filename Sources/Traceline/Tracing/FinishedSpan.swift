import Synchronization
import Tracing

/// An immutable record of an ended span: what processors and exporters receive.
///
/// It is built once, when `end()` is called, from the span's state at that moment; later calls on
/// the span change nothing. Dropped counts say how much the span limits cut away.
public struct FinishedSpan: Sendable {
    public let name: String
    public let kind: SpanKind
    public let spanContext: SpanContext
    /// The parent's span ID, nil for a root span.
    public let parentSpanID: SpanID?
    /// True when the parent was extracted from another process.
    public let parentIsRemote: Bool
    public let startTimeNanosecondsSinceEpoch: UInt64
    public let endTimeNanosecondsSinceEpoch: UInt64
    public let attributes: SpanAttributes
    public let events: [Event]
    public let links: [Link]
    /// nil means "unset".
    public let status: SpanStatus?
    public let droppedAttributesCount: Int
    public let droppedEventsCount: Int
    public let droppedLinksCount: Int
    unowned(unsafe) let origin: TracerOrigin

    /// The resource of the tracer provider that created the span.
    public var resource: Resource { origin.resource }
    /// The instrumentation scope of the tracer that created the span.
    public var instrumentationScope: InstrumentationScope { origin.scope }

    public var durationNanoseconds: UInt64 {
        endTimeNanosecondsSinceEpoch >= startTimeNanosecondsSinceEpoch
            ? endTimeNanosecondsSinceEpoch - startTimeNanosecondsSinceEpoch : 0
    }

    /// A timed event recorded on the span.
    public struct Event: Sendable {
        public let name: String
        public let timeNanosecondsSinceEpoch: UInt64
        public let attributes: SpanAttributes
        public let droppedAttributesCount: Int
    }

    /// A link to another span.
    public struct Link: Sendable {
        public let spanContext: SpanContext
        public let attributes: SpanAttributes
        public let droppedAttributesCount: Int
    }
}

/// The resource and scope shared by every span of one tracer.
///
/// Origins are interned and never freed, so spans refer to them with `unowned(unsafe)` and pay no
/// reference counting: every span's start, end and export would otherwise touch one shared
/// counter from producer and export threads alike (a contended cache line, measured). There is
/// one origin per distinct (resource, scope) pair a process creates tracers for.
final class TracerOrigin: Sendable {
    let resource: Resource
    let scope: InstrumentationScope

    private init(resource: Resource, scope: InstrumentationScope) {
        self.resource = resource
        self.scope = scope
    }

    private static let interned = LockedValue<[TracerOrigin]>([])

    static func intern(resource: Resource, scope: InstrumentationScope) -> TracerOrigin {
        interned.withLock { origins in
            if let existing = origins.first(where: { $0.scope == scope && $0.resource == resource }) { return existing }
            let origin = TracerOrigin(resource: resource, scope: scope)
            origins.append(origin)
            return origin
        }
    }
}
