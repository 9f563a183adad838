#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds bench ADDRESS --request ...`: a server that is not an echo server. Against
# redis-server on a Unix socket (PING -> +PONG, inline and as a RESP array) with each way of
# telling a reply, side by side with redis-benchmark on the same server (the two agree
# within 15%); wrong replies counted and named; a server that never answers (null
# latencies in --json); replies cut at every byte; packets; and the usage errors.

load helpers

# json_check FILE PYTHON-EXPRESSION: the expression (over `j`, the parsed FILE) is true.
json_check() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
ok = eval("(" + sys.argv[2] + ")")
if not ok:
    print("false:", sys.argv[2], "\n", json.dumps(j, indent=1))
sys.exit(0 if ok else 1)
EOF
}

need_redis() {
    command -v redis-server >/dev/null ||
        skip "redis-server is not installed (Debian package redis-server)"
}

# on_cpu CPU: the command words that run a program on CPU alone, and, as root, under the
# real-time FIFO policy, so that other work on a busy machine neither takes its CPU while
# it runs nor delays its wake-ups (the kernel still leaves others 5% of each second).
on_cpu() {
    ON_CPU=(taskset -c "$1")
    [ "$(id -u)" -ne 0 ] || ON_CPU=(chrt -f 10 "${ON_CPU[@]}")
}

# start_redis [CPU]: redis-server on $T/redis.sock only (no TCP port, nothing saved), waited
# for by its socket; given a CPU, on it as on_cpu says.
start_redis() {
    need_redis
    local pin=()
    [ $# -eq 0 ] || { on_cpu "$1"; pin=("${ON_CPU[@]}"); }
    bg_start "$T/redis.log" "${pin[@]}" redis-server --port 0 --unixsocket "$T/redis.sock" \
        --dir "$T" --save '' --appendonly no --logfile "$T/redis.log"
    wait_path "$T/redis.sock" 10
}

bench() {
    run --separate-stderr timeout 60 "$UDS" bench "$@"
    echo "$output"
    echo "$stderr"
}

# py_server NAME SCRIPT: a Python server at $T/NAME.sock; SCRIPT defines handle(conn). It
# prints "ready" once listening.
py_server() {
    local name=$1
    printf '%s\n' '
import os, signal, socket, sys, threading, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(64)
' "$2" '
print("ready", file=sys.stderr, flush=True)
try:
    while True:
        c, _ = srv.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()
finally:
    os.unlink(path)
' >"$T/$name.py"
    bg_start "$T/$name.log" timeout 60 python3 -u "$T/$name.py" "$T/$name.sock"
    wait_for_line "$T/$name.log" '^ready'
}

# ---- against redis-server ------------------------------------------------------------------

@test "bench --request: redis PING, its reply told by --expect, --reply-until and --reply-size" {
    start_redis
    bench -c 4 -P 8 -n 20000 --request 'PING\r\n' --expect '+PONG\r\n' "$T/redis.sock"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "uds bench: $T/redis.sock: stream, 4 connections x pipeline 8, \"PING\\r\\n\" requests, replies \"+PONG\\r\\n\"" ]
    [[ "${lines[1]}" == "  requests     20,000 in "*" s, every reply checked, 0 errors" ]]
    bench -c 2 -n 5000 --request 'PING\r\n' --reply-until '\n' "$T/redis.sock"
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == *'"PING\r\n" requests, replies up to "\n"' ]]
    bench --json -c 2 -P 3 -n 5000 --request '*1\r\n$4\r\nPING\r\n' --reply-size 7 \
        "$T/redis.sock"
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" >"$T/l.json"
    json_check "$T/l.json" 'j["requests"] == 5000 and j["errors"] == 0 and j["size"] == 14 and
        j["request"] == "*1\r\n$4\r\nPING\r\n" and j["reply"] == {"kind": "size", "size": 7}'
    json_check "$T/l.json" '0 < j["latency_us"]["p50"] <= j["latency_us"]["max"]'
}

