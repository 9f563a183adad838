#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds serve --threads N` and `uds proxy --threads N`: many clients at once over the
# workers, byte-exact; --max-conns exact across workers; the default (the CPUs the process
# may run on); a drain that reaches every worker; --exit-idle-time; modes that always run on
# one thread. Also run under ThreadSanitizer (make check SANITIZE=thread).

load helpers

PEER=$BATS_TEST_DIRNAME/threads_peer.py

# workers PID: the worker threads of process PID (named udsw/I).
workers() {
    cat /proc/"$1"/task/*/comm | grep -c '^udsw/' || true
}

@test "threads: serve --threads 2 echoes 64 concurrent clients byte-exact, on 2 workers" {
    start_server --threads 2 "$T/s.sock"
    [ "$(workers "$SERVER_PID")" -eq 2 ]
    run timeout 30 /usr/bin/python3 "$PEER" echo "$T/s.sock" 64 100000
    [ "$output" = "ok 64" ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
}

@test "threads: serve --threads 2 --reply answers concurrent clients" {
    local pids=()
    start_server --threads 2 --reply pong "$T/s.sock"
    for i in 1 2 3 4 5 6 7 8; do
        timeout 5 "$UDS" send "$T/s.sock" "ping $i" >"$T/out.$i" &
        pids+=($!)
    done
    wait "${pids[@]}"
    for i in 1 2 3 4 5 6 7 8; do [ "$(cat "$T/out.$i")" = "pong" ]; done
}

@test "threads: --max-conns 3 holds across 2 workers; the next 3 are served as slots free" {
    start_server --threads 2 --max-conns 3 --max-conns-per-uid 3 "$T/s.sock"
    run timeout 20 /usr/bin/python3 "$PEER" hold "$T/s.sock" 7 1
    [ "${lines[0]}" = "answered 3" ]
    [ "${lines[1]}" = "then 3" ]
}

@test "threads: the default is the CPUs the process may run on" {
    start_server "$T/s.sock"
    [ "$(workers "$SERVER_PID")" -eq $(($(nproc) > 1 ? $(nproc) : 0)) ]
    local pid
    bg_start "$T/pinned.log" taskset -c 0 "$UDS" serve "$T/p.sock"
    pid=$BG_PID
    wait_for_line "$T/pinned.log" 'listening on'
    [ "$(workers "$pid")" -eq 0 ]
}

@test "threads: SIGTERM drains the connections open on every worker, then exits 0" {
    start_server --threads 2 "$T/s.sock"
    run timeout 20 /usr/bin/python3 "$PEER" drain "$T/s.sock" 6 "$SERVER_PID"
    [ "$output" = "drained 6" ]
    wait_status "$SERVER_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    grep -q "s.sock: stopped" "$SERVER_LOG"
}

@test "threads: a second SIGTERM closes the connections of every worker at once, exit 1" {
    start_server --threads 2 "$T/s.sock"
    run timeout 20 /usr/bin/python3 "$PEER" cut "$T/s.sock" 6 "$SERVER_PID"
    [ "$output" = "cut 6" ]
    wait_status "$SERVER_PID"
    [ "$WAIT_STATUS" -eq 1 ]
}

@test "threads: -- PROGRAM and dgram run on one thread whatever --threads says" {
    start_server --threads 4 "$T/s.sock" -- cat
    [ "$(workers "$SERVER_PID")" -eq 0 ]
    run timeout 5 "$UDS" send "$T/s.sock" "via cat"
    [ "$output" = "via cat" ]
    SERVER_LOG_FILE=$T/d.log start_server --threads 4 --type dgram "$T/d.sock"
    [ "$(workers "$SERVER_PID")" -eq 0 ]
}

@test "threads: --threads 0 is a usage error" {
    run --separate-stderr timeout 5 "$UDS" serve --threads 0 "$T/s.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"--threads"* ]]
    [ ! -e "$T/s.sock" ]
}

# ---- uds proxy --threads -------------------------------------------------------------------

# start_proxy [PROXY ARGS...] LISTEN TARGET: in the background, waited for; sets PROXY_PID.
start_proxy() {
    bg_start "$T/proxy.log" "$UDS" proxy "$@"
    PROXY_PID=$BG_PID
    wait_for_line "$T/proxy.log" 'listening on'
}

# proxy_workers PID: the proxy's worker threads (named udsp/I).
proxy_workers() {
    cat /proc/"$1"/task/*/comm | grep -c '^udsp/' || true
}

