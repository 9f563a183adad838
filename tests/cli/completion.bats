#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The bash completion (completion/uds.bash), sourced in bash with bash-completion as a
# user's shell has it, asked for the candidates of a command line with the cursor at its
# end. Its commands and options come from the uds it completes, so these tests also show a
# command or option of the program cannot be missing from it.

load helpers

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
SCRIPT=$ROOT/completion/uds.bash
BASH_COMPLETION=/usr/share/bash-completion/bash_completion

setup() {
    [ -f "$BASH_COMPLETION" ] ||
        skip "bash-completion is not installed (Debian package bash-completion)"
    T=$(mktemp -d "${TMPDIR:-/tmp}/uds-cli.XXXXXX")
    BG_PIDS=()
    LEFTOVER_OK=()
    # "uds" on the PATH is the uds under test, as the installed one would be.
    mkdir "$T/bin"
    ln -s "$UDS" "$T/bin/uds"
}

# comp LINE: the candidates for LINE, sorted, one a line, from a bash that has loaded
# bash-completion and the script; what they print on stderr goes to stderr. COMP_WORDS are
# split as readline splits them: at blanks, and at "=" and ":", each a word of its own.
comp() {
    PATH="$T/bin:$PATH" timeout 20 bash --norc --noprofile -c '
        source "$1" && source "$2" || exit 1
        # Outside a completion run by readline, compopt (display hints) only complains.
        compopt() { :; }
        line=$3 word=
        COMP_WORDS=()
        for ((k = 0; k < ${#line}; k++)); do
            c=${line:k:1}
            case $c in
            " ") [[ -n $word ]] && COMP_WORDS+=("$word"); word= ;;
            [=:]) [[ -n $word ]] && COMP_WORDS+=("$word"); word=$c ;;
            *) [[ $word == [=:] ]] && { COMP_WORDS+=("$word"); word=; }; word+=$c ;;
            esac
        done
        if [[ -n $word ]]; then
            COMP_WORDS+=("$word")
        elif [[ $line == *" " ]]; then
            COMP_WORDS+=("")
        fi
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE=$line COMP_POINT=${#line}
        _uds uds "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        [[ ${#COMPREPLY[@]} -eq 0 ]] || printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort -u
    ' _ "$BASH_COMPLETION" "$SCRIPT" "$1"
}

# lines WORD...: the words, one a line, sorted as comp sorts them.
lines() {
    printf '%s\n' "$@" | LC_ALL=C sort -u
}

# commands: the command names `uds --help` lists (as docs.bats reads them).
commands() {
    "$UDS" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 && $1 != "Commands:" {print $1}'
}

@test "completion: 'uds se' offers send and serve" {
    run comp "uds se"
    [ "$status" -eq 0 ]
    [ "$output" = "$(lines send serve)" ]
}

@test "completion: 'uds serve --mo' offers --mode" {
    run comp "uds serve --mo"
    [ "$status" -eq 0 ]
    [ "$output" = "--mode" ]
}

@test "completion: 'uds serve --type ' offers the socket types" {
    run comp "uds serve --type "
    [ "$status" -eq 0 ]
    [ "$output" = "$(lines dgram seqpacket stream)" ]
    run comp "uds send --type seq"
    [ "$output" = "seqpacket" ]
}

@test "completion: 'uds ' offers every command of uds --help, and help" {
    run comp "uds "
    [ "$status" -eq 0 ]
    [ "$output" = "$(lines $(commands) help)" ]
    [ "$(commands | wc -l)" -ge 7 ]
    run comp "uds help s"
    [ "$output" = "$(lines send serve)" ]
    run comp "uds --v"
    [ "$output" = "--version" ]
}

@test "completion: every option of every command is offered, and nothing else" {
    local cmd want failed=0
    for cmd in $(commands); do
        want=$("$UDS" "$cmd" --list-options |
            awk '{ if ($2 != "-") print $2; if ($1 != "-") print $1 }' | LC_ALL=C sort -u)
        run comp "uds $cmd -"
        if [ "$output" != "$want" ]; then
            echo "uds $cmd -<TAB>: got"$'\n'"$output"$'\n'"want"$'\n'"$want"
            failed=1
        fi
    done
    [ "$failed" -eq 0 ]
    # A short option with no long name is offered too (send -n).
    run comp "uds send -n"
    [ "$output" = "-n" ]
}

@test "completion: an option's words, as --opt WORD and --opt=WORD" {
    run comp "uds serve --log "
    [ "$output" = "$(lines json text)" ]
    run comp "uds serve --log=j"
    [ "$output" = "json" ]
    run comp "uds proxy -q --log t"
    [ "$output" = "text" ]
}

@test "completion: a comma-separated list is completed item by item" {
    run comp "uds bench --transports stream,se"
    [ "$output" = "stream,seqpacket" ]
    run comp "uds bench --transports "
    [ "$output" = "$(lines dgram pipe seqpacket stream tcp)" ]
}

@test "completion: a number or a duration is not completed, its word only once begun" {
    run comp "uds serve --first-byte-timeout "
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    run comp "uds serve --first-byte-timeout n"
    [ "$output" = "none" ]
    run comp "uds serve --max-conns "
    [ -z "$output" ]
    # --reply TEXT takes anything, "--" and option-like words too: they are its value.
    run comp "uds serve --reply "
    [ -z "$output" ]
    run comp "uds serve --reply -- --mo"
    [ "$output" = "--mode" ]
}

@test "completion: users for --owner, --as and --user, groups for --group, lists of both" {
    local users groups
    users=$(getent passwd | cut -d: -f1 | grep '^ro' | LC_ALL=C sort -u)
    groups=$(getent group | cut -d: -f1 | grep '^ro' | LC_ALL=C sort -u)
    [ -n "$users" ] && [ -n "$groups" ]
    run comp "uds serve --owner ro"
    [ "$output" = "$users" ]
    run comp "uds proxy -o ro"
    [ "$output" = "$users" ]
    run comp "uds doctor --as ro"
    [ "$output" = "$users" ]
    run comp "uds serve --group ro"
    [ "$output" = "$groups" ]
    run comp "uds serve --allow-uid nobody,ro"
    [ "$output" = "$(sed 's/^/nobody,/' <<<"$users")" ]
    run comp "uds serve --allow-gid ro"
    [ "$output" = "$groups" ]
    # --user USER[:GROUP]: users, then after the colon groups (readline keeps the "root:").
    run comp "uds proxy --user ro"
    [ "$output" = "$users" ]
    run comp "uds serve --user root:ro"
    [ "$output" = "$groups" ]
}

@test "completion: addresses and files are completed as paths" {
    mkdir "$T/run"
    touch "$T/run/app.sock" "$T/run/api.sock" "$T/run/other"
    run comp "uds connect $T/run/a"
    [ "$output" = "$(lines "$T/run/api.sock" "$T/run/app.sock")" ]
    run comp "uds proxy $T/run/app.sock $T/run/o"
    [ "$output" = "$T/run/other" ]
    run comp "uds connect --send-fd $T/run/ot"
    [ "$output" = "$T/run/other" ]
}

@test "completion: after serve's and connect's --, the PROGRAM is a command line of its own" {
    run comp "uds serve $T/s.sock -- ech"
    [ "$status" -eq 0 ]
    [[ $'\n'"$output"$'\n' == *$'\n'echo$'\n'* ]]
    [ -z "$(grep -v '^ech' <<<"$output")" ]
    run comp "uds connect -q $T/s.sock -- ech"
    [[ $'\n'"$output"$'\n' == *$'\n'echo$'\n'* ]]
    # send runs no program: after its "--" come more operands, paths.
    touch "$T/msg"
    run comp "uds send -- $T/ms"
    [ "$output" = "$T/msg" ]
}

@test "completion: a command and options the script has never seen are completed" {
    # A uds with one more command, tap, whose options are of kinds no command has yet.
    rm "$T/bin/uds"
    cat >"$T/bin/uds" <<EOF
#!/bin/sh
case "\$1 \${2-}" in
"--list-commands ") "$UDS" --list-commands && echo tap ;;
"tap --list-options") printf '%s\n' '- --user USER[:GROUP] custom' \
    '-F --format FORMAT word pcap hex' '-h --help - help' ;;
