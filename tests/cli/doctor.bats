#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds doctor` on situations built for real — missing paths and directories, files that are
# not sockets, stale sockets from killed servers, sockets in 0700 directories and owned by
# other users, a full backlog, deleted and replaced paths, long paths, abstract names — run
# as root and as an unprivileged user; its JSON validated with python3 -m json.tool.

load helpers

# doctor [ARGS...]: uds doctor as the caller; doctor_nobody: as uid/gid 65534.
doctor() {
    run --separate-stderr timeout 10 "$UDS" doctor "$@"
}

doctor_nobody() {
    run --separate-stderr as_nobody timeout 10 "$UDS" doctor "$@"
}

# json_codes ARGS...: the finding codes of `uds doctor --json ARGS` (as the caller), one line.
json_codes() {
    timeout 10 "$UDS" doctor --json "$@" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(f["code"] for f in d["findings"]))'
}

@test "doctor: a path with nothing there exits 69 and says to start the server" {
    doctor "$T/none.sock"
    [ "$status" -eq 69 ]
    [[ "$output" == *"There is no socket at this path"* ]]
    [[ "$output" == *"what to do: Start the server"* ]]
    [[ "$output" == *"Result: you cannot connect (exit 69)."* ]]
}

@test "doctor: a missing parent directory exits 73 and names it" {
    doctor "$T/nodir/deeper/s.sock"
    [ "$status" -eq 73 ]
    [[ "$output" == *"The directory $T/nodir does not exist."* ]]
}

@test "doctor: a parent that is a file exits 73" {
    touch "$T/file"
    doctor "$T/file/s.sock"
    [ "$status" -eq 73 ]
    [[ "$output" == *"$T/file is a regular file, not a directory"* ]]
}

@test "doctor: a regular file at the path exits 73: not a socket" {
    echo data >"$T/plain"
    doctor "$T/plain"
    [ "$status" -eq 73 ]
    [[ "$output" == *"The path is a regular file, not a socket"* ]]
    [ -f "$T/plain" ]   # never removed
}

@test "doctor: a live uds serve: exit 0, names the process and since when (root)" {
    start_server "$T/s.sock"
    doctor "$T/s.sock"
    [ "$status" -eq 0 ]
    [[ "$output" == *"It is served by uds (pid $SERVER_PID, running since "* ]]
    [[ "$output" == *"a stream listener, backlog "* ]]
    [[ "$output" == *"Result: you can connect."* ]]
}

@test "doctor: a live socket of mode 0600 owned by root: nobody gets 77 with mode and uid" {
    start_server "$T/s.sock"
    doctor_nobody "$T/s.sock"
    [ "$status" -eq 77 ]
    [[ "$output" == *"connecting needs write permission on the socket, which is srw-------"* ]]
    [[ "$output" == *"which is srw------- root:root,"* ]]
    [[ "$output" == *"you (uid 65534"* ]]
    [[ "$output" == *"neither its owner nor in its group"* ]]
    # the listener is there, but nobody may not see which process it is
    [[ "$output" == *"It is served by a process you may not see"* ]]
}

@test "doctor: a socket owned by another user: its owner may connect, a third user may not" {
    start_server --owner "$NOBODY" --mode 0600 "$T/s.sock"
    doctor_nobody "$T/s.sock"
    [ "$status" -eq 0 ]
    run --separate-stderr setpriv --reuid=65533 --regid=65533 --clear-groups \
        timeout 10 "$UDS" doctor "$T/s.sock"
    [ "$status" -eq 77 ]
    [[ "$output" == *"srw------- nobody:"* ]]
    [[ "$output" == *"you (uid 65533"* ]]
    doctor "$T/s.sock"
    [ "$status" -eq 0 ]     # root may
}

@test "doctor: a group socket: a member of its group may connect" {
    start_server --group "$NOBODY" --mode 0660 "$T/s.sock"
    doctor_nobody "$T/s.sock"
    [ "$status" -eq 0 ]
    [[ "$output" == *"srw-rw----"* ]]
}

