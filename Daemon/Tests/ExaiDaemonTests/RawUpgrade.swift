import Foundation
import TracelineTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Sends a WebSocket upgrade request over a plain socket and reads the response head, to see the
/// 101's headers (the WebSocket client does not expose them).
func rawUpgrade(port: Int, extraHeaders: String) async throws -> (status: Int, headers: [String: String]) {
    try await offThreadThrowing {
        let fd = try loopbackSocket(port: port)
        defer { close(fd) }
        sendUpgradeRequest(fd, port: port, extraHeaders: extraHeaders)
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !received.suffix(4).elementsEqual([13, 10, 13, 10]) {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            received.append(contentsOf: buffer[0..<count])
            if let end = String(decoding: received, as: UTF8.self).range(of: "\r\n\r\n") { _ = end; break }
        }
        let head = String(decoding: received, as: UTF8.self).components(separatedBy: "\r\n\r\n")[0]
        let lines = head.components(separatedBy: "\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        return (status, headers)
    }
}

/// Writes a WebSocket upgrade request for `/` (with `extraHeaders`, each ending in CRLF) to `fd`.
func sendUpgradeRequest(_ fd: Int32, port: Int, extraHeaders: String = "") {
    let request =
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\(extraHeaders)\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
}

/// A blocking TCP socket connected to 127.0.0.1:`port`, reads timing out after 5 s; with
/// `receiveBuffer`, SO_RCVBUF is set first (a small one makes a client that never reads stall the sender soon).
func loopbackSocket(port: Int, receiveBuffer: Int32? = nil) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else {
        close(fd)
        throw ClientError(description: "connect failed")
    }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    return fd
}

/// Opens a WebSocket connection on a plain socket and returns the status code of the close frame
/// the server sends first (nil if the connection ends or a read times out without one); answers
/// it with a close frame of its own, as a client must.
///
/// For connections the daemon refuses right after the upgrade: hummingbird-websocket's client
/// sometimes misses a close that arrives with the 101 and then never returns (its socket stays in
/// CLOSE-WAIT), which hung the suite.
func rawCloseCode(port: Int) async throws -> UInt16? {
    try await offThreadThrowing {
        let fd = try loopbackSocket(port: port)
        defer { close(fd) }
        sendUpgradeRequest(fd, port: port)
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        var offset: Int?  // where the next unparsed frame starts, once the response head is read
        while true {
            if offset == nil,
                let end = received.indices.first(where: { received[$0...].starts(with: [13, 10, 13, 10]) })
            {
                offset = end + 4
            }
            // Server frames are unmasked: opcode, then a 7-bit length (or 126 and a 16-bit one).
            while let start = offset, received.count - start >= 2 {
                let opcode = received[start] & 0x0F
                var length = Int(received[start + 1] & 0x7F)
                var header = 2
                guard length != 127 else { return nil }  // a 64-bit length: not a refusal's frame
                if length == 126 {
                    guard received.count - start >= 4 else { break }
                    length = Int(received[start + 2]) << 8 | Int(received[start + 3])
                    header = 4
                }
                guard received.count - start >= header + length else { break }
                if opcode == 0x8 {
                    guard length >= 2 else { return nil }
                    let code = UInt16(received[start + header]) << 8 | UInt16(received[start + header + 1])
                    let reply: [UInt8] = [0x88, 0x82, 0, 0, 0, 0, UInt8(code >> 8), UInt8(code & 0xFF)]
                    _ = reply.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    return code
                }
                offset = start + header + length
            }
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return nil }
            received.append(contentsOf: buffer[0..<count])
        }
    }
}
