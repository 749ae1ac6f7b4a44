import Testing
import Tracing

@testable import Traceline
@_spi(Testing) @testable import TracelineCore
@testable import TracelineDebug
@testable import TracelineHealth
@testable import TracelineMetrics
@_spi(Testing) @testable import TracelineOTLP

@Suite struct ConfigurationTests {
    @Test("defaults with an empty environment")
    func defaults() {
        let config = TracelineConfiguration.fromEnvironment([:])
        #expect(!config.isDisabled)
        #expect(config.sampler.description.hasPrefix("ParentBased{root:AlwaysOnSampler"))
        #expect(config.limits == SpanLimits())
        #expect(config.batch == BatchSpanProcessor.Configuration())
        #expect(config.propagators == ["tracecontext", "baggage", "correlationid"])
        #expect(config.exporter == .none)
        #expect(config.warnings.isEmpty)
        #expect(config.resource.serviceName.hasPrefix("unknown_service"))
        #expect(config.resource.attributes.get("telemetry.sdk.name") == .string("traceline"))
        #expect(config.resource.attributes.get("telemetry.sdk.language") == .string("swift"))
        #expect(config.resource.attributes.get("process.pid") != nil)
        #expect(config.resource.attributes.get("host.name") != nil)
    }

    @Test("OTEL_SERVICE_NAME wins over OTEL_RESOURCE_ATTRIBUTES, which is percent-decoded")
    func resource() {
        let config = TracelineConfiguration.fromEnvironment([
            "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs, deployment.environment=prod%2Ceu ,team=a%3Db",
            "OTEL_SERVICE_NAME": "from-env",
        ])
        #expect(config.resource.serviceName == "from-env")
        #expect(config.resource.attributes.get("deployment.environment") == .string("prod,eu"))
        #expect(config.resource.attributes.get("team") == .string("a=b"))
        #expect(
            TracelineConfiguration.fromEnvironment(["OTEL_RESOURCE_ATTRIBUTES": "service.name=svc"]).resource
                .serviceName == "svc")
    }

    @Test(
        "a malformed OTEL_RESOURCE_ATTRIBUTES is reported and ignored whole",
        arguments: [
            "a=1,broken", "a=1,=2", "a=%zz", "a=%C3", "a=1,b=%G0",
        ])
    func badResource(value: String) {
        let config = TracelineConfiguration.fromEnvironment(["OTEL_RESOURCE_ATTRIBUTES": value])
        #expect(config.resource.attributes.get("a") == nil)
        #expect(config.warnings.count == 1)
        #expect(config.warnings[0].contains("OTEL_RESOURCE_ATTRIBUTES"))
    }

    @Test("samplers by name, with the ratio argument")
    func samplers() {
        func sampler(_ name: String, _ argument: String? = nil) -> TracelineConfiguration {
            var env = ["OTEL_TRACES_SAMPLER": name]
            env["OTEL_TRACES_SAMPLER_ARG"] = argument
            return TracelineConfiguration.fromEnvironment(env)
        }
        #expect(sampler("always_on").sampler.description == "AlwaysOnSampler")
        #expect(sampler("always_off").sampler.description == "AlwaysOffSampler")
        #expect(sampler("traceidratio", "0.25").sampler.description == "TraceIdRatioBased{0.25}")
        #expect(
            sampler("parentbased_traceidratio", "0.5").sampler.description.hasPrefix(
                "ParentBased{root:TraceIdRatioBased{0.5}"))
        #expect(sampler("parentbased_always_off").sampler.description.hasPrefix("ParentBased{root:AlwaysOffSampler"))
        let badArgument = sampler("traceidratio", "1.5")
        #expect(badArgument.sampler.description == "TraceIdRatioBased{1.0}")
        #expect(badArgument.warnings.count == 1)
        let unknown = sampler("jaeger_remote")
        #expect(unknown.sampler.description.hasPrefix("ParentBased{root:AlwaysOnSampler"))
        #expect(unknown.warnings.count == 1)
    }

    @Test("span limits: specific variables win over general ones; bad numbers warn")
    func limits() {
        let config = TracelineConfiguration.fromEnvironment([
            "OTEL_ATTRIBUTE_COUNT_LIMIT": "10",
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "20",
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "64",
            "OTEL_SPAN_EVENT_COUNT_LIMIT": "5",
            "OTEL_SPAN_LINK_COUNT_LIMIT": "-1",
        ])
        #expect(config.limits.attributeCountLimit == 20)
        #expect(config.limits.eventAttributeCountLimit == 10)
        #expect(config.limits.attributeValueLengthLimit == 64)
        #expect(config.limits.eventCountLimit == 5)
        #expect(config.limits.linkCountLimit == 128)
        #expect(config.warnings.count == 1)
    }

    @Test("batch settings; an export batch larger than the queue is capped")
    func batch() {
        let config = TracelineConfiguration.fromEnvironment([
            "OTEL_BSP_SCHEDULE_DELAY": "250",
            "OTEL_BSP_EXPORT_TIMEOUT": "1000",
            "OTEL_BSP_MAX_QUEUE_SIZE": "100",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "500",
        ])
        #expect(config.batch.scheduleDelay == .milliseconds(250))
        #expect(config.batch.exportTimeout == .milliseconds(1000))
        #expect(config.batch.maxQueueSize == 100)
        #expect(config.batch.maxExportBatchSize == 100)
        #expect(config.batch.maxEnqueueWait == .zero, "end() never waits unless asked to")
        #expect(config.warnings.count == 1)
        let waiting = TracelineConfiguration.fromEnvironment(["TRACELINE_BSP_MAX_ENQUEUE_WAIT": "5"])
        #expect(waiting.batch.maxEnqueueWait == .milliseconds(5))
        #expect(waiting.batch.maxQueueSize == 2048)
        #expect(TracelineConfiguration.fromEnvironment(["TRACELINE_BSP_MAX_ENQUEUE_WAIT": "-1"]).warnings.count == 1)
        #expect(TracelineConfiguration.fromEnvironment(["OTEL_BSP_MAX_QUEUE_SIZE": "abc"]).warnings.count == 1)
    }

    @Test("propagators: de-duplicated, unknown and unsupported names warn, none disables")
    func propagators() {
        let config = TracelineConfiguration.fromEnvironment([
            "OTEL_PROPAGATORS": "tracecontext, tracecontext,b3,foo\u{1b}bar"
        ])
        #expect(config.propagators == ["tracecontext", "correlationid"])
        #expect(config.warnings.count == 2)
        #expect(!config.warnings.joined().contains("\u{1b}"), "untrusted text is sanitised")
        #expect(TracelineConfiguration.fromEnvironment(["OTEL_PROPAGATORS": "none"]).propagators.isEmpty)
        let baggageOnly = TracelineConfiguration.fromEnvironment(["OTEL_PROPAGATORS": "baggage"]).makePropagator()
        #expect(baggageOnly.propagators.count == 2)
    }

    @Test("exporter selection and the SDK switch")
    func exporterAndDisabled() {
        #expect(TracelineConfiguration.fromEnvironment(["OTEL_TRACES_EXPORTER": "console"]).exporter == .console)
        #expect(TracelineConfiguration.fromEnvironment(["OTEL_TRACES_EXPORTER": "none"]).exporter == .none)
        #expect(
            TracelineConfiguration.fromEnvironment(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318"]).exporter
                == .otlp)
        let unknown = TracelineConfiguration.fromEnvironment(["OTEL_TRACES_EXPORTER": "zipkin"])
        #expect(unknown.exporter == .none)
        #expect(unknown.warnings.count == 1)
        #expect(TracelineConfiguration.fromEnvironment(["OTEL_SDK_DISABLED": "TRUE"]).isDisabled)
        #expect(!TracelineConfiguration.fromEnvironment(["OTEL_SDK_DISABLED": "1"]).isDisabled)
        #expect(TracelineConfiguration.fromEnvironment(["OTEL_LOG_LEVEL": "debug"]).logLevel == .debug)
    }

    @Test("makeProvider wires the configuration into a working pipeline")
    func makeProvider() async {
        var config = TracelineConfiguration.fromEnvironment([
            "OTEL_SERVICE_NAME": "wired", "OTEL_TRACES_SAMPLER": "always_on",
        ])
        config.batch = .init(scheduleDelay: .seconds(3600))
        let exporter = InMemorySpanExporter()
        let spanMetrics = SpanMetricsProcessor()
        let provider = Traceline.makeProvider(configuration: config, exporter: exporter, processors: [spanMetrics])
        provider.tracer().startSpan("configured", context: .topLevel).end()
        let report = await provider.shutdown(deadline: .now + .seconds(5))
        #expect(report.exported == 1)
        #expect(exporter.spans.first?.resource.serviceName == "wired")
        #expect(
            spanMetrics.render(format: .prometheusText).contains("span_name=\"configured\""),
            "extra processors see the spans")
    }
}
