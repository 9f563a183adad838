#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds ls` on sockets the test opens itself (with Python and `uds serve`), checked field by
# field against `ss -x -a -p` and `lsof -U`; its JSON validated with python3 -m json.tool.

load helpers

# holder [ARGS...]: a Python process that opens a set of sockets in $T, writes their
# inodes as JSON to $T/inodes.json, says "ready" on stderr and waits to be killed.
# Sets HOLDER_PID.
holder() {
    cat >"$T/holder.py" <<'EOF'
import json, os, signal, socket, sys, time
T = sys.argv[1]
ab = "uds-test-%d" % os.getpid()
def bye(*_):
    for f in ["listen.sock", "@" + ab]:
        try: os.unlink(T + "/" + f)
        except OSError: pass
    os._exit(0)
signal.signal(signal.SIGTERM, bye)
os.chdir(T)
s = {}
def keep(name, sock):
    s[name] = sock
l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
l.bind(T + "/listen.sock"); l.listen(7); keep("listener", l)
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.connect(T + "/listen.sock")
keep("client", c)
a, _ = l.accept(); keep("accepted", a)
a.send(b"x" * 10)                       # 10 bytes unread in the client's queue
w = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); w.connect(T + "/listen.sock")
keep("waiting", w)                      # not accepted: pending in the backlog
d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); d.bind("\0" + ab); keep("abstract", d)
f = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); f.bind("@" + ab); keep("at_file", f)
p1, p2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
keep("pair1", p1); keep("pair2", p2)
out = {k: os.fstat(v.fileno()).st_ino for k, v in s.items()}
out["fds"] = {k: v.fileno() for k, v in s.items()}
out["abstract_name"] = ab
out["pid"] = os.getpid()
with open(T + "/inodes.json.tmp", "w") as fp:
    json.dump(out, fp)
os.rename(T + "/inodes.json.tmp", T + "/inodes.json")
sys.stderr.write("ready\n"); sys.stderr.flush()
time.sleep(60)
EOF
    bg_start "$T/holder.log" timeout 60 python3 "$T/holder.py" "$T"
    wait_for_line "$T/holder.log" '^ready'
    HOLDER_PID=$(ino pid)
}

# ino NAME: an inode the holder wrote.
ino() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
        "$T/inodes.json" "$1"
}

@test "ls: a listener shows type, state, backlog, waiting clients, address and process" {
    holder
    run --separate-stderr timeout 10 "$UDS" ls "$T/listen.sock"
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" =~ ^TYPE\ +STATE\ +RECV-Q\ +SEND-Q\ +ADDRESS\ +INODE\ +PEER\ +PROCESS$ ]]
    local row
    row=$(printf '%s\n' "$output" | awk -v i="$(ino listener)" '$6 == i')
    read -r type state rq sq addr inode peer proc <<<"$row"
    [ "$type" = stream ]
    [ "$state" = listening ]
    [ "$rq" = 1 ]       # one client waits to be accepted
    [ "$sq" = 7 ]       # the backlog
    [ "$addr" = "$T/listen.sock" ]
    [ "$peer" = - ]
    [ "$proc" = "$HOLDER_PID/python3" ]
}

@test "ls: PEER names the peer's address, or its process when it has none" {
    holder
    run --separate-stderr timeout 10 "$UDS" ls -a
    [ "$status" -eq 0 ]
    local row
    # the client is unnamed: its peer (the accepted socket) carries the listener's path
    row=$(printf '%s\n' "$output" | awk -v i="$(ino client)" '$6 == i')
    [ "$(awk '{print $7}' <<<"$row")" = "$T/listen.sock" ]
    [ "$(awk '{print $3}' <<<"$row")" = 10 ]
    # the accepted socket's peer is the unnamed client: named by its process
    row=$(printf '%s\n' "$output" | awk -v i="$(ino accepted)" '$6 == i')
    [ "$(awk '{print $7}' <<<"$row")" = "$HOLDER_PID/python3" ]
}

