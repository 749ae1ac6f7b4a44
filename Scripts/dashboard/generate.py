#!/usr/bin/env python3
"""Generates the exai-daemon Grafana dashboard, deploy/grafana/dashboards/exai-daemon.json.

The dashboard is code: edit this file, never the JSON. It is built with Grafana Labs'
grafana-foundation-sdk, generated from Grafana 11.6's schema; the SDK is pinned exactly because
another version may serialise differently and fail the check below.

    .venv/bin/pip install 'grafana-foundation-sdk==1769699379!11.6.0'
    .venv/bin/python Scripts/dashboard/generate.py          # rewrite the JSON
    .venv/bin/python Scripts/dashboard/generate.py --check  # exit 1 if the JSON is stale

Both modes decode the JSON back through the SDK's own model (models.dashboard.Dashboard.from_json,
with the panel and query plugins registered) and require it to re-encode to the same text, so a
field the schema does not know fails here instead of reaching Grafana unnoticed.

Query contracts (metric names and labels are the daemon's; `job` and `instance` come from Prometheus):
- The only Grafana built-in used is $__rate_interval; $job, $service and $provider are regex
  matchers whose "All" value is `.*`.
- Ratios put `... or <denominator> * 0` in the numerator, so a series with no errors reads 0,
  not "no data".
- Ratios and quantiles end in `>= 0`: that keeps every real value and drops the NaN of 0/0 (a
  series with no traffic in the window), which Grafana would otherwise draw as a broken line.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.metadata
import json
import pathlib
import sys

from grafana_foundation_sdk.builders.common import VizLegendOptions, VizTooltipOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard, QueryVariable, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery as PrometheusQuery
from grafana_foundation_sdk.builders.statetimeline import Panel as StateTimeline
from grafana_foundation_sdk.builders.timeseries import Panel as TimeSeries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

SDK_VERSION = "1769699379!11.6.0"
ROOT = pathlib.Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "deploy/grafana/dashboards/exai-daemon.json"

PROMETHEUS = model.DataSourceRef(type_val="prometheus", uid="prometheus")
RATE = "$__rate_interval"
JOB = 'job=~"$job"'
SERVICE = 'service_name=~"$service"'
PROVIDER = 'provider=~"$provider"'
SERVER_SPANS = 'span_kind="SPAN_KIND_SERVER"'

# Panel sizes on Grafana's 24-column grid.
THIRD, HALF, HEIGHT = 8, 12, 8


# --- PromQL helpers --------------------------------------------------------------------------


def selector(metric: str, *matchers: str) -> str:
    """`metric{job=~"$job", ...}`: every series is filtered by the job variable."""
    return f"{metric}{{{', '.join((JOB, *matchers))}}}"


def rate(metric: str, *matchers: str, window: str = RATE) -> str:
    return f"rate({selector(metric, *matchers)}[{window}])"


def sum_by(labels: str, inner: str) -> str:
    return f"sum by ({labels}) ({inner})" if labels else f"sum({inner})"


def ratio(counter: str, by: str, part: str, *matchers: str) -> str:
    """Share of `counter`'s rate whose labels match `part` (e.g. an error status), per `by`."""
    whole = sum_by(by, rate(counter, *matchers))
    return f"({sum_by(by, rate(counter, part, *matchers))} or {whole} * 0) / {whole} >= 0"


def quantile(q: float, bucket: str, by: str, *matchers: str, window: str = RATE) -> str:
    by_le = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, {sum_by(by_le, rate(bucket, *matchers, window=window))}) >= 0"


# --- Panel helpers ---------------------------------------------------------------------------


