#!/usr/bin/env python3
"""The operator's view, end to end, against the real Prometheus and Alertmanager (Debian's).

Starts provider-sim, an exai-daemon that calls it and exports spans to a local OTLP sink,
Prometheus with the repository's alert rules, and Alertmanager through deploy/alertmanager's own
entrypoint with a webhook to this script. Then:

1. healthy provider: traffic flows, no alert is pending or firing, and every PromQL expression of
   the generated Grafana dashboard answers with at least one finite value;
2. the provider fails one attempt in five: ProviderErrorRate goes pending, then firing, and
   reaches Alertmanager with its labels and annotations; its runbook_url names a heading of
   docs/runbook.md;
3. the provider fails every attempt: CircuitBreakerOpen, HealthCheckFailing and HighErrorRate
   (calls now fail for clients) fire and reach Alertmanager, and the critical group arrives at the
   webhook.

The rules are the checked-in ones with every `for:` shortened to 3 s (a test cannot wait five
minutes); expressions, labels and annotations are unchanged. Usage:
    alerting_test.py <directory with exai-daemon, exai-client and provider-sim>
"""

import http.server
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from support import ROOT, OTLPReceiver, Processes, free_port, http_json, port_open, serve, wait_for

FOR_IN_TEST = "3s"


def runbook_anchors():
    """GitHub's anchors for the headings of docs/runbook.md."""
    anchors = set()
    with open(os.path.join(ROOT, "docs", "runbook.md"), encoding="utf-8") as f:
        for line in f:
            if m := re.match(r"#+\s+(.*)", line):
                anchors.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return anchors


