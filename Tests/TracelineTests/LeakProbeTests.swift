import CTracelineHTTP
import Foundation
import Testing

/// Scripts/test.sh runs this alone, under AddressSanitizer with the project's LeakSanitizer
/// suppressions, and requires the run to fail with a report of the curl handle leaked here: proof
/// that the suppressions do not hide a leak of the exporter's own curl handles. Off otherwise.
@Suite struct LeakProbeTests {
    @Test(
        "leak probe: a curl handle of ours that is never cleaned up",
        .enabled(if: ProcessInfo.processInfo.environment["TRACELINE_LSAN_PROBE"] == "1"))
    func leakedCurlHandle() throws {
        let client = try #require(traceline_http_client_create())
        // Frees our wrapper and not the easy handle inside it: the handle is now unreachable.
        free(UnsafeMutableRawPointer(client))
    }
}
