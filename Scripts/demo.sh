#!/usr/bin/env bash
# The main job on embedded defaults: no collector, no API keys. Spans print to the console.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
swift run -c release traceline-example
