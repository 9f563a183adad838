#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds proxy --type dgram`: datagrams between two Unix datagram sockets. Boundaries both
# ways (an empty datagram too), each sender answered alone, a slow target that makes its
# senders wait and loses nothing, an fd passed through, the senders' credentials as root
# and the proxy's after --user, an allow-list, a target that comes late, idle senders
# forgotten, the stop, and the usage errors for TCP, TLS and what needs connections. The
# peers are `uds serve --type dgram`, `uds listen --type dgram`, socat (UNIX-SENDTO,
# UNIX-RECVFROM), util-linux's logger and Python's socket module (proxy_dgram_peer.py).

load helpers

PEER="$BATS_TEST_DIRNAME/proxy_dgram_peer.py"

# start_proxy [PROXY ARGS...] LISTEN TARGET: `uds proxy --type dgram` in the background,
# waited for by its readiness line; sets PROXY_PID and PROXY_LOG.
start_proxy() {
    PROXY_LOG=$T/proxy.log
    bg_start "$PROXY_LOG" "$UDS" proxy --type dgram "$@"
    PROXY_PID=$BG_PID
    wait_for_line "$PROXY_LOG" 'listening on'
}

# start_peer NAME SUBCOMMAND PATH: a proxy_dgram_peer.py server, waited for. A Python
# server leaves its socket file behind when stopped: that one is expected.
start_peer() {
    local name=$1 sub=$2 path=$3
    bg_start "$T/$name.err" /usr/bin/python3 "$PEER" "$sub" "$path" "$T/$name.ready"
    wait_path "$T/$name.ready" 10
    LEFTOVER_OK+=("$path")
}

peer() {
    timeout 30 /usr/bin/python3 "$PEER" "$@"
}

@test "proxy --type dgram: boundaries kept both ways, an empty datagram too, through uds serve" {
    start_server --type dgram "$T/app.sock"
    start_proxy "$T/front.sock" "$T/app.sock"
    run peer sizes "$T/front.sock" "$T/c.sock" 1 1000 0 3 60000
    [ "$output" = "1 1000 0 3 60000" ]
}

@test "proxy --type dgram: two senders interleaved, each gets its own answers and no other" {
    start_server --type dgram "$T/app.sock"
    start_proxy "$T/front.sock" "$T/app.sock"
    run peer two "$T/front.sock" "$T/a.sock" "$T/b.sock"
    [ "$output" = "a: a1 a2 a3 b: b1 b2" ]
}

@test "proxy --type dgram: abstract names on both sides, uds send as the sender" {
    start_server --type dgram "@uds-pd-app-$$"
    start_proxy "@uds-pd-front-$$" "@uds-pd-app-$$"
    grep -q "an abstract socket has no file permissions" "$PROXY_LOG"
    run timeout 10 "$UDS" send --type dgram "@uds-pd-front-$$" "Hi server!"
    [ "$status" -eq 0 ]
    [ "$output" = "Hi server!" ]
}

@test "proxy --type dgram: socat UNIX-SENDTO through the proxy to socat UNIX-RECVFROM and back" {
    LEFTOVER_OK+=("$T/app.sock" "$T/c.sock")
    bg_start "$T/socat.err" timeout 30 socat UNIX-RECVFROM:"$T/app.sock",fork \
        EXEC:'tr a-z A-Z'
    wait_path "$T/app.sock"
    start_proxy "$T/front.sock" "$T/app.sock"
    run bash -c 'printf "hello there" |
        timeout 10 socat -t 1 - UNIX-SENDTO:"$0/front.sock",bind="$0/c.sock"' "$T"
    [ "$output" = "HELLO THERE" ]
}

@test "proxy --type dgram: a target that reads late makes the sender wait; nothing is lost" {
    start_peer slow slow-server "$T/app.sock"
    start_proxy "$T/front.sock" "$T/app.sock"
    run peer burst "$T/front.sock" "$T/c.sock" 500
    [ "$output" = "got 500 in order" ]
    ! grep -q dropped "$PROXY_LOG"
}

@test "proxy --type dgram: an fd passed with a datagram reaches the target, usable there" {
    echo "what the file holds" >"$T/file"
    start_peer fds fd-server "$T/app.sock"
    start_proxy "$T/front.sock" "$T/app.sock"
    run peer pass-fd "$T/front.sock" "$T/c.sock" "$T/file"
    [ "$output" = "what the file holds" ]
}

