import Instrumentation

/// Propagates W3C Baggage (`baggage` header) within the 64-member / 8192-byte limits.
///
/// Baggage reaches every downstream service, third parties included: do not inject it into
/// calls that leave your trust boundary (use a propagator set without this one there).
public struct W3CBaggagePropagator: Instrument {
    /// The header name, `baggage`.
    public static let header = "baggage"

    /// Creates the propagator.
    public init() {}

    /// Parses the `baggage` header into the context; see `Instrument.extract`.
    public func extract<Carrier, Extract>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    )
    where Extract: Extractor, Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: Self.header, from: carrier) else { return }
        let (baggage, _) = Baggage.parse(headerValue: header)
        if !baggage.isEmpty { context.baggage = baggage }
    }

    /// Writes the context's baggage, if not empty; see `Instrument.inject`.
    public func inject<Carrier, Inject>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Inject.Carrier == Carrier {
        guard let baggage = context.baggage, !baggage.isEmpty else { return }
        injector.inject(baggage.headerValue, forKey: Self.header, into: &carrier)
    }
}
