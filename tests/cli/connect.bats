#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds connect` against `uds serve`, and `uds serve` against clients nobody here wrote
# (socat, OpenBSD nc, Python): echo, half-close, errors and their exit codes, --wait,
# --timeout, long paths.

load helpers

@test "connect: echo round trip through uds connect" {
    start_server "$T/s.sock"
    run --separate-stderr timeout 5 "$UDS" connect "$T/s.sock" <<<"hello"
    [ "$status" -eq 0 ]
    [ "$output" = "hello" ]
    [ -z "$stderr" ]
}

@test "connect: half-close, printf abc | uds connect prints abc and exits 0" {
    start_server "$T/s.sock"
    run bash -c 'printf abc | timeout 5 "$0" connect "$1"' "$UDS" "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = "abc" ]
}

@test "connect: socat client gets its echo" {
    start_server "$T/s.sock"
    run bash -c 'printf "hello socat\n" | timeout 5 socat - UNIX-CONNECT:"$0"' "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = "hello socat" ]
}

@test "connect: OpenBSD nc -U -N client gets its echo" {
    start_server "$T/s.sock"
    run bash -c 'printf "hello nc\n" | timeout 5 nc -U -N "$0"' "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = "hello nc" ]
}

@test "connect: Python socket client gets its echo" {
    start_server "$T/s.sock"
    run py_echo "$T/s.sock" "hello python"
    [ "$status" -eq 0 ]
    [ "$output" = "hello python" ]
}

@test "connect: 4 MB of random bytes come back intact (backpressure both ways)" {
    start_server "$T/s.sock"
    head -c 4000000 /dev/urandom >"$T/in"
    timeout 20 "$UDS" connect "$T/s.sock" <"$T/in" >"$T/out"
    cmp "$T/in" "$T/out"
}

@test "connect: a reader that stops early (| head) is not an error" {
    start_server "$T/s.sock"
    run bash -c 'head -c 3000000 /dev/zero | timeout 10 "$0" connect "$1" | head -c 10 >/dev/null
                 echo "${PIPESTATUS[1]}"' "$UDS" "$T/s.sock"
    [ "$output" = "0" ]
}

@test "connect: nothing at the path exits 69 'no such socket'" {
    run --separate-stderr timeout 5 "$UDS" connect "$T/none.sock" </dev/null
    [ "$status" -eq 69 ]
    [ "$stderr" = "uds: $T/none.sock: no such socket; is the server running?" ]
}

@test "connect: missing directory exits 69 and names the directory" {
    run --separate-stderr timeout 5 "$UDS" connect "$T/nodir/s.sock" </dev/null
    [ "$status" -eq 69 ]
    local want="uds: $T/nodir/s.sock: no such socket (directory $T/nodir does not exist);"
    [ "$stderr" = "$want is the server running?" ]
}

@test "connect: stale socket (server killed -9) exits 69 and says stale" {
    start_server "$T/s.sock"
    kill -KILL "$SERVER_PID"
    wait_exit "$SERVER_PID"
    [ -S "$T/s.sock" ]
    run --separate-stderr timeout 5 "$UDS" connect "$T/s.sock" </dev/null
    [ "$status" -eq 69 ]
    local want="uds: $T/s.sock: nothing is listening (stale socket file);"
    [ "$stderr" = "$want start the server, or remove the file" ]
    rm -f "$T/s.sock"
}

@test "connect: a regular file exits 69 'exists and is not a socket'" {
    echo data >"$T/f"
    run --separate-stderr timeout 5 "$UDS" connect "$T/f" </dev/null
    [ "$status" -eq 69 ]
    [ "$stderr" = "uds: $T/f: exists and is not a socket; check the address" ]
}

@test "connect: abstract name nobody serves exits 69" {
    run --separate-stderr timeout 5 "$UDS" connect "$(abstract_name)" </dev/null
    [ "$status" -eq 69 ]
    [[ "$stderr" == *"nothing is listening; is the server running?" ]]
}

@test "connect: unprivileged user on a 0600 socket exits 77 with mode, owner and uid" {
    need_root
    start_server "$T/s.sock"
    run --separate-stderr as_nobody timeout 5 "$UDS" connect "$T/s.sock" </dev/null
    [ "$status" -eq 77 ]
    [[ "$stderr" == "uds: $T/s.sock: permission denied (socket srw------- root:"* ]]
    [[ "$stderr" == *", you are uid $NOBODY); ask for access, or run as the owner" ]]
}

