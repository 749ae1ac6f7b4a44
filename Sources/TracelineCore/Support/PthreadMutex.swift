#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A pthread mutex that owns its memory: made and destroyed with the value, locked and unlocked
/// directly, with no closure. Why pthread rather than `Synchronization.Mutex`: see `LockedValue`.
package struct PthreadMutex: ~Copyable {
    @usableFromInline let pointer: UnsafeMutablePointer<pthread_mutex_t>

    package init() {
        pointer = .allocate(capacity: 1)
        pthread_mutex_init(pointer, nil)
    }

    deinit {
        pthread_mutex_destroy(pointer)
        pointer.deallocate()
    }

    @inlinable @inline(__always) package func lock() { pthread_mutex_lock(pointer) }
    @inlinable @inline(__always) package func unlock() { pthread_mutex_unlock(pointer) }
}
