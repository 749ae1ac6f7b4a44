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
.venv/bin/pip install --quiet --disable-pip-version-check "opentelemetry-proto==1.45.2" "protobuf>=5,<8" "PyYAML>=6,<7" "aiohttp==3.14.5"
export TRACELINE_TEST_PYTHON="$PWD/.venv/bin/python"

# The storage tests: a local PostgreSQL (each test makes its own database); Redis tests start
# their own redis-server processes.
export TRACELINE_TEST_POSTGRES_URL="$(Scripts/start-postgres.sh)"
# Each storage test makes its own database; drop the ones earlier runs left, so a developer's
# cluster does not grow by a dozen databases a run.
psql "$TRACELINE_TEST_POSTGRES_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'exai\_test\_%'" |
  while read -r name; do psql "$TRACELINE_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS \"$name\"" >/dev/null; done

# Runs an already built test command under a watchdog. A run that hangs is stopped after $1
# seconds, the test process's threads are printed (when gdb is installed) and it runs once more;
# a second hang, or any failure, fails the script. Seen once in four AddressSanitizer runs on
# 2026-11-27: two tests' tasks suspended for 20 min with every thread idle; not reproduced since.
watched() {
  local limit=$1 attempt pid waited xctest
  shift
  for attempt in 1 2; do
    "$@" &
    pid=$!
    waited=0
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt "$limit" ]; do sleep 2; waited=$((waited + 2)); done
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      return $?
    fi
    echo "!! still running after ${limit} s, attempt $attempt: a hang. $*" >&2
    for xctest in $(pgrep -f 'TracelinePackageTests.xctest' || true); do
      if command -v gdb >/dev/null; then
        gdb -p "$xctest" -batch -ex "thread apply all bt 30" 2>/dev/null | grep -E '^Thread|^#' | head -400 >&2 || true
      fi
    done
    pkill -f 'TracelinePackageTests.xctest' || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  return 124
}

echo "== Proto/ against the official OTLP descriptors"
.venv/bin/python Tests/proto/compare_descriptors.py

echo "== generated protobuf-c code is fresh"
Scripts/check-generated.sh

echo "== deployment files (YAML, promtool, Dockerfile vs README, .env.example)"
Scripts/check-deploy.sh

echo "== alert rules (promtool)"
promtool check rules deploy/prometheus/alerts.yml
(cd deploy/prometheus && promtool test rules alerts_test.yml)

echo "== swift test"
# Suites named *Timing* assert wall-clock bounds (a timeout plus 100 ms): they run on their own,
# after the parallel run, so the other tests' CPU load cannot skew them.
swift build --build-tests
watched 900 swift test --skip-build --skip Timing
watched 600 swift test --skip-build --filter Timing --no-parallel

echo "== DocC catalogue of the Traceline target (warnings are errors)"
docc_log=$(swift package generate-documentation --target Traceline --warnings-as-errors 2>&1) || { echo "$docc_log" | grep -v '^\[' >&2; exit 1; }

echo "== swift test --sanitize=thread"
# A separate build folder keeps the sanitized objects from evicting the normal ones; serial, so the
# timing of the network tests is not skewed by 160 others under the sanitizer's slowdown.
swift build --build-tests --sanitize=thread --scratch-path .build-tsan
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/Tests/tsan-suppressions.txt" \
  watched 900 swift test --skip-build --sanitize=thread --scratch-path .build-tsan --skip Timing --no-parallel

echo "== swift test --sanitize=address"
# Heap and stack misuse in our Swift, our C (HTTP, gzip, protobuf-c glue) and the hiredis/libcurl
# calls; LeakSanitizer is on, so a leak fails the run too (except the third-party ones listed,
# with reasons, in Tests/lsan-suppressions.txt).
swift build --build-tests --sanitize=address --scratch-path .build-asan
ASAN_OPTIONS="halt_on_error=1 detect_leaks=1" LSAN_OPTIONS="suppressions=$PWD/Tests/lsan-suppressions.txt print_suppressions=0" \
  watched 900 swift test --skip-build --sanitize=address --scratch-path .build-asan --skip Timing

echo "== fuzz targets (libFuzzer + AddressSanitizer)"
Fuzz/run.sh --seconds "${TRACELINE_FUZZ_SECONDS:-20}"
