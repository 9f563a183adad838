#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The programs in examples/, run end to end with real peers (each other, Python clients
# speaking the frame protocol, systemd-socket-activate or a hand-made LISTEN_FDS launcher),
# and each built against the installed library through pkg-config.

load helpers

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
EX=${UDS_BUILD:-$ROOT/build}/examples

# start_example LOG PATTERN CMD...: start an example server in the background, wait for
# PATTERN in its log; sets SERVER_PID and SERVER_LOG.
start_example() {
    SERVER_LOG=$1
    local pattern=$2
    shift 2
    bg_start "$SERVER_LOG" "$@"
    SERVER_PID=$BG_PID
    wait_for_line "$SERVER_LOG" "$pattern"
}

# ---- hello_server / hello_client: the tutorial's pair -------------------------------------

@test "examples: hello_client started first waits for hello_server and prints its reply" {
    # No sleep anywhere: the client's wait_ms covers the server's start.
    timeout 10 "$EX/hello_client" "$T/mysock" >"$T/client.out" 2>"$T/client.log" 3>&- &
    local client=$!
    BG_PIDS+=("$client")
    start_example "$T/server.log" 'listening on' "$EX/hello_server" "$T/mysock"
    wait_status "$client"
    [ "$WAIT_STATUS" -eq 0 ]
    [ "$(cat "$T/client.out")" = "Hello from server!" ]
    [ ! -s "$T/client.log" ]
    wait_for_line "$T/server.log" "pid [0-9]+ says \"Hi server!\"$"
    [ "$(stat -c %a "$T/mysock")" = "600" ]
    # SIGTERM: a clean stop that removes the socket file and its lock.
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -e "$T/mysock" ]
    [ ! -e "$T/mysock.lock" ]
    grep -q "Terminated, stopping" "$T/server.log"
}

@test "examples: hello_server replaces a stale socket file and stops on SIGINT" {
    # A socket file nobody listens on, as a crashed server leaves behind.
    python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/mysock"
    [ -S "$T/mysock" ]
    start_example "$T/server.log" 'listening on' "$EX/hello_server" "$T/mysock"
    grep -qF "hello_server: $T/mysock: removed a stale socket file" "$T/server.log"
    run timeout 10 "$EX/hello_client" "$T/mysock"
    [ "$status" -eq 0 ]
    [ "$output" = "Hello from server!" ]
    kill -INT "$SERVER_PID"
    wait_status "$SERVER_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -e "$T/mysock" ]
}

@test "examples: a second hello_server leaves the live one alone and names its pid" {
    start_example "$T/server.log" 'listening on' "$EX/hello_server" "$T/mysock"
    run --separate-stderr timeout 10 "$EX/hello_server" "$T/mysock"
    [ "$status" -eq 1 ]
    [ "$stderr" = "hello_server: $T/mysock: in use by a running server (pid $SERVER_PID)" ]
    run timeout 10 "$EX/hello_client" "$T/mysock"
    [ "$output" = "Hello from server!" ]
}

@test "examples: hello_server never touches a file that is not a socket" {
    printf 'precious\n' >"$T/mysock"
    run --separate-stderr timeout 10 "$EX/hello_server" "$T/mysock"
    [ "$status" -eq 1 ]
    [ "$stderr" = "hello_server: $T/mysock: exists and is not a socket; left alone" ]
    [ "$(cat "$T/mysock")" = "precious" ]
}

@test "examples: hello_client without a server fails after its wait, saying why" {
    run --separate-stderr timeout 20 "$EX/hello_client" "$T/nothing"
    [ "$status" -eq 1 ]
    [ "$stderr" = "hello_client: $T/nothing: No such file or directory" ]
}

# ---- framed_echo -------------------------------------------------------------------------

@test "examples: framed_echo client gets each message back, an empty one included" {
    start_example "$T/server.log" 'listening on' "$EX/framed_echo" serve "$T/echo.sock"
    timeout 10 "$EX/framed_echo" client "$T/echo.sock" one "two words" "" >"$T/out"
    # One line per echo; the empty message comes back as an empty line.
    cmp "$T/out" <(printf 'one\ntwo words\n\n')
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -e "$T/echo.sock" ]
}

