#!/usr/bin/env bash
# A service that depends on Traceline's tracing core and OTLP exporter (Examples/TracingOnly, built
# from the README's lines) must resolve none of the daemon's dependencies, import nothing else of
# Traceline, and build.
set -euo pipefail
cd "$(dirname "$0")/.."
example=Examples/TracingOnly

# The README's dependency lines are the example's, with the URL in place of the path.
for line in '.product(name: "TracelineCore", package: "Traceline")' '.product(name: "TracelineOTLP", package: "Traceline")' \
  '.package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3")'; do
  grep -qF "$line" README.md || { echo "README's Package.swift lines lack: $line" >&2; exit 1; }
  grep -qF "$line" "$example/Package.swift" || { echo "$example/Package.swift lacks: $line" >&2; exit 1; }
done

resolved=$(swift package --package-path "$example" show-dependencies --format flatlist 2>/dev/null)
echo "$example resolves:" $resolved
for heavy in hummingbird hummingbird-websocket async-http-client postgres-nio swift-nio-ssl swift-nio swift-docc-plugin; do
  if grep -qx "$heavy" <<<"$resolved"; then echo "error: a Traceline user resolves $heavy" >&2; exit 1; fi
done
if grep -hE '^import Traceline' "$example"/Sources/*/*.swift | grep -vxE 'import Traceline(Core|OTLP)'; then
  echo "error: the example imports more than TracelineCore and TracelineOTLP" >&2
  exit 1
fi
swift build --package-path "$example"
