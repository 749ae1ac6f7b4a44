import Instrumentation
import Logging
import Synchronization

/// Propagates the `X-Correlation-ID` header.
///
/// On extract, a valid incoming ID is kept; a missing or rejected one is replaced by a new
/// UUID-form ID, so every request handled in an extracted context has one. A rejected value is
/// counted and described (its length and the rule it broke) but never logged: it is untrusted input.
public struct CorrelationIDPropagator: Instrument {
    /// The header name written on inject (lowercase, as HTTP/2 requires; reads are case-insensitive).
    public static let header = "x-correlation-id"

    private let counters: Counters
    private let logger: Logger?

    /// - Parameter logger: receives one debug line per rejected header, without the value.
    public init(logger: Logger? = nil) {
        self.counters = Counters()
        self.logger = logger
    }

    /// Incoming IDs that were accepted.
    public var acceptedCount: Int { counters.accepted.load(ordering: .relaxed) }
    /// Incoming IDs that broke the allow-list or the length limit and were replaced.
    public var rejectedCount: Int { counters.rejected.load(ordering: .relaxed) }
    /// IDs generated because none (or no valid one) came in.
    public var generatedCount: Int { counters.generated.load(ordering: .relaxed) }

    /// Reads and validates the correlation ID, or generates one; see `Instrument.extract`.
    public func extract<Carrier, Extract>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    )
    where Extract: Extractor, Extract.Carrier == Carrier {
        let incoming =
            extractor.extract(key: Self.header, from: carrier)
            ?? extractor.extract(key: "X-Correlation-ID", from: carrier)
        if let incoming {
            let trimmed = TraceState.trimOWS(Substring(incoming))
            if let id = CorrelationID(trimmed) {
                counters.accepted.add(1, ordering: .relaxed)
                context.correlationID = id
                return
            }
            counters.rejected.add(1, ordering: .relaxed)
            let reason = CorrelationID.validate(trimmed)?.description ?? "invalid"
            logger?.debug("Rejected incoming X-Correlation-ID; generated a new one", metadata: ["reason": "\(reason)"])
        } else if context.correlationID != nil {
            return
        }
        counters.generated.add(1, ordering: .relaxed)
        context.correlationID = CorrelationID.generate()
    }

    /// Writes the context's correlation ID, if any; see `Instrument.inject`.
    public func inject<Carrier, Inject>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Inject.Carrier == Carrier {
        guard let id = context.correlationID else { return }
        injector.inject(id.value, forKey: Self.header, into: &carrier)
    }

    private final class Counters: Sendable {
        let accepted = Atomic<Int>(0)
        let rejected = Atomic<Int>(0)
        let generated = Atomic<Int>(0)
    }
}
