#!/usr/bin/env bash
# Static checks of what CI cannot run (no Docker engine): docker-compose.yml and the Jaeger config
# parse as YAML and are wired to each other, Prometheus's config and rules pass promtool,
# Alertmanager's config passes amtool, the Dockerfile builds with the README's commands, and
# .env.example lists every variable `exai-daemon --help` names.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${TRACELINE_TEST_PYTHON:-.venv/bin/python}

"$python" - <<'PY'
import sys, yaml
compose = yaml.safe_load(open("docker-compose.yml"))
services = compose["services"]
for name in ["jaeger", "prometheus", "alertmanager", "grafana", "postgres", "redis", "exai-daemon"]:
    assert name in services, f"docker-compose.yml: no {name} service"
    image = services[name].get("image", "")
    assert ":" in image and not image.endswith(":latest"), f"{name}: image pinned to a version"
assert services["jaeger"]["image"].startswith("jaegertracing/jaeger:2."), "Jaeger v2, pinned"
jaeger = yaml.safe_load(open("deploy/jaeger/config.yaml"))
# Traces survive a restart: Badger on the jaeger-data volume, not memory.
traces = jaeger["extensions"]["jaeger_query"]["storage"]["traces"]
badger = jaeger["extensions"]["jaeger_storage"]["backends"][traces]["badger"]
assert badger["ephemeral"] is False and badger["directories"]["keys"].startswith("/badger/")
assert "jaeger-data:/badger" in services["jaeger"]["volumes"] and "jaeger-data" in compose["volumes"]
assert jaeger["exporters"]["jaeger_storage_exporter"]["trace_storage"] == traces
# Prometheus sends to the alertmanager service; Grafana's provisioning matches the dashboard's uids.
prometheus_config = yaml.safe_load(open("deploy/prometheus/prometheus.yml"))
targets = [t for a in prometheus_config["alerting"]["alertmanagers"] for c in a["static_configs"] for t in c["targets"]]
assert targets == ["alertmanager:9093"], targets
sources = {d["uid"]: d for d in yaml.safe_load(open("deploy/grafana/provisioning/datasources/datasources.yml"))["datasources"]}
assert sources["prometheus"]["url"] == "http://prometheus:9090" and sources["jaeger"]["url"] == "http://jaeger:16686"
links = sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
assert links == [{"name": "trace_id", "datasourceUid": "jaeger", "urlDisplayLabel": "Trace in Jaeger"}], links
import json
dashboard = json.load(open("deploy/grafana/dashboards/exai-daemon.json"))
used = set()
def walk(node):
    if isinstance(node, dict):
        if isinstance(node.get("datasource"), dict) and "uid" in node["datasource"]:
            used.add(node["datasource"]["uid"])
        for value in node.values(): walk(value)
    elif isinstance(node, list):
        for value in node: walk(value)
walk(dashboard)
assert used and used <= set(sources), f"the dashboard names data sources that are not provisioned: {used - set(sources)}"
provider = yaml.safe_load(open("deploy/grafana/provisioning/dashboards/dashboards.yml"))["providers"][0]
mounts = services["grafana"]["volumes"]
assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts, mounts
assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts, mounts
# The replicas override: compose's `!reset` tag, the balancer pinned and pointed at the daemon's port,
# token rotation off, and the daemon's storage shared (Redis, Supabase).
class ComposeLoader(yaml.SafeLoader):
    pass
ComposeLoader.add_constructor("!reset", lambda loader, node: [])
replicas = yaml.load(open("deploy/replicas/docker-compose.replicas.yml"), Loader=ComposeLoader)["services"]
assert replicas["exai-daemon"]["ports"] == [] and replicas["exai-daemon"]["environment"]["EXAI_TOKEN_ROTATION"] == "false"
assert ":" in replicas["balancer"]["image"] and "./nginx.conf:/etc/nginx/nginx.conf:ro" in replicas["balancer"]["volumes"]
nginx = open("deploy/replicas/nginx.conf").read()
assert f"server exai-daemon:{services['exai-daemon']['environment']['EXAI_WS_PORT']} resolve;" in nginx
assert services["exai-daemon"]["environment"]["EXAI_STORAGE"] == "redis" and "SUPABASE_DB_URL" in services["exai-daemon"]["environment"]
scrape = {job["job_name"]: job for job in prometheus_config["scrape_configs"]}["exai-daemon"]
assert scrape["dns_sd_configs"][0]["names"] == ["exai-daemon"], "Prometheus finds every replica by DNS"
backend = jaeger["extensions"]["jaeger_query"]["storage"]["metrics"]
prometheus = jaeger["extensions"]["jaeger_storage"]["metric_backends"][backend]["prometheus"]
assert prometheus["normalize_calls"] and prometheus["normalize_duration"], "our metric names carry _total and _milliseconds"
assert "4318" in str(jaeger["receivers"]["otlp"]["protocols"]["http"]["endpoint"])
print("YAML: compose, Jaeger (Badger on a volume, SPM from Prometheus), Alertmanager and Grafana wiring")
PY

promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/alerts.yml
amtool check-config deploy/alertmanager/alertmanager.yml
# The entrypoint's config with a webhook is valid too, and a bad URL stops it.
am=$(mktemp -d)
ALERTMANAGER_CONFIG_DIR=deploy/alertmanager ALERTMANAGER_STORAGE="$am" ALERTMANAGER_BIN=true \
  ALERTMANAGER_WEBHOOK_URL='https://hooks.example/T0/B0?token=x' sh deploy/alertmanager/entrypoint.sh 2>/dev/null
amtool check-config "$am/alertmanager.running.yml" >/dev/null
grep -q 'url: "https://hooks.example/T0/B0?token=x"' "$am/alertmanager.running.yml"
if ALERTMANAGER_CONFIG_DIR=deploy/alertmanager ALERTMANAGER_STORAGE="$am" ALERTMANAGER_BIN=true \
  ALERTMANAGER_WEBHOOK_URL='https://x/"
  receiver: y' sh deploy/alertmanager/entrypoint.sh 2>/dev/null; then
  echo "entrypoint.sh accepted a webhook URL with a quote and a line break" >&2; exit 1
fi
rm -rf "$am"

# The Dockerfile's build command is the README's.
build_line=$(grep -o 'swift build -c release --package-path Daemon --product exai-daemon[^&"\\]*' Dockerfile | head -1 | sed 's/ *$//')
grep -qF "$build_line" README.md || { echo "README does not show the Dockerfile's build command: $build_line" >&2; exit 1; }
grep -q 'Scripts/setup.sh' Dockerfile || { echo "the Dockerfile does not install packages with Scripts/setup.sh" >&2; exit 1; }

# .env.example covers every variable the daemon reads.
missing=0
# A table entry starts a line, with or without its parenthesis (swift-format wraps long ones).
for name in $(grep -oE '^ *\(? *"[A-Z][A-Z0-9_]+", "' Daemon/Sources/ExaiDaemon/DaemonConfiguration.swift | sed -E 's/^ *\(? *"([A-Z0-9_]+)".*/\1/'); do
  grep -q "^$name=" .env.example || { echo ".env.example lacks $name" >&2; missing=1; }
done
[ $missing -eq 0 ]
echo "deploy files: OK"
