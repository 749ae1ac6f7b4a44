#!/usr/bin/env bash
# Static checks of what CI cannot run (no Docker engine): docker-compose.yml and the Jaeger config
# parse as YAML, Prometheus's config and rules pass promtool, the Dockerfile builds with the
# README's commands, and .env.example lists every variable `exai-daemon --help` names.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${TRACELINE_TEST_PYTHON:-.venv/bin/python}

"$python" - <<'PY'
import sys, yaml
compose = yaml.safe_load(open("docker-compose.yml"))
services = compose["services"]
for name in ["jaeger", "prometheus", "postgres", "redis", "exai-daemon"]:
    assert name in services, f"docker-compose.yml: no {name} service"
assert services["jaeger"]["image"].startswith("jaegertracing/jaeger:2."), "Jaeger v2, pinned"
assert ":" in services["prometheus"]["image"] and not services["prometheus"]["image"].endswith(":latest")
jaeger = yaml.safe_load(open("deploy/jaeger/config.yaml"))
backend = jaeger["extensions"]["jaeger_query"]["storage"]["metrics"]
prometheus = jaeger["extensions"]["jaeger_storage"]["metric_backends"][backend]["prometheus"]
assert prometheus["normalize_calls"] and prometheus["normalize_duration"], "our metric names carry _total and _milliseconds"
assert "4318" in str(jaeger["receivers"]["otlp"]["protocols"]["http"]["endpoint"])
print("YAML: docker-compose.yml and deploy/jaeger/config.yaml parse; SPM wired to Prometheus")
PY

promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/alerts.yml

# The Dockerfile's build command is the README's.
build_line=$(grep -o 'swift build -c release --package-path Daemon --product exai-daemon[^&"\\]*' Dockerfile | head -1 | sed 's/ *$//')
grep -qF "$build_line" README.md || { echo "README does not show the Dockerfile's build command: $build_line" >&2; exit 1; }
grep -q 'Scripts/setup.sh' Dockerfile || { echo "the Dockerfile does not install packages with Scripts/setup.sh" >&2; exit 1; }

# .env.example covers every variable the daemon reads.
missing=0
for name in $(grep -oE '\("[A-Z_]+", "' Daemon/Sources/ExaiDaemon/DaemonConfiguration.swift | sed -E 's/\("([A-Z_]+)".*/\1/'); do
  grep -q "^$name=" .env.example || { echo ".env.example lacks $name" >&2; missing=1; }
done
[ $missing -eq 0 ]
echo "deploy files: OK"
