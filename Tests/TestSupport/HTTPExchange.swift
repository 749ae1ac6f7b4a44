import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One HTTP/1.1 response, as `httpExchange` read it.
public struct HTTPExchangeResponse: Sendable {
    public let status: Int
    /// Header names in lower case.
    public let headers: [String: String]
    public let body: String
}

/// Sends one HTTP/1.1 request to `url` (`http://127.0.0.1:PORT/path` only) on a plain socket with
/// `Connection: close`, and reads the response to the end (Content-Length, chunked, or until
/// the server closes). The tests' HTTP client: unlike URLSession it holds no libcurl state, so
/// LeakSanitizer needs no suppression for it and still sees the exporter's own curl handles.
public func httpExchange(
    _ url: String, method: String = "GET", headers: [String: String] = [:], body: String? = nil,
    timeout: Duration = .seconds(30)
) async throws -> HTTPExchangeResponse {
    guard let parsed = URLComponents(string: url), parsed.scheme == "http", let port = parsed.port else {
        throw ReceiverError(description: "httpExchange takes http://HOST:PORT/path, not \(url)")
    }
    let host = parsed.host ?? "127.0.0.1"
    let target =
        (parsed.percentEncodedPath.isEmpty ? "/" : parsed.percentEncodedPath)
        + (parsed.percentEncodedQuery.map { "?\($0)" } ?? "")
    var head = "\(method) \(target) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n"
    for (name, value) in headers { head += "\(name): \(value)\r\n" }
    if let body { head += "Content-Length: \(body.utf8.count)\r\n" }
    let request = Array((head + "\r\n" + (body ?? "")).utf8)
    let raw = try await offThreadThrowing { try exchange(host: host, port: port, request: request, timeout: timeout) }
    return try parseResponse(raw)
}

private func exchange(host: String, port: Int, request: [UInt8], timeout: Duration) throws -> [UInt8] {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ReceiverError(description: "socket: errno \(errno)") }
    defer { close(fd) }
    var wait = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &address.sin_addr) == 1 else {
        throw ReceiverError(description: "httpExchange takes an IPv4 address, not \(host)")
    }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { throw ReceiverError(description: "connect to \(host):\(port): errno \(errno)") }
    var sent = 0
    while sent < request.count {
        let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, request.count - sent, Int32(MSG_NOSIGNAL)) }
        guard n > 0 else { throw ReceiverError(description: "send: errno \(errno)") }
        sent += n
    }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n == 0 { break }
        guard n > 0 else { throw ReceiverError(description: "recv: errno \(errno) after \(response.count) bytes") }
        response += buffer[..<n]
    }
    return response
}

private func parseResponse(_ raw: [UInt8]) throws -> HTTPExchangeResponse {
    let separator: [UInt8] = Array("\r\n\r\n".utf8)
    guard let end = raw.indices.first(where: { raw[$0...].starts(with: separator) }) else {
        throw ReceiverError(description: "no complete response head in \(raw.count) bytes")
    }
    let lines = String(decoding: raw[..<end], as: UTF8.self).components(separatedBy: "\r\n")
    let statusParts = lines[0].split(separator: " ", maxSplits: 2)
    guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
        throw ReceiverError(description: "bad status line: \(lines[0])")
    }
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    var body = Array(raw[(end + separator.count)...])
    if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
        var decoded: [UInt8] = []
        var index = 0
        while let lineEnd = body[index...].firstIndex(of: UInt8(ascii: "\r")),
            let size = String(decoding: body[index..<lineEnd], as: UTF8.self).split(separator: ";").first
                .flatMap({ Int($0.trimmingCharacters(in: .whitespaces), radix: 16) })
        {
            let start = lineEnd + 2
            guard size > 0, start + size <= body.count else { break }
            decoded += body[start..<(start + size)]
            index = start + size + 2
            guard index < body.count else { break }
        }
        body = decoded
    } else if let length = headers["content-length"].flatMap({ Int($0) }), length < body.count {
        body = Array(body[..<length])
    }
    return HTTPExchangeResponse(status: status, headers: headers, body: String(decoding: body, as: UTF8.self))
}
