#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds proxy`: Unix and TCP on either side, full duplex and half-close, large transfers byte
# for byte (spliced and copied), a target that is down, slow or full, a client that
# vanishes, limits and timeouts, the Unix listener's safety and access options, the TCP
# listener's loopback rule, PROXY protocol headers, and the graceful stop. The peers are
# `uds serve`, socat and Python's socket module (proxy_peer.py); all on loopback and in the
# test's own directory.

load helpers

PEER="$BATS_TEST_DIRNAME/proxy_peer.py"

# start_proxy [PROXY ARGS...] LISTEN TARGET: `uds proxy` in the background, waited for by
# its readiness line; sets PROXY_PID, PROXY_LOG and PROXY_ADDR (LISTEN as logged, with the
# port the kernel chose for tcp:HOST:0).
start_proxy() {
    PROXY_LOG=${PROXY_LOG_FILE:-$T/proxy.log}
    bg_start "$PROXY_LOG" "$UDS" proxy "$@"
    PROXY_PID=$BG_PID
    wait_for_line "$PROXY_LOG" 'listening on'
    PROXY_ADDR=$(sed -n 's/^uds: listening on \(.*\); forwarding to .*$/\1/p' "$PROXY_LOG")
    [ -n "$PROXY_ADDR" ]
}

# start_peer NAME SUBCOMMAND ADDRESS [ARGS...]: a proxy_peer.py server in the background,
# waited for; sets PEER_PORT (its TCP port, for tcp:127.0.0.1:0). A Python server leaves
# its socket file behind when killed: that one is expected.
start_peer() {
    local name=$1 sub=$2 address=$3
    shift 3
    bg_start "$T/$name.err" python3 "$PEER" "$sub" "$address" "$T/$name.port" "$@"
    wait_path "$T/$name.port" 10
    PEER_PORT=$(cat "$T/$name.port")
    [[ "$address" == tcp:* || "$address" == @* ]] || LEFTOVER_OK+=("$address")
}

peer() {
    timeout 60 python3 "$PEER" "$@"
}

# The sockets a process holds (pooled pipes come and go with the load; they are not leaks).
socket_count() {
    find "/proc/$1/fd" -lname 'socket:*' | wc -l
}

# A client the proxy closed without reading what it sent sees a reset rather than an EOF.
closed() {
    [[ "$1" == EOF || "$1" == RESET ]]
}

# ---- both directions, both families ------------------------------------------------------

@test "proxy: 64 clients with short messages in flight together, batched and --no-batch" {
    start_peer echo echo-server "$T/s.sock"
    start_proxy "$T/p.sock" "$T/s.sock"
    run peer chatter "$T/p.sock" 64 50
    [ "$output" = "ok 3200" ]
    PROXY_LOG_FILE=$T/nobatch.log start_proxy --no-batch "$T/p2.sock" "$T/s.sock"
    run peer chatter "$T/p2.sock" 64 50
    [ "$output" = "ok 3200" ]
}

@test "proxy: unix to unix relays both ways (socat and Python clients)" {
    start_server "$T/s.sock"
    start_proxy "$T/p.sock" "$T/s.sock"
    [ "$(stat -c %a "$T/p.sock")" = "600" ]
    run timeout 10 socat - "UNIX-CONNECT:$T/p.sock" <<<"hello through the proxy"
    [ "$status" -eq 0 ]
    [ "$output" = "hello through the proxy" ]
    run py_echo "$T/p.sock" "half-closed"
    [ "$output" = "half-closed" ]
}

