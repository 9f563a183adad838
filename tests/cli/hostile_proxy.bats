#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# A `uds proxy` whose target leads back to its own listener: refused at start when LISTEN and
# TARGET are the same socket by any spelling (a relative and an absolute path, a symlink, a
# symlinked directory, one abstract name, a TCP port by host name or wildcard), and cut short
# at run time when a loop forms anyway (a symlink made after the start; two proxies pointed
# at each other). Each test prints what a loop costs: the proxy's open fds, sampled while one
# client's connection goes round.

load helpers

PEER="$BATS_TEST_DIRNAME/proxy_peer.py"

fd_count() {
    ls "/proc/$1/fd" 2>/dev/null | wc -l
}

# max_fds SECONDS PID...: the most fds any of the PIDs had open, sampled for SECONDS.
max_fds() {
    local secs=$1 i pid n max=0
    shift
    for ((i = 0; i < secs * 20; i++)); do
        for pid in "$@"; do
            n=$(fd_count "$pid")
            [ "$n" -gt "$max" ] && max=$n
        done
        sleep 0.05
    done
    echo "$max"
}

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# try_proxy LABEL CLIENT_ADDR PROXY ARGS...: start `uds proxy`; when it refuses to start, its
# exit status is in STATUS and its stderr in $T/try.log. When it starts (a loop accepted),
# one client connects to CLIENT_ADDR, the proxy's fds are sampled for 3 s and printed, and
# the proxy is killed; STATUS is then "started". Either way "LABEL|STATUS|LOG" is added to
# $T/results, the log kept in $T/try.N.log.
try_proxy() {
    local label=$1 client=$2 pid i n
    shift 2
    n=0
    [ -e "$T/results" ] && n=$(wc -l <"$T/results")
    bg_start "$T/try.$n.log" "$UDS" proxy --drain-timeout 0.5 "$@"
    pid=$BG_PID
    for ((i = 0; i < 250; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        grep -q 'listening on' "$T/try.$n.log" 2>/dev/null && break
        sleep 0.02
    done
    if ! kill -0 "$pid" 2>/dev/null; then
        wait_status "$pid"
        STATUS=$WAIT_STATUS
    else
        STATUS=started
        local base
        base=$(fd_count "$pid")
        bg_start "$T/client.err" timeout 3 python3 "$PEER" send-wait "$client" hello 3
        echo "# $label: the proxy started; one client: its fds went from $base to" \
            "$(max_fds 3 "$pid") in 3 s" >&3
        kill -KILL "$pid"
        wait_exit "$pid"
        find "$T" -type s -delete
    fi
    echo "$label|$STATUS|$T/try.$n.log" >>"$T/results"
}

# all_refused: every try_proxy so far was refused as a usage error that names the loop, and
# left no socket file.
all_refused() {
    local label status log bad=0
    while IFS='|' read -r label status log; do
        if [ "$status" != 64 ] || ! grep -qE "^uds proxy: .*: TARGET .* is this proxy's own \
listener .*: every client would be relayed back to the proxy itself; choose another TARGET$" \
            "$log"; then
            echo "$label: status $status:" >&2
            cat "$log" >&2
            bad=1
        fi
    done <"$T/results"
    [ "$bad" -eq 0 ]
    [ -z "$(find "$T" -type s)" ]
}

@test "hostile proxy: TARGET that is LISTEN by another path (relative, symlinks) is a usage error" {
    mkdir "$T/sub"
    ln -s sub "$T/dirlink"
    ln -s "$T/sub/x.sock" "$T/filelink"
    cd "$T/sub"
    try_proxy "relative vs absolute" "$T/sub/x.sock" ./x.sock "$T/sub/x.sock"
    try_proxy "symlink to the socket" "$T/sub/x.sock" x.sock "$T/filelink"
    try_proxy "through a symlinked directory" "$T/sub/x.sock" "$T/sub/x.sock" "$T/dirlink/x.sock"
    try_proxy "unix: prefix" "$T/sub/x.sock" "unix:$T/sub/x.sock" "$T/sub/./x.sock"
    cd "$T"
    all_refused
}

@test "hostile proxy: TARGET that is LISTEN by one abstract name is a usage error" {
    local name
    name=$(abstract_name)
    try_proxy "one abstract name" "$name" "$name" "unix:$name"
    all_refused
}

@test "hostile proxy: TARGET on LISTEN's own TCP port (localhost, wildcard, mapped) is a usage error" {
    local port
    port=$(free_port)
    try_proxy "tcp:127.0.0.1:P to tcp:localhost:P" "tcp:127.0.0.1:$port" \
        "tcp:127.0.0.1:$port" "tcp:localhost:$port"
    port=$(free_port)
    try_proxy "tcp:0.0.0.0:P to tcp:127.0.0.1:P" "tcp:127.0.0.1:$port" --public \
        "tcp:0.0.0.0:$port" "tcp:127.0.0.1:$port"
    port=$(free_port)
    try_proxy "tcp:127.0.0.1:P to tcp:0.0.0.0:P" "tcp:127.0.0.1:$port" \
        "tcp:127.0.0.1:$port" "tcp:0.0.0.0:$port"
    port=$(free_port)
    try_proxy "tcp:127.0.0.1:P to tcp:[::ffff:127.0.0.1]:P" "tcp:127.0.0.1:$port" \
        "tcp:127.0.0.1:$port" "tcp:[::ffff:127.0.0.1]:$port"
    all_refused
}

@test "hostile proxy: other sockets and ports are still fine as TARGET" {
    local port
    port=$(free_port)
    # Another loopback address on the same port is another socket.
    try_proxy "127.0.0.1 to 127.0.0.2" "tcp:127.0.0.1:$port" \
        "tcp:127.0.0.1:$port" "tcp:127.0.0.2:$port"
    [ "$STATUS" = started ]
    try_proxy "another path" "$T/a.sock" "$T/a.sock" "$T/b.sock"
    [ "$STATUS" = started ]
}

@test "hostile proxy: a loop made after the start (a symlink to LISTEN) is cut and logged; serves on" {
    start_server --drain-timeout 0.5 "$T/echo.sock"
    bg_start "$T/proxy.log" "$UDS" proxy --drain-timeout 0.5 "$T/a.sock" "$T/link"
    local proxy=$BG_PID base max
    wait_for_line "$T/proxy.log" 'listening on'
    base=$(fd_count "$proxy")
    ln -s a.sock "$T/link"
    bg_start "$T/client.err" bash -c 'exec "$@" >"$0"' "$T/client.out" \
        timeout 5 python3 "$PEER" send-wait "$T/a.sock" hello 5
    local client=$BG_PID
    max=$(max_fds 2 "$proxy")
    echo "# runtime self-loop: fds from $base to $max in 2 s" >&3
    [ "$max" -le $((base + 8)) ]
    wait_status "$client" 5
    # Closed, with or without its message read.
    [[ "$(cat "$T/client.out")" =~ ^(EOF|RESET)$ ]]
    wait_for_line "$T/proxy.log" "uds: $T/link: client pid [0-9]+ $MY_IDS closed: the target is \
this proxy's own listener \(a loop\); choose another TARGET"
    # Served as soon as the link leads somewhere else.
    ln -sfn echo.sock "$T/link"
    run timeout 5 python3 "$PEER" send-wait "$T/a.sock" "served again" 5
    [ "$output" = "served again" ]
}

@test "hostile proxy: two proxies pointed at each other (A -> B -> A) cut the loop, log it, serve on" {
    bg_start "$T/a.log" "$UDS" proxy --drain-timeout 0.5 "$T/a.sock" "$T/b.sock"
    local a=$BG_PID
    bg_start "$T/b.log" "$UDS" proxy --drain-timeout 0.5 "$T/b.sock" "$T/a.sock"
    local b=$BG_PID base_a base_b max
    wait_for_line "$T/a.log" 'listening on'
    wait_for_line "$T/b.log" 'listening on'
    base_a=$(fd_count "$a")
    base_b=$(fd_count "$b")
    bg_start "$T/client.err" bash -c 'exec "$@" >"$0"' "$T/client.out" \
        timeout 5 python3 "$PEER" send-wait "$T/a.sock" hello 5
    local client=$BG_PID
    max=$(max_fds 3 "$a" "$b")
    echo "# A -> B -> A: fds from $base_a (A) and $base_b (B) to at most $max in 3 s" >&3
    [ "$max" -le $((base_a > base_b ? base_a + 8 : base_b + 8)) ]
    wait_status "$client" 5
    # Closed, with or without its message read.
    [[ "$(cat "$T/client.out")" =~ ^(EOF|RESET)$ ]]
    # Each proxy logs the loop it saw.
    local back="relaying it would loop back to it; check that TARGET does not lead back here"
    wait_for_line "$T/b.log" "uds: $T/a.sock: client pid $a $MY_IDS closed: the client is the \
process listening on the target \(pid $a\): $back" 15
    # A refuses B's connection when it arrives, having learnt who listens on B from its own
    # connection there; when B's connection comes first (A's worker still between its
    # connect() and SO_PEERCRED), A cuts it once it reaches B, as B did.
    wait_for_line "$T/a.log" "uds: $T/a.sock: refused pid $b $MY_IDS: it is the process listening \
on the target $T/b.sock: $back|uds: $T/b.sock: client pid $b $MY_IDS closed: the client is the \
process listening on the target \(pid $b\): $back" 15
    # B still answers at once (nothing hangs)...
    run timeout 5 python3 "$PEER" send-wait "$T/b.sock" "to b" 3
    [[ "$output" =~ ^(EOF|RESET)$ ]]
    # ... and A serves a normal client once B is replaced by a real server.
    kill -TERM "$b"
    wait_status "$b"
    start_server --drain-timeout 0.5 "$T/b.sock"
    run timeout 5 python3 "$PEER" send-wait "$T/a.sock" "served again" 5
    [ "$output" = "served again" ]
}
