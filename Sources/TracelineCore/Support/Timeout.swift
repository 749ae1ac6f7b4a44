/// Runs `operation` in its own task and waits for it at most `timeout`.
///
/// Returns nil when the time runs out: the operation's task is cancelled but not awaited, so a
/// dependency that ignores cancellation (a blocked socket, a stuck driver) cannot hold the caller.
/// `onFinish` runs when the operation does return, late or not, so callers can tell a hung probe
/// from a finished one.
package func withTimeout<Result: Sendable>(
    _ timeout: Duration,
    operation: @escaping @Sendable () async -> Result,
    onFinish: @escaping @Sendable () -> Void = {}
) async -> Result? {
    let race = TimeoutRace<Result>()
    return await withCheckedContinuation { continuation in
        race.state.withLock { $0.continuation = continuation }
        let work = Task {
            let value = await operation()
            onFinish()
            race.finish(value)
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            if Task.isCancelled { return }
            work.cancel()
            race.finish(nil)
        }
        race.state.withLock { current in
            if current.continuation != nil { current.timer = timer } else { timer.cancel() }
        }
    }
}

/// The shared state of one ``withTimeout`` call: the waiter and the timer, resumed once.
private final class TimeoutRace<Result: Sendable>: Sendable {
    package let state = LockedValue<(continuation: CheckedContinuation<Result?, Never>?, timer: Task<Void, Never>?)>(
        (nil, nil))

    /// Resumes the waiter once; later calls do nothing.
    package func finish(_ value: Result?) {
        let (continuation, timer) = state.withLock {
            current -> (CheckedContinuation<Result?, Never>?, Task<Void, Never>?) in
            defer { current = (nil, nil) }
            return (current.continuation, current.timer)
        }
        timer?.cancel()
        continuation?.resume(returning: value)
    }
}
