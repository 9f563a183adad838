#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Hostile peers against the connection limits: one local user (nobody) opens 1,100 idle
# connections to a root `uds serve` and to a root `uds proxy` with their default options,
# on a socket anyone may connect to; clients of other users must still be served, and the
# logs must name the refusals. Each test prints what the attack achieved (TAP comments).

load helpers

ATTACKER_CONNS=1100
# A second unprivileged user, for a client that is neither root nor the attacker.
OTHER_UID=65533
# Python as a system path: an unprivileged user may not reach a per-user install.
SYS_PY=$(PATH=/usr/local/bin:/usr/bin:/bin command -v python3)
# How serve and proxy log the attacker's connections past its default share.
SHARE_REFUSAL="uid $NOBODY already has 512 connections open \(--max-conns-per-uid 512, by \
default half of --max-conns 1024\)"

# hold_script: a client that opens N connections to ADDRESS and holds them, idle; once the
# server has had its say it prints "opened N closed M failed F" (closed: the server ended
# them), then holds on for up to 60 s (the teardown stops it).
hold_script() {
    cat >"$T/hold.py" <<'EOF'
import socket, sys, time
addr, n = sys.argv[1], int(sys.argv[2])
socks, failed = [], 0
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(addr)
    except OSError:
        failed += 1
        s.close()
        continue
    s.setblocking(False)
    socks.append(s)

def closed():
    m = 0
    for s in socks:
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                m += 1
        except BlockingIOError:
            pass
        except OSError:
            m += 1
    return m

# Until the count of connections the server closed holds still (bounded).
last, steady = -1, 0
for _ in range(40):
    time.sleep(0.1)
    m = closed()
    steady = steady + 1 if m == last else 0
    last = m
    if steady >= 5:
        break
print("opened %d closed %d failed %d" % (len(socks), last, failed), flush=True)
time.sleep(60)
EOF
}

# hold_as UID ADDRESS N NAME: user UID opens N idle connections to ADDRESS and holds them;
# waits for its report in $T/NAME.out.
hold_as() {
    [ -e "$T/hold.py" ] || hold_script
    bg_start "$T/$4.err" bash -c 'ulimit -n 4096; exec setpriv --reuid="$0" --regid="$0" \
        --clear-groups "$1" "$2" "$3" "$4" >"$5"' \
        "$1" "$SYS_PY" "$T/hold.py" "$2" "$3" "$T/$4.out"
    wait_for_line "$T/$4.out" '^opened ' 30
}

# attack ADDRESS: nobody holds ATTACKER_CONNS idle connections to ADDRESS.
attack() {
    hold_as "$NOBODY" "$1" "$ATTACKER_CONNS" hold
}

fd_count() {
    ls "/proc/$1/fd" | wc -l
}

# victims ADDRESS: a root client and a client of OTHER_UID each send one line (3 s at most);
# sets SERVED to how many got their answer.
victims() {
    SERVED=0
    run timeout 3 "$UDS" send "$1" "root here"
    [ "$output" = "root here" ] && SERVED=$((SERVED + 1))
    run setpriv --reuid="$OTHER_UID" --regid="$OTHER_UID" --clear-groups \
        timeout 3 "$UDS" send "$1" "other user here"
    [ "$output" = "other user here" ] && SERVED=$((SERVED + 1))
    true
}

@test "hostile: 1100 idle connections of one user to uds serve (defaults) lock no one else out" {
    need_root
    start_server --drain-timeout 1 --mode 0666 "$T/s.sock"
    local base held
    base=$(fd_count "$SERVER_PID")
    attack "$T/s.sock"
    held=$(($(fd_count "$SERVER_PID") - base))
    victims "$T/s.sock"
    echo "# serve: attacker holds $held connections ($(cat "$T/hold.out"));" \
        "other users' clients served: $SERVED of 2" >&3
    [ "$SERVED" -eq 2 ]
    [ "$held" -le 512 ]
    grep -qE "refused pid [0-9]+ uid $NOBODY gid $NOBODY: $SHARE_REFUSAL" "$SERVER_LOG"
}

