#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The encrypted bridge between two machines, played by two network namespaces joined by a
# veth pair that the test makes (addresses only inside them): in A, a server on a Unix
# socket and `uds proxy tls:10.231.X.1:7443 → unix` beside it; in B, `uds proxy unix →
# tls:10.231.X.1:7443` and the clients. Bytes exact both ways, redis-benchmark and a psql
# session (PostgreSQL on its Unix socket in A, psql in B) through the pair, each refusal
# logged on both sides with no byte reaching the server, and a certificate swapped with
# SIGHUP mid-run. Needs root (ip netns).

load helpers
load tls_common
load pg_helpers

# Each test its own namespaces, veth names (at most 15 characters) and subnet.
netns_up() {
    need_root
    local n=$(( ($$ + BATS_TEST_NUMBER) % 250 ))
    NS_A=uds-tls-a-$$-$BATS_TEST_NUMBER
    NS_B=uds-tls-b-$$-$BATS_TEST_NUMBER
    local va=utA$$ vb=utB$$
    A_IP=10.231.$n.1
    B_IP=10.231.$n.2
    ip netns add "$NS_A"
    ip netns add "$NS_B"
    ip link add "$va" netns "$NS_A" type veth peer name "$vb" netns "$NS_B"
    ip -n "$NS_A" addr add "$A_IP/24" dev "$va"
    ip -n "$NS_B" addr add "$B_IP/24" dev "$vb"
    ip -n "$NS_A" link set lo up
    ip -n "$NS_B" link set lo up
    ip -n "$NS_A" link set "$va" up
    ip -n "$NS_B" link set "$vb" up
    C=$T/certs
    mkdir -p "$C"
    tls_make_certs "$C" "DNS:server.test,IP:$A_IP"
    IN_A=(ip netns exec "$NS_A")
    IN_B=(ip netns exec "$NS_B")
}

eval "helpers_$(declare -f teardown)"
teardown() {
    local rc=0
    helpers_teardown || rc=$?
    [ -z "${NS_A:-}" ] || ip netns del "$NS_A" 2>/dev/null
    [ -z "${NS_B:-}" ] || ip netns del "$NS_B" 2>/dev/null
    return $rc
}

# proxy_in NS LOG [PROXY ARGS...] LISTEN TARGET: start_proxy inside namespace NS.
proxy_in() {
    local ns=$1 log=$2
    shift 2
    PROXY_PREFIX=(ip netns exec "$ns")
    PROXY_LOG_FILE=$log start_proxy "$@"
    PROXY_PREFIX=()
}

# The server side in A (SERVER_ARGS... then the Unix target), the client side in B.
bridge_up() {
    local target=$1
    shift
    proxy_in "$NS_A" $T/a.log --cert "$C/server.pem" \
        --key "$C/server.key" --ca "$C/ca.pem" "$@" "tls:$A_IP:7443" "$target"
    A_PID=$PROXY_PID
}

client_up() {
    local name=$1
    shift
    proxy_in "$NS_B" $T/$name.log "$@" \
        "$T/$name.sock" "tls:$A_IP:7443"
}

