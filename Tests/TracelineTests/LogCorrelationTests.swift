import Logging
import Testing
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

@Suite struct LogCorrelationTests {
    @Test("log lines inside a span carry trace_id, span_id, trace_flags and correlation_id")
    func metadataInsideSpan() throws {
        let recorder = LogRecorder()
        let logger = Logger(label: "app") { _ in recorder.handler(metadataProvider: .traceline) }
        let (_, tracer, _) = makeTestPipeline()
        let context = extract([
            ("traceparent", "00-\(sampleTraceID)-\(sampleSpanID)-01"), ("X-Correlation-ID", "corr-1"),
        ])
        var spanID = ""
        tracer.withSpan("handler", context: context, ofKind: .server) { span in
            spanID = span.spanContext.spanID.hexString
            logger.info("inside")
        }
        logger.info("outside")
        let lines = recorder.lines
        try #require(lines.count == 2)
        #expect(lines[0].contains("trace_id=\(sampleTraceID)"))
        #expect(lines[0].contains("span_id=\(spanID)"))
        #expect(lines[0].contains("trace_flags=01"))
        #expect(lines[0].contains("correlation_id=corr-1"))
        #expect(!lines[1].contains("trace_id"))
    }
}
