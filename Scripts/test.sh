#!/usr/bin/env bash
# The project's test command: set-up, the checks on Proto/ and its generated code, the test suite,
# the same suite under ThreadSanitizer and under AddressSanitizer, then every fuzz target for a
# bounded time (TRACELINE_FUZZ_SECONDS, 20 s each).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh

# The independent OTLP decoder (the official opentelemetry-proto package) for the wire tests, and
# aiohttp for the Kimi/GLM API stand-in (Tests/standin/openai_standin.py).
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
# grafana-foundation-sdk builds the Grafana dashboard (Scripts/dashboard/generate.py); its versions
# are "<build time>!<Grafana schema>", so only an exact pin picks the schema.
.venv/bin/pip install --quiet --disable-pip-version-check "opentelemetry-proto==1.45.2" "protobuf>=5,<8" "PyYAML>=6,<7" "aiohttp==3.14.5" \
  'grafana-foundation-sdk==1769699379!11.6.0'
export TRACELINE_TEST_PYTHON="$PWD/.venv/bin/python"

# The storage tests: a local PostgreSQL (each test makes its own database); Redis tests start
# their own redis-server processes.
export TRACELINE_TEST_POSTGRES_URL="$(Scripts/start-postgres.sh)"
# Each storage test makes its own database; drop the ones earlier runs left, so a developer's
# cluster does not grow by a dozen databases a run.
psql "$TRACELINE_TEST_POSTGRES_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'exai\_test\_%'" |
  while read -r name; do psql "$TRACELINE_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS \"$name\"" >/dev/null; done

# Runs an already built test command under a watchdog. A run that hangs is stopped after $1
# seconds; the tests that started and never finished, and the test process's threads (when gdb is
# installed), are printed; then it runs once more. A second hang, or any failure, fails the script.
# Seen in about one AddressSanitizer run in four: tests' tasks suspended with every thread idle.
watched() {
  local limit=$1 attempt pid tailer waited xctest log
  shift
  log=$(mktemp)
  for attempt in 1 2; do
    "$@" >"$log" 2>&1 &
    pid=$!
    tail -n +1 -f --pid="$pid" "$log" &
    tailer=$!
    waited=0
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt "$limit" ]; do sleep 2; waited=$((waited + 2)); done
    if ! kill -0 "$pid" 2>/dev/null; then
      local status=0
      wait "$pid" || status=$?
      wait "$tailer" 2>/dev/null || true
      rm -f "$log"
      return $status
    fi
    echo "!! still running after ${limit} s, attempt $attempt: a hang. $*" >&2
    echo "!! tests started and not finished:" >&2
    sed 's/\x1b\[[0-9;]*m//g' "$log" | python3 -c '
import re, sys
started, ended = [], set()
for line in sys.stdin:
    if m := re.search(r"Test (.+?) started\.", line): started.append(m.group(1))
    elif m := re.search(r"Test (.+?) (passed|failed|skipped)", line): ended.add(m.group(1))
for name in started:
    if name not in ended: print("!!   " + name)
' >&2
    for xctest in $(pgrep -f 'TracelinePackageTests.xctest|ExaiDaemonPackageTests.xctest' || true); do
      if command -v gdb >/dev/null; then
        gdb -p "$xctest" -batch -ex "thread apply all bt 30" 2>/dev/null | grep -E '^Thread|^#' | head -400 >&2 || true
      fi
    done
    pkill -f 'TracelinePackageTests.xctest|ExaiDaemonPackageTests.xctest' || true
    kill "$pid" "$tailer" 2>/dev/null || true
    wait "$pid" "$tailer" 2>/dev/null || true
  done
  rm -f "$log"
  return 124
}

# A sanitizer's build folder for a package: .build-tsan at the root, Daemon/.build-tsan for the daemon.
scratch() { if [ "$1" = root ]; then echo ".build-$2"; else echo "Daemon/.build-$2"; fi; }

echo "== Proto/ against the official OTLP descriptors"
.venv/bin/python Tests/proto/compare_descriptors.py

echo "== generated protobuf-c code is fresh"
Scripts/check-generated.sh

echo "== deployment files (YAML, promtool, Dockerfile vs README, .env.example)"
Scripts/check-deploy.sh

echo "== README quotes the generated benchmark results"
Scripts/check-benchmark-results.sh

echo "== alert rules (promtool)"
promtool check rules deploy/prometheus/alerts.yml
(cd deploy/prometheus && promtool test rules alerts_test.yml)

echo "== the Grafana dashboard is generated from Scripts/dashboard/generate.py and fresh"
.venv/bin/python Scripts/dashboard/generate.py --check

