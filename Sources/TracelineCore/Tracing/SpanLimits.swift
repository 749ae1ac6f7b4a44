/// Caps on what one span may hold. Whatever is cut is counted on the span and reaches the exporter
/// (OTLP `dropped_*_count`). Defaults follow the OpenTelemetry specification: no cut of string
/// values, since checking them costs every recording span an iteration of its attributes at end
/// (about 2 000 instructions with four, a fifth of the span). A service whose spans carry
/// client-chosen text sets `attributeValueLengthLimit` (the exai-daemon uses 4096).
public struct SpanLimits: Sendable, Equatable {
    /// Attributes per span (`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, falling back to `OTEL_ATTRIBUTE_COUNT_LIMIT`).
    public var attributeCountLimit: Int = 128
    /// Characters per string attribute value; nil means no limit (`OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`).
    public var attributeValueLengthLimit: Int? = nil
    /// Events per span (`OTEL_SPAN_EVENT_COUNT_LIMIT`).
    public var eventCountLimit: Int = 128
    /// Links per span (`OTEL_SPAN_LINK_COUNT_LIMIT`).
    public var linkCountLimit: Int = 128
    /// Attributes per event (`OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`).
    public var eventAttributeCountLimit: Int = 128
    /// Attributes per link (`OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`).
    public var linkAttributeCountLimit: Int = 128

    /// The OpenTelemetry defaults: 128 of everything, no value length limit.
    public init() {}

    /// Creates limits; negative values are raised to 0.
    /// - Parameters:
    ///   - attributeCountLimit: attributes per span.
    ///   - attributeValueLengthLimit: characters per string attribute value; nil means no limit.
    ///   - eventCountLimit: events per span.
    ///   - linkCountLimit: links per span.
    ///   - eventAttributeCountLimit: attributes per event.
    ///   - linkAttributeCountLimit: attributes per link.
    public init(
        attributeCountLimit: Int = 128,
        attributeValueLengthLimit: Int? = nil,
        eventCountLimit: Int = 128,
        linkCountLimit: Int = 128,
        eventAttributeCountLimit: Int = 128,
        linkAttributeCountLimit: Int = 128
    ) {
        self.attributeCountLimit = max(0, attributeCountLimit)
        self.attributeValueLengthLimit = attributeValueLengthLimit.map { max(0, $0) }
        self.eventCountLimit = max(0, eventCountLimit)
        self.linkCountLimit = max(0, linkCountLimit)
        self.eventAttributeCountLimit = max(0, eventAttributeCountLimit)
        self.linkAttributeCountLimit = max(0, linkAttributeCountLimit)
    }
}
