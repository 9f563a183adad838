#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# report.py RAW.CSV DURATION — the Markdown table of bench/proxy/run.sh from its raw numbers:
# per configuration the median over the rounds of each figure, and the median of its ratio
# to the direct connection measured in the same round. A run that failed (a proxy that
# died) has no value and is left out; a configuration with no run at all shows a dash.
import csv
import statistics
import sys

rows = [r for r in csv.reader(open(sys.argv[1])) if r and not r[0].startswith("#")]
duration = float(sys.argv[2])
names, data = [], {}
for rnd, name, test, value, cpu in rows:
    if name not in names:
        names.append(name)
    try:
        data.setdefault((name, test), {})[int(rnd)] = (float(value), float(cpu or 0))
    except ValueError:
        pass    # that run failed


def runs(name, test):
    return data.get((name, test), {})


def med(name, test):
    vals = [v for v, _ in runs(name, test).values()]
    return statistics.median(vals) if vals else None


def ratio(name, test):
    direct = runs("direct", test)
    rs = [v / direct[r][0] for r, (v, _) in runs(name, test).items()
          if r in direct and direct[r][0] > 0]
    return statistics.median(rs) if rs else None


def cpu(name, test, per):
    vals = [c / (v * duration) * per for v, c in runs(name, test).values() if v > 0 and c > 0]
    return statistics.median(vals) if vals else None


def fmt(x, spec, suffix=""):
    return "–" if x is None else format(x, spec) + suffix


rounds = max((int(r[0]) for r in rows), default=0)
print("| | 64 B × 16 × 16, req/s | ratio | bulk 64 KiB, MB/s | ratio | p50 RTT, µs | ratio "
      "| CPU µs / 1000 req | CPU ms / GB |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for n in names:
    rr, bulk, lat = med(n, "rr"), med(n, "bulk"), med(n, "lat")
    if n == "direct":
        print(f"| direct (no proxy) | {fmt(rr, ',.0f')} | 1 | {fmt(bulk, ',.0f')} | 1 | "
              f"{fmt(lat, '.1f')} | 1 | | |")
        continue
    note = ""
    got = len(runs(n, "rr"))
    if got < rounds:
        note = f" ({got} of {rounds} rounds: it died)"
    print(f"| {n}{note} | {fmt(rr, ',.0f')} | {fmt(ratio(n, 'rr'), '.2f', '×')} | "
          f"{fmt(bulk, ',.0f')} | {fmt(ratio(n, 'bulk'), '.2f', '×')} | {fmt(lat, '.1f')} | "
          f"{fmt(ratio(n, 'lat'), '.2f', '×')} | {fmt(cpu(n, 'rr', 1e9), ',.0f')} | "
          f"{fmt(cpu(n, 'bulk', 1e6), ',.0f')} |")
