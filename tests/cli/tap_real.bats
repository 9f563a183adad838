#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds tap -w` read back by Wireshark's tshark: an HTTP exchange made with
# `curl --unix-socket` decoded as HTTP (request, status, the client in a packet comment,
# the socket's path as the interface), seqpacket messages as UDP datagrams of their own
# lengths, `-w -` readable while the tap still runs, and a PostgreSQL session whose peer
# authentication passes through a root tap (the server sees the client's user) and whose
# query tshark decodes.

load helpers
load tap_helpers
load pg_helpers

need_tshark() {
    command -v tshark >/dev/null || skip "tshark is not installed (apt-get install tshark)"
}

# tshark_fields FILE FILTER FIELD...: one line per packet matching FILTER.
tshark_fields() {
    local file=$1 filter=$2 f args=()
    shift 2
    for f in "$@"; do args+=(-e "$f"); done
    timeout 60 tshark -r "$file" -Y "$filter" -T fields "${args[@]}" 2>/dev/null
}

@test "tap -w: an HTTP exchange by curl --unix-socket is decoded by tshark" {
    need_tshark
    command -v curl >/dev/null || skip "curl is not installed"
    TAP_OUT=/dev/null
    start_peer http http-server "$T/docker.sock"
    start_tap -w "$T/cap.pcapng" "$T/docker.sock"
    run timeout 10 curl -s --unix-socket "$T/docker.sock" http://localhost/v1.43/info
    [ "$output" = '{"path":"/v1.43/info"}' ]
    stop_tap
    [ "$WAIT_STATUS" -eq 0 ]
    [ "$(stat -c %a "$T/cap.pcapng")" = 600 ]
    run tshark_fields "$T/cap.pcapng" http.request http.request.method http.request.uri \
        tcp.dstport
    [ "$output" = $'GET\t/v1.43/info\t80' ]
    run tshark_fields "$T/cap.pcapng" http.response http.response.code json.value.string
    [ "$output" = $'200\t/v1.43/info' ]
    run tshark_fields "$T/cap.pcapng" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' frame.comment \
        frame.interface_name
    [[ "$output" == *"comm curl; server $T/docker.sock"*$'\t'"$T/docker.sock" ]]
    run tshark_fields "$T/cap.pcapng" 'tcp.flags.fin == 1' tcp.srcport
    [ "${#lines[@]}" -eq 2 ]
    # Checksums are right (Wireshark checks them only when asked).
    run timeout 60 tshark -r "$T/cap.pcapng" -o tcp.check_checksum:TRUE \
        -o ip.check_checksum:TRUE -T fields -e tcp.checksum.status -e ip.checksum.status
    [ "$(printf '%s\n' "${lines[@]}" | grep -v Running | sort -u)" = $'1\t1' ]
}

@test "tap -w: bulk both ways is whole in the capture, in packets up to 64 KiB, checksums right" {
    need_tshark
    TAP_OUT=/dev/null
    start_server "$T/s.sock"
    start_tap -q -w "$T/bulk.pcapng" "$T/s.sock"
    run peer bulk "$T/s.sock" 2 1048576
    [ "$output" = "ok 2 of 2" ]
    stop_tap
    [ "$WAIT_STATUS" -eq 0 ]
    # Large reads are written from the relay's buffer, not copied: still whole packets.
    run tshark_fields "$T/bulk.pcapng" 'tcp.len > 32768' tcp.len
    [ "${#lines[@]}" -gt 0 ]
    run timeout 60 tshark -r "$T/bulk.pcapng" -o tcp.check_checksum:TRUE \
        -o ip.check_checksum:TRUE -T fields -e tcp.checksum.status -e ip.checksum.status
    [ "$(printf '%s\n' "${lines[@]}" | grep -v Running | sort -u)" = $'1\t1' ]
    # Each stream, reassembled both ways, is what the client sent and had echoed back.
    for stream in 0 1; do
        timeout 60 tshark -r "$T/bulk.pcapng" -q -z "follow,tcp,raw,$stream" >"$T/f$stream"
        run python3 -c '
import hashlib, sys
sent, back = bytearray(), bytearray()
for line in open(sys.argv[1]).read().split("\n"):
    h = line.strip()
    if not h or not all(c in "0123456789abcdef" for c in h):
        continue
    (back if line.startswith("\t") else sent).extend(bytes.fromhex(h))
want = [(hashlib.sha256(b"%d" % i).digest() * 32769)[:1048576] for i in (0, 1)]
print("whole" if sent == back and bytes(sent) in want else "%d %d" % (len(sent), len(back)))
' "$T/f$stream"
        [ "$output" = whole ]
    done
}

@test "tap -w: seqpacket messages are UDP datagrams of their own lengths" {
    need_tshark
    TAP_OUT=/dev/null
    start_peer seq seq-server "$T/q.sock"
    start_tap --port 7 -w "$T/q.pcapng" "$T/q.sock"
    run timeout 10 python3 "$PEER" seq-client "$T/q.sock" 1 1000 3
    [ "$output" = "len=1 len=1000 len=3" ]
    stop_tap
    run tshark_fields "$T/q.pcapng" 'udp.dstport == 7' udp.length
    [ "$(echo $output)" = "9 1008 11" ]
    run tshark_fields "$T/q.pcapng" 'udp.srcport == 7' udp.length
    [ "$(echo $output)" = "13 16 13" ]
}

@test "tap -w -: the capture on stdout is readable while the tap still runs" {
    need_tshark
    TAP_OUT=$T/live.pcapng
    start_server "$T/s.sock"
    start_tap -w - "$T/s.sock"
    run timeout 5 "$UDS" send "$T/s.sock" "live bytes"
    [ "$output" = "live bytes" ]
    wait_until 5 bash -c "tshark -r '$T/live.pcapng' -Y 'tcp.flags.fin == 1' 2>/dev/null |
        grep -c FIN | grep -qx 2"
    run tshark_fields "$T/live.pcapng" 'tcp.len > 0' tcp.payload
    [ "${lines[0]}" = "$(printf 'live bytes\n' | od -An -tx1 | tr -d ' \n')" ]
    stop_tap
}

@test "tap: psql through a root tap passes peer authentication, and tshark reads the query" {
    need_root
    need_tshark
    need_psql
    PG_AUTH=peer pg_start
    TAP_OUT=$T/tap.out
    start_tap -w "$T/pg.pcapng" "$PG_SOCK"
    run timeout 20 setpriv --reuid=postgres --regid=postgres --init-groups \
        psql -h "$T/pgsock" -U postgres -At -c 'select 1'
    [ "$status" -eq 0 ]
    [ "$output" = 1 ]
    stop_tap
    [ "$WAIT_STATUS" -eq 0 ]
    grep -qE "#1 open: pid [0-9]+ uid $(id -u postgres) .* psql" "$T/tap.out"
    run tshark_fields "$T/pg.pcapng" pgsql.query pgsql.query
    [ "$output" = "select 1" ]
}
