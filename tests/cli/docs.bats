#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The man page is the reference and must not drift from the program: every command of
# `uds --help` has a section in man/uds.1, every option the command takes is in that
# section, and every option the section documents is one the command takes. What a command
# takes is `uds CMD --list-options`: the table its parser, its --help and its usage errors
# are made from, so an option cannot be accepted and missing from the page, or the reverse.

load helpers

MAN=$BATS_TEST_DIRNAME/../../man/uds.1

# commands: the command names `uds --help` lists.
commands() {
    "$UDS" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 && $1 != "Commands:" {print $1}'
}

# check_man CMD: compare the options of `uds CMD --list-options` with the "uds CMD" section
# of the man page, and with `uds CMD --help`; print each mismatch, and fail if there is one.
check_man() {
    "$UDS" "$1" --list-options >"$T/options.txt" || return 1
    "$UDS" "$1" --help >"$T/help.txt" || return 1
    python3 - "$1" "$T/options.txt" "$T/help.txt" "$MAN" <<'EOF'
import re, sys
cmd, options_path, help_path, man_path = sys.argv[1:]

# --list-options: "SHORT LONG ARG KIND [WORD...]", "-" for what an option has not.
takes = set()
for line in open(options_path):
    short, long_ = line.split()[:2]
    takes.update(o for o in (short, long_) if o != "-")
if not takes:
    sys.exit("%s --list-options lists nothing" % cmd)

# Option lines of --help: the first thing on the line is an option ("  -c, --max-conns N",
# "      --framed"); "-- PROGRAM" is an operand, not an option.
in_help = set()
for line in open(help_path):
    m = re.match(r"\s+(-[A-Za-z0-9])?(?:,\s*)?(--[a-z][a-z0-9-]*)?(?=[\s=]|$)", line)
    if not m or not (m.group(1) or m.group(2)):
        continue
    in_help.update(o for o in m.groups() if o)

# The command's section: from ".SS uds CMD" to the next .SS or .SH, hyphens unescaped.
section, inside = [], False
for line in open(man_path):
    if line.startswith((".SS", ".SH")):
        inside = re.match(r"\.SS uds %s\b" % re.escape(cmd), line) is not None
        continue
    if inside:
        section.append(line.replace("\\-", "-"))
if not section:
    sys.exit("man page: no section '.SS uds %s'" % cmd)
text = "".join(section)

bad = []
for opt in sorted(takes):
    if not re.search(r"(?<![A-Za-z0-9-])%s(?![A-Za-z0-9-])" % re.escape(opt), text):
        bad.append("%s takes %s; its man page section does not name it" % (cmd, opt))
for opt in sorted(takes ^ in_help):
    bad.append("%s: %s is %s" % (cmd, opt, "not in its --help" if opt in takes
                                 else "in its --help but not an option it takes"))

# Options the section documents: those in the tag line after each .TP.
documented = set()
for i, line in enumerate(section[:-1]):
    if line.startswith(".TP"):
        documented.update(re.findall(r"(?<![A-Za-z0-9-])(--?[A-Za-z][A-Za-z0-9-]*)",
                                     section[i + 1]))
for opt in sorted(documented - takes):
    bad.append("the man page documents %s for %s; %s does not take it" % (opt, cmd, cmd))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
}

@test "docs: every command of uds --help has a section in man/uds.1 and its SYNOPSIS" {
    local cmd missing=()
    for cmd in $(commands); do
        grep -q "^\.SS uds $cmd\b" "$MAN" || missing+=("$cmd (section)")
        grep -q "^\.B uds $cmd$" "$MAN" || missing+=("$cmd (synopsis)")
    done
    echo "missing: ${missing[*]}"
    [ ${#missing[@]} -eq 0 ]
    [ "$(commands | wc -l)" -ge 5 ]
}

@test "docs: serve's options, --help and the man page agree" {
    run check_man serve
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "docs: connect's options, --help and the man page agree" {
    run check_man connect
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "docs: send's options, --help and the man page agree" {
    run check_man send
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "docs: every other command's options, --help and the man page agree" {
    local cmd failed=0
    for cmd in $(commands); do
        case $cmd in serve | connect | send) continue ;; esac
        run check_man "$cmd"
        echo "$output"
        [ "$status" -eq 0 ] || failed=1
    done
    [ "$failed" -eq 0 ]
}

@test "docs: the man page documents exec mode, --framed, --send-fd and the UCSPI variables" {
    local want
    for want in 'PROTO' 'UNIXREMOTEPID' 'UNIXREMOTEEUID' 'UNIXREMOTEEGID' 'UNIXLOCALPATH' \
        '\\-\\-framed' '\\-\\-send\\-fd' '\\-\\-max\\-conns\\-per\\-uid' 'Running a program per client'; do
        grep -q -- "$want" "$MAN" || { echo "missing: $want"; return 1; }
    done
}

@test "docs: the man page renders without groff warnings" {
    command -v groff >/dev/null || skip "groff is not installed"
    run --separate-stderr groff -man -Tutf8 -ww -z "$MAN"
    echo "$stderr"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
}
