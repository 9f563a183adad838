#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# --user and --backlog of `uds serve` and `uds proxy`: the ids of the server and of its
# programs read from /proc/PID/status (Uid, Gid, Groups lines) once it has dropped to a
# user, the socket still made and owned as asked, --user refused to a process that is not
# root, and the backlog as `ss -xl` and `ss -tl` show it (a listener's Send-Q).

load helpers

# ids PID: the Uid, Gid and Groups lines of /proc/PID/status, tabs as spaces, trimmed.
ids() {
    grep -E '^(Uid|Gid|Groups):' "/proc/$1/status" | tr '\t' ' ' | sed 's/ *$//'
}

# expected_ids UID GID GROUPS...: what ids() prints for a process with those ids.
expected_ids() {
    local uid=$1 gid=$2
    shift 2
    printf 'Uid: %s %s %s %s\nGid: %s %s %s %s\nGroups: %s\n' "$uid" "$uid" "$uid" "$uid" \
        "$gid" "$gid" "$gid" "$gid" "$(printf '%s\n' "$@" | sort -n | xargs)"
}

# A directory nobody may write to, so that the server, once nobody, can remove its socket.
nobody_dir() {
    mkdir "$T/run"
    chown "$NOBODY:$NOBODY" "$T/run"
}

@test "privdrop: serve --user nobody runs as uid and gid 65534 with nobody's groups, the socket still root's 0600" {
    need_root
    nobody_dir
    start_server --user nobody "$T/run/s.sock"
    run ids "$SERVER_PID"
    [ "$output" = "$(expected_ids $NOBODY $NOBODY $(id -G nobody))" ]
    [ "$(stat -c '%a %u %g' "$T/run/s.sock")" = "600 0 0" ]
    # Root may still connect: the listener was made before the drop, as asked.
    [ "$(py_echo "$T/run/s.sock" hello)" = hello ]
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    [ ! -e "$T/run/s.sock" ]
}

@test "privdrop: serve --user USER gets USER's supplementary groups (initgroups)" {
    need_root
    # A user that is a member of some group besides its own (postgres, in ssl-cert, in CI).
    local user
    user=$(getent group | awk -F: '$4 != "" { split($4, m, ","); print m[1]; exit }')
    [ -n "$user" ] || skip "no user on this system has supplementary groups"
    [ "$(id -G "$user" | wc -w)" -gt 1 ]
    nobody_dir
    chmod 0777 "$T/run"
    start_server --user "$user" "$T/run/s.sock"
    run ids "$SERVER_PID"
    [ "$output" = "$(expected_ids "$(id -u "$user")" "$(id -g "$user")" $(id -G "$user"))" ]
}

@test "privdrop: serve --user nobody:daemon takes that group as the gid" {
    need_root
    nobody_dir
    start_server --user nobody:daemon "$T/run/s.sock"
    run ids "$SERVER_PID"
    # initgroups() lists the gid given among the groups: nobody is in no other.
    [ "$output" = "$(expected_ids $NOBODY 1 1)" ]
}

@test "privdrop: serve --user nobody -- PROGRAM: the program runs as nobody too, UNIXLOCALUID/GID say so" {
    need_root
    nobody_dir
    cat >"$T/ids.sh" <<'EOF'
#!/bin/sh
grep -E '^(Uid|Gid|Groups):' /proc/$$/status | tr '\t' ' ' | sed 's/ *$//'
echo "UNIXLOCALUID=$UNIXLOCALUID UNIXLOCALGID=$UNIXLOCALGID"
EOF
    chmod 0755 "$T/ids.sh"
    start_server --user nobody "$T/run/s.sock" -- "$T/ids.sh"
    run timeout 5 "$UDS" connect "$T/run/s.sock" </dev/null
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "Uid: $NOBODY $NOBODY $NOBODY $NOBODY" ]
    [ "${lines[1]}" = "Gid: $NOBODY $NOBODY $NOBODY $NOBODY" ]
    [ "${lines[2]}" = "Groups: $(id -G nobody)" ]
    [ "${lines[3]}" = "UNIXLOCALUID=$NOBODY UNIXLOCALGID=$NOBODY" ]
    run ids "$SERVER_PID"
    [ "$output" = "$(expected_ids $NOBODY $NOBODY $(id -G nobody))" ]
}

@test "privdrop: serve --user with a PROGRAM the user may not run is refused at start (77)" {
    need_root
    nobody_dir
    printf '#!/bin/sh\necho hi\n' >"$T/secret.sh"
    chmod 0700 "$T/secret.sh"
    run --separate-stderr timeout 10 "$UDS" serve --user nobody "$T/run/s.sock" -- "$T/secret.sh"
    [ "$status" -eq 77 ]
    [[ "$stderr" == *"secret.sh: nobody (--user) may not run it"* ]]
    [ ! -e "$T/run/s.sock" ]
}

@test "privdrop: serve --user --owner: the socket is owned as asked before the drop" {
    need_root
    nobody_dir
    start_server --user nobody --owner nobody --mode 0660 "$T/run/s.sock"
    [ "$(stat -c '%a %u' "$T/run/s.sock")" = "660 $NOBODY" ]
    [ "$(as_nobody bash -c "$(declare -f py_echo); py_echo $T/run/s.sock hi")" = hi ]
}

