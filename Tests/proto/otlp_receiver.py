"""A scriptable OTLP/HTTP trace receiver for Traceline's transport tests.

It binds 127.0.0.1 only, decodes every request with the official opentelemetry-proto package (an
independent decoder) and appends what it saw to a JSON-lines file. Its answers follow a script of
comma-separated actions, one per request, the last one repeating:

  200                a plain success            partial:N:text   partial success rejecting N
  503:ra=S           503 + Retry-After: S       503:date=S       503 + Retry-After as HTTP-date now+S
  CODE               that status + rpc Status   stall:S          wait S seconds, then 200
  close              drop the connection        garbage          200 with a non-protobuf body

Usage: otlp_receiver.py --record FILE [--script ACTIONS] [--port N]; prints "PORT n" when ready.
With --stats FILE (benchmarks) it records nothing per request and keeps "requests spans bytes" in FILE.
"""
import argparse
import gzip
import json
import socket
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


def any_value(value):
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return {"bytes": value.bytes_value.hex()}
    if kind is None:
        return None
    return {"kind": kind, "value": getattr(value, kind)}


def attributes(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


def describe(request):
    out = []
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                out.append({
                    "resource": attributes(rs.resource.attributes),
                    "scope": {"name": ss.scope.name, "version": ss.scope.version},
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "trace_state": span.trace_state,
                    "flags": span.flags,
                    "name": span.name,
                    "kind": span.kind,
                    "start": span.start_time_unix_nano,
                    "end": span.end_time_unix_nano,
                    "attributes": attributes(span.attributes),
                    "dropped_attributes_count": span.dropped_attributes_count,
                    "events": [{"name": e.name, "time": e.time_unix_nano, "attributes": attributes(e.attributes),
                                "dropped_attributes_count": e.dropped_attributes_count} for e in span.events],
                    "dropped_events_count": span.dropped_events_count,
                    "links": [{"trace_id": l.trace_id.hex(), "span_id": l.span_id.hex(), "trace_state": l.trace_state,
                               "flags": l.flags, "attributes": attributes(l.attributes),
                               "dropped_attributes_count": l.dropped_attributes_count} for l in span.links],
                    "dropped_links_count": span.dropped_links_count,
                    "status": {"code": span.status.code, "message": span.status.message} if span.HasField("status") else None,
                })
    return out


def rpc_status(message):
    # google.rpc.Status: code = 1 (varint), message = 2 (string).
    encoded = message.encode()
    return bytes([0x08, 13, 0x12, len(encoded)]) + encoded


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        server = self.server
        with server.lock:
            index = min(server.count, len(server.script) - 1)
            action = server.script[index]
            server.count += 1
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if server.stats:
            self.count_only(raw)
            return
        record = {"action": action, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                  "bytes": len(raw)}
        try:
            body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            record["spans"] = describe(request)
        except Exception as error:  # recorded, so a test sees what went wrong
            record["decode_error"] = repr(error)
        with server.lock:
            with open(server.record, "a") as f:
                f.write(json.dumps(record) + "\n")

        if action == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if action.startswith("stall:"):
            time.sleep(float(action.split(":")[1]))
            action = "200"
        if action == "garbage":
            self.respond(200, b"\xff\xfe this is not protobuf", "application/x-protobuf")
        elif action.startswith("partial:"):
            _, rejected, text = action.split(":", 2)
            response = trace_service_pb2.ExportTraceServiceResponse()
            response.partial_success.rejected_spans = int(rejected)
            response.partial_success.error_message = text
            self.respond(200, response.SerializeToString(), "application/x-protobuf")
        elif action == "200":
            self.respond(200, b"", "application/x-protobuf")
        else:
            code, _, option = action.partition(":")
            headers = {}
            if option.startswith("ra="):
                headers["Retry-After"] = option[3:]
            elif option.startswith("date="):
                headers["Retry-After"] = formatdate(time.time() + float(option[5:]), usegmt=True)
            self.respond(int(code), rpc_status("test failure " + code), "application/x-protobuf", headers)

    def count_only(self, raw):
        server = self.server
        body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        with server.lock:
            server.totals[0] += 1
            server.totals[1] += spans
            server.totals[2] += len(raw)
            with open(server.stats + ".tmp", "w") as f:
                f.write("%d %d %d\n" % tuple(server.totals))
            import os
            os.replace(server.stats + ".tmp", server.stats)
        self.respond(200, b"", "application/x-protobuf")

    def respond(self, code, body, content_type, headers=None):
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a benchmark peer that ended, a test's shutdown deadline)

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", default="/dev/null")
    parser.add_argument("--stats", default=None)
    parser.add_argument("--script", default="200")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls-cert", default=None, help="serve HTTPS with this PEM certificate")
    parser.add_argument("--tls-key", default=None)
    args = parser.parse_args()
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    if args.tls_cert:
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.script = args.script.split(",")
    server.count = 0
    server.lock = threading.Lock()
    server.record = args.record
    server.stats = args.stats
    server.totals = [0, 0, 0]
    if args.stats:
        with open(args.stats, "w") as f:
            f.write("0 0 0\n")
    else:
        open(args.record, "w").close()
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
