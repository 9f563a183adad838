#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Length-prefixed messages (a 4-byte big-endian length, then the payload): `uds serve
# --framed` against a Python client speaking the protocol by hand, `uds send --framed`
# against our server and against a Python one, limits and broken streams.

load helpers

# py_frames ADDRESS [CHUNK] MESSAGE...: send each MESSAGE as one frame (all of them in one
# write, or CHUNK bytes per write with a pause between), then read as many frames back and
# print each as repr(); the connection is not half-closed.
py_frames() {
    timeout 10 python3 - "$@" <<'EOF'
import socket, struct, sys, time
path, chunk, msgs = sys.argv[1], int(sys.argv[2]), [m.encode() for m in sys.argv[3:]]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(path)
data = b"".join(struct.pack(">I", len(m)) + m for m in msgs)
if chunk <= 0:
    s.sendall(data)
else:
    for i in range(0, len(data), chunk):
        s.sendall(data[i:i + chunk])
        time.sleep(0.002)
buf = b""
def need(n):
    global buf
    while len(buf) < n:
        b = s.recv(65536)
        if not b:
            raise SystemExit("closed after %d bytes: %r" % (len(buf), buf))
        buf += b
    out, buf = buf[:n], buf[n:]
    return out
for _ in msgs:
    (n,) = struct.unpack(">I", need(4))
    print(repr(need(n)))
EOF
}

@test "framed: echo returns each message as one frame, several per write (Python client)" {
    start_server --framed "$T/s.sock"
    run py_frames "$T/s.sock" 0 "one" "two, longer" "3"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "b'one'" ]
    [ "${lines[1]}" = "b'two, longer'" ]
    [ "${lines[2]}" = "b'3'" ]
}

@test "framed: a message split byte by byte, header included, comes back whole" {
    start_server --framed "$T/s.sock"
    run py_frames "$T/s.sock" 1 "split into single bytes" "and another"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "b'split into single bytes'" ]
    [ "${lines[1]}" = "b'and another'" ]
}

@test "framed: an empty message is echoed as an empty frame" {
    start_server --framed "$T/s.sock"
    run py_frames "$T/s.sock" 0 "" "after empty"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "b''" ]
    [ "${lines[1]}" = "b'after empty'" ]
}

@test "framed: --reply answers each message with TEXT as one frame (no newline added)" {
    start_server --framed --reply "Hello from server!" "$T/s.sock"
    run py_frames "$T/s.sock" 3 "a" "b\nc"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "b'Hello from server!'" ]
    [ "${lines[1]}" = "b'Hello from server!'" ]
}

@test "framed: a 1 MB message comes back intact" {
    start_server --framed --max-message 2M "$T/s.sock"
    run timeout 20 python3 -c '
import hashlib, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
msg = os.urandom(1000000)
s.sendall(struct.pack(">I", len(msg)) + msg)
buf = b""
while len(buf) < 4 + len(msg):
    b = s.recv(1 << 20)
    if not b:
        break
    buf += b
print(struct.unpack(">I", buf[:4])[0] == len(msg) and buf[4:] == msg)
' "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = "True" ]
}

@test "framed: an oversized length closes only that client, logged; others carry on" {
    start_server --framed --max-message 16 "$T/s.sock"
    run timeout 10 python3 -c '
import socket, struct, sys
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sys.argv[1])
    return s
def frame(m):
    return struct.pack(">I", len(m)) + m
good = conn()
good.sendall(frame(b"before"))
print(good.recv(100)[4:].decode())
bad = conn()
bad.sendall(struct.pack(">I", 17))      # only the header: refused before any payload
try:
    print("bad got", repr(bad.recv(100)))
except ConnectionResetError:
    print("bad got reset")
good.sendall(frame(b"x" * 16))          # exactly the limit is fine
print(len(good.recv(100)) - 4)
good.sendall(frame(b"after"))
print(good.recv(100)[4:].decode())
' "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "before" ]
    [[ "${lines[1]}" == "bad got b''" || "${lines[1]}" == "bad got reset" ]]
    [ "${lines[2]}" = "16" ]
    [ "${lines[3]}" = "after" ]
    wait_for_line "$SERVER_LOG" "closed connection from pid [0-9]+ $MY_IDS: a message longer \
than --max-message 16 bytes"
}

@test "framed: a stream that ends in the middle of a message is logged" {
    start_server --framed "$T/s.sock"
    run timeout 10 python3 -c '
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(struct.pack(">I", 10) + b"half")
s.shutdown(socket.SHUT_WR)
print(repr(s.recv(100)))
' "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = "b''" ]
    wait_for_line "$SERVER_LOG" "closed connection from pid [0-9]+ $MY_IDS: the stream ended in \
the middle of a message"
}

