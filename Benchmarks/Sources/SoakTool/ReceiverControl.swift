import Foundation

/// The fault-injecting receiver (`Soak/soak_receiver.py`) running as a child process, and a
/// minimal HTTP/1.0 client for its control port (a raw socket: one request per connection).
final class SoakReceiver: @unchecked Sendable {
    let process: Process
    let dataPort: Int
    let controlPort: Int

    /// Starts the receiver with `python` and waits for its `PORTS <data> <control>` line.
    init(python: String, script: String, maxSeq: Int) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, "--max-seq", String(maxSeq)]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var line = Data()
        let handle = output.fileHandleForReading
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = handle.availableData
            if chunk.isEmpty { throw SoakError("the receiver exited before printing its ports") }
            line.append(chunk)
        }
        let words = String(decoding: line, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard words.count >= 3, words[0] == "PORTS", let data = Int(words[1]), let control = Int(words[2]) else {
            throw SoakError("unexpected receiver output: \(String(decoding: line, as: UTF8.self))")
        }
        dataPort = data
        controlPort = control
    }

    /// Switches the answer to every following request (`200`, `503:ra=1`, `refuse`, …).
    func setMode(_ mode: String) throws {
        let (status, body) = try request("POST", "/mode", body: mode)
        guard status == 200 else { throw SoakError("mode \(mode) refused: \(status) \(body)") }
    }

    /// The receiver's counters, with the per-sequence accounting over `[0, created)`.
    func statistics(created: Int) throws -> [String: Any] {
        let (status, body) = try request("GET", "/stats?created=\(created)", body: nil)
        guard status == 200, let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
            throw SoakError("stats failed: \(status)")
        }
        return json
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    private func request(_ method: String, _ path: String, body: String?) throws -> (Int, String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SoakError("socket failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(controlPort).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw SoakError("cannot reach the receiver's control port") }
        let payload = body ?? ""
        let text =
            "\(method) \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: \(payload.utf8.count)\r\n\r\n\(payload)"
        _ = text.withCString { send(fd, $0, strlen($0), 0) }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            response.append(contentsOf: buffer[0..<count])
        }
        let whole = String(decoding: response, as: UTF8.self)
        guard let statusText = whole.split(separator: " ", maxSplits: 2).dropFirst().first, let status = Int(statusText)
        else {
            throw SoakError("malformed control response")
        }
        let bodyText = whole.range(of: "\r\n\r\n").map { String(whole[$0.upperBound...]) } ?? ""
        return (status, bodyText)
    }
}

struct SoakError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Resident memory now and its peak (VmRSS, VmHWM of /proc/self/status), in bytes.
func memoryUsage() -> (current: Int, peak: Int) {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    func field(_ name: String) -> Int {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name) }) else { return 0 }
        return (Int(line.split(whereSeparator: \.isWhitespace).dropFirst().first ?? "") ?? 0) * 1024
    }
    return (field("VmRSS:"), field("VmHWM:"))
}
