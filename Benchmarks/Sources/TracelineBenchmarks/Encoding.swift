// Build + encode of one 512-span OTLP request: Traceline's libprotobuf-c encoder against
// swift-protobuf types generated from the same Proto/ (Sources/SwiftProtobufOTLP).

import BenchmarkSupport
import Foundation
import MallocCounter
import SwiftProtobufOTLP
import Traceline
@_spi(Testing) import TracelineCore
@_spi(Testing) import TracelineOTLP
import Tracing

/// The swift-protobuf peer: the same request built from the same finished spans.
func encodeWithSwiftProtobuf(_ spans: [FinishedSpan]) -> [UInt8] {
    var request = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest()
    var resourceSpans = Opentelemetry_Proto_Trace_V1_ResourceSpans()
    resourceSpans.resource.attributes = keyValues(spans.first?.resource.attributes ?? [:])
    var scopeSpans = Opentelemetry_Proto_Trace_V1_ScopeSpans()
    scopeSpans.scope.name = spans.first?.instrumentationScope.name ?? ""
    scopeSpans.scope.version = spans.first?.instrumentationScope.version ?? ""
    scopeSpans.spans.reserveCapacity(spans.count)
    for span in spans {
        var proto = Opentelemetry_Proto_Trace_V1_Span()
        proto.traceID = bigEndianBytes(span.spanContext.traceID.high, span.spanContext.traceID.low)
        proto.spanID = bigEndianBytes(span.spanContext.spanID.rawValue)
        if let parent = span.parentSpanID { proto.parentSpanID = bigEndianBytes(parent.rawValue) }
        proto.flags = UInt32(span.spanContext.traceFlags.rawValue) | 0x100 | (span.parentIsRemote ? 0x200 : 0)
        proto.name = span.name
        proto.kind = .client
        proto.startTimeUnixNano = span.startTimeNanosecondsSinceEpoch
        proto.endTimeUnixNano = span.endTimeNanosecondsSinceEpoch
        proto.attributes = keyValues(span.attributes)
        proto.events = span.events.map { event in
            var protoEvent = Opentelemetry_Proto_Trace_V1_Span.Event()
            protoEvent.name = event.name
            protoEvent.timeUnixNano = event.timeNanosecondsSinceEpoch
            protoEvent.attributes = keyValues(event.attributes)
            return protoEvent
        }
        scopeSpans.spans.append(proto)
    }
    resourceSpans.scopeSpans = [scopeSpans]
    request.resourceSpans = [resourceSpans]
    return (try? request.serializedBytes()) ?? []
}

private func keyValues(_ attributes: SpanAttributes) -> [Opentelemetry_Proto_Common_V1_KeyValue] {
    var result: [Opentelemetry_Proto_Common_V1_KeyValue] = []
    result.reserveCapacity(attributes.count)
    attributes.forEach { key, value in
        var keyValue = Opentelemetry_Proto_Common_V1_KeyValue()
        keyValue.key = key
        switch value {
        case .string(let text): keyValue.value.stringValue = text
        case .int64(let number): keyValue.value.intValue = number
        case .int32(let number): keyValue.value.intValue = Int64(number)
        case .double(let number): keyValue.value.doubleValue = number
        case .bool(let flag): keyValue.value.boolValue = flag
        default: keyValue.value.stringValue = "\(value)"
        }
        result.append(keyValue)
    }
    return result
}

private func bigEndianBytes(_ values: UInt64...) -> Data {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(values.count * 8)
    for value in values {
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }
    return Data(bytes)
}

/// `bytes` decoded by swift-protobuf, with every attribute list sorted by key.
private func normalised(_ bytes: [UInt8]) -> Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest {
    guard var request = try? Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest(serializedBytes: bytes)
    else { preconditionFailure("swift-protobuf cannot decode a \(bytes.count)-byte request") }
    func sort(_ list: inout [Opentelemetry_Proto_Common_V1_KeyValue]) { list.sort { $0.key < $1.key } }
    for r in request.resourceSpans.indices {
        sort(&request.resourceSpans[r].resource.attributes)
        for s in request.resourceSpans[r].scopeSpans.indices {
            for p in request.resourceSpans[r].scopeSpans[s].spans.indices {
                sort(&request.resourceSpans[r].scopeSpans[s].spans[p].attributes)
                for e in request.resourceSpans[r].scopeSpans[s].spans[p].events.indices {
                    sort(&request.resourceSpans[r].scopeSpans[s].spans[p].events[e].attributes)
                }
            }
        }
    }
    return request
}

func runEncodingBenchmark(runs: Int, oursOnly: Bool = false) {
    let spans = makeEncodingBatch(count: 512)
    let encoder = OTLPTraceEncoder()
    let ours = encoder.encode(spans)
    let theirs = encodeWithSwiftProtobuf(spans)
    // Both must describe the same request: decoded with swift-protobuf and with attributes put in
    // key order (a span's attribute dictionary has none), they must be equal field by field.
    let decodedOurs = normalised(ours), decodedTheirs = normalised(theirs)
    precondition(decodedOurs == decodedTheirs, "the two encoders' requests differ once decoded")
    precondition(decodedOurs.resourceSpans.first?.scopeSpans.first?.spans.count == spans.count)
    let iterations = 200
    var oursRates: [Double] = [], theirsRates: [Double] = []
    var oursMallocs: [Double] = [], theirsMallocs: [Double] = []
    for _ in 0..<runs {
        for peer in 0..<(oursOnly ? 1 : 2) {
            let mallocsBefore = malloc_counter_total()
            let start = ContinuousClock.now
            var sink = 0
            for _ in 0..<iterations {
                sink &+= peer == 0 ? encoder.encode(spans).count : encodeWithSwiftProtobuf(spans).count
            }
            let elapsed = ContinuousClock.now - start
            precondition(sink > 0)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let rate = Double(512 * iterations) / seconds
            let mallocs = Double(malloc_counter_total() - mallocsBefore) / Double(iterations)
            if peer == 0 {
                oursRates.append(rate); oursMallocs.append(mallocs)
            } else {
                theirsRates.append(rate); theirsMallocs.append(mallocs)
            }
        }
    }
    if oursOnly { print("Traceline encoder: \(Int(median(oursRates))) spans/s"); return }
    let oursMedian = median(oursRates), theirsMedian = median(theirsRates)
    print(
        "Build + encode of one 512-span request (4 attributes, 1 event per span), \(runs) runs x \(iterations) requests, medians"
    )
    print("| encoder                          | spans/s     | mallocs/request | bytes  |")
    print("|----------------------------------|-------------|-----------------|--------|")
    print(
        "| Traceline (libprotobuf-c, arena) | \(pad(String(Int(oursMedian)), 11)) | \(pad(String(Int(median(oursMallocs))), 15)) | \(pad(String(ours.count), 6)) |"
    )
    print(
        "| swift-protobuf 1.39.0            | \(pad(String(Int(theirsMedian)), 11)) | \(pad(String(Int(median(theirsMallocs))), 15)) | \(pad(String(theirs.count), 6)) |"
    )
    print(
        "Ratio (same run): Traceline / swift-protobuf = \(format(oursMedian / theirsMedian, decimals: 2))x (target >= 10x)"
    )
    print("Both requests decoded with swift-protobuf are equal field by field (attributes in key order).")
}
