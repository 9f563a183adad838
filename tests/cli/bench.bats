#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds bench`: the transports table, the load generator against real servers (uds serve,
# socat, small Python servers that misbehave on purpose), its checks and errors, and a
# smoke run of the benchmark suite in bench/. Every run is short: these check that the
# figures are there and sane, never how fast anything is.

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

# py_server NAME SCRIPT: run a Python server (SCRIPT reads the socket path from argv[1] and
# prints "ready" once listening) at $T/NAME.sock.
py_server() {
    local name=$1
    printf '%s\n' "$2" >"$T/$name.py"
    bg_start "$T/$name.log" timeout 60 python3 -u "$T/$name.py" "$T/$name.sock"
    wait_for_line "$T/$name.log" '^ready'
}

# The preamble of the Python servers: one thread per client, closed at the end.
PY_HEAD='
import os, signal, socket, sys, threading, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(64)
print("ready", file=sys.stderr, flush=True)
def serve(conn, handle):
    with conn:
        handle(conn)
def run(handle):
    try:
        while True:
            c, _ = srv.accept()
            threading.Thread(target=serve, args=(c, handle), daemon=True).start()
    finally:
        os.unlink(path)
'

# ---- transports ----------------------------------------------------------------------------

@test "bench: without ADDRESS prints each transport's round trip, bulk and connect rate" {
    run --separate-stderr timeout 60 "$UDS" bench -d 0.01 --sizes 1,64 --write-sizes 4K,1M
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == "uds bench: this machine's transports ("*" CPU"*", Linux "*")" ]]
    [[ "${lines[1]}" == "placement: "* ]]
    local t
    for t in "unix stream" "unix seqpacket" "unix dgram" "tcp loopback" "pipe"; do
        [ "$(grep -c "^$t " <<<"$output")" -ge 3 ]   # latency, rate, bulk (and connect)
    done
    [ "$(grep -c '^unix dgram ' <<<"$output")" -eq 3 ]   # no connect rate for dgram
    [[ "$output" == *"Round trip, p50 / p99 latency in us"* ]]
    [[ "$output" == *"Bulk throughput, MB/s"* ]]
    [[ "$output" == *"Connect + accept + close, per second"* ]]
    # A 1 MiB datagram is over the send buffer: said so, not a failure.
    grep -E '^unix dgram +[0-9,]+ +too big$' <<<"$output"
    [[ "$output" == *"unix stream vs tcp loopback: 64 B round trip "*"x as fast"* ]]
}

@test "bench: --json without ADDRESS gives every figure, positive, and the placement" {
    run --separate-stderr timeout 60 "$UDS" bench --json -d 0.01 --sizes 64 --write-sizes 16K \
        --transports stream,tcp,pipe --cpu 0,0
    echo "$output $stderr"
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" >"$T/t.json"
    json_check "$T/t.json" 'j["placement"] == {"pinned": True, "server_cpu": 0, "client_cpu": 0,
        "note": j["placement"]["note"]} and "one core" in j["placement"]["note"]'
    json_check "$T/t.json" '[c["transport"] for c in j["round_trip"]] ==
        ["unix stream", "tcp loopback", "pipe"]'
    json_check "$T/t.json" 'all(0 < c["p50_us"] <= c["p99_us"] and c["round_trips_per_s"] > 0
        for c in j["round_trip"])'
    json_check "$T/t.json" 'all(c["mb_per_s"] > 0 and c["write_size"] == 16384 for c in j["bulk"])'
    json_check "$T/t.json" '[c["transport"] for c in j["connect"]] == ["unix stream",
        "tcp loopback"] and all(c["per_s"] > 0 for c in j["connect"])'
    json_check "$T/t.json" 'j["machine"]["cpus"] >= 1 and j["duration_ms"] == 10'
}

# ---- the load generator ----------------------------------------------------------------------

