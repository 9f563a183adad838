#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds tap`: swapped in front of a live server and out again without a failed connect,
# what it prints (text, hex, JSON) and how it escapes hostile payloads, message boundaries,
# passed fds, many clients byte for byte, the client's identity kept through a root tap,
# SIGKILL of the tap (the watchdog puts the server back), what it refuses to swap, a tap
# already at work, and --listen. The peers are `uds serve` and Python's socket module
# (tap_peer.py); tap_real.bats has Wireshark's tshark and real servers.

load helpers
load tap_helpers

# ---- swapping in and out -------------------------------------------------------------

@test "tap: swaps in, shows both ways with the client, and puts the server back" {
    TAP_OUT=$T/tap.out
    start_server "$T/s.sock"
    local before mode
    before=$(inode "$T/s.sock")
    mode=$(stat -c '%a %U %G' "$T/s.sock")
    start_tap "$T/s.sock"
    [ "$(inode "$T/s.sock")" != "$before" ]
    [ "$(stat -c '%a %U %G' "$T/s.sock")" = "$mode" ]
    ls -a "$T" | grep -q '^\.s\.sock\.uds-tap\.'
    run timeout 5 "$UDS" send "$T/s.sock" "hello tap"
    [ "$status" -eq 0 ]
    [ "$output" = "hello tap" ]
    wait_for_line "$T/tap.out" 'close:'
    grep -qE '#1 open: pid [0-9]+ uid [0-9]+ gid [0-9]+ uds' "$T/tap.out"
    grep -qE '#1 client > server 10 bytes' "$T/tap.out"
    grep -qE '#1 client < server 10 bytes' "$T/tap.out"
    grep -qxF '    hello tap\n' "$T/tap.out"
    grep -qE 'client > server end of stream' "$T/tap.out"
    stop_tap
    [ "$WAIT_STATUS" -eq 0 ]
    [ "$(inode "$T/s.sock")" = "$before" ]
    run ls -a "$T"
    [[ "$output" != *uds-tap* ]]
    run timeout 5 "$UDS" send "$T/s.sock" "direct again"
    [ "$output" = "direct again" ]
}

@test "tap: a client loop sees no failed connect while the tap swaps in and out" {
    TAP_OUT=/dev/null
    start_server "$T/s.sock"
    bg_start "$T/loop.err" python3 "$PEER" client-loop "$T/s.sock" "$T/stop" "$T/loop.out"
    local loop=$BG_PID
    sleep 0.3
    start_tap -q "$T/s.sock"
    sleep 0.5
    stop_tap
    [ "$WAIT_STATUS" -eq 0 ]
    start_tap -q "$T/s.sock"
    sleep 0.3
    stop_tap
    sleep 0.3
    touch "$T/stop"
    wait_status "$loop" 20
    cat "$T/loop.out"
    grep -qE '^ok [1-9][0-9]* failed 0' "$T/loop.out"
}

@test "tap: SIGKILL of the tap puts the server back within a second" {
    TAP_OUT=/dev/null
    start_server "$T/s.sock"
    local before
    before=$(inode "$T/s.sock")
    start_tap "$T/s.sock"
    [ "$(inode "$T/s.sock")" != "$before" ]
    kill -KILL "$TAP_PID"
    # the inode is read again at each try, not once when the line is expanded
    wait_until 1 bash -c '[ "$(stat -c %i "$1")" = "$2" ]' _ "$T/s.sock" "$before"
    wait_until 1 bash -c "! ls -a '$T' | grep -q uds-tap"
    run timeout 5 "$UDS" send "$T/s.sock" "still served"
    [ "$output" = "still served" ]
}

