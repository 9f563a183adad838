#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/proxy/ab.sh — two (or more) builds of `uds proxy` against each other on the
# small-message test (16 connections × 16 pipelined 64-byte requests, 3 s), in turns, so
# that the machine's drift from minute to minute falls on all of them alike: the echo
# server on CPU 0, the load generator on CPU 1, the proxy unpinned (PIN="taskset -c 0" to
# pin it beside the echo server). Prints each round, then each build's median.
#
#   bench/proxy/ab.sh 16 /tmp/before/build/uds build/uds
#   PIN="taskset -c 0" bench/proxy/ab.sh 16 /tmp/before/build/uds build/uds
set -u
cd "$(dirname "$0")/../.."
[ $# -ge 3 ] || { echo "usage: bench/proxy/ab.sh ROUNDS UDS UDS..." >&2; exit 64; }
ROUNDS=$1
shift
for u in "$@"; do
    [ -x "$u" ] || { echo "ab: $u is not an executable" >&2; exit 1; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/uds-ab.XXXXXX")
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
cc -O2 -o "$T/loadgen" bench/proxy/loadgen.c || exit 1
taskset -c 0 "$T/loadgen" echo "$T/echo.sock" >/dev/null 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do [ -S "$T/echo.sock" ] && break; sleep 0.02; done

for ((r = 1; r <= ROUNDS; r++)); do
    line="round $r:"
    for i in $(seq $#); do
        uds=${!i}
        rm -f "$T/p.sock"
        ${PIN:-} "$uds" proxy -q "$T/p.sock" "$T/echo.sock" >/dev/null 2>&1 &
        p=$!
        for _ in $(seq 100); do [ -S "$T/p.sock" ] && break; sleep 0.02; done
        v=$(taskset -c 1 "$T/loadgen" rr "$T/p.sock" -c 16 -P 16 -s 64 -d 3 2>&1 |
            sed -n 's/.*requests_per_s=\([0-9]*\).*/\1/p')
        kill -TERM "$p"
        wait "$p" 2>/dev/null
        line="$line ${v:-?}"
        echo "$i ${v:-0}" >>"$T/results"
    done
    echo "$line"
done
python3 - "$T/results" "$@" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    i, v = line.split()
    runs.setdefault(int(i), []).append(float(v))
for i, uds in enumerate(sys.argv[2:], 1):
    v = runs.get(i, [0])
    print(f"{uds}: median {statistics.median(v) / 1e6:.3f} M requests/s "
          f"(min {min(v) / 1e6:.2f}, max {max(v) / 1e6:.2f}, {len(v)} runs)")
EOF