class Webhook(http.server.BaseHTTPRequestHandler):
    """Alertmanager's webhook receiver: keeps every notification's JSON."""

    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Webhook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Stack:
    def __init__(self, binaries, work):
        self.binaries = binaries
        self.work = work
        self.processes = Processes(work)
        self.sim_port = free_port()
        self.ws_port = free_port()
        self.metrics_port = free_port()
        self.prometheus_port = free_port()
        self.alertmanager_port = free_port()
        self.webhook = serve(Webhook)
        self.otlp = serve(OTLPReceiver)  # the pipeline panels need an exporter

    def start(self, name, argv, env=None):
        self.processes.start(name, argv, env)

    def stop(self, name):
        self.processes.stop(name)

    def stop_all(self):
        self.processes.stop_all()
        self.webhook.shutdown()
        self.otlp.shutdown()

    def start_provider(self, error_rate):
        self.stop("provider-sim")
        self.start(
            "provider-sim",
            [
                os.path.join(self.binaries, "provider-sim"), "--port", str(self.sim_port),
                "--error-rate", str(error_rate), "--api-key", "test-key",
            ],
        )
        wait_for("provider-sim", lambda: port_open(self.sim_port), 20)

    def start_daemon(self):
        sim = f"http://127.0.0.1:{self.sim_port}"
        self.start(
            "exai-daemon",
            [os.path.join(self.binaries, "exai-daemon")],
            {
                "EXAI_WS_PORT": str(self.ws_port), "METRICS_PORT": str(self.metrics_port),
                "KIMI_API_URL": f"{sim}/v1", "KIMI_API_KEY": "test-key",
                "GLM_API_URL": f"{sim}/api/paas/v4", "GLM_API_KEY": "test-key",
                # A call gives up after one retry, so a failing provider fails calls in about a second.
                "EXAI_WS_CALL_TIMEOUT": "3",
                "EXAI_SYNTHETIC_INTERVAL": "2", "EXAI_HEALTH_INTERVAL": "1",
                "OTEL_SERVICE_NAME": "exai-daemon",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.otlp.server_port}",
                "OTEL_BSP_SCHEDULE_DELAY": "200",
                "TRACELINE_OTLP_RETRY_BUFFER_BYTES": "1048576",
                "EXAI_TOKEN_BUDGET_PER_HOUR": "1000000000",
            },
        )
        wait_for("the daemon's /metrics", lambda: self.metrics_text(), 60)

    def metrics_text(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return response.read().decode()

    def start_alertmanager(self):
        self.start(
            "alertmanager",
            [
                "sh", os.path.join(ROOT, "deploy", "alertmanager", "entrypoint.sh"),
                f"--web.listen-address=127.0.0.1:{self.alertmanager_port}", "--cluster.listen-address=",
            ],
            {
                "ALERTMANAGER_BIN": shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager",
                "ALERTMANAGER_CONFIG_DIR": os.path.join(ROOT, "deploy", "alertmanager"),
                "ALERTMANAGER_STORAGE": os.path.join(self.work, "alertmanager"),
                "ALERTMANAGER_WEBHOOK_URL": f"http://127.0.0.1:{self.webhook.server_port}/alerts",
            },
        )
        wait_for("Alertmanager", lambda: http_json(f"http://127.0.0.1:{self.alertmanager_port}/api/v2/status"), 30)

    def start_prometheus(self):
        directory = os.path.join(self.work, "prometheus")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(ROOT, "deploy", "prometheus", "alerts.yml"), encoding="utf-8") as f:
            rules = re.sub(r"(?m)^(\s+for:\s*)\S+", r"\g<1>" + FOR_IN_TEST, f.read())
        with open(os.path.join(directory, "alerts.yml"), "w", encoding="utf-8") as f:
            f.write(rules)
        with open(os.path.join(directory, "prometheus.yml"), "w", encoding="utf-8") as f:
            f.write(
                f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [alerts.yml]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{self.alertmanager_port}"]
scrape_configs:
  - job_name: exai-daemon
    static_configs:
      - targets: ["127.0.0.1:{self.metrics_port}"]
"""
            )
        self.start(
            "prometheus",
            [
                "prometheus", f"--config.file={directory}/prometheus.yml", f"--storage.tsdb.path={directory}/data",
                f"--web.listen-address=127.0.0.1:{self.prometheus_port}", "--enable-feature=exemplar-storage",
            ],
        )
        wait_for("Prometheus to scrape the daemon", lambda: self.query('up{job="exai-daemon"} == 1'), 60)

    def query(self, expr):
        url = f"http://127.0.0.1:{self.prometheus_port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        answer = http_json(url)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def prometheus_alerts(self):
        return http_json(f"http://127.0.0.1:{self.prometheus_port}/api/v1/alerts")["data"]["alerts"]

    def alertmanager_alerts(self):
        return http_json(f"http://127.0.0.1:{self.alertmanager_port}/api/v2/alerts")


class Traffic:
    """Chat calls through exai-client in a background thread, alternating Kimi and GLM; every
    fourth continues a conversation (a conversation-store lookup)."""

    def __init__(self, stack, calls_per_second):
        self.stack = stack
        self.interval = 1 / calls_per_second
        self.stopped = threading.Event()
        self.outcomes = {"ok": 0, "failed": 0, "no session": 0}
        self.thread = threading.Thread(target=self.run, daemon=True)

    def call(self, n, continuation):
        argv = [os.path.join(self.stack.binaries, "exai-client"), "--url", f"ws://127.0.0.1:{self.stack.ws_port}/"]
        argv += ["--model", "kimi-k2-0905-preview" if n % 2 else "glm-4.5-flash"]
        if continuation and n % 4 == 3:
            argv += ["--continue", continuation]
        result = subprocess.run(argv + [f"question {n}"], capture_output=True, text=True, timeout=30)
        # exai-client: 0 answered, 3 the call answered an error, anything else no session.
        self.outcomes[{0: "ok", 3: "failed"}.get(result.returncode, "no session")] += 1
        m = re.search(r"continuation_id: (\S+)", result.stdout)
        return m.group(1) if m else continuation

    def run(self):
        n, continuation = 0, None
        while not self.stopped.is_set():
            started = time.monotonic()
            try:
                continuation = self.call(n, continuation)
            except subprocess.TimeoutExpired:
                self.outcomes["failed"] += 1
            n += 1
            self.stopped.wait(max(0, self.interval - (time.monotonic() - started)))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(60)


def check_alert_in_alertmanager(stack, name, labels):
    """The alert is active in Alertmanager with `labels`, a summary, a description and a runbook
    URL naming an existing heading of docs/runbook.md; returns it."""

    def find():
        for alert in stack.alertmanager_alerts():
            if alert["labels"].get("alertname") == name and all(alert["labels"].get(k) == v for k, v in labels.items()):
                return alert
        return None

    alert = wait_for(f"{name} {labels} in Alertmanager", find, 30)
    annotations = alert["annotations"]
    assert annotations.get("summary") and annotations.get("description"), annotations
    assert alert["labels"].get("severity") in ("warning", "critical"), alert["labels"]
    runbook = annotations.get("runbook_url", "")
    path, _, anchor = runbook.partition("#")
    assert path == "docs/runbook.md" and anchor in runbook_anchors(), f"{name}: runbook_url {runbook!r}"
    assert alert["status"]["state"] == "active", alert["status"]
    print(f"   Alertmanager: {name} {alert['labels']} — {annotations['summary']} ({annotations['description']})")
    return alert


def watch_states(stack, name, labels, timeout):
    """Polls Prometheus until alert `name` with `labels` is firing; returns the states seen."""
    seen = []

    def firing():
        for alert in stack.prometheus_alerts():
            if alert["labels"].get("alertname") == name and all(alert["labels"].get(k) == v for k, v in labels.items()):
                if not seen or seen[-1] != alert["state"]:
                    seen.append(alert["state"])
                return alert["state"] == "firing"
        return False

    wait_for(f"{name} {labels} firing in Prometheus", firing, timeout, interval=0.25)
    return seen


def dashboard_expressions():
    with open(os.path.join(ROOT, "deploy", "grafana", "dashboards", "exai-daemon.json"), encoding="utf-8") as f:
        dashboard = json.load(f)
    expressions = []

    def walk(panels):
        for panel in panels:
            walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                if target.get("expr"):
                    expressions.append((panel.get("title", "?"), target["expr"], bool(target.get("exemplar"))))

    walk(dashboard.get("panels", []))
    assert expressions, "the dashboard has no PromQL targets"
    return expressions


def substitute(expr):
    """Grafana's variables as the dashboard's "All" option and a 1-minute rate interval."""
    expr = expr.replace("$__rate_interval", "1m").replace("${__rate_interval}", "1m")
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


def check_dashboard(stack):
    empty = []
    expressions = dashboard_expressions()
    with_exemplars = 0
    for title, expr, exemplar in expressions:
        result = stack.query(substitute(expr))
        values = [float(sample["value"][1]) for sample in result]
        if not any(math.isfinite(v) for v in values):
            empty.append(f"{title}: {expr} -> {values or 'no series'}")
        if exemplar:
            # What Grafana asks for to draw the exemplar dots; each links to Jaeger by trace_id.
            now = time.time()
            url = f"http://127.0.0.1:{stack.prometheus_port}/api/v1/query_exemplars?" + urllib.parse.urlencode(
                {"query": substitute(expr), "start": now - 300, "end": now}
            )
            found = [e for series in http_json(url)["data"] for e in series["exemplars"]]
            if not any(re.fullmatch(r"[0-9a-f]{32}", e["labels"].get("trace_id", "")) for e in found):
                empty.append(f"{title}: {expr} -> no exemplar with a trace_id")
            with_exemplars += 1
    assert not empty, "dashboard panels with no data on a healthy daemon:\n  " + "\n  ".join(empty)
    assert with_exemplars, "no latency panel asks for exemplars"
    print(
        f"   the dashboard's {len(expressions)} expressions all answer with finite values;"
        f" {with_exemplars} latency queries have exemplars with trace IDs"
    )


def main():
    binaries = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="traceline-ops-")
    stack = Stack(binaries, work)
    started = time.monotonic()
    try:
        stack.start_provider(error_rate=0)
        stack.start_daemon()
        stack.start_alertmanager()
        stack.start_prometheus()

        print("== healthy provider: no alert, every dashboard expression has data")
        with Traffic(stack, calls_per_second=3) as traffic:
            wait_for("30 calls", lambda: traffic.outcomes["ok"] >= 30, 90)
            wait_for("a cache lookup in Prometheus", lambda: stack.query("mcp_cache_operations_total"), 30)
            time.sleep(5)  # several rule evaluations over the traffic
            active = [a for a in stack.prometheus_alerts() if a["state"] in ("pending", "firing")]
            assert not active, f"alerts on a healthy daemon: {[(a['labels'], a['state']) for a in active]}"
            assert not stack.alertmanager_alerts(), stack.alertmanager_alerts()
            check_dashboard(stack)
            budget = stack.query("exai_token_budget_tokens_per_hour")
            assert [float(b["value"][1]) for b in budget] == [1e9], budget
        assert traffic.outcomes["failed"] == 0 and traffic.outcomes["no session"] == 0, traffic.outcomes
        print(f"   {traffic.outcomes['ok']} calls, none failed; no alert pending or firing")

        print("== the provider fails one attempt in five: ProviderErrorRate")
        stack.start_provider(error_rate=0.2)
        with Traffic(stack, calls_per_second=3) as traffic:
            states = watch_states(stack, "ProviderErrorRate", {"job": "exai-daemon"}, 90)
            assert states[0] == "pending" and states[-1] == "firing", states
            print(f"   Prometheus: ProviderErrorRate went {' -> '.join(states)}")
            check_alert_in_alertmanager(stack, "ProviderErrorRate", {"severity": "warning", "job": "exai-daemon"})
        print(f"   calls: {traffic.outcomes} (retries hide the failed attempts from clients)")

        print("== the provider fails every attempt: CircuitBreakerOpen, HealthCheckFailing, HighErrorRate")
        stack.start_provider(error_rate=1.0)
        with Traffic(stack, calls_per_second=3) as traffic:
            states = watch_states(stack, "CircuitBreakerOpen", {"service": "kimi"}, 90)
            print(f"   Prometheus: CircuitBreakerOpen{{service=kimi}} went {' -> '.join(states)}")
            check_alert_in_alertmanager(stack, "CircuitBreakerOpen", {"service": "kimi", "severity": "critical"})
            states = watch_states(stack, "HealthCheckFailing", {"check": "kimi:circuitBreaker"}, 60)
            print(f"   Prometheus: HealthCheckFailing{{check=kimi:circuitBreaker}} went {' -> '.join(states)}")
            check_alert_in_alertmanager(stack, "HealthCheckFailing", {"check": "kimi:circuitBreaker"})

            def delivered():
                for notification in Webhook.received:
                    for alert in notification.get("alerts", []):
                        if alert["labels"].get("alertname") == "CircuitBreakerOpen" and alert["status"] == "firing":
                            return notification
                return None

            notification = wait_for("the CircuitBreakerOpen notification at the webhook", delivered, 60)
            assert notification["groupLabels"].get("alertname") == "CircuitBreakerOpen", notification["groupLabels"]
            print(f"   webhook: received group {notification['groupLabels']} with {len(notification['alerts'])} alert(s)")
            # Now clients see the failures too: the server-span error ratio fires.
            states = watch_states(stack, "HighErrorRate", {"service_name": "exai-daemon"}, 60)
            print(f"   Prometheus: HighErrorRate{{service_name=exai-daemon}} went {' -> '.join(states)}")
            check_alert_in_alertmanager(stack, "HighErrorRate", {"service_name": "exai-daemon", "severity": "critical"})
        assert traffic.outcomes["failed"] > 0, traffic.outcomes
        print(f"   calls: {traffic.outcomes}")
        firing = sorted({a["labels"]["alertname"] for a in stack.prometheus_alerts() if a["state"] == "firing"})
        print(f"   firing at the end: {', '.join(firing)}")
        print(f"alerting test passed in {time.monotonic() - started:.0f} s")
    except BaseException:
        stack.processes.print_logs(["exai-daemon", "prometheus", "alertmanager"])
        raise
    finally:
        stack.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