def legend() -> VizLegendOptions:
    return (
        VizLegendOptions()
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def target(expr: str, legend_format: str, *, exemplar: bool = False) -> PrometheusQuery:
    query = PrometheusQuery().expr(expr).legend_format(legend_format).datasource(PROMETHEUS).range()
    return query.exemplar(True) if exemplar else query


def timeseries(
    title: str, unit: str, targets: list[PrometheusQuery], description: str, *, width: int = THIRD
) -> TimeSeries:
    panel = (
        TimeSeries()
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .unit(unit)
        .span(width)
        .height(HEIGHT)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .legend(legend())
        .tooltip(VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING))
    )
    for ref_id, query in zip("ABCDEFGHIJ", targets, strict=False):
        panel = panel.with_target(query.ref_id(ref_id))
    return panel


def quantiles(
    title: str, bucket: str, by: str, legend_format: str, unit: str, description: str, *matchers: str,
    qs: tuple[float, ...] = (0.5, 0.95, 0.99), window: str = RATE, width: int = THIRD, exemplars: bool = True,
) -> TimeSeries:
    """Latency quantiles from a histogram; with `exemplars` (histograms derived from spans), each
    bucket's latest sampled span is drawn as a dot that opens its trace in Jaeger."""
    targets = [
        target(
            quantile(q, bucket, by, *matchers, window=window), f"p{round(q * 100)} {legend_format}",
            exemplar=exemplars,
        )
        for q in qs
    ]
    return timeseries(title, unit, targets, description, width=width)


def state_timeline(
    title: str, expr: str, legend_format: str, states: dict[str, tuple[str, str]], description: str
) -> StateTimeline:
    """A gauge whose values are states: `states` maps each value to (text, colour)."""
    options = {
        value: model.ValueMappingResult(text=text, color=color, index=index)
        for index, (value, (text, color)) in enumerate(states.items())
    }
    return (
        StateTimeline()
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .span(HALF)
        .height(HEIGHT)
        .mappings([model.ValueMap(options=options)])
        .show_value(common.VisibilityMode.NEVER)
        # Grafana's own defaults, set so the JSON round-trips through the SDK's decoder unchanged.
        .fill_opacity(70)
        .line_width(0)
        .legend(legend())
        .with_target(target(expr, legend_format).ref_id("A"))
    )


def multi_variable(name: str, label: str, query: str) -> QueryVariable:
    """A multi-select, include-all query variable; "All" is the regex `.*`."""
    return (
        QueryVariable(name)
        .label(label)
        .datasource(PROMETHEUS)
        .query(query)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )


# --- Rows: each returns its title and panels, in grid order -----------------------------------


def requests_row() -> tuple[str, list]:
    tool, tool_legend = "method, endpoint", "{{method}} {{endpoint}}"
    span, span_legend = "service_name, span_name", "{{service_name}} {{span_name}}"
    span_error = 'status_code="STATUS_CODE_ERROR"'
    return "Requests", [
        timeseries(
            "Requests/s by tool", "reqps",
            [target(sum_by(tool, rate("mcp_requests_total")), tool_legend)],
            "WebSocket messages handled (mcp_requests_total); endpoint is the tool.",
        ),
        timeseries(
            "Error ratio by tool", "percentunit",
            [target(ratio("mcp_requests_total", tool, 'status!="success"'), tool_legend)],
            "Share of messages whose status is not success.",
        ),
        quantiles(
            "Latency by tool", "mcp_request_duration_seconds_bucket", tool, tool_legend, "s",
            "mcp_request_duration_seconds; exemplars open the trace in Jaeger.",
        ),
        timeseries(
            "Server spans/s (span metrics)", "reqps",
            [target(sum_by(span, rate("traces_span_metrics_calls_total", SERVICE, SERVER_SPANS)), span_legend)],
            "Span-derived RED: server spans ended (traces_span_metrics_calls_total), "
            "the series Jaeger's Monitor tab reads.",
        ),
        timeseries(
            "Server span error ratio", "percentunit",
            [target(ratio("traces_span_metrics_calls_total", span, span_error, SERVICE, SERVER_SPANS), span_legend)],
            "Share of server spans ended with status ERROR.",
        ),
        quantiles(
            "Server span latency", "traces_span_metrics_duration_milliseconds_bucket", span, span_legend, "ms",
            "traces_span_metrics_duration_milliseconds of server spans.", SERVICE, SERVER_SPANS,
        ),
    ]


