import CTracelineSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A mutex and condition variable pair on `CLOCK_MONOTONIC`, for a thread that sleeps until it
/// is woken or a deadline passes. Used only off the hot path (a wake-up per batch, not per span).
///
/// `@unchecked Sendable`: the pthread objects are shared by design and only touched through
/// pthread calls. The mutex is an error-checking one, so unlocking from a thread that does not
/// hold it, or locking twice, stops the process instead of corrupting what it guards.
package final class ThreadSignal: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    package init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        var mutexAttributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&mutexAttributes)
        pthread_mutexattr_settype(&mutexAttributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        pthread_mutex_init(mutex, &mutexAttributes)
        pthread_mutexattr_destroy(&mutexAttributes)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    package func lock() {
        let result = pthread_mutex_lock(mutex)
        precondition(result == 0, "ThreadSignal locked twice by one thread (\(result))")
    }

    package func unlock() {
        let result = pthread_mutex_unlock(mutex)
        precondition(result == 0, "ThreadSignal unlocked by a thread that does not hold it (\(result))")
    }

    package func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Wakes the waiting thread. Call with or without the lock held.
    package func signal() { pthread_cond_broadcast(condition) }

    /// Waits (lock held) until signalled or `deadline` (monotonic nanoseconds) passes.
    package func wait(untilMonotonic deadline: UInt64) {
        var time = timespec()
        time.tv_sec = Int(clamping: deadline / 1_000_000_000)
        time.tv_nsec = Int(deadline % 1_000_000_000)
        let result = pthread_cond_timedwait(condition, mutex, &time)
        precondition(result != EPERM, "ThreadSignal.wait called without the lock held")
    }
}

/// Starts a detached OS thread running `body`; returns false if the system refused a thread.
/// The export thread must not be a Swift concurrency pool thread: an exporter may block on I/O
/// and would starve the cooperative pool.
package func startThread(name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
    final class Box {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(
        &thread, nil,
        { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            box.name.withCString { traceline_set_thread_name($0) }
            box.body()
            return nil
        }, box)
    guard result == 0 else {
        Unmanaged<Box>.fromOpaque(box).release()
        return false
    }
    pthread_detach(thread)
    return true
}
