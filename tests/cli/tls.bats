#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds proxy` with tls:HOST:PORT on loopback: bytes exact both ways through unix→tls→unix,
# each refusal (no client certificate, another CA, expired and not yet valid certificates,
# a wrong name, an --allow-cn miss) logged with its reason and no byte of a refused client
# reaching the Unix server, interop with openssl s_server/s_client and socat OPENSSL, the
# client's identity in the PROXY v2 TLV, SIGHUP reloading the certificate while an open
# connection goes on, and the usage errors. Certificates are made by the test.

load helpers
load tls_common

setup_file() {
    export C="$BATS_FILE_TMPDIR/certs"
    mkdir -p "$C"
    tls_make_certs "$C"
}

SRV_ARGS=()
srv_args() {
    SRV_ARGS=(--cert "$C/server.pem" --key "$C/server.key" --ca "$C/ca.pem")
}

# A TLS listener in front of a Unix server that records what reaches it (in $T/received,
# made by the first connection that does); sets SRV (its tls: address) and SRV_PORT.
start_recorded_listener() {
    srv_args
    bg_start "$T/recorder.err" socat -u UNIX-LISTEN:"$T/s.sock",fork \
        OPEN:"$T/received",creat,append
    wait_path "$T/s.sock"
    LEFTOVER_OK+=("$T/s.sock")
    PROXY_LOG_FILE=$T/server.log start_proxy "${SRV_ARGS[@]}" "$@" tls:127.0.0.1:0 "$T/s.sock"
    SRV=$PROXY_ADDR
    SRV_PORT=${SRV##*:}
}

# doctor_json ARGS...: `uds doctor --json ARGS`, its object parsed and its shape checked
# (the keys of every doctor object, each finding {code, severity, message, advice}, an
# error with advice, exit as the process exited); prints "OK EXIT CODE...".
doctor_json() {
    local rc=0
    timeout 20 "$UDS" doctor --json "$@" >"$T/doctor.json" || rc=$?
    /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert set(d) == {"address", "ok", "exit", "as", "server", "tls", "findings"}, d
assert d["as"] is None and d["server"] is None and d["address"] == sys.argv[3], d
t = d["tls"]    # the session, when a handshake completed
assert t is None or (t["version"] in ("TLSv1.2", "TLSv1.3") and t["cipher"] and
                     set(t) == {"version", "cipher", "server_certificate"}), t
assert d["exit"] == int(sys.argv[2]) and d["ok"] == (d["exit"] == 0), d
for f in d["findings"]:
    assert set(f) == {"code", "severity", "message", "advice"}, f
    assert f["severity"] in ("info", "warning", "error") and f["message"], f
    assert f["severity"] != "error" or f["advice"], f
print(str(d["ok"]).lower(), d["exit"], " ".join(f["code"] for f in d["findings"]))
' "$T/doctor.json" "$rc" "${@: -1}"
}

# json_session: the "tls" object of $T/doctor.json as "VERSION CIPHER SERVER-CERTIFICATE",
# or "null".
json_session() {
    /usr/bin/python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))["tls"]
print("null" if t is None else " ".join([t["version"], t["cipher"], t["server_certificate"]]))
' "$T/doctor.json"
}

# json_message CODE: the message of the finding CODE in $T/doctor.json.
json_message() {
    /usr/bin/python3 -c '
import json, sys
print([f["message"] for f in json.load(open(sys.argv[1]))["findings"]
       if f["code"] == sys.argv[2]][0])' "$T/doctor.json" "$1"
}

# s_client CERT [ARGS...]: one openssl client that sends a secret; its output in $output.
s_client_send() {
    local cert=$1
    shift
    run -0 timeout 10 sh -c "printf 'SECRET\n' | openssl s_client -quiet -no_ign_eof -connect \
        127.0.0.1:$SRV_PORT -CAfile '$C/ca.pem' $cert $* 2>&1; true"
}

