#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds serve`: safe listen (stale, live, not-a-socket, missing directory), permissions and
# allow-lists, abstract names, socket types, limits, signals, readiness and logs.

load helpers

# ---- safe listen ---------------------------------------------------------------------------

@test "serve: socket file gets the default mode 0600, and a stop removes it and its lock" {
    start_server "$T/s.sock"
    [ -S "$T/s.sock" ]
    [ "$(stat -c %a "$T/s.sock")" = "600" ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -e "$T/s.sock" ]
    [ ! -e "$T/s.sock.lock" ]
    grep -q "s.sock: stopped" "$SERVER_LOG"
}

@test "serve: stale socket from a killed server is replaced, and the removal logged" {
    start_server "$T/s.sock"
    kill -KILL "$SERVER_PID"
    wait_exit "$SERVER_PID"
    [ -S "$T/s.sock" ]
    SERVER_LOG_FILE=$T/server2.log start_server "$T/s.sock"
    grep -qxF "uds: $T/s.sock: removed stale socket file (no server was listening)" "$T/server2.log"
    run timeout 5 "$UDS" send "$T/s.sock" "after restart"
    [ "$output" = "after restart" ]
}

@test "serve: second server on the same path exits 69 naming the first one's pid; first serves on" {
    start_server "$T/s.sock"
    run --separate-stderr timeout 5 "$UDS" serve "$T/s.sock"
    [ "$status" -eq 69 ]
    [ "$stderr" = "uds: $T/s.sock: in use by a running server (pid $SERVER_PID); not removed" ]
    run timeout 5 "$UDS" send "$T/s.sock" "still here"
    [ "$output" = "still here" ]
}

@test "serve: path that is a regular file exits 73 and leaves the file untouched" {
    printf 'precious\n' >"$T/f.sock"
    local before
    before=$(stat -c '%i %s %Y' "$T/f.sock")
    run --separate-stderr timeout 5 "$UDS" serve "$T/f.sock"
    [ "$status" -eq 73 ]
    [ "$stderr" = "uds: $T/f.sock: exists and is not a socket; remove it or choose another path" ]
    [ "$(cat "$T/f.sock")" = "precious" ]
    [ "$(stat -c '%i %s %Y' "$T/f.sock")" = "$before" ]
}

@test "serve: path that is a directory exits 73 and leaves it alone" {
    mkdir "$T/d.sock"
    touch "$T/d.sock/keep"
    run --separate-stderr timeout 5 "$UDS" serve "$T/d.sock"
    [ "$status" -eq 73 ]
    [[ "$stderr" == *"exists and is not a socket"* ]]
    [ -f "$T/d.sock/keep" ]
}

@test "serve: missing directory exits 73 and names it" {
    run --separate-stderr timeout 5 "$UDS" serve "$T/nodir/s.sock"
    [ "$status" -eq 73 ]
    local want="uds: $T/nodir/s.sock: directory $T/nodir does not exist;"
    [ "$stderr" = "$want create it or choose another path" ]
}

@test "serve: unprivileged user in a directory it cannot write exits 77" {
    need_root
    run --separate-stderr as_nobody timeout 5 "$UDS" serve "$T/s.sock"
    [ "$status" -eq 77 ]
    [[ "$stderr" == "uds: $T/s.sock: permission denied (directory $T is not writable: "* ]]
    [[ "$stderr" == *": drwxr-xr-x root:"* ]]
    [[ "$stderr" == *"you are uid $NOBODY)"* ]]
}

@test "serve: ss -x shows the listening socket" {
    start_server "$T/s.sock"
    run ss -xlH
    [[ "$output" == *" $T/s.sock "* ]]
}

# ---- permissions and allow-lists -------------------------------------------------------------

@test "serve: --mode 0660 --group sets the file's mode and group" {
    need_root
    local group
    group=$(getent group "$NOBODY" | cut -d: -f1)
    [ -n "$group" ]
    start_server --mode 0660 --group "$group" "$T/s.sock"
    [ "$(stat -c '%a %g %u' "$T/s.sock")" = "660 $NOBODY 0" ]
}