@test "framed: seqpacket --framed echoes each packet as a message" {
    start_server --framed --type seqpacket "$T/s.sock"
    run timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(5)
s.connect(sys.argv[1])
s.send(b"one")
s.send(b"two!")
print(s.recv(100).decode(), s.recv(100).decode())
' "$T/s.sock"
    [ "$output" = "one two!" ]
}

# ---- uds send --framed -----------------------------------------------------------------------

@test "send --framed: one message out, the one reply printed (echo, --reply, stdin, -n)" {
    start_server --framed "$T/s.sock"
    run --separate-stderr timeout 5 "$UDS" send --framed "$T/s.sock" hello framed world
    [ "$status" -eq 0 ]
    [ "$output" = "hello framed world" ]
    [ -z "$stderr" ]
    run bash -c 'printf "from stdin" | timeout 5 "$0" send --framed "$1" | od -An -c | tr -s " "' \
        "$UDS" "$T/s.sock"
    [ "$output" = " f r o m s t d i n" ]
    run bash -c 'timeout 5 "$0" send --framed -n "$1" abc | od -An -c | tr -s " "' \
        "$UDS" "$T/s.sock"
    [ "$output" = " a b c" ]
    SERVER_LOG_FILE=$T/reply.log start_server --framed --reply pong "$T/r.sock"
    run timeout 5 "$UDS" send --framed "$T/r.sock" ping
    [ "$output" = "pong" ]
}

@test "send --framed: a Python framed server sees exactly one frame; the reply is printed at once" {
    cat >"$T/server.py" <<'EOF'
import socket, struct, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
open(path + ".ready", "w").close()
c, _ = s.accept()
c.settimeout(5)
buf = b""
while len(buf) < 4:
    buf += c.recv(100)
(n,) = struct.unpack(">I", buf[:4])
while len(buf) < 4 + n:
    buf += c.recv(100)
reply = b"got %d bytes: %s" % (n, buf[4:4 + n])
c.sendall(struct.pack(">I", len(reply)) + reply + b"trailing bytes are not read")
# The client must not wait for the end of the stream: keep it open until it leaves.
c.recv(100)
import os
os.unlink(path)
EOF
    bg_start "$T/py.err" python3 "$T/server.py" "$T/p.sock"
    local py=$BG_PID
    wait_path "$T/p.sock.ready"
    run --separate-stderr timeout 5 "$UDS" send --framed "$T/p.sock" "four"
    [ "$status" -eq 0 ]
    [ "$output" = "got 5 bytes: four" ]
    wait_status "$py"
    [ "$WAIT_STATUS" -eq 0 ]
}

@test "send --framed: a server that never replies times out (exit 75); one that closes is an error" {
    cat >"$T/silent.py" <<'EOF'
import os, socket, sys
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
open(path + ".ready", "w").close()
c, _ = s.accept()
c.settimeout(5)
c.recv(100)                 # the request
if mode == "close":
    c.close()
else:
    c.recv(100)             # silent until the client gives up
os.unlink(path)
EOF
    bg_start "$T/py1.err" python3 "$T/silent.py" "$T/p1.sock" silent
    wait_path "$T/p1.sock.ready"
    run --separate-stderr timeout 5 "$UDS" send --framed --timeout 0.3 "$T/p1.sock" "hello?"
    [ "$status" -eq 75 ]
    [[ "$stderr" == "uds: $T/p1.sock: no complete reply within 0.3s;"* ]]
    bg_start "$T/py2.err" python3 "$T/silent.py" "$T/p2.sock" close
    wait_path "$T/p2.sock.ready"
    run --separate-stderr timeout 5 "$UDS" send --framed "$T/p2.sock" "hello?"
    [ "$status" -eq 1 ]
    [ "$stderr" = "uds: $T/p2.sock: the server closed the connection without a reply; check \
the server's log" ]
}

@test "send --framed: a message over --max-message is refused by the server, and said so" {
    start_server --framed --max-message 4 "$T/s.sock"
    run --separate-stderr timeout 5 "$UDS" send --framed "$T/s.sock" "too long"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"the server closed the connection without a reply"* ]]
}

@test "framed: usage errors (--framed with dgram; send --framed with another type)" {
    run --separate-stderr timeout 5 "$UDS" serve --framed --type dgram "$T/s.sock"
    [ "$status" -eq 64 ]
    [ "${stderr_lines[0]}" = "uds serve: --framed needs --type stream or seqpacket, not dgram" ]
    run --separate-stderr timeout 5 "$UDS" send --framed --type seqpacket "$T/s.sock" hi
    [ "$status" -eq 64 ]
    [[ "${stderr_lines[0]}" == "uds send: --framed is for stream sockets"* ]]
    [ ! -e "$T/s.sock" ]
}