@test "proxy: unix to unix forwards a passed fd with its bytes; --no-pass-fds closes it" {
    local fdpeer=$BATS_TEST_DIRNAME/tap_peer.py
    bg_start "$T/fd.err" python3 "$fdpeer" fd-server "$T/f.sock" "$T/fd.ready"
    wait_path "$T/fd.ready" 10
    LEFTOVER_OK+=("$T/f.sock")
    start_proxy "$T/p.sock" "$T/f.sock"
    run timeout 20 python3 "$fdpeer" fd-client "$T/p.sock" "$T/written"
    [ "$output" = "got 1 fd with take-this" ]
    [ "$(cat "$T/written")" = "written by the server" ]
    # Bulk still arrives byte for byte when fds may come with it (no splice then).
    start_server "$T/s.sock"
    PROXY_LOG_FILE=$T/bulk.log start_proxy "$T/b.sock" "$T/s.sock"
    run peer echo-check "$T/b.sock" $((8 << 20))
    [ "$output" = "ok $((8 << 20))" ]
    # Asked not to, the proxy closes the fd on arrival: the server gets the bytes alone.
    rm -f "$T/written"
    PROXY_LOG_FILE=$T/nofd.log start_proxy --no-pass-fds "$T/q.sock" "$T/f.sock"
    run timeout 20 python3 "$fdpeer" fd-client "$T/q.sock" "$T/written"
    [ "$output" = "got 0 fd with take-this" ]
    [ ! -s "$T/written" ]
}

@test "proxy: tcp to unix, 24 MiB both ways byte for byte, spliced and copied" {
    start_server "$T/s.sock"
    start_proxy tcp:127.0.0.1:0 "$T/s.sock"
    [[ "$PROXY_ADDR" =~ ^tcp:127\.0\.0\.1:[0-9]+$ ]]
    run peer echo-check "$PROXY_ADDR" $((24 << 20))
    [ "$output" = "ok $((24 << 20))" ]
    PROXY_LOG_FILE=$T/copy.log start_proxy --no-splice --buffer-size 3K tcp:127.0.0.1:0 \
        "$T/s.sock"
    run peer echo-check "$PROXY_ADDR" $((8 << 20))
    [ "$output" = "ok $((8 << 20))" ]
}

@test "proxy: unix to tcp, a TCP service on a Unix socket, several clients at once" {
    start_peer echo echo-server tcp:127.0.0.1:0
    start_proxy "$T/p.sock" "tcp:127.0.0.1:$PEER_PORT"
    grep -qF "forwarding to tcp:127.0.0.1:$PEER_PORT" "$PROXY_LOG"
    local i pids=()
    for i in 1 2 3 4 5 6; do
        peer echo-check "$T/p.sock" $((1 << 20)) >"$T/client$i.out" &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}"
        [ "$(cat "$T/client$((i + 1)).out")" = "ok $((1 << 20))" ]
    done
}

@test "proxy: tcp to tcp on IPv6 loopback" {
    python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null ||
        skip "no IPv6 loopback here"
    start_peer echo echo-server "tcp:[::1]:0"
    start_proxy "tcp:[::1]:0" "tcp:[::1]:$PEER_PORT"
    [[ "$PROXY_ADDR" =~ ^tcp:\[::1\]:[0-9]+$ ]]
    run peer echo-check "$PROXY_ADDR" 100000
    [ "$output" = "ok 100000" ]
}

@test "proxy: a half-close reaches the target as EOF, and its reply still comes back" {
    start_peer counter count-reply-server "$T/c.sock"
    start_proxy "$T/p.sock" "$T/c.sock"
    run py_echo "$T/p.sock" x 300000
    [ "$status" -eq 0 ]
    [ "$output" = "got 300000 bytes" ]
}

@test "proxy: the target sees the proxy's identity, and the proxy says so" {
    start_server -v "$T/s.sock"
    start_proxy tcp:127.0.0.1:0 "$T/s.sock"
    grep -qF "uds: $T/s.sock: TCP clients reach it as this proxy (pid $PROXY_PID uid $MY_UID \
gid $MY_GID): its SO_PEERCRED checks see the proxy, not them" "$PROXY_LOG"
    run peer echo-check "$PROXY_ADDR" 10
    [ "$output" = "ok 10" ]
    wait_for_line "$SERVER_LOG" "connection from pid $PROXY_PID uid $MY_UID gid $MY_GID"
}

# ---- the target down, full, slow; the client gone -----------------------------------------

