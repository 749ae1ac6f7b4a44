#!/usr/bin/env bash
# Soak and fault runs: the SDK's export pipeline at a set span rate against a receiver that fails
# on a schedule, with the span-by-span accounting check (see "Soak and fault runs" in README.md).
#
#   Benchmarks/soak.sh a|b|c [--rate N] [--duration S] [--schedule "0=200,10=503:ra=1"] [--json FILE]
#   OTEL_BSP_MAX_QUEUE_SIZE=262144 Benchmarks/soak.sh b      # the standard variables apply
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "opentelemetry-proto==1.45.2" "protobuf>=5,<8"
fi
export TRACELINE_TEST_PYTHON="${TRACELINE_TEST_PYTHON:-$PWD/.venv/bin/python}"
# A failed build stops here (pipefail), rather than running an old binary.
swift build -c release --package-path Benchmarks --product SoakTool 2>&1 | { grep -v "unhandled; explicitly declare" || true; }
[ $# -gt 0 ] || { sed -n '2,6p' "$0"; exit 2; }
scenario="$1"; shift
exec Benchmarks/.build/release/SoakTool --scenario "$scenario" "$@"