@test "tls: unix→tls→unix relays bytes exactly both ways (8 MB, 16 connections × 50 rounds)" {
    srv_args
    start_echo "$T/s.sock"
    PROXY_LOG_FILE=$T/server.log start_proxy "${SRV_ARGS[@]}" tls:127.0.0.1:0 "$T/s.sock"
    PROXY_LOG_FILE=$T/client.log start_proxy --cert "$C/client.pem" --key "$C/client.key" \
        --ca "$C/ca.pem" "$T/c.sock" "$PROXY_ADDR"
    run peer echo-check "$T/c.sock" 8000000
    [ "$output" = "ok 8000000" ]
    run peer chatter "$T/c.sock" 16 50
    [ "$output" = "ok 800" ]
    grep -q "TLS client CN=client1 SAN=DNS:client1.example,URI:spiffe://test/client1 (TLSv1.3)" \
        "$T/server.log"
    # The half-close crosses TLS as close_notify: the echo's end arrives after all of it.
    run py_echo "$T/c.sock" "half-close"
    [ "$output" = "half-close" ]
}

@test "tls: a client without a certificate is refused with the reason; nothing reaches the server" {
    start_recorded_listener
    s_client_send ""
    wait_for_line "$T/server.log" "refused tcp:127.0.0.1:[0-9]+: it sent no client certificate; give the client a certificate signed by --ca .*ca.pem"
    [ ! -e "$T/received" ]
}

@test "tls: a client certificate from another CA is refused; nothing reaches the server" {
    start_recorded_listener
    s_client_send "-cert $C/rogue.pem -key $C/rogue.key"
    wait_for_line "$T/server.log" "refused tcp:127.0.0.1:[0-9]+: its certificate \(CN=client1 SAN=DNS:client1.example, issued by /CN=another CA\) is not signed by a CA in --ca .*ca.pem"
    [ ! -e "$T/received" ]
}

@test "tls: expired and not yet valid client certificates are refused with their dates" {
    start_recorded_listener
    s_client_send "-cert $C/expired.pem -key $C/expired.key"
    wait_for_line "$T/server.log" "refused .*: its certificate \(CN=client1\) expired on Feb  1 00:00:00 2020 GMT; renew it"
    s_client_send "-cert $C/future.pem -key $C/future.key"
    wait_for_line "$T/server.log" "refused .*: its certificate \(CN=client1\) is not valid before Jan  1 00:00:00 2099 GMT; check both machines' clocks"
    [ ! -e "$T/received" ]
}

@test "tls: --allow-cn and --allow-san let in only the names given; a miss is logged with the identity" {
    start_recorded_listener --allow-cn client2 --allow-san nobody.example
    s_client_send "-cert $C/client.pem -key $C/client.key"
    wait_for_line "$T/server.log" "refused tcp:127.0.0.1:[0-9]+: its certificate \(CN=client1 SAN=DNS:client1.example,URI:spiffe://test/client1\) is not allowed by --allow-cn or --allow-san"
    [ ! -e "$T/received" ]
    s_client_send "-cert $C/client2.pem -key $C/client2.key"
    wait_until 15 grep -q SECRET "$T/received"
    kill "$PROXY_PID"
    wait_status "$PROXY_PID"
    start_recorded_listener --allow-san spiffe://test/client1
    s_client_send "-cert $C/client.pem -key $C/client.key"
    wait_until 15 [ "$(grep -c SECRET "$T/received")" -eq 2 ]
}