@test "proxy: target down: the client is closed, the reason logged, the proxy serves on" {
    start_proxy "$T/p.sock" "$T/s.sock"
    run peer send-wait "$T/p.sock" "anyone?" 5
    closed "$output"
    wait_for_line "$PROXY_LOG" \
        "uds: $T/s.sock: client pid [0-9]+ uid $MY_UID gid $MY_GID closed: no such socket; is the server running\?"
    # A stale socket file: nothing listens on it.
    python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/s.sock"
    sleep 1.1     # the proxy logs a failing target once per second
    run peer send-wait "$T/p.sock" "anyone?" 5
    closed "$output"
    wait_for_line "$PROXY_LOG" "closed: nothing is listening \(stale socket file\); start the server"
    # The target comes up (replacing the stale file): the same proxy now relays.
    start_server "$T/s.sock"
    run peer send-wait "$T/p.sock" "now?" 5
    [ "$output" = "now?" ]
    kill -0 "$PROXY_PID"
}

@test "proxy: a TARGET path longer than sun_path is reached, also once its directory appears" {
    local dir
    dir=$T/$(printf 'd%.0s' {1..110})
    start_proxy "$T/p.sock" "$dir/s.sock"
    run peer send-wait "$T/p.sock" "anyone?" 5
    closed "$output"
    wait_for_line "$PROXY_LOG" \
        "uds: $dir/s.sock: client pid [0-9]+ .* closed: no such socket; is the server running\?"
    mkdir "$dir"
    start_server "$dir/s.sock"
    run peer send-wait "$T/p.sock" "now?" 5
    [ "$output" = "now?" ]
}

@test "proxy: TCP target refusing: the client is closed and the refusal logged" {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    start_proxy "$T/p.sock" "tcp:127.0.0.1:$port"
    run peer send-wait "$T/p.sock" "anyone?" 5
    closed "$output"
    wait_for_line "$PROXY_LOG" \
        "uds: tcp:127.0.0.1:$port: client .* closed: connection refused; is the server running\?"
}

@test "proxy: --connect-timeout: a target whose backlog stays full times the client out" {
    start_peer full full-backlog-server "$T/full.sock"
    start_proxy --connect-timeout 0.3 "$T/p.sock" "$T/full.sock"
    local t0=$SECONDS
    run peer send-wait "$T/p.sock" "hello?" 5
    closed "$output"
    [ $((SECONDS - t0)) -le 3 ]
    wait_for_line "$PROXY_LOG" "closed: timed out after 0.3s \(--connect-timeout\)"
}

@test "proxy: slow target: backpressure keeps the proxy's memory flat while 64 MiB wait" {
    start_peer slow slow-server "$T/slow.sock" 2 "$T/slow.count"
    start_proxy "$T/p.sock" "$T/slow.sock"
    local rss0 rss
    rss0=$(awk '/^VmRSS/ {print $2}' "/proc/$PROXY_PID/status")
    peer push "$T/p.sock" $((64 << 20)) "$T/push.done" &
    local pusher=$!
    wait_path "$T/slow.count.accepted"
    sleep 1     # the target reads nothing yet; the client keeps pushing
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$PROXY_PID/status")
    echo "proxy RSS: ${rss0} kB before, ${rss} kB while the target stalls"
    [ "$rss" -lt $((rss0 + 4096)) ]
    [ ! -e "$T/push.done" ]     # the client is held back, not buffered for
    wait "$pusher"
    wait_path "$T/slow.count" 30
    [ "$(cat "$T/slow.count")" = "$((64 << 20))" ]
}

@test "proxy: a client vanishing mid-transfer closes its target; no fd leaks; serves on" {
    start_server "$T/s.sock"
    start_proxy -v "$T/p.sock" "$T/s.sock"
    local first_proxy=$PROXY_PID fds0
    fds0=$(socket_count "$PROXY_PID")
    start_peer flood flood-server "$T/flood.sock" "$T/flood.result"
    PROXY_LOG_FILE=$T/proxy2.log start_proxy -v "$T/p2.sock" "$T/flood.sock"
    local fds_flood
    fds_flood=$(socket_count "$PROXY_PID")
    # A client reads 1 MiB of an endless download, then is killed.
    timeout 10 python3 - "$T/p2.sock" <<'EOF' &
import os, signal, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
n = 0
while n < (1 << 20):
    n += len(s.recv(65536))
os.kill(os.getpid(), signal.SIGKILL)
EOF
    wait $! || true
    wait_path "$T/flood.result" 10
    run cat "$T/flood.result"
    [[ "$output" == BrokenPipeError || "$output" == ConnectionResetError ]]
    wait_for_line "$T/proxy2.log" "closed connection from pid [0-9]+ .*: the client went away"
    # Everything that connection held is released.
    local i
    for i in $(seq 50); do [ "$(socket_count "$PROXY_PID")" -eq "$fds_flood" ] && break; sleep 0.02; done
    [ "$(socket_count "$PROXY_PID")" -eq "$fds_flood" ]
    # The first proxy was never disturbed, and serves as before.
    run peer echo-check "$T/p.sock" 100000
    [ "$output" = "ok 100000" ]
    [ "$(socket_count "$first_proxy")" -eq "$fds0" ]
}

