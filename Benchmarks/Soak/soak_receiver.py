"""A fault-injecting OTLP/HTTP trace receiver for the soak tool.

It counts, per span sequence number, how often each span was accepted and rejected, so a soak run
can prove that nothing was lost and see how much was duplicated. The sender puts an int attribute
`soak.seq` on every span (as its first attribute); the receiver keeps two bytearrays of size
--max-seq (`accepted`, `rejected`, each +1 per event, saturating at 255).

Usage: soak_receiver.py [--port N] [--control-port N] [--max-seq N] [--stats-file FILE]
Both servers bind 127.0.0.1 (port 0 = ephemeral). When ready it prints "PORTS <data> <control>".
On SIGTERM/SIGINT it writes the stats JSON to --stats-file (if given) and exits 0.

Data port: POST /v1/traces (application/x-protobuf, optionally Content-Encoding: gzip; the body needs
a Content-Length, chunked uploads get 411 and a close). The mode
current when a request arrives decides its answer:

  200            accept every span; 200 + empty ExportTraceServiceResponse
  partial:N      reject the last min(N, count) spans, accept the rest; 200 + partial_success
  503 429 502 504, 503:ra=S 429:ra=S (ra allowed on any of the four)
                 that status (+ Retry-After: S), empty body; nothing accepted
  stall:S        read the body, wait S seconds, close the connection without any response
  close          read the body, write half a response (Content-Length 64, 5 bytes sent), close
  refuse         close the listening socket and every open data connection; leaving this mode
                 serves again on the same port

Control port: POST /mode (body: a mode above) -> 200 "ok" / 400 message;
GET /stats -> JSON; GET /stats?created=N adds a "created" block over seq in [0, N).

Counting notes: received_spans, unknown_spans (no int soak.seq), out_of_range_spans and max_seq_seen
are counted for every decoded request whatever the answer; accepted_spans counts every span a
request's answer accepted (unknown and out-of-range spans included).
"""
import argparse
import gzip
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

SEQ_KEY = "soak.seq"
MODE_RE = re.compile(r"^(?:(200)|(partial):(\d+)|(429|502|503|504)(?::ra=(\d+))?|(stall):(\d+(?:\.\d+)?)"
                     r"|(close)|(refuse))$")
OK_BODY = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()  # b"" today
TRUNCATED = (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 64\r\n\r\n"
             b"\x0a\x03abc")  # 5 of the announced 64 body bytes
NONZERO = bytes([0] + [1] * 255)  # translate table: count -> 0/1


def parse_mode(text):
    """Returns (kind, arg) for a mode string, or raises ValueError."""
    m = MODE_RE.match(text)
    if not m:
        raise ValueError(f"unknown mode {text!r}")
    g = m.groups()
    if g[0]: return ("200", None)
    if g[1]: return ("partial", int(g[2]))
    if g[3]: return (g[3], g[4])           # status, Retry-After seconds or None
    if g[5]: return ("stall", float(g[6]))
    return (g[7] or g[8], None)           # close / refuse


class State:
    """Everything the two servers share; counters change only under `lock`."""

    def __init__(self, max_seq):
        self.lock = threading.Lock()
        self.mode_lock = threading.Lock()   # serializes mode switches (refuse stops/starts the data server)
        self.mode_text, self.mode = "200", ("200", None)
        self.max_seq = max_seq
        self.accepted = bytearray(max_seq)
        self.rejected = bytearray(max_seq)
        self.c = dict.fromkeys(("requests", "received_spans", "accepted_spans", "rejected_spans",
                                "duplicate_accepts", "unknown_spans", "out_of_range_spans", "bad_requests",
                                "connections_refused_periods", "bytes_received"), 0)
        self.c["max_seq_seen"] = -1
        self.by_mode = {}

    def stats(self, created=None):
        with self.lock:
            out = dict(self.c, requests_by_mode=dict(self.by_mode), mode=self.mode_text)
            if created is not None:
                n = max(0, min(created, self.max_seq))
                acc, rej = bytes(self.accepted[:n]), bytes(self.rejected[:n])
        if created is not None:  # vectorized: bytes.count, and 0/1 masks packed into big ints
            a = int.from_bytes(acc.translate(NONZERO), "little")
            r = int.from_bytes(rej.translate(NONZERO), "little")
            zeros, ones = acc.count(0), acc.count(1)
            out["created"] = {"n": n, "never_delivered": n - (a | r).bit_count(), "accepted_once": ones,
                              "accepted_twice_or_more": n - zeros - ones, "accepted_and_rejected": (a & r).bit_count()}
        return out


