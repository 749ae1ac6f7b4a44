import CTracelineSupport
import Synchronization

/// A counter split into 64 cells a cache line apart, one chosen per thread, so that threads
/// counting at once never write the same cache line. Reads sum the cells (exact once writers are quiet).
///
/// `@unchecked Sendable`: the cells are atomics; the pointer to them never changes. The stripe
/// index comes from C (`traceline_thread_stripe`, masked to 0..<64), checked in debug builds.
final class StripedCounter: @unchecked Sendable {
    private static let stripes = 64
    private static let spacing = 8  // 8 × 8 bytes = one 64-byte cache line per cell
    private let cells: UnsafeMutablePointer<Atomic<Int>>

    init() {
        let count = Self.stripes * Self.spacing
        cells = .allocate(capacity: count)
        for index in 0..<count { (cells + index).initialize(to: Atomic<Int>(0)) }
    }

    deinit {
        cells.deinitialize(count: Self.stripes * Self.spacing)
        cells.deallocate()
    }

    @inline(__always)
    func increment() {
        assert(traceline_thread_stripe() < Self.stripes)
        cells[Int(traceline_thread_stripe()) &* Self.spacing].add(1, ordering: .relaxed)
    }

    var value: Int {
        stride(from: 0, to: Self.stripes * Self.spacing, by: Self.spacing).reduce(0) {
            $0 + cells[$1].load(ordering: .relaxed)
        }
    }
}
