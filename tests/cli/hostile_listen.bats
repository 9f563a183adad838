#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Hostile peers against a listener run by root: a --ready-fd that would hand the server's
# log to the next client, a --mode that must not be widened, lock files planted by another
# user, file options on an abstract address, and the open-file limit passed to programs.

load helpers

# bg_nobody_python LOG ARGS...: python3 as uid 65534 in the background (bg_start, so the
# teardown stops it), bounded; found through a PATH search as nobody, which skips
# directories only root may enter.
bg_nobody_python() {
    local log=$1 py
    shift
    py=$(as_nobody sh -c 'command -v python3')
    bg_start "$log" setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups \
        timeout 10 "$py" "$@"
}

# wait_listening_or_exit PID LOG: until LOG says "listening on" (returns 0) or PID has
# exited (returns 1); bounded.
wait_listening_or_exit() {
    local pid=$1 log=$2 i
    for ((i = 0; i < 250; i++)); do
        grep -q 'listening on' "$log" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.02
    done
    echo "pid $pid neither listening nor gone:" >&2
    cat "$log" >&2
    return 1
}

# The spy (run as nobody): connects to ADDRESS, says so by creating READY, sends nothing
# and keeps whatever the server writes to it until the server logs a closed connection or
# 3 s pass; writes it to OUT.
write_spy() {
    cat >"$T/spy.py" <<'EOF'
import socket, sys, time
addr, out, ready = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(addr)
open(ready, "w").close()
got = b""
deadline = time.monotonic() + 3
while b"closed connection" not in got and time.monotonic() < deadline:
    s.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        break
    if not chunk:
        break
    got += chunk
open(out, "wb").write(got)
EOF
}

# ---- --ready-fd ----------------------------------------------------------------------------

@test "hostile: --ready-fd 2 cannot hand the server's log to the next client" {
    need_root
    write_spy
    # -v: the server logs each client's pid, uid and gid, as an operator would have it.
    bg_start "$T/server.log" "$UDS" serve -v --mode 0666 --ready-fd 2 "$T/s.sock"
    SERVER_PID=$BG_PID
    # The spy's files, in a directory it may write.
    mkdir "$T/spy" && chown "$NOBODY" "$T/spy"
    if wait_listening_or_exit "$SERVER_PID" "$T/server.log"; then
        # The attack: the first client takes fd 2 once readiness closed it; the second
        # client's connection is then logged into the first one's socket.
        bg_nobody_python "$T/spy.err" "$T/spy.py" "$T/s.sock" "$T/spy/out" "$T/spy/ready"
        local spy=$BG_PID
        wait_path "$T/spy/ready"
        run timeout 5 "$UDS" send "$T/s.sock" "second client"
        wait_status "$spy"
        [ "$WAIT_STATUS" -eq 0 ]
    fi
    echo "bytes of the server's log delivered to the first client: $(cat "$T/spy/out" 2>/dev/null | wc -c)"
    cat "$T/spy/out" 2>/dev/null || true
    [ ! -s "$T/spy/out" ]
    wait_status "$SERVER_PID"
    [ "$WAIT_STATUS" -eq 64 ]
    grep -qF -- "--ready-fd: '2' is standard error" "$T/server.log"
    [ ! -e "$T/s.sock" ]
}

@test "hostile: --ready-fd 0, 1 and 2 are usage errors for serve and proxy alike" {
    local fd cmd
    for fd in 0 1 2; do
        for cmd in "serve $T/s.sock" "proxy $T/p.sock $T/s.sock"; do
            # shellcheck disable=SC2086 # word splitting is the point
            run --separate-stderr timeout 5 "$UDS" ${cmd%% *} --ready-fd $fd ${cmd#* }
            echo "$cmd --ready-fd $fd: $status $stderr"
            [ "$status" -eq 64 ]
            [[ "$stderr" == *"--ready-fd: '$fd' is standard "*"use 3 or above"* ]]
        done
    done
    [ ! -e "$T/s.sock" ] && [ ! -e "$T/p.sock" ]
}

@test "hostile: --ready-fd on a read-only fd, a directory or a closed fd is a usage error" {
    : >"$T/ro"
    run --separate-stderr timeout 5 bash -c 'exec "$0" serve --ready-fd 4 "$1" 4<"$2"' \
        "$UDS" "$T/s.sock" "$T/ro"
    [ "$status" -eq 64 ]
    [ "$stderr" = "uds serve: --ready-fd: '4' is not open for writing; e.g. --ready-fd 3 3>ready
Try 'uds serve --help'." ]
    run --separate-stderr timeout 5 bash -c 'exec "$0" proxy --ready-fd 4 "$1" "$2" 4<"$3"' \
        "$UDS" "$T/p.sock" "$T/s.sock" "$T"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"--ready-fd: '4' is a directory, not a pipe, socket or file;"* ]]
    run --separate-stderr timeout 5 "$UDS" serve --ready-fd 97 "$T/s.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"--ready-fd: '97' is not an open file descriptor;"* ]]
    [ ! -e "$T/s.sock" ] && [ ! -e "$T/p.sock" ]
}