@test "tls netns: unix→tls→unix across two namespaces: bytes exact both ways, redis-benchmark" {
    netns_up
    bg_start "$T/echo.err" "${IN_A[@]}" python3 "$PEER" echo-server "$T/s.sock" "$T/echo.port"
    wait_path "$T/echo.port" 10
    LEFTOVER_OK+=("$T/s.sock")
    bridge_up "$T/s.sock"
    # A TLS listener that checks certificates needs no --public on a non-loopback address.
    ! grep -q "nothing here checks who connects" "$T/a.log"
    client_up b --cert "$C/client.pem" --key "$C/client.key" --ca "$C/ca.pem"
    run "${IN_B[@]}" timeout 60 python3 "$PEER" echo-check "$T/b.sock" 16000000
    [ "$output" = "ok 16000000" ]
    run "${IN_B[@]}" timeout 60 python3 "$PEER" chatter "$T/b.sock" 16 100
    [ "$output" = "ok 1600" ]
    grep -q "tcp:$B_IP:[0-9]*: TLS client CN=client1 " "$T/a.log"
    # redis behind the bridge.
    bg_start "$T/redis.err" "${IN_A[@]}" redis-server --port 0 --unixsocket "$T/redis.sock" \
        --save '' --appendonly no
    wait_path "$T/redis.sock" 10
    proxy_in "$NS_A" $T/ra.log --cert "$C/server.pem" \
        --key "$C/server.key" --ca "$C/ca.pem" "tls:$A_IP:7444" "$T/redis.sock"
    proxy_in "$NS_B" $T/rb.log --cert "$C/client.pem" \
        --key "$C/client.key" --ca "$C/ca.pem" --server-name server.test "$T/r.sock" \
        "tls:$A_IP:7444"
    run -0 "${IN_B[@]}" timeout 60 redis-benchmark -s "$T/r.sock" -n 20000 -c 16 -P 16 -q -t set,get
    echo "$output"
    [[ "$output" == *"SET: "*"requests per second"* ]]
    [[ "$output" == *"GET: "*"requests per second"* ]]
    run -0 "${IN_B[@]}" timeout 10 redis-cli -s "$T/r.sock" set k "through the bridge"
    run -0 "${IN_B[@]}" timeout 10 redis-cli -s "$T/r.sock" get k
    [ "$output" = "through the bridge" ]
}

# psql_b ARGS...: psql in B, through the client side's socket directory $T/pgb.
psql_b() {
    "${IN_B[@]}" timeout 30 psql -h "$T/pgb" -U postgres -X -At -v ON_ERROR_STOP=1 "$@"
}

@test "tls netns: a psql session through unix→tls→unix across two namespaces, bulk both ways" {
    need_psql
    netns_up
    # PostgreSQL in A on a Unix socket only; the bridge's server side beside it.
    PG_PREFIX=("${IN_A[@]}")
    pg_start
    proxy_in "$NS_A" $T/a.log --cert "$C/server.pem" --key "$C/server.key" \
        --ca "$C/ca.pem" "tls:$A_IP:7443" "$PG_SOCK"
    # In B, the client side listens where psql -h DIR looks: DIR/.s.PGSQL.5432.
    mkdir "$T/pgb"
    proxy_in "$NS_B" $T/b.log --cert "$C/client.pem" --key "$C/client.key" \
        --ca "$C/ca.pem" "$T/pgb/.s.PGSQL.5432" "tls:$A_IP:7443"
    run -0 psql_b -c 'select 1'
    [ "$output" = 1 ]
    grep -q "tcp:$B_IP:[0-9]*: TLS client CN=client1 " "$T/a.log"
    # 2 MB in with COPY FROM STDIN, out with COPY TO STDOUT: the same bytes both ways.
    /usr/bin/python3 -c 'import os
for i in range(16000): print(os.urandom(64).hex())' > "$T/rows"
    run -0 psql_b -c 'create table t (n serial primary key, v text)'
    psql_b -c '\copy t (v) from stdin' < "$T/rows"
    run -0 psql_b -c 'select count(*) from t'
    [ "$output" = 16000 ]
    psql_b -c 'copy (select v from t order by n) to stdout' > "$T/rows.out"
    cmp "$T/rows" "$T/rows.out"
}

# refused CLIENT A_PATTERN B_PATTERN: CLIENT (the client side $T/CLIENT.sock in B) sends a
# secret; A's log gets A_PATTERN, CLIENT's log B_PATTERN, and nothing reached the server.
refused() {
    local c=$1
    "${IN_B[@]}" timeout 10 python3 "$PEER" send-wait "$T/$c.sock" SECRET 3 || true
    wait_for_line "$T/a.log" "$2"
    wait_for_line "$T/$c.log" "$3"
    [ ! -e "$T/received" ]
}