def providers_row() -> tuple[str, list]:
    model_by, model_legend = "provider, model", "{{provider}} {{model}}"
    return "Providers", [
        timeseries(
            "Provider calls/s", "reqps",
            [target(sum_by(model_by, rate("mcp_api_calls_total", PROVIDER)), model_legend)],
            "Provider API calls (mcp_api_calls_total).",
        ),
        timeseries(
            "Provider error ratio", "percentunit",
            [target(ratio("mcp_api_calls_total", model_by, 'status!="success"', PROVIDER), model_legend)],
            "Share of provider calls that ended in error or timeout.",
        ),
        quantiles(
            "Provider latency", "mcp_api_latency_seconds_bucket", model_by, model_legend, "s",
            "mcp_api_latency_seconds, retries included.", PROVIDER,
        ),
        quantiles(
            "Time to first token", "mcp_api_time_to_first_token_seconds_bucket", model_by, model_legend, "s",
            "Streamed calls: request to first generated token.", PROVIDER, qs=(0.5, 0.95), width=HALF,
        ),
        timeseries(
            "Tokens/s", "short",
            [target(sum_by("provider, model, type", rate("mcp_tokens_total", PROVIDER)), model_legend + " {{type}}")],
            "Tokens the providers reported (mcp_tokens_total), by type.", width=HALF,
        ),
    ]


def cache_storage_row() -> tuple[str, list]:
    lookups = sum_by("operation, result", rate("mcp_cache_operations_total"))
    return "Cache & storage", [
        timeseries(
            "Conversation cache hit ratio", "percentunit",
            [target(ratio("mcp_cache_operations_total", "", 'result="hit"'), "hit ratio")],
            "Hits among conversation lookups (mcp_cache_operations_total{operation,result}). Lookups happen only "
            "when a call continues a conversation (continuation_id), so this is empty until one does.",
            width=HALF,
        ),
        timeseries(
            "Conversation cache lookups/s", "ops",
            [target(f"{lookups} or on() vector(0)", "{{operation}} {{result}}")],
            "Lookups by result (hit, miss, error); 0 while nothing continues a conversation.",
            width=HALF,
        ),
        timeseries(
            "Storage operations/s", "ops",
            [
                target(
                    sum_by("backend, operation, result", rate("mcp_storage_operations_total")),
                    "{{backend}} {{operation}} {{result}}",
                )
            ],
            "Storage and database calls (mcp_storage_operations_total) by backend, operation and result.",
            width=HALF,
        ),
        quantiles(
            "Storage latency", "mcp_storage_latency_seconds_bucket", "backend, operation", "{{backend}} {{operation}}",
            "s", "mcp_storage_latency_seconds.", qs=(0.95, 0.99), width=HALF,
        ),
    ]


def circuit_breakers_row() -> tuple[str, list]:
    return "Circuit breakers", [
        state_timeline(
            "Circuit breaker state", f"max by (service) ({selector('circuit_breaker_state')})", "{{service}}",
            {"0": ("closed", "green"), "1": ("open", "red"), "2": ("half_open", "yellow")},
            "circuit_breaker_state per provider and storage backend: 0 closed, 1 open, 2 half_open.",
        ),
        timeseries(
            "Calls rejected by open breakers/s", "ops",
            [target(sum_by("service", rate("circuit_breaker_rejected_calls_total")), "{{service}}")],
            "circuit_breaker_rejected_calls_total.", width=HALF,
        ),
    ]