@test "proxy: --busy-poll relays byte for byte and still stops on SIGTERM" {
    start_server "$T/s.sock"
    start_proxy --busy-poll 50 "$T/p.sock" "$T/s.sock"
    run peer echo-check "$T/p.sock" $((4 << 20))
    [ "$output" = "ok $((4 << 20))" ]
    kill -TERM "$PROXY_PID"
    wait_status "$PROXY_PID" 5
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -e "$T/p.sock" ]
}

# ---- limits and timeouts -----------------------------------------------------------------

@test "proxy: --max-conns 1: a second client waits in the backlog until the first leaves" {
    start_server "$T/s.sock"
    start_proxy -c 1 "$T/p.sock" "$T/s.sock"
    peer hold "$T/p.sock" first "$T/go" >"$T/first.out" &
    local first=$!
    wait_for_line "$T/first.out" first
    run peer send-wait "$T/p.sock" second 0.5
    [ "$output" = "TIMEOUT" ]
    grep -qF "$T/p.sock: 1 connection: the limit --max-conns 1 is reached; new clients wait in the backlog" "$PROXY_LOG"
    peer send-wait "$T/p.sock" third 10 >"$T/third.out" &
    local third=$!
    sleep 0.2
    [ ! -s "$T/third.out" ]
    touch "$T/go"
    wait "$first"
    wait "$third"
    [ "$(cat "$T/third.out")" = "third" ]
}

@test "proxy: --max-conns 1 on a TCP listener: a second client waits until the first leaves" {
    start_server "$T/s.sock"
    start_proxy -c 1 tcp:127.0.0.1:0 "$T/s.sock"
    peer hold "$PROXY_ADDR" first "$T/go" >"$T/first.out" &
    local first=$!
    wait_for_line "$T/first.out" first
    run peer send-wait "$PROXY_ADDR" second 0.5
    [ "$output" = "TIMEOUT" ]
    grep -qF "$PROXY_ADDR: 1 connection: the limit --max-conns 1 is reached" "$PROXY_LOG"
    touch "$T/go"
    wait "$first"
    run peer send-wait "$PROXY_ADDR" third 10
    [ "$output" = "third" ]
}

@test "proxy: --idle-timeout closes a silent connection and logs why (-v)" {
    start_server "$T/s.sock"
    start_proxy -v --idle-timeout 0.3 "$T/p.sock" "$T/s.sock"
    run timeout 10 python3 - "$T/p.sock" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
t = time.monotonic()
s.sendall(b"x")
assert s.recv(10) == b"x"
print("EOF" if s.recv(10) == b"" else "data", round(time.monotonic() - t, 1) >= 0.3)
EOF
    [ "$output" = "EOF True" ]
    wait_for_line "$PROXY_LOG" "closed connection from pid [0-9]+ .* after 1 bytes from it and \
1 to it: idle for 0.3s \(--idle-timeout\)"
}

# ---- the Unix listener: safe listen, permissions, allow-lists ------------------------------

@test "proxy: a live server at LISTEN is never displaced (exit 69); a stale socket is replaced" {
    start_server "$T/s.sock"
    run --separate-stderr timeout 5 "$UDS" proxy "$T/s.sock" "$T/other.sock"
    [ "$status" -eq 69 ]
    [ "$stderr" = "uds: $T/s.sock: in use by a running server (pid $SERVER_PID); not removed" ]
    python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/p.sock"
    start_proxy "$T/p.sock" "$T/s.sock"
    grep -qxF "uds: $T/p.sock: removed stale socket file (no server was listening)" "$PROXY_LOG"
    run peer send-wait "$T/p.sock" "replaced" 5
    [ "$output" = "replaced" ]
}