@test "ls: unnamed sockets only with -a; -l shows only sockets that accept" {
    holder
    run --separate-stderr timeout 10 "$UDS" ls
    [ "$status" -eq 0 ]
    ! printf '%s\n' "$output" | awk -v i="$(ino pair1)" '$6 == i' | grep -q .
    printf '%s\n' "$output" | awk -v i="$(ino listener)" '$6 == i' | grep -q .
    run --separate-stderr timeout 10 "$UDS" ls -a
    printf '%s\n' "$output" | awk -v i="$(ino pair1)" '$6 == i' | grep -q seqpacket
    run --separate-stderr timeout 10 "$UDS" ls -l "$T/*"
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" | awk -v i="$(ino listener)" '$6 == i' | grep -q listening
    ! printf '%s\n' "$output" | awk -v i="$(ino accepted)" '$6 == i' | grep -q .
    printf '%s\n' "$output" | awk -v i="$(ino at_file)" '$6 == i' | grep -q dgram
}

@test "ls: an abstract @x and a file named @x are told apart" {
    holder
    local ab
    ab=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["abstract_name"])' \
        "$T/inodes.json")
    run --separate-stderr timeout 10 "$UDS" ls -a
    [ "$status" -eq 0 ]
    # bound as "@name" relative to the holder's cwd ($T): shown as its absolute path
    [ "$(printf '%s\n' "$output" | awk -v i="$(ino at_file)" '$6 == i {print $5}')" = "$T/@$ab" ]
    [ "$(printf '%s\n' "$output" | awk -v i="$(ino abstract)" '$6 == i {print $5}')" = "@$ab" ]
    # a PATTERN sees the same distinction
    run --separate-stderr timeout 10 "$UDS" ls --json "@$ab"
    [ "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d), d[0]["kind"])' \
        <<<"$output")" = "1 abstract" ]
}

@test "ls: a relative name no holder's directory explains is shown as ./NAME" {
    cat >"$T/rel.py" <<'EOF'
import os, signal, socket, sys, time
os.chdir(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: (os.unlink(sys.argv[1] + "/rel.sock"), os._exit(0)))
s = socket.socket(socket.AF_UNIX); s.bind("rel.sock"); s.listen(1)
os.chdir("/")
print(os.fstat(s.fileno()).st_ino, flush=True)
sys.stderr.write("ready\n"); sys.stderr.flush()
time.sleep(60)
EOF
    bg_start "$T/rel.log" timeout 60 python3 "$T/rel.py" "$T" >"$T/rel.out"
    wait_for_line "$T/rel.log" '^ready'
    run --separate-stderr timeout 10 "$UDS" ls --json './rel.sock'
    [ "$status" -eq 0 ]
    run python3 -c '
import json, sys
d = json.load(sys.stdin)
assert len(d) == 1, d
assert d[0]["address"] == "./rel.sock" and d[0]["name"] == "rel.sock", d
assert d[0]["path_status"] == "unknown", d
' <<<"$output"
    [ "$status" -eq 0 ]
}

@test "ls: a listener whose file was deleted or replaced is marked unreachable" {
    start_server "$T/gone.sock"
    local gone_pid=$SERVER_PID
    SERVER_LOG_FILE=$T/moved.log start_server "$T/moved.sock"
    rm -f "$T/gone.sock"
    mv "$T/moved.sock" "$T/elsewhere.sock"
    python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
        "$T/moved.sock"
    LEFTOVER_OK+=("$T/moved.sock" "$T/elsewhere.sock")
    run --separate-stderr timeout 10 "$UDS" ls -l "$T/*"
    [ "$status" -eq 0 ]
    [[ "$output" == *"$T/gone.sock (deleted)"* ]]
    [[ "$output" == *"$T/moved.sock (replaced)"* ]]
    run --separate-stderr timeout 10 "$UDS" ls -l --json "$T/*"
    run python3 -c '
import json, sys
st = {d["address"]: d["path_status"] for d in json.load(sys.stdin)}
assert st[sys.argv[1] + "/gone.sock"] == "deleted", st
assert st[sys.argv[1] + "/moved.sock"] == "replaced", st
' "$T" <<<"$output"
    [ "$status" -eq 0 ]
    rm -f "$T/moved.sock" "$T/elsewhere.sock"
}

