#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Hostile peers of `uds proxy`: local users who open connections and never send a byte
# hold the proxy's slots (--max-conns) and lock everyone else out; the per-user share
# (--max-conns-per-uid, half by default) stops one user alone, not two. --first-byte-timeout
# closes such a client, counted from its accept, also while the target is still being
# connected to; a client that talks is served, a target that speaks first does not count
# for the client, and without the option nothing changes for a silent client (a target
# may speak first: MySQL, SMTP). The attackers run as nobody (uid 65534) and uid 65533.

load helpers

# The attacker's Python must be one that nobody may run (not a shim under /root).
PY=/usr/bin/python3

# start_proxy [PROXY ARGS...] LISTEN TARGET: `uds proxy` in the background, waited for by
# its readiness line; sets PROXY_PID and PROXY_LOG.
start_proxy() {
    PROXY_LOG=${PROXY_LOG_FILE:-$T/proxy.log}
    bg_start "$PROXY_LOG" "$UDS" proxy "$@"
    PROXY_PID=$BG_PID
    wait_for_line "$PROXY_LOG" 'listening on'
}

# The peers, written once per test into $T (background commands get no stdin).
write_peers() {
    cat >"$T/attacker.py" <<'EOF'
# attacker.py ADDRESS N SECONDS: keep N connections to ADDRESS open for SECONDS, sending
# nothing on any of them; reconnect each one the proxy closes. Prints how many connections
# it opened, how many the proxy closed, and when it closed the first one.
import selectors, socket, sys, time
addr, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sel = selectors.DefaultSelector()
def dial():
    s = socket.socket(socket.AF_UNIX)
    s.connect(addr)
    sel.register(s, selectors.EVENT_READ)
t0 = time.monotonic()
for _ in range(n):
    dial()
opened, closed, first = n, 0, None
print("holding", n, flush=True)
while time.monotonic() - t0 < secs:
    for key, _ in sel.select(0.05):
        s = key.fileobj
        try:
            gone = s.recv(1) == b""
        except ConnectionResetError:
            gone = True
        if gone:
            closed += 1
            if first is None:
                first = time.monotonic() - t0
            sel.unregister(s)
            s.close()
            dial()
            opened += 1
print("opened", opened, "closed", closed,
      "first_close", "never" if first is None else "%.1f" % first, flush=True)
EOF
    cat >"$T/client.py" <<'EOF'
# client.py ADDRESS DELAY SECONDS: connect, wait DELAY, send "hello", and print what comes
# back within SECONDS and after how long: "hello 0.1", or EOF/RESET/TIMEOUT.
import socket, sys, time
addr, delay, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
t0 = time.monotonic()
s = socket.socket(socket.AF_UNIX)
s.settimeout(secs)
s.connect(addr)
time.sleep(delay)
try:
    s.sendall(b"hello")
    b = s.recv(100)
    what = b.decode() if b else "EOF"
except (ConnectionResetError, BrokenPipeError):
    what = "RESET"
except socket.timeout:
    what = "TIMEOUT"
print(what, "%.1f" % (time.monotonic() - t0))
EOF
    cat >"$T/silent.py" <<'EOF'
# silent.py ADDRESS SECONDS: connect, send nothing, and print what happens within SECONDS
# and after how long: "EOF 1.0" (closed by the other end), "greeting 0.0" (bytes), or
# "open 3.0" (still connected at the end).
import socket, sys, time
addr, secs = sys.argv[1], float(sys.argv[2])
t0 = time.monotonic()
s = socket.socket(socket.AF_UNIX)
s.settimeout(secs)
s.connect(addr)
got = b""
try:
    while True:
        b = s.recv(100)
        if not b:
            what = "EOF"
            break
        got += b
except ConnectionResetError:
    what = "RESET"
except socket.timeout:
    what = "open"
if got:
    what = got.decode() + " " + what
print(what, "%.1f" % (time.monotonic() - t0))
EOF
    cat >"$T/greeter.py" <<'EOF'
# greeter.py ADDRESS READYFILE: a server that speaks first (as MySQL and SMTP do): it sends
# "greeting" to each client as it connects, then echoes.
import os, socket, sys, threading
l = socket.socket(socket.AF_UNIX)
l.bind(sys.argv[1])
l.listen(16)
open(sys.argv[2], "w").close()
def serve(c):
    c.sendall(b"greeting")
    while True:
        b = c.recv(100)
        if not b:
            break
        c.sendall(b)
    c.close()
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
    cat >"$T/slow_accept.py" <<'EOF'
# slow_accept.py ADDRESS READYFILE GOFILE: listen with a backlog that is full at once, and
# start accepting (and echoing) only once GOFILE exists: until then every connection
# attempt answers EAGAIN, as a busy server's does.
import os, socket, sys, threading, time
addr, ready, go = sys.argv[1:4]
l = socket.socket(socket.AF_UNIX)
l.bind(addr)
l.listen(0)
fillers = []
while True:
    f = socket.socket(socket.AF_UNIX)
    f.setblocking(False)
    try:
        f.connect(addr)
    except BlockingIOError:
        f.close()
        break
    fillers.append(f)
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.01)
def serve(c):
    while True:
        b = c.recv(100)
        if not b:
            break
        c.sendall(b)
    c.close()
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
}

