#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/proxy/run.sh — `uds proxy` against HAProxy, socat and systemd-socket-proxyd, and
# against no proxy at all, in one run: the same echo server (loadgen echo) and the same
# load generator (loadgen rr/bulk/lat) for every row, so that only the proxy changes.
# Rounds are interleaved (every configuration once per round) and each figure is the
# median over the rounds of its ratio to the direct connection measured in the same round,
# which keeps the noise of a shared machine out of the ratios as far as it can be.
#
#   bench/proxy/run.sh                  (ROUNDS=5 DURATION=3 LAYOUT=shared by default)
#   LAYOUT=split bench/proxy/run.sh     the echo server on the load generator's CPU
#
# LAYOUT=shared: proxy and echo server on CPU $PROXY_CPU, load generator on $LOAD_CPU;
# LAYOUT=split: proxy alone on $PROXY_CPU, echo server and load generator on $LOAD_CPU.
# Prints a Markdown report on stdout; raw numbers go to $OUT (default a temp dir, kept);
# bench/proxy/report.py OUT/raw.csv DURATION prints the table again from them.
set -u
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3}
LAYOUT=${LAYOUT:-shared}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
LAT_COUNT=${LAT_COUNT:-20000}
# Also measured with the relay not pinned (how users run it: free to use every CPU, and
# uds proxy then has one worker per CPU): these configurations, as "NAME (unpinned)".
UNPINNED=${UNPINNED-uds proxy|uds proxy --threads 1|HAProxy|HAProxy nbthread 1|socat|systemd-socket-proxyd}
UDS=${UDS:-$PWD/build/uds}
case $LAYOUT in
shared) SERVER_CPU=$PROXY_CPU ;;
split) SERVER_CPU=$LOAD_CPU ;;
*) echo "LAYOUT is shared or split" >&2; exit 64 ;;
esac

[ -x "$UDS" ] || { echo "bench: $UDS is not built; run make first" >&2; exit 1; }
need=()
command -v socat >/dev/null || need+=(socat)
command -v haproxy >/dev/null || need+=(haproxy)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${need[@]}" >&2 || exit 1
    else
        echo "bench: missing ${need[*]}; sudo apt-get install -y ${need[*]}" >&2
        exit 1
    fi
fi
SDPROXYD=
for p in /lib/systemd/systemd-socket-proxyd /usr/lib/systemd/systemd-socket-proxyd; do
    [ -x "$p" ] && command -v systemd-socket-activate >/dev/null && SDPROXYD=$p && break
done

