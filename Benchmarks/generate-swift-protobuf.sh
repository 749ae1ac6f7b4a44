#!/usr/bin/env bash
# Generates Sources/SwiftProtobufOTLP from ../Proto with protoc-gen-swift (swift-protobuf 1.39.0).
# Build the plugin first: (cd <swift-protobuf checkout> && swift build -c release --product protoc-gen-swift)
# and pass its path: PROTOC_GEN_SWIFT=/path/to/protoc-gen-swift Benchmarks/generate-swift-protobuf.sh
set -euo pipefail
cd "$(dirname "$0")"
plugin=${PROTOC_GEN_SWIFT:?set PROTOC_GEN_SWIFT to the protoc-gen-swift binary}
out=Sources/SwiftProtobufOTLP
rm -rf "$out" && mkdir -p "$out"
protoc --plugin=protoc-gen-swift="$plugin" --swift_out=Visibility=Public:"$out" \
  --proto_path=../Proto --proto_path=/usr/include \
  opentelemetry/proto/common/v1/common.proto opentelemetry/proto/resource/v1/resource.proto \
  opentelemetry/proto/trace/v1/trace.proto opentelemetry/proto/collector/trace/v1/trace_service.proto
echo "generated: $(find "$out" -name '*.swift' | wc -l) files"
