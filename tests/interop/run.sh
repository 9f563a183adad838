#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make interop`: real servers and clients through `uds proxy` — redis-server on a Unix
# socket driven by redis-benchmark over TCP and the reverse, PostgreSQL's Unix socket used
# by psql and pgbench over TCP, nginx on TCP fetched by curl --unix-socket, and nginx
# reading the PROXY protocol headers that --send-proxy and --send-proxy-v2 write. Every
# server runs on loopback or in a temporary directory, every step is bounded in time, and
# everything started here is stopped on exit. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/../.."

UDS=${UDS:-$PWD/build/uds}
[ -x "$UDS" ] || { echo "interop: $UDS is not built; run make first" >&2; exit 1; }

# ---- dependencies: apt as root, else say what to install ----------------------------------
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
command -v nginx >/dev/null || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
command -v setpriv >/dev/null || need+=(util-linux)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v pgbench >/dev/null || need+=(postgresql-client)
command -v haproxy >/dev/null || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "# interop: installing ${need[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        # Packaged services must not start themselves (policy-rc.d says no): this script
        # runs its own, on loopback and in a temporary directory.
        policy_made=0
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 0755 /usr/sbin/policy-rc.d
            policy_made=1
        fi
        timeout 600 apt-get update -qq >&2 || true
        timeout 600 apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
        status=$?
        [ "$policy_made" -eq 0 ] || rm -f /usr/sbin/policy-rc.d
        [ "$status" -eq 0 ] || { echo "interop: apt-get install failed" >&2; exit 1; }
    else
        echo "interop: missing ${need[*]}; install them with:" >&2
        echo "  sudo apt-get install -y ${need[*]}" >&2
        exit 1
    fi
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

# ---- bookkeeping ---------------------------------------------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/uds-interop.XXXXXX")
chmod 0755 "$T"     # the servers' own users (postgres, nginx workers) reach into it
PIDS=()
passed=0
failed=0
n=0

