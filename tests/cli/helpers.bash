# SPDX-License-Identifier: MIT
# helpers.bash — shared by the uds CLI tests: a private directory per test, servers started
# in the background and waited for by their readiness line (never a bare sleep), and a
# teardown that stops every process a test started and fails if a socket file is left.

bats_require_minimum_version 1.5.0   # run --separate-stderr

UDS=${UDS:-$BATS_TEST_DIRNAME/../../build/uds}
NOBODY=65534
MY_UID=$(id -u)
MY_GID=$(id -g)
MY_IDS="uid $MY_UID gid $MY_GID"    # as the server logs a peer running these tests

setup() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/uds-cli.XXXXXX")
    # Unprivileged clients (setpriv to nobody) must be able to reach sockets in here.
    chmod 0755 "$T"
    BG_PIDS=()
    # Tests that deliberately leave a socket file behind (kill -9) list it here.
    LEFTOVER_OK=()
}

teardown() {
    local pid leaked=() left sanitizer
    for pid in "${BG_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null
        if ! wait_exit "$pid" 5; then
            kill -KILL "$pid" 2>/dev/null
            leaked+=("$pid")
        fi
    done
    for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    left=$(find "$T" -type s 2>/dev/null | grep -vxF -f <(printf '%s\n' "${LEFTOVER_OK[@]}" "") ||
        true)
    # A sanitizer report from a background process (SANITIZE=1 builds) fails the test too.
    sanitizer=$(grep -lE 'ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$T"/*.log "$T"/*.err \
        2>/dev/null || true)
    [ -z "$sanitizer" ] || cat $sanitizer >&2
    rm -rf "$T"
    if [ ${#leaked[@]} -gt 0 ]; then
        echo "processes did not stop on SIGTERM: ${leaked[*]}" >&2
        return 1
    fi
    if [ -n "$left" ]; then
        echo "socket files left behind: $left" >&2
        return 1
    fi
    [ -z "$sanitizer" ]
}

# need_root: the test drops privileges (setpriv) or changes owners, which only root can do.
need_root() {
    [ "$(id -u)" -eq 0 ] || skip "needs root (to drop to uid $NOBODY or chown)"
}

# wait_until SECONDS CMD...: run CMD every 20 ms until it succeeds; false (and silent) if
# it has not within SECONDS. The other waits below are this one with a message.
wait_until() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 50; i++)); do
        "$@" && return 0
        sleep 0.02
    done
    return 1
}

# wait_for_line FILE PATTERN [SECONDS]: poll FILE until a line matches PATTERN (grep -E).
wait_for_line() {
    local file=$1 pattern=$2 secs=${3:-5}
    wait_until "$secs" grep -qE -- "$pattern" "$file" 2>/dev/null && return 0
    echo "timed out after ${secs}s waiting for /$pattern/ in $file:" >&2
    cat "$file" >&2 2>/dev/null
    return 1
}

# pid_gone PID: true if no process PID is left.
pid_gone() {
    ! kill -0 "$1" 2>/dev/null
}

# wait_exit PID [SECONDS]: true once PID has exited (bounded).
wait_exit() {
    wait_until "${2:-5}" pid_gone "$1"
}

# wait_path PATH [SECONDS]: until PATH exists (bounded).
wait_path() {
    local path=$1 secs=${2:-5}
    wait_until "$secs" test -e "$path" && return 0
    echo "timed out after ${secs}s waiting for $path" >&2
    return 1
}

# wait_path_gone PATH [SECONDS]
wait_path_gone() {
    wait_until "${2:-5}" test ! -e "$1"
}

# wait_status PID [SECONDS]: wait for a background child (bounded); its exit status goes in
# WAIT_STATUS (not printed: `wait` only works in the shell that started the child).
wait_status() {
    local pid=$1
    WAIT_STATUS=
    wait_exit "$pid" "${2:-10}" || { echo "pid $pid still running" >&2; return 1; }
    WAIT_STATUS=0
    wait "$pid" || WAIT_STATUS=$?
}

# bg_start LOG CMD...: start CMD in the background with stderr to LOG; sets BG_PID. fd 3 is
# closed so bats does not wait for the process. A background command's stdin is /dev/null:
# give scripts as files, not here-documents.
bg_start() {
    local log=$1
    shift
    "$@" 2>"$log" 3>&- &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# start_server [SERVE ARGS...] ADDRESS: `uds serve` in the background, waited for by its
# "listening on" line; sets SERVER_PID and SERVER_LOG.
start_server() {
    SERVER_LOG=${SERVER_LOG_FILE:-$T/server.log}
    bg_start "$SERVER_LOG" "$UDS" serve "$@"
    SERVER_PID=$BG_PID
    wait_for_line "$SERVER_LOG" 'listening on'
}

# stop_server: SIGTERM, bounded wait; the exit status goes in WAIT_STATUS.
stop_server() {
    kill -TERM "$SERVER_PID"
    wait_status "$SERVER_PID"
}

# as_nobody CMD...: run CMD as uid/gid 65534 with no supplementary groups.
as_nobody() {
    setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups "$@"
}

# A unique abstract name for this test.
abstract_name() {
    echo "@uds-test-$$-${BATS_TEST_NUMBER}-$RANDOM"
}

# py_echo ADDRESS DATA [TIMES]: a Python client sends DATA (TIMES times over: more than
# one argument may hold), half-closes, prints what comes back.
py_echo() {
    timeout 10 python3 - "$1" "$2" "${3:-1}" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() * int(sys.argv[3]))
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode())
EOF
}