setup_file() {
    [ -x "$PY" ] || skip "needs $PY"
}

# ---- the attack ------------------------------------------------------------------------------

# Two local users (nobody and uid 65533) hold every slot of a proxy with 4 silent
# connections each, its default share of -c 8, reconnecting each one that is closed;
# another user's request then waits for a slot. Prints the figures.
attack() {
    local uid pids=()
    write_peers
    start_server "$T/s.sock"
    start_proxy -m 0666 -c 8 "$@" "$T/p.sock" "$T/s.sock"
    for uid in "$NOBODY" 65533; do
        bg_start "$T/attacker$uid.err" bash -c 'exec "$@" >"$0"' "$T/attacker$uid.out" \
            setpriv --reuid="$uid" --regid="$uid" --clear-groups \
            timeout 20 "$PY" "$T/attacker.py" "$T/p.sock" 4 6
        pids+=("$BG_PID")
        wait_for_line "$T/attacker$uid.out" "holding 4"
    done
    CLIENT=$(timeout 10 "$PY" "$T/client.py" "$T/p.sock" 0 5)
    for uid in 0 1; do wait_status "${pids[$uid]}" 15; done
    ATTACKER=$(tail -qn1 "$T/attacker$NOBODY.out" "$T/attacker65533.out")
    echo "attackers (4 silent connections each, -c 8):"
    echo "$ATTACKER"
    echo "other user's request: $CLIENT"
}

@test "hostile: without a first-byte limit, two users' silent connections lock out everyone" {
    need_root
    attack
    # The other user waits the whole 5 s unserved; no attacker was ever closed.
    [[ "$CLIENT" == "TIMEOUT "* ]]
    [ "$(grep -c "closed 0 first_close never" <<<"$ATTACKER")" -eq 2 ]
}

@test "hostile: --first-byte-timeout 1 frees the slots of silent clients; others are served" {
    need_root
    attack --first-byte-timeout 1
    # Served once the first silent connections are closed (about 1 s after their accept,
    # which may come before the client starts on a slow machine), although the attackers
    # reconnect each one at once.
    [[ "$CLIENT" =~ ^hello\ (0\.[0-9]|1\.[0-9]|2\.[0-5])$ ]]
    [ "$(grep -cE "first_close (0\.9|1\.[0-9]|2\.[0-5])$" <<<"$ATTACKER")" -eq 2 ]
}

# ---- what the option does --------------------------------------------------------------------

@test "hostile: a silent client is closed within 1-2 s and logged (-v) with its pid and uid" {
    need_root
    write_peers
    start_server "$T/s.sock"
    start_proxy -v -m 0666 --first-byte-timeout 1 "$T/p.sock" "$T/s.sock"
    run setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups \
        timeout 10 "$PY" "$T/silent.py" "$T/p.sock" 5
    echo "silent client: $output"
    [[ "$output" =~ ^EOF\ (0\.9|1\.[0-9]|2\.0)$ ]]
    wait_for_line "$PROXY_LOG" "uds: $T/p.sock: closed connection from pid [0-9]+ uid $NOBODY \
gid $NOBODY.*: sent nothing for 1s \(--first-byte-timeout\)"
    # A client that talks is served, and so is one that takes its time within the limit.
    run timeout 10 "$PY" "$T/client.py" "$T/p.sock" 0 5
    [[ "$output" == "hello "* ]]
    run timeout 10 "$PY" "$T/client.py" "$T/p.sock" 0.6 5
    [[ "$output" == "hello "* ]]
}

@test "hostile: only the first byte is due: a client that spoke may then stay silent" {
    write_peers
    start_server "$T/s.sock"
    start_proxy --first-byte-timeout 0.5 "$T/p.sock" "$T/s.sock"
    run timeout 10 "$PY" - "$T/p.sock" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"x")
assert s.recv(10) == b"x"
time.sleep(1.5)
s.sendall(b"y")
print(s.recv(10).decode())
EOF
    [ "$output" = "y" ]
}

@test "hostile: without --first-byte-timeout a silent client stays connected" {
    write_peers
    start_server "$T/s.sock"
    start_proxy "$T/p.sock" "$T/s.sock"
    run timeout 10 "$PY" "$T/silent.py" "$T/p.sock" 2.5
    echo "silent client: $output"
    # Still open when the client gave up; a loaded machine may wake it a little late.
    [[ "$output" =~ ^open\ 2\.[5-9]$ ]]
}

