import Tracing

extension SpanAttribute {
    /// The value as plain text, the one way metrics labels and the trace pages show an attribute:
    /// numbers and booleans as Swift prints them, arrays comma-separated, unknown kinds empty.
    package var plainText: String {
        switch self {
        case .string(let value): return value
        case .int32(let value): return String(value)
        case .int64(let value): return String(value)
        case .double(let value): return String(value)
        case .bool(let value): return String(value)
        case .stringArray(let values): return values.joined(separator: ", ")
        case .int64Array(let values): return values.map { String($0) }.joined(separator: ", ")
        case .int32Array(let values): return values.map { String($0) }.joined(separator: ", ")
        case .doubleArray(let values): return values.map { String($0) }.joined(separator: ", ")
        case .boolArray(let values): return values.map { String($0) }.joined(separator: ", ")
        case .stringConvertible(let value): return String(describing: value)
        case .stringConvertibleArray(let values): return values.map { $0.description }.joined(separator: ", ")
        default: return ""
        }
    }
}