def span_seqs(request, max_seq):
    """Per span, in request order: its seq if usable (int, in range) else None; plus the anomaly counts."""
    seqs, unknown, out_of_range, top = [], 0, 0, -1
    append = seqs.append
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                seq = None
                attrs = span.attributes
                if attrs:
                    kv = attrs[0]
                    if kv.key != SEQ_KEY:  # not where the sender puts it: scan
                        kv = next((x for x in attrs if x.key == SEQ_KEY), None)
                    if kv is not None:
                        value = kv.value
                        seq = value.int_value
                        if seq == 0 and value.WhichOneof("value") != "int_value":
                            seq = None
                if seq is None:
                    unknown += 1
                else:
                    if seq > top: top = seq
                    if not 0 <= seq < max_seq:
                        out_of_range += 1
                        seq = None
                append(seq)
    return seqs, unknown, out_of_range, top


class DataHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def log_message(self, *args):
        pass

    def not_found(self):  # any method but POST; a body it may carry is not read, so close after
        self.close_connection = True
        self.respond(404, b"not found", "text/plain")

    do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = not_found

    def do_POST(self):
        state = self.server.state
        kind, arg = state.mode  # the mode at arrival decides the answer
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            return self.respond(411, b"Content-Length required", "text/plain")
        length = int(length)
        raw = self.rfile.read(length)
        if len(raw) < length:  # the client went away mid-body
            self.close_connection = True
            return
        if self.path != "/v1/traces":
            return self.respond(404, b"not found", "text/plain")
        try:
            body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        except Exception:
            with state.lock:
                state.c["requests"] += 1
                state.c["bad_requests"] += 1
                state.c["bytes_received"] += len(raw)
                state.by_mode[kind] = state.by_mode.get(kind, 0) + 1
            return self.respond(400, b"undecodable ExportTraceServiceRequest", "text/plain")

        seqs, unknown, out_of_range, top = span_seqs(request, state.max_seq)
        count = len(seqs)
        accept, reject = (), ()
        if kind == "200":
            accept = seqs
        elif kind == "partial":
            k = min(arg, count)
            accept, reject = seqs[:count - k], seqs[count - k:]
        with state.lock:
            c = state.c
            c["requests"] += 1
            c["received_spans"] += count
            c["bytes_received"] += len(raw)
            c["unknown_spans"] += unknown
            c["out_of_range_spans"] += out_of_range
            if top > c["max_seq_seen"]: c["max_seq_seen"] = top
            state.by_mode[kind] = state.by_mode.get(kind, 0) + 1
            c["accepted_spans"] += len(accept)
            c["rejected_spans"] += len(reject)
            acc, dup = state.accepted, 0
            for s in accept:
                if s is not None:
                    n = acc[s]
                    if n:
                        dup += 1
                        if n < 255: acc[s] = n + 1
                    else:
                        acc[s] = 1
            c["duplicate_accepts"] += dup
            rej = state.rejected
            for s in reject:
                if s is not None and rej[s] < 255:
                    rej[s] += 1

        if kind == "200":
            self.respond(200, OK_BODY, "application/x-protobuf")
        elif kind == "partial":
            response = trace_service_pb2.ExportTraceServiceResponse()
            response.partial_success.rejected_spans = len(reject)
            response.partial_success.error_message = f"soak receiver rejected {len(reject)} spans"
            self.respond(200, response.SerializeToString(), "application/x-protobuf")
        elif kind in ("stall", "close", "refuse"):  # refuse: a request that raced the switch
            if kind == "stall":
                time.sleep(arg)
            elif kind == "close":
                self.wfile.write(TRUNCATED)
            self.drop()
        else:
            self.respond(int(kind), b"", "application/x-protobuf", {"Retry-After": arg} if arg else None)

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def respond(self, code, body, content_type, headers=None):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class DataServer(ThreadingHTTPServer):
    """Tracks its open connections so that `refuse` can cut them."""
    allow_reuse_address = True
    daemon_threads = True

    def process_request(self, request, client_address):  # runs in the accept loop, before the thread
        with self.conns_lock:
            self.conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.conns_lock:
            self.conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # disconnects are routine here
            super().handle_error(request, client_address)