def health_row() -> tuple[str, list]:
    last_success = selector("synthetic_probe_last_success_timestamp_seconds")
    return "Health", [
        state_timeline(
            "Health checks", f"min by (check) ({selector('health_check_status')})", "{{check}}",
            {"1": ("pass", "green"), "0.5": ("warn", "yellow"), "0": ("fail", "red")},
            "health_check_status: 1 pass, 0.5 warn, 0 fail; kept current by the daemon's background evaluation.",
        ),
        timeseries(
            "Synthetic probe runs/s", "ops",
            [target(sum_by("probe, result", rate("synthetic_probe_runs_total")), "{{probe}} {{result}}")],
            "synthetic_probe_runs_total by result (hello + listmodels against the daemon itself).", width=HALF,
        ),
        timeseries(
            "Synthetic probe: time since last success", "s",
            [target(f"time() - max by (probe) ({last_success})", "{{probe}}")],
            "Grows past the probe interval when the probe stops succeeding.",
        ),
        timeseries(
            "Synthetic probe: consecutive failures", "short",
            [target(f"max by (probe) ({selector('synthetic_probe_consecutive_failures')})", "{{probe}}")],
            "synthetic_probe_consecutive_failures.",
        ),
        # Probes run about once a minute, so a $__rate_interval window usually holds none: 5m.
        quantiles(
            "Synthetic probe duration", "synthetic_probe_duration_seconds_bucket", "probe", "{{probe}}", "s",
            "synthetic_probe_duration_seconds over 5 minutes (probes run about once a minute).",
            qs=(0.5, 0.95), window="5m", exemplars=False,
        ),
    ]


def connections_row() -> tuple[str, list]:
    gate_use = f"sum by (gate) ({selector('exai_gate_in_use')}) / sum by (gate) ({selector('exai_gate_limit')})"
    return "Connections & sessions", [
        timeseries(
            "Connections, sessions, calls in flight", "short",
            [
                target(f"sum({selector('mcp_active_connections')})", "connections"),
                target(f"sum({selector('exai_sessions')})", "sessions"),
                target(f"sum({selector('exai_inflight_calls')})", "calls in flight"),
            ],
            "Open WebSocket connections, sessions past hello, call_tool entries in flight.",
        ),
        timeseries(
            "Concurrency gate use", "percentunit",
            [target(gate_use, "{{gate}}")],
            "exai_gate_in_use / exai_gate_limit per gate (Global and per provider).",
        ),
        timeseries(
            "Connections rejected/s", "ops",
            [target(sum_by("", rate("exai_connections_rejected_total")), "rejected")],
            "Connections closed with 1008 by the connection limits.",
        ),
    ]


def sdk_pipeline_row() -> tuple[str, list]:
    # The processor, exporter and retry-buffer series exist only when an OTLP exporter is
    # configured; the retry buffer's only with TRACELINE_OTLP_RETRY_BUFFER_BYTES > 0.
    processed, exported = "otel_sdk_processor_span_processed_total", "otel_sdk_exporter_span_exported_total"
    ok, failed = 'error_type=""', 'error_type!=""'
    queue = selector("otel_sdk_processor_span_queue_size"), selector("otel_sdk_processor_span_queue_capacity")
    buffer = (
        selector("traceline_exporter_retry_buffer_bytes"), selector("traceline_exporter_retry_buffer_capacity_bytes")
    )
    return "SDK pipeline", [
        timeseries(
            "Spans started and ended/s", "ops",
            [
                target(sum_by("", rate("otel_sdk_span_started_total")), "started"),
                target(sum_by("", rate("otel_sdk_span_ended_total")), "ended"),
            ],
            "otel_sdk_span_started_total (recording or not) and otel_sdk_span_ended_total (recording).",
        ),
        timeseries(
            "Batch processor: processed and dropped/s", "ops",
            [
                target(sum_by("", rate(processed, ok)), "processed"),
                target(sum_by("error_type", rate(processed, failed)), "dropped: {{error_type}}"),
            ],
            "otel_sdk_processor_span_processed_total; error_type (queue_full, already_shutdown) marks drops.",
        ),
        timeseries(
            "Exporter: exported and not accepted/s", "ops",
            [
                target(sum_by("", rate(exported, ok)), "exported"),
                target(sum_by("error_type", rate(exported, failed)), "{{error_type}}"),
            ],
            "otel_sdk_exporter_span_exported_total; error_type rejected (by the collector) or export_failed (dropped).",
        ),
        timeseries(
            "Batch queue fill", "percentunit",
            [target(" / ".join(queue), "{{instance}}")],
            "otel_sdk_processor_span_queue_size / otel_sdk_processor_span_queue_capacity; at 1 new spans are dropped.",
        ),
        timeseries(
            "OTLP retry buffer fill", "percentunit",
            [target(" / ".join(buffer), "{{instance}}")],
            "traceline_exporter_retry_buffer_bytes / traceline_exporter_retry_buffer_capacity_bytes: "
            "failed requests waiting to be resent.",
        ),
        timeseries(
            "OTLP retries/s", "ops",
            [target(sum_by("", rate("traceline_exporter_retries_total")), "retries")],
            "traceline_exporter_retries_total: OTLP requests that were retries.",
        ),
    ]