@test "tls netns: refused across the namespaces: no certificate, another CA, expired, wrong name, --allow-cn miss" {
    netns_up
    bg_start "$T/recorder.err" "${IN_A[@]}" socat -u UNIX-LISTEN:"$T/s.sock",fork \
        OPEN:"$T/received",creat,append
    wait_path "$T/s.sock"
    LEFTOVER_OK+=("$T/s.sock")
    bridge_up "$T/s.sock" --allow-cn client1
    client_up none --ca "$C/ca.pem"
    client_up rogue --cert "$C/rogue.pem" --key "$C/rogue.key" --ca "$C/ca.pem"
    client_up expired --cert "$C/expired.pem" --key "$C/expired.key" --ca "$C/ca.pem"
    client_up name --cert "$C/client.pem" --key "$C/client.key" --ca "$C/ca.pem" \
        --server-name db.example
    client_up cn --cert "$C/client2.pem" --key "$C/client2.key" --ca "$C/ca.pem"
    # Each refusal in turn: its reason logged by the side that refused, what the other side
    # was told logged there, and still no connection to the Unix server (the recorder makes
    # $T/received when one arrives, even without a byte).
    refused none "refused tcp:$B_IP:[0-9]+: it sent no client certificate; give the client a certificate signed by --ca" \
        "TLS session failed: the server wants a client certificate and this side showed none; give this side --cert and --key"
    refused rogue "refused tcp:$B_IP:[0-9]+: its certificate \(CN=client1 SAN=DNS:client1.example, issued by /CN=another CA\) is not signed by a CA in --ca" \
        "TLS session failed: the server refused this side's certificate \(alert 'unknown CA'\)"
    refused expired "refused tcp:$B_IP:[0-9]+: its certificate \(CN=client1\) expired on Feb  1 00:00:00 2020 GMT; renew it" \
        "TLS session failed: the server says this side's certificate \(--cert\) has expired"
    refused name "refused tcp:$B_IP:[0-9]+: the client refused this side's certificate \(alert 'bad certificate'\)" \
        "TLS with the target failed: its certificate \(CN=server SAN=DNS:server.test,IP:$A_IP\) is not for 'db.example'; connect by a name it has, or give --server-name"
    refused cn "refused tcp:$B_IP:[0-9]+: its certificate \(CN=client2 SAN=DNS:client2.example\) is not allowed by --allow-cn; add its name there" \
        "TLS session failed: the server cut the connection right after the handshake, before sending anything: it may not allow this side's certificate"
    # The same bridge lets the right client through.
    client_up ok --cert "$C/client.pem" --key "$C/client.key" --ca "$C/ca.pem"
    "${IN_B[@]}" timeout 10 python3 "$PEER" send-wait "$T/ok.sock" SECRET 1 || true
    wait_until 5 grep -q SECRET "$T/received"
}

@test "tls netns: a certificate swapped and SIGHUP sent mid-run: the open connection finishes, new ones get the new certificate" {
    netns_up
    bg_start "$T/echo.err" "${IN_A[@]}" python3 "$PEER" echo-server "$T/s.sock" "$T/echo.port"
    wait_path "$T/echo.port" 10
    LEFTOVER_OK+=("$T/s.sock")
    cp "$C/server.pem" "$T/cur.pem"
    cp "$C/server.key" "$T/cur.key"
    proxy_in "$NS_A" $T/a.log --cert "$T/cur.pem" \
        --key "$T/cur.key" --ca "$C/ca.pem" "tls:$A_IP:7443" "$T/s.sock"
    local a_pid=$PROXY_PID
    client_up b --cert "$C/client.pem" --key "$C/client.key" --ca "$C/ca.pem"
    # A bulk transfer runs while the certificate changes under it.
    "${IN_B[@]}" timeout 60 python3 "$PEER" echo-check "$T/b.sock" 40000000 > "$T/bulk.out" 3>&- &
    local bulk=$!
    wait_until 10 grep -q "TLS client CN=client1" "$T/a.log"
    cp "$C/server2.pem" "$T/cur.pem"
    cp "$C/server2.key" "$T/cur.key"
    kill -HUP "$a_pid"
    wait_for_line "$T/a.log" "SIGHUP: reloaded --cert .*cur.pem \(CN=server-renewed "
    run -0 "${IN_B[@]}" timeout 10 openssl s_client -connect "$A_IP:7443" -CAfile "$C/ca.pem" \
        -verify_ip "$A_IP" -verify_return_error -cert "$C/client.pem" -key "$C/client.key" \
        </dev/null
    [[ "$output" == *"subject=CN = server-renewed"* ]]
    [[ "$output" == *"Verify return code: 0 (ok)"* ]]
    wait "$bulk"
    [ "$(cat "$T/bulk.out")" = "ok 40000000" ]
    kill -0 "$a_pid"
}
