import Hummingbird
import HummingbirdWebSocket
import NIOCore
import Traceline
import Tracing

/// What a WebSocket connection keeps from its upgrade request.
struct ConnectionInfo: Sendable {
    let ip: String
    /// The upgrade's SERVER span context, linked from calls that start their own trace.
    let upgradeContext: ServiceContext
    let correlationID: CorrelationID
}

/// The request context of the WebSocket router: the client's address, and the connection's
/// trace and correlation context once the upgrade span has been made.
public struct DaemonRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    let remoteIP: String
    var connection: ConnectionInfo?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        remoteIP = source.channel.remoteAddress?.ipAddress ?? "unknown"
        connection = nil
    }
}