@test "hostile: a target that speaks first does not count as the client's first byte" {
    write_peers
    bg_start "$T/greeter.err" "$PY" "$T/greeter.py" "$T/g.sock" "$T/g.ready"
    LEFTOVER_OK+=("$T/g.sock")
    wait_path "$T/g.ready"
    start_proxy --first-byte-timeout 0.5 "$T/p.sock" "$T/g.sock"
    run timeout 10 "$PY" "$T/silent.py" "$T/p.sock" 5
    echo "silent client of a greeting target: $output"
    [[ "$output" =~ ^greeting\ EOF\ (0\.[5-9]|1\.[0-5])$ ]]
    # Without the option the greeting client stays, as MySQL's and SMTP's clients must.
    PROXY_LOG_FILE=$T/proxy2.log start_proxy "$T/p2.sock" "$T/g.sock"
    run timeout 10 "$PY" "$T/silent.py" "$T/p2.sock" 1.5
    [ "$output" = "greeting open 1.5" ]
}

# slow_target: a target that accepts nothing until $T/go exists.
slow_target() {
    bg_start "$T/slow.err" "$PY" "$T/slow_accept.py" "$T/t.sock" "$T/t.ready" "$T/go"
    LEFTOVER_OK+=("$T/t.sock")
    wait_path "$T/t.ready"
}

@test "hostile: the clock starts at accept, also while the target is still being connected" {
    write_peers
    slow_target
    start_proxy -v --first-byte-timeout 0.8 "$T/p.sock" "$T/t.sock"
    # Two clients while the proxy retries the target (waiting, not idle): one silent, one
    # that sends at once.
    bg_start "$T/silent.err" bash -c 'exec "$@" >"$0"' "$T/silent.out" \
        timeout 10 "$PY" "$T/silent.py" "$T/p.sock" 5
    bg_start "$T/client.err" bash -c 'exec "$@" >"$0"' "$T/client.out" \
        timeout 10 "$PY" "$T/client.py" "$T/p.sock" 0 8
    # The silent one is closed at 0.8 s, before the target has even answered.
    wait_for_line "$T/silent.out" "^EOF"
    echo "silent, target still connecting: $(cat "$T/silent.out")"
    grep -qE "^EOF (0\.[89]|1\.[0-4])$" "$T/silent.out"
    wait_for_line "$PROXY_LOG" "closed connection from pid [0-9]+ .* while connecting to \
$T/t.sock: sent nothing for 0.8s \(--first-byte-timeout\)"
    # What the other sent while the proxy connected counts: past its 0.8 s it still waits,
    # and is served once the target accepts.
    sleep 0.5
    [ ! -s "$T/client.out" ]
    touch "$T/go"
    wait_for_line "$T/client.out" "^hello "
    echo "talking, target still connecting: $(cat "$T/client.out")"
}

@test "hostile: a slow connect does not extend the deadline once the relay runs" {
    write_peers
    slow_target
    start_proxy --first-byte-timeout 2 "$T/p.sock" "$T/t.sock"
    bg_start "$T/silent.err" bash -c 'exec "$@" >"$0"' "$T/silent.out" \
        timeout 10 "$PY" "$T/silent.py" "$T/p.sock" 5
    # The target answers after 1 s; the relay then runs, and still closes the silent client
    # 2 s after its accept, not 2 s after the relay began.
    sleep 1
    touch "$T/go"
    wait_for_line "$T/silent.out" "^EOF"
    echo "silent, relay started 1 s late: $(cat "$T/silent.out")"
    grep -qE "^EOF (1\.9|2\.[0-4])$" "$T/silent.out"
}

@test "hostile: --first-byte-timeout values: 0 and none mean no limit; bad ones are usage errors" {
    write_peers
    start_server "$T/s.sock"
    start_proxy --first-byte-timeout 0 "$T/p.sock" "$T/s.sock"
    PROXY_LOG_FILE=$T/proxy2.log start_proxy --first-byte-timeout none "$T/p2.sock" "$T/s.sock"
    run timeout 10 "$PY" "$T/silent.py" "$T/p.sock" 1.5
    [ "$output" = "open 1.5" ]
    run timeout 10 "$PY" "$T/silent.py" "$T/p2.sock" 1.5
    [ "$output" = "open 1.5" ]
    local bad
    for bad in x -1 1x ""; do
        run --separate-stderr timeout 5 "$UDS" proxy --first-byte-timeout "$bad" \
            "$T/p3.sock" "$T/s.sock"
        [ "$status" -eq 64 ]
        [ "$stderr" = "uds proxy: --first-byte-timeout: '$bad' is not a duration in seconds; \
e.g. --first-byte-timeout 10, or none
Try 'uds proxy --help'." ]
        # A shared option: uds serve words it the same.
        run --separate-stderr timeout 5 "$UDS" serve --first-byte-timeout "$bad" "$T/s2.sock"
        [ "$status" -eq 64 ]
        [[ "$stderr" == "uds serve: --first-byte-timeout: '$bad' is not a duration"* ]]
    done
    "$UDS" proxy --help | grep -q -- "--first-byte-timeout SECONDS"
}
