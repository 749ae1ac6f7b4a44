import COTLPProto
import TracelineCore
import Tracing

/// Turns finished spans into one OTLP `ExportTraceServiceRequest`, packed by libprotobuf-c.
///
/// This is where a span is encoded. Spans are grouped by resource, then by instrumentation scope;
/// every field the SDK records is carried: IDs, trace state, W3C flags with the has/is-remote
/// parent bits, kind, times, attributes of every SDT kind, events, links, status and the dropped
/// counts. The C structs come from an internal arena that is reused batch after batch, and the
/// request is packed once, into a reserved buffer bounded by the arena's size.
/// Public for custom transports; not thread-safe (one encoder per exporting thread).
public final class OTLPTraceEncoder {
    private let arena = OTLPArena()
    private let packBuffer = OTLPPackBuffer()

    typealias Request = Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    typealias ResourceSpans = Opentelemetry__Proto__Trace__V1__ResourceSpans
    typealias ScopeSpans = Opentelemetry__Proto__Trace__V1__ScopeSpans
    typealias ProtoSpan = Opentelemetry__Proto__Trace__V1__Span
    typealias ProtoEvent = Opentelemetry__Proto__Trace__V1__Span__Event
    typealias ProtoLink = Opentelemetry__Proto__Trace__V1__Span__Link
    typealias ProtoStatus = Opentelemetry__Proto__Trace__V1__Status
    typealias KeyValue = Opentelemetry__Proto__Common__V1__KeyValue
    typealias AnyValue = Opentelemetry__Proto__Common__V1__AnyValue
    typealias ArrayValue = Opentelemetry__Proto__Common__V1__ArrayValue
    typealias ProtoResource = Opentelemetry__Proto__Resource__V1__Resource
    typealias ProtoScope = Opentelemetry__Proto__Common__V1__InstrumentationScope

    /// `Span.flags` bit 8: whether the parent is remote is known. Bit 9: it is remote.
    static let hasIsRemoteMask: UInt32 = 0x100
    static let isRemoteMask: UInt32 = 0x200

    /// Creates an encoder with an empty arena.
    public init() {}

    /// The serialized request for `spans` (empty input gives an empty request).
    public func encode(_ spans: [FinishedSpan]) -> [UInt8] {
        arena.reset()
        let message = UnsafeMutableRawPointer(buildRequest(spans)).assumingMemoryBound(to: ProtobufCMessage.self)
        let bound = Self.packedSizeBound(arenaBytes: arena.bytesAllocated)
        let packed = packBuffer.withReservation(of: bound) { out in
            let size = protobuf_c_message_pack(message, out.assumingMemoryBound(to: UInt8.self))
            precondition(size <= bound, "packed request larger than its bound")
            return [UInt8](UnsafeRawBufferPointer(start: out, count: size))
        }
        return packed ?? packSizedExactly(message)
    }

    /// The same request sized by libprotobuf-c first: used when the pack buffer cannot be mapped.
    func encodeSizedExactly(_ spans: [FinishedSpan]) -> [UInt8] {
        arena.reset()
        return packSizedExactly(
            UnsafeMutableRawPointer(buildRequest(spans)).assumingMemoryBound(to: ProtobufCMessage.self))
    }

