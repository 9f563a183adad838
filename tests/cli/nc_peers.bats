#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds listen` and `uds connect -- PROGRAM` against the tools people bring: nc -U
# (netcat-openbsd) and socat as clients of `uds listen`, both ways and with half-close;
# socat UNIX-SENDTO to a dgram `uds listen`; and `uds connect -- PROGRAM` beside
# ucspi-unix's unixclient running the same program on the same server.

load helpers
load listen_helpers

need() {
    command -v "$1" >/dev/null || skip "$1 is not installed (package $2)"
}

# ---- nc -U and socat as clients of uds listen ----------------------------------------------

@test "nc_peers: nc -U -N sends and half-closes; uds listen answers after that, from stdin" {
    need nc netcat-openbsd
    start_listen_fifo "$T/l.log" "$T/l.sock"
    # -N: shut down the sending side at the end of input, and go on reading.
    printf 'question from nc\n' | timeout 10 nc -N -U "$T/l.sock" >"$T/nc.out" {LISTEN_IN}>&- &
    local nc=$!
    wait_until 5 grep -q 'question from nc' "$T/out"
    printf 'answer to nc\n' >&"$LISTEN_IN"
    exec {LISTEN_IN}>&-
    wait "$nc"
    [ "$(cat "$T/nc.out")" = "answer to nc" ]
    wait_status "$LISTEN_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    [ "$(cat "$T/out")" = "question from nc" ]
}

@test "nc_peers: uds listen's stdin ends first; nc still sends, and its bytes reach stdout" {
    need nc netcat-openbsd
    start_listen_fifo "$T/l.log" "$T/l.sock"
    mkfifo "$T/nc.in"
    timeout 10 nc -N -U "$T/l.sock" <"$T/nc.in" >"$T/nc.out" {LISTEN_IN}>&- &
    local nc=$!
    exec {w}>"$T/nc.in"
    printf 'from uds listen\n' >&"$LISTEN_IN"
    exec {LISTEN_IN}>&-
    # nc has the bytes and the end of them; the other direction is still open.
    wait_until 5 grep -q 'from uds listen' "$T/nc.out"
    sleep 0.2
    kill -0 "$LISTEN_PID"
    printf 'from nc, after the end\n' >&"$w"
    exec {w}>&-
    wait "$nc"
    wait_status "$LISTEN_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    [ "$(cat "$T/out")" = "from nc, after the end" ]
}

@test "nc_peers: socat reads to the end uds listen sent, then answers: the answer reaches stdout" {
    need socat socat
    start_listen_fifo "$T/l.log" "$T/l.sock"
    printf 'all of it\n' >&"$LISTEN_IN"
    exec {LISTEN_IN}>&-
    # The program reads until uds listen's half-close, then writes back on the same
    # connection.
    run timeout 10 socat -t 5 "UNIX-CONNECT:$T/l.sock" \
        SYSTEM:"cat >$T/socat.got; echo got \$(wc -c <$T/socat.got) bytes"
    [ "$status" -eq 0 ]
    wait_status "$LISTEN_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    [ "$(cat "$T/socat.got")" = "all of it" ]
    [ "$(cat "$T/out")" = "got 10 bytes" ]
}

@test "nc_peers: socat sends a large stream and half-closes; uds listen's stdout has every byte" {
    need socat socat
    head -c 3000000 /dev/urandom >"$T/big"
    start_listen_fifo "$T/l.log" "$T/l.sock"
    exec {LISTEN_IN}>&-
    run timeout 20 socat -u "OPEN:$T/big" "UNIX-CONNECT:$T/l.sock"
    [ "$status" -eq 0 ]
    wait_status "$LISTEN_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    cmp "$T/big" "$T/out"
}

@test "nc_peers: nc -U clients one after another with uds listen -k" {
    need nc netcat-openbsd
    start_listen_fifo "$T/l.log" -k "$T/l.sock"
    exec {LISTEN_IN}>&-
    local i
    for i in 1 2 3; do
        printf 'client %s\n' "$i" | timeout 5 nc -N -U "$T/l.sock"
    done
    wait_until 5 grep -q 'client 3' "$T/out"
    [ "$(cat "$T/out")" = "$(printf 'client 1\nclient 2\nclient 3')" ]
}

# ---- socat UNIX-SENDTO to a dgram uds listen ---------------------------------------------

@test "nc_peers: socat UNIX-SENDTO datagrams are printed, --json with socat's bound address" {
    need socat socat
    bg_start "$T/l.log" bash -c 'exec "$0" listen --type dgram --json -n 2 "$1" >"$2"' \
        "$UDS" "$T/d.sock" "$T/out"
    LISTEN_PID=$BG_PID
    wait_for_line "$T/l.log" 'listening on'
    printf 'READY=1' | timeout 5 socat -u - "UNIX-SENDTO:$T/d.sock"
    printf 'STATUS=bound\n' | timeout 5 socat -u - "UNIX-SENDTO:$T/d.sock,bind=$T/c.sock"
    rm -f "$T/c.sock"
    wait_status "$LISTEN_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    run python3 - "$T/out" "$T/c.sock" "$MY_UID" "$MY_GID" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["data"] for r in rows] == ["READY=1", "STATUS=bound\n"], rows
assert rows[0]["from"] is None and rows[1]["from"] == sys.argv[2], rows
assert all(r["uid"] == int(sys.argv[3]) and r["gid"] == int(sys.argv[4]) for r in rows), rows
assert all(r["pid"] > 0 and not r["truncated"] for r in rows), rows
print("ok")
EOF
    [ "$output" = ok ]
}