@test "hostile: --ready-fd on a pipe still signals readiness" {
    bg_start "$T/server.log" bash -c 'exec "$0" serve -q --ready-fd 5 "$1" 5> >(cat >"$2")' \
        "$UDS" "$T/s.sock" "$T/ready"
    SERVER_PID=$BG_PID
    local i
    for ((i = 0; i < 250; i++)); do [ -s "$T/ready" ] && break; sleep 0.02; done
    [ "$(od -An -c "$T/ready" | tr -d ' ')" = '\n' ]
    run timeout 5 "$UDS" send "$T/s.sock" ready
    [ "$output" = "ready" ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
}

# ---- --mode --------------------------------------------------------------------------------

@test "hostile: --mode 0000 gives a socket file of mode 0000, even to its owner nobody" {
    need_root
    # Owned by nobody: were the mode widened to 0600, nobody could connect.
    start_server --mode 0000 --owner "$NOBODY" "$T/s.sock"
    echo "socket file: $(stat -c '%04a %U' "$T/s.sock")"
    [ "$(stat -c '%04a %u' "$T/s.sock")" = "0000 $NOBODY" ]
    run --separate-stderr as_nobody timeout 5 "$UDS" send "$T/s.sock" "let me in"
    echo "nobody: exit $status, got '$output'; $stderr"
    [ "$status" -eq 77 ]
    [ -z "$output" ]
    # Root is not bound by file permissions: the server itself works.
    run timeout 5 "$UDS" send "$T/s.sock" "root"
    [ "$output" = "root" ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
}

# ---- lock files planted by another user ----------------------------------------------------

# shared_dir: $T/shared, a sticky directory anyone may write, as /tmp; sets D.
shared_dir() {
    D=$T/shared
    mkdir "$D"
    chmod 1777 "$D"
}

# fingerprint FILE: what must not change about a file the attack points at.
fingerprint() {
    stat -c '%i %a %u:%g %s %Y' "$1"
    md5sum <"$1"
}

@test "hostile: a symlink planted at PATH.lock touches nothing and is named in the error" {
    need_root
    shared_dir
    echo "root's data" >"$T/precious"
    chmod 0644 "$T/precious"
    local before
    before=$(fingerprint "$T/precious")
    as_nobody ln -s "$T/precious" "$D/app.sock.lock"
    run --separate-stderr timeout 5 "$UDS" serve "$D/app.sock"
    echo "exit $status: $stderr"
    [ "$status" -eq 73 ]
    [ "$stderr" = "uds: $D/app.sock.lock: is a symbolic link, not a lock file; remove it if no \
server uses it" ]
    [ "$(fingerprint "$T/precious")" = "$before" ]
    [ "$(readlink "$D/app.sock.lock")" = "$T/precious" ]
    [ ! -e "$D/app.sock" ]
}

@test "hostile: a dangling symlink planted at PATH.lock creates nothing at its target" {
    need_root
    shared_dir
    as_nobody ln -s "$T/created-by-root" "$D/app.sock.lock"
    run --separate-stderr timeout 5 "$UDS" proxy "$D/app.sock" "$T/target.sock"
    echo "exit $status: $stderr"
    [ "$status" -eq 73 ]
    [ "$stderr" = "uds: $D/app.sock.lock: is a symbolic link, not a lock file; remove it if no \
server uses it" ]
    [ ! -e "$T/created-by-root" ]
    [ -L "$D/app.sock.lock" ]
    [ ! -e "$D/app.sock" ]
}

@test "hostile: a FIFO planted at PATH.lock neither hangs the server nor is blamed on the socket" {
    need_root
    shared_dir
    as_nobody mkfifo -m 0666 "$D/app.sock.lock"
    run --separate-stderr timeout 5 "$UDS" serve "$D/app.sock"
    echo "exit $status: $stderr"
    [ "$status" -eq 73 ]
    [ "$stderr" = "uds: $D/app.sock.lock: is a FIFO, not a lock file; remove it if no server \
uses it" ]
    [ -p "$D/app.sock.lock" ]
    [ ! -e "$D/app.sock" ]
}

@test "hostile: a directory at PATH.lock is named in the error" {
    mkdir "$T/app.sock.lock"
    run --separate-stderr timeout 5 "$UDS" serve "$T/app.sock"
    echo "exit $status: $stderr"
    [ "$status" -eq 73 ]
    [ "$stderr" = "uds: $T/app.sock.lock: is a directory, not a lock file; remove it if no \
server uses it" ]
    [ -d "$T/app.sock.lock" ]
    [ ! -e "$T/app.sock" ]
}

@test "hostile: a lock held by another user's process is named in the error, not the socket" {
    need_root
    shared_dir
    # nobody creates PATH.lock and holds its lock, as a server starting would.
    bg_nobody_python "$T/holder.err" -c '
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(30)' "$D/app.sock.lock" "$D/held"
    wait_path "$D/held"
    run --separate-stderr timeout 5 "$UDS" serve "$D/app.sock"
    echo "exit $status: $stderr"
    [ "$status" -eq 69 ]
    [ "$stderr" = "uds: $D/app.sock.lock: locked by another process, and no server answers at \
$D/app.sock; if one is starting, wait for it; remove the lock file if no server uses it" ]
    [ ! -e "$D/app.sock" ]
}

# ---- file options on an abstract address ---------------------------------------------------

@test "hostile: --mode, --owner and --group on an abstract address are usage errors" {
    local name opt cmd
    name=$(abstract_name)
    for opt in "--mode 0600" "-m 0600" "--owner $MY_UID" "-o root" "--group $MY_GID" "-g 0"; do
        for cmd in serve proxy; do
            local target=()
            [ "$cmd" = proxy ] && target=("$T/target.sock")
            # Both spellings of an abstract address.
            local addr=$name
            [ "$cmd" = proxy ] && addr=unix:$name
            # shellcheck disable=SC2086 # word splitting is the point
            run --separate-stderr timeout 5 "$UDS" $cmd $opt "$addr" "${target[@]}"
            echo "$cmd $opt $addr: exit $status: $stderr"
            [ "$status" -eq 64 ]
            local long=${opt%% *}
            long=${long/#-m/--mode} long=${long/#-o/--owner} long=${long/#-g/--group}
            [ "${stderr%%$'\n'*}" = "uds $cmd: $long: $addr is an abstract address, with \
no file to set it on; restrict clients with --allow-uid/--allow-gid" ]
        done
    done
    # The allow-lists are what an abstract address can have.
    start_server --allow-uid "$MY_UID" "$name"
    run timeout 5 "$UDS" send "$name" "still fine"
    [ "$output" = "still fine" ]
}

# ---- the open-file limit of programs run per client ----------------------------------------

@test "hostile: a program run per client gets back the soft open-file limit the server had" {
    local hard
    hard=$(ulimit -Hn)
    [ "$hard" -gt 512 ] || skip "the hard open-file limit ($hard) leaves nothing to raise"
    bg_start "$T/server.log" bash -c 'ulimit -Sn 512 && exec "$0" serve "$1" -- sh -c "ulimit -Sn"' \
        "$UDS" "$T/s.sock"
    SERVER_PID=$BG_PID
    wait_for_line "$T/server.log" 'listening on'
    # The server itself runs at the hard limit...
    [ "$(awk '/^Max open files/ { print $4 }' "/proc/$SERVER_PID/limits")" = "$hard" ]
    # ... its programs at what it was given: select() breaks on fds from 1024 on.
    run timeout 5 "$UDS" connect "$T/s.sock" </dev/null
    echo "the program's soft limit: $output"
    [ "$output" = 512 ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
}
