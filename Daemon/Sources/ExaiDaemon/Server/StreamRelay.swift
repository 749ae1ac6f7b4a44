import NIOConcurrencyHelpers

/// Daemon-wide counts of streamed text passed to clients, for `/metrics`.
final class StreamStatistics: Sendable {
    struct Snapshot {
        var framesSent = 0
        var bytesSent = 0
        var droppedBytes = 0
        var bufferedBytes = 0
    }

    private let state = NIOLockedValueBox(Snapshot())

    var snapshot: Snapshot { state.withLockedValue { $0 } }

    fileprivate func update(_ body: (inout Snapshot) -> Void) { state.withLockedValue(body) }
}

/// Passes one call's streamed answer to its client as `stream_chunk` frames, in order.
///
/// Text is coalesced: at most one frame per `interval`, or at once when `flushBytes` wait, so a
/// fast model does not flood a slow socket. While the client is slow to read, waiting text grows
/// to `limitBytes`; text past it is dropped from the chunks and counted (the call's final result
/// still carries the whole answer). Memory per streamed call: `limitBytes` waiting plus one frame
/// being written.
final class StreamRelay: Sendable {
    private struct State {
        var pending = ""
        var pendingBytes = 0
        var droppedBytes = 0
        var finishing = false
        /// The flusher, while it waits out the interval.
        var coalescing: CheckedContinuation<Void, Never>?
    }

    private let state = NIOLockedValueBox(State())
    private let wakes: AsyncStream<Void>.Continuation
    private let flusher: Task<Void, Never>
    private let limitBytes: Int
    private let statistics: StreamStatistics

    init(
        limitBytes: Int, flushBytes: Int, interval: Duration, statistics: StreamStatistics,
        send: @escaping @Sendable (String) async -> Void
    ) {
        precondition(limitBytes > 0 && flushBytes > 0, "stream relay bounds must be positive")
        self.limitBytes = limitBytes
        self.statistics = statistics
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.wakes = continuation
        let state = self.state
        @Sendable func take() -> (String, Int) {
            let (text, bytes) = state.withLockedValue { state in
                defer { (state.pending, state.pendingBytes) = ("", 0) }
                return (state.pending, state.pendingBytes)
            }
            if bytes > 0 { statistics.update { $0.bufferedBytes -= bytes } }
            return (text, bytes)
        }
        /// Waits until `deadline`, or less when `finish()` is called: the answer's last text goes at once.
        @Sendable func coalesce(until deadline: ContinuousClock.Instant) async {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await Task.sleep(until: deadline) }
                group.addTask {
                    await withTaskCancellationHandler {
                        await withCheckedContinuation { continuation in
                            let resumeNow = state.withLockedValue { state -> Bool in
                                guard !state.finishing, !Task.isCancelled else { return true }
                                state.coalescing = continuation
                                return false
                            }
                            if resumeNow { continuation.resume() }
                        }
                    } onCancel: {
                        state.withLockedValue { state in
                            defer { state.coalescing = nil }
                            return state.coalescing
                        }?.resume()
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
        self.flusher = Task {
            var lastSent: ContinuousClock.Instant?
            for await _ in stream {
                let (waiting, finishing) = state.withLockedValue { ($0.pendingBytes, $0.finishing) }
                guard waiting > 0 else { continue }
                if let lastSent, waiting < flushBytes, !finishing {
                    await coalesce(until: lastSent + interval)
                }
                let (text, bytes) = take()
                guard bytes > 0, !Task.isCancelled else { continue }
                await send(text)
                lastSent = .now
                statistics.update {
                    $0.framesSent += 1
                    $0.bytesSent += bytes
                }
            }
            let (rest, bytes) = take()
            if bytes > 0, !Task.isCancelled {
                await send(rest)
                statistics.update {
                    $0.framesSent += 1
                    $0.bytesSent += bytes
                }
            }
        }
    }

    /// Queues text for the client; never waits. Text that would take the waiting bytes past the
    /// limit is dropped and counted.
    func append(_ text: String) {
        let bytes = text.utf8.count
        guard bytes > 0 else { return }
        let accepted = state.withLockedValue { state -> Bool in
            guard state.pendingBytes + bytes <= limitBytes else {
                state.droppedBytes += bytes
                return false
            }
            state.pending += text
            state.pendingBytes += bytes
            return true
        }
        statistics.update { accepted ? ($0.bufferedBytes += bytes) : ($0.droppedBytes += bytes) }
        if accepted { wakes.yield() }
    }

    /// Sends what still waits and returns once the last chunk frame is written.
    func finish() async {
        state.withLockedValue { state in
            state.finishing = true
            defer { state.coalescing = nil }
            return state.coalescing
        }?.resume()
        wakes.finish()
        await flusher.value
    }

    /// Stops at once; waiting text is discarded (the call failed or its client is gone).
    func cancel() {
        wakes.finish()
        flusher.cancel()
        let bytes = state.withLockedValue { state in
            defer { (state.pending, state.pendingBytes) = ("", 0) }
            return state.pendingBytes
        }
        if bytes > 0 { statistics.update { $0.bufferedBytes -= bytes } }
    }

    /// Bytes of text left out of the chunks because the client read too slowly.
    var droppedBytes: Int { state.withLockedValue { $0.droppedBytes } }
}
