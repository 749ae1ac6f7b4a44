#!/usr/bin/env bash
# The main job on embedded defaults: no collector, no API keys. The exai-daemon starts in demo mode
# (an in-process provider simulator answers for Kimi and GLM), a scripted client runs one session,
# and the frames, the spans (console exporter), /health and /metrics are printed before it stops.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh --build-only
swift run --package-path Daemon exai-daemon --demo-run
