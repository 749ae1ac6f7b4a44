import TracelineCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Parses an HTTP `Retry-After` value: delay-seconds or an HTTP-date in any of the three forms
/// RFC 9110 requires recipients to accept (IMF-fixdate, RFC 850, asctime). Used by the OTLP exporter
/// and by any client that honours a server's back-off (the daemon's provider client).
public enum RetryAfter {
    /// The delay the header asks for, relative to `nowSeconds` (Unix time); nil if unparseable.
    /// A date in the past gives zero.
    public static func delay(_ value: String, nowSeconds: Int64) -> Duration? {
        let text = value.trimmingSpaces
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let seconds = Int64(text) else { return .seconds(Int64.max / 4) }  // absurdly large: caller caps it
            return .seconds(seconds)
        }
        guard let date = parseHTTPDate(text) else { return nil }
        return .seconds(max(0, date - nowSeconds))
    }

    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Unix seconds for an HTTP-date, or nil.
    public static func parseHTTPDate(_ text: String) -> Int64? {
        // Split on spaces, commas and dashes; the three forms then differ only in field order.
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "-" }).map(String.init)
        var day: Int?, month: Int?, year: Int?, time: (Int, Int, Int)?
        for part in parts {
            if let parsed = parseTime(part) {
                time = parsed
            } else if let index = months.firstIndex(of: part.lowercased()) {
                month = index
            } else if let number = Int(part) {
                if part.count == 4 { year = number } else if day == nil { day = number } else { year = number }
            } else if part.uppercased() == "GMT" || isWeekday(part) {
                continue
            } else {
                return nil
            }
        }
        guard let day, let month, var year, let time, (1...31).contains(day), (0...9999).contains(year) else {
            return nil
        }
        if year < 100 { year += year < 70 ? 2000 : 1900 }  // RFC 850 two-digit years
        // The year range keeps `tm_year` within Int32: a hostile collector's header (a date with
        // an absurd year) must not trap the process.
        var parts_ = tm()
        parts_.tm_year = Int32(year - 1900)
        parts_.tm_mon = Int32(month)
        parts_.tm_mday = Int32(day)
        parts_.tm_hour = Int32(time.0)
        parts_.tm_min = Int32(time.1)
        parts_.tm_sec = Int32(time.2)
        let seconds = timegm(&parts_)
        return seconds == -1 ? nil : Int64(seconds)
    }

    private static func parseTime(_ part: String) -> (Int, Int, Int)? {
        let pieces = part.split(separator: ":")
        guard pieces.count == 3, let hour = Int(pieces[0]), let minute = Int(pieces[1]), let second = Int(pieces[2]),
            (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second)
        else { return nil }
        return (hour, minute, second)
    }

    private static func isWeekday(_ part: String) -> Bool {
        let lower = part.lowercased()
        return ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].contains(where: { lower.hasPrefix($0) })
    }
}
