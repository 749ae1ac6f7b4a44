import Tracing

/// What a sampler decides for a new span.
public enum SamplingDecision: Sendable, Equatable {
    /// Not recorded, not exported; the span still propagates its context.
    case drop
    /// Recorded (processors see it) but not exported and not marked sampled.
    case recordOnly
    /// Recorded, marked sampled, exported.
    case recordAndSample
}

/// The facts a sampler may use about a span that is being started.
public struct SamplingParameters: Sendable {
    /// The parent's context, local or remote; nil for a root span.
    public let parentContext: SpanContext?
    public let traceID: TraceID
    public let name: String
    public let kind: SpanKind
}

/// Decides, once per span at start, whether it is recorded and exported.
public protocol Sampler: Sendable {
    func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision
    /// A human-readable description, for example `TraceIdRatioBased{0.25}`.
    var description: String { get }
}

/// Samples every span.
public struct AlwaysOnSampler: Sampler {
    public init() {}
    public func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision { .recordAndSample }
    public var description: String { "AlwaysOnSampler" }
}

/// Samples no span.
public struct AlwaysOffSampler: Sampler {
    public init() {}
    public func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision { .drop }
    public var description: String { "AlwaysOffSampler" }
}

/// Samples a fixed fraction of traces, deterministically by trace ID, so every service with the same
/// ratio makes the same decision and a higher ratio samples a superset of a lower one.
///
/// The decision reads trace-ID bytes 8–15 as a big-endian integer shifted right by one and compares
/// it with `ratio × 2^63`, the same rule opentelemetry-go uses, so mixed Go/Swift systems agree.
public struct TraceIDRatioSampler: Sampler {
    public let ratio: Double
    private let upperBound: UInt64

    /// `ratio` is clamped to [0, 1].
    public init(ratio: Double) {
        let clamped = ratio.isNaN ? 0 : min(1, max(0, ratio))
        self.ratio = clamped
        self.upperBound = clamped >= 1 ? UInt64.max : UInt64(clamped * 9_223_372_036_854_775_808.0)
    }

    public func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision {
        if ratio >= 1 { return .recordAndSample }
        return (parameters.traceID.low >> 1) < upperBound ? .recordAndSample : .drop
    }

    public var description: String { "TraceIdRatioBased{\(ratio)}" }
}

/// Follows the parent's sampled flag; uses `root` for spans without a parent.
public struct ParentBasedSampler: Sampler {
    public let root: any Sampler
    public let remoteParentSampled: any Sampler
    public let remoteParentNotSampled: any Sampler
    public let localParentSampled: any Sampler
    public let localParentNotSampled: any Sampler

    public init(
        root: any Sampler,
        remoteParentSampled: any Sampler = AlwaysOnSampler(),
        remoteParentNotSampled: any Sampler = AlwaysOffSampler(),
        localParentSampled: any Sampler = AlwaysOnSampler(),
        localParentNotSampled: any Sampler = AlwaysOffSampler()
    ) {
        self.root = root
        self.remoteParentSampled = remoteParentSampled
        self.remoteParentNotSampled = remoteParentNotSampled
        self.localParentSampled = localParentSampled
        self.localParentNotSampled = localParentNotSampled
    }

    public func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision {
        guard let parent = parameters.parentContext else { return root.shouldSample(parameters) }
        switch (parent.isRemote, parent.isSampled) {
        case (true, true): return remoteParentSampled.shouldSample(parameters)
        case (true, false): return remoteParentNotSampled.shouldSample(parameters)
        case (false, true): return localParentSampled.shouldSample(parameters)
        case (false, false): return localParentNotSampled.shouldSample(parameters)
        }
    }

    public var description: String {
        "ParentBased{root:\(root.description),remoteParentSampled:\(remoteParentSampled.description),"
            + "remoteParentNotSampled:\(remoteParentNotSampled.description),"
            + "localParentSampled:\(localParentSampled.description),"
            + "localParentNotSampled:\(localParentNotSampled.description)}"
    }
}
