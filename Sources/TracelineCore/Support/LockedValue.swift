#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A value behind a pthread mutex, for state touched off the per-span hot path (exporter
/// statistics, flush requests, registries).
///
/// Why not `Synchronization.Mutex`: on Linux it hands contended ownership over in the kernel
/// (priority-inheritance futex), which ThreadSanitizer cannot see, so every contended use shows up
/// as a false data race and hides real ones. pthread mutexes are intercepted by the sanitizer.
///
/// `@unchecked Sendable`: `value` is only reached inside `withLock`, which holds the mutex.
package final class LockedValue<Value>: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Reached only inside `withLock`; the mutex makes access exclusive, so the runtime check
    /// (a begin and end access call, about 120 instructions) is off.
    @usableFromInline @exclusivity(unchecked) var value: Value

    package init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Inlinable so that callers in other modules (metrics, on every span end) get it specialised.
    @inlinable
    package func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
