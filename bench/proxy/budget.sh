#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/proxy/budget.sh — where the machine's CPU goes in the small-message test (16
# connections × 16 64-byte requests in flight) through each relay, run as users run it
# (not pinned, default threads), with the echo server on CPU 0 and the load generator on
# CPU 1 as in bench/proxy/run.sh. For each relay and round: requests per second, how busy
# the whole machine was (/proc/stat), and the CPU each process spent per request
# (/proc/PID/stat: relay, echo server, generator) and the rest (softirq, other tasks).
# When the machine is busy all the time, the rate is the CPUs' time divided by the CPU
# all processes spend per request, and a relay's lead in its own CPU per request shrinks
# in the rate by the share of the other processes.
#
#   ROUNDS=5 DURATION=3 bench/proxy/budget.sh
#   UDS_ARGS="--threads 1" bench/proxy/budget.sh     options for uds proxy
#
# Prints one Markdown row per relay and round, then the medians.
set -u
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3}
UDS=${UDS:-$PWD/build/uds}
[ -x "$UDS" ] || { echo "budget: $UDS is not built; run make first" >&2; exit 1; }
for p in haproxy socat python3; do
    command -v "$p" >/dev/null || { echo "budget: needs $p" >&2; exit 1; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/uds-budget.XXXXXX")
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
cc -O2 -o "$T/loadgen" bench/proxy/loadgen.c || exit 1
HZ=$(getconf CLK_TCK)

taskset -c 0 "$T/loadgen" echo "$T/echo.sock" >/dev/null &
ECHO_PID=$!
PIDS+=("$ECHO_PID")
. bench/proxy/haproxy_cfg.sh
haproxy_cfg "$T/haproxy.cfg" "unix@$T/haproxy.sock" "$T/echo.sock"

declare -A CMD ADDR
RELAYS=("uds proxy" "HAProxy" "socat")
CMD["uds proxy"]="$UDS proxy -q ${UDS_ARGS:-} $T/uds.sock $T/echo.sock"
ADDR["uds proxy"]=$T/uds.sock
CMD["HAProxy"]="haproxy -db -f $T/haproxy.cfg"
ADDR["HAProxy"]=$T/haproxy.sock
CMD["socat"]="socat UNIX-LISTEN:$T/socat.sock,fork,backlog=4096 UNIX-CONNECT:$T/echo.sock"
ADDR["socat"]=$T/socat.sock

ticks() {   # ticks PID: CPU ticks of it and its children, reaped or not (socat forks)
    local p t=0 v
    for p in "$1" $(pgrep -P "$1"); do
        v=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null) && t=$((t + v))
    done
    echo "$t"
}
machine() { # machine: "busy total" jiffies of every CPU (busy: user, nice, system, irq,
            # softirq; total adds idle, iowait and steal; guest is counted in user already)
    awk '/^cpu /{b = $2 + $3 + $4 + $7 + $8; print b, b + $5 + $6 + $9}' /proc/stat
}
wait_sock() {
    local i
    for i in $(seq 200); do
        /usr/bin/python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' \
            "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "budget: $1 never became ready" >&2
    return 1
}
wait_sock "$T/echo.sock" || exit 1

echo "| round | relay | requests/s | machine busy | relay ns/req | echo ns/req | generator ns/req | rest ns/req |"
echo "|---|---|---|---|---|---|---|---|"
for ((round = 1; round <= ROUNDS; round++)); do
    for r in "${RELAYS[@]}"; do
        rm -f "${ADDR[$r]}"
        ${CMD[$r]} >/dev/null 2>&1 &
        RP=$!
        wait_sock "${ADDR[$r]}" || exit 1
        taskset -c 1 "$T/loadgen" rr "${ADDR[$r]}" -c 16 -P 16 -s 64 -d "$DURATION" \
            >"$T/out" 2>&1 &
        LP=$!
        sleep 0.5   # past the connects: measure the steady state
        read -r b0 t0 < <(machine)
        p0=$(ticks "$RP"); e0=$(ticks "$ECHO_PID"); l0=$(ticks "$LP")
        n0=$(date +%s.%N)
        sleep "$((DURATION - 1))"
        read -r b1 t1 < <(machine)
        p1=$(ticks "$RP"); e1=$(ticks "$ECHO_PID"); l1=$(ticks "$LP")
        n1=$(date +%s.%N)
        wait "$LP"
        rate=$(sed -n 's/.*requests_per_s=\([0-9.]*\).*/\1/p' "$T/out")
        kill -TERM "$RP" 2>/dev/null
        wait "$RP" 2>/dev/null
        python3 - "$round" "$r" "$rate" "$b0" "$t0" "$b1" "$t1" "$p0" "$p1" "$e0" "$e1" \
            "$l0" "$l1" "$n0" "$n1" "$HZ" <<'EOF' | tee -a "$T/rows"
import sys
a = sys.argv[1:]
rnd, relay, rate = a[0], a[1], float(a[2] or 0)
b0, t0, b1, t1, p0, p1, e0, e1, l0, l1 = map(float, a[3:13])
n0, n1, hz = float(a[13]), float(a[14]), float(a[15])
wall = n1 - n0
busy = (b1 - b0) / (t1 - t0)
def ns(ticks):
    return ticks / hz / (rate * wall) * 1e9 if rate else 0
total = ns(b1 - b0)  # every CPU's busy time, per request
relay_ns, echo_ns, gen_ns = ns(p1 - p0), ns(e1 - e0), ns(l1 - l0)
rest = total - relay_ns - echo_ns - gen_ns
print(f"| {rnd} | {relay} | {rate / 1e6:.2f} M | {busy * 100:.0f}% | {relay_ns:.0f} | "
      f"{echo_ns:.0f} | {gen_ns:.0f} | {rest:.0f} |")
EOF
    done
done
echo
echo "Medians over $ROUNDS rounds:"
python3 - "$T/rows" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    c = [x.strip() for x in line.strip().strip("|").split("|")]
    rows.setdefault(c[1], []).append(c)
print("| relay | requests/s | machine busy | relay ns/req | echo + generator + rest ns/req |")
print("|---|---|---|---|---|")
for relay, rs in rows.items():
    med = lambda i, f=float: statistics.median(f(r[i].rstrip("M% ")) for r in rs)
    others = statistics.median(float(r[5]) + float(r[6]) + float(r[7]) for r in rs)
    print(f"| {relay} | {med(2):.2f} M | {med(3):.0f}% | {med(4):.0f} | {others:.0f} |")
EOF
