#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds proxy --exit-idle-time` and `--connect-retry`. The first is checked side by side
# with systemd-socket-proxyd under systemd-socket-activate (which execs the proxy in its own
# place and so cannot start it twice) and under a small service manager that keeps the
# listening socket and starts the proxy again for the next client, as a .socket unit does
# (proxy_life.py activate). The second with a target that starts a second after the client
# came, on a Unix socket and on TCP, and one that never comes.

load helpers

LIFE="$BATS_TEST_DIRNAME/proxy_life.py"
PROXYD=/lib/systemd/systemd-socket-proxyd

life() {
    timeout 20 python3 "$LIFE" "$@" 2>>"$T/life.err"
}

# now: seconds since the epoch, with fractions.
now() {
    date +%s.%N
}

# closed_at LOG: the time (seconds since the epoch) of the last close proxy_life.py echo
# wrote to LOG, its stderr.
closed_at() {
    sed -n 's/^closed //p' "$1" | tail -1
}

# watch_exit PID: the time PID exits goes to $T/exited.PID (proxy_life.py exited: the kernel
# wakes it, so a busy machine does not make the time late as polling from here would).
watch_exit() {
    bg_start "$T/exited.err" python3 "$LIFE" exited "$1" >"$T/exited.$1"
}

# secs FROM TO: TO - FROM, two decimals.
secs() {
    python3 -c 'import sys; print("%.2f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$2"
}

# between LOW X HIGH: LOW <= X <= HIGH, in decimals.
between() {
    python3 -c 'import sys; l, x, h = map(float, sys.argv[1:]); sys.exit(not l <= x <= h)' "$@"
}

# The two proxies that exit when idle: ours, and systemd's (skipped when not installed).
proxy_cmd() {
    local which=$1 listen=$2 target=$3
    if [ "$which" = uds ]; then
        echo "$UDS" proxy --exit-idle-time 1 "$listen" "$target"
    else
        echo "$PROXYD" --exit-idle-time=1 "$target"
    fi
}

need_proxyd() {
    [ -x "$PROXYD" ] || skip "systemd-socket-proxyd is not installed (Debian package systemd)"
}

# idle_under_socket_activate uds|proxyd: under systemd-socket-activate, the proxy serves a
# client, stays while a second one holds its connection open past the idle time, then
# exits with status 0 about a second after it closed; the activator does not restart it, so
# the next client is refused, and the socket file is left to the activator's owner. Sets
# IDLE_SECS: from the last close (as the client tells it) to the exit (as the kernel does).
idle_under_socket_activate() {
    local which=$1 sock=$T/$1.sock pid
    command -v systemd-socket-activate >/dev/null ||
        skip "systemd-socket-activate is not installed (Debian package systemd)"
    # shellcheck disable=SC2046 # the command's words
    bg_start "$T/$which.log" systemd-socket-activate -l "$sock" $(proxy_cmd "$which" "$sock" \
        "$T/s.sock")
    pid=$BG_PID
    wait_for_line "$T/$which.log" "^Listening on "
    watch_exit "$pid"
    run life echo "$sock" one
    [[ "$output" == "one "* ]]
    # Open 1.6 s, over the idle time: the proxy is still there when it sends.
    run life echo "$sock" two 1.6
    [[ "$output" == "two "* ]]
    wait_status "$pid" 10
    [ "$WAIT_STATUS" -eq 0 ]
    wait_until 5 test -s "$T/exited.$pid"
    IDLE_SECS=$(secs "$(closed_at "$T/life.err")" "$(cat "$T/exited.$pid")")
    run life echo "$sock" three
    [ "$output" = refused ]
    [ -S "$sock" ]
    rm -f "$sock"
}

@test "proxy --exit-idle-time: under systemd-socket-activate, exits 0 when idle, as systemd-socket-proxyd does" {
    start_server "$T/s.sock"
    idle_under_socket_activate uds
    echo "# uds proxy --exit-idle-time 1: exited $IDLE_SECS s after its last connection closed" >&3
    between 0.9 "$IDLE_SECS" 2.5
    grep -qxF "uds: $T/uds.sock: using the socket passed by the service manager (LISTEN_FDS)" \
        "$T/uds.log"
    grep -qxF "uds: $T/uds.sock: no connection for 1s (--exit-idle-time): exiting" "$T/uds.log"
    # No lock file: the socket is the activator's.
    [ ! -e "$T/uds.sock.lock" ]
    [ -x "$PROXYD" ] || return 0
    idle_under_socket_activate proxyd
    echo "# systemd-socket-proxyd --exit-idle-time=1: exited $IDLE_SECS s after" >&3
    between 0.9 "$IDLE_SECS" 2.5
}

# exits_are N LOG: the activator's LOG tells of N runs that exited with status 0.
exits_are() {
    [ "$(grep -c '^exited [0-9]* 0$' "$2")" -eq "$1" ]
}

