#!/usr/bin/env bash
# Installs the system packages Traceline's build and tests need on Debian/Ubuntu.
# Idempotent: it installs only what is missing, so the README commands can call it every time.
set -euo pipefail

packages=(
  pkg-config            # locates the C libraries the package links
  libprotobuf-c-dev     # OTLP wire encoding (runtime library and headers)
  libcurl4-openssl-dev  # OTLP/HTTP transport
  zlib1g-dev            # gzip request bodies
  protobuf-c-compiler   # Scripts/generate-proto.sh (CI checks the committed output is fresh)
  protobuf-compiler     # descriptor comparison of Proto/ with the official definitions
  python3-venv          # the test venv with the independent OTLP decoder (opentelemetry-proto)
  openssl               # a self-signed certificate for the TLS transport test
  prometheus            # promtool checks the /metrics exposition; the alerting test runs Prometheus
  prometheus-alertmanager  # amtool checks its config; the alerting test routes alerts through it
  libhiredis-dev        # the daemon's Redis storage backend (hiredis C client)
  redis-server          # the Redis tests start their own redis-server processes
  postgresql            # the Supabase persistence tests run against a local PostgreSQL
  chromium              # the browser test of the trace pages (headless)
  gdb                   # thread dumps of a test run that hangs (Scripts/test.sh)
)

# --build-only: just what building needs (the Dockerfile's build stage).
if [ "${1:-}" = "--build-only" ]; then
  packages=(pkg-config libprotobuf-c-dev libcurl4-openssl-dev zlib1g-dev libhiredis-dev)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "Installing: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "error: no Swift toolchain on PATH; install Swift 6.1 or newer (swift.org) first" >&2
  exit 1
fi
