#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds listen`, the nc -lU of udskit: one client joined to stdin and stdout both ways, the
# next one with -k or -n, datagrams printed (--json with the sender), on the same safe
# listener as `uds serve` (stale file replaced, mode 0600, a live server's socket refused),
# and a clean stop. The clients here are uds connect and Python; nc_peers.bats has nc and
# socat.

load helpers
load listen_helpers

@test "listen: one client: what it sends goes to stdout, stdin goes to it, then both end (exit 0)" {
    printf 'to the client\n' >"$T/in"
    start_listen "$T/l.log" "$T/l.sock"
    [ "$(stat -c %a "$T/l.sock")" = 600 ]
    run timeout 5 "$UDS" connect "$T/l.sock" <<<"to the listener"
    [ "$status" -eq 0 ]
    [ "$output" = "to the client" ]
    wait_status "$LISTEN_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    [ "$(cat "$T/out")" = "to the listener" ]
    # The socket file and its lock are gone with it.
    [ ! -e "$T/l.sock" ]
    [ ! -e "$T/l.sock.lock" ]
}

@test "listen: half-close: the client's end of input does not end what stdin still sends" {
    start_listen_fifo "$T/l.log" "$T/l.sock"
    # The client sends, shuts down its sending side at once, and waits for the answer.
    py_echo "$T/l.sock" question >"$T/client.out" {LISTEN_IN}>&- &
    local client=$!
    wait_until 5 test -s "$T/out"
    [ "$(cat "$T/out")" = question ]
    printf 'answer after the client half-closed\n' >&"$LISTEN_IN"
    exec {LISTEN_IN}>&-
    wait "$client"
    [ "$(cat "$T/client.out")" = "answer after the client half-closed" ]
    wait_exit "$LISTEN_PID"
}

@test "listen: -k accepts the next client when one is done; others wait in the backlog meanwhile" {
    start_listen "$T/l.log" -k -v "$T/l.sock"
    [ "$(py_echo "$T/l.sock" one)" = "" ]
    [ "$(py_echo "$T/l.sock" two)" = "" ]
    [ "$(py_echo "$T/l.sock" three)" = "" ]
    wait_until 5 grep -q three "$T/out"
    [ "$(cat "$T/out")" = onetwothree ]
    [ "$(grep -c 'closed connection from' "$T/l.log")" -eq 3 ]
    kill -TERM "$LISTEN_PID"
    wait_status "$LISTEN_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -e "$T/l.sock" ]
}

@test "listen: -n COUNT serves COUNT clients, one after another, then exits 0" {
    start_listen "$T/l.log" -n 2 "$T/l.sock"
    py_echo "$T/l.sock" first >/dev/null
    py_echo "$T/l.sock" second >/dev/null
    wait_status "$LISTEN_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    [ "$(cat "$T/out")" = firstsecond ]
}

@test "listen: a second client waits in the backlog until the first is done" {
    start_listen_fifo "$T/l.log" -n 2 "$T/l.sock"
    open_client c1 "$T/l.sock"
    say_client c1 "first"
    wait_until 5 grep -q first "$T/out"
    py_echo "$T/l.sock" second >"$T/second.out" {LISTEN_IN}>&- &
    local second=$!
    sleep 0.3
    # The second one's bytes wait in its socket: nothing of it on stdout yet.
    [ "$(cat "$T/out")" = first ]
    close_client c1
    exec {LISTEN_IN}>&-
    wait "$second"
    wait_until 5 grep -q second "$T/out"
    [ "$(cat "$T/out")" = "$(printf 'first\nsecond')" ]
}

@test "listen: dgram prints each datagram on a line of its own; --json gives sender and credentials" {
    start_listen "$T/l.log" --type dgram -n 2 "$T/d.sock"
    python3 - "$T/d.sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1", sys.argv[1])
s.sendto(b"STATUS=up\n", sys.argv[1])
EOF
    wait_status "$LISTEN_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    [ "$(cat "$T/out")" = "$(printf 'READY=1\nSTATUS=up')" ]
    rm "$T/out"
    start_listen "$T/l2.log" --type dgram --json -n 3 "$T/d.sock"
    python3 - "$T/d.sock" "$T/sender.sock" >"$T/pid" <<'EOF'
import os, socket, sys
print(os.getpid())
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"unbound", sys.argv[1])
b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
b.bind(sys.argv[2])
b.sendto(b"\x1b]0;title\x07 \xff\x00end", sys.argv[1])
a = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
a.bind(b"\0uds-test-abstract\n")
a.sendto(b"", sys.argv[1])
os.unlink(sys.argv[2])
EOF
    wait_status "$LISTEN_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    local pid
    pid=$(cat "$T/pid")
    run python3 - "$T/out" "$T/sender.sock" "$pid" "$MY_UID" "$MY_GID" <<'EOF'
import json, sys
out, sender, pid, uid, gid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rows = [json.loads(line) for line in open(out)]
assert len(rows) == 3, rows
for r in rows:
    assert (r["pid"], r["uid"], r["gid"]) == (pid, uid, gid), r