@test "connect: unprivileged user blocked by a directory is told which one" {
    need_root
    mkdir -m 0700 "$T/private"
    start_server --mode 0666 "$T/private/s.sock"
    run --separate-stderr as_nobody timeout 5 "$UDS" connect "$T/private/s.sock" </dev/null
    [ "$status" -eq 77 ]
    [[ "$stderr" == *"permission denied (directory $T/private is not searchable: drwx------ "* ]]
    [[ "$stderr" == *"you are uid $NOBODY)"* ]]
}

@test "connect: --mode 0666 lets an unprivileged user in" {
    need_root
    start_server --mode 0666 "$T/s.sock"
    run as_nobody timeout 5 "$UDS" connect "$T/s.sock" <<<"let me in"
    [ "$status" -eq 0 ]
    [ "$output" = "let me in" ]
}

@test "connect: --wait 5 started before the server succeeds once it appears" {
    bg_start "$T/client.err" bash -c 'printf "early\n" | "$0" connect --wait 5 "$1" >"$2"' \
        "$UDS" "$T/s.sock" "$T/client.out"
    local client=$BG_PID
    kill -0 "$client"   # still waiting: there is no server yet
    start_server "$T/s.sock"
    wait_status "$client"
    [ "$WAIT_STATUS" -eq 0 ]
    [ "$(cat "$T/client.out")" = "early" ]
}

@test "connect: --timeout on a full backlog exits 75" {
    cat >"$T/full.py" <<'EOF'
import os, signal, socket, sys, time
path, ready = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGTERM, lambda *a: (os.unlink(path), os._exit(0)))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(0)
held = []
while True:     # fill the backlog: a non-blocking connect then fails with EAGAIN
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.setblocking(False)
    try:
        c.connect(path)
    except BlockingIOError:
        break
    held.append(c)
open(ready, "w").write("ready\n")
time.sleep(60)
EOF
    bg_start "$T/py.err" python3 "$T/full.py" "$T/full.sock" "$T/ready"
    wait_for_line "$T/ready" ready
    run --separate-stderr timeout 10 "$UDS" connect --timeout 0.5 "$T/full.sock" </dev/null
    [ "$status" -eq 75 ]
    [[ "$stderr" == "uds: $T/full.sock: timed out after 0.5s connecting"* ]]
}

@test "connect: long path (over 107 bytes) serve and connect work" {
    local dir
    dir="$T/$(printf 'd%.0s' {1..60})/$(printf 'e%.0s' {1..60})"
    mkdir -p "$dir"
    [ "${#dir}" -gt 107 ]
    start_server "$dir/s.sock"
    [ -S "$dir/s.sock" ]
    run timeout 5 "$UDS" connect "$dir/s.sock" <<<"long way"
    [ "$status" -eq 0 ]
    [ "$output" = "long way" ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -e "$dir/s.sock" ]
}

@test "connect: seqpacket, each read of stdin is one message" {
    start_server --type seqpacket --reply R "$T/s.sock"
    run timeout 5 "$UDS" connect --type seqpacket "$T/s.sock" <<<"one"
    [ "$status" -eq 0 ]
    [ "$output" = "R" ]
}

@test "connect: dgram sends stdin and prints the reply" {
    start_server --type dgram "$T/d.sock"
    run --separate-stderr timeout 5 "$UDS" connect --type dgram "$T/d.sock" <<<"ping"
    [ "$status" -eq 0 ]
    [ "$output" = "ping" ]
}

@test "connect: the wrong --type exits 69 and suggests another" {
    start_server "$T/s.sock"
    run --separate-stderr timeout 5 "$UDS" connect --type seqpacket "$T/s.sock" </dev/null
    [ "$status" -eq 69 ]
    [ "$stderr" = "uds: $T/s.sock: the server uses another socket type; try another --type \
(stream, seqpacket or dgram)" ]
}

# ---- --send-fd -------------------------------------------------------------------------------

