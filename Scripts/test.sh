#!/usr/bin/env bash
# The project's test command: set-up, the test suite, then the same suite under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh

echo "== swift test"
swift test

echo "== swift test --sanitize=thread"
# A separate build folder keeps the sanitized objects from evicting the normal ones.
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  swift test --sanitize=thread --scratch-path .build-tsan
