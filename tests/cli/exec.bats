#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds serve ADDRESS -- PROGRAM` (UCSPI): one process per client with the socket as stdin and
# stdout; its environment, descriptors and signals; reaping; the limits; start failures;
# stopping; and clients nobody here wrote (socat, nc, Python).

load helpers

# script NAME: make $T/NAME an executable sh script from stdin.
script() {
    { echo '#!/bin/sh'; cat; } >"$T/$1"
    chmod +x "$T/$1"
}

# talk ADDRESS: connect with no input (half-closed at once) and print what comes back. A
# program that does not read its input would have the kernel reset a connection closed with
# unread bytes in it; this leaves none.
talk() {
    timeout 5 "$UDS" connect "$1" </dev/null
}

# child_pid_from_log: the pid of the last program started, from the -v log.
child_pid_from_log() {
    sed -n 's/.*started .* (pid \([0-9]*\)) for pid.*/\1/p' "$SERVER_LOG" | tail -n 1
}

# ---- what the program gets -------------------------------------------------------------------

@test "exec: the program gets PROTO=UNIX, UNIXREMOTEPID (the client's pid), EUID, EGID, UNIXLOCALPATH" {
    script env.sh <<'EOF'
echo "PROTO=$PROTO"
echo "UNIXREMOTEPID=$UNIXREMOTEPID"
echo "UNIXREMOTEEUID=$UNIXREMOTEEUID"
echo "UNIXREMOTEEGID=$UNIXREMOTEEGID"
echo "UNIXLOCALPATH=$UNIXLOCALPATH"
echo "UNIXLOCALUID=$UNIXLOCALUID"
echo "UNIXLOCALGID=$UNIXLOCALGID"
EOF
    start_server "$T/s.sock" -- "$T/env.sh"
    run timeout 10 python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
out = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    out += b
print("me=%d" % os.getpid())
print(out.decode(), end="")
' "$T/s.sock"
    [ "$status" -eq 0 ]
    local me=${lines[0]#me=}
    [ "${lines[1]}" = "PROTO=UNIX" ]
    [ "${lines[2]}" = "UNIXREMOTEPID=$me" ]
    [ "${lines[3]}" = "UNIXREMOTEEUID=$MY_UID" ]
    [ "${lines[4]}" = "UNIXREMOTEEGID=$MY_GID" ]
    [ "${lines[5]}" = "UNIXLOCALPATH=$T/s.sock" ]
    [ "${lines[6]}" = "UNIXLOCALUID=$MY_UID" ]
    [ "${lines[7]}" = "UNIXLOCALGID=$MY_GID" ]
}

@test "exec: a client of another user shows as that user; an abstract name as @name" {
    need_root
    local name
    name=$(abstract_name)
    start_server "$name" -- sh -c 'echo "$UNIXREMOTEEUID $UNIXREMOTEEGID $UNIXLOCALPATH"'
    run as_nobody timeout 5 "$UDS" connect "$name" </dev/null
    [ "$status" -eq 0 ]
    [ "$output" = "$NOBODY $NOBODY $name" ]
}

@test "exec: the environment passes through, minus NOTIFY_SOCKET, LISTEN_* and stale UCSPI variables" {
    SERVER_ENV="FOO=bar NOTIFY_SOCKET=@uds-test-nothing-$$ LISTEN_PID=1 LISTEN_FDS=1 \
LISTEN_FDNAMES=x UNIXREMOTEPATH=stale PROTO=TCP"
    # shellcheck disable=SC2086 # word splitting is the point
    bg_start "$T/server.log" env $SERVER_ENV "$UDS" serve "$T/s.sock" -- env
    SERVER_PID=$BG_PID
    SERVER_LOG=$T/server.log
    wait_for_line "$SERVER_LOG" 'listening on'
    run talk "$T/s.sock"
    [ "$status" -eq 0 ]
    [[ "$output" == *"FOO=bar"* ]]
    [[ "$output" == *"PROTO=UNIX"* ]]
    [[ "$output" != *"NOTIFY_SOCKET"* ]]
    [[ "$output" != *"LISTEN_"* ]]
    [[ "$output" != *"UNIXREMOTEPATH"* ]]
}

@test "exec: the program sees only fds 0, 1 and 2: the socket twice and the server's stderr" {
    script fds.sh <<'EOF'
readlink /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2
exec ls /proc/self/fd
EOF
    # Descriptors the server inherits (7, 8) must not reach the program either.
    bg_start "$T/server.log" bash -c 'exec 7</dev/null 8>"$1"; exec "$0" serve -c 4 "$2" -- "$3"' \
        "$UDS" "$T/extra" "$T/s.sock" "$T/fds.sh"
    SERVER_PID=$BG_PID
    SERVER_LOG=$T/server.log
    wait_for_line "$SERVER_LOG" 'listening on'
    run talk "$T/s.sock"
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == socket:\[*\] ]]
    [ "${lines[1]}" = "${lines[0]}" ]
    [ "${lines[2]}" = "$T/server.log" ]
    # ls's own directory fd is the 3.
    [ "$(echo "${lines[@]:3}")" = "0 1 2 3" ]
}