# notify_listener: a Python NOTIFY_SOCKET on a fresh abstract name (no file to clean up)
# that writes each state it receives to $T/notify.out; sets NOTIFY_NAME.
notify_listener() {
    NOTIFY_NAME=$(abstract_name)
    cat >"$T/notify.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1][1:])
s.settimeout(10)
open(sys.argv[2], "w").write("bound\n")
with open(sys.argv[3], "w") as out:
    while True:
        msg = s.recv(4096).decode()
        out.write(msg + "\n")
        out.flush()
        if "STOPPING=1" in msg:
            break
EOF
    bg_start "$T/notify.err" python3 "$T/notify.py" "$NOTIFY_NAME" "$T/bound" "$T/notify.out"
    wait_for_line "$T/bound" bound
}

# help_in_man HELP-TEXT: every option that HELP-TEXT (a command's --help) names is in
# man/uds.1; prints the first one missing. -h/--help is every command's: the man page says
# so once, not per command.
help_in_man() {
    local opt
    for opt in $(printf '%s\n' "$1" | grep -oE -- '(^| )--?[a-z][a-z0-9-]*' | tr -d ' ' |
                 grep -vxE -- '-h|--help'); do
        grep -qF -- "$(sed 's/-/\\-/g' <<<"$opt")" "$BATS_TEST_DIRNAME/../../man/uds.1" ||
            { echo "missing $opt"; return 1; }
    done
}

# open_client NAME ADDRESS [CONNECT ARGS...]: a `uds connect` that stays connected until
# close_client NAME; say_client NAME TEXT sends it a line; what it receives goes to
# $T/NAME.out. Sets CLIENT_PID.
open_client() {
    local name=$1 addr=$2 fd
    shift 2
    mkfifo "$T/$name.in"
    # The client must not hold the write ends of the other clients' FIFOs: they would never
    # see the end of their input.
    bg_start "$T/$name.err" bash -c 'in=$1 out=$2; shift 2
        for f in $OPEN_CLIENT_FDS; do eval "exec $f>&-"; done
        exec "$0" connect "$@" <"$in" >"$out"' \
        "$UDS" "$T/$name.in" "$T/$name.out" "$@" "$addr"
    CLIENT_PID=$BG_PID
    exec {fd}>"$T/$name.in"
    printf -v "CLIENT_FD_$name" %s "$fd"
    export OPEN_CLIENT_FDS="${OPEN_CLIENT_FDS:-} $fd"
}

say_client() {
    local v="CLIENT_FD_$1"
    printf '%s\n' "$2" >&"${!v}"
}

close_client() {
    local v="CLIENT_FD_$1" fd
    fd=${!v}
    exec {fd}>&-
}

# procs_where ppid|pgrp VALUE: "PID STATE" of each process whose parent (process group) is
# VALUE, one per line; read from /proc/PID/stat, so no procps is needed.
procs_where() {
    local key=$1 value=$2 f line rest
    for f in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$f" || continue
        rest=${line##*) }   # after the command name, which may hold spaces and parentheses
        # state ppid pgrp ...
        # shellcheck disable=SC2086 # splitting the fields is the point
        set -- $rest
        if [ "$key" = ppid ]; then [ "$2" = "$value" ] || continue; fi
        if [ "$key" = pgrp ]; then [ "$3" = "$value" ] || continue; fi
        f=${f#/proc/}
        echo "${f%/stat} $1"
    done
}

# children_of PID: "PID STATE" of each child process, one per line.
children_of() {
    procs_where ppid "$1"
}

# alive_in_group PGID: "PID STATE" of each process of the group that is not a zombie.
alive_in_group() {
    procs_where pgrp "$1" | grep -v ' Z$' || true
}

# childless PID: true if PID has no child processes at all.
childless() {
    [ -z "$(children_of "$1")" ]
}

# wait_no_children PID [SECONDS]: until PID has no child processes at all (bounded).
wait_no_children() {
    local pid=$1 secs=${2:-5}
    wait_until "$secs" childless "$pid" && return 0
    echo "children of $pid still there:" >&2
    children_of "$pid" >&2
    return 1
}
