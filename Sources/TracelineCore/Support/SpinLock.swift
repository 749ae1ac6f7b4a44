import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-byte test-and-set lock embedded in each span.
///
/// Spans are almost never touched by two threads at once and every critical section is a few
/// field writes, so an inline spin lock costs one uncontended atomic exchange and no allocation.
/// It also allows holding the lock across a `_modify` yield, which `Mutex.withLock` cannot.
/// Under contention it backs off with `sched_yield`, so it never burns a core for long.
struct SpinLock: ~Copyable {
    private let flag = Atomic<Bool>(false)

    init() {}

    @inline(__always)
    func lock() {
        if flag.compareExchange(expected: false, desired: true, successOrdering: .acquiring, failureOrdering: .relaxed)
            .exchanged
        {
            return
        }
        lockSlow()
    }

    @inline(never)
    private func lockSlow() {
        var spins = 0
        while true {
            if !flag.load(ordering: .relaxed),
                flag.compareExchange(
                    expected: false, desired: true, successOrdering: .acquiring, failureOrdering: .relaxed
                ).exchanged
            {
                return
            }
            spins += 1
            if spins > 64 { sched_yield() }
        }
    }

    /// Releases the lock, which the caller must hold (checked in debug builds only: this is on
    /// every span's path).
    @inline(__always)
    func unlock() {
        assert(flag.load(ordering: .relaxed), "SpinLock unlocked while not locked")
        flag.store(false, ordering: .releasing)
    }
}