# Two packages: the SDK at the root (its Hummingbird glue behind the `Hummingbird` trait, which the
# tests turn on) and the daemon in Daemon/. Each stage runs both.
root=(--traits Hummingbird)
daemon=(--package-path Daemon)

# SwiftPM does not notice files added to the root package from a package that depends on it by
# path (Daemon/) until it re-plans the build: drop the daemon's cached plans.
rm -f Daemon/.build*/debug.yaml Daemon/.build*/debug/description.json

echo "== swift test"
# Suites named *Timing* assert wall-clock bounds (a timeout plus 100 ms): they run on their own,
# after the parallel run, so the other tests' CPU load cannot skew them.
swift build --build-tests "${root[@]}"
swift build --build-tests "${daemon[@]}"
watched 900 swift test --skip-build "${root[@]}" --skip Timing
watched 900 swift test --skip-build "${daemon[@]}" --skip Timing
watched 600 swift test --skip-build "${root[@]}" --filter Timing --no-parallel
watched 600 swift test --skip-build "${daemon[@]}" --filter Timing --no-parallel

echo "== alerts fire from real traffic: Prometheus, Alertmanager and the dashboard's queries"
.venv/bin/python Tests/ops/alerting_test.py Daemon/.build/debug

echo "== two daemon replicas share one redis-server and PostgreSQL"
.venv/bin/python Tests/ops/replicas_test.py Daemon/.build/debug

echo "== a service that depends on Traceline resolves none of the daemon's dependencies"
Scripts/check-light-dependency.sh

echo "== the SDK's public API is the committed baseline (api/)"
Scripts/check-public-api.sh

echo "== Swift sources follow .swift-format"
# Every committed Swift file but the Benchmarks' generated swift-protobuf code.
git ls-files -z '*.swift' | grep -zv '/SwiftProtobufOTLP/' | xargs -0 swift format lint --strict

echo "== DocC catalogue of the Traceline target (warnings are errors)"
docc_log=$(swift package generate-documentation --target Traceline --warnings-as-errors 2>&1) || { echo "$docc_log" | grep -v '^\[' >&2; exit 1; }

echo "== swift test --sanitize=thread"
# A separate build folder keeps the sanitized objects from evicting the normal ones; serial, so the
# timing of the network tests is not skewed by 160 others under the sanitizer's slowdown.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/Tests/tsan-suppressions.txt"
for package in root daemon; do
  declare -n flags=$package
  swift build --build-tests --sanitize=thread --scratch-path "$(scratch "$package" tsan)" "${flags[@]}"
  watched 900 swift test --skip-build --sanitize=thread --scratch-path "$(scratch "$package" tsan)" "${flags[@]}" --skip Timing --no-parallel
done
unset TSAN_OPTIONS

echo "== swift test --sanitize=address"
# Heap and stack misuse in our Swift, our C (HTTP, gzip, protobuf-c glue) and the hiredis/libcurl
# calls; LeakSanitizer is on, so a leak fails the run too (except the third-party ones listed,
# with reasons, in Tests/lsan-suppressions.txt).
export ASAN_OPTIONS="halt_on_error=1 detect_leaks=1"
export LSAN_OPTIONS="suppressions=$PWD/Tests/lsan-suppressions.txt print_suppressions=0"
for package in root daemon; do
  declare -n flags=$package
  swift build --build-tests --sanitize=address --scratch-path "$(scratch "$package" asan)" "${flags[@]}"
  watched 900 swift test --skip-build --sanitize=address --scratch-path "$(scratch "$package" asan)" "${flags[@]}" --skip Timing
done
echo "== LeakSanitizer, with those suppressions, reports a curl handle of ours that is never freed"
if probe=$(TRACELINE_LSAN_PROBE=1 swift test --skip-build --sanitize=address --scratch-path .build-asan "${root[@]}" \
    --filter LeakProbeTests 2>&1); then
  echo "error: the leak probe passed: LeakSanitizer did not report the leaked curl handle" >&2
  exit 1
fi
if ! grep -q "Direct leak" <<<"$probe" || ! grep -q "libcurl" <<<"$probe"; then
  echo "error: the leak probe failed without a LeakSanitizer report of the curl handle:" >&2
  tail -40 <<<"$probe" >&2
  exit 1
fi
echo "reported: $(grep -m1 'Direct leak' <<<"$probe")"
unset ASAN_OPTIONS LSAN_OPTIONS

echo "== fuzz targets (libFuzzer + AddressSanitizer)"
Fuzz/run.sh --seconds "${TRACELINE_FUZZ_SECONDS:-20}"
