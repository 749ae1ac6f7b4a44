#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic nanoseconds, the time base of the export thread's waits (`CLOCK_MONOTONIC`).
package enum MonotonicClock {
    package static func nowNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Converts a `ContinuousClock` deadline to this clock by way of the time remaining.
    package static func nanoseconds(for deadline: ContinuousClock.Instant) -> UInt64 {
        let remaining = ContinuousClock.now.duration(to: deadline)
        let now = nowNanoseconds()
        let sum = now.addingReportingOverflow(remaining.wholeNanoseconds)
        return sum.overflow ? UInt64.max : sum.partialValue
    }
}
