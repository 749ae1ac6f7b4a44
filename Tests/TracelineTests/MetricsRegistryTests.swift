import Foundation
import Testing
import TracelineTestSupport
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

@Suite(.serialized) struct MetricsRegistryTests {
    func value(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap {
            Double($0.split(separator: " ").last ?? "")
        }
    }

    @Test("SDK self-metrics follow the pipeline's statistics")
    func pipelineMetrics() async throws {
        let receiver = try await OTLPReceiver.start(script: "partial:1:one bad")
        let exporter = OTLPHTTPExporter(configuration: fastConfiguration(endpoint: receiver.endpoint))
        let processor = BatchSpanProcessor(
            exporter: exporter,
            configuration: .init(scheduleDelay: .seconds(3600), maxQueueSize: 8, maxExportBatchSize: 8))
        let provider = TracerProvider(processors: [processor])
        let tracer = provider.tracer()
        for index in 0..<5 { tracer.startSpan("s\(index)", context: .topLevel).end() }
        let report = await processor.forceFlush(deadline: .now + .seconds(10))
        #expect(report.exported == 4 && report.rejected == 1, "a partial success: one span refused (\(report))")
        #expect(!report.isComplete, "a refused span is lost")
        let text = MetricsRegistry([PipelineMetrics(provider: provider)]).render(format: .prometheusText)
        let processorLabels =
            #"{otel_component_type="batching_span_processor",otel_component_name="batching_span_processor/0"}"#
        let exporterLabels =
            #"otel_component_type="otlp_http_span_exporter",otel_component_name="otlp_http_span_exporter/0""#
        #expect(value(text, "otel_sdk_span_started_total") == 5)
        #expect(value(text, "otel_sdk_span_ended_total") == 5)
        #expect(value(text, "otel_sdk_processor_span_queue_capacity\(processorLabels)") == 8)
        #expect(value(text, "otel_sdk_processor_span_queue_size\(processorLabels)") == 0)
        #expect(value(text, "otel_sdk_processor_span_processed_total\(processorLabels)") == 5)
        #expect(value(text, "traceline_processor_enqueue_waits_total\(processorLabels)") == 0)
        #expect(value(text, "otel_sdk_exporter_span_exported_total{\(exporterLabels)}") == 4)
        #expect(value(text, "otel_sdk_exporter_span_exported_total{\(exporterLabels),error_type=\"rejected\"}") == 1)
        #expect(value(text, "traceline_exporter_requests_total{\(exporterLabels)}") == 1)
        #expect(value(text, "traceline_exporter_breaker_state{\(exporterLabels),state=\"closed\"}") == 1)
        #expect(value(text, "traceline_exporter_breaker_state{\(exporterLabels),state=\"open\"}") == 0)
        _ = await provider.shutdown(deadline: .now + .seconds(5))
    }

    @Test("process metrics are read from /proc and plausible")
    func processMetrics() {
        let text = ProcessMetrics().renderFamilies(format: .prometheusText)
        #expect((value(text, "process_resident_memory_bytes") ?? 0) > 1_000_000)
        #expect(
            (value(text, "process_virtual_memory_bytes") ?? 0) > (value(text, "process_resident_memory_bytes") ?? 0))
        #expect((value(text, "process_open_fds") ?? 0) >= 3)
        #expect((value(text, "process_max_fds") ?? 0) >= (value(text, "process_open_fds") ?? 0))
        #expect(value(text, "process_cpu_seconds_total") != nil)
        #expect(
            (value(text, "traceline_memory_limit_bytes") ?? 0) > (value(text, "process_resident_memory_bytes") ?? 0))
        let disk = value(text, "traceline_disk_usage_ratio{path=\"/\"}") ?? -1
        #expect(disk > 0 && disk < 1, "root file system usage \(disk)")
        let start = value(text, "process_start_time_seconds") ?? 0
        #expect(abs(start - Date().timeIntervalSince1970) < 24 * 3600, "started within a day: \(start)")
    }

    @Test("one endpoint: span metrics, SDK and process metrics; one # EOF; promtool-clean text")
    func combined() async throws {
        let spanMetrics = SpanMetricsProcessor()
        let processor = BatchSpanProcessor(exporter: InMemorySpanExporter())
        let provider = TracerProvider(processors: [spanMetrics, processor])
        provider.tracer().startSpan("GET /", context: .topLevel, ofKind: .server).end()
        let registry = MetricsRegistry([spanMetrics, PipelineMetrics(provider: provider), ProcessMetrics()])
        let openMetrics = registry.render(format: .openMetrics)
        #expect(openMetrics.components(separatedBy: "# EOF").count == 2)
        #expect(openMetrics.hasSuffix("# EOF\n"))
        let text = registry.render(format: .prometheusText)
        try checkStructure(text)
        #expect(text.contains("traces_span_metrics_calls_total{"))
        #expect(text.contains("otel_sdk_processor_span_queue_capacity{"))
        #expect(text.contains("process_resident_memory_bytes "))
        let (status, findings) = try await promtoolCheckMetrics(text)
        #expect(status == 0 || status == 3)
        #expect(
            findings.allSatisfy { $0.contains("use base unit \"seconds\" instead of \"milliseconds\"") }, "\(findings)")
        let names = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        #expect(Set(names).count == names.count, "one TYPE per family")
        _ = await provider.shutdown(deadline: .now + .seconds(5))
    }
}

@Suite struct StripedCounterTests {
    @Test("concurrent increments are all counted")
    func concurrent() async {
        let counter = StripedCounter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { for _ in 0..<10_000 { counter.increment() } } }
        }
        #expect(counter.value == 40_000)
    }
}
