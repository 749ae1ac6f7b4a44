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
    /// The trace the span belongs to.
    public let traceID: TraceID
    /// The span's operation name.
    public let name: String
    /// The span's kind.
    public let kind: SpanKind
}

/// Decides, once per span at start, whether it is recorded and exported.
public protocol Sampler: Sendable {
    /// Returns the decision for the span described by `parameters`; called once as the span starts.
    func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision
    /// A human-readable description, for example `TraceIdRatioBased{0.25}`.
    var description: String { get }
}

/// Samples every span.
public struct AlwaysOnSampler: Sampler {
    /// Creates the sampler.
    public init() {}
    /// Always `recordAndSample`; see `Sampler.shouldSample`.
    public func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision { .recordAndSample }
    /// `AlwaysOnSampler`.
    public var description: String { "AlwaysOnSampler" }
}

/// Samples no span.
public struct AlwaysOffSampler: Sampler {
    /// Creates the sampler.
    public init() {}
    /// Always `drop`; see `Sampler.shouldSample`.
    public func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision { .drop }
    /// `AlwaysOffSampler`.
    public var description: String { "AlwaysOffSampler" }
}

/// Samples a fixed fraction of traces, deterministically by trace ID, so every service with the same
/// ratio makes the same decision and a higher ratio samples a superset of a lower one.
///
/// The decision reads trace-ID bytes 8–15 as a big-endian integer shifted right by one and compares
/// it with `ratio × 2^63`, the same rule opentelemetry-go uses, so mixed Go/Swift systems agree.
public struct TraceIDRatioSampler: Sampler {
    /// The fraction of traces sampled, in [0, 1].
    public let ratio: Double
    private let upperBound: UInt64

    /// `ratio` is clamped to [0, 1].
    public init(ratio: Double) {
        let clamped = ratio.isNaN ? 0 : min(1, max(0, ratio))
        self.ratio = clamped
        self.upperBound = clamped >= 1 ? UInt64.max : UInt64(clamped * 9_223_372_036_854_775_808.0)
    }

    /// Samples when the trace ID falls under the ratio; see `Sampler.shouldSample`.
    public func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision {
        if ratio >= 1 { return .recordAndSample }
        return (parameters.traceID.low >> 1) < upperBound ? .recordAndSample : .drop
    }

    /// `TraceIdRatioBased{<ratio>}`, as OpenTelemetry names it.
    public var description: String { "TraceIdRatioBased{\(ratio)}" }
}

/// Follows the parent's sampled flag; uses `root` for spans without a parent.
public struct ParentBasedSampler: Sampler {
    /// Decides for spans without a parent.
    public let root: any Sampler
    /// Decides when the parent is remote and sampled.
    public let remoteParentSampled: any Sampler
    /// Decides when the parent is remote and not sampled.
    public let remoteParentNotSampled: any Sampler
    /// Decides when the parent is local and sampled.
    public let localParentSampled: any Sampler
    /// Decides when the parent is local and not sampled.
    public let localParentNotSampled: any Sampler

    /// Creates a parent-based sampler; by default it follows the parent's sampled flag.
    /// - Parameters:
    ///   - root: decides for spans without a parent.
    ///   - remoteParentSampled: decides when the parent is remote and sampled.
    ///   - remoteParentNotSampled: decides when the parent is remote and not sampled.
    ///   - localParentSampled: decides when the parent is local and sampled.
    ///   - localParentNotSampled: decides when the parent is local and not sampled.
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

    /// Delegates to the sampler for the parent's kind; see `Sampler.shouldSample`.
    public func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision {
        guard let parent = parameters.parentContext else { return root.shouldSample(parameters) }
        switch (parent.isRemote, parent.isSampled) {
        case (true, true): return remoteParentSampled.shouldSample(parameters)
        case (true, false): return remoteParentNotSampled.shouldSample(parameters)
        case (false, true): return localParentSampled.shouldSample(parameters)
        case (false, false): return localParentNotSampled.shouldSample(parameters)
        }
    }

    /// `ParentBased{...}` with each delegate's description.
    public var description: String {
        "ParentBased{root:\(root.description),remoteParentSampled:\(remoteParentSampled.description),"
            + "remoteParentNotSampled:\(remoteParentNotSampled.description),"
            + "localParentSampled:\(localParentSampled.description),"
            + "localParentNotSampled:\(localParentNotSampled.description)}"
    }
}
