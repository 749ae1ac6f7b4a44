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

    public var operationName: String {
        get { storage.operationName }
        nonmutating set { storage.setOperationName(newValue) }
    }

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

    public var isRecording: Bool { storage.isRecording }

    public func setStatus(_ status: SpanStatus) { storage.setStatus(status) }

    public func addEvent(_ event: SpanEvent) { storage.addEvent(event) }

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

    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        guard storage.isRecording else { return }
        storage.end(at: instant().nanosecondsSinceEpoch)
    }
}