@test "serve: --owner sets the file's owner, and the server can still remove it" {
    need_root
    start_server --owner "$NOBODY" -m 0640 "$T/s.sock"
    [ "$(stat -c '%a %u' "$T/s.sock")" = "640 $NOBODY" ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -e "$T/s.sock" ]
}

@test "serve: --allow-uid 0 refuses a nobody client (logged with its uid) and serves root" {
    need_root
    start_server --mode 0666 --allow-uid root "$T/s.sock"
    run --separate-stderr as_nobody timeout 5 "$UDS" send "$T/s.sock" "let me in"
    [ -z "$output" ]
    wait_for_line "$SERVER_LOG" \
        "refused pid [0-9]+ uid $NOBODY gid $NOBODY: not in --allow-uid/--allow-gid"
    run timeout 5 "$UDS" send "$T/s.sock" "root here"
    [ "$status" -eq 0 ]
    [ "$output" = "root here" ]
}

@test "serve: --allow-gid admits members of the group and refuses others" {
    need_root
    start_server --mode 0666 --allow-gid "$NOBODY" "$T/s.sock"
    run as_nobody timeout 5 "$UDS" send "$T/s.sock" "member"
    [ "$output" = "member" ]
    run --separate-stderr timeout 5 "$UDS" send "$T/s.sock" "root is not in it"
    [ -z "$output" ]
    wait_for_line "$SERVER_LOG" "refused pid [0-9]+ uid 0 gid 0"
}

@test "serve: abstract @name serves, shows in ss -x, and warns that anyone can connect" {
    local name
    name=$(abstract_name)
    start_server "$name"
    grep -qF "uds: $name: an abstract socket has no file permissions: anyone in this network \
namespace can connect" "$SERVER_LOG"
    run ss -xlH
    [[ "$output" == *" $name "* ]]
    run timeout 5 "$UDS" send "$name" "abstract"
    [ "$output" = "abstract" ]
    run timeout 5 "$UDS" send "unix:$name" "explicit"
    [ "$output" = "explicit" ]
}

@test "serve: abstract @name with an allow-list does not warn" {
    start_server --allow-uid 0 "$(abstract_name)"
    ! grep -q "anyone in this network namespace" "$SERVER_LOG"
}

# ---- socket types ----------------------------------------------------------------------------

@test "serve: seqpacket echo keeps message boundaries (Python client)" {
    start_server --type seqpacket "$T/s.sock"
    run timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(5)
s.connect(sys.argv[1])
s.send(b"one")
s.send(b"two!")
print(s.recv(100).decode(), s.recv(100).decode())
' "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = "one two!" ]
}

@test "serve: seqpacket --reply answers each message with exactly TEXT" {
    start_server --type seqpacket --reply ack "$T/s.sock"
    run timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(5)
s.connect(sys.argv[1])
s.send(b"a\nb")
s.send(b"c")
print(repr(s.recv(100)), repr(s.recv(100)))
' "$T/s.sock"
    [ "$output" = "b'ack' b'ack'" ]
}

@test "serve: dgram echo answers the sender's address (Python client)" {
    start_server --type dgram "$T/d.sock"
    run timeout 10 python3 -c '
import socket, sys
c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
c.bind(sys.argv[2])
c.settimeout(5)
c.sendto(b"ping", sys.argv[1])
c.sendto(b"pong", sys.argv[1])
print(c.recv(100).decode(), c.recv(100).decode())
' "$T/d.sock" "$T/client.sock"
    rm -f "$T/client.sock"
    [ "$status" -eq 0 ]
    [ "$output" = "ping pong" ]
}

@test "serve: dgram --reply, and a sender without an address is logged, not answered" {
    start_server --type dgram --reply pong "$T/d.sock"
    run timeout 10 python3 -c '
import socket, sys
c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
c.bind("\0" + sys.argv[2])
c.settimeout(5)
c.sendto(b"ping", sys.argv[1])
print(c.recv(100).decode())
u = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
u.sendto(b"from nowhere", sys.argv[1])
' "$T/d.sock" "uds-test-$$-$RANDOM"
    [ "$status" -eq 0 ]
    [ "$output" = "pong" ]
    wait_for_line "$SERVER_LOG" \
        "cannot answer the datagram from pid [0-9]+ $MY_IDS: its socket is not bound"
}