@test "ls --json: valid JSON, one object per socket, every documented field" {
    holder
    timeout 10 "$UDS" ls -a --json >"$T/ls.json"
    python3 -m json.tool "$T/ls.json" >/dev/null
    run python3 - "$T" <<'EOF'
import json, sys
T = sys.argv[1]
want = json.load(open(T + "/inodes.json"))
socks = {d["inode"]: d for d in json.load(open(T + "/ls.json"))}
fields = {"address", "type", "state", "inode", "peer_inode", "recv_q", "send_q", "uid",
          "processes", "kind", "name", "path_status", "peer_address", "file"}
for d in socks.values():
    assert fields <= set(d), d
for name in ["listener", "client", "accepted", "waiting", "abstract", "at_file", "pair1",
             "pair2"]:
    d = socks[want[name]]
    procs = [(p["pid"], p["command"], p["fd"]) for p in d["processes"]]
    assert (want["pid"], "python3", want["fds"][name]) in procs, (name, d)
    assert d["uid"] == 0 or isinstance(d["uid"], int), d
l = socks[want["listener"]]
assert l["address"] == T + "/listen.sock" and l["type"] == "stream", l
assert l["state"] == "listening" and l["recv_q"] == 1 and l["send_q"] == 7, l
assert l["pending"] == [want["waiting"]], l
assert l["path_status"] == "ok" and l["file"]["inode"] > 0, l
c = socks[want["client"]]
assert c["address"] is None and c["kind"] == "unnamed" and c["recv_q"] == 10, c
assert c["peer_inode"] == want["accepted"], c
assert c["peer_address"] == T + "/listen.sock", c
a = socks[want["accepted"]]
assert a["address"] == T + "/listen.sock" and a["peer_inode"] == want["client"], a
assert socks[want["waiting"]]["peer_inode"] is None
ab = socks[want["abstract"]]
assert ab["address"] == "@" + want["abstract_name"] and ab["type"] == "dgram", ab
assert ab["state"] == "unconnected" and ab["path_status"] is None, ab
assert socks[want["at_file"]]["address"] == T + "/@" + want["abstract_name"]
p = socks[want["pair1"]]
assert p["type"] == "seqpacket" and p["state"] == "connected", p
assert p["peer_inode"] == want["pair2"], p
EOF
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "ls: the test's sockets agree field by field with ss -x -a -p" {
    holder
    timeout 10 "$UDS" ls -a --json >"$T/ls.json"
    timeout 10 ss -x -a -p >"$T/ss.txt"
    run python3 - "$T" <<'EOF'
import json, re, sys
T = sys.argv[1]
want = json.load(open(T + "/inodes.json"))
mine = {want[k] for k in ["listener", "client", "accepted", "waiting", "abstract",
                          "at_file", "pair1", "pair2"]}
socks = {d["inode"]: d for d in json.load(open(T + "/ls.json"))}
types = {"u_str": "stream", "u_dgr": "dgram", "u_seq": "seqpacket"}
states = {"LISTEN": "listening", "ESTAB": "connected", "UNCONN": "unconnected"}
seen = set()
# Other processes' socket names need not be UTF-8: only the test's own are compared.
for line in open(T + "/ss.txt", errors="surrogateescape").read().splitlines()[1:]:
    f = line.split()
    # Netid State Recv-Q Send-Q Local Port Peer Port [Process]
    netid, state, rq, sq, local, port, _, peer = f[:8]
    port = int(port)
    if port not in mine:
        continue
    seen.add(port)
    d = socks[port]
    assert types[netid] == d["type"], (line, d)
    assert states[state] == d["state"], (line, d)
    assert int(rq) == d["recv_q"] and int(sq) == d["send_q"], (line, d)
    addr = d["address"] if d["kind"] != "path" else d["name"]
    assert local == (addr if addr is not None else "*"), (line, d)
    assert int(peer) == (d["peer_inode"] or 0), (line, d)
    pids = set(int(p) for p in re.findall(r"pid=(\d+)", line))
    assert pids == {p["pid"] for p in d["processes"]}, (line, d)
assert seen == mine, (seen, mine)
EOF
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "ls: the test's sockets agree with lsof -U on pid, fd and inode" {
    holder
    timeout 10 "$UDS" ls -a --json >"$T/ls.json"
    timeout 20 lsof -n -U -a -p "$HOLDER_PID" -F pfi >"$T/lsof.txt" || true
    run python3 - "$T" <<'EOF'
import json, sys
T = sys.argv[1]
want = json.load(open(T + "/inodes.json"))
pid = fd = None
lsof = set()
for line in open(T + "/lsof.txt").read().splitlines():
    if line[0] == "p": pid = int(line[1:])
    elif line[0] == "f": fd = line[1:]
    elif line[0] == "i" and fd.isdigit(): lsof.add((pid, int(fd), int(line[1:])))
ours = set()
for d in json.load(open(T + "/ls.json")):
    for p in d["processes"]:
        if p["pid"] == want["pid"]:
            ours.add((p["pid"], p["fd"], d["inode"]))
assert len(lsof) >= 8, lsof
assert lsof == ours, (lsof ^ ours)
EOF
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "ls: -p lists every process and fd that holds a socket" {
    cat >"$T/fork.py" <<'EOF'
import os, signal, socket, sys, time
l = socket.socket(socket.AF_UNIX); l.bind(sys.argv[1] + "/shared.sock"); l.listen(1)
pid = os.fork()
if pid == 0:
    time.sleep(60); os._exit(0)
def bye(*_):
    os.kill(pid, 9)
    os.unlink(sys.argv[1] + "/shared.sock")
    os._exit(0)
signal.signal(signal.SIGTERM, bye)
sys.stderr.write("ready %d %d %d\n" % (os.getpid(), pid, l.fileno())); sys.stderr.flush()
time.sleep(60)
bye()
EOF
    bg_start "$T/fork.log" timeout 60 python3 "$T/fork.py" "$T"
    wait_for_line "$T/fork.log" '^ready'
    local parent child fd
    read -r _ parent child fd < <(grep '^ready' "$T/fork.log")
    run --separate-stderr timeout 10 "$UDS" ls "$T/shared.sock"
    [[ "$output" == *" $parent/python3,+1"* ]]
    run --separate-stderr timeout 10 "$UDS" ls -p "$T/shared.sock"
    [[ "$output" == *" $parent/python3:$fd,$child/python3:$fd"* ]]
}

@test "ls: uds ls -a counts the same sockets as ss -x -a taken at the same moment" {
    holder
    local a b c i
    # Other processes open and close sockets meanwhile (a socket can close and another
    # open between two ss runs, leaving the counts equal): take up to ten triples and
    # require one where all three agree. A real miscount fails every one of them.
    for i in 1 2 3 4 5 6 7 8 9 10; do
        a=$(ss -x -a | tail -n +2 | wc -l)
        b=$(timeout 10 "$UDS" ls -a | tail -n +2 | wc -l)
        c=$(ss -x -a | tail -n +2 | wc -l)
        [ "$a" = "$c" ] && [ "$b" = "$a" ] && break
    done
    echo "ss $a, uds $b, ss $c"
    [ "$a" = "$c" ]
    [ "$b" = "$a" ]
}

@test "ls: an unprivileged user sees every socket, and only its own processes" {
    holder
    run --separate-stderr as_nobody timeout 10 "$UDS" ls -a
    [ "$status" -eq 0 ]
    local row
    row=$(printf '%s\n' "$output" | awk -v i="$(ino listener)" '$6 == i')
    [ -n "$row" ]
    [ "$(awk '{print $8}' <<<"$row")" = - ]
    [[ "$stderr" == *"could not be read"*"run as root"* ]]
}

@test "ls: PATTERN is a glob on the address; nothing matching is not an error" {
    holder
    run --separate-stderr timeout 10 "$UDS" ls "$T/listen.*"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -ge 2 ]
    run --separate-stderr timeout 10 "$UDS" ls "$T/no-such-*"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 1 ]
    run --separate-stderr timeout 10 "$UDS" ls --json "$T/no-such-*"
    [ "$output" = "[]" ]
}

@test "ls: usage errors exit 64" {
    run --separate-stderr timeout 5 "$UDS" ls a b
    [ "$status" -eq 64 ]
    run --separate-stderr timeout 5 "$UDS" ls --frobnicate
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"unknown option '--frobnicate'"* ]]
}

