#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer + AddressSanitizer and runs each for a bounded time.
#
#   Fuzz/run.sh [--seconds N] [--no-build] [target ...]     (default: every target, 60 s each)
#
# Inputs come from Fuzz/Corpus/<target> (the committed seeds) and .build/corpus/<target> (what
# libFuzzer found; kept between local runs). A crash, a broken invariant, a leak or a 10 s input
# stops that target, leaves the input under .build/artifacts/<target>/ and fails the script.
# Every run appends "date target seconds-run inputs result" to .build/fuzz-log.tsv.
set -euo pipefail
cd "$(dirname "$0")"

seconds=60
build=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(traceparent tracestate baggage correlation-id resource-attributes otlp-headers daemon-frame otlp-response redactor)

# lld: gold fails with an internal error on the libFuzzer-instrumented link.
flags=(-c release -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address -Xswiftc -use-ld=lld)
if [ "$build" = 1 ]; then
  # SwiftPM does not notice files added to the path dependency (..) until it re-plans the build.
  rm -f .build/release.yaml .build/release/description.json
  # The filter only hides the linker's and SwiftPM's noise; pipefail keeps the build's status.
  swift build "${flags[@]}" 2>&1 | { grep -v -e "Cannot export local symbol" -e "unhandled; explicitly declare" || true; }
fi
binary="$(swift build "${flags[@]}" --show-bin-path)/TracelineFuzz"
[ -x "$binary" ] || { echo "fuzz binary missing: $binary" >&2; exit 1; }

failed=()
printf '%-20s %8s %12s %10s\n' target seconds inputs result
for target in "${targets[@]}"; do
  [ -d "Corpus/$target" ] || { echo "no seed corpus for $target" >&2; exit 1; }
  mkdir -p ".build/corpus/$target" ".build/artifacts/$target"
  max_len=4096
  [ "$target" = daemon-frame ] && max_len=65536
  [ "$target" = redactor ] && max_len=65536
  dict=()
  [ -f "Dictionaries/$target.dict" ] && dict=("-dict=Dictionaries/$target.dict")
  log=".build/artifacts/$target/last-run.log"
  status=0
  started=$(date +%s)
  TRACELINE_FUZZ_TARGET="$target" "$binary" ".build/corpus/$target" "Corpus/$target" "${dict[@]}" \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix=".build/artifacts/$target/" >"$log" 2>&1 || status=$?
  elapsed=$(( $(date +%s) - started ))
  inputs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  result=ok
  if [ "$status" -ne 0 ]; then
    result="FAILED($status)"
    failed+=("$target")
    echo "---- $target: last lines of $log" >&2
    tail -40 "$log" >&2
  fi
  printf '%-20s %8s %12s %10s\n' "$target" "$elapsed" "${inputs:-?}" "$result"
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "$elapsed" "${inputs:-0}" "$result" >> .build/fuzz-log.tsv
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}" >&2
  exit 1
fi