@test "proxy: LISTEN that is a regular file exits 73 and leaves it alone" {
    printf 'precious\n' >"$T/f.sock"
    run --separate-stderr timeout 5 "$UDS" proxy "$T/f.sock" "$T/s.sock"
    [ "$status" -eq 73 ]
    [ "$(cat "$T/f.sock")" = "precious" ]
}

@test "proxy: --mode 0660 --group on the Unix listener" {
    need_root
    local group
    group=$(getent group "$NOBODY" | cut -d: -f1)
    start_server "$T/s.sock"
    start_proxy --mode 0660 --group "$group" "$T/p.sock" "$T/s.sock"
    [ "$(stat -c '%a %g' "$T/p.sock")" = "660 $NOBODY" ]
    run as_nobody timeout 5 python3 "$PEER" send-wait "$T/p.sock" "member" 5
    [ "$output" = "member" ]
}

@test "proxy: --allow-uid refuses a nobody client (logged) and relays root" {
    need_root
    start_server "$T/s.sock"
    start_proxy --mode 0666 --allow-uid root "$T/p.sock" "$T/s.sock"
    run as_nobody timeout 5 python3 "$PEER" send-wait "$T/p.sock" "let me in" 5
    closed "$output"
    wait_for_line "$PROXY_LOG" \
        "uds: $T/p.sock: refused pid [0-9]+ uid $NOBODY gid $NOBODY: not in --allow-uid/--allow-gid"
    run peer send-wait "$T/p.sock" "root here" 5
    [ "$output" = "root here" ]
}

@test "proxy: abstract listener without an allow-list warns that anyone can connect" {
    local name
    name=$(abstract_name)
    start_server "$T/s.sock"
    start_proxy "$name" "$T/s.sock"
    grep -qF "uds: $name: an abstract socket has no file permissions: anyone in this network \
namespace can connect" "$PROXY_LOG"
    run peer send-wait "$name" "abstract" 5
    [ "$output" = "abstract" ]
}

# ---- the TCP listener --------------------------------------------------------------------

@test "proxy: a TCP listener that is not loopback needs --public (exit 64)" {
    run --separate-stderr timeout 5 "$UDS" proxy tcp:0.0.0.0:0 "$T/s.sock"
    [ "$status" -eq 64 ]
    [ "${stderr_lines[0]}" = "uds proxy: tcp:0.0.0.0:0: not a loopback address: anyone who can \
reach this machine could connect; add --public to mean it, or listen on tcp:127.0.0.1:PORT or \
tcp:[::1]:PORT" ]
}

@test "proxy: a TCP port in use exits 69 and says so" {
    start_peer echo echo-server tcp:127.0.0.1:0
    run --separate-stderr timeout 5 "$UDS" proxy "tcp:127.0.0.1:$PEER_PORT" "$T/s.sock"
    [ "$status" -eq 69 ]
    [ "$stderr" = "uds: tcp:127.0.0.1:$PEER_PORT: port in use by another program; stop it or \
choose another port" ]
}

@test "proxy: usage errors exit 64 with one message and a Try line" {
    local cases=(
        "tcp:127.0.0.1:0"
        "a b c"
        "--mode 0660 tcp:127.0.0.1:0 $T/s.sock"
        "--allow-uid 0 tcp:127.0.0.1:0 $T/s.sock"
        "--public $T/p.sock $T/s.sock"
        "--connect-timeout 0 $T/p.sock $T/s.sock"
        "--buffer-size 12 $T/p.sock $T/s.sock"
        "--busy-poll -1 $T/p.sock $T/s.sock"
        "-c 0 $T/p.sock $T/s.sock"
        "$T/p.sock tcp:127.0.0.1"
        "$T/p.sock tcp:127.0.0.1:0"
        "--bogus $T/p.sock $T/s.sock"
    )
    local c
    for c in "${cases[@]}"; do
        # shellcheck disable=SC2086 # word splitting is the point
        run --separate-stderr timeout 10 "$UDS" proxy $c
        echo "case: uds proxy $c -> $status: $stderr"
        [ "$status" -eq 64 ]
        [ -z "$output" ]
        [ "${#stderr_lines[@]}" -eq 2 ]
        [ "${stderr_lines[1]}" = "Try 'uds proxy --help'." ]
    done
    [ ! -e "$T/p.sock" ]
}