    private func packSizedExactly(_ message: UnsafeMutablePointer<ProtobufCMessage>) -> [UInt8] {
        let size = protobuf_c_message_get_packed_size(message)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = size == 0 ? 0 : protobuf_c_message_pack(message, buffer.baseAddress!)
        }
    }

    /// At least the packed size of a request built in an arena that handed out `arenaBytes`.
    ///
    /// Every byte `pack` writes comes from a struct field or string byte of this request's arena,
    /// and no field packs to more than twice the bytes that hold it: a 4- or 8-byte scalar to a tag
    /// and at most 10 bytes, a 16-byte `ProtobufCBinaryData` or an 8-byte message pointer to a tag,
    /// at most 5 length bytes and data copied into the arena, an 8-byte list entry to the same.
    /// The one excess, a negative enum (11 bytes from 4), is covered by each message's 24-byte
    /// header, which packs to nothing.
    static func packedSizeBound(arenaBytes: Int) -> Int { 2 * arenaBytes }

    /// Bytes the arena handed out for the last batch.
    var lastArenaBytes: Int { arena.bytesAllocated }

    private func buildRequest(_ spans: [FinishedSpan]) -> UnsafeMutablePointer<Request> {
        // Group: origin (resource + scope) in first-seen order, then origins by resource. A batch
        // mostly comes from one tracer, so the dictionary is consulted only when the origin changes.
        var originOrder: [ObjectIdentifier] = []
        var spansByOrigin: [ObjectIdentifier: [Int]] = [:]
        var origins: [ObjectIdentifier: TracerOrigin] = [:]
        var runKey: ObjectIdentifier?
        var run: [Int] = []
        run.reserveCapacity(spans.count)
        for index in spans.indices {
            let origin = spans[index].origin
            let key = ObjectIdentifier(origin)
            if key != runKey {
                if let runKey { spansByOrigin[runKey, default: []].append(contentsOf: run) }
                run.removeAll(keepingCapacity: true)
                runKey = key
                if origins.updateValue(origin, forKey: key) == nil { originOrder.append(key) }
            }
            run.append(index)
        }
        if let runKey { spansByOrigin[runKey, default: []].append(contentsOf: run) }
        var resourceGroups: [(resource: Resource, origins: [ObjectIdentifier])] = []
        for key in originOrder {
            let resource = origins[key]!.resource
            if let group = resourceGroups.firstIndex(where: { $0.resource == resource }) {
                resourceGroups[group].origins.append(key)
            } else {
                resourceGroups.append((resource, [key]))
            }
        }

        let request = arena.allocate(Request.self)
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(request)
        request.pointee.n_resource_spans = resourceGroups.count
        let resourceList = arena.allocate(UnsafeMutablePointer<ResourceSpans>?.self, count: resourceGroups.count)
        request.pointee.resource_spans = resourceList
        for (groupIndex, group) in resourceGroups.enumerated() {
            let resourceSpans = arena.allocate(ResourceSpans.self)
            opentelemetry__proto__trace__v1__resource_spans__init(resourceSpans)
            let resource = arena.allocate(ProtoResource.self)
            opentelemetry__proto__resource__v1__resource__init(resource)
            (resource.pointee.n_attributes, resource.pointee.attributes) = keyValues(group.resource.attributes)
            resourceSpans.pointee.resource = resource
            resourceSpans.pointee.n_scope_spans = group.origins.count
            let scopeList = arena.allocate(UnsafeMutablePointer<ScopeSpans>?.self, count: group.origins.count)
            resourceSpans.pointee.scope_spans = scopeList
            for (scopeIndex, key) in group.origins.enumerated() {
                let origin = origins[key]!
                let scopeSpans = arena.allocate(ScopeSpans.self)
                opentelemetry__proto__trace__v1__scope_spans__init(scopeSpans)
                let scope = arena.allocate(ProtoScope.self)
                opentelemetry__proto__common__v1__instrumentation_scope__init(scope)
                scope.pointee.name = arena.binary(origin.scope.name)
                if let version = origin.scope.version { scope.pointee.version = arena.binary(version) }
                scopeSpans.pointee.scope = scope
                let indices = spansByOrigin[key]!
                scopeSpans.pointee.n_spans = indices.count
                let spanList = arena.allocate(UnsafeMutablePointer<ProtoSpan>?.self, count: indices.count)
                // Each span is read in place: passing `spans[index]` copies the whole struct (a retain
                // and a release of every field).
                spans.withUnsafeBufferPointer { spans in
                    for (position, index) in indices.enumerated() {
                        precondition(index < spans.count, "span index outside the batch")
                        spanList[position] = protoSpan(spans.baseAddress! + index)
                    }
                }
                scopeSpans.pointee.spans = spanList
                scopeList[scopeIndex] = scopeSpans
            }
            resourceList[groupIndex] = resourceSpans
        }
        return request
    }

    private func protoSpan(_ span: UnsafePointer<FinishedSpan>) -> UnsafeMutablePointer<ProtoSpan> {
        let proto = arena.allocate(ProtoSpan.self)
        opentelemetry__proto__trace__v1__span__init(proto)
        let context = span.pointee.spanContext
        proto.pointee.trace_id = arena.bigEndian(context.traceID.high, context.traceID.low)
        proto.pointee.span_id = arena.bigEndian(context.spanID.rawValue)
        if !context.traceState.isEmpty { proto.pointee.trace_state = arena.binary(context.traceState.headerValue) }
        if let parent = span.pointee.parentSpanID { proto.pointee.parent_span_id = arena.bigEndian(parent.rawValue) }
        proto.pointee.flags =
            UInt32(context.traceFlags.known.rawValue) | Self.hasIsRemoteMask
            | (span.pointee.parentIsRemote ? Self.isRemoteMask : 0)
        proto.pointee.name = arena.binary(span.pointee.name)
        proto.pointee.kind = Self.kind(span.pointee.kind)
        proto.pointee.start_time_unix_nano = span.pointee.startTimeNanosecondsSinceEpoch
        proto.pointee.end_time_unix_nano = span.pointee.endTimeNanosecondsSinceEpoch
        (proto.pointee.n_attributes, proto.pointee.attributes) = keyValues(span.pointee.attributes)
        proto.pointee.dropped_attributes_count = UInt32(clamping: span.pointee.droppedAttributesCount)
        if !span.pointee.events.isEmpty {
            let list = arena.allocate(UnsafeMutablePointer<ProtoEvent>?.self, count: span.pointee.events.count)
            for (index, event) in span.pointee.events.enumerated() {
                let proto = arena.allocate(ProtoEvent.self)
                opentelemetry__proto__trace__v1__span__event__init(proto)
                proto.pointee.time_unix_nano = event.timeNanosecondsSinceEpoch
                proto.pointee.name = arena.binary(event.name)
                (proto.pointee.n_attributes, proto.pointee.attributes) = keyValues(event.attributes)
                proto.pointee.dropped_attributes_count = UInt32(clamping: event.droppedAttributesCount)
                list[index] = proto
            }
            proto.pointee.n_events = span.pointee.events.count
            proto.pointee.events = list
        }
        proto.pointee.dropped_events_count = UInt32(clamping: span.pointee.droppedEventsCount)
        if !span.pointee.links.isEmpty {
            let list = arena.allocate(UnsafeMutablePointer<ProtoLink>?.self, count: span.pointee.links.count)
            for (index, link) in span.pointee.links.enumerated() {
                let proto = arena.allocate(ProtoLink.self)
                opentelemetry__proto__trace__v1__span__link__init(proto)
                let target = link.spanContext
                proto.pointee.trace_id = arena.bigEndian(target.traceID.high, target.traceID.low)
                proto.pointee.span_id = arena.bigEndian(target.spanID.rawValue)
                if !target.traceState.isEmpty {
                    proto.pointee.trace_state = arena.binary(target.traceState.headerValue)
                }
                (proto.pointee.n_attributes, proto.pointee.attributes) = keyValues(link.attributes)
                proto.pointee.dropped_attributes_count = UInt32(clamping: link.droppedAttributesCount)
                proto.pointee.flags =
                    UInt32(target.traceFlags.known.rawValue) | Self.hasIsRemoteMask
                    | (target.isRemote ? Self.isRemoteMask : 0)
                list[index] = proto
            }
            proto.pointee.n_links = span.pointee.links.count
            proto.pointee.links = list
        }
        proto.pointee.dropped_links_count = UInt32(clamping: span.pointee.droppedLinksCount)
        if let status = span.pointee.status {
            let protoStatus = arena.allocate(ProtoStatus.self)
            opentelemetry__proto__trace__v1__status__init(protoStatus)
            switch status.code {
            case .ok:
                protoStatus.pointee.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_OK
            case .error:
                protoStatus.pointee.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR
                if let message = status.message { protoStatus.pointee.message = arena.binary(message) }
            }
            proto.pointee.status = protoStatus
        }
        return proto
    }

    static func kind(_ kind: SpanKind) -> Opentelemetry__Proto__Trace__V1__Span__SpanKind {
        switch kind {
        case .internal: return OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL
        case .server: return OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER
        case .client: return OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT
        case .producer: return OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_PRODUCER
        case .consumer: return OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CONSUMER
        }
    }

    private func keyValues(
        _ attributes: SpanAttributes
    ) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<KeyValue>?>?) {
        let count = attributes.count
        guard count > 0 else { return (0, nil) }
        let list = arena.allocate(UnsafeMutablePointer<KeyValue>?.self, count: count)
        var index = 0
        attributes.forEach { key, value in
            guard index < count else { return }
            let keyValue = arena.allocate(KeyValue.self)
            opentelemetry__proto__common__v1__key_value__init(keyValue)
            keyValue.pointee.key = arena.binary(key)
            keyValue.pointee.value = anyValue(value)
            list[index] = keyValue
            index += 1
        }
        return (index, list)
    }

    private func anyValue(_ attribute: SpanAttribute) -> UnsafeMutablePointer<AnyValue> {
        let value = arena.allocate(AnyValue.self)
        opentelemetry__proto__common__v1__any_value__init(value)
        switch attribute {
        case .string(let text): setString(value, text)
        case .int32(let number): setInt(value, Int64(number))
        case .int64(let number): setInt(value, number)
        case .double(let number):
            value.pointee.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE
            value.pointee.double_value = number
        case .bool(let flag):
            value.pointee.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE
            value.pointee.bool_value = flag ? 1 : 0
        case .stringConvertible(let convertible): setString(value, String(describing: convertible))
        case .stringArray(let texts): setArray(value, texts.map(SpanAttribute.string))
        case .int32Array(let numbers): setArray(value, numbers.map(SpanAttribute.int32))
        case .int64Array(let numbers): setArray(value, numbers.map(SpanAttribute.int64))
        case .doubleArray(let numbers): setArray(value, numbers.map(SpanAttribute.double))
        case .boolArray(let flags): setArray(value, flags.map(SpanAttribute.bool))
        case .stringConvertibleArray(let convertibles):
            setArray(value, convertibles.map { .string(String(describing: $0)) })
        default: setString(value, "")  // a future SDT kind: sent as an empty string rather than dropped
        }
        return value
    }

    private func setString(_ value: UnsafeMutablePointer<AnyValue>, _ text: String) {
        value.pointee.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE
        value.pointee.string_value = arena.binary(text)
    }

    private func setInt(_ value: UnsafeMutablePointer<AnyValue>, _ number: Int64) {
        value.pointee.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE
        value.pointee.int_value = number
    }

    private func setArray(_ value: UnsafeMutablePointer<AnyValue>, _ elements: [SpanAttribute]) {
        let array = arena.allocate(ArrayValue.self)
        opentelemetry__proto__common__v1__array_value__init(array)
        let list = arena.allocate(UnsafeMutablePointer<AnyValue>?.self, count: elements.count)
        for (index, element) in elements.enumerated() { list[index] = anyValue(element) }
        array.pointee.n_values = elements.count
        array.pointee.values = elements.isEmpty ? nil : list
        value.pointee.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE
        value.pointee.array_value = array
    }
}