# cycles uds|proxyd: under proxy_life.py activate, which keeps the socket: two clients a
# proxy exit apart are served by two runs of the proxy, each exiting 0 when idle; the
# second client waited in the backlog meanwhile.
cycles() {
    local which=$1 sock=$T/$1.sock first second
    # shellcheck disable=SC2046 # the command's words
    bg_start "$T/$which.err" python3 "$LIFE" activate "$sock" "$T/$which.log" 2 -- \
        $(proxy_cmd "$which" "$sock" "$T/s.sock")
    wait_for_line "$T/$which.log" '^listening'
    run life echo "$sock" one
    [[ "$output" == "one "* ]]
    wait_for_line "$T/$which.log" '^exited [0-9]+ 0$' 5
    run life echo "$sock" two
    [[ "$output" == "two "* ]]
    wait_until 5 exits_are 2 "$T/$which.log"
    first=$(sed -n 's/^started //p' "$T/$which.log" | head -1)
    second=$(sed -n 's/^started //p' "$T/$which.log" | tail -1)
    [ -n "$first" ] && [ "$first" != "$second" ]
    cat "$T/$which.log"
}

@test "proxy --exit-idle-time: a service manager that keeps the socket starts it again for the next client" {
    start_server "$T/s.sock"
    cycles uds
    [ "$(grep -c 'no connection for 1s (--exit-idle-time): exiting' "$T/uds.err")" -eq 2 ]
    [ -x "$PROXYD" ] || return 0
    cycles proxyd
}

@test "proxy --exit-idle-time: a proxy no client ever reaches exits too, and removes its own socket" {
    start_server "$T/s.sock"
    local t0 t1
    t0=$(now)
    bg_start "$T/proxy.log" "$UDS" proxy --exit-idle-time 0.5 "$T/p.sock" "$T/s.sock"
    local pid=$BG_PID
    watch_exit "$pid"
    wait_status "$pid" 10
    [ "$WAIT_STATUS" -eq 0 ]
    wait_until 5 test -s "$T/exited.$pid"
    t1=$(cat "$T/exited.$pid")
    grep -qxF "uds: $T/p.sock: no connection for 0.5s (--exit-idle-time): exiting" \
        "$T/proxy.log"
    between 0.4 "$(python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' \
        "$t0" "$t1")" 3
    [ ! -e "$T/p.sock" ]
    [ ! -e "$T/p.sock.lock" ]
}

@test "proxy --exit-idle-time: a value that is not a duration is a usage error" {
    run "$UDS" proxy --exit-idle-time soon "$T/p.sock" "$T/s.sock"
    [ "$status" -eq 64 ]
    [[ "$output" == *"--exit-idle-time"*"soon"* ]]
    run "$UDS" proxy --connect-retry -1 "$T/p.sock" "$T/s.sock"
    [ "$status" -eq 64 ]
    [[ "$output" == *"--connect-retry"* ]]
}

# ---- --connect-retry ------------------------------------------------------------------------

start_proxy() {
    PROXY_LOG=$T/proxy.log
    bg_start "$PROXY_LOG" "$UDS" proxy "$@"
    PROXY_PID=$BG_PID
    wait_for_line "$PROXY_LOG" 'listening on'
}

# held_client TARGET-COMMAND...: a client connects through the proxy at $T/p.sock and sends;
# a second after it connected, TARGET-COMMAND starts the target. Sets HELD (what came back,
# then the seconds from before the connect to the reply) and AFTER_TARGET (the seconds from
# the target's start to the reply: the retries, a second apart at most, and its start-up).
held_client() {
    local started
    bg_start "$T/client.err" bash -c 'exec "$@" >"$0"' "$T/client.out" timeout 20 python3 \
        "$LIFE" echo "$T/p.sock" "held, then relayed"
    local client=$BG_PID
    wait_for_line "$T/client.err" '^connected'
    sleep 1     # the point: the target comes a second later
    started=$(now)
    bg_start "$T/target.log" "$@"
    wait_status "$client" 10
    HELD=$(cat "$T/client.out")
    AFTER_TARGET=$(secs "$started" "$(closed_at "$T/client.err")")
    echo "$HELD; $AFTER_TARGET s after the target's start"
}

@test "proxy --connect-retry: a client is held until the Unix target starts a second later" {
    start_proxy --connect-retry 10 "$T/p.sock" "$T/s.sock"
    held_client "$UDS" serve "$T/s.sock"
    [[ "$HELD" == "held, then relayed "* ]]
    echo "# a client's bytes got through ${HELD##* } s after it connected (target up at 1 s)" >&3
    # Held for as long as there was no target; relayed soon after it came. How soon after
    # the connect depends on when the machine let the target start, so that is not the
    # bound.
    between 1 "${HELD##* }" 10
    between 0 "$AFTER_TARGET" 2
    ! grep -q "closed:" "$PROXY_LOG"
}

