import Synchronization

/// A fixed-size multi-producer, single-consumer ring of finished spans: the only buffer between
/// `end()` and the exporter.
///
/// Producers claim a slot with one compare-and-swap on the tail and publish it with a release
/// store of the slot's sequence number (the bounded queue design described by Dmitry Vyukov);
/// no lock is taken and nothing is allocated per span. When every slot is taken, `enqueue`
/// fails immediately and the caller counts the drop; the queue itself never blocks.
///
/// `@unchecked Sendable`: a slot is written only by the producer that claimed its position and
/// read only by the one consumer, each ordered by the slot's sequence number. The ring size is a
/// power of two (the index mask relies on it) and only one thread dequeues; both are preconditions.
final class BoundedSpanQueue: @unchecked Sendable {
    let capacity: Int
    private let mask: Int
    private let ringIsExact: Bool  // capacity is a power of two: the ring itself is the bound
    private let sequences: UnsafeMutablePointer<Atomic<Int>>
    private let slots: UnsafeMutablePointer<FinishedSpan>
    private let tail = Atomic<Int>(0)  // next position producers claim
    private let head = Atomic<Int>(0)  // next position the consumer reads; written by the consumer only

    /// `capacity` is rounded up to a power of two internally for the index mask, but the queue
    /// never holds more than `capacity` spans.
    init(capacity requested: Int) {
        let capacity = max(1, requested)
        var slotCount = 1
        while slotCount < capacity { slotCount <<= 1 }
        self.capacity = capacity
        self.mask = slotCount - 1
        self.ringIsExact = slotCount == capacity
        self.sequences = .allocate(capacity: slotCount)
        for index in 0..<slotCount { (sequences + index).initialize(to: Atomic<Int>(index)) }
        self.slots = .allocate(capacity: slotCount)
        precondition(slotCount & (slotCount - 1) == 0 && slotCount >= capacity, "ring size must be a power of two")
    }

    deinit {
        while dequeue() != nil {}
        sequences.deinitialize(count: mask + 1)
        sequences.deallocate()
        slots.deallocate()
    }

    /// Spans currently queued (a snapshot; exact when producers are quiet).
    var count: Int {
        let queued = tail.load(ordering: .relaxed) - head.load(ordering: .relaxed)
        return max(0, min(queued, capacity))
    }

    /// Total spans ever accepted.
    var enqueuedTotal: Int { tail.load(ordering: .relaxed) }

    /// Adds `span` and returns its position (a running count of accepted spans), or returns nil at
    /// once if the queue is full.
    func enqueue(_ span: consuming FinishedSpan) -> Int? {
        guard let position = claim() else { return nil }
        fill(position, with: span)
        return position
    }

    /// Reserves the next slot and returns its position, or nil at once if the queue is full. The
    /// caller must ``fill(_:with:)`` it: the consumer stops at a claimed slot until it is filled.
    func claim() -> Int? {
        var position = tail.load(ordering: .relaxed)
        while true {
            // Logical bound: never more than `capacity` in flight, even if the ring has spare slots.
            if !ringIsExact, position - head.load(ordering: .acquiring) >= capacity { return nil }
            let sequence = sequences[position & mask].load(ordering: .acquiring)
            let difference = sequence - position
            if difference == 0 {
                let (exchanged, current) = tail.compareExchange(
                    expected: position, desired: position + 1, successOrdering: .relaxed, failureOrdering: .relaxed
                )
                if exchanged { return position }
                position = current
            } else if difference < 0 {
                return nil
            } else {
                position = tail.load(ordering: .relaxed)
            }
        }
    }

    /// Stores `span` in the slot claimed at `position` and publishes it to the consumer.
    func fill(_ position: Int, with span: consuming FinishedSpan) {
        (slots + (position & mask)).initialize(to: consume span)
        sequences[position & mask].store(position + 1, ordering: .releasing)
    }

    /// Removes the oldest span. Only the consumer (the export thread) may call this.
    func dequeue() -> FinishedSpan? {
        let position = head.load(ordering: .relaxed)
        let sequence = sequences[position & mask].load(ordering: .acquiring)
        guard sequence == position + 1 else { return nil }
        let span = (slots + (position & mask)).move()
        sequences[position & mask].store(position + mask + 1, ordering: .releasing)
        // A second consumer would have moved the same slot out twice.
        precondition(head.load(ordering: .relaxed) == position, "BoundedSpanQueue has a single consumer")
        head.store(position + 1, ordering: .releasing)
        return span
    }

    /// Removes up to `limit` spans, oldest first. Consumer only.
    func dequeue(upTo limit: Int) -> [FinishedSpan] {
        var batch: [FinishedSpan] = []
        batch.reserveCapacity(min(limit, count))
        while batch.count < limit, let span = dequeue() { batch.append(span) }
        return batch
    }
}