T=$(mktemp -d "${TMPDIR:-/tmp}/uds-bench-proxy.XXXXXX")
OUT=${OUT:-$T/results}
mkdir -p "$OUT"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    rm -f "$T"/*.sock "$T"/*.sock.lock
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -O2 -o "$T/loadgen" bench/proxy/loadgen.c || exit 1
LOADGEN=$T/loadgen

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
ready() {   # ready ADDRESS: wait until it accepts connections
    local i
    for i in $(seq 200); do
        python3 - "$1" 2>/dev/null <<'EOF' && return 0
import socket, sys
a = sys.argv[1]
if a.startswith("tcp:"):
    h, _, p = a[4:].rpartition(":")
    socket.create_connection((h, int(p)), 1).close()
else:
    s = socket.socket(socket.AF_UNIX)
    s.connect(a)
    s.close()
EOF
        sleep 0.05
    done
    echo "bench: $1 never became ready" >&2
    return 1
}
on_cpu() {  # on_cpu CPU CMD...: in the background, pinned; sets LAST_PID
    local cpu=$1
    shift
    taskset -c "$cpu" "$@" >"$T/bg.$#.$RANDOM.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# ---- the echo server and the configurations -------------------------------------------------
ECHO=$T/echo.sock
on_cpu "$SERVER_CPU" "$LOADGEN" echo "$ECHO"
ready "$ECHO"

# Each configuration is a name, the address the load generator uses, and the command that
# starts the proxy (none for direct). A proxy runs only for its own measurement, started
# afresh for each test: one that spins when idle (HAProxy's busy-polling) or is left in a
# bad state by the previous test then disturbs nothing else.
NAMES=()
declare -A ADDR CMD
add() {     # add NAME ADDRESS [CMD...]
    local name=$1 addr=$2
    shift 2
    NAMES+=("$name")
    ADDR[$name]=$addr
    CMD[$name]=
    [ $# -eq 0 ] || CMD[$name]=$(printf '%q ' "$@")
}
add direct "$ECHO"

P=$(free_port)
add "uds proxy" "$T/uds.sock" "$UDS" proxy -q "$T/uds.sock" "$ECHO"
# By default fds passed between two Unix sockets are forwarded, which costs splice().
add "uds proxy --no-pass-fds" "$T/uds-nf.sock" "$UDS" proxy -q --no-pass-fds "$T/uds-nf.sock" \
    "$ECHO"
add "uds proxy --threads 1" "$T/uds-t1.sock" "$UDS" proxy -q --threads 1 "$T/uds-t1.sock" "$ECHO"
add "uds proxy (TCP)" "tcp:127.0.0.1:$P" "$UDS" proxy -q "tcp:127.0.0.1:$P" "$ECHO"
add "uds proxy --no-batch" "$T/uds-nb.sock" "$UDS" proxy -q --no-batch "$T/uds-nb.sock" "$ECHO"
add "uds proxy --busy-poll 50" "$T/uds-bp.sock" \
    "$UDS" proxy -q --busy-poll 50 "$T/uds-bp.sock" "$ECHO"

# HAProxy as its users configure a Unix-socket relay (haproxy_cfg.sh).
. bench/proxy/haproxy_cfg.sh
HP=$(free_port)
haproxy_cfg "$T/haproxy-unix.cfg" "unix@$T/haproxy.sock" "$ECHO"
haproxy_cfg "$T/haproxy-tcp.cfg" "127.0.0.1:$HP" "$ECHO"
haproxy_cfg "$T/haproxy-bp.cfg" "unix@$T/haproxy-bp.sock" "$ECHO" busy-polling
haproxy_cfg "$T/haproxy-t1.cfg" "unix@$T/haproxy-t1.sock" "$ECHO" "nbthread 1"
add "HAProxy" "$T/haproxy.sock" haproxy -db -f "$T/haproxy-unix.cfg"
add "HAProxy nbthread 1" "$T/haproxy-t1.sock" haproxy -db -f "$T/haproxy-t1.cfg"
add "HAProxy (TCP)" "tcp:127.0.0.1:$HP" haproxy -db -f "$T/haproxy-tcp.cfg"
add "HAProxy busy-polling" "$T/haproxy-bp.sock" haproxy -db -f "$T/haproxy-bp.cfg"

SP=$(free_port)
add "socat" "$T/socat.sock" socat "UNIX-LISTEN:$T/socat.sock,fork,backlog=4096" \
    "UNIX-CONNECT:$ECHO"
add "socat (TCP)" "tcp:127.0.0.1:$SP" \
    socat "TCP-LISTEN:$SP,bind=127.0.0.1,fork,reuseaddr,backlog=4096" "UNIX-CONNECT:$ECHO"

if [ -n "$SDPROXYD" ]; then
    # With SIGPIPE ignored, as systemd runs services (IgnoreSIGPIPE=yes): it splices into
    # sockets, and a client that leaves first would otherwise kill it (exit 141).
    DP=$(free_port)
    add "systemd-socket-proxyd" "$T/sd.sock" bash -c 'trap "" PIPE; exec "$@"' sh \
        systemd-socket-activate -l "$T/sd.sock" "$SDPROXYD" "$ECHO"
    add "systemd-socket-proxyd (TCP)" "tcp:127.0.0.1:$DP" bash -c 'trap "" PIPE; exec "$@"' \
        sh systemd-socket-activate -l "127.0.0.1:$DP" "$SDPROXYD" "$ECHO"
fi

# proxy_start NAME: start its proxy pinned (unless PIN is empty), wait until it accepts;
# PROXY_PID ("" direct).
PIN="taskset -c $PROXY_CPU"
proxy_start() {
    PROXY_PID=
    [ -n "${CMD[$1]}" ] || return 0
    # exec: $! is then the proxy itself, which proxy_stop signals.
    (eval "exec $PIN ${CMD[$1]}") >>"$OUT/proxies.log" 2>&1 &
    PROXY_PID=$!
    ready "${ADDR[$1]}"
}
proxy_stop() {
    [ -n "$PROXY_PID" ] || return 0
    kill -TERM "$PROXY_PID" 2>/dev/null
    local i
    for i in $(seq 100); do kill -0 "$PROXY_PID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$PROXY_PID" 2>/dev/null
    wait "$PROXY_PID" 2>/dev/null
    # A proxy that does not remove its socket file (socat, HAProxy) must not leave it to
    # the next start.
    case ${ADDR[$1]} in tcp:*) ;; *) rm -f "${ADDR[$1]}" "${ADDR[$1]}.lock" ;; esac
    PROXY_PID=
}
trap 'proxy_stop "${CURRENT:-direct}"; cleanup' EXIT

# CPU seconds a process (and its reaped children: socat forks one per client) has used;
# empty when it is gone.
cpu_s() {
    [ -n "$1" ] || { echo 0; return; }
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15 + $16 + $17) / hz}' "/proc/$1/stat" \
        2>/dev/null
}
used() {    # used BEFORE AFTER: CPU seconds between two cpu_s readings, empty if unknown
    [ -n "$1" ] && [ -n "$2" ] && echo "$2 - $1" | bc -l
}
# run_test NAME KEY MODE ARGS...: one measurement with a fresh proxy; RESULT="VALUE,CPU"
# (each empty when unknown: the run failed, or the proxy died).
run_test() {
    local name=$1 key=$2 c0 c1 value
    shift 2
    CURRENT=$name
    RESULT=,
    proxy_start "$name" || { proxy_stop "$name"; return; }
    c0=$(cpu_s "$PROXY_PID")
    value=$(taskset -c "$LOAD_CPU" "$LOADGEN" "$1" "${ADDR[$name]}" "${@:2}" \
            2>>"$OUT/errors.log" | sed -n "s/.*$key=\([0-9.]*\).*/\1/p")
    c1=$(cpu_s "$PROXY_PID")
    proxy_stop "$name"
    RESULT="$value,$(used "$c0" "$c1")"
}