@test "bench --request: a wrong reply is an error, counted, and named with what came" {
    start_redis
    # Redis answers an unknown command with -ERR: never the +PONG expected.
    bench -c 2 -n 50 --request 'PINGX\r\n' --expect '+PONG\r\n' "$T/redis.sock"
    [ "$status" -eq 1 ]
    [[ "$output" == *"every reply checked, "[1-9]*" errors"* ]]
    [[ "$stderr" == "uds: $T/redis.sock: "*" errors; the first: reply 1 on connection "[01]" differs from the expected reply at byte 0: got \"-ERR unknown command 'PINGX'"* ]]
    [[ "$stderr" == *"where \"+PONG\\x0d\\x0a\" was expected; check --request and --expect, --reply-until or --reply-size against what the server answers" ]]
    # An echo run against a server that is not an echo server says what to do.
    bench -c 1 -n 10 --timeout 1 "$T/redis.sock"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"--request and --expect"* ]]
}

@test "bench --request: a server that never answers: no latency at all, null in --json" {
    start_redis
    # No end of line: redis waits for the rest of the command.
    bench --json -c 1 -n 5 --timeout 0.5 --request 'PING' --expect '+PONG\r\n' "$T/redis.sock"
    [ "$status" -eq 1 ]
    printf '%s\n' "$output" >"$T/l.json"
    json_check "$T/l.json" 'j["requests"] == 0 and all(v is None for v in j["latency_us"].values())
        and sorted(j["latency_us"]) == ["max", "mean", "min", "p50", "p90", "p99", "p999"]'
    [[ "$stderr" == *"no reply for 500 ms; the server may be stuck (--timeout)"* ]]
    bench -c 1 -n 5 --timeout 0.5 --request 'PING' "$T/redis.sock"
    [ "$status" -eq 1 ]
    [ "${lines[3]}" = "  latency us   none: no reply came" ]
}

# A run's waits for a CPU: the kernel's run delay (/proc/PID/schedstat, the nanoseconds a
# thread was runnable but not running) of the client and of every thread of the server,
# over the run, as a fraction of its wall time. measure.py SERVER-PID OUT CMD... runs CMD,
# writes that fraction to OUT and exits with CMD's status; the client's own delay is read
# once it has exited but before it is reaped.
MEASURE='
import os, subprocess, sys, time
server, out, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
def delay(pid, field=1):
    total = 0
    for t in os.listdir("/proc/%s/task" % pid):
        try:
            total += int(open("/proc/%s/task/%s/schedstat" % (pid, t)).read().split()[field])
        except (OSError, IndexError, ValueError):
            pass
    return total
s0, t0 = delay(server), time.monotonic()
p = subprocess.Popen(cmd)
os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
wall = time.monotonic() - t0
waited = delay(p.pid) + delay(server) - s0
busy = delay(p.pid, 0)
status = p.wait()
with open(out, "w") as f:
    print("%.3f" % (waited / 1e9 / wall), file=f)
with open(out + ".busy", "w") as f:
    print("%.2f" % (busy / 1e9 / wall), file=f)
sys.exit(status)
'

# rate uds|rb C P N: the requests per second of one run, on CPU $CLIENT_CPU (as on_cpu says)
# if set; its waits for a CPU (as measure.py says) go to $T/waited.
rate() {
    local pin=()
    [ -z "${CLIENT_CPU:-}" ] || { on_cpu "$CLIENT_CPU"; pin=("${ON_CPU[@]}"); }
    [ -f "$T/measure.py" ] || printf '%s\n' "$MEASURE" >"$T/measure.py"
    pin=(/usr/bin/python3 "$T/measure.py" "$REDIS_PID" "$T/waited" "${pin[@]}")
    if [ "$1" = uds ]; then
        timeout 60 "${pin[@]}" "$UDS" bench --json -q -c "$2" -P "$3" -n "$4" \
            --request 'PING\r\n' --expect '+PONG\r\n' "$T/redis.sock" |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["requests_per_s"])'
    else
        timeout 60 "${pin[@]}" redis-benchmark -s "$T/redis.sock" -t ping_inline -c "$2" \
            -P "$3" -n "$4" --csv | tail -1 | cut -d, -f2 | tr -d '"'
    fi
}

# paired OURS THEIRS: "OURS THEIRS RATIO": the medians of two lists of rates, and the median
# of the ratios of the runs made one after the other. Other work on the machine slows the
# server for a run or for seconds, in ways no counter shows (caches, memory bandwidth, the
# hypervisor): two runs in a row see the same machine more than any two runs do.
paired() {
    python3 -c '
import statistics, sys
ours = [float(x) for x in sys.argv[1].split()]
theirs = [float(x) for x in sys.argv[2].split()]
r = statistics.median(a / b for a, b in zip(ours, theirs))
print("%.0f %.0f %.3f" % (statistics.median(ours), statistics.median(theirs), r))' "$1" "$2"
}

