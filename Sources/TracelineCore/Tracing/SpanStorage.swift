import Tracing

/// The state behind one span, shared by every copy of its `TracelineSpan` handle and referenced
/// from the span's `ServiceContext` (so child spans can read the parent's IDs without a lookup table).
///
/// Identity fields are immutable; the recorded data sits behind an inline ``SpinLock``.
/// `end()` moves the data out into a ``FinishedSpan`` and hands it to the processors.
///
/// `@unchecked Sendable` and `@exclusivity(unchecked)`: every mutable field is read and written
/// only between `lock.lock()` and `lock.unlock()`. `origin` is `unowned(unsafe)` because
/// ``TracerOrigin`` values are interned and never freed.
final class SpanStorage: @unchecked Sendable {
    let spanContext: SpanContext
    let parentSpanID: SpanID?
    let parentIsRemote: Bool
    let kind: SpanKind
    let startTime: UInt64
    let isRecording: Bool
    /// The provider the ended span is delivered to; nil for a non-recording span, which
    /// delivers nothing.
    let recordingProvider: TracerProvider?
    unowned(unsafe) let origin: TracerOrigin  // interned, immortal

    let lock = SpinLock()
    // Everything below is guarded by `lock`.
    @exclusivity(unchecked) private var name: String
    // The spin lock already makes access exclusive; the runtime check would add a 3-word access
    // record to each write's coroutine frame and push it onto the heap.
    @exclusivity(unchecked) var attributes: SpanAttributes
    @exclusivity(unchecked) private var events: [SpanEvent] = []
    @exclusivity(unchecked) private var links: [FinishedSpan.Link] = []
    @exclusivity(unchecked) private var status: SpanStatus?
    private var droppedAttributes = 0
    private var droppedEvents = 0
    private var droppedLinks = 0
    private var ended = false

    init(
        name: String,
        spanContext: SpanContext,
        parentSpanID: SpanID?,
        parentIsRemote: Bool,
        kind: SpanKind,
        startTime: UInt64,
        recordingProvider: TracerProvider?,
        origin: TracerOrigin,
        attributes: SpanAttributes
    ) {
        self.name = name
        self.spanContext = spanContext
        self.parentSpanID = parentSpanID
        self.parentIsRemote = parentIsRemote
        self.kind = kind
        self.startTime = startTime
        self.isRecording = recordingProvider != nil
        self.recordingProvider = recordingProvider
        self.origin = origin
        self.attributes = attributes
    }

    private var limits: SpanLimits { recordingProvider?.limits ?? SpanLimits() }

    var operationName: String {
        lock.lock(); defer { lock.unlock() }
        return name
    }

    func setOperationName(_ newValue: String) {
        guard isRecording else { return }
        lock.lock(); defer { lock.unlock() }
        if !ended { name = newValue }
    }

    var currentAttributes: SpanAttributes {
        guard isRecording else { return [:] }
        lock.lock(); defer { lock.unlock() }
        return attributes
    }

    func replaceAttributes(_ newValue: SpanAttributes) {
        guard isRecording else { return }
        lock.lock(); defer { lock.unlock() }
        guard !ended else { return }
        attributes = newValue
        enforceAttributeCountLimit(previous: nil)
    }

    // In-place attribute writes (`span.attributes[key] = value`), driven by `TracelineSpan`'s
    // `_modify`: the caller holds `lock` and mutates `attributes` directly, so a write copies nothing.
    // These live here rather than in a `_modify` of our own because each nested coroutine level
    // costs a heap-allocated frame per write (measured: 2 mallocs per attribute write).

    /// Called with the lock held before the write. Returns the keys to compare with afterwards, only
    /// when the span is at its attribute limit (the rare case that needs them).
    @inline(__always)
    func prepareAttributeWrite() -> SpanAttributes? {
        // Room for 8 before the first write, so four attributes never rehash.
        if attributes.isEmpty { attributes = .withRoomForEight }
        guard isRecording else { return nil }
        return attributes.count >= limits.attributeCountLimit ? attributes : nil
    }

    /// Called with the lock held after the write: enforces the count limit; discards writes to a
    /// span that has ended (its record is already frozen) or does not record.
    @inline(__always)
    func finishAttributeWrite(previous: SpanAttributes?) {
        // A non-recording span keeps what was written (never read, never exported) so that its
        // dictionary is allocated once rather than on every write.
        guard isRecording else { return }
        if ended {
            attributes = .empty
            return
        }
        if attributes.count > limits.attributeCountLimit { enforceAttributeCountLimit(previous: previous) }
    }

    /// Drops attributes beyond the count limit: the newly added keys when we know them, otherwise
    /// arbitrary ones (the dictionary has no order). Every drop is counted.
    private func enforceAttributeCountLimit(previous: SpanAttributes?) {
        let limit = limits.attributeCountLimit
        guard attributes.count > limit else { return }
        var excess = attributes.count - limit
        var victims: [String] = []
        attributes.forEach { key, _ in
            guard excess > 0 else { return }
            if let previous, previous.get(key) != nil { return }
            victims.append(key)
            excess -= 1
        }
        if excess > 0 {
            attributes.forEach { key, _ in
                guard excess > 0, !victims.contains(key) else { return }
                victims.append(key)
                excess -= 1
            }
        }
        for key in victims { attributes.set(key, value: nil) }
        droppedAttributes += victims.count
    }