@test "serve: dgram --allow-uid refuses a nobody sender" {
    need_root
    start_server --type dgram --mode 0666 --allow-uid 0 "$T/d.sock"
    run as_nobody timeout 3 "$UDS" send --type dgram --timeout 0.5 "$T/d.sock" "hi"
    [ "$status" -eq 75 ]
    wait_for_line "$SERVER_LOG" "refused pid [0-9]+ uid $NOBODY"
}

# ---- limits --------------------------------------------------------------------------------

@test "serve: --max-conns 1 makes a second client wait until the first leaves" {
    start_server --max-conns 1 "$T/s.sock"
    mkfifo "$T/in1"
    bg_start "$T/c1.err" bash -c 'exec "$0" connect "$1" <"$2" >"$3"' \
        "$UDS" "$T/s.sock" "$T/in1" "$T/out1"
    local c1=$BG_PID
    exec 5>"$T/in1"
    echo one >&5
    wait_for_line "$T/out1" '^one$'
    # The second client is queued in the backlog, not served, while the first stays.
    run timeout 1 "$UDS" send "$T/s.sock" two
    [ "$status" -eq 124 ]
    exec 5>&-
    wait_status "$c1"
    [ "$WAIT_STATUS" -eq 0 ]
    run timeout 5 "$UDS" send "$T/s.sock" three
    [ "$status" -eq 0 ]
    [ "$output" = "three" ]
}

@test "serve: --idle-timeout closes an idle client and logs it with -v" {
    start_server -v --idle-timeout 0.3 "$T/s.sock"
    run timeout 10 python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
t0 = time.monotonic()
data = s.recv(10)
print(len(data), time.monotonic() - t0 >= 0.2)
' "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = "0 True" ]
    wait_for_line "$SERVER_LOG" \
        "closed connection from pid [0-9]+ $MY_IDS: idle for 0.3s \(--idle-timeout\)"
}

@test "serve: --max-conns beyond the hard open-file limit warns with the numbers" {
    bg_start "$T/server.log" \
        bash -c 'ulimit -Sn 512; ulimit -Hn 1024; exec "$0" serve -c 5000 "$1"' "$UDS" "$T/s.sock"
    SERVER_PID=$BG_PID
    wait_for_line "$T/server.log" "listening on"
    grep -qF -- "--max-conns 5000 needs about 5032 open files but the hard limit is 1024" \
        "$T/server.log"
    # The soft limit was raised to the hard one.
    grep -E "^Max open files +1024 +1024" "/proc/$SERVER_PID/limits"
}

# ---- signals -------------------------------------------------------------------------------

@test "serve: SIGTERM lets a client in mid-exchange finish, removes the socket, exits 0" {
    start_server --reply done "$T/s.sock"
    run timeout 10 python3 -c '
import os, signal, socket, sys, time
path, pid = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(path)
s.sendall(b"half a li")
time.sleep(0.1)
os.kill(pid, signal.SIGTERM)
for _ in range(250):            # the socket file goes first: no new clients
    if not os.path.exists(path):
        break
    time.sleep(0.02)
print("gone" if not os.path.exists(path) else "still there")
s.sendall(b"ne\n")
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(100)
    if not b:
        break
    out += b
print(out.decode(), end="")
' "$T/s.sock" "$SERVER_PID"
    [ "$status" -eq 0 ]
    [ "$output" = $'gone\ndone' ]
    wait_status "$SERVER_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -e "$T/s.sock" ]
    [ ! -e "$T/s.sock.lock" ]
    grep -q "stopping on SIGTERM" "$SERVER_LOG"
}

@test "serve: SIGINT stops gracefully too (even in a background job)" {
    start_server "$T/s.sock"
    kill -INT "$SERVER_PID"
    wait_status "$SERVER_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -e "$T/s.sock" ]
    grep -q "stopping on SIGINT" "$SERVER_LOG"
}