# ---- the runs ----------------------------------------------------------------------------
RR_ARGS=(-c 16 -P 16 -s 64 -d "$DURATION")
BULK_ARGS=(-c 1 -s 65536 -d "$DURATION")
LAT_ARGS=(-s 64 -n "$LAT_COUNT")
echo "# round,name,test,value,proxy_cpu_s" >"$OUT/raw.csv"
for ((round = 1; round <= ROUNDS; round++)); do
    echo "bench: round $round of $ROUNDS" >&2
    for n in "${NAMES[@]}"; do
        run_test "$n" requests_per_s rr "${RR_ARGS[@]}"
        rr=$RESULT
        run_test "$n" mb_per_s bulk "${BULK_ARGS[@]}"
        bulk=$RESULT
        run_test "$n" p50_us lat "${LAT_ARGS[@]}"
        lat=$RESULT
        {
            echo "$round,$n,rr,$rr"
            echo "$round,$n,bulk,$bulk"
            echo "$round,$n,lat,${lat%%,*},"
        } >>"$OUT/raw.csv"
        echo "bench:   $n: rr ${rr%%,*}/s, bulk ${bulk%%,*} MB/s, p50 ${lat%%,*} us" >&2
    done
    PIN=
    for n in "${NAMES[@]}"; do
        [[ "|$UNPINNED|" == *"|$n|"* ]] || continue
        run_test "$n" requests_per_s rr "${RR_ARGS[@]}"
        rr=$RESULT
        run_test "$n" mb_per_s bulk "${BULK_ARGS[@]}"
        bulk=$RESULT
        {
            echo "$round,$n (unpinned),rr,$rr"
            echo "$round,$n (unpinned),bulk,$bulk"
        } >>"$OUT/raw.csv"
        echo "bench:   $n (unpinned): rr ${rr%%,*}/s, bulk ${bulk%%,*} MB/s" >&2
    done
    PIN="taskset -c $PROXY_CPU"
done

# ---- the report --------------------------------------------------------------------------
python3 bench/proxy/report.py "$OUT/raw.csv" "$DURATION" >"$OUT/report.md"

cat <<EOF
Layout: $LAYOUT (proxy on CPU $PROXY_CPU, echo server on CPU $SERVER_CPU, load generator on
CPU $LOAD_CPU); $ROUNDS interleaved rounds of ${DURATION} s per test; medians.
Machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), Linux $(uname -r).
$("$UDS" --version); $(haproxy -v | head -1 | cut -d' ' -f1-3); $(socat -V | sed -n 's/^socat version \([^ ]*\).*/socat \1/p')$( [ -n "$SDPROXYD" ] && echo "; systemd $(systemd-socket-activate --version | head -1 | cut -d' ' -f2)").
Rows marked (TCP) listen on tcp:127.0.0.1 and forward to the echo server's Unix socket; the
others listen on a Unix socket. Ratios are to the direct Unix connection.

EOF
cat "$OUT/report.md"
echo
echo "Raw numbers: $OUT/raw.csv" >&2
