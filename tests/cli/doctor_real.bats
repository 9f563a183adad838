#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `uds doctor` against the failures people hit with real servers, each built for real: a
# php-fpm pool whose socket the web server's user may not write, PostgreSQL on a private
# socket directory (then killed: its own lock file), a systemd-socket-activate listener
# described by a .socket unit, a user added to a group without a new login, a symlinked run
# directory, a server in a private mount namespace (its own tmpfs), a socket file
# bind-mounted and then replaced, an abstract listener in another network namespace, and a
# listener that never accepts. Each asserts the finding's code (in --json too), the advice's
# key words and the exit status.

load helpers
load pg_helpers

doctor() {
    run --separate-stderr timeout 20 "$UDS" doctor "$@"
}

# as_user USER CMD...: CMD as USER with the groups of a new login.
as_user() {
    local user=$1
    shift
    setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups "$@"
}

# codes ARGS...: the finding codes of `uds doctor --json ARGS`, one line; the JSON is also
# checked to carry the same exit as the text run (JSON_EXIT).
codes() {
    "$@" >"$T/doctor.json" || true
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(f["code"] for f in d["findings"]))' "$T/doctor.json"
}

json_field() {
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    d = d[k] if d is not None else None
print(d)' "$T/doctor.json" "$1"
}

# ---- php-fpm -------------------------------------------------------------------------------

