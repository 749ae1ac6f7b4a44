"""Proves Proto/ wire-compatible with the official OTLP definitions.

Compiles our .proto files to a descriptor set with protoc and compares every message and enum of
the official trace-export files (as shipped in the PyPI package opentelemetry-proto) with ours:
field names, numbers, types, labels, message/enum type names and oneof membership. Any difference,
missing or extra field fails. Prints one line per checked message and a closing tally.
"""
import subprocess
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

ROOT = Path(__file__).resolve().parents[2]
FILES = [
    "opentelemetry/proto/common/v1/common.proto",
    "opentelemetry/proto/resource/v1/resource.proto",
    "opentelemetry/proto/trace/v1/trace.proto",
    "opentelemetry/proto/collector/trace/v1/trace_service.proto",
]
OFFICIAL = [common_pb2, resource_pb2, trace_pb2, trace_service_pb2]


def our_descriptors():
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "ours.pb"
        subprocess.run(
            ["protoc", f"--proto_path={ROOT / 'Proto'}", "--proto_path=/usr/include", f"--descriptor_set_out={out}", *FILES],
            check=True,
        )
        fds = descriptor_pb2.FileDescriptorSet()
        fds.ParseFromString(out.read_bytes())
    return {f.name: f for f in fds.file}


def official_descriptor(module):
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    return proto


def field_facts(message):
    facts = {}
    for field in message.field:
        oneof = message.oneof_decl[field.oneof_index].name if field.HasField("oneof_index") else None
        facts[field.number] = (field.name, field.type, field.label, field.type_name, oneof)
    return facts


def walk_messages(prefix, messages):
    for message in messages:
        name = f"{prefix}.{message.name}"
        yield name, message
        yield from walk_messages(name, message.nested_type)


def walk_enums(prefix, file_or_message_enums, messages):
    for enum in file_or_message_enums:
        yield f"{prefix}.{enum.name}", enum
    for message in messages:
        yield from walk_enums(f"{prefix}.{message.name}", message.enum_type, message.nested_type)


def main():
    ours = our_descriptors()
    passed = failed = 0
    for module, path in zip(OFFICIAL, FILES):
        official = official_descriptor(module)
        mine = ours.get(path)
        if mine is None:
            print(f"FAIL {path}: not in our descriptor set")
            failed += 1
            continue
        if mine.package != official.package:
            print(f"FAIL {path}: package {mine.package} != {official.package}")
            failed += 1
        prefix = "." + official.package
        their_messages = dict(walk_messages(prefix, official.message_type))
        our_messages = dict(walk_messages(prefix, mine.message_type))
        for name in sorted(set(their_messages) | set(our_messages)):
            if name not in our_messages:
                print(f"FAIL {name}: missing from Proto/"); failed += 1; continue
            if name not in their_messages:
                print(f"FAIL {name}: not in the official definitions"); failed += 1; continue
            theirs, mine_fields = field_facts(their_messages[name]), field_facts(our_messages[name])
            if theirs != mine_fields:
                for number in sorted(set(theirs) | set(mine_fields)):
                    if theirs.get(number) != mine_fields.get(number):
                        print(f"FAIL {name} field {number}: ours {mine_fields.get(number)} official {theirs.get(number)}")
                failed += 1
            else:
                print(f"ok   {name} ({len(theirs)} fields)")
                passed += 1
        their_enums = dict(walk_enums(prefix, official.enum_type, official.message_type))
        our_enums = dict(walk_enums(prefix, mine.enum_type, mine.message_type))
        for name in sorted(set(their_enums) | set(our_enums)):
            a = {v.name: v.number for v in their_enums[name].value} if name in their_enums else None
            b = {v.name: v.number for v in our_enums[name].value} if name in our_enums else None
            if a != b:
                print(f"FAIL enum {name}: ours {b} official {a}"); failed += 1
            else:
                print(f"ok   enum {name} ({len(a)} values)"); passed += 1
    print(f"descriptors: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