@test "proxy: the options it shares with serve are spelled, checked and worded as serve's" {
    local cases=(
        "-m 999" "--mode=abc" "--owner no-such-user-uds" "-g no-such-group-uds"
        "--allow-uid root,no-such-user-uds" "--allow-gid ," "-c 0" "--max-conns=x"
        "--idle-timeout x" "--drain-timeout 1x" "--ready-fd 99" "--log xml" "--verbose=1"
        "--mode" "-q -x"
    )
    local c serve_status serve_stderr
    for c in "${cases[@]}"; do
        # shellcheck disable=SC2086 # word splitting is the point
        run --separate-stderr timeout 5 "$UDS" serve $c "$T/s.sock"
        serve_status=$status serve_stderr=${stderr//uds serve/uds CMD}
        # shellcheck disable=SC2086
        run --separate-stderr timeout 5 "$UDS" proxy $c "$T/p.sock" "$T/s.sock"
        echo "case: $c -> serve $serve_status, proxy $status: $stderr"
        [ "$serve_status" -eq 64 ]
        [ "$status" -eq 64 ]
        [ "${stderr//uds proxy/uds CMD}" = "${serve_stderr//$T\/s.sock/$T\/p.sock}" ]
    done
    # The same help, line for line, for each shared option: its line and the indented lines
    # that continue it.
    entry() {
        "$UDS" "$1" --help | awk -v o="$2" '
            $1 == o || $1 == o "," { on = 1; print; next }
            on && /^                            / { print; next }
            { on = 0 }'
    }
    local opt
    for opt in -m -o -g --allow-uid --allow-gid -c --idle-timeout --drain-timeout --ready-fd \
        --log -q -v -h; do
        [ -n "$(entry serve "$opt")" ]
        [ "$(entry serve "$opt")" = "$(entry proxy "$opt")" ] ||
            { echo "help differs for $opt"; return 1; }
    done
}

# ---- PROXY protocol ------------------------------------------------------------------------

@test "proxy: --send-proxy sends a v1 header naming the TCP client first" {
    start_peer hdr header-server "$T/h.sock"
    start_proxy --send-proxy tcp:127.0.0.1:0 "$T/h.sock"
    local lport=${PROXY_ADDR##*:}
    run timeout 10 python3 - "$lport" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"after the header")
f = s.makefile("rb")
print(f.readline().decode().strip())
print(s.getsockname()[1])
print(f.read1(100).decode() if hasattr(f, "read1") else s.recv(100).decode())
EOF
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "v1 PROXY TCP4 127.0.0.1 127.0.0.1 ${lines[1]} $lport" ]
    [ "${lines[2]}" = "after the header" ]
}

@test "proxy: --send-proxy-v2 sends a binary header (TCP client; LOCAL for a Unix one)" {
    start_peer hdr header-server "$T/h.sock"
    start_proxy --send-proxy-v2 tcp:127.0.0.1:0 "$T/h.sock"
    local lport=${PROXY_ADDR##*:}
    run timeout 10 python3 - "$lport" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"x")
print(s.makefile("rb").readline().decode().strip())
print(s.getsockname()[1])
EOF
    [ "${lines[0]}" = "v2 cmd=0x21 len=12 TCP4 127.0.0.1 127.0.0.1 ${lines[1]} $lport" ]
    PROXY_LOG_FILE=$T/unix.log start_proxy --send-proxy-v2 "$T/p.sock" "$T/h.sock"
    run peer send-wait "$T/p.sock" "y" 5
    [ "${lines[0]}" = "v2 cmd=0x20 len=0 family 0x00" ]     # LOCAL: no address to give
}

# ---- stopping ------------------------------------------------------------------------------

