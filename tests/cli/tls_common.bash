# SPDX-License-Identifier: MIT
# tls_common.bash — for tls.bats and tls_netns.bats: certificates made with the openssl
# command in a directory of the test file's own (a CA, a server, clients, one from another
# CA, one expired, one not yet valid, a second server certificate for the reload), and the
# proxy started and waited for by its readiness line.

PEER="$BATS_TEST_DIRNAME/proxy_peer.py"

# tls_cert DIR NAME CN SAN [CA]: an EC P-256 key and a certificate signed by CA (default
# ca) valid for 30 days, with the subjectAltName SAN.
tls_cert() {
    local d=$1 name=$2 cn=$3 san=$4 ca=${5:-ca}
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/$name.key" \
        -out "$d/$name.csr" -subj "/CN=$cn" 2>/dev/null
    printf 'subjectAltName=%s\n' "$san" > "$d/$name.ext"
    openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.pem" -CAkey "$d/$ca.key" \
        -CAcreateserial -days 30 -extfile "$d/$name.ext" -out "$d/$name.pem" 2>/dev/null
}

# tls_cert_dated DIR NAME CN START END: signed by ca with `openssl ca`, which (unlike the
# openssl x509 of OpenSSL 3.0) takes any validity period: START and END as YYYYMMDDHHMMSSZ.
tls_cert_dated() {
    local d=$1 name=$2 cn=$3 start=$4 end=$5
    mkdir -p "$d/cadb"
    [ -f "$d/cadb/index.txt" ] || { : > "$d/cadb/index.txt"; echo 1000 > "$d/cadb/serial"; }
    cat > "$d/ca.cnf" <<EOC
[ca]
default_ca = d
[d]
database = $d/cadb/index.txt
serial = $d/cadb/serial
new_certs_dir = $d/cadb
certificate = $d/ca.pem
private_key = $d/ca.key
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
EOC
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/$name.key" \
        -out "$d/$name.csr" -subj "/CN=$cn" 2>/dev/null
    openssl ca -batch -config "$d/ca.cnf" -in "$d/$name.csr" -out "$d/$name.pem" \
        -startdate "$start" -enddate "$end" 2>/dev/null
}

# tls_make_certs DIR [SERVER_SAN]: the whole set.
tls_make_certs() {
    local d=$1 san=${2:-DNS:localhost,IP:127.0.0.1}
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca.key" \
        -out "$d/ca.pem" -days 30 -subj "/CN=uds test CA" 2>/dev/null
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca2.key" \
        -out "$d/ca2.pem" -days 30 -subj "/CN=another CA" 2>/dev/null
    tls_cert "$d" server server "$san"
    tls_cert "$d" server2 server-renewed "$san"
    tls_cert "$d" client client1 "DNS:client1.example,URI:spiffe://test/client1"
    tls_cert "$d" client2 client2 "DNS:client2.example"
    tls_cert "$d" rogue client1 "DNS:client1.example" ca2
    tls_cert_dated "$d" expired client1 20200101000000Z 20200201000000Z
    tls_cert_dated "$d" future client1 20990101000000Z 20991231000000Z
    [ -s "$d/expired.pem" ] && [ -s "$d/future.pem" ] && [ -s "$d/rogue.pem" ]
}

# start_proxy [PROXY ARGS...] LISTEN TARGET: `uds proxy` in the background, waited for by
# its readiness line; sets PROXY_PID, PROXY_LOG and PROXY_ADDR (LISTEN as logged, with the
# port the kernel chose for :0). PROXY_LOG_FILE names the log; PROXY_PREFIX (an array)
# runs it under another command (ip netns exec NS).
start_proxy() {
    PROXY_LOG=${PROXY_LOG_FILE:-$T/proxy.log}
    bg_start "$PROXY_LOG" "${PROXY_PREFIX[@]}" "$UDS" proxy "$@"
    PROXY_PID=$BG_PID
    wait_for_line "$PROXY_LOG" 'listening on'
    PROXY_ADDR=$(sed -n 's/^uds: listening on \(.*\); forwarding to .*$/\1/p' "$PROXY_LOG")
    [ -n "$PROXY_ADDR" ]
}

# start_echo ADDRESS: proxy_peer.py's echo server (one thread a client).
start_echo() {
    bg_start "$T/echo.err" python3 "$PEER" echo-server "$1" "$T/echo.port"
    wait_path "$T/echo.port" 10
    [[ "$1" == tcp:* || "$1" == @* ]] || LEFTOVER_OK+=("$1")
}

peer() {
    timeout 60 python3 "$PEER" "$@"
}
