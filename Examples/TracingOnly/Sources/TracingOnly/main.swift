// One traced unit of work, exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
import Traceline
import Tracing

let tracing = Traceline.bootstrap()
await withSpan("checkout", ofKind: .server) { span in
    span.attributes["order.items"] = 3
    // A child span, as an HTTP client call would make.
    await withSpan("charge card", ofKind: .client) { _ in
        try? await Task.sleep(for: .milliseconds(5))
    }
}
print(await tracing.shutdown())
