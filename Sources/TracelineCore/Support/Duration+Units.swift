extension Duration {
    /// The duration in seconds, as a `Double` (attosecond precision is not kept).
    package var inSeconds: Double { self / .seconds(1) }

    /// Whole milliseconds, rounded down; negative durations give 0, huge ones `Int.max`.
    package var wholeMilliseconds: Int {
        guard self > .zero else { return 0 }
        let (seconds, overflow) = components.seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return .max }
        return Int(clamping: seconds) &+ Int(components.attoseconds / 1_000_000_000_000_000)
    }

    /// Whole nanoseconds, rounded down; negative durations give 0, huge ones `UInt64.max`.
    package var wholeNanoseconds: UInt64 {
        guard self > .zero else { return 0 }
        let (seconds, overflow) = UInt64(components.seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let (total, carry) = seconds.addingReportingOverflow(UInt64(components.attoseconds / 1_000_000_000))
        return carry ? .max : total
    }
}
