import Instrumentation

/// Runs several propagators in order for `extract` and `inject`: the set `OTEL_PROPAGATORS` selects.
public struct CompositePropagator: Instrument {
    /// The propagators, run in this order.
    public let propagators: [any Instrument]

    /// Creates a propagator that runs `propagators` in order.
    public init(_ propagators: [any Instrument]) {
        self.propagators = propagators
    }

    /// W3C `traceparent`/`tracestate`, W3C `baggage`, and `X-Correlation-ID`.
    public static var `default`: CompositePropagator {
        CompositePropagator([W3CTraceContextPropagator(), W3CBaggagePropagator(), CorrelationIDPropagator()])
    }

    /// Runs every propagator's `extract` in order; see `Instrument.extract`.
    public func extract<Carrier, Extract>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    )
    where Extract: Extractor, Extract.Carrier == Carrier {
        for propagator in propagators { propagator.extract(carrier, into: &context, using: extractor) }
    }

    /// Runs every propagator's `inject` in order; see `Instrument.inject`.
    public func inject<Carrier, Inject>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Inject.Carrier == Carrier {
        for propagator in propagators { propagator.inject(context, into: &carrier, using: injector) }
    }
}