@test "tap: a path that is not a live socket is refused and left as it is" {
    TAP_OUT=/dev/null
    echo data >"$T/file"
    run -73 --separate-stderr "$UDS" tap "$T/file"
    [[ "$stderr" == *"$T/file: is not a socket"* ]]
    [ "$(cat "$T/file")" = data ]
    run -69 --separate-stderr "$UDS" tap "$T/missing.sock"
    [[ "$stderr" == *"$T/missing.sock"* ]]
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' \
        "$T/stale.sock"
    run -69 --separate-stderr "$UDS" tap "$T/stale.sock"
    [[ "$stderr" == *"$T/stale.sock"* ]]
    rm "$T/stale.sock"
    run ls -a "$T"
    [[ "$output" != *uds-tap* ]]
    run -64 --separate-stderr "$UDS" tap @abstract
    [[ "$stderr" == *"--listen"* ]]
}

@test "tap: a path tapped already, and a dead tap's leftover, are reported" {
    TAP_OUT=/dev/null
    start_server "$T/s.sock"
    start_tap "$T/s.sock"
    run -69 --separate-stderr "$UDS" tap "$T/s.sock"
    [[ "$stderr" == *"already tapped by process $TAP_PID"* ]]
    run -0 --separate-stderr timeout 20 "$UDS" doctor "$T/s.sock"
    [[ "$output" == *"uds tap (pid $TAP_PID) stands in front of this socket"* ]]
    stop_tap
    # A leftover as a dead tap whose watchdog died too leaves it: the server hidden.
    mv "$T/s.sock" "$T/.s.sock.uds-tap.2147483646"
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' \
        "$T/s.sock"
    run -69 --separate-stderr "$UDS" tap "$T/s.sock"
    [[ "$stderr" == *"mv -T '$T/.s.sock.uds-tap.2147483646' '$T/s.sock'"* ]]
    # doctor and serve on that path say the same, and serve does not bury the server
    run -69 --separate-stderr timeout 20 "$UDS" doctor "$T/s.sock"
    [[ "$output" == *"A uds tap (pid 2147483646) that is gone left the server's socket"* ]]
    [[ "$output" == *"mv -T '$T/.s.sock.uds-tap.2147483646' '$T/s.sock'"* ]]
    [[ "$output" != *"stale"* ]]
    run -69 --separate-stderr timeout 5 "$UDS" serve "$T/s.sock"
    [[ "$stderr" == *"mv -T '$T/.s.sock.uds-tap.2147483646' '$T/s.sock'"* ]]
    [ -S "$T/.s.sock.uds-tap.2147483646" ]
    mv -T "$T/.s.sock.uds-tap.2147483646" "$T/s.sock"
    run timeout 5 "$UDS" send "$T/s.sock" "restored"
    [ "$output" = "restored" ]
}

# ---- what passes ----------------------------------------------------------------------

@test "tap: seqpacket messages keep their boundaries both ways" {
    TAP_OUT=$T/tap.out
    start_peer seq seq-server "$T/q.sock"
    start_tap "$T/q.sock"
    run peer seq-client "$T/q.sock" 1 1000 3 70000
    [ "$output" = "len=1 len=1000 len=3 len=70000" ]
    wait_for_line "$T/tap.out" 'close:'
    [ "$(grep -c 'client > server .* message' "$T/tap.out")" -eq 4 ]
    [ "$(grep -c 'client < server .* message' "$T/tap.out")" -eq 4 ]
    grep -qF 'client > server 70000 bytes message' "$T/tap.out"
    stop_tap
}

@test "tap: an fd passed through the tap is usable on the far side, and shown" {
    TAP_OUT=$T/tap.out
    start_peer fd fd-server "$T/f.sock"
    start_tap "$T/f.sock"
    run peer fd-client "$T/f.sock" "$T/written"
    [ "$output" = "got 1 fd with take-this" ]
    [ "$(cat "$T/written")" = "written by the server" ]
    wait_for_line "$T/tap.out" 'close:'
    grep -qF "passed fd: $T/written" "$T/tap.out"
    stop_tap
}