    func addEvent(_ event: SpanEvent) {
        guard isRecording else { return }
        lock.lock(); defer { lock.unlock() }
        guard !ended else { return }
        if events.count >= limits.eventCountLimit {
            droppedEvents += 1
        } else {
            events.append(event)
        }
    }

    func addLink(_ link: SpanLink) {
        guard isRecording else { return }
        // A link needs a span context to point at; a context without one is not linkable.
        guard let target = link.context.spanContext else { return }
        let linkLimit = limits.linkAttributeCountLimit
        let (attributes, dropped) = Self.truncate(link.attributes, toCount: linkLimit)
        lock.lock(); defer { lock.unlock() }
        guard !ended else { return }
        if links.count >= limits.linkCountLimit {
            droppedLinks += 1
        } else {
            links.append(
                FinishedSpan.Link(spanContext: target, attributes: attributes, droppedAttributesCount: dropped))
        }
    }

    func setStatus(_ newStatus: SpanStatus) {
        guard isRecording else { return }
        lock.lock(); defer { lock.unlock() }
        guard !ended else { return }
        // OTel: Ok is final; a description only belongs to Error.
        if status?.code == .ok { return }
        status = newStatus.code == .ok ? SpanStatus(code: .ok) : newStatus
    }

    /// Ends the span once; later calls are ignored. Returns the finished record for recording spans.
    func end(at endTime: UInt64) {
        guard let recordingProvider else { return }
        lock.lock()
        if ended {
            lock.unlock()
            return
        }
        ended = true
        let name = self.name
        // Moved out rather than copied, so the record takes them without a retain and release each.
        var attributes = SpanAttributes.empty
        swap(&attributes, &self.attributes)
        var events: [SpanEvent] = []
        swap(&events, &self.events)
        var links: [FinishedSpan.Link] = []
        swap(&links, &self.links)
        let status = self.status
        var droppedAttributes = self.droppedAttributes
        lock.unlock()

        let limits = recordingProvider.limits
        if let maxLength = limits.attributeValueLengthLimit {
            attributes = Self.truncateValues(attributes, maxLength: maxLength)
        }
        if attributes.count > limits.attributeCountLimit {
            let (kept, dropped) = Self.truncate(attributes, toCount: limits.attributeCountLimit)
            attributes = kept
            droppedAttributes += dropped
        }
        let finishedEvents: [FinishedSpan.Event] =
            events.isEmpty
            ? []
            : events.map { event in
                var eventAttributes = event.attributes
                if let maxLength = limits.attributeValueLengthLimit {
                    eventAttributes = Self.truncateValues(eventAttributes, maxLength: maxLength)
                }
                let (kept, dropped) = Self.truncate(eventAttributes, toCount: limits.eventAttributeCountLimit)
                return FinishedSpan.Event(
                    name: event.name,
                    timeNanosecondsSinceEpoch: event.nanosecondsSinceEpoch,
                    attributes: kept,
                    droppedAttributesCount: dropped
                )
            }

        let finished = FinishedSpan(
            name: name,
            kind: kind,
            spanContext: spanContext,
            parentSpanID: parentSpanID,
            parentIsRemote: parentIsRemote,
            startTimeNanosecondsSinceEpoch: startTime,
            endTimeNanosecondsSinceEpoch: endTime,
            attributes: attributes,
            events: finishedEvents,
            links: links,
            status: status,
            droppedAttributesCount: droppedAttributes,
            droppedEventsCount: droppedEvents,
            droppedLinksCount: droppedLinks,
            origin: origin
        )
        recordingProvider.spanEnded(finished)
    }

    /// Keeps at most `count` attributes (which ones is unspecified: the dictionary has no order).
    static func truncate(_ attributes: SpanAttributes, toCount count: Int) -> (SpanAttributes, Int) {
        guard attributes.count > count else { return (attributes, 0) }
        var kept = SpanAttributes()
        var dropped = 0
        attributes.forEach { key, value in
            if kept.count < count { kept.set(key, value: value) } else { dropped += 1 }
        }
        return (kept, dropped)
    }

    /// Cuts string values (and string array elements) to `maxLength` characters.
    static func truncateValues(_ attributes: SpanAttributes, maxLength: Int) -> SpanAttributes {
        var result = attributes
        attributes.forEach { key, value in
            switch value {
            // A string has at least as many UTF-8 bytes as characters: the O(1) byte count rules most out.
            case .string(let text) where text.utf8.count > maxLength && text.count > maxLength:
                result.set(key, value: .string(String(text.prefix(maxLength))))
            case .stringArray(let texts)
            where texts.contains(where: { $0.utf8.count > maxLength && $0.count > maxLength }):
                result.set(key, value: .stringArray(texts.map { String($0.prefix(maxLength)) }))
            case .stringConvertible(let convertible):
                let text = String(describing: convertible)
                if text.count > maxLength { result.set(key, value: .string(String(text.prefix(maxLength)))) }
            default:
                break
            }
        }
        return result
    }
}