@test "tls: a TLS target is verified: a wrong name and an unknown CA are refused, --server-name fixes the name" {
    srv_args
    start_echo "$T/s.sock"
    PROXY_LOG_FILE=$T/server.log start_proxy "${SRV_ARGS[@]}" tls:127.0.0.1:0 "$T/s.sock"
    local port=${PROXY_ADDR##*:} cli=(--cert "$C/client.pem" --key "$C/client.key")
    PROXY_LOG_FILE=$T/c1.log start_proxy "${cli[@]}" --ca "$C/ca.pem" \
        --server-name db.example "$T/c1.sock" "tls:127.0.0.1:$port"
    run peer send-wait "$T/c1.sock" hello 5
    [[ "$output" == EOF || "$output" == RESET ]]
    grep -q "client pid [0-9]* uid [0-9]* gid [0-9]* closed: TLS with the target failed: its certificate (CN=server SAN=DNS:localhost,IP:127.0.0.1) is not for 'db.example'; connect by a name it has, or give --server-name one of its names" "$T/c1.log"
    PROXY_LOG_FILE=$T/c2.log start_proxy "${cli[@]}" --ca "$C/ca2.pem" "$T/c2.sock" \
        "tls:localhost:$port"
    run peer send-wait "$T/c2.sock" hello 5
    [[ "$output" == EOF || "$output" == RESET ]]
    grep -q "TLS with the target failed: its certificate (CN=server SAN=DNS:localhost,IP:127.0.0.1, issued by /CN=uds test CA) is not signed by a CA in --ca .*ca2.pem" "$T/c2.log"
    PROXY_LOG_FILE=$T/c3.log start_proxy "${cli[@]}" --ca "$C/ca.pem" --server-name localhost \
        "$T/c3.sock" "tls:127.0.0.1:$port"
    run py_echo "$T/c3.sock" hello
    [ "$output" = "hello" ]
}

@test "tls: refused by our client side (wrong name, unknown CA) or by --allow-cn: logged on both sides, nothing reaches the server" {
    start_recorded_listener --allow-cn client1
    local cli=(--cert "$C/client.pem" --key "$C/client.key")
    # A wrong name: this side refuses the server's certificate before sending anything.
    PROXY_LOG_FILE=$T/name.log start_proxy "${cli[@]}" --ca "$C/ca.pem" \
        --server-name db.example "$T/name.sock" "$SRV"
    run peer send-wait "$T/name.sock" SECRET 3
    wait_for_line "$T/name.log" "client pid [0-9]+ uid [0-9]+ gid [0-9]+ closed: TLS with the target failed: its certificate \(CN=server SAN=DNS:localhost,IP:127.0.0.1\) is not for 'db.example'"
    wait_for_line "$T/server.log" "refused tcp:127.0.0.1:[0-9]+: the client refused this side's certificate \(alert 'bad certificate'\)"
    [ ! -e "$T/received" ]
    # The server's certificate from a CA this side does not trust.
    PROXY_LOG_FILE=$T/ca.log start_proxy "${cli[@]}" --ca "$C/ca2.pem" "$T/ca.sock" "$SRV"
    run peer send-wait "$T/ca.sock" SECRET 3
    wait_for_line "$T/ca.log" "TLS with the target failed: its certificate \(CN=server SAN=DNS:localhost,IP:127.0.0.1, issued by /CN=uds test CA\) is not signed by a CA in --ca .*ca2.pem"
    wait_for_line "$T/server.log" "refused tcp:127.0.0.1:[0-9]+: the client refused this side's certificate \(alert 'unknown CA'\)"
    [ ! -e "$T/received" ]
    # An --allow-cn miss: the server logs the identity; our client side, the cut.
    PROXY_LOG_FILE=$T/cn.log start_proxy --cert "$C/client2.pem" --key "$C/client2.key" \
        --ca "$C/ca.pem" "$T/cn.sock" "$SRV"
    run peer send-wait "$T/cn.sock" SECRET 3
    wait_for_line "$T/server.log" "refused tcp:127.0.0.1:[0-9]+: its certificate \(CN=client2 SAN=DNS:client2.example\) is not allowed by --allow-cn"
    wait_for_line "$T/cn.log" "closed: TLS session failed: the server cut the connection right after the handshake, before sending anything: it may not allow this side's certificate \(uds proxy --allow-cn, --allow-san\)"
    [ ! -e "$T/received" ]
}

@test "tls: a TLS target that refuses this side's certificate is logged as such" {
    start_recorded_listener
    PROXY_LOG_FILE=$T/client.log start_proxy --cert "$C/rogue.pem" --key "$C/rogue.key" \
        --ca "$C/ca.pem" "$T/c.sock" "$SRV"
    run peer send-wait "$T/c.sock" SECRET 5
    wait_for_line "$T/client.log" "TLS session failed: the server refused this side's certificate \(alert 'unknown CA'\); give it the CA that signed --cert"
    [ ! -e "$T/received" ]
}

@test "tls: interop: openssl s_server and socat OPENSSL-LISTEN as targets, s_client and socat OPENSSL as clients" {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # openssl s_server -rev answers each line reversed, and checks our client certificate.
    bg_start "$T/s_server.log" openssl s_server -accept "127.0.0.1:$port" -cert "$C/server.pem" \
        -key "$C/server.key" -CAfile "$C/ca.pem" -Verify 1 -verify_return_error -rev
    wait_until 10 sh -c "ss -ltn | grep -q 127.0.0.1:$port"
    PROXY_LOG_FILE=$T/c1.log start_proxy --cert "$C/client.pem" --key "$C/client.key" \
        --ca "$C/ca.pem" "$T/c1.sock" "tls:localhost:$port"
    run peer send-wait "$T/c1.sock" $'hello tls\n' 5
    [ "$output" = "slt olleh" ]
    # socat OPENSSL-LISTEN as the target, bulk both ways.
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    bg_start "$T/socat-srv.log" socat OPENSSL-LISTEN:"$port",bind=127.0.0.1,reuseaddr,fork,cert="$C/server.pem",key="$C/server.key",cafile="$C/ca.pem",verify=1 EXEC:cat
    wait_until 10 sh -c "ss -ltn | grep -q 127.0.0.1:$port"
    PROXY_LOG_FILE=$T/c2.log start_proxy --cert "$C/client.pem" --key "$C/client.key" \
        --ca "$C/ca.pem" "$T/c2.sock" "tls:localhost:$port"
    run peer echo-check "$T/c2.sock" 2000000
    [ "$output" = "ok 2000000" ]
    # Clients: openssl s_client verifies our listener's certificate; socat OPENSSL sends bulk.
    srv_args
    start_echo "$T/s.sock"
    PROXY_LOG_FILE=$T/server.log start_proxy "${SRV_ARGS[@]}" tls:127.0.0.1:0 "$T/s.sock"
    port=${PROXY_ADDR##*:}
    run -0 timeout 10 openssl s_client -connect "127.0.0.1:$port" -CAfile "$C/ca.pem" \
        -verify_hostname localhost -verify_return_error -cert "$C/client.pem" \
        -key "$C/client.key" </dev/null
    [[ "$output" == *"Verify return code: 0 (ok)"* ]]
    head -c 3000000 /dev/urandom > "$T/bulk"
    timeout 30 socat -t 10 - OPENSSL:127.0.0.1:"$port",cert="$C/client.pem",key="$C/client.key",cafile="$C/ca.pem",commonname=localhost \
        < "$T/bulk" > "$T/bulk.out"
    cmp "$T/bulk" "$T/bulk.out"
}

@test "tls: --send-proxy-v2 passes the client's certificate in the PP2_TYPE_SSL TLV" {
    srv_args
    cat > "$T/tlv.py" <<'PY'
import socket, struct, sys, os
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(4)
open(sys.argv[2], "w").close()
c, _ = s.accept()
hdr = c.recv(16, socket.MSG_WAITALL)
body = c.recv(struct.unpack("!H", hdr[14:16])[0], socket.MSG_WAITALL)
tlvs, out = body[12:], []
while tlvs:
    t, n = tlvs[0], struct.unpack("!H", tlvs[1:3])[0]
    v, tlvs = tlvs[3:3 + n], tlvs[3 + n:]
    if t == 0x20:
        out.append("ssl client=%d verify=%d" % (v[0], struct.unpack("!I", v[1:5])[0]))
        sub = v[5:]
        while sub:
            st, sn = sub[0], struct.unpack("!H", sub[1:3])[0]
            out.append("0x%02x=%s" % (st, sub[3:3 + sn].decode()))
            sub = sub[3 + sn:]
c.sendall((" ".join(out) + "\n").encode())
c.close()
PY
    bg_start "$T/tlv.err" timeout 30 python3 "$T/tlv.py" "$T/s.sock" "$T/tlv.ready"
    wait_path "$T/tlv.ready"
    LEFTOVER_OK+=("$T/s.sock")
    PROXY_LOG_FILE=$T/server.log start_proxy "${SRV_ARGS[@]}" --send-proxy-v2 tls:127.0.0.1:0 \
        "$T/s.sock"
    run -0 timeout 10 sh -c "openssl s_client -quiet -connect 127.0.0.1:${PROXY_ADDR##*:} \
        -CAfile '$C/ca.pem' -cert '$C/client.pem' -key '$C/client.key' </dev/null 2>/dev/null"
    [[ "$output" == "ssl client=7 verify=0 0x21=TLSv1.3 0x22=client1 0x23=TLS_AES_"*" 0x24=ecdsa-with-SHA256 0x25=EC256" ]]
}

@test "tls: SIGHUP reloads the certificate: a new connection gets the new one, an open one goes on" {
    cp "$C/server.pem" "$T/cur.pem"
    cp "$C/server.key" "$T/cur.key"
    start_echo "$T/s.sock"
    PROXY_LOG_FILE=$T/server.log start_proxy --cert "$T/cur.pem" --key "$T/cur.key" \
        --ca "$C/ca.pem" tls:127.0.0.1:0 "$T/s.sock"
    local srv=$PROXY_ADDR port=${PROXY_ADDR##*:} srv_pid=$PROXY_PID
    PROXY_LOG_FILE=$T/client.log start_proxy --cert "$C/client.pem" --key "$C/client.key" \
        --ca "$C/ca.pem" "$T/c.sock" "$srv"
    cat > "$T/long.py" <<'PY'
import socket, sys, os, time
s = socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1])
s.sendall(b"before\n"); print(s.recv(100).decode().strip(), flush=True)
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]): time.sleep(0.02)
s.sendall(b"after\n"); print(s.recv(100).decode().strip(), flush=True)
PY
    timeout 30 python3 "$T/long.py" "$T/c.sock" "$T/first" "$T/go" > "$T/long.out" 3>&- &
    local long=$!
    wait_path "$T/first"
    cp "$C/server2.pem" "$T/cur.pem"
    cp "$C/server2.key" "$T/cur.key"
    kill -HUP "$srv_pid"
    wait_for_line "$T/server.log" "SIGHUP: reloaded --cert .*cur.pem \(CN=server-renewed SAN=DNS:localhost,IP:127.0.0.1, valid until .*\); new connections use it, open ones go on"
    run -0 timeout 10 openssl s_client -connect "127.0.0.1:$port" -CAfile "$C/ca.pem" \
        -cert "$C/client.pem" -key "$C/client.key" </dev/null
    [[ "$output" == *"subject=CN = server-renewed"* ]]
    touch "$T/go"
    wait "$long"
    [ "$(cat "$T/long.out")" = "$(printf 'before\nafter')" ]
    # A key that cannot be used: logged, and the certificate in use is kept.
    echo garbage > "$T/cur.key"
    kill -HUP "$srv_pid"
    wait_for_line "$T/server.log" "SIGHUP: kept the certificates in use: --key .*cur.key: no usable PEM private key in it"
    run py_echo "$T/c.sock" still
    [ "$output" = "still" ]
    kill -0 "$srv_pid"
}