@test "exec: empty signal mask and no ignored signals, whatever the server ignores" {
    # A background job starts with SIGINT and SIGQUIT ignored; add SIGHUP and SIGPIPE.
    bg_start "$T/server.log" bash -c 'trap "" HUP PIPE USR1; exec "$0" serve "$1" -- grep -E "^Sig(Blk|Ign)" /proc/self/status' \
        "$UDS" "$T/s.sock"
    SERVER_PID=$BG_PID
    SERVER_LOG=$T/server.log
    wait_for_line "$SERVER_LOG" 'listening on'
    # The server itself does ignore some.
    grep -Eq '^SigIgn:\s+0*[1-9a-f]' "/proc/$SERVER_PID/status"
    run talk "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = $'SigBlk:\t0000000000000000' ]
    [ "${lines[1]}" = $'SigIgn:\t0000000000000000' ]
}

@test "exec: the program reads its stdin blocking, even though the server's sockets are not" {
    start_server "$T/s.sock" -- head -c 5
    run timeout 10 python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
time.sleep(0.3)                 # head is waiting in read() meanwhile
s.sendall(b"hello, world")
print(s.recv(100).decode())
' "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = "hello" ]
    ! grep -q "Resource temporarily unavailable" "$SERVER_LOG"
}

@test "exec: each program runs in a process group of its own" {
    # Field 5 of /proc/PID/stat is the process group (the command names have no spaces).
    start_server "$T/s.sock" -- sh -c 'echo "$$ $(cut -d" " -f5 /proc/$$/stat)"'
    run talk "$T/s.sock"
    [ "$status" -eq 0 ]
    read -r pid pgid <<<"$output"
    [ "$pid" = "$pgid" ]
    [ "$pgid" != "$(cut -d' ' -f5 "/proc/$SERVER_PID/stat")" ]
}

# ---- peers -----------------------------------------------------------------------------------

@test "exec: socat, OpenBSD nc and Python clients talk to the program" {
    start_server "$T/s.sock" -- tr a-z A-Z
    run bash -c 'printf "hello socat\n" | timeout 5 socat - UNIX-CONNECT:"$0"' "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = "HELLO SOCAT" ]
    run bash -c 'printf "hello nc\n" | timeout 5 nc -U -N "$0"' "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = "HELLO NC" ]
    run py_echo "$T/s.sock" "hello python"
    [ "$status" -eq 0 ]
    [ "$output" = "HELLO PYTHON" ]
}

@test "exec: socat as the program (a UCSPI-style relay through stdio)" {
    start_server "$T/s.sock" -- socat - EXEC:"tr a-z A-Z"
    run timeout 5 "$UDS" send "$T/s.sock" through socat
    [ "$status" -eq 0 ]
    [ "$output" = "THROUGH SOCAT" ]
}

