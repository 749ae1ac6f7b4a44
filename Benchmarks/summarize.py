"""Writes Benchmarks/RESULTS.md from the raw output of Benchmarks/run.sh.

Usage: summarize.py RAW_LOG > RESULTS.md (run.sh does this). The summary between the
`benchmark-summary` markers is what README.md quotes; Scripts/check-benchmark-results.sh fails
when the two differ. Every figure is the median across the run's rounds, with the range
[lowest–highest]; the raw output of every round follows the summary.
"""
import os
import re
import statistics
import sys

ROW = re.compile(r"^\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|(.*)$")


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def parse(lines):
    """Returns rounds: a list of {"span": {...}, "encode": {...}, "e2e": {...}}."""
    rounds = []
    section = None
    context = ""
    for line in lines:
        if line.startswith("## Round "):
            rounds.append({"span": {}, "encode": {}, "e2e": {}})
            section = None
            continue
        if line.startswith("## Once"):
            break  # what follows is not per round
        if not rounds:
            continue
        current = rounds[-1]
        if line.startswith("Traceline span benchmark"):
            section = "span"
        elif line.startswith("| encoder"):
            section = "encode"
        elif line.startswith("End-to-end"):
            section, context = "e2e", ""
        elif line.startswith("/metrics render") or line.startswith("SecretRedactor") or line.startswith("Ratios"):
            section = None
        if section == "e2e" and line.startswith("| tight loop"):
            context = "tight loop"
            continue
        if section == "e2e" and line.startswith("| yielding loop"):
            context = "yielding loop"
            continue
        paced = re.match(r"^\| paced at (\d+) %", line)
        if section == "e2e" and paced:
            context = "paced at %s %% of the ceiling" % paced.group(1)
            continue
        match = ROW.match(line)
        if not match or section is None or set(match.group(2)) <= set("-"):
            continue
        name, first, second, third, rest = match.groups()
        if section == "span" and number(first) is not None:
            current["span"][name] = (number(first), number(second))
            if number(third) is not None:
                current.setdefault("drops", {})[name] = int(number(third))
        elif section == "encode" and number(first.replace(",", "")) is not None:
            current["encode"][name] = number(first.replace(",", ""))
        elif section == "e2e" and number(first) is not None:
            key = name if name.startswith("receiver") else "%s, %s" % (name, context)
            queue = re.search(r"dropped at queue (\d+)", rest)
            current["e2e"][key] = (number(first), number(second), number(third), int(queue.group(1)) if queue else None)
    return rounds


def instruction_counts(lines):
    """The `| scenario | instructions/span |` rows of the instruction-count table, if run."""
    counts, inside = {}, False
    for line in lines:
        if line.startswith("Instructions per span"):
            inside = True
            continue
        if inside:
            m = re.match(r"^\|\s*([\w-]+)\s*\|\s*(-?\d+)\s*\|$", line)
            if m:
                counts[m.group(1)] = int(m.group(2))
            elif not line.startswith("|"):
                inside = False
    return counts


def daemon_arms(lines):
    """{arm: {field: [values over runs]}} from DaemonBenchmark's `ARM name key value ...` lines."""
    arms = {}
    for line in lines:
        if not line.startswith("ARM "):
            continue
        words = line.split()
        fields = arms.setdefault(words[1], {})
        for key, value in zip(words[2::2], words[3::2]):
            fields.setdefault(key, []).append(float(value))
    return arms


def spread(values, digits=1, suffix=""):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    def fmt(v):
        return ("%.*f" % (digits, v)) + suffix
    middle = statistics.median(values)
    if len(values) == 1:
        return fmt(middle)
    return "%s [%s–%s]" % (fmt(middle), fmt(min(values)), fmt(max(values)))


def ordered_keys(rounds, part):
    keys = []
    for r in rounds:
        for key in r[part]:
            if key not in keys:
                keys.append(key)
    return keys