@test "doctor: a 0777 socket in a 0700 directory: nobody gets 77 naming the directory" {
    mkdir -m 0700 "$T/private"
    start_server --mode 0777 "$T/private/s.sock"
    doctor_nobody "$T/private/s.sock"
    [ "$status" -eq 77 ]
    [[ "$output" == *"the directory $T/private is drwx------ root:root and you"* ]]
    [[ "$output" == *"may not search it"* ]]
    [[ "$output" == *"chmod o+x $T/private"* ]]
    doctor "$T/private/s.sock"
    [ "$status" -eq 0 ]
}

@test "doctor: a stale socket from a killed server: 69, stale, and its abandoned lock file" {
    start_server "$T/s.sock"
    kill -KILL "$SERVER_PID"
    wait_exit "$SERVER_PID"
    LEFTOVER_OK+=("$T/s.sock")
    [ -S "$T/s.sock" ]
    doctor "$T/s.sock"
    [ "$status" -eq 69 ]
    [[ "$output" == *"Nothing listens on it: the socket file is stale"* ]]
    [[ "$output" == *"rm $T/s.sock"* ]]
    if [ -e "$T/s.sock.lock" ]; then
        [[ "$output" == *"Its lock file $T/s.sock.lock exists but nobody holds it"* ]]
    fi
    # the same verdict for an unprivileged user: stale comes first
    doctor_nobody "$T/s.sock"
    [ "$status" -eq 69 ]
    [[ "$output" == *"stale"* ]]
    [ -S "$T/s.sock" ]      # doctor never removes anything
}

@test "doctor: a stale socket whose lock file is held says who holds it" {
    python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/s.sock"
    LEFTOVER_OK+=("$T/s.sock")
    touch "$T/s.sock.lock"
    bg_start "$T/flock.log" timeout 60 python3 -c '
import fcntl, sys, time
f = open(sys.argv[1])
fcntl.flock(f, fcntl.LOCK_EX)
sys.stderr.write("locked\n"); sys.stderr.flush()
time.sleep(60)' "$T/s.sock.lock"
    wait_for_line "$T/flock.log" locked
    doctor "$T/s.sock"
    [ "$status" -eq 69 ]
    [[ "$output" == *"Its lock file $T/s.sock.lock is held by "*"(pid "* ]]
    [[ "$(json_codes "$T/s.sock")" == *"stale"*"lock-held"* ]]
}

@test "doctor: a listener with a full backlog exits 75" {
    cat >"$T/full.py" <<'EOF'
import os, signal, socket, sys, time
p = sys.argv[1]
signal.signal(signal.SIGTERM, lambda *_: (os.unlink(p), os._exit(0)))
l = socket.socket(socket.AF_UNIX); l.bind(p); l.listen(1)
cs = []
while True:
    c = socket.socket(socket.AF_UNIX); c.setblocking(False)
    try:
        c.connect(p)
    except BlockingIOError:
        break
    cs.append(c)
sys.stderr.write("full %d\n" % len(cs)); sys.stderr.flush()
time.sleep(60)
EOF
    bg_start "$T/full.log" timeout 60 python3 "$T/full.py" "$T/s.sock"
    wait_for_line "$T/full.log" '^full'
    doctor "$T/s.sock"
    [ "$status" -eq 75 ]
    [[ "$output" == *"Its backlog is full: 2 connections wait to be accepted and the backlog"* ]]
    [[ "$(json_codes "$T/s.sock")" == *"backlog-full"* ]]
    [[ "$output" == *"It is served by python3 (pid "* ]]
}

@test "doctor: a listener whose path was replaced: 69, names the orphaned server" {
    start_server "$T/s.sock"
    mv "$T/s.sock" "$T/moved.sock"
    python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/s.sock"
    LEFTOVER_OK+=("$T/s.sock" "$T/moved.sock")
    doctor "$T/s.sock"
    [ "$status" -eq 69 ]
    [[ "$output" == *"A server, uds (pid $SERVER_PID, running since "* ]]
    [[ "$output" == *"the path has been replaced since"* ]]
    [[ "$(json_codes "$T/s.sock")" == *"path-replaced"* ]]
    # the moved file still reaches it, and doctor says where it was bound
    doctor "$T/moved.sock"
    [ "$status" -eq 0 ]
    [[ "$output" == *"That socket was bound as $T/s.sock"* ]]
    rm -f "$T/s.sock" "$T/moved.sock"
}