ROWS = (
    requests_row, providers_row, cache_storage_row, circuit_breakers_row, health_row, connections_row, sdk_pipeline_row
)


# --- Dashboard -------------------------------------------------------------------------------


def build() -> model.Dashboard:
    builder = (
        Dashboard("exai-daemon — Traceline")
        .uid("exai-daemon")
        .description(
            "exai-daemon: requests, providers, storage, breakers, health and Traceline's span pipeline. "
            "Generated by Scripts/dashboard/generate.py: edit that, not this JSON."
        )
        .tags(["exai-daemon", "traceline", "generated"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .with_variable(multi_variable("job", "Job", "label_values(mcp_active_connections, job)"))
        .with_variable(
            multi_variable("service", "Service", "label_values(traces_span_metrics_calls_total, service_name)")
        )
        .with_variable(multi_variable("provider", "Provider", "label_values(mcp_api_calls_total, provider)"))
    )
    for row in ROWS:
        title, panels = row()
        builder = builder.with_row(Row(title))
        for panel in panels:
            builder = builder.with_panel(panel)
    result = builder.build()
    # Stable panel ids in grid order (Grafana needs them unique; the builders leave them unset).
    for panel_id, panel in enumerate(result.panels or [], start=1):
        panel.id_val = panel_id
    return result


def encode(dashboard: model.Dashboard) -> str:
    return JSONEncoder(sort_keys=True, indent=2, ensure_ascii=False).encode(dashboard) + "\n"


def validate(text: str) -> None:
    """Decodes `text` with the SDK's model and requires the same JSON back."""
    register_default_plugins()
    decoded = encode(model.Dashboard.from_json(json.loads(text)))
    if decoded != text:
        diff = difflib.unified_diff(text.splitlines(), decoded.splitlines(), "generated", "decoded", lineterm="")
        raise SystemExit(
            "error: the dashboard does not round-trip through the SDK's Dashboard model:\n"
            + "\n".join(list(diff)[:40])
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed JSON differs from what this script makes"
    )
    args = parser.parse_args()

    installed = importlib.metadata.version("grafana-foundation-sdk")
    if installed != SDK_VERSION:
        print(
            f"error: grafana-foundation-sdk {installed} is installed; this script is pinned to {SDK_VERSION}:\n"
            f"  .venv/bin/pip install 'grafana-foundation-sdk=={SDK_VERSION}'",
            file=sys.stderr,
        )
        return 2

    text = encode(build())
    validate(text)
    relative = OUTPUT.relative_to(ROOT)
    if args.check:
        committed = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else None
        if committed != text:
            print(
                f"error: {relative} is stale (it is not what Scripts/dashboard/generate.py makes); "
                "run .venv/bin/python Scripts/dashboard/generate.py and commit the result",
                file=sys.stderr,
            )
            return 1
        print(f"{relative} is fresh")
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
