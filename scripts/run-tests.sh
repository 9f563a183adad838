#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every test (cmocka unit tests, bats CLI tests, library and tree checks) and end with
# the one line "N passed, N failed". Each suite is bounded in time.
set -u
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
export UDS="$PWD/$BUILD/uds"
export UDS_BUILD="$PWD/$BUILD"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export CMOCKA_MESSAGE_OUTPUT=TAP

passed=0
failed=0
skipped=0
failures=()

# Count TAP lines from one suite's output; a suite that dies without reporting a failure
# (a crash, a sanitizer abort, a timeout) still counts as one failure.
tally() {
    local name=$1 status=$2 log=$3 ok notok skip
    # TAP skips ("ok 3 x # skip why" from bats, "not ok 3 - x # SKIP" from cmocka) are
    # neither passes nor failures; they are counted and listed.
    skip=$(grep -Eci '^(not )?ok .*# skip' "$log")
    ok=$(grep '^ok ' "$log" | grep -Evci '# skip')
    notok=$(grep '^not ok ' "$log" | grep -Evci '# skip')
    passed=$((passed + ok))
    failed=$((failed + notok))
    skipped=$((skipped + skip))
    grep '^not ok ' "$log" | grep -Evi '# skip' | sed "s|^|  $name: |" >> "$summary"
    grep -Ei '^(not )?ok .*# skip' "$log" | sed "s|^|  $name: |" >> "$skips"
    if [ "$status" -ne 0 ] && [ "$notok" -eq 0 ]; then
        failed=$((failed + 1))
        echo "  $name: exited with status $status" >> "$summary"
    fi
}

summary=$(mktemp)
skips=$(mktemp)
log=$(mktemp)
trap 'rm -f "$summary" "$skips" "$log"' EXIT

# Under ThreadSanitizer (make check SANITIZE=thread) only what starts threads runs: the
# loop pool's, the threaded server's and the forwarder's unit tests, the spawner's (a thread
# watches the open-file limit while programs start), and the CLI's --threads tests, each
# report a failure.
units=("$BUILD"/tests/test_*)
bats_dir=tests/cli
if [ "${SANITIZE:-}" = thread ]; then
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:exitcode=66:second_deadlock_stack=1}
    units=("$BUILD"/tests/test_server_threads "$BUILD"/tests/test_loop_pool
           "$BUILD"/tests/test_forward "$BUILD"/tests/test_spawn)
    bats_dir=tests/cli/threads.bats
fi

for t in "${units[@]}"; do
    [ -x "$t" ] || continue
    echo "# unit: $(basename "$t")"
    timeout -k 5 300 "$t" > "$log" 2>&1
    status=$?
    cat "$log"
    tally "$(basename "$t")" "$status" "$log"
done

# Every fuzz target's corpus, replayed (crashers found by `make fuzz` are kept there).
for r in "$BUILD"/fuzz/replay_*; do
    [ "${SANITIZE:-}" = thread ] && break
    [ -x "$r" ] || continue
    target=${r##*/replay_}
    echo "# fuzz replay: $target"
    timeout -k 5 300 "$r" tests/fuzz/corpus/"$target"/* > "$log" 2>&1
    status=$?
    cat "$log"
    tally "replay_$target" "$status" "$log"
done

# Only uds_ symbols may leave the shared library.
echo "# library: exported symbols"
bad=$(nm -D --defined-only "$BUILD/libudskit.so" | awk '$3 !~ /^uds_/ && $2 ~ /[TDBRVW]/ {print $3}')
if [ -z "$bad" ]; then
    echo "ok 1 - libudskit.so exports only uds_ symbols" > "$log"
    status=0
else
    { echo "not ok 1 - libudskit.so exports only uds_ symbols"; echo "# $bad"; } > "$log"
    status=1
fi
cat "$log"
tally symbols "$status" "$log"

# The rules of the tree the compiler cannot check (function length, include cycles, the
# library's silence, MSG_NOSIGNAL, close-on-exec): scripts/check-tree.py.
if [ "${SANITIZE:-}" != thread ]; then
    echo "# tree: check-tree.py"
    timeout -k 5 60 python3 scripts/check-tree.py > "$log" 2>&1
    status=$?
    cat "$log"
    tally tree "$status" "$log"
fi

if ls tests/cli/*.bats >/dev/null 2>&1; then
    echo "# cli: bats"
    BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-60} timeout -k 10 1500 \
        bats --tap "$bats_dir" > "$log" 2>&1
    status=$?
    cat "$log"
    tally bats "$status" "$log"
fi

if [ -s "$skips" ]; then
    echo "# skipped:"
    cat "$skips"
fi
if [ -s "$summary" ]; then
    echo "# failures:"
    cat "$summary"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