@test "tls: usage errors name what is missing, unusable files exit 78 naming the file" {
    run -64 "$UDS" proxy tls:127.0.0.1:0 "$T/s.sock"
    [[ "$output" == *"tls:127.0.0.1:0: a TLS listener needs --cert FILE (and --key FILE)"* ]]
    run -64 "$UDS" proxy --cert "$C/server.pem" --key "$C/server.key" tls:127.0.0.1:0 "$T/s.sock"
    [[ "$output" == *"needs --ca FILE, the CA certificates that sign its clients' certificates, or --no-client-cert"* ]]
    run -64 "$UDS" proxy --cert "$C/server.pem" "$T/p.sock" "$T/s.sock"
    [[ "$output" == *"--cert is for a tls:HOST:PORT LISTEN or TARGET"* ]]
    run -64 "$UDS" proxy --cert "$C/server.pem" --no-client-cert --allow-cn x tls:127.0.0.1:0 "$T/s.sock"
    [[ "$output" == *"--allow-cn checks the client's certificate, and --no-client-cert takes clients without one; choose"* ]]
    run -64 "$UDS" proxy --server-name x --cert "$C/server.pem" --ca "$C/ca.pem" tls:127.0.0.1:0 "$T/s.sock"
    [[ "$output" == *"--server-name is for a tls:HOST:PORT TARGET"* ]]
    run -78 "$UDS" proxy --cert "$T/none.pem" --ca "$C/ca.pem" tls:127.0.0.1:0 "$T/s.sock"
    [[ "$output" == *"uds: tls:127.0.0.1:0: --cert $T/none.pem: cannot read it (No such file or directory)"* ]]
    run -78 "$UDS" proxy --cert "$C/server.pem" --key "$C/client.key" --ca "$C/ca.pem" tls:127.0.0.1:0 "$T/s.sock"
    [[ "$output" == *"--key $C/client.key is not the key of --cert $C/server.pem"* ]]
    run -78 "$UDS" proxy --ca "$T/none.pem" "$T/p.sock" tls:127.0.0.1:1
    [[ "$output" == *"uds: tls:127.0.0.1:1: --ca $T/none.pem: cannot read it"* ]]
    # Not loopback: a listener that checks client certificates needs no --public; one that
    # takes anyone does.
    run -64 "$UDS" proxy --cert "$C/server.pem" --key "$C/server.key" --no-client-cert \
        tls:0.0.0.0:0 "$T/s.sock"
    [[ "$output" == *"not a loopback address"* ]]
    start_echo "$T/s.sock"
    srv_args
    start_proxy "${SRV_ARGS[@]}" tls:0.0.0.0:0 "$T/s.sock"
    ! grep -q "nothing here checks who connects" "$PROXY_LOG"
}