# within_15 RATIO
within_15() {
    python3 -c 'import sys; r = float(sys.argv[1]); sys.exit(not 0.85 <= r <= 1 / 0.85)' "$1"
}

# quiet WAITED: a run whose client and server waited for a CPU under 5% of its time.
quiet() {
    python3 -c 'import sys; sys.exit(not float(sys.argv[1]) < 0.05)' "$1"
}

@test "bench --request: uds bench and redis-benchmark agree within 15% on redis PING" {
    need_redis
    command -v redis-benchmark >/dev/null ||
        skip "redis-benchmark is not installed (Debian package redis-tools)"
    # The server on one CPU, the clients in turn on another, so that both measure the
    # server rather than their share of a CPU with it; a pipeline, so that neither
    # client's own cost per request is what counts (without one, redis-benchmark's, about
    # twice ours, is: it does not keep the server busy; at -P 16 it keeps its CPU busy, and
    # a busy machine slowing that CPU slows its figure, not ours; at -P 64 neither needs
    # all of its CPU, as the line of their shares shows).
    local cpus c=50 p=64 n=800000 i ours=() theirs=() ours_med theirs_med ratio
    local a b wa wb pinned=0 tries=0 waits=() busy=() start=$SECONDS
    read -ra cpus < <(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))')
    if [ "${#cpus[@]}" -ge 2 ]; then
        start_redis "${cpus[0]}"
        CLIENT_CPU=${cpus[1]}
        pinned=1
    else
        start_redis
    fi
    REDIS_PID=$BG_PID     # chrt and taskset exec the server
    rate uds 1 1 1000 >/dev/null     # the server's first connection costs more
    # Runs in turns; the pairs during which neither client nor server waited for a CPU
    # count: other work on a busy machine (real-time work too) otherwise takes their CPUs,
    # and any one run is noisy (here from 0.3 to 2 million requests/s). On one CPU the two
    # wait for each other: every pair counts. Even without waits, a busy machine slows
    # some runs by a third or more: the two of a pair are compared.
    while [ "${#ours[@]}" -lt 11 ] && [ "$tries" -lt 40 ] && [ $((SECONDS - start)) -lt 40 ]; do
        tries=$((tries + 1))
        a=$(rate uds "$c" "$p" "$n")
        wa=$(cat "$T/waited")
        busy+=("$(cat "$T/waited.busy")")
        b=$(rate rb "$c" "$p" "$n")
        wb=$(cat "$T/waited")
        busy+=("$(cat "$T/waited.busy")")
        waits+=("$wa/$wb")
        if [ "$pinned" -eq 0 ] || { quiet "$wa" && quiet "$wb"; }; then
            ours+=("$a")
            theirs+=("$b")
        fi
    done
    echo "# redis PING on a Unix socket, -c $c -P $p: ${#ours[@]} of $tries pairs of runs" \
        "in turns without waits for a CPU" >&3
    echo "#   (each run's waits as a fraction of its time, ours/theirs: ${waits[*]})" >&3
    echo "#   (each client's share of its CPU, in turns: ${busy[*]})" >&3
    local why="the machine was too busy: ${#ours[@]} of $tries pairs of runs had their CPUs"
    [ "${#ours[@]}" -ge 5 ] || skip "$why to themselves; the comparison needs 5"
    read -r ours_med theirs_med ratio <<<"$(paired "${ours[*]}" "${theirs[*]}")"
    echo "#   uds bench --request 'PING\\r\\n' --expect '+PONG\\r\\n':" \
        "median $ours_med requests/s" >&3
    echo "#     (${ours[*]})" >&3
    echo "#   redis-benchmark -t ping_inline: median $theirs_med requests/s" >&3
    echo "#     (${theirs[*]})" >&3
    echo "#   the median of the ratios of each pair: $ratio" >&3
    within_15 "$ratio"
}

# ---- other servers -------------------------------------------------------------------------

