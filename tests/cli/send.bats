#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds send` (one request, one reply) and the --reply handler of `uds serve`: the
# tutorial's exchange, message boundaries on a stream, many clients, timeouts.

load helpers

@test "send: the tutorial, --reply 'Hello from server!' answers 'Hi server!'" {
    start_server --reply "Hello from server!" "$T/s.sock"
    run --separate-stderr timeout 5 "$UDS" send "$T/s.sock" "Hi server!"
    [ "$status" -eq 0 ]
    [ "$output" = "Hello from server!" ]
    [ -z "$stderr" ]
}

@test "send: arguments are joined by spaces with a newline, like echo" {
    start_server "$T/s.sock"
    run bash -c '"$0" send "$1" a "b  c" d | od -An -c | tr -s " "' "$UDS" "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = " a b c d \\n" ]
}

@test "send: -n leaves the newline out" {
    start_server "$T/s.sock"
    run bash -c 'timeout 5 "$0" send -n "$1" abc | wc -c' "$UDS" "$T/s.sock"
    [ "$output" = "3" ]
}

@test "send: no MESSAGE sends stdin" {
    start_server "$T/s.sock"
    run bash -c 'printf "from stdin\n" | timeout 5 "$0" send "$1"' "$UDS" "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = "from stdin" ]
}

@test "send: --reply on a stream answers each line, and data left without a newline" {
    start_server --reply R "$T/s.sock"
    run bash -c 'printf "a\nb\nc" | timeout 5 "$0" send "$1"' "$UDS" "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = $'R\nR\nR' ]
}

@test "send: --reply counts lines, not reads (a line split over many writes is one)" {
    start_server --reply R "$T/s.sock"
    run timeout 10 python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
for piece in (b"hel", b"lo", b" wor", b"ld\nsecond\nthi", b"rd\n"):
    s.sendall(piece)
    time.sleep(0.05)
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(100)
    if not b:
        break
    out += b
print(out.decode(), end="")
' "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = $'R\nR\nR' ]
}

@test "send: a line over --max-message closes that client and logs why; others go on" {
    start_server --reply R --max-message 16 "$T/s.sock"
    run timeout 5 "$UDS" send "$T/s.sock" "$(printf 'x%.0s' {1..100})"
    [ -z "$output" ]
    wait_for_line "$SERVER_LOG" \
        "closed connection from pid [0-9]+ $MY_IDS: a line longer than --max-message 16 bytes"
    run timeout 5 "$UDS" send "$T/s.sock" "short"
    [ "$status" -eq 0 ]
    [ "$output" = "R" ]
}

@test "send: 20 clients at once each get their own echo" {
    start_server "$T/s.sock"
    local pids=() i
    for i in $(seq 1 20); do
        timeout 10 "$UDS" send "$T/s.sock" "client $i" >"$T/out.$i" 2>&1 3>&- &
        pids+=($!)
    done
    for i in $(seq 1 20); do
        wait "${pids[$((i - 1))]}"
        [ "$(cat "$T/out.$i")" = "client $i" ]
    done
}

@test "send: --timeout on a server that never answers exits 75" {
    cat >"$T/silent.py" <<'EOF'
import os, signal, socket, sys, time
path, ready = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGTERM, lambda *a: (os.unlink(path), os._exit(0)))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(8)
open(ready, "w").write("ready\n")
held = []
while True:
    held.append(s.accept())
EOF
    bg_start "$T/py.err" python3 "$T/silent.py" "$T/silent.sock" "$T/ready"
    wait_for_line "$T/ready" ready
    run --separate-stderr timeout 10 "$UDS" send --timeout 0.5 "$T/silent.sock" "anyone?"
    [ "$status" -eq 75 ]
    local want="uds: $T/silent.sock: no complete reply within 0.5s;"
    [ "$stderr" = "$want the server may be slow or stuck; try a longer --timeout" ]
}

@test "send: nothing listening exits 69" {
    run --separate-stderr timeout 5 "$UDS" send "$T/none.sock" hi
    [ "$status" -eq 69 ]
    [ "$stderr" = "uds: $T/none.sock: no such socket; is the server running?" ]
}

@test "send: seqpacket gets one reply message" {
    start_server --type seqpacket --reply "one packet" "$T/s.sock"
    run timeout 5 "$UDS" send --type seqpacket "$T/s.sock" hi
    [ "$status" -eq 0 ]
    [ "$output" = "one packet" ]
}

@test "send: dgram gets the echo of its datagram" {
    start_server --type dgram "$T/d.sock"
    run timeout 5 "$UDS" send --type dgram "$T/d.sock" "datagram"
    [ "$status" -eq 0 ]
    [ "$output" = "datagram" ]
}

@test "send: --wait covers a server that starts late" {
    bg_start "$T/client.err" bash -c '"$0" send --wait 5 --timeout 5 "$1" late >"$2"' \
        "$UDS" "$T/s.sock" "$T/client.out"
    local client=$BG_PID
    start_server --reply "on time" "$T/s.sock"
    wait_status "$client"
    [ "$WAIT_STATUS" -eq 0 ]
    [ "$(cat "$T/client.out")" = "on time" ]
}
