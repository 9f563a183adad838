#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# make install into a DESTDIR: every file lands where it should, and a program builds
# against the installed library through pkg-config and runs.

setup() {
    ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
    BUILD_DIR=${UDS_BUILD:-$ROOT/build}
    T=$(mktemp -d)
}

teardown() {
    rm -rf "$T"
}

install_to() {
    run timeout 120 make -s -C "$ROOT" install BUILD="$BUILD_DIR" SANITIZE="${SANITIZE:-}" \
        PREFIX=/usr DESTDIR="$T/root"
    [ "$status" -eq 0 ]
}

@test "install: binary, libraries, header, pkg-config file and man pages land under DESTDIR" {
    install_to
    [ -x "$T/root/usr/bin/uds" ]
    [ -f "$T/root/usr/lib/libudskit.a" ]
    [ -L "$T/root/usr/lib/libudskit.so" ]
    [ -L "$T/root/usr/lib/libudskit.so.0" ]
    [ -f "$T/root/usr/include/udskit.h" ]
    [ -f "$T/root/usr/lib/pkgconfig/udskit.pc" ]
    [ -f "$T/root/usr/share/man/man1/uds.1" ]
    [ -f "$T/root/usr/share/man/man3/udskit.3" ]
    grep -q '^prefix=/usr$' "$T/root/usr/lib/pkgconfig/udskit.pc"
    # The shared library carries its SONAME.
    readelf -d "$T/root/usr/lib/libudskit.so" | grep -q 'SONAME.*libudskit.so.0'
}

@test "install: a program builds with pkg-config against the installed library and runs" {
    install_to
    cat > "$T/hello.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <udskit.h>
int main(void) {
    struct uds_addr a;
    if (uds_addr_parse("@hello", 0, &a) < 0 || a.kind != UDS_ADDR_ABSTRACT)
        return 1;
    printf("%s\n", uds_version());
    return strcmp(uds_version(), UDS_VERSION_STRING) != 0;
}
C
    local extra=()
    [ "${SANITIZE:-}" = 1 ] && extra=(-fsanitize=address,undefined)
    export PKG_CONFIG_SYSROOT_DIR="$T/root" PKG_CONFIG_PATH="$T/root/usr/lib/pkgconfig"
    run cc "${extra[@]}" -o "$T/hello" "$T/hello.c" $(pkg-config --cflags --libs udskit)
    [ "$status" -eq 0 ]
    run env LD_LIBRARY_PATH="$T/root/usr/lib" "$T/hello"
    [ "$status" -eq 0 ]
    [ "$output" = "$(sed -n 's/^#define UDS_VERSION_STRING "\(.*\)"/\1/p' "$ROOT/include/udskit.h")" ]
}

@test "install: the man pages render without warnings" {
    command -v man >/dev/null || skip "man is not installed"
    run bash -c "MANWIDTH=80 man --warnings -l '$ROOT/man/uds.1' 2>&1 >/dev/null"
    [ -z "$output" ]
    run bash -c "MANWIDTH=80 man --warnings -l '$ROOT/man/udskit.3' 2>&1 >/dev/null"
    [ -z "$output" ]
}