@test "tls: uds doctor tls:HOST:PORT says why a TLS bridge refuses, and what to do" {
    start_recorded_listener --allow-cn client1
    local a=tls:127.0.0.1:$SRV_PORT
    run -0 "$UDS" doctor --cert "$C/client.pem" --key "$C/client.key" --ca "$C/ca.pem" "$a"
    [[ "$output" == *"The server accepted your certificate."* ]]
    [[ "$output" == *"Result: the TLS service accepts you (exit 0)."* ]]
    run -77 "$UDS" doctor --ca "$C/ca.pem" "$a"
    [[ "$output" == *"error   The server wants a client certificate, and you gave none."* ]]
    run -77 "$UDS" doctor --cert "$C/expired.pem" --key "$C/expired.key" --ca "$C/ca.pem" "$a"
    [[ "$output" == *"error   Your certificate (--cert $C/expired.pem: CN=client1) expired on Feb  1 00:00:00 2020 GMT: the server will refuse it."* ]]
    run -77 "$UDS" doctor --cert "$C/future.pem" --key "$C/future.key" --ca "$C/ca.pem" "$a"
    [[ "$output" == *"is not valid before Jan  1 00:00:00 2099 GMT"* ]]
    run -77 "$UDS" doctor --cert "$C/rogue.pem" --key "$C/rogue.key" --ca "$C/ca.pem" "$a"
    [[ "$output" == *"error   The server refused this side's certificate (alert 'unknown CA')."* ]]
    run -77 "$UDS" doctor --cert "$C/client.pem" --key "$C/client.key" --ca "$C/ca2.pem" "$a"
    [[ "$output" == *"error   The server's certificate (CN=server SAN=DNS:localhost,IP:127.0.0.1, issued by /CN=uds test CA) is not signed by a CA in --ca $C/ca2.pem."* ]]
    run -77 "$UDS" doctor --cert "$C/client.pem" --key "$C/client.key" --ca "$C/ca.pem" \
        --server-name db.example "$a"
    [[ "$output" == *"is not for 'db.example'."*"what to do: Connect by a name it has, or give --server-name one of its names."* ]]
    run -77 "$UDS" doctor --cert "$C/client2.pem" --key "$C/client2.key" --ca "$C/ca.pem" "$a"
    [[ "$output" == *"closed the connection right after the handshake: it may not allow your certificate's name"* ]]
    run -78 "$UDS" doctor --cert "$C/client.pem" --key "$C/server.key" "$a"
    [[ "$output" == *"is not the key of --cert"* ]]
    kill "$PROXY_PID"
    wait_status "$PROXY_PID"
    run -69 "$UDS" doctor --ca "$C/ca.pem" "$a"
    [[ "$output" == *"Cannot reach 127.0.0.1:$SRV_PORT: Connection refused."* ]]
}

