import Foundation
import NIOCore

/// Splits a `text/event-stream` body into the `data` of its events, as bytes arrive.
///
/// Follows the HTML event-stream grammar: lines end in CR, LF or CRLF; a line starting with `:`
/// is a comment; `data:` lines of one event are joined with `\n`; a blank line ends the event;
/// other fields (`event`, `id`, `retry`) are ignored. A line, and an event's data, over
/// `maxLineBytes` is an error, so a server that never sends a newline cannot grow memory.
/// Cost: one pass over each byte.
struct ServerSentEventParser {
    enum Failure: Error, Equatable {
        case lineTooLong(limit: Int)
    }

    let maxLineBytes: Int
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var afterCR = false

    init(maxLineBytes: Int) {
        precondition(maxLineBytes > 0, "maxLineBytes must be positive")
        self.maxLineBytes = maxLineBytes
    }

    /// Feeds the next bytes; returns the data of every event they complete, in order.
    mutating func feed(_ buffer: ByteBuffer) throws(Failure) -> [String] {
        var result: Result<[String], Failure> = .success([])
        buffer.withUnsafeReadableBytes { raw in result = Result { () throws(Failure) in try self.feed(raw) } }
        return try result.get()
    }

    /// Feeds the next bytes; returns the data of every event they complete, in order.
    mutating func feed(_ bytes: some ContiguousBytes) throws(Failure) -> [String] {
        var result: Result<[String], Failure> = .success([])
        bytes.withUnsafeBytes { raw in result = Result { () throws(Failure) in try self.feed(raw) } }
        return try result.get()
    }

    /// Copies whole runs between line ends (found with `memchr`), not byte by byte.
    private mutating func feed(_ raw: UnsafeRawBufferPointer) throws(Failure) -> [String] {
        var events: [String] = []
        guard let base = raw.baseAddress else { return events }
        var position = 0
        while position < raw.count {
            if afterCR {
                afterCR = false
                if raw[position] == 0x0A {  // the LF of a CRLF
                    position += 1
                    continue
                }
            }
            let remaining = raw.count - position
            let lf = memchr(base + position, 0x0A, remaining).map { $0 - UnsafeMutableRawPointer(mutating: base) }
            let cr = memchr(base + position, 0x0D, lf.map { $0 - position } ?? remaining).map {
                $0 - UnsafeMutableRawPointer(mutating: base)
            }
            let end = cr ?? lf ?? raw.count
            guard line.count + (end - position) <= maxLineBytes else { throw .lineTooLong(limit: maxLineBytes) }
            line.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[position..<end]))
            guard end < raw.count else { break }
            afterCR = raw[end] == 0x0D
            if let event = try endLine() { events.append(event) }
            position = end + 1
        }
        return events
    }

    /// The end of the body: a last event without its blank line still counts.
    mutating func finish() throws(Failure) -> [String] {
        var events: [String] = []
        if !line.isEmpty, let event = try endLine() { events.append(event) }
        if hasData { events.append(takeData()) }
        return events
    }

    private mutating func endLine() throws(Failure) -> String? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty { return hasData ? takeData() : nil }
        if line[0] == UInt8(ascii: ":") { return nil }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        guard line[..<colon].elementsEqual("data".utf8) else { return nil }
        var valueStart = colon == line.endIndex ? colon : colon + 1
        if valueStart < line.endIndex, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        if hasData { data.append(0x0A) }
        guard data.count + (line.endIndex - valueStart) <= maxLineBytes else { throw .lineTooLong(limit: maxLineBytes) }
        data.append(contentsOf: line[valueStart...])
        hasData = true
        return nil
    }

    private mutating func takeData() -> String {
        defer {
            data.removeAll(keepingCapacity: true)
            hasData = false
        }
        return String(decoding: data, as: UTF8.self)
    }
}
