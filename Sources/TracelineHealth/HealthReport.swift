import TracelineCore
import TracelineMetrics

/// The outcome of one health evaluation: every check's latest result and the verdict.
public struct HealthReport: Sendable {
    /// One check's latest result.
    public struct Entry: Sendable {
        /// The check's `component:measurement` key.
        public var key: String
        /// The check's component type, such as `datastore` or `system`.
        public var componentType: String
        /// Whether the check is critical.
        public var isCritical: Bool
        /// What the probe found.
        public var result: HealthCheckResult
        /// Wall-clock time of the reading (seconds since the Unix epoch).
        public var time: Double
        /// When the check last changed status (seconds since the Unix epoch).
        public var lastTransition: Double
        /// How long the probe took, in seconds.
        public var duration: Double
        /// Whether this result came from the cache rather than a new probe.
        public var cached: Bool
        var summary: (name: String, fields: [(String, JSONValue)])?
        /// The result's status.
        public var status: HealthStatus { result.status }
    }

    /// How the root `status` is written.
    public enum StatusStyle: String, Sendable {
        /// The IETF draft: `pass`, `warn`, `fail` with `application/health+json`.
        case ietf
        /// The seed daemon's clients: `healthy` (HTTP 200) or `degraded` (HTTP 503), with `application/json`.
        case seed
    }

    /// One entry per evaluated check, in registration order.
    public var entries: [Entry]
    /// Wall-clock time of the report (seconds since the Unix epoch).
    public var timestamp: Double
    /// Extra root objects (`"supabase": {"enabled": false, "status": "disabled"}`).
    public var summaryFields: [(String, JSONValue)] = []
    /// The process's resident memory, reported as `memory.usage_mb`.
    public var residentMemoryBytes: Double?
    /// Reported as the draft's `version`.
    public var version: String?
    /// Reported as the draft's `serviceId`.
    public var serviceID: String?
    /// Reported as the draft's `description`.
    public var serviceDescription: String?

    /// `fail` when a critical check fails; `warn` when any check warns or a non-critical one fails; else `pass`.
    public var status: HealthStatus {
        if entries.contains(where: { $0.isCritical && $0.status == .fail }) { return .fail }
        if entries.contains(where: { $0.status != .pass }) { return .warn }
        return .pass
    }

    /// 200 when every critical check passes or warns, 503 otherwise.
    public var httpStatus: Int { status == .fail ? 503 : 200 }

    /// The `Content-Type` for `json(style:)` output: `application/health+json` for IETF, else `application/json`.
    public func contentType(style: StatusStyle) -> String {
        style == .ietf ? "application/health+json" : "application/json"
    }

    /// The report as JSON: the IETF draft's fields (`status`, `checks` keyed `component:measurement`,
    /// each an array of one object) plus the seed's (`timestamp`, `storage`, `supabase`, `memory.usage_mb`).
    public func json(style: StatusStyle = .ietf) -> String {
        var root: [(String, JSONValue)] = []
        let status = self.status
        switch style {
        case .ietf: root.append(("status", .string(status.rawValue)))
        case .seed: root.append(("status", .string(status == .fail ? "degraded" : "healthy")))
        }
        if let version { root.append(("version", .string(version))) }
        if let serviceID { root.append(("serviceId", .string(serviceID))) }
        if let serviceDescription { root.append(("description", .string(serviceDescription))) }
        if status != .pass {
            let problems = entries.filter { $0.status != .pass }.map { "\($0.key): \($0.status.rawValue)" }
            root.append(("output", .string(problems.joined(separator: "; "))))
        }
        root.append(("timestamp", .string(WallClock.iso8601(timestamp))))
        var checks: [(String, JSONValue)] = []
        for entry in entries {
            var object: [(String, JSONValue)] = [("componentType", .string(entry.componentType))]
            if let value = entry.result.observedValue { object.append(("observedValue", value)) }
            if let unit = entry.result.observedUnit { object.append(("observedUnit", .string(unit))) }
            object.append(("status", .string(entry.status.rawValue)))
            object.append(("time", .string(WallClock.iso8601(entry.time))))
            if entry.status != .pass, let output = entry.result.output { object.append(("output", .string(output))) }
            object.append(("critical", .bool(entry.isCritical)))
            object.append(("lastTransition", .string(WallClock.iso8601(entry.lastTransition))))
            checks.append((entry.key, .array([.object(object)])))
        }
        root.append(("checks", .object(checks)))
        for entry in entries {
            guard let summary = entry.summary else { continue }
            var object = summary.fields
            object.append(("status", .string(entry.status == .fail ? "unhealthy" : "healthy")))
            if entry.status != .pass, let output = entry.result.output { object.append(("error", .string(output))) }
            root.append((summary.name, .object(object)))
        }
        root.append(contentsOf: summaryFields)
        if let residentMemoryBytes {
            root.append(
                ("memory", .object([("usage_mb", .number((residentMemoryBytes / 1_048_576 * 10).rounded() / 10))])))
        }
        return JSONValue.object(root).serialized
    }

    /// Kubernetes' `?verbose` text: one `[+]name ok` or `[-]name failed: reason` line per check.
    public func verboseText(title: String) -> String {
        var text = ""
        for entry in entries {
            switch entry.status {
            case .pass: text += "[+]\(entry.key) ok\n"
            case .warn: text += "[+]\(entry.key) ok (warn: \(entry.result.output ?? ""))\n"
            case .fail: text += "[-]\(entry.key) failed: \(entry.result.output ?? "failed")\n"
            }
        }
        text += status == .fail ? "\(title) check failed\n" : "\(title) check passed\n"
        return text
    }
}