@test "ls: every option of --help is in the man page" {
    run timeout 5 "$UDS" ls --help
    [ "$status" -eq 0 ]
    help_in_man "$output"
}

@test "ls: a client waiting in a listener's backlog shows that listener as its peer" {
    holder
    run --separate-stderr timeout 10 "$UDS" ls -a
    [ "$status" -eq 0 ]
    local row
    row=$(printf '%s\n' "$output" | awk -v i="$(ino waiting)" '$6 == i')
    [ "$(awk '{print $7}' <<<"$row")" = "$T/listen.sock" ]
    timeout 10 "$UDS" ls -a --json >"$T/ls.json"
    run python3 - "$T" <<'EOF2'
import json, sys
T = sys.argv[1]
want = json.load(open(T + "/inodes.json"))
socks = {d["inode"]: d for d in json.load(open(T + "/ls.json"))}
w = socks[want["waiting"]]
assert w["peer_inode"] is None, w                       # the kernel's word, as ss shows it
assert w["peer_address"] == T + "/listen.sock", w
assert w["waiting_in"] == want["listener"], w
assert socks[want["client"]]["waiting_in"] is None
EOF2
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "ls: a listener bound through a path over 107 bytes shows its real path, status ok" {
    local dir="$T/$(printf 'd%.0s' {1..60})"
    mkdir "$dir"
    local path="$dir/$(printf 'e%.0s' {1..60}).sock"
    start_server "$path"
    run --separate-stderr timeout 10 "$UDS" ls -l "$dir/*"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *" $path "* ]]
    [[ "$output" != *"/proc/self/fd/"* ]]
    run --separate-stderr timeout 10 "$UDS" ls -l --json "$dir/*"
    run python3 -c '
