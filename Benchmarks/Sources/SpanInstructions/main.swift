// Runs one span scenario N times with no malloc interposer, for `valgrind --tool=callgrind`
// (instruction counts do not move with the shared machine's noise; the interposer of
// TracelineBenchmarks crashes valgrind). See Benchmarks/README.md, "Instruction counts".
//
//   SpanInstructions <noop|recording|recording-value-limit|unsampled|unsampled-metrics> <count>

import Foundation
import Traceline
@_spi(Testing) import TracelineCore
@_spi(Testing) import TracelineOTLP
import Tracing

struct DiscardingExporter: SpanExporter {
    func export(_ batch: [FinishedSpan], deadline: ContinuousClock.Instant) -> ExportResult { .success }
}

@inline(never)
func spanLoop<T: Tracer>(_ tracer: T, count: Int) {
    for index in 0..<count {
        tracer.withSpan("op", context: .topLevel, ofKind: .client) { span in
            span.attributes["peer.service"] = "kimi"
            span.attributes["gen_ai.request.model"] = "kimi-k2"
            span.attributes["http.response.status_code"] = 200
            span.attributes["iteration"] = index
        }
    }
}

let arguments = CommandLine.arguments
let scenario = arguments.count > 1 ? arguments[1] : "recording"
let count = arguments.count > 2 ? Int(arguments[2]) ?? 100_000 : 100_000
let resource = Resource(attributes: ["service.name": "bench"])
switch scenario {
case "noop":
    spanLoop(NoOpTracer(), count: count)
case "recording":
    let provider = TracerProvider(resource: resource, processors: [BatchSpanProcessor(exporter: DiscardingExporter())])
    // No `await` anywhere: an async main runs on dispatch's main queue, which crashes valgrind 3.19.
    spanLoop(provider.tracer(), count: count)
case "recording-value-limit":
    let provider = TracerProvider(
        resource: resource, limits: SpanLimits(attributeValueLengthLimit: 4096),
        processors: [BatchSpanProcessor(exporter: DiscardingExporter())])
    spanLoop(provider.tracer(), count: count)
case "unsampled":
    let provider = TracerProvider(
        resource: resource, sampler: AlwaysOffSampler(),
        processors: [BatchSpanProcessor(exporter: DiscardingExporter())])
    spanLoop(provider.tracer(), count: count)
case "unsampled-metrics":
    let provider = TracerProvider(
        resource: resource, sampler: AlwaysOffSampler(),
        processors: [SpanMetricsProcessor(), BatchSpanProcessor(exporter: DiscardingExporter())])
    spanLoop(provider.tracer(), count: count)
default:
    FileHandle.standardError.write(Data("unknown scenario \(scenario)\n".utf8))
    exit(2)
}
