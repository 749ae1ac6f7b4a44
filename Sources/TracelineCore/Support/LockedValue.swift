/// A value behind a pthread mutex, for state touched off the per-span hot path (exporter
/// statistics, flush requests, registries).
///
/// Why not `Synchronization.Mutex`: on Linux it hands contended ownership over in the kernel
/// (priority-inheritance futex), which ThreadSanitizer cannot see, so every contended use shows up
/// as a false data race and hides real ones. pthread mutexes are intercepted by the sanitizer.
///
/// `@unchecked Sendable`: `value` is only reached inside `withLock`, which holds the mutex.
package final class LockedValue<Value>: @unchecked Sendable {
    @usableFromInline let mutex = PthreadMutex()
    /// Reached only inside `withLock`; the mutex makes access exclusive, so the runtime check
    /// (a begin and end access call, about 120 instructions) is off.
    @usableFromInline @exclusivity(unchecked) var value: Value

    package init(_ value: Value) {
        self.value = value
    }

    /// Inlinable, so callers in other modules can get it specialised. Where the compiler does not
    /// specialise it (span-end paths), callers lock a `MetricShard` directly instead.
    @inlinable
    package func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        mutex.lock()
        defer { mutex.unlock() }
        return try body(&value)
    }
}
