#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Make sure the test dependencies are present: install them with apt when run as root,
# otherwise print the exact command to run and fail.
set -u

packages=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || packages+=("$2"); }

need_cmd bats bats
need_cmd socat socat
need_cmd python3 python3
need_cmd ss iproute2
need_cmd setpriv util-linux
need_cmd lsof lsof
need_cmd pkg-config pkg-config
need_cmd man man-db
need_cmd groff groff-base
need_cmd systemd-socket-activate systemd
# The peers the benchmark suite's smoke run (in make check) compares against.
need_cmd s6-ipcserver s6
need_cmd unixserver ucspi-unix
[ -f /usr/include/uv.h ] || packages+=(libuv1-dev)
# Real servers for uds doctor's tests (tests/cli/doctor_real.bats).
ls /usr/sbin/php-fpm* >/dev/null 2>&1 || packages+=(php-fpm)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || packages+=(postgresql)
# uds bench --request against redis, side by side with redis-benchmark (bench_redis.bats).
need_cmd redis-server redis-server
need_cmd redis-benchmark redis-tools
# What uds tap's tests read its captures with, and talk HTTP through it with.
need_cmd tshark tshark
need_cmd curl curl
# Debian's default nc may be the traditional one, which has no -U.
if ! nc -h 2>&1 | grep -q -- '-U'; then packages+=(netcat-openbsd); fi
[ -f /usr/include/cmocka.h ] || packages+=(libcmocka-dev)
# TLS in uds proxy and uds doctor: OpenSSL to build with, and the openssl command that
# makes the tests' certificates and plays their TLS peers (tests/cli/tls*.bats).
[ -f /usr/include/openssl/ssl.h ] || packages+=(libssl-dev)
need_cmd openssl openssl
# The shell the completion tests source the completion in (tests/cli/completion.bats).
[ -f /usr/share/bash-completion/bash_completion ] || packages+=(bash-completion)

[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing test dependencies: ${packages[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    exec apt-get install -y -qq "${packages[@]}" >&2
fi
echo "missing test dependencies; install them with:" >&2
echo "  sudo apt-get install -y ${packages[*]}" >&2
exit 1