assert rows[0]["from"] is None and rows[0]["data"] == "unbound" and rows[0]["bytes"] == 7
assert rows[1]["from"] == sender, rows[1]
# Control bytes and a byte that is not UTF-8 come escaped, and back whole.
assert rows[1]["data"].encode("utf-8", "surrogateescape") == b"\x1b]0;title\x07 \xff\x00end"
assert rows[2]["from"] == "@uds-test-abstract\n" and rows[2]["data"] == "" and rows[2]["bytes"] == 0
assert not any(r["truncated"] for r in rows)
print("ok")
EOF
    [ "$output" = ok ]
    # Nothing raw reached the terminal-bound output: the escape bytes are spelled out.
    ! grep -q $'\x1b' "$T/out"
}

@test "listen: dgram runs until a signal, removes its file, exits 0" {
    start_listen "$T/l.log" --type dgram "$T/d.sock"
    python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"x", sys.argv[1])' "$T/d.sock"
    wait_until 5 grep -q x "$T/out"
    kill -INT "$LISTEN_PID"
    wait_status "$LISTEN_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -e "$T/d.sock" ]
    grep -q 'stopping on SIGINT' "$T/l.log"
}

@test "listen: --allow-uid refuses others, stream and dgram, and logs them" {
    need_root
    start_listen "$T/l.log" -m 0666 --allow-uid root -n 1 "$T/l.sock"
    chmod 0755 "$T"
    run as_nobody timeout 5 "$UDS" connect "$T/l.sock" </dev/null
    wait_for_line "$T/l.log" "refused pid [0-9]+ uid $NOBODY gid $NOBODY: not in --allow-uid"
    py_echo "$T/l.sock" from-root >/dev/null
    wait_status "$LISTEN_PID"
    [ "$(cat "$T/out")" = from-root ]
    rm -f "$T/out"
    start_listen "$T/d.log" --type dgram -m 0666 --allow-uid root -n 1 "$T/d.sock"
    as_nobody /usr/bin/python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"nobody", sys.argv[1])' "$T/d.sock"
    wait_for_line "$T/d.log" "refused pid [0-9]+ uid $NOBODY"
    python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"root", sys.argv[1])' "$T/d.sock"
    wait_status "$LISTEN_PID"
    [ "$(cat "$T/out")" = root ]
}

@test "listen: the safe listener: a stale file is replaced, a live server's and a regular file are not" {
    python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/l.sock"
    start_listen "$T/l.log" -k "$T/l.sock"
    grep -q 'removed stale socket file' "$T/l.log"
    # (Its probe of the live socket is a client, served and gone at once: hence -k.)
    run --separate-stderr timeout 5 "$UDS" listen "$T/l.sock"
    [ "$status" -eq 69 ]
    [[ "$stderr" == *"in use by a running server (pid $LISTEN_PID)"* ]]
    [ -S "$T/l.sock" ]
    echo data >"$T/file"
    run --separate-stderr timeout 5 "$UDS" listen "$T/file"
    [ "$status" -eq 73 ]
    [ "$(cat "$T/file")" = data ]
}

@test "listen: an abstract address, and the warning that it has no permissions" {
    local name
    name=$(abstract_name)
    start_listen "$T/l.log" -n 1 "$name"
    grep -q 'anyone in this network namespace can connect' "$T/l.log"
    run timeout 5 "$UDS" connect "$name" <<<"over abstract"
    [ "$status" -eq 0 ]
    wait_status "$LISTEN_PID"
    [ "$(cat "$T/out")" = "over abstract" ]
}

@test "listen: a signal while a client is connected closes it and exits 0" {
    start_listen_fifo "$T/l.log" "$T/l.sock"
    open_client c1 "$T/l.sock"
    say_client c1 "hello"
    wait_until 5 grep -q hello "$T/out"
    kill -TERM "$LISTEN_PID"
    wait_status "$LISTEN_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    # The client saw the end: it exits though its own input goes on.
    wait_exit "$CLIENT_PID"
    close_client c1
    [ ! -e "$T/l.sock" ]
}

@test "listen: usage errors: --json or -k where they do not belong" {
    run --separate-stderr "$UDS" listen --json "$T/l.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == "uds listen: --json is for datagrams (--type dgram)"* ]]
    run --separate-stderr "$UDS" listen -k --type dgram "$T/l.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == "uds listen: --keep-open needs connections"* ]]
    run --separate-stderr "$UDS" listen
    [ "$status" -eq 64 ]
    [ ! -e "$T/l.sock" ]
}

@test "listen: with a terminal on stdin, the client's end is the end (as for nc -lU)" {
    command -v script >/dev/null || skip "script is not installed (package bsdutils)"
    # script(1) gives uds listen a terminal whose input goes on while the test holds the
    # FIFO that feeds script open.
    mkfifo "$T/tty.in"
    bg_start "$T/script.log" bash -c 'exec script -qec "$0 listen -n 1 $1" /dev/null <"$3" >"$2"' \
        "$UDS" "$T/t.sock" "$T/out" "$T/tty.in"
    local script=$BG_PID
    exec {tty_in}>"$T/tty.in"
    wait_for_line "$T/out" 'listening on'
    run timeout 5 "$UDS" connect "$T/t.sock" <<<"from the client"
    [ "$status" -eq 0 ]
    wait_for_line "$T/out" 'from the client'
    # Gone at once, its terminal still open: without a terminal it would wait for stdin.
    wait_path_gone "$T/t.sock" 3
    ! pgrep -f "listen -n 1 $T/t.sock"
    exec {tty_in}>&-
    wait_exit "$script"
}
