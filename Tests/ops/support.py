"""What the operations tests share: ports, polling, small HTTP servers and child processes."""

import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url, data=None, timeout=5):
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_for(what, predicate, timeout, interval=0.5):
    """Polls `predicate` until it returns a true value (returned) or `timeout` seconds pass (fails)."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # a server still starting answers with connection errors
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last_error})")


def port_open(port):
    socket.create_connection(("127.0.0.1", port), 1).close()
    return True


def serve(handler):
    """Runs `handler` on 127.0.0.1 on a free port in a background thread; `.server_port` has it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Processes:
    """Child processes by name, each logging to <work>/<name>.log; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, work):
        self.work = work
        self.running = {}

    def start(self, name, argv, env=None):
        log = open(os.path.join(self.work, f"{name}.log"), "ab")
        self.running[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=self.work
        )

    def stop(self, name):
        process = self.running.pop(name, None)
        if process:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self):
        for name in list(self.running):
            self.stop(name)

    def print_logs(self, names, lines=30):
        import sys

        for name in names:
            path = os.path.join(self.work, f"{name}.log")
            if os.path.exists(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    print(f"---- last lines of {name}.log", *f.readlines()[-lines:], sep="", file=sys.stderr)


class OTLPReceiver(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that accepts every request; `on_body` (if set on a subclass) sees
    each request body."""

    on_body = None

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.on_body:
            self.on_body(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass
