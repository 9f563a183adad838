#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# A hostile datagram sender against `uds serve --type dgram` run by root: the server answers
# to the sender's bound address, so a sender that swaps that path for a symlink (to the
# socket itself, or to a directory on the way) must not make root deliver bytes to a socket
# the sender names; and a reply to an abstract sender must not carry root's identity.

load helpers

# nobody_python ARGS...: python3 as uid 65534, bounded; found through a PATH search as
# nobody, which skips directories only root may enter.
nobody_python() {
    as_nobody timeout 10 "$(as_nobody sh -c 'command -v python3')" "$@"
}

# The victim: a root-only dgram socket ($T/victim, mode 0700) that records each datagram it
# receives, with the uid the kernel says sent it, until a "__stop__" from the test (after
# everything else in its queue). Prints "COUNT uids..." at the end.
write_victim() {
    cat >"$T/victim.py" <<'EOF'
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
s.settimeout(20)
print("ready", flush=True)
uids = []
try:
    while True:
        data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        if data == b"__stop__":
            break
        uid = "?"
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                uid = str(struct.unpack("iII", payload[:12])[1])
        uids.append(uid)
finally:
    os.unlink(sys.argv[1])
print(len(uids), *uids, flush=True)
EOF
}

# The attacker (run as nobody): binds a socket in its own directory DIR, replaces the path
# (MODE "final": the socket's name becomes a symlink to VICTIM; MODE "dir": the directory
# holding it becomes a symlink to VICTIM's directory), sends N datagrams to SERVER, then
# waits for the answer to one datagram from an honest socket, so that the server has dealt
# with every attack datagram before the test looks. Prints what the honest socket got.
write_attacker() {
    cat >"$T/attacker.py" <<'EOF'
import os, socket, sys
mode, d, server, victim, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if mode == "final":
    name = os.path.join(d, "a.sock")
    s.bind(name)
    os.unlink(name)
    os.symlink(victim, name)
else:
    # The socket keeps its bound name d/sub/BASENAME; the name now leads to the victim.
    os.mkdir(os.path.join(d, "sub"))
    s.bind(os.path.join(d, "sub", os.path.basename(victim)))
    os.rename(os.path.join(d, "sub"), os.path.join(d, "sub.old"))
    os.symlink(os.path.dirname(victim), os.path.join(d, "sub"))
for i in range(n):
    s.sendto(b"attack %d" % i, server)
honest = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
honest.bind(os.path.join(d, "honest.sock"))
honest.settimeout(5)
honest.sendto(b"sync", server)
print(honest.recv(100).decode())
EOF
}

# attack MODE N: the whole scenario against a root `uds serve --type dgram`; sets VICTIM_GOT
# to the victim's "COUNT uids..." line.
attack() {
    local mode=$1 n=$2
    write_victim
    write_attacker
    mkdir -m 0700 "$T/victim"
    mkdir "$T/att"
    chown "$NOBODY:$NOBODY" "$T/att"
    start_server -v --type dgram --mode 0666 "$T/srv.sock"
    bg_start "$T/victim.err" bash -c 'exec timeout 30 python3 "$1" "$2" >"$3"' \
        _ "$T/victim.py" "$T/victim/v.sock" "$T/victim.out"
    local victim_pid=$BG_PID
    wait_for_line "$T/victim.out" '^ready$'
    run nobody_python "$T/attacker.py" "$mode" "$T/att" \
        "$T/srv.sock" "$T/victim/v.sock" "$n"
    echo "attacker: status $status: $output"
    [ "$status" -eq 0 ]
    [ "$output" = "sync" ]
    python3 -c 'import socket, sys
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"__stop__", sys.argv[1])' \
        "$T/victim/v.sock"
    wait_status "$victim_pid"
    VICTIM_GOT=$(sed -n 2p "$T/victim.out")
    echo "victim received (count, then the sender uid of each): $VICTIM_GOT"
    cat "$SERVER_LOG"
    rm -rf "$T/att"
}

@test "hostile dgram: a sender's name swapped for a symlink does not lead root's reply to it" {
    need_root
    attack final 5
    [ "$VICTIM_GOT" = "0" ]
    grep -qE "not answering the datagram from pid [0-9]+ uid $NOBODY gid $NOBODY: its address \
$T/att/a.sock is a symbolic link" "$SERVER_LOG"
}

@test "hostile dgram: a sender's directory swapped for a symlink does not lead root's reply" {
    need_root
    attack dir 5
    [ "$VICTIM_GOT" = "0" ]
    grep -qE "not answering the datagram from pid [0-9]+ uid $NOBODY gid $NOBODY: its address \
$T/att/sub/v.sock is not a socket of uid $NOBODY" "$SERVER_LOG"
}

@test "hostile dgram: a root server's reply to an abstract sender carries the sender's uid" {
    need_root
    start_server --type dgram --mode 0666 --reply pong "$T/srv.sock"
    run nobody_python -c '
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind("")     # autobind: an abstract name the kernel picks
s.settimeout(5)
s.sendto(b"ping", sys.argv[1])
data, anc, _, _ = s.recvmsg(100, socket.CMSG_SPACE(12))
for level, kind, payload in anc:
    if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
        pid, uid, gid = struct.unpack("iII", payload[:12])
        print(data.decode(), "uid", uid, "gid", gid)
' "$T/srv.sock"
    echo "the reply and the ids it came with: $output"
    [ "$status" -eq 0 ]
    [ "$output" = "pong uid $NOBODY gid $NOBODY" ]
}

@test "hostile dgram: an honest sender bound to a path still gets its echo from a root server" {
    need_root
    start_server --type dgram --mode 0666 "$T/srv.sock"
    mkdir "$T/c"
    chown "$NOBODY:$NOBODY" "$T/c"
    run nobody_python -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[2])
s.settimeout(5)
s.sendto(b"hello", sys.argv[1])
print(s.recv(100).decode())
' "$T/srv.sock" "$T/c/me.sock"
    rm -rf "$T/c"
    [ "$status" -eq 0 ]
    [ "$output" = "hello" ]
}

@test "hostile dgram: a sender's path with terminal controls reaches the log escaped" {
    need_root
    mkdir -m 0777 "$T/att"
    start_server --type dgram --mode 0666 "$T/s.sock"
    # Bound under a name with ESC, a CSI (U+009B) and a bidi override (U+202E), then swapped
    # for a symlink so that the server refuses to answer and logs the name.
    run nobody_python -c '
import os, socket, sys
name = os.path.join(sys.argv[1], "x\x1b[31m\u009b2J\u202egpj.sock").encode()
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(name)
os.unlink(name)
os.symlink(b"/dev/null", name)
s.sendto(b"hi", sys.argv[2])
' "$T/att" "$T/s.sock"
    [ "$status" -eq 0 ]
    wait_for_line "$SERVER_LOG" 'is a symbolic link'
    grep -F 'x\x1b[31m\u009b2J\u202egpj.sock' "$SERVER_LOG"
    ! LC_ALL=C grep -qP '\x1b|\xc2\x9b|\xe2\x80\xae' "$SERVER_LOG"
    rm -rf "$T/att"
}