@test "doctor: a listener whose file was deleted: 69, unreachable by path" {
    start_server "$T/s.sock"
    rm "$T/s.sock"
    doctor "$T/s.sock"
    [ "$status" -eq 69 ]
    [[ "$output" == *"still listens on a socket bound here: its file was deleted"* ]]
    [[ "$(json_codes "$T/s.sock")" == *"path-deleted"* ]]
}

@test "doctor: a path longer than sun_path warns but exits 0 (udskit reaches it)" {
    local dir="$T/$(printf 'd%.0s' {1..60})"
    mkdir "$dir"
    local path="$dir/$(printf 'e%.0s' {1..60}).sock"
    start_server "$path"
    doctor "$path"
    [ "$status" -eq 0 ]
    [[ "$output" == *"The path is ${#path} bytes, longer than the 107 that sun_path holds"* ]]
    [[ "$output" == *"udskit tools (uds, libudskit) still reach it"* ]]
    [[ "$output" == *"It is served by uds (pid $SERVER_PID"* ]]
}

@test "doctor: an abstract name: warns that anyone may connect; exit 0 when served" {
    local name
    name=$(abstract_name)
    start_server "$name"
    doctor "$name"
    [ "$status" -eq 0 ]
    [[ "$output" == *"$name is an abstract socket: it has no file, hence no file permissions"* ]]
    [[ "$output" == *"It is served by uds (pid $SERVER_PID"* ]]
    doctor_nobody "$name"
    [ "$status" -eq 0 ]
}

@test "doctor: an abstract name nobody serves exits 69" {
    doctor "$(abstract_name)"
    [ "$status" -eq 69 ]
    [[ "$output" == *"Nothing is bound to this abstract name"* ]]
}

@test "doctor: a symlink to a live socket is followed" {
    start_server "$T/s.sock"
    ln -s "$T/s.sock" "$T/link.sock"
    doctor "$T/link.sock"
    [ "$status" -eq 0 ]
    [[ "$output" == *"The path is a symbolic link to $T/s.sock"* ]]
}

@test "doctor --json: one valid object with address, ok and findings" {
    start_server "$T/s.sock"
    timeout 10 "$UDS" doctor --json "$T/s.sock" >"$T/ok.json"
    python3 -m json.tool "$T/ok.json" >/dev/null
    timeout 10 "$UDS" doctor --json "$T/none.sock" >"$T/bad.json" || true
    python3 -m json.tool "$T/bad.json" >/dev/null
    run python3 - "$T" <<'EOF'
import json, sys
T = sys.argv[1]
ok = json.load(open(T + "/ok.json"))
bad = json.load(open(T + "/bad.json"))
for d, addr in [(ok, T + "/s.sock"), (bad, T + "/none.sock")]:
    assert d["address"] == addr, d
    assert isinstance(d["ok"], bool) and isinstance(d["findings"], list), d
    for f in d["findings"]:
        assert set(f) == {"code", "severity", "message", "advice"}, f
        assert f["severity"] in ("info", "warning", "error"), f
        assert f["advice"] is None or isinstance(f["advice"], str), f
assert ok["ok"] is True and ok["exit"] == 0, ok
assert "listening" in [f["code"] for f in ok["findings"]], ok
assert bad["ok"] is False and bad["exit"] == 69, bad
assert bad["findings"][0]["code"] == "path-missing", bad
EOF
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "doctor --no-connect does not connect" {
    start_server -v "$T/s.sock"
    doctor --no-connect "$T/s.sock"
    [ "$status" -eq 0 ]
    [[ "$output" != *"test connection"* ]]
    doctor "$T/s.sock"
    [[ "$output" == *"A test connection succeeded"* ]]
}

@test "doctor: usage errors exit 64" {
    doctor
    [ "$status" -eq 64 ]
    doctor a b
    [ "$status" -eq 64 ]
    doctor ""
    [ "$status" -eq 64 ]
}

@test "doctor: every option of --help is in the man page" {
    run timeout 5 "$UDS" doctor --help
    [ "$status" -eq 0 ]
    help_in_man "$output"
}