@test "threads: proxy --threads 2 relays 64 concurrent clients byte-exact, on 2 workers" {
    start_server --threads 1 "$T/t.sock"
    start_proxy --threads 2 "$T/p.sock" "$T/t.sock"
    [ "$(proxy_workers "$PROXY_PID")" -eq 2 ]
    run timeout 30 /usr/bin/python3 "$PEER" echo "$T/p.sock" 64 100000
    [ "$output" = "ok 64" ]
    run timeout 30 /usr/bin/python3 "$PEER" echo "$T/p.sock" 8 3000000
    [ "$output" = "ok 8" ]
}

@test "threads: proxy --threads 2 --max-conns 3 holds across workers" {
    start_server --threads 1 "$T/t.sock"
    start_proxy --threads 2 --max-conns 3 --max-conns-per-uid 3 "$T/p.sock" "$T/t.sock"
    run timeout 20 /usr/bin/python3 "$PEER" hold "$T/p.sock" 7 1
    [ "${lines[0]}" = "answered 3" ]
    [ "${lines[1]}" = "then 3" ]
}

@test "threads: proxy --threads 2 drains the relays of every worker on SIGTERM, exits 0" {
    start_server --threads 1 "$T/t.sock"
    start_proxy --threads 2 "$T/p.sock" "$T/t.sock"
    run timeout 20 /usr/bin/python3 "$PEER" drain "$T/p.sock" 6 "$PROXY_PID"
    [ "$output" = "drained 6" ]
    wait_status "$PROXY_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    grep -q "p.sock: stopped" "$T/proxy.log"
}

@test "threads: proxy --threads 2: a second SIGTERM cuts the relays of every worker, exit 1" {
    start_server --threads 1 "$T/t.sock"
    start_proxy --threads 2 "$T/p.sock" "$T/t.sock"
    run timeout 20 /usr/bin/python3 "$PEER" cut "$T/p.sock" 6 "$PROXY_PID"
    [ "$output" = "cut 6" ]
    wait_status "$PROXY_PID"
    [ "$WAIT_STATUS" -eq 1 ]
}

@test "threads: proxy --threads 2 --exit-idle-time exits once its last client has gone" {
    start_server --threads 1 "$T/t.sock"
    start_proxy --threads 2 --exit-idle-time 1 "$T/p.sock" "$T/t.sock"
    run timeout 5 "$UDS" send "$T/p.sock" "through a worker"
    [ "$output" = "through a worker" ]
    wait_status "$PROXY_PID" 5
    [ "$WAIT_STATUS" -eq 0 ]
    grep -q "exit-idle-time" "$T/proxy.log"
}

@test "threads: proxy --busy-poll runs on one thread whatever --threads says" {
    start_server --threads 1 "$T/t.sock"
    start_proxy --threads 4 --busy-poll 10 "$T/p.sock" "$T/t.sock"
    [ "$(proxy_workers "$PROXY_PID")" -eq 0 ]
    run timeout 5 "$UDS" send "$T/p.sock" "one thread"
    [ "$output" = "one thread" ]
}

# ---- uds bench: how the server's threads shared the work ------------------------------------

@test "threads: uds bench sees serve --threads 2's two workers share the work" {
    start_server --threads 2 "$T/s.sock"
    run --separate-stderr timeout 20 "$UDS" bench -c 8 -P 4 -d 0.5 "$T/s.sock"
    [ "$status" -eq 0 ]
    [[ "$output" =~ server\ +pid\ $SERVER_PID\ \(uds\)\ used\ [0-9]+%\ of\ a\ CPU,\ 2\ threads\ doing\ the\ work ]]
    run --separate-stderr timeout 20 "$UDS" bench --json -c 8 -P 4 -d 0.5 "$T/s.sock"
    [ "$status" -eq 0 ]
    echo "$output" | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)["server"]
assert r["pid"] == int(sys.argv[1]), r
# (ThreadSanitizer adds a thread of its own: only the workers are counted.)
names = sorted(t["name"] for t in r["threads"] if t["name"].startswith("udsw/"))
assert names == ["udsw/0", "udsw/1"], names
assert r["busy_threads"] >= 2 and r["busiest_over_least"] >= 1, r
' "$SERVER_PID"
}
