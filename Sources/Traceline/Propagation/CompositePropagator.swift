import Instrumentation

/// Runs several propagators in order for `extract` and `inject`: the set `OTEL_PROPAGATORS` selects.
public struct CompositePropagator: Instrument {
    public let propagators: [any Instrument]

    public init(_ propagators: [any Instrument]) {
        self.propagators = propagators
    }

    /// W3C `traceparent`/`tracestate`, W3C `baggage`, and `X-Correlation-ID`.
    public static var `default`: CompositePropagator {
        CompositePropagator([W3CTraceContextPropagator(), W3CBaggagePropagator(), CorrelationIDPropagator()])
    }

    public func extract<Carrier, Extract>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract: Extractor, Extract.Carrier == Carrier {
        for propagator in propagators { propagator.extract(carrier, into: &context, using: extractor) }
    }

    public func inject<Carrier, Inject>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Inject.Carrier == Carrier {
        for propagator in propagators { propagator.inject(context, into: &carrier, using: injector) }
    }
}
