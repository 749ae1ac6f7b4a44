#!/usr/bin/env bash
# Builds the benchmark harness in release mode and runs it. Pass --runs N / --iterations N to change the defaults.
set -euo pipefail
cd "$(dirname "$0")"
swift build -c release --product TracelineBenchmarks
.build/release/TracelineBenchmarks "$@"