@test "proxy: SIGTERM stops accepting, removes the socket, lets an open relay finish, exit 0" {
    start_server "$T/s.sock"
    start_proxy "$T/p.sock" "$T/s.sock"
    timeout 20 python3 - "$T/p.sock" "$T/go" >"$T/client.out" <<'EOF' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
print("connected", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
s.sendall(b"still relayed")
s.shutdown(socket.SHUT_WR)
print(s.recv(100).decode(), flush=True)
EOF
    local client=$!
    wait_for_line "$T/client.out" connected
    kill -TERM "$PROXY_PID"
    wait_for_line "$PROXY_LOG" "stopping on SIGTERM: no new clients, finishing 1 connection"
    wait_path_gone "$T/p.sock"
    [ ! -e "$T/p.sock.lock" ]
    kill -0 "$PROXY_PID"
    touch "$T/go"
    wait "$client"
    [ "$(tail -1 "$T/client.out")" = "still relayed" ]
    wait_status "$PROXY_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    grep -q "p.sock: stopped" "$PROXY_LOG"
}

@test "proxy: --drain-timeout closes a relay that does not finish; exit 0" {
    start_server "$T/s.sock"
    start_proxy --drain-timeout 0.3 "$T/p.sock" "$T/s.sock"
    peer hold "$T/p.sock" hanging "$T/never" >"$T/hold.out" &
    wait_for_line "$T/hold.out" hanging
    kill -TERM "$PROXY_PID"
    wait_status "$PROXY_PID" 5
    [ "$WAIT_STATUS" -eq 0 ]
    grep -qF "1 connection still open after 0.3s (--drain-timeout): closing them" "$PROXY_LOG"
    touch "$T/never"
}

# ---- socket activation -------------------------------------------------------------------

# start_activated_proxy [--datagram] SOCKET [PROXY ARGS...] LISTEN TARGET: `uds proxy` under
# systemd-socket-activate, which binds SOCKET (a path or HOST:PORT; a dgram one with
# --datagram) and, at the first connection, execs the proxy in its own place (same pid) with
# the socket as fd 3; waited for by its "Listening on" line. Sets PROXY_PID and PROXY_LOG.
start_activated_proxy() {
    command -v systemd-socket-activate >/dev/null ||
        skip "systemd-socket-activate is not installed (Debian package systemd)"
    local sa_opts=()
    if [ "$1" = --datagram ]; then
        sa_opts+=("$1")
        shift
    fi
    local socket=$1
    shift
    PROXY_LOG=$T/proxy.log
    bg_start "$PROXY_LOG" systemd-socket-activate "${sa_opts[@]}" -l "$socket" "$UDS" proxy "$@"
    PROXY_PID=$BG_PID
    wait_for_line "$PROXY_LOG" "^Listening on "
}

# wake PATH [dgram]: a client that connects to PATH (or sends it one datagram) and leaves at
# once, to make systemd-socket-activate start the proxy without a client waiting on it.
wake() {
    timeout 5 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM if sys.argv[2:] else socket.SOCK_STREAM)
s.sendto(b"x", sys.argv[1]) if sys.argv[2:] else s.connect(sys.argv[1])' "$@"
}

@test "proxy: socket-activated on a Unix socket: real clients to a real echo server, byte for byte" {
    start_server "$T/s.sock"
    start_activated_proxy "$T/p.sock" -v "$T/p.sock" "$T/s.sock"
    # The first client wakes systemd-socket-activate, which execs the proxy on its socket.
    run peer echo-check "$T/p.sock" $((8 << 20))
    [ "$output" = "ok $((8 << 20))" ]
    grep -qxF "uds: $T/p.sock: using the socket passed by the service manager (LISTEN_FDS)" \
        "$PROXY_LOG"
    grep -qxF "uds: listening on $T/p.sock; forwarding to $T/s.sock" "$PROXY_LOG"
    [ "$(readlink "/proc/$PROXY_PID/exe")" = "$(readlink -f "$UDS")" ]
    # It serves on after the first client: the inherited socket does not block it in accept.
    run timeout 10 socat - "UNIX-CONNECT:$T/p.sock" <<<"a second client"
    [ "$output" = "a second client" ]
    run py_echo "$T/p.sock" "and a third"
    [ "$output" = "and a third" ]
    wait_for_line "$PROXY_LOG" "closed connection from .* after 11 bytes"
    [ "$(grep -c 'closed connection from' "$PROXY_LOG")" -eq 3 ]
    # It bound nothing itself: no lock file, no stale-socket handling.
    [ ! -e "$T/p.sock.lock" ]
    ! grep -q "removed stale" "$PROXY_LOG"
    kill -TERM "$PROXY_PID"
    wait_status "$PROXY_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    grep -qF "uds: $T/p.sock: stopped" "$PROXY_LOG"
    # The socket file is the service manager's: not the proxy's to remove.
    [ -S "$T/p.sock" ]
    rm -f "$T/p.sock"
}