PG_PID=
cleanup() {
    local pid i
    [ -z "$PG_PID" ] || kill -INT "$PG_PID" 2>/dev/null
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bg NAME CMD...: run CMD in the background, output in $T/NAME.log.
bg() {
    local name=$1
    shift
    "$@" >"$T/$name.log" 2>&1 &
    PIDS+=($!)
    BG_PID=$!
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

port_open() {
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1"
}

# wait_until SECONDS CMD...: poll CMD until it succeeds.
wait_until() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 20; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}

# proxy NAME [ARGS...] LISTEN TARGET: `uds proxy` in the background, ready; PROXY_ADDR is
# LISTEN as it logged it (with the kernel's port for :0).
proxy() {
    local name=$1
    shift
    bg "$name" "$UDS" proxy "$@"
    wait_until 10 grep -q 'listening on' "$T/$name.log" || { cat "$T/$name.log"; return 1; }
    PROXY_ADDR=$(sed -n 's/^uds: listening on \(.*\); forwarding to .*$/\1/p' "$T/$name.log")
    PROXY_PORT=${PROXY_ADDR##*:}
}

# check DESCRIPTION CMD...: one TAP line; on failure the command's output is shown. CMD is a
# function here; the programs it runs are each bounded by `timeout` ($TO seconds).
TO=90
check() {
    local desc=$1 status
    shift
    n=$((n + 1))
    "$@" >"$T/check.out" 2>&1
    status=$?
    grep '^# ' "$T/check.out"
    if [ "$status" -eq 0 ]; then
        echo "ok $n - $desc"
        passed=$((passed + 1))
    else
        echo "not ok $n - $desc"
        grep -v '^# ' "$T/check.out" | tail -20 | sed 's/^/#   /'
        failed=$((failed + 1))
    fi
}

# ---- redis -------------------------------------------------------------------------------------
redis_port=$(free_port)
bg redis redis-server --port "$redis_port" --bind 127.0.0.1 --unixsocket "$T/redis.sock" \
    --unixsocketperm 700 --save '' --appendonly no --dir "$T" --daemonize no
wait_until 10 redis-cli -s "$T/redis.sock" ping
proxy redis-tcp tcp:127.0.0.1:0 "$T/redis.sock"
redis_tcp=$PROXY_PORT
proxy redis-unix "$T/redis-proxy.sock" "tcp:127.0.0.1:$redis_port"

bench_ok() {   # redis-benchmark ARGS...: every test ran, none failed
    local out
    out=$(timeout $TO redis-benchmark "$@" -q -n 20000 -c 16 -P 16 -t set,get,lpush,lrange_100 2>&1)
    printf '%s\n' "$out" | sed 's/.*\r//' | grep -E 'requests per second' | sed 's/^/# /'
    [ "$(printf '%s\n' "$out" | grep -c 'requests per second')" -ge 4 ] &&
        ! printf '%s\n' "$out" | grep -qiE 'error|fail'
}
check "redis on a Unix socket, redis-benchmark over TCP through the proxy" \
    bench_ok -h 127.0.0.1 -p "$redis_tcp"
check "redis on TCP, redis-benchmark on a Unix socket through the proxy" \
    bench_ok -s "$T/redis-proxy.sock"

redis_big() {   # a 16 MiB value stored and read back over TCP through the proxy
    head -c $((16 << 20)) /dev/urandom | base64 -w0 >"$T/big.txt"
    timeout $TO redis-cli -h 127.0.0.1 -p "$redis_tcp" -x set big <"$T/big.txt" | grep -qx OK &&
        timeout $TO redis-cli -h 127.0.0.1 -p "$redis_tcp" --raw get big | head -c "$(stat -c %s "$T/big.txt")" |
        cmp - "$T/big.txt"
}
check "redis: a 21 MB value through the proxy comes back byte for byte" redis_big

# ---- PostgreSQL --------------------------------------------------------------------------------
mkdir -p "$T/pg" "$T/pgsock"
chown postgres:postgres "$T/pg" "$T/pgsock" 2>/dev/null || chown nobody "$T/pg" "$T/pgsock"
pg_user=$(stat -c %U "$T/pg")
as_pg=(setpriv --reuid="$pg_user" --regid="$(id -g "$pg_user")" --init-groups)
"${as_pg[@]}" "$PGBIN/initdb" -D "$T/pg/data" -A trust -U postgres -E UTF8 --locale=C \
    --no-sync >"$T/initdb.log" 2>&1
# setpriv execs postgres, so the pid is the postmaster's: SIGINT is its fast shutdown.
bg postgres "${as_pg[@]}" "$PGBIN/postgres" -D "$T/pg/data" -k "$T/pgsock" \
    -c listen_addresses= -c fsync=off -c synchronous_commit=off -c full_page_writes=off -p 5432
PG_PID=$BG_PID
wait_until 30 "$PGBIN/pg_isready" -q -h "$T/pgsock" -p 5432
proxy pg tcp:127.0.0.1:0 "$T/pgsock/.s.PGSQL.5432"
pg_port=$PROXY_PORT

psql_query() {
    [ "$(timeout $TO psql -h 127.0.0.1 -p "$pg_port" -U postgres -Atc 'select 6 * 7' postgres)" = 42 ]
}
check "PostgreSQL on its Unix socket: psql over TCP through the proxy" psql_query

psql_big() {    # 9 MB of result rows through the proxy, byte for byte
    timeout $TO psql -h 127.0.0.1 -p "$pg_port" -U postgres -Atc \
        "select string_agg(md5(i::text), '') from generate_series(1, 280000) i" postgres |
        head -c -1 >"$T/pg.out"
    python3 -c 'import hashlib,sys; sys.stdout.write("".join(hashlib.md5(str(i).encode()).hexdigest() for i in range(1,280001)))' |
        cmp - "$T/pg.out"
}
check "PostgreSQL: 9 MB of rows through the proxy arrive byte for byte" psql_big

pgbench_run() {
    timeout $TO pgbench -h 127.0.0.1 -p "$pg_port" -U postgres -i -s 2 -q postgres &&
        timeout $TO pgbench -h 127.0.0.1 -p "$pg_port" -U postgres -c 8 -j 2 -T 5 postgres >"$T/pgbench.out" &&
        sed -n 's/^\(tps = .*\)/# \1/p; s/^\(number of failed.*\)/# \1/p' "$T/pgbench.out" &&
        grep -qE '^number of failed transactions: 0 ' "$T/pgbench.out"
}
check "PostgreSQL: pgbench -c 8 for 5 s through the proxy, no failed transaction" pgbench_run

# ---- nginx ---------------------------------------------------------------------------------
mkdir -p "$T/www" "$T/nginx"
head -c $((32 << 20)) /dev/urandom >"$T/www/big.bin"
printf 'hello from nginx\n' >"$T/www/index.html"
chmod -R a+rX "$T/www"
nginx_port=$(free_port)
nginx_pp1=$(free_port)
nginx_pp2=$(free_port)
cat >"$T/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $T/nginx/body;
    proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    scgi_temp_path $T/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        root $T/www;
    }
    server {
        listen 127.0.0.1:$nginx_pp1 proxy_protocol;
        listen 127.0.0.1:$nginx_pp2 proxy_protocol;
        location / { return 200 "\$proxy_protocol_addr:\$proxy_protocol_port\n"; }
    }
}
EOF
bg nginx nginx -p "$T/nginx" -c "$T/nginx.conf"
wait_until 10 curl -sf "http://127.0.0.1:$nginx_port/"
proxy nginx "$T/nginx-proxy.sock" "tcp:127.0.0.1:$nginx_port"