# ---- reaping and logs --------------------------------------------------------------------------

@test "exec: -v logs each program's start and exit with pids, uid and exit status" {
    start_server -v "$T/s.sock" -- sh -c 'echo bye; exit 3'
    run talk "$T/s.sock"
    [ "$output" = "bye" ]
    wait_for_line "$SERVER_LOG" "started sh \(pid [0-9]+\) for pid [0-9]+ $MY_IDS$"
    wait_for_line "$SERVER_LOG" \
        "sh \(pid [0-9]+\) for pid [0-9]+ $MY_IDS exited with status 3 after [0-9.]+s$"
}

@test "exec: --log json gives exec and exit events with child_pid, uid and status" {
    start_server -v --log json "$T/s.sock" -- sh -c 'kill -USR1 $$'
    run talk "$T/s.sock"
    wait_for_line "$SERVER_LOG" '"event":"exit"'
    run python3 -c '
import json, sys
ev = {}
for line in open(sys.argv[1]):
    rec = json.loads(line)
    ev[rec["event"]] = rec
assert ev["exec"]["child_pid"] > 0 and ev["exec"]["uid"] == int(sys.argv[2]), ev["exec"]
assert ev["exit"]["child_pid"] == ev["exec"]["child_pid"], ev["exit"]
assert ev["exit"]["status"] == "killed by SIGUSR1", ev["exit"]
print("ok")
' "$SERVER_LOG" "$MY_UID"
    [ "$output" = "ok" ]
}

@test "exec: clients killed mid-stream leave no zombies: every program is reaped" {
    start_server -v "$T/s.sock" -- cat
    local i pids=()
    for i in 1 2 3 4 5; do
        bg_start "$T/py$i.err" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"x" * 100000)       # more than cat can pass back to a client that never reads
time.sleep(30)
' "$T/s.sock"
        pids+=("$BG_PID")
    done
    local n
    for ((i = 0; i < 250; i++)); do
        n=$(grep -c "started cat" "$SERVER_LOG" || true)
        [ "$n" -eq 5 ] && break
        sleep 0.02
    done
    [ "$n" -eq 5 ]
    [ "$(children_of "$SERVER_PID" | wc -l)" -eq 5 ]
    kill -KILL "${pids[@]}"
    wait_no_children "$SERVER_PID"
    [ "$(grep -cE "cat \(pid [0-9]+\) for pid .* (exited|killed)" "$SERVER_LOG")" -eq 5 ]
    # Never a zombie left behind, and the server still serves.
    run timeout 5 "$UDS" send "$T/s.sock" still
    [ "$output" = "still" ]
    wait_no_children "$SERVER_PID"
}

# ---- limits ------------------------------------------------------------------------------------

@test "exec: --max-conns 2 counts running programs: a third client waits until one ends" {
    # One user may take every slot here (by default it gets half of them).
    start_server -c 2 --max-conns-per-uid 2 "$T/s.sock" -- cat
    open_client c1 "$T/s.sock"
    open_client c2 "$T/s.sock"
    say_client c1 one
    say_client c2 two
    wait_for_line "$T/c1.out" '^one$'
    wait_for_line "$T/c2.out" '^two$'
    [ "$(children_of "$SERVER_PID" | wc -l)" -eq 2 ]
    # Queued in the backlog, not served, while two programs run.
    run timeout 1 "$UDS" send "$T/s.sock" three
    [ "$status" -eq 124 ]
    close_client c1
    run timeout 5 "$UDS" send "$T/s.sock" four
    [ "$status" -eq 0 ]
    [ "$output" = "four" ]
    close_client c2
}

