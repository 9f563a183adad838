#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# A root `uds serve` against hostile clients running as nobody: replies that a client never
# reads, and framed messages announced but never sent, must not make the server's memory
# grow with what a client merely claims or asks for.

load helpers

FLOOD=$BATS_TEST_DIRNAME/peers/flood_client.py

# kib_of PID FIELD: a /proc/PID/status figure (VmRSS, VmSize) in KiB.
kib_of() {
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# flood SOCKET CONNS KIND: a hostile client as nobody, in the background, holding its
# connections until the test ends; waits until every connection has sent.
flood() {
    timeout 60 setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups \
        /usr/bin/python3 "$FLOOD" "$@" > "$T/flood.out" 2>&1 3>&- &
    BG_PIDS+=("$!")
    wait_for_line "$T/flood.out" '^sent' 20
}

# bounded_by KIB GROWN: GROWN < KIB, except under AddressSanitizer, whose allocator keeps
# freed memory in quarantine and shadows the rest: memory figures mean nothing there.
bounded_by() {
    [ "${SANITIZE:-}" = 1 ] || [ "$2" -lt "$1" ]
}

# settle PID: wait until the server has read what it will read (its RSS stops moving).
settle() {
    local prev=-1 now i
    for ((i = 0; i < 50; i++)); do
        now=$(kib_of "$1" VmRSS)
        [ "$now" = "$prev" ] && return 0
        prev=$now
        sleep 0.1
    done
}

@test "hostile: --reply to 64 KiB of newlines a client never reads stays within the output bound" {
    need_root
    reply=$(head -c 200 /dev/zero | tr '\0' 'r')
    start_server --drain-timeout 1 --mode 0666 --reply "$reply" "$T/s.sock"
    base=$(kib_of "$SERVER_PID" VmRSS)
    flood "$T/s.sock" 20 newlines
    settle "$SERVER_PID"
    grown=$(( $(kib_of "$SERVER_PID" VmRSS) - base ))
    echo "server RSS grew by $grown KiB for 20 clients" >&3
    # 1 MiB of queued output per client (the default bound), and some slack.
    bounded_by $((20 * 1536)) "$grown"
    # The server still answers someone else at once.
    run timeout 5 "$UDS" send "$T/s.sock" "hi"
    [ "$status" -eq 0 ]
    [ "$output" = "$reply" ]
}

@test "hostile: --framed --reply to empty frames a client never reads stays within the bound" {
    need_root
    reply=$(head -c 200 /dev/zero | tr '\0' 'r')
    start_server --drain-timeout 1 --mode 0666 --framed --reply "$reply" "$T/s.sock"
    base=$(kib_of "$SERVER_PID" VmRSS)
    flood "$T/s.sock" 20 empty-frames
    settle "$SERVER_PID"
    grown=$(( $(kib_of "$SERVER_PID" VmRSS) - base ))
    echo "server RSS grew by $grown KiB for 20 clients" >&3
    bounded_by $((20 * 1536)) "$grown"
}

@test "hostile: replies held back by the output bound are all delivered once the client reads" {
    # Nothing is lost by the bound: every one of 64 Ki lines gets its answer, in order.
    start_server --reply "ok" "$T/s.sock"
    run timeout 20 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"\n" * 65536)
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = s.recv(1 << 16)
    if not b:
        break
    got += b
print(len(got), got == b"ok\n" * 65536)
' "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$output" = "196608 True" ]
}

@test "hostile: frames announcing 16 MiB with one byte sent reserve no 16 MiB each" {
    need_root
    # One thread: a worker's first allocation reserves a malloc arena (64 MiB of address
    # space, not memory) that would hide the per-client figure.
    start_server --threads 1 --drain-timeout 1 --mode 0666 --framed --max-message 16M \
        "$T/s.sock"
    base=$(kib_of "$SERVER_PID" VmSize)
    flood "$T/s.sock" 200 big-header
    settle "$SERVER_PID"
    grown=$(( $(kib_of "$SERVER_PID" VmSize) - base ))
    echo "server address space grew by $grown KiB for 200 clients" >&3
    # Before: 16 MiB each, 3.2 GiB. Now what arrived, rounded up to an allocation.
    bounded_by $((64 * 1024)) "$grown"
}

