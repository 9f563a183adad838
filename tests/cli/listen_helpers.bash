# SPDX-License-Identifier: MIT
# listen_helpers.bash — what listen.bats and nc_peers.bats share for running `uds listen`
# in the background (helpers.bash is loaded first, for bg_start and wait_for_line).

# start_listen LOG [LISTEN ARGS...]: `uds listen` in the background, its stdin from
# $T/in (empty unless a test wrote it), stdout to $T/out; waited for by its "listening on"
# line. Sets LISTEN_PID.
start_listen() {
    local log=$1
    shift
    [ -e "$T/in" ] || : >"$T/in"
    bg_start "$log" bash -c 'in=$1 out=$2; shift 2; exec "$0" listen "$@" <"$in" >"$out"' \
        "$UDS" "$T/in" "$T/out" "$@"
    LISTEN_PID=$BG_PID
    wait_for_line "$log" 'listening on'
}

# start_listen_fifo LOG [LISTEN ARGS...]: the same with stdin a FIFO the test writes to
# through fd $LISTEN_IN, and closes (exec {LISTEN_IN}>&-) to end it.
start_listen_fifo() {
    local log=$1
    shift
    mkfifo "$T/in"
    bg_start "$log" bash -c 'in=$1 out=$2; shift 2; exec "$0" listen "$@" <"$in" >"$out"' \
        "$UDS" "$T/in" "$T/out" "$@"
    LISTEN_PID=$BG_PID
    exec {LISTEN_IN}>"$T/in"
    # Clients started later must not hold it open too: stdin would never end.
    export OPEN_CLIENT_FDS="${OPEN_CLIENT_FDS:-} $LISTEN_IN"
    wait_for_line "$log" 'listening on'
}