@test "hostile: 1100 idle connections of one user through uds proxy (defaults) lock no one else out" {
    need_root
    # The server behind the proxy sees every client as the proxy (root): it must let one
    # user have all its slots.
    SERVER_LOG_FILE=$T/echo.log start_server --drain-timeout 1 --max-conns 2048 \
        --max-conns-per-uid 2048 "$T/echo.sock"
    bg_start "$T/proxy.log" "$UDS" proxy --drain-timeout 1 --mode 0666 "$T/p.sock" "$T/echo.sock"
    local proxy=$BG_PID base held
    wait_for_line "$T/proxy.log" 'listening on'
    base=$(fd_count "$proxy")
    attack "$T/p.sock"
    # Two fds per relayed connection: the client's and the target's.
    held=$((($(fd_count "$proxy") - base) / 2))
    victims "$T/p.sock"
    echo "# proxy: attacker holds $held connections ($(cat "$T/hold.out"));" \
        "other users' clients served: $SERVED of 2" >&3
    [ "$SERVED" -eq 2 ]
    [ "$held" -le 512 ]
    grep -qE "refused pid [0-9]+ uid $NOBODY gid $NOBODY: $SHARE_REFUSAL" "$T/proxy.log"
}

@test "hostile: reaching --max-conns is logged at warn level with the count, by serve and proxy" {
    need_root
    start_server --drain-timeout 1 --mode 0666 -c 4 "$T/s.sock"
    SERVER_LOG_FILE=$T/echo.log start_server --drain-timeout 1 --max-conns-per-uid 1024 \
        "$T/echo.sock"
    bg_start "$T/proxy.log" "$UDS" proxy --drain-timeout 1 --log json --mode 0666 -c 4 \
        "$T/p.sock" "$T/echo.sock"
    wait_for_line "$T/proxy.log" '"event":"listening"'
    # Two users take two slots each, their share of 4: every slot is taken.
    for addr in s p; do
        hold_as 0 "$T/$addr.sock" 2 "root-$addr"
        hold_as "$NOBODY" "$T/$addr.sock" 2 "nobody-$addr"
    done
    local reached="4 connections: the limit --max-conns 4 is reached; new clients wait in the \
backlog until one leaves"
    wait_for_line "$T/server.log" "^uds: $T/s.sock: $reached\$"
    wait_for_line "$T/proxy.log" \
        "\"level\":\"warning\",\"event\":\"limit\",.*\"message\":\"$T/p.sock: $reached\""
    [ "$(cat "$T/nobody-s.out")" = "opened 2 closed 0 failed 0" ]
    [ "$(cat "$T/nobody-p.out")" = "opened 2 closed 0 failed 0" ]
}

@test "hostile: --max-conns-per-uid equal to --max-conns lifts the share; above it is a usage error" {
    need_root
    start_server --mode 0666 -c 3 --max-conns-per-uid 3 "$T/s.sock"
    run timeout 10 setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups "$SYS_PY" -c '
import socket, sys, time
ss = []
for _ in range(3):
    s = socket.socket(socket.AF_UNIX); s.settimeout(3); s.connect(sys.argv[1])
    s.sendall(b"x\n"); ss.append(s)
print(sum(1 for s in ss if s.recv(2) == b"x\n"))' "$T/s.sock"
    [ "$output" = "3" ]
    run --separate-stderr timeout 5 "$UDS" serve -c 3 --max-conns-per-uid 4 "$T/t.sock"
    [ "$status" -eq 64 ]
    [ "${stderr_lines[0]}" = "uds serve: --max-conns-per-uid 4 is more than --max-conns 3; up \
to --max-conns 3 (which lets one user take every slot)" ]
    run --separate-stderr timeout 5 "$UDS" proxy --max-conns-per-uid 2 tcp:127.0.0.1:0 "$T/t.sock"
    [ "$status" -eq 64 ]
    [ "${stderr_lines[0]}" = "uds proxy: --max-conns-per-uid is for a Unix listener; \
tcp:127.0.0.1:0 has no file permissions nor peer credentials" ]
}
