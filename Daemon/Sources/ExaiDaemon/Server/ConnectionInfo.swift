import Traceline
import Tracing

/// What a WebSocket connection keeps from its upgrade request.
struct ConnectionInfo: Sendable {
    let ip: String
    /// The upgrade's SERVER span context, linked from calls that start their own trace.
    let upgradeContext: ServiceContext
    let correlationID: CorrelationID
}