@test "privdrop: a socket file the user may not remove stays after the stop, and that is said" {
    need_root
    start_server --user nobody "$T/s.sock"
    grep -q "nobody may not write to $T, so the socket file stays there after the stop" \
        "$SERVER_LOG"
    stop_server
    [ "$WAIT_STATUS" -eq 0 ]
    [ -S "$T/s.sock" ]
    # The next start takes it for stale, as it is (a log of its own: the first one already
    # says "listening on").
    SERVER_LOG_FILE=$T/again.log start_server "$T/s.sock"
    grep -q 'removed stale socket file' "$SERVER_LOG"
}

@test "privdrop: --user from a process that is not root is refused (77) before any socket exists" {
    need_root
    nobody_dir
    run --separate-stderr as_nobody timeout 10 "$UDS" serve --user nobody "$T/run/s.sock"
    [ "$status" -eq 77 ]
    [ "$stderr" = "uds: --user nobody: only root can become another user (this is nobody, uid $NOBODY); start it as root, or leave out --user" ]
    [ ! -e "$T/run/s.sock" ]
    run --separate-stderr as_nobody timeout 10 "$UDS" proxy --user nobody "$T/run/p.sock" \
        "$T/run/s.sock"
    [ "$status" -eq 77 ]
    [[ "$stderr" == *"only root can become another user"* ]]
    [ ! -e "$T/run/p.sock" ]
}

@test "privdrop: --user names a user that does not exist: a usage error (64)" {
    run --separate-stderr "$UDS" serve --user no-such-user-here "$T/s.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == "uds serve: --user: 'no-such-user-here' is not a user on this system"* ]]
    run --separate-stderr "$UDS" proxy --user nobody:no-such-group "$T/p.sock" "$T/s.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == "uds proxy: --user: 'no-such-group' is not a group on this system"* ]]
    run --separate-stderr "$UDS" serve --user 4000123 "$T/s.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"'4000123' is a uid with no passwd entry, so no group; name one (UID:GROUP)"* ]]
}

@test "privdrop: proxy --user nobody relays as nobody: the target sees uid 65534" {
    need_root
    nobody_dir
    # The target lets nobody in: its socket is nobody's.
    start_server -v --owner nobody "$T/run/target.sock"
    local target_log=$SERVER_LOG
    SERVER_LOG_FILE=$T/proxy.log
    bg_start "$T/proxy.log" "$UDS" proxy --user nobody "$T/run/p.sock" "$T/run/target.sock"
    local proxy=$BG_PID
    wait_for_line "$T/proxy.log" 'listening on'
    run ids "$proxy"
    [ "$output" = "$(expected_ids $NOBODY $NOBODY $(id -G nobody))" ]
    [ "$(py_echo "$T/run/p.sock" through)" = through ]
    wait_for_line "$target_log" "connection from pid $proxy uid $NOBODY gid $NOBODY"
}

@test "privdrop: --backlog N is the listener's backlog (ss -xl Send-Q); dgram refuses it" {
    start_server --backlog 7 "$T/s.sock"
    run ss -xlH src "$T/s.sock"
    [ "$status" -eq 0 ]
    [ "$(awk '{print $4}' <<<"$output")" = 7 ]
    run --separate-stderr "$UDS" serve --type dgram --backlog 7 "$T/d.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"--backlog needs connections"* ]]
}

@test "privdrop: without --backlog the listener gets net.core.somaxconn; more is cut, with a warning" {
    local max
    max=$(cat /proc/sys/net/core/somaxconn)
    start_server "$T/s.sock"
    [ "$(ss -xlH src "$T/s.sock" | awk '{print $4}')" = "$max" ]
    stop_server
    SERVER_LOG_FILE=$T/again.log start_server --backlog $((max + 1)) "$T/s.sock"
    grep -q -- "--backlog $((max + 1)) is more than the kernel allows (net.core.somaxconn $max)" \
        "$SERVER_LOG"
    [ "$(ss -xlH src "$T/s.sock" | awk '{print $4}')" = "$max" ]
}

@test "privdrop: proxy --backlog on a Unix and on a TCP listener (ss Send-Q)" {
    start_server "$T/target.sock"
    bg_start "$T/p1.log" "$UDS" proxy --backlog 5 "$T/p.sock" "$T/target.sock"
    wait_for_line "$T/p1.log" 'listening on'
    [ "$(ss -xlH src "$T/p.sock" | awk '{print $4}')" = 5 ]
    bg_start "$T/p2.log" "$UDS" proxy --backlog 9 tcp:127.0.0.1:0 "$T/target.sock"
    wait_for_line "$T/p2.log" 'listening on'
    local port
    port=$(sed -n 's/.*listening on tcp:127.0.0.1:\([0-9]*\);.*/\1/p' "$T/p2.log")
    [ -n "$port" ]
    [ "$(ss -tlnH src "127.0.0.1:$port" | awk '{print $3}')" = 9 ]
}