@test "serve: a second signal stops at once, cutting off clients (exit 1)" {
    start_server -v --drain-timeout 30 "$T/s.sock"
    mkfifo "$T/in1"
    bg_start "$T/c1.err" bash -c 'exec "$0" connect "$1" <"$2" >"$3"' \
        "$UDS" "$T/s.sock" "$T/in1" "$T/out1"
    local c1=$BG_PID
    exec 5>"$T/in1"
    echo held >&5
    wait_for_line "$T/out1" '^held$'
    kill -TERM "$SERVER_PID"
    wait_for_line "$SERVER_LOG" "stopping on SIGTERM: no new clients, finishing 1 connection"
    kill -0 "$SERVER_PID"       # still draining: the client has not finished
    kill -TERM "$SERVER_PID"
    wait_status "$SERVER_PID" 3
    [ "$WAIT_STATUS" -eq 1 ]
    grep -q "SIGTERM again: stopping now, closing 1 connection" "$SERVER_LOG"
    [ ! -e "$T/s.sock" ]
    wait_status "$c1"           # the client saw the end of the stream
    [ "$WAIT_STATUS" -eq 0 ]
    exec 5>&-
}

@test "serve: --drain-timeout bounds a graceful stop" {
    start_server --drain-timeout 0.3 "$T/s.sock"
    mkfifo "$T/in1"
    bg_start "$T/c1.err" bash -c 'exec "$0" connect "$1" <"$2" >"$3"' \
        "$UDS" "$T/s.sock" "$T/in1" "$T/out1"
    exec 5>"$T/in1"
    echo held >&5
    wait_for_line "$T/out1" '^held$'
    kill -TERM "$SERVER_PID"
    wait_status "$SERVER_PID" 3
    [ "$WAIT_STATUS" -eq 0 ]
    exec 5>&-
}

# ---- readiness and logs ----------------------------------------------------------------------

@test "serve: --ready-fd gets a newline once ready, then is closed" {
    bg_start "$T/server.log" bash -c 'exec "$0" serve -q --ready-fd 4 "$1" 4>"$2"' \
        "$UDS" "$T/s.sock" "$T/ready"
    SERVER_PID=$BG_PID
    wait_until 5 test -s "$T/ready"
    [ "$(od -An -c "$T/ready" | tr -d ' ')" = '\n' ]
    [ ! -e "/proc/$SERVER_PID/fd/4" ]
    run timeout 5 "$UDS" send "$T/s.sock" ready
    [ "$output" = "ready" ]
    # -q: nothing on stderr when all is well.
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -s "$T/server.log" ]
}

@test "serve: NOTIFY_SOCKET gets READY=1 when ready and STOPPING=1 on stop" {
    notify_listener
    NOTIFY_SOCKET=$NOTIFY_NAME start_server "$T/s.sock"
    wait_for_line "$T/notify.out" '^READY=1$'
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    wait_for_line "$T/notify.out" '^STOPPING=1$'
}

# activate TYPE PATH [SERVE ARGS...]: exec `uds serve ARGS... basename(PATH)` with a TYPE
# socket bound at PATH passed as fd 3 (LISTEN_FDS=1), as systemd would; sets SERVER_PID.
activate() {
    cat >"$T/activate.py" <<'EOF'
import os, socket, sys
kind, path, uds = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, {"stream": socket.SOCK_STREAM,
                                   "dgram": socket.SOCK_DGRAM}[kind])
s.bind(path)
if kind != "dgram":
    s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)     # the socket may already be fd 3, with O_CLOEXEC
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1", LISTEN_FDNAMES="app")
os.chdir(os.path.dirname(path))  # a relative ADDRESS names the same socket
os.execv(uds, [uds, "serve"] + sys.argv[4:] + [os.path.basename(path)])
EOF
    local kind=$1 path=$2
    shift 2
    bg_start "$T/server.log" python3 "$T/activate.py" "$kind" "$path" "$UDS" "$@"
    SERVER_PID=$BG_PID
    SERVER_LOG=$T/server.log
}

