#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds tap` accepting its clients: more clients than it has fds for (they are shed and said,
# and the tap serves on once they are gone), a client that reaches the tap's socket just
# after the stop signal (still served, the grace period), and requests sent at once on
# connect, before the tap accepts (relayed and shown once each, byte for byte).

load helpers
load tap_helpers

# fds_of PID: how many fds process PID has open.
fds_of() {
    ls "/proc/$1/fd" | wc -l
}

# nofile_for PID N: the RLIMIT_NOFILE under which process PID can open exactly N more fds
# (a new fd takes the lowest free number, and must be below the limit).
nofile_for() {
    local pid=$1 n=$2 fd=0 free=0
    while :; do
        [ -e "/proc/$pid/fd/$fd" ] || free=$((free + 1))
        [ "$free" -lt "$n" ] || break
        fd=$((fd + 1))
    done
    echo $((fd + 1))
}

@test "tap: clients past its fd limit are shed and said, and the tap serves on after them" {
    TAP_OUT=/dev/null
    start_server "$T/s.sock"
    start_tap -q "$T/s.sock"
    # A first client, so that whatever the tap opens on first use is open already.
    run timeout 5 "$UDS" send "$T/s.sock" "warm"
    [ "$output" = "warm" ]
    local base
    base=$(fds_of "$TAP_PID")
    # Room for two clients: each is one fd, and its connection to the server another.
    prlimit --pid "$TAP_PID" --nofile="$(nofile_for "$TAP_PID" 4)"
    open_client a "$T/s.sock"
    say_client a "a before"
    wait_for_line "$T/a.out" "a before"
    open_client b "$T/s.sock"
    say_client b "b before"
    wait_for_line "$T/b.out" "b before"
    run peer flood "$T/s.sock" 20
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" = "shed "[1-9]*" of 20" ]]
    grep -qF "uds: $T/s.sock: cannot accept: Too many open files; trying again" "$T/tap.log"
    # The clients held are still relayed.
    say_client a "a during"
    wait_for_line "$T/a.out" "a during"
    close_client a
    close_client b
    # Their fds free again, the next client finds one.
    wait_until 5 bash -c '[ "$(ls "/proc/$1/fd" | wc -l)" -le "$2" ]' _ "$TAP_PID" "$base"
    run timeout 5 "$UDS" send "$T/s.sock" "after the flood"
    [ "$status" -eq 0 ]
    [ "$output" = "after the flood" ]
    stop_tap
    [ "$WAIT_STATUS" -eq 0 ]
}

@test "tap: a client that reaches the tap's socket just after SIGTERM is still served" {
    TAP_OUT=$T/tap.out
    start_server "$T/s.sock"
    local before
    before=$(inode "$T/s.sock")
    start_tap "$T/s.sock"
    run peer after-stop "$T/s.sock" "$TAP_PID" "in the grace period"
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$output" = "in the grace period" ]
    wait_status "$TAP_PID"
    [ "$WAIT_STATUS" -eq 0 ]
    grep -qF 'in the grace period' "$T/tap.out"
    [ "$(stat -c %i "$T/s.sock")" = "$before" ]
    run ls -a "$T"
    [[ "$output" != *uds-tap* ]]
}

@test "tap: requests sent at once on connect, before the tap accepts, arrive byte for byte and are shown once" {
    TAP_OUT=$T/tap.out
    start_server "$T/s.sock"
    start_tap --json "$T/s.sock"
    run peer pipelined "$T/s.sock" "$TAP_PID" "$T/sent"
    echo "$output"
    [ "$output" = "ok 300000 bytes" ]
    wait_for_line "$T/tap.out" '"event":"close"'
    # What the tap showed each way, put together: what was sent, once.
    run /usr/bin/python3 - "$T/tap.out" "$T/sent" <<'EOF'
import json, sys
shown = {"to_server": "", "to_client": ""}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "data":
        shown[e["dir"]] += e["data"]
sent = open(sys.argv[2]).read()
print(" ".join("%s %s" % (d, "same" if s == sent else "%d of %d" % (len(s), len(sent)))
               for d, s in sorted(shown.items())))
EOF
    echo "$output"
    [ "$output" = "to_client same to_server same" ]
    stop_tap
    [ "$WAIT_STATUS" -eq 0 ]
}
