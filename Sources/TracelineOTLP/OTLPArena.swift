import COTLPProto
import TracelineCore

/// A bump allocator for the protobuf-c structures of one export request.
///
/// Encoding a batch builds thousands of small C structs (spans, key/values, values, pointer
/// arrays, string bytes). They all live until the request is packed, then die together, so they
/// come from a few 64 KiB chunks that are reused batch after batch instead of one malloc each.
final class OTLPArena {
    private static let chunkSize = 64 * 1024
    // One encoder uses an arena from one thread at a time, so the runtime's exclusivity checks on
    // these fields (an access-set insert per allocation, measured at about 7 % of encoding) are off.
    @exclusivity(unchecked) private var chunks: [UnsafeMutableRawPointer] = []
    @exclusivity(unchecked) private var oversized: [UnsafeMutableRawPointer] = []
    @exclusivity(unchecked) private var chunkIndex = -1
    @exclusivity(unchecked) private var offset = chunkSize
    /// Bytes handed out since the last reset (for tests and statistics).
    @exclusivity(unchecked) private(set) var bytesAllocated = 0

    init() {}

    deinit {
        for chunk in chunks { chunk.deallocate() }
        for block in oversized { block.deallocate() }
    }

    /// Forgets everything allocated; keeps the chunks for the next batch.
    func reset() {
        chunkIndex = chunks.isEmpty ? -1 : 0
        offset = 0
        if chunks.isEmpty { offset = Self.chunkSize }
        for block in oversized { block.deallocate() }
        oversized.removeAll(keepingCapacity: true)
        bytesAllocated = 0
    }

    /// Uninitialized, suitably aligned memory for `count` values of `T`.
    @inline(__always)
    func allocate<T>(_ type: T.Type, count: Int = 1) -> UnsafeMutablePointer<T> {
        let bytes = MemoryLayout<T>.stride * max(count, 1)
        return allocateRaw(bytes: bytes, alignment: MemoryLayout<T>.alignment).bindMemory(
            to: T.self, capacity: max(count, 1))
    }

    /// `alignment` is a power of two up to 16 (the chunks' own alignment); the returned block lies
    /// inside one chunk. Both are preconditions: the C structs written through it rely on them.
    @inline(__always)
    func allocateRaw(bytes: Int, alignment: Int) -> UnsafeMutableRawPointer {
        precondition(alignment > 0 && alignment <= 16 && alignment & (alignment - 1) == 0 && bytes >= 0)
        bytesAllocated += bytes
        if bytes > Self.chunkSize / 4 {
            let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: max(alignment, 16))
            oversized.append(block)
            return block
        }
        var aligned = (offset + alignment - 1) & ~(alignment - 1)
        if chunkIndex < 0 || aligned + bytes > Self.chunkSize {
            chunkIndex += 1
            if chunkIndex == chunks.count {
                chunks.append(UnsafeMutableRawPointer.allocate(byteCount: Self.chunkSize, alignment: 16))
            }
            aligned = 0
        }
        offset = aligned + bytes
        precondition(offset <= Self.chunkSize, "arena block past the end of its chunk")
        return chunks[chunkIndex] + aligned
    }

    /// A copy of the string's UTF-8 bytes, any bytes included (NUL too), as protobuf-c binary data.
    func binary(_ string: String) -> ProtobufCBinaryData {
        if let copied = string.utf8.withContiguousStorageIfAvailable({ binary(UnsafeRawBufferPointer($0)) }) {
            return copied
        }
        var contiguous = string
        return contiguous.withUTF8 { utf8 in binary(UnsafeRawBufferPointer(utf8)) }
    }

    func binary(_ bytes: UnsafeRawBufferPointer) -> ProtobufCBinaryData {
        guard bytes.count > 0, let base = bytes.baseAddress else { return ProtobufCBinaryData(len: 0, data: nil) }
        let target = allocateRaw(bytes: bytes.count, alignment: 1)
        target.copyMemory(from: base, byteCount: bytes.count)
        return ProtobufCBinaryData(len: bytes.count, data: target.assumingMemoryBound(to: UInt8.self))
    }

    /// A span ID as 8 big-endian bytes.
    func bigEndian(_ value: UInt64) -> ProtobufCBinaryData {
        let target = allocateRaw(bytes: 8, alignment: 8)
        target.storeBytes(of: value.bigEndian, as: UInt64.self)
        return ProtobufCBinaryData(len: 8, data: target.assumingMemoryBound(to: UInt8.self))
    }

    /// A trace ID as 16 big-endian bytes.
    func bigEndian(_ high: UInt64, _ low: UInt64) -> ProtobufCBinaryData {
        let target = allocateRaw(bytes: 16, alignment: 8)
        target.storeBytes(of: high.bigEndian, as: UInt64.self)
        (target + 8).storeBytes(of: low.bigEndian, as: UInt64.self)
        return ProtobufCBinaryData(len: 16, data: target.assumingMemoryBound(to: UInt8.self))
    }
}
