#!/usr/bin/env bash
# The public API of the SDK's modules (Traceline, its five modules, TracelineHummingbird), one declaration a line,
# compared with the committed baseline in api/. A declaration added, removed or changed fails the
# check, so the API grows only on purpose: review the difference, then `--update` and commit.
set -euo pipefail
cd "$(dirname "$0")/.."
swift package dump-symbol-graph --traits Hummingbird --minimum-access-level public --skip-synthesized-members \
  >/dev/null 2>&1 || swift package dump-symbol-graph --traits Hummingbird --minimum-access-level public --skip-synthesized-members
graphs="$(swift build --traits Hummingbird --show-bin-path)/../symbolgraph"
status=0
for module in Traceline TracelineCore TracelineOTLP TracelineMetrics TracelineHealth TracelineDebug TracelineHummingbird; do
  current=$(mktemp)
  python3 - "$graphs" "$module" >"$current" <<'PY'
import glob, json, os, sys
graphs, module = sys.argv[1], sys.argv[2]
lines = set()
# The module's own graph and its extensions of other modules' types (Module@Other.symbols.json).
for path in [os.path.join(graphs, f"{module}.symbols.json")] + glob.glob(os.path.join(graphs, f"{module}@*.symbols.json")):
    for symbol in json.load(open(path))["symbols"]:
        if symbol.get("spi"):
            continue
        declaration = "".join(f["spelling"] for f in symbol.get("declarationFragments", []))
        lines.add(f'{".".join(symbol["pathComponents"])}\t{" ".join(declaration.split())}')
print("\n".join(sorted(lines)))
PY
  baseline="api/$module.txt"
  if [ "${1:-}" = --update ]; then
    mv "$current" "$baseline"
    echo "$baseline: $(wc -l <"$baseline") public declarations"
    continue
  fi
  if ! diff -u "$baseline" "$current" >&2; then
    echo "error: the public API of $module differs from $baseline (above: - removed, + added)." >&2
    echo "If that is intended, run Scripts/check-public-api.sh --update and commit api/." >&2
    status=1
  fi
  echo "$module: $(wc -l <"$current") public declarations, $(grep -cE $'\t(public )?(final )?(struct|class|enum|protocol|typealias|actor) ' "$current") types"
  rm -f "$current"
done
exit $status