import json, sys
d, = json.load(sys.stdin)
assert d["address"] == sys.argv[1] and d["path_status"] == "ok", d
assert d["name"].startswith("/proc/self/fd/"), d      # the name the kernel keeps
' "$path" <<<"$output"
    [ "$status" -eq 0 ]
}

@test "ls: a pattern matches a path as given and as resolved (a symlinked run directory)" {
    mkdir "$T/run"
    ln -s run "$T/varrun"
    start_server "$T/run/a.sock"
    SERVER_LOG_FILE=$T/b.log start_server "$T/varrun/b.sock"
    for pattern in "$T/run/*" "$T/varrun/*"; do
        run --separate-stderr timeout 10 "$UDS" ls -l "$pattern"
        echo "$pattern: $output"
        [[ "$output" == *"$T/run/a.sock "* ]]
        [[ "$output" == *"/b.sock "* ]]
    done
    # the address is shown as bound; the JSON's too
    run --separate-stderr timeout 10 "$UDS" ls -l "$T/run/*"
    [[ "$output" == *"$T/varrun/b.sock "* ]]
}

@test "ls --pid: only the sockets of one process, unnamed ones too" {
    holder
    start_server "$T/other.sock"
    timeout 10 "$UDS" ls --pid "$HOLDER_PID" --json >"$T/ls.json"
    run python3 - "$T" <<'EOF2'
import json, sys
T = sys.argv[1]
want = json.load(open(T + "/inodes.json"))
socks = json.load(open(T + "/ls.json"))
inodes = {d["inode"] for d in socks}
mine = {want[k] for k in ["listener", "client", "accepted", "waiting", "abstract",
                          "at_file", "pair1", "pair2"]}
assert inodes == mine, (inodes, mine)
assert all(any(p["pid"] == want["pid"] for p in d["processes"]) for d in socks)
EOF2
    echo "$output"
    [ "$status" -eq 0 ]
    run --separate-stderr timeout 10 "$UDS" ls --pid "$SERVER_PID"
    [[ "$output" == *"$T/other.sock"* ]]
    [[ "$output" != *"$T/listen.sock"* ]]
    run --separate-stderr timeout 10 "$UDS" ls --pid 0
    [ "$status" -eq 64 ]
    run --separate-stderr timeout 10 "$UDS" ls --pid abc
    [ "$status" -eq 64 ]
}

