#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/proxy/sched.sh — what the scheduler sees during the rr test (16 connections × 16
# 64-byte requests in flight) through `uds proxy`, in the shared layout (proxy and echo
# server on CPU 0, load generator on CPU 1): context switches and CPU time of the proxy and
# of the echo server over 2 s (perf stat), and each one's voluntary / involuntary switches
# over the whole run (/proc/PID/status). Extra arguments go to the proxy:
#
#   bench/proxy/sched.sh                 batched writes (the default)
#   bench/proxy/sched.sh --no-batch      one send() per write
#   bench/proxy/sched.sh --direct        no proxy: the echo server and the generator alone
#
# Needs perf. Add PROFILE=1 for `perf record -g` of the proxy (report in $T/perf.data).
set -u
cd "$(dirname "$0")/../.."
UDS=${UDS:-$PWD/build/uds}
[ -x "$UDS" ] || { echo "sched: $UDS is not built; run make first" >&2; exit 1; }
command -v perf >/dev/null || { echo "sched: needs perf (apt-get install linux-perf)" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/uds-sched.XXXXXX")
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -f "$T"/*.sock "$T"/*.lock "$T"/*.stat "$T/loadgen"' EXIT
cc -O2 -o "$T/loadgen" bench/proxy/loadgen.c || exit 1

taskset -c 0 "$T/loadgen" echo "$T/echo.sock" >/dev/null &
ECHO=$!
PIDS+=("$ECHO")
TARGET=$T/p.sock
if [ "${1:-}" = --direct ]; then
    TARGET=$T/echo.sock
    PROXY=$$    # measured as a stand-in; its figures are not printed
else
    taskset -c 0 "$UDS" proxy -q "$@" "$T/p.sock" "$T/echo.sock" &
    PROXY=$!
    PIDS+=("$PROXY")
fi
for _ in $(seq 100); do [ -S "$TARGET" ] && [ -S "$T/echo.sock" ] && break; sleep 0.05; done

taskset -c 1 "$T/loadgen" rr "$TARGET" -c 16 -P 16 -s 64 -d 3 &
LOAD=$!
sleep 0.8
# Both over the same 2 s of the run.
perf stat -e task-clock,context-switches -p "$ECHO" -o "$T/echo.stat" -- sleep 2 &
perf stat -e task-clock,context-switches -p "$PROXY" -o "$T/proxy.stat" -- sleep 2
wait $!
if [ "$PROXY" != $$ ]; then
    echo "proxy ($*), 2 s:"
    grep -E 'task-clock|context-switches' "$T/proxy.stat"
fi
echo "echo server, the same 2 s:"
grep -E 'task-clock|context-switches' "$T/echo.stat"
if [ -n "${PROFILE:-}" ]; then
    perf record -g -o "$T/perf.data" -p "$PROXY" -- sleep 0.5 >/dev/null 2>&1
    echo "profile: perf report -i $T/perf.data --no-children"
    trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
fi
wait "$LOAD"
echo "whole run (voluntary / involuntary switches):"
[ "$PROXY" = $$ ] ||
    echo "  proxy $(awk '/ctxt_switches/ {printf "%s ", $2}' "/proc/$PROXY/status")"
echo "  echo  $(awk '/ctxt_switches/ {printf "%s ", $2}' "/proc/$ECHO/status")"
