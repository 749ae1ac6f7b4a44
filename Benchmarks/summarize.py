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
        elif section == "encode" and number(first.replace(",", "")) is not None:
            current["encode"][name] = number(first.replace(",", ""))
        elif section == "e2e" and number(first) is not None:
            key = name if name.startswith("receiver") else "%s, %s" % (name, context)
            queue = re.search(r"dropped at queue (\d+)", rest)
            current["e2e"][key] = (number(first), number(second), number(third), int(queue.group(1)) if queue else None)
    return rounds


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


def summary(rounds):
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
    out.append("| Traceline / NoOp, unsampled span | %s | ≤ 1.2× |"
               % spread(ratio("unsampled span: Traceline", "span: NoOpTracer"), 2, "×"))
    out.append("| swift-otel 1.6.0 / Traceline, recording span | %s | ≥ 10× |"
               % spread(ratio("span: swift-otel 1.6.0", "span: Traceline"), 1, "×"))
    out.append("| span metrics, ns added per span | %s | ≤ 150 ns |"
               % spread(difference("span: Traceline + span metrics", "span: Traceline"), 0, " ns"))
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
    print(summary(rounds))
    print("<!-- benchmark-summary:end -->")
    print()
    print("## Raw output of every round")
    print()
    print("```")
    print(raw.rstrip("\n"))
    print("```")


if __name__ == "__main__":
    main()
