#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The packages `make deb` built, installed as a user would (apt-get install ./X.deb) and
# used: uds from /usr/bin, its man pages and bash completion where they belong, and an
# example built against the installed library through pkg-config, then run. The packages
# are removed again at the end, pass or fail, leaving the machine as it was. Root only (CI).
#
#   scripts/deb-check.sh [DEB_DIR]        (default build/deb)
set -euo pipefail
cd "$(dirname "$0")/.."

deb_dir=${1:-build/deb}
version=$(sed -n 's/^#define UDS_VERSION_STRING "\(.*\)"/\1/p' include/udskit.h)
packages=(uds libudskit0 libudskit-dev)
work=$(mktemp -d)

fail() {
    echo "deb-check: $*" >&2
    exit 1
}

cleanup() {
    apt-get purge -y -qq "${packages[@]}" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

debs=()
for p in "${packages[@]}"; do
    found=("$deb_dir/${p}_${version}-"*.deb)
    [ -e "${found[0]}" ] || fail "no ${p}_${version}-*.deb in $deb_dir; run make deb first"
    # apt-get takes a file for a package name only when it reads as a path.
    case ${found[0]} in /*) debs+=("${found[0]}") ;; *) debs+=("./${found[0]}") ;; esac
done
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "${debs[@]}" >/dev/null
hash -r

echo "deb-check: uds --version"
[ "$(command -v uds)" = /usr/bin/uds ] || fail "uds is not /usr/bin/uds"
out=$(uds --version)
echo "$out"
[ "$out" = "uds $version (libudskit $version)" ] || fail "uds --version: '$out'"

echo "deb-check: man pages and completion"
[ "$(man -w uds)" = /usr/share/man/man1/uds.1.gz ] || fail "man uds is not installed"
[ "$(man -w 3 udskit)" = /usr/share/man/man3/udskit.3.gz ] || fail "man 3 udskit is not installed"
out=$(bash --norc --noprofile -c '
    source /usr/share/bash-completion/bash_completion && __load_completion uds && complete -p uds')
[ "$out" = "complete -F _uds uds" ] || fail "bash-completion does not load uds's: '$out'"

echo "deb-check: an example built with pkg-config against the installed library"
[ "$(pkg-config --modversion udskit)" = "$version" ] || fail "pkg-config udskit: wrong version"
# shellcheck disable=SC2046  # pkg-config's flags are words
cc -std=c11 -Wall -Wextra -Werror -o "$work/pass_fd" examples/pass_fd.c \
    $(pkg-config --cflags --libs udskit)
# /lib is /usr/lib on a merged-/usr system: the loader may name either.
libs=$(ldd "$work/pass_fd")
grep -Eq "libudskit.so.0 => (/usr)?/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/" <<<"$libs" ||
    fail "pass_fd does not load the installed libudskit.so.0: $libs"
timeout 10 "$work/pass_fd" README.md 2>/dev/null | cmp - README.md ||
    fail "pass_fd did not copy README.md through the fd it was passed"
# Read whole before grep: grep -q may leave early, and pipefail would take objdump's SIGPIPE
# for a failure.
dynsyms=$(objdump -T "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libudskit.so.0")
grep -q ' UDSKIT_0 *uds_version$' <<<"$dynsyms" || fail "libudskit.so.0 has no uds_version@UDSKIT_0"

echo "deb-check: removed cleanly"
apt-get purge -y -qq "${packages[@]}" >/dev/null
hash -r
! command -v uds >/dev/null || fail "uds is still installed after apt-get purge"
[ ! -e /usr/include/udskit.h ] || fail "udskit.h is still installed after apt-get purge"
echo "deb-check: ok"