class DataPlane:
    """Starts and stops the data server; the port stays the same across `refuse` periods."""

    def __init__(self, state, port):
        self.state, self.port, self.server = state, port, None
        self.conns, self.conns_lock = set(), threading.Lock()

    def start(self):
        for attempt in range(50):  # the old socket may take a moment to go
            try:
                server = DataServer(("127.0.0.1", self.port), DataHandler)
                break
            except OSError:
                if attempt == 49: raise
                time.sleep(0.1)
        server.state, server.conns, server.conns_lock = self.state, self.conns, self.conns_lock
        self.port, self.server = server.server_address[1], server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self):
        self.server.shutdown()       # stop accepting...
        self.server.server_close()   # ...close the listening socket (backlog gets reset)...
        with self.conns_lock:
            conns = list(self.conns)
        for conn in conns:           # ...and cut every open connection; handlers see EOF and end
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_POST(self):
        text = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode("utf-8", "replace").strip()
        if self.path != "/mode":
            return self.respond(404, "not found")
        try:
            set_mode(self.server.state, self.server.plane, text)
        except ValueError as error:
            return self.respond(400, str(error))
        except OSError as error:
            return self.respond(500, f"cannot serve again: {error}")
        self.respond(200, "ok")

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/stats":
            return self.respond(404, "not found")
        created = parse_qs(url.query).get("created")
        try:
            created = int(created[0]) if created else None
        except ValueError:
            return self.respond(400, "created must be an integer")
        self.respond(200, json.dumps(self.server.state.stats(created)), "application/json")

    def respond(self, code, text, content_type="text/plain"):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def set_mode(state, plane, text):
    mode = parse_mode(text)
    with state.mode_lock:
        previous = state.mode_text, state.mode
        was_refusing = previous[1][0] == "refuse"
        state.mode_text, state.mode = text, mode  # set first: the restarted server must not see "refuse"
        if mode[0] == "refuse" and not was_refusing:
            with state.lock:
                state.c["connections_refused_periods"] += 1
            plane.stop()
        elif mode[0] != "refuse" and was_refusing:
            try:
                plane.start()
            except OSError:
                state.mode_text, state.mode = previous  # still refusing; the caller may try again
                raise


def main():
    parser = argparse.ArgumentParser(description="fault-injecting OTLP/HTTP trace receiver for soak runs")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--max-seq", type=int, default=20_000_000)
    parser.add_argument("--stats-file", default=None)
    args = parser.parse_args()

    state = State(args.max_seq)
    plane = DataPlane(state, args.port)
    plane.start()
    control = ThreadingHTTPServer(("127.0.0.1", args.control_port), ControlHandler)
    control.daemon_threads = True
    control.state, control.plane = state, plane
    threading.Thread(target=control.serve_forever, daemon=True).start()

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"PORTS {plane.port} {control.server_address[1]}", flush=True)
    while not stop.wait(0.5):
        pass
    if args.stats_file:
        tmp = args.stats_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state.stats(), f, indent=1)
        os.replace(tmp, args.stats_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