@test "tap: 50 clients, 1 MiB each both ways, byte for byte" {
    TAP_OUT=/dev/null
    start_server -c 200 "$T/s.sock"
    start_tap -q "$T/s.sock"
    run peer bulk "$T/s.sock" 50 1048576
    [ "$output" = "ok 50 of 50" ]
    stop_tap
    [ "$WAIT_STATUS" -eq 0 ]
}

@test "tap: run as root, the server's SO_PEERCRED sees the client's uid, not root" {
    need_root
    TAP_OUT=$T/tap.out
    start_peer cred cred-server "$T/c.sock" "$T/creds"
    start_tap "$T/c.sock"
    run as_nobody timeout 10 python3 -c '
import socket, sys
c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); c.sendall(b"hi")
print(c.recv(100).decode().strip())' "$T/c.sock"
    [ "$output" = "hello uid $NOBODY" ]
    # The first line is the tap's own probe, as root, when it swapped in.
    [ "$(tail -n 1 "$T/creds")" = "uid $NOBODY gid $NOBODY" ]
    wait_for_line "$T/tap.out" 'close:'
    grep -qE "#1 open: pid [0-9]+ uid $NOBODY gid $NOBODY python3" "$T/tap.out"
    stop_tap
}

# ---- how it shows them ------------------------------------------------------------------

# ESC [2J (clear screen), a bidi override, NUL, a lone 0xff, quotes, backslash, a newline.
HOSTILE=1b5b324ae280ae00ff225c0a41

@test "tap: hostile payloads are escaped in text, hex and JSON" {
    TAP_OUT=$T/tap.out
    start_server "$T/s.sock"
    start_tap "$T/s.sock"
    peer send-raw "$T/s.sock" "$HOSTILE"
    wait_for_line "$T/tap.out" 'close:'
    stop_tap
    ! grep -qP '[\x00-\x08\x0b-\x1f\x7f]' "$T/tap.out"
    ! grep -qP '\xe2\x80\xae' "$T/tap.out"
    grep -qF '\x1b[2J\u202e\x00\xff"\x5c\n' "$T/tap.out"

    TAP_OUT=$T/tap.json
    TAP_LOG_FILE=$T/tap2.log start_tap --json "$T/s.sock"
    peer send-raw "$T/s.sock" "$HOSTILE"
    wait_for_line "$T/tap.json" '"close"'
    stop_tap
    python3 - "$T/tap.json" "$HOSTILE" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
events = [l["event"] for l in lines]
assert events[0] == "open" and events[-1] == "close", events
data = [l for l in lines if l["event"] == "data"]
assert all(l["uid"] >= 0 and l["conn"] == 1 for l in lines)
want = bytes.fromhex(sys.argv[2])
assert data[0]["data"].encode("utf-8", "surrogateescape") == want, data[0]
assert data[0]["dir"] == "to_server" and data[1]["dir"] == "to_client"
assert not any(c in open(sys.argv[1], "rb").read() for c in (b"\x1b", b"\x00", b"\xff"))
PY

    TAP_OUT=$T/tap.hex
    TAP_LOG_FILE=$T/tap3.log start_tap -x "$T/s.sock"
    peer send-raw "$T/s.sock" "$HOSTILE"
    wait_for_line "$T/tap.hex" 'close:'
    stop_tap
    grep -qF '    0000  1b 5b 32 4a e2 80 ae 00  ff 22 5c 0a 41' "$T/tap.hex"
    ! grep -qP '[\x00-\x08\x0b-\x1f\x7f-\xff]' "$T/tap.hex"
}

@test "tap: --snaplen shows the first bytes and says how many more" {
    TAP_OUT=$T/tap.out
    start_server "$T/s.sock"
    start_tap --snaplen 4 "$T/s.sock"
    run timeout 5 "$UDS" send "$T/s.sock" "0123456789"
    [ "$output" = "0123456789" ]
    wait_for_line "$T/tap.out" 'close:'
    stop_tap
    grep -qxF '    0123' "$T/tap.out"
    grep -qF '... 7 more bytes not shown' "$T/tap.out"
}