@test "ls --user and -p: whose sockets, with a USER column" {
    need_root
    mkdir -m 0755 "$T/n"
    chown "$NOBODY" "$T/n"
    # setpriv execs uds, so BG_PID is the server (a shell function would stand between).
    bg_start "$T/nobody.log" setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups \
        "$UDS" serve "$T/n/nobody.sock"
    wait_for_line "$T/nobody.log" 'listening on'
    local nobody_pid=$BG_PID
    start_server "$T/root.sock"
    run --separate-stderr timeout 10 "$UDS" ls --user nobody "$T/*"
    [[ "$output" != *"root.sock"* ]]
    run --separate-stderr timeout 10 "$UDS" ls --user nobody
    [[ "$output" == *"$T/n/nobody.sock"* ]]
    [[ "$output" != *"$T/root.sock"* ]]
    run --separate-stderr timeout 10 "$UDS" ls --user "$NOBODY"
    [[ "$output" == *"$T/n/nobody.sock"* ]]
    run --separate-stderr timeout 10 "$UDS" ls -p "$T/*" "$T/n/*"
    [ "$status" -eq 64 ]    # one pattern
    run --separate-stderr timeout 10 "$UDS" ls -l -p "$T/*sock"
    echo "$output"
    [[ "${lines[0]}" == *" USER "*" PROCESS" ]]
    [[ "$output" == *"$T/root.sock "*" root "*"$SERVER_PID/uds:"* ]]
    run --separate-stderr timeout 10 "$UDS" ls -l -p "$T/n/*"
    [[ "$output" == *"$T/n/nobody.sock "*" nobody "*"$nobody_pid/uds:"* ]]
    timeout 10 "$UDS" ls -l --json "$T/n/*" >"$T/ls.json"
    python3 -c 'import json,sys; d,=json.load(open(sys.argv[1])); p,=d["processes"]; assert p["user"] == "nobody" and p["uid"] == 65534, d' "$T/ls.json"
    run --separate-stderr timeout 10 "$UDS" ls --user no-such-user-udskit
    [ "$status" -eq 64 ]
}

@test "ls -m: socket memory as ss -xm shows it" {
    holder
    run --separate-stderr timeout 10 "$UDS" ls -a -m
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == *" MEMORY "* ]]
    local row mine theirs
    row=$(printf '%s\n' "$output" | awk -v i="$(ino accepted)" '$6 == i')
    mine=$(grep -o 'skmem:([^)]*)' <<<"$row")
    # ss -xamH: one line per socket; the local inode is the sixth field (after the address,
    # "*" for none)
    theirs=$(ss -xamH | awk -v i="$(ino accepted)" '$6 == i' | grep -o 'skmem:([^)]*)')
    echo "uds: $mine ss: $theirs"
    [ -n "$mine" ] && [ "$mine" = "$theirs" ]
    # the 10 bytes sent to the client are charged to the sender
    [[ "$mine" != *",t0,"* ]]
    timeout 10 "$UDS" ls -a --json >"$T/ls.json"
    python3 -c '
import json, sys
want = json.load(open(sys.argv[1] + "/inodes.json"))
socks = {d["inode"]: d for d in json.load(open(sys.argv[1] + "/ls.json"))}
m = socks[want["accepted"]]["mem"]
assert m["wmem_alloc"] > 0 and m["sndbuf"] > 0 and m["rcvbuf"] > 0, m' "$T"
}
