#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make demo: the tutorial's scenario end to end, on a temporary directory, with udskit —
# then the gotchas the tutorial warns about, each handled. Everything is stopped and
# removed at the end, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

UDS=${UDS:-build/uds}
UDS=$(realpath "$UDS")
dir=$(mktemp -d "${TMPDIR:-/tmp}/udskit-demo.XXXXXX")
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
show() { printf '$ %s\n' "$*"; }

# Start "uds serve ARGS" in the background, its log in $dir/NAME.log; wait until it says
# it is listening (bounded), then show its log.
start_server() {
    local name=$1; shift
    "$UDS" serve "$@" 2> "$dir/$name.log" &
    pids+=($!)
    for _ in $(seq 100); do
        grep -q 'listening on' "$dir/$name.log" && break
        sleep 0.05
    done
    sed 's/^/  [server] /' "$dir/$name.log"
}

sock=$dir/mysock

step "1. The tutorial: a server answers \"Hello from server!\", a client says \"Hi server!\""
show "uds serve --reply 'Hello from server!' $sock &"
start_server hello --reply "Hello from server!" "$sock"
show "uds send $sock 'Hi server!'"
"$UDS" send "$sock" "Hi server!"
show "ls -l $sock"
ls -l "$sock"

step "2. Inspecting: the socket as ss -x and uds ls show it"
show "ss -x -l | grep $sock"
ss -x -l | grep -F "$sock" || echo "(ss shows nothing: iproute2 missing?)"
show "uds ls -l '$dir/*'"
"$UDS" ls -l "$dir/*"

step "3. Many clients at once (the tutorial's server serves one)"
echo_sock=$dir/echo.sock
show "uds serve $echo_sock &   # echo"
start_server echo "$echo_sock"
for i in 1 2 3 4 5; do
    ( printf 'client %s: my own bytes back\n' "$i" | "$UDS" connect "$echo_sock" ) &
done
wait_clients() { for j in $(jobs -p); do case " ${pids[*]} " in *" $j "*) ;; *) wait "$j";; esac; done; }
wait_clients

step "4. Gotcha: a second server on the same path is refused; the first keeps serving"
show "uds serve $sock"
set +e
"$UDS" serve "$sock"
echo "(exit status $?)"
set -e
show "uds send $sock 'still there?'"
"$UDS" send "$sock" "still there?"

step "5. Gotcha: a stale socket file, left by a server that crashed"
kill -KILL "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
show "kill -9 <server>; ls -l $sock"
ls -l "$sock"
show "uds send $sock 'anyone?'"
set +e
"$UDS" send "$sock" "anyone?"
echo "(exit status $?)"
set -e
show "uds serve --reply 'Hello again!' $sock &   # the stale file is detected and replaced"
start_server hello2 --reply "Hello again!" "$sock"
"$UDS" send "$sock" "Hi server!"

step "6. Gotcha: a path that is not a socket is never deleted"
echo "precious data" > "$dir/notes.txt"
show "uds serve $dir/notes.txt"
set +e
"$UDS" serve "$dir/notes.txt"
echo "(exit status $?)"
set -e
show "cat $dir/notes.txt"
cat "$dir/notes.txt"

step "7. Gotcha: permissions block access (the socket is 0600 by default)"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
    chmod 0755 "$dir"
    as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
    show "setpriv --reuid=nobody uds send $sock 'let me in'"
    set +e
    as_nobody "$UDS" send "$sock" "let me in"
    echo "(exit status $?)"
    set -e
    open_sock=$dir/open.sock
    show "uds serve --mode 0666 --reply 'Hello, anyone!' $open_sock &"
    start_server open --mode 0666 --reply "Hello, anyone!" "$open_sock"
    show "setpriv --reuid=nobody uds send $open_sock 'let me in'"
    as_nobody "$UDS" send "$open_sock" "let me in"
else
    echo "(run as root to see another user refused: this step drops to uid 65534)"
fi

step "8. Stopping: SIGTERM drains the clients and removes the socket files"
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
show "ls $dir"
ls "$dir" | grep -v '\.log$' || true
echo
echo "demo finished; everything it started is stopped and removed."