# ---- without a swap -----------------------------------------------------------------------

@test "tap: --listen NEW TARGET records at a new Unix path and on TCP loopback" {
    TAP_OUT=$T/tap.out
    start_server "$T/s.sock"
    local before
    before=$(inode "$T/s.sock")
    start_tap --listen "$T/t.sock" "$T/s.sock"
    [ "$(inode "$T/s.sock")" = "$before" ]
    run timeout 5 "$UDS" send "$T/t.sock" "via listen"
    [ "$output" = "via listen" ]
    wait_for_line "$T/tap.out" 'close:'
    stop_tap
    [ ! -e "$T/t.sock" ]

    TAP_OUT=$T/tcp.out
    TAP_LOG_FILE=$T/tcp.log start_tap --listen tcp:127.0.0.1:0 "$T/s.sock"
    local addr
    addr=$(sed -n 's/^uds: tapping \(tcp:[^ ]*\) .*/\1/p' "$T/tcp.log")
    [ -n "$addr" ]
    run timeout 5 socat -t 2 - "TCP:${addr#tcp:}" <<<"over tcp"
    [ "$output" = "over tcp" ]
    wait_for_line "$T/tcp.out" 'close:'
    grep -qE '#1 open: tcp:127\.0\.0\.1:[0-9]+' "$T/tcp.out"
    stop_tap
}

@test "tap: a connection open at SIGINT goes on after the server is back, then the tap exits" {
    TAP_OUT=$T/tap.out
    start_server "$T/s.sock"
    local before
    before=$(inode "$T/s.sock")
    start_tap "$T/s.sock"
    open_client held "$T/s.sock"
    say_client held "before"
    wait_for_line "$T/held.out" before
    kill -INT "$TAP_PID"
    wait_until 2 test "$(inode "$T/s.sock")" = "$before"
    say_client held "after the swap back"
    wait_for_line "$T/held.out" "after the swap back"
    ! pid_gone "$TAP_PID"
    close_client held
    wait_status "$TAP_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    grep -qF 'after the swap back' "$T/tap.out"
}

@test "tap: --drain-timeout closes what is still open and exits 1" {
    TAP_OUT=/dev/null
    start_server "$T/s.sock"
    start_tap --drain-timeout 0.3 "$T/s.sock"
    open_client held "$T/s.sock"
    say_client held "hi"
    wait_for_line "$T/held.out" hi
    kill -INT "$TAP_PID"
    wait_status "$TAP_PID" 5
    [ "$WAIT_STATUS" -eq 1 ]
    grep -qF 'still open after 0.3s (--drain-timeout)' "$T/tap.log"
    close_client held
}

@test "tap: a user who may not write the socket's directory is refused with 77, nothing changed" {
    need_root
    TAP_OUT=/dev/null
    start_server --mode 0666 "$T/s.sock"
    local before
    before=$(inode "$T/s.sock")
    run -77 --separate-stderr as_nobody "$UDS" tap "$T/s.sock"
    [[ "$stderr" == *"$T/s.sock: cannot put a socket beside it"*"run uds tap as root"* ]]
    [ "$(inode "$T/s.sock")" = "$before" ]
    run ls -a "$T"
    [[ "$output" != *uds-tap* ]]
}

@test "tap -w -: a reader that leaves stops the tap, and the server is back" {
    start_server "$T/s.sock"
    local before
    before=$(inode "$T/s.sock")
    bg_start "$T/tap.log" bash -c '"$0" tap -w - "$1" | head -c 100 >/dev/null' "$UDS" "$T/s.sock"
    wait_for_line "$T/tap.log" tapping
    run timeout 5 "$UDS" send "$T/s.sock" "enough to fill the reader"
    [ "$output" = "enough to fill the reader" ]
    run timeout 5 "$UDS" send "$T/s.sock" "and more"
    wait_for_line "$T/tap.log" "uds: stdout: cannot write the capture"
    wait_until 5 test "$(inode "$T/s.sock")" = "$before"
    wait_status "$BG_PID"
}