@test "serve: socket activation uses the LISTEN_FDS socket instead of binding" {
    activate stream "$T/s.sock"
    wait_for_line "$T/server.log" "listening on"
    grep -qF "uds: $T/s.sock: using the socket passed by the service manager (LISTEN_FDS)" \
        "$T/server.log"
    run timeout 5 "$UDS" send "$T/s.sock" activated
    [ "$output" = "activated" ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    # The service manager made the socket file; it is not ours to remove.
    [ -S "$T/s.sock" ]
    rm -f "$T/s.sock"
}

@test "serve: socket activation of a dgram socket" {
    activate dgram "$T/d.sock" --type dgram
    wait_for_line "$T/server.log" "listening on"
    run timeout 5 "$UDS" send --type dgram "$T/d.sock" activated
    [ "$output" = "activated" ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    rm -f "$T/d.sock"
}

@test "serve: an activated socket of another type than --type is a usage error" {
    activate stream "$T/s.sock" --type dgram
    wait_status "$SERVER_PID"
    [ "$WAIT_STATUS" -eq 64 ]
    grep -qF "the socket passed by the service manager is stream, not dgram" "$T/server.log"
    rm -f "$T/s.sock"
}

@test "serve: under systemd-socket-activate it serves on the inherited socket and leaves it" {
    command -v systemd-socket-activate >/dev/null ||
        skip "systemd-socket-activate is not installed (Debian package systemd)"
    # It binds the socket, and execs the server in its own place at the first connection.
    bg_start "$T/server.log" systemd-socket-activate -l "$T/s.sock" "$UDS" serve "$T/s.sock"
    SERVER_PID=$BG_PID
    SERVER_LOG=$T/server.log
    wait_for_line "$T/server.log" "^Listening on "
    run py_echo "$T/s.sock" "first"
    [ "$output" = "first" ]
    grep -qxF "uds: $T/s.sock: using the socket passed by the service manager (LISTEN_FDS)" \
        "$T/server.log"
    run timeout 5 "$UDS" send "$T/s.sock" "second"
    [ "$output" = "second" ]
    [ ! -e "$T/s.sock.lock" ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    [ -S "$T/s.sock" ]
    rm -f "$T/s.sock"
}

@test "serve: --log json writes JSON lines with ts, event, address, peer pid and uid" {
    start_server --log json -v "$T/s.sock"
    run timeout 5 "$UDS" send "$T/s.sock" hi
    [ "$output" = "hi" ]
    wait_for_line "$SERVER_LOG" '"event":"close"'
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    run python3 -c '
import json, sys
events = {}
for line in open(sys.argv[1]):
    rec = json.loads(line)
    assert {"ts", "level", "event", "message"} <= rec.keys(), rec
    events.setdefault(rec["event"], rec)
assert events["listening"]["address"] == sys.argv[2], events["listening"]
assert events["open"]["uid"] == int(sys.argv[3]) and events["open"]["pid"] > 0, events["open"]
assert "stopping" in events and "stopped" in events, events.keys()
print("ok")
' "$SERVER_LOG" "$T/s.sock" "$MY_UID"
    [ "$output" = "ok" ]
}

@test "serve: -v logs each connection opening and closing with pid and uid" {
    start_server -v "$T/s.sock"
    run timeout 5 "$UDS" send "$T/s.sock" hi
    wait_for_line "$SERVER_LOG" "uds: $T/s.sock: connection from pid [0-9]+ $MY_IDS$"
    wait_for_line "$SERVER_LOG" "uds: $T/s.sock: closed connection from pid [0-9]+ $MY_IDS$"
}

@test "serve: a seqpacket message over --max-message closes that client and is logged" {
    start_server --type seqpacket --max-message 8 "$T/s.sock"
    run timeout 5 "$UDS" send --type seqpacket "$T/s.sock" "longer than eight bytes"
    [ -z "$output" ]
    wait_for_line "$SERVER_LOG" "closed connection from pid [0-9]+ $MY_IDS: a message longer \
than --max-message 8 bytes"
    run timeout 5 "$UDS" send --type seqpacket "$T/s.sock" short
    [ "$output" = "short" ]
}