@test "proxy --type dgram: run as root, the target sees each sender's own uid and gid" {
    need_root
    start_peer creds creds-server "$T/app.sock"
    start_proxy --mode 0666 "$T/front.sock" "$T/app.sock"
    grep -q "each datagram carries its sender's own pid, uid and gid" "$PROXY_LOG"
    run as_nobody timeout 10 /usr/bin/python3 "$PEER" say "$T/front.sock" "@uds-pd-$$" hi
    [ "$output" = "uid $NOBODY gid $NOBODY" ]
    run peer say "$T/front.sock" "$T/c.sock" hi
    [ "$output" = "uid 0 gid 0" ]
}

@test "proxy --type dgram --user nobody: the target sees the proxy, and the log says so" {
    need_root
    mkdir "$T/run"
    chown "$NOBODY:$NOBODY" "$T/run"
    start_peer creds creds-server "$T/app.sock"
    start_proxy --user nobody "$T/run/front.sock" "$T/app.sock"
    grep -q "senders reach it as this proxy (pid $PROXY_PID uid $NOBODY gid $NOBODY)" \
        "$PROXY_LOG"
    # An abstract sender: a socket file of root's would not take the nobody proxy's answer.
    run peer say "$T/run/front.sock" "@uds-pd-$$" hi
    [ "$output" = "uid $NOBODY gid $NOBODY" ]
}

@test "proxy --type dgram --allow-uid: another sender is dropped and logged, the target untouched" {
    need_root
    start_server -v --type dgram "$T/app.sock"
    start_proxy --mode 0666 --allow-uid 0 "$T/front.sock" "$T/app.sock"
    run as_nobody timeout 10 /usr/bin/python3 "$PEER" say "$T/front.sock" "@uds-pd-$$" hi
    [ "$output" = "no answer" ]
    local who="@uds-pd-$$ \(pid [0-9]+ uid $NOBODY gid $NOBODY\)"
    wait_for_line "$PROXY_LOG" "a datagram from $who dropped: not allowed here"
    run grep -c "datagram from" "$SERVER_LOG"
    [ "$output" = 0 ]
    run peer say "$T/front.sock" "$T/c.sock" "root may"
    [ "$output" = "root may" ]
}

@test "proxy --type dgram: a target not there yet: a warning, drops logged, then it is served" {
    start_proxy "$T/front.sock" "$T/app.sock"
    grep -q "$T/app.sock: No such file or directory; datagrams are dropped until a server" \
        "$PROXY_LOG"
    run peer say "$T/front.sock" "$T/c.sock" early
    [ "$output" = "no answer" ]
    wait_for_line "$PROXY_LOG" "dropped: $T/app.sock: no such socket; is the server running\?"
    start_server --type dgram "$T/app.sock"
    run peer say "$T/front.sock" "$T/c.sock" later
    [ "$output" = later ]
    kill -TERM "$PROXY_PID"
    wait_status "$PROXY_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    grep -q "1 datagram dropped in all" "$PROXY_LOG"
}

@test "proxy --type dgram: a quiet sender is forgotten after --idle-timeout (-v says so)" {
    start_server --type dgram "$T/app.sock"
    start_proxy -v --idle-timeout 0.2 "$T/front.sock" "$T/app.sock"
    run peer say "$T/front.sock" "$T/c.sock" once
    [ "$output" = once ]
    grep -q "sender $T/c.sock (pid [0-9]* uid $MY_UID gid $MY_GID)$" "$PROXY_LOG"
    wait_for_line "$PROXY_LOG" "sender $T/c.sock .* forgotten: 4 bytes to $T/app.sock, 4 back"
}

@test "proxy --type dgram: SIGTERM stops it with status 0 and removes its socket file" {
    start_server --type dgram "$T/app.sock"
    start_proxy "$T/front.sock" "$T/app.sock"
    run peer say "$T/front.sock" "$T/c.sock" hi
    [ "$output" = hi ]
    kill -TERM "$PROXY_PID"
    wait_status "$PROXY_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -e "$T/front.sock" ]
    grep -q "front.sock: stopping on SIGTERM" "$PROXY_LOG"
}