@test "proxy --connect-retry: a TCP target whose port opens a second later" {
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    start_proxy --connect-retry 10 "$T/p.sock" "tcp:127.0.0.1:$port"
    held_client socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" EXEC:cat
    [[ "$HELD" == "held, then relayed "* ]]
    between 1 "${HELD##* }" 10
    between 0 "$AFTER_TARGET" 2
}

@test "proxy --connect-retry: a target that never comes: the client is closed once the time is up, and why" {
    start_proxy --connect-retry 0.6 "$T/p.sock" "$T/none.sock"
    run life echo "$T/p.sock" hello
    echo "$output"
    [[ "$output" == "reset "* || "$output" == " "* ]]
    between 0.5 "${output##* }" 2.5
    grep -E "uds: $T/none.sock: client pid [0-9]+ $MY_IDS closed: no such socket, still after 0.6s \(--connect-retry\); is the server running\?" \
        "$PROXY_LOG"
    # A stale socket file the same way, with its own reason.
    python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/stale.sock"
    LEFTOVER_OK+=("$T/stale.sock")
    kill -TERM "$PROXY_PID"
    wait_status "$PROXY_PID"
    start_proxy --connect-retry 0.3 "$T/p.sock" "$T/stale.sock"
    run life echo "$T/p.sock" hello
    grep -qF "closed: nothing is listening (stale socket file), still after 0.3s (--connect-retry); start the server" \
        "$PROXY_LOG"
    # Without it, at once, as before.
    kill -TERM "$PROXY_PID"
    wait_status "$PROXY_PID"
    start_proxy "$T/p.sock" "$T/none.sock"
    run life echo "$T/p.sock" hello
    between 0 "${output##* }" 0.4
    grep -qF "closed: no such socket; is the server running?" "$PROXY_LOG"
}

# fd_count PID: how many fds PID holds.
fd_count() {
    ls "/proc/$1/fd" | wc -l
}

# let_go_is N: the proxy's log says N times that a held client hung up.
let_go_is() {
    [ "$(grep -c 'hung up while connecting' "$PROXY_LOG")" -eq "$1" ]
}

# fds_are PID N: PID holds N fds.
fds_are() {
    [ "$(fd_count "$1")" -eq "$2" ]
}

@test "proxy --connect-retry: a client that hangs up while held is let go at once; one that sent bytes first still has them delivered" {
    start_proxy --connect-retry 30 "$T/p.sock" "$T/s.sock"
    local before
    before=$(fd_count "$PROXY_PID")
    # Four clients come and leave before the target is up: nobody is left to relay for, so
    # holding their slots for the 30 s of --connect-retry would only let idle hang-ups
    # crowd out real clients (--max-conns, --max-conns-per-uid).
    /usr/bin/python3 - "$T/p.sock" <<'PY'
import socket, sys
for _ in range(4):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.close()
PY
    wait_until 3 let_go_is 4
    wait_until 3 fds_are "$PROXY_PID" "$before"
    grep -E "uds: $T/p.sock: client pid [0-9]+ $MY_IDS hung up while connecting to $T/s.sock; let go" \
        "$PROXY_LOG"
    # A client that says its piece and leaves (a logger, `echo x | nc -U -N`) is another
    # matter: its bytes wait in the socket and are delivered when the target comes.
    /usr/bin/python3 - "$T/p.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"parting words\n")
s.close()
PY
    sleep 0.5
    bg_start "$T/target.log" bash -c 'exec "$@" >"$0"' "$T/got" "$UDS" listen "$T/s.sock"
    wait_for_line "$T/got" '^parting words$' 5
    let_go_is 4
}

@test "proxy --connect-retry: a held client that only shut down its writing still gets its answer" {
    start_proxy --connect-retry 30 "$T/p.sock" "$T/s.sock"
    cat >"$T/halfclose.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.shutdown(socket.SHUT_WR)      # nothing to say: it waits for the server to speak
print("connected", file=sys.stderr, flush=True)
data = b""
while chunk := s.recv(4096):
    data += chunk
print(data.decode().strip())
PY
    bg_start "$T/client.err" bash -c 'exec "$@" >"$0"' "$T/client.out" timeout 20 \
        /usr/bin/python3 "$T/halfclose.py" "$T/p.sock"
    local client=$BG_PID
    wait_for_line "$T/client.err" '^connected'
    sleep 0.5
    bg_start "$T/target.log" "$UDS" serve "$T/s.sock" -- sh -c 'echo greeting'
    wait_status "$client" 10
    [ "$(cat "$T/client.out")" = greeting ]
    ! grep -q 'hung up while connecting' "$PROXY_LOG"
}