@test "nc_peers: socat ABSTRACT-SENDTO to a dgram uds listen on an abstract name" {
    need socat socat
    local name
    name=$(abstract_name)
    bg_start "$T/l.log" bash -c 'exec "$0" listen --type dgram -n 1 "$1" >"$2"' \
        "$UDS" "$name" "$T/out"
    LISTEN_PID=$BG_PID
    wait_for_line "$T/l.log" 'listening on'
    printf 'over the abstract namespace' | timeout 5 socat -u - "ABSTRACT-SENDTO:${name#@}"
    wait_status "$LISTEN_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    [ "$(cat "$T/out")" = "over the abstract namespace" ]
}

@test "nc_peers: socat UNIX-SENDTO to uds listen --type dgram, plain: one line a datagram" {
    need socat socat
    bg_start "$T/l.log" bash -c 'exec "$0" listen --type dgram -n 2 "$1" >"$2"' \
        "$UDS" "$T/d.sock" "$T/out"
    LISTEN_PID=$BG_PID
    wait_for_line "$T/l.log" 'listening on'
    printf 'one' | timeout 5 socat -u - "UNIX-SENDTO:$T/d.sock"
    printf 'two\n' | timeout 5 socat -u - "UNIX-SENDTO:$T/d.sock"
    wait_status "$LISTEN_PID"
    [ "$(cat "$T/out")" = "$(printf 'one\ntwo')" ]
}

# ---- uds connect -- PROGRAM beside unixclient ------------------------------------------------

# The program both clients run: it reads the server's greeting on fd 6, answers on fd 7,
# and prints the UCSPI variables, what fds 6 and 7 are, and whether UNIXLOCALPID is itself.
ucspi_program() {
    cat >"$T/prog.sh" <<'EOF'
#!/bin/sh
read -r greeting <&6
echo "reply to $greeting" >&7
echo "greeting=$greeting"
env | grep -E '^(PROTO|UNIX[A-Z]*)=' | grep -v -e '^UNIXLOCALPID=' -e '^UNIXREMOTEPATH=' | sort
[ "$UNIXLOCALPID" = "$$" ] && echo "UNIXLOCALPID is the program"
for fd in 6 7; do
    l=$(readlink /proc/$$/fd/$fd)
    echo "fd $fd: ${l%%:*}"
done
[ "$(readlink /proc/$$/fd/6)" = "$(readlink /proc/$$/fd/7)" ] && echo "6 and 7: one socket"
EOF
    chmod +x "$T/prog.sh"
}

@test "nc_peers: uds connect -- PROGRAM gives PROGRAM what unixclient gives it" {
    need unixclient ucspi-unix
    ucspi_program
    cat >"$T/server.sh" <<'EOF'
#!/bin/sh
echo hello
read -r line
echo "$line" >&2
EOF
    chmod +x "$T/server.sh"
    start_server -v "$T/s.sock" -- "$T/server.sh"
    # UCSPI variables a caller may have had must not leak through either.
    run env UNIXREMOTEEUID=4242 PROTO=TCP timeout 10 unixclient "$T/s.sock" "$T/prog.sh"
    [ "$status" -eq 0 ]
    local theirs=$output
    run env UNIXREMOTEEUID=4242 PROTO=TCP timeout 10 "$UDS" connect "$T/s.sock" -- "$T/prog.sh"
    [ "$status" -eq 0 ]
    [ "$output" = "$theirs" ]
    # And what they are: the server's pid, uid and gid; the address as given.
    [[ "$output" == *"UNIXREMOTEPID=$SERVER_PID"* ]]
    [[ "$output" == *"UNIXREMOTEEUID=$MY_UID"* ]]
    [[ "$output" == *"UNIXLOCALPATH=$T/s.sock"* ]]
    [[ "$output" == *"UNIXLOCALPID is the program"* ]]
    [[ "$output" == *"fd 6: socket"*"fd 7: socket"*"6 and 7: one socket"* ]]
    [[ "$output" == *"greeting=hello"* ]]
    [ "$(grep -c 'reply to hello' "$SERVER_LOG")" -eq 2 ]
}

@test "nc_peers: uds connect -- PROGRAM sets UNIXREMOTEPATH and passes on PROGRAM's exit status" {
    start_server "$T/s.sock"
    run timeout 10 "$UDS" connect "$T/s.sock" -- sh -c 'echo "$UNIXREMOTEPATH"; exit 7'
    [ "$status" -eq 7 ]
    [ "$output" = "$T/s.sock" ]
    local name
    name=$(abstract_name)
    # A log of its own: in the first one, "listening on" is already there.
    SERVER_LOG_FILE=$T/abstract.log start_server "$name"
    run timeout 10 "$UDS" connect "$name" -- sh -c 'echo "$UNIXLOCALPATH $UNIXREMOTEPATH"; echo hi >&7; head -c 2 <&6'
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "$name $name" ]
    [ "${lines[1]}" = "hi" ]
}

@test "nc_peers: uds connect -- PROGRAM: a program that is not there is a usage error, and no one is connected" {
    start_server -v "$T/s.sock"
    run --separate-stderr timeout 10 "$UDS" connect "$T/s.sock" -- no-such-program-here
    [ "$status" -eq 64 ]
    [ "$stderr" = "uds connect: no-such-program-here: no such program in PATH
Try 'uds connect --help'." ]
    ! grep -q 'connection from' "$SERVER_LOG"
    run --separate-stderr timeout 10 "$UDS" connect --send-fd /dev/null "$T/s.sock" -- cat
    [ "$status" -eq 64 ]
    run --separate-stderr timeout 10 "$UDS" connect "$T/s.sock" --
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"missing PROGRAM after --"* ]]
    run --separate-stderr timeout 10 "$UDS" connect "$T/nothing.sock" -- cat
    [ "$status" -eq 69 ]
}