@test "examples: framed_echo answers a Python client speaking 4-byte big-endian frames" {
    start_example "$T/server.log" 'listening on' "$EX/framed_echo" serve "$T/echo.sock"
    run timeout 20 python3 - "$T/echo.sock" <<'EOF'
import os, socket, struct, sys, time

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])

def recv_exact(n):
    buf = b""
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            raise SystemExit("end of stream after %d of %d bytes" % (len(buf), n))
        buf += b
    return buf

def echo_of():
    (n,) = struct.unpack(">I", recv_exact(4))
    return recv_exact(n)

big = os.urandom(300000)    # several reads on the server's side
msgs = [b"hello", b"", b"\0binary\xff\n", big]
# All at once in one write, then read the echoes: boundaries come from the lengths alone.
s.sendall(b"".join(struct.pack(">I", len(m)) + m for m in msgs))
for m in msgs:
    got = echo_of()
    assert got == m, (len(got), len(m))
# One frame dribbled a byte at a time across its header and into its payload.
frame = struct.pack(">I", 6) + b"sliced"
for i in range(len(frame)):
    s.send(frame[i:i + 1])
    time.sleep(0.005)
assert echo_of() == b"sliced"
s.close()
print("ok")
EOF
    [ "$status" -eq 0 ]
    [ "$output" = "ok" ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    # Every connection ended in order: nothing about one was logged.
    run ! grep -q "connection closed" "$T/server.log"
}

@test "examples: framed_echo closes a connection that announces a frame over 1 MiB" {
    start_example "$T/server.log" 'listening on' "$EX/framed_echo" serve "$T/echo.sock"
    run timeout 20 python3 - "$T/echo.sock" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
# A small message is echoed; then a header claiming 1 MiB + 1 ends the connection before
# the server has allocated anything for it.
s.sendall(struct.pack(">I", 2) + b"ok" + struct.pack(">I", (1 << 20) + 1))
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
print(out[4:].decode() if out[:4] == struct.pack(">I", 2) else repr(out))
EOF
    [ "$status" -eq 0 ]
    [ "$output" = "ok" ]
    wait_for_line "$T/server.log" "connection closed: Message too long"
    # The server itself serves on.
    run timeout 10 "$EX/framed_echo" client "$T/echo.sock" still
    [ "$output" = "still" ]
}

@test "examples: framed_echo without arguments prints its usage and exits 64" {
    run --separate-stderr "$EX/framed_echo"
    [ "$status" -eq 64 ]
    [[ "$stderr" == "usage: framed_echo serve ADDRESS"* ]]
}

# ---- pass_fd -----------------------------------------------------------------------------

@test "examples: pass_fd child reads the file through the fd it was passed, byte for byte" {
    head -c 200000 /dev/urandom >"$T/data"
    printf '\0\n' >>"$T/data"
    run --separate-stderr timeout 10 bash -c '"$1" "$2" >"$3"' _ "$EX/pass_fd" "$T/data" \
        "$T/copy"
    [ "$status" -eq 0 ]
    cmp "$T/data" "$T/copy"
    [[ "$stderr" =~ ^pass_fd:\ received\ fd\ [0-9]+\ for\ $T/data$ ]]
}

@test "examples: pass_fd with a missing file fails in the sender, and the receiver says so" {
    run --separate-stderr timeout 10 "$EX/pass_fd" "$T/missing"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == *"pass_fd: $T/missing: No such file or directory"* ]]
    [[ "$stderr" == *"the sender closed the socket without sending anything"* ]]
}

# ---- activated_server --------------------------------------------------------------------

