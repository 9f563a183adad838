#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/tap/run.sh — what watching costs: `uds tap -w FILE` (pcapng to a file on tmpfs)
# against `uds proxy` over the same pair, and against `socat -x -v` as a capturing relay
# (its hex dump to a file on tmpfs), in one run. The echo server and the load generator are
# bench/proxy's (loadgen.c), the same for every row, so only the relay changes. Rounds are
# interleaved (every configuration once per round); each figure is the median over the
# rounds of its ratio to `uds proxy` measured in the same round.
#
#   bench/tap/run.sh          (ROUNDS=5 DURATION=3)
#
# The relay and the echo server share CPU $RELAY_CPU, the load generator runs on $LOAD_CPU
# (bench/proxy's "shared" layout). Prints a Markdown table on stdout; raw numbers go to
# $OUT (default a temp dir, kept).
set -u
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3}
RELAY_CPU=${RELAY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
UDS=${UDS:-$PWD/build/uds}
CAPDIR=${CAPDIR:-/dev/shm}

[ -x "$UDS" ] || { echo "bench: $UDS is not built; run make first" >&2; exit 1; }
command -v socat >/dev/null || { echo "bench: socat is missing (apt-get install socat)" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/uds-bench-tap.XXXXXX")
CAP=$(mktemp -d "$CAPDIR/uds-bench-tap.XXXXXX")
OUT=${OUT:-$T/results}
mkdir -p "$OUT"
PIDS=()
RELAY_PID=
cleanup() {
    local pid
    [ -z "$RELAY_PID" ] || kill -TERM "$RELAY_PID" 2>/dev/null
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    rm -f "$T"/*.sock "$T"/*.sock.lock
    rm -rf "$CAP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -O2 -o "$T/loadgen" bench/proxy/loadgen.c || exit 1
LOADGEN=$T/loadgen

ready() {   # ready PATH: wait until it accepts connections
    local i
    for i in $(seq 200); do
        python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' \
            "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench: $1 never became ready" >&2
    return 1
}

ECHO=$T/echo.sock
taskset -c "$RELAY_CPU" "$LOADGEN" echo "$ECHO" >"$T/echo.log" 2>&1 &
PIDS+=($!)
ready "$ECHO"

NAMES=("uds proxy" "uds tap -w" "uds tap -w (swapped in)" "uds tap -w /dev/null" "socat -x -v")
declare -A ADDR CMD
ADDR["uds proxy"]=$T/proxy.sock
CMD["uds proxy"]="$(printf '%q ' "$UDS" proxy -q "$T/proxy.sock" "$ECHO")"
ADDR["uds tap -w"]=$T/tap.sock
CMD["uds tap -w"]="$(printf '%q ' "$UDS" tap -q -w "$CAP/tap.pcapng" --listen "$T/tap.sock" "$ECHO")"
ADDR["uds tap -w (swapped in)"]=$ECHO
CMD["uds tap -w (swapped in)"]="$(printf '%q ' "$UDS" tap -q -w "$CAP/swap.pcapng" "$ECHO")"
# What the tap costs apart from storing the capture: encoded and checksummed, written nowhere.
ADDR["uds tap -w /dev/null"]=$T/null.sock
CMD["uds tap -w /dev/null"]="$(printf '%q ' "$UDS" tap -q -w /dev/null --listen "$T/null.sock" \
    "$ECHO")"
ADDR["socat -x -v"]=$T/socat.sock
CMD["socat -x -v"]="$(printf '%q ' socat -x -v "UNIX-LISTEN:$T/socat.sock,fork,backlog=4096" "UNIX-CONNECT:$ECHO") 2>$(printf %q "$CAP/socat.txt")"

relay_start() {
    (eval "exec taskset -c $RELAY_CPU ${CMD[$1]}") 2>>"$OUT/relays.log" &
    RELAY_PID=$!
    # A swapped-in tap answers at the echo server's own path: wait for its line instead.
    if [ "$1" = "uds tap -w (swapped in)" ]; then
        local i
        for i in $(seq 200); do grep -q tapping "$OUT/relays.log" 2>/dev/null && break; sleep 0.05; done
        : >"$OUT/relays.log.mark"
        return 0
    fi
    ready "${ADDR[$1]}"
}
relay_stop() {
    kill -TERM "$RELAY_PID" 2>/dev/null
    local i
    for i in $(seq 100); do kill -0 "$RELAY_PID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$RELAY_PID" 2>/dev/null
    wait "$RELAY_PID" 2>/dev/null
    RELAY_PID=
    rm -f "$T/proxy.sock" "$T/proxy.sock.lock" "$T/tap.sock" "$T/tap.sock.lock" "$T/socat.sock"
    rm -f "$T/null.sock" "$T/null.sock.lock"
    rm -f "$CAP"/*
    : >"$OUT/relays.log"
}
run_test() {    # run_test NAME KEY MODE ARGS...: RESULT, the figure (empty on failure)
    local name=$1 key=$2
    shift 2
    relay_start "$name" || { relay_stop; RESULT=; return; }
    RESULT=$(taskset -c "$LOAD_CPU" "$LOADGEN" "$1" "${ADDR[$name]}" "${@:2}" \
             2>>"$OUT/errors.log" | sed -n "s/.*$key=\([0-9.]*\).*/\1/p")
    relay_stop
}

RR_ARGS=(-c 16 -P 16 -s 64 -d "$DURATION")
BULK_ARGS=(-c 1 -s 65536 -d "$DURATION")
echo "# round,name,test,value" >"$OUT/raw.csv"
for ((round = 1; round <= ROUNDS; round++)); do
    echo "bench: round $round of $ROUNDS" >&2
    for n in "${NAMES[@]}"; do
        run_test "$n" requests_per_s rr "${RR_ARGS[@]}"
        rr=$RESULT
        run_test "$n" mb_per_s bulk "${BULK_ARGS[@]}"
        bulk=$RESULT
        echo "$round,$n,rr,$rr" >>"$OUT/raw.csv"
        echo "$round,$n,bulk,$bulk" >>"$OUT/raw.csv"
        echo "bench:   $n: rr $rr/s, bulk $bulk MB/s" >&2
    done
done

python3 - "$OUT/raw.csv" <<'PY'
import csv, statistics, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if r and not r[0].startswith("#")]
data = {}
for rnd, name, test, value in rows:
    data.setdefault((rnd, test), {})[name] = float(value) if value else None
names = []
for _, name, _, _ in rows:
    if name not in names:
        names.append(name)
print("| relay | 16 conns × pipeline 16 × 64 B (req/s) | ratio to uds proxy | bulk 64 KiB writes (MB/s) | ratio to uds proxy |")
print("|---|---:|---:|---:|---:|")
for name in names:
    cells = []
    for test in ("rr", "bulk"):
        vals, ratios = [], []
        for (rnd, t), byname in data.items():
            if t != test or byname.get(name) is None:
                continue
            vals.append(byname[name])
            base = byname.get("uds proxy")
            if base:
                ratios.append(byname[name] / base)
        cells.append("%.0f" % statistics.median(vals) if vals else "failed")
        cells.append("%.2f×" % statistics.median(ratios) if ratios else "-")
    print("| %s | %s |" % (name, " | ".join(cells)))
PY
echo
echo "$ROUNDS interleaved rounds of ${DURATION} s per test; medians. Relay and echo server on CPU $RELAY_CPU, load generator on CPU $LOAD_CPU."
echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), Linux $(uname -r). $("$UDS" --version); $(socat -V | sed -n 's/^socat version \([^ ]*\).*/socat \1/p'). Captures written to $CAPDIR."
