import Tracing

/// The span handle Traceline's tracer returns: a two-word value (the shared state and the span's
/// context), so it fits an existential inline and copies for free.
public struct TracelineSpan: Tracing.Span {
    let storage: SpanStorage

    /// The context carrying this span; child spans started in it become its children.
    public let context: ServiceContext

    init(storage: SpanStorage, context: ServiceContext) {
        self.storage = storage
        self.context = context
    }

    /// This span's IDs and flags.
    public var spanContext: SpanContext { storage.spanContext }

    /// The span's name; changes after `end` are ignored, as are changes to a non-recording span.
    public var operationName: String {
        get { storage.operationName }
        nonmutating set { storage.setOperationName(newValue) }
    }

    /// The span's attributes; writes beyond the attribute limit are dropped and counted.
    public var attributes: SpanAttributes {
        get { storage.currentAttributes }
        nonmutating set { storage.replaceAttributes(newValue) }
        nonmutating _modify {
            let storage = self.storage
            storage.lock.lock()
            defer { storage.lock.unlock() }
            let previous = storage.prepareAttributeWrite()
            yield &storage.attributes
            storage.finishAttributeWrite(previous: previous)
        }
    }

    /// Whether the span records data, that is, whether the sampler did not drop it.
    public var isRecording: Bool { storage.isRecording }

    /// Sets the span's status; an OK status is final. See `Span.setStatus`.
    public func setStatus(_ status: SpanStatus) { storage.setStatus(status) }

    /// Adds an event within the event limit; see `Span.addEvent`.
    public func addEvent(_ event: SpanEvent) { storage.addEvent(event) }

    /// Adds a link within the link limit; see `Span.addLink`.
    public func addLink(_ link: SpanLink) { storage.addLink(link) }

    /// Records an `exception` event with `exception.type` and `exception.message`.
    public func recordError<Instant: TracerInstant>(
        _ error: any Error,
        attributes: SpanAttributes,
        at instant: @autoclosure () -> Instant
    ) {
        guard storage.isRecording else { return }
        var eventAttributes = attributes
        eventAttributes.set("exception.type", value: .string(String(reflecting: type(of: error))))
        eventAttributes.set("exception.message", value: .string(String(describing: error)))
        storage.addEvent(SpanEvent(name: "exception", at: instant(), attributes: eventAttributes))
    }

    /// Ends the span once and hands its record to the processors; see `Span.end`.
    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        guard storage.isRecording else { return }
        storage.end(at: instant().nanosecondsSinceEpoch)
    }
}