@test "tls: uds doctor --json tls:HOST:PORT: a good client, expired, unknown CA, wrong name, no certificate" {
    start_recorded_listener --allow-cn client1
    local a=tls:127.0.0.1:$SRV_PORT ca=(--ca "$C/ca.pem")
    run -0 doctor_json --cert "$C/client.pem" --key "$C/client.key" "${ca[@]}" "$a"
    [ "$output" = "true 0 tls-cert tls-server-cert tls-accepted" ]
    run -0 json_session
    echo "$output"
    [[ "$output" == "TLSv1.3 TLS_"*" CN=server SAN=DNS:localhost,IP:127.0.0.1" ]]
    run -0 doctor_json --cert "$C/expired.pem" --key "$C/expired.key" "${ca[@]}" "$a"
    [ "$output" = "false 77 tls-cert-expired tls-server-cert tls-cert-refused" ]
    [[ "$(json_message tls-cert-expired)" == *"expired on Feb  1 00:00:00 2020 GMT"* ]]
    # The server's certificate from a CA not in --ca; this side's from a CA the server
    # does not trust.
    run -0 doctor_json --cert "$C/client.pem" --key "$C/client.key" --ca "$C/ca2.pem" "$a"
    [ "$output" = "false 77 tls-cert-other-ca tls-server-unknown-ca tls-accepted" ]
    [[ "$(json_message tls-server-unknown-ca)" == *"issued by /CN=uds test CA) is not signed by a CA in --ca $C/ca2.pem"* ]]
    run -0 doctor_json --cert "$C/rogue.pem" --key "$C/rogue.key" "${ca[@]}" "$a"
    [ "$output" = "false 77 tls-cert-other-ca tls-server-cert tls-cert-refused" ]
    [[ "$(json_message tls-cert-refused)" == *"(alert 'unknown CA')"* ]]
    run -0 doctor_json --cert "$C/client.pem" --key "$C/client.key" "${ca[@]}" \
        --server-name db.example "$a"
    [ "$output" = "false 77 tls-cert tls-server-name-mismatch tls-accepted" ]
    [[ "$(json_message tls-server-name-mismatch)" == *"is not for 'db.example'."* ]]
    run -0 doctor_json "${ca[@]}" "$a"
    [ "$output" = "false 77 tls-server-cert tls-client-cert-missing" ]
    run -0 doctor_json --cert "$C/client2.pem" --key "$C/client2.key" "${ca[@]}" "$a"
    [ "$output" = "false 77 tls-cert tls-server-cert tls-closed-after-handshake" ]
    run -0 doctor_json --cert "$C/client.pem" --key "$C/server.key" "$a"
    [ "$output" = "false 78 tls-files" ]
    [ "$(json_session)" = null ]
    kill "$PROXY_PID"
    wait_status "$PROXY_PID"
    run -0 doctor_json "${ca[@]}" "$a"
    [ "$output" = "false 69 tls-unreachable" ]
    [ "$(json_session)" = null ]
}