def summary(rounds, instructions, arms):
    out = []
    n = len(rounds)
    out.append("Span cost (ns/op, median of each round's medians, [range across %d rounds]):" % n)
    out.append("")
    out.append("| scenario | ns/op | mallocs/op |")
    out.append("|---|---|---|")
    for key in ordered_keys(rounds, "span"):
        ns = [r["span"].get(key, (None, None))[0] for r in rounds]
        mallocs = [r["span"].get(key, (None, None))[1] for r in rounds]
        out.append("| %s | %s | %s |" % (key, spread(ns), spread(mallocs, 2)))
    out.append("")

    def ratio(a, b):
        values = []
        for r in rounds:
            if a in r["span"] and b in r["span"] and r["span"][b][0]:
                values.append(r["span"][a][0] / r["span"][b][0])
        return values

    def difference(a, b):
        return [r["span"][a][0] - r["span"][b][0] for r in rounds if a in r["span"] and b in r["span"]]

    out.append("| same-run ratio | median [range] | target |")
    out.append("|---|---|---|")
    out.append("| Traceline / NoOp, recording span | %s | ≤ 1.5× |"
               % spread(ratio("span: Traceline", "span: NoOpTracer"), 2, "×"))
    if any("span: Traceline, no export (freed by the caller)" in r["span"] for r in rounds):
        out.append("| Traceline / NoOp, recording span ended with no export (freed by the caller) | %s | - (the handoff to the export thread is the rest) |"
                   % spread(ratio("span: Traceline, no export (freed by the caller)", "span: NoOpTracer"), 2, "×"))
    out.append("| Traceline / NoOp, unsampled span | %s | ≤ 1.2× |"
               % spread(ratio("unsampled span: Traceline", "span: NoOpTracer"), 2, "×"))
    out.append("| swift-otel 1.6.0 / Traceline, recording span | %s | ≥ 10× |"
               % spread(ratio("span: swift-otel 1.6.0", "span: Traceline"), 1, "×"))
    out.append("| span metrics, ns added per span | %s | ≤ 150 ns |"
               % spread(difference("span: Traceline + span metrics", "span: Traceline"), 0, " ns"))
    drops = [r.get("drops", {}).get("2 producers: Traceline") for r in rounds]
    if any(d is not None for d in drops):
        out.append("| 2 producers on 2 cores, discarding exporter: spans dropped in a round (all its runs) | %s | 0 |" % spread(drops, 0))
    drops = [r.get("drops", {}).get("root+child pair: Traceline") for r in rounds]
    if any(d is not None for d in drops):
        out.append("| 1 producer, root+child pairs, discarding exporter: spans dropped in a round (all its runs) | %s | 0 (all spans kept) |" % spread(drops, 0))
    out.append("")
    if instructions:
        out.append("Instructions per span on the calling thread (callgrind, deterministic hashing, one run):")
        out.append("")
        out.append("| scenario | instructions/span |")
        out.append("|---|---|")
        for name, count in instructions.items():
            out.append("| %s | %d |" % (name, count))
        out.append("")
        out.append("| instruction ratio | value | target |")
        out.append("|---|---|---|")

        def instruction_ratio(label, a, b, target, digits=2):
            if instructions.get(a) and instructions.get(b):
                out.append("| %s | %.*f× | %s |" % (label, digits, instructions[a] / instructions[b], target))

        instruction_ratio("recording / NoOp", "recording", "noop", "≤ 1.5×")
        instruction_ratio("recording / NoOp without attributes (floor)", "recording", "noop-bare", "≤ 3×")
        instruction_ratio("unsampled / NoOp", "unsampled", "noop", "≤ 1.2×")
        instruction_ratio("swift-otel 1.6.0 / recording", "swift-otel", "recording", "≥ 10×", 1)
        if instructions.get("recording-metrics") and instructions.get("recording"):
            out.append("| span metrics, instructions added per span | %d | (≤ 150 ns in wall time) |"
                       % (instructions["recording-metrics"] - instructions["recording"]))
        if instructions.get("recording-views") and instructions.get("recording"):
            out.append("| span views (3, as the exai-daemon's), instructions added per span | %d | - |"
                       % (instructions["recording-views"] - instructions["recording"]))
        out.append("")
        if "encode" in instructions:
            out.append("`encode` is the export thread's work per span: building and packing OTLP requests of 500"
                       " spans (4 attributes, 1 event each) with libprotobuf-c.")
            out.append("")
    if arms:
        out.append("exai-daemon by tracing backend (16 sessions × 150 chat calls, OTLP/HTTP to a local receiver,"
                   " log correlation on; one process per run, %d runs; CPU includes the in-process clients):"
                   % max(len(v.get("calls/s", [])) for v in arms.values()))
        out.append("")
        out.append("| backend | calls/s | p50 ms | p99 ms | CPU ms per call | receiver CPU ms per call"
                   " | peak RSS MiB | log lines per call | errors |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        names = {"noop": "NoOpTracer (tracing off)", "traceline": "Traceline", "swift-otel": "swift-otel 1.6.0"}
        for arm in ("noop", "traceline", "swift-otel"):
            if arm in arms:
                f = arms[arm]
                out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    names[arm], spread(f.get("calls/s", []), 0), spread(f.get("p50", []), 2),
                    spread(f.get("p99", []), 2), spread(f.get("cpu_ms_per_call", []), 3),
                    spread(f.get("receiver_cpu_ms_per_call", []), 3),
                    spread(f.get("peak_rss_mib", []), 0), spread(f.get("log_lines_per_call", []), 1),
                    "%d" % sum(f.get("errors", []))))
        out.append("")
        out.append("The receiver decodes every request in Python on the same two cores, so a traced arm's"
                   " latency includes the receiver's CPU; the NoOp arm sends nothing.")
        out.append("")
        if "noop" in arms and "traceline" in arms:
            noop, ours = arms["noop"], arms["traceline"]
            overhead = (statistics.median(ours["p50"]) / statistics.median(noop["p50"]) - 1) * 100
            # Each run starts the three arms back to back, so a run's arms share the machine's state.
            paired = [(t / n - 1) * 100 for t, n in zip(ours["p50"], noop["p50"])]
            out.append("| daemon comparison | value | target |")
            out.append("|---|---|---|")
            out.append("| Traceline p50 over NoOp (medians) | %+.1f %% | ≤ 5 %% |" % overhead)
            out.append("| Traceline p50 over NoOp, paired within each run: median [range] | %+.1f %% [%+.1f %% to %+.1f %%]"
                       " | ≤ 5 %% |" % (statistics.median(paired), min(paired), max(paired)))
            if "swift-otel" in arms:
                theirs = arms["swift-otel"]
                out.append("| Traceline / swift-otel, calls/s (medians) | %.2f× | > 1× |"
                           % (statistics.median(ours["calls/s"]) / statistics.median(theirs["calls/s"])))
                out.append("| swift-otel / Traceline, p99 (medians) | %.2f× | > 1× |"
                           % (statistics.median(theirs["p99"]) / statistics.median(ours["p99"])))
            out.append("")
    if ordered_keys(rounds, "encode"):
        out.append("| encoder: build + encode a 512-span request | spans/s |")
        out.append("|---|---|")
        for key in ordered_keys(rounds, "encode"):
            out.append("| %s | %s |" % (key, spread([r["encode"].get(key) for r in rounds], 0)))
        out.append("")
    if ordered_keys(rounds, "e2e"):
        out.append("End to end to a local receiver that decodes every request (10 s windows):")
        out.append("")
        out.append("| peer, producer | spans/s made | spans/s arrived | peak RSS MiB | dropped at the queue |")
        out.append("|---|---|---|---|---|")
        for key in ordered_keys(rounds, "e2e"):
            rows = [r["e2e"].get(key) for r in rounds]
            made, arrived, rss, dropped = ([row[i] if row else None for row in rows] for i in range(4))
            out.append("| %s | %s | %s | %s | %s |"
                       % (key, spread(made, 0), spread(arrived, 0), spread(rss, 0), spread(dropped, 0)))
        out.append("")
    return "\n".join(out)


def main():
    raw_path = sys.argv[1]
    with open(raw_path) as f:
        raw = f.read()
    rounds = parse(raw.splitlines())
    instructions = instruction_counts(raw.splitlines())
    arms = daemon_arms(raw.splitlines())
    if not rounds:
        sys.exit("no rounds found in %s" % raw_path)
    env = os.environ
    print("# Benchmark results (generated by Benchmarks/run.sh; do not edit)")
    print()
    print("- date: %s" % env.get("RESULTS_DATE", "?"))
    print("- commit: %s" % env.get("RESULTS_COMMIT", "?"))
    print("- machine: %s" % env.get("RESULTS_MACHINE", "?"))
    print("- rounds: %d; arguments: %s" % (len(rounds), env.get("RESULTS_ARGUMENTS", "") or "(defaults)"))
    print()
    print("<!-- benchmark-summary:begin -->")
    print(summary(rounds, instructions, arms))
    print("<!-- benchmark-summary:end -->")
    print()
    print("## Raw output of every round")
    print()
    print("```")
    print(raw.rstrip("\n"))
    print("```")


if __name__ == "__main__":
    main()
