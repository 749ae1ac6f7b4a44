import Synchronization
import Tracing

/// An immutable record of an ended span: what processors and exporters receive.
///
/// It is built once, when `end()` is called, from the span's state at that moment; later calls on
/// the span change nothing. Dropped counts say how much the span limits cut away.
public struct FinishedSpan: Sendable {
    /// The span's operation name when it ended.
    public let name: String
    /// The span's kind.
    public let kind: SpanKind
    /// The span's IDs, flags and trace state.
    public let spanContext: SpanContext
    /// The parent's span ID, nil for a root span.
    public let parentSpanID: SpanID?
    /// True when the parent was extracted from another process.
    public let parentIsRemote: Bool
    /// Start time, in nanoseconds since the Unix epoch.
    public let startTimeNanosecondsSinceEpoch: UInt64
    /// End time, in nanoseconds since the Unix epoch.
    public let endTimeNanosecondsSinceEpoch: UInt64
    /// The attributes kept within the span limits.
    public let attributes: SpanAttributes
    /// The events kept within the span limits, in the order they were added.
    public let events: [Event]
    /// The links kept within the span limits.
    public let links: [Link]
    /// nil means "unset".
    public let status: SpanStatus?
    /// Attributes the span limits cut away.
    public let droppedAttributesCount: Int
    /// Events the span limits cut away.
    public let droppedEventsCount: Int
    /// Links the span limits cut away.
    public let droppedLinksCount: Int
    @usableFromInline package unowned(unsafe) let origin: TracerOrigin

    // The accessors below are inlinable: processors in other modules (span metrics) read them for
    // every span.

    /// The resource of the tracer provider that created the span.
    @inlinable public var resource: Resource { origin.resource }
    /// The instrumentation scope of the tracer that created the span.
    @inlinable public var instrumentationScope: InstrumentationScope { origin.scope }
    /// The resource's `service.name` (``Resource/serviceName``), read once per tracer rather than
    /// looked up in the resource's attributes for every span.
    @inlinable public var serviceName: String { origin.serviceName }

    /// End time minus start time, in nanoseconds; 0 if the end precedes the start.
    @inlinable public var durationNanoseconds: UInt64 {
        endTimeNanosecondsSinceEpoch >= startTimeNanosecondsSinceEpoch
            ? endTimeNanosecondsSinceEpoch - startTimeNanosecondsSinceEpoch : 0
    }

    /// A timed event recorded on the span.
    public struct Event: Sendable {
        /// The event's name.
        public let name: String
        /// When the event happened, in nanoseconds since the Unix epoch.
        public let timeNanosecondsSinceEpoch: UInt64
        /// The event's attributes kept within the limits.
        public let attributes: SpanAttributes
        /// Event attributes the limits cut away.
        public let droppedAttributesCount: Int
    }

    /// A link to another span.
    public struct Link: Sendable {
        /// The context of the linked span.
        public let spanContext: SpanContext
        /// The link's attributes kept within the limits.
        public let attributes: SpanAttributes
        /// Link attributes the limits cut away.
        public let droppedAttributesCount: Int
    }
}

/// The resource and scope shared by every span of one tracer.
///
/// Origins are interned and never freed, so spans refer to them with `unowned(unsafe)` and pay no
/// reference counting: every span's start, end and export would otherwise touch one shared
/// counter from producer and export threads alike (a contended cache line, measured). There is
/// one origin per distinct (resource, scope) pair a process creates tracers for.
@usableFromInline package final class TracerOrigin: Sendable {
    @usableFromInline package let resource: Resource
    @usableFromInline package let scope: InstrumentationScope
    @usableFromInline package let serviceName: String

    private init(resource: Resource, scope: InstrumentationScope) {
        self.resource = resource
        self.scope = scope
        self.serviceName = resource.serviceName
    }

    /// Every origin ever made; nothing is removed, which is what makes `unowned(unsafe)` safe.
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