@test "tls: uds doctor's TLS options are in its table; options of the other kind of address are usage errors" {
    run -0 "$UDS" doctor --list-options
    local o
    for o in --cert --key --ca --server-name --json --as --no-connect; do
        [[ "$output" == *" $o "* ]]
    done
    run -0 "$UDS" doctor --help
    [[ "$output" == *"TLS (ADDRESS tls:HOST:PORT):"*"--server-name NAME"* ]]
    run -64 "$UDS" doctor --cert "$C/client.pem" "$T/x.sock"
    [[ "$output" == *"uds doctor: --cert is for a tls:HOST:PORT address; '$T/x.sock' is not one"* ]]
    run -64 "$UDS" doctor --server-name db.example "$T/x.sock"
    [[ "$output" == *"--server-name is for a tls:HOST:PORT address"* ]]
    run -64 "$UDS" doctor --as nobody --ca "$C/ca.pem" tls:127.0.0.1:1
    [[ "$output" == *"--as is for a Unix socket address, not tls:HOST:PORT"* ]]
    run -64 "$UDS" doctor --json --no-connect tls:127.0.0.1:1
    [[ "$output" == *"--no-connect is for a Unix socket address"* ]]
    run -64 "$UDS" doctor --key "$C/client.key" tls:127.0.0.1:1
    [[ "$output" == *"--key goes with --cert FILE"* ]]
    run -64 "$UDS" doctor --json tls:127.0.0.1
    [[ "$output" == *"'tls:127.0.0.1' is not a TLS address; e.g. tls:db.example.org:7443"* ]]
    [[ "$output" != *'{'* ]]
}

