import TracelineCore
import TracelineMetrics

/// The state of one check or of a whole service, in the IETF health-check draft's terms.
public enum HealthStatus: String, Sendable, Comparable, CaseIterable {
    /// Healthy.
    case pass
    /// Healthy, with a concern worth a look (a threshold crossed, a non-critical dependency down).
    case warn
    /// Unhealthy.
    case fail

    private var severity: Int {
        switch self {
        case .pass: return 0
        case .warn: return 1
        case .fail: return 2
        }
    }

    /// Orders by severity: `pass` < `warn` < `fail`.
    public static func < (lhs: HealthStatus, rhs: HealthStatus) -> Bool { lhs.severity < rhs.severity }

    /// The value of the `health_check_status` gauge: 1 pass, 0.5 warn, 0 fail (higher is healthier, like `up`).
    public var gaugeValue: Double {
        switch self {
        case .pass: return 1
        case .warn: return 0.5
        case .fail: return 0
        }
    }
}

/// What one run of a check found.
public struct HealthCheckResult: Sendable, Equatable {
    /// The verdict of this run.
    public var status: HealthStatus
    /// The measured value (a percentage, a latency, a count), any JSON.
    public var observedValue: JSONValue?
    /// Its unit, e.g. `percent`, `ms`, `MiB`.
    public var observedUnit: String?
    /// What went wrong, for `warn` and `fail`. Secrets are redacted before it is shown.
    public var output: String?

    /// Creates a result.
    /// - Parameters:
    ///   - status: the verdict.
    ///   - observedValue: the measured value, if any.
    ///   - observedUnit: the value's unit, if any.
    ///   - output: what went wrong, for `warn` and `fail`.
    public init(
        status: HealthStatus, observedValue: JSONValue? = nil, observedUnit: String? = nil, output: String? = nil
    ) {
        self.status = status
        self.observedValue = observedValue
        self.observedUnit = observedUnit
        self.output = output
    }

    /// A passing result, optionally with a measured value and its unit.
    /// - Parameters:
    ///   - value: the measured value, if any.
    ///   - unit: the value's unit, if any.
    public static func pass(_ value: JSONValue? = nil, unit: String? = nil) -> HealthCheckResult {
        HealthCheckResult(status: .pass, observedValue: value, observedUnit: unit)
    }

    /// A warning result.
    /// - Parameters:
    ///   - output: what is wrong.
    ///   - value: the measured value, if any.
    ///   - unit: the value's unit, if any.
    public static func warn(_ output: String, value: JSONValue? = nil, unit: String? = nil) -> HealthCheckResult {
        HealthCheckResult(status: .warn, observedValue: value, observedUnit: unit, output: output)
    }

    /// A failing result.
    /// - Parameters:
    ///   - output: what went wrong.
    ///   - value: the measured value, if any.
    ///   - unit: the value's unit, if any.
    public static func fail(_ output: String, value: JSONValue? = nil, unit: String? = nil) -> HealthCheckResult {
        HealthCheckResult(status: .fail, observedValue: value, observedUnit: unit, output: output)
    }
}

/// A named probe of one dependency or resource.
///
/// Its key in a report is `component:measurement` (the draft's `checks` key). A critical check
/// that fails makes the service unhealthy (HTTP 503, not ready); a non-critical one only warns.
/// A probe that throws fails with the error's description; one that outlives `timeout` fails as
/// timed out while the response goes on without it.
public struct HealthCheck: Sendable {
    /// The component name, with `:` replaced by `_`.
    public let component: String
    /// The measurement name, with `:` replaced by `_`, if any.
    public let measurement: String?
    /// `component`, `datastore`, `system`, or a URI.
    public let componentType: String
    /// Whether a failure makes the service unhealthy (HTTP 503, not ready).
    public let isCritical: Bool
    /// How long the probe may run before the check fails as timed out.
    public let timeout: Duration
    /// When set, the report also carries this check as a root object in the seed's shape
    /// (`"storage": {"type": "redis", "status": "healthy"}`), with these fields first.
    public let summary: (name: String, fields: [(String, JSONValue)])?
    let probe: @Sendable () async throws -> HealthCheckResult

    /// - Parameters:
    ///   - component: the component name; a `:` is replaced by `_` (the draft forbids it).
    ///   - measurement: the measurement name (`utilization`, `responseTime`, `connections`, …).
    ///   - componentType: `component`, `datastore`, `system`, or a URI.
    ///   - critical: whether a failure makes the service unhealthy (503, not ready).
    ///   - timeout: how long the probe may run before the check fails as timed out.
    ///   - summary: a root object of the seed's shape to report this check as, and its fixed fields.
    ///   - probe: the check itself; throwing fails it with the (redacted) error.
    public init(
        component: String,
        measurement: String? = nil,
        componentType: String = "component",
        critical: Bool = true,
        timeout: Duration = .seconds(2),
        summary: (name: String, fields: [(String, JSONValue)])? = nil,
        probe: @escaping @Sendable () async throws -> HealthCheckResult
    ) {
        self.component = component.replacingColons
        self.measurement = measurement?.replacingColons
        self.componentType = componentType
        self.isCritical = critical
        self.timeout = timeout
        self.summary = summary
        self.probe = probe
    }

    /// `component:measurement`, or the component alone.
    public var key: String { measurement.map { "\(component):\($0)" } ?? component }
}

extension String {
    fileprivate var replacingColons: String { String(map { $0 == ":" ? "_" : $0 }) }
}