@test "hostile: under an address-space limit a real large message still gets through" {
    need_root
    # AddressSanitizer reserves terabytes of shadow memory: it cannot start under the limit.
    [ "${SANITIZE:-}" != 1 ] || skip "an address-space limit and AddressSanitizer exclude each other"
    # 200 clients announcing 16 MiB would need 3.2 GiB; the limit leaves room for one real
    # 8 MiB message and the server's own needs only.
    SERVER_LOG=$T/server.log
    bg_start "$SERVER_LOG" prlimit --as=$((600 << 20)) "$UDS" serve --drain-timeout 1 --mode 0666 --framed --max-message 16M \
        "$T/s.sock"
    SERVER_PID=$BG_PID
    wait_for_line "$SERVER_LOG" 'listening on'
    flood "$T/s.sock" 200 big-header
    run timeout 20 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
n = 8 << 20
s.sendall(n.to_bytes(4, "big") + b"m" * n)
got = b""
while len(got) < 4 + n:
    b = s.recv(1 << 20)
    if not b:
        break
    got += b
print(len(got) == 4 + n and got[4:] == b"m" * n)
' "$T/s.sock"
    echo "$output"; cat "$SERVER_LOG"
    [ "$status" -eq 0 ]
    [ "$output" = True ]
}

@test "hostile: 20,000 refused connects write a few lines and one summary, not 20,000" {
    need_root
    start_server --drain-timeout 1 --mode 0666 --allow-uid 0 "$T/s.sock"
    run timeout 60 setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups \
        /usr/bin/python3 -c '
import socket, sys
for _ in range(20000):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.close()
' "$T/s.sock"
    [ "$status" -eq 0 ]
    stop_server
    lines=$(wc -l < "$SERVER_LOG")
    refused=$(grep -c 'refused pid' "$SERVER_LOG")
    held=$(sed -n 's/.*… and \([0-9]*\) more "deny" lines.*/\1/p' "$SERVER_LOG" |
        awk '{ n += $1 } END { print n + 0 }')
    echo "$lines lines; $refused refusals written, $held summarised" >&3
    [ "$lines" -lt 40 ]
    [ $((refused + held)) -eq 20000 ]
}

@test "hostile: a drain cut short by --drain-timeout says how many clients and bytes it cut" {
    need_root
    reply=$(head -c 200 /dev/zero | tr '\0' 'r')
    start_server --drain-timeout 1 --mode 0666 --reply "$reply" "$T/s.sock"
    flood "$T/s.sock" 3 newlines
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    grep -E -- '--drain-timeout 1s ran out: closed 3 connections still open, with [1-9][0-9]* reply bytes unsent' \
        "$SERVER_LOG"
}

@test "hostile: a client that says nothing is closed after --first-byte-timeout; one that spoke stays" {
    need_root
    start_server -v --drain-timeout 1 --mode 0666 --first-byte-timeout 1 --reply ok "$T/s.sock"
    # A silent client (as nobody) and one that sends a line, then says nothing more.
    run timeout 10 setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups \
        /usr/bin/python3 -c '
import socket, sys, time
silent = socket.socket(socket.AF_UNIX); silent.connect(sys.argv[1])
talker = socket.socket(socket.AF_UNIX); talker.connect(sys.argv[1])
talker.sendall(b"hi\n")
assert talker.recv(16) == b"ok\n"
t0 = time.monotonic()
silent.settimeout(5)
assert silent.recv(16) == b""
closed = time.monotonic() - t0
talker.settimeout(1.5)
try:
    still = talker.recv(16)
except socket.timeout:
    still = "open"
print("%.1f" % closed, still)
' "$T/s.sock"
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${output#* }" = open ]
    wait_for_line "$SERVER_LOG" "uid $NOBODY gid $NOBODY: sent nothing for 1s \(--first-byte-timeout\)"
}

@test "hostile: --first-byte-timeout is a usage error with -- PROGRAM and with dgram" {
    run "$UDS" serve --first-byte-timeout 5 "$T/s.sock" -- cat
    [ "$status" -eq 64 ]
    [[ "$output" == *"--first-byte-timeout does not go with -- PROGRAM"* ]]
    run "$UDS" serve --type dgram --first-byte-timeout 5 "$T/d.sock"
    [ "$status" -eq 64 ]
}