@test "tls: -v logs once per connection on each side whether kernel TLS carries its records" {
    srv_args
    start_echo "$T/s.sock"
    PROXY_LOG_FILE=$T/server.log start_proxy -v "${SRV_ARGS[@]}" tls:127.0.0.1:0 "$T/s.sock"
    local srv=$PROXY_ADDR
    PROXY_LOG_FILE=$T/client.log start_proxy -v --cert "$C/client.pem" --key "$C/client.key" \
        --ca "$C/ca.pem" "$T/c.sock" "$srv"
    PROXY_LOG_FILE=$T/quiet.log start_proxy --cert "$C/client.pem" --key "$C/client.key" \
        --ca "$C/ca.pem" "$T/q.sock" "$srv"
    run py_echo "$T/c.sock" one
    [ "$output" = one ]
    run py_echo "$T/c.sock" two
    [ "$output" = two ]
    run py_echo "$T/q.sock" three
    [ "$output" = three ]
    # Either value: the kernel decides (the tls module, CONFIG_TLS), OpenSSL asks.
    local ktls='TLSv1\.3, TLS_[A-Z0-9_]+, kernel TLS (both ways|for sending|for receiving|not in use \(user-space records\))$'
    wait_until 5 [ "$(grep -cE "tcp:127\.0\.0\.1:[0-9]+: $ktls" "$T/server.log")" -eq 3 ]
    [ "$(grep -cE "pid [0-9]+ uid [0-9]+ gid [0-9]+: $ktls" "$T/client.log")" -eq 2 ]
    [ "$(grep -c 'kernel TLS' "$T/client.log")" -eq 2 ]
    ! grep -q 'kernel TLS' "$T/quiet.log"
}
