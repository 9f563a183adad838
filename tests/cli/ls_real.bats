#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds ls` across namespaces, built for real: a server in its own mount namespace with a
# private tmpfs (its file is not deleted, only elsewhere), and a client in another network
# namespace connected to a socket file of this one (its peer is named as being there).

load helpers

@test "ls: a listener in a private mount namespace is marked as such, with the path that reaches it" {
    need_root
    mkdir "$T/priv"
    bg_start "$T/ns.log" unshare -m --propagation private bash -c \
        'mount -t tmpfs tmpfs "$1" && exec "$2" serve "$1/s.sock"' ns "$T/priv" "$UDS"
    wait_for_line "$T/ns.log" 'listening on' || skip "no mount namespace here"
    run --separate-stderr timeout 10 "$UDS" ls -l "$T/*/*"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"$T/priv/s.sock (mount ns of pid $BG_PID)"* ]]
    [[ "$output" != *"(deleted)"* ]]
    run --separate-stderr timeout 10 "$UDS" ls -l --json "$T/*/*"
    run python3 -c '
import json, sys
d, = json.load(sys.stdin)
assert d["path_status"] == "other-namespace", d
assert d["reach"] == "/proc/%s/root%s/priv/s.sock" % (sys.argv[1], sys.argv[2]), d
' "$BG_PID" "$T" <<<"$output"
    [ "$status" -eq 0 ]
}

@test "ls: in a client's own network namespace, its peer in this one is named as being elsewhere" {
    need_root
    command -v nsenter >/dev/null || skip "no nsenter"
    start_server --type dgram "$T/d.sock"
    cat >"$T/client.py" <<'PY'
import socket, sys, time
c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
c.connect(sys.argv[1])
sys.stderr.write("connected\n"); sys.stderr.flush()
time.sleep(30)
PY
    bg_start "$T/client.log" unshare -n python3 "$T/client.py" "$T/d.sock"
    wait_for_line "$T/client.log" connected || skip "no network namespace here"
    run --separate-stderr timeout 10 nsenter -t "$BG_PID" -n "$UDS" ls -a
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"$SERVER_PID/uds (other netns)"*"$BG_PID/python3"* ]]
    run --separate-stderr timeout 10 nsenter -t "$BG_PID" -n "$UDS" ls -a --json
    run python3 -c '
import json, sys
c = [d for d in json.load(sys.stdin) if any(p["pid"] == int(sys.argv[1]) for p in d["processes"])]
assert len(c) == 1 and c[0]["peer_other_netns"] is True, c
assert [p["pid"] for p in c[0]["peer_processes"]] == [int(sys.argv[2])], c
' "$BG_PID" "$SERVER_PID" <<<"$output"
    [ "$status" -eq 0 ]
}
