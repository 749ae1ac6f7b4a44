#!/usr/bin/env bash
# Fails if Sources/COTLPProto is not what Scripts/generate-proto.sh makes from Proto/ now.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/generate-proto.sh >/dev/null
if ! git diff --quiet --exit-code -- Sources/COTLPProto || [ -n "$(git status --porcelain -- Sources/COTLPProto)" ]; then
  echo "error: Sources/COTLPProto is stale; run Scripts/generate-proto.sh and commit the result" >&2
  git status --short -- Sources/COTLPProto >&2
  exit 1
fi
echo "generated protobuf-c code is fresh"
