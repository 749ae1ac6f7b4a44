import TracelineCore

extension SpanMetricsProcessor {
    /// The processor's series in `format`, complete (OpenMetrics output ends with `# EOF`).
    public func render(format: MetricsFormat) -> String {
        var text = renderFamilies(format: format)
        if format == .openMetrics { text += "# EOF\n" }
        return text
    }

    /// The metric families only, for combining with other sources on one endpoint: the calls
    /// counter and the duration histogram (with exemplars in OpenMetrics), through ``MetricFamilyWriter``.
    public func renderFamilies(format: MetricsFormat) -> String {
        var series: [(values: [String], snapshot: SpanMetricSeries.Snapshot)] = []
        for shard in shards {
            shard.withLock { entries in
                for entry in entries.values { series.append((entry.labelValues, entry.snapshot())) }
            }
        }
        series.sort { $0.values.lexicographicallyPrecedes($1.values) }
        var rows = series.map { (labels: Array(zip(labelNames, $0.values)), snapshot: $0.snapshot) }
        let overflow = overflowSeries.withLock { $0.snapshot() }
        if overflow.count > 0 { rows.append(([("otel_metric_overflow", "true")], overflow)) }

        var writer = MetricFamilyWriter(format: format)
        writer.counter(
            configuration.namespace + "_calls", help: "Spans ended, by service, span name, kind and status.",
            rows.map { ($0.labels, Double($0.snapshot.count)) })
        writer.histogram(
            configuration.namespace + "_duration_milliseconds", help: "Span duration in milliseconds.",
            bounds: bounds,
            series: rows.map { row in
                HistogramSeries(
                    labels: row.labels, buckets: row.snapshot.buckets, sum: row.snapshot.sum,
                    exemplars: row.snapshot.exemplars.map { $0?.exposition })
            })
        return writer.text
    }
}

extension SpanMetricSeries.Exemplar {
    /// The exemplar as OpenMetrics writes it: `trace_id` and `span_id` labels, value, timestamp.
    var exposition: MetricExemplar {
        MetricExemplar(
            labels: [("trace_id", traceID.hexString), ("span_id", spanID.hexString)], value: value,
            timestampSeconds: Double(timestampNanoseconds) / 1e9)
    }
}