@test "tap: a signal after a failed output began the stop ends it at once, held clients too" {
    TAP_OUT=/dev/full
    start_server "$T/s.sock"
    local before
    before=$(inode "$T/s.sock")
    start_tap --drain-timeout 30 "$T/s.sock"
    open_client held "$T/s.sock"
    say_client held "hi"
    wait_for_line "$T/held.out" hi
    wait_for_line "$T/tap.log" "uds: stdout: cannot write what is shown"
    # The stop has begun and waits for the held client, up to 30 s; a signal ends the wait.
    [ "$(inode "$T/s.sock")" = "$before" ]
    kill -TERM "$TAP_PID"
    wait_status "$TAP_PID" 5
    [ "$WAIT_STATUS" -eq 1 ]
    grep -qF "uds: $T/s.sock: SIGTERM while stopping: stopping now" "$T/tap.log"
    close_client held
}

@test "tap: a datagram server: boundaries (an empty datagram too), answers, the sender's credentials" {
    need_root
    TAP_OUT=$T/tap.out
    mkdir -m 1777 "$T/clients"
    start_peer dgram dgram-server "$T/d.sock" "$T/creds"
    start_tap "$T/d.sock"
    run as_nobody timeout 10 python3 "$PEER" dgram-client "$T/d.sock" "$T/clients/me.sock" \
        1 1000 3 0
    [ "$output" = "len=1 len=1000 len=3 len=0" ]
    # SCM_CREDENTIALS of each datagram name the sender, not the root tap.
    [ "$(sort -u "$T/creds")" = "uid $NOBODY gid $NOBODY" ]
    wait_for_line "$T/tap.out" 'client < server 5 bytes message.*len=0|len=0'
    [ "$(grep -c 'client > server .* message' "$T/tap.out")" -eq 4 ]
    grep -qF "client > server 0 bytes message ($T/clients/me.sock pid" "$T/tap.out"
    stop_tap
    [ "$WAIT_STATUS" -eq 0 ]
}

@test "tap: a datagram that cannot go on is said at once, with why: an answer to a sender that is not bound" {
    TAP_OUT=$T/tap.out
    start_peer dgram dgram-server "$T/d.sock" "$T/creds"
    start_tap "$T/d.sock"
    # The server answers the tap's socket for this sender; the tap has nowhere to pass the
    # answer on, as the sender never bound a name.
    /usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"anyone?", sys.argv[1])' "$T/d.sock"
    wait_for_line "$T/tap.log" "uds: $T/d.sock: an answer to an unbound socket \(pid [0-9]+ uid \
[0-9]+ gid [0-9]+\) dropped: the sender is not bound to an address: nowhere to answer"
    stop_tap
    [ "$WAIT_STATUS" -eq 0 ]
    grep -qF "uds: $T/d.sock: 1 datagram dropped in all" "$T/tap.log"
}

@test "tap: a reader of what is shown that leaves stops the tap, and the server is back" {
    start_server "$T/s.sock"
    local before
    before=$(inode "$T/s.sock")
    bg_start "$T/tap.log" bash -c '"$0" tap "$1" | head -n 1 >/dev/null' "$UDS" "$T/s.sock"
    wait_for_line "$T/tap.log" tapping
    run timeout 5 "$UDS" send "$T/s.sock" "one"
    run timeout 5 "$UDS" send "$T/s.sock" "two"
    run timeout 5 "$UDS" send "$T/s.sock" "three"
    wait_for_line "$T/tap.log" "uds: stdout: cannot write what is shown"
    wait_until 5 test "$(inode "$T/s.sock")" = "$before"
    wait_status "$BG_PID"
}
