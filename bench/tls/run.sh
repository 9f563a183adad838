#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/tls/run.sh — the encrypted bridge unix→tls→unix (two `uds proxy` processes: a Unix
# listener whose target is tls:127.0.0.1:P, and a tls:127.0.0.1:P listener whose target
# is the echo server's Unix socket) against the same pair in the clear (unix→tcp→unix),
# the same pair made of socat (OPENSSL / OPENSSL-LISTEN) and of stunnel4, and the direct
# connection, in one run. The echo server and load generator are bench/proxy's loadgen.
# Rounds are interleaved; each figure is the median over rounds, each ratio the median of
# the per-round ratios.
#
#   bench/tls/run.sh                     (ROUNDS=3 DURATION=3 by default)
#
# Both halves of each pair and the echo server on CPU $PROXY_CPU, the load generator on
# $LOAD_CPU. Certificates (EC P-256, both ends verified) are made in a temp dir.
set -u
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
UDS=${UDS:-$PWD/build/uds}

[ -x "$UDS" ] || { echo "bench: $UDS is not built; run make first" >&2; exit 1; }
for c in socat openssl python3; do
    command -v $c >/dev/null || { echo "bench: missing $c" >&2; exit 1; }
done
STUNNEL=$(command -v stunnel4 || command -v stunnel || true)
[ -n "$STUNNEL" ] || echo "bench: stunnel4 not installed (apt-get install stunnel4): skipped" >&2

T=$(mktemp -d "${TMPDIR:-/tmp}/uds-bench-tls.XXXXXX")
OUT=${OUT:-$T/results}
mkdir -p "$OUT"
PIDS=()
PAIR=()
cleanup() {
    local pid
    for pid in "${PAIR[@]}" "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PAIR[@]}" "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    rm -f "$T"/*.sock "$T"/*.sock.lock
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -O2 -o "$T/loadgen" bench/proxy/loadgen.c || exit 1
LOADGEN=$T/loadgen

# ---- certificates --------------------------------------------------------------------------
C=$T/certs
mkdir -p "$C"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$C/ca.key" -out "$C/ca.pem" -days 2 -subj /CN=bench-ca \
    2>/dev/null
for n in server client; do
    openssl req "${ec[@]}" -keyout "$C/$n.key" -out "$C/$n.csr" -subj "/CN=$n" 2>/dev/null
    echo "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$C/$n.ext"
    openssl x509 -req -in "$C/$n.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial \
        -days 2 -extfile "$C/$n.ext" -out "$C/$n.pem" 2>/dev/null
done

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
ready() {   # ready ADDRESS: wait until it accepts connections
    local i
    for i in $(seq 200); do
        python3 - "$1" 2>/dev/null <<'PY' && return 0
import socket, sys
a = sys.argv[1]
if a.startswith("tcp:"):
    h, _, p = a[4:].rpartition(":")
    socket.create_connection((h, int(p)), 1).close()
else:
    s = socket.socket(socket.AF_UNIX)
    s.connect(a)
    s.close()
PY
        sleep 0.05
    done
    echo "bench: $1 never became ready" >&2
    return 1
}

ECHO=$T/echo.sock
taskset -c "$PROXY_CPU" "$LOADGEN" echo "$ECHO" >"$T/echo.log" 2>&1 &
PIDS+=($!)
ready "$ECHO" || exit 1

# ---- the pairs: a name, then the far half (listening on a port) and the near half -----------
SRV=(--cert "$C/server.pem" --key "$C/server.key" --ca "$C/ca.pem")
CLI=(--cert "$C/client.pem" --key "$C/client.key" --ca "$C/ca.pem")
stunnel_conf() {    # stunnel_conf FILE PORT SOCK: the two halves' configurations
    cat >"$1.far" <<CFG
foreground = yes
pid =
[far]
accept = 127.0.0.1:$2
connect = $ECHO
cert = $C/server.pem
key = $C/server.key
CAfile = $C/ca.pem
verifyChain = yes
CFG
    cat >"$1.near" <<CFG
foreground = yes
pid =
[near]
client = yes
accept = $3
connect = 127.0.0.1:$2
cert = $C/client.pem
key = $C/client.key
CAfile = $C/ca.pem
verifyChain = yes
checkHost = localhost
CFG
}
# pair_start NAME: both halves on PROXY_CPU; ADDR is where the load generator connects.
pair_start() {
    local p
    p=$(free_port)
    ADDR=$T/near.sock
    PAIR=()
    case $1 in
    direct) ADDR=$ECHO; return 0 ;;
    "uds tcp")
        far=("$UDS" proxy -q "tcp:127.0.0.1:$p" "$ECHO")
        near=("$UDS" proxy -q "$ADDR" "tcp:127.0.0.1:$p") ;;
    "uds tls")
        far=("$UDS" proxy -q "${SRV[@]}" "tls:127.0.0.1:$p" "$ECHO")
        near=("$UDS" proxy -q "${CLI[@]}" "$ADDR" "tls:127.0.0.1:$p") ;;
    "socat OPENSSL")
        far=(socat "OPENSSL-LISTEN:$p,bind=127.0.0.1,fork,reuseaddr,backlog=4096,cert=$C/server.pem,key=$C/server.key,cafile=$C/ca.pem,verify=1" "UNIX-CONNECT:$ECHO")
        near=(socat "UNIX-LISTEN:$ADDR,fork,backlog=4096" "OPENSSL:127.0.0.1:$p,cert=$C/client.pem,key=$C/client.key,cafile=$C/ca.pem,commonname=localhost") ;;
    stunnel4)
        stunnel_conf "$T/stunnel" "$p" "$ADDR"
        far=("$STUNNEL" "$T/stunnel.far")
        near=("$STUNNEL" "$T/stunnel.near") ;;
    esac
    taskset -c "$PROXY_CPU" "${far[@]}" >>"$OUT/pairs.log" 2>&1 &
    PAIR+=($!)
    ready "tcp:127.0.0.1:$p" || return 1
    taskset -c "$PROXY_CPU" "${near[@]}" >>"$OUT/pairs.log" 2>&1 &
    PAIR+=($!)
    ready "$ADDR"
}
pair_stop() {
    local pid
    for pid in "${PAIR[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PAIR[@]}"; do wait "$pid" 2>/dev/null; done
    PAIR=()
    rm -f "$T/near.sock" "$T/near.sock.lock"
}

