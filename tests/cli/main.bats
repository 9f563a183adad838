#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds` itself: --version, --help of every command, usage errors (exit 64, one message and a
# "Try" line, no help dump).

load helpers

@test "version: prints uds X.Y.Z (libudskit X.Y.Z)" {
    run timeout 5 "$UDS" --version
    [ "$status" -eq 0 ]
    [[ "$output" =~ ^uds\ [0-9]+\.[0-9]+\.[0-9]+\ \(libudskit\ [0-9]+\.[0-9]+\.[0-9]+\)$ ]]
}

@test "help: uds --help lists the commands on stdout, exit 0" {
    run --separate-stderr timeout 5 "$UDS" --help
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [[ "$output" == *"Usage: uds COMMAND"* ]]
    for cmd in serve connect send; do
        [[ "$output" == *"  $cmd "* ]]
    done
}

@test "help: every command has --help and -h on stdout, exit 0" {
    for cmd in serve connect send; do
        for flag in --help -h; do
            run --separate-stderr timeout 5 "$UDS" "$cmd" "$flag"
            [ "$status" -eq 0 ]
            [ -z "$stderr" ]
            [[ "$output" == *"Usage: uds $cmd [OPTIONS] ADDRESS"* ]]
            [[ "$output" == *"Exit status:"* ]]
        done
        run --separate-stderr timeout 5 "$UDS" help "$cmd"
        [ "$status" -eq 0 ]
        [[ "$output" == *"Usage: uds $cmd"* ]]
    done
}

@test "usage: no command exits 64" {
    run --separate-stderr timeout 5 "$UDS"
    [ "$status" -eq 64 ]
    [ -z "$output" ]
    [[ "$stderr" == *"Usage: uds"* ]]
}

@test "usage: unknown command exits 64 and names it" {
    run --separate-stderr timeout 5 "$UDS" frobnicate
    [ "$status" -eq 64 ]
    [ "${stderr_lines[0]}" = "uds: 'frobnicate' is not a command; see 'uds --help'" ]
    [ "${stderr_lines[1]}" = "Try 'uds --help'." ]
}

@test "usage: bad --mode prints one line with an example and a Try line, exit 64" {
    run --separate-stderr timeout 5 "$UDS" serve --mode 9x9 "$T/s.sock"
    [ "$status" -eq 64 ]
    [ -z "$output" ]
    [ "${#stderr_lines[@]}" -eq 2 ]
    [ "${stderr_lines[0]}" = "uds serve: --mode: '9x9' is not an octal mode; e.g. --mode 0660" ]
    [ "${stderr_lines[1]}" = "Try 'uds serve --help'." ]
    [ ! -e "$T/s.sock" ]
}

@test "usage: bad option values and arguments exit 64 without a help dump" {
    local cases=(
        "serve"
        "serve --type bogus $T/s.sock"
        "serve --max-message 1X $T/s.sock"
        "serve --max-message 0 $T/s.sock"
        "serve --allow-uid no-such-user-xyz $T/s.sock"
        "serve --allow-uid 0,,1 $T/s.sock"
        "serve --allow-gid no-such-group-xyz $T/s.sock"
        "serve --owner no-such-user-xyz $T/s.sock"
        "serve --group no-such-group-xyz $T/s.sock"
        "serve --bogus $T/s.sock"
        "serve -c 0 $T/s.sock"
        "serve --idle-timeout abc $T/s.sock"
        "serve --drain-timeout -1 $T/s.sock"
        "serve --log xml $T/s.sock"
        "serve --ready-fd 97 $T/s.sock"
        "serve $T/a.sock $T/b.sock"
        "serve --mode"
        "serve --max-conns-per-uid 0 $T/s.sock"
        "serve --max-conns-per-uid x $T/s.sock"
        "serve --max-conns-per-uid 2 --type dgram $T/s.sock"
        "serve --framed --type dgram $T/s.sock"
        "serve $T/s.sock --"
        "serve $T/s.sock -- no-such-program-xyz"
        "serve --reply hi $T/s.sock -- cat"
        "connect"
        "connect --timeout -1 $T/s.sock"
        "connect --timeout 0 $T/s.sock"
        "connect --wait soon $T/s.sock"
        "connect --type raw $T/s.sock"
        "connect $T/a.sock $T/b.sock"
        "connect $T/s.sock --send-fd"
        "send"
        "send --timeout 1x $T/s.sock hi"
        "send -x $T/s.sock hi"
        "send --framed --type dgram $T/s.sock hi"
    )
    local c
    for c in "${cases[@]}"; do
        # shellcheck disable=SC2086 # word splitting is the point
        run --separate-stderr timeout 5 "$UDS" $c
        echo "case: uds $c -> $status: $stderr"
        [ "$status" -eq 64 ]
        [ -z "$output" ]
        [ "${#stderr_lines[@]}" -eq 2 ]
        [[ "${stderr_lines[1]}" == "Try 'uds "*" --help'." ]]
    done
    [ -z "$(ls -A "$T")" ]
}

