# SPDX-License-Identifier: MIT
# tap_helpers.bash — what tap.bats and tap_real.bats share: a `uds tap` in the background and
# its stop, and the Python peers of tap_peer.py. Loaded after helpers.bash.

PEER="$BATS_TEST_DIRNAME/tap_peer.py"

# start_tap [TAP ARGS...] ADDRESS: `uds tap` in the background (stdout to $TAP_OUT), waited
# for by its "tapping" line; sets TAP_PID and TAP_LOG ($TAP_LOG_FILE, or $T/tap.log).
start_tap() {
    TAP_LOG=${TAP_LOG_FILE:-$T/tap.log}
    bg_start "$TAP_LOG" bash -c 'exec "$0" tap "$@" >"$TAP_OUT"' "$UDS" "$@"
    TAP_PID=$BG_PID
    wait_for_line "$TAP_LOG" 'tapping'
}
export TAP_OUT

# stop_tap: SIGINT, bounded wait; WAIT_STATUS is its exit status.
stop_tap() {
    kill -INT "$TAP_PID"
    wait_status "$TAP_PID"
}

# start_peer NAME SUBCOMMAND PATH [ARGS...]: a tap_peer.py server, waited for. A Python
# server leaves its socket file behind when stopped: that one is expected.
start_peer() {
    local name=$1 sub=$2 path=$3
    shift 3
    bg_start "$T/$name.err" python3 "$PEER" "$sub" "$path" "$T/$name.ready" "$@"
    wait_path "$T/$name.ready" 10
    LEFTOVER_OK+=("$path")
}

peer() {
    timeout 60 python3 "$PEER" "$@"
}

# inode PATH: the inode the path names now (a swap changes it, the swap back restores it).
inode() {
    stat -c %i "$1"
}
