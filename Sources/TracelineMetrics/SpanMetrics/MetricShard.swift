import TracelineCore

/// A table of metric series and the pthread mutex that guards it: one stripe of the span-metrics
/// processor, or one view of the span-views processor.
///
/// `lock()` and `unlock()` are called directly around the few stores of a span end, so the hot path
/// has no closure and no dynamic exclusivity check: `table` is only reached between them, and the
/// mutex gives the exclusive access those checks would verify. In this module rather than
/// `LockedValue`, whose generic `withLock` is not specialised across modules. (A pthread mutex
/// rather than `Synchronization.Mutex`, for the reason in `LockedValue`: ThreadSanitizer sees it.)
///
/// `@unchecked Sendable`: `table` is only reached while `mutex` is held.
final class MetricShard<Table>: @unchecked Sendable {
    private let mutex = PthreadMutex()
    /// Reached only between `lock()` and `unlock()`, or inside `withLock`.
    @exclusivity(unchecked) var table: Table

    init(_ table: Table) {
        self.table = table
    }

    @inline(__always) func lock() { mutex.lock() }
    @inline(__always) func unlock() { mutex.unlock() }

    /// Runs `body` with the table, holding the mutex (for readers off the hot path).
    func withLock<Result>(_ body: (inout Table) -> Result) -> Result {
        lock()
        defer { unlock() }
        return body(&table)
    }
}
