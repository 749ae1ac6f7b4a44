#!/usr/bin/env bash
# The exai-daemon under load, tracing on vs OTEL_SDK_DISABLED, same process (see DaemonBenchmark/main.swift).
set -euo pipefail
cd "$(dirname "$0")"
rm -f .build/release.yaml .build/release/description.json
swift build -c release --product DaemonBenchmark
.build/release/DaemonBenchmark "$@"
