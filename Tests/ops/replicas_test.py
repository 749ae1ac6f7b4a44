#!/usr/bin/env python3
"""Two exai-daemon replicas sharing one real redis-server and one PostgreSQL, as behind a load balancer.

A conversation started through one replica continues through the other with its full history (the
provider receives every earlier turn), and again through the first; both replicas persist to the
same Supabase tables; both export to one OTLP receiver, whose decoded requests (the official
opentelemetry-proto classes) show the same service.name with two distinct service.instance.ids;
and rotate_token is refused, as EXAI_TOKEN_ROTATION=false asks for replicas. Usage:
    replicas_test.py <directory with exai-daemon, exai-client and provider-sim>
Needs TRACELINE_TEST_POSTGRES_URL (Scripts/test.sh sets it).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from support import OTLPReceiver, Processes, free_port, http_json, port_open, serve, wait_for

TOKEN = "replica-test-token"


class DecodingReceiver(OTLPReceiver):
    """Decodes each request and keeps (service.name, service.instance.id, span name)."""

    spans = []
    lock = threading.Lock()

    def on_body(self, body):
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        rows = []
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    rows.append((attributes.get("service.name"), attributes.get("service.instance.id"), span.name))
        with DecodingReceiver.lock:
            DecodingReceiver.spans.extend(rows)


def psql(url, statement):
    return subprocess.run(["psql", url, "-Atqc", statement], check=True, capture_output=True, text=True).stdout.strip()


def chat(binaries, port, prompt, continuation=None):
    argv = [os.path.join(binaries, "exai-client"), "--url", f"ws://127.0.0.1:{port}/", "--token", TOKEN]
    if continuation:
        argv += ["--continue", continuation]
    result = subprocess.run(argv + [prompt], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"exai-client exited {result.returncode}: {result.stdout} {result.stderr}"
    m = re.search(r"continuation_id: (\S+)", result.stdout)
    assert m, result.stdout
    return m.group(1)


def rotate_token(port):
    """Sends rotate_token with the right old token over a raw WebSocket; returns the reply."""
    import asyncio

    import aiohttp

    async def run():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"http://127.0.0.1:{port}/") as ws:
                await ws.send_json({"op": "hello", "token": TOKEN})
                hello = await ws.receive_json(timeout=10)
                assert hello.get("ok") is True, hello
                await ws.send_json({"op": "rotate_token", "old": TOKEN, "new": "taken-over"})
                return await ws.receive_json(timeout=10)

    return asyncio.run(run())


def main():
    binaries = os.path.abspath(sys.argv[1])
    admin = os.environ["TRACELINE_TEST_POSTGRES_URL"]
    work = tempfile.mkdtemp(prefix="traceline-replicas-")
    processes = Processes(work)
    receiver = serve(DecodingReceiver)
    database = "exai_test_replicas_" + uuid.uuid4().hex[:12]
    started = time.monotonic()
    try:
        psql(admin, f"CREATE DATABASE {database}")
        parts = urllib.parse.urlsplit(admin)
        supabase = urllib.parse.urlunsplit(parts._replace(path=f"/{database}", query="sslmode=disable"))

        redis_port, sim_port = free_port(), free_port()
        processes.start(
            "redis-server",
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        )
        processes.start(
            "provider-sim", [os.path.join(binaries, "provider-sim"), "--port", str(sim_port), "--api-key", "k"]
        )
        wait_for("redis-server and provider-sim", lambda: port_open(redis_port) and port_open(sim_port), 20)

        replicas = {}
        for name in ("replica-a", "replica-b"):
            ws_port, metrics_port = free_port(), free_port()
            processes.start(
                name,
                [os.path.join(binaries, "exai-daemon")],
                {
                    "EXAI_WS_PORT": str(ws_port), "METRICS_PORT": str(metrics_port), "EXAI_WS_TOKEN": TOKEN,
                    "EXAI_TOKEN_ROTATION": "false",
                    "EXAI_STORAGE": "redis", "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                    "SUPABASE_DB_URL": supabase,
                    "KIMI_API_URL": f"http://127.0.0.1:{sim_port}/v1", "KIMI_API_KEY": "k",
                    "GLM_API_URL": f"http://127.0.0.1:{sim_port}/api/paas/v4", "GLM_API_KEY": "k",
                    "OTEL_SERVICE_NAME": "exai-daemon",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.server_port}",
                    "OTEL_BSP_SCHEDULE_DELAY": "200",
                },
            )
            replicas[name] = ws_port
            wait_for(f"{name} to listen", lambda: port_open(ws_port), 60)

        print("== a conversation moves between replicas with its history")
        a, b = replicas["replica-a"], replicas["replica-b"]
        conversation = chat(binaries, a, "first question alpha")
        assert chat(binaries, b, "second question beta", conversation) == conversation
        assert chat(binaries, a, "third question gamma", conversation) == conversation
        last = http_json(f"http://127.0.0.1:{sim_port}/_sim/requests")[-1]["messages"]
        users = [m for m in last if m.startswith("user: ")]
        assert users == ["user: first question alpha", "user: second question beta", "user: third question gamma"], last
        assert sum(m.startswith("assistant: ") for m in last) == 2, last
        print(f"   turn 3 (replica A) sent the provider {len(last)} messages: both earlier turns, one from replica B")
        stored = psql(
            supabase.replace("?sslmode=disable", ""),
            "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            f" WHERE c.continuation_id = '{conversation}'",
        )
        assert stored == "6", f"PostgreSQL holds {stored} messages of the conversation, not 6"
        print("   PostgreSQL holds all 6 messages, written by both replicas")

        print("== one OTLP receiver, two service.instance.ids")

        def two_instances():
            with DecodingReceiver.lock:
                instances = {
                    (name, instance) for name, instance, span in DecodingReceiver.spans if span == "call_tool chat"
                }
            return instances if len({i for _, i in instances}) == 2 else None

        instances = wait_for("call_tool spans from both replicas", two_instances, 30)
        assert {name for name, _ in instances} == {"exai-daemon"}, instances
        assert all(re.fullmatch(r"[0-9a-f-]{36}", i) for _, i in instances), instances
        print(f"   service.instance.id: {', '.join(sorted(i for _, i in instances))}")

        print("== rotate_token is refused on a replica")
        reply = rotate_token(a)
        assert reply.get("ok") is False and reply.get("error") == "rotation_disabled", reply
        chat(binaries, b, "the old token still works")
        print(f"   {reply}; the token still opens replica B")
        print(f"replicas test passed in {time.monotonic() - started:.0f} s")
    except BaseException:
        processes.print_logs(["replica-a", "replica-b", "redis-server"])
        raise
    finally:
        processes.stop_all()
        receiver.shutdown()
        subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {database}"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