"tap --help") echo 'Usage: uds tap [OPTIONS] LISTEN TARGET' ;;
*) exec "$UDS" "\$@" ;;
esac
EOF
    chmod +x "$T/bin/uds"
    run comp "uds t"
    [ "$output" = "tap" ]
    run comp "uds tap --"
    [ "$output" = "$(lines --format --help --user)" ]
    run comp "uds tap -F "
    [ "$output" = "$(lines hex pcap)" ]
    # USER[:GROUP]: users, then after the colon groups (readline keeps the "root:").
    run comp "uds tap --user ro"
    [ "$output" = "$(getent passwd | cut -d: -f1 | grep '^ro' | LC_ALL=C sort -u)" ]
    run comp "uds tap --user root:ro"
    [ "$output" = "$(getent group | cut -d: -f1 | grep '^ro' | LC_ALL=C sort -u)" ]
}

@test "completion: an unknown command completes nothing and prints nothing" {
    run --separate-stderr comp "uds nosuch --"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ -z "$stderr" ]
}

@test "completion: make install puts it where bash-completion loads it from, by the name uds" {
    local dir
    dir=$(pkg-config --variable=completionsdir bash-completion)
    [ "$dir" = /usr/share/bash-completion/completions ]
    run timeout 120 make -s -C "$ROOT" install BUILD="${UDS_BUILD:-$ROOT/build}" \
        SANITIZE="${SANITIZE:-}" PREFIX=/usr DESTDIR="$T/root"
    [ "$status" -eq 0 ]
    cmp "$SCRIPT" "$T/root$dir/uds"
    # bash-completion's own loader, looking in the installed tree, finds and loads it.
    run env XDG_DATA_DIRS="$T/root/usr/share" PATH="$T/bin:$PATH" bash --norc --noprofile -c '
        source "$1" || exit 1
        __load_completion uds && complete -p uds' _ "$BASH_COMPLETION"
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$output" = "complete -F _uds uds" ]
}
