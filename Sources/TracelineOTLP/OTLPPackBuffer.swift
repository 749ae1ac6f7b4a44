#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the encoder packs a request: mapped memory followed by one inaccessible guard page.
///
/// libprotobuf-c's `pack` writes without bounds checks into memory its caller sized. Sizing it
/// exactly (`get_packed_size`) walks the whole request once more, about a quarter of encoding, so
/// the encoder reserves a bound it can prove instead (see `OTLPTraceEncoder.packedSizeBound`). If
/// that bound were ever wrong, the first byte past it faults on the guard page: a crash, never a
/// write into other memory. Only the pages a request fills become resident; they are reused batch
/// after batch, and a reservation over `retainedBytes` is unmapped after use.
/// Not thread-safe: one per encoder.
final class OTLPPackBuffer {
    /// Reservations up to this size are kept for the next batch.
    static let retainedBytes = 4 << 20

    private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    private var mapping: UnsafeMutableRawPointer?
    /// Writable bytes before the guard page.
    private(set) var capacity = 0

    init() {}

    deinit { unmap() }

    /// Calls `body` with at least `bytes` writable bytes followed by the guard page, or returns nil
    /// if the memory could not be mapped.
    func withReservation<Result>(
        of bytes: Int, _ body: (UnsafeMutableRawPointer) -> Result
    ) -> Result? {
        precondition(bytes >= 0, "negative reservation")
        if bytes > capacity || mapping == nil {
            unmap()
            guard map(writableBytes: bytes) else { return nil }
        }
        defer { if capacity > Self.retainedBytes { unmap() } }
        return body(mapping!)
    }

    private func map(writableBytes bytes: Int) -> Bool {
        let page = Self.pageSize
        let writable = max(page, (bytes + page - 1) / page * page)
        let total = writable + page
        guard let region = mmap(nil, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            region != MAP_FAILED
        else { return false }
        guard mprotect(region, writable, PROT_READ | PROT_WRITE) == 0 else {
            munmap(region, total)
            return false
        }
        mapping = region
        capacity = writable
        return true
    }

    private func unmap() {
        if let mapping { munmap(mapping, capacity + Self.pageSize) }
        mapping = nil
        capacity = 0
    }
}
