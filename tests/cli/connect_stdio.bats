#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds connect` and `uds send` with stdin and stdout that are not plain pipes from the shell:
# a terminal (a pty driven by Python, as a user at a keyboard), an input that stays open
# while the server leaves, a full output nobody reads, and message sockets seeing each read
# of stdin as one message. What moves the bytes is the library's relay.

load helpers

# The terminal runs in raw-ish mode for the test: canonical input (lines, ^D) without echo.
@test "connect: on a terminal, a line out, its echo back, ^D ends it; the terminal stays blocking" {
    start_server "$T/s.sock"
    cat >"$T/terminal.py" <<'EOF'
import fcntl, os, pty, select, subprocess, sys, termios, time
uds, addr = sys.argv[1], sys.argv[2]
master, slave = pty.openpty()
attrs = termios.tcgetattr(slave)
attrs[3] &= ~termios.ECHO
termios.tcsetattr(slave, termios.TCSANOW, attrs)
p = subprocess.Popen([uds, "connect", addr], stdin=slave, stdout=slave, stderr=subprocess.PIPE)
os.write(master, b"typed at a terminal\n")
out, deadline = b"", time.time() + 5
while b"terminal" not in out and time.time() < deadline:
    if select.select([master], [], [], 0.2)[0]:
        out += os.read(master, 1000)
os.write(master, attrs[6][termios.VEOF])
rc = p.wait(5)
blocking = not fcntl.fcntl(slave, fcntl.F_GETFL) & os.O_NONBLOCK
print("%r rc=%d blocking=%s stderr=%r" % (out, rc, blocking, p.stderr.read()))
EOF
    run timeout 10 python3 "$T/terminal.py" "$UDS" "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = "b'typed at a terminal\\r\\n' rc=0 blocking=True stderr=b''" ]
}

@test "connect: a server that says goodbye and closes ends uds connect while stdin is still open" {
    cat >"$T/bye.py" <<'EOF'
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(1)
open(path + ".ready", "w").close()
c, _ = s.accept()
c.sendall(b"goodbye\n")
c.close()
os.unlink(path)
EOF
    bg_start "$T/bye.err" python3 "$T/bye.py" "$T/s.sock"
    wait_path "$T/s.sock.ready"
    # stdin stays open for 20 s: only the server's end can end the client in time.
    run bash -c 'sleep 20 | { timeout 5 "$0" connect "$1"; echo "status $?"; }' "$UDS" "$T/s.sock"
    [ "$output" = "$(printf 'goodbye\nstatus 0')" ]
}

@test "connect --type seqpacket: each read of stdin is its own message" {
    cat >"$T/lengths.py" <<'EOF'
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(path)
s.listen(1)
open(path + ".ready", "w").close()
c, _ = s.accept()
lengths = []
while True:
    m = c.recv(65536)
    if not m:
        break
    lengths.append(str(len(m)))
c.send((" ".join(lengths) + "\n").encode())
c.close()
os.unlink(path)
EOF
    bg_start "$T/lengths.err" python3 "$T/lengths.py" "$T/s.sock"
    wait_path "$T/s.sock.ready"
    run bash -c '{ printf a; sleep 0.3; printf bb; sleep 0.3; printf ccc; } |
                 timeout 5 "$0" connect --type seqpacket "$1"' "$UDS" "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = "1 2 3" ]
}

@test "connect: a file on stdin and a file on stdout, 3 MB each way, byte for byte" {
    start_server "$T/s.sock"
    head -c 3000000 /dev/urandom >"$T/in"
    timeout 20 "$UDS" connect "$T/s.sock" <"$T/in" >"$T/out"
    cmp "$T/in" "$T/out"
}

@test "connect: a closed stdin reads as empty input, and uds connect ends" {
    start_server "$T/s.sock"
    run --separate-stderr bash -c 'timeout 5 "$0" connect "$1" <&-' "$UDS" "$T/s.sock"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ -z "$stderr" ]
}

@test "send --type dgram: an empty stdin is one empty datagram, and its empty echo is the reply" {
    start_server --type dgram "$T/d.sock"
    run --separate-stderr timeout 5 "$UDS" send --type dgram "$T/d.sock" </dev/null
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ -z "$stderr" ]
}
