#!/bin/sh
# SPDX-License-Identifier: MIT
# Print the linker version script of libudskit.so: every function include/udskit.h declares
# with UDS_API, under the version node of the SONAME, and nothing else. Read from the
# header at each build, so a function added there is exported without another list to
# update. A UDS_API declaration whose name cannot be read is an error that names it, never
# a symbol silently left out.
#
#   scripts/version-script.sh include/udskit.h NODE
set -eu

header=$1
node=$2

awk -v node="$node" '
    { text = text $0 "\n" }
    END {
        # Comments go first: a contract comment may well name a function and a "(".
        gsub(/\/\*([^*]|\*+[^*\/])*\*+\//, " ", text)
        n = split(text, lines, "\n")
        code = ""
        for (i = 1; i <= n; i++)
            if (lines[i] !~ /^[ \t]*#/)     # the #define of UDS_API itself among them
                code = code " " lines[i]
        # Declarations end at ";". The function name is the identifier before the first
        # "(" once attributes are gone: return types here are plain types or pointers,
        # never function pointers.
        count = split(code, decls, ";")
        bad = 0
        for (i = 1; i <= count; i++) {
            d = decls[i]
            if (d !~ /(^|[^A-Za-z0-9_])UDS_API([^A-Za-z0-9_]|$)/)
                continue
            gsub(/__attribute__[ \t]*\(\(([^()]|\([^()]*\))*\)\)/, " ", d)
            if (!match(d, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) {
                print "version-script: cannot read a function name in:" d > "/dev/stderr"
                bad = 1
                continue
            }
            name = substr(d, RSTART, RLENGTH)
            sub(/[ \t]*\($/, "", name)
            if (name !~ /^uds_[a-z0-9]/) {
                print "version-script: " name ": a public function must be named uds_*" \
                    > "/dev/stderr"
                bad = 1
            }
            if (name in seen) {
                print "version-script: " name " is declared twice" > "/dev/stderr"
                bad = 1
            }
            seen[name] = 1
            names[++nnames] = name
        }
        if (nnames == 0) {
            print "version-script: no UDS_API declaration found" > "/dev/stderr"
            bad = 1
        }
        if (bad)
            exit 1
        print "/* Generated from include/udskit.h by scripts/version-script.sh. */"
        print node " {"
        print "global:"
        for (i = 1; i <= nnames; i++)
            print "    " names[i] ";"
        print "local:"
        print "    *;"
        print "};"
    }
' "$header"