@test "proxy --type dgram: TCP or TLS on either side, or what needs connections: usage errors" {
    run --separate-stderr "$UDS" proxy --type dgram tcp:127.0.0.1:9000 "$T/app.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"--type dgram relays between two Unix datagram sockets;"* ]]
    [[ "$stderr" == *"LISTEN 'tcp:127.0.0.1:9000' is TCP"* ]]
    run --separate-stderr "$UDS" proxy --type dgram "$T/front.sock" tls:db.example:5432
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"TARGET 'tls:db.example:5432' is TLS"* ]]
    run --separate-stderr "$UDS" proxy --type dgram --send-proxy "$T/front.sock" "$T/app.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"--send-proxy needs connections: not with --type dgram"* ]]
    run --separate-stderr "$UDS" proxy --type dgram --first-byte-timeout 1 "$T/f.sock" "$T/a.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"--first-byte-timeout needs connections"* ]]
    run --separate-stderr "$UDS" proxy --type dgram --connect-timeout 2 "$T/f.sock" "$T/a.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"--connect-timeout needs connections"* ]]
    run --separate-stderr "$UDS" proxy --type dgram --cert x.pem "$T/f.sock" "$T/a.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"--cert is for a tls:HOST:PORT LISTEN or TARGET"* ]]
    run --separate-stderr "$UDS" proxy --type seqpacket "$T/f.sock" "$T/a.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"the proxy relays stream (the default) or dgram sockets"* ]]
    [ ! -e "$T/front.sock" ] && [ ! -e "$T/f.sock" ]
}

@test "proxy --type dgram: a stream server as TARGET is refused before listening (69)" {
    start_server "$T/app.sock"
    run --separate-stderr "$UDS" proxy --type dgram "$T/front.sock" "$T/app.sock"
    [ "$status" -eq 69 ]
    [[ "$stderr" == *"$T/app.sock: not a datagram socket; point TARGET at a datagram server"* ]]
    [ ! -e "$T/front.sock" ]
}

@test "proxy --type dgram: TARGET that is LISTEN itself is refused" {
    run --separate-stderr "$UDS" proxy --type dgram "$T/front.sock" "$T/front.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"is this proxy's own socket"* ]]
    [ ! -e "$T/front.sock" ]
}

@test "proxy --type dgram: logger(1) as nobody sends syslog lines through it; the listener sees nobody" {
    command -v logger >/dev/null || skip "logger is not installed (Debian package bsdutils)"
    bg_start "$T/listen.err" bash -c 'exec "$@" >"$0"' "$T/got.json" timeout 20 \
        "$UDS" listen --type dgram --json -n 2 "$T/log.sock"
    local listener=$BG_PID
    wait_for_line "$T/listen.err" 'listening on'
    start_proxy --mode 0666 "$T/front.sock" "$T/log.sock"
    # A syslog client as the sockets of /dev/log see them: util-linux's logger, as root and
    # as another user.
    logger -u "$T/front.sock" --socket-errors=on -t demo "hello from root"
    as_nobody logger -u "$T/front.sock" --socket-errors=on -t demo "hello from nobody"
    wait_status "$listener" 10
    /usr/bin/python3 - "$T/got.json" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 2, lines
for d, uid, text in zip(lines, (0, 65534), ("hello from root", "hello from nobody")):
    assert d["uid"] == uid, d
    assert d["data"].startswith("<13>") and d["data"].endswith("demo: " + text), d
print("ok")
PY
}

@test "proxy --type dgram: one user binding name after name holds its share of senders, not every slot" {
    need_root
    start_server --type dgram "$T/app.sock"
    start_proxy --mode 0666 --max-conns 4 "$T/front.sock" "$T/app.sock"
    mkdir -m 1777 "$T/names"
    # nobody makes 4 senders, each bound to a name of its own; its share is 2 (half of 4).
    run as_nobody timeout 10 /usr/bin/python3 - "$T/front.sock" "$T/names" <<'PY'
import os, socket, sys
got = []
for i in range(4):
    name = os.path.join(sys.argv[2], "n%d.sock" % i)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(name)
    s.settimeout(1)
    s.sendto(b"mine %d" % i, sys.argv[1])
    try:
        got.append(s.recv(100).decode())
    except socket.timeout:
        got.append("-")
    s.close()
    os.unlink(name)
print(" ".join(got))
PY
    echo "$output"
    [ "$output" = "mine 0 mine 1 - -" ]
    wait_for_line "$PROXY_LOG" "a datagram from $T/names/n2.sock \(pid [0-9]+ uid $NOBODY gid \
$NOBODY\) dropped: uid $NOBODY has 2 senders remembered already, its share \
\(--max-conns-per-uid 2\)"
    # Another user is still taken in, and answered.
    run timeout 5 "$UDS" send --type dgram "$T/front.sock" "still room for root"
    [ "$status" -eq 0 ]
    [ "$output" = "still room for root" ]
}
