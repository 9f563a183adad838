#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/serve_ab.sh — two (or more) builds of `uds serve` (echo) against each other, in
# turns, so that the machine's drift from minute to minute falls on all of them alike: the
# server pinned to CPU 0, `uds bench` (of this tree's build) on CPU 1, 16 connections × 16
# pipelined 64-byte requests for 2 s, as `make bench` measures its 16x16 figure. Prints each
# round (requests/s, and the server's CPU per request from uds bench's own reading of it),
# then each build's medians.
#
#   bench/serve_ab.sh 10 /tmp/before/build/uds build/uds
set -u
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: bench/serve_ab.sh ROUNDS UDS UDS..." >&2; exit 64; }
ROUNDS=$1
shift
BENCH=${BENCH:-build/uds}
for u in "$@" "$BENCH"; do
    [ -x "$u" ] || { echo "serve_ab: $u is not an executable" >&2; exit 1; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/uds-serve-ab.XXXXXX")
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT

for ((r = 1; r <= ROUNDS; r++)); do
    line="round $r:"
    for i in $(seq $#); do
        uds=${!i}
        rm -f "$T/e.sock"
        taskset -c 0 "$uds" serve -q -c 20000 "$T/e.sock" >/dev/null 2>&1 &
        PID=$!
        for _ in $(seq 100); do [ -S "$T/e.sock" ] && break; sleep 0.02; done
        taskset -c 1 "$BENCH" bench --json -q -c 16 -P 16 -s 64 -d 2 "$T/e.sock" \
            >"$T/run.json" 2>/dev/null
        kill -TERM "$PID"
        wait "$PID" 2>/dev/null
        PID=
        v=$(python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
rate = j["requests_per_s"]
ns = j["server"]["cpu_percent"] / 100 * 1e9 / rate if rate else 0
print(f"{rate:.0f} {ns:.0f}")' "$T/run.json" 2>/dev/null)
        line="$line ${v:-? ?}"
        echo "$i ${v:-0 0}" >>"$T/results"
    done
    echo "$line"
done
python3 - "$T/results" "$@" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    i, rate, ns = line.split()
    runs.setdefault(int(i), []).append((float(rate), float(ns)))
for i, uds in enumerate(sys.argv[2:], 1):
    v = runs.get(i, [(0, 0)])
    rates = [r for r, _ in v]
    print(f"{uds}: median {statistics.median(rates) / 1e6:.3f} M requests/s "
          f"(min {min(rates) / 1e6:.2f}, max {max(rates) / 1e6:.2f}, {len(v)} runs), "
          f"server CPU {statistics.median(n for _, n in v):.0f} ns/request")
EOF
