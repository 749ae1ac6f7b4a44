#!/usr/bin/env bash
# Builds the benchmark harness in release mode and runs every comparison, same run:
#   1. span cost: NoOpTracer, swift-otel 1.6.0, Traceline (options after `--` go to this part)
#   2. build + encode of a 512-span OTLP request: Traceline vs swift-protobuf
#   3. end-to-end delivery to a local OTLP/HTTP receiver (127.0.0.1), Traceline vs swift-otel
# (between 2 and 3: /metrics render time and SecretRedactor cost on 1 KiB to 1 MiB inputs)
set -euo pipefail
cd "$(dirname "$0")"
# SwiftPM does not notice files added to the path dependency (..) until it re-plans the build.
rm -f .build/release.yaml .build/release/description.json
swift build -c release --product TracelineBenchmarks
bin=.build/release/TracelineBenchmarks

"$bin" "$@"
echo
"$bin" --encode --runs 7
echo
"$bin" --render --runs 9
echo
"$bin" --redact --runs 9
echo

python=../.venv/bin/python
[ -x "$python" ] || { python3 -m venv ../.venv && ../.venv/bin/pip install -q "opentelemetry-proto==1.45.2"; }
stats=$(mktemp)
port_file=$(mktemp)
"$python" ../Tests/proto/otlp_receiver.py --stats "$stats" > "$port_file" &
receiver=$!
trap 'kill $receiver 2>/dev/null || true; rm -f "$stats" "$port_file"' EXIT
for _ in $(seq 50); do grep -q PORT "$port_file" && break; sleep 0.1; done
endpoint="http://127.0.0.1:$(awk '{print $2}' "$port_file")/v1/traces"
seconds=${E2E_SECONDS:-10}
echo "End-to-end, ${seconds} s window, one producing task, default batch settings, receiver decodes every request:"
echo "| peer              | spans/s made  | spans/s arrived | peak RSS MiB  | notes"
echo "|-------------------|---------------|-----------------|---------------|------"
"$bin" --e2e receiver-limit --endpoint "$endpoint" --stats "$stats" --seconds "$seconds"
"$bin" --e2e traceline --endpoint "$endpoint" --stats "$stats" --seconds "$seconds"
"$bin" --e2e swift-otel --endpoint "$endpoint" --stats "$stats" --seconds "$seconds"
