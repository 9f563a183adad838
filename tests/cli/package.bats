#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The shared library's interface as the packages ship it: libudskit.so exports exactly the
# functions include/udskit.h declares, each under the version node of its SONAME, so a
# public function cannot be forgotten (declared and not exported) nor leak (exported and
# not declared); and the SONAME, the library package's name and the packages' version agree
# with the tree. The header's functions are read by the compiler here (gcc -aux-info), not
# by scripts/version-script.sh, which makes the version script from the UDS_API lines.

load helpers

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BUILD_DIR=${UDS_BUILD:-$ROOT/build}
LIB=$BUILD_DIR/libudskit.so

# declared: the functions include/udskit.h declares, one a line, sorted, as gcc reads the
# header (a declaration without UDS_API is one too: it must be exported as well).
declared() {
    (cd "$ROOT" && gcc -std=c11 -fsyntax-only -aux-info "$T/aux.txt" -x c include/udskit.h) ||
        return 1
    grep -F '/* include/udskit.h:' "$T/aux.txt" | grep -v '/\* [^ ]*:[0-9]*:F' |
        sed -E 's|^/\*[^*]*\*/ *||; s|^([^(]*[^A-Za-z0-9_(])?([A-Za-z_][A-Za-z0-9_]*) \(.*|\2|' |
        LC_ALL=C sort
}

# exported: the library's defined dynamic symbols, "NAME VERSION" a line, sorted.
exported() {
    nm -D --defined-only "$LIB" | awk '$2 != "A" { split($3, s, "@+"); print s[1], s[2] }' |
        LC_ALL=C sort
}

@test "package: libudskit.so exports exactly the functions include/udskit.h declares" {
    local want got
    want=$(declared)
    got=$(exported | cut -d' ' -f1)
    [ "$(wc -l <<<"$want")" -ge 100 ]
    comm -23 <(echo "$want") <(echo "$got") |
        sed 's|^|declared in include/udskit.h, not exported (no UDS_API? not defined?): |'
    comm -13 <(echo "$want") <(echo "$got") |
        sed 's|^|exported, not declared in include/udskit.h: |'
    [ "$want" = "$got" ]
}

@test "package: every export is under the version node UDSKIT_0, from the version script" {
    local unversioned
    unversioned=$(exported | awk '$2 != "UDSKIT_0"')
    echo "not under UDSKIT_0: $unversioned"
    [ -z "$unversioned" ]
    objdump -p "$LIB" | sed -n '/^Version definitions:/,/^$/p' | grep -qw UDSKIT_0
    # The version script lists the same functions the compiler finds in the header.
    local listed
    listed=$(sed -n 's/^    \(uds_[A-Za-z0-9_]*\);$/\1/p' "$BUILD_DIR/libudskit.map" |
        LC_ALL=C sort)
    [ "$listed" = "$(declared)" ]
}

@test "package: the version script refuses a declaration it cannot take, and names it" {
    printf '%s\n' '#define UDS_API' 'UDS_API int uds_fine(void);' \
        'UDS_API int uds__internal(void);' >"$T/a.h"
    run --separate-stderr "$ROOT/scripts/version-script.sh" "$T/a.h" UDSKIT_0
    [ "$status" -ne 0 ]
    [[ "$stderr" == *"uds__internal: a public function must be named uds_*"* ]]
    printf '%s\n' 'UDS_API int uds_twice(void);' 'UDS_API int uds_twice(void);' >"$T/b.h"
    run --separate-stderr "$ROOT/scripts/version-script.sh" "$T/b.h" UDSKIT_0
    [ "$status" -ne 0 ]
    [[ "$stderr" == *"uds_twice is declared twice"* ]]
    # What it does take: a declaration over several lines, with attributes; not one in a
    # comment.
    printf '%s\n' '/* UDS_API int uds_commented(void); */' 'UDS_API int' \
        '    uds_split(int a,' '              void (*cb)(int));' \
        'UDS_API __attribute__((warn_unused_result)) void *uds_attr(void);' >"$T/c.h"
    run --separate-stderr "$ROOT/scripts/version-script.sh" "$T/c.h" UDSKIT_0
    [ "$status" -eq 0 ]
    [ "$(grep -c '^    uds_' <<<"$output")" -eq 2 ]
    [[ "$output" == *$'\n    uds_split;\n    uds_attr;\n'* ]]
}

@test "package: SONAME libudskit.so.0, the library package libudskit0 named after it" {
    local soname
    soname=$(readelf -d "$LIB" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ "$soname" = libudskit.so.0 ]
    # Debian names a library package after its SONAME: libudskit.so.0 -> libudskit0.
    grep -qx "Package: libudskit0" "$ROOT/debian/control"
    grep -qx 'Depends: libudskit0 (= ${binary:Version}), ${misc:Depends}' "$ROOT/debian/control"
    grep -q 'libudskit.so.\*$' "$ROOT/debian/libudskit0.install"
}

@test "package: debian/changelog's version is the header's UDS_VERSION_STRING" {
    local header changelog
    header=$(sed -n 's/^#define UDS_VERSION_STRING "\(.*\)"/\1/p' "$ROOT/include/udskit.h")
    changelog=$(sed -n '1s/^udskit (\([^-)]*\)-[^)]*).*/\1/p' "$ROOT/debian/changelog")
    echo "header $header, debian/changelog $changelog"
    [ -n "$header" ]
    [ "$header" = "$changelog" ]
}

@test "package: every file make install writes is in one of the packages" {
    run timeout 120 make -s -C "$ROOT" install BUILD="$BUILD_DIR" SANITIZE="${SANITIZE:-}" \
        PREFIX=/usr LIBDIR=/usr/lib/MULTIARCH DESTDIR="$T/root"
    [ "$status" -eq 0 ]
    local f missing=()
    while read -r f; do
        f=${f#"$T/root/"}
        # The *.install files' patterns, with the architecture's directory a word.
        if ! cat "$ROOT"/debian/*.install | sed 's/${DEB_HOST_MULTIARCH}/MULTIARCH/' |
            while read -r pat; do [[ $f == $pat ]] && exit 0; done; then
            missing+=("$f")
        fi
    done < <(find "$T/root" ! -type d)
    echo "in no package: ${missing[*]}"
    [ ${#missing[@]} -eq 0 ]
}
