#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Socket names and process names are anyone's to choose: `uds ls` and `uds doctor` must not
# hand a terminal their control characters (ESC, C1 such as U+009B CSI, bidi overrides such
# as U+202E) or bytes that are not UTF-8, and their JSON must give back the exact bytes, so
# that a raw byte 0x9B and the character U+009B (bytes C2 9B) stay apart.

load helpers

# holder: a Python process, its command name "h" ESC "[7m" U+202E, holding dgram sockets
# bound to hostile names, in $T and abstract. $T/names.json maps each label to the hex of
# the address as `uds ls` writes it ("@" then the name, for abstract ones). Sets HOLDER_PID
# (the Python process's).
holder() {
    cat >"$T/holder.py" <<'EOF'
import ctypes, json, os, signal, socket, sys, time
T = os.fsencode(sys.argv[1])
parts = {"esc": b"esc-\x1b[31m", "c1": b"c1-\xc2\x9b", "raw": b"raw-\x9b",
         "bidi": b"bidi-\xe2\x80\xaeexe.txt"}
paths = {k: T + b"/" + v + b".sock" for k, v in parts.items()}
tag = b"uds-hostile-%d-" % os.getpid()
def bye(*_):
    for p in paths.values():
        try: os.unlink(p)
        except OSError: pass
    os._exit(0)
signal.signal(signal.SIGTERM, bye)
ctypes.CDLL(None).prctl(15, b"h\x1b[7m\xe2\x80\xae", 0, 0, 0)     # PR_SET_NAME
keep, names = [], {}
for k, v in parts.items():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(paths[k]); keep.append(s); names["path_" + k] = paths[k].hex()
    a = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.bind(b"\0" + tag + v); keep.append(a); names["abstract_" + k] = (b"@" + tag + v).hex()
names["tag"] = tag.decode()
with open(sys.argv[1] + "/holder.pid", "w") as fp:
    fp.write("%d\n" % os.getpid())
with open(sys.argv[1] + "/names.json.tmp", "w") as fp:
    json.dump(names, fp)
os.rename(sys.argv[1] + "/names.json.tmp", sys.argv[1] + "/names.json")
sys.stderr.write("ready\n"); sys.stderr.flush()
time.sleep(60)
EOF
    bg_start "$T/holder.log" timeout 60 python3 "$T/holder.py" "$T"
    wait_for_line "$T/holder.log" '^ready'
    HOLDER_PID=$(cat "$T/holder.pid")
}

# name LABEL: the raw bytes of a name the holder bound, for use as an argument.
name() {
    python3 -c 'import json, os, sys
sys.stdout.buffer.write(bytes.fromhex(json.load(open(sys.argv[1]))[sys.argv[2]]))' \
        "$T/names.json" "$1"
}

# raw_controls FILE: how many dangerous things FILE holds as they are: bytes that are not
# UTF-8, C0 controls other than newline, DEL, C1 controls and bidi controls.
raw_controls() {
    python3 -c 'import sys
data = open(sys.argv[1], "rb").read()
text = data.decode("utf-8", "surrogateescape")
bidi = {0x061c, 0x200e, 0x200f, 0x2028, 0x2029} | set(range(0x202a, 0x202f)) | \
    set(range(0x2066, 0x206a))
bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f or
       ord(c) in bidi or 0xdc80 <= ord(c) <= 0xdcff]
print(len(bad))' "$1"
}

@test "hostile names: uds ls shows no raw ESC, C1, bidi control or non-UTF-8 byte" {
    holder
    local tag
    tag=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tag"])' "$T/names.json")
    timeout 10 "$UDS" ls -p "$T/*" >"$T/ls-path.out"
    timeout 10 "$UDS" ls -p "@$tag*" >"$T/ls-abstract.out"
    cat "$T/ls-path.out" "$T/ls-abstract.out"
    echo "raw controls: $(raw_controls "$T/ls-path.out") in paths," \
        "$(raw_controls "$T/ls-abstract.out") in abstract names"
    [ "$(raw_controls "$T/ls-path.out")" -eq 0 ]
    [ "$(raw_controls "$T/ls-abstract.out")" -eq 0 ]
    # The byte-level check, independent of the Python one.
    ! LC_ALL=C grep -qaP '[\x00-\x09\x0b-\x1f\x7f\x9b]|\xc2[\x80-\x9f]|\xe2\x80[\x8e\x8f\xaa-\xae]|\xe2\x81[\xa6-\xa9]' \
        "$T/ls-path.out" "$T/ls-abstract.out"
    for f in ls-path ls-abstract; do
        grep -qF 'esc-\x1b[31m' "$T/$f.out"
        grep -qF 'c1-\u009b' "$T/$f.out"
        grep -qF 'raw-\x9b' "$T/$f.out"
        grep -qF 'bidi-\u202eexe.txt' "$T/$f.out"
        grep -qF "$HOLDER_PID/h\\x1b[7m\\u202e:" "$T/$f.out"
    done
}

@test "hostile names: uds ls --json gives back each name's exact bytes (0x9B apart from U+009B)" {
    holder
    local tag
    tag=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tag"])' "$T/names.json")
    timeout 10 "$UDS" ls --json "$T/*" >"$T/ls.json"
    timeout 10 "$UDS" ls --json "@$tag*" >>"$T/ls.json"
    [ "$(raw_controls "$T/ls.json")" -eq 0 ]
    run python3 -c 'import json, sys
names = json.load(open(sys.argv[1]))
text = open(sys.argv[2], "rb").read().decode("ascii")     # all escaped: plain ASCII
docs = json.JSONDecoder()
got, i = [], 0
while i < len(text):
    obj, i = docs.raw_decode(text, i)
    got += obj
    while i < len(text) and text[i].isspace():
        i += 1
back = {e["address"].encode("utf-8", "surrogateescape"): e for e in got}
comm = {p["command"].encode("utf-8", "surrogateescape") for e in got for p in e["processes"]}
for label, hexname in names.items():
    if label == "tag":
        continue
    assert bytes.fromhex(hexname) in back, (label, hexname, list(back))
assert names["path_raw"] != names["path_c1"]
raw = back[bytes.fromhex(names["path_raw"])]["address"]
c1 = back[bytes.fromhex(names["path_c1"])]["address"]
assert raw != c1, (raw, c1)
assert comm == {b"h\x1b[7m\xe2\x80\xae"}, comm
print("ok", len(back))
' "$T/names.json" "$T/ls.json"
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$output" = "ok 8" ]
}

@test "hostile names: uds doctor shows no raw control, and its JSON gives the address back" {
    holder
    local label addr
    for label in path_esc path_c1 path_raw path_bidi abstract_esc abstract_c1 abstract_raw \
        abstract_bidi; do
        addr=$(name "$label")
        timeout 10 "$UDS" doctor "$addr" >"$T/doctor.out" || true
        cat "$T/doctor.out"
        [ "$(raw_controls "$T/doctor.out")" -eq 0 ]
        grep -q "Result: you can connect" "$T/doctor.out"
        grep -qF "served by h\x1b[7m\u202e (pid $HOLDER_PID" "$T/doctor.out"
        timeout 10 "$UDS" doctor --json "$addr" >"$T/doctor.json" || true
        [ "$(raw_controls "$T/doctor.json")" -eq 0 ]
        python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["address"].encode("utf-8", "surrogateescape") == sys.argv[2].encode("utf-8",
    "surrogateescape"), (d["address"], sys.argv[2])' "$T/doctor.json" "$addr"
    done
}