@test "examples: activated_server under systemd-socket-activate adopts fd 3 and notifies" {
    command -v systemd-socket-activate >/dev/null ||
        skip "systemd-socket-activate is not installed (Debian package systemd)"
    notify_listener
    # It binds the socket and execs the server (same pid) at the first connection.
    start_example "$T/server.log" "Listening on $T/act.sock" \
        systemd-socket-activate -l "$T/act.sock" -E "NOTIFY_SOCKET=$NOTIFY_NAME" \
        "$EX/activated_server"
    run py_echo "$T/act.sock" "first"
    [ "$output" = "first" ]
    grep -qF "activated_server: socket-activated: serving fd 3, $T/act.sock" "$T/server.log"
    wait_for_line "$T/notify.out" '^READY=1$'
    run py_echo "$T/act.sock" "second"
    [ "$output" = "second" ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    wait_for_line "$T/notify.out" '^STOPPING=1$'
    # The socket file belongs to whoever made it, not to the server it was passed to.
    [ -S "$T/act.sock" ]
    rm -f "$T/act.sock"
}

@test "examples: activated_server adopts a socket passed by hand with LISTEN_FDS/LISTEN_PID" {
    notify_listener
    # What a service manager does, in a few lines: bind, put the socket at fd 3, point
    # LISTEN_PID at ourselves and exec the server in place.
    cat >"$T/launch.py" <<'EOF'
import os, socket, sys
path, argv = sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)     # the socket may already be fd 3, with O_CLOEXEC
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1", LISTEN_FDNAMES="echo")
os.execv(argv[0], argv)
EOF
    NOTIFY_SOCKET=$NOTIFY_NAME start_example "$T/server.log" 'serving fd 3' \
        python3 "$T/launch.py" "$T/act.sock" "$EX/activated_server" "$T/ignored.sock"
    grep -qF "activated_server: socket-activated: serving fd 3, $T/act.sock" "$T/server.log"
    wait_for_line "$T/notify.out" '^READY=1$'
    run py_echo "$T/act.sock" "by hand"
    [ "$output" = "by hand" ]
    [ ! -e "$T/ignored.sock" ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    wait_for_line "$T/notify.out" '^STOPPING=1$'
    [ -S "$T/act.sock" ]
    rm -f "$T/act.sock"
}

@test "examples: activated_server started by hand listens on ADDRESS and removes it on stop" {
    start_example "$T/server.log" 'listening on' "$EX/activated_server" "$T/own.sock"
    grep -qF "activated_server: not socket-activated; listening on $T/own.sock" "$T/server.log"
    run py_echo "$T/own.sock" "plain"
    [ "$output" = "plain" ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -e "$T/own.sock" ]
}

# ---- built against the installed library --------------------------------------------------

@test "examples: each builds with pkg-config against the installed library, and runs" {
    run timeout 120 make -s -C "$ROOT" install BUILD="${UDS_BUILD:-$ROOT/build}" \
        SANITIZE="${SANITIZE:-}" PREFIX=/usr DESTDIR="$T/root"
    [ "$status" -eq 0 ]
    local extra=() src name
    # A sanitized libudskit.so needs the sanitizer runtime in the program too.
    [ "${SANITIZE:-}" = 1 ] && extra=(-fsanitize=address,undefined)
    export PKG_CONFIG_SYSROOT_DIR="$T/root" PKG_CONFIG_PATH="$T/root/usr/lib/pkgconfig"
    for src in "$ROOT"/examples/*.c; do
        name=$(basename "$src" .c)
        # The compiler's default C dialect, as a user's build would have it: the examples
        # must not depend on the flags of this tree's Makefile.
        run cc -Wall -Wextra -Werror "${extra[@]}" -o "$T/$name" "$src" \
            $(pkg-config --cflags --libs udskit)
        echo "$name: $output"
        [ "$status" -eq 0 ]
    done
    printf 'through the installed library\n' >"$T/data"
    run --separate-stderr env LD_LIBRARY_PATH="$T/root/usr/lib" timeout 10 "$T/pass_fd" "$T/data"
    [ "$status" -eq 0 ]
    [ "$output" = "through the installed library" ]
    # ldd: the library that was loaded is the installed one.
    run env LD_LIBRARY_PATH="$T/root/usr/lib" ldd "$T/pass_fd"
    [[ "$output" == *"libudskit.so.0 => $T/root/usr/lib/libudskit.so.0"* ]]
}