curl_small() {
    [ "$(timeout $TO curl -sf --unix-socket "$T/nginx-proxy.sock" http://localhost/)" = "hello from nginx" ]
}
check "nginx on TCP: curl --unix-socket through the proxy" curl_small

curl_big() {    # 32 MiB, and a second request on the same (kept-alive) connection
    timeout $TO curl -sf --unix-socket "$T/nginx-proxy.sock" -o "$T/got1.bin" http://localhost/big.bin \
        -o "$T/got2.bin" http://localhost/big.bin &&
        cmp "$T/got1.bin" "$T/www/big.bin" && cmp "$T/got2.bin" "$T/www/big.bin"
}
check "nginx: 32 MiB twice on one connection through the proxy, byte for byte" curl_big

proxy pp1 --send-proxy tcp:127.0.0.1:0 "tcp:127.0.0.1:$nginx_pp1"
pp1_port=$PROXY_PORT
proxy pp2 --send-proxy-v2 tcp:127.0.0.1:0 "tcp:127.0.0.1:$nginx_pp2"
pp2_port=$PROXY_PORT
real_address() {    # nginx answers the client address it read from the header
    local port=$1 out
    out=$(timeout $TO curl -sf -w '%{local_ip}:%{local_port}\n' "http://127.0.0.1:$port/") || return 1
    echo "# nginx saw $(sed -n 1p <<<"$out"), curl was $(sed -n 2p <<<"$out")"
    [ "$(sed -n 1p <<<"$out")" = "$(sed -n 2p <<<"$out")" ]
}
check "nginx proxy_protocol learns the real client address from --send-proxy" real_address "$pp1_port"
check "nginx proxy_protocol learns the real client address from --send-proxy-v2" \
    real_address "$pp2_port"

# ---- HAProxy reading the PROXY protocol ----------------------------------------------------
haproxy_port=$(free_port)
cat >"$T/haproxy.cfg" <<EOF
global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend echo_source
    bind 127.0.0.1:$haproxy_port accept-proxy
    http-request return status 200 content-type text/plain lf-string "%[src]:%[src_port]\n"
EOF
bg haproxy haproxy -db -f "$T/haproxy.cfg"
wait_until 10 port_open "$haproxy_port"
proxy pp3 --send-proxy-v2 "$T/haproxy-proxy.sock" "tcp:127.0.0.1:$haproxy_port"
proxy pp4 --send-proxy tcp:127.0.0.1:0 "tcp:127.0.0.1:$haproxy_port"
pp4_port=$PROXY_PORT
haproxy_unix() {    # a Unix client has no IP address: a v2 LOCAL header, which HAProxy takes
    local out
    out=$(timeout $TO curl -sf --unix-socket "$T/haproxy-proxy.sock" http://localhost/) ||
        return 1
    echo "# HAProxy saw a Unix client as '$out'"
}
check "HAProxy accept-proxy learns the real client address from --send-proxy" \
    real_address "$pp4_port"
check "HAProxy accept-proxy takes --send-proxy-v2 from a Unix client" haproxy_unix

# ---- the proxies logged no failure --------------------------------------------------------
no_warnings() {
    ! grep -hE '(closed: |target |error)' "$T"/redis-*.log "$T"/pg.log "$T"/nginx.log \
        "$T"/pp*.log
}
check "no proxy logged a failed connection" no_warnings

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
