#!/usr/bin/env bash
# Fails when README.md's benchmark summary differs from the generated one in
# Benchmarks/RESULTS.md (Benchmarks/run.sh writes it): the README quotes measured medians and
# ranges, never hand-edited numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
block() { sed -n '/<!-- benchmark-summary:begin -->/,/<!-- benchmark-summary:end -->/p' "$1"; }
if [ -z "$(block Benchmarks/RESULTS.md)" ]; then
    echo "Benchmarks/RESULTS.md has no benchmark-summary block; run Benchmarks/run.sh" >&2
    exit 1
fi
if ! diff <(block Benchmarks/RESULTS.md) <(block README.md); then
    echo "README.md's benchmark summary differs from Benchmarks/RESULTS.md (above: < generated, > README);" >&2
    echo "copy the block from Benchmarks/RESULTS.md" >&2
    exit 1
fi
echo "README.md quotes Benchmarks/RESULTS.md ($(sed -n 's/^- commit: //p' Benchmarks/RESULTS.md))"