@test "exec: --max-conns-per-uid 1 closes a second client of one uid (logged); another uid is served" {
    need_root
    start_server --mode 0666 --max-conns-per-uid 1 "$T/s.sock" -- cat
    open_client c1 "$T/s.sock"
    say_client c1 held
    wait_for_line "$T/c1.out" '^held$'
    run --separate-stderr timeout 5 "$UDS" send "$T/s.sock" "second root client"
    [ -z "$output" ]
    wait_for_line "$SERVER_LOG" "refused pid [0-9]+ uid 0 gid 0: uid 0 already has 1 program \
running \(--max-conns-per-uid 1\)"
    run as_nobody timeout 5 "$UDS" send "$T/s.sock" "nobody is served"
    [ "$status" -eq 0 ]
    [ "$output" = "nobody is served" ]
    # Once the first program ends, root is served again.
    close_client c1
    wait_no_children "$SERVER_PID"
    run timeout 5 "$UDS" send "$T/s.sock" "root again"
    [ "$output" = "root again" ]
}

@test "serve: --max-conns-per-uid also limits plain connections" {
    start_server --max-conns-per-uid 1 "$T/s.sock"
    open_client c1 "$T/s.sock"
    say_client c1 held
    wait_for_line "$T/c1.out" '^held$'
    run --separate-stderr timeout 5 "$UDS" send "$T/s.sock" second
    [ -z "$output" ]
    wait_for_line "$SERVER_LOG" "uid $MY_UID already has 1 connection open \(--max-conns-per-uid 1\)"
    close_client c1
    wait_status "$CLIENT_PID"
    run timeout 5 "$UDS" send "$T/s.sock" third
    [ "$output" = "third" ]
}

# ---- failures --------------------------------------------------------------------------------

@test "exec: PROGRAM not found, not executable or missing is a usage error, and no socket is made" {
    run --separate-stderr timeout 5 "$UDS" serve "$T/s.sock" -- no-such-program-xyz
    [ "$status" -eq 64 ]
    [ "${stderr_lines[0]}" = "uds serve: no-such-program-xyz: no such program in PATH" ]
    touch "$T/plain"
    run --separate-stderr timeout 5 "$UDS" serve "$T/s.sock" -- "$T/plain"
    [ "$status" -eq 64 ]
    [ "${stderr_lines[0]}" = "uds serve: $T/plain: not an executable file" ]
    run --separate-stderr timeout 5 "$UDS" serve "$T/s.sock" --
    [ "$status" -eq 64 ]
    [[ "${stderr_lines[0]}" == "uds serve: missing PROGRAM after --"* ]]
    local bad
    for bad in "--reply x" "--framed" "--idle-timeout 1" "--max-message 1K" "--type dgram"; do
        # shellcheck disable=SC2086 # word splitting is the point
        run --separate-stderr timeout 5 "$UDS" serve $bad "$T/s.sock" -- cat
        [ "$status" -eq 64 ]
        [ "${#stderr_lines[@]}" -eq 2 ]
    done
    [ ! -e "$T/s.sock" ]
}

@test "exec: a program that cannot start closes that client with a logged reason; serving goes on" {
    cp "$(command -v cat)" "$T/prog"
    start_server "$T/s.sock" -- "$T/prog"
    run timeout 5 "$UDS" send "$T/s.sock" before
    [ "$output" = "before" ]
    rm "$T/prog"
    # The client is closed: it sees the end of the stream, or a reset if its bytes had
    # arrived (the kernel's answer to closing a socket with unread data).
    run --separate-stderr timeout 5 "$UDS" send "$T/s.sock" gone
    [ -z "$output" ]
    wait_for_line "$SERVER_LOG" "closing connection from pid [0-9]+ $MY_IDS: cannot start \
$T/prog: No such file or directory"
    printf '#!/no/such/interpreter\n' >"$T/prog"
    chmod +x "$T/prog"
    run --separate-stderr timeout 5 "$UDS" send "$T/s.sock" "bad interpreter"
    [ -z "$output" ]
    local i
    for ((i = 0; i < 250; i++)); do
        [ "$(grep -c "cannot start $T/prog: No such file or directory" "$SERVER_LOG")" -eq 2 ] &&
            break
        sleep 0.02
    done
    [ "$(grep -c "cannot start $T/prog: No such file or directory" "$SERVER_LOG")" -eq 2 ]
    chmod -x "$T/prog"
    run --separate-stderr timeout 5 "$UDS" send "$T/s.sock" "not executable"
    [ -z "$output" ]
    wait_for_line "$SERVER_LOG" "cannot start $T/prog: Permission denied"
    rm "$T/prog"
    cp "$(command -v cat)" "$T/prog"
    run timeout 5 "$UDS" send "$T/s.sock" after
    [ "$output" = "after" ]
    kill -0 "$SERVER_PID"
}