NAMES=(direct "uds tcp" "uds tls" "socat OPENSSL")
[ -z "$STUNNEL" ] || NAMES+=(stunnel4)
RR_ARGS=(-c 16 -P 16 -s 64 -d "$DURATION")
BULK_ARGS=(-c 1 -s 65536 -d "$DURATION")
echo "# round,name,test,value" >"$OUT/raw.csv"
for ((round = 1; round <= ROUNDS; round++)); do
    echo "bench: round $round of $ROUNDS" >&2
    for n in "${NAMES[@]}"; do
        for t in rr bulk; do
            key=requests_per_s args=("${RR_ARGS[@]}")
            [ $t = rr ] || key=mb_per_s args=("${BULK_ARGS[@]}")
            v=
            if pair_start "$n"; then
                v=$(taskset -c "$LOAD_CPU" "$LOADGEN" $t "$ADDR" "${args[@]}" \
                    2>>"$OUT/errors.log" | sed -n "s/.*$key=\([0-9.]*\).*/\1/p")
            fi
            pair_stop
            echo "$round,$n,$t,$v" >>"$OUT/raw.csv"
            echo "bench:   $n $t: $v" >&2
        done
    done
done

# ---- the report ------------------------------------------------------------------------------
python3 - "$OUT/raw.csv" <<'PY'
import csv, statistics, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if r and not r[0].startswith("#")]
val = {}
for rnd, name, test, v in rows:
    if v:
        val[(int(rnd), name, test)] = float(v)
names = list(dict.fromkeys(r[1] for r in rows))
rounds = sorted({int(r[0]) for r in rows})
def med(name, test):
    xs = [val[(r, name, test)] for r in rounds if (r, name, test) in val]
    return statistics.median(xs) if xs else None
def ratio(a, b, test):
    xs = [val[(r, a, test)] / val[(r, b, test)] for r in rounds
          if (r, a, test) in val and (r, b, test) in val and val[(r, b, test)]]
    return statistics.median(xs) if xs else None
def f(x, fmt):
    return "failed" if x is None else fmt.format(x)
print("| configuration | 16 conns × pipeline 16 × 64 B, requests/s | vs direct | vs socat "
      "| bulk 64 KiB writes, MB/s | vs direct | vs socat |")
print("|---|---:|---:|---:|---:|---:|---:|")
for n in names:
    print("| %s | %s | %s | %s | %s | %s | %s |" % (
        n, f(med(n, "rr"), "{:,.0f}"), f(ratio(n, "direct", "rr"), "{:.2f}x"),
        f(ratio(n, "socat OPENSSL", "rr"), "{:.2f}x"), f(med(n, "bulk"), "{:,.0f}"),
        f(ratio(n, "direct", "bulk"), "{:.2f}x"),
        f(ratio(n, "socat OPENSSL", "bulk"), "{:.2f}x")))
PY
echo
echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), Linux $(uname -r); $("$UDS" --version); $(openssl version); $(socat -V | sed -n 's/^socat version \([^ ]*\).*/socat \1/p')${STUNNEL:+; $("$STUNNEL" -version 2>&1 | grep -m1 -o 'stunnel [0-9.]*')}."
echo "Raw figures: $OUT/raw.csv"