@test "usage: bad addresses exit 64 (empty, abstract name over 107 bytes)" {
    run --separate-stderr timeout 5 "$UDS" serve ""
    [ "$status" -eq 64 ]
    run --separate-stderr timeout 5 "$UDS" connect "@$(printf 'a%.0s' {1..120})"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"too long"* ]]
}

@test "options: --list-options names each option once: SHORT LONG ARG KIND [WORD...]" {
    local cmd
    for cmd in serve connect send ls doctor proxy bench; do
        run --separate-stderr timeout 5 "$UDS" "$cmd" --list-options
        [ "$status" -eq 0 ]
        [ -z "$stderr" ]
        [ "${#lines[@]}" -ge 2 ]
        echo "$output" | awk -v c="$cmd" '
            NF < 4 || $1 !~ /^(-[A-Za-z]|-)$/ || $2 !~ /^(--[a-z][a-z0-9-]*|-)$/ ||
                ($1 == "-" && $2 == "-") { print c ": bad line: " $0; bad = 1 }
            $1 != "-" && seen[$1]++ { print c ": twice: " $1; bad = 1 }
            $2 != "-" && seen[$2]++ { print c ": twice: " $2; bad = 1 }
            END { exit bad }'
        echo "$output" | grep -qx -- '-h --help - help'
    done
    run timeout 5 "$UDS" serve --list-options
    [[ "$output" == *$'\n- --type TYPE word stream seqpacket dgram\n'* ]]
    [[ "$output" == *$'\n-m --mode OCTAL mode\n'* ]]
    [[ "$output" == *$'\n- --first-byte-timeout SECONDS duration none\n'* ]]
}

@test "usage: a bad value of any option of any command is worded alike: what it is not, and an example" {
    local cmd short long arg kind rest n=0
    for cmd in serve connect send ls doctor proxy bench; do
        while read -r short long arg kind rest; do
            # A string takes anything; the others refuse this.
            [ "$arg" != "-" ] && [ "$kind" != string ] || continue
            run --separate-stderr timeout 5 "$UDS" "$cmd" "$long" '%bad%' "$T/s.sock" "$T/t.sock"
            echo "uds $cmd $long %bad% -> $status: $stderr"
            [ "$status" -eq 64 ]
            [ -z "$output" ]
            [ "${#stderr_lines[@]}" -eq 2 ]
            [[ "${stderr_lines[0]}" =~ ^"uds $cmd: $long: '%bad%' is not "[^\;]+"; e.g. $long "[^\ ] ]]
            [ "${stderr_lines[1]}" = "Try 'uds $cmd --help'." ]
            n=$((n + 1))
        done < <("$UDS" "$cmd" --list-options)
    done
    [ "$n" -ge 30 ]
    [ -z "$(ls -A "$T")" ]
}

@test "usage: a flag given a value, and the start of several options' names, are named as such" {
    run --separate-stderr timeout 5 "$UDS" serve --verbose=1 "$T/s.sock"
    [ "$status" -eq 64 ]
    [ "${stderr_lines[0]}" = "uds serve: option '--verbose' takes no value" ]
    run --separate-stderr timeout 5 "$UDS" serve --max=3 "$T/s.sock"
    [ "$status" -eq 64 ]
    [ "${stderr_lines[0]}" = "uds serve: option '--max' is ambiguous: --max-conns, \
--max-conns-per-uid, --max-message" ]
    # The start of one option's name is that option.
    run --separate-stderr timeout 5 "$UDS" connect --time 0 "$T/s.sock"
    [ "$status" -eq 64 ]
    [[ "${stderr_lines[0]}" == "uds connect: --timeout: '0' is not a duration in seconds above 0;"* ]]
    [ -z "$(ls -A "$T")" ]
}

@test "usage: a size too large to hold is refused as such, not wrapped round to 0" {
    run --separate-stderr timeout 5 "$UDS" bench -s 1099511627776G "$T/s.sock"
    [ "$status" -eq 64 ]
    [ "${stderr_lines[0]}" = "uds bench: --size: '1099511627776G' is not a size up to 1G; \
e.g. --size 16K" ]
}
