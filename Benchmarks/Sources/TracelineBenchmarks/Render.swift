// /metrics render time for 2000 span-metric series (each a 17-bucket histogram and a counter).

import Traceline
import Tracing

func runRenderBenchmark(runs: Int) {
    let metrics = SpanMetricsProcessor()
    let provider = TracerProvider(resource: Resource(attributes: ["service.name": "bench"]), processors: [metrics])
    let tracer = provider.tracer()
    for index in 0..<2000 {
        tracer.startSpan("GET /item/\(index)", context: .topLevel, ofKind: .server).end()
    }
    let registry = MetricsRegistry([metrics])
    precondition(metrics.seriesTotal == 2000)
    var results: [String] = []
    for format in [MetricsFormat.prometheusText, .openMetrics] {
        var samples: [Double] = []
        var bytes = 0
        for _ in 0..<runs {
            let start = ContinuousClock.now
            bytes = registry.render(format: format).utf8.count
            let elapsed = ContinuousClock.now - start
            samples.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        }
        results.append(
            "| \(format == .openMetrics ? "OpenMetrics 1.0 " : "text 0.0.4      ") | \(format_(median(samples))) ms | \(bytes / 1024) KiB |"
        )
    }
    print("/metrics render, 2000 series (counter + 17-bucket histogram each), median of \(runs)")
    print("| format          | time      | size     |")
    print("|-----------------|-----------|----------|")
    results.forEach { print($0) }
}

private func format_(_ value: Double) -> String { String((value * 10).rounded() / 10) }