@test "bench ADDRESS: against uds serve, --json reports rates, no errors, ordered percentiles" {
    start_server "$T/s.sock"
    run --separate-stderr timeout 30 "$UDS" bench --json -c 8 -P 4 -s 100 -n 5000 "$T/s.sock"
    echo "$output $stderr"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    printf '%s\n' "$output" >"$T/l.json"
    json_check "$T/l.json" 'j["requests"] == 5000 and j["errors"] == 0 and
        j["connections"] == 8 and j["pipeline"] == 4 and j["size"] == 100'
    json_check "$T/l.json" 'j["requests_per_s"] > 0 and
        abs(j["mb_per_s"] - j["requests_per_s"] * 100 / 1e6) < 0.01'
    json_check "$T/l.json" '0 < j["latency_us"]["min"] <= j["latency_us"]["p50"] <=
        j["latency_us"]["p90"] <= j["latency_us"]["p99"] <= j["latency_us"]["p999"] <=
        j["latency_us"]["max"]'
}

@test "bench ADDRESS: the text report names the run and its figures" {
    start_server "$T/s.sock"
    run --separate-stderr timeout 30 "$UDS" bench -c 2 -P 2 -d 0.2 "$T/s.sock"
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "uds bench: $T/s.sock: stream, 2 connections x pipeline 2, 64 B requests" ]
    [[ "${lines[1]}" =~ ^\ \ requests\ +[0-9,]+\ in\ 0\.[0-9]+\ s,\ every\ reply\ checked,\ 0\ errors$ ]]
    [[ "${lines[2]}" =~ ^\ \ throughput\ +[0-9,]+\ requests/s,\ [0-9.]+\ MB/s\ each\ way$ ]]
    [[ "${lines[3]}" == "  latency us   p50 "*" p90 "*" p99 "*" p99.9 "*" max "*"(mean "*")" ]]
    [[ "${lines[4]}" == "  load         this generator used "*"% of a CPU"* ]]
}

@test "bench ADDRESS: names the server and how its threads shared the CPU (--json too)" {
    start_server --threads 1 "$T/s.sock"
    run --separate-stderr timeout 30 "$UDS" bench -c 2 -P 4 -d 0.5 "$T/s.sock"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "${lines[5]}" =~ ^\ \ server\ +pid\ $SERVER_PID\ \(uds\)\ used\ [0-9]+%\ of\ a\ CPU$ ]]
    # A Python server with a thread per client: four clients, four threads at work.
    py_server threads "$PY_HEAD"'
def echo(conn):
    while True:
        b = conn.recv(65536)
        if not b:
            break
        conn.sendall(b)
run(echo)'
    local py
    py=$(pgrep -P "$BG_PID")    # the server itself, under its timeout
    run --separate-stderr timeout 30 "$UDS" bench --json -c 4 -P 4 -d 1 "$T/threads.sock"
    echo "$output"
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" >"$T/t.json"
    json_check "$T/t.json" 'j["server"]["pid"] == '"$py"' and
        j["server"]["name"] == "python3" and len(j["server"]["threads"]) >= 5 and
        j["server"]["busy_threads"] >= 2 and j["server"]["busiest_over_least"] >= 1 and
        all(t["cpu_percent"] >= 0 for t in j["server"]["threads"])'
    run --separate-stderr timeout 30 "$UDS" bench -c 4 -P 4 -d 0.5 "$T/threads.sock"
    [[ "${lines[5]}" =~ \ threads\ doing\ the\ work:(\ [0-9]+%)+\ \(busiest/least\ busy\ [0-9.]+\)$ ]]
}

@test "bench ADDRESS: latency matches a server that waits 20 ms before each reply" {
    py_server slow "$PY_HEAD
def handle(c):
    while True:
        d = c.recv(65536)
        if not d:
            return
        time.sleep(0.02)
        c.sendall(d)
run(handle)"
    run --separate-stderr timeout 30 "$UDS" bench --json -c 1 -n 10 "$T/slow.sock"
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" >"$T/l.json"
    # The histogram keeps 1/128 precision; sleeping is never shorter than asked.
    json_check "$T/l.json" '20000 <= j["latency_us"]["min"] and j["latency_us"]["p50"] < 30000
        and j["latency_us"]["max"] < 200000 and j["requests"] == 10'
    json_check "$T/l.json" '4 < j["requests_per_s"] < 50'
}

@test "bench ADDRESS: --framed requests come back whole from an echo (one frame each)" {
    start_server "$T/s.sock"
    run --separate-stderr timeout 30 "$UDS" bench --json --framed -c 2 -P 8 -s 1K -n 2000 "$T/s.sock"
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" >"$T/l.json"
    json_check "$T/l.json" 'j["framed"] is True and j["requests"] == 2000 and j["errors"] == 0'
}

