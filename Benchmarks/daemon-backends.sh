#!/usr/bin/env bash
# The exai-daemon under load with each tracing backend as a user deploys it (DaemonBenchmark --arm):
# NoOpTracer, Traceline (span metrics, mcp_* views, OTLP/HTTP exporter) and swift-otel 1.6.0 (its
# OTLP/HTTP exporter), both exporting to one local receiver that decodes every request, with log
# correlation on. One process per run and backend, so peak RSS is the backend's; the order rotates
# each run. Prints one ARM line per process; summarize.py reports medians and ranges.
#   daemon-backends.sh [RUNS] [ENDPOINT]   (without ENDPOINT it starts Tests/proto/otlp_receiver.py)
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:-5}
endpoint=${2:-}
bin=.build/release/DaemonBenchmark
[ -x "$bin" ] || swift build -c release --product DaemonBenchmark
if [ -z "$endpoint" ]; then
    port_file=$(mktemp)
    stats=$(mktemp)
    ../.venv/bin/python ../Tests/proto/otlp_receiver.py --stats "$stats" > "$port_file" &
    receiver=$!
    trap 'kill $receiver 2>/dev/null || true; rm -f "$port_file" "$stats"' EXIT
    for _ in $(seq 50); do grep -q PORT "$port_file" && break; sleep 0.1; done
    endpoint="http://127.0.0.1:$(awk '{print $2}' "$port_file")/v1/traces"
fi
arms=(noop traceline swift-otel)
echo "exai-daemon by backend: 16 sessions x 150 sequential chat calls, zero-latency provider-sim, OTLP/HTTP to a local receiver, log correlation on; one process per run and backend, $runs runs"
for run in $(seq "$runs"); do
    for index in 0 1 2; do
        "$bin" --arm "${arms[$(( (run + index) % 3 ))]}" --endpoint "$endpoint"
    done
done