@test "bench --request: replies written a byte at a time, told by a delimiter that overlaps itself" {
    # An HTTP-like answer ending in \r\n\r\n, sent in one-byte writes: the end must be found
    # however the bytes arrive, and the \r\n inside must not end it.
    py_server http '
REPLY = b"HTTP/1.0 200 OK\r\nX: y\r\n\r\n"
def handle(c):
    buf = b""
    while True:
        d = c.recv(65536)
        if not d:
            return
        buf += d
        while b"\n" in buf:
            _, buf = buf.split(b"\n", 1)
            for i in range(len(REPLY)):
                c.send(REPLY[i:i + 1])
'
    bench --json -c 2 -P 2 -n 200 --request 'GET\n' --reply-until '\r\n\r\n' "$T/http.sock"
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" >"$T/l.json"
    json_check "$T/l.json" 'j["requests"] == 200 and j["errors"] == 0'
    # The same replies told by their exact bytes and by their length.
    bench -c 2 -n 100 --request 'GET\n' --expect 'HTTP/1.0 200 OK\r\nX: y\r\n\r\n' "$T/http.sock"
    [ "$status" -eq 0 ]
    bench -c 2 -n 100 --request 'GET\n' --reply-size 25 "$T/http.sock"
    [ "$status" -eq 0 ]
}

@test "bench --request: bytes that come while no request is out are an error" {
    py_server chatty '
def handle(c):
    while True:
        d = c.recv(65536)
        if not d:
            return
        c.sendall(b"ok\n" * 2 * d.count(b"\n"))
'
    bench -c 1 -n 20 --request 'hi\n' --expect 'ok\n' "$T/chatty.sock"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"connection 0 got 3 bytes while no request was out: \"ok\\x0a\""* ]]
}

@test "bench --request: an echo server by default, and packets on seqpacket and dgram" {
    start_server "$T/s.sock"
    bench --json -c 2 -P 4 -n 2000 --request 'line one\n\x00\xff' "$T/s.sock"
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" >"$T/l.json"
    json_check "$T/l.json" 'j["size"] == 11 and j["errors"] == 0 and
        j["reply"] == {"kind": "exact", "bytes": "line one\n\u0000\udcff"}'
    SERVER_LOG_FILE=$T/sp.log start_server --type seqpacket "$T/sp.sock"
    bench -c 2 -n 500 --type seqpacket --request 'ping' --expect 'ping' "$T/sp.sock"
    [ "$status" -eq 0 ]
    bench -c 2 -n 50 --type seqpacket --request 'ping' --expect 'pong' "$T/sp.sock"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"reply 1 on connection "[01]" is \"ping\" where \"pong\" was expected"* ]]
    SERVER_LOG_FILE=$T/dg.log start_server --type dgram "$T/dg.sock"
    bench -c 2 -n 500 --type dgram --request 'abc' --reply-size 3 "$T/dg.sock"
    [ "$status" -eq 0 ]
    bench -c 1 -n 50 --type dgram --request 'abc' --reply-until 'x' "$T/dg.sock"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"does not end with \"x\" (3 bytes)"* ]]
}

@test "bench --request: usage errors name the option" {
    run "$UDS" bench --expect '+PONG\r\n' "$T/s.sock"
    [ "$status" -eq 64 ]
    [[ "$output" == *"--expect needs --request, the bytes to send"* ]]
    run "$UDS" bench --request 'PING\r\n' --expect '+PONG\r\n' --reply-size 7 "$T/s.sock"
    [ "$status" -eq 64 ]
    [[ "$output" == *"--expect, --reply-until and --reply-size: give one of them"* ]]
    run "$UDS" bench --request 'PING\q' "$T/s.sock"
    [ "$status" -eq 64 ]
    [[ "$output" == *"--request: 'PING\\q' is not bytes: '\\q' is no escape; use \\r, \\n"* ]]
    run "$UDS" bench --request 'x' -s 10 "$T/s.sock"
    [ "$status" -eq 64 ]
    [[ "$output" == *"-s and --request: a request is as long as its bytes"* ]]
    run "$UDS" bench --request '' "$T/s.sock"
    [ "$status" -eq 64 ]
    run "$UDS" bench --request 'x' --framed "$T/s.sock"
    [ "$status" -eq 64 ]
    run "$UDS" bench --request 'x' --reply-until "$(printf 'a%.0s' {1..65})" "$T/s.sock"
    [ "$status" -eq 64 ]
    [[ "$output" == *"--reply-until: 65 bytes; give at most 64"* ]]
    run "$UDS" bench --request 'x'
    [ "$status" -eq 64 ]
}
