#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds serve --threads N`: many clients at once over the workers, byte-exact; --max-conns
# exact across workers; the default (the CPUs the process may run on); a drain that reaches
# every worker; modes that always run on one thread. Also run under ThreadSanitizer
# (make check SANITIZE=thread).

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