# php_fpm_start: a php-fpm master with one pool [app] listening on $T/php/app.sock, owned by
# nobody:nogroup, mode 0660 (the "502 Bad Gateway, permission denied" set-up when the web
# server runs as www-data). A real php-fpm where the package is installed, otherwise a
# process named and configured like one. Sets FPM_PID.
php_fpm_start() {
    local fpm
    mkdir -p "$T/php" "$T/pool.d"
    cat >"$T/php-fpm.conf" <<EOF
[global]
pid = $T/fpm.pid
error_log = $T/fpm.log
daemonize = no
include=$T/pool.d/*.conf
EOF
    cat >"$T/pool.d/app.conf" <<EOF
; the application's pool
[app]
user = nobody
group = nogroup
listen = $T/php/app.sock
listen.owner = nobody
listen.group = nogroup
listen.mode = 0660
pm = static
pm.max_children = 1
EOF
    fpm=$(ls /usr/sbin/php-fpm* 2>/dev/null | head -1)
    if [ -n "$fpm" ]; then
        bg_start "$T/fpm.err" timeout 60 "$fpm" -F -y "$T/php-fpm.conf"
    else
        # php-fpm as ps shows it: comm php-fpm8.2, title "php-fpm: master process (CONF)".
        cat >"$T/fake-fpm.py" <<'EOF'
import ctypes, grp, os, pwd, signal, socket, sys, time
ctypes.CDLL(None).prctl(15, b"php-fpm8.2", 0, 0, 0)
path = sys.argv[1]
signal.signal(signal.SIGTERM, lambda *_: (os.unlink(path), os._exit(0)))
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(511)
os.chown(path, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
os.chmod(path, 0o660)
time.sleep(60)
EOF
        bg_start "$T/fpm.err" bash -c 'exec -a "php-fpm: master process ($1)" python3 "$2" "$3"' \
            fpm "$T/php-fpm.conf" "$T/fake-fpm.py" "$T/php/app.sock"
    fi
    FPM_PID=$BG_PID
    wait_until 10 test -S "$T/php/app.sock"
}

@test "doctor php-fpm: the web server's user gets 77 and advice in listen.owner/group/mode of the pool file" {
    need_root
    php_fpm_start
    run --separate-stderr as_user www-data timeout 20 "$UDS" doctor "$T/php/app.sock"
    echo "$output"
    [ "$status" -eq 77 ]
    [[ "$output" == *"The server is php-fpm"*"pool [app]: listen = at line 5 of $T/pool.d/app.conf"* ]]
    [[ "$output" == *"you (uid 33 (www-data)"* ]]
    [[ "$output" == *"listen.owner = nobody (line 6), listen.group = nogroup (line 7), listen.mode = 0660 (line 8)"* ]]
    [[ "$output" == *"Set listen.group = www-data"*"listen.owner = www-data"*"restart php-fpm"* ]]
    [[ "$output" != *"uds serve"* ]]
    [ "$(codes as_user www-data "$UDS" doctor --json "$T/php/app.sock")" = \
      "socket listening server no-write-permission" ]
    [ "$(json_field server.kind)" = php-fpm ]
    [ "$(json_field server.config)" = "$T/pool.d/app.conf" ]
    [ "$(json_field exit)" = 77 ]
}

@test "doctor php-fpm as root: you can connect, but root proves nothing: check --as a client" {
    need_root
    php_fpm_start
    doctor "$T/php/app.sock"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"It is served by php-fpm"* ]]
    [[ "$output" == *"You are root, and root may connect whatever the socket's mode"* ]]
    [[ "$output" == *"uds doctor --as USER $T/php/app.sock"*"nobody"* ]]
    run codes "$UDS" doctor --json "$T/php/app.sock"
    [[ " $output " == *" server "* && " $output " == *" as-root "* ]]
    [[ " $output " == *" can-connect " ]]
}

# ---- PostgreSQL ------------------------------------------------------------------------------

@test "doctor PostgreSQL: a 0700 socket: 77 and advice in unix_socket_permissions and unix_socket_group" {
    need_root
    pg_start -c unix_socket_permissions=0700
    run --separate-stderr as_nobody timeout 20 "$UDS" doctor "$PG_SOCK"
    echo "$output"
    [ "$status" -eq 77 ]
    [[ "$output" == *"The server is PostgreSQL"* ]]
    [[ "$output" == *"unix_socket_group and unix_socket_permissions"* ]]
    [[ "$output" == *"unix_socket_permissions = 0770"*"pg_hba.conf"* ]]
    [[ "$output" != *"uds serve"* ]]
    doctor "$PG_SOCK"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"The server is PostgreSQL "*"(data directory $T/pg/data)"* ]]
    [ "$(codes "$UDS" doctor --json "$PG_SOCK")" = "socket listening server as-root can-connect" ]
    [ "$(json_field server.kind)" = postgresql ]
}

@test "doctor PostgreSQL killed: stale, and its .s.PGSQL.5432.lock is PostgreSQL's own, not udskit's" {
    need_root
    pg_start
    kill -KILL "$PG_PID"
    wait_status "$PG_PID"
    LEFTOVER_OK+=("$PG_SOCK")
    # The postmaster's children see it gone and exit, closing what they inherited of its
    # listener; until then the socket still listens.
    wait_until 30 bash -c "! ss -xlH | grep -qF '$PG_SOCK '"
    doctor "$PG_SOCK"
    echo "$output"
    [ "$status" -eq 69 ]
    [[ "$output" == *"Start PostgreSQL"*"it removes its stale socket file and lock file itself"* ]]
    [[ "$output" == *"Its lock file $PG_SOCK.lock is PostgreSQL's own (it holds a pid, not a flock): it names pid $PG_PID, which is no longer running"* ]]
    [[ "$output" != *"uds serve"* ]]
    [[ "$(codes "$UDS" doctor --json "$PG_SOCK")" == "socket stale server lock-abandoned"* ]]
    rm -f "$PG_SOCK" "$PG_SOCK.lock"
}

# ---- systemd .socket units --------------------------------------------------------------------

@test "doctor systemd: a socket made for a .socket unit: advice in SocketMode= and SocketGroup=" {
    need_root
    command -v systemd-socket-activate >/dev/null || skip "no systemd-socket-activate"
    mkdir "$T/units"
    printf '[Unit]\nDescription=app\n\n[Socket]\nListenStream=%s\nSocketMode=0600\n' \
        "$T/app.sock" >"$T/units/app.socket"
    bg_start "$T/ssa.log" systemd-socket-activate -l "$T/app.sock" "$UDS" serve "$T/app.sock"
    # systemd-socket-activate does not remove its socket file: teardown's rm -rf does.
    LEFTOVER_OK+=("$T/app.sock")
    wait_until 10 test -S "$T/app.sock"
    chmod 0600 "$T/app.sock"
    export SYSTEMD_UNIT_PATH=$T/units
    run --separate-stderr as_nobody timeout 20 "$UDS" doctor "$T/app.sock"
    echo "$output"
    [ "$status" -eq 77 ]
    [[ "$output" == *"The server is systemd, for the socket unit app.socket (ListenStream= at line 5 of $T/units/app.socket)"* ]]
    [[ "$output" == *"SocketMode=0600 (line 6)"* ]]
    [[ "$output" == *"Set SocketGroup=nogroup"*"SocketMode=0660"*"systemctl daemon-reload and systemctl restart app.socket"* ]]
    [ "$(codes as_nobody "$UDS" doctor --json "$T/app.sock")" = \
      "socket listening server no-write-permission" ]
    [ "$(json_field server.kind)" = systemd ]
    [ "$(json_field server.socket_unit)" = app.socket ]
    # the same asked by root for nobody
    doctor --as nobody "$T/app.sock"
    [ "$status" -eq 77 ]
    [[ "$output" == *"Set SocketGroup=nogroup (a group nobody is in) and SocketMode=0660"* ]]
}

# ---- redis, dockerd ------------------------------------------------------------------------------

# redis_start: a real redis-server on $T/redis/cache.sock (mode 0700, from its redis.conf),
# run in the cgroup of a systemd service whose unit (in $T/units) names the redis.conf in
# ExecStart=, as Debian's redis-server.service does; redis renames itself once started, so
# the unit is where its configuration file can still be read. Sets REDIS_PID.
redis_start() {
    local cg
    command -v redis-server >/dev/null || skip "redis-server is not installed"
    mkdir -m 0755 "$T/redis" "$T/units"
    printf 'port 0\nunixsocket %s\nunixsocketperm 700\ndaemonize no\ndir %s\n' \
        "$T/redis/cache.sock" "$T/redis" >"$T/redis/redis.conf"
    printf '[Service]\nExecStart=/usr/bin/redis-server %s --supervised systemd\n' \
        "$T/redis/redis.conf" >"$T/units/udstest-redis-$$.service"
    bg_start "$T/redis.log" redis-server "$T/redis/redis.conf"
    REDIS_PID=$BG_PID
    wait_until 10 test -S "$T/redis/cache.sock"
    for cg in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
        REDIS_CG=$cg/udstest-redis-$$.service
        if mkdir "$REDIS_CG" 2>/dev/null; then
            echo "$REDIS_PID" >"$REDIS_CG/cgroup.procs" && break
            rmdir "$REDIS_CG"
        fi
        REDIS_CG=
    done
    [ -n "$REDIS_CG" ] || skip "cannot make a cgroup to run redis in a service here"
    export SYSTEMD_UNIT_PATH=$T/units
}

redis_stop() {
    kill "$REDIS_PID" 2>/dev/null || true
    wait_until 10 pid_gone "$REDIS_PID"
    [ -z "${REDIS_CG:-}" ] || rmdir "$REDIS_CG"
}

@test "doctor redis: another user gets 77 and advice in unixsocketperm of the redis.conf its service names" {
    need_root
    redis_start
    run --separate-stderr as_nobody timeout 20 "$UDS" doctor "$T/redis/cache.sock"
    echo "$output"
    [ "$status" -eq 77 ]
    # nobody cannot see redis's fds: it is found by the configuration its service names
    [[ "$output" == *"The server is redis; unixsocket at line 2 of $T/redis/redis.conf makes this socket (known by the configuration of redis-server pid $REDIS_PID"* ]]
    [[ "$output" == *"unixsocketperm in $T/redis/redis.conf (now unixsocketperm 700 (line 3))"* ]]
    [[ "$output" == *"Set unixsocketperm 770 and add nobody to group root"*"restart redis-server"* ]]
    [[ "$output" != *"uds serve"* ]]
    [ "$(codes as_nobody "$UDS" doctor --json "$T/redis/cache.sock")" = \
      "socket listening server no-write-permission" ]
    [ "$(json_field server.kind)" = redis ]
    [ "$(json_field server.config)" = "$T/redis/redis.conf" ]
    # root, for nobody: the process is seen holding the socket
    doctor --as nobody "$T/redis/cache.sock"
    [ "$status" -eq 77 ]
    [[ "$output" == *"It is served by redis-server (pid $REDIS_PID"* ]]
    [[ "$output" == *"nobody may not connect"*"unixsocketperm in $T/redis/redis.conf"* ]]
    # and root itself
    doctor "$T/redis/cache.sock"
    [ "$status" -eq 0 ]
    [[ "$output" == *"You are root"*"uds doctor --as USER"* ]]
    redis_stop
}

@test "doctor dockerd: a user outside its -G group gets 77 and advice in the group dockerd gives" {
    need_root
    # dockerd as ps shows it (comm dockerd, -H unix://PATH -G GROUP); a real dockerd needs
    # more than a test may take. The socket is root:www-data 0660, as dockerd makes it.
    cat >"$T/fake-dockerd.py" <<'EOF'
import ctypes, grp, os, signal, socket, sys, time
ctypes.CDLL(None).prctl(15, b"dockerd", 0, 0, 0)
path = sys.argv[1]
signal.signal(signal.SIGTERM, lambda *_: (os.unlink(path), os._exit(0)))
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(4096)
os.chown(path, 0, grp.getgrnam("www-data").gr_gid)
os.chmod(path, 0o660)
time.sleep(60)
EOF
    printf '{\n  "group": "www-data"\n}\n' >"$T/daemon.json"
    bg_start "$T/dockerd.err" bash -c 'exec -a dockerd python3 "$1" "$2" -H "unix://$2" \
        --config-file "$3" -G www-data' fake "$T/fake-dockerd.py" "$T/docker.sock" "$T/daemon.json"
    wait_until 10 test -S "$T/docker.sock"
    doctor --as nobody "$T/docker.sock"
    echo "$output"
    [ "$status" -eq 77 ]
    [[ "$output" == *"The server is dockerd"* ]]
    [[ "$output" == *"dockerd gives its socket the group docker unless its -G/--group option"* ]]
    [[ "$output" == *"$T/daemon.json"* ]]
    [[ "$output" == *"usermod -aG www-data nobody"* ]]
    [[ "$output" == *"controls this host"* ]]
    [[ "$output" != *"uds serve"* ]]
    [ "$(codes "$UDS" doctor --as nobody --json "$T/docker.sock")" = \
      "checked-as socket listening server no-write-permission" ]
    [ "$(json_field server.kind)" = dockerd ]
}

# ---- group membership ----------------------------------------------------------------------------

@test "doctor: a user added to the socket's group without a new login: newgrp, not 'add yourself'" {
    need_root
    # A private /etc/group in a private mount namespace: nobody joins group udstest there.
    cat >"$T/run.sh" <<'EOF'
T=$1 UDS=$2
{ cat /etc/group; echo "udstest:x:4242:nobody"; } >"$T/group"
mount --bind "$T/group" /etc/group
"$UDS" serve --group udstest --mode 0660 "$T/s.sock" 2>"$T/server.log" & pid=$!
# the file exists before listen(): wait for the server to say it listens
for i in $(seq 200); do grep -q "listening on" "$T/server.log" 2>/dev/null && break; sleep 0.05; done
setpriv --reuid=nobody --regid=nogroup --clear-groups "$UDS" doctor "$T/s.sock" >"$T/old.out"
echo $? >"$T/old.status"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$UDS" doctor --json "$T/s.sock" >"$T/old.json"
setpriv --reuid=nobody --regid=nogroup --init-groups "$UDS" doctor "$T/s.sock" >"$T/new.out"
echo $? >"$T/new.status"
kill $pid; wait $pid
EOF
    run timeout 30 unshare -m --propagation private bash "$T/run.sh" "$T" "$UDS"
    [ "$status" -eq 0 ] || skip "no mount namespace here"
    cat "$T/old.out"
    [ "$(cat "$T/old.status")" -eq 77 ]
    grep -q "you are a member of udstest in the group database (/etc/group), but not in this login" "$T/old.out"
    grep -q "newgrp udstest" "$T/old.out"
    ! grep -q "add yourself" "$T/old.out"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [f["code"] for f in d["findings"]][-1] == "group-not-in-login", d' "$T/old.json"
    # with the groups of a new login, nobody is in it and may connect
    [ "$(cat "$T/new.status")" -eq 0 ]
    grep -q "Result: you can connect." "$T/new.out"
}

@test "doctor: not in the group at all is told apart: ask for access to the group" {
    need_root
    start_server --group www-data --mode 0660 "$T/s.sock"
    run --separate-stderr as_nobody timeout 20 "$UDS" doctor "$T/s.sock"
    [ "$status" -eq 77 ]
    [[ "$output" == *"uds serve --group www-data --mode 0660, and add yourself to www-data"* ]]
    [[ "$output" != *"newgrp"* ]]
    [ "$(codes as_nobody "$UDS" doctor --json "$T/s.sock")" = \
      "socket listening server no-write-permission" ]
}

# ---- paths -------------------------------------------------------------------------------------

@test "doctor: a path through a symlinked run directory is the same socket, not 'moved here'" {
    mkdir "$T/run"
    ln -s run "$T/varrun"
    start_server "$T/varrun/s.sock"
    for p in "$T/run/s.sock" "$T/varrun/s.sock"; do
        doctor "$p"
        [ "$status" -eq 0 ]
        [[ "$output" != *"moved or hard-linked"* ]]
        [[ "$(codes "$UDS" doctor --json "$p")" != *"bound-elsewhere"* ]]
    done
}

# ---- namespaces ------------------------------------------------------------------------------

@test "doctor: a server in its own mount namespace (a private tmpfs): not deleted; reach it through /proc/PID/root" {
    need_root
    mkdir "$T/priv"
    bg_start "$T/ns.log" unshare -m --propagation private bash -c \
        'mount -t tmpfs tmpfs "$1" && exec "$2" serve "$1/s.sock"' ns "$T/priv" "$UDS"
    wait_for_line "$T/ns.log" 'listening on' || skip "no mount namespace here"
    doctor "$T/priv/s.sock"
    echo "$output"
    [ "$status" -eq 69 ]
    [[ "$output" == *"uds (pid $BG_PID"*"listens on a socket bound at this path, but in another mount namespace"* ]]
    [[ "$output" == *"reachable from here as /proc/$BG_PID/root$T/priv/s.sock"* ]]
    [[ "$output" == *"PrivateTmp="*"bind mount of the directory"* ]]
    [[ "$output" != *"deleted"* ]]
    [ "$(codes "$UDS" doctor --json "$T/priv/s.sock")" = "other-mount-namespace" ]
    # root reaches it there
    [ "$(timeout 5 "$UDS" send "/proc/$BG_PID/root$T/priv/s.sock" hello)" = hello ]
}

@test "doctor: a socket file bind-mounted, then its server restarted: stale, and mount the directory" {
    need_root
    mkdir "$T/host"
    cat >"$T/run.sh" <<'EOF'
T=$1 UDS=$2
start() {
    "$UDS" serve "$T/host/s.sock" 2>>"$T/server.log" & pid=$!
    for i in $(seq 100); do [ -S "$T/host/s.sock" ] && break; sleep 0.05; done
}
start
touch "$T/ctr.sock"
mount --bind "$T/host/s.sock" "$T/ctr.sock"
kill $pid; wait $pid
start
"$UDS" doctor "$T/ctr.sock" >"$T/out"; echo $? >"$T/status"
"$UDS" doctor --json "$T/ctr.sock" >"$T/doctor.json"
echo "$pid" >"$T/pid"
kill $pid; wait $pid
umount "$T/ctr.sock"
EOF
    run timeout 30 unshare -m --propagation private bash "$T/run.sh" "$T" "$UDS"
    [ "$status" -eq 0 ] || skip "no mount namespace here"
    cat "$T/out"
    [ "$(cat "$T/status")" -eq 69 ]
    grep -q "This path is a mount point: a socket file, $T/host/s.sock, was bind-mounted here" "$T/out"
    grep -q "uds (pid $(cat "$T/pid"), .*) listens at $T/host/s.sock now" "$T/out"
    grep -q "Bind-mount the socket's directory instead of the socket file" "$T/out"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=[f["code"] for f in d["findings"]]; assert c[:3] == ["socket", "stale", "bind-mounted-socket"], c' "$T/doctor.json"
}

@test "doctor: an abstract listener in another network namespace is found there, and said so" {
    need_root
    local name
    name=$(abstract_name)
    bg_start "$T/ns.log" unshare -n "$UDS" serve "$name"
    wait_for_line "$T/ns.log" 'listening on' || skip "no network namespace here"
    doctor "$name"
    echo "$output"
    [ "$status" -eq 69 ]
    own=$(readlink /proc/self/ns/net)
    theirs=$(readlink "/proc/$BG_PID/ns/net")
    [[ "$output" == *"Nothing is bound to this abstract name in this network namespace ($own, the one this command runs in)"* ]]
    [[ "$output" == *"It is bound in another network namespace, $theirs, by uds (pid $BG_PID), as a listening stream"* ]]
    [[ "$output" == *"nsenter --net=/proc/$BG_PID/ns/net"* ]]
    [ "$(codes "$UDS" doctor --json "$name")" = "abstract no-listener other-network-namespace" ]
    # an abstract name bound nowhere: every namespace searched
    doctor "$(abstract_name)"
    [ "$status" -eq 69 ]
    [[ "$output" == *"Searched "*"other network namespace"*"not bound there either"* ]]
}

# ---- a full backlog --------------------------------------------------------------------------

@test "doctor: a listener that never accepts: queue against backlog, EAGAIN, somaxconn, and who is not accepting" {
    cat >"$T/full.py" <<'EOF'
import os, signal, socket, sys, time
p = sys.argv[1]
signal.signal(signal.SIGTERM, lambda *_: (os.unlink(p), os._exit(0)))
l = socket.socket(socket.AF_UNIX); l.bind(p); l.listen(3)
cs = []
while True:
    c = socket.socket(socket.AF_UNIX); c.setblocking(False)
    try:
        c.connect(p)
    except BlockingIOError:
        break
    cs.append(c)
sys.stderr.write("full %d\n" % len(cs)); sys.stderr.flush()
time.sleep(60)
EOF
    bg_start "$T/full.log" timeout 60 python3 "$T/full.py" "$T/s.sock"
    wait_for_line "$T/full.log" '^full'
    doctor "$T/s.sock"
    echo "$output"
    [ "$status" -eq 75 ]
    [[ "$output" == *"Its backlog is full: 4 connections wait to be accepted and the backlog is 3 (net.core.somaxconn is $(cat /proc/sys/net/core/somaxconn))"* ]]
    [[ "$output" == *"fails with EAGAIN (a non-blocking one) until python3 (pid "* ]]
    [[ "$output" == *"python3 (pid "*") is not accepting"* ]]
    [[ "$output" == *"the backlog is the argument the server gives listen(2)"*"sysctl -w net.core.somaxconn"* ]]
    [[ "$(codes "$UDS" doctor --json "$T/s.sock")" == *"backlog-full"* ]]
    [ "$(json_field exit)" = 75 ]
}

# ---- --as USER ------------------------------------------------------------------------------

@test "doctor --as: root answers for the web server's user: 77 for www-data, 0 for the socket's owner" {
    need_root
    php_fpm_start
    doctor --as www-data "$T/php/app.sock"
    echo "$output"
    [ "$status" -eq 77 ]
    [[ "$output" == *"Checked as www-data (uid 33 (www-data), group www-data), with the groups a new login gives"* ]]
    [[ "$output" == *"www-data may not connect: connecting needs write permission"* ]]
    [[ "$output" == *"Set listen.group = www-data (a group www-data is in)"* ]]
    [[ "$output" == *"Result: www-data cannot connect (exit 77)."* ]]
    [[ "$output" != *"You are root"* ]]
    [ "$(codes "$UDS" doctor --as www-data --json "$T/php/app.sock")" = \
      "checked-as socket listening server no-write-permission" ]
    [ "$(json_field as)" = www-data ]
    [ "$(json_field exit)" = 77 ]
    doctor --as nobody "$T/php/app.sock"
    [ "$status" -eq 0 ]
    [[ "$output" == *"A test connection as nobody succeeded"*"nobody can connect"* ]]
}

@test "doctor --as: a directory on the way and PostgreSQL, each as the user" {
    need_root
    mkdir -m 0700 "$T/private"
    start_server --mode 0777 "$T/private/s.sock"
    doctor --as nobody "$T/private/s.sock"
    [ "$status" -eq 77 ]
    [[ "$output" == *"nobody cannot reach the socket: the directory $T/private is drwx------ root:root and nobody"*"may not search it"* ]]
    pg_start -c unix_socket_permissions=0700
    doctor --as nobody "$PG_SOCK"
    echo "$output"
    [ "$status" -eq 77 ]
    [[ "$output" == *"unix_socket_permissions=0700 (on the command line)"* ]]
    [[ "$output" == *"unix_socket_group = 'nogroup' (a group nobody is in)"* ]]
    doctor --as postgres "$PG_SOCK"
    [ "$status" -eq 0 ]
}

@test "doctor --as: the groups of a new login count, as a new login would have them" {
    need_root
    cat >"$T/run.sh" <<'SH'
T=$1 UDS=$2
{ cat /etc/group; echo "udstest:x:4242:nobody"; } >"$T/group"
mount --bind "$T/group" /etc/group
"$UDS" serve --group udstest --mode 0660 "$T/s.sock" 2>"$T/server.log" & pid=$!
# the file exists before listen(): wait for the server to say it listens
for i in $(seq 200); do grep -q "listening on" "$T/server.log" 2>/dev/null && break; sleep 0.05; done
"$UDS" doctor --as nobody "$T/s.sock" >"$T/as.out"; echo $? >"$T/as.status"
kill $pid; wait $pid
SH
    run timeout 30 unshare -m --propagation private bash "$T/run.sh" "$T" "$UDS"
    [ "$status" -eq 0 ] || skip "no mount namespace here"
    cat "$T/as.out"
    [ "$(cat "$T/as.status")" -eq 0 ]
    grep -q "Checked as nobody (uid 65534 (nobody), groups nogroup, udstest)" "$T/as.out"
}

@test "doctor --as: a user that does not exist is a usage error; without root, 77" {
    doctor --as no-such-user-udskit "$T/s.sock"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"--as no-such-user-udskit: no such user"* ]]
    need_root
    run --separate-stderr as_nobody timeout 10 "$UDS" doctor --as www-data "$T/s.sock"
    [ "$status" -eq 77 ]
    [[ "$stderr" == *"--as www-data needs root"* ]]
}