# ---- stopping ----------------------------------------------------------------------------------

@test "exec: SIGTERM passes SIGTERM to running programs, reaps them, removes the socket, exits 0" {
    script trap.sh <<'EOF'
trap 'echo "got TERM" >>"$TERM_LOG"; exit 0' TERM
echo ready
while :; do sleep 0.05; done
EOF
    TERM_LOG=$T/term.log start_server -v "$T/s.sock" -- "$T/trap.sh"
    open_client c1 "$T/s.sock"
    wait_for_line "$T/c1.out" '^ready$'
    local child
    child=$(child_pid_from_log)
    [ -n "$child" ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    [ "$(cat "$T/term.log")" = "got TERM" ]
    ! kill -0 "$child" 2>/dev/null
    [ ! -e "$T/s.sock" ]
    grep -q "stopping on SIGTERM: no new clients, sent SIGTERM to 1 program" "$SERVER_LOG"
    grep -Eq "trap.sh \(pid $child\) for pid [0-9]+ $MY_IDS exited with status 0" "$SERVER_LOG"
    wait_status "$CLIENT_PID"      # its program is gone: the client saw the end
    close_client c1
}

@test "exec: a program that ignores SIGTERM is killed, with its process group, after --drain-timeout" {
    script stubborn.sh <<'EOF'
trap '' TERM
echo ready
while :; do sleep 0.05; done
EOF
    start_server -v --drain-timeout 0.3 "$T/s.sock" -- "$T/stubborn.sh"
    open_client c1 "$T/s.sock"
    wait_for_line "$T/c1.out" '^ready$'
    local child
    child=$(child_pid_from_log)
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    grep -q "1 program still running after --drain-timeout 0.3s: killing them (SIGKILL)" \
        "$SERVER_LOG"
    grep -Eq "stubborn.sh \(pid $child\) .* killed by SIGKILL" "$SERVER_LOG"
    # Nothing of its process group is left alive (its sleep included).
    local i alive
    for ((i = 0; i < 250; i++)); do
        alive=$(alive_in_group "$child")
        [ -z "$alive" ] && break
        sleep 0.02
    done
    [ -z "$alive" ]
    close_client c1
}

@test "exec: a second signal kills the programs at once (exit 1)" {
    script stubborn.sh <<'EOF'
trap '' TERM
echo ready
while :; do sleep 0.05; done
EOF
    start_server --drain-timeout 30 "$T/s.sock" -- "$T/stubborn.sh"
    open_client c1 "$T/s.sock"
    wait_for_line "$T/c1.out" '^ready$'
    kill -TERM "$SERVER_PID"
    wait_for_line "$SERVER_LOG" "stopping on SIGTERM"
    kill -0 "$SERVER_PID"
    kill -INT "$SERVER_PID"
    wait_status "$SERVER_PID" 5
    [ "$WAIT_STATUS" -eq 1 ]
    grep -q "SIGINT again: stopping now, killing 1 program (SIGKILL)" "$SERVER_LOG"
    close_client c1
}

@test "exec: with no program running, SIGTERM stops at once" {
    start_server "$T/s.sock" -- cat
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    grep -q "stopping on SIGTERM$" "$SERVER_LOG"
    [ ! -e "$T/s.sock" ]
}
