import CTracelineHTTP
import TracelineCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The parts of an OTLP request that never change: URL, headers, TLS files and `User-Agent`,
/// copied once into C strings that live as long as the exporter.
///
/// Immutable after `init`; the C strings are only read (by libcurl, during a `post`), so one
/// template may be used from the export thread and the retry thread at once.
final class OTLPHTTPRequest: @unchecked Sendable {
    private let url: UnsafeMutablePointer<CChar>?
    private let caFile: UnsafeMutablePointer<CChar>?
    private let clientCertificate: UnsafeMutablePointer<CChar>?
    private let clientKey: UnsafeMutablePointer<CChar>?
    private let userAgent: UnsafeMutablePointer<CChar>?
    private let headers: UnsafeMutablePointer<UnsafePointer<CChar>?>
    private let headerCount: Int
    private let maxResponseBytes: Int

    init(configuration: OTLPExporterConfiguration, userAgent agent: String) {
        var lines = ["Content-Type: application/x-protobuf"]
        if configuration.compression == .gzip { lines.append("Content-Encoding: gzip") }
        for header in configuration.headers { lines.append("\(header.name): \(header.value)") }
        url = strdup(configuration.endpoint)
        caFile = configuration.certificateFile.map { strdup($0) }
        clientCertificate = configuration.clientCertificateFile.map { strdup($0) }
        clientKey = configuration.clientKeyFile.map { strdup($0) }
        userAgent = strdup(agent)
        headerCount = lines.count
        headers = .allocate(capacity: lines.count)
        for (index, line) in lines.enumerated() { (headers + index).initialize(to: UnsafePointer(strdup(line))) }
        maxResponseBytes = configuration.maxResponseBytes
    }

    deinit {
        for index in 0..<headerCount { free(UnsafeMutablePointer(mutating: headers[index])) }
        headers.deallocate()
        for string in [url, userAgent, caFile, clientCertificate, clientKey] { free(string) }
    }

    /// Sends `body` on `client` (which only one thread uses at a time) and fills `response`;
    /// returns libcurl's result as `traceline_http_post` does.
    func post(
        _ body: [UInt8], client: OpaquePointer, timeoutMilliseconds: Int,
        abortAt: UnsafeMutablePointer<Int64>, response: inout traceline_http_response
    ) -> Int32 {
        body.withUnsafeBufferPointer { bytes in
            var request = traceline_http_request(
                url: url, headers: UnsafePointer(headers), header_count: headerCount,
                body: bytes.baseAddress, body_length: bytes.count,
                timeout_ms: timeoutMilliseconds, ca_file: caFile,
                client_certificate: clientCertificate, client_key: clientKey,
                max_response_bytes: maxResponseBytes,
                user_agent: userAgent, abort_at_monotonic_ms: UnsafePointer(abortAt)
            )
            return traceline_http_post(client, &request, &response)
        }
    }
}
