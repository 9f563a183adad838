#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The benchmark suite in one command: build the comparison programs of bench/ next to
# build/uds, then run every measurement of bench/RESULTS.md (bench/suite.py) and write the
# report to $BUILD/bench/report.md (and the raw figures to results.json).
#
#   bench/run.sh            the full suite, a few minutes (make bench)
#   bench/run.sh --smoke    every part once, briefly, to check the scripts (make bench-smoke)
#   bench/run.sh --help     the other options (repeats, durations, sections)
#
# Peers that are not installed (libuv1-dev, s6, ucspi-unix, socat) are skipped and named.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
CC=${CC:-cc}
CFLAGS_BENCH="-std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror"
out=$BUILD/bench

for arg in "$@"; do
    if [ "$arg" = "--help" ] || [ "$arg" = "-h" ]; then
        exec python3 bench/suite.py --help
    fi
done

if [ ! -x "$BUILD/uds" ] || [ ! -f "$BUILD/libudskit.a" ]; then
    echo "bench: $BUILD/uds or $BUILD/libudskit.a is missing; run make first" >&2
    exit 1
fi
mkdir -p "$out"

# A sanitizer build of the library (make SANITIZE=1) needs the same flags to link against.
if nm "$BUILD/libudskit.a" 2>/dev/null | grep __asan_ >/dev/null; then
    CFLAGS_BENCH="$CFLAGS_BENCH -fsanitize=address,undefined -fno-omit-frame-pointer"
fi

build() {   # build NAME [EXTRA ARGS...]: bench/NAME.c into $out/NAME
    local name=$1
    shift
    # shellcheck disable=SC2086 # CFLAGS_BENCH is a list of flags
    $CC $CFLAGS_BENCH -o "$out/$name" "bench/$name.c" "$@"
}

build floor_echo
build pingpong
build idle_conns
build send_cost
if [ -f /usr/include/uv.h ] || pkg-config --exists libuv 2>/dev/null; then
    build uv_echo $(pkg-config --cflags --libs libuv 2>/dev/null || echo -luv)
else
    rm -f "$out/uv_echo"
    echo "bench: libuv is not installed (apt-get install libuv1-dev): its rows are skipped" >&2
fi
# 256 connections in a burst over 4 workers: uds_server's threads against EPOLLEXCLUSIVE.
build fairness -pthread -Iinclude "$BUILD/libudskit.a"
if [ -f bench/memfd_bench.c ]; then
    build memfd_bench -Iinclude "$BUILD/libudskit.a"
fi

# The suite runs a copy of uds: a rebuild in the tree during the run cannot swap the binary
# under it (or leave it half-written).
cp "$BUILD/uds" "$out/uds.tmp"
mv -f "$out/uds.tmp" "$out/uds"
exec python3 bench/suite.py --build "$BUILD" --uds "$out/uds" "$@"
