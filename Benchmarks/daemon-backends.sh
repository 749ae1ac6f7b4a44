#!/usr/bin/env bash
# The exai-daemon under load with each tracing backend as a user deploys it (DaemonBenchmark --arm):
# NoOpTracer, Traceline (span metrics, mcp_* views, OTLP/HTTP exporter) and swift-otel 1.6.0 (its
# OTLP/HTTP exporter), both exporting to one local receiver that decodes every request, with log
# correlation on. One process per run and backend, so peak RSS is the backend's; the order rotates
# each run. Prints one ARM line per process, with the receiver's CPU per call appended (it shares
# the two cores with the daemon); summarize.py reports medians, ranges and per-run paired ratios.
#   daemon-backends.sh [RUNS] [ENDPOINT RECEIVER_PID]   (without them it starts Tests/proto/otlp_receiver.py)
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:-5}
endpoint=${2:-}
receiver=${3:-}
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
receiver_cpu() { awk '{print $14 + $15}' "/proc/$receiver/stat"; }
# The arm's ARM line, with the receiver's CPU ms per call (sessions x (150 calls + 10 warm-up)).
run_arm() {
    local before after line
    before=$(receiver_cpu)
    line=$("$bin" --arm "$1" --endpoint "$endpoint")
    after=$(receiver_cpu)
    echo "$line receiver_cpu_ms_per_call $(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.3f", t * 1000 / hz / (16 * 160) }')"
}
arms=(noop traceline swift-otel)
echo "exai-daemon by backend: 16 sessions x 150 sequential chat calls, zero-latency provider-sim, OTLP/HTTP to a local receiver, log correlation on; one process per run and backend, $runs runs"
for run in $(seq "$runs"); do
    for index in 0 1 2; do
        run_arm "${arms[$(( (run + index) % 3 ))]}"
    done
done
