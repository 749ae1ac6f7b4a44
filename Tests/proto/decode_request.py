"""Decodes an ExportTraceServiceRequest (file argument or stdin) with the official
opentelemetry-proto package and prints its spans as JSON (same shape as otlp_receiver.py)."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from otlp_receiver import describe  # noqa: E402
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: E402

data = Path(sys.argv[1]).read_bytes() if len(sys.argv) > 1 else sys.stdin.buffer.read()
print(json.dumps(describe(trace_service_pb2.ExportTraceServiceRequest.FromString(data))))