@test "bench ADDRESS: --framed against uds serve --framed (message mode)" {
    start_server --framed "$T/s.sock"
    run --separate-stderr timeout 30 "$UDS" bench --json --framed -c 4 -P 4 -s 300 -n 2000 "$T/s.sock"
    echo "$stderr"
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" >"$T/l.json"
    json_check "$T/l.json" 'j["requests"] == 2000 and j["errors"] == 0'
}

@test "bench ADDRESS: seqpacket and dgram requests are packets, echoed one for one" {
    local type
    for type in seqpacket dgram; do
        SERVER_LOG_FILE=$T/$type.log start_server --type "$type" "$T/$type.sock"
        run --separate-stderr timeout 30 "$UDS" bench --json --type "$type" -c 3 -P 5 -s 200 \
            -n 3000 "$T/$type.sock"
        echo "$type: $stderr"
        [ "$status" -eq 0 ]
        printf '%s\n' "$output" >"$T/l.json"
        json_check "$T/l.json" "j['type'] == '$type' and j['requests'] == 3000 and j['errors'] == 0"
    done
}

@test "bench ADDRESS: --reconnect -s 0 measures connections per second" {
    start_server "$T/s.sock"
    run --separate-stderr timeout 30 "$UDS" bench --json --reconnect -s 0 -d 0.3 "$T/s.sock"
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" >"$T/l.json"
    json_check "$T/l.json" 'j["reconnect"] and j["connections_per_s"] > 100 and j["errors"] == 0'
    run --separate-stderr timeout 30 "$UDS" bench --reconnect -s 0 -d 0.2 "$T/s.sock"
    [[ "${lines[0]}" == *": stream, connect and close, one at a time" ]]
    [[ "${lines[2]}" == "  throughput   "*" connections/s (steady state: the second half of the run)" ]]
}

@test "bench ADDRESS: --reconnect against a program per connection (socat EXEC:cat)" {
    bg_start "$T/socat.log" socat "UNIX-LISTEN:$T/p.sock,fork" EXEC:cat
    wait_path "$T/p.sock"
    run --separate-stderr timeout 30 "$UDS" bench --json --reconnect -c 2 -s 64 -n 40 "$T/p.sock"
    echo "$stderr"
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" >"$T/l.json"
    json_check "$T/l.json" 'j["requests"] == 40 and j["errors"] == 0 and
        j["latency_us"]["p50"] > 0'
    kill -TERM "$BG_PID"
    wait_exit "$BG_PID"
    rm -f "$T/p.sock"
}

# ---- checks and errors -------------------------------------------------------------------

@test "bench ADDRESS: a server that changes a byte is caught: exit 1, the reply named" {
    py_server flip "$PY_HEAD
def handle(c):
    while True:
        d = c.recv(65536)
        if not d:
            return
        c.sendall(bytes([d[0] ^ 1]) + d[1:])
run(handle)"
    run --separate-stderr timeout 30 "$UDS" bench --json -c 1 -n 100 --timeout 2 "$T/flip.sock"
    echo "$stderr"
    [ "$status" -eq 1 ]
    printf '%s\n' "$output" >"$T/l.json"
    json_check "$T/l.json" 'j["errors"] >= 1 and "differs from the request at byte 0" in
        j["first_error"]'
    local first="reply 1 on connection 0 differs from the request at byte 0 (sent 0x"
    [[ "$stderr" == "uds: $T/flip.sock: "*" errors; the first: $first"*", got 0x"*"); "* ]]
    [[ "$stderr" == *"; is it an echo server? (--framed for one in message mode; --request and --expect for one that is not)" ]]
}

@test "bench ADDRESS: a server that closes mid-run is an error; the run goes on and ends" {
    py_server once "$PY_HEAD
def handle(c):
    c.sendall(c.recv(64))
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass
run(handle)"
    run --separate-stderr timeout 30 "$UDS" bench --json -c 2 -s 64 -n 20 --timeout 2 "$T/once.sock"
    echo "$stderr"
    [ "$status" -eq 1 ]
    printf '%s\n' "$output" >"$T/l.json"
    # One reply per connection, then the end of it: every connection is an error and is
    # replaced, until the 20 replies are in.
    json_check "$T/l.json" 'j["requests"] == 20 and j["errors"] >= 1 and
        "closed connection" in j["first_error"]'
    [[ "$stderr" == *"; the first: the server closed connection "*" with 1 of its requests unanswered; check the server's log" ]]
}