# fd_receiver TYPE PATH: a Python server (started in the background) that accepts one client,
# takes the fds that come with its first message (recvmsg, SCM_RIGHTS), reads the rest of the
# stream, and answers with what it got: the first bytes, the rest, how many fds, the passed
# file's content and its access mode. Waits until it listens.
fd_receiver() {
    cat >"$T/receiver.py" <<'PY'
import array, fcntl, os, socket, sys
kind = {"stream": socket.SOCK_STREAM, "seqpacket": socket.SOCK_SEQPACKET}[sys.argv[1]]
path = sys.argv[2]
s = socket.socket(socket.AF_UNIX, kind)
s.bind(path)
s.listen(1)
open(path + ".ready", "w").close()
c, _ = s.accept()
c.settimeout(5)
fds = array.array("i")
first, anc, flags, _ = c.recvmsg(65536, socket.CMSG_SPACE(16 * fds.itemsize))
for level, typ, data in anc:
    if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
        fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
rest = b""
while kind == socket.SOCK_STREAM:
    b = c.recv(65536)
    if not b:
        break
    rest += b
content = os.read(fds[0], 1000) if fds else b""
mode = fcntl.fcntl(fds[0], fcntl.F_GETFL) & os.O_ACCMODE if fds else -1
c.sendall(b"first=%r rest=%r fds=%d content=%r rdonly=%r\n"
          % (first, rest, len(fds), content, mode == os.O_RDONLY))
c.close()
os.unlink(path)
PY
    bg_start "$T/receiver.err" python3 "$T/receiver.py" "$1" "$2"
    wait_path "$2.ready"
}

@test "connect --send-fd: a Python receiver gets the fd with the first bytes and reads the file" {
    printf 'the secret\n' >"$T/file"
    fd_receiver stream "$T/r.sock"
    run --separate-stderr timeout 5 "$UDS" connect --send-fd "$T/file" "$T/r.sock" <<<"hello"
    [ "$status" -eq 0 ]
    [ "$output" = "first=b'hello\\n' rest=b'' fds=1 content=b'the secret\\n' rdonly=True" ]
    [ -z "$stderr" ]
}

@test "connect --send-fd: with empty stdin the fd travels with a single NUL byte" {
    printf 'x' >"$T/file"
    fd_receiver stream "$T/r.sock"
    run --separate-stderr timeout 5 "$UDS" connect --send-fd "$T/file" "$T/r.sock" </dev/null
    [ "$status" -eq 0 ]
    [ "$output" = "first=b'\\x00' rest=b'' fds=1 content=b'x' rdonly=True" ]
}

@test "connect --send-fd: on seqpacket the fd comes with the first message" {
    printf 'seq' >"$T/file"
    fd_receiver seqpacket "$T/r.sock"
    run --separate-stderr timeout 5 "$UDS" connect --type seqpacket --send-fd "$T/file" \
        "$T/r.sock" <<<"msg"
    [ "$status" -eq 0 ]
    [ "$output" = "first=b'msg\\n' rest=b'' fds=1 content=b'seq' rdonly=True" ]
}

@test "connect --send-fd: a FILE that cannot be opened exits 66 (77 for permission) before connecting" {
    start_server -v "$T/s.sock"
    run --separate-stderr timeout 5 "$UDS" connect --send-fd "$T/none" "$T/s.sock" </dev/null
    [ "$status" -eq 66 ]
    [ "$stderr" = "uds: $T/none: cannot open: No such file or directory; check the --send-fd FILE" ]
    if [ "$(id -u)" -eq 0 ]; then
        printf 'private' >"$T/private"
        chmod 0600 "$T/private"
        run --separate-stderr as_nobody timeout 5 "$UDS" connect --send-fd "$T/private" \
            "$T/s.sock" </dev/null
        [ "$status" -eq 77 ]
        [[ "$stderr" == *"cannot open: Permission denied"* ]]
    fi
    ! grep -q "connection from" "$SERVER_LOG"
}

@test "connect --send-fd: our own server drops the fd it did not ask for and echoes the bytes" {
    printf 'x' >"$T/file"
    start_server "$T/s.sock"
    run --separate-stderr timeout 5 "$UDS" connect --send-fd "$T/file" "$T/s.sock" <<<"echo me"
    [ "$status" -eq 0 ]
    [ "$output" = "echo me" ]
}
