#!/usr/bin/env bash
# Builds the benchmark harness in release mode and runs every comparison, same run, ROUNDS times
# (default 3), then writes Benchmarks/RESULTS.md: date, commit, machine, a summary of medians and
# ranges across rounds (what README.md quotes), and the raw output of every round.
#   1. span cost: NoOpTracer, swift-otel 1.6.0, Traceline (arguments go to this part)
#   2. build + encode of a 512-span OTLP request: Traceline vs swift-protobuf
#   3. end-to-end delivery to a local OTLP/HTTP receiver (127.0.0.1), Traceline vs swift-otel:
#      tight, yielding and paced producers; Traceline with default settings and with end() allowed
#      to wait up to 10 ms for room in a full queue (TRACELINE_BSP_MAX_ENQUEUE_WAIT)
# Once, after the rounds: instructions per span under callgrind (they do not move with the machine's
# noise), the exai-daemon under load with NoOp, Traceline and swift-otel as its tracing backend
# (daemon-backends.sh), /metrics render time and SecretRedactor cost on 1 KiB to 1 MiB inputs.
set -euo pipefail
cd "$(dirname "$0")"
rounds=${ROUNDS:-3}
seconds=${E2E_SECONDS:-10}
# SwiftPM does not notice files added to the path dependency (..) until it re-plans the build.
rm -f .build/release.yaml .build/release/description.json
swift build -c release --product TracelineBenchmarks
swift build -c release --product SpanInstructions
swift build -c release --product DaemonBenchmark
bin=.build/release/TracelineBenchmarks
# valgrind 3.19 cannot read the toolchain's DWARF 5: count on a copy without debug information.
instructions_bin=$(mktemp)
cp .build/release/SpanInstructions "$instructions_bin" && strip --strip-debug "$instructions_bin" && chmod +x "$instructions_bin"

python=../.venv/bin/python
[ -x "$python" ] || { python3 -m venv ../.venv && ../.venv/bin/pip install -q "opentelemetry-proto==1.45.2"; }
stats=$(mktemp)
port_file=$(mktemp)
raw=$(mktemp)
"$python" ../Tests/proto/otlp_receiver.py --stats "$stats" > "$port_file" &
receiver=$!
trap 'kill $receiver 2>/dev/null || true; rm -f "$stats" "$port_file" "$raw" "$instructions_bin"' EXIT
for _ in $(seq 50); do grep -q PORT "$port_file" && break; sleep 0.1; done
endpoint="http://127.0.0.1:$(awk '{print $2}' "$port_file")/v1/traces"

receiver_cpu() { awk '{print $14 + $15}' "/proc/$receiver/stat"; }
e2e() {
    local before after
    before=$(receiver_cpu)
    "$bin" --e2e "$@" --endpoint "$endpoint" --stats "$stats" --seconds "$seconds"
    after=$(receiver_cpu)
    echo "|   receiver CPU s for that run: $(( (after - before) / $(getconf CLK_TCK) ))"
}

end_to_end() {
    echo "End-to-end, ${seconds} s window, one producing task, default batch settings, receiver decodes every request."
    echo "Tight: the producer never yields. Yielding: Task.yield() after each chunk of 256 spans. Paced: it sleeps between chunks to hold the rate."
    echo "| peer              | spans/s made  | spans/s arrived | peak RSS MiB  | notes"
    echo "|-------------------|---------------|-----------------|---------------|------"
    e2e receiver-limit --senders 1
    local ceiling_line ceiling rate
    ceiling_line=$(e2e receiver-limit --senders 2)
    echo "$ceiling_line"
    ceiling=$(echo "$ceiling_line" | head -1 | awk -F'|' '{gsub(/ /, "", $4); print $4}')
    echo "| tight loop"
    e2e traceline --senders 1
    e2e traceline --senders 2
    e2e traceline --senders 2 --enqueue-wait 10
    e2e swift-otel
    echo "| yielding loop"
    e2e traceline --senders 2 --yield
    e2e swift-otel --yield
    for percent in 50 80; do
        rate=$((ceiling * percent / 100))
        echo "| paced at ${percent} % of the 2-connection ceiling: ${rate} spans/s"
        e2e traceline --senders 2 --rate "$rate"
        e2e traceline --senders 2 --rate "$rate" --enqueue-wait 10
        e2e swift-otel --rate "$rate"
    done
}

# Instructions callgrind counts inside the span (or encode) loop on the calling thread, for one run of
# `count` spans; hashing made deterministic so the dictionaries' random seed does not move the count.
instructions() {
    SWIFT_DETERMINISTIC_HASHING=1 valgrind --tool=callgrind --toggle-collect='*spanLoop*' --toggle-collect='*bareLoop*' \
        --toggle-collect='*encodeLoop*' \
        --callgrind-out-file=/dev/null "$instructions_bin" "$1" "$2" 2>&1 |
        awk '/Collected/ {print $NF}'
}

instruction_counts() {
    echo "Instructions per span (callgrind, calling thread only, (30000 spans - 10000 spans) / 20000):"
    echo "| scenario | instructions/span |"
    echo "|---|---|"
    local scenario low high
    for scenario in noop-bare noop recording recording-metrics recording-views unsampled unsampled-metrics recording-value-limit swift-otel encode; do
        low=$(instructions "$scenario" 10000)
        high=$(instructions "$scenario" 30000)
        echo "| $scenario | $(( (high - low) / 20000 )) |"
    done
}

{
    for round in $(seq "$rounds"); do
        echo "## Round $round of $rounds"
        echo
        "$bin" "$@"
        echo
        "$bin" --encode --runs 7
        echo
        end_to_end
        echo
    done
    echo "## Once"
    echo
    if command -v valgrind >/dev/null; then instruction_counts; else echo "Instructions per span: valgrind is not installed"; fi
    echo
    ./daemon-backends.sh "${DAEMON_RUNS:-15}" "$endpoint" "$receiver"
    echo
    "$bin" --render --runs 9
    echo
    "$bin" --redact --runs 9
} 2>&1 | tee "$raw"

commit=$(git rev-parse --short HEAD)
# Only what is measured counts as a change: the SDK, the harness and this script.
[ -z "$(git status --porcelain -- ../Sources ../Package.swift Sources Package.swift run.sh 2>/dev/null)" ] ||
    commit="$commit (with uncommitted changes)"
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
memory=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
swift_version=$(swift --version 2>/dev/null | head -1)
RESULTS_DATE=$(date -u +"%Y-%m-%d %H:%M UTC") RESULTS_COMMIT="$commit" \
    RESULTS_MACHINE="$(nproc) cores ($cpu), $memory, Linux $(uname -r), $swift_version" \
    RESULTS_ARGUMENTS="$*" "$python" summarize.py "$raw" > RESULTS.md
echo "Wrote Benchmarks/RESULTS.md; copy its summary block into README.md (Scripts/check-benchmark-results.sh compares them)."