@test "proxy: socket-activated with --mode: warns that the .socket unit sets it, file untouched" {
    start_server "$T/s.sock"
    start_activated_proxy "$T/p.sock" --mode 0666 "$T/p.sock" "$T/s.sock"
    local before
    before=$(stat -c %a "$T/p.sock")
    run py_echo "$T/p.sock" "hello"
    [ "$output" = "hello" ]
    wait_for_line "$PROXY_LOG" "are not applied to a socket passed by the service manager"
    grep -qF "SocketMode=, SocketUser= and SocketGroup= in its .socket unit" "$PROXY_LOG"
    [ "$(stat -c %a "$T/p.sock")" = "$before" ]
    kill -TERM "$PROXY_PID"
    wait_status "$PROXY_PID"
    rm -f "$T/p.sock"
}

@test "proxy: socket-activated on a TCP port, in front of a Unix echo server" {
    start_server "$T/s.sock"
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
    start_activated_proxy "127.0.0.1:$port" "tcp:127.0.0.1:$port" "$T/s.sock"
    run peer echo-check "tcp:127.0.0.1:$port" $((4 << 20))
    [ "$output" = "ok $((4 << 20))" ]
    grep -qxF "uds: tcp:127.0.0.1:$port: using the socket passed by the service manager \
(LISTEN_FDS)" "$PROXY_LOG"
    run peer echo-check "tcp:127.0.0.1:$port" 1000
    [ "$output" = "ok 1000" ]
    kill -TERM "$PROXY_PID"
    wait_status "$PROXY_PID"
    [ "$WAIT_STATUS" -eq 0 ]
}

@test "proxy: a passed socket bound to another address is not taken; LISTEN is bound as usual" {
    start_server "$T/s.sock"
    start_activated_proxy "$T/other.sock" "$T/p.sock" "$T/s.sock"
    wake "$T/other.sock"
    wait_for_line "$PROXY_LOG" "listening on"
    ! grep -q "passed by the service manager" "$PROXY_LOG"
    [ "$(stat -c %a "$T/p.sock")" = "600" ]
    [ -e "$T/p.sock.lock" ]
    run peer send-wait "$T/p.sock" "bound by the proxy" 5
    [ "$output" = "bound by the proxy" ]
    kill -TERM "$PROXY_PID"
    wait_status "$PROXY_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -e "$T/p.sock" ]
    [ -S "$T/other.sock" ]
    rm -f "$T/other.sock"
}

@test "proxy: a passed socket of the wrong type at LISTEN is a usage error (64)" {
    start_activated_proxy --datagram "$T/p.sock" "$T/p.sock" "$T/s.sock"
    wake "$T/p.sock" dgram
    wait_status "$PROXY_PID"
    [ "$WAIT_STATUS" -eq 64 ]
    grep -qxF "uds proxy: $T/p.sock: the socket passed by the service manager is dgram; a \
stream socket is needed (ListenStream= in a .socket unit)" "$PROXY_LOG"
    rm -f "$T/p.sock"
}

# ---- docs ----------------------------------------------------------------------------------

@test "proxy: --help on stdout, and every option of it is in the man page" {
    run --separate-stderr timeout 5 "$UDS" proxy --help
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [[ "$output" == "Usage: uds proxy [OPTIONS] LISTEN TARGET"* ]]
    [[ "$output" == *"Exit status:"* ]]
    help_in_man "$output"
}