@test "bench ADDRESS: a server that never answers times out: exit 1, the wait named" {
    py_server mute "$PY_HEAD
def handle(c):
    time.sleep(30)
run(handle)"
    run --separate-stderr timeout 30 "$UDS" bench -c 1 -n 10 --timeout 0.5 "$T/mute.sock"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"no reply for 500 ms; the server may be stuck (--timeout)"* ]]
}

@test "bench ADDRESS: no server exits 69; a stale socket exits 69" {
    run --separate-stderr timeout 10 "$UDS" bench "$T/none.sock"
    [ "$status" -eq 69 ]
    [ "$stderr" = "uds: $T/none.sock: no such socket; is the server running?" ]
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$T/stale.sock"
    run --separate-stderr timeout 10 "$UDS" bench "$T/stale.sock"
    [ "$status" -eq 69 ]
    [[ "$stderr" == "uds: $T/stale.sock: nothing is listening"* ]]
    rm -f "$T/stale.sock"
}

@test "bench: usage errors exit 64 with one message and a Try line" {
    local cases=(
        "bench -c 0 $T/s.sock"
        "bench -P x $T/s.sock"
        "bench -s 0 $T/s.sock"
        "bench -s 2G $T/s.sock"
        "bench -n 5 -d 1 $T/s.sock"
        "bench -d never $T/s.sock"
        "bench --type raw $T/s.sock"
        "bench --reconnect -P 4 $T/s.sock"
        "bench --sizes 64 $T/s.sock"
        "bench --cpu 0,1 $T/s.sock"
        "bench -c 4"
        "bench --framed"
        "bench --sizes 0"
        "bench --write-sizes 1,x"
        "bench --transports stream,carrier-pigeon"
        "bench --cpu one,two"
        "bench --type seqpacket -s 0 --reconnect $T/s.sock"
        "bench $T/a.sock $T/b.sock"
        "bench --bogus"
    )
    local c
    for c in "${cases[@]}"; do
        # shellcheck disable=SC2086 # word splitting is the point
        run --separate-stderr timeout 5 "$UDS" $c
        echo "case: uds $c -> $status: $stderr"
        [ "$status" -eq 64 ]
        [ -z "$output" ]
        [ "${#stderr_lines[@]}" -eq 2 ]
        [[ "${stderr_lines[0]}" == "uds bench: "* ]]
        [ "${stderr_lines[1]}" = "Try 'uds bench --help'." ]
    done
}

@test "bench: --help lists both modes and the options, exit 0" {
    run --separate-stderr timeout 5 "$UDS" bench --help
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == "Usage: uds bench [OPTIONS] [ADDRESS]" ]]
    local opt
    for opt in --connections --pipeline --size --requests --duration --framed --type \
        --reconnect --timeout --cpu --sizes --write-sizes --transports --json --quiet; do
        [[ "$output" == *"$opt"* ]]
    done
}

# ---- the suite ---------------------------------------------------------------------------

@test "bench suite: bench/run.sh --smoke runs every part and writes the report" {
    local root=$BATS_TEST_DIRNAME/../..
    run timeout 120 env BUILD="${UDS_BUILD:-$root/build}" "$root/bench/run.sh" --smoke \
        --out "$T/report.md"
    echo "$output" | tail -40
    [ "$status" -eq 0 ]
    local section
    for section in "### Targets" "### Transports" "### Echo servers" "### Accept rate" \
        "### Idle connections" "### Per-connection programs"; do
        grep -qF "$section" "$T/report.md"
    done
    grep -q '^| 16x16 | floor | [0-9,]* | 1.00x |' "$T/report.md"
    grep -q '^| 16x16 | udskit | [0-9,]* | [0-9.]*x |' "$T/report.md"
    [ -s "$T/report.json" ]
    ! grep -q '^Errors:' "$T/report.md"
    # The peers are test dependencies (scripts/test-deps.sh): none may be skipped.
    if [ -f /usr/include/uv.h ]; then grep -q '| libuv |' "$T/report.md"; fi
    if command -v s6-ipcserver >/dev/null; then grep -q '| s6-ipcserver |' "$T/report.md"; fi
    if command -v unixserver >/dev/null; then grep -q '| unixserver |' "$T/report.md"; fi
}
